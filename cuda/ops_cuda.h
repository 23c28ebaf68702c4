/* ops_cuda.h: the GPU twins of the operations in src/ops.h (suffix _cuda), callable from C and C++.
 *
 * Naming: lf_forward_ref (src/lf_ref.c) has the twin lf_forward_cuda with the same arguments in the
 * same order plus a cudaStream_t at the end; likewise for every operation. docs/CUDA.md describes
 * the kernels. The conventions are the reference's (src/ops.h):
 *  - every array is a DEVICE pointer (cudaMalloc'd, or cuda_malloc below); layouts are the same
 *    (maps NHWC [B, H, W, C], local filters [Ho, Wo, M, r, r, C]);
 *  - forward functions overwrite their output inside the region and touch nothing else; backward
 *    functions ADD into their gradient outputs (the caller zeroes them);
 *  - dimensions are checked on the host first (with lf_check, pool_check, lcn_check, ...): bad ones
 *    return CN_EINVAL with one line in cn_last_error(), launch nothing and touch no memory. So do
 *    shapes too large for the kernels' 32-bit indexing (noted per function) or for one launch;
 *  - the work is queued on `stream` and the call returns at once (asynchronous): results are there
 *    once the stream has been synchronized; inputs must stay valid and unchanged until then;
 *  - a failing CUDA or cuBLAS call ends the job through cn_fatal (cuda/cuda_check.h);
 *  - results equal the reference within float rounding (FP32 throughout, never TF32; sums run in
 *    another order), and are deterministic: the same inputs give the same bits on the same GPU.
 * One host thread per process drives the GPU (the cuBLAS handle is per device, not per thread). */
#ifndef CN_OPS_CUDA_H
#define CN_OPS_CUDA_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "src/ops.h"
#include "src/tile.h"

/* ---- devices (cuda/device.cu) --------------------------------------------------------------------
 * cuda_device_count: the GPUs this process may use; 0 when there is no driver, no GPU, or the driver
 * is older than this build's CUDA runtime (never fails, never ends the job). */
int cuda_device_count(void);
int cuda_available(void); /* cuda_device_count() > 0 */
/* The rank of this process among the ranks on its node: OMPI_COMM_WORLD_LOCAL_RANK (Open MPI's
 * mpirun), else SLURM_LOCALID (srun), else MPI_LOCALRANKID (MPICH), else 0. */
int cuda_local_rank(void);
/* Use GPU (local_rank mod cuda_device_count()) from now on in this thread; local_rank < 0 means
 * cuda_local_rank(). With one GPU visible per rank (Slurm's --gpus-per-task=1 or
 * --gpu-bind=single:1, which set CUDA_VISIBLE_DEVICES) that is device 0. Returns the device index,
 * or CN_EINVAL when no GPU is usable. */
int cuda_select_device(int local_rank);
/* One line about the current device: "GPU 0: NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB, sm_90". */
void cuda_describe(char *buf, size_t len);
/* Free and total bytes of the current device (cudaMemGetInfo): CN_OK, or CN_EINVAL with one line in
 * cn_last_error() (never ends the job). */
int cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
/* Destroys this process's cuBLAS handles (optional, at exit). */
void cuda_shutdown(void);

/* Checked memory helpers (they end the job on failure). */
void *cuda_malloc(size_t bytes);
void cuda_free(void *p);                                          /* NULL is fine */
void cuda_upload(void *dst, const void *src, size_t bytes);       /* host -> device, synchronous */
void cuda_download(void *dst, const void *src, size_t bytes);     /* device -> host, synchronous */
void cuda_memset(void *dst, int byte, size_t bytes, cudaStream_t stream); /* asynchronous */
void cuda_sync(cudaStream_t stream);

/* ---- local filter (cuda/lf.cu) -------------------------------------------------------------------
 * Same as the _ref functions. Limits of the kernels: one sample of the input window and of the
 * output tile, and one location's filters (M*r*r*C), below 2^31 floats.                            */
int lf_forward_cuda(const lf_dims *d, const float *x, const float *w, float *y, cn_region rg,
                    cudaStream_t stream);
int lf_backward_data_cuda(const lf_dims *d, const float *w, const float *dy, float *dx, cn_region rg,
                          cudaStream_t stream);
