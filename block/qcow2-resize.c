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

/* Drop refcount blocks that count nothing but themselves. */
static int shrink_reftable(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *freed = qemu_xnew0(uint64_t, s->refcount_table_size + 1);
    uint64_t nfreed = 0;
    uint8_t *buf;
    int ret = qcow2_flush_caches(bs);

    if (ret < 0) {
        free(freed);
        return ret;
    }
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t off = s->refcount_table[i] & REFT_OFFSET_MASK;
        uint64_t self = off >> s->cluster_bits;
        bool unused = true;
        void *blk;

        if (!off) {
            continue;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache, off, &blk);
        if (ret < 0) {
            free(freed);
            return ret;
        }
        for (int k = 0; k < s->refcount_block_size && unused; k++) {
            uint64_t c = (i << s->refcount_block_bits) + k;
            uint64_t rc = qcow2_get_refcount_ro(blk, k, s->refcount_order);
            unused = rc == 0 || (c == self && rc == 1);
        }
        if (unused && (self >> s->refcount_block_bits) == i) {
            freed[nfreed++] = i;
        }
    }
    if (!nfreed) {
        free(freed);
        return 0;
    }
    buf = qemu_xmalloc(s->refcount_table_size * 8);
    for (uint64_t i = 0, j = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        if (j < nfreed && freed[j] == i) {
            e = 0;
            j++;
        }
        stbe64(buf + i * 8, e);
    }
    ret = bdrv_child_pwrite(bs->file, s->refcount_table_offset,
                            s->refcount_table_size * 8, buf, 0);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    free(buf);
    if (ret == 0) {
        for (uint64_t j = 0; j < nfreed; j++) {
            uint64_t off = s->refcount_table[freed[j]] & REFT_OFFSET_MASK;
            qcow2_cache_discard(s->refcount_cache, off);
            s->refcount_table[freed[j]] = 0;
            (void)bdrv_pdiscard(bs->file->bs, off, s->cluster_size);
            if ((off >> s->cluster_bits) < s->free_cluster_index) {
                s->free_cluster_index = off >> s->cluster_bits;
            }
        }
    }
    free(freed);
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
        /* Free L2 tables that lie entirely beyond the new end. */
        for (uint64_t i = qcow2_size_to_l1(s, offset); i < s->l1_size; i++) {
            uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;
            if (!l2) {
                continue;
            }
            s->l1_table[i] = 0;
            ret = qcow2_write_l1_entry(bs, i);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to reduce the number of "
                                 "L2 tables");
                return ret;
            }
            qcow2_cache_discard(s->l2_cache, l2);
            s->discard_on_free = true;
            qcow2_free_clusters(bs, l2, s->cluster_size);
            s->discard_on_free = false;
        }
        ret = shrink_reftable(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to shrink the refcount "
                             "table");
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

