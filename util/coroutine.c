/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * coroutine.c: coroutines on threads that take turns (coroutine.h).
 *
 * One lock, co_lock, is held by whichever context runs; co_running names
 * it (NULL: the main context).  Handing control over is setting
 * co_running and waiting on co_cond until it names us again, so exactly
 * one thread is ever past its wait, and the lock orders every memory
 * access of one context before those of the next.  The main context is
 * the thread that made the first coroutine; it takes co_lock then and
 * keeps it, except while a coroutine runs.
 */
#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/error.h"
#include "qemu/thread.h"

struct Coroutine {
    CoroutineEntry *entry;
    void *opaque;
    Coroutine *caller;   /* who entered it; gets control when it yields */
    Coroutine *next;     /* in a CoQueue, or in the run queue */
    QemuThread thread;
    bool started;
    bool finished;
    bool queued;         /* in the run queue */
};

static bool co_inited;
static QemuMutex co_lock;
static QemuCond co_cond;
static Coroutine *co_running;
static CoQueue run_queue;    /* woken by a coroutine, run by the main one */

static void co_init(void)
{
    if (!co_inited) {
        qemu_mutex_init(&co_lock);
        qemu_cond_init(&co_cond);
        qemu_mutex_lock(&co_lock);
        qemu_co_queue_init(&run_queue);
        co_inited = true;
    }
}

/* Give control to @to and wait until it is @self's again. */
static void co_switch(Coroutine *self, Coroutine *to)
{
    co_running = to;
    qemu_cond_broadcast(&co_cond);
    while (co_running != self) {
        qemu_cond_wait(&co_cond, &co_lock);
    }
}

static void co_thread(void *opaque)
{
    Coroutine *co = opaque;

    qemu_mutex_lock(&co_lock);
    while (co_running != co) {
        qemu_cond_wait(&co_cond, &co_lock);
    }
    co->entry(co->opaque);
    co->finished = true;
    co_running = co->caller;
    qemu_cond_broadcast(&co_cond);
    qemu_mutex_unlock(&co_lock);
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    Coroutine *co = qemu_xzalloc(sizeof(*co));

    co_init();
    co->entry = entry;
    co->opaque = opaque;
    return co;
}

static void queue_push(CoQueue *q, Coroutine *co)
{
    if (!q->tail) {
        qemu_co_queue_init(q);
    }
    co->next = NULL;
    *q->tail = co;
    q->tail = &co->next;
}

static Coroutine *queue_pop(CoQueue *q)
{
    Coroutine *co = q->head;

    if (co) {
        q->head = co->next;
        if (!q->head) {
            q->tail = &q->head;
        }
        co->next = NULL;
    }
    return co;
}

void qemu_coroutine_enter(Coroutine *co)
{
    Coroutine *self = co_running;

    if (co->caller || co->finished || co == self) {
        fprintf(stderr, "qemu_coroutine_enter: coroutine is running\n");
        abort();
    }
    co->caller = self;
    if (!co->started) {
        co->started = true;
        qemu_thread_create(&co->thread, co_thread, co);
    }
    co_switch(self, co);
    if (co->finished) {
        qemu_thread_join(&co->thread);
        free(co);
    }
    if (!self) {
        Coroutine *next;

        while ((next = queue_pop(&run_queue))) {
            next->queued = false;
            qemu_coroutine_enter(next);
        }
    }
}

void qemu_coroutine_yield(void)
{
    Coroutine *self = co_running;
    Coroutine *to;

    if (!self) {
        fprintf(stderr, "qemu_coroutine_yield: not in a coroutine\n");
        abort();
    }
    to = self->caller;
    self->caller = NULL;
    co_switch(self, to);
}

bool qemu_coroutines_in_use(void)
{
    return co_inited;
}

Coroutine *qemu_coroutine_self(void)
{
    return co_running;
}

bool qemu_in_coroutine(void)
{
    return co_running != NULL;
}

void qemu_coroutine_wake(Coroutine *co)
{
    if (!co_running) {
        qemu_coroutine_enter(co);
    } else if (!co->queued) {
        co->queued = true;
        queue_push(&run_queue, co);
    }
}

/* ---- queues and locks --------------------------------------------------- */

void qemu_co_queue_init(CoQueue *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

bool qemu_co_queue_empty(const CoQueue *q)
{
    return !q->head;
}

static _Noreturn void main_context_deadlock(const char *what)
{
    error_report("cannot wait for %s outside a coroutine: a suspended "
                 "request holds it (resume that request first)", what);
    abort();
}

void qemu_co_queue_wait(CoQueue *q, CoMutex *m, const char *what)
{
    Coroutine *self = co_running;

    if (!self) {
        main_context_deadlock(what);
    }
    queue_push(q, self);
    if (m) {
        qemu_co_mutex_unlock(m);
    }
    qemu_coroutine_yield();
    if (m) {
        qemu_co_mutex_lock(m);
    }
}

void qemu_co_queue_restart_all(CoQueue *q)
{
    CoQueue woken = *q;
    Coroutine *co;

    if (!q->head) {
        return;
    }
    woken.tail = NULL; /* only popped from */
    qemu_co_queue_init(q);
    while ((co = queue_pop(&woken))) {
        qemu_coroutine_wake(co);
    }
}

void qemu_co_mutex_init(CoMutex *m)
{
    m->locked = false;
    qemu_co_queue_init(&m->waiters);
}

void qemu_co_mutex_lock(CoMutex *m)
{
    while (m->locked) {
        qemu_co_queue_wait(&m->waiters, NULL, "a lock");
    }
    m->locked = true;
}

void qemu_co_mutex_unlock(CoMutex *m)
{
    Coroutine *co = queue_pop(&m->waiters);

    m->locked = false;
    if (co) {
        qemu_coroutine_wake(co);
    }
}
