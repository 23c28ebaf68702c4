/* lf_geo.cuh: the geometry of one local-filter call, shared by the kernels of cuda/lf.cu and
 * cuda/lf_t4.cu. */
#ifndef CN_LF_GEO_CUH
#define CN_LF_GEO_CUH

#include "cuda/internal.h"

namespace cnlf {

/* Geometry of one call, by value to every kernel. Per-sample sizes fit in int (checked on the host). */
struct Geo {
    int B, Hx, Wx, C, Ho, Wo, M, r, s;
    int K;          /* r * r * C: one filter */
    int rC;         /* r * C: one row of a field, contiguous in x and in w */
    int i0, j0, nj; /* region origin and width */
    long long xs;   /* Hx * Wx * C: one sample of x */
    long long ys;   /* Ho * Wo * M: one sample of y */
};

/* Offset of field element k inside x, from the field's corner. */
__device__ __forceinline__ int field_off(const Geo &g, int k)
{
    const int ky = k / g.rC;
    return ky * g.Wx * g.C + (k - ky * g.rC);
}

} // namespace cnlf

#endif
