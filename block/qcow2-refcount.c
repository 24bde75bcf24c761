/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-refcount.c: reference counting, cluster and byte allocation,
 * refcount-table growth, snapshot refcount updates and the metadata
 * overlap checks.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

/* ---- refcount entries ------------------------------------------------- */

uint64_t qcow2_get_refcount_ro(const void *block, uint64_t index, int order)
{
    const uint8_t *b = block;

    switch (order) {
    case 0:
    case 1:
    case 2: {
        int per_byte = 8 >> order;
        int shift = (index % per_byte) << order;
        return (b[index / per_byte] >> shift) & ((1u << (1 << order)) - 1);
    }
    case 3:
        return b[index];
    case 4:
        return ldbe16(b + index * 2);
    case 5:
        return ldbe32(b + index * 4);
    default:
        return ldbe64(b + index * 8);
    }
}

void qcow2_set_refcount_ro(void *block, uint64_t index, uint64_t value,
                           int order)
{
    uint8_t *b = block;

    switch (order) {
    case 0:
    case 1:
    case 2: {
        int per_byte = 8 >> order;
        int shift = (index % per_byte) << order;
        uint8_t mask = ((1u << (1 << order)) - 1) << shift;
        b[index / per_byte] = (b[index / per_byte] & ~mask) |
                              ((value << shift) & mask);
        break;
    }
    case 3:
        b[index] = value;
        break;
    case 4:
        stbe16(b + index * 2, value);
        break;
    case 5:
        stbe32(b + index * 4, value);
        break;
    default:
        stbe64(b + index * 8, value);
        break;
    }
}

int qcow2_refcount_init(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = (uint64_t)s->refcount_table_clusters * s->cluster_size;
    uint8_t *buf;
    int ret;

    s->refcount_table_size = bytes / 8;
    s->refcount_table = qemu_xnew0(uint64_t, s->refcount_table_size + 1);
    if (bytes) {
        int64_t flen = bdrv_getlength(bs->file->bs);
        int64_t avail = MIN((int64_t)bytes,
                            MAX(0, flen - (int64_t)s->refcount_table_offset));
        buf = qemu_xzalloc(bytes);
        ret = avail > 0 ? bdrv_child_pread(bs->file, s->refcount_table_offset,
                                           avail, buf) : 0;
        if (ret < 0) {
            free(buf);
            error_setg_errno(errp, -ret, "Could not read refcount table");
            return ret;
        }
        for (uint64_t i = 0; i < s->refcount_table_size; i++) {
            s->refcount_table[i] = ldbe64(buf + i * 8);
        }
        free(buf);
    }
    s->refcount_cache = qcow2_cache_create(16, s->cluster_size);
    return 0;
}

int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t rt_index = cluster_index >> s->refcount_block_bits;
    uint64_t block_offset;
    void *block;
    int ret;

    *refcount = 0;
    if (rt_index >= s->refcount_table_size) {
        return 0;
    }
    block_offset = s->refcount_table[rt_index] & REFT_OFFSET_MASK;
    if (!block_offset) {
        return 0;
    }
    if (qcow2_offset_into_cluster(s, block_offset)) {
        qcow2_signal_corruption(bs, true, "Refblock offset %#" PRIx64
                                " unaligned (reftable index: %#" PRIx64 ")",
                                block_offset, rt_index);
        return -EIO;
    }
    ret = qcow2_cache_get(bs, s->refcount_cache, block_offset, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = qcow2_get_refcount_ro(block, cluster_index &
                                      (s->refcount_block_size - 1),
                                      s->refcount_order);
    return 0;
}

static int write_reftable_entry(BlockDriverState *bs, uint64_t index)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t buf[8];

    int64_t flen = bdrv_getlength(bs->file->bs);

    if (flen >= 0 && s->refcount_table_offset + index * 8 >= (uint64_t)flen) {
        qcow2_signal_corruption(bs, true, "Refcount table at %#" PRIx64
                                " is beyond the end of the image file",
                                s->refcount_table_offset);
        return -EIO;
    }
    stbe64(buf, s->refcount_table[index]);
    return bdrv_child_pwrite(bs->file, s->refcount_table_offset + index * 8,
                             8, buf, 0);
}

