/* train.c: the training loop. Rank 0 prints progress and writes metrics (JSON lines) to the run
 * directory; every rank runs the same sequence of collective calls. */
#include "src/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <signal.h>

#include "io/ckpt.h"
#include "io/filters_png.h"
#include "mpi/h5mpi.h"
#include "src/common.h"
#include "src/data.h"
#include "src/dev.h"
#include "src/dev_tune.h"
#include "src/mem_fit.h"
#include "src/net.h"
#include "src/run_dir.h"
#include "src/timers.h"
#include "src/update.h"

typedef struct {
    const cn_job *job;
    const cn_grid *grid;
    cn_net net;
    cn_data *train, *test;
    FILE *metrics;
    float *gout[CN_MAX_STAGES]; /* gradients on each stage's out tile (fine-tuning) */
    double flops_world;         /* forward FLOPs of one sample over all ranks of a replica */
    double t_phase;
    long steps_total;
    cn_progress cur;              /* where training stands (saved in checkpoints) */
    cn_timers mark;             /* timers at the start of the current progress interval */
    double io_mark;
    int stop;                   /* a signal asked for a checkpoint and exit */
    int loss_bad;               /* this rank's replica saw a loss that is not finite (check_finite): */
    char bad_where[48];         /* where, "rica stage 2 step 1" or "head step 3" (1-based, as the progress */
    char bad_what[96];          /* lines count), and the rest of the line after_step prints */
    long saved_step;            /* step and phase of the last checkpoint written (-1: none) */
    int saved_phase;
    /* grid.average_every > 1: the parameters the current phase trains, averaged over the replicas */
    cn_param *trained[2 * CN_MAX_STAGES + 2];
    int ntrained;
    long phase_total;
} run_ctx;

static volatile sig_atomic_t signalled;
static void on_signal(int sig) { signalled = sig; }

void train_catch_signals(void)
{
    signal(SIGUSR1, on_signal);
    signal(SIGTERM, on_signal);
}

/* Every rank ends the run with status 1, without a checkpoint (the last one written stays the newest);
 * the one line has been printed. */
static void end_on_error(void)
{
    comm_finalize();
    exit(1);
}

static void save(run_ctx *c)
{
    char path[CN_PATH_MAX + 64];
    if (c->job->ckpt_every < 0)
        return; /* checkpoint.every = -1: never (benchmarks) */
    if (c->saved_step == c->cur.step && c->saved_phase == c->cur.phase)
        return; /* this state is on disk already */
    c->saved_step = c->cur.step;
    c->saved_phase = c->cur.phase;
    c->cur.data_pos = data_tell(c->train);
    if (ckpt_save(&c->net, &c->cur, c->job->ckpt_dir, c->job->ckpt_keep, path, sizeof path))
        end_on_error(); /* on every rank, after one line: the older checkpoints are kept */
    if (c->grid->world_rank == 0) {
        printf("checkpoint %s\n", path);
        fflush(stdout);
    }
}

/* grid.average_every = k > 1: every k steps of a phase, and before a checkpoint (state too), an
 * evaluation (`eval_due`) or the phase's end (state too), the replicas average what the phase trains.
 * Every rank takes the same decision from the same counters. */
static void average_if_due(run_ctx *c, int ckpt_due, int eval_due)
{
    int k = c->job->average_every;
    if (c->grid->R < 2 || k < 2)
        return;
    int end = c->cur.phase_step >= c->phase_total;
    if (!(c->cur.phase_step % k == 0 || end || ckpt_due || eval_due))
        return;
    for (int i = 0; i < c->ntrained; i++)
        param_average(c->grid, c->trained[i], ckpt_due || end);
}

/* After every step: count it, and agree over all ranks, in one all-reduce, on three things: whether a
 * read of the training data failed on some rank (data_error), whether some replica's loss is not
 * finite (check_finite), and whether a signal reached some rank. The first two end the run with one
 * line, from the lowest rank that saw it, and no checkpoint of the step they spoiled. Then average the
 * replicas when due and checkpoint when due. Returns 1 when the run must stop now on a signal
 * (checkpoint written). */
