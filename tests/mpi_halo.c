/* mpi_halo.c: multi-rank tests of the MPI wall, started by tests/t_halo.sh under mpirun.
 *
 *   mpi_halo R Py Px          run every check on an R x Py x Px grid
 *   mpi_halo R Py Px fatal    rank 1 calls cn_fatal while the others wait: the job must end
 *   mpi_halo R Py Px badbatch ranks gather with different batch sizes: a clear error, no hang
 *
 * Every rank knows the global map (value = small integer function of (b, y, x, c), exact in float),
 * fills its tile, and checks what the halo plans deliver against that definition; windows come in
 * several shapes (local filter with wide fields, LCN grown tiles, the whole map, arbitrary rectangles).
 * Each check is reduced over the world and printed once, by rank 0; details go to stderr from the
 * rank that saw the failure. Exit status is non-zero when any check failed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/grid.h"
#include "mpi/halo.h"
#include "src/common.h"
#include "tests/testutil.h"

static cn_grid G;
static int n_failed;
static char prefix[32];

/* One check, reduced over the world: ok only when ok on every rank. */
static void check(const char *name, int ok, const char *fmt, ...) CN_PRINTF(3, 4);
static void check(const char *name, int ok, const char *fmt, ...)
{
    if (!ok) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        fprintf(stderr, "detail %s_%s: world rank %d: %s\n", prefix, name, G.world_rank, why);
    }
    double nbad = ok ? 0 : 1;
    world_sum_double(&G, &nbad, 1);
    int first = world_max_int(&G, world_first(&G, !ok));
    if (G.world_rank == 0) {
        if (nbad == 0)
            printf("ok %s_%s\n", prefix, name);
        else
            printf("FAIL %s_%s: on %d of %d ranks (first: world rank %d; details on stderr)\n", prefix,
                   name, (int)nbad, G.world_size, G.world_size - first);
        fflush(stdout);
    }
    if (nbad != 0)
        n_failed++;
}

/* ---- the global map and the window shapes -------------------------------------------------- */

static float val(int b, int y, int x, int c) { return (float)(((b * 64 + y) * 64 + x) * 8 + c + 1); }
/* What rank q puts in its window for scatter_add: exact, differs per rank. */
static float contrib(int q, int b, int y, int x, int c) { return val(b, y, x, c) * (float)(q % 3 + 1) + (float)q; }

typedef enum { LF, LCN, WHOLE, ARBITRARY } shape_kind;
typedef struct {
    const char *name;
    shape_kind kind;
    int H, W, C;
    int r, s; /* LF: field and stride; LCN: r = n */
    int Py, Px;
    int wide; /* on a grid with 3 or more rows or columns, some halo must reach 2 tiles away */
} shape;

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static cn_rect window_of(void *ctx, int py, int px)
{
    const shape *sh = ctx;
    int s0, sn, t0, tn;
    switch (sh->kind) {
    case LF: { /* output tile rows [i0, i1) reads input rows [i0*s, (i1-1)*s + r) */
        int Ho = (sh->H - sh->r) / sh->s + 1, Wo = (sh->W - sh->r) / sh->s + 1;
        tile_range(Ho, sh->Py, py, &s0, &sn);
        tile_range(Wo, sh->Px, px, &t0, &tn);
        cn_rect w = {s0 * sh->s, (s0 + sn - 1) * sh->s + sh->r, t0 * sh->s, (t0 + tn - 1) * sh->s + sh->r};
        if (sn == 0)
            w.y1 = w.y0 = imin(w.y0, sh->H);
        if (tn == 0)
            w.x1 = w.x0 = imin(w.x0, sh->W);
        return w;
    }
    case LCN: { /* tile grown by n - 1, clipped */
        tile_range(sh->H, sh->Py, py, &s0, &sn);
        tile_range(sh->W, sh->Px, px, &t0, &tn);
        int g = sh->r - 1;
        return (cn_rect){imax(s0 - g, 0), imin(s0 + sn + g, sh->H), imax(t0 - g, 0), imin(t0 + tn + g, sh->W)};
    }
    case WHOLE:
        return (cn_rect){0, sh->H, 0, sh->W};
    case ARBITRARY: { /* a fixed pseudo-random rectangle per rank, sometimes empty */
        unsigned h = (unsigned)(py * 7919 + px * 104729 + 12345) * 2654435761u;
        int y0 = (int)(h % (unsigned)sh->H), x0 = (int)((h >> 8) % (unsigned)sh->W);
        int ny = (int)((h >> 16) % (unsigned)(sh->H - y0 + 1));
        int nx = (int)((h >> 24) % (unsigned)(sh->W - x0 + 1));
        if (py == 0 && px == 0) /* make sure rank 0 needs a lot */
            return (cn_rect){0, sh->H, imin(1, sh->W - 1), sh->W};
        return (cn_rect){y0, y0 + ny, x0, x0 + nx};
    }
    }
    return (cn_rect){0, 0, 0, 0};
}

