/* lf_cpu_impl.h: the blocked local-filter kernels, written once and compiled once per instruction set.
 *
 * Included (no include guard, on purpose) by lf_cpu.c (plain C), lf_cpu_avx2.c and lf_cpu_avx512.c,
 * each of which first defines a small vector layer:
 *   VL                      lanes per vector; vf the vector type
 *   V_ZERO() V_LOAD(p) V_STORE(p, v) V_BCAST(p) V_FMA(a, b, c) (a*b + c) V_ADD(a, b)
 *   vm, V_MASK_LO(n), V_MASK_HI(n)   lane masks with lanes [0, n) / [VL-n, VL) on, 1 <= n <= VL
 *   V_LOADM(p, k), V_STOREM(p, k, v)  masked: lanes that are off are neither read (they load as 0) nor
 *                                     written, so a masked access never faults past an array's end
 *   v_reduce(acc, n, out)             out[i] = sum of the lanes of acc[i] for i < n
 *   SFX(name)                         name with the set's suffix (lf_fwd -> lf_fwd_avx2)
 *   KDOT_MB, KDOT_BB, KDOT_LIST(X)    forward register blocks: X(mb, bb) for every mb <= KDOT_MB, bb <= KDOT_BB
 *   KOUT_NV, KOUT_MR(nv), KOUT_LIST(X) backward register blocks: X(mr, nv), mr <= KOUT_MR(nv), nv <= KOUT_NV
 *
 * At one output location (i, j) the local filter is three small matrix products over k = (dy, dx, c),
 * whose patch X[b, k] is r runs ("rows" dy) of L = r*C contiguous floats in NHWC:
 *   forward          Y[b, m]   = sum_k X[b, k] W[m, k]      dot products along k (kdot): both operands are
 *                                                            contiguous in k, so nothing is packed
 *   backward filter  dW[m, k] += sum_b dY[b, m] X[b, k]     outer products (kout): broadcast dY, vectors of
 *   backward data    dX[b, k] += sum_m dY[b, m] W[m, k]     k along one run, accumulators in registers
 * A run whose length is not a multiple of VL ends in a partial vector. kout then shifts the last vector
 * back so that it ends at the run's end and switches off the lanes the previous vector already did
 * (mode 1): every store stays inside the run and needs no mask (masked stores are slow on AMD). Runs
 * shorter than one vector use masked loads and stores (mode 2).
 *
 * Threads: forward and backward filter split the output locations (each writes its own y or dw). For
 * backward data the fields of neighbouring locations overlap in dx, so each thread owns a band of input
 * rows and applies, from every location, only the field rows dy that land in its band: no two threads
 * write the same element, and each dx element sums its terms in the same order whatever the thread
 * count. */

#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "src/common.h"
#include "src/ops.h"

#if defined(__GNUC__)
#define LF_INLINE static inline __attribute__((always_inline))
#else
#define LF_INLINE static inline
#endif

/* ---- forward: dot products along k ---------------------------------------------------------------
 * y[b*yb + m] = sum over runs (nseg of them) of  x[b*xb + seg*xseg + q] * w[m*wm + seg*L + q],  q < L,
 * for b < bb, m < mb; L = nfull*VL + tail. */
LF_INLINE void SFX(kdot_core)(const int mb, const int bb, const int has_tail, const float *x, ptrdiff_t xb,
                              ptrdiff_t xseg, const float *w, ptrdiff_t wm, int nseg, int L, int tail,
                              float *y, ptrdiff_t yb)
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
        for (int m = 0; m < mb; m++)
            y[b * yb + m] = out[m * bb + b];
}

typedef void (*SFX(kdot_fn))(const float *x, ptrdiff_t xb, ptrdiff_t xseg, const float *w, ptrdiff_t wm,
                             int nseg, int L, int tail, float *y, ptrdiff_t yb);
#define KDOT_DEF(mb, bb)                                                                                  \
    static void SFX(kdot_##mb##_##bb)(const float *x, ptrdiff_t xb, ptrdiff_t xseg, const float *w,       \
                                      ptrdiff_t wm, int nseg, int L, int tail, float *y, ptrdiff_t yb)    \
    {                                                                                                     \
        SFX(kdot_core)(mb, bb, 0, x, xb, xseg, w, wm, nseg, L, tail, y, yb);                              \
    }                                                                                                     \
    static void SFX(kdot_##mb##_##bb##_t)(const float *x, ptrdiff_t xb, ptrdiff_t xseg, const float *w,   \
                                          ptrdiff_t wm, int nseg, int L, int tail, float *y, ptrdiff_t yb) \
    {                                                                                                     \
        SFX(kdot_core)(mb, bb, 1, x, xb, xseg, w, wm, nseg, L, tail, y, yb);                              \
    }
