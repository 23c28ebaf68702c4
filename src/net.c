/* net.c: building the network on a grid: geometry, tiles, windows, halo plans, parameters, buffers.
 *
 * Initial parameters come from src/rng.h keyed by (seed, tensor id, global index), so each rank fills
 * its tile of a tensor with exactly the values the one-rank run has there (docs/MODEL.md). */
#include "src/net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/common.h"
#include "src/dev.h"
#include "src/rng.h"

/* ---- windows, as functions of a grid coordinate (halo plans ask them for every rank) ---------- */

typedef struct {
    const cn_stage *st;
    int Py, Px;
} win_ctx;

static win_ctx win_ctxs[CN_MAX_STAGES][3]; /* contexts outlive plan creation only; plans copy rects */

static cn_rect x_window(void *ctx, int py, int px)
{
    const win_ctx *c = ctx;
    const cn_stage *s = c->st;
    cn_rect t = tile_rect(s->Ho, s->Wo, c->Py, c->Px, py, px);
    return (cn_rect){t.y0 * s->s, (t.y1 - 1) * s->s + s->r, t.x0 * s->s, (t.x1 - 1) * s->s + s->r};
}

static cn_rect y_window(void *ctx, int py, int px)
{
    const win_ctx *c = ctx;
    const cn_stage *s = c->st;
    cn_rect t = tile_rect(s->Hp, s->Wp, c->Py, c->Px, py, px);
    return (cn_rect){t.y0 * s->t, (t.y1 - 1) * s->t + s->q, t.x0 * s->t, (t.x1 - 1) * s->t + s->q};
}

static cn_rect p_window(void *ctx, int py, int px)
{
    const win_ctx *c = ctx;
    const cn_stage *s = c->st;
    cn_rect t = tile_rect(s->Hp, s->Wp, c->Py, c->Px, py, px);
    int wy0, wx0, wh, ww;
    lcn_window(s->Hp, s->Wp, s->n, t.y0, t.x0, rect_rows(t), rect_cols(t), &wy0, &wx0, &wh, &ww);
    return (cn_rect){wy0, wy0 + wh, wx0, wx0 + ww};
}

/* ---- geometry -------------------------------------------------------------------------------- */

static void stage_geometry(const cn_job *job, cn_stage *st)
{
    int H = job->height, W = job->width, C = job->channels;
    for (int k = 0; k < job->nstages; k++) {
        const cn_stage_cfg *c = &job->stage[k];
        st[k].cfg = c;
        st[k].k = k + 1;
        st[k].H = H, st[k].W = W, st[k].C = C;
        st[k].r = c->field, st[k].s = c->stride, st[k].M = c->maps;
        st[k].Ho = (H - c->field) / c->stride + 1;
        st[k].Wo = (W - c->field) / c->stride + 1;
        st[k].q = c->pool, st[k].t = c->pool_stride;
        st[k].Hp = (st[k].Ho - c->pool) / c->pool_stride + 1;
        st[k].Wp = (st[k].Wo - c->pool) / c->pool_stride + 1;
        st[k].n = c->lcn;
        H = st[k].Hp, W = st[k].Wp, C = c->maps;
    }
}

size_t net_param_count_global(const cn_job *job)
{
    cn_stage st[CN_MAX_STAGES];
    memset(st, 0, sizeof st);
    stage_geometry(job, st);
    size_t total = 0;
    for (int k = 0; k < job->nstages; k++) {
        size_t n = (size_t)st[k].Ho * st[k].Wo * st[k].M * st[k].r * st[k].r * st[k].C;
        total += job->stage[k].tied ? n : 2 * n;
    }
    const cn_stage *l = &st[job->nstages - 1];
    total += (size_t)l->Hp * l->Wp * l->M * job->classes + job->classes;
    return total;
}

/* The largest Py x Px that gives every map of every stage a non-empty tile. */
static void largest_grid(const cn_stage *st, int n, int *py, int *px)
{
    int rows = st[0].H, cols = st[0].W;
    for (int k = 0; k < n; k++) {
        rows = CN_MIN(rows, CN_MIN(st[k].Ho, st[k].Hp));
        cols = CN_MIN(cols, CN_MIN(st[k].Wo, st[k].Wp));
    }
    *py = rows, *px = cols;
}

