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

    if (!report_fn) {
        return;
    }
    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    report_fn(msg, report_opaque);
    free(msg);
}

typedef struct CheckState {
    uint64_t *refs;
    uint64_t nb_clusters;  /* clusters within the file */
    int64_t file_len;
    uint64_t next_contiguous;
} CheckState;

static void inc_refs(BlockDriverState *bs, CheckState *cs,
                     BdrvCheckResult *res, uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first, last;

    if (size == 0) {
        return;
    }
    if (offset + size < offset ||
        offset + size >= (uint64_t)cs->file_len + s->cluster_size) {
        qcow2_check_report("ERROR: counting reference for region exceeding "
                           "the end of the file by one cluster or more: "
                           "offset 0x%" PRIx64 " size 0x%" PRIx64, offset,
                           size);
        res->corruptions++;
        return;
    }
    first = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        if (c >= cs->nb_clusters) {
            uint64_t n = c + 1;
            cs->refs = qemu_xrealloc(cs->refs, n * sizeof(uint64_t));
            memset(cs->refs + cs->nb_clusters, 0,
                   (n - cs->nb_clusters) * sizeof(uint64_t));
            cs->nb_clusters = n;
        }
        if (cs->refs[c] == s->refcount_max) {
            qcow2_check_report("ERROR: overflow cluster offset=0x%" PRIx64,
                               c << s->cluster_bits);
            res->corruptions++;
            continue;
        }
        cs->refs[c]++;
    }
}

static int check_l2(BlockDriverState *bs, CheckState *cs,
                    BdrvCheckResult *res, uint64_t l2_off, bool active)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *l2 = qemu_xmalloc(s->cluster_size);
    int ret = bdrv_child_pread(bs->file, l2_off, s->cluster_size, l2);

    if (ret < 0) {
        qcow2_check_report("ERROR: I/O error in check_refcounts_l2");
        res->check_errors++;
        free(l2);
        return ret;
    }
    /* Contiguity is judged within one L2 table, as QEMU does. */
    cs->next_contiguous = 0;
    for (int i = 0; i < s->l2_size; i++) {
        uint64_t e = ldbe64(l2 + i * 8);

        switch (qcow2_get_cluster_type(s, e)) {
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t off = e & s->cluster_offset_mask;
            uint64_t n = ((e >> s->csize_shift) & s->csize_mask) + 1;
            if (e & QCOW_OFLAG_COPIED) {
                qcow2_check_report("ERROR: coffset=0x%" PRIx64 ": copied "
                                   "flag must never be set for compressed "
                                   "clusters", off);
                res->corruptions++;
            }
            if (active) {
                res->bfi.allocated_clusters++;
                res->bfi.compressed_clusters++;
                res->bfi.fragmented_clusters++;
            }
            inc_refs(bs, cs, res, off & ~511ULL, n * 512);
            break;
        }
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC: {
            uint64_t off = e & L2E_OFFSET_MASK;
            if (e & L2E_STD_RESERVED_MASK) {
                qcow2_check_report("ERROR found l2 entry with reserved bits "
                                   "set: %" PRIx64, e);
                res->corruptions++;
            }
            if (qcow2_offset_into_cluster(s, off)) {
                qcow2_check_report("ERROR offset=%" PRIx64 ": Data cluster "
                                   "is not properly aligned; L2 entry "
                                   "corrupted", off);
                res->corruptions++;
                break;
            }
            if (active) {
                res->bfi.allocated_clusters++;
                if (cs->next_contiguous && off != cs->next_contiguous) {
                    res->bfi.fragmented_clusters++;
                }
                cs->next_contiguous = off + s->cluster_size;
            }
            inc_refs(bs, cs, res, off, s->cluster_size);
            break;
        }
        default:
            if (e & L2E_STD_RESERVED_MASK & ~QCOW_OFLAG_ZERO) {
                qcow2_check_report("ERROR found l2 entry with reserved bits "
                                   "set: %" PRIx64, e);
                res->corruptions++;
            }
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
    int ret;

    if (!l1_size) {
        return 0;
    }
    inc_refs(bs, cs, res, l1_off, (uint64_t)l1_size * 8);
    if (l1_off + (uint64_t)l1_size * 8 > (uint64_t)cs->file_len) {
        qcow2_check_report("ERROR: L1 table at 0x%" PRIx64 " is outside the "
                           "image", l1_off);
        res->corruptions++;
        return 0;
    }
    l1 = qemu_xmalloc((size_t)l1_size * 8);
    ret = bdrv_child_pread(bs->file, l1_off, (int64_t)l1_size * 8, l1);
    if (ret < 0) {
        qcow2_check_report("ERROR: I/O error in check_refcounts_l1");
        res->check_errors++;
        free(l1);
        return ret;
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t e = ldbe64(l1 + i * 8);
        uint64_t l2_off = e & L1E_OFFSET_MASK;

        if (!l2_off) {
            continue;
        }
        if (e & L1E_RESERVED_MASK) {
            qcow2_check_report("ERROR found l1 entry with reserved bits set: "
                               "%" PRIx64, e);
            res->corruptions++;
        }
        if (qcow2_offset_into_cluster(s, l2_off)) {
            qcow2_check_report("ERROR l2_offset=%" PRIx64 ": Table is not "
                               "cluster aligned; L1 entry corrupted", l2_off);
            res->corruptions++;
            continue;
        }
        inc_refs(bs, cs, res, l2_off, s->cluster_size);
        if (l2_off + s->cluster_size > (uint64_t)cs->file_len +
            s->cluster_size) {
            continue;
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

static int calculate_refs(BlockDriverState *bs, CheckState *cs,
                          BdrvCheckResult *res)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

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
        ret = check_l1(bs, cs, res, sn->l1_table_offset, sn->l1_size, false);
        if (ret < 0) {
            return ret;
        }
    }
    if (s->nb_snapshots) {
        inc_refs(bs, cs, res, s->snapshots_offset, s->snapshots_size);
    }
    inc_refs(bs, cs, res, s->refcount_table_offset,
             (uint64_t)s->refcount_table_clusters * s->cluster_size);
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = s->refcount_table[i];
        uint64_t off = e & REFT_OFFSET_MASK;

        if (e & REFT_RESERVED_MASK) {
            qcow2_check_report("ERROR refcount table entry %" PRIu64 " has "
                               "reserved bits set", i);
            res->corruptions++;
            continue;
        }
        if (!off) {
            continue;
        }
        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_check_report("ERROR refcount block %" PRIu64 " is not "
                               "cluster aligned; refcount table entry "
                               "corrupted", i);
            res->corruptions++;
            continue;
        }
        if (off >= (uint64_t)cs->file_len) {
            qcow2_check_report("ERROR refcount block %" PRIu64 " is outside "
                               "image", i);
            res->corruptions++;
            continue;
        }
        inc_refs(bs, cs, res, off, s->cluster_size);
        if (cs->refs[off >> s->cluster_bits] != 1) {
            qcow2_check_report("ERROR refcount block %" PRIu64 " refcount=%"
                               PRIu64, i, cs->refs[off >> s->cluster_bits]);
            res->corruptions++;
        }
    }
    return 0;
}

