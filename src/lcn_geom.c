/* lcn_geom.c: the geometry of one LCN call (src/lcn_geom.h), for src/lcn_ref.c and src/lcn_cpu.c. */
#include "src/lcn_geom.h"

#include <math.h>

#include "src/common.h"

int lcn_rects_init(lcn_rects *r, const lcn_dims *d, const void *a, const void *b, const void *c)
{
    int rc = lcn_check(d);
    if (rc != CN_OK)
        return rc;
    if (!a || !b || !c)
        return cn_set_error("lcn: NULL array");
    int h = (d->n - 1) / 2;
    r->hy = CN_MIN(h, d->H - 1);
    r->hx = CN_MIN(h, d->W - 1);
    r->ty0 = d->ty0, r->ty1 = d->ty0 + d->th;
    r->tx0 = d->tx0, r->tx1 = d->tx0 + d->tw;
    r->ry0 = CN_MAX(r->ty0 - r->hy, 0), r->ry1 = CN_MIN(r->ty1 + r->hy, d->H);
    r->rx0 = CN_MAX(r->tx0 - r->hx, 0), r->rx1 = CN_MIN(r->tx1 + r->hx, d->W);
    r->ny0 = CN_MAX(r->ty0 - 2 * r->hy, 0), r->ny1 = CN_MIN(r->ty1 + 2 * r->hy, d->H);
    r->nx0 = CN_MAX(r->tx0 - 2 * r->hx, 0), r->nx1 = CN_MIN(r->tx1 + 2 * r->hx, d->W);
    r->xstride = (size_t)d->wh * (size_t)d->ww * (size_t)d->M;
    r->ostride = (size_t)d->th * (size_t)d->tw * (size_t)d->M;
    return CN_OK;
}

void lcn_gauss(double *e, int h, float sigma)
{
    double s2 = 2.0 * (double)sigma * (double)sigma;
    for (int a = -h; a <= h; a++)
        e[a + h] = exp(-(double)a * a / s2);
}

void lcn_edge_sums(double *z, const double *e, int h, int i0, int i1, int n)
{
    for (int i = i0; i < i1; i++)
        z[i - i0] = lcn_edge_sum(e, h, i, n);
}
