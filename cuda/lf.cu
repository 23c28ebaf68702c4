/* lf.cu: the local filter on the GPU (twins of src/lf_ref.c; formulas in docs/MODEL.md).
 *
 * Every output location (i, j) has its own filters, so each location is a small dense product and a
 * thread block computes a tile of one location's product (cuda/lf_tile.cuh):
 *   forward          rows = samples b, columns = maps m, reduction over the field k = (dy, dx, c):
 *                    Y[b, m] = sum_k X[b, k] W[m, k];  one block per (location, 64 samples, maps);
 *   backward filter  rows = field k, columns = maps m, reduction over the samples b:
 *                    dW[m, k] += sum_b X[b, k] dY[b, m];  one block per (location, 64 of k, maps);
 *   backward data    gather, no atomics: one block per (input position (u, v), 64 samples, channels)
 *                    sums over every output (i, j, m) of the region whose field covers (u, v):
 *                    dX[b, c] += sum_(i,j,m) dY[b, (i,j,m)] W[(i,j,m), (u - i s, v - j s, c)].
 * Each output element is written by one thread, once, and every sum runs in a fixed order: the results
 * do not change from run to run. The field's offsets inside x (k -> dy * Wx * C + (dx * C + c)) are
 * computed once per chunk into a shared table, so the loads do no division. FP32 with FMA. */
#include "cuda/internal.h"
#include "cuda/lf_tile.cuh"
#include "cuda/ops_cuda.h"

namespace cnlf {

/* Geometry of one call, by value to every kernel. Per-sample sizes fit in int (checked on the host). */
struct Geo {
    int B, Hx, Wx, C, Ho, Wo, M, r, s;
    int K;          /* r * r * C: one filter */
    int rC;         /* r * C: one row of a field, contiguous in x and in w */
    int i0, j0, nj; /* region origin and width */
    long long xs;   /* Hx * Wx * C: one sample of x */
    long long ys;   /* Ho * Wo * M: one sample of y */
};

/* Offset of field element k inside x, from the field's corner. */
__device__ __forceinline__ int field_off(const Geo &g, int k)
{
    const int ky = k / g.rC;
    return ky * g.Wx * g.C + (k - ky * g.rC);
}

/* ---- forward: y[b,i,j,m] = sum_k x[b, field(i,j) + k] w[i,j,m,k] ---------------------------------- */
template <class G>
__global__ void __launch_bounds__(G::NT) lf_fwd_kernel(Geo g, const float *__restrict__ x,
                                                      const float *__restrict__ w, float *__restrict__ y)
{
    __shared__ Tiles<G> sm;
    __shared__ int tab[G::KS][G::TT];
    const Who<G> me;
    const int loc = (int)blockIdx.x, i = g.i0 + loc / g.nj, j = g.j0 + loc % g.nj;
    const int b0 = (int)blockIdx.y * G::TR, m0 = (int)blockIdx.z * G::TC;
    const long long xorg = ((long long)i * g.s * g.Wx + (long long)j * g.s) * g.C;
    const long long worg = ((long long)i * g.Wo + j) * g.M * (long long)g.K;
    float acc[G::RR][G::RC] = {};
    const int nchunk = (g.K + G::TT - 1) / G::TT;
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        const int t0 = (c0 + me.slice) * G::TT; /* past K: this slice loads zeros */
        for (int e = me.lid; e < G::TT; e += G::NTS) {
            const int k = t0 + e;
            tab[me.slice][e] = k < g.K ? field_off(g, k) : -1;
        }
        __syncthreads();
        for (int e = me.lid; e < G::TT * G::TR; e += G::NTS) { /* k fastest: coalesced along a field row */
            const int tt = e % G::TT, rr = e / G::TT, b = b0 + rr, off = tab[me.slice][tt];
            sm.A[me.slice][tt][rr] = (off >= 0 && b < g.B) ? x[b * g.xs + xorg + off] : 0.0f;
        }
        for (int e = me.lid; e < G::TT * G::TC; e += G::NTS) { /* k fastest: one filter is contiguous */
            const int tt = e % G::TT, cc = e / G::TT, k = t0 + tt, m = m0 + cc;
            sm.B[me.slice][tt][cc] = (k < g.K && m < g.M) ? w[worg + (long long)m * g.K + k] : 0.0f;
        }
        __syncthreads();
        tile_mma<G>(sm, me, acc);
    }
    tile_reduce<G>(sm, me, acc);
    if (me.slice == 0) {
        const long long yorg = ((long long)i * g.Wo + j) * g.M;
#pragma unroll
        for (int q = 0; q < G::RR; q++)
#pragma unroll
            for (int p = 0; p < G::RC; p++) {
                const int b = b0 + me.tr + q * G::NTR, m = m0 + me.tc + p * G::NTC;
                if (b < g.B && m < g.M)
                    y[b * g.ys + yorg + m] = acc[q][p];
            }
    }
}

