/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-bitmap.c: the on-disk side of persistent dirty bitmaps: the header
 * extension, the bitmap directory and bitmap tables (docs/specs/qcow2.rst),
 * validated as QEMU 7.2 does; info, check and measure read them from here.
 * Loading them into memory and storing them back: qcow2-bitmap-sync.c.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/dirty-bitmap.h"
#include "block/qcow2.h"

#define BME_RESERVED_FLAGS 0xfffffffcU
#define BME_TABLE_RESERVED_MASK 0xff000000000001feULL
#define BME_TABLE_OFFSET_MASK 0x00fffffffffffe00ULL
#define BME_TABLE_ALL_ONES 1ULL
#define BME_TYPE_DIRTY_TRACKING 1

/* ---- the header extension --------------------------------------------- */

int qcow2_read_bitmaps_ext(BlockDriverState *bs, const uint8_t *data,
                           uint32_t len, bool *drop, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t nb;
    uint64_t dir_size, dir_off;

    if (len != QCOW2_BITMAPS_EXT_LEN) {
        error_setg(errp, "bitmaps_ext: Invalid extension length");
        return -EINVAL;
    }
    if (!(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        if (s->qcow_version < 3) {
            qemu_warn("This qcow2 v2 image contains bitmaps, but they may "
                      "have been modified by a program without persistent "
                      "bitmap support; so now they must all be considered "
                      "inconsistent");
        } else {
            qemu_warn("a program lacking bitmap support modified this "
                      "file, so all bitmaps are now considered "
                      "inconsistent");
        }
        qemu_warn_raw_nonl("Some clusters may be leaked, run 'qemu-img "
                           "check -r' on the image file to fix.");
        /* A writable open rewrites the header without the extension. */
        *drop = true;
        return 0;
    }
    if (ldbe32(data + 4) != 0) {
        error_setg(errp, "bitmaps_ext: Reserved field is not zero");
        return -EINVAL;
    }
    nb = ldbe32(data);
    dir_size = ldbe64(data + 8);
    dir_off = ldbe64(data + 16);
    if (nb > QCOW2_MAX_BITMAPS) {
        error_setg(errp, "bitmaps_ext: Image has %" PRIu32 " bitmaps, "
                   "exceeding the QEMU supported maximum of %d", nb,
                   QCOW2_MAX_BITMAPS);
        return -EINVAL;
    }
    if (nb == 0) {
        error_setg(errp, "found bitmaps extension with zero bitmaps");
        return -EINVAL;
    }
    if (qcow2_offset_into_cluster(s, dir_off)) {
        error_setg(errp, "bitmaps_ext: invalid bitmap directory offset");
        return -EINVAL;
    }
    if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "bitmaps_ext: bitmap directory size (%" PRIu64
                   ") exceeds the maximum supported size (%d)", dir_size,
                   QCOW2_MAX_BITMAP_DIRECTORY_SIZE);
        return -EINVAL;
    }
    s->nb_bitmaps = nb;
    s->bitmap_directory_size = dir_size;
    s->bitmap_directory_offset = dir_off;
    return 0;
}

void qcow2_bitmaps_ext_bytes(BDRVQcow2State *s, uint8_t *buf)
{
    stbe32(buf, s->nb_bitmaps);
    stbe32(buf + 4, 0);
    stbe64(buf + 8, s->bitmap_directory_size);
    stbe64(buf + 16, s->bitmap_directory_offset);
}

/* ---- the directory ---------------------------------------------------- */

static uint64_t entry_size(uint64_t name_size, uint64_t extra_size)
{
    return QEMU_ALIGN_UP(QCOW2_BITMAP_ENTRY_LEN + name_size + extra_size, 8);
}

uint64_t qcow2_bitmap_entry_size(const char *name)
{
    return entry_size(strlen(name), 0);
}

/* QEMU's check_dir_entry(): what an entry must satisfy (-EINVAL). */
static int check_entry(BDRVQcow2State *s, uint64_t table_offset,
                       uint32_t table_size, uint32_t flags, uint8_t type,
                       uint8_t gran_bits, uint16_t name_size)
{
    uint64_t phys;

    if (!table_size || !table_offset ||
        qcow2_offset_into_cluster(s, table_offset) ||
        table_size > QCOW2_BME_MAX_TABLE_SIZE ||
        gran_bits > QCOW2_BME_MAX_GRANULARITY_BITS ||
        gran_bits < QCOW2_BME_MIN_GRANULARITY_BITS ||
        (flags & BME_RESERVED_FLAGS) ||
        name_size > QCOW2_BME_MAX_NAME_SIZE ||
        type != BME_TYPE_DIRTY_TRACKING) {
        return -EINVAL;
    }
    phys = (uint64_t)table_size * s->cluster_size;
    if (phys > QCOW2_BME_MAX_PHYS_SIZE) {
        return -EINVAL;
    }
    /* A bitmap in use may be short (not stored after a resize). */
    if (!(flags & QCOW2_BME_FLAG_IN_USE) &&
        s->size > ((phys * 8) << gran_bits)) {
        return -EINVAL;
    }
    return 0;
}

