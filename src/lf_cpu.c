/* lf_cpu.c: the fast CPU local filter (src/ops_cpu.h): argument checks, the choice of instruction set,
 * and the plain-C instance of the kernels.
 *
 * The kernels themselves are in src/lf_cpu_impl.h, compiled three times: here with a one-lane "vector"
 * (plain C, runs anywhere), in lf_cpu_avx2.c and in lf_cpu_avx512.c. The set is chosen once, at the first
 * call: COTSNET_CPU_ISA = generic | avx2 | avx512 | auto if set, else auto. Auto takes AVX-512 where the
 * CPU has it, else AVX2 + FMA, else plain C. The AVX-512 path was verified (tests/test_lf_cpu.c) and
 * measured (bench_ops, one core) on the Intel Xeon host of a lent GPU machine on 2026-11-27: 1.0 to 1.9x
 * the AVX2 path's GFLOP/s on 20 of the 21 local-filter rows, 0.65x on one (backward filter, C = 1)
 * (bench/README.md). A named set the CPU lacks falls back to auto, with one line on stderr. */
#include "src/ops_cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"
#include "src/lf_cpu_isa.h"

/* ---- the plain-C instance ------------------------------------------------------------------------ */
typedef float vf;
typedef int vm;
#define VL 1
#define SFX(name) name##_generic
#define V_ZERO() 0.0f
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_BCAST(p) (*(p))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_ADD(a, b) ((a) + (b))
#define V_LOADM(p, k) ((k) ? *(p) : 0.0f)
#define V_KEEP(v, k) ((k) ? (v) : 0.0f)
#define V_STOREM(p, k, v) ((k) ? (void)(*(p) = (v)) : (void)0)
#define V_MASK_LO(n) ((n) > 0)
#define V_MASK_HI(n) ((n) > 0)
static inline void v_reduce(const float *acc, int n, float *out)
{
    for (int k = 0; k < n; k++)
        out[k] = acc[k];
}
#define KDOT_MB 4
#define KDOT_BB 4
#define KDOT_LIST(X) X(1, 1) X(1, 2) X(1, 3) X(1, 4) X(2, 1) X(2, 2) X(2, 3) X(2, 4) \
                     X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(4, 1) X(4, 2) X(4, 3) X(4, 4)
#define KOUT_NV 4
#define KOUT_MRMAX 4
#define KOUT_ACC 16
#define KOUT_MR(nv) 4
#define KOUT_LIST(X) X(1, 1) X(2, 1) X(3, 1) X(4, 1) X(1, 2) X(2, 2) X(3, 2) X(4, 2) \
                     X(1, 3) X(2, 3) X(3, 3) X(4, 3) X(1, 4) X(2, 4) X(3, 4) X(4, 4)
#define KOUT_NVW KOUT_NV
#define KOUT_MRW(nv) 1
#define KOUT_LISTW(X)
#include "src/lf_cpu_impl.h"

/* ---- choice of instruction set ------------------------------------------------------------------- */
enum { ISA_GENERIC, ISA_AVX2, ISA_AVX512, ISA_N };
static const char *const isa_names[ISA_N] = {"generic", "avx2", "avx512"};

typedef struct {
    void (*fwd)(const lf_dims *, const float *, const float *, float *, cn_region);
    void (*bwd_data)(const lf_dims *, const float *, const float *, float *, cn_region);
    void (*bwd_filter)(const lf_dims *, const float *, const float *, float *, cn_region);
} lf_isa_fns;

static const lf_isa_fns isa_fns[ISA_N] = {
    {lf_fwd_generic, lf_bwd_data_generic, lf_bwd_filter_generic},
#ifdef LF_HAVE_X86
    {lf_fwd_avx2, lf_bwd_data_avx2, lf_bwd_filter_avx2},
    {lf_fwd_avx512, lf_bwd_data_avx512, lf_bwd_filter_avx512},
#endif
};

static int isa_supported(int id)
{
    switch (id) {
    case ISA_GENERIC:
        return 1;
#ifdef LF_HAVE_X86
    case ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    default:
        return 0;
    }
}

static int isa_auto(void)
{
    return isa_supported(ISA_AVX512) ? ISA_AVX512 : isa_supported(ISA_AVX2) ? ISA_AVX2 : ISA_GENERIC;
}

static int isa_lookup(const char *name)
{
    for (int k = 0; k < ISA_N; k++)
        if (strcmp(name, isa_names[k]) == 0)
            return k;
    return strcmp(name, "auto") == 0 ? isa_auto() : -1;
}

static int isa_cur = ISA_GENERIC;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void isa_init(void)
{
    isa_cur = isa_auto();
    const char *env = getenv("COTSNET_CPU_ISA");
    if (!env || !*env)
        return;
    int k = isa_lookup(env);
    if (k >= 0 && isa_supported(k))
        isa_cur = k;
    else
        fprintf(stderr, "cotsnet: COTSNET_CPU_ISA=%s: %s; using %s\n", env,
                k < 0 ? "unknown (generic, avx2, avx512 or auto)" : "not supported by this CPU",
                isa_names[isa_cur]);
}

static const lf_isa_fns *isa_get(void)
{
    pthread_once(&isa_once, isa_init);
    return &isa_fns[isa_cur];
}

const char *lf_cpu_isa(void)
{
    isa_get();
    return isa_names[isa_cur];
}

int lf_cpu_isa_supported(const char *name)
{
    int k = name ? isa_lookup(name) : -1;
    return k >= 0 && isa_supported(k);
}

int lf_cpu_set_isa(const char *name)
{
    isa_get();
    int k = name ? isa_lookup(name) : -1;
    if (k < 0)
        return cn_set_error("lf_cpu_set_isa: unknown instruction set '%s' (generic, avx2, avx512 or auto)",
                            name ? name : "(null)");
    if (!isa_supported(k))
        return cn_set_error("lf_cpu_set_isa: this CPU (or build) cannot run %s", isa_names[k]);
    isa_cur = k;
    return CN_OK;
}

/* ---- the public functions ------------------------------------------------------------------------ */

/* The same checks, in the same order and with the same outcome, as the reference (src/lf_ref.c). */
static int lf_cpu_args(const char *op, const lf_dims *d, cn_region rg, int arrays_given)
{
    return lf_check_call(op, d, rg, arrays_given);
}

static int region_empty(cn_region rg) { return rg.i0 >= rg.i1 || rg.j0 >= rg.j1; }

int lf_forward_cpu(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    if (lf_cpu_args("lf_forward_cpu", d, rg, x && w && y) != CN_OK)
        return CN_EINVAL;
    if (!region_empty(rg))
        isa_get()->fwd(d, x, w, y, rg);
    return CN_OK;
}

int lf_backward_data_cpu(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    if (lf_cpu_args("lf_backward_data_cpu", d, rg, w && dy && dx) != CN_OK)
        return CN_EINVAL;
    if (!region_empty(rg))
        isa_get()->bwd_data(d, w, dy, dx, rg);
    return CN_OK;
}

int lf_backward_filter_cpu(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    if (lf_cpu_args("lf_backward_filter_cpu", d, rg, x && dy && dw) != CN_OK)
        return CN_EINVAL;
    if (!region_empty(rg))
        isa_get()->bwd_filter(d, x, dy, dw, rg);
    return CN_OK;
}