/*
 * Find @n free clusters in a row, starting at the allocation hint.  Scans a
 * refcount block at a time; a range without a block is all free.
 */
static int64_t find_free_run(BlockDriverState *bs, uint64_t n)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = s->free_cluster_index;
    uint64_t i = start;
    uint64_t max_cluster = QCOW2_MAX_HOST_OFFSET >> s->cluster_bits;

    while (i - start < n) {
        uint64_t rt_index = i >> s->refcount_block_bits;
        uint64_t block_end = (rt_index + 1) << s->refcount_block_bits;
        uint64_t off = rt_index < s->refcount_table_size ?
                       s->refcount_table[rt_index] & REFT_OFFSET_MASK : 0;
        void *block;
        int ret;

        if (i >= max_cluster) {
            return -EFBIG;
        }
        if (!off) {
            i = MIN(block_end, start + n);
            continue;
        }
        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_signal_corruption(bs, true, "Refblock offset %#" PRIx64
                                    " unaligned (reftable index: %#" PRIx64
                                    ")", off, rt_index);
            return -EIO;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache, off, &block);
        if (ret < 0) {
            return ret;
        }
        for (; i < block_end && i - start < n; i++) {
            if (qcow2_get_refcount_ro(block, i & (s->refcount_block_size - 1),
                                      s->refcount_order)) {
                start = i + 1;
            }
        }
    }
    return start;
}

static int64_t alloc_clusters_noref(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t n = qcow2_size_to_clusters(s, size);
    int64_t start = find_free_run(bs, n ? n : 1);

    if (start < 0) {
        return start;
    }
    s->free_cluster_index = start + n;
    return start << s->cluster_bits;
}

static int grow_reftable(BlockDriverState *bs, uint64_t min_index);

/* Make sure the refcount block for reftable index @rt_index exists. */
static int ensure_refblock(BlockDriverState *bs, uint64_t rt_index)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t new_off;
    uint64_t new_idx;
    void *block;
    int ret;

    if (rt_index < s->refcount_table_size &&
        (s->refcount_table[rt_index] & REFT_OFFSET_MASK)) {
        uint64_t off = s->refcount_table[rt_index] & REFT_OFFSET_MASK;

        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_signal_corruption(bs, true, "Refblock offset %#" PRIx64
                                    " unaligned (reftable index: %#" PRIx64
                                    ")", off, rt_index);
            return -EIO;
        }
        return 0;
    }
    if (rt_index >= s->refcount_table_size) {
        ret = grow_reftable(bs, rt_index);
        if (ret < 0) {
            return ret;
        }
        if (s->refcount_table[rt_index] & REFT_OFFSET_MASK) {
            return 0;
        }
    }
    new_off = alloc_clusters_noref(bs, s->cluster_size);
    if (new_off < 0) {
        return new_off;
    }
    if (new_off == 0) {
        /* Only a refcount structure that counts nothing hands it out. */
        qcow2_signal_corruption(bs, true, "Preventing invalid allocation of "
                                "refcount block at offset 0");
        return -EIO;
    }
    new_idx = new_off >> s->cluster_bits;
    if ((new_idx >> s->refcount_block_bits) == rt_index) {
        /* The new block describes itself. */
        ret = qcow2_cache_get_empty(bs, s->refcount_cache, new_off, &block);
        if (ret < 0) {
            return ret;
        }
        qcow2_set_refcount_ro(block, new_idx & (s->refcount_block_size - 1),
                              1, s->refcount_order);
        qcow2_cache_mark_dirty(s->refcount_cache, block);
    } else {
        ret = qcow2_update_refcount(bs, new_off, s->cluster_size, 1);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get_empty(bs, s->refcount_cache, new_off, &block);
        if (ret < 0) {
            return ret;
        }
        qcow2_cache_mark_dirty(s->refcount_cache, block);
    }
    /* The block must be on disk before the table points at it. */
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        return ret;
    }
    s->refcount_table[rt_index] = new_off;
    ret = write_reftable_entry(bs, rt_index);
    if (ret < 0) {
        s->refcount_table[rt_index] = 0;
        return ret;
    }
    return 0;
}

