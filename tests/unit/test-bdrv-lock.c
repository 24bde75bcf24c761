/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-bdrv-lock.c: the serialization lock (bdrv_lock and friends).
 * Nesting, shared vs exclusive across processes, try and timeout, EINTR,
 * per-node counters, threads, and that it never touches QEMU's bytes.
 */
#include "block-test-helpers.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/time.h>

static char *tmpdir;

static const OpenSpec spec_rw = { .flags = BDRV_O_RDWR };
static const OpenSpec spec_ro = { .flags = 0 };
static const OpenSpec spec_rw_locked = { .flags = BDRV_O_RDWR, .serial = 1 };
static const OpenSpec spec_ro_locked = { .flags = 0, .serial = 1 };

static BlockBackend *open_ok(const char *img, const OpenSpec *s)
{
    Error *err = NULL;
    BlockBackend *blk = spec_open(img, s, &err);

    g_assert_null(err);
    g_assert_nonnull(blk);
    return blk;
}

static void start_ok(Holder *h, const char *img, const OpenSpec *s)
{
    char *line = holder_start(h, img, s);

    g_assert_cmpstr(line, ==, "OK");
    g_free(line);
}

/* Nested calls count; the OS lock follows only the outermost pair. */
static void test_nesting(void)
{
    char *img = make_image(tmpdir, "nest.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_rw);
    BlockDriverState *bs = blk_bs(blk);
    Error *err = NULL;

    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 0);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_UNLCK);
    g_assert_cmpint(bdrv_lock(bs, &err), ==, 0);
    g_assert_cmpint(bdrv_lock(bs, &err), ==, 0);
    g_assert_cmpint(bdrv_trylock(bs, &err), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 3);
    /* Read-write node: exclusive. */
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_WRLCK);
    /* The format node forwards to its file node: one counter. */
    g_assert_cmpuint(bdrv_lock_depth(bdrv_file_bs(bs)), ==, 3);

    g_assert_cmpint(bdrv_unlock(bs, &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(bdrv_file_bs(bs), &err), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 1);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_WRLCK);
    g_assert_cmpint(bdrv_unlock(bs, &err), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 0);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_UNLCK);
    g_assert_null(err);
    blk_unref(blk);
    g_free(img);
}

static void test_unlock_without_lock(void)
{
    char *img = make_image(tmpdir, "nolock.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_ro);
    Error *err = NULL;

    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, -ENOLCK);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "not held"));
    error_free_or_abort(&err);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 0);
    /* Still usable afterwards. */
    g_assert_cmpint(bdrv_lock(blk_bs(blk), &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, -ENOLCK);
    error_free_or_abort(&err);
    blk_unref(blk);
    g_free(img);
}

/* Shared locks coexist; exclusive excludes both ways, across processes. */
static void test_shared_vs_exclusive(void)
{
    char *img = make_image(tmpdir, "modes.raw", 64 * KiB);
    BlockBackend *ro = open_ok(img, &spec_ro);
    BlockBackend *rw = open_ok(img, &spec_rw);
    Error *err = NULL;
    Holder h;

    /* Another process holds it shared. */
    start_ok(&h, img, &spec_ro_locked);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_RDLCK);
    g_assert_cmpint(bdrv_trylock(blk_bs(ro), &err), ==, 0);
    g_assert_cmpint(bdrv_trylock(blk_bs(rw), &err), ==, -EAGAIN);
    g_assert_nonnull(err);
    error_free_or_abort(&err);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(rw)), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(ro), &err), ==, 0);
    holder_stop(&h);

    /* Another process holds it exclusively. */
    start_ok(&h, img, &spec_rw_locked);
    g_assert_cmpint(bdrv_trylock(blk_bs(ro), &err), ==, -EAGAIN);
    error_free_or_abort(&err);
    g_assert_cmpint(bdrv_trylock(blk_bs(rw), &err), ==, -EAGAIN);
    error_free_or_abort(&err);
    holder_stop(&h);

    /* Gone: both modes work again. */
    g_assert_cmpint(bdrv_trylock(blk_bs(rw), &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(rw), &err), ==, 0);
    g_assert_null(err);
    blk_unref(ro);
    blk_unref(rw);
    g_free(img);
}

