/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-cluster.c: guest offset -> host cluster mapping (L1/L2), the read
 * and write paths, copy-on-write, compressed clusters, zero and discard.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

Qcow2ClusterType qcow2_get_cluster_type(BDRVQcow2State *s, uint64_t e)
{
    if (e & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if ((e & QCOW_OFLAG_ZERO) && !qcow2_has_subclusters(s)) {
        return (e & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                     : QCOW2_CLUSTER_ZERO_PLAIN;
    }
    if (!(e & L2E_OFFSET_MASK)) {
        /*
         * Offset 0 is a data cluster in an external data file: those all
         * have refcount 1, so the COPIED flag tells them apart.
         */
        return qcow2_has_data_file(s) && (e & QCOW_OFLAG_COPIED)
               ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
    }
    return QCOW2_CLUSTER_NORMAL;
}

/* ---- L1 --------------------------------------------------------------- */

int qcow2_write_l1_entry(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t buf[8];

    int64_t flen = bdrv_getlength(bs->file->bs);

    if (s->l1_table_offset + l1_index * 8 < (uint64_t)s->cluster_size) {
        return -EIO;
    }
    if (flen >= 0 && s->l1_table_offset + l1_index * 8 >= (uint64_t)flen) {
        qcow2_signal_corruption(bs, true, "Active L1 table at %#" PRIx64
                                " is beyond the end of the image file",
                                s->l1_table_offset);
        return -EIO;
    }
    stbe64(buf, s->l1_table[l1_index]);
    return bdrv_child_pwrite(bs->file, s->l1_table_offset + l1_index * 8, 8,
                             buf, 0);
}

int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size, bool exact)
{
    uint8_t hdr[12];
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_size = s->l1_size;
    uint64_t old_offset = s->l1_table_offset;
    uint64_t old_size = s->l1_size;
    uint64_t *new_table;
    uint8_t *buf;
    int64_t new_offset;
    int ret;

    if (min_size <= s->l1_size) {
        return 0;
    }
    if (exact) {
        new_size = min_size;
    } else {
        if (!new_size) {
            new_size = 1;
        }
        while (min_size > new_size) {
            new_size = DIV_ROUND_UP(new_size * 3, 2);
        }
    }
    if (new_size > QCOW2_MAX_L1_BYTES / 8) {
        return -EFBIG;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    new_offset = qcow2_alloc_clusters(bs, new_size * 8);
    if (new_offset < 0) {
        return new_offset;
    }
    ret = qcow2_cache_flush(bs, s->refcount_cache);
    if (ret < 0) {
        return ret;
    }
    new_table = qemu_xnew0(uint64_t, new_size);
    memcpy(new_table, s->l1_table, s->l1_size * 8);
    buf = qemu_xzalloc(new_size * 8);
    for (uint64_t i = 0; i < new_size; i++) {
        stbe64(buf + i * 8, new_table[i]);
    }
    ret = bdrv_child_pwrite(bs->file, new_offset, new_size * 8, buf, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        goto fail;
    }
    /* l1_size and l1_table_offset are adjacent in the header (36, 40) */
    stbe32(hdr, new_size);
    stbe64(hdr + 4, new_offset);
    ret = bdrv_child_pwrite(bs->file, 36, sizeof(hdr), hdr, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        goto fail;
    }
    free(buf);
    free(s->l1_table);
    s->l1_table = new_table;
    s->l1_table_offset = new_offset;
    s->l1_size = new_size;
    if (old_size) {
        qcow2_free_clusters(bs, old_offset, old_size * 8);
    }
    return 0;
fail:
    free(buf);
    free(new_table);
    qcow2_free_clusters(bs, new_offset, new_size * 8);
    return ret;
}

/* ---- lookup ----------------------------------------------------------- */

static int check_l2_offset(BlockDriverState *bs, uint64_t l2_off, int l1_idx)
{
    BDRVQcow2State *s = bs->opaque;

    if (qcow2_offset_into_cluster(s, l2_off)) {
        qcow2_signal_corruption(bs, true, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#x)", l2_off, l1_idx);
        return -EIO;
    }
    return 0;
}

/*
 * QEMU's count_contiguous_subclusters(): subclusters from @sc of the entry
 * at @l2_index with the same type (and, allocated, contiguous in the
 * file) over at most @nb clusters.  -EIO for an invalid entry, whose
 * index is then in *@bad.
 */
static int count_contiguous(BDRVQcow2State *s, uint64_t *l2,
                            uint64_t l2_index, uint64_t nb, int sc,
                            uint64_t *bad)
{
    Qcow2SubclusterType want = QCOW2_SUBCLUSTER_NORMAL, t;
    uint64_t e0 = qcow2_l2_entry(s, l2, l2_index);
    uint64_t expected = e0 & L2E_OFFSET_MASK;
    bool check_offset = false;
    int count = 0;

    for (uint64_t i = 0; i < nb; i++) {
        int first = i == 0 ? sc : 0;
        uint64_t e = qcow2_l2_entry(s, l2, l2_index + i);
        uint64_t b = qcow2_l2_bitmap(s, l2, l2_index + i);
        int n = qcow2_subcluster_range(s, e, b, first, &t);

        if (n < 0) {
            *bad = l2_index + i;
            return -EIO;
        }
        if (i == 0) {
            if (t == QCOW2_SUBCLUSTER_COMPRESSED) {
                return n;
            }
            want = t;
            check_offset = t == QCOW2_SUBCLUSTER_NORMAL ||
                           t == QCOW2_SUBCLUSTER_ZERO_ALLOC ||
                           t == QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC;
        } else if (t != want) {
            break;
        } else if (check_offset) {
            expected += s->cluster_size;
            if ((e & L2E_OFFSET_MASK) != expected) {
                break;
            }
            /* Without subclusters, runs also keep one COPIED state. */
            if (!qcow2_has_subclusters(s) &&
                (e & QCOW_OFLAG_COPIED) != (e0 & QCOW_OFLAG_COPIED)) {
                break;
            }
        }
        count += n;
        if (first + n < s->subclusters_per_cluster) {
            break;
        }
    }
    return count;
}

int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, uint64_t *host_offset,
                          Qcow2SubclusterType *type, uint64_t *l2_entry)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t avail = ((uint64_t)(s->l2_size - l2_index) << s->cluster_bits)
                     - in_cluster;
    uint64_t want = MIN(*bytes, avail);
    uint64_t l2_off, e, b, nb_clusters, bad = 0;
    int sc = qcow2_sc_index(s, offset);
    uint64_t *l2;
    int ret, n;

    *host_offset = 0;
    *l2_entry = 0;
    *type = QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN;
    if (l1_index >= s->l1_size) {
        *bytes = want;
        return 0;
    }
    l2_off = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (!l2_off) {
        *bytes = want;
        return 0;
    }
    ret = check_l2_offset(bs, l2_off, l1_index);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    e = qcow2_l2_entry(s, l2, l2_index);
    b = qcow2_l2_bitmap(s, l2, l2_index);
    *l2_entry = e;
    *type = qcow2_get_subcluster_type(s, e, b, sc);
    nb_clusters = qcow2_size_to_clusters(s, in_cluster + want);

    switch (*type) {
    case QCOW2_SUBCLUSTER_COMPRESSED:
        if (qcow2_has_data_file(s)) {
            qcow2_signal_corruption(bs, true, "Compressed cluster entry "
                                    "found in image with external data file "
                                    "(L2 offset: %#" PRIx64 ", L2 index: "
                                    "%#x)", l2_off, (int)l2_index);
            return -EIO;
        }
        *host_offset = e & s->cluster_offset_mask;
        break;
    case QCOW2_SUBCLUSTER_NORMAL:
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
    case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC: {
        uint64_t host = e & L2E_OFFSET_MASK;
        if (qcow2_offset_into_cluster(s, host)) {
            qcow2_signal_corruption(bs, true, "Cluster allocation offset %#"
                                    PRIx64 " unaligned (L2 offset: %#" PRIx64
                                    ", L2 index: %#x)", host, l2_off,
                                    (int)l2_index);
            return -EIO;
        }
        if (qcow2_has_data_file(s) &&
            host != (uint64_t)qcow2_start_of_cluster(s, offset)) {
            qcow2_signal_corruption(bs, true, "External data file host "
                                    "cluster offset %#" PRIx64 " does not "
                                    "match guest cluster offset: %#" PRIx64,
                                    host, (uint64_t)
                                    qcow2_start_of_cluster(s, offset));
            return -EIO;
        }
        *host_offset = host + in_cluster;
        break;
    }
    default:
        break;
    }
    n = count_contiguous(s, l2, l2_index, nb_clusters, sc, &bad);
    if (n < 0) {
        /* QEMU's message has the double space too. */
        qcow2_signal_corruption(bs, true, "Invalid cluster entry found  (L2 "
                                "offset: %#" PRIx64 ", L2 index: %#x)",
                                l2_off, (int)bad);
        return -EIO;
    }
    avail = ((uint64_t)n + sc) << s->subcluster_bits;
    *bytes = MIN(want + in_cluster, avail) - in_cluster;
    return 0;
}

/* ---- compression ------------------------------------------------------ */

/*
 * Host offset and length of a compressed cluster's stream, as QEMU's
 * qcow2_parse_compressed_l2_entry(): the length comes from a sector count
 * and may run past the host cluster, the file, or what the stream needs.
 * It is at most twice the cluster size (the size field has cluster_bits - 8
 * bits).
 */
static void parse_compressed_entry(BDRVQcow2State *s, uint64_t l2_entry,
                                   uint64_t *coffset, int64_t *csize)
{
    uint64_t nb;

    qcow2_compressed_entry(s, l2_entry, coffset, &nb);
    *csize = nb * BDRV_SECTOR_SIZE - (*coffset % BDRV_SECTOR_SIZE);
}

int qcow2_decompress_cluster(BlockDriverState *bs, uint64_t l2_entry,
                             uint8_t *out)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset;
    int64_t csize, flen, avail;
    uint8_t *in;
    int ret;

    if (s->cluster_cache_offset == l2_entry) {
        memcpy(out, s->cluster_cache, s->cluster_size);
        return 0;
    }
    parse_compressed_entry(s, l2_entry, &coffset, &csize);
    flen = bdrv_getlength(bs->file->bs);
    if (flen < 0) {
        return flen;
    }
    /*
     * QEMU reads the whole length; what lies past the end of the file
     * reads as zeros.  Read only what the file has.
     */
    avail = (int64_t)coffset < flen ? MIN(csize, flen - (int64_t)coffset)
                                    : 0;
    in = qemu_xmalloc(csize);
    bdrv_debug_event(bs->file->bs, BLKDBG_READ_COMPRESSED);
    ret = avail ? bdrv_child_pread(bs->file, coffset, avail, in) : 0;
    if (ret == 0) {
        memset(in + avail, 0, csize - avail);
        s->cluster_cache_offset = UINT64_MAX;
        ret = qcow2_decompress(s, s->cluster_cache, s->cluster_size,
                               in, csize);
        if (ret == -ENOTSUP) {
            qcow2_warn_no_compression(s);
        }
    }
    free(in);
    if (ret < 0) {
        return ret;
    }
    s->cluster_cache_offset = l2_entry;
    memcpy(out, s->cluster_cache, s->cluster_size);
    return 0;
}

