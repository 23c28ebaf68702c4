/* timers.h: where the time of a step goes, per process: time blocked waiting for halos, in replica
 * all-reduces, waiting for data; the rest of a step is compute. Accumulated by the engine, read and
 * reset by the training loop (and the benchmarks). */
#ifndef CN_TIMERS_H
#define CN_TIMERS_H

typedef struct {
    double halo_wait;  /* seconds blocked in halo exchanges (not hidden by the interior) */
    double allreduce;  /* seconds in the replica gradient averaging */
    double grid_sum;   /* seconds in the sums over the grid (losses, head logits) */
    double halo_bytes; /* bytes sent in halo messages */
    double overlap_wait;   /* of halo_wait: blocked at the end of the overlapped filter-input exchange */
    double overlap_hidden; /* seconds of interior compute done while that exchange was in flight */
} cn_timers;

extern cn_timers cn_time;

#endif
