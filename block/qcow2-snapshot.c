/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-snapshot.c: internal snapshots: the snapshot table on disk, and
 * create / apply / delete / list with the refcount bookkeeping they need.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

void qcow2_free_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        free(s->snapshots[i].id_str);
        free(s->snapshots[i].name);
        free(s->snapshots[i].unknown_extra);
    }
    free(s->snapshots);
    s->snapshots = NULL;
}

/*
 * Reads of the snapshot table through a window of the file: tables of
 * thousands of small entries cost a few reads, not several per entry.
 * Bytes past the end of the file read as zeros (as the file driver does).
 */
typedef struct SnReader {
    BlockDriverState *bs;
    uint8_t *buf;
    uint64_t start;
    uint64_t len;
} SnReader;

#define SN_READER_WINDOW (64 * KiB)

static int sn_read(SnReader *r, uint64_t off, uint64_t len, void *out)
{
    int ret;

    if (off >= r->start && off - r->start + len <= r->len) {
        memcpy(out, r->buf + (off - r->start), len);
        return 0;
    }
    if (len > SN_READER_WINDOW / 2) {
        return bdrv_child_pread(r->bs->file, off, len, out);
    }
    ret = bdrv_child_pread(r->bs->file, off, SN_READER_WINDOW, r->buf);
    if (ret < 0) {
        r->len = 0;
        return ret;
    }
    r->start = off;
    r->len = SN_READER_WINDOW;
    memcpy(out, r->buf, len);
    return 0;
}

/*
 * One table entry at @off: fill @sn and return the offset after the entry
 * (not yet aligned), or -errno; *strings_len is the on-disk length of its
 * ID and name.  With @repair, too much extra data is truncated (*dropped
 * set) instead of refused.
 */
static int64_t read_one_snapshot(SnReader *r, uint64_t off, int i,
                                 Qcow2Snapshot *sn, bool repair,
                                 bool *dropped, uint32_t *strings_len,
                                 Error **errp)
{
    BDRVQcow2State *s = r->bs->opaque;
    uint8_t h[QCOW2_SN_HEADER_LEN], extra[QCOW2_SN_EXTRA_LEN];
    uint32_t known, id_len, name_len;
    int ret;

    ret = sn_read(r, off, sizeof(h), h);
    if (ret < 0) {
        goto read_fail;
    }
    off += sizeof(h);
    sn->l1_table_offset = ldbe64(h);
    sn->l1_size = ldbe32(h + 8);
    id_len = ldbe16(h + 12);
    name_len = ldbe16(h + 14);
    *strings_len = id_len + name_len;
    sn->date_sec = ldbe32(h + 16);
    sn->date_nsec = ldbe32(h + 20);
    sn->vm_clock_nsec = ldbe64(h + 24);
    sn->vm_state_size = ldbe32(h + 32);
    sn->extra_data_size = ldbe32(h + 36);
    if (sn->extra_data_size > QCOW2_MAX_SN_EXTRA) {
        if (!repair) {
            error_setg(errp, "Too much extra metadata in snapshot table "
                       "entry %i", i);
            error_append_hint(errp, "You can force-remove this extra "
                              "metadata with qemu-img check -r all\n");
            return -EFBIG;
        }
        qcow2_check_report("Discarding too much extra metadata in snapshot "
                           "table entry %i (%" PRIu32 " > %u)", i,
                           sn->extra_data_size, QCOW2_MAX_SN_EXTRA);
        *dropped = true;
    }
    known = MIN(sizeof(extra), sn->extra_data_size);
    memset(extra, 0, sizeof(extra));
    ret = sn_read(r, off, known, extra);
    if (ret < 0) {
        goto read_fail;
    }
    off += known;
    sn->vm_state_size = known >= 8 ? ldbe64(extra) : sn->vm_state_size;
    sn->disk_size = known >= 16 ? ldbe64(extra + 8) : s->size;
    sn->icount = known >= 24 ? ldbe64(extra + 16) : UINT64_MAX;
    if (sn->extra_data_size > sizeof(extra)) {
        uint64_t end = off + sn->extra_data_size - sizeof(extra);
        if (*dropped) {
            sn->extra_data_size = QCOW2_MAX_SN_EXTRA;
        }
        sn->unknown_extra = qemu_xmalloc(sn->extra_data_size -
                                         sizeof(extra));
        ret = sn_read(r, off, sn->extra_data_size - sizeof(extra),
                      sn->unknown_extra);
        if (ret < 0) {
            goto read_fail;
        }
        off = end;
    }
    sn->id_str = qemu_xzalloc(id_len + 1);
    ret = sn_read(r, off, id_len, sn->id_str);
    if (ret < 0) {
        goto read_fail;
    }
    off += id_len;
    sn->name = qemu_xzalloc(name_len + 1);
    ret = sn_read(r, off, name_len, sn->name);
    if (ret < 0) {
        goto read_fail;
    }
    return off + name_len;
read_fail:
    error_setg_errno(errp, -ret, "Failed to read snapshot table");
    return ret;
}

