/* test_cuda_ops.c: every CUDA kernel (cuda/ops_cuda.h) against the CPU reference (src/ *_ref.c).
 *
 * Fresh random inputs every run (the seed is printed; COTSNET_TEST_SEED=N repeats a run), odd shapes:
 * non-square maps, stride > 1, fields that do not tile the map, r < s (unread gaps), r = H, odd B, M, C,
 * B > 64 and M > 32 (several block tiles), input windows larger than the tile needs, every block-tile
 * configuration of cuda/lf.cu, whole regions, partial regions and empty ones.
 *  - forward ops: the output starts as a NaN poison; afterwards exactly the elements the reference
 *    wrote are written (no poison left inside the region, the poison outside untouched bit for bit),
 *    and ||gpu - ref|| / ||ref|| <= 1e-5 over them;
 *  - backward ops ADD: outputs start from random values; what the reference leaves unchanged must stay
 *    unchanged bit for bit, and ||gpu - ref|| / ||ref - start|| <= 1e-5 (the error of the added part);
 *  - the local filter kernels run twice and must give the same bits (no atomics, fixed order);
 *  - the batched-GEMM route (cuda/lf_gemm.cu: unfold, cuBLAS, fold) gives the same three passes;
 *  - bad dimensions are refused (CN_EINVAL) without launching or touching memory (runs without a GPU
 *    too: the checks are on the host).
 * One line per check ("ok cuda_lf_forward", ...), naming the first failing case on failure. Without a
 * GPU (or without a CUDA build) each GPU check prints "skip cuda_<op>: no GPU" and the test passes.
 * tests/t_cuda_emu.sh builds this same file against the CPU emulator of cuda/emu (names "emu_cuda_"). */
#include <stdint.h>
#include <time.h>

#include "src/common.h"
#include "src/ops.h"
#include "tests/testutil.h"
#ifdef CN_HAVE_CUDA
#include "cuda/ops_cuda.h"
#endif

#ifdef CN_CUDA_EMU
#define PFX "emu_cuda_"
#else
#define PFX "cuda_"
#endif

#define TOL 1e-5 /* normwise relative error, float32 */

enum {
    C_LF_FWD, C_LF_BWD_DATA, C_LF_BWD_FILTER, C_LF_FUSED, C_LF_DETERMINISTIC, C_LF_GEMM, C_POOL_FWD, C_POOL_BWD,
    C_LCN_FWD, C_LCN_BWD, C_HEAD_LOGITS, C_HEAD_XENT, C_HEAD_BWD, C_SGD, C_ADAGRAD, C_HALO_PACK,
    C_HALO_UNPACK, C_GLUE, C_LF_TUNE, NCHECK
};
static const char *check_name[NCHECK] = {
    "lf_forward", "lf_backward_data", "lf_backward_filter", "lf_backward_fused_sgd", "lf_deterministic", "lf_gemm",
    "pool_forward", "pool_backward", "lcn_forward", "lcn_backward", "head_logits", "head_softmax_xent",
    "head_backward", "sgd_momentum", "adagrad", "halo_pack", "halo_unpack", "glue", "lf_tune"};

#ifdef CN_HAVE_CUDA

static int fails[NCHECK], cases_run[NCHECK];
static char first_fail[NCHECK][400];

