#!/usr/bin/python3
"""bench/weak_scaling.py DIR [--no-plot]: the table (and plot) of a bench/weak_scaling.sh run.

Reads DIR/<run>.<rep>/run.json (what the driver ran: ranks, grid, replicas, maps, load average) and
DIR/<run>.<rep>/metrics.jsonl (rank 0's timers per progress interval). For every interval but the
first (warm-up), per step:
    step      step_s                 wall time of one training step
    halo      halo_wait_s            blocked in halo exchanges (not hidden behind the interior)
    allreduce allreduce_s            averaging gradients over replicas
    io        io_wait_s              waiting for (here: generating) the batch
    compute   step - halo - allreduce - io   (everything else: kernels, optimizer, loss sums, sync waits)
The medians over the intervals are reported (robust to a shared machine's noise); with several
repetitions (--repeat), the repetition with the median step time is kept. Weak-scaling efficiency = T(1 rank) / T(N ranks).
Writes DIR/summary.json (read by bench/perfmodel.py) and DIR/weak_scaling.png.
"""
import glob
import json
import os
import statistics
import sys

KEYS = ["step_s", "halo_wait_s", "allreduce_s", "io_wait_s", "halo_bytes_per_step", "overlap_wait_s",
        "overlap_interior_s", "samples_per_s"]


def load_run(d):
    with open(os.path.join(d, "run.json")) as f:
        run = json.load(f)
    rows = []
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("phase") == "rica" and "step_s" in r:
                rows.append(r)
    rows = rows[1:]  # the first interval is warm-up
    if not rows:
        raise SystemExit(f"weak_scaling.py: {d}: no progress intervals after the first (more steps?)")
    for k in KEYS:
        run[k] = statistics.median(r[k] for r in rows)
    run["intervals"] = len(rows)
    run["compute_s"] = run["step_s"] - run["halo_wait_s"] - run["allreduce_s"] - run["io_wait_s"]
    run["oversubscribed"] = run["ranks"] > run["cores"]
    return run


