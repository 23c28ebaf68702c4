/* test_shard.c: shards, the data sources, and the tile reader.
 *
 * Writes shards with known contents and reads them back through the reader (tiles equal blocks of the full
 * images, normalized); checks the sample order (same for the same seed and replica, disjoint across
 * replicas, a permutation), cursor save and restore (with and without read-ahead), every kind of bad shard
 * (each refused with one line naming the file), the Fashion-MNIST idx files, the synthetic and PNG sources
 * and the `data` command's options.
 *
 * `test_shard data ARGS...` runs the `data` command itself (tests/t_shard.sh uses it when the cotsnet
 * binary does not dispatch `data`); `test_shard reader` runs only the reader's tests (order, cursor, read
 * errors, with and without read-ahead: tests/t_ahead_tsan.sh runs them under ThreadSanitizer). */
#include <hdf5.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/cmd_data.h"
#include "io/data_sources.h"
#include "io/reader.h"
#include "io/shard.h"
#include "src/common.h"
#include "tests/testutil.h"

static char tmp[256];

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int run_data(const char *line)
{
    char copy[2048], *argv[64];
    int argc = 0;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    return cmd_data(argc, argv);
}

/* --- shards with known contents --- */

static uint8_t pix_u8(int64_t n, int y, int x, int c) { return (uint8_t)((n * 31 + y * 7 + x * 3 + c * 11) % 251); }

static void write_u8_shard(const char *path, int n, int h, int w, int c, float mean, float std)
{
    uint8_t *img = malloc((size_t)n * h * w * c);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++) {
        lab[i] = i % 3;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++)
                    img[(((size_t)i * h + y) * w + x) * c + ch] = pix_u8(i, y, x, ch);
    }
    cn_shard_spec spec = {n, h, w, c, CN_SHARD_U8, 1, 3, "test u8"};
    if (shard_write(path, &spec, img, lab, mean, std) != CN_OK)
        tu_fail("write_u8_shard", "%s", cn_last_error());
    free(img);
    free(lab);
}

/* float32 shard where every value of global sample g is g + first (so a read tells the index). */
static void write_index_shard(const char *path, int n, int first, int h, int w, int classes)
{
    size_t per = (size_t)h * w;
    float *img = malloc((size_t)n * per * sizeof *img);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++) {
        lab[i] = (first + i) % classes;
        for (size_t j = 0; j < per; j++)
            img[(size_t)i * per + j] = (float)(first + i);
    }
    cn_shard_spec spec = {n, h, w, 1, CN_SHARD_F32, 1, classes, "test index"};
    if (shard_write(path, &spec, img, lab, 0.0f, 1.0f) != CN_OK)
        tu_fail("write_index_shard", "%s", cn_last_error());
    free(img);
    free(lab);
}

static void test_tiles(void)
{
    const int N = 6, H = 70, W = 90, C = 3;
    const float mean = 100.0f, std = 50.0f;
    write_u8_shard(tpath("u8.h5"), N, H, W, C, mean, std);
    cn_shard_set set;
    if (shard_set_open(&set, tpath("u8.h5"), 0) != CN_OK) {
        tu_fail("shard_open_u8", "%s", cn_last_error());
        return;
    }
    tu_check("shard_open_u8", set.n == N && set.h == H && set.w == W && set.c == C && set.dtype == CN_SHARD_U8 &&
                                  set.classes == 3 && set.labels && set.labels[4] == 1 && set.files[0].mean == mean &&
                                  set.files[0].std == std && !strcmp(set.source, "test u8"),
             "shape, labels, normalization or source read back wrong");

    /* Rectangles crossing the 64x64 chunk boundaries, the full image, a single pixel. */
    cn_rect rects[4] = {{5, 69, 60, 90}, {0, 70, 0, 90}, {63, 65, 63, 65}, {69, 70, 89, 90}};
    int bad = 0;
    for (int q = 0; q < 4; q++) {
        cn_rect r = rects[q];
        cn_reader_opts o = {r, 2, 7, 0, 1, 0, 0};
        cn_reader *rd;
        if (reader_open(&rd, &set, &o) != CN_OK) {
            tu_fail("reader_tiles", "%s", cn_last_error());
            break;
        }
        int rows = rect_rows(r), cols = rect_cols(r);
        float *img = malloc((size_t)2 * rows * cols * C * sizeof *img);
        int lab[2], count;
        for (int step = 0; step < 3; step++) {
            if (reader_next(rd, img, lab, &count) != CN_OK || count != 2) {
                bad++;
                break;
            }
            for (int b = 0; b < 2; b++) {
                int n = step * 2 + b;
                if (lab[b] != n % 3)
                    bad++;
                for (int y = 0; y < rows; y++)
                    for (int x = 0; x < cols; x++)
                        for (int c = 0; c < C; c++) {
                            float want = ((float)pix_u8(n, r.y0 + y, r.x0 + x, c) - mean) * (1.0f / std);
                            if (img[(((size_t)b * rows + y) * cols + x) * C + c] != want)
                                bad++;
                        }
            }
        }
        /* One sample by hyperslab equals the same block of the full image. */
        float *one = malloc((size_t)rows * cols * C * sizeof *one);
        if (reader_read_sample(rd, 4, one) != CN_OK)
            bad++;
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++)
                for (int c = 0; c < C; c++)
                    if (one[((size_t)y * cols + x) * C + c] !=
                        ((float)pix_u8(4, r.y0 + y, r.x0 + x, c) - mean) * (1.0f / std))
                        bad++;
        free(one);
        free(img);
        reader_close(rd);
    }
    tu_check("reader_tiles_equal_blocks", bad == 0, "a tile differs from the block of the full image");

    cn_reader *rd;
    cn_reader_opts o = {{0, 71, 0, 90}, 2, 7, 0, 1, 0, 0};
    tu_check("reader_rect_outside", reader_open(&rd, &set, &o) != CN_OK && strstr(cn_last_error(), "u8.h5"),
             "a window past the image must be refused");
    cn_reader_opts o2 = {{0, 8, 0, 8}, 4, 7, 0, 2, 1, 0};
    tu_check("reader_batch_too_large", reader_open(&rd, &set, &o2) != CN_OK && strstr(cn_last_error(), "fewer"),
             "a global batch larger than the data set must be refused");
    shard_set_free(&set);
}

