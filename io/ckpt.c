/* ckpt.c: writing, finding and loading checkpoints (see ckpt.h for the protocol). */
#include "io/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/h5check.h"
#include "mpi/h5mpi.h"
#include "src/common.h"
#include "src/dev.h"
#include "src/train.h"

#define CKPT_FORMAT "cotsnet-checkpoint"
#define CKPT_VERSION 1
#define MAX_TENSORS (6 * CN_MAX_STAGES + 8)

typedef struct {
    char name[64];   /* dataset path */
    int rank;
    hsize_t dims[6]; /* global shape */
    int tiled;       /* dims[0], dims[1] split over the grid as `tile`; else whole on every rank */
    cn_rect tile;
    float *data;     /* this rank's part */
} tensor;

static int add(tensor *t, int n, const char *name, int rank, const hsize_t *dims, int tiled, cn_rect tile, float *data)
{
    if (n >= MAX_TENSORS)
        cn_fatal("too many tensors in a checkpoint");
    snprintf(t[n].name, sizeof t[n].name, "%s", name);
    t[n].rank = rank;
    memcpy(t[n].dims, dims, (size_t)rank * sizeof *dims);
    t[n].tiled = tiled;
    t[n].tile = tile;
    t[n].data = data;
    return n + 1;
}

/* Every tensor of the network, with its global shape and this rank's tile. */
static int list_tensors(const cn_net *net, tensor *t)
{
    const char *state = net->job->optimizer == OPT_ADAGRAD ? "adagrad_sum" : "momentum";
    char name[64];
    int n = 0;
    for (int k = 0; k < net->nstages; k++) {
        const cn_stage *s = &net->st[k];
        hsize_t d[6] = {(hsize_t)s->Ho, (hsize_t)s->Wo, (hsize_t)s->M, (hsize_t)s->r, (hsize_t)s->r, (hsize_t)s->C};
        snprintf(name, sizeof name, "/stage%d/filters", k + 1);
        n = add(t, n, name, 6, d, 1, s->y_tile, s->w.w);
        if (s->w.state) { /* none under optimizer.fused: plain SGD keeps no state */
            snprintf(name, sizeof name, "/stage%d/%s", k + 1, state);
            n = add(t, n, name, 6, d, 1, s->y_tile, s->w.state);
        }
        if (s->dec.n) {
            snprintf(name, sizeof name, "/stage%d/decoder", k + 1);
            n = add(t, n, name, 6, d, 1, s->y_tile, s->dec.w);
            if (s->dec.state) {
                snprintf(name, sizeof name, "/stage%d/decoder_%s", k + 1, state);
                n = add(t, n, name, 6, d, 1, s->y_tile, s->dec.state);
            }
        }
    }
    const cn_stage *l = &net->st[net->nstages - 1];
    hsize_t hd[4] = {(hsize_t)l->Hp, (hsize_t)l->Wp, (hsize_t)l->M, (hsize_t)net->K}, bd[1] = {(hsize_t)net->K};
    cn_rect none = {0, 0, 0, 0};
    n = add(t, n, "/head/weights", 4, hd, 1, l->p_tile, net->hw.w);
    snprintf(name, sizeof name, "/head/weights_%s", state);
    n = add(t, n, name, 4, hd, 1, l->p_tile, net->hw.state);
    n = add(t, n, "/head/bias", 1, bd, 0, none, net->hb.w);
    snprintf(name, sizeof name, "/head/bias_%s", state);
    n = add(t, n, name, 1, bd, 0, none, net->hb.state);
    return n;
}

/* Chunks of about 1 MiB: whole locations (rows x columns) of the tensor, never more than it has. */
static void chunk_dims(const tensor *t, hsize_t *c)
{
    hsize_t inner = 1;
    for (int i = 0; i < t->rank; i++)
        c[i] = t->dims[i];
    if (t->rank == 1) {
        c[0] = t->dims[0] < 262144 ? t->dims[0] : 262144;
        return;
    }
    for (int i = 2; i < t->rank; i++)
        inner *= t->dims[i];
    if (inner > 262144 && t->rank > 2) { /* a location alone is over 1 MiB: split its first inner dim */
        hsize_t rest = inner / t->dims[2];
        c[2] = rest >= 262144 ? 1 : 262144 / rest;
        inner = rest * c[2];
    }
    hsize_t side = 1;
    while ((side + 1) * (side + 1) * inner <= 262144)
        side++;
    c[0] = side < t->dims[0] ? side : t->dims[0];
    c[1] = side < t->dims[1] ? side : t->dims[1];
}

