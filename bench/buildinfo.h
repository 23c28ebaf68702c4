/* buildinfo.h: the first line of every benchmark's output, "# PROGRAM: " and the build (git revision,
 * compiler, flags: cn_build_info), every further line of it commented with "#   ". Header-only: each
 * benchmark is one .c file (the Makefile builds bench/bench_*.c). */
#ifndef CN_BENCH_BUILDINFO_H
#define CN_BENCH_BUILDINFO_H

#include <stdio.h>
#include <string.h>

#include "src/common.h"

static void bench_print_build(const char *what)
{
    const char *bi = cn_build_info();
    printf("# %s: ", what);
    for (const char *q = bi; *q; q++) {
        putchar(*q);
        if (*q == '\n' && q[1])
            printf("#   ");
    }
    if (bi[0] && bi[strlen(bi) - 1] != '\n')
        putchar('\n');
}

#endif
