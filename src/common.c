/* common.c: error reporting, checked allocation and overflow-safe size arithmetic. */
#include "src/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

static _Thread_local char last_error[512];
static void (*abort_hook)(int);
static int log_rank;

int cn_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return CN_EINVAL;
}

const char *cn_last_error(void) { return last_error[0] ? last_error : "no error recorded"; }

void cn_set_abort_hook(void (*hook)(int)) { abort_hook = hook; }
void cn_set_log_rank(int rank) { log_rank = rank; }
int cn_log_rank(void) { return log_rank; }

void cn_fatal_at(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cotsnet: rank %d: error: %s (%s:%d)\n", log_rank, msg, file, line);
    fflush(stderr);
    if (abort_hook)
        abort_hook(1);
    exit(1);
}

void *cn_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (cn_mul_size(&bytes, 2, count, size) != CN_OK)
        cn_fatal("allocation of %zu x %zu bytes overflows", count, size);
    if (bytes == 0)
        bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p)
        cn_fatal("out of memory allocating %zu bytes", bytes);
    memset(p, 0, bytes);
    return p;
}

void cn_free(void *p) { free(p); }

int cn_mul_size(size_t *out, size_t n, ...)
{
    va_list ap;
    size_t acc = 1;
    int rc = CN_OK;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        size_t v = va_arg(ap, size_t);
        if (v != 0 && acc > SIZE_MAX / v)
            rc = CN_EINVAL;
        else
            acc *= v;
    }
    va_end(ap);
    *out = rc == CN_OK ? acc : 0;
    return rc;
}

double cn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cn_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}