/* --- sample order and cursor --- */

static int read_indices(cn_reader *rd, int steps, int B, int *idx, int *lab)
{
    float *img = malloc((size_t)B * 4 * sizeof *img);
    for (int s = 0; s < steps; s++) {
        int count;
        if (reader_next(rd, img, lab + s * B, &count) != CN_OK) {
            free(img);
            return -1;
        }
        for (int b = 0; b < B; b++)
            idx[s * B + b] = b < count ? (int)img[(size_t)b * 4] : -1;
    }
    free(img);
    return 0;
}

static void test_order(void)
{
    /* data_order is a permutation, changes with the epoch and the seed. */
    int bad = 0;
    for (int64_t n = 1; n <= 130 && !bad; n++)
        for (int64_t e = 0; e < 3; e++) {
            char *seen = calloc((size_t)n, 1);
            for (int64_t p = 0; p < n; p++) {
                int64_t v = data_order(42, e, n, p);
                if (v < 0 || v >= n || seen[v]++)
                    bad++;
            }
            free(seen);
        }
    tu_check("data_order_permutation", bad == 0, "data_order is not a bijection of [0, n)");
    int same_e = 0, same_s = 0, fixed = 0;
    for (int p = 0; p < 100; p++) {
        same_e += data_order(42, 0, 100, p) == data_order(42, 1, 100, p);
        same_s += data_order(42, 0, 100, p) == data_order(43, 0, 100, p);
        fixed += data_order(42, 0, 100, p) == p;
    }
    tu_check("data_order_varies", same_e < 10 && same_s < 10 && fixed < 10,
             "order must change with epoch and seed, and not be the identity");

    /* Two shards: 30 + 20 samples, 2x2x1, value = global index. */
    write_index_shard(tpath("ord-000.h5"), 30, 0, 2, 2, 7);
    write_index_shard(tpath("ord-001.h5"), 20, 30, 2, 2, 7);
    cn_shard_set set;
    if (shard_set_open(&set, tpath("ord-*.h5"), 7) != CN_OK) {
        tu_fail("order_open", "%s", cn_last_error());
        return;
    }
    tu_check("glob_two_shards", set.nfiles == 2 && set.n == 50 && set.files[1].first == 30, "glob of two shards");

    const int B = 4, R = 3, STEPS = 10; /* 50 / 12 = 4 steps per epoch: crosses epochs */
    cn_rect all = {0, 2, 0, 2};
    int a[40], a2[40], la[40], la2[40], p[40], lp[40];
    cn_reader *r1, *r2, *r3;
    cn_reader_opts o = {all, B, 5, 1, R, 1, 0};
    reader_open(&r1, &set, &o);
    reader_open(&r2, &set, &o);
    o.prefetch = 2;
    reader_open(&r3, &set, &o);
    read_indices(r1, STEPS, B, a, la);
    read_indices(r2, STEPS, B, a2, la2);
    read_indices(r3, STEPS, B, p, lp);
    tu_check("order_same_seed_same_replica", !memcmp(a, a2, sizeof a) && !memcmp(la, la2, sizeof la),
             "two readers with the same seed and replica read different samples");
    tu_check("order_prefetch_same", !memcmp(a, p, sizeof a) && !memcmp(la, lp, sizeof la),
             "the read-ahead reader returns another stream than the plain one");
    bad = 0;
    for (int i = 0; i < STEPS * B; i++) { /* step t = i / B of epoch t / 4, slot b: position t*B*R + b*R + r */
        int t = i / B, b = i % B;
        int64_t want = data_order(5, t / 4, 50, (int64_t)(t % 4) * B * R + (int64_t)b * R + 1);
        if (la[i] != a[i] % 7 || a[i] != want || want != reader_sample_at(r1, (cn_cursor){t / 4, t % 4}, b))
            bad++;
    }
    tu_check("order_labels_and_index", bad == 0, "labels or indices do not match the documented order");
    tu_check("wait_counter", reader_wait_seconds(r3) >= 0 && reader_read_seconds(r3) > 0,
             "I/O counters must be measured");
    reader_close(r1);
    reader_close(r2);
    reader_close(r3);

    /* Replicas of one epoch: disjoint, and together the first steps*B*R positions of the permutation. */
    int seen[50] = {0};
    bad = 0;
    for (int r = 0; r < R; r++) {
        cn_reader *rd;
        cn_reader_opts orr = {all, B, 5, r, R, 1, r == 1 ? 1 : 0};
        reader_open(&rd, &set, &orr);
        int idx[16], lab[16];
        read_indices(rd, 4, B, idx, lab);
        for (int i = 0; i < 16; i++)
            seen[idx[i]]++;
        reader_close(rd);
    }
    for (int p0 = 0; p0 < 48; p0++)
        if (seen[data_order(5, 0, 50, p0)] != 1)
            bad++;
    for (int i = 0; i < 50; i++)
        if (seen[i] > 1)
            bad++;
    tu_check("order_replicas_disjoint", bad == 0, "replicas overlap or miss part of the epoch");

    /* Different seed, different stream. */
    cn_reader *rs;
    cn_reader_opts os = {all, B, 6, 1, R, 1, 0};
    reader_open(&rs, &set, &os);
    int s6[40], l6[40];
    read_indices(rs, STEPS, B, s6, l6);
    reader_close(rs);
    tu_check("order_seed_changes", memcmp(a, s6, sizeof a) != 0, "another seed gave the same order");

    /* Unshuffled (evaluation): every sample once over the replicas, padded last batch. */
    memset(seen, 0, sizeof seen);
    bad = 0;
    for (int r = 0; r < R; r++) {
        cn_reader *rd;
        cn_reader_opts ou = {all, B, 5, r, R, 0, 0};
        reader_open(&rd, &set, &ou);
        if (reader_steps_per_epoch(rd) != 5)
            bad++;
        int idx[20], lab[20];
        read_indices(rd, 5, B, idx, lab);
        for (int i = 0; i < 20; i++) {
            if (idx[i] >= 0)
                seen[idx[i]]++;
            else if (lab[i] != -1)
                bad++;
        }
        reader_close(rd);
    }
    for (int i = 0; i < 50; i++)
        if (seen[i] != 1)
            bad++;
    tu_check("order_unshuffled_covers_once", bad == 0, "evaluation order must read each sample exactly once");

    /* Cursor: save after 3 batches, a new reader seeking there reads what the first read next. */
    bad = 0;
    for (int pf = 0; pf <= 1; pf++) {
        cn_reader *ra, *rb;
        cn_reader_opts oc = {all, B, 9, 2, R, 1, pf};
        reader_open(&ra, &set, &oc);
        reader_open(&rb, &set, &oc);
        int x[40], lx[40], y[40], ly[40];
        read_indices(ra, 3, B, x, lx);
        cn_cursor cur = reader_cursor(ra);
        uint64_t told = reader_tell(ra);
        read_indices(ra, 6, B, x + 12, lx + 12);
        read_indices(rb, 1, B, y, ly); /* rb has read ahead: seeking must drop that */
        if (reader_seek(rb, cur) != CN_OK)
            bad++;
        read_indices(rb, 6, B, y + 12, ly + 12);
        if (memcmp(x + 12, y + 12, 24 * sizeof *x) || memcmp(lx + 12, ly + 12, 24 * sizeof *lx))
            bad++;
        if (told != 3u * B * R || reader_seek_samples(rb, told) != CN_OK)
            bad++;
        read_indices(rb, 2, B, y, ly);
        if (memcmp(x + 12, y, 8 * sizeof *x))
            bad++;
        if (reader_seek(rb, (cn_cursor){0, 4}) == CN_OK || reader_seek_samples(rb, 5) == CN_OK)
            bad++;
        reader_close(ra);
        reader_close(rb);
    }
    tu_check("cursor_restore_same_batches", bad == 0, "a restored cursor does not give the same next batches");
    shard_set_free(&set);
}

