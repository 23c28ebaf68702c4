/* bench_ops.c: microbenchmark of the CPU operations of one stage, against the machine's ceilings and peers.
 *
 *   bench_ops [--quick] [--peers FILE] [--no-ref] [--shape KEY] [--op PREFIX]
 *       the table (every metric is defined in bench/README.md); --shape: only the shapes whose key contains
 *       KEY, --op: only the ops whose name starts with PREFIX (to compare builds of one kernel quickly)
 *   bench_ops --shapes [--quick]                      the shape table, for bench/peers.py
 *   bench_ops --job JOB.ini [--grid PYxPX] [--batch B] [--set section.key=value ..] [--reps N]
 *       the passes of a training step of every stage of a job on its slowest rank's tiles, one line per
 *       stage and pass, for bench/perfmodel.py --rates (bench/jobpass.h says what is timed)
 *
 * For each shape (batch, map, channels, field, stride, maps, pooling, LCN) it times the fast _cpu
 * functions: the local filter (forward, backward data, backward filter), L2 pooling and LCN (forward,
 * backward), a whole stage forward and backward, and a whole stage's training step (forward, backward,
 * SGD with momentum), and the reference twin of each for the ref/us column (stage rows: the same stage
 * with the reference pooling and LCN). Every result is checked against the reference before anything is
 * timed. Threads: OMP_NUM_THREADS (default all cores). Peer times come
 * from bench/peers.py (lines "op shape peer ms"); ratio = peer time / our time. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/buildinfo.h"
#include "bench/jobpass.h"
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
    int ref_lf, ref_pl; /* 1: the local filter / pooling and LCN run their reference twins */
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

/* ---- the operations: the fast _cpu functions, or their reference twins when c->ref_lf / c->ref_pl ---- */
static void op_lf_fwd(bench_ctx *c)
{
    must((c->ref_lf ? lf_forward_ref : lf_forward_cpu)(&c->lf, c->x, c->w, c->y, lf_all(c)), "lf_forward");
}
static void op_lf_bwd_data(bench_ctx *c)
{
    must((c->ref_lf ? lf_backward_data_ref : lf_backward_data_cpu)(&c->lf, c->w, c->gy, c->dx, lf_all(c)),
         "lf_backward_data");
}
static void op_lf_bwd_filter(bench_ctx *c)
{
    must((c->ref_lf ? lf_backward_filter_ref : lf_backward_filter_cpu)(&c->lf, c->x, c->gy, c->dw, lf_all(c)),
         "lf_backward_filter");
}
static void op_pool_fwd(bench_ctx *c)
{
    must((c->ref_pl ? pool_forward_ref : pool_forward_cpu)(&c->pd, c->y, c->p, pool_all(c)), "pool_forward");
}
static void op_pool_bwd(bench_ctx *c)
{
    must((c->ref_pl ? pool_backward_ref : pool_backward_cpu)(&c->pd, c->y, c->p, c->gp, c->gy, pool_all(c)),
         "pool_backward");
}
static void op_lcn_fwd(bench_ctx *c)
{
    must((c->ref_pl ? lcn_forward_ref : lcn_forward_cpu)(&c->ld, c->p, c->out), "lcn_forward");
}
static void op_lcn_bwd(bench_ctx *c)
{
    must((c->ref_pl ? lcn_backward_ref : lcn_backward_cpu)(&c->ld, c->p, c->gout, c->gp), "lcn_backward");
}
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
    int has_ref; /* 1: time the reference twin too (ref/us) */
} op_desc;

