/* mem_fit.h: before a run allocates its network, whether the job fits the memory it will live in,
 * counted as `cotsnet info --params` counts it (src/sizing.h):
 *   backend = cpu:  the host memory of each node, all of the node's ranks together, against
 *                   MemAvailable in /proc/meminfo (not checked where that cannot be read);
 *   backend = cuda: each rank's GPU, what lives on it (parameters, gradients, optimizer state, the
 *                   batch's tiles and windows) against the device's free memory (cudaMemGetInfo).
 * A job that does not fit stops before its first allocation with one line, instead of being killed
 * by the kernel's out-of-memory killer halfway through allocating, or failing in cudaMalloc. The
 * count is exact for the engine's own buffers; what the libraries and the CUDA context take besides
 * is not counted, so a job just under the limit can still fail later, never the other way round. */
#ifndef CN_MEM_FIT_H
#define CN_MEM_FIT_H

#include "mpi/grid.h"
#include "src/job.h"

/* Collective. Returns 0, or -1 after one error line (printed by the lowest rank that does not fit;
 * every rank returns -1 together). After dev_init, before net_create. */
int mem_fit_check(const cn_job *job, const cn_grid *grid);

#endif
