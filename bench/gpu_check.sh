#!/bin/sh
# bench/gpu_check.sh: every check of the CUDA backend that needs a GPU, the GPU benchmarks, and the
# CPU checks that want the GPU machine's host (its cores, its instruction set), in one go.
#
#   sh bench/gpu_check.sh prepare     here, on the build machine (nvcc, MPI, HDF5; no GPU needed):
#       builds, then puts the binaries into build/device/ (ignored by git) with the shared libraries
#       a bare GPU machine may lack; where .device/bundle.sh exists (the workplace's packer of Open MPI,
#       parallel HDF5 and every library the programs load), also build/device/bundle.tgz
#   sh bench/gpu_check.sh run         there, on a machine with a GPU, from the repository root:
#       device tool: run(command="sh bench/gpu_check.sh run", carry=["build/device"], timeout_s=...)
#
# The lent GPU machine has CUDA, cuBLAS, NCCL and PyTorch but no MPI or HDF5, so nothing is built
# there: the binaries come from here, the bundle (when prepared) is unpacked into / and gives mpirun.
# GPU_CHECK_STEPS="name ..." runs only the steps named (as in the summary), e.g. "test_cuda_ops train_cuda".
# GPU_CHECK_BUDGET (seconds, default 480) bounds the whole run: each step's time limit is cut to what
# is left, a step with under 10 s left is reported as not run, so the results always come back.
# Steps (each step's log in the results; the summary says ok / FAILED / TIMEOUT / SKIPPED per step):
#   nvidia-smi            the card, driver, memory, clocks;
#   test_cuda_ops         every kernel against the CPU reference, and the batched-GEMM route;
#   sanitizer_*           the same under compute-sanitizer memcheck, racecheck, synccheck and initcheck,
#                         the four at once in the background while the steps below that need no quiet
#                         GPU run (each with a time limit; a time-out is reported, never a pass; the
#                         CPU steps share the host's cores with them);
#   test_nccl             NCCL loads; a one-rank all-reduce mean leaves its buffer unchanged;
#   train_cuda            bench/train_cuda_check.sh: `cotsnet train` on the GPU against the CPU
#                         (1 rank; 2 and 4 ranks on the one GPU and replicas where mpirun is found);
#   cpu_isa               tests/test_lf_cpu and test_pool_lcn_cpu on this host's CPU (AVX-512 where it
#                         has it: the run-time choice of instruction set);
#   cpu_ops_avx2, cpu_ops_avx512  bench_ops (the CPU kernels' table, no peers) on one core of this host
#                         with each instruction set it has;
#   bench_synth           the synthetic-image generator on one core of this host, and its log, cos and
#                         sin at each vector width against glibc's (what feeds le2012_1gpu);
#   bench_halo_1x2_cpu    bench_halo over MPI from host memory (the baseline of the GPU's MPI path);
#   bench_halo_1x1_nccl, bench_halo_1x2_mpi  (after the sanitizers end: a quiet GPU) bench_halo --backend
#                         cuda: 1x1 (the device-to-device self copy) over NCCL, and 1x2 on 2 ranks staged
#                         through host memory and MPI (with mpirun);
#   bench_cuda_t4one      (after bench_cuda) bench_cuda --t4-group 0: t4 without its group kernels (one
#                         location or input position per block), against bench_cuda's t4 rows;
#   bench_cuda_fill       bench_cuda --t4-group-fill 2, 8 and 16: t4's group kernels split for that many
#                         blocks per SM instead of 4 (fewer or more, shorter ranges), their t4 rows;
#   peers_cuda, bench_cuda  PyTorch on bench_cuda's shapes, then
#                         bench_cuda: our kernels against the measured ceilings, PyTorch and the
#                         cuBLAS batched-GEMM route (cuda/lf_gemm.cu);
#   ncu_*                 Nsight Compute's sections on one full-size launch of each local-filter kernel
#                         (ncu_fwd_t4: the forward in tile scheme t4; ...);
#   bench_cuda_job        bench_cuda --job for jobs/le2012.ini and the Coates share below (1x1 grid,
#                         batch 32): every stage's passes on the jobs' own shapes, for perfmodel.py
#                         gpu --rates logs/bench_cuda_job.log (bench/PERFMODEL.md);
#   le2012_1gpu, coates_share_1gpu  `cotsnet train` of jobs/le2012.ini (the whole network) and of one
#                         GPU's share of jobs/coates2013.ini (117x117 input) on the GPU: 30 RICA steps
#                         per stage, metrics.jsonl for bench/perfmodel.py's GPU validation;
#   le2012_shards_data, le2012_shards_1gpu  jobs/le2012.ini again, fed from 320 synthetic images in a
#                         shard made there (`cotsnet data synthetic`) instead of images generated per step;
#   le2012_auto           jobs/le2012.ini again with COTSNET_CUDA_LF_TILES=auto (10 steps per stage): the
#                         tile schemes timed on each stage's shape, and the run's choice;
#   weak_cpu              bench/weak_scaling.sh on this host's cores, 1 to 16 ranks (CPU backend),
#                         runs only: the table is made afterwards with bench/weak_scaling.py.
# Results: $OUT/results.tgz (every log, the weak-scaling runs; rewritten after each step),
# $OUT/summary.txt and $OUT/figures.txt (bench_cuda's table, each training run's last line per stage
# and mode auto's timings: small enough to come back when results.tgz is over the device tool's
# limit); without $OUT, build/device/out.
set -u
cd "$(dirname "$0")/.." || exit 1
DEV=build/device

