/* lf_t4.cu: tile scheme t4's forward and backward filter at up to 8 maps per block (the others and
 * the backward data are cuda/lf.cu's). Same sums as lf.cu's kernels (formulas there and in
 * docs/MODEL.md), with fewer shared-memory instructions per product:
 *
 *  - each thread keeps an 8 x TC register tile (TC = 4 or 8 maps) and reads its operands from shared
 *    memory 16 bytes at a time (ld4): the forward reads 4 reduction steps of a sample in one LDS.128,
 *    the backward filter 4 neighbouring rows (filter elements) of one step; 16 LDS.128 per 256 FMAs
 *    (forward) and 4 per 64 (backward filter) at 8 maps, against 8 scalar loads per 16 in t16;
 *  - the chunks come from global memory by cp.async (cuda/vec_mem.cuh) into two buffers, the next
 *    chunk in flight while the current one is used: no register staging (t4's old forward and backward
 *    filter spent as many load and store instructions staging a chunk as reading it), 16 bytes per
 *    copy where C % 4 == 0 (4 consecutive field elements are then contiguous and aligned), else 4;
 *  - the reduction is split into slices of threads (forward: 16 slices over k; backward filter: 4 over
 *    the samples), each summing its chunks in order; at the end the slices' partial sums are added in
 *    slice order through shared memory. Every sum runs in a fixed order: bitwise reproducible.
 * Bank conflicts: a quarter warp (8 threads: what one LDS.128 serves at a time) reads 8 consecutive
 * 16-byte pieces, or one piece (broadcast). */
#include "cuda/internal.h"
#include "cuda/lf_geo.cuh"
#include "cuda/lf_t4.h"
#include "cuda/vec_mem.cuh"

#include <stdint.h>

