/* vec_mem.cuh: 16-byte shared-memory reads and asynchronous global-to-shared copies (sm_80 and later),
 * with plain C++ twins for the CPU emulator (cuda/emu) and nvcc's host pass.
 *
 *   ld4(p)                 the 4 floats at p (16-byte aligned shared memory), one LDS.128
 *   cp_async4(s, g, ok)    s[0] = ok ? g[0] : 0, copied by the memory system without a register
 *   cp_async16(s, g, ok)   s[0..3] = ok ? g[0..3] : 0 (both 16-byte aligned), in one instruction
 *   cp_async_commit()      closes the group of copies this thread issued since the last commit
 *   cp_async_wait<N>()     waits until at most N of this thread's committed groups are in flight
 * A copy is only seen by other threads after cp_async_wait and a __syncthreads(). Where ok is false
 * nothing is read (the source size is 0: the hardware writes zeros), so g may point anywhere.
 * The emulator copies at once (a group is complete when issued): the order of the calls, the barriers
 * and the indexing are what it checks; the asynchrony is for a GPU's compute-sanitizer. */
#ifndef CN_VEC_MEM_CUH
#define CN_VEC_MEM_CUH

#include "cuda/internal.h"

namespace cnvm {

struct alignas(16) F4 {
    float v[4];
};

#if defined(__CUDA_ARCH__)
__device__ __forceinline__ F4 ld4(const float *p)
{
    const float4 t = *reinterpret_cast<const float4 *>(p);
    return F4{{t.x, t.y, t.z, t.w}};
}
__device__ __forceinline__ unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cp_async4(float *s, const float *g, bool ok)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(s)), "l"(g), "r"(ok ? 4 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async16(float *s, const float *g, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(s)), "l"(g), "r"(ok ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#else
__device__ __forceinline__ F4 ld4(const float *p) { return F4{{p[0], p[1], p[2], p[3]}}; }
__device__ __forceinline__ void cp_async4(float *s, const float *g, bool ok) { s[0] = ok ? g[0] : 0.0f; }
__device__ __forceinline__ void cp_async16(float *s, const float *g, bool ok)
{
    for (int e = 0; e < 4; e++)
        s[e] = ok ? g[e] : 0.0f;
}
__device__ __forceinline__ void cp_async_commit() {}
template <int N>
__device__ __forceinline__ void cp_async_wait()
{
}
#endif

} // namespace cnvm

#endif
