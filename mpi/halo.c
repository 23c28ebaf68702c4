/* halo.c: halo plans. Built once per map, reused every step (hpcg's ExchangeHalo: send lists built
 * once, receives posted first).
 *
 * The plan is general: for every other rank q of the replica's grid,
 *   in[q]  = my window  ∩ tile(q)   (gather receives it from q; scatter_add sends it to q)
 *   out[q] = my tile    ∩ window(q) (gather sends it to q; scatter_add receives it from q)
 * so a halo may be wider than a neighbour's tile, span several ranks, include corners, and tiles may
 * be uneven; both ends compute the same rectangle from the same window callback, so they agree on
 * every message and its size without talking. The part of my window that lies in my own tile is a
 * local copy (gather) or a local add (scatter_add), done in *_begin so the interior can use it.
 *
 * Messages: one per peer per operation, packed [B, rows, cols, C] into a buffer allocated once for
 * B_max. Each plan owns a duplicate of the grid communicator, so operations on different plans in
 * flight at the same time never match each other's messages, whatever order ranks start them in;
 * gather and scatter_add also use different tags. One operation per plan at a time.
 * scatter_add adds the received parts after every message has arrived, own part first, then peers
 * in ascending grid rank: the sum is bitwise reproducible.
 *
 * With a halo_mem that has send (NCCL), each *_begin hands every message of the operation to its
 * send / recv calls in one group and the operation counts as complete (the device orders the rest).
 *
 * halo_plan_create and halo_plan_destroy are collective over the replica's Py x Px ranks (they dup
 * and free a communicator); the window callback must give the same answer on every rank. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mpi/halo.h"
#include "mpi/mpi_check.h"

enum { IDLE, GATHER, SCATTER };
enum { TAG_GATHER = 1, TAG_SCATTER = 2 };

typedef struct {
    int rank;      /* grid rank of the peer */
    cn_rect rect;  /* global rows and columns exchanged with it */
    size_t per_b;  /* floats per sample: rows * cols * C */
    float *buf;    /* [B_max, rows, cols, C] */
} halo_peer;

struct halo_plan {
    int H, W, C, B_max;
    MPI_Comm comm;      /* this plan's duplicate of the grid communicator, or MPI_COMM_NULL */
    cn_rect tile, win;  /* this rank's tile and window */
    cn_rect self;       /* tile ∩ window: handled locally */
    int nin, nout;
    halo_peer *in;      /* window ∩ tile(q), ascending q */
    halo_peer *out;     /* tile ∩ window(q), ascending q */
    MPI_Request *req;   /* [nin + nout]: receives first, then sends */
    MPI_Status *st;     /* [nin + nout] */
    int state, done, B; /* operation in flight, whether its messages completed, its batch */
    float *dst;         /* gather: the window; scatter_add: the tile */
    const halo_mem *mem; /* maps in device memory (NULL: host memory) */
};

/* dst[frame dr] (op)= src[frame sr] over the global rectangle r, for B samples of C floats a pixel.
 * A frame is the rectangle an array [B, rows, cols, C] covers in global coordinates. */
static void copy_rect(float *dst, cn_rect dr, const float *src, cn_rect sr, cn_rect r, int B, int C,
                      int add)
{
    int rows = rect_rows(r), cols = rect_cols(r);
    if (rows == 0 || cols == 0 || B == 0)
        return;
    size_t drow = (size_t)rect_cols(dr) * C, srow = (size_t)rect_cols(sr) * C;
    size_t dimg = (size_t)rect_rows(dr) * drow, simg = (size_t)rect_rows(sr) * srow;
    size_t n = (size_t)cols * C;
    size_t total = (size_t)B * rows * n;
#pragma omp parallel for collapse(2) schedule(static) if (total > ((size_t)1 << 18))
    for (int b = 0; b < B; b++)
        for (int y = 0; y < rows; y++) {
            float *d = dst + b * dimg + (size_t)(r.y0 - dr.y0 + y) * drow + (size_t)(r.x0 - dr.x0) * C;
            const float *s = src + b * simg + (size_t)(r.y0 - sr.y0 + y) * srow +
                             (size_t)(r.x0 - sr.x0) * C;
            if (add)
                for (size_t i = 0; i < n; i++)
                    d[i] += s[i];
            else
                memcpy(d, s, n * sizeof *d);
        }
}

