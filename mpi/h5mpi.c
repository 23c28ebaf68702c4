/* h5mpi.c: parallel HDF5 property lists and gathering tiles (see h5mpi.h). */
#include "mpi/h5mpi.h"

#include <limits.h>
#include <string.h>

#include "mpi/mpi_check.h"
#include "src/tile.h"

static hid_t checked(hid_t id, const char *call, int line)
{
    if (id < 0)
        cn_fatal_at(__FILE__, line, "%s failed", call);
    return id;
}

hid_t grid_h5_fapl(const cn_grid *g, int parallel)
{
    hid_t fapl = checked(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate(H5P_FILE_ACCESS)", __LINE__);
    checked(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds", __LINE__);
    if (parallel && g->impl && g->impl->mpi) {
        checked(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), "H5Pset_fapl_mpio", __LINE__);
        checked(H5Pset_all_coll_metadata_ops(fapl, 1), "H5Pset_all_coll_metadata_ops", __LINE__);
        checked(H5Pset_coll_metadata_write(fapl, 1), "H5Pset_coll_metadata_write", __LINE__);
    }
    return fapl;
}

hid_t grid_h5_dxpl_collective(const cn_grid *g)
{
    hid_t dxpl = checked(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate(H5P_DATASET_XFER)", __LINE__);
    if (g->impl && g->impl->mpi)
        checked(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", __LINE__);
    return dxpl;
}

void grid_gather_tiles(const cn_grid *g, int Hg, int Wg, size_t inner, const float *tile, float *full)
{
    int P = g->Py * g->Px;
    cn_rect mine = tile_rect(Hg, Wg, g->Py, g->Px, g->py, g->px);
    size_t n = (size_t)rect_rows(mine) * (size_t)rect_cols(mine) * inner;
    if (n > INT_MAX)
        cn_fatal("grid_gather_tiles: a tile of %zu floats is too large to gather", n);
    if (!g->impl || !g->impl->mpi || P == 1) {
        if (g->grid_rank == 0)
            memcpy(full, tile, n * sizeof *tile);
        return;
    }
    int *counts = NULL, *displs = NULL;
    float *buf = NULL;
    size_t total = (size_t)Hg * (size_t)Wg * inner;
    if (g->grid_rank == 0) {
        counts = cn_alloc((size_t)P, sizeof *counts);
        displs = cn_alloc((size_t)P, sizeof *displs);
        buf = cn_alloc(total, sizeof *buf);
        size_t off = 0;
        for (int q = 0; q < P; q++) {
            cn_rect t = tile_rect(Hg, Wg, g->Py, g->Px, q / g->Px, q % g->Px);
            counts[q] = (int)((size_t)rect_rows(t) * (size_t)rect_cols(t) * inner);
            displs[q] = (int)off;
            off += (size_t)counts[q];
        }
        if (off > INT_MAX)
            cn_fatal("grid_gather_tiles: %zu floats are too many to gather", off);
    }
    MPI_CHECK(MPI_Gatherv(tile, (int)n, MPI_FLOAT, buf, counts, displs, MPI_FLOAT, 0, g->impl->grid));
    if (g->grid_rank == 0) {
        for (int q = 0; q < P; q++) {
            cn_rect t = tile_rect(Hg, Wg, g->Py, g->Px, q / g->Px, q % g->Px);
            size_t row = (size_t)rect_cols(t) * inner;
            for (int i = 0; i < rect_rows(t); i++)
                memcpy(full + (((size_t)(t.y0 + i) * (size_t)Wg + (size_t)t.x0) * inner),
                       buf + (size_t)displs[q] + (size_t)i * row, row * sizeof *full);
        }
        cn_free(counts);
        cn_free(displs);
        cn_free(buf);
    }
}
