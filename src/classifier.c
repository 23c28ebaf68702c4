/* classifier.c: the softmax head split over the grid like the features (DESIGN.md).
 *
 * Each rank multiplies its tile of the last stage's output by its slice of the head weights; one sum
 * over the grid gives the logits, identical on every rank, and the bias is added once. The gradient of
 * the logits is then the same everywhere, so each rank finds its slice's gradient with no more
 * communication. */
#include <string.h>

#include "src/common.h"
#include "src/kernels.h"
#include "src/net.h"

double head_step(cn_net *net, const int *labels, int B, int *correct, float *gf)
{
    const cn_stage *l = &net->st[net->nstages - 1];
    head_dims hd = {B, net->K, (int)net->F};
    CN_KCALL(head_logits_ref(&hd, l->out, net->hw.w, net->z));
    grid_sum_float(net->grid, net->z, (size_t)B * net->K);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < net->K; k++)
            net->z[(size_t)b * net->K + k] += net->hb.w[k];
    double loss = 0;
    int ok = 0;
    CN_KCALL(head_softmax_xent_ref(&hd, net->z, labels, &loss, net->dz, &ok));
    if (correct)
        *correct = ok;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < net->K; k++)
            net->hb.g[k] += net->dz[(size_t)b * net->K + k];
    if (gf)
        memset(gf, 0, (size_t)B * net->F * sizeof *gf);
    CN_KCALL(head_backward_ref(&hd, l->out, net->hw.w, net->dz, net->hw.g, gf));
    return loss;
}

int head_predict(cn_net *net, const int *labels, int B)
{
    const cn_stage *l = &net->st[net->nstages - 1];
    head_dims hd = {B, net->K, (int)net->F};
    CN_KCALL(head_logits_ref(&hd, l->out, net->hw.w, net->z));
    grid_sum_float(net->grid, net->z, (size_t)B * net->K);
    int ok = 0;
    for (int b = 0; b < B; b++) {
        const float *z = net->z + (size_t)b * net->K;
        int best = 0;
        for (int k = 1; k < net->K; k++)
            if (z[k] + net->hb.w[k] > z[best] + net->hb.w[best])
                best = k;
        ok += best == labels[b];
    }
    return ok;
}
