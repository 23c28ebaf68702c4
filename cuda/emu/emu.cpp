/* emu.cpp: the CPU emulator behind cuda/emu/include (tests/t_cuda_emu.sh): a launch runs the blocks of
 * the grid one after another; the threads of a block are fibers (ucontext) of the calling thread,
 * switched at every __syncthreads() in a shuffled order (fast, repeatable), or with COTSNET_EMU_THREADS=1 real
 * std::threads meeting at a barrier (for ThreadSanitizer). A barrier that some threads never reach is
 * reported and ends the program instead of hanging. Device
 * memory is host memory; streams are the host thread itself (everything is synchronous). cuBLAS's
 * SGEMM is a plain loop with cuBLAS's argument checks. COTSNET_EMU_NO_GPU=1 makes
 * cudaGetDeviceCount report no device, as a machine without a driver does.
 *
 * COTSNET_EMU_PROTECT=1 (tests/t_cuda_train_emu.sh) keeps device memory apart from the host's, as a
 * real GPU does: cudaMalloc hands out blocks of one arena (garbage-filled, as cudaMalloc's memory is
 * not zeroed), inaccessible (PROT_NONE) except while the
 * emulator itself runs (a kernel, a copy, a memset, an SGEMM), so host code that reads or writes
 * device memory directly dies with SIGSEGV instead of silently working; cudaMemcpy checks that each
 * side is the kind of memory its cudaMemcpyKind says, and cudaFree / cudaFreeHost that they free what
 * cudaMalloc / cudaMallocHost gave. Without it device memory is malloc'd (AddressSanitizer sees it). */
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <cstdint>
#include <map>
#include <set>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "cublas_v2.h"
#include "cuda_runtime.h"

thread_local uint3 emu_threadIdx, emu_blockIdx;
thread_local dim3 emu_blockDim, emu_gridDim;

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace {

/* SMs the emulated device reports: an H100's, so that launchers sizing their grids by the SM count
 * (cuda/lf_t4_group.cu's split of the input rows) take the paths they take there */
constexpr int EMU_SMS = 132;

cudaError_t g_last = cudaSuccess;
int g_device = 0;

bool env_on(const char *name)
{
    const char *s = getenv(name);
    return s && *s && strcmp(s, "0") != 0;
}
bool no_gpu() { return env_on("COTSNET_EMU_NO_GPU"); }

/* ---- device memory kept apart from the host's (COTSNET_EMU_PROTECT=1) ------------------------------ */
bool protect_mode()
{
    static int on = -1;
    if (on < 0)
        on = env_on("COTSNET_EMU_PROTECT");
    return on == 1;
}
/* Device memory is one reserved arena, so that opening and closing it is one mprotect each: blocks
 * of 256-byte multiples (cudaMalloc's alignment), first fit, freed blocks merged with their neighbours. */
const size_t ARENA_BYTES = (size_t)1 << 34; /* reserved address space, not memory */
const size_t ALIGN = 256;
char *g_arena;
size_t g_top;                       /* bytes of the arena ever handed out (the part to protect) */
std::map<uintptr_t, size_t> g_dev;  /* live device blocks: start -> size (protect mode) */
std::map<uintptr_t, size_t> g_hole; /* free blocks below g_top */
std::set<void *> g_pinned;          /* cudaMallocHost'd blocks */
int g_open;                         /* depth of emulator calls that may touch device memory */

void protect_all(int prot)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (g_top + page - 1) / page * page;
    if (len && mprotect(g_arena, len, prot)) {
        perror("emu: mprotect");
        abort();
    }
}

