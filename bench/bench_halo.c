/* bench_halo.c: micro-benchmark of the halo exchange (mpi/halo.h), in the manner of the OSU
 * micro-benchmarks and nccl-tests: check first, then time, then print a fixed-width table.
 *
 *   mpirun -np N bench_halo [--grid PyxPx] [--tile T[,T..]] [--halo H[,H..]] [--channels C]
 *                           [--batch B] [--min-time S] [--warmup N] [--no-ceiling]
 *                           [--backend cpu|cuda] [--halo-path mpi|nccl|mpi-direct]
 *   mpirun -np R bench_halo --allreduce [--sizes N[,N..]]   (the replicas' gradient all-reduce)
 *
 * For every tile size T (rows = columns = T per rank; the map is T*Py x T*Px) and halo width h, each
 * rank's window is its tile grown by h on every side and clipped to the map (a halo_window_fn), so a
 * halo wider than a tile spans several ranks. One gather (forward) and one scatter_add (backward) are
 * each checked with exactly representable values, then timed: W warm-up operations, then n operations
 * (n: enough to last --min-time, 31 to 2001), each after a barrier; an operation's time is that of its
 * slowest rank, the reported time the median over the n. Bandwidth: bytes sent by the busiest
 * rank per operation / time; agg: bytes sent by all ranks / time. Metrics: bench/README.md.
 * Paths (the header names the one used): --backend cpu (default): tiles and windows in host memory, MPI
 * ("mpi host"). --backend cuda (a CUDA build, src/dev.c): tiles and windows in device memory and the
 * plans given dev_halo_mem() as the training loop does (src/net.c): messages staged through pinned
 * host memory and MPI ("mpi host-staged from GPU"), or with --halo-path nccl sent GPU to GPU by
 * ncclSend / ncclRecv on the rank's stream ("nccl device"; on a 1x1 grid there is no message and the
 * path is the staged one: the device-to-device self copy), or with --halo-path mpi-direct handed to a
 * CUDA-aware MPI in device memory ("mpi direct from GPU"; refused where the MPI cannot say it is
 * CUDA-aware, unless COTSNET_MPI_CUDA_AWARE=1). The check uploads its values, runs the
 * operation and downloads the result; each timed operation ends with the stream synchronized.
 * The --allreduce mode is host memory and MPI only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/buildinfo.h"
#include "bench/peak.h"
#include "mpi/grid.h"
#include "mpi/halo.h"
#include "src/common.h"
#include "src/dev.h"
#include "src/job.h"
#include "src/tile.h"

#define MAXLIST 32

typedef struct {
    int H, W, Py, Px, h;
} win_ctx;

/* The tile of (py, px) grown by h on every side, clipped to the map. */
static cn_rect grown_window(void *ctx, int py, int px)
{
    const win_ctx *c = ctx;
    cn_rect t = tile_rect(c->H, c->W, c->Py, c->Px, py, px);
    return (cn_rect){CN_MAX(t.y0 - c->h, 0), CN_MIN(t.y1 + c->h, c->H), CN_MAX(t.x0 - c->h, 0),
                     CN_MIN(t.x1 + c->h, c->W)};
}

static size_t area(cn_rect r) { return (size_t)rect_rows(r) * (size_t)rect_cols(r); }

/* Exactly representable test values (small integers) of a pixel and channel. */
static float gather_val(int b, int y, int x, int c) { return (float)((b * 7 + y * 3 + x * 5 + c) % 1024); }
static float scatter_val(int b, int y, int x, int c) { return (float)((y + 2 * x + c + b) % 8 + 1); }

/* Fill the array a [B, rect, C] covering the global rectangle r with f. */
static void fill_rect(float *a, cn_rect r, int B, int C, float (*f)(int, int, int, int))
{
    size_t i = 0;
    for (int b = 0; b < B; b++)
        for (int y = r.y0; y < r.y1; y++)
            for (int x = r.x0; x < r.x1; x++)
                for (int c = 0; c < C; c++)
                    a[i++] = f(b, y, x, c);
}

/* Check one gather and one scatter_add of plan p; returns the number of wrong values on this rank.
 * tile, win: host arrays; tile_d, win_d: where the plan's maps live (the same arrays on the host, device
 * memory with --backend cuda: values go up with dev_upload and come back with dev_download). */