/* ---- read ------------------------------------------------------------- */

static int read_backing(BlockDriverState *bs, uint64_t offset,
                        uint64_t bytes, uint8_t *buf)
{
    BlockDriverState *b = bs->backing ? bs->backing->bs : NULL;
    int64_t blen;
    uint64_t n = 0;

    if (b) {
        blen = bdrv_getlength(b);
        if (blen < 0) {
            return blen;
        }
        if (offset < (uint64_t)blen) {
            int ret;
            n = MIN(bytes, (uint64_t)blen - offset);
            ret = bdrv_pread(b, offset, n, buf);
            if (ret < 0) {
                return ret;
            }
        }
    }
    memset(buf + n, 0, bytes - n);
    return 0;
}

int qcow2_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
               uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;

    while (bytes > 0) {
        uint64_t cur = bytes, host, e;
        Qcow2SubclusterType type;
        bool dropped;
        int ret = qcow2_get_host_offset(bs, offset, &cur, &host, &type, &e);

        if (ret < 0) {
            return ret;
        }
        switch (type) {
        case QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN:
        case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
            ret = read_backing(bs, offset, cur, buf);
            break;
        case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        case QCOW2_SUBCLUSTER_ZERO_ALLOC:
            memset(buf, 0, cur);
            break;
        case QCOW2_SUBCLUSTER_NORMAL:
            if (!qcow2_has_data_file(s) &&
                qcow2_offset_into_cluster(s, host) == 0 &&
                host < (uint64_t)s->cluster_size) {
                qcow2_signal_corruption(bs, true, "Data cluster at offset 0 "
                                        "overlaps the qcow2 header");
                return -EIO;
            }
            if (!s->data_file) {
                return -EIO;
            }
            dropped = qcow2_data_io_begin(bs);
            bdrv_debug_event(bs->file->bs, BLKDBG_READ_AIO);
            ret = bdrv_child_pread(s->data_file, host, cur, buf);
            qcow2_data_io_end(bs, dropped);
            break;
        default: {
            uint8_t *tmp = qemu_xmalloc(s->cluster_size);
            ret = qcow2_decompress_cluster(bs, e, tmp);
            if (ret == 0) {
                memcpy(buf, tmp + qcow2_offset_into_cluster(s, offset), cur);
            }
            free(tmp);
            break;
        }
        }
        if (ret < 0) {
            return ret;
        }
        offset += cur;
        bytes -= cur;
        buf += cur;
    }
    return 0;
}

