/* grid.c: the R x Py x Px process grid and the collectives the rest of cotsnet uses.
 *
 * Two communicators split from the world: `grid` (the Py x Px ranks of one replica, ranked
 * py * Px + px) and `replica` (the R ranks that own the same tile, ranked by replica). Without MPI
 * (comm_init found no launcher) the grid must be 1 x 1 x 1 and every collective is the identity.
 *
 * Determinism: every reduction is one MPI_Allreduce (split into fixed chunks of at most 2^28
 * elements) on a fixed communicator. Open MPI picks its algorithm from the communicator size and
 * the count alone, and each of its allreduce algorithms leaves every rank with the same bits, so a
 * run is reproducible and all ranks agree (tests/mpi_halo.c checks the agreement on inexact sums). */
#include <limits.h>
#include <stdio.h>

#include "mpi/grid.h"
#include "mpi/mpi_check.h"

#define CHUNK ((size_t)1 << 28) /* elements per MPI call: far below INT_MAX */

int grid_create(cn_grid *g, int R, int Py, int Px)
{
    *g = (cn_grid){0};
    if (R < 1 || Py < 1 || Px < 1)
        return cn_set_error("process grid %d x %d x %d (replicas x rows x columns): every "
                            "dimension must be at least 1", R, Py, Px);
    int world = comm_world_size(), rank = comm_world_rank();
    long long need = (long long)R * Py * Px;
    if (need != world)
        return cn_set_error("process grid %d x %d x %d (replicas x rows x columns) needs %lld ranks "
                            "but the world has %d: launch with %lld ranks (mpirun -np %lld / srun "
                            "-n %lld) or change the grid", R, Py, Px, need, world, need, need, need);
    g->world_rank = rank;
    g->world_size = world;
    g->R = R;
    g->Py = Py;
    g->Px = Px;
    g->replica = rank / (Py * Px);
    g->grid_rank = rank % (Py * Px);
    g->py = g->grid_rank / Px;
    g->px = g->grid_rank % Px;
    g->impl = cn_alloc(1, sizeof *g->impl);
    g->impl->mpi = comm_is_mpi();
    g->impl->grid = MPI_COMM_NULL;
    g->impl->replica = MPI_COMM_NULL;
    if (!g->impl->mpi)
        return CN_OK;
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, g->replica, g->grid_rank, &g->impl->grid));
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, g->grid_rank, g->replica, &g->impl->replica));
    MPI_CHECK(MPI_Comm_set_errhandler(g->impl->grid, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_set_errhandler(g->impl->replica, MPI_ERRORS_RETURN));
    int r1 = -1, r2 = -1;
    MPI_CHECK(MPI_Comm_rank(g->impl->grid, &r1));
    MPI_CHECK(MPI_Comm_rank(g->impl->replica, &r2));
    if (r1 != g->grid_rank || r2 != g->replica)
        cn_fatal("MPI_Comm_split gave ranks %d / %d, expected %d / %d", r1, r2, g->grid_rank,
                 g->replica);
    return CN_OK;
}

void grid_destroy(cn_grid *g)
{
    if (!g->impl)
        return;
    if (g->impl->mpi) {
        MPI_CHECK(MPI_Comm_free(&g->impl->grid));
        MPI_CHECK(MPI_Comm_free(&g->impl->replica));
    }
    cn_free(g->impl);
    g->impl = NULL;
}

static int is_mpi(const cn_grid *g)
{
    if (!g->impl)
        cn_fatal("collective on a process grid that grid_create did not set up");
    return g->impl->mpi;
}

static void allreduce(void *v, size_t n, MPI_Datatype type, size_t size, MPI_Op op, MPI_Comm comm)
{
    char *p = v;
    for (size_t done = 0; done < n; done += CHUNK) {
        size_t k = CN_MIN(CHUNK, n - done);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + done * size, (int)k, type, op, comm));
    }
}

void grid_sum_double(const cn_grid *g, double *v, size_t n)
{
    if (is_mpi(g) && g->Py * g->Px > 1)
        allreduce(v, n, MPI_DOUBLE, sizeof *v, MPI_SUM, g->impl->grid);
}