def collect(out):
    reps = {}
    for d in sorted(glob.glob(os.path.join(out, "*.*"))):
        if not os.path.isfile(os.path.join(d, "run.json")):
            continue
        r = load_run(d)
        reps.setdefault(r["name"], []).append(r)
    # several repetitions: the one with the median step time (the median of an even count: the lower)
    best = {}
    for name, rs in reps.items():
        rs.sort(key=lambda r: r["step_s"])
        best[name] = dict(rs[(len(rs) - 1) // 2], repetitions=len(rs))
    runs = sorted(best.values(), key=lambda r: (r["replicas"] > 1, r["ranks"]))
    if not runs:
        raise SystemExit(f"weak_scaling.py: no runs in {out}")
    base = next((r for r in runs if r["ranks"] == 1), None)
    for r in runs:
        r["efficiency"] = base["step_s"] / r["step_s"] if base else float("nan")
        r["compute_efficiency"] = base["compute_s"] / r["compute_s"] if base else float("nan")
    return runs


def table(runs):
    reps = max(r.get("repetitions", 1) for r in runs)
    print("# weak scaling: rank 0's timers, medians over the progress intervals after the first; per step, ms"
          + (f"; of {reps} repetitions, the one with the median step time" if reps > 1 else ""))
    print("# compute = step - halo - allreduce - io; eff = T(1 rank) / T(N ranks) (the same per-rank problem);")
    print("# over: more ranks than cores (time-shared: not a scaling measurement); load: 1-min load average before")
    print("# the run (the machine is shared); ovl_wait/interior: blocked at the end of the overlapped filter-input")
    print("# exchange / interior compute done while it was in flight; bound: the best eff possible when ranks")
    print("# time-share the cores: 1 / turns, turns = ceil(ranks / cores) (bench/PERFMODEL.md \"Oversubscription\")")
    hdr = ("run", "ranks", "grid", "R", "maps", "over", "load", "step", "compute", "halo", "allred", "io",
           "halo_MB", "ovl_wait", "interior", "samples/s", "eff", "comp_eff", "bound")
    fmt = "%-7s %5s %5s %2s %9s %4s %5s %8s %8s %7s %7s %6s %8s %8s %8s %9s %6s %8s %5s"
    print("#" + fmt % hdr)
    print("#" + fmt % ("", "", "", "", "", "", "", "ms", "ms", "ms", "ms", "ms", "/step", "ms", "ms", "", "%", "%", "%"))
    for r in runs:
        print(" " + fmt % (
            r["name"], r["ranks"], f"{r['rows']}x{r['cols']}", r["replicas"], f"{r['height']}x{r['width']}",
            "yes" if r["oversubscribed"] else "no", f"{r['load_before']:.1f}", f"{r['step_s'] * 1e3:.2f}",
            f"{r['compute_s'] * 1e3:.2f}", f"{r['halo_wait_s'] * 1e3:.3f}", f"{r['allreduce_s'] * 1e3:.3f}",
            f"{r['io_wait_s'] * 1e3:.2f}", f"{r['halo_bytes_per_step'] / 1e6:.3f}",
            f"{r['overlap_wait_s'] * 1e3:.3f}", f"{r['overlap_interior_s'] * 1e3:.2f}",
            f"{r['samples_per_s']:.0f}", f"{100 * r['efficiency']:.1f}", f"{100 * r['compute_efficiency']:.1f}",
            f"{100 * bound(r['ranks'], r['cores']):.0f}"))


def bound(ranks, cores):
    """The best T1/TN when ranks time-share cores: the cores run every rank once in ceil(ranks / cores)
    turns (a rank computes for less than a time slice between two synchronisations)."""
    return 1.0 / max(1, -(-ranks // cores))


def plot(runs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# matplotlib not installed: no plot")
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [f"{r['name']}\n{r['replicas']}x{r['rows']}x{r['cols']}" + ("\n(over)" if r["oversubscribed"] else "")
             for r in runs]
    x = range(len(runs))
    bottom = [0.0] * len(runs)
    for key, label in (("compute_s", "compute"), ("halo_wait_s", "halo wait"), ("allreduce_s", "all-reduce"),
                       ("io_wait_s", "I/O wait")):
        v = [r[key] * 1e3 for r in runs]
        a.bar(x, v, bottom=bottom, label=label)
        bottom = [p + q for p, q in zip(bottom, v)]
    a.set_xticks(list(x))
    a.set_xticklabels(names, fontsize=7)
    a.set_ylabel("ms per step (rank 0, median)")
    a.set_title("where a step goes")
    a.legend(fontsize=8)
    for series, marker, label in ((False, "o", "grid (maps grow)"), (True, "s", "replicas of 1x1")):
        pts = [r for r in runs if (r["replicas"] > 1) == series or (r["ranks"] == 1)]
        xs = [r["ranks"] for r in pts]
        ys = [100 * r["efficiency"] for r in pts]
        b.plot(xs, ys, marker=marker, label=label)
        for r in pts:
            if r["oversubscribed"]:
                b.plot([r["ranks"]], [100 * r["efficiency"]], marker=marker, color="red", fillstyle="none",
                       markersize=12)
    xs = sorted({r["ranks"] for r in runs})
    b.plot(xs, [100 * bound(n, runs[0]["cores"]) for n in xs], ":", color="gray", drawstyle="steps-post",
           label="time-sharing bound (1 / ceil(ranks / cores))")
    b.set_xscale("log", base=2)
    b.set_xlabel("ranks (red rings: oversubscribed)")
    b.set_ylabel("weak-scaling efficiency T1/TN, %")
    b.set_ylim(0, 110)
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    b.set_title(f"per-rank tile {runs[0]['tile']}x{runs[0]['tile']}, {runs[0]['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"# plot: {path}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        raise SystemExit("usage: weak_scaling.py DIR [--no-plot]")
    out = args[0]
    runs = collect(out)
    table(runs)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(runs, f, indent=1)
    print(f"# summary: {os.path.join(out, 'summary.json')}")
    if "--no-plot" not in sys.argv:
        plot(runs, os.path.join(out, "weak_scaling.png"))


if __name__ == "__main__":
    main()
