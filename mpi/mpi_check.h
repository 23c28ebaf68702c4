/* mpi_check.h: internal to mpi/ (the only files that include mpi.h).
 *
 * MPI_CHECK(call): every MPI call goes through it. The world communicator and every communicator
 * built from it use MPI_ERRORS_RETURN, so a failure comes back here as a code, and MPI_CHECK ends the
 * whole job through cn_fatal: "cotsnet: rank R: error: MPI_Xxx(...) failed: <MPI's string> (file:line)",
 * then MPI_Abort (the abort hook that comm_init installs).
 *
 * cn_grid_impl: the communicators behind the opaque cn_grid.impl, shared by grid.c and halo.c. */
#ifndef CN_MPI_CHECK_H
#define CN_MPI_CHECK_H

#include <mpi.h>

#include "src/common.h"

CN_NORETURN void cn_mpi_fail(int rc, const char *call, const char *file, int line);

#define MPI_CHECK(call)                                              \
    do {                                                             \
        int cn_mpi_rc_ = (call);                                     \
        if (cn_mpi_rc_ != MPI_SUCCESS)                               \
            cn_mpi_fail(cn_mpi_rc_, #call, __FILE__, __LINE__);      \
    } while (0)

struct cn_grid_impl {
    int mpi;          /* 0: the one-rank path, no communicators */
    MPI_Comm grid;    /* the Py x Px ranks of this replica, rank = py * Px + px */
    MPI_Comm replica; /* the R ranks that own the same tile (py, px), rank = replica */
};

#endif
