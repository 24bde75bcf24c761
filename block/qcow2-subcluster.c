/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-subcluster.c: extended L2 entries (incompatible bit 4).  What each
 * of a cluster's 32 subclusters is, and the writes and zero writes that
 * allocate or zero single subclusters, as QEMU 7.2 does them.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

Qcow2SubclusterType qcow2_get_subcluster_type(BDRVQcow2State *s, uint64_t e,
                                              uint64_t b, int sc)
{
    Qcow2ClusterType t = qcow2_get_cluster_type(s, e);

    if (!qcow2_has_subclusters(s)) {
        switch (t) {
        case QCOW2_CLUSTER_COMPRESSED:
            return QCOW2_SUBCLUSTER_COMPRESSED;
        case QCOW2_CLUSTER_ZERO_PLAIN:
            return QCOW2_SUBCLUSTER_ZERO_PLAIN;
        case QCOW2_CLUSTER_ZERO_ALLOC:
            return QCOW2_SUBCLUSTER_ZERO_ALLOC;
        case QCOW2_CLUSTER_NORMAL:
            return QCOW2_SUBCLUSTER_NORMAL;
        default:
            return QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
        }
    }
    switch (t) {
    case QCOW2_CLUSTER_COMPRESSED:
        return QCOW2_SUBCLUSTER_COMPRESSED;
    case QCOW2_CLUSTER_NORMAL:
        if ((b >> 32) & b) {
            return QCOW2_SUBCLUSTER_INVALID;
        }
        if (b & QCOW_OFLAG_SUB_ZERO(sc)) {
            return QCOW2_SUBCLUSTER_ZERO_ALLOC;
        }
        if (b & QCOW_OFLAG_SUB_ALLOC(sc)) {
            return QCOW2_SUBCLUSTER_NORMAL;
        }
        return QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC;
    default:
        if (b & QCOW_L2_BITMAP_ALL_ALLOC) {
            return QCOW2_SUBCLUSTER_INVALID;
        }
        if (b & QCOW_OFLAG_SUB_ZERO(sc)) {
            return QCOW2_SUBCLUSTER_ZERO_PLAIN;
        }
        return QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
    }
}

int qcow2_subcluster_range(BDRVQcow2State *s, uint64_t e, uint64_t b,
                           int sc, Qcow2SubclusterType *type)
{
    uint32_t v;

    *type = qcow2_get_subcluster_type(s, e, b, sc);
    if (*type == QCOW2_SUBCLUSTER_INVALID) {
        return -EINVAL;
    }
    if (!qcow2_has_subclusters(s) || *type == QCOW2_SUBCLUSTER_COMPRESSED) {
        return s->subclusters_per_cluster - sc;
    }
    switch (*type) {
    case QCOW2_SUBCLUSTER_NORMAL:
        v = b | QCOW_OFLAG_SUB_ALLOC_RANGE(0, sc);
        return cto32(v) - sc;
    case QCOW2_SUBCLUSTER_ZERO_PLAIN:
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        v = (b | QCOW_OFLAG_SUB_ZERO_RANGE(0, sc)) >> 32;
        return cto32(v) - sc;
    default:
        v = ((b >> 32) | b) & ~QCOW_OFLAG_SUB_ALLOC_RANGE(0, sc);
        return ctz32(v) - sc;
    }
}

/* ---- writes ----------------------------------------------------------- */

/* Writing there needs a new cluster (unallocated, compressed or shared). */
static bool needs_new_cluster(BDRVQcow2State *s, uint64_t e)
{
    return qcow2_get_cluster_type(s, e) != QCOW2_CLUSTER_NORMAL ||
           !(e & QCOW_OFLAG_COPIED);
}

/*
 * A write's copy-on-write areas: the new or kept clusters get
 * [@cow_from, @cow_to) (bytes from the first cluster's start) written,
 * the request's data in the middle.  @skip: nothing in the L2 table
 * changes (every subcluster written in place is allocated already).
 */
typedef struct SubclusterWrite {
    uint64_t cow_from;
    uint64_t cow_to;
    bool skip;
} SubclusterWrite;

/*
 * QEMU's calculate_l2_meta() for the @nb clusters from @l2_index, written
 * in [@from, @to) (bytes from the first one's start).  @keep: the
 * clusters are written in place.
 */
