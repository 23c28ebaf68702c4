/* device.cu: which GPU a rank uses, checked memory helpers, the cuBLAS handle and scratch memory.
 *
 * Without a driver cudaGetDeviceCount returns an error code (no crash: the binary links the CUDA
 * runtime statically and the runtime loads libcuda.so.1 only when first called), so
 * cuda_device_count() reports 0 and the program runs on the CPU backend. Device choice: one rank per
 * GPU, the rank's index on its node (Open MPI, Slurm or MPICH's variable) modulo the GPUs it sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

extern "C" {
#include "src/cpus.h"
}

#define CN_MAX_DEVICES 64

static cublasHandle_t g_blas[CN_MAX_DEVICES];
static int g_pools[CN_MAX_DEVICES]; /* 0 unknown, 1 memory pools supported, 2 not supported */

extern "C" int cuda_device_count(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver, no device, driver too old: not an error here */
        return 0;
    }
    return n > 0 ? n : 0;
}

extern "C" int cuda_available(void) { return cuda_device_count() > 0; }

extern "C" int cuda_local_rank(void) { return cn_local_rank_env(); }

extern "C" int cuda_select_device(int local_rank)
{
    int n = cuda_device_count();
    if (n < 1)
        return cn_set_error("cuda: no usable GPU (no driver, no device visible, or a driver older than "
                            "this build's CUDA %d.%d runtime); use backend = cpu",
                            CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
    if (local_rank < 0)
        local_rank = cuda_local_rank();
    int dev = local_rank % n;
    CUDA_CHECK(cudaSetDevice(dev));
    return dev;
}

extern "C" void cuda_describe(char *buf, size_t len)
{
    if (!buf || !len)
        return;
    int dev = cn_cuda_current_device();
    cudaDeviceProp prop;
    if (dev < 0 || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, len, "no GPU");
        return;
    }
    snprintf(buf, len, "GPU %d: %s, %d SMs, %.1f GiB, sm_%d%d", dev, prop.name, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
}

extern "C" int cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    const cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return cn_set_error("cudaMemGetInfo: %s", cudaGetErrorString(e));
    }
    return CN_OK;
}

extern "C" void cuda_shutdown(void)
{
    for (int i = 0; i < CN_MAX_DEVICES; i++)
        if (g_blas[i]) {
            CUBLAS_CHECK(cublasDestroy(g_blas[i]));
            g_blas[i] = NULL;
        }
}

extern "C" void *cuda_malloc(size_t bytes)
{
    void *p = NULL;
    if (bytes)
        CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}

extern "C" void cuda_free(void *p)
{
    if (p)
        CUDA_CHECK(cudaFree(p));
}

extern "C" void cuda_upload(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

extern "C" void cuda_download(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

extern "C" void cuda_memset(void *dst, int byte, size_t bytes, cudaStream_t stream)
{
    if (bytes)
        CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, stream));
}

extern "C" void cuda_sync(cudaStream_t stream) { CUDA_CHECK(cudaStreamSynchronize(stream)); }

static int device_slot(void)
{
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    if (dev < 0 || dev >= CN_MAX_DEVICES)
        cn_fatal("cuda: device index %d beyond the %d this build handles", dev, CN_MAX_DEVICES);
    return dev;
}

cublasHandle_t cn_cublas(cudaStream_t stream)
{
    int dev = device_slot();
    if (!g_blas[dev]) {
        CUBLAS_CHECK(cublasCreate(&g_blas[dev]));
        /* Standard FP32 arithmetic whatever the environment asks (no TF32, no BF16x9 emulation). */
        CUBLAS_CHECK(cublasSetMathMode(g_blas[dev], CUBLAS_PEDANTIC_MATH));
    }
    CUBLAS_CHECK(cublasSetStream(g_blas[dev], stream));
    return g_blas[dev];
}

static int pools_supported(int dev)
{
    if (!g_pools[dev]) {
        int v = 0;
        CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, dev));
        g_pools[dev] = v ? 1 : 2;
    }
    return g_pools[dev] == 1;
}

void *cn_scratch_alloc(size_t bytes, cudaStream_t stream)
{
    void *p = NULL;
    if (!bytes)
        bytes = 1;
    if (pools_supported(device_slot()))
        CUDA_CHECK(cudaMallocAsync(&p, bytes, stream));
    else
        CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}

void cn_scratch_free(void *p, cudaStream_t stream)
{
    if (!p)
        return;
    if (pools_supported(device_slot()))
        CUDA_CHECK(cudaFreeAsync(p, stream));
    else
        CUDA_CHECK(cudaFree(p)); /* synchronizes the device: the work that used p is done */
}
