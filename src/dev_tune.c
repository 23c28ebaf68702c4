/* dev_tune.c: see dev_tune.h. */
#include "src/dev_tune.h"

#include <stdio.h>
#include <string.h>

#include "src/common.h"
#include "src/dev.h"

int lf_tiles_parse(const char *s, int nstages, int tt[][3])
{
    if (!s || nstages < 1 || nstages > CN_MAX_STAGES)
        return -1;
    for (int k = 0; k < nstages; k++)
        for (int p = 0; p < 3; p++) {
            /* a name: t32, t16 or t4 */
            const int n = !strncmp(s, "t32", 3) || !strncmp(s, "t16", 3) ? 3 : !strncmp(s, "t4", 2) ? 2 : 0;
            const char sep = p < 2 ? ',' : k < nstages - 1 ? ';' : '\0';
            if (!n || s[n] != sep)
                return -1;
            if (tt)
                tt[k][p] = n == 2 ? 4 : s[1] == '3' ? 32 : 16;
            s += sep ? n + 1 : n;
        }
    return 0;
}

#ifdef CN_HAVE_CUDA
#include "cuda/ops_cuda.h"

static const char *const pass_name[LF_PASS_COUNT] = {"forward", "backward data", "backward filter"};

int dev_tune_lf(const cn_net *net, const char *recorded, char *out)
{
    const cn_grid *grid = net->grid;
    char rec[CN_LF_TILES_TEXT];
    snprintf(rec, sizeof rec, "%s", recorded ? recorded : "");
    out[0] = '\0';
    if (!dev_gpu() || lf_cuda_tiles() != LF_TILES_AUTO)
        return 0;
    /* per stage: ok flag, then the scheme of each pass (rank 0's, shared with every rank) */
    int pick[CN_MAX_STAGES][1 + LF_PASS_COUNT];
    memset(pick, 0, sizeof pick);
    char msg[512] = "";
    int tt[CN_MAX_STAGES][3];
    if (rec[0] && lf_tiles_parse(rec, net->nstages, tt) == 0) { /* ckpt_load checked it: every rank has it */
        for (int k = 0; k < net->nstages; k++) {
            /* stages of one shape share a record, so they run the last one's schemes (as the run that
             * wrote a record giving them different ones did): say and record those */
            int j = net->nstages - 1;
            while (j > k && !lf_cuda_tiles_same_shape(&net->st[j].lf, &net->st[k].lf))
                j--;
            pick[k][0] = 1;
            for (int p = 0; p < LF_PASS_COUNT; p++)
                pick[k][1 + p] = tt[j][p] == 16 ? LF_TILES_T16 : tt[j][p] == 4 ? LF_TILES_T4 : LF_TILES_T32;
            if (grid->world_rank == 0)
                printf("local filter tiles auto: stage %d: forward %s, backward data %s, backward filter %s "
                       "(recorded in the checkpoint)\n", k + 1, lf_cuda_tiles_name(pick[k][1]),
                       lf_cuda_tiles_name(pick[k][2]), lf_cuda_tiles_name(pick[k][3]));
        }
    } else if (grid->world_rank == 0) {
        for (int k = 0; k < net->nstages; k++) {
            const lf_dims *d = &net->st[k].lf;
            int j = 0;
            while (j < k && !lf_cuda_tiles_same_shape(&net->st[j].lf, d))
                j++;
            if (j < k) { /* one record per shape: an earlier stage's choice is this stage's too */
                memcpy(pick[k], pick[j], sizeof pick[k]);
                printf("local filter tiles auto: stage %d: forward %s, backward data %s, backward filter %s (the "
                       "shape of stage %d)\n", k + 1, lf_cuda_tiles_name(pick[k][1]), lf_cuda_tiles_name(pick[k][2]),
                       lf_cuda_tiles_name(pick[k][3]), j + 1);
                continue;
            }
            lf_tune_result res;
            if (lf_cuda_tune(d, net->job->fused, 0, &res, (cudaStream_t)dev_stream()) != CN_OK) {
                snprintf(msg, sizeof msg, "local filter tiles auto: stage %d: %s", k + 1, cn_last_error());
                break;
            }
            pick[k][0] = 1;
            memcpy(&pick[k][1], res.tiles, sizeof res.tiles);
            printf("local filter tiles auto: stage %d (C %d, M %d, field %d, stride %d, batch %d; %d x %d locations"
                   " timed):", k + 1, d->C, d->M, d->r, d->s, d->B, res.rows, res.cols);
            for (int p = 0; p < LF_PASS_COUNT; p++) {
                printf("%s %s %s (", p ? "," : "", pass_name[p], lf_cuda_tiles_name(res.tiles[p]));
                for (int t = 0; t < LF_TILES_COUNT; t++)
                    printf("%s%s %.3f ms", t ? ", " : "", lf_cuda_tiles_name(t), res.ms[p][t]);
                printf(")");
            }
            printf("\n");
        }
    }
    fflush(stdout);
    world_bcast(grid, pick, sizeof pick, 0);
    size_t used = 0;
    for (int k = 0; k < net->nstages; k++) {
        if (!pick[k][0]) {
            if (grid->world_rank == 0)
                fprintf(stderr, "cotsnet: error: %s: %s\n", net->job->path, msg);
            out[0] = '\0';
            return -1;
        }
        if (lf_cuda_set_tiles_for(&net->st[k].lf, &pick[k][1]) != CN_OK) /* every rank, the same choice */
            cn_fatal("rank %d: %s", grid->world_rank, cn_last_error());
        used += (size_t)snprintf(out + used, CN_LF_TILES_TEXT - used, "%s%s,%s,%s", k ? ";" : "",
                                 lf_cuda_tiles_name(pick[k][1]), lf_cuda_tiles_name(pick[k][2]),
                                 lf_cuda_tiles_name(pick[k][3]));
    }
    return 0;
}

#else

int dev_tune_lf(const cn_net *net, const char *recorded, char *out)
{
    (void)net, (void)recorded;
    out[0] = '\0'; /* no CUDA backend: dev_init refused backend = cuda already */
    return 0;
}

#endif
