/* comm.c: start and stop MPI, and end every rank on a fatal error.
 *
 * The one design choice: MPI is initialised only when a launcher started us, so that a plain
 * `./bin/cotsnet ...` (and every single-process test) runs without mpirun and never touches MPI.
 * The rule, checked in this order:
 *   COTSNET_MPI=0 / COTSNET_MPI=1  force it off / on (escape hatch for unusual launchers);
 *   OMPI_COMM_WORLD_SIZE           Open MPI's mpirun / mpiexec;
 *   PMIX_RANK                      PMIx launchers (srun --mpi=pmix, prterun, Open MPI 5);
 *   PMI_RANK or PMI_SIZE           PMI-1/2 launchers (MPICH hydra, srun --mpi=pmi2);
 *   SLURM_STEP_NUM_TASKS           any srun job step (the sbatch batch shell does not set it, so a
 *                                  tool run directly from a batch script stays single-process).
 * With MPI: MPI_Init_thread(FUNNELED) (only the main thread calls MPI; OpenMP threads never do),
 * MPI_ERRORS_RETURN on MPI_COMM_WORLD so that MPI_CHECK reports failures itself, the log rank, and
 * an abort hook so that cn_fatal on any rank ends the whole job with MPI_Abort instead of a hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/grid.h"
#include "mpi/mpi_check.h"

#if defined(__has_include)
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h> /* Open MPI: MPIX_CUDA_AWARE_SUPPORT, MPIX_Query_cuda_support (comm_cuda_aware) */
#endif
#endif

static int use_mpi;     /* 1 once comm_init has initialised MPI */
static int initialised; /* comm_init ran */

void cn_mpi_fail(int rc, const char *call, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error code %d", rc);
    else
        msg[len] = '\0';
    cn_fatal_at(file, line, "%s failed: %s (an MPI failure: check the launcher, the network and "
                "that every rank runs the same job)", call, msg);
}

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v && v[0];
}

/* Started by a launcher? See the rule at the top of the file. */
static int launched_by_mpi(void)
{
    const char *force = getenv("COTSNET_MPI");
    if (force && force[0])
        return strcmp(force, "0") != 0;
    return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") ||
           env_set("PMI_SIZE") || env_set("SLURM_STEP_NUM_TASKS");
}

static void mpi_abort_hook(int code)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1);
}

void comm_init(int *argc, char ***argv)
{
    if (initialised)
        return;
    initialised = 1;
    if (!launched_by_mpi())
        return;
    int already = 0, provided = 0;
    MPI_Initialized(&already);
    if (!already) {
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "cotsnet: error: MPI_Init_thread failed (code %d): check the launcher "
                    "(mpirun / srun --mpi=pmix) and the MPI installation (%s:%d)\n", rc, __FILE__,
                    __LINE__);
            exit(1);
        }
    } else {
        MPI_CHECK(MPI_Query_thread(&provided));
    }
    use_mpi = 1;
    cn_set_abort_hook(mpi_abort_hook);
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    cn_set_log_rank(rank);
    if (provided < MPI_THREAD_FUNNELED)
        cn_fatal("the MPI library gives thread level %d, cotsnet needs MPI_THREAD_FUNNELED (%d)",
                 provided, MPI_THREAD_FUNNELED);
}

void comm_finalize(void)
{
    if (!use_mpi)
        return;
    int down = 0;
    MPI_Finalized(&down);
    if (!down)
        MPI_CHECK(MPI_Finalize());
    use_mpi = 0;
    cn_set_abort_hook(NULL);
}

int comm_is_mpi(void) { return use_mpi; }

int comm_cuda_aware(char *why, size_t len)
{
#if defined(MPIX_CUDA_AWARE_SUPPORT)
    /* Open MPI (and MVAPICH2 2.3.4 on, whose mpi-ext.h has the same two): built with CUDA support
     * (compile time), and that support enabled now (run time) */
#if defined(OMPI_MAJOR_VERSION)
    const char *name = "Open MPI";
#else
    const char *name = "this MPI";
#endif
    int yes = MPIX_CUDA_AWARE_SUPPORT && use_mpi && MPIX_Query_cuda_support();
    snprintf(why, len, "%s built %s CUDA support%s", name, MPIX_CUDA_AWARE_SUPPORT ? "with" : "without",
             MPIX_CUDA_AWARE_SUPPORT ? (yes ? ", enabled" : ", not enabled at run time") : "");
    return yes;
#elif defined(MPIX_GPU_SUPPORT_CUDA)
    /* MPICH 4.0 on (and what is built on it): its own run-time answer */
    int yes = 0;
    if (use_mpi)
        MPI_CHECK(MPIX_GPU_query_support(MPIX_GPU_SUPPORT_CUDA, &yes));
    snprintf(why, len, "MPIX_GPU_query_support says CUDA buffers are %ssupported", yes ? "" : "not ");
    return yes != 0;
#else
    /* Cray MPICH (MPICH 3.x within): GPU buffers are taken when MPICH_GPU_SUPPORT_ENABLED=1 */
#if defined(MPICH_NUMVERSION)
    const char *e = getenv("MPICH_GPU_SUPPORT_ENABLED");
    if (e && !strcmp(e, "1")) {
        snprintf(why, len, "MPICH_GPU_SUPPORT_ENABLED=1");
        return 1;
    }
#endif
    snprintf(why, len, "this MPI has neither MPIX_Query_cuda_support nor MPIX_GPU_query_support to ask");
    return -1;
#endif
}

int comm_world_rank(void)
{
    int r = 0;
    if (use_mpi)
        MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &r));
    return r;
}

int comm_world_size(void)
{
    int n = 1;
    if (use_mpi)
        MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &n));
    return n;
}

void comm_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (use_mpi)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
