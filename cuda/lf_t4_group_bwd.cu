/* lf_t4_group_bwd.cu: scheme t4's backward data over a tile of neighbouring input positions per block,
 * the covering locations split over blocks (for C % 4 == 0; cuda/lf.cu's one-position gather
 * otherwise). The twin of cuda/lf_t4_group.cu's forward:
 *
 *   dx[b,u,v,c] += sum over covering (i,j) in the region and m of w[i,j,m,u-i s,v-j s,c] gy[b,i,j,m]
 *
 * A block takes UH = 4 rows x UW = 4 columns of input positions, 64 samples and 8 channels, and walks
 * the locations (i, j) whose fields cover any of them, one per round (M = 8): each round copies that
 * location's gradient for the 64 samples (64 x 8 floats, shared by all 16 positions) and its filters
 * at the 16 positions (4 x 4 x 8 maps x 8 channels, zero where a position is outside the field). The
 * one-position gather of cuda/lf.cu reads both for every position.
 *
 * Threads: warp li is input row u0 + li (a warp whose row the field misses skips the round), 4
 * positions per warp, 8 threads per position, each with 8 samples (q + 8 e) x 8 channels in
 * registers: 512 products per round from 32 LDS.128. The location rows are split into nsplit ranges,
 * one per block (as the forward's: t4_group_splits); split 0 of 1 adds straight
 * into dx, else every split writes its sums to scratch and a second kernel adds them to dx in order.
 * Every element is a fixed-order sum: bitwise reproducible. */
#include "cuda/internal.h"
#include "cuda/lf_geo.cuh"
#include "cuda/lf_t4.h"
#include "cuda/vec_mem.cuh"

#include <stdint.h>

