/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-amend.c: changing an existing image (qemu-img amend): compat level
 * up (v3) and down (v2, which expands zero clusters in every L1 table),
 * lazy refcounts, size; QEMU 7.2's order of steps and its messages.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

/* ---- progress --------------------------------------------------------- */

/*
 * The amend steps (version change, ...) each report their own progress;
 * this turns that into one figure for the whole amend, the way QEMU's
 * qcow2_amend_helper_cb() does: steps done count with their full size,
 * steps still to come are estimated as large as the average so far.
 */
typedef struct AmendProgress {
    BlockDriverAmendStatusCB *cb;
    void *opaque;
    int nb_steps;        /* set once, before the first step */
    int step;            /* the step now reporting, 1-based (0: none) */
    int last_step;       /* the step that reported last */
    int steps_done;
    int64_t work_done;   /* total size of the steps done */
    int64_t last_size;   /* size the last reporting step announced */
} AmendProgress;

static void amend_progress(AmendProgress *p, BlockDriverState *bs,
                           int64_t offset, int64_t size)
{
    int64_t total;

    if (!p || !p->cb || !p->nb_steps) {
        return;
    }
    if (p->step != p->last_step) {
        if (p->last_step) {
            p->work_done += p->last_size;
            p->steps_done++;
        }
        p->last_step = p->step;
    }
    p->last_size = size;
    total = p->work_done + size;
    total += total * (p->nb_steps - p->steps_done - 1) / (p->steps_done + 1);
    p->cb(bs, p->work_done + offset, total, p->opaque);
}

/* ---- v3 -> v2: zero clusters become data or unallocated ---------------- */

static int write_zero_cluster(BlockDriverState *bs, uint64_t off)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = qcow2_pre_write_overlap_check(bs, 0, off, s->cluster_size);

    return ret < 0 ? ret : bdrv_pwrite_zeroes(bs->file->bs, off,
                                              s->cluster_size, 0);
}

/* A fresh zeroed cluster referenced @refs times (once per sharing L1). */
static int64_t alloc_zero_cluster(BlockDriverState *bs, uint64_t refs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t off = qcow2_alloc_clusters(bs, s->cluster_size);
    int ret;

    if (off < 0) {
        return off;
    }
    ret = refs > 1 ? qcow2_update_refcount(bs, off, s->cluster_size,
                                           refs - 1) : 0;
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
    }
    if (ret == 0) {
        ret = write_zero_cluster(bs, off);
    }
    if (ret < 0) {
        qcow2_free_clusters(bs, off, s->cluster_size);
        return ret;
    }
    return off;
}

/*
 * The v2 form of one zero entry of an L2 table referenced @l2_refs times.
 * Like QEMU: without a backing file a plain zero cluster becomes
 * unallocated, otherwise a zeroed cluster; a preallocated zero cluster is
 * zeroed in place.  Unlike QEMU, a preallocated zero cluster that other
 * L2 tables share (a snapshot's data) is never overwritten: this entry
 * gets its own cluster (or none) and drops its references to the old one.
 */
static int expand_entry(BlockDriverState *bs, uint64_t l2_off, int idx,
                        uint64_t l2_refs, uint64_t *entry)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t e = *entry, off = e & L2E_OFFSET_MASK, rc = 0;
    uint64_t copied = l2_refs == 1 ? QCOW_OFLAG_COPIED : 0;
    int64_t n;
    int ret;

    if (off) {
        if (qcow2_offset_into_cluster(s, off)) {
            qcow2_signal_corruption(bs, true, "Cluster allocation offset %#"
                                    PRIx64 " unaligned (L2 offset: %#" PRIx64
                                    ", L2 index: %#x)", off, l2_off, idx);
            return -EIO;
        }
        ret = qcow2_get_refcount(bs, off >> s->cluster_bits, &rc);
        if (ret < 0) {
            return ret;
        }
        if (rc <= l2_refs) {
            ret = write_zero_cluster(bs, off);
            if (ret == 0) {
                *entry = off | copied;
            }
            return ret;
        }
    }
    if (!bs->backing) {
        *entry = 0;
    } else {
        n = alloc_zero_cluster(bs, l2_refs);
        if (n < 0) {
            return n;
        }
        *entry = n | copied;
    }
    if (off) {
        /* The table is written before the old cluster loses references. */
        return 1;
    }
    return 0;
}