namespace cnlf {

using cnvm::cp_async16;
using cnvm::cp_async4;
using cnvm::cp_async_commit;
using cnvm::cp_async_wait;
using cnvm::F4;
using cnvm::ld4;

/* ---- forward: y[b,i,j,m] = sum_k x[b, field(i,j) + k] w[i,j,m,k] --------------------------------------
 * Block: one location, 64 samples (b0 + row), TC maps (m0 + m). 16 slices of 8 threads; round n of the
 * loop covers k = 64 n .. 64 n + 63, slice s its chunk k = 64 n + 4 s + t (t < 4). Thread tr of a
 * slice: samples tr + 8 q (q < 8). Per buffer and slice: A[row][t] (x, 64 x 4) and Bw[m][t] (w, TC x 4),
 * slices 4 floats apart in banks (SL % 32 == 4). The whole block copies a round together, consecutive
 * threads taking consecutive k of one sample (one thread per slice's chunk: 256 contiguous bytes per
 * sample and round; when each slice copied its own chunk, a warp's copy touched 8 samples at 64 bytes
 * each, and the forward ran at half the backward filter's rate on an H100). */
namespace fwd4 {
constexpr int TR = 64, NTR = 8, KS = 16, NT = KS * NTR, TT = 4, KR = KS * TT; /* KR: k per round */
template <int TC>
struct Sizes {
    static constexpr int SA = TR * TT, RAW = SA + TC * TT;
    static constexpr int SL = RAW + (4 - RAW % 32 + 32) % 32; /* floats per slice and buffer */
    static constexpr int RS = TR * (TC + 1) + 8;               /* one slice's sums: rows padded; 8 banks on */
    static constexpr int BUF = 2 * KS * SL, RED = KS * RS;
    static constexpr int N = BUF > RED ? BUF : RED;
    static_assert(SL % 32 == 4 && SL % 4 == 0, "slices 16 bytes apart in banks, each 16-byte aligned");
};
} // namespace fwd4

template <int TC, bool VX, bool VW>
__global__ void __launch_bounds__(fwd4::NT, 4) lf_fwd4_kernel(Geo g, const float *__restrict__ x,
                                                              const float *__restrict__ w, float *__restrict__ y)
{
    using namespace fwd4;
    using S = Sizes<TC>;
    __shared__ __align__(16) float sm[S::N];
    const int tid = (int)threadIdx.x, slice = tid / NTR, tr = tid % NTR;
    const int loc = (int)blockIdx.x, i = g.i0 + loc / g.nj, j = g.j0 + loc % g.nj;
    const int b0 = (int)blockIdx.y * TR, m0 = (int)blockIdx.z * TC;
    const long long xorg = ((long long)i * g.s * g.Wx + (long long)j * g.s) * g.C;
    const long long worg = ((long long)i * g.Wo + j) * g.M * (long long)g.K;
    const int nround = (g.K + KR - 1) / KR;
    /* round n into buffer buf, by the whole block (past K, B or M: zeros) */
    auto issue = [&](int n, int buf) {
        float *base = sm + buf * KS * S::SL;
        if (VX) { /* piece p = tid + 128 e: sample p / 16, the 4 k of slice p % 16 (K % 4 == 0) */
            const int sl = tid % KS, k = n * KR + sl * TT, row0 = tid / KS;
            const bool kin = k < g.K;
            const float *px = x + (long long)(b0 + row0) * g.xs + xorg + (kin ? field_off(g, k) : 0);
#pragma unroll
            for (int e = 0; e < TR * KS / NT; e++, px += (NT / KS) * g.xs) {
                const int row = row0 + e * (NT / KS);
                const bool ok = kin && b0 + row < g.B;
                cp_async16(base + sl * S::SL + row * TT, ok ? px : x, ok);
            }
        } else { /* element tid + 128 e: sample tid / 64 + 2 e, k = 64 n + tid % 64 */
            const int kk = tid % KR, k = n * KR + kk, row0 = tid / KR;
            const bool kin = k < g.K;
            const float *px = x + (long long)(b0 + row0) * g.xs + xorg + (kin ? field_off(g, k) : 0);
            float *dst = base + (kk / TT) * S::SL + kk % TT;
#pragma unroll 4
            for (int e = 0; e < TR * KR / NT; e++, px += (NT / KR) * g.xs) {
                const int row = row0 + e * (NT / KR);
                const bool ok = kin && b0 + row < g.B;
                cp_async4(dst + row * TT, ok ? px : x, ok);
            }
        }
        if (VW) { /* w: piece tid (< 16 TC): map tid / 16, the 4 k of slice tid % 16 (K % 4 == 0) */
            if (tid < TC * KS) {
                const int sl = tid % KS, m = tid / KS, k = n * KR + sl * TT;
                const bool ok = k < g.K && m0 + m < g.M;
                cp_async16(base + sl * S::SL + S::SA + m * TT, ok ? w + worg + (long long)(m0 + m) * g.K + k : w, ok);
            }
        } else { /* element tid + 128 e: map tid / 64 + 2 e, k = 64 n + tid % 64 */
            const int kk = tid % KR, k = n * KR + kk;
            float *dst = base + (kk / TT) * S::SL + S::SA + kk % TT;
#pragma unroll
            for (int e = 0; e < TC * KR / NT; e++) {
                const int m = tid / KR + e * (NT / KR);
                const bool ok = k < g.K && m0 + m < g.M;
                cp_async4(dst + m * TT, ok ? w + worg + (long long)(m0 + m) * g.K + k : w, ok);
            }
        }
    };
    float acc[8][TC] = {};
    issue(0, 0);
    cp_async_commit();
    int buf = 0;
    for (int n = 0; n < nround; n++, buf ^= 1) {
        if (n + 1 < nround) /* the same in every thread */
            issue(n + 1, buf ^ 1);
        cp_async_commit(); /* possibly empty: one group per round either way */
        cp_async_wait<1>(); /* this round's chunk has landed (this thread's copies) */
        __syncthreads();    /* ... and every thread's */
        const float *A = sm + (buf * KS + slice) * S::SL;
        fwd_round4<TC>(A + tr * TT, NTR * TT, A + S::SA, acc); /* samples tr + 8 q */
        __syncthreads(); /* before the next round's copies overwrite this buffer */
    }
    /* the slices' sums, in slice order; red[slice][row][m] */
    float *red = sm;
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int m = 0; m < TC; m++)
            red[slice * S::RS + (tr + q * NTR) * (TC + 1) + m] = acc[q][m];
    __syncthreads();
    const long long yorg = ((long long)i * g.Wo + j) * g.M;
    for (int e = tid; e < TR * TC; e += NT) { /* m fastest: runs of TC maps in y */
        const int row = e / TC, m = e % TC, o = row * (TC + 1) + m;
        float v = red[o];
        for (int s = 1; s < KS; s++)
            v += red[s * S::RS + o];
        const int b = b0 + row;
        if (b < g.B && m0 + m < g.M)
            y[(long long)b * g.ys + yorg + m0 + m] = v;
    }
}

