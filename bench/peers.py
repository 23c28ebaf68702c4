#!/usr/bin/python3
"""peers.py: the operations of bench_ops done by PyTorch (CPU) and numpy, same shapes, same threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers.py SHAPES [--threads N] [--quick]

SHAPES is the output of `bench_ops --shapes` (one line per shape: key B H W C M r s q t n pool_eps
lcn_sigma lcn_eps). Prints '#' lines (versions, BLAS, which formulation won) and one line per timing:
    op shape peer ms
that bench_ops --peers joins into its ratio columns (ratio = peer time / our time).

Local filter in PyTorch: several formulations are timed on every shape and the fastest counts:
  unfold+bmm        F.unfold (im2col) -> [L, B, K] @ w [L, K, M]       (L = Ho*Wo locations, K = C*r*r)
  strided+bmm       as_strided patch view of NHWC x -> contiguous [L, B, K] @ w [L, K, M]
  einsum            torch.einsum over the as_strided view (it reshapes to bmm itself)
backward filter:  patches^T @ dY (the patches saved by the forward pass, as autograd would, are not
recomputed: the peer gets them for free); backward data: dY @ w^T then F.fold (col2im) or the
scatter-add of the strided view. The peer works in its own favourite layouts; converting our NHWC
inputs into them is not timed. Pooling: sqrt(eps + q^2 avg_pool2d(y^2)); LCN: conv2d with the Gaussian
on the map summed over channels, divided by the border-renormalized Z (docs/MODEL.md); backward passes
via autograd. A stage chains them with the layout changes it needs; its step adds torch.optim.SGD
(momentum 0.9). numpy: np.einsum(optimize=True) over the as_strided view, local filter only.
Every formulation is checked against numpy einsum (local filter) or a direct numpy evaluation of
docs/MODEL.md (pooling, LCN) before it is timed.
"""
import argparse
import os
import sys
import time

import numpy as np

MIN_S = 0.25


def timeit(fn, min_s=MIN_S, max_reps=50):
    """Fastest of the runs (seconds): one warm-up, then >= 3 runs and >= min_s seconds (as bench_ops)."""
    fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < max_reps and (len(ts) < 3 or time.perf_counter() - start < min_s):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def relerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.linalg.norm(b)
    return np.linalg.norm(a - b) / (den if den > 0 else 1.0)


def emit(op, key, peer, sec):
    print("%-14s %-28s %-8s %.4f" % (op, key, peer, sec * 1e3), flush=True)


def note(msg):
    print("# " + msg.replace("\n", "\n# "), flush=True)


# ---- numpy: the oracle of the formulations, and a peer ----------------------------------------------
def patches_np(x, r, s, Ho, Wo):
    """[B, Ho, Wo, r, r*C] view of NHWC x: the receptive field rows, without a copy."""
    B, H, W, C = x.shape
    st = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (B, Ho, Wo, r, r * C), (st[0], s * st[1], s * st[2], st[1], st[3]), writeable=False)


def lf_np_fwd(x, w6, r, s, Ho, Wo):
    return np.einsum("bijyk,ijmyk->bijm", patches_np(x, r, s, Ho, Wo), w6, optimize=True)


def lf_np_bwd_filter(x, gy, r, s, Ho, Wo):
    return np.einsum("bijm,bijyk->ijmyk", gy, patches_np(x, r, s, Ho, Wo), optimize=True)


def lf_np_bwd_data(w6, gy, shape_x, r, s, Ho, Wo):
    B, H, W, C = shape_x
    dp = np.einsum("bijm,ijmyk->bijyk", gy, w6, optimize=True)  # [B, Ho, Wo, r, r*C]
    dx = np.zeros(shape_x, dtype=np.float32)
    for ky in range(r):
        for kx in range(r):
            dx[:, ky:ky + s * (Ho - 1) + 1:s, kx:kx + s * (Wo - 1) + 1:s, :] += dp[:, :, :, ky, kx * C:(kx + 1) * C]
    return dx


def pool_np(y, q, t, eps, Hp, Wp):
    p = np.zeros((y.shape[0], Hp, Wp, y.shape[3]), dtype=np.float64)
    for u in range(q):
        for v in range(q):
            p += y[:, u:u + t * (Hp - 1) + 1:t, v:v + t * (Wp - 1) + 1:t, :].astype(np.float64) ** 2
    return np.sqrt(eps + p)