/* Current contents of the guest cluster at @voff, whose L2 entry is @e. */
/*
 * What the guest saw in the cluster at @voff (L2 entry @e), for copy on
 * write: QEMU's do_perform_cow_read(), with its event, and its refusal
 * once the image was marked corrupt meanwhile (QEMU drops the node's
 * driver then: -ENOMEDIUM), which a request suspended at the event sees.
 */
static int read_old_cluster(BlockDriverState *bs, uint64_t voff, uint64_t e,
                            uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;

    bdrv_debug_event(bs->file->bs, BLKDBG_COW_READ);
    if (s->signaled_corruption) {
        return -ENOMEDIUM;
    }

    switch (qcow2_get_cluster_type(s, e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return read_backing(bs, voff, s->cluster_size, buf);
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        memset(buf, 0, s->cluster_size);
        return 0;
    case QCOW2_CLUSTER_COMPRESSED:
        return qcow2_decompress_cluster(bs, e, buf);
    default:
        return bdrv_child_pread(s->data_file, e & L2E_OFFSET_MASK,
                                s->cluster_size, buf);
    }
}

/* ---- L2 allocation ---------------------------------------------------- */

/*
 * Get a writable L2 table (refcount 1) for @offset, allocating it or
 * copying a shared one.  Returns the table's host offset.
 */
int64_t qcow2_get_writable_l2(BlockDriverState *bs, uint64_t offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_index = offset >> (s->l2_bits + s->cluster_bits);
    uint64_t old_entry, old_off;
    uint8_t *copy = NULL;
    int64_t new_off;
    void *table;
    int ret;

    if (l1_index >= s->l1_size) {
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    old_entry = s->l1_table[l1_index];
    old_off = old_entry & L1E_OFFSET_MASK;
    if (old_off && (old_entry & QCOW_OFLAG_COPIED)) {
        ret = check_l2_offset(bs, old_off, l1_index);
        return ret < 0 ? ret : (int64_t)old_off;
    }
    if (old_off) {
        ret = check_l2_offset(bs, old_off, l1_index);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get(bs, s->l2_cache, old_off, &table);
        if (ret < 0) {
            return ret;
        }
        copy = qemu_xmalloc(s->cluster_size);
        memcpy(copy, table, s->cluster_size);
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        free(copy);
        return ret;
    }
    new_off = qcow2_alloc_clusters(bs, s->cluster_size);
    if (new_off < 0) {
        free(copy);
        return new_off;
    }
    if (new_off == 0) {
        /* Only a corrupt refcount structure hands out the header. */
        free(copy);
        qcow2_signal_corruption(bs, true, "Preventing invalid allocation of "
                                "L2 table at offset 0");
        return -EIO;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, new_off, s->cluster_size);
    if (ret < 0) {
        free(copy);
        return ret;
    }
    /*
     * As QEMU: with lazy refcounts too, a new table's refcount reaches the
     * disk before the table is used.  (Without them the L2 cache depends
     * on the refcount cache, which orders the writes with a flush; writing
     * the refcounts here without one would defeat that ordering.)
     */
    if (s->use_lazy_refcounts) {
        ret = qcow2_cache_flush(bs, s->refcount_cache);
        if (ret == 0) {
            ret = qcow2_file_flush(bs);
        }
        if (ret < 0) {
            free(copy);
            goto fail;
        }
    }
    ret = qcow2_cache_get_empty(bs, s->l2_cache, new_off, &table);
    if (ret < 0) {
        free(copy);
        goto fail;
    }
    if (copy) {
        memcpy(table, copy, s->cluster_size);
        free(copy);
    }
    qcow2_cache_mark_dirty(s->l2_cache, table);
    /* Refcounts, then the new table, must be on disk before the L1 entry. */
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        goto fail;
    }
    s->l1_table[l1_index] = new_off | QCOW_OFLAG_COPIED;
    ret = qcow2_write_l1_entry(bs, l1_index);
    if (ret < 0) {
        s->l1_table[l1_index] = old_entry;
        goto fail;
    }
    if (old_off) {
        qcow2_free_clusters(bs, old_off, s->cluster_size);
    }
    return new_off;

fail:
    /*
     * Nothing references the new table (the L1 entry is the old one): give
     * its cluster back, or it leaks (e.g. its write failed on a full disk).
     * Freeing it also drops the table from the L2 cache, so that closing
     * the image does not try to write it again.
     */
    qcow2_free_clusters(bs, new_off, s->cluster_size);
    return ret;
}

/*
 * Free old L2 entries; their refcounts reach the disk only after the
 * tables that dropped them (the caches' dependency, update_refcount()).
 */
int qcow2_free_old_entries(BlockDriverState *bs, uint64_t *old, int n)
{
    BDRVQcow2State *s = bs->opaque;
    bool any = false;

    for (int i = 0; i < n; i++) {
        Qcow2ClusterType t = qcow2_get_cluster_type(s, old[i]);
        any |= t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC ||
               t == QCOW2_CLUSTER_COMPRESSED;
    }
    if (!any) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        qcow2_free_any_cluster(bs, old[i]);
    }
    return 0;
}

