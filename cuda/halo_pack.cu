/* halo_pack.cu: copy a rectangle of an NHWC map on the GPU to a contiguous buffer and back, so that a
 * halo exchange can be staged through (pinned) host memory for MPI, or sent as is by NCCL.
 *
 * map [B, H, W, C]; rectangle rows [y0, y1), columns [x0, x1); buffer [B, y1 - y0, x1 - x0, C]. One
 * row of the rectangle is (x1 - x0) * C consecutive floats in both, so one thread per float, in buffer
 * order, reads and writes consecutive addresses. unpack with add = 1 adds (scatter_add of gradients). */
#include "cuda/internal.h"
#include "cuda/ops_cuda.h"

namespace {

template <int MODE> /* 0: pack, 1: unpack (copy), 2: unpack (add) */
__global__ void rect_kernel(float *__restrict__ map, float *__restrict__ buf, int H, int W, int C, int y0, int x0,
                            int rows, size_t rowlen, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t k = i % rowlen, line = i / rowlen; /* line = b * rows + row */
        const size_t b = line / (size_t)rows, row = line % (size_t)rows;
        const size_t m = ((b * (size_t)H + (size_t)y0 + row) * (size_t)W + (size_t)x0) * (size_t)C + k;
        if (MODE == 0)
            buf[i] = map[m];
        else if (MODE == 1)
            map[m] = buf[i];
        else
            map[m] += buf[i];
    }
}

int rect_check(const char *op, const void *a, const void *b, int B, int H, int W, int C, cn_rect r)
{
    if (B < 1 || H < 1 || W < 1 || C < 1)
        return cn_set_error("%s: map B = %d, H = %d, W = %d, C = %d must all be >= 1", op, B, H, W, C);
    if (rect_empty(r))
        return CN_OK;
    if (r.y0 < 0 || r.x0 < 0 || r.y1 > H || r.x1 > W)
        return cn_set_error("%s: rectangle rows [%d, %d) cols [%d, %d) outside the %d x %d map", op, r.y0, r.y1,
                            r.x0, r.x1, H, W);
    if (!a || !b)
        return cn_set_error("%s: NULL array", op);
    size_t n;
    if (cn_mul_size(&n, 5, (size_t)B, (size_t)H, (size_t)W, (size_t)C, sizeof(float)))
        return cn_set_error("%s: map sizes overflow", op);
    return CN_OK;
}

template <int MODE>
void rect_launch(float *map, float *buf, int B, int H, int W, int C, cn_rect r, cudaStream_t stream)
{
    const size_t rowlen = (size_t)rect_cols(r) * (size_t)C, n = (size_t)B * (size_t)rect_rows(r) * rowlen;
    auto kern = &rect_kernel<MODE>;
    CN_LAUNCH(kern, cn_grid_1d(n, 256), 256, stream, map, buf, H, W, C, r.y0, r.x0, rect_rows(r), rowlen, n);
}

} // namespace

extern "C" int halo_pack_cuda(const float *map, int B, int H, int W, int C, cn_rect r, float *buf,
                              cudaStream_t stream)
{
    if (rect_check("halo_pack_cuda", map, buf, B, H, W, C, r) != CN_OK)
        return CN_EINVAL;
    if (!rect_empty(r))
        rect_launch<0>((float *)map, buf, B, H, W, C, r, stream); /* MODE 0 only reads map */
    return CN_OK;
}

extern "C" int halo_unpack_cuda(const float *buf, int B, int H, int W, int C, cn_rect r, float *map, int add,
                                cudaStream_t stream)
{
    if (rect_check("halo_unpack_cuda", buf, map, B, H, W, C, r) != CN_OK)
        return CN_EINVAL;
    if (rect_empty(r))
        return CN_OK;
    if (add)
        rect_launch<2>(map, (float *)buf, B, H, W, C, r, stream); /* MODE 1, 2 only read buf */
    else
        rect_launch<1>(map, (float *)buf, B, H, W, C, r, stream);
    return CN_OK;
}
