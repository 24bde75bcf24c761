/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug.c: a test filter that fails chosen requests, for fault
 * injection (docs/devel/testing-drivers.rst):
 *   driver=blkdebug,event=write|flush|truncate,nth=N,errno=EIO|ENOSPC|N,
 *   once=on|off
 * fails the Nth such request (1-based) with the errno, and with once=off
 * every later one too.  Everything else passes through to the file child.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/block_int.h"

enum {
    BLKDEBUG_NONE,
    BLKDEBUG_WRITE,
    BLKDEBUG_FLUSH,
    BLKDEBUG_TRUNCATE,
};

typedef struct BDRVBlkdebugState {
    int event;
    int64_t nth;
    int err;
    bool once;
    int64_t count[4];
} BDRVBlkdebugState;

static int blkdebug_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    char *event = qdict_take_str(options, "event");
    char *nth = qdict_take_str(options, "nth");
    char *err = qdict_take_str(options, "errno");
    int ret = -EINVAL;

    s->nth = 1;
    s->err = EIO;
    s->once = true;
    if (!event || !strcmp(event, "none")) {
        s->event = BLKDEBUG_NONE;
    } else if (!strcmp(event, "write")) {
        s->event = BLKDEBUG_WRITE;
    } else if (!strcmp(event, "flush")) {
        s->event = BLKDEBUG_FLUSH;
    } else if (!strcmp(event, "truncate")) {
        s->event = BLKDEBUG_TRUNCATE;
    } else {
        error_setg(errp, "blkdebug: unknown event '%s' (expected write, "
                   "flush or truncate)", event);
        goto out;
    }
    if (nth && (qemu_strtoi64(nth, NULL, 10, &s->nth) < 0 || s->nth < 1)) {
        error_setg(errp, "blkdebug: 'nth' must be a positive integer");
        goto out;
    }
    if (err) {
        if (!strcmp(err, "EIO")) {
            s->err = EIO;
        } else if (!strcmp(err, "ENOSPC")) {
            s->err = ENOSPC;
        } else if (qemu_strtoi(err, NULL, 10, &s->err) < 0 || s->err <= 0) {
            error_setg(errp, "blkdebug: bad errno '%s'", err);
            goto out;
        }
    }
    if (qdict_get_bool(options, "once", true, &s->once, errp) < 0) {
        goto out;
    }
    qdict_del(options, "once");
    ret = 0;
out:
    free(event);
    free(nth);
    free(err);
    return ret;
}

/* Should this request of kind @ev fail?  Counts it. */
static int blkdebug_fault(BlockDriverState *bs, int ev)
{
    BDRVBlkdebugState *s = bs->opaque;
    int64_t n = ++s->count[ev];

    if (s->event != ev) {
        return 0;
    }
    if (n == s->nth || (!s->once && n > s->nth)) {
        return -s->err;
    }
    return 0;
}

static int blkdebug_pread(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, void *buf)
{
    return bdrv_child_pread(bs->file, offset, bytes, buf);
}

static int blkdebug_pwrite(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, int flags)
{
    int ret = blkdebug_fault(bs, BLKDEBUG_WRITE);

    return ret ? ret : bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
}

static int blkdebug_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, int flags)
{
    int ret = blkdebug_fault(bs, BLKDEBUG_WRITE);

    return ret ? ret : bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

static int blkdebug_flush_to_os(BlockDriverState *bs)
{
    return blkdebug_fault(bs, BLKDEBUG_FLUSH);
}

static int blkdebug_truncate(BlockDriverState *bs, int64_t offset,
                             bool exact, PreallocMode prealloc, Error **errp)
{
    int ret = blkdebug_fault(bs, BLKDEBUG_TRUNCATE);

    if (ret) {
        error_setg_errno(errp, -ret, "blkdebug: injected truncate error");
        return ret;
    }
    return bdrv_truncate(bs->file->bs, offset, exact, prealloc, errp);
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

const BlockDriver bdrv_blkdebug = {
    .format_name = "blkdebug",
    .instance_size = sizeof(BDRVBlkdebugState),
    .is_format = true,
    .bdrv_open = blkdebug_open,
    .bdrv_pread = blkdebug_pread,
    .bdrv_pwrite = blkdebug_pwrite,
    .bdrv_pwrite_zeroes = blkdebug_pwrite_zeroes,
    .bdrv_flush_to_os = blkdebug_flush_to_os,
    .bdrv_truncate = blkdebug_truncate,
    .bdrv_getlength = blkdebug_getlength,
};
