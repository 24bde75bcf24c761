/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compress.c: QEMU's "compress" filter.  Every write to it becomes a
 * compressed write (BDRV_REQ_WRITE_COMPRESSED) of whole clusters of the
 * format below, which must support them; partial clusters are read,
 * modified and written whole, as QEMU's request alignment of one cluster
 * makes the generic layer do.  Everything else passes through.
 *   driver=compress,file.driver=qcow2,file.file.filename=t.qcow2
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/block_int.h"

typedef struct BDRVCompressState {
    int64_t cluster_size;   /* of the node below; 0: no alignment */
} BDRVCompressState;

static int compress_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVCompressState *s = bs->opaque;
    BlockDriverState *child = bs->file->bs;
    BlockDriverInfo bdi;

    (void)options;
    (void)flags;
    if (!child->drv->supports_compressed_writes) {
        error_setg(errp, "Compression is not supported for underlying "
                   "format: %s", bdrv_get_format_name(child));
        return -ENOTSUP;
    }
    if (bdrv_get_info(child, &bdi) == 0 && bdi.cluster_size > 0) {
        s->cluster_size = bdi.cluster_size;
    }
    return 0;
}

static int compress_pread(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, void *buf)
{
    return bdrv_child_pread(bs->file, offset, bytes, buf);
}

/* Read the clusters of [start, end) that the write does not cover whole. */
static int read_partial_clusters(BlockDriverState *bs, int64_t start,
                                 int64_t end, int64_t offset, int64_t bytes,
                                 uint8_t *buf)
{
    BDRVCompressState *s = bs->opaque;
    int64_t tail = QEMU_ALIGN_DOWN(offset + bytes, s->cluster_size);
    int ret = 0;

    if (offset > start) {
        ret = bdrv_child_pread(bs->file, start,
                               MIN(s->cluster_size, end - start), buf);
    }
    if (ret == 0 && offset + bytes < end &&
        (tail > start || offset == start)) {
        ret = bdrv_child_pread(bs->file, tail, end - tail,
                               buf + (tail - start));
    }
    return ret;
}

static int compress_pwrite(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, int flags)
{
    BDRVCompressState *s = bs->opaque;
    int64_t len, start, end;
    uint8_t *whole;
    int ret;

    flags |= BDRV_REQ_WRITE_COMPRESSED;
    if (!bytes || !s->cluster_size) {
        return bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
    }
    len = bdrv_getlength(bs->file->bs);
    if (len < 0) {
        return len;
    }
    start = QEMU_ALIGN_DOWN(offset, s->cluster_size);
    end = MIN(QEMU_ALIGN_UP(offset + bytes, s->cluster_size), len);
    if (start == offset && end <= offset + bytes) {
        return bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
    }
    whole = qemu_xmalloc(end - start);
    ret = read_partial_clusters(bs, start, end, offset, bytes, whole);
    if (ret == 0) {
        memcpy(whole + (offset - start), buf, bytes);
        ret = bdrv_child_pwrite(bs->file, start, end - start, whole, flags);
    }
    free(whole);
    return ret;
}

/*
 * QEMU's rule for nodes with a request alignment (one cluster here): a
 * writer that may not resize needs a size that is a multiple of it.
 */
static int compress_check_perm(BlockDriverState *bs, uint64_t perm,
                               uint64_t shared, Error **errp)
{
    BDRVCompressState *s = bs->opaque;
    int64_t len;

    (void)shared;
    if (!(perm & BLK_PERM_WRITE) || (perm & BLK_PERM_RESIZE) ||
        !s->cluster_size) {
        return 0;
    }
    len = bdrv_getlength(bs->file->bs);
    if (len >= 0 && len % s->cluster_size) {
        error_setg(errp, "Cannot get 'write' permission without 'resize': "
                   "Image size is not a multiple of request alignment");
        return -EPERM;
    }
    return 0;
}

static int compress_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bdrv_get_info(bs->file->bs, bdi);
}

const BlockDriver bdrv_compress = {
    .format_name = "compress",
    .instance_size = sizeof(BDRVCompressState),
    .is_filter = true,
    .is_format = true,
    .bdrv_open = compress_open,
    .bdrv_pread = compress_pread,
    .bdrv_pwrite = compress_pwrite,
    .bdrv_pwrite_zeroes = bdrv_filter_pwrite_zeroes,
    .bdrv_pdiscard = bdrv_filter_pdiscard,
    .bdrv_getlength = bdrv_filter_getlength,
    .bdrv_block_status = bdrv_block_status_from_file,
    .bdrv_get_info = compress_get_info,
    .bdrv_check_perm = compress_check_perm,
};
