#!/bin/sh
# t_ahead_tsan.sh: the read-ahead ring of src/ahead.c under ThreadSanitizer, through both of its users:
# tests/test_ahead.c (the ring itself, as the synthetic generator uses it) and the reader's tests of
# tests/test_shard.c (`test_shard reader`: io/reader.c with and without read-ahead on small shards, seeks,
# and a shard that fails to read mid-stream). Their checks print as "tsan_<name>"; a data race or a
# lock-order problem is a TSan report, which fails `ahead_tsan_clean` or `reader_tsan_clean`.
set -u
CC=${CC:-gcc}
BUILD=${COTSNET_BUILD:-build}
out="$BUILD/tsan"
mkdir -p "$out" || exit 1
TSAN="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fsanitize=thread -I."

run() { # name, binary, args...: the run's checks, then whether TSan stayed quiet
    name=$1; shift
    TSAN_OPTIONS="halt_on_error=0 exitcode=66" timeout 300 "$@" >"$out/$name.log" 2>&1
    rc=$?
    sed -n 's/^ok /ok tsan_/p; s/^FAIL /FAIL tsan_/p' "$out/$name.log"
    if [ $rc -eq 0 ] && ! grep -q "WARNING: ThreadSanitizer" "$out/$name.log"; then
        echo "ok ${name}_tsan_clean"
    else
        echo "FAIL ${name}_tsan_clean: rc $rc: $(grep -m1 -A3 "WARNING: ThreadSanitizer" "$out/$name.log" | tr '\n' ' ' | head -c 500)"
    fi
}

if ! $CC $TSAN tests/test_ahead.c src/ahead.c src/common.c -o "$out/test_ahead" -lpthread -lm >"$out/build.log" 2>&1; then
    echo "skip ahead_tsan: cannot build with -fsanitize=thread: $(head -c 300 "$out/build.log")"
    exit 0
fi
run ahead "$out/test_ahead"

# The shard reader: test_shard.c with io/ (less the checkpoint and info code, which need the rest of the
# engine) and the few src/ files the reader uses; HDF5 and MPI themselves are not instrumented.
io=$(ls io/*.c | grep -v -e io/ckpt.c -e io/info.c)
if ! $CC $TSAN $(pkg-config --cflags ompi-c hdf5-openmpi) tests/test_shard.c $io src/ahead.c src/common.c \
    src/rng*.c src/vmath*.c src/version.c -o "$out/test_shard" $(pkg-config --libs ompi-c hdf5-openmpi sleef) -lpng -lz -lm \
    -lpthread >"$out/build_reader.log" 2>&1; then
    echo "FAIL reader_tsan_build: $(grep -m3 error "$out/build_reader.log" | tr '\n' ' ' | head -c 400)"
    exit 1
fi
run reader "$out/test_shard" reader