/*
 * Read the table of s->nb_snapshots entries at s->snapshots_offset, as
 * QEMU does: nothing but the table's size and the entries' extra data is
 * checked here (snapshot L1 tables are validated when they are used).
 * With @repair (check -r all), a table too big loses its overhanging
 * entries (*nb_reduced) and too much extra data is truncated
 * (*extra_dropped); both need the caller to rewrite the table.
 */
static int do_read_snapshots(BlockDriverState *bs, bool repair,
                             int *nb_reduced, int *extra_dropped,
                             Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    SnReader r = { .bs = bs };
    uint64_t off = s->snapshots_offset, table_length = 0;
    int ret = 0;

    qcow2_free_snapshots(bs);
    s->snapshots = qemu_xnew0(Qcow2Snapshot, s->nb_snapshots + 1);
    s->snapshots_size = 0;
    if (!s->nb_snapshots) {
        return 0;
    }
    r.buf = qemu_xmalloc(SN_READER_WINDOW);
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        uint64_t entry_start = off;
        bool dropped = false;
        uint32_t strings_len = 0;
        int64_t end;

        table_length = QEMU_ALIGN_UP(table_length, 8);
        off = QEMU_ALIGN_UP(off, 8);
        end = read_one_snapshot(&r, off, i, sn, repair, &dropped,
                                &strings_len, errp);
        if (end < 0) {
            /* Entries up to i are owned by s->snapshots: freed below. */
            s->nb_snapshots = i + 1;
            ret = end;
            goto fail;
        }
        if (dropped) {
            (*extra_dropped)++;
        }
        table_length += QCOW2_SN_HEADER_LEN + sn->extra_data_size +
                        strings_len;
        off = end;
        if (table_length > QCOW2_MAX_SN_TABLE_BYTES ||
            off - s->snapshots_offset > INT_MAX) {
            if (!repair) {
                error_setg(errp, "Snapshot table is too big");
                error_append_hint(errp, "You can force-remove all %" PRIu32
                                  " overhanging snapshots with qemu-img "
                                  "check -r all\n", s->nb_snapshots - i);
                s->nb_snapshots = i + 1;
                ret = -EFBIG;
                goto fail;
            }
            qcow2_check_report("Discarding %" PRIu32 " overhanging snapshots "
                               "(snapshot table is too big)",
                               s->nb_snapshots - i);
            *nb_reduced += s->nb_snapshots - i;
            free(sn->id_str);
            free(sn->name);
            free(sn->unknown_extra);
            memset(sn, 0, sizeof(*sn));
            s->nb_snapshots = i;
            off = entry_start;
            break;
        }
    }
    s->snapshots_size = off - s->snapshots_offset;
    free(r.buf);
    return 0;
fail:
    free(r.buf);
    qcow2_free_snapshots(bs);
    s->nb_snapshots = 0;
    return ret;
}