def lcn_np(x, n, sigma, eps):
    """docs/MODEL.md, LCN, directly (float64), x NHWC."""
    B, H, W, M = x.shape
    h = (n - 1) // 2
    x = x.astype(np.float64)
    g = np.exp(-(np.arange(-h, h + 1)[:, None] ** 2 + np.arange(-h, h + 1)[None, :] ** 2) / (2 * sigma * sigma))

    def wsum(a):  # sum over the truncated window of g * a, a [B, H, W]
        out = np.zeros_like(a)
        for da in range(-h, h + 1):
            for dc in range(-h, h + 1):
                i0, i1 = max(0, -da), min(H, H - da)
                j0, j1 = max(0, -dc), min(W, W - dc)
                if i0 < i1 and j0 < j1:
                    out[:, i0:i1, j0:j1] += g[da + h, dc + h] * a[:, i0 + da:i1 + da, j0 + dc:j1 + dc]
        return out

    Z = M * wsum(np.ones((1, H, W)))
    mu = wsum(x.sum(axis=3)) / Z
    v = x - mu[..., None]
    s2 = wsum((v * v).sum(axis=3)) / Z
    return v / np.sqrt(eps + s2)[..., None]


# ---- PyTorch -------------------------------------------------------------------------------------
def torch_peers(sh, threads, rng):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    key, B, H, W, C, M, r, s, q, t, n, peps, sigma, leps = sh
    Ho, Wo = (H - r) // s + 1, (W - r) // s + 1
    L, K = Ho * Wo, r * r * C
    Hp, Wp = (Ho - q) // t + 1, (Wo - q) // t + 1

    x_np = rng.uniform(-1, 1, (B, H, W, C)).astype(np.float32)
    w6_np = (rng.uniform(-1, 1, (Ho, Wo, M, r, r * C)) / np.sqrt(K)).astype(np.float32)
    gy_np = rng.uniform(-1, 1, (B, Ho, Wo, M)).astype(np.float32)
    y_ref = lf_np_fwd(x_np, w6_np, r, s, Ho, Wo)
    dw_ref = lf_np_bwd_filter(x_np, gy_np, r, s, Ho, Wo)
    dx_ref = lf_np_bwd_data(w6_np, gy_np, x_np.shape, r, s, Ho, Wo)

    # peer layouts (conversion not timed)
    x_nhwc = torch.from_numpy(x_np)
    x_nchw = x_nhwc.permute(0, 3, 1, 2).contiguous()
    w_sk = torch.from_numpy(w6_np).reshape(L, M, K).transpose(1, 2).contiguous()  # [L, K(dy,dx,c), M]
    w_uf = (torch.from_numpy(w6_np).reshape(Ho, Wo, M, r, r, C).permute(0, 1, 5, 3, 4, 2)
            .reshape(L, K, M).contiguous())  # [L, K(c,dy,dx), M]: unfold's order
    w6 = torch.from_numpy(w6_np)
    gy_lbm = torch.from_numpy(gy_np).reshape(B, L, M).transpose(0, 1).contiguous()  # [L, B, M]
    gy_nhwc = torch.from_numpy(gy_np)

    def strided(xt):
        st = xt.stride()
        return xt.as_strided((B, Ho, Wo, r, r * C), (st[0], s * st[1], s * st[2], st[1], st[3]))

    def fwd_unfold():
        cols = F.unfold(x_nchw, r, stride=s)  # [B, K, L]
        return torch.bmm(cols.permute(2, 0, 1), w_uf)  # [L, B, M]

    def fwd_strided():
        pt = strided(x_nhwc).reshape(B, L, K).transpose(0, 1).contiguous()  # [L, B, K]
        return torch.bmm(pt, w_sk)

    def fwd_einsum():
        return torch.einsum("bijyk,ijmyk->bijm", strided(x_nhwc), w6)

    def as_nhwc(y, form):
        return y.numpy() if form == "einsum" else y.transpose(0, 1).reshape(B, Ho, Wo, M).numpy()

    fwd = {"unfold+bmm": fwd_unfold, "strided+bmm": fwd_strided, "einsum": fwd_einsum}
    results = {}
    for name, f in fwd.items():
        err = relerr(as_nhwc(f(), name), y_ref)
        if err > 1e-4:
            note("torch lf_fwd %s %s: relative error %.1e vs numpy: not counted" % (key, name, err))
            continue
        results[name] = timeit(f)
    best = min(results, key=results.get)
    note("torch lf_fwd %s: %s (%s)" % (key, best, ", ".join("%s %.2f ms" % (k, v * 1e3) for k, v in results.items())))
    emit("lf_fwd", key, "torch", results[best])

    # backward filter: the patches from the forward pass are given
    cols_lbk_uf = F.unfold(x_nchw, r, stride=s).permute(2, 1, 0).contiguous()  # [L, K, B]
    cols_lkb_sk = strided(x_nhwc).reshape(B, L, K).permute(1, 2, 0).contiguous()  # [L, K, B]
    bf = {"unfold+bmm": lambda: torch.bmm(cols_lbk_uf, gy_lbm), "strided+bmm": lambda: torch.bmm(cols_lkb_sk, gy_lbm),
          "einsum": lambda: torch.einsum("bijm,bijyk->ijmyk", gy_nhwc, strided(x_nhwc))}

    def dw_as6(dw, form):
        if form == "einsum":
            return dw.numpy()
        if form == "strided+bmm":
            return dw.transpose(1, 2).reshape(Ho, Wo, M, r, r * C).numpy()
        return dw.reshape(Ho, Wo, C, r, r, M).permute(0, 1, 5, 3, 4, 2).reshape(Ho, Wo, M, r, r * C).numpy()

    results = {}
    for name, f in bf.items():
        err = relerr(dw_as6(f(), name), dw_ref)
        if err > 1e-4:
            note("torch lf_bwd_filter %s %s: relative error %.1e: not counted" % (key, name, err))
            continue
        results[name] = timeit(f)
    best = min(results, key=results.get)
    note("torch lf_bwd_filter %s: %s (%s)" % (key, best, ", ".join("%s %.2f ms" % (k, v * 1e3) for k, v in results.items())))
    emit("lf_bwd_filter", key, "torch", results[best])

    # backward data
    w_uf_t = w_uf.transpose(1, 2).contiguous()  # [L, M, K]
    w_sk_t = w_sk.transpose(1, 2).contiguous()

    def bd_fold():
        dcols = torch.bmm(gy_lbm, w_uf_t)  # [L, B, K]
        return F.fold(dcols.permute(1, 2, 0), (H, W), r, stride=s)  # [B, C, H, W]

    def bd_strided():
        dp = torch.bmm(gy_lbm, w_sk_t)  # [L, B, K(dy, dx, c)]
        dp = dp.reshape(Ho, Wo, B, r, r, C)
        dx = torch.zeros(B, H, W, C)
        for ky in range(r):
            for kx in range(r):
                dx[:, ky:ky + s * (Ho - 1) + 1:s, kx:kx + s * (Wo - 1) + 1:s, :] += dp[:, :, :, ky, kx, :].permute(2, 0, 1, 3)
        return dx

    bd = {"bmm+fold": bd_fold, "bmm+scatter": bd_strided}
    results = {}
    for name, f in bd.items():
        out = f()
        out = out.permute(0, 2, 3, 1) if name == "bmm+fold" else out
        err = relerr(out.numpy(), dx_ref)
        if err > 1e-4:
            note("torch lf_bwd_data %s %s: relative error %.1e: not counted" % (key, name, err))
            continue
        results[name] = timeit(f)
    best = min(results, key=results.get)
    note("torch lf_bwd_data %s: %s (%s)" % (key, best, ", ".join("%s %.2f ms" % (k, v * 1e3) for k, v in results.items())))
    emit("lf_bwd_data", key, "torch", results[best])

    # pooling, LCN: NCHW, autograd for backward
    y_nchw = torch.from_numpy(y_ref.astype(np.float32)).permute(0, 3, 1, 2).contiguous().requires_grad_(True)

    def pool_t(yt):
        return torch.sqrt(peps + q * q * F.avg_pool2d(yt * yt, q, t))

    p_t = pool_t(y_nchw)
    err = relerr(p_t.detach().permute(0, 2, 3, 1).numpy(), pool_np(y_ref, q, t, peps, Hp, Wp))
    note("torch pool %s: sqrt(eps + q^2 avg_pool2d(y^2)), relative error %.1e vs numpy" % (key, err))
    with torch.no_grad():
        emit("pool_fwd", key, "torch", timeit(lambda: pool_t(y_nchw)))
    gp = torch.from_numpy(rng.uniform(-1, 1, tuple(p_t.shape)).astype(np.float32))
    emit("pool_bwd", key, "torch", timeit(lambda: torch.autograd.grad(p_t, y_nchw, gp, retain_graph=True)))

    h = (n - 1) // 2
    ax = torch.arange(-h, h + 1, dtype=torch.float32)
    g2 = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma * sigma))[None, None]
    Z = M * F.conv2d(torch.ones(1, 1, Hp, Wp), g2, padding=h)

    def lcn_t(xt):
        mu = F.conv2d(xt.sum(1, keepdim=True), g2, padding=h) / Z
        v = xt - mu
        s2 = F.conv2d((v * v).sum(1, keepdim=True), g2, padding=h) / Z
        return v * torch.rsqrt(leps + s2)

    xl = p_t.detach().clone().requires_grad_(True)
    o_t = lcn_t(xl)
    err = relerr(o_t.detach().permute(0, 2, 3, 1).numpy(), lcn_np(xl.detach().permute(0, 2, 3, 1).numpy(), n, sigma, leps))
    note("torch lcn %s: conv2d with the Gaussian over the channel sum / Z, relative error %.1e vs numpy" % (key, err))
    with torch.no_grad():
        emit("lcn_fwd", key, "torch", timeit(lambda: lcn_t(xl)))
    go = torch.from_numpy(rng.uniform(-1, 1, tuple(o_t.shape)).astype(np.float32))
    emit("lcn_bwd", key, "torch", timeit(lambda: torch.autograd.grad(o_t, xl, go, retain_graph=True)))

    # a whole stage: lf -> NCHW -> pool -> lcn, autograd (x needs its gradient too); the local filter as
    # unfold+bmm or strided+bmm, whichever makes the faster training step
    def make_stage(form):
        if form == "unfold+bmm":
            wp = torch.nn.Parameter(w_uf.clone())
            xs = x_nchw.clone().requires_grad_(True)

            def lf(xx):
                return torch.bmm(F.unfold(xx, r, stride=s).permute(2, 0, 1), wp)
        else:
            wp = torch.nn.Parameter(w_sk.clone())
            xs = x_nhwc.clone().requires_grad_(True)

            def lf(xx):
                return torch.bmm(strided(xx).reshape(B, L, K).transpose(0, 1), wp)

        def fwd():
            y = lf(xs).permute(1, 2, 0).reshape(B, M, Ho, Wo)  # [L, B, M] -> NCHW
            return lcn_t(pool_t(y))
        return wp, xs, fwd

    best = None
    for form in ("unfold+bmm", "strided+bmm"):
        wp, xs, fwd = make_stage(form)
        out = fwd()
        gout = torch.from_numpy(rng.uniform(-1, 1, tuple(out.shape)).astype(np.float32))
        opt = torch.optim.SGD([wp], lr=1e-6, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=False)
            xs.grad = None
            fwd().backward(gout)
            opt.step()

        def bwd():
            wp.grad = None
            xs.grad = None
            out.backward(gout, retain_graph=True)

        tb = timeit(bwd)  # before any step: the optimizer changes wp in place
        tt = (timeit(step), timeit(fwd), tb)
        note("torch stage %s %s: step %.2f ms, forward %.2f ms, backward %.2f ms" % (key, form, tt[0] * 1e3, tt[1] * 1e3, tt[2] * 1e3))
        if best is None or tt[0] < best[0]:
            best = tt
    emit("stage_fwd", key, "torch", best[1])
    emit("stage_bwd", key, "torch", best[2])
    emit("stage_step", key, "torch", best[0])


