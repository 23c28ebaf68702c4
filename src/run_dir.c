/* run_dir.c: the run's directories (run_dir.h). */
#include "src/run_dir.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/ckpt.h"
#include "src/common.h"
#include "src/run_lock.h"

/* Lock the run directory or the checkpoint directory (key: its job key) for this run (src/run_lock.h).
 * Returns 0, or the exit status after one error line. */
static int lock_dir(const char *key, const char *dir)
{
    char who[512];
    int rc = run_lock(dir, who, sizeof who);
    if (rc == RUN_LOCK_HELD && run_lock_same_job(who)) {
        /* an earlier run of this Slurm job, requeued after its node failed: the file system has not
         * dropped the dead node's lock yet, but Slurm runs one instance of a job at a time */
        fprintf(stderr, "cotsnet: warning: %s: '%s' is locked by an earlier run of this Slurm job (%s), whose "
                        "node the file system still counts as alive; going on without the lock\n", key, dir, who);
        return 0;
    }
    if (rc == RUN_LOCK_HELD) {
        fprintf(stderr, "cotsnet: error: %s: '%s' is in use by another run (%s): two runs there would write "
                        "over each other's checkpoints; let that one end, or give this one another run.out_dir\n",
                key, dir, who);
        return 2;
    }
    if (rc == RUN_LOCK_UNSUPPORTED)
        fprintf(stderr, "cotsnet: warning: %s: cannot lock '%s' (%s): nothing stops a second run from using it at "
                        "the same time\n", key, dir, who);
    return 0; /* RUN_LOCK_ERROR: a directory that cannot be written is run_dir_open's to report */
}

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int run_dir_lock_existing(const cn_job *job)
{
    int rc = 0;
    if (is_dir(job->out_dir))
        rc = lock_dir("[run] out_dir", job->out_dir);
    if (!rc && job->ckpt_every >= 0 && is_dir(job->ckpt_dir))
        rc = lock_dir("[checkpoint] dir", job->ckpt_dir);
    return rc;
}

int run_dir_open(const cn_job *job, int resuming, FILE **metrics)
{
    char path[CN_PATH_MAX + 64];
    if (cn_mkdirs(job->out_dir)) {
        fprintf(stderr, "cotsnet: error: [run] out_dir: cannot create the run directory '%s': %s\n", job->out_dir,
                strerror(errno));
        return 1;
    }
    int rc = lock_dir("[run] out_dir", job->out_dir);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/metrics.jsonl", job->out_dir);
    *metrics = fopen(path, "a");
    if (!*metrics) {
        fprintf(stderr, "cotsnet: error: [run] out_dir: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (job->ckpt_every < 0)
        return 0; /* never a checkpoint */
    struct stat st;
    if (cn_mkdirs(job->ckpt_dir) || stat(job->ckpt_dir, &st) || (!S_ISDIR(st.st_mode) && (errno = ENOTDIR)) ||
        access(job->ckpt_dir, W_OK | X_OK)) {
        fprintf(stderr, "cotsnet: error: [checkpoint] dir: cannot write checkpoints in '%s': %s\n", job->ckpt_dir,
                strerror(errno));
        return 1;
    }
    if ((rc = lock_dir("[checkpoint] dir", job->ckpt_dir)))
        return rc;
    if (!resuming && ckpt_latest(job->ckpt_dir, path, sizeof path)) {
        fprintf(stderr, "cotsnet: error: [checkpoint] dir: %s holds checkpoints of an earlier run (newest %s): "
                        "continue it with --resume auto, or give another run.out_dir or checkpoint.dir\n",
                job->ckpt_dir, path);
        return 2;
    }
    return 0;
}
