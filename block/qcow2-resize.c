/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-resize.c: growing and shrinking a qcow2 image's virtual size, and
 * trimming the refcount table and the file tail after a shrink.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

static int write_size(BlockDriverState *bs, uint64_t size)
{
    uint8_t buf[8];
    int ret;

    stbe64(buf, size);
    ret = bdrv_child_pwrite(bs->file, 24, 8, buf, 0);
    if (ret < 0) {
        return ret;
    }
    return qcow2_file_flush(bs);
}

/*
 * Free the L2 tables past the first @new_size L1 entries, as QEMU's
 * qcow2_shrink_l1_table(): those entries are zeroed on disk (flushed)
 * first, then the tables are freed from the last one down.  The table
 * keeps its size.
 */
static int shrink_l1_table(BlockDriverState *bs, uint64_t new_size)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (new_size >= s->l1_size) {
        return 0;
    }
    ret = bdrv_pwrite_zeroes(bs->file->bs, s->l1_table_offset + new_size * 8,
                             (s->l1_size - new_size) * 8, 0);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        return ret;
    }
    for (uint64_t i = s->l1_size; i-- > new_size;) {
        uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;

        if (!l2) {
            continue;
        }
        qcow2_cache_discard(s->l2_cache, l2);
        s->discard_on_free = true;
        qcow2_free_clusters(bs, l2, s->cluster_size);
        s->discard_on_free = false;
        s->l1_table[i] = 0;
    }
    return 0;
}

/*
 * Drop the refcount of the refcount block at @off from the block that
 * covers it (QEMU's qcow2_discard_refcount_block()).
 */
static int discard_refblock(BlockDriverState *bs, uint64_t off)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t c = off >> s->cluster_bits;
    uint64_t rt_index = c >> s->refcount_block_bits;
    uint64_t idx = c & (s->refcount_block_size - 1);
    uint64_t cover = rt_index < s->refcount_table_size ?
                     s->refcount_table[rt_index] & REFT_OFFSET_MASK : 0;
    uint64_t rc;
    void *blk;
    int ret;

    if (!cover) {
        qcow2_signal_corruption(bs, true, "Refblock at %#" PRIx64 " is not "
                                "covered by the refcount structures", off);
        return -EIO;
    }
    ret = qcow2_cache_get(bs, s->refcount_cache, cover, &blk);
    if (ret < 0) {
        return ret;
    }
    rc = qcow2_get_refcount_ro(blk, idx, s->refcount_order);
    if (rc != 1) {
        qcow2_signal_corruption(bs, true, "Invalid refcount: refblock offset "
                                "%#" PRIx64 ", reftable index %u, block "
                                "offset %#" PRIx64 ", refcount %#" PRIx64,
                                cover, (unsigned)rt_index, off, rc);
        return -EINVAL;
    }
    qcow2_set_refcount_ro(blk, idx, 0, s->refcount_order);
    qcow2_cache_mark_dirty(s->refcount_cache, blk);
    if (c < s->free_cluster_index) {
        s->free_cluster_index = c;
    }
    qcow2_cache_discard(s->refcount_cache, off);
    return 0;
}

/*
 * Drop the refcount blocks that count nothing (a block that describes
 * itself: nothing but itself), as QEMU's qcow2_shrink_reftable(): the
 * table goes to disk without them, then each one's own refcount drops,
 * and the file forgets them.  A block that cannot be read fails it with
 * nothing written; a failure after the table was written leaves those
 * blocks leaked, and the table in memory matches the one on disk.
 */
static int shrink_reftable(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *keep = qemu_xnew0(uint64_t, s->refcount_table_size);
    uint8_t *buf = NULL;
    int ret = 0;

    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;
        uint64_t self = off >> s->cluster_bits;
        bool own = (self >> s->refcount_block_bits) == i;
        bool unused = true;
        void *blk;

        if (!off) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache, off, &blk);
        if (ret < 0) {
            goto out;
        }
        for (uint64_t k = 0; k < (uint64_t)s->refcount_block_size && unused;
             k++) {
            unused = (own && k == (self & (s->refcount_block_size - 1))) ||
                     !qcow2_get_refcount_ro(blk, k, s->refcount_order);
        }
        keep[i] = unused ? 0 : s->refcount_table[i];
    }
    buf = qemu_xmalloc(s->refcount_table_size * 8);
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        stbe64(buf + i * 8, keep[i]);
    }
    ret = bdrv_child_pwrite(bs->file, s->refcount_table_offset,
                            s->refcount_table_size * 8, buf, 0);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;

        if (!off || keep[i]) {
            continue;
        }
        if (ret == 0) {
            ret = discard_refblock(bs, off);
            if (ret == 0) {
                (void)bdrv_pdiscard(bs->file->bs, off, s->cluster_size);
            }
        }
        s->refcount_table[i] = 0;
    }
