/* train.h: the training driver: greedy reconstruction ICA stage by stage, then the softmax head on
 * frozen features (linear evaluation), then optional fine-tuning of everything, with evaluation. */
#ifndef CN_TRAIN_H
#define CN_TRAIN_H

#include "mpi/grid.h"
#include "src/job.h"

/* Phases of a run, in order; the cursor of a run is (phase, stage, step). */
enum { PHASE_RICA = 0, PHASE_HEAD = 1, PHASE_FINETUNE = 2, PHASE_DONE = 3 };

/* Train the job on the grid, from the beginning or (resume = "auto" or a path) from a checkpoint; returns the process exit code (0, or CN_EXIT_RESUME after a requested
 * checkpoint, or 1 on failure). */
int train_run(const cn_job *job, const cn_grid *grid, const char *resume);

/* From now on SIGUSR1 and SIGTERM only ask the run to checkpoint at its next step and return
 * CN_EXIT_RESUME (a signal caught before train_run starts counts too). main calls it before MPI starts,
 * so that a signal during start-up (slurm/train.sh forwards them at once) does not kill the rank. */
void train_catch_signals(void);

/* Load the checkpoint and print the test accuracy; returns the exit code. */
int eval_run(const cn_job *job, const cn_grid *grid, const char *checkpoint);

#endif
