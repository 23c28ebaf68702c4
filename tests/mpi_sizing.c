/* mpi_sizing.c: `cotsnet info --params` counts what the engine allocates. Started by tests/t_sizing.sh:
 *
 *   mpi_sizing Py Px JOB.ini
 *
 * Every rank builds the network of the job on the Py x Px grid (net_create: the real tiles, windows,
 * halo plans and parameters) and compares with src/sizing.c, which never builds anything:
 *   - net_geometry's tiles and windows equal the network's, for every stage;
 *   - sizing's parameter bytes equal the parameter tensors' sizes (filters, decoder, head);
 *   - sizing's halo message bytes equal what the halo plans hold (halo_bytes_sent + halo_bytes_recv
 *     of every plan, from mpi/halo.c's own peer lists), the independent oracle;
 *   - a grid finer than the maps is refused with one message.
 * Each check is reduced over the world and printed once by rank 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/grid.h"
#include "mpi/halo.h"
#include "src/common.h"
#include "src/job.h"
#include "src/net.h"
#include "src/sizing.h"

static cn_grid G;
static int n_failed;
static char prefix[64];

static void check(const char *name, int ok)
{
    double bad = ok ? 0 : 1;
    world_sum_double(&G, &bad, 1);
    if (G.world_rank == 0) {
        if (bad == 0)
            printf("ok %s_%s\n", prefix, name);
        else
            printf("FAIL %s_%s: on %.0f of %d ranks (details on stderr)\n", prefix, name, bad, G.world_size);
        fflush(stdout);
    }
    n_failed += bad != 0;
}

static int rect_eq(cn_rect a, cn_rect b) { return a.y0 == b.y0 && a.y1 == b.y1 && a.x0 == b.x0 && a.x1 == b.x1; }

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    if (argc != 4) {
        fprintf(stderr, "usage: mpi_sizing Py Px JOB.ini\n");
        comm_finalize();
        return 2;
    }
    int Py = atoi(argv[1]), Px = atoi(argv[2]);
    snprintf(prefix, sizeof prefix, "sizing_%dx%d", Py, Px);
    cn_job job;
    if (job_load(&job, argv[3], NULL, 0, comm_world_rank() != 0)) {
        comm_finalize();
        return 1;
    }
    if (grid_create(&G, 1, Py, Px)) {
        fprintf(stderr, "%s\n", cn_last_error());
        comm_finalize();
        return 1;
    }
    cn_net net;
    if (net_create(&net, &job, &G))
        cn_fatal("net_create failed on a grid the test expects to fit");
    cn_stage geo[CN_MAX_STAGES];
    int gok = net_geometry(&job, Py, Px, G.py, G.px, geo) == CN_OK;
    int rects = gok;
    for (int k = 0; gok && k < job.nstages; k++) {
        const cn_stage *a = &geo[k], *b = &net.st[k];
        int ok = rect_eq(a->x_tile, b->x_tile) && rect_eq(a->y_tile, b->y_tile) && rect_eq(a->p_tile, b->p_tile) &&
                 rect_eq(a->x_win, b->x_win) && rect_eq(a->y_win, b->y_win) &&
                 (!b->n || rect_eq(a->p_win, b->p_win)) && a->Ho == b->Ho && a->Wp == b->Wp;
        if (!ok)
            fprintf(stderr, "detail: rank %d stage %d: net_geometry's tiles or windows differ from net_create's\n",
                    G.world_rank, k + 1);
        rects &= ok;
    }
    check("geometry_matches_net", rects);

    cn_mem st[CN_MAX_STAGES], hd;
    int sok = sizing_rank(&job, Py, Px, G.py, G.px, st, &hd) == CN_OK;
    int params = sok, msgs = sok;
    size_t B = (size_t)job.batch;
    for (int k = 0; sok && k < job.nstages; k++) {
        const cn_stage *s = &net.st[k];
        size_t want = (s->w.n + s->dec.n) * sizeof(float);
        if (st[k].params != want || st[k].grads != want || st[k].optim != want) {
            fprintf(stderr, "detail: rank %d stage %d: sizing says %zu bytes of parameters, the net has %zu\n",
                    G.world_rank, k + 1, st[k].params, want);
            params = 0;
        }
        size_t m = halo_bytes_sent(s->x_plan, (int)B) + halo_bytes_recv(s->x_plan, (int)B) +
                   halo_bytes_sent(s->y_plan, (int)B) + halo_bytes_recv(s->y_plan, (int)B);
        if (s->p_plan)
            m += halo_bytes_sent(s->p_plan, (int)B) + halo_bytes_recv(s->p_plan, (int)B);
        if (st[k].messages != m) {
            fprintf(stderr, "detail: rank %d stage %d: sizing says %zu bytes of halo messages, the plans hold %zu\n",
                    G.world_rank, k + 1, st[k].messages, m);
            msgs = 0;
        }
    }
    if (sok && hd.params != (net.hw.n + net.hb.n) * sizeof(float)) {
        fprintf(stderr, "detail: rank %d: head parameters %zu bytes, the net has %zu\n", G.world_rank, hd.params,
                (net.hw.n + net.hb.n) * sizeof(float));
        params = 0;
    }
    check("params_match_net", params);
    check("halo_messages_match_plans", msgs);

    /* a grid one row finer than the smallest map is refused, with one message */
    int rows = job.height;
    for (int k = 0; k < job.nstages; k++)
        rows = CN_MIN(rows, CN_MIN(net.st[k].Ho, net.st[k].Hp));
    int refused = net_geometry(&job, rows + 1, 1, 0, 0, geo) == CN_EINVAL &&
                  strstr(cn_last_error(), "largest grid that fits") != NULL;
    check("too_fine_refused", refused);

    net_destroy(&net);
    grid_destroy(&G);
    job_free(&job);
    comm_finalize();
    return n_failed ? 1 : 0;
}
