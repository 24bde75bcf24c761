/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-block-open.c: opening node trees.  Option handling and QEMU's
 * error texts, probing (and raw's block-0 guard), request bounds, and
 * the 512-byte length rounding, snapshot mode's temporary overlay.
 */
#include "block-test-helpers.h"
#include "qemu/cutils.h"
#include "block/block_int.h"

static char *tmpdir;

/* bdrv_open() with "k=v,..." options; the error text, or NULL on success. */
static char *open_error(const char *filename, const char *keyval, int flags)
{
    QDict *opts = NULL;
    Error *err = NULL;
    BlockDriverState *bs;
    char *msg;

    if (keyval) {
        g_assert_cmpint(qdict_parse_keyval(&opts, keyval, NULL, &err), ==, 0);
    }
    bs = bdrv_open(filename, opts, flags, &err);
    if (bs) {
        g_assert_null(err);
        bdrv_unref(bs);
        return NULL;
    }
    g_assert_nonnull(err);
    msg = g_strdup(error_get_pretty(err));
    error_free(err);
    return msg;
}

static void check_open_error(const char *filename, const char *keyval,
                             int flags, const char *expected)
{
    char *msg = open_error(filename, keyval, flags);

    g_test_message("open %s %s", filename ? filename : "-",
                   keyval ? keyval : "");
    g_assert_cmpstr(msg, ==, expected);
    g_free(msg);
}

static void test_option_errors(void)
{
    char *img = make_image(tmpdir, "opts.raw", 64 * KiB);
    char *dir = g_build_filename(tmpdir, "adir", NULL);
    char *missing = g_build_filename(tmpdir, "missing", NULL);
    char *kv, *expected;

    g_assert_cmpint(mkdir(dir, 0755), ==, 0);

    kv = g_strdup_printf("driver=raw,file.filename=%s,foo=1", img);
    check_open_error(NULL, kv, 0,
                     "Block format 'raw' does not support the option 'foo'");
    g_free(kv);
    kv = g_strdup_printf("driver=file,filename=%s,foo=1", img);
    check_open_error(NULL, kv, 0,
                     "Block protocol 'file' doesn't support the option 'foo'");
    g_free(kv);
    kv = g_strdup_printf("driver=raw,file.filename=%s,file.foo=1", img);
    check_open_error(NULL, kv, 0,
                     "Block protocol 'file' doesn't support the option 'foo'");
    g_free(kv);
    check_open_error(img, "driver=bogus", 0, "Unknown driver 'bogus'");
    check_open_error(img, "read-only=bogus", 0,
                     "Parameter 'read-only' expects 'on' or 'off'");
    check_open_error(img, "file.locking=bogus", 0,
                     "invalid parameter value: bogus");
    check_open_error(img, "file.aio=bogus", 0,
                     "invalid parameter value: bogus");
    check_open_error(img, "force-share=on", BDRV_O_RDWR,
                     "force-share=on can only be used with read-only images");
    check_open_error(img, "force-share=on,read-only=off", 0,
                     "force-share=on can only be used with read-only images");

    expected = g_strdup_printf("'file' driver requires '%s' to be a regular "
                               "file", dir);
    check_open_error(dir, NULL, 0, expected);
    g_free(expected);
    expected = g_strdup_printf("Could not open '%s': No such file or "
                               "directory", missing);
    check_open_error(missing, NULL, 0, expected);
    g_free(expected);

    /* The good forms open. */
    check_open_error(img, NULL, 0, NULL);
    check_open_error(img, "driver=raw,read-only=on,force-share=on",
                     BDRV_O_RDWR, NULL);
    kv = g_strdup_printf("driver=raw,file.filename=%s,file.locking=off", img);
    check_open_error(NULL, kv, 0, NULL);
    g_free(kv);
    kv = g_strdup_printf("file:%s", img);
    check_open_error(kv, "driver=file", 0, NULL);
    g_free(kv);
    /* QEMU's file options that change nothing here: accepted on every host. */
    check_open_error(img, "file.aio=threads", 0, NULL);
    check_open_error(img, "file.aio=native", 0, NULL);
    check_open_error(img, "file.aio=io_uring", 0, NULL);
    check_open_error(img, "file.aio-max-batch=8,file.drop-cache=on,"
                     "file.x-check-cache-dropped=on", 0, NULL);

    rmdir(dir);
    g_free(dir);
    g_free(missing);
    g_free(img);
}

static void test_tree_shape(void)
{
    char *img = make_image(tmpdir, "tree.raw", 64 * KiB);
    Error *err = NULL;
    BlockDriverState *bs = bdrv_open(img, NULL, 0, &err);
    BlockDriverState *file;

    g_assert_nonnull(bs);
    g_assert_cmpstr(bdrv_get_format_name(bs), ==, "raw");
    g_assert_true(bdrv_is_read_only(bs));
    file = bdrv_file_bs(bs);
    g_assert_nonnull(file);
    g_assert_cmpstr(bdrv_get_format_name(file), ==, "file");
    g_assert_cmpstr(bdrv_get_filename(file), ==, img);
    g_assert_null(bdrv_backing_bs(bs));
    g_assert_null(bdrv_file_bs(file));
    bdrv_unref(bs);

    /* A protocol-only open has no format node. */
    bs = bdrv_open(img, NULL, BDRV_O_PROTOCOL | BDRV_O_RDWR, &err);
    g_assert_nonnull(bs);
    g_assert_cmpstr(bdrv_get_format_name(bs), ==, "file");
    g_assert_false(bdrv_is_read_only(bs));
    bdrv_unref(bs);
    g_free(img);
}

/*
 * Children inherit QEMU's defaults: discard=unmap whatever the parent's
 * policy (file.discard=ignore still wins), cache=unsafe's no-flush.
 */
static void test_child_flags(void)
{
    char *img = make_image(tmpdir, "flags.raw", 64 * KiB);
    Error *err = NULL;
    BlockDriverState *bs = bdrv_open(img, NULL, BDRV_O_NO_FLUSH, &err);
    QDict *o;

    g_assert_nonnull(bs);
    g_assert_false(bs->open_flags & BDRV_O_UNMAP);
    g_assert_true(bdrv_file_bs(bs)->open_flags & BDRV_O_UNMAP);
    g_assert_true(bdrv_file_bs(bs)->open_flags & BDRV_O_NO_FLUSH);
    bdrv_unref(bs);

    o = qdict_new();
    qdict_put_str(o, "file.discard", "ignore");
    qdict_put_str(o, "cache.no-flush", "on");
    bs = bdrv_open(img, o, BDRV_O_UNMAP, &err);
    g_assert_null(err);
    g_assert_nonnull(bs);
    g_assert_true(bs->open_flags & BDRV_O_UNMAP);
    g_assert_true(bs->open_flags & BDRV_O_NO_FLUSH);
    g_assert_false(bdrv_file_bs(bs)->open_flags & BDRV_O_UNMAP);
    g_assert_true(bdrv_file_bs(bs)->open_flags & BDRV_O_NO_FLUSH);
    bdrv_unref(bs);
    g_free(img);
}

static void test_perm_names(void)
{
    char *s = bdrv_perm_names(BLK_PERM_CONSISTENT_READ | BLK_PERM_RESIZE);

    g_assert_cmpstr(s, ==, "consistent read, resize");
    free(s);
    s = bdrv_perm_names(BLK_PERM_ALL);
    g_assert_cmpstr(s, ==, "consistent read, write, write unchanged, resize");
    free(s);
    s = bdrv_perm_names(0);
    g_assert_cmpstr(s, ==, "");
    free(s);
}

static void test_prealloc_modes(void)
{
    PreallocMode m;

    g_assert_cmpint(prealloc_mode_parse("falloc", &m), ==, 0);
    g_assert_cmpint(m, ==, PREALLOC_MODE_FALLOC);
    g_assert_cmpstr(prealloc_mode_str(PREALLOC_MODE_FULL), ==, "full");
    g_assert_cmpint(prealloc_mode_parse("lots", &m), ==, -EINVAL);
}

static void test_io_bounds(void)
{
    char *img = make_image(tmpdir, "io.raw", 64 * KiB);
    OpenSpec rw = { .flags = BDRV_O_RDWR };
    OpenSpec ro = { .flags = 0 };
    uint8_t buf[512], back[512];
    Error *err = NULL;
    BlockBackend *blk = spec_open(img, &rw, &err);

    g_assert_nonnull(blk);
    memset(buf, 0xa5, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 4096, 512, buf, 0), ==, 0);
    g_assert_cmpint(blk_pread(blk, 4096, 512, back), ==, 0);
    g_assert_cmpmem(buf, 512, back, 512);
    g_assert_cmpint(blk_pread(blk, 64 * KiB, 512, back), ==, -EIO);
    g_assert_cmpint(blk_pwrite(blk, 64 * KiB - 256, 512, buf, 0), ==, -EIO);
    g_assert_cmpint(blk_pread(blk, -512, 512, back), ==, -EIO);
    g_assert_cmpint(bdrv_pread(blk_bs(blk), 0, -1, back), ==, -EIO);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 4096, 512, 0), ==, 0);
    g_assert_cmpint(blk_pread(blk, 4096, 512, back), ==, 0);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpmem(buf, 512, back, 512);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_cmpint(blk_truncate(blk, 128 * KiB, false, PREALLOC_MODE_OFF,
                                 &err), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 128 * KiB);
    blk_unref(blk);

    blk = spec_open(img, &ro, &err);
    g_assert_nonnull(blk);
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, -EPERM);
    g_assert_cmpint(bdrv_pwrite(blk_bs(blk), 0, 512, buf, 0), ==, -EPERM);
    g_assert_cmpint(blk_truncate(blk, 4096, false, PREALLOC_MODE_OFF, &err),
                    ==, -EACCES);
    g_assert_cmpstr(error_get_pretty(err), ==, "Block node is read-only");
    error_free_or_abort(&err);
    /* Nor can a user of a read-only node ask for write permission. */
    g_assert_cmpint(blk_set_perm(blk, BLK_PERM_CONSISTENT_READ |
                                 BLK_PERM_WRITE, BLK_PERM_ALL, &err), ==,
                    -EPERM);
    g_assert_cmpstr(error_get_pretty(err), ==, "Block node is read-only");
    error_free_or_abort(&err);
    blk_unref(blk);
    g_free(img);
}