/* ---- write ------------------------------------------------------------ */

/*
 * Data and preallocated zero clusters that only this L2 entry references
 * are written where they are (QEMU's !cluster_needs_new_alloc()).
 */
static bool entry_writable_in_place(BDRVQcow2State *s, uint64_t e)
{
    Qcow2ClusterType t = qcow2_get_cluster_type(s, e);

    return (t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) &&
           (e & QCOW_OFLAG_COPIED);
}

int qcow2_write_data(BlockDriverState *bs, uint64_t host, uint64_t bytes,
                      const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_has_data_file(s) ? 0
              : qcow2_pre_write_overlap_check(bs, 0, host, bytes);

    if (ret < 0) {
        return ret;
    }
    if (!s->data_file) {
        return -EIO;
    }
    return bdrv_child_pwrite(s->data_file, host, bytes, buf, 0);
}

/*
 * Host clusters for the @bytes of guest clusters from @vstart: allocated
 * in the image file, or in an external data file the guest offsets
 * themselves (those have no refcounts).
 */
int64_t qcow2_alloc_data_clusters(BlockDriverState *bs, uint64_t vstart,
                                   uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;

    if (qcow2_has_data_file(s)) {
        return vstart;
    }
    return qcow2_alloc_clusters(bs, bytes);
}

/*
 * Undo alloc_data_clusters() after a failed write.  Never for an external
 * data file: its clusters have no refcounts, and those of the image file
 * at the same offsets are metadata (QEMU's iotest 289).
 */
void qcow2_free_data_clusters(BlockDriverState *bs, int64_t host,
                               uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;

    if (!qcow2_has_data_file(s)) {
        qcow2_free_clusters(bs, host, bytes);
    }
}

/*
 * Write @bytes at @in_cluster into the @k clusters from @host that the L2
 * entries from @l2_index map in place.  Preallocated zero clusters keep
 * reading as zeros where the write does not cover them (QEMU copies them
 * on write from the guest view), then lose their ZERO flag.
 */
