/* head_ref.c: the softmax classifier head, CPU reference (docs/MODEL.md, "Softmax head").
 *
 * The head is split like the features: each tile multiplies its F features per sample by its F rows of
 * the weights (partial logits); the caller sums the partial logits over the grid and adds the bias once,
 * then calls head_softmax_xent_ref on the full logits. The softmax subtracts the row maximum before
 * exponentiating, so no logit overflows exp; sums run in double. */
#include "src/ops.h"

#include <math.h>

#include "src/common.h"

static int head_check(const head_dims *d, int need_f)
{
    if (!d)
        return cn_set_error("head: no dimensions given");
    if (d->B < 1 || d->K < 1 || (need_f && d->F < 1))
        return cn_set_error("head: B = %d, K = %d, F = %d must all be >= 1", d->B, d->K, d->F);
    size_t bytes;
    if (cn_mul_size(&bytes, 3, (size_t)d->B, (size_t)d->K, sizeof(double)) ||
        (need_f && (cn_mul_size(&bytes, 3, (size_t)d->B, (size_t)d->F, sizeof(double)) ||
                    cn_mul_size(&bytes, 3, (size_t)d->F, (size_t)d->K, sizeof(double)))))
        return cn_set_error("head: sizes B = %d, K = %d, F = %d overflow", d->B, d->K, d->F);
    return CN_OK;
}

int head_logits_ref(const head_dims *d, const float *f, const float *w, float *z)
{
    int rc = head_check(d, 1);
    if (rc != CN_OK)
        return rc;
    if (!f || !w || !z)
        return cn_set_error("head: NULL array");
    size_t F = (size_t)d->F, K = (size_t)d->K;
    for (size_t b = 0; b < (size_t)d->B; b++)
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t i = 0; i < F; i++)
                s += (double)f[b * F + i] * (double)w[i * K + k];
            z[b * K + k] = (float)s;
        }
    return CN_OK;
}

int head_softmax_xent_ref(const head_dims *d, const float *z, const int *labels, double *loss, float *dz,
                          int *correct)
{
    int rc = head_check(d, 0);
    if (rc != CN_OK)
        return rc;
    if (!z || !labels)
        return cn_set_error("head: NULL logits or labels");
    for (int b = 0; b < d->B; b++)
        if (labels[b] < 0 || labels[b] >= d->K)
            return cn_set_error("head: label %d of sample %d outside [0, %d)", labels[b], b, d->K);
    size_t K = (size_t)d->K;
    double total = 0;
    int right = 0;
    for (size_t b = 0; b < (size_t)d->B; b++) {
        const float *zb = z + b * K;
        size_t best = 0; /* argmax, the lowest k on ties */
        for (size_t k = 1; k < K; k++)
            if (zb[k] > zb[best])
                best = k;
        double zmax = zb[best], sum = 0;
        for (size_t k = 0; k < K; k++)
            sum += exp((double)zb[k] - zmax);
        size_t y = (size_t)labels[b];
        total += log(sum) - ((double)zb[y] - zmax); /* -log P[b, y] */
        right += best == y;
        if (dz)
            for (size_t k = 0; k < K; k++) {
                double p = exp((double)zb[k] - zmax) / sum;
                dz[b * K + k] = (float)((p - (k == y ? 1.0 : 0.0)) / d->B);
            }
    }
    if (loss)
        *loss = total / d->B;
    if (correct)
        *correct = right;
    return CN_OK;
}

int head_backward_ref(const head_dims *d, const float *f, const float *w, const float *dz, float *dw,
                      float *df)
{
    int rc = head_check(d, 1);
    if (rc != CN_OK)
        return rc;
    if (!f || !w || !dz || !dw)
        return cn_set_error("head: NULL array");
    size_t B = (size_t)d->B, F = (size_t)d->F, K = (size_t)d->K;
    for (size_t i = 0; i < F; i++) /* dw[i,k] += sum_b f[b,i] dz[b,k] */
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t b = 0; b < B; b++)
                s += (double)f[b * F + i] * (double)dz[b * K + k];
            dw[i * K + k] += (float)s;
        }
    if (df) /* df[b,i] += sum_k dz[b,k] w[i,k] */
        for (size_t b = 0; b < B; b++)
            for (size_t i = 0; i < F; i++) {
                double s = 0;
                for (size_t k = 0; k < K; k++)
                    s += (double)dz[b * K + k] * (double)w[i * K + k];
                df[b * F + i] += (float)s;
            }
    return CN_OK;
}