static bool have_block(BDRVQcow2State *s, uint64_t i)
{
    return i < s->refcount_table_size &&
           (s->refcount_table[i] & REFT_OFFSET_MASK);
}

/*
 * Move the refcount table to a bigger one at a free area, together with
 * the new refcount blocks that describe that area.
 */
static int grow_reftable(BlockDriverState *bs, uint64_t min_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t new_entries = MAX(s->refcount_table_size, per_cluster);
    uint64_t T, B = 0, start = 0, end = 0, rbb = s->refcount_block_bits;
    uint64_t old_offset = s->refcount_table_offset;
    uint64_t old_clusters = s->refcount_table_clusters;
    uint64_t *new_table = NULL;
    uint8_t *blk = NULL, *hdr;
    int ret;

    /*
     * The new area is written directly: clusters freed there meanwhile
     * must not be pointed at on disk any more (the tables a decrease held
     * back go first).
     */
    ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
    if (ret < 0) {
        return ret;
    }
    while (new_entries <= min_index) {
        new_entries = QEMU_ALIGN_UP(new_entries * 3 / 2 + 1, per_cluster);
    }
    if (DIV_ROUND_UP(new_entries, per_cluster) * s->cluster_size >
        QCOW2_MAX_REFTABLE_BYTES) {
        return -EFBIG;
    }
    for (int tries = 0;; tries++) {
        int64_t st;
        uint64_t needed = 0;

        T = DIV_ROUND_UP(new_entries, per_cluster);
        st = find_free_run(bs, T + B);
        if (st < 0) {
            return st;
        }
        start = st;
        end = start + T + B;
        for (uint64_t i = start >> rbb; i <= (end - 1) >> rbb; i++) {
            needed += !have_block(s, i);
        }
        if (needed > B && tries < 64) {
            B = needed;
            continue;
        }
        if (((end - 1) >> rbb) >= new_entries) {
            new_entries = QEMU_ALIGN_UP(((end - 1) >> rbb) + 1, per_cluster);
            continue;
        }
        break;
    }
    if (T * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES) {
        return -EFBIG;
    }

    new_table = qemu_xnew0(uint64_t, T * per_cluster);
    memcpy(new_table, s->refcount_table, s->refcount_table_size * 8);
    blk = qemu_xmalloc(s->cluster_size);

    /* New blocks, each counting the part of the new area it covers. */
    {
        uint64_t next = start + T;
        for (uint64_t i = start >> rbb; i <= (end - 1) >> rbb; i++) {
            uint64_t lo = MAX(start, i << rbb);
            uint64_t hi = MIN(end, (i + 1) << rbb);
            if (have_block(s, i)) {
                continue;
            }
            if (next >= end) {
                break;
            }
            memset(blk, 0, s->cluster_size);
            for (uint64_t c = lo; c < hi; c++) {
                qcow2_set_refcount_ro(blk, c & ((1ULL << rbb) - 1), 1,
                                      s->refcount_order);
            }
            ret = bdrv_child_pwrite(bs->file, next << s->cluster_bits,
                                    s->cluster_size, blk, 0);
            if (ret < 0) {
                goto out;
            }
            new_table[i] = next << s->cluster_bits;
            next++;
        }
    }
    /* Parts of the area covered by existing blocks: count them there. */
    for (uint64_t i = start >> rbb; i <= (end - 1) >> rbb; i++) {
        uint64_t lo = MAX(start, i << rbb);
        uint64_t hi = MIN(end, (i + 1) << rbb);
        if (have_block(s, i)) {
            ret = qcow2_update_refcount(bs, lo << s->cluster_bits,
                                        (hi - lo) << s->cluster_bits, 1);
            if (ret < 0) {
                goto out;
            }
        }
    }
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        goto out;
    }

    {
        uint8_t *tbuf = qemu_xmalloc(T * s->cluster_size);
        for (uint64_t i = 0; i < T * per_cluster; i++) {
            stbe64(tbuf + i * 8, new_table[i]);
        }
        ret = bdrv_child_pwrite(bs->file, start << s->cluster_bits,
                                T * s->cluster_size, tbuf, 0);
        free(tbuf);
        if (ret < 0) {
            goto out;
        }
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        goto out;
    }
    hdr = blk;
    stbe64(hdr, start << s->cluster_bits);
    stbe32(hdr + 8, T);
    ret = bdrv_child_pwrite(bs->file, 48, 12, hdr, 0);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        goto out;
    }

    free(s->refcount_table);
    s->refcount_table = new_table;
    new_table = NULL;
    s->refcount_table_size = T * per_cluster;
    s->refcount_table_offset = start << s->cluster_bits;
    s->refcount_table_clusters = T;
    if (s->free_cluster_index < end) {
        s->free_cluster_index = end;
    }
    if (old_offset) {
        qcow2_free_clusters(bs, old_offset, old_clusters * s->cluster_size);
    }
    ret = 0;
