/* pool_cpu.c: the fast CPU L2 pooling (src/ops_cpu.h); the reference is src/pool_ref.c.
 *
 * The window sum is separable: for output row i, first the column sums of squares over the q input rows,
 *   cs[c, m] = sum_{u<q} y[b, i t + u, c, m]^2      (one contiguous run of (columns x maps) floats),
 * then p[b,i,j,m] = sqrt(eps + sum_{v<q} cs[j t + v, m]): q (Wy + Wp) M additions per output row instead
 * of q^2 Wp M. The backward pass gathers: with g = dp / p,
 *   G[a, c, m] = sum_{i covering a} gc[i, c, m],   gc[i, c, m] = sum_{j covering c} g[b,i,j,m],
 *   dy[b, a, c, m] += G[a, c, m] * y[b, a, c, m],
 * so each input element is written once (no two threads write the same element, whatever t and q), and
 * only the elements some window of the region reads are touched. Loops run along the contiguous
 * (columns x maps) or maps dimension; `omp simd` lets the compiler vectorise them (-O2 alone would not).
 * Every sum runs in float in a fixed order that does not depend on the thread count; the order differs
 * from the reference's, so results agree with it within float rounding, not bit for bit. Threads split
 * the (sample, output row) pairs (forward) or the samples (backward). The per-row and per-sample kernels
 * are compiled for AVX2 and for any x86-64 (CN_CPU_CLONES, src/ops_cpu.h). */
#include "src/ops_cpu.h"

#include <math.h>
#include <string.h>

#include "src/common.h"

static int region_empty(cn_region rg) { return rg.i0 >= rg.i1 || rg.j0 >= rg.j1; }

/* The input columns [c0, c1) that windows of output columns [j0, j1) read. */
static void cols_read(const pool_dims *d, cn_region rg, int *c0, int *c1)
{
    *c0 = rg.j0 * d->t;
    *c1 = (rg.j1 - 1) * d->t + d->q;
}

/* Output rows (or columns) [lo, hi] of [k0, k1) whose window covers input row (or column) a; lo > hi: none. */
static void covering(int a, int q, int t, int k0, int k1, int *lo, int *hi)
{
    int l = a - q + 1 <= 0 ? 0 : (a - q + 1 + t - 1) / t; /* ceil((a - q + 1) / t), >= 0 */
    *lo = CN_MAX(l, k0);
    *hi = CN_MIN(a / t, k1 - 1);
}

/* acc[j, m] = sum_{v<q} src[j t + v, m] for the n output columns of a row (src: input columns from the
 * first window's start), in order v = 0, 1, ...; with t = 1 the (column, map) pairs are one flat run. */
static inline __attribute__((always_inline)) void window_cols(float *acc, const float *src, int n, int M, int q,
                                                             int t)
{
    const size_t run = (size_t)n * (size_t)M;
    if (t == 1) {
#pragma omp simd
        for (size_t k = 0; k < run; k++)
            acc[k] = src[k];
        for (int v = 1; v < q; v++) {
            const float *sv = src + (size_t)v * M;
#pragma omp simd
            for (size_t k = 0; k < run; k++)
                acc[k] += sv[k];
        }
        return;
    }
    for (int j = 0; j < n; j++) {
        float *aj = acc + (size_t)j * M;
        const float *sj = src + (size_t)j * t * M;
#pragma omp simd
        for (int m = 0; m < M; m++)
            aj[m] = sj[m];
        for (int v = 1; v < q; v++)
#pragma omp simd
            for (int m = 0; m < M; m++)
                aj[m] += sj[(size_t)v * M + m];
    }
}

/* dst[j t + v, m] += src[j, m] for v < q, the transpose of window_cols (dst zeroed by the caller). */
static inline __attribute__((always_inline)) void spread_cols(float *dst, const float *src, int n, int M, int q,
                                                             int t)
{
    const size_t run = (size_t)n * (size_t)M;
    for (int v = 0; v < q; v++) {
        float *dv = dst + (size_t)v * M;
        if (t == 1) {
#pragma omp simd
            for (size_t k = 0; k < run; k++)
                dv[k] += src[k];
        } else {
            for (int j = 0; j < n; j++)
#pragma omp simd
                for (int m = 0; m < M; m++)
                    dv[(size_t)j * t * M + m] += src[(size_t)j * M + m];
        }
    }
}

/* One output row: pr[j, m] = sqrt(eps + window sum), from the q input rows at y0 (rows ystride apart). */
CN_CPU_CLONES static void forward_row(const float *y0, size_t ystride, float *pr, float *cs, float *acc,
                                      size_t run, int n, int M, int q, int t, float eps)
{
#pragma omp simd
    for (size_t k = 0; k < run; k++)
        cs[k] = y0[k] * y0[k];
    for (int u = 1; u < q; u++) {
        const float *yr = y0 + (size_t)u * ystride;
#pragma omp simd
        for (size_t k = 0; k < run; k++)
            cs[k] += yr[k] * yr[k];
    }
    window_cols(acc, cs, n, M, q, t);
    const size_t orun = (size_t)n * (size_t)M;
#pragma omp simd
    for (size_t k = 0; k < orun; k++)
        pr[k] = sqrtf(eps + acc[k]);
}

