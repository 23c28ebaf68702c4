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
#include "cuda/lf_geo.cuh"
#include "cuda/lf_t4.h"
#include "cuda/lf_tile.cuh"
#include "cuda/ops_cuda.h"

#include <type_traits>

namespace cnlf {

/* The forward and backward-filter kernels stage each chunk of the reduction through registers: a
 * thread first loads its share of the chunk from global memory into registers (NA values of A, NB of
 * B; every trip count a compile-time constant, so the loads are issued back to back), then stores them
 * to shared memory; the loads of the NEXT chunk are issued before the products of the current one, so
 * global latency overlaps the arithmetic (Nsight Compute on an H100, 2026-11-27: with load-then-store
 * per element, warps stalled on global loads for 54% of the cycles at 25% occupancy). */
template <class G>
struct Stage {
    static constexpr int NA = (G::TT * G::TR + G::NTS - 1) / G::NTS; /* A values per thread per chunk */
    static constexpr int NB = (G::TT * G::TC + G::NTS - 1) / G::NTS; /* B values */
};

/* Element e = lid + n * NTS (0 <= lid < NTS) of a tile whose fastest index runs over D: e % D and e / D
 * without a division per element, when one of NTS and D divides the other (every Cfg: D and NTS are
 * powers of two). */
template <int NTS, int D>
__device__ __forceinline__ void split(int lid, int n, int &mod, int &div)
{
    static_assert(NTS % D == 0 || D % NTS == 0, "NTS and D: one must divide the other");
    if constexpr (NTS % D == 0) {
        mod = lid % D;
        div = lid / D + n * (NTS / D);
    } else {
        mod = lid + (n % (D / NTS)) * NTS;
        div = n / (D / NTS);
    }
}

/* A thread's staged values of one chunk into a shared [TT][W] tile: value n is element
 * e = lid + n * NTS of the chunk as the kernel's fetch took it, split over D (the loads' fastest index).
 * T_FAST: e % D is the reduction index t and e / D the row (or column) x, else the other way round;
 * elements past TT or past X_LIM rows (columns) are not stored. */
template <class G, int D, bool T_FAST, int X_LIM, int N, int W>
__device__ __forceinline__ void stage_store(float (&tile)[G::TT][W], const float (&v)[N], int lid)
{
#pragma unroll
    for (int n = 0; n < N; n++) {
        int mod, div;
        split<G::NTS, D>(lid, n, mod, div);
        const int t = T_FAST ? mod : div, x = T_FAST ? div : mod;
        if (t < G::TT && x < X_LIM)
            tile[t][x] = v[n];
    }
}

/* ---- forward: y[b,i,j,m] = sum_k x[b, field(i,j) + k] w[i,j,m,k] ----------------------------------
 * A[t][row] = x[b0 + row, field + k], B[t][col] = w[m0 + col, k], k = chunk * TT + t. */
template <class G>
__global__ void __launch_bounds__(G::NT, G::MINB) lf_fwd_kernel(Geo g, const float *__restrict__ x,
                                                      const float *__restrict__ w, float *__restrict__ y)
{
    __shared__ Tiles<G> sm;
    const Who<G> me;
    const int loc = (int)blockIdx.x, i = g.i0 + loc / g.nj, j = g.j0 + loc % g.nj;
    const int b0 = (int)blockIdx.y * G::TR, m0 = (int)blockIdx.z * G::TC;
    const long long xorg = ((long long)i * g.s * g.Wx + (long long)j * g.s) * g.C;
    const long long worg = ((long long)i * g.Wo + j) * g.M * (long long)g.K;
    constexpr int NA = Stage<G>::NA, NB = Stage<G>::NB;
    float ra[NA], rb[NB];
    const int nchunk = (g.K + G::TT - 1) / G::TT;
    /* this thread's elements of chunk c (past the last chunk or past K: zeros) */
    static_assert(G::NTS % G::TT == 0, "forward: a thread's elements share one k per chunk");
    const int tt = me.lid % G::TT, rq = me.lid / G::TT; /* element n: row (or column) rq + n * RS */
    constexpr int RS = G::NTS / G::TT;
    auto fetch = [&](int c) {
        const int k = c * G::TT + tt;
        const bool kin = c < nchunk && k < g.K;
        const float *px = x + (long long)(b0 + rq) * g.xs + xorg + (kin ? field_off(g, k) : 0);
        const float *pw = w + worg + (long long)(m0 + rq) * g.K + k;
#pragma unroll
        for (int n = 0; n < NA; n++) /* k fastest: coalesced along a field row */
            ra[n] = (rq + n * RS < G::TR && kin && b0 + rq + n * RS < g.B) ? px[(long long)(n * RS) * g.xs] : 0.0f;
#pragma unroll
        for (int n = 0; n < NB; n++) /* k fastest: one filter is contiguous */
            rb[n] = (rq + n * RS < G::TC && kin && m0 + rq + n * RS < g.M) ? pw[(long long)(n * RS) * g.K] : 0.0f;
    };
    float acc[G::RR][G::RC] = {};
    fetch(me.slice);
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        stage_store<G, G::TT, true, G::TR>(sm.A[me.slice], ra, me.lid);
        stage_store<G, G::TT, true, G::TC>(sm.B[me.slice], rb, me.lid);
        __syncthreads();
        if (c0 + G::KS < nchunk)
            fetch(c0 + G::KS + me.slice); /* in flight during the products below */
        tile_mma<G>(sm, me, acc);
        __syncthreads();
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
 * A[t][row] = x[b, field + k0 + row], B[t][col] = dy[b, m0 + col], b = chunk * TT + t.
 * SGD = true: no gradient buffer, w[i,j,m,k] -= lr * (that sum + wd * w[i,j,m,k]) instead. */
/* Backward filter: out += dW over the region's locations; with SGD, out is w and gets w -= lr (dW + wd w)
 * instead. A second pair (x2, gy2; SGD only, else NULL) adds its term to the same dW: the reduction
 * runs over 2B samples, b >= B taken from the second pair (a tied decoder's term, one update). */
template <class G, bool SGD>
__global__ void __launch_bounds__(G::NT, G::MINB) lf_bwf_kernel(Geo g, const float *__restrict__ x,
                                                      const float *__restrict__ gy, const float *__restrict__ x2,
                                                      const float *__restrict__ gy2, float *__restrict__ out,
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
    constexpr int NA = Stage<G>::NA, NB = Stage<G>::NB;
    float ra[NA], rb[NB];
    const int nb = (SGD && x2) ? 2 * g.B : g.B; /* samples of the reduction */
    const int nchunk = (nb + G::TT - 1) / G::TT;
    auto fetch = [&](int c) {
#pragma unroll
        for (int n = 0; n < NA; n++) { /* k fastest */
            int rr, tt;
            split<G::NTS, G::TR>(me.lid, n, rr, tt);
            const int b = c * G::TT + tt, off = koff[rr];
            const bool two = SGD && b >= g.B;
            const float *src = two ? x2 : x;
            const int bb = two ? b - g.B : b;
            ra[n] = (tt < G::TT && c < nchunk && off >= 0 && b < nb) ? src[(long long)bb * g.xs + xorg + off] : 0.0f;
        }
#pragma unroll
        for (int n = 0; n < NB; n++) { /* m fastest */
            int cc, tt;
            split<G::NTS, G::TC>(me.lid, n, cc, tt);
            const int b = c * G::TT + tt, m = m0 + cc;
            const bool two = SGD && b >= g.B;
            const float *src = two ? gy2 : gy;
            const int bb = two ? b - g.B : b;
            rb[n] = (tt < G::TT && c < nchunk && b < nb && m < g.M) ? src[(long long)bb * g.ys + yorg + m] : 0.0f;
        }
    };
    float acc[G::RR][G::RC] = {};
    fetch(me.slice);
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        stage_store<G, G::TR, false, G::TR>(sm.A[me.slice], ra, me.lid);
        stage_store<G, G::TC, false, G::TC>(sm.B[me.slice], rb, me.lid);
        __syncthreads();
        if (c0 + G::KS < nchunk)
            fetch(c0 + G::KS + me.slice);
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
__global__ void __launch_bounds__(G::NT, G::MINB) lf_bwd_kernel(Geo g, int ni, int u0, int v0, int nv,
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
    const int nchunk = (T + G::TT - 1) / G::TT;
    /* this slice's tables for chunk c: which dy and which w row each t of the chunk reads (-1: none) */
    auto table = [&](int c) {
        for (int e = me.lid; e < G::TT; e += G::NTS) {
            const int t = c * G::TT + e;
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
    };
    /* this thread's elements of the chunk the tables describe, into registers (as the forward does) */
    constexpr int NA = Stage<G>::NA, NB = Stage<G>::NB;
    float ra[NA], rb[NB];
    auto fetch = [&]() {
#pragma unroll
        for (int n = 0; n < NA; n++) { /* t fastest: runs of M maps */
            int tt, rr;
            split<G::NTS, G::TT>(me.lid, n, tt, rr);
            const int b = b0 + rr, off = tdy[me.slice][tt];
            ra[n] = (rr < G::TR && off >= 0 && b < g.B) ? gy[(long long)b * g.ys + off] : 0.0f;
        }
#pragma unroll
        for (int n = 0; n < NB; n++) { /* c fastest */
            int cc, tt;
            split<G::NTS, G::TC>(me.lid, n, cc, tt);
            const long long off = tt < G::TT ? tw[me.slice][tt] : -1;
            rb[n] = (off >= 0 && cb0 + cc < g.C) ? w[off + cb0 + cc] : 0.0f;
        }
    };
    float acc[G::RR][G::RC] = {};
    table(me.slice);
    __syncthreads();
    fetch();
    __syncthreads(); /* every thread has read the tables before the loop rewrites them */
    for (int c0 = 0; c0 < nchunk; c0 += G::KS) {
        stage_store<G, G::TT, true, G::TR>(sm.A[me.slice], ra, me.lid);
        stage_store<G, G::TC, false, G::TC>(sm.B[me.slice], rb, me.lid);
        const bool more = c0 + G::KS < nchunk; /* the same in every thread */
        if (more) /* every fetch of the tables' last chunk ended before the last barrier */
            table(c0 + G::KS + me.slice);
        __syncthreads();
        if (more)
            fetch(); /* in flight during the products below */
        tile_mma<G>(sm, me, acc);
        __syncthreads();
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

/* Scheme t4's own tiles of 4 and 8 columns: their forward and backward filter are cuda/lf_t4.cu's
 * kernels (lf.cu's are not compiled for them). (t4's backward data is lf.cu's, except where its group
 * kernel takes the shape: chosen by scheme and shape, not by tile width, in the callers below.) */
template <class G>
constexpr bool t4_own = std::is_same<G, TilesT4::C4>::value || std::is_same<G, TilesT4::C8>::value;

template <class G>
static void launch_fwd(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    if constexpr (t4_own<G>) {
        t4_forward(g, ni, x, w, y, st); /* cuda/lf_t4.cu */
    } else { /* discarded, so never compiled, for t4_own */
        auto kern = &lf_fwd_kernel<G>;
        const dim3 grid = grid3((long long)ni * g.nj, (g.B + G::TR - 1) / G::TR, (g.M + G::TC - 1) / G::TC);
        CN_LAUNCH(kern, grid, dim3(G::NT), st, g, x, w, y);
    }
}

template <class G, bool SGD>
static void launch_bwf(const Geo &g, int ni, const float *x, const float *gy, const float *x2, const float *gy2,
                       float *out, float lr, float wd, cudaStream_t st)
{
    if constexpr (t4_own<G>) {
        if (SGD)
            t4_backward_filter_sgd(g, ni, x, gy, x2, gy2, out, lr, wd, st);
        else
            t4_backward_filter(g, ni, x, gy, out, st);
    } else {
        auto kern = &lf_bwf_kernel<G, SGD>;
        const dim3 grid = grid3((long long)ni * g.nj, (g.K + G::TR - 1) / G::TR, (g.M + G::TC - 1) / G::TC);
        CN_LAUNCH(kern, grid, dim3(G::NT), st, g, x, gy, x2, gy2, out, lr, wd);
    }
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

/* The block tile of scheme F whose column count fits n columns best. */
#define CN_LF_WIDTH(F, n, launch, ...)                                                                  \
    do {                                                                                                \
        if ((n) <= 4)                                                                                   \
            launch<F::C4>(__VA_ARGS__);                                                                 \
        else if ((n) <= 8)                                                                              \
            launch<F::C8>(__VA_ARGS__);                                                                 \
        else if ((n) <= 16)                                                                             \
            launch<F::C16>(__VA_ARGS__);                                                                \
        else                                                                                            \
            launch<F::C32>(__VA_ARGS__);                                                                \
    } while (0)

/* ... of scheme `tiles` (LF_TILES_T32, T16 or T4). */
#define CN_LF_DISPATCH(tiles, n, launch, ...)                                                           \
    do {                                                                                                \
        if ((tiles) == LF_TILES_T16)                                                                    \
            CN_LF_WIDTH(TilesT16, n, launch, __VA_ARGS__);                                              \
        else if ((tiles) == LF_TILES_T4)                                                                \
            CN_LF_WIDTH(TilesT4, n, launch, __VA_ARGS__);                                               \
        else                                                                                            \
            CN_LF_WIDTH(TilesT32, n, launch, __VA_ARGS__);                                              \
    } while (0)

template <class G>
static void launch_bwf_add(const Geo &g, int ni, const float *x, const float *gy, float *dw, cudaStream_t st)
{
    launch_bwf<G, false>(g, ni, x, gy, nullptr, nullptr, dw, 0.0f, 0.0f, st);
}

template <class G>
static void launch_bwf_sgd(const Geo &g, int ni, const float *x, const float *gy, const float *x2, const float *gy2,
                           float *w, float lr, float wd, cudaStream_t st)
{
    launch_bwf<G, true>(g, ni, x, gy, x2, gy2, w, lr, wd, st);
}

} // namespace cnlf

using namespace cnlf;

/* The passes in a given scheme (cuda/internal.h); the public functions below run lf_cuda_tiles_for's. */
int cn_lf_forward(int tiles, const lf_dims *d, const float *x, const float *w, float *y, cn_region rg,
                  cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_forward_cuda", d, rg, x && w && y, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    CN_LF_DISPATCH(tiles, g.M, launch_fwd, g, ni, x, w, y, stream);
    return CN_OK;
}

int cn_lf_backward_data(int tiles, const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg,
                        cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_data_cuda", d, rg, w && dy && dx, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    if (tiles != LF_TILES_T4 || !t4_backward_data(g, ni, w, dy, dx, stream)) /* cuda/lf_t4.cu */
        CN_LF_DISPATCH(tiles, g.C, launch_bwd, g, ni, w, dy, dx, stream);
    return CN_OK;
}

int cn_lf_backward_filter(int tiles, const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg,
                          cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_filter_cuda", d, rg, x && dy && dw, &g) != CN_OK)
        return CN_EINVAL;
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    CN_LF_DISPATCH(tiles, g.M, launch_bwf_add, g, ni, x, dy, dw, stream);
    return CN_OK;
}

int cn_lf_backward_fused_sgd(int tiles_data, int tiles_filter, const lf_dims *d, const float *x, float *w,
                             const float *dy, float *dx, const float *x2, const float *dy2, float lr, float wd,
                             cn_region rg, cudaStream_t stream)
{
    Geo g;
    if (prepare("lf_backward_fused_sgd_cuda", d, rg, x && w && dy, &g) != CN_OK)
        return CN_EINVAL;
    if (!x2 != !dy2)
        return cn_set_error("lf_backward_fused_sgd_cuda: x2 and dy2 go together (both given or both NULL)");
    if (x2 && 2LL * d->B > 2147483647LL)
        return cn_set_error("lf_backward_fused_sgd_cuda: 2B = %lld samples beyond the kernel's int range",
                            2LL * d->B);
    const int ni = rg.i1 - rg.i0;
    if (ni == 0 || g.nj == 0)
        return CN_OK;
    if (dx && (tiles_data != LF_TILES_T4 || !t4_backward_data(g, ni, w, dy, dx, stream))) /* first, from */
        CN_LF_DISPATCH(tiles_data, g.C, launch_bwd, g, ni, w, dy, dx, stream); /* the filters as they are */
    /* then update, in stream order */
    CN_LF_DISPATCH(tiles_filter, g.M, launch_bwf_sgd, g, ni, x, dy, x2, dy2, w, lr, wd, stream);
    return CN_OK;
}

/* The scheme of pass on d (lf_cuda_tiles_for), or CN_EINVAL (a bad COTSNET_CUDA_LF_TILES, said there). */
#define CN_LF_TILES(var, d, pass)                                                                       \
    const int var = lf_cuda_tiles_for(d, pass);                                                        \
    if (var < 0)                                                                                        \
        return CN_EINVAL

extern "C" int lf_forward_cuda(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg,
                               cudaStream_t stream)
{
    CN_LF_TILES(tiles, d, LF_PASS_FORWARD);
    return cn_lf_forward(tiles, d, x, w, y, rg, stream);
}

extern "C" int lf_backward_data_cuda(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg,
                                     cudaStream_t stream)
{
    CN_LF_TILES(tiles, d, LF_PASS_BACKWARD_DATA);
    return cn_lf_backward_data(tiles, d, w, dy, dx, rg, stream);
}

extern "C" int lf_backward_filter_cuda(const lf_dims *d, const float *x, const float *dy, float *dw,
                                       cn_region rg, cudaStream_t stream)
{
    CN_LF_TILES(tiles, d, LF_PASS_BACKWARD_FILTER);
    return cn_lf_backward_filter(tiles, d, x, dy, dw, rg, stream);
}

extern "C" int lf_backward_fused_sgd_cuda(const lf_dims *d, const float *x, float *w, const float *dy, float *dx,
                                          const float *x2, const float *dy2, float lr, float wd, cn_region rg,
                                          cudaStream_t stream)
{
    CN_LF_TILES(td, d, LF_PASS_BACKWARD_DATA);
    CN_LF_TILES(tf, d, LF_PASS_BACKWARD_FILTER);
    return cn_lf_backward_fused_sgd(td, tf, d, x, w, dy, dx, x2, dy2, lr, wd, rg, stream);
}
