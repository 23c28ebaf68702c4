/* lf_cpu_avx2.c: the local-filter kernels of src/lf_cpu_impl.h for AVX2 + FMA (8 float lanes).
 *
 * The whole file is compiled for avx2,fma by a target pragma (the Makefile gives every file the same
 * flags); lf_cpu.c calls it only when the CPU has both. Register blocks fit the 16 ymm registers:
 * forward (few images) 3 maps x 4 images of accumulators, backward up to 12 accumulators (mr x nv). */
#include "src/lf_cpu_isa.h"

#ifdef LF_HAVE_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#include <immintrin.h>
#include <stdint.h>

typedef __m256 vf;
typedef __m256i vm;
#define VL 8
#define SFX(name) name##_avx2
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_BCAST(p) _mm256_broadcast_ss(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_LOADM(p, k) _mm256_maskload_ps(p, k)
#define V_KEEP(v, k) _mm256_and_ps(v, _mm256_castsi256_ps(k))
#define V_STOREM(p, k, v) _mm256_maskstore_ps(p, k, v)
static const int32_t lf_mask_tab[24] = {0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1,
                                        0, 0, 0, 0, 0, 0, 0, 0};
#define V_MASK_LO(n) _mm256_loadu_si256((const __m256i *)(lf_mask_tab + 16 - (n)))
#define V_MASK_HI(n) _mm256_loadu_si256((const __m256i *)(lf_mask_tab + (n)))

/* Eight vectors to their eight lane sums. */
static inline __attribute__((always_inline)) __m256 lf_reduce8(__m256 a0, __m256 a1, __m256 a2, __m256 a3,
                                                               __m256 a4, __m256 a5, __m256 a6, __m256 a7)
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
static inline __attribute__((always_inline)) void v_reduce(const __m256 *acc, int n, float *out)
{
    __m256 z = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int k = 0; k < n; k += 8) {
        __m256 t[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            t[q] = k + q < n ? acc[k + q] : z;
        __m256 s = lf_reduce8(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
        if (n - k >= 8) {
            _mm256_storeu_ps(out + k, s);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, s);
            for (int q = 0; q < n - k; q++)
                out[k + q] = tmp[q];
        }
    }
}

#define KDOT_MB 3
#define KDOT_BB 4
#define KDOT_LIST(X) X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) \
                     X(3, 1) X(3, 2) X(3, 3) X(3, 4)
#define KOUT_NV 3
#define KOUT_MRMAX 12
#define KOUT_ACC 12
#define KOUT_MR(nv) (12 / (nv))
#define KOUT_LIST1(X) X(1, 1) X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1) X(9, 1) X(10, 1) \
                      X(11, 1) X(12, 1)
#define KOUT_LIST(X) KOUT_LIST1(X) X(1, 2) X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2) \
                     X(1, 3) X(2, 3) X(3, 3) X(4, 3)

#define KOUT_NVW 8
#define KOUT_MRW(nv) (12 / (nv))
#define KOUT_LISTW(X) X(1, 4) X(2, 4) X(3, 4) X(1, 5) X(2, 5) X(1, 6) X(2, 6) X(1, 7) X(1, 8)
#include "src/lf_cpu_tr8.h"
#include "src/lf_cpu_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
typedef int lf_cpu_avx2_unused; /* not x86-64: nothing to build */
#endif
