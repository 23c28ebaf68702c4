/* bench_cuda.c: the local filter on the GPU (cuda/lf.cu) at batch 128, on the tile that one rank of an
 * 8 x 8 grid holds in each stage of the Le et al. 2012 network, against the GPU's measured ceilings and
 * against PyTorch on the same GPU (bench/peers_cuda.py).
 *
 *   bench_cuda [--peers FILE] [--reps N] [--t4-group 0|1|2]    the table (every column is defined in
 *       docs/CUDA.md); --t4-group: scheme t4's group kernels off (0), on (1, the default) or unsplit (2)
 *       (lf_cuda_set_t4_group); --t4-group-fill N: their split aims at N blocks per SM (default 4)
 *   bench_cuda --shapes                      one line per shape, for bench/peers_cuda.py
 *   bench_cuda --job JOB.ini [--grid PYxPX] [--batch B] [--set section.key=value ..] [--reps N]
 *       the passes of a training step of every stage of a job on the GPU, on its slowest rank's tiles,
 *       one line per stage and pass, for bench/perfmodel.py --rates (bench/jobpass.h says what is timed;
 *       checks: 1e-4 relative). Built against the CPU emulator of cuda/emu (CN_CUDA_EMU, for
 *       tests/t_jobpass.sh), only this mode exists.
 *
 * The shapes (docs/CUDA.md derives them): Le et al. 2012 has a 200x200x3 input, 18x18 fields and 8
 * maps per location; strides 1 (field and 5x5 pooling), which gives their ~1.2e9 parameters. On an
 * 8 x 8 grid the first ranks hold the largest tiles (uneven tiles: the remainder goes first):
 *   stage 1: 183x183 outputs -> 23x23 tile, window 40x40x3,  K = 18*18*3 = 972
 *   stage 2: 162x162 outputs -> 21x21 tile, window 38x38x8,  K = 18*18*8 = 2592
 *   stage 3: 141x141 outputs -> 18x18 tile, window 35x35x8,  K = 2592
 * Every pass is checked against the CPU reference (on a 2 x 3 region of the tile, to keep the CPU
 * time short) before it is timed. Timing: CUDA events around each run, after 3 warm-up runs; the
 * median of --reps runs (default 50); inputs rotate over 4 sets (more than the L2 cache holds), so
 * the numbers are not L2-resident re-reads. Built without CUDA, it says so and exits 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"
#include "src/ops.h"

#ifdef CN_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "bench/jobpass.h"
#include "cuda/ops_cuda.h"
#include "cuda/roofline.h"

#define CHECK_CUDA(call)                                                                                 \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess)                                                                           \
            cn_fatal("%s: %s", #call, cudaGetErrorString(e_));                                           \
    } while (0)
#define MUST(call)                                                                                       \
    do {                                                                                                 \
        if ((call) != CN_OK)                                                                             \
            cn_fatal("%s: %s", #call, cn_last_error());                                                  \
    } while (0)

/* ---- --job: the GPU backend of bench/jobpass.h (the engine's CUDA kernels, on the default stream) ---- */
static float *gpu_alloc(size_t n)
{
    float *p = cuda_malloc(n * sizeof *p);
    cuda_memset(p, 0, n * sizeof *p, 0);
    return p;
}
static void gpu_release(float *p) { cuda_free(p); }
static void gpu_zero(float *p, size_t n) { cuda_memset(p, 0, n * sizeof *p, 0); }
static void gpu_upload(float *dst, const float *src, size_t n) { cuda_upload(dst, src, n * sizeof *dst); }
static void gpu_download(float *dst, const float *src, size_t n) { cuda_download(dst, src, n * sizeof *dst); }
static void gpu_sync(void) { cuda_sync(0); }
static int gpu_lf_forward(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg)
{
    return lf_forward_cuda(d, x, w, y, rg, 0);
}
static int gpu_lf_backward_data(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg)
{
    return lf_backward_data_cuda(d, w, dy, dx, rg, 0);
}
static int gpu_lf_backward_filter(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg)
{
    return lf_backward_filter_cuda(d, x, dy, dw, rg, 0);
}
static int gpu_pool_forward(const pool_dims *d, const float *y, float *p, cn_region rg)
{
    return pool_forward_cuda(d, y, p, rg, 0);
}
static int gpu_pool_backward(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                             cn_region rg)
{
    return pool_backward_cuda(d, y, p, dp, dy, rg, 0);
}
static int gpu_lcn_forward(const lcn_dims *d, const float *x, float *out) { return lcn_forward_cuda(d, x, out, 0); }
/* src/stage.c's rica_sums_gpu: the residual and the two sums on the device, the sums read back */
static double *gpu_dsum;
static void gpu_residual(const float *xr, const float *x, size_t n, const float *p, size_t np, int B, float *ge,
                         double *part)
{
    if (!gpu_dsum)
        gpu_dsum = cuda_malloc(2 * sizeof *gpu_dsum);
    MUST(rica_residual_cuda(xr, x, n, 2.0, (double)B, ge, gpu_dsum, 0));
    MUST(sum_cuda(p, np, gpu_dsum + 1, 0));
    cuda_download(part, gpu_dsum, 2 * sizeof *part);
}
static void gpu_fill(float *v, size_t n, float value) { MUST(fill_cuda(v, n, value, 0)); }
/* src/update.c on the GPU */
static void gpu_optim(const cn_job *job, float *w, float *state, float *g, size_t n, float lr)
{
    if (job->optimizer == OPT_ADAGRAD)
        adagrad_cuda(w, state, g, n, lr, (float)job->adagrad_eps, (float)job->weight_decay, 0);
    else
        sgd_momentum_cuda(w, state, g, n, lr, (float)job->momentum, (float)job->weight_decay, 0);
}
static const jp_backend gpu_backend = {
    "cuda", 0, gpu_alloc, gpu_release, gpu_zero, gpu_upload, gpu_download, gpu_sync, gpu_lf_forward,
    gpu_lf_backward_data, gpu_lf_backward_filter, gpu_pool_forward, gpu_pool_backward, gpu_lcn_forward,
    gpu_residual, gpu_fill, gpu_optim};

