/* lcn.cu: local contrast normalization on the GPU (twins of src/lcn_ref.c; docs/MODEL.md).
 *
 * The same global geometry as the reference (tile T inside R = T grown by h inside N = T grown by 2h,
 * all clipped to the map; Gaussian truncated at the map border and renormalized by
 * Z = M zrow(i) zcol(j)), and the same quantities in double, computed by one kernel per step over
 * every (sample, position) at once instead of the reference's loop over samples:
 *   tables  e(a) for rows and columns, zrow over R's rows, zcol over R's columns
 *   xsum    xs = sum over maps of x                                    on N
 *   moments mu = gauss(xs) / Z,  q = sum_k (x - mu)^2                   on R
 *   forward out = (x - mu) / sqrt(eps + gauss(q) / Z)                   on T
 *   backward: rinv and w2 = dJ/ds2 / Z on T; dq and w1 = dJ/dmu / Z on R; dx on N.
 * Each sum runs in the reference's order, in double, and each output is written by one thread: the
 * results match the reference to the last bits of a double before the final cast to float. Scratch
 * comes from the stream-ordered allocator and is freed in stream order. */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

struct LcnGeo {
    int B, M, H, W;
    int wy0, wx0, wh, ww;  /* input window */
    int ty0, tx0, th, tw;  /* output tile */
    int hy, hx;            /* half-widths clamped to the map */
    int ty1, tx1;
    int ry0, ry1, rx0, rx1, rh, rw; /* R */
    int ny0, ny1, nx0, nx1;         /* N */
    double eps, s2;                 /* s2 = 2 sigma^2 */
    double *ey, *ex, *zr, *zc;      /* tables */
    double *xs;                     /* [B, wh, ww] */
    double *mu, *q, *dq, *w1;       /* [B, rh, rw] */
    double *rinv, *w2;              /* [B, th, tw] */
};

#define CN_FOR_EACH(idx, n)                                                                             \
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < (n); idx += (size_t)gridDim.x * blockDim.x)

__device__ __forceinline__ double geo_z(const LcnGeo &g, int i, int j)
{
    return (double)g.M * g.zr[i - g.ry0] * g.zc[j - g.rx0];
}

/* sum_{(a,c) in N(i,j)} g(a,c) f[i+a, j+c], f on rows from fy0 and columns [fx0, fx0 + fw).
 * The loops over the Gaussian window here and in the backward kernels carry "#pragma unroll 1": as
 * nvcc 13.0 -O3 unrolled them for sm_90, the code read one double past the end of f on an H100
 * (compute-sanitizer memcheck: an out-of-bounds read at the last (sample, row, column); initcheck: reads
 * of unwritten scratch; tests/test_cuda_ops: lcn forward and backward wrong at the map's last corner).
 * Not unrolled, memcheck, initcheck, racecheck and synccheck are clean and the results match the
 * reference (bench/gpu_check.sh, 2026-11-27). The windows are at most a few tens of taps wide: the
 * cost is small. */
__device__ double gauss_sum(const LcnGeo &g, const double *f, int fy0, int fx0, int fw, int i, int j)
{
    double s = 0;
    #pragma unroll 1
    for (int a = cn_imax(-g.hy, -i); a <= cn_imin(g.hy, g.H - 1 - i); a++) {
        double ra = 0;
        const double *row = f + (size_t)(i + a - fy0) * (size_t)fw;
        #pragma unroll 1
        for (int c = cn_imax(-g.hx, -j); c <= cn_imin(g.hx, g.W - 1 - j); c++)
            ra += g.ex[c + g.hx] * row[j + c - fx0];
        s += g.ey[a + g.hy] * ra;
    }
    return s;
}

__global__ void lcn_tables(LcnGeo g, size_t n)
{
    CN_FOR_EACH(t0, n)
    {
        const int t = (int)t0;
        if (t < 2 * g.hy + 1) {
            const int a = t - g.hy;
            g.ey[t] = exp(-(double)a * a / g.s2);
        }
        if (t < 2 * g.hx + 1) {
            const int c = t - g.hx;
            g.ex[t] = exp(-(double)c * c / g.s2);
        }
        if (t < g.rh) { /* the same terms as lcn_edge_sum (src/lcn_ref.c) over ey, in the same order */
            const int i = g.ry0 + t;
            double z = 0;
            #pragma unroll 1
            for (int a = cn_imax(-g.hy, -i); a <= cn_imin(g.hy, g.H - 1 - i); a++)
                z += exp(-(double)a * a / g.s2);
            g.zr[t] = z;
        }
        if (t < g.rw) {
            const int j = g.rx0 + t;
            double z = 0;
            #pragma unroll 1
            for (int c = cn_imax(-g.hx, -j); c <= cn_imin(g.hx, g.W - 1 - j); c++)
                z += exp(-(double)c * c / g.s2);
            g.zc[t] = z;
        }
    }
}

