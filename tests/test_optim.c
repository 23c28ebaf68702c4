/* test_optim.c: SGD with momentum and AdaGrad references (src/optim_ref.c).
 *
 *  - three steps on one weight, checked by hand (the arithmetic is in the comments);
 *  - several steps on random tensors against a straightforward recomputation in double;
 *  - n = 0 touches nothing; the state starts at zero and carries over between calls.
 * `test_optim --dump DIR` writes inputs and outputs as .npy for tests/oracle/lcn_head.py instead. */
#include "src/common.h"
#include "src/ops.h"
#include "tests/testutil.h"

#define OPT_HAND_TOL 1e-6   /* float arithmetic vs hand-computed decimals, absolute */
#define OPT_DOUBLE_TOL 1e-6 /* normwise relative, float steps vs double recomputation */
#define OPT_N 1000
#define OPT_STEPS 5

static void test_hand(void)
{
    /* SGD, lr 0.1, mu 0.9, wd 0.1, w = 1, gradients 0.5, 0.5, -1:
     *  g' = 0.5 + 0.1*1      = 0.6       v = 0.6                      w = 1 - 0.06         = 0.94
     *  g' = 0.5 + 0.1*0.94   = 0.594     v = 0.54 + 0.594    = 1.134  w = 0.94 - 0.1134    = 0.8266
     *  g' = -1 + 0.1*0.8266  = -0.91734  v = 1.0206 - 0.91734 = 0.10326 w = 0.8266 - 0.010326 = 0.816274 */
    const float g[3] = {0.5f, 0.5f, -1.0f};
    const double want_v[3] = {0.6, 1.134, 0.10326}, want_w[3] = {0.94, 0.8266, 0.816274};
    float w = 1.0f, v = 0.0f;
    int ok = 1;
    for (int s = 0; s < 3; s++) {
        sgd_momentum_ref(&w, &v, &g[s], 1, 0.1f, 0.9f, 0.1f);
        ok &= fabs(w - want_w[s]) < OPT_HAND_TOL && fabs(v - want_v[s]) < OPT_HAND_TOL;
    }
    tu_check("optim_sgd_momentum_by_hand", ok, "SGD with momentum differs from the hand-computed steps");

    /* AdaGrad, lr 0.1, eps 0.5, wd 0.1, w = 1, gradients 0.5, 1.5, -2:
     *  g' = 0.6          h = 0.36               w = 1 - 0.06 / (0.6 + 0.5)                 = 0.9454545
     *  g' = 1.5945455    h = 0.36 + 2.5425752   = 2.9025752
     *                    w = 0.9454545 - 0.15945455 / (1.7036946 + 0.5)                    = 0.8730967
     *  g' = -1.9126903   h = 2.9025752 + 3.6583843 = 6.5609595
     *                    w = 0.8730967 + 0.19126903 / (2.5614370 + 0.5)                   = 0.9355736 */
    const float ga[3] = {0.5f, 1.5f, -2.0f};
    const double want_h[3] = {0.36, 2.9025752, 6.5609595}, want_wa[3] = {0.9454545, 0.8730967, 0.9355736};
    float wa = 1.0f, h = 0.0f;
    ok = 1;
    for (int s = 0; s < 3; s++) {
        adagrad_ref(&wa, &h, &ga[s], 1, 0.1f, 0.5f, 0.1f);
        ok &= fabs(wa - want_wa[s]) < OPT_HAND_TOL && fabs(h - want_h[s]) < 1e-6 * want_h[s] + OPT_HAND_TOL;
    }
    tu_check("optim_adagrad_by_hand", ok, "AdaGrad differs from the hand-computed steps");
}

static void dump(const char *what, const float *a, int d0, int d1)
{
    int shape[2] = {d0, d1};
    tu_dump(a, "<f4", shape, d1 > 0 ? 2 : 1, "optim_%s", what);
}

