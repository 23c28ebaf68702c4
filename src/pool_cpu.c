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
 * the (sample, row) pairs. */
#include "src/ops_cpu.h"

#include <math.h>

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

int pool_forward_cpu(const pool_dims *d, const float *y, float *p, cn_region rg)
{
    if (pool_check_call("pool_forward_cpu", d, rg, y && p) != CN_OK)
        return CN_EINVAL;
    if (region_empty(rg))
        return CN_OK;
    int c0, c1;
    cols_read(d, rg, &c0, &c1);
    const int M = d->M, q = d->q, t = d->t, rows = rg.i1 - rg.i0;
    const size_t run = (size_t)(c1 - c0) * (size_t)M; /* floats of one input row that the region reads */
    const float eps = d->eps;
#pragma omp parallel
    {
        float *cs = cn_alloc(run, sizeof(float));
#pragma omp for schedule(static)
        for (long long bi = 0; bi < (long long)d->B * rows; bi++) {
            const int b = (int)(bi / rows), i = rg.i0 + (int)(bi % rows);
            const float *y0 = y + (((size_t)b * d->Hy + (size_t)i * t) * d->Wy + c0) * M;
            for (size_t k = 0; k < run; k++)
                cs[k] = 0.0f;
            for (int u = 0; u < q; u++) {
                const float *yr = y0 + (size_t)u * d->Wy * M;
#pragma omp simd
                for (size_t k = 0; k < run; k++)
                    cs[k] += yr[k] * yr[k];
            }
            float *pr = p + (((size_t)b * d->Hp + i) * d->Wp + rg.j0) * M;
            for (int j = rg.j0; j < rg.j1; j++, pr += M) {
                const float *cj = cs + (size_t)(j - rg.j0) * t * M;
#pragma omp simd
                for (int m = 0; m < M; m++)
                    pr[m] = 0.0f;
                for (int v = 0; v < q; v++)
#pragma omp simd
                    for (int m = 0; m < M; m++)
                        pr[m] += cj[(size_t)v * M + m];
#pragma omp simd
                for (int m = 0; m < M; m++)
                    pr[m] = sqrtf(eps + pr[m]);
            }
        }
        cn_free(cs);
    }
    return CN_OK;
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
    const int M = d->M, q = d->q, t = d->t, rows = rg.i1 - rg.i0;
    const int a0 = rg.i0 * t, a1 = (rg.i1 - 1) * t + q; /* input rows read */
    const size_t run = (size_t)(c1 - c0) * (size_t)M;
    /* gc[b, i - i0, c - c0, m]: g = dp / p summed over the region's windows covering column c */
    float *gc = cn_alloc((size_t)d->B * (size_t)rows * run, sizeof(float));
#pragma omp parallel for schedule(static)
    for (long long bi = 0; bi < (long long)d->B * rows; bi++) {
        const int b = (int)(bi / rows), i = rg.i0 + (int)(bi % rows);
        float *gr = gc + (size_t)bi * run;
        const size_t o = (((size_t)b * d->Hp + i) * d->Wp) * M;
        for (int c = c0; c < c1; c++) {
            int lo, hi;
            covering(c, q, t, rg.j0, rg.j1, &lo, &hi);
            float *gk = gr + (size_t)(c - c0) * M;
            for (int m = 0; m < M; m++)
                gk[m] = 0.0f;
            for (int j = lo; j <= hi; j++)
#pragma omp simd
                for (int m = 0; m < M; m++)
                    gk[m] += dp[o + (size_t)j * M + m] / p[o + (size_t)j * M + m];
        }
    }
    const int arows = a1 - a0;
#pragma omp parallel
    {
        float *G = cn_alloc(run, sizeof(float));
#pragma omp for schedule(static)
        for (long long ba = 0; ba < (long long)d->B * arows; ba++) {
            const int b = (int)(ba / arows), a = a0 + (int)(ba % arows);
            int lo, hi;
            covering(a, q, t, rg.i0, rg.i1, &lo, &hi);
            if (lo > hi)
                continue; /* a gap between windows (t > q): nothing reads this row */
            const float *g0 = gc + ((size_t)b * rows + (size_t)(lo - rg.i0)) * run;
#pragma omp simd
            for (size_t k = 0; k < run; k++)
                G[k] = g0[k];
            for (int i = lo + 1; i <= hi; i++) {
                const float *gi = gc + ((size_t)b * rows + (size_t)(i - rg.i0)) * run;
#pragma omp simd
                for (size_t k = 0; k < run; k++)
                    G[k] += gi[k];
            }
            const size_t at = (((size_t)b * d->Hy + a) * d->Wy + c0) * M;
            const float *yr = y + at;
            float *dr = dy + at;
            if (t <= q) { /* every column in [c0, c1) is read */
#pragma omp simd
                for (size_t k = 0; k < run; k++)
                    dr[k] += G[k] * yr[k];
            } else { /* windows with gaps: only their q columns each */
                for (int j = rg.j0; j < rg.j1; j++) {
                    const size_t k0 = (size_t)(j - rg.j0) * t * M;
#pragma omp simd
                    for (size_t k = k0; k < k0 + (size_t)q * M; k++)
                        dr[k] += G[k] * yr[k];
                }
            }
        }
        cn_free(G);
    }
    cn_free(gc);
    return CN_OK;
}
