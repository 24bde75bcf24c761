/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-bitmap.c: what this driver knows of persistent dirty bitmaps
 * (header extension 0x23852875 and its bitmap directory).  They are not
 * maintained: a read-write open drops them (qcow2.c), as QEMU does with
 * bitmaps it cannot load.  Read-only, the directory tells how much space
 * the bitmaps take (qemu-img measure).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

#define BITMAP_DIR_ENTRY_LEN 24          /* before extra data and name */
#define BITMAP_DIR_MAX_BYTES (64 * MiB)  /* QEMU's QCOW2_MAX_BITMAP_DIRECTORY_SIZE */

/*
 * The space a copy of every bitmap in the directory takes with clusters
 * of @cluster_size, fully allocated, as QEMU 7.2's
 * qcow2_get_persistent_dirty_bitmap_size(): data clusters, their bitmap
 * tables, and the directory.  Bitmaps are ones QEMU would load: the
 * extension is there and the autoclear bit says it is consistent.
 */
int64_t qcow2_bitmaps_size(BlockDriverState *bs, int64_t cluster_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t dir_size, dir_off, pos = 0, total = 0, dir_bytes = 0;
    uint32_t nb;
    uint8_t *dir;
    int ret;

    if (s->qcow_version < 3) {
        return -ENOTSUP;
    }
    if (!s->has_bitmaps_ext ||
        !(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        return 0;
    }
    nb = ldbe32(s->bitmaps_ext);
    dir_size = ldbe64(s->bitmaps_ext + 8);
    dir_off = ldbe64(s->bitmaps_ext + 16);
    if (!nb || dir_size > BITMAP_DIR_MAX_BYTES) {
        return 0;
    }
    dir = qemu_xmalloc(dir_size + 1);
    ret = bdrv_child_pread(bs->file, dir_off, dir_size, dir);
    for (uint32_t i = 0; ret == 0 && i < nb; i++) {
        uint64_t bits, bytes, clusters;
        uint32_t extra, name_len, gran_bits;

        if (pos + BITMAP_DIR_ENTRY_LEN > dir_size) {
            ret = -EINVAL;
            break;
        }
        gran_bits = dir[pos + 17];
        name_len = ldbe16(dir + pos + 18);
        extra = ldbe32(dir + pos + 20);
        if (gran_bits > 63) {
            ret = -EINVAL;
            break;
        }
        bits = DIV_ROUND_UP(s->size, 1ULL << gran_bits);
        bytes = DIV_ROUND_UP(bits, 8);
        clusters = DIV_ROUND_UP(bytes, (uint64_t)cluster_size);
        total += clusters * cluster_size;
        total += QEMU_ALIGN_UP(clusters * 8, (uint64_t)cluster_size);
        /* QEMU counts the entry as it would write it: no extra data */
        dir_bytes += QEMU_ALIGN_UP(BITMAP_DIR_ENTRY_LEN + name_len, 8);
        pos += QEMU_ALIGN_UP(BITMAP_DIR_ENTRY_LEN + extra + name_len, 8);
    }
    free(dir);
    if (ret < 0) {
        return ret;
    }
    return total + QEMU_ALIGN_UP(dir_bytes, (uint64_t)cluster_size);
}
