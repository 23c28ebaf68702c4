/* lcn_cpu.c: the fast CPU local contrast normalization (src/ops_cpu.h); the reference is src/lcn_ref.c,
 * whose comments and docs/MODEL.md give the formulas and the three nested rectangles T in R in N.
 *
 * What differs from the reference:
 *  - every Gaussian window sum is separable, g(a,c) = e(a) e(c): a row pass
 *    h[i, j] = sum_c e(c) f[i, j + c], then a column pass s[i, j] = sum_a e(a) h[i + a, j], so 2n
 *    multiply-adds per element instead of n^2. The terms are those of the reference, summed in the same
 *    order (c inner, a outer, both ascending), in double; then multiplied by 1/Z, computed once per call,
 *    where the reference divides by Z;
 *  - the border is handled by zeros instead of clipped loops: every per-sample array lives on one frame,
 *    the tile grown by 3h on every side (clipped to the map grown by h), and is zero wherever it is not defined
 *    (outside the map, or outside the rectangle the quantity lives on). Adding zero terms changes no sum,
 *    and the passes become plain loops along a row, blocks of 8 columns summed in registers (vectors);
 *  - the sums over the M maps of one pixel (sum x, sum (x - mu)^2, ...) run in four interleaved lanes,
 *    which reorders them: results agree with the reference within double rounding (then rounded to float);
 *  - samples run in parallel (OpenMP), each on one thread with its own frame arrays, so a result never
 *    depends on the thread count;
 *  - the per-sample kernels are compiled for AVX2 and for any x86-64 (CN_CPU_CLONES, src/ops_cpu.h). */
#include "src/ops_cpu.h"

#include <math.h>

#include "src/common.h"
#include "src/lcn_geom.h"


/* The geometry of a call (global coordinates), shared by all samples. */
typedef struct {
    lcn_rects r;            /* T, R, N (src/lcn_geom.h) */
    int fy0, fx0;           /* frame origin: T grown by 3h, clipped to the map grown by h */
    size_t fh, fw;          /* frame size */
    double *ey, *ex;        /* e(a), a in [-hy, hy] (index a + hy), and e(c) */
    double *zr, *zc;        /* Z = M zr zc, per frame row / column inside the map */
    double *zinv;           /* 1 / Z on the frame (on N; zero elsewhere) */
} lcn_frame;

/* Per-thread arrays, each fh x fw doubles on the frame, zero where not written. */
enum { A_XS, A_H1, A_MU, A_Q, A_H2, A_RINV, A_W2, A_H3, A_DQ, A_W1, A_H4, A_DXS, A_N };

/* The rectangles, checked (lcn_rects_init), the frame and the Gaussian's tables. */
static int frame_init(lcn_frame *f, const lcn_dims *d, const void *a, const void *b, const void *c)
{
    if (lcn_rects_init(&f->r, d, a, b, c) != CN_OK)
        return CN_EINVAL;
    const lcn_rects *r = &f->r;
    /* the passes read at most h beyond the map, so a huge n (h up to the map size) costs no more than that */
    f->fy0 = CN_MAX(r->ty0 - 3 * r->hy, -r->hy);
    f->fx0 = CN_MAX(r->tx0 - 3 * r->hx, -r->hx);
    f->fh = (size_t)(CN_MIN(r->ty1 + 3 * r->hy, d->H + r->hy) - f->fy0);
    f->fw = (size_t)(CN_MIN(r->tx1 + 3 * r->hx, d->W + r->hx) - f->fx0);
    f->ey = cn_alloc((size_t)(2 * r->hy + 1) + (size_t)(2 * r->hx + 1) + f->fh + f->fw, sizeof(double));
    f->ex = f->ey + 2 * r->hy + 1;
    f->zr = f->ex + 2 * r->hx + 1;
    f->zc = f->zr + f->fh;
    lcn_gauss(f->ey, r->hy, d->sigma);
    lcn_gauss(f->ex, r->hx, d->sigma);
    lcn_edge_sums(f->zr + (r->ny0 - f->fy0), f->ey, r->hy, r->ny0, r->ny1, d->H);
    lcn_edge_sums(f->zc + (r->nx0 - f->fx0), f->ex, r->hx, r->nx0, r->nx1, d->W);
    f->zinv = cn_alloc(f->fh * f->fw, sizeof(double));
    for (int i = r->ny0; i < r->ny1; i++)
        for (int j = r->nx0; j < r->nx1; j++)
            f->zinv[(size_t)(i - f->fy0) * f->fw + (size_t)(j - f->fx0)] =
                1.0 / ((double)d->M * f->zr[i - f->fy0] * f->zc[j - f->fx0]);
    return CN_OK;
}

