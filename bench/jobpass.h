/* jobpass.h: `bench_ops --job` and `bench_cuda --job`: the tile operations of one training step of every
 * stage of a job, on the tiles of the job's slowest rank, for bench/perfmodel.py --rates
 * (bench/PERFMODEL.md "Rates per layer shape").
 *
 *   --job JOB.ini [--grid PYxPX] [--batch B] [--set section.key=value ...] [--reps N]
 *       (defaults: the job's own grid (rows x cols; replicas do not change a rank's tiles) and batch; 5)
 *
 * The geometry is the engine's: net_geometry (src/net.c) gives every stage's tiles, windows and the
 * dimensions of its tile operations, exactly as net_create builds them. The rank timed is the one with
 * the most local-filter FLOPs over all stages (the first rows and columns hold the larger tiles), the
 * widest LCN windows breaking ties (inner ranks). For each stage, the passes that src/stage.c and
 * src/train.c run, in their order, each with the zeroing the engine does before it (the encode in the
 * engine's regions, stage_lf_regions: the interior in blocks of rows, then the border):
 *   forward of the stage (as the RICA step of a later stage runs it): lf_encode, pool_fwd, lcn_fwd;
 *   its own RICA step: lf_encode, pool_fwd, lf_decode, residual (2e/B and the two loss sums, and the
 *   pooling gradient's fill), lf_error, pool_bwd, lf_grad_enc, lf_grad_dec, optim (the job's optimizer
 *   on the filters and the separate decoder, gradients zeroed after it, as param_step).
 * Halo exchanges (the local copies of a 1x1 grid included), I/O and the loss sums over the grid are
 * not timed here: the model has them apart. Every pass is first checked against the reference on a
 * 2 x 3 region of its output tile (LCN: the whole tile; the optimizer: its first 2^20 values). Times:
 * the stage's passes run in order as a step runs them, a synchronisation between two, at least 5 such
 * sequences and 0.2 s (jp_time). One line per stage and pass:
 *   pass STAGE NAME B Hx Wx C Ho Wo M r s q t n CHECK MS GFLOP ALONE
 * (Hx Wx: the input window; Ho Wo: the output tile; GFLOP: local-filter work, 0 for the others; ALONE:
 * the median of the pass's own times, ms; MS: its share of the median whole sequence, ALONE scaled so
 * that the stage's passes sum to that median). The two differ where other processes share the core: a
 * pass much shorter than the scheduler's time slice is rarely preempted, so its median leaves out the
 * time the core spends elsewhere, while a sequence's median keeps it, as the training's step time does
 * (on this 2-core machine at load 6: 3.0 against 7.2 ms per step; bench/PERFMODEL.md).
 *
 * Header-only: each bench is one file (the Makefile builds bench/bench_*.c); the backend (host or GPU
 * memory, the _cpu or _cuda twins) comes as a jp_backend. */
#ifndef CN_BENCH_JOBPASS_H
#define CN_BENCH_JOBPASS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"
#include "src/job.h"
#include "src/net.h"
#include "src/ops.h"

typedef struct {
    const char *name;
    int optim_is_ref;                                  /* 1: optim is the reference itself (not checked) */
    float *(*alloc)(size_t n);                         /* n floats, zeroed */
    void (*release)(float *p);
    void (*zero)(float *p, size_t n);
    void (*upload)(float *dst, const float *src, size_t n);
    void (*download)(float *dst, const float *src, size_t n);
    void (*sync)(void);
    int (*lf_forward)(const lf_dims *, const float *, const float *, float *, cn_region);
    int (*lf_backward_data)(const lf_dims *, const float *, const float *, float *, cn_region);
    int (*lf_backward_filter)(const lf_dims *, const float *, const float *, float *, cn_region);
    int (*pool_forward)(const pool_dims *, const float *, float *, cn_region);
    int (*pool_backward)(const pool_dims *, const float *, const float *, const float *, float *, cn_region);
    int (*lcn_forward)(const lcn_dims *, const float *, float *);
    /* ge = 2 (xr - x) / B over n floats, part[0] = sum (xr - x)^2, part[1] = sum of p (np floats) */
    void (*residual)(const float *xr, const float *x, size_t n, const float *p, size_t np, int B, float *ge,
                     double *part);
    void (*fill)(float *v, size_t n, float value);
    void (*optim)(const cn_job *job, float *w, float *state, float *g, size_t n, float lr);
} jp_backend;