static int expand_l2(BlockDriverState *bs, uint64_t l2_off, int l1_index,
                     uint8_t *l2)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_refs, *dropped = NULL;
    int64_t flen = bdrv_getlength(bs->file->bs);
    int nb_dropped = 0, ret;
    bool dirty = false;

    if (qcow2_offset_into_cluster(s, l2_off)) {
        qcow2_signal_corruption(bs, true, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#x)", l2_off,
                                l1_index);
        return -EIO;
    }
    if (flen < 0) {
        return flen;
    }
    if (l2_off >= (uint64_t)flen) {
        return 0;   /* reads as zeros: no zero clusters */
    }
    ret = qcow2_get_refcount(bs, l2_off >> s->cluster_bits, &l2_refs);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_child_pread(bs->file, l2_off, s->cluster_size, l2);
    if (ret < 0) {
        return ret;
    }
    for (int j = 0; j < s->l2_size; j++) {
        uint64_t e = ldbe64(l2 + j * s->l2_entry_size);
        Qcow2ClusterType t = qcow2_get_cluster_type(s, e);

        if (t != QCOW2_CLUSTER_ZERO_PLAIN && t != QCOW2_CLUSTER_ZERO_ALLOC) {
            continue;
        }
        ret = expand_entry(bs, l2_off, j, l2_refs, &e);
        if (ret < 0) {
            goto out;
        }
        if (ret == 1) {
            dropped = qemu_xrealloc(dropped, (nb_dropped + 1) * 8);
            dropped[nb_dropped++] = ldbe64(l2 + j * s->l2_entry_size) &
                                    L2E_OFFSET_MASK;
        }
        stbe64(l2 + j * s->l2_entry_size, e);
        dirty = true;
    }
    ret = 0;
    if (dirty) {
        ret = qcow2_flush_caches(bs);
        if (ret == 0) {
            ret = bdrv_child_pwrite(bs->file, l2_off, s->cluster_size, l2, 0);
        }
        if (ret == 0) {
            ret = qcow2_file_flush(bs);
        }
    }
    for (int k = 0; ret == 0 && k < nb_dropped; k++) {
        ret = qcow2_update_refcount(bs, dropped[k], s->cluster_size,
                                    -(int64_t)l2_refs);
    }
out:
    free(dropped);
    return ret;
}

/* Where expand_zero_clusters() is: L1 entries done of all L1 tables'. */
typedef struct ExpandProgress {
    AmendProgress *amend;
    int64_t done;
    int64_t total;
} ExpandProgress;

/* Progress is reported after each L1 entry, allocated or not (QEMU's). */
static int expand_l1(BlockDriverState *bs, const uint64_t *l1,
                     uint32_t l1_size, ExpandProgress *prog)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *l2 = qemu_xmalloc(s->cluster_size);
    int ret = 0;

    for (uint32_t i = 0; i < l1_size && ret == 0; i++) {
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        if (l2_off) {
            ret = expand_l2(bs, l2_off, i, l2);
        }
        if (ret == 0) {
            amend_progress(prog->amend, bs, ++prog->done, prog->total);
        }
    }
    free(l2);
    return ret;
}

/*
 * Every L1 table (active first, then the snapshots'), with the L2 tables
 * read and written on disk: the L2 cache is written back and emptied
 * first, so that tables shared by several L1 tables are expanded once.
 */
static int expand_zero_clusters(BlockDriverState *bs, AmendProgress *amend)
{
    BDRVQcow2State *s = bs->opaque;
    ExpandProgress prog = { .amend = amend, .total = s->l1_size };
    uint64_t *l1 = NULL;
    int ret = qcow2_flush_caches(bs);

    if (ret < 0) {
        return ret;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        prog.total += s->snapshots[i].l1_size;
    }
    qcow2_cache_clear(s->l2_cache);
    s->cluster_cache_offset = UINT64_MAX;
    ret = expand_l1(bs, s->l1_table, s->l1_size, &prog);
    for (uint32_t i = 0; ret == 0 && i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        Error *err = NULL;
        uint8_t *buf;

        ret = qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size, 8,
                                   QCOW2_MAX_L1_BYTES, "Snapshot L1 table",
                                   &err);
        if (ret < 0) {
            /* QEMU prints the reason, then fails the downgrade. */
            qcow2_error_report("%s", error_get_pretty(err));
            error_free(err);
            break;
        }
        buf = qemu_xzalloc((size_t)sn->l1_size * 8 + 8);
        l1 = qemu_xrealloc(l1, (size_t)sn->l1_size * 8 + 8);
        ret = bdrv_child_pread(bs->file, sn->l1_table_offset,
                               (int64_t)sn->l1_size * 8, buf);
        for (uint32_t j = 0; ret == 0 && j < sn->l1_size; j++) {
            l1[j] = ldbe64(buf + j * 8);
        }
        free(buf);
        if (ret == 0) {
            ret = expand_l1(bs, l1, sn->l1_size, &prog);
        }
    }
    free(l1);
    return ret;
}

