/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.c: requests on nodes.  Reads, writes, zero writes, discards and
 * flushes, with the fallbacks the drivers may leave to the core (zeroes
 * as buffers, requests forwarded to the file child), padding of requests
 * to a node's request alignment (read-modify-write) and splitting them at
 * its other limits (BlockLimits), truncation, length, block status
 * through backing chains, and debug events.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/cutils.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"

/* ---- I/O ---------------------------------------------------------------- */

static int check_request(int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0 || offset > INT64_MAX - bytes) {
        return -EIO;
    }
    return 0;
}

/* ---- request alignment ------------------------------------------------- */

static bool is_aligned(const BlockDriverState *bs, int64_t offset,
                       int64_t bytes)
{
    uint32_t a = bs->bl.request_alignment;

    return a <= 1 || ((offset | bytes) & (int64_t)(a - 1)) == 0;
}

static int64_t request_alignment(const BlockDriverState *bs)
{
    return MAX(bs->bl.request_alignment, 1);
}

/* The largest read or write @bs takes at once, a multiple of its alignment. */
static int64_t max_transfer(const BlockDriverState *bs)
{
    int64_t a = request_alignment(bs);

    if (!bs->bl.max_transfer) {
        return INT64_MAX;
    }
    return MAX(QEMU_ALIGN_DOWN((int64_t)bs->bl.max_transfer, a), a);
}

/*
 * A read of [offset, offset + bytes) on a node that takes only aligned
 * requests: the covering aligned range through a bounce buffer.
 */
static int padded_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        void *buf)
{
    int64_t a = bs->bl.request_alignment;
    int64_t start = offset & ~(a - 1);
    int64_t end = QEMU_ALIGN_UP(offset + bytes, a);
    uint8_t *bounce = qemu_xmalloc((size_t)(end - start));
    int ret = bdrv_pread(bs, start, end - start, bounce);

    if (ret == 0) {
        memcpy(buf, bounce + (offset - start), (size_t)bytes);
    }
    free(bounce);
    return ret;
}

/* ---- requests ------------------------------------------------------------ */

static int do_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf);

int bdrv_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
               void *buf)
{
    BdrvTrackedRequest req;
    int ret = check_request(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (bs->drv_dropped) {
        return -ENOMEDIUM;
    }
    if (!bytes) {
        return 0;
    }
    bdrv_tracked_request_begin(&req, bs, offset, bytes);
    bdrv_wait_serialising_requests(&req);
    if ((bs->open_flags & BDRV_O_COPY_ON_READ) && !bs->read_only) {
        ret = bdrv_copy_on_read(bs, offset, bytes, buf);
    } else {
        ret = do_pread(bs, offset, bytes, buf);
    }
    bdrv_tracked_request_end(&req);
    return ret;
}

/* An aligned read, in pieces of at most max_transfer. */
static int do_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf)
{
    int64_t max = max_transfer(bs);
    int ret = 0;

    if (!is_aligned(bs, offset, bytes)) {
        return padded_pread(bs, offset, bytes, buf);
    }
    if (!bs->drv->bdrv_pread && !bs->file) {
        return -ENOTSUP;
    }
    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, max);

        ret = bs->drv->bdrv_pread ?
              bs->drv->bdrv_pread(bs, offset, n, buf) :
              bdrv_pread(bs->file->bs, offset, n, buf);
        offset += n;
        bytes -= n;
        buf = (uint8_t *)buf + n;
    }
    return ret;
}

/* An aligned data write, in pieces of at most max_transfer. */
static int driver_pwrite(BlockDriverState *bs, int64_t offset,
                         int64_t bytes, const void *buf, int flags)
{
    int64_t max = max_transfer(bs);
    int ret = 0;

    if (!bs->drv->bdrv_pwrite) {
        return -ENOTSUP;
    }
    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, max);

        ret = bs->drv->bdrv_pwrite(bs, offset, n, buf, flags);
        offset += n;
        bytes -= n;
        buf = (const uint8_t *)buf + n;
    }
    return ret;
}

/* The largest zeroed buffer a refused zero write falls back to. */
#define ZERO_BOUNCE_MAX (1 * MiB)