out:
    free(new_table);
    free(blk);
    return ret;
}

/*
 * Remember that [offset, offset+len), which nothing references any more,
 * is to be punched out of the file; merged with the regions it touches
 * (QEMU's update_refcount_discard()).
 */
static void queue_discard(BDRVQcow2State *s, uint64_t offset, uint64_t len)
{
    Qcow2DiscardRegion *d = NULL;

    for (int i = 0; i < s->nb_discards && !d; i++) {
        Qcow2DiscardRegion *r = &s->discards[i];
        if (offset + len == r->offset || r->offset + r->bytes == offset) {
            r->bytes += len;
            r->offset = MIN(r->offset, offset);
            d = r;
        }
    }
    if (!d) {
        if (s->nb_discards == s->discards_cap) {
            s->discards_cap = MAX(8, s->discards_cap * 2);
            s->discards = qemu_xrealloc(s->discards, s->discards_cap *
                                        sizeof(*s->discards));
        }
        d = &s->discards[s->nb_discards++];
        d->offset = offset;
        d->bytes = len;
        return;
    }
    /* The grown region may now touch another one: merge that in. */
    for (int i = 0; i < s->nb_discards; i++) {
        Qcow2DiscardRegion *p = &s->discards[i];
        if (p == d || (p->offset != d->offset + d->bytes &&
                       d->offset != p->offset + p->bytes)) {
            continue;
        }
        d->offset = MIN(d->offset, p->offset);
        d->bytes += p->bytes;
        memmove(p, p + 1, (s->nb_discards - i - 1) * sizeof(*p));
        s->nb_discards--;
        break;
    }
}

void qcow2_process_discards(BlockDriverState *bs, int ret)
{
    BDRVQcow2State *s = bs->opaque;

    for (int i = 0; i < s->nb_discards; i++) {
        if (ret >= 0) {
            /* Nothing references them any more; a failure is harmless. */
            (void)bdrv_pdiscard(bs->file->bs, s->discards[i].offset,
                                s->discards[i].bytes);
        }
    }
    s->nb_discards = 0;
}