/* Our own intersection (the oracle does not use the library's). */
static long long overlap(cn_rect a, cn_rect b)
{
    long long h = imin(a.y1, b.y1) - imax(a.y0, b.y0), w = imin(a.x1, b.x1) - imax(a.x0, b.x0);
    return h > 0 && w > 0 ? h * w : 0;
}
static int inside(cn_rect r, int y, int x) { return y >= r.y0 && y < r.y1 && x >= r.x0 && x < r.x1; }

static size_t rsize(cn_rect r, int B, int C) { return (size_t)B * (size_t)rect_rows(r) * (size_t)rect_cols(r) * (size_t)C; }

/* t [B, tr] = the map, its samples shifted by boff (sample b holds the map's sample b + boff). */
static void fill_tile(float *t, cn_rect tr, int B, int C, int boff)
{
    int th = rect_rows(tr), tw = rect_cols(tr);
    for (int b = 0; b < B; b++)
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++)
                for (int c = 0; c < C; c++)
                    t[(((size_t)b * th + y) * tw + x) * C + c] = val(b + boff, tr.y0 + y, tr.x0 + x, c);
}

/* Count elements of win [B, rect] within sub (global) that differ from the map (offset: sample shift). */
static long window_errors(const float *win, cn_rect wr, cn_rect sub, int B, int C, int boff)
{
    int wh = rect_rows(wr), ww = rect_cols(wr);
    long bad = 0;
    for (int b = 0; b < B; b++)
        for (int y = wr.y0; y < wr.y1; y++)
            for (int x = wr.x0; x < wr.x1; x++)
                if (inside(sub, y, x))
                    for (int c = 0; c < C; c++)
                        bad += win[(((size_t)b * wh + y - wr.y0) * ww + x - wr.x0) * C + c] != val(b + boff, y, x, c);
    (void)wh;
    return bad;
}

/* win [B, wr] = this rank's scatter_add contribution (contrib of its grid rank). */
static void fill_contrib(float *win, cn_rect wr, int B, int C)
{
    int wh = rect_rows(wr), ww = rect_cols(wr);
    for (int b = 0; b < B; b++)
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++)
                for (int c = 0; c < C; c++)
                    win[(((size_t)b * wh + y) * ww + x) * C + c] = contrib(G.grid_rank, b, wr.y0 + y, wr.x0 + x, c);
}

/* Count elements of tile [B, tr] that differ from the map plus every window's contribution covering them. */
static long scatter_errors(const float *tile, cn_rect tr, const shape *sh, int B, int C)
{
    int th = rect_rows(tr), tw = rect_cols(tr), n = G.Py * G.Px;
    long bad = 0;
    for (int b = 0; b < B; b++)
        for (int y = tr.y0; y < tr.y1; y++)
            for (int x = tr.x0; x < tr.x1; x++)
                for (int c = 0; c < C; c++) {
                    float want = val(b, y, x, c);
                    for (int q = 0; q < n; q++)
                        if (inside(window_of((void *)sh, q / G.Px, q % G.Px), y, x))
                            want += contrib(q, b, y, x, c);
                    bad += tile[(((size_t)b * th + y - tr.y0) * tw + x - tr.x0) * C + c] != want;
                }
    return bad;
}

