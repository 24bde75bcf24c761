/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-perm-locks.c: the permission locks of the file driver.  The bytes
 * each kind of open takes (reference §2.3), the conflict matrix of iotest
 * 153 across processes, rollback, loosening, and one check against the
 * real qemu-img.
 */
#include "block-test-helpers.h"

#define B(n) (1u << ((n) >= 200 ? (n) - 200 + 4 : (n) - 100))

static char *tmpdir;

/* Device-style users as in iotest 153 (qemu-system -drive ...). */
static const OpenSpec spec_rw = {
    .flags = BDRV_O_RDWR, .set_perm = true,
    .perm = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
    .shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED |
              BLK_PERM_RESIZE,
};
static const OpenSpec spec_ro = {
    .flags = 0, .set_perm = true,
    .perm = BLK_PERM_CONSISTENT_READ,
    .shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED |
              BLK_PERM_RESIZE,
};
static const OpenSpec spec_ro_u = {
    .flags = 0, .force_share = true, .set_perm = true,
    .perm = BLK_PERM_CONSISTENT_READ,
    .shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED |
              BLK_PERM_RESIZE,
};

/* Bytes our blk_new_open() takes, per the verified table of QEMU 7.2. */
static void test_bytes_per_command(void)
{
    static const struct {
        const char *what;
        int flags;
        bool force_share;
        unsigned bytes;
    } cases[] = {
        { "qemu-img info", BDRV_O_NO_IO | BDRV_O_NO_BACKING, false, 0 },
        { "qemu-img check/map", 0, false, B(100) },
        { "convert source", BDRV_O_NO_SHARE, false,
          B(100) | B(201) | B(203) },
        { "convert source -U", BDRV_O_NO_SHARE, true, B(100) },
        { "qemu-img resize", BDRV_O_RDWR | BDRV_O_RESIZE, false,
          B(100) | B(101) | B(103) },
        { "qemu-io", BDRV_O_RDWR | BDRV_O_UNMAP, false, B(100) | B(101) },
        { "qemu-io -r", BDRV_O_UNMAP, false, B(100) },
        { "qemu-io -r -U", BDRV_O_UNMAP, true, B(100) },
    };
    char *img = make_image(tmpdir, "bytes.raw", 1 * MiB);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        OpenSpec s = { .flags = cases[i].flags,
                       .force_share = cases[i].force_share };
        Error *err = NULL;
        BlockBackend *blk = spec_open(img, &s, &err);

        g_test_message("%s", cases[i].what);
        g_assert_null(err);
        g_assert_nonnull(blk);
        g_assert_cmphex(locked_perm_bytes(img), ==, cases[i].bytes);
        blk_unref(blk);
        g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    }
    g_free(img);
}

static void expect_conflict(const char *img, const OpenSpec *s,
                            const char *msg)
{
    Error *err = NULL;
    BlockBackend *blk = spec_open(img, s, &err);
    char *hint;

    if (!msg) {
        g_assert_null(err);
        g_assert_nonnull(blk);
        blk_unref(blk);
        return;
    }
    g_assert_null(blk);
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    hint = g_strdup_printf("Is another process using the image [%s]?\n", img);
    g_assert_cmpstr(error_get_hint(err), ==, hint);
    g_free(hint);
    error_free(err);
}

/* iotest 153's 3x3 matrix: a holder in another process vs each opener. */
static void test_conflict_matrix(void)
{
    static const char *const w = "Failed to get \"write\" lock";
    static const char *const sw = "Failed to get shared \"write\" lock";
    const OpenSpec *specs[3] = { &spec_rw, &spec_ro, &spec_ro_u };
    const char *expected[3][3] = {
        /* holder RW */  { w, sw, NULL },
        /* holder RO */  { w, NULL, NULL },
        /* holder RO+U */ { NULL, NULL, NULL },
    };
    char *img = make_image(tmpdir, "matrix.raw", 1 * MiB);
    int h, o;

    for (h = 0; h < 3; h++) {
        Holder holder;
        char *line = holder_start(&holder, img, specs[h]);

        g_assert_cmpstr(line, ==, "OK");
        g_free(line);
        for (o = 0; o < 3; o++) {
            g_test_message("holder %d opener %d", h, o);
            expect_conflict(img, specs[o], expected[h][o]);
        }
        holder_stop(&holder);
    }
    /* With every holder gone, no byte stays locked. */
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    g_free(img);
}

/* Two opens in one process conflict too (OFD locks are per open file). */
static void test_same_process(void)
{
    char *img = make_image(tmpdir, "same.raw", 1 * MiB);
    Error *err = NULL;
    BlockBackend *a = spec_open(img, &spec_rw, &err);

    g_assert_nonnull(a);
    expect_conflict(img, &spec_rw, "Failed to get \"write\" lock");
    expect_conflict(img, &spec_ro_u, NULL);
    blk_unref(a);
    g_free(img);
}

