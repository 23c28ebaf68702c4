/* update.c: optimizer steps and the learning-rate schedule. */
#include "src/update.h"

#include <math.h>
#include <string.h>

#include "src/common.h"
#include "src/dev.h"
#include "src/kernels.h"
#include "src/ops.h"
#include "src/timers.h"

void param_step(const cn_job *job, const cn_grid *grid, cn_param *p, double lr)
{
    if (!p->n)
        return;
    if (grid->R > 1 && job->average_every == 1) {
        double t0 = cn_now();
        dev_replicas_mean(grid, p->g, p->n); /* replicas_mean_float on the CPU */
        cn_time.allreduce += cn_now() - t0;
    }
    if (dev_gpu()) {
#ifdef CN_HAVE_CUDA
        if (job->optimizer == OPT_ADAGRAD)
            adagrad_cuda(p->w, p->state, p->g, p->n, (float)lr, (float)job->adagrad_eps, (float)job->weight_decay,
                         K_STREAM);
        else
            sgd_momentum_cuda(p->w, p->state, p->g, p->n, (float)lr, (float)job->momentum, (float)job->weight_decay,
                              K_STREAM);
#endif
    } else if (job->optimizer == OPT_ADAGRAD) {
        adagrad_ref(p->w, p->state, p->g, p->n, (float)lr, (float)job->adagrad_eps, (float)job->weight_decay);
    } else {
        sgd_momentum_ref(p->w, p->state, p->g, p->n, (float)lr, (float)job->momentum, (float)job->weight_decay);
    }
    dev_zero(p->g, p->n * sizeof *p->g);
}

void param_average(const cn_grid *grid, cn_param *p, int with_state)
{
    if (grid->R < 2 || !p->n)
        return;
    double t0 = cn_now();
    dev_replicas_mean(grid, p->w, p->n);
    if (with_state && p->state)
        dev_replicas_mean(grid, p->state, p->n);
    cn_time.allreduce += cn_now() - t0;
}

double lr_at(const cn_job *job, double base, long step, long total)
{
    double f = 1.0;
    if (job->warmup > 0 && step < job->warmup)
        f = (double)(step + 1) / (double)job->warmup;
    if (job->schedule == SCHED_COSINE && total > 0)
        f *= 0.5 * (1.0 + cos(3.141592653589793 * (double)step / (double)total));
    else if (job->schedule == SCHED_STEP)
        f *= pow(job->step_gamma, (double)(step / job->step_every));
    return base * f;
}