/* The three moves of an operation, through p->mem when the maps are not host memory. */
static void to_msg(const halo_plan *p, float *buf, const float *map, cn_rect frame, cn_rect r, int B)
{
    if (p->mem)
        p->mem->to_host(buf, map, frame, r, B, p->C);
    else
        copy_rect(buf, r, map, frame, r, B, p->C, 0);
}

static void from_msg(const halo_plan *p, float *map, cn_rect frame, const float *buf, cn_rect r, int B, int add)
{
    if (p->mem)
        p->mem->from_host(map, frame, buf, r, B, p->C, add);
    else
        copy_rect(map, frame, buf, r, r, B, p->C, add);
}

static void local(const halo_plan *p, float *dst, cn_rect dframe, const float *src, cn_rect sframe, int B, int add)
{
    if (p->mem)
        p->mem->copy(dst, dframe, src, sframe, p->self, B, p->C, add);
    else
        copy_rect(dst, dframe, src, sframe, p->self, B, p->C, add);
}

static int rect_inside(cn_rect r, int H, int W)
{
    return r.y0 >= 0 && r.y0 <= r.y1 && r.y1 <= H && r.x0 >= 0 && r.x0 <= r.x1 && r.x1 <= W;
}

/* Append a peer for rect r when it is not empty (sizes were checked against the windows). */
static void add_peer(halo_peer *list, int *n, int rank, cn_rect r, int C)
{
    if (rect_empty(r))
        return;
    list[*n] = (halo_peer){rank, r, (size_t)rect_rows(r) * (size_t)rect_cols(r) * (size_t)C, NULL};
    (*n)++;
}

halo_plan *halo_plan_create(const cn_grid *g, int H, int W, int C, int B_max, halo_window_fn window,
                            void *ctx)
{
    if (!g || !g->impl || !window) {
        cn_set_error("halo_plan_create: no process grid or no window function");
        return NULL;
    }
    if (H < 1 || W < 1 || C < 1 || B_max < 1) {
        cn_set_error("halo plan for a map of %d x %d pixels x %d channels, batch %d: every size "
                     "must be at least 1", H, W, C, B_max);
        return NULL;
    }
    int Py = g->Py, Px = g->Px, n = Py * Px;
    /* Every rank checks every window, so all ranks reach the same verdict before any collective.
     * A message is part of a window: a window within MPI's int count bounds every message. */
    for (int q = 0; q < n; q++) {
        cn_rect w = window(ctx, q / Px, q % Px);
        if (!rect_inside(w, H, W)) {
            cn_set_error("halo window of grid rank (%d, %d), rows [%d, %d) x columns [%d, %d), "
                         "leaves the %d x %d map", q / Px, q % Px, w.y0, w.y1, w.x0, w.x1, H, W);
            return NULL;
        }
        size_t count;
        if (cn_mul_size(&count, 4, (size_t)B_max, (size_t)rect_rows(w), (size_t)rect_cols(w),
                        (size_t)C) != CN_OK || count > (size_t)INT_MAX) {
            cn_set_error("halo window of grid rank (%d, %d): %d x %d pixels x %d channels x %d "
                         "samples exceeds MPI's count limit of %d floats: use a smaller batch or "
                         "more ranks", q / Px, q % Px, rect_rows(w), rect_cols(w), C, B_max, INT_MAX);
            return NULL;
        }
    }
    halo_plan *p = cn_alloc(1, sizeof *p);
    p->H = H;
    p->W = W;
    p->C = C;
    p->B_max = B_max;
    p->comm = MPI_COMM_NULL;
    p->tile = tile_rect(H, W, Py, Px, g->py, g->px);
    p->win = window(ctx, g->py, g->px);
    p->self = rect_intersect(p->tile, p->win);
    p->in = cn_alloc((size_t)n, sizeof *p->in);
    p->out = cn_alloc((size_t)n, sizeof *p->out);
    for (int q = 0; q < n; q++) {
        if (q == g->grid_rank)
            continue;
        cn_rect tq = tile_rect(H, W, Py, Px, q / Px, q % Px);
        cn_rect wq = window(ctx, q / Px, q % Px);
        add_peer(p->in, &p->nin, q, rect_intersect(p->win, tq), C);
        add_peer(p->out, &p->nout, q, rect_intersect(p->tile, wq), C);
    }
    for (int i = 0; i < p->nin; i++)
        p->in[i].buf = cn_alloc(p->in[i].per_b * (size_t)B_max, sizeof(float));
    for (int i = 0; i < p->nout; i++)
        p->out[i].buf = cn_alloc(p->out[i].per_b * (size_t)B_max, sizeof(float));
    p->req = cn_alloc((size_t)(p->nin + p->nout), sizeof *p->req);
    p->st = cn_alloc((size_t)(p->nin + p->nout), sizeof *p->st);
    for (int i = 0; i < p->nin + p->nout; i++)
        p->req[i] = MPI_REQUEST_NULL;
    if (g->impl->mpi && n > 1) {
        MPI_CHECK(MPI_Comm_dup(g->impl->grid, &p->comm));
        MPI_CHECK(MPI_Comm_set_errhandler(p->comm, MPI_ERRORS_RETURN));
    } else if (p->nin + p->nout > 0) {
        cn_fatal("halo plan has %d peers but no MPI communicator", p->nin + p->nout);
    }
    return p;
}