/* ---- backward filter: dw[i,j,m,k] += sum_b dy[b,i,j,m] x[b, field(i,j) + k] ---------------------------
 * Block: one location, 256 field elements (k0 + row), TC maps. 4 slices of 32 threads (a warp each);
 * slice s takes the chunks s, s + 4, ... of 4 samples (b = 4 c + t; b >= B from the second pair).
 * Thread tr: rows 4 tr + e and 128 + 4 tr + e (e < 4). Per buffer and slice: A[t][row] (x, 4 x 256)
 * and Bd[t][m] (dy, 4 x TC). SGD: w -= lr (dW + wd w) instead of dw += dW. */
namespace bwf4 {
constexpr int TR = 256, NTR = 32, KS = 4, NT = KS * NTR, TT = 4;
template <int TC>
struct Sizes {
    static constexpr int SA = TT * TR, SL = SA + TT * TC;
    static constexpr int RS = TR * (TC + 1) + 8;
    static constexpr int BUF = 2 * KS * SL, RED = KS * RS;
    static constexpr int N = BUF > RED ? BUF : RED;
};
} // namespace bwf4

template <int TC, bool VX, bool SGD>
__global__ void __launch_bounds__(bwf4::NT, 4) lf_bwf4_kernel(Geo g, const float *__restrict__ x,
                                                              const float *__restrict__ gy,
                                                              const float *__restrict__ x2,
                                                              const float *__restrict__ gy2,
                                                              float *__restrict__ out, float lr, float wd)
{
    using namespace bwf4;
    using S = Sizes<TC>;
    __shared__ __align__(16) float sm[S::N];
    __shared__ int koff[TR];
    const int tid = (int)threadIdx.x, slice = tid / NTR, tr = tid % NTR;
    const int loc = (int)blockIdx.x, i = g.i0 + loc / g.nj, j = g.j0 + loc % g.nj;
    const int k0 = (int)blockIdx.y * TR, m0 = (int)blockIdx.z * TC;
    const long long xorg = ((long long)i * g.s * g.Wx + (long long)j * g.s) * g.C;
    const long long yorg = ((long long)i * g.Wo + j) * g.M;
    const long long worg = yorg * (long long)g.K;
    for (int e = tid; e < TR; e += NT)
        koff[e] = k0 + e < g.K ? field_off(g, k0 + e) : -1;
    __syncthreads();
    const int nb = (SGD && x2) ? 2 * g.B : g.B; /* samples of the reduction */
    const int nchunk = (nb + TT - 1) / TT;
    /* the field offsets of this thread's rows, the same in every chunk (-1: past K) */
    int off4[2], off1[TR / NTR];
#pragma unroll
    for (int h = 0; h < 2; h++)
        off4[h] = koff[4 * (tr + h * NTR)];
#pragma unroll
    for (int rr = 0; rr < TR / NTR; rr++)
        off1[rr] = koff[tr + rr * NTR];
    auto issue = [&](int c, int buf) {
        float *A = sm + (buf * KS + slice) * S::SL, *Bd = A + S::SA;
#pragma unroll 1
        for (int t = 0; t < TT; t++) { /* a loop, not unrolled: fewer live addresses (no spills at 8 maps) */
            const int b = c * TT + t;
            const bool two = SGD && b >= g.B, bin = c < nchunk && b < nb;
            const float *src = (two ? x2 : x) + (bin ? (long long)(two ? b - g.B : b) * g.xs + xorg : 0);
            if (VX) { /* pieces of rows 4 (tr + 32 h) .. + 3 (K % 4 == 0: all in or all out) */
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const int row = 4 * (tr + h * NTR);
                    const bool ok = bin && off4[h] >= 0;
                    cp_async16(A + t * TR + row, ok ? src + off4[h] : x, ok);
                }
            } else { /* rows tr + 32 rr */
#pragma unroll
                for (int rr = 0; rr < TR / NTR; rr++) {
                    const bool ok = bin && off1[rr] >= 0;
                    cp_async4(A + t * TR + tr + rr * NTR, ok ? src + off1[rr] : x, ok);
                }
            }
        }
        if (tr < TT * TC) { /* dy: element tr, m fastest */
            const int t = tr / TC, m = tr % TC, b = c * TT + t;
            const bool two = SGD && b >= g.B, ok = c < nchunk && b < nb && m0 + m < g.M;
            const float *src = two ? gy2 : gy;
            cp_async4(Bd + t * TC + m, src + (ok ? (long long)(two ? b - g.B : b) * g.ys + yorg + m0 + m : 0), ok);
        }
    };
    float acc[8][TC] = {};
    issue(slice, 0);
    cp_async_commit();
    int buf = 0;
    for (int c0 = 0; c0 < nchunk; c0 += KS, buf ^= 1) {
        if (c0 + KS < nchunk)
            issue(c0 + KS + slice, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const float *A = sm + (buf * KS + slice) * S::SL, *Bd = A + S::SA;
#pragma unroll
        for (int t = 0; t < TT; t++) {
            const F4 a0 = ld4(A + t * TR + 4 * tr), a1 = ld4(A + t * TR + TR / 2 + 4 * tr);
#pragma unroll
            for (int m4 = 0; m4 < TC; m4 += 4) {
                const F4 b = ld4(Bd + t * TC + m4);
#pragma unroll
                for (int mm = 0; mm < 4; mm++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        acc[e][m4 + mm] = fmaf(a0.v[e], b.v[mm], acc[e][m4 + mm]);
                        acc[4 + e][m4 + mm] = fmaf(a1.v[e], b.v[mm], acc[4 + e][m4 + mm]);
                    }
            }
        }
        __syncthreads();
    }
    float *red = sm; /* red[slice][row][m] */
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
        for (int e = 0; e < 4; e++)
#pragma unroll
            for (int m = 0; m < TC; m++)
                red[slice * S::RS + (h * TR / 2 + 4 * tr + e) * (TC + 1) + m] = acc[4 * h + e][m];
    __syncthreads();
    for (int e = tid; e < TR * TC; e += NT) { /* k fastest: runs along a filter in w */
        const int row = e % TR, m = e / TR, o = row * (TC + 1) + m;
        float v = red[o];
        for (int s = 1; s < KS; s++)
            v += red[s * S::RS + o];
        const int k = k0 + row;
        if (k < g.K && m0 + m < g.M) {
            float *p = out + worg + (long long)(m0 + m) * g.K + k;
            if (SGD) {
                const float wv = *p;
                *p = wv - lr * (v + wd * wv);
            } else {
                *p += v;
            }
        }
    }
}

