/* lf_cpu_impl.h: the blocked local-filter kernels, written once and compiled once per instruction set.
 *
 * Included (no include guard, on purpose) by lf_cpu.c (plain C), lf_cpu_avx2.c and lf_cpu_avx512.c,
 * each of which first defines a small vector layer:
 *   VL                      lanes per vector; vf the vector type
 *   V_ZERO() V_LOAD(p) V_STORE(p, v) V_BCAST(p) V_FMA(a, b, c) (a*b + c) V_ADD(a, b)
 *   vm, V_MASK_LO(n), V_MASK_HI(n)   lane masks with lanes [0, n) / [VL-n, VL) on, 1 <= n <= VL
 *   V_LOADM(p, k), V_STOREM(p, k, v)  masked: lanes that are off are neither read (they load as 0) nor
 *                                     written, so a masked access never faults past an array's end
 *   V_KEEP(v, k)                      v with the lanes that are off set to 0
 *   v_reduce(acc, n, out)             out[i] = sum of the lanes of acc[i] for i < n
 *   SFX(name)                         name with the set's suffix (lf_fwd -> lf_fwd_avx2)
 *   KDOT_MB, KDOT_BB, KDOT_LIST(X)    forward register blocks: X(mb, bb) for every mb <= KDOT_MB, bb <= KDOT_BB
 *   KOUT_NV, KOUT_MR(nv), KOUT_LIST(X) backward register blocks: X(mr, nv), mr <= KOUT_MR(nv), nv <= KOUT_NV
 *   KOUT_NVW, KOUT_MRW(nv), KOUT_LISTW(X)  wide blocks, mode 0 only: X(mr, nv), mr <= KOUT_MRW(nv),
 *                                     KOUT_NV < nv <= KOUT_NVW
 *
 * At one output location (i, j) the local filter is three small matrix products over k = (dy, dx, c),
 * whose patch X[b, k] is r runs (field rows dy) of L = r*C contiguous floats in NHWC:
 *   forward          Y[b, m]   = sum_k X[b, k] W[m, k]
 *   backward filter  dW[m, k] += sum_b dY[b, m] X[b, k]
 *   backward data    dX[b, k] += sum_m dY[b, m] W[m, k]     (fields of neighbouring locations overlap)
 * Two register-blocked micro-kernels do all the work:
 *   kdot  dot products along k (forward with few images, lf_fwd_images): x and w are both contiguous
 *         along each run, so nothing is copied; a run's partial last vector uses masked loads; lane sums
 *         at the end;
 *   kout  outer products: broadcast one operand, vectors of the other, accumulators in registers, then
 *         added into the output (backward filter: vectors along a run of dw, p = b; backward data: vectors
 *         along a pixel's channels, summed over every field that covers the pixel, p = m).
 * A vector row whose length is not a multiple of VL ends in a partial vector. kout then shifts the last
 * vector back so that it ends at the row's end and switches off the lanes the previous vector already
 * did (mode 1): every store stays inside the row and needs no mask (masked stores are slow on AMD). Rows
 * shorter than one vector use masked loads and stores (mode 2).
 * With few channels (C = 1, 3: vectors along C or r*C would be mostly empty) forward and backward data
 * copy x or dy into an images-innermost layout and vectorise over the batch instead (see "small C");
 * forward does so with any C once the images fill whole vectors (lf_fwd_images).
 * Backward filter copies x once per call into rows with the images between them (see "backward filter").
 * The weights are never copied: each is touched once per pass, so a pass is at best as fast as reading
 * (forward, backward data) or reading and writing (backward filter) all of them.
 *
 * Threads: forward and backward filter split the output locations (each writes its own y or dw);
 * backward data splits the input pixels (each sums every term of its own dx elements, in an order that
 * does not depend on the thread count). No two threads write the same element. Forward over the
 * images (lf_fwd_t), backward data with few channels (lf_bwd_data_t) and backward filter over the maps
 * share their loops' items with lf_share_next (below): each thread its static block first, then the rest
 * of a slower thread's; which thread does an item does not change its bits (tests/test_lf_cpu.c checks 3
 * threads against 1). */

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "src/common.h"
#include "src/ops.h"

/* 8 x 8 transposes (an x86 instance defines them first: src/lf_cpu_tr8.h); plain C otherwise */
#ifndef LF_TR8
#define LF_TR8(src, ss, dst, ds)                                                                          \
    for (int tr_i = 0; tr_i < 8; tr_i++)                                                                  \
        for (int tr_j = 0; tr_j < 8; tr_j++)                                                              \
            (dst)[tr_i * (ds) + tr_j] = (src)[tr_j * (ss) + tr_i]
#define LF_TR8ADD(src, ss, dst, ds)                                                                       \
    for (int tr_i = 0; tr_i < 8; tr_i++)                                                                  \
        for (int tr_j = 0; tr_j < 8; tr_j++)                                                              \
            (dst)[tr_i * (ds) + tr_j] += (src)[tr_j * (ss) + tr_i]
#endif

#if defined(__GNUC__)
#define LF_INLINE static inline __attribute__((always_inline))
#else
#define LF_INLINE static inline
#endif

/* ---- dot products (forward) --------------------------------------------------------------------------
 * y[b*yb + m*ym] (=, or += when acc) sum over runs (nseg of them) of x[b*xb + seg*xseg + q] * w[m*wm + seg*L + q],
 * q < L, for b < bb, m < mb; L = nfull*VL + tail. */
LF_INLINE void SFX(kdot_core)(const int mb, const int bb, const int has_tail, const float *x, ptrdiff_t xb,
                              ptrdiff_t xseg, const float *w, ptrdiff_t wm, int nseg, int L, int tail,
                              float *y, ptrdiff_t yb, ptrdiff_t ym, int accum)
{
    vf acc[KDOT_MB * KDOT_BB];
    const int nfull = L / VL;
#pragma GCC unroll 32
    for (int a = 0; a < mb * bb; a++)
        acc[a] = V_ZERO();
    vm km = V_MASK_LO(has_tail ? tail : VL);
    for (int seg = 0; seg < nseg; seg++) {
        const float *xs = x + seg * xseg;
        const float *ws = w + (ptrdiff_t)seg * L;
        for (int v = 0; v < nfull; v++) {
            vf xv[KDOT_BB];
#pragma GCC unroll 16
            for (int b = 0; b < bb; b++)
                xv[b] = V_LOAD(xs + b * xb + v * VL);
#pragma GCC unroll 16
            for (int m = 0; m < mb; m++) {
                vf wv = V_LOAD(ws + m * wm + v * VL);
#pragma GCC unroll 16
                for (int b = 0; b < bb; b++)
                    acc[m * bb + b] = V_FMA(wv, xv[b], acc[m * bb + b]);
            }
        }
        if (has_tail) {
            vf xv[KDOT_BB];
#pragma GCC unroll 16
            for (int b = 0; b < bb; b++)
                xv[b] = V_LOADM(xs + b * xb + nfull * VL, km);
#pragma GCC unroll 16
            for (int m = 0; m < mb; m++) {
                vf wv = V_LOADM(ws + m * wm + nfull * VL, km);
#pragma GCC unroll 16
                for (int b = 0; b < bb; b++)
                    acc[m * bb + b] = V_FMA(wv, xv[b], acc[m * bb + b]);
            }
        }
    }
    float out[KDOT_MB * KDOT_BB];
    v_reduce(acc, mb * bb, out);
    for (int b = 0; b < bb; b++)
        for (int m = 0; m < mb; m++) {
            float *yp = y + b * yb + m * ym;
            *yp = accum ? *yp + out[m * bb + b] : out[m * bb + b];
        }
}

#define KDOT_ARGS                                                                                        \
    const float *x, ptrdiff_t xb, ptrdiff_t xseg, const float *w, ptrdiff_t wm, int nseg, int L, int tail, \
        float *y, ptrdiff_t yb, ptrdiff_t ym, int accum
