/* test_pool.c: L2 pooling reference (src/pool_ref.c) against its definition.
 *
 *  - forward against a double-precision evaluator written here from docs/MODEL.md;
 *  - gradient: pool_backward_ref (given the forward's p) against central differences (in double) of
 *    L(y) = sum_{b,i,j,m} R[b,i,j,m] * p[b,i,j,m] for random R, so dL/dp = R;
 *  - regions: the output computed in up to 4 sub-regions (some empty) equals the whole, outputs outside
 *    the region are untouched, backward by regions sums to backward whole, and backward adds;
 *  - 1 and 3 OpenMP threads give bitwise equal results;
 *  - bad arguments (zero sizes, eps <= 0 or not finite, window too small, region outside the tile,
 *    overflowing sizes, NULL) return CN_EINVAL with a message and leave every buffer untouched.
 * Shapes: non-square maps, overlapping windows (t < q), gaps (t > q), windows that do not tile the map
 * ((H - q) % t != 0), q = H, q = 1, M, B > 1, and an input window larger than the outputs need (a tile).
 * `test_pool --dump DIR` writes inputs and outputs as .npy for tests/oracle/lf_pool.py instead. */
#include <limits.h>
#include <omp.h>

#include "src/common.h"
#include "src/ops.h"
#include "tests/testutil.h"

/* Central differences of a smooth function: truncation error about h^2/6 * |d3p/dy3| ~ h^2 / p^2,
 * with p >= sqrt(eps) >= 0.1 here, so below 1e-6; double rounding adds about 1e-16 / h. */
#define POOL_FD_STEP 1e-4
#define POOL_FWD_TOL 1e-6  /* normwise relative: float forward vs double evaluator */
#define POOL_GRAD_TOL 1e-5 /* normwise relative: float gradient vs double finite differences */
#define POOL_SUM_TOL 1e-6  /* normwise relative: backward by regions / onto a prefill vs whole */

typedef struct {
    const char *name;
    int B, M, H, W, q, t;
    float eps;
    int Hp, Wp; /* 0: the whole map, floor((H - q) / t) + 1; else a tile reading a larger window */
} pool_case;

