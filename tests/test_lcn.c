/* test_lcn.c: local contrast normalization reference (src/lcn_ref.c) against its own definition.
 *
 *  - forward: lcn_forward_ref equals MODEL.md's formulas evaluated literally (naive loops, double);
 *  - gradient: lcn_backward_ref equals a finite-difference derivative of lcn_forward_ref;
 *  - tiles: the map split into 2 x 3 uneven tiles, each computed from its own clipped window, gives the
 *    whole-map output exactly, and the tiles' input gradients summed into the map give the whole-map one;
 *  - n = 1 against its closed form; lcn_window on known tiles;
 *  - bad arguments return CN_EINVAL and leave the outputs untouched.
 * Shapes: non-square maps, n = 1, 3, 5, 7, maps smaller than the window, M and B > 1.
 * `test_lcn --dump DIR` writes inputs and outputs as .npy for tests/oracle/lcn_head.py instead. */
#include <limits.h>

#include "src/common.h"
#include "src/ops.h"
#include "src/tile.h"
#include "tests/testutil.h"

/* Finite differences: a 4-point central stencil with step LCN_FD_STEP on inputs that are multiples of
 * 2^-12 (so x +- h, x +- 2h are exact floats); J = sum dout * out accumulated in double. The remaining
 * error is float rounding of out (about 1e-7 relative) divided by the step. */
#define LCN_FD_STEP (1.0 / 64)
#define LCN_FWD_TOL 1e-6      /* normwise relative, forward vs the formulas evaluated literally in double */
#define LCN_FD_TOL 1e-4       /* normwise relative, dx analytic vs finite differences */
#define LCN_TILE_BWD_TOL 1e-6 /* tiles' dx summed in float vs the whole map's */

typedef struct {
    const char *name;
    int B, M, H, W, n;
    float sigma, eps;
} lcn_case;

static const lcn_case cases[] = {
    {"b2m3h5w7n3", 2, 3, 5, 7, 3, 1.0f, 0.01f},
    {"b1m2h6w4n5", 1, 2, 6, 4, 5, 1.5f, 0.1f},
    {"b3m1h2w3n5", 3, 1, 2, 3, 5, 2.0f, 0.05f},  /* n > H and n > W, M = 1 */
    {"b2m4h4w9n7", 2, 4, 4, 9, 7, 1.2f, 0.01f},  /* n > H */
    {"b2m2h7w5n1", 2, 2, 7, 5, 1, 1.0f, 0.1f},   /* n = 1: mean over maps only */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static lcn_dims whole_dims(const lcn_case *c)
{
    lcn_dims d = {c->B, c->M, c->H, c->W, 0, 0, c->H, c->W, 0, 0, c->H, c->W, c->n, c->sigma, c->eps};
    return d;
}

static size_t map_count(const lcn_case *c) { return (size_t)c->B * c->H * c->W * c->M; }

static double objective(const lcn_dims *d, const float *x, const float *dout, float *out, size_t n)
{
    if (lcn_forward_ref(d, x, out) != CN_OK)
        return NAN;
    double j = 0;
    for (size_t i = 0; i < n; i++)
        j += (double)dout[i] * (double)out[i];
    return j;
}

static void dump(const lcn_case *c, const char *what, const float *a)
{
    int shape[4] = {c->B, c->H, c->W, c->M};
    tu_dump(a, "<f4", shape, 4, "lcn_%s_%s", c->name, what);
}

/* Copy rows [y0, y0+h) cols [x0, x0+w) of a [B, H, W, M] map into a [B, h, w, M] block, or back with add. */
static void block_copy(const lcn_case *c, const float *map, float *blk, int y0, int x0, int h, int w)
{
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < h; i++)
            memcpy(blk + (((size_t)b * h + i) * w) * c->M,
                   map + (((size_t)b * c->H + y0 + i) * c->W + x0) * c->M, (size_t)w * c->M * sizeof(float));
}
static void block_add(const lcn_case *c, float *map, const float *blk, int y0, int x0, int h, int w)
{
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < h; i++)
            for (size_t k = 0; k < (size_t)w * c->M; k++)
                map[(((size_t)b * c->H + y0 + i) * c->W + x0) * c->M + k] += blk[(((size_t)b * h + i) * w) * c->M + k];
}

