#!/bin/sh
# t_ahead_tsan.sh: tests/test_ahead.c (the read-ahead thread of src/ahead.c) built with ThreadSanitizer
# and run: its checks print as "tsan_<name>"; a data race or a lock-order problem in the ring's
# protocol is a TSan report, which fails `ahead_tsan_clean`.
set -u
CC=${CC:-gcc}
BUILD=${COTSNET_BUILD:-build}
out="$BUILD/tsan"
mkdir -p "$out" || exit 1
if ! $CC -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fsanitize=thread -I. tests/test_ahead.c \
    src/ahead.c src/common.c -o "$out/test_ahead" -lpthread -lm >"$out/build.log" 2>&1; then
    echo "skip ahead_tsan: cannot build with -fsanitize=thread: $(head -c 300 "$out/build.log")"
    exit 0
fi
TSAN_OPTIONS="halt_on_error=0 exitcode=66" "$out/test_ahead" >"$out/run.log" 2>&1
rc=$?
sed -n 's/^ok /ok tsan_/p; s/^FAIL /FAIL tsan_/p' "$out/run.log"
if [ $rc -eq 0 ] && ! grep -q "WARNING: ThreadSanitizer" "$out/run.log"; then
    echo "ok ahead_tsan_clean"
else
    echo "FAIL ahead_tsan_clean: rc $rc: $(grep -m1 -A3 "WARNING: ThreadSanitizer" "$out/run.log" | tr '\n' ' ' | head -c 500)"
fi
