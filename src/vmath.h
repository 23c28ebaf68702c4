/* vmath.h: log, cos and sin of arrays of doubles, the same bits on every CPU.
 *
 * The synthetic images and the initial parameters are functions of (seed, index) through these
 * (src/rng.c Box-Muller, src/synth.c), so they must not depend on the machine: glibc's log, sin and
 * cos pick an FMA variant at run time where the CPU has FMA, and may differ in the last bit from the
 * others. vmath takes SLEEF's deterministic functions (Sleef_cinz_*_u10: at most 1 ulp from the exact
 * value, no FMA, bit-identical across vector widths by SLEEF's design) at the widest width the CPU
 * runs (AVX-512F: 8 doubles; AVX: 4; SSE2: 2; elsewhere SLEEF's plain-C one), and tests/test_tile_rng
 * checks that every width gives the scalar function's bits. On AVX-512, log + cos cost a fifth of
 * glibc's time (build/bench/bench_synth; bench/README.md "Synthetic data"). */
#ifndef CN_VMATH_H
#define CN_VMATH_H

typedef enum { VM_LOG, VM_COS, VM_SIN } vm_fn;

/* y[i] = f(x[i]) for 0 <= i < n (x and y may be the same array), at the widest width this CPU runs. */
void vm_span(vm_fn f, const double *x, double *y, int n);

/* The same at one width: "purec" (SLEEF's plain C, one value at a time), "sse2", "avx", "avx512".
 * Returns 0, or -1 (nothing written) when this build or this CPU has no such width. For tests. */
int vm_span_width(const char *width, vm_fn f, const double *x, double *y, int n);
/* The width vm_span uses here. */
const char *vm_width(void);

#endif