/* Lengths count whole sectors, like QEMU: 1000 bytes is a 1 KiB image. */
static void test_length_rounding(void)
{
    char *img = g_build_filename(tmpdir, "odd.raw", NULL);
    OpenSpec ro = { .flags = 0 };
    Error *err = NULL;
    BlockBackend *blk;
    uint8_t tail[24];
    QDict *opts;
    int fd;

    fd = open(img, O_RDWR | O_CREAT, 0644);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1000), ==, 0);
    close(fd);
    blk = spec_open(img, &ro, &err);
    g_assert_nonnull(blk);
    g_assert_cmpint(blk_getlength(blk), ==, 1024);
    memset(tail, 0xff, sizeof(tail));
    g_assert_cmpint(blk_pread(blk, 1000, 24, tail), ==, 0);
    g_assert_cmpint(tail[0], ==, 0);
    g_assert_cmpint(tail[23], ==, 0);
    blk_unref(blk);
    unlink(img);

    /* Creation rounds up too ("size=100" makes 512 bytes). */
    opts = qdict_new();
    qdict_put_str(opts, "size", "100");
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), img, opts, &err),
                    ==, 0);
    {
        struct stat st;
        g_assert_cmpint(stat(img, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 512);
    }
    qdict_free(opts);
    g_free(img);
}