/* This rank's selection of a tensor: its tile (replica 0 only when writing), or the whole of an
 * untiled tensor (world rank 0 only when writing). Returns the number of floats selected. */
static hsize_t select_part(const cn_net *net, const tensor *t, hid_t fspace, int writing, hsize_t *count)
{
    const cn_grid *g = net->grid;
    hsize_t start[6] = {0};
    int mine = writing ? (t->tiled ? g->replica == 0 : g->world_rank == 0) : 1;
    for (int i = 0; i < t->rank; i++)
        count[i] = t->dims[i];
    if (t->tiled) {
        start[0] = (hsize_t)t->tile.y0, start[1] = (hsize_t)t->tile.x0;
        count[0] = (hsize_t)rect_rows(t->tile), count[1] = (hsize_t)rect_cols(t->tile);
    }
    hsize_t total = 1;
    for (int i = 0; i < t->rank; i++)
        total *= count[i];
    if (!mine || total == 0) {
        H5_CHECK(H5Sselect_none(fspace));
        return 0;
    }
    H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
    return total;
}

static void attr_write(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t space = H5_CHECK(H5Screate(H5S_SCALAR));
    hid_t a = H5_CHECK(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_CHECK(H5Awrite(a, type, value));
    H5_CHECK(H5Aclose(a));
    H5_CHECK(H5Sclose(space));
}

static void attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5_CHECK(H5Tcopy(H5T_C_S1));
    H5_CHECK(H5Tset_size(type, strlen(value) + 1));
    H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLTERM));
    attr_write(obj, name, type, value);
    H5_CHECK(H5Tclose(type));
}

static void attr_i64(hid_t obj, const char *name, int64_t v) { attr_write(obj, name, H5T_NATIVE_INT64, &v); }

/* fsync a file: 0, or -1 with errno */
static int fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static void fsync_path(const char *path)
{
    if (fsync_file(path))
        cn_fatal("flushing %s (open and fsync) failed: %s", path, strerror(errno));
}

/* ckpt-NNNNNNNN.h5 -> step, or -1 for any other name (partial files included). */
static long ckpt_step_of(const char *name)
{
    size_t n = strlen(name);
    if (n != 5 + 8 + 3 || strncmp(name, "ckpt-", 5) || strcmp(name + 13, ".h5"))
        return -1;
    long step = 0;
    for (int i = 5; i < 13; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        step = step * 10 + (name[i] - '0');
    }
    return step;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Remove all but the newest `keep` complete checkpoints. */
static void prune(const char *dir, int keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    long steps[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        long s = ckpt_step_of(e->d_name);
        if (s >= 0)
            steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_long);
    for (int i = 0; i + keep < n; i++) {
        char path[CN_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/ckpt-%08ld.h5", dir, steps[i]);
        if (unlink(path) && errno != ENOENT)
            fprintf(stderr, "cotsnet: warning: cannot remove old checkpoint %s: %s\n", path, strerror(errno));
    }
}

int ckpt_latest(const char *dir, char *path, size_t len)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = ckpt_step_of(e->d_name);
        if (s > best)
            best = s;
    }
    closedir(d);
    if (best < 0)
        return 0;
    snprintf(path, len, "%s/ckpt-%08ld.h5", dir, best);
    return 1;
}

static void read_back(const cn_net *net, const cn_progress *cur, const char *path, char *err, size_t len);

