/* lf_t4.h: tile scheme t4's forward and backward filter at up to 8 maps (cuda/lf_t4.cu), for the
 * dispatch of cuda/lf.cu, and the forwards' inner round (device code of lf_t4.cu and lf_t4_group.cu). g and ni as there (checked by lf.cu's prepare); M <= 8. */
#ifndef CN_LF_T4_H
#define CN_LF_T4_H

#include "cuda/lf_geo.cuh"
#include "cuda/vec_mem.cuh"

namespace cnlf {

/* The forwards' round of 4 field elements: acc[e][m] += sum over t < 4 of a_e[t] w_m[t], with sample
 * e's 4 elements at a + e * astep (shared memory, 16-byte aligned) and map m's at wm + 4 m; t in order. */
template <int TC>
__device__ __forceinline__ void fwd_round4(const float *a, int astep, const float *wm, float (&acc)[8][TC])
{
    cnvm::F4 av[8];
#pragma unroll
    for (int e = 0; e < 8; e++)
        av[e] = cnvm::ld4(a + e * astep);
#pragma unroll
    for (int m = 0; m < TC; m++) {
        const cnvm::F4 b = cnvm::ld4(wm + 4 * m);
#pragma unroll
        for (int t = 0; t < 4; t++)
#pragma unroll
            for (int e = 0; e < 8; e++)
                acc[e][m] = fmaf(av[e].v[t], b.v[t], acc[e][m]);
    }
}

void t4_forward(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st);
/* The group kernels' split of their reduction: base blocks unsplit -> how many ranges (1 .. most) make
 * at most fill x SMs blocks (fill: lf_cuda_set_t4_group_fill, 4 by default: the blocks resident at
 * once, no second, partial wave; cuda/lf_t4_group.cu) */
int t4_group_splits(long long base, int most);
/* cuda/lf_t4_group.cu: the forward over groups of neighbouring locations, its input rows split over
 * blocks as the device's SMs ask unless nosplit; false (nothing launched) where the shape does not
 * suit it (M <= 4, C % 4 != 0, a window too wide, unaligned arrays) */
bool t4_forward_group(const Geo &g, int ni, const float *x, const float *w, float *y, bool nosplit,
                      cudaStream_t st);
/* cuda/lf_t4_group_bwd.cu: the backward data (dx +=) over tiles of neighbouring input positions, as the
 * forward's groups; false (nothing launched) where the shape does not suit it (M != 8, C % 4 != 0,
 * unaligned arrays) */
bool t4_backward_data_group(const Geo &g, int ni, const float *w, const float *gy, float *dx, bool nosplit,
                            cudaStream_t st);
/* t4's backward data where lf_cuda_set_t4_group is on and the group kernel takes the shape; else false */
bool t4_backward_data(const Geo &g, int ni, const float *w, const float *gy, float *dx, cudaStream_t st);
void t4_backward_filter(const Geo &g, int ni, const float *x, const float *gy, float *dw, cudaStream_t st);
/* w -= lr (dW + wd w), dW summed over (x, gy) and, where given, (x2, gy2) */
void t4_backward_filter_sgd(const Geo &g, int ni, const float *x, const float *gy, const float *x2,
                            const float *gy2, float *w, float lr, float wd, cudaStream_t st);

} // namespace cnlf

#endif