__device__ __forceinline__ const float *xat(const LcnGeo &g, const float *x, int b, int i, int j)
{
    return x + (((size_t)b * g.wh + (size_t)(i - g.wy0)) * g.ww + (size_t)(j - g.wx0)) * g.M;
}

/* xs on N */
__global__ void lcn_xsum(LcnGeo g, const float *__restrict__ x, size_t n)
{
    const int nh = g.ny1 - g.ny0, nw = g.nx1 - g.nx0;
    CN_FOR_EACH(idx, n)
    {
        const int w = g.nx0 + (int)(idx % nw), u = g.ny0 + (int)(idx / nw % nh), b = (int)(idx / nw / nh);
        const float *px = xat(g, x, b, u, w);
        double s = 0;
        for (int k = 0; k < g.M; k++)
            s += px[k];
        g.xs[((size_t)b * g.wh + (size_t)(u - g.wy0)) * g.ww + (size_t)(w - g.wx0)] = s;
    }
}

/* mu and q on R */
__global__ void lcn_moments(LcnGeo g, const float *__restrict__ x, size_t n)
{
    CN_FOR_EACH(idx, n)
    {
        const int l = g.rx0 + (int)(idx % g.rw), p = g.ry0 + (int)(idx / g.rw % g.rh), b = (int)(idx / g.rw / g.rh);
        const size_t ir = ((size_t)b * g.rh + (size_t)(p - g.ry0)) * g.rw + (size_t)(l - g.rx0);
        const double mu =
            gauss_sum(g, g.xs + (size_t)b * g.wh * g.ww, g.wy0, g.wx0, g.ww, p, l) / geo_z(g, p, l);
        const float *px = xat(g, x, b, p, l);
        double q = 0;
        for (int k = 0; k < g.M; k++) {
            const double v = (double)px[k] - mu;
            q += v * v;
        }
        g.mu[ir] = mu;
        g.q[ir] = q;
    }
}

/* 1 / sqrt(eps + s2) at tile position (i, j) of sample b */
__device__ __forceinline__ double tile_rinv(const LcnGeo &g, int b, int i, int j)
{
    const double s2 = gauss_sum(g, g.q + (size_t)b * g.rh * g.rw, g.ry0, g.rx0, g.rw, i, j) / geo_z(g, i, j);
    return 1.0 / sqrt(g.eps + s2);
}

__device__ __forceinline__ size_t rindex(const LcnGeo &g, int b, int p, int l)
{
    return ((size_t)b * g.rh + (size_t)(p - g.ry0)) * g.rw + (size_t)(l - g.rx0);
}

/* out on T */
__global__ void lcn_out(LcnGeo g, const float *__restrict__ x, float *__restrict__ out, size_t n)
{
    CN_FOR_EACH(idx, n)
    {
        const int j = g.tx0 + (int)(idx % g.tw), i = g.ty0 + (int)(idx / g.tw % g.th), b = (int)(idx / g.tw / g.th);
        const double rinv = tile_rinv(g, b, i, j), mu = g.mu[rindex(g, b, i, j)];
        const float *px = xat(g, x, b, i, j);
        float *po = out + idx * (size_t)g.M; /* idx is (b, i - ty0, j - tx0) row-major */
        for (int k = 0; k < g.M; k++)
            po[k] = (float)(((double)px[k] - mu) * rinv);
    }
}

/* backward, on T: rinv and w2 = -1/2 r^3 sum_m dout (x - mu) / Z */
__global__ void lcn_bwd_tile(LcnGeo g, const float *__restrict__ x, const float *__restrict__ dout, size_t n)
{
    CN_FOR_EACH(idx, n)
    {
        const int j = g.tx0 + (int)(idx % g.tw), i = g.ty0 + (int)(idx / g.tw % g.th), b = (int)(idx / g.tw / g.th);
        const double r = tile_rinv(g, b, i, j), mu = g.mu[rindex(g, b, i, j)];
        const float *px = xat(g, x, b, i, j);
        const float *gb = dout + idx * (size_t)g.M;
        double s = 0;
        for (int k = 0; k < g.M; k++)
            s += (double)gb[k] * ((double)px[k] - mu);
        g.rinv[idx] = r;
        g.w2[idx] = -0.5 * r * r * r * s / geo_z(g, i, j);
    }
}

