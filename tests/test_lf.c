/* test_lf.c: local filter reference (src/lf_ref.c) against its definition.
 *
 *  - forward against a double-precision evaluator written here from docs/MODEL.md;
 *  - gradients: lf_backward_data_ref and lf_backward_filter_ref against central differences (in double)
 *    of L(x, w) = sum_{b,i,j,m} R[b,i,j,m] * y[b,i,j,m] for random R, so dL/dy = R;
 *  - regions: the output computed in up to 4 sub-regions (some empty) equals the whole, outputs outside
 *    the region are untouched, backward by regions sums to backward whole, and backward adds;
 *  - 1 and 3 OpenMP threads give bitwise equal results;
 *  - bad arguments (zero sizes, window too small, region outside the tile, overflowing sizes, NULL)
 *    return CN_EINVAL with a message and leave every buffer untouched.
 * Shapes: non-square maps, stride > 1, fields that do not tile the map ((H - r) % s != 0), r = 1 with
 * gaps, r = H, C, M, B > 1, and an input window larger than the outputs need (a tile).
 * `test_lf --dump DIR` writes inputs and outputs as .npy for tests/oracle/lf_pool.py instead. */
#include <limits.h>
#include <omp.h>

#include "src/common.h"
#include "src/ops.h"
#include "tests/testutil.h"

/* L is linear in x and in w, so central differences are exact up to double rounding whatever the step. */
#define LF_FD_STEP 1e-3
#define LF_FWD_TOL 1e-6  /* normwise relative: float forward vs double evaluator */
#define LF_GRAD_TOL 1e-5 /* normwise relative: float gradients vs double finite differences */
#define LF_SUM_TOL 1e-6  /* normwise relative: backward by regions / onto a prefill vs whole (float order) */

typedef struct {
    const char *name;
    int B, H, W, C, M, r, s;
    int Ho, Wo; /* 0: the whole map, floor((H - r) / s) + 1; else a tile reading a larger window */
} lf_case;