static void run_shape(const shape *sh0, int B_max)
{
    shape sh = *sh0;
    sh.Py = G.Py;
    sh.Px = G.Px;
    int C = sh.C, me = G.grid_rank, n = G.Py * G.Px;
    char nm[96];
    halo_plan *p = halo_plan_create(&G, sh.H, sh.W, C, B_max, window_of, &sh);
    snprintf(nm, sizeof nm, "%s_create", sh.name);
    check(nm, p != NULL, "%s", cn_last_error());
    if (!p)
        return;
    cn_rect tr = halo_tile(p), wr = halo_window(p);
    cn_rect want_t = tile_rect(sh.H, sh.W, G.Py, G.Px, G.py, G.px), want_w = window_of(&sh, G.py, G.px);
    snprintf(nm, sizeof nm, "%s_tile_window", sh.name);
    check(nm, memcmp(&tr, &want_t, sizeof tr) == 0 && memcmp(&wr, &want_w, sizeof wr) == 0,
          "halo_tile / halo_window differ from the definition");

    /* Does some halo really reach beyond the neighbouring tile? (So the test covers what it claims.) */
    int max_src = 0, max_dist = 0;
    for (int q = 0; q < n; q++) {
        int k = 0;
        cn_rect wq = window_of(&sh, q / G.Px, q % G.Px);
        for (int o = 0; o < n; o++)
            if (o != q && overlap(wq, tile_rect(sh.H, sh.W, G.Py, G.Px, o / G.Px, o % G.Px)) > 0) {
                k++;
                max_dist = imax(max_dist, imax(abs(o / G.Px - q / G.Px), abs(o % G.Px - q % G.Px)));
            }
        max_src = imax(max_src, k);
    }
    if (sh.wide && (G.Py >= 3 || G.Px >= 3)) {
        snprintf(nm, sizeof nm, "%s_halo_spans_2_tiles", sh.name);
        check(nm, max_dist >= 2, "the test shape reaches only %d tile(s) away", max_dist);
    }

    float *tile = malloc(sizeof(float) * (rsize(tr, B_max, C) + 1));
    float *win = malloc(sizeof(float) * (rsize(wr, B_max, C) + 1));
    /* Blocking gather, full batch. */
    fill_tile(tile, tr, B_max, C, 0);
    for (size_t i = 0; i < rsize(wr, B_max, C); i++)
        win[i] = -1.0f;
    halo_gather(p, tile, win, B_max);
    long bad = window_errors(win, wr, wr, B_max, C, 0);
    snprintf(nm, sizeof nm, "%s_gather", sh.name);
    check(nm, bad == 0, "%ld window values differ from the global map (halo from up to %d ranks)", bad, max_src);

    /* Split gather with a smaller batch: own part ready after begin, rest after test / end; the plan is
     * reused, the tile is overwritten right after begin (it must not be needed any more). */
    int B = B_max > 1 ? B_max - 1 : 1;
    for (size_t i = 0; i < rsize(wr, B_max, C); i++)
        win[i] = -1.0f;
    /* samples shifted by one: the data of this step differs from the last */
    for (int b = 0; b < B; b++) {
        int th = rect_rows(tr), tw = rect_cols(tr);
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++)
                for (int c = 0; c < C; c++)
                    tile[(((size_t)b * th + y) * tw + x) * C + c] = val(b + 1, tr.y0 + y, tr.x0 + x, c);
    }
    halo_gather_begin(p, tile, win, B);
    long bad_self = window_errors(win, wr, rect_intersect(tr, wr), B, C, 1);
    for (size_t i = 0; i < rsize(tr, B_max, C); i++)
        tile[i] = -7.0f;
    double t0 = cn_now();
    long spins = 0;
    while (!halo_test(p) && cn_now() - t0 < 20.0)
        spins++;
    int finished = halo_test(p);
    halo_gather_end(p);
    bad = window_errors(win, wr, wr, B, C, 1);
    long untouched = 0; /* samples >= B must stay untouched */
    for (size_t i = rsize(wr, B, C); i < rsize(wr, B_max, C); i++)
        untouched += win[i] != -1.0f;
    snprintf(nm, sizeof nm, "%s_gather_split", sh.name);
    check(nm, bad_self == 0 && bad == 0 && finished && untouched == 0,
          "own part after begin: %ld bad; after end: %ld bad; test finished %d after %ld spins; %ld "
          "values past the batch written", bad_self, bad, finished, spins, untouched);

    /* scatter_add: the owner's tile = its old tile + every rank's contribution covering each pixel. */
    fill_tile(tile, tr, B_max, C, 0);
    fill_contrib(win, wr, B_max, C);
    halo_scatter_add_begin(p, win, tile, B_max);
    while (!halo_test(p))
        ;
    halo_scatter_add_end(p);
    bad = scatter_errors(tile, tr, &sh, B_max, C);
    snprintf(nm, sizeof nm, "%s_scatter_add", sh.name);
    check(nm, bad == 0, "%ld tile values differ from the sum over the windows covering them", bad);

    /* Bytes: from the plan's definition, and conserved over the replica. */
    long long sent = 0, recvd = 0;
    for (int q = 0; q < n; q++) {
        if (q == me)
            continue;
        cn_rect tq = tile_rect(sh.H, sh.W, G.Py, G.Px, q / G.Px, q % G.Px);
        sent += overlap(tr, window_of(&sh, q / G.Px, q % G.Px));
        recvd += overlap(wr, tq);
    }
    sent *= 4LL * B * C;
    recvd *= 4LL * B * C;
    double tot[2] = {(double)halo_bytes_sent(p, B), (double)halo_bytes_recv(p, B)};
    world_sum_double(&G, tot, 2);
    snprintf(nm, sizeof nm, "%s_bytes", sh.name);
    check(nm, (long long)halo_bytes_sent(p, B) == sent && (long long)halo_bytes_recv(p, B) == recvd &&
                  tot[0] == tot[1],
          "bytes sent %zu (want %lld), received %zu (want %lld), world totals %.0f / %.0f",
          halo_bytes_sent(p, B), sent, halo_bytes_recv(p, B), recvd, tot[0], tot[1]);
    free(tile);
    free(win);
    halo_plan_destroy(p);
}