/*
 * An aligned zero write, as QEMU's bdrv_co_do_pwrite_zeroes: a head up to
 * the zero-write alignment in small pieces (no larger than max_transfer),
 * then the bulk in aligned pieces of at most max_pwrite_zeroes, then the
 * tail.  Each piece the driver refuses with -ENOTSUP is written as a
 * zeroed buffer instead, in pieces of at most max_transfer.
 */
static int do_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int flags)
{
    int64_t ra = request_alignment(bs);
    int64_t align = MAX((int64_t)bs->bl.pwrite_zeroes_alignment, ra);
    int64_t max_zeroes = bs->bl.max_pwrite_zeroes ?
                         bs->bl.max_pwrite_zeroes : INT64_MAX;
    int64_t max_bounce = MIN(max_transfer(bs),
                             MAX(QEMU_ALIGN_DOWN(ZERO_BOUNCE_MAX, ra), ra));
    int64_t head = offset % align;
    int64_t tail = (offset + bytes) % align;
    uint8_t *zero = NULL;
    int ret = 0;

    max_zeroes = MAX(QEMU_ALIGN_DOWN(max_zeroes, align), align);
    while (bytes > 0 && ret == 0) {
        int64_t num = bytes;

        if (head) {
            /* Up to the first aligned offset. */
            num = MIN(MIN(bytes, max_bounce), align - head);
            head = (head + num) % align;
        } else if (tail && num > align) {
            /* Up to the last aligned offset. */
            num -= tail;
        }
        num = MIN(num, max_zeroes);

        ret = bs->drv->bdrv_pwrite_zeroes ?
              bs->drv->bdrv_pwrite_zeroes(bs, offset, num, flags) :
              -ENOTSUP;
        if (ret == -ENOTSUP && bs->drv->bdrv_pwrite &&
            !(flags & BDRV_REQ_NO_FALLBACK)) {
            num = MIN(num, max_bounce);
            if (!zero) {
                zero = qemu_xzalloc((size_t)MIN(bytes, max_bounce));
            }
            ret = bs->drv->bdrv_pwrite(bs, offset, num, zero, 0);
        }
        offset += num;
        bytes -= num;
    }
    free(zero);
    return ret;
}

/*
 * An aligned write of @req's: data, zeroes (@buf NULL or a zero write)
 * or one compressed cluster, between QEMU's pwritev events.  It waits
 * first for serialising requests it overlaps.
 */
static int aligned_pwrite(BlockDriverState *bs, BdrvTrackedRequest *req,
                          int64_t offset, int64_t bytes, const void *buf,
                          int flags)
{
    int ret;

    bdrv_wait_serialising_requests(req);
    if ((flags & BDRV_REQ_ZERO_WRITE) || !buf) {
        bdrv_debug_event(bs, BLKDBG_PWRITEV_ZERO);
        ret = do_pwrite_zeroes(bs, offset, bytes, flags & ~BDRV_REQ_FUA);
    } else if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        /* One cluster, never split. */
        ret = bs->drv->bdrv_pwrite ?
              bs->drv->bdrv_pwrite(bs, offset, bytes, buf,
                                   flags & ~BDRV_REQ_FUA) : -ENOTSUP;
    } else {
        bdrv_debug_event(bs, BLKDBG_PWRITEV);
        ret = driver_pwrite(bs, offset, bytes, buf, flags & ~BDRV_REQ_FUA);
    }
    bdrv_debug_event(bs, BLKDBG_PWRITEV_DONE);
    if (ret == 0 && (flags & BDRV_REQ_FUA)) {
        ret = bdrv_flush(bs);
    }
    return ret;
}

/*
 * The read half of a padded write (QEMU's bdrv_padding_rmw_read): the
 * aligned block of [@start, @end) that holds its first byte (when
 * @head), and the one that holds its last (when @tail), into the first
 * and last @a bytes of @bounce; one read when they are the same block.
 */