void *arena_alloc(size_t bytes)
{
    if (!g_arena) {
        void *m = mmap(NULL, ARENA_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        g_arena = (char *)m;
    }
    const size_t n = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    uintptr_t at = 0;
    for (auto it = g_hole.begin(); it != g_hole.end(); ++it)
        if (it->second >= n) {
            at = it->first;
            const size_t rest = it->second - n;
            g_hole.erase(it);
            if (rest)
                g_hole[at + n] = rest;
            break;
        }
    if (!at) {
        if (g_top + n > ARENA_BYTES)
            return NULL;
        at = (uintptr_t)g_arena + g_top;
        g_top += n;
        if (g_open)
            protect_all(PROT_READ | PROT_WRITE);
    }
    if (g_open) /* fresh memory, as cudaMalloc's: not zero */
        memset((void *)at, 0xA5, n);
    else {
        protect_all(PROT_READ | PROT_WRITE);
        memset((void *)at, 0xA5, n);
        protect_all(PROT_NONE);
    }
    g_dev[at] = n;
    return (void *)at;
}

bool arena_free(void *p)
{
    auto it = g_dev.find((uintptr_t)p);
    if (it == g_dev.end())
        return false;
    uintptr_t at = it->first;
    size_t n = it->second;
    g_dev.erase(it);
    auto next = g_hole.find(at + n);
    if (next != g_hole.end()) {
        n += next->second;
        g_hole.erase(next);
    }
    auto prev = g_hole.lower_bound(at);
    if (prev != g_hole.begin() && (--prev)->first + prev->second == at) {
        prev->second += n;
        return true;
    }
    g_hole[at] = n;
    return true;
}

/* While one lives, device memory is accessible (outermost one toggles). */
struct DeviceAccess {
    DeviceAccess()
    {
        if (protect_mode() && g_open++ == 0)
            protect_all(PROT_READ | PROT_WRITE);
    }
    ~DeviceAccess()
    {
        if (protect_mode() && --g_open == 0)
            protect_all(PROT_NONE);
    }
    DeviceAccess(const DeviceAccess &) = delete;
    DeviceAccess &operator=(const DeviceAccess &) = delete;
};

/* Is [p, p + bytes) inside one device allocation? (protect mode) */
bool is_device(const void *p, size_t bytes)
{
    const uintptr_t a = (uintptr_t)p;
    auto it = g_dev.upper_bound(a);
    if (it == g_dev.begin())
        return false;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
}
/* Does [p, p + bytes) overlap the device arena (live or freed blocks)? */
bool touches_device(const void *p, size_t bytes)
{
    const uintptr_t a = (uintptr_t)p, lo = (uintptr_t)g_arena;
    return g_arena && a < lo + g_top && a + bytes > lo;
}

/* ---- threads mode: one std::thread per thread of the block --------------------------------------- */
struct Barrier {
    std::mutex m;
    std::condition_variable cv;
    int n = 0, count = 0;
    unsigned long gen = 0;
    void wait()
    {
        std::unique_lock<std::mutex> lk(m);
        const unsigned long g = gen;
        if (++count == n) {
            count = 0;
            gen++;
            cv.notify_all();
            return;
        }
        if (!cv.wait_for(lk, std::chrono::seconds(120), [&] { return gen != g; })) {
            fprintf(stderr, "emu: __syncthreads() not reached by every thread of block (%u, %u, %u) "
                            "within 120 s: divergent barrier or deadlock\n",
                    emu_blockIdx.x, emu_blockIdx.y, emu_blockIdx.z);
            abort();
        }
    }
};
thread_local Barrier *t_barrier;
thread_local bool t_synced; /* this thread passed a barrier in the current block */

cudaError_t run_threads(dim3 grid, dim3 block, unsigned long nt, const std::function<void()> &body)
{
    Barrier bar;
    bar.n = (int)nt;
    std::vector<std::thread> threads;
    threads.reserve(nt);
    for (unsigned long t = 0; t < nt; t++)
        threads.emplace_back([&, t] {
            emu_threadIdx = uint3{(unsigned)(t % block.x), (unsigned)(t / block.x % block.y),
                                  (unsigned)(t / block.x / block.y)};
            emu_blockDim = block;
            emu_gridDim = grid;
            t_barrier = &bar;
            for (unsigned z = 0; z < grid.z; z++)
                for (unsigned y = 0; y < grid.y; y++)
                    for (unsigned x = 0; x < grid.x; x++) {
                        emu_blockIdx = uint3{x, y, z};
                        t_synced = false;
                        body();
                        if (t_synced) /* the block used shared memory: the next one reuses it */
                            bar.wait();
                    }
        });
    for (auto &th : threads)
        th.join();
    return cudaSuccess;
}

/* ---- fibers mode (default): the threads of a block are fibers of the calling thread ---------------
 * A fiber runs until its next __syncthreads() or its end; one pass runs every fiber once; the barrier
 * opens when every fiber waits at it. Each pass runs the threads in a new random order, so that code
 * missing a barrier between a write and another thread's read sees the wrong value in some block. */
const size_t FIBER_STACK = 256 * 1024;
struct Fiber {
    ucontext_t ctx;
    char *stack = nullptr;
    int state = 0; /* 0 ready, 1 waiting at a barrier, 2 finished */
    uint3 tid{};
    void *fake = nullptr;
};
std::vector<Fiber> g_fibers;
int g_cur = -1; /* the fiber running, -1 in the scheduler */
ucontext_t g_sched;
const std::function<void()> *g_body;
bool g_threads_mode;
const void *g_main_bottom;
size_t g_main_size;

void switch_start(void **fake_save, const void *bottom, size_t size)
{
#if EMU_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save, (void)bottom, (void)size;
#endif
}
void switch_finish(void *fake_save)
{
#if EMU_ASAN
    const void *b;
    size_t sz;
    __sanitizer_finish_switch_fiber(fake_save, &b, &sz);
    if (g_cur < 0) {
        g_main_bottom = b;
        g_main_size = sz;
    }
#else
    (void)fake_save;
#endif
}

void fiber_entry(void)
{
    switch_finish(nullptr);
    (*g_body)();
    g_fibers[g_cur].state = 2;
    switch_start(nullptr, g_main_bottom, g_main_size); /* this fiber's stack frames die here */
    /* returning resumes g_sched through uc_link */
}

/* A fresh order of the block's threads for every pass (xorshift, fixed seed: runs are repeatable). */
void shuffle(std::vector<unsigned long> &order, unsigned long nt)
{
    static unsigned long long st = 0x9E3779B97F4A7C15ull;
    for (unsigned long i = nt - 1; i > 0; i--) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        const unsigned long j = (unsigned long)(st % (i + 1));
        const unsigned long tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

cudaError_t run_fibers(dim3 grid, dim3 block, unsigned long nt, const std::function<void()> &body)
{
    if (g_fibers.size() < nt)
        g_fibers.resize(nt);
    for (unsigned long t = 0; t < nt; t++) {
        if (!g_fibers[t].stack && !(g_fibers[t].stack = (char *)malloc(FIBER_STACK)))
            return cudaErrorMemoryAllocation;
        g_fibers[t].tid = uint3{(unsigned)(t % block.x), (unsigned)(t / block.x % block.y),
                                (unsigned)(t / block.x / block.y)};
    }
    std::vector<unsigned long> order(nt);
    for (unsigned long t = 0; t < nt; t++)
        order[t] = t;
    g_body = &body;
    emu_blockDim = block;
    emu_gridDim = grid;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                emu_blockIdx = uint3{x, y, z};
                for (unsigned long t = 0; t < nt; t++) {
                    Fiber &f = g_fibers[t];
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack;
                    f.ctx.uc_stack.ss_size = FIBER_STACK;
                    f.ctx.uc_link = &g_sched;
                    makecontext(&f.ctx, fiber_entry, 0);
                    f.state = 0;
                }
                for (int pass = 0;; pass++) {
                    shuffle(order, nt);
                    for (unsigned long n = 0; n < nt; n++) {
                        const unsigned long t = order[n];
                        Fiber &f = g_fibers[t];
                        if (f.state == 2)
                            continue;
                        f.state = 0;
                        g_cur = (int)t;
                        emu_threadIdx = f.tid;
                        void *fake = nullptr;
                        switch_start(&fake, f.stack, FIBER_STACK);
                        swapcontext(&g_sched, &f.ctx);
                        g_cur = -1;
                        switch_finish(fake);
                    }
                    unsigned long done = 0, waiting = 0;
                    for (unsigned long t = 0; t < nt; t++)
                        done += g_fibers[t].state == 2, waiting += g_fibers[t].state == 1;
                    if (done == nt)
                        break;
                    if (done) {
                        fprintf(stderr, "emu: block (%u, %u, %u): %lu thread(s) wait at __syncthreads() that "
                                        "%lu finished thread(s) never reach (divergent barrier)\n",
                                x, y, z, waiting, done);
                        abort();
                    }
                }
            }
    return cudaSuccess;
}

} // namespace