/* ---- a halo_mem whose moves are queued and done at sync only, as on a GPU's stream ---------------
 * (src/dev.c queues its packs, copies and unpacks on the stream.) A plan that let MPI read a send
 * buffer before its sync, or left a received message unmoved at its end, delivers wrong values here. */
typedef struct {
    float *dst;
    const float *src;
    cn_rect dframe, sframe, r;
    int B, C, add;
} dmove;
static dmove dq[128];
static int dqn, dsyncs, doverflow;

static void dqueue(float *dst, cn_rect dframe, const float *src, cn_rect sframe, cn_rect r, int B, int C, int add)
{
    if (dqn == (int)(sizeof dq / sizeof dq[0])) {
        doverflow = 1;
        return;
    }
    dq[dqn++] = (dmove){dst, src, dframe, sframe, r, B, C, add};
}

static void d_to_host(float *buf, const float *map, cn_rect frame, cn_rect r, int B, int C)
{
    dqueue(buf, r, map, frame, r, B, C, 0);
}
static void d_from_host(float *map, cn_rect frame, const float *buf, cn_rect r, int B, int C, int add)
{
    dqueue(map, frame, buf, r, r, B, C, add);
}
static void d_copy(float *dst, cn_rect dframe, const float *src, cn_rect sframe, cn_rect r, int B, int C, int add)
{
    dqueue(dst, dframe, src, sframe, r, B, C, add);
}
static void d_sync(void)
{
    for (int i = 0; i < dqn; i++) {
        const dmove *m = &dq[i];
        int dw = rect_cols(m->dframe), sw = rect_cols(m->sframe), dh = rect_rows(m->dframe), sh = rect_rows(m->sframe);
        for (int b = 0; b < m->B; b++)
            for (int y = m->r.y0; y < m->r.y1; y++)
                for (int x = m->r.x0; x < m->r.x1; x++)
                    for (int c = 0; c < m->C; c++) {
                        float v = m->src[(((size_t)b * sh + y - m->sframe.y0) * sw + x - m->sframe.x0) * m->C + c];
                        float *d = &m->dst[(((size_t)b * dh + y - m->dframe.y0) * dw + x - m->dframe.x0) * m->C + c];
                        *d = m->add ? *d + v : v;
                    }
    }
    dqn = 0;
    dsyncs++;
}
static void *d_alloc(size_t bytes)
{
    float *p = malloc(bytes + sizeof(float));
    for (size_t i = 0; i < bytes / sizeof(float); i++)
        p[i] = -3.0f; /* what a send buffer holds before its first pack */
    return p;
}
static const halo_mem deferred = {d_to_host, d_from_host, d_copy, d_sync, d_alloc, free, NULL, NULL, NULL, NULL};

