/* nccl_emu.c: a stand-in for libnccl.so.2 beside the CPU emulator (tests/t_cuda_train_emu.sh builds it
 * as BUILD/cuda_emu_train/lib/libnccl.so.2 and puts that directory on LD_LIBRARY_PATH), so that the
 * training loop's NCCL path (cuda/nccl_comm.cu: dlopen, unique id broadcast over MPI, one communicator
 * per tile over its replicas, ncclAllReduce with ncclAvg on device buffers) runs without a GPU.
 *
 * The calls of NCCL's ABI that cuda/nccl_comm.cu uses, done with MPI: a communicator is
 * MPI_Comm_split of MPI_COMM_WORLD by a hash of the unique id (so ncclCommInitRank must be called by
 * every rank of the world at once, as the training loop does), and the all-reduce copies the device
 * buffer to the host with the emulator's cudaMemcpy (the executable exports it: linked -rdynamic),
 * sums with MPI_Allreduce, divides by the rank count and copies back. Arguments are checked as NCCL
 * does (data type, operation, sizes, rank) and a mismatch of the group size is an error. Tests only. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cuda_runtime_api.h"

typedef struct {
    char internal[128];
} ncclUniqueId;
struct ncclComm {
    MPI_Comm comm;
    int nranks, rank;
};
typedef struct ncclComm *ncclComm_t;
typedef enum { ncclSuccess = 0, ncclUnhandledCudaError = 1, ncclSystemError = 2, ncclInvalidArgument = 4 } ncclResult_t;
enum { NCCL_FLOAT32 = 7, NCCL_AVG = 4 };

ncclResult_t ncclGetUniqueId(ncclUniqueId *id);
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank);
ncclResult_t ncclCommDestroy(ncclComm_t comm);
ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm,
                           cudaStream_t stream);
const char *ncclGetErrorString(ncclResult_t r);
ncclResult_t ncclGetVersion(int *version);

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    static uint64_t count;
    uint64_t v[3] = {(uint64_t)getpid(), (uint64_t)time(NULL), ++count};
    if (!id)
        return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    memcpy(id->internal, v, sizeof v);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
    if (!comm || nranks < 1 || rank < 0 || rank >= nranks)
        return ncclInvalidArgument;
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the id */
    for (size_t i = 0; i < sizeof id.internal; i++)
        h = (h ^ (unsigned char)id.internal[i]) * 1099511628211ull;
    struct ncclComm *c = calloc(1, sizeof *c);
    if (!c)
        return ncclSystemError;
    int size = 0, me = -1;
    if (MPI_Comm_split(MPI_COMM_WORLD, (int)(h & 0x3fffffff), rank, &c->comm) != MPI_SUCCESS ||
        MPI_Comm_size(c->comm, &size) != MPI_SUCCESS || MPI_Comm_rank(c->comm, &me) != MPI_SUCCESS)
        return ncclSystemError;
    if (size != nranks || me != rank) {
        fprintf(stderr, "nccl_emu: ncclCommInitRank: %d ranks share the id, %d expected (rank %d, got %d)\n", size,
                nranks, rank, me);
        return ncclInvalidArgument;
    }
    c->nranks = nranks;
    c->rank = rank;
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    if (!comm)
        return ncclInvalidArgument;
    MPI_Comm_free(&comm->comm);
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm,
                           cudaStream_t stream)
{
    (void)stream;
    if (!comm || type != NCCL_FLOAT32 || op != NCCL_AVG || !send || !recv || count > (size_t)1 << 30)
        return ncclInvalidArgument;
    float *h = malloc(count * sizeof *h);
    if (!h)
        return ncclSystemError;
    if (cudaMemcpy(h, send, count * sizeof *h, cudaMemcpyDeviceToHost) != cudaSuccess) {
        free(h);
        return ncclUnhandledCudaError; /* not device memory */
    }
    if (MPI_Allreduce(MPI_IN_PLACE, h, (int)count, MPI_FLOAT, MPI_SUM, comm->comm) != MPI_SUCCESS) {
        free(h);
        return ncclSystemError;
    }
    for (size_t i = 0; i < count; i++)
        h[i] /= (float)comm->nranks;
    cudaError_t e = cudaMemcpy(recv, h, count * sizeof *h, cudaMemcpyHostToDevice);
    free(h);
    return e == cudaSuccess ? ncclSuccess : ncclUnhandledCudaError;
}

const char *ncclGetErrorString(ncclResult_t r)
{
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInvalidArgument: return "invalid argument";
    }
    return "unknown NCCL error";
}

ncclResult_t ncclGetVersion(int *version)
{
    if (!version)
        return ncclInvalidArgument;
    *version = 22800; /* the ABI of NCCL 2.28 */
    return ncclSuccess;
}
