/* version.c: what built this binary (recompiled on every build, so the git revision is current). */
#include "src/common.h"

#ifndef CN_GIT_REV
#define CN_GIT_REV "unknown"
#endif
#ifndef CN_CC
#define CN_CC "unknown compiler"
#endif
#ifndef CN_CFLAGS
#define CN_CFLAGS ""
#endif
#ifdef CN_HAVE_CUDA
#define CN_CUDA_STR "cuda backend built"
#else
#define CN_CUDA_STR "cpu backend only"
#endif

#define CN_VERSION "0.1.0"

const char *cn_git_rev(void) { return CN_GIT_REV; }

const char *cn_build_info(void)
{
    return "cotsnet " CN_VERSION " (git " CN_GIT_REV ")\n"
           "  compiler: " CN_CC "\n"
           "  flags:    " CN_CFLAGS "\n"
           "  backends: " CN_CUDA_STR;
}
