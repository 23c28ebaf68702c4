#!/usr/bin/python3
"""Numpy oracle for the local filter and L2 pooling, written from docs/MODEL.md alone.

Usage: lf_pool.py DIR, where DIR holds what `test_lf --dump DIR` and `test_pool --dump DIR` wrote:
  lf_<case>_{meta,x,w,gy,y,dx,dw}.npy     meta = [r, s]
  pool_<case>_{meta,eps,y,gp,p,gy}.npy    meta = [q, t], eps = [eps]
For each case it recomputes, in float64 from the inputs,
  LF      y[b,i,j,m] = sum_{dy,dx<r, c<C} w[i,j,m,dy,dx,c] x[b, i*s+dy, j*s+dx, c]
  LF^T    dx[b,u,v,c] = sum over (i,j,m,dy,dx) with i*s+dy = u, j*s+dx = v of w[i,j,m,dy,dx,c] gy[b,i,j,m]
  dLF/dw  dw[i,j,m,dy,dx,c] = sum_b gy[b,i,j,m] x[b, i*s+dy, j*s+dx, c]
  POOL    p[b,i,j,m] = sqrt(eps + sum_{u,v<q} y[b, i*t+u, j*t+v, m]^2)
  POOL^T  gy[b,a,c,m] = sum over (i,j,u,v) with i*t+u = a, j*t+v = c of gp[b,i,j,m] y[b,a,c,m] / p[b,i,j,m]
with Ho = (H - r) // s + 1 and Hp = (H - q) // t + 1 (H of each op's own input), so input positions
that no field or window covers get 0, and compares the C results normwise: ||c - ref|| / ||ref|| <= TOL.
Prints "ok NAME" or "FAIL NAME: why" per tensor; exits 1 on any failure or when DIR holds no case.
"""
import glob
import os
import sys

import numpy as np

TOL = 1e-5  # normwise relative, float32 results against float64 formulas

counts = {"ok": 0, "fail": 0}


def fail(name, why):
    print(f"FAIL {name}: {why}")
    counts["fail"] += 1


def compare(name, got, ref):
    if got.shape != ref.shape:
        fail(name, f"shape {got.shape}, MODEL.md gives {ref.shape}")
        return
    den = np.linalg.norm(ref)
    err = np.linalg.norm(got.astype(np.float64) - ref) / (den if den > 0 else 1.0)
    print(f"# {name}: relative error {err:.2e}")
    if np.isfinite(err) and err <= TOL:
        print(f"ok {name}")
        counts["ok"] += 1
    else:
        fail(name, f"relative error {err:.3e} > tolerance {TOL:.0e}")


def load(prefix, what):
    return np.load(f"{prefix}_{what}.npy")


def grid(a, row0, col0, n_rows, n_cols, step):
    """The view a[:, row0 + i*step, col0 + j*step, :] for i < n_rows, j < n_cols (writable)."""
    return a[:, row0:row0 + (n_rows - 1) * step + 1:step, col0:col0 + (n_cols - 1) * step + 1:step, :]


def lf_case(prefix, name):
    r, s = (int(v) for v in load(prefix, "meta"))
    x = load(prefix, "x").astype(np.float64)
    w = load(prefix, "w").astype(np.float64)
    gy = load(prefix, "gy").astype(np.float64)
    B, H, W, C = x.shape
    Ho, Wo = (H - r) // s + 1, (W - r) // s + 1
    M = w.shape[2]
    if w.shape != (Ho, Wo, M, r, r, C) or gy.shape != (B, Ho, Wo, M):
        fail(f"oracle_lf_shapes_{name}", f"w {w.shape}, gy {gy.shape} for x {x.shape}, r = {r}, s = {s}")
        return
    y = np.zeros((B, Ho, Wo, M))
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for ky in range(r):
        for kx in range(r):
            xs = grid(x, ky, kx, Ho, Wo, s)  # xs[b,i,j,c] = x[b, i*s+ky, j*s+kx, c]
            wk = w[:, :, :, ky, kx, :]  # [Ho, Wo, M, C]
            y += np.einsum("ijmc,bijc->bijm", wk, xs)
            grid(dx, ky, kx, Ho, Wo, s)[...] += np.einsum("ijmc,bijm->bijc", wk, gy)
            dw[:, :, :, ky, kx, :] = np.einsum("bijm,bijc->ijmc", gy, xs)
    compare(f"oracle_lf_forward_{name}", load(prefix, "y"), y)
    compare(f"oracle_lf_transpose_{name}", load(prefix, "dx"), dx)
    compare(f"oracle_lf_dw_{name}", load(prefix, "dw"), dw)


def pool_case(prefix, name):
    q, t = (int(v) for v in load(prefix, "meta"))
    eps = float(load(prefix, "eps")[0])
    y = load(prefix, "y").astype(np.float64)
    gp = load(prefix, "gp").astype(np.float64)
    B, H, W, M = y.shape
    Hp, Wp = (H - q) // t + 1, (W - q) // t + 1
    if gp.shape != (B, Hp, Wp, M):
        fail(f"oracle_pool_shapes_{name}", f"gp {gp.shape} for y {y.shape}, q = {q}, t = {t}")
        return
    sq = np.zeros((B, Hp, Wp, M))
    for u in range(q):
        for v in range(q):
            sq += grid(y, u, v, Hp, Wp, t) ** 2
    p = np.sqrt(eps + sq)
    gy = np.zeros_like(y)
    for u in range(q):
        for v in range(q):
            grid(gy, u, v, Hp, Wp, t)[...] += gp * grid(y, u, v, Hp, Wp, t) / p
    compare(f"oracle_pool_forward_{name}", load(prefix, "p"), p)
    compare(f"oracle_pool_backward_{name}", load(prefix, "gy"), gy)


def main():
    if len(sys.argv) != 2:
        print("usage: lf_pool.py DIR", file=sys.stderr)
        return 2
    d = sys.argv[1]
    cases = 0
    for kind, run in (("lf", lf_case), ("pool", pool_case)):
        for meta in sorted(glob.glob(os.path.join(d, f"{kind}_*_meta.npy"))):
            prefix = meta[: -len("_meta.npy")]
            run(prefix, os.path.basename(prefix)[len(kind) + 1:])
            cases += 1
    if cases == 0:
        fail("oracle_lf_pool", f"no dumped cases in {d}")
    print(f"# {cases} cases, {counts['ok']} passed, {counts['fail']} failed (tolerance {TOL:.0e})")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
