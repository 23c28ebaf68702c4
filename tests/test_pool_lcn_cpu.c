/* test_pool_lcn_cpu.c: the fast CPU pooling and LCN (src/pool_cpu.c, src/lcn_cpu.c) against the references
 * (src/pool_ref.c, src/lcn_ref.c).
 *
 * For every shape below, on fresh random inputs (seed printed; COTSNET_TEST_SEED=N repeats a run), with
 * 1 and then 2 OpenMP threads:
 *  - forward: normwise relative error <= 1e-5 against the reference, every output of the region (LCN:
 *    of the tile) written (the output starts poisoned with a NaN pattern), the poison outside intact;
 *  - backward: onto zero, relative error <= 1e-5; onto a random prefill, the same (it ADDS); input
 *    elements that no output of the region reads (pooling: gaps, rows and columns outside the windows;
 *    LCN: the part of a larger window outside the tile grown by n - 1) bitwise untouched;
 *  - the 2-thread results equal the 1-thread ones bit for bit;
 *  - bad arguments return CN_EINVAL exactly when the reference does, and touch nothing.
 * Shapes: odd and non-square maps, M = 1, 3, odd, 16; overlapping windows (t < q), gaps (t > q), q = 1,
 * q = the map; regions that are sub-rectangles; LCN tiles inside, at the corner and across the map, a
 * window larger than the tile needs, n = 1, n larger than the map. */
#include <omp.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "src/common.h"
#include "src/ops.h"
#include "src/ops_cpu.h"
#include "tests/testutil.h"

#define FAST_TOL 1e-5
/* Compares a (fast) with ref (reference) where sel is set (everywhere when sel is NULL): relative error,
 * no poison left; where sel is clear a must equal untouched bit for bit. */
