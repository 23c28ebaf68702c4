/* lf_t4_group.cu: scheme t4's forward over a group of neighbouring locations per block, sharing their
 * fields' input in shared memory, the input rows split over blocks (for C % 4 == 0 and narrow
 * strides; cuda/lf_t4.cu's one-location forward otherwise).
 *
 * Why: one location per block reads its whole field for every sample from L2 (B x K floats per
 * location), though neighbouring fields overlap in all but s of their r rows and columns; Nsight
 * Compute on an H100 found that forward with its L2 at 80 % of its throughput and issuing in 17 % of
 * the cycles (docs/CUDA.md). Here a block takes LH = 4 rows x LW = 4 columns of locations and 64
 * samples, and walks the input rows rho its fields cover, TT = 16 field elements at a time: each round
 * copies one input row's window (64 samples x (LW - 1) s C + 16 floats) once, and every location row
 * whose field holds rho (dy = rho - li s in [0, r)) uses it with its own filters. Input read from L2
 * per output: about ((LH - 1) s + r) ((LW - 1) s C + 16) / (LH r LW 16) of the one-location forward's.
 *
 * Split: a group's outputs are only 64 x 16 x 8, one block's 128 threads of 8 x 8; at the Le et al.
 * 2012 stages' shapes the groups alone make fewer blocks than an H100 has SMs (the first version of
 * this file, unsplit, ran 3 to 4 times slower than the one-location forward: 72 blocks of 4 warps).
 * So the input rows are split into nsplit consecutive ranges, one per block (by default as many as
 * fill the device's SMs once at 4 blocks each: t4_group_splits, lf_cuda_set_t4_group_fill), each
 * writing its partial sums to scratch; a second kernel adds the ranges in order. Every output is a
 * fixed-order sum: bitwise reproducible.
 *
 * Threads: warp li is location row li (so a warp is active or idle as a whole), 4 locations per warp,
 * 8 threads per location, each with 8 samples (q + 8 e) x 8 maps in registers. The copies' addresses
 * are set once per thread; a round adds one offset. Where r C % 16 != 0, a row's last round reads input
 * past the field (its filters there are zero): an infinite input there would make 0 x inf = NaN. */
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
constexpr int LH = 4, LW = 4, NL = LH * LW; /* location rows (warps) and columns of a group */
constexpr int BT = 64, NQ = 8, NT = 128;    /* samples per block, threads per location, threads */
constexpr int TT = 16, TC = 8;              /* field elements per round, maps */
constexpr int SPMAX = 60;                   /* x row stride in floats: the widest window */
constexpr int WS = TC * TT + 4;             /* one location's filters in a round: [t / 4][m][t % 4], padded */
constexpr int SX = BT * SPMAX, SL = SX + NL * WS; /* one buffer: 47.6 KB for both */
static_assert(WS % 32 == 4 && SPMAX % 8 == 4, "rows and locations 16 bytes apart in banks");
static_assert(LW * NQ == 32 && LH * 32 == NT, "a warp is one location row");
} // namespace grp

static int t4_group_fill = 4; /* lf_cuda_set_t4_group_fill */

int t4_group_splits(long long base, int most)
{
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const long long slots = (long long)t4_group_fill * sms; /* 4: the blocks resident at once */
    return base >= slots ? 1 : cn_imax(1, cn_imin(most, (int)(slots / base)));
}

/* Rows [rho0, rho1) of the group's input rows; sp: the x row stride in floats (>= the window, % 8 ==
 * 4). out: y (split 0 of 1) or the scratch of partial sums, [split][b][i - i0][j - j0][m]. */
