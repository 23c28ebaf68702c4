/* data_fmnist.c: Fashion-MNIST (or MNIST) idx files to shards.
 *
 * The four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
 * t10k-labels-idx1-ubyte.gz are read with zlib (gzread also reads them uncompressed). Magic numbers, counts
 * and sizes are checked before anything is allocated. Mean and std are those of the (possibly limited)
 * training set and are stored in both splits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/data_sink.h"
#include "io/data_sources.h"
#include "src/common.h"

#define IDX_MAX_ITEMS 100000000
#define IDX_MAX_SIDE 4096
#define IDX_MAX_BYTES ((size_t)1 << 34)

/* Read n bytes into buf; offset and total (bytes of this part before buf, and in all) only word messages. */
static int gz_read_all(gzFile g, const char *path, uint8_t *buf, size_t n, size_t offset, size_t total,
                       const char *what)
{
    size_t done = 0;
    while (done < n) {
        unsigned want = (unsigned)CN_MIN(n - done, (size_t)1 << 30);
        int got = gzread(g, buf + done, want);
        if (got < 0) {
            int err;
            const char *msg = gzerror(g, &err);
            return cn_set_error("%s: cannot read %s (%s)", path, what, err == Z_ERRNO ? strerror(errno) : msg);
        }
        if (got == 0)
            return cn_set_error("%s: truncated: %zu of %zu bytes of %s", path, offset + done, total, what);
        done += (size_t)got;
    }
    return CN_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int idx_read(const char *path, int ndims, int64_t limit, uint8_t **data, int64_t *count, int *rows, int *cols)
{
    *data = NULL;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return cn_set_error("%s: cannot open (%s)", path, errno ? strerror(errno) : "out of memory");
    uint8_t hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndims;
    int rc = gz_read_all(g, path, hdr, hlen, 0, hlen, "the idx header");
    if (rc != CN_OK)
        goto out;
    uint32_t magic = be32(hdr), want = 0x800u | (uint32_t)ndims;
    if (magic != want) {
        rc = cn_set_error("%s: idx magic 0x%08x, expected 0x%08x (unsigned bytes, %d dimension%s)", path, magic, want,
                          ndims, ndims > 1 ? "s" : "");
        goto out;
    }
    uint32_t n = be32(hdr + 4), r = ndims == 3 ? be32(hdr + 8) : 1, c = ndims == 3 ? be32(hdr + 12) : 1;
    if (n < 1 || n > IDX_MAX_ITEMS || r < 1 || r > IDX_MAX_SIDE || c < 1 || c > IDX_MAX_SIDE) {
        rc = cn_set_error("%s: idx sizes %u x %u x %u out of range", path, n, r, c);
        goto out;
    }
    int64_t take = limit > 0 && limit < (int64_t)n ? limit : (int64_t)n;
    size_t bytes = (size_t)take * r * c;
    if (bytes > IDX_MAX_BYTES) {
        rc = cn_set_error("%s: %lld items of %ux%u bytes: more than %llu bytes", path, (long long)take, r, c,
                          (unsigned long long)IDX_MAX_BYTES);
        goto out;
    }
    /* The buffer grows with the data actually read, so a header that lies costs no more than the file. */
    size_t cap = CN_MIN(bytes, (size_t)1 << 24), done = 0;
    if (!(*data = malloc(cap)))
        cn_fatal("out of memory reading %s (%zu bytes)", path, cap);
    while (rc == CN_OK && done < bytes) {
        if (done == cap) {
            cap = CN_MIN(bytes, 2 * cap);
            uint8_t *grown = realloc(*data, cap);
            if (!grown)
                cn_fatal("out of memory reading %s (%zu bytes)", path, cap);
            *data = grown;
        }
        rc = gz_read_all(g, path, *data + done, cap - done, done, bytes, ndims == 3 ? "images" : "labels");
        done = cap;
    }
    if (rc != CN_OK)
        goto out;
    *count = take;
    *rows = (int)r;
    *cols = (int)c;
out:
    gzclose(g);
    if (rc != CN_OK) {
        cn_free(*data);
        *data = NULL;
    }
    return rc;
}

/* Read one split (images and labels), check it, write its shards. */
static int load_split(const char *dir, const char *stem, int64_t limit, uint8_t **img, int32_t **lab, int64_t *n,
                      int *rows, int *cols)
{
    char ip[1024], lp[1024];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    uint8_t *l8 = NULL;
    int64_t nl;
    int one, one2;
    int rc = idx_read(ip, 3, limit, img, n, rows, cols);
    if (rc == CN_OK)
        rc = idx_read(lp, 1, limit, &l8, &nl, &one, &one2);
    if (rc == CN_OK && nl != *n)
        rc = cn_set_error("%s: %lld labels for %lld images in %s", lp, (long long)nl, (long long)*n, ip);
    if (rc != CN_OK) {
        cn_free(*img);
        cn_free(l8);
        *img = NULL;
        return rc;
    }
    *lab = cn_alloc((size_t)*n, sizeof **lab);
    for (int64_t i = 0; i < *n; i++) {
        if (l8[i] > 9) {
            rc = cn_set_error("%s: label %d of item %lld outside [0, 10)", lp, l8[i], (long long)i);
            break;
        }
        (*lab)[i] = l8[i];
    }
    cn_free(l8);
    if (rc != CN_OK) {
        cn_free(*img);
        cn_free(*lab);
        *img = NULL;
        *lab = NULL;
    }
    return rc;
}

static int write_split(const cn_data_opts *o, const char *prefix, const char *source, const uint8_t *img,
                       const int32_t *lab, int64_t n, int rows, int cols, cn_data_sink *sink, int final,
                       float mean, float std)
{
    cn_shard_spec spec = {n, rows, cols, 1, o->float32 ? CN_SHARD_F32 : CN_SHARD_U8, 1, 10, source};
    int rc = sink_open(sink, o->out, prefix, &spec, o->shard_size);
    if (rc != CN_OK)
        return rc;
    size_t px = (size_t)rows * cols;
    int64_t block = CN_MAX((int64_t)1, ((int64_t)1 << 22) / (int64_t)px);
    float *fbuf = o->float32 ? cn_alloc((size_t)block * px, sizeof(float)) : NULL;
    for (int64_t i = 0; i < n && rc == CN_OK; i += block) {
        int64_t k = CN_MIN(block, n - i);
        const void *src = img + (size_t)i * px;
        if (fbuf) {
            for (size_t j = 0; j < (size_t)k * px; j++)
                fbuf[j] = img[(size_t)i * px + j] / 255.0f;
            src = fbuf;
        }
        rc = sink_put(sink, k, src, lab + i);
    }
    cn_free(fbuf);
    if (rc != CN_OK) {
        sink_abort(sink);
        return rc;
    }
    if (!final)
        return CN_OK; /* closed by the caller once the statistics are known */
    return sink_close(sink, mean, std);
}

int data_fmnist(const cn_data_opts *o, const char *name)
{
    const char *dir = o->nfiles > 0 ? o->files[0] : "/usr/share/datasets/fashion-mnist";
    if (o->nfiles > 1)
        return cn_set_error("%s: takes one directory (the four idx .gz files), got %d arguments", name, o->nfiles);
    uint8_t *img = NULL;
    int32_t *lab = NULL;
    int64_t n;
    int rows, cols;
    char source[640];
    cn_data_sink train, test;

    int rc = load_split(dir, "train", o->n, &img, &lab, &n, &rows, &cols);
    if (rc != CN_OK)
        return rc;
    snprintf(source, sizeof source, "%s train split, %lld samples, from %s", name, (long long)n, dir);
    rc = write_split(o, "train", source, img, lab, n, rows, cols, &train, 0, 0, 0);
    cn_free(img);
    cn_free(lab);
    if (rc != CN_OK)
        return rc;
    float mean, std;
    sink_stats(&train, &mean, &std);
    rc = sink_close(&train, mean, std);
    if (rc != CN_OK)
        return rc;
    if (!o->quiet)
        printf("%s: %d shard%s %s/train-*.h5: %lld samples %dx%dx1 %s, mean %.4f std %.4f\n", name, train.nshards,
               train.nshards > 1 ? "s" : "", o->out, (long long)n, rows, cols, o->float32 ? "float32" : "uint8",
               (double)mean, (double)std);
    if (o->test_n == 0)
        return CN_OK;

    rc = load_split(dir, "t10k", o->test_n, &img, &lab, &n, &rows, &cols);
    if (rc == CN_OK) {
        snprintf(source, sizeof source, "%s test split, %lld samples, from %s", name, (long long)n, dir);
        rc = write_split(o, "test", source, img, lab, n, rows, cols, &test, 1, mean, std);
        cn_free(img);
        cn_free(lab);
    }
    if (rc != CN_OK) {
        sink_abort(&train);
        return rc;
    }
    if (!o->quiet)
        printf("%s: %d shard%s %s/test-*.h5: %lld samples (train normalization)\n", name, test.nshards,
               test.nshards > 1 ? "s" : "", o->out, (long long)n);
    return CN_OK;
}
