/* vmath.c: vm_span and its widths (src/vmath.h). */
#include "src/vmath.h"

#include <pthread.h>
#include <string.h>

#include "src/vmath_isa.h"

#include <sleef.h>

static void span_purec(vm_fn f, const double *x, double *y, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = f == VM_LOG   ? Sleef_cinz_logd1_u10purec(x[i])
               : f == VM_COS ? Sleef_cinz_cosd1_u10purec(x[i])
                             : Sleef_cinz_sind1_u10purec(x[i]);
}

#ifdef VM_HAVE_X86
#include <emmintrin.h>

#define F_SSE2(fn) Sleef_cinz_##fn##d2_u10sse2

void vm_span_sse2(vm_fn f, const double *x, double *y, int n)
{
    VM_SPAN_LOOP(2, __m128d, _mm_loadu_pd, _mm_storeu_pd, F_SSE2);
}
#endif

typedef struct {
    const char *name;
    void (*span)(vm_fn, const double *, double *, int);
} width;

static const width widths[] = {
#ifdef VM_HAVE_X86
    {"avx512", vm_span_avx512},
    {"avx", vm_span_avx},
    {"sse2", vm_span_sse2},
#endif
    {"purec", span_purec},
};
enum { NWIDTHS = sizeof widths / sizeof widths[0] };

static int supported(const width *w)
{
#ifdef VM_HAVE_X86
    __builtin_cpu_init();
    if (w->span == vm_span_avx512)
        return __builtin_cpu_supports("avx512f");
    if (w->span == vm_span_avx)
        return __builtin_cpu_supports("avx");
#endif
    (void)w;
    return 1; /* SSE2 is part of x86-64; plain C runs anywhere */
}

static const width *best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void pick(void)
{
    for (int k = 0; k < NWIDTHS && !best; k++)
        if (supported(&widths[k]))
            best = &widths[k];
}

static const width *widest(void)
{
    pthread_once(&best_once, pick);
    return best;
}

void vm_span(vm_fn f, const double *x, double *y, int n)
{
    widest()->span(f, x, y, n);
}

int vm_span_width(const char *name, vm_fn f, const double *x, double *y, int n)
{
    for (int k = 0; k < NWIDTHS; k++)
        if (strcmp(widths[k].name, name) == 0) {
            if (!supported(&widths[k]))
                return -1;
            widths[k].span(f, x, y, n);
            return 0;
        }
    return -1;
}

const char *vm_width(void)
{
    return widest()->name;
}
