/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-bitmap-sync.c: persistent dirty bitmaps between the image and
 * memory, as QEMU 7.2 does it: loaded at open (and marked in use on disk
 * by a writable node), stored back at close or hand-over, removed at once.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/dirty-bitmap.h"
#include "block/qcow2.h"

#define BME_TABLE_OFFSET_MASK 0x00fffffffffffe00ULL
#define BME_TABLE_ALL_ONES 1ULL

static int update_header_sync(BlockDriverState *bs)
{
    int ret = qcow2_update_header(bs);

    return ret < 0 ? ret : qcow2_file_flush(bs);
}

static Qcow2Bitmap *find_bitmap(Qcow2Bitmap *list, uint32_t nb,
                                const char *name)
{
    for (uint32_t i = 0; i < nb; i++) {
        if (!strcmp(list[i].name, name)) {
            return &list[i];
        }
    }
    return NULL;
}

/*
 * Rewrite the directory where it is (same entries, new flags): the
 * autoclear bit is dropped around the write, so a crash in between loses
 * the bitmaps rather than trusting a half-written directory.
 */
static int update_dir_in_place(BlockDriverState *bs, Qcow2Bitmap *list,
                               uint32_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) || nb == 0 ||
        nb != s->nb_bitmaps) {
        return -EINVAL;
    }
    s->autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
    ret = update_header_sync(bs);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_bitmap_list_store(bs, list, nb, &s->bitmap_directory_offset,
                                  &s->bitmap_directory_size, true);
    if (ret < 0) {
        return ret;
    }
    ret = update_header_sync(bs);
    if (ret < 0) {
        return ret;
    }
    s->autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    return update_header_sync(bs);
}

/* A new directory for @list (none when empty), then the old one freed. */
static int update_dir(BlockDriverState *bs, Qcow2Bitmap *list, uint32_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t new_off = 0, new_size = 0;
    uint64_t old_off = s->bitmap_directory_offset;
    uint64_t old_size = s->bitmap_directory_size;
    uint32_t old_nb = s->nb_bitmaps;
    uint64_t old_autoclear = s->autoclear_features;
    int ret;

    if (nb > 0) {
        if (nb > QCOW2_MAX_BITMAPS) {
            return -EINVAL;
        }
        ret = qcow2_bitmap_list_store(bs, list, nb, &new_off, &new_size,
                                      false);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            goto fail;
        }
        s->autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    } else {
        s->autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
    }
    s->bitmap_directory_offset = new_off;
    s->bitmap_directory_size = new_size;
    s->nb_bitmaps = nb;
    ret = update_header_sync(bs);
    if (ret < 0) {
        goto fail;
    }
    if (old_size > 0) {
        qcow2_free_clusters(bs, old_off, old_size);
    }
    return 0;

fail:
    if (new_off > 0) {
        qcow2_free_clusters(bs, new_off, new_size);
    }
    s->bitmap_directory_offset = old_off;
    s->bitmap_directory_size = old_size;
    s->nb_bitmaps = old_nb;
    s->autoclear_features = old_autoclear;
    return ret;
}

/* ---- load ------------------------------------------------------------- */

/* The data of @bm's table into the empty @bitmap. */
static int load_bitmap_data(BlockDriverState *bs, const uint64_t *table,
                            uint32_t table_size, BdrvDirtyBitmap *bitmap)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t total = bdrv_dirty_bitmap_serialized_size(bitmap);
    uint64_t tab_size = DIV_ROUND_UP(total, (uint64_t)s->cluster_size);
    uint8_t *buf;
    int ret = 0;

    if (tab_size != table_size || tab_size > QCOW2_BME_MAX_TABLE_SIZE) {
        return -EINVAL;
    }
    buf = qemu_xmalloc(s->cluster_size);
    for (uint64_t i = 0; i < tab_size; i++) {
        uint64_t start = i * s->cluster_size;
        uint64_t len = MIN(total - start, (uint64_t)s->cluster_size);
        uint64_t off = table[i] & BME_TABLE_OFFSET_MASK;

        if (!off) {
            if (table[i] & BME_TABLE_ALL_ONES) {
                bdrv_dirty_bitmap_deserialize_ones(bitmap, start, len);
            }
            continue;
        }
        ret = bdrv_child_pread(bs->file, off, s->cluster_size, buf);
        if (ret < 0) {
            break;
        }
        bdrv_dirty_bitmap_deserialize(bitmap, buf, start, len);
    }
    free(buf);
    return ret;
}

