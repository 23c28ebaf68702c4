/* mem_fit.h: before a run allocates its network, whether the job fits the memory it will live in,
 * counted as `cotsnet info --params` counts it (src/sizing.h):
 *   backend = cpu:  the host memory of each node, all of the node's ranks together, against
 *                   MemAvailable in /proc/meminfo, or the limit of the rank's memory cgroup where that
 *                   is lower (Slurm's ConstrainRAMSpace; not checked where neither can be read);
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

/* The memory limit of the process's memory cgroup in bytes, from proc_cgroup (/proc/self/cgroup) and
 * the cgroup file systems under sys_cgroup (/sys/fs/cgroup): cgroup v2 (the "0::" line, memory.max)
 * or v1 (the line of the memory controller, memory/.../memory.limit_in_bytes); -1 when there is none
 * ("max", or v1's 2^60 and above: no limit) or it cannot be read. */
double mem_cgroup_limit(const char *proc_cgroup, const char *sys_cgroup);

#endif
