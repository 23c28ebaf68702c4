/* run_lock.h: one run at a time per run directory and checkpoint directory.
 *
 * Two runs writing the same directories would replace each other's checkpoints (the same job submitted
 * twice: slurm/train.sh always resumes, so both would continue the same run). Rank 0 holds a POSIX
 * record lock (fcntl F_SETLK) on DIR/.cotsnet.lock for the life of the process: the kernel (or the file
 * system's lock manager) releases it when the process ends, however it ends, so a run killed by Slurm
 * or a node failure leaves nothing to clean up. The file holds who took it (host, pid, Slurm job, time),
 * for the message a second run gets. */
#ifndef CN_RUN_LOCK_H
#define CN_RUN_LOCK_H

#include <stddef.h>

enum { RUN_LOCK_TAKEN = 0, RUN_LOCK_HELD = 1, RUN_LOCK_UNSUPPORTED = 2, RUN_LOCK_ERROR = 3 };

/* Lock dir (which must exist) for this process's lifetime. RUN_LOCK_TAKEN (also when this process holds
 * it already); RUN_LOCK_HELD: another process holds it, and who is in `who` ("host h, pid p, Slurm job
 * j, since T", or "unknown" when the file does not say); RUN_LOCK_UNSUPPORTED: the file system cannot
 * lock (why in `who`); RUN_LOCK_ERROR: the file cannot be opened (why in `who`). */
int run_lock(const char *dir, char *who, size_t len);
/* 1 when `who` (run_lock's text of a holder) names this process's Slurm job (SLURM_JOB_ID): an earlier
 * run of the same job, requeued. Slurm runs one instance of a job at a time, so that holder is gone
 * (a node that failed, whose lock a network file system has not dropped yet). */
int run_lock_same_job(const char *who);

#endif
