/* classifier.c: the softmax head split over the grid like the features (DESIGN.md).
 *
 * Each rank multiplies its tile of the last stage's output by its slice of the head weights; one sum
 * over the grid gives the logits, identical on every rank, and the bias is added once. The gradient of
 * the logits is then the same everywhere, so each rank finds its slice's gradient with no more
 * communication. On the GPU (src/dev.h) the partial logits come to the host for the sum over the grid
 * and go back; the loss and the count of correct predictions come back as two numbers. */
#include <string.h>

#include "src/common.h"
#include "src/dev.h"
#include "src/kernels.h"
#include "src/net.h"

/* z = the logits summed over the grid (in net->z where the net computes, net->z_h on the host) */
static void logits(cn_net *net, const head_dims *hd)
{
    const cn_stage *l = &net->st[net->nstages - 1];
    size_t n = (size_t)hd->B * net->K;
    k_head_logits(hd, l->out, net->hw.w, net->z);
    dev_download(net->z_h, net->z, n * sizeof(float));
    grid_sum_float(net->grid, net->z_h, n);
    dev_upload(net->z, net->z_h, n * sizeof(float));
}

/* On the GPU: bias, softmax and cross-entropy, bias gradient; loss and count back on the host. */
static void softmax_gpu(cn_net *net, const head_dims *hd, const int *labels, double *loss, int *ok)
{
    (void)net, (void)hd, (void)labels; /* unused in a build without CUDA */
    CN_KCALL(K_GPU(bias_add_cuda(net->z, net->hb.w, hd->B, net->K, K_STREAM)));
    CN_KCALL(K_GPU(head_softmax_xent_cuda(hd, net->z, labels, net->dsum, net->dz, net->dcount, K_STREAM)));
    CN_KCALL(K_GPU(bias_grad_cuda(net->dz, hd->B, net->K, net->hb.g, K_STREAM)));
    dev_download(loss, net->dsum, sizeof *loss);
    dev_download(ok, net->dcount, sizeof *ok);
}

double head_step(cn_net *net, const int *labels, int B, int *correct, float *gf)
{
    const cn_stage *l = &net->st[net->nstages - 1];
    head_dims hd = {B, net->K, (int)net->F};
    double loss = 0;
    int ok = 0;
    if (dev_gpu()) {
        logits(net, &hd);
        softmax_gpu(net, &hd, labels, &loss, &ok);
    } else {
        CN_KCALL(head_logits_ref(&hd, l->out, net->hw.w, net->z));
        grid_sum_float(net->grid, net->z, (size_t)B * net->K);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < net->K; k++)
                net->z[(size_t)b * net->K + k] += net->hb.w[k];
        CN_KCALL(head_softmax_xent_ref(&hd, net->z, labels, &loss, net->dz, &ok));
        for (int b = 0; b < B; b++)
            for (int k = 0; k < net->K; k++)
                net->hb.g[k] += net->dz[(size_t)b * net->K + k];
    }
    if (correct)
        *correct = ok;
    if (gf)
        dev_zero(gf, (size_t)B * net->F * sizeof *gf);
    k_head_backward(&hd, l->out, net->hw.w, net->dz, net->hw.g, gf);
    return loss;
}

int head_predict(cn_net *net, const int *labels, int B)
{
    head_dims hd = {B, net->K, (int)net->F};
    logits(net, &hd);
    /* the bias, on the host: its own copy when the net computes on the GPU */
    float *bias = net->hb.w;
    if (dev_gpu()) {
        bias = cn_alloc((size_t)net->K, sizeof *bias);
        dev_download(bias, net->hb.w, (size_t)net->K * sizeof *bias);
    }
    int ok = 0;
    for (int b = 0; b < B; b++) {
        const float *z = net->z_h + (size_t)b * net->K;
        int best = 0;
        for (int k = 1; k < net->K; k++)
            if (z[k] + bias[k] > z[best] + bias[best])
                best = k;
        ok += best == labels[b];
    }
    if (bias != net->hb.w)
        cn_free(bias);
    return ok;
}
