/* reader.c: batches of a rank's input window from shards (hyperslab reads), in seeded order, with an
 * optional read-ahead thread.
 *
 * The one design choice to know: with prefetch, the read-ahead thread of src/ahead.c (the ring the
 * synthetic generator uses too) reads batch after batch through read_batch: while it runs it alone calls
 * HDF5 for this reader (opening shards lazily and reading), each call under cn_h5_lock(); the caller's
 * thread only copies finished batches out of the ring, and closes the shards in reader_close() once the
 * thread has stopped. Without prefetch the caller's thread does it all. The ring's position of a batch is
 * its step index, epoch * steps + step. */
#include "io/reader.h"

#include <math.h>
#include <string.h>

#include "io/h5check.h"
#include "src/ahead.h"
#include "src/common.h"
#include "src/rng.h"

#define READER_MAX_OPEN 64  /* shards kept open at once; the least recently used is closed beyond */
#define READER_MAX_PREFETCH 16

typedef struct {
    hid_t file, dset, space; /* H5I_INVALID_HID while closed */
    int64_t used;            /* tick of the last read, for closing the least recently used */
} shard_handle;

struct cn_reader {
    const cn_shard_set *set;
    cn_reader_opts o;
    int rows, cols;
    size_t sample_floats; /* rows * cols * C */
    int64_t steps;        /* steps per epoch */
    shard_handle *fh;     /* [set->nfiles] */
    int nopen;
    int64_t tick;
    hid_t memspace;       /* [rows, cols, C] */
    uint8_t *scratch;     /* [rows, cols, C] for uint8 shards */
    uint64_t next;        /* step index (epoch * steps + step) of the batch reader_next returns next */
    double wait_s, read_s; /* read_s: without prefetch (the ring counts its own) */
    cn_ahead *ahead;      /* the read-ahead thread (prefetch > 0), or NULL */
};

int64_t data_order(uint64_t seed, int64_t epoch, int64_t n, int64_t pos)
{
    if (n <= 1)
        return 0;
    int half = 1;
    while (half < 31 && ((uint64_t)1 << (2 * half)) < (uint64_t)n)
        half++;
    uint64_t mask = ((uint64_t)1 << half) - 1, x = (uint64_t)pos;
    do { /* a 6-round Feistel permutation of [0, 4^half), walked until it lands in [0, n) */
        uint64_t L = x >> half, R = x & mask;
        for (uint64_t round = 0; round < 6; round++) {
            uint32_t w[4];
            philox4x32(seed, CN_STREAM_DATA_ORDER, ((uint64_t)epoch << 40) | (round << 32) | R, w);
            uint64_t F = (((uint64_t)w[1] << 32) | w[0]) & mask;
            uint64_t t = L ^ F;
            L = R;
            R = t;
        }
        x = (L << half) | R;
    } while (x >= (uint64_t)n);
    return (int64_t)x;
}

static cn_cursor cursor_of(const cn_reader *r, uint64_t step_index)
{
    return (cn_cursor){(int64_t)(step_index / (uint64_t)r->steps), (int64_t)(step_index % (uint64_t)r->steps)};
}

int64_t reader_sample_at(const cn_reader *r, cn_cursor c, int i)
{
    int64_t B = r->o.batch, R = r->o.replicas;
    int64_t p = c.step * B * R + (int64_t)i * R + r->o.replica;
    if (i < 0 || i >= B || p >= r->set->n)
        return -1;
    return r->o.shuffle ? data_order(r->o.seed, c.epoch, r->set->n, p) : p;
}

/* --- HDF5 side: only the reading thread runs these (the caller's, or the read-ahead's while it runs), each
 * under cn_h5_lock(): HDF5 itself keeps no state per thread in Debian's build (not thread-safe) --- */

static void close_handle(cn_reader *r, int k)
{
    shard_handle *h = &r->fh[k];
    if (h->file < 0)
        return;
    cn_h5_close(&h->space);
    cn_h5_close(&h->dset);
    cn_h5_close(&h->file);
    r->nopen--;
}

static void close_all(cn_reader *r)
{
    cn_h5_lock();
    for (int k = 0; k < r->set->nfiles; k++)
        close_handle(r, k);
    cn_h5_unlock();
}

static int open_handle(cn_reader *r, int k)
{
    shard_handle *h = &r->fh[k];
    const char *path = r->set->files[k].path;
    if (h->file >= 0)
        return CN_OK;
    if (r->nopen >= READER_MAX_OPEN) {
        int lru = -1;
        for (int j = 0; j < r->set->nfiles; j++)
            if (r->fh[j].file >= 0 && (lru < 0 || r->fh[j].used < r->fh[lru].used))
                lru = j;
        close_handle(r, lru);
    }
    char why[256] = "";
    hsize_t dims[4] = {0, 0, 0, 0};
    h->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h->file >= 0)
        h->dset = H5Dopen2(h->file, "images", H5P_DEFAULT);
    if (h->dset >= 0)
        h->space = H5Dget_space(h->dset);
    if (h->space < 0 || H5Sget_simple_extent_ndims(h->space) != 4 ||
        H5Sget_simple_extent_dims(h->space, dims, NULL) < 0 || dims[0] != (hsize_t)r->set->files[k].n ||
        dims[1] != (hsize_t)r->set->h || dims[2] != (hsize_t)r->set->w || dims[3] != (hsize_t)r->set->c) {
        cn_h5_error_text(why, sizeof why);
        cn_h5_close(&h->space);
        cn_h5_close(&h->dset);
        cn_h5_close(&h->file);
        cn_set_error("%s: cannot reopen /images as validated (%s; was the shard changed?)", path,
                     why[0] ? why : "shape differs");
        return CN_EIO;
    }
    r->nopen++;
    return CN_OK;
}

