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


/* The geometry of a call (global coordinates), shared by all samples. */
typedef struct {
    int hy, hx;             /* half-widths clamped to the map */
    int ty0, ty1, tx0, tx1; /* tile T */
    int ry0, ry1, rx0, rx1; /* R = T grown by h, clipped */
    int ny0, ny1, nx0, nx1; /* N = T grown by 2h, clipped: the inputs read */
    int fy0, fx0;           /* frame origin: T grown by 3h, clipped to the map grown by h */
    size_t fh, fw;          /* frame size */
    double *ey, *ex;        /* e(a), a in [-hy, hy] (index a + hy), and e(c) */
    double *zr, *zc;        /* Z = M zr zc, per frame row / column inside the map */
    double *zinv;           /* 1 / Z on the frame (on N; zero elsewhere) */
} lcn_frame;

/* Per-thread arrays, each fh x fw doubles on the frame, zero where not written. */
enum { A_XS, A_H1, A_MU, A_Q, A_H2, A_RINV, A_W2, A_H3, A_DQ, A_W1, A_H4, A_DXS, A_N };

static void frame_init(lcn_frame *f, const lcn_dims *d)
{
    int h = (d->n - 1) / 2;
    f->hy = CN_MIN(h, d->H - 1);
    f->hx = CN_MIN(h, d->W - 1);
    f->ty0 = d->ty0, f->ty1 = d->ty0 + d->th;
    f->tx0 = d->tx0, f->tx1 = d->tx0 + d->tw;
    f->ry0 = CN_MAX(f->ty0 - f->hy, 0), f->ry1 = CN_MIN(f->ty1 + f->hy, d->H);
    f->rx0 = CN_MAX(f->tx0 - f->hx, 0), f->rx1 = CN_MIN(f->tx1 + f->hx, d->W);
    f->ny0 = CN_MAX(f->ty0 - 2 * f->hy, 0), f->ny1 = CN_MIN(f->ty1 + 2 * f->hy, d->H);
    f->nx0 = CN_MAX(f->tx0 - 2 * f->hx, 0), f->nx1 = CN_MIN(f->tx1 + 2 * f->hx, d->W);
    /* the passes read at most h beyond the map, so a huge n (h up to the map size) costs no more than that */
    f->fy0 = CN_MAX(f->ty0 - 3 * f->hy, -f->hy);
    f->fx0 = CN_MAX(f->tx0 - 3 * f->hx, -f->hx);
    f->fh = (size_t)(CN_MIN(f->ty1 + 3 * f->hy, d->H + f->hy) - f->fy0);
    f->fw = (size_t)(CN_MIN(f->tx1 + 3 * f->hx, d->W + f->hx) - f->fx0);
    f->ey = cn_alloc((size_t)(2 * f->hy + 1) + (size_t)(2 * f->hx + 1) + f->fh + f->fw, sizeof(double));
    f->ex = f->ey + 2 * f->hy + 1;
    f->zr = f->ex + 2 * f->hx + 1;
    f->zc = f->zr + f->fh;
    double s2 = 2.0 * (double)d->sigma * (double)d->sigma;
    for (int a = -f->hy; a <= f->hy; a++)
        f->ey[a + f->hy] = exp(-(double)a * a / s2);
    for (int c = -f->hx; c <= f->hx; c++)
        f->ex[c + f->hx] = exp(-(double)c * c / s2);
    for (int i = f->ny0; i < f->ny1; i++)
        f->zr[i - f->fy0] = lcn_edge_sum(f->ey, f->hy, i, d->H);
    for (int j = f->nx0; j < f->nx1; j++)
        f->zc[j - f->fx0] = lcn_edge_sum(f->ex, f->hx, j, d->W);
    f->zinv = cn_alloc(f->fh * f->fw, sizeof(double));
    for (int i = f->ny0; i < f->ny1; i++)
        for (int j = f->nx0; j < f->nx1; j++)
            f->zinv[(size_t)(i - f->fy0) * f->fw + (size_t)(j - f->fx0)] =
                1.0 / ((double)d->M * f->zr[i - f->fy0] * f->zc[j - f->fx0]);
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
        window_sum(dst + fat(f, i, j0), src + fat(f, i, j0 - f->hx), 1, f->ex, 2 * f->hx + 1, j1 - j0);
}