static const lf_case cases[] = {
    {"b2h8w11c3m2r3s2", 2, 8, 11, 3, 2, 3, 2, 0, 0},  /* (8-3) % 2 = 1: last row uncovered */
    {"b1h6w5c1m1r2s1", 1, 6, 5, 1, 1, 2, 1, 0, 0},
    {"b3h11w8c2m3r4s3", 3, 11, 8, 2, 3, 4, 3, 0, 0},  /* (11-4) % 3 = 1, (8-4) % 3 = 1 */
    {"b2h5w7c2m2r5s2", 2, 5, 7, 2, 2, 5, 2, 0, 0},    /* r = H: one output row */
    {"b2h9w6c2m4r1s2", 2, 9, 6, 2, 4, 1, 2, 0, 0},    /* r < s: inputs between fields unread */
    {"b2h12w9c2m2r3s2_tile", 2, 12, 9, 2, 2, 3, 2, 3, 2}, /* window larger than 3 x 2 outputs need */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static lf_dims case_dims(const lf_case *c)
{
    lf_dims d = {c->B, c->H, c->W, c->C, c->Ho, c->Wo, c->M, c->r, c->s};
    if (!c->Ho) {
        d.Ho = (c->H - c->r) / c->s + 1;
        d.Wo = (c->W - c->r) / c->s + 1;
    }
    return d;
}
static size_t n_x(const lf_dims *d) { return (size_t)d->B * d->Hx * d->Wx * d->C; }
static size_t n_y(const lf_dims *d) { return (size_t)d->B * d->Ho * d->Wo * d->M; }
static size_t n_w(const lf_dims *d) { return (size_t)d->Ho * d->Wo * d->M * d->r * d->r * d->C; }

/* The formula of docs/MODEL.md in double, index by index. */
static void lf_forward_d(const lf_dims *d, const double *x, const double *w, double *y)
{
    int r = d->r, s = d->s, C = d->C;
    for (int b = 0; b < d->B; b++)
        for (int i = 0; i < d->Ho; i++)
            for (int j = 0; j < d->Wo; j++)
                for (int m = 0; m < d->M; m++) {
                    double acc = 0;
                    for (int ky = 0; ky < r; ky++)
                        for (int kx = 0; kx < r; kx++)
                            for (int c = 0; c < C; c++) {
                                size_t wi = ((((((size_t)i * d->Wo + j) * d->M + m) * r + ky) * r + kx) * C) + c;
                                size_t xi = (((size_t)b * d->Hx + i * s + ky) * d->Wx + j * s + kx) * C + c;
                                acc += w[wi] * x[xi];
                            }
                    y[(((size_t)b * d->Ho + i) * d->Wo + j) * d->M + m] = acc;
                }
}

static double loss_d(const lf_dims *d, const double *x, const double *w, const double *R, double *y)
{
    lf_forward_d(d, x, w, y);
    double L = 0;
    for (size_t e = 0; e < n_y(d); e++)
        L += R[e] * y[e];
    return L;
}

/* dL/dv for every entry of v (x or w), by central differences of loss_d. */
static void fd_grad(const lf_dims *d, double *x, double *w, const double *R, double *v, size_t n, double *g)
{
    double *y = malloc(n_y(d) * sizeof *y);
    for (size_t e = 0; e < n; e++) {
        double v0 = v[e];
        v[e] = v0 + LF_FD_STEP;
        double lp = loss_d(d, x, w, R, y);
        v[e] = v0 - LF_FD_STEP;
        double lm = loss_d(d, x, w, R, y);
        v[e] = v0;
        g[e] = (lp - lm) / (2 * LF_FD_STEP);
    }
    free(y);
}

/* Every array of a case, as .npy for the oracle: meta = [r, s], x, w, gy (= R), y, dx, dw. */
static void dump_case(const lf_case *c, const lf_dims *d, const float *const arr[6])
{
    int sx[4] = {d->B, d->Hx, d->Wx, d->C}, sy[4] = {d->B, d->Ho, d->Wo, d->M};
    int sw[6] = {d->Ho, d->Wo, d->M, d->r, d->r, d->C}, two = 2, meta[2] = {d->r, d->s};
    static const char *what[6] = {"x", "w", "gy", "y", "dx", "dw"};
    const int *shape[6] = {sx, sw, sy, sy, sx, sw};
    const int nd[6] = {4, 6, 4, 4, 4, 6};
    int bad = tu_dump(meta, "<i4", &two, 1, "lf_%s_meta", c->name);
    for (int k = 0; k < 6 && !bad; k++)
        bad = tu_dump(arr[k], "<f4", shape[k], nd[k], "lf_%s_%s", c->name, what[k]);
}

/* Forward against the double evaluator, gradients against finite differences (or, with --dump, the
 * arrays written for the oracle). */
static void check_grad(const lf_case *c)
{
    char name[160];
    lf_dims d = case_dims(c);
    size_t nx = n_x(&d), ny = n_y(&d), nw = n_w(&d);
    float *x = tu_randn(nx, 1.0), *w = tu_randn(nw, 0.5), *R = tu_randn(ny, 1.0);
    float *y = malloc(ny * sizeof *y), *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw);
    cn_region all = region_all(d.Ho, d.Wo);
    int rc[3];
    rc[0] = lf_forward_ref(&d, x, w, y, all);
    rc[1] = lf_backward_data_ref(&d, w, R, dx, all);
    rc[2] = lf_backward_filter_ref(&d, x, R, dw, all);
    if (tu_dump_dir) {
        const float *arr[6] = {x, w, R, y, dx, dw};
        snprintf(name, sizeof name, "lf_dump_%s", c->name);
        if (rc[0] || rc[1] || rc[2])
            tu_fail(name, "kernel refused: %s", cn_last_error());
        else
            dump_case(c, &d, arr);
    } else {
        double *xd = tu_to_double(x, nx), *wd = tu_to_double(w, nw), *Rd = tu_to_double(R, ny);
        double *yd = malloc(ny * sizeof *yd), *gx = malloc(nx * sizeof *gx), *gw = malloc(nw * sizeof *gw);
        lf_forward_d(&d, xd, wd, yd);
        snprintf(name, sizeof name, "lf_forward_%s", c->name);
        tu_close_d(name, y, yd, ny, LF_FWD_TOL, rc[0]);
        fd_grad(&d, xd, wd, Rd, xd, nx, gx);
        snprintf(name, sizeof name, "lf_grad_x_fd_%s", c->name);
        tu_close_d(name, dx, gx, nx, LF_GRAD_TOL, rc[1]);
        fd_grad(&d, xd, wd, Rd, wd, nw, gw);
        snprintf(name, sizeof name, "lf_grad_w_fd_%s", c->name);
        tu_close_d(name, dw, gw, nw, LF_GRAD_TOL, rc[2]);
        free(xd); free(wd); free(Rd); free(yd); free(gx); free(gw);
    }
    free(x); free(w); free(R); free(y); free(dx); free(dw);
}

static int in_region(cn_region rg, int i, int j) { return i >= rg.i0 && i < rg.i1 && j >= rg.j0 && j < rg.j1; }