int qcow2_read_snapshots(BlockDriverState *bs, Error **errp)
{
    return do_read_snapshots(bs, false, NULL, NULL, errp);
}

/*
 * Check mode: the open did not read the snapshot table; read it from the
 * header's pointer, repairing what -r all can (as QEMU's
 * qcow2_check_read_snapshot_table).  Errors go to the check report.
 */
int qcow2_check_read_snapshot_table(BlockDriverState *bs,
                                    BdrvCheckResult *res, BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    Error *err = NULL;
    int nb_reduced = 0, extra_dropped = 0, ret;
    uint8_t ptr[12];

    ret = bdrv_child_pread(bs->file, 60, sizeof(ptr), ptr);
    if (ret < 0) {
        res->check_errors++;
        qcow2_check_report("ERROR failed to read the snapshot table pointer "
                           "from the image header: %s", strerror(-ret));
        return ret;
    }
    qcow2_free_snapshots(bs);
    s->snapshots_unread = false;
    s->nb_snapshots = ldbe32(ptr);
    s->snapshots_offset = ldbe64(ptr + 4);
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS && (fix & BDRV_FIX_ERRORS)) {
        qcow2_check_report("Discarding %" PRIu32 " overhanging snapshots",
                           s->nb_snapshots - QCOW2_MAX_SNAPSHOTS);
        nb_reduced += s->nb_snapshots - QCOW2_MAX_SNAPSHOTS;
        s->nb_snapshots = QCOW2_MAX_SNAPSHOTS;
    }
    ret = qcow2_validate_table(bs, s->snapshots_offset, s->nb_snapshots,
                               QCOW2_SN_HEADER_LEN,
                               QCOW2_SN_HEADER_LEN * QCOW2_MAX_SNAPSHOTS,
                               "snapshot table", &err);
    if (ret == 0) {
        ret = do_read_snapshots(bs, fix & BDRV_FIX_ERRORS, &nb_reduced,
                                &extra_dropped, &err);
        if (ret < 0) {
            error_prepend(&err, "failed to read the snapshot table: ");
        }
    }
    if (ret < 0) {
        res->check_errors++;
        /* QEMU reports these with error_report: prefixed by the tool. */
        qcow2_error_report("ERROR %s", error_get_pretty(err));
        if (error_get_hint(err)) {
            qemu_warn_raw("%.*s", (int)strlen(error_get_hint(err)) - 1,
                          error_get_hint(err));
        }
        if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
            qcow2_check_report("You can force-remove all %" PRIu32
                               " overhanging snapshots with qemu-img check "
                               "-r all",
                               s->nb_snapshots - QCOW2_MAX_SNAPSHOTS);
        }
        error_free(err);
        /*
         * The table was not read: the check sees none, and header rewrites
         * keep the pointer that is on disk.
         */
        qcow2_free_snapshots(bs);
        s->snapshots = qemu_xnew0(Qcow2Snapshot, 1);
        s->snapshots_offset = 0;
        s->nb_snapshots = 0;
        s->snapshots_size = 0;
        s->snapshots_unread = true;
        s->unread_nb_snapshots = ldbe32(ptr);
        s->unread_snapshots_offset = ldbe64(ptr + 4);
        return ret;
    }
    res->corruptions += nb_reduced + extra_dropped;
    if (nb_reduced) {
        uint8_t n[4];
        /* The count goes to disk now; the leaked clusters are the
         * refcount check's to repair. */
        stbe32(n, s->nb_snapshots);
        ret = bdrv_child_pwrite(bs->file, 60, 4, n, 0);
        if (ret == 0) {
            ret = qcow2_file_flush(bs);
        }
        if (ret < 0) {
            res->check_errors++;
            qcow2_check_report("ERROR failed to update the snapshot count in "
                               "the image header: %s", strerror(-ret));
            return ret;
        }
        res->corruptions_fixed += nb_reduced;
        res->corruptions -= nb_reduced;
    }
    if (s->qcow_version >= 3) {
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            if (s->snapshots[i].extra_data_size < 16) {
                res->corruptions++;
                qcow2_check_report("%s snapshot table entry %" PRIu32
                                   " is incomplete",
                                   fix & BDRV_FIX_ERRORS ? "Repairing"
                                                         : "ERROR", i);
            }
        }
    }
    return 0;
}