int ckpt_save(const cn_net *net, const cn_progress *cur, const char *dir, int keep, char *path_out, size_t len)
{
    const cn_grid *g = net->grid;
    int bad = 0;
    if (g->world_rank == 0 && cn_mkdirs(dir)) {
        fprintf(stderr, "cotsnet: error: cannot create the checkpoint directory %s: %s\n", dir, strerror(errno));
        bad = 1;
    }
    if (world_any(g, bad))
        return -1;
    char partial[CN_PATH_MAX + 64], final[CN_PATH_MAX + 64];
    snprintf(final, sizeof final, "%.*s/ckpt-%08ld.h5", CN_PATH_MAX, dir, cur->step);
    snprintf(partial, sizeof partial, "%.*s/ckpt-%08ld.h5.partial", CN_PATH_MAX, dir, cur->step);

    cn_h5_lock();
    cn_h5_quiet();
    hid_t fapl = grid_h5_fapl(g, 1), dxpl = grid_h5_dxpl_collective(g);
    hid_t file = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0)
        cn_fatal("cannot create checkpoint %s (H5Fcreate failed)", partial);
    tensor t[MAX_TENSORS];
    int n = list_tensors(net, t);
    for (int k = 0; k < net->nstages; k++) {
        char grp[32];
        snprintf(grp, sizeof grp, "/stage%d", k + 1);
        H5_CHECK(H5Gclose(H5_CHECK(H5Gcreate2(file, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))));
    }
    H5_CHECK(H5Gclose(H5_CHECK(H5Gcreate2(file, "/head", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT))));
    for (int i = 0; i < n; i++) {
        hsize_t chunk[6], count[6];
        chunk_dims(&t[i], chunk);
        hid_t dcpl = H5_CHECK(H5Pcreate(H5P_DATASET_CREATE));
        H5_CHECK(H5Pset_chunk(dcpl, t[i].rank, chunk));
        H5_CHECK(H5Pset_fletcher32(dcpl));
        H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
        hid_t fspace = H5_CHECK(H5Screate_simple(t[i].rank, t[i].dims, NULL));
        hid_t ds = H5_CHECK(H5Dcreate2(file, t[i].name, H5T_IEEE_F32LE, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT));
        hsize_t nsel = select_part(net, &t[i], fspace, 1, count);
        hid_t mspace;
        float *data = t[i].data, none = 0;
        if (nsel) {
            mspace = H5_CHECK(H5Screate_simple(t[i].rank, count, NULL));
            if (dev_gpu()) { /* the tile lives on the GPU: write a host copy */
                data = cn_alloc((size_t)nsel, sizeof *data);
                dev_download(data, t[i].data, (size_t)nsel * sizeof *data);
            }
        } else {
            hsize_t one = 1;
            mspace = H5_CHECK(H5Screate_simple(1, &one, NULL));
            H5_CHECK(H5Sselect_none(mspace));
            if (dev_gpu())
                data = &none; /* nothing is read from it, and it is not device memory */
        }
        H5_CHECK(H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, dxpl, data));
        if (nsel && data != t[i].data)
            cn_free(data);
        H5_CHECK(H5Sclose(mspace));
        H5_CHECK(H5Sclose(fspace));
        H5_CHECK(H5Dclose(ds));
        H5_CHECK(H5Pclose(dcpl));
    }
    const cn_job *job = net->job;
    char grid[64];
    snprintf(grid, sizeof grid, "%d x %d x %d", g->R, g->Py, g->Px);
    attr_string(file, "format", CKPT_FORMAT);
    attr_i64(file, "version", CKPT_VERSION);
    attr_i64(file, "step", cur->step);
    attr_i64(file, "phase", cur->phase);
    attr_i64(file, "stage", cur->stage);
    attr_i64(file, "phase_step", cur->phase_step);
    attr_i64(file, "sample_cursor", (int64_t)cur->data_pos);
    attr_i64(file, "epoch", (int64_t)(cur->data_pos / (uint64_t)CN_MAX(1, job->synthetic_train)));
    attr_i64(file, "seed", (int64_t)job->seed);
    attr_string(file, "rng", "philox4x32-10, counter-based: state = (seed, sample_cursor)");
    attr_i64(file, "classes", job->classes);
    attr_i64(file, "stages", net->nstages);
    attr_string(file, "grid", grid);
    attr_string(file, "job", job->text ? job->text : "");
    attr_string(file, "build", cn_git_rev());
    if (cur->lf_tiles[0])
        attr_string(file, "lf_tiles", cur->lf_tiles);
    H5_CHECK(H5Pclose(fapl));
    H5_CHECK(H5Pclose(dxpl));
    char err[512] = "";
    if (H5Fclose(file) < 0)
        snprintf(err, sizeof err, "closing the file failed");
    cn_h5_unlock();

    /* Every rank has closed the file. Rank 0 flushes it to disk, and every rank reads its own part back:
     * MPI-IO can lose writes without a word to HDF5 (Open MPI's ompio on a full file system prints its
     * own lines and HDF5 reports success: seen, a run "saved" ten empty checkpoints and exited 0). Only a
     * file that reads back as written takes its final name; otherwise the partial file goes, the older
     * checkpoints stay, and the lowest failing rank says why. */
    world_barrier(g);
    if (!err[0] && g->world_rank == 0 && fsync_file(partial))
        snprintf(err, sizeof err, "fsync failed: %s", strerror(errno));
    if (!err[0])
        read_back(net, cur, partial, err, sizeof err);
    char what[CN_PATH_MAX + 80];
    snprintf(what, sizeof what, "checkpoint %s", partial);
    if (err[0])
        snprintf(err + strlen(err), sizeof err - strlen(err), "; the file system may be full; the partial file is "
                 "removed and the checkpoints before it are kept");
    if (world_any_error(g, err[0] != 0, what, err)) {
        if (g->world_rank == 0)
            unlink(partial);
        return -1;
    }
    if (g->world_rank == 0) {
        if (rename(partial, final))
            cn_fatal("rename(%s, %s) failed: %s", partial, final, strerror(errno));
        fsync_path(dir);
        prune(dir, keep);
    }
    world_barrier(g);
    if (path_out)
        snprintf(path_out, len, "%s", final);
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------------ */

