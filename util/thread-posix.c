/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread-posix.c: QemuMutex on pthreads.  Failures here are programming
 * errors (or a broken libc), so they abort.
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