static long check_plan(halo_plan *p, const win_ctx *wc, int B, int C, float *tile, float *win, float *tile_d,
                       float *win_d)
{
    cn_rect t = halo_tile(p), w = halo_window(p);
    size_t tbytes = area(t) * (size_t)B * (size_t)C * sizeof *tile, wbytes = area(w) * (size_t)B * (size_t)C * sizeof *win;
    long bad = 0;
    fill_rect(tile, t, B, C, gather_val);
    memset(win, 0xff, wbytes); /* NaN: an unwritten value fails */
    dev_upload(tile_d, tile, tbytes);
    dev_upload(win_d, win, wbytes);
    halo_gather(p, tile_d, win_d, B);
    dev_download(win, win_d, wbytes);
    size_t i = 0;
    for (int b = 0; b < B; b++)
        for (int y = w.y0; y < w.y1; y++)
            for (int x = w.x0; x < w.x1; x++)
                for (int c = 0; c < C; c++)
                    bad += win[i++] != gather_val(b, y, x, c);
    /* scatter_add: every rank's window holds scatter_val; a tile pixel gets it times its coverage */
    fill_rect(win, w, B, C, scatter_val);
    memset(tile, 0, tbytes);
    dev_upload(win_d, win, wbytes);
    dev_upload(tile_d, tile, tbytes);
    halo_scatter_add(p, win_d, tile_d, B);
    dev_download(tile, tile_d, tbytes);
    int n = wc->Py * wc->Px;
    i = 0;
    for (int b = 0; b < B; b++)
        for (int y = t.y0; y < t.y1; y++)
            for (int x = t.x0; x < t.x1; x++) {
                int cover = 0;
                for (int q = 0; q < n; q++) {
                    cn_rect wq = grown_window((void *)wc, q / wc->Px, q % wc->Px);
                    cover += y >= wq.y0 && y < wq.y1 && x >= wq.x0 && x < wq.x1;
                }
                for (int c = 0; c < C; c++)
                    bad += tile[i++] != (float)cover * scatter_val(b, y, x, c);
            }
    return bad;
}

/* Max over ranks of v (every rank gets it); one slot per rank in a world sum. */
static double world_max(const cn_grid *g, double v, double *scratch)
{
    memset(scratch, 0, (size_t)g->world_size * sizeof *scratch);
    scratch[g->world_rank] = v;
    world_sum_double(g, scratch, (size_t)g->world_size);
    double m = scratch[0];
    for (int i = 1; i < g->world_size; i++)
        m = CN_MAX(m, scratch[i]);
    return m;
}

static double world_total(const cn_grid *g, double v)
{
    world_sum_double(g, &v, 1);
    return v;
}

typedef void (*op_fn)(void *ctx);

typedef struct {
    halo_plan *p;
    float *tile, *win;
    int B;
    void (*sync)(void); /* the device path: the stream synchronized (NULL on the host) */
} halo_op;

static void run_gather(void *ctx)
{
    halo_op *o = ctx;
    halo_gather(o->p, o->tile, o->win, o->B);
    if (o->sync)
        o->sync();
}

static void run_scatter(void *ctx)
{
    halo_op *o = ctx;
    halo_scatter_add(o->p, o->win, o->tile, o->B);
    if (o->sync)
        o->sync();
}

typedef struct {
    const cn_grid *g;
    float *v;
    size_t n;
} ar_op;

