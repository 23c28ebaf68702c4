/* cuda_check.h: one check macro per GPU library, and the checked kernel launch (CUDA C++ only).
 *
 * Every CUDA, cuBLAS and NCCL call in cuda/ goes through one of these. A failure ends the whole job
 * through cn_fatal (src/common.h), which prints "cotsnet: rank R: error: MSG (file:line)" and then
 * calls MPI_Abort when MPI is up: one rank failing alone never leaves the others waiting. MSG names
 * the call as written, the library's error name and string, the current device, and what to try.
 *
 * CN_LAUNCH(kernel, grid, block, stream, args...) launches and then checks the launch
 * (cudaGetLastError: bad configuration, too much shared memory, no kernel image for this GPU).
 * Errors that happen while the kernel runs surface at the next checked call on that stream; build
 * with -DCN_CUDA_SYNC_CHECK to synchronize after every launch and catch them at the launch itself.
 * cuda/emu/ (the CPU emulator used by tests/t_cuda_emu.sh) defines CN_LAUNCH before this header. */
#ifndef CN_CUDA_CHECK_H
#define CN_CUDA_CHECK_H

#include <cuda_runtime.h>

extern "C" {
#include "src/common.h"
}

/* The device this thread is using, for messages (-1 when even that fails). */
static inline int cn_cuda_current_device(void)
{
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess)
        dev = -1;
    return dev;
}

#define CUDA_CHECK(call)                                                                                  \
    do {                                                                                                  \
        cudaError_t cn_e_ = (call);                                                                       \
        if (cn_e_ != cudaSuccess)                                                                         \
            cn_fatal("%s failed on GPU %d: %s (%s); check the GPU with nvidia-smi, or run with "           \
                     "CUDA_LAUNCH_BLOCKING=1 to find the failing kernel",                                 \
                     #call, cn_cuda_current_device(), cudaGetErrorString(cn_e_), cudaGetErrorName(cn_e_)); \
    } while (0)

#define CUBLAS_CHECK(call)                                                                                \
    do {                                                                                                  \
        cublasStatus_t cn_s_ = (call);                                                                    \
        if (cn_s_ != CUBLAS_STATUS_SUCCESS)                                                               \
            cn_fatal("%s failed on GPU %d: cuBLAS status %d (%s)", #call, cn_cuda_current_device(),       \
                     (int)cn_s_, cublasGetStatusString(cn_s_));                                           \
    } while (0)

/* NCCL is loaded at run time (cuda/nccl_comm.cu), so its error string comes through
 * cn_nccl_error_string(), which the file that uses NCCL_CHECK defines. */
#define NCCL_CHECK(call)                                                                                  \
    do {                                                                                                  \
        ncclResult_t cn_n_ = (call);                                                                      \
        if (cn_n_ != ncclSuccess)                                                                         \
            cn_fatal("%s failed on GPU %d: NCCL error %d (%s); rerun with NCCL_DEBUG=WARN for details",   \
                     #call, cn_cuda_current_device(), (int)cn_n_, cn_nccl_error_string(cn_n_));           \
    } while (0)

#ifdef CN_CUDA_SYNC_CHECK
#define CN_LAUNCH_SYNC(stream) CUDA_CHECK(cudaStreamSynchronize(stream))
#else
#define CN_LAUNCH_SYNC(stream) ((void)0)
#endif

/* Launch a kernel (a function name or a pointer to a __global__ function) and check the launch. */
#ifndef CN_LAUNCH
#define CN_LAUNCH(kernel, grid, block, stream, ...)                                                       \
    do {                                                                                                  \
        kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__);                                            \
        CUDA_CHECK(cudaGetLastError());                                                                   \
        CN_LAUNCH_SYNC(stream);                                                                           \
    } while (0)
#endif

/* Blocks of a 1-d launch over n items, capped so that grid-stride loops cover the rest. */
static inline unsigned cn_grid_1d(size_t n, unsigned threads)
{
    size_t blocks = (n + threads - 1) / threads;
    const size_t cap = 65535u * 16u;
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

#endif
