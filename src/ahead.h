/* ahead.h: a batch source run ahead by a thread. The caller gives a function that fills the batch at a
 * position of the sample stream (a pure function of the position: the synthetic generator); a thread
 * fills up to `depth` batches ahead, at pos, pos + stride, ..., into a ring of buffers, and ahead_next
 * copies the oldest one out. The batches, and their order, are those the caller would have made itself.
 * (Shards have their own read-ahead, io/reader.c, because HDF5 is not thread-safe.) */
#ifndef CN_AHEAD_H
#define CN_AHEAD_H

#include <stddef.h>
#include <stdint.h>

/* Fill x [B, per] and labels [B] with the batch at stream position pos; return the real samples in it. */
typedef int (*cn_fill_fn)(void *ctx, uint64_t pos, float *x, int *labels);

typedef struct cn_ahead cn_ahead;

/* Starts the thread at position pos. Ends the job (cn_fatal) if no thread can be started. */
cn_ahead *ahead_open(cn_fill_fn fill, void *ctx, size_t x_floats, int B, uint64_t pos, uint64_t stride, int depth);
/* The next batch (the one at pos, then pos + stride, ...) copied into x and labels; returns its count.
 * *wait accumulates the seconds spent blocked on the thread. */
int ahead_next(cn_ahead *a, float *x, int *labels, double *wait);
/* Drop what was filled and go on from position pos. */
void ahead_seek(cn_ahead *a, uint64_t pos);
void ahead_close(cn_ahead *a);

#endif
