/* job.h: the job file (INI, parsed with inih), validated key by key.
 *
 * Every key is declared once in the table in src/job.c with its type, range and default; that table
 * is what docs/JOBS.md documents. Unknown keys, missing required keys, wrong types and values out of
 * range each give one error line "FILE:LINE: [section] key: problem". `--set section.key=value`
 * overrides are applied after the file, with the same checks. */
#ifndef CN_JOB_H
#define CN_JOB_H

#include <stddef.h>
#include <stdint.h>

#define CN_MAX_STAGES 8
#define CN_PATH_MAX 512

enum { BACKEND_CPU = 0, BACKEND_CUDA = 1 };
enum { OPT_SGD = 0, OPT_ADAGRAD = 1 };
enum { SCHED_CONSTANT = 0, SCHED_COSINE = 1, SCHED_STEP = 2 };
enum { HALO_MPI = 0, HALO_NCCL = 1, HALO_MPI_DIRECT = 2 }; /* grid.halo; grid.allreduce takes the first two */

typedef struct {
    int field, stride, maps;       /* local filter: r, s, M */
    int pool, pool_stride;         /* L2 pooling: q, t */
    int lcn;                       /* LCN window n (odd), 0 = no LCN */
    double lcn_sigma, lcn_eps, pool_eps;
    double lambda;                 /* sparsity weight of reconstruction ICA */
    int tied;                      /* 1: decoder = filters transposed; 0: separate decoder */
    int steps;                     /* greedy RICA steps for this stage */
    double lr;                     /* learning rate; 0 = [optimizer] lr */
    double init_scale;             /* initial filters: init_scale / sqrt(r*r*C) standard deviation */
} cn_stage_cfg;

typedef struct {
    char path[CN_PATH_MAX];        /* the job file */
    char *text;                    /* its whole text plus the --set overrides (for checkpoints) */

    /* [run] */
    char name[64];
    uint64_t seed;
    int backend;
    char out_dir[CN_PATH_MAX];
    int log_every;

    /* [data] */
    char train[CN_PATH_MAX];       /* glob of shards, or "synthetic" */
    char test[CN_PATH_MAX];        /* glob of shards, "synthetic", or "" (no evaluation) */
    int height, width, channels, classes;
    int batch;                     /* local batch per replica */
    int synthetic_train, synthetic_test; /* sizes of the synthetic sets */
    int prefetch;
    int data_threads;              /* threads making synthetic batches ahead on the GPU (0: automatic) */

    /* [grid] */
    int rows, cols, replicas;
    int halo;                      /* HALO_MPI or HALO_NCCL */
    int allreduce;                 /* HALO_MPI or HALO_NCCL: how replicas average gradients on GPUs */
    int average_every;             /* 1: replicas average gradients every step; k: parameters every k steps */
    int overlap;                   /* compute the interior while the halo moves */

    /* [stageK] */
    int nstages;
    cn_stage_cfg stage[CN_MAX_STAGES];

    /* [optimizer] */
    int optimizer;
    double lr, momentum, weight_decay, adagrad_eps;
    int fused;                     /* plain SGD inside the local filter's backward pass (no gradient) */
    int schedule;
    int warmup;
    double step_gamma;
    int step_every;

    /* [train] */
    int head_steps;
    double head_lr;
    int finetune_steps;
    double finetune_lr;
    int eval_every;
    int eval_batches;              /* 0 = the whole test set */

    /* [checkpoint] */
    char ckpt_dir[CN_PATH_MAX];    /* "" = <out_dir>/ckpt */
    int ckpt_every;                /* steps; 0 = only at the end and on a signal; -1 = never */
    int ckpt_keep;
} cn_job;

/* Parse path with the overrides ("section.key=value", n of them). Returns 0, or -1 after printing one
 * error line to stderr (only from the rank that calls it: call on every rank, print on rank 0 via
 * quiet=0 there and quiet=1 elsewhere). */
int job_load(cn_job *job, const char *path, const char *const *overrides, int n_overrides, int quiet);
void job_free(cn_job *job);
/* Print every key with its type, default and documentation (the source of docs/JOBS.md). */
void job_print_reference(void);
/* The value the job uses for key "section.key" (stage keys as stageK.key, K up to the job's stages), written
 * as in a job file: the file, its defaults and the --set overrides resolved (an empty checkpoint.dir is
 * <out_dir>/ckpt). Returns 0, or CN_EINVAL with one line in cn_last_error() ("unknown key", ...). */
int job_get(const cn_job *job, const char *name, char *buf, size_t len);
/* One-paragraph summary of the job for the start of a run. */
void job_describe(const cn_job *job, char *buf, int len);

#endif