static const pool_case cases[] = {
    {"b2m3h8w9q3t2", 2, 3, 8, 9, 3, 2, 0.01f, 0, 0},  /* (8-3) % 2 = 1: last row unread */
    {"b1m2h5w4q2t1", 1, 2, 5, 4, 2, 1, 0.1f, 0, 0},   /* overlapping windows */
    {"b3m1h6w7q2t3", 3, 1, 6, 7, 2, 3, 0.05f, 0, 0},  /* t > q: gaps; (6-2) % 3 = 1, (7-2) % 3 = 2 */
    {"b2m2h4w5q4t1", 2, 2, 4, 5, 4, 1, 0.01f, 0, 0},  /* q = H: one output row */
    {"b2m2h5w6q1t1", 2, 2, 5, 6, 1, 1, 0.01f, 0, 0},  /* q = 1: p = sqrt(eps + y^2) */
    {"b2m2h9w10q3t2_tile", 2, 2, 9, 10, 3, 2, 0.02f, 2, 3}, /* window larger than 2 x 3 outputs need */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static pool_dims case_dims(const pool_case *c)
{
    pool_dims d = {c->B, c->M, c->H, c->W, c->Hp, c->Wp, c->q, c->t, c->eps};
    if (!c->Hp) {
        d.Hp = (c->H - c->q) / c->t + 1;
        d.Wp = (c->W - c->q) / c->t + 1;
    }
    return d;
}
static size_t n_in(const pool_dims *d) { return (size_t)d->B * d->Hy * d->Wy * d->M; }
static size_t n_out(const pool_dims *d) { return (size_t)d->B * d->Hp * d->Wp * d->M; }

/* The formula of docs/MODEL.md in double, index by index. */
static void pool_forward_d(const pool_dims *d, const double *y, double *p)
{
    for (int b = 0; b < d->B; b++)
        for (int i = 0; i < d->Hp; i++)
            for (int j = 0; j < d->Wp; j++)
                for (int m = 0; m < d->M; m++) {
                    double sum = 0;
                    for (int u = 0; u < d->q; u++)
                        for (int v = 0; v < d->q; v++) {
                            double a = y[(((size_t)b * d->Hy + i * d->t + u) * d->Wy + j * d->t + v) * d->M + m];
                            sum += a * a;
                        }
                    p[(((size_t)b * d->Hp + i) * d->Wp + j) * d->M + m] = sqrt((double)d->eps + sum);
                }
}

static double loss_d(const pool_dims *d, const double *y, const double *R, double *p)
{
    pool_forward_d(d, y, p);
    double L = 0;
    for (size_t e = 0; e < n_out(d); e++)
        L += R[e] * p[e];
    return L;
}

/* Every array of a case, as .npy for the oracle: meta = [q, t], eps, y, gp (= R), p, gy. */
static void dump_case(const pool_case *c, const pool_dims *d, const float *const arr[4])
{
    int sy[4] = {d->B, d->Hy, d->Wy, d->M}, sp[4] = {d->B, d->Hp, d->Wp, d->M};
    int two = 2, one = 1, meta[2] = {d->q, d->t};
    static const char *what[4] = {"y", "gp", "p", "gy"};
    const int *shape[4] = {sy, sp, sp, sy};
    int bad = tu_dump(meta, "<i4", &two, 1, "pool_%s_meta", c->name) ||
              tu_dump(&d->eps, "<f4", &one, 1, "pool_%s_eps", c->name);
    for (int k = 0; k < 4 && !bad; k++)
        bad = tu_dump(arr[k], "<f4", shape[k], 4, "pool_%s_%s", c->name, what[k]);
}

/* Forward against the double evaluator, gradient against finite differences (or, with --dump, the
 * arrays written for the oracle). */
static void check_grad(const pool_case *c)
{
    char name[160];
    pool_dims d = case_dims(c);
    size_t ni = n_in(&d), no = n_out(&d);
    float *y = tu_randn(ni, 1.0), *R = tu_randn(no, 1.0), *p = malloc(no * sizeof *p);
    float *gy = calloc(ni, sizeof *gy);
    cn_region all = region_all(d.Hp, d.Wp);
    int rc[2];
    rc[0] = pool_forward_ref(&d, y, p, all);
    rc[1] = rc[0] ? rc[0] : pool_backward_ref(&d, y, p, R, gy, all);
    if (tu_dump_dir) {
        const float *arr[4] = {y, R, p, gy};
        snprintf(name, sizeof name, "pool_dump_%s", c->name);
        if (rc[0] || rc[1])
            tu_fail(name, "kernel refused: %s", cn_last_error());
        else
            dump_case(c, &d, arr);
    } else {
        double *yd = tu_to_double(y, ni), *Rd = tu_to_double(R, no), *pd = malloc(no * sizeof *pd);
        double *g = malloc(ni * sizeof *g);
        pool_forward_d(&d, yd, pd);
        snprintf(name, sizeof name, "pool_forward_%s", c->name);
        tu_close_d(name, p, pd, no, POOL_FWD_TOL, rc[0]);
        for (size_t e = 0; e < ni; e++) {
            double v0 = yd[e];
            yd[e] = v0 + POOL_FD_STEP;
            double lp = loss_d(&d, yd, Rd, pd);
            yd[e] = v0 - POOL_FD_STEP;
            double lm = loss_d(&d, yd, Rd, pd);
            yd[e] = v0;
            g[e] = (lp - lm) / (2 * POOL_FD_STEP);
        }
        snprintf(name, sizeof name, "pool_grad_fd_%s", c->name);
        tu_close_d(name, gy, g, ni, POOL_GRAD_TOL, rc[1]);
        free(yd); free(Rd); free(pd); free(g);
    }
    free(y); free(R); free(p); free(gy);
}

static int in_region(cn_region rg, int i, int j) { return i >= rg.i0 && i < rg.i1 && j >= rg.j0 && j < rg.j1; }

/* Sub-regions, computed one after another, against the whole call. */
static void check_regions(const pool_case *c)
{
    char name[160];
    pool_dims d = case_dims(c);
    size_t ni = n_in(&d), no = n_out(&d);
    float *y = tu_randn(ni, 1.0), *R = tu_randn(no, 1.0), *P = tu_randn(ni + no, 1.0);
    float *p = malloc(no * sizeof *p), *pp = malloc(no * sizeof *pp);
    float *gy = calloc(ni, sizeof *gy), *gyp = calloc(ni, sizeof *gyp), *gya = malloc(ni * sizeof *gya);
    float *ref = malloc(ni * sizeof *ref);
    cn_region all = region_all(d.Hp, d.Wp);
    int a = d.Hp / 2, b = (d.Wp + 1) / 3; /* a = 0 or b = 0 leaves empty regions: valid, no-ops */
    cn_region parts[4] = {{0, a, 0, b}, {0, a, b, d.Wp}, {a, d.Hp, 0, b}, {a, d.Hp, b, d.Wp}};

    int rc = pool_forward_ref(&d, y, p, all);
    rc |= pool_backward_ref(&d, y, p, R, gy, all);

    /* forward: each region writes its outputs and nothing else; all of them give the whole, bitwise */
    memcpy(pp, P, no * sizeof *pp);
    size_t stray = 0;
    for (int k = 0; k < 4; k++) {
        rc |= pool_forward_ref(&d, y, pp, parts[k]);
        for (int bb = 0; bb < d.B; bb++)
            for (int i = 0; i < d.Hp; i++)
                for (int j = 0; j < d.Wp; j++) {
                    int done = 0;
                    for (int q = 0; q <= k; q++)
                        done |= in_region(parts[q], i, j);
                    size_t o = (((size_t)bb * d.Hp + i) * d.Wp + j) * d.M;
                    stray += memcmp(pp + o, done ? p + o : P + o, d.M * sizeof *pp) != 0;
                }
    }
    snprintf(name, sizeof name, "pool_forward_regions_%s", c->name);
    if (rc == CN_OK && stray == 0)
        tu_ok(name);
    else
        tu_fail(name, "%zu output positions wrong or written outside the region (rc %d)", stray, rc);

    /* backward: the regions' contributions sum to the whole */
    for (int k = 0; k < 4; k++)
        rc |= pool_backward_ref(&d, y, p, R, gyp, parts[k]);
    snprintf(name, sizeof name, "pool_backward_regions_%s", c->name);
    tu_close(name, gyp, gy, ni, rc == CN_OK ? POOL_SUM_TOL : -1.0);

    /* backward adds into what is there */
    memcpy(gya, P + no, ni * sizeof *gya);
    rc |= pool_backward_ref(&d, y, p, R, gya, all);
    for (size_t e = 0; e < ni; e++)
        ref[e] = P[no + e] + gy[e];
    snprintf(name, sizeof name, "pool_backward_adds_%s", c->name);
    tu_close(name, gya, ref, ni, rc == CN_OK ? POOL_SUM_TOL : -1.0);

    free(y); free(R); free(P); free(p); free(pp); free(gy); free(gyp); free(gya); free(ref);
}

/* 3 threads against 1: every output written by one thread in a fixed order, so bitwise equal. */
static void check_threads(const pool_case *c)
{
    char name[160];
    pool_dims d = case_dims(c);
    size_t ni = n_in(&d), no = n_out(&d);
    float *y = tu_randn(ni, 1.0), *R = tu_randn(no, 1.0);
    float *p[2], *gy[2];
    int rc = CN_OK, saved = omp_get_max_threads();
    cn_region all = region_all(d.Hp, d.Wp);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        p[t] = malloc(no * sizeof(float));
        gy[t] = calloc(ni, sizeof(float));
        rc |= pool_forward_ref(&d, y, p[t], all);
        rc |= pool_backward_ref(&d, y, p[t], R, gy[t], all);
    }
    omp_set_num_threads(saved);
    snprintf(name, sizeof name, "pool_threads_forward_%s", c->name);
    tu_same_bits(name, p[0], p[1], no, rc);
    snprintf(name, sizeof name, "pool_threads_backward_%s", c->name);
    tu_same_bits(name, gy[0], gy[1], ni, rc);
    for (int t = 0; t < 2; t++) {
        free(p[t]);
        free(gy[t]);
    }
    free(y); free(R);
}

