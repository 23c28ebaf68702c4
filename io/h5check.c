/* h5check.c: HDF5 error reporting, quiet error stack, and the process-wide HDF5 lock. */
#include "io/h5check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Walking upward starts at the most specific error (where HDF5 detected it): keep that one. */
static herr_t walk_first(unsigned n, const H5E_error2_t *e, void *data)
{
    walk_ctx *ctx = data;
    if (n == 0 && e && e->desc)
        snprintf(ctx->buf, ctx->len, "%s", e->desc);
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

hid_t cn_h5_check_at(hid_t rc, const char *call, const char *file, int line)
{
    if (rc >= 0)
        return rc;
    char why[256];
    cn_h5_error_text(why, sizeof why);
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

/* ---- scalar attributes ------------------------------------------------------------------------ */

/* 0 with the attribute and its type open (the caller closes both) when it is one element of class cls;
 * -1 missing, or another class or size (nothing left open); -2 HDF5 cannot tell (the object's metadata is
 * corrupted). */
static int attr_scalar(hid_t obj, const char *name, H5T_class_t cls, hid_t *a, hid_t *t)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex == 0)
        return -1;
    if (ex < 0 || (*a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        return -2;
    hid_t sp = H5Aget_space(*a);
    int ok = (*t = H5Aget_type(*a)) >= 0 && H5Tget_class(*t) == cls && sp >= 0 &&
             H5Sget_simple_extent_npoints(sp) == 1;
    cn_h5_close(&sp);
    if (!ok) {
        cn_h5_close(t);
        cn_h5_close(a);
        return -1;
    }
    return 0;
}

int cn_h5_attr_text(hid_t obj, const char *name, char *buf, size_t len)
{
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    buf[0] = '\0';
    int rc = attr_scalar(obj, name, H5T_STRING, &a, &t);
    if (rc != 0)
        return rc;
    rc = -1;
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, &s) < 0)
            goto out;
        snprintf(buf, len, "%s", s ? s : "");
        H5free_memory(s);
        rc = 0;
    } else {
        size_t n = H5Tget_size(t);
        if (n == 0 || n > ((size_t)1 << 24))
            goto out;
        char *s = cn_alloc(n + 1, 1);
        if ((mt = H5Tcopy(H5T_C_S1)) >= 0 && H5Tset_size(mt, n) >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) >= 0 &&
            H5Aread(a, mt, s) >= 0) {
            s[n] = '\0';
            snprintf(buf, len, "%s", s);
            rc = 0;
        }
        cn_free(s);
    }
out:
    cn_h5_close(&mt);
    cn_h5_close(&t);
    cn_h5_close(&a);
    return rc;
}

int cn_h5_attr_int(hid_t obj, const char *name, long long *v)
{
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
    int64_t x = 0;
    int rc = attr_scalar(obj, name, H5T_INTEGER, &a, &t);
    if (rc != 0)
        return rc;
    rc = -1;
    if (H5Aread(a, H5T_NATIVE_INT64, &x) >= 0) {
        *v = (long long)x;
        rc = 0;
    }
    cn_h5_close(&t);
    cn_h5_close(&a);
    return rc;
}
