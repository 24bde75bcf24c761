/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread.h: a mutex that works on POSIX (pthreads) and Windows (SRW locks),
 * for the few places of the portable core that need thread safety.
 */
#ifndef QEMU_THREAD_H
#define QEMU_THREAD_H

#include "qemu/osdep.h"

#ifdef _WIN32
typedef struct QemuMutex {
    SRWLOCK lock;
} QemuMutex;
#else
#include <pthread.h>
typedef struct QemuMutex {
    pthread_mutex_t lock;
} QemuMutex;
#endif

void qemu_mutex_init(QemuMutex *m);
void qemu_mutex_destroy(QemuMutex *m);
void qemu_mutex_lock(QemuMutex *m);
void qemu_mutex_unlock(QemuMutex *m);

#endif /* QEMU_THREAD_H */