static void finish(halo_plan *p); /* wait for the messages in flight */

/* (Re)allocate every message buffer, in pinned memory when the maps live on a device. */
static void buffers_free(halo_plan *p)
{
    for (int i = 0; i < p->nin + p->nout; i++) {
        halo_peer *q = i < p->nin ? &p->in[i] : &p->out[i - p->nin];
        if (p->mem)
            p->mem->host_free(q->buf);
        else
            cn_free(q->buf);
        q->buf = NULL;
    }
}

void halo_plan_set_mem(halo_plan *p, const halo_mem *mem)
{
    if (p->state != IDLE)
        cn_fatal("halo_plan_set_mem on a plan with an operation in flight");
    buffers_free(p);
    p->mem = mem;
    for (int i = 0; i < p->nin + p->nout; i++) {
        halo_peer *q = i < p->nin ? &p->in[i] : &p->out[i - p->nin];
        q->buf = mem ? mem->host_alloc(q->per_b * (size_t)p->B_max * sizeof(float))
                     : cn_alloc(q->per_b * (size_t)p->B_max, sizeof(float));
    }
}

void halo_plan_destroy(halo_plan *p)
{
    if (!p)
        return;
    if (p->state != IDLE)
        finish(p);
    buffers_free(p);
    if (p->comm != MPI_COMM_NULL)
        MPI_CHECK(MPI_Comm_free(&p->comm));
    cn_free(p->in);
    cn_free(p->out);
    cn_free(p->req);
    cn_free(p->st);
    cn_free(p);
}

cn_rect halo_tile(const halo_plan *p) { return p->tile; }
cn_rect halo_window(const halo_plan *p) { return p->win; }

size_t halo_bytes_sent(const halo_plan *p, int B)
{
    size_t s = 0;
    for (int i = 0; i < p->nout; i++)
        s += p->out[i].per_b;
    return s * (size_t)B * sizeof(float);
}

size_t halo_bytes_recv(const halo_plan *p, int B)
{
    size_t s = 0;
    for (int i = 0; i < p->nin; i++)
        s += p->in[i].per_b;
    return s * (size_t)B * sizeof(float);
}

/* Post the receives of one operation (before any send is packed) into req[0, nrecv). */
static int p2p(const halo_plan *p) { return p->mem && p->mem->send; }

/* The messages of one operation through mem's point-to-point calls: the sends packed, then one group
 * of every receive and send. The operation is then complete as far as the plan knows. */
