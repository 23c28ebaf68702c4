/* info.c: `cotsnet info`: what a checkpoint or a shard holds (see info.h).
 *
 * The file's kind comes from its root attribute `format`; nothing else is trusted. Shapes are only
 * printed, never used to allocate, except by --verify, which reads one chunk at a time into a buffer
 * whose size is checked first. Shards are validated by io/shard.h, the same code the reader uses. */
#include "io/info.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5check.h"
#include "io/shard.h"
#include "src/dev_tune.h"
#include "src/common.h"
#include "src/train.h"

#define CKPT_FORMAT "cotsnet-checkpoint"
#define MAX_DATASETS 4096
#define MAX_VERIFY_CHUNK ((size_t)1 << 30) /* bytes of one chunk that --verify agrees to read */

static int fail(const char *path, const char *fmt, ...) CN_PRINTF(2, 3);
static int fail(const char *path, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cotsnet: error: info: %s: ", path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* ---- attributes ------------------------------------------------------------------------------ */

/* Every attribute of obj as "name = value" (scalars and short arrays of numbers, text). */
static herr_t print_attr(hid_t obj, const char *name, const H5A_info_t *ainfo, void *data)
{
    (void)ainfo;
    (void)data;
    char text[200];
    long long iv;
    if (cn_h5_attr_text(obj, name, text, sizeof text) == 0) {
        printf("  attribute %-10s \"%s%s\"\n", name, text, strlen(text) + 1 >= sizeof text ? "..." : "");
        return 0;
    }
    if (cn_h5_attr_int(obj, name, &iv) == 0) {
        printf("  attribute %-10s %lld\n", name, iv);
        return 0;
    }
    double v;
    if (cn_h5_attr_num(obj, name, &v) == 0) /* an integer was printed above: a floating-point number */
        printf("  attribute %-10s %.9g\n", name, v);
    else
        printf("  attribute %-10s (not a scalar number or text)\n", name);
    return 0;
}

/* The value of [section] key in a job's text, the last --set override (stored as comment lines
 * "; section.key=value" after the file) winning. 0 found, -1 not there. */
static int job_text_value(const char *text, const char *section, const char *key, char *out, size_t len)
{
    char cur[64] = "", line[1024], ov[160];
    int found = -1;
    snprintf(ov, sizeof ov, "%s.%s", section, key);
    while (text && *text) {
        size_t n = strcspn(text, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), text);
        text += n + (text[n] == '\n');
        char *p = line + strspn(line, " \t\r");
        if (*p == ';' || *p == '#') { /* a comment, or an override "; section.key=value" */
            p += 1 + strspn(p + 1, " \t");
            size_t k = strlen(ov);
            if (strncmp(p, ov, k) || p[k] != '=')
                continue;
            p += k + 1;
        } else if (*p == '[') {
            size_t m = strcspn(p + 1, "]");
            snprintf(cur, sizeof cur, "%.*s", (int)(m < sizeof cur ? m : sizeof cur - 1), p + 1);
            continue;
        } else {
            size_t k = strcspn(p, "= \t");
            if (strcmp(cur, section) || strlen(key) != k || strncmp(p, key, k))
                continue;
            p += k + strspn(p + k, " \t");
            if (*p != '=')
                continue;
            p++;
            char *c = strstr(p, " ;"); /* inline comment */
            if (c)
                *c = '\0';
        }
        p += strspn(p, " \t");
        size_t e = strlen(p);
        while (e && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r'))
            e--;
        snprintf(out, len, "%.*s", (int)e, p);
        found = 0;
    }
    return found;
}

/* ---- datasets -------------------------------------------------------------------------------- */

typedef struct {
    int n;
    char *names[MAX_DATASETS]; /* "/group/dataset" */
} dslist;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    dslist *l = data;
    if (info->type != H5L_TYPE_HARD || l->n >= MAX_DATASETS)
        return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0)
        return 0;
    if (H5Iget_type(o) == H5I_DATASET) {
        size_t len = strlen(name) + 2;
        l->names[l->n] = cn_alloc(len, 1);
        snprintf(l->names[l->n], len, "/%s", name);
        l->n++;
    }
    H5Oclose(o);
    return 0;
}

