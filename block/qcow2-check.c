/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-check.c: consistency check and repair (qemu-img check): recount
 * every reference, compare with the stored refcounts, verify COPIED flags.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

static BdrvCheckReportFn *report_fn;
static void *report_opaque;

void bdrv_check_set_report_fn(BdrvCheckReportFn *fn, void *opaque)
{
    report_fn = fn;
    report_opaque = opaque;
}

void qcow2_check_report(const char *fmt, ...)
{
    char *msg;
    va_list ap;

    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    if (report_fn) {
        report_fn(msg, report_opaque);
    } else {
        /*
         * QEMU prints these on stderr from any tool (a dirty image opened
         * by qemu-io is repaired, and says so).
         */
        qemu_warn_raw("%s", msg);
    }
    free(msg);
}

typedef struct CheckState {
    uint64_t *refs;        /* computed references per cluster */
    uint64_t nb_clusters;  /* entries in refs */
    int64_t file_len;
    BdrvCheckMode fix;
} CheckState;

static void grow_refs(CheckState *cs, uint64_t n)
{
    if (n > cs->nb_clusters) {
        cs->refs = qemu_xrealloc(cs->refs, n * sizeof(uint64_t));
        memset(cs->refs + cs->nb_clusters, 0,
               (n - cs->nb_clusters) * sizeof(uint64_t));
        cs->nb_clusters = n;
    }
}

static void inc_refs(BlockDriverState *bs, CheckState *cs,
                     BdrvCheckResult *res, int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, last;

    if (size <= 0) {
        return;
    }
    if (offset < 0 || offset + size - cs->file_len >= s->cluster_size) {
        qcow2_check_report("ERROR: counting reference for region exceeding "
                           "the end of the file by one cluster or more: "
                           "offset 0x%" PRIx64 " size 0x%" PRIx64,
                           (uint64_t)offset, (uint64_t)size);
        res->corruptions++;
        return;
    }
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    grow_refs(cs, last + 1);
    for (uint64_t c = first; c <= last; c++) {
        if (cs->refs[c] == s->refcount_max) {
            qcow2_check_report("ERROR: overflow cluster offset=0x%" PRIx64,
                               c << s->cluster_bits);
            qcow2_check_report("Use qemu-img amend to increase the refcount "
                               "entry width or qemu-img convert to create a "
                               "clean copy if the image cannot be opened for "
                               "writing");
            res->corruptions++;
            continue;
        }
        cs->refs[c]++;
    }
}

/*
 * QEMU's fix_l2_entry_by_zero(): an unaligned entry that holds no data
 * becomes a zero cluster (with subclusters: its allocated subclusters
 * become zero ones), written to disk at once.  0 when repaired.
 */
static int zero_bad_entry(BlockDriverState *bs, BdrvCheckResult *res,
                          uint64_t l2_off, uint8_t *l2, int i)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *ent = l2 + (size_t)i * s->l2_entry_size;
    uint64_t pos = l2_off + (uint64_t)i * s->l2_entry_size;
    int ret;

    if (qcow2_has_subclusters(s)) {
        uint64_t b = ldbe64(ent + 8);
        b = (b | (b << 32)) & QCOW_L2_BITMAP_ALL_ZEROES;
        stbe64(ent, 0);
        stbe64(ent + 8, b);
    } else {
        stbe64(ent, QCOW_OFLAG_ZERO);
    }
    if (qcow2_overlaps_metadata(bs, pos, s->l2_entry_size) &&
        pos < (uint64_t)s->cluster_size) {
        qcow2_check_report("ERROR: Overlap check failed");
        res->check_errors++;
        return -EIO;
    }
    ret = bdrv_child_pwrite(bs->file, pos, s->l2_entry_size, ent, 0);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        qcow2_check_report("ERROR: Failed to overwrite L2 table entry: %s",
                           strerror(-ret));
        res->check_errors++;
        return ret;
    }
    qcow2_cache_discard(s->l2_cache, l2_off);
    res->corruptions--;
    res->corruptions_fixed++;
    return 0;
}

