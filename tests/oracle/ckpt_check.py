#!/usr/bin/python3
"""ckpt_check.py: checkpoints seen from outside, with h5py (tests/t_ckpt.sh). Subcommands:

  same A B NAME            every dataset of A and B bit-identical (same names, shapes, dtypes, bytes), and the
                           training cursor attributes equal; one ok/FAIL line NAME
  close A B NAME TOL       every dataset within TOL normwise (a resume on another grid)
  outside CKPT DUMP NAME   as an outside user: root attributes, /stage1/filters shape [Ho,Wo,M,r,r,C] from the
                           job text, values equal to DUMP (.npy gathered by tests/mpi_ckpt --dump), and every
                           dataset chunked with the Fletcher-32 filter
  init CKPT NAME           initial parameters against an independent Philox4x32-10 + Box-Muller oracle of
                           docs/MODEL.md "Initial parameters" (seed and shapes from the job text)
  corrupt FILE DSET I0,I1  flip 4 bytes in the middle of the chunk of DSET whose offset starts with I0,I1;
                           prints the file offset of the chunk
  shard FILE               write a small valid shard (docs/DATA.md) for the `cotsnet info` tests
  damage SRC DST KIND      copy SRC to DST and damage it one way: cursor_array (sample_cursor holds 64
                           values), stage_neg (stage = -1), phase_out (phase = 9), nan (/stage1/filters all
                           NaN), header (a byte of /stage1/filters' object header flipped: metadata checksum),
                           root_header (the same in the root group's header)
"""
import configparser
import math
import shutil
import sys

import h5py
import numpy as np

CURSOR = ("step", "phase", "stage", "phase_step", "sample_cursor", "epoch", "seed", "classes", "stages")


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return out


def job_of(f):
    """The job as stored in the checkpoint: the file's text plus the --set overrides (comment lines)."""
    text = f.attrs["job"]
    text = text.decode() if isinstance(text, bytes) else str(text)
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.read_string(text)
    marker = "; overridden on the command line (--set):"
    if marker in text:
        for line in text.split(marker, 1)[1].splitlines():
            line = line.strip()
            if line.startswith("; ") and "=" in line:
                key, val = line[2:].split("=", 1)
                sec, k = key.split(".", 1)
                if not cp.has_section(sec):
                    cp.add_section(sec)
                cp.set(sec, k, val)
    return cp


def geti(cp, sec, key, default):
    return int(cp.get(sec, key, fallback=str(default)))


def stage_shapes(cp):
    """([Ho, Wo, M, r, r, C], separate decoder, init_scale) of every stage, from the job (docs/MODEL.md)."""
    H, W, C = geti(cp, "data", "height", 0), geti(cp, "data", "width", 0), geti(cp, "data", "channels", 0)
    shapes, k = [], 1
    while cp.has_section(f"stage{k}"):
        s = f"stage{k}"
        r, st, M = geti(cp, s, "field", 0), geti(cp, s, "stride", 1), geti(cp, s, "maps", 0)
        q, t = geti(cp, s, "pool", 1), geti(cp, s, "pool_stride", 1)
        Ho, Wo = (H - r) // st + 1, (W - r) // st + 1
        shapes.append(((Ho, Wo, M, r, r, C), cp.get(s, "decoder", fallback="tied").strip() == "separate",
                       float(cp.get(s, "init_scale", fallback="1"))))
        H, W, C = (Ho - q) // t + 1, (Wo - q) // t + 1, M
        k += 1
    return shapes


def compare(a, b, tol=None):
    """Checkpoints a and b: the same datasets (shape, dtype), bit-identical (tol None) or within tol
    relative (normwise per dataset), and the same cursor attributes. Returns (problems, number of
    datasets, worst relative error)."""
    bad, worst = [], 0.0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = datasets(fa), datasets(fb)
        if sorted(da) != sorted(db):
            bad.append(f"datasets differ: {sorted(set(da) ^ set(db))}")
        for n in sorted(set(da) & set(db)):
            x, y = da[n][...], db[n][...]
            if x.shape != y.shape or x.dtype != y.dtype:
                bad.append(f"{n}: {y.dtype}{list(y.shape)} vs {x.dtype}{list(x.shape)}")
            elif tol is None:
                if x.tobytes() != y.tobytes():
                    diff = int(np.count_nonzero(x.view(np.uint32) != y.view(np.uint32)))
                    bad.append(f"{n}: {diff} of {x.size} values differ (max |d| {np.abs(x - y).max():.3e})")
            else:
                d = np.linalg.norm(x.astype(np.float64))
                e = np.linalg.norm(x.astype(np.float64) - y) / (d if d > 0 else 1)
                worst = max(worst, e)
                if not e <= tol:
                    bad.append(f"{n}: relative error {e:.3e} > {tol:g}")
        for k in CURSOR:
            if k not in fa.attrs or k not in fb.attrs or fa.attrs[k] != fb.attrs[k]:
                bad.append(f"attribute {k}: {fa.attrs.get(k)} vs {fb.attrs.get(k)}")
        nd = len(da)
    return bad, nd, worst


