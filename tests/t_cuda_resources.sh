#!/bin/sh
# t_cuda_resources.sh: `make cuda-resources` (bench/cuda_resources.py: ptxas's registers, spills and
# shared memory per kernel, and the occupancy they allow) on cuda/lf.cu for sm_90, as the build
# compiles it.
#   cuda_resources_lf: every local-filter kernel (each pass, scheme and block width that
#       cuda/lf_tile.cuh declares) appears once, named by its scheme, with registers and an occupancy;
#       nothing is left unnamed;
#   cuda_resources_occupancy: the occupancy arithmetic on three cases worked by hand (registers,
#       shared memory and per-warp allocation each the limit once).
# Skipped without nvcc (make cuda-resources needs it).
set -u
PY=/usr/bin/python3
if ! make -s --no-print-directory -n cuda-resources >/dev/null 2>&1 || ! command -v "${NVCC:-/usr/local/cuda/bin/nvcc}" >/dev/null 2>&1; then
    echo "skip cuda_resources_lf: no nvcc"
    echo "skip cuda_resources_occupancy: no nvcc"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
if ! make -s --no-print-directory cuda-resources CUDA_ARCH=90 CU_SRC=cuda/lf.cu >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL cuda_resources_lf: make cuda-resources failed: $(tail -3 "$tmp/err" "$tmp/out")"
    exit 1
fi
$PY - "$tmp/out" <<'EOF' || status=1
import re, sys
sys.path.insert(0, "bench")
import cuda_resources as cr
rows = [l for l in open(sys.argv[1]) if not l.startswith("#")]
names = cr.schemes()
want = set()
for cfg, name in names.items():
    for alias in name.split("/"):
        for p in ("forward", "bwd data", "bwd filter", "bwd filter sgd"):
            want.add(f"lf {p} {alias}")
got, seen, bad = set(), [], []
for l in rows:
    # name (lf <pass> <scheme> C<w>[/<scheme> C<w>..]), arch, registers, spills, stack, smem, 128 threads,
    # warps, blocks, occupancy
    m = re.match(r" lf (forward|bwd data|bwd filter sgd|bwd filter) (\S+ C\d+(?:/\S+ C\d+)*)\s+sm_90\s+\d+"
                 r"(?:\s+\d+){4}\s+128\s+\d+\s+\d+\s+[\d.]+\s*$", l)
    if not m:
        bad.append(l.strip()[:60])
        continue
    seen.append(m.group(1) + " " + m.group(2))
    for alias in m.group(2).split("/"):
        got.add(f"lf {m.group(1)} {alias}")
missing = sorted(want - got)
schemes = {a.split()[0] for n in names.values() for a in n.split("/")}
if bad or missing or len(seen) != len(set(seen)) or schemes != {"t32", "t16", "t4"}:
    print(f"FAIL cuda_resources_lf: {len(rows)} rows; unread: {bad[:3]}; missing: {missing[:4]}; schemes {sorted(schemes)}")
    sys.exit(1)
print(f"ok cuda_resources_lf ({len(rows)} kernels, {len(want)} pass x scheme x width names)")
EOF
$PY - <<'EOF' || status=1
import sys
sys.path.insert(0, "bench")
import cuda_resources as cr
def k(regs, smem, arch=90):
    return {"regs": regs, "smem": smem, "arch": arch}
cases = [
    # 128 registers: 4096 per warp, 16 warps, 4 blocks of 4 warps: 25%
    (k(128, 18948), 128, (16, 4, 0.25)),
    # 168 registers -> 5376 per warp (rounded to 256): 12 warps, 3 blocks; shared memory would allow 6
    (k(168, 33536), 128, (12, 3, 0.1875)),
    # 100 registers -> 3328 per warp (3200 rounded up to 256): 19 warps, 4 blocks (unrounded: 20, 5)
    (k(100, 10000), 128, (19, 4, 0.25)),
    # 40 registers (51 warps), 60 KiB of shared memory: (228 KiB) / (61 KiB) = 3 blocks of 8 warps
    (k(40, 60 * 1024), 256, (51, 3, 0.375)),
    # the same on sm_80 (164 KiB): 2 blocks
    (k(40, 60 * 1024, 80), 256, (51, 2, 0.25)),
]
bad = [(c, t, cr.occupancy(c, t), w) for c, t, w in cases if cr.occupancy(c, t) != w]
if bad:
    print(f"FAIL cuda_resources_occupancy: {bad}")
    sys.exit(1)
print(f"ok cuda_resources_occupancy ({len(cases)} cases)")
EOF
exit $status
