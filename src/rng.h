/* rng.h: counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * A value is a pure function of (seed, stream, index): no state to carry, so every rank computes the
 * initial value of global parameter index i exactly as the one-process run does, whatever the grid.
 * Streams name independent uses (one per tensor, one for data order, ...). */
#ifndef CN_RNG_H
#define CN_RNG_H

#include <stdint.h>

/* Four 32-bit random words for counter (index) under key (seed, stream). */
void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);
/* Uniform in (0, 1), from word 0 of the counter's block. */
double rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal: Box-Muller on the block's first two words u0, u1,
 * sqrt(-2 log((u0 + 0.5) / 2^32)) cos(2 pi (u1 + 0.5) / 2^32), log and cos from src/vmath.h (the same
 * bits on every CPU; docs/MODEL.md). */
double rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* out[i] = rng_normal(seed, stream, index0 + i) for i < n, bit for bit, several counters at a time:
 * the Philox rounds of independent counters overlap (one counter's rounds are a chain of dependent
 * multiplies; sixteen counters in AVX-512 registers where the CPU has it, src/rng_x86.c) and log and
 * cos run on vectors (synthetic images, src/synth.c; initial parameters). */
void rng_normal_span(uint64_t seed, uint64_t stream, uint64_t index0, int n, double *out);
/* Streams used by the program (parameters use CN_STREAM_PARAM + tensor id). */
enum {
    CN_STREAM_DATA_ORDER = 1,
    CN_STREAM_SYNTHETIC = 2,
    CN_STREAM_TEST = 3,
    CN_STREAM_PARAM = 1000
};

#endif
