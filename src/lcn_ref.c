/* lcn_ref.c: local contrast normalization, CPU reference (docs/MODEL.md, "Local contrast normalization").
 *
 * The geometry is global. The input is a window of the global H x W map, the output a tile of it, and
 * every border decision (the Gaussian truncated at the map border, renormalized by Z(i,j)) is taken in
 * global coordinates, so a tile computes exactly what the whole-map run computes there: same terms,
 * summed in the same order. Three nested rectangles, all clipped to the map:
 *     tile T (outputs)  inside  R = T grown by h (mu, v, s2's terms)  inside  T grown by 2h = n-1 (x read).
 * The Gaussian is separable, g(a,c) = e(a) e(c) with e(a) = exp(-a^2 / (2 sigma^2)), and N(i,j) is a
 * rectangle, so Z(i,j) = M * zrow(i) * zcol(j). Values are float, every sum runs in double; scratch is
 * per sample. Offsets larger than the map never land inside it, so h is clamped to H-1 (rows) and W-1
 * (columns): a huge n costs nothing. */
#include "src/ops.h"

#include <math.h>

#include "src/common.h"
#include "src/lcn_geom.h"

/* Everything a pass needs about the geometry, in global coordinates. */
typedef struct {
    lcn_rects r;             /* T, R, N (src/lcn_geom.h) */
    int rh, rw;              /* R's size */
    double *ey, *ex;         /* e(a) for a in [-hy, hy] and [-hx, hx], indexed a + hy / c + hx */
    double *zr, *zc;         /* zrow over R's rows, zcol over R's columns (Z = M * zr * zc) */
    double *xs;              /* [wh, ww] sum over maps of x, window coordinates */
    double *mu, *q;          /* [rh, rw] local mean, sum over maps of v^2 */
    double *rinv, *w2;       /* [th, tw] 1/sqrt(eps + s2); backward: dJ/ds2 / Z */
    double *dq, *w1;         /* [rh, rw] backward: dJ/dq; dJ/dmu / Z */
    double *dxs;             /* [wh, ww] backward: gradient reaching every map through mu */
    double *block;
} lcn_geo;

static long long clampll(long long v, long long lo, long long hi) { return v < lo ? lo : v > hi ? hi : v; }

void lcn_window(int H, int W, int n, int ty0, int tx0, int th, int tw, int *wy0, int *wx0, int *wh,
                int *ww)
{
    long long g = (long long)n - 1;
    long long y0 = clampll((long long)ty0 - g, 0, H), y1 = clampll((long long)ty0 + th + g, 0, H);
    long long x0 = clampll((long long)tx0 - g, 0, W), x1 = clampll((long long)tx0 + tw + g, 0, W);
    *wy0 = (int)y0;
    *wx0 = (int)x0;
    *wh = (int)(y1 > y0 ? y1 - y0 : 0);
    *ww = (int)(x1 > x0 ? x1 - x0 : 0);
}

int lcn_check(const lcn_dims *d)
{
    if (!d)
        return cn_set_error("lcn: no dimensions given");
    if (d->B < 1 || d->M < 1 || d->H < 1 || d->W < 1)
        return cn_set_error("lcn: B = %d, M = %d, H = %d, W = %d must all be >= 1", d->B, d->M, d->H, d->W);
    if (d->th < 1 || d->tw < 1 || d->wh < 1 || d->ww < 1)
        return cn_set_error("lcn: tile %d x %d and window %d x %d must not be empty", d->th, d->tw, d->wh,
                            d->ww);
    if (d->n < 1 || d->n % 2 == 0)
        return cn_set_error("lcn: window size n = %d must be odd and >= 1", d->n);
    if (!(d->sigma > 0) || !isfinite(d->sigma) || !(d->eps > 0) || !isfinite(d->eps))
        return cn_set_error("lcn: sigma = %g and eps = %g must be finite and > 0", (double)d->sigma,
                            (double)d->eps);
    if (d->ty0 < 0 || d->tx0 < 0 || (long long)d->ty0 + d->th > d->H || (long long)d->tx0 + d->tw > d->W)
        return cn_set_error("lcn: tile rows [%d, +%d) cols [%d, +%d) outside the %d x %d map", d->ty0, d->th,
                            d->tx0, d->tw, d->H, d->W);
    if (d->wy0 < 0 || d->wx0 < 0 || (long long)d->wy0 + d->wh > d->H || (long long)d->wx0 + d->ww > d->W)
        return cn_set_error("lcn: window rows [%d, +%d) cols [%d, +%d) outside the %d x %d map", d->wy0,
                            d->wh, d->wx0, d->ww, d->H, d->W);
    int ny0, nx0, nh, nw;
    lcn_window(d->H, d->W, d->n, d->ty0, d->tx0, d->th, d->tw, &ny0, &nx0, &nh, &nw);
    if (d->wy0 > ny0 || d->wx0 > nx0 || (long long)d->wy0 + d->wh < (long long)ny0 + nh ||
        (long long)d->wx0 + d->ww < (long long)nx0 + nw)
        return cn_set_error("lcn: window rows [%d, +%d) cols [%d, +%d) does not contain rows [%d, +%d) "
                            "cols [%d, +%d) that the tile needs (n = %d)", d->wy0, d->wh, d->wx0, d->ww,
                            ny0, nh, nx0, nw, d->n);
    size_t bytes;
    if (cn_mul_size(&bytes, 5, (size_t)d->B, (size_t)d->wh, (size_t)d->ww, (size_t)d->M, sizeof(double)) ||
        cn_mul_size(&bytes, 5, (size_t)d->B, (size_t)d->th, (size_t)d->tw, (size_t)d->M, sizeof(double)))
        return cn_set_error("lcn: sizes B = %d, window %d x %d, M = %d overflow", d->B, d->wh, d->ww, d->M);
    return CN_OK;
}

