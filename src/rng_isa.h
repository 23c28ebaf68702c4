/* rng_isa.h: words 0 and 1 of the Philox4x32-10 blocks of n consecutive counters, the loops behind
 * rng_normal_span (src/rng.c), internal. The same words as philox4x32 of each counter, at any width. */
#ifndef CN_RNG_ISA_H
#define CN_RNG_ISA_H

#include <stdint.h>

/* w0[i], w1[i] = words 0 and 1 of philox4x32(seed, stream, index0 + i), 0 <= i < n. */
void philox_words_generic(uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RNG_HAVE_X86 1
/* Sixteen counters at a time with AVX-512F (call only where the CPU has it). */
void philox_words_avx512(uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1);
#endif
/* The same at a given width, 8 lanes (any CPU) or 16 (AVX-512F): 0, or -1 (nothing written) when this
 * build or this CPU has no such width. For tests; rng_normal_span picks the widest itself. */
int philox_words_at(int lanes, uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1);

#endif
