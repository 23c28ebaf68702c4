#!/usr/bin/python3
"""bench/cuda_resources.py: what each CUDA kernel of cuda/ costs in registers, spills and shared memory,
per target architecture, and the occupancy that allows; no GPU needed (ptxas's own report).

    make cuda-resources                       every kernel of cuda/*.cu, for CUDA_ARCH (default 80 90)
    /usr/bin/python3 bench/cuda_resources.py --nvcc NVCC --flags "NVFLAGS" FILE.cu ..
    /usr/bin/python3 bench/cuda_resources.py --report PTXAS_LOG ..   (ptxas -v output already made)

Each kernel is compiled as the build does (the flags given) with `-Xptxas -v`. Per kernel and
architecture: registers per thread, spill stores / loads and stack (bytes per thread: local memory, in
L1 and L2, that the kernel did not ask for), static shared memory per block, and the warps per SM the
registers leave room for. The local-filter kernels (cuda/lf.cu) are named by tile scheme and block
width (t16 C8: scheme t16, the 8-column tile; cuda/lf_tile.cuh) and, their block size being known
from the tile, get their blocks per SM and occupancy: the smallest of what registers, shared memory,
threads and blocks allow. Other kernels' block sizes are set at launch, so only the register limit is
shown. The per-SM limits are those of the A100 (sm_80) and H100 (sm_90) (NVIDIA's CUDA C++
Programming Guide, "Compute capabilities"): 65536 registers, allocated per warp in units of 256; 64
warps; 32 blocks; 164 and 228 KiB of shared memory with 1 KiB reserved per block. Exit status 1 when a
compile fails or a kernel's report cannot be read.
"""
import os
import re
import subprocess
import sys
import tempfile

LIMITS = {  # per SM
    80: {"smem": 164 * 1024, "regs": 65536, "warps": 64, "blocks": 32},
    90: {"smem": 228 * 1024, "regs": 65536, "warps": 64, "blocks": 32},
}
CFG_DEFAULTS = [None, None, None, None, None, None, 0, 1]  # Cfg<TR, TC, RR, RC, TT, KS, MINB = 0, PAD = 1>


def schemes(path="cuda/lf_tile.cuh"):
    """{Cfg tuple: 'tNN CW'} from the Tiles structs of lf_tile.cuh (a width taken from another scheme
    keeps that scheme's name too)."""
    names, text = {}, open(path).read()
    for m in re.finditer(r"struct Tiles(T\d+)\s*\{(.*?)\};", text, re.S):
        scheme = m.group(1).lower()
        for u in re.finditer(r"using (C\d+) = (?:Cfg<([^>]*)>|Tiles(T\d+)::(C\d+));", m.group(2)):
            if u.group(2):
                cfg = cfg_tuple(u.group(2))
            else:
                cfg = next((k for k, v in names.items() if f"{u.group(3).lower()} {u.group(4)}" in v), None)
            if cfg:
                names.setdefault(cfg, []).append(f"{scheme} {u.group(1)}")
    return {k: "/".join(v) for k, v in names.items()}


def cfg_tuple(args):
    vals = [int(a) for a in args.replace(" ", "").split(",") if a]
    return tuple(vals + [d for d in CFG_DEFAULTS[len(vals):]])


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    got = out.stdout.splitlines() if out.returncode == 0 else []
    return dict(zip(names, got)) if len(got) == len(names) else {n: n for n in names}


