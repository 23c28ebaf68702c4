/* data_sink.h: where `cotsnet data` sources put their samples: one split of a data set (train or test)
 * written as DIR/PREFIX-000.h5, DIR/PREFIX-001.h5, ... with at most shard_size samples each, while the
 * normalization statistics (mean and std of every stored value) are accumulated. Shards stay
 * PATH.partial until sink_close() knows the statistics and finalizes them all (io/shard.h). */
#ifndef CN_DATA_SINK_H
#define CN_DATA_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "io/shard.h"

typedef struct {
    char dir[512], prefix[32];
    cn_shard_spec spec;       /* spec.n = samples of the whole split */
    int64_t shard_size;       /* samples per shard */
    int nshards, digits;      /* shard count, digits in their numbers (sorted order = sample order) */
    int cur;                  /* shard being written */
    int64_t in_cur, written;  /* samples in it, samples in all */
    cn_shard_writer *w;
    uint64_t isum, isumsq;    /* uint8 sums (exact) */
    double fsum, fsumsq;      /* float32 sums */
} cn_data_sink;

/* spec->n samples in total; shard_size 0 = one shard. */
int sink_open(cn_data_sink *s, const char *dir, const char *prefix, const cn_shard_spec *spec, int64_t shard_size);
/* Append count samples (images of spec's type [count, H, W, C], labels [count] or NULL). */
int sink_put(cn_data_sink *s, int64_t count, const void *images, const int32_t *labels);
/* Mean and population std of every value put so far (std 1 when the values are all equal). */
void sink_stats(const cn_data_sink *s, float *mean, float *std);
/* Close the last shard and finalize every shard with (mean, std). */
int sink_close(cn_data_sink *s, float mean, float std);
/* Remove every shard of this split, finished or not (after a failure). */
void sink_abort(cn_data_sink *s);
/* Path of shard k. */
void sink_path(const cn_data_sink *s, int k, char *buf, size_t len);

#endif
