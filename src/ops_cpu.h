/* ops_cpu.h: the fast CPU twins of the reference operations in src/ops.h (suffix _cpu).
 *
 * Same arguments, layouts and conventions as the _ref functions (maps NHWC, filters [Ho, Wo, M, r, r, C];
 * forward overwrites its output inside the region and touches nothing else; backward functions ADD;
 * bad dimensions return CN_EINVAL without touching memory). They are blocked for registers and caches,
 * vectorised (AVX2+FMA, AVX-512 or plain C, chosen once at run time) and use OpenMP threads. Results
 * equal the reference within float rounding (sums run in another order), not bit for bit.
 *
 * Which instruction set runs: the best one the CPU supports (AVX-512 only when asked for, see
 * lf_cpu.c), unless the environment variable COTSNET_CPU_ISA = generic | avx2 | avx512 | auto names
 * one; it is read once, at the first call. Naming a set the CPU lacks falls back to the best it has.
 * lf_cpu_set_isa() overrides both (tests use it to run every path). */
#ifndef CN_OPS_CPU_H
#define CN_OPS_CPU_H

#include "src/ops.h"

int lf_forward_cpu(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg);
int lf_backward_data_cpu(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg);
int lf_backward_filter_cpu(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg);

/* L2 pooling (src/pool_cpu.c) and LCN (src/lcn_cpu.c): plain C that the compiler vectorises along the
 * contiguous dimension (`omp simd`), separable window sums, threads over samples and rows. They do not
 * depend on COTSNET_CPU_ISA, and their results do not depend on the thread count. */
int pool_forward_cpu(const pool_dims *d, const float *y, float *p, cn_region rg);
int pool_backward_cpu(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                      cn_region rg);
int lcn_forward_cpu(const lcn_dims *d, const float *x, float *out);
int lcn_backward_cpu(const lcn_dims *d, const float *x, const float *dout, float *dx);

/* For the implementations: a function compiled twice, for AVX2 and for any x86-64, the loader picking
 * one at start-up (GCC's target_clones); elsewhere (other compilers, other CPUs) compiled once. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CN_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CN_CPU_CLONES
#endif

/* The instruction set the _cpu functions use now: "generic", "avx2" or "avx512". */
const char *lf_cpu_isa(void);
/* Use this set from now on ("auto" = the default choice). Returns CN_EINVAL (and changes nothing)
 * for an unknown name or a set this CPU does not support. Not thread-safe against running kernels. */
int lf_cpu_set_isa(const char *name);
/* 1 when this CPU (and this build) can run the named set. */
int lf_cpu_isa_supported(const char *name);

#endif
