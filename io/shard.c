/* shard.c: opening and validating a data set of shards (a glob of HDF5 files).
 *
 * Two passes: the first opens every file and checks its attributes, dataset ranks, types and shapes
 * against the limits and against the first file, without allocating anything the file declares; the
 * second, once the total size is known and bounded, reads the labels and checks their range. The first
 * problem found ends the open with one line "PATH: problem". */
#include "io/shard.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5check.h"

typedef struct {
    int64_t n;
    int h, w, c, dtype, has_labels, classes;
    float mean, std;
    char source[256];
} shard_header;

const char *shard_dtype_name(int dtype) { return dtype == CN_SHARD_U8 ? "uint8" : "float32"; }

/* Open dataset name with the given rank; its dims go to dims. 1 ok, 0 missing, < 0 error. */
static int open_dataset(const char *path, hid_t f, const char *name, int rank, hsize_t *dims, hid_t *out)
{
    *out = H5I_INVALID_HID;
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return cn_set_error("%s: /%s is not a readable dataset", path, name);
    hid_t s = H5Dget_space(d);
    int r = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    if (r != rank) {
        cn_h5_close(&s);
        cn_h5_close(&d);
        return cn_set_error("%s: /%s has rank %d, expected %d (%s)", path, name, r, rank,
                            rank == 4 ? "[N, H, W, C]" : "[N]");
    }
    H5_CHECK(H5Sget_simple_extent_dims(s, dims, NULL));
    cn_h5_close(&s);
    *out = d;
    return 1;
}

/* A file cannot make us allocate much more than it holds: the bytes stored for a dataset must be at least
 * its raw size / CN_MAX_RATIO (no compression filter reaches zlib's ~1032:1), and not 0. */
#define CN_MAX_RATIO 1100.0
static int check_stored(const char *path, hid_t d, const char *name, double raw)
{
    double stored = (double)H5Dget_storage_size(d);
    if (stored <= 0 || stored * CN_MAX_RATIO < raw)
        return cn_set_error("%s: /%s stores %.0f bytes for %.0f bytes of values (truncated or unfinished file?)",
                            path, name, stored, raw);
    return CN_OK;
}

