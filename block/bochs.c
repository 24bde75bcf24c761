/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bochs.c: the Bochs "growing" disk image format, read-only (as in QEMU:
 * no creation, no amend, no writes).  The layout is in
 * docs/specs/bochs.rst; the checks and messages on open are QEMU 7.2's.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error.h"
#include "block/block_int.h"

#define BOCHS_HEADER_SIZE 512
#define BOCHS_MAGIC "Bochs Virtual HD Image"
#define BOCHS_TYPE "Redolog"
#define BOCHS_SUBTYPE "Growing"
#define BOCHS_VERSION_1 0x00010000
#define BOCHS_VERSION_2 0x00020000

/* Header fields: offsets in the first sector, all little-endian. */
#define BOCHS_OFF_MAGIC 0       /* char[32], NUL-terminated */
#define BOCHS_OFF_TYPE 32       /* char[16] */
#define BOCHS_OFF_SUBTYPE 48    /* char[16] */
#define BOCHS_OFF_VERSION 64
#define BOCHS_OFF_HEADER 68     /* header size: where the catalog starts */
#define BOCHS_OFF_CATALOG 72    /* number of catalog entries */
#define BOCHS_OFF_BITMAP 76     /* bytes of an extent's bitmap */
#define BOCHS_OFF_EXTENT 80     /* bytes of an extent's data */
#define BOCHS_OFF_DISK_V1 84    /* disk size (v1) */
#define BOCHS_OFF_DISK_V2 88    /* disk size (v2; 84 is reserved) */

/* A catalog entry of an extent that was never written. */
#define BOCHS_UNALLOCATED 0xffffffffu
/* QEMU's bound: enough for the largest image bximage makes (~8 TB). */
#define BOCHS_MAX_CATALOG 0x100000
#define BOCHS_MAX_EXTENT 0x800000

typedef struct BDRVBochsState {
    uint32_t *catalog;       /* extent index -> slot, or BOCHS_UNALLOCATED */
    uint32_t catalog_size;
    uint64_t data_offset;    /* where slot 0 starts */
    uint32_t extent_size;    /* bytes of data per extent */
    uint64_t bitmap_bytes;   /* an extent's bitmap, rounded to sectors */
    uint64_t slot_bytes;     /* bitmap + data of one extent */
    uint64_t disk_size;
} BDRVBochsState;

/* Field @off of @hdr holds exactly the string @want (with its NUL)? */
static bool field_is(const uint8_t *hdr, size_t off, const char *want)
{
    return !memcmp(hdr + off, want, strlen(want) + 1);
}

static bool header_is_bochs(const uint8_t *hdr)
{
    uint32_t version = ldle32(hdr + BOCHS_OFF_VERSION);

    return field_is(hdr, BOCHS_OFF_MAGIC, BOCHS_MAGIC) &&
           field_is(hdr, BOCHS_OFF_TYPE, BOCHS_TYPE) &&
           field_is(hdr, BOCHS_OFF_SUBTYPE, BOCHS_SUBTYPE) &&
           (version == BOCHS_VERSION_1 || version == BOCHS_VERSION_2);
}

static int bochs_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    (void)filename;
    if (buf_size < BOCHS_HEADER_SIZE) {
        return 0;
    }
    return header_is_bochs(buf) ? 100 : 0;
}

/* The geometry of the header, checked in QEMU's order. */
static int bochs_parse_header(BDRVBochsState *s, const uint8_t *hdr,
                              Error **errp)
{
    uint32_t bitmap = ldle32(hdr + BOCHS_OFF_BITMAP);

    if (!header_is_bochs(hdr)) {
        error_setg(errp, "Image not in Bochs format");
        return -EINVAL;
    }
    if (ldle32(hdr + BOCHS_OFF_VERSION) == BOCHS_VERSION_1) {
        s->disk_size = ldle64(hdr + BOCHS_OFF_DISK_V1);
    } else {
        s->disk_size = ldle64(hdr + BOCHS_OFF_DISK_V2);
    }
    /* Whole sectors, like QEMU's total_sectors. */
    s->disk_size = QEMU_ALIGN_DOWN(s->disk_size, BDRV_SECTOR_SIZE);
    s->catalog_size = ldle32(hdr + BOCHS_OFF_CATALOG);
    if (s->catalog_size > BOCHS_MAX_CATALOG) {
        error_setg(errp, "Catalog size is too large");
        return -EFBIG;
    }
    s->data_offset = (uint64_t)ldle32(hdr + BOCHS_OFF_HEADER) +
                     (uint64_t)s->catalog_size * 4;
    /* A size of 0 wraps around, as in QEMU (and bximage never writes 0). */
    s->bitmap_bytes = BDRV_SECTOR_SIZE *
                      (uint64_t)(1 + (uint32_t)(bitmap - 1) /
                                 BDRV_SECTOR_SIZE);
    s->extent_size = ldle32(hdr + BOCHS_OFF_EXTENT);
    if (s->extent_size < BDRV_SECTOR_SIZE) {
        error_setg(errp, "Extent size must be at least 512");
        return -EINVAL;
    }
    if (s->extent_size & (s->extent_size - 1)) {
        error_setg(errp, "Extent size %" PRIu32 " is not a power of two",
                   s->extent_size);
        return -EINVAL;
    }
    if (s->extent_size > BOCHS_MAX_EXTENT) {
        error_setg(errp, "Extent size %" PRIu32 " is too large",
                   s->extent_size);
        return -EINVAL;
    }
    s->slot_bytes = s->bitmap_bytes + s->extent_size;
    if (s->catalog_size < DIV_ROUND_UP(s->disk_size, s->extent_size)) {
        error_setg(errp, "Catalog size is too small for this disk size");
        return -EINVAL;
    }
    return 0;
}

