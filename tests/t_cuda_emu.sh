#!/bin/sh
# t_cuda_emu.sh: runs the CUDA backend's kernels on the CPU, through the emulator in cuda/emu, so that
# a machine without a GPU (CI) still executes every kernel of cuda/ against the CPU reference.
#
# cuda/*.cu are compiled by g++ as C++ against cuda/emu/include (a stand-in for the CUDA runtime and
# cuBLAS: the threads of a block are fibers switched at __syncthreads()), with AddressSanitizer and
# UBSan, and linked with tests/test_cuda_ops.c and the reference; its checks print as "emu_cuda_<op>".
# What this proves: the kernels' indexing, tiling, region and border logic, barriers, the host
# launchers' checks and the cuBLAS argument layout. What it cannot: anything about the real GPU
# (timing, warps, memory model, launch limits of a real device, nvcc's code): tests/test_cuda_ops on
# a GPU does that (bench/gpu_check.sh). The build is incremental (a generated makefile, -j2) under
# BUILD/cuda_emu. COTSNET_EMU_TSAN=1 builds with ThreadSanitizer instead and runs each block's
# threads as real threads (COTSNET_EMU_THREADS=1): a missing barrier shows as a data race. Slow; not
# part of make test.
set -u
BUILD=${COTSNET_BUILD:-build}
CXX=${CXX:-g++}
CC=${CC:-gcc}
command -v "$CXX" >/dev/null 2>&1 || { echo "skip emu_cuda: no C++ compiler ($CXX)"; exit 0; }
if [ "${COTSNET_EMU_TSAN:-0}" = 1 ]; then
    out="$BUILD/cuda_emu_tsan"
    san="-fsanitize=thread"
    export COTSNET_EMU_THREADS=1
else
    out="$BUILD/cuda_emu"
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
fi
mkdir -p "$out" || exit 1
# NCCL and the roofline (a GPU's ceilings: nothing to measure on the CPU) are left out: nvcc builds them only
cu=$(ls cuda/*.cu | grep -v -e cuda/nccl_comm.cu -e cuda/roofline.cu | tr '\n' ' ')
c="src/common.c src/cpus.c src/lf_ref.c src/pool_ref.c src/lcn_ref.c src/lcn_geom.c src/head_ref.c src/optim_ref.c src/tile.c tests/test_cuda_ops.c"
make -s -j2 -f - >"$out/build.log" 2>&1 <<MAKEFILE || { echo "FAIL emu_cuda_build: $(grep -m3 -i error "$out/build.log")"; exit 1; }
FLAGS := -O1 -g -fno-omit-frame-pointer $san -Wall -Wextra -Wno-unknown-pragmas -Icuda/emu/include -I. -MMD -MP
CUO := \$(patsubst cuda/%.cu,$out/cu_%.o,$cu)
CO := \$(patsubst %.c,$out/c_%.o,\$(notdir $c))
$out/test_cuda_ops: \$(CUO) \$(CO) $out/emu.o
	$CXX $san -o \$@ \$^ -lpthread -lm
$out/cu_%.o: cuda/%.cu
	$CXX -std=c++17 \$(FLAGS) -x c++ -c \$< -o \$@
$out/emu.o: cuda/emu/emu.cpp
	$CXX -std=c++17 \$(FLAGS) -c \$< -o \$@
$out/c_%.o: src/%.c
	$CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \$(FLAGS) -DCN_HAVE_CUDA=1 -DCN_CUDA_EMU=1 -c \$< -o \$@
$out/c_%.o: tests/%.c
	$CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \$(FLAGS) -DCN_HAVE_CUDA=1 -DCN_CUDA_EMU=1 -c \$< -o \$@
-include \$(wildcard $out/*.d)
MAKEFILE
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
# first as a machine without a driver (the skip path), then with the emulated GPU
if COTSNET_EMU_NO_GPU=1 "$out/test_cuda_ops" >"$out/nogpu.log" 2>&1 && ! grep -q '^FAIL' "$out/nogpu.log" &&
    [ "$(grep -c '^skip emu_cuda_.*: no GPU' "$out/nogpu.log")" -ge 16 ]; then
    echo "ok emu_cuda_no_gpu_skips"
else
    echo "FAIL emu_cuda_no_gpu_skips: without a device the test must print one skip per GPU check and pass:"
    tail -5 "$out/nogpu.log"
fi
# a bad tile scheme in the environment: the local filter refuses, naming the variable (lf_tiles_choice)
if COTSNET_EMU_NO_GPU=1 COTSNET_CUDA_LF_TILES=t64 "$out/test_cuda_ops" >"$out/badtiles.log" 2>&1 &&
    grep -q '^ok emu_cuda_lf_tiles_choice' "$out/badtiles.log"; then
    echo "ok emu_cuda_lf_tiles_env_refused"
else
    echo "FAIL emu_cuda_lf_tiles_env_refused: COTSNET_CUDA_LF_TILES=t64 must be refused with a line naming it:"
    grep -e lf_tiles "$out/badtiles.log" | tail -3
fi
"$out/test_cuda_ops" >"$out/run.log" 2>&1
rc=$?
grep -v "ASan doesn't fully support makecontext" "$out/run.log"
exit $rc