/* Output and input gradient computed tile by tile over a Py x Px grid, each tile from its own window
 * (or from the whole map as window when whole_window is set). */
static int tiled(const lcn_case *c, const float *x, const float *dout, float *out, float *dx, int Py, int Px,
                 int whole_window)
{
    memset(dx, 0, map_count(c) * sizeof *dx);
    for (int py = 0; py < Py; py++)
        for (int px = 0; px < Px; px++) {
            cn_rect t = tile_rect(c->H, c->W, Py, Px, py, px);
            lcn_dims d = whole_dims(c);
            d.ty0 = t.y0; d.tx0 = t.x0; d.th = rect_rows(t); d.tw = rect_cols(t);
            if (!whole_window)
                lcn_window(c->H, c->W, c->n, d.ty0, d.tx0, d.th, d.tw, &d.wy0, &d.wx0, &d.wh, &d.ww);
            size_t wn = (size_t)c->B * d.wh * d.ww * c->M, tn = (size_t)c->B * d.th * d.tw * c->M;
            float *xw = malloc(wn * sizeof *xw), *dxw = calloc(wn, sizeof *dxw);
            float *ot = malloc(tn * sizeof *ot), *gt = malloc(tn * sizeof *gt);
            block_copy(c, x, xw, d.wy0, d.wx0, d.wh, d.ww);
            block_copy(c, dout, gt, d.ty0, d.tx0, d.th, d.tw);
            int rc = lcn_forward_ref(&d, xw, ot);
            if (rc == CN_OK)
                rc = lcn_backward_ref(&d, xw, gt, dxw);
            if (rc == CN_OK) {
                for (int b = 0; b < c->B; b++) /* outputs are placed, not added */
                    for (int i = 0; i < d.th; i++)
                        memcpy(out + (((size_t)b * c->H + d.ty0 + i) * c->W + d.tx0) * c->M,
                               ot + (((size_t)b * d.th + i) * d.tw) * c->M, (size_t)d.tw * c->M * sizeof(float));
                block_add(c, dx, dxw, d.wy0, d.wx0, d.wh, d.ww);
            } else {
                printf("# %s\n", cn_last_error());
            }
            free(xw); free(dxw); free(ot); free(gt);
            if (rc != CN_OK)
                return rc;
        }
    return CN_OK;
}

/* MODEL.md's forward formulas written out literally, in double: g(a, c) from its definition (not
 * separated), N(i, j) by testing every offset, mu and s2 recomputed at every position they are used. */
static void naive_forward(const lcn_case *c, const float *x, float *out)
{
    int H = c->H, W = c->W, M = c->M, h = (c->n - 1) / 2;
    double sig2 = (double)c->sigma * c->sigma;
#define X(b, i, j, k) ((double)x[(((size_t)(b) * H + (i)) * W + (j)) * M + (k)])
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double s2 = 0, z = 0, mu0 = 0;
                for (int a = -h; a <= h; a++)
                    for (int cc = -h; cc <= h; cc++) {
                        int u = i + a, w = j + cc;
                        if (u < 0 || u >= H || w < 0 || w >= W)
                            continue;
                        double g = exp(-(a * a + cc * cc) / (2 * sig2));
                        z += M * g;
                        /* mu at the neighbour (u, w), from its own truncated window */
                        double mz = 0, mu = 0;
                        for (int a2 = -h; a2 <= h; a2++)
                            for (int c2 = -h; c2 <= h; c2++) {
                                if (u + a2 < 0 || u + a2 >= H || w + c2 < 0 || w + c2 >= W)
                                    continue;
                                double g2 = exp(-(a2 * a2 + c2 * c2) / (2 * sig2));
                                mz += M * g2;
                                for (int k = 0; k < M; k++)
                                    mu += g2 * X(b, u + a2, w + c2, k);
                            }
                        mu /= mz;
                        if (a == 0 && cc == 0)
                            mu0 = mu;
                        for (int k = 0; k < M; k++)
                            s2 += g * (X(b, u, w, k) - mu) * (X(b, u, w, k) - mu);
                    }
                s2 /= z;
                for (int k = 0; k < M; k++)
                    out[(((size_t)b * H + i) * W + j) * M + k] = (float)((X(b, i, j, k) - mu0) / sqrt(c->eps + s2));
            }