static void note(int chk, const char *cs, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(int chk, const char *cs, const char *fmt, ...)
{
    if (!fails[chk]++) {
        int n = snprintf(first_fail[chk], sizeof first_fail[chk], "%s: ", cs);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_fail[chk] + n, sizeof first_fail[chk] - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

/* ---- buffers -------------------------------------------------------------------------------------- */
static const uint32_t POISON = 0x7fc0deadu; /* a quiet NaN with a payload */
static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float poison_value(void)
{
    float f;
    memcpy(&f, &POISON, 4);
    return f;
}
static float *hpoison(size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = poison_value();
    return a;
}
static float *hcopy(const float *a, size_t n)
{
    float *b = malloc((n ? n : 1) * sizeof *b);
    memcpy(b, a, n * sizeof *b);
    return b;
}
static void *dput(const void *h, size_t bytes)
{
    void *d = cuda_malloc(bytes ? bytes : 4);
    cuda_upload(d, h, bytes);
    return d;
}
static float *dget(const float *d, size_t n) /* synchronizes the default stream first */
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    cuda_sync(0);
    cuda_download(h, d, n * sizeof *h);
    return h;
}

/* Output written over a poison: the reference's poison pattern, bit for bit, and close elsewhere. */
static void cmp_over(int chk, const char *cs, const float *got, const float *ref, size_t n)
{
    size_t touched = 0, unwritten = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        int pr = bits(ref[i]) == POISON, pg = bits(got[i]) == POISON;
        if (pr) {
            touched += !pg;
        } else if (pg || got[i] != got[i]) {
            unwritten++;
        } else {
            double d = (double)got[i] - (double)ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
        }
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    cases_run[chk]++;
    if (touched || unwritten || !(err <= TOL))
        note(chk, cs, "%zu element(s) outside the region touched, %zu inside not written (or NaN), "
                      "relative error %.3e (tolerance %.0e)", touched, unwritten, err, TOL);
}

/* Output added to start values: unchanged (bit for bit) outside the elements the operation reaches,
 * and the added part close: ||got - ref|| / ||ref - start||. reach[i] != 0 marks an element the
 * operation may change; reach NULL takes the elements whose reference differs from the start, which is
 * the same set but for a rounding coincidence (an update below half an ulp of its start leaves the
 * reference's bits alone and may move the kernel's, summed in another order, by one): ops that sum in
 * another order pass reach (REACH_ALL where every element may change); a single add, the same in both
 * (halo unpack), keeps NULL. */
static const unsigned char reach_all_[1];
#define REACH_ALL reach_all_ /* every element may change */
static void cmp_add(int chk, const char *cs, const float *got, const float *ref, const float *start,
                    const unsigned char *reach, size_t n)
{
    size_t touched = 0, nan = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (got[i] != got[i]) {
            nan++;
            continue;
        }
        if (reach == REACH_ALL ? 0 : reach ? !reach[i] : bits(ref[i]) == bits(start[i])) {
            touched += bits(got[i]) != bits(start[i]);
            continue;
        }
        double d = (double)got[i] - (double)ref[i], a = (double)ref[i] - (double)start[i];
        num += d * d;
        den += a * a;
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    cases_run[chk]++;
    if (touched || nan || !(err <= TOL))
        note(chk, cs, "%zu element(s) outside those the operation reaches changed, %zu NaN, relative error of the "
                      "added part %.3e (tolerance %.0e)", touched, nan, err, TOL);
}

static void cmp_bits(int chk, const char *cs, const float *a, const float *b, size_t n)
{
    cases_run[chk]++;
    if (memcmp(a, b, n * sizeof *a))
        note(chk, cs, "two runs on the same inputs differ");
}

/* ---- local filter --------------------------------------------------------------------------------- */
typedef struct {
    const char *name;
    int B, H, W, C, M, r, s;
    int Ho, Wo; /* 0: the whole map; else a tile reading a larger window */
} lf_case;

/* Column tiles of cuda/lf.cu: M (forward, backward filter) and C (backward data) in 4 | 8 | 16 | 32. */
static const lf_case lf_cases[] = {
    {"b5h9w12c3m5r4s2", 5, 9, 12, 3, 5, 4, 2, 0, 0},     /* (9-4) % 2 = 1, (12-4) % 2 = 0 */
    {"b67h11w8c7m9r3s1", 67, 11, 8, 7, 9, 3, 1, 0, 0},   /* B > 64: two sample tiles */
    {"b3h14w10c17m33r5s3", 3, 14, 10, 17, 33, 5, 3, 0, 0}, /* M > 32, C > 16, K = 425 */
    {"b33h7w13c2m3r7s2", 33, 7, 13, 2, 3, 7, 2, 0, 0},   /* r = H: one output row; B > 32 */
    {"b2h12w9c1m17r1s2", 2, 12, 9, 1, 17, 1, 2, 0, 0},   /* r < s: unread gaps */
    {"b4h12w9c5m12r3s2_tile", 4, 12, 9, 5, 12, 3, 2, 3, 2}, /* window larger than 3 x 2 outputs need */
    {"b130h6w7c4m8r3s1", 130, 6, 7, 4, 8, 3, 1, 0, 0},     /* B > 128: three sample tiles, 2 in the last */
    {"b1h8w7c9m2r2s1", 1, 8, 7, 9, 2, 2, 1, 0, 0},         /* B = 1, C in 9..16, M = 2 */
    {"b9h12w11c6m7r7s1", 9, 12, 11, 6, 7, 7, 1, 0, 0},     /* K = 294, M <= 8: each of t4's 16 slices */
                                                            /* takes 4 or 5 chunks (forward, bwd data) */
    {"b20h13w21c4m6r5s2", 20, 13, 21, 4, 6, 5, 2, 0, 0},   /* t4's group forward: 5 x 9 locations in */
                                                            /* groups of 4 x 4 cut by the map, r C % 16 = 4 */
    {"b37h12w14c4m8r3s1_tile", 37, 12, 14, 4, 8, 3, 1, 7, 9}, /* ... a window larger than the 7 x 9 */
                                                               /* outputs need, r C < 16 */
    {"b70h15w17c4m12r4s1", 70, 15, 17, 4, 12, 4, 1, 0, 0},  /* ... two sample and two map blocks */
    {"b66h13w15c12m8r4s2", 66, 13, 15, 12, 8, 4, 2, 0, 0},  /* t4's group backward data: two sample */
                                                            /* and two channel blocks, stride 2 */
};

/* The elements a backward pass over region rg reaches: of dx (data) or of dw (!data). Computed by the
 * reference from inputs all 1, whose sums are > 0 exactly where any term lands. */
static unsigned char *lf_reach(const lf_dims *d, cn_region rg, int data)
{
    size_t nx = (size_t)d->B * d->Hx * d->Wx * d->C, ny = (size_t)d->B * d->Ho * d->Wo * d->M;
    size_t nw = lf_filter_count(d), nmax = nx > nw ? nx : nw, n = data ? nx : nw;
    nmax = nmax > ny ? nmax : ny;
    float *one = malloc((nmax ? nmax : 1) * sizeof *one), *out = calloc(n ? n : 1, sizeof *out);
    unsigned char *reach = malloc(n ? n : 1);
    if (!one || !out || !reach) {
        fprintf(stderr, "test_cuda_ops: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nmax; i++)
        one[i] = 1.0f;
    if (data)
        lf_backward_data_ref(d, one, one, out, rg);
    else
        lf_backward_filter_ref(d, one, one, out, rg);
    for (size_t i = 0; i < n; i++)
        reach[i] = out[i] != 0.0f;
    free(one), free(out);
    return reach;
}

/* The fused update's reference: sgd_momentum_ref with mu = 0 on the filters of the region's locations
 * only, each from a zero state (w -= lr (dw + wd w)). */
static void sgd_region(const lf_dims *d, cn_region rg, float *w, const float *dw, float lr, float wd)
{
    size_t n = lf_filter_count(d) / ((size_t)d->Ho * d->Wo); /* one location's filters */
    float *v = calloc(n ? n : 1, sizeof *v);
    for (int i = rg.i0; i < rg.i1; i++)
        for (int j = rg.j0; j < rg.j1; j++) {
            size_t o = ((size_t)i * d->Wo + j) * n;
            memset(v, 0, n * sizeof *v);
            sgd_momentum_ref(w + o, v, dw + o, n, lr, 0.0f, wd);
        }
    free(v);
}

static void lf_one(const lf_dims *d, cn_region rg, const char *cs, const float *x, const float *w,
                   const float *gy)
{
    size_t nx = (size_t)d->B * d->Hx * d->Wx * d->C, ny = (size_t)d->B * d->Ho * d->Wo * d->M;
    size_t nw = lf_filter_count(d);
    float *dxp = dput(x, nx * 4), *dwp = dput(w, nw * 4), *dgy = dput(gy, ny * 4);

    /* forward */
    float *ref = hpoison(ny), *p = hpoison(ny), *dout = dput(p, ny * 4);
    lf_forward_ref(d, x, w, ref, rg);
    if (lf_forward_cuda(d, dxp, dwp, dout, rg, 0) != CN_OK)
        note(C_LF_FWD, cs, "refused: %s", cn_last_error());
    float *got = dget(dout, ny);
    cmp_over(C_LF_FWD, cs, got, ref, ny);
    free(ref), free(p), free(got), cuda_free(dout);

    /* backward data */
    float *start = tu_randn(nx, 0.5);
    ref = hcopy(start, nx);
    lf_backward_data_ref(d, w, gy, ref, rg);
    dout = dput(start, nx * 4);
    if (lf_backward_data_cuda(d, dwp, dgy, dout, rg, 0) != CN_OK)
        note(C_LF_BWD_DATA, cs, "refused: %s", cn_last_error());
    got = dget(dout, nx);
    unsigned char *reach_x = lf_reach(d, rg, 1), *reach_w = lf_reach(d, rg, 0);
    cmp_add(C_LF_BWD_DATA, cs, got, ref, start, reach_x, nx);
    float *dx_ref = ref; /* kept for the fused check */
    free(got), cuda_free(dout);

    /* backward filter */
    float *wstart = tu_randn(nw, 0.5);
    ref = hcopy(wstart, nw);
    lf_backward_filter_ref(d, x, gy, ref, rg);
    dout = dput(wstart, nw * 4);
    if (lf_backward_filter_cuda(d, dxp, dgy, dout, rg, 0) != CN_OK)
        note(C_LF_BWD_FILTER, cs, "refused: %s", cn_last_error());
    got = dget(dout, nw);
    cmp_add(C_LF_BWD_FILTER, cs, got, ref, wstart, reach_w, nw);
    free(ref), free(got), free(wstart), cuda_free(dout);

    /* fused: dx from the old filters, then w -= lr (dw + wd w) on the region's locations only */
    const float lr = 0.05f, wd = 0.01f;
    float *dw = calloc(nw ? nw : 1, sizeof *dw), *wref = hcopy(w, nw);
    lf_backward_filter_ref(d, x, gy, dw, rg);
    sgd_region(d, rg, wref, dw, lr, wd);
    float *dwt = dput(w, nw * 4);
    dout = dput(start, nx * 4);
    if (lf_backward_fused_sgd_cuda(d, dxp, dwt, dgy, dout, NULL, NULL, lr, wd, rg, 0) != CN_OK)
        note(C_LF_FUSED, cs, "refused: %s", cn_last_error());
    got = dget(dout, nx);
    cmp_add(C_LF_FUSED, cs, got, dx_ref, start, reach_x, nx);
    free(got);
    got = dget(dwt, nw);
    cmp_add(C_LF_FUSED, cs, got, wref, w, reach_w, nw);
    free(got), cuda_free(dwt);

    /* fused with a second term (a tied decoder's: other x and dy) and no dx: one update from both sums */
    float *x2 = tu_randn(nx, 1.0), *gy2 = tu_randn(ny, 1.0);
    memset(dw, 0, (nw ? nw : 1) * sizeof *dw);
    memcpy(wref, w, nw * sizeof *w);
    lf_backward_filter_ref(d, x, gy, dw, rg);
    lf_backward_filter_ref(d, x2, gy2, dw, rg);
    sgd_region(d, rg, wref, dw, lr, wd);
    float *dx2 = dput(x2, nx * 4), *dgy2 = dput(gy2, ny * 4);
    dwt = dput(w, nw * 4);
    if (lf_backward_fused_sgd_cuda(d, dxp, dwt, dgy, NULL, dx2, dgy2, lr, wd, rg, 0) != CN_OK)
        note(C_LF_FUSED, cs, "refused (two terms): %s", cn_last_error());
    got = dget(dwt, nw);
    cmp_add(C_LF_FUSED, cs, got, wref, w, reach_w, nw);
    free(got), free(x2), free(gy2), cuda_free(dx2), cuda_free(dgy2);
    free(dw), free(wref), cuda_free(dwt), cuda_free(dout);
    free(start), free(dx_ref), free(reach_x), free(reach_w);
    cuda_free(dxp), cuda_free(dwp), cuda_free(dgy);
}

/* Each kernel twice on the same inputs: the same bits. */
static void lf_twice(const lf_dims *d, cn_region rg, const char *cs, const float *x, const float *w,
                     const float *gy)
{
    size_t nx = (size_t)d->B * d->Hx * d->Wx * d->C, ny = (size_t)d->B * d->Ho * d->Wo * d->M;
    size_t nw = lf_filter_count(d);
    float *dxp = dput(x, nx * 4), *dwp = dput(w, nw * 4), *dgy = dput(gy, ny * 4);
    float *zx = calloc(nx, 4), *zw = calloc(nw, 4), *zy = calloc(ny, 4);
    float *out[2][3];
    for (int t = 0; t < 2; t++) {
        float *a = dput(zy, ny * 4), *b = dput(zx, nx * 4), *c = dput(zw, nw * 4);
        lf_forward_cuda(d, dxp, dwp, a, rg, 0);
        lf_backward_data_cuda(d, dwp, dgy, b, rg, 0);
        lf_backward_filter_cuda(d, dxp, dgy, c, rg, 0);
        out[t][0] = dget(a, ny), out[t][1] = dget(b, nx), out[t][2] = dget(c, nw);
        cuda_free(a), cuda_free(b), cuda_free(c);
    }
    cmp_bits(C_LF_DETERMINISTIC, cs, out[0][0], out[1][0], ny);
    cmp_bits(C_LF_DETERMINISTIC, cs, out[0][1], out[1][1], nx);
    cmp_bits(C_LF_DETERMINISTIC, cs, out[0][2], out[1][2], nw);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++)
            free(out[t][k]);
    free(zx), free(zw), free(zy);
    cuda_free(dxp), cuda_free(dwp), cuda_free(dgy);
}

/* The batched-GEMM route (cuda/lf_gemm.cu), whole tile: unfold, then each pass against the reference;
 * backward data through the unfolded gradient and the fold. */
static void lf_gemm_one(const lf_dims *d, const char *cs, const float *x, const float *w, const float *gy)
{
    cn_region all = region_all(d->Ho, d->Wo);
    size_t nx = (size_t)d->B * d->Hx * d->Wx * d->C, ny = (size_t)d->B * d->Ho * d->Wo * d->M;
    size_t nw = lf_filter_count(d), nu = lf_unfold_count(d);
    float *dxp = dput(x, nx * 4), *dwp = dput(w, nw * 4), *dgy = dput(gy, ny * 4);
    float *pu = hpoison(nu), *xu = dput(pu, (nu ? nu : 1) * 4), *dxu = dput(pu, (nu ? nu : 1) * 4);
    if (lf_unfold_cuda(d, dxp, xu, 0) != CN_OK)
        note(C_LF_GEMM, cs, "unfold refused: %s", cn_last_error());

    float *ref = hpoison(ny), *p = hpoison(ny), *dout = dput(p, ny * 4);
    lf_forward_ref(d, x, w, ref, all);
    if (lf_gemm_forward_cuda(d, xu, dwp, dout, 0) != CN_OK)
        note(C_LF_GEMM, cs, "forward refused: %s", cn_last_error());
    float *got = dget(dout, ny);
    cmp_over(C_LF_GEMM, cs, got, ref, ny);
    free(ref), free(p), free(got), cuda_free(dout);

    float *wstart = tu_randn(nw, 0.5);
    ref = hcopy(wstart, nw);
    lf_backward_filter_ref(d, x, gy, ref, all);
    dout = dput(wstart, nw * 4);
    if (lf_gemm_backward_filter_cuda(d, xu, dgy, dout, 0) != CN_OK)
        note(C_LF_GEMM, cs, "backward filter refused: %s", cn_last_error());
    got = dget(dout, nw);
    cmp_add(C_LF_GEMM, cs, got, ref, wstart, REACH_ALL, nw);
    free(ref), free(got), free(wstart), cuda_free(dout);

    float *start = tu_randn(nx, 0.5);
    unsigned char *reach_x = lf_reach(d, all, 1); /* a stride above r leaves input gaps unread */
    ref = hcopy(start, nx);
    lf_backward_data_ref(d, w, gy, ref, all);
    dout = dput(start, nx * 4);
    if (lf_gemm_backward_data_cuda(d, dwp, dgy, dxu, 0) != CN_OK || lf_fold_cuda(d, dxu, dout, 0) != CN_OK)
        note(C_LF_GEMM, cs, "backward data refused: %s", cn_last_error());
    got = dget(dout, nx);
    cmp_add(C_LF_GEMM, cs, got, ref, start, reach_x, nx);
    free(reach_x);
    free(ref), free(got), free(start), cuda_free(dout);
    free(pu), cuda_free(xu), cuda_free(dxu);
    cuda_free(dxp), cuda_free(dwp), cuda_free(dgy);
}

/* Mode auto's record for case n: the passes rotate through the schemes, so that every pass runs
 * each scheme in some case and one call of the fused pass mixes two of them. */
static void tiles_auto_record(const lf_dims *d, size_t n, char *name, size_t len)
{
    const int rec[LF_PASS_COUNT] = {(int)(n % LF_TILES_COUNT), (int)((n + 1) % LF_TILES_COUNT),
                                    (int)((n + 2) % LF_TILES_COUNT)};
    lf_cuda_clear_tiles_for();
    if (lf_cuda_set_tiles_for(d, rec) != CN_OK)
        note(C_LF_FWD, "auto", "lf_cuda_set_tiles_for refused: %s", cn_last_error());
    snprintf(name, len, "auto(%s/%s/%s)", lf_cuda_tiles_name(rec[0]), lf_cuda_tiles_name(rec[1]),
             lf_cuda_tiles_name(rec[2]));
}

/* Every case under each tile scheme (cuda/lf_tile.cuh; t4 without its group kernels, "t4"), under t4
 * with its forward and backward data over groups (lf_cuda_set_t4_group: "t4g" split as the device's
 * SMs ask, the default, "t4g1" unsplit), and under mode auto with a record that mixes them; the
 * batched-GEMM route once. (lf_cuda_set_t4_group_fill changes how many ranges only where a shape has
 * more than the ranges' cap, its input rows: never at these sizes, so only its refusals are here.) */
static void test_lf(void)
{
    tu_check(PFX "lf_t4_group_fill_refused", lf_cuda_set_t4_group_fill(0) == CN_EINVAL &&
                                                 lf_cuda_set_t4_group_fill(65) == CN_EINVAL,
             "lf_cuda_set_t4_group_fill took 0 or 65 blocks per SM");
    for (int v = 0; v <= LF_TILES_AUTO + 2; v++)
    for (size_t n = 0; n < sizeof lf_cases / sizeof lf_cases[0]; n++) {
        const int tiles = v > LF_TILES_AUTO ? LF_TILES_T4 : v, group = v > LF_TILES_AUTO ? v - LF_TILES_AUTO : 0;
        lf_cuda_set_t4_group(group);
        if (lf_cuda_set_tiles(tiles) != CN_OK)
            note(C_LF_FWD, lf_cuda_tiles_name(tiles), "lf_cuda_set_tiles refused: %s", cn_last_error());
        const lf_case *c = &lf_cases[n];
        lf_dims d = {c->B, c->H, c->W, c->C, c->Ho, c->Wo, c->M, c->r, c->s};
        if (!c->Ho) {
            d.Ho = (c->H - c->r) / c->s + 1;
            d.Wo = (c->W - c->r) / c->s + 1;
        }
        char tn[32];
        snprintf(tn, sizeof tn, "%s%s", lf_cuda_tiles_name(tiles), group == 1 ? "g" : group == 2 ? "g1" : "");
        if (tiles == LF_TILES_AUTO)
            tiles_auto_record(&d, n, tn, sizeof tn);
        size_t nx = (size_t)d.B * d.Hx * d.Wx * d.C, ny = (size_t)d.B * d.Ho * d.Wo * d.M;
        float *x = tu_randn(nx, 1.0), *w = tu_randn(lf_filter_count(&d), 1.0), *gy = tu_randn(ny, 1.0);
        cn_region all = region_all(d.Ho, d.Wo);
        cn_region part = {d.Ho > 1 ? 1 : 0, d.Ho, d.Wo > 2 ? 1 : 0, d.Wo > 1 ? d.Wo - 1 : 1};
        cn_region empty = {0, d.Ho, 1, 1};
        char cs[96];
        snprintf(cs, sizeof cs, "%s %s (whole tile)", tn, c->name);
        lf_one(&d, all, cs, x, w, gy);
        snprintf(cs, sizeof cs, "%s %s (rows [%d,%d) cols [%d,%d))", tn, c->name, part.i0, part.i1, part.j0, part.j1);
        lf_one(&d, part, cs, x, w, gy);
        snprintf(cs, sizeof cs, "%s %s (empty region)", tn, c->name);
        lf_one(&d, empty, cs, x, w, gy);
        snprintf(cs, sizeof cs, "%s %s", tn, c->name);
        lf_twice(&d, part, cs, x, w, gy);
        if (tiles == 0)
            lf_gemm_one(&d, c->name, x, w, gy);
        free(x), free(w), free(gy);
    }
    lf_cuda_clear_tiles_for();
    lf_cuda_set_t4_group(1);
    lf_cuda_set_tiles(LF_TILES_DEFAULT); /* what the tests after this one run: the defaults */
}

/* lf_cuda_tune: a choice per pass that is lf_tiles_pick of its own positive, finite times; the
 * locations timed: the whole tile when small, else the first rows that hold about `locations`. */
static void tune_one(const lf_dims *d, int fused, int locations, int want_rows)
{
    char cs[160];
    snprintf(cs, sizeof cs, "B %d, %dx%dx%d -> %dx%dx%d, r %d, s %d%s", d->B, d->Hx, d->Wx, d->C, d->Ho, d->Wo, d->M,
             d->r, d->s, fused ? ", fused" : "");
    cases_run[C_LF_TUNE]++;
    lf_tune_result res;
    memset(&res, 0xff, sizeof res);
    if (lf_cuda_tune(d, fused, locations, &res, 0) != CN_OK) {
        note(C_LF_TUNE, cs, "refused: %s", cn_last_error());
        return;
    }
    for (int p = 0; p < LF_PASS_COUNT; p++) {
        for (int t = 0; t < LF_TILES_COUNT; t++)
            if (!(res.ms[p][t] > 0.0f && res.ms[p][t] < 1e30f))
                note(C_LF_TUNE, cs, "pass %d, scheme %d: time %g ms", p, t, (double)res.ms[p][t]);
        if (res.tiles[p] != lf_tiles_pick(res.ms[p]))
            note(C_LF_TUNE, cs, "pass %d: chose %d, not the fastest of %g, %g and %g ms", p, res.tiles[p],
                 (double)res.ms[p][0], (double)res.ms[p][1], (double)res.ms[p][2]);
    }
    if (res.rows != want_rows || res.cols != d->Wo)
        note(C_LF_TUNE, cs, "timed %d x %d locations, expected %d x %d", res.rows, res.cols, want_rows, d->Wo);
}

static void test_lf_tune(void)
{
    lf_dims small = {5, 9, 11, 3, 0, 0, 6, 3, 2};
    small.Ho = (small.Hx - small.r) / small.s + 1;
    small.Wo = (small.Wx - small.r) / small.s + 1;
    tune_one(&small, 0, 0, small.Ho); /* 20 locations: all timed */
    tune_one(&small, 1, 0, small.Ho);
    lf_dims wide = {1, 12, 40, 1, 12, 40, 1, 1, 1}; /* 480 locations; 100 asked: 100 / 40 = 2 rows timed */
    tune_one(&wide, 1, 100, 2);
    /* the rows timed fit 256 MiB of scratch with the field's r - s extra input rows: a field of 20 at
     * batch 1024, whose 19 extra rows take 119 MiB, leaves room for 14 rows (247 MiB), not the 27 (366
     * MiB) that counting s input rows per row allowed (no kernels run: lf_tune_rows is arithmetic) */
    cases_run[C_LF_TUNE]++;
    lf_dims big = {1024, 0, 200, 4, 0, 181, 1, 20, 1};
    big.Ho = 1000, big.Hx = big.Ho - 1 + big.r;
    if (lf_tune_rows(&big, 0, 1 << 20) != 14)
        note(C_LF_TUNE, "256 MiB bound", "%d rows, expected 14", lf_tune_rows(&big, 0, 1 << 20));
    for (int fused = 0; fused < 2; fused++) {
        int rows = lf_tune_rows(&big, fused, 1 << 20);
        double in = lf_tune_bytes(&big, fused, rows), out = lf_tune_bytes(&big, fused, rows + 1);
        if (!(rows >= 1 && in <= LF_TUNE_BYTES && out > LF_TUNE_BYTES))
            note(C_LF_TUNE, "256 MiB bound", "fused %d: %d rows take %.0f bytes, one more %.0f", fused, rows, in, out);
    }
    /* at least one row when one row alone is larger; the row count and Ho bound the rest */
    cases_run[C_LF_TUNE]++;
    lf_dims huge = big;
    huge.Wx = 4000, huge.Wo = huge.Wx - huge.r + 1;
    int r1 = lf_tune_rows(&huge, 0, 0), r2 = lf_tune_rows(&small, 0, 0), r3 = lf_tune_rows(&wide, 0, 100);
    if (r1 != 1 || r2 != small.Ho || r3 != 2)
        note(C_LF_TUNE, "row bounds", "rows %d %d %d, expected 1, %d, 2", r1, r2, r3, small.Ho);
    lf_tune_result res;
    lf_dims bad = small;
    bad.Ho++;
    cases_run[C_LF_TUNE]++;
    if (lf_cuda_tune(&bad, 0, 0, &res, 0) != CN_EINVAL || lf_cuda_tune(&small, 0, 0, NULL, 0) != CN_EINVAL)
        note(C_LF_TUNE, "bad dims, NULL result", "not refused");
}

/* ---- L2 pooling ----------------------------------------------------------------------------------- */
typedef struct {
    const char *name;
    int B, M, Hy, Wy, q, t;
} pool_case;
static const pool_case pool_cases[] = {
    {"b3m5h9w11q3t2", 3, 5, 9, 11, 3, 2},
    {"b2m7h10w8q2t3", 2, 7, 10, 8, 2, 3}, /* t > q: gaps */
    {"b5m3h6w7q4t1", 5, 3, 6, 7, 4, 1},   /* heavy overlap */
};

static void test_pool(void)
{
    for (size_t n = 0; n < sizeof pool_cases / sizeof pool_cases[0]; n++) {
        const pool_case *c = &pool_cases[n];
        pool_dims d = {c->B, c->M, c->Hy, c->Wy, (c->Hy - c->q) / c->t + 1, (c->Wy - c->q) / c->t + 1, c->q, c->t,
                       1e-3f};
        size_t ny = (size_t)d.B * d.Hy * d.Wy * d.M, np = (size_t)d.B * d.Hp * d.Wp * d.M;
        float *y = tu_randn(ny, 1.0), *dp = tu_randn(np, 1.0);
        float *p = malloc(np * 4);
        pool_forward_ref(&d, y, p, region_all(d.Hp, d.Wp)); /* the whole p, for the backward pass */
        float *dy_ = dput(y, ny * 4), *dpp = dput(p, np * 4), *ddp = dput(dp, np * 4);
        cn_region rgs[2] = {region_all(d.Hp, d.Wp), {d.Hp > 1 ? 1 : 0, d.Hp, 0, d.Wp > 1 ? d.Wp - 1 : 1}};
        for (int k = 0; k < 2; k++) {
            char cs[96];
            snprintf(cs, sizeof cs, "%s (%s)", c->name, k ? "part" : "whole");
            float *ref = hpoison(np), *dout = dput(ref, np * 4);
            pool_forward_ref(&d, y, ref, rgs[k]);
            if (pool_forward_cuda(&d, dy_, dout, rgs[k], 0) != CN_OK)
                note(C_POOL_FWD, cs, "refused: %s", cn_last_error());
            float *got = dget(dout, np);
            cmp_over(C_POOL_FWD, cs, got, ref, np);
            free(ref), free(got), cuda_free(dout);

            /* the inputs the region's windows reach: > 0 from y and dp all 1 */
            float *one = malloc((ny > np ? ny : np) * 4), *p1 = malloc(np * 4), *r1 = calloc(ny, 4);
            unsigned char *reach = malloc(ny);
            for (size_t e = 0; e < (ny > np ? ny : np); e++)
                one[e] = 1.0f;
            pool_forward_ref(&d, one, p1, region_all(d.Hp, d.Wp));
            pool_backward_ref(&d, one, p1, one, r1, rgs[k]);
            for (size_t e = 0; e < ny; e++)
                reach[e] = r1[e] != 0.0f;
            float *start = tu_randn(ny, 0.5);
            ref = hcopy(start, ny);
            pool_backward_ref(&d, y, p, dp, ref, rgs[k]);
            dout = dput(start, ny * 4);
            if (pool_backward_cuda(&d, dy_, dpp, ddp, dout, rgs[k], 0) != CN_OK)
                note(C_POOL_BWD, cs, "refused: %s", cn_last_error());
            got = dget(dout, ny);
            cmp_add(C_POOL_BWD, cs, got, ref, start, reach, ny);
            free(ref), free(got), free(start), cuda_free(dout);
            free(one), free(p1), free(r1), free(reach);
        }
        free(y), free(dp), free(p), cuda_free(dy_), cuda_free(dpp), cuda_free(ddp);
    }
}

/* ---- LCN -------------------------------------------------------------------------------------------- */
typedef struct {
    const char *name;
    int B, M, H, W, ty0, tx0, th, tw, n;
    float sigma;
} lcn_case;
static const lcn_case lcn_cases[] = {
    {"whole_b3m3h7w9n5", 3, 3, 7, 9, 0, 0, 7, 9, 5, 1.5f},
    {"tile_b2m4h13w11n3", 2, 4, 13, 11, 3, 4, 4, 5, 3, 1.0f},   /* a tile inside the map */
    {"corner_b3m2h10w12n5", 3, 2, 10, 12, 6, 0, 4, 3, 5, 2.0f}, /* a tile at the border */
    {"n1_b2m5h5w6", 2, 5, 5, 6, 1, 1, 3, 4, 1, 1.0f},
    {"hugen_b2m3h6w5n31", 2, 3, 6, 5, 2, 1, 3, 3, 31, 4.0f},   /* window larger than the map */
};

static void test_lcn(void)
{
    for (size_t n = 0; n < sizeof lcn_cases / sizeof lcn_cases[0]; n++) {
        const lcn_case *c = &lcn_cases[n];
        lcn_dims d = {c->B, c->M, c->H, c->W, 0, 0, 0, 0, c->ty0, c->tx0, c->th, c->tw, c->n, c->sigma, 1e-2f};
        lcn_window(c->H, c->W, c->n, c->ty0, c->tx0, c->th, c->tw, &d.wy0, &d.wx0, &d.wh, &d.ww);
        size_t nx = (size_t)d.B * d.wh * d.ww * d.M, no = (size_t)d.B * d.th * d.tw * d.M;
        float *x = tu_randn(nx, 1.0), *g = tu_randn(no, 1.0);
        float *dxp = dput(x, nx * 4), *dg = dput(g, no * 4);

        float *ref = hpoison(no), *dout = dput(ref, no * 4);
        lcn_forward_ref(&d, x, ref);
        if (lcn_forward_cuda(&d, dxp, dout, 0) != CN_OK)
            note(C_LCN_FWD, c->name, "refused: %s", cn_last_error());
        float *got = dget(dout, no);
        cmp_over(C_LCN_FWD, c->name, got, ref, no);
        free(ref), free(got), cuda_free(dout);

        float *start = tu_randn(nx, 0.5);
        ref = hcopy(start, nx);
        lcn_backward_ref(&d, x, g, ref);
        dout = dput(start, nx * 4);
        if (lcn_backward_cuda(&d, dxp, dg, dout, 0) != CN_OK)
            note(C_LCN_BWD, c->name, "refused: %s", cn_last_error());
        got = dget(dout, nx);
        cmp_add(C_LCN_BWD, c->name, got, ref, start, REACH_ALL, nx);
        free(ref), free(got), free(start), cuda_free(dout);
        free(x), free(g), cuda_free(dxp), cuda_free(dg);
    }
}

/* ---- softmax head ----------------------------------------------------------------------------------- */
static void test_head(void)
{
    static const int shapes[][3] = {{7, 5, 37}, {65, 10, 300}, {1, 1, 3}, {3, 40, 17}}; /* B, K, F */
    for (size_t n = 0; n < sizeof shapes / sizeof shapes[0]; n++) {
        head_dims d = {shapes[n][0], shapes[n][1], shapes[n][2]};
        char cs[64];
        snprintf(cs, sizeof cs, "B=%d K=%d F=%d", d.B, d.K, d.F);
        size_t nf = (size_t)d.B * d.F, nwt = (size_t)d.F * d.K, nz = (size_t)d.B * d.K;
        float *f = tu_randn(nf, 1.0), *w = tu_randn(nwt, 1.0), *dz = tu_randn(nz, 1.0);
        float *df_ = dput(f, nf * 4), *dw_ = dput(w, nwt * 4), *ddz = dput(dz, nz * 4);

        float *ref = hpoison(nz), *dout = dput(ref, nz * 4);
        head_logits_ref(&d, f, w, ref);
        if (head_logits_cuda(&d, df_, dw_, dout, 0) != CN_OK)
            note(C_HEAD_LOGITS, cs, "refused: %s", cn_last_error());
        float *got = dget(dout, nz);
        cmp_over(C_HEAD_LOGITS, cs, got, ref, nz);
        free(ref), free(got), cuda_free(dout);

        /* softmax: logits scaled up so that classes differ clearly; labels in range, then one outside */
        float *z = tu_randn(nz, 4.0);
        int *lab = malloc((size_t)d.B * sizeof *lab);
        for (int b = 0; b < d.B; b++)
            lab[b] = (int)((tu_rand() + 1.0) * 0.5 * d.K) % d.K;
        double loss_ref = 0;
        int right_ref = 0;
        float *dzref = hpoison(nz);
        head_softmax_xent_ref(&d, z, lab, &loss_ref, dzref, &right_ref);
        float *dzz = dput(z, nz * 4), *dgz = dput(dzref, nz * 4);
        int *dlab = dput(lab, (size_t)d.B * sizeof *lab);
        double *dloss = cuda_malloc(sizeof(double));
        int *dright = cuda_malloc(sizeof(int));
        float *pz = hpoison(nz);
        cuda_upload(dgz, pz, nz * 4);
        if (head_softmax_xent_cuda(&d, dzz, dlab, dloss, dgz, dright, 0) != CN_OK)
            note(C_HEAD_XENT, cs, "refused: %s", cn_last_error());
        got = dget(dgz, nz);
        double loss = 0;
        int right = 0;
        cuda_download(&loss, dloss, sizeof loss);
        cuda_download(&right, dright, sizeof right);
        cmp_over(C_HEAD_XENT, cs, got, dzref, nz);
        if (!(fabs(loss - loss_ref) <= 1e-6 * fabs(loss_ref) + 1e-12) || right != right_ref)
            note(C_HEAD_XENT, cs, "loss %.9g (reference %.9g), correct %d (reference %d)", loss, loss_ref, right,
                 right_ref);
        lab[d.B - 1] = d.K; /* out of range: loss NaN, correct -1 */
        cuda_upload(dlab, lab, (size_t)d.B * sizeof *lab);
        head_softmax_xent_cuda(&d, dzz, dlab, dloss, NULL, dright, 0);
        cuda_sync(0);
        cuda_download(&loss, dloss, sizeof loss);
        cuda_download(&right, dright, sizeof right);
        if (loss == loss || right != -1)
            note(C_HEAD_XENT, cs, "label %d outside [0, %d): loss %g (want NaN), correct %d (want -1)", d.K, d.K,
                 loss, right);
        free(got), free(pz), free(z), free(lab), free(dzref);
        cuda_free(dzz), cuda_free(dgz), cuda_free(dlab), cuda_free(dloss), cuda_free(dright);

        /* backward, with and without df */
        for (int with_df = 0; with_df < 2; with_df++) {
            float *sw = tu_randn(nwt, 0.5), *sf = tu_randn(nf, 0.5);
            float *rw = hcopy(sw, nwt), *rf = hcopy(sf, nf);
            head_backward_ref(&d, f, w, dz, rw, with_df ? rf : NULL);
            float *gw = dput(sw, nwt * 4), *gf = dput(sf, nf * 4);
            if (head_backward_cuda(&d, df_, dw_, ddz, gw, with_df ? gf : NULL, 0) != CN_OK)
                note(C_HEAD_BWD, cs, "refused: %s", cn_last_error());
            float *hw = dget(gw, nwt), *hf = dget(gf, nf);
            cmp_add(C_HEAD_BWD, cs, hw, rw, sw, REACH_ALL, nwt);
            cmp_add(C_HEAD_BWD, cs, hf, rf, sf, with_df ? REACH_ALL : NULL, nf);
            free(sw), free(sf), free(rw), free(rf), free(hw), free(hf), cuda_free(gw), cuda_free(gf);
        }
        free(f), free(w), free(dz), cuda_free(df_), cuda_free(dw_), cuda_free(ddz);
    }
}

/* ---- optimizers ------------------------------------------------------------------------------------- */
static void test_optim(void)
{
    const size_t n = 1003;
    float *w = tu_randn(n, 1.0), *g = tu_randn(n, 1.0), *s = tu_randn(n, 1.0);
    for (size_t i = 0; i < n; i++)
        s[i] = fabsf(s[i]); /* AdaGrad's sum of squares is >= 0 */
    for (int k = 0; k < 2; k++) {
        float *rw = hcopy(w, n), *rs = hcopy(s, n);
        float *dw_ = dput(w, n * 4), *ds = dput(s, n * 4), *dg = dput(g, n * 4);
        if (k == 0) {
            sgd_momentum_ref(rw, rs, g, n, 0.1f, 0.9f, 1e-3f);
            sgd_momentum_cuda(dw_, ds, dg, n, 0.1f, 0.9f, 1e-3f, 0);
        } else {
            adagrad_ref(rw, rs, g, n, 0.1f, 1e-8f, 1e-3f);
            adagrad_cuda(dw_, ds, dg, n, 0.1f, 1e-8f, 1e-3f, 0);
        }
        float *hw = dget(dw_, n), *hs = dget(ds, n);
        cmp_add(k ? C_ADAGRAD : C_SGD, "n=1003 w", hw, rw, w, REACH_ALL, n);
        cmp_add(k ? C_ADAGRAD : C_SGD, "n=1003 state", hs, rs, s, REACH_ALL, n);
        free(rw), free(rs), free(hw), free(hs), cuda_free(dw_), cuda_free(ds), cuda_free(dg);
    }
    free(w), free(g), free(s);
}

/* ---- the engine's glue (cuda/glue.cu): sums in double, residual, fill, bias ------------------------- */
static void glue_sum_check(const char *cs, double got, double want)
{
    cases_run[C_GLUE]++;
    if (!(fabs(got - want) <= 1e-12 * fmax(fabs(want), 1.0)))
        note(C_GLUE, cs, "%.17g, expected %.17g", got, want);
}

static void test_glue(void)
{
    const size_t n = 70001; /* more blocks than the sums use: the grid-stride part runs */
    const int B = 5, K = 7;
    float *a = tu_randn(n, 1.0), *x = tu_randn(n, 1.0), *ge = malloc(n * sizeof *ge);
    double want_sum = 0, want_sq = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)x[i];
        want_sum += x[i];
        want_sq += e * e;
        ge[i] = (float)(2.0 * e / B);
    }
    float *da = dput(a, n * 4), *dx = dput(x, n * 4), *dge = cuda_malloc(n * 4);
    double *dsum = cuda_malloc(2 * sizeof(double)), got[2];
    tu_check(PFX "glue_calls",
             sum_cuda(dx, n, dsum, 0) == CN_OK && rica_residual_cuda(da, dx, n, 2.0, (double)B, dge, dsum + 1, 0) == CN_OK,
             cn_last_error());
    cuda_sync(0);
    cuda_download(got, dsum, sizeof got);
    glue_sum_check("sum_cuda n=70001", got[0], want_sum);
    glue_sum_check("rica_residual_cuda sum n=70001", got[1], want_sq);
    float *hge = dget(dge, n);
    cmp_over(C_GLUE, "rica_residual_cuda ge", hge, ge, n);
    fill_cuda(dge, 1000, 0.25f, 0);
    float *hf = dget(dge, n), *rf = hcopy(hge, n);
    for (size_t i = 0; i < 1000; i++)
        rf[i] = 0.25f;
    cmp_bits(C_GLUE, "fill_cuda first 1000", hf, rf, n);
    /* bias: z [B, K] += b; gb += sum over b of dz, in order */
    float *z = tu_randn((size_t)B * K, 1.0), *bias = tu_randn((size_t)K, 1.0), *gb = tu_randn((size_t)K, 1.0);
    float *dz_ = dput(z, (size_t)B * K * 4), *db = dput(bias, (size_t)K * 4), *dgb = dput(gb, (size_t)K * 4);
    tu_check(PFX "glue_bias_calls",
             bias_grad_cuda(dz_, B, K, dgb, 0) == CN_OK && bias_add_cuda(dz_, db, B, K, 0) == CN_OK,
             cn_last_error());
    float *rgb = hcopy(gb, (size_t)K), *rz = hcopy(z, (size_t)B * K);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            rgb[k] += z[(size_t)b * K + k];
            rz[(size_t)b * K + k] += bias[k];
        }
    float *hz = dget(dz_, (size_t)B * K), *hgb = dget(dgb, (size_t)K);
    cmp_add(C_GLUE, "bias_grad_cuda", hgb, rgb, gb, REACH_ALL, (size_t)K);
    cmp_add(C_GLUE, "bias_add_cuda", hz, rz, z, REACH_ALL, (size_t)B * K);
    free(a), free(x), free(ge), free(hge), free(hf), free(rf), free(z), free(bias), free(gb), free(rgb), free(rz);
    free(hz), free(hgb);
    cuda_free(da), cuda_free(dx), cuda_free(dge), cuda_free(dsum), cuda_free(dz_), cuda_free(db), cuda_free(dgb);
}