/* 0 when the n floats read back equal the tensor part at data (device memory on the GPU backend), bit
 * for bit; else 1 with the first difference in err. */
static int compare_part(const float *data, const float *got, size_t n, char *err, size_t len, const char *name)
{
    const float *want = data;
    float *host = NULL;
    if (dev_gpu()) {
        host = cn_alloc(n, sizeof *host);
        dev_download(host, data, n * sizeof *host);
        want = host;
    }
    size_t i = 0;
    while (i < n && !memcmp(&want[i], &got[i], sizeof *got))
        i++;
    if (i < n)
        snprintf(err, len, "%.63s does not read back as written (element %zu of this rank's part: %g written, %g "
                 "read)", name, i, (double)want[i], (double)got[i]);
    cn_free(host);
    return i < n;
}

/* Read this rank's part of one tensor; on failure a message in err. verify: read it into scratch and
 * compare it with the tensor's memory, which stays as it is (ckpt_save's read-back). */
static int read_tensor(const cn_net *net, hid_t file, const tensor *t, int verify, char *err, size_t len)
{
    hid_t ds = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, type = H5I_INVALID_HID;
    int rc = -1;
    hsize_t dims[8], count[6], nsel = 0;
    float *buf = NULL;
    char parent[64];
    snprintf(parent, sizeof parent, "%.*s", (int)(strrchr(t->name, '/') - t->name), t->name);
    htri_t exists = H5Lexists(file, parent, H5P_DEFAULT);
    if (exists > 0)
        exists = H5Lexists(file, t->name, H5P_DEFAULT);
    if (exists == 0) {
        snprintf(err, len, "%.63s is missing (a checkpoint of another network or optimizer?)", t->name);
        goto error;
    }
    H5O_info_t info;
    if (exists > 0 && H5Oget_info_by_name(file, t->name, &info, H5P_DEFAULT) >= 0 && info.type != H5O_TYPE_DATASET) {
        snprintf(err, len, "%.63s is not a dataset", t->name);
        goto error;
    }
    if (exists < 0 || (ds = H5Dopen2(file, t->name, H5P_DEFAULT)) < 0) {
        char h5[200];
        cn_h5_error_text(h5, sizeof h5);
        snprintf(err, len, "%.63s cannot be opened: the file is corrupted (%s)", t->name, h5[0] ? h5 : "not a dataset");
        goto error;
    }
    type = H5Dget_type(ds);
    if (type < 0 || H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 4) {
        snprintf(err, len, "%.63s is not float32", t->name);
        goto error;
    }
    fspace = H5Dget_space(ds);
    int rank = fspace < 0 ? -1 : H5Sget_simple_extent_ndims(fspace);
    if (rank < 0 || (rank <= 8 && H5Sget_simple_extent_dims(fspace, dims, NULL) < 0)) {
        snprintf(err, len, "%.63s has no readable shape: the file is corrupted", t->name);
        goto error;
    }
    if (rank != t->rank || memcmp(dims, t->dims, (size_t)rank * sizeof *dims)) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < t->rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%llu", i ? "," : "", (unsigned long long)t->dims[i]);
        if (rank > 8)
            snprintf(got, sizeof got, "rank %d", rank);
        for (int i = 0; i < rank && rank <= 8; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
        snprintf(err, len, "%.63s has shape [%s], the job needs [%s]", t->name, got, want);
        goto error;
    }
    nsel = select_part(net, t, fspace, 0, count);
    if (nsel) {
        mspace = H5Screate_simple(t->rank, count, NULL);
        /* a tile that lives on the GPU is read into a host copy and uploaded */
        buf = dev_gpu() || verify ? cn_alloc((size_t)nsel, sizeof *buf) : t->data;
        if (mspace < 0 || H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf) < 0) {
            char h5[200];
            cn_h5_error_text(h5, sizeof h5);
            snprintf(err, len, "%.63s cannot be read: the file is corrupted (%s)", t->name,
                     h5[0] ? h5 : "checksum mismatch or truncated data");
            goto error;
        }
        if (verify) {
            int differs = compare_part(t->data, buf, (size_t)nsel, err, len, t->name);
            cn_free(buf);
            buf = NULL;
            if (differs)
                goto error;
        }
        for (hsize_t i = 0; buf && i < nsel; i++)
            if (!isfinite(buf[i])) {
                snprintf(err, len, "%.63s holds a value that is not finite (%g at element %llu of this rank's part): "
                         "a checkpoint of a diverged run, or a damaged one", t->name, (double)buf[i], (unsigned long long)i);
                goto error;
            }
    }
    if (buf && buf != t->data)
        dev_upload(t->data, buf, (size_t)nsel * sizeof *buf);
    rc = 0;
