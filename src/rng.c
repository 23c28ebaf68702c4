/* rng.c: Philox4x32-10. The counter is (index lo, index hi, stream lo, stream hi), the key is the seed. */
#include "src/rng.h"

#include "src/rng_isa.h"
#include "src/vmath.h"

#include <math.h>
#include <pthread.h>

/* One Philox4x32 round on the counter c under the round's key (k0, k1). */
static inline void philox_round(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)0xD2511F53u * *c0, p1 = (uint64_t)0xCD9E8D57u * *c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ *c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ *c3 ^ k1;
    *c1 = (uint32_t)p1;
    *c3 = (uint32_t)p0;
    *c0 = n0;
    *c2 = n2;
}

void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        philox_round(&c0, &c1, &c2, &c3, k0, k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline double to_unit(uint32_t w) { return ((double)w + 0.5) * (1.0 / 4294967296.0); }

double rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    philox4x32(seed, stream, index, w);
    return to_unit(w[0]);
}

double rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double v;
    rng_normal_span(seed, stream, index, 1, &v);
    return v;
}

/* philox4x32 on LANES consecutive counters at once (index0 + lane), the lanes in separate arrays so that
 * the compiler interleaves (or vectorizes) their rounds; only words 0 and 1 are kept (rng_normal's). */
enum { LANES = 8 };
static void philox_lanes(uint64_t seed, uint64_t stream, uint64_t index0, uint32_t w0[LANES], uint32_t w1[LANES])
{
    uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    for (int l = 0; l < LANES; l++) {
        uint64_t index = index0 + (uint64_t)l;
        c0[l] = (uint32_t)index, c1[l] = (uint32_t)(index >> 32);
        c2[l] = (uint32_t)stream, c3[l] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        for (int l = 0; l < LANES; l++)
            philox_round(&c0[l], &c1[l], &c2[l], &c3[l], k0, k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < LANES; l++)
        w0[l] = c0[l], w1[l] = c1[l];
}

void philox_words_generic(uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1)
{
    for (int i = 0; i < n; i += LANES) {
        uint32_t a[LANES], b[LANES];
        philox_lanes(seed, stream, index0 + (uint64_t)i, a, b);
        for (int l = 0; l < LANES && i + l < n; l++)
            w0[i + l] = a[l], w1[i + l] = b[l];
    }
}

/* Whether this build and CPU run the sixteen-lane words (AVX-512F). */
static int wide_supported(void)
{
#ifdef RNG_HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int philox_words_at(int lanes, uint64_t seed, uint64_t stream, uint64_t index0, int n, uint32_t *w0, uint32_t *w1)
{
    if (lanes == 8)
        philox_words_generic(seed, stream, index0, n, w0, w1);
#ifdef RNG_HAVE_X86
    else if (lanes == 16 && wide_supported())
        philox_words_avx512(seed, stream, index0, n, w0, w1);
#endif
    else
        return -1;
    return 0;
}

typedef void (*words_fn)(uint64_t, uint64_t, uint64_t, int, uint32_t *, uint32_t *);
static words_fn words = philox_words_generic;
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

static void pick_words(void)
{
#ifdef RNG_HAVE_X86
    if (wide_supported())
        words = philox_words_avx512;
#endif
}

/* Box-Muller on words 0 and 1 of each counter's block: sqrt(-2 log u1) cos(2 pi u2), log and cos from
 * vmath (the same bits on every CPU), 256 values at a time; the words sixteen counters at a time where
 * the CPU has AVX-512F (src/rng_x86.c), else eight (the same words). */
void rng_normal_span(uint64_t seed, uint64_t stream, uint64_t index0, int n, double *out)
{
    enum { CHUNK = 256 };
    double r[CHUNK], a[CHUNK];
    uint32_t w0[CHUNK], w1[CHUNK];
    pthread_once(&words_once, pick_words);
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        const int m = n - i0 < CHUNK ? n - i0 : CHUNK;
        words(seed, stream, index0 + (uint64_t)i0, m, w0, w1);
        for (int i = 0; i < m; i++) {
            r[i] = to_unit(w0[i]);
            a[i] = 6.283185307179586 * to_unit(w1[i]);
        }
        vm_span(VM_LOG, r, r, m);
        vm_span(VM_COS, a, a, m);
        for (int i = 0; i < m; i++)
            out[i0 + i] = sqrt(-2.0 * r[i]) * a[i];
    }
}