/* The rectangle of global sample index into dst [rows, cols, C], normalized. */
static int read_rect(cn_reader *r, int64_t index, float *dst)
{
    const cn_shard_set *set = r->set;
    int64_t local;
    int k = shard_set_locate(set, index, &local);
    const cn_shard_file *sf = &set->files[k];
    cn_h5_lock();
    int rc = open_handle(r, k);
    if (rc == CN_OK) {
        shard_handle *h = &r->fh[k];
        h->used = ++r->tick;
        hsize_t start[4] = {(hsize_t)local, (hsize_t)r->o.rect.y0, (hsize_t)r->o.rect.x0, 0};
        hsize_t count[4] = {1, (hsize_t)r->rows, (hsize_t)r->cols, (hsize_t)set->c};
        void *buf = set->dtype == CN_SHARD_U8 ? (void *)r->scratch : (void *)dst;
        hid_t mtype = set->dtype == CN_SHARD_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
        if (H5Sselect_hyperslab(h->space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(h->dset, mtype, r->memspace, h->space, H5P_DEFAULT, buf) < 0) {
            char why[256];
            cn_h5_error_text(why, sizeof why);
            cn_set_error("%s: cannot read sample %lld (%s; the file may be corrupted: make it again)", sf->path,
                         (long long)local, why[0] ? why : "unknown HDF5 error");
            rc = CN_EIO;
        }
    }
    cn_h5_unlock();
    if (rc != CN_OK)
        return rc;
    const float mean = sf->mean, inv = 1.0f / sf->std;
    float nonfinite = 0; /* x * 0 is NaN exactly when x is NaN or infinite: a sum that stays 0 otherwise */
    if (set->dtype == CN_SHARD_U8)
        for (size_t j = 0; j < r->sample_floats; j++) {
            dst[j] = ((float)r->scratch[j] - mean) * inv;
            nonfinite += dst[j] * 0.0f;
        }
    else
        for (size_t j = 0; j < r->sample_floats; j++) {
            dst[j] = (dst[j] - mean) * inv;
            nonfinite += dst[j] * 0.0f;
        }
    if (nonfinite != nonfinite) { /* NaN or infinite values in a float32 shard, or a std too small for its values */
        size_t j = 0;
        while (j < r->sample_floats && isfinite(dst[j]))
            j++;
        cn_set_error("%s: sample %lld holds a value that is not finite after normalization (%g at offset %zu of its "
                     "tile; mean %g, std %g): a damaged shard, make it again", sf->path, (long long)local,
                     (double)dst[j < r->sample_floats ? j : 0], j, (double)mean, (double)sf->std);
        return CN_EIO;
    }
    return CN_OK;
}

/* The batch at step index pos (a cn_fill_fn): returns its real samples, or the error of a shard read. */
static int read_batch(void *ctx, uint64_t pos, float *images, int *labels)
{
    cn_reader *r = ctx;
    cn_cursor c = cursor_of(r, pos);
    int n = 0;
    for (int i = 0; i < r->o.batch; i++) {
        float *dst = images + (size_t)i * r->sample_floats;
        int64_t idx = reader_sample_at(r, c, i);
        labels[i] = -1;
        if (idx < 0) {
            memset(dst, 0, r->sample_floats * sizeof *dst);
            continue;
        }
        int rc = read_rect(r, idx, dst);
        if (rc != CN_OK)
            return rc;
        if (r->set->labels)
            labels[i] = r->set->labels[idx];
        n++;
    }
    return n;
}

/* --- public --- */

int reader_open(cn_reader **out, const cn_shard_set *set, const cn_reader_opts *opts)
{
    *out = NULL;
    const cn_rect q = opts->rect;
    if (!set || set->nfiles < 1 || set->n < 1)
        return cn_set_error("reader: empty data set");
    const char *name = set->files[0].path;
    if (q.y0 < 0 || q.x0 < 0 || q.y1 > set->h || q.x1 > set->w || rect_empty(q))
        return cn_set_error("%s: window rows [%d, %d) columns [%d, %d) does not fit its %dx%d images", name, q.y0,
                            q.y1, q.x0, q.x1, set->h, set->w);
    if (opts->replicas < 1 || opts->replica < 0 || opts->replica >= opts->replicas)
        return cn_set_error("reader: replica %d of %d", opts->replica, opts->replicas);
    if (opts->batch < 1 || opts->prefetch < 0 || opts->prefetch > READER_MAX_PREFETCH)
        return cn_set_error("reader: batch %d or prefetch %d out of range (prefetch 0..%d)", opts->batch,
                            opts->prefetch, READER_MAX_PREFETCH);
    int64_t global = (int64_t)opts->batch * opts->replicas;
    if (opts->shuffle && set->n < global)
        return cn_set_error("%s: the data set has %lld samples, fewer than one global batch (%d x %d replicas)",
                            name, (long long)set->n, opts->batch, opts->replicas);
    size_t sample, batch_floats;
    if (cn_mul_size(&sample, 3, (size_t)rect_rows(q), (size_t)rect_cols(q), (size_t)set->c) != CN_OK ||
        cn_mul_size(&batch_floats, 3, sample, (size_t)opts->batch, sizeof(float)) != CN_OK)
        return cn_set_error("reader: batch of %d windows is too large", opts->batch);

    cn_reader *r = cn_alloc(1, sizeof *r);
    r->set = set;
    r->o = *opts;
    r->rows = rect_rows(q);
    r->cols = rect_cols(q);
    r->sample_floats = sample;
    r->steps = opts->shuffle ? set->n / global : (set->n + global - 1) / global;
    r->fh = cn_alloc((size_t)set->nfiles, sizeof *r->fh);
    for (int k = 0; k < set->nfiles; k++)
        r->fh[k].file = r->fh[k].dset = r->fh[k].space = H5I_INVALID_HID;
    if (set->dtype == CN_SHARD_U8)
        r->scratch = cn_alloc(sample, 1);
    cn_h5_quiet();
    cn_h5_lock();
    hsize_t mdims[3] = {(hsize_t)r->rows, (hsize_t)r->cols, (hsize_t)set->c};
    r->memspace = H5_CHECK(H5Screate_simple(3, mdims, NULL));
    cn_h5_unlock();

    if (opts->prefetch > 0)
        r->ahead = ahead_open(read_batch, r, sample * (size_t)opts->batch, opts->batch, 0, 1, opts->prefetch);
    *out = r;
    return CN_OK;
}

int reader_next(cn_reader *r, float *images, int *labels, int *count)
{
    double t0 = cn_now();
    int n;
    if (r->ahead) {
        n = ahead_next(r->ahead, images, labels, NULL); /* an error stays: every later call reports it */
    } else {
        n = read_batch(r, r->next, images, labels);
        r->read_s += cn_now() - t0;
    }
    if (n >= 0)
        r->next++;
    if (count)
        *count = n < 0 ? 0 : n;
    r->wait_s += cn_now() - t0;
    return n < 0 ? n : CN_OK;
}

cn_cursor reader_cursor(const cn_reader *r) { return cursor_of(r, r->next); }

int64_t reader_steps_per_epoch(const cn_reader *r) { return r->steps; }

int reader_seek(cn_reader *r, cn_cursor c)
{
    if (c.epoch < 0 || c.epoch >= ((int64_t)1 << 24) || c.step < 0 || c.step >= r->steps)
        return cn_set_error("reader: cursor (epoch %lld, step %lld) outside this data set's %lld steps per epoch "
                            "(a different data set, batch or replica count than the saved run?)",
                            (long long)c.epoch, (long long)c.step, (long long)r->steps);
    r->next = (uint64_t)c.epoch * (uint64_t)r->steps + (uint64_t)c.step;
    if (r->ahead)
        ahead_seek(r->ahead, r->next);
    return CN_OK;
}

uint64_t reader_tell(const cn_reader *r) { return r->next * (uint64_t)r->o.batch * (uint64_t)r->o.replicas; }

int reader_seek_samples(cn_reader *r, uint64_t consumed)
{
    uint64_t global = (uint64_t)r->o.batch * (uint64_t)r->o.replicas;
    if (consumed % global != 0)
        return cn_set_error("reader: cursor %llu is not a multiple of the global batch %llu (batch %d x %d "
                            "replicas): a different batch or replica count than the saved run?",
                            (unsigned long long)consumed, (unsigned long long)global, r->o.batch, r->o.replicas);
    return reader_seek(r, cursor_of(r, consumed / global));
}

int reader_read_sample(cn_reader *r, int64_t index, float *out)
{
    if (r->ahead)
        return cn_set_error("reader_read_sample: only for a reader without prefetch");
    if (index < 0 || index >= r->set->n)
        return cn_set_error("reader_read_sample: index %lld outside [0, %lld)", (long long)index,
                            (long long)r->set->n);
    return read_rect(r, index, out);
}

double reader_wait_seconds(const cn_reader *r) { return r->wait_s; }

double reader_read_seconds(cn_reader *r) { return r->ahead ? ahead_fill_seconds(r->ahead) : r->read_s; }

void reader_close(cn_reader *r)
{
    if (!r)
        return;
    ahead_close(r->ahead); /* the thread has stopped: its shards are closed here */
    close_all(r);
    cn_h5_lock();
    cn_h5_close(&r->memspace);
    cn_h5_unlock();
    cn_free(r->scratch);
    cn_free(r->fh);
    cn_free(r);
}