/* Selects the GPU and prints the first line; 0 (after saying so) when there is none. */
static int gpu_open(void)
{
    if (!cuda_available()) {
        printf("# bench_cuda: no GPU here (cuda_device_count() = 0): nothing to time\n");
        return 0;
    }
    if (cuda_select_device(-1) < 0)
        cn_fatal("%s", cn_last_error());
    char desc[256];
    cuda_describe(desc, sizeof desc);
    printf("# bench_cuda (git %s): %s\n", cn_git_rev(), desc);
    fflush(stdout);
    return 1;
}

static int job_main(const jp_args *a)
{
    if (!gpu_open())
        return 0;
    int rc = jp_main(&gpu_backend, a, "bench_cuda", 1e-4);
    cuda_free(gpu_dsum);
    cuda_shutdown();
    return rc;
}

#ifndef CN_CUDA_EMU /* the table: CUDA events and the roofline kernels, which the emulator lacks */
typedef struct {
    const char *key, *what;
    int B, Hx, Wx, C, Ho, Wo, M, r, s;
} shape;

static const shape shapes[] = {
    {"le2012_s1", "stage 1: 200x200x3 input, 183x183 outputs / 8x8 grid", 128, 40, 40, 3, 23, 23, 8, 18, 1},
    {"le2012_s2", "stage 2: 179x179x8 input, 162x162 outputs / 8x8 grid", 128, 38, 38, 8, 21, 21, 8, 18, 1},
    {"le2012_s3", "stage 3: 158x158x8 input, 141x141 outputs / 8x8 grid", 128, 35, 35, 8, 18, 18, 8, 18, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])
