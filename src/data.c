/* data.c: batches from HDF5 shards (io/reader.h) or from the synthetic generator (src/synth.h).
 *
 * Shards: the reader reads each sample's rectangle with a hyperslab, in an order fixed by the seed and
 * the epoch (docs/DATA.md). Synthetic: position p of the sample stream is sample p mod N for training;
 * step n of replica r takes positions pos + r*B + b (b < B), then pos advances by R*B. For a test set
 * (no shuffling, one pass) positions at or past N are padding: label -1, not counted. */
#include "src/data.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <string.h>

#include "io/reader.h"
#include "io/shard.h"
#include "src/ahead.h"
#include "src/common.h"
#include "src/cpus.h"
#include "src/synth.h"

struct cn_data {
    const cn_job *job;
    const cn_grid *grid;
    cn_rect rect;
    int which;
    /* synthetic */
    uint64_t n, pos, seed;
    double wait;
    cn_ahead *ahead;    /* the generator run ahead by a thread (GPU backend with prefetch), or NULL */
    int gen_threads;    /* the OpenMP threads of the read-ahead's batches (0: OpenMP's default) */
    /* shards */
    cn_shard_set set;
    cn_reader *reader;
    char error[1024]; /* the first read that failed ("" while none has) */
};

static cn_data *open_shards(cn_data *d, const char *pattern)
{
    const cn_job *job = d->job;
    const char *key = d->which == DATA_TRAIN ? "train" : "test";
    int rank0 = d->grid->world_rank == 0;
    if (shard_set_open(&d->set, pattern, job->classes)) {
        if (rank0)
            fprintf(stderr, "cotsnet: error: [data] %s: %s\n", key, cn_last_error());
        cn_free(d);
        return NULL;
    }
    if (d->set.h != job->height || d->set.w != job->width || d->set.c != job->channels) {
        if (rank0)
            fprintf(stderr, "cotsnet: error: [data] %s = %s: the shards hold %dx%dx%d images, the job says %dx%dx%d\n", key,
                    pattern, d->set.h, d->set.w, d->set.c, job->height, job->width, job->channels);
        shard_set_free(&d->set);
        cn_free(d);
        return NULL;
    }
    /* labels are needed to evaluate and to train the head; unsupervised training alone reads none */
    int need_labels = d->which == DATA_TEST || job->head_steps > 0 || job->finetune_steps > 0;
    if (need_labels && !d->set.has_labels) {
        if (rank0)
            fprintf(stderr, "cotsnet: error: [data] %s = %s: the shards have no /labels (needed for the head)\n", key, pattern);
        shard_set_free(&d->set);
        cn_free(d);
        return NULL;
    }
    cn_reader_opts o = {d->rect, job->batch, job->seed, d->grid->replica, d->grid->R, d->which == DATA_TRAIN,
                        job->prefetch ? 2 : 0};
    if (reader_open(&d->reader, &d->set, &o)) {
        if (rank0)
            fprintf(stderr, "cotsnet: error: [data] %s = %s: %s\n", key, pattern, cn_last_error());
        shard_set_free(&d->set);
        cn_free(d);
        return NULL;
    }
    return d;
}

static size_t sample_floats(const cn_data *d)
{
    return (size_t)rect_rows(d->rect) * (size_t)rect_cols(d->rect) * (size_t)d->job->channels;
}

/* The B synthetic samples of this rank's replica at stream position pos (a pure function of pos, made
 * by `threads` OpenMP threads, or OpenMP's default number when 0). */
static int synth_batch_of(const cn_data *d, uint64_t pos, int B, float *x, int *labels, int threads)
{
    const cn_job *job = d->job;
    size_t per = sample_floats(d);
    uint64_t base = pos + (uint64_t)d->grid->replica * (uint64_t)B;
    int pad = d->which == DATA_TEST, count = 0;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#endif
    (void)threads;
#pragma omp parallel for schedule(static) reduction(+ : count) num_threads(threads)
    for (int b = 0; b < B; b++) {
        uint64_t p = base + (uint64_t)b;
        if (pad && p >= d->n) {
            labels[b] = -1;
            memset(x + (size_t)b * per, 0, per * sizeof *x);
            continue;
        }
        uint64_t sample = p % d->n;
        labels[b] = synth_label(d->seed, sample, job->classes);
        synth_fill(d->seed, sample, job->classes, job->height, job->width, job->channels, d->rect, x + (size_t)b * per);
        count++;
    }
    return count;
}