/* The tile operations' dimensions of a stage for batch B, from its tiles and windows. */
static void stage_dims(cn_stage *s, int B)
{
    const cn_stage_cfg *c = s->cfg;
    s->lf = (lf_dims){B, rect_rows(s->x_win), rect_cols(s->x_win), s->C,
                      rect_rows(s->y_tile), rect_cols(s->y_tile), s->M, s->r, s->s};
    s->pool = (pool_dims){B, s->M, rect_rows(s->y_win), rect_cols(s->y_win),
                          rect_rows(s->p_tile), rect_cols(s->p_tile), s->q, s->t, (float)c->pool_eps};
    if (s->n)
        s->lcn = (lcn_dims){B, s->M, s->Hp, s->Wp, s->p_win.y0, s->p_win.x0, rect_rows(s->p_win),
                            rect_cols(s->p_win), s->p_tile.y0, s->p_tile.x0, rect_rows(s->p_tile),
                            rect_cols(s->p_tile), s->n, (float)c->lcn_sigma, (float)c->lcn_eps};
}

int net_geometry(const cn_job *job, int Py, int Px, int py, int px, cn_stage st[CN_MAX_STAGES])
{
    memset(st, 0, CN_MAX_STAGES * sizeof *st);
    stage_geometry(job, st);
    int fy, fx;
    largest_grid(st, job->nstages, &fy, &fx);
    if (Py < 1 || Px < 1 || Py > fy || Px > fx || py < 0 || py >= Py || px < 0 || px >= Px)
        return cn_set_error("grid %dx%d (rank %d,%d) does not fit the maps: every rank needs at least one row and "
                            "column of every map; the largest grid that fits is %dx%d", Py, Px, py, px, fy, fx);
    for (int k = 0; k < job->nstages; k++) {
        cn_stage *s = &st[k];
        win_ctx c = {s, Py, Px};
        s->x_tile = tile_rect(s->H, s->W, Py, Px, py, px);
        s->y_tile = tile_rect(s->Ho, s->Wo, Py, Px, py, px);
        s->p_tile = tile_rect(s->Hp, s->Wp, Py, Px, py, px);
        s->x_win = x_window(&c, py, px);
        s->y_win = y_window(&c, py, px);
        if (s->n)
            s->p_win = p_window(&c, py, px);
        stage_dims(s, job->batch);
    }
    return CN_OK;
}

/* ---- parameters ------------------------------------------------------------------------------- */

/* Fill the tile [y_tile rows, cols, inner] of a global tensor [Hg, Wg, inner] from the generator. */
static void init_tile(float *w, uint64_t seed, uint64_t id, double std, cn_rect t, int Wg, size_t inner)
{
    size_t rows = (size_t)rect_rows(t), cols = (size_t)rect_cols(t);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            size_t g0 = (((size_t)t.y0 + i) * (size_t)Wg + (size_t)t.x0 + j) * inner;
            float *dst = w + (i * cols + j) * inner;
            enum { RUN = 256 }; /* normal numbers drawn per call */
            double z[RUN];
            for (size_t e0 = 0; e0 < inner; e0 += RUN) {
                const int n = inner - e0 < RUN ? (int)(inner - e0) : RUN;
                rng_normal_span(seed, CN_STREAM_PARAM + id, g0 + e0, n, z);
                for (int e = 0; e < n; e++)
                    dst[e0 + (size_t)e] = (float)(std * z[e]);
            }
        }
}

static void param_alloc(cn_param *p, size_t n)
{
    p->n = n;
    p->w = dev_alloc(n, sizeof(float));
    p->g = dev_alloc(n, sizeof(float));
    p->state = dev_alloc(n, sizeof(float));
}

/* A local filter (or decoder) under optimizer.fused: no optimizer state; no gradient either on the GPU,
 * whose backward kernel updates the filters in place (the CPU sums the gradient first: a buffer). */
static void param_alloc_fused(cn_param *p, size_t n)
{
    p->n = n;
    p->w = dev_alloc(n, sizeof(float));
    p->g = dev_gpu() ? NULL : dev_alloc(n, sizeof(float));
    p->state = NULL;
}

