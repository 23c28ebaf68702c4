# tests/cuda_train_lib.sh: the comparisons that tests/t_cuda_train_emu.sh (the GPU emulated on the CPU)
# and bench/train_cuda_check.sh (a real GPU) share. Sourced from the repository root; the caller sets
# PY (a python3 with numpy and h5py), JOB (the job file), MPIRUN and tmp (a scratch directory).

# cuda_compare NAME LINES CPU_DIR CUDA_DIR: the CUDA run (log CUDA_DIR.log) started on the GPU, and its
# loss and eval lines and final checkpoint equal the CPU run's within 1e-5 (tests/oracle/train_compare.py).
cuda_compare() {
    if ! grep -q "^backend cuda" "$4.log"; then
        echo "FAIL $1: the run did not start on the GPU (or the emulator): $(tail -3 "$4.log")"; return
    fi
    fa=$(ls "$3"/ckpt/ckpt-*.h5 2>/dev/null | tail -1)
    $PY tests/oracle/train_compare.py "$1" "$2" "$3.log" "$4.log" "$fa" "$4/ckpt/$(basename "$fa")"
}

# cuda_eval_compare NAME CKPT CPU_BIN CUDA_BIN: `cotsnet eval` of CKPT on 2 ranks (grid 1x2) with
# backend = cpu and with backend = cuda prints the same accuracy line.
cuda_eval_compare() {
    for b in cpu cuda; do
        bin=$3; [ $b = cuda ] && bin=$4
        timeout 60 $MPIRUN -np 2 "$bin" eval $JOB --set grid.rows=1 --set grid.cols=2 --set run.backend=$b \
            --checkpoint "$2" >"$tmp/eval_$b.log" 2>&1
    done
    ea=$(grep "^test accuracy" "$tmp/eval_cpu.log"); eb=$(grep "^test accuracy" "$tmp/eval_cuda.log")
    if [ -n "$ea" ] && [ "$ea" = "$eb" ] && grep -q "^backend cuda" "$tmp/eval_cuda.log"; then
        echo "ok $1 ($eb)"
    else
        echo "FAIL $1: cuda '$eb' vs cpu '$ea': $(tail -2 "$tmp/eval_cuda.log")"
    fi
}