static int padding_read(BlockDriverState *bs, BdrvTrackedRequest *req,
                        int64_t start, int64_t end, bool head, bool tail,
                        uint8_t *bounce, int64_t bounce_len)
{
    int64_t a = request_alignment(bs);
    int ret = 0;

    bdrv_wait_serialising_requests(req);
    if (end - start == a) {
        if (head) {
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_HEAD);
        }
        if (tail) {
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_TAIL);
        }
        ret = do_pread(bs, start, a, bounce);
        if (ret == 0 && head) {
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_HEAD);
        }
        if (ret == 0 && tail) {
            bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
        }
        return ret;
    }
    if (head) {
        bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_HEAD);
        ret = do_pread(bs, start, a, bounce);
        if (ret < 0) {
            return ret;
        }
        bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_HEAD);
    }
    if (tail) {
        bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_TAIL);
        ret = do_pread(bs, end - a, a, bounce + bounce_len - a);
        if (ret < 0) {
            return ret;
        }
        bdrv_debug_event(bs, BLKDBG_PWRITEV_RMW_AFTER_TAIL);
    }
    return 0;
}

/*
 * A write on a node that takes only aligned requests: the covering
 * aligned range, read-modify-written with the request serialising (so
 * no overlapping request slips in between the read and the write).
 * Data goes in one write of the whole range; zeroes as whole head and
 * tail blocks with the aligned middle a zero write, as QEMU's
 * bdrv_co_do_zero_pwritev.
 */
static int padded_pwrite(BlockDriverState *bs, BdrvTrackedRequest *req,
                         int64_t offset, int64_t bytes, const void *buf,
                         int flags)
{
    int64_t a = request_alignment(bs);
    int64_t start = QEMU_ALIGN_DOWN(offset, a);
    int64_t end = QEMU_ALIGN_UP(offset + bytes, a);
    bool head = start < offset, tail = offset + bytes < end;
    bool zero = (flags & BDRV_REQ_ZERO_WRITE) || !buf;
    int data_flags = flags & ~(BDRV_REQ_ZERO_WRITE | BDRV_REQ_MAY_UNMAP);
    int64_t len = zero ? MIN(end - start, 2 * a) : end - start;
    uint8_t *bounce = qemu_xmalloc((size_t)len);
    int ret;

    bdrv_make_request_serialising(req, a);
    ret = padding_read(bs, req, start, end, head, tail, bounce, len);
    if (ret < 0) {
        goto out;
    }
    if (!zero) {
        memcpy(bounce + (offset - start), buf, (size_t)bytes);
        ret = aligned_pwrite(bs, req, start, len, bounce, data_flags);
        goto out;
    }
    if (end - start == a) {
        memset(bounce + (offset - start), 0, (size_t)bytes);
        ret = aligned_pwrite(bs, req, start, a, bounce, data_flags);
        goto out;
    }
    if (head) {
        memset(bounce + (offset - start), 0, (size_t)(a - (offset - start)));
        ret = aligned_pwrite(bs, req, start, a, bounce, data_flags);
        if (ret < 0) {
            goto out;
        }
        start += a;
    }
    if (tail) {
        end -= a;
    }
    if (end > start) {
        ret = aligned_pwrite(bs, req, start, end - start, NULL, flags);
        if (ret < 0) {
            goto out;
        }
    }
    if (tail) {
        memset(bounce + len - a, 0, (size_t)(offset + bytes - end));
        ret = aligned_pwrite(bs, req, end, a, bounce + len - a, data_flags);
    }
out:
    free(bounce);
    return ret;
}