static void p2p_post(halo_plan *p, int state, int B, halo_peer *recv, int nrecv, halo_peer *send, int nsend,
                     const float *src, cn_rect sframe)
{
    for (int i = 0; i < nsend; i++)
        to_msg(p, send[i].buf, src, sframe, send[i].rect, B);
    p->mem->group_start();
    for (int i = 0; i < nrecv; i++)
        if (recv[i].per_b * (size_t)B != 0)
            p->mem->recv(recv[i].buf, recv[i].per_b * (size_t)B, recv[i].rank);
    for (int i = 0; i < nsend; i++)
        if (send[i].per_b * (size_t)B != 0)
            p->mem->send(send[i].buf, send[i].per_b * (size_t)B, send[i].rank);
    p->mem->group_end();
    p->state = state;
    p->done = 1;
    p->B = B;
}

static void check_begin(const halo_plan *p, int B, const char *what)
{
    if (p->state != IDLE)
        cn_fatal("%s on a halo plan whose previous operation has not ended", what);
    if (B < 0 || B > p->B_max)
        cn_fatal("%s with a batch of %d samples, the plan holds at most %d", what, B, p->B_max);
}

/* The messages of one operation over MPI: every receive posted, every send packed, then posted
 * (requests: the receives first, then the sends). With maps on a device, the packs are queued on its
 * stream and one sync waits for all of them before MPI reads any buffer (a sync per message cost a
 * host round trip per neighbour, up to 8 per exchange on a 2-D grid). */
static void mpi_post(halo_plan *p, int state, int B, halo_peer *recv, int nrecv, halo_peer *send, int nsend,
                     const float *src, cn_rect sframe, int tag)
{
    for (int i = 0; i < nrecv; i++)
        MPI_CHECK(MPI_Irecv(recv[i].buf, (int)(recv[i].per_b * (size_t)B), MPI_FLOAT, recv[i].rank, tag, p->comm,
                            &p->req[i]));
    p->state = state;
    p->done = 0;
    p->B = B;
    for (int i = 0; i < nsend; i++)
        to_msg(p, send[i].buf, src, sframe, send[i].rect, B);
    if (p->mem && nsend > 0)
        p->mem->sync();
    for (int i = 0; i < nsend; i++)
        MPI_CHECK(MPI_Isend(send[i].buf, (int)(send[i].per_b * (size_t)B), MPI_FLOAT, send[i].rank, tag, p->comm,
                            &p->req[nrecv + i]));
}

/* Post one operation: receive from recv, send src's rectangles to send, through mem's point-to-point
 * calls when the plan has them, else MPI. */
static void post(halo_plan *p, int state, int B, halo_peer *recv, int nrecv, halo_peer *send, int nsend,
                 const float *src, cn_rect sframe, int tag)
{
    if (p2p(p))
        p2p_post(p, state, B, recv, nrecv, send, nsend, src, sframe);
    else
        mpi_post(p, state, B, recv, nrecv, send, nsend, src, sframe, tag);
}

void halo_gather_begin(halo_plan *p, const float *tile, float *win, int B)
{
    check_begin(p, B, "halo_gather_begin");
    post(p, GATHER, B, p->in, p->nin, p->out, p->nout, tile, p->tile, TAG_GATHER);
    local(p, win, p->win, tile, p->tile, B, 0);
    p->dst = win;
}

void halo_scatter_add_begin(halo_plan *p, const float *win, float *tile, int B)
{
    check_begin(p, B, "halo_scatter_add_begin");
    post(p, SCATTER, B, p->out, p->nout, p->in, p->nin, win, p->win, TAG_SCATTER);
    local(p, tile, p->tile, win, p->win, B, 1);
    p->dst = tile;
}

