/* test_lf_cpu.c: the fast CPU local filter (src/lf_cpu.c) against the reference (src/lf_ref.c).
 *
 * For every instruction set this CPU runs (generic always; avx2, avx512 where the CPU has them) and every
 * shape below, on fresh random inputs (seed printed; COTSNET_TEST_SEED=N repeats a run):
 *  - forward: inside the region, normwise relative error <= 1e-5 against lf_forward_ref, and every element
 *    written (the output starts poisoned with a NaN pattern); outside the region the poison is intact;
 *  - backward data and backward filter: onto zero, relative error <= 1e-5; onto a random prefill, the same
 *    (they ADD); elements no field of the region reaches (dx) and filters of locations outside the region
 *    (dw) are bitwise untouched;
 *  - with 1 and 3 OpenMP threads (backward data splits input rows between threads), and at 3 threads the
 *    same bits, twice, as at one thread (every pass; threads take work from one another's share);
 *  - bad arguments return CN_EINVAL exactly when the reference does, and touch nothing;
 *  - COTSNET_CPU_ISA=<set> in the environment selects that set (checked in a child process), and an
 *    unknown name is refused by lf_cpu_set_isa.
 * Shapes: odd and non-square maps, stride > 1, fields that do not tile the map, r = 1, r = H, C = 1, 3,
 * 16, 27, 32, M odd, M = 8 and 16 with C = 1 and 3 (backward filter's vectors over maps), B odd and not a
 * multiple of any vector width, runs r*C shorter than a vector, regions; forward over the images and,
 * with few images (B = 1, 6, 9 at C = 16), by dot products in NHWC. */
#include <omp.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "src/common.h"
#include "src/ops.h"
#include "src/ops_cpu.h"
#include "tests/testutil.h"

#define LF_CPU_TOL 1e-5

typedef struct {
    int B, Hx, Wx, C, M, r, s;
    int Ho, Wo;   /* 0: floor((Hx - r) / s) + 1 (the whole window); else a tile of a larger window */
    cn_region rg; /* {0,0,0,0}: the whole tile */
} lfc_case;

