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

int qcow2_read_snapshots(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file->bs);
    uint64_t off = s->snapshots_offset;
    uint8_t h[40];
    int ret;

    s->snapshots = qemu_xnew0(Qcow2Snapshot, s->nb_snapshots + 1);
    s->snapshots_size = 0;
    if (!s->nb_snapshots) {
        return 0;
    }
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Failed to read snapshot table");
        return file_len;
    }
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        Qcow2Snapshot *sn = &s->snapshots[i];
        uint32_t extra, id_len, name_len;
        uint8_t *e;

        if (off + 40 > (uint64_t)file_len ||
            off - s->snapshots_offset > QCOW2_MAX_SN_TABLE_BYTES) {
            error_setg(errp, "Failed to read snapshot table: table extends "
                       "past the end of the file");
            ret = -EINVAL;
            goto fail;
        }
        ret = bdrv_child_pread(bs->file, off, 40, h);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        off += 40;
        sn->l1_table_offset = ldbe64(h);
        sn->l1_size = ldbe32(h + 8);
        id_len = ldbe16(h + 12);
        name_len = ldbe16(h + 14);
        sn->date_sec = ldbe32(h + 16);
        sn->date_nsec = ldbe32(h + 20);
        sn->vm_clock_nsec = ldbe64(h + 24);
        sn->vm_state_size = ldbe32(h + 32);
        extra = ldbe32(h + 36);
        sn->extra_data_size = extra;
        sn->disk_size = s->size;
        sn->icount = UINT64_MAX;
        if (extra > QCOW2_MAX_SN_EXTRA) {
            error_setg(errp, "Too much extra metadata in snapshot table entry "
                       "%u", i);
            ret = -EFBIG;
            goto fail;
        }
        if (off + extra + id_len + name_len > (uint64_t)file_len) {
            error_setg(errp, "Failed to read snapshot table: table extends "
                       "past the end of the file");
            ret = -EINVAL;
            goto fail;
        }
        e = qemu_xzalloc(extra + id_len + name_len + 2);
        ret = bdrv_child_pread(bs->file, off, extra + id_len + name_len, e);
        if (ret < 0) {
            free(e);
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            goto fail;
        }
        if (extra >= 8) {
            sn->vm_state_size = ldbe64(e);
        }
        if (extra >= 16) {
            sn->disk_size = ldbe64(e + 8);
        }
        if (extra >= 24) {
            sn->icount = ldbe64(e + 16);
        }
        if (extra > 24) {
            sn->unknown_extra = qemu_xmalloc(extra - 24);
            memcpy(sn->unknown_extra, e + 24, extra - 24);
        }
        sn->id_str = qemu_xstrndup((char *)e + extra, id_len);
        sn->name = qemu_xstrndup((char *)e + extra + id_len, name_len);
        free(e);
        off += extra + id_len + name_len;
        off = QEMU_ALIGN_UP(off, 8);
        if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8) {
            error_setg(errp, "Snapshot L1 table too large");
            ret = -EFBIG;
            goto fail;
        }
        if (qcow2_offset_into_cluster(s, sn->l1_table_offset) ||
            (sn->l1_size && sn->l1_table_offset == 0)) {
            error_setg(errp, "Snapshot L1 table offset invalid");
            ret = -EINVAL;
            goto fail;
        }
    }
    s->snapshots_size = off - s->snapshots_offset;
    return 0;
fail:
    qcow2_free_snapshots(bs);
    return ret;
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

int qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot *sn;
    uint8_t *buf;
    uint64_t *new_l1;
    size_t cur_bytes;
    int idx, ret;

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
    if (sn->disk_size != s->size) {
        uint8_t b[8];
        stbe64(b, sn->disk_size);
        ret = bdrv_child_pwrite(bs->file, 24, 8, b, 0);
        if (ret < 0) {
            goto fail;
        }
        s->size = sn->disk_size;
    }
    s->cluster_cache_offset = UINT64_MAX;
    return qcow2_flush_caches(bs);
fail:
    error_setg_errno(errp, -ret, "Could not apply snapshot");
    return ret;
}

int qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                          const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Snapshot sn, *sns;
    int idx, ret;

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
    QEMUSnapshotInfo *tab = qemu_xnew0(QEMUSnapshotInfo,
                                       s->nb_snapshots + 1);

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
