#!/bin/sh
# t_oracle_lcn_head.sh: the C references for LCN, the softmax head and the optimizers against the
# independent numpy oracle (tests/oracle/lcn_head.py). The test binaries write random inputs and their
# outputs and gradients as .npy into a temporary directory (--dump), then the oracle recomputes and compares.
BUILD=${COTSNET_BUILD:-build}
dir=$(mktemp -d) || { echo "FAIL oracle_lcn_head: mktemp failed"; exit 1; }
trap 'rm -rf "$dir"' EXIT
rc=0
for t in lcn head optim; do
    bin="$BUILD/tests/test_$t"
    if [ ! -x "$bin" ]; then
        echo "FAIL dump_$t: $bin not built"
        rc=1
        continue
    fi
    if "$bin" --dump "$dir" >"$dir/$t.log" 2>&1; then
        echo "ok dump_$t"
    else
        echo "FAIL dump_$t: $bin --dump exited non-zero:"
        sed 's/^/    /' "$dir/$t.log"
        rc=1
    fi
done
/usr/bin/python3 tests/oracle/lcn_head.py "$dir" || rc=1
exit $rc