/* After the refcount check: rewrite a table the reading had to repair. */
int qcow2_check_fix_snapshot_table(BlockDriverState *bs,
                                   BdrvCheckResult *res, BdrvCheckMode fix)
{
    int ret;

    if (res->corruptions && (fix & BDRV_FIX_ERRORS)) {
        ret = qcow2_write_snapshots(bs);
        if (ret < 0) {
            res->check_errors++;
            qcow2_check_report("ERROR failed to update snapshot table: %s",
                               strerror(-ret));
            return ret;
        }
        res->corruptions_fixed += res->corruptions;
        res->corruptions = 0;
    }
    return 0;
}

static size_t snapshot_entry_size(const Qcow2Snapshot *sn)
{
    uint32_t extra = MAX(24, sn->extra_data_size);

    return QEMU_ALIGN_UP(40 + extra + strlen(sn->id_str) + strlen(sn->name),
                         8);
}

/* Write the snapshot table to new clusters and point the header at it. */
static int write_snapshots(BlockDriverState *bs, Qcow2Snapshot *sns,
                           uint32_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_off = s->snapshots_offset, old_size = s->snapshots_size;
    uint64_t total = 0, pos = 0;
    int64_t new_off = 0;
    uint8_t *buf, h[12];
    int ret;

    for (uint32_t i = 0; i < nb; i++) {
        total += snapshot_entry_size(&sns[i]);
    }
    if (total > QCOW2_MAX_SN_TABLE_BYTES) {
        return -EFBIG;
    }
    buf = qemu_xzalloc(total + 1);
    for (uint32_t i = 0; i < nb; i++) {
        const Qcow2Snapshot *sn = &sns[i];
        uint32_t extra = MAX(24, sn->extra_data_size);
        size_t id_len = strlen(sn->id_str), name_len = strlen(sn->name);
        uint8_t *p = buf + pos;

        stbe64(p, sn->l1_table_offset);
        stbe32(p + 8, sn->l1_size);
        stbe16(p + 12, id_len);
        stbe16(p + 14, name_len);
        stbe32(p + 16, sn->date_sec);
        stbe32(p + 20, sn->date_nsec);
        stbe64(p + 24, sn->vm_clock_nsec);
        stbe32(p + 32, (uint32_t)sn->vm_state_size);
        stbe32(p + 36, extra);
        stbe64(p + 40, sn->vm_state_size);
        stbe64(p + 48, sn->disk_size);
        stbe64(p + 56, sn->icount);
        if (extra > 24 && sn->unknown_extra) {
            memcpy(p + 64, sn->unknown_extra, extra - 24);
        }
        memcpy(p + 40 + extra, sn->id_str, id_len);
        memcpy(p + 40 + extra + id_len, sn->name, name_len);
        pos += snapshot_entry_size(sn);
    }
    if (nb) {
        new_off = qcow2_alloc_clusters(bs, total);
        if (new_off < 0) {
            free(buf);
            return new_off;
        }
        ret = qcow2_flush_caches(bs);
        if (ret == 0) {
            ret = bdrv_child_pwrite(bs->file, new_off, total, buf, 0);
        }
        if (ret == 0) {
            ret = qcow2_file_flush(bs);
        }
        if (ret < 0) {
            free(buf);
            qcow2_free_clusters(bs, new_off, total);
            return ret;
        }
    }
    free(buf);
    stbe32(h, nb);
    stbe64(h + 4, new_off);
    ret = bdrv_child_pwrite(bs->file, 60, 12, h, 0);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        return ret;
    }
    s->snapshots_offset = new_off;
    s->snapshots_size = total;
    if (old_size) {
        qcow2_free_clusters(bs, old_off, old_size);
    }
    return 0;
}