static int check_l2(BlockDriverState *bs, CheckState *cs,
                    BdrvCheckResult *res, uint64_t l2_off, bool active)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *l2 = qemu_xzalloc(s->cluster_size);
    uint64_t next_contiguous = 0;
    int ret = 0;

    if ((int64_t)l2_off < cs->file_len) {
        ret = bdrv_child_pread(bs->file, l2_off,
                               MIN(s->cluster_size,
                                   cs->file_len - (int64_t)l2_off), l2);
    }
    if (ret < 0) {
        qcow2_check_report("ERROR: I/O error in check_refcounts_l2");
        res->check_errors++;
        free(l2);
        return ret;
    }
    for (int i = 0; i < s->l2_size; i++) {
        uint64_t e = ldbe64(l2 + (size_t)i * s->l2_entry_size);
        uint64_t b = qcow2_has_subclusters(s)
                     ? ldbe64(l2 + (size_t)i * s->l2_entry_size + 8) : 0;
        Qcow2ClusterType t = qcow2_get_cluster_type(s, e);

        if (t != QCOW2_CLUSTER_COMPRESSED && (e & L2E_STD_RESERVED_MASK)) {
            qcow2_check_report("ERROR found l2 entry with reserved bits set: "
                               "%" PRIx64, e);
            res->corruptions++;
        }
        switch (t) {
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t off, n;

            qcow2_compressed_entry(s, e, &off, &n);
            if (e & QCOW_OFLAG_COPIED) {
                qcow2_check_report("ERROR: coffset=0x%" PRIx64 ": copied "
                                   "flag must never be set for compressed "
                                   "clusters", off);
                res->corruptions++;
            }
            if (qcow2_has_data_file(s)) {
                qcow2_check_report("ERROR compressed cluster %d with data "
                                   "file, entry=0x%" PRIx64, i, e);
                res->corruptions++;
                break;
            }
            if (b) {
                qcow2_check_report("ERROR compressed cluster %d with "
                                   "non-zero subcluster allocation bitmap, "
                                   "entry=0x%" PRIx64, i, e);
                res->corruptions++;
                break;
            }
            inc_refs(bs, cs, res, off, n * BDRV_SECTOR_SIZE -
                     (off & (BDRV_SECTOR_SIZE - 1)));
            res->bfi.allocated_clusters++;
            res->bfi.compressed_clusters++;
            res->bfi.fragmented_clusters++;
            break;
        }
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC: {
            uint64_t off = e & L2E_OFFSET_MASK;
            if ((b >> 32) & b) {
                res->corruptions++;
                qcow2_check_report("ERROR offset=%" PRIx64 ": Allocated "
                                   "cluster has corrupted subcluster "
                                   "allocation bitmap", off);
            }
            if (qcow2_offset_into_cluster(s, off)) {
                bool has_data = qcow2_has_subclusters(s)
                                ? (b & QCOW_L2_BITMAP_ALL_ALLOC) != 0
                                : t != QCOW2_CLUSTER_ZERO_ALLOC;
                bool repair = cs->fix & BDRV_FIX_ERRORS;

                res->corruptions++;
                if (!has_data) {
                    qcow2_check_report("%s offset=%" PRIx64 ": "
                                       "Preallocated cluster is not "
                                       "properly aligned; L2 entry "
                                       "corrupted.",
                                       repair ? "Repairing" : "ERROR", off);
                    if (repair) {
                        ret = zero_bad_entry(bs, res, l2_off, l2, i);
                        if (ret == 0) {
                            continue;   /* the cluster is unused now */
                        }
                        ret = 0;
                    }
                } else {
                    qcow2_check_report("ERROR offset=%" PRIx64 ": Data "
                                       "cluster is not properly aligned; L2 "
                                       "entry corrupted.", off);
                }
            }
            if (active) {
                res->bfi.allocated_clusters++;
                if (next_contiguous && off != next_contiguous) {
                    res->bfi.fragmented_clusters++;
                }
                next_contiguous = off + s->cluster_size;
            }
            if (!qcow2_has_data_file(s)) {
                /* clusters of an external data file have no refcount */
                inc_refs(bs, cs, res, off, s->cluster_size);
            }
            break;
        }
        case QCOW2_CLUSTER_UNALLOCATED:
            if (b & QCOW_L2_BITMAP_ALL_ALLOC) {
                res->corruptions++;
                qcow2_check_report("ERROR: Unallocated cluster has non-zero "
                                   "subcluster allocation map");
            }
            break;
        default:
            break;
        }
    }
    free(l2);
    return 0;
}

