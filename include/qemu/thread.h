/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread.h: a mutex and a condition variable that work on POSIX (pthreads)
 * and Windows (SRW locks, condition variables), for the few places of the
 * portable core that need thread safety.
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
#else
#include <pthread.h>
typedef struct QemuMutex {
    pthread_mutex_t lock;
} QemuMutex;
typedef struct QemuCond {
    pthread_cond_t cond; /* waits measured on CLOCK_MONOTONIC */
} QemuCond;
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

#endif /* QEMU_THREAD_H */
