/* main.c: the cotsnet command line. One program, subcommands (DESIGN.md):
 *   cotsnet train JOB.ini [--set section.key=value ...] [--grid RxPyxPx]
 *   cotsnet data SOURCE --out DIR [options]
 *   cotsnet check JOB.ini [--set ...] [--get section.key]   validate, describe, or print one key's value
 *   cotsnet keys               every job-file key, with type, default and meaning
 *   cotsnet --version | --help */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/cmd_data.h"
#include "io/info.h"
#include "mpi/grid.h"
#include "src/common.h"
#include "src/job.h"
#include "src/net.h"
#include "src/sizing.h"
#include "src/train.h"

#define MAX_SETS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cotsnet COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  train JOB.ini [--set section.key=value ...] [--resume auto|FILE]\n"
            "                      train the job (greedy reconstruction ICA per stage, then the softmax\n"
            "                      head, then optional fine-tuning); run under mpirun or srun with\n"
            "                      replicas x rows x cols ranks, or alone for a 1x1 grid\n"
            "  eval JOB.ini --checkpoint FILE\n"
            "                      test accuracy of a checkpoint on the job's test set\n"
            "  data SOURCE --out DIR [options]\n"
            "                      make HDF5 shards (SOURCE: fashion-mnist, images, synthetic)\n"
            "  check JOB.ini [--set section.key=value ...] [--get section.key]\n"
            "                      validate a job file and describe the network it builds; with --get,\n"
            "                      print only the value the job uses for one key (file, defaults and\n"
            "                      --set resolved, e.g. --get checkpoint.dir)\n"
            "  info --params JOB.ini [--grid RxPyxPx] [--set section.key=value ...]\n"
            "                      parameters and memory per rank of a job on a grid, before submitting it\n"
            "  info [--verify] FILE...\n"
            "                      describe a checkpoint (step, phase, grid, datasets, parameters) or a shard\n"
            "  keys                list every job-file key with its type, default and meaning\n"
            "\n"
            "options:\n"
            "  --help              this text\n"
            "  --version           the build: version, compiler, flags, git revision\n"
            "\n"
            "Exit status: 0 done, 1 failure, 2 bad command line or job file, 85 checkpointed on a\n"
            "signal (SIGUSR1, SIGTERM): resume with --resume auto.\n"
            "The job file format is described in docs/JOBS.md; the model in docs/MODEL.md.\n");
}

/* Parse "JOB.ini [--set k=v]..." into the job; every rank parses, rank 0 prints the error. */
typedef struct {
    const char *resume;     /* --resume auto|FILE */
    const char *checkpoint; /* --checkpoint FILE */
} cmd_opts;

static int load_job(cn_job *job, int argc, char **argv, int rank, cmd_opts *o)
{
    const char *path = NULL;
    const char *sets[MAX_SETS];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < MAX_SETS) {
            sets[nsets++] = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6) && nsets < MAX_SETS) {
            sets[nsets++] = argv[i] + 6;
        } else if (o && !strcmp(argv[i], "--resume") && i + 1 < argc) {
            o->resume = argv[++i];
        } else if (o && !strcmp(argv[i], "--checkpoint") && i + 1 < argc) {
            o->checkpoint = argv[++i];
        } else if (!strcmp(argv[i], "--set") || !strncmp(argv[i], "--set=", 6) ||
                   (o && (!strcmp(argv[i], "--resume") || !strcmp(argv[i], "--checkpoint")))) {
            if (rank == 0)
                fprintf(stderr, "cotsnet: error: %s: %s\n", argv[0],
                        !strcmp(argv[i], "--resume")       ? "--resume needs 'auto' or a checkpoint file"
                        : !strcmp(argv[i], "--checkpoint") ? "--checkpoint needs a checkpoint file"
                        : nsets >= MAX_SETS                ? "more than 256 --set options"
                                                           : "--set needs section.key=value");
            return -1;
        } else if (argv[i][0] == '-') {
            if (rank == 0)
                fprintf(stderr, "cotsnet: error: %s: unknown option '%s' (see cotsnet --help)\n", argv[0], argv[i]);
            return -1;
        } else if (!path) {
            path = argv[i];
        } else {
            if (rank == 0)
                fprintf(stderr, "cotsnet: error: %s: more than one job file ('%s', '%s')\n", argv[0], path, argv[i]);
            return -1;
        }
    }
    if (!path) {
        if (rank == 0)
            fprintf(stderr, "cotsnet: error: %s: no job file given (usage: cotsnet %s JOB.ini)\n", argv[0], argv[0]);
        return -1;
    }
    return job_load(job, path, sets, nsets, rank != 0);
}