__global__ void __launch_bounds__(grp::NT, 4) lf_fwd4g_kernel(Geo g, int ni, int sp, int nsplit, const float *__restrict__ x,
                                                               const float *__restrict__ w, float *__restrict__ out)
{
    using namespace grp;
    __shared__ __align__(16) float sm[2 * SL];
    const int tid = (int)threadIdx.x, li = tid / 32, lane = tid % 32, lj = lane / NQ, q = lane % NQ;
    const int ngj = (g.nj + LW - 1) / LW;
    const int gi = g.i0 + ((int)blockIdx.x / ngj) * LH, gj = g.j0 + ((int)blockIdx.x % ngj) * LW;
    const int b0 = (int)blockIdx.y * BT;
    const int nmb = (g.M + TC - 1) / TC, mb = (int)blockIdx.z % nmb, split = (int)blockIdx.z / nmb, m0 = mb * TC;
    const int i1 = g.i0 + ni, j1 = g.j0 + g.nj;
    const int nkk = (g.rC + TT - 1) / TT;   /* rounds per input row */
    const int nrho = (LH - 1) * g.s + g.r;  /* input rows the group's fields cover */
    const int rho0 = (int)((long long)nrho * split / nsplit), rho1 = (int)((long long)nrho * (split + 1) / nsplit);
    const int win = (LW - 1) * g.s * g.C + TT; /* floats of one staged row */
    const long long rowlen = (long long)g.Wx * g.C;

    /* x pieces: 16-byte piece pc of rows xr + 8 e (e < 8) */
    const int pc = tid % 16, xr = tid / 16;
    const bool pc_in = 4 * pc < win;
    const float *xp = x + (long long)(b0 + xr) * g.xs + 4 * pc;
    float *xs_dst = sm + xr * sp + 4 * pc;
    /* w pieces: location row e (< 4), column li (the warp), map (tid / 4) % 8, elements 4 (tid % 4) .. +3 */
    const int wm = (tid / 4) % TC, wqd = tid % 4, wj = gj + li;
    const bool wok_m = m0 + wm < g.M && wj < j1;
    const float *wp = w + (((long long)gi * g.Wo + wj) * g.M + m0 + wm) * g.K + 4 * wqd;
    const long long wrow = (long long)g.Wo * g.M * g.K; /* next location row */
    float *ws_dst = sm + SX + li * WS + wqd * 32 + wm * 4;

    const int xe_n = cn_imin(8, cn_ceildiv(g.B - b0 - xr, 8)); /* this thread's rows inside the batch */
    const long long xstep = 8 * g.xs;
    auto issue = [&](int n, int buf) { /* round n (rho0 + n / nkk, kk0) into buffer buf, zeros outside */
        const int rho = rho0 + n / nkk, kk0 = (n % nkk) * TT;
        const int u = gi * g.s + rho; /* input row */
        const long long col = (long long)gj * g.s * g.C + kk0 + 4 * pc;
        if (pc_in) {
            const bool ok = u < g.Hx && col + 4 <= rowlen;
            const float *px = xp + ((long long)u * rowlen + col - 4 * pc);
            float *sx = xs_dst + buf * SL;
#pragma unroll
            for (int e = 0; e < BT / 8; e++, px += xstep, sx += 8 * sp) {
                const bool oke = ok && e < xe_n;
                cp_async16(sx, oke ? px : x, oke);
            }
        }
        float *sw = ws_dst + buf * SL;
        const bool okk = wok_m && kk0 + 4 * wqd < g.rC;
#pragma unroll
        for (int e = 0; e < LH; e++, sw += LW * WS) {
            const int dy = rho - e * g.s;
            const bool oke = okk && gi + e < i1 && dy >= 0 && dy < g.r;
            cp_async16(sw, oke ? wp + e * wrow + (long long)dy * g.rC + kk0 : w, oke);
        }
    };
    float acc[8][TC] = {};
    const int nround = (rho1 - rho0) * nkk;
    if (nround > 0)
        issue(0, 0);
    cp_async_commit();
    int buf = 0;
    const float *xa = sm + q * sp + lj * g.s * g.C;   /* this thread's samples and location's columns */
    const float *wa = sm + SX + (li * LW + lj) * WS; /* this location's filters */
    for (int n = 0; n < nround; n++, buf ^= 1) {
        if (n + 1 < nround) /* the same in every thread */
            issue(n + 1, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const int dy = rho0 + n / nkk - li * g.s;
        if (dy >= 0 && dy < g.r) { /* this warp's location row holds this input row */
            const float *X = xa + buf * SL, *W = wa + buf * SL;
#pragma unroll 1 /* unrolled, nvcc loads the next 8 x ahead and spills at 128 registers */
            for (int tc = 0; tc < TT / 4; tc++)
                fwd_round4<TC>(X + 4 * tc, NQ * sp, W + 32 * tc, acc);
        }
        __syncthreads();
    }
    const int i = gi + li, j = gj + lj;
    if (i < i1 && j < j1) {
        float *o;
        long long bstride;
        if (nsplit == 1) {
            o = out + ((long long)i * g.Wo + j) * g.M;
            bstride = g.ys;
        } else {
            o = out + ((long long)split * g.B * ni + (i - g.i0)) * g.nj * g.M + (long long)(j - g.j0) * g.M;
            bstride = (long long)ni * g.nj * g.M;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const int b = b0 + q + NQ * e;
            if (b < g.B)
#pragma unroll
                for (int m = 0; m < TC; m++)
                    if (m0 + m < g.M)
                        o[(long long)b * bstride + m0 + m] = acc[e][m];
        }
    }
}

/* y = the sum over splits, in order, of ws[split][b][i - i0][j - j0][m] */
__global__ void lf_fwd4g_sum_kernel(Geo g, int ni, int nsplit, const float *__restrict__ ws, float *__restrict__ y)
{
    const long long per = (long long)ni * g.nj * g.M, n = (long long)g.B * per;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        float v = ws[e];
        for (int s = 1; s < nsplit; s++)
            v += ws[(long long)s * n + e];
        const long long b = e / per, r = e - b * per, ij = r / g.M;
        const int ii = (int)(ij / g.nj), jj = (int)(ij - (long long)ii * g.nj), m = (int)(r - ij * g.M);
        y[b * g.ys + ((long long)(g.i0 + ii) * g.Wo + g.j0 + jj) * g.M + m] = v;
    }
}