/* ---- halo rectangles -------------------------------------------------------------------------------- */
static void test_halo(void)
{
    const int B = 3, H = 7, W = 9, C = 5;
    const cn_rect rects[] = {{2, 6, 1, 8}, {0, 7, 0, 9}, {6, 7, 8, 9}};
    size_t nm = (size_t)B * H * W * C;
    float *map = tu_randn(nm, 1.0);
    float *dm = dput(map, nm * 4);
    for (size_t k = 0; k < sizeof rects / sizeof rects[0]; k++) {
        cn_rect r = rects[k];
        char cs[64];
        snprintf(cs, sizeof cs, "rows [%d,%d) cols [%d,%d)", r.y0, r.y1, r.x0, r.x1);
        int rows = r.y1 - r.y0, cols = r.x1 - r.x0;
        size_t nb = (size_t)B * rows * cols * C;
        float *ref = malloc(nb * 4);
        for (int b = 0; b < B; b++)
            for (int y = 0; y < rows; y++)
                memcpy(ref + (((size_t)b * rows + y) * cols) * C,
                       map + (((size_t)b * H + r.y0 + y) * W + r.x0) * C, (size_t)cols * C * 4);
        float *pb = hpoison(nb), *db = dput(pb, nb * 4);
        if (halo_pack_cuda(dm, B, H, W, C, r, db, 0) != CN_OK)
            note(C_HALO_PACK, cs, "refused: %s", cn_last_error());
        float *got = dget(db, nb);
        cmp_over(C_HALO_PACK, cs, got, ref, nb);
        /* unpack into a poisoned map (copy), then add it into a random one */
        float *pm = hpoison(nm), *mref = hpoison(nm), *dpm = dput(pm, nm * 4);
        for (int b = 0; b < B; b++)
            for (int y = 0; y < rows; y++)
                memcpy(mref + (((size_t)b * H + r.y0 + y) * W + r.x0) * C,
                       ref + (((size_t)b * rows + y) * cols) * C, (size_t)cols * C * 4);
        if (halo_unpack_cuda(db, B, H, W, C, r, dpm, 0, 0) != CN_OK)
            note(C_HALO_UNPACK, cs, "refused: %s", cn_last_error());
        float *gm = dget(dpm, nm);
        cmp_over(C_HALO_UNPACK, cs, gm, mref, nm);
        float *start = tu_randn(nm, 1.0), *aref = hcopy(start, nm);
        for (int b = 0; b < B; b++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols * C; x++)
                    aref[(((size_t)b * H + r.y0 + y) * W + r.x0) * C + x] += ref[(((size_t)b * rows + y) * cols) * C + x];
        cuda_upload(dpm, start, nm * 4);
        if (halo_unpack_cuda(db, B, H, W, C, r, dpm, 1, 0) != CN_OK)
            note(C_HALO_UNPACK, cs, "refused: %s", cn_last_error());
        float *ga = dget(dpm, nm);
        cmp_add(C_HALO_UNPACK, cs, ga, aref, start, NULL, nm);
        free(ref), free(pb), free(got), free(pm), free(mref), free(gm), free(start), free(aref), free(ga);
        cuda_free(db), cuda_free(dpm);
    }
    free(map), cuda_free(dm);
}

