"""bench/perfgeom.py: the geometry of a cotsnet network on a grid, a Python twin of src/tile.c and the
window functions of src/net.c, for bench/perfmodel.py (bench/PERFMODEL.md).

A layout is a dict: height, width, channels, batch, classes, and stages, a list of dicts with field,
stride, maps, pool, pool_stride, lcn, tied, steps. For a Py x Px grid and a rank (py, px) it gives
every stage's tiles and windows exactly as net_create builds them, and per halo plan what the rank
sends and receives (bytes per sample, messages), so halo_bytes_per_step of metrics.jsonl can be
predicted to the byte (perfmodel.py checks it against every measured run).
"""
import configparser


# ---- src/tile.c ---------------------------------------------------------------------------------

def tile_range(n, p, k):
    base, rem = divmod(n, p)
    return k * base + (k if k < rem else rem), base + (1 if k < rem else 0)


def tile_owner(n, p, i):
    base, rem = divmod(n, p)
    big = rem * (base + 1)
    return i // (base + 1) if i < big else rem + (i - big) // base


def tile_rect(H, W, Py, Px, py, px):
    y0, ny = tile_range(H, Py, py)
    x0, nx = tile_range(W, Px, px)
    return (y0, y0 + ny, x0, x0 + nx)


def inter(a, b):
    y0, y1, x0, x1 = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    return (y0, max(y1, y0), x0, max(x1, x0))


def area(r):
    return max(0, r[1] - r[0]) * max(0, r[3] - r[2])


# ---- src/net.c: stage_geometry and the windows ----------------------------------------------------

def stage_geometry(layout):
    H, W, C = layout["height"], layout["width"], layout["channels"]
    out = []
    for c in layout["stages"]:
        s = dict(c)
        s.update(H=H, W=W, C=C, r=c["field"], s=c["stride"], M=c["maps"], q=c["pool"], t=c["pool_stride"],
                 n=c["lcn"])
        s["Ho"] = (H - s["r"]) // s["s"] + 1
        s["Wo"] = (W - s["r"]) // s["s"] + 1
        s["Hp"] = (s["Ho"] - s["q"]) // s["t"] + 1
        s["Wp"] = (s["Wo"] - s["q"]) // s["t"] + 1
        if min(s["Ho"], s["Wo"], s["Hp"], s["Wp"]) < 1:
            raise ValueError(f"stage {len(out) + 1}: a {H}x{W} input is smaller than its field {s['r']} "
                             f"(and pool {s['q']})")
        out.append(s)
        H, W, C = s["Hp"], s["Wp"], s["M"]
    return out


def largest_grid(st):
    rows, cols = st[0]["H"], st[0]["W"]
    for s in st:
        rows = min(rows, s["Ho"], s["Hp"])
        cols = min(cols, s["Wo"], s["Wp"])
    return rows, cols


def x_window(s, Py, Px, py, px):
    t = tile_rect(s["Ho"], s["Wo"], Py, Px, py, px)
    return (t[0] * s["s"], (t[1] - 1) * s["s"] + s["r"], t[2] * s["s"], (t[3] - 1) * s["s"] + s["r"])


def y_window(s, Py, Px, py, px):
    t = tile_rect(s["Hp"], s["Wp"], Py, Px, py, px)
    return (t[0] * s["t"], (t[1] - 1) * s["t"] + s["q"], t[2] * s["t"], (t[3] - 1) * s["t"] + s["q"])


def p_window(s, Py, Px, py, px):  # lcn_window: the tile grown by n - 1, clipped
    t = tile_rect(s["Hp"], s["Wp"], Py, Px, py, px)
    g = s["n"] - 1
    return (max(t[0] - g, 0), min(t[1] + g, s["Hp"]), max(t[2] - g, 0), min(t[3] + g, s["Wp"]))


PLANS = {  # plan name -> (map rows, map cols, channels, window function) of a stage
    "x": (lambda s: (s["H"], s["W"], s["C"]), x_window),
    "y": (lambda s: (s["Ho"], s["Wo"], s["M"]), y_window),
    "p": (lambda s: (s["Hp"], s["Wp"], s["M"]), p_window),
}


