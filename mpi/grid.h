/* grid.h: the process grid and the few collectives the rest of cotsnet uses.
 *
 * World size = R x Py x Px; rank order is replica-major, then row-major over the grid (DESIGN.md):
 *   world_rank = replica * Py*Px + py * Px + px.
 * This header and halo.h are the wall around MPI: no other file includes mpi.h. When the program is
 * not started by mpirun or srun, comm_init() does not initialise MPI at all and every collective is
 * the one-rank identity, so unit tests and a one-process run need no launcher. */
#ifndef CN_GRID_H
#define CN_GRID_H

#include <stddef.h>

typedef struct cn_grid_impl cn_grid_impl;

typedef struct {
    int world_rank, world_size;
    int R, Py, Px;       /* replicas, grid rows, grid columns */
    int replica, py, px; /* this rank's coordinates */
    int grid_rank;       /* py * Px + px: rank within the replica */
    cn_grid_impl *impl;  /* communicators (opaque) */
} cn_grid;

/* Start MPI when launched by mpirun/srun (one-rank path otherwise); installs the abort hook. */
void comm_init(int *argc, char ***argv);
void comm_finalize(void);
int comm_world_rank(void);
int comm_world_size(void);
int comm_is_mpi(void);   /* 1 when MPI was initialised */
/* Whether this MPI can send from and receive into GPU memory: 1 yes, 0 no, -1 it cannot say. Asked of
 * Open MPI's (and MVAPICH2's) MPIX_Query_cuda_support, MPICH 4's MPIX_GPU_query_support, or for an
 * older MPICH (Cray MPICH) read from MPICH_GPU_SUPPORT_ENABLED=1. why gets the answer's source. */
int comm_cuda_aware(char *why, size_t len);
void comm_abort(int code); /* end every rank now */

/* Split the world into R replicas of a Py x Px grid. Returns CN_EINVAL with a message when the world
 * size is not R*Py*Px. grid_destroy frees the communicators. */
int grid_create(cn_grid *g, int R, int Py, int Px);
void grid_destroy(cn_grid *g);

/* Sums over the Py x Px ranks of this rank's replica, in place, every rank gets the result. */
void grid_sum_double(const cn_grid *g, double *v, size_t n);
void grid_sum_float(const cn_grid *g, float *v, size_t n);
/* Mean over the R replicas of the same tile, in place (gradient averaging). */
void replicas_mean_float(const cn_grid *g, float *v, size_t n);
/* bytes from the rank of replica root_replica to the ranks of the other replicas that hold the same tile. */
void replicas_bcast(const cn_grid *g, void *buf, size_t bytes, int root_replica);
/* bytes from grid rank root to the other ranks of this rank's replica. */
void grid_bcast(const cn_grid *g, void *buf, size_t bytes, int root);
/* Over every rank of the world. */
void world_sum_double(const cn_grid *g, double *v, size_t n);
int world_any(const cn_grid *g, int flag);  /* 1 when any rank passes a non-zero flag */
/* Every rank learns whether any failed; the lowest failing rank prints its line, "cotsnet: error:
 * PATH: MSG" (the job's path, its own message). Returns 1 when any rank failed. */
int world_any_error(const cn_grid *g, int failed, const char *path, const char *msg);
int world_max_int(const cn_grid *g, int v);
void world_max_ints(const cn_grid *g, int *v, int n); /* element-wise maximum over every rank, in place */
/* A flag made orderable: 0 where not set, else world_size - world_rank, so that the maximum over the
 * world (world_max_ints) is 0 when no rank set it and otherwise names the lowest rank that did, as
 * world_size - maximum. Several flags then cost one all-reduce. */
int world_first(const cn_grid *g, int flag);
/* With first, the maximum of world_first flags: the rank it names prints "cotsnet: error: PATH: MSG"
 * (its own message). Returns first != 0. world_any_error is this after its own all-reduce. */
int world_first_says(const cn_grid *g, int first, const char *path, const char *msg);
/* The sum of v over the ranks that share this rank's node (MPI_COMM_TYPE_SHARED), and how many they
 * are (*nranks, may be NULL). Collective over the world; v itself and 1 without MPI. */
double node_sum_double(const cn_grid *g, double v, int *nranks);
void world_bcast(const cn_grid *g, void *buf, size_t bytes, int root);
void world_barrier(const cn_grid *g);

#endif