/* A held lock times out; once released, a waiting lock gets it. */
static void test_timeout(void)
{
    char *img = make_image(tmpdir, "timeout.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_ro);
    Error *err = NULL;
    char *line;
    Holder h;

    start_ok(&h, img, &spec_rw_locked);
    g_assert_cmpint(bdrv_lock_timeout(blk_bs(blk), 30, &err), ==, -ETIMEDOUT);
    g_assert_nonnull(err);
    error_free_or_abort(&err);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 0);
    g_assert_cmpint(bdrv_lock_timeout(blk_bs(blk), 0, &err), ==, -EAGAIN);
    error_free_or_abort(&err);
    g_assert_cmpint(bdrv_lock_timeout(blk_bs(blk), -1, &err), ==, -EINVAL);
    error_free_or_abort(&err);

    line = holder_cmd(&h, "unlock");
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);
    /* Released (the holder confirmed): a generous timeout succeeds. */
    g_assert_cmpint(bdrv_lock_timeout(blk_bs(blk), 60000, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, 0);
    holder_stop(&h);
    blk_unref(blk);
    g_free(img);
}

/* Two images, and two opens of one image, have their own counters. */
static void test_per_node(void)
{
    char *a = make_image(tmpdir, "a.raw", 64 * KiB);
    char *b = make_image(tmpdir, "b.raw", 64 * KiB);
    BlockBackend *ba = open_ok(a, &spec_rw);
    BlockBackend *bb = open_ok(b, &spec_rw);
    BlockBackend *ba2 = open_ok(a, &spec_rw);
    Error *err = NULL;
    Holder h;

    g_assert_cmpint(bdrv_lock(blk_bs(ba), &err), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(ba)), ==, 1);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(bb)), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(ba2)), ==, 0);

    /* b is free for another process while a is held here. */
    start_ok(&h, b, &spec_rw_locked);
    holder_stop(&h);

    /* A second open of a in this process is a different owner. */
    g_assert_cmpint(bdrv_trylock(blk_bs(ba2), &err), ==, -EAGAIN);
    error_free_or_abort(&err);
    g_assert_cmpint(bdrv_unlock(blk_bs(ba), &err), ==, 0);
    g_assert_cmpint(bdrv_trylock(blk_bs(ba2), &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(ba2), &err), ==, 0);

    /* Closing a node drops its lock with it. */
    g_assert_cmpint(bdrv_lock(blk_bs(bb), &err), ==, 0);
    blk_unref(bb);
    g_assert_cmpint(probe_byte(b, RAW_LOCK_SERIAL_BYTE), ==, F_UNLCK);
    g_assert_null(err);

    blk_unref(ba);
    blk_unref(ba2);
    g_free(a);
    g_free(b);
}

static volatile int *signal_count; /* shared with the holder child */

static void on_alarm(int sig)
{
    (void)sig;
    __atomic_add_fetch(signal_count, 1, __ATOMIC_SEQ_CST);
}

/*
 * A blocking bdrv_lock() interrupted by signals (handler without
 * SA_RESTART) keeps waiting and acquires the lock once it is released.
 */
static void test_eintr(void)
{
    char *img = make_image(tmpdir, "eintr.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_ro);
    struct sigaction sa = { .sa_handler = on_alarm }, old;
    struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
    struct itimerval stop = { { 0, 0 }, { 0, 0 } };
    Error *err = NULL;
    int cmd[2], status, seen;
    pid_t pid;

    signal_count = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    g_assert(signal_count != MAP_FAILED);
    *signal_count = 0;
    g_assert_cmpint(pipe(cmd), ==, 0);

    /* The holder: lock, report, then release after 5 signals hit us. */
    {
        int rep[2];
        char c;

        g_assert_cmpint(pipe(rep), ==, 0);
        fflush(NULL);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
            BlockBackend *hb = spec_open(img, &spec_rw_locked, NULL);
            int64_t deadline = qemu_clock_monotonic_ns() + 20 * 1000000000LL;

            close(rep[0]);
            close(cmd[1]);
            write_all(rep[1], hb ? "K" : "E");
            /* Wait for "go", then for the parent's signal count. */
            while (read(cmd[0], &c, 1) < 0 && errno == EINTR) {
            }
            while (__atomic_load_n(signal_count, __ATOMIC_SEQ_CST) < 5 &&
                   qemu_clock_monotonic_ns() < deadline) {
                qemu_sleep_ns(1000000);
            }
            blk_unref(hb);
            _exit(0);
        }
        close(rep[1]);
        close(cmd[0]);
        g_assert_cmpint(read(rep[0], &c, 1), ==, 1);
        g_assert_cmpint(c, ==, 'K');
        close(rep[0]);
    }

    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: fcntl(F_OFD_SETLKW) gets EINTR */
    g_assert_cmpint(sigaction(SIGALRM, &sa, &old), ==, 0);
    write_all(cmd[1], "g");
    g_assert_cmpint(setitimer(ITIMER_REAL, &it, NULL), ==, 0);
    g_assert_cmpint(bdrv_lock(blk_bs(blk), &err), ==, 0);
    seen = __atomic_load_n(signal_count, __ATOMIC_SEQ_CST);
    g_assert_cmpint(setitimer(ITIMER_REAL, &stop, NULL), ==, 0);
    g_assert_cmpint(sigaction(SIGALRM, &old, NULL), ==, 0);
    g_assert_null(err);
    /* The holder only let go after 5 signals, all while we waited. */
    g_assert_cmpint(seen, >=, 5);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 1);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_RDLCK);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, 0);

    close(cmd[1]);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap((void *)signal_count, sizeof(int));
    blk_unref(blk);
    g_free(img);
}