/*
 * A failed tightening leaves the node exactly as it was: its extra bytes
 * are released again and its old permissions still hold.
 */
static void test_failed_update_rolls_back(void)
{
    char *img = make_image(tmpdir, "rollback.raw", 1 * MiB);
    /* Metadata-only open: holds nothing, shares everything. */
    OpenSpec weak = { .flags = BDRV_O_RDWR | BDRV_O_NO_IO };
    Error *err = NULL;
    BlockBackend *blk;
    Holder holder;
    char *line;

    line = holder_start(&holder, img, &spec_ro);
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);
    g_assert_cmphex(locked_perm_bytes(img), ==, B(100) | B(201));

    blk = spec_open(img, &weak, &err);
    g_assert_nonnull(blk);
    g_assert_cmpint(blk_set_perm(blk, spec_rw.perm, spec_rw.shared, &err),
                    ==, -EAGAIN);
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"write\" lock");
    error_free_or_abort(&err);
    /* Our 101 was dropped again; only the holder's bytes remain. */
    g_assert_cmphex(locked_perm_bytes(img), ==, B(100) | B(201));
    holder_stop(&holder);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);

    /* The old (empty) permissions still apply; now tightening works. */
    g_assert_cmpint(blk_set_perm(blk, spec_rw.perm, spec_rw.shared, &err),
                    ==, 0);
    g_assert_cmphex(locked_perm_bytes(img), ==, B(100) | B(101) | B(201));
    blk_unref(blk);
    g_free(img);
}

/* Loosening never fails, even while a conflicting holder is present. */
static void test_loosening_never_fails(void)
{
    char *img = make_image(tmpdir, "loosen.raw", 1 * MiB);
    Error *err = NULL;
    BlockBackend *blk;
    Holder holder;
    char *line;

    blk = spec_open(img, &spec_rw, &err);
    g_assert_nonnull(blk);
    line = holder_start(&holder, img, &spec_ro_u);
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);

    /*
     * Someone takes "refuses write" without checking (a racing tool, a
     * lock the kernel handed out on a network filesystem...).  Even now,
     * sharing more while keeping what we hold must succeed.
     */
    {
        struct flock fl = { .l_whence = SEEK_SET, .l_start = 201,
                            .l_len = 1, .l_type = F_RDLCK };
        int fd = open(img, O_RDONLY);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(fcntl(fd, F_OFD_SETLK, &fl), ==, 0);
        g_assert_cmpint(blk_set_perm(blk, spec_rw.perm, BLK_PERM_ALL, &err),
                        ==, 0);
        g_assert_null(err);
        /* Tightening is checked, and fails. */
        g_assert_cmpint(blk_set_perm(blk, spec_rw.perm | BLK_PERM_RESIZE,
                                     spec_rw.shared, &err), ==, -EAGAIN);
        g_assert_cmpstr(error_get_pretty(err), ==,
                        "Failed to get \"write\" lock");
        error_free_or_abort(&err);
        close(fd);
    }

    /* Then drop write, then everything, step by step. */
    g_assert_cmpint(blk_set_perm(blk, BLK_PERM_CONSISTENT_READ,
                                 BLK_PERM_ALL, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmpint(blk_set_perm(blk, 0, BLK_PERM_ALL, &err), ==, 0);
    g_assert_null(err);
    holder_stop(&holder);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    blk_unref(blk);
    g_free(img);
}

/* locking=off takes no bytes and sees no conflicts. */
static void test_locking_off(void)
{
    char *img = make_image(tmpdir, "off.raw", 1 * MiB);
    OpenSpec off = spec_rw;
    Error *err = NULL;
    BlockBackend *a, *b;

    off.locking = "off";
    a = spec_open(img, &spec_rw, &err);
    g_assert_nonnull(a);
    b = spec_open(img, &off, &err);
    g_assert_null(err);
    g_assert_nonnull(b);
    blk_unref(a);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    blk_unref(b);

    off.locking = "bogus";
    g_assert_null(spec_open(img, &off, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "invalid parameter value: bogus");
    error_free_or_abort(&err);
    g_free(img);
}

/* Creating an image in use fails before anything is truncated. */
static void test_create_in_use(void)
{
    char *img = make_image(tmpdir, "create.raw", 1 * MiB);
    QDict *opts = qdict_new();
    Error *err = NULL;
    Holder holder;
    char *line;

    line = holder_start(&holder, img, &spec_ro);
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);
    qdict_put_int(opts, "size", 4096);
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), img, opts, &err),
                    <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"write\" lock");
    error_free_or_abort(&err);
    holder_stop(&holder);
    {
        struct stat st;
        g_assert_cmpint(stat(img, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 1 * MiB);
    }
    qdict_free(opts);
    g_free(img);
}

/*
 * An inactive open (incoming migration) locks nothing and ignores holders;
 * blk_activate() then takes the permissions for real, or fails cleanly.
 */