static int write_in_place(BlockDriverState *bs, int64_t l2_off,
                          uint64_t l2_index, uint64_t k, uint64_t host,
                          uint64_t in_cluster, uint64_t bytes,
                          const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, last, start = in_cluster, end = in_cluster + bytes;
    uint64_t *l2;
    bool any_zero = false, dropped;
    int ret;

    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    first = be64toh_q(l2[l2_index]);
    last = be64toh_q(l2[l2_index + k - 1]);
    if (qcow2_get_cluster_type(s, first) == QCOW2_CLUSTER_ZERO_ALLOC) {
        start = 0;
    }
    if (qcow2_get_cluster_type(s, last) == QCOW2_CLUSTER_ZERO_ALLOC) {
        end = QEMU_ALIGN_UP(end, s->cluster_size);
    }
    dropped = qcow2_data_io_begin(bs);
    bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
    if (start == in_cluster && end == in_cluster + bytes) {
        ret = qcow2_write_data(bs, host + in_cluster, bytes, buf);
    } else {
        uint8_t *cow = qemu_xzalloc(end - start);

        memcpy(cow + (in_cluster - start), buf, bytes);
        ret = qcow2_write_data(bs, host + start, end - start, cow);
        free(cow);
    }
    qcow2_data_io_end(bs, dropped);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    for (uint64_t i = 0; i < k; i++) {
        uint64_t e = be64toh_q(l2[l2_index + i]);

        if (qcow2_get_cluster_type(s, e) == QCOW2_CLUSTER_ZERO_ALLOC) {
            l2[l2_index + i] = htobe64_q((e & L2E_OFFSET_MASK) |
                                         QCOW_OFLAG_COPIED);
            any_zero = true;
        }
    }
    if (any_zero) {
        qcow2_cache_mark_dirty(s->l2_cache, l2);
    }
    return 0;
}

/*
 * QEMU's handle_alloc_space(): new clusters at @host for the guest
 * clusters from @vstart get [@start, @end) written.  If what the write
 * leaves of them (the copy-on-write areas) reads as zeros, zero the whole
 * range in the file without writing buffers (the file may make it a
 * hole) and return 0; -ENOTSUP means copy-on-write as usual.
 */
static int zero_new_clusters(BlockDriverState *bs, uint64_t vstart,
                             uint64_t host, uint64_t start, uint64_t end)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t aligned_end = QEMU_ALIGN_UP(end, s->cluster_size);
    int ret;

    if (start == 0 && end == aligned_end) {
        return -ENOTSUP;
    }
    if (!bdrv_is_zero_fast(bs, vstart, start) ||
        !bdrv_is_zero_fast(bs, vstart + end, aligned_end - end)) {
        return -ENOTSUP;
    }
    ret = qcow2_has_data_file(s) ? 0
          : qcow2_pre_write_overlap_check(bs, 0, host, aligned_end);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_pwrite_zeroes(s->data_file->bs, host, aligned_end,
                             BDRV_REQ_NO_FALLBACK);
    return ret == -EAGAIN ? -ENOTSUP : ret;
}

/*
 * The guest data of a write into @k new clusters at @host: @bytes from
 * @buf at @in_cluster, and the rest of a partial first and last cluster
 * copied from what the guest saw there (the @old L2 entries); or, when
 * that reads as zeros, the clusters zeroed and only the data written.
 * No metadata changes here: the caller has dropped its lock.
 */
static int write_new_clusters(BlockDriverState *bs, uint64_t vstart,
                              int64_t host, uint64_t k, uint64_t in_cluster,
                              uint64_t bytes, const uint8_t *buf,
                              const uint64_t *old)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = in_cluster + bytes;
    uint64_t tail_start = (k - 1) << s->cluster_bits;
    bool head_partial, tail_partial;
    uint64_t mid_start, mid_end;
    uint8_t *cbuf;
    int ret = zero_new_clusters(bs, vstart, host, in_cluster, end);

    if (ret == 0 || ret == -ENOTSUP) {
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
    }
    if (ret == 0) {
        /* The clusters read as zeros: write just the data. */
        return qcow2_write_data(bs, host + in_cluster, bytes, buf);
    }
    if (ret != -ENOTSUP) {
        return ret;
    }
    head_partial = in_cluster != 0 ||
                   (k == 1 && end < (uint64_t)s->cluster_size);
    tail_partial = (end & (s->cluster_size - 1)) != 0 &&
                   (k > 1 || !head_partial);
    mid_start = head_partial ? s->cluster_size : 0;
    mid_end = tail_partial ? tail_start : (k << s->cluster_bits);
    if (k == 1 && (in_cluster != 0 || end < (uint64_t)s->cluster_size)) {
        head_partial = true;
        tail_partial = false;
        mid_start = mid_end = s->cluster_size;
    }
    cbuf = qemu_xmalloc(s->cluster_size);
    ret = 0;
    if (head_partial) {
        uint64_t n = MIN(bytes, s->cluster_size - in_cluster);
        ret = read_old_cluster(bs, vstart, old[0], cbuf);
        if (ret == 0) {
            memcpy(cbuf + in_cluster, buf, n);
            ret = qcow2_write_data(bs, host, s->cluster_size, cbuf);
        }
    }
    if (ret == 0 && mid_end > mid_start) {
        ret = qcow2_write_data(bs, host + mid_start, mid_end - mid_start,
                               buf + (mid_start - in_cluster));
    }
    if (ret == 0 && tail_partial) {
        uint64_t n = end - tail_start;
        ret = read_old_cluster(bs, vstart + tail_start, old[k - 1], cbuf);
        if (ret == 0) {
            memcpy(cbuf, buf + (tail_start - in_cluster), n);
            ret = qcow2_write_data(bs, host + tail_start, s->cluster_size,
                                   cbuf);
        }
    }
    free(cbuf);
    return ret;
}

