#!/usr/bin/python3
"""bench/perfmodel.py: a performance model of a cotsnet training step (bench/PERFMODEL.md).

    perfmodel.py fit      --halo FILE [--halo FILE ..] [--allreduce FILE ..]     machine constants (shm)
    perfmodel.py validate --weak DIR [--weak DIR ..] [--halo ..] [--allreduce ..] model vs measured runs
                          [--weak-job JOB] [--calib-from DIR [--calib-job JOB]]: the runs' job (default
                          bench/jobs/weak.ini); the rates and skew from another round's runs
    perfmodel.py predict  [--job le2012=JOB.ini] [--net ndr|hdr] [--flop-frac F] [--mem-frac F]
                          [--batch B] [--average-every K] [--plot FILE]        1 to 1024 H100s
                          (--average-every K: replicas average parameters every K steps, grid.average_every)
    perfmodel.py all      --weak DIR --halo .. --allreduce .. [--plot FILE]    the three, in order
    perfmodel.py gpu      --bench BENCH_CUDA_LOG --run NAME=JOB.ini,DIR[,HxW] .. [--calibrate NAME]
                          model vs training runs on one GPU, with the ceilings measured by bench_cuda and
                          f from bench_cuda's kernels, or from the training run NAME (--calibrate)
  predict and gpu take --bench BENCH_CUDA_LOG: the GPU's measured FP32 peak and copy bandwidth, and f =
  the mean rate of bench_cuda's lf_fwd+bwd rows / that peak (instead of the datasheet and f = 0.5)
    perfmodel.py cpu      --run NAME=JOB.ini,DIR[,HxW] .. --rates LOG [--calibrate NAME | --rate GFLOPS]
                          model vs one-rank training runs on this machine: compute per stage
    perfmodel.py cpu-rounds JSON ..                                             the rounds of cpu --json
  --rates LOG (validate, all, gpu, predict, cpu; may be repeated): per-shape rates, the output of
  `bench_ops --job` / `bench_cuda --job`: the compute of a step is the sum of the measured times of its
  passes on the stage's shape (scaled by the rank's tile area and batch), not FLOPs / one rate

Time of one reconstruction-ICA step of stage k on the slowest rank (every step ends in sums over the
grid and the world, so the slowest rank sets the pace):

    t_step = t_compute + t_io + t_halo + t_allreduce
    t_compute  = FLOPs / rate                       (CPU: rate calibrated on the 1-rank run)
               = max(FLOPs / (f * peak), bytes / (g * HBM))   (GPU roofline; f, g assumed)
    t_halo     = sum over the step's exchanges of t_op, the overlapped one counting
                 max(0, t_op - t_interior)
    t_op       = alpha * messages + bytes / beta (+ packing copies)   (alpha-beta)
    t_allreduce = sum over the stage's parameter tensors of
                 2 (R-1)/R * bytes / beta_ar + 2 (R-1) * alpha_ar           (ring)
                 (+ skew on this machine: training's all-reduce beyond bench_halo's, calibrated)
  Ranks outnumbering cores (this machine only): the terms above times the turns the cores take,
  ceil(ranks / cores), and every blocking synchronisation (exchange, all-reduce, the loss summed over
  the grid, the stop flag) waits sched x (ranks / cores - 1), sched calibrated on one such run.

Geometry (tiles, windows, halo bytes, messages) comes from bench/perfgeom.py, a twin of src/net.c,
checked to the byte against halo_bytes_per_step of every measured run.
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfgeom as pg  # noqa: E402

# ---- presets ------------------------------------------------------------------------------------------
# Published numbers are marked so; everything else is an assumption, named in the output and in
# bench/PERFMODEL.md, to be replaced by a measurement when a GPU run makes one.
H100 = {
    "name": "H100 SXM",
    "peak_flops": 67e12,   # published: FP32 (non-tensor) peak of the H100 SXM5
    "mem_bw": 3.35e12,     # published: HBM3 bandwidth of the H100 SXM5, bytes/s
    "flop_frac": 0.5,      # ASSUMPTION: fraction of the FP32 peak the local-filter kernels reach
    "mem_frac": 0.8,       # ASSUMPTION: fraction of HBM bandwidth the memory-bound passes reach
    "memory": 80e9,        # published: 80 GB of HBM3
}
NETS = {
    # alpha: seconds per message (MPI point-to-point latency, GPU buffers); beta: bytes/s per direction
    # per GPU (one NIC per GPU, as in DGX H100); ar_*: a ring all-reduce step (NCCL).
    "hdr": {"name": "InfiniBand HDR 200 Gb/s", "alpha": 2.0e-6, "beta": 23e9, "ar_alpha": 5e-6, "ar_beta": 23e9},
    "ndr": {"name": "InfiniBand NDR 400 Gb/s", "alpha": 2.0e-6, "beta": 46e9, "ar_alpha": 5e-6, "ar_beta": 46e9},
}
# link rate / 8 = 25 and 50 GB/s; beta = 92% of it (what MPI and NCCL bandwidth tests reach on these
# links); alpha = 2 us (MPI latency with GPU buffers over one switch hop: 1-1.5 us host-to-host plus the
# GPU-direct overhead); ar_alpha = 5 us per ring step (NCCL's per-step latency across nodes).

# Built-in layouts when jobs/le2012.ini or jobs/coates2013.ini are absent: 200x200x3 input, 3 stages of
# 18x18 fields with 5x5 L2 pooling and 5x5 LCN, separate decoders (W1, W2 of Le et al. 2012).
def _layout(name, maps, batch=32):
    st = []
    for k, stride in enumerate((1, 2, 1)):
        st.append({"field": 18, "stride": stride, "maps": maps, "pool": 5, "pool_stride": 1, "lcn": 5,
                   "tied": False, "steps": 100})
    return {"name": name, "height": 200, "width": 200, "channels": 3, "batch": batch, "classes": 10,
            "rows": 1, "cols": 1, "replicas": 1, "overlap": True, "stages": st}


BUILTIN = {"le2012": _layout("le2012 (built-in)", 8), "coates2013": _layout("coates2013 (built-in)", 36)}


# ---- reading benchmark output --------------------------------------------------------------------------

def read_halo_bench(paths):
    """Rows of bench_halo tables: grid, tile, halo, peers, local, gather bytes, us, .., scatter bytes, us."""
    rows = []
    for p in paths:
        for line in open(p):
            f = line.split()
            if line.startswith("#") or len(f) != 14 or "x" not in f[0] or f[13] != "ok":
                continue
            py, px = map(int, f[0].split("x"))
            rows.append({"ranks": py * px, "peers": float(f[3]), "local": float(f[4]), "gbytes": float(f[5]),
                         "gtime": float(f[6]) * 1e-6, "sbytes": float(f[9]), "stime": float(f[10]) * 1e-6})
    return rows


def read_allreduce_bench(paths):
    rows = []
    for p in paths:
        for line in open(p):
            f = line.split()
            if line.startswith("#") or len(f) != 7 or f[6] != "ok":
                continue
            rows.append({"ranks": int(f[0]), "bytes": float(f[2]), "time": float(f[3]) * 1e-6})
    return rows


def nnls_rel(X, y):
    """Least squares with non-negative coefficients, minimising relative errors (rows scaled by 1/y):
    every subset of the columns is tried (a handful of columns)."""
    import itertools
    import numpy as np
    X, y = np.asarray(X, float), np.asarray(y, float)
    Xs, ys = X / y[:, None], np.ones_like(y)
    best, bestc = None, None
    n = X.shape[1]
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            c, *_ = np.linalg.lstsq(Xs[:, cols], ys, rcond=None)
            if (c < 0).any():
                continue
            full = np.zeros(n)
            full[list(cols)] = c
            err = float(((Xs @ full - ys) ** 2).sum())
            if best is None or err < best:
                best, bestc = err, full
    return [float(v) for v in bestc]


def fit_shm(halo_paths, ar_paths, cores):
    """Machine constants of this machine's shared-memory MPI from bench_halo output. Only runs with no
    more ranks than cores are used (oversubscribed ones measure the scheduler)."""
    fit = {"name": "shared-memory MPI (this machine, fitted)", "kind": "fitted"}
    rows = [r for r in read_halo_bench(halo_paths) if r["ranks"] <= cores]
    for op, b, t in (("gather", "gbytes", "gtime"), ("scatter", "sbytes", "stime")):
        X = [[r["peers"], r[b], r["local"]] for r in rows]
        y = [r[t] for r in rows]
        if len(rows) >= 3:
            a, inv_beta, inv_copy = nnls_rel(X, y)
            fit[op] = {"alpha": a, "beta": 1 / inv_beta if inv_beta else math.inf,
                       "copy": 1 / inv_copy if inv_copy else math.inf}
            pred = [a * x[0] + inv_beta * x[1] + inv_copy * x[2] for x in X]
            fit[op]["rms_rel_err"] = math.sqrt(sum(((p - q) / q) ** 2 for p, q in zip(pred, y)) / len(y))
            fit[op]["rows"] = len(rows)
    ar = [r for r in read_allreduce_bench(ar_paths) if 1 < r["ranks"] <= cores]
    if len(ar) >= 2:
        X = [[2 * (r["ranks"] - 1), 2 * (r["ranks"] - 1) / r["ranks"] * r["bytes"]] for r in ar]
        a, inv_b = nnls_rel(X, [r["time"] for r in ar])
        fit["ar_alpha"], fit["ar_beta"] = a, (1 / inv_b if inv_b else math.inf)
    return fit


# ---- the step model -----------------------------------------------------------------------------------

def halo_op_time(net, op, stats, B, hw):
    """Seconds of one exchange for a rank, and the latency part of it (alpha x messages); stats from
    perfgeom.plan_stats (per sample, floats)."""
    nbytes = 4.0 * B * max(stats["sent"], stats["recv"])
    msgs = max(stats["nsend"], stats["nrecv"])
    local = 4.0 * B * stats["local"]
    if net.get("kind") == "fitted":
        c = net["gather" if op.startswith("gather") else "scatter"]
        return c["alpha"] * msgs + nbytes / c["beta"] + local / c["copy"], c["alpha"] * msgs
    # alpha-beta network, packing and unpacking in device memory (read + write of every byte moved)
    copies = 2 * 4.0 * B * (stats["sent"] + stats["recv"] + stats["local"]) / (hw["mem_bw"] * hw["mem_frac"])
    return net["alpha"] * msgs + nbytes / net["beta"] + copies, net["alpha"] * msgs


def allreduce_time(net, R, nbytes):
    if R <= 1 or nbytes == 0:
        return 0.0
    return 2 * (R - 1) / R * nbytes / net["ar_beta"] + 2 * (R - 1) * net["ar_alpha"]


# ---- per-shape rates: bench_ops --job / bench_cuda --job ---------------------------------------------------

RICA_PASSES = ("lf_encode", "pool_fwd", "lf_decode", "residual", "lf_error", "pool_bwd", "lf_grad_enc",
               "lf_grad_dec", "optim")   # a stage's own RICA step (src/stage.c stage_rica, src/train.c)
FWD_PASSES = ("lf_encode", "pool_fwd", "lcn_fwd")  # its forward, as a later stage's step runs it
SHAPE_COLS = ("B", "Hx", "Wx", "C", "Ho", "Wo", "M", "r", "s", "q", "t", "n")


def read_rates(paths):
    """The `pass` lines of bench_ops/bench_cuda --job logs: a list of shapes, each {"shape": dict of
    SHAPE_COLS, "t": {pass: seconds}}; a shape measured more than once (several logs): the median of its
    times. The time is the MS column (the pass's share of the median whole step; a log older than the ALONE
    column has 18 fields, and its MS is the pass's own median). A failed check ("!") stops: its times do
    not count."""
    shapes = {}
    for path in paths:
        for n, line in enumerate(open(path), 1):
            w = line.split()
            if not w or w[0] != "pass":
                continue
            if len(w) not in (18, 19):
                raise SystemExit(f"perfmodel.py: {path}:{n}: a pass line has {len(w)} fields, not 19 (bench_ops --job?)")
            if w[15].endswith("!"):
                raise SystemExit(f"perfmodel.py: {path}:{n}: stage {w[1]} {w[2]} failed its check ({w[15]})")
            key = tuple(int(v) for v in w[3:15])
            e = shapes.setdefault(key, {"shape": dict(zip(SHAPE_COLS, key)), "t": {}})
            e["t"].setdefault(w[2], []).append(float(w[16]) * 1e-3)
    out = list(shapes.values())
    for e in out:
        e["t"] = {p: statistics.median(v) for p, v in e["t"].items()}
    if not out:
        raise SystemExit(f"perfmodel.py: no pass lines in {', '.join(paths)} (the output of bench_ops --job?)")
    return out


def rates_for(rates, s, g, B):
    """The measured passes of stage s (perfgeom stage) for a rank with geometry g at batch B: the shape of
    the same layer (C, M, r, s, pooling, LCN) whose B x output tile is nearest, and the factor that scales
    its times to this rank (its B x tile area over the measured one). None when no shape matches."""
    best = None
    work = B * pg.area(g["y_tile"])
    for e in rates:
        sh = e["shape"]
        if (sh["C"], sh["M"], sh["r"], sh["s"], sh["q"], sh["t"], sh["n"]) != (s["C"], s["M"], s["r"], s["s"], s["q"],
                                                                               s["t"], s["n"]):
            continue
        d = abs(math.log(work / (sh["B"] * sh["Ho"] * sh["Wo"])))
        if best is None or d < best[0]:
            best = (d, e)
    if best is None:
        return None
    sh = best[1]["shape"]
    return best[1]["t"], work / (sh["B"] * sh["Ho"] * sh["Wo"])


def rates_compute(rates, st, g, k, B):
    """Compute seconds of stage k's RICA step from the measured passes, and each stage's encode time (for
    the overlap); None when a stage's shape is not in the rates."""
    found = [rates_for(rates, s, gg, B) for s, gg in zip(st[:k + 1], g[:k + 1])]
    if any(f is None for f in found):
        return None
    t = 0.0
    for j, (times, scale) in enumerate(found):
        for p in (RICA_PASSES if j == k else FWD_PASSES):
            if p == "lcn_fwd" and not st[j]["n"]:
                continue
            if p not in times:
                raise SystemExit(f"perfmodel.py: --rates: stage {j + 1}'s shape has no {p} line")
            t += times[p] * scale
    return t, [times["lf_encode"] * scale for times, scale in found]


def step_rank(layout, st, k, Py, Px, py, px, R, hw, net, calib=None, oversub=1.0, rates=None, queue=0.0):
    """Components of one RICA step of stage k (0-based) on rank (py, px). calib: the CPU rates of this
    machine (compute, I/O; skew: seconds an all-reduce of training waits beyond bench_halo's; sched:
    seconds a blocking synchronisation waits per rank queued on a core); without it, the GPU roofline
    and neither. Oversubscribed CPU runs: oversub = the turns the cores take (turns_of), queue = ranks
    per core beyond one (ranks / cores - 1)."""
    B = layout["batch"]
    skew = calib.get("skew", 0.0) if calib else 0.0
    g = pg.rank_geometry(st, Py, Px, py, px)
    lf = [B * pg.lf_flops(s, gg) for s, gg in zip(st, g)]      # one pass, whole batch
    flops = sum(lf[:k]) + 5 * lf[k]
    if calib:  # CPU: rates measured on the 1-rank run of the same per-rank problem
        t_comp = flops / calib["rate"] * oversub
        t_io = calib["io_per_float"] * B * pg.area(g[0]["x_tile"]) * st[0]["C"] * oversub
        pass_time = [f / calib["rate"] * oversub for f in lf]
    else:      # GPU roofline
        t_comp = None
    measured = rates_compute(rates, st, g, k, B) if rates else None
    if measured:  # per-shape rates: the measured passes of each stage's shape
        t_comp, enc = measured
        t_comp *= oversub if calib else 1.0
        pass_time = [t * (oversub if calib else 1.0) for t in enc]
        if not calib:
            t_io = 0.0
    elif rates is not None and calib:
        raise SystemExit(f"perfmodel.py: --rates: no measured shape for stage {k + 1} (or an earlier one) of "
                         f"{layout.get('name')}: run bench_ops --job on this job")
    elif not calib:
        nw = [pg.lf_weights(s, gg) for s, gg in zip(st, g)]
        s_k = st[k]
        wbytes = 4 * (sum(nw[:k]) + 7 * nw[k])                  # weights read / gradients updated by the passes
        wbytes += 4 * 6 * nw[k] * (1 if s_k["tied"] else 2)     # optimizer: w, state read+write, g read, g zeroed
        mem = pg.rank_memory(layout, st, Py, Px, py, px)
        abytes = 2 * sum(mem["buffers_stage"][:k + 1])         # each batch buffer written and read about once
        t_comp = max(flops / (hw["peak_flops"] * hw["flop_frac"]), (wbytes + abytes) / (hw["mem_bw"] * hw["mem_frac"]))
        t_io = 0.0                                             # ASSUMPTION: prefetch hides the reader
        pass_time = [t_comp * f / flops for f in lf]
    # oversubscribed (CPU): every blocking synchronisation waits `sched` per rank queued on a core (a
    # ready rank waits for one that is not running), calibrated on one such run (validate)
    wake = calib.get("sched", 0.0) * queue if calib else 0.0
    if Py * Px > 1:  # the loss summed over the grid, in the step's compute
        t_comp += wake
    if Py * Px * R > 1:  # the stop flag over the world, at the end of the step (src/train.c after_step)
        t_comp += wake
    t_halo = t_hidden = t_lat = 0.0
    for j, which, op in pg.rica_exchanges(st, k):
        stats = pg.plan_stats(st[j], which, Py, Px, py, px)  # on 1x1: no messages, the local copy only
        t, lat = halo_op_time(net, op, stats, B, hw)
        t *= oversub if calib else 1.0
        t_lat += lat
        if op == "gather_ovl" and layout.get("overlap", True):
            interior = pg.lf_interior_fraction(st[j], g[j]) * pass_time[j]
            t_hidden += min(t, interior)
            t = max(0.0, t - interior)
        t_halo += t + (wake if Py * Px > 1 else 0.0)
    nbytes = 4 * pg.lf_weights(st[k], g[k])
    ntensors = 1 if st[k]["tied"] else 2
    # grid.average_every = k: the replicas average the parameters (not the gradients) every k steps
    # instead of every step; the optimizer state only at checkpoints and phase ends (left out)
    t_ar = (allreduce_time(net, R, nbytes) * (oversub if calib else 1.0) + (skew * oversub + wake if R > 1 else 0.0)) \
        * ntensors / max(1, layout.get("average_every", 1))
    total = t_comp + t_io + t_halo + t_ar
    return {"compute": t_comp, "io": t_io, "halo": t_halo, "allreduce": t_ar, "step": total, "hidden": t_hidden,
            "halo_latency": t_lat, "rates": bool(measured),
            "flops": flops, "halo_bytes_metric": pg.metric_halo_bytes(st, k, Py, Px, py, px, B),
            "halo_bytes_legacy": pg.metric_halo_bytes(st, k, Py, Px, py, px, B, legacy=True)}


def ranks_to_model(Py, Px):
    """Ranks whose step is computed: all of a small grid; corners, edges and the inner ranks of a large
    one (inner ranks have the widest windows, the first rows and columns the largest tiles)."""
    if Py * Px <= 64:
        return [(a, b) for a in range(Py) for b in range(Px)]
    ys = sorted({0, 1, 2, Py // 2, Py - 1} & set(range(Py)))
    xs = sorted({0, 1, 2, Px // 2, Px - 1} & set(range(Px)))
    return [(a, b) for a in ys for b in xs]


def step_time(layout, k, Py, Px, R, hw, net, calib=None, oversub=1.0, rates=None, queue=0.0):
    st = pg.stage_geometry(layout)
    fy, fx = pg.largest_grid(st)
    if Py > fy or Px > fx:
        return None
    worst = None
    for py, px in ranks_to_model(Py, Px):
        r = step_rank(layout, st, k, Py, Px, py, px, R, hw, net, calib, oversub, rates, queue)
        r["rank"] = (py, px)
        if worst is None or r["step"] > worst["step"]:
            worst = r
    worst["rank0"] = step_rank(layout, st, k, Py, Px, 0, 0, R, hw, net, calib, oversub, rates, queue)
    return worst


# ---- validation against the weak-scaling runs -------------------------------------------------------------

def run_layout(job, run):
    lay = pg.read_job(job)
    lay.update(height=run["height"], width=run["width"], rows=run["rows"], cols=run["cols"], replicas=run["replicas"])
    return lay


def turns_of(run):
    """How many turns the cores take to run every rank once: ceil(ranks / cores). Between two
    synchronisations a rank computes for less than the scheduler's time slice, so 3 ranks on 2 cores
    take two turns, as 4 do (measured: bench/PERFMODEL.md)."""
    return float(max(1, -(-run["ranks"] // run["cores"])))


def queue_of(run):
    """Ranks per core beyond one: how many a rank that becomes ready finds ahead of it on its core."""
    return max(0.0, run["ranks"] / run["cores"] - 1)


def validate(weak_dir, net, job="bench/jobs/weak.ini", quiet=False, rates=None, calib_dir=None, calib_job=None):
    """calib_dir (and its job calib_job): take the 1-rank rates and the skew from that round's runs instead
    of this one's (e.g. a grid.average_every = 4 round predicted from an every-step round)."""
    runs = json.load(open(os.path.join(weak_dir, "summary.json")))
    cal_runs = json.load(open(os.path.join(calib_dir, "summary.json"))) if calib_dir else runs
    cjob = calib_job or job
    base = next(r for r in cal_runs if r["ranks"] == 1)
    lay1 = run_layout(cjob, base)
    st1 = pg.stage_geometry(lay1)
    B = lay1["batch"]
    g1 = pg.rank_geometry(st1, 1, 1, 0, 0)
    flops1 = B * 5 * pg.lf_flops(st1[0], g1[0])
    # calibrate: the 1-rank run's compute time per FLOP and I/O time per input float
    calib = {"rate": flops1 / base["compute_s"],
             "io_per_float": base["io_wait_s"] / (B * pg.area(g1[0]["x_tile"]) * st1[0]["C"]), "skew": 0.0}
    # the all-reduce skew: training's all-reduce is slower than bench_halo's (the ranks arrive apart, the
    # gradients are not in cache): on the 2-replica run (not oversubscribed), its measured all-reduce
    # time minus the model's (from bench_halo's all-reduce table), per all-reduce. Not carried over to
    # the halo exchanges: there it over-predicted every grid run (bench/PERFMODEL.md)
    cal_skew = next((r for r in cal_runs if r["replicas"] > 1 and r["ranks"] <= r["cores"]), None)
    if cal_skew:
        m = step_time(run_layout(cjob, cal_skew), 0, 1, 1, cal_skew["replicas"], None, net, calib, 1.0, rates)
        ntensors = 1 if lay1["stages"][0]["tied"] else 2
        calib["skew"] = max(0.0, (cal_skew["allreduce_s"] - m["allreduce"]) / ntensors)
        calib["skew_run"] = cal_skew["name"] + (f" of {calib_dir}" if calib_dir else "")
    # the wait per blocking synchronisation and rank queued on a core when ranks outnumber cores: on the
    # smallest oversubscribed grid run whose ranks fill the cores a whole number of times (no partial
    # turn), its measured step minus the model's without it, per synchronisation and queued rank
    cal_sched = min((r for r in cal_runs if r["ranks"] > r["cores"] and r["ranks"] % r["cores"] == 0
                     and r["replicas"] == 1 and r["rows"] * r["cols"] > 1), key=lambda r: r["ranks"], default=None)
    if cal_sched:
        lay = run_layout(cjob, cal_sched)
        turns = turns_of(cal_sched)
        m = step_time(lay, 0, cal_sched["rows"], cal_sched["cols"], 1, None, net, calib, turns, rates)
        nsync = len(pg.rica_exchanges(pg.stage_geometry(lay), 0)) + 2
        calib["sched"] = max(0.0, (cal_sched["step_s"] - m["step"]) / (nsync * queue_of(cal_sched)))
        calib["sched_run"] = cal_sched["name"] + (f" of {calib_dir}" if calib_dir else "")
    out = []
    for r in runs:
        lay = run_layout(job, r)
        over = turns_of(r)
        m = step_time(lay, 0, r["rows"], r["cols"], r["replicas"], None, net, calib, over, rates, queue_of(r))
        out.append({"run": r["name"], "ranks": r["ranks"], "grid": f"{r['rows']}x{r['cols']}", "R": r["replicas"],
                    "over": r["ranks"] > r["cores"], "load": r["load_before"], "measured": r, "model": m,
                    "bytes_ok": abs(m["rank0"]["halo_bytes_metric"] - r["halo_bytes_per_step"]) < 0.5 or
                                abs(m["rank0"]["halo_bytes_legacy"] - r["halo_bytes_per_step"]) < 0.5,
                    "bytes_legacy": abs(m["rank0"]["halo_bytes_metric"] - r["halo_bytes_per_step"]) >= 0.5,
                    "err": m["step"] / r["step_s"] - 1})
    if not quiet:
        print(f"# validation: model vs measured weak-scaling runs ({weak_dir}); network: {net['name']}")
        if rates:
            print(f"# compute from per-shape rates (--rates: bench_ops --job), not calibrated on these runs (the 1-rank "
                  f"run's own rate would be {calib['rate'] / 1e9:.3f} GFLOP/s); I/O calibrated on the 1-rank run: "
                  f"{calib['io_per_float'] * 1e9:.3f} ns per input float")
        else:
            print(f"# compute calibrated on the 1-rank run: {calib['rate'] / 1e9:.3f} GFLOP/s per rank (local-filter "
                  f"FLOPs / compute time), I/O {calib['io_per_float'] * 1e9:.3f} ns per input float")
        if calib.get("skew_run"):
            print(f"# all-reduce skew (training's all-reduce beyond bench_halo's): {calib['skew'] * 1e3:.3f} ms, "
                  f"calibrated on {calib['skew_run']} (its all-reduce time minus the model's, per all-reduce)")
        print("# oversubscribed runs (more ranks than cores): compute, I/O, exchanges and skew times the turns the "
              "cores take, ceil(ranks / cores)"
              + (f"; every blocking synchronisation waits {calib['sched'] * 1e3:.3f} ms per rank queued on a core "
                 f"(ranks / cores - 1), calibrated on {calib['sched_run']}" if calib.get("sched_run") else ""))
        print("# bytes ok: the model's halo_bytes_per_step of rank 0 equals the measured one exactly")
        fmt = "%-7s %5s %5s %2s %4s %5s %9s %9s %7s %9s %9s %9s %9s %9s %9s %5s"
        print("#" + fmt % ("run", "ranks", "grid", "R", "over", "load", "step", "model", "error", "compute",
                           "model", "halo", "model", "allred", "model", "bytes"))
        print("#" + fmt % ("", "", "", "", "", "", "ms", "ms", "%", "ms", "ms", "ms", "ms", "ms", "ms", ""))
        for v in out:
            r, m = v["measured"], v["model"]
            print(" " + fmt % (v["run"], v["ranks"], v["grid"], v["R"], "yes" if v["over"] else "no", f"{v['load']:.1f}",
                               f"{r['step_s'] * 1e3:.2f}", f"{m['step'] * 1e3:.2f}", f"{100 * v['err']:+.1f}",
                               f"{r['compute_s'] * 1e3:.2f}", f"{m['compute'] * 1e3:.2f}",
                               f"{r['halo_wait_s'] * 1e3:.3f}", f"{m['halo'] * 1e3:.3f}",
                               f"{r['allreduce_s'] * 1e3:.3f}", f"{m['allreduce'] * 1e3:.3f}",
                               ("old" if v["bytes_legacy"] else "ok") if v["bytes_ok"] else "DIFF"))
        if any(v["bytes_ok"] and v["bytes_legacy"] for v in out):
            print("# bytes old: equal to the engine's count before commit b51e385 (a scatter-add counted as its "
                  "gather's sends): runs made by an older build")
        cal = {calib.get("skew_run"), calib.get("sched_run")} | (set() if rates else {base["name"]})
        val = [v for v in out if v["run"] not in cal]
        real = [v for v in val if not v["over"]]
        if val:
            print(f"# calibration runs: {', '.join(sorted(c for c in cal if c))}; largest |error| on the others: "
                  f"{100 * max(abs(v['err']) for v in val):.1f}%"
                  + (f" (not oversubscribed: {100 * max(abs(v['err']) for v in real):.1f}%)" if real else ""))
    return out, calib


def validation_summary(rounds):
    """Several rounds (weak-scaling runs made at different times): each is calibrated on its own 1-rank
    and 2-replica runs and predicts its other runs; per run, the median and the worst error."""
    names = []
    for rd in rounds:
        for v in rd["runs"]:
            if v["run"] not in names:
                names.append(v["run"])
    cal = {rd["calib"].get(key) for rd in rounds for key in ("skew_run", "sched_run")} | {"grid1"}
    print(f"# validation over {len(rounds)} rounds, each calibrated on its own {', '.join(sorted(c for c in cal if c))} "
          "(compute and I/O rates, all-reduce skew, wait per queued rank) and predicting its other runs")
    fmt = "%-7s %4s %6s %10s %10s %9s %9s %9s %5s"
    print("#" + fmt % ("run", "over", "rounds", "measured", "model", "median", "worst", "within", "bytes"))
    print("#" + fmt % ("", "", "", "ms (med)", "ms (med)", "error %", "|error| %", "15% (n)", ""))
    for n in names:
        vs = [v for rd in rounds for v in rd["runs"] if v["run"] == n]
        errs = [v["err"] for v in vs]
        print(" " + fmt % (n, "yes" if vs[0]["over"] else "no", len(vs),
                           f"{statistics.median(v['measured_ms'] for v in vs):.2f}",
                           f"{statistics.median(v['model_ms'] for v in vs):.2f}",
                           f"{100 * statistics.median(errs):+.1f}", f"{100 * max(abs(e) for e in errs):.1f}",
                           f"{sum(abs(e) <= 0.15 for e in errs)}/{len(errs)}",
                           "ok" if all(v["bytes_ok"] for v in vs) else "DIFF"))


# ---- predictions ------------------------------------------------------------------------------------------

def find_layouts(jobs):
    lays = {}
    for name in ("le2012", "coates2013"):
        path = jobs.get(name) or f"jobs/{name}.ini"
        if os.path.exists(path):
            lay = pg.read_job(path)
            lay["name"] = f"{name} ({path})"
            lays[name] = lay
        else:
            lays[name] = dict(BUILTIN[name])
    return lays


def memory_per_gpu(lay, Py, Px):
    st = pg.stage_geometry(lay)
    worst = 0
    for py, px in ranks_to_model(Py, Px):
        m = pg.rank_memory(lay, st, Py, Px, py, px)
        worst = max(worst, m["state"] + m["buffers"])
    return worst


def share_grid(lay, hw):
    """The smallest square grid on which the job's largest rank fits in 90% of a GPU's memory."""
    for p in (1, 2, 4, 8, 16):
        try:
            if memory_per_gpu(lay, p, p) <= 0.9 * hw["memory"]:
                return p
        except ValueError:
            return None
    return None


def weak_layout(lay, pref, Py, Px):
    """The job grown to a Py x Px grid with each GPU's share fixed at the job's share on pref x pref GPUs,
    as bench/weak_scaling.sh grows its maps: the stage with the most filter weights (where most of the
    time goes) gets (its filter-output rows on pref GPUs / pref) x Py rows (columns alike); the maps
    before it are what it reads (derived backwards), the maps after it follow. Other stages' maps
    differ from it by fixed borders, so their per-GPU share drifts a little with the grid (the
    FLOP/GPU column shows it)."""
    st = pg.stage_geometry(lay)
    kd = max(range(len(st)), key=lambda k: st[k]["Ho"] * st[k]["Wo"] * st[k]["M"] * st[k]["r"] ** 2 * st[k]["C"])
    ho = max(1, round(st[kd]["Ho"] / pref)) * Py
    wo = max(1, round(st[kd]["Wo"] / pref)) * Px
    for k in range(kd, -1, -1):
        c = lay["stages"][k]
        H, W = (ho - 1) * c["stride"] + c["field"], (wo - 1) * c["stride"] + c["field"]
        if k > 0:  # the previous stage's pooled map is this input: its filter output is what the pooling reads
            p = lay["stages"][k - 1]
            ho, wo = (H - 1) * p["pool_stride"] + p["pool"], (W - 1) * p["pool_stride"] + p["pool"]
    return dict(lay, height=H, width=W, rows=Py, cols=Px)


def series(lay, hw, net, pref, rates=None):
    """Weak scaling: each GPU's share fixed at the job's share on pref x pref GPUs (weak_layout); the
    grid grows 1x1 .. 8x8 with the maps, then two ways to 1024 GPUs: the grid keeps growing (to
    32x32) or replicas of the 8x8 grid (R = 2 .. 16)."""
    pts = []
    grids = [(1, 1, 1), (1, 2, 1), (2, 2, 1), (2, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1)]
    tail_grid = [(8, 16, 1), (16, 16, 1), (16, 32, 1), (32, 32, 1)]
    tail_repl = [(8, 8, 2), (8, 8, 4), (8, 8, 8), (8, 8, 16)]
    for tag, pts_list in (("grid", grids + tail_grid), ("replicas", grids + tail_repl)):
        for Py, Px, R in pts_list:
            L = dict(weak_layout(lay, pref, Py, Px), replicas=R)
            try:
                st = pg.stage_geometry(L)
            except ValueError:
                continue
            comps = [step_time(L, k, Py, Px, R, hw, net, rates=rates) for k in range(len(st))]
            if any(c is None for c in comps):
                continue
            w = [s["steps"] for s in L["stages"]]
            tot = {key: sum(wk * c[key] for wk, c in zip(w, comps)) / sum(w)
                   for key in ("compute", "io", "halo", "allreduce", "step", "hidden", "flops", "halo_latency")}
            pts.append({"series": tag, "gpus": Py * Px * R, "grid": f"{Py}x{Px}", "R": R,
                        "input": f"{L['height']}x{L['width']}", "params": pg.param_count(L),
                        "mem": memory_per_gpu(L, Py, Px), "stages": comps, **tot})
    for tag in ("grid", "replicas"):
        p = [q for q in pts if q["series"] == tag]
        if p:
            t1, f1 = p[0]["step"], p[0]["flops"]
            for q in p:
                q["eff"] = t1 / q["step"]
                q["eff_w"] = (t1 / f1) / (q["step"] / q["flops"])  # per FLOP: the drift of the share divided out
    return pts


def strong(lay, hw, net, rates=None):
    """The job itself (its own input) on grids 1x1 .. 8x8 and then replicas of 8x8: the fixed-size
    model-parallel case (Coates et al. ran 64 GPUs), where tiles get small and halos grow."""
    pts = []
    grids = [(1, 1, 1), (2, 2, 1), (4, 4, 1), (8, 8, 1), (8, 8, 4), (8, 8, 16)]
    own = (lay.get("rows", 1), lay.get("cols", 1), lay.get("replicas", 1))
    if own not in grids:
        grids = sorted(grids + [own], key=lambda g: (g[0] * g[1] * g[2], g[2]))
    for Py, Px, R in grids:
        L = dict(lay, rows=Py, cols=Px, replicas=R)
        st = pg.stage_geometry(L)
        comps = [step_time(L, k, Py, Px, R, hw, net, rates=rates) for k in range(len(st))]
        if any(c is None for c in comps):
            continue
        w = [s["steps"] for s in L["stages"]]
        tot = {key: sum(wk * c[key] for wk, c in zip(w, comps)) / sum(w)
               for key in ("compute", "io", "halo", "allreduce", "step", "halo_latency")}
        pts.append({"gpus": Py * Px * R, "grid": f"{Py}x{Px}", "R": R, "mem": memory_per_gpu(L, Py, Px),
                    "own": (Py, Px, R) == own, **tot})
    return pts


def limiter(p):
    """The largest term besides compute (when above 2% of the step); a halo is latency-bound when the
    alpha x messages part is most of its cost (before overlap)."""
    terms = {"halo": p["halo"], "all-reduce": p["allreduce"], "I/O": p["io"]}
    k = max(terms, key=terms.get)
    if terms[k] <= 0.02 * p["step"]:
        return "-"
    if k == "halo":
        return "halo-lat" if p["halo_latency"] > 0.5 * (p["halo"] + p.get("hidden", 0)) else "halo-bw"
    return k


def print_series(name, lay, pts, hw, net, pref):
    print(f"\n# {name}: {lay['name']}: {lay['height']}x{lay['width']}x{lay['channels']} input, "
          f"{len(lay['stages'])} stages, {pg.param_count(lay):.3g} parameters, batch {lay['batch']} per replica")
    if lay.get("average_every", 1) > 1:
        print(f"# replicas average their parameters every {lay['average_every']} steps (grid.average_every): "
              "the all-reduce term is divided by it")
    print(f"# per-GPU share: the job's share on {pref}x{pref} GPUs (the smallest square grid whose memory fits), "
          f"the maps grown with the grid (perfmodel.weak_layout); "
          f"{hw['name']}, FP32 {hw['peak_flops'] / 1e12:.1f} TFLOP/s x {hw['flop_frac']:.3f}"
          f"{' (measured)' if hw.get('measured') else ' (assumed)'}, "
          f"HBM {hw['mem_bw'] / 1e12:.2f} TB/s x {hw['mem_frac']} (assumed); {net['name']}")
    print("# step = steps-weighted mean of the stages' RICA steps (their FLOPs per GPU: FLOP/GPU); eff = T(1 GPU) / "
          "T(N GPUs); c/step = compute / step: the parallel efficiency at this point's own share (what is not lost "
          "to exposed halos and all-reduce); limit: the largest term besides compute; mem !: does not fit")
    print("# eff/W = (T(1 GPU) / its FLOP/GPU) / (T(N GPUs) / its FLOP/GPU): the weak-scaling efficiency at equal "
          "work per GPU")
    fmt = "%-8s %5s %6s %3s %10s %9s %7s %7s %8s %8s %8s %8s %6s %6s %6s %-10s"
    print("#" + fmt % ("series", "GPUs", "grid", "R", "input", "params", "FLOP/GPU", "mem/GPU", "step", "compute",
                       "halo", "allred", "eff", "eff/W", "c/step", "limit"))
    print("#" + fmt % ("", "", "", "", "", "", "G", "GB", "ms", "ms", "ms", "ms", "%", "%", "%", ""))
    for p in pts:
        if p["series"] == "replicas" and p["R"] == 1 and p["gpus"] < 64:
            continue  # the same points as the grid series
        fit = "" if p["mem"] <= hw["memory"] else "!"
        print(" " + fmt % (p["series"], p["gpus"], p["grid"], p["R"], p["input"], f"{p['params']:.3g}",
                           f"{p['flops'] / 1e9:.0f}", f"{p['mem'] / 1e9:.1f}{fit}", f"{p['step'] * 1e3:.2f}", f"{p['compute'] * 1e3:.2f}",
                           f"{p['halo'] * 1e3:.3f}", f"{p['allreduce'] * 1e3:.2f}", f"{100 * p['eff']:.1f}",
                           f"{100 * p['eff_w']:.1f}", f"{100 * p['compute'] / p['step']:.1f}", limiter(p)))


def print_strong(name, lay, pts, hw):
    print(f"# {name}, the job itself ({lay['height']}x{lay['width']} input, batch {lay['batch']} per replica) on more GPUs, "
          f"{NETS['ndr']['name']}: fixed size; speed-up = samples/s vs the smallest grid that fits (!: does not fit "
          "in GPU memory)")
    fmt = "%5s %6s %3s %8s %9s %9s %9s %9s %8s %-10s %s"
    print("#" + fmt % ("GPUs", "grid", "R", "mem/GPU", "step", "compute", "halo", "allred", "speedup", "limit", ""))
    print("#" + fmt % ("", "", "", "GB", "ms", "ms", "ms", "ms", "x", "", ""))
    base = next((p for p in pts if p["mem"] <= hw["memory"]), pts[0])
    for p in pts:
        # per-replica batch fixed: R replicas do R times the samples per step
        sp = base["step"] / p["step"] * p["R"] / base["R"]
        print(" " + fmt % (p["gpus"], p["grid"], p["R"], f"{p['mem'] / 1e9:.1f}" + ("" if p["mem"] <= hw["memory"] else "!"),
                           f"{p['step'] * 1e3:.2f}", f"{p['compute'] * 1e3:.2f}", f"{p['halo'] * 1e3:.3f}",
                           f"{p['allreduce'] * 1e3:.2f}", f"{sp:.1f}", limiter(p), "<- the job file's grid" if p["own"] else ""))


def crossover_batch(pts):
    """Per-replica batch at which the all-reduce equals the compute (compute grows with the batch, the
    all-reduce does not), from the largest replica point."""
    p = [q for q in pts if q["series"] == "replicas" and q["R"] > 1]
    if not p:
        return None
    q = p[-1]
    return q["allreduce"] / q["compute"]


def plot(all_pts, path, hw):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# matplotlib not installed: no plot")
        return
    names = list(all_pts)
    fig, axes = plt.subplots(2, len(names), figsize=(6 * len(names), 8.5), squeeze=False)
    for col, name in enumerate(names):
        for netname, pts in all_pts[name].items():
            if netname in ("batch", "big"):
                continue
            for tag, ls in (("grid", "-"), ("replicas", "--")):
                p = [q for q in pts if q["series"] == tag]
                axes[0][col].plot([q["gpus"] for q in p], [100 * q["compute"] / q["step"] for q in p], ls, marker="o",
                                  markersize=3, label=f"{tag}, {netname}")
        big = all_pts[name].get("big")
        if big:
            p = [q for q in big["pts"] if q["series"] == "replicas"]
            axes[0][col].plot([q["gpus"] for q in p], [100 * q["compute"] / q["step"] for q in p], ":", marker="^",
                              markersize=3, label=f"replicas, ndr, batch {big['batch']}")
        axes[0][col].set_xscale("log", base=2)
        axes[0][col].set_ylim(0, 105)
        axes[0][col].set_ylabel("parallel efficiency: compute / step, %")
        how = "f measured by bench_cuda, g assumed" if hw.get("measured") else "both assumed"
        what = ("compute: each pass's time measured on its layer's shape (bench_cuda --job)" if hw.get("rates") else
                f"FLOP fraction f = {hw['flop_frac']:.3f}, HBM fraction g = {hw['mem_frac']}: {how}")
        axes[0][col].set_title(f"{name}, {hw.get('short', hw['name'])}, batch {all_pts[name]['batch']}\n"
                               f"({what})", fontsize=9)
        axes[0][col].set_xlabel("GPUs (solid: the grid grows; dashed: replicas of 8x8 from 64 GPUs)")
        axes[0][col].grid(alpha=0.3)
        axes[0][col].legend(fontsize=7)
        pts = all_pts[name].get("ndr") or next(v for k, v in all_pts[name].items() if k not in ("batch", "big"))
        p = [q for q in pts if q["series"] == "replicas"]
        bottom = [0.0] * len(p)
        for key, label in (("compute", "compute"), ("halo", "halo (exposed)"), ("allreduce", "all-reduce")):
            v = [q[key] * 1e3 for q in p]
            axes[1][col].bar(range(len(p)), v, bottom=bottom, label=label)
            bottom = [a + b for a, b in zip(bottom, v)]
        axes[1][col].set_xticks(range(len(p)))
        axes[1][col].set_xticklabels([f"{q['gpus']}\n{q['grid']}x{q['R']}" for q in p], fontsize=7)
        axes[1][col].set_ylabel("ms per step (NDR, or the first network)")
        axes[1][col].set_title("grid to 8x8, then replicas", fontsize=9)
        axes[1][col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}")


def read_bench_cuda(path):
    """bench_cuda's table: the measured ceilings and f = mean rate of its lf_fwd+bwd rows / FP32 peak."""
    peak = bw = None
    rates = []
    for line in open(path):
        w = line.split()
        if line.startswith("# ceilings, measured:"):
            bw = float(w[w.index("copy") + 1]) * 1e9
            peak = float(w[w.index("FMA") + 1]) * 1e9
        elif w and w[0] == "lf_fwd+bwd" and len(w) > 4:
            rates.append(float(w[3]) * 1e9)
        elif line.startswith("# bench_cuda ("):
            card = line.split(": ", 1)[1].strip()
    if not peak or not rates:
        raise SystemExit(f"perfmodel.py: {path}: no ceilings line or no lf_fwd+bwd rows (bench_cuda's output?)")
    return {"peak_flops": peak, "mem_bw": bw, "flop_frac": sum(rates) / len(rates) / peak, "card": card,
            "rates": rates}


def gpu_hw(args):
    """The H100 preset, with bench_cuda's measurements (--bench) and --flop-frac / --mem-frac applied."""
    hw = dict(H100)
    if args.get("bench"):
        m = read_bench_cuda(args["bench"])
        hw.update(peak_flops=m["peak_flops"], mem_bw=m["mem_bw"], flop_frac=m["flop_frac"],
                  name=f"{m['card']} (measured: FP32 {m['peak_flops'] / 1e12:.1f} TFLOP/s, copy "
                       f"{m['mem_bw'] / 1e12:.2f} TB/s, f = {m['flop_frac']:.3f} from bench_cuda)", measured=True,
                  short=m["card"].split(": ")[-1].split(",")[0] + f" (FP32 {m['peak_flops'] / 1e12:.1f} TFLOP/s measured)")
    if args.get("flop_frac"):
        hw["flop_frac"] = args["flop_frac"]
    if args.get("mem_frac"):
        hw["mem_frac"] = args["mem_frac"]
    return hw


def rica_medians(rows, k, minus_halo=False):
    """Stage k's (0-based) RICA progress intervals of a metrics.jsonl, the first dropped (warm-up): the
    medians of step, halo wait, I/O wait, and measured = step - I/O wait - all-reduce (- halo wait with
    minus_halo: the compute). None without any."""
    iv = [r for r in rows if r.get("phase") == "rica" and r.get("stage") == k + 1][1:]
    if not iv:
        return None
    med = {key: statistics.median(r[key] for r in iv) for key in ("step_s", "halo_wait_s", "io_wait_s")}
    med["measured"] = statistics.median(r["step_s"] - r["io_wait_s"] - r["allreduce_s"] -
                                        (r["halo_wait_s"] if minus_halo else 0.0) for r in iv)
    return med


def stage_runs(runs, minus_halo=False):
    """(name, layout, k, medians) for every stage k of every run that has RICA intervals (rica_medians)."""
    for name, lay, rows in runs:
        for k in range(len(lay["stages"])):
            med = rica_medians(rows, k, minus_halo)
            if med:
                yield name, lay, k, med


def read_runs(args):
    """The --run NAME=JOB.ini,DIR[,HxW] of gpu and cpu: (name, layout on a 1x1 grid, metrics.jsonl rows)."""
    runs = []
    for spec in args.get("runs", []):
        name, rest = spec.split("=", 1)
        parts = rest.split(",")
        lay = dict(pg.read_job(parts[0]), rows=1, cols=1, replicas=1)
        if len(parts) > 2:
            h, w = parts[2].lower().split("x")
            lay.update(height=int(h), width=int(w))
        rows = [json.loads(line) for line in open(os.path.join(parts[1], "metrics.jsonl"))]
        runs.append((name, lay, rows))
    return runs


def gpu_validate(args):
    """Each training run on one GPU (1x1 grid, one replica): per stage, the median over the progress
    intervals after the first of (step - I/O wait) and of the halo wait, against the model's compute +
    halo for the same layout. I/O is left out on both sides: the model assumes the reader's prefetch
    hides it, and these runs generate synthetic images on the host inside the step."""
    hw = gpu_hw(args)
    runs = read_runs(args)
    cal = args.get("calibrate")
    if cal:  # f from one run: its local-filter FLOPs over its measured step - I/O wait, all stages together
        name, lay, rows = next((r for r in runs if r[0] == cal), (None, None, None))
        if name is None:
            raise SystemExit(f"perfmodel.py gpu: --calibrate {cal}: no --run of that name")
        st = pg.stage_geometry(lay)
        fl = tm = 0.0
        for k in range(len(st)):
            med = rica_medians(rows, k)
            if med:
                fl += step_time(lay, k, 1, 1, 1, hw, NETS["ndr"])["flops"]
                tm += med["measured"]
        hw["flop_frac"] = fl / tm / hw["peak_flops"]
        print(f"# f calibrated on {cal}: {fl / tm / 1e12:.2f} TFLOP/s of local-filter work = f {hw['flop_frac']:.3f}")
    print(f"# GPU validation on {hw['name']}; f = {hw['flop_frac']:.3f}; HBM fraction g = {hw['mem_frac']} (assumed)")
    rates = args.get("rates")
    if rates:
        return gpu_validate_rates(runs, hw, cal, rates)
    fmt = "%-12s %5s %9s %9s %9s %7s %9s %9s %9s %9s"
    print("#" + fmt % ("run", "stage", "FLOP", "measured", "model", "error", "halo", "model", "io_wait", "step"))
    print("#" + fmt % ("", "", "G", "ms", "ms", "%", "ms", "ms", "ms", "ms"))
    errs = []
    for name, lay, k, med in stage_runs(runs):
        meas, halo, io, step = med["measured"], med["halo_wait_s"], med["io_wait_s"], med["step_s"]
        m = step_time(lay, k, 1, 1, 1, hw, NETS["ndr"])
        model = m["compute"] + m["halo"]
        err = model / meas - 1
        if name != cal:
            errs.append(err)
        print(" " + fmt % (name, k + 1, f"{m['flops'] / 1e9:.1f}", f"{meas * 1e3:.2f}", f"{model * 1e3:.2f}",
                           f"{100 * err:+.1f}", f"{halo * 1e3:.3f}", f"{m['halo'] * 1e3:.3f}", f"{io * 1e3:.2f}",
                           f"{step * 1e3:.2f}"))
    if errs:
        print(f"# largest |error|: {100 * max(abs(e) for e in errs):.1f}% over {len(errs)} stage runs"
              f"{' not used for calibration' if cal else ''} (measured = step - I/O wait; model = compute + halo)")
    return errs


def print_two_models(rows, what, cal):
    """The table of `gpu --rates` and `cpu`: per run and stage, measured against the single-rate model and the
    per-shape-rate model. rows: (name, stage, GFLOP, measured, single, per-shape or None, extra columns)."""
    fmt = "%-12s %5s %9s %9s %9s %7s %9s %7s %9s %9s %9s"
    print("#" + fmt % ("run", "stage", "FLOP", "measured", "1-rate", "error", "shapes", "error", "halo", "io_wait", "step"))
    print("#" + fmt % ("", "", "G", "ms", "ms", "%", "ms", "%", "ms", "ms", "ms"))
    e1, e2 = [], []
    for name, k, gf, meas, one, shp, halo, io, step in rows:
        err1 = one / meas - 1
        err2 = shp / meas - 1 if shp is not None else None
        if name != cal:
            e1.append(err1)
        if err2 is not None:
            e2.append(err2)
        print(" " + fmt % (name, k, f"{gf:.3f}", f"{meas * 1e3:.3f}", f"{one * 1e3:.3f}", f"{100 * err1:+.1f}",
                           "-" if shp is None else f"{shp * 1e3:.3f}", "-" if err2 is None else f"{100 * err2:+.1f}",
                           f"{halo * 1e3:.3f}", f"{io * 1e3:.2f}", f"{step * 1e3:.2f}"))
    if e1:
        print(f"# single rate: largest |error| {100 * max(abs(e) for e in e1):.1f}%, mean |error| "
              f"{100 * sum(abs(e) for e in e1) / len(e1):.1f}% over {len(e1)} stage runs"
              f"{' not used for calibration' if cal else ''}")
    if e2:
        print(f"# per-shape rates (nothing calibrated on these runs): largest |error| {100 * max(abs(e) for e in e2):.1f}%, "
              f"mean |error| {100 * sum(abs(e) for e in e2) / len(e2):.1f}% over {len(e2)} stage runs ({what})")
    return e1, e2


def gpu_validate_rates(runs, hw, cal, rates):
    """gpu --rates: the single-rate model (f as above) and the per-shape-rate model side by side."""
    rows = []
    for name, lay, k, med in stage_runs(runs):
        one = step_time(lay, k, 1, 1, 1, hw, NETS["ndr"])
        shp = step_time(lay, k, 1, 1, 1, hw, NETS["ndr"], rates=rates)
        rows.append((name, k + 1, one["flops"] / 1e9, med["measured"], one["compute"] + one["halo"],
                     shp["compute"] + shp["halo"] if shp["rates"] else None, med["halo_wait_s"], med["io_wait_s"],
                     med["step_s"]))
    e1, e2 = print_two_models(rows, "measured = step - I/O wait; model = compute + halo", cal)
    return e2 or e1


def cpu_validate(args):
    """One-rank training runs on this machine (1x1 grid, one replica): per stage, the median over the
    progress intervals after the first of the compute time (step - I/O wait - halo wait - all-reduce; on one
    rank the halo wait is the windows' local copies) against FLOPs / one rate (--rate GFLOP/s, or
    calibrated on the run NAME with --calibrate, as `validate` calibrates on its 1-rank run) and against
    the sum of the stage's passes measured by bench_ops --job (--rates), nothing calibrated on the runs."""
    rates = args.get("rates")
    runs = read_runs(args)

    def flops(lay, k):
        st = pg.stage_geometry(lay)
        g = pg.rank_geometry(st, 1, 1, 0, 0)
        lf = [lay["batch"] * pg.lf_flops(s, gg) for s, gg in zip(st, g)]
        return sum(lf[:k]) + 5 * lf[k]

    cal = args.get("calibrate")
    if cal:
        mine = [(lay, k, med) for name, lay, k, med in stage_runs(runs, minus_halo=True) if name == cal]
        if not mine:
            raise SystemExit(f"perfmodel.py cpu: --calibrate {cal}: no --run of that name (with RICA intervals)")
        rate = sum(flops(lay, k) for lay, k, _ in mine) / sum(med["measured"] for _, _, med in mine)
        print(f"# single rate calibrated on {cal}: {rate / 1e9:.3f} GFLOP/s of local-filter work")
    elif args.get("rate"):
        rate = args["rate"] * 1e9
        print(f"# single rate given: {rate / 1e9:.3f} GFLOP/s of local-filter work")
    else:
        raise SystemExit("perfmodel.py cpu: give the single rate: --calibrate NAME or --rate GFLOPS")
    rows = []
    for name, lay, k, med in stage_runs(runs, minus_halo=True):
        st = pg.stage_geometry(lay)
        shp = rates_compute(rates, st, pg.rank_geometry(st, 1, 1, 0, 0), k, lay["batch"]) if rates else None
        rows.append((name, k + 1, flops(lay, k) / 1e9, med["measured"], flops(lay, k) / rate,
                     shp[0] if shp else None, med["halo_wait_s"], med["io_wait_s"], med["step_s"]))
    print("# measured = compute = step - I/O wait - halo wait - all-reduce (medians over the progress intervals after "
          "the first); 1-rate = local-filter FLOPs / the single rate; shapes = the stage's passes from --rates")
    e1, e2 = print_two_models(rows, "measured = step - I/O - halo - all-reduce; model = compute", cal)
    return {"single": e1, "shapes": e2, "calibrate": cal,
            "rows": [{"run": r[0], "stage": r[1], "measured": r[3], "single": r[4], "shapes": r[5]} for r in rows]}


def cpu_rounds(paths):
    """cpu-rounds JSON ..: the `cpu --json` files of several rounds (bench/rates_cpu.sh --repeat): per run and
    stage, the median measured compute and the median and worst error of both models over the rounds."""
    rounds = [json.load(open(p))["cpu_errors"] for p in paths]
    keys = []
    for rd in rounds:
        for r in rd["rows"]:
            if (r["run"], r["stage"]) not in keys:
                keys.append((r["run"], r["stage"]))
    print(f"# {len(rounds)} rounds (each: bench_ops --job, then the training, job after job); per run and stage the "
          "median over the rounds; errors = model / measured - 1")
    fmt = "%-12s %5s %6s %9s %9s %9s %9s %9s"
    print("#" + fmt % ("run", "stage", "rounds", "measured", "1-rate", "1-rate", "shapes", "shapes"))
    print("#" + fmt % ("", "", "", "ms (med)", "err med%", "|err|max%", "err med%", "|err|max%"))
    cal = {rd.get("calibrate") for rd in rounds}
    w1, w2 = [], []
    for key in keys:
        rs = [r for rd in rounds for r in rd["rows"] if (r["run"], r["stage"]) == key]
        e1 = [r["single"] / r["measured"] - 1 for r in rs]
        e2 = [r["shapes"] / r["measured"] - 1 for r in rs if r["shapes"] is not None]
        if key[0] not in cal:
            w1.append(abs(statistics.median(e1)))
        if e2:
            w2.append(abs(statistics.median(e2)))
        print(" " + fmt % (key[0], key[1], len(rs), f"{1e3 * statistics.median(r['measured'] for r in rs):.3f}",
                           f"{100 * statistics.median(e1):+.1f}", f"{100 * max(abs(e) for e in e1):.1f}",
                           f"{100 * statistics.median(e2):+.1f}" if e2 else "-",
                           f"{100 * max(abs(e) for e in e2):.1f}" if e2 else "-"))
    if w1:
        print(f"# single rate (calibrated on {', '.join(sorted(c for c in cal if c))}): largest |median error| "
              f"{100 * max(w1):.1f}% over {len(w1)} stages of the other runs")
    if w2:
        print(f"# per-shape rates (nothing calibrated on the runs): largest |median error| {100 * max(w2):.1f}% over "
              f"{len(w2)} stages")


def predict(args):
    hw = gpu_hw(args)
    lays = find_layouts(args.get("jobs", {}))
    all_pts = {}
    for name, lay in lays.items():
        if args.get("batch"):
            lay = dict(lay, batch=args["batch"])
        if args.get("average_every"):
            lay = dict(lay, average_every=args["average_every"])
        pref = share_grid(lay, hw) or 1
        all_pts[name] = {}
        for netname in args.get("nets", ["ndr", "hdr"]):
            if netname not in NETS:
                raise SystemExit(f"perfmodel.py: --net {netname}: one of {', '.join(NETS)}")
            net = NETS[netname]
            pts = series(lay, hw, net, pref, args.get("rates"))
            all_pts[name][netname] = pts
            print_series(name, lay, pts, hw, net, pref)
            if args.get("rates"):
                used = [c["rates"] for p in pts for c in p["stages"]]
                print(f"# compute from per-shape rates (--rates) in {sum(used)} of {len(used)} stage steps; the others "
                      "(no measured shape of that layer): the roofline")
            b = crossover_batch(pts)
            if b:
                print(f"# replicas: the all-reduce equals the compute at a per-replica batch of about "
                      f"{lay['batch'] * b:.0f} (now {lay['batch']})")
        print_strong(name, lay, strong(lay, hw, NETS["ndr"], args.get("rates")), hw)
    if args.get("plot"):
        for name, lay in lays.items():
            b = args.get("batch") or lay["batch"]
            all_pts[name]["batch"] = b
            big = dict(lay, batch=16 * b)  # the per-replica batch that hides the all-reduce
            all_pts[name]["big"] = {"batch": 16 * b, "pts": series(big, hw, NETS["ndr"], share_grid(big, hw) or 1,
                                                                   args.get("rates"))}
        plot(all_pts, args["plot"], dict(hw, rates=bool(args.get("rates"))))
    return all_pts


# ---- command line -----------------------------------------------------------------------------------------

def parse(argv):
    a = {"halo": [], "allreduce": [], "jobs": {}, "nets": ["ndr", "hdr"], "weak": []}
    i = 1
    while i < len(argv):
        k = argv[i]
        v = argv[i + 1] if i + 1 < len(argv) else None
        if k in ("--halo", "--allreduce"):
            a[k[2:]].append(v)
        elif k == "--weak":
            a["weak"].append(v)
        elif k == "--job":
            n, p = v.split("=", 1)
            a["jobs"][n] = p
        elif k == "--net":
            a["nets"] = v.split(",")
        elif k in ("--flop-frac", "--mem-frac"):
            a[k[2:].replace("-", "_")] = float(v)
        elif k == "--batch":
            a["batch"] = int(v)
        elif k in ("--weak-job", "--calib-from", "--calib-job"):
            a[k[2:].replace("-", "_")] = v
        elif k == "--average-every":
            a["average_every"] = int(v)
        elif k == "--plot":
            a["plot"] = v
        elif k == "--cores":
            a["cores"] = int(v)
        elif k == "--json":
            a["json"] = v
        elif k == "--bench":
            a["bench"] = v
        elif k == "--calibrate":
            a["calibrate"] = v
        elif k == "--run":
            a.setdefault("runs", []).append(v)
        elif k == "--rates":
            a.setdefault("rates_logs", []).append(v)
        elif k == "--rate":
            a["rate"] = float(v)
        else:
            raise SystemExit(f"perfmodel.py: unknown argument {k}\n{__doc__}")
        i += 2
    return a


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("fit", "validate", "predict", "all", "gpu", "cpu", "cpu-rounds"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "cpu-rounds":
        if len(sys.argv) < 3:
            raise SystemExit("perfmodel.py cpu-rounds JSON ..: the --json files of `perfmodel.py cpu` rounds")
        cpu_rounds(sys.argv[2:])
        return
    cmd, a = sys.argv[1], parse(sys.argv[1:])
    a["rates"] = read_rates(a["rates_logs"]) if a.get("rates_logs") else None
    if cmd == "cpu":
        if not a.get("runs") or not a["rates"]:
            raise SystemExit("perfmodel.py cpu: give --run NAME=JOB.ini,DIR[,HxW] (one-rank runs) and --rates LOG "
                             "(bench_ops --job)")
        errs = cpu_validate(a)
        if a.get("json"):
            with open(a["json"], "w") as f:
                json.dump({"cpu_errors": errs}, f)
        return
    if cmd == "gpu":
        if not a.get("runs"):
            raise SystemExit("perfmodel.py gpu: give --run NAME=JOB.ini,DIR[,HxW] (a one-GPU training run's out_dir)")
        errs = gpu_validate(a)
        if a.get("json"):
            with open(a["json"], "w") as f:
                json.dump({"gpu_errors": errs}, f)
        return
    cores = a.get("cores") or os.cpu_count()
    report = {}
    if cmd in ("fit", "validate", "all"):
        if not a["halo"] or not a["allreduce"]:
            raise SystemExit("perfmodel.py: fit and validate need --halo FILE (bench_halo tables, 1 and 2 ranks) and "
                             "--allreduce FILE (bench_halo --allreduce)")
        shm = fit_shm(a["halo"], a["allreduce"], cores)
        if "gather" not in shm or "scatter" not in shm or "ar_alpha" not in shm:
            raise SystemExit("perfmodel.py: too few rows to fit (bench_halo tables of at most --cores ranks, 3 rows "
                             "or more; an all-reduce table of 2 rows or more)")
        report["shm"] = shm
        print(f"# fitted {shm['name']} from {len(a['halo'])} bench_halo and {len(a['allreduce'])} allreduce tables "
              f"(runs with at most {cores} ranks)")
        for op in ("gather", "scatter"):
            if op in shm:
                c = shm[op]
                print(f"#   {op:8s} alpha {c['alpha'] * 1e6:8.2f} us/message  beta {c['beta'] / 1e9:7.3f} GB/s  "
                      f"local copy {c['copy'] / 1e9:7.3f} GB/s   rms relative error {100 * c['rms_rel_err']:.0f}% "
                      f"over {c['rows']} rows")
        if "ar_alpha" in shm:
            print(f"#   allreduce alpha {shm['ar_alpha'] * 1e6:.2f} us/step  beta {shm['ar_beta'] / 1e9:.3f} GB/s (ring form)")
    if cmd in ("validate", "all"):
        if not a["weak"]:
            raise SystemExit("perfmodel.py: validate needs --weak DIR (from bench/weak_scaling.sh), once per round")
        report["validation"] = []
        for d in a["weak"]:
            out, calib = validate(d, report["shm"], a.get("weak_job", "bench/jobs/weak.ini"), quiet=len(a["weak"]) > 1,
                                  rates=a.get("rates"), calib_dir=a.get("calib_from"), calib_job=a.get("calib_job"))
            report["validation"].append({"dir": d, "calib": calib, "runs": [
                {"run": v["run"], "err": v["err"], "bytes_ok": v["bytes_ok"], "over": v["over"],
                 "measured_ms": v["measured"]["step_s"] * 1e3, "model_ms": v["model"]["step"] * 1e3} for v in out]})
        if len(a["weak"]) > 1:
            validation_summary(report["validation"])
    if cmd in ("predict", "all"):
        predict(a)
    if a.get("json"):
        with open(a["json"], "w") as f:
            json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    main()