/* Whether an L2 table that @l1 names has a compressed cluster: 1, 0. */
static int l1_has_compressed(BlockDriverState *bs, const uint64_t *l1,
                             uint32_t l1_size, uint64_t *l2)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;
        int ret;

        if (!l2_off) {
            continue;
        }
        ret = bdrv_child_pread(bs->file, l2_off, s->cluster_size, l2);
        if (ret < 0) {
            return ret;
        }
        for (int64_t j = 0; j < s->l2_size; j++) {
            if (qcow2_l2_entry(s, l2, j) & QCOW_OFLAG_COMPRESSED) {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * Whether any L1 table, the active one or a snapshot's, maps a compressed
 * cluster (QEMU asks the active layer only; a snapshot's zstd cluster
 * would be just as unreadable after the downgrade).  Caches are flushed.
 */
static int has_compressed_clusters(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2 = qemu_xmalloc(s->cluster_size);
    uint64_t *l1 = NULL;
    int ret = qcow2_flush_caches(bs);

    if (ret == 0) {
        ret = l1_has_compressed(bs, s->l1_table, s->l1_size, l2);
    }
    for (uint32_t i = 0; ret == 0 && i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];

        l1 = qemu_xrealloc(l1, (size_t)sn->l1_size * 8 + 8);
        ret = bdrv_child_pread(bs->file, sn->l1_table_offset,
                               (int64_t)sn->l1_size * 8, l1);
        for (uint32_t j = 0; ret == 0 && j < sn->l1_size; j++) {
            l1[j] = be64toh_q(l1[j]);
        }
        if (ret == 0) {
            ret = l1_has_compressed(bs, l1, sn->l1_size, l2);
        }
    }
    free(l1);
    free(l2);
    return ret;
}

static int qcow2_downgrade(BlockDriverState *bs, AmendProgress *prog,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_incompat;
    uint8_t old_type;
    int ret;

    if (s->refcount_order != 4) {
        error_setg(errp, "compat=0.10 requires refcount_bits=16");
        return -ENOTSUP;
    }
    if (qcow2_has_data_file(s)) {
        error_setg(errp, "Cannot downgrade an image with a data file");
        return -ENOTSUP;
    }
    /*
     * v2 programs need not know a snapshot's disk size or a VM state
     * beyond 32 bits: such snapshots would silently lose meaning.
     */
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (s->snapshots[i].vm_state_size > UINT32_MAX ||
            s->snapshots[i].disk_size != s->size) {
            error_setg(errp, "Internal snapshots prevent downgrade of image");
            return -ENOTSUP;
        }
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
    }
    if (s->incompatible_features & ~QCOW2_INCOMPAT_COMPRESSION) {
        error_setg(errp, "Cannot downgrade an image with incompatible "
                   "features 0x%" PRIx64 " set",
                   (uint64_t)(s->incompatible_features &
                              ~QCOW2_INCOMPAT_COMPRESSION));
        return -ENOTSUP;
    }
    if (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) {
        ret = has_compressed_clusters(bs);
        if (ret < 0) {
            error_setg(errp, "Failed to check block status");
            return -EINVAL;
        }
        if (ret) {
            error_setg(errp, "Cannot downgrade an image with zstd "
                       "compression type and existing compressed clusters");
            return -ENOTSUP;
        }
    }
    s->compatible_features = 0;
    /* As QEMU: the bitmaps stay, and a v2 reader will distrust them. */
    s->autoclear_features = 0;
    ret = expand_zero_clusters(bs, prog);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to turn zero into data "
                         "clusters");
        return ret;
    }
    /* v2 has no compression type: with no compressed cluster, zlib */
    old_type = s->compression_type;
    old_incompat = s->incompatible_features;
    s->incompatible_features &= ~QCOW2_INCOMPAT_COMPRESSION;
    s->compression_type = QCOW2_COMPRESSION_TYPE_ZLIB;
    s->qcow_version = 2;
    s->use_lazy_refcounts = false;
    ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
    if (ret == 0) {
        ret = qcow2_flush_caches(bs);
    }
    if (ret == 0) {
        ret = qcow2_update_header(bs);
    }
    if (ret < 0) {
        s->qcow_version = 3;
        s->compression_type = old_type;
        s->incompatible_features = old_incompat;
        error_setg_errno(errp, -ret, "Failed to update the image header");
    }
    return ret;
}