/* Each bad argument set: CN_EINVAL from pool_check (where it applies) and from both kernels, a message,
 * and every buffer untouched. The buffers fit the good dimensions; a kernel that went ahead with the
 * bad ones would write (or read) out of bounds, which ASan reports. */
static void check_bad_args(void)
{
    const pool_case *c = &cases[0];
    const pool_dims good = case_dims(c);
    size_t ni = n_in(&good), no = n_out(&good), nall = 2 * ni + 2 * no;
    float *buf = tu_randn(nall, 1.0), *save = malloc(nall * sizeof *save);
    float *y = buf, *gy = buf + ni, *p = buf + 2 * ni, *dp = buf + 2 * ni + no;
    for (size_t e = 0; e < no; e++) /* p as a forward pass would leave it: positive */
        p[e] = 1.0f + fabsf(p[e]);
    memcpy(save, buf, nall * sizeof *save);
    cn_region all = region_all(good.Hp, good.Wp);
    typedef struct {
        const char *what;
        pool_dims d;
        cn_region rg;
        int null; /* 1: pass NULL for the first array */
    } bad_case;
    bad_case bad[40];
    int nb = 0;
#define BAD(WHAT, FIELD, VALUE) \
    do { bad[nb] = (bad_case){WHAT, good, all, 0}; bad[nb].d.FIELD = VALUE; nb++; } while (0)
#define BADRG(WHAT, I0, I1, J0, J1) \
    do { bad[nb] = (bad_case){WHAT, good, {I0, I1, J0, J1}, 0}; nb++; } while (0)
    BAD("B_zero", B, 0);
    BAD("M_zero", M, 0);
    BAD("Hy_zero", Hy, 0);
    BAD("Wy_negative", Wy, -3);
    BAD("Hp_zero", Hp, 0);
    BAD("Wp_negative", Wp, -1);
    BAD("q_zero", q, 0);
    BAD("t_zero", t, 0);
    BAD("t_negative", t, -1);
    BAD("eps_zero", eps, 0.0f);
    BAD("eps_negative", eps, -0.5f);
    BAD("eps_nan", eps, NAN);
    BAD("eps_inf", eps, INFINITY);
    BAD("window_rows_short", Hy, (good.Hp - 1) * good.t + good.q - 1);
    BAD("window_cols_short", Wy, (good.Wp - 1) * good.t + good.q - 1);
    BAD("too_many_output_cols", Wp, good.Wp + 1);
    BAD("pool_window_larger_than_input", q, good.Hy + 1);
    BAD("output_rows_int_overflow", Hp, INT_MAX); /* (Hp-1)*t + q overflows int */
    BADRG("region_i0_negative", -1, good.Hp, 0, good.Wp);
    BADRG("region_i1_past_tile", 0, good.Hp + 1, 0, good.Wp);
    BADRG("region_j1_past_tile", 0, good.Hp, 0, good.Wp + 1);
    BADRG("region_i0_after_i1", 2, 1, 0, good.Wp);
    BADRG("region_right_of_tile", 0, good.Hp, good.Wp + 1, good.Wp + 3);
    /* y = B*Hy*Wy*M floats overflows size_t (and so do the outputs) */
    bad[nb] = (bad_case){"overflow_input", {INT_MAX, INT_MAX, INT_MAX, INT_MAX, 1, 1, 1, 1, 0.01f}, all, 0};
    nb++;
    bad[nb] = (bad_case){"overflow_input_bytes", {1 << 16, 1 << 16, 1 << 15, 1 << 15, 1, 1, 1, 1, 0.01f}, all,
                         0}; /* 2^62 floats fit in size_t, 2^64 bytes do not */
    nb++;
    bad[nb] = (bad_case){"null_array", good, all, 1};
    nb++;
#undef BAD
#undef BADRG
    for (int t = 0; t < nb; t++) {
        char name[96];
        const pool_dims *d = &bad[t].d;
        cn_region rg = bad[t].rg;
        int n0 = bad[t].null;
        int rcs[3];
        cn_set_error("%s", "");
        rcs[0] = pool_forward_ref(d, n0 ? NULL : y, p, rg);
        int msg = strcmp(cn_last_error(), "no error recorded") != 0;
        rcs[1] = pool_backward_ref(d, n0 ? NULL : y, p, dp, gy, rg);
        /* pool_check judges dimensions only; regions and pointers are the kernels' */
        rcs[2] = (rg.i0 == all.i0 && rg.i1 == all.i1 && rg.j0 == all.j0 && rg.j1 == all.j1 && !n0)
                     ? pool_check(d) : CN_EINVAL;
        int untouched = memcmp(buf, save, nall * sizeof *buf) == 0;
        snprintf(name, sizeof name, "pool_bad_%s", bad[t].what);
        if (rcs[0] == CN_EINVAL && rcs[1] == CN_EINVAL && rcs[2] == CN_EINVAL && untouched && msg)
            tu_ok(name);
        else
            tu_fail(name, "rc %d/%d, check %d, message %s, buffers %s", rcs[0], rcs[1], rcs[2],
                    msg ? "set" : "MISSING", untouched ? "untouched" : "WRITTEN");
    }
    /* with good arguments the same buffers are written: the check above can see a write */
    int rc = pool_forward_ref(&good, y, p, all);
    tu_check("pool_good_args_write", rc == CN_OK && memcmp(buf, save, nall * sizeof *buf) != 0,
             "a valid call did not change the output buffer");
    /* an empty region is valid and writes nothing */
    memcpy(buf, save, nall * sizeof *buf);
    cn_region empty = {0, good.Hp, 2, 2};
    rc = pool_forward_ref(&good, y, p, empty) | pool_backward_ref(&good, y, p, dp, gy, empty);
    tu_check("pool_empty_region", rc == CN_OK && memcmp(buf, save, nall * sizeof *buf) == 0,
             "an empty region failed or wrote");
    free(buf); free(save);
}

int main(int argc, char **argv)
{
    if (tu_dump_args(argc, argv, "test_pool"))
        return 2;
    tu_seed(13);
    for (int i = 0; i < NCASES; i++)
        if (!tu_dump_dir || !cases[i].Hp) /* the oracle takes whole maps only, from MODEL.md's sizes */
            check_grad(&cases[i]);
    if (tu_dump_dir)
        return tu_exit();
    for (int i = 0; i < NCASES; i++)
        check_regions(&cases[i]);
    check_threads(&cases[0]);
    check_bad_args();
    return tu_exit();
}