static int update_refcount(BlockDriverState *bs, int64_t offset,
                           int64_t length, int64_t addend)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t first, last;

    if (length <= 0) {
        return length < 0 ? -EINVAL : 0;
    }
    /*
     * As QEMU: a cluster's lower refcount reaches the disk after the
     * tables that dropped it (set before it drops), and its new references
     * after its refcount (set once it is raised, as QEMU does when it
     * links the L2 entries: a nested decrease, such as the old refcount
     * table's after a growth, may have turned the dependency round
     * meanwhile), unless lazy refcounts let the refcounts lag behind.
     * Turning it round for an increase writes the tables a decrease held
     * back first, so a cluster freed before is never handed out again
     * while the disk still points at it.  A failure to write them does
     * not fail the update, as in QEMU: the tables stay dirty, and the
     * dependency the other way round stays until they are written.
     */
    if (addend < 0) {
        (void)qcow2_cache_set_dependency(bs, s->refcount_cache, s->l2_cache);
    }
    first = offset >> s->cluster_bits;
    last = (offset + length - 1) >> s->cluster_bits;
    for (int64_t c = first; c <= last; c++) {
        uint64_t rt_index = c >> s->refcount_block_bits;
        uint64_t idx = c & (s->refcount_block_size - 1);
        uint64_t rc, nrc;
        void *block;
        int ret;

        if (addend < 0 && !have_block(s, rt_index)) {
            qcow2_signal_corruption(bs, true, "Refcount of cluster %#" PRIx64
                                    " would drop below zero", c);
            return -EIO;
        }
        ret = ensure_refblock(bs, rt_index);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get(bs, s->refcount_cache,
                              s->refcount_table[rt_index] & REFT_OFFSET_MASK,
                              &block);
        if (ret < 0) {
            return ret;
        }
        rc = qcow2_get_refcount_ro(block, idx, s->refcount_order);
        if (addend < 0 && rc < (uint64_t)0 - (uint64_t)addend) {
            qcow2_signal_corruption(bs, true, "Refcount of cluster %#" PRIx64
                                    " would drop below zero", c);
            return -EIO;
        }
        nrc = rc + (uint64_t)addend;
        if (addend > 0 && (nrc < rc || nrc > s->refcount_max)) {
            return -ERANGE;
        }
        qcow2_set_refcount_ro(block, idx, nrc, s->refcount_order);
        qcow2_cache_mark_dirty(s->refcount_cache, block);
        if (nrc == 0) {
            if ((uint64_t)c < s->free_cluster_index) {
                s->free_cluster_index = c;
            }
            qcow2_cache_discard(s->l2_cache, c << s->cluster_bits);
            qcow2_cache_discard(s->refcount_cache, c << s->cluster_bits);
            if (s->discard_on_free) {
                queue_discard(s, c << s->cluster_bits, s->cluster_size);
            }
        }
    }
    if (addend > 0 &&
        qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache) == 0 &&
        (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        s->l2_cache->depends = NULL;
    }
    return 0;
}

int qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                          int64_t length, int64_t addend)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = update_refcount(bs, offset, length, addend);

    if (!s->cache_discards) {
        qcow2_process_discards(bs, ret);
    }
    return ret;
}

int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size)
{
    int64_t off = alloc_clusters_noref(bs, size);
    int ret;

    if (off < 0) {
        return off;
    }
    ret = qcow2_update_refcount(bs, off, size, 1);
    if (ret < 0) {
        return ret;
    }
    return off;
}

int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t n;
    int ret;

    for (n = 0; n < nb_clusters; n++) {
        uint64_t rc;

        ret = qcow2_get_refcount(bs, (offset >> s->cluster_bits) + n, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc) {
            break;
        }
    }
    ret = qcow2_update_refcount(bs, offset, n << s->cluster_bits, 1);
    return ret < 0 ? ret : n;
}

int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset = s->free_byte_offset;
    int64_t free_in_cluster;
    int ret;

    if (offset) {
        uint64_t rc;
        ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc == s->refcount_max) {
            offset = 0;
        }
    }
    free_in_cluster = s->cluster_size - qcow2_offset_into_cluster(s, offset);
    if (!offset || free_in_cluster < size) {
        int64_t nc = alloc_clusters_noref(bs, s->cluster_size);
        if (nc < 0) {
            return nc;
        }
        if (nc == 0) {
            qcow2_signal_corruption(bs, true, "Preventing invalid allocation "
                                    "of compressed cluster at offset 0");
            return -EIO;
        }
        if (!offset || QEMU_ALIGN_UP(offset, s->cluster_size) != nc) {
            offset = nc;
        }
    }
    ret = qcow2_update_refcount(bs, offset, size, 1);
    if (ret < 0) {
        return ret;
    }
    s->free_byte_offset = offset + size;
    if (!qcow2_offset_into_cluster(s, s->free_byte_offset)) {
        s->free_byte_offset = 0;
    }
    return offset;
}

