/* net.h: the network as one rank holds it: for every stage, the global geometry of its maps, this
 * rank's tiles and windows of them, the halo plans that move windows, the parameters of its tiles
 * and the buffers of one batch. On one rank the tiles are the whole maps and the same code runs.
 *
 * Maps of stage k (DESIGN.md): input x [B, H, W, C] -> filter output y [B, Ho, Wo, M]
 *   -> pooled p [B, Hp, Wp, M] -> normalized out [B, Hp, Wp, M] (= p when the stage has no LCN).
 * Each map is split over the grid with tile_rect(); a window is what a tile's consumer reads.
 * Every tensor below lives where src/dev.h says: host memory, or the GPU's with backend = cuda. */
#ifndef CN_NET_H
#define CN_NET_H

#include <stddef.h>

#include "mpi/grid.h"
#include "mpi/halo.h"
#include "src/job.h"
#include "src/ops.h"
#include "src/tile.h"

typedef struct {
    size_t n;        /* floats on this rank */
    float *w;        /* the parameter's tile */
    float *g;        /* gradient (summed by backward passes, zeroed by the optimizer step) */
    float *state;    /* momentum (SGD) or sum of squares (AdaGrad) */
} cn_param;

typedef struct {
    const cn_stage_cfg *cfg;
    int k;                    /* stage number, from 1 */
    int H, W, C;              /* input map, global */
    int r, s, M, Ho, Wo;      /* local filter and its output map, global */
    int q, t, Hp, Wp;         /* pooling and the pooled map, global */
    int n;                    /* LCN window (0 = none) */

    cn_rect x_tile, y_tile, p_tile; /* this rank's tiles of x, y, p (and out: same as p) */
    cn_rect x_win, y_win, p_win;    /* windows: of x for y_tile, of y for p_tile, of p for LCN */
    halo_plan *x_plan, *y_plan, *p_plan; /* p_plan is NULL without LCN */
    lf_dims lf;               /* the tile's local filter, window x_win */
    pool_dims pool;
    lcn_dims lcn;

    cn_param w;               /* filters [Ho_t, Wo_t, M, r, r, C] of this rank's y tile */
    cn_param dec;             /* separate decoder, same shape (n = 0 when tied) */

    /* one batch (B_max samples) */
    float *xw;                /* x window  [B, x_win, C] */
    float *y, *yw;            /* y tile, y window [.., M] */
    float *p, *pw;            /* p tile, p window */
    float *out;               /* out tile (points to p without LCN) */
    float *gxw, *gy, *gyw, *gp, *gpw; /* gradients (backward) */
    float *xr_w, *xr, *ge, *gew;      /* reconstruction ICA: xr window/tile, 2e/B tile and window */
} cn_stage;

typedef struct {
    const cn_job *job;
    const cn_grid *grid;
    int B;                    /* local batch (max) */
    int nstages;
    cn_stage st[CN_MAX_STAGES];
    /* softmax head over the last stage's out map */
    int K;
    size_t F;                 /* features per sample in this rank's tile */
    cn_param hw;              /* [Hl_t, Wl_t, Ml, K] */
    cn_param hb;              /* [K] (every rank holds the same copy) */
    float *z, *dz;            /* logits [B, K] */
    float *x0;                /* input tile of the batch [B, x_tile(stage 1), C0] */
    int *labels;              /* [B] */
    /* Where tensors live on the GPU (src/dev.h), the host's side of what crosses over; on the CPU
     * these are the same arrays as above (x0_h == x0, labels_h == labels, z_h == z). */
    float *x0_h;              /* the batch as the data reader fills it; net_upload_batch copies it */
    int *labels_h;
    float *z_h;               /* logits, for the sum over the grid */
    double *dsum;             /* device: sums the host reads back (loss terms), 4 doubles */
    int *dcount;              /* device: correct predictions */
    double flops_fwd;         /* FLOPs of one sample's forward pass on this rank (LF only) */
} cn_net;

/* Build the network of a job on a grid: geometry, tiles, halo plans, parameters (initialised from
 * the seed, independent of the grid), buffers. Returns 0, or -1 after one error line on rank 0 when
 * the grid is too fine for some map (naming the stage and the largest grid that fits). */
int net_create(cn_net *net, const cn_job *job, const cn_grid *grid);
void net_destroy(cn_net *net);
/* Total parameters of the network (global, all ranks) and on this rank. */
size_t net_param_count_global(const cn_job *job);
/* The geometry net_create gives grid rank (py, px) of a Py x Px grid, without allocating anything:
 * for every stage the global sizes (H..Wp, n), this rank's tiles and windows (x_tile..p_win;
 * p_win only with LCN) and the dimensions of its tile operations (lf, pool, lcn; batch job->batch), as
 * net_create sets them; every other field of st[k] is zero. For sizing a run (cotsnet info --params).
 * Returns 0, or CN_EINVAL with one line in cn_last_error() when the grid is too fine for some map. */
int net_geometry(const cn_job *job, int Py, int Px, int py, int px, cn_stage st[CN_MAX_STAGES]);

/* optimizer.fused: the plain SGD step (w -= lr (g + wd w)) that the backward pass applies to a stage's
 * filters itself, with no gradient kept (cuda/ops_cuda.h, lf_backward_fused_sgd_cuda). */
typedef struct {
    float lr, wd;
} cn_fused_sgd;

/* The regions of the output tile in which the stage's filter forward is computed, in order: with
 * overlap, the interior (outputs whose field lies in this rank's own x tile) in blocks of rows, computed
 * while the halo moves (*ninterior of them), then the border; without overlap or interior, the whole
 * tile (*ninterior = 0). Returns how many. For bench/jobpass.h, which times the forward as the engine
 * runs it. */
#define CN_LF_REGIONS 12
int stage_lf_regions(const cn_stage *s, int overlap, cn_region out[CN_LF_REGIONS], int *ninterior);

/* Stage k (0-based) forward on its input tile x [B, x_tile, C]: fills xw, y, yw, p, pw, out. */
void stage_forward(cn_net *net, int k, const float *x, int B);
/* Backward through stage k from gout (gradient on its out tile): adds dJ/dw into w.g, or with `fused`
 * updates w by that step instead (gx from the filters as they were); when gx is not NULL, writes dJ/dx
 * on the input tile into gx. Needs the buffers of the last stage_forward. */
void stage_backward(cn_net *net, int k, const float *gout, float *gx, int B, const cn_fused_sgd *fused);
/* Reconstruction ICA on stage k for input tile x: loss (summed over the grid, divided by B) and the
 * gradients added into w.g (and dec.g), or with `fused` the filters (and decoder) updated by that step
 * instead. Also leaves the forward buffers filled. */
double stage_rica(cn_net *net, int k, const float *x, int B, const cn_fused_sgd *fused);

/* Head on the last stage's out tile: loss, correct predictions; adds gradients into hw.g, hb.g and,
 * when gf is not NULL, writes dL/dfeatures into gf (the out tile's shape). */
double head_step(cn_net *net, const int *labels, int B, int *correct, float *gf);

/* Correct predictions of the head on the last forward pass (no gradients). */
int head_predict(cn_net *net, const int *labels, int B);

/* After the data reader filled x0_h and labels_h: make them the batch the net computes on (a copy
 * to the GPU; nothing on the CPU). */
void net_upload_batch(cn_net *net);

/* Forward through all stages from net->x0; returns the last stage's out tile. */
const float *net_forward(cn_net *net, int B);

#endif