/* ---- backward filter: dw[i,j,m,k] += sum_b dy[b,i,j,m] x[b, field(i,j) + k] ---------------------------
 * SGD = true: no gradient buffer, w[i,j,m,k] -= lr * (that sum + wd * w[i,j,m,k]) instead. */
template <class G, bool SGD>
__global__ void __launch_bounds__(G::NT) lf_bwf_kernel(Geo g, const float *__restrict__ x,
                                                      const float *__restrict__ gy, float *__restrict__ out,
                                                      float lr, float wd)
{
    __shared__ Tiles<G> sm;
    __shared__ int koff[G::TR];
    const Who<G> me;
    const int loc = (int)blockIdx.x, i = g.i0 + loc / g.nj, j = g.j0 + loc % g.nj;
    const int k0 = (int)blockIdx.y * G::TR, m0 = (int)blockIdx.z * G::TC;
    const long long xorg = ((long long)i * g.s * g.Wx + (long long)j * g.s) * g.C;
    const long long yorg = ((long long)i * g.Wo + j) * g.M;
    const long long worg = yorg * (long long)g.K;
    for (int e = (int)threadIdx.x; e < G::TR; e += G::NT) {
        const int k = k0 + e;
        koff[e] = k < g.K ? field_off(g, k) : -1;
    }
    __syncthreads();
    float acc[G::RR][G::RC] = {};
    const int nchunk = (g.B + G::TT - 1) / G::TT;
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        const int bb0 = (c0 + me.slice) * G::TT;
        for (int e = me.lid; e < G::TT * G::TR; e += G::NTS) { /* k fastest */
            const int rr = e % G::TR, tt = e / G::TR, b = bb0 + tt, off = koff[rr];
            sm.A[me.slice][tt][rr] = (off >= 0 && b < g.B) ? x[b * g.xs + xorg + off] : 0.0f;
        }
        for (int e = me.lid; e < G::TT * G::TC; e += G::NTS) { /* m fastest */
            const int cc = e % G::TC, tt = e / G::TC, b = bb0 + tt, m = m0 + cc;
            sm.B[me.slice][tt][cc] = (b < g.B && m < g.M) ? gy[b * g.ys + yorg + m] : 0.0f;
        }
        __syncthreads();
        tile_mma<G>(sm, me, acc);
        __syncthreads();
    }
    tile_reduce<G>(sm, me, acc);
    if (me.slice == 0) {
#pragma unroll
        for (int p = 0; p < G::RC; p++)
#pragma unroll
            for (int q = 0; q < G::RR; q++) {
                const int k = k0 + me.tr + q * G::NTR, m = m0 + me.tc + p * G::NTC;
                if (k < g.K && m < g.M) {
                    float *o = out + worg + (long long)m * g.K + k;
                    if (SGD) {
                        const float wv = *o;
                        *o = wv - lr * (acc[q][p] + wd * wv);
                    } else {
                        *o += acc[q][p];
                    }
                }
            }
    }
}

/* ---- backward data (gather): dx[b,u,v,c] += sum over covering (i,j) in the region and m of
 *      w[i,j,m,u-i*s,v-j*s,c] * dy[b,i,j,m]. Input positions: [u0, u0 + nu) x [v0, v0 + nv). ------------ */
