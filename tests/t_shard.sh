#!/bin/sh
# t_shard.sh: `cotsnet data` end to end, its shards checked from outside with /usr/bin/python3 + h5py:
# the documented datasets, types, chunks and attributes (docs/DATA.md), normalization statistics
# recomputed in numpy, Fashion-MNIST pixels equal to the idx files, the exit codes, the help text
# quoted in docs/DATA.md, and a training run stopped by a corrupted shard (with and without read-ahead) or
# by NaN values in a float32 shard.
# When the cotsnet binary does not dispatch `data` yet, the same command is run through
# build/tests/test_shard (which links io/cmd_data.c) and the binary check is reported as skipped.
BIN=${COTSNET_BIN:-bin/cotsnet}
BUILD=${COTSNET_BUILD:-build}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'umount "$tmp/full" 2>/dev/null; rm -rf "$tmp"' EXIT

if "$BIN" data --help >/dev/null 2>&1; then
    DATA="$BIN data"
    echo "ok shard_cli_dispatch"
else
    echo "skip shard_cli_dispatch: '$BIN data --help' fails (src/main.c does not call cmd_data yet); using $BUILD/tests/test_shard data"
    DATA="$BUILD/tests/test_shard data"
    [ -x "$BUILD/tests/test_shard" ] || { echo "FAIL shard_cli: neither $BIN data nor $BUILD/tests/test_shard"; exit 1; }
fi
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
    echo "skip shard_h5py: $PY lacks h5py or numpy (apt-get install python3-h5py)"
    exit 0
fi

# docs/DATA.md quotes `cotsnet data --help` verbatim (its ```text block).
$DATA --help >"$tmp/help"
awk '/^```text$/{f=1; next} /^```$/{f=0} f' docs/DATA.md >"$tmp/doc"
if diff -u "$tmp/doc" "$tmp/help" >"$tmp/diff"; then echo "ok docs_data_help"; else
    echo "FAIL docs_data_help: docs/DATA.md differs from 'cotsnet data --help':"; head -20 "$tmp/diff"; fi

# Exit codes: 2 for a bad command line, 1 (one error line) for a failure.
$DATA synthetic --out "$tmp/x" --size 7x7 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && echo "ok shard_cli_usage_exit2" ||
    echo "FAIL shard_cli_usage_exit2: status $rc, stderr: $(cat "$tmp/err")"

$DATA synthetic --out "$tmp/s" --n 50 --test-n 10 --size 20x30x3 --classes 5 --seed 2 --shard-size 20 --quiet ||
    { echo "FAIL shard_cli_synthetic: exit status $?"; exit 1; }
$DATA synthetic --out "$tmp/s" --n 5 --quiet 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q -- "--force" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && echo "ok shard_cli_exists_exit1" ||
    echo "FAIL shard_cli_exists_exit1: status $rc, stderr: $(cat "$tmp/err")"
$DATA synthetic --out "$tmp/f" --n 6 --test-n 0 --size 100x70x1 --float32 --quiet ||
    { echo "FAIL shard_cli_synthetic_float: exit status $?"; exit 1; }
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
    $DATA fashion-mnist --out "$tmp/fm" --n 300 --test-n 50 --quiet ||
        { echo "FAIL shard_cli_fmnist: exit status $?"; exit 1; }
fi

# A shard that fails to read mid-run (bad chunk checksums in train-001.h5, which validation does not read):
# training stops with status 1 and one line naming the file and sample, the same line whether the reader
# thread read it ahead (prefetch, the default) or the step read it.
if [ -x "$BIN" ]; then
    $DATA synthetic --out "$tmp/bad" --n 64 --test-n 8 --size 16x14x2 --classes 3 --shard-size 20 --quiet
    $PY - "$tmp/bad/train-001.h5" <<'PYEOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    d = f["images"].id
    chunks = [(d.get_chunk_info(i).byte_offset, d.get_chunk_info(i).size) for i in range(d.get_num_chunks())]
