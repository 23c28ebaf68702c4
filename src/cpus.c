/* cpus.c: the CPUs a process may use (cpus.h). */
#define _GNU_SOURCE
#include "src/cpus.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int cn_cpus_usable(int local_ranks)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mask = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        mask = CPU_COUNT(&set);
    if (mask <= 0)
        mask = online > 0 ? (int)online : 1;
    if (online > 0 && mask >= online && local_ranks > 1) /* not bound: the node's CPUs are shared */
        mask /= local_ranks;
    return mask > 0 ? mask : 1;
}

/* The first of the variables that holds an integer in [lo, 1000000], or fallback. */
static int env_first_int(const char *const *vars, int n, int lo, int fallback)
{
    for (int i = 0; i < n; i++) {
        const char *v = getenv(vars[i]);
        char *end = NULL;
        long x = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && *end == '\0' && x >= lo && x <= 1000000)
            return (int)x;
    }
    return fallback;
}

int cn_local_rank_env(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    return env_first_int(vars, 3, 0, 0);
}

int cn_local_ranks_env(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"};
    return env_first_int(vars, 3, 1, 1);
}