/* ---- refusals: host-side checks only, so this runs without a GPU as well ------------------------------ */
static void test_refusals(void)
{
    float buf[64];
    for (int i = 0; i < 64; i++)
        buf[i] = (float)i;
    float keep[64];
    memcpy(keep, buf, sizeof buf);
    lf_dims bad = {2, 4, 4, 1, 3, 3, 1, 3, 1}; /* 3 x 3 outputs with field 3 need 5 x 5 inputs */
    lf_dims ok = {1, 3, 3, 1, 1, 1, 1, 3, 1};
    cn_region outside = {0, 2, 0, 1};
    int n_ok = 0, n = 0;
#define REFUSE(call) (n++, n_ok += ((call) == CN_EINVAL && cn_last_error()[0]))
    REFUSE(lf_forward_cuda(&bad, buf, buf, buf, region_all(3, 3), 0));
    REFUSE(lf_backward_data_cuda(&bad, buf, buf, buf, region_all(3, 3), 0));
    REFUSE(lf_backward_filter_cuda(&bad, buf, buf, buf, region_all(3, 3), 0));
    REFUSE(lf_backward_fused_sgd_cuda(&bad, buf, buf, buf, buf, NULL, NULL, 0.1f, 0.0f, region_all(3, 3), 0));
    REFUSE(lf_backward_fused_sgd_cuda(&ok, buf, buf, buf, NULL, buf, NULL, 0.1f, 0.0f, region_all(1, 1), 0));
    REFUSE(lf_forward_cuda(&ok, buf, buf, buf, outside, 0));
    REFUSE(lf_forward_cuda(&ok, NULL, buf, buf, region_all(1, 1), 0));
    REFUSE(lf_unfold_cuda(&bad, buf, buf, 0));
    REFUSE(lf_fold_cuda(&ok, buf, NULL, 0));
    REFUSE(lf_gemm_forward_cuda(&bad, buf, buf, buf, 0));
    REFUSE(lf_gemm_backward_data_cuda(&bad, buf, buf, buf, 0));
    REFUSE(lf_gemm_backward_filter_cuda(&ok, buf, NULL, buf, 0));
    pool_dims pd = {1, 1, 3, 3, 2, 2, 2, 2, 1e-3f}; /* 2 x 2 outputs of window 2, stride 2 need 4 x 4 */
    REFUSE(pool_forward_cuda(&pd, buf, buf, region_all(2, 2), 0));
    REFUSE(pool_backward_cuda(&pd, buf, buf, buf, buf, region_all(2, 2), 0));
    lcn_dims ld = {1, 1, 5, 5, 0, 0, 2, 2, 0, 0, 2, 2, 3, 1.0f, 1e-2f}; /* window misses what n = 3 needs */
    REFUSE(lcn_forward_cuda(&ld, buf, buf, 0));
    REFUSE(lcn_backward_cuda(&ld, buf, buf, buf, 0));
    head_dims hd = {0, 3, 4};
    REFUSE(head_logits_cuda(&hd, buf, buf, buf, 0));
    REFUSE(head_backward_cuda(&hd, buf, buf, buf, buf, NULL, 0));
    REFUSE(head_softmax_xent_cuda(&hd, buf, (const int *)buf, NULL, NULL, NULL, 0));
    REFUSE(halo_pack_cuda(buf, 1, 4, 4, 1, (cn_rect){2, 5, 0, 1}, buf, 0));
    REFUSE(halo_unpack_cuda(buf, 1, 4, 4, 1, (cn_rect){0, 1, -1, 1}, buf, 1, 0));
#undef REFUSE
    if (n_ok == n && !memcmp(buf, keep, sizeof buf))
        tu_ok(PFX "refuses_bad_dims");
    else
        tu_fail(PFX "refuses_bad_dims", "%d of %d bad calls refused with a message; buffers %s", n_ok, n,
                memcmp(buf, keep, sizeof buf) ? "CHANGED" : "untouched");
}

