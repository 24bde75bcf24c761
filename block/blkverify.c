/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkverify.c: QEMU's "blkverify" test driver.  Every request goes to the
 * image under test and to a raw reference image; reads must return the
 * same data and every request the same result, or the process prints
 * what differed and exits with status 1 (a test's crash, as QEMU's).
 *   blkverify:RAW:TEST    or    driver=blkverify,raw.filename=RAW,
 *                               test.driver=qcow2,test.file.filename=TEST
 * (a file name without the prefix names the test image).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error.h"
#include "block/block_int.h"

typedef struct BDRVBlkverifyState {
    BdrvChild *test;
    BdrvChild *raw;
} BDRVBlkverifyState;

static void QEMU_PRINTF(4, 5) __attribute__((noreturn))
blkverify_err(const char *op, int64_t offset, int64_t bytes,
              const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "blkverify: %s offset=%" PRId64 " bytes=%" PRId64 " ",
            op, offset, bytes);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* "blkverify:RAW:TEST" into x-raw and x-image; else the test image. */
static int blkverify_names(const char *filename, char **raw, char **test,
                           Error **errp)
{
    const char *rest, *colon;

    *raw = *test = NULL;
    if (!filename) {
        return 0;
    }
    if (!strstart(filename, "blkverify:", &rest)) {
        *test = qemu_xstrdup(filename);
        return 0;
    }
    colon = strchr(rest, ':');
    if (!colon) {
        error_setg(errp, "blkverify requires raw copy and original image "
                   "path");
        return -EINVAL;
    }
    *raw = qemu_xstrndup(rest, colon - rest);
    *test = qemu_xstrdup(colon + 1);
    return 0;
}

static int blkverify_open(BlockDriverState *bs, QDict *options, int flags,
                          Error **errp)
{
    BDRVBlkverifyState *s = bs->opaque;
    int cflags = flags & ~(BDRV_O_PROTOCOL | BDRV_O_SNAPSHOT |
                           BDRV_O_NO_BACKING | BDRV_O_CHECK);
    char *fn = qdict_take_str(options, "filename");
    char *raw = NULL, *test = NULL;
    int ret = blkverify_names(fn, &raw, &test, errp);

    free(fn);
    if (ret < 0) {
        return ret;
    }
    /* The reference is raw data: opened by its protocol, never probed. */
    if (!qdict_haskey(options, "raw.driver")) {
        const char *rn = raw ? raw : qdict_get_str(options, "raw.filename");
        const char *proto = rn ? bdrv_protocol_driver_name(rn, errp) : "file";

        if (!proto) {
            ret = -EINVAL;
            goto out;
        }
        qdict_put_str(options, "raw.driver", proto);
    }
    s->raw = bdrv_open_child(bs, raw, options, "raw", BDRV_CHILD_DATA,
                             cflags, errp);
    if (!s->raw) {
        ret = -EINVAL;
        goto out;
    }
    s->test = bdrv_open_child(bs, test, options, "test",
                              BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                              cflags, errp);
    if (!s->test) {
        bdrv_unref_child(bs, s->raw);
        s->raw = NULL;
        ret = -EINVAL;
        goto out;
    }
    {
        char *name = qemu_xasprintf("blkverify:%s:%s", s->raw->bs->filename,
                                    s->test->bs->filename);
        pstrcpy(bs->filename, sizeof(bs->filename), name);
        free(name);
    }
out:
    free(raw);
    free(test);
    return ret;
}

static void blkverify_close(BlockDriverState *bs)
{
    BDRVBlkverifyState *s = bs->opaque;

    bdrv_unref_child(bs, s->test);
    bdrv_unref_child(bs, s->raw);
    s->test = s->raw = NULL;
}

static void check_results(const char *op, int64_t offset, int64_t bytes,
                          int test_ret, int raw_ret)
{
    if (test_ret != raw_ret) {
        blkverify_err(op, offset, bytes, "return value mismatch test %d != "
                      "raw %d", test_ret, raw_ret);
    }
}

static int blkverify_pread(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, void *buf)
{
    BDRVBlkverifyState *s = bs->opaque;
    uint8_t *copy = qemu_xmalloc(bytes > 0 ? (size_t)bytes : 1);
    int test_ret = bdrv_child_pread(s->test, offset, bytes, buf);
    int raw_ret = bdrv_child_pread(s->raw, offset, bytes, copy);

    check_results("read", offset, bytes, test_ret, raw_ret);
    if (test_ret == 0) {
        for (int64_t i = 0; i < bytes; i++) {
            if (((uint8_t *)buf)[i] != copy[i]) {
                blkverify_err("read", offset, bytes, "contents mismatch at "
                              "offset %" PRId64, offset + i);
            }
        }
    }
    free(copy);
    return test_ret;
}

static int blkverify_pwrite(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, int flags)
{
    BDRVBlkverifyState *s = bs->opaque;
    int test_ret = bdrv_child_pwrite(s->test, offset, bytes, buf, flags);
    int raw_ret = bdrv_child_pwrite(s->raw, offset, bytes, buf, flags);

    check_results("write", offset, bytes, test_ret, raw_ret);
    return test_ret;
}

static int blkverify_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, int flags)
{
    BDRVBlkverifyState *s = bs->opaque;
    int test_ret = bdrv_pwrite_zeroes(s->test->bs, offset, bytes, flags);
    int raw_ret = bdrv_pwrite_zeroes(s->raw->bs, offset, bytes, flags);

    check_results("write", offset, bytes, test_ret, raw_ret);
    return test_ret;
}

static int64_t blkverify_getlength(BlockDriverState *bs)
{
    BDRVBlkverifyState *s = bs->opaque;

    return bdrv_getlength(s->test->bs);
}

const BlockDriver bdrv_blkverify = {
    .format_name = "blkverify",
    .instance_size = sizeof(BDRVBlkverifyState),
    .protocol_name = "blkverify",
    .bdrv_open = blkverify_open,
    .bdrv_close = blkverify_close,
    .bdrv_pread = blkverify_pread,
    .bdrv_pwrite = blkverify_pwrite,
    .bdrv_pwrite_zeroes = blkverify_pwrite_zeroes,
    .bdrv_getlength = blkverify_getlength,
};