double lcn_edge_sum(const double *e, int h, int i, int n)
{
    double z = 0;
    for (int a = CN_MAX(-h, -i); a <= CN_MIN(h, n - 1 - i); a++)
        z += e[a + h];
    return z;
}

/* The rectangles, checked (lcn_rects_init), and the scratch block. */
static int geo_init(lcn_geo *g, const lcn_dims *d, const void *a, const void *b, const void *c)
{
    int rc = lcn_rects_init(&g->r, d, a, b, c);
    if (rc != CN_OK)
        return rc;
    const lcn_rects *r = &g->r;
    g->rh = r->ry1 - r->ry0;
    g->rw = r->rx1 - r->rx0;
    size_t win = (size_t)d->wh * (size_t)d->ww, rs = (size_t)g->rh * (size_t)g->rw;
    size_t t = (size_t)d->th * (size_t)d->tw;
    size_t ne = (size_t)(2 * r->hy + 1) + (size_t)(2 * r->hx + 1);
    size_t total = ne + (size_t)g->rh + (size_t)g->rw + 2 * win + 4 * rs + 2 * t;
    double *p = g->block = cn_alloc(total, sizeof(double));
    g->ey = p; p += 2 * r->hy + 1;
    g->ex = p; p += 2 * r->hx + 1;
    g->zr = p; p += g->rh;
    g->zc = p; p += g->rw;
    g->xs = p; p += win;
    g->dxs = p; p += win;
    g->mu = p; p += rs;
    g->q = p; p += rs;
    g->dq = p; p += rs;
    g->w1 = p; p += rs;
    g->rinv = p; p += t;
    g->w2 = p;
    lcn_gauss(g->ey, r->hy, d->sigma);
    lcn_gauss(g->ex, r->hx, d->sigma);
    lcn_edge_sums(g->zr, g->ey, r->hy, r->ry0, r->ry1, d->H);
    lcn_edge_sums(g->zc, g->ex, r->hx, r->rx0, r->rx1, d->W);
    return CN_OK;
}

/* Offset of global (i, j) in an array on the tile, and in one on R. */
static inline size_t t_at(const lcn_dims *d, int i, int j)
{
    return (size_t)(i - d->ty0) * (size_t)d->tw + (size_t)(j - d->tx0);
}
static inline size_t r_at(const lcn_geo *g, int i, int j)
{
    return (size_t)(i - g->r.ry0) * (size_t)g->rw + (size_t)(j - g->r.rx0);
}

/* Z(i, j) for (i, j) in R. */
static inline double geo_z(const lcn_geo *g, const lcn_dims *d, int i, int j)
{
    return (double)d->M * g->zr[i - g->r.ry0] * g->zc[j - g->r.rx0];
}

/* sum_{(a,c) in N(i,j)} g(a,c) * f[i+a, j+c], f given on rows [fy0, ...) and columns [fx0, fx0 + fw). */
static double gauss_sum(const lcn_geo *g, const lcn_dims *d, const double *f, int fy0, int fx0, int fw, int i,
                        int j)
{
    double s = 0;
    for (int a = CN_MAX(-g->r.hy, -i); a <= CN_MIN(g->r.hy, d->H - 1 - i); a++) {
        double ra = 0;
        const double *row = f + (size_t)(i + a - fy0) * (size_t)fw;
        for (int c = CN_MAX(-g->r.hx, -j); c <= CN_MIN(g->r.hx, d->W - 1 - j); c++)
            ra += g->ex[c + g->r.hx] * row[j + c - fx0];
        s += g->ey[a + g->r.hy] * ra;
    }
    return s;
}

