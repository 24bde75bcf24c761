/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thread-win32.c: QemuMutex on Windows slim reader/writer locks (exclusive
 * mode only) and QemuCond on Windows condition variables.
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

void qemu_cond_init(QemuCond *c)
{
    InitializeConditionVariable(&c->cond);
}

void qemu_cond_destroy(QemuCond *c)
{
    (void)c; /* condition variables need no teardown */
}

void qemu_cond_broadcast(QemuCond *c)
{
    WakeAllConditionVariable(&c->cond);
}

void qemu_cond_wait(QemuCond *c, QemuMutex *m)
{
    SleepConditionVariableSRW(&c->cond, &m->lock, INFINITE, 0);
}

bool qemu_cond_timedwait(QemuCond *c, QemuMutex *m, int64_t ms)
{
    DWORD wait = ms < 0 ? 0 : (ms >= INFINITE ? INFINITE - 1 : (DWORD)ms);

    return SleepConditionVariableSRW(&c->cond, &m->lock, wait, 0) != 0;
}

typedef struct ThreadStart {
    void (*fn)(void *);
    void *opaque;
} ThreadStart;

static DWORD WINAPI thread_start(LPVOID arg)
{
    ThreadStart start = *(ThreadStart *)arg;

    free(arg);
    start.fn(start.opaque);
    return 0;
}

void qemu_thread_create(QemuThread *t, void (*fn)(void *), void *opaque)
{
    ThreadStart *start = qemu_xmalloc(sizeof(*start));

    *start = (ThreadStart){ .fn = fn, .opaque = opaque };
    t->handle = CreateThread(NULL, 0, thread_start, start, 0, NULL);
    if (!t->handle) {
        fprintf(stderr, "CreateThread: error %lu\n",
                (unsigned long)GetLastError());
        abort();
    }
}

void qemu_thread_join(QemuThread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
}