/*
 * Drop one reference to the clusters of [offset, offset + size).  A failure
 * only leaks them (check -r leaks repairs that), so it is reported, in
 * QEMU's words, and not returned.
 */
void qcow2_free_clusters(BlockDriverState *bs, int64_t offset, int64_t size)
{
    int ret;

    bdrv_debug_event(bs->file->bs, BLKDBG_CLUSTER_FREE);
    ret = qcow2_update_refcount(bs, offset, size, -1);
    if (ret < 0) {
        qemu_warn_raw("qcow2_free_clusters failed: %s", strerror(-ret));
    }
}

void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry)
{
    BDRVQcow2State *s = bs->opaque;

    switch (qcow2_get_cluster_type(s, l2_entry)) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t off, n;

        qcow2_compressed_entry(s, l2_entry, &off, &n);
        qcow2_free_clusters(bs, QEMU_ALIGN_DOWN(off, BDRV_SECTOR_SIZE),
                            n * BDRV_SECTOR_SIZE);
        break;
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        if (qcow2_has_data_file(s)) {
            /* No refcount: a discard request passes down, as QEMU's. */
            if (s->discard_on_free && s->data_file) {
                (void)bdrv_pdiscard(s->data_file->bs,
                                    l2_entry & L2E_OFFSET_MASK,
                                    s->cluster_size);
            }
            break;
        }
        if (qcow2_offset_into_cluster(s, l2_entry & L2E_OFFSET_MASK)) {
            /* As QEMU: reported (not fatal), and nothing is freed. */
            qcow2_signal_corruption(bs, false, "Cannot free unaligned "
                                    "cluster %#" PRIx64,
                                    (uint64_t)(l2_entry & L2E_OFFSET_MASK));
            break;
        }
        qcow2_free_clusters(bs, l2_entry & L2E_OFFSET_MASK, s->cluster_size);
        break;
    default:
        break;
    }
}

/*
 * A snapshot operation adding references to [offset, offset+length): a
 * cluster without a refcount block has refcount 0 although something
 * references it, so the tree is corrupt.  QEMU (whose update_refcount
 * allocates the missing block and then returns -EAGAIN) fails here with
 * -EAGAIN, or -EFBIG past what a refcount table can cover; so do we, but
 * without allocating anything.
 */
static int check_refblocks_exist(BlockDriverState *bs, uint64_t offset,
                                 uint64_t length)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = offset >> s->cluster_bits;
    uint64_t last = (offset + length - 1) >> s->cluster_bits;

    for (uint64_t i = first >> s->refcount_block_bits;
         i <= last >> s->refcount_block_bits; i++) {
        if (i >= QCOW2_MAX_REFTABLE_BYTES / 8) {
            return -EFBIG;
        }
        if (!have_block(s, i)) {
            return -EAGAIN;
        }
    }
    return 0;
}

static int add_snapshot_refs(BlockDriverState *bs, uint64_t offset,
                             uint64_t length, int addend)
{
    if (addend > 0) {
        int ret = check_refblocks_exist(bs, offset, length);
        if (ret < 0) {
            return ret;
        }
    }
    return qcow2_update_refcount(bs, offset, length, addend);
}