/* Sub-regions, computed one after another, against the whole call. */
static void check_regions(const lf_case *c)
{
    char name[160];
    lf_dims d = case_dims(c);
    size_t nx = n_x(&d), ny = n_y(&d), nw = n_w(&d), wl = nw / ((size_t)d.Ho * d.Wo);
    float *x = tu_randn(nx, 1.0), *w = tu_randn(nw, 0.5), *R = tu_randn(ny, 1.0), *P = tu_randn(nx + nw + ny, 1.0);
    float *y = malloc(ny * sizeof *y), *yp = malloc(ny * sizeof *yp);
    float *dx = calloc(nx, sizeof *dx), *dxp = calloc(nx, sizeof *dxp), *dxa = malloc(nx * sizeof *dxa);
    float *dw = calloc(nw, sizeof *dw), *dwp = malloc(nw * sizeof *dwp), *dwa = malloc(nw * sizeof *dwa);
    float *ref = malloc((nx + nw) * sizeof *ref);
    cn_region all = region_all(d.Ho, d.Wo);
    int a = d.Ho / 2, b = (d.Wo + 1) / 3; /* a = 0 or b = 0 leaves empty regions: valid, no-ops */
    cn_region parts[4] = {{0, a, 0, b}, {0, a, b, d.Wo}, {a, d.Ho, 0, b}, {a, d.Ho, b, d.Wo}};

    int rc = lf_forward_ref(&d, x, w, y, all);
    rc |= lf_backward_data_ref(&d, w, R, dx, all);
    rc |= lf_backward_filter_ref(&d, x, R, dw, all);

    /* forward: each region writes its outputs and nothing else; all of them give the whole, bitwise */
    memcpy(yp, P, ny * sizeof *yp);
    size_t stray = 0;
    for (int k = 0; k < 4; k++) {
        rc |= lf_forward_ref(&d, x, w, yp, parts[k]);
        for (int bb = 0; bb < d.B; bb++)
            for (int i = 0; i < d.Ho; i++)
                for (int j = 0; j < d.Wo; j++) {
                    int done = 0;
                    for (int q = 0; q <= k; q++)
                        done |= in_region(parts[q], i, j);
                    size_t o = (((size_t)bb * d.Ho + i) * d.Wo + j) * d.M;
                    stray += memcmp(yp + o, done ? y + o : P + o, d.M * sizeof *yp) != 0;
                }
    }
    snprintf(name, sizeof name, "lf_forward_regions_%s", c->name);
    if (rc == CN_OK && stray == 0)
        tu_ok(name);
    else
        tu_fail(name, "%zu output positions wrong or written outside the region (rc %d)", stray, rc);

    /* backward data: the regions' contributions sum to the whole */
    for (int k = 0; k < 4; k++)
        rc |= lf_backward_data_ref(&d, w, R, dxp, parts[k]);
    snprintf(name, sizeof name, "lf_backward_data_regions_%s", c->name);
    tu_close(name, dxp, dx, nx, rc == CN_OK ? LF_SUM_TOL : -1.0);

    /* backward filter: a region adds to its own locations' filters only; all of them give the whole */
    memcpy(dwp, P, nw * sizeof *dwp);
    stray = 0;
    for (int k = 0; k < 4; k++) {
        rc |= lf_backward_filter_ref(&d, x, R, dwp, parts[k]);
        for (int i = 0; i < d.Ho; i++)
            for (int j = 0; j < d.Wo; j++) {
                int done = 0;
                for (int q = 0; q <= k; q++)
                    done |= in_region(parts[q], i, j);
                size_t o = ((size_t)i * d.Wo + j) * wl;
                if (!done)
                    stray += memcmp(dwp + o, P + o, wl * sizeof *dwp) != 0;
            }
    }
    for (size_t e = 0; e < nw; e++)
        ref[e] = P[e] + dw[e];
    snprintf(name, sizeof name, "lf_backward_filter_regions_%s", c->name);
    if (stray)
        tu_fail(name, "%zu locations' filters changed before their region ran", stray);
    else
        tu_close(name, dwp, ref, nw, rc == CN_OK ? LF_SUM_TOL : -1.0);

    /* backward adds into what is there */
    memcpy(dxa, P + nw, nx * sizeof *dxa);
    rc |= lf_backward_data_ref(&d, w, R, dxa, all);
    for (size_t e = 0; e < nx; e++)
        ref[e] = P[nw + e] + dx[e];
    snprintf(name, sizeof name, "lf_backward_data_adds_%s", c->name);
    tu_close(name, dxa, ref, nx, rc == CN_OK ? LF_SUM_TOL : -1.0);
    memcpy(dwa, P, nw * sizeof *dwa);
    rc |= lf_backward_filter_ref(&d, x, R, dwa, all);
    for (size_t e = 0; e < nw; e++)
        ref[e] = P[e] + dw[e];
    snprintf(name, sizeof name, "lf_backward_filter_adds_%s", c->name);
    tu_close(name, dwa, ref, nw, rc == CN_OK ? LF_SUM_TOL : -1.0);

    free(x); free(w); free(R); free(P); free(y); free(yp);
    free(dx); free(dxp); free(dxa); free(dw); free(dwp); free(dwa); free(ref);
}

