/* reader.h: reads batches of a rank's input window from a data set of shards.
 *
 * Each rank reads, for every sample of its batch, only the rectangle its first stage needs (its tile
 * plus halo, in global image coordinates) with an HDF5 hyperslab: never the whole image. Values become
 * float, normalized with their shard's (mean, std): x = (u - mean) / std.
 *
 * Sample order (docs/DATA.md) depends on the seed and the epoch alone. Epoch e visits the global sample
 * indices in the order data_order(seed, e, N, p), p = 0, 1, ..., a Philox-keyed pseudo-random permutation
 * of [0, N). Step t of replica r of R, local batch B, reads positions p = t*B*R + i*R + r, i < B: the global
 * batch of step t is the positions [t*B*R, (t+1)*B*R), dealt round-robin to the replicas, so every rank of a
 * replica reads the same samples and replicas read disjoint ones. An epoch has floor(N / (B*R)) steps (the
 * remaining positions, different ones each epoch, are skipped). Unshuffled (evaluation): p itself is the
 * sample index, the epoch has ceil(N / (B*R)) steps and positions past N are padding (zero images,
 * label -1, not counted).
 *
 * The cursor (epoch, step) names the next batch reader_next() returns. Saved in a checkpoint and given to
 * reader_seek(), it makes a resumed run read exactly what the uninterrupted run would have read.
 *
 * Prefetch: with opts.prefetch = D > 0 a reader thread (the ring of src/ahead.h) reads up to D batches
 * ahead; a read that fails comes out of reader_next() at its own step, and again at every later call until
 * a seek. Debian's parallel HDF5 is not thread-safe: after reader_open() returns, that thread is the only
 * one of this reader that calls HDF5 until reader_close() stops it, and it holds cn_h5_lock()
 * (io/h5check.h) around every call, so any other code calling HDF5 while the reader is open (checkpoints, a
 * second reader) must take that lock as the io/ functions do.
 * reader_wait_seconds() is the time the caller spent blocked in reader_next() (I/O not hidden by the
 * prefetch). */
#ifndef CN_READER_H
#define CN_READER_H

#include <stdint.h>

#include "io/shard.h"
#include "src/tile.h"

typedef struct {
    cn_rect rect;        /* rows [y0, y1) and columns [x0, x1) of every image to read */
    int batch;           /* local batch size B */
    uint64_t seed;       /* the job's seed: fixes the sample order */
    int replica;         /* this rank's replica r, 0 <= r < replicas */
    int replicas;        /* R */
    int shuffle;         /* 1: permuted order, full batches (training); 0: file order, padded (evaluation) */
    int prefetch;        /* batches read ahead by a reader thread (0 = read on the caller's thread), <= 16 */
} cn_reader_opts;

typedef struct {
    int64_t epoch; /* 0, 1, ... */
    int64_t step;  /* batch within the epoch, 0 <= step < reader_steps_per_epoch() */
} cn_cursor;

typedef struct cn_reader cn_reader;

/* set must stay open until reader_close(). Returns CN_EINVAL with one line for a rectangle outside the
 * images, a batch larger than the data set allows, bad replica numbers. */
int reader_open(cn_reader **out, const cn_shard_set *set, const cn_reader_opts *opts);
/* The next batch: images [B, rows, cols, C], labels [B] (-1: unlabelled data or padding); count (may be NULL)
 * gets the number of real samples (B except for the last batch of an unshuffled epoch). Advances the cursor.
 * Returns CN_EIO with "PATH: problem" when a shard cannot be read. */
int reader_next(cn_reader *r, float *images, int *labels, int *count);
cn_cursor reader_cursor(const cn_reader *r);
/* Continue from cursor c (drops what was read ahead). */
int reader_seek(cn_reader *r, cn_cursor c);
int64_t reader_steps_per_epoch(const cn_reader *r);
/* The cursor as one number: samples consumed by all replicas together, (epoch * steps + step) * B * R
 * (the same on every rank). reader_seek_samples() takes such a number back (a multiple of B * R). */
uint64_t reader_tell(const cn_reader *r);
int reader_seek_samples(cn_reader *r, uint64_t consumed);
/* Global sample index of slot i of the batch at cursor c, or -1 for padding. */
int64_t reader_sample_at(const cn_reader *r, cn_cursor c, int i);
/* Read the rectangle of one sample (global index) into out [rows, cols, C], normalized. Only for a reader
 * opened without prefetch (the caller's thread is then the reading thread). */
int reader_read_sample(cn_reader *r, int64_t index, float *out);
double reader_wait_seconds(const cn_reader *r); /* seconds the caller waited in reader_next */
double reader_read_seconds(cn_reader *r);       /* seconds spent reading and converting (either thread) */
void reader_close(cn_reader *r);

/* Position p of epoch e's permutation of [0, n): a bijection of [0, n) for every (seed, epoch), computed
 * without state (cycle-walking Feistel network with Philox rounds). epoch < 2^24, n <= 2^34. */
int64_t data_order(uint64_t seed, int64_t epoch, int64_t n, int64_t pos);

#endif