with open(sys.argv[1], "r+b") as g:
    for off, size in chunks:
        g.seek(off + size // 2)
        b = g.read(1)
        g.seek(off + size // 2)
        g.write(bytes([b[0] ^ 0xFF]))
PYEOF
    for pf in yes no; do
        timeout 120 "$BIN" train tests/jobs/ckpt.ini --set run.out_dir="$tmp/run_$pf" --set data.prefetch=$pf \
            --set data.train="$tmp/bad/train-*.h5" --set data.test="$tmp/bad/test-*.h5" >"$tmp/log_$pf" 2>"$tmp/err_$pf"
        echo $? >"$tmp/rc_$pf"
    done
    if [ "$(cat "$tmp/rc_yes")" -eq 1 ] && [ "$(wc -l <"$tmp/err_yes")" -eq 1 ] &&
        grep -q "train-001.h5: cannot read sample" "$tmp/err_yes" && cmp -s "$tmp/err_yes" "$tmp/err_no" &&
        [ "$(cat "$tmp/rc_no")" -eq 1 ]; then
        echo "ok shard_train_bad_chunk_exit1"
    else
        echo "FAIL shard_train_bad_chunk_exit1: status $(cat "$tmp/rc_yes")/$(cat "$tmp/rc_no") (prefetch yes/no), stderr: $(head -c 300 "$tmp/err_yes") / $(head -c 300 "$tmp/err_no")"
    fi
    # train_refused NAME SHARD PATTERN: training on SHARD stops with status 1 and one line matching PATTERN
    train_refused() {
        timeout 120 "$BIN" train tests/jobs/ckpt.ini --set run.out_dir="$tmp/run_$1" --set data.test= \
            --set data.train="$2" >"$tmp/log_$1" 2>"$tmp/err_$1"
        rc=$?
        if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err_$1")" -eq 1 ] && grep -q "$3" "$tmp/err_$1"; then
            echo "ok $1"
        else
            echo "FAIL $1: status $rc, stderr: $(head -c 300 "$tmp/err_$1")"
        fi
    }
    # a float32 shard holding NaN: one line naming the file and sample when it is read (it was a diverging
    # loss, "lower the learning rate"; a std too small for the values fails the same way)
    $DATA synthetic --out "$tmp/nan" --n 64 --test-n 0 --size 16x14x2 --classes 3 --float32 --quiet
    $PY -c "import sys, h5py, numpy as np; f = h5py.File(sys.argv[1], 'r+'); f['images'][:, 2, 3, 1] = np.nan" \
        "$tmp/nan/train-000.h5"
    train_refused shard_train_nan_values_exit1 "$tmp/nan/train-*.h5" \
        "train-000.h5: sample [0-9]* holds a value that is not finite after normalization (nan"
    # a shard whose root object header fails its checksum is corrupted, not "attribute format missing"
    mkdir -p "$tmp/hdr"
    $PY - "$tmp/nan/train-000.h5" "$tmp/hdr/train-000.h5" <<'PYEOF'
import shutil, sys, h5py
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r") as f:
    addr = h5py.h5o.get_info(f["/"].id).addr
with open(sys.argv[2], "r+b") as g:
    g.seek(addr + 20)
    b = g.read(1)
    g.seek(addr + 20)
    g.write(bytes([b[0] ^ 0xFF]))
PYEOF
    train_refused shard_corrupted_root_header "$tmp/hdr/train-000.h5" \
        "train-000.h5: the attributes of / cannot be read: the file is corrupted (.*checksum"
else
    echo "skip shard_train_bad_chunk_exit1: no $BIN"
fi

# `cotsnet data` onto a file system that fills up, while finishing a shard (32x32) and while writing its
# samples (96x96): one line, status 1 (it was a two-line HDF5 text, then a segmentation fault in HDF5's
# exit handler, status 139), and no file of the data set left, .partial or not. Needs a small tmpfs
# (root, mount allowed), else skipped.
mkdir -p "$tmp/full"
if mount -t tmpfs -o size=150k tmpfs "$tmp/full" 2>/dev/null; then
    for sz in 32 96; do
        $DATA synthetic --out "$tmp/full/d$sz" --n 64 --test-n 16 --size ${sz}x${sz}x3 --classes 3 --quiet 2>"$tmp/full.err"
        rc=$?
        if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/full.err")" -eq 1 ] &&
            grep -q "^cotsnet: error: data: $tmp/full/d$sz/train-000.h5.partial: .*\(No space left on device\|is the file system full?\)" "$tmp/full.err" &&
            [ -z "$(ls "$tmp/full/d$sz")" ]; then
            echo "ok data_disk_full_one_line_$sz"
        else
            echo "FAIL data_disk_full_one_line_$sz: rc $rc, $(wc -l <"$tmp/full.err") lines: $(head -c 400 "$tmp/full.err"); left: $(ls "$tmp/full/d$sz")"
        fi
    done
    umount "$tmp/full"
