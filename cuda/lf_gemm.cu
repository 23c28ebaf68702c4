/* lf_gemm.cu: the local filter as a library batched GEMM (cuBLAS), the route cuda/lf.cu is measured
 * against (docs/CUDA.md "The batched-GEMM route"; bench_cuda times both on the same shapes).
 *
 * At output location l = (i, j) the three passes are dense products with that location's weights, so
 * with the patches unfolded (xu[l][b][k] = x[b, i s + k / rC, j s + (k % rC) / C, k % C], k = (dy, dx, c)
 * as in w) each pass is one cublasSgemmStridedBatched over the Ho * Wo locations:
 *   forward          y[b, l, m]  = sum_k xu[l][b][k] w[l][m][k]
 *   backward filter  dw[l][m][k] += sum_b dy[b, l, m] xu[l][b][k]
 *   backward data    dxu[l][b][k] = sum_m dy[b, l, m] w[l][m][k], then dx += fold(dxu)
 * Column-major views (what cuBLAS sees): w[l] is K x M (ld K), xu[l] is K x B (ld K), and y or dy at l
 * is M x B with ld Ho*Wo*M (the NHWC layout, location l starting M floats after l - 1). The unfolded
 * patches take r*r/(s*s) times the memory of x: that, and the unfold and fold passes, is the price of
 * this route. Whole tile only; FP32 in CUBLAS_PEDANTIC_MATH (cn_cublas). */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

struct UGeo {
    int B, Wx, C, Ho, Wo, s, K, rC, r;
    long long xs; /* Hx * Wx * C: one sample of x */
};

UGeo ugeo(const lf_dims *d)
{
    UGeo g;
    g.B = d->B, g.Wx = d->Wx, g.C = d->C, g.Ho = d->Ho, g.Wo = d->Wo, g.s = d->s, g.r = d->r;
    g.rC = d->r * d->C, g.K = d->r * d->r * d->C;
    g.xs = (long long)d->Hx * d->Wx * d->C;
    return g;
}

/* One thread per element of xu, k fastest: the writes are coalesced, the reads along a field row too. */
__global__ void unfold_kernel(UGeo g, const float *__restrict__ x, float *__restrict__ xu, size_t n)
{
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)(idx % g.K);
        const size_t lb = idx / g.K;
        const int b = (int)(lb % g.B), l = (int)(lb / g.B);
        const int i = l / g.Wo, j = l - i * g.Wo, ky = k / g.rC;
        xu[idx] = x[b * g.xs + (long long)(i * g.s + ky) * g.Wx * g.C + (long long)j * g.s * g.C + (k - ky * g.rC)];
    }
}

/* Gather: one thread per element of x sums, in a fixed order, the unfolded entries of every field of
 * the tile that covers it (no atomics); an element no field covers is left as it was. */
__global__ void fold_kernel(UGeo g, int Hx, const float *__restrict__ xu, float *__restrict__ dx, size_t n)
{
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const int c = (int)(idx % g.C);
        size_t rest = idx / g.C;
        const int v = (int)(rest % g.Wx);
        rest /= g.Wx;
        const int u = (int)(rest % Hx), b = (int)(rest / Hx);
        /* outputs i with i s <= u < i s + r, inside the tile; likewise j */
        const int ilo = cn_imax(0, cn_ceildiv(u - g.r + 1, g.s)), ihi = cn_imin(g.Ho - 1, cn_floordiv(u, g.s));
        const int jlo = cn_imax(0, cn_ceildiv(v - g.r + 1, g.s)), jhi = cn_imin(g.Wo - 1, cn_floordiv(v, g.s));
        if (ilo > ihi || jlo > jhi)
            continue;
        float sum = 0.0f;
        for (int i = ilo; i <= ihi; i++)
            for (int j = jlo; j <= jhi; j++) {
                const int k = (u - i * g.s) * g.rC + (v - j * g.s) * g.C + c;
                sum += xu[((size_t)(i * g.Wo + j) * g.B + b) * g.K + k];
            }
        dx[idx] += sum;
    }
}

