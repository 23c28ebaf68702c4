/* data_png.c: seeded random patches of PNG photographs (the `images` source; no labels).
 *
 * Arguments are PNG files or directories (their *.png, sorted). Each patch picks a photograph with
 * probability proportional to its number of patch positions, (H - P + 1) * (W - P + 1), then a position
 * uniformly: every pixel position of the collection is equally likely. Draws come from Philox (stream
 * CN_STREAM_SYNTHETIC, region 3 of the index word), so the patches are a function of the seed and the file
 * list. Each photograph is decoded once (libpng's simplified API, to RGB or gray, 8 bits) and its patches are
 * written together: the shard holds them grouped by photograph, the reader's permutation mixes them. Files
 * smaller than a patch are skipped with a note. */
#include <glob.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/data_sink.h"
#include "io/data_sources.h"
#include "src/common.h"
#include "src/rng.h"

#define R_PATCH ((uint64_t)3 << 60)
#define PNG_MAX_PIXELS ((size_t)1 << 26) /* 8192 x 8192 */

typedef struct {
    char **path;
    int n, cap;
} path_list;

static void list_add(path_list *l, const char *p)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **np = cn_alloc((size_t)cap, sizeof *np);
        if (l->n)
            memcpy(np, l->path, (size_t)l->n * sizeof *np);
        cn_free(l->path);
        l->path = np;
        l->cap = cap;
    }
    size_t len = strlen(p) + 1;
    l->path[l->n] = cn_alloc(len, 1);
    memcpy(l->path[l->n++], p, len);
}

static void list_free(path_list *l)
{
    for (int i = 0; i < l->n; i++)
        cn_free(l->path[i]);
    cn_free(l->path);
}

static int collect(path_list *l, char *const *args, int nargs)
{
    for (int a = 0; a < nargs; a++) {
        struct stat st;
        if (stat(args[a], &st) != 0)
            return cn_set_error("%s: no such file or directory", args[a]);
        if (!S_ISDIR(st.st_mode)) {
            list_add(l, args[a]);
            continue;
        }
        char pat[1100];
        snprintf(pat, sizeof pat, "%s/*.[pP][nN][gG]", args[a]);
        glob_t g;
        int rc = glob(pat, 0, NULL, &g);
        if (rc == GLOB_NOMATCH)
            return cn_set_error("%s: directory holds no .png file", args[a]);
        if (rc != 0)
            return cn_set_error("%s: cannot list the directory", args[a]);
        for (size_t i = 0; i < g.gl_pathc; i++)
            list_add(l, g.gl_pathv[i]);
        globfree(&g);
    }
    if (l->n == 0)
        return cn_set_error("images: give PNG files or directories of them");
    return CN_OK;
}

/* Header only: width and height. */
static int png_size(const char *path, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return cn_set_error("%s: not a readable PNG (%s)", path, im.message);
    *w = (int)im.width;
    *h = (int)im.height;
    png_image_free(&im);
    if ((size_t)*w * (size_t)*h > PNG_MAX_PIXELS)
        return cn_set_error("%s: %dx%d pixels, larger than %zu", path, *w, *h, PNG_MAX_PIXELS);
    return CN_OK;
}

static uint8_t *png_decode(const char *path, int c, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) {
        cn_set_error("%s: not a readable PNG (%s)", path, im.message);
        return NULL;
    }
    if ((size_t)im.width * im.height > PNG_MAX_PIXELS) {
        png_image_free(&im);
        cn_set_error("%s: too large", path);
        return NULL;
    }
    im.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    uint8_t *buf = cn_alloc(PNG_IMAGE_SIZE(im), 1);
    if (!png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        cn_set_error("%s: cannot decode (%s)", path, im.message);
        png_image_free(&im);
        cn_free(buf);
        return NULL;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return buf;
}

/* Write k patches (uint8, or converted to float32 in [0, 1] when fp is given). */
static int put_block(cn_data_sink *sink, const uint8_t *patches, float *fp, int k, size_t pv)
{
    if (!fp)
        return sink_put(sink, k, patches, NULL);
    for (size_t q = 0; q < (size_t)k * pv; q++)
        fp[q] = patches[q] / 255.0f;
    return sink_put(sink, k, fp, NULL);
}

