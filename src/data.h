/* data.h: where training and test batches come from: HDF5 shards (io/reader.h) or the synthetic
 * generator (src/synth.h), behind one interface. Each rank gets, for each sample of its replica's
 * batch, only the rectangle it asks for (its first stage's input tile). The position in the sample
 * stream is a single number (samples consumed by all replicas together), saved in checkpoints. */
#ifndef CN_DATA_H
#define CN_DATA_H

#include <stdint.h>

#include "mpi/grid.h"
#include "src/job.h"
#include "src/tile.h"

typedef struct cn_data cn_data;

enum { DATA_TRAIN = 0, DATA_TEST = 1 };

/* NULL after one error line (on rank 0) when the data cannot be opened or does not fit the job. */
cn_data *data_open(const cn_job *job, const cn_grid *grid, int which, cn_rect rect);
void data_close(cn_data *d);
uint64_t data_count(const cn_data *d);     /* samples in the set */
/* The next B samples of this rank's replica: x [B, rect rows, rect cols, C] normalized, labels [B].
 * Returns how many are real samples: B, except at the end of a test set, where the rest is padding
 * (label -1, never counted as correct). */
int data_next(cn_data *d, float *x, int *labels, int B);
/* A read that fails (a corrupted chunk, a value that is not finite) does not end the run on this rank
 * alone, since the others would wait for it in the step's exchanges and each could print its own line:
 * data_next keeps the error, returns a batch of zeros (labels 0 for training, -1 for a test set) then
 * and ever after, and the caller learns of it from data_error once all ranks compare notes. */
const char *data_error(const cn_data *d); /* the first failed read's message, or NULL */
uint64_t data_tell(const cn_data *d);      /* cursor */
int data_seek(cn_data *d, uint64_t pos);   /* restore a cursor (resume); -1 (data_error says why) */
double data_wait_seconds(const cn_data *d); /* time spent waiting for batches */
/* The threads making synthetic batches ahead (GPU backend with prefetch: data.threads, or when 0 the
 * CPUs this rank may use, src/cpus.h), or 0 when nothing is generated ahead. */
int data_ahead_threads(const cn_data *d);

#endif
