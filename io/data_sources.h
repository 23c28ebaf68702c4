/* data_sources.h: the sources `cotsnet data` turns into shards (docs/DATA.md).
 *
 *   fashion-mnist / mnist  the four idx .gz files of a directory -> train-*.h5, test-*.h5 (28x28x1 uint8)
 *   images                 seeded random P x P patches of PNG photographs -> train-*.h5, no labels
 *   synthetic              seeded class templates plus noise, any size -> train-*.h5, test-*.h5
 *
 * Each returns CN_OK, or an error with one line in cn_last_error() after removing what it wrote. */
#ifndef CN_DATA_SOURCES_H
#define CN_DATA_SOURCES_H

#include <stdint.h>

typedef struct {
    const char *out;       /* output directory (exists) */
    int64_t n;             /* training samples; 0 = the source's default (all, for the idx sources) */
    int64_t test_n;        /* test samples; -1 = the source's default */
    int h, w, c;           /* image or patch size (synthetic, images) */
    int classes;           /* synthetic */
    uint64_t seed;
    int64_t shard_size;    /* samples per shard, 0 = one shard per split */
    int float32;           /* store float32 values in [0, 1] instead of uint8 */
    char *const *files;    /* positional arguments */
    int nfiles;
    int quiet;             /* no progress lines */
} cn_data_opts;

int data_fmnist(const cn_data_opts *o, const char *name);
int data_png(const cn_data_opts *o);
int data_synth(const cn_data_opts *o);

/* An idx file (gzip or plain): images (3 dimensions, magic 0x803) or labels (1 dimension, 0x801), at most
 * limit items (limit <= 0: all). *data [count * rows * cols] is malloc'ed (free with cn_free); rows = cols = 1
 * for labels. The buffer grows with the bytes actually read: a header that lies costs no more than the file. */
int idx_read(const char *path, int ndims, int64_t limit, uint8_t **data, int64_t *count, int *rows, int *cols);

/* One synthetic sample, a pure function of its arguments: out [h, w, c] in [0, 1], label in [0, classes).
 * split 0 = train, 1 = test (different samples, same class templates). */
int synth_sample(uint64_t seed, int classes, int h, int w, int c, int split, int64_t index, float *out, int *label);

#endif
