/* data_sink.c: splitting one split of a data set into shards and accumulating its statistics. */
#include "io/data_sink.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/common.h"

void sink_path(const cn_data_sink *s, int k, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s-%0*d.h5", s->dir, s->prefix, s->digits, k);
}

int sink_open(cn_data_sink *s, const char *dir, const char *prefix, const cn_shard_spec *spec, int64_t shard_size)
{
    memset(s, 0, sizeof *s);
    if (strlen(dir) + strlen(prefix) + 32 > sizeof s->dir)
        return cn_set_error("%s: output directory name too long", dir);
    if (spec->n < 1)
        return cn_set_error("%s/%s: no samples to write", dir, prefix);
    if (shard_size < 0)
        return cn_set_error("--shard-size %lld: must be >= 0", (long long)shard_size);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->spec = *spec;
    s->shard_size = shard_size > 0 && shard_size < spec->n ? shard_size : spec->n;
    int64_t nsh = (spec->n + s->shard_size - 1) / s->shard_size;
    if (nsh > 1000000)
        return cn_set_error("%lld shards of %lld samples: too many, raise --shard-size", (long long)nsh,
                            (long long)s->shard_size);
    s->nshards = (int)nsh;
    s->digits = 3;
    for (int64_t m = 1000; m < nsh; m *= 10)
        s->digits++;
    s->cur = -1;
    return CN_OK;
}

static int next_shard(cn_data_sink *s)
{
    if (s->w) {
        int rc = shard_writer_close(s->w);
        s->w = NULL;
        if (rc != CN_OK)
            return rc;
    }
    s->cur++;
    s->in_cur = 0;
    cn_shard_spec sp = s->spec;
    sp.n = CN_MIN(s->shard_size, s->spec.n - (int64_t)s->cur * s->shard_size);
    char path[640];
    sink_path(s, s->cur, path, sizeof path);
    return shard_writer_open(&s->w, path, &sp);
}

static void add_stats(cn_data_sink *s, int64_t count, const void *images)
{
    size_t n = (size_t)count * (size_t)s->spec.h * (size_t)s->spec.w * (size_t)s->spec.c;
    if (s->spec.dtype == CN_SHARD_U8) {
        const uint8_t *u = images;
        for (size_t i = 0; i < n; i++) {
            s->isum += u[i];
            s->isumsq += (uint64_t)u[i] * u[i];
        }
    } else {
        const float *f = images;
        double a = 0, b = 0; /* partial sums per call keep the rounding small */
        for (size_t i = 0; i < n; i++) {
            a += f[i];
            b += (double)f[i] * f[i];
        }
        s->fsum += a;
        s->fsumsq += b;
    }
}

int sink_put(cn_data_sink *s, int64_t count, const void *images, const int32_t *labels)
{
    if (count > s->spec.n - s->written)
        return cn_set_error("%s/%s: more samples than announced", s->dir, s->prefix);
    size_t sample = (size_t)s->spec.h * (size_t)s->spec.w * (size_t)s->spec.c *
                    (s->spec.dtype == CN_SHARD_U8 ? 1 : sizeof(float));
    const uint8_t *img = images;
    add_stats(s, count, images);
    while (count > 0) {
        if (s->cur < 0 || s->in_cur == CN_MIN(s->shard_size, s->spec.n - (int64_t)s->cur * s->shard_size)) {
            int rc = next_shard(s);
            if (rc != CN_OK)
                return rc;
        }
        int64_t room = CN_MIN(s->shard_size, s->spec.n - (int64_t)s->cur * s->shard_size) - s->in_cur;
        int64_t k = CN_MIN(room, count);
        int rc = shard_writer_put(s->w, k, img, labels);
        if (rc != CN_OK)
            return rc;
        img += (size_t)k * sample;
        if (labels)
            labels += k;
        count -= k;
        s->in_cur += k;
        s->written += k;
    }
    return CN_OK;
}

void sink_stats(const cn_data_sink *s, float *mean, float *std)
{
    double count = (double)s->written * s->spec.h * s->spec.w * s->spec.c;
    double m = 0, v = 0;
    if (count > 0) {
        if (s->spec.dtype == CN_SHARD_U8) {
            m = (double)s->isum / count;
            v = (double)s->isumsq / count - m * m;
        } else {
            m = s->fsum / count;
            v = s->fsumsq / count - m * m;
        }
    }
    *mean = (float)m;
    *std = v > 1e-12 ? (float)sqrt(v) : 1.0f;
}

int sink_close(cn_data_sink *s, float mean, float std)
{
    int rc = CN_OK;
    if (s->w) {
        rc = shard_writer_close(s->w);
        s->w = NULL;
    }
    if (rc == CN_OK && s->written != s->spec.n)
        rc = cn_set_error("%s/%s: %lld of %lld samples written", s->dir, s->prefix, (long long)s->written,
                          (long long)s->spec.n);
    for (int k = 0; k < s->nshards && rc == CN_OK; k++) {
        char path[640];
        sink_path(s, k, path, sizeof path);
        rc = shard_finalize(path, mean, std);
    }
    if (rc != CN_OK)
        sink_abort(s);
    return rc;
}

void sink_abort(cn_data_sink *s)
{
    if (s->w) {
        shard_writer_abort(s->w);
        s->w = NULL;
    }
    for (int k = 0; k < s->nshards; k++) {
        char path[640], partial[660];
        sink_path(s, k, path, sizeof path);
        snprintf(partial, sizeof partial, "%s.partial", path);
        remove(partial);
        remove(path);
    }
}