template <class G>
__global__ void __launch_bounds__(G::NT) lf_bwd_kernel(Geo g, int ni, int u0, int v0, int nv,
                                                      const float *__restrict__ w,
                                                      const float *__restrict__ gy, float *__restrict__ dx)
{
    __shared__ Tiles<G> sm;
    __shared__ int tdy[G::KS][G::TT];
    __shared__ long long tw[G::KS][G::TT];
    const Who<G> me;
    const int pos = (int)blockIdx.x, u = u0 + pos / nv, v = v0 + pos % nv;
    const int b0 = (int)blockIdx.y * G::TR, cb0 = (int)blockIdx.z * G::TC;
    /* outputs whose field covers (u, v): 0 <= u - i*s < r, i in the region */
    const int ilo = cn_imax(g.i0, cn_ceildiv(u - g.r + 1, g.s)), ihi = cn_imin(g.i0 + ni - 1, u / g.s);
    const int jlo = cn_imax(g.j0, cn_ceildiv(v - g.r + 1, g.s)), jhi = cn_imin(g.j0 + g.nj - 1, v / g.s);
    const int nci = cn_imax(0, ihi - ilo + 1), ncj = cn_imax(0, jhi - jlo + 1);
    const int T = nci * ncj * g.M;
    float acc[G::RR][G::RC] = {};
    const int nchunk = (T + G::TT - 1) / G::TT;
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        const int t0 = (c0 + me.slice) * G::TT;
        for (int e = me.lid; e < G::TT; e += G::NTS) {
            const int t = t0 + e;
            if (t < T) {
                const int m = t % g.M, q = t / g.M, jj = jlo + q % ncj, ii = ilo + q / ncj;
                const int lin = (ii * g.Wo + jj) * g.M + m;
                tdy[me.slice][e] = lin;
                tw[me.slice][e] = (long long)lin * g.K + ((u - ii * g.s) * g.r + (v - jj * g.s)) * g.C;
            } else {
                tdy[me.slice][e] = -1;
                tw[me.slice][e] = -1;
            }
        }
        __syncthreads();
        for (int e = me.lid; e < G::TT * G::TR; e += G::NTS) { /* t fastest: runs of M maps */
            const int tt = e % G::TT, rr = e / G::TT, b = b0 + rr, off = tdy[me.slice][tt];
            sm.A[me.slice][tt][rr] = (off >= 0 && b < g.B) ? gy[b * g.ys + off] : 0.0f;
        }
        for (int e = me.lid; e < G::TT * G::TC; e += G::NTS) { /* c fastest */
            const int cc = e % G::TC, tt = e / G::TC, c = cb0 + cc;
            const long long off = tw[me.slice][tt];
            sm.B[me.slice][tt][cc] = (off >= 0 && c < g.C) ? w[off + c] : 0.0f;
        }
        __syncthreads();
        tile_mma<G>(sm, me, acc);
    }
    tile_reduce<G>(sm, me, acc);
    if (me.slice == 0 && T > 0) {
        const long long xorg = ((long long)u * g.Wx + v) * g.C;
#pragma unroll
        for (int q = 0; q < G::RR; q++)
#pragma unroll
            for (int p = 0; p < G::RC; p++) {
                const int b = b0 + me.tr + q * G::NTR, c = cb0 + me.tc + p * G::NTC;
                if (b < g.B && c < g.C)
                    dx[b * g.xs + xorg + c] += acc[q][p];
            }
    }
}

/* ---- host side ------------------------------------------------------------------------------------- */

/* Checks as the reference does, then the kernels' own limits; fills g. */
static int prepare(const char *op, const lf_dims *d, cn_region rg, int arrays_given, Geo *g)
{
    if (lf_check_call(op, d, rg, arrays_given) != CN_OK)
        return CN_EINVAL;
    const long long lim = 2147483647LL;
    long long xs = (long long)d->Hx * d->Wx * d->C, ys = (long long)d->Ho * d->Wo * d->M;
    long long K = (long long)d->r * d->r * d->C;
    if (xs > lim || ys > lim || K * d->M > lim || (d->B + 63) / 64 > (long long)CN_GRID_YZ_MAX ||
        (K + 63) / 64 > (long long)CN_GRID_YZ_MAX)
        return cn_set_error("%s: sizes beyond the CUDA kernels' limits (one sample of x or y, or one "
                            "location's filters, above 2^31 floats; or B = %d too large)", op, d->B);
    *g = Geo{d->B, d->Hx, d->Wx, d->C, d->Ho, d->Wo, d->M, d->r, d->s, (int)K, d->r * d->C,
             rg.i0, rg.j0, rg.j1 - rg.j0, xs, ys};
    return CN_OK;
}

