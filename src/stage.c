/* stage.c: one stage of the network on a tile: forward, backward and reconstruction ICA, composed
 * from the tile operations (src/ops.h) and halo exchanges (mpi/halo.h).
 *
 * The local filter's forward overlaps its halo: the exchange is posted, the interior outputs (whose
 * fields lie inside this rank's own tile of x) are computed in row blocks with halo_test() between
 * them (Debian's Open MPI has no asynchronous progress: messages move only inside MPI calls), then
 * the border outputs once the halo has arrived. */
#include <string.h>

#include "src/common.h"
#include "src/dev.h"
#include "src/kernels.h"
#include "src/net.h"
#include "src/timers.h"

static size_t area(cn_rect r) { return (size_t)rect_rows(r) * (size_t)rect_cols(r); }

static void zero(float *p, size_t n) { dev_zero(p, n * sizeof *p); }

/* Blocking halo exchanges, timed: the time spent here is time not hidden behind compute. A scatter-add
 * sends what the matching gather receives. */
static void gather(halo_plan *p, const float *tile, float *win, int B)
{
    double t0 = cn_now();
    halo_gather(p, tile, win, B);
    cn_time.halo_wait += cn_now() - t0;
    cn_time.halo_bytes += (double)halo_bytes_sent(p, B);
}

static void scatter_add(halo_plan *p, const float *win, float *tile, int B)
{
    double t0 = cn_now();
    halo_scatter_add(p, win, tile, B);
    cn_time.halo_wait += cn_now() - t0;
    cn_time.halo_bytes += (double)halo_bytes_recv(p, B);
}

/* Interior of the filter output tile: outputs whose field [i*s, i*s+r) lies in the own rows [a, b)
 * of the window (window coordinates); same for columns. May be empty. */
static cn_region lf_interior(const cn_stage *s)
{
    int a = s->x_tile.y0 - s->x_win.y0, b = s->x_tile.y1 - s->x_win.y0;
    int c = s->x_tile.x0 - s->x_win.x0, d = s->x_tile.x1 - s->x_win.x0;
    int Ho = s->lf.Ho, Wo = s->lf.Wo;
    cn_region rg;
    rg.i0 = a <= 0 ? 0 : (a + s->s - 1) / s->s;
    rg.i1 = b - s->r < 0 ? 0 : (b - s->r) / s->s + 1;
    rg.j0 = c <= 0 ? 0 : (c + s->s - 1) / s->s;
    rg.j1 = d - s->r < 0 ? 0 : (d - s->r) / s->s + 1;
    rg.i1 = CN_MIN(rg.i1, Ho), rg.j1 = CN_MIN(rg.j1, Wo);
    if (rg.i1 <= rg.i0 || rg.j1 <= rg.j0)
        rg = (cn_region){0, 0, 0, 0};
    return rg;
}

int stage_lf_regions(const cn_stage *s, int overlap, cn_region out[CN_LF_REGIONS], int *ninterior)
{
    cn_region in = overlap ? lf_interior(s) : (cn_region){0, 0, 0, 0};
    int Ho = s->lf.Ho, Wo = s->lf.Wo, n = 0;
    *ninterior = 0;
    if (in.i1 <= in.i0) {
        out[0] = region_all(Ho, Wo);
        return 1;
    }
    /* interior in blocks of rows, giving MPI a chance to move the halo between blocks */
    int rows = in.i1 - in.i0, blk = rows < 4 ? 1 : rows / 4;
    for (int i = in.i0; i < in.i1; i += blk)
        out[n++] = (cn_region){i, CN_MIN(i + blk, in.i1), in.j0, in.j1};
    *ninterior = n;
    /* the border: rows above and below the interior, columns left and right of it */
    cn_region border[4] = {{0, in.i0, 0, Wo}, {in.i1, Ho, 0, Wo}, {in.i0, in.i1, 0, in.j0}, {in.i0, in.i1, in.j1, Wo}};
    for (int b = 0; b < 4; b++)
        if (border[b].i1 > border[b].i0 && border[b].j1 > border[b].j0)
            out[n++] = border[b];
    return n;
}

