/* test_mem_fit.c: the memory cgroup's limit as src/mem_fit.c reads it (mem_cgroup_limit), on fake
 * /proc/self/cgroup files and cgroup trees in a scratch directory: cgroup v1 and v2, no limit, a
 * controller list, nothing readable. (The check itself: tests/t_dist.sh dist_memory_too_small, and
 * tests/t_cuda_train_emu.sh cuda_gpu_memory_too_small.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/mem_fit.h"
#include "tests/testutil.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) { /* mkdir -p of its folders */
        snprintf(dir, sizeof dir, "%.*s", (int)(p - path), path);
        mkdir(dir, 0700);
    }
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "test_mem_fit: cannot write %s\n", path);
        exit(1);
    }
}

/* mem_cgroup_limit of the fake files proc (under root) and sys (a folder under root) */
static double limit(const char *proc, const char *sys)
{
    char p[256], s[256];
    snprintf(p, sizeof p, "%s/%s", root, proc);
    snprintf(s, sizeof s, "%s/%s", root, sys);
    return mem_cgroup_limit(p, s);
}

static void expect(const char *name, double got, double want)
{
    char why[128];
    snprintf(why, sizeof why, "limit %.0f, expected %.0f", got, want);
    tu_check(name, got == want, why);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_mem_fit.XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    /* v1, the memory controller on its own line (as on this build machine), and v2's line beside it */
    put("p1", "9:name=systemd:/\n4:memory:/job_7/step_0\n0::/\n");
    put("s1/memory/job_7/step_0/memory.limit_in_bytes", "2147483648\n");
    expect("mem_cgroup_v1", limit("p1", "s1"), 2147483648.0);
    /* v1 without a limit (2^63 - 1 rounded to a page), and no v2 file: none */
    put("p2", "4:memory:/job_8\n0::/\n");
    put("s2/memory/job_8/memory.limit_in_bytes", "9223372036854771712\n");
    expect("mem_cgroup_v1_unlimited", limit("p2", "s2"), -1);
    /* v1 with the memory controller in a list of controllers */
    put("p3", "5:cpu,memory,pids:/x\n");
    put("s3/memory/x/memory.limit_in_bytes", "1073741824\n");
    expect("mem_cgroup_v1_controller_list", limit("p3", "s3"), 1073741824.0);
    /* v2 only (Slurm with cgroup/v2: a job step's folder) */
    put("p4", "0::/system.slice/slurmstepd.scope/job_9/step_0/user/task_0\n");
    put("s4/system.slice/slurmstepd.scope/job_9/step_0/user/task_0/memory.max", "4294967296\n");
    expect("mem_cgroup_v2", limit("p4", "s4"), 4294967296.0);
    /* v2 at the root, "max": no limit */
    put("p5", "0::/\n");
    put("s5/memory.max", "max\n");
    expect("mem_cgroup_v2_max", limit("p5", "s5"), -1);
    /* v2 at the root with a number */
    put("p7", "0::/\n");
    put("s7/memory.max", "3221225472\n");
    expect("mem_cgroup_v2_root", limit("p7", "s7"), 3221225472.0);
    /* a cgroup whose files are not there (another mount namespace), and no /proc file at all */
    put("p6", "0::/elsewhere\n");
    expect("mem_cgroup_unreadable", limit("p6", "s6"), -1);
    expect("mem_cgroup_no_proc_file", limit("none", "s6"), -1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "test_mem_fit: could not remove %s\n", root);
    return tu_exit();
}
