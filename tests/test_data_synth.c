/* test_data_synth.c: synthetic batches through src/data.c, made ahead by the read-ahead thread with 1,
 * 3 or the automatic number of OpenMP threads (the GPU backend with prefetch, data.threads), are the
 * batches made in the step (the CPU backend), bit for bit: a batch is a pure function of its position,
 * whoever makes it. No GPU is needed: data_open only looks at the job's backend. */
#include <stdlib.h>
#include <string.h>

#include "mpi/grid.h"
#include "src/common.h"
#include "src/data.h"
#include "src/job.h"
#include "tests/testutil.h"

#define STEPS 5

/* STEPS training batches of tests/jobs/ckpt.ini at batch 8 with the given backend and data.threads;
 * *threads: what data_ahead_threads said. Returns 0, or -1 when the job or the data does not open. */
static int batches(const cn_grid *g, const char *backend, const char *threads, float *x, int *labels, int *counts,
                   int *ahead_threads)
{
    char b[64], t[64];
    snprintf(b, sizeof b, "run.backend=%s", backend);
    snprintf(t, sizeof t, "data.threads=%s", threads);
    const char *over[] = {"data.batch=8", b, t, "data.prefetch=yes"};
    cn_job job;
    if (job_load(&job, "tests/jobs/ckpt.ini", over, 4, 0))
        return -1;
    cn_rect r = {0, job.height, 0, job.width};
    cn_data *d = data_open(&job, g, DATA_TRAIN, r);
    if (!d) {
        job_free(&job);
        return -1;
    }
    *ahead_threads = data_ahead_threads(d);
    size_t per = (size_t)8 * job.height * job.width * job.channels;
    for (int s = 0; s < STEPS; s++)
        counts[s] = data_next(d, x + s * per, labels + s * 8, 8);
    data_close(d);
    job_free(&job);
    return 0;
}

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    cn_grid g;
    if (grid_create(&g, 1, 1, 1) != CN_OK) {
        tu_fail("grid", "%s", cn_last_error());
        return tu_exit();
    }
    size_t n = (size_t)STEPS * 8 * 16 * 14 * 2; /* ckpt.ini: 16x14x2 images */
    float *ref = cn_alloc(n, sizeof *ref), *x = cn_alloc(n, sizeof *x);
    int lref[STEPS * 8], l[STEPS * 8], cref[STEPS], c[STEPS], t;
    if (batches(&g, "cpu", "0", ref, lref, cref, &t) || t != 0) {
        tu_fail("data_synth_in_step", "the CPU backend's data did not open, or was made ahead (%d threads)", t);
        return tu_exit();
    }
    static const char *const threads[] = {"1", "3", "0"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "data_synth_ahead_threads_%s", threads[i]);
        memset(x, 0xff, n * sizeof *x);
        int rc = batches(&g, "cuda", threads[i], x, l, c, &t);
        int want = atoi(threads[i]);
        if (rc || (want > 0 ? t != want : t < 1))
            tu_fail(name, "data_open failed (%d), or %d threads made the batches ahead", rc, t);
        else if (memcmp(x, ref, n * sizeof *x) || memcmp(l, lref, sizeof l) || memcmp(c, cref, sizeof c))
            tu_fail(name, "the batches made ahead by %d threads differ from those made in the step", t);
        else
            tu_ok(name);
    }
    cn_free(ref);
    cn_free(x);
    grid_destroy(&g);
    comm_finalize();
    return tu_exit();
}