else
    echo "skip data_disk_full_one_line_32: cannot mount a small tmpfs here (needs root and mount permission)"
    echo "skip data_disk_full_one_line_96: cannot mount a small tmpfs here"
fi

$PY - "$tmp" "$fm" <<'EOF'
import glob, gzip, os, sys
import h5py, numpy as np

tmp, fm = sys.argv[1], sys.argv[2]
fails = 0

def check(name, cond, why):
    global fails
    if cond:
        print("ok " + name)
    else:
        print("FAIL %s: %s" % (name, why))
        fails += 1

def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)

def layout(path, n, shape, dtype, classes):
    f = h5py.File(path, "r")
    im = f["images"]
    a = f.attrs
    ok = (im.shape == (n,) + shape and im.dtype == dtype and im.chunks == (1, min(shape[0], 64), min(shape[1], 64), shape[2])
          and im.fletcher32 and text(a["format"]) == "cotsnet-shard" and int(a["version"]) == 1
          and len(text(a["source"])) > 0 and a["mean"].dtype == np.float32 and a["std"].dtype == np.float32
          and np.shape(a["mean"]) == () and float(a["std"]) > 0)
    if classes:
        lab = f["labels"]
        ok = ok and lab.shape == (n,) and lab.dtype == np.int32 and int(a["classes"]) == classes
        ok = ok and lab[:].min() >= 0 and lab[:].max() < classes
    else:
        ok = ok and "labels" not in f
    return f, ok

train = sorted(glob.glob(tmp + "/s/train-*.h5"))
test = sorted(glob.glob(tmp + "/s/test-*.h5"))
check("h5py_shard_files", [os.path.basename(p) for p in train] == ["train-000.h5", "train-001.h5", "train-002.h5"]
      and [os.path.basename(p) for p in test] == ["test-000.h5"] and not glob.glob(tmp + "/s/*.partial"),
      "expected train-000..002.h5 and test-000.h5, got %s %s" % (train, test))
ok, imgs = True, []
for p, n in zip(train, [20, 20, 10]):
    f, good = layout(p, n, (20, 30, 3), np.uint8, 5)
    ok = ok and good
    imgs.append(f["images"][:].astype(np.float64))
    mean, std = float(f.attrs["mean"]), float(f.attrs["std"])
ft, good = layout(test[0], 10, (20, 30, 3), np.uint8, 5)
check("h5py_synthetic_layout", ok and good, "datasets, types, chunks or attributes differ from docs/DATA.md")
allv = np.concatenate(imgs)
check("h5py_synthetic_normalization",
      abs(allv.mean() - mean) < 1e-3 * max(1, abs(mean)) and abs(allv.std() - std) < 1e-3 * std
      and float(ft.attrs["mean"]) == mean and float(ft.attrs["std"]) == std,
      "mean/std %g %g, numpy says %g %g over the train split" % (mean, std, allv.mean(), allv.std()))

f, good = layout(tmp + "/f/train-000.h5", 6, (100, 70, 1), np.float32, 10)
v = f["images"][:]
check("h5py_float32_layout", good and v.min() >= 0 and v.max() <= 1 and abs(float(f.attrs["mean"]) - v.mean()) < 1e-4,
      "float32 shard: chunks (1, 64, 64, 1), values in [0, 1], mean of the values")

if os.path.exists(tmp + "/fm/train-000.h5"):
    f, good = layout(tmp + "/fm/train-000.h5", 300, (28, 28, 1), np.uint8, 10)
    raw = np.frombuffer(gzip.open(fm + "/train-images-idx3-ubyte.gz").read()[16:16 + 300 * 784], np.uint8)
    lab = np.frombuffer(gzip.open(fm + "/train-labels-idx1-ubyte.gz").read()[8:8 + 300], np.uint8)
    same = np.array_equal(f["images"][:].reshape(-1), raw) and np.array_equal(f["labels"][:], lab)
    check("h5py_fmnist_equals_idx", good and same and abs(float(f.attrs["mean"]) - raw.mean()) < 1e-3,
          "Fashion-MNIST shard differs from the idx files")
else:
    print("skip h5py_fmnist_equals_idx: Debian's dataset-fashion-mnist is not installed")
sys.exit(1 if fails else 0)
EOF