/* Flip a byte in the middle of sample k's chunk of /images: its fletcher32 checksum fails when it is read,
 * while shard_set_open (which reads no image) still accepts the file. */
static int corrupt_sample(const char *path, int k)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "images", H5P_DEFAULT);
    hsize_t at[4] = {(hsize_t)k, 0, 0, 0}, size = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    herr_t rc = H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &size);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    long off = (long)(addr + size / 2);
    int c = rc < 0 || !fp || fseek(fp, off, SEEK_SET) ? EOF : fgetc(fp);
    if (c == EOF || fseek(fp, off, SEEK_SET) || fputc(c ^ 0xff, fp) == EOF) {
        if (fp)
            fclose(fp);
        return -1;
    }
    return fclose(fp);
}

/* A shard that fails to read mid-stream (a bad chunk checksum), with and without read-ahead: the batches
 * before it, then an error with one line naming the file and the sample, at the step it belongs to and at
 * every later call (the read-ahead thread met it long before); a seek goes on past it; close returns. */
static void test_read_error(void)
{
    write_index_shard(tpath("rd-000.h5"), 12, 0, 2, 2, 5);
    write_index_shard(tpath("rd-001.h5"), 12, 12, 2, 2, 5);
    cn_shard_set set;
    if (corrupt_sample(tpath("rd-001.h5"), 5) != 0 || shard_set_open(&set, tpath("rd-*.h5"), 0) != CN_OK) {
        tu_fail("read_error_setup", "cannot corrupt or open the shards: %s", cn_last_error());
        return;
    }
    int bad = 0, got[2][16], lab[16];
    char line[2][512];
    for (int pf = 0; pf <= 1; pf++) {
        cn_reader *rd;
        cn_reader_opts o = {{0, 2, 0, 2}, 2, 1, 0, 1, 0, pf ? 3 : 0}; /* file order: sample 17 is at step 8 */
        reader_open(&rd, &set, &o);
        bad += read_indices(rd, 8, 2, got[pf], lab) != 0;
        float img[8];
        int count = -1, rc = reader_next(rd, img, lab, &count), first = rc;
        snprintf(line[pf], sizeof line[pf], "%s", cn_last_error());
        bad += rc != CN_EIO || count != 0 || !strstr(line[pf], "rd-001.h5") || !strstr(line[pf], "sample 5") ||
               strchr(line[pf], '\n');
        rc = reader_next(rd, img, lab, &count); /* again: the same error, the cursor still at step 8 */
        bad += rc != first || strcmp(cn_last_error(), line[pf]) || reader_cursor(rd).step != 8;
        int after[4];
        bad += reader_seek(rd, (cn_cursor){0, 9}) != CN_OK || read_indices(rd, 2, 2, after, lab) != 0 ||
               after[0] != 18 || after[3] != 21;
        bad += reader_seek(rd, (cn_cursor){0, 8}) != CN_OK || reader_next(rd, img, lab, &count) != first;
        reader_close(rd); /* its thread waits for a seek after the error */
    }
    for (int i = 0; i < 16; i++)
        bad += got[0][i] != i || got[1][i] != i;
    printf("   (read_error: %s)\n", line[1]);
    tu_check("read_error_mid_stream", bad == 0 && !strcmp(line[0], line[1]),
             "a bad chunk must end the stream at its own step with one line, the same with and without read-ahead");
    shard_set_free(&set);
}

/* --- bad shards --- */

typedef struct {
    int images;         /* write /images */
    int rank;           /* of /images */
    hid_t type;         /* of /images */
    int n, h;           /* samples, rows (columns = rows, 1 channel) */
    int labels;         /* labels written: 0 none, else their count */
    int bad_label;      /* value of label 1 (others 0) */
    int classes;        /* attribute (0: none) */
    const char *format; /* NULL: no attribute */
    int version;        /* -1: no attribute */
    int norm;           /* write mean and std */
    int nowrite;        /* chunked datasets declared but never written */
} fake;