int qcow2_write_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return write_snapshots(bs, s->snapshots, s->nb_snapshots);
}

/* QEMU's check of a snapshot's L1 table, before the table is used. */
static int validate_snapshot_l1(BlockDriverState *bs, const Qcow2Snapshot *sn,
                                Error **errp)
{
    return qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size, 8,
                                QCOW2_MAX_L1_BYTES, "Snapshot L1 table",
                                errp);
}

static int find_snapshot(BDRVQcow2State *s, const char *id, const char *name)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (id && name) {
            if (!strcmp(s->snapshots[i].id_str, id) &&
                !strcmp(s->snapshots[i].name, name)) {
                return i;
            }
        } else if (id && !strcmp(s->snapshots[i].id_str, id)) {
            return i;
        } else if (name && !strcmp(s->snapshots[i].name, name)) {
            return i;
        }
    }
    return -1;
}

static int find_snapshot_by_id_or_name(BDRVQcow2State *s, const char *str)
{
    int i = find_snapshot(s, str, NULL);

    return i >= 0 ? i : find_snapshot(s, NULL, str);
}

int qcow2_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                          Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *sns, *sn;
    int64_t l1_off;
    uint8_t *buf;
    int ret;

    if (qcow2_has_data_file(s)) {
        return -ENOTSUP;        /* as QEMU: no snapshots with data files */
    }
    if (!s->writable) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (!sn_info->id_str[0]) {
        unsigned long max = 0;
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            unsigned long v = strtoul(s->snapshots[i].id_str, NULL, 10);
            max = MAX(max, v);
        }
        snprintf(sn_info->id_str, sizeof(sn_info->id_str), "%lu", max + 1);
    }
    if (find_snapshot(s, sn_info->id_str, NULL) >= 0) {
        error_setg(errp, "Snapshot with ID '%s' already exists",
                   sn_info->id_str);
        return -EEXIST;
    }
    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
        error_setg(errp, "Too many snapshots");
        return -EFBIG;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the image");
        return ret;
    }

    /* A copy of the active L1 table. */
    l1_off = 0;
    if (s->l1_size) {
        l1_off = qcow2_alloc_clusters(bs, (uint64_t)s->l1_size * 8);
        if (l1_off < 0) {
            error_setg_errno(errp, -l1_off, "Failed to allocate L1 table");
            return l1_off;
        }
        ret = qcow2_cache_flush(bs, s->refcount_cache);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to flush the image");
            return ret;
        }
        buf = qemu_xmalloc((size_t)s->l1_size * 8);
        for (uint32_t i = 0; i < s->l1_size; i++) {
            stbe64(buf + i * 8, s->l1_table[i]);
        }
        ret = bdrv_child_pwrite(bs->file, l1_off, s->l1_size * 8, buf, 0);
        free(buf);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to save L1 table");
            return ret;
        }
    }
    /* Everything the active layer references gains a reference. */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         1);
    if (ret < 0) {
        /* QEMU reports a refcount overflow here as EINVAL. */
        ret = ret == -ERANGE ? -EINVAL : ret;
        error_setg_errno(errp, -ret, "Failed to increase cluster reference "
                         "counts");
        return ret;
    }

    sns = qemu_xnew0(Qcow2Snapshot, s->nb_snapshots + 1);
    memcpy(sns, s->snapshots, sizeof(*sns) * s->nb_snapshots);
    sn = &sns[s->nb_snapshots];
    sn->l1_table_offset = l1_off;
    sn->l1_size = s->l1_size;
    sn->id_str = qemu_xstrdup(sn_info->id_str);
    sn->name = qemu_xstrdup(sn_info->name);
    sn->disk_size = s->size;
    sn->vm_state_size = sn_info->vm_state_size;
    sn->date_sec = sn_info->date_sec;
    sn->date_nsec = sn_info->date_nsec;
    sn->vm_clock_nsec = sn_info->vm_clock_nsec;
    sn->icount = sn_info->icount;
    sn->extra_data_size = 24;
    ret = write_snapshots(bs, sns, s->nb_snapshots + 1);
    if (ret < 0) {
        free(sn->id_str);
        free(sn->name);
        free(sns);
        error_setg_errno(errp, -ret, "Could not write snapshot table");
        return ret;
    }
    free(s->snapshots);
    s->snapshots = sns;
    s->nb_snapshots++;
    return 0;
}

