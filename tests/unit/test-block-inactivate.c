/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-block-inactivate.c: shared-storage hand-over of a qcow2 image
 * (blk_inactivate/blk_activate): every permission lock released, writes
 * refused while inactive, and the other owner's changes seen afterwards.
 */
#include "block-test-helpers.h"
#include "block/block_int.h"

static char *tmpdir;

static char *make_qcow2(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    Error *err = NULL;
    QDict *opts = qdict_new();

    qdict_put_int(opts, "size", 16 * MiB);
    g_assert_cmpint(bdrv_create(bdrv_find_format("qcow2"), path, opts, &err),
                    ==, 0);
    g_assert_null(err);
    qdict_free(opts);
    return path;
}

static BlockBackend *open_qcow2(const char *path, int flags)
{
    QDict *o = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;

    qdict_put_str(o, "driver", "qcow2");
    blk = blk_new_open(path, o, flags, &err);
    if (err) {
        g_test_message("open: %s", error_get_pretty(err));
    }
    g_assert_null(err);
    g_assert_nonnull(blk);
    return blk;
}

static void write_pattern(BlockBackend *blk, int64_t off, int c)
{
    uint8_t buf[4096];

    memset(buf, c, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, off, sizeof(buf), buf, 0), ==, 0);
}

static void check_pattern(BlockBackend *blk, int64_t off, int c)
{
    uint8_t buf[4096], want[4096];

    memset(want, c, sizeof(want));
    g_assert_cmpint(blk_pread(blk, off, sizeof(buf), buf), ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
}

/* Locks: all gone while inactive, the same ones back once active. */
static void test_locks_released(void)
{
    char *img = make_qcow2("locks.qcow2");
    BlockBackend *blk = open_qcow2(img, BDRV_O_RDWR);
    Error *err = NULL;
    unsigned held;
    uint8_t buf[512] = { 0 };

    held = locked_perm_bytes(img);
    /* qcow2 writes its metadata: write and resize held, both unshared */
    g_assert_cmphex(held & 0x0a, ==, 0x0a);
    g_assert_cmphex(held & 0xa0, ==, 0xa0);

    g_assert_cmpint(blk_inactivate(blk, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    g_assert_true(blk_bs(blk)->open_flags & BDRV_O_INACTIVE);
    g_assert_true(bdrv_file_bs(blk_bs(blk))->open_flags & BDRV_O_INACTIVE);
    g_assert_cmpint(blk_pwrite(blk, 0, sizeof(buf), buf, 0), ==, -EPERM);
    /* idempotent */
    g_assert_cmpint(blk_inactivate(blk, &err), ==, 0);

    g_assert_cmpint(blk_activate(blk, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmphex(locked_perm_bytes(img), ==, held);
    g_assert_cmpint(blk_pwrite(blk, 0, sizeof(buf), buf, 0), ==, 0);
    blk_unref(blk);
    g_assert_cmphex(locked_perm_bytes(img), ==, 0);
    unlink(img);
    g_free(img);
}

/* Another owner allocates clusters meanwhile: A sees them afterwards. */
static void test_changes_seen(void)
{
    char *img = make_qcow2("handover.qcow2");
    BlockBackend *a = open_qcow2(img, BDRV_O_RDWR);
    BlockBackend *b, *c;
    BdrvCheckResult res;
    Error *err = NULL;

    write_pattern(a, 0, 0x11);
    check_pattern(a, 0, 0x11);      /* L2 table cached */
    check_pattern(a, 8 * MiB, 0);   /* unallocated: cached as such */
    g_assert_cmpint(blk_inactivate(a, &err), ==, 0);

    /* B can open it read-write: A holds no lock any more. */
    b = open_qcow2(img, BDRV_O_RDWR);
    write_pattern(b, 0, 0x22);
    write_pattern(b, 8 * MiB, 0x33);
    write_pattern(b, 12 * MiB, 0x44);
    blk_unref(b);

    /* The serialization lock works on the inactive node and reloads. */
    g_assert_cmpint(bdrv_lock(blk_bs(a), &err), ==, 0);
    g_assert_null(err);
    check_pattern(a, 8 * MiB, 0x33);
    g_assert_cmpint(bdrv_unlock(blk_bs(a), &err), ==, 0);

    b = open_qcow2(img, BDRV_O_RDWR);
    write_pattern(b, 4 * MiB, 0x55);
    blk_unref(b);

    g_assert_cmpint(blk_activate(a, &err), ==, 0);
    g_assert_null(err);
    check_pattern(a, 0, 0x22);
    check_pattern(a, 4 * MiB, 0x55);
    check_pattern(a, 8 * MiB, 0x33);
    check_pattern(a, 12 * MiB, 0x44);
    /* A allocates after B's clusters instead of over them. */
    write_pattern(a, 14 * MiB, 0x66);
    blk_unref(a);

    c = open_qcow2(img, 0);
    memset(&res, 0, sizeof(res));
    g_assert_cmpint(bdrv_check(blk_bs(c), &res, 0), ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_cmpint(res.leaks, ==, 0);
    check_pattern(c, 0, 0x22);
    check_pattern(c, 4 * MiB, 0x55);
    check_pattern(c, 8 * MiB, 0x33);
    check_pattern(c, 12 * MiB, 0x44);
    check_pattern(c, 14 * MiB, 0x66);
    blk_unref(c);
    unlink(img);
    g_free(img);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-block-inactivate-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    g_test_add_func("/block/inactivate/locks-released", test_locks_released);
    g_test_add_func("/block/inactivate/changes-seen", test_changes_seen);
    ret = g_test_run();
    remove_tree(tmpdir);
    g_free(tmpdir);
    return ret;
}