static void write_fake(const char *path, const fake *f)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), s, a, d, t;
    if (f->format) {
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(f->format) + 1);
        s = H5Screate(H5S_SCALAR);
        a = H5Acreate2(file, "format", t, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, f->format);
        H5Aclose(a);
        H5Sclose(s);
        H5Tclose(t);
    }
    s = H5Screate(H5S_SCALAR);
    if (f->version >= 0) {
        a = H5Acreate2(file, "version", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT, &f->version);
        H5Aclose(a);
    }
    if (f->classes) {
        a = H5Acreate2(file, "classes", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT, &f->classes);
        H5Aclose(a);
    }
    if (f->norm) {
        float m = 1, sd = 2;
        a = H5Acreate2(file, "mean", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_FLOAT, &m);
        H5Aclose(a);
        a = H5Acreate2(file, "std", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_FLOAT, &sd);
        H5Aclose(a);
    }
    H5Sclose(s);
    if (f->images) {
        hsize_t dims[4] = {(hsize_t)f->n, (hsize_t)f->h, (hsize_t)f->h, 1};
        hsize_t chunk[4] = {1, (hsize_t)f->h, (hsize_t)f->h, 1};
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (f->nowrite)
            H5Pset_chunk(dcpl, f->rank, chunk);
        s = H5Screate_simple(f->rank, dims, NULL);
        d = H5Dcreate2(file, "images", f->type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        if (!f->nowrite) {
            size_t cnt = (size_t)f->n * f->h * f->h * 8;
            void *zero = calloc(cnt, 1);
            H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, zero);
            free(zero);
        }
        H5Dclose(d);
        H5Sclose(s);
    }
    if (f->labels) {
        hsize_t n = (hsize_t)f->labels, chunk = 1024;
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (f->nowrite)
            H5Pset_chunk(dcpl, 1, &chunk);
        s = H5Screate_simple(1, &n, NULL);
        d = H5Dcreate2(file, "labels", H5T_STD_I32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        if (!f->nowrite) {
            int32_t *lab = calloc(n, sizeof *lab);
            if (n > 1)
                lab[1] = f->bad_label;
            H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
            free(lab);
        }
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Fclose(file);
}

/* The set must be refused with a line naming `names` (a file) and containing `word`. */
static void expect_refused(const char *test, const char *pattern, int classes, const char *names, const char *word)
{
    cn_shard_set set;
    int rc = shard_set_open(&set, pattern, classes);
    const char *e = cn_last_error();
    if (rc == CN_OK) {
        tu_fail(test, "accepted a bad shard");
        shard_set_free(&set);
    } else if (!strstr(e, names) || !strstr(e, word) || strchr(e, '\n')) {
        tu_fail(test, "error line \"%s\" should name %s and say '%s'", e, names, word);
    } else {
        printf("   (%s: %s)\n", test, e);
        tu_ok(test);
    }
}

static void copy_truncated(const char *from, const char *to, long keep)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    char buf[4096];
    long done = 0;
    size_t n;
    while (f && g && done < keep && (n = fread(buf, 1, (size_t)CN_MIN(keep - done, (long)sizeof buf), f)) > 0) {
        fwrite(buf, 1, n, g);
        done += (long)n;
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
}

/* Replace attribute name of file path by n values of file type t written from mem (memory type mt). */
static void put_attr(const char *path, const char *name, hid_t t, hid_t mt, hsize_t n, const void *mem)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (H5Aexists(file, name) > 0)
        H5Adelete(file, name);
    hid_t s = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(file, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, mt, mem);
    H5Aclose(a);
    H5Sclose(s);
    H5Fclose(file);
}

