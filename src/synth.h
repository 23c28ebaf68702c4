/* synth.h: synthetic labelled images, a pure function of (seed, sample, row, column, channel), so that
 * any rank can make exactly its own tile of any sample with no communication, and tests and
 * benchmarks need no files. Class k is a pair of oriented gratings whose angle and period depend on k,
 * with a random phase per sample and Gaussian noise: learnable, not trivially. */
#ifndef CN_SYNTH_H
#define CN_SYNTH_H

#include <stdint.h>

#include "src/tile.h"

int synth_label(uint64_t seed, uint64_t sample, int classes);
/* Fill out [rows, cols, C] with the rectangle r of sample `sample` of an H x W x C image. */
void synth_fill(uint64_t seed, uint64_t sample, int classes, int H, int W, int C, cn_rect r, float *out);

#endif