static void compare_refcounts(BlockDriverState *bs, CheckState *cs,
                              BdrvCheckResult *res, BdrvCheckMode fix,
                              int64_t *highest)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t file_clusters = qcow2_size_to_clusters(s, cs->file_len);
    uint64_t n = MAX(file_clusters, cs->nb_clusters);

    for (uint64_t i = 0; i < n; i++) {
        uint64_t rc, ref = i < cs->nb_clusters ? cs->refs[i] : 0;
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
        {
            bool leak = rc > ref;
            bool do_fix = (leak && (fix & BDRV_FIX_LEAKS)) ||
                          (!leak && (fix & BDRV_FIX_ERRORS));
            qcow2_check_report("%s cluster %" PRIu64 " refcount=%" PRIu64
                               " reference=%" PRIu64,
                               do_fix ? "Repairing" :
                               leak ? "Leaked" : "ERROR", i, rc, ref);
            if (do_fix) {
                ret = qcow2_update_refcount(bs, i << s->cluster_bits,
                                            s->cluster_size,
                                            (int64_t)(ref - rc));
                if (ret >= 0) {
                    if (leak) {
                        res->leaks_fixed++;
                    } else {
                        res->corruptions_fixed++;
                    }
                    continue;
                }
            }
            if (leak) {
                res->leaks++;
            } else {
                res->corruptions++;
            }
        }
    }
}