typedef struct {
    const char *path, *sets[64];
    int nsets, Py, Px, B, reps;
} jp_args;

/* Parses the --job options from argv[i]; returns the number of arguments used (0: not one of them). */
static int jp_parse(jp_args *a, int argc, char **argv, int i)
{
    if (i + 1 >= argc)
        return 0;
    if (!strcmp(argv[i], "--job"))
        a->path = argv[i + 1];
    else if (!strcmp(argv[i], "--grid")) {
        char tail;
        if (sscanf(argv[i + 1], "%dx%d%c", &a->Py, &a->Px, &tail) != 2 || a->Py < 1 || a->Px < 1)
            cn_fatal("--grid wants PYxPX, e.g. 2x2 (got '%s')", argv[i + 1]);
    } else if (!strcmp(argv[i], "--batch"))
        a->B = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--reps"))
        a->reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--set") && a->nsets < 64)
        a->sets[a->nsets++] = argv[i + 1];
    else
        return 0;
    return 2;
}

static double jp_relerr(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        num += e * e, den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* offset + scale x uniform(-1, 1), element i from a hash of (seed, i) (splitmix64): threads fill the
 * filters of a large job quickly */
static void jp_fill(float *a, size_t n, unsigned seed, float scale, float offset)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (uint64_t)seed * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull + 1;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        a[i] = offset + scale * (float)((double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
}

static double jp_lf_flops(const lf_dims *d)
{
    return 2.0 * d->B * (double)d->Ho * d->Wo * d->M * d->r * d->r * d->C;
}

/* The rank with the most local-filter FLOPs over all stages; ties: the widest LCN windows. */
static void jp_slowest_rank(const cn_job *job, int Py, int Px, int *py, int *px, cn_stage *st)
{
    double best_f = -1, best_w = -1;
    cn_stage *g = cn_alloc(CN_MAX_STAGES, sizeof *g);
    for (int q = 0; q < Py * Px; q++) {
        int y = q / Px, x = q % Px;
        if ((long long)Py * Px > 1024 && (y > 2 || x > 2)) /* as sizing.c: the first 3 x 3 hold the largest */
            continue;
        if (net_geometry(job, Py, Px, y, x, g))
            cn_fatal("%s: %s", job->path, cn_last_error());
        double f = 0, w = 0;
        for (int k = 0; k < job->nstages; k++) {
            f += jp_lf_flops(&g[k].lf);
            w += (double)rect_rows(g[k].p_win) * rect_cols(g[k].p_win);
        }
        if (f > best_f || (f == best_f && w > best_w)) {
            best_f = f, best_w = w, *py = y, *px = x;
            memcpy(st, g, CN_MAX_STAGES * sizeof *g);
        }
    }
    cn_free(g);
}

/* One stage's tensors: device arrays (d_*) and host copies (h_*) for the checks. */
typedef struct {
    const jp_backend *be;
    const cn_job *job;
    cn_stage *s;
    lf_dims lf;
    pool_dims pd;
    lcn_dims ld;
    size_t nxw, nx, ny, nyw, np, npw, nw;
    cn_region enc[CN_LF_REGIONS];          /* the encode's regions, as src/stage.c computes them */
    int nenc;
    float *xw, *gew, *xr_w, *w, *dec, *wg, *decg, *ws, *decs, *y, *gy, *yw, *gyw, *p, *gp, *pw, *out, *xr, *x, *ge;
    double part[2];
} jp_stage;

static float *jp_upload_new(const jp_backend *be, const float *h, size_t n)
{
    float *d = be->alloc(n ? n : 1);
    if (n)
        be->upload(d, h, n);
    return d;
}

/* The x window of the tile is the tile itself on a 1x1 grid; the error window gew and the input x
 * (its tile) are random; y, yw, p, pw come from the reference forward of the same data. */
static void jp_stage_init(jp_stage *c, const jp_backend *be, const cn_job *job, cn_stage *s, int B)
{
    memset(c, 0, sizeof *c);
    c->be = be, c->job = job, c->s = s;
    c->lf = s->lf, c->pd = s->pool, c->ld = s->lcn;
    c->lf.B = c->pd.B = c->ld.B = B;
    size_t A = (size_t)B;
    c->nxw = A * rect_rows(s->x_win) * rect_cols(s->x_win) * s->C;
    c->nx = A * rect_rows(s->x_tile) * rect_cols(s->x_tile) * s->C;
    c->ny = A * rect_rows(s->y_tile) * rect_cols(s->y_tile) * s->M;
    c->nyw = A * rect_rows(s->y_win) * rect_cols(s->y_win) * s->M;
    c->np = A * rect_rows(s->p_tile) * rect_cols(s->p_tile) * s->M;
    c->npw = s->n ? A * rect_rows(s->p_win) * rect_cols(s->p_win) * s->M : 0;
    c->nw = lf_filter_count(&c->lf);
    int nin;
    c->nenc = stage_lf_regions(s, job->overlap, c->enc, &nin);
    size_t big = CN_MAX(CN_MAX(c->nxw, c->nw), CN_MAX(c->nyw, c->npw));
    float *h = cn_alloc(big ? big : 1, sizeof *h);
    float ws = (float)(1.0 / sqrt((double)s->r * s->r * s->C));
    jp_fill(h, c->nxw, 1, 1.0f, 0.0f), c->xw = jp_upload_new(be, h, c->nxw);
    jp_fill(h, c->nxw, 2, 0.1f, 0.0f), c->gew = jp_upload_new(be, h, c->nxw);
    jp_fill(h, c->nx, 3, 1.0f, 0.0f), c->x = jp_upload_new(be, h, c->nx);
    jp_fill(h, c->nw, 4, ws, 0.0f), c->w = jp_upload_new(be, h, c->nw);
    if (!job->stage[s->k - 1].tied)
        jp_fill(h, c->nw, 5, ws, 0.0f), c->dec = jp_upload_new(be, h, c->nw);
    jp_fill(h, c->nyw, 6, 1.0f, 0.0f), c->yw = jp_upload_new(be, h, c->nyw);
    jp_fill(h, c->ny, 7, 1.0f, 0.0f), c->y = jp_upload_new(be, h, c->ny);
    jp_fill(h, c->npw, 8, 1.0f, 1.5f), c->pw = jp_upload_new(be, h, c->npw);
    cn_free(h);
    /* p from the pooling of yw, so that the pooling's backward divides by its own outputs */
    float *hy = cn_alloc(c->nyw ? c->nyw : 1, sizeof *hy), *hp = cn_alloc(c->np ? c->np : 1, sizeof *hp);
    be->download(hy, c->yw, c->nyw);
    if (pool_forward_ref(&c->pd, hy, hp, region_all(c->pd.Hp, c->pd.Wp)))
        cn_fatal("pool_forward_ref: %s", cn_last_error());
    c->p = jp_upload_new(be, hp, c->np);
    cn_free(hy), cn_free(hp);
    c->wg = be->alloc(c->nw), c->ws = be->alloc(c->nw);
    if (c->dec)
        c->decg = be->alloc(c->nw), c->decs = be->alloc(c->nw);
    c->gy = be->alloc(c->ny), c->gyw = be->alloc(c->nyw ? c->nyw : 1), c->gp = be->alloc(c->np);
    c->out = be->alloc(c->np ? c->np : 1), c->xr_w = be->alloc(c->nxw), c->xr = be->alloc(c->nx);
    c->ge = be->alloc(c->nx);
}

static void jp_stage_free(jp_stage *c)
{
    float *a[] = {c->xw, c->gew, c->xr_w, c->w, c->dec, c->wg, c->decg, c->ws, c->decs, c->y, c->gy, c->yw,
                  c->gyw, c->p, c->gp, c->pw, c->out, c->xr, c->x, c->ge};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        if (a[i])
            c->be->release(a[i]);
}

enum { JP_ENCODE, JP_POOL_FWD, JP_LCN_FWD, JP_DECODE, JP_RESIDUAL, JP_ERROR, JP_POOL_BWD, JP_GRAD_ENC, JP_GRAD_DEC,
       JP_OPTIM, JP_NPASS };
static const char *const jp_pass_name[JP_NPASS] = {"lf_encode", "pool_fwd", "lcn_fwd", "lf_decode", "residual",
                                                   "lf_error", "pool_bwd", "lf_grad_enc", "lf_grad_dec", "optim"};

static void jp_must(int rc, const char *what)
{
    if (rc != CN_OK)
        cn_fatal("%s: %s", what, cn_last_error());
}

/* Pass k of the stage on region rg of the output tile (the local filter and the pooling; the other
 * passes always do the whole tile), as src/stage.c runs it. */
static void jp_run(jp_stage *c, int k, cn_region rg, cn_region prg)
{
    const jp_backend *be = c->be;
    const float *dec = c->dec ? c->dec : c->w;
    float *ddec = c->dec ? c->decg : c->wg;
    const int B = c->lf.B;
    switch (k) {
    case JP_ENCODE: /* the whole tile in the engine's regions (interior blocks, border); a check: rg */
        if (rg.i0 == 0 && rg.j0 == 0 && rg.i1 == c->lf.Ho && rg.j1 == c->lf.Wo)
            for (int i = 0; i < c->nenc; i++)
                jp_must(be->lf_forward(&c->lf, c->xw, c->w, c->y, c->enc[i]), "lf_forward");
        else
            jp_must(be->lf_forward(&c->lf, c->xw, c->w, c->y, rg), "lf_forward");
        break;
    case JP_POOL_FWD: jp_must(be->pool_forward(&c->pd, c->yw, c->p, prg), "pool_forward"); break;
    case JP_LCN_FWD: jp_must(be->lcn_forward(&c->ld, c->pw, c->out), "lcn_forward"); break;
    case JP_DECODE:
        be->zero(c->xr_w, c->nxw);
        jp_must(be->lf_backward_data(&c->lf, dec, c->y, c->xr_w, rg), "lf_backward_data");
        break;
    case JP_RESIDUAL:
        be->residual(c->xr, c->x, c->nx, c->p, c->np, B, c->ge, c->part);
        be->fill(c->gp, c->np, (float)(c->s->cfg->lambda / B));
        break;
    case JP_ERROR: jp_must(be->lf_forward(&c->lf, c->gew, dec, c->gy, rg), "lf_forward"); break;
    case JP_POOL_BWD:
        be->zero(c->gyw, c->nyw);
        jp_must(be->pool_backward(&c->pd, c->yw, c->p, c->gp, c->gyw, prg), "pool_backward");
        break;
    case JP_GRAD_ENC: jp_must(be->lf_backward_filter(&c->lf, c->xw, c->gy, c->wg, rg), "lf_backward_filter"); break;
    case JP_GRAD_DEC: jp_must(be->lf_backward_filter(&c->lf, c->gew, c->y, ddec, rg), "lf_backward_filter"); break;
    default: /* a tiny step, so that the filters barely move over the runs */
        be->optim(c->job, c->w, c->ws, c->wg, c->nw, 1e-9f);
        be->zero(c->wg, c->nw);
        if (c->dec) {
            be->optim(c->job, c->dec, c->decs, c->decg, c->nw, 1e-9f);
            be->zero(c->decg, c->nw);
        }
    }
}

static float *jp_host(const jp_backend *be, const float *d, size_t n)
{
    float *h = cn_alloc(n ? n : 1, sizeof *h);
    if (n)
        be->download(h, d, n);
    return h;
}

/* Pass k on a small region against the reference on host copies of its inputs: the relative error
 * (normwise) of its output; -1 where there is nothing to compare (the optimizer on the host). */
static double jp_check(jp_stage *c, int k)
{
    const jp_backend *be = c->be;
    cn_region rg = {0, CN_MIN(2, c->lf.Ho), 0, CN_MIN(3, c->lf.Wo)};
    cn_region prg = {0, CN_MIN(2, c->pd.Hp), 0, CN_MIN(3, c->pd.Wp)};
    const float *dec = c->dec ? c->dec : c->w;
    float *out_d;
    size_t n;
    float *ref;
    double extra = 0;
    if (k == JP_OPTIM && be->optim_is_ref)
        return -1;
    switch (k) { /* the output, zeroed, and the reference into ref */
    case JP_ENCODE: case JP_ERROR: {
        const float *in = k == JP_ENCODE ? c->xw : c->gew, *wt = k == JP_ENCODE ? c->w : dec;
        out_d = k == JP_ENCODE ? c->y : c->gy, n = c->ny;
        be->zero(out_d, n);
        float *hx = jp_host(be, in, c->nxw), *hw = jp_host(be, wt, c->nw);
        ref = cn_alloc(n, sizeof *ref);
        jp_must(lf_forward_ref(&c->lf, hx, hw, ref, rg), "lf_forward_ref");
        cn_free(hx), cn_free(hw);
        break;
    }
    case JP_POOL_FWD: {
        out_d = c->p, n = c->np;
        float *hy = jp_host(be, c->yw, c->nyw), *keep = jp_host(be, c->p, n);
        ref = cn_alloc(n, sizeof *ref);
        memcpy(ref, keep, n * sizeof *ref);
        jp_must(pool_forward_ref(&c->pd, hy, ref, prg), "pool_forward_ref");
        cn_free(hy), cn_free(keep);
        break;
    }
    case JP_LCN_FWD: {
        out_d = c->out, n = c->np;
        float *hx = jp_host(be, c->pw, c->npw);
        ref = cn_alloc(n, sizeof *ref);
        jp_must(lcn_forward_ref(&c->ld, hx, ref), "lcn_forward_ref");
        cn_free(hx);
        break;
    }
    case JP_DECODE: {
        out_d = c->xr_w, n = c->nxw;
        float *hw = jp_host(be, dec, c->nw), *hy = jp_host(be, c->y, c->ny);
        ref = cn_alloc(n, sizeof *ref);
        jp_must(lf_backward_data_ref(&c->lf, hw, hy, ref, rg), "lf_backward_data_ref");
        cn_free(hw), cn_free(hy);
        break;
    }
    case JP_RESIDUAL: {
        out_d = c->ge, n = c->nx;
        float *hr = jp_host(be, c->xr, n), *hx = jp_host(be, c->x, n), *hp = jp_host(be, c->p, c->np);
        ref = cn_alloc(n, sizeof *ref);
        double s0 = 0, s1 = 0;
        for (size_t i = 0; i < n; i++) {
            double e = (double)hr[i] - hx[i];
            s0 += e * e;
            ref[i] = (float)(2.0 * e / c->lf.B);
        }
        for (size_t i = 0; i < c->np; i++)
            s1 += hp[i];
        jp_run(c, k, rg, prg);
        extra = CN_MAX(fabs(c->part[0] - s0) / CN_MAX(fabs(s0), 1e-30), fabs(c->part[1] - s1) / CN_MAX(fabs(s1), 1e-30));
        cn_free(hr), cn_free(hx), cn_free(hp);
        float *got = jp_host(be, out_d, n);
        double e = CN_MAX(jp_relerr(got, ref, n), extra);
        cn_free(got), cn_free(ref);
        return e;
    }
    case JP_POOL_BWD: {
        out_d = c->gyw, n = c->nyw;
        float *hy = jp_host(be, c->yw, c->nyw), *hp = jp_host(be, c->p, c->np), *hg = jp_host(be, c->gp, c->np);
        ref = cn_alloc(n ? n : 1, sizeof *ref);
        jp_must(pool_backward_ref(&c->pd, hy, hp, hg, ref, prg), "pool_backward_ref");
        cn_free(hy), cn_free(hp), cn_free(hg);
        break;
    }
    case JP_GRAD_ENC: case JP_GRAD_DEC: {
        const float *in = k == JP_GRAD_ENC ? c->xw : c->gew, *g = k == JP_GRAD_ENC ? c->gy : c->y;
        out_d = k == JP_GRAD_ENC || !c->dec ? c->wg : c->decg;
        /* the region's filters are the first rg.i1 rows of locations; the rest stays zero on both sides */
        n = (size_t)rg.i1 * c->lf.Wo * c->lf.M * c->lf.r * c->lf.r * c->lf.C;
        be->zero(out_d, c->nw);
        float *hx = jp_host(be, in, c->nxw), *hg = jp_host(be, g, c->ny);
        float *full = cn_alloc(c->nw, sizeof *full);
        jp_must(lf_backward_filter_ref(&c->lf, hx, hg, full, rg), "lf_backward_filter_ref");
        ref = cn_alloc(n, sizeof *ref);
        memcpy(ref, full, n * sizeof *ref);
        cn_free(hx), cn_free(hg), cn_free(full);
        break;
    }
    default: { /* the optimizer on the GPU against the reference: the first 2^20 of the encoder's filters */
        out_d = c->w, n = CN_MIN(c->nw, (size_t)1 << 20);
        float *hw = jp_host(be, c->w, n), *hs = jp_host(be, c->ws, n), *hg = jp_host(be, c->wg, n);
        const cn_job *j = c->job;
        if (j->optimizer == OPT_ADAGRAD)
            adagrad_ref(hw, hs, hg, n, 1e-9f, (float)j->adagrad_eps, (float)j->weight_decay);
        else
            sgd_momentum_ref(hw, hs, hg, n, 1e-9f, (float)j->momentum, (float)j->weight_decay);
        ref = hw;
        cn_free(hs), cn_free(hg);
    }
    }
    jp_run(c, k, rg, prg);
    float *got = jp_host(be, out_d, n);
    double e = jp_relerr(got, ref, n);
    cn_free(got), cn_free(ref);
    return e;
}

static int jp_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) seconds (sorted in place), in milliseconds. */
static double jp_median_ms(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, jp_cmp);
    return 1e3 * (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

/* The stage's passes on the whole tile, timed as one step runs them: in the engine's order (each pass
 * finds the caches as the one before left them), a synchronisation between two; the sequence repeated
 * at least reps times and 0.2 s (at most 256 times), after one warm-up sequence. alone[p]: the median of
 * pass p's own times; ms[p]: alone[p] x (median of the sequences' totals / sum of the alone[p]), its
 * share of a median step (ms, 0 for the passes the stage has not). */
static void jp_time(jp_stage *c, int reps, double ms[JP_NPASS], double alone[JP_NPASS])
{
    cn_region rg = region_all(c->lf.Ho, c->lf.Wo), prg = region_all(c->pd.Hp, c->pd.Wp);
    const jp_backend *be = c->be;
    enum { MAXSEQ = 256 };
    double *t = cn_alloc((size_t)(JP_NPASS + 1) * MAXSEQ, sizeof *t), *seq_total = t + JP_NPASS * MAXSEQ;
    int n = 0;
    double start = 0;
    for (int seq = -1; n < MAXSEQ && (n < reps || cn_now() - start < 0.2); seq++) {
        if (seq == 0)
            start = cn_now();
        be->sync();
        double s0 = cn_now();
        for (int p = 0; p < JP_NPASS; p++) {
            if (p == JP_LCN_FWD && !c->s->n)
                continue;
            double a = cn_now();
            jp_run(c, p, rg, prg);
            be->sync();
            if (seq >= 0)
                t[p * MAXSEQ + n] = cn_now() - a;
        }
        if (seq >= 0)
            seq_total[n] = cn_now() - s0;
        n += seq >= 0;
    }
    double sum = 0;
    for (int p = 0; p < JP_NPASS; p++)
        sum += alone[p] = jp_median_ms(t + p * MAXSEQ, n);
    const double step = jp_median_ms(seq_total, n);
    for (int p = 0; p < JP_NPASS; p++)
        ms[p] = sum > 0 ? alone[p] * step / sum : 0;
    cn_free(t);
}

/* The whole --job mode: loads the job, picks the rank, checks and times every stage's passes. Returns
 * the exit status (1 when a check failed). tol: the largest relative error accepted. */
static int jp_main(const jp_backend *be, const jp_args *a, const char *prog, double tol)
{
    cn_job job;
    if (job_load(&job, a->path, a->sets, a->nsets, 0))
        return 2;
    int Py = a->Py ? a->Py : job.rows, Px = a->Py ? a->Px : job.cols, B = a->B > 0 ? a->B : job.batch;
    int reps = a->reps > 0 ? a->reps : 5;
    int py = 0, px = 0;
    cn_stage *st = cn_alloc(CN_MAX_STAGES, sizeof *st);
    jp_slowest_rank(&job, Py, Px, &py, &px, st);
    printf("# %s --job %s --grid %dx%d --batch %d (%s backend; git %s): grid rank (%d,%d), the slowest: the most "
           "local-filter FLOPs\n", prog, a->path, Py, Px, B, be->name, cn_git_rev(), py, px);
    printf("# input %dx%dx%d; %s", job.height, job.width, job.channels, a->nsets ? "overrides:" : "no overrides");
    for (int i = 0; i < a->nsets; i++)
        printf(" %s", a->sets[i]);
    printf("\n# time: the stage's passes in the engine's order, a synchronisation between two, >= %d sequences (>= 0.2 s); "
           "alone: the pass's median; ms: its share of the median sequence (alone scaled so that the stage's passes "
           "sum to it); check: relative error vs the reference on a 2 x 3 region (LCN: whole tile)\n", reps);
    printf("#%-4s %-2s %-12s %4s %5s %5s %4s %5s %5s %4s %3s %2s %2s %2s %2s %8s %10s %9s %10s\n", "", "st", "pass", "B",
           "Hx", "Wx", "C", "Ho", "Wo", "M", "r", "s", "q", "t", "n", "check", "ms", "GFLOP", "alone");
    int bad = 0;
    double fwd_before = 0, fwd_before_alone = 0; /* the forward passes of the stages before this one, ms */
    for (int k = 0; k < job.nstages; k++) {
        jp_stage c;
        jp_stage_init(&c, be, &job, &st[k], B);
        double ms[JP_NPASS] = {0}, alone[JP_NPASS] = {0}, err[JP_NPASS];
        for (int p = 0; p < JP_NPASS; p++)
            err[p] = p == JP_LCN_FWD && !st[k].n ? -1 : jp_check(&c, p);
        jp_time(&c, reps, ms, alone);
        for (int p = 0; p < JP_NPASS; p++) {
            if (p == JP_LCN_FWD && !st[k].n)
                continue;
            char chk[16] = "-";
            if (err[p] >= 0) {
                snprintf(chk, sizeof chk, "%.0e%s", err[p], err[p] <= tol ? "" : "!");
                bad += err[p] > tol;
            }
            int lf = p == JP_ENCODE || p == JP_DECODE || p == JP_ERROR || p == JP_GRAD_ENC || p == JP_GRAD_DEC;
            printf("pass %2d %-12s %4d %5d %5d %4d %5d %5d %4d %3d %2d %2d %2d %2d %8s %10.4f %9.4g %10.4f\n", k + 1,
                   jp_pass_name[p], B, c.lf.Hx, c.lf.Wx, c.lf.C, c.lf.Ho, c.lf.Wo, c.lf.M, c.lf.r, c.lf.s, c.pd.q, c.pd.t,
                   st[k].n, chk, ms[p], lf ? jp_lf_flops(&c.lf) * 1e-9 : 0.0, alone[p]);
            fflush(stdout);
        }
        double fwd = ms[JP_ENCODE] + ms[JP_POOL_FWD] + ms[JP_LCN_FWD], rica = fwd_before - ms[JP_LCN_FWD];
        double fwd_alone = alone[JP_ENCODE] + alone[JP_POOL_FWD] + alone[JP_LCN_FWD];
        double rica_alone = fwd_before_alone - alone[JP_LCN_FWD];
        for (int p = 0; p < JP_NPASS; p++) {
            rica += ms[p];
            rica_alone += alone[p];
        }
        printf("# stage %d: forward %.4f ms; RICA step %.4f ms (its passes, and the forward of the stages before); "
               "alone %.4f ms\n", k + 1, fwd, rica, rica_alone);
        fwd_before += fwd;
        fwd_before_alone += fwd_alone;
        jp_stage_free(&c);
    }
    if (bad)
        printf("# %d check(s) above %.0e: FAILED\n", bad, tol);
    cn_free(st);
    job_free(&job);
    return bad ? 1 : 0;
}

#endif