namespace cnlf {

using cnvm::cp_async16;
using cnvm::cp_async_commit;
using cnvm::cp_async_wait;
using cnvm::F4;
using cnvm::ld4;

namespace grpb {
constexpr int UH = 4, UW = 4, NP = UH * UW; /* input rows (warps) and columns of a tile */
constexpr int BT = 64, NQ = 8, NT = 128;    /* samples per block, threads per position, threads */
constexpr int TC = 8, TM = 8;               /* channels per block, maps per round */
constexpr int GS = TM + 4;                  /* one sample's gradient row, padded: 8 rows in 8 bank groups */
constexpr int PS = TM * TC + 4;             /* one position's filters [m][c], padded */
constexpr int SG = BT * GS, SL = SG + NP * PS; /* one buffer: 3.0 + 4.3 KB */
static_assert(GS % 8 == 4 && PS % 32 == 4, "rows and positions 16 bytes apart in banks");
static_assert(UW * NQ == 32 && UH * 32 == NT, "a warp is one input row");
} // namespace grpb

/* Tile of positions u0 + UH bu .. , v0 + UW bv .. inside [u0, u0 + nu) x [v0, v0 + nv); out: dx (split
 * 0 of 1, added to) or the scratch of partial sums [split][b][u - u0][v - v0][c] (written). */
__global__ void __launch_bounds__(grpb::NT, 4) lf_bwd4g_kernel(Geo g, int ni, int u0, int v0, int nu, int nv,
                                                               int nsplit, const float *__restrict__ w,
                                                               const float *__restrict__ gy, float *__restrict__ out)
{
    using namespace grpb;
    __shared__ __align__(16) float sm[2 * SL];
    const int tid = (int)threadIdx.x, li = tid / 32, lane = tid % 32, lj = lane / NQ, q = lane % NQ;
    const int ntv = (nv + UW - 1) / UW;
    const int tu = u0 + ((int)blockIdx.x / ntv) * UH, tv = v0 + ((int)blockIdx.x % ntv) * UW;
    const int b0 = (int)blockIdx.y * BT;
    const int ncb = (g.C + TC - 1) / TC, cb = (int)blockIdx.z % ncb, split = (int)blockIdx.z / ncb, c0 = cb * TC;
    /* the locations whose fields cover a position of the tile, in the region */
    const int ilo = cn_imax(g.i0, cn_ceildiv(tu - g.r + 1, g.s)), ihi = cn_imin(g.i0 + ni - 1, (tu + UH - 1) / g.s);
    const int jlo = cn_imax(g.j0, cn_ceildiv(tv - g.r + 1, g.s)), jhi = cn_imin(g.j0 + g.nj - 1, (tv + UW - 1) / g.s);
    const int nci = cn_imax(0, ihi - ilo + 1), ncj = cn_imax(0, jhi - jlo + 1);
    const int is0 = ilo + (int)((long long)nci * split / nsplit), is1 = ilo + (int)((long long)nci * (split + 1) / nsplit);
    const int nround = (is1 - is0) * ncj;

    /* gy piece: sample tid / 2 of the block, maps 4 (tid % 2) .. + 3 */
    const int gr = tid / 2, gq = tid % 2;
    const bool g_ok = b0 + gr < g.B;
    const float *gp = gy + (long long)(b0 + gr) * g.ys + 4 * gq;
    float *gs_dst = sm + gr * GS + 4 * gq;
    /* w pieces e < 2: p = tid + 128 e is position (pu, pv) = (p / 64, (p / 16) % 4), map (p / 2) % 8,
     * channels 4 (p % 2) .. + 3 of the block's 8 */
    auto issue = [&](int n, int buf) { /* round n: location (is0 + n / ncj, jlo + n % ncj) */
        const int i = is0 + n / ncj, j = jlo + n % ncj;
        cp_async16(gs_dst + buf * SL, g_ok ? gp + ((long long)i * g.Wo + j) * g.M : gy, g_ok);
        const long long wloc = ((long long)i * g.Wo + j) * g.M * (long long)g.K;
#pragma unroll
        for (int e = 0; e < NP * TM * 2 / NT; e++) {
            const int p = tid + NT * e, pu = p / 64, pv = (p / 16) % 4, m = (p / 2) % 8, h = p % 2;
            const int dy = tu + pu - i * g.s, dx = tv + pv - j * g.s, c = c0 + 4 * h;
            const bool ok = dy >= 0 && dy < g.r && dx >= 0 && dx < g.r && m < g.M && c < g.C;
            cp_async16(sm + buf * SL + SG + (pu * UW + pv) * PS + m * TC + 4 * h,
                       ok ? w + wloc + (long long)m * g.K + ((long long)dy * g.r + dx) * g.C + c : w, ok);
        }
    };
    float acc[8][TC] = {};
    if (nround > 0)
        issue(0, 0);
    cp_async_commit();
    int buf = 0;
    const float *ga = sm + q * GS;                      /* this thread's samples q + 8 e */
    const float *wa = sm + SG + (li * UW + lj) * PS;    /* this position's filters */
    for (int n = 0; n < nround; n++, buf ^= 1) {
        if (n + 1 < nround)
            issue(n + 1, buf ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const int dy = tu + li - (is0 + n / ncj) * g.s;
        if (dy >= 0 && dy < g.r) { /* this warp's row is in the field */
            const float *G = ga + buf * SL, *W = wa + buf * SL;
#pragma unroll 1
            for (int mh = 0; mh < TM / 4; mh++) {
                F4 gv[8];
#pragma unroll
                for (int e = 0; e < 8; e++)
                    gv[e] = ld4(G + e * NQ * GS + 4 * mh);
#pragma unroll
                for (int t = 0; t < 4; t++) {
                    const F4 wlo = ld4(W + (4 * mh + t) * TC), whi = ld4(W + (4 * mh + t) * TC + 4);
#pragma unroll
                    for (int e = 0; e < 8; e++) {
#pragma unroll
                        for (int c = 0; c < 4; c++) {
                            acc[e][c] = fmaf(gv[e].v[t], wlo.v[c], acc[e][c]);
                            acc[e][c + 4] = fmaf(gv[e].v[t], whi.v[c], acc[e][c + 4]);
                        }
                    }
                }
            }
        }
        __syncthreads();
    }
    const int u = tu + li, v = tv + lj;
    if (u < u0 + nu && v < v0 + nv && nround > 0) {
        if (nsplit == 1) {
            float *o = out + ((long long)u * g.Wx + v) * g.C;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int b = b0 + q + NQ * e;
                if (b < g.B)
#pragma unroll
                    for (int c = 0; c < TC; c++)
                        if (c0 + c < g.C)
                            o[(long long)b * g.xs + c0 + c] += acc[e][c];
            }
        } else {
            const long long per = (long long)nu * nv * g.C;
            float *o = out + ((long long)split * g.B) * per + ((long long)(u - u0) * nv + (v - v0)) * g.C;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int b = b0 + q + NQ * e;
                if (b < g.B)
#pragma unroll
                    for (int c = 0; c < TC; c++)
                        if (c0 + c < g.C)
                            o[(long long)b * per + c0 + c] = acc[e][c];
            }
        }
    } else if (u < u0 + nu && v < v0 + nv && nsplit > 1) { /* no location in this split: its share is 0 (one
        * branch with the above, ptxas spills 28 bytes) */
        const long long per = (long long)nu * nv * g.C;
        float *o = out + ((long long)split * g.B) * per + ((long long)(u - u0) * nv + (v - v0)) * g.C;
        for (int e = 0; e < 8; e++) {
            const int b = b0 + q + NQ * e;
            if (b < g.B)
                for (int c = 0; c < TC; c++)
                    if (c0 + c < g.C)
                        o[(long long)b * per + c0 + c] = 0.0f;
        }
    }
}

