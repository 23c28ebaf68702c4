/* cmd_data.c: the `cotsnet data` command: parse the options, prepare the output directory, run a source.
 *
 * A single-process job (plain HDF5). Shards already in DIR (train-*, test-*) are refused unless --force
 * removes them first, so a data set never mixes shards from two runs. */
#include "io/cmd_data.h"

#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/data_sources.h"
#include "src/common.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cotsnet data SOURCE --out DIR [options] [FILES...]\n"
            "\n"
            "Makes HDF5 shards DIR/train-000.h5, ... and DIR/test-000.h5, ... (docs/DATA.md).\n"
            "\n"
            "sources:\n"
            "  fashion-mnist [DIR]  the four idx .gz files in DIR (default /usr/share/datasets/fashion-mnist):\n"
            "                       60000 train and 10000 test samples, 28x28x1, 10 classes\n"
            "  mnist DIR            the same for MNIST's idx files\n"
            "  images FILES|DIRS    random patches of PNG photographs (no labels; train split only)\n"
            "  synthetic            seeded class templates plus noise, any size (learnable labels)\n"
            "\n"
            "options:\n"
            "  --out DIR            output directory (created if missing)\n"
            "  --n N                training samples: the first N (idx sources; default all), patches\n"
            "                       (images; default 10000), samples (synthetic; default 1000)\n"
            "  --test-n N           test samples (idx: default all; synthetic: default n/5); 0: no test split\n"
            "  --size HxWxC         image size (synthetic; default 32x32x3) or patch size (images)\n"
            "  --patch P            images: P x P patches (default 32)\n"
            "  --channels C         images: 3 (RGB, default) or 1 (gray)\n"
            "  --classes K          synthetic: classes (default 10)\n"
            "  --seed S             seed of every random choice (default 1)\n"
            "  --shard-size N       samples per shard (default 0: one shard per split)\n"
            "  --float32            store float32 values in [0, 1] instead of uint8 0..255\n"
            "  --force              replace the train-* and test-* shards already in DIR\n"
            "  --quiet              no progress lines\n"
            "  --help               this text\n"
            "\n"
            "Every shard stores the training split's mean and std; readers compute (u - mean) / std.\n");
}

static int bad(const char *fmt, ...) CN_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cotsnet: error: data: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see cotsnet data --help)\n");
    return 2;
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char range[96];
        snprintf(range, sizeof range, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
        fprintf(stderr, "cotsnet: error: data: %s %s: expected %s (see cotsnet data --help)\n", opt, s, range);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_size(const char *s, int *h, int *w, int *c)
{
    char *e1, *e2, *e3;
    errno = 0;
    long a = strtol(s, &e1, 10);
    if (*e1 != 'x')
        return -1;
    long b = strtol(e1 + 1, &e2, 10);
    if (*e2 != 'x')
        return -1;
    long d = strtol(e2 + 1, &e3, 10);
    if (errno || *e3 || a < 1 || b < 1 || d < 1 || a > 65536 || b > 65536 || d > 4096)
        return -1;
    *h = (int)a;
    *w = (int)b;
    *c = (int)d;
    return 0;
}

/* Create dir if missing; refuse (or with force, remove) shards already there. */
static int prepare_out(const char *dir, int force)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (cn_mkdirs(dir) != 0)
            return cn_set_error("%s: cannot create the output directory (%s)", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return cn_set_error("%s: exists and is not a directory", dir);
    }
    const char *pats[2] = {"train-*.h5*", "test-*.h5*"};
    for (int p = 0; p < 2; p++) {
        char pat[1100];
        snprintf(pat, sizeof pat, "%s/%s", dir, pats[p]);
        glob_t g;
        if (glob(pat, 0, NULL, &g) != 0)
            continue;
        int rc = CN_OK;
        for (size_t i = 0; i < g.gl_pathc && rc == CN_OK; i++) {
            if (!force)
                rc = cn_set_error("%s exists: use --force to replace the shards in %s, or another --out", g.gl_pathv[i],
                                  dir);
            else if (remove(g.gl_pathv[i]) != 0)
                rc = cn_set_error("%s: cannot remove (%s)", g.gl_pathv[i], strerror(errno));
        }
        globfree(&g);
        if (rc != CN_OK)
            return rc;
    }
    return CN_OK;
}