static void dslist_free(dslist *l)
{
    for (int i = 0; i < l->n; i++)
        cn_free(l->names[i]);
    l->n = 0;
}

static const char *type_name(hid_t t, char *buf, size_t len)
{
    H5T_class_t c = H5Tget_class(t);
    size_t bits = 8 * H5Tget_size(t);
    if (c == H5T_FLOAT)
        snprintf(buf, len, "float%zu", bits);
    else if (c == H5T_INTEGER)
        snprintf(buf, len, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
    else if (c == H5T_STRING)
        snprintf(buf, len, "string");
    else
        snprintf(buf, len, "class%d", (int)c);
    return buf;
}

static void dims_text(char *buf, size_t len, int rank, const hsize_t *d)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* A parameter or an optimizer state tensor (checkpoints name the latter after the optimizer). */
static int is_state(const char *name) { return strstr(name, "momentum") || strstr(name, "adagrad_sum"); }

typedef struct {
    hid_t ds, type, space, dcpl;
    int rank, chunked;
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    unsigned long long count; /* elements; ULLONG_MAX-ish when it overflows */
    int overflow;
} dsinfo;

static void ds_close(dsinfo *d)
{
    cn_h5_close(&d->dcpl);
    cn_h5_close(&d->space);
    cn_h5_close(&d->type);
    cn_h5_close(&d->ds);
}

static int ds_open(hid_t file, const char *name, dsinfo *d)
{
    memset(d, 0, sizeof *d);
    d->ds = d->type = d->space = d->dcpl = H5I_INVALID_HID;
    if ((d->ds = H5Dopen2(file, name, H5P_DEFAULT)) < 0 || (d->type = H5Dget_type(d->ds)) < 0 ||
        (d->space = H5Dget_space(d->ds)) < 0 || (d->dcpl = H5Dget_create_plist(d->ds)) < 0)
        return -1;
    d->rank = H5Sget_simple_extent_ndims(d->space);
    if (d->rank < 0 || d->rank > H5S_MAX_RANK || H5Sget_simple_extent_dims(d->space, d->dims, NULL) < 0)
        return -1;
    d->count = 1;
    for (int i = 0; i < d->rank; i++) {
        if (d->dims[i] && d->count > ~0ull / d->dims[i])
            d->overflow = 1;
        d->count *= d->dims[i];
    }
    d->chunked = H5Pget_layout(d->dcpl) == H5D_CHUNKED && H5Pget_chunk(d->dcpl, d->rank, d->chunk) == d->rank;
    return 0;
}

static void filters_text(hid_t dcpl, char *buf, size_t len)
{
    int n = H5Pget_nfilters(dcpl);
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < len; i++) {
        unsigned flags, cd[8], conf;
        size_t ncd = 8;
        char name[64] = "";
        H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &conf);
        const char *s = f == H5Z_FILTER_FLETCHER32 ? "fletcher32" : f == H5Z_FILTER_DEFLATE ? "deflate"
                      : f == H5Z_FILTER_SHUFFLE    ? "shuffle"    : name[0] ? name : "filter";
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "+" : "", s);
    }
    if (n <= 0)
        snprintf(buf, len, "none");
}

