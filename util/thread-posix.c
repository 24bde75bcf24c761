/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread-posix.c: QemuMutex and QemuCond on pthreads.  Failures here are
 * programming errors (or a broken libc), so they abort.
 */
#include "qemu/osdep.h"
#include "qemu/thread.h"

static void check(int r, const char *what)
{
    if (r) {
        fprintf(stderr, "%s: %s\n", what, strerror(r));
        abort();
    }
}

void qemu_mutex_init(QemuMutex *m)
{
    check(pthread_mutex_init(&m->lock, NULL), "pthread_mutex_init");
}

void qemu_mutex_destroy(QemuMutex *m)
{
    check(pthread_mutex_destroy(&m->lock), "pthread_mutex_destroy");
}

void qemu_mutex_lock(QemuMutex *m)
{
    check(pthread_mutex_lock(&m->lock), "pthread_mutex_lock");
}

void qemu_mutex_unlock(QemuMutex *m)
{
    check(pthread_mutex_unlock(&m->lock), "pthread_mutex_unlock");
}

void qemu_cond_init(QemuCond *c)
{
    pthread_condattr_t attr;

    check(pthread_condattr_init(&attr), "pthread_condattr_init");
    check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC),
          "pthread_condattr_setclock");
    check(pthread_cond_init(&c->cond, &attr), "pthread_cond_init");
    pthread_condattr_destroy(&attr);
}

void qemu_cond_destroy(QemuCond *c)
{
    check(pthread_cond_destroy(&c->cond), "pthread_cond_destroy");
}

void qemu_cond_broadcast(QemuCond *c)
{
    check(pthread_cond_broadcast(&c->cond), "pthread_cond_broadcast");
}

void qemu_cond_wait(QemuCond *c, QemuMutex *m)
{
    check(pthread_cond_wait(&c->cond, &m->lock), "pthread_cond_wait");
}

bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t ms)
{
    struct timespec ts;
    int r;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    r = pthread_cond_timedwait(&c->cond, &m->lock, &ts);
    if (r == ETIMEDOUT) {
        return false;
    }
    check(r, "pthread_cond_timedwait");
    return true;
}

typedef struct ThreadStart {
    void (*fn)(void *);
    void *opaque;
} ThreadStart;

static void *thread_start(void *arg)
{
    ThreadStart start = *(ThreadStart *)arg;

    free(arg);
    start.fn(start.opaque);
    return NULL;
}

void qemu_thread_create(QemuThread *t, void (*fn)(void *), void *opaque)
{
    ThreadStart *start = qemu_xmalloc(sizeof(*start));

    *start = (ThreadStart){ .fn = fn, .opaque = opaque };
    check(pthread_create(&t->thread, NULL, thread_start, start),
          "pthread_create");
}

void qemu_thread_join(QemuThread *t)
{
    check(pthread_join(t->thread, NULL), "pthread_join");
}
