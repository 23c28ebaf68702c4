/* nccl_comm.h: NCCL (callable from C): a communicator made from a unique id that the caller broadcasts
 * over MPI, the mean of a device buffer over its ranks (replicas), and point-to-point messages (halos).
 *
 * NCCL is loaded at run time (dlopen of libnccl.so.2), not linked: the program starts, and runs on
 * the CPU or on one replica, on machines without NCCL; only asking for a communicator needs it.
 * Usage, on every rank of one replica group (the ranks that hold the same tile):
 *     unsigned char id[CN_NCCL_ID_BYTES];
 *     if (rank_in_group == 0) cn_nccl_unique_id(id);
 *     ...broadcast id from rank 0 of the group over MPI...
 *     cn_nccl *c = cn_nccl_create(id, group_size, rank_in_group);   (collective; current device)
 *     cn_nccl_allreduce_mean(c, grad, n, stream);                    (collective, on stream)
 *     cn_nccl_destroy(c);
 * Failures of NCCL calls end the job (cn_fatal); an unloadable library is an error returned with a
 * message, so that the caller can say what to install. The training loop uses it for the replicas'
 * gradient mean with grid.allreduce = nccl, and the halo messages of a replica's grid with
 * grid.halo = nccl (src/dev.c). */
#ifndef CN_NCCL_COMM_H
#define CN_NCCL_COMM_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CN_NCCL_ID_BYTES 128

typedef struct cn_nccl cn_nccl;

/* Loads NCCL once; CN_OK, or CN_EINVAL with a message when the library or a function is missing. */
int cn_nccl_load(void);
/* NCCL's version as NCCL_VERSION_CODE (e.g. 22809 for 2.28.9), or 0 when it cannot be loaded. */
int cn_nccl_version(void);
/* A new unique id (rank 0 of the group); CN_EINVAL when NCCL cannot be loaded. */
int cn_nccl_unique_id(unsigned char id[CN_NCCL_ID_BYTES]);
/* Collective over the nranks ranks that share id; uses the current CUDA device. NULL with a message
 * when NCCL cannot be loaded or the arguments are bad. */
cn_nccl *cn_nccl_create(const unsigned char id[CN_NCCL_ID_BYTES], int nranks, int rank);
void cn_nccl_destroy(cn_nccl *c);
int cn_nccl_size(const cn_nccl *c);
/* buf[i] = mean over the ranks of buf[i], n floats on the device, queued on stream (ncclAvg). */
void cn_nccl_allreduce_mean(cn_nccl *c, float *buf, size_t n, cudaStream_t stream);
/* n floats on the device to / from rank peer of c (not this rank), queued on stream; n = 0 does
 * nothing. Both ends must post matching calls in the same order; a rank that sends and receives
 * several messages at once puts them between cn_nccl_group_start and cn_nccl_group_end (ncclGroup*),
 * else the two ends may wait for each other. */
void cn_nccl_send(cn_nccl *c, const float *buf, size_t n, int peer, cudaStream_t stream);
void cn_nccl_recv(cn_nccl *c, float *buf, size_t n, int peer, cudaStream_t stream);
void cn_nccl_group_start(void);
void cn_nccl_group_end(void);

#ifdef __cplusplus
}
#endif

#endif
