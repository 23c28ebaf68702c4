#!/bin/sh
# bench/gpu_check.sh: every check of the CUDA backend that needs a GPU, and the GPU benchmark, in one go.
#
#   sh bench/gpu_check.sh prepare     here, on the build machine (nvcc, MPI, HDF5; no GPU needed):
#       builds, then puts the GPU test and benchmark binaries, and the shared libraries they load that
#       a bare GPU machine may lack (libgomp), into build/device/ (build/ is ignored by git)
#   sh bench/gpu_check.sh run         there, on a machine with a GPU, from the repository root:
#       device tool: run(command="sh bench/gpu_check.sh run", carry=["build/device"], timeout_s=480)
#
# The GPU machine has CUDA, cuBLAS, NCCL and PyTorch but no MPI or HDF5 (/work/.library/device/), so
# nothing is built there: the binaries come from here. test_cuda_ops, test_nccl and bench_cuda need only
# libcublas, libstdc++, libgomp and libc (gcc links --as-needed; they call no MPI or HDF5); cotsnet
# and bench_halo need MPI's and HDF5's libraries too, which prepare copies into build/device/lib-cotsnet.
# run, in this order (each step's log goes to $OUT, or build/device/out without $OUT):
#   1. nvidia-smi: the card, its driver, its memory;
#   2. test_cuda_ops: every kernel against the CPU reference (tests/test_cuda_ops.c), fresh seed;
#   3. the same under compute-sanitizer: memcheck (out-of-bounds and misaligned accesses), racecheck
#      (shared-memory races), synccheck (barriers in divergent code), initcheck (reads of unwritten
#      device memory); each with a time limit, a time-out is reported as such, not as a pass;
#   4. test_nccl: NCCL loads, a one-rank all-reduce mean leaves its buffer unchanged;
#   4b. bench/train_cuda_check.sh: `cotsnet train` with backend = cuda against backend = cpu (losses and
#      the final checkpoint within 1e-5, a resume from a CPU checkpoint, the "no GPU" line); cotsnet
#      itself links MPI and HDF5, whose libraries prepare copies too (MPI is never started: one rank);
#   4c. bench_halo --backend cuda on one rank (grid 1x1): no message, the device-to-device self copy
#      of the halo plans (check, then time); links MPI like cotsnet (one rank, MPI never started);
#   5. bench/peers_cuda.py: PyTorch (unfold + bmm, FP32, TF32 off) on bench_cuda's shapes;
#   6. bench_cuda --peers: our kernels against the measured ceilings and PyTorch.
# Ends with a summary: one line per step, and exit status 1 when any step failed.
set -u
cd "$(dirname "$0")/.." || exit 1
DEV=build/device

