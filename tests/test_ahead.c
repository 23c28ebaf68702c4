/* test_ahead.c: the read-ahead thread of src/ahead.c (synthetic batches on the GPU backend).
 *
 *  - ahead_in_order: 50 batches through a ring of 2 slots come out at pos, pos + stride, ... with the
 *    fill function's data and counts, whatever the thread's timing (a fill that sleeps now and then);
 *  - ahead_seek: after some batches, seeks back and forward give the batches at the new positions,
 *    never one filled before the seek (a slow fill is in progress when the seek comes);
 *  - ahead_error: a fill that fails comes out at its own position with its line, again at every later
 *    call, the thread filling nothing more meanwhile; a seek goes on;
 *  - ahead_close_blocked: closing while the thread waits for space (the ring full) returns.
 * tests/t_ahead_tsan.sh builds and runs this file with ThreadSanitizer as well (the lock protocol of
 * src/ahead.c: a data race there fails it). */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "src/ahead.h"
#include "src/common.h"
#include "tests/testutil.h"

#define B 3
#define PER 5 /* floats per sample */

static _Atomic int slow_every; /* sleep in every n-th fill (0: never); set by main, read by the thread */
static _Atomic int fills;
static _Atomic uint64_t fail_at = UINT64_MAX; /* the fill at this position fails */
static _Atomic int calls;                     /* fills begun */

/* x[b, e] = pos * 100 + b * 10 + e; labels[b] = pos + b; count = pos % 4 */
static int fill(void *ctx, uint64_t pos, float *x, int *labels)
{
    (void)ctx;
    calls++;
    if (pos == fail_at)
        return cn_set_error("fill failed at %llu", (unsigned long long)pos);
    if (slow_every && ++fills % slow_every == 0) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (int b = 0; b < B; b++) {
        labels[b] = (int)pos + b;
        for (int e = 0; e < PER; e++)
            x[b * PER + e] = (float)(pos * 100 + (uint64_t)b * 10 + (uint64_t)e);
    }
    return (int)(pos % 4);
}

static int batch_is(const float *x, const int *labels, int count, uint64_t pos)
{
    float wx[B * PER];
    int wl[B];
    int wc = fill(NULL, pos, wx, wl);
    return count == wc && !memcmp(x, wx, sizeof wx) && !memcmp(labels, wl, sizeof wl);
}

int main(void)
{
    float x[B * PER];
    int labels[B];
    double wait = 0;

    slow_every = 3;
    cn_ahead *a = ahead_open(fill, NULL, B * PER, B, 7, 6, 2);
    int ok = 1;
    for (int i = 0; i < 50 && ok; i++) {
        int c = ahead_next(a, x, labels, &wait);
        ok = batch_is(x, labels, c, 7 + 6 * (uint64_t)i);
    }
    tu_check("ahead_in_order", ok && wait >= 0, "a batch out of order or with the wrong data");

    slow_every = 1; /* every fill slow: a seek lands while one is in progress */
    ok = 1;
    const uint64_t to[3] = {0, 1000, 42};
    for (int s = 0; s < 3 && ok; s++) {
        ahead_seek(a, to[s]);
        for (int i = 0; i < 4 && ok; i++) {
            int c = ahead_next(a, x, labels, &wait);
            ok = batch_is(x, labels, c, to[s] + 6 * (uint64_t)i);
        }
    }
    tu_check("ahead_seek", ok, "after a seek, a batch from before it or at the wrong position");

    slow_every = 0;
    fail_at = 112;
    ahead_seek(a, 100);
    ok = batch_is(x, labels, ahead_next(a, x, labels, &wait), 100) &&
         batch_is(x, labels, ahead_next(a, x, labels, &wait), 106);
    ok = ok && ahead_next(a, x, labels, &wait) == CN_EINVAL && !strcmp(cn_last_error(), "fill failed at 112");
    int before = calls;
    struct timespec pause = {0, 20000000};
    nanosleep(&pause, NULL); /* the thread must not fill past the error */
    ok = ok && ahead_next(a, x, labels, &wait) == CN_EINVAL && !strcmp(cn_last_error(), "fill failed at 112") &&
         calls == before;
    ahead_seek(a, 200);
    ok = ok && batch_is(x, labels, ahead_next(a, x, labels, &wait), 200);
    tu_check("ahead_error", ok, "a failed fill must come out at its place with its line, until a seek");

    nanosleep(&pause, NULL); /* let the thread fill the ring and block */
    ahead_close(a);
    tu_ok("ahead_close_blocked");
    return tu_exit();
}
