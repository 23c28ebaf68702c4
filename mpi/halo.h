/* halo.h: halo plans. A distributed map [B, H, W, C] is split into tiles over the Py x Px grid
 * (src/tile.h). Each rank's consumer of the map needs a *window* of it: a rectangle of global rows and
 * columns (its tile's inputs plus halo), which may be wider than a neighbour's tile, span several tiles,
 * and include corners. A plan, built once per map and reused every step, lists for every pair of ranks
 * the intersection of one's tile with the other's window.
 *
 *   gather:      tile -> window   (forward: fetch the halo)
 *   scatter_add: window -> tile   (backward: send the gradient that fell in the halo to its owner and
 *                                  add it there; the tile's own part is added locally)
 *
 * Both come split in begin / test / end so that the tile's interior can be computed while the
 * messages move: Debian's Open MPI has no asynchronous progress, so call halo_test() from the
 * interior loop. On a 1x1 grid both are local copies. */
#ifndef CN_HALO_H
#define CN_HALO_H

#include <stddef.h>

#include "mpi/grid.h"
#include "src/tile.h"

typedef struct halo_plan halo_plan;

/* window(ctx, py, px): the global rectangle that rank (py, px) needs, inside [0,H) x [0,W). */
typedef cn_rect (*halo_window_fn)(void *ctx, int py, int px);

/* A plan for a map of H x W pixels with C floats each, batches of at most B_max samples. Returns NULL
 * with a message in cn_last_error() when a window leaves the map. */
halo_plan *halo_plan_create(const cn_grid *g, int H, int W, int C, int B_max, halo_window_fn window,
                            void *ctx);
void halo_plan_destroy(halo_plan *p);

cn_rect halo_tile(const halo_plan *p);   /* this rank's tile of the map */
cn_rect halo_window(const halo_plan *p); /* this rank's window */
/* Bytes this rank sends per gather; a scatter_add sends what a gather receives, and the two differ
 * on one rank when windows are not symmetric (over all ranks they are equal). */
size_t halo_bytes_sent(const halo_plan *p, int B);
size_t halo_bytes_recv(const halo_plan *p, int B); /* bytes this rank receives per gather */

/* tile [B, tile rows, tile cols, C] -> win [B, window rows, window cols, C]. After begin the tile may
 * be reused and the window's part inside the own tile is already filled; the rest of the window is
 * written by end. create/destroy are collective over the replica's grid; one operation per plan in
 * flight, any number of plans at once. */
void halo_gather_begin(halo_plan *p, const float *tile, float *win, int B);
int halo_test(halo_plan *p); /* progress the messages in flight; 1 when all have completed */
void halo_gather_end(halo_plan *p);
/* tile += contributions of every rank's win that fall in this rank's tile (own part added in begin,
 * the others in end, in ascending grid rank: reproducible). Neither buffer may be touched before end. */
void halo_scatter_add_begin(halo_plan *p, const float *win, float *tile, int B);
void halo_scatter_add_end(halo_plan *p);

/* Where a plan's maps live. By default (no halo_mem) tiles and windows are host memory and the plan
 * copies with memcpy. For maps in GPU memory (the CUDA backend, src/dev.c) the caller gives these
 * operations; the plan then keeps its message buffers in host_alloc'd memory (pinned host memory; device
 * memory with grid.halo = nccl, and with grid.halo = mpi-direct, where MPI itself reads and writes it)
 * and never touches a map itself. Rectangles r are global; frame is the global rectangle the map
 * [B, frame, C] covers. The three moves may be queued (on a device's stream) and done later, in order:
 *   to_host:   buf [B, r, C] = map[:, r, :]                   (a message to send)
 *   from_host: map[:, r, :] = buf, or += buf when add          (a message received)
 *   copy:      dst[:, r, :] = src[:, r, :], or += when add     (the part a rank keeps)
 *   sync:      waits for every move queued so far. Over MPI the plan calls it once after packing an
 *              operation's sends, before MPI reads them, and once at the end of *_end that received
 *              messages, after which the maps hold the result and the buffers may be reused.
 * When send is given (NCCL, src/dev.c with grid.halo = nccl) the messages do not go through MPI:
 * host_alloc gives device buffers, to_host / from_host pack / unpack device to device, and each
 * *_begin packs its sends, then calls group_start, recv for every message it receives and send for
 * every message it sends (peers are grid ranks; messages of zero floats are left out on both ends),
 * and group_end, which queues them; halo_test then says 1 and *_end only unpacks. Every rank must
 * begin the plans' operations in the same order (the training loop does). */
typedef struct {
    void (*to_host)(float *buf, const float *map, cn_rect frame, cn_rect r, int B, int C);
    void (*from_host)(float *map, cn_rect frame, const float *buf, cn_rect r, int B, int C, int add);
    void (*copy)(float *dst, cn_rect dframe, const float *src, cn_rect sframe, cn_rect r, int B, int C, int add);
    void (*sync)(void);
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
    void (*send)(const float *buf, size_t n, int peer); /* NULL: MPI moves the messages */
    void (*recv)(float *buf, size_t n, int peer);
    void (*group_start)(void);
    void (*group_end)(void);
} halo_mem;

/* Use mem for this plan's maps from now on (NULL: host memory again). The plan must be idle. */
void halo_plan_set_mem(halo_plan *p, const halo_mem *mem);

/* Blocking forms. */
void halo_gather(halo_plan *p, const float *tile, float *win, int B);
void halo_scatter_add(halo_plan *p, const float *win, float *tile, int B);

#endif