typedef void (*SFX(kdot_fn))(KDOT_ARGS);
#define KDOT_DEF(mb, bb)                                                                                  \
    static void SFX(kdot_##mb##_##bb)(KDOT_ARGS)                                                          \
    {                                                                                                     \
        SFX(kdot_core)(mb, bb, 0, x, xb, xseg, w, wm, nseg, L, tail, y, yb, ym, accum);                   \
    }                                                                                                     \
    static void SFX(kdot_##mb##_##bb##_t)(KDOT_ARGS)                                                      \
    {                                                                                                     \
        SFX(kdot_core)(mb, bb, 1, x, xb, xseg, w, wm, nseg, L, tail, y, yb, ym, accum);                   \
    }
KDOT_LIST(KDOT_DEF)
#undef KDOT_DEF

/* [has_tail][mb][bb] */
static const SFX(kdot_fn) SFX(kdot_tab)[2][KDOT_MB + 1][KDOT_BB + 1] = {
#define KDOT_TAB(mb, bb) [0][mb][bb] = SFX(kdot_##mb##_##bb), [1][mb][bb] = SFX(kdot_##mb##_##bb##_t),
    KDOT_LIST(KDOT_TAB)
#undef KDOT_TAB
};

/* ---- backward: outer products --------------------------------------------------------------------
 * For each of nblk blocks of mr rows (block k: a + k*mr*ai, c + k*mr*ci):
 *   c[i*ci + lane] += sum over segments g < nseg, p < np of  a[aoff[g] + i*ai + p*ap] * bm[boff[g] + p*bp + lane]
 * for i < mr and the nv vectors of lanes at 0, VL, ..., (nv-2)*VL and `last` (= (nv-1)*VL in mode 0);
 * aoff/boff NULL: one segment at offset 0. Mode 1: the last vector starts at `last` (shifted back,
 * inside the run) and only its top nlive lanes count: it is loaded whole (every lane is inside the run)
 * and its other lanes are zeroed once, in the accumulators, before they are added into c. Mode 2: the
 * last vector's first nlive lanes only, masked loads and stores (a run shorter than VL). */
LF_INLINE void SFX(kout_core)(const int mr, const int nv, const int mode, const int split, int nblk, int nseg,
                              const ptrdiff_t *aoff, const ptrdiff_t *boff, int np, const float *a, ptrdiff_t ai,
                              ptrdiff_t ap, const float *bm, ptrdiff_t bp, ptrdiff_t last, int nlive, float *c,
                              ptrdiff_t ci, ptrdiff_t ai2, ptrdiff_t ci2)
{
    /* split: rows i >= mr/2 sit ai2 (in a) and ci2 (in c) after the first half's: i*ai becomes
     * ai2 + (i - mr/2)*ai (one block, mode 0) */
#define KOUT_ROW(i, st, st2) (split && (i) >= mr / 2 ? (st2) + ((i) - mr / 2) * (st) : (i) * (st))
    ptrdiff_t off[KOUT_NVW];
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        off[v] = (mode != 0 && v == nv - 1) ? last : (ptrdiff_t)v * VL;
    const vm km = mode == 1 ? V_MASK_HI(nlive) : V_MASK_LO(mode == 2 ? nlive : VL);
    for (int blk = 0; blk < nblk; blk++) {
        vf acc[KOUT_ACC];
#pragma GCC unroll 32
        for (int t = 0; t < mr * nv; t++)
            acc[t] = V_ZERO();
        for (int g = 0; g < nseg; g++) {
            const float *ag = aoff ? a + aoff[g] : a;
            const float *bg = boff ? bm + boff[g] : bm;
            for (int p = 0; p < np; p++) {
                vf bv[KOUT_NVW];
#pragma GCC unroll 16
                for (int v = 0; v < nv; v++)
                    bv[v] = (mode == 2 && v == nv - 1) ? V_LOADM(bg + off[v], km) : V_LOAD(bg + off[v]);
#pragma GCC unroll 32
                for (int i = 0; i < mr; i++) {
                    vf av = V_BCAST(ag + KOUT_ROW(i, ai, ai2));
#pragma GCC unroll 16
                    for (int v = 0; v < nv; v++)
                        acc[i * nv + v] = V_FMA(av, bv[v], acc[i * nv + v]);
                }
                ag += ap;
                bg += bp;
            }
        }
#pragma GCC unroll 32
        for (int i = 0; i < mr; i++) {
#pragma GCC unroll 16
            for (int v = 0; v < nv; v++) {
                float *cp = c + KOUT_ROW(i, ci, ci2) + off[v];
                if (mode == 1 && v == nv - 1)
                    acc[i * nv + v] = V_KEEP(acc[i * nv + v], km);
                if (mode == 2)
                    V_STOREM(cp, km, V_ADD(V_LOADM(cp, km), acc[i * nv + v]));
                else
                    V_STORE(cp, V_ADD(V_LOAD(cp), acc[i * nv + v]));
            }
        }
        a += mr * ai;
        c += mr * ci;
    }
#undef KOUT_ROW
}

#define KOUT_ARGS                                                                                       \
    int nblk, int nseg, const ptrdiff_t *aoff, const ptrdiff_t *boff, int np, const float *a, ptrdiff_t ai, \
        ptrdiff_t ap, const float *bm, ptrdiff_t bp, ptrdiff_t last, int nlive, float *c, ptrdiff_t ci
typedef void (*SFX(kout_fn))(KOUT_ARGS);
#define KOUT_DEF1(mr, nv, mode)                                                                          \
    static void SFX(kout_##mr##_##nv##_##mode)(KOUT_ARGS)                                                \
    {                                                                                                    \
        SFX(kout_core)(mr, nv, mode, 0, nblk, nseg, aoff, boff, np, a, ai, ap, bm, bp, last, nlive, c, ci, 0, 0); \
    }
#define KOUT_DEF(mr, nv) KOUT_DEF1(mr, nv, 0) KOUT_DEF1(mr, nv, 1)
KOUT_LIST(KOUT_DEF)
#if VL > 1
#define KOUT_DEF2(mr, nv) KOUT_DEF1(mr, nv, 2)
KOUT_LIST1(KOUT_DEF2)
#undef KOUT_DEF2
#endif
#define KOUT_DEFW(mr, nv) KOUT_DEF1(mr, nv, 0)
KOUT_LISTW(KOUT_DEFW)
#undef KOUT_DEFW
#undef KOUT_DEF
#undef KOUT_DEF1

/* [mode][nv][mr] */
static const SFX(kout_fn) SFX(kout_tab)[3][KOUT_NVW + 1][KOUT_MRMAX + 1] = {
#define KOUT_TAB(mr, nv) [0][nv][mr] = SFX(kout_##mr##_##nv##_0), [1][nv][mr] = SFX(kout_##mr##_##nv##_1),
    KOUT_LIST(KOUT_TAB)
#undef KOUT_TAB
#define KOUT_TABW(mr, nv) [0][nv][mr] = SFX(kout_##mr##_##nv##_0),
    KOUT_LISTW(KOUT_TABW)
#undef KOUT_TABW
#if VL > 1
#define KOUT_TAB2(mr, nv) [2][nv][mr] = SFX(kout_##mr##_##nv##_2),
    KOUT_LIST1(KOUT_TAB2)
#undef KOUT_TAB2
#endif
};

/* Split blocks (backward data, C = 1: 2 input rows x hr pixels): 2*hr rows, the second hr at ai2 / ci2,
 * one block, mode 0, nv <= KOUT_NV. [nv][hr] */
#define KOUTS_ARGS                                                                                      \
    int nseg, const ptrdiff_t *aoff, const ptrdiff_t *boff, int np, const float *a, ptrdiff_t ai, ptrdiff_t ap, \
        const float *bm, ptrdiff_t bp, float *c, ptrdiff_t ci, ptrdiff_t ai2, ptrdiff_t ci2
typedef void (*SFX(kouts_fn))(KOUTS_ARGS);
#define KOUTS_DEF(hr, nv)                                                                                 \
    static void SFX(kouts_##hr##_##nv)(KOUTS_ARGS)                                                        \
    {                                                                                                     \
        SFX(kout_core)(2 * hr, nv, 0, 1, 1, nseg, aoff, boff, np, a, ai, ap, bm, bp, 0, VL, c, ci, ai2, ci2);   \
    }
#if KOUT_NV >= 4
#define KOUTS_LIST(X) X(1, 1) X(2, 1) X(1, 2) X(2, 2) X(1, 3) X(2, 3) X(1, 4) X(2, 4)
#else
#define KOUTS_LIST(X) X(1, 1) X(2, 1) X(1, 2) X(2, 2) X(1, 3) X(2, 3)
#endif
KOUTS_LIST(KOUTS_DEF)
#undef KOUTS_DEF
static const SFX(kouts_fn) SFX(kouts_tab)[KOUT_NV + 1][3] = {
#define KOUTS_TAB(hr, nv) [nv][hr] = SFX(kouts_##hr##_##nv),
    KOUTS_LIST(KOUTS_TAB)
#undef KOUTS_TAB
};
#undef KOUTS_LIST

/* All n rows in blocks as even as possible of at most KOUT_MR(nv) (KOUT_MRW(nv) for a wide block, nv >
 * KOUT_NV, which exists in mode 0 only): at most two kernel calls. */
static void SFX(kout_rows)(int n, int nv, int mode, int nseg, const ptrdiff_t *aoff, const ptrdiff_t *boff, int np,
                           const float *a, ptrdiff_t ai, ptrdiff_t ap, const float *bm, ptrdiff_t bp,
                           ptrdiff_t last, int nlive, float *c, ptrdiff_t ci)
{
    const int mrmax = nv > KOUT_NV ? KOUT_MRW(nv) : KOUT_MR(nv);
    const int nb = (n + mrmax - 1) / mrmax, q = n / nb, big = n % nb; /* big blocks of q+1, then q */
    if (big) {
        SFX(kout_tab)[mode][nv][q + 1](big, nseg, aoff, boff, np, a, ai, ap, bm, bp, last, nlive, c, ci);
        a += (ptrdiff_t)big * (q + 1) * ai;
        c += (ptrdiff_t)big * (q + 1) * ci;
    }
    if (nb > big)
        SFX(kout_tab)[mode][nv][q](nb - big, nseg, aoff, boff, np, a, ai, ap, bm, bp, last, nlive, c, ci);
}

/* ---- plans -------------------------------------------------------------------------------------- */

/* How one run of L floats is cut into chunks of at most nvmax vectors for kout: nch chunks, as even
 * as possible; only the final chunk may end in a partial vector (mode 1 or 2). */
typedef struct {
    int nvec, nch;   /* vectors in the run, chunks */
    int mode_last;   /* mode of the final chunk */
    int last, nlive; /* its last vector's offset in the chunk and live lanes (modes 1 and 2) */
} SFX(lf_runplan);

/* Size of block k when n items are cut into nb blocks as even as possible; start of block k. */
static inline int SFX(lf_blk)(int n, int nb, int k) { return n / nb + (k < n % nb); }
static inline int SFX(lf_blk0)(int n, int nb, int k) { return k * (n / nb) + CN_MIN(k, n % nb); }

static void SFX(lf_plan_run)(SFX(lf_runplan) *p, int L, int nvmax)
{
    p->nvec = (L + VL - 1) / VL;
    p->nch = (p->nvec + nvmax - 1) / nvmax;
    p->mode_last = 0;
    p->last = 0;
    p->nlive = VL;
    const int tail = L % VL;
    if (tail) {
        if (L >= VL) {
            p->mode_last = 1; /* the last vector ends at the run's end */
            p->last = L - VL - SFX(lf_blk0)(p->nvec, p->nch, p->nch - 1) * VL;
            p->nlive = tail;
        } else {
            p->mode_last = 2;
            p->nlive = L;
        }
    }
}

/* Should a job of this many multiply-adds be spread over threads? */
static inline int SFX(lf_par)(double fmas) { return fmas > 2e5; }

/* This thread's number in its team, the team's size, and the most threads a parallel region may have. */
static inline int SFX(lf_tid)(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int SFX(lf_nthr)(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static inline int SFX(lf_maxthr)(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- sharing a loop's items among the threads -------------------------------------------------------
 * Each thread first takes the items of its own block, the one schedule(static) would give it, front to
 * back; a thread whose block is done then takes items from the back of the block with the most left.
 * So a thread's items stay mostly consecutive (the locality of a static split), but a thread that runs
 * slower for a while (on the 2-core test machine either core, by turns, now and then 10 to 40 % slower
 * over tens of microseconds, even in a loop of FMAs on registers) no longer holds the others at the
 * barrier (bench/README.md, "Two threads on small C"). A block's (front, back) pair is one 64-bit atomic word, one cache
 * line per thread. Which thread does an item never changes its result: every item writes only its own
 * outputs, and sums in an order of its own. Use, inside a parallel region:
 *     lf_share_init(sh, n);                               every thread, before its first lf_share_next
 *     for (int it; (it = lf_share_next(sh)) >= 0;) ...    items 0 .. n-1, each once over the team
 * then a barrier before the next lf_share_init of sh (sh from lf_share_new: empty blocks). */
typedef struct {
    _Atomic unsigned long long fb; /* front | back << 32 */
    char pad[64 - sizeof(unsigned long long)];
} SFX(lf_share);

static inline unsigned long long SFX(lf_fb)(unsigned f, unsigned b) { return f | (unsigned long long)b << 32; }

/* One empty block per thread that a parallel region may have; per calling thread, kept from one call to
 * the next like the buffers of lf_wsget (no allocation per call); not to be freed. */
static _Thread_local SFX(lf_share) *SFX(lf_sh);
static _Thread_local int SFX(lf_shn);
static SFX(lf_share) *SFX(lf_share_new)(void)
{
    const int nthr = SFX(lf_maxthr)();
    if (nthr > SFX(lf_shn)) {
        free(SFX(lf_sh));
        SFX(lf_sh) = aligned_alloc(64, (size_t)nthr * sizeof(SFX(lf_share)));
        if (!SFX(lf_sh))
            cn_fatal("out of memory allocating %zu bytes", (size_t)nthr * sizeof(SFX(lf_share)));
        SFX(lf_shn) = nthr;
    }
    for (int t = 0; t < nthr; t++)
        atomic_init(&SFX(lf_sh)[t].fb, 0);
    return SFX(lf_sh);
}

static void SFX(lf_share_init)(SFX(lf_share) *sh, int n)
{
    const int nt = SFX(lf_nthr)(), t = SFX(lf_tid)();
    const int f = SFX(lf_blk0)(n, nt, t), b = f + SFX(lf_blk)(n, nt, t);
    atomic_store(&sh[t].fb, SFX(lf_fb)((unsigned)f, (unsigned)b));
}

static int SFX(lf_share_next)(SFX(lf_share) *sh)
{
    const int nt = SFX(lf_nthr)(), t = SFX(lf_tid)();
    unsigned long long v = atomic_load(&sh[t].fb);
    while ((unsigned)v < (unsigned)(v >> 32)) /* own block: the front item */
        if (atomic_compare_exchange_weak(&sh[t].fb, &v, v + 1))
            return (int)(unsigned)v;
    for (;;) { /* the back item of the block with the most left */
        int best = -1;
        unsigned most = 0;
        for (int o = 0; o < nt; o++) {
            const unsigned long long w = atomic_load(&sh[o].fb);
            const unsigned f = (unsigned)w, b = (unsigned)(w >> 32);
            if (f < b && b - f > most)
                best = o, most = b - f;
        }
        if (best < 0)
            return -1;
        v = atomic_load(&sh[best].fb);
        while ((unsigned)v < (unsigned)(v >> 32)) {
            const unsigned b = (unsigned)(v >> 32) - 1;
            if (atomic_compare_exchange_weak(&sh[best].fb, &v, SFX(lf_fb)((unsigned)v, b)))
                return (int)b;
        }
    }
}

/* Units of consecutive locations of a row (small-C forward and backward filter): into how many a row of
 * cols locations is cut, as evenly as possible: at most nlmax locations a unit, and enough units (about
 * 8 a thread, so that taking units from a slower thread's block, lf_share_next, can even out a tenth of
 * its time) for every thread. */
static int SFX(lf_units)(int rows, int cols, int nlmax)
{
    const int nthr = SFX(lf_maxthr)();
    const int ncb = CN_MAX((cols + nlmax - 1) / nlmax, (8 * nthr + rows - 1) / rows);
    return CN_MAX(1, CN_MIN(cols, ncb));
}

/* Does a vector along a pixel's C channels keep at least 3/4 of its lanes busy? If not (C = 1, 3 with
 * AVX2), the passes use the images-innermost layout below. */
static int SFX(lf_gather_ok)(int C)
{
    const int cv = (C + VL - 1) / VL * VL;
    return 4 * C >= 3 * cv; /* at least 3/4 of the lanes busy */
}

/* Forward with the images innermost (lf_fwd_t), or dot products along x's runs in NHWC (lf_fwd_nhwc)?
 * The images, whenever they fill at least one whole vector and 3/4 of their lanes, and there are at
 * least 8 FMA chains (maps x vectors of images): so also with many channels, where the blocking of
 * lf_fwd_t measured 1.1 to 2.9x faster than the dot products (AVX2, C = 8 to 128, B >= 8; bench/README.md,
 * "Forward with many channels over the images"). The dot products stay for fewer images (B < VL: 0.5 to
 * 1.0x there), batches that would leave many lanes idle (B = 9: 0.9 to 1.0x) and a few maps over few
 * vectors (B = 16 and M = 1 to 3: 0.7 to 0.9x; B = 32, M = 1: 1.0x). */
static int SFX(lf_fwd_images)(const lf_dims *d)
{
    const int Bp = (d->B + VL - 1) / VL * VL;
    if (!SFX(lf_gather_ok)(d->C))
        return 1;
    return d->B >= VL && 4 * d->B >= 3 * Bp && d->M * (Bp / VL) >= 8;
}

/* Output rows (or columns) i in [lo, hi) whose field covers input row u: i*s <= u < i*s + r. */
static inline void SFX(lf_cover)(int u, int r, int s, int lo, int hi, int *a, int *b)
{
    int ia = u - r + 1 <= 0 ? 0 : (u - r + 1 + s - 1) / s;
    int ib = u / s + 1;
    *a = CN_MAX(ia, lo);
    *b = CN_MIN(ib, hi);
}

/* ---- forward, few images (lf_fwd_images; otherwise lf_fwd_t below) ------------------------------
 * Per location: blocks of mb maps x bb images. When the location's filters (M*K floats) fit in L1 the
 * image blocks are the outer loop (the images' patch rows stay in L1 across the map blocks, the filters
 * anyway); otherwise the map blocks are (a block of filter rows stays in L1 across the images). */
static void SFX(lf_fwd_nhwc)(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const int tail = L % VL;
    const int nmb = (M + KDOT_MB - 1) / KDOT_MB, nbb = (B + KDOT_BB - 1) / KDOT_BB;
    const int images_outer = M <= B;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    const double fmas = (double)nloc * B * M * (double)K;
#pragma omp parallel for schedule(static) if (SFX(lf_par)(fmas))
    for (ptrdiff_t l = 0; l < nloc; l++) {
        const int i = rg.i0 + (int)(l / cols), j = rg.j0 + (int)(l % cols);
        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
        const float *xl = x + (ptrdiff_t)i * s * xrow + (ptrdiff_t)j * s * C;
        const float *wl = w + loc * M * K;
        float *yl = y + loc * M;
        const int nouter = images_outer ? nbb : nmb, ninner = images_outer ? nmb : nbb;
        for (int ko = 0; ko < nouter; ko++)
            for (int ki = 0; ki < ninner; ki++) {
                const int mk = images_outer ? ki : ko, bk = images_outer ? ko : ki;
                const int mb = SFX(lf_blk)(M, nmb, mk), m0 = SFX(lf_blk0)(M, nmb, mk);
                const int bb = SFX(lf_blk)(B, nbb, bk), b0 = SFX(lf_blk0)(B, nbb, bk);
                SFX(kdot_tab)[tail != 0][mb][bb](xl + b0 * xb, xb, xrow, wl + m0 * K, K, r, L, tail,
                                                 yl + b0 * yb + m0, yb, 1, 0);
            }
    }
}

/* ---- backward filter ----------------------------------------------------------------------------
 * Per location a small matrix product dW[M, K] += dY[M, B] X[B, K], one run of x at a time: kout with
 * p = b (the whole batch), rows = maps in register blocks of KOUT_MR(nv) (AVX2: 4 maps x 3 vectors,
 * 7 loads per 12 FMAs), vectors along a chunk of at most KOUT_NV vectors of the run. The chunk's B x nv
 * vectors of x stay in L1 while every map block uses them. For that:
 *  - x is first copied, once per call, into rows with the images between them: xt[u][b][v][c], each
 *    image's row padded to S floats, S*4 bytes an odd number of 64-byte lines. A field row of image b
 *    is still L = r*C contiguous floats, and the B images' rows sit S floats apart, in different L1
 *    sets. (In NHWC they sit a whole image apart, often a multiple of 4 KiB: every image in one set, and
 *    a chunk of x would leave L1 before the next map block reads it again.)
 *  - dy is copied too, once per call, into dyt[l][b][m]: each location's [B, M] block contiguous, for the
 *    same reason (read in place, its rows sit one image apart).
 *  - A run is a field row (r runs of L), or, when a row's vectors would keep fewer than 3/4 of their
 *    lanes busy (C = 1 with AVX2: L = r), the whole field copied per location into one run of K per
 *    image (xp, stride Sp, padded the same way).
 *  - Except with few channels and M = VL or 2 VL maps (kmap, below): then the vectors run over the maps,
 *    x is broadcast from xt in place (no per-location copy, no idle lane) and each block of up to 12
 *    floats of a field row is added into dw through an 8 x 8 transpose. The locations then go in units
 *    of a few consecutive ones of a row, field row by field row: the unit's locations read the same rows
 *    of xt one after the other, and the unit's dy is copied (at most 16 KB, not dyt) just before.
 *  - The filter rows of the next run (dw, read and written once per location; after a location's last
 *    run, the next location's first) are prefetched while the current run is computed (over maps, kmap,
 *    only when a field row takes several pieces: fastest of six alternating runs at 11:28, with and
 *    without it there, 1.88 / 1.85 ms on b128 32x32x3 and 0.99 / 1.00 ms on b32 64x64x3).
 * Each dw element's sum runs over the images in order and is then added once: the result does not
 * depend on the thread count (threads split the locations). */

/* dst[q] = src[q], q < n: whole vectors, the last one shifted back to end at n. */
static inline void SFX(lf_copy_run)(float *dst, const float *src, int n)
{
#if VL > 1
    if (n >= VL) {
        int q = 0;
        for (; q + VL <= n; q += VL)
            V_STORE(dst + q, V_LOAD(src + q));
        if (q < n)
            V_STORE(dst + n - VL, V_LOAD(src + n - VL));
        return;
    }
#endif
    for (int q = 0; q < n; q++)
        dst[q] = src[q];
}

/* n floats rounded up to an odd number of 64-byte lines. */
static inline ptrdiff_t SFX(lf_odd_lines)(ptrdiff_t n)
{
    const ptrdiff_t S = (n + 15) / 16 * 16;
    return (S / 16) % 2 == 0 ? S + 16 : S;
}

#if defined(__GNUC__)
#define LF_PREFETCHW(p) __builtin_prefetch(p, 1, 3)
#define LF_PREFETCH(p) __builtin_prefetch(p, 0, 3)
#else
#define LF_PREFETCHW(p) ((void)(p))
#define LF_PREFETCH(p) ((void)(p))
#endif

/* Prefetch (for writing) rows p + m*K, m < M, of n floats each; p NULL: nothing. Always inlined: GCC
 * deems a function that only prefetches free of effects and drops calls to it. */
LF_INLINE void SFX(lf_prefetch_rows)(const float *p, int M, ptrdiff_t K, int n)
{
    if (p)
        for (int m = 0; m < M; m++)
            for (int q = 0; q < n + 15; q += 16)
                LF_PREFETCHW(p + m * K + CN_MIN(q, n - 1));
}

/* n floats, 64-byte aligned, not cleared; free() them */
static float *SFX(lf_talloc)(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        cn_fatal("out of memory allocating %zu bytes", bytes);
    return p;
}

/* A call's large buffers (the copies xt, dyt, yt), kept from one call to the next, per calling thread and
 * slot (< LF_NWS): n floats, 64-byte aligned, not cleared, not to be freed. Allocated and freed by every
 * call, they were often handed back to the kernel by free() (glibc trims the heap's top) and page-faulted
 * in again by the next call: at b64 40x40x1 about 210 faults a backward-filter call, 0.47 -> 0.9 ms,
 * depending on what else the heap held. They grow to the largest size asked for, and live as long as
 * the thread. */
#define LF_NWS 2
static _Thread_local float *SFX(lf_ws)[LF_NWS];
static _Thread_local size_t SFX(lf_wsn)[LF_NWS];
static float *SFX(lf_wsget)(int slot, size_t n)
{
    if (n > SFX(lf_wsn)[slot]) {
        free(SFX(lf_ws)[slot]);
        SFX(lf_ws)[slot] = SFX(lf_talloc)(n);
        SFX(lf_wsn)[slot] = n;
    }
    return SFX(lf_ws)[slot];
}

/* dst[i*ds + j] = src[j*ss + i] (add: +=) for i < ni, j < nj: in 8 x 8 tiles (LF_TR8, LF_TR8ADD: whole
 * vectors with AVX), scalar at the edges. The tiles run along the rows of the side with the larger row
 * stride (the public layout, one image apart), eight of its rows at a time: read or written one float at
 * a time at a stride of an image, every image's line would sit in the same L1 set and miss. */
static void SFX(lf_tr)(const float *src, ptrdiff_t ss, float *dst, ptrdiff_t ds, int ni, int nj, int add)
{
    const int ni8 = ni & ~7, nj8 = nj & ~7;
    const int jout = ss >= ds; /* src's rows j are the strided ones: walk along them */
    const int no = jout ? nj : ni, nin = jout ? ni : nj, no8 = jout ? nj8 : ni8, nin8 = jout ? ni8 : nj8;
    for (int o = 0; o < no; o += 8) {
        const int oe = CN_MIN(o + 8, no);
        for (int q = 0; q < nin; q += 8) {
            const int i = jout ? q : o, j = jout ? o : q;
            if (o < no8 && q < nin8) {
                if (add)
                    LF_TR8ADD(src + j * ss + i, ss, dst + i * ds + j, ds);
                else
                    LF_TR8(src + j * ss + i, ss, dst + i * ds + j, ds);
                continue;
            }
            const int qe = CN_MIN(q + 8, nin);
            const int ie = jout ? qe : oe, je = jout ? oe : qe;
            for (int jj = j; jj < je; jj++)
                for (int ii = i; ii < ie; ii++) {
                    float *dp = dst + ii * ds + jj;
                    *dp = add ? *dp + src[jj * ss + ii] : src[jj * ss + ii];
                }
        }
    }
}

/* Few channels and M = VL or 2 VL maps (AVX2: C = 1, 3 and M = 8, 16): vectors over the maps instead of
 * along x's runs, so that no lane is idle and no field is copied per location. For kb consecutive floats
 * of a field row (q < kb) and the nmv vectors of maps (v < nmv):
 *   acc[q][v] = sum over b < B, in order, of x[b*xs + q] (broadcast) * dy[b*M + v*VL + lanes]
 * then dw[(v*VL + lane)*K + q] += acc[q][v], transposed through a small buffer (lf_tr). Per image: nmv
 * loads of dy and kb broadcasts of x for kb*nmv FMAs. */
#define KMAP_LIST1(X) X(1, 1) X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1) X(9, 1) X(10, 1) \
                      X(11, 1) X(12, 1)
#define KMAP_LIST(X) KMAP_LIST1(X) X(1, 2) X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2)
#define KMAP_KB(nmv) (12 / (nmv))
#define KMAP_PF 8 /* images ahead whose x is prefetched (b128 32x32x3 r18: 2.13 -> 1.93 ms, b64 40x40x1: 5 % less) */
/* pf: prefetch x KMAP_PF images ahead (the caller's choice: not when x's lines are in L1 anyway, where the
 * loop's 4 instructions more per image cost more than they bring) */
LF_INLINE void SFX(kmap_core)(const int kb, const int nmv, const int pf, int B, const float *x, ptrdiff_t xs,
                              const float *dy, int M, float *dw, ptrdiff_t K)
{
    vf acc[12];
#pragma GCC unroll 12
    for (int t = 0; t < kb * nmv; t++)
        acc[t] = V_ZERO();
    for (int b = 0; b < B; b++) {
        const vf d0 = V_LOAD(dy + (ptrdiff_t)b * M), d1 = nmv > 1 ? V_LOAD(dy + (ptrdiff_t)b * M + VL) : d0;
        const float *xp = x + b * xs;
        if (pf && b + KMAP_PF < B) { /* the lines of x that image b + KMAP_PF will read (ahead of the hardware's) */
            LF_PREFETCH(xp + KMAP_PF * xs);
            LF_PREFETCH(xp + KMAP_PF * xs + kb - 1);
        }
#pragma GCC unroll 12
        for (int q = 0; q < kb; q++) {
            const vf xv = V_BCAST(xp + q);
            acc[q * nmv] = V_FMA(xv, d0, acc[q * nmv]);
            if (nmv > 1)
                acc[q * nmv + 1] = V_FMA(xv, d1, acc[q * nmv + 1]);
        }
    }
    float tmp[12 * VL];
#pragma GCC unroll 12
    for (int t = 0; t < kb * nmv; t++)
        V_STORE(tmp + t * VL, acc[t]); /* tmp[q*mv + m] */
    const int mv = nmv * VL, kb8 = kb & ~7;
    for (int m = 0; m + 8 <= mv; m += 8) { /* mv is a multiple of 8 (or 1, generic) */
#pragma GCC unroll 2
        for (int q = 0; q < kb8; q += 8)
            LF_TR8ADD(tmp + q * mv + m, mv, dw + m * K + q, K);
    }
    for (int m = 0; m < mv; m++) {
        const int q0 = mv % 8 ? 0 : kb8;
        for (int q = q0; q < kb; q++)
            dw[m * K + q] += tmp[q * mv + m];
    }
}
#define KMAP_ARGS int B, const float *x, ptrdiff_t xs, const float *dy, int M, float *dw, ptrdiff_t K
typedef void (*SFX(kmap_fn))(KMAP_ARGS);
#define KMAP_DEF(kb, nmv)                                                                                 \
    static void SFX(kmap_##kb##_##nmv)(KMAP_ARGS) { SFX(kmap_core)(kb, nmv, 0, B, x, xs, dy, M, dw, K); }     \
    static void SFX(kmap_##kb##_##nmv##_p)(KMAP_ARGS) { SFX(kmap_core)(kb, nmv, 1, B, x, xs, dy, M, dw, K); }
KMAP_LIST(KMAP_DEF)
#undef KMAP_DEF
/* [pf][nmv][kb] */
static const SFX(kmap_fn) SFX(kmap_tab)[2][3][13] = {
#define KMAP_TAB(kb, nmv) [0][nmv][kb] = SFX(kmap_##kb##_##nmv), [1][nmv][kb] = SFX(kmap_##kb##_##nmv##_p),
    KMAP_LIST(KMAP_TAB)
#undef KMAP_TAB
};

static void SFX(lf_bwd_filter_runs)(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    const int u0 = rg.i0 * s, u1 = (rg.i1 - 1) * s + r, v0 = rg.j0 * s;
    const ptrdiff_t n = (ptrdiff_t)((rg.j1 - 1) * s + r - v0) * C; /* floats of an input row in use */
    const ptrdiff_t S = SFX(lf_odd_lines)(n), xtu = (ptrdiff_t)B * S; /* image stride, one row of all */
    float *xt = SFX(lf_wsget)(0, (size_t)(u1 - u0) * (size_t)xtu); /* every float read is written first */
    /* vectors over maps (kmap), or along runs: a field row, or the whole field copied per location when a
     * row's vectors would keep fewer than 3/4 of their lanes busy */
    const int nmv = M / VL, bymaps = VL > 1 && !SFX(lf_gather_ok)(C) && M % VL == 0 && nmv <= 2;
    /* [l][b][m]: each location's dy contiguous (over maps: a unit's, per thread) */
    float *dyt = bymaps ? NULL : SFX(lf_wsget)(1, (size_t)nloc * B * M);
    const int pack = !bymaps && 4 * L < 3 * ((L + VL - 1) / VL) * VL;
    const int nrun = pack ? 1 : r;
    const int Lr = pack ? (int)K : L;
    const ptrdiff_t Sp = SFX(lf_odd_lines)(K);
    SFX(lf_runplan) plan;
    SFX(lf_plan_run)(&plan, Lr, KOUT_NV);
    const int nkb = bymaps ? (Lr + KMAP_KB(nmv) - 1) / KMAP_KB(nmv) : 0;
    const int ncb = SFX(lf_units)(rows, cols, CN_MAX(1, 4096 / (B * M))), nunit = rows * ncb; /* over maps */
    /* over maps, x prefetched ahead unless a unit's window of a field row (B rows of its locations' span)
     * stays in L1 (24 KB). Without the prefetch: b64 40x40x1 (6 KB) 1.04x, b32 64x64x3 (21 KB) 1.06x,
     * b128 32x32x3 r18 (36 KB) 0.96x */
    const int kpf = (double)B * ((SFX(lf_blk)(cols, ncb, 0) - 1) * s * C + L) * sizeof(float) > 24 * 1024;
    const double fmas = (double)nloc * B * M * (double)K;
    SFX(lf_share) *sh = SFX(lf_share_new)();
#pragma omp parallel if (SFX(lf_par)(fmas))
    {
        SFX(lf_share_init)(sh, nunit);
#pragma omp for schedule(static)
        for (int u = u0; u < u1; u++)
            for (int b = 0; b < B; b++)
                memcpy(xt + (u - u0) * xtu + b * S, x + b * xb + u * xrow + (ptrdiff_t)v0 * C,
                       (size_t)n * sizeof *xt);
        if (!bymaps) {
#pragma omp for schedule(static)
            for (int b = 0; b < B; b++)
                for (ptrdiff_t l = 0; l < nloc; l++) {
                    const ptrdiff_t loc = (ptrdiff_t)(rg.i0 + (int)(l / cols)) * Wo + rg.j0 + (int)(l % cols);
                    SFX(lf_copy_run)(dyt + (l * B + b) * M, dy + b * yb + loc * M, M);
                }
        }
        float *xp = pack ? cn_alloc((size_t)B * (size_t)Sp, sizeof *xp) : NULL;
        if (bymaps) {
            /* over maps: unit by unit of consecutive locations of a row, field row by field row, the unit's
             * locations in turn: they read the same B rows of xt, which stay in L1 across the unit, and the
             * unit's dy, copied just before into dyu[l][b][m] (at most 16 KB, per thread), stays in L1
             * across its field rows. (Location by location, each field, 10 x 64 rows of 1 or 2 lines at b64
             * 40x40x1, 64 KB, came back from L2 for every location.) */
            float *dyu = SFX(lf_talloc)((size_t)SFX(lf_blk)(cols, ncb, 0) * B * M);
            for (int un; (un = SFX(lf_share_next)(sh)) >= 0;) {
                const int i = rg.i0 + un / ncb, ja = rg.j0 + SFX(lf_blk0)(cols, ncb, un % ncb);
                const int nl = SFX(lf_blk)(cols, ncb, un % ncb);
                const float *dyun = dy + ((ptrdiff_t)i * Wo + ja) * M; /* per image, nl*M contiguous floats */
                for (int b = 0; b < B; b++)
                    for (int jl = 0; jl < nl; jl++)
                        SFX(lf_copy_run)(dyu + ((ptrdiff_t)jl * B + b) * M, dyun + b * yb + jl * M, M);
                for (int g = 0; g < r; g++)
                    for (int j = ja; j < ja + nl; j++) {
                        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                        const float *xr = xt + (i * s - u0 + g) * xtu + (ptrdiff_t)(j * s - v0) * C;
                        float *dwr = dw + loc * M * K + (ptrdiff_t)g * L;
                        /* the next call's filter rows (the next location's, or the unit's first of the next
                         * field row) when a row takes several pieces: with one piece (b64 40x40x1), its cost is
                         * larger than its gain (1.08x -> 1.03x there) */
                        if (nkb > 1)
                            SFX(lf_prefetch_rows)(j + 1 < ja + nl ? dwr + M * K
                                                  : g + 1 < r ? dw + ((ptrdiff_t)i * Wo + ja) * M * K + (g + 1) * L
                                                              : NULL,
                                                  M, K, L);
                        for (int k = 0; k < nkb; k++) { /* the row in pieces of at most KMAP_KB(nmv) floats */
                            const int q0 = SFX(lf_blk0)(L, nkb, k);
                            SFX(kmap_tab)[kpf][nmv][SFX(lf_blk)(L, nkb, k)](B, xr + q0, S, dyu + (j - ja) * B * M, M,
                                                                            dwr + q0, K);
                        }
                    }
            }
            free(dyu);
        } else { /* along runs */
#pragma omp for schedule(static)
            for (ptrdiff_t l = 0; l < nloc; l++) {
                const int i = rg.i0 + (int)(l / cols), j = rg.j0 + (int)(l % cols);
                const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                /* the next location's filters, prefetched (harmless if another thread owns it) */
                const float *dwn = l + 1 < nloc ? dw + ((ptrdiff_t)(rg.i0 + (int)((l + 1) / cols)) * Wo + rg.j0 +
                                                        (int)((l + 1) % cols)) * M * K
                                                : NULL;
                const float *dyp = dyt + l * B * M;
                const float *xl = xt + (i * s - u0) * xtu + (ptrdiff_t)(j * s - v0) * C;
                if (pack) /* row by row: each row of all images is one stretch of xt */
                    for (int ry = 0; ry < r; ry++)
                        for (int b = 0; b < B; b++)
                            SFX(lf_copy_run)(xp + b * Sp + ry * L, xl + ry * xtu + b * S, L);
                for (int g = 0; g < nrun; g++) {
                    const float *xr = pack ? xp : xl + g * xtu;
                    float *dwr = dw + loc * M * K + (ptrdiff_t)g * Lr;
                    SFX(lf_prefetch_rows)(g + 1 < nrun ? dwr + Lr : dwn, M, K, Lr); /* the next run's filter rows */
                    for (int k = 0; k < plan.nch; k++) {
                        const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                        const int c0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                        const int mode = k == plan.nch - 1 ? plan.mode_last : 0;
                        SFX(kout_rows)(M, nv, mode, 1, NULL, NULL, B, dyp, 1, M, xr + c0, pack ? Sp : S, plan.last,
                                       plan.nlive, dwr + c0, K);
                    }
                }
            }
        }
        cn_free(xp);
    }
}

/* ---- backward data --------------------------------------------------------------------------------
 * Gather: each input pixel (u, v) sums, in registers, the terms of every field that covers it: the
 * (i, dy) with i*s + dy = u and the (j, dx) with j*s + dx = v, over all maps: kout with one segment per
 * (i, dy, j, dx), p = m, vectors along the pixel's C channels, rows = images. So each dx element is read
 * and written once, after (r/s)^2 * M terms (adding every location's field in turn would store it after
 * every M terms). Threads split the pixels. */
static void SFX(lf_bwd_data_gather)(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int u0 = rg.i0 * s, u1 = (rg.i1 - 1) * s + r, v0 = rg.j0 * s, v1 = (rg.j1 - 1) * s + r;
    const int nu = u1 - u0, nvv = v1 - v0;
    const int cov = (r + s - 1) / s; /* fields covering one row, at most */
    SFX(lf_runplan) plan;
    SFX(lf_plan_run)(&plan, C, KOUT_NV);
    const double fmas = (double)(rg.i1 - rg.i0) * (rg.j1 - rg.j0) * B * M * (double)K;
#pragma omp parallel if (SFX(lf_par)(fmas))
    {
        ptrdiff_t *aoff = cn_alloc((size_t)cov * cov, sizeof *aoff);
        ptrdiff_t *boff = cn_alloc((size_t)cov * cov, sizeof *boff);
#pragma omp for schedule(static) collapse(2)
        for (int u = u0; u < u1; u++)
            for (int v = v0; v < v1; v++) {
                int ia, ib, ja, jb;
                SFX(lf_cover)(u, r, s, rg.i0, rg.i1, &ia, &ib);
                SFX(lf_cover)(v, r, s, rg.j0, rg.j1, &ja, &jb);
                int nseg = 0;
                for (int i = ia; i < ib; i++)
                    for (int j = ja; j < jb; j++) {
                        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                        aoff[nseg] = loc * M;
                        boff[nseg] = loc * M * K + (ptrdiff_t)(u - i * s) * L + (ptrdiff_t)(v - j * s) * C;
                        nseg++;
                    }
                if (nseg == 0)
                    continue;
                float *dxp = dx + (ptrdiff_t)u * xrow + (ptrdiff_t)v * C;
                for (int k = 0; k < plan.nch; k++) {
                    const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                    const int c0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                    const int mode = k == plan.nch - 1 ? plan.mode_last : 0;
                    SFX(kout_rows)(B, nv, mode, nseg, aoff, boff, M, dy, yb, 1, w + c0, K, plan.last, plan.nlive,
                                   dxp + c0, xb);
                }
            }
        cn_free(aoff);
        cn_free(boff);
    }
    (void)nu, (void)nvv;
}

/* ---- small C: images innermost ---------------------------------------------------------------------
 * With C = 1 or 3 (AVX2; C < 12 with AVX-512) vectors along r*C (forward) or along C (backward data's
 * gather) would be short or mostly empty. These two passes first copy x (or dy) into a layout with the
 * images innermost, padded to whole vectors (Bp = B rounded up to VL); forward also with more channels,
 * whenever the images fill the vectors (lf_fwd_images):
 *     xt[((u*Wx + v)*C + c)*Bp + b] = x[b, u, v, c]        dyt[(loc*M + m)*Bp + b] = dy[b, i, j, m]
 * so that every vector runs over images and none is partial:
 *   forward        kout: rows = maps (broadcast w), vectors over images, segments = field rows, p = k;
 *                  the [M, Bp] result is then written into y. When a band of xt is larger than L2,
 *                  chunk by chunk of images instead, xt holding only the chunk's images (lf_fwd_t)
 *   backward data  per block of h input rows x g pixels covered by the same fields (C = 1: up to 2 x 2;
 *                  C = 3: up to 2 pixels), kout: rows = the block's h*g*C channels (broadcast w), vectors
 *                  over images, segments = the fields that cover the block, p = m; the results of a
 *                  whole group of rows are then added into dx
 * The copies into and out of this layout go through 8 x 8 transposes (lf_tr), eight images at a time
 * along their rows of the public layout. The copy of x costs about one read and one write of it per call,
 * against (r/s)^2 * M multiply-adds per element. Backward filter does not use it: its sum runs over
 * images, which would need lane sums every B/VL steps (tried: slower); it keeps x in a copy of its own
 * and vectors along x's runs or, with M = VL or 2 VL maps, over the maps (see there). */

/* Vectors over images per kout chunk with `rows` rows (maps or channels). Few rows (C = 1 or 3 in backward
 * data, M <= 2 in forward): a wide block, all rows and up to KOUT_NVW vectors, so that there are enough
 * independent FMA chains (Zen 3: 4 cycles of latency x 2 pipes = 8 in flight) and each vector loaded
 * serves every row. Otherwise KOUT_NV vectors, the rows cut into blocks of KOUT_MR(nv) (AVX2: 4 maps x 3
 * vectors, 7 loads per 12 FMAs; measured faster than one block of all maps x fewer vectors). */
static int SFX(lf_nv_t)(int rows)
{
    for (int nv = KOUT_NVW; nv > KOUT_NV; nv--)
        if (rows <= KOUT_MRW(nv))
            return nv;
    return KOUT_NV;
}

/* Like lf_nv_t, but when the rows would not fit one wide block: the most vectors (at most KOUT_NV) for
 * which they fit one block (AVX2: 6 rows x 2 vectors), so that each vector loaded serves every row. */
static int SFX(lf_nv_one)(int rows)
{
    const int nv = SFX(lf_nv_t)(rows);
    if (nv > KOUT_NV)
        return nv;
    for (int v = KOUT_NV; v >= 1; v--)
        if (rows <= KOUT_MR(v))
            return v;
    return KOUT_NV;
}

/* xt for input rows [u0, u1) and columns [v0, v1), images [b0, b0 + Bp) (those past B zero) at stride Bp;
 * call inside a parallel region (orphaned omp for). */
static void SFX(lf_pack_xt)(const lf_dims *d, const float *x, float *xt, int b0, int Bp, int u0, int u1, int v0,
                            int v1)
{
    const int nb = CN_MIN(d->B - b0, Bp), C = d->C;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const int n = (v1 - v0) * C;
#pragma omp for schedule(static)
    for (int u = u0; u < u1; u++) {
        float *t = xt + ((ptrdiff_t)u * d->Wx + v0) * C * Bp;
        SFX(lf_tr)(x + b0 * xb + u * xrow + (ptrdiff_t)v0 * C, xb, t, Bp, n, nb, 0);
        for (int q = 0; q < n; q++)
            for (int b = nb; b < Bp; b++)
                t[(ptrdiff_t)q * Bp + b] = 0.0f;
    }
}

#ifndef LF_FWD_P
#define LF_FWD_P 128 /* forward, chunk by chunk: floats of field rows per kout call (whole rows, at least one) */
#endif
#ifndef LF_FWD_BAND
#define LF_FWD_BAND (256 * 1024) /* forward: a band of xt larger than this (bytes): chunk by chunk */
#endif
static void SFX(lf_fwd_t)(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo, Wx = d->Wx;
    const int L = r * C, Bp = (B + VL - 1) / VL * VL;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    /* When the band of xt that a row of locations reads (r input rows, all images) would not stay in L2
     * (at b128 32x32x3 r18: 0.9 MB; a location's field alone is 0.5 MB), the chunk of images is the
     * outermost loop, so that the chunk's slice of xt stays in L2 while every location reads it.
     * Otherwise the locations are, each location's sums staying in L1. */
    const double band = (double)r * ((rg.j1 - 1) * s + r - rg.j0 * s) * C * Bp * sizeof(float);
    const int chunk_outer = band > LF_FWD_BAND;
    /* Vectors over images in chunks narrow enough for all maps in one block (lf_nv_t). Chunk by chunk,
     * when the maps do not fill blocks of that many vectors exactly, at least two 64-byte lines of images
     * (AVX2, M = 6: 4 vectors in blocks of 3 maps, not 3 vectors in blocks of 3 of 4 rows), which read
     * whole lines of xt from L2; when they do (AVX2: M a multiple of 4, blocks of 4 maps x 3 vectors, 1.5
     * lines each), the fewer and fuller blocks measured faster than 4 vectors in blocks of 3 + 3 + 2 maps
     * (M = 8) or 4 x 3 + 2 x 2 (M = 16): 1.09x at b128 32x32x3, 1.06x at b128 16x16x32 and b64 24x24x16,
     * 1.00x at b32 12x12x64 (4 vectors: 2 chunks of 2, blocks of 6 + 5 + 5 maps). */
    SFX(lf_runplan) plan;
    const int nvt = SFX(lf_nv_t)(M), mrt = nvt > KOUT_NV ? KOUT_MRW(nvt) : KOUT_MR(nvt);
    SFX(lf_plan_run)(&plan, Bp, chunk_outer && M % mrt ? CN_MIN(KOUT_NVW, CN_MAX(nvt, 32 / VL)) : nvt);
    const int nko = chunk_outer ? plan.nch : 1, nki = plan.nch / nko;
    /* Chunk by chunk, per location and chunk the field rows go in groups of at most LF_FWD_P floats (at
     * least one row), as even as possible: one group's slice of xt stays in L1 while every map block
     * reads it. The sums: yt[l][m][b] for every location, or those of one unit (below) at a time (ctt,
     * per thread). The locations go in units of consecutive ones of a row (ncb units a row, enough for
     * every thread); a unit's sums go into y together, eight images at a time, each image's part a
     * contiguous run of y (one location's alone, 8 maps of 64 images at b64 40x40x1, is 64 pieces of a
     * line an image apart, all in one L1 set: that was a fifth of forward's time there). */
    const int rpg = CN_MAX(1, LF_FWD_P / L), ngr = chunk_outer ? (r + rpg - 1) / rpg : 1;
    float *yt = chunk_outer ? SFX(lf_wsget)(1, (size_t)nloc * M * Bp) : NULL;
    const int ncb = SFX(lf_units)(rows, cols, cols), nunit = rows * ncb;
    /* chunk by chunk, xt holds only the chunk's images (Bc of them, freshly copied: in L2 when read) */
    const int u0 = rg.i0 * s, u1 = (rg.i1 - 1) * s + r, v0 = rg.j0 * s, v1 = (rg.j1 - 1) * s + r;
    const int Bc = chunk_outer ? SFX(lf_blk)(plan.nvec, plan.nch, 0) * VL : Bp;
    float *xt = SFX(lf_wsget)(0, (size_t)d->Hx * Wx * C * Bc);
    const double fmas = (double)nloc * B * M * (double)K;
    SFX(lf_share) *sh = SFX(lf_share_new)();
#pragma omp parallel if (SFX(lf_par)(fmas))
    {
        if (!chunk_outer)
            SFX(lf_pack_xt)(d, x, xt, 0, Bp, u0, u1, v0, v1);
        ptrdiff_t *aoff = cn_alloc((size_t)r, sizeof *aoff), *boff = cn_alloc((size_t)r, sizeof *boff);
        for (int ry = 0; ry < r; ry++)
            aoff[ry] = (ptrdiff_t)ry * L;
        float *ctt = chunk_outer ? NULL : SFX(lf_talloc)((size_t)SFX(lf_blk)(cols, ncb, 0) * M * Bp);
        for (int ko = 0; ko < nko; ko++) {
            SFX(lf_share_init)(sh, nunit);
            if (chunk_outer)
                SFX(lf_pack_xt)(d, x, xt, SFX(lf_blk0)(plan.nvec, plan.nch, ko) * VL,
                                SFX(lf_blk)(plan.nvec, plan.nch, ko) * VL, u0, u1, v0, v1);
            for (int un; (un = SFX(lf_share_next)(sh)) >= 0;) {
                const int i = rg.i0 + un / ncb, ja = rg.j0 + SFX(lf_blk0)(cols, ncb, un % ncb);
                const int nl = SFX(lf_blk)(cols, ncb, un % ncb);
                float *cu = chunk_outer ? yt + ((ptrdiff_t)(i - rg.i0) * cols + ja - rg.j0) * M * Bp : ctt;
                for (int j = ja; j < ja + nl; j++) {
                    const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                    float *ct = cu + (ptrdiff_t)(j - ja) * M * Bp;
                    if (ko == 0)
                        memset(ct, 0, (size_t)M * Bp * sizeof *ct);
                    for (int k = ko * nki; k < (ko + 1) * nki; k++) {
                        const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                        const int b0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                        const int xs = chunk_outer ? nv * VL : Bp, xo = chunk_outer ? 0 : b0; /* in xt */
                        for (int ry = 0; ry < r; ry++)
                            boff[ry] = ((ptrdiff_t)(i * s + ry) * Wx + (ptrdiff_t)j * s) * C * xs + xo;
                        for (int g = 0; g < ngr; g++) {
                            const int r0 = SFX(lf_blk0)(r, ngr, g);
                            SFX(kout_rows)(M, nv, 0, SFX(lf_blk)(r, ngr, g), aoff + r0, boff + r0, L,
                                           w + loc * M * K, K, 1, xt, xs, 0, VL, ct + b0, Bp);
                        }
                    }
                }
                if (ko == nko - 1) /* every chunk done: the unit's sums into y */
                    for (int b0 = 0; b0 < B; b0 += 8)
                        for (int jl = 0; jl < nl; jl++)
                            SFX(lf_tr)(cu + (ptrdiff_t)jl * M * Bp + b0, Bp,
                                       y + b0 * yb + ((ptrdiff_t)i * Wo + ja + jl) * M, yb, CN_MIN(8, B - b0), M, 0);
            }
#pragma omp barrier
        }
        free(ctt);
        cn_free(aoff);
        cn_free(boff);
    }
}

/* Input rows (or columns) [n0, n1) in groups of at most gmax consecutive ones that the same output rows
 * (columns) in [lo, hi) cover: group k is [g[k], g[k+1]); returns the number of groups. */
static int SFX(lf_groups)(int n0, int n1, int gmax, int r, int s, int lo, int hi, int *g)
{
    int ng = 0;
    for (int v = n0; v < n1; ng++) {
        int a, b, k = 1;
        SFX(lf_cover)(v, r, s, lo, hi, &a, &b);
        for (; k < gmax && v + k < n1; k++) {
            int a2, b2;
            SFX(lf_cover)(v + k, r, s, lo, hi, &a2, &b2);
            if (a2 != a || b2 != b)
                break;
        }
        g[ng] = v;
        v += k;
    }
    g[ng] = n1;
    return ng;
}

static void SFX(lf_bwd_data_t)(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C, Bp = (B + VL - 1) / VL * VL;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    const int u0 = rg.i0 * s, u1 = (rg.i1 - 1) * s + r, v0 = rg.j0 * s, v1 = (rg.j1 - 1) * s + r;
    const int cov = (r + s - 1) / s;
    /* Pixels in blocks of h rows x g columns that the same fields cover: one kout block does a block's
     * h*g*C channels, every vector of dyt loaded once for h*g*C FMAs. C = 1: up to 2 pixels of a row;
     * C = 3: up to 2 pixels (6 rows: AVX2 6 x 2 vectors, 8 loads per 12 FMAs and one line of dyt, where
     * one pixel's 3 x 4 read two lines of dyt from L2 for 12 FMAs); otherwise g*C <= 4. h = 2 rows only
     * at C = 1 (a split block: the second row's weights one field row, L floats, after the first's). */
    const int G = C == 1 || C == 3 ? 2 : CN_MAX(1, 4 / C), H = C == 1 ? 2 : 1;
    int *gv = cn_alloc((size_t)(v1 - v0 + 1), sizeof *gv), *gu = cn_alloc((size_t)(u1 - u0 + 1), sizeof *gu);
    const int ng = SFX(lf_groups)(v0, v1, G, r, s, rg.j0, rg.j1, gv);
    const int nh = SFX(lf_groups)(u0, u1, H, r, s, rg.i0, rg.i1, gu);
    float *dyt = SFX(lf_wsget)(0, (size_t)d->Ho * Wo * M * Bp);
    const double fmas = (double)nloc * B * M * (double)K;
    SFX(lf_share) *sh = SFX(lf_share_new)();
#pragma omp parallel if (SFX(lf_par)(fmas))
    {
        SFX(lf_share_init)(sh, nh);
        /* dyt[(loc*M + m)*Bp + b] = dy[b, loc, m], eight images at a time along their rows of dy; images
         * past B zero */
#pragma omp for schedule(static)
        for (int b0 = 0; b0 < Bp; b0 += 8)
            for (ptrdiff_t l = 0; l < nloc; l++) {
                const ptrdiff_t loc = (ptrdiff_t)(rg.i0 + (int)(l / cols)) * Wo + rg.j0 + (int)(l % cols);
                float *t = dyt + loc * M * Bp;
                if (b0 < B)
                    SFX(lf_tr)(dy + b0 * yb + loc * M, yb, t + b0, Bp, M, CN_MIN(8, B - b0), 0);
                for (int m = 0; m < M; m++)
                    for (int b = CN_MAX(b0, B); b < b0 + 8 && b < Bp; b++)
                        t[(ptrdiff_t)m * Bp + b] = 0.0f;
            }
        /* one group of rows' sums, rt[(((v - v0)*h + row)*C + c)*Bp + b], added into dx once per run of
         * covered pixels */
        float *rt = SFX(lf_talloc)((size_t)(v1 - v0) * H * C * Bp);
        ptrdiff_t *aoff = cn_alloc((size_t)cov * cov, sizeof *aoff), *boff = cn_alloc((size_t)cov * cov, sizeof *boff);
        for (int hi; (hi = SFX(lf_share_next)(sh)) >= 0;) {
            const int u = gu[hi], h = gu[hi + 1] - u;
            int ia, ib;
            SFX(lf_cover)(u, r, s, rg.i0, rg.i1, &ia, &ib);
            if (ib <= ia)
                continue; /* no field reads these rows */
            int vrun = -1; /* start of the current run of covered pixels, -1: none */
            for (int gi = 0; gi <= ng; gi++) {
                const int v = gv[gi];
                int ja = 0, jb = 0;
                if (gi < ng)
                    SFX(lf_cover)(v, r, s, rg.j0, rg.j1, &ja, &jb);
                if (jb <= ja) { /* the run ends: its pixels' sums into dx, row by row */
                    if (vrun >= 0)
                        for (int rr = 0; rr < h; rr++) /* h > 1 only at C = 1 */
                            SFX(lf_tr)(rt + ((ptrdiff_t)(vrun - v0) * h * C + rr) * Bp, (ptrdiff_t)h * Bp,
                                       dx + (ptrdiff_t)(u + rr) * xrow + (ptrdiff_t)vrun * C, xb, B, (v - vrun) * C, 1);
                    vrun = -1;
                    continue;
                }
                if (vrun < 0)
                    vrun = v;
                const int g = gv[gi + 1] - v, gc = g * h * C; /* the block's pixels x channels */
                int nseg = 0;
                for (int i = ia; i < ib; i++)
                    for (int j = ja; j < jb; j++) {
                        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                        aoff[nseg] = loc * M * K + (ptrdiff_t)(u - i * s) * L + (ptrdiff_t)(v - j * s) * C;
                        boff[nseg] = loc * M * Bp;
                        nseg++;
                    }
                float *ct = rt + (ptrdiff_t)(v - v0) * h * C * Bp;
                SFX(lf_runplan) plan;
                SFX(lf_plan_run)(&plan, Bp,
                                 h > 1 ? CN_MIN(KOUT_NV, SFX(lf_nv_t)(gc)) : g > 1 ? SFX(lf_nv_one)(gc) : SFX(lf_nv_t)(gc));
                memset(ct, 0, (size_t)gc * Bp * sizeof *ct);
                for (int k = 0; k < plan.nch; k++) {
                    const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                    const int b0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                    if (h > 1) /* rows (row, pixel): pixel pc of row rr at w + rr*L + pc, rt + (pc*h + rr)*Bp */
                        SFX(kouts_tab)[nv][g](nseg, aoff, boff, M, w, 1, K, dyt + b0, Bp, ct + b0, (ptrdiff_t)h * Bp, L,
                                              Bp);
                    else
                        SFX(kout_rows)(gc, nv, 0, nseg, aoff, boff, M, w, 1, K, dyt + b0, Bp, 0, VL, ct + b0, Bp);
                }
            }
        }
        free(rt);
        cn_free(aoff);
        cn_free(boff);
    }
    cn_free(gv);
    cn_free(gu);
}

/* ---- entry points ------------------------------------------------------------------------------- */
void SFX(lf_fwd)(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    if (!SFX(lf_fwd_images)(d))
        SFX(lf_fwd_nhwc)(d, x, w, y, rg);
    else
        SFX(lf_fwd_t)(d, x, w, y, rg);
}

void SFX(lf_bwd_filter)(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    SFX(lf_bwd_filter_runs)(d, x, dy, dw, rg);
}

void SFX(lf_bwd_data)(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    if (SFX(lf_gather_ok)(d->C))
        SFX(lf_bwd_data_gather)(d, w, dy, dx, rg);
    else
        SFX(lf_bwd_data_t)(d, w, dy, dx, rg);
}
