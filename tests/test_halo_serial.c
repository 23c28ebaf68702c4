/* test_halo_serial.c: the one-rank path of the MPI wall, run without mpirun (MPI is never
 * initialised): the 1x1x1 grid, identity collectives, a refused grid, and halo plans whose gather is
 * a sub-block copy and whose scatter_add adds the window back into the tile. */
#include <stdlib.h>

#include "src/common.h"
#include "mpi/grid.h"
#include "mpi/halo.h"
#include "tests/testutil.h"

typedef struct {
    cn_rect w;
} fixed_ctx;

static cn_rect fixed_window(void *ctx, int py, int px)
{
    (void)py;
    (void)px;
    return ((fixed_ctx *)ctx)->w;
}

/* Value of the global map at (b, y, x, c): a small integer, exact in float. */
static float val(int b, int y, int x, int c) { return (float)(((b * 64 + y) * 64 + x) * 8 + c + 1); }

int main(int argc, char **argv)
{
    int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
                   getenv("PMI_SIZE") || getenv("SLURM_STEP_NUM_TASKS") || getenv("COTSNET_MPI");
    comm_init(&argc, &argv);
    if (launched)
        tu_skip("comm_no_launcher", "a launcher's variables are set in this environment");
    else
        tu_check("comm_no_launcher", !comm_is_mpi() && comm_world_size() == 1 && comm_world_rank() == 0,
                 "a plain run must not initialise MPI");

    cn_grid g;
    int rc = grid_create(&g, 1, 2, 1);
    tu_check("grid_refuses_mismatch", rc == CN_EINVAL && strstr(cn_last_error(), "needs 2 ranks") &&
                                          strstr(cn_last_error(), "world has 1"),
             cn_last_error());
    rc = grid_create(&g, 0, 1, 1);
    tu_check("grid_refuses_zero", rc == CN_EINVAL, "a 0 x 1 x 1 grid must be refused");
    rc = grid_create(&g, 1, 1, 1);
    tu_check("grid_1x1x1", rc == CN_OK && g.world_size == 1 && g.R == 1 && g.Py == 1 && g.Px == 1 &&
                               g.py == 0 && g.px == 0 && g.replica == 0 && g.grid_rank == 0,
             "1x1x1 grid fields");
    if (rc != CN_OK)
        return tu_exit();

    /* Collectives are identities on one rank. */
    double d[3] = {1.5, -2.25, 3.0};
    float f[3] = {0.5f, 7.0f, -1.0f};
    grid_sum_double(&g, d, 3);
    grid_sum_float(&g, f, 3);
    int same = d[0] == 1.5 && d[1] == -2.25 && d[2] == 3.0 && f[0] == 0.5f && f[1] == 7.0f;
    replicas_mean_float(&g, f, 3);
    world_sum_double(&g, d, 3);
    same = same && d[2] == 3.0 && f[2] == -1.0f;
    world_bcast(&g, d, sizeof d, 0);
    world_barrier(&g);
    same = same && world_any(&g, 0) == 0 && world_any(&g, 5) == 1 && world_max_int(&g, -7) == -7;
    tu_check("collectives_identity", same, "one-rank collectives must leave values unchanged");

    /* Gather of a window from a 1x1 grid is the sub-block; scatter_add adds it back. */
    enum { B = 2, H = 7, W = 9, C = 3 };
    fixed_ctx ctx = {{1, 6, 2, 9}};
    halo_plan *p = halo_plan_create(&g, H, W, C, 3, fixed_window, &ctx);
    tu_check("plan_create", p != NULL, cn_last_error());
    if (!p)
        return tu_exit();
    cn_rect t = halo_tile(p), w = halo_window(p);
    tu_check("plan_tile_window", t.y0 == 0 && t.y1 == H && t.x0 == 0 && t.x1 == W && w.y0 == 1 &&
                                     w.y1 == 6 && w.x0 == 2 && w.x1 == 9,
             "tile must be the whole map, window as given");
    tu_check("plan_bytes", halo_bytes_sent(p, B) == 0 && halo_bytes_recv(p, B) == 0,
             "a one-rank plan sends nothing");
    int wr = rect_rows(w), wc = rect_cols(w);
    float *tile = malloc(sizeof(float) * B * H * W * C);
    float *win = malloc(sizeof(float) * B * wr * wc * C);
    for (int b = 0; b < B; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++)
                    tile[((b * H + y) * W + x) * C + c] = val(b, y, x, c);
    for (int i = 0; i < B * wr * wc * C; i++)
        win[i] = -1.0f;
    halo_gather(p, tile, win, B);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int y = 0; y < wr; y++)
            for (int x = 0; x < wc; x++)
                for (int c = 0; c < C; c++)
                    bad += win[((b * wr + y) * wc + x) * C + c] != val(b, w.y0 + y, w.x0 + x, c);
    tu_check("gather_subblock", bad == 0, "window differs from the sub-block of the map");

    /* begin / test / end: the window is complete after begin already (it lies in the own tile). */
    for (int i = 0; i < B * wr * wc * C; i++)
        win[i] = -1.0f;
    halo_gather_begin(p, tile, win, 1);
    int done = halo_test(p);
    halo_gather_end(p);
    bad = 0;
    for (int i = 0; i < wr * wc * C; i++) /* sample 0 filled, sample 1 untouched (B = 1) */
        bad += win[i] != val(0, w.y0 + i / C / wc, w.x0 + i / C % wc, i % C) ||
               win[wr * wc * C + i] != -1.0f;
    tu_check("gather_begin_end_batch1", done == 1 && bad == 0, "split gather with B = 1");

    for (int i = 0; i < B * wr * wc * C; i++)
        win[i] = (float)(i % 5);
    halo_scatter_add(p, win, tile, B);
    bad = 0;
    for (int b = 0; b < B; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    float want = val(b, y, x, c);
                    if (y >= w.y0 && y < w.y1 && x >= w.x0 && x < w.x1)
                        want += (float)((((b * wr + y - w.y0) * wc + x - w.x0) * C + c) % 5);
                    bad += tile[((b * H + y) * W + x) * C + c] != want;
                }
    tu_check("scatter_add_back", bad == 0, "tile must be the old tile plus the window where it lies");
    halo_plan_destroy(p);

    /* Windows that leave the map are refused with a message. */
    fixed_ctx out[] = {{{-1, 3, 0, 3}}, {{0, 8, 0, 3}}, {{0, 3, 5, 10}}, {{4, 3, 0, 3}}};
    int refused = 0;
    for (int i = 0; i < 4; i++) {
        halo_plan *q = halo_plan_create(&g, H, W, C, 1, fixed_window, &out[i]);
        refused += q == NULL && strstr(cn_last_error(), "leaves the 7 x 9 map") != NULL;
        halo_plan_destroy(q);
    }
    tu_check("window_outside_refused", refused == 4, "windows outside the map must be refused");
    halo_plan *big = halo_plan_create(&g, H, W, C, 1 << 27, fixed_window, &ctx);
    tu_check("window_count_limit", big == NULL && strstr(cn_last_error(), "count limit") != NULL,
             "a window of more than INT_MAX floats must be refused");
    halo_plan_destroy(big);
    fixed_ctx empty = {{3, 3, 4, 4}};
    p = halo_plan_create(&g, H, W, C, 1, fixed_window, &empty);
    if (p)
        halo_gather(p, tile, win, 1);
    tu_check("window_empty_allowed", p != NULL, "an empty window inside the map is allowed");
    halo_plan_destroy(p);

    free(tile);
    free(win);
    grid_destroy(&g);
    comm_finalize();
    return tu_exit();
}