/* One row per dataset. Sums the elements of parameters and of optimizer state (checkpoints). */
static int print_datasets(const char *path, hid_t file, const dslist *l, int ckpt, unsigned long long *params,
                          unsigned long long *state)
{
    printf("  %-28s %-24s %-8s %-20s %-11s %12s\n", "dataset", "shape", "type", "chunk", "filters", "values");
    for (int i = 0; i < l->n; i++) {
        dsinfo d;
        char shape[128], chunk[128], type[32], filt[64];
        if (ds_open(file, l->names[i], &d)) {
            ds_close(&d);
            return fail(path, "%s: cannot read its shape or type (corrupted metadata?)", l->names[i]);
        }
        dims_text(shape, sizeof shape, d.rank, d.dims);
        if (d.chunked)
            dims_text(chunk, sizeof chunk, d.rank, d.chunk);
        else
            snprintf(chunk, sizeof chunk, "contiguous");
        filters_text(d.dcpl, filt, sizeof filt);
        const char *kind = !ckpt ? "" : is_state(l->names[i]) ? " state" : " param";
        printf("  %-28s %-24s %-8s %-20s %-11s %12llu%s%s\n", l->names[i], shape, type_name(d.type, type, sizeof type),
               chunk, filt, d.count, d.overflow ? " (overflows)" : "", kind);
        if (ckpt)
            *(is_state(l->names[i]) ? state : params) += d.count;
        ds_close(&d);
    }
    return 0;
}

/* Read every chunk of one dataset through the filter pipeline (checksums verified). 0 ok, 1 corrupted. */
static int verify_dataset(const char *path, hid_t file, const char *name, unsigned long long *chunks)
{
    dsinfo d;
    hid_t mt = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    void *buf = NULL;
    int rc = 0;
    if (ds_open(file, name, &d)) {
        fail(path, "%s: cannot open it (corrupted metadata?)", name);
        rc = 1;
        goto out;
    }
    H5T_class_t c = H5Tget_class(d.type);
    if (!d.chunked || d.count == 0 || (c != H5T_FLOAT && c != H5T_INTEGER))
        goto out; /* nothing checksummed to read */
    mt = H5Tget_native_type(d.type, H5T_DIR_ASCEND);
    size_t bytes = mt < 0 ? 0 : H5Tget_size(mt);
    for (int i = 0; i < d.rank; i++)
        if (!d.chunk[i] || cn_mul_size(&bytes, 2, bytes, (size_t)d.chunk[i]) != CN_OK)
            bytes = 0;
    if (bytes == 0 || bytes > MAX_VERIFY_CHUNK) {
        fprintf(stderr, "cotsnet: error: info: %s: %s: chunks of %zu bytes: too large to verify\n", path, name, bytes);
        rc = 1;
        goto out;
    }
    buf = cn_alloc(bytes, 1);
    hsize_t idx[H5S_MAX_RANK] = {0}, start[H5S_MAX_RANK], count[H5S_MAX_RANK];
    for (;;) {
        for (int i = 0; i < d.rank; i++) {
            start[i] = idx[i] * d.chunk[i];
            count[i] = CN_MIN(d.chunk[i], d.dims[i] - start[i]);
        }
        ms = H5Screate_simple(d.rank, count, NULL);
        if (ms < 0 || H5Sselect_hyperslab(d.space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d.ds, mt, ms, d.space, H5P_DEFAULT, buf) < 0) {
            char why[200], at[128];
            cn_h5_error_text(why, sizeof why);
            dims_text(at, sizeof at, d.rank, start);
            fprintf(stderr, "cotsnet: error: info: %s: %s: the chunk at %s cannot be read: the file is corrupted (%s)\n",
                    path, name, at, why[0] ? why : "checksum mismatch or truncated data");
            rc = 1;
            goto out;
        }
        cn_h5_close(&ms);
        (*chunks)++;
        int i = d.rank - 1;
        for (; i >= 0; i--) { /* next chunk, last dimension fastest */
            if ((idx[i] + 1) * d.chunk[i] < d.dims[i]) {
                idx[i]++;
                break;
            }
            idx[i] = 0;
        }
        if (i < 0)
            break;
    }
out:
    cn_free(buf);
    cn_h5_close(&ms);
    cn_h5_close(&mt);
    ds_close(&d);
    return rc;
}

static int verify_all(const char *path, hid_t file, const dslist *l)
{
    unsigned long long chunks = 0;
    for (int i = 0; i < l->n; i++)
        if (verify_dataset(path, file, l->names[i], &chunks))
            return 1;
    printf("  verified     %llu chunks of %d datasets read back, checksums ok\n", chunks, l->n);
    return 0;
}

