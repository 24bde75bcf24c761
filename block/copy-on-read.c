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
    .bdrv_pwrite_zeroes = bdrv_filter_pwrite_zeroes,
    .bdrv_pdiscard = bdrv_filter_pdiscard,
    .bdrv_truncate = bdrv_filter_truncate,
    .bdrv_getlength = bdrv_filter_getlength,
    .bdrv_block_status = bdrv_block_status_from_file,
    .bdrv_child_perm = cor_child_perm,
};