#define NSETS 4
/* Ours (cuda/lf.cu): the four passes in each tile scheme (t32, t16: fewer registers, more blocks per
 * SM; t4: an 8 x 8 register tile per thread; docs/CUDA.md "Tile schemes"), the default's rows named
 * lf_* and the others' by their scheme, then the batched-GEMM route
 * (cuda/lf_gemm.cu): unfold x once (the forward and the backward filter share it, as autograd keeps it),
 * the three cuBLAS products, the fold of dx. */
enum {
    OP_FWD, OP_BWD_DATA, OP_BWD_FILTER, OP_FUSED, /* in scheme t32; then the same in t16 and in t4 */
    OP_B_UNFOLD = 4 * LF_TILES_COUNT, OP_B_FWD, OP_B_BWD_DATA, OP_B_FOLD, OP_B_BWD_FILTER, NOPS
};
/* the passes (PyTorch's rows in peers_cuda.py's file have these names), then the GEMM route's ops */
static const char *op_name[NOPS] = {"lf_forward", "lf_backward_data", "lf_backward_filter", "lf_bwd_fused_sgd",
                                    [OP_B_UNFOLD] = "bmm_unfold", "bmm_forward", "bmm_backward_data", "bmm_fold",
                                    "bmm_backward_filter"};
/* Our ops: the pass (OP_FWD .. OP_FUSED) and the tile scheme of each. */
static int base_op(int op) { return op < OP_B_UNFOLD ? op % 4 : op; }
static int op_tiles(int op) { return op < OP_B_UNFOLD ? op / 4 : LF_TILES_T32; } /* LF_TILES_T32, T16, T4 */
/* An op's row name: the pass's, with the scheme for schemes other than the default (t32_forward, ...) */
static const char *op_label(int op, char *buf, size_t len)
{
    const int t = op_tiles(op), b = base_op(op);
    if (op >= OP_B_UNFOLD || t == LF_TILES_DEFAULT)
        return op_name[b];
    snprintf(buf, len, "%s%s", lf_cuda_tiles_name(t), op_name[b] + 2); /* "lf_forward" -> "t32_forward" */
    return buf;
}

typedef struct {
    lf_dims d;
    size_t nx, nw, ny;
    float *hx, *hw, *hgy;                     /* host copies of set 0 */
    float *x[NSETS], *w[NSETS], *gy[NSETS];  /* device inputs */
    float *wf[NSETS];                         /* the fused pass's filters: copies of w, which it updates */
    float *y, *dx, *dw;                       /* device outputs */
    float *xu, *dxu;                          /* the GEMM route's unfolded patches and their gradient */
    double bmm_err[NOPS];                     /* the GEMM route's relative error against ours, per op */
} ctx;

