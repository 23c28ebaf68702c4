/* bench_ops.c: microbenchmark of the CPU operations of one stage, against the machine's ceilings and peers.
 *
 *   bench_ops [--quick] [--peers FILE] [--no-ref]     the table (every metric is defined in bench/README.md)
 *   bench_ops --shapes [--quick]                      the shape table, for bench/peers.py
 *
 * For each shape (batch, map, channels, field, stride, maps, pooling, LCN) it times the local filter
 * (forward, backward data, backward filter: the fast _cpu functions), L2 pooling and LCN (forward,
 * backward: the reference, the only CPU version there is), a whole stage forward and backward, and a
 * whole stage's training step (forward, backward, SGD with momentum). Every result is checked against
 * the reference before anything is timed. Threads: OMP_NUM_THREADS (default all cores). Peer times come
 * from bench/peers.py (lines "op shape peer ms"); ratio = peer time / our time. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/peak.h"
#include "src/common.h"
#include "src/ops.h"
#include "src/ops_cpu.h"

typedef struct {
    int B, H, W, C, M, r, s; /* local filter */
    int q, t;                /* L2 pooling */
    int n;                   /* LCN window (odd) */
    const char *what;
} shape;

/* Small maps with many channels, large maps with few; fields 5x5 to 18x18; batch 16 to 128. */
static const shape shapes_full[] = {
    {32, 12, 12, 64, 16, 5, 1, 2, 2, 3, "small map, many channels"},
    {16, 20, 20, 16, 16, 5, 1, 3, 1, 5, "batch 16"},
    {64, 24, 24, 16, 8, 9, 1, 3, 1, 5, "mid map, 9x9 field"},
    {128, 32, 32, 3, 8, 18, 2, 3, 1, 5, "18x18 field, batch 128"},
    {32, 64, 64, 3, 8, 10, 3, 3, 1, 5, "large map, few channels"},
    {64, 40, 40, 1, 8, 10, 2, 3, 1, 5, "grayscale, C = 1"},
    {128, 16, 16, 32, 16, 7, 1, 2, 2, 3, "batch 128, C = 32"},
};
static const shape shapes_quick[] = {
    {32, 12, 12, 16, 16, 5, 1, 2, 2, 3, "quick: small"},
    {32, 24, 24, 3, 8, 9, 3, 3, 1, 3, "quick: large map, few channels"},
};

static void shape_key(const shape *s, char *buf, size_t n)
{
    snprintf(buf, n, "b%d_%dx%dx%d_r%ds%dm%d", s->B, s->H, s->W, s->C, s->r, s->s, s->M);
}

/* ---- one shape's tensors and dimensions --------------------------------------------------------- */
typedef struct {
    lf_dims lf;
    pool_dims pd;
    lcn_dims ld;
    size_t nx, nw, ny, np;
    float *x, *w, *y, *gy, *dx, *dw, *p, *gp, *out, *gout, *v, *tmp;
} bench_ctx;

