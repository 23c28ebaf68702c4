/* lf_cpu_avx512.c: the local-filter kernels of src/lf_cpu_impl.h for AVX-512F (16 float lanes).
 *
 * Compiled for avx512f by a target pragma (the Makefile gives every file the same flags); lf_cpu.c
 * calls it only when the CPU has AVX-512F and it was asked for (COTSNET_CPU_ISA=avx512). Masks are
 * k-registers, so tails cost nothing extra. Register blocks use the 32 zmm registers: forward (few
 * images) 4 maps x 5 images of accumulators, backward up to 24 accumulators (mr x nv). */
#include "src/lf_cpu_isa.h"

#ifdef LF_HAVE_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx2,fma")
#endif

#include <immintrin.h>

typedef __m512 vf;
typedef __mmask16 vm;
#define VL 16
#define SFX(name) name##_avx512
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_LOADM(p, k) _mm512_maskz_loadu_ps(k, p)
#define V_KEEP(v, k) _mm512_maskz_mov_ps(k, v)
#define V_STOREM(p, k, v) _mm512_mask_storeu_ps(p, k, v)
#define V_MASK_LO(n) ((__mmask16)((1u << (n)) - 1u))
#define V_MASK_HI(n) ((__mmask16)((0xFFFFu << (16 - (n))) & 0xFFFFu))

/* Eight 8-lane vectors to their eight lane sums. */
static inline __attribute__((always_inline)) __m256 lf_reduce8(__m256 a0, __m256 a1, __m256 a2, __m256 a3,
                                                               __m256 a4, __m256 a5, __m256 a6, __m256 a7)
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
/* 16 lanes folded to 8. */
static inline __attribute__((always_inline)) __m256 lf_fold(__m512 a)
{
    return _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
}
static inline __attribute__((always_inline)) void v_reduce(const __m512 *acc, int n, float *out)
{
    __m256 z = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int k = 0; k < n; k += 8) {
        __m256 t[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            t[q] = k + q < n ? lf_fold(acc[k + q]) : z;
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

#define KDOT_MB 4
#define KDOT_BB 5
#define KDOT_ROW(X, m) X(m, 1) X(m, 2) X(m, 3) X(m, 4) X(m, 5)
#define KDOT_LIST(X) KDOT_ROW(X, 1) KDOT_ROW(X, 2) KDOT_ROW(X, 3) KDOT_ROW(X, 4)
#define KOUT_NV 4
#define KOUT_MRMAX 16
#define KOUT_ACC 24
#define KOUT_MR(nv) ((nv) == 1 ? 16 : 24 / (nv))
#define KOUT_COL6(X, v) X(1, v) X(2, v) X(3, v) X(4, v) X(5, v) X(6, v)
#define KOUT_COL8(X, v) KOUT_COL6(X, v) X(7, v) X(8, v)
#define KOUT_COL12(X, v) KOUT_COL8(X, v) X(9, v) X(10, v) X(11, v) X(12, v)
#define KOUT_LIST1(X) KOUT_COL12(X, 1) X(13, 1) X(14, 1) X(15, 1) X(16, 1)
#define KOUT_LIST(X) KOUT_LIST1(X) KOUT_COL12(X, 2) KOUT_COL8(X, 3) KOUT_COL6(X, 4)

#define KOUT_NVW 8
#define KOUT_MRW(nv) 1
#define KOUT_LISTW(X) X(1, 5) X(1, 6) X(1, 7) X(1, 8)
#include "src/lf_cpu_tr8.h"
#include "src/lf_cpu_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
typedef int lf_cpu_avx512_unused; /* not x86-64: nothing to build */
#endif