/* MPI_Testall / MPI_Waitall failed: name the peer whose message failed when MPI says which. */
static void request_failed(const halo_plan *p, int rc, const char *call, int line)
{
    int gather = p->state == GATHER;
    int nrecv = gather ? p->nin : p->nout, n = p->nin + p->nout;
    if (rc == MPI_ERR_IN_STATUS)
        for (int i = 0; i < n; i++) {
            int e = p->st[i].MPI_ERROR;
            if (e == MPI_SUCCESS || e == MPI_ERR_PENDING)
                continue;
            int peer = i < nrecv ? (gather ? p->in : p->out)[i].rank
                                 : (gather ? p->out : p->in)[i - nrecv].rank;
            char msg[MPI_MAX_ERROR_STRING + 1];
            int len = 0;
            if (MPI_Error_string(e, msg, &len) != MPI_SUCCESS)
                len = snprintf(msg, sizeof msg, "MPI error code %d", e);
            msg[len] = '\0';
            cn_fatal_at(__FILE__, line, "%s failed: halo %s message %s grid rank %d: %s (do all "
                        "ranks build the same plan and use the same batch size?)", call,
                        gather ? "gather" : "scatter_add", i < nrecv ? "from" : "to", peer, msg);
        }
    cn_mpi_fail(rc, call, __FILE__, line);
}

int halo_test(halo_plan *p)
{
    if (p->state == IDLE || p->done)
        return 1;
    int n = p->nin + p->nout, flag = 1;
    if (n > 0) {
        int rc = MPI_Testall(n, p->req, &flag, p->st);
        if (rc != MPI_SUCCESS)
            request_failed(p, rc, "MPI_Testall", __LINE__);
    }
    p->done = flag != 0;
    return p->done;
}

/* Wait for every message of the operation in flight and check each receive's size. */
static void finish(halo_plan *p)
{
    int n = p->nin + p->nout;
    if (p2p(p)) /* nothing of MPI in flight; the device completes the group */
        return;
    if (!p->done && n > 0) {
        int rc = MPI_Waitall(n, p->req, p->st);
        if (rc != MPI_SUCCESS)
            request_failed(p, rc, "MPI_Waitall", __LINE__);
    }
    p->done = 1;
    halo_peer *recv = p->state == GATHER ? p->in : p->out;
    int nrecv = p->state == GATHER ? p->nin : p->nout;
    for (int i = 0; i < nrecv; i++) {
        int got = 0;
        MPI_CHECK(MPI_Get_count(&p->st[i], MPI_FLOAT, &got));
        if ((size_t)got != recv[i].per_b * (size_t)p->B)
            cn_fatal("halo message from grid rank %d has %d floats, expected %zu: ranks disagree "
                     "on the batch size or the plan", recv[i].rank, got,
                     recv[i].per_b * (size_t)p->B);
    }
}

/* Maps on the GPU, messages received by MPI (into pinned host buffers, or device buffers with
 * grid.halo = mpi-direct): the device's copies out of those buffers (queued on the stream) must be done
 * before MPI may write them again. Nothing else needs the host to
 * wait: the local part and NCCL messages stay on the device, in stream order. Without messages, the
 * host does not wait for the stream at all (on 1x1 a sync here made the halo wait absorb the compute
 * queued before it). */
static void mem_settle(halo_plan *p, int nrecv)
{
    if (p->mem && nrecv > 0 && !p2p(p))
        p->mem->sync();
}

void halo_gather_end(halo_plan *p)
{
    if (p->state != GATHER)
        cn_fatal("halo_gather_end without halo_gather_begin");
    finish(p);
    for (int i = 0; i < p->nin; i++)
        from_msg(p, p->dst, p->win, p->in[i].buf, p->in[i].rect, p->B, 0);
    mem_settle(p, p->nin);
    p->state = IDLE;
}

void halo_scatter_add_end(halo_plan *p)
{
    if (p->state != SCATTER)
        cn_fatal("halo_scatter_add_end without halo_scatter_add_begin");
    finish(p);
    for (int i = 0; i < p->nout; i++) /* ascending grid rank: a reproducible sum */
        from_msg(p, p->dst, p->tile, p->out[i].buf, p->out[i].rect, p->B, 1);
    mem_settle(p, p->nout);
    p->state = IDLE;
}

void halo_gather(halo_plan *p, const float *tile, float *win, int B)
{
    halo_gather_begin(p, tile, win, B);
    halo_gather_end(p);
}

void halo_scatter_add(halo_plan *p, const float *win, float *tile, int B)
{
    halo_scatter_add_begin(p, win, tile, B);
    halo_scatter_add_end(p);
}