static void fill(float *a, size_t n, unsigned seed)
{
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        st ^= st >> 12, st ^= st << 25, st ^= st >> 27;
        a[i] = (float)((double)((st * 0x2545F4914F6CDD1Dull) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
}

static void ctx_init(bench_ctx *c, const shape *s)
{
    memset(c, 0, sizeof *c);
    int Ho = (s->H - s->r) / s->s + 1, Wo = (s->W - s->r) / s->s + 1;
    c->lf = (lf_dims){s->B, s->H, s->W, s->C, Ho, Wo, s->M, s->r, s->s};
    int Hp = (Ho - s->q) / s->t + 1, Wp = (Wo - s->q) / s->t + 1;
    c->pd = (pool_dims){s->B, s->M, Ho, Wo, Hp, Wp, s->q, s->t, 0.01f};
    c->ld = (lcn_dims){s->B, s->M, Hp, Wp, 0, 0, Hp, Wp, 0, 0, Hp, Wp, s->n, 1.0f, 0.01f};
    c->nx = (size_t)s->B * s->H * s->W * s->C;
    c->nw = lf_filter_count(&c->lf);
    c->ny = (size_t)s->B * Ho * Wo * s->M;
    c->np = (size_t)s->B * Hp * Wp * s->M;
    c->x = cn_alloc(c->nx, 4), c->dx = cn_alloc(c->nx, 4);
    c->w = cn_alloc(c->nw, 4), c->dw = cn_alloc(c->nw, 4), c->v = cn_alloc(c->nw, 4);
    c->y = cn_alloc(c->ny, 4), c->gy = cn_alloc(c->ny, 4);
    c->p = cn_alloc(c->np, 4), c->gp = cn_alloc(c->np, 4), c->out = cn_alloc(c->np, 4), c->gout = cn_alloc(c->np, 4);
    size_t big = CN_MAX(CN_MAX(c->nx, c->nw), c->ny);
    c->tmp = cn_alloc(big, 4);
    fill(c->x, c->nx, 1);
    fill(c->w, c->nw, 2);
    for (size_t i = 0; i < c->nw; i++)
        c->w[i] *= (float)(1.0 / sqrt((double)s->r * s->r * s->C));
    fill(c->gy, c->ny, 3);
    fill(c->gout, c->np, 4);
    lf_forward_ref(&c->lf, c->x, c->w, c->y, region_all(Ho, Wo));
    pool_forward_ref(&c->pd, c->y, c->p, region_all(Hp, Wp));
    fill(c->gp, c->np, 5);
}

static void ctx_free(bench_ctx *c)
{
    float *a[] = {c->x, c->dx, c->w, c->dw, c->v, c->y, c->gy, c->p, c->gp, c->out, c->gout, c->tmp};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        cn_free(a[i]);
}

static cn_region lf_all(const bench_ctx *c) { return region_all(c->lf.Ho, c->lf.Wo); }
static cn_region pool_all(const bench_ctx *c) { return region_all(c->pd.Hp, c->pd.Wp); }

static void must(int rc, const char *what)
{
    if (rc != CN_OK)
        cn_fatal("%s: %s", what, cn_last_error());
}

/* ---- the operations ----------------------------------------------------------------------------- */
static void op_lf_fwd(bench_ctx *c) { must(lf_forward_cpu(&c->lf, c->x, c->w, c->y, lf_all(c)), "lf_forward_cpu"); }
static void op_lf_bwd_data(bench_ctx *c)
{
    must(lf_backward_data_cpu(&c->lf, c->w, c->gy, c->dx, lf_all(c)), "lf_backward_data_cpu");
}
static void op_lf_bwd_filter(bench_ctx *c)
{
    must(lf_backward_filter_cpu(&c->lf, c->x, c->gy, c->dw, lf_all(c)), "lf_backward_filter_cpu");
}
static void op_pool_fwd(bench_ctx *c) { must(pool_forward_ref(&c->pd, c->y, c->p, pool_all(c)), "pool_forward_ref"); }
static void op_pool_bwd(bench_ctx *c)
{
    must(pool_backward_ref(&c->pd, c->y, c->p, c->gp, c->gy, pool_all(c)), "pool_backward_ref");
}
static void op_lcn_fwd(bench_ctx *c) { must(lcn_forward_ref(&c->ld, c->p, c->out), "lcn_forward_ref"); }
static void op_lcn_bwd(bench_ctx *c) { must(lcn_backward_ref(&c->ld, c->p, c->gout, c->gp), "lcn_backward_ref"); }
static void op_stage_fwd(bench_ctx *c)
{
    op_lf_fwd(c);
    op_pool_fwd(c);
    op_lcn_fwd(c);
}
/* Gradients start at zero every step, as in training. */
static void op_stage_bwd(bench_ctx *c)
{
    memset(c->gp, 0, c->np * 4);
    op_lcn_bwd(c);
    memset(c->gy, 0, c->ny * 4);
    op_pool_bwd(c);
    memset(c->dw, 0, c->nw * 4);
    op_lf_bwd_filter(c);
    memset(c->dx, 0, c->nx * 4);
    op_lf_bwd_data(c);
}
static void op_stage_step(bench_ctx *c)
{
    op_stage_fwd(c);
    op_stage_bwd(c);
    sgd_momentum_ref(c->w, c->v, c->dw, c->nw, 1e-6f, 0.9f, 0.0f);
}

/* Flops (2 per multiply-add) and compulsory bytes of each operation; see bench/README.md. */
static double lf_flops(const bench_ctx *c)
{
    return 2.0 * c->ny * (double)c->lf.r * c->lf.r * c->lf.C;
}
static double pool_flops(const bench_ctx *c) { return 2.0 * c->np * c->pd.q * c->pd.q; }
static double lcn_flops(const bench_ctx *c)
{
    return (double)c->ld.B * c->ld.H * c->ld.W * (4.0 * c->ld.n * c->ld.n + 4.0 * c->ld.M);
}

typedef struct {
    const char *name;
    void (*run)(bench_ctx *);
    int is_lf; /* 1: has a reference twin to compare speed with */
} op_desc;

static const op_desc ops[] = {
    {"lf_fwd", op_lf_fwd, 1},       {"lf_bwd_data", op_lf_bwd_data, 1}, {"lf_bwd_filter", op_lf_bwd_filter, 1},
    {"pool_fwd", op_pool_fwd, 0},   {"pool_bwd", op_pool_bwd, 0},       {"lcn_fwd", op_lcn_fwd, 0},
    {"lcn_bwd", op_lcn_bwd, 0},     {"stage_fwd", op_stage_fwd, 0},     {"stage_bwd", op_stage_bwd, 0},
    {"stage_step", op_stage_step, 0},
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

static void op_cost(const bench_ctx *c, int k, double *flops, double *bytes)
{
    const double X = 4.0 * c->nx, Wt = 4.0 * c->nw, Y = 4.0 * c->ny, P = 4.0 * c->np;
    double lf = lf_flops(c), pl = pool_flops(c), lc = lcn_flops(c);
    switch (k) {
    case 0: *flops = lf, *bytes = X + Wt + Y; break;              /* read x, w; write y */
    case 1: *flops = lf, *bytes = Wt + Y + 2 * X; break;          /* read w, dy; read and write dx */
    case 2: *flops = lf, *bytes = X + Y + 2 * Wt; break;          /* read x, dy; read and write dw */
    case 3: *flops = pl, *bytes = Y + P; break;                   /* read y; write p */
    case 4: *flops = pl, *bytes = 3 * P + 3 * Y; break;           /* read p, dp, y; read and write dy */
    case 5: *flops = lc, *bytes = 2 * P; break;                   /* read x; write out */
    case 6: *flops = 2 * lc, *bytes = 4 * P; break;               /* read x, dout; read and write dx */
    case 7: *flops = lf + pl + lc, *bytes = X + Wt + 2 * Y + 3 * P; break;
    case 8: *flops = 2 * lf + pl + 2 * lc, *bytes = 3 * X + 3 * Wt + 6 * Y + 7 * P; break;
    default: *flops = 3 * lf + 2 * pl + 3 * lc, *bytes = 4 * X + 7 * Wt + 8 * Y + 10 * P; break;
    }
}

/* ---- correctness: the fast path against the reference ------------------------------------------- */
static double relerr(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        num += e * e, den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Relative error of op k against the reference; 0 for ops that are the reference. */
static double check_op(bench_ctx *c, int k)
{
    cn_region rg = lf_all(c);
    switch (k) {
    case 0:
        op_lf_fwd(c);
        must(lf_forward_ref(&c->lf, c->x, c->w, c->tmp, rg), "lf_forward_ref");
        return relerr(c->y, c->tmp, c->ny);
    case 1:
        memset(c->dx, 0, c->nx * 4), memset(c->tmp, 0, c->nx * 4);
        op_lf_bwd_data(c);
        must(lf_backward_data_ref(&c->lf, c->w, c->gy, c->tmp, rg), "lf_backward_data_ref");
        return relerr(c->dx, c->tmp, c->nx);
    case 2:
        memset(c->dw, 0, c->nw * 4), memset(c->tmp, 0, c->nw * 4);
        op_lf_bwd_filter(c);
        must(lf_backward_filter_ref(&c->lf, c->x, c->gy, c->tmp, rg), "lf_backward_filter_ref");
        return relerr(c->dw, c->tmp, c->nw);
    case 7: { /* the stage's output with the reference local filter */
        op_stage_fwd(c);
        float *o = cn_alloc(c->np, 4);
        memcpy(o, c->out, c->np * 4);
        must(lf_forward_ref(&c->lf, c->x, c->w, c->y, rg), "lf_forward_ref");
        op_pool_fwd(c);
        op_lcn_fwd(c);
        double e = relerr(o, c->out, c->np);
        cn_free(o);
        return e;
    }
    default:
        c->run = NULL; /* placeholder to keep the switch exhaustive */
        return 0;
    }
}
