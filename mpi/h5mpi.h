/* h5mpi.h: what parallel HDF5 needs from MPI, kept inside the MPI wall: the file-access property list
 * that makes every rank of the world open one file together (MPI-IO), and the collective transfer
 * property that filtered (checksummed) datasets require for writing. On the one-rank path (no MPI)
 * both are the plain defaults. File format bounds are HDF5 1.8 or later, so metadata carries
 * checksums. */
#ifndef CN_H5MPI_H
#define CN_H5MPI_H

#include <hdf5.h>

#include "mpi/grid.h"

/* A new file-access property list (the caller closes it): MPI-IO on the world when `parallel` and MPI
 * is up, the default driver otherwise. */
hid_t grid_h5_fapl(const cn_grid *g, int parallel);
/* A new transfer property list: collective MPI-IO when MPI is up, default otherwise. */
hid_t grid_h5_dxpl_collective(const cn_grid *g);

/* Assemble a tensor [Hg, Wg, inner] whose rows/columns are split in tiles over the grid onto grid
 * rank 0 of this replica (`full` there; ignored elsewhere, may be NULL). For small tensors: ends the
 * job if a tile exceeds 2^31 floats. */
void grid_gather_tiles(const cn_grid *g, int Hg, int Wg, size_t inner, const float *tile, float *full);

#endif
