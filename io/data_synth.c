/* data_synth.c: a synthetic, learnable, seeded data set of any image size.
 *
 * Sample = class template + sample nuisance + pixel noise, every number drawn from Philox (src/rng.h,
 * stream CN_STREAM_SYNTHETIC), so a sample is a pure function of (seed, classes, size, split, index):
 *   label      uniform in [0, classes)
 *   template   per class and channel, the sum of 4 smooth gratings sin(2 pi (fy y/H + fx x/W) + phase),
 *              |fy|, |fx| <= 3 cycles per image, amplitudes in [0.5, 1]
 *   nuisance   per sample, 2 gratings shared by the channels (|f| <= 4), and a contrast s in [0.7, 1.3]
 *   noise      per value, uniform in [-1, 1]
 *   value      clamp(0.5 + 0.12 * (s * template/2 + 0.6 * nuisance/sqrt(2) + 0.35 * noise), 0, 1)
 * stored as round(255 * value) (uint8) or value (float32); sines and cosines from src/vmath.h (the same
 * bits on every CPU). The class is visible everywhere in the image,
 * so a locally connected network (or a nearest-class-mean classifier) learns it from any tile.
 *
 * Philox counter layout (index word): bits 60..63 region (0 sample, 1 noise, 2 template), bit 59 split,
 * sample index in bits 24..58 (noise) or 8..58 (sample), the rest numbers the draws. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/data_sink.h"
#include "io/data_sources.h"
#include "src/common.h"
#include "src/rng.h"
#include "src/vmath.h"

#define R_SAMPLE ((uint64_t)0 << 60)
#define R_NOISE ((uint64_t)1 << 60)
#define R_TEMPLATE ((uint64_t)2 << 60)
#define SYNTH_MAX_VALUES ((size_t)1 << 27) /* h*w*c: 2^24 noise draws of 8 values */
#define SYNTH_MAX_INDEX ((int64_t)1 << 35)
#define TWO_PI 6.283185307179586

static double unit(uint32_t w) { return ((double)w + 0.5) * (1.0 / 4294967296.0); }