/* Two gathers with different data and a scatter_add through `deferred`: the values of the host plan,
 * and at most two syncs per operation (one after the sends are packed, one at the end). */
static void run_deferred(const shape *sh0)
{
    shape sh = *sh0;
    sh.Py = G.Py;
    sh.Px = G.Px;
    int C = sh.C, B = 2;
    char nm[96];
    halo_plan *p = halo_plan_create(&G, sh.H, sh.W, C, B, window_of, &sh);
    if (!p)
        cn_fatal("%s", cn_last_error());
    halo_plan_set_mem(p, &deferred);
    cn_rect tr = halo_tile(p), wr = halo_window(p);
    float *tile = malloc(sizeof(float) * (rsize(tr, B, C) + 1));
    float *win = malloc(sizeof(float) * (rsize(wr, B, C) + 1));
    long bad = 0;
    int most_syncs = 0;
    for (int k = 0; k < 2; k++) { /* samples shifted by k: the second round's buffers hold the first's */
        fill_tile(tile, tr, B, C, k);
        for (size_t i = 0; i < rsize(wr, B, C); i++)
            win[i] = -1.0f;
        int s0 = dsyncs;
        halo_gather(p, tile, win, B);
        most_syncs = imax(most_syncs, dsyncs - s0);
        d_sync(); /* what the caller's next work on the stream would wait for */
        bad += window_errors(win, wr, wr, B, C, k);
    }
    snprintf(nm, sizeof nm, "%s_deferred_gather", sh.name);
    check(nm, bad == 0 && !doverflow && most_syncs <= 2, "%ld window values wrong, %d syncs in one gather%s", bad,
          most_syncs, doverflow ? ", move queue overflowed" : "");
    fill_tile(tile, tr, B, C, 0);
    fill_contrib(win, wr, B, C);
    int s0 = dsyncs;
    halo_scatter_add(p, win, tile, B);
    int syncs = dsyncs - s0;
    d_sync();
    bad = scatter_errors(tile, tr, &sh, B, C);
    snprintf(nm, sizeof nm, "%s_deferred_scatter_add", sh.name);
    check(nm, bad == 0 && !doverflow && syncs <= 2, "%ld tile values wrong, %d syncs%s", bad, syncs,
          doverflow ? ", move queue overflowed" : "");
    free(tile);
    free(win);
    halo_plan_destroy(p);
}

/* Two plans of the same geometry in flight at once, started in opposite orders on odd and even
 * ranks: their messages must not mix. Then a gather and a scatter_add in flight together. */
