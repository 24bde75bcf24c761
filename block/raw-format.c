/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * raw-format.c: the "raw" format driver, a filter that passes every
 * request and permission straight to its file child, shifted by the
 * "offset" option and bounded by "size" when given (QEMU's window into a
 * larger file).  A probed raw image refuses writes that would make block
 * 0 look like another format.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block_int.h"

#define RAW_PROBE_SIZE 512

static int raw_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    (void)buf;
    (void)buf_size;
    (void)filename;
    return 1; /* anything can be raw: the fallback */
}

typedef struct BDRVRawState {
    uint64_t offset;
    uint64_t size;
    bool has_size;
} BDRVRawState;

/* The "offset" and "size" options, checked against the file's length. */
static int raw_take_window(BlockDriverState *bs, QDict *options,
                           Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    s->has_size = qdict_haskey(options, "size");
    if (qdict_get_size(options, "offset", 0, &s->offset, errp) < 0 ||
        qdict_get_size(options, "size", 0, &s->size, errp) < 0) {
        return -EINVAL;
    }
    qdict_del(options, "offset");
    qdict_del(options, "size");
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        error_setg_errno(errp, (int)-len, "Could not get the size of the "
                         "containing file");
        return (int)len;
    }
    if (s->offset > (uint64_t)len) {
        error_setg(errp, "Offset (%" PRIu64 ") cannot be greater than size "
                   "of the containing file (%" PRId64 ")", s->offset, len);
        return -EINVAL;
    }
    if (s->has_size && s->size > (uint64_t)len - s->offset) {
        error_setg(errp, "The sum of offset (%" PRIu64 ") and size (%"
                   PRIu64 ") has to be smaller or equal to the  actual size "
                   "of the containing file (%" PRId64 ")",
                   s->offset, s->size, len);
        return -EINVAL;
    }
    if (s->has_size && s->size % BDRV_SECTOR_SIZE) {
        error_setg(errp, "Specified size is not multiple of %d",
                   BDRV_SECTOR_SIZE);
        return -EINVAL;
    }
    return 0;
}

static bool raw_is_runtime_option(const char *name)
{
    return !strcmp(name, "offset") || !strcmp(name, "size");
}

static int raw_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    int ret = raw_take_window(bs, options, errp);

    if (ret < 0) {
        return ret;
    }
    if (bs->probed && (flags & BDRV_O_RDWR)) {
        qemu_warn_raw("WARNING: Image format was not specified for '%s' and "
                      "probing guessed raw.\n"
                      "         Automatically detecting the format is "
                      "dangerous for raw images, write operations on block 0 "
                      "will be restricted.\n"
                      "         Specify the 'raw' format explicitly to remove "
                      "the restrictions.", bs->file->bs->filename);
    }
    return 0;
}

static int raw_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     void *buf)
{
    BDRVRawState *s = bs->opaque;

    bdrv_debug_event(bs->file->bs, BLKDBG_READ_AIO);
    return bdrv_child_pread(bs->file, offset + (int64_t)s->offset, bytes,
                            buf);
}

/*
 * On a probed image, a write touching block 0 must leave it probing as
 * raw; otherwise a guest could turn its disk into, say, a qcow2 image
 * pointing at host files.
 */
static int raw_check_block0(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf)
{
    uint8_t head[RAW_PROBE_SIZE];
    int64_t n;
    int ret;

    BDRVRawState *s = bs->opaque;

    if (!bs->probed || s->offset || offset >= RAW_PROBE_SIZE || !bytes) {
        return 0;
    }
    ret = bdrv_child_pread(bs->file, 0, RAW_PROBE_SIZE, head);
    if (ret < 0) {
        return ret;
    }
    n = MIN(bytes, RAW_PROBE_SIZE - offset);
    if (buf) {
        memcpy(head + offset, buf, (size_t)n);
    } else {
        memset(head + offset, 0, (size_t)n);
    }
    if (bdrv_probe_all(head, RAW_PROBE_SIZE, NULL) != &bdrv_raw) {
        return -EPERM;
    }
    return 0;
}

