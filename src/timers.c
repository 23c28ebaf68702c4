/* timers.c: the process-wide step timers (see timers.h). */
#include "src/timers.h"

cn_timers cn_time;
