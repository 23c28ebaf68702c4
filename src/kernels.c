/* kernels.c: the choice between the fast CPU kernels and the reference (see kernels.h). */
#include "src/kernels.h"

#include <stdlib.h>
#include <string.h>

int kernels_use_reference(void)
{
    static int use = -1;
    if (use < 0) {
        const char *v = getenv("COTSNET_REFERENCE");
        use = v && strcmp(v, "0") != 0 && v[0] != 0;
    }
    return use;
}
