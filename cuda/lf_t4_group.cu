/* lf_t4_group.cu: scheme t4's forward over a group of neighbouring locations per block, sharing their
 * fields' input in shared memory (for C % 4 == 0 and narrow strides; cuda/lf_t4.cu's one-location
 * forward otherwise).
 *
 * Why: one location per block reads its whole field for every sample from L2 (B x K floats per
 * location), though neighbouring fields overlap in all but s of their r rows and columns; Nsight
 * Compute on an H100 found that forward with its L2 at 80 % of its throughput and issuing in 17 % of
 * the cycles (docs/CUDA.md). Here a block takes LH = 4 rows x LW columns of locations (LW = 4 at 64
 * samples per block, 8 at 32), and walks the input rows rho its fields cover, 4 field elements at a
 * time: each round copies one input row's window (BT samples x the LW fields' columns at those 4
 * elements: (LW - 1) s C + 4 floats) once, and every location row whose field holds rho (dy = rho -
 * li s in [0, r)) uses it with its own filters. Input read from L2 per output: about
 * ((LH - 1) s + r) ((LW - 1) s C + 4) / (LH r LW 4) of the one-location forward's.
 *
 * Threads: warp li is location row li (so a warp is active or idle as a whole), 32 / NQ locations per
 * warp, NQ = BT / 8 threads per location, each with 8 samples (q + NQ e) x 8 maps in registers. Every
 * output is one thread's sum over k in order: no slices, no reduction, bitwise reproducible. */
#include "cuda/internal.h"
#include "cuda/lf_geo.cuh"
#include "cuda/lf_t4.h"
#include "cuda/vec_mem.cuh"

#include <stdint.h>