/* ---- v2 -> v3 ---------------------------------------------------------- */

/* Progress in QEMU's three steps: start, snapshot table, header. */
static int qcow2_upgrade(BlockDriverState *bs, AmendProgress *prog,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    amend_progress(prog, bs, 0, 2);
    /* v3 snapshots must record the VM state size and the disk size. */
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (s->snapshots[i].extra_data_size < 16) {
            ret = qcow2_write_snapshots(bs);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Failed to update the snapshot "
                                 "table");
                return ret;
            }
            break;
        }
    }
    amend_progress(prog, bs, 1, 2);
    s->qcow_version = 3;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->qcow_version = 2;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    amend_progress(prog, bs, 2, 2);
    return 0;
}

/* ---- amend ------------------------------------------------------------ */

typedef struct AmendOpts {
    int version;
    uint64_t size;              /* 0: unchanged */
    const char *backing_file;
    const char *backing_fmt;
    bool lazy;
    int64_t refcount_bits;
    const char *data_file;      /* NULL: unchanged; "": drop the name */
    bool data_file_raw;
} AmendOpts;

static int check_amend_keys(const QDict *opts, Error **errp)
{
    for (const QDictEntry *e = qdict_first(opts); e; e = qdict_next(opts, e)) {
        const char *k = qdict_entry_key(e);

        if (qemu_opt_find_desc(qcow2_amend_opts, k)) {
            continue;
        }
        error_setg(errp, "Invalid parameter '%s'", k);
        if (qemu_opt_find_desc(qcow2_create_opts, k) ||
            strstart(k, "encrypt.", NULL)) {
            error_append_hint(errp, "This option is only supported for image "
                              "creation\n");
        }
        return -EINVAL;
    }
    return 0;
}

/* The options, checked in QEMU's order (that of its option list). */
static int parse_amend_opts(BlockDriverState *bs, const QDict *opts,
                            AmendOpts *o, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *v;
    bool raw;
    int ret = check_amend_keys(opts, errp);

    if (ret < 0) {
        return ret;
    }
    memset(o, 0, sizeof(*o));
    o->version = s->qcow_version;
    o->lazy = s->use_lazy_refcounts;
    o->refcount_bits = s->refcount_bits;
    if (qdict_get_size(opts, "size", 0, &o->size, errp) < 0) {
        return -EINVAL;
    }
    v = qdict_get_str(opts, "compat");
    if (v) {
        if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
            o->version = 2;
        } else if (!strcmp(v, "1.1") || !strcmp(v, "v3")) {
            o->version = 3;
        } else {
            error_setg(errp, "Unknown compatibility level %s", v);
            return -EINVAL;
        }
    }
    o->backing_file = qdict_get_str(opts, "backing_file");
    o->backing_fmt = qdict_get_str(opts, "backing_fmt");
    o->data_file = qdict_get_str(opts, "data_file");
    if (o->data_file && !qcow2_has_data_file(s)) {
        error_setg(errp, "data-file can only be set for images that use an "
                   "external data file");
        return -EINVAL;
    }
    raw = qcow2_data_file_is_raw(s);
    if (qdict_get_bool(opts, "data_file_raw", raw, &o->data_file_raw,
                       errp) < 0) {
        return -EINVAL;
    }
    if (o->data_file_raw && !raw) {
        error_setg(errp, "data-file-raw cannot be set on existing images");
        return -EINVAL;
    }
    if (qdict_get_bool(opts, "lazy_refcounts", o->lazy, &o->lazy,
                       errp) < 0) {
        return -EINVAL;
    }
    v = qdict_get_str(opts, "refcount_bits");
    if (v && (qemu_strtoi64(v, NULL, 10, &o->refcount_bits) < 0 ||
              o->refcount_bits <= 0 || o->refcount_bits > 64 ||
              (o->refcount_bits & (o->refcount_bits - 1)))) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    return 0;
}

