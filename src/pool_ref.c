/* pool_ref.c: L2 pooling within each map, CPU reference. Formulas in docs/MODEL.md ("L2 pooling");
 * interface and conventions in src/ops.h.
 *
 *   p[b,i,j,m] = sqrt(eps + sum_{u,v<q} y[b, i*t+u, j*t+v, m]^2)
 *   dy[b, i*t+u, j*t+v, m] += dp[b,i,j,m] * y[b, i*t+u, j*t+v, m] / p[b,i,j,m]
 *
 * The backward pass takes p from the forward pass instead of recomputing it. Sums run in float in a
 * fixed order. Windows overlap when t < q, so the backward pass is parallel over samples only; the
 * forward pass writes each output once and is parallel over (b, i). Neither depends on the thread count. */
#include "src/ops.h"

#include <math.h>

#include "src/common.h"

int pool_check(const pool_dims *d)
{
    if (!d)
        return cn_set_error("pool: no dimensions given");
    if (d->B < 1 || d->M < 1 || d->Hy < 1 || d->Wy < 1)
        return cn_set_error("pool: input window B = %d, M = %d, Hy = %d, Wy = %d must all be >= 1", d->B, d->M,
                            d->Hy, d->Wy);
    if (d->Hp < 1 || d->Wp < 1)
        return cn_set_error("pool: output tile Hp = %d, Wp = %d must be >= 1", d->Hp, d->Wp);
    if (d->q < 1 || d->t < 1)
        return cn_set_error("pool: window q = %d and stride t = %d must be >= 1", d->q, d->t);
    if (!(d->eps > 0) || !isfinite(d->eps))
        return cn_set_error("pool: eps = %g must be finite and > 0", (double)d->eps);
    long long need_h = (long long)(d->Hp - 1) * d->t + d->q, need_w = (long long)(d->Wp - 1) * d->t + d->q;
    if (need_h > d->Hy || need_w > d->Wy)
        return cn_set_error("pool: input window %d x %d too small: %d x %d outputs with window %d, stride %d "
                            "read %lld x %lld", d->Hy, d->Wy, d->Hp, d->Wp, d->q, d->t, need_h, need_w);
    size_t n;
    if (cn_mul_size(&n, 5, (size_t)d->B, (size_t)d->Hy, (size_t)d->Wy, (size_t)d->M, sizeof(float)) ||
        cn_mul_size(&n, 5, (size_t)d->B, (size_t)d->Hp, (size_t)d->Wp, (size_t)d->M, sizeof(float)))
        return cn_set_error("pool: sizes overflow (B = %d, M = %d, window %d x %d, outputs %d x %d)", d->B,
                            d->M, d->Hy, d->Wy, d->Hp, d->Wp);
    return CN_OK;
}

/* Dimensions, region and pointers (arrays_given: none of them NULL) of one call (ops.h). */
int pool_check_call(const char *op, const pool_dims *d, cn_region rg, int arrays_given)
{
    if (pool_check(d) != CN_OK)
        return CN_EINVAL;
    if (rg.i0 < 0 || rg.i0 > rg.i1 || rg.i1 > d->Hp || rg.j0 < 0 || rg.j0 > rg.j1 || rg.j1 > d->Wp)
        return cn_set_error("%s: region rows [%d, %d) cols [%d, %d) not inside the %d x %d output tile", op,
                            rg.i0, rg.i1, rg.j0, rg.j1, d->Hp, d->Wp);
    if (!arrays_given)
        return cn_set_error("%s: NULL array", op);
    return CN_OK;
}

/* Flat offsets of (b, row, col, map 0) in the input window and the output tile. */
static size_t in_at(const pool_dims *d, int b, int a, int c)
{
    return (((size_t)b * d->Hy + a) * d->Wy + c) * d->M;
}
static size_t out_at(const pool_dims *d, int b, int i, int j)
{
    return (((size_t)b * d->Hp + i) * d->Wp + j) * d->M;
}

int pool_forward_ref(const pool_dims *d, const float *y, float *p, cn_region rg)
{
    if (pool_check_call("pool_forward_ref", d, rg, y && p) != CN_OK)
        return CN_EINVAL;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < d->B; b++)
        for (int i = rg.i0; i < rg.i1; i++)
            for (int j = rg.j0; j < rg.j1; j++)
                for (int m = 0; m < d->M; m++) {
                    float sum = 0.0f;
                    for (int u = 0; u < d->q; u++)
                        for (int v = 0; v < d->q; v++) {
                            const float val = y[in_at(d, b, i * d->t + u, j * d->t + v) + m];
                            sum += val * val;
                        }
                    p[out_at(d, b, i, j) + m] = sqrtf(d->eps + sum);
                }
    return CN_OK;
}

int pool_backward_ref(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                      cn_region rg)
{
    if (pool_check_call("pool_backward_ref", d, rg, y && p && dp && dy) != CN_OK)
        return CN_EINVAL;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < d->B; b++)
        for (int i = rg.i0; i < rg.i1; i++)
            for (int j = rg.j0; j < rg.j1; j++)
                for (int m = 0; m < d->M; m++) {
                    const size_t o = out_at(d, b, i, j) + m;
                    const float g = dp[o] / p[o]; /* d p / d y = y / p */
                    for (int u = 0; u < d->q; u++)
                        for (int v = 0; v < d->q; v++) {
                            const size_t k = in_at(d, b, i * d->t + u, j * d->t + v) + m;
                            dy[k] += g * y[k];
                        }
                }
    return CN_OK;
}