bool t4_forward_group(const Geo &g, int ni, const float *x, const float *w, float *y, bool nosplit,
                      cudaStream_t st)
{
    using namespace grp;
    if (g.M <= 4 || g.C % 4 != 0 || (uintptr_t)x % 16 != 0 || (uintptr_t)w % 16 != 0)
        return false; /* 16-byte pieces of x and w; at 4 maps or fewer, half the tile would be idle */
    const int win = (LW - 1) * g.s * g.C + TT, sp = win + (12 - win % 8) % 8; /* sp % 8 == 4 */
    if (sp > SPMAX)
        return false;
    const long long groups = (long long)((ni + LH - 1) / LH) * ((g.nj + LW - 1) / LW);
    const int bblocks = (g.B + BT - 1) / BT, mblocks = (g.M + TC - 1) / TC;
    const int nsplit = nosplit ? 1 : t4_group_splits(groups * bblocks * mblocks, (LH - 1) * g.s + g.r);
    if (groups > CN_GRID_X_MAX || (unsigned)bblocks > CN_GRID_YZ_MAX || (long long)mblocks * nsplit > CN_GRID_YZ_MAX)
        return false;
    const dim3 grid((unsigned)groups, (unsigned)bblocks, (unsigned)(mblocks * nsplit));
    if (nsplit == 1) {
        CN_LAUNCH(lf_fwd4g_kernel, grid, dim3(NT), st, g, ni, sp, 1, x, w, y);
        return true;
    }
    const long long n = (long long)g.B * ni * g.nj * g.M;
    float *ws = (float *)cn_scratch_alloc((size_t)(n * nsplit) * sizeof(float), st);
    CN_LAUNCH(lf_fwd4g_kernel, grid, dim3(NT), st, g, ni, sp, nsplit, x, w, ws);
    const long long blocks = cn_imin((int)((n + 255) / 256), 1024);
    CN_LAUNCH(lf_fwd4g_sum_kernel, dim3((unsigned)blocks), dim3(256), st, g, ni, nsplit, ws, y);
    cn_scratch_free(ws, st);
    return true;
}

} // namespace cnlf

extern "C" int lf_cuda_set_t4_group_fill(int blocks_per_sm)
{
    if (blocks_per_sm < 1 || blocks_per_sm > 64)
        return cn_set_error("lf_cuda_set_t4_group_fill: %d blocks per SM (1 to 64)", blocks_per_sm);
    cnlf::t4_group_fill = blocks_per_sm;
    return CN_OK;
}