#undef X
}

/* The checks of one case, given the whole-map output and gradient and the 2 x 3 tiled ones. */
static void check_case(const lcn_case *c, const lcn_dims *dp, float *x, const float *dout, const float *out,
                       const float *dx, float *out_t, float *dx_t, int trc)
{
    char name[160];
    size_t n = map_count(c);
    lcn_dims d = *dp;
    float *scratch = malloc(n * sizeof *scratch);
    /* forward against the literal formulas */
    naive_forward(c, x, scratch);
    snprintf(name, sizeof name, "lcn_forward_vs_formula_%s", c->name);
    printf("# %s: relative error %.2e (tolerance %.0e)\n", name, tu_relerr(out, scratch, n), LCN_FWD_TOL);
    tu_close(name, out, scratch, n, LCN_FWD_TOL);
    /* gradient against finite differences of the forward pass */
    float *fd = calloc(n, sizeof *fd);
    const double h = LCN_FD_STEP;
    for (size_t e = 0; e < n; e++) {
        float x0 = x[e];
        double jp[2], jm[2];
        for (int s = 1; s <= 2; s++) {
            x[e] = (float)(x0 + s * h);
            jp[s - 1] = objective(&d, x, dout, scratch, n);
            x[e] = (float)(x0 - s * h);
            jm[s - 1] = objective(&d, x, dout, scratch, n);
        }
        x[e] = x0;
        fd[e] = (float)((8.0 * (jp[0] - jm[0]) - (jp[1] - jm[1])) / (12.0 * h));
    }
    snprintf(name, sizeof name, "lcn_grad_fd_%s", c->name);
    printf("# %s: relative error %.2e (tolerance %.0e)\n", name, tu_relerr(dx, fd, n), LCN_FD_TOL);
    tu_close(name, dx, fd, n, LCN_FD_TOL);
    free(fd);

    /* tiles: forward exactly equal, backward summed equal */
    for (int ww = 0; ww < 2; ww++) {
        if (ww)
            trc = tiled(c, x, dout, out_t, dx_t, 2, 3, 1);
        size_t diff = 0;
        double maxd = 0;
        for (size_t e = 0; e < n; e++)
            if (out_t[e] != out[e] || trc != CN_OK) {
                diff++;
                maxd = fmax(maxd, fabs((double)out_t[e] - out[e]));
            }
        snprintf(name, sizeof name, "lcn_tiles2x3_forward%s_%s", ww ? "_wholewindow" : "", c->name);
        if (diff == 0)
            tu_ok(name);
        else
            tu_fail(name, "%zu of %zu outputs differ from the whole map (max |diff| %.3e, rc %d)", diff, n, maxd,
                    trc);
        snprintf(name, sizeof name, "lcn_tiles2x3_backward%s_%s", ww ? "_wholewindow" : "", c->name);
        printf("# %s: relative error %.2e\n", name, tu_relerr(dx_t, dx, n));
        tu_close(name, dx_t, dx, n, trc == CN_OK ? LCN_TILE_BWD_TOL : -1.0);
    }

    /* backward adds into dx: a second call doubles it */
    float *dx2 = malloc(n * sizeof *dx2), *dx2ref = malloc(n * sizeof *dx2ref);
    memcpy(dx2, dx, n * sizeof *dx2);
    lcn_backward_ref(&d, x, dout, dx2);
    for (size_t e = 0; e < n; e++)
        dx2ref[e] = 2 * dx[e];
    snprintf(name, sizeof name, "lcn_backward_accumulates_%s", c->name);
    tu_close(name, dx2, dx2ref, n, 1e-7);
    free(dx2); free(dx2ref);
    free(scratch);
}