error:
    if (buf && buf != t->data)
        cn_free(buf);
    cn_h5_close(&mspace);
    cn_h5_close(&fspace);
    cn_h5_close(&type);
    cn_h5_close(&ds);
    return rc;
}

/* ckpt_save's check of the file it has just written and closed: this rank opens it on its own, reads
 * the step back, and its own part of every tensor, which must equal what it wrote bit for bit (holes
 * left by lost writes read as zeros, or fail their Fletcher-32 checksums). A message in err when not. */
static void read_back(const cn_net *net, const cn_progress *cur, const char *path, char *err, size_t len)
{
    cn_h5_lock();
    cn_h5_quiet();
    hid_t fapl = grid_h5_fapl(net->grid, 0), file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    long long step = -1;
    if (file < 0) {
        char h5[200];
        cn_h5_error_text(h5, sizeof h5);
        snprintf(err, len, "written, it does not open again (%s)", h5[0] ? h5 : "open failed");
    } else if (cn_h5_attr_int(file, "step", &step) || step != cur->step) {
        snprintf(err, len, "written, its attribute step does not read back as %ld", cur->step);
    } else {
        tensor t[MAX_TENSORS];
        int n = list_tensors(net, t);
        for (int i = 0; i < n; i++)
            if (read_tensor(net, file, &t[i], 1, err, len))
                break;
    }
    cn_h5_close(&file);
    cn_h5_close(&fapl);
    cn_h5_unlock();
}

