#!/usr/bin/python3
"""train_compare.py: two training runs of one job agree (tests/t_cuda_train_emu.sh, bench/gpu_check.sh).

  train_compare.py NAME LINES LOG_A LOG_B CKPT_A CKPT_B

Run A is the reference (the CPU backend), run B the one checked (the CUDA backend). From each log: the
loss lines ("rica|head|finetune stage S step N/T loss L ...") and eval lines ("eval WHEN step N test
accuracy A"); there must be LINES of them in both, in the same order, the losses within 1e-5 relative
and the accuracies equal. The checkpoints must hold the same datasets (at least 4), each with the same
shape and dtype and within 1e-5 relative (normwise), and equal cursor attributes (ckpt_check.compare). Prints one line: "ok NAME (...)" or
"FAIL NAME: why"; exits 1 on FAIL.
"""
import sys

import ckpt_check  # the checkpoint comparison, beside this file

TOL = 1e-5


def lines(path):
    out = []
    for line in open(path, errors="replace"):
        w = line.split()
        if len(w) >= 7 and w[0] in ("rica", "head", "finetune") and w[1] == "stage" and w[5] == "loss":
            out.append((w[0], w[2], w[4], float(w[6])))
        elif len(w) >= 7 and w[0] == "eval" and w[4] == "test" and w[5] == "accuracy":
            out.append(("eval", w[1], w[3], float(w[6])))
    return out


def main(argv):
    name, want, log_a, log_b, ck_a, ck_b = argv[1:7]
    bad = []
    A, B = lines(log_a), lines(log_b)
    if len(A) != int(want) or len(B) != len(A):
        bad.append(f"{len(B)} loss/eval lines, the reference has {len(A)}, expected {want}")
    for x, y in zip(A, B):
        if x[:3] != y[:3]:
            bad.append(f"line {y[:3]} where the reference has {x[:3]}")
        elif x[0] == "eval" and x[3] != y[3]:
            bad.append(f"eval {x[1]}: accuracy {y[3]} vs {x[3]}")
        elif abs(x[3] - y[3]) > TOL * max(abs(x[3]), 1e-30):
            bad.append(f"{x[0]} stage {x[1]} step {x[2]}: loss {y[3]!r} vs {x[3]!r}")
    worst, n = 0.0, 0
    try:
        cbad, n, worst = ckpt_check.compare(ck_a, ck_b, TOL)
        bad += cbad
        if n < 4:
            bad.append(f"only {n} datasets in {ck_a}")
    except (OSError, KeyError) as ex:
        bad.append(f"checkpoint: {ex}")
    if bad:
        print(f"FAIL {name}: " + "; ".join(bad[:6]))
        return 1
    print(f"ok {name} ({len(A)} loss/eval lines within {TOL:g}, {n} datasets of {ck_b.split('/')[-1]}, worst {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