/* QEMU compares with the names in the header (none: NULL). */
static bool same_name(const char *opt, const char *image)
{
    if (!opt || !image[0]) {
        return !opt && !image[0];
    }
    return !strcmp(opt, image);
}

static int set_lazy_refcounts(BlockDriverState *bs, bool lazy, int version,
                              Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (lazy == s->use_lazy_refcounts) {
        return 0;
    }
    if (lazy && version < 3) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                   "level 1.1 and above (use compat=1.1 or greater)");
        return -EINVAL;
    }
    if (!lazy) {
        ret = qcow2_mark_clean(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to make the image clean");
            return ret;
        }
    }
    s->compatible_features ^= QCOW2_COMPAT_LAZY_REFCOUNTS;
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        s->compatible_features ^= QCOW2_COMPAT_LAZY_REFCOUNTS;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    s->use_lazy_refcounts = lazy;
    if (lazy) {
        s->l2_cache->depends = NULL;
        return 0;
    }
    ret = qcow2_cache_set_dependency(bs, s->l2_cache, s->refcount_cache);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the refcount cache");
    }
    return ret;
}

/*
 * data_file_raw may only be cleared; data_file renames the external data
 * file ("" drops the name: the image then needs data-file.* to open).
 * The header is rewritten in any case, as QEMU does.
 */
static int amend_data_file(BlockDriverState *bs, const AmendOpts *o,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_autoclear = s->autoclear_features;
    char *old_name = s->image_data_file;
    int ret;

    if (o->data_file_raw) {
        s->autoclear_features |= QCOW2_AUTOCLEAR_DATA_RAW;
    } else {
        s->autoclear_features &= ~QCOW2_AUTOCLEAR_DATA_RAW;
    }
    if (o->data_file) {
        s->image_data_file = o->data_file[0] ? qemu_xstrdup(o->data_file)
                                             : NULL;
    }
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        if (o->data_file) {
            free(s->image_data_file);
            s->image_data_file = old_name;
        }
        s->autoclear_features = old_autoclear;
        error_setg_errno(errp, -ret, "Failed to update the image header");
        return ret;
    }
    if (o->data_file) {
        free(old_name);
    }
    return 0;
}

int qcow2_amend_options(BlockDriverState *bs, QDict *opts,
                        BlockDriverAmendStatusCB *status_cb, void *cb_opaque,
                        bool force, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int old_version = s->qcow_version;
    AmendProgress prog = { .cb = status_cb, .opaque = cb_opaque };
    AmendOpts o;
    int ret;

    (void)force;
    ret = parse_amend_opts(bs, opts, &o, errp);
    if (ret < 0) {
        return ret;
    }
    /* The steps that report progress (refcount width changes would). */
    prog.nb_steps = o.version != old_version;
    /* Upgrade first: the other changes may need v3. */
    if (o.version > old_version) {
        prog.step = 1;
        ret = qcow2_upgrade(bs, &prog, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (o.refcount_bits != s->refcount_bits) {
        if (o.version < 3 && o.refcount_bits != 16) {
            error_setg(errp, "Refcount widths other than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
            return -EINVAL;
        }
        error_setg(errp, "Changing the refcount width is not supported by "
                   "this qcow2 driver");
        return -ENOTSUP;
    }
    ret = amend_data_file(bs, &o, errp);
    if (ret < 0) {
        return ret;
    }
    if ((o.backing_file || o.backing_fmt) &&
        (!same_name(o.backing_file, bs->backing_file) ||
         !same_name(o.backing_fmt, bs->backing_format))) {
        error_setg(errp, "Cannot amend the backing file");
        error_append_hint(errp, "You can use 'qemu-img rebase' instead.\n");
        return -EINVAL;
    }
    ret = set_lazy_refcounts(bs, o.lazy, o.version, errp);
    if (ret < 0) {
        return ret;
    }
    if (o.size) {
        ret = qcow2_truncate(bs, o.size, true, PREALLOC_MODE_OFF, errp);
        if (ret < 0) {
            return ret;
        }
    }
    /* Downgrade last, once the other changes are done. */
    if (o.version < old_version) {
        prog.step = 1;
        ret = qcow2_downgrade(bs, &prog, errp);
        if (ret < 0) {
            return ret;
        }
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the image");
    }
    return ret;
}
