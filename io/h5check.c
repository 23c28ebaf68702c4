/* h5check.c: HDF5 error reporting, quiet error stack, and the process-wide HDF5 lock. */
#include "io/h5check.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t lock_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t h5_mutex;
static int quiet_done;

static void lock_init(void)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) != 0 ||
        pthread_mutex_init(&h5_mutex, &a) != 0)
        cn_fatal("cannot create the HDF5 lock");
    pthread_mutexattr_destroy(&a);
}

void cn_h5_lock(void)
{
    pthread_once(&lock_once, lock_init);
    if (pthread_mutex_lock(&h5_mutex) != 0)
        cn_fatal("pthread_mutex_lock on the HDF5 lock failed");
}

void cn_h5_unlock(void)
{
    if (pthread_mutex_unlock(&h5_mutex) != 0)
        cn_fatal("pthread_mutex_unlock on the HDF5 lock failed");
}

/* At exit: take the lock and keep it. HDF5 closes itself in its own exit handler, which does not know
 * the lock; a prefetching reader thread still running (an error ended the job while it read ahead) would
 * be inside HDF5 then, or enter it: it now finishes the call it is in and waits at its next one. */
static void hold_at_exit(void) { cn_h5_lock(); }

void cn_h5_quiet(void)
{
    cn_h5_lock();
    if (!quiet_done) {
        if (H5Eset_auto2(H5E_DEFAULT, NULL, NULL) < 0)
            cn_fatal("H5Eset_auto2(H5E_DEFAULT, NULL, NULL) failed");
        /* registered after the library's own handler (H5Eset_auto2 has initialised it): runs before it */
        if (atexit(hold_at_exit) != 0)
            cn_fatal("atexit for the HDF5 lock failed");
        quiet_done = 1;
    }
    cn_h5_unlock();
}

typedef struct {
    char *buf;
    size_t len;
} walk_ctx;

/* Walking upward starts at the most specific error (where HDF5 detected it): keep that one. A failed
 * read or write of the file driver is a long text over two lines ("file write failed: time = ...\n,
 * filename = ..., errno = 28, error message = 'No space left on device', buf = 0x..., ..."): keep what
 * failed and the system's message; any other text on one line. */
static herr_t walk_first(unsigned n, const H5E_error2_t *e, void *data)
{
    walk_ctx *ctx = data;
    if (n != 0 || !e || !e->desc)
        return 0;
    const char *d = e->desc, *colon = strchr(d, ':'), *msg = strstr(d, "error message = '");
    const char *end = msg ? strchr(msg + 17, '\'') : NULL;
    if (colon && msg && end && colon < msg)
        snprintf(ctx->buf, ctx->len, "%.*s: %.*s", (int)(colon - d), d, (int)(end - (msg + 17)), msg + 17);
    else
        snprintf(ctx->buf, ctx->len, "%s", d);
    for (char *c = ctx->buf; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return 0;
}

void cn_h5_error_text(char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    walk_ctx ctx = {buf, len};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_first, &ctx);
}

/* After a fatal HDF5 error, at exit: leave before HDF5's own exit handler, which closes the files still
 * open and crashed (SIGSEGV in H5F__close_cb, seen after a flush failed on a full disk). Registered
 * after it, so it runs first; stdio is flushed. */
static void leave_before_hdf5(void)
{
    fflush(NULL);
    _exit(1);
}

void cn_h5_abandon(void)
{
    static int done;
    if (!done && atexit(leave_before_hdf5) == 0)
        done = 1;
}

hid_t cn_h5_check_at(hid_t rc, const char *call, const char *file, int line)
{
    if (rc >= 0)
        return rc;
    char why[256];
    cn_h5_error_text(why, sizeof why);
    cn_h5_abandon(); /* cn_fatal_at exits with status 1, or MPI_Abort ends the job */
    cn_fatal_at(file, line, "HDF5 call %s failed%s%s (check the file system and the file; rerun to retry)",
                call, why[0] ? ": " : "", why);
}

void cn_h5_close(hid_t *id)
{
    if (!id || *id < 0)
        return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    *id = H5I_INVALID_HID;
}

void cn_h5_type_name(hid_t t, char *buf, size_t len)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_INTEGER)
        snprintf(buf, len, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", size * 8);
    else if (cls == H5T_FLOAT)
        snprintf(buf, len, "float%zu", size * 8);
    else if (cls == H5T_STRING)
        snprintf(buf, len, "a string");
    else
        snprintf(buf, len, "a non-numeric type (HDF5 class %d)", (int)cls);
}

/* ---- scalar attributes ------------------------------------------------------------------------ */

/* What an attribute must hold. */
enum { WANT_TEXT, WANT_INT, WANT_NUM };
static const char *const want_words[] = {"text", "an integer", "a number"};

/* A fixed-length text attribute longer than this is not one cotsnet wrote (a job text is a few kB). */
#define ATTR_TEXT_MAX ((size_t)1 << 24)

/* Every failure returns its code through here; with where (the file's path) it leaves one line
 * "WHERE: attribute NAME <what>" in cn_last_error(), else nothing. */