static int check_l1(BlockDriverState *bs, CheckState *cs,
                    BdrvCheckResult *res, uint64_t l1_off, uint32_t l1_size,
                    bool active)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *l1;
    int ret = 0;

    inc_refs(bs, cs, res, l1_off, (int64_t)l1_size * 8);
    if (!l1_size) {
        return 0;
    }
    /* Entries past the end of the file read as zero, as in QEMU. */
    l1 = qemu_xzalloc((size_t)l1_size * 8);
    if (l1_off < (uint64_t)cs->file_len) {
        ret = bdrv_child_pread(bs->file, l1_off,
                               MIN((int64_t)l1_size * 8,
                                   cs->file_len - (int64_t)l1_off), l1);
    }
    if (ret < 0) {
        qcow2_check_report("ERROR: I/O error in check_refcounts_l1");
        res->check_errors++;
        free(l1);
        return ret;
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t e = ldbe64(l1 + i * 8);
        uint64_t l2_off = e & L1E_OFFSET_MASK;

        if (!e) {
            continue;
        }
        if (e & L1E_RESERVED_MASK) {
            qcow2_check_report("ERROR found L1 entry with reserved bits set: "
                               "%" PRIx64, e);
            res->corruptions++;
        }
        inc_refs(bs, cs, res, l2_off, s->cluster_size);
        if (qcow2_offset_into_cluster(s, l2_off)) {
            qcow2_check_report("ERROR l2_offset=%" PRIx64 ": Table is not "
                               "cluster aligned; L1 entry corrupted", l2_off);
            res->corruptions++;
        }
        ret = check_l2(bs, cs, res, l2_off, active);
        if (ret < 0) {
            free(l1);
            return ret;
        }
    }
    free(l1);
    return 0;
}

static int check_refblocks(BlockDriverState *bs, CheckState *cs,
                           BdrvCheckResult *res, BdrvCheckMode fix,
                           bool *rebuild);

/* The bitmaps' structures, counted through qcow2-bitmap.c. */
typedef struct BitmapRefs {
    BlockDriverState *bs;
    CheckState *cs;
    BdrvCheckResult *res;
} BitmapRefs;

static void bitmap_inc_refs(void *opaque, int64_t offset, int64_t size)
{
    BitmapRefs *br = opaque;

    inc_refs(br->bs, br->cs, br->res, offset, size);
}

static int calculate_refs(BlockDriverState *bs, CheckState *cs,
                          BdrvCheckResult *res, BdrvCheckMode fix,
                          bool *rebuild)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    cs->fix = fix;
    inc_refs(bs, cs, res, 0, s->cluster_size);
    ret = check_l1(bs, cs, res, s->l1_table_offset, s->l1_size, true);
    if (ret < 0) {
        return ret;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        if (qcow2_offset_into_cluster(s, sn->l1_table_offset)) {
            qcow2_check_report("ERROR snapshot %s (%s) l1_offset=%#" PRIx64
                               ": L1 table is not cluster aligned; snapshot "
                               "table entry corrupted", sn->id_str, sn->name,
                               sn->l1_table_offset);
            res->corruptions++;
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8) {
            qcow2_check_report("ERROR snapshot %s (%s) l1_size=%#" PRIx32
                               ": L1 table is too large; snapshot table "
                               "entry corrupted", sn->id_str, sn->name,
                               sn->l1_size);
            res->corruptions++;
            continue;
        }
        ret = check_l1(bs, cs, res, sn->l1_table_offset, sn->l1_size, false);
        if (ret < 0) {
            return ret;
        }
    }
    inc_refs(bs, cs, res, s->snapshots_offset, s->snapshots_size);
    inc_refs(bs, cs, res, s->refcount_table_offset,
             s->refcount_table_size * 8);
    {
        BitmapRefs br = { bs, cs, res };
        ret = qcow2_check_bitmaps_refcounts(bs, res, bitmap_inc_refs, &br);
        if (ret < 0) {
            return ret;
        }
    }
    return check_refblocks(bs, cs, res, fix, rebuild);
}

