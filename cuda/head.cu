/* head.cu: the softmax head on the GPU (twins of src/head_ref.c; docs/MODEL.md "Softmax head").
 *
 * The products are cuBLAS SGEMMs in CUBLAS_PEDANTIC_MATH (standard FP32 arithmetic: no TF32, no BF16x9
 * emulation, whatever NVIDIA_TF32_OVERRIDE or cuBLAS's emulation variables say). Row-major arrays are
 * column-major transposes, so with f [B, F], w [F, K], z [B, K] and dz [B, K]:
 *   z  = f w      is  z^T (K x B) = w^T (K x F) f^T (F x B)        gemm(N, N, K, B, F)
 *   dw += f^T dz  is  dw^T (K x F) += dz^T (K x B) f (B x F)       gemm(N, T, K, F, B)
 *   df += dz w^T  is  df^T (F x B) += w (F x K) dz^T (K x B)       gemm(T, N, F, B, K)
 * The softmax and cross-entropy run in one block: one warp per sample (strided), each warp's partial
 * loss kept per thread and summed in a fixed order at the end, exp and sums in double as in the
 * reference; the argmax takes the lowest index on ties. Deterministic. */
#include <math.h>

#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

int head_prepare(const char *op, const head_dims *d, int need_f)
{
    if (!d)
        return cn_set_error("%s: no dimensions given", op);
    if (d->B < 1 || d->K < 1 || (need_f && d->F < 1))
        return cn_set_error("%s: B = %d, K = %d, F = %d must all be >= 1", op, d->B, d->K, d->F);
    size_t bytes;
    if (cn_mul_size(&bytes, 3, (size_t)d->B, (size_t)d->K, sizeof(double)) ||
        (need_f && (cn_mul_size(&bytes, 3, (size_t)d->B, (size_t)d->F, sizeof(double)) ||
                    cn_mul_size(&bytes, 3, (size_t)d->F, (size_t)d->K, sizeof(double)))))
        return cn_set_error("%s: sizes B = %d, K = %d, F = %d overflow", op, d->B, d->K, d->F);
    return CN_OK;
}

#define CN_SOFTMAX_THREADS 256
#define CN_SOFTMAX_GROUP 32 /* threads per sample */

/* One block. Group g of 32 threads takes samples g, g + ngroups, ...; thread lane of a group takes
 * classes lane, lane + 32, ... Reductions go through shared memory (no warp-synchronous code). */
