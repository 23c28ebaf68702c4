#!/bin/sh
# t_oracle_lf_pool.sh: the local filter and pooling references against the numpy oracle.
# test_lf and test_pool dump random inputs and their C outputs and gradients (--dump DIR);
# tests/oracle/lf_pool.py recomputes them from docs/MODEL.md and prints one ok/FAIL line per tensor.
BUILD=${COTSNET_BUILD:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
for t in test_lf test_pool; do
    if ! "$BUILD/tests/$t" --dump "$dir"; then
        echo "FAIL oracle_dump_$t: $BUILD/tests/$t --dump exited non-zero"
        status=1
    fi
done
/usr/bin/python3 tests/oracle/lf_pool.py "$dir" || status=1
exit $status
