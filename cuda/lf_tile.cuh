/* lf_tile.cuh: the block-tiled product that the three local-filter kernels share (cuda/lf.cu).
 *
 * At one output location (i, j) the local filter is a small dense product: forward
 * Y[b, m] = sum_k X[b, k] W[m, k] with k = (dy, dx, c) over the field, and its two backward twins are
 * the same shape with other operands. A thread block computes a TR x TC tile of such a product
 *     P[row, col] = sum over t of A(t, row) * B(t, col)
 * with the reduction index t staged through shared memory TT values at a time, and split over KS
 * "slices" of threads: slice k takes chunks k, k + KS, k + 2 KS, ... of t, so a short output tile
 * with a long reduction still gets enough threads. Inside a slice, thread (tr, tc) keeps an RR x RC
 * register tile, in one of two schemes (Cfg's VEC; G::row and G::col give the mapping to both):
 *  - classic (VEC = false): rows tr + q * NTR, columns tc + p * NTC (strided, so that a warp's
 *    shared-memory reads are consecutive or broadcast: no bank conflicts); one scalar shared load per
 *    row and per column of the register tile, RR + RC loads for RR * RC FMAs;
 *  - vec (VEC = true): groups of 4 contiguous rows, tr * 4 + g * NTR * 4 + e (g < RR / 4, e < 4), and
 *    likewise 4-contiguous columns, each group read with one float4 (LDS.128): (RR + RC) / 4 loads
 *    for RR * RC FMAs. Shared rows are padded by 4 floats, so every group stays 16-byte aligned; eight
 *    consecutive tr read 128 contiguous bytes (one conflict-free quarter-warp phase).
 * lf.cu picks the scheme at run time (lf_cuda_set_tiles, COTSNET_LF_TILES). At the end the slices'
 * partial sums are added in slice order through shared memory: a fixed order, so results are bitwise
 * reproducible for one scheme (the two schemes split t differently, so they differ in rounding). Only
 * __syncthreads() synchronizes (no warp-synchronous code), and no thread leaves early. */
#ifndef CN_LF_TILE_CUH
#define CN_LF_TILE_CUH

#include "cuda/internal.h"

