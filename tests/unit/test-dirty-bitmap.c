/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-dirty-bitmap.c: the in-memory dirty bitmaps of block/dirty-bitmap.c
 * on a null-co node: marking by writes, sparse chunks, the serialized form
 * qcow2 stores, merges across granularities, resizing, the checks.
 */
#include "qemu/osdep.h"

#include <glib.h>

#include "block/block.h"
#include "block/dirty-bitmap.h"

static BlockDriverState *open_null(int64_t size)
{
    QDict *opts = qdict_new();
    Error *err = NULL;
    char buf[32];
    BlockDriverState *bs;

    snprintf(buf, sizeof(buf), "%" PRId64, size);
    qdict_put_str(opts, "driver", "null-co");
    qdict_put_str(opts, "size", buf);
    bs = bdrv_open(NULL, opts, BDRV_O_RDWR, &err);
    g_assert_null(err);
    g_assert_nonnull(bs);
    return bs;
}

static void test_writes_mark(void)
{
    BlockDriverState *bs = open_null(64 * 1024 * 1024);
    Error *err = NULL;
    BdrvDirtyBitmap *a = bdrv_create_dirty_bitmap(bs, 65536, "a", &err);
    BdrvDirtyBitmap *d = bdrv_create_dirty_bitmap(bs, 512, "d", &err);

    g_assert_nonnull(a);
    g_assert_null(bdrv_create_dirty_bitmap(bs, 4096, "a", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap already exists: a");
    error_free(err);
    err = NULL;
    bdrv_disable_dirty_bitmap(d);
    g_assert_cmpint(bdrv_pwrite(bs, 70000, 1, "x", 0), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(a), ==, 65536);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(a, 0), ==, 65536);
    g_assert_cmpint(bdrv_dirty_bitmap_next_zero(a, 65536), ==, 131072);
    g_assert_cmpint(bdrv_get_dirty_count(d), ==, 0);
    /* The last chunk of the disk, then the whole. */
    bdrv_set_dirty_bitmap(d, 64 * 1024 * 1024 - 1, 100);
    g_assert_cmpint(bdrv_get_dirty_count(d), ==, 512);
    bdrv_set_dirty_bitmap(d, 0, INT64_MAX / 2);
    g_assert_cmpint(bdrv_get_dirty_count(d), ==, 64 * 1024 * 1024);
    bdrv_reset_dirty_bitmap(d, 512, 64 * 1024 * 1024 - 1024);
    g_assert_cmpint(bdrv_get_dirty_count(d), ==, 1024);
    bdrv_clear_dirty_bitmap(d);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(d, 0), ==, -1);
    bdrv_unref(bs);
}

static void test_serialize(void)
{
    BlockDriverState *bs = open_null(10 * 1024 * 1024);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 65536, "s", NULL);
    BdrvDirtyBitmap *copy = bdrv_create_dirty_bitmap(bs, 65536, "c", NULL);
    uint8_t buf[64];

    /* 160 chunks: 20 bytes, padded to 24. */
    g_assert_cmpint(bdrv_dirty_bitmap_serialized_size(bm), ==, 24);
    bdrv_set_dirty_bitmap(bm, 0, 1);
    bdrv_set_dirty_bitmap(bm, 9 * 65536, 65536);
    bdrv_set_dirty_bitmap(bm, 159 * 65536, 65536);
    memset(buf, 0xaa, sizeof(buf));
    bdrv_dirty_bitmap_serialize(bm, buf, 0, 24);
    g_assert_cmphex(buf[0], ==, 0x01);
    g_assert_cmphex(buf[1], ==, 0x02);
    g_assert_cmphex(buf[19], ==, 0x80);
    g_assert_cmphex(buf[20], ==, 0);
    g_assert_true(bdrv_dirty_bitmap_serialized_dirty(bm, 16, 8));
    g_assert_false(bdrv_dirty_bitmap_serialized_dirty(bm, 2, 8));
    bdrv_dirty_bitmap_deserialize(copy, buf, 0, 24);
    g_assert_cmpint(bdrv_get_dirty_count(copy), ==, 3 * 65536);
    /* Bits past the end stay clear. */
    bdrv_dirty_bitmap_deserialize_ones(copy, 0, 24);
    g_assert_cmpint(bdrv_get_dirty_count(copy), ==, 10 * 1024 * 1024);
    bdrv_unref(bs);
}

static void test_merge_and_resize(void)
{
    BlockDriverState *bs = open_null(4 * 1024 * 1024);
    BdrvDirtyBitmap *fine = bdrv_create_dirty_bitmap(bs, 512, "f", NULL);
    BdrvDirtyBitmap *coarse = bdrv_create_dirty_bitmap(bs, 1048576, "c",
                                                       NULL);
    Error *err = NULL;

    bdrv_set_dirty_bitmap(fine, 1048576 + 512, 512);
    g_assert_cmpint(bdrv_merge_dirty_bitmap(coarse, fine, &err), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(coarse), ==, 1048576);
    g_assert_cmpint(bdrv_merge_dirty_bitmap(fine, coarse, &err), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(fine), ==, 1048576);
    bdrv_dirty_bitmap_set_inconsistent(coarse);
    g_assert_false(bdrv_dirty_bitmap_enabled(coarse));
    g_assert_cmpint(bdrv_merge_dirty_bitmap(fine, coarse, &err), ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Bitmap 'c' is inconsistent and cannot be used");
    error_free(err);
    err = NULL;
    bdrv_dirty_bitmap_truncate(bs, 1048576 + 1024);
    g_assert_cmpint(bdrv_get_dirty_count(fine), ==, 1024);
    bdrv_dirty_bitmap_truncate(bs, 8 * 1048576);
    g_assert_cmpint(bdrv_get_dirty_count(fine), ==, 1024);
    g_assert_cmpint(bdrv_dirty_bitmap_size(fine), ==, 8 * 1048576);
    bdrv_release_dirty_bitmap(fine);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "f"));
    g_assert_true(bdrv_find_dirty_bitmap(bs, "c") == coarse);
    bdrv_unref(bs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-bitmap/writes-mark", test_writes_mark);
    g_test_add_func("/dirty-bitmap/serialize", test_serialize);
    g_test_add_func("/dirty-bitmap/merge-and-resize", test_merge_and_resize);
    return g_test_run();
}