void qcow2_bitmap_list_free(Qcow2Bitmap *list, uint32_t nb)
{
    for (uint32_t i = 0; list && i < nb; i++) {
        free(list[i].name);
    }
    free(list);
}

int qcow2_bitmap_list_load(BlockDriverState *bs, Qcow2Bitmap **plist,
                           uint32_t *pnb, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = s->bitmap_directory_size, pos = 0;
    Qcow2Bitmap *list = NULL;
    uint32_t nb = 0;
    uint8_t *dir;
    int ret;

    *plist = NULL;
    *pnb = 0;
    if (size == 0) {
        error_setg(errp, "Requested bitmap directory size is zero");
        return -EINVAL;
    }
    if (size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Requested bitmap directory size is too big");
        return -EINVAL;
    }
    dir = qemu_xmalloc(size);
    ret = bdrv_child_pread(bs->file, s->bitmap_directory_offset, size, dir);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        free(dir);
        return ret;
    }
    list = qemu_xnew0(Qcow2Bitmap, s->nb_bitmaps + 1);
    ret = -EINVAL;
    while (pos < size) {
        const uint8_t *e = dir + pos;
        uint16_t name_size;
        uint32_t extra, flags;
        Qcow2Bitmap *bm;

        if (pos + QCOW2_BITMAP_ENTRY_LEN > size) {
            goto broken;
        }
        if (++nb > s->nb_bitmaps) {
            error_setg(errp, "More bitmaps found than specified in header "
                       "extension");
            goto fail;
        }
        name_size = ldbe16(e + 18);
        extra = ldbe32(e + 20);
        if (entry_size(name_size, extra) > size - pos) {
            goto broken;
        }
        if (extra != 0) {
            error_setg(errp, "Bitmap extra data is not supported");
            goto fail;
        }
        flags = ldbe32(e + 12);
        if (check_entry(s, ldbe64(e), ldbe32(e + 8), flags, e[16], e[17],
                        name_size) < 0) {
            error_setg(errp, "Bitmap '%.*s' doesn't satisfy the constraints",
                       (int)name_size,
                       (const char *)e + QCOW2_BITMAP_ENTRY_LEN);
            goto fail;
        }
        bm = &list[nb - 1];
        bm->table_offset = ldbe64(e);
        bm->table_size = ldbe32(e + 8);
        bm->flags = flags;
        bm->granularity_bits = e[17];
        bm->name = qemu_xmalloc(name_size + 1);
        memcpy(bm->name, e + QCOW2_BITMAP_ENTRY_LEN, name_size);
        bm->name[name_size] = 0;
        pos += entry_size(name_size, 0);
    }
    if (nb != s->nb_bitmaps) {
        error_setg(errp, "Less bitmaps found than specified in header "
                   "extension");
        goto fail;
    }
    free(dir);
    *plist = list;
    *pnb = nb;
    return 0;

broken:
    error_setg(errp, "Broken bitmap directory");
fail:
    free(dir);
    qcow2_bitmap_list_free(list, nb);
    return ret;
}

int qcow2_bitmap_list_store(BlockDriverState *bs, const Qcow2Bitmap *list,
                            uint32_t nb, uint64_t *offset, uint64_t *size,
                            bool in_place)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t dir_size = 0, pos = 0;
    int64_t dir_offset;
    uint8_t *dir;
    int ret;

    for (uint32_t i = 0; i < nb; i++) {
        dir_size += qcow2_bitmap_entry_size(list[i].name);
    }
    if (dir_size == 0 || dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        return -EINVAL;
    }
    if (in_place && (*size != dir_size || *offset == 0)) {
        return -EINVAL;
    }
    dir = qemu_xzalloc(dir_size);
    for (uint32_t i = 0; i < nb; i++) {
        const Qcow2Bitmap *bm = &list[i];
        size_t name_len = strlen(bm->name);
        uint8_t *e = dir + pos;

        if (check_entry(s, bm->table_offset, bm->table_size, bm->flags,
                        BME_TYPE_DIRTY_TRACKING, bm->granularity_bits,
                        name_len) < 0) {
            free(dir);
            return -EINVAL;
        }
        stbe64(e, bm->table_offset);
        stbe32(e + 8, bm->table_size);
        stbe32(e + 12, bm->flags);
        e[16] = BME_TYPE_DIRTY_TRACKING;
        e[17] = bm->granularity_bits;
        stbe16(e + 18, name_len);
        stbe32(e + 20, 0);
        memcpy(e + QCOW2_BITMAP_ENTRY_LEN, bm->name, name_len);
        pos += qcow2_bitmap_entry_size(bm->name);
    }
    if (in_place) {
        dir_offset = *offset;
    } else {
        dir_offset = qcow2_alloc_clusters(bs, dir_size);
        if (dir_offset < 0) {
            free(dir);
            return dir_offset;
        }
    }
    ret = bdrv_child_pwrite(bs->file, dir_offset, dir_size, dir, 0);
    free(dir);
    if (ret < 0) {
        if (!in_place) {
            qcow2_free_clusters(bs, dir_offset, dir_size);
        }
        return ret;
    }
    *offset = dir_offset;
    *size = dir_size;
    return 0;
}