/* backward, on R: dq = sum over tile outputs near (p, l) of g * w2, then w1 = -sum_k dv / Z */
__global__ void lcn_bwd_r(LcnGeo g, const float *__restrict__ x, const float *__restrict__ dout, size_t n)
{
    CN_FOR_EACH(idx, n)
    {
        const int l = g.rx0 + (int)(idx % g.rw), p = g.ry0 + (int)(idx / g.rw % g.rh), b = (int)(idx / g.rw / g.rh);
        const double *w2 = g.w2 + (size_t)b * g.th * g.tw;
        double s = 0;
        #pragma unroll 1
        for (int i = cn_imax(g.ty0, p - g.hy); i <= cn_imin(g.ty1 - 1, p + g.hy); i++) {
            double ra = 0;
            #pragma unroll 1
            for (int j = cn_imax(g.tx0, l - g.hx); j <= cn_imin(g.tx1 - 1, l + g.hx); j++)
                ra += g.ex[j - l + g.hx] * w2[(size_t)(i - g.ty0) * g.tw + (size_t)(j - g.tx0)];
            s += g.ey[i - p + g.hy] * ra;
        }
        const double dq = s, mu = g.mu[idx];
        const int in_tile = p >= g.ty0 && p < g.ty1 && l >= g.tx0 && l < g.tx1;
        const size_t it = in_tile ? ((size_t)b * g.th + (size_t)(p - g.ty0)) * g.tw + (size_t)(l - g.tx0) : 0;
        const float *px = xat(g, x, b, p, l);
        double sum = 0;
        for (int k = 0; k < g.M; k++) {
            double dv = 2.0 * ((double)px[k] - mu) * dq;
            if (in_tile)
                dv += (double)dout[it * g.M + k] * g.rinv[it];
            sum += dv;
        }
        g.dq[idx] = dq;
        g.w1[idx] = -sum / geo_z(g, p, l);
    }
}

/* backward, on N: dx += (through mu) + (through v^2) + (direct) */
__global__ void lcn_bwd_n(LcnGeo g, const float *__restrict__ x, const float *__restrict__ dout,
                          float *__restrict__ dx, size_t n)
{
    const int nh = g.ny1 - g.ny0, nw = g.nx1 - g.nx0;
    CN_FOR_EACH(idx, n)
    {
        const int w = g.nx0 + (int)(idx % nw), u = g.ny0 + (int)(idx / nw % nh), b = (int)(idx / nw / nh);
        const double *w1 = g.w1 + (size_t)b * g.rh * g.rw;
        double base = 0;
        #pragma unroll 1
        for (int p = cn_imax(g.ry0, u - g.hy); p <= cn_imin(g.ry1 - 1, u + g.hy); p++) {
            double ra = 0;
            #pragma unroll 1
            for (int l = cn_imax(g.rx0, w - g.hx); l <= cn_imin(g.rx1 - 1, w + g.hx); l++)
                ra += g.ex[l - w + g.hx] * w1[(size_t)(p - g.ry0) * g.rw + (size_t)(l - g.rx0)];
            base += g.ey[p - u + g.hy] * ra;
        }
        const int in_r = u >= g.ry0 && u < g.ry1 && w >= g.rx0 && w < g.rx1;
        const int in_tile = u >= g.ty0 && u < g.ty1 && w >= g.tx0 && w < g.tx1;
        const size_t ir = in_r ? rindex(g, b, u, w) : 0;
        const size_t it = in_tile ? ((size_t)b * g.th + (size_t)(u - g.ty0)) * g.tw + (size_t)(w - g.tx0) : 0;
        const float *px = xat(g, x, b, u, w);
        float *pd = dx + (px - x);
        for (int k = 0; k < g.M; k++) {
            double t = base;
            if (in_r)
                t += 2.0 * ((double)px[k] - g.mu[ir]) * g.dq[ir];
            if (in_tile)
                t += (double)dout[it * g.M + k] * g.rinv[it];
            pd[k] += (float)t;
        }
    }
}

