/* lf_tune.cu: lf_cuda_tune, the measurement behind COTSNET_CUDA_LF_TILES=auto (cuda/ops_cuda.h,
 * docs/CUDA.md "Tile schemes").
 *
 * Every output location runs the same blocks, so a problem with the shape's first rows of locations
 * times a pass as well as the whole tile does once it fills the GPU (about 4096 locations: 31 blocks
 * per SM of an H100 in the forward at B = 64, more at larger B). Its arrays are scratch of its own,
 * zeroed: the kernels' speed does not depend on the values, and the caller's data is never touched. */
#include <algorithm>

#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

constexpr int TUNE_LOCATIONS = 4096; /* the default */
constexpr int TUNE_REPS = 5;

struct Arrays {
    float *x, *w, *y, *dx, *dw; /* dw: NULL when the filter pass is the fused update */
};

/* One run of pass p in scheme t on the whole of the tuning problem u. */
int run_pass(int p, int t, int fused, const lf_dims *u, const Arrays &a, cudaStream_t st)
{
    const cn_region all = {0, u->Ho, 0, u->Wo};
    switch (p) {
    case LF_PASS_FORWARD:
        return cn_lf_forward(t, u, a.x, a.w, a.y, all, st);
    case LF_PASS_BACKWARD_DATA:
        return cn_lf_backward_data(t, u, a.w, a.y, a.dx, all, st);
    default:
        return fused ? cn_lf_backward_fused_sgd(t, t, u, a.x, a.w, a.y, nullptr, nullptr, nullptr, 0.0f, 0.0f, all, st)
                     : cn_lf_backward_filter(t, u, a.x, a.y, a.dw, all, st);
    }
}

float *zeroed(size_t n, cudaStream_t st)
{
    float *p = (float *)cn_scratch_alloc(n * sizeof(float), st);
    CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), st));
    return p;
}

} // namespace

extern "C" double lf_tune_bytes(const lf_dims *d, int fused, int rows)
{
    const double K = (double)d->r * d->r * d->C, hx = (double)(rows - 1) * d->s + d->r;
    const double x = (double)d->B * hx * d->Wx * d->C, w = (double)rows * d->Wo * d->M * K,
                 y = (double)d->B * rows * d->Wo * d->M;
    return 4.0 * (2.0 * x + (fused ? 1.0 : 2.0) * w + y);
}

extern "C" int lf_tune_rows(const lf_dims *d, int fused, int locations)
{
    /* the bytes grow by the same amount with every row: the first row's, then per row */
    const double first = lf_tune_bytes(d, fused, 1), per_row = lf_tune_bytes(d, fused, 2) - first;
    long long rows = std::max(1LL, (long long)(locations > 0 ? locations : TUNE_LOCATIONS) / d->Wo);
    rows = std::min(rows, 1 + std::max(0LL, (long long)((LF_TUNE_BYTES - first) / per_row)));
    return (int)std::min(rows, (long long)d->Ho);
}

extern "C" int lf_cuda_tune(const lf_dims *d, int fused, int locations, lf_tune_result *res, cudaStream_t st)
{
    if (!res)
        return cn_set_error("lf_cuda_tune: NULL result");
    if (lf_check(d) != CN_OK)
        return CN_EINVAL;
    /* the tuning problem: d's shape with its first rows of output locations */
    lf_dims u = *d;
    u.Ho = lf_tune_rows(d, fused, locations);
    u.Hx = (u.Ho - 1) * d->s + d->r;
    if (lf_check(&u) != CN_OK)
        return CN_EINVAL;
    const size_t nx = (size_t)u.B * u.Hx * u.Wx * u.C, nw = lf_filter_count(&u),
                 ny = (size_t)u.B * u.Ho * u.Wo * u.M;
    Arrays a = {zeroed(nx, st), zeroed(nw, st), zeroed(ny, st), zeroed(nx, st), fused ? nullptr : zeroed(nw, st)};
    cudaEvent_t ev[2 * TUNE_REPS];
    for (cudaEvent_t &e : ev)
        CUDA_CHECK(cudaEventCreate(&e));
    int rc = CN_OK;
    for (int p = 0; p < LF_PASS_COUNT && rc == CN_OK; p++) {
        for (int t = 0; t < LF_TILES_COUNT && rc == CN_OK; t++) {
            rc = run_pass(p, t, fused, &u, a, st); /* warm-up */
            for (int k = 0; k < TUNE_REPS && rc == CN_OK; k++) {
                CUDA_CHECK(cudaEventRecord(ev[2 * k], st));
                rc = run_pass(p, t, fused, &u, a, st);
                CUDA_CHECK(cudaEventRecord(ev[2 * k + 1], st));
            }
            if (rc != CN_OK)
                break;
            CUDA_CHECK(cudaEventSynchronize(ev[2 * TUNE_REPS - 1]));
            float ms[TUNE_REPS];
            for (int k = 0; k < TUNE_REPS; k++)
                CUDA_CHECK(cudaEventElapsedTime(&ms[k], ev[2 * k], ev[2 * k + 1]));
            std::sort(ms, ms + TUNE_REPS);
            res->ms[p][t] = ms[TUNE_REPS / 2];
        }
        if (rc == CN_OK)
            res->tiles[p] = lf_tiles_pick(res->ms[p]);
    }
    CUDA_CHECK(cudaStreamSynchronize(st));
    for (cudaEvent_t &e : ev)
        CUDA_CHECK(cudaEventDestroy(e));
    for (float *p : {a.x, a.w, a.y, a.dx, a.dw})
        cn_scratch_free(p, st);
    res->rows = u.Ho;
    res->cols = u.Wo;
    return rc;
}