void grid_sum_float(const cn_grid *g, float *v, size_t n)
{
    if (is_mpi(g) && g->Py * g->Px > 1)
        allreduce(v, n, MPI_FLOAT, sizeof *v, MPI_SUM, g->impl->grid);
}

void replicas_mean_float(const cn_grid *g, float *v, size_t n)
{
    if (!is_mpi(g) || g->R == 1)
        return;
    allreduce(v, n, MPI_FLOAT, sizeof *v, MPI_SUM, g->impl->replica);
    float R = (float)g->R;
    for (size_t i = 0; i < n; i++)
        v[i] /= R;
}

void replicas_bcast(const cn_grid *g, void *buf, size_t bytes, int root_replica)
{
    if (root_replica < 0 || root_replica >= g->R)
        cn_fatal("replicas_bcast from replica %d of %d", root_replica, g->R);
    if (!is_mpi(g) || g->R == 1)
        return;
    char *p = buf;
    for (size_t done = 0; done < bytes; done += CHUNK) {
        size_t k = CN_MIN(CHUNK, bytes - done);
        MPI_CHECK(MPI_Bcast(p + done, (int)k, MPI_BYTE, root_replica, g->impl->replica));
    }
}

void grid_bcast(const cn_grid *g, void *buf, size_t bytes, int root)
{
    if (root < 0 || root >= g->Py * g->Px)
        cn_fatal("grid_bcast from grid rank %d of %d", root, g->Py * g->Px);
    if (!is_mpi(g) || g->Py * g->Px == 1)
        return;
    char *p = buf;
    for (size_t done = 0; done < bytes; done += CHUNK) {
        size_t k = CN_MIN(CHUNK, bytes - done);
        MPI_CHECK(MPI_Bcast(p + done, (int)k, MPI_BYTE, root, g->impl->grid));
    }
}

void world_sum_double(const cn_grid *g, double *v, size_t n)
{
    if (is_mpi(g) && g->world_size > 1)
        allreduce(v, n, MPI_DOUBLE, sizeof *v, MPI_SUM, MPI_COMM_WORLD);
}

int world_any(const cn_grid *g, int flag)
{
    int v = flag != 0;
    if (is_mpi(g) && g->world_size > 1)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
    return v != 0;
}

void world_max_ints(const cn_grid *g, int *v, int n)
{
    if (is_mpi(g) && g->world_size > 1 && n > 0)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
}

int world_max_int(const cn_grid *g, int v)
{
    world_max_ints(g, &v, 1);
    return v;
}

int world_first(const cn_grid *g, int flag) { return flag ? g->world_size - g->world_rank : 0; }

int world_first_says(const cn_grid *g, int first, const char *path, const char *msg)
{
    if (first && g->world_rank == g->world_size - first)
        fprintf(stderr, "cotsnet: error: %s: %s\n", path, msg);
    return first != 0;
}

int world_any_error(const cn_grid *g, int failed, const char *path, const char *msg)
{
    return world_first_says(g, world_max_int(g, world_first(g, failed)), path, msg);
}

double node_sum_double(const cn_grid *g, double v, int *nranks)
{
    int n = 1;
    if (is_mpi(g) && g->world_size > 1) {
        MPI_Comm node;
        MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g->world_rank, MPI_INFO_NULL, &node));
        MPI_CHECK(MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN));
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, node));
        MPI_CHECK(MPI_Comm_size(node, &n));
        MPI_CHECK(MPI_Comm_free(&node));
    }
    if (nranks)
        *nranks = n;
    return v;
}

void world_bcast(const cn_grid *g, void *buf, size_t bytes, int root)
{
    int mpi = is_mpi(g);
    if (root < 0 || root >= g->world_size)
        cn_fatal("world_bcast from rank %d of a world of %d", root, g->world_size);
    if (!mpi || g->world_size == 1)
        return;
    char *p = buf;
    for (size_t done = 0; done < bytes; done += CHUNK) {
        size_t k = CN_MIN(CHUNK, bytes - done);
        MPI_CHECK(MPI_Bcast(p + done, (int)k, MPI_BYTE, root, MPI_COMM_WORLD));
    }
}

void world_barrier(const cn_grid *g)
{
    if (is_mpi(g) && g->world_size > 1)
        MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}
