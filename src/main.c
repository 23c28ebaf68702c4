/* main.c: the cotsnet command line (subcommands dispatched from here). */
#include <stdio.h>
#include <string.h>

#include "src/common.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts(cn_build_info());
        return 0;
    }
    fprintf(stderr, "usage: cotsnet --version\n");
    return 2;
}