int cmd_data(int argc, char **argv)
{
    cn_data_opts o = {0};
    o.test_n = -1;
    o.h = o.w = 32;
    o.c = 3;
    o.classes = 10;
    o.seed = 1;
    const char *source = NULL;
    int force = 0, patch = 0, channels = 0, have_size = 0, have_classes = 0;
    char **files = cn_alloc((size_t)(argc > 0 ? argc : 1), sizeof *files);
    int nfiles = 0, rc = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char name[64];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (a[0] == '-') {
                rc = bad("unknown option '%s'", a);
                goto done;
            }
            if (!source)
                source = a;
            else
                files[nfiles++] = argv[i];
            continue;
        }
        /* --name value or --name=value */
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) {
            rc = bad("unknown option '%s'", a);
            goto done;
        }
        memcpy(name, a, len);
        name[len] = '\0';
        int flag = !strcmp(name, "--float32") || !strcmp(name, "--force") || !strcmp(name, "--quiet");
        if (flag) {
            if (eq) {
                rc = bad("%s takes no value", name);
                goto done;
            }
        } else if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            rc = bad("%s needs a value", name);
            goto done;
        }
        int64_t v;
        if (!strcmp(name, "--float32")) {
            o.float32 = 1;
        } else if (!strcmp(name, "--force")) {
            force = 1;
        } else if (!strcmp(name, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(name, "--out")) {
            o.out = val;
        } else if (!strcmp(name, "--n")) {
            if (parse_i64(name, val, 1, (int64_t)1 << 34, &v))
                goto done;
            o.n = v;
        } else if (!strcmp(name, "--test-n")) {
            if (parse_i64(name, val, 0, (int64_t)1 << 34, &v))
                goto done;
            o.test_n = v;
        } else if (!strcmp(name, "--size")) {
            if (parse_size(val, &o.h, &o.w, &o.c)) {
                rc = bad("--size %s: expected HxWxC, e.g. 200x200x3", val);
                goto done;
            }
            have_size = 1;
        } else if (!strcmp(name, "--patch")) {
            if (parse_i64(name, val, 1, 65536, &v))
                goto done;
            patch = (int)v;
        } else if (!strcmp(name, "--channels")) {
            if (parse_i64(name, val, 1, 3, &v))
                goto done;
            channels = (int)v;
        } else if (!strcmp(name, "--classes")) {
            if (parse_i64(name, val, 1, 1 << 24, &v))
                goto done;
            o.classes = (int)v;
            have_classes = 1;
        } else if (!strcmp(name, "--seed")) {
            if (parse_i64(name, val, 0, INT64_MAX, &v))
                goto done;
            o.seed = (uint64_t)v;
        } else if (!strcmp(name, "--shard-size")) {
            if (parse_i64(name, val, 0, (int64_t)1 << 34, &v))
                goto done;
            o.shard_size = v;
        } else {
            rc = bad("unknown option '%s'", name);
            goto done;
        }
    }
    if (!source) {
        rc = bad("no source given (fashion-mnist, mnist, images, synthetic)");
        goto done;
    }
    if (!o.out) {
        rc = bad("%s: --out DIR is required", source);
        goto done;
    }
    int is_idx = !strcmp(source, "fashion-mnist") || !strcmp(source, "mnist");
    int is_png = !strcmp(source, "images"), is_syn = !strcmp(source, "synthetic");
    if (!is_idx && !is_png && !is_syn) {
        rc = bad("unknown source '%s' (fashion-mnist, mnist, images, synthetic)", source);
        goto done;
    }
    if ((patch || channels) && !is_png) {
        rc = bad("--patch and --channels are for the images source, not %s", source);
        goto done;
    }
    if (is_png) {
        if (patch && have_size) {
            rc = bad("give --patch or --size, not both");
            goto done;
        }
        if (patch)
            o.h = o.w = patch;
        if (channels)
            o.c = channels;
    }
    if (have_classes && !is_syn) {
        rc = bad("--classes is for the synthetic source (%s has its own labels)", source);
        goto done;
    }
    if (is_png && o.test_n >= 0) {
        rc = bad("images makes a train split only: --test-n does not apply");
        goto done;
    }
    if (is_idx && have_size) {
        rc = bad("%s images are 28x28x1: --size does not apply", source);
        goto done;
    }
    if (!strcmp(source, "mnist") && nfiles == 0) {
        rc = bad("mnist: give the directory of its idx .gz files");
        goto done;
    }
    o.files = files;
    o.nfiles = nfiles;

    double t0 = cn_now();
    int err = prepare_out(o.out, force);
    if (err == CN_OK)
        err = is_idx ? data_fmnist(&o, source) : is_png ? data_png(&o) : data_synth(&o);
    if (err != CN_OK) {
        fprintf(stderr, "cotsnet: error: data: %s\n", cn_last_error());
        rc = 1;
        goto done;
    }
    if (!o.quiet)
        printf("data: %s done in %.2f s\n", source, cn_now() - t0);
    rc = 0;
done:
    cn_free(files);
    return rc;
}