static void check(const char *what, const char *tag, const float *a, const float *ref, const float *untouched,
                  const unsigned char *sel, size_t n)
{
    double num = 0, den = 0;
    size_t poison = 0, changed = 0;
    for (size_t k = 0; k < n; k++) {
        if (sel && !sel[k]) {
            changed += tu_f2u(a[k]) != tu_f2u(untouched[k]);
            continue;
        }
        poison += tu_f2u(a[k]) == TU_POISON;
        double e = (double)a[k] - (double)ref[k];
        num += e * e;
        den += (double)ref[k] * ref[k];
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    char name[200];
    snprintf(name, sizeof name, "%s_%s", what, tag);
    if (poison)
        tu_fail(name, "%zu elements not written", poison);
    else if (!(rel <= FAST_TOL))
        tu_fail(name, "relative error %.3e > %.0e", rel, FAST_TOL);
    else if (changed)
        tu_fail(name, "%zu elements outside what the region reaches changed", changed);
    else
        tu_ok(name);
}

/* A call that the reference or the fast twin refused (neither should: the dimensions are good). */
static void check_rc(const char *what, const char *tag, int rc_ref, int rc_fast)
{
    if (rc_ref || rc_fast)
        tu_fail(what, "%s: returned %d (reference %d): %s", tag, rc_fast, rc_ref, cn_last_error());
}

/* The 2-thread result b must equal the 1-thread result a bit for bit. */
static void check_same_bits(const char *what, const char *tag, const float *a, const float *b, size_t n)
{
    size_t diff = 0;
    for (size_t k = 0; k < n; k++)
        diff += tu_f2u(a[k]) != tu_f2u(b[k]);
    char name[200];
    snprintf(name, sizeof name, "threads_1_2_%s_%s", what, tag);
    if (diff)
        tu_fail(name, "%zu of %zu elements differ between 1 and 2 threads", diff, n);
    else
        tu_ok(name);
}

/* ---- pooling --------------------------------------------------------------------------------------- */
typedef struct {
    int B, M, Hy, Wy, q, t;
    int Hp, Wp;   /* 0: floor((Hy - q) / t) + 1 (the whole window); else a tile of a larger window */
    cn_region rg; /* {0,0,0,0}: the whole tile */
} pool_case;

static const pool_case pool_cases[] = {
    {3, 1, 9, 11, 3, 2, 0, 0, {0, 0, 0, 0}},     /* M = 1; (9-3) % 2 = 0, (11-3) % 2 = 0 */
    {2, 3, 13, 10, 2, 3, 0, 0, {1, 3, 0, 2}},    /* t > q: gaps; a region */
    {5, 7, 12, 15, 3, 1, 0, 0, {2, 7, 3, 11}},   /* overlapping windows, region inside */
    {1, 16, 8, 9, 8, 1, 0, 0, {0, 0, 0, 0}},     /* q = Hy: one output row */
    {4, 5, 10, 10, 3, 2, 3, 2, {0, 3, 1, 2}},    /* window larger than the tile needs; one column */
    {2, 9, 7, 7, 1, 1, 0, 0, {0, 0, 0, 0}},      /* q = 1 */
    {17, 3, 11, 13, 4, 3, 0, 0, {1, 3, 1, 4}},   /* (11-4) % 3 = 1: last row unread; B = 17 */
    {3, 16, 12, 12, 2, 2, 0, 0, {0, 0, 0, 0}},   /* windows tile the map */
};
#define NPOOL (int)(sizeof pool_cases / sizeof pool_cases[0])

static pool_dims pool_case_dims(const pool_case *c)
{
    pool_dims d = {c->B, c->M, c->Hy, c->Wy, c->Hp, c->Wp, c->q, c->t, 0.01f};
    if (!c->Hp) {
        d.Hp = (c->Hy - c->q) / c->t + 1;
        d.Wp = (c->Wy - c->q) / c->t + 1;
    }
    return d;
}

/* Is input row (or column) a read by a window of outputs [k0, k1)? */
static int read_by(int a, int q, int t, int k0, int k1)
{
    for (int k = k0; k < k1; k++)
        if (a >= k * t && a < k * t + q)
            return 1;
    return 0;
}

/* One case with the current thread count; results kept in out[0] (p) and out[1] (dy onto prefill). */
static void pool_run(const void *cv, const char *tag, float **out, size_t *nout)
{
    const pool_case *c = cv;
    pool_dims d = pool_case_dims(c);
    cn_region rg = c->rg.i1 ? c->rg : region_all(d.Hp, d.Wp);
    size_t ny = (size_t)d.B * d.Hy * d.Wy * d.M, np = (size_t)d.B * d.Hp * d.Wp * d.M;
    float *y = tu_randn(ny, 1.0), *dp = tu_randn(np, 1.0);
    unsigned char *psel = calloc(np, 1), *ysel = calloc(ny, 1);
    for (int b = 0; b < d.B; b++)
        for (int i = rg.i0; i < rg.i1; i++)
            memset(psel + (((size_t)b * d.Hp + i) * d.Wp + rg.j0) * d.M, 1, (size_t)(rg.j1 - rg.j0) * d.M);
    for (int b = 0; b < d.B; b++)
        for (int a = 0; a < d.Hy; a++)
            for (int v = 0; v < d.Wy; v++)
                if (read_by(a, d.q, d.t, rg.i0, rg.i1) && read_by(v, d.q, d.t, rg.j0, rg.j1))
                    memset(ysel + (((size_t)b * d.Hy + a) * d.Wy + v) * d.M, 1, (size_t)d.M);

    float *p0 = tu_poisoned(np), *p1 = tu_poisoned(np), *pois = tu_poisoned(np);
    int rc0 = pool_forward_ref(&d, y, p0, rg), rc1 = pool_forward_cpu(&d, y, p1, rg);
    check_rc("pool_fwd", tag, rc0, rc1);
    check("pool_fwd", tag, p1, p0, pois, psel, np);

    /* backward with the whole forward's p (only the region's is read) */
    float *p = malloc(np * sizeof *p);
    pool_forward_ref(&d, y, p, region_all(d.Hp, d.Wp));
    float *g0 = calloc(ny, sizeof *g0), *g1 = calloc(ny, sizeof *g1);
    rc0 = pool_backward_ref(&d, y, p, dp, g0, rg);
    rc1 = pool_backward_cpu(&d, y, p, dp, g1, rg);
    check_rc("pool_bwd", tag, rc0, rc1);
    check("pool_bwd", tag, g1, g0, g0, NULL, ny);
    float *pre = tu_randn(ny, 1.0);
    memcpy(g0, pre, ny * sizeof *g0);
    memcpy(g1, pre, ny * sizeof *g1);
    pool_backward_ref(&d, y, p, dp, g0, rg);
    pool_backward_cpu(&d, y, p, dp, g1, rg);
    check("pool_bwd_adds", tag, g1, g0, pre, ysel, ny);
    out[0] = p1, out[1] = g1, nout[0] = np, nout[1] = ny;
    free(y), free(dp), free(psel), free(ysel), free(p0), free(pois), free(p), free(g0), free(pre);
}

static void pool_bad_args(void)
{
    const pool_dims good = {2, 3, 7, 6, 3, 2, 3, 2, 0.01f};
    float y[2 * 7 * 6 * 3], p[2 * 3 * 2 * 3];
    const size_t ny = sizeof y / sizeof y[0], np = sizeof p / sizeof p[0];
    struct {
        const char *what;
        pool_dims d;
        cn_region rg;
        int null_arg;
    } bad[] = {
        {"zero_batch", {0, 3, 7, 6, 3, 2, 3, 2, 0.01f}, {0, 3, 0, 2}, 0},
        {"zero_stride", {2, 3, 7, 6, 3, 2, 3, 0, 0.01f}, {0, 3, 0, 2}, 0},
        {"eps_zero", {2, 3, 7, 6, 3, 2, 3, 2, 0.0f}, {0, 3, 0, 2}, 0},
        {"window_too_small", {2, 3, 7, 6, 4, 2, 3, 2, 0.01f}, {0, 4, 0, 2}, 0},
        {"region_outside", good, {0, 4, 0, 2}, 0},
        {"region_reversed", good, {2, 1, 0, 2}, 0},
        {"null_array", good, {0, 3, 0, 2}, 1},
        {"overflow", {1 << 30, 1 << 10, 1 << 20, 1 << 20, 1, 1, 1, 1, 0.01f}, {0, 1, 0, 1}, 0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float *ya = bad[k].null_arg ? NULL : y;
        tu_poison(y, ny);
        tu_poison(p, np);
        int r[4];
        r[0] = pool_forward_ref(&bad[k].d, ya, p, bad[k].rg);
        r[1] = pool_forward_cpu(&bad[k].d, ya, p, bad[k].rg);
        r[2] = pool_backward_ref(&bad[k].d, ya, p, p, y, bad[k].rg);
        r[3] = pool_backward_cpu(&bad[k].d, ya, p, p, y, bad[k].rg);
        int touched = tu_poison_count(y, ny) != ny || tu_poison_count(p, np) != np;
        char name[96];
        snprintf(name, sizeof name, "pool_bad_args_%s", bad[k].what);
        int ok = r[0] == r[1] && r[2] == r[3] && r[1] == CN_EINVAL && r[3] == CN_EINVAL && !touched;
        tu_check(name, ok, touched ? "buffers touched" : "return codes differ from the reference or not CN_EINVAL");
    }
}

/* ---- LCN ------------------------------------------------------------------------------------------- */
typedef struct {
    int B, M, H, W, n;
    float sigma, eps;
    int ty0, tx0, th, tw; /* th = 0: the whole map */
    int whole_window;     /* 1: the window is the whole map (larger than the tile needs) */
} lcn_case;

static const lcn_case lcn_cases[] = {
    {2, 3, 9, 11, 5, 1.0f, 0.01f, 0, 0, 0, 0, 0},    /* whole map */
    {3, 1, 13, 10, 3, 1.2f, 0.05f, 4, 3, 5, 4, 0},   /* M = 1, interior tile */
    {1, 16, 12, 12, 7, 2.0f, 0.01f, 0, 5, 6, 7, 0},  /* tile at the top edge, right border */
    {5, 7, 6, 5, 9, 1.5f, 0.1f, 0, 0, 0, 0, 0},      /* n > H and n > W */
    {2, 5, 15, 17, 5, 1.0f, 0.01f, 9, 0, 6, 8, 1},   /* corner tile, window = whole map */
    {4, 8, 10, 9, 1, 1.0f, 0.1f, 2, 2, 5, 6, 0},     /* n = 1: mean over maps only */
    {3, 3, 20, 14, 5, 1.0f, 0.01f, 7, 4, 1, 9, 1},   /* one-row tile in a larger window */
};
#define NLCN (int)(sizeof lcn_cases / sizeof lcn_cases[0])

static lcn_dims lcn_case_dims(const lcn_case *c)
{
    lcn_dims d = {c->B, c->M, c->H, c->W, 0, 0, c->H, c->W, 0, 0, c->H, c->W, c->n, c->sigma, c->eps};
    if (c->th) {
        d.ty0 = c->ty0, d.tx0 = c->tx0, d.th = c->th, d.tw = c->tw;
        if (!c->whole_window)
            lcn_window(c->H, c->W, c->n, d.ty0, d.tx0, d.th, d.tw, &d.wy0, &d.wx0, &d.wh, &d.ww);
    }
    return d;
}

static void lcn_run(const void *cv, const char *tag, float **out, size_t *nout)
{
    const lcn_case *c = cv;
    lcn_dims d = lcn_case_dims(c);
    size_t nx = (size_t)d.B * d.wh * d.ww * d.M, no = (size_t)d.B * d.th * d.tw * d.M;
    float *x = tu_randn(nx, 1.0), *g = tu_randn(no, 1.0);
    /* the inputs the tile reads: the tile grown by n - 1, clipped */
    int ny0, nx0, nh, nw;
    lcn_window(d.H, d.W, d.n, d.ty0, d.tx0, d.th, d.tw, &ny0, &nx0, &nh, &nw);
    unsigned char *xsel = calloc(nx, 1);
    for (int b = 0; b < d.B; b++)
        for (int u = ny0; u < ny0 + nh; u++)
            memset(xsel + (((size_t)b * d.wh + (u - d.wy0)) * d.ww + (nx0 - d.wx0)) * d.M, 1, (size_t)nw * d.M);

    float *o0 = tu_poisoned(no), *o1 = tu_poisoned(no);
    int rc0 = lcn_forward_ref(&d, x, o0), rc1 = lcn_forward_cpu(&d, x, o1);
    check_rc("lcn_fwd", tag, rc0, rc1);
    check("lcn_fwd", tag, o1, o0, o0, NULL, no);

    float *g0 = calloc(nx, sizeof *g0), *g1 = calloc(nx, sizeof *g1);
    rc0 = lcn_backward_ref(&d, x, g, g0);
    rc1 = lcn_backward_cpu(&d, x, g, g1);
    check_rc("lcn_bwd", tag, rc0, rc1);
    check("lcn_bwd", tag, g1, g0, g0, NULL, nx);
    float *pre = tu_randn(nx, 1.0);
    memcpy(g0, pre, nx * sizeof *g0);
    memcpy(g1, pre, nx * sizeof *g1);
    lcn_backward_ref(&d, x, g, g0);
    lcn_backward_cpu(&d, x, g, g1);
    check("lcn_bwd_adds", tag, g1, g0, pre, xsel, nx);
    out[0] = o1, out[1] = g1, nout[0] = no, nout[1] = nx;
    free(x), free(g), free(xsel), free(o0), free(g0), free(pre);
}

static void lcn_bad_args(void)
{
    const lcn_dims good = {2, 3, 6, 5, 0, 0, 6, 5, 0, 0, 6, 5, 3, 1.0f, 0.01f};
    float x[2 * 6 * 5 * 3], o[2 * 6 * 5 * 3];
    const size_t n = sizeof x / sizeof x[0];
    struct {
        const char *what;
        lcn_dims d;
        int null_arg;
    } bad[] = {
        {"even_n", {2, 3, 6, 5, 0, 0, 6, 5, 0, 0, 6, 5, 4, 1.0f, 0.01f}, 0},
        {"sigma_zero", {2, 3, 6, 5, 0, 0, 6, 5, 0, 0, 6, 5, 3, 0.0f, 0.01f}, 0},
        {"tile_outside", {2, 3, 6, 5, 0, 0, 6, 5, 1, 0, 6, 5, 3, 1.0f, 0.01f}, 0},
        {"window_too_small", {2, 3, 6, 5, 0, 0, 4, 5, 0, 0, 3, 5, 3, 1.0f, 0.01f}, 0},
        {"null_array", good, 1},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float *xa = bad[k].null_arg ? NULL : x;
        tu_poison(x, n);
        tu_poison(o, n);
        int r[4];
        r[0] = lcn_forward_ref(&bad[k].d, xa, o);
        r[1] = lcn_forward_cpu(&bad[k].d, xa, o);
        r[2] = lcn_backward_ref(&bad[k].d, xa, o, x);
        r[3] = lcn_backward_cpu(&bad[k].d, xa, o, x);
        int touched = tu_poison_count(x, n) != n || tu_poison_count(o, n) != n;
        char name[96];
        snprintf(name, sizeof name, "lcn_bad_args_%s", bad[k].what);
        int ok = r[0] == r[1] && r[2] == r[3] && r[1] == CN_EINVAL && r[3] == CN_EINVAL && !touched;
        tu_check(name, ok, touched ? "buffers touched" : "return codes differ from the reference or not CN_EINVAL");
    }
}

/* One case run with 1 and then 2 OpenMP threads on the same inputs; forward and backward results
 * compared bit for bit. */
static void both_threads(const char *op, void (*run)(const void *, const char *, float **, size_t *),
                         const void *c, const char *base)
{
    float *r[2][2];
    size_t n[2];
    char tag[200], name[32];
    for (int t = 0; t < 2; t++) {
        snprintf(tag, sizeof tag, "t%d_%s", t + 1, base);
        omp_set_num_threads(t + 1);
        uint64_t st = tu_state; /* the same inputs for both thread counts */
        run(c, tag, r[t], n);
        if (t == 0)
            tu_state = st;
    }
    snprintf(name, sizeof name, "%s_fwd", op);
    check_same_bits(name, base, r[0][0], r[1][0], n[0]);
    snprintf(name, sizeof name, "%s_bwd", op);
    check_same_bits(name, base, r[0][1], r[1][1], n[1]);
    for (int t = 0; t < 2; t++)
        free(r[t][0]), free(r[t][1]);
}

int main(void)
{
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    const char *es = getenv("COTSNET_TEST_SEED");
    if (es && *es)
        seed = strtoull(es, NULL, 10);
    printf("# seed %llu (COTSNET_TEST_SEED=%llu repeats this run)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    int saved = omp_get_max_threads();
    char tag[160];
    for (int ci = 0; ci < NPOOL; ci++) {
        const pool_case *c = &pool_cases[ci];
        pool_dims d = pool_case_dims(c);
        cn_region rg = c->rg.i1 ? c->rg : region_all(d.Hp, d.Wp);
        snprintf(tag, sizeof tag, "b%dm%dh%dw%dq%dt%d_p%dx%d_rg%d-%d,%d-%d", d.B, d.M, d.Hy, d.Wy, d.q, d.t, d.Hp,
                 d.Wp, rg.i0, rg.i1, rg.j0, rg.j1);
        both_threads("pool", pool_run, c, tag);
    }
    for (int ci = 0; ci < NLCN; ci++) {
        lcn_dims d = lcn_case_dims(&lcn_cases[ci]);
        snprintf(tag, sizeof tag, "b%dm%dh%dw%dn%d_tile%d,%d+%dx%d_win%d,%d+%dx%d", d.B, d.M, d.H, d.W, d.n, d.ty0,
                 d.tx0, d.th, d.tw, d.wy0, d.wx0, d.wh, d.ww);
        both_threads("lcn", lcn_run, &lcn_cases[ci], tag);
    }
    omp_set_num_threads(saved);
    pool_bad_args();
    lcn_bad_args();
    return tu_exit();
}
