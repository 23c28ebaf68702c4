/* h5check.h: checking HDF5 calls, and the one lock that serialises them.
 *
 * H5_CHECK(call) evaluates an HDF5 call that must not fail (a negative hid_t/herr_t/htri_t is a
 * failure) and ends the job through cn_fatal with the call, file, line and HDF5's own innermost
 * message. Calls that may fail because of the user's input (opening a file, finding a dataset) are
 * tested by hand instead and turned into one clear line (cn_set_error) naming the file.
 *
 * HDF5's automatic error-stack printing is switched off by cn_h5_quiet() (called by every io/ entry
 * point) so that a bad file gives one line, not forty; cn_h5_error_text() recovers HDF5's most specific
 * message for that line.
 *
 * Debian's parallel HDF5 is not thread-safe (H5_HAVE_THREADSAFE is off). Every io/ function that calls
 * HDF5 holds cn_h5_lock() while it does, so a prefetching reader thread and the main thread never call
 * into HDF5 at the same time. Other code that calls HDF5 directly while a prefetching reader is open
 * must hold the lock too. The lock is recursive. At exit (cn_fatal's included) it is taken for good
 * before HDF5's own exit handler runs, so that no reader thread is inside HDF5 while the library closes. */
#ifndef CN_H5CHECK_H
#define CN_H5CHECK_H

#include <hdf5.h>
#include <stddef.h>

#include "src/common.h"

/* Innermost message of HDF5's current error stack ("" when empty), e.g. "truncated file: eof = ...". */
void cn_h5_error_text(char *buf, size_t len);
/* Switch off HDF5's automatic error printing (idempotent, holds the lock). */
void cn_h5_quiet(void);

/* Process-wide recursive lock around HDF5 (see above). */
void cn_h5_lock(void);
void cn_h5_unlock(void);

/* Implementation of H5_CHECK: returns rc when rc >= 0, else ends the job. */
hid_t cn_h5_check_at(hid_t rc, const char *call, const char *file, int line);
#define H5_CHECK(call) cn_h5_check_at((hid_t)(call), #call, __FILE__, __LINE__)

/* Close an identifier if it is valid (handles start as H5I_INVALID_HID, so cleanup is always safe). */
void cn_h5_close(hid_t *id);
/* A file HDF5 failed to flush or close (a full disk) stays in its list of open files, and its exit
 * handler, closing it again, crashes (SIGSEGV in H5F__close_cb). After this call the process leaves
 * with status 1 at exit, before that handler runs (stdio flushed): for error paths that go on to exit 1. */
void cn_h5_abandon(void);

/* Scalar attributes (one element) of obj: text (fixed or variable length, cut to len - 1 bytes), integers (any
 * integer type, read as int64) and numbers (integer or floating point, read as double). 0 read, or
 * CN_H5A_MISSING, CN_H5A_CORRUPT (HDF5 cannot read obj's attributes at all: corrupted metadata) or CN_H5A_BAD
 * (not one element, of another type, or unreadable). */
enum { CN_H5A_MISSING = -1, CN_H5A_CORRUPT = -2, CN_H5A_BAD = -3 };
int cn_h5_attr_text(hid_t obj, const char *name, char *buf, size_t len);
int cn_h5_attr_int(hid_t obj, const char *name, long long *v);
int cn_h5_attr_num(hid_t obj, const char *name, double *v);

/* The same for an attribute of a file the user gives (a shard): 1 read, 0 missing (the caller says whether that
 * is an error), else CN_EINVAL with one line in cn_last_error(): "PATH: attribute NAME holds 3 values, expected
 * one", "... is float32, expected text", "... is unreadable", "PATH: the attributes of / cannot be read: the file
 * is corrupted (HDF5's reason; make it again)". */
int cn_h5_attr_text_checked(const char *path, hid_t obj, const char *name, char *buf, size_t len);
int cn_h5_attr_num_checked(const char *path, hid_t obj, const char *name, double *v);

/* An HDF5 type in words for messages: "uint8", "int32", "float32", "a string", "a non-numeric type (...)". */
void cn_h5_type_name(hid_t t, char *buf, size_t len);

#endif