static int after_step(run_ctx *c, int eval_due)
{
    const cn_grid *g = c->grid;
    const char *derr = data_error(c->train);
    int v[3] = {world_first(g, derr != NULL), world_first(g, c->loss_bad), signalled != 0};
    world_max_ints(g, v, 3);
    if (world_first_says(g, v[0], "[data] train", derr) || world_first_says(g, v[1], c->bad_where, c->bad_what))
        end_on_error();
    c->cur.step++;
    c->cur.phase_step++;
    c->cur.data_pos = data_tell(c->train);
    int stop = v[2] != 0;
    int ckpt_due = stop || (c->job->ckpt_every > 0 && c->cur.step % c->job->ckpt_every == 0);
    average_if_due(c, ckpt_due && c->job->ckpt_every >= 0, eval_due);
    if (ckpt_due)
        save(c);
    if (stop) {
        if (c->grid->world_rank == 0) {
            if (c->job->ckpt_every < 0)
                printf("stopping at step %ld on a signal; no checkpoint (checkpoint.every = -1) (exit 1)\n",
                       c->cur.step);
            else
                printf("stopping at step %ld on a signal; resume with --resume auto (exit %d)\n", c->cur.step,
                       CN_EXIT_RESUME);
            fflush(stdout);
        }
        c->stop = 1;
    }
    return stop;
}

/* After a metrics line: a write that failed (a full disk) gets one warning, and no more lines are
 * written; training goes on (the checkpoints say whether the disk holds what matters). */
static void metrics_flushed(run_ctx *c)
{
    if (fflush(c->metrics) == 0 && !ferror(c->metrics))
        return;
    fprintf(stderr, "cotsnet: warning: writing %s/metrics.jsonl failed (%s); no more metrics lines this run\n",
            c->job->out_dir, strerror(errno));
    fclose(c->metrics);
    c->metrics = NULL;
}

/* One progress line (rank 0) and one JSON line of metrics, for the steps since the last one. The
 * shares of halo wait, all-reduce and I/O wait are this rank's; rank 0's tile is as large as any. */
static void progress(run_ctx *c, const char *phase, int stage, long step, long total, double loss,
                     double flops_per_sample, double t_interval, int steps_interval)
{
    double halo = cn_time.halo_wait - c->mark.halo_wait, ar = cn_time.allreduce - c->mark.allreduce;
    double bytes = cn_time.halo_bytes - c->mark.halo_bytes, io = data_wait_seconds(c->train) - c->io_mark;
    double ovw = cn_time.overlap_wait - c->mark.overlap_wait, ovh = cn_time.overlap_hidden - c->mark.overlap_hidden;
    c->mark = cn_time;
    c->io_mark = data_wait_seconds(c->train);
    if (c->grid->world_rank != 0)
        return;
    const cn_job *job = c->job;
    double samples = (double)steps_interval * job->batch * c->grid->R;
    double sps = t_interval > 0 ? samples / t_interval : 0;
    double gflops = sps * flops_per_sample * 1e-9;
    double per_step = steps_interval ? t_interval / steps_interval : 0;
    double eta = per_step * (double)(c->steps_total - c->cur.step);
    printf("%-8s stage %d  step %6ld/%-6ld  loss %10.5f  %9.1f samples/s  %7.2f GFLOP/s  ETA %6.0f s\n", phase,
           stage, step, total, loss, sps, gflops, eta);
    fflush(stdout);
    if (c->metrics) {
        fprintf(c->metrics,
                "{\"phase\":\"%s\",\"stage\":%d,\"step\":%ld,\"global_step\":%ld,\"loss\":%.8g,"
                "\"samples_per_s\":%.6g,\"gflops\":%.6g,\"step_s\":%.6g,\"halo_wait_s\":%.6g,"
                "\"allreduce_s\":%.6g,\"io_wait_s\":%.6g,\"halo_bytes_per_step\":%.6g,\"overlap_wait_s\":%.6g,"
                "\"overlap_interior_s\":%.6g,\"time_s\":%.4f}\n",
                phase, stage, step, c->cur.step, loss, sps, gflops, per_step, steps_interval ? halo / steps_interval : 0,
                steps_interval ? ar / steps_interval : 0, steps_interval ? io / steps_interval : 0,
                steps_interval ? bytes / steps_interval : 0, steps_interval ? ovw / steps_interval : 0,
                steps_interval ? ovh / steps_interval : 0, cn_now() - c->t_phase);
        metrics_flushed(c);
    }
}