/* Checks, geometry and scratch (freed by release()). */
int lcn_setup(const char *op, const lcn_dims *d, const void *a, const void *b, const void *c, int backward,
              cudaStream_t stream, LcnGeo *g)
{
    if (lcn_check(d) != CN_OK)
        return CN_EINVAL;
    if (!a || !b || !c)
        return cn_set_error("%s: NULL array", op);
    LcnGeo z = {};
    z.B = d->B; z.M = d->M; z.H = d->H; z.W = d->W;
    z.wy0 = d->wy0; z.wx0 = d->wx0; z.wh = d->wh; z.ww = d->ww;
    z.ty0 = d->ty0; z.tx0 = d->tx0; z.th = d->th; z.tw = d->tw;
    const int h = (d->n - 1) / 2;
    z.hy = cn_imin(h, d->H - 1);
    z.hx = cn_imin(h, d->W - 1);
    z.ty1 = d->ty0 + d->th;
    z.tx1 = d->tx0 + d->tw;
    z.ry0 = cn_imax(d->ty0 - z.hy, 0);
    z.ry1 = cn_imin(z.ty1 + z.hy, d->H);
    z.rx0 = cn_imax(d->tx0 - z.hx, 0);
    z.rx1 = cn_imin(z.tx1 + z.hx, d->W);
    z.ny0 = cn_imax(d->ty0 - 2 * z.hy, 0);
    z.ny1 = cn_imin(z.ty1 + 2 * z.hy, d->H);
    z.nx0 = cn_imax(d->tx0 - 2 * z.hx, 0);
    z.nx1 = cn_imin(z.tx1 + 2 * z.hx, d->W);
    z.rh = z.ry1 - z.ry0;
    z.rw = z.rx1 - z.rx0;
    z.eps = (double)d->eps;
    z.s2 = 2.0 * (double)d->sigma * (double)d->sigma;
    const size_t B = (size_t)d->B, win = (size_t)d->wh * (size_t)d->ww, r = (size_t)z.rh * (size_t)z.rw;
    const size_t t = (size_t)d->th * (size_t)d->tw;
    const size_t ne = (size_t)(2 * z.hy + 1) + (size_t)(2 * z.hx + 1) + (size_t)z.rh + (size_t)z.rw;
    const size_t total = ne + B * win + B * r * (backward ? 4 : 2) + (backward ? 2 * B * t : 0);
    double *p = (double *)cn_scratch_alloc(total * sizeof(double), stream);
    z.ey = p; p += 2 * z.hy + 1;
    z.ex = p; p += 2 * z.hx + 1;
    z.zr = p; p += z.rh;
    z.zc = p; p += z.rw;
    z.xs = p; p += B * win;
    z.mu = p; p += B * r;
    z.q = p; p += B * r;
    if (backward) {
        z.dq = p; p += B * r;
        z.w1 = p; p += B * r;
        z.rinv = p; p += B * t;
        z.w2 = p;
    }
    *g = z;
    return CN_OK;
}

/* tables, xs on N, mu and q on R */
void lcn_common(const LcnGeo &g, const float *x, cudaStream_t stream)
{
    const size_t nt = (size_t)cn_imax(cn_imax(2 * g.hy + 1, 2 * g.hx + 1), cn_imax(g.rh, g.rw));
    CN_LAUNCH(lcn_tables, cn_grid_1d(nt, 128), 128, stream, g, nt);
    const size_t nn = (size_t)g.B * (size_t)(g.ny1 - g.ny0) * (size_t)(g.nx1 - g.nx0);
    CN_LAUNCH(lcn_xsum, cn_grid_1d(nn, 128), 128, stream, g, x, nn);
    const size_t nr = (size_t)g.B * (size_t)g.rh * (size_t)g.rw;
    CN_LAUNCH(lcn_moments, cn_grid_1d(nr, 128), 128, stream, g, x, nr);
}

} // namespace

extern "C" int lcn_forward_cuda(const lcn_dims *d, const float *x, float *out, cudaStream_t stream)
{
    LcnGeo g;
    if (lcn_setup("lcn_forward_cuda", d, x, out, out, 0, stream, &g) != CN_OK)
        return CN_EINVAL;
    lcn_common(g, x, stream);
    const size_t nt = (size_t)g.B * (size_t)g.th * (size_t)g.tw;
    CN_LAUNCH(lcn_out, cn_grid_1d(nt, 128), 128, stream, g, x, out, nt);
    cn_scratch_free(g.ey, stream);
    return CN_OK;
}

extern "C" int lcn_backward_cuda(const lcn_dims *d, const float *x, const float *dout, float *dx,
                                 cudaStream_t stream)
{
    LcnGeo g;
    if (lcn_setup("lcn_backward_cuda", d, x, dout, dx, 1, stream, &g) != CN_OK)
        return CN_EINVAL;
    lcn_common(g, x, stream);
    const size_t nt = (size_t)g.B * (size_t)g.th * (size_t)g.tw;
    CN_LAUNCH(lcn_bwd_tile, cn_grid_1d(nt, 128), 128, stream, g, x, dout, nt);
    const size_t nr = (size_t)g.B * (size_t)g.rh * (size_t)g.rw;
    CN_LAUNCH(lcn_bwd_r, cn_grid_1d(nr, 128), 128, stream, g, x, dout, nr);
    const size_t nn = (size_t)g.B * (size_t)(g.ny1 - g.ny0) * (size_t)(g.nx1 - g.nx0);
    CN_LAUNCH(lcn_bwd_n, cn_grid_1d(nn, 128), 128, stream, g, x, dout, dx, nn);
    cn_scratch_free(g.ey, stream);
    return CN_OK;
}