/* train and eval: the job on a grid of all ranks */
static int cmd_run(int argc, char **argv, int eval)
{
    int rank = comm_world_rank();
    cn_job job;
    cmd_opts o = {0};
    if (load_job(&job, argc, argv, rank, &o))
        return 2;
    if (eval && !o.checkpoint) {
        if (rank == 0)
            fprintf(stderr, "cotsnet: error: eval: no checkpoint given (usage: cotsnet eval JOB.ini --checkpoint FILE)\n");
        job_free(&job);
        return 2;
    }
    cn_grid grid;
    if (grid_create(&grid, job.replicas, job.rows, job.cols)) {
        if (rank == 0)
            fprintf(stderr, "cotsnet: error: %s: %s\n", job.path, cn_last_error());
        job_free(&job);
        return 2;
    }
    int rc = eval ? eval_run(&job, &grid, o.checkpoint) : train_run(&job, &grid, o.resume);
    grid_destroy(&grid);
    job_free(&job);
    return rc;
}

/* check: validate the job and describe it; with --get section.key, print only the value it uses for that key */
static int cmd_check(int argc, char **argv)
{
    const char *get = NULL;
    char **rest = cn_alloc((size_t)argc, sizeof *rest); /* argv without --get: load_job reads the rest */
    int nrest = 0, rc = 2;
    for (int i = 0; i < argc; i++) {
        int eq = i > 0 && !strncmp(argv[i], "--get=", 6);
        if (i > 0 && (eq || !strcmp(argv[i], "--get"))) {
            if (get || (!eq && i + 1 >= argc) || (eq && !argv[i][6])) {
                fprintf(stderr, "cotsnet: error: check: %s\n",
                        get ? "--get given twice (one key per call)" : "--get needs section.key");
                goto out;
            }
            get = eq ? argv[i] + 6 : argv[++i];
        } else {
            rest[nrest++] = argv[i];
            if (!strcmp(argv[i], "--set") && i + 1 < argc) /* the override, even one that reads --get */
                rest[nrest++] = argv[++i];
        }
    }
    cn_job job;
    if (load_job(&job, nrest, rest, 0, NULL))
        goto out;
    if (get) {
        char value[2 * CN_PATH_MAX];
        if (job_get(&job, get, value, sizeof value) == CN_OK) {
            printf("%s\n", value);
            rc = 0;
        } else {
            fprintf(stderr, "cotsnet: error: check: --get %s: %s\n", get, cn_last_error());
        }
    } else {
        char desc[4096];
        job_describe(&job, desc, sizeof desc);
        printf("%s\n  parameters: %zu\n", desc, net_param_count_global(&job));
        rc = 0;
    }
    job_free(&job);
out:
    cn_free(rest);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        puts(cn_build_info());
        return 0;
    }
    if (!strcmp(argv[1], "keys")) {
        job_print_reference();
        return 0;
    }
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "data"))
        return cmd_data(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info") && argc > 2 && !strcmp(argv[2], "--params"))
        return cmd_info_params(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 1, argv + 1);
    int rc;
    if (!strcmp(argv[1], "train") || !strcmp(argv[1], "eval")) {
        if (!strcmp(argv[1], "train"))
            train_catch_signals(); /* before MPI starts: a signal during start-up is honoured, not fatal */
        comm_init(&argc, &argv);
        rc = cmd_run(argc - 1, argv + 1, !strcmp(argv[1], "eval"));
        comm_finalize();
    } else {
        fprintf(stderr, "cotsnet: error: unknown command '%s' (see cotsnet --help)\n", argv[1]);
        rc = 2;
    }
    return rc;
}