/* The steps since the last progress line: when they began, their summed loss, how many. */
typedef struct {
    double t0, loss;
    int n;
} interval;

/* At a log point: one progress line with the loss averaged over the steps and the replicas, then a
 * new interval. */
static void interval_log(run_ctx *c, interval *iv, const char *phase, int stage, long step, long total,
                         double flops_per_sample)
{
    double mean = iv->loss / iv->n;
    world_sum_double(c->grid, &mean, 1); /* identical on a replica's grid: the sum over the world / size */
    progress(c, phase, stage, step, total, mean / c->grid->world_size, flops_per_sample, cn_now() - iv->t0, iv->n);
    *iv = (interval){cn_now(), 0, 0};
}

/* A loss that is not finite is noted here and acted on in after_step, where every rank of every
 * replica agrees (the loss is summed over a replica's grid only, so replicas can differ: a collective
 * here, entered by one replica alone, would hang). */
static void check_finite(run_ctx *c, const char *phase, int stage, long step, double loss)
{
    if (!isfinite(loss) && !c->loss_bad) {
        c->loss_bad = 1;
        if (stage > 0)
            snprintf(c->bad_where, sizeof c->bad_where, "%s stage %d step %ld", phase, stage, step + 1);
        else
            snprintf(c->bad_where, sizeof c->bad_where, "%s step %ld", phase, step + 1);
        char replica[32] = "";
        if (c->grid->R > 1)
            snprintf(replica, sizeof replica, " in replica %d", c->grid->replica);
        snprintf(c->bad_what, sizeof c->bad_what, "the loss is %g%s; stopping (lower the learning rate)", loss,
                 replica);
    }
}

/* Every rank learns whether a read (or seek) of the data set `key` failed on some rank; the lowest such
 * rank prints the one line. Returns 1 when one did. */
static int data_failed(const cn_grid *g, const cn_data *d, const char *key)
{
    const char *err = data_error(d);
    char what[32];
    snprintf(what, sizeof what, "[data] %s", key);
    return world_any_error(g, err != NULL, what, err ? err : "");
}

/* Accuracy on the test set: one pass, every replica its share, padding not counted. */
static double evaluate(run_ctx *c)
{
    if (!c->test)
        return -1;
    cn_net *net = &c->net;
    const cn_grid *g = c->grid;
    uint64_t N = data_count(c->test), step = (uint64_t)net->B * (uint64_t)g->R;
    uint64_t rounds = (N + step - 1) / step;
    if (c->job->eval_batches && (uint64_t)c->job->eval_batches < rounds)
        rounds = (uint64_t)c->job->eval_batches;
    data_seek(c->test, 0); /* a failure here is data_error's, as a read's */
    double tally[2] = {0, 0}; /* correct, seen */
    for (uint64_t i = 0; i < rounds; i++) {
        int count = data_next(c->test, net->x0_h, net->labels_h, net->B);
        net_upload_batch(net);
        net_forward(net, net->B);
        int ok = head_predict(net, net->labels_h, net->B);
        if (g->grid_rank == 0) {
            tally[0] += ok;
            tally[1] += count;
        }
    }
    if (data_failed(g, c->test, "test"))
        end_on_error();
    world_sum_double(g, tally, 2);
    return tally[1] > 0 ? tally[0] / tally[1] : -1;
}

static void report_eval(run_ctx *c, const char *when, long step)
{
    double acc = evaluate(c);
    if (acc < 0 || c->grid->world_rank != 0)
        return;
    printf("eval     %-8s step %6ld  test accuracy %.4f\n", when, step, acc);
    fflush(stdout);
    if (c->metrics) {
        fprintf(c->metrics, "{\"phase\":\"eval\",\"when\":\"%s\",\"step\":%ld,\"accuracy\":%.6f}\n", when, step, acc);
        metrics_flushed(c);
    }
}