__global__ void __launch_bounds__(CN_SOFTMAX_THREADS)
    softmax_xent_kernel(int B, int K, const float *__restrict__ z, const int *__restrict__ labels,
                        double *__restrict__ loss, float *__restrict__ dz, int *__restrict__ correct)
{
    constexpr int NG = CN_SOFTMAX_THREADS / CN_SOFTMAX_GROUP;
    __shared__ double red[CN_SOFTMAX_THREADS];
    __shared__ int arg[CN_SOFTMAX_THREADS];
    __shared__ double gloss[NG];
    __shared__ int gright[NG], gbad[NG];
    const int tid = (int)threadIdx.x, grp = tid / CN_SOFTMAX_GROUP, lane = tid % CN_SOFTMAX_GROUP;
    double my_loss = 0; /* used by lane 0 of each group */
    int my_right = 0, my_bad = 0;
    const int rounds = (B + NG - 1) / NG;
    for (int round = 0; round < rounds; round++) {
        const int b = round * NG + grp;
        const bool live = b < B;
        const float *zb = z + (size_t)(live ? b : 0) * K;
        /* argmax, lowest index on ties: each lane over its classes, then lane 0 over the lanes in order */
        int best = -1;
        if (live)
            for (int k = lane; k < K; k += CN_SOFTMAX_GROUP)
                if (best < 0 || zb[k] > zb[best])
                    best = k;
        arg[tid] = best;
        __syncthreads();
        if (lane == 0) {
            int bb = arg[tid];
            for (int l = 1; l < CN_SOFTMAX_GROUP; l++) {
                const int c = arg[tid + l];
                if (c >= 0 && (bb < 0 || zb[c] > zb[bb] || (zb[c] == zb[bb] && c < bb)))
                    bb = c;
            }
            arg[tid] = bb;
        }
        __syncthreads();
        const int kbest = arg[grp * CN_SOFTMAX_GROUP];
        const double zmax = live ? (double)zb[kbest] : 0.0;
        double s = 0;
        if (live)
            for (int k = lane; k < K; k += CN_SOFTMAX_GROUP)
                s += exp((double)zb[k] - zmax);
        red[tid] = s;
        __syncthreads();
        if (lane == 0) {
            double sum = 0;
            for (int l = 0; l < CN_SOFTMAX_GROUP; l++)
                sum += red[tid + l];
            red[tid] = sum;
        }
        __syncthreads();
        const double sum = red[grp * CN_SOFTMAX_GROUP];
        if (live) {
            const int y = labels[b];
            const bool ok = y >= 0 && y < K;
            if (lane == 0) {
                if (ok) {
                    my_loss += log(sum) - ((double)zb[y] - zmax);
                    my_right += kbest == y;
                } else {
                    my_bad = 1;
                }
            }
            if (dz)
                for (int k = lane; k < K; k += CN_SOFTMAX_GROUP) {
                    const double p = exp((double)zb[k] - zmax) / sum;
                    dz[(size_t)b * K + k] = (float)((p - (ok && k == y ? 1.0 : 0.0)) / B);
                }
        }
        __syncthreads(); /* arg and red are reused next round */
    }
    if (lane == 0) {
        gloss[grp] = my_loss;
        gright[grp] = my_right;
        gbad[grp] = my_bad;
    }
    __syncthreads();
    if (tid == 0) {
        double total = 0;
        int right = 0, bad = 0;
        for (int g = 0; g < NG; g++) {
            total += gloss[g];
            right += gright[g];
            bad |= gbad[g];
        }
        if (loss)
            *loss = bad ? nan("") : total / B;
        if (correct)
            *correct = bad ? -1 : right;
    }
}

} // namespace

extern "C" int head_logits_cuda(const head_dims *d, const float *f, const float *w, float *z, cudaStream_t stream)
{
    if (head_prepare("head_logits_cuda", d, 1) != CN_OK)
        return CN_EINVAL;
    if (!f || !w || !z)
        return cn_set_error("head_logits_cuda: NULL array");
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(cn_cublas(stream), CUBLAS_OP_N, CUBLAS_OP_N, d->K, d->B, d->F, &one, w, d->K, f, d->F,
                             &zero, z, d->K));
    return CN_OK;
}

extern "C" int head_softmax_xent_cuda(const head_dims *d, const float *z, const int *labels, double *loss, float *dz,
                                      int *correct, cudaStream_t stream)
{
    if (head_prepare("head_softmax_xent_cuda", d, 0) != CN_OK)
        return CN_EINVAL;
    if (!z || !labels)
        return cn_set_error("head_softmax_xent_cuda: NULL logits or labels");
    CN_LAUNCH(softmax_xent_kernel, 1, CN_SOFTMAX_THREADS, stream, d->B, d->K, z, labels, loss, dz, correct);
    return CN_OK;
}

extern "C" int head_backward_cuda(const head_dims *d, const float *f, const float *w, const float *dz, float *dw,
                                  float *df, cudaStream_t stream)
{
    if (head_prepare("head_backward_cuda", d, 1) != CN_OK)
        return CN_EINVAL;
    if (!f || !w || !dz || !dw)
        return cn_set_error("head_backward_cuda: NULL array");
    const float one = 1.0f;
    cublasHandle_t h = cn_cublas(stream);
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, d->K, d->F, d->B, &one, dz, d->K, f, d->F, &one, dw, d->K));
    if (df)
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, d->F, d->B, d->K, &one, w, d->K, dz, d->K, &one, df,
                                 d->F));
    return CN_OK;
}