static void lf_forward_overlapped(cn_net *net, cn_stage *s, const float *x, int B)
{
    lf_dims d = s->lf;
    d.B = B;
    double tb = cn_now(); /* posting the exchange (packing, the local copy) is halo time too, not compute */
    halo_gather_begin(s->x_plan, x, s->xw, B);
    cn_time.halo_wait += cn_now() - tb;
    cn_region rg[CN_LF_REGIONS];
    int nin, n = stage_lf_regions(s, net->job->overlap, rg, &nin);
    int done = 0;
    double ti = cn_now();
    for (int i = 0; i < nin; i++) {
        k_lf_forward(&d, s->xw, s->w.w, s->y, rg[i]);
        if (!done)
            done = halo_test(s->x_plan);
    }
    double t0 = cn_now();
    cn_time.overlap_hidden += t0 - ti;
    halo_gather_end(s->x_plan);
    cn_time.halo_wait += cn_now() - t0;
    cn_time.overlap_wait += cn_now() - t0;
    cn_time.halo_bytes += (double)halo_bytes_sent(s->x_plan, B);
    for (int i = nin; i < n; i++)
        k_lf_forward(&d, s->xw, s->w.w, s->y, rg[i]);
}

void stage_forward(cn_net *net, int k, const float *x, int B)
{
    cn_stage *s = &net->st[k];
    lf_forward_overlapped(net, s, x, B);
    gather(s->y_plan, s->y, s->yw, B);
    pool_dims pd = s->pool;
    pd.B = B;
    k_pool_forward(&pd, s->yw, s->p, region_all(pd.Hp, pd.Wp));
    if (s->n) {
        lcn_dims ld = s->lcn;
        ld.B = B;
        gather(s->p_plan, s->p, s->pw, B);
        k_lcn_forward(&ld, s->pw, s->out);
    }
}

/* gp (gradient on the p tile) -> gy (gradient on the y tile), through the pooling and its halo.
 * Adds into gy when accumulate is set, else overwrites it. */
static void pool_backward_tile(cn_stage *s, const float *gp, int B, int accumulate)
{
    pool_dims pd = s->pool;
    pd.B = B;
    zero(s->gyw, (size_t)B * area(s->y_win) * s->M);
    k_pool_backward(&pd, s->yw, s->p, gp, s->gyw, region_all(pd.Hp, pd.Wp));
    if (!accumulate)
        zero(s->gy, (size_t)B * area(s->y_tile) * s->M);
    scatter_add(s->y_plan, s->gyw, s->gy, B);
}

/* The fused step on a filter tile p: dx += LF^T(w, dy) from the filters as they are (when dx is given),
 * then w -= lr (dW + wd w) with dW = dLF/dw(x, dy) (+ dLF/dw(x2, dy2) when x2 is given). The GPU does it
 * in the backward kernels, keeping no gradient; the CPU sums dW into p->g in the order the unfused path
 * does and applies it at once (the same bits as SGD with momentum 0). */
static void fused_step(const lf_dims *d, cn_param *p, const float *x, const float *dy, float *dx, const float *x2,
                       const float *dy2, const cn_fused_sgd *f)
{
    cn_region all = region_all(d->Ho, d->Wo);
    if (dev_gpu()) {
        CN_KCALL(K_GPU(lf_backward_fused_sgd_cuda(d, x, p->w, dy, dx, x2, dy2, f->lr, f->wd, all, K_STREAM)));
        return;
    }
    if (dx)
        k_lf_backward_data(d, p->w, dy, dx, all);
    k_lf_backward_filter(d, x, dy, p->g, all);
    if (x2)
        k_lf_backward_filter(d, x2, dy2, p->g, all);
    sgd_ref(p->w, p->g, p->n, f->lr, f->wd);
    zero(p->g, p->n);
}

void stage_backward(cn_net *net, int k, const float *gout, float *gx, int B, const cn_fused_sgd *fused)
{
    cn_stage *s = &net->st[k];
    const float *gp = gout;
    if (s->n) {
        lcn_dims ld = s->lcn;
        ld.B = B;
        zero(s->gpw, (size_t)B * area(s->p_win) * s->M);
        k_lcn_backward(&ld, s->pw, gout, s->gpw);
        zero(s->gp, (size_t)B * area(s->p_tile) * s->M);
        scatter_add(s->p_plan, s->gpw, s->gp, B);
        gp = s->gp;
    }
    pool_backward_tile(s, gp, B, 0);
    lf_dims d = s->lf;
    d.B = B;
    cn_region all = region_all(d.Ho, d.Wo);
    if (gx)
        zero(s->gxw, (size_t)B * area(s->x_win) * s->C);
    if (fused) {
        fused_step(&d, &s->w, s->xw, s->gy, gx ? s->gxw : NULL, NULL, NULL, fused);
    } else {
        k_lf_backward_filter(&d, s->xw, s->gy, s->w.g, all);
        if (gx)
            k_lf_backward_data(&d, s->w.w, s->gy, s->gxw, all);
    }
    if (gx) {
        zero(gx, (size_t)B * area(s->x_tile) * s->C);
        scatter_add(s->x_plan, s->gxw, gx, B);
    }
}

