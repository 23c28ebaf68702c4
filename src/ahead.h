/* ahead.h: a batch source run ahead by a thread: the one read-ahead of cotsnet, for the synthetic
 * generator on the GPU backend (src/data.c) and for the shard reader (io/reader.c).
 *
 * The caller gives a function that fills the batch at a position of its stream (a pure function of the
 * position: the generator, or the reader at step epoch * steps + step); a thread fills up to `depth`
 * batches ahead, at pos, pos + stride, ..., into a ring of buffers, and ahead_next copies the oldest one
 * out. The batches, and their order, are those the caller would have made itself, errors included: a fill
 * that fails is handed to ahead_next in its place, and the thread fills nothing more until a seek. */
#ifndef CN_AHEAD_H
#define CN_AHEAD_H

#include <stddef.h>
#include <stdint.h>

/* Fill x [B, per] and labels [B] with the batch at stream position pos; return the real samples in it, or
 * a negative CN_ error with its line in cn_last_error() (on the thread that calls it). */
typedef int (*cn_fill_fn)(void *ctx, uint64_t pos, float *x, int *labels);

typedef struct cn_ahead cn_ahead;

/* Starts the thread at position pos. Ends the job (cn_fatal) if no thread can be started. */
cn_ahead *ahead_open(cn_fill_fn fill, void *ctx, size_t x_floats, int B, uint64_t pos, uint64_t stride, int depth);
/* The next batch (the one at pos, then pos + stride, ...) copied into x and labels; returns its count. A
 * failed fill returns its error and line (cn_last_error) instead, at this call and every later one until
 * a seek. *wait (unless wait is NULL) accumulates the seconds spent blocked on the thread. */
int ahead_next(cn_ahead *a, float *x, int *labels, double *wait);
/* Drop what was filled (and an error) and go on from position pos. */
void ahead_seek(cn_ahead *a, uint64_t pos);
/* Seconds the thread has spent in the fill function, dropped batches included. */
double ahead_fill_seconds(cn_ahead *a);
/* Stops the thread (also while it waits for space) and frees the ring. */
void ahead_close(cn_ahead *a);

#endif
