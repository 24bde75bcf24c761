/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-backend.c: the user's end of a node tree.  Turns open flags into
 * the permissions QEMU's blk_new_open() takes, bounds-checks requests
 * against the image length and implements writethrough mode.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block_int.h"
#include "block/block-backend.h"

struct BlockBackend {
    BlockDriverState *bs;
    uint64_t perm;
    uint64_t shared_perm;
    bool write_cache; /* false: flush after every write */
};

BlockBackend *blk_new_open(const char *filename, QDict *options, int flags,
                           Error **errp)
{
    BlockBackend *blk;
    BlockDriverState *bs;
    uint64_t perm = 0;
    uint64_t shared = BLK_PERM_ALL;

    bs = bdrv_open(filename, options, flags, errp);
    if (!bs) {
        return NULL;
    }
    if (!(flags & BDRV_O_NO_IO)) {
        perm |= BLK_PERM_CONSISTENT_READ;
        if (!bs->read_only) {
            perm |= BLK_PERM_WRITE;
        }
    }
    if ((flags & BDRV_O_RESIZE) && !bs->read_only) {
        perm |= BLK_PERM_RESIZE;
    }
    if (flags & BDRV_O_NO_SHARE) {
        shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    }
    if (bdrv_set_root_perm(bs, perm, shared, errp) < 0) {
        bdrv_unref(bs);
        return NULL;
    }
    blk = qemu_xnew0(BlockBackend, 1);
    blk->bs = bs;
    blk->perm = perm;
    blk->shared_perm = shared;
    blk->write_cache = true;
    return blk;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    bdrv_unref(blk->bs);
    free(blk);
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->bs;
}

int blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared,
                 Error **errp)
{
    int ret = bdrv_set_root_perm(blk->bs, perm, shared, errp);

    if (ret == 0) {
        blk->perm = perm;
        blk->shared_perm = shared;
    }
    return ret;
}

void blk_get_perm(BlockBackend *blk, uint64_t *perm, uint64_t *shared)
{
    *perm = blk->perm;
    *shared = blk->shared_perm;
}

int blk_activate(BlockBackend *blk, Error **errp)
{
    int ret;

    if (!(blk->bs->open_flags & BDRV_O_INACTIVE)) {
        return 0;
    }
    bdrv_activate(blk->bs);
    ret = bdrv_set_root_perm(blk->bs, blk->perm, blk->shared_perm, errp);
    if (ret < 0) {
        bdrv_inactivate_flags(blk->bs);
        return ret;
    }
    /*
     * As QEMU: the locks are ours again before the format re-reads its
     * metadata (a reload may repair and write the image).
     */
    ret = bdrv_invalidate_cache(blk->bs, errp);
    if (ret < 0) {
        bdrv_inactivate_flags(blk->bs);
        /* Loosening never fails; inactive files drop all their locks. */
        (void)bdrv_set_root_perm(blk->bs, 0, BLK_PERM_ALL, NULL);
    }
    return ret;
}

bool blk_is_inactive(BlockBackend *blk)
{
    return blk->bs->open_flags & BDRV_O_INACTIVE;
}

int blk_inactivate(BlockBackend *blk, Error **errp)
{
    int ret;

    if (blk->bs->open_flags & BDRV_O_INACTIVE) {
        return 0;
    }
    ret = bdrv_inactivate(blk->bs, errp);
    if (ret < 0) {
        return ret;
    }
    /* blk->perm stays what blk_activate() takes again. */
    return bdrv_set_root_perm(blk->bs, 0, BLK_PERM_ALL, errp);
}

void blk_set_enable_write_cache(BlockBackend *blk, bool wce)
{
    blk->write_cache = wce;
}

/* QEMU's blk_check_byte_request(): requests stay inside the image. */
static int check_byte_request(BlockBackend *blk, int64_t offset,
                              int64_t bytes)
{
    int64_t len;

    if (offset < 0 || bytes < 0) {
        return -EIO;
    }
    len = bdrv_getlength(blk->bs);
    if (len < 0) {
        return (int)len;
    }
    if (offset > len || len - offset < bytes) {
        return -EIO;
    }
    return 0;
}

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf)
{
    int ret = check_byte_request(blk, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    return bdrv_pread(blk->bs, offset, bytes, buf);
}

int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
               const void *buf, int flags)
{
    int ret;

    if (!(blk->perm & BLK_PERM_WRITE) ||
        (blk->bs->open_flags & BDRV_O_INACTIVE)) {
        return -EPERM;
    }
    ret = check_byte_request(blk, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (!blk->write_cache) {
        flags |= BDRV_REQ_FUA;
    }
    return bdrv_pwrite(blk->bs, offset, bytes, buf, flags);
}

int blk_save_vmstate(BlockBackend *blk, const void *buf, int64_t pos,
                     int64_t size)
{
    int ret;

    if (!(blk->perm & BLK_PERM_WRITE)) {
        return -EPERM;
    }
    ret = bdrv_save_vmstate(blk->bs, buf, pos, size);
    if (ret == 0 && !blk->write_cache) {
        ret = bdrv_flush(blk->bs);
    }
    return ret;
}

int blk_load_vmstate(BlockBackend *blk, void *buf, int64_t pos, int64_t size)
{
    return bdrv_load_vmstate(blk->bs, buf, pos, size);
}

int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      int flags)
{
    return blk_pwrite(blk, offset, bytes, NULL, flags | BDRV_REQ_ZERO_WRITE);
}

int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    int ret;

    if (!(blk->perm & BLK_PERM_WRITE)) {
        return -EPERM;
    }
    ret = check_byte_request(blk, offset, bytes);
    if (ret < 0) {
        return ret;
    }
    return bdrv_pdiscard(blk->bs, offset, bytes);
}

int blk_flush(BlockBackend *blk)
{
    return bdrv_flush(blk->bs);
}

int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, Error **errp)
{
    int ret = bdrv_truncate(blk->bs, offset, exact, prealloc, errp);

    if (ret == 0 && !blk->write_cache) {
        ret = bdrv_flush(blk->bs);
    }
    return ret;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return bdrv_getlength(blk->bs);
}
