/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-coroutine.c: util/coroutine.c.  Who runs when: enter and yield,
 * wake-ups from a coroutine deferred to the main context, queues in
 * order, a lock held across a yield, nested coroutines, and the report
 * when the main context would wait for a suspended coroutine.  Each
 * step appends to a log, and the test compares the log.
 */
#include "qemu/osdep.h"
#include <glib.h>
#include "qemu/coroutine.h"

static GString *trace;

static void step(const char *what)
{
    g_string_append(trace, what);
    g_string_append_c(trace, ' ');
}

static void check_trace(const char *want)
{
    g_assert_cmpstr(trace->str, ==, want);
    g_string_truncate(trace, 0);
}

static void co_twice(void *opaque)
{
    step(opaque);
    qemu_coroutine_yield();
    step("again");
}

static void test_enter_yield(void)
{
    Coroutine *co = qemu_coroutine_create(co_twice, (void *)"first");

    g_assert_false(qemu_in_coroutine());
    step("main");
    qemu_coroutine_enter(co);
    step("back");
    qemu_coroutine_enter(co); /* runs to its end: freed */
    step("done");
    check_trace("main first back again done ");
}

static CoQueue queue;

static void co_waiter(void *opaque)
{
    step(opaque);
    qemu_co_queue_wait(&queue, NULL, "the test queue");
    step(opaque);
}

static void co_waker(void *opaque)
{
    step("waker");
    qemu_co_queue_restart_all(&queue);
    step("waker-end"); /* the woken run after this one hands back */
}

static void test_queue_order(void)
{
    qemu_co_queue_init(&queue);
    qemu_coroutine_enter(qemu_coroutine_create(co_waiter, (void *)"a"));
    qemu_coroutine_enter(qemu_coroutine_create(co_waiter, (void *)"b"));
    g_assert_false(qemu_co_queue_empty(&queue));
    qemu_coroutine_enter(qemu_coroutine_create(co_waker, NULL));
    g_assert_true(qemu_co_queue_empty(&queue));
    check_trace("a b waker waker-end a b ");
}

static CoMutex mutex;

static void co_holder(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    step("hold");
    qemu_coroutine_yield(); /* suspended with the lock */
    step("release");
    qemu_co_mutex_unlock(&mutex);
}

static void co_contender(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    step("got-it");
    qemu_co_mutex_unlock(&mutex);
}

static void test_mutex(void)
{
    Coroutine *holder = qemu_coroutine_create(co_holder, NULL);

    qemu_co_mutex_init(&mutex);
    qemu_coroutine_enter(holder);
    qemu_coroutine_enter(qemu_coroutine_create(co_contender, NULL));
    step("main");
    qemu_coroutine_enter(holder);
    g_assert_false(mutex.locked);
    check_trace("hold main release got-it ");
}

static Coroutine *inner;

static void co_inner(void *opaque)
{
    step("inner");
    qemu_coroutine_yield();
    step("inner-end");
}

static void co_outer(void *opaque)
{
    step("outer");
    g_assert_true(qemu_in_coroutine());
    qemu_coroutine_enter(inner); /* its yield comes back here */
    step("outer-end");
}

static void test_nested(void)
{
    inner = qemu_coroutine_create(co_inner, NULL);
    qemu_coroutine_enter(qemu_coroutine_create(co_outer, NULL));
    step("main");
    qemu_coroutine_enter(inner);
    check_trace("outer inner outer-end main inner-end ");
}

static void test_main_context_deadlock(void)
{
    if (g_test_subprocess()) {
        Coroutine *holder = qemu_coroutine_create(co_holder, NULL);

        qemu_co_mutex_init(&mutex);
        qemu_coroutine_enter(holder);
        qemu_co_mutex_lock(&mutex); /* only the holder could release it */
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*cannot wait for a lock outside a coroutine: "
                              "a suspended request holds it*");
}

int main(int argc, char **argv)
{
    trace = g_string_new(NULL);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/coroutine/enter-yield", test_enter_yield);
    g_test_add_func("/coroutine/queue-order", test_queue_order);
    g_test_add_func("/coroutine/mutex", test_mutex);
    g_test_add_func("/coroutine/nested", test_nested);
    g_test_add_func("/coroutine/main-context-deadlock",
                    test_main_context_deadlock);
    return g_test_run();
}