def cmd_same(a, b, name, tol=None):
    bad, nd, _ = compare(a, b, tol)
    if bad:
        print(f"FAIL {name}: " + "; ".join(bad[:4]))
        return 1
    print(f"ok {name} ({nd} datasets{' bit-identical' if tol is None else f' within {tol:g}'}, cursor equal)")
    return 0


def cmd_outside(path, dump, name):
    bad = []
    with h5py.File(path, "r") as f:
        at = f.attrs
        fmt = at.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != "cotsnet-checkpoint":
            bad.append(f"format = {fmt!r}")
        if at.get("version") != 1:
            bad.append(f"version = {at.get('version')!r}")
        for k in ("step", "sample_cursor", "phase", "epoch", "seed", "classes", "stages"):
            if k not in at or not np.issubdtype(np.asarray(at[k]).dtype, np.integer):
                bad.append(f"attribute {k} missing or not an integer")
        job = at.get("job")
        job = job.decode() if isinstance(job, bytes) else job
        if not job or "[stage1]" not in job:
            bad.append("the job text is missing")
        else:
            cp = job_of(f)
            want = stage_shapes(cp)[0][0]
            ds = f["stage1/filters"]
            if ds.shape != want:
                bad.append(f"/stage1/filters shape {ds.shape}, the job says {want}")
            ref = np.load(dump)
            val = ds[...]
            if ref.shape != val.shape or ref.dtype != val.dtype or ref.tobytes() != val.tobytes():
                bad.append("/stage1/filters differs from the gathered filters of mpi_ckpt --dump")
            if not np.any(val):
                bad.append("/stage1/filters is all zeros: the comparison proves nothing")
        for n, d in datasets(f).items():
            if not d.fletcher32:
                bad.append(f"{n} has no Fletcher-32 filter")
            if d.chunks is None:
                bad.append(f"{n} is not chunked")
            if d.dtype != np.float32:
                bad.append(f"{n} is {d.dtype}, not float32")
    if bad:
        print(f"FAIL {name}: " + "; ".join(bad[:4]))
        return 1
    print(f"ok {name} (attributes, shape {want}, values, chunks and Fletcher-32 on every dataset)")
    return 0


# ---- an independent Philox4x32-10 and Box-Muller (Salmon et al. 2011; docs/MODEL.md) ----
M32 = 0xFFFFFFFF


def philox(seed, stream, index):
    c = [index & M32, (index >> 32) & M32, stream & M32, (stream >> 32) & M32]
    k = [seed & M32, (seed >> 32) & M32]
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        hi0, lo0, hi1, lo1 = p0 >> 32, p0 & M32, p1 >> 32, p1 & M32
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
        k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
    return c


def init_value(seed, tensor_id, n, std):
    u = philox(seed, 1000 + tensor_id, n)
    u0, u1 = (u[0] + 0.5) / 2.0**32, (u[1] + 0.5) / 2.0**32
    return np.float32(std * (math.sqrt(-2.0 * math.log(u0)) * math.cos(2.0 * math.pi * u1)))