/*
 * How far the file may grow to reach a refcount block: to 2M clusters
 * (counted in 16 MiB; 128 GiB with 64 KiB clusters), or to twice what is
 * counted already, plus a refcount block's span, if that is more.  A
 * block further out is not reached: that fails as QEMU's check does when
 * it cannot allocate its count, and the rebuild is the repair.  (QEMU
 * tries any size; a corrupt pointer must not cost gigabytes here.)
 */
#define CHECK_GROW_CLUSTERS (1ULL << 21)

/*
 * A refcount block past the end of the file: with -r all the file grows
 * to hold it (QEMU's repair), otherwise, or if that fails, the refcount
 * structure needs a rebuild.
 */
static void repair_refblock_outside(BlockDriverState *bs, CheckState *cs,
                                    BdrvCheckResult *res, uint64_t off,
                                    bool *rebuild)
{
    BDRVQcow2State *s = bs->opaque;
    Error *err = NULL;
    int64_t size;
    int ret;

    if (off > (uint64_t)(INT64_MAX - s->cluster_size)) {
        ret = -EINVAL;
        goto fail;
    }
    if ((off >> s->cluster_bits) >=
        MAX(CHECK_GROW_CLUSTERS,
            2 * cs->nb_clusters + s->refcount_block_size)) {
        ret = -ENOMEM;
        goto fail;
    }
    ret = bdrv_truncate(bs->file->bs, off + s->cluster_size, false,
                        PREALLOC_MODE_OFF, &err);
    if (ret < 0) {
        qcow2_error_report("%s", error_get_pretty(err));
        error_free(err);
        goto fail;
    }
    size = bdrv_getlength(bs->file->bs);
    if (size < 0) {
        ret = size;
        goto fail;
    }
    cs->file_len = size;
    grow_refs(cs, qcow2_size_to_clusters(s, size));
    if ((off >> s->cluster_bits) >= cs->nb_clusters) {
        ret = -EINVAL;
        goto fail;
    }
    res->corruptions--;
    res->corruptions_fixed++;
    inc_refs(bs, cs, res, off, s->cluster_size);
    return;
fail:
    *rebuild = true;
    qcow2_check_report("ERROR could not resize image: %s", strerror(-ret));
}

static int check_refblocks(BlockDriverState *bs, CheckState *cs,
                           BdrvCheckResult *res, BdrvCheckMode fix,
                           bool *rebuild)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        uint64_t off = e & REFT_OFFSET_MASK;
        uint64_t c = off >> s->cluster_bits;

        if (e & REFT_RESERVED_MASK) {
            qcow2_check_report("ERROR refcount table entry %" PRIu64 " has "
                               "reserved bits set", i);
            res->corruptions++;
            *rebuild = true;
            continue;
        }
        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_check_report("ERROR refcount block %" PRIu64 " is not "
                               "cluster aligned; refcount table entry "
                               "corrupted", i);
            res->corruptions++;
            *rebuild = true;
            continue;
        }
        if (c >= cs->nb_clusters) {
            res->corruptions++;
            qcow2_check_report("%s refcount block %" PRIu64 " is outside "
                               "image", fix & BDRV_FIX_ERRORS ? "Repairing"
                                                              : "ERROR", i);
            if (fix & BDRV_FIX_ERRORS) {
                repair_refblock_outside(bs, cs, res, off, rebuild);
            }
            continue;
        }
        if (off) {
            inc_refs(bs, cs, res, off, s->cluster_size);
            if (cs->refs[c] != 1) {
                qcow2_check_report("ERROR refcount block %" PRIu64
                                   " refcount=%" PRIu64, i, cs->refs[c]);
                res->corruptions++;
                *rebuild = true;
            }
        }
    }
    return 0;
}