def plan_stats(s, which, Py, Px, py, px):
    """What rank (py, px) moves in one gather of plan `which` of stage s, per sample: floats sent and
    received, messages sent and received, floats copied locally (tile ∩ window). Tiles and windows are
    products of a row interval (a function of py alone) and a column interval (of px alone), so the
    sums over peers separate into rows times columns."""
    size, win = PLANS[which]
    H, W, C = size(s)
    me_t, me_w = tile_rect(H, W, Py, Px, py, px), win(s, Py, Px, py, px)

    def ov(a0, a1, b0, b1):
        return max(0, min(a1, b1) - max(a0, b0))

    # rows: my tile against every row's window (sends), my window against every row's tile (receives)
    rs = [ov(me_t[0], me_t[1], *win(s, Py, Px, qy, 0)[0:2]) for qy in range(Py)]
    rr = [ov(me_w[0], me_w[1], *tile_rect(H, W, Py, Px, qy, 0)[0:2]) for qy in range(Py)]
    cs = [ov(me_t[2], me_t[3], *win(s, Py, Px, 0, qx)[2:4]) for qx in range(Px)]
    cr = [ov(me_w[2], me_w[3], *tile_rect(H, W, Py, Px, 0, qx)[2:4]) for qx in range(Px)]
    sent = sum(rs) * sum(cs) - rs[py] * cs[px]
    recv = sum(rr) * sum(cr) - rr[py] * cr[px]
    nsend = sum(1 for v in rs if v) * sum(1 for v in cs if v) - (1 if rs[py] and cs[px] else 0)
    nrecv = sum(1 for v in rr if v) * sum(1 for v in cr if v) - (1 if rr[py] and cr[px] else 0)
    return {"sent": sent * C, "recv": recv * C, "nsend": nsend, "nrecv": nrecv,
            "local": area(inter(me_t, me_w)) * C}


def rank_geometry(st, Py, Px, py, px):
    """Tiles and windows of every stage for rank (py, px) (as net_geometry in src/net.c)."""
    g = []
    for s in st:
        d = {"x_tile": tile_rect(s["H"], s["W"], Py, Px, py, px), "y_tile": tile_rect(s["Ho"], s["Wo"], Py, Px, py, px),
             "p_tile": tile_rect(s["Hp"], s["Wp"], Py, Px, py, px), "x_win": x_window(s, Py, Px, py, px),
             "y_win": y_window(s, Py, Px, py, px)}
        d["p_win"] = p_window(s, Py, Px, py, px) if s["n"] else (0, 0, 0, 0)
        g.append(d)
    return g


def lf_interior_fraction(s, g):
    """Share of the rank's filter outputs whose field lies inside its own x tile (stage.c lf_interior)."""
    a, b = g["x_tile"][0] - g["x_win"][0], g["x_tile"][1] - g["x_win"][0]
    c, d = g["x_tile"][2] - g["x_win"][2], g["x_tile"][3] - g["x_win"][2]
    Ho, Wo = g["y_tile"][1] - g["y_tile"][0], g["y_tile"][3] - g["y_tile"][2]
    r, st = s["r"], s["s"]
    i0 = 0 if a <= 0 else (a + st - 1) // st
    i1 = 0 if b - r < 0 else (b - r) // st + 1
    j0 = 0 if c <= 0 else (c + st - 1) // st
    j1 = 0 if d - r < 0 else (d - r) // st + 1
    i1, j1 = min(i1, Ho), min(j1, Wo)
    if i1 <= i0 or j1 <= j0 or Ho * Wo == 0:
        return 0.0
    return (i1 - i0) * (j1 - j0) / (Ho * Wo)


# ---- the exchanges of one training step (src/stage.c) ----------------------------------------------

def rica_exchanges(st, k):
    """(stage index, plan, op) of one reconstruction-ICA step of stage k (0-based), in order: the
    forward passes of the earlier stages, then stage_rica. op: gather_ovl (the overlapped filter input),
    gather, scatter."""
    ex = []
    for j in range(k):
        ex += [(j, "x", "gather_ovl"), (j, "y", "gather")] + ([(j, "p", "gather")] if st[j]["n"] else [])
    ex += [(k, "x", "gather_ovl"), (k, "y", "gather"), (k, "x", "scatter"), (k, "x", "gather"), (k, "y", "scatter")]
    return ex