# Random123's known-answer vectors for Philox4x32-10: (seed, stream, index) packed as our key and counter
KAT = [((0, 0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
       ((2**64 - 1, 2**64 - 1, 2**64 - 1), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
       ((0x299F31D0A4093822, 0x0370734413198A2E, 0x85A308D3243F6A88), (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]


def cmd_init(path, name):
    bad, checked = [], 0
    for args, want in KAT:
        if tuple(philox(*args)) != want:
            print(f"FAIL {name}: the oracle's Philox fails Random123's known-answer test {args}")
            return 1
    with h5py.File(path, "r") as f:
        cp = job_of(f)
        seed = int(cp.get("run", "seed", fallback="1"))
        for k, (shape, separate, scale) in enumerate(stage_shapes(cp), start=1):
            std = scale / math.sqrt(shape[3] * shape[4] * shape[5])
            tensors = [(f"stage{k}/filters", 16 * k)] + ([(f"stage{k}/decoder", 16 * k + 1)] if separate else [])
            for dname, tid in tensors:
                flat = f[dname][...].reshape(-1)
                if f[dname].shape != shape:
                    bad.append(f"{dname} shape {f[dname].shape}, expected {shape}")
                    continue
                rng = np.random.default_rng(tid)
                idx = sorted({0, 1, flat.size - 1, flat.size // 2} | set(rng.integers(0, flat.size, 12).tolist()))
                for n in idx:
                    want = init_value(seed, tid, n, std)
                    if flat[n] != want:
                        bad.append(f"{dname}[{n}] = {flat[n]!r}, the formula gives {want!r}")
                    checked += 1
        for n in ("head/weights", "head/bias"):
            if np.any(f[n][...]):
                bad.append(f"{n} does not start at zero")
    if bad:
        print(f"FAIL {name}: " + "; ".join(bad[:4]))
        return 1
    print(f"ok {name} ({checked} values equal the Philox4x32-10 (Random123 KAT) + Box-Muller formula exactly; "
          "head zero)")
    return 0


def cmd_corrupt(path, dset, where):
    lead = tuple(int(v) for v in where.split(","))
    with h5py.File(path, "r") as f:
        d = f[dset]
        info = None
        for i in range(d.id.get_num_chunks()):
            ci = d.id.get_chunk_info(i)
            if tuple(ci.chunk_offset[: len(lead)]) == lead:
                info = ci
                break
        if info is None:
            print(f"no chunk of {dset} at {lead}", file=sys.stderr)
            return 1
    off = info.byte_offset + info.size // 2
    with open(path, "r+b") as fh:
        fh.seek(off)
        b = bytearray(fh.read(4))
        fh.seek(off)
        fh.write(bytes(x ^ 0x5A for x in b))
    print(f"{dset} chunk at {info.chunk_offset}: {info.size} bytes at file offset {info.byte_offset}; "
          f"flipped 4 bytes at {off}")
    return 0


def cmd_shard(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.arange(5 * 6 * 7 * 2, dtype=np.uint8).reshape(5, 6, 7, 2),
                         chunks=(1, 6, 7, 2), fletcher32=True)
        f.create_dataset("labels", data=np.array([0, 1, 2, 1, 0], dtype=np.int32))
        f.attrs["format"] = "cotsnet-shard"
        f.attrs["version"] = np.int32(1)
        f.attrs["source"] = "t_ckpt test shard"
        f.attrs["mean"] = np.float32(100.0)
        f.attrs["std"] = np.float32(50.0)
        f.attrs["classes"] = np.int32(3)
    return 0


def cmd_damage(src, dst, kind):
    shutil.copyfile(src, dst)
    if kind in ("header", "root_header"):
        with h5py.File(dst, "r") as f:
            addr = h5py.h5o.get_info(f["stage1/filters" if kind == "header" else "/"].id).addr
        with open(dst, "r+b") as fh:
            fh.seek(addr + 20)
            b = fh.read(1)
            fh.seek(addr + 20)
            fh.write(bytes([b[0] ^ 0xFF]))
        return 0
    with h5py.File(dst, "r+") as f:
        if kind == "cursor_array":
            f.attrs["sample_cursor"] = np.arange(64, dtype=np.int64)
        elif kind == "stage_neg":
            f.attrs["stage"] = np.int64(-1)
        elif kind == "phase_out":
            f.attrs["phase"] = np.int64(9)
        elif kind == "nan":
            f["stage1/filters"][...] = np.nan
        else:
            print(f"unknown damage {kind}", file=sys.stderr)
            return 2
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "same":
        return cmd_same(argv[2], argv[3], argv[4])
    if cmd == "close":
        return cmd_same(argv[2], argv[3], argv[4], float(argv[5]))
    if cmd == "outside":
        return cmd_outside(argv[2], argv[3], argv[4])
    if cmd == "init":
        return cmd_init(argv[2], argv[3])
    if cmd == "corrupt":
        return cmd_corrupt(argv[2], argv[3], argv[4])
    if cmd == "shard":
        return cmd_shard(argv[2])
    if cmd == "damage":
        return cmd_damage(argv[2], argv[3], argv[4])
    print(f"unknown subcommand {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