static void compare_refcounts(BlockDriverState *bs, CheckState *cs,
                              BdrvCheckResult *res, BdrvCheckMode fix,
                              bool *rebuild, int64_t *highest)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t i = 0; i < cs->nb_clusters; i++) {
        uint64_t rc, ref = cs->refs[i];
        int *num_fixed = NULL;
        int ret = qcow2_get_refcount(bs, i, &rc);

        if (ret < 0) {
            qcow2_check_report("Can't get refcount for cluster %" PRIu64
                               ": %s", i, strerror(-ret));
            res->check_errors++;
            continue;
        }
        if (rc > 0 || ref > 0) {
            *highest = i;
        }
        if (rc == ref) {
            continue;
        }
        if (rc == 0) {
            *rebuild = true;
        } else if (rc > ref && (fix & BDRV_FIX_LEAKS)) {
            num_fixed = &res->leaks_fixed;
        } else if (rc < ref && (fix & BDRV_FIX_ERRORS)) {
            num_fixed = &res->corruptions_fixed;
        }
        qcow2_check_report("%s cluster %" PRIu64 " refcount=%" PRIu64
                           " reference=%" PRIu64,
                           num_fixed ? "Repairing" :
                           rc < ref ? "ERROR" : "Leaked", i, rc, ref);
        if (num_fixed) {
            ret = qcow2_update_refcount(bs, i << s->cluster_bits, 1,
                                        (int64_t)(ref - rc));
            if (ret >= 0) {
                (*num_fixed)++;
                continue;
            }
        }
        if (rc < ref) {
            res->corruptions++;
        } else {
            res->leaks++;
        }
    }
}

/* ---- rebuilding the refcount structure from the computed references ---- */

static int64_t alloc_imrt(CheckState *cs, uint64_t count, uint64_t *first)
{
    uint64_t c = *first, run = 0;
    bool first_gap = true;

    for (; c < cs->nb_clusters && run < count; c++) {
        if (!cs->refs[c]) {
            run++;
            if (first_gap) {
                *first = c;
                first_gap = false;
            }
        } else {
            run = 0;
        }
    }
    if (run < count) {
        grow_refs(cs, c + count - run);
    }
    c -= run;
    for (uint64_t i = 0; i < count; i++) {
        cs->refs[c + i] = 1;
    }
    return c;
}

static int write_refblocks(BlockDriverState *bs, CheckState *cs,
                           uint64_t first_cluster, uint64_t end_cluster,
                           uint64_t **reftable, uint64_t *entries)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t rbs = s->refcount_block_size;
    uint64_t first_free = 0;
    uint8_t *blk = qemu_xmalloc(s->cluster_size);
    int ret = 0;

    for (uint64_t c = first_cluster; c < end_cluster && c < cs->nb_clusters;
         c++) {
        uint64_t idx, start, off;

        if (!cs->refs[c]) {
            continue;
        }
        idx = c >> s->refcount_block_bits;
        start = idx << s->refcount_block_bits;
        if (*entries > idx && (*reftable)[idx]) {
            off = (*reftable)[idx];
        } else {
            uint64_t nc;
            if (first_free < start) {
                first_free = start;
            }
            nc = alloc_imrt(cs, 1, &first_free);
            off = nc << s->cluster_bits;
            if (nc >= end_cluster) {
                end_cluster = nc + 1;
            }
            if (*entries <= idx) {
                uint64_t n = QEMU_ALIGN_UP((idx + 1) * 8, s->cluster_size) / 8;
                *reftable = qemu_xrealloc(*reftable, n * 8);
                memset(*reftable + *entries, 0, (n - *entries) * 8);
                *entries = n;
            }
            (*reftable)[idx] = off;
        }
        memset(blk, 0, s->cluster_size);
        for (uint64_t k = 0; k < rbs && start + k < cs->nb_clusters; k++) {
            qcow2_set_refcount_ro(blk, k, cs->refs[start + k],
                                  s->refcount_order);
        }
        /* As QEMU: the old structures are still the image's metadata. */
        ret = qcow2_pre_write_overlap_check(bs, 0, off, s->cluster_size);
        if (ret == 0) {
            ret = bdrv_child_pwrite(bs->file, off, s->cluster_size, blk, 0);
        }
        if (ret < 0) {
            qcow2_error_report("ERROR writing refblock: %s", strerror(-ret));
            break;
        }
        c = start + rbs - 1;
    }
    free(blk);
    return ret;
}