static void phase_rica(run_ctx *c, int k)
{
    cn_net *net = &c->net;
    const cn_job *job = c->job;
    cn_stage *s = &net->st[k];
    long total = s->cfg->steps;
    double base = s->cfg->lr > 0 ? s->cfg->lr : job->lr;
    interval iv = {cn_now(), 0, 0};
    /* RICA step: encode, decode, two filter gradients, decoder forward: ~5 LF passes, plus earlier stages */
    double lf = 2.0 * s->Ho * s->Wo * (double)s->M * s->r * s->r * s->C, fl = 5 * lf;
    for (int j = 0; j < k; j++)
        fl += 2.0 * net->st[j].Ho * net->st[j].Wo * (double)net->st[j].M * net->st[j].r * net->st[j].r * net->st[j].C;
    c->ntrained = 0, c->phase_total = total;
    c->trained[c->ntrained++] = &s->w;
    c->trained[c->ntrained++] = &s->dec;
    for (long step = c->cur.phase_step; step < total; step++) {
        data_next(c->train, net->x0_h, net->labels_h, net->B);
        net_upload_batch(net);
        const float *x = net->x0;
        for (int j = 0; j < k; j++) {
            stage_forward(net, j, x, net->B);
            x = net->st[j].out;
        }
        double lr = lr_at(job, base, step, total);
        cn_fused_sgd fs = {(float)lr, (float)job->weight_decay};
        double loss = stage_rica(net, k, x, net->B, job->fused ? &fs : NULL);
        check_finite(c, "rica", k + 1, step, loss);
        if (!job->fused) {
            param_step(job, c->grid, &s->w, lr);
            param_step(job, c->grid, &s->dec, lr);
        }
        iv.loss += loss, iv.n++;
        int stop = after_step(c, 0);
        if ((step + 1) % job->log_every == 0 || step + 1 == total || stop)
            interval_log(c, &iv, "rica", k + 1, step + 1, total, fl);
        if (stop)
            return;
    }
}

static void phase_supervised(run_ctx *c, int finetune)
{
    cn_net *net = &c->net;
    const cn_job *job = c->job;
    long total = finetune ? job->finetune_steps : job->head_steps;
    double base = finetune ? job->finetune_lr : job->head_lr;
    interval iv = {cn_now(), 0, 0};
    double fl = 2.0 * net->F * net->K * c->grid->Py * c->grid->Px;
    for (int j = 0; j < net->nstages; j++)
        fl += (finetune ? 3.0 : 1.0) * 2.0 * net->st[j].Ho * net->st[j].Wo * (double)net->st[j].M * net->st[j].r *
              net->st[j].r * net->st[j].C;
    const char *name = finetune ? "finetune" : "head";
    /* Fine-tuning is a new objective for the filters: their optimizer state (momentum, or AdaGrad's
     * sums of squares, which reconstruction ICA made large) starts again from zero. A resumed run
     * finds the state of the fine-tuning phase in its checkpoint. */
    if (finetune && c->cur.phase_step == 0)
        for (int k = 0; k < net->nstages; k++)
            if (net->st[k].w.state) /* none under optimizer.fused */
                dev_zero(net->st[k].w.state, net->st[k].w.n * sizeof(float));
    c->ntrained = 0, c->phase_total = total;
    c->trained[c->ntrained++] = &net->hw;
    c->trained[c->ntrained++] = &net->hb;
    for (int k = 0; finetune && k < net->nstages; k++)
        c->trained[c->ntrained++] = &net->st[k].w;
    for (long step = c->cur.phase_step; step < total; step++) {
        data_next(c->train, net->x0_h, net->labels_h, net->B);
        net_upload_batch(net);
        net_forward(net, net->B);
        int L = net->nstages;
        double loss = head_step(net, net->labels, net->B, NULL, finetune ? c->gout[L - 1] : NULL);
        check_finite(c, name, 0, step, loss);
        double lr = lr_at(job, base, step, total);
        cn_fused_sgd fs = {(float)lr, (float)job->weight_decay};
        if (finetune)
            for (int k = L - 1; k >= 0; k--) {
                stage_backward(net, k, c->gout[k], k > 0 ? c->gout[k - 1] : NULL, net->B, job->fused ? &fs : NULL);
                if (!job->fused)
                    param_step(job, c->grid, &net->st[k].w, lr);
            }
        param_step(job, c->grid, &net->hw, lr);
        param_step(job, c->grid, &net->hb, lr);
        iv.loss += loss, iv.n++;
        int eval_due = !finetune && job->eval_every && (step + 1) % job->eval_every == 0 && step + 1 < total;
        int stop = after_step(c, eval_due);
        if ((step + 1) % job->log_every == 0 || step + 1 == total || stop)
            interval_log(c, &iv, name, L, step + 1, total, fl);
        if (stop)
            return;
        if (eval_due)
            report_eval(c, name, step + 1);
    }
}

