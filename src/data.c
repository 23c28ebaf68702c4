/* data.c: batches from the synthetic generator (shards come through io/reader.h).
 *
 * Cursor: pos counts samples taken by all replicas together. Step n of replica r takes global
 * positions pos + r*B + b (b < B), then pos advances by R*B; position i is sample i mod N. */
#include "src/data.h"

#include <stdio.h>
#include <string.h>

#include "src/common.h"
#include "src/synth.h"

struct cn_data {
    const cn_job *job;
    const cn_grid *grid;
    cn_rect rect;
    uint64_t n, pos, seed;
    double wait;
};

cn_data *data_open(const cn_job *job, const cn_grid *grid, int which, cn_rect rect)
{
    const char *src = which == DATA_TRAIN ? job->train : job->test;
    if (strcmp(src, "synthetic") != 0) {
        if (grid->world_rank == 0)
            fprintf(stderr, "cotsnet: error: [data] %s = %s: shards are not readable by this build yet\n",
                    which == DATA_TRAIN ? "train" : "test", src);
        return NULL;
    }
    cn_data *d = cn_alloc(1, sizeof *d);
    d->job = job;
    d->grid = grid;
    d->rect = rect;
    d->n = (uint64_t)(which == DATA_TRAIN ? job->synthetic_train : job->synthetic_test);
    /* the test set is a different stream of samples from the same generator */
    d->seed = job->seed + (which == DATA_TRAIN ? 0 : 0x5eed0000ull);
    return d;
}

void data_close(cn_data *d) { cn_free(d); }
uint64_t data_count(const cn_data *d) { return d->n; }
uint64_t data_tell(const cn_data *d) { return d->pos; }
void data_seek(cn_data *d, uint64_t pos) { d->pos = pos; }
double data_wait_seconds(const cn_data *d) { return d->wait; }

void data_next(cn_data *d, float *x, int *labels, int B)
{
    double t0 = cn_now();
    const cn_job *job = d->job;
    size_t per = (size_t)rect_rows(d->rect) * (size_t)rect_cols(d->rect) * (size_t)job->channels;
    uint64_t base = d->pos + (uint64_t)d->grid->replica * (uint64_t)B;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        uint64_t sample = (base + (uint64_t)b) % d->n;
        labels[b] = synth_label(d->seed, sample, job->classes);
        synth_fill(d->seed, sample, job->classes, job->height, job->width, job->channels, d->rect, x + (size_t)b * per);
    }
    d->pos += (uint64_t)d->grid->R * (uint64_t)B;
    d->wait += cn_now() - t0;
}