/* ---- bitmap tables ---------------------------------------------------- */

int qcow2_bitmap_check_table_entry(BDRVQcow2State *s, uint64_t entry)
{
    uint64_t off = entry & BME_TABLE_OFFSET_MASK;

    if (entry & BME_TABLE_RESERVED_MASK) {
        return -EINVAL;
    }
    if (off && ((entry & BME_TABLE_ALL_ONES) ||
                qcow2_offset_into_cluster(s, off))) {
        return -EINVAL;
    }
    return 0;
}

int qcow2_bitmap_table_load(BlockDriverState *bs, const Qcow2Bitmap *bm,
                            uint64_t **ptable)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table = qemu_xnew0(uint64_t, bm->table_size + 1);
    int ret;

    ret = bdrv_child_pread(bs->file, bm->table_offset,
                           (int64_t)bm->table_size * 8, table);
    for (uint32_t i = 0; ret == 0 && i < bm->table_size; i++) {
        table[i] = ldbe64(&table[i]);
        ret = qcow2_bitmap_check_table_entry(s, table[i]);
    }
    if (ret < 0) {
        free(table);
        return ret;
    }
    *ptable = table;
    return 0;
}

void qcow2_bitmap_table_free_clusters(BlockDriverState *bs, uint64_t *table,
                                      uint32_t size)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; i < size; i++) {
        uint64_t off = table[i] & BME_TABLE_OFFSET_MASK;
        if (off) {
            qcow2_free_clusters(bs, off, s->cluster_size);
            table[i] = 0;
        }
    }
}

int qcow2_bitmap_free_clusters(BlockDriverState *bs, Qcow2Bitmap *bm)
{
    uint64_t *table;
    int ret;

    if (!bm->table_offset) {
        return 0;
    }
    ret = qcow2_bitmap_table_load(bs, bm, &table);
    if (ret < 0) {
        return ret;
    }
    qcow2_bitmap_table_free_clusters(bs, table, bm->table_size);
    qcow2_free_clusters(bs, bm->table_offset, (int64_t)bm->table_size * 8);
    free(table);
    bm->table_offset = 0;
    bm->table_size = 0;
    return 0;
}

/* ---- info, check, measure --------------------------------------------- */

int qcow2_bitmap_info_list(BlockDriverState *bs, QObject **plist,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Bitmap *list;
    uint32_t nb;
    QObject *l;
    int ret;

    *plist = NULL;
    if (s->nb_bitmaps == 0) {
        return 0;
    }
    ret = qcow2_bitmap_list_load(bs, &list, &nb, errp);
    if (ret < 0) {
        return ret;
    }
    l = qobj_list();
    for (uint32_t i = 0; i < nb; i++) {
        QObject *d = qobj_dict(), *flags = qobj_list();

        if (list[i].flags & QCOW2_BME_FLAG_IN_USE) {
            qobj_list_append(flags, qobj_str("in-use"));
        }
        if (list[i].flags & QCOW2_BME_FLAG_AUTO) {
            qobj_list_append(flags, qobj_str("auto"));
        }
        qobj_dict_put(d, "flags", flags);
        qobj_dict_put(d, "name", qobj_str(list[i].name));
        qobj_dict_put(d, "granularity",
                      qobj_int(INT64_C(1) << list[i].granularity_bits));
        qobj_list_append(l, d);
    }
    qcow2_bitmap_list_free(list, nb);
    *plist = l;
    return 0;
}

