#!/bin/sh
# tools/run_default.sh (make run): the default run on this machine, no cluster needed.
# Makes the Fashion-MNIST shards if they are missing, trains jobs/default.ini on 4 ranks (a 2x2 grid)
# with mpirun on the CPU backend, and prints the test accuracy (from the beginning: the checkpoints of an
# earlier make run are removed first). Extra arguments go to cotsnet train
# (e.g. make run ARGS="--set stage1.steps=50").
set -eu
BIN=${COTSNET_BIN:-bin/cotsnet}
JOB=${COTSNET_JOB:-jobs/default.ini}
NP=${COTSNET_NP:-4}
if ! ls data/fashion-mnist/train-*.h5 >/dev/null 2>&1 || ! ls data/fashion-mnist/test-*.h5 >/dev/null 2>&1; then
    echo "== making the Fashion-MNIST shards in data/fashion-mnist"
    "$BIN" data fashion-mnist --out data/fashion-mnist --force
fi
# as root, Open MPI wants to be told that this is intended
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# make run trains from the beginning: the checkpoints of an earlier make run go first, since cotsnet
# refuses to start afresh over them (docs/CHECKPOINTS.md). Their directory is the one cotsnet resolves
# from the job and the --set options ([checkpoint] dir, or <out_dir>/ckpt); an invalid job stops here.
ckpt=
case " $* " in
*" --resume "*) ;; # ARGS="--resume auto" continues the earlier run instead
*) ckpt=$("$BIN" check "$JOB" "$@" --get checkpoint.dir) ;;
esac
if [ -n "$ckpt" ] && ls "$ckpt"/ckpt-*.h5 >/dev/null 2>&1; then
    echo "== removing the checkpoints of an earlier run in $ckpt"
    rm -f "$ckpt"/ckpt-*.h5
fi
echo "== training $JOB on $NP ranks: mpirun -np $NP $BIN train $JOB $*"
start=$(date +%s)
# shellcheck disable=SC2086
mpirun --oversubscribe --bind-to none -np "$NP" "$BIN" train "$JOB" "$@"
echo "== done in $(( $(date +%s) - start )) s (metrics.jsonl and filters.png are in the job's [run] out_dir)"
