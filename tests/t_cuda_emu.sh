#!/bin/sh
# t_cuda_emu.sh: runs the CUDA backend's kernels on the CPU, through the emulator in cuda/emu, so that
# a machine without a GPU (CI) still executes every kernel of cuda/ against the CPU reference.
#
# cuda/*.cu are compiled by g++ as C++ against cuda/emu/include (a stand-in for the CUDA runtime and
# cuBLAS: the threads of a block are fibers switched at __syncthreads()), and linked with
# tests/test_cuda_ops.c and the reference; its checks print as "emu_cuda_<op>". What this proves: the
# kernels' indexing, tiling, region and border logic, barriers, the host launchers' checks and the
# cuBLAS argument layout. What it cannot: anything about the real GPU (timing, warps, memory model,
# launch limits of a real device, compiler differences): tests/test_cuda_ops on a GPU does that.
# COTSNET_EMU_TSAN=1 builds with ThreadSanitizer and runs each block's threads as real threads
# (COTSNET_EMU_THREADS=1): a missing barrier shows as a data race. Slow; not part of make test.
set -u
BUILD=${COTSNET_BUILD:-build}
out="$BUILD/cuda_emu"
CXX=${CXX:-g++}
CC=${CC:-gcc}
command -v "$CXX" >/dev/null 2>&1 || { echo "skip emu_cuda: no C++ compiler ($CXX)"; exit 0; }
mkdir -p "$out" || exit 1
flags="-O1 -g -fno-omit-frame-pointer"
[ "${COTSNET_EMU_TSAN:-0}" = 1 ] && flags="$flags -fsanitize=thread" && export COTSNET_EMU_THREADS=1
# the emulated kernels read out of bounds? AddressSanitizer says so (not with TSan).
[ "${COTSNET_EMU_TSAN:-0}" = 1 ] || flags="$flags -fsanitize=address,undefined -fno-sanitize-recover=undefined"
objs=""
for f in cuda/*.cu; do
    # NCCL and the roofline (CUDA events) have no emulator: compiled by nvcc only
    case "$f" in cuda/nccl_comm.cu | cuda/roofline.cu) continue ;; esac
    o="$out/$(basename "$f" .cu).o"
    $CXX -std=c++17 $flags -Wall -Wextra -Wno-unknown-pragmas -x c++ -Icuda/emu/include -I. -c "$f" -o "$o" ||
        { echo "FAIL emu_cuda_build: $f does not compile for the emulator"; exit 1; }
    objs="$objs $o"
done
$CXX -std=c++17 $flags -Wall -Wextra -Icuda/emu/include -c cuda/emu/emu.cpp -o "$out/emu.o" ||
    { echo "FAIL emu_cuda_build: cuda/emu/emu.cpp"; exit 1; }
for f in src/common.c src/lf_ref.c src/pool_ref.c src/lcn_ref.c src/head_ref.c src/optim_ref.c \
         src/tile.c tests/test_cuda_ops.c; do
    $CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $flags -Wall -Wextra -Wno-unknown-pragmas -DCN_HAVE_CUDA=1 \
        -DCN_CUDA_EMU=1 -Icuda/emu/include -I. -c "$f" -o "$out/$(basename "$f" .c).o" ||
        { echo "FAIL emu_cuda_build: $f"; exit 1; }
    objs="$objs $out/$(basename "$f" .c).o"
done
$CXX $flags -o "$out/test_cuda_ops" $objs "$out/emu.o" -lpthread -lm ||
    { echo "FAIL emu_cuda_build: link"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
# first as a machine without a driver (the skip path), then with the emulated GPU
COTSNET_EMU_NO_GPU=1 "$out/test_cuda_ops" | grep -E '^(FAIL|skip emu_cuda_lf_forward)' | sed 's/^skip emu_cuda_lf_forward: no GPU/ok emu_cuda_no_gpu_skips/'
"$out/test_cuda_ops"