static BdrvDirtyBitmap *load_bitmap(BlockDriverState *bs,
                                    const Qcow2Bitmap *bm, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    uint64_t *table;
    int ret;

    bitmap = bdrv_create_dirty_bitmap(bs, UINT32_C(1) << bm->granularity_bits,
                                      bm->name, errp);
    if (!bitmap || (bm->flags & QCOW2_BME_FLAG_IN_USE)) {
        /* An in-use bitmap's data is not to be trusted: not read. */
        return bitmap;
    }
    ret = qcow2_bitmap_table_load(bs, bm, &table);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read bitmap_table table "
                         "from image for bitmap '%s'", bm->name);
        bdrv_release_dirty_bitmap(bitmap);
        return NULL;
    }
    ret = load_bitmap_data(bs, table, bm->table_size, bitmap);
    free(table);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read bitmap '%s' from image",
                         bm->name);
        bdrv_release_dirty_bitmap(bitmap);
        return NULL;
    }
    return bitmap;
}

int qcow2_load_dirty_bitmaps(BlockDriverState *bs, bool can_write,
                             bool *header_updated, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap **created;
    Qcow2Bitmap *list;
    uint32_t nb, nb_created = 0;
    bool needs_update = false;
    int ret;

    *header_updated = false;
    if (s->nb_bitmaps == 0) {
        return 0;
    }
    ret = qcow2_bitmap_list_load(bs, &list, &nb, errp);
    if (ret < 0) {
        return ret;
    }
    created = qemu_xnew0(BdrvDirtyBitmap *, nb + 1);
    for (uint32_t i = 0; i < nb; i++) {
        Qcow2Bitmap *bm = &list[i];
        BdrvDirtyBitmap *bitmap;

        if ((bm->flags & QCOW2_BME_FLAG_IN_USE) &&
            bdrv_find_dirty_bitmap(bs, bm->name)) {
            /* Ours already (a hand-over back to us): keep that one. */
            continue;
        }
        bitmap = load_bitmap(bs, bm, errp);
        if (!bitmap) {
            ret = -EINVAL;
            goto fail;
        }
        created[nb_created++] = bitmap;
        bdrv_dirty_bitmap_set_persistence(bitmap, true);
        if (bm->flags & QCOW2_BME_FLAG_IN_USE) {
            bdrv_dirty_bitmap_set_inconsistent(bitmap);
        } else {
            bm->flags |= QCOW2_BME_FLAG_IN_USE;
            needs_update = true;
        }
        if (!(bm->flags & QCOW2_BME_FLAG_AUTO)) {
            bdrv_disable_dirty_bitmap(bitmap);
        }
    }
    if (needs_update && can_write) {
        ret = update_dir_in_place(bs, list, nb);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Can't update bitmap directory");
            ret = -EINVAL;
            goto fail;
        }
        *header_updated = true;
    }
    if (!can_write) {
        for (uint32_t i = 0; i < nb_created; i++) {
            bdrv_dirty_bitmap_set_readonly(created[i], true);
        }
    }
    free(created);
    qcow2_bitmap_list_free(list, nb);
    return 0;

fail:
    for (uint32_t i = 0; i < nb_created; i++) {
        bdrv_release_dirty_bitmap(created[i]);
    }
    free(created);
    qcow2_bitmap_list_free(list, nb);
    return ret;
}

/* ---- store ------------------------------------------------------------ */