static const lfc_case cases[] = {
    {3, 11, 9, 1, 3, 5, 1, 0, 0, {0, 0, 0, 0}},     /* C = 1: runs of 5 floats, shorter than a vector */
    {5, 13, 15, 3, 7, 4, 2, 0, 0, {1, 4, 2, 5}},    /* (13-4) % 2 = 1: last row never read; a region */
    {13, 9, 12, 16, 5, 3, 3, 0, 0, {0, 0, 0, 0}},   /* s = r: fields tile the map */
    {17, 16, 19, 3, 9, 7, 2, 4, 5, {2, 3, 0, 5}},   /* tile of a larger window, one output row */
    {9, 8, 10, 16, 16, 5, 1, 0, 0, {1, 3, 2, 6}},   /* C = 16: runs of 80 floats */
    {7, 14, 11, 3, 11, 9, 1, 0, 0, {0, 0, 0, 0}},   /* runs of 27 floats: a partial vector after full ones */
    {1, 10, 9, 16, 1, 9, 1, 0, 0, {0, 0, 0, 0}},    /* B = 1, M = 1, runs of 144 floats */
    {33, 7, 5, 3, 8, 1, 2, 0, 0, {0, 0, 0, 0}},     /* r = 1 < s: inputs between fields unread; B = 33 */
    {6, 5, 9, 16, 3, 5, 3, 0, 0, {0, 1, 1, 2}},     /* r = Hx: one output row; a single location */
    {35, 10, 12, 16, 13, 4, 1, 0, 0, {0, 0, 0, 0}}, /* blocks over B and M with remainders */
    {4, 9, 9, 1, 2, 9, 1, 0, 0, {0, 0, 0, 0}},      /* one location, C = 1, r = 9 */
    {70, 12, 11, 1, 4, 5, 2, 0, 0, {0, 0, 0, 0}},   /* C = 1, B = 70: wide one-row blocks over images (AVX2: 5 + 4) */
    {64, 10, 9, 1, 3, 4, 2, 0, 0, {0, 0, 0, 0}},    /* C = 1, B = 64: one wide block of 8 (AVX2) or 4 vectors */
    {40, 9, 10, 3, 1, 4, 1, 0, 0, {1, 5, 0, 7}},    /* M = 1, C = 3, B = 40: forward's wide one-row blocks */
    {37, 14, 13, 1, 8, 9, 2, 0, 0, {0, 0, 0, 0}},   /* C = 1, M = 8, B = 37: backward filter over maps (runs of 9:
                                                       an 8 x 8 transpose and an edge); 8 x 8 transposes with edges */
    {11, 12, 10, 3, 16, 4, 2, 0, 0, {1, 4, 0, 3}},  /* C = 3, M = 16: over 2 (AVX2) or 1 (AVX-512) vectors of maps */
    {40, 11, 11, 3, 8, 5, 3, 0, 0, {0, 0, 0, 0}},   /* C = 3, M = 8, runs of 15: pieces of 8 + 7; B = 40 */
    {61, 12, 48, 3, 8, 12, 4, 0, 0, {0, 1, 2, 9}},  /* C = 3, B = 61: forward's band of xt over 256 KB (12 rows x
                                                       36 columns x 3 x 64 images): chunk by chunk (AVX2: 4 + 4) */
    {150, 24, 24, 3, 8, 12, 2, 0, 0, {0, 0, 0, 0}}, /* C = 3, M = 8, B = 150: backward filter over maps in units of
                                                       3 + 2 + 2 locations whose window of a field row (150 x 48
                                                       floats) is over 24 KB: x prefetched ahead (AVX2) */
    {40, 11, 13, 27, 12, 5, 2, 0, 0, {1, 4, 0, 5}}, /* C = 27, B = 40: forward over the images chunk by chunk
                                                       (band of xt 281 KB), M = 12 in 3-vector chunks of
                                                       4-map blocks (AVX2); field rows of 135 floats */
    {32, 10, 12, 32, 6, 6, 1, 0, 0, {0, 0, 0, 0}},  /* C = 32, M = 6: chunk by chunk, 4-vector chunks (AVX2) */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static lf_dims case_dims(const lfc_case *c)
{
    lf_dims d = {c->B, c->Hx, c->Wx, c->C, c->Ho, c->Wo, c->M, c->r, c->s};
    if (!c->Ho) {
        d.Ho = (c->Hx - c->r) / c->s + 1;
        d.Wo = (c->Wx - c->r) / c->s + 1;
    }
    return d;
}
static cn_region case_region(const lfc_case *c, const lf_dims *d)
{
    if (c->rg.i1 == 0 && c->rg.j1 == 0)
        return region_all(d->Ho, d->Wo);
    return c->rg;
}
static size_t n_x(const lf_dims *d) { return (size_t)d->B * d->Hx * d->Wx * d->C; }
static size_t n_y(const lf_dims *d) { return (size_t)d->B * d->Ho * d->Wo * d->M; }
static size_t n_w(const lf_dims *d) { return (size_t)d->Ho * d->Wo * d->M * d->r * d->r * d->C; }
static int in_rg(cn_region rg, int i, int j) { return i >= rg.i0 && i < rg.i1 && j >= rg.j0 && j < rg.j1; }

/* Is input (u, v) read by some output of the region? */
static int reached(const lf_dims *d, cn_region rg, int u, int v)
{
    int row = 0, col = 0;
    for (int i = rg.i0; i < rg.i1; i++)
        row |= u >= i * d->s && u < i * d->s + d->r;
    for (int j = rg.j0; j < rg.j1; j++)
        col |= v >= j * d->s && v < j * d->s + d->r;
    return row && col;
}

/* Normwise relative error over the elements where sel is set (all when sel is NULL). */
static double relerr_sel(const float *a, const float *b, const unsigned char *sel, size_t n)
{
    double num = 0, den = 0;
    for (size_t k = 0; k < n; k++) {
        if (sel && !sel[k])
            continue;
        double e = (double)a[k] - (double)b[k];
        num += e * e;
        den += (double)b[k] * b[k];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void check_close(const char *name, const float *a, const float *b, const unsigned char *sel, size_t n)
{
    double e = relerr_sel(a, b, sel, n);
    if (e <= LF_CPU_TOL && e == e)
        tu_ok(name);
    else
        tu_fail(name, "relative error %.3e > %.0e", e, LF_CPU_TOL);
}

/* Elements where sel is clear must equal ref bit for bit. */
static void check_untouched(const char *name, const float *a, const float *ref, const unsigned char *sel, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t k = 0; k < n; k++)
        if (!sel[k] && tu_f2u(a[k]) != tu_f2u(ref[k]))
            if (bad++ == 0)
                first = k;
    if (bad)
        tu_fail(name, "%zu elements outside the region changed (first at %zu)", bad, first);
    else
        tu_ok(name);
}

/* A backward pass (data: in = w, out = dx; filter: in = x, out = dw) of the fast code against the
 * reference: onto zero, then onto a prefill (it adds), the prefill untouched where sel is clear. */
typedef int (*lf_bwd_fn)(const lf_dims *d, const float *in, const float *dy, float *out, cn_region rg);
static void check_backward(const char *what, const char *tag, lf_bwd_fn ref, lf_bwd_fn fast, const lf_dims *d,
                           const float *in, const float *g, cn_region rg, const unsigned char *sel, size_t n)
{
    char name[160];
    float *o0 = calloc(n, sizeof *o0), *o1 = calloc(n, sizeof *o1), *base = malloc(n * sizeof *base);
    int rc0 = ref(d, in, g, o0, rg), rc1 = fast(d, in, g, o1, rg);
    snprintf(name, sizeof name, "bwd_%s_%s", what, tag);
    if (rc0 || rc1)
        tu_fail(name, "returned %d (reference %d): %s", rc1, rc0, cn_last_error());
    else
        check_close(name, o1, o0, NULL, n);
    tu_fill(o0, n, 1.0);
    memcpy(o1, o0, n * sizeof *o1);
    memcpy(base, o0, n * sizeof *base);
    ref(d, in, g, o0, rg);
    fast(d, in, g, o1, rg);
    snprintf(name, sizeof name, "bwd_%s_adds_%s", what, tag);
    check_close(name, o1, o0, NULL, n);
    snprintf(name, sizeof name, "bwd_%s_untouched_%s", what, tag);
    check_untouched(name, o1, base, sel, n);
    free(o0), free(o1), free(base);
}

/* The same bits from every run and every thread count: each pass at nthreads threads, twice, against
 * the pass at one thread (threads split the outputs, and take work from one another's share, so which
 * thread computes an element must never change its sum). */
static int same_bits(const float *a, const float *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (tu_f2u(a[k]) != tu_f2u(b[k]))
            return 0;
    return 1;
}

static void check_bits(const char *tag, const lf_dims *d, cn_region rg, int nthreads, const float *x, const float *w,
                       const float *g)
{
    const size_t n[3] = {n_y(d), n_x(d), n_w(d)};
    static const char *const what[3] = {"fwd", "bwd_data", "bwd_filter"};
    for (int p = 0; p < 3; p++) {
        float *o[3], *base = malloc(n[p] * sizeof *base);
        tu_fill(base, n[p], 1.0); /* the same prefill for all three (the backward passes add onto it) */
        for (int k = 0; k < 3; k++) { /* one thread, then nthreads twice */
            o[k] = malloc(n[p] * sizeof *o[k]);
            memcpy(o[k], base, n[p] * sizeof *o[k]);
            omp_set_num_threads(k == 0 ? 1 : nthreads);
            if (p == 0)
                lf_forward_cpu(d, x, w, o[k], rg);
            else if (p == 1)
                lf_backward_data_cpu(d, w, g, o[k], rg);
            else
                lf_backward_filter_cpu(d, x, g, o[k], rg);
        }
        char name[200];
        snprintf(name, sizeof name, "bits_%s_%s", what[p], tag);
        tu_check(name, same_bits(o[1], o[0], n[p]) && same_bits(o[2], o[0], n[p]),
                 "not the same bits as with one thread, or from one run to the next");
        for (int k = 0; k < 3; k++)
            free(o[k]);
        free(base);
    }
    omp_set_num_threads(nthreads);
}

static void run_case(int ci, const char *isa, int nthreads)
{
    const lfc_case *c = &cases[ci];
    lf_dims d = case_dims(c);
    cn_region rg = case_region(c, &d);
    size_t nx = n_x(&d), ny = n_y(&d), nw = n_w(&d), K = (size_t)d.r * d.r * d.C;
    char name[160];
    char tag[128];
    snprintf(tag, sizeof tag, "%s_t%d_b%dh%dw%dc%dm%dr%ds%d_rg%d-%d,%d-%d", isa, nthreads, d.B, d.Hx, d.Wx, d.C,
             d.M, d.r, d.s, rg.i0, rg.i1, rg.j0, rg.j1);
    omp_set_num_threads(nthreads);

    float *x = tu_randn(nx, 1.0), *w = tu_randn(nw, 1.0), *g = tu_randn(ny, 1.0);
    float *y0 = malloc(ny * sizeof *y0), *y1 = malloc(ny * sizeof *y1);
    unsigned char *ysel = calloc(ny, 1), *xsel = calloc(nx, 1), *wsel = calloc(nw, 1);
    for (int b = 0; b < d.B; b++)
        for (int i = 0; i < d.Ho; i++)
            for (int j = 0; j < d.Wo; j++)
                if (in_rg(rg, i, j))
                    memset(ysel + (((size_t)b * d.Ho + i) * d.Wo + j) * d.M, 1, (size_t)d.M);
    for (int b = 0; b < d.B; b++)
        for (int u = 0; u < d.Hx; u++)
            for (int v = 0; v < d.Wx; v++)
                if (reached(&d, rg, u, v))
                    memset(xsel + (((size_t)b * d.Hx + u) * d.Wx + v) * d.C, 1, (size_t)d.C);
    for (int i = 0; i < d.Ho; i++)
        for (int j = 0; j < d.Wo; j++)
            if (in_rg(rg, i, j))
                memset(wsel + ((size_t)i * d.Wo + j) * d.M * K, 1, d.M * K);

    /* forward */
    tu_poison(y0, ny);
    tu_poison(y1, ny);
    int rc0 = lf_forward_ref(&d, x, w, y0, rg), rc1 = lf_forward_cpu(&d, x, w, y1, rg);
    size_t unwritten = 0;
    for (size_t k = 0; k < ny; k++)
        unwritten += ysel[k] && tu_f2u(y1[k]) == TU_POISON;
    snprintf(name, sizeof name, "fwd_%s", tag);
    if (rc0 || rc1)
        tu_fail(name, "returned %d (reference %d): %s", rc1, rc0, cn_last_error());
    else if (unwritten)
        tu_fail(name, "%zu outputs in the region not written", unwritten);
    else
        check_close(name, y1, y0, ysel, ny);
    snprintf(name, sizeof name, "fwd_untouched_%s", tag);
    check_untouched(name, y1, y0, ysel, ny);

    check_backward("data", tag, lf_backward_data_ref, lf_backward_data_cpu, &d, w, g, rg, xsel, nx);
    check_backward("filter", tag, lf_backward_filter_ref, lf_backward_filter_cpu, &d, x, g, rg, wsel, nw);
    if (nthreads > 1)
        check_bits(tag, &d, rg, nthreads, x, w, g);

    free(x), free(w), free(g), free(y0), free(y1), free(ysel), free(xsel), free(wsel);
    omp_set_num_threads(1);
}

/* Every bad argument gives CN_EINVAL from both, with the same verdict, and no write. */
static void check_bad_args(void)
{
    const lf_dims good = {2, 7, 6, 3, 3, 2, 4, 3, 2};
    float x[2 * 7 * 6 * 3], w[3 * 2 * 4 * 27], y[2 * 3 * 2 * 4];
    const size_t nx = sizeof x / sizeof x[0], nw = sizeof w / sizeof w[0], ny = sizeof y / sizeof y[0];
    struct {
        const char *what;
        lf_dims d;
        cn_region rg;
        int null_arg;
    } bad[] = {
        {"zero_batch", {0, 7, 6, 3, 3, 2, 4, 3, 2}, {0, 3, 0, 2}, 0},
        {"zero_maps", {2, 7, 6, 3, 3, 2, 0, 3, 2}, {0, 3, 0, 2}, 0},
        {"zero_stride", {2, 7, 6, 3, 3, 2, 4, 3, 0}, {0, 3, 0, 2}, 0},
        {"window_too_small", {2, 7, 6, 3, 4, 2, 4, 3, 2}, {0, 4, 0, 2}, 0},
        {"field_larger_than_window", {2, 7, 6, 3, 1, 1, 4, 8, 1}, {0, 1, 0, 1}, 0},
        {"region_outside", good, {0, 4, 0, 2}, 0},
        {"region_negative", good, {-1, 2, 0, 2}, 0},
        {"region_reversed", good, {2, 1, 0, 2}, 0},
        {"null_array", good, {0, 3, 0, 2}, 1},
        {"overflow", {1 << 30, 1 << 20, 1 << 20, 1 << 10, 1, 1, 1, 1, 1}, {0, 1, 0, 1}, 0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float *xa = bad[k].null_arg ? NULL : x;
        tu_poison(y, ny);
        tu_poison(x, nx);
        tu_poison(w, nw);
        int r[6];
        r[0] = lf_forward_ref(&bad[k].d, xa, w, y, bad[k].rg);
        r[1] = lf_forward_cpu(&bad[k].d, xa, w, y, bad[k].rg);
        r[2] = lf_backward_data_ref(&bad[k].d, w, y, xa, bad[k].rg);
        r[3] = lf_backward_data_cpu(&bad[k].d, w, y, xa, bad[k].rg);
        r[4] = lf_backward_filter_ref(&bad[k].d, xa, y, w, bad[k].rg);
        r[5] = lf_backward_filter_cpu(&bad[k].d, xa, y, w, bad[k].rg);
        int touched = tu_poison_count(y, ny) != ny || tu_poison_count(x, nx) != nx || tu_poison_count(w, nw) != nw;
        char name[96];
        snprintf(name, sizeof name, "bad_args_%s", bad[k].what);
        int same = r[0] == r[1] && r[2] == r[3] && r[4] == r[5];
        int all = r[1] == CN_EINVAL && r[3] == CN_EINVAL && r[5] == CN_EINVAL;
        if (!same || !all || touched)
            tu_fail(name, "returns fwd %d/%d data %d/%d filter %d/%d (cpu/ref), buffers %s", r[1], r[0], r[3],
                    r[2], r[5], r[4], touched ? "touched" : "intact");
        else
            tu_ok(name);
    }
    /* an empty region is fine and writes nothing */
    tu_poison(y, ny);
    tu_fill(x, nx, 1.0);
    tu_fill(w, nw, 1.0);
    int rc = lf_forward_cpu(&good, x, w, y, (cn_region){1, 1, 0, 2});
    tu_check("empty_region", rc == CN_OK && tu_poison_count(y, ny) == ny, "empty region failed or wrote");
}

/* COTSNET_CPU_ISA in the environment, read at the first call, picks the set (in a child process). */
static void check_env(const char *self, const char *isa)
{
    char cmd[1024], out[64] = "";
    snprintf(cmd, sizeof cmd, "COTSNET_CPU_ISA=%s '%s' --print-isa 2>/dev/null", isa, self);
    FILE *p = popen(cmd, "r");
    if (!p) {
        tu_fail("env_isa", "popen failed");
        return;
    }
    if (!fgets(out, sizeof out, p))
        out[0] = 0;
    int st = pclose(p);
    out[strcspn(out, "\n")] = 0;
    char name[64];
    snprintf(name, sizeof name, "env_isa_%s", isa);
    if (st != 0 || strcmp(out, isa) != 0)
        tu_fail(name, "COTSNET_CPU_ISA=%s gave '%s' (status %d)", isa, out, st);
    else
        tu_ok(name);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-isa") == 0) {
        printf("%s\n", lf_cpu_isa());
        return 0;
    }
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    const char *es = getenv("COTSNET_TEST_SEED");
    if (es && *es)
        seed = strtoull(es, NULL, 10);
    printf("# seed %llu (COTSNET_TEST_SEED=%llu repeats this run); default set: %s\n", (unsigned long long)seed,
           (unsigned long long)seed, lf_cpu_isa());
    tu_seed(seed);

    static const char *const isas[] = {"generic", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        if (!lf_cpu_isa_supported(isas[k])) {
            char name[64];
            snprintf(name, sizeof name, "isa_%s", isas[k]);
            tu_skip(name, "this CPU does not have it");
            continue;
        }
        if (lf_cpu_set_isa(isas[k]) != CN_OK || strcmp(lf_cpu_isa(), isas[k]) != 0) {
            tu_fail("set_isa", "could not select %s: %s", isas[k], cn_last_error());
            continue;
        }
        for (int c = 0; c < NCASES; c++) {
            run_case(c, isas[k], 1);
            run_case(c, isas[k], 3);
        }
        check_env(argv[0], isas[k]);
    }
    tu_check("set_isa_unknown", lf_cpu_set_isa("sse9") == CN_EINVAL, "unknown set accepted");
    lf_cpu_set_isa("auto");
    check_bad_args();
    return tu_exit();
}
