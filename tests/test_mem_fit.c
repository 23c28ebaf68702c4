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
    /* name, /proc/self/cgroup, the limit file of its cgroup (relative to the fake /sys/fs/cgroup) and
     * what it holds (NULL: no such file), the limit expected */
    static const struct {
        const char *name, *proc, *file, *text;
        double want;
    } cases[] = {
        /* v1, the memory controller on its own line (as on this build machine), v2's line beside it */
        {"mem_cgroup_v1", "9:name=systemd:/\n4:memory:/job_7/step_0\n0::/\n",
         "memory/job_7/step_0/memory.limit_in_bytes", "2147483648\n", 2147483648.0},
        /* v1 without a limit (2^63 - 1 rounded to a page), and no v2 file: none */
        {"mem_cgroup_v1_unlimited", "4:memory:/job_8\n0::/\n", "memory/job_8/memory.limit_in_bytes",
         "9223372036854771712\n", -1},
        /* v1 with the memory controller in a list of controllers */
        {"mem_cgroup_v1_controller_list", "5:cpu,memory,pids:/x\n", "memory/x/memory.limit_in_bytes",
         "1073741824\n", 1073741824.0},
        /* v2 only (Slurm with cgroup/v2: a task's folder) */
        {"mem_cgroup_v2", "0::/system.slice/slurmstepd.scope/job_9/step_0/user/task_0\n",
         "system.slice/slurmstepd.scope/job_9/step_0/user/task_0/memory.max", "4294967296\n", 4294967296.0},
        /* v2 at the root: "max" is no limit, a number is one */
        {"mem_cgroup_v2_max", "0::/\n", "memory.max", "max\n", -1},
        {"mem_cgroup_v2_root", "0::/\n", "memory.max", "3221225472\n", 3221225472.0},
        /* a cgroup whose files are not there (another mount namespace) */
        {"mem_cgroup_unreadable", "0::/elsewhere\n", NULL, NULL, -1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char proc[32], sys[32], file[512];
        snprintf(proc, sizeof proc, "p%zu", k);
        snprintf(sys, sizeof sys, "s%zu", k);
        put(proc, cases[k].proc);
        if (cases[k].file) {
            snprintf(file, sizeof file, "%s/%s", sys, cases[k].file);
            put(file, cases[k].text);
        }
        expect(cases[k].name, limit(proc, sys), cases[k].want);
    }
    expect("mem_cgroup_no_proc_file", limit("none", "s0"), -1); /* no /proc file at all */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "test_mem_fit: could not remove %s\n", root);
    return tu_exit();
}