def numpy_peers(sh, rng):
    key, B, H, W, C, M, r, s, q, t, n, peps, sigma, leps = sh
    Ho, Wo = (H - r) // s + 1, (W - r) // s + 1
    x = rng.uniform(-1, 1, (B, H, W, C)).astype(np.float32)
    w6 = rng.uniform(-1, 1, (Ho, Wo, M, r, r * C)).astype(np.float32)
    gy = rng.uniform(-1, 1, (B, Ho, Wo, M)).astype(np.float32)
    emit("lf_fwd", key, "numpy", timeit(lambda: lf_np_fwd(x, w6, r, s, Ho, Wo), min_s=0.1, max_reps=3))
    emit("lf_bwd_data", key, "numpy", timeit(lambda: lf_np_bwd_data(w6, gy, x.shape, r, s, Ho, Wo), min_s=0.1, max_reps=3))
    emit("lf_bwd_filter", key, "numpy", timeit(lambda: lf_np_bwd_filter(x, gy, r, s, Ho, Wo), min_s=0.1, max_reps=3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shapes", help="output of bench_ops --shapes ('-' for stdin)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    ap.add_argument("--no-numpy", action="store_true")
    args = ap.parse_args()
    f = sys.stdin if args.shapes == "-" else open(args.shapes)
    shapes = []
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        p = line.split()
        shapes.append([p[0]] + [int(v) for v in p[1:11]] + [float(v) for v in p[11:14]])
    rng = np.random.default_rng(12345)

    note("peers.py: %d threads; python %s; numpy %s" % (args.threads, sys.version.split()[0], np.__version__))
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        note("env %s=%s" % (v, os.environ.get(v, "(unset)")))
    try:
        import threadpoolctl
        for lib in threadpoolctl.threadpool_info():
            note("threadpool: %s %s %s threads=%s" % (lib.get("internal_api"), lib.get("version"),
                                                        lib.get("filepath"), lib.get("num_threads")))
    except ImportError:
        note("threadpoolctl not installed; BLAS in use: %s" % os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"))
    try:
        import torch
        note("torch %s" % torch.__version__)
        note(torch.__config__.show().strip())
        note(torch.__config__.parallel_info().strip())
    except ImportError:
        torch = None
        note("torch not installed: no torch column")
    for sh in shapes:
        if torch is not None:
            torch_peers(sh, args.threads, rng)
        if not args.no_numpy:
            # numpy's einsum runs one thread whatever --threads says
            numpy_peers(sh, rng)


if __name__ == "__main__":
    main()
