/* mpi_dist.c: every operation of the network on a grid, gathered, for comparison with the one-rank run
 * (tests/t_dist.sh). For one batch it writes, as .npy files in OUTDIR (from world rank 0):
 *   s<k>_y, s<k>_p, s<k>_out        forward maps of stage k
 *   s<k>_rica_dw, s<k>_rica_ddec     reconstruction-ICA gradients (replica-averaged)
 *   head_dw, head_db, ft_s<k>_dw     head and fine-tuning gradients, ft_gx the gradient on the input
 *   losses                           [rica loss of each stage..., head loss]
 *   mpi_dist JOB.ini OUTDIR [--set section.key=value ...] */
#include <stdio.h>
#include <string.h>

#include "mpi/grid.h"
#include "mpi/h5mpi.h"
#include "src/common.h"
#include "src/data.h"
#include "src/job.h"
#include "src/net.h"
#include "src/rng.h"
#include "tests/testutil.h"

static const char *outdir;
static const cn_grid *G;

/* Gather a tiled [H, W, inner] tensor (or [B, H, W, inner] map) and write it from world rank 0. */
static void dump(const char *name, int B, int H, int W, size_t inner, const float *tile, cn_rect t)
{
    size_t per_b = (size_t)rect_rows(t) * rect_cols(t) * inner;
    float *full = G->grid_rank == 0 ? cn_alloc((size_t)B * H * W * inner, 4) : NULL;
    float *one = G->grid_rank == 0 ? cn_alloc((size_t)H * W * inner, 4) : NULL;
    for (int b = 0; b < B; b++) {
        grid_gather_tiles(G, H, W, inner, tile + (size_t)b * per_b, one);
        if (full)
            memcpy(full + (size_t)b * H * W * inner, one, (size_t)H * W * inner * 4);
    }
    if (G->world_rank == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.npy", outdir, name);
        int shape[4] = {B, H, W, (int)inner};
        if (tu_write_npy(path, full, "<f4", shape, 4))
            cn_fatal("cannot write %s", path);
    }
    cn_free(full);
    cn_free(one);
}

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    if (argc < 3) {
        fprintf(stderr, "usage: mpi_dist JOB.ini OUTDIR [--set k=v ...]\n");
        return 2;
    }
    outdir = argv[2];
    const char *sets[32];
    int nsets = 0;
    for (int i = 3; i + 1 < argc && nsets < 32; i++)
        if (!strcmp(argv[i], "--set"))
            sets[nsets++] = argv[++i];
    cn_job job;
    if (job_load(&job, argv[1], sets, nsets, comm_world_rank() != 0))
        return 2;
    cn_grid g;
    if (grid_create(&g, job.replicas, job.rows, job.cols)) {
        if (comm_world_rank() == 0)
            fprintf(stderr, "cotsnet: error: %s\n", cn_last_error());
        comm_finalize();
        return 2;
    }
    G = &g;
    cn_net net;
    if (net_create(&net, &job, &g)) {
        comm_finalize();
        return 2;
    }
    /* The head starts at zero, which would make every fine-tuning gradient zero: give it values that,
     * like all parameters, depend only on the global index, not on the grid. */
    {
        const cn_stage *l = &net.st[net.nstages - 1];
        size_t inner = (size_t)l->M * net.K, cols = (size_t)rect_cols(l->p_tile);
        for (int i = 0; i < rect_rows(l->p_tile); i++)
            for (size_t j = 0; j < cols; j++)
                for (size_t e = 0; e < inner; e++) {
                    uint64_t gidx = (((uint64_t)(l->p_tile.y0 + i) * (uint64_t)l->Wp + (uint64_t)l->p_tile.x0 + j) * inner) + e;
                    net.hw.w[((size_t)i * cols + j) * inner + e] = (float)(0.1 * rng_normal(job.seed, 999, gidx));
                }
    }
    cn_data *data = data_open(&job, &g, DATA_TRAIN, net.st[0].x_tile);
    int B = net.B;
    data_next(data, net.x0, net.labels, B);
    char name[64];
    double losses[CN_MAX_STAGES + 1];

    /* forward maps */
    net_forward(&net, B);
    for (int k = 0; k < net.nstages; k++) {
        const cn_stage *s = &net.st[k];
        snprintf(name, sizeof name, "s%d_y", k + 1);
        dump(name, B, s->Ho, s->Wo, (size_t)s->M, s->y, s->y_tile);
        snprintf(name, sizeof name, "s%d_p", k + 1);
        dump(name, B, s->Hp, s->Wp, (size_t)s->M, s->p, s->p_tile);
        snprintf(name, sizeof name, "s%d_out", k + 1);
        dump(name, B, s->Hp, s->Wp, (size_t)s->M, s->out, s->p_tile);
    }
    /* reconstruction ICA of every stage, on the frozen output of the stages before it */
    for (int k = 0; k < net.nstages; k++) {
        const float *x = net.x0;
        for (int j = 0; j < k; j++) {
            stage_forward(&net, j, x, B);
            x = net.st[j].out;
        }
        cn_stage *s = &net.st[k];
        losses[k] = stage_rica(&net, k, x, B, NULL);
        size_t inner = (size_t)s->M * s->r * s->r * s->C;
        replicas_mean_float(&g, s->w.g, s->w.n);
        snprintf(name, sizeof name, "s%d_rica_dw", k + 1);
        dump(name, 1, s->Ho, s->Wo, inner, s->w.g, s->y_tile);
        memset(s->w.g, 0, s->w.n * 4);
        if (s->dec.n) {
            replicas_mean_float(&g, s->dec.g, s->dec.n);
            snprintf(name, sizeof name, "s%d_rica_ddec", k + 1);
            dump(name, 1, s->Ho, s->Wo, inner, s->dec.g, s->y_tile);
            memset(s->dec.g, 0, s->dec.n * 4);
        }
    }
    /* head and fine-tuning gradients */
    net_forward(&net, B);
    int L = net.nstages;
    float *gout[CN_MAX_STAGES], *gx;
    for (int k = 0; k < L; k++)
        gout[k] = cn_alloc((size_t)B * rect_rows(net.st[k].p_tile) * rect_cols(net.st[k].p_tile) * net.st[k].M, 4);
    gx = cn_alloc((size_t)B * rect_rows(net.st[0].x_tile) * rect_cols(net.st[0].x_tile) * net.st[0].C, 4);
    losses[L] = head_step(&net, net.labels, B, NULL, gout[L - 1]);
    for (int k = L - 1; k >= 0; k--)
        stage_backward(&net, k, gout[k], k > 0 ? gout[k - 1] : gx, B, NULL);
    const cn_stage *l = &net.st[L - 1];
    replicas_mean_float(&g, net.hw.g, net.hw.n);
    replicas_mean_float(&g, net.hb.g, net.hb.n);
    dump("head_dw", 1, l->Hp, l->Wp, (size_t)l->M * net.K, net.hw.g, l->p_tile);
    for (int k = 0; k < L; k++) {
        const cn_stage *s = &net.st[k];
        replicas_mean_float(&g, s->w.g, s->w.n);
        snprintf(name, sizeof name, "ft_s%d_dw", k + 1);
        dump(name, 1, s->Ho, s->Wo, (size_t)s->M * s->r * s->r * s->C, s->w.g, s->y_tile);
    }
    /* the input gradient is per sample: only comparable without replicas */
    if (g.R == 1)
        dump("ft_gx", B, net.st[0].H, net.st[0].W, (size_t)net.st[0].C, gx, net.st[0].x_tile);
    /* losses: mean over replicas */
    world_sum_double(&g, losses, (size_t)L + 1);
    if (g.world_rank == 0) {
        float lf[CN_MAX_STAGES + 1];
        for (int k = 0; k <= L; k++)
            lf[k] = (float)(losses[k] / g.world_size);
        char path[512];
        snprintf(path, sizeof path, "%s/losses.npy", outdir);
        int shape[1] = {L + 1};
        tu_write_npy(path, lf, "<f4", shape, 1);
        snprintf(path, sizeof path, "%s/head_db.npy", outdir);
        shape[0] = net.K;
        tu_write_npy(path, net.hb.g, "<f4", shape, 1);
    }
    for (int k = 0; k < L; k++)
        cn_free(gout[k]);
    cn_free(gx);
    data_close(data);
    net_destroy(&net);
    grid_destroy(&g);
    job_free(&job);
    comm_finalize();
    return 0;
}
