/* test_head.c: softmax head reference (src/head_ref.c) against its own definition.
 *
 *  - gradient: dz = dL/dz, dw, df (head_backward_ref) and the bias gradient sum_b dz equal finite
 *    differences of the loss computed by head_logits_ref + head_softmax_xent_ref;
 *  - split: features split into two tiles give partial logits that sum to the whole, and gradients that
 *    are the matching slices of the whole ones;
 *  - correct-count against a recomputed argmax; huge logits stay finite (max subtraction);
 *  - bad arguments (labels outside [0, K), zero or overflowing sizes, NULL) return CN_EINVAL and leave
 *    the outputs untouched.
 * `test_head --dump DIR` writes inputs and outputs as .npy for tests/oracle/lcn_head.py instead. */
#include <limits.h>

#include "src/common.h"
#include "src/ops.h"
#include "tests/testutil.h"

/* 4-point central differences with step HEAD_FD_STEP on inputs on a 2^-12 grid (exact x +- h);
 * the loss is a double, the logits float (1e-7 relative rounding). */
#define HEAD_FD_STEP (1.0 / 64)
#define HEAD_FD_TOL 1e-4    /* normwise relative, every gradient vs finite differences */
#define HEAD_SPLIT_TOL 1e-6 /* partial logits summed vs whole logits (different summation order) */

typedef struct {
    const char *name;
    int B, K, F;
} head_case;