static void run_concurrent(const shape *sh0)
{
    shape sh = *sh0;
    sh.Py = G.Py;
    sh.Px = G.Px;
    int C = sh.C, B = 2;
    halo_plan *a = halo_plan_create(&G, sh.H, sh.W, C, B, window_of, &sh);
    halo_plan *b = halo_plan_create(&G, sh.H, sh.W, C, B, window_of, &sh);
    if (!a || !b) {
        check("concurrent_create", 0, "%s", cn_last_error());
        return;
    }
    cn_rect tr = halo_tile(a), wr = halo_window(a);
    float *ta = malloc(sizeof(float) * (rsize(tr, B + 1, C) + 1));
    float *tb = malloc(sizeof(float) * (rsize(tr, B + 1, C) + 1));
    float *wa = malloc(sizeof(float) * (rsize(wr, B, C) + 1));
    float *wb = malloc(sizeof(float) * (rsize(wr, B, C) + 1));
    fill_tile(ta, tr, B, C, 0);        /* samples 0, 1 */
    fill_tile(tb, tr, B + 1, C, 0);    /* samples 0, 1, 2: use 1, 2 */
    const float *tb1 = tb + rsize(tr, 1, C);
    if (G.grid_rank % 2 == 0) {
        halo_gather_begin(a, ta, wa, B);
        halo_gather_begin(b, tb1, wb, B);
        halo_gather_end(b);
        halo_gather_end(a);
    } else {
        halo_gather_begin(b, tb1, wb, B);
        halo_gather_begin(a, ta, wa, B);
        halo_gather_end(a);
        halo_gather_end(b);
    }
    long bad = window_errors(wa, wr, wr, B, C, 0) + window_errors(wb, wr, wr, B, C, 1);
    check("concurrent_gathers", bad == 0, "%ld values wrong with two plans in flight", bad);

    /* gather on a while scatter_add on b: */
    int wh = rect_rows(wr), ww = rect_cols(wr), n = G.Py * G.Px;
    fill_tile(ta, tr, B, C, 0);
    fill_tile(tb, tr, B, C, 0);
    for (int s = 0; s < B; s++)
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++)
                for (int c = 0; c < C; c++)
                    wb[(((size_t)s * wh + y) * ww + x) * C + c] = contrib(G.grid_rank, s, wr.y0 + y, wr.x0 + x, c);
    if (G.grid_rank % 2 == 0) {
        halo_scatter_add_begin(b, wb, tb, B);
        halo_gather_begin(a, ta, wa, B);
    } else {
        halo_gather_begin(a, ta, wa, B);
        halo_scatter_add_begin(b, wb, tb, B);
    }
    halo_gather_end(a);
    halo_scatter_add_end(b);
    bad = window_errors(wa, wr, wr, B, C, 0);
    int th = rect_rows(tr), tw = rect_cols(tr);
    for (int s = 0; s < B; s++)
        for (int y = tr.y0; y < tr.y1; y++)
            for (int x = tr.x0; x < tr.x1; x++)
                for (int c = 0; c < C; c++) {
                    float want = val(s, y, x, c);
                    for (int q = 0; q < n; q++)
                        if (inside(window_of(&sh, q / G.Px, q % G.Px), y, x))
                            want += contrib(q, s, y, x, c);
                    bad += tb[(((size_t)s * th + y - tr.y0) * tw + x - tr.x0) * C + c] != want;
                }
    check("concurrent_gather_scatter", bad == 0, "%ld values wrong with a gather and a scatter_add in flight", bad);
    free(ta);
    free(tb);
    free(wa);
    free(wb);
    halo_plan_destroy(a);
    halo_plan_destroy(b);
}

