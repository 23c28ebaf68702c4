/* nccl_emu.c: a stand-in for libnccl.so.2 beside the CPU emulator (tests/t_cuda_train_emu.sh builds it
 * as BUILD/cuda_emu_train/lib/libnccl.so.2 and puts that directory on LD_LIBRARY_PATH), so that the
 * training loop's NCCL paths (cuda/nccl_comm.cu: dlopen, unique id broadcast over MPI, one communicator
 * per tile over its replicas with ncclAllReduce / ncclAvg on device buffers, one per replica's grid
 * with ncclSend / ncclRecv inside ncclGroupStart / ncclGroupEnd for halos) run without a GPU.
 *
 * The calls of NCCL's ABI that cuda/nccl_comm.cu uses, done with MPI: a communicator is
 * MPI_Comm_split of MPI_COMM_WORLD by a hash of the unique id (so ncclCommInitRank must be called by
 * every rank of the world at once, as the training loop does), and the all-reduce copies the device
 * buffer to the host with the emulator's cudaMemcpy (the executable exports it: linked -rdynamic),
 * sums with MPI_Allreduce, divides by the rank count and copies back. ncclSend / ncclRecv are queued
 * while a group is open and done at the outermost ncclGroupEnd (outside a group, at once): every
 * message copied device -> host, all of them posted as MPI_Isend / MPI_Irecv on the communicator, one
 * MPI_Waitall, the received ones copied host -> device. MPI keeps each pair's messages in order, as
 * NCCL does; a size mismatch between the two ends is an error here (NCCL would not see it). Arguments are checked as NCCL
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
ncclResult_t ncclSend(const void *buf, size_t count, int type, int peer, ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclRecv(void *buf, size_t count, int type, int peer, ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclGroupStart(void);
ncclResult_t ncclGroupEnd(void);

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

/* ---- point to point: operations queued in a group ---- */
typedef struct {
    int send, peer;
    void *dev; /* device buffer */
    size_t count;
    ncclComm_t comm;
} p2p_op;
static p2p_op *ops;
static int nops, capops, depth;

static ncclResult_t p2p_run(void)
{
    ncclResult_t r = ncclSuccess;
    float **h = calloc((size_t)nops + 1, sizeof *h);
    MPI_Request *req = calloc((size_t)nops + 1, sizeof *req);
    MPI_Status *st = calloc((size_t)nops + 1, sizeof *st);
    if (!h || !req || !st)
        r = ncclSystemError;
    for (int i = 0; i < nops && r == ncclSuccess; i++) {
        p2p_op *o = &ops[i];
        if (!(h[i] = malloc(o->count * sizeof(float) + 1)))
            r = ncclSystemError;
        else if (o->send && cudaMemcpy(h[i], o->dev, o->count * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess)
            r = ncclUnhandledCudaError; /* not device memory */
        else if ((o->send ? MPI_Isend(h[i], (int)o->count, MPI_FLOAT, o->peer, 7, o->comm->comm, &req[i])
                          : MPI_Irecv(h[i], (int)o->count, MPI_FLOAT, o->peer, 7, o->comm->comm, &req[i])) != MPI_SUCCESS)
            r = ncclSystemError;
    }
    if (r == ncclSuccess && MPI_Waitall(nops, req, st) != MPI_SUCCESS)
        r = ncclSystemError;
    for (int i = 0; i < nops && r == ncclSuccess; i++) {
        if (ops[i].send)
            continue;
        int got = -1;
        if (MPI_Get_count(&st[i], MPI_FLOAT, &got) != MPI_SUCCESS || (size_t)got != ops[i].count) {
            fprintf(stderr, "nccl_emu: ncclRecv of %zu floats from rank %d got %d\n", ops[i].count, ops[i].peer, got);
            r = ncclInvalidArgument;
        } else if (cudaMemcpy(ops[i].dev, h[i], ops[i].count * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
            r = ncclUnhandledCudaError;
    }
    for (int i = 0; h && i < nops; i++)
        free(h[i]);
    free(h), free(req), free(st);
    nops = 0;
    return r;
}

static ncclResult_t p2p_add(int send, void *buf, size_t count, int type, int peer, ncclComm_t comm)
{
    if (!comm || type != NCCL_FLOAT32 || !buf || count > (size_t)1 << 30 || peer < 0 || peer >= comm->nranks ||
        peer == comm->rank)
        return ncclInvalidArgument;
    if (nops == capops) {
        int cap = capops ? 2 * capops : 16;
        p2p_op *n = realloc(ops, (size_t)cap * sizeof *n);
        if (!n)
            return ncclSystemError;
        ops = n;
        capops = cap;
    }
    ops[nops++] = (p2p_op){send, peer, buf, count, comm};
    return depth ? ncclSuccess : p2p_run();
}

ncclResult_t ncclSend(const void *buf, size_t count, int type, int peer, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    return p2p_add(1, (void *)(uintptr_t)buf, count, type, peer, comm);
}

ncclResult_t ncclRecv(void *buf, size_t count, int type, int peer, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    return p2p_add(0, buf, count, type, peer, comm);
}

ncclResult_t ncclGroupStart(void)
{
    depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
    if (depth < 1)
        return ncclInvalidArgument;
    return --depth ? ncclSuccess : p2p_run();
}
