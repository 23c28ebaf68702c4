#!/bin/sh
# t_cuda_train_emu.sh: training with run.backend = cuda equals training on the CPU, on a machine without
# a GPU. A `cotsnet` is built whose cuda/*.cu objects come from g++ and the CPU emulator of the CUDA
# runtime and cuBLAS (cuda/emu, as tests/t_cuda_emu.sh builds test_cuda_ops), with every C file
# compiled for a CUDA build (CN_HAVE_CUDA); it runs tests/jobs/dist.ini (two stages with LCN, tied and
# separate decoders, head, fine-tuning, evaluation, checkpoints) with backend = cuda and
# COTSNET_EMU_PROTECT=1: device memory is unreachable from host code outside the emulator's own
# calls (a direct host access crashes) and every cudaMemcpy's direction is checked. Compared with
# the real bin/cotsnet on the CPU backend:
#   cuda_train_1rank, cuda_train_1x2: every loss line (rica, head, finetune) and the eval accuracies,
#       and every dataset of the final checkpoint within 1e-5 relative (normwise), on 1 rank and on 2
#       ranks (grid 1x2: halos staged through pinned host memory and MPI);
#   cuda_train_1x2_nccl, cuda_train_2x1_nccl: the same with grid.halo = nccl on a 1x2 and a 2x1 grid
#       (each against the CPU on its grid): halo messages in device buffers, ncclSend / ncclRecv in a
#       group, NCCL being cuda/emu/nccl_emu.c (over MPI through host copies: the wiring, not NCCL);
#       a short send (the stand-in's size check) or an unpacked message fails them;
#   cuda_resume_replicas: 2 replicas of a 1x1 grid (replica gradients averaged through the host),
#       resuming from the one-rank CPU run's checkpoint at step 6 (loaded host -> device), against the
#       CPU backend doing the same: the remaining loss and eval lines and the final checkpoint (1e-5);
#   cuda_resume_replicas_nccl: the same with grid.allreduce = nccl, NCCL being cuda/emu/nccl_emu.c
#       (NCCL's calls done over MPI through host copies: it checks the wiring, not NCCL);
#   cuda_train_fused_1x2: optimizer.fused (momentum 0) on the 1x2 grid, the GPU's fused backward + SGD
#       kernels against the CPU's fused path (tests/t_fused.sh: that equals plain SGD), 1e-5;
#   cuda_train_average_R2: 2 replicas with grid.average_every = 3 (parameters averaged on the device
#       every 3 steps), against the CPU backend doing the same, 1e-5;
#   cuda_train_1x2_t32, cuda_train_1x2_t4, cuda_train_1x2_auto: the 1x2 run with COTSNET_CUDA_LF_TILES=t32,
#       =t4 and =auto (rank 0 times the three tile schemes per stage and pass, says its choices, every
#       rank runs them; the runs above use the default, t16),
#       1e-5; cuda_train_bad_tiles: t64 stops the run before its first step with one line;
#   cuda_auto_ckpt_records: the auto run's checkpoints record its choice (attribute lf_tiles);
#   cuda_auto_resume_recorded: a run resumed with auto from a checkpoint whose record was changed
#       prints, runs and records that record instead of timing again, and matches the CPU (1e-5);
#   cuda_tiles_differ: rank 0 in mode auto and rank 1 in t16 (an environment variable that did not reach
#       every rank) stop before the first step with one line, instead of running different kernels
#       with rank 0's broadcast of its choice left for a later collective to receive;
#   cuda_auto_same_shape: two stages of one shape (C, M, field, stride) share one record, so auto times
#       that shape once and the second stage says and records the first one's choice; resumed from a
#       record that gives them different schemes, the run says and records the scheme it runs (the
#       last stage's) for both;
#   cuda_eval_1x2: `cotsnet eval` of the GPU run's checkpoint on 2 ranks: the CPU's accuracy line;
#   cuda_no_gpu: without a device (COTSNET_EMU_NO_GPU=1), one "no GPU" error line, non-zero exit, no
#       step, no crash;
#   cuda_gpu_memory_too_small: a job that needs more than the GPU's free memory: one line, no step;
#   cuda_mpi_direct_refused, cuda_train_1x2_mpi_direct: grid.halo = mpi-direct refused with one line by
#       an MPI that says it is not CUDA-aware (this one); with COTSNET_MPI_CUDA_AWARE=1 and the
#       emulator's device memory open to MPI, the 1x2 run equals the CPU (1e-5);
#   cuda_bench_halo_mpi, cuda_bench_halo_nccl, cuda_bench_halo_mpi-direct: bench/bench_halo built the
#       same way, on 2 ranks (grid 1x2, halo 9 wider than the tile of 8) with --backend cuda, staged
#       through the host, over the stand-in NCCL, and from device buffers through MPI: the header names the path, every row's check column says ok (values
#       uploaded, exchanged on the device, downloaded and compared as on the host); without a device,
#       one error line and a non-zero exit (cuda_bench_halo_no_gpu).
# What this cannot show: anything about a real GPU (bench/gpu_check.sh runs the same comparison there,
# without MPI). The emulator runs work synchronously, so a missing stream synchronization before the
# host reads a pinned buffer would not show here.
set -u
CXX=${CXX:-g++}
CC=${CC:-gcc}
command -v "$CXX" >/dev/null 2>&1 || { echo "skip cuda_train_emu: no C++ compiler ($CXX)"; exit 0; }
. tests/dist_env.sh # BUILD BIN PY JOB MPIRUN tmp, one thread per rank
out="$BUILD/cuda_emu_train"
mkdir -p "$out" || exit 1