static int plan_write(BlockDriverState *bs, int64_t l2_off, uint64_t *l2,
                      uint64_t l2_index, uint64_t nb, uint64_t from,
                      uint64_t to, bool keep, SubclusterWrite *w)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t e, b;
    Qcow2SubclusterType t;
    int sc;

    w->skip = keep;
    for (uint64_t i = 0; i < nb; i++) {
        e = qcow2_l2_entry(s, l2, l2_index + i);
        b = qcow2_l2_bitmap(s, l2, l2_index + i);
        if (w->skip) {
            uint64_t wf = MAX(from, i << s->cluster_bits);
            uint64_t wt = MIN(to, (i + 1) << s->cluster_bits);
            int first = qcow2_sc_index(s, wf);
            int last = qcow2_sc_index(s, wt - 1);
            int cnt = qcow2_subcluster_range(s, e, b, first, &t);

            if (t != QCOW2_SUBCLUSTER_NORMAL || first + cnt <= last) {
                w->skip = false;
            }
        } else {
            t = qcow2_get_subcluster_type(s, e, b, 0);
        }
        if (t == QCOW2_SUBCLUSTER_INVALID) {
            qcow2_signal_corruption(bs, true, "Invalid cluster entry found "
                                    "(L2 offset: %#" PRIx64 ", L2 index: "
                                    "%#x)", (uint64_t)l2_off,
                                    (int)(l2_index + i));
            return -EIO;
        }
    }
    if (w->skip) {
        w->cow_from = from;
        w->cow_to = to;
        return 0;
    }

    e = qcow2_l2_entry(s, l2, l2_index);
    b = qcow2_l2_bitmap(s, l2, l2_index);
    sc = qcow2_sc_index(s, from);
    t = qcow2_get_subcluster_type(s, e, b, sc);
    switch (t) {
    case QCOW2_SUBCLUSTER_COMPRESSED:
        w->cow_from = 0;
        break;
    case QCOW2_SUBCLUSTER_NORMAL:
        /* Written in place: no copy-on-write before the data. */
        w->cow_from = keep ? from
                      : (uint64_t)MIN(sc, ctz32((uint32_t)b))
                        << s->subcluster_bits;
        break;
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
    case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
        /* Skip the leading unallocated and zero subclusters. */
        w->cow_from = keep ? (uint64_t)sc << s->subcluster_bits
                      : (uint64_t)MIN(sc, ctz32((uint32_t)b))
                        << s->subcluster_bits;
        break;
    default:
        w->cow_from = (uint64_t)sc << s->subcluster_bits;
        break;
    }

    e = qcow2_l2_entry(s, l2, l2_index + nb - 1);
    b = qcow2_l2_bitmap(s, l2, l2_index + nb - 1);
    sc = qcow2_sc_index(s, to - 1);
    t = qcow2_get_subcluster_type(s, e, b, sc);
    switch (t) {
    case QCOW2_SUBCLUSTER_COMPRESSED:
        w->cow_to = QEMU_ALIGN_UP(to, s->cluster_size);
        break;
    case QCOW2_SUBCLUSTER_NORMAL:
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
    case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
        if (keep) {
            w->cow_to = t == QCOW2_SUBCLUSTER_NORMAL ? to
                        : QEMU_ALIGN_UP(to, s->subcluster_size);
        } else {
            /* Skip the trailing unallocated and zero subclusters. */
            w->cow_to = QEMU_ALIGN_UP(to, s->cluster_size) -
                        ((uint64_t)MIN(s->subclusters_per_cluster - sc - 1,
                                       clz32((uint32_t)b))
                         << s->subcluster_bits);
        }
        break;
    default:
        w->cow_to = QEMU_ALIGN_UP(to, s->subcluster_size);
        break;
    }
    return 0;
}

/*
 * Write [@w->cow_from, @w->cow_to) of the clusters at @host (guest
 * clusters from @vstart): the copy-on-write areas from the guest view
 * (zeroed in the file instead if they read as zeros, QEMU's
 * handle_alloc_space()), the data at @from.  Called with the metadata
 * lock dropped (qcow2_data_io_begin()).
 */