/* Frame offset of global (i, j). */
static inline size_t fat(const lcn_frame *f, int i, int j)
{
    return (size_t)(i - f->fy0) * f->fw + (size_t)(j - f->fx0);
}

/* o[j] = sum_{c<w} e[c] s[j + c * stride] for j < n: each o[j] summed over c in order. Blocks of 8 j
 * keep their sums in registers (vectors along j); the last block is shifted back to end at n, so that
 * some columns are computed twice, the same way, giving the same value. */
static inline __attribute__((always_inline)) void window_sum(double *o, const double *s, size_t stride,
                                                            const double *e, int w, int n)
{
    int j = 0;
    for (int last = 0; n >= 8 && !last; j += 8) {
        if (j + 8 >= n)
            j = n - 8, last = 1;
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int c = 0; c < w; c++) {
            const double ec = e[c], *sc = s + (size_t)c * stride + j;
#pragma omp simd
            for (int l = 0; l < 8; l++)
                acc[l] += ec * sc[l];
        }
#pragma omp simd
        for (int l = 0; l < 8; l++)
            o[j + l] = acc[l];
    }
    for (j = n >= 8 ? n : 0; j < n; j++) {
        double acc = 0.0;
        for (int c = 0; c < w; c++)
            acc += e[c] * s[(size_t)c * stride + j];
        o[j] = acc;
    }
}

/* Row pass: dst[i, j] = sum_{c=-h..h} e[c + h] src[i, j + c] for rows [i0, i1), columns [j0, j1). */
static inline __attribute__((always_inline)) void row_pass(const lcn_frame *f, double *dst, const double *src,
                                                          int i0, int i1, int j0, int j1)
{
    for (int i = i0; i < i1; i++)
        window_sum(dst + fat(f, i, j0), src + fat(f, i, j0 - f->r.hx), 1, f->ex, 2 * f->r.hx + 1, j1 - j0);
}

/* Column pass: dst[i, j] = sum_{a=-h..h} e[a + h] src[i + a, j], then times 1 / Z(i, j) when div. */
static inline __attribute__((always_inline)) void col_pass(const lcn_frame *f, double *dst,
                                                          const double *src, int i0, int i1, int j0, int j1,
                                                          int div)
{
    const int n = j1 - j0;
    for (int i = i0; i < i1; i++) {
        double *o = dst + fat(f, i, j0);
        window_sum(o, src + fat(f, i - f->r.hy, j0), f->fw, f->ey, 2 * f->r.hy + 1, n);
        if (div) {
            const double *zi = f->zinv + fat(f, i, j0);
#pragma omp simd
            for (int j = 0; j < n; j++)
                o[j] *= zi[j];
        }
    }
}

/* Sums over the M maps of one pixel, in four interleaved partial sums (lane k mod 4, combined as
 * (l0 + l1) + (l2 + l3)): short independent chains that the compiler packs into one vector. The order is
 * fixed, the same for every call and thread count. */
