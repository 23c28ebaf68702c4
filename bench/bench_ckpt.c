/* bench_ckpt.c: time one checkpoint write or read by every rank (parallel HDF5), for bench/ckpt_io.sh.
 *
 *   mpirun -np N bench_ckpt JOB.ini DIR save|load [--set section.key=value ...]
 *
 * save: build the job's network on its grid (parameters from the seed), then time ckpt_save into DIR
 *       (collective write, fsync, rename: what a training run pays).
 * load: build the network, keep a copy of every rank's stage-1 filter tile, zero the tile, then time
 *       ckpt_load of DIR's checkpoint, and check the tile came back bit-identical (a checkpoint written by
 *       save holds exactly the seed's parameters).
 * Rank 0 prints one line: "op bytes seconds MB/s check" (bytes = the file's size; MB = 1e6 bytes). Time is
 * from a barrier before the call to the end of the call on the slowest rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/ckpt.h"
#include "mpi/grid.h"
#include "src/common.h"
#include "src/job.h"
#include "src/net.h"
#include "src/train.h"

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    if (argc < 4 || (strcmp(argv[3], "save") && strcmp(argv[3], "load"))) {
        fprintf(stderr, "usage: bench_ckpt JOB.ini DIR save|load [--set section.key=value ...]\n");
        comm_finalize();
        return 2;
    }
    const char *sets[64];
    int nsets = 0;
    for (int i = 4; i + 1 < argc && nsets < 64; i++)
        if (!strcmp(argv[i], "--set"))
            sets[nsets++] = argv[++i];
    int rank = comm_world_rank(), save = !strcmp(argv[3], "save");
    cn_job job;
    if (job_load(&job, argv[1], sets, nsets, rank != 0))
        return 2;
    cn_grid g;
    if (grid_create(&g, job.replicas, job.rows, job.cols)) {
        if (rank == 0)
            fprintf(stderr, "bench_ckpt: %s\n", cn_last_error());
        return 2;
    }
    cn_net net;
    if (net_create(&net, &job, &g))
        return 2;
    cn_progress cur = {0, PHASE_DONE, 0, 0, 0, ""};
    char path[CN_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ckpt-00000000.h5", argv[2]);
    float *copy = NULL;
    cn_param *w = &net.st[0].w;
    if (!save) {
        copy = cn_alloc(w->n, sizeof(float));
        memcpy(copy, w->w, w->n * sizeof(float));
        memset(w->w, 0, w->n * sizeof(float));
    }
    world_barrier(&g);
    double t0 = cn_now();
    int rc = save ? ckpt_save(&net, &cur, argv[2], 1, NULL, 0) : ckpt_load(&net, &cur, path);
    world_barrier(&g);
    double secs = cn_now() - t0;
    int bad = rc != 0 || (copy && memcmp(copy, w->w, w->n * sizeof(float)) != 0);
    bad = world_any(&g, bad);
    if (rank == 0) {
        struct stat st;
        long long bytes = stat(path, &st) ? -1 : (long long)st.st_size;
        printf("%s %lld %.3f %.1f %s\n", argv[3], bytes, secs, bytes / secs / 1e6,
               bad ? "FAIL" : save ? "ok" : "ok(bit-identical)");
    }
    cn_free(copy);
    net_destroy(&net);
    grid_destroy(&g);
    job_free(&job);
    comm_finalize();
    return bad ? 1 : 0;
}