/* Column pass: dst[i, j] = sum_{a=-h..h} e[a + h] src[i + a, j], then times 1 / Z(i, j) when div. */
static inline __attribute__((always_inline)) void col_pass(const lcn_frame *f, double *dst,
                                                          const double *src, int i0, int i1, int j0, int j1,
                                                          int div)
{
    const int n = j1 - j0;
    for (int i = i0; i < i1; i++) {
        double *o = dst + fat(f, i, j0);
        window_sum(o, src + fat(f, i - f->hy, j0), f->fw, f->ey, 2 * f->hy + 1, n);
        if (div) {
            const double *zi = f->zinv + fat(f, i, j0);
#pragma omp simd
            for (int j = 0; j < n; j++)
                o[j] *= zi[j];
        }
    }
}

/* x[b, i, j, 0..M) for global (i, j), from the sample's window. */
static inline const float *xat(const lcn_dims *d, const float *xb, int i, int j)
{
    return xb + ((size_t)(i - d->wy0) * (size_t)d->ww + (size_t)(j - d->wx0)) * (size_t)d->M;
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
    for (int u = f->ny0; u < f->ny1; u++) {
        double *xs = A[A_XS] + fat(f, u, f->nx0);
        for (int w = f->nx0; w < f->nx1; w++) {
            const float *px = xat(d, xb, u, w);
            xs[w - f->nx0] = sum_x(px, M);
        }
    }
    row_pass(f, A[A_H1], A[A_XS], f->ny0, f->ny1, f->rx0, f->rx1);
    col_pass(f, A[A_MU], A[A_H1], f->ry0, f->ry1, f->rx0, f->rx1, 1);
    for (int p = f->ry0; p < f->ry1; p++) {
        const double *mu = A[A_MU] + fat(f, p, f->rx0);
        double *q = A[A_Q] + fat(f, p, f->rx0);
        for (int l = f->rx0; l < f->rx1; l++) {
            const float *px = xat(d, xb, p, l);
            const double m0 = mu[l - f->rx0];
            q[l - f->rx0] = sum_sq(px, m0, M);
        }
    }
    row_pass(f, A[A_H2], A[A_Q], f->ry0, f->ry1, f->tx0, f->tx1);
    col_pass(f, A[A_RINV], A[A_H2], f->ty0, f->ty1, f->tx0, f->tx1, 1);
    const double eps = (double)d->eps;
    for (int i = f->ty0; i < f->ty1; i++) {
        double *r = A[A_RINV] + fat(f, i, f->tx0);
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
    for (int i = f->ty0; i < f->ty1; i++)
        for (int j = f->tx0; j < f->tx1; j++) {
            const double mu = A[A_MU][fat(f, i, j)], r = A[A_RINV][fat(f, i, j)];
            const float *px = xat(d, xb, i, j);
            float *po = ob + ((size_t)(i - f->ty0) * (size_t)d->tw + (size_t)(j - f->tx0)) * (size_t)M;
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

static int lcn_cpu_args(const lcn_dims *d, const void *a, const void *b, const void *c)
{
    if (lcn_check(d) != CN_OK)
        return CN_EINVAL;
    if (!a || !b || !c)
        return cn_set_error("lcn: NULL array");
    return CN_OK;
}

int lcn_forward_cpu(const lcn_dims *d, const float *x, float *out)
{
    if (lcn_cpu_args(d, x, out, out) != CN_OK)
        return CN_EINVAL;
    lcn_frame f;
    frame_init(&f, d);
    const int M = d->M;
    const size_t xstride = (size_t)d->wh * (size_t)d->ww * (size_t)M;
    const size_t ostride = (size_t)d->th * (size_t)d->tw * (size_t)M;
#pragma omp parallel
    {
        double *A[A_N];
        double *block = arrays_alloc(&f, A);
#pragma omp for schedule(static)
        for (int b = 0; b < d->B; b++) {
            forward_out(&f, d, A, x + (size_t)b * xstride, out + (size_t)b * ostride);
        }
        cn_free(block);
    }
    cn_free(f.ey);
    cn_free(f.zinv);
    return CN_OK;
}

/* Back-propagation of one sample, the steps of lcn_backward_ref with its names (w2 = dJ/ds2 / Z on T,
 * dq on R, w1 = dJ/dmu / Z on R, dxs on N), each window sum as a row pass and a column pass. */
CN_CPU_CLONES static void backward_sample(const lcn_frame *f, const lcn_dims *d, double *const *A, const float *xb,
                            const float *gb, float *dxb)
{
    const int M = d->M;
    forward_sample(f, d, A, xb);
    for (int i = f->ty0; i < f->ty1; i++)
        for (int j = f->tx0; j < f->tx1; j++) {
            const size_t fi = fat(f, i, j);
            const double mu = A[A_MU][fi], r = A[A_RINV][fi];
            const float *px = xat(d, xb, i, j);
            const float *pg = gb + ((size_t)(i - f->ty0) * (size_t)d->tw + (size_t)(j - f->tx0)) * (size_t)M;
            const double s = sum_dot(px, mu, pg, M);
            A[A_W2][fi] = -0.5 * r * r * r * s * f->zinv[fi];
        }
    row_pass(f, A[A_H3], A[A_W2], f->ty0, f->ty1, f->rx0, f->rx1);
    col_pass(f, A[A_DQ], A[A_H3], f->ry0, f->ry1, f->rx0, f->rx1, 0);
    for (int p = f->ry0; p < f->ry1; p++)
        for (int l = f->rx0; l < f->rx1; l++) {
            const size_t fi = fat(f, p, l);
            const double mu = A[A_MU][fi], dq2 = 2.0 * A[A_DQ][fi];
            const float *px = xat(d, xb, p, l);
            const int in_t = p >= f->ty0 && p < f->ty1 && l >= f->tx0 && l < f->tx1;
            const float *pg =
                in_t ? gb + ((size_t)(p - f->ty0) * (size_t)d->tw + (size_t)(l - f->tx0)) * (size_t)M : NULL;
            const double s = sum_lin(px, mu, dq2, pg, in_t ? A[A_RINV][fi] : 0.0, M);
            A[A_W1][fi] = -s * f->zinv[fi];
        }
    row_pass(f, A[A_H4], A[A_W1], f->ry0, f->ry1, f->nx0, f->nx1);
    col_pass(f, A[A_DXS], A[A_H4], f->ny0, f->ny1, f->nx0, f->nx1, 0);
    /* dx += dxs (every input read) + 2 v dq (R) + dout rinv (T), one float addition per element */
    for (int u = f->ny0; u < f->ny1; u++)
        for (int w = f->nx0; w < f->nx1; w++) {
            const size_t fi = fat(f, u, w);
            const double base = A[A_DXS][fi];
            const float *px = xat(d, xb, u, w);
            float *pd = dxb + (px - xb);
            const int in_r = u >= f->ry0 && u < f->ry1 && w >= f->rx0 && w < f->rx1;
            const int in_t = u >= f->ty0 && u < f->ty1 && w >= f->tx0 && w < f->tx1;
            if (in_t) {
                const double mu = A[A_MU][fi], dq2 = 2.0 * A[A_DQ][fi], r = A[A_RINV][fi];
                const float *pg = gb + ((size_t)(u - f->ty0) * (size_t)d->tw + (size_t)(w - f->tx0)) * (size_t)M;
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

int lcn_backward_cpu(const lcn_dims *d, const float *x, const float *dout, float *dx)
{
    if (lcn_cpu_args(d, x, dout, dx) != CN_OK)
        return CN_EINVAL;
    lcn_frame f;
    frame_init(&f, d);
    const size_t xstride = (size_t)d->wh * (size_t)d->ww * (size_t)d->M;
    const size_t ostride = (size_t)d->th * (size_t)d->tw * (size_t)d->M;
#pragma omp parallel
    {
        double *A[A_N];
        double *block = arrays_alloc(&f, A);
#pragma omp for schedule(static)
        for (int b = 0; b < d->B; b++)
            backward_sample(&f, d, A, x + (size_t)b * xstride, dout + (size_t)b * ostride,
                            dx + (size_t)b * xstride);
        cn_free(block);
    }
    cn_free(f.ey);
    cn_free(f.zinv);
    return CN_OK;
}