/* The forward quantities of sample b: xs (on the inputs read), mu and q (on R), rinv (on the tile). */
static void forward_sample(lcn_geo *g, const lcn_dims *d, const float *xb)
{
    int M = d->M;
    for (int u = g->r.ny0; u < g->r.ny1; u++)
        for (int w = g->r.nx0; w < g->r.nx1; w++) {
            const float *px = lcn_xat(d, xb, u, w);
            double s = 0;
            for (int k = 0; k < M; k++)
                s += px[k];
            g->xs[(size_t)(u - d->wy0) * (size_t)d->ww + (size_t)(w - d->wx0)] = s;
        }
    for (int p = g->r.ry0; p < g->r.ry1; p++)
        for (int l = g->r.rx0; l < g->r.rx1; l++) {
            size_t ir = r_at(g, p, l);
            double mu = gauss_sum(g, d, g->xs, d->wy0, d->wx0, d->ww, p, l) / geo_z(g, d, p, l);
            const float *px = lcn_xat(d, xb, p, l);
            double q = 0;
            for (int k = 0; k < M; k++) {
                double v = (double)px[k] - mu;
                q += v * v;
            }
            g->mu[ir] = mu;
            g->q[ir] = q;
        }
    for (int i = d->ty0; i < g->r.ty1; i++)
        for (int j = d->tx0; j < g->r.tx1; j++) {
            double s2 = gauss_sum(g, d, g->q, g->r.ry0, g->r.rx0, g->rw, i, j) / geo_z(g, d, i, j);
            g->rinv[t_at(d, i, j)] =
                1.0 / sqrt((double)d->eps + s2);
        }
}

/* One sample's output: out = (x - mu) rinv on the tile. */
static void forward_out(lcn_geo *g, const lcn_dims *d, const float *xb, float *ob)
{
    size_t M = (size_t)d->M;
    forward_sample(g, d, xb);
    for (int i = d->ty0; i < g->r.ty1; i++)
        for (int j = d->tx0; j < g->r.tx1; j++) {
            size_t it = t_at(d, i, j);
            double mu = g->mu[r_at(g, i, j)], r = g->rinv[it];
            const float *px = lcn_xat(d, xb, i, j);
            for (size_t k = 0; k < M; k++)
                ob[it * M + k] = (float)(((double)px[k] - mu) * r);
        }
}

/* Back-propagation, per sample, in the order of MODEL.md: out -> (v, s2), s2 -> q -> v, v -> (x, mu),
 * mu -> x. With r = 1/sqrt(eps + s2):
 *   dv    = dout * r                             (tile, direct term)
 *   ds2   = -1/2 r^3 sum_m dout * v              (tile)
 *   dq    = sum_{tile (i,j) near (p,l)} g ds2(i,j) / Z(i,j)     (R; q = sum_k v^2)
 *   dv   += 2 v dq                               (R)
 *   dx   += dv;  dmu = -sum_k dv                 (R)
 *   dx   += sum_{(p,l) in R near (u,w)} g dmu(p,l) / Z(p,l)   (every map, inputs read)        */