int lf_backward_filter_cuda(const lf_dims *d, const float *x, const float *dy, float *dw, cn_region rg,
                            cudaStream_t stream);
/* Backward pass and plain SGD step fused, without a gradient buffer (4 bytes per filter parameter):
 *   1. dx += LF^T(w, dy) over the outputs in rg, from the filters as they were before this call
 *      (skipped when dx is NULL, e.g. for the first stage, or in reconstruction ICA);
 *   2. for every location (i, j) in rg: w -= lr * (dw + wd * w), with
 *      dw = sum_b dy[b,i,j,m] x[...]  (+ sum_b dy2[b,i,j,m] x2[...] when x2 and dy2 are given: a second
 *      term of the same shapes, e.g. a tied decoder's dLF/dw(ge, y)), the same as lf_backward_filter
 *      of each term into a zeroed buffer, then sgd_ref on the region's filters.
 * Both are queued on `stream` in that order. Correct only when these terms are the WHOLE gradient of
 * w for the step: plain SGD (momentum and AdaGrad need a state buffer anyway) and one replica (R = 1:
 * no gradient to average across replicas). Regions must not overlap between calls of one step; the
 * interior / border split is fine (each call reads and updates only the filters of its own
 * locations). x2 and dy2 are both given or both NULL. */
int lf_backward_fused_sgd_cuda(const lf_dims *d, const float *x, float *w, const float *dy, float *dx,
                               const float *x2, const float *dy2, float lr, float wd, cn_region rg,
                               cudaStream_t stream);

/* The tile scheme of the four functions above (docs/CUDA.md "Tile schemes"): the same results within
 * float rounding, different speed. LF_TILES_T32: 32 reduction values per chunk, registers as the
 * compiler likes; LF_TILES_T16 (the default, LF_TILES_DEFAULT: the fastest of the three on an H100 at
 * the Le et al. 2012 shapes until t4's group kernels, docs/CUDA.md): 16 per chunk, at most 128 registers per thread (more blocks per SM);
 * LF_TILES_T4: 4 per chunk, an 8 x 8 register tile per thread (fewer shared-memory reads per product),
 * at most 168 registers; at up to 8 maps its forward and backward filter are cuda/lf_t4.cu's (16-byte
 * shared-memory reads, cp.async copies, at most 128 registers), and its forward and backward data over
 * groups of neighbouring locations where the shape suits them (cuda/lf_t4_group*.cu, below). The mode (cuda/lf_tiles.cu): the last lf_cuda_set_tiles, else the environment
 * variable COTSNET_CUDA_LF_TILES (t32, t16, t4 or auto), else the default. lf_cuda_tiles returns it, or -1 with one line in
 * cn_last_error() when that variable holds anything else (the four functions then refuse with
 * CN_EINVAL). Set it before queuing work.
 * LF_TILES_AUTO: each call runs the scheme recorded with lf_cuda_set_tiles_for for its pass and the
 * shape of one location's product (C, M, r, s: the batch and the tile size do not count), the default
 * where none is; lf_cuda_tiles_for says which a call would run. lf_backward_fused_sgd_cuda runs its data
 * term as LF_PASS_BACKWARD_DATA and its update as LF_PASS_BACKWARD_FILTER. */
enum { LF_TILES_T32 = 0, LF_TILES_T16 = 1, LF_TILES_T4 = 2, LF_TILES_COUNT, LF_TILES_AUTO = LF_TILES_COUNT };
enum { LF_TILES_DEFAULT = LF_TILES_T16 };
enum { LF_PASS_FORWARD = 0, LF_PASS_BACKWARD_DATA = 1, LF_PASS_BACKWARD_FILTER = 2, LF_PASS_COUNT };
int lf_cuda_set_tiles(int scheme); /* T32, T16, T4 or AUTO: CN_OK; else CN_EINVAL */
int lf_cuda_tiles(void);
const char *lf_cuda_tiles_name(int scheme); /* "t32", "t16", "t4", "auto", or "?" */
/* Scheme t4's forward and backward data over groups of neighbouring locations (input positions)
 * sharing their operands (cuda/lf_t4_group.cu, lf_t4_group_bwd.cu) where the shape suits them: 1 (the
 * default) with the reduction split over blocks as the device's SMs ask, 2 never split, 0 off (one
 * location or position per block, as before them; 0 and 2 for tests and measurement). */
