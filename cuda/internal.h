/* internal.h: what the files of cuda/ share and nobody else needs (CUDA C++ only).
 *
 *  - the cuBLAS handle of the current device, bound to a stream, in strict FP32 mode;
 *  - scratch memory from the stream-ordered allocator (cudaMallocAsync), so that a kernel's temporary
 *    buffers cost no device-wide synchronization; plain cudaMalloc on devices without memory pools;
 *  - the local filter's passes in a given tile scheme (cuda/lf.cu), for cuda/lf_tune.cu;
 *  - small index helpers usable on both sides. */
#ifndef CN_CUDA_INTERNAL_H
#define CN_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "cuda/cuda_check.h"
#include "cuda/ops_cuda.h"

/* The handle of the current device (created at the first call, CUBLAS_PEDANTIC_MATH), set to stream. */
cublasHandle_t cn_cublas(cudaStream_t stream);

/* bytes of device memory usable by work queued on stream after this call; freed in stream order. */
void *cn_scratch_alloc(size_t bytes, cudaStream_t stream);
void cn_scratch_free(void *p, cudaStream_t stream);

/* lf_forward_cuda and its siblings (same arguments and checks) in scheme tiles (LF_TILES_T32, T16 or
 * T4) instead of lf_cuda_tiles_for's; the fused pass takes one scheme per term. */
int cn_lf_forward(int tiles, const lf_dims *d, const float *x, const float *w, float *y, cn_region rg,
                  cudaStream_t stream);
int cn_lf_backward_data(int tiles, const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg,
                        cudaStream_t stream);
int cn_lf_backward_filter(int tiles, const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg,
                          cudaStream_t stream);
int cn_lf_backward_fused_sgd(int tiles_data, int tiles_filter, const lf_dims *d, const float *x, float *w,
                             const float *dy, float *dx, const float *x2, const float *dy2, float lr, float wd,
                             cn_region rg, cudaStream_t stream);

static __host__ __device__ __forceinline__ int cn_imin(int a, int b) { return a < b ? a : b; }
static __host__ __device__ __forceinline__ int cn_imax(int a, int b) { return a > b ? a : b; }
/* floor(a / b) for b > 0 and any sign of a. */
static __host__ __device__ __forceinline__ int cn_floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
/* ceil(a / b) for b > 0 and any sign of a. */
static __host__ __device__ __forceinline__ int cn_ceildiv(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Largest grid in y and z. */
#define CN_GRID_YZ_MAX 65535u
#define CN_GRID_X_MAX 2147483647u

#endif