static void fill(float *a, size_t n, unsigned long long seed, float scale)
{
    unsigned long long st = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        st ^= st >> 12, st ^= st << 25, st ^= st >> 27;
        a[i] = scale * (float)((double)((st * 0x2545F4914F6CDD1Dull) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
}

static void ctx_init(ctx *c, const shape *s)
{
    memset(c, 0, sizeof *c);
    c->d = (lf_dims){s->B, s->Hx, s->Wx, s->C, s->Ho, s->Wo, s->M, s->r, s->s};
    MUST(lf_check(&c->d));
    c->nx = (size_t)s->B * s->Hx * s->Wx * s->C;
    c->nw = lf_filter_count(&c->d);
    c->ny = (size_t)s->B * s->Ho * s->Wo * s->M;
    float *tx = cn_alloc(c->nx, 4), *tw = cn_alloc(c->nw, 4), *tg = cn_alloc(c->ny, 4);
    for (int k = 0; k < NSETS; k++) {
        fill(tx, c->nx, 10 * k + 1, 1.0f);
        fill(tw, c->nw, 10 * k + 2, (float)(1.0 / sqrt((double)s->r * s->r * s->C)));
        fill(tg, c->ny, 10 * k + 3, 1.0f);
        c->x[k] = cuda_malloc(c->nx * 4), c->w[k] = cuda_malloc(c->nw * 4), c->gy[k] = cuda_malloc(c->ny * 4);
        cuda_upload(c->x[k], tx, c->nx * 4);
        cuda_upload(c->w[k], tw, c->nw * 4);
        c->wf[k] = cuda_malloc(c->nw * 4);
        cuda_upload(c->wf[k], tw, c->nw * 4);
        cuda_upload(c->gy[k], tg, c->ny * 4);
        if (k == 0) {
            c->hx = tx, c->hw = tw, c->hgy = tg;
            tx = cn_alloc(c->nx, 4), tw = cn_alloc(c->nw, 4), tg = cn_alloc(c->ny, 4);
        }
    }
    cn_free(tx), cn_free(tw), cn_free(tg);
    c->y = cuda_malloc(c->ny * 4), c->dx = cuda_malloc(c->nx * 4), c->dw = cuda_malloc(c->nw * 4);
    cuda_memset(c->y, 0, c->ny * 4, 0), cuda_memset(c->dx, 0, c->nx * 4, 0), cuda_memset(c->dw, 0, c->nw * 4, 0);
    c->xu = cuda_malloc(lf_unfold_count(&c->d) * 4), c->dxu = cuda_malloc(lf_unfold_count(&c->d) * 4);
}

static void ctx_free(ctx *c)
{
    for (int k = 0; k < NSETS; k++)
        cuda_free(c->x[k]), cuda_free(c->w[k]), cuda_free(c->gy[k]), cuda_free(c->wf[k]);
    cuda_free(c->y), cuda_free(c->dx), cuda_free(c->dw), cuda_free(c->xu), cuda_free(c->dxu);
    cn_free(c->hx), cn_free(c->hw), cn_free(c->hgy);
}

static void run_op(ctx *c, int op, int set, cn_region rg)
{
    MUST(lf_cuda_set_tiles(op_tiles(op)));
    switch (base_op(op)) {
    case OP_FWD: MUST(lf_forward_cuda(&c->d, c->x[set], c->w[set], c->y, rg, 0)); break;
    case OP_BWD_DATA: MUST(lf_backward_data_cuda(&c->d, c->w[set], c->gy[set], c->dx, rg, 0)); break;
    case OP_BWD_FILTER: MUST(lf_backward_filter_cuda(&c->d, c->x[set], c->gy[set], c->dw, rg, 0)); break;
    case OP_FUSED: /* on copies of the filters (every other pass reads w as validate's reference did) */
        MUST(lf_backward_fused_sgd_cuda(&c->d, c->x[set], c->wf[set], c->gy[set], c->dx, NULL, NULL, 1e-7f, 0.0f, rg, 0));
        break;
    case OP_B_UNFOLD: MUST(lf_unfold_cuda(&c->d, c->x[set], c->xu, 0)); break;
    case OP_B_FWD: MUST(lf_gemm_forward_cuda(&c->d, c->xu, c->w[set], c->y, 0)); break;
    case OP_B_BWD_DATA: MUST(lf_gemm_backward_data_cuda(&c->d, c->w[set], c->gy[set], c->dxu, 0)); break;
    case OP_B_FOLD: MUST(lf_fold_cuda(&c->d, c->dxu, c->dx, 0)); break;
    default: MUST(lf_gemm_backward_filter_cuda(&c->d, c->xu, c->gy[set], c->dw, 0)); break;
    }
}

/* The GEMM route on the whole tile against our kernels (which validate() holds to the reference):
 * c->bmm_err[op] for the route's ops (unfold through the forward, fold through backward data). */
static void validate_bmm(ctx *c)
{
    cn_region all = region_all(c->d.Ho, c->d.Wo);
    /* p: OP_FWD, OP_BWD_DATA, OP_BWD_FILTER, and what each writes */
    _Static_assert(OP_FWD == 0 && OP_BWD_DATA == 1 && OP_BWD_FILTER == 2, "validate_bmm runs ops 0, 1, 2");
    size_t n[3] = {c->ny, c->nx, c->nw};
    float *out[3] = {c->y, c->dx, c->dw}, *ours[3];
    for (int p = 0; p < 3; p++) {
        cuda_memset(out[p], 0, n[p] * 4, 0);
        run_op(c, p, 0, all);
        cuda_sync(0);
        ours[p] = cn_alloc(n[p], 4);
        cuda_download(ours[p], out[p], n[p] * 4);
        cuda_memset(out[p], 0, n[p] * 4, 0); /* the route adds into dx and dw */
    }
    for (int op = OP_B_UNFOLD; op < NOPS; op++)
        run_op(c, op, 0, all);
    cuda_sync(0);
    double err[3];
    for (int p = 0; p < 3; p++) {
        float *got = cn_alloc(n[p], 4);
        cuda_download(got, out[p], n[p] * 4);
        err[p] = jp_relerr(got, ours[p], n[p]);
        cn_free(got), cn_free(ours[p]);
    }
    c->bmm_err[OP_B_UNFOLD] = c->bmm_err[OP_B_FWD] = err[0];
    c->bmm_err[OP_B_BWD_DATA] = c->bmm_err[OP_B_FOLD] = err[1];
    c->bmm_err[OP_B_BWD_FILTER] = err[2];
    cuda_memset(c->dx, 0, c->nx * 4, 0), cuda_memset(c->dw, 0, c->nw * 4, 0);
}

/* Flops (2 per multiply-add) and compulsory bytes (each input read once, each output written once,
 * outputs that are added to read once more). */
static void op_cost(const ctx *c, int op, double *flops, double *bytes)
{
    const double X = 4.0 * c->nx, W = 4.0 * c->nw, Y = 4.0 * c->ny;
    const double lf = 2.0 * (double)c->ny * c->d.r * c->d.r * c->d.C, XU = 4.0 * lf_unfold_count(&c->d);
    switch (base_op(op)) {
    case OP_FWD: *flops = lf, *bytes = X + W + Y; break;        /* read x, w; write y */
    case OP_BWD_DATA: *flops = lf, *bytes = W + Y + 2 * X; break; /* read w, dy; read and write dx */
    case OP_BWD_FILTER: *flops = lf, *bytes = X + Y + 2 * W; break; /* read x, dy; read and write dw */
    case OP_FUSED: *flops = 2 * lf, *bytes = 3 * X + 2 * Y + 3 * W; break; /* both, w updated in place */
    case OP_B_UNFOLD: *flops = 0, *bytes = X + XU; break;          /* read x, write the patches */
    case OP_B_FWD: *flops = lf, *bytes = XU + W + Y; break;
    case OP_B_BWD_DATA: *flops = lf, *bytes = W + Y + XU; break;  /* write the patches' gradient */
    case OP_B_FOLD: *flops = 0, *bytes = XU + 2 * X; break;       /* read it; read and write dx */
    default: *flops = lf, *bytes = XU + Y + 2 * W; break;
    }
}

/* Each pass on a 2 x 3 region against the reference; returns the relative error. */
static double validate(ctx *c, int op)
{
    if (op >= OP_B_UNFOLD) /* the GEMM route: validate_bmm, against ours on the whole tile */
        return c->bmm_err[op];
    const int pass = base_op(op); /* op runs it in its tile scheme */
    cn_region rg = {0, CN_MIN(2, c->d.Ho), 0, CN_MIN(3, c->d.Wo)};
    /* what the pass writes: y, dx, or dw (fused: the new filters, w - dw with lr = 1) */
    size_t n = pass == OP_FWD ? c->ny : pass == OP_BWD_DATA ? c->nx : c->nw;
    float *ref = cn_alloc(n, 4), *got = cn_alloc(n, 4);
    if (pass == OP_FWD)
        MUST(lf_forward_ref(&c->d, c->hx, c->hw, ref, rg));
    else if (pass == OP_BWD_DATA)
        MUST(lf_backward_data_ref(&c->d, c->hw, c->hgy, ref, rg));
    else
        MUST(lf_backward_filter_ref(&c->d, c->hx, c->hgy, ref, rg));
    if (pass != OP_FUSED) {
        float *out = pass == OP_FWD ? c->y : pass == OP_BWD_DATA ? c->dx : c->dw;
        cuda_memset(out, 0, n * 4, 0);
        run_op(c, op, 0, rg);
        cuda_sync(0);
        cuda_download(got, out, n * 4);
    } else { /* w_new - w_old must equal -dw */
        float *wd = cuda_malloc(c->nw * 4);
        cuda_upload(wd, c->hw, c->nw * 4);
        cuda_memset(c->dx, 0, c->nx * 4, 0);
        MUST(lf_cuda_set_tiles(op_tiles(op)));
        MUST(lf_backward_fused_sgd_cuda(&c->d, c->x[0], wd, c->gy[0], c->dx, NULL, NULL, 1.0f, 0.0f, rg, 0));
        cuda_sync(0);
        cuda_download(got, wd, c->nw * 4);
        for (size_t i = 0; i < c->nw; i++)
            got[i] = c->hw[i] - got[i]; /* = dw, up to the rounding of w - dw */
        cuda_free(wd);
    }
    double err = jp_relerr(got, ref, n);
    cn_free(got), cn_free(ref);
    cuda_memset(c->dx, 0, c->nx * 4, 0), cuda_memset(c->dw, 0, c->nw * 4, 0);
    return err;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median milliseconds of reps runs, after 3 warm-up runs; inputs rotate over the sets. */
static double time_op(ctx *c, int op, int reps)
{
    cn_region rg = region_all(c->d.Ho, c->d.Wo);
    for (int k = 0; k < 3; k++)
        run_op(c, op, k % NSETS, rg);
    cudaEvent_t *ev = malloc(2 * (size_t)reps * sizeof *ev);
    for (int k = 0; k < 2 * reps; k++)
        CHECK_CUDA(cudaEventCreate(&ev[k]));
    for (int k = 0; k < reps; k++) {
        CHECK_CUDA(cudaEventRecord(ev[2 * k], 0));
        run_op(c, op, k % NSETS, rg);
        CHECK_CUDA(cudaEventRecord(ev[2 * k + 1], 0));
    }
    CHECK_CUDA(cudaDeviceSynchronize());
    float *ms = malloc((size_t)reps * sizeof *ms);
    for (int k = 0; k < reps; k++)
        CHECK_CUDA(cudaEventElapsedTime(&ms[k], ev[2 * k], ev[2 * k + 1]));
    for (int k = 0; k < 2 * reps; k++)
        CHECK_CUDA(cudaEventDestroy(ev[k]));
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    double med = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    free(ev), free(ms);
    return med;
}

/* "op shape peer ms" lines of bench/peers_cuda.py */
typedef struct {
    char op[40], key[40], peer[24];
    double ms;
} peer_t;
static peer_t *peers;
static int npeers;

static void load_peers(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_cuda: cannot open %s: peers left out\n", path);
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        peer_t p;
        if (line[0] == '#' || sscanf(line, "%39s %39s %23s %lf", p.op, p.key, p.peer, &p.ms) != 4)
            continue;
        peers = realloc(peers, (size_t)(npeers + 1) * sizeof *peers);
        peers[npeers++] = p;
    }
    fclose(f);
}

static const peer_t *find_peer(const char *op, const char *key)
{
    for (int i = 0; i < npeers; i++)
        if (!strcmp(peers[i].op, op) && !strcmp(peers[i].key, key))
            return &peers[i];
    return NULL;
}

/* One row of the table: time, rates, shares of the ceilings and of the roofline bound, the peer (torch_ms
 * > 0) and the check. */
static void print_row(const char *op, const char *key, double ms, double flops, double bytes, double peak, double bw,
                      double torch_ms, int ok, double err)
{
    double rate = flops / (ms * 1e-3) / 1e9, traffic = bytes / (ms * 1e-3) / 1e9;
    double bound_ms = fmax(flops / (peak * 1e9), bytes / (bw * 1e9)) * 1e3;
    char tp[16] = "-", ratio[16] = "-";
    if (torch_ms > 0) {
        snprintf(tp, sizeof tp, "%.4f", torch_ms);
        snprintf(ratio, sizeof ratio, "%.2f", torch_ms / ms);
    }
    printf("  %-19s %-10s %9.4f %9.0f %8.0f %6.1f %6.1f %6.1f %9s %7s %4s %.0e\n", op, key, ms, rate, traffic,
           100.0 * rate / peak, 100.0 * traffic / bw, 100.0 * bound_ms / ms, tp, ratio, ok ? "ok" : "FAIL", err);
    fflush(stdout);
}

static int table_main(int argc, char **argv)
{
    int reps = 50;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shapes")) {
            printf("# key B Hx Wx C Ho Wo M r s\n");
            for (int k = 0; k < NSHAPES; k++) {
                const shape *s = &shapes[k];
                printf("%s %d %d %d %d %d %d %d %d %d\n", s->key, s->B, s->Hx, s->Wx, s->C, s->Ho, s->Wo, s->M, s->r,
                       s->s);
            }
            return 0;
        } else if (!strcmp(argv[i], "--peers") && i + 1 < argc) {
            load_peers(argv[++i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1)
                reps = 1;
        } else if (!strcmp(argv[i], "--t4-group") && i + 1 < argc) {
            lf_cuda_set_t4_group(atoi(argv[++i]));
        } else if (!strcmp(argv[i], "--t4-group-fill") && i + 1 < argc) {
            if (lf_cuda_set_t4_group_fill(atoi(argv[++i])) != CN_OK) {
                fprintf(stderr, "bench_cuda: %s\n", cn_last_error());
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_cuda [--peers FILE] [--reps N] [--t4-group 0|1|2] [--t4-group-fill N] | "
                            "--shapes\n");
            return 2;
        }
    }
    if (!gpu_open())
        return 0;
    const double bw = cuda_measure_copy_gbs((size_t)512 << 20, 10), peak = cuda_measure_fma_gflops(5);
    printf("# ceilings, measured: copy %.0f GB/s (read + write, 2 x 512 MiB), FP32 FMA %.0f GFLOP/s\n", bw, peak);
    printf("# times: median of %d runs after 3 warm-ups, CUDA events, inputs rotating over %d sets\n", reps, NSETS);
    for (int k = 0; k < NSHAPES; k++) {
        const shape *s = &shapes[k];
        printf("# %s: %s; B=%d window %dx%dx%d -> %dx%dx%d, r=%d s=%d, K=%d, filters %.1f MB\n", s->key, s->what,
               s->B, s->Hx, s->Wx, s->C, s->Ho, s->Wo, s->M, s->r, s->s, s->r * s->r * s->C,
               4.0 * s->Ho * s->Wo * s->M * s->r * s->r * s->C / 1e6);
    }
    printf("#\n# %-19s %-10s %9s %9s %8s %6s %6s %6s %9s %7s %9s\n", "op", "shape", "time", "rate", "traffic", "fma",
           "copy", "roof", "torch", "ratio", "check");
    printf("# %-19s %-10s %9s %9s %8s %6s %6s %6s %9s %7s %9s\n", "", "", "ms", "GFLOP/s", "GB/s", "%", "%", "%", "ms",
           "torch/us", "relerr");
    int bad = 0;
    for (int k = 0; k < NSHAPES; k++) {
        ctx c;
        ctx_init(&c, &shapes[k]);
        /* per tile scheme: the sums of the three passes of a training step */
        double sum_ms[LF_TILES_COUNT] = {0}, sum_flops[LF_TILES_COUNT] = {0}, sum_bytes[LF_TILES_COUNT] = {0},
               sum_torch[LF_TILES_COUNT] = {0}, worst[LF_TILES_COUNT] = {0};
        double bmm_ms = 0, bmm_gemm_ms = 0;
        int ntorch[LF_TILES_COUNT] = {0};
        validate_bmm(&c);
        for (int op = 0; op < NOPS; op++) {
            double err = validate(&c, op), tol = base_op(op) == OP_FUSED ? 1e-4 : 1e-5;
            int ok = err <= tol;
            bad += !ok;
            double ms = time_op(&c, op, reps), flops, bytes;
            op_cost(&c, op, &flops, &bytes);
            const peer_t *p = find_peer(op_name[base_op(op)], shapes[k].key); /* the same work */
            char label[32];
            print_row(op_label(op, label, sizeof label), shapes[k].key, ms, flops, bytes, peak, bw, p ? p->ms : 0,
                      ok, err);
            if (op < OP_B_UNFOLD && base_op(op) != OP_FUSED) { /* the training step's three passes */
                const int t = op_tiles(op);
                sum_ms[t] += ms, sum_flops[t] += flops, sum_bytes[t] += bytes, worst[t] = fmax(worst[t], err);
                if (p)
                    sum_torch[t] += p->ms, ntorch[t]++;
            }
            if (op >= OP_B_UNFOLD) { /* the GEMM route's step: all five; its products alone */
                bmm_ms += ms;
                if (op != OP_B_UNFOLD && op != OP_B_FOLD)
                    bmm_gemm_ms += ms;
            }
        }
        /* forward + both backward passes: the sums of the three rows of each scheme */
        const int d = LF_TILES_DEFAULT; /* its row lf_fwd+bwd (perfmodel.py reads it), then the others' */
        for (int n = 0; n < LF_TILES_COUNT; n++) {
            const int t = n == 0 ? d : n <= d ? n - 1 : n;
            char row[32];
            snprintf(row, sizeof row, "%s_fwd+bwd", t == d ? "lf" : lf_cuda_tiles_name(t));
            print_row(row, shapes[k].key, sum_ms[t], sum_flops[t], sum_bytes[t], peak, bw,
                      ntorch[t] == 3 ? sum_torch[t] : 0, worst[t] <= 1e-5, worst[t]);
        }
        for (int t = 0; t < LF_TILES_COUNT; t++)
            if (t != d)
                printf("# %s: tile scheme %s %.4f ms = %.2fx lf_fwd+bwd (%s, the default)\n", shapes[k].key,
                       lf_cuda_tiles_name(t), sum_ms[t], sum_ms[t] / sum_ms[d], lf_cuda_tiles_name(d));
        printf("# %s: the batched-GEMM route (unfold, 3 cuBLAS products, fold) %.4f ms = %.2fx lf_fwd+bwd; its "
               "products alone %.4f ms = %.2fx\n", shapes[k].key, bmm_ms, bmm_ms / sum_ms[d], bmm_gemm_ms,
               bmm_gemm_ms / sum_ms[d]);
        fflush(stdout);
        ctx_free(&c);
    }
    cuda_shutdown();
    return bad ? 1 : 0;
}
#endif

int main(int argc, char **argv)
{
    int with_job = 0;
    for (int i = 1; i < argc; i++)
        with_job |= !strcmp(argv[i], "--job");
    if (with_job) {
        jp_args job = {0};
        for (int i = 1; i < argc; i++) {
            int used = jp_parse(&job, argc, argv, i);
            if (!used) {
                fprintf(stderr, "usage: bench_cuda --job JOB.ini [--grid PYxPX] [--batch B] [--set section.key=value ..] "
                                "[--reps N]\n");
                return 2;
            }
            i += used - 1;
        }
        return job_main(&job);
    }
#ifdef CN_CUDA_EMU
    fprintf(stderr, "bench_cuda: built on the CUDA emulator: only --job\n");
    return 2;
#else
    return table_main(argc, argv);
#endif
}

#else /* no CUDA backend in this build */

int main(void)
{
    printf("# bench_cuda: built without the CUDA backend (no nvcc at build time): nothing to time\n");
    return 0;
}

#endif