/* Add amp * sin(2 pi (fy y/h + fx x/w) + ph) to g [h, w] (separable: sin(a + b) = sin a cos b + cos a sin b). */
static void add_grating(double *g, int h, int w, double fy, double fx, double ph, double amp, double *tmp)
{
    double *sy = tmp, *cy = tmp + h, *sx = tmp + 2 * h, *cx = tmp + 2 * h + w;
    for (int y = 0; y < h; y++) /* the angles first, then their sines and cosines (src/vmath.h) */
        sy[y] = TWO_PI * fy * y / h + ph;
    for (int x = 0; x < w; x++)
        sx[x] = TWO_PI * fx * x / w;
    vm_span(VM_COS, sy, cy, h);
    vm_span(VM_SIN, sy, sy, h);
    vm_span(VM_COS, sx, cx, w);
    vm_span(VM_SIN, sx, sx, w);
    for (int y = 0; y < h; y++) {
        sy[y] *= amp;
        cy[y] *= amp;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            g[(size_t)y * w + x] += sy[y] * cx[x] + cy[y] * sx[x];
}

int synth_sample(uint64_t seed, int classes, int h, int w, int c, int split, int64_t index, float *out, int *label)
{
    size_t hw = (size_t)h * (size_t)w;
    if (classes < 1 || h < 1 || w < 1 || c < 1 || hw > SYNTH_MAX_VALUES || hw * (size_t)c > SYNTH_MAX_VALUES ||
        index < 0 || index >= SYNTH_MAX_INDEX || (split != 0 && split != 1))
        return cn_set_error("synthetic: %dx%dx%d, %d classes, sample %lld: out of range (h*w*c <= %zu)", h, w, c,
                            classes, (long long)index, SYNTH_MAX_VALUES);
    const uint64_t sp = (uint64_t)split << 59, st = CN_STREAM_SYNTHETIC;
    uint32_t r[4];
    philox4x32(seed, st, R_SAMPLE | sp | (uint64_t)index << 8, r);
    int k = (int)(((uint64_t)r[0] * (uint64_t)classes) >> 32);
    double contrast = 0.7 + 0.6 * unit(r[1]);
    *label = k;

    double *plane = cn_alloc(hw, sizeof *plane), *nuis = cn_alloc(hw, sizeof *nuis);
    double *tmp = cn_alloc(2 * (size_t)h + 2 * (size_t)w, sizeof *tmp);
    for (uint64_t j = 0; j < 2; j++) {
        philox4x32(seed, st, R_SAMPLE | sp | (uint64_t)index << 8 | (1 + j), r);
        add_grating(nuis, h, w, 8 * unit(r[0]) - 4, 8 * unit(r[1]) - 4, TWO_PI * unit(r[2]), 0.6 / sqrt(2.0), tmp);
    }
    for (int ch = 0; ch < c; ch++) {
        memcpy(plane, nuis, hw * sizeof *plane);
        for (uint64_t j = 0; j < 4; j++) {
            philox4x32(seed, st, R_TEMPLATE | (uint64_t)k << 24 | (uint64_t)ch << 8 | j, r);
            double amp = contrast * (0.5 + 0.5 * unit(r[3])) / 2;
            add_grating(plane, h, w, 6 * unit(r[0]) - 3, 6 * unit(r[1]) - 3, TWO_PI * unit(r[2]), amp, tmp);
        }
        for (size_t p = 0; p < hw; p++)
            out[p * (size_t)c + (size_t)ch] = (float)plane[p];
    }
    size_t nv = hw * (size_t)c;
    for (size_t b = 0; b * 8 < nv; b++) {
        philox4x32(seed, st, R_NOISE | sp | (uint64_t)index << 24 | b, r);
        for (size_t q = 0; q < 8 && b * 8 + q < nv; q++) {
            uint32_t half = (r[q / 2] >> (16 * (q % 2))) & 0xFFFFu;
            double noise = ((double)half + 0.5) / 32768.0 - 1.0;
            double v = 0.5 + 0.12 * (out[b * 8 + q] + 0.35 * noise);
            out[b * 8 + q] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
    }
    cn_free(tmp);
    cn_free(nuis);
    cn_free(plane);
    return CN_OK;
}

static int write_split(const cn_data_opts *o, int split, int64_t n, cn_data_sink *sink)
{
    char source[256];
    snprintf(source, sizeof source, "synthetic %s split: %lld samples %dx%dx%d, %d classes, seed %llu",
             split ? "test" : "train", (long long)n, o->h, o->w, o->c, o->classes, (unsigned long long)o->seed);
    cn_shard_spec spec = {n, o->h, o->w, o->c, o->float32 ? CN_SHARD_F32 : CN_SHARD_U8, 1, o->classes, source};
    int rc = sink_open(sink, o->out, split ? "test" : "train", &spec, o->shard_size);
    if (rc != CN_OK)
        return rc;
    size_t vals = (size_t)o->h * (size_t)o->w * (size_t)o->c;
    int64_t block = CN_MAX((int64_t)1, (int64_t)(((size_t)1 << 22) / vals));
    float *f = cn_alloc((size_t)block * vals, sizeof *f);
    uint8_t *u = o->float32 ? NULL : cn_alloc((size_t)block * vals, 1);
    int32_t *lab = cn_alloc((size_t)block, sizeof *lab);
    for (int64_t i = 0; i < n && rc == CN_OK; i += block) {
        int64_t k = CN_MIN(block, n - i);
        int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : bad)
        for (int64_t j = 0; j < k; j++) {
            int label;
            bad |= synth_sample(o->seed, o->classes, o->h, o->w, o->c, split, i + j, f + (size_t)j * vals, &label);
            lab[j] = label;
        }
        if (bad) {
            rc = cn_set_error("synthetic: %dx%dx%d images, sample %lld: out of range", o->h, o->w, o->c,
                              (long long)i);
            break;
        }
        if (u)
            for (size_t q = 0; q < (size_t)k * vals; q++)
                u[q] = (uint8_t)lrintf(255.0f * f[q]);
        rc = sink_put(sink, k, u ? (const void *)u : (const void *)f, lab);
    }
    cn_free(lab);
    cn_free(u);
    cn_free(f);
    if (rc != CN_OK)
        sink_abort(sink);
    return rc;
}

int data_synth(const cn_data_opts *o)
{
    if (o->nfiles > 0)
        return cn_set_error("synthetic: takes no files (got %s)", o->files[0]);
    if (o->classes < 1 || o->classes > CN_SHARD_MAX_CLASSES)
        return cn_set_error("synthetic: --classes %d out of range (1..%d)", o->classes, CN_SHARD_MAX_CLASSES);
    if ((size_t)o->h * (size_t)o->w * (size_t)o->c > SYNTH_MAX_VALUES)
        return cn_set_error("synthetic: %dx%dx%d images are larger than %zu values", o->h, o->w, o->c,
                            SYNTH_MAX_VALUES);
    int64_t n = o->n > 0 ? o->n : 1000;
    int64_t test_n = o->test_n >= 0 ? o->test_n : CN_MAX((int64_t)1, n / 5);
    if (n >= SYNTH_MAX_INDEX || test_n >= SYNTH_MAX_INDEX)
        return cn_set_error("synthetic: at most %lld samples per split", (long long)SYNTH_MAX_INDEX - 1);
    cn_data_sink train, test;
    int rc = write_split(o, 0, n, &train);
    if (rc != CN_OK)
        return rc;
    float mean, std;
    sink_stats(&train, &mean, &std);
    if ((rc = sink_close(&train, mean, std)) != CN_OK)
        return rc;
    if (!o->quiet)
        printf("synthetic: %d shard%s %s/train-*.h5: %lld samples %dx%dx%d %s, %d classes, mean %.4f std %.4f\n",
               train.nshards, train.nshards > 1 ? "s" : "", o->out, (long long)n, o->h, o->w, o->c,
               o->float32 ? "float32" : "uint8", o->classes, (double)mean, (double)std);
    if (test_n == 0)
        return CN_OK;
    if ((rc = write_split(o, 1, test_n, &test)) == CN_OK)
        rc = sink_close(&test, mean, std);
    if (rc != CN_OK) {
        sink_abort(&train);
        return rc;
    }
    if (!o->quiet)
        printf("synthetic: %d shard%s %s/test-*.h5: %lld samples (train normalization)\n", test.nshards,
               test.nshards > 1 ? "s" : "", o->out, (long long)test_n);
    return CN_OK;
}
