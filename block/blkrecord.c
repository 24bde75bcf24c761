/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkrecord.c: a test filter that records every write, zero write,
 * truncate and flush it passes to its file child in a log, so a test can
 * replay any crash point: driver=blkrecord,log=PATH (appended to).
 * Log records (big-endian): type u8 ('W','Z','T','F'), offset u64,
 * length u64, then for 'W' the data.  'T' carries the new length in
 * offset.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/block_int.h"

typedef struct BDRVBlkrecordState {
    int fd;
} BDRVBlkrecordState;

static int blkrecord_log(BlockDriverState *bs, char type, int64_t offset,
                         int64_t bytes, const void *buf)
{
    BDRVBlkrecordState *s = bs->opaque;
    uint8_t hdr[17];
    const uint8_t *p;
    size_t left;

    hdr[0] = (uint8_t)type;
    stbe64(hdr + 1, (uint64_t)offset);
    stbe64(hdr + 9, (uint64_t)bytes);
    for (int part = 0; part < 2; part++) {
        p = part ? buf : hdr;
        left = part ? (buf ? (size_t)bytes : 0) : sizeof(hdr);
        while (left) {
            ssize_t n = write(s->fd, p, left);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return -errno;
            }
            p += n;
            left -= n;
        }
    }
    return 0;
}

static int blkrecord_open(BlockDriverState *bs, QDict *options, int flags,
                          Error **errp)
{
    BDRVBlkrecordState *s = bs->opaque;
    char *log = qdict_take_str(options, "log");

    if (!log) {
        error_setg(errp, "blkrecord: the option 'log' is required");
        return -EINVAL;
    }
    s->fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_BINARY, 0644);
    if (s->fd < 0) {
        int err = errno;
        error_setg_errno(errp, err, "blkrecord: could not open log '%s'",
                         log);
        free(log);
        return -err;
    }
    free(log);
    return 0;
}

static void blkrecord_close(BlockDriverState *bs)
{
    BDRVBlkrecordState *s = bs->opaque;

    close(s->fd);
}

static int blkrecord_pread(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, void *buf)
{
    return bdrv_child_pread(bs->file, offset, bytes, buf);
}

static int blkrecord_pwrite(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, int flags)
{
    int ret = blkrecord_log(bs, 'W', offset, bytes, buf);

    return ret ? ret : bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
}

static int blkrecord_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, int flags)
{
    int ret = blkrecord_log(bs, 'Z', offset, bytes, NULL);

    return ret ? ret : bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

static int blkrecord_flush_to_os(BlockDriverState *bs)
{
    return blkrecord_log(bs, 'F', 0, 0, NULL);
}

static int blkrecord_truncate(BlockDriverState *bs, int64_t offset,
                              bool exact, PreallocMode prealloc, Error **errp)
{
    int ret = blkrecord_log(bs, 'T', offset, 0, NULL);

    if (ret) {
        error_setg_errno(errp, -ret, "blkrecord: could not write the log");
        return ret;
    }
    return bdrv_truncate(bs->file->bs, offset, exact, prealloc, errp);
}

const BlockDriver bdrv_blkrecord = {
    .format_name = "blkrecord",
    .instance_size = sizeof(BDRVBlkrecordState),
    .is_format = true,
    .bdrv_open = blkrecord_open,
    .bdrv_close = blkrecord_close,
    .bdrv_pread = blkrecord_pread,
    .bdrv_pwrite = blkrecord_pwrite,
    .bdrv_pwrite_zeroes = blkrecord_pwrite_zeroes,
    .bdrv_flush_to_os = blkrecord_flush_to_os,
    .bdrv_truncate = blkrecord_truncate,
    .bdrv_getlength = bdrv_filter_getlength,
};