int bdrv_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, int flags)
{
    BdrvTrackedRequest req;
    int ret = check_request(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (bs->drv_dropped) {
        return -ENOMEDIUM;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    if ((flags & BDRV_REQ_WRITE_COMPRESSED) && !bs->drv->is_format) {
        /* Compression is a format's business (QEMU: -ENOTSUP). */
        return -ENOTSUP;
    }
    if (!bytes && !(flags & BDRV_REQ_WRITE_COMPRESSED)) {
        return 0;
    }
    /* As QEMU, whether or not the write then succeeds. */
    if (bs->dirty_bitmaps && !(flags & BDRV_REQ_WRITE_UNCHANGED)) {
        bdrv_set_dirty(bs, offset, bytes);
    }
    flags &= ~BDRV_REQ_WRITE_UNCHANGED;
    if (!bytes) {
        /*
         * The end of a compressed stream (QEMU's convert -c sends it): the
         * driver may align the file's end.
         */
        return bs->drv->bdrv_pwrite ?
               bs->drv->bdrv_pwrite(bs, offset, 0, buf, flags &
                                    ~BDRV_REQ_FUA) : -ENOTSUP;
    }
    bdrv_tracked_request_begin(&req, bs, offset, bytes);
    if (!is_aligned(bs, offset, bytes) &&
        !(flags & BDRV_REQ_WRITE_COMPRESSED)) {
        ret = padded_pwrite(bs, &req, offset, bytes, buf, flags);
    } else {
        ret = aligned_pwrite(bs, &req, offset, bytes, buf, flags);
    }
    bdrv_tracked_request_end(&req);
    return ret;
}

int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags)
{
    return bdrv_pwrite(bs, offset, bytes, NULL, flags | BDRV_REQ_ZERO_WRITE);
}

/*
 * As QEMU's bdrv_co_pdiscard: discard is advisory, so nothing is rounded
 * away here; the request goes down in pieces that do not cross the
 * node's discard alignment (and, below that, its request alignment),
 * each at most max_pdiscard.  A driver ignores the pieces it cannot use
 * (-ENOTSUP, not an error).
 */
int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    int64_t ra = request_alignment(bs);
    int64_t align = MAX((int64_t)bs->bl.pdiscard_alignment, ra);
    int64_t max = bs->bl.max_pdiscard ? bs->bl.max_pdiscard : INT64_MAX;
    int64_t head, tail;
    int ret = check_request(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->bdrv_pdiscard) {
        return 0;
    }
    if (bs->dirty_bitmaps) {
        bdrv_set_dirty(bs, offset, bytes);
    }
    head = offset % align;
    tail = (offset + bytes) % align;
    max = MAX(QEMU_ALIGN_DOWN(max, align), align);
    while (bytes > 0) {
        int64_t num = bytes;

        if (head) {
            /* Small pieces up to the alignment boundaries. */
            num = MIN(bytes, align - head);
            if (num % ra) {
                num %= ra;
            }
            head = (head + num) % align;
        } else if (tail) {
            if (num > align) {
                /* Up to the last aligned offset. */
                num -= tail;
            } else if (tail % ra && tail > ra) {
                tail %= ra;
                num -= tail;
            }
        }
        num = MIN(num, max);

        /* As QEMU, each piece: an earlier one may have dropped the driver. */
        if (bs->drv_dropped) {
            return -ENOMEDIUM;
        }
        ret = bs->drv->bdrv_pdiscard(bs, offset, num);
        if (ret < 0 && ret != -ENOTSUP) {
            return ret;
        }
        offset += num;
        bytes -= num;
    }
    return 0;
}

int bdrv_flush(BlockDriverState *bs)
{
    int ret = 0, r;

    if (!bs || !bs->drv || bs->drv_dropped) {
        return 0;
    }
    if (bs->drv->bdrv_flush_to_os) {
        ret = bs->drv->bdrv_flush_to_os(bs);
    }
    if (bs->data_file) {
        r = bdrv_flush(bs->data_file->bs);
        ret = ret ? ret : r;
    }
    for (int i = 0; i < bs->nb_children; i++) {
        r = bdrv_flush(bs->children[i]->bs);
        ret = ret ? ret : r;
    }
    if (bs->file) {
        r = bdrv_flush(bs->file->bs);
        ret = ret ? ret : r;
    }
    /* cache=unsafe: caches still reach the OS, nothing is synced. */
    if (!bs->read_only && !(bs->open_flags & BDRV_O_NO_FLUSH) &&
        bs->drv->bdrv_flush_to_disk) {
        r = bs->drv->bdrv_flush_to_disk(bs);
        ret = ret ? ret : r;
    }
    return ret;
}

/*
 * As QEMU: an image growing over a backing file that is longer than the
 * image was gets its new area zero-filled, or the backing file's data
 * would show through it.
 */