static int attr_fail(const char *where, const char *name, int rc, const char *fmt, ...) CN_PRINTF(4, 5);
static int attr_fail(const char *where, const char *name, int rc, const char *fmt, ...)
{
    if (where) {
        char what[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        cn_set_error("%s: attribute %s %s", where, name, what);
    }
    return rc;
}

/* HDF5 cannot read obj's attributes: its metadata is corrupted. The message carries HDF5's own reason. */
static int attr_corrupt(const char *where, hid_t obj, const char *name, int opening)
{
    if (!where)
        return CN_H5A_CORRUPT;
    char why[200], on[256];
    cn_h5_error_text(why, sizeof why); /* first: the next HDF5 call clears the error stack */
    if (!why[0])
        snprintf(why, sizeof why, "unknown HDF5 error");
    if (opening)
        return attr_fail(where, name, CN_H5A_CORRUPT, "is unreadable: the file is corrupted (%s; make it again)", why);
    if (H5Iget_name(obj, on, sizeof on) <= 0)
        snprintf(on, sizeof on, "/");
    cn_set_error("%s: the attributes of %s cannot be read: the file is corrupted (%s; make it again)", where, on,
                 why);
    return CN_H5A_CORRUPT;
}

/* 0 with the attribute and its type open (the caller closes both) when it is one element of what `want`
 * says; else the code (nothing left open) and, with where, the line saying what is wrong. */
static int attr_scalar(const char *where, hid_t obj, const char *name, int want, hid_t *a, hid_t *t)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex == 0)
        return CN_H5A_MISSING;
    if (ex < 0)
        return attr_corrupt(where, obj, name, 0);
    if ((*a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        return attr_corrupt(where, obj, name, 1);
    hid_t sp = H5Aget_space(*a);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    cn_h5_close(&sp);
    int rc = 0;
    if (np != 1) {
        rc = np < 0 ? attr_fail(where, name, CN_H5A_BAD, "is unreadable (no dataspace)")
                    : attr_fail(where, name, CN_H5A_BAD, "holds %lld values, expected one", (long long)np);
    } else if ((*t = H5Aget_type(*a)) < 0) {
        rc = attr_fail(where, name, CN_H5A_BAD, "is unreadable (no type)");
    } else {
        H5T_class_t cls = H5Tget_class(*t);
        int ok = want == WANT_TEXT ? cls == H5T_STRING
                 : want == WANT_INT ? cls == H5T_INTEGER
                                    : cls == H5T_INTEGER || cls == H5T_FLOAT;
        if (!ok) {
            char tn[64];
            cn_h5_type_name(*t, tn, sizeof tn);
            rc = attr_fail(where, name, CN_H5A_BAD, "is %s, expected %s", tn, want_words[want]);
        }
    }
    if (rc) {
        cn_h5_close(t);
        cn_h5_close(a);
    }
    return rc;
}

static int attr_text(const char *where, hid_t obj, const char *name, char *buf, size_t len)
{
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    buf[0] = '\0';
    int rc = attr_scalar(where, obj, name, WANT_TEXT, &a, &t);
    if (rc != 0)
        return rc;
    rc = CN_H5A_BAD;
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if ((mt = H5Tcopy(H5T_C_S1)) >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 &&
            H5Tset_cset(mt, H5Tget_cset(t)) >= 0 && H5Aread(a, mt, &s) >= 0) {
            snprintf(buf, len, "%s", s ? s : "");
            H5free_memory(s);
            rc = 0;
        }
    } else {
        /* one byte more than stored: a NULL- or space-padded text filling its whole size keeps its last byte */
        size_t n = H5Tget_size(t);
        if (n == 0 || n > ATTR_TEXT_MAX) {
            rc = attr_fail(where, name, CN_H5A_BAD, "has an implausible length %zu", n);
            goto out;
        }
        char *s = cn_alloc(n + 1, 1);
        if ((mt = H5Tcopy(H5T_C_S1)) >= 0 && H5Tset_size(mt, n + 1) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0 &&
            H5Tset_cset(mt, H5Tget_cset(t)) >= 0 && H5Aread(a, mt, s) >= 0) {
            s[n] = '\0';
            snprintf(buf, len, "%s", s);
            rc = 0;
        }
        cn_free(s);
    }
    if (rc != 0)
        rc = attr_fail(where, name, CN_H5A_BAD, "is unreadable");
out:
    cn_h5_close(&mt);
    cn_h5_close(&t);
    cn_h5_close(&a);
    return rc;
}

/* An integer (int64) or a number (double) attribute. */
static int attr_number(const char *where, hid_t obj, const char *name, int want, void *v)
{
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
    int rc = attr_scalar(where, obj, name, want, &a, &t);
    if (rc != 0)
        return rc;
    if (H5Aread(a, want == WANT_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, v) < 0)
        rc = attr_fail(where, name, CN_H5A_BAD, "is unreadable");
    cn_h5_close(&t);
    cn_h5_close(&a);
    return rc;
}

int cn_h5_attr_text(hid_t obj, const char *name, char *buf, size_t len) { return attr_text(NULL, obj, name, buf, len); }

int cn_h5_attr_int(hid_t obj, const char *name, long long *v)
{
    int64_t x = 0;
    int rc = attr_number(NULL, obj, name, WANT_INT, &x);
    if (rc == 0)
        *v = (long long)x;
    return rc;
}

int cn_h5_attr_num(hid_t obj, const char *name, double *v)
{
    double x = 0;
    int rc = attr_number(NULL, obj, name, WANT_NUM, &x);
    if (rc == 0)
        *v = x;
    return rc;
}

/* 0 read -> 1, missing -> 0, anything else -> CN_EINVAL (the line is set) */
static int checked(int rc) { return rc == 0 ? 1 : rc == CN_H5A_MISSING ? 0 : CN_EINVAL; }

int cn_h5_attr_text_checked(const char *path, hid_t obj, const char *name, char *buf, size_t len)
{
    return checked(attr_text(path, obj, name, buf, len));
}

int cn_h5_attr_num_checked(const char *path, hid_t obj, const char *name, double *v)
{
    double x = 0;
    int rc = checked(attr_number(path, obj, name, WANT_NUM, &x));
    if (rc == 1)
        *v = x;
    return rc;
}