static void backward_sample(lcn_geo *g, const lcn_dims *d, const float *xb, const float *gb, float *dxb)
{
    int M = d->M;
    forward_sample(g, d, xb);
    /* ds2 / Z on the tile */
    for (int i = d->ty0; i < g->r.ty1; i++)
        for (int j = d->tx0; j < g->r.tx1; j++) {
            size_t it = t_at(d, i, j);
            double mu = g->mu[r_at(g, i, j)];
            const float *px = lcn_xat(d, xb, i, j);
            double s = 0;
            for (int k = 0; k < M; k++)
                s += (double)gb[it * (size_t)M + (size_t)k] * ((double)px[k] - mu);
            double r = g->rinv[it];
            g->w2[it] = -0.5 * r * r * r * s / geo_z(g, d, i, j);
        }
    /* dq on R: the tile outputs whose s2 window holds (p, l) (g is symmetric) */
    for (int p = g->r.ry0; p < g->r.ry1; p++)
        for (int l = g->r.rx0; l < g->r.rx1; l++) {
            double s = 0;
            for (int i = CN_MAX(d->ty0, p - g->r.hy); i <= CN_MIN(g->r.ty1 - 1, p + g->r.hy); i++) {
                double ra = 0;
                for (int j = CN_MAX(d->tx0, l - g->r.hx); j <= CN_MIN(g->r.tx1 - 1, l + g->r.hx); j++)
                    ra += g->ex[j - l + g->r.hx] * g->w2[t_at(d, i, j)];
                s += g->ey[i - p + g->r.hy] * ra;
            }
            g->dq[r_at(g, p, l)] = s;
        }
    /* dmu / Z on R, from dv = (direct) + 2 v dq */
    for (int p = g->r.ry0; p < g->r.ry1; p++)
        for (int l = g->r.rx0; l < g->r.rx1; l++) {
            size_t ir = r_at(g, p, l);
            int in_tile = p >= d->ty0 && p < g->r.ty1 && l >= d->tx0 && l < g->r.tx1;
            size_t it = in_tile ? t_at(d, p, l) : 0;
            const float *px = lcn_xat(d, xb, p, l);
            double s = 0;
            for (int k = 0; k < M; k++) {
                double dv = 2.0 * ((double)px[k] - g->mu[ir]) * g->dq[ir];
                if (in_tile)
                    dv += (double)gb[it * (size_t)M + (size_t)k] * g->rinv[it];
                s += dv;
            }
            g->w1[ir] = -s / geo_z(g, d, p, l);
        }
    /* through mu to every input read: dxs(u, w) = sum over R positions whose window holds (u, w) */
    for (int u = g->r.ny0; u < g->r.ny1; u++)
        for (int w = g->r.nx0; w < g->r.nx1; w++) {
            double s = 0;
            for (int p = CN_MAX(g->r.ry0, u - g->r.hy); p <= CN_MIN(g->r.ry1 - 1, u + g->r.hy); p++) {
                double ra = 0;
                for (int l = CN_MAX(g->r.rx0, w - g->r.hx); l <= CN_MIN(g->r.rx1 - 1, w + g->r.hx); l++)
                    ra += g->ex[l - w + g->r.hx] * g->w1[r_at(g, p, l)];
                s += g->ey[p - u + g->r.hy] * ra;
            }
            g->dxs[(size_t)(u - d->wy0) * (size_t)d->ww + (size_t)(w - d->wx0)] = s;
        }
    /* dx += dxs + dv, one float addition per element */
    for (int u = g->r.ny0; u < g->r.ny1; u++)
        for (int w = g->r.nx0; w < g->r.nx1; w++) {
            double base = g->dxs[(size_t)(u - d->wy0) * (size_t)d->ww + (size_t)(w - d->wx0)];
            int in_r = u >= g->r.ry0 && u < g->r.ry1 && w >= g->r.rx0 && w < g->r.rx1;
            int in_tile = u >= d->ty0 && u < g->r.ty1 && w >= d->tx0 && w < g->r.tx1;
            size_t ir = in_r ? r_at(g, u, w) : 0;
            size_t it = in_tile ? t_at(d, u, w) : 0;
            const float *px = lcn_xat(d, xb, u, w);
            float *pd = dxb + (px - xb);
            for (int k = 0; k < M; k++) {
                double t = base;
                if (in_r)
                    t += 2.0 * ((double)px[k] - g->mu[ir]) * g->dq[ir];
                if (in_tile)
                    t += (double)gb[it * (size_t)M + (size_t)k] * g->rinv[it];
                pd[k] += (float)t;
            }
        }
}

/* Every sample in turn: the forward pass (y = out) or the backward pass (y = dx). */
static int ref_run(const lcn_dims *d, const float *x, const float *dout, float *y, int backward)
{
    lcn_geo g;
    int rc = geo_init(&g, d, x, backward ? dout : y, y);
    if (rc != CN_OK)
        return rc;
    for (int b = 0; b < d->B; b++) {
        if (backward)
            backward_sample(&g, d, x + (size_t)b * g.r.xstride, dout + (size_t)b * g.r.ostride,
                            y + (size_t)b * g.r.xstride);
        else
            forward_out(&g, d, x + (size_t)b * g.r.xstride, y + (size_t)b * g.r.ostride);
    }
    cn_free(g.block);
    return CN_OK;
}

int lcn_forward_ref(const lcn_dims *d, const float *x, float *out) { return ref_run(d, x, NULL, out, 0); }

int lcn_backward_ref(const lcn_dims *d, const float *x, const float *dout, float *dx)
{
    return ref_run(d, x, dout, dx, 1);
}