namespace cnlf {

template <int TR_, int TC_, int RR_, int RC_, int TT_, int KS_, bool VEC_ = false, int MINB_ = 0>
struct Cfg {
    static constexpr int TR = TR_, TC = TC_; /* block tile: rows x columns of P */
    static constexpr int RR = RR_, RC = RC_; /* register tile of one thread */
    static constexpr int TT = TT_;           /* reduction values per chunk */
    static constexpr int KS = KS_;           /* slices of the reduction */
    static constexpr bool VEC = VEC_;        /* register tile of 4-contiguous groups, float4 loads */
    static constexpr int NTR = TR / RR, NTC = TC / RC, NTS = NTR * NTC, NT = KS * NTS;
    static constexpr int PR = TR + (VEC ? 4 : 1), PC = TC + (VEC ? 4 : 1); /* padded shared rows */
    /* blocks per SM that __launch_bounds__ leaves registers for (65536 / (MINB * NT) per thread at
     * most); 0 lets ptxas choose */
    static constexpr int MINB = MINB_;
    static_assert(TR % RR == 0 && TC % RC == 0, "a register tile must divide the block tile");
    static_assert(!VEC || (RR % 4 == 0 && RC % 4 == 0), "vec: register tiles of whole groups of 4");
    static_assert(NT <= 1024, "at most 1024 threads per block");
    static_assert(KS == 1 || (KS - 1) * TR * TC <= KS * TT * PR, "the slice sums must fit in A");
    /* Row of P held in register row q by thread row tr; column of register column p by thread column tc. */
    static __host__ __device__ __forceinline__ int row(int tr, int q)
    {
        return VEC ? (q / 4) * NTR * 4 + tr * 4 + q % 4 : tr + q * NTR;
    }
    static __host__ __device__ __forceinline__ int col(int tc, int p)
    {
        return VEC ? (p / 4) * NTC * 4 + tc * 4 + p % 4 : tc + p * NTC;
    }
};

/* Shared tiles of one block, per slice; rows padded (PR, PC): +1 keeps the classic scheme's column-wise
 * stores free of conflicts, +4 keeps the vec scheme's float4 groups 16-byte aligned. */
template <class G>
struct alignas(16) Tiles {
    float A[G::KS][G::TT][G::PR];
    float B[G::KS][G::TT][G::PC];
};

/* Where this thread sits. */
template <class G>
struct Who {
    int slice, lid, tr, tc;
    __device__ __forceinline__ Who()
    {
        const int t = (int)threadIdx.x;
        slice = t / G::NTS;
        lid = t - slice * G::NTS;
        tr = lid % G::NTR;
        tc = lid / G::NTR;
    }
    __device__ __forceinline__ int row(int q) const { return G::row(tr, q); }
    __device__ __forceinline__ int col(int p) const { return G::col(tc, p); }
};

/* acc += the products of this slice's current chunk. */
template <class G>
__device__ __forceinline__ void tile_mma(const Tiles<G> &sm, const Who<G> &me, float (&acc)[G::RR][G::RC])
{
    if constexpr (G::VEC) {
#pragma unroll
        for (int tt = 0; tt < G::TT; tt++) {
            float a[G::RR], b[G::RC];
#pragma unroll
            for (int g = 0; g < G::RR / 4; g++) {
                const float4 v = *reinterpret_cast<const float4 *>(&sm.A[me.slice][tt][me.row(4 * g)]);
                a[4 * g] = v.x, a[4 * g + 1] = v.y, a[4 * g + 2] = v.z, a[4 * g + 3] = v.w;
            }
#pragma unroll
            for (int g = 0; g < G::RC / 4; g++) {
                const float4 v = *reinterpret_cast<const float4 *>(&sm.B[me.slice][tt][me.col(4 * g)]);
                b[4 * g] = v.x, b[4 * g + 1] = v.y, b[4 * g + 2] = v.z, b[4 * g + 3] = v.w;
            }
#pragma unroll
            for (int q = 0; q < G::RR; q++)
#pragma unroll
                for (int p = 0; p < G::RC; p++)
                    acc[q][p] = fmaf(a[q], b[p], acc[q][p]);
        }
    } else {
#pragma unroll 4
        for (int tt = 0; tt < G::TT; tt++) {
            float a[G::RR], b[G::RC];
#pragma unroll
            for (int q = 0; q < G::RR; q++)
                a[q] = sm.A[me.slice][tt][me.tr + q * G::NTR];
#pragma unroll
            for (int p = 0; p < G::RC; p++)
                b[p] = sm.B[me.slice][tt][me.tc + p * G::NTC];
#pragma unroll
            for (int q = 0; q < G::RR; q++)
#pragma unroll
                for (int p = 0; p < G::RC; p++)
                    acc[q][p] = fmaf(a[q], b[p], acc[q][p]);
        }
    }
}

/* Slice 0 ends with the whole sum: acc(slice 0) + acc(slice 1) + ... in this order. Every thread of the
 * block must call it (it synchronizes); it reuses the A tiles. */
template <class G>
__device__ __forceinline__ void tile_reduce(Tiles<G> &sm, const Who<G> &me, float (&acc)[G::RR][G::RC])
{
    if constexpr (G::KS > 1) {
        float *red = &sm.A[0][0][0];
        __syncthreads();
        if (me.slice > 0)
#pragma unroll
            for (int q = 0; q < G::RR; q++)
#pragma unroll
                for (int p = 0; p < G::RC; p++)
                    red[((me.slice - 1) * G::TR + me.row(q)) * G::TC + me.col(p)] = acc[q][p];
        __syncthreads();
        if (me.slice == 0)
            for (int s = 1; s < G::KS; s++)
#pragma unroll
                for (int q = 0; q < G::RR; q++)
#pragma unroll
                    for (int p = 0; p < G::RC; p++)
                        acc[q][p] += red[((s - 1) * G::TR + me.row(q)) * G::TC + me.col(p)];
    }
}

/* Block tiles used by lf.cu, by the size of the column dimension (maps M, or channels C); static shared
 * memory stays under 48 KiB. Classic: TR = 64 rows, TT = 32, 128 threads. */
using Cfg4 = Cfg<64, 4, 2, 4, 32, 4>;
using Cfg8 = Cfg<64, 8, 4, 4, 32, 4>;
using Cfg16 = Cfg<64, 16, 4, 4, 32, 2>;
using Cfg32 = Cfg<64, 32, 4, 4, 32, 1>;
/* Vec: TR = 128 rows, 8 x 4 or 8 x 8 register tiles, 128 threads, registers capped for 3 blocks per SM
 * (168) where ptxas then spills nothing, else for 2 (ptxas takes up to 252 for the backward filter). */
using Vec4 = Cfg<128, 4, 8, 4, 8, 8, true, 2>;
using Vec8 = Cfg<128, 8, 8, 8, 8, 8, true, 3>;
using Vec16 = Cfg<128, 16, 8, 8, 16, 4, true, 2>;
using Vec32 = Cfg<128, 32, 8, 8, 16, 2, true, 3>;

} // namespace cnlf

#endif