static void test_create_errors(void)
{
    char *img = g_build_filename(tmpdir, "create.raw", NULL);
    QDict *opts = qdict_new();
    Error *err = NULL;

    qdict_put_str(opts, "size", "1M");
    qdict_put_str(opts, "foo", "1");
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), img, opts, &err),
                    ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'foo'");
    error_free_or_abort(&err);
    qdict_del(opts, "foo");

    qdict_put_str(opts, "preallocation", "lots");
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), img, opts, &err),
                    ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "invalid parameter value: lots");
    error_free_or_abort(&err);
    /* Nothing was created by the refused requests. */
    g_assert_false(g_file_test(img, G_FILE_TEST_EXISTS));

    qdict_put_str(opts, "preallocation", "full");
    g_assert_cmpint(bdrv_create(bdrv_find_format("raw"), img, opts, &err),
                    ==, 0);
    {
        struct stat st;
        g_assert_cmpint(stat(img, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 1 * MiB);
        g_assert_cmpint(st.st_blocks * 512, >=, 1 * MiB);
    }
    qdict_free(opts);
    unlink(img);
    g_free(img);
}

static GString *notices;

static void notice_sink(const char *msg, void *opaque)
{
    (void)opaque;
    g_string_append(notices, msg);
}

/*
 * A read-write open of a probed raw image warns like QEMU, and writes
 * that would turn block 0 into another format's header are refused.
 */
