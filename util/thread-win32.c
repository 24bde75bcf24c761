/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread-win32.c: QemuMutex on Windows slim reader/writer locks, used in
 * exclusive mode only.
 */
#include "qemu/osdep.h"
#include "qemu/thread.h"

void qemu_mutex_init(QemuMutex *m)
{
    InitializeSRWLock(&m->lock);
}

void qemu_mutex_destroy(QemuMutex *m)
{
    (void)m; /* SRW locks need no teardown */
}

void qemu_mutex_lock(QemuMutex *m)
{
    AcquireSRWLockExclusive(&m->lock);
}

void qemu_mutex_unlock(QemuMutex *m)
{
    ReleaseSRWLockExclusive(&m->lock);
}
