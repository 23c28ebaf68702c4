/* rng_x86.c: Philox4x32-10 on sixteen counters at once with AVX-512F (src/rng_isa.h). Each 32 x 32 ->
 * 64-bit product of a round is two _mm512_mul_epu32, one for the even lanes and one for the odd ones;
 * integer arithmetic throughout, so the words are philox4x32's exactly (tests/test_tile_rng.c
 * `philox_words_avx512`). Compiled for AVX-512F by a target attribute; rng.c calls it only when the
 * CPU has AVX-512F. */
#include "src/rng_isa.h"

#ifdef RNG_HAVE_X86
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* hi and lo 32 bits of a * b in every lane (unsigned). */
AVX512 static inline void mulhilo(__m512i a, __m512i b, __m512i *hi, __m512i *lo)
{
    const __m512i even = _mm512_mul_epu32(a, b);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

AVX512 void philox_words_avx512(uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1)
{
    const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u), m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
    const __m512i s0 = _mm512_set1_epi32((int)(uint32_t)stream), s1 = _mm512_set1_epi32((int)(uint32_t)(stream >> 32));
    for (int i = 0; i < n; i += 16) {
        uint32_t lo[16], hi[16];
        for (int l = 0; l < 16; l++) {
            const uint64_t index = index0 + (uint64_t)(i + l);
            lo[l] = (uint32_t)index, hi[l] = (uint32_t)(index >> 32);
        }
        __m512i c0 = _mm512_loadu_si512(lo), c1 = _mm512_loadu_si512(hi), c2 = s0, c3 = s1;
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int round = 0; round < 10; round++) { /* philox_round of src/rng.c */
            __m512i hi0, lo0, hi1, lo1;
            mulhilo(m0, c0, &hi0, &lo0);
            mulhilo(m1, c2, &hi1, &lo1);
            c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
            c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
            c1 = lo1;
            c3 = lo0;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        _mm512_storeu_si512(lo, c0);
        _mm512_storeu_si512(hi, c1);
        for (int l = 0; l < 16 && i + l < n; l++)
            w0[i + l] = lo[l], w1[i + l] = hi[l];
    }
}
#endif
