/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * coroutine.h: cooperative coroutines, so that a request can stop in the
 * middle (a blkdebug breakpoint, a wait for an overlapping request) while
 * others run past it, as QEMU's requests do.  Exactly one context runs at
 * a time, the main one or a coroutine, and control changes hands only at
 * qemu_coroutine_enter(), qemu_coroutine_yield() and the waits below, so
 * code between those points needs no locking.
 *
 * Only qemu-io's aio_read/aio_write make coroutines; everything else runs
 * in the main context, where these primitives cost a flag test: a main
 * context cannot yield, so a wait there that could only end by another
 * context running is a deadlock (the request it waits for is suspended),
 * reported on stderr before abort(), where QEMU would hang.
 *
 * Each coroutine has a thread of its own for its stack (util/coroutine.c);
 * the threads hand over a single lock, so they never run in parallel.
 * That is portable (pthreads, Win32), and ASan and valgrind see ordinary
 * threads rather than switched stacks.
 */
#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include "qemu/osdep.h"

typedef struct Coroutine Coroutine;
typedef void CoroutineEntry(void *opaque);

/* A coroutine that will run @entry(@opaque) when first entered. */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/*
 * Run @co until it yields or returns (a returned coroutine is freed).
 * From the main context, then run every coroutine woken meanwhile, until
 * none is left; from a coroutine, @co runs nested and hands control back
 * here when it yields.
 */
void qemu_coroutine_enter(Coroutine *co);

/* Hand control back to whoever entered this coroutine. */
void qemu_coroutine_yield(void);

/*
 * Has this process made a coroutine?  Until it has, nothing can wait, and
 * the request bookkeeping that only coroutines need (qcow2's locks, the
 * tracked requests) is skipped: processes that never make one (qemu-img,
 * qemu-vtpm's threads) run as before.
 */
bool qemu_coroutines_in_use(void);

/* The running coroutine, or NULL in the main context. */
Coroutine *qemu_coroutine_self(void);
bool qemu_in_coroutine(void);

/*
 * Make @co run again: at once when called from the main context, else
 * once the running coroutine has handed control back to the main one.
 */
void qemu_coroutine_wake(Coroutine *co);

/* Coroutines waiting for something, woken in the order they came. */
typedef struct CoQueue {
    Coroutine *head;
    Coroutine **tail;
} CoQueue;

typedef struct CoMutex {
    bool locked;
    CoQueue waiters;
} CoMutex;

void qemu_co_queue_init(CoQueue *q);
bool qemu_co_queue_empty(const CoQueue *q);
/*
 * Wait until qemu_co_queue_restart_all(@q), with @m (if not NULL)
 * released meanwhile and held again on return.  @what names the wait in
 * the deadlock report when called from the main context.
 */
void qemu_co_queue_wait(CoQueue *q, CoMutex *m, const char *what);
void qemu_co_queue_restart_all(CoQueue *q);

void qemu_co_mutex_init(CoMutex *m);
void qemu_co_mutex_lock(CoMutex *m);
void qemu_co_mutex_unlock(CoMutex *m);

#endif /* QEMU_COROUTINE_H */
