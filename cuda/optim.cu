/* optim.cu: the parameter updates on the GPU (twins of src/optim_ref.c; docs/MODEL.md "Optimizers").
 *
 * Element by element with the reference's expressions in float, one grid-stride loop per tensor:
 *   g' = g + wd * w
 *   SGD with momentum:  v = mu * v + g';  w -= lr * v
 *   AdaGrad:            h = h + g'^2;     w -= lr * g' / (sqrt(h) + eps)
 * nvcc may fuse a multiply and an add into one FMA, so results can differ from the reference in the
 * last bit. The stage's local filter can instead use lf_backward_fused_sgd_cuda (no gradient buffer). */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

__global__ void sgd_momentum_kernel(float *__restrict__ w, float *__restrict__ v, const float *__restrict__ g,
                                    size_t n, float lr, float mu, float wd)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float wi = w[i];
        const float ge = g[i] + wd * wi;
        const float vi = mu * v[i] + ge;
        v[i] = vi;
        w[i] = wi - lr * vi;
    }
}

__global__ void adagrad_kernel(float *__restrict__ w, float *__restrict__ h, const float *__restrict__ g, size_t n,
                               float lr, float eps, float wd)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float wi = w[i];
        const float ge = g[i] + wd * wi;
        const float hi = h[i] + ge * ge;
        h[i] = hi;
        w[i] = wi - lr * ge / (sqrtf(hi) + eps);
    }
}

} // namespace

extern "C" void sgd_momentum_cuda(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                                  cudaStream_t stream)
{
    if (n == 0)
        return;
    CN_LAUNCH(sgd_momentum_kernel, cn_grid_1d(n, 256), 256, stream, w, v, g, n, lr, mu, wd);
}

extern "C" void adagrad_cuda(float *w, float *h, const float *g, size_t n, float lr, float eps, float wd,
                             cudaStream_t stream)
{
    if (n == 0)
        return;
    CN_LAUNCH(adagrad_kernel, cn_grid_1d(n, 256), 256, stream, w, h, g, n, lr, eps, wd);
}