/* init_tile into the parameter's values, through a host copy when they live on the GPU */
static void param_init(cn_param *p, uint64_t seed, uint64_t id, double std, cn_rect t, int Wg, size_t inner)
{
    float *h = dev_gpu() ? cn_alloc(p->n, sizeof(float)) : p->w;
    init_tile(h, seed, id, std, t, Wg, inner);
    if (h != p->w) {
        dev_upload(p->w, h, p->n * sizeof(float));
        cn_free(h);
    }
}

static void param_free(cn_param *p)
{
    dev_free(p->w);
    dev_free(p->g);
    dev_free(p->state);
    memset(p, 0, sizeof *p);
}

static size_t area(cn_rect r) { return (size_t)rect_rows(r) * (size_t)rect_cols(r); }

int net_create(cn_net *net, const cn_job *job, const cn_grid *grid)
{
    memset(net, 0, sizeof *net);
    net->job = job;
    net->grid = grid;
    net->B = job->batch;
    net->nstages = job->nstages;
    net->K = job->classes;
    stage_geometry(job, net->st);

    int fy, fx;
    largest_grid(net->st, net->nstages, &fy, &fx);
    if (grid->Py > fy || grid->Px > fx) {
        /* name the first stage whose maps are too small */
        for (int k = 0; k < net->nstages; k++) {
            const cn_stage *s = &net->st[k];
            int r = CN_MIN(s->H, CN_MIN(s->Ho, s->Hp)), c = CN_MIN(s->W, CN_MIN(s->Wo, s->Wp));
            if (grid->Py > r || grid->Px > c) {
                if (grid->world_rank == 0)
                    fprintf(stderr, "cotsnet: error: grid %dx%d is too fine for stage %d (its smallest map is %dx%d): "
                                    "every rank needs at least one row and column of every map; the largest grid that fits is %dx%d\n",
                            grid->Py, grid->Px, s->k, r, c, fy, fx);
                return -1;
            }
        }
    }

    int B = net->B;
    for (int k = 0; k < net->nstages; k++) {
        cn_stage *s = &net->st[k];
        const cn_stage_cfg *c = s->cfg;
        s->x_tile = tile_rect(s->H, s->W, grid->Py, grid->Px, grid->py, grid->px);
        s->y_tile = tile_rect(s->Ho, s->Wo, grid->Py, grid->Px, grid->py, grid->px);
        s->p_tile = tile_rect(s->Hp, s->Wp, grid->Py, grid->Px, grid->py, grid->px);
        win_ctxs[k][0] = (win_ctx){s, grid->Py, grid->Px};
        win_ctxs[k][1] = win_ctxs[k][0];
        win_ctxs[k][2] = win_ctxs[k][0];
        s->x_win = x_window(&win_ctxs[k][0], grid->py, grid->px);
        s->y_win = y_window(&win_ctxs[k][1], grid->py, grid->px);
        s->x_plan = halo_plan_create(grid, s->H, s->W, s->C, B, x_window, &win_ctxs[k][0]);
        s->y_plan = halo_plan_create(grid, s->Ho, s->Wo, s->M, B, y_window, &win_ctxs[k][1]);
        if (!s->x_plan || !s->y_plan)
            cn_fatal("stage %d: halo plan: %s", s->k, cn_last_error());
        if (dev_gpu()) {
            halo_plan_set_mem(s->x_plan, dev_halo_mem());
            halo_plan_set_mem(s->y_plan, dev_halo_mem());
        }
        if (s->n) {
            s->p_win = p_window(&win_ctxs[k][2], grid->py, grid->px);
            s->p_plan = halo_plan_create(grid, s->Hp, s->Wp, s->M, B, p_window, &win_ctxs[k][2]);
            if (!s->p_plan)
                cn_fatal("stage %d: halo plan: %s", s->k, cn_last_error());
            if (dev_gpu())
                halo_plan_set_mem(s->p_plan, dev_halo_mem());
        }
        stage_dims(s, B);

        /* parameters */
        size_t inner = (size_t)s->M * s->r * s->r * s->C;
        size_t nw = area(s->y_tile) * inner;
        double std = c->init_scale / sqrt((double)s->r * s->r * s->C);
        (job->fused ? param_alloc_fused : param_alloc)(&s->w, nw);
        param_init(&s->w, job->seed, 16u * (uint64_t)s->k, std, s->y_tile, s->Wo, inner);
        if (!c->tied) {
            (job->fused ? param_alloc_fused : param_alloc)(&s->dec, nw);
            param_init(&s->dec, job->seed, 16u * (uint64_t)s->k + 1, std, s->y_tile, s->Wo, inner);
        }

        /* buffers */
        size_t bx = (size_t)B * area(s->x_tile) * s->C, bxw = (size_t)B * area(s->x_win) * s->C;
        size_t by = (size_t)B * area(s->y_tile) * s->M, byw = (size_t)B * area(s->y_win) * s->M;
        size_t bp = (size_t)B * area(s->p_tile) * s->M;
        size_t bpw = s->n ? (size_t)B * area(s->p_win) * s->M : 0;
        s->xw = dev_alloc(bxw, 4);
        s->gxw = dev_alloc(bxw, 4);
        s->xr_w = dev_alloc(bxw, 4);
        s->gew = dev_alloc(bxw, 4);
        s->xr = dev_alloc(bx, 4);
        s->ge = dev_alloc(bx, 4);
        s->y = dev_alloc(by, 4);
        s->gy = dev_alloc(by, 4);
        s->yw = dev_alloc(byw, 4);
        s->gyw = dev_alloc(byw, 4);
        s->p = dev_alloc(bp, 4);
        s->gp = dev_alloc(bp, 4);
        if (s->n) {
            s->pw = dev_alloc(bpw, 4);
            s->gpw = dev_alloc(bpw, 4);
            s->out = dev_alloc(bp, 4);
        } else {
            s->out = s->p;
        }
        net->flops_fwd += 2.0 * (double)area(s->y_tile) * (double)inner;
    }

    /* head */
    const cn_stage *l = &net->st[net->nstages - 1];
    net->F = area(l->p_tile) * (size_t)l->M;
    param_alloc(&net->hw, net->F * (size_t)net->K);
    param_alloc(&net->hb, (size_t)net->K);
    size_t nx0 = (size_t)B * area(net->st[0].x_tile) * net->st[0].C;
    net->z = dev_alloc((size_t)B * net->K, 4);
    net->dz = dev_alloc((size_t)B * net->K, 4);
    net->x0 = dev_alloc(nx0, 4);
    net->labels = dev_alloc((size_t)B, sizeof(int));
    if (dev_gpu()) {
        net->x0_h = cn_alloc(nx0, 4);
        net->labels_h = cn_alloc((size_t)B, sizeof(int));
        net->z_h = cn_alloc((size_t)B * net->K, 4);
        net->dsum = dev_alloc(4, sizeof(double));
        net->dcount = dev_alloc(1, sizeof(int));
    } else {
        net->x0_h = net->x0;
        net->labels_h = net->labels;
        net->z_h = net->z;
    }
    return 0;
}