int qcow2_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                            const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *sn;
    uint64_t *l1;
    uint8_t *buf;
    int idx, ret;

    if (s->writable) {
        error_setg(errp, "Image is not read-only");
        return -EINVAL;
    }
    idx = find_snapshot(s, snapshot_id, name);
    if (idx < 0) {
        error_setg(errp, "Can't find snapshot");
        return -ENOENT;
    }
    sn = &s->snapshots[idx];
    ret = qcow2_validate_table(bs, sn->l1_table_offset, sn->l1_size, 8,
                               QCOW2_MAX_L1_BYTES, "Snapshot L1 table", errp);
    if (ret < 0) {
        return ret;
    }
    buf = qemu_xmalloc((size_t)sn->l1_size * 8 + 1);
    ret = sn->l1_size ? bdrv_child_pread(bs->file, sn->l1_table_offset,
                                         (int64_t)sn->l1_size * 8, buf) : 0;
    if (ret < 0) {
        free(buf);
        error_setg(errp, "Failed to read l1 table for snapshot");
        return ret;
    }
    l1 = qemu_xnew0(uint64_t, sn->l1_size + 1);
    for (uint32_t i = 0; i < sn->l1_size; i++) {
        l1[i] = ldbe64(buf + (size_t)i * 8);
    }
    free(buf);
    free(s->l1_table);
    s->l1_table = l1;
    s->l1_size = sn->l1_size;
    s->l1_table_offset = sn->l1_table_offset;
    s->cluster_cache_offset = UINT64_MAX;
    return 0;
}

int qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *sn;
    Error *err = NULL;
    uint8_t *buf;
    uint64_t *new_l1;
    size_t cur_bytes;
    int idx, ret;

    if (qcow2_has_data_file(s)) {
        return -ENOTSUP;        /* as QEMU: no snapshots with data files */
    }
    if (!s->writable) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    idx = find_snapshot_by_id_or_name(s, snapshot_id);
    if (idx < 0) {
        error_setg_errno(errp, ENOENT, "Failed to load snapshot");
        return -ENOENT;
    }
    sn = &s->snapshots[idx];
    ret = validate_snapshot_l1(bs, sn, &err);
    if (ret == 0 && sn->disk_size != s->size) {
        /* The active layer takes the snapshot's size first (v3 only). */
        ret = qcow2_truncate(bs, sn->disk_size, true, PREALLOC_MODE_OFF,
                             &err);
    }
    if (ret < 0) {
        /* QEMU prints the reason, and returns only the errno. */
        qcow2_error_report("%s", error_get_pretty(err));
        error_free(err);
        goto fail;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_grow_l1_table(bs, sn->l1_size, true);
    if (ret < 0) {
        goto fail;
    }
    cur_bytes = (size_t)s->l1_size * 8;
    buf = qemu_xzalloc(cur_bytes + 8);
    if (sn->l1_size) {
        ret = bdrv_child_pread(bs->file, sn->l1_table_offset,
                               (int64_t)sn->l1_size * 8, buf);
        if (ret < 0) {
            free(buf);
            goto fail;
        }
    }
    /* The snapshot's tree gains a reference ... */
    ret = qcow2_update_snapshot_refcount(bs, sn->l1_table_offset,
                                         sn->l1_size, 1);
    if (ret < 0) {
        free(buf);
        goto fail;
    }
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret == 0) {
        /* ... becomes the active table ... */
        ret = bdrv_child_pwrite(bs->file, s->l1_table_offset, cur_bytes,
                                buf, 0);
    }
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        free(buf);
        goto fail;
    }
    new_l1 = qemu_xnew0(uint64_t, s->l1_size + 1);
    for (uint32_t i = 0; i < s->l1_size; i++) {
        new_l1[i] = ldbe64(buf + i * 8);
    }
    free(buf);
    /* ... and the old active tree loses one. */
    {
        uint64_t *old_l1 = s->l1_table;
        bool modified;
        s->l1_table = new_l1;
        ret = qcow2_update_l1_refcount(bs, old_l1, s->l1_size, -1,
                                       &modified);
        free(old_l1);
        if (ret < 0) {
            goto fail;
        }
    }
    /* COPIED flags of the new active tree. */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         0);
    if (ret < 0) {
        goto fail;
    }
    s->cluster_cache_offset = UINT64_MAX;
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        return 0;
    }
