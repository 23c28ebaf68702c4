/* lf_ref.c: the local filter (a locally connected layer: every output location has its own filters),
 * CPU reference. Formulas in docs/MODEL.md ("Local filter"); interface and conventions in src/ops.h.
 *
 * Plain loops over the formula; ky, kx are MODEL.md's field offsets dy, dx (here dy, dx name gradients).
 * One layout fact keeps the inner loops contiguous: for one output (i, j) and one row ky of its field,
 * the inputs x[b, i*s+ky, j*s .. j*s+r-1, 0 .. C-1] are r*C consecutive floats, and so are the filter
 * entries w[i,j,m,ky, 0 .. r-1, 0 .. C-1]. So every loop nest ends in "for k < r*C" over both at once.
 *
 * Sums run in float, in a fixed order, and every output element is written by one thread only, so the
 * results do not depend on the number of OpenMP threads:
 *   forward          parallel over (b, i): each writes its own outputs;
 *   backward_data    parallel over b: the fields of neighbouring outputs overlap in dx, samples do not;
 *   backward_filter  parallel over locations (i, j): each owns its filters. */
#include "src/ops.h"

#include "src/common.h"

int lf_check(const lf_dims *d)
{
    if (!d)
        return cn_set_error("lf: no dimensions given");
    if (d->B < 1 || d->Hx < 1 || d->Wx < 1 || d->C < 1)
        return cn_set_error("lf: input window B = %d, Hx = %d, Wx = %d, C = %d must all be >= 1", d->B, d->Hx,
                            d->Wx, d->C);
    if (d->Ho < 1 || d->Wo < 1 || d->M < 1)
        return cn_set_error("lf: output tile Ho = %d, Wo = %d, M = %d must all be >= 1", d->Ho, d->Wo, d->M);
    if (d->r < 1 || d->s < 1)
        return cn_set_error("lf: field r = %d and stride s = %d must be >= 1", d->r, d->s);
    long long need_h = (long long)(d->Ho - 1) * d->s + d->r, need_w = (long long)(d->Wo - 1) * d->s + d->r;
    if (need_h > d->Hx || need_w > d->Wx)
        return cn_set_error("lf: input window %d x %d too small: %d x %d outputs with field %d, stride %d "
                            "read %lld x %lld", d->Hx, d->Wx, d->Ho, d->Wo, d->r, d->s, need_h, need_w);
    size_t n;
    if (cn_mul_size(&n, 5, (size_t)d->B, (size_t)d->Hx, (size_t)d->Wx, (size_t)d->C, sizeof(float)) ||
        cn_mul_size(&n, 5, (size_t)d->B, (size_t)d->Ho, (size_t)d->Wo, (size_t)d->M, sizeof(float)) ||
        cn_mul_size(&n, 7, (size_t)d->Ho, (size_t)d->Wo, (size_t)d->M, (size_t)d->r, (size_t)d->r,
                    (size_t)d->C, sizeof(float)))
        return cn_set_error("lf: sizes overflow (B = %d, window %d x %d x %d, outputs %d x %d x %d, r = %d)",
                            d->B, d->Hx, d->Wx, d->C, d->Ho, d->Wo, d->M, d->r);
    return CN_OK;
}

size_t lf_filter_count(const lf_dims *d)
{
    size_t n;
    if (!d || d->Ho < 1 || d->Wo < 1 || d->M < 1 || d->r < 1 || d->C < 1 ||
        cn_mul_size(&n, 6, (size_t)d->Ho, (size_t)d->Wo, (size_t)d->M, (size_t)d->r, (size_t)d->r,
                    (size_t)d->C))
        return 0;
    return n;
}

/* Dimensions, region and pointers (arrays_given: none of them NULL) of one call (ops.h). */
int lf_check_call(const char *op, const lf_dims *d, cn_region rg, int arrays_given)
{
    if (lf_check(d) != CN_OK)
        return CN_EINVAL;
    if (rg.i0 < 0 || rg.i0 > rg.i1 || rg.i1 > d->Ho || rg.j0 < 0 || rg.j0 > rg.j1 || rg.j1 > d->Wo)
        return cn_set_error("%s: region rows [%d, %d) cols [%d, %d) not inside the %d x %d output tile", op,
                            rg.i0, rg.i1, rg.j0, rg.j1, d->Ho, d->Wo);
    if (!arrays_given)
        return cn_set_error("%s: NULL array", op);
    return CN_OK;
}

/* Flat offsets. */
static size_t x_at(const lf_dims *d, int b, int u, int v)
{
    return (((size_t)b * d->Hx + u) * d->Wx + v) * d->C;
}
static size_t y_at(const lf_dims *d, int b, int i, int j)
{
    return (((size_t)b * d->Ho + i) * d->Wo + j) * d->M;
}
static size_t w_at(const lf_dims *d, int i, int j, int m)
{
    return (((size_t)i * d->Wo + j) * d->M + m) * d->r * d->r * d->C;
}

int lf_forward_ref(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    if (lf_check_call("lf_forward_ref", d, rg, x && w && y) != CN_OK)
        return CN_EINVAL;
    const size_t rc = (size_t)d->r * d->C; /* one row of a field */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < d->B; b++)
        for (int i = rg.i0; i < rg.i1; i++)
            for (int j = rg.j0; j < rg.j1; j++)
                for (int m = 0; m < d->M; m++) {
                    const float *wm = w + w_at(d, i, j, m);
                    float acc = 0.0f;
                    for (int ky = 0; ky < d->r; ky++) {
                        const float *xrow = x + x_at(d, b, i * d->s + ky, j * d->s);
                        const float *wrow = wm + ky * rc;
                        for (size_t k = 0; k < rc; k++)
                            acc += wrow[k] * xrow[k];
                    }
                    y[y_at(d, b, i, j) + m] = acc;
                }
    return CN_OK;
}

int lf_backward_data_ref(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    if (lf_check_call("lf_backward_data_ref", d, rg, w && dy && dx) != CN_OK)
        return CN_EINVAL;
    const size_t rc = (size_t)d->r * d->C;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < d->B; b++)
        for (int i = rg.i0; i < rg.i1; i++)
            for (int j = rg.j0; j < rg.j1; j++)
                for (int m = 0; m < d->M; m++) {
                    const float g = dy[y_at(d, b, i, j) + m];
                    const float *wm = w + w_at(d, i, j, m);
                    for (int ky = 0; ky < d->r; ky++) {
                        float *dxrow = dx + x_at(d, b, i * d->s + ky, j * d->s);
                        const float *wrow = wm + ky * rc;
                        for (size_t k = 0; k < rc; k++)
                            dxrow[k] += wrow[k] * g;
                    }
                }
    return CN_OK;
}

int lf_backward_filter_ref(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    if (lf_check_call("lf_backward_filter_ref", d, rg, x && dy && dw) != CN_OK)
        return CN_EINVAL;
    const size_t rc = (size_t)d->r * d->C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = rg.i0; i < rg.i1; i++)
        for (int j = rg.j0; j < rg.j1; j++)
            for (int m = 0; m < d->M; m++) {
                float *dwm = dw + w_at(d, i, j, m);
                for (int b = 0; b < d->B; b++) {
                    const float g = dy[y_at(d, b, i, j) + m];
                    for (int ky = 0; ky < d->r; ky++) {
                        const float *xrow = x + x_at(d, b, i * d->s + ky, j * d->s);
                        float *dwrow = dwm + ky * rc;
                        for (size_t k = 0; k < rc; k++)
                            dwrow[k] += g * xrow[k];
                    }
                }
            }
    return CN_OK;
}
