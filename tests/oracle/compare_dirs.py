#!/usr/bin/python3
"""compare_dirs.py REF TEST NAME [TOL]: every .npy in REF must exist in TEST and agree normwise,
||test - ref|| / ||ref|| <= TOL (default 1e-5). Prints one ok/FAIL line per tensor, named NAME/tensor."""
import os
import sys

import numpy as np

ref, test, name = sys.argv[1], sys.argv[2], sys.argv[3]
tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
files = sorted(f for f in os.listdir(ref) if f.endswith(".npy"))
if not files:
    print(f"FAIL {name}: no reference tensors in {ref}")
    sys.exit(1)
bad = 0
for f in files:
    t = f[:-4]
    a = np.load(os.path.join(ref, f)).astype(np.float64)
    p = os.path.join(test, f)
    if not os.path.exists(p):
        print(f"FAIL {name}/{t}: missing from the distributed run")
        bad += 1
        continue
    b = np.load(p).astype(np.float64)
    if a.shape != b.shape:
        print(f"FAIL {name}/{t}: shape {b.shape}, reference {a.shape}")
        bad += 1
        continue
    den = np.linalg.norm(a)
    err = np.linalg.norm(b - a) / (den if den > 0 else 1.0)
    if not np.isfinite(err) or err > tol or (den == 0 and np.linalg.norm(b) > 0):
        print(f"FAIL {name}/{t}: relative error {err:.3e} > {tol:.0e}")
        bad += 1
    elif den == 0:
        print(f"FAIL {name}/{t}: the reference is all zeros: the comparison would prove nothing")
        bad += 1
    else:
        print(f"ok {name}/{t} ({err:.1e})")
sys.exit(1 if bad else 0)