int qcow2_check_bitmaps_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                                  Qcow2CheckIncFn *inc, void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Bitmap *list;
    uint32_t nb;
    int ret;

    if (s->nb_bitmaps == 0) {
        return 0;
    }
    inc(opaque, s->bitmap_directory_offset, s->bitmap_directory_size);
    ret = qcow2_bitmap_list_load(bs, &list, &nb, NULL);
    if (ret < 0) {
        res->corruptions++;
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t *table;

        inc(opaque, list[i].table_offset, (int64_t)list[i].table_size * 8);
        ret = qcow2_bitmap_table_load(bs, &list[i], &table);
        if (ret < 0) {
            res->corruptions++;
            break;
        }
        for (uint32_t j = 0; j < list[i].table_size; j++) {
            uint64_t off = table[j] & BME_TABLE_OFFSET_MASK;
            if (off) {
                inc(opaque, off, s->cluster_size);
            }
        }
        free(table);
    }
    qcow2_bitmap_list_free(list, nb);
    return ret;
}

/*
 * As QEMU 7.2's qcow2_get_persistent_dirty_bitmap_size(): a copy of every
 * persistent bitmap of @bs, fully allocated, in clusters of @cluster_size:
 * data clusters, their tables and the directory.
 */
int64_t qcow2_bitmaps_size(BlockDriverState *bs, int64_t cluster_size)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bm;
    uint64_t total = 0, dir_bytes = 0;

    if (s->qcow_version < 3) {
        return -ENOTSUP;
    }
    FOR_EACH_DIRTY_BITMAP(bs, bm) {
        uint64_t bits, bytes, clusters;

        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        bits = DIV_ROUND_UP((uint64_t)bdrv_dirty_bitmap_size(bm),
                            bdrv_dirty_bitmap_granularity(bm));
        bytes = DIV_ROUND_UP(bits, 8);
        clusters = DIV_ROUND_UP(bytes, (uint64_t)cluster_size);
        total += clusters * cluster_size;
        total += QEMU_ALIGN_UP(clusters * 8, (uint64_t)cluster_size);
        dir_bytes += qcow2_bitmap_entry_size(bdrv_dirty_bitmap_name(bm));
    }
    return total + QEMU_ALIGN_UP(dir_bytes, (uint64_t)cluster_size);
}

/* ---- new bitmaps ------------------------------------------------------ */

bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->qcow_version >= 3;
}

int qcow2_bitmap_check_constraints(BlockDriverState *bs, const char *name,
                                   uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int gran_bits = __builtin_ctz(granularity);
    uint64_t bytes;

    if (gran_bits > QCOW2_BME_MAX_GRANULARITY_BITS) {
        error_setg(errp, "Granularity exceeds maximum (%llu bytes)",
                   1ULL << QCOW2_BME_MAX_GRANULARITY_BITS);
        return -EINVAL;
    }
    if (gran_bits < QCOW2_BME_MIN_GRANULARITY_BITS) {
        error_setg(errp, "Granularity is under minimum (%llu bytes)",
                   1ULL << QCOW2_BME_MIN_GRANULARITY_BITS);
        return -EINVAL;
    }
    bytes = DIV_ROUND_UP(DIV_ROUND_UP(s->size, (uint64_t)granularity), 8);
    if (bytes > QCOW2_BME_MAX_PHYS_SIZE ||
        bytes > (uint64_t)QCOW2_BME_MAX_TABLE_SIZE * s->cluster_size) {
        error_setg(errp, "Too much space will be occupied by the bitmap. "
                   "Use larger granularity");
        return -EINVAL;
    }
    if (strlen(name) > QCOW2_BME_MAX_NAME_SIZE) {
        error_setg(errp, "Name length exceeds maximum (%u characters)",
                   QCOW2_BME_MAX_NAME_SIZE);
        return -EINVAL;
    }
    return 0;
}

int qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BdrvDirtyBitmap *bm;
    uint64_t dir_size = 0;
    uint32_t nb = 0;

    if (bdrv_find_dirty_bitmap(bs, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return -1;
    }
    if (s->qcow_version < 3) {
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
        goto fail;
    }
    if (qcow2_bitmap_check_constraints(bs, name, granularity, errp) < 0) {
        goto fail;
    }
    FOR_EACH_DIRTY_BITMAP(bs, bm) {
        if (bdrv_dirty_bitmap_get_persistence(bm)) {
            nb++;
            dir_size += qcow2_bitmap_entry_size(bdrv_dirty_bitmap_name(bm));
        }
    }
    nb++;
    dir_size += qcow2_bitmap_entry_size(name);
    if (nb > QCOW2_MAX_BITMAPS) {
        error_setg(errp, "Maximum number of persistent bitmaps is already "
                   "reached");
        goto fail;
    }
    if (dir_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Not enough space in the bitmap directory");
        goto fail;
    }
    return 0;

fail:
    error_prepend(errp, "Can't make bitmap '%s' persistent in '%s': ", name,
                  bdrv_get_node_name(bs));
    return -1;
}
