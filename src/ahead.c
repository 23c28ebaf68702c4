/* ahead.c: a batch source run ahead by one thread (ahead.h).
 *
 * A ring of `depth` slots; slots [head, head + filled) hold finished batches, oldest first. The thread
 * fills slot (head + filled) mod depth outside the lock (the consumer never reads a slot that is not
 * finished, and the thread never writes one that is), then publishes it. A seek bumps `gen`: a batch
 * begun before it is dropped when it ends. A failed fill is published like a batch, with its message
 * (cn_last_error is per thread), and sets `failed`: the thread then waits for a seek or the close, and the
 * consumer keeps the failed slot, so every later ahead_next gives the same error. One consumer thread
 * calls next, seek and close. */
#include "src/ahead.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "src/common.h"

typedef struct {
    float *x;
    int *labels;
    int count;     /* real samples, or the fill's (negative) error */
    char err[512]; /* the error's line */
} slot;

struct cn_ahead {
    cn_fill_fn fill;
    void *ctx;
    size_t nx;
    int B, depth;
    uint64_t stride;
    slot *s;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t data, space;
    int head, filled, failed, stop;
    uint64_t next_pos; /* position of the batch the thread fills next */
    uint64_t gen;
    double fill_s;     /* seconds in fill */
};

#define PT_CHECK(call)                                                                    \
    do {                                                                                  \
        int rc_ = (call);                                                                 \
        if (rc_)                                                                          \
            cn_fatal("%s failed (%s:%d): %s", #call, __FILE__, __LINE__, strerror(rc_));   \
    } while (0)

static void *run(void *arg)
{
    cn_ahead *a = arg;
    PT_CHECK(pthread_mutex_lock(&a->mu));
    for (;;) {
        while (!a->stop && (a->filled == a->depth || a->failed))
            PT_CHECK(pthread_cond_wait(&a->space, &a->mu));
        if (a->stop)
            break;
        int i = (a->head + a->filled) % a->depth;
        uint64_t pos = a->next_pos, gen = a->gen;
        PT_CHECK(pthread_mutex_unlock(&a->mu));
        double t0 = cn_now();
        int count = a->fill(a->ctx, pos, a->s[i].x, a->s[i].labels);
        if (count < 0)
            snprintf(a->s[i].err, sizeof a->s[i].err, "%s", cn_last_error());
        double dt = cn_now() - t0;
        PT_CHECK(pthread_mutex_lock(&a->mu));
        a->fill_s += dt;
        if (gen == a->gen) { /* no seek meanwhile: publish it */
            a->s[i].count = count;
            a->failed = count < 0;
            a->filled++;
            a->next_pos = pos + a->stride;
            PT_CHECK(pthread_cond_signal(&a->data));
        }
    }
    PT_CHECK(pthread_mutex_unlock(&a->mu));
    return NULL;
}

cn_ahead *ahead_open(cn_fill_fn fill, void *ctx, size_t x_floats, int B, uint64_t pos, uint64_t stride, int depth)
{
    cn_ahead *a = cn_alloc(1, sizeof *a);
    a->fill = fill, a->ctx = ctx, a->nx = x_floats, a->B = B, a->depth = depth < 1 ? 1 : depth;
    a->stride = stride, a->next_pos = pos;
    a->s = cn_alloc((size_t)a->depth, sizeof *a->s);
    for (int i = 0; i < a->depth; i++) {
        a->s[i].x = cn_alloc(x_floats, sizeof(float));
        a->s[i].labels = cn_alloc((size_t)B, sizeof(int));
    }
    PT_CHECK(pthread_mutex_init(&a->mu, NULL));
    PT_CHECK(pthread_cond_init(&a->data, NULL));
    PT_CHECK(pthread_cond_init(&a->space, NULL));
    PT_CHECK(pthread_create(&a->th, NULL, run, a));
    return a;
}

int ahead_next(cn_ahead *a, float *x, int *labels, double *wait)
{
    PT_CHECK(pthread_mutex_lock(&a->mu));
    double t0 = cn_now();
    while (a->filled == 0)
        PT_CHECK(pthread_cond_wait(&a->data, &a->mu));
    if (wait)
        *wait += cn_now() - t0;
    const slot *s = &a->s[a->head];
    PT_CHECK(pthread_mutex_unlock(&a->mu));
    if (s->count < 0) { /* kept in the ring: the thread is waiting for a seek */
        cn_set_error("%s", s->err);
        return s->count;
    }
    /* the slot stays counted as filled while it is copied: the thread cannot reuse it */
    memcpy(x, s->x, a->nx * sizeof *x);
    memcpy(labels, s->labels, (size_t)a->B * sizeof *labels);
    int count = s->count;
    PT_CHECK(pthread_mutex_lock(&a->mu));
    a->head = (a->head + 1) % a->depth;
    a->filled--;
    PT_CHECK(pthread_cond_signal(&a->space));
    PT_CHECK(pthread_mutex_unlock(&a->mu));
    return count;
}

void ahead_seek(cn_ahead *a, uint64_t pos)
{
    PT_CHECK(pthread_mutex_lock(&a->mu));
    a->gen++;
    a->head = 0, a->filled = 0, a->failed = 0;
    a->next_pos = pos;
    PT_CHECK(pthread_cond_signal(&a->space));
    PT_CHECK(pthread_mutex_unlock(&a->mu));
}

double ahead_fill_seconds(cn_ahead *a)
{
    PT_CHECK(pthread_mutex_lock(&a->mu));
    double s = a->fill_s;
    PT_CHECK(pthread_mutex_unlock(&a->mu));
    return s;
}

void ahead_close(cn_ahead *a)
{
    if (!a)
        return;
    PT_CHECK(pthread_mutex_lock(&a->mu));
    a->stop = 1;
    PT_CHECK(pthread_cond_signal(&a->space));
    PT_CHECK(pthread_mutex_unlock(&a->mu));
    PT_CHECK(pthread_join(a->th, NULL));
    for (int i = 0; i < a->depth; i++) {
        cn_free(a->s[i].x);
        cn_free(a->s[i].labels);
    }
    cn_free(a->s);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->data);
    pthread_cond_destroy(&a->space);
    cn_free(a);
}
