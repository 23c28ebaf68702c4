/* lcn_geom.h: the geometry of one local contrast normalization call, shared by the reference
 * (src/lcn_ref.c) and the fast CPU code (src/lcn_cpu.c): the three nested rectangles T in R in N in
 * global coordinates (docs/MODEL.md, "Local contrast normalization") and the Gaussian's tables. */
#ifndef CN_LCN_GEOM_H
#define CN_LCN_GEOM_H

#include <stddef.h>

#include "src/ops.h"

typedef struct {
    int hy, hx;              /* half-widths clamped to the map: min(h, H-1), min(h, W-1) */
    int ty0, ty1, tx0, tx1;  /* tile T */
    int ry0, ry1, rx0, rx1;  /* R = T grown by h, clipped */
    int ny0, ny1, nx0, nx1;  /* N = T grown by 2h, clipped: the inputs read */
    size_t xstride, ostride; /* floats per sample: input window, output tile */
} lcn_rects;

/* Checks d (lcn_check) and the three arrays (not NULL), then fills r: CN_OK, or CN_EINVAL and the error
 * message. */
int lcn_rects_init(lcn_rects *r, const lcn_dims *d, const void *a, const void *b, const void *c);
/* e[a + h] = exp(-a^2 / (2 sigma^2)) for a in [-h, h]. */
void lcn_gauss(double *e, int h, float sigma);
/* z[i - i0] = lcn_edge_sum(e, h, i, n) for i in [i0, i1). */
void lcn_edge_sums(double *z, const double *e, int h, int i0, int i1, int n);

/* x[b, i, j, 0..M) for global (i, j), from the sample's window xb. */
static inline const float *lcn_xat(const lcn_dims *d, const float *xb, int i, int j)
{
    return xb + ((size_t)(i - d->wy0) * (size_t)d->ww + (size_t)(j - d->wx0)) * (size_t)d->M;
}

#endif