static void run_allreduce(void *ctx)
{
    ar_op *o = ctx;
    replicas_mean_float(o->g, o->v, o->n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds per operation: warm-up, then n operations (n: as many as last min_time by rank 0's estimate,
 * broadcast, between MIN_OPS and MAX_OPS), each started after a barrier and timed on every rank; an
 * operation's time is its slowest rank's; the median over the n operations is returned (on a shared
 * machine a few operations catch a descheduled rank: the median ignores them, a mean would not). */
#define MIN_OPS 31
#define MAX_OPS 2001
static double time_op(const cn_grid *g, op_fn f, void *ctx, int warmup, double min_time)
{
    for (int i = 0; i < warmup; i++)
        f(ctx);
    world_barrier(g);
    double t0 = cn_now();
    int probe = 3;
    for (int i = 0; i < probe; i++)
        f(ctx);
    double est = (cn_now() - t0) / probe;
    int n = est > 0 ? (int)(min_time / est) : MAX_OPS;
    n = CN_MAX(MIN_OPS, CN_MIN(n, MAX_OPS));
    world_bcast(g, &n, sizeof n, 0);
    size_t W = (size_t)g->world_size;
    double *t = cn_alloc((size_t)n * W, sizeof *t); /* [op][rank] */
    for (int i = 0; i < n; i++) {
        world_barrier(g);
        double a = cn_now();
        f(ctx);
        t[(size_t)i * W + (size_t)g->world_rank] = cn_now() - a;
    }
    world_sum_double(g, t, (size_t)n * W); /* every slot has one writer: the sum gathers them */
    for (int i = 0; i < n; i++) {
        double m = 0;
        for (size_t r = 0; r < W; r++)
            m = CN_MAX(m, t[(size_t)i * W + r]);
        t[i] = m;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double med = t[n / 2];
    cn_free(t);
    return med;
}

/* "32,64,128" -> values; returns how many, or -1. */
static int parse_list(const char *s, int *v, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 1 << 30)
            return -1;
        v[n++] = (int)x;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return *s ? -1 : n;
}

static void usage(void)
{
    fprintf(stderr, "usage: mpirun -np N bench_halo [--grid PyxPx] [--tile T[,T..]] [--halo H[,H..]] "
                    "[--channels C] [--batch B]\n"
                    "                  [--min-time S] [--warmup N] [--no-ceiling] [--backend cpu|cuda]\n"
                    "                  [--halo-path mpi|nccl|mpi-direct]\n"
                    "       mpirun -np R bench_halo --allreduce [--sizes FLOATS[,FLOATS..]] [--min-time S]\n");
}

/* The most square Py x Px with Py <= Px for n ranks (1x2, 2x2, 2x4, ...). */
static void default_grid(int n, int *py, int *px)
{
    *py = 1;
    for (int d = 1; d * d <= n; d++)
        if (n % d == 0)
            *py = d;
    *px = n / *py;
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int bench_allreduce(const int *sizes, int nsizes, double min_time, int warmup)
{
    int world = comm_world_size();
    cn_grid g;
    if (grid_create(&g, world, 1, 1)) {
        fprintf(stderr, "bench_halo: %s\n", cn_last_error());
        return 2;
    }
    double *scratch = cn_alloc((size_t)world, sizeof(double));
    if (g.world_rank == 0) {
        bench_print_build("bench_halo --allreduce");
        printf("# replicas' gradient mean (replicas_mean_float, MPI_Allreduce + scale) over %d ranks; host memory and MPI\n"
               "# load average %.2f on %ld cores; time = median over operations (each after a barrier) of the slowest rank\n"
               "# algbw = bytes / time; busbw = algbw * 2 (R-1) / R (nccl-tests: what a ring moves per rank)\n",
               world, loadavg1(), sysconf(_SC_NPROCESSORS_ONLN));
        printf("#%8s %12s %12s %10s %10s %8s\n", "ranks", "floats", "bytes", "time", "algbw", "busbw");
        printf("#%8s %12s %12s %10s %10s %8s\n", "", "", "", "us", "GB/s", "GB/s");
    }
    int rc = 0;
    for (int i = 0; i < nsizes; i++) {
        size_t n = (size_t)sizes[i];
        float *v = cn_alloc(n, sizeof *v);
        /* check: every rank holds its rank + 1: the mean is (R + 1) / 2, exact for small R */
        for (size_t k = 0; k < n; k++)
            v[k] = (float)(g.world_rank + 1);
        replicas_mean_float(&g, v, n);
        long bad = 0;
        for (size_t k = 0; k < n; k++)
            bad += v[k] != (float)(world + 1) / 2.0f;
        bad = (long)world_total(&g, (double)bad);
        ar_op o = {&g, v, n};
        double t = time_op(&g, run_allreduce, &o, warmup, min_time);
        double bytes = 4.0 * (double)n, alg = bytes / t * 1e-9;
        if (g.world_rank == 0)
            printf(" %8d %12zu %12.0f %10.2f %10.3f %8.3f %s\n", world, n, bytes, t * 1e6, alg,
                   alg * 2.0 * (world - 1) / world, bad ? "FAIL" : "ok");
        rc |= bad != 0;
        cn_free(v);
    }
    cn_free(scratch);
    grid_destroy(&g);
    return rc;
}

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    (void)peak_fma_gflops; /* peak.h's other ceiling: halos are bound by memory and the network */
    int Py = 0, Px = 0, C = 8, B = 16, warmup = 5, ceiling = 1, allreduce = 0, cuda = 0, nccl = 0, direct = 0;
    double min_time = 0.05;
    int tiles[MAXLIST] = {32, 64, 128, 256}, ntiles = 4;
    int halos[MAXLIST] = {1, 2, 4, 8, 16}, nhalos = 5;
    int sizes[MAXLIST] = {1024, 16384, 262144, 1048576, 4194304}, nsizes = 5;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--grid") && v)
            ok = sscanf(argv[++k], "%dx%d", &Py, &Px) == 2 && Py > 0 && Px > 0;
        else if (!strcmp(a, "--tile") && v)
            ok = (ntiles = parse_list(argv[++k], tiles, MAXLIST)) > 0;
        else if (!strcmp(a, "--halo") && v)
            ok = (nhalos = parse_list(argv[++k], halos, MAXLIST)) > 0;
        else if (!strcmp(a, "--sizes") && v)
            ok = (nsizes = parse_list(argv[++k], sizes, MAXLIST)) > 0;
        else if (!strcmp(a, "--channels") && v)
            ok = (C = atoi(argv[++k])) > 0;
        else if (!strcmp(a, "--batch") && v)
            ok = (B = atoi(argv[++k])) > 0;
        else if (!strcmp(a, "--warmup") && v)
            ok = (warmup = atoi(argv[++k])) >= 0;
        else if (!strcmp(a, "--min-time") && v)
            ok = (min_time = atof(argv[++k])) > 0;
        else if (!strcmp(a, "--no-ceiling"))
            ceiling = 0;
        else if (!strcmp(a, "--allreduce"))
            allreduce = 1;
        else if (!strcmp(a, "--backend") && v)
            ok = (cuda = !strcmp(argv[++k], "cuda")) || !strcmp(argv[k], "cpu");
        else if (!strcmp(a, "--halo-path") && v)
            ok = (nccl = !strcmp(argv[++k], "nccl")) || (direct = !strcmp(argv[k], "mpi-direct")) ||
                 !strcmp(argv[k], "mpi");
        else
            ok = 0;
        if (!ok) {
            if (comm_world_rank() == 0)
                usage();
            comm_finalize();
            return 2;
        }
    }
    for (int i = 0; i < ntiles; i++)
        if (tiles[i] < 1) {
            if (comm_world_rank() == 0)
                fprintf(stderr, "bench_halo: a tile needs at least 1 row and column\n");
            comm_finalize();
            return 2;
        }
    if ((allreduce && cuda) || ((nccl || direct) && !cuda)) {
        if (comm_world_rank() == 0)
            fprintf(stderr, "bench_halo: %s\n", allreduce ? "--allreduce runs on the host only (no --backend cuda)"
                                                           : "--halo-path nccl and mpi-direct need --backend cuda");
        comm_finalize();
        return 2;
    }
    if (allreduce) {
        int rc = bench_allreduce(sizes, nsizes, min_time, warmup);
        comm_finalize();
        return rc;
    }
    int world = comm_world_size();
    if (!Py)
        default_grid(world, &Py, &Px);
    cn_grid g;
    if (grid_create(&g, 1, Py, Px)) {
        if (comm_world_rank() == 0)
            fprintf(stderr, "bench_halo: %s\n", cn_last_error());
        comm_finalize();
        return 2;
    }
    /* --backend cuda: the rank's GPU and stream (and the grid's NCCL communicator) as for training */
    static cn_job job; /* only backend, halo, allreduce and path are read by dev_init */
    job.backend = cuda ? BACKEND_CUDA : BACKEND_CPU;
    job.halo = nccl ? HALO_NCCL : direct ? HALO_MPI_DIRECT : HALO_MPI;
    job.allreduce = HALO_MPI;
    snprintf(job.path, sizeof job.path, "bench_halo --backend cuda");
    if (dev_init(&job, &g)) { /* one line printed; every rank returns -1 */
        grid_destroy(&g);
        comm_finalize();
        return 2;
    }
    const char *path = !cuda ? "mpi host"
                       : nccl && Py * Px > 1 ? "nccl device"
                       : direct && Py * Px > 1 ? "mpi direct from GPU (CUDA-aware MPI)"
                       : Py * Px > 1 ? "mpi host-staged from GPU"
                                     : "mpi host-staged from GPU (one rank: device-to-device self copy only)";
    double *scratch = cn_alloc((size_t)world, sizeof(double));
    if (g.world_rank == 0) {
        bench_print_build("bench_halo");
        printf("# halo exchange (mpi/halo.h), path: %s\n", path);
        printf("# %d ranks, grid %dx%d, %d channels, batch %d, float32; load average %.2f on %ld cores\n", world,
               Py, Px, C, B, loadavg1(), sysconf(_SC_NPROCESSORS_ONLN));
        printf("# window = tile grown by the halo on every side, clipped to the map; time = median over >= %.3f s\n"
               "# of operations (each after a barrier, after %d warm-up ones) of the slowest rank's time;\n"
               "# bytes and peers: the busiest rank;\n"
               "# GB/s = its bytes / time; agg = bytes of all ranks / time; local = the part of the window in the\n"
               "# own tile, copied (gather) or added (scatter_add) in memory, not sent\n", min_time, warmup);
        if (ceiling) {
            double mib, bw = peak_copy_gbs(&mib);
            printf("# ceiling: memory copy %.1f GB/s on %d thread(s) of rank 0 (STREAM-like, 2 x %.0f MiB)\n", bw,
                   omp_get_max_threads(), mib);
        }
        printf("#%6s %6s %5s %5s %11s %12s %10s %8s %8s %12s %10s %8s %8s %6s\n", "grid", "tile", "halo",
               "peers", "local", "gather", "gather", "gather", "agg", "scatter", "scatter", "scatter", "agg", "check");
        printf("#%6s %6s %5s %5s %11s %12s %10s %8s %8s %12s %10s %8s %8s %6s\n", "", "px", "px", "max", "bytes",
               "bytes", "us", "GB/s", "GB/s", "bytes", "us", "GB/s", "GB/s", "");
        fflush(stdout);
    }
    int rc = 0;
    for (int it = 0; it < ntiles; it++)
        for (int ih = 0; ih < nhalos; ih++) {
            win_ctx wc = {tiles[it] * Py, tiles[it] * Px, Py, Px, halos[ih]};
            halo_plan *p = halo_plan_create(&g, wc.H, wc.W, C, B, grown_window, &wc);
            if (!p)
                cn_fatal("halo_plan_create: %s", cn_last_error());
            if (dev_gpu())
                halo_plan_set_mem(p, dev_halo_mem());
            cn_rect t = halo_tile(p), w = halo_window(p);
            float *tile = cn_alloc(area(t) * (size_t)B * (size_t)C, sizeof(float));
            float *win = cn_alloc(area(w) * (size_t)B * (size_t)C, sizeof(float));
            float *tile_d = tile, *win_d = win;
            if (dev_gpu()) {
                tile_d = dev_alloc(area(t) * (size_t)B * (size_t)C, sizeof(float));
                win_d = dev_alloc(area(w) * (size_t)B * (size_t)C, sizeof(float));
            }
            long bad = (long)world_total(&g, (double)check_plan(p, &wc, B, C, tile, win, tile_d, win_d));
            /* peers this rank sends to in a gather */
            int peers = 0;
            for (int q = 0; q < Py * Px; q++)
                if (q != g.grid_rank && !rect_empty(rect_intersect(t, grown_window(&wc, q / Px, q % Px))))
                    peers++;
            double sent = (double)halo_bytes_sent(p, B), recv = (double)halo_bytes_recv(p, B);
            double peers_max = world_max(&g, peers, scratch);
            double sent_max = world_max(&g, sent, scratch), recv_max = world_max(&g, recv, scratch);
            double sent_all = world_total(&g, sent);
            double local_max = world_max(&g, (double)area(rect_intersect(t, w)) * B * C * sizeof(float), scratch);
            halo_op o = {p, tile_d, win_d, B, dev_gpu() ? dev_halo_mem()->sync : NULL};
            double tg = time_op(&g, run_gather, &o, warmup, min_time);
            double ts = time_op(&g, run_scatter, &o, warmup, min_time);
            if (g.world_rank == 0) {
                char gs[24];
                snprintf(gs, sizeof gs, "%dx%d", Py, Px);
                /* a scatter_add sends what a gather receives: the same total over all ranks */
                printf(" %6s %6d %5d %5.0f %11.0f %12.0f %10.2f %8.3f %8.3f %12.0f %10.2f %8.3f %8.3f %6s\n", gs,
                       tiles[it], halos[ih], peers_max, local_max, sent_max, tg * 1e6, sent_max / tg * 1e-9,
                       sent_all / tg * 1e-9, recv_max, ts * 1e6, recv_max / ts * 1e-9, sent_all / ts * 1e-9,
                       bad ? "FAIL" : "ok");
                fflush(stdout);
            }
            rc |= bad != 0;
            if (dev_gpu()) {
                dev_free(tile_d);
                dev_free(win_d);
            }
            cn_free(tile);
            cn_free(win);
            halo_plan_destroy(p);
        }
    cn_free(scratch);
    dev_shutdown();
    grid_destroy(&g);
    comm_finalize();
    return rc;
}