/* The tile mode (host only): COTSNET_CUDA_LF_TILES as given (the default, t16, when unset), a bad value refused by
 * the local filter with a line naming the variable; lf_cuda_set_tiles takes t32, t16, t4 and auto only. */
static void test_tiles_choice(void)
{
    const char *e = getenv("COTSNET_CUDA_LF_TILES");
    const int want = !e || !*e                  ? LF_TILES_DEFAULT
                     : !strcmp(e, "t32")           ? LF_TILES_T32
                     : !strcmp(e, "t16")           ? LF_TILES_T16
                     : !strcmp(e, "t4")            ? LF_TILES_T4
                     : !strcmp(e, "auto")          ? LF_TILES_AUTO
                                                   : -1;
    const int got = lf_cuda_tiles();
    char why[200] = "";
    if (got != want)
        snprintf(why, sizeof why, "COTSNET_CUDA_LF_TILES=%s: lf_cuda_tiles() = %d, expected %d", e ? e : "(unset)",
                 got, want);
    if (want < 0 && !*why) { /* refused before any launch, so host buffers are safe */
        float buf[16] = {0};
        lf_dims ok = {1, 3, 3, 1, 1, 1, 1, 3, 1};
        if (lf_forward_cuda(&ok, buf, buf, buf, region_all(1, 1), 0) != CN_EINVAL ||
            !strstr(cn_last_error(), "COTSNET_CUDA_LF_TILES"))
            snprintf(why, sizeof why, "a bad COTSNET_CUDA_LF_TILES: lf_forward_cuda did not refuse naming it (%s)",
                     cn_last_error());
    }
    if (!*why && (lf_cuda_set_tiles(-1) != CN_EINVAL || lf_cuda_set_tiles(LF_TILES_AUTO + 1) != CN_EINVAL))
        snprintf(why, sizeof why, "lf_cuda_set_tiles took an unknown scheme");
    if (!*why && (lf_cuda_set_tiles(LF_TILES_T16) != CN_OK || lf_cuda_tiles() != LF_TILES_T16 ||
                  lf_cuda_set_tiles(LF_TILES_T4) != CN_OK || lf_cuda_tiles() != LF_TILES_T4 ||
                  lf_cuda_set_tiles(LF_TILES_AUTO) != CN_OK || lf_cuda_tiles() != LF_TILES_AUTO ||
                  lf_cuda_set_tiles(LF_TILES_T32) != CN_OK || lf_cuda_tiles() != LF_TILES_T32))
        snprintf(why, sizeof why, "lf_cuda_set_tiles did not set the mode");
    if (*why)
        tu_fail(PFX "lf_tiles_choice", "%s", why);
    else
        tu_ok(PFX "lf_tiles_choice");
}