int gemm_prepare(const char *op, const lf_dims *d, int arrays_given)
{
    if (lf_check_call(op, d, region_all(d->Ho, d->Wo), arrays_given) != CN_OK)
        return CN_EINVAL;
    if ((long long)d->Ho * d->Wo * d->M > 2147483647LL || (long long)d->r * d->r * d->C > 2147483647LL)
        return cn_set_error("%s: a sample of the output tile or one filter has 2^31 floats or more", op);
    return CN_OK;
}

} // namespace

extern "C" size_t lf_unfold_count(const lf_dims *d)
{
    return (size_t)d->Ho * d->Wo * d->B * d->r * d->r * d->C;
}

extern "C" int lf_unfold_cuda(const lf_dims *d, const float *x, float *xu, cudaStream_t stream)
{
    if (gemm_prepare("lf_unfold_cuda", d, x && xu) != CN_OK)
        return CN_EINVAL;
    const size_t n = lf_unfold_count(d);
    if (n)
        CN_LAUNCH(unfold_kernel, cn_grid_1d(n, 256), 256, stream, ugeo(d), x, xu, n);
    return CN_OK;
}

extern "C" int lf_fold_cuda(const lf_dims *d, const float *xu, float *dx, cudaStream_t stream)
{
    if (gemm_prepare("lf_fold_cuda", d, xu && dx) != CN_OK)
        return CN_EINVAL;
    const size_t n = (size_t)d->B * d->Hx * d->Wx * d->C;
    if (n && d->Ho && d->Wo)
        CN_LAUNCH(fold_kernel, cn_grid_1d(n, 256), 256, stream, ugeo(d), d->Hx, xu, dx, n);
    return CN_OK;
}

extern "C" int lf_gemm_forward_cuda(const lf_dims *d, const float *xu, const float *w, float *y, cudaStream_t stream)
{
    if (gemm_prepare("lf_gemm_forward_cuda", d, xu && w && y) != CN_OK)
        return CN_EINVAL;
    const int L = d->Ho * d->Wo, K = d->r * d->r * d->C;
    if (!L || !d->B || !d->M)
        return CN_OK;
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(cn_cublas(stream), CUBLAS_OP_T, CUBLAS_OP_N, d->M, d->B, K, &one, w, K,
                                           (long long)d->M * K, xu, K, (long long)d->B * K, &zero, y, L * d->M,
                                           d->M, L));
    return CN_OK;
}

extern "C" int lf_gemm_backward_data_cuda(const lf_dims *d, const float *w, const float *dy, float *dxu,
                                          cudaStream_t stream)
{
    if (gemm_prepare("lf_gemm_backward_data_cuda", d, w && dy && dxu) != CN_OK)
        return CN_EINVAL;
    const int L = d->Ho * d->Wo, K = d->r * d->r * d->C;
    if (!L || !d->B || !K)
        return CN_OK;
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(cn_cublas(stream), CUBLAS_OP_N, CUBLAS_OP_N, K, d->B, d->M, &one, w, K,
                                           (long long)d->M * K, dy, L * d->M, d->M, &zero, dxu, K,
                                           (long long)d->B * K, L));
    return CN_OK;
}

extern "C" int lf_gemm_backward_filter_cuda(const lf_dims *d, const float *xu, const float *dy, float *dw,
                                            cudaStream_t stream)
{
    if (gemm_prepare("lf_gemm_backward_filter_cuda", d, xu && dy && dw) != CN_OK)
        return CN_EINVAL;
    const int L = d->Ho * d->Wo, K = d->r * d->r * d->C;
    if (!L || !d->M || !K)
        return CN_OK;
    const float one = 1.0f;
    CUBLAS_CHECK(cublasSgemmStridedBatched(cn_cublas(stream), CUBLAS_OP_N, CUBLAS_OP_T, K, d->M, d->B, &one, xu, K,
                                           (long long)d->B * K, dy, L * d->M, d->M, &one, dw, K, (long long)d->M * K,
                                           L));
    return CN_OK;
}
