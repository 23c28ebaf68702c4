#!/bin/sh
# t_sizing.sh: `cotsnet info --params` (src/sizing.c) counts what the engine allocates: tests/mpi_sizing.c
# on grids 1x1, 1x2, 2x2, 2x3 and 3x3 of tests/jobs/dist.ini (halos reaching two tiles away, LCN, a
# separate decoder, uneven tiles), then the command itself when bin/cotsnet dispatches it.
. tests/dist_env.sh # BUILD BIN JOB MPIRUN tmp mpi_prog, one thread per rank
EXE="$BUILD/tests/mpi_sizing"
if [ ! -x "$EXE" ]; then
    echo "FAIL t_sizing: $EXE not built"
    exit 1
fi
status=0

# 1x1 runs without a launcher; the others under mpirun
"$EXE" 1 1 "$JOB" >"$tmp/out" 2>"$tmp/err" || status=1
cat "$tmp/out"
if command -v mpirun >/dev/null 2>&1; then
    for g in "1 2" "2 2" "2 3" "3 3"; do
        set -- $g
        mpi_prog "sizing_$1x$2" $(($1 * $2)) "$EXE" "$1" "$2" "$JOB" || status=1
    done
else
    echo "skip sizing_mpi: mpirun not found"
fi

# the command, once main.c dispatches `info --params`
if [ -x "$BIN" ] && "$BIN" info --params "$JOB" --grid 2x3 >"$tmp/info" 2>"$tmp/err"; then
    params=$("$BIN" check "$JOB" 2>/dev/null | awk '/parameters:/{print $2}')
    if grep -q "^parameters: $params " "$tmp/info" && grep -q "grid 1 x 2x3: 6 ranks" "$tmp/info" &&
        grep -q "^  total " "$tmp/info"; then
        echo "ok sizing_command"
    else
        echo "FAIL sizing_command: parameters or grid line missing (cotsnet check says $params)"
        sed 's/^/   /' "$tmp/info" | head -n 20
        status=1
    fi
    if "$BIN" info --params "$JOB" --grid 40x40 >"$tmp/out" 2>"$tmp/err"; then
        echo "FAIL sizing_command_too_fine: a 40x40 grid of a 24x22 map was accepted"
        status=1
    elif [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "largest grid that fits" "$tmp/err"; then
        echo "ok sizing_command_too_fine"
    else
        echo "FAIL sizing_command_too_fine: want one error line naming the largest grid"
        sed 's/^/   /' "$tmp/err" | head -n 5
        status=1
    fi
else
    echo "skip sizing_command: $BIN does not dispatch 'info --params' yet"
fi
exit $status
