/* kernels.h: the tile operations the engine calls, checked.
 *
 * The engine calls k_<op>; each maps to the fastest CPU implementation built (src/ops_cpu.h when
 * present, else the reference) and ends the job if a kernel refuses its dimensions, which for the
 * engine's own calls would be a bug, not bad input. Set COTSNET_REFERENCE=1 to run the reference. */
#ifndef CN_KERNELS_H
#define CN_KERNELS_H

#include "src/common.h"
#include "src/ops.h"
#include "src/ops_cpu.h"

/* 1 when COTSNET_REFERENCE=1 asks for the reference kernels (read once). */
int kernels_use_reference(void);

#define CN_KCALL(call)                                                             \
    do {                                                                           \
        if ((call) != CN_OK)                                                       \
            cn_fatal("%s: %s", #call, cn_last_error());                            \
    } while (0)

#define k_lf_forward(d, x, w, y, rg) \
    CN_KCALL(kernels_use_reference() ? lf_forward_ref(d, x, w, y, rg) : lf_forward_cpu(d, x, w, y, rg))
#define k_lf_backward_data(d, w, dy, dx, rg) \
    CN_KCALL(kernels_use_reference() ? lf_backward_data_ref(d, w, dy, dx, rg) : lf_backward_data_cpu(d, w, dy, dx, rg))
#define k_lf_backward_filter(d, x, dy, dw, rg) \
    CN_KCALL(kernels_use_reference() ? lf_backward_filter_ref(d, x, dy, dw, rg) : lf_backward_filter_cpu(d, x, dy, dw, rg))
#define k_pool_forward(d, y, p, rg) \
    CN_KCALL(kernels_use_reference() ? pool_forward_ref(d, y, p, rg) : pool_forward_cpu(d, y, p, rg))
#define k_pool_backward(d, y, p, dp, dy, rg) \
    CN_KCALL(kernels_use_reference() ? pool_backward_ref(d, y, p, dp, dy, rg) : pool_backward_cpu(d, y, p, dp, dy, rg))
#define k_lcn_forward(d, x, out) \
    CN_KCALL(kernels_use_reference() ? lcn_forward_ref(d, x, out) : lcn_forward_cpu(d, x, out))
#define k_lcn_backward(d, x, dout, dx) \
    CN_KCALL(kernels_use_reference() ? lcn_backward_ref(d, x, dout, dx) : lcn_backward_cpu(d, x, dout, dx))

#endif