def parse(text):
    """Kernels of a ptxas -v report: name, arch, registers, stack, spill stores and loads, smem."""
    kernels, cur = [], None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for 'sm_(\d+)'", line)
        if m:
            cur = {"name": m.group(1), "arch": int(m.group(2)), "stack": 0, "spill_st": 0, "spill_ld": 0,
                   "smem": 0, "regs": None}
            kernels.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["stack"], cur["spill_st"], cur["spill_ld"] = (int(g) for g in m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            cur["smem"] = int(s.group(1)) if s else 0
    return kernels


def occupancy(k, threads):
    """Warps per SM the registers allow; with a block size, blocks per SM and the occupancy too."""
    lim = LIMITS.get(k["arch"], LIMITS[90])
    per_warp = -(-k["regs"] * 32 // 256) * 256 if k["regs"] else 256
    warps_regs = min(lim["warps"], lim["regs"] // per_warp)
    if not threads:
        return warps_regs, None, None
    wpb = -(-threads // 32)
    blocks = min(warps_regs // wpb, lim["warps"] // wpb, lim["blocks"],
                 lim["smem"] // (k["smem"] + 1024) if k["smem"] else lim["blocks"])
    return warps_regs, blocks, blocks * wpb / lim["warps"]


T4_THREADS = 128  # threads per block of cuda/lf_t4.cu's and lf_t4_group*.cu's kernels (their NT)


def label(demangled, names):
    """('lf forward t16 C8', threads) for a local-filter kernel, else (short name, None)."""
    m = re.search(r"cnlf::lf_(fwd|bwf|bwd)_kernel<cnlf::Cfg<([^>]*)>(?:, (true|false))?\s*>", demangled)
    if m:
        cfg = cfg_tuple(m.group(2))
        TR, TC, RR, RC, _, KS = cfg[:6]
        pass_ = {"fwd": "forward", "bwf": "bwd filter", "bwd": "bwd data"}[m.group(1)]
        if m.group(3) == "true":
            pass_ += " sgd"
        return f"lf {pass_} {names.get(cfg, str(cfg))}", KS * (TR // RR) * (TC // RC)
    # scheme t4's own kernels (cuda/lf_t4.cu: forward and backward filter at 4 and 8 columns; x16 / w16:
    # 16-byte copies of x / w, x4 / w4 single floats) and its group kernels (cuda/lf_t4_group*.cu)
    m = re.search(r"cnlf::lf_(fwd|bwf)4_kernel<(\d+), (true|false), (true|false)>", demangled)
    if m:
        x = "x16" if m.group(3) == "true" else "x4"
        if m.group(1) == "fwd":
            return f"lf forward t4 C{m.group(2)} {x} {'w16' if m.group(4) == 'true' else 'w4'}", T4_THREADS
        return f"lf bwd filter{' sgd' if m.group(4) == 'true' else ''} t4 C{m.group(2)} {x}", T4_THREADS
    m = re.search(r"cnlf::lf_(fwd|bwd)4g(_sum)?_kernel", demangled)
    if m:
        pass_ = {"fwd": "forward", "bwd": "bwd data"}[m.group(1)]
        return f"lf {pass_} t4 group{' sum' if m.group(2) else ''}", 256 if m.group(2) else T4_THREADS
    short = demangled.replace("(anonymous namespace)::", "")
    return re.sub(r"\(.*$", "", short), None


def report(kernels, out=sys.stdout):
    names = schemes()
    dem = demangle(sorted({k["name"] for k in kernels}))
    rows = []
    for k in kernels:
        if k["regs"] is None:
            raise SystemExit(f"cuda_resources.py: no register count for {k['name']} (sm_{k['arch']})")
        name, threads = label(dem[k["name"]], names)
        warps, blocks, occ = occupancy(k, threads)
        rows.append((name, k, threads, warps, blocks, occ))
    rows.sort(key=lambda r: (r[0], r[1]["arch"]))
    fmt = "%-34s %5s %5s %7s %6s %6s %7s %7s %7s %6s %5s"
    print("#" + fmt % ("kernel", "arch", "regs", "spill", "spill", "stack", "smem", "threads", "warps/SM",
                       "blocks", "occ"), file=out)
    print("#" + fmt % ("", "", "", "st B", "ld B", "B", "B", "/block", "(regs)", "/SM", "%"), file=out)
    for name, k, threads, warps, blocks, occ in rows:
        print(" " + fmt % (name[:34], f"sm_{k['arch']}", k["regs"], k["spill_st"], k["spill_ld"], k["stack"],
                           k["smem"], threads or "-", warps, blocks if blocks is not None else "-",
                           f"{100 * occ:.1f}" if occ is not None else "-"), file=out)
    spills = [r for r in rows if r[1]["spill_st"] or r[1]["spill_ld"]]
    print(f"# {len(rows)} kernels x architectures; {len(spills)} spill"
          + (": " + ", ".join(sorted({f"{r[0]} (sm_{r[1]['arch']}, {r[1]['spill_st']}/{r[1]['spill_ld']} B)"
                                      for r in spills})) if spills else ""), file=out)
    return rows


def main(argv):
    nvcc, flags, files, logs = "nvcc", "", [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--nvcc", "--flags", "--report") and i + 1 < len(argv):
            if a == "--nvcc":
                nvcc = argv[i + 1]
            elif a == "--flags":
                flags = argv[i + 1]
            else:
                logs.append(argv[i + 1])
            i += 2
        elif a.endswith(".cu"):
            files.append(a)
            i += 1
        else:
            raise SystemExit(f"cuda_resources.py: unknown argument {a} (see the top of bench/cuda_resources.py)")
    text = "".join(open(p).read() for p in logs)
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            cmd = [nvcc] + flags.split() + ["-Xptxas", "-v", "-c", f, "-o", os.path.join(tmp, "k.o")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                raise SystemExit(f"cuda_resources.py: {f}: nvcc failed (status {r.returncode})")
            text += r.stderr
    kernels = parse(text)
    if not kernels:
        raise SystemExit("cuda_resources.py: no kernels in the ptxas report")
    report(kernels)


if __name__ == "__main__":
    main(sys.argv[1:])