static int rebuild_refcounts(BlockDriverState *bs, CheckState *cs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *reftable = NULL, entries = 0, clusters, rt_start = 0;
    uint8_t *buf;
    int ret;

    qcow2_cache_clear(s->refcount_cache);
    ret = write_refblocks(bs, cs, 0, cs->nb_clusters, &reftable, &entries);
    if (ret < 0) {
        goto out;
    }
    for (;;) {
        uint64_t first_free = 0;
        clusters = qcow2_size_to_clusters(s, entries * 8);
        rt_start = alloc_imrt(cs, clusters, &first_free);
        ret = write_refblocks(bs, cs, rt_start, rt_start + clusters,
                              &reftable, &entries);
        if (ret < 0) {
            goto out;
        }
        if (clusters == qcow2_size_to_clusters(s, entries * 8)) {
            break;
        }
        for (uint64_t i = 0; i < clusters; i++) {
            cs->refs[rt_start + i] = 0;
        }
    }
    buf = qemu_xzalloc(clusters * s->cluster_size);
    for (uint64_t i = 0; i < entries; i++) {
        stbe64(buf + i * 8, reftable[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, rt_start << s->cluster_bits,
                                        entries * 8);
    if (ret == 0) {
        ret = bdrv_child_pwrite(bs->file, rt_start << s->cluster_bits,
                                entries * 8, buf, 0);
    }
    if (ret < 0) {
        qcow2_error_report("ERROR writing reftable: %s", strerror(-ret));
        free(buf);
        goto out;
    }
    ret = qcow2_file_flush(bs);
    if (ret == 0) {
        stbe64(buf, rt_start << s->cluster_bits);
        stbe32(buf + 8, clusters);
        ret = bdrv_child_pwrite(bs->file, 48, 12, buf, 0);
    }
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    free(buf);
    if (ret < 0) {
        goto out;
    }
    free(s->refcount_table);
    s->refcount_table = qemu_xnew0(uint64_t, entries + 1);
    memcpy(s->refcount_table, reftable, entries * 8);
    s->refcount_table_size = entries;
    s->refcount_table_offset = rt_start << s->cluster_bits;
    s->refcount_table_clusters = clusters;
    qcow2_cache_clear(s->refcount_cache);
out:
    free(reftable);
    return ret;
}

static int check_oflag_copied(BlockDriverState *bs, BdrvCheckResult *res,
                              BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t flen = bdrv_getlength(bs->file->bs);
    uint8_t *l2 = qemu_xmalloc(s->cluster_size);
    bool repair;
    int ret = 0;

    if (fix & BDRV_FIX_ERRORS) {
        repair = true;
    } else if (fix & BDRV_FIX_LEAKS) {
        repair = !res->check_errors && !res->corruptions && !res->leaks;
    } else {
        repair = false;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t e = s->l1_table[i];
        uint64_t l2_off = e & L1E_OFFSET_MASK;
        int dirty = 0;
        uint64_t rc;

        if (!l2_off) {
            continue;
        }
        if (qcow2_get_refcount(bs, l2_off >> s->cluster_bits, &rc) < 0) {
            continue;
        }
        if ((rc == 1) != ((e & QCOW_OFLAG_COPIED) != 0)) {
            res->corruptions++;
            qcow2_check_report("%s OFLAG_COPIED L2 cluster: l1_index=%u "
                               "l1_entry=%" PRIx64 " refcount=%" PRIu64,
                               repair ? "Repairing" : "ERROR", i, e, rc);
            if (repair) {
                s->l1_table[i] = rc == 1 ? e | QCOW_OFLAG_COPIED
                                         : e & ~QCOW_OFLAG_COPIED;
                ret = qcow2_write_l1_entry(bs, i);
                if (ret < 0) {
                    res->check_errors++;
                    goto out;
                }
                res->corruptions--;
                res->corruptions_fixed++;
            }
        }
        memset(l2, 0, s->cluster_size);
        if ((int64_t)l2_off < flen) {
            ret = bdrv_child_pread(bs->file, l2_off,
                                   MIN(s->cluster_size,
                                       flen - (int64_t)l2_off), l2);
            if (ret < 0) {
                qcow2_check_report("ERROR: Could not read L2 table: %s",
                                   strerror(-ret));
                res->check_errors++;
                goto out;
            }
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t le = ldbe64(l2 + (size_t)j * s->l2_entry_size);
            Qcow2ClusterType t = qcow2_get_cluster_type(s, le);
            uint64_t drc;

            if (t != QCOW2_CLUSTER_NORMAL && t != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (qcow2_has_data_file(s)) {
                drc = 1;
            } else if (qcow2_get_refcount(bs, (le & L2E_OFFSET_MASK) >>
                                          s->cluster_bits, &drc) < 0) {
                continue;
            }
            if ((drc == 1) != ((le & QCOW_OFLAG_COPIED) != 0)) {
                res->corruptions++;
                qcow2_check_report("%s OFLAG_COPIED data cluster: l2_entry=%"
                                   PRIx64 " refcount=%" PRIu64,
                                   repair ? "Repairing" : "ERROR", le, drc);
                if (repair) {
                    stbe64(l2 + (size_t)j * s->l2_entry_size,
                           drc == 1 ? le | QCOW_OFLAG_COPIED
                                                : le & ~QCOW_OFLAG_COPIED);
                    dirty++;
                }
            }
        }
        if (dirty) {
            if (qcow2_overlaps_metadata(bs, l2_off, s->cluster_size) &&
                l2_off < (uint64_t)s->cluster_size) {
                qcow2_check_report("ERROR: Could not write L2 table; "
                                   "metadata overlap check failed: %s",
                                   strerror(EIO));
                res->check_errors++;
                ret = -EIO;
                goto out;
            }
            ret = bdrv_child_pwrite(bs->file, l2_off, s->cluster_size, l2, 0);
            if (ret < 0) {
                qcow2_check_report("ERROR: Could not write L2 table: %s",
                                   strerror(-ret));
                res->check_errors++;
                goto out;
            }
            qcow2_cache_discard(s->l2_cache, l2_off);
            res->corruptions -= dirty;
            res->corruptions_fixed += dirty;
        }
    }
out:
    free(l2);
    return ret;
}

static int check_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                           BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult pre;
    CheckState cs;
    bool rebuild = false;
    int64_t highest = -1;
    int ret;

    memset(&cs, 0, sizeof(cs));
    cs.file_len = bdrv_getlength(bs->file->bs);
    if (cs.file_len < 0) {
        res->check_errors++;
        return cs.file_len;
    }
    if (qcow2_size_to_clusters(s, cs.file_len) > INT_MAX) {
        res->check_errors++;
        return -EFBIG;
    }
    grow_refs(&cs, qcow2_size_to_clusters(s, cs.file_len));
    res->bfi.total_clusters = qcow2_size_to_clusters(s, s->size);

    ret = calculate_refs(bs, &cs, res, fix, &rebuild);
    if (ret < 0) {
        goto out;
    }
    pre = *res;
    compare_refcounts(bs, &cs, res, 0, &rebuild, &highest);

    if (rebuild && (fix & BDRV_FIX_ERRORS)) {
        BdrvCheckResult old = *res;
        int fresh_leaks = 0;

        qcow2_check_report("Rebuilding refcount structure");
        ret = rebuild_refcounts(bs, &cs);
        if (ret < 0) {
            res->check_errors++;
            goto out;
        }
        /*
         * As QEMU: refcounts that could not be read stay errors, and a
         * corruption signalled while reading them has dropped the node,
         * so the leak repairs below stay in the cache, unwritten (the
         * rebuilt structure itself went straight to the file).
         */
        res->corruptions = 0;
        res->leaks = 0;
        rebuild = false;
        cs.file_len = bdrv_getlength(bs->file->bs);
        if (cs.file_len < 0) {
            res->check_errors++;
            ret = cs.file_len;
            goto out;
        }
        memset(cs.refs, 0, cs.nb_clusters * sizeof(uint64_t));
        ret = calculate_refs(bs, &cs, res, 0, &rebuild);
        if (ret < 0) {
            goto out;
        }
        if (fix & BDRV_FIX_LEAKS) {
            BdrvCheckResult saved = *res;
            memset(res, 0, sizeof(*res));
            compare_refcounts(bs, &cs, res, BDRV_FIX_LEAKS, &rebuild,
                              &highest);
            if (rebuild) {
                qcow2_check_report("ERROR rebuilt refcount structure is "
                                   "still broken");
            }
            fresh_leaks = res->leaks;
            *res = saved;
        }
        if (res->corruptions < old.corruptions) {
            res->corruptions_fixed += old.corruptions - res->corruptions;
        }
        if (res->leaks < old.leaks) {
            res->leaks_fixed += old.leaks - res->leaks;
        }
        res->leaks += fresh_leaks;
    } else if (fix) {
        if (rebuild) {
            qcow2_check_report("ERROR need to rebuild refcount structures");
            res->check_errors++;
            ret = -EIO;
            goto out;
        }
        if (res->leaks || res->corruptions) {
            *res = pre;
            compare_refcounts(bs, &cs, res, fix, &rebuild, &highest);
        }
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        res->check_errors++;
        goto out;
    }
    ret = check_oflag_copied(bs, res, fix);
    if (ret < 0) {
        goto out;
    }
    res->image_end_offset = (highest + 1) * (int64_t)s->cluster_size;
    ret = 0;
out:
    free(cs.refs);
    return ret;
}

static void add_check_result(BdrvCheckResult *out,
                             const BdrvCheckResult *src, bool allocation)
{
    out->corruptions += src->corruptions;
    out->leaks += src->leaks;
    out->check_errors += src->check_errors;
    out->corruptions_fixed += src->corruptions_fixed;
    out->leaks_fixed += src->leaks_fixed;
    if (allocation) {
        out->image_end_offset = src->image_end_offset;
        out->bfi = src->bfi;
    }
}

/*
 * The snapshot table (read here in check mode), then the refcounts, then
 * the snapshot table repairs that need allocations; as QEMU's
 * qcow2_co_check_locked.
 */
static int check_all(BlockDriverState *bs, BdrvCheckResult *res,
                     BdrvCheckMode fix)
{
    BdrvCheckResult sn_res, rc_res;
    int ret;

    memset(&sn_res, 0, sizeof(sn_res));
    memset(&rc_res, 0, sizeof(rc_res));
    ret = qcow2_check_read_snapshot_table(bs, &sn_res, fix);
    if (ret < 0) {
        add_check_result(res, &sn_res, false);
        return ret;
    }
    ret = check_refcounts(bs, &rc_res, fix);
    add_check_result(res, &rc_res, true);
    if (ret < 0) {
        add_check_result(res, &sn_res, false);
        return ret;
    }
    ret = qcow2_check_fix_snapshot_table(bs, &sn_res, fix);
    add_check_result(res, &sn_res, false);
    return ret;
}

int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res,
                BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    bool was_writable = s->writable;
    int ret;

    memset(res, 0, sizeof(*res));
    if (!(bs->open_flags & BDRV_O_RDWR) && !was_writable) {
        fix = 0;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    if (fix) {
        /* Repairs may write even though the corrupt bit is set. */
        s->writable = true;
        /* Allocations during repair go past everything in the file. */
        s->free_cluster_index = qcow2_size_to_clusters(
            s, MAX(0, bdrv_getlength(bs->file->bs)));
    }
    s->discard_on_free = fix != 0;
    ret = check_all(bs, res, fix);
    s->discard_on_free = false;
    s->free_cluster_index = 0;
    if (ret == 0 && fix && res->check_errors == 0 && res->corruptions == 0) {
        uint64_t old = s->incompatible_features;
        s->incompatible_features &= ~(QCOW2_INCOMPAT_DIRTY |
                                      QCOW2_INCOMPAT_CORRUPT);
        if (old != s->incompatible_features && s->qcow_version >= 3) {
            uint8_t b[8];
            stbe64(b, s->incompatible_features);
            ret = qcow2_flush_caches(bs);
            if (ret == 0) {
                ret = bdrv_child_pwrite(bs->file, 72, 8, b, 0);
            }
        }
        s->signaled_corruption = false;
    }
    if (fix) {
        int r2 = qcow2_flush_caches(bs);
        if (r2 == 0) {
            r2 = qcow2_file_flush(bs);
        }
        if (ret == 0) {
            ret = r2;
        }
    }
    if (!(bs->open_flags & BDRV_O_RDWR)) {
        s->writable = was_writable;
    }
    return ret;
}
