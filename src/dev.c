/* dev.c: host or GPU memory for the engine's tensors (see dev.h), and the halo plans' device moves.
 *
 * On the GPU a halo message is staged: the rectangle is packed on the device (halo_pack_cuda) into a
 * device staging buffer and copied to the plan's pinned host buffer, on the stream; the plan
 * synchronizes the stream once, after queueing every send of an operation, before MPI reads them
 * (mpi/halo.h). A received message is copied to the staging buffer and unpacked (or added) into the
 * map on the stream. The part of a window a rank owns itself is packed and unpacked device to device.
 * One staging buffer serves every plan and message: operations on one stream are ordered (a pack into
 * it starts after the copy out of it before), and a plan's *_end synchronizes the stream before its
 * host buffers are reused.
 *
 * With grid.halo = nccl (and more than one rank in the grid) the messages stay on the device: the
 * plan's buffers are device memory, a rectangle is packed straight into its message buffer, NCCL sends
 * and receives them on the stream (one communicator over the replica's grid, ranks = grid ranks), and
 * received messages are unpacked from their buffers; no host copy, no staging buffer.
 *
 * With grid.halo = mpi-direct (a CUDA-aware MPI) the message buffers are device memory too, but MPI
 * moves them: a rectangle is packed into its buffer on the stream, and the plan's one sync comes before
 * MPI reads any; a received buffer is unpacked on the stream. dev_init checks that the MPI says it can
 * do this. */
#include "src/dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common.h"

#ifdef CN_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda/nccl_comm.h"
#include "cuda/ops_cuda.h"
#endif

static int on_gpu;

int dev_gpu(void) { return on_gpu; }

#ifdef CN_HAVE_CUDA

static cudaStream_t stream;
static cn_nccl *nccl;     /* the replicas of this rank's tile (grid.allreduce = nccl, R > 1) */
static cn_nccl *nccl_grid; /* the ranks of this rank's replica (grid.halo = nccl, Py x Px > 1) */
static int halo_direct;   /* grid.halo = mpi-direct (Py x Px > 1): MPI reads and writes device buffers */
static float *staging;    /* device, for halo rectangles */
static size_t staging_n;  /* floats */

#define DEV_CHECK(call)                                                                               \
    do {                                                                                              \
        cudaError_t dev_e_ = (call);                                                                  \
        if (dev_e_ != cudaSuccess)                                                                    \
            cn_fatal("%s failed: %s (%s); check the GPU with nvidia-smi", #call,                      \
                     cudaGetErrorString(dev_e_), cudaGetErrorName(dev_e_));                           \
    } while (0)

void *dev_stream(void) { return on_gpu ? (void *)stream : NULL; }

int dev_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    return on_gpu && cuda_mem_info(free_bytes, total_bytes) == CN_OK ? 0 : -1;
}

static float *staging_get(size_t n)
{
    if (n > staging_n) {
        cuda_free(staging); /* synchronizes: work still using it is done */
        staging = cuda_malloc(n * sizeof(float));
        staging_n = n;
    }
    return staging;
}

static size_t rect_floats(cn_rect r, int B, int C)
{
    return (size_t)B * (size_t)rect_rows(r) * (size_t)rect_cols(r) * (size_t)C;
}

/* r (global) in the coordinates of a map covering frame */
static cn_rect in_frame(cn_rect r, cn_rect frame)
{
    return (cn_rect){r.y0 - frame.y0, r.y1 - frame.y0, r.x0 - frame.x0, r.x1 - frame.x0};
}

static void pack(const float *map, cn_rect frame, cn_rect r, int B, int C, float *buf)
{
    if (halo_pack_cuda(map, B, rect_rows(frame), rect_cols(frame), C, in_frame(r, frame), buf, stream))
        cn_fatal("halo: %s", cn_last_error());
}

static void unpack(float *map, cn_rect frame, cn_rect r, int B, int C, const float *buf, int add)
{
    if (halo_unpack_cuda(buf, B, rect_rows(frame), rect_cols(frame), C, in_frame(r, frame), map, add, stream))
        cn_fatal("halo: %s", cn_last_error());
}

