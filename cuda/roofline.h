/* roofline.h: the two ceilings of the current GPU, measured, for the benchmarks (callable from C).
 * Definitions in docs/CUDA.md ("Benchmark"). */
#ifndef CN_ROOFLINE_H
#define CN_ROOFLINE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device memory bandwidth: a float4 copy kernel between two buffers of `bytes` each (use several times
 * the L2 cache); GB/s counting bytes read plus bytes written; best of `reps` timed runs. */
double cuda_measure_copy_gbs(size_t bytes, int reps);
/* FP32 peak: a kernel of independent fused multiply-adds on registers (8 chains per thread, enough
 * threads to fill every SM); GFLOP/s counting 2 flops per FMA; best of `reps` timed runs. */
double cuda_measure_fma_gflops(int reps);

#ifdef __cplusplus
}
#endif

#endif