/* Holding the serialization lock leaves QEMU's bytes alone. */
static void test_bytes_untouched(void)
{
    char *img = make_image(tmpdir, "bytes.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_rw);
    Error *err = NULL;

    g_assert_cmpint(blk_set_perm(blk, 0, BLK_PERM_ALL, &err), ==, 0);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    g_assert_cmpint(bdrv_lock(blk_bs(blk), &err), ==, 0);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    g_assert_cmpint(probe_byte(img, 0), ==, F_UNLCK); /* libvirt's byte */
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_WRLCK);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, 0);
    g_assert_null(err);
    blk_unref(blk);
    g_free(img);
}

/* A held serialization lock never makes a real qemu-io/qemu-img fail. */
static void test_real_tools_unaffected(void)
{
    char *img, *errtext = NULL;
    BlockBackend *blk;
    Error *err = NULL;
    int status;
    char *found = g_find_program_in_path("qemu-io");

    if (!found) {
        g_test_skip("requires the real qemu-io");
        return;
    }
    g_free(found);
    img = make_image(tmpdir, "real.raw", 64 * KiB);
    blk = open_ok(img, &spec_rw);
    g_assert_cmpint(blk_set_perm(blk, 0, BLK_PERM_ALL, &err), ==, 0);
    g_assert_cmpint(bdrv_lock(blk_bs(blk), &err), ==, 0);
    {
        /* Writer with "don't share write" and a locking reader. */
        char *io[] = { (char *)"qemu-io", (char *)"-f", (char *)"raw",
                       (char *)"-c", (char *)"write 0 512", img, NULL };
        char *conv_out = g_build_filename(tmpdir, "real.out", NULL);
        char *conv[] = { (char *)"qemu-img", (char *)"convert", (char *)"-f",
                         (char *)"raw", (char *)"-O", (char *)"raw", img,
                         conv_out, NULL };
        GError *gerr = NULL;

        g_assert_true(g_spawn_sync(NULL, io, NULL, G_SPAWN_SEARCH_PATH |
                                   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                   NULL, &errtext, &status, &gerr));
        g_assert_cmpstr(errtext, ==, "");
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_free(errtext);
        g_assert_true(g_spawn_sync(NULL, conv, NULL, G_SPAWN_SEARCH_PATH |
                                   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                   NULL, &errtext, &status, &gerr));
        g_assert_cmpstr(errtext, ==, "");
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_free(errtext);
        unlink(conv_out);
        g_free(conv_out);
    }
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 1);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, 0);
    blk_unref(blk);
    g_free(img);
}

static void test_locking_off(void)
{
    char *img = make_image(tmpdir, "off.raw", 64 * KiB);
    OpenSpec off = { .flags = BDRV_O_RDWR, .locking = "off" };
    BlockBackend *blk = open_ok(img, &off);
    Error *err = NULL;

    g_assert_cmpint(bdrv_lock(blk_bs(blk), &err), ==, -ENOTSUP);
    g_assert_nonnull(err);
    error_free_or_abort(&err);
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 0);
    g_assert_cmpint(bdrv_unlock(blk_bs(blk), &err), ==, -ENOLCK);
    error_free_or_abort(&err);
    blk_unref(blk);
    g_free(img);
}

typedef struct ThreadArg {
    BlockDriverState *bs;
    int iterations;
    int failures;
} ThreadArg;