/*
 * New host clusters for @k guest clusters from @vstart: as QEMU's
 * handle_alloc(), a write goes on where its previous part ended (@hint,
 * 0 if none) with as many clusters as are free there (*@k is cut down to
 * them), and only else takes the first free ones.
 */
static int64_t alloc_new_clusters(BlockDriverState *bs, uint64_t vstart,
                                  uint64_t hint, uint64_t *k)
{
    BDRVQcow2State *s = bs->opaque;

    if (hint && !qcow2_has_data_file(s) && hint < QCOW2_MAX_HOST_OFFSET) {
        int64_t n = qcow2_alloc_clusters_at(bs, hint, *k);
        if (n < 0) {
            return n;
        }
        if (n > 0) {
            *k = n;
            return hint;
        }
    }
    return qcow2_alloc_data_clusters(bs, vstart, *k << s->cluster_bits);
}

/*
 * Write into a run of clusters inside one L2 table; *@hint: in, where
 * the write's previous part ended in the file (0: none), out, where this
 * one ends.
 */
static int write_in_l2(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                       const uint8_t *buf, uint64_t *done, uint64_t *hint)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    uint64_t max_clusters = s->l2_size - l2_index;
    uint64_t nb, k, *l2, *old = NULL;
    int64_t l2_off, host;
    bool in_place, dropped;
    int ret;

    nb = MIN(max_clusters, qcow2_size_to_clusters(s, in_cluster + bytes));
    l2_off = qcow2_get_writable_l2(bs, offset);
    if (l2_off < 0) {
        return l2_off;
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    in_place = entry_writable_in_place(s, be64toh_q(l2[l2_index]));
    for (k = 1; k < nb; k++) {
        uint64_t e = be64toh_q(l2[l2_index + k]);
        if (entry_writable_in_place(s, e) != in_place) {
            break;
        }
        if (in_place && (e & L2E_OFFSET_MASK) !=
            (be64toh_q(l2[l2_index]) & L2E_OFFSET_MASK) +
            (k << s->cluster_bits)) {
            break;
        }
    }
    bytes = MIN(bytes, (k << s->cluster_bits) - in_cluster);
    *done = bytes;

    if (in_place) {
        uint64_t h = be64toh_q(l2[l2_index]) & L2E_OFFSET_MASK;
        int64_t flen = qcow2_has_data_file(s) ? -1
                       : bdrv_getlength(bs->file->bs);
        if (flen >= 0 && h + ((k - 1) << s->cluster_bits) >=
            (uint64_t)QEMU_ALIGN_UP(flen, s->cluster_size)) {
            /* Never extend the file through a corrupt L2 entry. */
            qcow2_signal_corruption(bs, true, "Data cluster offset %#" PRIx64
                                    " is beyond the end of the image file "
                                    "(guest offset: %#" PRIx64 ")", h,
                                    offset - in_cluster);
            return -EIO;
        }
        if (qcow2_offset_into_cluster(s, h)) {
            qcow2_signal_corruption(bs, true, "%s cluster offset %#"
                                    PRIx64 " unaligned (guest offset: %#"
                                    PRIx64 ")",
                                    be64toh_q(l2[l2_index]) & QCOW_OFLAG_ZERO
                                    ? "Preallocated zero" : "Data",
                                    h, offset - in_cluster);
            return -EIO;
        }
        *hint = h + (k << s->cluster_bits);
        return write_in_place(bs, l2_off, l2_index, k, h, in_cluster, bytes,
                              buf);
    }

    /* Allocate k new clusters and copy-on-write the partial ends. */
    old = qemu_xnew0(uint64_t, k);
    for (uint64_t i = 0; i < k; i++) {
        old[i] = be64toh_q(l2[l2_index + i]);
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        goto out;
    }
    host = alloc_new_clusters(bs, offset - in_cluster, *hint, &k);
    if (host < 0) {
        ret = host;
        goto out;
    }
    bytes = MIN(bytes, (k << s->cluster_bits) - in_cluster);
    *done = bytes;
    *hint = host + (k << s->cluster_bits);
    dropped = qcow2_data_io_begin(bs);
    ret = write_new_clusters(bs, offset - in_cluster, host, k, in_cluster,
                             bytes, buf, old);
    qcow2_data_io_end(bs, dropped);
    if (ret < 0) {
        qcow2_free_data_clusters(bs, host, k << s->cluster_bits);
        goto out;
    }
    /* Data is written; now point the L2 entries at it. */
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        goto out;
    }
    for (uint64_t i = 0; i < k; i++) {
        l2[l2_index + i] = htobe64_q((host + (i << s->cluster_bits)) |
                                     QCOW_OFLAG_COPIED);
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    ret = qcow2_free_old_entries(bs, old, k);
out:
    free(old);
    return ret;
}

