#!/bin/sh
# t_cuda_resources.sh: `make cuda-resources` (bench/cuda_resources.py: ptxas's registers, spills and
# shared memory per kernel, and the occupancy they allow) on the local filter's files (cuda/lf.cu,
# lf_t4.cu, lf_t4_group.cu, lf_t4_group_bwd.cu) for sm_90, as the build compiles them.
#   cuda_resources_lf: every local-filter kernel (each pass, scheme and block width that
#       cuda/lf_tile.cuh declares) appears once, named by its scheme, with registers and an occupancy;
#       scheme t4's forward and backward filter at 4 and 8 columns as cuda/lf_t4.cu's kernels (every
#       copy width) and never as lf.cu's tiles (not compiled for them); t4's group kernels and their
#       sums; nothing is left unnamed;
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
if ! make -s --no-print-directory cuda-resources CUDA_ARCH=90 \
    CU_SRC="cuda/lf.cu cuda/lf_t4.cu cuda/lf_t4_group.cu cuda/lf_t4_group_bwd.cu" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL cuda_resources_lf: make cuda-resources failed: $(tail -3 "$tmp/err" "$tmp/out")"
    exit 1
fi
$PY - "$tmp/out" <<'EOF' || status=1
import re, sys
sys.path.insert(0, "bench")
import cuda_resources as cr
rows = [l for l in open(sys.argv[1]) if not l.startswith("#")]
names = cr.schemes()
want, own = set(), set()
for cfg, name in names.items():
    for alias in name.split("/"):
        for p in ("forward", "bwd data", "bwd filter", "bwd filter sgd"):
            # t4's own widths: lf_t4.cu's kernels for these passes (cuda/lf.cu: t4_own)
            (own if alias in ("t4 C4", "t4 C8") and p != "bwd data" else want).add(f"lf {p} {alias}")
# lf_t4.cu's and the group files' kernels, by cuda_resources.label
t4 = {f"lf forward t4 C{w} {x} {v}" for w in (4, 8) for x in ("x16", "x4") for v in ("w16", "w4")}
t4 |= {f"lf bwd filter{s} t4 C{w} {x}" for s in ("", " sgd") for w in (4, 8) for x in ("x16", "x4")}
t4 |= {f"lf {p} t4 group{s}" for p in ("forward", "bwd data") for s in ("", " sum")}
t4_rows = [l for l in rows if re.match(r" lf .* t4 (C[48] x|group)", l)]
t4_got = {re.match(r" (lf .*?)\s+sm_90", l).group(1) for l in t4_rows if re.match(r" (lf .*?)\s+sm_90", l)}
rows = [l for l in rows if l not in t4_rows]
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
missing = sorted(want - got) + sorted(t4 - t4_got)
extra = sorted(got & own) + sorted(t4_got - t4)  # lf.cu's tiles where lf_t4.cu's run; unknown names
schemes = {a.split()[0] for n in names.values() for a in n.split("/")}
if bad or missing or extra or len(seen) != len(set(seen)) or len(t4_rows) != len(t4_got) or schemes != {"t32", "t16", "t4"}:
    print(f"FAIL cuda_resources_lf: {len(rows) + len(t4_rows)} rows; unread: {bad[:3]}; missing: {missing[:4]}; "
          f"not expected: {extra[:4]}; schemes {sorted(schemes)}")
    sys.exit(1)
print(f"ok cuda_resources_lf ({len(rows)} lf.cu kernels, {len(want)} pass x scheme x width names; "
      f"{len(t4_rows)} of lf_t4*.cu)")
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
