/* sizing.c: `cotsnet info --params`: parameters and per-rank memory of a job on a grid (sizing.h).
 *
 * Every number mirrors an allocation: net_create (parameters with their gradient and optimizer state,
 * the batch buffers of each stage, the head), halo_plan_create (one send buffer per peer whose window
 * meets this rank's tile, one receive buffer per peer whose tile meets this rank's window, each for
 * the whole batch), train_run (the gradient on each stage's out tile) and the shard reader (two
 * prefetch slots of the input tile for the training and the test set when [data] prefetch is on and
 * the data are shards, not synthetic). Windows come from net_geometry, the
 * same functions the halo plans ask, so the count is exact for the CPU backend; a rank's memory
 * depends on its place in the grid (inner ranks have wider windows), so every rank is counted and the
 * largest is reported. Not counted: MPI's and HDF5's own buffers, the program's code, the stack. */
#include "src/sizing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"
#include "src/net.h"

#define MAX_SETS 256
#define MAX_GRID_RANKS 16384 /* Py x Px that sizing accepts */
#define COUNT_ALL 1024       /* larger grids: only the first 3 x 3 ranks are counted */

static size_t area(cn_rect r) { return (size_t)rect_rows(r) * (size_t)rect_cols(r); }

size_t mem_total(const cn_mem *m)
{
    return m->params + m->grads + m->optim + m->acts + m->windows + m->messages + m->data;
}

static void mem_add(cn_mem *a, const cn_mem *b)
{
    a->params += b->params, a->grads += b->grads, a->optim += b->optim, a->acts += b->acts;
    a->windows += b->windows, a->messages += b->messages, a->data += b->data;
}

/* Floats of the send and receive buffers of a halo plan for rank me, per sample: tile(me) ∩ window(q)
 * and window(me) ∩ tile(q) over the other ranks q. all[q] holds rank q's geometry. */
static size_t plan_floats(const cn_stage *const *all, int n, int me, int k, int which, int C)
{
    size_t f = 0;
    for (int q = 0; q < n; q++) {
        if (q == me)
            continue;
        const cn_stage *a = &all[me][k], *b = &all[q][k];
        cn_rect ta = which == 0 ? a->x_tile : which == 1 ? a->y_tile : a->p_tile;
        cn_rect wa = which == 0 ? a->x_win : which == 1 ? a->y_win : a->p_win;
        cn_rect tb = which == 0 ? b->x_tile : which == 1 ? b->y_tile : b->p_tile;
        cn_rect wb = which == 0 ? b->x_win : which == 1 ? b->y_win : b->p_win;
        f += area(rect_intersect(ta, wb)) + area(rect_intersect(wa, tb));
    }
    return f * (size_t)C;
}

/* Memory of rank me, given the geometry of every rank (all[q], n ranks). */
static void rank_mem(const cn_job *job, const cn_stage *const *all, int n, int me, cn_mem *stage, cn_mem *head)
{
    const size_t F4 = sizeof(float), B = (size_t)job->batch;
    const cn_stage *st = all[me];
    memset(head, 0, sizeof *head);
    for (int k = 0; k < job->nstages; k++) {
        const cn_stage *s = &st[k];
        cn_mem *m = &stage[k];
        memset(m, 0, sizeof *m);
        size_t nw = area(s->y_tile) * (size_t)s->M * s->r * s->r * s->C;
        if (!job->stage[k].tied)
            nw *= 2; /* a separate decoder of the same shape */
        m->params = m->grads = m->optim = nw * F4;
        if (job->fused) { /* no state; no gradient on the GPU (net.c, param_alloc_fused) */
            m->optim = 0;
            if (job->backend == BACKEND_CUDA)
                m->grads = 0;
        }
        size_t bx = B * area(s->x_tile) * s->C, bxw = B * area(s->x_win) * s->C;
        size_t by = B * area(s->y_tile) * s->M, byw = B * area(s->y_win) * s->M;
        size_t bp = B * area(s->p_tile) * s->M, bpw = s->n ? B * area(s->p_win) * s->M : 0;
        /* xr, ge; y, gy; p, gp; out (with LCN); the training loop's gradient on the out tile */
        m->acts = (2 * bx + 2 * by + 2 * bp + (s->n ? bp : 0) + bp) * F4;
        /* xw, gxw, xr_w, gew; yw, gyw; pw, gpw */
        m->windows = (4 * bxw + 2 * byw + 2 * bpw) * F4;
        size_t msg = plan_floats(all, n, me, k, 0, s->C) + plan_floats(all, n, me, k, 1, s->M);
        if (s->n)
            msg += plan_floats(all, n, me, k, 2, s->M);
        m->messages = msg * B * F4;
    }
    const cn_stage *l = &st[job->nstages - 1];
    size_t K = (size_t)job->classes, F = area(l->p_tile) * (size_t)l->M;
    head->params = head->grads = head->optim = (F * K + K) * F4;
    /* logits and their gradient, the input tile x0, the labels */
    head->acts = 2 * B * K * F4 + B * area(st[0].x_tile) * st[0].C * F4 + B * sizeof(int);
    size_t sample = area(st[0].x_tile) * (size_t)st[0].C;
    /* the prefetch slots of the shard readers, and of the synthetic generator's read-ahead on the GPU
     * backend (src/data.c; on the CPU backend synthetic batches are generated in place) */
    int ahead = job->backend == BACKEND_CUDA;
    int readers = (ahead || strcmp(job->train, "synthetic") != 0) +
                  (job->test[0] && (ahead || strcmp(job->test, "synthetic") != 0));
    if (job->prefetch)
        head->data = 2 * B * (sample * F4 + sizeof(int)) * (size_t)readers;
}

