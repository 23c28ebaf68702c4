/* common.h: errors, checked allocation and size arithmetic shared by every part of cotsnet.
 *
 * Two kinds of failure, two paths:
 *  - a library function given bad arguments (shapes that do not fit, zero or overflowing sizes)
 *    returns CN_EINVAL and leaves one line in cn_last_error(); it never writes out of bounds;
 *  - a failed system or library call (malloc, MPI, HDF5, CUDA) that the program cannot recover
 *    from ends the whole job through cn_fatal(): rank, call, file and line, then MPI_Abort. */
#ifndef CN_COMMON_H
#define CN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define CN_OK 0
#define CN_EINVAL (-1)
#define CN_EIO (-2)

/* Exit code of a run that wrote a checkpoint on request and wants to be resumed. */
#define CN_EXIT_RESUME 85

#if defined(__GNUC__)
#define CN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CN_NORETURN __attribute__((noreturn))
#else
#define CN_PRINTF(a, b)
#define CN_NORETURN
#endif

/* Record an error message for the caller (thread-local); returns CN_EINVAL. */
int cn_set_error(const char *fmt, ...) CN_PRINTF(1, 2);
const char *cn_last_error(void);

/* End the whole job: "cotsnet: rank R: error: MSG (file:line)", then abort every rank. */
CN_NORETURN void cn_fatal_at(const char *file, int line, const char *fmt, ...) CN_PRINTF(3, 4);
#define cn_fatal(...) cn_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Hook used by cn_fatal to end every rank; mpi/ installs MPI_Abort here. */
void cn_set_abort_hook(void (*hook)(int code));
/* The rank printed in messages; mpi/ sets it once MPI is up. */
void cn_set_log_rank(int rank);
int cn_log_rank(void);

/* Checked allocation (64-byte aligned, zeroed); ends the job when memory runs out. */
void *cn_alloc(size_t count, size_t size);
void cn_free(void *p);

/* Size arithmetic that refuses to overflow: returns CN_OK and the product, or CN_EINVAL. */
int cn_mul_size(size_t *out, size_t n, ...); /* product of n size_t arguments */

/* mkdir -p: create a directory and its missing parents. Returns 0, or -1 with errno set. */
int cn_mkdirs(const char *path);

/* Wall-clock seconds from a monotonic clock. */
double cn_now(void);

/* Build description, for --version and the start of every run. */
const char *cn_build_info(void);
const char *cn_git_rev(void);

#define CN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