static int synth_batch(void *ctx, uint64_t pos, float *x, int *labels)
{
    const cn_data *d = ctx;
    return synth_batch_of(d, pos, d->job->batch, x, labels, d->gen_threads);
}

cn_data *data_open(const cn_job *job, const cn_grid *grid, int which, cn_rect rect)
{
    const char *src = which == DATA_TRAIN ? job->train : job->test;
    cn_data *d = cn_alloc(1, sizeof *d);
    d->job = job;
    d->grid = grid;
    d->rect = rect;
    d->which = which;
    if (strcmp(src, "synthetic") != 0)
        return open_shards(d, src);
    d->n = (uint64_t)(which == DATA_TRAIN ? job->synthetic_train : job->synthetic_test);
    /* the test set is a different stream of samples from the same generator */
    d->seed = job->seed + (which == DATA_TRAIN ? 0 : 0x5eed0000ull);
    /* On the GPU backend the host is idle while the GPU computes a step: generate the next batches
     * meanwhile, on the CPUs this rank may use (not OMP_NUM_THREADS, the CPU backend's compute threads:
     * one per rank by convention, which left a 200x200x3 batch of 32 to one core). On the CPU backend
     * the generator would take cores from the step's own threads. */
    if (job->prefetch && job->backend == BACKEND_CUDA) {
        d->gen_threads = job->data_threads > 0 ? job->data_threads : cn_cpus_usable(cn_local_ranks_env());
        d->ahead = ahead_open(synth_batch, d, (size_t)job->batch * sample_floats(d), job->batch, 0,
                              (uint64_t)grid->R * (uint64_t)job->batch, 2);
    }
    return d;
}

void data_close(cn_data *d)
{
    ahead_close(d->ahead);
    if (d->reader) {
        reader_close(d->reader);
        shard_set_free(&d->set);
    }
    cn_free(d);
}

uint64_t data_count(const cn_data *d) { return d->reader ? (uint64_t)d->set.n : d->n; }
uint64_t data_tell(const cn_data *d) { return d->reader ? reader_tell(d->reader) : d->pos; }
double data_wait_seconds(const cn_data *d) { return d->reader ? reader_wait_seconds(d->reader) : d->wait; }

int data_seek(cn_data *d, uint64_t pos)
{
    if (!d->reader) {
        d->pos = pos;
        if (d->ahead)
            ahead_seek(d->ahead, pos);
        return 0;
    }
    if (reader_seek_samples(d->reader, pos)) {
        snprintf(d->error, sizeof d->error, "cannot continue the data at sample %llu: %s", (unsigned long long)pos,
                 cn_last_error());
        return -1;
    }
    return 0;
}

/* After a failed read: a batch that keeps the step going (zeros, a valid label to train on, padding
 * for a test set) until every rank has heard of the failure. */
static int failed_batch(const cn_data *d, float *x, int *labels, int B)
{
    memset(x, 0, (size_t)B * sample_floats(d) * sizeof *x);
    for (int b = 0; b < B; b++)
        labels[b] = d->which == DATA_TEST ? -1 : 0;
    return 0;
}

int data_next(cn_data *d, float *x, int *labels, int B)
{
    if (d->reader) {
        int count = 0;
        if (d->error[0])
            return failed_batch(d, x, labels, B);
        if (reader_next(d->reader, x, labels, &count)) {
            snprintf(d->error, sizeof d->error, "%s", cn_last_error());
            return failed_batch(d, x, labels, B);
        }
        return count;
    }
    int count;
    if (d->ahead) {
        if (B != d->job->batch)
            cn_fatal("data_next: batch %d, but the read-ahead makes batches of %d", B, d->job->batch);
        count = ahead_next(d->ahead, x, labels, &d->wait);
    } else {
        double t0 = cn_now();
        count = synth_batch_of(d, d->pos, B, x, labels, 0);
        d->wait += cn_now() - t0;
    }
    d->pos += (uint64_t)d->grid->R * (uint64_t)B;
    return count;
}

const char *data_error(const cn_data *d) { return d->error[0] ? d->error : NULL; }
int data_ahead_threads(const cn_data *d) { return d->ahead ? d->gen_threads : 0; }
