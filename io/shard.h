/* shard.h: HDF5 data shards, written by `cotsnet data` and read by io/reader.c.
 *
 * A shard (docs/DATA.md) holds /images [N, H, W, C] uint8 or float32 (NHWC), optionally /labels [N]
 * int32, and root attributes format = "cotsnet-shard", version = 1, source (text), mean and std (float:
 * the data set's normalization, in the stored units: a value u becomes (u - mean) / std), and classes
 * (int, where labels exist). /images is chunked [1, min(H,64), min(W,64), C] so that a rank's tile is read
 * without reading whole images. A data set is a list of shards, matched by a glob(3) pattern and taken in
 * sorted path order; its global sample index runs through the files in that order.
 *
 * Opening validates everything a reader relies on, every shape before anything is allocated, and reports
 * the first problem as one line "PATH: problem" (cn_last_error), returning CN_EINVAL or CN_EIO.
 *
 * Writing is done under the name PATH.partial; shard_finalize() stores mean and std, then renames the file
 * to PATH, so a crash never leaves a shard that looks complete. */
#ifndef CN_SHARD_H
#define CN_SHARD_H

#include <stdint.h>

#define CN_SHARD_FORMAT "cotsnet-shard"
#define CN_SHARD_VERSION 1

enum { CN_SHARD_U8 = 0, CN_SHARD_F32 = 1 };

/* Limits checked on open, before allocating anything a file declares. */
#define CN_SHARD_MAX_SIDE 65536            /* H and W */
#define CN_SHARD_MAX_CHANNELS 4096         /* C */
#define CN_SHARD_MAX_SAMPLES ((int64_t)1 << 34) /* N, per file and per data set */
#define CN_SHARD_MAX_CLASSES (1 << 24)

/* What a new shard will hold. */
typedef struct {
    int64_t n;          /* samples */
    int h, w, c;        /* image size */
    int dtype;          /* CN_SHARD_U8 or CN_SHARD_F32 */
    int has_labels;     /* write /labels */
    int classes;        /* number of classes (attribute "classes"); 0 = not recorded */
    const char *source; /* text for the "source" attribute */
} cn_shard_spec;

typedef struct cn_shard_writer cn_shard_writer;

/* Create PATH.partial with the datasets and the identification attributes. */
int shard_writer_open(cn_shard_writer **out, const char *path, const cn_shard_spec *spec);
/* Append count samples: images [count, H, W, C] of the shard's type, labels [count] (NULL without labels). */
int shard_writer_put(cn_shard_writer *w, int64_t count, const void *images, const int32_t *labels);
/* Close PATH.partial (every one of the n samples must have been put); frees w in every case. */
int shard_writer_close(cn_shard_writer *w);
/* Close and delete PATH.partial after a failure; frees w. */
void shard_writer_abort(cn_shard_writer *w);
/* Store mean and std on PATH.partial and rename it to PATH. */
int shard_finalize(const char *path, float mean, float std);
/* All of the above for samples already in memory. */
int shard_write(const char *path, const cn_shard_spec *spec, const void *images, const int32_t *labels,
                float mean, float std);

typedef struct {
    char *path;
    int64_t n;       /* samples in this file */
    int64_t first;   /* global index of its first sample */
    float mean, std; /* its normalization */
} cn_shard_file;

typedef struct {
    int nfiles;
    cn_shard_file *files; /* [nfiles], sorted by path */
    int64_t n;            /* samples in all files */
    int h, w, c;          /* image size, the same in every file */
    int dtype;            /* CN_SHARD_U8 or CN_SHARD_F32, the same in every file */
    int has_labels;       /* every file has /labels (all or none) */
    int classes;          /* labels lie in [0, classes); 0 when unlabelled */
    int32_t *labels;      /* [n] global labels, NULL when unlabelled */
    char source[256];     /* "source" attribute of the first file */
} cn_shard_set;

/* Open and validate every shard matching pattern (a glob; a plain path is a one-file pattern).
 * classes > 0: labels must lie in [0, classes) (the job's class count); classes = 0: the files' own
 * "classes" attribute is used when present, and labels must at least be >= 0. */
int shard_set_open(cn_shard_set *set, const char *pattern, int classes);
void shard_set_free(cn_shard_set *set);
/* The file holding global sample index (0 <= index < set->n), and its index in that file. */
int shard_set_locate(const cn_shard_set *set, int64_t index, int64_t *local);
const char *shard_dtype_name(int dtype);

#endif