# the roofline (a GPU's ceilings) is left out; NCCL is cuda/emu/nccl_emu.c, loaded from $out/lib
cu=$(ls cuda/*.cu | grep -v -e cuda/roofline.cu | tr '\n' ' ')
c=$(ls src/*.c mpi/*.c io/*.c | tr '\n' ' ')
pkgs="ompi-c hdf5-openmpi inih sleef"
make -s -j2 -f - >"$out/build.log" 2>&1 <<MAKEFILE || { echo "FAIL cuda_train_emu_build: $(grep -m3 -i error "$out/build.log")"; exit 1; }
FLAGS := -g -Wall -Wextra -Wno-unknown-pragmas -fopenmp -Icuda/emu/include -I. -MMD -MP
CUO := \$(patsubst cuda/%.cu,$out/cu_%.o,$cu)
CO := \$(patsubst %.c,$out/%.o,$c)
LIBS := $(pkg-config --libs $pkgs) -lpng -lz -lm -lstdc++ -lpthread -ldl
all: $out/cotsnet $out/bench_halo $out/bench_cuda $out/lib/libnccl.so.2
$out/cotsnet: \$(CUO) \$(CO) $out/emu.o
	$CC -fopenmp -rdynamic -o \$@ \$^ \$(LIBS)
$out/bench_halo: $out/bench/bench_halo.o \$(CUO) \$(filter-out $out/src/main.o,\$(CO)) $out/emu.o
	$CC -fopenmp -rdynamic -o \$@ \$^ \$(LIBS)
$out/bench_cuda: $out/bench_cuda_emu.o \$(CUO) \$(filter-out $out/src/main.o,\$(CO)) $out/emu.o
	$CC -fopenmp -rdynamic -o \$@ \$^ \$(LIBS)
$out/bench_cuda_emu.o: bench/bench_cuda.c
	$CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O0 \$(FLAGS) $(pkg-config --cflags $pkgs) -DCN_HAVE_CUDA=1 -DCN_CUDA_EMU=1 -c \$< -o \$@
$out/lib/libnccl.so.2: cuda/emu/nccl_emu.c
	@mkdir -p $out/lib
	$CC -std=c11 -D_POSIX_C_SOURCE=200809L -g -Wall -Wextra -fPIC -shared -Icuda/emu/include $(pkg-config --cflags ompi-c) \$< -o \$@
$out/cu_%.o: cuda/%.cu
	$CXX -std=c++17 -O1 \$(FLAGS) -x c++ -c \$< -o \$@
$out/emu.o: cuda/emu/emu.cpp
	$CXX -std=c++17 -O1 \$(FLAGS) -c \$< -o \$@
$out/%.o: %.c
	@mkdir -p \$(dir \$@)
	$CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O0 \$(FLAGS) $(pkg-config --cflags $pkgs) -DCN_HAVE_CUDA=1 -c \$< -o \$@
-include \$(wildcard $out/*.d $out/*/*.d)
MAKEFILE
EMU="$out/cotsnet"
export COTSNET_EMU_PROTECT=1 LD_LIBRARY_PATH="$out/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# train DIR NP COLS BINARY [args]: one run of the job on a 1 x COLS grid
train() {
    d=$1 np=$2 cols=$3 bin=$4
    shift 4
    timeout 120 $MPIRUN -np "$np" "$bin" train $JOB --set run.out_dir="$d" --set grid.rows=1 --set grid.cols="$cols" \
        --set checkpoint.every=6 --set train.eval_batches=3 "$@" >"$d.log" 2>&1
}