int qcow2_write(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;

    uint64_t hint = 0;

    s->cluster_cache_offset = UINT64_MAX;
    while (bytes > 0) {
        uint64_t done = 0;
        int ret = qcow2_has_subclusters(s)
                  ? qcow2_subcluster_write(bs, offset, bytes, buf, &done)
                  : write_in_l2(bs, offset, bytes, buf, &done, &hint);
        if (ret < 0) {
            return ret;
        }
        offset += done;
        bytes -= done;
        buf += done;
    }
    return 0;
}

int qcow2_write_compressed(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const uint8_t *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_index, e;
    uint8_t *in, *out;
    int64_t l2_off, coff;
    uint64_t *l2;
    int clen, ret;

    if (qcow2_has_data_file(s)) {
        return -ENOTSUP;        /* as QEMU: no compression in data files */
    }
    if (qcow2_offset_into_cluster(s, offset) ||
        (bytes != s->cluster_size && (uint64_t)(offset + bytes) != s->size) ||
        bytes > s->cluster_size) {
        return -EINVAL;
    }
    in = qemu_xzalloc(s->cluster_size);
    out = qemu_xmalloc(s->cluster_size + 512);
    memcpy(in, buf, bytes);
    clen = qcow2_compress(s, out, s->cluster_size - 1, in, s->cluster_size);
    if (clen == -ENOSPC) {
        free(out);
        ret = qcow2_write(bs, offset, s->cluster_size == bytes ?
                          bytes : bytes, in);
        free(in);
        return ret;
    }
    if (clen < 0) {
        if (clen == -ENOTSUP) {
            qcow2_warn_no_compression(s);
        }
        ret = clen;
        goto out;
    }
    l2_off = qcow2_get_writable_l2(bs, offset);
    if (l2_off < 0) {
        ret = l2_off;
        goto out;
    }
    l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        goto out;
    }
    e = qcow2_l2_entry(s, l2, l2_index);
    if (qcow2_get_cluster_type(s, e) != QCOW2_CLUSTER_UNALLOCATED) {
        ret = -EIO;
        goto out;
    }
    ret = qcow2_mark_dirty(bs);
    if (ret < 0) {
        goto out;
    }
    coff = qcow2_alloc_bytes(bs, clen);
    if (coff < 0) {
        ret = coff;
        goto out;
    }
    {
        /*
         * Pad to a 512-byte boundary (inside the same host cluster, whose
         * tail is free for the next compressed cluster): the file then
         * ends sector-aligned, as QEMU's does.
         */
        int64_t padded = QEMU_ALIGN_UP(coff + clen, 512) - coff;
        memset(out + clen, 0, padded - clen);
        bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_COMPRESSED);
        ret = qcow2_write_data(bs, coff, padded, out);
    }
    if (ret < 0) {
        goto out;
    }
    {
        uint64_t nb = ((coff + clen - 1) >> 9) - (coff >> 9);
        e = coff | QCOW_OFLAG_COMPRESSED | (nb << s->csize_shift);
    }
    ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
    if (ret < 0) {
        goto out;
    }
    qcow2_set_l2_entry(s, l2, l2_index, e);
    qcow2_set_l2_bitmap(s, l2, l2_index, 0);  /* unused: always 0 */
    qcow2_cache_mark_dirty(s->l2_cache, l2);
    ret = 0;
out:
    free(in);
    free(out);
    return ret;
}

/* ---- zero and discard ------------------------------------------------- */

static int zero_or_discard_slices(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, bool zero, bool may_unmap,
                                  bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;

    s->cluster_cache_offset = UINT64_MAX;
    while (bytes > 0) {
        uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
        uint64_t nb = MIN((uint64_t)s->l2_size - l2_index,
                          (uint64_t)bytes >> s->cluster_bits);
        uint64_t *l2, *old;
        int64_t l2_off;
        int ret;

        if (nb == 0) {
            break;
        }
        /*
         * As QEMU's discard_in_l2_slice(), a range without an L2 table
         * gets one, even for a discard.
         */
        l2_off = qcow2_get_writable_l2(bs, offset);
        if (l2_off < 0) {
            return l2_off;
        }
        ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        old = qemu_xnew0(uint64_t, nb);
        for (uint64_t i = 0; i < nb; i++) {
            uint64_t e = qcow2_l2_entry(s, l2, l2_index + i);
            uint64_t b = qcow2_l2_bitmap(s, l2, l2_index + i);
            Qcow2ClusterType t = qcow2_get_cluster_type(s, e);
            bool ext = qcow2_has_subclusters(s);
            uint64_t ne = e, nbm = b;

            if (zero) {
                /*
                 * As QEMU's zero_in_l2_slice(): compressed clusters are
                 * always dropped, others only with may_unmap; a kept
                 * host cluster (shared ones too) becomes ZERO_ALLOC (all
                 * subclusters zero) and is reused by the next write if
                 * its refcount is 1.
                 */
                bool unmap = t == QCOW2_CLUSTER_COMPRESSED ||
                             (may_unmap && t != QCOW2_CLUSTER_UNALLOCATED &&
                              t != QCOW2_CLUSTER_ZERO_PLAIN);
                ne = unmap ? 0 : e;
                if (ext) {
                    nbm = QCOW_L2_BITMAP_ALL_ZEROES;
                } else {
                    ne |= QCOW_OFLAG_ZERO;
                }
            } else if (full_discard) {
                ne = nbm = 0;
            } else if (bs->backing || t != QCOW2_CLUSTER_UNALLOCATED) {
                /* As QEMU's discard_in_l2_slice(): it reads as zeros. */
                if (ext) {
                    ne = 0;
                    nbm = QCOW_L2_BITMAP_ALL_ZEROES;
                } else if (t != QCOW2_CLUSTER_ZERO_PLAIN) {
                    ne = s->qcow_version >= 3 ? QCOW_OFLAG_ZERO : 0;
                }
            }
            if ((ne & L2E_OFFSET_MASK) != (e & L2E_OFFSET_MASK) ||
                ((e & QCOW_OFLAG_COMPRESSED) && ne != e)) {
                old[i] = e;
            }
            if (ne != e || nbm != b) {
                qcow2_set_l2_entry(s, l2, l2_index + i, ne);
                qcow2_set_l2_bitmap(s, l2, l2_index + i, nbm);
                qcow2_cache_mark_dirty(s->l2_cache, l2);
            }
        }
        ret = qcow2_free_old_entries(bs, old, nb);
        free(old);
        if (ret < 0) {
            return ret;
        }
        offset += nb << s->cluster_bits;
        bytes -= nb << s->cluster_bits;
    }
    return 0;
}