static const op_desc ops[] = {
    {"lf_fwd", op_lf_fwd, 1},       {"lf_bwd_data", op_lf_bwd_data, 1}, {"lf_bwd_filter", op_lf_bwd_filter, 1},
    {"pool_fwd", op_pool_fwd, 1},   {"pool_bwd", op_pool_bwd, 1},       {"lcn_fwd", op_lcn_fwd, 1},
    {"lcn_bwd", op_lcn_bwd, 1},     {"stage_fwd", op_stage_fwd, 1},     {"stage_bwd", op_stage_bwd, 1},
    {"stage_step", op_stage_step, 1},
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
/* Op k's result: the arrays it writes (up to two) and their sizes. */
static int op_outputs(bench_ctx *c, int k, float **a, size_t *n)
{
    switch (k) {
    case 0: a[0] = c->y, n[0] = c->ny; return 1;
    case 1: a[0] = c->dx, n[0] = c->nx; return 1;
    case 2: a[0] = c->dw, n[0] = c->nw; return 1;
    case 3: a[0] = c->p, n[0] = c->np; return 1;
    case 4: a[0] = c->gy, n[0] = c->ny; return 1;
    case 5: a[0] = c->out, n[0] = c->np; return 1;
    case 6: a[0] = c->gp, n[0] = c->np; return 1;
    case 7: a[0] = c->out, n[0] = c->np; return 1;           /* the stage's output */
    case 8: a[0] = c->dx, n[0] = c->nx, a[1] = c->dw, n[1] = c->nw; return 2; /* its gradients */
    default: return 0;
    }
}

/* Runs op k once from the same state: backward passes onto zeroed gradients, the stage's backward
 * after its forward (so that every array it reads comes from the same run). */
static void run_fresh(bench_ctx *c, int k)
{
    float *a[2];
    size_t n[2];
    int na = op_outputs(c, k, a, n);
    if (k == 8)
        op_stage_fwd(c);
    else if (k == 1 || k == 2 || k == 4 || k == 6)
        for (int q = 0; q < na; q++)
            memset(a[q], 0, n[q] * 4);
    ops[k].run(c);
}

/* Relative error of op k (the fast functions) against the same op with every reference twin
 * (stage_bwd: the larger of dx's and dw's); -1 for the training step, which is not checked. */
static double check_op(bench_ctx *c, int k)
{
    float *a[2], *keep[2];
    size_t n[2];
    int na = op_outputs(c, k, a, n);
    if (!na)
        return -1;
    if (k == 6) /* lcn_bwd adds into gp, which pool_bwd reads: keep it */
        memcpy(c->tmp, c->gp, c->np * 4);
    run_fresh(c, k);
    for (int q = 0; q < na; q++) {
        keep[q] = cn_alloc(n[q], 4);
        memcpy(keep[q], a[q], n[q] * 4);
    }
    c->ref_lf = c->ref_pl = 1;
    run_fresh(c, k);
    c->ref_lf = c->ref_pl = 0;
    double e = 0;
    for (int q = 0; q < na; q++) {
        e = CN_MAX(e, jp_relerr(keep[q], a[q], n[q]));
        cn_free(keep[q]);
    }
    if (k == 6)
        memcpy(c->gp, c->tmp, c->np * 4);
    return e;
}

/* ---- timing ------------------------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Fastest of repeated runs: one warm-up, then at least 3 runs and at least min_s seconds. The minimum,
 * not the median: on a shared machine the noise only ever adds time. */
static double time_op(void (*run)(bench_ctx *), bench_ctx *c, double min_s)
{
    double t[64];
    int n = 0;
    run(c);
    double start = cn_now();
    while (n < 64 && (n < 3 || cn_now() - start < min_s)) {
        double t0 = cn_now();
        run(c);
        t[n++] = cn_now() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[0];
}

/* Runs op k once with its reference twin (lf rows: lf_*_ref; pool and lcn rows: pool_*_ref / lcn_*_ref;
 * stage rows: the reference pooling and LCN with the fast local filter, i.e. what a stage cost before
 * the fast pooling and LCN) instead of the fast functions. */
static void run_ref(bench_ctx *c, int k)
{
    if (k <= 2)
        c->ref_lf = 1;
    else
        c->ref_pl = 1;
    ops[k].run(c);
    c->ref_lf = c->ref_pl = 0;
}

/* Op k and its reference twin timed in alternation (ours, ref, ours, ...) after one warm-up each, at
 * least 3 runs each and at least min_s seconds in all: the fastest of each. Alternating keeps a change
 * of the machine's load from landing on one side only. */
static void time_pair(bench_ctx *c, int k, double min_s, double *ours, double *ref)
{
    *ours = *ref = 1e30;
    ops[k].run(c);
    run_ref(c, k);
    double start = cn_now();
    for (int n = 0; n < 64 && (n < 3 || cn_now() - start < min_s); n++) {
        double t0 = cn_now();
        ops[k].run(c);
        double t1 = cn_now();
        run_ref(c, k);
        double t2 = cn_now();
        *ours = CN_MIN(*ours, t1 - t0);
        *ref = CN_MIN(*ref, t2 - t1);
    }
}

/* ---- peers (bench/peers.py): lines "op shape peer ms", '#' lines are comments --------------------- */
#define MAXPEER 8
typedef struct {
    char op[32], key[64], peer[16];
    double ms;
} peer_time;
static peer_time *peer_rows;
static int npeer_rows;
static char peer_names[MAXPEER][16];
static int npeers;

static void load_peers(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_ops: cannot read peer times %s\n", path);
        return;
    }
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        peer_time pt;
        if (line[0] == '#' || sscanf(line, "%31s %63s %15s %lf", pt.op, pt.key, pt.peer, &pt.ms) != 4)
            continue;
        if (npeer_rows == cap) {
            cap = cap ? 2 * cap : 64;
            peer_rows = realloc(peer_rows, (size_t)cap * sizeof *peer_rows);
            if (!peer_rows)
                cn_fatal("out of memory");
        }
        peer_rows[npeer_rows++] = pt;
        int known = 0;
        for (int k = 0; k < npeers; k++)
            known |= strcmp(peer_names[k], pt.peer) == 0;
        if (!known && npeers < MAXPEER)
            snprintf(peer_names[npeers++], sizeof peer_names[0], "%s", pt.peer);
    }
    fclose(f);
}

