/* dev_tune.h: COTSNET_CUDA_LF_TILES=auto: the local filter's tile scheme of each stage and pass, measured
 * on this GPU before the first step, or taken from the checkpoint the run resumes (docs/CUDA.md "Tile
 * schemes").
 *
 * The record's text form (checkpoint attribute lf_tiles, cn_progress.lf_tiles): per stage the schemes
 * of the forward, backward data and backward filter passes, stages separated by ';':
 * "t16,t32,t4;t32,t32,t16" for two stages (schemes t32, t16, t4). */
#ifndef CN_DEV_TUNE_H
#define CN_DEV_TUNE_H

#include "src/job.h"
#include "src/net.h"

#define CN_LF_TILES_TEXT (CN_MAX_STAGES * 12 + 1)

/* Parse the text form of nstages stages; tt (may be NULL: only check) gets each scheme's chunk, 32,
 * 16 or 4. Returns 0, or -1 when s is not exactly that. */
int lf_tiles_parse(const char *s, int nstages, int tt[][3]);

/* With backend = cuda and the tile mode auto (cuda/ops_cuda.h, lf_cuda_tiles): every rank records the
 * same schemes (lf_cuda_set_tiles_for) for each stage, and world rank 0 prints one line per stage:
 *   - recorded non-empty (a resumed run's checkpoint): those, as they were;
 *   - else world rank 0 measures every scheme on each stage's shape (lf_cuda_tune, its own tile's shape)
 *     and broadcasts its choice (a rank's own timing could choose otherwise, and round differently).
 * The record is per shape of one location's product (C, M, r, s): a stage of an earlier stage's shape
 * takes that stage's choice untimed; from a record that gives such stages different schemes, each runs
 * (and is said and recorded with) the last such stage's, as lf_cuda_set_tiles_for keeps the last.
 * out (CN_LF_TILES_TEXT bytes, may be recorded itself) gets the text form of what the run uses, "" in
 * any other mode or backend. Collective; returns 0, or -1 after one error line on every rank's behalf. */
int dev_tune_lf(const cn_net *net, const char *recorded, char *out);

#endif