static void test_probed_raw(void)
{
    char *img = make_image(tmpdir, "probed.raw", 64 * KiB);
    OpenSpec rw = { .flags = BDRV_O_RDWR };
    static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
    uint8_t buf[512];
    Error *err = NULL;
    BlockBackend *blk;

    notices = g_string_new(NULL);
    warn_set_raw_sink(notice_sink, NULL);
    blk = blk_new_open(img, NULL, BDRV_O_RDWR, &err);
    g_assert_nonnull(blk);
    g_assert_nonnull(strstr(notices->str, "WARNING: Image format was not "
                            "specified for '"));
    g_assert_nonnull(strstr(notices->str, "probing guessed raw."));

    memset(buf, 0, sizeof(buf));
    memcpy(buf, qcow2_magic, sizeof(qcow2_magic));
    stbe32(buf + 4, 3);                  /* version */
    stbe32(buf + 20, 16);                /* cluster_bits */
    if (bdrv_find_format("qcow2")) {
        g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, -EPERM);
    }
    g_assert_cmpint(blk_pwrite(blk, 512, 512, buf, 0), ==, 0);
    blk_unref(blk);

    /* With the format given, no notice and no restriction. */
    g_string_truncate(notices, 0);
    blk = spec_open(img, &rw, &err);
    g_assert_nonnull(blk);
    g_assert_cmpstr(notices->str, ==, "");
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, 0);
    blk_unref(blk);

    warn_set_raw_sink(NULL, NULL);
    g_string_free(notices, TRUE);
    g_free(img);
}

static int dir_entries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    g_dir_close(d);
    return n;
}

/*
 * BDRV_O_SNAPSHOT: the image is opened read-only under a temporary qcow2
 * overlay whose file is deleted once open; writes never reach the image.
 */