static int raw_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_block0(bs, offset, bytes, buf);

    if (ret < 0) {
        return ret;
    }
    bdrv_debug_event(bs->file->bs, BLKDBG_WRITE_AIO);
    return bdrv_child_pwrite(bs->file, offset + (int64_t)s->offset, bytes,
                             buf, flags);
}

static int raw_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int flags)
{
    BDRVRawState *s = bs->opaque;
    int ret = raw_check_block0(bs, offset, bytes, NULL);

    if (ret < 0) {
        return ret;
    }
    return bdrv_pwrite_zeroes(bs->file->bs, offset + (int64_t)s->offset,
                              bytes, flags);
}

static int raw_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVRawState *s = bs->opaque;

    return bdrv_pdiscard(bs->file->bs, offset + (int64_t)s->offset, bytes);
}

static int raw_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                        PreallocMode prealloc, Error **errp)
{
    BDRVRawState *s = bs->opaque;

    if (s->has_size) {
        error_setg(errp, "Cannot resize fixed-size raw disks");
        return -ENOTSUP;
    }
    if (offset > INT64_MAX - (int64_t)s->offset) {
        error_setg(errp, "Disk size too large for the chosen offset");
        return -EINVAL;
    }
    return bdrv_truncate(bs->file->bs, offset + (int64_t)s->offset, exact,
                         prealloc, errp);
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    if (s->has_size) {
        return (int64_t)s->size;
    }
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    return MAX(0, len - (int64_t)s->offset);
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

static int raw_block_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int64_t *pnum, int64_t *map,
                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;

    *pnum = bytes;
    *map = offset + (int64_t)s->offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

/* A raw image is its size, allocated or not (QEMU's raw_measure()). */
static int raw_measure(QDict *opts, BlockDriverState *in_bs,
                       BlockMeasureInfo *info, Error **errp)
{
    int64_t required;

    if (in_bs) {
        required = bdrv_getlength(in_bs);
        if (required < 0) {
            error_setg_errno(errp, (int)-required, "Unable to get image size");
            return (int)required;
        }
    } else {
        uint64_t size;

        if (qdict_get_size(opts, "size", 0, &size, errp) < 0) {
            return -EINVAL;
        }
        required = QEMU_ALIGN_UP(size, BDRV_SECTOR_SIZE);
    }
    info->required = info->fully_allocated = required;
    return 0;
}

static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    (void)bs;
    bdi->cluster_size = 0;
    bdi->is_dirty = false;
    return 0;
}

static int raw_create(const char *filename, QDict *opts, Error **errp)
{
    return bdrv_file.bdrv_create(filename, opts, errp);
}

/* A filter: what the parent needs and shares, nothing more. */
static void raw_child_perm(BlockDriverState *bs, BdrvChild *c,
                           BdrvChildRole role, uint64_t parent_perm,
                           uint64_t parent_shared, uint64_t *nperm,
                           uint64_t *nshared)
{
    (void)role;
    bdrv_default_perms(bs, c, BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                       parent_perm, parent_shared, nperm, nshared);
    *nperm &= parent_perm | ~(uint64_t)(BLK_PERM_WRITE | BLK_PERM_RESIZE);
}

static const QemuOptDesc raw_create_opts[] = {
    { .name = "size", .type = QEMU_OPT_SIZE, .help = "Virtual disk size" },
    { .name = NULL }
};

const BlockDriver bdrv_raw = {
    .format_name = "raw",
    .is_format = true,
    .instance_size = sizeof(BDRVRawState),

    .bdrv_probe = raw_probe,
    .bdrv_open = raw_open,
    .bdrv_create = raw_create,
    .create_opts = raw_create_opts,

    .bdrv_pread = raw_pread,
    .bdrv_pwrite = raw_pwrite,
    .bdrv_pwrite_zeroes = raw_pwrite_zeroes,
    .bdrv_pdiscard = raw_pdiscard,
    .bdrv_truncate = raw_truncate,
    .bdrv_getlength = raw_getlength,
    .bdrv_get_allocated_file_size = raw_get_allocated_file_size,
    .bdrv_block_status = raw_block_status,
    .bdrv_get_info = raw_get_info,
    .bdrv_measure = raw_measure,

    .bdrv_child_perm = raw_child_perm,
    .bdrv_is_runtime_option = raw_is_runtime_option,
};