void net_upload_batch(cn_net *net)
{
    if (net->x0_h == net->x0)
        return;
    const cn_stage *s = &net->st[0];
    dev_upload(net->x0, net->x0_h, (size_t)net->B * area(s->x_tile) * (size_t)s->C * sizeof(float));
    dev_upload(net->labels, net->labels_h, (size_t)net->B * sizeof(int));
}

void net_destroy(cn_net *net)
{
    for (int k = 0; k < net->nstages; k++) {
        cn_stage *s = &net->st[k];
        halo_plan_destroy(s->x_plan);
        halo_plan_destroy(s->y_plan);
        if (s->p_plan)
            halo_plan_destroy(s->p_plan);
        param_free(&s->w);
        if (s->dec.w)
            param_free(&s->dec);
        float *bufs[] = {s->xw, s->gxw, s->xr_w, s->gew, s->xr, s->ge, s->y, s->gy, s->yw, s->gyw, s->p, s->gp};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            dev_free(bufs[i]);
        if (s->n) {
            dev_free(s->pw);
            dev_free(s->gpw);
            dev_free(s->out);
        }
    }
    param_free(&net->hw);
    param_free(&net->hb);
    if (net->x0_h != net->x0) {
        cn_free(net->x0_h);
        cn_free(net->labels_h);
        cn_free(net->z_h);
        dev_free(net->dsum);
        dev_free(net->dcount);
    }
    dev_free(net->z);
    dev_free(net->dz);
    dev_free(net->x0);
    dev_free(net->labels);
    memset(net, 0, sizeof *net);
}