int pool_forward_cpu(const pool_dims *d, const float *y, float *p, cn_region rg)
{
    if (pool_check_call("pool_forward_cpu", d, rg, y && p) != CN_OK)
        return CN_EINVAL;
    if (region_empty(rg))
        return CN_OK;
    int c0, c1;
    cols_read(d, rg, &c0, &c1);
    const int M = d->M, q = d->q, t = d->t, rows = rg.i1 - rg.i0, n = rg.j1 - rg.j0;
    const size_t run = (size_t)(c1 - c0) * (size_t)M; /* floats of one input row that the region reads */
    const size_t orun = (size_t)n * (size_t)M;         /* floats of one output row of the region */
    const float eps = d->eps;
#pragma omp parallel
    {
        float *cs = cn_alloc(run + orun, sizeof(float)), *acc = cs + run;
#pragma omp for schedule(static)
        for (long long bi = 0; bi < (long long)d->B * rows; bi++) {
            const int b = (int)(bi / rows), i = rg.i0 + (int)(bi % rows);
            forward_row(y + (((size_t)b * d->Hy + (size_t)i * t) * d->Wy + c0) * M, (size_t)d->Wy * M,
                        p + (((size_t)b * d->Hp + i) * d->Wp + rg.j0) * M, cs, acc, run, n, M, q, t, eps);
        }
        cn_free(cs);
    }
    return CN_OK;
}

/* One sample's backward pass (y, p, dp, dy point at sample b); gc, G, g: the thread's scratch. */
CN_CPU_CLONES static void backward_sample(const pool_dims *d, cn_region rg, const float *y, const float *p,
                                          const float *dp, float *dy, float *gc, float *G, float *g)
{
    const int M = d->M, q = d->q, t = d->t, n = rg.j1 - rg.j0;
    int c0, c1;
    cols_read(d, rg, &c0, &c1);
    const int a0 = rg.i0 * t, a1 = (rg.i1 - 1) * t + q; /* input rows read */
    const size_t run = (size_t)(c1 - c0) * (size_t)M, orun = (size_t)n * (size_t)M;
    memset(gc, 0, (size_t)(rg.i1 - rg.i0) * run * sizeof(float));
    for (int i = rg.i0; i < rg.i1; i++) {
        const size_t o = ((size_t)i * d->Wp + rg.j0) * M;
#pragma omp simd
        for (size_t k = 0; k < orun; k++)
            g[k] = dp[o + k] / p[o + k];
        spread_cols(gc + (size_t)(i - rg.i0) * run, g, n, M, q, t);
    }
    for (int a = a0; a < a1; a++) {
        int lo, hi;
        covering(a, q, t, rg.i0, rg.i1, &lo, &hi);
        if (lo > hi)
            continue; /* a gap between windows (t > q): nothing reads this row */
        const float *Gr = gc + (size_t)(lo - rg.i0) * run;
        if (hi > lo) {
#pragma omp simd
            for (size_t k = 0; k < run; k++)
                G[k] = Gr[k];
            for (int i = lo + 1; i <= hi; i++) {
                const float *gi = gc + (size_t)(i - rg.i0) * run;
#pragma omp simd
                for (size_t k = 0; k < run; k++)
                    G[k] += gi[k];
            }
            Gr = G;
        }
        const size_t at = ((size_t)a * d->Wy + c0) * M;
        const float *yr = y + at;
        float *dr = dy + at;
        if (t <= q) { /* every column in [c0, c1) is read */
#pragma omp simd
            for (size_t k = 0; k < run; k++)
                dr[k] += Gr[k] * yr[k];
        } else { /* windows with gaps: only their q columns each */
            for (int j = 0; j < n; j++) {
                const size_t k0 = (size_t)j * t * M;
#pragma omp simd
                for (size_t k = k0; k < k0 + (size_t)q * M; k++)
                    dr[k] += Gr[k] * yr[k];
            }
        }
    }
}

int pool_backward_cpu(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                      cn_region rg)
{
    if (pool_check_call("pool_backward_cpu", d, rg, y && p && dp && dy) != CN_OK)
        return CN_EINVAL;
    if (region_empty(rg))
        return CN_OK;
    int c0, c1;
    cols_read(d, rg, &c0, &c1);
    const int M = d->M, rows = rg.i1 - rg.i0;
    const size_t run = (size_t)(c1 - c0) * (size_t)M, orun = (size_t)(rg.j1 - rg.j0) * (size_t)M;
    const size_t gcn = (size_t)rows * run;
#pragma omp parallel
    {
        /* per sample: gc[i - i0, c - c0, m] = g = dp / p summed over the region's windows covering column c */
        float *gc = cn_alloc(gcn + run + orun, sizeof(float)), *G = gc + gcn, *g = G + run;
#pragma omp for schedule(static)
        for (int b = 0; b < d->B; b++) {
            backward_sample(d, rg, y + (size_t)b * d->Hy * d->Wy * M, p + (size_t)b * d->Hp * d->Wp * M,
                            dp + (size_t)b * d->Hp * d->Wp * M, dy + (size_t)b * d->Hy * d->Wy * M, gc, G, g);
        }
        cn_free(gc);
    }
    return CN_OK;
}
