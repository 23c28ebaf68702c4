/* lf_cpu_tr8.h: 8 x 8 float transposes with AVX (8-lane ymm), for the x86 instances of src/lf_cpu_impl.h.
 *
 * Included by lf_cpu_avx2.c and lf_cpu_avx512.c after their target pragmas (AVX-512F implies AVX). They
 * move data between the public layouts and the images-innermost copies of the small-C passes ("small C"
 * in src/lf_cpu_impl.h) eight images at a time, instead of one float per image at a stride of a whole
 * image (which puts every image's line in the same L1 set).
 *   LF_TR8(src, ss, dst, ds)     dst[i*ds + j]  = src[j*ss + i], i, j < 8
 *   LF_TR8ADD(src, ss, dst, ds)  dst[i*ds + j] += src[j*ss + i]                                         */
#include <immintrin.h>
#include <stddef.h>

static inline __attribute__((always_inline)) void lf_tr8_regs(const float *src, ptrdiff_t ss, __m256 o[8])
{
    __m256 r[8], t[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        r[j] = _mm256_loadu_ps(src + j * ss);
#pragma GCC unroll 4
    for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
    }
#pragma GCC unroll 2
    for (int j = 0; j < 8; j += 4) {
        r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
        r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
        r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        o[j] = _mm256_permute2f128_ps(r[j], r[j + 4], 0x20);
        o[j + 4] = _mm256_permute2f128_ps(r[j], r[j + 4], 0x31);
    }
}

static inline __attribute__((always_inline)) void lf_tr8(const float *src, ptrdiff_t ss, float *dst, ptrdiff_t ds)
{
    __m256 o[8];
    lf_tr8_regs(src, ss, o);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        _mm256_storeu_ps(dst + i * ds, o[i]);
}

static inline __attribute__((always_inline)) void lf_tr8add(const float *src, ptrdiff_t ss, float *dst, ptrdiff_t ds)
{
    __m256 o[8];
    lf_tr8_regs(src, ss, o);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        _mm256_storeu_ps(dst + i * ds, _mm256_add_ps(_mm256_loadu_ps(dst + i * ds), o[i]));
}

#define LF_TR8(src, ss, dst, ds) lf_tr8(src, ss, dst, ds)
#define LF_TR8ADD(src, ss, dst, ds) lf_tr8add(src, ss, dst, ds)