static void *lock_thread(void *opaque)
{
    ThreadArg *a = opaque;
    int i;

    for (i = 0; i < a->iterations; i++) {
        if (bdrv_lock(a->bs, NULL) < 0 || bdrv_lock(a->bs, NULL) < 0 ||
            bdrv_unlock(a->bs, NULL) < 0 || bdrv_unlock(a->bs, NULL) < 0) {
            a->failures++;
        }
    }
    return NULL;
}

/* Concurrent nested pairs from threads keep the counter consistent. */
static void test_threads(void)
{
    char *img = make_image(tmpdir, "threads.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_rw);
    ThreadArg args[4];
    pthread_t th[4];
    int i;

    for (i = 0; i < 4; i++) {
        args[i] = (ThreadArg) { blk_bs(blk), 2000, 0 };
        g_assert_cmpint(pthread_create(&th[i], NULL, lock_thread, &args[i]),
                        ==, 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        g_assert_cmpint(args[i].failures, ==, 0);
    }
    g_assert_cmpuint(bdrv_lock_depth(blk_bs(blk)), ==, 0);
    g_assert_cmpint(probe_byte(img, RAW_LOCK_SERIAL_BYTE), ==, F_UNLCK);
    blk_unref(blk);
    g_free(img);
}

static void *blocking_lock_thread(void *opaque)
{
    BlockDriverState *bs = opaque;

    return (void *)(intptr_t)bdrv_lock(bs, NULL);
}

/*
 * While one thread waits for the OS lock, the others are not stuck behind
 * it: trylock and timeouts answer, and they count in once it is taken.
 */
static void test_threads_waiting(void)
{
    char *img = make_image(tmpdir, "waiting.raw", 64 * KiB);
    BlockBackend *blk = open_ok(img, &spec_ro);
    BlockDriverState *bs = blk_bs(blk);
    int64_t deadline = qemu_clock_monotonic_ns() + 20 * 1000000000LL;
    Error *err = NULL;
    bool seen = false;
    pthread_t th;
    void *res;
    char *line;
    Holder h;

    start_ok(&h, img, &spec_rw_locked);
    g_assert_cmpint(pthread_create(&th, NULL, blocking_lock_thread, bs), ==,
                    0);
    /* Wait (bounded) until the thread is the one waiting in the OS. */
    while (!seen && qemu_clock_monotonic_ns() < deadline) {
        g_assert_cmpint(bdrv_trylock(bs, &err), ==, -EAGAIN);
        seen = strstr(error_get_pretty(err), "another thread") != NULL;
        error_free_or_abort(&err);
        if (!seen) {
            qemu_sleep_ns(1000000);
        }
    }
    g_assert_true(seen);
    g_assert_cmpint(bdrv_lock_timeout(bs, 20, &err), ==, -ETIMEDOUT);
    error_free_or_abort(&err);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 0);

    line = holder_cmd(&h, "unlock");
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);
    g_assert_cmpint(pthread_join(th, &res), ==, 0);
    g_assert_cmpint((intptr_t)res, ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 1);
    g_assert_cmpint(bdrv_lock_timeout(bs, 1000, &err), ==, 0);
    g_assert_cmpuint(bdrv_lock_depth(bs), ==, 2);
    g_assert_cmpint(bdrv_unlock(bs, &err), ==, 0);
    g_assert_cmpint(bdrv_unlock(bs, &err), ==, 0);
    g_assert_null(err);
    holder_stop(&h);
    blk_unref(blk);
    g_free(img);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-bdrv-lock");
    tmpdir = g_dir_make_tmp("bdrv-lock-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/bdrv-lock/nesting", test_nesting);
    g_test_add_func("/bdrv-lock/unlock-without-lock",
                    test_unlock_without_lock);
    g_test_add_func("/bdrv-lock/shared-vs-exclusive",
                    test_shared_vs_exclusive);
    g_test_add_func("/bdrv-lock/timeout", test_timeout);
    g_test_add_func("/bdrv-lock/per-node", test_per_node);
    g_test_add_func("/bdrv-lock/eintr", test_eintr);
    g_test_add_func("/bdrv-lock/perm-bytes-untouched", test_bytes_untouched);
    g_test_add_func("/bdrv-lock/real-tools-unaffected",
                    test_real_tools_unaffected);
    g_test_add_func("/bdrv-lock/locking-off", test_locking_off);
    g_test_add_func("/bdrv-lock/threads", test_threads);
    g_test_add_func("/bdrv-lock/threads-waiting", test_threads_waiting);
    ret = g_test_run();
    remove_tree(tmpdir);
    g_free(tmpdir);
    return ret;
}
