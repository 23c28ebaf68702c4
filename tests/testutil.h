/* testutil.h: tiny test harness shared by the C tests.
 *
 * Each check prints one line that tests/run.sh counts:  "ok NAME", "FAIL NAME: why", "skip NAME: why".
 * A test binary exits non-zero when any of its checks failed. Header-only on purpose: every test is
 * one .c file linked against libcotsnet.a. */
#ifndef CN_TESTUTIL_H
#define CN_TESTUTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"

static __attribute__((unused)) int tu_failures;

static __attribute__((unused)) void tu_ok(const char *name) { printf("ok %s\n", name); fflush(stdout); }
static __attribute__((unused)) void tu_skip(const char *name, const char *why) { printf("skip %s: %s\n", name, why); fflush(stdout); }
static __attribute__((unused)) void tu_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static __attribute__((unused)) void tu_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    tu_failures++;
}
/* Record a boolean check. */
static __attribute__((unused)) void tu_check(const char *name, int cond, const char *why)
{
    if (cond)
        tu_ok(name);
    else
        tu_fail(name, "%s", why);
}
static __attribute__((unused)) int tu_exit(void) { return tu_failures ? 1 : 0; }

/* Deterministic test inputs: xorshift64*, uniform in [-1, 1). */
static __attribute__((unused)) uint64_t tu_state = 0x9E3779B97F4A7C15ull;
static __attribute__((unused)) void tu_seed(uint64_t s) { tu_state = s * 0x9E3779B97F4A7C15ull + 1; }
static __attribute__((unused)) double tu_rand(void)
{
    tu_state ^= tu_state >> 12;
    tu_state ^= tu_state << 25;
    tu_state ^= tu_state >> 27;
    return (double)((tu_state * 0x2545F4914F6CDD1Dull) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static __attribute__((unused)) void tu_fill(float *a, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(scale * tu_rand());
}
static __attribute__((unused)) float *tu_randn(size_t n, double scale)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    tu_fill(a, n, scale);
    return a;
}

/* Inputs on a 2^-12 grid in [-scale, scale]: sums of few of them are exact in float. */
static __attribute__((unused)) float *tu_grid_rand(size_t n, double scale)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(nearbyint(tu_rand() * scale * 4096.0) / 4096.0);
    return a;
}

/* Normwise relative error ||a - b|| / ||b|| (absolute ||a|| when b is zero). */
static __attribute__((unused)) double tu_relerr(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
static __attribute__((unused)) double tu_relerr_d(const double *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
/* Check ||a - b|| / ||b|| <= tol. */
static __attribute__((unused)) void tu_close(const char *name, const float *a, const float *b, size_t n, double tol)
{
    double e = tu_relerr(a, b, n);
    if (e <= tol && e == e)
        tu_ok(name);
    else
        tu_fail(name, "relative error %.3e > tolerance %.1e", e, tol);
}

static __attribute__((unused)) double *tu_to_double(const float *a, size_t n)
{
    double *o = malloc((n ? n : 1) * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = a[i];
    return o;
}
/* Check a float result against a double evaluation: rc (the kernel's) CN_OK and ||a - ref|| / ||ref|| <= tol;
 * the error is printed as a "#" line either way. */
static __attribute__((unused)) void tu_close_d(const char *name, const float *a, const double *ref, size_t n,
                                               double tol, int rc)
{
    double *ad = tu_to_double(a, n);
    double e = tu_relerr_d(ad, ref, n);
    free(ad);
    printf("# %s: relative error %.2e (tolerance %.0e)\n", name, e, tol);
    if (rc != CN_OK)
        tu_fail(name, "kernel refused: %s", cn_last_error());
    else if (e <= tol)
        tu_ok(name);
    else
        tu_fail(name, "relative error %.3e > tolerance %.1e", e, tol);
}

/* The bits of a float, and back. */
static __attribute__((unused)) uint32_t tu_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static __attribute__((unused)) float tu_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* Check that a and b are equal bit for bit, and rc (the kernel's) CN_OK. */
static __attribute__((unused)) void tu_same_bits(const char *name, const float *a, const float *b, size_t n, int rc)
{
    size_t diff = 0;
    for (size_t e = 0; e < n; e++)
        diff += tu_f2u(a[e]) != tu_f2u(b[e]);
    if (rc == CN_OK && diff == 0)
        tu_ok(name);
    else
        tu_fail(name, "%zu of %zu values differ (rc %d)", diff, n, rc);
}

/* Poison: a quiet NaN that no arithmetic produces, in the elements a call must not write (or must). */
#define TU_POISON 0x7fa5a5a5u
static __attribute__((unused)) void tu_poison(float *a, size_t n)
{
    for (size_t k = 0; k < n; k++)
        a[k] = tu_u2f(TU_POISON);
}
static __attribute__((unused)) float *tu_poisoned(size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    tu_poison(a, n);
    return a;
}
/* How many elements of a still hold the poison. */
static __attribute__((unused)) size_t tu_poison_count(const float *a, size_t n)
{
    size_t c = 0;
    for (size_t k = 0; k < n; k++)
        c += tu_f2u(a[k]) == TU_POISON;
    return c;
}

/* Write a float32 or int32 array as a .npy file (numpy.load reads it), for the numpy oracle. */
static __attribute__((unused)) int tu_write_npy(const char *path, const void *data, const char *dtype, const int *shape, int ndim)
{
    char hdr[256], dims[160] = "";
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        char s[24];
        snprintf(s, sizeof s, "%d,%s", shape[i], (ndim == 1 || i < ndim - 1) ? " " : "");
        strncat(dims, s, sizeof dims - strlen(dims) - 1);
        count *= (size_t)shape[i];
    }
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", dtype, dims);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned short hlen = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hlen, 2, 1, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 4, count, f);
    return fclose(f);
}

/* --dump DIR: a test writes its arrays for its numpy oracle (tests/oracle/) instead of checking. */
static __attribute__((unused)) const char *tu_dump_dir; /* NULL without --dump */
/* Parses "PROG [--dump DIR]" into tu_dump_dir: 0, or 2 (the exit status) after a usage line. */
static __attribute__((unused)) int tu_dump_args(int argc, char **argv, const char *prog)
{
    if (argc == 3 && strcmp(argv[1], "--dump") == 0)
        tu_dump_dir = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--dump DIR]\n", prog);
        return 2;
    }
    return 0;
}
/* Write a (tu_write_npy) as tu_dump_dir/FILE.npy, FILE formatted from fmt: 0, or -1 after a FAIL line. */
static __attribute__((unused)) int tu_dump(const void *a, const char *dtype, const int *shape, int ndim,
                                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static __attribute__((unused)) int tu_dump(const void *a, const char *dtype, const int *shape, int ndim,
                                           const char *fmt, ...)
{
    char file[512], path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(file, sizeof file, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s.npy", tu_dump_dir, file);
    if (tu_write_npy(path, a, dtype, shape, ndim) == 0)
        return 0;
    tu_fail("dump", "cannot write %s", path);
    return -1;
}

#endif