static int read_header(const char *path, hid_t f, shard_header *h)
{
    char text[256];
    double v;
    int rc;
    hid_t d = H5I_INVALID_HID, t = H5I_INVALID_HID;
    const char *partial = strstr(path, ".partial") ? " (an unfinished shard: its writer stopped)" : "";

    if ((rc = cn_h5_attr_text_checked(path, f, "format", text, sizeof text)) <= 0)
        return rc < 0 ? rc : cn_set_error("%s: attribute format missing: not a cotsnet shard", path);
    if (strcmp(text, CN_SHARD_FORMAT) != 0)
        return cn_set_error("%s: format is \"%s\", expected \"%s\"", path, text, CN_SHARD_FORMAT);
    if ((rc = cn_h5_attr_num_checked(path, f, "version", &v)) <= 0)
        return rc < 0 ? rc : cn_set_error("%s: attribute version missing", path);
    if (v != CN_SHARD_VERSION)
        return cn_set_error("%s: shard version %g, this cotsnet reads version %d", path, v, CN_SHARD_VERSION);
    h->source[0] = '\0';
    if ((rc = cn_h5_attr_text_checked(path, f, "source", h->source, sizeof h->source)) < 0)
        return rc;

    hsize_t dims[4];
    if ((rc = open_dataset(path, f, "images", 4, dims, &d)) <= 0)
        return rc < 0 ? rc : cn_set_error("%s: dataset /images missing%s", path, partial);
    t = H5Dget_type(d);
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    size_t size = t >= 0 ? H5Tget_size(t) : 0;
    if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(t) == H5T_SGN_NONE)
        h->dtype = CN_SHARD_U8;
    else if (cls == H5T_FLOAT && size == 4)
        h->dtype = CN_SHARD_F32;
    else {
        char tn[64] = "unreadable";
        if (t >= 0)
            cn_h5_type_name(t, tn, sizeof tn);
        rc = cn_set_error("%s: /images is %s, expected uint8 or float32", path, tn);
        goto out;
    }
    if (dims[0] < 1 || dims[0] > (hsize_t)CN_SHARD_MAX_SAMPLES || dims[1] < 1 || dims[1] > CN_SHARD_MAX_SIDE ||
        dims[2] < 1 || dims[2] > CN_SHARD_MAX_SIDE || dims[3] < 1 || dims[3] > CN_SHARD_MAX_CHANNELS) {
        rc = cn_set_error("%s: /images shape [%llu, %llu, %llu, %llu] out of range (N 1..%lld, H and W 1..%d, "
                          "C 1..%d)", path, (unsigned long long)dims[0], (unsigned long long)dims[1],
                          (unsigned long long)dims[2], (unsigned long long)dims[3], (long long)CN_SHARD_MAX_SAMPLES,
                          CN_SHARD_MAX_SIDE, CN_SHARD_MAX_CHANNELS);
        goto out;
    }
    h->n = (int64_t)dims[0];
    h->h = (int)dims[1];
    h->w = (int)dims[2];
    h->c = (int)dims[3];
    if ((rc = check_stored(path, d, "images", (double)dims[0] * (double)dims[1] * (double)dims[2] * (double)dims[3] *
                                                  (h->dtype == CN_SHARD_U8 ? 1.0 : 4.0))) != CN_OK)
        goto out;
    cn_h5_close(&t);
    cn_h5_close(&d);

    hsize_t ldim;
    if ((rc = open_dataset(path, f, "labels", 1, &ldim, &d)) < 0)
        goto out;
    h->has_labels = rc;
    if (h->has_labels) {
        t = H5Dget_type(d);
        if (t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 4 || H5Tget_sign(t) != H5T_SGN_2) {
            char tn[64] = "unreadable";
            if (t >= 0)
                cn_h5_type_name(t, tn, sizeof tn);
            rc = cn_set_error("%s: /labels is %s, expected int32", path, tn);
            goto out;
        }
        if (ldim != dims[0]) {
            rc = cn_set_error("%s: /labels has %llu entries for %llu images", path, (unsigned long long)ldim,
                              (unsigned long long)dims[0]);
            goto out;
        }
        if ((rc = check_stored(path, d, "labels", 4.0 * (double)ldim)) != CN_OK)
            goto out;
    }
    h->classes = 0;
    if ((rc = cn_h5_attr_num_checked(path, f, "classes", &v)) < 0)
        goto out;
    if (rc == 1) {
        if (!(v >= 1 && v <= CN_SHARD_MAX_CLASSES) || v != (double)(int)v) {
            rc = cn_set_error("%s: attribute classes = %g out of range", path, v);
            goto out;
        }
        h->classes = (int)v;
    }
    double mean, std;
    if ((rc = cn_h5_attr_num_checked(path, f, "mean", &mean)) <= 0 ||
        (rc = cn_h5_attr_num_checked(path, f, "std", &std)) <= 0) {
        if (rc == 0)
            rc = cn_set_error("%s: normalization attributes mean and std missing%s", path, partial);
        goto out;
    }
    if (!(std > 0 && std < 1e30) || !(mean > -1e30 && mean < 1e30)) {
        rc = cn_set_error("%s: normalization mean %g std %g invalid (std must be > 0 and both finite)", path, mean,
                          std);
        goto out;
    }
    h->mean = (float)mean;
    h->std = (float)std;
    rc = CN_OK;
out:
    cn_h5_close(&t);
    cn_h5_close(&d);
    return rc;
}

static int open_file(const char *path, hid_t *f)
{
    struct stat st;
    *f = H5I_INVALID_HID;
    if (stat(path, &st) != 0)
        return cn_set_error("%s: no such file", path);
    if (!S_ISREG(st.st_mode))
        return cn_set_error("%s: not a regular file", path);
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0) {
        char why[256];
        cn_h5_error_text(why, sizeof why);
        *f = H5I_INVALID_HID;
        return cn_set_error("%s: not a readable HDF5 file (%s; truncated or corrupted? make it again)", path,
                            why[0] ? why : "unknown HDF5 error");
    }
    return CN_OK;
}

/* Read /labels of file k into set->labels and check their range. */
static int read_labels(cn_shard_set *set, int k)
{
    const cn_shard_file *sf = &set->files[k];
    hid_t f, d = H5I_INVALID_HID;
    int rc = open_file(sf->path, &f);
    if (rc != CN_OK)
        return rc;
    d = H5Dopen2(f, "labels", H5P_DEFAULT);
    int32_t *lab = set->labels + sf->first;
    if (d < 0 || H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) < 0) {
        char why[256];
        cn_h5_error_text(why, sizeof why);
        rc = cn_set_error("%s: /labels unreadable (%s)", sf->path, why);
        goto out;
    }
    for (int64_t i = 0; i < sf->n; i++)
        if (lab[i] < 0 || (set->classes > 0 && lab[i] >= set->classes)) {
            if (set->classes > 0)
                rc = cn_set_error("%s: label %d of sample %lld outside [0, %d)", sf->path, (int)lab[i], (long long)i,
                                  set->classes);
            else
                rc = cn_set_error("%s: label %d of sample %lld is negative", sf->path, (int)lab[i], (long long)i);
            goto out;
        }
out:
    cn_h5_close(&d);
    cn_h5_close(&f);
    return rc;
}