static int truncate_over_backing(BlockDriverState *bs, int64_t offset,
                                 bool exact, PreallocMode prealloc,
                                 Error **errp)
{
    int64_t old_size = bdrv_getlength(bs);
    int64_t backing_len = bdrv_getlength(bs->backing->bs);
    int ret;

    if (old_size < 0) {
        error_setg_errno(errp, (int)-old_size, "Could not get image size");
        return (int)old_size;
    }
    if (backing_len < 0) {
        error_setg_errno(errp, (int)-backing_len,
                         "Could not get backing file size");
        return (int)backing_len;
    }
    ret = bs->drv->bdrv_truncate(bs, offset, exact, prealloc, errp);
    if (ret < 0 || offset <= old_size || backing_len <= old_size) {
        return ret;
    }
    ret = bdrv_pwrite_zeroes(bs, old_size, offset - old_size, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to zero out the new area");
    }
    return ret;
}

int bdrv_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                  PreallocMode prealloc, Error **errp)
{
    int ret;

    if (bs->drv_dropped) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return -EACCES;
    }
    if (!bs->drv->bdrv_truncate) {
        error_setg(errp, "Image format driver does not support resize");
        return -ENOTSUP;
    }
    if (!bs->backing) {
        ret = bs->drv->bdrv_truncate(bs, offset, exact, prealloc, errp);
    } else {
        ret = truncate_over_backing(bs, offset, exact, prealloc, errp);
    }
    if (bs->dirty_bitmaps) {
        int64_t len = bdrv_getlength(bs);
        if (len >= 0) {
            bdrv_dirty_bitmap_truncate(bs, len);
        }
    }
    return ret;
}

/*
 * Like QEMU, every node's length is counted in whole 512-byte sectors: a
 * 1000-byte raw file is a 1 KiB image whose tail reads as zeroes.
 */
int64_t bdrv_getlength(BlockDriverState *bs)
{
    int64_t len;

    if (bs->drv_dropped) {
        return -ENOMEDIUM;
    }
    if (bs->drv->bdrv_getlength) {
        len = bs->drv->bdrv_getlength(bs);
    } else if (bs->file) {
        len = bdrv_getlength(bs->file->bs);
    } else {
        return -ENOTSUP;
    }
    if (len > INT64_MAX - BDRV_SECTOR_SIZE) {
        return -EFBIG;
    }
    return len < 0 ? len : QEMU_ALIGN_UP(len, BDRV_SECTOR_SIZE);
}

int64_t bdrv_get_allocated_file_size(BlockDriverState *bs)
{
    if (bs->drv->bdrv_get_allocated_file_size) {
        return bs->drv->bdrv_get_allocated_file_size(bs);
    }
    if (bs->file) {
        return bdrv_get_allocated_file_size(bs->file->bs);
    }
    return -ENOTSUP;
}

