/* ops.h: the operations of the model on one rank's tile, CPU reference (suffix _ref).
 *
 * Every operation computes the outputs of a tile from an input *window*: the block of the global input
 * map that the tile's outputs read (the tile's own inputs plus its halo). On one rank the tile is the
 * whole map. The exact formulas are in docs/MODEL.md; layouts are DESIGN.md's:
 *   maps NHWC [B, H, W, C], local filters [Ho, Wo, M, r, r, C].
 * A region (cn_region) restricts the work to a sub-rectangle of the output tile, so that the interior
 * (which needs no halo) can be computed while the halo is in flight.
 *
 * Conventions, the same for every operation (and for the fast CPU and CUDA twins,
 * named lf_forward_cpu / lf_forward_cuda and so on, with the same arguments, plus a stream for CUDA):
 *  - forward functions overwrite their output inside the region and leave the rest untouched;
 *  - backward functions ADD into their gradient outputs (the caller zeroes them), so that terms that
 *    share a tensor (tied encoder and decoder, several consumers) accumulate;
 *  - every function checks its dimensions first and returns CN_EINVAL (message in cn_last_error())
 *    without touching memory when they do not fit, or when a size would overflow. */
#ifndef CN_OPS_H
#define CN_OPS_H

#include <stddef.h>

typedef struct {
    int i0, i1; /* output rows [i0, i1) of the tile */
    int j0, j1; /* output columns [j0, j1) of the tile */
} cn_region;

/* The whole output tile. */
static inline cn_region region_all(int Ho, int Wo) { return (cn_region){0, Ho, 0, Wo}; }

/* ---- local filter (untied weights) --------------------------------------------------------------
 * Input window x [B, Hx, Wx, C]: its row 0 is the input row read by output row 0 of the tile
 * (global row i0_tile * s), and likewise for columns. Needs (Ho-1)*s + r <= Hx, (Wo-1)*s + r <= Wx.
 * Filters w [Ho, Wo, M, r, r, C] of the tile's output locations; output y [B, Ho, Wo, M].
 *   y[b,i,j,m] = sum_{dy,dx<r, c<C} w[i,j,m,dy,dx,c] * x[b, i*s+dy, j*s+dx, c]                  */
typedef struct {
    int B;
    int Hx, Wx, C; /* input window */
    int Ho, Wo, M; /* output tile */
    int r, s;      /* receptive field r x r, stride s */
} lf_dims;

int lf_check(const lf_dims *d);
/* What every implementation of a local-filter call checks before touching memory (the reference, the
 * fast CPU and the CUDA twins alike): lf_check, the region inside the output tile, no NULL array
 * (arrays_given = all pointers non-NULL). op names the caller in the message. */
int lf_check_call(const char *op, const lf_dims *d, cn_region rg, int arrays_given);
size_t lf_filter_count(const lf_dims *d); /* Ho*Wo*M*r*r*C */
int lf_forward_ref(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg);
/* dx[b, i*s+dy, j*s+dx, c] += sum_m w[i,j,m,dy,dx,c] * dy[b,i,j,m]   over outputs (i,j) in rg */
int lf_backward_data_ref(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg);
/* dw[i,j,m,dy,dx,c] += sum_b dy[b,i,j,m] * x[b, i*s+dy, j*s+dx, c]   for (i,j) in rg */
int lf_backward_filter_ref(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg);

/* ---- L2 pooling ----------------------------------------------------------------------------------
 * Input window y [B, Hy, Wy, M] whose row 0 is global row i0_tile * t; output p [B, Hp, Wp, M]:
 *   p[b,i,j,m] = sqrt(eps + sum_{u,v<q} y[b, i*t+u, j*t+v, m]^2)
 * Needs (Hp-1)*t + q <= Hy, (Wp-1)*t + q <= Wy.                                                     */
typedef struct {
    int B, M;
    int Hy, Wy;  /* input window */
    int Hp, Wp;  /* output tile */
    int q, t;    /* window q x q, stride t */
    float eps;
} pool_dims;