static inline __attribute__((always_inline)) double lanes_sum(const double a[4])
{
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* sum_k x[k] */
static inline __attribute__((always_inline)) double sum_x(const float *x, int M)
{
    double a[4] = {0, 0, 0, 0};
    int k = 0;
    for (; k + 4 <= M; k += 4)
        a[0] += x[k], a[1] += x[k + 1], a[2] += x[k + 2], a[3] += x[k + 3];
    for (; k < M; k++)
        a[0] += x[k];
    return lanes_sum(a);
}

/* sum_k (x[k] - mu)^2 */
static inline __attribute__((always_inline)) double sum_sq(const float *x, double mu, int M)
{
    double a[4] = {0, 0, 0, 0};
    int k = 0;
    for (; k + 4 <= M; k += 4)
        for (int l = 0; l < 4; l++) {
            const double v = (double)x[k + l] - mu;
            a[l] += v * v;
        }
    for (; k < M; k++) {
        const double v = (double)x[k] - mu;
        a[0] += v * v;
    }
    return lanes_sum(a);
}

/* sum_k g[k] (x[k] - mu) */
static inline __attribute__((always_inline)) double sum_dot(const float *x, double mu, const float *g, int M)
{
    double a[4] = {0, 0, 0, 0};
    int k = 0;
    for (; k + 4 <= M; k += 4)
        for (int l = 0; l < 4; l++)
            a[l] += (double)g[k + l] * ((double)x[k + l] - mu);
    for (; k < M; k++)
        a[0] += (double)g[k] * ((double)x[k] - mu);
    return lanes_sum(a);
}

/* sum_k (x[k] - mu) * c + g[k] * r, the g term only when g is given */
static inline __attribute__((always_inline)) double sum_lin(const float *x, double mu, double c, const float *g,
                                                            double r, int M)
{
    double a[4] = {0, 0, 0, 0};
    int k = 0;
    if (g) {
        for (; k + 4 <= M; k += 4)
            for (int l = 0; l < 4; l++)
                a[l] += ((double)x[k + l] - mu) * c + (double)g[k + l] * r;
        for (; k < M; k++)
            a[0] += ((double)x[k] - mu) * c + (double)g[k] * r;
    } else {
        for (; k + 4 <= M; k += 4)
            for (int l = 0; l < 4; l++)
                a[l] += ((double)x[k + l] - mu) * c;
        for (; k < M; k++)
            a[0] += ((double)x[k] - mu) * c;
    }
    return lanes_sum(a);
}

/* The forward quantities of one sample: xs on N, mu and q on R, rinv on T. */
static inline __attribute__((always_inline)) void forward_sample(const lcn_frame *f, const lcn_dims *d,
                                                                double *const *A, const float *xb)
{
    const int M = d->M;
    for (int u = f->r.ny0; u < f->r.ny1; u++) {
        double *xs = A[A_XS] + fat(f, u, f->r.nx0);
        for (int w = f->r.nx0; w < f->r.nx1; w++) {
            const float *px = lcn_xat(d, xb, u, w);
            xs[w - f->r.nx0] = sum_x(px, M);
        }
    }
    row_pass(f, A[A_H1], A[A_XS], f->r.ny0, f->r.ny1, f->r.rx0, f->r.rx1);
    col_pass(f, A[A_MU], A[A_H1], f->r.ry0, f->r.ry1, f->r.rx0, f->r.rx1, 1);
    for (int p = f->r.ry0; p < f->r.ry1; p++) {
        const double *mu = A[A_MU] + fat(f, p, f->r.rx0);
        double *q = A[A_Q] + fat(f, p, f->r.rx0);
        for (int l = f->r.rx0; l < f->r.rx1; l++) {
            const float *px = lcn_xat(d, xb, p, l);
            const double m0 = mu[l - f->r.rx0];
            q[l - f->r.rx0] = sum_sq(px, m0, M);
        }
    }
    row_pass(f, A[A_H2], A[A_Q], f->r.ry0, f->r.ry1, f->r.tx0, f->r.tx1);
    col_pass(f, A[A_RINV], A[A_H2], f->r.ty0, f->r.ty1, f->r.tx0, f->r.tx1, 1);
    const double eps = (double)d->eps;
    for (int i = f->r.ty0; i < f->r.ty1; i++) {
        double *r = A[A_RINV] + fat(f, i, f->r.tx0);
#pragma omp simd
        for (int j = 0; j < d->tw; j++)
            r[j] = 1.0 / sqrt(eps + r[j]);
    }
}

/* One sample's output: out = (x - mu) rinv on the tile. */
CN_CPU_CLONES static void forward_out(const lcn_frame *f, const lcn_dims *d, double *const *A, const float *xb,
                                   float *ob)
{
    const int M = d->M;
    forward_sample(f, d, A, xb);
    for (int i = f->r.ty0; i < f->r.ty1; i++)
        for (int j = f->r.tx0; j < f->r.tx1; j++) {
            const double mu = A[A_MU][fat(f, i, j)], r = A[A_RINV][fat(f, i, j)];
            const float *px = lcn_xat(d, xb, i, j);
            float *po = ob + ((size_t)(i - f->r.ty0) * (size_t)d->tw + (size_t)(j - f->r.tx0)) * (size_t)M;
#pragma omp simd
            for (int k = 0; k < M; k++)
                po[k] = (float)(((double)px[k] - mu) * r);
        }
}

/* Per-thread frame arrays, zeroed (cn_alloc zeroes). */
static double *arrays_alloc(const lcn_frame *f, double **A)
{
    double *block = cn_alloc((size_t)A_N * f->fh * f->fw, sizeof(double));
    for (int k = 0; k < A_N; k++)
        A[k] = block + (size_t)k * f->fh * f->fw;
    return block;
}

/* Back-propagation of one sample, the steps of lcn_backward_ref with its names (w2 = dJ/ds2 / Z on T,
 * dq on R, w1 = dJ/dmu / Z on R, dxs on N), each window sum as a row pass and a column pass. */
CN_CPU_CLONES static void backward_sample(const lcn_frame *f, const lcn_dims *d, double *const *A, const float *xb,
                            const float *gb, float *dxb)
{
    const int M = d->M;
    forward_sample(f, d, A, xb);
    for (int i = f->r.ty0; i < f->r.ty1; i++)
        for (int j = f->r.tx0; j < f->r.tx1; j++) {
            const size_t fi = fat(f, i, j);
            const double mu = A[A_MU][fi], r = A[A_RINV][fi];
            const float *px = lcn_xat(d, xb, i, j);
            const float *pg = gb + ((size_t)(i - f->r.ty0) * (size_t)d->tw + (size_t)(j - f->r.tx0)) * (size_t)M;
            const double s = sum_dot(px, mu, pg, M);
            A[A_W2][fi] = -0.5 * r * r * r * s * f->zinv[fi];
        }
    row_pass(f, A[A_H3], A[A_W2], f->r.ty0, f->r.ty1, f->r.rx0, f->r.rx1);
    col_pass(f, A[A_DQ], A[A_H3], f->r.ry0, f->r.ry1, f->r.rx0, f->r.rx1, 0);
    for (int p = f->r.ry0; p < f->r.ry1; p++)
        for (int l = f->r.rx0; l < f->r.rx1; l++) {
            const size_t fi = fat(f, p, l);
            const double mu = A[A_MU][fi], dq2 = 2.0 * A[A_DQ][fi];
            const float *px = lcn_xat(d, xb, p, l);
            const int in_t = p >= f->r.ty0 && p < f->r.ty1 && l >= f->r.tx0 && l < f->r.tx1;
            const float *pg =
                in_t ? gb + ((size_t)(p - f->r.ty0) * (size_t)d->tw + (size_t)(l - f->r.tx0)) * (size_t)M : NULL;
            const double s = sum_lin(px, mu, dq2, pg, in_t ? A[A_RINV][fi] : 0.0, M);
            A[A_W1][fi] = -s * f->zinv[fi];
        }
    row_pass(f, A[A_H4], A[A_W1], f->r.ry0, f->r.ry1, f->r.nx0, f->r.nx1);
    col_pass(f, A[A_DXS], A[A_H4], f->r.ny0, f->r.ny1, f->r.nx0, f->r.nx1, 0);
    /* dx += dxs (every input read) + 2 v dq (R) + dout rinv (T), one float addition per element */
    for (int u = f->r.ny0; u < f->r.ny1; u++)
        for (int w = f->r.nx0; w < f->r.nx1; w++) {
            const size_t fi = fat(f, u, w);
            const double base = A[A_DXS][fi];
            const float *px = lcn_xat(d, xb, u, w);
            float *pd = dxb + (px - xb);
            const int in_r = u >= f->r.ry0 && u < f->r.ry1 && w >= f->r.rx0 && w < f->r.rx1;
            const int in_t = u >= f->r.ty0 && u < f->r.ty1 && w >= f->r.tx0 && w < f->r.tx1;
            if (in_t) {
                const double mu = A[A_MU][fi], dq2 = 2.0 * A[A_DQ][fi], r = A[A_RINV][fi];
                const float *pg = gb + ((size_t)(u - f->r.ty0) * (size_t)d->tw + (size_t)(w - f->r.tx0)) * (size_t)M;
#pragma omp simd
                for (int k = 0; k < M; k++)
                    pd[k] += (float)(base + ((double)px[k] - mu) * dq2 + (double)pg[k] * r);
            } else if (in_r) {
                const double mu = A[A_MU][fi], dq2 = 2.0 * A[A_DQ][fi];
#pragma omp simd
                for (int k = 0; k < M; k++)
                    pd[k] += (float)(base + ((double)px[k] - mu) * dq2);
            } else {
#pragma omp simd
                for (int k = 0; k < M; k++)
                    pd[k] += (float)base;
            }
        }
}

/* Every sample, in parallel, each thread on its own frame arrays: the forward pass (y = out) or the
 * backward pass (y = dx). */
static int lcn_cpu_run(const lcn_dims *d, const float *x, const float *dout, float *y, int backward)
{
    lcn_frame f;
    if (frame_init(&f, d, x, backward ? dout : y, y) != CN_OK)
        return CN_EINVAL;
    const size_t xstride = f.r.xstride, ostride = f.r.ostride;
#pragma omp parallel
    {
        double *A[A_N];
        double *block = arrays_alloc(&f, A);
#pragma omp for schedule(static)
        for (int b = 0; b < d->B; b++) {
            if (backward)
                backward_sample(&f, d, A, x + (size_t)b * xstride, dout + (size_t)b * ostride,
                                y + (size_t)b * xstride);
            else
                forward_out(&f, d, A, x + (size_t)b * xstride, y + (size_t)b * ostride);
        }
        cn_free(block);
    }
    cn_free(f.ey);
    cn_free(f.zinv);
    return CN_OK;
}

int lcn_forward_cpu(const lcn_dims *d, const float *x, float *out) { return lcn_cpu_run(d, x, NULL, out, 0); }

int lcn_backward_cpu(const lcn_dims *d, const float *x, const float *dout, float *dx)
{
    return lcn_cpu_run(d, x, dout, dx, 1);
}
