/* ckpt.h: checkpoints, one HDF5 file written by all ranks together (DESIGN.md "Checkpoints").
 *
 * Every tensor is stored whole, in global layout (a local filter as [Ho, Wo, M, r, r, C]); each rank
 * writes its tile as a hyperslab with collective MPI-IO, so a checkpoint written on one grid loads on
 * any other. Datasets are chunked with the Fletcher-32 checksum; file format bounds 1.8+ give the
 * metadata checksums too. Replicas hold the same parameters: replica 0 writes, every replica reads.
 *
 * A checkpoint is written as ckpt-<step>.h5.partial, fsync'ed, and renamed to ckpt-<step>.h5 only after
 * every rank has closed it; then all but the newest `keep` complete checkpoints are removed, so the
 * newest complete one is never removed before its successor is complete. */
#ifndef CN_CKPT_H
#define CN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "src/dev_tune.h"
#include "src/net.h"

/* Where training stands: enough to continue exactly as the uninterrupted run would. */
typedef struct {
    long step;         /* steps done over all phases: the checkpoint's number */
    int phase;         /* PHASE_RICA, PHASE_HEAD, PHASE_FINETUNE, PHASE_DONE (src/train.h) */
    int stage;         /* 0-based stage of the RICA phase */
    long phase_step;   /* steps done within the phase (and stage) */
    uint64_t data_pos; /* training data cursor (src/data.h) */
    /* COTSNET_CUDA_LF_TILES=auto: the tile schemes the run chose (src/dev_tune.h, "t16,t32,t16;..."), so
     * that a resumed run runs the same kernels; "" when the run chose none (attribute lf_tiles) */
    char lf_tiles[CN_LF_TILES_TEXT];
} cn_progress;

/* Write a checkpoint of net at cursor into dir (created if needed); all ranks call. The file is written
 * as NAME.partial, flushed, read back by every rank (its own part, compared bit for bit with memory),
 * and only then renamed to NAME and the oldest beyond `keep` removed. Returns 0, or -1 on every rank
 * after one error line (the directory cannot be written; the file does not read back as written, when
 * the partial file is removed and the older checkpoints stay). */
int ckpt_save(const cn_net *net, const cn_progress *cur, const char *dir, int keep, char *path_out, size_t len);

/* Load path into net (its tiles on this grid) and cursor; all ranks call. Returns 0, or -1 after one
 * clear error line (a missing or corrupted file, a checkpoint of another network): every rank gets
 * the same answer. */
int ckpt_load(cn_net *net, cn_progress *cur, const char *path);

/* The newest complete checkpoint in dir: 1 and its path, or 0 when there is none. */
int ckpt_latest(const char *dir, char *path, size_t len);

#endif
