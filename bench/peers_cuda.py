#!/usr/bin/env python3
"""peers_cuda.py: the local filter's three passes in PyTorch on the GPU, on bench_cuda's shapes.

    python3 bench/peers_cuda.py SHAPES [--reps N] [--device cpu]

SHAPES is the output of `bench_cuda --shapes` (key B Hx Wx C Ho Wo M r s per line). Prints '#' lines
(versions, device, settings) and one line per timing that `bench_cuda --peers FILE` joins:
    op shape torch ms
FP32 throughout, TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, cuDNN too, and
float32 matmul precision "highest"). The formulation is the usual one for an untied (locally
connected) layer: unfold (im2col) the NCHW input into patches [L, B, K] (L = Ho*Wo locations,
K = C*r*r), then one batched matrix product per pass over the L locations:
    forward           y[L, B, M]   = patches @ w^T            unfold + bmm
    backward data     dpatch       = dy @ w;  dx = fold(dpatch)  bmm + fold (col2im)
    backward filter   dw[L, M, K]  = dy^T @ patches            unfold + bmm (the patches recomputed,
                                                               as a framework without saved patches must)
Each pass is checked against a float64 evaluation before it is timed; times are the median of CUDA
event timings after warm-up, inputs rotating over 4 sets (more than the L2 cache holds), as bench_cuda
does. Layout conversions of the inputs (NHWC to NCHW) are not timed: the peer works in its own layout.
--device cpu runs the same checks and host-clock timings on the CPU (a dry run where there is no GPU).
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F

NSETS = 4


def note(msg):
    print("# " + msg, flush=True)


def emit(op, key, ms):
    print("%-20s %-12s %-6s %.4f" % (op, key, "torch", ms), flush=True)


def time_ms(fn, sets, reps):
    """Median milliseconds over reps runs (3 warm-ups first), rotating over the input sets."""
    for k in range(3):
        fn(sets[k % len(sets)])
    if sets[0][0].device.type != "cuda":
        ts = []
        for k in range(reps):
            t0 = time.perf_counter()
            fn(sets[k % len(sets)])
            ts.append((time.perf_counter() - t0) * 1e3)
        return sorted(ts)[len(ts) // 2]
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for k in range(reps):
        starts[k].record()
        fn(sets[k % len(sets)])
        ends[k].record()
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) for s, e in zip(starts, ends))
    n = len(ts)
    return ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])


def relerr(a, b):
    a = a.double()
    b = b.double()
    den = torch.linalg.norm(b).item()
    return torch.linalg.norm(a - b).item() / (den if den > 0 else 1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        note("peers_cuda: no GPU visible to PyTorch: nothing to time")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device(args.device)
    note("torch %s, CUDA %s, %s; TF32 off, float32 matmul precision highest"
         % (torch.__version__, torch.version.cuda,
            torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (dry run)"))
    bad = 0
    for line in open(args.shapes):
        if line.startswith("#") or not line.strip():
            continue
        key, *nums = line.split()
        B, Hx, Wx, C, Ho, Wo, M, r, s = map(int, nums)
        L, K = Ho * Wo, C * r * r
        g = torch.Generator(device=dev)
        g.manual_seed(7)
        sets = []
        for _ in range(NSETS):
            x = torch.rand(B, C, Hx, Wx, device=dev, generator=g) * 2 - 1
            w = (torch.rand(L, M, K, device=dev, generator=g) * 2 - 1) / K ** 0.5
            dy = torch.rand(L, B, M, device=dev, generator=g) * 2 - 1
            sets.append((x, w, dy))

        def patches(x):  # [L, B, K]
            p = F.unfold(x, kernel_size=r, stride=s)  # [B, K, L'] with L' >= L when the window is larger
            p = p.view(B, K, (Hx - r) // s + 1, (Wx - r) // s + 1)[:, :, :Ho, :Wo].reshape(B, K, L)
            return p.permute(2, 0, 1)

        def fwd(t):
            x, w, _ = t
            return torch.bmm(patches(x), w.transpose(1, 2))  # [L, B, M]

        def bwd_data(t):
            _, w, dy = t
            dp = torch.bmm(dy, w)  # [L, B, K]
            dp = dp.permute(1, 2, 0).reshape(B, K, Ho, Wo)
            full = torch.zeros(B, K, (Hx - r) // s + 1, (Wx - r) // s + 1, device=dev)
            full[:, :, :Ho, :Wo] = dp
            return F.fold(full.reshape(B, K, -1), output_size=(Hx, Wx), kernel_size=r, stride=s)

        def bwd_filter(t):
            x, _, dy = t
            return torch.bmm(dy.transpose(1, 2), patches(x))  # [L, M, K]

        # check against float64 autograd of the forward pass
        x, w, dy = (a.double() for a in sets[0])
        x.requires_grad_(True)
        w.requires_grad_(True)
        p64 = F.unfold(x, kernel_size=r, stride=s).view(B, K, (Hx - r) // s + 1, (Wx - r) // s + 1)
        p64 = p64[:, :, :Ho, :Wo].reshape(B, K, L).permute(2, 0, 1)
        y64 = torch.bmm(p64, w.transpose(1, 2))
        gx, gw = torch.autograd.grad(y64, (x, w), dy)
        errs = {"lf_forward": relerr(fwd(sets[0]), y64), "lf_backward_data": relerr(bwd_data(sets[0]), gx),
                "lf_backward_filter": relerr(bwd_filter(sets[0]), gw)}
        fns = {"lf_forward": fwd, "lf_backward_data": bwd_data, "lf_backward_filter": bwd_filter}
        for op, fn in fns.items():
            if not errs[op] <= 1e-5:
                note("%s %s: relative error %.2e against float64: not timed" % (op, key, errs[op]))
                bad += 1
                continue
            emit(op, key, time_ms(fn, sets, args.reps))
        note("%s: relative errors against float64: %s" % (key, ", ".join("%s %.1e" % kv for kv in errs.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