static void h_to_host(float *buf, const float *map, cn_rect frame, cn_rect r, int B, int C)
{
    size_t n = rect_floats(r, B, C);
    if (!n)
        return;
    float *s = staging_get(n);
    pack(map, frame, r, B, C, s);
    DEV_CHECK(cudaMemcpyAsync(buf, s, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
}

static void h_from_host(float *map, cn_rect frame, const float *buf, cn_rect r, int B, int C, int add)
{
    size_t n = rect_floats(r, B, C);
    if (!n)
        return;
    float *s = staging_get(n);
    DEV_CHECK(cudaMemcpyAsync(s, buf, n * sizeof(float), cudaMemcpyHostToDevice, stream));
    unpack(map, frame, r, B, C, s, add);
}

static void h_copy(float *dst, cn_rect dframe, const float *src, cn_rect sframe, cn_rect r, int B, int C, int add)
{
    size_t n = rect_floats(r, B, C);
    if (!n)
        return;
    float *s = staging_get(n);
    pack(src, sframe, r, B, C, s);
    unpack(dst, dframe, r, B, C, s, add);
}

static void h_sync(void) { cuda_sync(stream); }

static void *h_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes)
        DEV_CHECK(cudaMallocHost(&p, bytes));
    return p;
}

static void h_host_free(void *p)
{
    if (p)
        DEV_CHECK(cudaFreeHost(p));
}

static const halo_mem gpu_halo = {h_to_host, h_from_host, h_copy, h_sync, h_host_alloc, h_host_free,
                                   NULL, NULL, NULL, NULL};

/* grid.halo = nccl: message buffers on the device, moved by NCCL on the stream */
static void n_pack(float *buf, const float *map, cn_rect frame, cn_rect r, int B, int C)
{
    if (rect_floats(r, B, C))
        pack(map, frame, r, B, C, buf);
}

static void n_unpack(float *map, cn_rect frame, const float *buf, cn_rect r, int B, int C, int add)
{
    if (rect_floats(r, B, C))
        unpack(map, frame, r, B, C, buf, add);
}

static void *n_alloc(size_t bytes) { return bytes ? cuda_malloc(bytes) : NULL; }
static void n_free(void *p) { cuda_free(p); }
static void n_send(const float *buf, size_t n, int peer) { cn_nccl_send(nccl_grid, buf, n, peer, stream); }
static void n_recv(float *buf, size_t n, int peer) { cn_nccl_recv(nccl_grid, buf, n, peer, stream); }

static const halo_mem nccl_halo = {n_pack, n_unpack, h_copy, h_sync, n_alloc, n_free,
                                   n_send, n_recv, cn_nccl_group_start, cn_nccl_group_end};

/* grid.halo = mpi-direct: message buffers on the device, moved by a CUDA-aware MPI (which reads them
 * outside the stream's order: after the plan's sync) */
static const halo_mem direct_halo = {n_pack, n_unpack, h_copy, h_sync, n_alloc, n_free, NULL, NULL, NULL, NULL};

const halo_mem *dev_halo_mem(void)
{
    return !on_gpu ? NULL : nccl_grid ? &nccl_halo : halo_direct ? &direct_halo : &gpu_halo;
}

/* grid.halo = mpi-direct: this MPI can take device buffers, by its own word (Open MPI's query) or the
 * user's (COTSNET_MPI_CUDA_AWARE=1, for an MPI that cannot say); else why not, in msg. */
static int mpi_takes_device_memory(const cn_grid *grid, char *msg, size_t len)
{
    char why[160];
    const int aware = comm_cuda_aware(why, sizeof why);
    const char *e = getenv("COTSNET_MPI_CUDA_AWARE");
    if (e && !strcmp(e, "1")) {
        if (aware == 0 && grid->world_rank == 0)
            fprintf(stderr, "cotsnet: warning: grid.halo = mpi-direct: COTSNET_MPI_CUDA_AWARE=1 overrides what "
                            "this MPI says of itself (%s)\n", why);
        return 1;
    }
    if (aware == 1)
        return 1;
    snprintf(msg, len, "grid.halo = mpi-direct: rank %d: this MPI cannot be shown to read GPU memory (%s); "
             "set grid.halo = mpi or nccl, or COTSNET_MPI_CUDA_AWARE=1 if it is CUDA-aware", grid->world_rank, why);
    return 0;
}

