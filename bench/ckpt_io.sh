#!/bin/sh
# bench/ckpt_io.sh [BUILD] [DIR] [NP]: checkpoint write and read bandwidth next to the disk's own.
#
# Writes and reads the checkpoint of bench/jobs/ckpt-1g.ini (stage-1 filters of 1 GiB plus their momentum:
# a 2 GiB file) with NP ranks (default 4, grid 2x2) through build/bench/bench_ckpt (parallel HDF5,
# collective, Fletcher-32; the write includes the fsync, read-back and rename a training run pays), and the same
# number of bytes with dd (one sequential stream: conv=fsync for writes, 8 MiB blocks). Reads are timed
# cold (the file evicted from the page cache first: POSIX_FADV_DONTNEED through dd iflag=nocache, then
# /proc/sys/vm/drop_caches if pages remain and we may write it; fincore shows what stayed resident) and
# warm (right after a read). MB = 1e6 bytes. Every load is checked: the filters read back must be
# bit-identical to the seed's. Files go under DIR (default /tmp/cotsnet-ckpt-bench), deleted at the end.
set -u
BUILD=${1:-build}
DIR=${2:-/tmp/cotsnet-ckpt-bench}
NP=${3:-4}
JOB=bench/jobs/ckpt-1g.ini
BENCH=$BUILD/bench/bench_ckpt
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -x "$BENCH" ] || { echo "bench/ckpt_io.sh: $BENCH not built (make)" >&2; exit 1; }
case $NP in 1) R=1; C=1 ;; 2) R=1; C=2 ;; 4) R=2; C=2 ;; 6) R=2; C=3 ;; 8) R=2; C=4 ;; *) R=1; C=$NP ;; esac

mkdir -p "$DIR" || exit 1
avail=$(df -Pk "$DIR" | awk 'NR == 2 {print $4}')
if [ "$avail" -lt $((6 * 1024 * 1024)) ]; then
    echo "bench/ckpt_io.sh: $DIR has $((avail / 1024)) MiB free; 6 GiB needed" >&2; exit 1
fi
trap 'rm -rf "$DIR/ckpt" "$DIR/dd.bin" "$DIR/copy.bin" "$DIR/bench.err"; rmdir "$DIR" 2>/dev/null' EXIT INT TERM
CK="$DIR/ckpt/ckpt-00000000.h5"

resident() { fincore -b -n -o RES "$1" 2>/dev/null | awk '{printf "%.0f\n", $1}'; }
evict() { # FILE: out of the page cache; prints what stayed resident (bytes)
    sync
    dd if="$1" iflag=nocache count=0 status=none 2>/dev/null
    if [ "$(resident "$1")" != 0 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
    resident "$1"
}
# dd's "... copied, S s, ..." line -> seconds
dd_secs() { sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' | tail -1; }
row() { # op ranks bytes seconds cache check
    awk -v op="$1" -v np="$2" -v b="$3" -v s="$4" -v c="$5" -v k="$6" \
        'BEGIN { printf "%-30s %5s %12.0f %9.3f %9.1f   %-18s %s\n", op, np, b, s, (s > 0 ? b / s / 1e6 : 0), c, k }'
}
cached_mb() { resident "$1" | awk '{printf "%.0f MB resident\n", $1 / 1e6}'; }

bench() { # save|load
    mpirun --oversubscribe --bind-to none -np "$NP" "$BENCH" "$JOB" "$DIR/ckpt" "$1" --set grid.rows=$R \
        --set grid.cols=$C 2> "$DIR/bench.err" | tail -1
}

echo "# checkpoint I/O, $(date -u +%Y-%m-%dT%H:%MZ), $(getconf _NPROCESSORS_ONLN) cores, $(free -g | awk '/Mem:/ {print $2}') GiB memory"
echo "# job $JOB: $(bin/cotsnet check "$JOB" 2>/dev/null | sed -n 's/^ *parameters: /parameters /p'), grid ${R}x${C} ($NP ranks)"
echo "# disk: $(df -P "$DIR" | awk 'NR == 2 {print $1}') ($(awk -v d="$(df -P "$DIR" | awk 'NR == 2 {print $6}')" '$2 == d {print $3}' /proc/mounts)), directory $DIR"
printf "%-32s %5s %12s %9s %9s   %-18s %s\n" "# op" "ranks" "bytes" "time" "bandwidth" "page cache before" "check"
printf "%-32s %5s %12s %9s %9s   %-18s %s\n" "#" "" "B" "s" "MB/s" "" ""

for rep in 1 2; do
    set -- $(bench save)
    if [ $# -lt 5 ]; then echo "bench/ckpt_io.sh: bench_ckpt save failed: $(tail -3 "$DIR/bench.err")" >&2; exit 1; fi
    row "checkpoint write (save) #$rep" "$NP" "$2" "$3" "-" "$5"
done
bytes=$(stat -c %s "$CK")
mb8=$(((bytes + 8388607) / 8388608))

# the disk's sequential write: the checkpoint's bytes (from the page cache) and zeros, one stream, fsync
for rep in 1 2; do
    rm -f "$DIR/copy.bin"; sync
    s=$(dd if="$CK" of="$DIR/copy.bin" bs=8M conv=fsync 2>&1 | dd_secs)
    row "dd write (copy of ckpt) #$rep" 1 "$(stat -c %s "$DIR/copy.bin")" "$s" "-" "conv=fsync"
done
rm -f "$DIR/copy.bin"
rm -f "$DIR/dd.bin"; sync
s=$(dd if=/dev/zero of="$DIR/dd.bin" bs=8M count=$mb8 conv=fsync 2>&1 | dd_secs)
row "dd write (zeros)" 1 "$(stat -c %s "$DIR/dd.bin")" "$s" "-" "conv=fsync"
rm -f "$DIR/dd.bin"

# reads: cold (evicted) then warm
for rep in 1 2; do
    left=$(evict "$CK")
    set -- $(bench load)
    row "checkpoint read (load) cold #$rep" "$NP" "$2" "$3" "$(echo "$left" | awk '{printf "%.0f MB resident", $1 / 1e6}')" "$5"
    c=$(cached_mb "$CK")
    set -- $(bench load)
    row "checkpoint read (load) warm #$rep" "$NP" "$2" "$3" "$c" "$5"
done
for rep in 1 2; do
    left=$(evict "$CK")
    s=$(dd if="$CK" of=/dev/null bs=8M 2>&1 | dd_secs)
    row "dd read cold #$rep" 1 "$bytes" "$s" "$(echo "$left" | awk '{printf "%.0f MB resident", $1 / 1e6}')" "-"
    c=$(cached_mb "$CK")
    s=$(dd if="$CK" of=/dev/null bs=8M 2>&1 | dd_secs)
    row "dd read warm #$rep" 1 "$bytes" "$s" "$c" "-"
done