int data_png(const cn_data_opts *o)
{
    const int P = o->h, Q = o->w, C = o->c;
    if (C != 1 && C != 3)
        return cn_set_error("images: %d channels; patches have 1 (gray) or 3 (RGB)", C);
    int64_t n = o->n > 0 ? o->n : 10000;
    path_list files = {0};
    int rc = collect(&files, o->files, o->nfiles);
    double *cum = NULL;
    int *pick = NULL;
    int64_t *first = NULL, *order = NULL;
    uint8_t *patches = NULL;
    float *fp = NULL;
    cn_data_sink sink;
    int sink_opened = 0;
    if (rc != CN_OK)
        goto out;

    /* Number of patch positions of every file; 0 for those smaller than a patch. */
    cum = cn_alloc((size_t)files.n, sizeof *cum);
    double total = 0;
    for (int f = 0; f < files.n; f++) {
        int w = 0, h = 0;
        if ((rc = png_size(files.path[f], &w, &h)) != CN_OK)
            goto out;
        if (h < P || w < Q) {
            if (!o->quiet)
                fprintf(stderr, "cotsnet data: note: %s (%dx%d) is smaller than a %dx%d patch: skipped\n",
                        files.path[f], w, h, P, Q);
        } else {
            total += (double)(h - P + 1) * (double)(w - Q + 1);
        }
        cum[f] = total;
    }
    if (total == 0) {
        rc = cn_set_error("images: no file is as large as a %dx%d patch", P, Q);
        goto out;
    }
    pick = cn_alloc((size_t)n, sizeof *pick);
    for (int64_t i = 0; i < n; i++) {
        double u = rng_uniform(o->seed, CN_STREAM_SYNTHETIC, R_PATCH | (uint64_t)i << 2) * total;
        int lo = 0, hi = files.n - 1;
        while (lo < hi) { /* first file with cum > u */
            int mid = (lo + hi) / 2;
            if (cum[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        pick[i] = lo;
    }

    char source[512];
    snprintf(source, sizeof source, "images: %lld random %dx%dx%d patches of %d PNG file%s (first %s), seed %llu",
             (long long)n, P, Q, C, files.n, files.n > 1 ? "s" : "", files.path[0], (unsigned long long)o->seed);
    cn_shard_spec spec = {n, P, Q, C, o->float32 ? CN_SHARD_F32 : CN_SHARD_U8, 0, 0, source};
    if ((rc = sink_open(&sink, o->out, "train", &spec, o->shard_size)) != CN_OK)
        goto out;
    sink_opened = 1;
    size_t pv = (size_t)P * Q * C;
    const int block = (int)CN_MAX((size_t)1, ((size_t)1 << 22) / pv);
    patches = cn_alloc((size_t)block * pv, 1);
    if (o->float32)
        fp = cn_alloc((size_t)block * pv, sizeof *fp);
    /* Group the sample numbers by file (counting sort), so each file is decoded once. */
    first = cn_alloc((size_t)files.n + 1, sizeof *first);
    order = cn_alloc((size_t)n, sizeof *order);
    for (int64_t i = 0; i < n; i++)
        first[pick[i] + 1]++;
    for (int f = 0; f < files.n; f++)
        first[f + 1] += first[f];
    for (int64_t i = 0; i < n; i++)
        order[first[pick[i]]++] = i;
    for (int f = files.n; f > 0; f--)
        first[f] = first[f - 1];
    first[0] = 0;
    int k = 0;
    for (int f = 0; f < files.n && rc == CN_OK; f++) {
        if (first[f] == first[f + 1])
            continue;
        int w = 0, h = 0;
        uint8_t *img = png_decode(files.path[f], C, &w, &h);
        if (!img) {
            rc = CN_EIO;
            break;
        }
        if (h < P || w < Q) { /* changed since its header was read */
            cn_free(img);
            rc = cn_set_error("%s: now %dx%d, smaller than a patch", files.path[f], w, h);
            break;
        }
        for (int64_t j = first[f]; j < first[f + 1] && rc == CN_OK; j++) {
            uint32_t r[4];
            philox4x32(o->seed, CN_STREAM_SYNTHETIC, R_PATCH | (uint64_t)order[j] << 2 | 1, r);
            int y = (int)(((uint64_t)r[0] * (uint64_t)(h - P + 1)) >> 32);
            int x = (int)(((uint64_t)r[1] * (uint64_t)(w - Q + 1)) >> 32);
            uint8_t *dst = patches + (size_t)k * pv;
            for (int yy = 0; yy < P; yy++)
                memcpy(dst + (size_t)yy * Q * C, img + ((size_t)(y + yy) * w + x) * C, (size_t)Q * C);
            if (++k == block || j == n - 1) { /* a full block, or the very last patch */
                rc = put_block(&sink, patches, fp, k, pv);
                k = 0;
            }
        }
        cn_free(img);
    }
    if (rc == CN_OK) {
        float mean, std;
        sink_stats(&sink, &mean, &std);
        sink_opened = 0;
        rc = sink_close(&sink, mean, std);
        if (rc == CN_OK && !o->quiet)
            printf("images: %d shard%s %s/train-*.h5: %lld patches %dx%dx%d %s from %d files, mean %.4f std %.4f\n",
                   sink.nshards, sink.nshards > 1 ? "s" : "", o->out, (long long)n, P, Q, C,
                   o->float32 ? "float32" : "uint8", files.n, (double)mean, (double)std);
    }
out:
    if (rc != CN_OK && sink_opened)
        sink_abort(&sink);
    cn_free(fp);
    cn_free(patches);
    cn_free(order);
    cn_free(first);
    cn_free(pick);
    cn_free(cum);
    list_free(&files);
    return rc;
}