/* NCCL loads on every rank, or the lowest rank that cannot gives one line (key: the job key that asks) */
static int nccl_loads(const cn_job *job, const cn_grid *grid, const char *key)
{
    char msg[768] = "";
    int bad = cn_nccl_load() != CN_OK;
    if (bad)
        snprintf(msg, sizeof msg, "%s = nccl: rank %d: %s; or set %s = mpi", key, grid->world_rank, cn_last_error(),
                 key);
    return world_any_error(grid, bad, job->path, msg) ? -1 : 0;
}

/* A communicator of n ranks, this one being rank (the id made by rank 0 and shared with bcast, over
 * the same ranks), for the job key `key`; NULL after one error line when NCCL does not load. */
static cn_nccl *nccl_over(const cn_job *job, const cn_grid *grid, const char *key,
                          void (*bcast)(const cn_grid *, void *, size_t, int), int n, int rank)
{
    if (nccl_loads(job, grid, key))
        return NULL;
    unsigned char id[CN_NCCL_ID_BYTES] = {0};
    if (rank == 0 && cn_nccl_unique_id(id) != CN_OK)
        cn_fatal("nccl: %s", cn_last_error());
    bcast(grid, id, sizeof id, 0);
    cn_nccl *c = cn_nccl_create(id, n, rank);
    if (!c)
        cn_fatal("nccl: %s", cn_last_error());
    return c;
}

int dev_init(const cn_job *job, const cn_grid *grid)
{
    if (job->backend != BACKEND_CUDA)
        return 0;
    int dev = cuda_select_device(-1);
    char msg[768] = "";
    const int tiles = lf_cuda_tiles(); /* COTSNET_CUDA_LF_TILES, checked before any step */
    if (dev < 0)
        snprintf(msg, sizeof msg, "run.backend = cuda: no GPU on rank %d (local rank %d): %s", grid->world_rank,
                 cuda_local_rank(), cn_last_error());
    else if (tiles < 0)
        snprintf(msg, sizeof msg, "rank %d: %s", grid->world_rank, cn_last_error());
    /* the lowest rank without a GPU (or with a bad setting) says so; every rank stops together */
    if (world_any_error(grid, dev < 0 || tiles < 0, job->path, msg))
        return -1;
    /* every rank the same mode: mode auto is collective (src/dev_tune.c), and the ranks run one scheme;
     * an environment variable that mpirun did not pass to every node (-x) would split them */
    const int tiles_max = world_max_int(grid, tiles), tiles_min = -world_max_int(grid, -tiles);
    if (tiles_min != tiles_max)
        snprintf(msg, sizeof msg, "rank %d: local filter tiles %s here, %s on another rank (COTSNET_CUDA_LF_TILES): "
                 "give every rank the same, e.g. mpirun -x COTSNET_CUDA_LF_TILES", grid->world_rank, lf_cuda_tiles_name(tiles),
                 lf_cuda_tiles_name(tiles == tiles_min ? tiles_max : tiles_min));
    if (world_any_error(grid, tiles_min != tiles_max, job->path, msg))
        return -1;
    /* grid.allreduce = nccl: one communicator per tile over its R replicas (the id from replica 0) */
    if (job->allreduce == HALO_NCCL && grid->R > 1 &&
        !(nccl = nccl_over(job, grid, "grid.allreduce", replicas_bcast, grid->R, grid->replica)))
        return -1;
    /* grid.halo = nccl: one communicator per replica over its Py x Px ranks (the id from grid rank 0) */
    int halo_nccl = job->halo == HALO_NCCL && grid->Py * grid->Px > 1;
    if (halo_nccl && !(nccl_grid = nccl_over(job, grid, "grid.halo", grid_bcast, grid->Py * grid->Px, grid->grid_rank)))
        return -1;
    halo_direct = job->halo == HALO_MPI_DIRECT && grid->Py * grid->Px > 1;
    if (halo_direct && world_any_error(grid, !mpi_takes_device_memory(grid, msg, sizeof msg), job->path, msg))
        return -1;
    DEV_CHECK(cudaStreamCreate(&stream));
    on_gpu = 1;
    if (grid->world_rank == 0) {
        char desc[256];
        cuda_describe(desc, sizeof desc);
        printf("backend cuda: rank 0 on %s (one stream per rank, halos %s, local filter tiles %s)\n", desc,
               halo_nccl     ? "over NCCL, device to device"
               : halo_direct ? "from device memory through a CUDA-aware MPI"
                             : "staged through pinned host memory",
               lf_cuda_tiles_name(tiles));
        fflush(stdout);
    }
    return 0;
}