. tests/cuda_train_lib.sh # cuda_compare NAME LINES CPU_DIR CUDA_DIR, cuda_eval_compare

train "$tmp/cpu1" 1 1 "$BIN" || echo "FAIL cuda_train_cpu_reference: $(tail -3 "$tmp/cpu1.log")"
train "$tmp/cpu2" 2 2 "$BIN" || echo "FAIL cuda_train_cpu_reference_1x2: $(tail -3 "$tmp/cpu2.log")"
if train "$tmp/gpu1" 1 1 "$EMU" --set run.backend=cuda; then cuda_compare cuda_train_1rank 6 "$tmp/cpu1" "$tmp/gpu1"
else echo "FAIL cuda_train_1rank: the run failed: $(tail -3 "$tmp/gpu1.log")"; fi
if train "$tmp/gpu2" 2 2 "$EMU" --set run.backend=cuda; then cuda_compare cuda_train_1x2 6 "$tmp/cpu2" "$tmp/gpu2"
else echo "FAIL cuda_train_1x2: the run failed: $(tail -3 "$tmp/gpu2.log")"; fi

# the local filter's other tile schemes (COTSNET_CUDA_LF_TILES=t32, t4: cuda/lf_tile.cuh) train the
# same; a scheme that does not exist stops the run before its first step with one line naming the variable
for t in t32 t4; do
    if COTSNET_CUDA_LF_TILES=$t train "$tmp/gpuT$t" 2 2 "$EMU" --set run.backend=cuda &&
        grep -q "local filter tiles $t)" "$tmp/gpuT$t.log"; then cuda_compare "cuda_train_1x2_$t" 6 "$tmp/cpu2" "$tmp/gpuT$t"
    else echo "FAIL cuda_train_1x2_$t: the run failed or did not say its tiles: $(tail -3 "$tmp/gpuT$t.log")"; fi
done
# mode auto: rank 0 times every scheme on each stage's shape before the first step and says its choice
# (one line per stage); every rank runs rank 0's choice, and the run trains the same
stages=$(grep -c '^\[stage' $JOB)
if COTSNET_CUDA_LF_TILES=auto train "$tmp/gpuAuto" 2 2 "$EMU" --set run.backend=cuda &&
    grep -q "local filter tiles auto)" "$tmp/gpuAuto.log" &&
    [ "$(grep -c '^local filter tiles auto: stage [0-9]* (.*forward t[0-9]* (t32 [0-9.]* ms, t16 [0-9.]* ms, t4 [0-9.]* ms), backward data t[0-9]* .*backward filter t[0-9]*' "$tmp/gpuAuto.log")" -eq "$stages" ]