void lf_cuda_set_t4_group(int mode);
int lf_cuda_t4_group(void);
/* How many blocks per SM the group kernels' split aims at (mode 1): 4 by default (their blocks
 * resident at once: one wave); more makes more, smaller ranges (more partial sums to add). For
 * measurement (bench_cuda --t4-group-fill). 1 to 64: CN_OK; else CN_EINVAL. */
int lf_cuda_set_t4_group_fill(int blocks_per_sm);
/* Records tiles[pass] (a scheme each, not AUTO) for d's shape (at most 32 shapes); CN_OK or CN_EINVAL. */
int lf_cuda_set_tiles_for(const lf_dims *d, const int tiles[LF_PASS_COUNT]);
int lf_cuda_tiles_for(const lf_dims *d, int pass); /* a scheme (not AUTO); -1 as lf_cuda_tiles */
int lf_cuda_tiles_same_shape(const lf_dims *a, const lf_dims *b); /* 1 when a and b share one record */
void lf_cuda_clear_tiles_for(void);                /* forgets every record */
/* The fastest of the schemes' times in ms (a tie: the lower scheme, T32 first; a time that is not positive
 * and finite never wins). */
int lf_tiles_pick(const float ms[LF_TILES_COUNT]);

/* Measures every scheme on each pass of d's shape and picks with lf_tiles_pick (cuda/lf_tune.cu):
 * a problem of d's shape with the first lf_tune_rows rows of d's output tile, zeroed scratch arrays of
 * its own (the caller's data is not touched), one warm-up run and the median of 5 timed with CUDA
 * events per pass and scheme. fused: time
 * the backward filter as lf_backward_fused_sgd_cuda's update (lr = 0) instead of lf_backward_filter_cuda.
 * Synchronizes stream; records nothing (lf_cuda_set_tiles_for does). CN_OK, or CN_EINVAL as lf_check
 * for bad dims. */
typedef struct {
    int tiles[LF_PASS_COUNT];                  /* lf_tiles_pick of each pass */
    float ms[LF_PASS_COUNT][LF_TILES_COUNT];   /* median times */
    int rows, cols;                            /* the output locations measured */
} lf_tune_result;
int lf_cuda_tune(const lf_dims *d, int fused, int locations, lf_tune_result *res, cudaStream_t stream);
/* The rows lf_cuda_tune times: as many as hold about `locations` output locations (4096 when
 * locations <= 0), no more than d->Ho, and no more than fit LF_TUNE_BYTES of scratch (input and
 * input-gradient windows with their r - s extra rows, filters, filter gradients unless fused, outputs);
 * at least one. lf_tune_bytes: that scratch for `rows` rows. For a valid d (lf_check). */
#define LF_TUNE_BYTES (256.0 * 1024 * 1024)
int lf_tune_rows(const lf_dims *d, int fused, int locations);
double lf_tune_bytes(const lf_dims *d, int fused, int rows);

/* ---- the local filter as batched GEMM (cuda/lf_gemm.cu): cuBLAS's route, which bench_cuda measures
 * against the kernels above (docs/CUDA.md "The batched-GEMM route"); not used in training. Whole tile
 * only. xu: the unfolded patches [Ho*Wo][B][K] (K = r*r*C, k = (dy, dx, c) as in w), lf_unfold_count
 * floats; y, dy, w, dx in the layouts of lf_forward_ref.                                             */
size_t lf_unfold_count(const lf_dims *d);
int lf_unfold_cuda(const lf_dims *d, const float *x, float *xu, cudaStream_t stream);  /* xu = patches of x */
int lf_fold_cuda(const lf_dims *d, const float *xu, float *dx, cudaStream_t stream);   /* dx += sum over fields */
int lf_gemm_forward_cuda(const lf_dims *d, const float *xu, const float *w, float *y,  /* y = (whole tile) */
                         cudaStream_t stream);
int lf_gemm_backward_data_cuda(const lf_dims *d, const float *w, const float *dy, float *dxu, /* dxu = */
                               cudaStream_t stream);