void dev_shutdown(void)
{
    if (!on_gpu)
        return;
    cuda_sync(stream);
    cn_nccl_destroy(nccl);
    nccl = NULL;
    cn_nccl_destroy(nccl_grid);
    nccl_grid = NULL;
    halo_direct = 0;
    cuda_free(staging);
    staging = NULL;
    staging_n = 0;
    DEV_CHECK(cudaStreamDestroy(stream));
    stream = NULL;
    cuda_shutdown();
    on_gpu = 0;
}

static void *gpu_alloc(size_t count, size_t size)
{
    size_t bytes;
    if (cn_mul_size(&bytes, 2, count, size))
        cn_fatal("device allocation of %zu x %zu bytes overflows", count, size);
    void *p = cuda_malloc(bytes ? bytes : 1);
    cuda_memset(p, 0, bytes, stream);
    return p;
}

static void gpu_copy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    DEV_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream));
    cuda_sync(stream); /* the host buffer is read or may change as soon as this returns */
}

#define GPU_OR_HOST(gpu_call) \
    if (on_gpu) {             \
        gpu_call;             \
        return;               \
    }

#else /* no CUDA in this build: backend = cuda is refused */

#define GPU_OR_HOST(gpu_call)

void *dev_stream(void) { return NULL; }
int dev_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    (void)free_bytes, (void)total_bytes;
    return -1;
}
const halo_mem *dev_halo_mem(void) { return NULL; }
void dev_shutdown(void) {}

int dev_init(const cn_job *job, const cn_grid *grid)
{
    if (job->backend != BACKEND_CUDA)
        return 0;
    /* every rank sees the same job: all return here together */
    if (grid->world_rank == 0)
        fprintf(stderr,
                "cotsnet: error: %s: run.backend = cuda: this cotsnet was built without the CUDA backend (no "
                "nvcc, or NO_CUDA=1; docs/CUDA.md): rebuild with CUDA or set run.backend = cpu\n",
                job->path);
    return -1;
}

#endif

void *dev_alloc(size_t count, size_t size)
{
#ifdef CN_HAVE_CUDA
    if (on_gpu)
        return gpu_alloc(count, size);
#endif
    return cn_alloc(count, size);
}

void dev_free(void *p)
{
    GPU_OR_HOST(if (p) { cuda_sync(stream); cuda_free(p); })
    cn_free(p);
}

void dev_zero(void *p, size_t bytes)
{
    GPU_OR_HOST(cuda_memset(p, 0, bytes, stream))
    if (bytes)
        memset(p, 0, bytes);
}

void dev_download(void *host, const void *src, size_t bytes)
{
    if (!bytes)
        return;
    GPU_OR_HOST(gpu_copy(host, src, bytes, cudaMemcpyDeviceToHost))
    if (host != src) /* on the host the two are often one array (net.h: x0_h, z_h) */
        memcpy(host, src, bytes);
}

void dev_upload(void *dst, const void *host, size_t bytes)
{
    if (!bytes)
        return;
    GPU_OR_HOST(gpu_copy(dst, host, bytes, cudaMemcpyHostToDevice))
    if (dst != host)
        memcpy(dst, host, bytes);
}

void dev_replicas_mean(const cn_grid *grid, float *g, size_t n)
{
    if (!dev_gpu()) {
        replicas_mean_float(grid, g, n);
        return;
    }
#ifdef CN_HAVE_CUDA
    if (nccl) {
        cn_nccl_allreduce_mean(nccl, g, n, stream);
        return;
    }
#endif
    float *h = cn_alloc(n, sizeof *h);
    dev_download(h, g, n * sizeof *h);
    replicas_mean_float(grid, h, n);
    dev_upload(g, h, n * sizeof *h);
    cn_free(h);
}