int qcow2_update_l1_refcount(BlockDriverState *bs, uint64_t *l1,
                             int l1_size, int addend, bool *l1_modified)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    *l1_modified = false;
    for (int i = 0; i < l1_size; i++) {
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        uint64_t rc, new_l1;
        uint64_t *l2;

        if (!l2_off) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, l2_off)) {
            qcow2_signal_corruption(bs, true, "L2 table offset %#" PRIx64
                                    " unaligned (L1 index: %#x)", l2_off, i);
            ret = -EIO;
            goto out;
        }
        ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
        if (ret < 0) {
            goto out;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t e = qcow2_l2_entry(s, l2, j);
            uint64_t ne = e;

            switch (qcow2_get_cluster_type(s, e)) {
            case QCOW2_CLUSTER_COMPRESSED:
                if (addend) {
                    uint64_t off, n;

                    qcow2_compressed_entry(s, e, &off, &n);
                    ret = add_snapshot_refs(bs,
                                QEMU_ALIGN_DOWN(off, BDRV_SECTOR_SIZE),
                                n * BDRV_SECTOR_SIZE, addend);
                    if (ret < 0) {
                        goto out;
                    }
                }
                break;
            case QCOW2_CLUSTER_NORMAL:
            case QCOW2_CLUSTER_ZERO_ALLOC: {
                uint64_t off = e & L2E_OFFSET_MASK;
                if (qcow2_offset_into_cluster(s, off)) {
                    qcow2_signal_corruption(bs, true, "Cluster allocation "
                                            "offset %#" PRIx64 " unaligned "
                                            "(L2 offset: %#" PRIx64 ", L2 "
                                            "index: %#x)", off, l2_off, j);
                    ret = -EIO;
                    goto out;
                }
                if (addend) {
                    ret = add_snapshot_refs(bs, off, s->cluster_size,
                                            addend);
                    if (ret < 0) {
                        goto out;
                    }
                }
                ret = qcow2_get_refcount(bs, off >> s->cluster_bits, &rc);
                if (ret < 0) {
                    goto out;
                }
                ne = rc == 1 ? e | QCOW_OFLAG_COPIED : e & ~QCOW_OFLAG_COPIED;
                break;
            }
            default:
                break;
            }
            if (ne != e) {
                /* The table may have been reloaded by a refcount update. */
                ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
                if (ret < 0) {
                    goto out;
                }
                qcow2_set_l2_entry(s, l2, j, ne);
                qcow2_cache_mark_dirty(s->l2_cache, l2);
            }
        }
        if (addend) {
            ret = add_snapshot_refs(bs, l2_off, s->cluster_size, addend);
            if (ret < 0) {
                goto out;
            }
        }
        ret = qcow2_get_refcount(bs, l2_off >> s->cluster_bits, &rc);
        if (ret < 0) {
            goto out;
        }
        new_l1 = rc == 1 ? l1[i] | QCOW_OFLAG_COPIED
                         : l1[i] & ~QCOW_OFLAG_COPIED;
        if (new_l1 != l1[i]) {
            l1[i] = new_l1;
            *l1_modified = true;
        }
    }
    ret = qcow2_flush_caches(bs);
out:
    return ret;
}

int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend)
{
    BDRVQcow2State *s = bs->opaque;
    bool active = (uint64_t)l1_table_offset == s->l1_table_offset;
    uint64_t *l1;
    bool modified = false;
    int ret;

    if (l1_size <= 0) {
        return 0;
    }
    if (active) {
        l1 = s->l1_table;
    } else {
        uint8_t *buf = qemu_xmalloc((size_t)l1_size * 8);
        ret = bdrv_child_pread(bs->file, l1_table_offset, l1_size * 8, buf);
        if (ret < 0) {
            free(buf);
            return ret;
        }
        l1 = qemu_xnew0(uint64_t, l1_size);
        for (int i = 0; i < l1_size; i++) {
            l1[i] = ldbe64(buf + i * 8);
        }
        free(buf);
    }
    ret = qcow2_update_l1_refcount(bs, l1, l1_size, addend, &modified);
    if (ret == 0 && modified) {
        uint8_t *buf = qemu_xmalloc((size_t)l1_size * 8);
        for (int i = 0; i < l1_size; i++) {
            stbe64(buf + i * 8, l1[i]);
        }
        ret = bdrv_child_pwrite(bs->file, l1_table_offset, l1_size * 8, buf,
                                0);
        free(buf);
    }
    if (!active) {
        free(l1);
    }
    return ret;
}

