/* lf_t4.h: tile scheme t4's forward and backward filter at up to 8 maps (cuda/lf_t4.cu), for the
 * dispatch of cuda/lf.cu. g and ni as there (checked by lf.cu's prepare); M <= 8. */
#ifndef CN_LF_T4_H
#define CN_LF_T4_H

#include "cuda/lf_geo.cuh"

namespace cnlf {

void t4_forward(const Geo &g, int ni, const float *x, const float *w, float *y, cudaStream_t st);
void t4_backward_filter(const Geo &g, int ni, const float *x, const float *gy, float *dw, cudaStream_t st);
/* w -= lr (dW + wd w), dW summed over (x, gy) and, where given, (x2, gy2) */
void t4_backward_filter_sgd(const Geo &g, int ni, const float *x, const float *gy, const float *x2,
                            const float *gy2, float *w, float lr, float wd, cudaStream_t st);

} // namespace cnlf

#endif