static double peer_ms(const char *op, const char *key, const char *peer)
{
    for (int k = 0; k < npeer_rows; k++)
        if (!strcmp(peer_rows[k].op, op) && !strcmp(peer_rows[k].key, key) && !strcmp(peer_rows[k].peer, peer))
            return peer_rows[k].ms;
    return -1;
}

/* ---- --job: the host backend of bench/jobpass.h (the engine's CPU kernels, src/kernels.h) ---------- */
static float *host_alloc(size_t n) { return cn_alloc(n, sizeof(float)); }
static void host_release(float *p) { cn_free(p); }
static void host_zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }
static void host_copy(float *dst, const float *src, size_t n) { memcpy(dst, src, n * sizeof *dst); }
static void host_sync(void) {}
/* src/stage.c's loop on the host */
static void host_residual(const float *xr, const float *x, size_t n, const float *p, size_t np, int B, float *ge,
                          double *part)
{
    part[0] = part[1] = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)xr[i] - (double)x[i];
        part[0] += e * e;
        ge[i] = (float)(2.0 * e / B);
    }
    for (size_t i = 0; i < np; i++)
        part[1] += p[i];
}
static void host_fill(float *v, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
        v[i] = value;
}
/* src/update.c on the host: the reference optimizers */
static void host_optim(const cn_job *job, float *w, float *state, float *g, size_t n, float lr)
{
    if (job->optimizer == OPT_ADAGRAD)
        adagrad_ref(w, state, g, n, lr, (float)job->adagrad_eps, (float)job->weight_decay);
    else
        sgd_momentum_ref(w, state, g, n, lr, (float)job->momentum, (float)job->weight_decay);
}
static const jp_backend host_backend = {
    "cpu", 1, host_alloc, host_release, host_zero, host_copy, host_copy, host_sync, lf_forward_cpu,
    lf_backward_data_cpu, lf_backward_filter_cpu, pool_forward_cpu, pool_backward_cpu, lcn_forward_cpu,
    host_residual, host_fill, host_optim};

/* ---- main --------------------------------------------------------------------------------------- */
static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, n, "%s", v);
            }
            break;
        }
    fclose(f);
}

/* The local filter's three passes per shape and peer: the peer's time over ours, and the bound on that
 * ratio: the peer's time over the passes' time at the FMA peak (flops / peak), the largest speed-up over
 * the peer that any implementation could reach on these threads (bench/README.md). */
static void print_lf_bound(const shape *sh, int nsh, double lf_s[][3], const double *lf_fl, double peak)
{
    if (!npeers)
        return;
    static const char *const pass[3] = {"lf_fwd", "lf_bwd_data", "lf_bwd_filter"};
    printf("#\n# local filter, three passes (fwd + bwd_data + bwd_filter): peer time / ours (x), and bound = peer "
           "time / (flops / FMA peak)\n");
    printf("#%-25s %-8s %8s %6s %9s %8s %7s %15s %15s %15s\n", "shape", "peer", "ours", "%peak", "peer", "peer/us",
           "bound", "fwd x/bound", "bwd_data", "bwd_filter");
    printf("#%-25s %-8s %8s %6s %9s %8s %7s %15s %15s %15s\n", "", "", "ms", "", "ms", "x", "x", "x / x", "x / x",
           "x / x");
    char key[64];
    for (int i = 0; i < nsh && i < 16; i++) {
        if (lf_s[i][0] <= 0 || lf_s[i][1] <= 0 || lf_s[i][2] <= 0) /* not all run (--op) */
            continue;
        shape_key(&sh[i], key, sizeof key);
        const double ideal = lf_fl[i] / (peak * 1e9); /* one pass at the FMA peak, s */
        const double ours = lf_s[i][0] + lf_s[i][1] + lf_s[i][2];
        for (int q = 0; q < npeers; q++) {
            double pm[3], sum = 0;
            int all = 1;
            for (int k = 0; k < 3; k++) {
                pm[k] = peer_ms(pass[k], key, peer_names[q]);
                all &= pm[k] > 0;
                sum += pm[k];
            }
            if (!all)
                continue;
            printf(" %-25s %-8.8s %8.3f %6.1f %9.3f %8.1f %7.1f", key, peer_names[q], ours * 1e3,
                   100 * 3 * ideal / ours, sum, sum * 1e-3 / ours, sum * 1e-3 / (3 * ideal));
            for (int k = 0; k < 3; k++) {
                char b[32];
                snprintf(b, sizeof b, "%.1f / %.1f", pm[k] * 1e-3 / lf_s[i][k], pm[k] * 1e-3 / ideal);
                printf(" %15s", b);
            }
            printf("\n");
        }
    }
}

