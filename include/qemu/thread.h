/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread.h: a mutex and a condition variable that work on POSIX (pthreads)
 * and Windows (SRW locks, condition variables), for the few places of the
 * portable core that need thread safety, and a joinable thread (the
 * stacks of util/coroutine.c).
 */
#ifndef QEMU_THREAD_H
#define QEMU_THREAD_H

#include "qemu/osdep.h"

#ifdef _WIN32
typedef struct QemuMutex {
    SRWLOCK lock;
} QemuMutex;
typedef struct QemuCond {
    CONDITION_VARIABLE cond;
} QemuCond;
typedef struct QemuThread {
    HANDLE handle;
} QemuThread;
#else
#include <pthread.h>
typedef struct QemuMutex {
    pthread_mutex_t lock;
} QemuMutex;
typedef struct QemuCond {
    pthread_cond_t cond; /* waits measured on CLOCK_MONOTONIC */
} QemuCond;
typedef struct QemuThread {
    pthread_t thread;
} QemuThread;
#endif

void qemu_mutex_init(QemuMutex *m);
void qemu_mutex_destroy(QemuMutex *m);
void qemu_mutex_lock(QemuMutex *m);
void qemu_mutex_unlock(QemuMutex *m);

void qemu_cond_init(QemuCond *c);
void qemu_cond_destroy(QemuCond *c);
void qemu_cond_broadcast(QemuCond *c);
/* Wait with @m held (released while waiting, held again on return). */
void qemu_cond_wait(QemuCond *c, QemuMutex *m);
/* Same, giving up after @ms milliseconds: false on timeout. */
bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t ms);

/* Run @fn(@opaque) in a new thread; failure to create one aborts. */
void qemu_thread_create(QemuThread *t, void (*fn)(void *), void *opaque);
/* Wait for the thread to return and release it. */
void qemu_thread_join(QemuThread *t);

#endif /* QEMU_THREAD_H */