static void test_bad_shards(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const fake good = {1, 4, H5T_STD_U8LE, 4, 8, 4, 1, 3, CN_SHARD_FORMAT, 1, 1, 0};
    write_fake(tpath("fake-good.h5"), &good);
    cn_shard_set set;
    int rc = shard_set_open(&set, tpath("fake-good.h5"), 0);
    tu_check("fake_good_accepted", rc == CN_OK && set.n == 4 && set.classes == 3, cn_last_error());
    if (rc == CN_OK)
        shard_set_free(&set);

    fake f = good;
    f.images = 0;
    write_fake(tpath("bad-noimages.h5"), &f);
    expect_refused("bad_missing_images", tpath("bad-noimages.h5"), 0, "bad-noimages.h5", "/images missing");
    f = good;
    f.rank = 3;
    write_fake(tpath("bad-rank3.h5"), &f);
    expect_refused("bad_rank3_images", tpath("bad-rank3.h5"), 0, "bad-rank3.h5", "rank 3");
    f = good;
    f.type = H5T_STD_I16LE;
    write_fake(tpath("bad-int16.h5"), &f);
    expect_refused("bad_int16_images", tpath("bad-int16.h5"), 0, "bad-int16.h5", "int16");
    f = good;
    f.bad_label = 3;
    write_fake(tpath("bad-label.h5"), &f);
    expect_refused("bad_label_out_of_range", tpath("bad-label.h5"), 0, "bad-label.h5", "outside [0, 3)");
    f = good;
    f.classes = 0;
    f.bad_label = 5;
    write_fake(tpath("bad-label5.h5"), &f);
    expect_refused("bad_label_vs_job_classes", tpath("bad-label5.h5"), 4, "bad-label5.h5", "outside [0, 4)");
    f = good;
    f.bad_label = -1;
    write_fake(tpath("bad-negative.h5"), &f);
    expect_refused("bad_label_negative", tpath("bad-negative.h5"), 0, "bad-negative.h5", "outside");
    f = good;
    f.labels = 3;
    write_fake(tpath("bad-nlabels.h5"), &f);
    expect_refused("bad_label_count", tpath("bad-nlabels.h5"), 0, "bad-nlabels.h5", "3 entries for 4 images");
    f = good;
    f.format = NULL;
    write_fake(tpath("bad-noformat.h5"), &f);
    expect_refused("bad_format_missing", tpath("bad-noformat.h5"), 0, "bad-noformat.h5", "format missing");
    f = good;
    f.format = "cotsnet-checkpoint";
    write_fake(tpath("bad-format.h5"), &f);
    expect_refused("bad_format_wrong", tpath("bad-format.h5"), 0, "bad-format.h5", "cotsnet-checkpoint");
    f = good;
    f.version = -1;
    write_fake(tpath("bad-nover.h5"), &f);
    expect_refused("bad_version_missing", tpath("bad-nover.h5"), 0, "bad-nover.h5", "version missing");
    f = good;
    f.version = 2;
    write_fake(tpath("bad-ver2.h5"), &f);
    expect_refused("bad_version_wrong", tpath("bad-ver2.h5"), 0, "bad-ver2.h5", "version 2");
    f = good;
    f.norm = 0;
    write_fake(tpath("bad-nonorm.h5"), &f);
    expect_refused("bad_norm_missing", tpath("bad-nonorm.h5"), 0, "bad-nonorm.h5", "mean and std missing");
    /* Attributes of another type or shape: one line naming the file, the attribute and what is wrong. */
    int32_t i3[3] = {1, 1, 1};
    float m3[3] = {1, 2, 3};
    write_fake(tpath("bad-fmtint.h5"), &good);
    put_attr(tpath("bad-fmtint.h5"), "format", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, i3);
    expect_refused("bad_format_not_text", tpath("bad-fmtint.h5"), 0, "bad-fmtint.h5",
                   "attribute format is int32, expected text");
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 2);
    write_fake(tpath("bad-vertext.h5"), &good);
    put_attr(tpath("bad-vertext.h5"), "version", st, st, 1, "1");
    expect_refused("bad_version_text", tpath("bad-vertext.h5"), 0, "bad-vertext.h5",
                   "attribute version is a string, expected a number");
    write_fake(tpath("bad-mean3.h5"), &good);
    put_attr(tpath("bad-mean3.h5"), "mean", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, m3);
    expect_refused("bad_norm_array", tpath("bad-mean3.h5"), 0, "bad-mean3.h5",
                   "attribute mean holds 3 values, expected one");
    write_fake(tpath("bad-src3.h5"), &good);
    put_attr(tpath("bad-src3.h5"), "source", st, st, 3, "a\0b\0c");
    expect_refused("bad_source_array", tpath("bad-src3.h5"), 0, "bad-src3.h5",
                   "attribute source holds 3 values, expected one");
    /* h5py's numpy bytes: a NULL-padded text filling its whole size, without a terminator */
    H5Tset_size(st, strlen(CN_SHARD_FORMAT));
    H5Tset_strpad(st, H5T_STR_NULLPAD);
    write_fake(tpath("fake-nullpad.h5"), &good);
    put_attr(tpath("fake-nullpad.h5"), "format", st, st, 1, CN_SHARD_FORMAT);
    H5Tclose(st);
    rc = shard_set_open(&set, tpath("fake-nullpad.h5"), 0);
    tu_check("format_nullpad_accepted", rc == CN_OK, cn_last_error());
    if (rc == CN_OK)
        shard_set_free(&set);
    /* A small file declaring 2^30 samples (4 GiB of labels) it does not hold: refused before allocating. */
    f = good;
    f.n = f.labels = 1 << 30;
    f.nowrite = 1;
    write_fake(tpath("bad-huge.h5"), &f);
    double t0 = cn_now();
    expect_refused("bad_declared_not_stored", tpath("bad-huge.h5"), 0, "bad-huge.h5", "stores 0 bytes");
    tu_check("bad_declared_not_stored_fast", cn_now() - t0 < 1.0, "refusing an empty huge shard took > 1 s");

    /* A real shard cut in half, and a text file. */
    write_u8_shard(tpath("whole.h5"), 20, 40, 40, 3, 0, 1);
    copy_truncated(tpath("whole.h5"), tpath("bad-trunc.h5"), 50000);
    expect_refused("bad_truncated", tpath("bad-trunc.h5"), 0, "bad-trunc.h5", "not a readable HDF5 file");
    FILE *t = fopen(tpath("bad-text.h5"), "w");
    fputs("not hdf5\n", t);
    fclose(t);
    expect_refused("bad_not_hdf5", tpath("bad-text.h5"), 0, "bad-text.h5", "not a readable HDF5 file");

    /* Two shards of different sizes in one data set. */
    write_u8_shard(tpath("mix-000.h5"), 3, 10, 10, 1, 0, 1);
    write_u8_shard(tpath("mix-001.h5"), 3, 12, 10, 1, 0, 1);
    expect_refused("bad_mismatched_sizes", tpath("mix-*.h5"), 0, "mix-001.h5", "12x10x1");
    expect_refused("bad_no_match", tpath("nothing-*.h5"), 0, "nothing-*.h5", "no shard matches");
    expect_refused("bad_no_directory", tpath("no-such-dir/train-*.h5"), 0, "no-such-dir", "does not exist");
}

/* --- sources --- */

static void write_gz(const char *path, const uint8_t *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
}