int main(int argc, char **argv)
{
    int quick = 0, list = 0, no_ref = 0;
    const char *peers = NULL, *only_shape = NULL, *only_op = NULL;
    jp_args job = {0};
    for (int k = 1; k < argc; k++) {
        int used = jp_parse(&job, argc, argv, k);
        if (used) {
            k += used - 1;
            continue;
        }
        if (!strcmp(argv[k], "--quick"))
            quick = 1;
        else if (!strcmp(argv[k], "--shapes"))
            list = 1;
        else if (!strcmp(argv[k], "--no-ref"))
            no_ref = 1;
        else if (!strcmp(argv[k], "--peers") && k + 1 < argc)
            peers = argv[++k];
        else if (!strcmp(argv[k], "--shape") && k + 1 < argc)
            only_shape = argv[++k];
        else if (!strcmp(argv[k], "--op") && k + 1 < argc)
            only_op = argv[++k];
        else {
            fprintf(stderr, "usage: bench_ops [--quick] [--peers FILE] [--no-ref] [--shape KEY] [--op PREFIX] | --shapes "
                            "[--quick] | --job JOB.ini "
                            "[--grid PYxPX] [--batch B] [--set section.key=value ..] [--reps N]\n");
            return 2;
        }
    }
    if (job.path)
        return jp_main(&host_backend, &job, "bench_ops", 1e-5);
    if (job.Py || job.B || job.nsets || job.reps) {
        fprintf(stderr, "bench_ops: --grid, --batch, --set and --reps go with --job\n");
        return 2;
    }
    const shape *all = quick ? shapes_quick : shapes_full;
    const int nall = quick ? (int)(sizeof shapes_quick / sizeof shapes_quick[0])
                           : (int)(sizeof shapes_full / sizeof shapes_full[0]);
    char key[64];
    shape sh[16]; /* the shapes that --shape selects */
    int nsh = 0;
    for (int i = 0; i < nall && nsh < 16; i++) {
        shape_key(&all[i], key, sizeof key);
        if (!only_shape || strstr(key, only_shape))
            sh[nsh++] = all[i];
    }
    if (!nsh) {
        fprintf(stderr, "bench_ops: no shape's key contains '%s' (bench_ops --shapes lists them)\n", only_shape);
        return 2;
    }
    int nop = 0;
    for (int k = 0; k < NOPS; k++)
        nop += !only_op || !strncmp(ops[k].name, only_op, strlen(only_op));
    if (!nop) {
        fprintf(stderr, "bench_ops: no op's name starts with '%s'\n", only_op);
        return 2;
    }
    if (list) {
        printf("# key B H W C M r s q t n pool_eps lcn_sigma lcn_eps\n");
        for (int i = 0; i < nsh; i++) {
            shape_key(&sh[i], key, sizeof key);
            printf("%s %d %d %d %d %d %d %d %d %d %d 0.01 1.0 0.01\n", key, sh[i].B, sh[i].H, sh[i].W, sh[i].C,
                   sh[i].M, sh[i].r, sh[i].s, sh[i].q, sh[i].t, sh[i].n);
        }
        return 0;
    }
    if (peers)
        load_peers(peers);

    char model[128];
    cpu_model(model, sizeof model);
    const int nth = omp_get_max_threads();
    bench_print_build("bench_ops");
    printf("# machine: %s, %ld cores online, %d OpenMP threads; local filter ISA: %s\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), nth, lf_cpu_isa());
    const char *pisa;
    double peak = peak_fma_gflops(&pisa), mib;
    double bw = peak_copy_gbs(&mib);
    printf("# ceilings: FP32 FMA peak %.1f GFLOP/s (%s, %d threads); copy bandwidth %.1f GB/s (2 x %.0f MiB)\n",
           peak, pisa, nth, bw, mib);
    printf("# ref/us: the reference twin's time / ours (stage rows: the stage with the reference pooling and LCN)\n");
    printf("# time: fastest of >= 3 runs (>= 0.25 s; with ref/us: >= 0.5 s alternating with the reference) after one "
           "warm-up; check: normwise relative error vs the reference\n");
    printf("#%-13s %-26s %8s %9s %8s %7s %6s %5s %7s", "op", "shape", "check", "time", "GFLOP/s", "GB/s",
           "%peak", "%bw", "ref/us");
    for (int k = 0; k < npeers; k++)
        printf(" %9.9s/us", peer_names[k]);
    printf("\n#%-13s %-26s %8s %9s %8s %7s %6s %5s %7s", "", "", "", "ms", "", "", "", "", "x");
    for (int k = 0; k < npeers; k++)
        printf(" %12s", "x");
    printf("\n");
    fflush(stdout);

    double step_us[16] = {0}, lf_s[16][3] = {{0}}, lf_fl[16] = {0}; /* local filter: our times, flops */
    for (int i = 0; i < nsh; i++) {
        bench_ctx c;
        ctx_init(&c, &sh[i]);
        shape_key(&sh[i], key, sizeof key);
        for (int k = 0; k < NOPS; k++) {
            if (only_op && strncmp(ops[k].name, only_op, strlen(only_op)))
                continue;
            double err = check_op(&c, k);
            char chk[16];
            if (err < 0)
                snprintf(chk, sizeof chk, "-");
            else
                snprintf(chk, sizeof chk, "%.0e%s", err, err <= 1e-5 ? "" : "!");
            double t, tref = -1;
            if (ops[k].has_ref && !no_ref)
                time_pair(&c, k, 0.5, &t, &tref);
            else
                t = time_op(ops[k].run, &c, 0.25);
            double fl, by;
            op_cost(&c, k, &fl, &by);
            double gf = fl / t * 1e-9, gb = by / t * 1e-9;
            char ref[16] = "-";
            if (ops[k].has_ref && !no_ref)
                snprintf(ref, sizeof ref, "%.1f", tref / t);
            printf(" %-13s %-26s %8s %9.3f %8.1f %7.2f %6.1f %5.1f %7s", ops[k].name, key, chk, t * 1e3, gf, gb,
                   100 * gf / peak, 100 * gb / bw, ref);
            for (int q = 0; q < npeers; q++) {
                double pm = peer_ms(ops[k].name, key, peer_names[q]);
                if (pm > 0)
                    printf(" %12.1f", pm / (t * 1e3));
                else
                    printf(" %12s", "-");
            }
            printf("\n");
            fflush(stdout);
            if (k == NOPS - 1 && i < 16)
                step_us[i] = t;
            if (k < 3 && i < 16)
                lf_s[i][k] = t, lf_fl[i] = fl;
        }
        ctx_free(&c);
    }
    /* a stage's training step in samples per second */
    printf("#\n# one stage's training step (forward, backward, SGD momentum), single process, %d threads\n", nth);
    printf("#%-33s %12s", "shape", "cotsnet");
    for (int q = 0; q < npeers; q++)
        printf(" %12.12s", peer_names[q]);
    printf("\n#%-33s %12s", "", "samples/s");
    for (int q = 0; q < npeers; q++)
        printf(" %12s", "samples/s");
    printf("\n");
    for (int i = 0; i < nsh && i < 16; i++) {
        if (step_us[i] <= 0) /* not run (--op) */
            continue;
        shape_key(&sh[i], key, sizeof key);
        printf(" %-33s %12.0f", key, sh[i].B / step_us[i]);
        for (int q = 0; q < npeers; q++) {
            double pm = peer_ms("stage_step", key, peer_names[q]);
            if (pm > 0)
                printf(" %12.0f", sh[i].B / (pm * 1e-3));
            else
                printf(" %12s", "-");
        }
        printf("\n");
    }
    /* The ceiling again: on a shared machine a busy neighbour during the first measurement makes every
     * %peak above too high (and the bounds below too low). The bounds take the larger of the two. */
    double peak_end = peak_fma_gflops(&pisa);
    printf("# FMA peak measured again at the end: %.1f GFLOP/s (start: %.1f)\n", peak_end, peak);
    if (peak_end > 1.1 * peak || peak > 1.1 * peak_end)
        printf("# WARNING: the FMA peak moved by more than 10%% during the run (the machine is shared): the %%peak "
               "columns above used the start's %.1f; the bounds below use %.1f\n", peak, CN_MAX(peak, peak_end));
    print_lf_bound(sh, nsh, lf_s, lf_fl, CN_MAX(peak, peak_end));
    free(peer_rows);
    return 0;
}