namespace cnlf {

using cnvm::cp_async16;
using cnvm::cp_async_commit;
using cnvm::cp_async_wait;

namespace grp {
constexpr int LH = 4, NT = 128, TT = 4, TC = 8; /* location rows (warps), threads, k per round, maps */
template <int BT>
struct Sizes {
    static constexpr int NQ = BT / 8, LW = 32 / NQ, NL = LH * LW; /* threads per location, columns */
    static constexpr int SPMAX = BT == 64 ? 68 : 132; /* x row stride in floats: the widest window */
    static constexpr int NPC = SPMAX / 4;             /* 16-byte pieces per staged row, at most */
    static constexpr int WS = TC * TT + 4;            /* one location's filters in a round, padded */
    static constexpr int SX = BT * SPMAX, SL = SX + NL * WS; /* one buffer */
    static_assert(SPMAX % 32 == 4 && WS % 32 == 4, "rows and locations 16 bytes apart in banks");
};
} // namespace grp

/* sp: the x row stride in floats (>= the window, % 32 == 4). */
template <int BT>
__global__ void __launch_bounds__(grp::NT, 4) lf_fwd4g_kernel(Geo g, int ni, int sp, const float *__restrict__ x,
                                                               const float *__restrict__ w, float *__restrict__ y)
{
    using namespace grp;
    using S = Sizes<BT>;
    __shared__ __align__(16) float sm[2 * S::SL];
    const int tid = (int)threadIdx.x, li = tid / 32, lane = tid % 32, lj = lane / S::NQ, q = lane % S::NQ;
    const int ngj = (g.nj + S::LW - 1) / S::LW;
    const int gi = g.i0 + ((int)blockIdx.x / ngj) * LH, gj = g.j0 + ((int)blockIdx.x % ngj) * S::LW;
    const int b0 = (int)blockIdx.y * BT, m0 = (int)blockIdx.z * TC;
    const int i1 = g.i0 + ni, j1 = g.j0 + g.nj;
    const int nkk = (g.rC + TT - 1) / TT;        /* rounds per input row (rC % 4 == 0 here) */
    const int nrho = (LH - 1) * g.s + g.r;        /* input rows the group's fields cover */
    const int win = (S::LW - 1) * g.s * g.C + TT; /* floats of one staged row */
    const long long rowlen = (long long)g.Wx * g.C;
    /* round n = (rho, kk0) into buffer buf, by the whole block (outside x, B, M, r or the region: zeros) */
    auto issue = [&](int n, int buf) {
        const int rho = n / nkk, kk0 = (n - rho * nkk) * TT;
        const int u = gi * g.s + rho; /* input row */
        float *X = sm + buf * S::SL, *W = X + S::SX;
        const long long col0 = (long long)gj * g.s * g.C + kk0;
#pragma unroll 1
        for (int e = 0; e < (BT * S::NPC + NT - 1) / NT; e++) { /* piece p: row p / NPC, piece p % NPC */
            const int p = tid + e * NT, row = p / S::NPC, pc = p % S::NPC, b = b0 + row;
            const long long col = col0 + 4 * pc;
            const bool ok = row < BT && 4 * pc < win && b < g.B && u < g.Hx && col + 4 <= rowlen;
            if (row < BT && 4 * pc < sp)
                cp_async16(X + row * sp + 4 * pc, ok ? x + (long long)b * g.xs + u * rowlen + col : x, ok);
        }
#pragma unroll 1
        for (int e = 0; e < (S::NL * TC + NT - 1) / NT; e++) { /* piece p: location p / 8, map p % 8 */
            const int p = tid + e * NT, l = p / TC, m = p % TC;
            if (l < S::NL) {
                const int lr = l / S::LW, i = gi + lr, j = gj + l % S::LW, dy = rho - lr * g.s;
                const bool ok = i < i1 && j < j1 && dy >= 0 && dy < g.r && m0 + m < g.M && kk0 < g.rC;
                const long long o = (((long long)i * g.Wo + j) * g.M + m0 + m) * g.K + (long long)dy * g.rC + kk0;
                cp_async16(W + l * S::WS + m * TT, ok ? w + o : w, ok);
            }
        }
    };
    float acc[8][TC] = {};
    const int nround = nrho * nkk;
    issue(0, 0);
    cp_async_commit();
    int buf = 0;
    for (int n = 0; n < nround; n++, buf ^= 1) {
        if (n + 1 < nround)
            issue(n + 1, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const int rho = n / nkk, dy = rho - li * g.s;
        if (dy >= 0 && dy < g.r) { /* this warp's location row holds input row rho */
            const float *X = sm + buf * S::SL + lj * g.s * g.C; /* this location's column of the window */
            fwd_round4<TC>(X + q * sp, S::NQ * sp, sm + buf * S::SL + S::SX + (li * S::LW + lj) * S::WS, acc);
        }
        __syncthreads();
    }
    const int i = gi + li, j = gj + lj;
    if (i < i1 && j < j1) {
        const long long yorg = ((long long)i * g.Wo + j) * g.M;
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const int b = b0 + q + S::NQ * e;
            if (b < g.B)
#pragma unroll
                for (int m = 0; m < TC; m++)
                    if (m0 + m < g.M)
                        y[(long long)b * g.ys + yorg + m0 + m] = acc[e][m];
        }
    }
}

template <int BT>
static bool launch_fwd4g(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    using S = grp::Sizes<BT>;
    const int win = (S::LW - 1) * g.s * g.C + grp::TT, sp = win + (4 - win % 32 + 32) % 32;
    if (sp > S::SPMAX)
        return false;
    auto kern = &lf_fwd4g_kernel<BT>;
    const long long groups = (long long)((ni + grp::LH - 1) / grp::LH) * ((g.nj + S::LW - 1) / S::LW);
    const dim3 grid((unsigned)groups, (unsigned)((g.B + BT - 1) / BT), (unsigned)((g.M + grp::TC - 1) / grp::TC));
    CN_LAUNCH(kern, grid, dim3(grp::NT), st, g, ni, sp, x, w, y);
    return true;
}

bool t4_forward_group(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st)
{
    if (g.M <= 4 || g.C % 4 != 0 || (uintptr_t)x % 16 != 0 || (uintptr_t)w % 16 != 0)
        return false; /* 16-byte pieces of x and w; at 4 maps or fewer, half the tile would be idle */
    return g.B <= 32 ? launch_fwd4g<32>(g, ni, x, w, y, st) : launch_fwd4g<64>(g, ni, x, w, y, st);
}

} // namespace cnlf