/* ---- host side ---------------------------------------------------------------------------------------- */

/* 16-byte copies of x: 4 consecutive field elements contiguous and aligned (C % 4 == 0, x aligned). */
static bool vec_x(const Geo &g, const float *x, const float *x2)
{
    return g.C % 4 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)x2 % 16 == 0;
}

template <int TC, bool VX, bool VW>
static void launch_fwd4(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    auto kern = &lf_fwd4_kernel<TC, VX, VW>;
    const dim3 grid((unsigned)((long long)ni * g.nj), (unsigned)((g.B + fwd4::TR - 1) / fwd4::TR),
                    (unsigned)((g.M + TC - 1) / TC));
    CN_LAUNCH(kern, grid, dim3(fwd4::NT), st, g, x, w, y);
}

static int t4_group = 1; /* lf_cuda_set_t4_group: on, split as the SMs ask */

void t4_forward(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    if (t4_group && t4_forward_group(g, ni, x, w, y, t4_group == 2, st)) /* neighbouring locations sharing input */
        return;
    /* 16-byte copies of w: K % 4 == 0 (true whenever C or r is even), w aligned */
    const bool vx = vec_x(g, x, nullptr), vw = g.K % 4 == 0 && (uintptr_t)w % 16 == 0;
    if (g.M <= 4) {
        if (vw)
            vx ? launch_fwd4<4, true, true>(g, ni, x, w, y, st) : launch_fwd4<4, false, true>(g, ni, x, w, y, st);
        else
            vx ? launch_fwd4<4, true, false>(g, ni, x, w, y, st) : launch_fwd4<4, false, false>(g, ni, x, w, y, st);
    } else {
        if (vw)
            vx ? launch_fwd4<8, true, true>(g, ni, x, w, y, st) : launch_fwd4<8, false, true>(g, ni, x, w, y, st);
        else
            vx ? launch_fwd4<8, true, false>(g, ni, x, w, y, st) : launch_fwd4<8, false, false>(g, ni, x, w, y, st);
    }
}