/*
 * As QEMU: the clusters a zero write or discard frees are punched out of
 * the file together at its end, adjacent ones as one request.
 */
static int zero_or_discard(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, bool zero, bool may_unmap,
                           bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    bool was_caching = s->cache_discards;
    int ret;

    s->cache_discards = true;
    ret = zero_or_discard_slices(bs, offset, bytes, zero, may_unmap,
                                 full_discard);
    s->cache_discards = was_caching;
    if (!was_caching) {
        qcow2_process_discards(bs, ret);
    }
    return ret;
}

int qcow2_cluster_zeroize(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, bool may_unmap)
{
    return zero_or_discard(bs, offset, bytes, true, may_unmap, false);
}

int qcow2_cluster_discard(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, bool full_discard)
{
    return zero_or_discard(bs, offset, bytes, false, false, full_discard);
}

/* ---- preallocation ---------------------------------------------------- */

/*
 * Falloc and full preallocation of new data clusters in the image file:
 * the file system allocates them (a zero range), or zeros are written.
 */
static int prealloc_data(BlockDriverState *bs, int64_t host, int64_t len,
                         PreallocMode mode)
{
    const int64_t chunk = 1 * MiB;
    uint8_t *zeros;
    int ret = 0;

    if (mode == PREALLOC_MODE_FALLOC) {
        ret = bdrv_pwrite_zeroes(bs->file->bs, host, len, 0);
        if (ret != -ENOTSUP) {
            return ret;
        }
    }
    zeros = qemu_xzalloc(MIN(len, chunk));
    for (int64_t done = 0; ret == 0 && done < len; done += chunk) {
        ret = bdrv_child_pwrite(bs->file, host + done,
                                MIN(chunk, len - done), zeros, 0);
    }
    free(zeros);
    return ret;
}

int qcow2_preallocate(BlockDriverState *bs, uint64_t offset,
                      uint64_t new_length, PreallocMode mode)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t last_end = 0;
    int ret;

    offset = qcow2_start_of_cluster(s, offset);
    while (offset < new_length) {
        uint64_t l2_index = (offset >> s->cluster_bits) & (s->l2_size - 1);
        uint64_t nb = MIN((uint64_t)s->l2_size - l2_index,
                          qcow2_size_to_clusters(s, new_length - offset));
        uint64_t *l2, k;
        int64_t l2_off, host;

        l2_off = qcow2_get_writable_l2(bs, offset);
        if (l2_off < 0) {
            return l2_off;
        }
        ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        /* Count the unallocated run at the start. */
        for (k = 0; k < nb; k++) {
            if (qcow2_get_cluster_type(s, qcow2_l2_entry(s, l2,
                                                         l2_index + k)) !=
                QCOW2_CLUSTER_UNALLOCATED) {
                break;
            }
        }
        if (k == 0) {
            offset += s->cluster_size;
            continue;
        }
        host = qcow2_alloc_data_clusters(bs, offset, k << s->cluster_bits);
        if (host < 0) {
            return host;
        }
        ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        for (uint64_t i = 0; i < k; i++) {
            /* The bitmap stays: metadata allocates no subcluster. */
            qcow2_set_l2_entry(s, l2, l2_index + i,
                               (host + (i << s->cluster_bits)) |
                               QCOW_OFLAG_COPIED);
        }
        qcow2_cache_mark_dirty(s->l2_cache, l2);
        if (!qcow2_has_data_file(s)) {
            last_end = host + (k << s->cluster_bits);
            if (mode == PREALLOC_MODE_FALLOC || mode == PREALLOC_MODE_FULL) {
                ret = prealloc_data(bs, host, k << s->cluster_bits, mode);
                if (ret < 0) {
                    return ret;
                }
            }
        }
        offset += k << s->cluster_bits;
    }
    if (last_end) {
        int64_t flen = bdrv_getlength(bs->file->bs);
        if (flen >= 0 && flen < last_end) {
            ret = bdrv_truncate(bs->file->bs, last_end, false,
                                PREALLOC_MODE_OFF, NULL);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return qcow2_flush_caches(bs);
}