int pool_check(const pool_dims *d);
int pool_check_call(const char *op, const pool_dims *d, cn_region rg, int arrays_given); /* as lf_check_call */
int pool_forward_ref(const pool_dims *d, const float *y, float *p, cn_region rg);
/* dy[...] += dp[b,i,j,m] * y[...] / p[b,i,j,m]  for each (i,j) in rg and its window */
int pool_backward_ref(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                      cn_region rg);

/* ---- local contrast normalization -------------------------------------------------------------
 * Gaussian n x n window (n odd, width sigma) summed across the M maps, truncated at the border of the
 * global H x W map and renormalized there (docs/MODEL.md). The output at (i, j) reads inputs up to
 * 2*(n-1)/2 = n-1 rows and columns away, so the window is the tile grown by n-1, clipped to the map.
 * Input window x [B, wh, ww, M] at global origin (wy0, wx0); output tile [B, th, tw, M] at global
 * origin (ty0, tx0); the window must contain the tile grown by n-1 (clipped to the map).            */
typedef struct {
    int B, M;
    int H, W;            /* global map */
    int wy0, wx0, wh, ww; /* input window, global origin and size */
    int ty0, tx0, th, tw; /* output tile, global origin and size */
    int n;
    float sigma, eps;
} lcn_dims;

int lcn_check(const lcn_dims *d);
/* The window an output tile needs: the tile grown by n-1 on every side, clipped to the map. */
void lcn_window(int H, int W, int n, int ty0, int tx0, int th, int tw, int *wy0, int *wx0, int *wh,
                int *ww);
/* Sum of e[a + h] over the offsets a in [-h, h] that keep i + a inside [0, n): the Gaussian's mass
 * inside the map at row (or column) i, the normaliser of LCN at the border (docs/MODEL.md). */
double lcn_edge_sum(const double *e, int h, int i, int n);
int lcn_forward_ref(const lcn_dims *d, const float *x, float *out);
/* dx (input window) += d out / d x applied to dout (output tile) */
int lcn_backward_ref(const lcn_dims *d, const float *x, const float *dout, float *dx);

/* ---- softmax head, split over tiles ----------------------------------------------------------------
 * Features f [B, Hl, Wl, Ml] of the tile, weights w [Hl, Wl, Ml, K] of the same tile.
 * Partial logits z[b,k] = sum_{i,j,m} f[b,i,j,m] * w[i,j,m,k]; the caller sums them over the grid and
 * adds the bias once. Loss L = (1/B) sum_b -log softmax(z_b + bias)[label_b].                        */
typedef struct {
    int B, K;
    int F; /* features per sample in the tile: Hl*Wl*Ml */
} head_dims;

int head_logits_ref(const head_dims *d, const float *f, const float *w, float *z); /* z = [B, K] */
/* From full logits z (bias included) and labels: loss (mean over batch), dz = (softmax - onehot)/B,
 * and the number of correct argmax predictions. */
int head_softmax_xent_ref(const head_dims *d, const float *z, const int *labels, double *loss, float *dz,
                          int *correct);
/* dw += f^T dz; df += dz w^T (df may be NULL) */
int head_backward_ref(const head_dims *d, const float *f, const float *w, const float *dz, float *dw,
                      float *df);

/* ---- optimizers ----------------------------------------------------------------------------------
 * g_eff = g + wd * w.
 * SGD with momentum:  v = mu * v + g_eff;  w -= lr * v
 * AdaGrad:            h = h + g_eff^2;     w -= lr * g_eff / (sqrt(h) + eps)                        */
void sgd_momentum_ref(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd);
void adagrad_ref(float *w, float *h, const float *g, size_t n, float lr, float eps, float wd);
/* Plain SGD, no state (optimizer.fused on the CPU): w -= lr * (g + wd * w). */
void sgd_ref(float *w, const float *g, size_t n, float lr, float wd);

#endif