fail:
    error_setg_errno(errp, -ret, "Failed to load snapshot");
    return ret;
}

int qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                          const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot sn, *sns;
    int idx, ret;

    if (qcow2_has_data_file(s)) {
        return -ENOTSUP;        /* as QEMU: no snapshots with data files */
    }
    if (!s->writable) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (snapshot_id && name) {
        idx = find_snapshot(s, snapshot_id, name);
    } else if (snapshot_id) {
        idx = find_snapshot_by_id_or_name(s, snapshot_id);
    } else {
        idx = find_snapshot(s, NULL, name);
    }
    if (idx < 0) {
        error_setg(errp, "Can't find the snapshot");
        return -ENOENT;
    }
    sn = s->snapshots[idx];
    ret = validate_snapshot_l1(bs, &sn, errp);
    if (ret < 0) {
        return ret;
    }
    sns = qemu_xnew0(Qcow2Snapshot, s->nb_snapshots);
    memcpy(sns, s->snapshots, sizeof(*sns) * idx);
    memcpy(sns + idx, s->snapshots + idx + 1,
           sizeof(*sns) * (s->nb_snapshots - idx - 1));
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = write_snapshots(bs, sns, s->nb_snapshots - 1);
    }
    if (ret < 0) {
        free(sns);
        error_setg_errno(errp, -ret, "Failed to remove snapshot from "
                         "snapshot list");
        return ret;
    }
    free(s->snapshots);
    s->snapshots = sns;
    s->nb_snapshots--;

    s->discard_on_free = true;
    ret = qcow2_update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size,
                                         -1);
    if (ret == 0 && sn.l1_size) {
        qcow2_free_clusters(bs, sn.l1_table_offset,
                            (uint64_t)sn.l1_size * 8);
    }
    s->discard_on_free = false;
    free(sn.id_str);
    free(sn.name);
    free(sn.unknown_extra);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to free the cluster and L1 "
                         "table");
        return ret;
    }
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size,
                                         0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update snapshot status in "
                         "disk");
        return ret;
    }
    return qcow2_flush_caches(bs);
}

int qcow2_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUSnapshotInfo *tab;

    if (qcow2_has_data_file(s)) {
        *psn = NULL;
        return -ENOTSUP;
    }
    tab = qemu_xnew0(QEMUSnapshotInfo, s->nb_snapshots + 1);

    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        pstrcpy(tab[i].id_str, sizeof(tab[i].id_str), sn->id_str);
        pstrcpy(tab[i].name, sizeof(tab[i].name), sn->name);
        tab[i].vm_state_size = sn->vm_state_size;
        tab[i].date_sec = sn->date_sec;
        tab[i].date_nsec = sn->date_nsec;
        tab[i].vm_clock_nsec = sn->vm_clock_nsec;
        tab[i].icount = sn->icount;
    }
    *psn = tab;
    return s->nb_snapshots;
}