static const head_case cases[] = {
    {"b3k5f7", 3, 5, 7},
    {"b1k2f13", 1, 2, 13},
    {"b4k10f30", 4, 10, 30},
    {"b5k3f2", 5, 3, 2},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* Full logits z = f w + bias. */
static int logits(const head_dims *d, const float *f, const float *w, const float *bias, float *z)
{
    int rc = head_logits_ref(d, f, w, z);
    for (int b = 0; rc == CN_OK && b < d->B; b++)
        for (int k = 0; k < d->K; k++)
            z[(size_t)b * d->K + k] += bias[k];
    return rc;
}

static double loss_of(const head_dims *d, const float *f, const float *w, const float *bias, const int *labels,
                      float *z)
{
    double loss = NAN;
    if (logits(d, f, w, bias, z) != CN_OK || head_softmax_xent_ref(d, z, labels, &loss, NULL, NULL) != CN_OK)
        return NAN;
    return loss;
}

/* Finite-difference gradient of the loss with respect to every element of a (f, w, bias or z itself). */
static void fd_grad(const head_dims *d, float *f, float *w, float *bias, const int *labels, float *a, size_t n,
                    float *zs, int wrt_z, float *out)
{
    const double h = HEAD_FD_STEP;
    for (size_t e = 0; e < n; e++) {
        float a0 = a[e];
        double l[2][2]; /* l[s-1][0]: loss at a0 + s h, l[s-1][1]: at a0 - s h */
        for (int s = 1; s <= 2; s++)
            for (int sg = 0; sg < 2; sg++) {
                a[e] = (float)(a0 + (sg ? -s : s) * h);
                l[s - 1][sg] = NAN;
                if (wrt_z)
                    head_softmax_xent_ref(d, a, labels, &l[s - 1][sg], NULL, NULL);
                else
                    l[s - 1][sg] = loss_of(d, f, w, bias, labels, zs);
            }
        a[e] = a0;
        out[e] = (float)((8.0 * (l[0][0] - l[0][1]) - (l[1][0] - l[1][1])) / (12.0 * h));
    }
}

static void dumpf(const head_case *c, const char *what, const void *a, const char *dtype, int d0, int d1)
{
    int shape[2] = {d0, d1};
    tu_dump(a, dtype, shape, d1 > 0 ? 2 : 1, "head_%s_%s", c->name, what);
}

static void check_grad(const char *what, const head_case *c, const float *analytic, const float *fd, size_t n)
{
    char name[128];
    snprintf(name, sizeof name, "head_grad_fd_%s_%s", what, c->name);
    printf("# %s: relative error %.2e (tolerance %.0e)\n", name, tu_relerr(analytic, fd, n), HEAD_FD_TOL);
    tu_close(name, analytic, fd, n, HEAD_FD_TOL);
}

static void run_case(const head_case *c)
{
    char name[128];
    head_dims d = {c->B, c->K, c->F};
    size_t B = (size_t)c->B, K = (size_t)c->K, F = (size_t)c->F;
    float *f = tu_grid_rand(B * F, 1.0), *w = tu_grid_rand(F * K, 0.5), *bias = tu_grid_rand(K, 0.5);
    int *labels = malloc(B * sizeof *labels);
    for (size_t b = 0; b < B; b++)
        labels[b] = (int)((tu_rand() + 1) * 0.5 * c->K) % c->K;
    float *z = malloc(B * K * sizeof *z), *dz = malloc(B * K * sizeof *dz);
    float *dw = calloc(F * K, sizeof *dw), *df = calloc(B * F, sizeof *df), *zs = malloc(B * K * sizeof *zs);
    double loss = NAN;
    int correct = -1;
    int rc = logits(&d, f, w, bias, z);
    if (rc == CN_OK)
        rc = head_softmax_xent_ref(&d, z, labels, &loss, dz, &correct);
    if (rc == CN_OK)
        rc = head_backward_ref(&d, f, w, dz, dw, df);
    if (rc != CN_OK) {
        snprintf(name, sizeof name, "head_run_%s", c->name);
        tu_fail(name, "%s", cn_last_error());
        goto done;
    }
    /* split into two tiles: features [0, F1) and [F1, F) of every sample */
    size_t F1 = F / 3 ? F / 3 : 1, F2 = F - F1;
    head_dims d1 = {c->B, c->K, (int)F1}, d2 = {c->B, c->K, (int)F2};
    float *f1 = malloc(B * F1 * sizeof *f1), *f2 = malloc(B * F2 * sizeof *f2);
    float *z1 = malloc(B * K * sizeof *z1), *z2 = malloc(B * K * sizeof *z2), *zsplit = malloc(B * K * sizeof *zsplit);
    float *dws = calloc(F * K, sizeof *dws), *df1 = calloc(B * F1, sizeof *df1), *df2 = calloc(B * F2, sizeof *df2);
    for (size_t b = 0; b < B; b++) {
        memcpy(f1 + b * F1, f + b * F, F1 * sizeof *f);
        memcpy(f2 + b * F2, f + b * F + F1, F2 * sizeof *f);
    }
    int src = head_logits_ref(&d1, f1, w, z1);
    src |= head_logits_ref(&d2, f2, w + F1 * K, z2);
    src |= head_backward_ref(&d1, f1, w, dz, dws, df1);
    src |= head_backward_ref(&d2, f2, w + F1 * K, dz, dws + F1 * K, df2);
    for (size_t e = 0; e < B * K; e++)
        zsplit[e] = z1[e] + z2[e] + bias[e % K];

    if (tu_dump_dir) {
        double lf = loss;
        float loss32 = (float)lf;
        dumpf(c, "f", f, "<f4", c->B, c->F); dumpf(c, "w", w, "<f4", c->F, c->K);
        dumpf(c, "bias", bias, "<f4", c->K, 0); dumpf(c, "labels", labels, "<i4", c->B, 0);
        dumpf(c, "z", z, "<f4", c->B, c->K); dumpf(c, "z_split", zsplit, "<f4", c->B, c->K);
        dumpf(c, "loss", &loss32, "<f4", 1, 0); dumpf(c, "correct", &correct, "<i4", 1, 0);
        dumpf(c, "dz", dz, "<f4", c->B, c->K); dumpf(c, "dw", dw, "<f4", c->F, c->K);
        dumpf(c, "df", df, "<f4", c->B, c->F);
        goto split_done;
    }

    /* gradients against finite differences */
    float *fd = calloc(B * F + F * K + B * K + K, sizeof *fd), *db = calloc(K, sizeof *db);
    float *zc = malloc(B * K * sizeof *zc);
    memcpy(zc, z, B * K * sizeof *zc);
    fd_grad(&d, f, w, bias, labels, zc, B * K, zs, 1, fd);
    check_grad("logits", c, dz, fd, B * K);
    fd_grad(&d, f, w, bias, labels, w, F * K, zs, 0, fd);
    check_grad("weights", c, dw, fd, F * K);
    fd_grad(&d, f, w, bias, labels, f, B * F, zs, 0, fd);
    check_grad("features", c, df, fd, B * F);
    fd_grad(&d, f, w, bias, labels, bias, K, zs, 0, fd);
    for (size_t b = 0; b < B; b++)
        for (size_t k = 0; k < K; k++)
            db[k] += dz[b * K + k];
    check_grad("bias", c, db, fd, K);
    free(fd); free(db); free(zc);

    /* the loss itself and the correct count, recomputed here in double */
    double ref = 0;
    int right = 0;
    for (size_t b = 0; b < B; b++) {
        double m = -INFINITY, s = 0;
        size_t best = 0;
        for (size_t k = 0; k < K; k++)
            if (z[b * K + k] > m) { m = z[b * K + k]; best = k; }
        for (size_t k = 0; k < K; k++)
            s += exp(z[b * K + k] - m);
        ref += (log(s) + m - z[b * K + (size_t)labels[b]]) / c->B;
        right += best == (size_t)labels[b];
    }
    snprintf(name, sizeof name, "head_loss_value_%s", c->name);
    tu_check(name, fabs(loss - ref) <= 1e-12 * fabs(ref) + 1e-15, "loss differs from log-sum-exp in double");
    snprintf(name, sizeof name, "head_correct_%s", c->name);
    tu_check(name, correct == right, "correct count differs from the argmax count");

    /* the split */
    snprintf(name, sizeof name, "head_split_logits_%s", c->name);
    tu_close(name, zsplit, z, B * K, src == CN_OK ? HEAD_SPLIT_TOL : -1.0);
    int same = src == CN_OK && memcmp(dws, dw, F * K * sizeof *dw) == 0;
    for (size_t b = 0; b < B; b++) {
        same &= memcmp(df1 + b * F1, df + b * F, F1 * sizeof *df) == 0;
        same &= memcmp(df2 + b * F2, df + b * F + F1, F2 * sizeof *df) == 0;
    }
    snprintf(name, sizeof name, "head_split_backward_%s", c->name);
    tu_check(name, same, "the tiles' dw and df are not the slices of the whole-head ones");

    /* backward adds into dw and df */
    memcpy(dws, dw, F * K * sizeof *dw);
    head_backward_ref(&d, f, w, dz, dws, NULL);
    for (size_t e = 0; e < F * K; e++)
        dws[e] -= dw[e]; /* (dw + dw) - dw: dw again */
    snprintf(name, sizeof name, "head_backward_accumulates_%s", c->name);
    tu_check(name, tu_relerr(dws, dw, F * K) <= 1e-7, "a second backward call did not add to dw");
split_done:
    free(f1); free(f2); free(z1); free(z2); free(zsplit); free(dws); free(df1); free(df2);
done:
    free(f); free(w); free(bias); free(labels); free(z); free(dz); free(dw); free(df); free(zs);
}

/* Logits far beyond exp's range: the max subtraction keeps everything finite and exact. */
static void test_stable(void)
{
    head_dims d = {2, 3, 1};
    float z[6] = {1000.0f, -1000.0f, 999.0f, -3000.0f, -2999.0f, -3001.0f};
    int labels[2] = {2, 0};
    double loss = NAN;
    float dz[6];
    int correct = -1;
    int rc = head_softmax_xent_ref(&d, z, labels, &loss, dz, &correct);
    /* -log P: sample 0: log(1 + e^-1 + e^-2000) + 1; sample 1: log(e^-1 + 1 + e^-2) + 1 */
    double l0 = log1p(exp(-1.0)) + 1.0, l1 = log(exp(-1.0) + 1.0 + exp(-2.0)) + 1.0;
    int finite = 1;
    for (int i = 0; i < 6; i++)
        finite &= isfinite(dz[i]);
    tu_check("head_stable_huge_logits", rc == CN_OK && finite && fabs(loss - (l0 + l1) / 2) < 1e-12 && correct == 0,
             "huge logits gave a non-finite or wrong loss");
    head_dims k1 = {2, 1, 1};
    float z1[2] = {3.0f, -7.0f}, dz1[2] = {1, 1};
    int lab1[2] = {0, 0};
    rc = head_softmax_xent_ref(&k1, z1, lab1, &loss, dz1, &correct);
    tu_check("head_one_class", rc == CN_OK && loss == 0 && dz1[0] == 0 && dz1[1] == 0 && correct == 2,
             "K = 1 must give loss 0, dz 0 and every prediction right");
}

static int untouched(const void *a, size_t bytes)
{
    const unsigned char *p = a;
    for (size_t i = 0; i < bytes; i++)
        if (p[i] != 0x7f)
            return 0;
    return 1;
}

static void test_bad_args(void)
{
    enum { B = 3, K = 4, F = 5 };
    float f[B * F], w[F * K], z[B * K], dz[B * K], dw[F * K], df[B * F];
    tu_fill(f, B * F, 1.0);
    tu_fill(w, F * K, 1.0);
    tu_fill(z, B * K, 1.0);
    char name[96];
    /* labels outside [0, K): nothing written, not even the samples before the bad one */
    int bad_labels[][B] = {{0, 1, -1}, {0, K, 1}, {INT_MIN, 0, 0}};
    for (int t = 0; t < 3; t++) {
        double loss;
        int correct;
        memset(&loss, 0x7f, sizeof loss);
        memset(&correct, 0x7f, sizeof correct);
        memset(dz, 0x7f, sizeof dz);
        int rc = head_softmax_xent_ref(&(head_dims){B, K, F}, z, bad_labels[t], &loss, dz, &correct);
        snprintf(name, sizeof name, "head_bad_label_%d", t);
        tu_check(name, rc == CN_EINVAL && untouched(&loss, sizeof loss) && untouched(&correct, sizeof correct) &&
                           untouched(dz, sizeof dz), "bad label accepted or outputs written");
    }
    struct { const char *what; head_dims d; } bad[] = {
        {"B_zero", {0, K, F}}, {"K_zero", {B, 0, F}}, {"F_zero", {B, K, 0}}, {"negative", {B, -K, F}},
        {"overflow", {INT_MAX, INT_MAX, INT_MAX}},
    };
    int labels[B] = {0, 1, 2};
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        memset(z, 0x7f, sizeof z);
        memset(dw, 0x7f, sizeof dw);
        memset(df, 0x7f, sizeof df);
        memset(dz, 0x7f, sizeof dz);
        int r1 = head_logits_ref(&bad[t].d, f, w, z);
        int r2 = head_backward_ref(&bad[t].d, f, w, z, dw, df);
        int r3 = bad[t].d.F == 0 ? CN_EINVAL : head_softmax_xent_ref(&bad[t].d, f, labels, NULL, dz, NULL);
        snprintf(name, sizeof name, "head_bad_%s", bad[t].what);
        tu_check(name, r1 == CN_EINVAL && r2 == CN_EINVAL && r3 == CN_EINVAL && untouched(z, sizeof z) &&
                           untouched(dw, sizeof dw) && untouched(df, sizeof df) && untouched(dz, sizeof dz),
                 "bad dimensions accepted or outputs written");
    }
    memset(z, 0x7f, sizeof z);
    int r1 = head_logits_ref(&(head_dims){B, K, F}, NULL, w, z);
    int r2 = head_softmax_xent_ref(&(head_dims){B, K, F}, z, NULL, NULL, dz, NULL);
    tu_check("head_bad_null", r1 == CN_EINVAL && r2 == CN_EINVAL && untouched(z, sizeof z), "NULL accepted");
    /* the same buffers with good arguments are written: the poison check can see a write */
    int rc = head_logits_ref(&(head_dims){B, K, F}, f, w, z);
    int written = 1;
    for (int i = 0; i < B * K; i++)
        written &= fabsf(z[i]) < 1e30f;
    tu_check("head_good_args_write", rc == CN_OK && written, "valid call did not write every logit");
}

int main(int argc, char **argv)
{
    if (tu_dump_args(argc, argv, "test_head"))
        return 2;
    tu_seed(23);
    for (int i = 0; i < NCASES; i++)
        run_case(&cases[i]);
    if (tu_dump_dir)
        return tu_exit();
    test_stable();
    test_bad_args();
    return tu_exit();
}