out:
    free(buf);
    free(keep);
    return ret;
}

/* Cut the file after the last cluster that is still in use. */
static int truncate_file_tail(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t flen = bdrv_getlength(bs->file->bs);
    int64_t last;

    if (flen < 0) {
        return flen;
    }
    for (last = qcow2_size_to_clusters(s, flen) - 1; last >= 0; last--) {
        uint64_t rc;
        int ret = qcow2_get_refcount(bs, last, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc) {
            break;
        }
    }
    if ((last + 1) * (int64_t)s->cluster_size < flen) {
        int ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            return ret;
        }
        return bdrv_truncate(bs->file->bs, (last + 1) * s->cluster_size,
                             false, PREALLOC_MODE_OFF, NULL);
    }
    return 0;
}

/*
 * An external data file grows with the image (falloc and full allocate
 * the new area); one that is already long enough is left as it is.
 */
static int grow_data_file(BlockDriverState *bs, int64_t offset,
                          PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t len = bdrv_getlength(s->data_file->bs);

    if (len < 0) {
        error_setg_errno(errp, -len, "Could not get the size of the data "
                         "file");
        return len;
    }
    if (len >= offset) {
        return 0;
    }
    if (prealloc == PREALLOC_MODE_METADATA) {
        prealloc = PREALLOC_MODE_OFF;
    }
    return bdrv_truncate(s->data_file->bs, offset, false, prealloc, errp);
}

int qcow2_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                          PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old = s->size;
    int ret;

    (void)exact;
    if (qcow2_data_file_is_raw(s) && prealloc == PREALLOC_MODE_OFF) {
        /* A raw data file keeps its 1:1 mapping over the new area too. */
        prealloc = PREALLOC_MODE_METADATA;
    }
    if (!s->writable) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (prealloc != PREALLOC_MODE_OFF && prealloc != PREALLOC_MODE_METADATA &&
        prealloc != PREALLOC_MODE_FALLOC && prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode");
        return -ENOTSUP;
    }
    if (offset < 0 || offset % BDRV_SECTOR_SIZE) {
        error_setg(errp, "The new size must be a multiple of 512");
        return -EINVAL;
    }
    /*
     * A v2 snapshot need not record the disk size it was taken at, so
     * resizing would lose it: refused in both directions, as QEMU does.
     * v3 snapshots record it (snapshot -a restores it), so v3 images with
     * snapshots may grow and shrink; the snapshots keep their clusters.
     */
    if (s->nb_snapshots && s->qcow_version < 3) {
        error_setg(errp, "Can't resize a v2 image which has snapshots");
        return -ENOTSUP;
    }
    /* As QEMU: bitmaps follow the size only when all are loaded and sane. */
    ret = qcow2_truncate_bitmaps_check(bs, errp);
    if (ret < 0) {
        return ret;
    }
    if ((uint64_t)offset < old) {
        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Preallocation can't be used for shrinking an "
                       "image");
            return -EINVAL;
        }
        s->discard_on_free = true;
        ret = qcow2_cluster_discard(bs, QEMU_ALIGN_UP(offset, s->cluster_size),
                                    QEMU_ALIGN_UP(old, s->cluster_size) -
                                    QEMU_ALIGN_UP(offset, s->cluster_size),
                                    true);
        s->discard_on_free = false;
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard cropped clusters");
            return ret;
        }
        ret = shrink_l1_table(bs, qcow2_size_to_l1(s, offset));
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to reduce the number of "
                             "L2 tables");
            return ret;
        }
        ret = shrink_reftable(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard unused "
                             "refblocks");
            return ret;
        }
        ret = truncate_file_tail(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to truncate the tail of "
                             "the image");
            return ret;
        }
    } else {
        uint64_t l1 = qcow2_size_to_l1(s, offset);
        if (l1 > QCOW2_MAX_L1_BYTES / 8) {
            error_setg(errp, "The image size is too large for file format "
                       "'qcow2' (try using a larger cluster size)");
            return -EFBIG;
        }
        ret = qcow2_grow_l1_table(bs, l1, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to grow the L1 table");
            return ret;
        }
    }
    ret = write_size(bs, offset);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        return ret;
    }
    s->size = offset;
    if (prealloc != PREALLOC_MODE_OFF && (uint64_t)offset > old) {
        ret = qcow2_preallocate(bs, old, offset, prealloc);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Preallocation failed");
            return ret;
        }
    }
    if (qcow2_has_data_file(s) && s->data_file && (uint64_t)offset > old) {
        ret = grow_data_file(bs, offset, prealloc, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_flush_caches(bs);
}

