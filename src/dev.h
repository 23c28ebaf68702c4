/* dev.h: where the engine's tensors live, and the few memory operations the engine does on them.
 *
 * backend = cpu (the default, and every test that builds a network without dev_init): host memory,
 * cn_alloc, memset, memcpy: exactly what the engine did before the GPU backend existed.
 * backend = cuda (dev_init): every tensor of the network (parameters, gradients, optimizer state,
 * batch buffers) is device memory of the GPU chosen from the rank's local index (cuda/device.cu), and
 * every operation is queued on one stream per rank (dev_stream). The host sees device data only
 * through dev_download / dev_upload; halo messages are staged through pinned host memory, or with
 * grid.halo = nccl sent GPU to GPU by NCCL (dev_halo_mem, mpi/halo.h). docs/CUDA.md "Training on the GPU" describes the data flow. */
#ifndef CN_DEV_H
#define CN_DEV_H

#include <stddef.h>

#include "mpi/grid.h"
#include "mpi/halo.h"
#include "src/job.h"

/* For backend = cuda: choose this rank's GPU and create its stream. Returns 0, or -1 after one error
 * line (printed by the lowest failing rank; every rank returns -1 together) when this build has no
 * CUDA backend, a rank finds no usable GPU, or grid.allreduce / grid.halo = nccl and NCCL cannot be
 * loaded. With grid.allreduce = nccl and R > 1 it also creates the NCCL communicator of the ranks that
 * hold this rank's tile; with grid.halo = nccl and Py x Px > 1 the one of this rank's replica. backend = cpu: nothing to do, returns 0. Collective. */
int dev_init(const cn_job *job, const cn_grid *grid);
/* Back to the host backend: frees the stream and the staging buffers (after net_destroy). */
void dev_shutdown(void);
int dev_gpu(void);          /* 1 between a dev_init for backend = cuda and dev_shutdown */
void *dev_stream(void);     /* the rank's cudaStream_t (NULL on the host) */
/* Free and total bytes of this rank's GPU: 0, or -1 on the host (or when the driver cannot say). */
int dev_mem_info(size_t *free_bytes, size_t *total_bytes);

/* count * size bytes, zeroed; host memory (cn_alloc) or device memory. */
void *dev_alloc(size_t count, size_t size);
void dev_free(void *p);
void dev_zero(void *p, size_t bytes);
/* Synchronous copies between the host and where the tensors live (plain memcpy on the host). */
void dev_download(void *host, const void *src, size_t bytes);
void dev_upload(void *dst, const void *host, size_t bytes);

/* g = its mean over the R replicas (R > 1): MPI on the host; on the GPU NCCL when the job says
 * grid.allreduce = nccl (queued on the stream), else through a host copy and MPI. */
void dev_replicas_mean(const cn_grid *grid, float *g, size_t n);

/* The memory operations of a halo plan whose maps live on the GPU (NULL on the host). */
const halo_mem *dev_halo_mem(void);

#endif