then cuda_compare cuda_train_1x2_auto 6 "$tmp/cpu2" "$tmp/gpuAuto"
else echo "FAIL cuda_train_1x2_auto: the run failed or did not say its $stages stages' choices: $(grep -m3 'tiles\|error' "$tmp/gpuAuto.log")"; fi
# the choice is recorded in every checkpoint (attribute lf_tiles: what the lines said), and a run that
# resumes one runs what it records, without timing again: here a record planted in the step-6 checkpoint
# (each pass's scheme changed: t32 to t16, t16 to t4, t4 to t32), which the resumed run must print, use
# and record again
said=$(sed -n 's/^local filter tiles auto: stage [0-9]* (.*forward \(t[0-9]*\) .*backward data \(t[0-9]*\) .*backward filter \(t[0-9]*\) .*/\1,\2,\3/p' "$tmp/gpuAuto.log" | paste -sd';')
rec() { "$BIN" info "$1" | sed -n 's/^  lf tiles  *\([^ ]*\) .*/\1/p'; }
if [ -n "$said" ] && [ "$(rec "$tmp/gpuAuto/ckpt/ckpt-00000012.h5")" = "$said" ]; then echo "ok cuda_auto_ckpt_records ($said)"
else echo "FAIL cuda_auto_ckpt_records: the log said '$said', the checkpoint records '$(rec "$tmp/gpuAuto/ckpt/ckpt-00000012.h5")'"; fi
planted=$(echo "$said" | sed 's/t32/tX/g; s/t16/tY/g; s/t4/t32/g; s/tX/t16/g; s/tY/t4/g')
mkdir -p "$tmp/gpuAR/ckpt" && cp "$tmp/gpuAuto/ckpt/ckpt-00000006.h5" "$tmp/gpuAR/ckpt/"
$PY -c "import h5py,sys,numpy as np; h5py.File(sys.argv[1],'a').attrs['lf_tiles']=np.bytes_(sys.argv[2].encode())" \
    "$tmp/gpuAR/ckpt/ckpt-00000006.h5" "$planted"
if COTSNET_CUDA_LF_TILES=auto train "$tmp/gpuAR" 2 2 "$EMU" --set run.backend=cuda --resume auto &&
    grep -q "resuming from .*ckpt-00000006.h5 at step 6" "$tmp/gpuAR.log" && ! grep -q "locations timed" "$tmp/gpuAR.log" &&
    [ "$(sed -n 's/^local filter tiles auto: stage [0-9]*: forward \(t[0-9]*\), backward data \(t[0-9]*\), backward filter \(t[0-9]*\) (recorded in the checkpoint)$/\1,\2,\3/p' "$tmp/gpuAR.log" | paste -sd';')" = "$planted" ] &&
    [ "$(rec "$tmp/gpuAR/ckpt/ckpt-00000012.h5")" = "$planted" ]; then
    train "$tmp/cpuAR" 2 2 "$BIN" --resume "$tmp/gpuAuto/ckpt/ckpt-00000006.h5" || # the CPU from the same step
        echo "FAIL cuda_train_cpu_reference_auto_resume: $(tail -3 "$tmp/cpuAR.log")"
    cuda_compare cuda_auto_resume_recorded 4 "$tmp/cpuAR" "$tmp/gpuAR"
