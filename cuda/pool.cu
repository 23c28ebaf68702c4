/* pool.cu: L2 pooling on the GPU (twins of src/pool_ref.c; formulas in docs/MODEL.md).
 *
 * One thread per element, maps fastest (NHWC), so a warp reads and writes consecutive floats.
 *   forward   one thread per output (b, i, j, m) of the region: sqrt(eps + sum of squares), the sum in
 *             the reference's order (u, then v);
 *   backward  gather, no atomics: one thread per input (b, a, c, m) that the region's windows reach;
 *             it sums dp/p * y over the outputs whose window holds it, then adds that once. Inputs no
 *             window holds (t > q leaves gaps) are not touched. */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

struct PoolGeo {
    int B, M, Hy, Wy, Hp, Wp, q, t;
    float eps;
    int i0, j0, ni, nj; /* region */
};

__global__ void pool_fwd_kernel(PoolGeo g, const float *__restrict__ y, float *__restrict__ p, size_t n)
{
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int m = (int)(idx % g.M);
        size_t rest = idx / g.M;
        const int j = g.j0 + (int)(rest % g.nj);
        rest /= g.nj;
        const int i = g.i0 + (int)(rest % g.ni);
        const int b = (int)(rest / g.ni);
        float sum = 0.0f;
        for (int u = 0; u < g.q; u++) {
            const float *row = y + (((size_t)b * g.Hy + (size_t)(i * g.t + u)) * g.Wy + (size_t)j * g.t) * g.M + m;
            for (int v = 0; v < g.q; v++) {
                const float val = row[(size_t)v * g.M];
                sum += val * val;
            }
        }
        p[(((size_t)b * g.Hp + i) * g.Wp + j) * g.M + m] = sqrtf(g.eps + sum);
    }
}

/* inputs [a0, a0 + na) x [c0, c0 + nc) */
__global__ void pool_bwd_kernel(PoolGeo g, int a0, int c0, int na, int nc, const float *__restrict__ y,
                                const float *__restrict__ p, const float *__restrict__ dp,
                                float *__restrict__ dy, size_t n)
{
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int m = (int)(idx % g.M);
        size_t rest = idx / g.M;
        const int c = c0 + (int)(rest % nc);
        rest /= nc;
        const int a = a0 + (int)(rest % na);
        const int b = (int)(rest / na);
        /* outputs (i, j) of the region with 0 <= a - i*t < q and 0 <= c - j*t < q */
        const int ilo = cn_imax(g.i0, cn_ceildiv(a - g.q + 1, g.t)), ihi = cn_imin(g.i0 + g.ni - 1, a / g.t);
        const int jlo = cn_imax(g.j0, cn_ceildiv(c - g.q + 1, g.t)), jhi = cn_imin(g.j0 + g.nj - 1, c / g.t);
        if (ilo > ihi || jlo > jhi)
            continue;
        const size_t k = (((size_t)b * g.Hy + a) * g.Wy + c) * g.M + m;
        const float yv = y[k];
        float acc = 0.0f;
        for (int i = ilo; i <= ihi; i++)
            for (int j = jlo; j <= jhi; j++) {
                const size_t o = (((size_t)b * g.Hp + i) * g.Wp + j) * g.M + m;
                acc += (dp[o] / p[o]) * yv;
            }
        dy[k] += acc;
    }
}

int pool_prepare(const char *op, const pool_dims *d, cn_region rg, int arrays_given, PoolGeo *g)
{
    if (pool_check_call(op, d, rg, arrays_given) != CN_OK)
        return CN_EINVAL;
    *g = PoolGeo{d->B, d->M, d->Hy, d->Wy, d->Hp, d->Wp, d->q, d->t, d->eps, rg.i0, rg.j0, rg.i1 - rg.i0,
                 rg.j1 - rg.j0};
    return CN_OK;
}

} // namespace

extern "C" int pool_forward_cuda(const pool_dims *d, const float *y, float *p, cn_region rg, cudaStream_t stream)
{
    PoolGeo g;
    if (pool_prepare("pool_forward_cuda", d, rg, y && p, &g) != CN_OK)
        return CN_EINVAL;
    const size_t n = (size_t)g.B * g.ni * g.nj * g.M;
    if (n == 0)
        return CN_OK;
    CN_LAUNCH(pool_fwd_kernel, cn_grid_1d(n, 256), 256, stream, g, y, p, n);
    return CN_OK;
}

extern "C" int pool_backward_cuda(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                                  cn_region rg, cudaStream_t stream)
{
    PoolGeo g;
    if (pool_prepare("pool_backward_cuda", d, rg, y && p && dp && dy, &g) != CN_OK)
        return CN_EINVAL;
    if (g.ni == 0 || g.nj == 0)
        return CN_OK;
    const int a0 = g.i0 * g.t, c0 = g.j0 * g.t, na = (g.ni - 1) * g.t + g.q, nc = (g.nj - 1) * g.t + g.q;
    const size_t n = (size_t)g.B * na * nc * g.M;
    CN_LAUNCH(pool_bwd_kernel, cn_grid_1d(n, 256), 256, stream, g, a0, c0, na, nc, y, p, dp, dy, n);
    return CN_OK;
}