/* Open the data and the run directory; load a checkpoint when asked. Returns 0 or -1. */
static int setup(run_ctx *c, const cn_job *job, const cn_grid *grid, const char *resume)
{
    memset(c, 0, sizeof *c);
    c->job = job;
    c->grid = grid;
    c->saved_step = -1;
    if (dev_init(job, grid)) /* backend = cuda: this rank's GPU, or one error line on every rank's behalf */
        return -1;
    if (mem_fit_check(job, grid)) /* the job fits the node's memory, or the GPU's: else one line */
        return -1;
    if (net_create(&c->net, job, grid))
        return -1;
    char path[CN_PATH_MAX + 64] = "";
    if (resume && !strcmp(resume, "auto")) {
        if (!ckpt_latest(job->ckpt_dir, path, sizeof path) && grid->world_rank == 0)
            printf("no checkpoint in %s: starting from the beginning\n", job->ckpt_dir);
    } else if (resume) {
        snprintf(path, sizeof path, "%s", resume);
    }
    if (path[0]) {
        if (ckpt_load(&c->net, &c->cur, path))
            return -1;
        if (grid->world_rank == 0)
            printf("resuming from %s at step %ld\n", path, c->cur.step);
    }
    /* COTSNET_CUDA_LF_TILES=auto: each stage's tile schemes, as the checkpoint recorded them, else timed */
    if (dev_tune_lf(&c->net, c->cur.lf_tiles, c->cur.lf_tiles))
        return -1;
    cn_rect in = c->net.st[0].x_tile;
    c->train = data_open(job, grid, DATA_TRAIN, in);
    if (!c->train)
        return -1;
    data_seek(c->train, c->cur.data_pos); /* a failure is data_error's */
    if (data_failed(grid, c->train, "train"))
        return -1;
    if (job->test[0]) {
        c->test = data_open(job, grid, DATA_TEST, in);
        if (!c->test)
            return -1;
    }
    return 0;
}