else echo "FAIL cuda_auto_resume_recorded: planted '$planted': $(grep -m4 'tiles\|error\|resuming' "$tmp/gpuAR.log")"; fi
# two stages of one shape share a record (per C, M, field, stride): timed once, the same choice said and
# recorded for both; a record that gives them different schemes runs the last one's for both, and says
# and records that
same="--set stage1.maps=2 --set stage2.maps=2 --set stage2.field=7 --set stage2.stride=1"
# shellcheck disable=SC2086
if COTSNET_CUDA_LF_TILES=auto train "$tmp/gpuS" 2 2 "$EMU" --set run.backend=cuda $same &&
    [ "$(grep -c 'locations timed' "$tmp/gpuS.log")" -eq 1 ]; then
    s1=$(sed -n 's/^local filter tiles auto: stage 1 (.*forward \(t[0-9]*\) .*backward data \(t[0-9]*\) .*backward filter \(t[0-9]*\) .*/\1,\2,\3/p' "$tmp/gpuS.log")
    s2=$(sed -n 's/^local filter tiles auto: stage 2: forward \(t[0-9]*\), backward data \(t[0-9]*\), backward filter \(t[0-9]*\) (the shape of stage 1)$/\1,\2,\3/p' "$tmp/gpuS.log")
    mkdir -p "$tmp/gpuSR/ckpt" && cp "$tmp/gpuS/ckpt/ckpt-00000006.h5" "$tmp/gpuSR/ckpt/"
    $PY -c "import h5py,sys,numpy as np; h5py.File(sys.argv[1],'a').attrs['lf_tiles']=np.bytes_(b't32,t32,t32;t16,t16,t16')" \
        "$tmp/gpuSR/ckpt/ckpt-00000006.h5"
    # shellcheck disable=SC2086
    COTSNET_CUDA_LF_TILES=auto train "$tmp/gpuSR" 2 2 "$EMU" --set run.backend=cuda $same --resume auto
    said=$(sed -n 's/^local filter tiles auto: stage [0-9]*: forward \(t[0-9]*\), backward data \(t[0-9]*\), backward filter \(t[0-9]*\) (recorded in the checkpoint)$/\1,\2,\3/p' "$tmp/gpuSR.log" | paste -sd';')
    if [ -n "$s1" ] && [ "$s2" = "$s1" ] && [ "$(rec "$tmp/gpuS/ckpt/ckpt-00000012.h5")" = "$s1;$s1" ] &&
        [ "$said" = "t16,t16,t16;t16,t16,t16" ] && [ "$(rec "$tmp/gpuSR/ckpt/ckpt-00000012.h5")" = "$said" ]; then
        echo "ok cuda_auto_same_shape ($s1 for both; a mixed record resumed as $said)"
    else echo "FAIL cuda_auto_same_shape: stage 1 '$s1', stage 2 '$s2', recorded '$(rec "$tmp/gpuS/ckpt/ckpt-00000012.h5")'; resumed said '$said', recorded '$(rec "$tmp/gpuSR/ckpt/ckpt-00000012.h5")'"; fi
else echo "FAIL cuda_auto_same_shape: the run failed or timed the shape more than once: $(grep -m3 'tiles\|error' "$tmp/gpuS.log")"; fi
COTSNET_CUDA_LF_TILES=t64 train "$tmp/gpuB" 2 2 "$EMU" --set run.backend=cuda
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$(grep -c 'cotsnet: error' "$tmp/gpuB.log")" -eq 1 ] &&
    grep -q "COTSNET_CUDA_LF_TILES=t64" "$tmp/gpuB.log" && ! grep -q "^ *step\|^step" "$tmp/gpuB.log"; then
    echo "ok cuda_train_bad_tiles"
else echo "FAIL cuda_train_bad_tiles: rc $rc: $(tail -3 "$tmp/gpuB.log")"; fi

# grid.halo = nccl: the same messages GPU to GPU through ncclSend / ncclRecv (cuda/emu/nccl_emu.c: over
# MPI), on the 1x2 grid and on a 2x1 grid (rows split: the other direction of halo)
if train "$tmp/gpuH" 2 2 "$EMU" --set run.backend=cuda --set grid.halo=nccl &&
    grep -q "halos over NCCL" "$tmp/gpuH.log"; then cuda_compare cuda_train_1x2_nccl 6 "$tmp/cpu2" "$tmp/gpuH"
