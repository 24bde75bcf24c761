/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-zero.c: zero writes as QEMU 7.2 does them.  The request is cut at
 * subcluster boundaries (QEMU's generic bdrv_co_do_pwrite_zeroes() with
 * the subcluster size as alignment); each piece becomes ZERO (sub)clusters
 * when it can (qcow2_co_pwrite_zeroes()), and zeros are written when not.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

/* Zeros written as data go through buffers of at most this size. */
#define ZERO_BUFFER_MAX (1 * MiB)

/*
 * Does [offset, offset+bytes) read as zeros according to the metadata of
 * the whole backing chain (QEMU's is_zero())?  Clamped to the image size.
 */
static bool is_zero(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t nr = 0;
    int res = 0;

    if ((uint64_t)(offset + bytes) > s->size) {
        bytes = (int64_t)s->size - offset;
    }
    if (bytes <= 0) {
        return true;
    }
    /* Zeros of different kinds (unallocated, short backing) don't merge. */
    do {
        res = bdrv_block_status_above(bs, NULL, offset, bytes, &nr, NULL,
                                      NULL, NULL);
        offset += nr;
        bytes -= nr;
    } while (res >= 0 && (res & BDRV_BLOCK_ZERO) && nr && bytes);
    return res >= 0 && (res & BDRV_BLOCK_ZERO) && bytes == 0;
}

/*
 * QEMU's qcow2_subcluster_zeroize(): make whole (sub)clusters read as
 * zeros.  v2 has no zero flag; without a backing file, discarding does.
 */
static int zeroize(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   int flags)
{
    BDRVQcow2State *s = bs->opaque;
    bool unmap = flags & BDRV_REQ_MAY_UNMAP;
    int64_t len = QEMU_ALIGN_UP(bytes, s->cluster_size);
    int ret;

    if (s->qcow_version < 3 && bs->backing) {
        return -ENOTSUP;
    }
    s->discard_on_free = unmap;
    if (s->qcow_version < 3) {
        ret = qcow2_cluster_discard(bs, offset, len, false);
    } else if (qcow2_has_subclusters(s)) {
        ret = qcow2_subcluster_zeroize(bs, offset, bytes, unmap);
    } else {
        ret = qcow2_cluster_zeroize(bs, offset, len, unmap);
    }
    s->discard_on_free = false;
    return ret;
}

/*
 * QEMU's qcow2_co_pwrite_zeroes() for a piece that is either aligned or
 * inside one subcluster.  A partial one becomes zero only if the rest of
 * it already reads as zeros and it holds no data; otherwise -ENOTSUP
 * tells the caller to write zeros.
 */
static int zero_piece(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int flags)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t head = qcow2_offset_into_subcluster(s, offset);
    int64_t tail = QEMU_ALIGN_UP(offset + bytes, s->subcluster_size) -
                   (offset + bytes);

    if ((uint64_t)(offset + bytes) == s->size) {
        tail = 0;
    }
    if (head || tail) {
        uint64_t n = s->subcluster_size, host, e;
        Qcow2SubclusterType type;
        int ret;

        if (!is_zero(bs, offset - head, head) ||
            !is_zero(bs, offset + bytes, tail)) {
            return -ENOTSUP;
        }
        offset -= head;
        bytes = s->subcluster_size;
        ret = qcow2_get_host_offset(bs, offset, &n, &host, &type, &e);
        if (ret < 0) {
            return ret;
        }
        if (type != QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN &&
            type != QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC &&
            type != QCOW2_SUBCLUSTER_ZERO_PLAIN &&
            type != QCOW2_SUBCLUSTER_ZERO_ALLOC) {
            return -ENOTSUP;
        }
    }
    return zeroize(bs, offset, bytes, flags);
}

/* The fallback: zeros written as data (allocating, with copy-on-write). */
static int write_zero_buffers(BlockDriverState *bs, int64_t offset,
                              int64_t bytes)
{
    uint8_t *zero = qemu_xzalloc(MIN(bytes, ZERO_BUFFER_MAX));
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, ZERO_BUFFER_MAX);

        ret = qcow2_write(bs, offset, n, zero);
        offset += n;
        bytes -= n;
    }
    free(zero);
    return ret;
}

int qcow2_zero_write(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     int flags)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t head = qcow2_offset_into_subcluster(s, offset);
    int64_t tail = qcow2_offset_into_subcluster(s, offset + bytes);
    int ret = 0;

    if (qcow2_data_file_is_raw(s) && s->data_file) {
        /* The raw data file must read as zeros there too, as QEMU's. */
        ret = bdrv_pwrite_zeroes(s->data_file->bs, offset, bytes,
                                 flags & ~BDRV_REQ_NO_FALLBACK);
        if (ret < 0) {
            return ret;
        }
    }
    while (bytes > 0 && ret == 0) {
        int64_t n = bytes;

        if (head) {
            /* Up to the first subcluster boundary. */
            n = MIN(bytes, s->subcluster_size - head);
            head = 0;
        } else if (tail && n > s->subcluster_size) {
            /* The aligned bulk, without the partial last subcluster. */
            n -= tail;
        }
        ret = zero_piece(bs, offset, n, flags);
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            ret = write_zero_buffers(bs, offset, n);
        }
        offset += n;
        bytes -= n;
    }
    return ret;
}
