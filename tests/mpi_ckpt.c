/* mpi_ckpt.c: load a checkpoint onto a grid and write it again (tests/t_ckpt.sh), optionally dumping the
 * gathered stage-1 filters as .npy for the h5py check.
 *   mpi_ckpt JOB.ini CKPT OUTDIR [--dump FILE.npy] [--set section.key=value ...]
 * The grid comes from the job (override with --set grid.rows=... etc.). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "mpi/grid.h"
#include "src/common.h"
#include "mpi/h5mpi.h"
#include "src/job.h"
#include "src/net.h"
#include "tests/testutil.h"

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    if (argc < 4) {
        fprintf(stderr, "usage: mpi_ckpt JOB.ini CKPT OUTDIR [--dump FILE.npy] [--set k=v ...]\n");
        return 2;
    }
    const char *sets[32], *dump = NULL;
    int nsets = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < 32)
            sets[nsets++] = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dump = argv[++i];
    }
    int rank = comm_world_rank();
    cn_job job;
    if (job_load(&job, argv[1], sets, nsets, rank != 0))
        return 2;
    cn_grid g;
    if (grid_create(&g, job.replicas, job.rows, job.cols)) {
        fprintf(stderr, "mpi_ckpt: %s\n", cn_last_error());
        return 2;
    }
    cn_net net;
    if (net_create(&net, &job, &g))
        return 2;
    cn_progress cur;
    int rc = ckpt_load(&net, &cur, argv[2]);
    if (rc == 0)
        rc = ckpt_save(&net, &cur, argv[3], 1000, NULL, 0);
    if (rc == 0 && dump) {
        const cn_stage *s = &net.st[0];
        size_t inner = (size_t)s->M * s->r * s->r * s->C;
        float *full = g.grid_rank == 0 ? cn_alloc((size_t)s->Ho * s->Wo * inner, 4) : NULL;
        grid_gather_tiles(&g, s->Ho, s->Wo, inner, s->w.w, full);
        if (g.world_rank == 0) {
            int shape[6] = {s->Ho, s->Wo, s->M, s->r, s->r, s->C};
            if (tu_write_npy(dump, full, "<f4", shape, 6))
                rc = 1;
        }
        cn_free(full);
    }
    net_destroy(&net);
    grid_destroy(&g);
    job_free(&job);
    comm_finalize();
    return rc ? 1 : 0;
}