void emu_syncthreads(void)
{
    if (g_threads_mode) {
        t_synced = true;
        t_barrier->wait();
        return;
    }
    Fiber &f = g_fibers[g_cur];
    f.state = 1;
    switch_start(&f.fake, g_main_bottom, g_main_size);
    swapcontext(&f.ctx, &g_sched);
    switch_finish(f.fake);
}
void emu_set_error(cudaError_t e) { g_last = e; }

cudaError_t emu_run(dim3 grid, dim3 block, const std::function<void()> &body)
{
    const unsigned long nt = (unsigned long)block.x * block.y * block.z;
    if (nt == 0 || nt > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u)
        return cudaErrorInvalidConfiguration;
    g_threads_mode = env_on("COTSNET_EMU_THREADS");
    DeviceAccess open;
    return g_threads_mode ? run_threads(grid, block, nt, body) : run_fibers(grid, block, nt, body);
}

extern "C" {

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = no_gpu() ? 0 : 1;
    return no_gpu() ? cudaErrorNoDevice : cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) { return dev == 0 && !no_gpu() ? (g_device = 0, cudaSuccess) : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *dev)
{
    *dev = g_device;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = *total_bytes = (size_t)1 << 30;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int dev)
{
    if (dev != 0)
        return cudaErrorInvalidDevice;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulator");
    prop->totalGlobalMem = (size_t)1 << 30;
    prop->multiProcessorCount = EMU_SMS;
    prop->major = 0;
    prop->minor = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int dev)
{
    (void)dev;
    *value = attr == cudaDevAttrMultiProcessorCount ? EMU_SMS : 1;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void)
{
    cudaError_t e = g_last;
    g_last = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_last; }
