/* sizing.h: `cotsnet info --params JOB.ini [--grid RxPyxPx] [--set section.key=value ...]`: how many
 * parameters a job has and how much memory each rank needs on a given grid, so a user can size a run
 * before asking a cluster for it. Computed from the geometry net_create uses (net_geometry), counting
 * exactly the buffers net_create, the halo plans and the training loop allocate. */
#ifndef CN_SIZING_H
#define CN_SIZING_H

#include <stddef.h>

#include "src/job.h"

/* Bytes one rank allocates, by kind. */
typedef struct {
    size_t params;      /* filters, decoders, head weights and bias */
    size_t grads;       /* one gradient per parameter */
    size_t optim;       /* optimizer state: momentum (SGD) or sum of squares (AdaGrad), one per parameter */
    size_t acts;        /* tiles of the batch: x0, reconstructions, errors, y, p, out, gradients, logits */
    size_t windows;     /* halo windows of the batch: tile + halo of x, y (and p with LCN), with gradients */
    size_t messages;    /* halo plans' send and receive buffers */
    size_t data;        /* the data reader's prefetch slots (train and test) */
} cn_mem;

size_t mem_total(const cn_mem *m);

/* Memory of grid rank (py, px) of a Py x Px grid, per stage (stage[k]) and for the head and data (head).
 * Returns 0, or CN_EINVAL with one line in cn_last_error() when the grid does not fit the maps. */
int sizing_rank(const cn_job *job, int Py, int Px, int py, int px, cn_mem stage[CN_MAX_STAGES], cn_mem *head);

/* The command; argv[0] is "info". Returns the exit status. */
int cmd_info_params(int argc, char **argv);

#endif