static void test_temp_snapshot(void)
{
    char *img = make_image(tmpdir, "snap.raw", 1 * MiB);
    char *tdir = g_build_filename(tmpdir, "overlays", NULL);
    char *missing = g_build_filename(tdir, "missing", NULL);
    char *old_tmpdir = g_strdup(g_getenv("TMPDIR"));
    uint8_t buf[4096], pattern[4096];
    BlockDriverState *bs, *base;
    BlockBackend *blk;
    Error *err = NULL;
    QDict *o;
    int fd;

    g_assert_cmpint(mkdir(tdir, 0700), ==, 0);
    g_setenv("TMPDIR", tdir, TRUE);
    memset(pattern, 0x5a, sizeof(pattern));

    o = qdict_new();
    qdict_put_str(o, "driver", "raw");
    blk = blk_new_open(img, o, BDRV_O_RDWR | BDRV_O_SNAPSHOT, &err);
    g_assert_nonnull(blk);
    bs = blk_bs(blk);
    g_assert_cmpstr(bdrv_get_format_name(bs), ==, "qcow2");
    g_assert_false(bdrv_is_read_only(bs));
    g_assert_cmpstr(bdrv_get_backing_filename(bs), ==, "");
    base = bdrv_backing_bs(bs);
    g_assert_nonnull(base);
    g_assert_cmpstr(bdrv_get_format_name(base), ==, "raw");
    g_assert_cmpstr(bdrv_get_filename(base), ==, img);
    g_assert_true(bdrv_is_read_only(base));
    g_assert_cmpint(bdrv_getlength(bs), ==, 1 * MiB);
    /* The overlay's file is already gone. */
    g_assert_cmpint(dir_entries(tdir), ==, 0);

    g_assert_cmpint(blk_pwrite(blk, 4096, sizeof(pattern), pattern, 0), ==,
                    0);
    g_assert_cmpint(blk_pread(blk, 4096, sizeof(buf), buf), ==, 0);
    g_assert_cmpmem(buf, sizeof(buf), pattern, sizeof(pattern));
    blk_unref(blk);

    fd = open(img, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, sizeof(buf), 4096), ==, sizeof(buf));
    close(fd);
    memset(pattern, 0, sizeof(pattern));
    g_assert_cmpmem(buf, sizeof(buf), pattern, sizeof(pattern));
    g_assert_cmpint(dir_entries(tdir), ==, 0);

    /* read-only=on applies to the overlay. */
    o = qdict_new();
    qdict_put_str(o, "driver", "raw");
    qdict_put_str(o, "read-only", "on");
    bs = bdrv_open(img, o, BDRV_O_RDWR | BDRV_O_SNAPSHOT, &err);
    g_assert_nonnull(bs);
    g_assert_true(bdrv_is_read_only(bs));
    bdrv_unref(bs);

    /* No temporary directory: one clear error, nothing left open. */
    g_setenv("TMPDIR", missing, TRUE);
    bs = bdrv_open(img, NULL, BDRV_O_RDWR | BDRV_O_SNAPSHOT, &err);
    g_assert_null(bs);
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "Could not open temporary file '"));
    g_assert_true(g_str_has_suffix(error_get_pretty(err),
                                   "': No such file or directory"));
    error_free_or_abort(&err);

    if (old_tmpdir) {
        g_setenv("TMPDIR", old_tmpdir, TRUE);
    } else {
        g_unsetenv("TMPDIR");
    }
    g_assert_cmpint(rmdir(tdir), ==, 0);
    unlink(img);
    g_free(old_tmpdir);
    g_free(missing);
    g_free(tdir);
    g_free(img);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-block-open");
    tmpdir = g_dir_make_tmp("block-open-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/block-open/option-errors", test_option_errors);
    g_test_add_func("/block-open/tree-shape", test_tree_shape);
    g_test_add_func("/block-open/child-flags", test_child_flags);
    g_test_add_func("/block-open/perm-names", test_perm_names);
    g_test_add_func("/block-open/prealloc-modes", test_prealloc_modes);
    g_test_add_func("/block-open/io-bounds", test_io_bounds);
    g_test_add_func("/block-open/length-rounding", test_length_rounding);
    g_test_add_func("/block-open/create-errors", test_create_errors);
    g_test_add_func("/block-open/probed-raw", test_probed_raw);
    g_test_add_func("/block-open/temp-snapshot", test_temp_snapshot);
    ret = g_test_run();
    remove_tree(tmpdir);
    g_free(tmpdir);
    return ret;
}