/* 3 threads against 1: every output written by one thread in a fixed order, so bitwise equal. */
static void check_threads(const lf_case *c)
{
    char name[160];
    lf_dims d = case_dims(c);
    size_t nx = n_x(&d), ny = n_y(&d), nw = n_w(&d);
    float *x = tu_randn(nx, 1.0), *w = tu_randn(nw, 0.5), *R = tu_randn(ny, 1.0);
    float *out[2][3];
    int rc = CN_OK, saved = omp_get_max_threads();
    cn_region all = region_all(d.Ho, d.Wo);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        out[t][0] = malloc(ny * sizeof(float));
        out[t][1] = calloc(nx, sizeof(float));
        out[t][2] = calloc(nw, sizeof(float));
        rc |= lf_forward_ref(&d, x, w, out[t][0], all);
        rc |= lf_backward_data_ref(&d, w, R, out[t][1], all);
        rc |= lf_backward_filter_ref(&d, x, R, out[t][2], all);
    }
    omp_set_num_threads(saved);
    snprintf(name, sizeof name, "lf_threads_forward_%s", c->name);
    tu_same_bits(name, out[0][0], out[1][0], ny, rc);
    snprintf(name, sizeof name, "lf_threads_backward_data_%s", c->name);
    tu_same_bits(name, out[0][1], out[1][1], nx, rc);
    snprintf(name, sizeof name, "lf_threads_backward_filter_%s", c->name);
    tu_same_bits(name, out[0][2], out[1][2], nw, rc);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++)
            free(out[t][k]);
    free(x); free(w); free(R);
}

/* Each bad argument set: CN_EINVAL from lf_check (where it applies) and from all three kernels, a
 * message, and every buffer untouched. The buffers fit the good dimensions; a kernel that went ahead
 * with the bad ones would write (or read) out of bounds, which ASan reports. */