int ckpt_load(cn_net *net, cn_progress *cur, const char *path)
{
    const cn_grid *g = net->grid;
    char err[512] = "";
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
    cn_h5_lock();
    cn_h5_quiet();
    fapl = grid_h5_fapl(g, 0); /* every rank opens and reads on its own: one bad chunk fails one rank */
    if (access(path, R_OK)) {
        snprintf(err, sizeof err, "cannot read: %s", strerror(errno));
        goto done;
    }
    file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        char h5[200];
        cn_h5_error_text(h5, sizeof h5);
        snprintf(err, sizeof err, "not a readable HDF5 file (truncated or corrupted: %s)", h5[0] ? h5 : "open failed");
        goto done;
    }
    char fmt[64];
    long long version = 0, classes = 0, stages = 0, v[5];
    int arc = cn_h5_attr_text(file, "format", fmt, sizeof fmt);
    if (arc == -2) {
        char h5[200];
        cn_h5_error_text(h5, sizeof h5);
        snprintf(err, sizeof err, "the attributes of / cannot be read: the file is corrupted (%s)", h5[0] ? h5 : "?");
        goto done;
    }
    if (arc || strcmp(fmt, CKPT_FORMAT)) {
        snprintf(err, sizeof err, "not a cotsnet checkpoint (no format = \"%s\" attribute)", CKPT_FORMAT);
        goto done;
    }
    if (cn_h5_attr_int(file, "version", &version)) {
        snprintf(err, sizeof err, "attribute version is missing or not one integer");
        goto done;
    }
    if (version != CKPT_VERSION) {
        snprintf(err, sizeof err, "checkpoint version %lld, this build reads version %d", version, CKPT_VERSION);
        goto done;
    }
    static const char *const cursor_attr[5] = {"step", "phase", "stage", "phase_step", "sample_cursor"};
    for (int i = 0; i < 5; i++)
        if (cn_h5_attr_int(file, cursor_attr[i], &v[i])) {
            snprintf(err, sizeof err, "attribute %s of the training cursor is missing or not one integer", cursor_attr[i]);
            goto done;
        }
    if (cn_h5_attr_int(file, "classes", &classes) || cn_h5_attr_int(file, "stages", &stages)) {
        snprintf(err, sizeof err, "attribute classes or stages is missing or not one integer");
        goto done;
    }
    if (classes != net->K || stages != net->nstages) {
        snprintf(err, sizeof err, "checkpoint of %lld stages and %lld classes, the job has %d and %d", stages, classes,
                 net->nstages, net->K);
        goto done;
    }
    /* a cursor no run writes: steps beyond 2^50 (a run's phases together stay below 2^34), a phase or stage
     * out of range, more steps in the phase than in the run */
    if (v[0] < 0 || v[0] > (1LL << 50) || v[1] < PHASE_RICA || v[1] > PHASE_DONE || v[2] < 0 || v[2] >= net->nstages ||
        v[3] < 0 || v[3] > v[0] || v[4] < 0) {
        snprintf(err, sizeof err, "the training cursor is invalid (step %lld, phase %lld, stage %lld, phase_step %lld, "
                 "sample_cursor %lld)", v[0], v[1], v[2], v[3], v[4]);
        goto done;
    }
    char tiles[CN_LF_TILES_TEXT] = "";
    int trc = cn_h5_attr_text(file, "lf_tiles", tiles, sizeof tiles);
    if (trc != CN_H5A_MISSING && (trc || lf_tiles_parse(tiles, net->nstages, NULL))) {
        snprintf(err, sizeof err, "attribute lf_tiles is not %d stage%s of three tile schemes (t32, t16 or t4), "
                 "as \"t16,t32,t16;...\"", net->nstages, net->nstages > 1 ? "s" : "");
        goto done;
    }
    tensor t[MAX_TENSORS];
    int n = list_tensors(net, t);
    for (int i = 0; i < n; i++)
        if (read_tensor(net, file, &t[i], 0, err, sizeof err))
            goto done;
    *cur = (cn_progress){(long)v[0], (int)v[1], (int)v[2], (long)v[3], (uint64_t)v[4], ""};
    snprintf(cur->lf_tiles, sizeof cur->lf_tiles, "%s", trc ? "" : tiles);
done:
    cn_h5_close(&file);
    cn_h5_close(&fapl);
    cn_h5_unlock();
    /* every rank learns the outcome; the lowest failing rank says why */
    char what[CN_PATH_MAX + 80];
    snprintf(what, sizeof what, "checkpoint %s", path);
    return world_any_error(g, err[0] != 0, what, err) ? -1 : 0;
}