static int bochs_open(BlockDriverState *bs, QDict *options, int flags,
                      Error **errp)
{
    BDRVBochsState *s = bs->opaque;
    uint8_t hdr[BOCHS_HEADER_SIZE];
    uint8_t *raw = NULL;
    int ret;

    (void)options;
    if (flags & BDRV_O_RDWR) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    ret = bdrv_child_pread(bs->file, 0, sizeof(hdr), hdr);
    if (ret < 0) {
        return ret;
    }
    ret = bochs_parse_header(s, hdr, errp);
    if (ret < 0) {
        return ret;
    }
    s->catalog = qemu_xnew0(uint32_t, s->catalog_size ? s->catalog_size : 1);
    raw = qemu_xmalloc((size_t)s->catalog_size * 4 + 1);
    ret = bdrv_child_pread(bs->file, ldle32(hdr + BOCHS_OFF_HEADER),
                           (int64_t)s->catalog_size * 4, raw);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read the catalog");
        goto fail;
    }
    for (uint32_t i = 0; i < s->catalog_size; i++) {
        s->catalog[i] = ldle32(raw + (size_t)i * 4);
    }
    free(raw);
    bs->bl.request_alignment = BDRV_SECTOR_SIZE;
    return 0;

fail:
    free(raw);
    free(s->catalog);
    s->catalog = NULL;
    return ret;
}

static void bochs_close(BlockDriverState *bs)
{
    BDRVBochsState *s = bs->opaque;

    free(s->catalog);
}

/*
 * Sectors [first, first + count) of one allocated extent whose slot
 * starts at @slot: runs of sectors marked in the extent's bitmap are read,
 * the others read as zeros.
 */
static int bochs_read_extent(BlockDriverState *bs, uint64_t slot,
                             uint32_t first, uint32_t count, uint8_t *buf)
{
    uint32_t nbytes = (first + count + 7) / 8;
    uint8_t *bitmap = qemu_xmalloc(nbytes);
    uint32_t i = 0;
    int ret = bdrv_child_pread(bs->file, (int64_t)slot, nbytes, bitmap);

    while (ret >= 0 && i < count) {
        uint32_t sec = first + i;
        bool set = (bitmap[sec / 8] >> (sec % 8)) & 1;
        uint32_t run = 1;

        while (i + run < count &&
               (((bitmap[(sec + run) / 8] >> ((sec + run) % 8)) & 1) == set)) {
            run++;
        }
        if (set) {
            BDRVBochsState *s = bs->opaque;
            ret = bdrv_child_pread(bs->file,
                                   (int64_t)(slot + s->bitmap_bytes +
                                             (uint64_t)sec *
                                             BDRV_SECTOR_SIZE),
                                   (int64_t)run * BDRV_SECTOR_SIZE,
                                   buf + (size_t)i * BDRV_SECTOR_SIZE);
        } else {
            memset(buf + (size_t)i * BDRV_SECTOR_SIZE, 0,
                   (size_t)run * BDRV_SECTOR_SIZE);
        }
        i += run;
    }
    free(bitmap);
    return ret < 0 ? ret : 0;
}

/* Sector-aligned (request_alignment), within the disk: the core checks. */
static int bochs_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       void *buf)
{
    BDRVBochsState *s = bs->opaque;
    uint8_t *p = buf;

    while (bytes > 0) {
        uint64_t index = (uint64_t)offset / s->extent_size;
        uint32_t in_extent = (uint32_t)((uint64_t)offset % s->extent_size);
        int64_t n = MIN(bytes, (int64_t)(s->extent_size - in_extent));
        int ret = 0;

        if (index >= s->catalog_size ||
            s->catalog[index] == BOCHS_UNALLOCATED) {
            memset(p, 0, (size_t)n);
        } else {
            uint64_t slot = s->data_offset +
                            (uint64_t)s->catalog[index] * s->slot_bytes;
            ret = bochs_read_extent(bs, slot,
                                    in_extent / BDRV_SECTOR_SIZE,
                                    (uint32_t)(n / BDRV_SECTOR_SIZE), p);
        }
        if (ret < 0) {
            return ret;
        }
        offset += n;
        bytes -= n;
        p += n;
    }
    return 0;
}

static int64_t bochs_getlength(BlockDriverState *bs)
{
    BDRVBochsState *s = bs->opaque;

    return (int64_t)s->disk_size;
}

static void bochs_child_perm(BlockDriverState *bs, BdrvChild *c,
                             BdrvChildRole role, uint64_t perm,
                             uint64_t shared, uint64_t *nperm,
                             uint64_t *nshared)
{
    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
}

const BlockDriver bdrv_bochs = {
    .format_name = "bochs",
    .instance_size = sizeof(BDRVBochsState),
    .is_format = true,

    .bdrv_probe = bochs_probe,
    .bdrv_open = bochs_open,
    .bdrv_close = bochs_close,
    .bdrv_pread = bochs_pread,
    .bdrv_getlength = bochs_getlength,
    .bdrv_child_perm = bochs_child_perm,
};