else echo "FAIL cuda_train_1x2_nccl: the run failed: $(tail -3 "$tmp/gpuH.log")"; fi
train "$tmp/cpuV" 2 1 "$BIN" --set grid.rows=2 || echo "FAIL cuda_train_cpu_reference_2x1: $(tail -3 "$tmp/cpuV.log")"
if train "$tmp/gpuV" 2 1 "$EMU" --set grid.rows=2 --set run.backend=cuda --set grid.halo=nccl &&
    grep -q "halos over NCCL" "$tmp/gpuV.log"; then cuda_compare cuda_train_2x1_nccl 6 "$tmp/cpuV" "$tmp/gpuV"
else echo "FAIL cuda_train_2x1_nccl: the run failed: $(tail -3 "$tmp/gpuV.log")"; fi

# optimizer.fused (momentum 0): the GPU's fused backward + SGD kernels (a tied decoder's two terms in one
# update, a separate decoder, fine-tuning with dx from the old filters; no gradient buffer on the GPU)
# against the CPU backend's fused path (gradient summed first: tests/t_fused.sh holds it to plain SGD)
train "$tmp/cpuF" 2 2 "$BIN" --set optimizer.momentum=0 --set optimizer.fused=yes ||
    echo "FAIL cuda_train_cpu_reference_fused: $(tail -3 "$tmp/cpuF.log")"
if train "$tmp/gpuF" 2 2 "$EMU" --set run.backend=cuda --set optimizer.momentum=0 --set optimizer.fused=yes; then
    cuda_compare cuda_train_fused_1x2 6 "$tmp/cpuF" "$tmp/gpuF"
else
    echo "FAIL cuda_train_fused_1x2: the run failed: $(tail -3 "$tmp/gpuF.log")"
fi

# cotsnet eval of the GPU run's final checkpoint on 2 ranks, on both backends: the same accuracy
cuda_eval_compare cuda_eval_1x2 "$tmp/gpu1/ckpt/ckpt-00000012.h5" "$BIN" "$EMU"

# 2 replicas of a 1x1 grid (gradients averaged through the host), both backends resuming from the CPU's
# one-rank checkpoint at step 6 (loaded host -> device on the GPU): the rest of the run
ck="$tmp/cpu1/ckpt/ckpt-00000006.h5"
train "$tmp/cpuR" 2 1 "$BIN" --set grid.replicas=2 --resume "$ck" ||
    echo "FAIL cuda_train_cpu_reference_R2: $(tail -3 "$tmp/cpuR.log")"
if train "$tmp/gpuR" 2 1 "$EMU" --set grid.replicas=2 --set run.backend=cuda --resume "$ck" &&
    grep -q "resuming from .*ckpt-00000006.h5 at step 6" "$tmp/gpuR.log"; then
    cuda_compare cuda_resume_replicas 4 "$tmp/cpuR" "$tmp/gpuR"
else
    echo "FAIL cuda_resume_replicas: the run failed: $(tail -3 "$tmp/gpuR.log")"
fi

# the same with grid.allreduce = nccl: the replicas' mean by NCCL (cuda/emu/nccl_emu.c: over MPI)
if train "$tmp/gpuN" 2 1 "$EMU" --set grid.replicas=2 --set run.backend=cuda --set grid.allreduce=nccl \
    --resume "$ck"; then
    cuda_compare cuda_resume_replicas_nccl 4 "$tmp/cpuR" "$tmp/gpuN"
else
    echo "FAIL cuda_resume_replicas_nccl: the run failed: $(tail -3 "$tmp/gpuN.log")"
fi

# grid.average_every = 3: 2 replicas step on their own gradients and average the parameters (on the
# device, through the host and MPI) every 3 steps and before checkpoints and phase ends
train "$tmp/cpuA" 2 1 "$BIN" --set grid.replicas=2 --set grid.average_every=3 ||
    echo "FAIL cuda_train_cpu_reference_average: $(tail -3 "$tmp/cpuA.log")"
if train "$tmp/gpuA" 2 1 "$EMU" --set grid.replicas=2 --set grid.average_every=3 --set run.backend=cuda; then
    cuda_compare cuda_train_average_R2 6 "$tmp/cpuA" "$tmp/gpuA"
