/* cmd_data.h: `cotsnet data SOURCE --out DIR [options] [FILES...]`, making shards (docs/DATA.md). */
#ifndef CN_CMD_DATA_H
#define CN_CMD_DATA_H

/* argv[0] is "data". Returns the exit status: 0 done, 1 failure (one error line), 2 bad command line. */
int cmd_data(int argc, char **argv);

#endif
