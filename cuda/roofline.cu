/* roofline.cu: measured ceilings of the current GPU (cuda/roofline.h): copy bandwidth and FP32 FMA
 * rate. Timed with CUDA events after one warm-up run; the best run counts (a ceiling, not a typical
 * value). The FMA kernel keeps everything in registers and writes one float per thread at the end, so
 * that the compiler cannot drop the work. */
#include "cuda/internal.h"
#include "cuda/roofline.h"

namespace {

__global__ void copy_kernel(const float4 *__restrict__ a, float4 *__restrict__ b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        b[i] = a[i];
}

#define CN_FMA_CHAINS 8
__global__ void fma_kernel(float *out, int iters, float a, float b)
{
    float x[CN_FMA_CHAINS];
#pragma unroll
    for (int k = 0; k < CN_FMA_CHAINS; k++)
        x[k] = (float)(threadIdx.x + k);
    for (int it = 0; it < iters; it++)
#pragma unroll
        for (int k = 0; k < CN_FMA_CHAINS; k++)
            x[k] = fmaf(x[k], a, b);
    float s = 0;
#pragma unroll
    for (int k = 0; k < CN_FMA_CHAINS; k++)
        s += x[k];
    out[blockIdx.x * (size_t)blockDim.x + threadIdx.x] = s;
}

/* milliseconds of the best of reps runs of f(), after one warm-up */
template <class F>
double best_ms(int reps, F f)
{
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    f();
    double best = 1e30;
    for (int r = 0; r < (reps > 0 ? reps : 1); r++) {
        CUDA_CHECK(cudaEventRecord(e0, 0));
        f();
        CUDA_CHECK(cudaEventRecord(e1, 0));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (ms < best)
            best = ms;
    }
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    return best;
}

} // namespace

extern "C" double cuda_measure_copy_gbs(size_t bytes, int reps)
{
    const size_t n = bytes / sizeof(float4);
    if (n == 0)
        return 0;
    float4 *a = NULL, *b = NULL;
    CUDA_CHECK(cudaMalloc(&a, n * sizeof(float4)));
    CUDA_CHECK(cudaMalloc(&b, n * sizeof(float4)));
    CUDA_CHECK(cudaMemset(a, 0x3c, n * sizeof(float4))); /* not zeros: 0x3c3c3c3c = 0.0115 */
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const unsigned blocks = (unsigned)(sms * 8);
    double ms = best_ms(reps, [&] { CN_LAUNCH(copy_kernel, blocks, 256, 0, a, b, n); });
    CUDA_CHECK(cudaFree(a));
    CUDA_CHECK(cudaFree(b));
    return 2.0 * (double)(n * sizeof(float4)) / (ms * 1e-3) / 1e9;
}

extern "C" double cuda_measure_fma_gflops(int reps)
{
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const unsigned blocks = (unsigned)(sms * 4), threads = 512;
    const int iters = 16384;
    float *out = NULL;
    CUDA_CHECK(cudaMalloc(&out, (size_t)blocks * threads * sizeof(float)));
    double ms = best_ms(reps, [&] { CN_LAUNCH(fma_kernel, blocks, threads, 0, out, iters, 0.9999999f, 1e-7f); });
    CUDA_CHECK(cudaFree(out));
    return 2.0 * CN_FMA_CHAINS * (double)iters * blocks * threads / (ms * 1e-3) / 1e9;
}