static int check_oflag_copied(BlockDriverState *bs, BdrvCheckResult *res,
                              BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t e = s->l1_table[i];
        uint64_t l2_off = e & L1E_OFFSET_MASK;
        uint64_t rc, *l2;

        if (!l2_off || qcow2_offset_into_cluster(s, l2_off)) {
            continue;
        }
        ret = qcow2_get_refcount(bs, l2_off >> s->cluster_bits, &rc);
        if (ret < 0) {
            continue;
        }
        if ((rc == 1) != ((e & QCOW_OFLAG_COPIED) != 0)) {
            bool do_fix = fix & BDRV_FIX_ERRORS;
            qcow2_check_report("%s OFLAG_COPIED L2 cluster: l1_index=%u "
                               "l1_entry=%" PRIx64 " refcount=%" PRIu64,
                               do_fix ? "Repairing" : "ERROR", i, e, rc);
            if (do_fix) {
                s->l1_table[i] = rc == 1 ? e | QCOW_OFLAG_COPIED
                                         : e & ~QCOW_OFLAG_COPIED;
                ret = qcow2_write_l1_entry(bs, i);
                if (ret == 0) {
                    res->corruptions_fixed++;
                } else {
                    res->check_errors++;
                }
            } else {
                res->corruptions++;
            }
        }
        if (l2_off >= (uint64_t)bdrv_getlength(bs->file->bs)) {
            continue;
        }
        for (int j = 0; j < s->l2_size; j++) {
            uint64_t le, drc;
            Qcow2ClusterType t;

            ret = qcow2_cache_get(bs, s->l2_cache, l2_off, (void **)&l2);
            if (ret < 0) {
                res->check_errors++;
                break;
            }
            le = be64toh_q(l2[j]);
            t = qcow2_get_cluster_type(s, le);
            if (t != QCOW2_CLUSTER_NORMAL && t != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (qcow2_offset_into_cluster(s, le & L2E_OFFSET_MASK)) {
                continue;
            }
            ret = qcow2_get_refcount(bs, (le & L2E_OFFSET_MASK) >>
                                     s->cluster_bits, &drc);
            if (ret < 0 || (drc == 0 && (fix & BDRV_FIX_ERRORS))) {
                continue;
            }
            if ((drc == 1) != ((le & QCOW_OFLAG_COPIED) != 0)) {
                bool do_fix = fix & BDRV_FIX_ERRORS;
                qcow2_check_report("%s OFLAG_COPIED data cluster: l2_entry=%"
                                   PRIx64 " refcount=%" PRIu64,
                                   do_fix ? "Repairing" : "ERROR", le, drc);
                if (do_fix) {
                    ret = qcow2_cache_get(bs, s->l2_cache, l2_off,
                                          (void **)&l2);
                    if (ret < 0) {
                        res->check_errors++;
                        break;
                    }
                    l2[j] = htobe64_q(drc == 1 ? le | QCOW_OFLAG_COPIED
                                               : le & ~QCOW_OFLAG_COPIED);
                    qcow2_cache_mark_dirty(s->l2_cache, l2);
                    res->corruptions_fixed++;
                } else {
                    res->corruptions++;
                }
            }
        }
    }
    return qcow2_flush_caches(bs);
}

int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res,
                BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    CheckState cs;
    int64_t highest = -1;
    int ret;

    memset(&cs, 0, sizeof(cs));
    if (fix && !(bs->open_flags & BDRV_O_RDWR) && !s->writable) {
        fix = 0;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        res->check_errors++;
        return ret;
    }
    cs.file_len = bdrv_getlength(bs->file->bs);
    if (cs.file_len < 0) {
        res->check_errors++;
        return cs.file_len;
    }
    cs.nb_clusters = qcow2_size_to_clusters(s, cs.file_len);
    cs.refs = qemu_xnew0(uint64_t, cs.nb_clusters + 1);
    res->bfi.total_clusters = qcow2_size_to_clusters(s, s->size);

    ret = calculate_refs(bs, &cs, res);
    if (ret < 0) {
        free(cs.refs);
        return ret;
    }
    if (fix) {
        /* Allocations during repair go past everything in use. */
        s->free_cluster_index = MAX(s->free_cluster_index, cs.nb_clusters);
        s->writable = true;
    }
    compare_refcounts(bs, &cs, res, fix, &highest);
    ret = check_oflag_copied(bs, res, fix);
    if (ret < 0) {
        res->check_errors++;
    }
    res->image_end_offset = (highest + 1) * (int64_t)s->cluster_size;
    {
        int64_t hi = -1;
        for (uint64_t i = 0; i < cs.nb_clusters; i++) {
            if (cs.refs[i]) {
                hi = i;
            }
        }
        res->image_end_offset = (hi + 1) * (int64_t)s->cluster_size;
    }
    free(cs.refs);
    s->free_cluster_index = 0;

    if (fix && res->corruptions == 0 && res->check_errors == 0) {
        bool update = false;
        if (res->leaks == 0 &&
            (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
            s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
            update = true;
        }
        if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
            s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
            update = true;
        }
        if (update && s->qcow_version >= 3) {
            uint8_t b[8];
            stbe64(b, s->incompatible_features);
            ret = qcow2_flush_caches(bs);
            if (ret == 0) {
                ret = bdrv_child_pwrite(bs->file, 72, 8, b, 0);
            }
            if (ret < 0) {
                res->check_errors++;
            }
        }
    }
    if (fix) {
        (void)qcow2_flush_caches(bs);
        (void)qcow2_file_flush(bs);
    }
    return 0;
}
