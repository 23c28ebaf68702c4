/* run_dir.h: the run's directories, on rank 0: the run directory (metrics.jsonl, filters.png) and the
 * checkpoint directory, made, checked, and locked for this run (src/run_lock.h), so that a second run
 * of the same job (slurm/train.sh always resumes) stops instead of writing over this one's checkpoints.
 * Each function returns 0, or the exit status (1, or 2 for a directory another run holds or an earlier
 * run's checkpoints) after one error line; the caller makes it every rank's. */
#ifndef CN_RUN_DIR_H
#define CN_RUN_DIR_H

#include <stdio.h>

#include "src/job.h"

/* First of all, before any checkpoint is read: lock the run and checkpoint directories that exist
 * already (run_dir_open locks those it makes). */
int run_dir_lock_existing(const cn_job *job);
/* Before the first step: make the run directory and open its metrics.jsonl (*metrics, appending), and
 * make the checkpoint directory, which must be writable and, unless the run resumes, hold no
 * checkpoint of an earlier run (its checkpoints of the same steps would replace those files, and
 * keeping only the newest would delete the rest); lock both. */
int run_dir_open(const cn_job *job, int resuming, FILE **metrics);

#endif