static void run_case(const lcn_case *c)
{
    char name[160];
    size_t n = map_count(c);
    lcn_dims d = whole_dims(c);
    float *x = tu_grid_rand(n, 1.0), *dout = tu_randn(n, 1.0), *out = malloc(n * sizeof *out);
    float *dx = calloc(n, sizeof *dx), *out_t = malloc(n * sizeof *out_t), *dx_t = malloc(n * sizeof *dx_t);
    int rc = lcn_forward_ref(&d, x, out);
    if (rc == CN_OK)
        rc = lcn_backward_ref(&d, x, dout, dx);
    if (rc != CN_OK) {
        snprintf(name, sizeof name, "lcn_run_%s", c->name);
        tu_fail(name, "%s", cn_last_error());
        goto done;
    }
    int trc = tiled(c, x, dout, out_t, dx_t, 2, 3, 0);
    if (tu_dump_dir) {
        dump(c, "x", x); dump(c, "dout", dout); dump(c, "out", out); dump(c, "dx", dx);
        dump(c, "out_tiles", out_t); dump(c, "dx_tiles", dx_t);
        float par[3] = {(float)c->n, c->sigma, c->eps};
        int three = 3;
        tu_dump(par, "<f4", &three, 1, "lcn_%s_par", c->name);
        goto done;
    }

    check_case(c, &d, x, dout, out, dx, out_t, dx_t, trc);
done:
    free(x); free(dout); free(out); free(dx); free(out_t); free(dx_t);
}

/* n = 1: mu is the mean over maps at (i, j), s2 the mean of v^2 there. */
static void test_n1_closed_form(void)
{
    lcn_case c = {"n1", 2, 3, 3, 4, 1, 1.0f, 0.05f};
    lcn_dims d = whole_dims(&c);
    size_t n = map_count(&c);
    float *x = tu_randn(n, 1.0), *out = malloc(n * sizeof *out), *ref = malloc(n * sizeof *ref);
    for (size_t p = 0; p < n; p += 3) {
        double mu = (x[p] + (double)x[p + 1] + x[p + 2]) / 3, s2 = 0;
        for (int k = 0; k < 3; k++)
            s2 += (x[p + k] - mu) * (x[p + k] - mu) / 3;
        for (int k = 0; k < 3; k++)
            ref[p + k] = (float)((x[p + k] - mu) / sqrt(0.05 + s2));
    }
    int rc = lcn_forward_ref(&d, x, out);
    tu_close("lcn_n1_closed_form", out, ref, n, rc == CN_OK ? 1e-6 : -1.0);
    free(x); free(out); free(ref);
}

/* A window far larger than the map (n = INT_MAX) covers the whole map: same as n = 2 max(H, W) + 1. */
static void test_huge_n(void)
{
    lcn_case c = {"huge", 2, 2, 3, 5, 11, 2.0f, 0.1f};
    lcn_dims d = whole_dims(&c);
    size_t n = map_count(&c);
    float *x = tu_randn(n, 1.0), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    int rc = lcn_forward_ref(&d, x, a);
    d.n = INT_MAX;
    rc |= lcn_forward_ref(&d, x, b);
    tu_check("lcn_huge_n", rc == CN_OK && memcmp(a, b, n * sizeof *a) == 0,
             "n = INT_MAX must be accepted and equal a window covering the whole map");
    free(x); free(a); free(b);
}

static void test_window(void)
{
    int y0, x0, h, w;
    lcn_window(10, 9, 3, 4, 3, 2, 2, &y0, &x0, &h, &w);
    int ok = y0 == 2 && h == 6 && x0 == 1 && w == 6;
    lcn_window(10, 9, 5, 0, 7, 3, 2, &y0, &x0, &h, &w); /* clipped at the top and the right */
    ok = ok && y0 == 0 && h == 7 && x0 == 3 && w == 6;
    lcn_window(4, 5, 9, 1, 1, 1, 1, &y0, &x0, &h, &w); /* n larger than the map: the whole map */
    ok = ok && y0 == 0 && h == 4 && x0 == 0 && w == 5;
    tu_check("lcn_window_known", ok, "lcn_window gave a wrong window");
}

