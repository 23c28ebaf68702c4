/* dev_tune.h: COTSNET_CUDA_LF_TILES=auto: the local filter's tile scheme of each stage, measured on
 * this GPU before the first step (docs/CUDA.md "Tile schemes"). */
#ifndef CN_DEV_TUNE_H
#define CN_DEV_TUNE_H

#include "src/net.h"

/* With backend = cuda and the tile mode auto (cuda/ops_cuda.h, lf_cuda_tiles): world rank 0 measures
 * both schemes on each stage's shape (lf_cuda_tune, its own tile's shape), prints one line per stage,
 * and every rank records rank 0's choices (lf_cuda_set_tiles_for), so that all ranks run the same
 * kernels. Otherwise nothing. Collective; returns 0, or -1 after one error line on every rank's behalf. */
int dev_tune_lf(const cn_net *net);

#endif
