/* mem_fit.c: see mem_fit.h. */
#include "src/mem_fit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/common.h"
#include "src/dev.h"
#include "src/sizing.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* MemAvailable of /proc/meminfo in bytes, or -1 when it cannot be read. */
static double meminfo_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1)
            break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024.0;
}

/* One number from a file: -1 when it cannot be read, or holds "max". */
static double read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double v = -1;
    if (fscanf(f, "%lf", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

double mem_cgroup_limit(const char *proc_cgroup, const char *sys_cgroup)
{
    FILE *f = fopen(proc_cgroup, "r");
    if (!f)
        return -1;
    char line[1024], v1[1024] = "", v2[1024] = "";
    int have1 = 0, have2 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0'; /* line: the hierarchy's number */
        const char *ctl = c1 + 1, *path = c2 + 1;
        if (!strcmp(line, "0") && !*ctl) { /* v2: "0::/path" */
            snprintf(v2, sizeof v2, "%s", path);
            have2 = 1;
        } else { /* v1: "N:ctl1,ctl2:/path", the memory controller among them */
            char ctls[256];
            snprintf(ctls, sizeof ctls, ",%s,", ctl);
            if (strstr(ctls, ",memory,")) {
                snprintf(v1, sizeof v1, "%s", path);
                have1 = 1;
            }
        }
    }
    fclose(f);
    char file[2200];
    double lim = -1;
    if (have1) {
        snprintf(file, sizeof file, "%s/memory%s/memory.limit_in_bytes", sys_cgroup, v1);
        lim = read_number(file);
        if (lim >= 1152921504606846976.0) /* 2^60: v1's "no limit" (page-rounded 2^63 - 1) */
            lim = -1;
    }
    if (lim < 0 && have2) {
        snprintf(file, sizeof file, "%s%s/memory.max", sys_cgroup, !strcmp(v2, "/") ? "" : v2);
        lim = read_number(file);
    }
    return lim > 0 ? lim : -1;
}

int mem_fit_check(const cn_job *job, const cn_grid *grid)
{
    cn_mem st[CN_MAX_STAGES], head;
    double total = -1, on_host = 0; /* bytes; total < 0: not counted */
    /* a grid that does not fit the maps is not counted here: net_create says so */
    if (sizing_rank(job, grid->Py, grid->Px, grid->py, grid->px, st, &head) == CN_OK) {
        total = (double)mem_total(&head);
        on_host = (double)head.data + (double)head.messages;
        for (int k = 0; k < job->nstages; k++) {
            total += (double)mem_total(&st[k]);
            on_host += (double)st[k].messages; /* halo staging (device packing buffers aside) */
        }
    }
    const double device = total - on_host; /* what the GPU backend keeps on the GPU */
    if (world_any(grid, total < 0)) /* not counted somewhere: every rank goes on alike */
        return 0;
    char msg[512] = "";
    int over = 0;
    if (job->backend == BACKEND_CUDA) {
        size_t free_b = 0, total_b = 0;
        over = dev_mem_info(&free_b, &total_b) == 0 && device > (double)free_b;
        if (over)
            snprintf(msg, sizeof msg, "rank %d needs %.1f GiB of GPU memory for this job on grid %dx%d (cotsnet info "
                     "--params counts it), and its GPU has %.1f GiB free of %.1f: use more GPUs (a finer grid), a "
                     "smaller batch or smaller maps", grid->world_rank, device / GIB, grid->Py, grid->Px,
                     (double)free_b / GIB, (double)total_b / GIB);
    } else {
        int n = 1;
        const double node = node_sum_double(grid, total, &n), lim = mem_cgroup_limit("/proc/self/cgroup", "/sys/fs/cgroup");
        double avail = meminfo_available();
        const char *what = "MemAvailable in /proc/meminfo";
        if (lim > 0 && (avail < 0 || lim < avail))
            avail = lim, what = "the limit of its memory cgroup";
        over = avail >= 0 && node > avail;
        if (over) {
            char host[64] = "?";
            gethostname(host, sizeof host - 1);
            snprintf(msg, sizeof msg, "the %d rank%s on node %s need%s %.1f GiB of memory for this job on grid %dx%d "
                     "(cotsnet info --params counts it), and %.1f GiB is available there (%s): use more nodes, "
                     "a smaller batch or smaller maps", n, n > 1 ? "s" : "", host, n > 1 ? "" : "s",
                     node / GIB, grid->Py, grid->Px, avail / GIB, what);
        }
    }
    return world_any_error(grid, over, job->path, msg) ? -1 : 0;
}
