/* update.h: one optimizer step on a parameter tile: average the gradient over replicas, apply the
 * job's optimizer (src/ops.h formulas, docs/MODEL.md), zero the gradient. */
#ifndef CN_UPDATE_H
#define CN_UPDATE_H

#include "mpi/grid.h"
#include "src/job.h"
#include "src/net.h"

void param_step(const cn_job *job, const cn_grid *grid, cn_param *p, double lr);
/* grid.average_every > 1: the mean over the replicas of the parameter's values (and of its optimizer
 * state when with_state: before a checkpoint, so that replica 0's copy is every replica's). */
void param_average(const cn_grid *grid, cn_param *p, int with_state);
/* The learning rate at step `step` of a phase of `total` steps starting from `base`. */
double lr_at(const cn_job *job, double base, long step, long total);

#endif