static int write_with_cow(BlockDriverState *bs, uint64_t vstart,
                          uint64_t host, const SubclusterWrite *w,
                          uint64_t from, uint64_t bytes, const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t head = from - w->cow_from;
    uint64_t tail = w->cow_to - (from + bytes);
    uint64_t len = w->cow_to - w->cow_from;
    uint8_t *cow;
    int ret;

    if (!head && !tail) {
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
        return qcow2_write_data(bs, host + from, bytes, buf);
    }
    if (bdrv_is_zero_fast(bs, vstart + w->cow_from, head) &&
        bdrv_is_zero_fast(bs, vstart + from + bytes, tail)) {
        ret = qcow2_has_data_file(s) ? 0
              : qcow2_pre_write_overlap_check(bs, 0, host + w->cow_from, len);
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_pwrite_zeroes(s->data_file->bs, host + w->cow_from, len,
                                 BDRV_REQ_NO_FALLBACK);
        if (ret == 0) {
            bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
            return qcow2_write_data(bs, host + from, bytes, buf);
        }
        if (ret != -ENOTSUP && ret != -EAGAIN) {
            return ret;
        }
    }
    cow = qemu_xmalloc(len);
    bdrv_debug_event(bs->file->bs, BLKDBG_COW_READ);
    qcow2_lock(bs); /* the lookups; the reads drop it again */
    ret = qcow2_read(bs, vstart + w->cow_from, head, cow);
    if (ret == 0) {
        ret = qcow2_read(bs, vstart + from + bytes, tail, cow + head + bytes);
    }
    qcow2_unlock(bs);
    if (ret == 0) {
        memcpy(cow + head, buf, bytes);
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
        ret = qcow2_write_data(bs, host + w->cow_from, len, cow);
    }
    free(cow);
    return ret;
}

int qcow2_subcluster_write(BlockDriverState *bs, uint64_t offset,
                           uint64_t bytes, const uint8_t *buf,
                           uint64_t *done)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    uint64_t vstart = offset - in_cluster;
    uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t nb, k, e0, host, *l2, *old = NULL;
    SubclusterWrite w;
    int64_t l2_off, h;
    bool keep, dropped;
    int ret;

    nb = MIN((uint64_t)s->l2_size - l2_index,
             qcow2_size_to_clusters(s, in_cluster + bytes));
    l2_off = qcow2_get_writable_l2(bs, offset);
    if (l2_off < 0) {
        return l2_off;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    e0 = qcow2_l2_entry(s, l2, l2_index);
    keep = !needs_new_cluster(s, e0);
    host = e0 & L2E_OFFSET_MASK;
    for (k = 1; k < nb; k++) {
        uint64_t e = qcow2_l2_entry(s, l2, l2_index + k);
        if (needs_new_cluster(s, e) == keep) {
            break;
        }
        if (keep && (e & L2E_OFFSET_MASK) != host + (k << s->cluster_bits)) {
            break;
        }
    }
    bytes = MIN(bytes, (k << s->cluster_bits) - in_cluster);
    *done = bytes;

    if (keep) {
        int64_t flen = qcow2_has_data_file(s) ? -1
                       : bdrv_getlength(bs->file->bs);
        if (qcow2_offset_into_cluster(s, host)) {
            qcow2_signal_corruption(bs, true, "Data cluster offset %#"
                                    PRIx64 " unaligned (guest offset: %#"
                                    PRIx64 ")", host, offset);
            return -EIO;
        }
        if (flen >= 0 && host + ((k - 1) << s->cluster_bits) >=
            (uint64_t)QEMU_ALIGN_UP(flen, s->cluster_size)) {
            qcow2_signal_corruption(bs, true, "Data cluster offset %#" PRIx64
                                    " is beyond the end of the image file "
                                    "(guest offset: %#" PRIx64 ")", host,
                                    vstart);
            return -EIO;
        }
    }
    ret = plan_write(bs, l2_off, l2, l2_index, k, in_cluster,
                     in_cluster + bytes, keep, &w);
    if (ret < 0) {
        return ret;
    }
    if (w.skip) {
        dropped = qcow2_data_io_begin(bs);
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
        ret = qcow2_write_data(bs, host + in_cluster, bytes, buf);
        qcow2_data_io_end(bs, dropped);
        return ret;
    }
    k = qcow2_size_to_clusters(s, w.cow_to);
    if (!keep) {
        old = qemu_xnew0(uint64_t, k);
        for (uint64_t i = 0; i < k; i++) {
            old[i] = qcow2_l2_entry(s, l2, l2_index + i);
        }
        ret = qcow2_mark_dirty(bs);
        if (ret < 0) {
            goto out;
        }
        h = qcow2_alloc_data_clusters(bs, vstart, k << s->cluster_bits);
        if (h < 0) {
            ret = h;
            goto out;
        }
        host = h;
    }
    dropped = qcow2_data_io_begin(bs);
    ret = write_with_cow(bs, vstart, host, &w, in_cluster, bytes, buf);
    qcow2_data_io_end(bs, dropped);
    if (ret < 0) {
        if (!keep) {
            qcow2_free_data_clusters(bs, host, k << s->cluster_bits);
        }
        goto out;
    }
    /* The data is written; now the entries and their bitmaps. */
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        goto out;
    }
    for (uint64_t i = 0; i < k; i++) {
        uint64_t b = qcow2_l2_bitmap(s, l2, l2_index + i);
        uint64_t wf = MAX(w.cow_from, i << s->cluster_bits);
        uint64_t wt = MIN(w.cow_to, (i + 1) << s->cluster_bits);
        int first = qcow2_sc_index(s, wf);
        int last = qcow2_sc_index(s, wt - 1);

        b |= QCOW_OFLAG_SUB_ALLOC_RANGE(first, last + 1);
        b &= ~QCOW_OFLAG_SUB_ZERO_RANGE(first, last + 1);
        qcow2_set_l2_entry(s, l2, l2_index + i,
                           (host + (i << s->cluster_bits)) |
                           QCOW_OFLAG_COPIED);
        qcow2_set_l2_bitmap(s, l2, l2_index + i, b);
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    if (old) {
        ret = qcow2_free_old_entries(bs, old, k);
    }
out:
    free(old);
    return ret;
}