/* @bitmap's data into new clusters and a new table, into @bm. */
static int store_bitmap(BlockDriverState *bs, Qcow2Bitmap *bm,
                        BdrvDirtyBitmap *bitmap, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *name = bdrv_dirty_bitmap_name(bitmap);
    uint64_t total = bdrv_dirty_bitmap_serialized_size(bitmap);
    uint64_t tb_size = DIV_ROUND_UP(total, (uint64_t)s->cluster_size);
    uint64_t *tb;
    uint8_t *buf;
    int64_t tb_offset = 0;
    int ret = 0;

    if (tb_size > QCOW2_BME_MAX_TABLE_SIZE ||
        tb_size * s->cluster_size > QCOW2_BME_MAX_PHYS_SIZE) {
        error_setg(errp, "Bitmap '%s' is too big", name);
        return -EINVAL;
    }
    tb = qemu_xnew0(uint64_t, tb_size + 1);
    buf = qemu_xmalloc(s->cluster_size);
    for (uint64_t i = 0; i < tb_size; i++) {
        uint64_t start = i * s->cluster_size;
        uint64_t len = MIN(total - start, (uint64_t)s->cluster_size);
        int64_t off;

        if (!bdrv_dirty_bitmap_serialized_dirty(bitmap, start, len)) {
            continue;
        }
        off = qcow2_alloc_clusters(bs, s->cluster_size);
        if (off < 0) {
            error_setg_errno(errp, (int)-off, "Failed to allocate clusters "
                             "for bitmap '%s'", name);
            ret = (int)off;
            goto fail;
        }
        tb[i] = off;
        memset(buf, 0, s->cluster_size);
        bdrv_dirty_bitmap_serialize(bitmap, buf, start, len);
        ret = bdrv_child_pwrite(bs->file, off, s->cluster_size, buf, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to "
                             "file", name);
            goto fail;
        }
    }
    tb_offset = qcow2_alloc_clusters(bs, tb_size * 8);
    if (tb_offset < 0) {
        error_setg_errno(errp, (int)-tb_offset, "Failed to allocate "
                         "clusters for bitmap '%s'", name);
        ret = (int)tb_offset;
        tb_offset = 0;
        goto fail;
    }
    for (uint64_t i = 0; i < tb_size; i++) {
        stbe64(&tb[i], tb[i]);
    }
    ret = bdrv_child_pwrite(bs->file, tb_offset, tb_size * 8, tb, 0);
    for (uint64_t i = 0; i < tb_size; i++) {
        tb[i] = ldbe64(&tb[i]);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to file",
                         name);
        goto fail;
    }
    bm->table_offset = tb_offset;
    bm->table_size = tb_size;
    free(buf);
    free(tb);
    return 0;

fail:
    qcow2_bitmap_table_free_clusters(bs, tb, tb_size);
    if (tb_offset > 0) {
        qcow2_free_clusters(bs, tb_offset, tb_size * 8);
    }
    free(buf);
    free(tb);
    return ret;
}

int qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool release,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bitmap;
    Qcow2Bitmap *list = NULL, *drop = NULL;
    uint32_t nb = 0, nb_drop = 0, cap;
    uint64_t dir_size = s->bitmap_directory_size;
    bool need_write = false;
    int ret;

    if (s->nb_bitmaps) {
        ret = qcow2_bitmap_list_load(bs, &list, &nb, errp);
        if (ret < 0) {
            return ret;
        }
    }
    cap = nb + 1;
    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        cap++;
    }
    list = qemu_xrealloc(list, cap * sizeof(*list));
    memset(list + nb, 0, (cap - nb) * sizeof(*list));
    drop = qemu_xnew0(Qcow2Bitmap, cap);

    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        const char *name = bdrv_dirty_bitmap_name(bitmap);
        uint32_t gran = bdrv_dirty_bitmap_granularity(bitmap);
        Qcow2Bitmap *bm;

        if (!bdrv_dirty_bitmap_get_persistence(bitmap) ||
            bdrv_dirty_bitmap_inconsistent(bitmap)) {
            continue;
        }
        bm = find_bitmap(list, nb, name);
        if (bdrv_dirty_bitmap_readonly(bitmap)) {
            if (bm) {
                bm->dirty_bitmap = bitmap;
            }
            continue;
        }
        need_write = true;
        if (qcow2_bitmap_check_constraints(bs, name, gran, errp) < 0) {
            error_prepend(errp, "Bitmap '%s' doesn't satisfy the "
                          "constraints: ", name);
            ret = -EINVAL;
            goto fail;
        }
        if (!bm) {
            if (nb + 1 > QCOW2_MAX_BITMAPS) {
                error_setg(errp, "Too many persistent bitmaps");
                ret = -EINVAL;
                goto fail;
            }
            dir_size += qcow2_bitmap_entry_size(name);
            if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
                error_setg(errp, "Bitmap directory is too large");
                ret = -EINVAL;
                goto fail;
            }
            bm = &list[nb++];
            bm->name = qemu_xstrdup(name);
        } else {
            if (!(bm->flags & QCOW2_BME_FLAG_IN_USE)) {
                error_setg(errp, "Bitmap '%s' already exists in the image",
                           name);
                ret = -EINVAL;
                goto fail;
            }
            drop[nb_drop].table_offset = bm->table_offset;
            drop[nb_drop++].table_size = bm->table_size;
            bm->table_offset = 0;
            bm->table_size = 0;
        }
        bm->flags = bdrv_dirty_bitmap_enabled(bitmap) ? QCOW2_BME_FLAG_AUTO
                                                      : 0;
        bm->granularity_bits = __builtin_ctz(gran);
        bm->dirty_bitmap = bitmap;
    }
    if (!need_write) {
        goto success;
    }
    if (!s->writable || (bs->open_flags & BDRV_O_INACTIVE)) {
        error_setg(errp, "No write access");
        ret = -EACCES;
        goto fail;
    }
    for (uint32_t i = 0; i < nb; i++) {
        if (!list[i].dirty_bitmap ||
            bdrv_dirty_bitmap_readonly(list[i].dirty_bitmap)) {
            continue;
        }
        ret = store_bitmap(bs, &list[i], list[i].dirty_bitmap, errp);
        if (ret < 0) {
            goto fail;
        }
    }
    ret = update_dir(bs, list, nb);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update bitmap extension");
        goto fail;
    }
    /* The directory points at the new copies: the old ones go. */
    for (uint32_t i = 0; i < nb_drop; i++) {
        (void)qcow2_bitmap_free_clusters(bs, &drop[i]);
    }