KDOT_LIST(KDOT_DEF)
#undef KDOT_DEF

/* [has_tail][mb][bb] */
static const SFX(kdot_fn) SFX(kdot_tab)[2][KDOT_MB + 1][KDOT_BB + 1] = {
#define KDOT_TAB(mb, bb) [0][mb][bb] = SFX(kdot_##mb##_##bb), [1][mb][bb] = SFX(kdot_##mb##_##bb##_t),
    KDOT_LIST(KDOT_TAB)
#undef KDOT_TAB
};

/* ---- backward: outer products along one run --------------------------------------------------------
 * c[i*ci + lane] += sum_{p < np} a[i*ai + p*ap] * bm[p*bp + lane] for i < mr and the nv vectors of lanes
 * at 0, VL, ..., (nv-2)*VL and `last` (= (nv-1)*VL in mode 0). Mode 1: the last vector starts at `last`
 * (shifted back, inside the run) and only its lanes on in km count. Mode 2: nv == 1 and the run is
 * shorter than VL: masked loads and stores. */
LF_INLINE void SFX(kout_core)(const int mr, const int nv, const int mode, int np, const float *a, ptrdiff_t ai,
                              ptrdiff_t ap, const float *bm, ptrdiff_t bp, ptrdiff_t last, int nlive,
                              float *c, ptrdiff_t ci)
{
    vf acc[KOUT_ACC];
    ptrdiff_t off[KOUT_NV];
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        off[v] = (mode != 0 && v == nv - 1) ? last : (ptrdiff_t)v * VL;
#pragma GCC unroll 32
    for (int t = 0; t < mr * nv; t++)
        acc[t] = V_ZERO();
    vm km = mode == 1 ? V_MASK_HI(nlive) : V_MASK_LO(mode == 2 ? nlive : VL);
    for (int p = 0; p < np; p++) {
        vf bv[KOUT_NV];
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            bv[v] = (mode != 0 && v == nv - 1) ? V_LOADM(bm + off[v], km) : V_LOAD(bm + off[v]);
#pragma GCC unroll 32
        for (int i = 0; i < mr; i++) {
            vf av = V_BCAST(a + i * ai);
#pragma GCC unroll 16
            for (int v = 0; v < nv; v++)
                acc[i * nv + v] = V_FMA(av, bv[v], acc[i * nv + v]);
        }
        a += ap;
        bm += bp;
    }
#pragma GCC unroll 32
    for (int i = 0; i < mr; i++) {
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++) {
            float *cp = c + i * ci + off[v];
            if (mode == 2)
                V_STOREM(cp, km, V_ADD(V_LOADM(cp, km), acc[i * nv + v]));
            else
                V_STORE(cp, V_ADD(V_LOAD(cp), acc[i * nv + v]));
        }
    }
}

typedef void (*SFX(kout_fn))(int np, const float *a, ptrdiff_t ai, ptrdiff_t ap, const float *bm, ptrdiff_t bp,
                             ptrdiff_t last, int nlive, float *c, ptrdiff_t ci);
#define KOUT_DEF1(mr, nv, mode)                                                                          \
    static void SFX(kout_##mr##_##nv##_##mode)(int np, const float *a, ptrdiff_t ai, ptrdiff_t ap,       \
                                               const float *bm, ptrdiff_t bp, ptrdiff_t last, int nlive, \
                                               float *c, ptrdiff_t ci)                                   \
    {                                                                                                    \
        SFX(kout_core)(mr, nv, mode, np, a, ai, ap, bm, bp, last, nlive, c, ci);                         \
    }
#define KOUT_DEF(mr, nv) KOUT_DEF1(mr, nv, 0) KOUT_DEF1(mr, nv, 1)
KOUT_LIST(KOUT_DEF)
#if VL > 1
#define KOUT_DEF2(mr, nv) KOUT_DEF1(mr, nv, 2)
KOUT_LIST1(KOUT_DEF2)
#undef KOUT_DEF2
#endif
#undef KOUT_DEF
#undef KOUT_DEF1