static void test_inactive_then_activate(void)
{
    char *img = make_image(tmpdir, "inactive.raw", 1 * MiB);
    OpenSpec incoming = spec_rw;
    Error *err = NULL;
    BlockBackend *blk;
    Holder holder;
    char *line;

    incoming.flags |= BDRV_O_INACTIVE;
    line = holder_start(&holder, img, &spec_rw);
    g_assert_cmpstr(line, ==, "OK");
    g_free(line);

    blk = spec_open(img, &incoming, &err);
    g_assert_null(err);
    g_assert_nonnull(blk);
    g_assert_cmpint(blk_activate(blk, &err), ==, -EAGAIN);
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"write\" lock");
    error_free_or_abort(&err);
    holder_stop(&holder);
    /* The failed activation left nothing behind. */
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);

    g_assert_cmpint(blk_activate(blk, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmphex(locked_perm_bytes(img), ==, B(100) | B(101) | B(201));
    g_assert_cmpint(blk_activate(blk, &err), ==, 0); /* idempotent */
    blk_unref(blk);
    g_free(img);
}

/* A foreign whole-file write lock: QEMU's "Failed to lock byte 100". */
static void test_foreign_write_lock(void)
{
    char *img = make_image(tmpdir, "foreign.raw", 1 * MiB);
    struct flock fl = { .l_whence = SEEK_SET, .l_start = 0, .l_len = 0,
                        .l_type = F_WRLCK };
    OpenSpec qemu_io_r = { .flags = 0 };
    Error *err = NULL;
    int fd = open(img, O_RDWR);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_OFD_SETLK, &fl), ==, 0);
    g_assert_null(spec_open(img, &qemu_io_r, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to lock byte 100");
    g_assert_null(error_get_hint(err));
    error_free_or_abort(&err);
    close(fd);
    expect_conflict(img, &qemu_io_r, NULL);
    g_free(img);
}

/* Run @argv, return its exit status and stderr (g_free()). */
static int run_capture(char **argv, char **err_out)
{
    GError *gerr = NULL;
    int status = -1;

    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH |
                      G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_out,
                      &status, &gerr)) {
        g_error("spawn %s: %s", argv[0], gerr->message);
    }
    return status;
}

/* The real qemu-img sees our locks, with QEMU's own message. */
static void test_real_qemu_img_sees_us(void)
{
    char *img, *out, *errtext = NULL, *expected;
    char *argv[] = { (char *)"qemu-img", (char *)"convert", (char *)"-f",
                     (char *)"raw", (char *)"-O", (char *)"raw", NULL, NULL,
                     NULL };
    OpenSpec qemu_io = { .flags = BDRV_O_RDWR | BDRV_O_UNMAP };
    Error *err = NULL;
    BlockBackend *blk;
    int status;
    char *found = g_find_program_in_path("qemu-img");

    if (!found) {
        g_test_skip("requires the real qemu-img");
        return;
    }
    g_free(found);
    img = make_image(tmpdir, "interop.raw", 1 * MiB);
    out = g_build_filename(tmpdir, "interop.out", NULL);
    argv[6] = img;
    argv[7] = out;

    blk = spec_open(img, &qemu_io, &err);
    g_assert_nonnull(blk);
    status = run_capture(argv, &errtext);
    g_assert_false(g_spawn_check_wait_status(status, NULL));
    expected = g_strdup_printf("qemu-img: Could not open '%s': Failed to get "
                               "shared \"write\" lock\n"
                               "Is another process using the image [%s]?\n",
                               img, img);
    g_assert_cmpstr(errtext, ==, expected);
    g_free(errtext);
    g_free(expected);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));

    /* Released: the same command succeeds. */
    blk_unref(blk);
    status = run_capture(argv, &errtext);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_cmpstr(errtext, ==, "");
    g_free(errtext);
    unlink(out);
    g_free(out);
    g_free(img);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-perm-locks");
    tmpdir = g_dir_make_tmp("perm-locks-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/perm-locks/bytes-per-command", test_bytes_per_command);
    g_test_add_func("/perm-locks/conflict-matrix", test_conflict_matrix);
    g_test_add_func("/perm-locks/same-process", test_same_process);
    g_test_add_func("/perm-locks/rollback", test_failed_update_rolls_back);
    g_test_add_func("/perm-locks/loosening", test_loosening_never_fails);
    g_test_add_func("/perm-locks/locking-off", test_locking_off);
    g_test_add_func("/perm-locks/create-in-use", test_create_in_use);
    g_test_add_func("/perm-locks/foreign-write-lock",
                    test_foreign_write_lock);
    g_test_add_func("/perm-locks/inactive-activate",
                    test_inactive_then_activate);
    g_test_add_func("/perm-locks/real-qemu-img", test_real_qemu_img_sees_us);
    ret = g_test_run();
    remove_tree(tmpdir);
    g_free(tmpdir);
    return ret;
}