/* ---- zero writes ------------------------------------------------------ */

/*
 * QEMU's zero_l2_subclusters(): @nb subclusters (fewer than a cluster's)
 * from the subcluster-aligned @offset read as zeros through their bits.
 */
static int zero_subclusters(BlockDriverState *bs, uint64_t offset, int nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    int sc = qcow2_sc_index(s, offset);
    uint64_t *l2, b, nbm;
    int64_t l2_off;
    int ret;

    l2_off = qcow2_get_writable_l2(bs, offset);
    if (l2_off < 0) {
        return l2_off;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    if (qcow2_get_cluster_type(s, qcow2_l2_entry(s, l2, l2_index)) ==
        QCOW2_CLUSTER_COMPRESSED) {
        return -ENOTSUP;        /* no partial zeroing of compressed data */
    }
    b = qcow2_l2_bitmap(s, l2, l2_index);
    nbm = (b | QCOW_OFLAG_SUB_ZERO_RANGE(sc, sc + nb)) &
          ~QCOW_OFLAG_SUB_ALLOC_RANGE(sc, sc + nb);
    if (nbm != b) {
        qcow2_set_l2_bitmap(s, l2, l2_index, nbm);
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
    return 0;
}

int qcow2_subcluster_zeroize(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, bool may_unmap)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t end = offset + bytes;
    int64_t head, tail;
    int ret = 0;

    head = MIN(end, QEMU_ALIGN_UP(offset, s->cluster_size)) - offset;
    offset += head;
    tail = (uint64_t)end >= s->size ? 0
           : end - MAX(offset, qcow2_start_of_cluster(s, end));
    end -= tail;
    if (head) {
        ret = zero_subclusters(bs, offset - head,
                               DIV_ROUND_UP(head, s->subcluster_size));
        if (ret < 0) {
            return ret;
        }
    }
    if (end > offset) {
        ret = qcow2_cluster_zeroize(bs, offset,
                                    QEMU_ALIGN_UP(end - offset,
                                                  s->cluster_size),
                                    may_unmap);
        if (ret < 0) {
            return ret;
        }
    }
    if (tail) {
        ret = zero_subclusters(bs, end, DIV_ROUND_UP(tail,
                                                     s->subcluster_size));
    }
    return ret;
}
