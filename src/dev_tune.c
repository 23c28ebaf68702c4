/* dev_tune.c: see dev_tune.h. */
#include "src/dev_tune.h"

#include <stdio.h>
#include <string.h>

#include "src/common.h"
#include "src/dev.h"

#ifdef CN_HAVE_CUDA
#include "cuda/ops_cuda.h"

static const char *const pass_name[LF_PASS_COUNT] = {"forward", "backward data", "backward filter"};

int dev_tune_lf(const cn_net *net)
{
    const cn_grid *grid = net->grid;
    if (!dev_gpu() || lf_cuda_tiles() != LF_TILES_AUTO)
        return 0;
    /* per stage: ok flag, then the choice of each pass (rank 0's, shared with every rank) */
    int pick[CN_MAX_STAGES][1 + LF_PASS_COUNT];
    memset(pick, 0, sizeof pick);
    char msg[512] = "";
    if (grid->world_rank == 0) {
        for (int k = 0; k < net->nstages; k++) {
            const lf_dims *d = &net->st[k].lf;
            lf_tune_result res;
            if (lf_cuda_tune(d, net->job->fused, 0, &res, (cudaStream_t)dev_stream()) != CN_OK) {
                snprintf(msg, sizeof msg, "local filter tiles auto: stage %d: %s", k + 1, cn_last_error());
                break;
            }
            pick[k][0] = 1;
            memcpy(&pick[k][1], res.tiles, sizeof res.tiles);
            printf("local filter tiles auto: stage %d (C %d, M %d, field %d, stride %d, batch %d; %d x %d locations"
                   " timed):", k + 1, d->C, d->M, d->r, d->s, d->B, res.rows, res.cols);
            for (int p = 0; p < LF_PASS_COUNT; p++)
                printf("%s %s %s (t32 %.3f ms, t16 %.3f ms)", p ? "," : "", pass_name[p],
                       lf_cuda_tiles_name(res.tiles[p]), res.ms[p][LF_TILES_T32], res.ms[p][LF_TILES_T16]);
            printf("\n");
        }
        fflush(stdout);
    }
    world_bcast(grid, pick, sizeof pick, 0);
    for (int k = 0; k < net->nstages; k++) {
        if (!pick[k][0]) {
            if (grid->world_rank == 0)
                fprintf(stderr, "cotsnet: error: %s: %s\n", net->job->path, msg);
            return -1;
        }
        if (lf_cuda_set_tiles_for(&net->st[k].lf, &pick[k][1]) != CN_OK) /* every rank, the same choice */
            cn_fatal("rank %d: %s", grid->world_rank, cn_last_error());
    }
    return 0;
}

#else

int dev_tune_lf(const cn_net *net)
{
    (void)net;
    return 0; /* no CUDA backend: dev_init refused backend = cuda already */
}

#endif