static void run_collectives(void)
{
    int P = G.Py * G.Px;
    check("grid_coords", G.world_rank == (G.replica * G.Py + G.py) * G.Px + G.px &&
                             G.grid_rank == G.py * G.Px + G.px && G.world_size == G.R * P &&
                             G.world_rank == comm_world_rank() && G.world_size == comm_world_size(),
          "coordinates (%d, %d, %d) do not follow replica-major, row-major order", G.replica, G.py, G.px);
    int launched = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
    check("comm_is_mpi", comm_is_mpi() == launched, "comm_is_mpi() = %d under mpirun", comm_is_mpi());

    enum { N = 5 };
    double d[N];
    float f[N];
    for (int i = 0; i < N; i++) {
        d[i] = G.grid_rank * 10 + i + 1000.0 * G.replica + 0.5;
        f[i] = (float)(G.grid_rank * 3 - i) + 100.0f * (float)G.replica;
    }
    grid_sum_double(&G, d, N);
    grid_sum_float(&G, f, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double wd = 0, wf = 0;
        for (int q = 0; q < P; q++) {
            wd += q * 10 + i + 1000.0 * G.replica + 0.5;
            wf += q * 3 - i + 100.0 * G.replica;
        }
        bad += d[i] != wd || f[i] != (float)wf;
    }
    check("grid_sum", bad == 0, "%d sums over the replica's grid wrong", bad);

    for (int i = 0; i < N; i++)
        f[i] = (float)(G.replica * 4 + G.grid_rank * 2 + i);
    replicas_mean_float(&G, f, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += f[i] != (float)(2 * (G.R - 1) + G.grid_rank * 2 + i); /* mean of 4*r over r < R */
    check("replicas_mean", bad == 0, "%d replica means wrong", bad);

    double ws[2] = {G.world_rank + 1.0, -2.0};
    world_sum_double(&G, ws, 2);
    int W = G.world_size;
    check("world_sum", ws[0] == W * (W + 1) / 2.0 && ws[1] == -2.0 * W, "world sum %g %g", ws[0], ws[1]);
    check("world_any", world_any(&G, G.world_rank == W - 1) == 1 && world_any(&G, 0) == 0,
          "world_any wrong");
    check("world_max_int", world_max_int(&G, G.world_rank * 3 - 1) == 3 * W - 4, "world_max_int wrong");
    /* three flags in one all-reduce: set on ranks >= 1, on no rank, on the last rank only */
    int fl[3] = {world_first(&G, G.world_rank >= 1), world_first(&G, 0), world_first(&G, G.world_rank == W - 1)};
    world_max_ints(&G, fl, 3);
    check("world_first", W < 2 || (W - fl[0] == 1 && fl[1] == 0 && W - fl[2] == W - 1),
          "lowest flagged ranks %d, none %d, %d", W - fl[0], fl[1], W - fl[2]);
    char buf[64];
    snprintf(buf, sizeof buf, "from rank %d", G.world_rank);
    world_bcast(&G, buf, sizeof buf, W - 1);
    char want[64];
    snprintf(want, sizeof want, "from rank %d", W - 1);
    check("world_bcast", strcmp(buf, want) == 0, "got \"%s\"", buf);

    /* Inexact sums (random doubles and floats, several counts): every rank of a replica must hold the
     * same bits. Each replica's first rank broadcasts its result, the others compare bitwise. */
    static const size_t counts[] = {1, 3, 1000, 70001};
    long mism = 0;
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        size_t m = counts[k];
        double *v = malloc(m * sizeof *v), *r = malloc(m * sizeof *r);
        float *vf = malloc(m * sizeof *vf), *rf = malloc(m * sizeof *rf);
        tu_seed(1000 + (uint64_t)G.world_rank * 7 + k);
        for (size_t i = 0; i < m; i++) {
            v[i] = tu_rand() * 1e3;
            vf[i] = (float)tu_rand();
        }
        grid_sum_double(&G, v, m);
        grid_sum_float(&G, vf, m);
        for (int rep = 0; rep < G.R; rep++) {
            memcpy(r, v, m * sizeof *r);
            memcpy(rf, vf, m * sizeof *rf);
            world_bcast(&G, r, m * sizeof *r, rep * P);
            world_bcast(&G, rf, m * sizeof *rf, rep * P);
            if (rep == G.replica)
                mism += memcmp(r, v, m * sizeof *r) != 0 || memcmp(rf, vf, m * sizeof *rf) != 0;
        }
        free(v);
        free(r);
        free(vf);
        free(rf);
    }
    check("grid_sum_same_bits", mism == 0, "%ld inexact grid sums differ between ranks", mism);
}

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    if (argc < 4) {
        fprintf(stderr, "usage: mpi_halo R Py Px [fatal | badbatch]\n");
        comm_finalize();
        return 2;
    }
    int R = atoi(argv[1]), Py = atoi(argv[2]), Px = atoi(argv[3]);
    if (grid_create(&G, R, Py, Px) != CN_OK) {
        if (comm_world_rank() == 0)
            fprintf(stderr, "cotsnet: error: %s\n", cn_last_error());
        comm_finalize();
        return 2;
    }
    snprintf(prefix, sizeof prefix, "R%dx%dx%d", R, Py, Px);
    if (argc > 4 && strcmp(argv[4], "fatal") == 0) {
        if (G.world_rank == 1 % G.world_size)
            cn_fatal("deliberate failure on one rank (test of the abort path)");
        world_barrier(&G); /* the others wait here: MPI_Abort must end them */
        world_barrier(&G);
        fprintf(stderr, "rank %d: still running after another rank's cn_fatal\n", G.world_rank);
        grid_destroy(&G);
        comm_finalize();
        return 0;
    }

    if (argc > 4 && strcmp(argv[4], "badbatch") == 0) {
        /* Ranks disagree on the batch size: the job must end with a clear error, not hang. */
        shape sh = {"lf", LF, 17, 19, 2, 9, 2, Py, Px, 0};
        halo_plan *p = halo_plan_create(&G, sh.H, sh.W, sh.C, 2, window_of, &sh);
        if (!p)
            cn_fatal("%s", cn_last_error());
        float *t = calloc(rsize(halo_tile(p), 2, sh.C) + 1, sizeof *t);
        float *w = calloc(rsize(halo_window(p), 2, sh.C) + 1, sizeof *w);
        halo_gather(p, t, w, 1 + G.grid_rank % 2);
        world_barrier(&G);
        fprintf(stderr, "rank %d: a gather with mismatched batches went through\n", G.world_rank);
        free(t);
        free(w);
        halo_plan_destroy(p);
        grid_destroy(&G);
        comm_finalize();
        return 0;
    }

    run_collectives();

    /* Shapes, all with uneven tiles on some grid. LF: 17 x 19 input, field 9, stride 2 (windows cover
     * three tile rows on 3 x 3); field 11, stride 1 on 23 x 14 (a halo wider than the neighbouring tile
     * on 3 columns); LCN: tiles grown by n - 1 = 4 on 13 x 8 (reaches 2 tiles away on 3 columns) and
     * by 2; every window the whole map (all-to-all); arbitrary rectangles, some empty. */
    static const shape shapes[] = {
        {"lf_r9_s2", LF, 17, 19, 2, 9, 2, 0, 0, 0},
        {"lf_r11_s1", LF, 23, 14, 3, 11, 1, 0, 0, 1},
        {"lcn_n5", LCN, 13, 8, 3, 5, 1, 0, 0, 1},
        {"lcn_n3", LCN, 10, 7, 1, 3, 1, 0, 0, 0},
        {"whole", WHOLE, 9, 8, 2, 0, 0, 0, 0, 0},
        {"arbitrary", ARBITRARY, 12, 10, 2, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_shape(&shapes[i], 3);
    run_concurrent(&shapes[0]);
    run_deferred(&shapes[1]);
    run_deferred(&shapes[5]);

    grid_destroy(&G);
    comm_finalize();
    return n_failed ? 1 : 0;
}
