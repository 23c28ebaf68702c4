/* glue.cu: the element-wise steps and sums that the engine does between operations (src/stage.c,
 * src/classifier.c), on the GPU, so that a training step's tensors never leave the device; only the
 * few numbers the host needs (loss sums, counts) come back.
 *
 * Sums are deterministic: a fixed number of blocks (from n alone), each thread summing a fixed
 * stride of elements in double, a tree in shared memory per block, then one block adding the block
 * sums in order. The results equal the CPU's sums within double rounding (another order). */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

constexpr int SUM_THREADS = 256;
constexpr unsigned SUM_BLOCKS_MAX = 256;

/* MODE 0: sum of v[i]. MODE 1: sum of (a[i] - v[i])^2 in double, and ge[i] = scale * (a[i] - v[i])
 * (rica: a = reconstruction, v = input). One partial per block into part[blockIdx.x]. */
template <int MODE>
__global__ void __launch_bounds__(SUM_THREADS)
    sum_kernel(const float *__restrict__ v, const float *__restrict__ a, float *__restrict__ ge, double two,
               double denom, size_t n, double *__restrict__ part)
{
    __shared__ double red[SUM_THREADS];
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        if (MODE == 0) {
            s += (double)v[i];
        } else {
            const double e = (double)a[i] - (double)v[i];
            s += e * e;
            ge[i] = (float)(two * e / denom);
        }
    }
    red[threadIdx.x] = s;
    __syncthreads();
    for (int h = SUM_THREADS / 2; h > 0; h /= 2) {
        if ((int)threadIdx.x < h)
            red[threadIdx.x] += red[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        part[blockIdx.x] = red[0];
}

/* out = sum of part[0, nb), in order, by one thread (nb <= SUM_BLOCKS_MAX) */
__global__ void sum_parts_kernel(const double *__restrict__ part, unsigned nb, double *__restrict__ out)
{
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        double s = 0;
        for (unsigned i = 0; i < nb; i++)
            s += part[i];
        *out = s;
    }
}

template <int MODE>
void sum_launch(const float *v, const float *a, float *ge, double two, double denom, size_t n, double *out,
                cudaStream_t stream)
{
    unsigned nb = cn_grid_1d(n, SUM_THREADS);
    if (nb > SUM_BLOCKS_MAX)
        nb = SUM_BLOCKS_MAX;
    double *part = (double *)cn_scratch_alloc(nb * sizeof(double), stream);
    auto kern = &sum_kernel<MODE>;
    CN_LAUNCH(kern, nb, SUM_THREADS, stream, v, a, ge, two, denom, n, part);
    CN_LAUNCH(sum_parts_kernel, 1, 32, stream, part, nb, out);
    cn_scratch_free(part, stream);
}

__global__ void fill_kernel(float *__restrict__ v, size_t n, float value)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        v[i] = value;
}

/* z[b, k] += bias[k] */
__global__ void bias_add_kernel(float *__restrict__ z, const float *__restrict__ bias, int B, int K)
{
    const size_t n = (size_t)B * (size_t)K;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        z[i] += bias[i % (size_t)K];
}

/* gb[k] += dz[0, k] + dz[1, k] + ... in the order of b, in float, as the CPU does */
__global__ void bias_grad_kernel(const float *__restrict__ dz, int B, int K, float *__restrict__ gb)
{
    for (int k = (int)(blockIdx.x * blockDim.x + threadIdx.x); k < K; k += (int)(gridDim.x * blockDim.x)) {
        float g = gb[k];
        for (int b = 0; b < B; b++)
            g += dz[(size_t)b * (size_t)K + (size_t)k];
        gb[k] = g;
    }
}

} // namespace

extern "C" int sum_cuda(const float *v, size_t n, double *sum, cudaStream_t stream)
{
    if (!sum || (n && !v))
        return cn_set_error("sum_cuda: NULL array");
    if (n == 0) {
        CUDA_CHECK(cudaMemsetAsync(sum, 0, sizeof *sum, stream));
        return CN_OK;
    }
    sum_launch<0>(v, NULL, NULL, 0, 1, n, sum, stream);
    return CN_OK;
}

extern "C" int rica_residual_cuda(const float *xr, const float *x, size_t n, double two, double denom, float *ge,
                                  double *sum_sq, cudaStream_t stream)
{
    if (!sum_sq || (n && (!xr || !x || !ge)))
        return cn_set_error("rica_residual_cuda: NULL array");
    if (!(denom != 0))
        return cn_set_error("rica_residual_cuda: zero denominator");
    if (n == 0) {
        CUDA_CHECK(cudaMemsetAsync(sum_sq, 0, sizeof *sum_sq, stream));
        return CN_OK;
    }
    sum_launch<1>(x, xr, ge, two, denom, n, sum_sq, stream);
    return CN_OK;
}

extern "C" int fill_cuda(float *v, size_t n, float value, cudaStream_t stream)
{
    if (n && !v)
        return cn_set_error("fill_cuda: NULL array");
    if (n)
        CN_LAUNCH(fill_kernel, cn_grid_1d(n, 256), 256, stream, v, n, value);
    return CN_OK;
}

extern "C" int bias_add_cuda(float *z, const float *bias, int B, int K, cudaStream_t stream)
{
    if (B < 1 || K < 1 || !z || !bias)
        return cn_set_error("bias_add_cuda: B = %d, K = %d must be >= 1, arrays non-NULL", B, K);
    CN_LAUNCH(bias_add_kernel, cn_grid_1d((size_t)B * (size_t)K, 256), 256, stream, z, bias, B, K);
    return CN_OK;
}

extern "C" int bias_grad_cuda(const float *dz, int B, int K, float *gb, cudaStream_t stream)
{
    if (B < 1 || K < 1 || !dz || !gb)
        return cn_set_error("bias_grad_cuda: B = %d, K = %d must be >= 1, arrays non-NULL", B, K);
    CN_LAUNCH(bias_grad_kernel, cn_grid_1d((size_t)K, 128), 128, stream, dz, B, K, gb);
    return CN_OK;
}
