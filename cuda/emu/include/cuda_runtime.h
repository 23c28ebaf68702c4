/* cuda_runtime.h (CPU emulator): what a .cu file sees, for g++. The blocks of a grid run one after
 * another; the threads of a block are fibers switched at __syncthreads() (each pass between two barriers
 * runs them in a new random order, so a missing barrier shows), or real std::threads meeting at a barrier with
 * COTSNET_EMU_THREADS=1 (a missing barrier is then a data race that ThreadSanitizer reports).
 * __shared__ variables are static (one block runs at a time). A barrier that not every thread of the
 * block reaches ends the program with a message instead of hanging. No warp intrinsics, no atomics:
 * the kernels of cuda/ use neither. Tests only (tests/t_cuda_emu.sh), never a real build. */
#ifndef CN_EMU_CUDA_RUNTIME_H
#define CN_EMU_CUDA_RUNTIME_H

#include <cmath>
#include <cstddef>
#include <functional>

#include "cuda_runtime_api.h"

typedef struct cudaDeviceProp cudaDeviceProp;

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
    unsigned x, y, z;
};

extern thread_local uint3 emu_threadIdx, emu_blockIdx;
extern thread_local dim3 emu_blockDim, emu_gridDim;
#define threadIdx emu_threadIdx
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

using std::exp;
using std::log;
using std::nan;
using std::sqrt;

void emu_syncthreads(void);
#define __syncthreads() emu_syncthreads()

/* Runs body(thread) for every thread of every block; checks the configuration like a launch does. */
cudaError_t emu_run(dim3 grid, dim3 block, const std::function<void()> &body);
void emu_set_error(cudaError_t e);

template <class... P, class... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t, A... args)
{
    cudaError_t e = emu_run(grid, block, [&]() { kernel(static_cast<P>(args)...); });
    if (e != cudaSuccess)
        emu_set_error(e);
}

#define CN_LAUNCH(kernel, grid, block, stream, ...)                                                       \
    do {                                                                                                  \
        emu_launch(kernel, dim3(grid), dim3(block), stream, __VA_ARGS__);                                 \
        CUDA_CHECK(cudaGetLastError());                                                                   \
    } while (0)

#endif