else
    echo "FAIL cuda_train_average_R2: the run failed: $(tail -3 "$tmp/gpuA.log")"
fi

# no_gpu NAME ERRORS WANT NOT PROGRAM ARGS...: PROGRAM on 2 ranks without a device (COTSNET_EMU_NO_GPU=1)
# exits non-zero (not by the time-out) with one stderr line matching ERRORS, a line matching WANT, and
# no output line matching NOT: one clear line, nothing done, no crash.
no_gpu() {
    name=$1 errs=$2 want=$3 not=$4
    shift 4
    COTSNET_EMU_NO_GPU=1 timeout 60 $MPIRUN -np 2 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    n=$(grep -c "$errs" "$tmp/$name.err")
    if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$n" -eq 1 ] && grep -q "$want" "$tmp/$name.err" &&
        ! grep -q "$not" "$tmp/$name.out"; then
        echo "ok $name"
    else
        echo "FAIL $name: rc $rc, $n error lines: $(head -c 600 "$tmp/$name.err")"
    fi
}
no_gpu cuda_no_gpu "cotsnet: error" "run.backend = cuda: no GPU on rank 0" "step" "$EMU" train $JOB \
    --set grid.rows=1 --set grid.cols=2 --set run.backend=cuda --set run.out_dir="$tmp/nogpu"

# COTSNET_CUDA_LF_TILES differs between ranks (auto on rank 0, unset = t16 on rank 1): one line, no step
no_gpu cuda_tiles_differ "cotsnet: error" "rank 0: local filter tiles auto here, t16 on another rank" "step" \
    env -u COTSNET_CUDA_LF_TILES COTSNET_EMU_NO_GPU=0 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then export COTSNET_CUDA_LF_TILES=auto; fi
exec "$0" "$@"' "$EMU" train $JOB --set grid.rows=1 --set grid.cols=2 --set run.backend=cuda --set run.out_dir="$tmp/differ"

# a job larger than the GPU's free memory (the emulator's 1 GiB; jobs/le2012.ini needs about 6 GiB a rank
# on 1x2): refused before anything is allocated (src/mem_fit.c), one line, no step
no_gpu cuda_gpu_memory_too_small "cotsnet: error" "rank 0 needs [0-9.]* GiB of GPU memory for this job on grid 1x2 .* its GPU has 1.0 GiB free of 1.0" "step" \
    env COTSNET_EMU_NO_GPU=0 "$EMU" train jobs/le2012.ini --set grid.rows=1 --set grid.cols=2 --set grid.replicas=1 \
    --set run.backend=cuda --set run.out_dir="$tmp/gpubig"

# grid.halo = mpi-direct: MPI is handed the device buffers themselves. Debian's Open MPI says it is not
# CUDA-aware, so the run is refused before its first step with one line; told otherwise
# (COTSNET_MPI_CUDA_AWARE=1, with a warning) and with the emulator's device memory open to host code
# (COTSNET_EMU_PROTECT=0: MPI reads and writes it as a CUDA-aware MPI reads GPU memory), it trains as
# the CPU does
no_gpu cuda_mpi_direct_refused "cotsnet: error" "grid.halo = mpi-direct: rank 0: this MPI cannot be shown to read GPU memory" \
    "step" env COTSNET_EMU_NO_GPU=0 "$EMU" train $JOB --set grid.rows=1 --set grid.cols=2 \
    --set run.backend=cuda --set grid.halo=mpi-direct --set run.out_dir="$tmp/direct_refused"
if COTSNET_EMU_PROTECT=0 COTSNET_MPI_CUDA_AWARE=1 train "$tmp/gpuD" 2 2 "$EMU" --set run.backend=cuda \
    --set grid.halo=mpi-direct && grep -q "halos from device memory through a CUDA-aware MPI" "$tmp/gpuD.log" &&
    [ "$(grep -c 'warning: grid.halo = mpi-direct: COTSNET_MPI_CUDA_AWARE=1 overrides' "$tmp/gpuD.log")" -eq 1 ]; then
    cuda_compare cuda_train_1x2_mpi_direct 6 "$tmp/cpu2" "$tmp/gpuD"
