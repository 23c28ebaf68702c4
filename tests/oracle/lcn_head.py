#!/usr/bin/python3
"""lcn_head.py DIR: an independent numpy oracle for LCN, the softmax head and the optimizers.

Written from docs/MODEL.md alone (it does not call cotsnet). It loads the .npy files that
`test_lcn --dump DIR`, `test_head --dump DIR` and `test_optim --dump DIR` wrote (random inputs and the C
reference's outputs and gradients), recomputes everything in float64 and compares, normwise relative
error ||c - oracle|| / ||oracle||, tolerance 1e-5 (the C inputs are float32 and its outputs are float32
rounded from double sums, so about 1e-7 is expected).

LCN is written as matrices over the H*W positions of the whole map: A[p, q] = g(q - p) / Z(p) for q in
the window N(p) (0 elsewhere), so mu = A S (S = sum over maps of x) and s2 = A q (q = sum over maps of
v^2). The gradient is the transpose chain; the oracle first checks that chain against float64 central
differences of its own forward pass, so the gradient it compares against is itself verified.
Prints "ok NAME" or "FAIL NAME: why" per check and exits non-zero on any failure.
"""
import glob
import os
import sys

import numpy as np

TOL = 1e-5          # C float32 vs oracle float64, every tensor
SELF_FD_TOL = 1e-7  # oracle's analytic LCN gradient vs its own float64 finite differences
failures = 0


def ok(name):
    print("ok " + name)


def fail(name, why):
    global failures
    failures += 1
    print("FAIL %s: %s" % (name, why))


