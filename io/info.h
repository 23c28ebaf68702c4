/* info.h: `cotsnet info [--verify] FILE...`: describe a checkpoint or a shard (DESIGN.md "Jobs, commands").
 *
 * A checkpoint: format version, step and phase, the grid it was written on, every dataset with its
 * shape, chunking, filters and parameter count, the total, and the job's name. A shard: what
 * io/shard.h validates (samples, image size and type, labels, normalization) plus its datasets and
 * attributes. --verify also reads every chunk back, so a bad Fletcher-32 checksum is found now rather
 * than at the next resume. Serial (plain HDF5, no MPI). */
#ifndef CN_INFO_H
#define CN_INFO_H

/* argv[0] is "info". Returns the exit status: 0 described, 1 a file failed --verify, 2 bad command line,
 * a missing, non-HDF5 or unknown file (one error line each). */
int cmd_info(int argc, char **argv);

#endif
