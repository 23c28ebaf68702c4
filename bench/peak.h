/* peak.h: the two ceilings bench_ops compares against, measured on the cores it runs on.
 *
 *  - FP32 FMA peak: every OpenMP thread runs a loop of independent fused multiply-adds on registers
 *    (enough accumulators to cover the FMA latency on every pipe), with the widest vectors the CPU has
 *    (AVX-512F, else AVX2+FMA, else SSE multiply and add); flops = 2 per lane per FMA.
 *  - Memory bandwidth: a STREAM-like copy b[i] = a[i] over all threads, arrays of max(4 x last-level
 *    cache, 256 MiB) each; bytes = 2 x array size per copy (read a, write b; STREAM's convention, the
 *    write-allocate read is not counted). Best of several runs.
 * Header-only: bench_ops.c is one file per binary (the Makefile builds bench/bench_*.c). */
#ifndef CN_BENCH_PEAK_H
#define CN_BENCH_PEAK_H

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The timed loop of one vector width: NACC independent chains acc[k] = acc[k] * b + c (one FMA each),
 * iters times, from seed (VEC: the vector type, SET1 and FMADD its intrinsics; UNROLL: "GCC unroll NACC"). */
#define PEAK_CHAINS(VEC, NACC, SET1, FMADD, UNROLL)                                                         \
    VEC acc[NACC];                                                                                         \
    const VEC b = SET1(0.9999999f), c = SET1(1e-7f);                                                       \
    for (int k = 0; k < NACC; k++)                                                                         \
        acc[k] = SET1(seed + (float)k);                                                                    \
    for (long it = 0; it < iters; it++) {                                                                  \
        _Pragma(UNROLL) for (int k = 0; k < NACC; k++) acc[k] = FMADD(acc[k], b, c);                      \
    }

#define PEAK_ACC 12 /* 12 chains: 2 FMA pipes x 4-5 cycles of latency, with room */
__attribute__((target("avx2,fma"))) static float peak_loop_avx2(long iters, float seed)
{
    PEAK_CHAINS(__m256, PEAK_ACC, _mm256_set1_ps, _mm256_fmadd_ps, "GCC unroll 12")
    float out[8], s = 0;
    for (int k = 0; k < PEAK_ACC; k++) {
        _mm256_storeu_ps(out, acc[k]);
        s += out[0];
    }
    return s;
}

#define PEAK_ACC512 24
__attribute__((target("avx512f"))) static float peak_loop_avx512(long iters, float seed)
{
    PEAK_CHAINS(__m512, PEAK_ACC512, _mm512_set1_ps, _mm512_fmadd_ps, "GCC unroll 24")
    float s = 0;
    for (int k = 0; k < PEAK_ACC512; k++)
        s += _mm512_reduce_add_ps(acc[k]);
    return s;
}
#endif

/* Plain C: SSE2 multiply and add on x86-64 (the compiler vectorises nothing here on purpose). */
static float peak_loop_generic(long iters, float seed)
{
    float acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = seed + (float)k;
    for (long it = 0; it < iters; it++)
        for (int k = 0; k < 8; k++)
            acc[k] = acc[k] * 0.9999999f + 1e-7f;
    return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

/* Which loop and how many flops one iteration does. */
static const char *peak_isa(double *flops_per_iter)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *flops_per_iter = 2.0 * 16 * PEAK_ACC512;
        return "avx512";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *flops_per_iter = 2.0 * 8 * PEAK_ACC;
        return "avx2";
    }
#endif
    *flops_per_iter = 2.0 * 8;
    return "scalar";
}

static volatile float peak_sink;

/* FP32 FMA peak over all OpenMP threads, GFLOP/s (best of 3 runs of about 0.2 s). */
static double peak_fma_gflops(const char **isa_out)
{
    double fpi;
    const char *isa = peak_isa(&fpi);
    *isa_out = isa;
    long iters = 2000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cn_now();
        double total = 0;
#pragma omp parallel reduction(+ : total)
        {
            float s;
#if defined(__x86_64__) && defined(__GNUC__)
            if (strcmp(isa, "avx512") == 0)
                s = peak_loop_avx512(iters, (float)omp_get_thread_num());
            else if (strcmp(isa, "avx2") == 0)
                s = peak_loop_avx2(iters, (float)omp_get_thread_num());
            else
#endif
                s = peak_loop_generic(iters, (float)omp_get_thread_num());
            peak_sink = s;
            total += fpi * (double)iters;
        }
        double t = cn_now() - t0;
        if (total / t > best)
            best = total / t;
    }
    return best * 1e-9;
}

/* Copy bandwidth over all OpenMP threads, GB/s (1e9 bytes/s); *mib: size of one array. */
static double peak_copy_gbs(double *mib)
{
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0)
        llc = 32L << 20;
    size_t bytes = (size_t)llc * 4;
    if (bytes < ((size_t)256 << 20))
        bytes = (size_t)256 << 20;
    size_t n = bytes / sizeof(float);
    float *a = cn_alloc(n, sizeof *a), *b = cn_alloc(n, sizeof *b);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(i & 1023), b[i] = 0.0f;
    double best = 0;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = cn_now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            b[i] = a[i];
        double t = cn_now() - t0;
        double gbs = 2.0 * (double)bytes / t * 1e-9;
        if (gbs > best)
            best = gbs;
        float *tmp = a;
        a = b;
        b = tmp;
    }
    peak_sink = a[n / 2];
    cn_free(a);
    cn_free(b);
    *mib = (double)bytes / (1 << 20);
    return best;
}

#endif