def relerr(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    den = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    return num / den if den > 0 else num


def close(name, c, ref, tol=TOL):
    if np.shape(c) != np.shape(ref):
        fail(name, "shape %s, expected %s" % (np.shape(c), np.shape(ref)))
        return
    e = relerr(c, ref)
    print("# %s: relative error %.2e (tolerance %.0e)" % (name, e, tol))
    if e <= tol:  # NaN fails
        ok(name)
    else:
        fail(name, "relative error %.3e > tolerance %.1e" % (e, tol))


# ---- LCN (docs/MODEL.md, "Local contrast normalization") ------------------------------------------

def lcn_matrix(H, W, M, n, sigma):
    """A [H*W, H*W]: row p = (i, j) holds g(a, c) / Z(i, j) at column (i+a, j+c) for (a, c) in N(i, j)."""
    h = (n - 1) // 2
    ii, jj = np.divmod(np.arange(H * W), W)
    da = ii[None, :] - ii[:, None]  # a = row of q - row of p
    dc = jj[None, :] - jj[:, None]
    inside = (np.abs(da) <= h) & (np.abs(dc) <= h)  # q is in the map by construction: truncation
    g = np.where(inside, np.exp(-(da ** 2 + dc ** 2) / (2.0 * sigma ** 2)), 0.0)
    Z = M * g.sum(axis=1)
    return g / Z[:, None]


def lcn_forward(x, A, eps):
    """x [B, H, W, M] float64 -> out, and the intermediates the gradient needs."""
    B, H, W, M = x.shape
    X = x.reshape(B, H * W, M)
    mu = X.sum(axis=2) @ A.T                 # [B, HW]
    v = X - mu[:, :, None]
    s2 = (v ** 2).sum(axis=2) @ A.T          # [B, HW]
    r = 1.0 / np.sqrt(eps + s2)
    out = v * r[:, :, None]
    return out.reshape(x.shape), (v, r)


def lcn_backward(x, dout, A, eps):
    """d/dx of sum(dout * out): through s2, then v, then mu."""
    B, H, W, M = x.shape
    _, (v, r) = lcn_forward(x, A, eps)
    G = dout.reshape(B, H * W, M)
    dv = G * r[:, :, None]
    ds2 = -0.5 * r ** 3 * (G * v).sum(axis=2)
    dq = ds2 @ A                             # transpose of s2 = A q
    dv = dv + 2.0 * v * dq[:, :, None]
    dmu = -dv.sum(axis=2)
    dS = dmu @ A                             # transpose of mu = A S
    dx = dv + dS[:, :, None]
    return dx.reshape(x.shape)


def lcn_fd(x, dout, A, eps, step=1e-6):
    """Central differences of sum(dout * out), all perturbations of one sample as one batch."""
    B, H, W, M = x.shape
    N = H * W * M
    dx = np.empty_like(x)
    for b in range(B):
        base = np.repeat(x[b][None], N, axis=0).reshape(N, N)
        Jp = (lcn_forward((base + step * np.eye(N)).reshape(N, H, W, M), A, eps)[0] * dout[b]).reshape(N, N).sum(1)
        Jm = (lcn_forward((base - step * np.eye(N)).reshape(N, H, W, M), A, eps)[0] * dout[b]).reshape(N, N).sum(1)
        dx[b] = ((Jp - Jm) / (2 * step)).reshape(H, W, M)
    return dx


def check_lcn(d):
    files = sorted(glob.glob(os.path.join(d, "lcn_*_x.npy")))
    if not files:
        fail("oracle_lcn_dumps", "no lcn_*_x.npy in %s" % d)
        return
    for fx in files:
        case = os.path.basename(fx)[len("lcn_"):-len("_x.npy")]
        try:
            ld = {k: np.load(os.path.join(d, "lcn_%s_%s.npy" % (case, k))).astype(np.float64)
                  for k in ("x", "dout", "out", "dx", "out_tiles", "dx_tiles", "par")}
        except OSError as e:
            fail("oracle_lcn_" + case, "missing dump: %s" % e)
            continue
        n, sigma, eps = int(ld["par"][0]), float(np.float32(ld["par"][1])), float(np.float32(ld["par"][2]))
        x = ld["x"]
        B, H, W, M = x.shape
        A = lcn_matrix(H, W, M, n, sigma)
        out, _ = lcn_forward(x, A, eps)
        dx = lcn_backward(x, ld["dout"], A, eps)
        close("oracle_selfcheck_lcn_grad_fd_" + case, dx, lcn_fd(x, ld["dout"], A, eps), SELF_FD_TOL)
        close("oracle_lcn_forward_" + case, ld["out"], out)
        close("oracle_lcn_forward_tiles2x3_" + case, ld["out_tiles"], out)
        close("oracle_lcn_backward_" + case, ld["dx"], dx)
        close("oracle_lcn_backward_tiles2x3_" + case, ld["dx_tiles"], dx)


# ---- softmax head (docs/MODEL.md, "Softmax head") --------------------------------------------------

def check_head(d):
    files = sorted(glob.glob(os.path.join(d, "head_*_f.npy")))
    if not files:
        fail("oracle_head_dumps", "no head_*_f.npy in %s" % d)
        return
    for ff in files:
        case = os.path.basename(ff)[len("head_"):-len("_f.npy")]
        try:
            hd = {k: np.load(os.path.join(d, "head_%s_%s.npy" % (case, k)))
                  for k in ("f", "w", "bias", "labels", "z", "z_split", "loss", "correct", "dz", "dw", "df")}
        except OSError as e:
            fail("oracle_head_" + case, "missing dump: %s" % e)
            continue
        f, w, bias = (hd[k].astype(np.float64) for k in ("f", "w", "bias"))
        labels = hd["labels"].astype(np.int64)
        B, K = f.shape[0], w.shape[1]
        if labels.min() < 0 or labels.max() >= K:
            fail("oracle_head_labels_" + case, "labels outside [0, %d)" % K)
            continue
        z = f @ w + bias
        zmax = z.max(axis=1, keepdims=True)
        e = np.exp(z - zmax)
        P = e / e.sum(axis=1, keepdims=True)
        onehot = np.zeros_like(P)
        onehot[np.arange(B), labels] = 1.0
        loss = np.mean(-np.log(P[np.arange(B), labels]))
        gz = (P - onehot) / B
        close("oracle_head_logits_" + case, hd["z"], z)
        close("oracle_head_logits_split_" + case, hd["z_split"], z)
        close("oracle_head_loss_" + case, hd["loss"], [loss])
        close("oracle_head_dz_" + case, hd["dz"], gz)
        close("oracle_head_dw_" + case, hd["dw"], f.T @ gz)
        close("oracle_head_df_" + case, hd["df"], gz @ w.T)
        # argmax of the C logits (ties to the lowest class), so a near-tie cannot flip in float64
        right = int(np.sum(np.argmax(hd["z"], axis=1) == labels))
        if int(hd["correct"][0]) == right:
            ok("oracle_head_correct_" + case)
        else:
            fail("oracle_head_correct_" + case, "C counted %d correct, argmax gives %d" % (hd["correct"][0], right))


# ---- optimizers (docs/MODEL.md, "Optimizers") ------------------------------------------------------

def check_optim(d):
    try:
        od = {k: np.load(os.path.join(d, "optim_%s.npy" % k)).astype(np.float64)
              for k in ("w0", "g", "par", "sgd_w", "sgd_v", "ada_w", "ada_h")}
    except OSError as e:
        fail("oracle_optim_dumps", "missing dump: %s" % e)
        return
    lr, mu, wd, eps = (float(np.float32(p)) for p in od["par"])
    w = od["w0"].copy()
    v = np.zeros_like(w)
    wa = od["w0"].copy()
    h = np.zeros_like(w)
    for g in od["g"]:
        ge = g + wd * w
        v = mu * v + ge
        w = w - lr * v
        ge = g + wd * wa
        h = h + ge ** 2
        wa = wa - lr * ge / (np.sqrt(h) + eps)
    close("oracle_optim_sgd_w", od["sgd_w"], w)
    close("oracle_optim_sgd_v", od["sgd_v"], v)
    close("oracle_optim_adagrad_w", od["ada_w"], wa)
    close("oracle_optim_adagrad_h", od["ada_h"], h)


def main():
    if len(sys.argv) != 2:
        print("usage: lcn_head.py DIR", file=sys.stderr)
        return 2
    check_lcn(sys.argv[1])
    check_head(sys.argv[1])
    check_optim(sys.argv[1])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