/* The reconstruction ICA's element-wise step on the GPU: ge = 2 (xr - x) / B, and the two partial
 * sums (squared error, pooled activations) back on the host. */
static void rica_sums_gpu(cn_net *net, cn_stage *s, const float *x, size_t nx, size_t np, int B, double *part)
{
    (void)net, (void)s, (void)x, (void)nx, (void)np, (void)B; /* unused in a build without CUDA */
    CN_KCALL(K_GPU(rica_residual_cuda(s->xr, x, nx, 2.0, (double)B, s->ge, net->dsum, K_STREAM)));
    CN_KCALL(K_GPU(sum_cuda(s->p, np, net->dsum + 1, K_STREAM)));
    dev_download(part, net->dsum, 2 * sizeof *part);
}

double stage_rica(cn_net *net, int k, const float *x, int B, const cn_fused_sgd *fused)
{
    cn_stage *s = &net->st[k];
    const cn_stage_cfg *c = s->cfg;
    lf_dims d = s->lf;
    d.B = B;
    cn_region all = region_all(d.Ho, d.Wo);
    const float *dec = c->tied ? s->w.w : s->dec.w;
    float *ddec = c->tied ? s->w.g : s->dec.g;
    size_t nx = (size_t)B * area(s->x_tile) * s->C, nxw = (size_t)B * area(s->x_win) * s->C;
    size_t np = (size_t)B * area(s->p_tile) * s->M;

    /* encode and pool */
    lf_forward_overlapped(net, s, x, B);
    gather(s->y_plan, s->y, s->yw, B);
    pool_dims pd = s->pool;
    pd.B = B;
    k_pool_forward(&pd, s->yw, s->p, region_all(pd.Hp, pd.Wp));

    /* decode: xr = LF^T(D, y), summed over every rank whose window covers a pixel */
    zero(s->xr_w, nxw);
    k_lf_backward_data(&d, dec, s->y, s->xr_w, all);
    zero(s->xr, nx);
    scatter_add(s->x_plan, s->xr_w, s->xr, B);

    /* J = (1/B) (sum e^2 + lambda sum p) over the whole map: partial sums here, reduced over the grid */
    double part[2] = {0, 0};
    float g = (float)(c->lambda / B);
    if (dev_gpu()) {
        rica_sums_gpu(net, s, x, nx, np, B, part);
    } else {
        for (size_t i = 0; i < nx; i++) {
            double e = (double)s->xr[i] - (double)x[i];
            part[0] += e * e;
            s->ge[i] = (float)(2.0 * e / B);
        }
        for (size_t i = 0; i < np; i++)
            part[1] += s->p[i];
    }
    grid_sum_double(net->grid, part, 2);
    double loss = (part[0] + c->lambda * part[1]) / B;

    /* gy = LF(D, ge) + POOL^T(lambda / B) */
    gather(s->x_plan, s->ge, s->gew, B);
    if (dev_gpu())
        CN_KCALL(K_GPU(fill_cuda(s->gp, np, g, K_STREAM)));
    else
        for (size_t i = 0; i < np; i++)
            s->gp[i] = g;
    k_lf_forward(&d, s->gew, dec, s->gy, all); /* gy = LF(D, ge) ... */
    pool_backward_tile(s, s->gp, B, 1);        /* ... + POOL^T(lambda / B) */

    /* encoder and decoder terms of the filter gradients (fused: the update itself, now that every use
     * of the old filters above is done) */
    if (fused && c->tied) {
        fused_step(&d, &s->w, s->xw, s->gy, NULL, s->gew, s->y, fused);
    } else if (fused) {
        fused_step(&d, &s->w, s->xw, s->gy, NULL, NULL, NULL, fused);
        fused_step(&d, &s->dec, s->gew, s->y, NULL, NULL, NULL, fused);
    } else {
        k_lf_backward_filter(&d, s->xw, s->gy, s->w.g, all);
        k_lf_backward_filter(&d, s->gew, s->y, ddec, all);
    }
    return loss;
}

const float *net_forward(cn_net *net, int B)
{
    const float *x = net->x0;
    for (int k = 0; k < net->nstages; k++) {
        stage_forward(net, k, x, B);
        x = net->st[k].out;
    }
    return x;
}