/* [mode][nv][mr] */
static const SFX(kout_fn) SFX(kout_tab)[3][KOUT_NV + 1][KOUT_MRMAX + 1] = {
#define KOUT_TAB(mr, nv) [0][nv][mr] = SFX(kout_##mr##_##nv##_0), [1][nv][mr] = SFX(kout_##mr##_##nv##_1),
    KOUT_LIST(KOUT_TAB)
#undef KOUT_TAB
#if VL > 1
#define KOUT_TAB2(mr, nv) [2][nv][mr] = SFX(kout_##mr##_##nv##_2),
    KOUT_LIST1(KOUT_TAB2)
#undef KOUT_TAB2
#endif
};

/* ---- plans -------------------------------------------------------------------------------------- */

/* How one run of L floats is cut into chunks of at most KOUT_NV vectors for kout: nch chunks, as even
 * as possible; only the final chunk may end in a partial vector (mode 1 or 2). */
typedef struct {
    int nvec, nch;   /* vectors in the run, chunks */
    int mode_last;   /* mode of the final chunk */
    int last, nlive; /* its last vector's offset in the chunk and live lanes (modes 1 and 2) */
} SFX(lf_runplan);

/* Size of block k when n items are cut into nb blocks as even as possible; start of block k. */
static inline int SFX(lf_blk)(int n, int nb, int k) { return n / nb + (k < n % nb); }
static inline int SFX(lf_blk0)(int n, int nb, int k) { return k * (n / nb) + CN_MIN(k, n % nb); }

