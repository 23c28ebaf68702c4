/* lf_tile.cuh: the block-tiled product that the three local-filter kernels share (cuda/lf.cu).
 *
 * At one output location (i, j) the local filter is a small dense product: forward
 * Y[b, m] = sum_k X[b, k] W[m, k] with k = (dy, dx, c) over the field, and its two backward twins are
 * the same shape with other operands. A thread block computes a TR x TC tile of such a product
 *     P[row, col] = sum over t of A(t, row) * B(t, col)
 * with the reduction index t staged through shared memory TT values at a time, and split over KS
 * "slices" of threads: slice k takes chunks k, k + KS, k + 2 KS, ... of t, so a short output tile
 * with a long reduction still gets enough threads. Inside a slice, thread (tr, tc) keeps an RR x RC
 * register tile: rows tr + q * NTR, columns tc + p * NTC (strided, so that a warp's shared-memory
 * reads are consecutive or broadcast: no bank conflicts). At the end the slices' partial sums are
 * added in slice order through shared memory: a fixed order, so results are bitwise reproducible.
 * Only __syncthreads() synchronizes (no warp-synchronous code), and no thread leaves early. */
#ifndef CN_LF_TILE_CUH
#define CN_LF_TILE_CUH

#include "cuda/internal.h"

namespace cnlf {

template <int TR_, int TC_, int RR_, int RC_, int TT_, int KS_, int MINB_ = 0, int PAD_ = 1>
struct Cfg {
    static constexpr int TR = TR_, TC = TC_; /* block tile: rows x columns of P */
    static constexpr int RR = RR_, RC = RC_; /* register tile of one thread */
    static constexpr int TT = TT_;           /* reduction values per chunk */
    static constexpr int KS = KS_;           /* slices of the reduction */
    static constexpr int MINB = MINB_;       /* blocks per SM the registers must allow (0: as ptxas likes) */
    static constexpr int PAD = PAD_;         /* floats after each row of A (bank offsets of rows and slices) */
    static constexpr int NTR = TR / RR, NTC = TC / RC, NTS = NTR * NTC, NT = KS * NTS;
    static constexpr int RED = KS >= 8 ? KS * TR * TC : (KS - 1) * TR * TC; /* tile_reduce's floats */
    static_assert(TR % RR == 0 && TC % RC == 0, "a register tile must divide the block tile");
    static_assert(NT <= 1024, "at most 1024 threads per block");
};

/* Shared tiles of one block, per slice; PAD floats after each row of A and one after each row of B, so
 * that column-wise stores avoid conflicts; spare makes room for tile_reduce's partial sums where the
 * tiles alone hold fewer (at least one float: C++ has no empty arrays). tile_reduce reads the three as
 * one array of floats (no padding comes between arrays of float). */
template <class G>
struct Tiles {
    static constexpr int NAB = G::KS * G::TT * (G::TR + G::PAD + G::TC + 1);
    float A[G::KS][G::TT][G::TR + G::PAD];
    float B[G::KS][G::TT][G::TC + 1];
    float spare[G::RED > NAB ? G::RED - NAB : 1];
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
};

/* acc += the products of this slice's current chunk. */
template <class G>
__device__ __forceinline__ void tile_mma(const Tiles<G> &sm, const Who<G> &me, float (&acc)[G::RR][G::RC])
{
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

/* Slice 0 ends with the whole sum: acc(slice 0) + acc(slice 1) + ... in this order. Every thread of the
 * block must call it (it synchronizes); it reuses the A tiles. */
template <class G>
__device__ __forceinline__ void tile_reduce(Tiles<G> &sm, const Who<G> &me, float (&acc)[G::RR][G::RC])
{
    if constexpr (G::KS >= 8) {
        /* many slices (scheme t4): every thread sums TR * TC / NT outputs over all slices, in slice
         * order, into slice 0's place, and slice 0 reads its sums back: the same order as below, with the
         * block's threads sharing the work instead of slice 0 alone doing (KS - 1) * RR * RC loads */
        static_assert(sizeof(Tiles<G>) >= sizeof(float) * G::RED, "every slice's partial sums must fit");
        float *red = &sm.A[0][0][0];
        constexpr int OUT = G::TR * G::TC;
        __syncthreads();
#pragma unroll
        for (int q = 0; q < G::RR; q++)
#pragma unroll
            for (int p = 0; p < G::RC; p++)
                red[me.slice * OUT + (me.tr + q * G::NTR) * G::TC + me.tc + p * G::NTC] = acc[q][p];
        __syncthreads();
        for (int e = (int)threadIdx.x; e < OUT; e += G::NT) {
            float v = red[e];
            for (int s = 1; s < G::KS; s++)
                v += red[s * OUT + e];
            red[e] = v; /* e is this thread's alone */
        }
        __syncthreads();
        if (me.slice == 0)
#pragma unroll
            for (int q = 0; q < G::RR; q++)
#pragma unroll
                for (int p = 0; p < G::RC; p++)
                    acc[q][p] = red[(me.tr + q * G::NTR) * G::TC + me.tc + p * G::NTC];
    } else if constexpr (G::KS > 1) {
        static_assert(sizeof(Tiles<G>) >= sizeof(float) * G::RED, "the slices' partial sums must fit");
        float *red = &sm.A[0][0][0];
        __syncthreads();
        if (me.slice > 0)
#pragma unroll
            for (int q = 0; q < G::RR; q++)
#pragma unroll
                for (int p = 0; p < G::RC; p++)
                    red[((me.slice - 1) * G::TR + me.tr + q * G::NTR) * G::TC + me.tc + p * G::NTC] = acc[q][p];
        __syncthreads();
        if (me.slice == 0)
            for (int s = 1; s < G::KS; s++)
#pragma unroll
                for (int q = 0; q < G::RR; q++)
#pragma unroll
                    for (int p = 0; p < G::RC; p++)
                        acc[q][p] += red[((s - 1) * G::TR + me.tr + q * G::NTR) * G::TC + me.tc + p * G::NTC];
    }
}

/* The block tiles of lf.cu, by the size of the column dimension (maps M, or channels C): two schemes,
 * chosen at run time (lf_cuda_set_tiles, docs/CUDA.md "Tile schemes"). All have TR = 64 rows and 128
 * threads; static shared memory stays under 48 KiB.
 *   T32: TT = 32, registers as the compiler likes (ptxas, sm_90: up to 255 at 8 columns, the 64
 *        values a thread prefetches per chunk: 2 blocks per SM);
 *   T16: TT = 16 (half the prefetched values, half the shared memory) and at most 128 registers
 *        (__launch_bounds__(128, 4): 4 blocks, 16 warps per SM), no spills at sm_90. */
struct TilesT32 {
    using C4 = Cfg<64, 4, 2, 4, 32, 4>;
    using C8 = Cfg<64, 8, 4, 4, 32, 4>;
    using C16 = Cfg<64, 16, 4, 4, 32, 2>;
    using C32 = Cfg<64, 32, 4, 4, 32, 1>;
};
struct TilesT16 {
    using C4 = Cfg<64, 4, 2, 4, 16, 4, 4>;
    using C8 = Cfg<64, 8, 4, 4, 16, 4, 4>;
    using C16 = Cfg<64, 16, 4, 4, 16, 2, 4>;
    using C32 = Cfg<64, 32, 4, 4, 16, 1, 4>;
};
/*   T4 (the backward data here; at up to 8 maps, the forward and backward filter are cuda/lf_t4.cu's own
 *       kernels, and these tiles' forward and backward filter are not launched):
 *       an 8 x 8 register tile (8 x 4 at 4 columns) with all the columns of a narrow product in one
 *       thread: 64 products per 16 shared-memory reads (t32 and t16: 16 per 8); TT = 4 and 16 slices,
 *       whose sums the whole block adds (tile_reduce); at most 168 registers (3 blocks per SM); rows of
 *       A padded to 66 floats, so that the 4 slices of a warp read 32 different banks; wider products
 *       as t16. (A t8, the same with TT = 8 and 2 blocks per SM, was slower than t4 in every pass on an
 *       H100, 2026-11-27: removed.) */
struct TilesT4 {
    using C4 = Cfg<64, 4, 8, 4, 4, 16, 3, 2>;
    using C8 = Cfg<64, 8, 8, 8, 4, 16, 3, 2>;
    using C16 = TilesT16::C16;
    using C32 = TilesT16::C32;
};

} // namespace cnlf

#endif