static int set_open_locked(cn_shard_set *set, const char *pattern, int classes)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = glob(pattern, GLOB_ERR, NULL, &g);
    if (grc == GLOB_NOMATCH)
        return cn_set_error("%s: no shard matches this path or pattern", pattern);
    if (grc != 0) {
        globfree(&g);
        /* a missing directory is the usual cause: say which, and how shards are made */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", pattern);
        char *slash = strrchr(dir, '/');
        struct stat st;
        if (slash && slash != dir)
            *slash = '\0';
        if (slash && slash != dir && !strpbrk(dir, "*?[")) {
            if (stat(dir, &st) != 0 && errno == ENOENT)
                return cn_set_error("%s: directory %s does not exist (make shards with `cotsnet data`, "
                                    "or `make run` for Fashion-MNIST)",
                                    pattern, dir);
        }
        return cn_set_error("%s: cannot list the shards (unreadable directory?)", pattern);
    }
    int rc = CN_OK;
    if (g.gl_pathc > 1000000) {
        rc = cn_set_error("%s: matches %zu files, too many", pattern, (size_t)g.gl_pathc);
        goto out;
    }
    set->nfiles = (int)g.gl_pathc;
    set->files = cn_alloc((size_t)set->nfiles, sizeof *set->files);
    for (int k = 0; k < set->nfiles; k++) {
        const char *path = g.gl_pathv[k];
        size_t len = strlen(path) + 1;
        set->files[k].path = cn_alloc(len, 1);
        memcpy(set->files[k].path, path, len);
    }

    shard_header first = {0};
    for (int k = 0; k < set->nfiles; k++) {
        cn_shard_file *sf = &set->files[k];
        shard_header h = {0};
        hid_t f;
        if ((rc = open_file(sf->path, &f)) != CN_OK)
            goto out;
        rc = read_header(sf->path, f, &h);
        cn_h5_close(&f);
        if (rc != CN_OK)
            goto out;
        if (k == 0) {
            first = h;
        } else if (h.h != first.h || h.w != first.w || h.c != first.c || h.dtype != first.dtype) {
            rc = cn_set_error("%s: images are %dx%dx%d %s but %s has %dx%dx%d %s: one data set needs one size",
                              sf->path, h.h, h.w, h.c, shard_dtype_name(h.dtype), set->files[0].path, first.h,
                              first.w, first.c, shard_dtype_name(first.dtype));
            goto out;
        } else if (h.has_labels != first.has_labels) {
            rc = cn_set_error("%s: %s labels but %s %s: label all shards or none", sf->path,
                              h.has_labels ? "has" : "has no", set->files[0].path,
                              first.has_labels ? "has" : "has none");
            goto out;
        } else if (classes <= 0 && h.classes != first.classes) {
            rc = cn_set_error("%s: classes = %d but %s says %d", sf->path, h.classes, set->files[0].path,
                              first.classes);
            goto out;
        }
        if (h.n > CN_SHARD_MAX_SAMPLES - set->n) {
            rc = cn_set_error("%s: the data set exceeds %lld samples", sf->path, (long long)CN_SHARD_MAX_SAMPLES);
            goto out;
        }
        sf->n = h.n;
        sf->first = set->n;
        sf->mean = h.mean;
        sf->std = h.std;
        set->n += h.n;
    }
    set->h = first.h;
    set->w = first.w;
    set->c = first.c;
    set->dtype = first.dtype;
    set->has_labels = first.has_labels;
    snprintf(set->source, sizeof set->source, "%s", first.source);
    if (set->has_labels) {
        set->classes = classes > 0 ? classes : first.classes;
        set->labels = cn_alloc((size_t)set->n, sizeof *set->labels);
        for (int k = 0; k < set->nfiles && rc == CN_OK; k++)
            rc = read_labels(set, k);
        if (rc == CN_OK && set->classes <= 0) {
            int32_t mx = 0;
            for (int64_t i = 0; i < set->n; i++)
                mx = CN_MAX(mx, set->labels[i]);
            set->classes = (int)mx + 1;
        }
    }
out:
    globfree(&g);
    return rc;
}

int shard_set_open(cn_shard_set *set, const char *pattern, int classes)
{
    memset(set, 0, sizeof *set);
    cn_h5_quiet();
    cn_h5_lock();
    int rc = set_open_locked(set, pattern, classes);
    cn_h5_unlock();
    if (rc != CN_OK)
        shard_set_free(set);
    return rc;
}

void shard_set_free(cn_shard_set *set)
{
    if (!set)
        return;
    for (int k = 0; k < set->nfiles; k++)
        if (set->files)
            cn_free(set->files[k].path);
    cn_free(set->files);
    cn_free(set->labels);
    memset(set, 0, sizeof *set);
}

int shard_set_locate(const cn_shard_set *set, int64_t index, int64_t *local)
{
    int lo = 0, hi = set->nfiles - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (set->files[mid].first <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    *local = index - set->files[lo].first;
    return lo;
}