static dim3 grid3(long long x, long long y, long long z) { return dim3((unsigned)x, (unsigned)y, (unsigned)z); }

template <class G>
static void launch_fwd(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    auto kern = &lf_fwd_kernel<G>;
    const dim3 grid = grid3((long long)ni * g.nj, (g.B + G::TR - 1) / G::TR, (g.M + G::TC - 1) / G::TC);
    CN_LAUNCH(kern, grid, dim3(G::NT), st, g, x, w, y);
}

template <class G, bool SGD>
static void launch_bwf(const Geo &g, int ni, const float *x, const float *gy, float *out, float lr, float wd,
                       cudaStream_t st)
{
    auto kern = &lf_bwf_kernel<G, SGD>;
    const dim3 grid = grid3((long long)ni * g.nj, (g.K + G::TR - 1) / G::TR, (g.M + G::TC - 1) / G::TC);
    CN_LAUNCH(kern, grid, dim3(G::NT), st, g, x, gy, out, lr, wd);
}

template <class G>
static void launch_bwd(const Geo &g, int ni, const float *w, const float *gy, float *dx, cudaStream_t st)
{
    auto kern = &lf_bwd_kernel<G>;
    /* the inputs the region's fields reach */
    const int u0 = g.i0 * g.s, v0 = g.j0 * g.s, nu = (ni - 1) * g.s + g.r, nv = (g.nj - 1) * g.s + g.r;
    const dim3 grid = grid3((long long)nu * nv, (g.B + G::TR - 1) / G::TR, (g.C + G::TC - 1) / G::TC);
    CN_LAUNCH(kern, grid, dim3(G::NT), st, g, ni, u0, v0, nv, w, gy, dx);
}

/* The block tile whose column count fits n columns best. */
#define CN_LF_DISPATCH(n, launch, ...)                                                                  \
    do {                                                                                                \
        if ((n) <= 4)                                                                                   \
            launch<Cfg4>(__VA_ARGS__);                                                                  \
        else if ((n) <= 8)                                                                              \
            launch<Cfg8>(__VA_ARGS__);                                                                  \
        else if ((n) <= 16)                                                                             \
            launch<Cfg16>(__VA_ARGS__);                                                                 \
        else                                                                                            \
            launch<Cfg32>(__VA_ARGS__);                                                                 \
    } while (0)

template <class G>
static void launch_bwf_add(const Geo &g, int ni, const float *x, const float *gy, float *dw, cudaStream_t st)
{
    launch_bwf<G, false>(g, ni, x, gy, dw, 0.0f, 0.0f, st);
}

template <class G>
static void launch_bwf_sgd(const Geo &g, int ni, const float *x, const float *gy, float *w, float lr, float wd,
                           cudaStream_t st)
{
    launch_bwf<G, true>(g, ni, x, gy, w, lr, wd, st);
}

} // namespace cnlf

using namespace cnlf;

extern "C" int lf_forward_cuda(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg,
                               cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_forward_cuda", d, rg, x && w && y, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    CN_LF_DISPATCH(g.M, launch_fwd, g, ni, x, w, y, stream);
    return CN_OK;
}

extern "C" int lf_backward_data_cuda(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg,
                                     cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_data_cuda", d, rg, w && dy && dx, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    CN_LF_DISPATCH(g.C, launch_bwd, g, ni, w, dy, dx, stream);
    return CN_OK;
}

extern "C" int lf_backward_filter_cuda(const lf_dims *d, const float *x, const float *dy, float *dw,
                                       cn_region rg, cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_filter_cuda", d, rg, x && dy && dw, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    CN_LF_DISPATCH(g.M, launch_bwf_add, g, ni, x, dy, dw, stream);
    return CN_OK;
}

extern "C" int lf_backward_fused_sgd_cuda(const lf_dims *d, const float *x, float *w, const float *dy, float *dx,
                                          float lr, float wd, cn_region rg, cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_fused_sgd_cuda", d, rg, x && w && dy, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    if (dx) /* first, from the filters as they are */
        CN_LF_DISPATCH(g.C, launch_bwd, g, ni, w, dy, dx, stream);
    CN_LF_DISPATCH(g.M, launch_bwf_sgd, g, ni, x, dy, w, lr, wd, stream); /* then update them, in stream order */
    return CN_OK;
}