prepare() {
    make -j2 || exit 1
    for b in build/tests/test_cuda_ops build/tests/test_nccl build/bench/bench_cuda build/bench/bench_halo bin/cotsnet; do
        [ -x "$b" ] || { echo "gpu_check: $b not built"; exit 1; }
    done
    nm build/libcotsnet.a 2>/dev/null | grep -q ' T lf_forward_cuda' ||
        { echo "gpu_check: built without the CUDA backend (no nvcc?): nothing to check on a GPU"; exit 1; }
    rm -rf "$DEV"
    mkdir -p "$DEV/bin" "$DEV/lib" "$DEV/lib-cotsnet"
    cp build/tests/test_cuda_ops build/tests/test_nccl build/bench/bench_cuda build/bench/bench_halo bin/cotsnet "$DEV/bin/"
    # libraries the GPU machine may lack: all but libc, libm, libstdc++, libgcc_s and CUDA's own; those
    # only cotsnet needs (MPI, HDF5 and theirs) apart, on the library path of the cotsnet step alone, so
    # that Debian's copies never shadow the GPU machine's own for its Python
    libs() { ldd "$@" | awk '/=> \//{print $3}' | sort -u |
        grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|libcublas|libcudart|libnccl|libcuda'; }
    libs "$DEV/bin/test_cuda_ops" "$DEV/bin/test_nccl" "$DEV/bin/bench_cuda" | while read -r lib; do cp -L "$lib" "$DEV/lib/"; done
    libs "$DEV/bin/cotsnet" "$DEV/bin/bench_halo" | while read -r lib; do
        [ -e "$DEV/lib/$(basename "$lib")" ] || cp -L "$lib" "$DEV/lib-cotsnet/"
    done
    echo "gpu_check: $(du -sh "$DEV" | cut -f1) in $DEV:"
    ls "$DEV/bin" "$DEV/lib" "$DEV/lib-cotsnet"
    echo "gpu_check: now, with the device tool: run(command=\"sh bench/gpu_check.sh run\", carry=[\"$DEV\"])"
}

run() {
    [ -x "$DEV/bin/test_cuda_ops" ] || { echo "gpu_check: $DEV/bin missing: run 'sh bench/gpu_check.sh prepare' where the project builds, and carry $DEV"; exit 1; }
    out=${OUT:-$DEV/out}
    mkdir -p "$out"
    # CUDA's libraries: the toolkit's, then wherever pip put cuBLAS and NCCL (as shared/device/setup.sh does)
    libs="$PWD/$DEV/lib"
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libs="$libs:$d"; done
    for so in libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
        if ! ldconfig -p 2>/dev/null | grep -q "$so"; then
            hit=$(find / -xdev -name "$so" -not -path '/proc/*' 2>/dev/null | head -1)
            [ -n "$hit" ] && libs="$libs:$(dirname "$hit")"
        fi
    done
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
    summary="$out/summary.txt"
    : >"$summary"
    step() { # name, limit in seconds, command...
        name=$1 limit=$2
        shift 2
        echo "== $name" | tee -a "$out/all.log"
        start=$(date +%s)
        timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1
        rc=$?
        secs=$(( $(date +%s) - start ))
        tail -n 60 "$out/$name.log" | tee -a "$out/all.log"
        fails=$(grep -c '^FAIL' "$out/$name.log") skips=$(grep -c '^skip' "$out/$name.log")
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="TIMEOUT after ${limit}s"
        elif [ "$rc" -ne 0 ] || [ "$fails" -gt 0 ]; then verdict="FAILED (exit $rc, $fails FAIL lines)"
        elif [ "$skips" -gt 0 ]; then verdict="SKIPPED $skips checks (no GPU?)"
        else verdict="ok"; fi
        printf '%-26s %-34s %5ss\n' "$name" "$verdict" "$secs" >>"$summary"
    }
    step nvidia-smi 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
    step test_cuda_ops 120 "$DEV/bin/test_cuda_ops"
    if command -v compute-sanitizer >/dev/null 2>&1; then
        for tool in memcheck racecheck synccheck initcheck; do
            step "sanitizer_$tool" 150 compute-sanitizer --tool "$tool" --error-exitcode 9 "$DEV/bin/test_cuda_ops"
        done
    else
        echo "compute-sanitizer: not found" >>"$summary"
    fi
    step test_nccl 60 "$DEV/bin/test_nccl"
    step train_cuda 240 env LD_LIBRARY_PATH="$PWD/$DEV/lib-cotsnet:$LD_LIBRARY_PATH" \
        sh bench/train_cuda_check.sh "$DEV/bin/cotsnet"
    step bench_halo_1x1 90 env LD_LIBRARY_PATH="$PWD/$DEV/lib-cotsnet:$LD_LIBRARY_PATH" \
        "$DEV/bin/bench_halo" --grid 1x1 --tile 64,256 --halo 1,8 --backend cuda --no-ceiling
    "$DEV/bin/bench_cuda" --shapes >"$out/shapes.txt"
    step peers_cuda 240 python3 bench/peers_cuda.py "$out/shapes.txt"
    grep -v '^#' "$out/peers_cuda.log" >"$out/peers.txt" 2>/dev/null
    step bench_cuda 180 "$DEV/bin/bench_cuda" --peers "$out/peers.txt"
    echo "== summary ($(date -u +%FT%TZ))"
    cat "$summary"
    ! grep -q 'FAILED\|TIMEOUT\|SKIPPED' "$summary"
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*) echo "usage: sh bench/gpu_check.sh prepare | run"; exit 2 ;;
esac
