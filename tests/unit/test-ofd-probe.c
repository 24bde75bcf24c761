/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-ofd-probe.c: when the OFD lock probe of file-posix.c fails, the
 * failure is reported once, however many threads open files at that
 * moment, and its text is never freed under another reader.  A process of
 * its own: the probe runs once per process.
 */
#include "block-test-helpers.h"
#include "block/file-common.h"

#include <pthread.h>

#define OPENERS 8

static char *tmpdir;
static char *img;

static pthread_mutex_t warnings_lock = PTHREAD_MUTEX_INITIALIZER;
static GPtrArray *warnings;
static bool racer_in_sink;

static void open_close(void)
{
    Error *err = NULL;
    BlockDriverState *bs = bdrv_open(img, NULL, 0, &err);

    g_assert_null(err);
    g_assert_nonnull(bs);
    bdrv_unref(bs);
}

static void *opener(void *opaque)
{
    pthread_barrier_t *start = opaque;

    if (start) {
        pthread_barrier_wait(start);
    }
    open_close();
    return NULL;
}

/*
 * Warnings come here.  The first one is delivered between "the probe
 * failed and nobody has said so yet" and "it has been said": with
 * @racer_in_sink, open the image from another thread right there, as a
 * racing opener would, and wait for it.  That opener must stay silent.
 */
static void warning_sink(const char *msg, void *opaque)
{
    pthread_t racer;
    bool first;

    pthread_mutex_lock(&warnings_lock);
    g_ptr_array_add(warnings, g_strdup(msg));
    first = warnings->len == 1;
    pthread_mutex_unlock(&warnings_lock);
    if (first && racer_in_sink) {
        g_assert_cmpint(pthread_create(&racer, NULL, opener, NULL), ==, 0);
        g_assert_cmpint(pthread_join(racer, NULL), ==, 0);
    }
}

/* Make the probe fail, and collect the warnings from now on. */
static char *fail_probe(void)
{
    char *missing = g_build_filename(tmpdir, "no-such-dir", "null", NULL);

    file_posix_set_ofd_probe_path(missing);
    warnings = g_ptr_array_new_with_free_func(g_free);
    warn_set_sink(warning_sink, NULL);
    return missing;
}

/* @n threads open the image at once and close it again. */
static void open_in_threads(int n)
{
    pthread_t threads[OPENERS];
    pthread_barrier_t start;
    int i;

    g_assert_cmpint(n, <=, OPENERS);
    pthread_barrier_init(&start, NULL, n);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(pthread_create(&threads[i], NULL, opener, &start),
                        ==, 0);
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(pthread_join(threads[i], NULL), ==, 0);
    }
    pthread_barrier_destroy(&start);
}

/* Exactly one warning, the probe's; then stop collecting. */
static void check_one_warning(const char *missing)
{
    char *expected = g_strdup_printf("Failed to open %s for OFD lock probing: "
                                     "No such file or directory", missing);

    warn_set_sink(NULL, NULL);
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, expected);
    g_ptr_array_free(warnings, true);
    g_free(expected);
}

/* Each case in a fresh process, since the probe runs once per process. */
static void run_in_subprocess(void (*body)(void))
{
    if (g_test_subprocess()) {
        body();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT |
                                    G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

/*
 * Deterministic: an opener arrives while the failure is being reported
 * (see warning_sink()), then more open at once after the report.
 */
static void opener_during_report(void)
{
    char *missing = fail_probe();

    racer_in_sink = true;
    open_close();
    open_in_threads(OPENERS);
    check_one_warning(missing);
    g_free(missing);
}

/* The first opens of the process all at once (a race for the sanitizers). */
static void first_opens_at_once(void)
{
    char *missing = fail_probe();

    open_in_threads(OPENERS);
    check_one_warning(missing);
    g_free(missing);
}

static void test_opener_during_report(void)
{
    run_in_subprocess(opener_during_report);
}

static void test_first_opens_at_once(void)
{
    run_in_subprocess(first_opens_at_once);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-ofd-probe");
    tmpdir = g_dir_make_tmp("ofd-probe-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    /* Not through the block layer: its first use must be the test's. */
    img = g_build_filename(tmpdir, "probe.raw", NULL);
    g_assert_true(g_file_set_contents(img, "", 0, NULL));
    g_test_add_func("/ofd-probe/opener-during-report",
                    test_opener_during_report);
    g_test_add_func("/ofd-probe/first-opens-at-once",
                    test_first_opens_at_once);
    ret = g_test_run();
    g_free(img);
    remove_tree(tmpdir);
    g_free(tmpdir);
    return ret;
}
