/* vmath_x86.c: vm_span 4 doubles at a time (AVX) and 8 at a time (AVX-512F) with SLEEF's deterministic
 * functions (src/vmath.h; AVX-512's are the "nofma" ones). The Makefile gives every file the same
 * flags: each function is compiled for its instruction set by a target attribute, and vmath.c calls
 * it only when the CPU has that set. sleef.h declares a width's functions only when its instruction set
 * is enabled: GCC includes it under AVX-512F (which includes AVX); clang's target attributes do not
 * enable the macros sleef.h tests, so clang gets the six declarations here (SLEEF's ABI). */
#include "src/vmath_isa.h"

#ifdef VM_HAVE_X86
#include <immintrin.h> /* first, under the file's flags: each intrinsic then carries its own target */

#if defined(__clang__)
__attribute__((target("avx512f"))) __m512d Sleef_cinz_logd8_u10avx512fnofma(__m512d);
__attribute__((target("avx512f"))) __m512d Sleef_cinz_cosd8_u10avx512fnofma(__m512d);
__attribute__((target("avx512f"))) __m512d Sleef_cinz_sind8_u10avx512fnofma(__m512d);
__attribute__((target("avx"))) __m256d Sleef_cinz_logd4_u10avx(__m256d);
__attribute__((target("avx"))) __m256d Sleef_cinz_cosd4_u10avx(__m256d);
__attribute__((target("avx"))) __m256d Sleef_cinz_sind4_u10avx(__m256d);
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#include <sleef.h>
#pragma GCC pop_options
#endif

#define F_AVX512(fn) Sleef_cinz_##fn##d8_u10avx512fnofma
#define F_AVX(fn) Sleef_cinz_##fn##d4_u10avx

__attribute__((target("avx512f"))) void vm_span_avx512(vm_fn f, const double *x, double *y, int n)
{
    VM_SPAN_LOOP(8, __m512d, _mm512_loadu_pd, _mm512_storeu_pd, F_AVX512);
}

__attribute__((target("avx"))) void vm_span_avx(vm_fn f, const double *x, double *y, int n)
{
    VM_SPAN_LOOP(4, __m256d, _mm256_loadu_pd, _mm256_storeu_pd, F_AVX);
}
#endif
