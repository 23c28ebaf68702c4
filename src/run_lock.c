/* run_lock.c: the run directory's lock (see run_lock.h). */
#include "src/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The locks this process holds (descriptors stay open: closing any descriptor of a file drops the
 * process's record locks on it), by the directory's real path. */
#define MAX_HELD 4
static char held[MAX_HELD][PATH_MAX];
static int nheld;

static void say_who(int fd)
{
    char host[256] = "?", when[32] = "?", line[512];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *job = getenv("SLURM_JOB_ID");
    int n = snprintf(line, sizeof line, "host %s, pid %ld%s%s, since %s\n", host, (long)getpid(),
                     job && *job ? ", Slurm job " : "", job && *job ? job : "", when);
    /* what another run reads to name us; the lock holds without it */
    if (ftruncate(fd, 0) == 0 && n > 0)
        (void)!pwrite(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, 0);
}

int run_lock(const char *dir, char *who, size_t len)
{
    char real[PATH_MAX], path[PATH_MAX + 32];
    who[0] = '\0';
    if (!realpath(dir, real)) {
        snprintf(who, len, "%s: %s", dir, strerror(errno));
        return RUN_LOCK_ERROR;
    }
    for (int i = 0; i < nheld; i++)
        if (!strcmp(held[i], real))
            return RUN_LOCK_TAKEN;
    snprintf(path, sizeof path, "%s/.cotsnet.lock", real);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(who, len, "%s: %s", path, strerror(errno));
        return RUN_LOCK_ERROR;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
    if (fcntl(fd, F_SETLK, &fl) == 0) {
        say_who(fd);
        if (nheld < MAX_HELD)
            snprintf(held[nheld++], sizeof held[0], "%s", real);
        return RUN_LOCK_TAKEN; /* fd stays open until the process ends */
    }
    int e = errno, rc;
    if (e == EACCES || e == EAGAIN) {
        ssize_t n = pread(fd, who, len > 1 ? len - 1 : 0, 0);
        who[n > 0 ? n : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        if (!who[0])
            snprintf(who, len, "unknown");
        rc = RUN_LOCK_HELD;
    } else if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) {
        snprintf(who, len, "%s: %s", path, strerror(e));
        rc = RUN_LOCK_UNSUPPORTED;
    } else {
        snprintf(who, len, "%s: fcntl(F_SETLK): %s", path, strerror(e));
        rc = RUN_LOCK_ERROR;
    }
    close(fd); /* this process holds no lock on it */
    return rc;
}

int run_lock_same_job(const char *who)
{
    const char *job = getenv("SLURM_JOB_ID"), *at = strstr(who, ", Slurm job ");
    if (!job || !*job || !at)
        return 0;
    at += strlen(", Slurm job ");
    size_t n = strcspn(at, ",");
    return n == strlen(job) && !strncmp(at, job, n);
}