int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file)
{
    BlockDriverState *local_file = NULL;
    int64_t local_map = 0;
    int64_t total;
    int ret;

    if (check_request(offset, bytes) < 0) {
        return -EIO;
    }
    total = bdrv_getlength(bs);
    if (total < 0) {
        return (int)total;
    }
    if (offset >= total) {
        *pnum = 0;
        return BDRV_BLOCK_EOF;
    }
    if (!bytes) {
        *pnum = 0;
        return 0;
    }
    bytes = MIN(bytes, total - offset);

    if (!bs->drv->bdrv_block_status) {
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED;
        if (!bs->drv->is_format) {
            ret |= BDRV_BLOCK_OFFSET_VALID;
            local_map = offset;
            local_file = bs;
        }
        goto out;
    }
    *pnum = 0;
    ret = bs->drv->bdrv_block_status(bs, offset, bytes, pnum, &local_map,
                                     &local_file);
    if (ret < 0) {
        return ret;
    }
    if (*pnum <= 0 || *pnum > bytes) {
        *pnum = bytes;
    }
    if (ret & BDRV_BLOCK_RAW) {
        /* A filter's answer is its child's answer at the mapped offset. */
        return bdrv_block_status(local_file, local_map, *pnum, pnum, map,
                                 file);
    }
    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        ret |= BDRV_BLOCK_ALLOCATED;
    } else if (bs->backing) {
        int64_t blen = bdrv_getlength(bs->backing->bs);
        if (blen >= 0 && offset >= blen) {
            ret |= BDRV_BLOCK_ZERO;
        }
    } else if (bs->drv->is_format) {
        ret |= BDRV_BLOCK_ZERO;
    }
    if ((ret & BDRV_BLOCK_RECURSE) && local_file && local_file != bs &&
        (ret & BDRV_BLOCK_DATA) && (ret & BDRV_BLOCK_OFFSET_VALID)) {
        int64_t file_pnum;
        int ret2 = bdrv_block_status(local_file, local_map, *pnum,
                                     &file_pnum, NULL, NULL);
        if (ret2 >= 0) {
            if ((ret2 & BDRV_BLOCK_EOF) &&
                (!file_pnum || (ret2 & BDRV_BLOCK_ZERO))) {
                ret |= BDRV_BLOCK_ZERO;
            } else if (file_pnum > 0) {
                *pnum = file_pnum;
                ret |= ret2 & BDRV_BLOCK_ZERO;
            }
        }
    }
    ret &= ~BDRV_BLOCK_RECURSE;
out:
    if (offset + *pnum == total) {
        ret |= BDRV_BLOCK_EOF;
    }
    if (map) {
        *map = local_map;
    }
    if (file) {
        *file = local_file;
    }
    return ret;
}

/* See block_int.h. */
/* See block_int.h: a filter's pass-through entries. */
int bdrv_filter_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags)
{
    return bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

int bdrv_filter_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return bdrv_pdiscard(bs->file->bs, offset, bytes);
}

int bdrv_filter_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp)
{
    return bdrv_truncate(bs->file->bs, offset, exact, prealloc, errp);
}

int64_t bdrv_filter_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

int bdrv_block_status_from_file(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, int64_t *pnum, int64_t *map,
                                BlockDriverState **file)
{
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum)
{
    int ret = bdrv_block_status(bs, offset, bytes, pnum, NULL, NULL);

    if (ret < 0) {
        return ret;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

/* See block.h. */
bool bdrv_is_zero_fast(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    int64_t pnum = 0;
    int ret;

    if (!bytes) {
        return true;
    }
    ret = bdrv_block_status_above(bs, NULL, offset, bytes, &pnum, NULL,
                                  NULL, NULL);
    return ret >= 0 && pnum == bytes && (ret & BDRV_BLOCK_ZERO);
}

int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file,
                            int *depth)
{
    BlockDriverState *p;
    int d = 0;
    int ret = 0;

    *pnum = 0;
    for (p = bs; p && p != base; p = bdrv_backing_bs(p), d++) {
        int64_t n = 0;

        ret = bdrv_block_status(p, offset, bytes, &n, map, file);
        if (ret < 0) {
            return ret;
        }
        if (p != bs && n == 0 && (ret & BDRV_BLOCK_EOF)) {
            /* Past the end of a shorter backing file: reads as zeroes. */
            ret = BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
            if (map) {
                *map = 0;
            }
            if (file) {
                *file = NULL;
            }
            break;
        }
        if (p == bs || n < *pnum) {
            *pnum = n;
        }
        bytes = *pnum;
        if (!bytes || (ret & (BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_ZERO))) {
            break;
        }
        if (!bdrv_backing_bs(p) || bdrv_backing_bs(p) == base) {
            break;
        }
    }
    if (depth) {
        *depth = d;
    }
    return ret;
}

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    if (bs && bs->drv && bs->drv->bdrv_debug_event) {
        bs->drv->bdrv_debug_event(bs, event);
    }
}

/* The node that takes breakpoints: @bs or the first below it by file. */
static BlockDriverState *debug_node(BlockDriverState *bs)
{
    while (bs && bs->drv && !bs->drv->bdrv_debug_breakpoint) {
        bs = bs->file ? bs->file->bs : NULL;
    }
    return bs && bs->drv ? bs : NULL;
}