static void SFX(lf_plan_run)(SFX(lf_runplan) *p, int L)
{
    p->nvec = (L + VL - 1) / VL;
    p->nch = (p->nvec + KOUT_NV - 1) / KOUT_NV;
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

/* ---- forward ------------------------------------------------------------------------------------ */
void SFX(lf_fwd)(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const int tail = L % VL;
    const int nmb = (M + KDOT_MB - 1) / KDOT_MB, nbb = (B + KDOT_BB - 1) / KDOT_BB;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    const double fmas = (double)nloc * B * M * (double)K;
#pragma omp parallel for schedule(static) if (SFX(lf_par)(fmas))
    for (ptrdiff_t l = 0; l < nloc; l++) {
        const int i = rg.i0 + (int)(l / cols), j = rg.j0 + (int)(l % cols);
        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
        const float *xl = x + (ptrdiff_t)i * s * xrow + (ptrdiff_t)j * s * C;
        const float *wl = w + loc * M * K;
        float *yl = y + loc * M;
        int m0 = 0;
        for (int mk = 0; mk < nmb; mk++) {
            const int mb = SFX(lf_blk)(M, nmb, mk);
            int b0 = 0;
            for (int bk = 0; bk < nbb; bk++) {
                const int bb = SFX(lf_blk)(B, nbb, bk);
                SFX(kdot_tab)[tail != 0][mb][bb](xl + b0 * xb, xb, xrow, wl + m0 * K, K, r, L, tail,
                                                 yl + b0 * yb + m0, yb);
                b0 += bb;
            }
            m0 += mb;
        }
    }
}

/* ---- backward filter ---------------------------------------------------------------------------- */
void SFX(lf_bwd_filter)(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0, cols = rg.j1 - rg.j0;
    const ptrdiff_t nloc = (ptrdiff_t)rows * cols;
    SFX(lf_runplan) plan;
    SFX(lf_plan_run)(&plan, L);
    const double fmas = (double)nloc * B * M * (double)K;
#pragma omp parallel for schedule(static) if (SFX(lf_par)(fmas))
    for (ptrdiff_t l = 0; l < nloc; l++) {
        const int i = rg.i0 + (int)(l / cols), j = rg.j0 + (int)(l % cols);
        const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
        const float *dyl = dy + loc * M;
        float *dwl = dw + loc * M * K;
        for (int ry = 0; ry < r; ry++) {
            const float *xr = x + (ptrdiff_t)(i * s + ry) * xrow + (ptrdiff_t)j * s * C;
            float *dwr = dwl + (ptrdiff_t)ry * L;
            for (int k = 0; k < plan.nch; k++) {
                const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                const int c0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                const int mode = k == plan.nch - 1 ? plan.mode_last : 0;
                const int mrmax = KOUT_MR(nv);
                const int nmb = (M + mrmax - 1) / mrmax;
                int m0 = 0;
                for (int mk = 0; mk < nmb; mk++) {
                    const int mr = SFX(lf_blk)(M, nmb, mk);
                    SFX(kout_tab)[mode][nv][mr](B, dyl + m0, 1, yb, xr + c0, xb, plan.last, plan.nlive,
                                                dwr + m0 * K + c0, K);
                    m0 += mr;
                }
            }
        }
    }
}

/* ---- backward data -------------------------------------------------------------------------------
 * Input rows [u0, u1) belong to the thread; output row i reaches input rows [i*s, i*s + r). The rows that
 * the region's fields reach are cut into bands of about equal work (one unit per (i, dy) pair). */
static void SFX(lf_band)(cn_region rg, int r, int s, int nth, int t, int *u0, int *u1)
{
    const int lo = rg.i0 * s, hi = (rg.i1 - 1) * s + r;
    const long long total = (long long)(rg.i1 - rg.i0) * r;
    const long long want0 = total * t / nth, want1 = total * (t + 1) / nth;
    long long acc = 0;
    *u0 = hi;
    *u1 = hi;
    int got0 = 0;
    for (int u = lo; u < hi; u++) {
        /* output rows i in the region with i*s <= u < i*s + r */
        int ia = u - r + 1 <= 0 ? 0 : (u - r + 1 + s - 1) / s;
        int ib = u / s + 1;
        if (ia < rg.i0)
            ia = rg.i0;
        if (ib > rg.i1)
            ib = rg.i1;
        if (!got0 && acc >= want0) {
            *u0 = u;
            got0 = 1;
        }
        if (acc >= want1) {
            *u1 = u;
            return;
        }
        acc += ib > ia ? ib - ia : 0;
    }
    if (!got0)
        *u0 = hi;
}

void SFX(lf_bwd_data)(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    const int B = d->B, M = d->M, C = d->C, r = d->r, s = d->s, Wo = d->Wo;
    const int L = r * C;
    const ptrdiff_t K = (ptrdiff_t)r * L;
    const ptrdiff_t xb = (ptrdiff_t)d->Hx * d->Wx * C, xrow = (ptrdiff_t)d->Wx * C;
    const ptrdiff_t yb = (ptrdiff_t)d->Ho * Wo * M;
    const int rows = rg.i1 - rg.i0;
    SFX(lf_runplan) plan;
    SFX(lf_plan_run)(&plan, L);
    const double fmas = (double)rows * (rg.j1 - rg.j0) * B * M * (double)K;
#pragma omp parallel if (SFX(lf_par)(fmas))
    {
        int nth = 1, t = 0;
#ifdef _OPENMP
        nth = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        int u0, u1;
        SFX(lf_band)(rg, r, s, nth, t, &u0, &u1);
        for (int i = rg.i0; i < rg.i1; i++) {
            const int dy0 = CN_MAX(0, u0 - i * s), dy1 = CN_MIN(r, u1 - i * s);
            if (dy0 >= dy1)
                continue;
            for (int j = rg.j0; j < rg.j1; j++) {
                const ptrdiff_t loc = (ptrdiff_t)i * Wo + j;
                const float *dyl = dy + loc * M;
                const float *wl = w + loc * M * K;
                for (int ry = dy0; ry < dy1; ry++) {
                    float *dxr = dx + (ptrdiff_t)(i * s + ry) * xrow + (ptrdiff_t)j * s * C;
                    const float *wr = wl + (ptrdiff_t)ry * L;
                    for (int k = 0; k < plan.nch; k++) {
                        const int nv = SFX(lf_blk)(plan.nvec, plan.nch, k);
                        const int c0 = SFX(lf_blk0)(plan.nvec, plan.nch, k) * VL;
                        const int mode = k == plan.nch - 1 ? plan.mode_last : 0;
                        const int mrmax = KOUT_MR(nv);
                        const int nbk = (B + mrmax - 1) / mrmax;
                        int b0 = 0;
                        for (int bk = 0; bk < nbk; bk++) {
                            const int mr = SFX(lf_blk)(B, nbk, bk);
                            SFX(kout_tab)[mode][nv][mr](M, dyl + b0 * yb, yb, 1, wr + c0, K, plan.last,
                                                        plan.nlive, dxr + b0 * xb + c0, xb);
                            b0 += mr;
                        }
                    }
                }
            }
        }
    }
}
