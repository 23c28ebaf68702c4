/* kernels.h: the tile operations the engine calls, checked.
 *
 * The engine calls k_<op>; each maps to the GPU twin (cuda/ops_cuda.h) on the rank's stream when the
 * tensors live on the GPU (src/dev.h, backend = cuda), else to the fastest CPU implementation built
 * (src/ops_cpu.h when present, else the reference), and ends the job if a kernel refuses its
 * dimensions, which for the engine's own calls would be a bug, not bad input. Set COTSNET_REFERENCE=1
 * to run the CPU reference. K_GPU(call) is call in a CUDA build and never runs in a build without. */
#ifndef CN_KERNELS_H
#define CN_KERNELS_H

#include "src/common.h"
#include "src/ops.h"
#include "src/ops_cpu.h"
#include "src/dev.h"

#ifdef CN_HAVE_CUDA
#include "cuda/ops_cuda.h"
#define K_GPU(call) (call)
#define K_STREAM ((cudaStream_t)dev_stream())
#else
#define K_GPU(call) CN_EINVAL
#endif

/* 1 when COTSNET_REFERENCE=1 asks for the reference kernels (read once). */
int kernels_use_reference(void);

#define CN_KCALL(call)                                                             \
    do {                                                                           \
        if ((call) != CN_OK)                                                       \
            cn_fatal("%s: %s", #call, cn_last_error());                            \
    } while (0)

/* The GPU twin where the tensors live on the GPU, else the CPU call. */
#define K_OP(gpu_call, cpu_call) CN_KCALL(dev_gpu() ? K_GPU(gpu_call) : (cpu_call))
/* The fast CPU kernel, or the reference with COTSNET_REFERENCE=1. */
#define K_CPU(op, ...) (kernels_use_reference() ? op##_ref(__VA_ARGS__) : op##_cpu(__VA_ARGS__))

#define k_lf_forward(d, x, w, y, rg) \
    K_OP(lf_forward_cuda(d, x, w, y, rg, K_STREAM), K_CPU(lf_forward, d, x, w, y, rg))
#define k_lf_backward_data(d, w, dy, dx, rg) \
    K_OP(lf_backward_data_cuda(d, w, dy, dx, rg, K_STREAM), K_CPU(lf_backward_data, d, w, dy, dx, rg))
#define k_lf_backward_filter(d, x, dy, dw, rg) \
    K_OP(lf_backward_filter_cuda(d, x, dy, dw, rg, K_STREAM), K_CPU(lf_backward_filter, d, x, dy, dw, rg))
#define k_pool_forward(d, y, p, rg) K_OP(pool_forward_cuda(d, y, p, rg, K_STREAM), K_CPU(pool_forward, d, y, p, rg))
#define k_pool_backward(d, y, p, dp, dy, rg) \
    K_OP(pool_backward_cuda(d, y, p, dp, dy, rg, K_STREAM), K_CPU(pool_backward, d, y, p, dp, dy, rg))
#define k_lcn_forward(d, x, out) K_OP(lcn_forward_cuda(d, x, out, K_STREAM), K_CPU(lcn_forward, d, x, out))
#define k_lcn_backward(d, x, dout, dx) \
    K_OP(lcn_backward_cuda(d, x, dout, dx, K_STREAM), K_CPU(lcn_backward, d, x, dout, dx))
#define k_head_logits(d, f, w, z) K_OP(head_logits_cuda(d, f, w, z, K_STREAM), head_logits_ref(d, f, w, z))
#define k_head_backward(d, f, w, dz, dw, df) \
    K_OP(head_backward_cuda(d, f, w, dz, dw, df, K_STREAM), head_backward_ref(d, f, w, dz, dw, df))

#endif
