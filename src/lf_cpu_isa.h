/* lf_cpu_isa.h: the per-instruction-set entry points behind lf_*_cpu (src/ops_cpu.h), internal.
 *
 * lf_cpu.c checks the arguments and picks one set; these functions trust their arguments. Each set is
 * the same code (src/lf_cpu_impl.h) compiled with another vector layer: generic (plain C, any CPU),
 * avx2 (AVX2 + FMA, 8 lanes) and avx512 (AVX-512F, 16 lanes), the last two on x86-64 only. */
#ifndef CN_LF_CPU_ISA_H
#define CN_LF_CPU_ISA_H

#include "src/ops.h"

#define LF_ISA_DECL(sfx)                                                                              \
    void lf_fwd_##sfx(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg);      \
    void lf_bwd_data_##sfx(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg); \
    void lf_bwd_filter_##sfx(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg);

LF_ISA_DECL(generic)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LF_HAVE_X86 1
LF_ISA_DECL(avx2)
LF_ISA_DECL(avx512)
#endif

#endif
