/* cpus.h: how many CPUs a process of this node may use, and its place among the node's ranks. */
#ifndef CN_CPUS_H
#define CN_CPUS_H

/* The CPUs this process may run on (its affinity mask: what Slurm's binding or taskset left it), at
 * least 1. With `local_ranks` ranks on the node and a mask of the whole node (mpirun --bind-to none),
 * its share: the node's CPUs / local_ranks, at least 1. */
int cn_cpus_usable(int local_ranks);
/* This process's rank among the ranks on its node, from the launcher's environment
 * (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPICH's MPI_LOCALRANKID), else 0. */
int cn_local_rank_env(void);
/* The ranks on this node, from the launcher's environment (OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's
 * MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE), else 1. */
int cn_local_ranks_env(void);

#endif