/* Mode auto (host only): each pass of a recorded shape (C, M, r, s) runs its record, any other shape
 * t32; a fixed mode overrides the record; lf_tiles_pick takes the faster, t32 on a tie or a bad time. */
static void test_tiles_auto(void)
{
    char why[200] = "";
    lf_dims a = {4, 9, 9, 3, 7, 7, 5, 3, 1}, a2 = a, other = a;
    a2.B = 9, a2.Hx = a2.Wx = 13, a2.Ho = a2.Wo = 11; /* the same product per location */
    other.M = 6;
    const int rec[LF_PASS_COUNT] = {LF_TILES_T32, LF_TILES_T4, LF_TILES_T16};
    const int bad_rec[LF_PASS_COUNT] = {LF_TILES_T16, LF_TILES_AUTO, LF_TILES_T32};
    lf_cuda_clear_tiles_for();
    if (lf_cuda_set_tiles(LF_TILES_AUTO) != CN_OK || lf_cuda_set_tiles_for(&a, rec) != CN_OK)
        snprintf(why, sizeof why, "auto or a record refused: %s", cn_last_error());
    for (int p = 0; p < LF_PASS_COUNT && !*why; p++)
        if (lf_cuda_tiles_for(&a, p) != rec[p] || lf_cuda_tiles_for(&a2, p) != rec[p] ||
            lf_cuda_tiles_for(&other, p) != LF_TILES_DEFAULT)
            snprintf(why, sizeof why, "pass %d: recorded %d, ran %d (same shape %d), another shape %d (not the default)", p,
                     rec[p], lf_cuda_tiles_for(&a, p), lf_cuda_tiles_for(&a2, p), lf_cuda_tiles_for(&other, p));
    if (!*why && (lf_cuda_set_tiles_for(&other, bad_rec) != CN_EINVAL || lf_cuda_tiles_for(&other, 0) != LF_TILES_DEFAULT))
        snprintf(why, sizeof why, "a record with an unknown scheme was taken");
    if (!*why && (lf_cuda_set_tiles(LF_TILES_T32) != CN_OK || lf_cuda_tiles_for(&a, LF_PASS_FORWARD) != LF_TILES_T32))
        snprintf(why, sizeof why, "mode t32 did not override the record");
    lf_cuda_set_tiles(LF_TILES_AUTO);
    lf_cuda_clear_tiles_for();
    if (!*why && lf_cuda_tiles_for(&a, LF_PASS_FORWARD) != LF_TILES_DEFAULT)
        snprintf(why, sizeof why, "lf_cuda_clear_tiles_for kept the record");
    lf_cuda_set_tiles(LF_TILES_DEFAULT);
    const struct {
        float ms[LF_TILES_COUNT];
        int want;
    } picks[] = {{{2.0f, 1.0f}, LF_TILES_T16}, {{1.0f, 2.0f}, LF_TILES_T32}, {{1.5f, 1.5f}, LF_TILES_T32},
                 {{0.0f, 1.0f}, LF_TILES_T16}, {{1.0f, -1.0f}, LF_TILES_T32}, {{INFINITY, 3.0f}, LF_TILES_T16},
                 {{NAN, NAN}, LF_TILES_T32}, {{2.0f, 3.0f, 1.0f}, LF_TILES_T4}, {{2.0f, 1.0f, 1.0f}, LF_TILES_T16},
                 {{1.0f, 1.0f, 1.0f}, LF_TILES_T32}, {{NAN, 2.0f, 1.5f}, LF_TILES_T4}};
    for (size_t i = 0; i < sizeof picks / sizeof picks[0] && !*why; i++)
        if (lf_tiles_pick(picks[i].ms) != picks[i].want)
            snprintf(why, sizeof why, "lf_tiles_pick(%g, %g, %g) = %d, expected %d", (double)picks[i].ms[0],
                     (double)picks[i].ms[1], (double)picks[i].ms[2], lf_tiles_pick(picks[i].ms), picks[i].want);
    if (*why)
        tu_fail(PFX "lf_tiles_auto", "%s", why);
    else
        tu_ok(PFX "lf_tiles_auto");
}

