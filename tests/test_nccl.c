/* test_nccl.c: NCCL through cuda/nccl_comm.h.
 *  - nccl_load: libnccl.so.2 loads at run time and has every function used (skip when NCCL is not
 *    installed: the program does not need it to start);
 *  - nccl_allreduce_1rank (GPU): a communicator of one rank from a fresh unique id; the mean over one
 *    rank must leave a random buffer bit for bit unchanged, and the call must not touch memory beyond
 *    the n floats it was given.
 * Several ranks need several GPUs under mpirun; that check is left to a multi-GPU machine. */
#include <stdio.h>
#include <string.h>

#include "src/common.h"
#include "tests/testutil.h"
#ifdef CN_HAVE_CUDA
#include "cuda/nccl_comm.h"
#include "cuda/ops_cuda.h"
#endif

int main(void)
{
#ifndef CN_HAVE_CUDA
    printf("skip cuda_nccl_load: no GPU (CUDA backend not built)\n");
    printf("skip cuda_nccl_allreduce_1rank: no GPU (CUDA backend not built)\n");
    return 0;
#else
    if (cn_nccl_load() != CN_OK) {
        tu_skip("cuda_nccl_load", cn_last_error());
        tu_skip("cuda_nccl_allreduce_1rank", "no NCCL");
        return tu_exit();
    }
    int v = cn_nccl_version();
    printf("# NCCL %d.%d.%d\n", v / 10000, v / 100 % 100, v % 100);
    tu_check("cuda_nccl_load", v >= 21000, "NCCL older than 2.10 (no ncclAvg)");
    if (!cuda_available()) {
        tu_skip("cuda_nccl_allreduce_1rank", "no GPU");
        return tu_exit();
    }
    if (cuda_select_device(-1) < 0) {
        tu_fail("cuda_nccl_allreduce_1rank", "%s", cn_last_error());
        return tu_exit();
    }
    const size_t n = 1001, pad = 16;
    float *h = tu_randn(n + pad, 1.0), *back = malloc((n + pad) * sizeof *back);
    float *d = cuda_malloc((n + pad) * sizeof *d);
    cuda_upload(d, h, (n + pad) * sizeof *d);
    unsigned char id[CN_NCCL_ID_BYTES];
    cn_nccl *c = NULL;
    if (cn_nccl_unique_id(id) == CN_OK)
        c = cn_nccl_create(id, 1, 0);
    if (!c) {
        tu_fail("cuda_nccl_allreduce_1rank", "%s", cn_last_error());
        return tu_exit();
    }
    cn_nccl_allreduce_mean(c, d, n, 0);
    cuda_sync(0);
    cuda_download(back, d, (n + pad) * sizeof *back);
    tu_check("cuda_nccl_allreduce_1rank", cn_nccl_size(c) == 1 && !memcmp(h, back, (n + pad) * sizeof *h),
             "the mean over one rank changed the buffer");
    cn_nccl_destroy(c);
    cuda_free(d);
    free(h), free(back);
    return tu_exit();
#endif
}
