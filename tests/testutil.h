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

#endif