int main(void)
{
    /* host-only checks first: they need no GPU */
    int count = cuda_device_count();
    tu_check(PFX "device_query", count >= 0, "negative device count");
    test_refusals();
    test_tiles_choice();
    test_tiles_auto();
    if (count < 1) {
        for (int k = 0; k < NCHECK; k++)
            printf("skip " PFX "%s: no GPU\n", check_name[k]);
        return tu_exit();
    }
    if (cuda_select_device(-1) < 0) {
        tu_fail(PFX "select_device", "%s", cn_last_error());
        return tu_exit();
    }
    char desc[256];
    cuda_describe(desc, sizeof desc);
    const char *env = getenv("COTSNET_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("# %s; inputs from seed %llu (COTSNET_TEST_SEED=%llu repeats them)\n", desc, (unsigned long long)seed,
           (unsigned long long)seed);
    tu_seed(seed);
    test_lf();
    test_lf_tune();
    test_pool();
    test_lcn();
    test_head();
    test_optim();
    test_halo();
    test_glue();
    for (int k = 0; k < NCHECK; k++) {
        char name[96];
        snprintf(name, sizeof name, PFX "%s", check_name[k]);
        if (!cases_run[k])
            tu_fail(name, "no case ran");
        else if (fails[k])
            tu_fail(name, "%d of %d comparisons failed; first: %s", fails[k], cases_run[k], first_fail[k]);
        else
            tu_ok(name);
    }
    cuda_shutdown();
    return tu_exit();
}

#else /* no CUDA backend in this build */

int main(void)
{
    for (int k = 0; k < NCHECK; k++)
        printf("skip " PFX "%s: no GPU (CUDA backend not built)\n", check_name[k]);
    return 0;
}

#endif