static void check_bad_args(void)
{
    const lf_case *c = &cases[0];
    const lf_dims good = case_dims(c);
    size_t nx = n_x(&good), ny = n_y(&good), nw = n_w(&good), nall = nx + ny + nw;
    float *buf = tu_randn(nall, 1.0), *save = malloc(nall * sizeof *save);
    float *x = buf, *y = buf + nx, *w = buf + nx + ny;
    memcpy(save, buf, nall * sizeof *save);
    cn_region all = region_all(good.Ho, good.Wo);
    typedef struct {
        const char *what;
        lf_dims d;
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
    BAD("Hx_zero", Hx, 0);
    BAD("Wx_negative", Wx, -1);
    BAD("C_zero", C, 0);
    BAD("Ho_zero", Ho, 0);
    BAD("Wo_negative", Wo, -2);
    BAD("M_zero", M, 0);
    BAD("r_zero", r, 0);
    BAD("s_zero", s, 0);
    BAD("s_negative", s, -2);
    BAD("window_rows_short", Hx, (good.Ho - 1) * good.s + good.r - 1);
    BAD("window_cols_short", Wx, (good.Wo - 1) * good.s + good.r - 1);
    BAD("too_many_output_rows", Ho, good.Ho + 1);
    BAD("field_larger_than_window", r, good.Wx + 1);
    BAD("stride_too_large", s, good.Hx);
    BAD("output_rows_int_overflow", Ho, INT_MAX); /* (Ho-1)*s + r overflows int */
    BADRG("region_i0_negative", -1, good.Ho, 0, good.Wo);
    BADRG("region_i1_past_tile", 0, good.Ho + 1, 0, good.Wo);
    BADRG("region_j1_past_tile", 0, good.Ho, 0, good.Wo + 1);
    BADRG("region_j0_after_j1", 0, good.Ho, 2, 1);
    BADRG("region_below_tile", good.Ho + 1, good.Ho + 2, 0, good.Wo);
    /* x = B*Hx*Wx*C floats overflows size_t */
    bad[nb] = (bad_case){"overflow_input", {INT_MAX, INT_MAX, INT_MAX, INT_MAX, 1, 1, 1, 1, 1}, all, 0};
    nb++;
    /* only the filters overflow: x 2^50 bytes, y 2^50, w about 2^40 * 2^8 * 2^20 * 2^8 * 4 bytes */
    bad[nb] = (bad_case){"overflow_filters", {1, 1 << 20, 1 << 20, 1 << 8, (1 << 20) - (1 << 10) + 1,
                                              (1 << 20) - (1 << 10) + 1, 1 << 8, 1 << 10, 1}, all, 0};
    nb++;
    /* only the outputs overflow: x 2^50 bytes, w 2^54, y 2^16 * 2^32 * 2^20 * 4 bytes */
    bad[nb] = (bad_case){"overflow_outputs", {1 << 16, 1 << 16, 1 << 16, 1, 1 << 16, 1 << 16, 1 << 20, 1, 1},
                         all, 0};
    nb++;
    bad[nb] = (bad_case){"null_array", good, all, 1};
    nb++;
#undef BAD
#undef BADRG
    for (int t = 0; t < nb; t++) {
        char name[96];
        const lf_dims *d = &bad[t].d;
        cn_region rg = bad[t].rg;
        int n0 = bad[t].null;
        int rcs[4];
        cn_set_error("%s", "");
        rcs[0] = lf_forward_ref(d, n0 ? NULL : x, w, y, rg);
        int msg = strcmp(cn_last_error(), "no error recorded") != 0;
        rcs[1] = lf_backward_data_ref(d, n0 ? NULL : w, y, x, rg);
        rcs[2] = lf_backward_filter_ref(d, n0 ? NULL : x, y, w, rg);
        /* lf_check judges dimensions only; regions and pointers are the kernels' */
        rcs[3] = (rg.i0 == all.i0 && rg.i1 == all.i1 && rg.j0 == all.j0 && rg.j1 == all.j1 && !n0)
                     ? lf_check(d) : CN_EINVAL;
        int untouched = memcmp(buf, save, nall * sizeof *buf) == 0;
        snprintf(name, sizeof name, "lf_bad_%s", bad[t].what);
        if (rcs[0] == CN_EINVAL && rcs[1] == CN_EINVAL && rcs[2] == CN_EINVAL && rcs[3] == CN_EINVAL &&
            untouched && msg)
            tu_ok(name);
        else
            tu_fail(name, "rc %d/%d/%d, check %d, message %s, buffers %s", rcs[0], rcs[1], rcs[2], rcs[3],
                    msg ? "set" : "MISSING", untouched ? "untouched" : "WRITTEN");
        if (t == 0)
            printf("# message: %s\n", cn_last_error());
    }
    /* the same buffers with good arguments are written: the check above can see a write */
    int rc = lf_forward_ref(&good, x, w, y, all);
    tu_check("lf_good_args_write", rc == CN_OK && memcmp(buf, save, nall * sizeof *buf) != 0,
             "a valid call did not change the output buffer");
    /* an empty region is valid and writes nothing */
    memcpy(buf, save, nall * sizeof *buf);
    cn_region empty = {1, 1, 0, good.Wo};
    rc = lf_forward_ref(&good, x, w, y, empty) | lf_backward_data_ref(&good, w, y, x, empty) |
         lf_backward_filter_ref(&good, x, y, w, empty);
    tu_check("lf_empty_region", rc == CN_OK && memcmp(buf, save, nall * sizeof *buf) == 0,
             "an empty region failed or wrote");

    size_t want = (size_t)good.Ho * good.Wo * good.M * good.r * good.r * good.C;
    lf_dims zero_m = good, big = good;
    zero_m.M = 0;
    big.Ho = big.Wo = big.M = big.C = 1 << 20; /* Ho*Wo*M*r*r*C = 2^80 * 9 overflows size_t */
    tu_check("lf_filter_count", lf_filter_count(&good) == want && lf_filter_count(&zero_m) == 0 &&
                                    lf_filter_count(NULL) == 0 && lf_filter_count(&big) == 0,
             "wrong count, or not 0 for bad or overflowing dimensions");
    free(buf); free(save);
}

int main(int argc, char **argv)
{
    if (tu_dump_args(argc, argv, "test_lf"))
        return 2;
    tu_seed(7);
    for (int i = 0; i < NCASES; i++)
        if (!tu_dump_dir || !cases[i].Ho) /* the oracle takes whole maps only, from MODEL.md's sizes */
            check_grad(&cases[i]);
    if (tu_dump_dir)
        return tu_exit();
    for (int i = 0; i < NCASES; i++)
        check_regions(&cases[i]);
    check_threads(&cases[2]);
    check_bad_args();
    return tu_exit();
}