bool t4_backward_data(const Geo &g, int ni, const float *w, const float *gy, float *dx, cudaStream_t st)
{
    return t4_group && t4_backward_data_group(g, ni, w, gy, dx, t4_group == 2, st);
}

template <int TC, bool VX, bool SGD>
static void launch_bwf4(const Geo &g, int ni, const float *x, const float *gy, const float *x2, const float *gy2,
                 float *out, float lr, float wd, cudaStream_t st)
{
    auto kern = &lf_bwf4_kernel<TC, VX, SGD>;
    const dim3 grid((unsigned)((long long)ni * g.nj), (unsigned)((g.K + bwf4::TR - 1) / bwf4::TR),
                    (unsigned)((g.M + TC - 1) / TC));
    CN_LAUNCH(kern, grid, dim3(bwf4::NT), st, g, x, gy, x2, gy2, out, lr, wd);
}

template <bool SGD>
static void bwf4_width(const Geo &g, int ni, const float *x, const float *gy, const float *x2, const float *gy2,
                       float *out, float lr, float wd, cudaStream_t st)
{
    const bool vx = vec_x(g, x, x2);
    if (g.M <= 4)
        vx ? launch_bwf4<4, true, SGD>(g, ni, x, gy, x2, gy2, out, lr, wd, st)
           : launch_bwf4<4, false, SGD>(g, ni, x, gy, x2, gy2, out, lr, wd, st);
    else
        vx ? launch_bwf4<8, true, SGD>(g, ni, x, gy, x2, gy2, out, lr, wd, st)
           : launch_bwf4<8, false, SGD>(g, ni, x, gy, x2, gy2, out, lr, wd, st);
}

void t4_backward_filter(const Geo &g, int ni, const float *x, const float *gy, float *dw, cudaStream_t st)
{
    bwf4_width<false>(g, ni, x, gy, nullptr, nullptr, dw, 0.0f, 0.0f, st);
}

void t4_backward_filter_sgd(const Geo &g, int ni, const float *x, const float *gy, const float *x2,
                            const float *gy2, float *w, float lr, float wd, cudaStream_t st)
{
    bwf4_width<true>(g, ni, x, gy, x2, gy2, w, lr, wd, st);
}

} // namespace cnlf

extern "C" void lf_cuda_set_t4_group(int mode) { cnlf::t4_group = mode == 1 || mode == 2 ? mode : 0; }
extern "C" int lf_cuda_t4_group(void) { return cnlf::t4_group; }