/* dx[b, u0 + uu, v0 + vv, c] += the sum over splits, in order, of ws[split][b][uu][vv][c] */
__global__ void lf_bwd4g_sum_kernel(Geo g, int u0, int v0, int nu, int nv, int nsplit, const float *__restrict__ ws,
                                    float *__restrict__ dx)
{
    const long long per = (long long)nu * nv * g.C, n = (long long)g.B * per;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        float v = ws[e];
        for (int s = 1; s < nsplit; s++)
            v += ws[(long long)s * n + e];
        const long long b = e / per, r = e - b * per, uv = r / g.C;
        const int uu = (int)(uv / nv), vv = (int)(uv - (long long)uu * nv), c = (int)(r - uv * g.C);
        dx[b * g.xs + ((long long)(u0 + uu) * g.Wx + v0 + vv) * g.C + c] += v;
    }
}

bool t4_backward_data_group(const Geo &g, int ni, const float *w, const float *gy, float *dx, bool nosplit,
                            cudaStream_t st)
{
    using namespace grpb;
    if (g.M != TM || g.C % 4 != 0 || (uintptr_t)w % 16 != 0 || (uintptr_t)gy % 16 != 0)
        return false; /* 16-byte pieces of w and gy, all 8 maps in one round */
    /* the inputs the region's fields reach */
    const int u0 = g.i0 * g.s, v0 = g.j0 * g.s, nu = (ni - 1) * g.s + g.r, nv = (g.nj - 1) * g.s + g.r;
    const long long tiles = (long long)((nu + UH - 1) / UH) * ((nv + UW - 1) / UW);
    const int bblocks = (g.B + BT - 1) / BT, cblocks = (g.C + TC - 1) / TC;
    const long long base = tiles * bblocks * cblocks;
    const int nsplit = nosplit ? 1 : t4_group_splits(base, (UH - 1 + g.r - 1) / g.s + 1); /* covering rows */
    if (tiles > CN_GRID_X_MAX || (unsigned)bblocks > CN_GRID_YZ_MAX || (long long)cblocks * nsplit > CN_GRID_YZ_MAX)
        return false;
    const dim3 grid((unsigned)tiles, (unsigned)bblocks, (unsigned)(cblocks * nsplit));
    if (nsplit == 1) {
        CN_LAUNCH(lf_bwd4g_kernel, grid, dim3(NT), st, g, ni, u0, v0, nu, nv, 1, w, gy, dx);
        return true;
    }
    const long long n = (long long)g.B * nu * nv * g.C;
    float *ws = (float *)cn_scratch_alloc((size_t)(n * nsplit) * sizeof(float), st);
    CN_LAUNCH(lf_bwd4g_kernel, grid, dim3(NT), st, g, ni, u0, v0, nu, nv, nsplit, w, gy, ws);
    const long long blocks = cn_imin((int)((n + 255) / 256), 1024);
    CN_LAUNCH(lf_bwd4g_sum_kernel, dim3((unsigned)blocks), dim3(256), st, g, u0, v0, nu, nv, nsplit, ws, dx);
    cn_scratch_free(ws, st);
    return true;
}

} // namespace cnlf
