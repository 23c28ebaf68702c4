/* optim_ref.c: the parameter updates, CPU reference (docs/MODEL.md, "Optimizers").
 *
 * One tensor of n floats at a time, element by element, in float as the formulas read:
 *   g' = g + wd * w
 *   SGD with momentum:  v = mu * v + g';  w -= lr * v
 *   AdaGrad:            h = h + g'^2;     w -= lr * g' / (sqrt(h) + eps)
 *   plain SGD:          w -= lr * g'      (no state: the same bits as SGD with mu = 0 and v = 0)
 * The state (v or h) starts at zero; the caller zeroes it. */
#include "src/ops.h"

#include <math.h>

void sgd_momentum_ref(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float ge = g[i] + wd * w[i];
        v[i] = mu * v[i] + ge;
        w[i] -= lr * v[i];
    }
}

void sgd_ref(float *w, const float *g, size_t n, float lr, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float ge = g[i] + wd * w[i];
        w[i] -= lr * ge;
    }
}

void adagrad_ref(float *w, float *h, const float *g, size_t n, float lr, float eps, float wd)
{
    for (size_t i = 0; i < n; i++) {
        float ge = g[i] + wd * w[i];
        h[i] += ge * ge;
        w[i] -= lr * ge / (sqrtf(h[i]) + eps);
    }
}