static void test_fmnist(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char p[512];
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    if (access(p, R_OK) != 0) {
        tu_skip("fmnist_idx", "Debian's dataset-fashion-mnist is not installed");
        return;
    }
    uint8_t *lab, *img;
    int64_t n;
    int r, c, bad = 0;
    int counts[10] = {0};
    if (idx_read(p, 1, 0, &lab, &n, &r, &c) != CN_OK) {
        tu_fail("fmnist_train_labels", "%s", cn_last_error());
        return;
    }
    for (int64_t i = 0; i < n; i++)
        counts[lab[i] < 10 ? lab[i] : 0] += lab[i] < 10 ? 1 : 1000000;
    for (int k = 0; k < 10; k++)
        bad += counts[k] != 6000;
    tu_check("fmnist_train_labels", n == 60000 && bad == 0 && lab[0] == 9 && lab[3] == 3 && lab[6] == 7,
             "expected 60000 labels, 6000 per class, starting 9 0 0 3 0 2 7");
    cn_free(lab);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
    memset(counts, 0, sizeof counts);
    bad = idx_read(p, 1, 0, &lab, &n, &r, &c) != CN_OK;
    for (int64_t i = 0; !bad && i < n; i++)
        counts[lab[i] < 10 ? lab[i] : 0] += lab[i] < 10 ? 1 : 1000000;
    for (int k = 0; k < 10; k++)
        bad += counts[k] != 1000;
    tu_check("fmnist_test_labels", !bad && n == 10000 && lab[0] == 9 && lab[1] == 2,
             "expected 10000 labels, 1000 per class, starting 9 2");
    cn_free(lab);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    bad = idx_read(p, 3, 0, &img, &n, &r, &c) != CN_OK;
    tu_check("fmnist_test_images", !bad && n == 10000 && r == 28 && c == 28, "expected 10000 images 28x28");
    cn_free(img);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    if (idx_read(p, 3, 0, &img, &n, &r, &c) != CN_OK) {
        tu_fail("fmnist_train_images", "%s", cn_last_error());
        return;
    }
    double s = 0, s2 = 0;
    long first = 0;
    for (size_t i = 0; i < (size_t)n * 784; i++) {
        s += img[i];
        s2 += (double)img[i] * img[i];
    }
    for (int i = 0; i < 784; i++)
        first += img[i];
    double mean = s / (n * 784.0), sd = sqrt(s2 / (n * 784.0) - mean * mean);
    tu_check("fmnist_train_images", n == 60000 && r == 28 && c == 28 && fabs(mean - 72.9404) < 1e-3 &&
                                        fabs(sd - 90.0212) < 1e-3 && first == 76247,
             "expected 60000 images 28x28, mean 72.9404, std 90.0212, image 0 summing to 76247");
    double m500 = 0;
    for (size_t i = 0; i < 500 * 784; i++)
        m500 += img[i];
    m500 /= 500 * 784.0;
    cn_free(img);

    /* The source with --n: shards of the first samples, training statistics in both splits. */
    char line[1024];
    snprintf(line, sizeof line, "data fashion-mnist --out %s --n 500 --test-n 100 --shard-size 200 --quiet",
             tpath("fm"));
    int rc = run_data(line);
    cn_shard_set tr, te;
    int ok = rc == 0 && shard_set_open(&tr, tpath("fm/train-*.h5"), 10) == CN_OK;
    if (!ok) {
        tu_fail("fmnist_shards", "rc %d: %s", rc, cn_last_error());
        return;
    }
    ok = shard_set_open(&te, tpath("fm/test-*.h5"), 10) == CN_OK;
    tu_check("fmnist_shards", ok && tr.nfiles == 3 && tr.n == 500 && tr.h == 28 && tr.w == 28 && tr.c == 1 &&
                                  tr.labels[0] == 9 && te.n == 100 && te.labels[1] == 2 &&
                                  fabs(tr.files[2].mean - m500) < 1e-3 && te.files[0].mean == tr.files[0].mean,
             "fashion-mnist shards: sizes, labels or training mean wrong");
    if (ok)
        shard_set_free(&te);
    shard_set_free(&tr);

    /* Bad idx files: wrong magic, truncated. */
    uint8_t hdr[16 + 10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2};
    write_gz(tpath("t-images-idx3-ubyte.gz"), hdr, sizeof hdr);
    rc = idx_read(tpath("t-images-idx3-ubyte.gz"), 3, 0, &img, &n, &r, &c);
    tu_check("idx_truncated", rc != CN_OK && strstr(cn_last_error(), "truncated"), cn_last_error());
    hdr[4] = 1; /* 16.7 million images of 28 x 28 (13 GB) declared, 10 bytes present */
    hdr[11] = hdr[15] = 28;
    write_gz(tpath("l-images-idx3-ubyte.gz"), hdr, sizeof hdr);
    double t0 = cn_now();
    rc = idx_read(tpath("l-images-idx3-ubyte.gz"), 3, 0, &img, &n, &r, &c);
    tu_check("idx_lying_header", rc != CN_OK && strstr(cn_last_error(), "truncated") && cn_now() - t0 < 1.0,
             "a header declaring more than the file holds must fail quickly");
    hdr[3] = 1;
    write_gz(tpath("m-images-idx3-ubyte.gz"), hdr, sizeof hdr);
    rc = idx_read(tpath("m-images-idx3-ubyte.gz"), 3, 0, &img, &n, &r, &c);
    tu_check("idx_bad_magic", rc != CN_OK && strstr(cn_last_error(), "magic"), cn_last_error());
}