success:
    if (release) {
        for (uint32_t i = 0; i < nb; i++) {
            if (list[i].dirty_bitmap) {
                bdrv_release_dirty_bitmap(list[i].dirty_bitmap);
            }
        }
    }
    free(drop);
    qcow2_bitmap_list_free(list, nb);
    return 0;

fail:
    for (uint32_t i = 0; i < nb; i++) {
        if (list[i].dirty_bitmap && list[i].table_offset &&
            !bdrv_dirty_bitmap_readonly(list[i].dirty_bitmap)) {
            (void)qcow2_bitmap_free_clusters(bs, &list[i]);
        }
    }
    free(drop);
    qcow2_bitmap_list_free(list, nb);
    return ret;
}

/* ---- remove, resize ---------------------------------------------------- */

int qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                         const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Bitmap *list, *bm, removed;
    uint32_t nb;
    int ret;

    if (s->nb_bitmaps == 0) {
        return 0;
    }
    ret = qcow2_bitmap_list_load(bs, &list, &nb, errp);
    if (ret < 0) {
        return -EIO;
    }
    bm = find_bitmap(list, nb, name);
    if (!bm) {
        qcow2_bitmap_list_free(list, nb);
        return 0;
    }
    removed = *bm;
    memmove(bm, bm + 1, (list + nb - (bm + 1)) * sizeof(*bm));
    nb--;
    ret = update_dir(bs, list, nb);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update bitmap extension");
    } else {
        (void)qcow2_bitmap_free_clusters(bs, &removed);
    }
    free(removed.name);
    qcow2_bitmap_list_free(list, nb);
    return ret;
}

int qcow2_truncate_bitmaps_check(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Bitmap *list;
    uint32_t nb;
    int ret;

    if (s->nb_bitmaps == 0) {
        return 0;
    }
    ret = qcow2_bitmap_list_load(bs, &list, &nb, errp);
    if (ret < 0) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nb && ret == 0; i++) {
        BdrvDirtyBitmap *bitmap = bdrv_find_dirty_bitmap(bs, list[i].name);

        if (!bitmap) {
            error_setg(errp, "Cannot resize qcow2 with persistent bitmaps "
                       "that were not loaded into memory");
            ret = -ENOTSUP;
        } else if (bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT,
                                           errp) < 0) {
            ret = -ENOTSUP;
        }
    }
    qcow2_bitmap_list_free(list, nb);
    return ret;
}