else echo "FAIL cuda_train_1x2_mpi_direct: $(grep -m3 'halos\|error\|warning' "$tmp/gpuD.log")"; fi

# bench_halo on the (emulated) GPU: the three halo paths checked and timed, grid 1x2, halos 2 and 9 (> tile);
# mpi-direct as in cuda_train_1x2_mpi_direct (device memory open to MPI, which is told it may use it)
for hp in mpi nccl mpi-direct; do
    want="mpi host-staged from GPU"; [ $hp = nccl ] && want="nccl device"
    [ $hp = mpi-direct ] && want="mpi direct from GPU (CUDA-aware MPI)"
    # shellcheck disable=SC2046
    env $([ $hp = mpi-direct ] && echo COTSNET_EMU_PROTECT=0 COTSNET_MPI_CUDA_AWARE=1) timeout 60 $MPIRUN -np 2 "$out/bench_halo" --grid 1x2 --tile 8 --halo 2,9 --channels 3 --batch 2 \
        --backend cuda --halo-path $hp --min-time 0.002 --warmup 1 --no-ceiling >"$tmp/bh_$hp.log" 2>&1
    rc=$?
    rows=$(grep -c "^ *1x2 " "$tmp/bh_$hp.log"); oks=$(grep -c "^ *1x2 .* ok$" "$tmp/bh_$hp.log")
    if [ $rc -eq 0 ] && [ "$rows" -eq 2 ] && [ "$oks" -eq 2 ] && grep -q "path: $want\$" "$tmp/bh_$hp.log"; then
        echo "ok cuda_bench_halo_$hp ($(grep -m1 "^ *1x2 " "$tmp/bh_$hp.log" | tr -s ' '))"
    else
        echo "FAIL cuda_bench_halo_$hp: rc $rc, $oks of $rows rows ok: $(tail -4 "$tmp/bh_$hp.log")"
    fi
done
no_gpu cuda_bench_halo_no_gpu "error" "no GPU on rank 0" "^ *1x2 " "$out/bench_halo" --grid 1x2 --tile 8 \
    --halo 2 --backend cuda

# bench_cuda --job on the (emulated) GPU: every pass of both stages of dist.ini on the slowest rank of
# a 2x2 grid checked against the reference (the GPU backend of bench/jobpass.h: uploads, the CUDA
# kernels, the residual's sums read back, the optimizer), and the same shapes as bench_ops --job
timeout 120 "$out/bench_cuda" --job $JOB --grid 2x2 --reps 1 >"$tmp/bj.log" 2>&1
rc=$?
"$BUILD/bench/bench_ops" --job $JOB --grid 2x2 --reps 1 >"$tmp/bj_cpu.log" 2>&1
rows=$(grep -c '^pass ' "$tmp/bj.log"); bad=$(grep '^pass ' "$tmp/bj.log" | awk '$16 ~ /!/ || $16 == "-"' | wc -l)
shapes_gpu=$(grep '^pass ' "$tmp/bj.log" | awk '{print $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15}')
shapes_cpu=$(grep '^pass ' "$tmp/bj_cpu.log" | awk '{print $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15}')
if [ $rc -eq 0 ] && [ "$rows" -eq 20 ] && [ "$bad" -eq 0 ] && [ "$shapes_gpu" = "$shapes_cpu" ]; then
    echo "ok cuda_bench_job ($rows passes checked; $(grep -m1 'lf_grad_dec' "$tmp/bj.log" | tr -s ' '))"
else
    echo "FAIL cuda_bench_job: rc $rc, $rows pass lines, $bad unchecked or failed, shapes equal to bench_ops: \
$([ "$shapes_gpu" = "$shapes_cpu" ] && echo yes || echo no): $(tail -4 "$tmp/bj.log")"
fi