static void test_synthetic(void)
{
    const int H = 12, W = 12, K = 4;
    float *a = malloc(H * W * sizeof *a), *b = malloc(H * W * sizeof *b);
    int la, lb;
    synth_sample(3, K, H, W, 1, 0, 17, a, &la);
    synth_sample(3, K, H, W, 1, 0, 17, b, &lb);
    int same = !memcmp(a, b, H * W * sizeof *a) && la == lb;
    synth_sample(3, K, H, W, 1, 1, 17, b, &lb);
    tu_check("synth_deterministic", same && memcmp(a, b, H * W * sizeof *a), "same arguments must give the same "
                                                                            "sample, another split another one");
    free(a);
    free(b);

    char line[1024];
    snprintf(line, sizeof line, "data synthetic --out %s --n 400 --test-n 200 --size %dx%dx1 --classes %d --seed 3 "
             "--quiet", tpath("syn"), H, W, K);
    cn_shard_set tr, te;
    if (run_data(line) != 0 || shard_set_open(&tr, tpath("syn/train-*.h5"), K) != CN_OK ||
        shard_set_open(&te, tpath("syn/test-*.h5"), K) != CN_OK) {
        tu_fail("synth_shards", "%s", cn_last_error());
        return;
    }
    /* Learnable: nearest class mean over the normalized images read through the reader. */
    cn_rect all = {0, H, 0, W};
    cn_reader *rd;
    cn_reader_opts o = {all, 200, 1, 0, 1, 0, 1};
    float *img = malloc((size_t)200 * H * W * sizeof *img), *mean = calloc((size_t)K * H * W, sizeof *mean);
    int lab[200], cnt[4] = {0}, count;
    reader_open(&rd, &tr, &o);
    for (int s = 0; s < 2; s++) {
        reader_next(rd, img, lab, &count);
        for (int i = 0; i < count; i++) {
            cnt[lab[i]]++;
            for (int j = 0; j < H * W; j++)
                mean[lab[i] * H * W + j] += img[i * H * W + j];
        }
    }
    reader_close(rd);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < H * W; j++)
            mean[k * H * W + j] /= cnt[k] ? cnt[k] : 1;
    reader_open(&rd, &te, &o);
    reader_next(rd, img, lab, &count);
    reader_close(rd);
    int right = 0;
    for (int i = 0; i < count; i++) {
        int best = 0;
        double bd = 1e30;
        for (int k = 0; k < K; k++) {
            double d = 0;
            for (int j = 0; j < H * W; j++)
                d += (img[i * H * W + j] - mean[k * H * W + j]) * (img[i * H * W + j] - mean[k * H * W + j]);
            if (d < bd)
                bd = d, best = k;
        }
        right += best == lab[i];
    }
    int balanced = cnt[0] > 50 && cnt[1] > 50 && cnt[2] > 50 && cnt[3] > 50;
    printf("   (synthetic nearest-class-mean accuracy %d/%d, class counts %d %d %d %d)\n", right, count, cnt[0],
           cnt[1], cnt[2], cnt[3]);
    tu_check("synth_learnable", count == 200 && right >= 180 && balanced,
             "nearest class mean should classify >= 90% of the synthetic test set");
    free(img);
    free(mean);
    shard_set_free(&tr);
    shard_set_free(&te);

    /* Large images: 200x200x3 float32, a tile read back equals the generator's block. */
    snprintf(line, sizeof line, "data synthetic --out %s --n 3 --test-n 0 --size 200x200x3 --float32 --seed 8 --quiet",
             tpath("big"));
    if (run_data(line) != 0 || shard_set_open(&tr, tpath("big/train-*.h5"), 0) != CN_OK) {
        tu_fail("synth_200x200x3", "%s", cn_last_error());
        return;
    }
    float *full = malloc((size_t)200 * 200 * 3 * sizeof *full), *tile = malloc((size_t)50 * 70 * 3 * sizeof *tile);
    int lf;
    synth_sample(8, 10, 200, 200, 3, 0, 2, full, &lf);
    cn_reader_opts ob = {{100, 150, 130, 200}, 1, 1, 0, 1, 0, 0};
    reader_open(&rd, &tr, &ob);
    int bad = reader_read_sample(rd, 2, tile) != CN_OK;
    const float m = tr.files[0].mean, sd = tr.files[0].std;
    for (int y = 0; y < 50; y++)
        for (int x = 0; x < 70; x++)
            for (int c = 0; c < 3; c++)
                bad += fabsf(tile[(y * 70 + x) * 3 + c] - (full[((100 + y) * 200 + 130 + x) * 3 + c] - m) / sd) > 1e-5f;
    reader_close(rd);
    tu_check("synth_200x200x3_tile", bad == 0 && tr.dtype == CN_SHARD_F32 && tr.labels[2] == lf,
             "a tile of a 200x200x3 synthetic shard differs from the generator");
    free(full);
    free(tile);
    shard_set_free(&tr);
}

static uint8_t png_pix(int y, int x, int c) { return (uint8_t)((y * 37 + x * 101 + c * 59 + y * x) & 255); }

static int write_png(const char *path, int w, int h, int c)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    uint8_t *buf = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                buf[((size_t)y * w + x) * c + k] = png_pix(y, x, k);
    int ok = png_image_write_to_file(&im, path, 0, buf, 0, NULL);
    free(buf);
    return ok;
}

/* Every patch must equal the PNG at some position (channel k of gray = png_pix(.., 0)). */
static int patches_found(const cn_shard_set *set, int W, int H)
{
    cn_rect all = {0, set->h, 0, set->w};
    cn_reader *rd;
    cn_reader_opts o = {all, 1, 1, 0, 1, 0, 0};
    if (reader_open(&rd, set, &o) != CN_OK)
        return 0;
    int P = set->h, C = set->c, found = 0;
    float *p = malloc((size_t)P * P * C * sizeof *p);
    for (int64_t i = 0; i < set->n; i++) {
        reader_read_sample(rd, i, p);
        int hit = 0;
        for (int y0 = 0; y0 + P <= H && !hit; y0++)
            for (int x0 = 0; x0 + P <= W && !hit; x0++) {
                int ok = 1;
                for (int j = 0; j < P * P * C && ok; j++) {
                    int y = j / (P * C), x = (j / C) % P, c = j % C;
                    float want = ((float)png_pix(y0 + y, x0 + x, c) - set->files[0].mean) / set->files[0].std;
                    ok = fabsf(p[j] - want) < 1e-4f;
                }
                hit = ok;
            }
        found += hit;
    }
    free(p);
    reader_close(rd);
    return found;
}