static bool ranges_overlap(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Does [offset, offset+size) overlap an L2 table of a snapshot? */
static bool overlaps_inactive_l2(BlockDriverState *bs, int64_t offset,
                                 int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    bool hit = false;

    for (uint32_t i = 0; s->snapshots && i < s->nb_snapshots && !hit; i++) {
        const Qcow2Snapshot *sn = &s->snapshots[i];
        uint8_t *l1;

        /* A table QEMU would refuse to read cannot be checked. */
        if (!sn->l1_size ||
            qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size, 8,
                                 QCOW2_MAX_L1_BYTES, "", NULL) < 0) {
            continue;
        }
        l1 = qemu_xmalloc((size_t)sn->l1_size * 8);
        if (bdrv_child_pread(bs->file, sn->l1_table_offset,
                             (int64_t)sn->l1_size * 8, l1) == 0) {
            for (uint32_t j = 0; j < sn->l1_size && !hit; j++) {
                uint64_t l2 = ldbe64(l1 + j * 8) & L1E_OFFSET_MASK;
                hit = l2 && ranges_overlap(offset, size, l2, s->cluster_size);
            }
        }
        free(l1);
    }
    return hit;
}

const char *qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                         int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = s->overlap_check & ~ign;

    if (size <= 0) {
        return NULL;
    }
    if ((chk & QCOW2_OL_MAIN_HEADER) && offset < s->cluster_size) {
        return "qcow2_header";
    }
    /* The rest compares whole clusters. */
    size = QEMU_ALIGN_UP(qcow2_offset_into_cluster(s, offset) + size,
                         s->cluster_size);
    offset = QEMU_ALIGN_DOWN(offset, s->cluster_size);
    if ((chk & QCOW2_OL_ACTIVE_L1) && s->l1_size &&
        ranges_overlap(offset, size, s->l1_table_offset,
                       (int64_t)s->l1_size * 8)) {
        return "active L1 table";
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) && s->refcount_table_size &&
        ranges_overlap(offset, size, s->refcount_table_offset,
                       (int64_t)s->refcount_table_size * 8)) {
        return "refcount table";
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) && s->nb_snapshots &&
        ranges_overlap(offset, size, s->snapshots_offset,
                       s->snapshots_size)) {
        return "snapshot table";
    }
    for (uint32_t i = 0; (chk & QCOW2_OL_INACTIVE_L1) && s->snapshots &&
         i < s->nb_snapshots; i++) {
        const Qcow2Snapshot *sn = &s->snapshots[i];
        /* Snapshot L1 tables are validated when used, not at open. */
        if (sn->l1_size &&
            qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size, 8,
                                 QCOW2_MAX_L1_BYTES, "", NULL) == 0 &&
            ranges_overlap(offset, size, sn->l1_table_offset,
                           (int64_t)sn->l1_size * 8)) {
            return "inactive L1 table";
        }
    }
    for (uint32_t i = 0; (chk & QCOW2_OL_ACTIVE_L2) && s->l1_table &&
         i < s->l1_size; i++) {
        uint64_t b = s->l1_table[i] & L1E_OFFSET_MASK;
        if (b && ranges_overlap(offset, size, b, s->cluster_size)) {
            return "active L2 table";
        }
    }
    for (uint64_t i = 0; (chk & QCOW2_OL_REFCOUNT_BLOCK) &&
         s->refcount_table && i < s->refcount_table_size; i++) {
        uint64_t b = s->refcount_table[i] & REFT_OFFSET_MASK;
        if (b && ranges_overlap(offset, size, b, s->cluster_size)) {
            return "refcount block";
        }
    }
    if ((chk & QCOW2_OL_INACTIVE_L2) && overlaps_inactive_l2(bs, offset,
                                                              size)) {
        return "inactive L2 table";
    }
    if ((chk & QCOW2_OL_BITMAP_DIRECTORY) &&
        (s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) &&
        ranges_overlap(offset, size, s->bitmap_directory_offset,
                       s->bitmap_directory_size)) {
        return "bitmap directory";
    }
    return NULL;
}

const char *qcow2_overlaps_metadata(BlockDriverState *bs, int64_t offset,
                                    int64_t size)
{
    return qcow2_check_metadata_overlap(bs, 0, offset, size);
}

int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size)
{
    const char *what = qcow2_check_metadata_overlap(bs, ign, offset, size);

    if (what) {
        qcow2_signal_corruption(bs, true, "Preventing invalid write on "
                                "metadata (overlaps with %s)", what);
        return -EIO;
    }
    return 0;
}