/* ---- the two kinds of file --------------------------------------------------------------------- */

static const char *phase_name(long long p)
{
    switch (p) {
    case PHASE_RICA: return "rica";
    case PHASE_HEAD: return "head";
    case PHASE_FINETUNE: return "finetune";
    case PHASE_DONE: return "done";
    default: return "unknown";
    }
}

static int describe_ckpt(const char *path, hid_t file, const dslist *l, long long fsize, int verify)
{
    long long version = -1, step = -1, phase = -1, stage = -1, pstep = -1, cursor = -1, epoch = -1, seed = -1;
    long long classes = -1, stages = -1;
    char grid[64], build[128], name[128];
    cn_h5_attr_int(file, "version", &version);
    printf("%s: cotsnet checkpoint, format version %lld\n", path, version);
    if (cn_h5_attr_int(file, "step", &step) || cn_h5_attr_int(file, "phase", &phase) || cn_h5_attr_int(file, "stage", &stage) ||
        cn_h5_attr_int(file, "phase_step", &pstep) || cn_h5_attr_int(file, "sample_cursor", &cursor))
        return fail(path, "a checkpoint without its training cursor (step, phase, stage, phase_step, sample_cursor)");
    cn_h5_attr_int(file, "epoch", &epoch);
    cn_h5_attr_int(file, "seed", &seed);
    cn_h5_attr_int(file, "classes", &classes);
    cn_h5_attr_int(file, "stages", &stages);
    if (cn_h5_attr_text(file, "grid", grid, sizeof grid))
        snprintf(grid, sizeof grid, "unknown");
    if (cn_h5_attr_text(file, "build", build, sizeof build))
        snprintf(build, sizeof build, "unknown");
    size_t jlen = 0;
    char *job = NULL;
    hid_t a = H5Aexists(file, "job") > 0 ? H5Aopen(file, "job", H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t t = a < 0 ? H5I_INVALID_HID : H5Aget_type(a);
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0)
        jlen = H5Tget_size(t);
    cn_h5_close(&t);
    cn_h5_close(&a);
    if (jlen > 0 && jlen <= ((size_t)1 << 24)) {
        job = cn_alloc(jlen + 1, 1);
        if (cn_h5_attr_text(file, "job", job, jlen + 1))
            job[0] = '\0';
    }
    if (!job || job_text_value(job, "run", "name", name, sizeof name))
        snprintf(name, sizeof name, "%s", job && job[0] ? "cotsnet (the default)" : "unknown (no job text)");
    printf("  job          %s, seed %lld, job text %zu bytes\n", name, seed, job ? strlen(job) : (size_t)0);
    cn_free(job);
    if (phase == PHASE_RICA)
        printf("  step         %lld: phase rica, stage %lld, %lld steps into the stage\n", step, stage + 1, pstep);
    else
        printf("  step         %lld: phase %s, %lld steps into the phase\n", step, phase_name(phase), pstep);
    printf("  data         sample cursor %lld, epoch %lld\n", cursor, epoch);
    printf("  network      %lld stages, %lld classes\n", stages, classes);
    printf("  written on   grid %s (replicas x rows x cols), build %s\n", grid, build);
    char tiles[CN_LF_TILES_TEXT];
    if (cn_h5_attr_text(file, "lf_tiles", tiles, sizeof tiles) == 0)
        printf("  lf tiles     %s (COTSNET_CUDA_LF_TILES=auto's choice per stage: forward, backward data, backward "
               "filter)\n", tiles);
    unsigned long long params = 0, state = 0;
    if (print_datasets(path, file, l, 1, &params, &state))
        return 2;
    printf("  parameters   %llu (optimizer state: %llu more values)\n", params, state);
    printf("  file size    %lld bytes\n", fsize);
    return verify ? verify_all(path, file, l) : 0;
}