int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_breakpoint(bs, event, tag) : -ENOTSUP;
}

int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_remove_breakpoint(bs, tag) : -ENOTSUP;
}

int bdrv_debug_resume(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs ? bs->drv->bdrv_debug_resume(bs, tag) : -ENOTSUP;
}

bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    bs = debug_node(bs);
    return bs && bs->drv->bdrv_debug_is_suspended(bs, tag);
}

/* ---- child I/O --------------------------------------------------------- */

int bdrv_child_pread(BdrvChild *c, int64_t offset, int64_t bytes, void *buf)
{
    return bdrv_pread(c->bs, offset, bytes, buf);
}

int bdrv_child_pwrite(BdrvChild *c, int64_t offset, int64_t bytes,
                      const void *buf, int flags)
{
    return bdrv_pwrite(c->bs, offset, bytes, buf, flags);
}

/* ---- VM state ------------------------------------------------------------ */

int bdrv_save_vmstate(BlockDriverState *bs, const void *buf, int64_t pos,
                      int64_t size)
{
    int ret = check_request(pos, size);

    if (ret < 0) {
        return ret;
    }
    if (bs->read_only) {
        return -EPERM;
    }
    if (!bs->drv->bdrv_save_vmstate) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_save_vmstate(bs, buf, pos, size);
}

int bdrv_load_vmstate(BlockDriverState *bs, void *buf, int64_t pos,
                      int64_t size)
{
    int ret = check_request(pos, size);

    if (ret < 0) {
        return ret;
    }
    if (!bs->drv->bdrv_load_vmstate) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_load_vmstate(bs, buf, pos, size);
}

/* ---- copy-on-read ------------------------------------------------------ */

#define COR_CHUNK (1 * MiB)

/* See block_int.h. */
int bdrv_copy_on_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BlockDriverInfo bdi;
    int64_t cs = 0, start, end, pos, len = bdrv_getlength(bs);
    int ret = 0;

    if (len < 0) {
        return (int)len;
    }
    if (bdrv_get_info(bs, &bdi) == 0 && bdi.cluster_size > 0) {
        cs = bdi.cluster_size;
    }
    /* Whole clusters are copied, up to the end of the image. */
    start = cs ? QEMU_ALIGN_DOWN(offset, cs) : offset;
    end = cs ? QEMU_ALIGN_UP(offset + bytes, cs) : offset + bytes;
    end = MAX(MIN(end, len), offset + bytes);
    for (pos = start; pos < end && ret >= 0;) {
        int64_t pnum = 0, lo, hi;
        uint8_t *bounce;
        int alloc = bdrv_is_allocated(bs, pos, MIN(end - pos, COR_CHUNK),
                                      &pnum);

        if (alloc < 0) {
            return alloc;
        }
        if (pnum <= 0) {
            /* Past the end: what is left reads as the format reads it. */
            pnum = end - pos;
            alloc = 1;
        }
        pnum = MIN(pnum, COR_CHUNK);
        lo = MAX(pos, offset);
        hi = MIN(pos + pnum, offset + bytes);
        if (alloc) {
            if (hi > lo) {
                ret = do_pread(bs, lo, hi - lo, (uint8_t *)buf + (lo - offset));
            }
        } else {
            bounce = qemu_xmalloc((size_t)pnum);
            ret = do_pread(bs, pos, pnum, bounce);
            if (ret == 0) {
                bdrv_debug_event(bs, BLKDBG_COR_WRITE);
                ret = buffer_is_zero(bounce, (size_t)pnum) ?
                      bdrv_pwrite(bs, pos, pnum, NULL,
                                  BDRV_REQ_ZERO_WRITE |
                                  BDRV_REQ_WRITE_UNCHANGED) :
                      bdrv_pwrite(bs, pos, pnum, bounce,
                                  BDRV_REQ_WRITE_UNCHANGED);
            }
            if (ret == 0 && hi > lo) {
                memcpy((uint8_t *)buf + (lo - offset), bounce + (lo - pos),
                       (size_t)(hi - lo));
            }
            free(bounce);
        }
        pos += pnum;
    }
    return ret;
}
