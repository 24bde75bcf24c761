/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * copy-on-read.c: QEMU's "copy-on-read" filter.  Reads copy what the
 * child node does not hold itself (its backing file's clusters, or
 * unallocated ones) into the child before returning the data; writes,
 * zero writes, discards and everything else pass straight through.  The
 * child must be writable: a read-only filter cannot copy.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block_int.h"

static int cor_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    (void)options;
    if (!(flags & BDRV_O_RDWR) || bs->file->bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return -EPERM;
    }
    return 0;
}

static int cor_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     void *buf)
{
    return bdrv_copy_on_read(bs->file->bs, offset, bytes, buf);
}

static int cor_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags)
{
    return bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
}

static int cor_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int flags)
{
    return bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

static int cor_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return bdrv_pdiscard(bs->file->bs, offset, bytes);
}

static int cor_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                        PreallocMode prealloc, Error **errp)
{
    return bdrv_truncate(bs->file->bs, offset, exact, prealloc, errp);
}

static int64_t cor_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

/* A filter: what the parent needs and shares, nothing more. */
static void cor_child_perm(BlockDriverState *bs, BdrvChild *c,
                           BdrvChildRole role, uint64_t parent_perm,
                           uint64_t parent_shared, uint64_t *nperm,
                           uint64_t *nshared)
{
    (void)role;
    bdrv_default_perms(bs, c, BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                       parent_perm, parent_shared, nperm, nshared);
    /* Copying writes data that reads the same. */
    *nperm |= BLK_PERM_WRITE_UNCHANGED;
}

const BlockDriver bdrv_cor_filter = {
    .format_name = "copy-on-read",
    .is_filter = true,
    .is_format = true,
    .bdrv_open = cor_open,
    .bdrv_pread = cor_pread,
    .bdrv_pwrite = cor_pwrite,
    .bdrv_pwrite_zeroes = cor_pwrite_zeroes,
    .bdrv_pdiscard = cor_pdiscard,
    .bdrv_truncate = cor_truncate,
    .bdrv_getlength = cor_getlength,
    .bdrv_block_status = bdrv_block_status_from_file,
    .bdrv_child_perm = cor_child_perm,
};