const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    }
    return "unknown error";
}
const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    }
    return "cudaErrorUnknown";
}
cudaError_t cudaMalloc(void **p, size_t bytes)
{
    if (!protect_mode()) {
        *p = bytes ? malloc(bytes) : NULL;
        return bytes && !*p ? cudaErrorMemoryAllocation : cudaSuccess;
    }
    *p = bytes ? arena_alloc(bytes) : NULL;
    return bytes && !*p ? cudaErrorMemoryAllocation : cudaSuccess;
}
cudaError_t cudaFree(void *p)
{
    if (!protect_mode()) {
        free(p);
        return cudaSuccess;
    }
    if (!p)
        return cudaSuccess;
    return arena_free(p) ? cudaSuccess : cudaErrorInvalidValue; /* else not a pointer cudaMalloc gave */
}
cudaError_t cudaMallocHost(void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    if (!*p)
        return cudaErrorMemoryAllocation;
    g_pinned.insert(*p);
    return cudaSuccess;
}
cudaError_t cudaFreeHost(void *p)
{
    if (!p)
        return cudaSuccess;
    if (!g_pinned.erase(p))
        return cudaErrorInvalidValue;
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t s)
{
    (void)s;
    return cudaMalloc(p, bytes);
}
cudaError_t cudaFreeAsync(void *p, cudaStream_t s)
{
    (void)s;
    return cudaFree(p);
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    if (!bytes)
        return cudaSuccess;
    if (protect_mode()) {
        /* each side must be the memory its kind names (cudaMemcpyDefault: either) */
        const bool dd = is_device(dst, bytes), sd = is_device(src, bytes);
        const bool dh = !touches_device(dst, bytes), sh = !touches_device(src, bytes);
        const bool ok = kind == cudaMemcpyHostToDevice   ? dd && sh
                        : kind == cudaMemcpyDeviceToHost ? dh && sd
                        : kind == cudaMemcpyDeviceToDevice ? dd && sd
                        : kind == cudaMemcpyHostToHost   ? dh && sh
                                                         : (dd || dh) && (sd || sh);
        if (!ok)
            return cudaErrorInvalidValue;
    }
    DeviceAccess open;
    memcpy(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t s)
{
    (void)s;
    return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void *dst, int value, size_t bytes)
{
    if (!bytes)
        return cudaSuccess;
    if (protect_mode() && !is_device(dst, bytes))
        return cudaErrorInvalidValue;
    DeviceAccess open;
    memset(dst, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s)
{
    (void)s;
    return cudaMemset(dst, value, bytes);
}
cudaError_t cudaStreamCreate(cudaStream_t *s)
{
    *s = (cudaStream_t)malloc(1);
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    free((void *)s);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    (void)s;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

struct CUevent_st {
    double t;      /* seconds, steady clock */
    bool recorded;
};
cudaError_t cudaEventCreate(cudaEvent_t *e)
{
    if (!e)
        return cudaErrorInvalidValue;
    *e = new CUevent_st{0.0, false};
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    (void)s;
    if (!e)
        return cudaErrorInvalidValue;
    e->t = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    e->recorded = true;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    /* CUDA: cudaErrorInvalidResourceHandle when either was never recorded; here the closest code we have */
    if (!ms || !start || !end || !start->recorded || !end->recorded)
        return cudaErrorInvalidValue;
    *ms = (float)((end->t - start->t) * 1e3);
    return cudaSuccess;
}

/* ---- cuBLAS ---- */
struct cublasContext {
    int math;
};
cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new cublasContext{0};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    (void)s;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = (int)mode;
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS"
           : s == CUBLAS_STATUS_INVALID_VALUE ? "CUBLAS_STATUS_INVALID_VALUE"
                                               : "CUBLAS_STATUS_NOT_INITIALIZED";
}
/* C (m x n, column-major) = alpha op(A) op(B) + beta C; op(A) m x k, op(B) k x n. */
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc)
{
    if (!h)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    const int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) ||
        ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    DeviceAccess open;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = 0;
            for (int l = 0; l < k; l++) {
                const float a = ta == CUBLAS_OP_N ? A[i + (size_t)l * lda] : A[l + (size_t)i * lda];
                const float b = tb == CUBLAS_OP_N ? B[l + (size_t)j * ldb] : B[j + (size_t)l * ldb];
                s += a * b;
            }
            float *c = C + i + (size_t)j * ldc;
            *c = *beta == 0.0f ? *alpha * s : *alpha * s + *beta * *c;
        }
    return CUBLAS_STATUS_SUCCESS;
}
/* batchCount products, operand i at A + i strideA (likewise B, C); a negative count is refused. */
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long strideA,
                                         const float *B, int ldb, long long strideB, const float *beta, float *C,
                                         int ldc, long long strideC, int batchCount)
{
    if (batchCount < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batchCount; i++) {
        cublasStatus_t st = cublasSgemm(h, ta, tb, m, n, k, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                                        C + i * strideC, ldc);
        if (st != CUBLAS_STATUS_SUCCESS)
            return st;
    }
    return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