/* The picture of the first stage's filters, in the run directory (skipped above 256 MiB of filters). */
static void write_filters_png(run_ctx *c)
{
    const cn_stage *s = &c->net.st[0];
    const cn_grid *g = c->grid;
    size_t inner = (size_t)s->M * s->r * s->r * s->C, n = (size_t)s->Ho * s->Wo * inner;
    if (n > ((size_t)64 << 20) || g->replica != 0)
        return;
    float *full = g->grid_rank == 0 ? cn_alloc(n, 4) : NULL;
    float *mine = s->w.w;
    if (dev_gpu()) {
        mine = cn_alloc(s->w.n, sizeof *mine);
        dev_download(mine, s->w.w, s->w.n * sizeof *mine);
    }
    grid_gather_tiles(g, s->Ho, s->Wo, inner, mine, full);
    if (mine != s->w.w)
        cn_free(mine);
    if (full) {
        char path[CN_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/filters.png", c->job->out_dir);
        if (filters_png_write(path, full, s->Ho, s->Wo, s->M, s->r, s->C))
            fprintf(stderr, "cotsnet: warning: %s\n", cn_last_error());
        else
            printf("filters of stage 1: %s\n", path);
        cn_free(full);
    }
}

static void teardown(run_ctx *c)
{
    if (c->metrics)
        fclose(c->metrics);
    for (int k = 0; k < c->net.nstages; k++)
        dev_free(c->gout[k]);
    if (c->train)
        data_close(c->train);
    if (c->test)
        data_close(c->test);
    net_destroy(&c->net);
    dev_shutdown();
}

/* COTSNET_READY_FILE (slurm/train.sh sets it): once every rank catches SIGUSR1 and SIGTERM (each set its
 * handlers before MPI started; the barrier says all have), rank 0 creates that file, and the launching
 * script passes a signal on from then on; one sent before would kill a rank that has not caught up. */
static void say_ready(const cn_grid *grid)
{
    const char *path = getenv("COTSNET_READY_FILE");
    if (!path || !*path)
        return;
    world_barrier(grid);
    if (grid->world_rank != 0)
        return;
    FILE *f = fopen(path, "w");
    int bad = !f;
    if (f) {
        bad |= fprintf(f, "%ld\n", (long)getpid()) < 0;
        bad |= fclose(f) != 0;
    }
    if (bad)
        fprintf(stderr, "cotsnet: warning: cannot write COTSNET_READY_FILE %s (%s): a launching script "
                        "waiting for it holds signals longer\n", path, strerror(errno));
}

int train_run(const cn_job *job, const cn_grid *grid, const char *resume)
{
    run_ctx cc, *c = &cc;
    /* a signal that arrives while the data opens or a checkpoint loads (or, main having called
     * train_catch_signals first, while MPI starts) is honoured at the first step */
    train_catch_signals();
    say_ready(grid);
    int locked = world_max_int(grid, grid->world_rank == 0 ? run_dir_lock_existing(job) : 0);
    if (locked)
        return locked; /* the same status on every rank */
    if (setup(c, job, grid, resume)) {
        teardown(c);
        return 1;
    }
    for (int k = 0; k < c->net.nstages; k++) {
        const cn_stage *s = &c->net.st[k];
        c->gout[k] = dev_alloc((size_t)c->net.B * rect_rows(s->p_tile) * rect_cols(s->p_tile) * s->M, 4);
    }
    int bad = world_max_int(grid, grid->world_rank == 0 ? run_dir_open(job, resume != NULL, &c->metrics) : 0);
    if (bad) {
        teardown(c);
        return bad; /* the same status on every rank */
    }
    if (grid->world_rank == 0) {
        char desc[2048];
        job_describe(job, desc, sizeof desc);
        printf("%s\n%s\n  parameters: %zu\n", cn_build_info(), desc, net_param_count_global(job));
        fflush(stdout);
    }
    for (int k = 0; k < c->net.nstages; k++)
        c->steps_total += job->stage[k].steps;
    c->steps_total += job->head_steps + job->finetune_steps;
    c->t_phase = cn_now();

    cn_progress *cur = &c->cur;
    for (; cur->phase == PHASE_RICA && !c->stop; cur->stage++, cur->phase_step = 0) {
        if (cur->stage >= c->net.nstages) {
            cur->phase = PHASE_HEAD, cur->stage = 0;
            break;
        }
        phase_rica(c, cur->stage);
        if (c->stop)
            break;
    }
    if (!c->stop && cur->phase == PHASE_HEAD) {
        if (job->head_steps > 0)
            phase_supervised(c, 0);
        if (!c->stop) {
            if (job->head_steps > 0)
                report_eval(c, "head", job->head_steps);
            cur->phase = PHASE_FINETUNE, cur->phase_step = 0;
        }
    }
    if (!c->stop && cur->phase == PHASE_FINETUNE) {
        if (job->finetune_steps > 0) {
            phase_supervised(c, 1);
            if (!c->stop)
                report_eval(c, "finetune", job->finetune_steps);
        }
        if (!c->stop) {
            cur->phase = PHASE_DONE, cur->phase_step = 0;
            save(c); /* the final state */
        }
    }
    if (!c->stop && cur->phase == PHASE_DONE) {
        write_filters_png(c);
    }
    int rc = !c->stop ? 0 : c->job->ckpt_every < 0 ? 1 : CN_EXIT_RESUME;
    teardown(c);
    return rc;
}

int eval_run(const cn_job *job, const cn_grid *grid, const char *checkpoint)
{
    run_ctx cc, *c = &cc;
    if (setup(c, job, grid, checkpoint)) {
        teardown(c);
        return 1;
    }
    if (!c->test) {
        if (grid->world_rank == 0)
            fprintf(stderr, "cotsnet: error: %s: [data] test is empty: nothing to evaluate on\n", job->path);
        teardown(c);
        return 2;
    }
    double acc = evaluate(c);
    if (grid->world_rank == 0)
        printf("test accuracy %.4f (%s, step %ld)\n", acc, checkpoint, c->cur.step);
    teardown(c);
    return 0;
}