def metric_halo_bytes(st, k, Py, Px, py, px, B, legacy=False):
    """halo_bytes_per_step as src/stage.c counts it: the bytes this rank sends, which for a gather are
    the plan's sends and for a scatter-add what the matching gather receives. legacy: as the engine
    counted before commit b51e385 (a scatter-add counted as its gather's sends), for runs made then."""
    total = 0
    for j, which, op in rica_exchanges(st, k):
        total += plan_stats(st[j], which, Py, Px, py, px)["recv" if op == "scatter" and not legacy else "sent"]
    return 4 * B * total


# ---- sizes (a twin of src/sizing.c) -----------------------------------------------------------------

def lf_weights(s, g):
    """Floats of one filter tensor on the rank: its y tile x M r r C."""
    return area(g["y_tile"]) * s["M"] * s["r"] * s["r"] * s["C"]


def lf_flops(s, g):
    """FLOPs of one local-filter pass per sample on the rank (2 per multiply-add)."""
    return 2 * lf_weights(s, g)


def rank_memory(layout, st, Py, Px, py, px):
    """Bytes on the rank: params (the parameters), state (parameters + gradients + optimizer state),
    buffers (the batch buffers of every stage; buffers_stage: per stage). Halo message buffers and the
    head's batch buffers, small, are left out (src/sizing.c counts them)."""
    g = rank_geometry(st, Py, Px, py, px)
    B = layout["batch"]
    par = buf = 0
    per_stage = []
    for s, gg in zip(st, g):
        par += lf_weights(s, gg) * (1 if s["tied"] else 2)
        bx, bxw = B * area(gg["x_tile"]) * s["C"], B * area(gg["x_win"]) * s["C"]
        by, byw = B * area(gg["y_tile"]) * s["M"], B * area(gg["y_win"]) * s["M"]
        bp, bpw = B * area(gg["p_tile"]) * s["M"], (B * area(gg["p_win"]) * s["M"] if s["n"] else 0)
        per_stage.append(4 * (2 * bx + 2 * by + 3 * bp + (bp if s["n"] else 0) + 4 * bxw + 2 * byw + 2 * bpw))
        buf += per_stage[-1] // 4
    par += area(g[-1]["p_tile"]) * st[-1]["M"] * layout["classes"] + layout["classes"]
    return {"params": 4 * par, "state": 3 * 4 * par, "buffers": 4 * buf, "buffers_stage": per_stage}


# ---- job files ----------------------------------------------------------------------------------------

def read_job(path, sets=()):
    """A layout from a job file (INI; the keys and defaults of src/job.c that matter here), with
    section.key=value overrides."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), comment_prefixes=(";", "#"))
    with open(path) as f:
        cp.read_string(f.read())
    for kv in sets:
        k, v = kv.split("=", 1)
        sec, key = k.split(".", 1)
        if not cp.has_section(sec):
            cp.add_section(sec)
        cp.set(sec, key, v)

    def get(sec, key, default=None, conv=int):
        if cp.has_option(sec, key):
            return conv(cp.get(sec, key))
        if default is None:
            raise ValueError(f"{path}: [{sec}] {key} missing")
        return conv(default)

    lay = {"name": get("run", "name", "cotsnet", str), "height": get("data", "height"), "width": get("data", "width"),
           "channels": get("data", "channels"), "batch": get("data", "batch", 32), "classes": get("data", "classes", 10),
           "rows": get("grid", "rows", 1), "cols": get("grid", "cols", 1), "replicas": get("grid", "replicas", 1),
           "average_every": get("grid", "average_every", 1),
           "overlap": get("grid", "overlap", "yes", str) in ("yes", "true", "1", "on"), "stages": []}
    k = 1
    while cp.has_section(f"stage{k}"):
        sec = f"stage{k}"
        lay["stages"].append({"field": get(sec, "field"), "stride": get(sec, "stride", 1), "maps": get(sec, "maps"),
                              "pool": get(sec, "pool", 1), "pool_stride": get(sec, "pool_stride", 1),
                              "lcn": get(sec, "lcn", 0), "tied": get(sec, "decoder", "tied", str) == "tied",
                              "steps": get(sec, "steps", 100)})
        k += 1
    return lay


def param_count(layout):
    st = stage_geometry(layout)
    n = 0
    for s in st:
        w = s["Ho"] * s["Wo"] * s["M"] * s["r"] * s["r"] * s["C"]
        n += w if s["tied"] else 2 * w
    return n + st[-1]["Hp"] * st[-1]["Wp"] * st[-1]["M"] * layout["classes"] + layout["classes"]