/* Ranks whose memory is counted: all of them, or for very large grids the ones that can be largest
 * (an inner rank has the widest windows; tiles are largest in the first rows and columns). */
static int counted(int Py, int Px, int q)
{
    if ((long long)Py * Px <= COUNT_ALL)
        return 1;
    int py = q / Px, px = q % Px;
    return py < 3 && px < 3;
}

static int geometry_all(const cn_job *job, int Py, int Px, cn_stage ***out)
{
    int n = Py * Px;
    cn_stage **all = cn_alloc((size_t)n, sizeof *all);
    for (int q = 0; q < n; q++) {
        all[q] = cn_alloc(CN_MAX_STAGES, sizeof(cn_stage));
        if (net_geometry(job, Py, Px, q / Px, q % Px, all[q])) {
            for (int i = 0; i <= q; i++)
                cn_free(all[i]);
            cn_free(all);
            return CN_EINVAL;
        }
    }
    *out = all;
    return CN_OK;
}

static void free_all(cn_stage **all, int n)
{
    for (int q = 0; q < n; q++)
        cn_free(all[q]);
    cn_free(all);
}

int sizing_rank(const cn_job *job, int Py, int Px, int py, int px, cn_mem stage[CN_MAX_STAGES], cn_mem *head)
{
    if (Py < 1 || Px < 1 || (long long)Py * Px > MAX_GRID_RANKS)
        return cn_set_error("grid %dx%d: sizing counts grids of 1 to %d ranks", Py, Px, MAX_GRID_RANKS);
    cn_stage **all;
    if (geometry_all(job, Py, Px, &all))
        return CN_EINVAL;
    rank_mem(job, (const cn_stage *const *)all, Py * Px, py * Px + px, stage, head);
    free_all(all, Py * Px);
    return CN_OK;
}

/* ---- the command ------------------------------------------------------------------------------ */

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

static void print_row(const char *name, const cn_mem *m)
{
    printf("  %-14s %11.2f %11.2f %11.2f %12.2f %12.2f %11.2f %9.2f %11.2f\n", name, mib(m->params), mib(m->grads),
           mib(m->optim), mib(m->acts), mib(m->windows), mib(m->messages), mib(m->data), mib(mem_total(m)));
}

/* "RxPyxPx" or "PyxPx" */
static int parse_grid(const char *s, int *R, int *Py, int *Px)
{
    int a, b, c;
    char tail;
    if (sscanf(s, "%dx%dx%d%c", &a, &b, &c, &tail) == 3 && a > 0 && b > 0 && c > 0) {
        *R = a, *Py = b, *Px = c;
        return 0;
    }
    if (sscanf(s, "%dx%d%c", &a, &b, &tail) == 2 && a > 0 && b > 0) {
        *Py = a, *Px = b;
        return 0;
    }
    return -1;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "cotsnet: error: info --params: %s (usage: cotsnet info --params JOB.ini [--grid RxPyxPx] "
                    "[--set section.key=value ...])\n", what);
    return 2;
}