static int describe_shard(const char *path, hid_t *file, const dslist *l, int verify)
{
    long long version = -1;
    cn_h5_attr_int(*file, "version", &version);
    printf("%s: cotsnet shard, format version %lld\n", path, version);
    H5Aiterate2(*file, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attr, NULL);
    unsigned long long unused = 0;
    if (print_datasets(path, *file, l, 0, &unused, &unused))
        return 2;
    if (verify && verify_all(path, *file, l))
        return 1;
    cn_h5_close(file);
    /* the reader's own validation: what training would say about this file */
    cn_shard_set set;
    if (shard_set_open(&set, path, 0) != CN_OK) {
        fprintf(stderr, "cotsnet: error: info: %s\n", cn_last_error());
        return 1;
    }
    printf("  valid        %lld samples of %dx%dx%d %s, %s", (long long)set.n, set.h, set.w, set.c,
           shard_dtype_name(set.dtype), set.has_labels ? "labelled" : "no labels");
    if (set.has_labels)
        printf(" (%d classes)", set.classes);
    printf(", normalization (u - %g) / %g\n", (double)set.files[0].mean, (double)set.files[0].std);
    shard_set_free(&set);
    return 0;
}

static int describe(const char *path, int verify)
{
    struct stat st;
    if (stat(path, &st))
        return fail(path, "no such file");
    if (!S_ISREG(st.st_mode))
        return fail(path, "not a regular file");
    int rc = 0;
    dslist *l = cn_alloc(1, sizeof *l);
    cn_h5_lock();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        char why[200];
        cn_h5_error_text(why, sizeof why);
        rc = fail(path, "not a readable HDF5 file (%s)", why[0] ? why : "open failed");
        goto out;
    }
    char format[64];
    int arc = cn_h5_attr_text(file, "format", format, sizeof format);
    if (arc == -2) {
        char why[200];
        cn_h5_error_text(why, sizeof why);
        rc = fail(path, "the attributes of / cannot be read: the file is corrupted (%s)", why[0] ? why : "?");
        goto out;
    }
    if (arc) {
        rc = fail(path, "an HDF5 file, but neither a cotsnet checkpoint nor a shard (no format attribute)");
        goto out;
    }
    int ckpt = !strcmp(format, CKPT_FORMAT);
    if (!ckpt && strcmp(format, CN_SHARD_FORMAT)) {
        rc = fail(path, "an HDF5 file of format \"%s\": neither a cotsnet checkpoint nor a shard", format);
        goto out;
    }
    if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, collect, l) < 0) {
        rc = fail(path, "cannot list its datasets (corrupted metadata?)");
        goto out;
    }
    rc = ckpt ? describe_ckpt(path, file, l, (long long)st.st_size, verify) : describe_shard(path, &file, l, verify);
out:
    cn_h5_close(&file);
    cn_h5_unlock();
    dslist_free(l);
    cn_free(l);
    fflush(stdout);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cotsnet info [--verify] FILE...\n"
               "\n"
               "Describes checkpoints (step, phase, the grid they were written on, every dataset with its shape\n"
               "and parameter count) and data shards (samples, image size and type, labels, normalization).\n"
               "  --verify   also read every chunk back and check its Fletcher-32 checksum\n"
               "Exit status: 0 described, 1 a file is corrupted, 2 bad command line or a file that is not\n"
               "a cotsnet checkpoint or shard.\n");
}

int cmd_info(int argc, char **argv)
{
    int verify = 0, nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--verify")) {
            verify = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cotsnet: error: info: unknown option '%s' (see cotsnet info --help)\n", argv[i]);
            return 2;
        }
    }
    cn_h5_quiet();
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        nfiles++;
        int r = describe(argv[i], verify);
        rc = CN_MAX(rc, r);
    }
    if (!nfiles) {
        fprintf(stderr, "cotsnet: error: info: no file given (usage: cotsnet info [--verify] FILE...)\n");
        return 2;
    }
    return rc;
}