/* OPT_STEPS steps on OPT_N random weights, float reference vs double recomputation. */
static void test_random(void)
{
    const float lr = 0.05f, mu = 0.9f, wd = 1e-3f, eps = 1e-6f;
    size_t n = OPT_N;
    float *w0 = tu_randn(n, 1.0), *gs = tu_randn(n * OPT_STEPS, 2.0);
    float *ws = malloc(n * sizeof *ws), *v = calloc(n, sizeof *v);
    float *wa = malloc(n * sizeof *wa), *h = calloc(n, sizeof *h);
    memcpy(ws, w0, n * sizeof *ws);
    memcpy(wa, w0, n * sizeof *wa);
    for (int s = 0; s < OPT_STEPS; s++) {
        sgd_momentum_ref(ws, v, gs + (size_t)s * n, n, lr, mu, wd);
        adagrad_ref(wa, h, gs + (size_t)s * n, n, lr, eps, wd);
    }
    if (tu_dump_dir) {
        float par[4] = {lr, mu, wd, eps};
        dump("w0", w0, (int)n, 0); dump("g", gs, OPT_STEPS, (int)n); dump("par", par, 4, 0);
        dump("sgd_w", ws, (int)n, 0); dump("sgd_v", v, (int)n, 0);
        dump("ada_w", wa, (int)n, 0); dump("ada_h", h, (int)n, 0);
    } else {
        double *dw = malloc(n * sizeof *dw), *dv = calloc(n, sizeof *dv), *dwa = malloc(n * sizeof *dwa);
        double *dh = calloc(n, sizeof *dh), *got = malloc(4 * n * sizeof *got);
        for (size_t i = 0; i < n; i++)
            dw[i] = dwa[i] = w0[i];
        for (int s = 0; s < OPT_STEPS; s++)
            for (size_t i = 0; i < n; i++) {
                double g = gs[(size_t)s * n + i];
                double ge = g + (double)wd * dw[i];
                dv[i] = (double)mu * dv[i] + ge;
                dw[i] -= (double)lr * dv[i];
                ge = g + (double)wd * dwa[i];
                dh[i] += ge * ge;
                dwa[i] -= (double)lr * ge / (sqrt(dh[i]) + (double)eps);
            }
        double *ref[4] = {dw, dv, dwa, dh};
        float *flt[4] = {ws, v, wa, h};
        const char *names[4] = {"optim_sgd_w_vs_double", "optim_sgd_v_vs_double", "optim_adagrad_w_vs_double",
                                "optim_adagrad_h_vs_double"};
        for (int t = 0; t < 4; t++) {
            for (size_t i = 0; i < n; i++)
                got[i] = flt[t][i];
            double e = tu_relerr_d(got, ref[t], n);
            if (e <= OPT_DOUBLE_TOL)
                tu_ok(names[t]);
            else
                tu_fail(names[t], "relative error %.3e > tolerance %.1e", e, OPT_DOUBLE_TOL);
        }
        free(dw); free(dv); free(dwa); free(dh); free(got);
    }
    free(w0); free(gs); free(ws); free(v); free(wa); free(h);
}

static void test_edges(void)
{
    /* n = 0: the arrays are never touched (NULL is fine) */
    sgd_momentum_ref(NULL, NULL, NULL, 0, 0.1f, 0.9f, 0.0f);
    adagrad_ref(NULL, NULL, NULL, 0, 0.1f, 1e-8f, 0.0f);
    /* only the first n elements move */
    float w[4] = {1, 2, 3, 4}, v[4] = {0}, g[4] = {1, 1, 1, 1};
    sgd_momentum_ref(w, v, g, 2, 0.5f, 0.0f, 0.0f);
    tu_check("optim_sgd_only_n", w[0] == 0.5f && w[1] == 1.5f && w[2] == 3 && w[3] == 4 && v[2] == 0,
             "elements beyond n changed, or the plain step is wrong");
    float h[4] = {0};
    float wa[4] = {1, 2, 3, 4};
    adagrad_ref(wa, h, g, 3, 0.5f, 0.0f, 0.0f); /* first step: w -= lr * g / |g| */
    tu_check("optim_adagrad_only_n", wa[0] == 0.5f && wa[1] == 1.5f && wa[2] == 2.5f && wa[3] == 4 && h[3] == 0,
             "elements beyond n changed, or the first AdaGrad step is not lr * sign(g)");
}

int main(int argc, char **argv)
{
    if (tu_dump_args(argc, argv, "test_optim"))
        return 2;
    tu_seed(37);
    if (tu_dump_dir) {
        test_random();
        return tu_exit();
    }
    test_hand();
    test_random();
    test_edges();
    return tu_exit();
}