static void test_png(void)
{
    if (!write_png(tpath("photo.png"), 37, 29, 3) || !write_png(tpath("gray.png"), 30, 20, 1) ||
        !write_png(tpath("tiny.png"), 4, 4, 3)) {
        tu_fail("png_write", "libpng could not write the test images");
        return;
    }
    char line[1024];
    snprintf(line, sizeof line, "data images --out %s --n 25 --patch 8 --seed 3 --quiet %s %s", tpath("pa"),
             tpath("photo.png"), tpath("tiny.png"));
    cn_shard_set set;
    if (run_data(line) != 0 || shard_set_open(&set, tpath("pa/train-*.h5"), 0) != CN_OK) {
        tu_fail("png_patches", "%s", cn_last_error());
        return;
    }
    int found = patches_found(&set, 37, 29);
    tu_check("png_patches_rgb", set.n == 25 && set.h == 8 && set.c == 3 && !set.has_labels && found == 25,
             "RGB patches must be 8x8x3 blocks of the photograph, unlabelled");
    shard_set_free(&set);

    snprintf(line, sizeof line, "data images --out %s --n 10 --size 5x7x1 --seed 4 --quiet %s", tpath("pg"),
             tpath("gray.png"));
    if (run_data(line) != 0 || shard_set_open(&set, tpath("pg/train-*.h5"), 0) != CN_OK) {
        tu_fail("png_patches_gray", "%s", cn_last_error());
        return;
    }
    tu_check("png_patches_gray", set.n == 10 && set.h == 5 && set.w == 7 && set.c == 1, "gray patches 5x7x1");
    shard_set_free(&set);

    /* Seeded: the same command twice gives the same file contents. */
    snprintf(line, sizeof line, "data images --out %s --n 25 --patch 8 --seed 3 --quiet %s %s", tpath("pb"),
             tpath("photo.png"), tpath("tiny.png"));
    run_data(line);
    cn_shard_set s1, s2;
    int same = 0;
    if (shard_set_open(&s1, tpath("pa/train-*.h5"), 0) == CN_OK &&
        shard_set_open(&s2, tpath("pb/train-*.h5"), 0) == CN_OK) {
        cn_rect all = {0, 8, 0, 8};
        cn_reader_opts o = {all, 25, 1, 0, 1, 0, 0};
        cn_reader *r1, *r2;
        float *x1 = malloc(25 * 192 * sizeof *x1), *x2 = malloc(25 * 192 * sizeof *x2);
        int l1[25], l2[25];
        reader_open(&r1, &s1, &o);
        reader_open(&r2, &s2, &o);
        same = reader_next(r1, x1, l1, NULL) == CN_OK && reader_next(r2, x2, l2, NULL) == CN_OK &&
               !memcmp(x1, x2, 25 * 192 * sizeof *x1);
        reader_close(r1);
        reader_close(r2);
        free(x1);
        free(x2);
        shard_set_free(&s1);
        shard_set_free(&s2);
    }
    tu_check("png_seeded", same, "the same seed must cut the same patches");

    FILE *t = fopen(tpath("fake.png"), "w");
    fputs("not a png", t);
    fclose(t);
    snprintf(line, sizeof line, "data images --out %s --n 5 --patch 4 --quiet %s", tpath("pc"), tpath("fake.png"));
    int rc = run_data(line);
    tu_check("png_not_png", rc == 1 && strstr(cn_last_error(), "fake.png"), "a file that is not a PNG must fail");
}

static void test_cmd(void)
{
    char line[1024];
    tu_check("cmd_no_source", run_data("data --out x") == 2, "no source must be a usage error");
    tu_check("cmd_unknown_option", run_data("data synthetic --out x --bogus 1") == 2, "unknown option");
    tu_check("cmd_bad_size", run_data("data synthetic --out x --size 20x20") == 2, "--size needs HxWxC");
    tu_check("cmd_bad_number", run_data("data synthetic --out x --n 12abc") == 2, "--n must be an integer");
    tu_check("cmd_no_out", run_data("data synthetic --n 5") == 2, "--out is required");
    tu_check("cmd_unknown_source", run_data("data cifar --out x") == 2, "unknown source");
    tu_check("cmd_help", run_data("data --help") == 0, "--help exits 0");
    tu_check("cmd_classes_not_fmnist", run_data("data fashion-mnist --out x --classes 3") == 2,
             "--classes applies to synthetic only");
    tu_check("cmd_test_n_not_images", run_data("data images --out x --test-n 3 a.png") == 2,
             "--test-n does not apply to images");
    snprintf(line, sizeof line, "data synthetic --out %s --n 10 --size 4x4x1 --quiet", tpath("syn"));
    tu_check("cmd_refuses_existing", run_data(line) == 1 && strstr(cn_last_error(), "--force"),
             "existing shards must not be overwritten without --force");
    snprintf(line, sizeof line, "data synthetic --out %s --n 10 --test-n 0 --size 4x4x1 --force --quiet",
             tpath("syn"));
    cn_shard_set set;
    int ok = run_data(line) == 0 && shard_set_open(&set, tpath("syn/*.h5"), 0) == CN_OK;
    tu_check("cmd_force_replaces", ok && set.n == 10 && set.h == 4, "--force must replace the old shards");
    if (ok)
        shard_set_free(&set);
    /* missing parents are created (mkdir -p); a parent that is a file is refused with one line */
    snprintf(line, sizeof line, "data synthetic --out %s/new/nested/dir --n 10 --test-n 0 --size 4x4x1 --quiet", tmp);
    tu_check("cmd_out_parents", run_data(line) == 0, "missing parent directories must be created");
    snprintf(line, sizeof line, "data synthetic --out %s/syn/train-000.h5/dir --n 10 --quiet", tmp);
    tu_check("cmd_bad_out", run_data(line) == 1 && strstr(cn_last_error(), "train-000.h5/dir"), cn_last_error());
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "data"))
        return cmd_data(argc - 1, argv + 1);
    snprintf(tmp, sizeof tmp, "%s/cotsnet_shard_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        tu_fail("mkdtemp", "cannot create a temporary directory");
        return 1;
    }
    double t0 = cn_now();
    int all = argc < 2 || strcmp(argv[1], "reader") != 0;
    if (all)
        test_tiles();
    test_order();
    test_read_error();
    if (all) {
        test_bad_shards();
        test_synthetic();
        test_png();
        test_cmd();
        test_fmnist();
    }
    printf("   (test_shard: %.2f s)\n", cn_now() - t0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        printf("   (could not remove %s)\n", tmp);
    return tu_exit();
}
