/* nccl_comm.cu: NCCL communicators and the all-reduce mean of gradients across replicas
 * and the point-to-point messages of halos (cuda/nccl_comm.h). NCCL is dlopen'ed at the first use, so neither bin/cotsnet nor the tests need
 * libnccl.so.2 to start; the types come from nccl.h when the toolkit has it, else from the stable ABI
 * declared below (ncclUniqueId is 128 bytes, ncclFloat32 = 7, ncclAvg = 4). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

/* the CPU emulator (cuda/emu) stands in for CUDA's headers: there the stable ABI below is used */
#if __has_include(<nccl.h>) && !defined(CN_CUDA_EMU_RUNTIME)
#include <nccl.h>
static_assert(NCCL_UNIQUE_ID_BYTES == 128 && (int)ncclFloat32 == 7 && (int)ncclAvg == 4, "NCCL ABI changed");
#else
typedef struct {
    char internal[128];
} ncclUniqueId;
typedef struct ncclComm *ncclComm_t;
typedef enum { ncclSuccess = 0 } ncclResult_t;
typedef enum { ncclFloat32 = 7 } ncclDataType_t;
typedef enum { ncclAvg = 4 } ncclRedOp_t;
#endif

#include "cuda/internal.h"
#include "cuda/nccl_comm.h"

namespace {

struct Api {
    ncclResult_t (*GetUniqueId)(ncclUniqueId *);
    ncclResult_t (*CommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*CommDestroy)(ncclComm_t);
    ncclResult_t (*AllReduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    const char *(*GetErrorString)(ncclResult_t);
    ncclResult_t (*GetVersion)(int *);
    ncclResult_t (*Send)(const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*Recv)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*GroupStart)(void);
    ncclResult_t (*GroupEnd)(void);
};
Api api;
int loaded; /* 0 not tried, 1 loaded, -1 failed */
char load_error[512];

} // namespace

/* for NCCL_CHECK (cuda/cuda_check.h) */
static const char *cn_nccl_error_string(ncclResult_t r)
{
    return api.GetErrorString ? api.GetErrorString(r) : "unknown NCCL error";
}

struct cn_nccl {
    ncclComm_t comm;
    int nranks, rank;
};

extern "C" int cn_nccl_load(void)
{
    if (loaded == 0) {
        void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!h)
            h = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            snprintf(load_error, sizeof load_error, "nccl: cannot load libnccl.so.2 (%s); install NCCL or add its "
                     "directory to LD_LIBRARY_PATH", dlerror());
            loaded = -1;
        } else {
            struct {
                const char *name;
                void **slot;
            } fn[] = {{"ncclGetUniqueId", (void **)&api.GetUniqueId},
                      {"ncclCommInitRank", (void **)&api.CommInitRank},
                      {"ncclCommDestroy", (void **)&api.CommDestroy},
                      {"ncclAllReduce", (void **)&api.AllReduce},
                      {"ncclGetErrorString", (void **)&api.GetErrorString},
                      {"ncclGetVersion", (void **)&api.GetVersion},
                      {"ncclSend", (void **)&api.Send},
                      {"ncclRecv", (void **)&api.Recv},
                      {"ncclGroupStart", (void **)&api.GroupStart},
                      {"ncclGroupEnd", (void **)&api.GroupEnd}};
            loaded = 1;
            for (auto &f : fn)
                if (!(*f.slot = dlsym(h, f.name))) {
                    snprintf(load_error, sizeof load_error, "nccl: libnccl lacks %s: NCCL too old (2.10 or later "
                             "needed)", f.name);
                    loaded = -1;
                    break;
                }
        }
    }
    return loaded == 1 ? CN_OK : cn_set_error("%s", load_error);
}

extern "C" int cn_nccl_version(void)
{
    int v = 0;
    if (cn_nccl_load() != CN_OK || api.GetVersion(&v) != ncclSuccess)
        return 0;
    return v;
}

extern "C" int cn_nccl_unique_id(unsigned char id[CN_NCCL_ID_BYTES])
{
    if (cn_nccl_load() != CN_OK)
        return CN_EINVAL;
    ncclUniqueId u;
    NCCL_CHECK(api.GetUniqueId(&u));
    memcpy(id, u.internal, CN_NCCL_ID_BYTES);
    return CN_OK;
}

extern "C" cn_nccl *cn_nccl_create(const unsigned char id[CN_NCCL_ID_BYTES], int nranks, int rank)
{
    if (nranks < 1 || rank < 0 || rank >= nranks || !id) {
        cn_set_error("nccl: rank %d of %d ranks, or no id", rank, nranks);
        return NULL;
    }
    if (cn_nccl_load() != CN_OK)
        return NULL;
    ncclUniqueId u;
    memcpy(u.internal, id, CN_NCCL_ID_BYTES);
    cn_nccl *c = (cn_nccl *)cn_alloc(1, sizeof *c);
    c->nranks = nranks;
    c->rank = rank;
    NCCL_CHECK(api.CommInitRank(&c->comm, nranks, u, rank));
    return c;
}

extern "C" void cn_nccl_destroy(cn_nccl *c)
{
    if (!c)
        return;
    NCCL_CHECK(api.CommDestroy(c->comm));
    cn_free(c);
}

extern "C" int cn_nccl_size(const cn_nccl *c) { return c ? c->nranks : 0; }

extern "C" void cn_nccl_allreduce_mean(cn_nccl *c, float *buf, size_t n, cudaStream_t stream)
{
    if (!c || n == 0)
        return;
    NCCL_CHECK(api.AllReduce(buf, buf, n, ncclFloat32, ncclAvg, c->comm, stream));
}

static void check_peer(const cn_nccl *c, int peer, const char *what)
{
    if (!c || peer < 0 || peer >= c->nranks || peer == c->rank)
        cn_fatal("nccl: %s with peer %d on rank %d of %d", what, peer, c ? c->rank : -1, c ? c->nranks : 0);
}

extern "C" void cn_nccl_send(cn_nccl *c, const float *buf, size_t n, int peer, cudaStream_t stream)
{
    check_peer(c, peer, "send");
    if (n)
        NCCL_CHECK(api.Send(buf, n, ncclFloat32, peer, c->comm, stream));
}

extern "C" void cn_nccl_recv(cn_nccl *c, float *buf, size_t n, int peer, cudaStream_t stream)
{
    check_peer(c, peer, "recv");
    if (n)
        NCCL_CHECK(api.Recv(buf, n, ncclFloat32, peer, c->comm, stream));
}

extern "C" void cn_nccl_group_start(void)
{
    if (cn_nccl_load() != CN_OK)
        cn_fatal("%s", cn_last_error());
    NCCL_CHECK(api.GroupStart());
}

extern "C" void cn_nccl_group_end(void)
{
    if (cn_nccl_load() != CN_OK)
        cn_fatal("%s", cn_last_error());
    NCCL_CHECK(api.GroupEnd());
}