prepare() {
    # A build of its own for the lent GPU's architecture alone (H100 and H200: sm_90; GPU_CHECK_ARCH for
    # another): the default build's sm_80 + sm_90 device code, linked into each of the five CUDA programs,
    # would not fit the device tool's 64 MiB carry.
    arch=${GPU_CHECK_ARCH:-90}
    b="build/gpu_sm$arch"
    make -j2 BUILD="$b" BIN="$b/bin" CUDA_ARCH="$arch" || exit 1
    bins="$b/tests/test_cuda_ops $b/tests/test_nccl $b/tests/test_lf_cpu $b/tests/test_pool_lcn_cpu
          $b/bench/bench_ops $b/bench/bench_cuda $b/bench/bench_halo $b/bench/bench_synth $b/bin/cotsnet"
    for x in $bins; do
        [ -x "$x" ] || { echo "gpu_check: $x not built"; exit 1; }
    done
    nm "$b/libcotsnet.a" 2>/dev/null | grep -q ' T lf_forward_cuda' ||
        { echo "gpu_check: built without the CUDA backend (no nvcc?): nothing to check on a GPU"; exit 1; }
    rm -rf "$DEV"
    mkdir -p "$DEV/bin" "$DEV/lib" "$DEV/lib-cotsnet"
    # shellcheck disable=SC2086
    cp $bins "$DEV/bin/"
    # host debug info off (the carry is at most 64 MiB); the device code keeps its -lineinfo for ncu
    strip --strip-debug "$DEV"/bin/* || exit 1
    # libraries the GPU machine may lack: all but libc, libm, libstdc++, libgcc_s and CUDA's own; those
    # only cotsnet needs (MPI, HDF5 and theirs) apart, on the library path of its steps alone, so that
    # Debian's copies never shadow the GPU machine's own for its Python
    libs() { ldd "$@" | awk '/=> \//{print $3}' | sort -u |
        grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|libcublas|libcudart|libnccl|libcuda'; }
    libs "$DEV/bin/test_cuda_ops" "$DEV/bin/test_nccl" "$DEV/bin/bench_cuda" "$DEV/bin/bench_synth" |
        while read -r lib; do cp -L "$lib" "$DEV/lib/"; done
    libs "$DEV/bin/cotsnet" "$DEV/bin/bench_halo" | while read -r lib; do
        [ -e "$DEV/lib/$(basename "$lib")" ] || cp -L "$lib" "$DEV/lib-cotsnet/"
    done
    if [ -x .device/bundle.sh ] || [ -f .device/bundle.sh ]; then
        bash .device/bundle.sh "$DEV/bundle.tgz" "$DEV/bin/cotsnet" "$DEV/bin/bench_halo" || exit 1
        rm -f "$DEV"/lib-cotsnet/* # the bundle holds them (the device tool carries at most 64 MiB)
    else
        echo "gpu_check: no .device/bundle.sh: no Open MPI for the GPU machine (its multi-rank steps will skip)"
    fi
    echo "gpu_check: $(du -sh "$DEV" | cut -f1) in $DEV"
    echo "gpu_check: now, with the device tool: run(command=\"sh bench/gpu_check.sh run\", carry=[\"$DEV\"])"
}

run() {
    [ -x "$DEV/bin/test_cuda_ops" ] || { echo "gpu_check: $DEV/bin missing: run 'sh bench/gpu_check.sh prepare' where the project builds, and carry $DEV"; exit 1; }
    t_start=$(date +%s)
    budget=${GPU_CHECK_BUDGET:-480}
    out=${OUT:-$DEV/out}
    work=$(mktemp -d)
    mkdir -p "$out" "$work/logs"
    if [ -f "$DEV/bundle.tgz" ] && [ "$(id -u)" = 0 ]; then # files already there are kept
        tar -xzf "$DEV/bundle.tgz" -C / --skip-old-files && ldconfig && echo "gpu_check: Open MPI and HDF5 unpacked"
    fi
    export OMPI_MCA_plm_rsh_agent=false OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # CUDA's libraries: the toolkit's, then wherever pip put cuBLAS and NCCL
    libs="$PWD/$DEV/lib"
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libs="$libs:$d"; done
    for so in libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
        if ! ldconfig -p 2>/dev/null | grep -q "$so"; then
            hit=$(find / -xdev -name "$so" -not -path '/proc/*' 2>/dev/null | head -1)
            [ -n "$hit" ] && libs="$libs:$(dirname "$hit")"
        fi
    done
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    LIBC="$PWD/$DEV/lib-cotsnet:$LD_LIBRARY_PATH" # for cotsnet and bench_halo
    ncores=$(getconf _NPROCESSORS_ONLN)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$ncores}
    summary="$work/summary.txt"
    : >"$summary"
    figures="$work/figures.txt" # the lines worth keeping from each step, small enough to come back always
    : >"$figures"
    # the shards made for le2012_shards_1gpu (about 150 MB) stay out of the results
    pack() { cp "$summary" "$out/summary.txt"; cp "$figures" "$out/figures.txt"
             tar -czf "$out/results.tgz" -C "$work" --exclude=./le_shards . 2>/dev/null; }
    left() { echo $((budget - ($(date +%s) - t_start))); }
    verdict() { # name rc limit secs
        f="$work/logs/$1.log"
        fails=$(grep -c '^FAIL\|No kernels were profiled' "$f") skips=$(grep -c '^skip' "$f")
        if [ "$2" -eq 124 ] || [ "$2" -eq 137 ]; then v="TIMEOUT after ${3}s"
        elif [ "$2" -ne 0 ] || [ "$fails" -gt 0 ]; then v="FAILED (exit $2, $fails FAIL lines)"
        elif [ "$skips" -gt 0 ]; then v="SKIPPED $skips checks"
        else v="ok"; fi
        printf '%-24s %-34s %5ss\n' "$1" "$v" "$4" >>"$summary"
    }
    wanted() { [ -z "${GPU_CHECK_STEPS:-}" ] || case " $GPU_CHECK_STEPS " in *" $1 "*) true ;; *) false ;; esac; }
    step() { # name limit command...: in the foreground, its limit cut to the time left
        name=$1 limit=$2
        shift 2
        wanted "$name" || return 0
        l=$(($(left) - 10))
        [ "$l" -lt "$limit" ] && limit=$l
        if [ "$limit" -lt 10 ]; then printf '%-24s %-34s\n' "$name" "NOT RUN (budget spent)" >>"$summary"; return; fi
        echo "== $name (limit ${limit}s)"
        s0=$(date +%s)
        timeout -k 5 "$limit" "$@" >"$work/logs/$name.log" 2>&1
        rc=$?
        tail -n 40 "$work/logs/$name.log"
        verdict "$name" "$rc" "$limit" $(($(date +%s) - s0))
        pack
    }
    step nvidia-smi 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,clocks.sm,power.limit --format=csv
    grep -m1 'model name' /proc/cpuinfo >>"$work/logs/nvidia-smi.log"
    grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^avx' | tr '\n' ' ' >>"$work/logs/nvidia-smi.log"
    step test_cuda_ops 90 "$DEV/bin/test_cuda_ops"
    # the sanitizers in the background, each with its own limit, while the CPU-side steps run
    san_pids=""
    if command -v compute-sanitizer >/dev/null 2>&1; then
        for tool in memcheck racecheck synccheck initcheck; do
            wanted "sanitizer_$tool" || continue
            (s0=$(date +%s); timeout -k 5 180 compute-sanitizer --tool "$tool" --error-exitcode 9 \
                "$DEV/bin/test_cuda_ops" >"$work/logs/sanitizer_$tool.log" 2>&1
             rc=$?; verdict "sanitizer_$tool" "$rc" 180 $(($(date +%s) - s0))) &
            san_pids="$san_pids $!"
        done
    else
        echo "compute-sanitizer: not found" >>"$summary"
    fi
    step test_nccl 40 "$DEV/bin/test_nccl"
    step train_cuda 200 env LD_LIBRARY_PATH="$LIBC" OMP_NUM_THREADS=2 sh bench/train_cuda_check.sh "$DEV/bin/cotsnet"
    isa=generic
    grep -q avx2 /proc/cpuinfo && isa=avx2
    grep -q avx512f /proc/cpuinfo && isa=avx512
    step cpu_isa 60 sh -c "echo 'host CPU: $isa'; OMP_NUM_THREADS=4 $DEV/bin/test_lf_cpu && OMP_NUM_THREADS=4 $DEV/bin/test_pool_lcn_cpu"
    # the CPU local filter's instruction sets on this host, one thread each (AVX-512 where it has it)
    for set in avx2 avx512; do
        [ "$set" = avx512 ] && [ "$isa" != avx512 ] && continue
        step "cpu_ops_$set" 60 env OMP_NUM_THREADS=1 COTSNET_CPU_ISA=$set "$DEV/bin/bench_ops" --no-ref
    done
    # the synthetic-image generator on one core of this host (what feeds le2012_1gpu: docs/DATA.md)
    step bench_synth 40 env OMP_NUM_THREADS=1 "$DEV/bin/bench_synth"
    if command -v mpirun >/dev/null 2>&1; then # MPI alone (host memory): the baseline of the GPU paths
        step bench_halo_1x2_cpu 60 env LD_LIBRARY_PATH="$LIBC" OMP_NUM_THREADS=1 \
            mpirun --oversubscribe --bind-to none -np 2 \
            "$DEV/bin/bench_halo" --grid 1x2 --tile 16,64,256 --halo 1,8 --backend cpu --no-ceiling
    fi
    if [ -n "$san_pids" ]; then
        echo "== waiting for the sanitizers"
        # shellcheck disable=SC2086
        wait $san_pids
        pack
    fi
    # the GPU's halo paths once the sanitizers have left the GPU (2026-11-27: run beside them, the 1x1
    # device copy of a 256-pixel tile took 2.5 ms instead of 0.09)
    step bench_halo_1x1_nccl 40 env LD_LIBRARY_PATH="$LIBC" \
        "$DEV/bin/bench_halo" --grid 1x1 --tile 64,256 --halo 1,8 --backend cuda --halo-path nccl --no-ceiling
    if command -v mpirun >/dev/null 2>&1; then
        step bench_halo_1x2_mpi 60 env LD_LIBRARY_PATH="$LIBC" OMP_NUM_THREADS=1 \
            mpirun --oversubscribe --bind-to none -np 2 \
            "$DEV/bin/bench_halo" --grid 1x2 --tile 16,64,256 --halo 1,8 --backend cuda --halo-path mpi --no-ceiling
    fi
    "$DEV/bin/bench_cuda" --shapes >"$work/shapes.txt"
    step peers_cuda 150 python3 bench/peers_cuda.py "$work/shapes.txt"
    grep -v '^#' "$work/logs/peers_cuda.log" >"$work/peers.txt" 2>/dev/null
    step bench_cuda 180 "$DEV/bin/bench_cuda" --peers "$work/peers.txt" --reps 30
    [ -f "$work/logs/bench_cuda.log" ] && sed 's/^/bench_cuda: /' "$work/logs/bench_cuda.log" >>"$figures" && pack
    # t4 without its group kernels (lf_cuda_set_t4_group(0)): its t4 rows against the above
    step bench_cuda_t4one 120 "$DEV/bin/bench_cuda" --peers "$work/peers.txt" --reps 30 --t4-group 0
    [ -f "$work/logs/bench_cuda_t4one.log" ] && grep -E '^ +t4_|tile scheme t4' "$work/logs/bench_cuda_t4one.log" |
        sed 's/^/bench_cuda_t4one: /' >>"$figures" && pack
    # the group kernels' split for other numbers of blocks per SM (lf_cuda_set_t4_group_fill)
    step bench_cuda_fill 120 sh -c "for f in 2 8 16; do echo \"# fill \$f\"; $DEV/bin/bench_cuda --reps 30 --t4-group-fill \$f || exit 1; done"
    [ -f "$work/logs/bench_cuda_fill.log" ] && grep -E '^# fill|^ +t4_' "$work/logs/bench_cuda_fill.log" |
        sed 's/^/bench_cuda_fill: /' >>"$figures" && pack
    # whole-network training on the one GPU, for the performance model (bench/PERFMODEL.md): the Le et al.
    # 2012 job itself (942 M parameters, 12 GB) and one GPU's share of the Coates et al. 2013 job (its
    # share on 2x2: 117x117 input, 36 maps, 29 GB); a few RICA steps of each stage, no checkpoint
    big_env="" # one more VAR=value for the next big run (unquoted: nothing when empty)
    big() { # name job limit [--set ...]
        n=$1 j=$2 l=$3; shift 3
        # shellcheck disable=SC2086
        step "$n" "$l" env LD_LIBRARY_PATH="$LIBC" $big_env "$DEV/bin/cotsnet" train "$j" --set run.out_dir="$work/$n" \
            --set grid.rows=1 --set grid.cols=1 --set grid.replicas=1 --set grid.halo=mpi --set grid.allreduce=mpi \
            --set checkpoint.every=-1 --set run.log_every=10 "$@"
        # each stage's last progress line, and mode auto's timings
        [ -f "$work/logs/$n.log" ] && grep -E 'local filter tiles auto|step +([0-9]+)/\1 ' "$work/logs/$n.log" |
            sed "s/^/$n: /" >>"$figures"
        pack
    }
    # Nsight Compute on the three local-filter kernels in each tile scheme (one full-size launch each, the
    # first shape, le2012_s1), told apart by the tile configuration in their names (cuda/lf_tile.cuh)
    if command -v ncu >/dev/null 2>&1; then
        i='(\(int\))?' # ncu writes Cfg<(int)64, (int)8, ...>
        for k in fwd bwd bwf; do
            for t in t32 t16 t4; do
                case $t in # Cfg<TR, TC, RR, RC, TT, ...> at 4 or 8 columns
                t32) cfg="${i}64, ${i}[48], ${i}[24], ${i}4, ${i}32," ;;
                t16) cfg="${i}64, ${i}[48], ${i}[24], ${i}4, ${i}16," ;;
                t4) cfg="${i}64, ${i}[48], ${i}8, ${i}[48], ${i}4," ;;
                esac
                kname="lf_${k}_kernel<cnlf::Cfg<$cfg"
                # t4's forward and backward filter at 8 maps are cuda/lf_t4.cu's own kernels (their
                # 16-byte copies: le2012_s2, the first shape with C % 4 == 0)
                [ "$t" = t4 ] && [ "$k" != bwd ] && kname="lf_${k}4_kernel<${i}8, (\(bool\))?1,"
                # (t4's group kernels, on by default, take the forward and backward data at le2012_s2/s3:
                # off for these, measured on their own below)
                step "ncu_${k}_$t" 60 ncu --clock-control none --section SpeedOfLight --section Occupancy \
                    --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
                    --section ComputeWorkloadAnalysis --kernel-name-base demangled \
                    -k "regex:$kname" --launch-skip 2 --launch-count 1 \
                    "$DEV/bin/bench_cuda" --reps 3 --t4-group 0
            done
        done
        # t4's forward and backward data over groups (cuda/lf_t4_group.cu, lf_t4_group_bwd.cu)
        for k in fwd bwd; do
            step "ncu_${k}_t4g" 60 ncu --clock-control none --section SpeedOfLight --section Occupancy \
                --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
                --section ComputeWorkloadAnalysis --kernel-name-base demangled \
                -k "regex:lf_${k}4g_kernel" --launch-skip 2 --launch-count 1 "$DEV/bin/bench_cuda" --reps 3
        done
    fi
    # the passes of every stage's training step on the two jobs' own shapes (1x1 grid, their training
    # batch), for the per-shape-rate validation: perfmodel.py gpu --rates logs/bench_cuda_job.log (PERFMODEL.md)
    step bench_cuda_job 120 sh -c "$DEV/bin/bench_cuda --job jobs/le2012.ini --grid 1x1 &&
        $DEV/bin/bench_cuda --job jobs/coates2013.ini --grid 1x1 --set data.height=117 --set data.width=117"
    big le2012_1gpu jobs/le2012.ini 100 --set stage1.steps=30 --set stage2.steps=30 --set stage3.steps=30
    # the same job fed from shards (320 images made here in about a second, read ahead by the reader
    # thread) instead of synthetic images generated per step, which bound le2012's steps on an H100's host
    # (docs/CUDA.md): its steps are the GPU's, for perfmodel.py gpu (bench/PERFMODEL.md)
    get() { env LD_LIBRARY_PATH="$LIBC" "$DEV/bin/cotsnet" check jobs/le2012.ini --get "$1"; } # the job's own
    size="$(get data.height)x$(get data.width)x$(get data.channels)"
    step le2012_shards_data 60 env LD_LIBRARY_PATH="$LIBC" "$DEV/bin/cotsnet" data synthetic \
        --out "$work/le_shards" --n 320 --test-n 0 --size "$size" --classes "$(get data.classes)" --quiet --force
    big le2012_shards_1gpu jobs/le2012.ini 100 --set data.train="$work/le_shards/train-*.h5" \
        --set stage1.steps=30 --set stage2.steps=30 --set stage3.steps=30
    # the same job with COTSNET_CUDA_LF_TILES=auto: its lines "local filter tiles auto: stage k" give every
    # scheme's time per pass on each stage's own shape, and which one the run took (docs/CUDA.md)
    big_env=COTSNET_CUDA_LF_TILES=auto
    big le2012_auto jobs/le2012.ini 60 --set stage1.steps=10 --set stage2.steps=10 --set stage3.steps=10
    big_env=""
    big coates_share_1gpu jobs/coates2013.ini 100 --set data.height=117 --set data.width=117 \
        --set stage1.steps=30 --set stage2.steps=30 --set stage3.steps=30
    if command -v mpirun >/dev/null 2>&1; then
        step weak_cpu 150 env LD_LIBRARY_PATH="$LIBC" COTSNET_BIN="$DEV/bin/cotsnet" \
            sh bench/weak_scaling.sh --ranks "1 2 4 8 16" --replicas "1 2 4 8 16" --repeat 2 \
            --out "$work/weak" --no-report
    fi
    echo "== summary ($(date -u +%FT%TZ), $(( $(date +%s) - t_start ))s of a ${budget}s budget)"
    cat "$summary"
    grep -h -E '^(ok|FAIL)' "$work"/logs/*.log | cut -c1-150 | sort | uniq -c | sort -rn | head -60 >"$work/checks.txt"
    pack
    ! grep -q 'FAILED\|TIMEOUT\|NOT RUN' "$summary"
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*) echo "usage: sh bench/gpu_check.sh prepare | run"; exit 2 ;;
esac