int cmd_info_params(int argc, char **argv)
{
    const char *path = NULL, *grid = NULL;
    const char *sets[MAX_SETS];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--params"))
            continue;
        if (!strcmp(argv[i], "--grid") && i + 1 < argc)
            grid = argv[++i];
        else if (!strncmp(argv[i], "--grid=", 7))
            grid = argv[i] + 7;
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < MAX_SETS)
            sets[nsets++] = argv[++i];
        else if (!strncmp(argv[i], "--set=", 6) && nsets < MAX_SETS)
            sets[nsets++] = argv[i] + 6;
        else if (argv[i][0] == '-') {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown option '%.80s'", argv[i]);
            return usage_error(msg);
        } else if (!path)
            path = argv[i];
        else
            return usage_error("more than one job file");
    }
    if (!path)
        return usage_error("no job file given");
    cn_job job;
    if (job_load(&job, path, sets, nsets, 0))
        return 2;
    int R = job.replicas, Py = job.rows, Px = job.cols;
    if (grid && parse_grid(grid, &R, &Py, &Px)) {
        job_free(&job);
        return usage_error("--grid wants RxPyxPx or PyxPx, e.g. 2x4x4");
    }
    if ((long long)Py * Px > MAX_GRID_RANKS || (long long)R * Py * Px > (1LL << 30)) {
        job_free(&job);
        return usage_error("grid too large: at most 16384 ranks per replica");
    }
    int n = Py * Px;
    cn_stage **all;
    if (geometry_all(&job, Py, Px, &all)) {
        fprintf(stderr, "cotsnet: error: info --params: %s: %s\n", path, cn_last_error());
        job_free(&job);
        return 2;
    }
    /* the largest and smallest rank */
    cn_mem st[CN_MAX_STAGES], hd, big_st[CN_MAX_STAGES], big_hd;
    size_t big = 0, small = (size_t)-1;
    int big_q = 0, small_q = 0;
    for (int q = 0; q < n; q++) {
        if (!counted(Py, Px, q))
            continue;
        rank_mem(&job, (const cn_stage *const *)all, n, q, st, &hd);
        size_t t = mem_total(&hd);
        for (int k = 0; k < job.nstages; k++)
            t += mem_total(&st[k]);
        if (t > big || q == 0) {
            big = t, big_q = q;
            memcpy(big_st, st, sizeof st);
            big_hd = hd;
        }
        if (t < small)
            small = t, small_q = q;
    }

    size_t total = net_param_count_global(&job), head = (size_t)all[0][job.nstages - 1].Hp *
                                                        (size_t)all[0][job.nstages - 1].Wp *
                                                        (size_t)job.stage[job.nstages - 1].maps * job.classes + job.classes;
    printf("job %s: %dx%dx%d input, %d stage%s, batch %d per replica, %s\n", path, job.height, job.width, job.channels,
           job.nstages, job.nstages > 1 ? "s" : "", job.batch, job.optimizer == OPT_ADAGRAD ? "adagrad" : job.fused ? "fused sgd" : "sgd+momentum");
    printf("grid %d x %dx%d: %lld ranks (replicas x rows x columns)\n", R, Py, Px, (long long)R * n);
    printf("parameters: %zu (%.3g)\n", total, (double)total);
    for (int k = 0; k < job.nstages; k++) {
        const cn_stage *s = &all[0][k];
        size_t nw = (size_t)s->Ho * s->Wo * s->M * s->r * s->r * s->C;
        printf("  stage %d: %dx%dx%d -> filter %dx%d (field %d, stride %d, %d maps) -> pool %dx%d: %zu filter "
               "weights%s\n", k + 1, s->H, s->W, s->C, s->Ho, s->Wo, s->r, s->s, s->M, s->Hp, s->Wp, nw,
               job.stage[k].tied ? " (tied decoder)" : ", as many in the separate decoder");
    }
    printf("  head: %zu (%d classes)\n", head, job.classes);
    int by = big_q / Px, bx = big_q % Px;
    printf("memory of the largest rank, grid rank %d (row %d, column %d), MiB:\n", big_q, by, bx);
    printf("  %-14s %11s %11s %11s %12s %12s %11s %9s %11s\n", "", "parameters", "gradients", "optimizer",
           "activations", "halo windows", "halo msgs", "data", "total");
    cn_mem sum = big_hd;
    for (int k = 0; k < job.nstages; k++) {
        char name[32];
        const cn_stage *s = &all[big_q][k];
        snprintf(name, sizeof name, "stage %d", k + 1);
        print_row(name, &big_st[k]);
        printf("  %-14s x tile %dx%d, window %dx%d; y tile %dx%d\n", "", rect_rows(s->x_tile), rect_cols(s->x_tile),
               rect_rows(s->x_win), rect_cols(s->x_win), rect_rows(s->y_tile), rect_cols(s->y_tile));
        mem_add(&sum, &big_st[k]);
    }
    print_row("head, input", &big_hd);
    print_row("total", &sum);
    printf("smallest rank: grid rank %d, %.2f MiB; all %lld ranks: at most %.3f GiB\n", small_q, mib(small),
           (long long)R * n, (double)big * R * n / (1024.0 * 1024.0 * 1024.0));
    printf("not counted: MPI's and HDF5's own buffers, code, stacks (CPU backend; the GPU holds the same tensors)\n");
    if (n > COUNT_ALL)
        printf("(a grid of more than %d ranks: only its first 3x3 ranks were counted: they hold the largest tiles "
               "and an inner rank's full windows)\n", COUNT_ALL);
    free_all(all, n);
    job_free(&job);
    return 0;
}