int lf_gemm_backward_filter_cuda(const lf_dims *d, const float *xu, const float *dy, float *dw, /* dw += */
                                 cudaStream_t stream);

/* ---- L2 pooling (cuda/pool.cu) -------------------------------------------------------------------- */
int pool_forward_cuda(const pool_dims *d, const float *y, float *p, cn_region rg, cudaStream_t stream);
int pool_backward_cuda(const pool_dims *d, const float *y, const float *p, const float *dp, float *dy,
                       cn_region rg, cudaStream_t stream);

/* ---- local contrast normalization (cuda/lcn.cu) ---------------------------------------------------
 * Scratch (a few doubles per window position and sample) comes from the stream-ordered allocator. */
int lcn_forward_cuda(const lcn_dims *d, const float *x, float *out, cudaStream_t stream);
int lcn_backward_cuda(const lcn_dims *d, const float *x, const float *dout, float *dx, cudaStream_t stream);

/* ---- softmax head (cuda/head.cu): cuBLAS SGEMM in strict FP32 (CUBLAS_PEDANTIC_MATH) ----------- */
int head_logits_cuda(const head_dims *d, const float *f, const float *w, float *z, cudaStream_t stream);
/* z, labels, dz: device. loss (one double) and correct (one int) are DEVICE pointers too, so that no
 * step has to wait for the GPU; each may be NULL, and so may dz. A label outside [0, K) cannot be
 * refused on the host without a copy: the kernel then writes loss = NaN and correct = -1 (and dz as if
 * the label were absent), which the caller sees when it reads them back. */
int head_softmax_xent_cuda(const head_dims *d, const float *z, const int *labels, double *loss, float *dz,
                           int *correct, cudaStream_t stream);
int head_backward_cuda(const head_dims *d, const float *f, const float *w, const float *dz, float *dw,
                       float *df, cudaStream_t stream);

/* ---- optimizers (cuda/optim.cu), element by element as the reference ------------------------------ */
void sgd_momentum_cuda(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                       cudaStream_t stream);
void adagrad_cuda(float *w, float *h, const float *g, size_t n, float lr, float eps, float wd,
                  cudaStream_t stream);

/* ---- halo rectangles (cuda/halo_pack.cu) -----------------------------------------------------------
 * For host-staged halo exchange: a map [B, H, W, C] (NHWC, device) and a rectangle r of it in the map's
 * own row and column coordinates. pack: buf [B, rows(r), cols(r), C] = map[:, r, :]. unpack: map[:, r, :]
 * = buf (add = 0) or += buf (add = 1, for scatter_add). An empty rectangle is a no-op; a rectangle
 * outside the map returns CN_EINVAL. */
int halo_pack_cuda(const float *map, int B, int H, int W, int C, cn_rect r, float *buf, cudaStream_t stream);
int halo_unpack_cuda(const float *buf, int B, int H, int W, int C, cn_rect r, float *map, int add,
                     cudaStream_t stream);

/* ---- the engine's glue between operations (cuda/glue.cu) -------------------------------------------
 * Sums in double, deterministic; the result lands in a DEVICE double (read it back with a copy).
 * sum_cuda:            *sum = sum of v[0, n)
 * rica_residual_cuda:  *sum_sq = sum of (xr - x)^2 and ge = (float)(two * (xr - x) / denom), both in
 *                      double (src/stage.c's reconstruction error and its gradient, two = 2, denom = B)
 * fill_cuda:           v[0, n) = value
 * bias_add_cuda:       z [B, K] += bias [K] on every row
 * bias_grad_cuda:      gb [K] += sum over b of dz [b, K], in the order of b, in float (as the CPU) */
int sum_cuda(const float *v, size_t n, double *sum, cudaStream_t stream);
int rica_residual_cuda(const float *xr, const float *x, size_t n, double two, double denom, float *ge,
                       double *sum_sq, cudaStream_t stream);
int fill_cuda(float *v, size_t n, float value, cudaStream_t stream);
int bias_add_cuda(float *z, const float *bias, int B, int K, cudaStream_t stream);
int bias_grad_cuda(const float *dz, int B, int K, float *gb, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