/* Each bad dimension set: CN_EINVAL, an error message, and the poisoned outputs untouched. */
static void test_bad_args(void)
{
    enum { NB = 2 * 4 * 5 * 3 };
    float x[NB], out[NB], dx[NB], dout[NB];
    tu_fill(x, NB, 1.0);
    tu_fill(dout, NB, 1.0);
    lcn_case c = {"bad", 2, 3, 4, 5, 3, 1.0f, 0.1f};
    lcn_dims good = whole_dims(&c);
    struct { const char *what; lcn_dims d; const float *x; } bad[24];
    int nb = 0;
#define BAD(WHAT, FIELD, VALUE) do { bad[nb].what = WHAT; bad[nb].d = good; bad[nb].d.FIELD = VALUE; bad[nb].x = x; nb++; } while (0)
    BAD("n_even", n, 4);
    BAD("n_zero", n, 0);
    BAD("n_negative", n, -3);
    BAD("B_zero", B, 0);
    BAD("M_zero", M, 0);
    BAD("H_zero", H, 0);
    BAD("tile_empty", th, 0);
    BAD("window_empty", ww, 0);
    BAD("sigma_zero", sigma, 0.0f);
    BAD("sigma_nan", sigma, NAN);
    BAD("eps_zero", eps, 0.0f);
    BAD("eps_negative", eps, -1.0f);
    BAD("eps_inf", eps, INFINITY);
    BAD("tile_outside_map", ty0, 1);
    BAD("tile_end_overflow", tx0, INT_MAX);
    BAD("window_outside_map", wy0, -1);
    BAD("window_too_small", wh, 3); /* rows [0, 3) of 4: the tile (whole map) needs all 4 */
    bad[nb].what = "window_misses_halo"; bad[nb].d = good; /* tile row 0, window rows [1, 4) */
    bad[nb].d.th = 1; bad[nb].d.wy0 = 1; bad[nb].d.wh = 3; bad[nb].x = x; nb++;
    bad[nb].what = "size_overflow"; bad[nb].d = good; /* B * wh * ww * M * 8 bytes overflows size_t */
    bad[nb].d.B = INT_MAX; bad[nb].d.M = INT_MAX; bad[nb].d.H = bad[nb].d.W = 1 << 16;
    bad[nb].d.wh = bad[nb].d.ww = bad[nb].d.th = bad[nb].d.tw = 1 << 16; bad[nb].x = x; nb++;
    bad[nb].what = "null_input"; bad[nb].d = good; bad[nb].x = NULL; nb++;
#undef BAD
    for (int t = 0; t < nb; t++) {
        char name[96];
        tu_poison(out, NB);
        tu_poison(dx, NB);
        cn_set_error("%s", "");
        int r1 = lcn_forward_ref(&bad[t].d, bad[t].x, out);
        int r2 = lcn_backward_ref(&bad[t].d, bad[t].x, dout, dx);
        int r3 = lcn_check(&bad[t].d);
        int untouched = tu_poison_count(out, NB) == NB && tu_poison_count(dx, NB) == NB;
        snprintf(name, sizeof name, "lcn_bad_%s", bad[t].what);
        if (r1 == CN_EINVAL && r2 == CN_EINVAL && (r3 == CN_EINVAL || !bad[t].x) && untouched &&
            strcmp(cn_last_error(), "no error recorded") != 0)
            tu_ok(name);
        else
            tu_fail(name, "rc %d/%d/%d, outputs %s", r1, r2, r3, untouched ? "untouched" : "WRITTEN");
    }
    /* the same buffers with good arguments are written: the poison check can see a write */
    tu_poison(out, NB);
    int rc = lcn_forward_ref(&good, x, out);
    tu_check("lcn_good_args_write", rc == CN_OK && tu_poison_count(out, NB) == 0,
             "valid call did not write every output");
}

int main(int argc, char **argv)
{
    if (tu_dump_args(argc, argv, "test_lcn"))
        return 2;
    tu_seed(11);
    for (int i = 0; i < NCASES; i++)
        run_case(&cases[i]);
    if (tu_dump_dir)
        return tu_exit();
    test_n1_closed_form();
    test_window();
    test_huge_n();
    test_bad_args();
    return tu_exit();
}
