/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-io.c: qcow2's request entry points (the driver table's pread,
 * pwrite, zero writes, discard, flush, block status, truncate, VM state):
 * the checks of each request, then the cluster code (qcow2-cluster.c,
 * qcow2-subcluster.c, qcow2-zero.c), under the metadata and guest range
 * locks of qcow2-lock.c.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"

/* ---- I/O entry points ------------------------------------------------- */

static int do_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset < 0 || bytes < 0 || (uint64_t)offset > s->size) {
        return -EIO;
    }
    if ((uint64_t)(offset + bytes) > s->size) {
        uint64_t valid = s->size - offset;
        memset((uint8_t *)buf + valid, 0, bytes - valid);
        bytes = valid;
    }
    return qcow2_read(bs, offset, bytes, buf);
}

static int check_writable(BlockDriverState *bs, int64_t offset,
                          int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->writable) {
        return s->signaled_corruption ? -EIO : -EACCES;
    }
    if (offset < 0 || bytes < 0 || (uint64_t)(offset + bytes) > s->size) {
        return -EIO;
    }
    return 0;
}

static int do_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int flags);

static int do_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, int flags)
{
    int ret = check_writable(bs, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (flags & BDRV_REQ_ZERO_WRITE) {
        return do_pwrite_zeroes(bs, offset, bytes, flags);
    }
    if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        BDRVQcow2State *s = bs->opaque;
        if (bytes == 0) {
            /*
             * The end of a compressed stream (qemu-img convert -c): align
             * the file to a sector boundary, as QEMU does.
             */
            int64_t flen = bdrv_getlength(bs->file->bs); /* sectors */
            if (flen < 0) {
                return flen;
            }
            return bdrv_truncate(bs->file->bs, flen, false,
                                 PREALLOC_MODE_OFF, NULL);
        }
        while (bytes > 0) {
            int64_t n = MIN(bytes, s->cluster_size -
                            qcow2_offset_into_cluster(s, offset));
            ret = qcow2_write_compressed(bs, offset, n, buf);
            if (ret < 0) {
                return ret;
            }
            offset += n;
            bytes -= n;
            buf = (const uint8_t *)buf + n;
        }
        return 0;
    }
    ret = qcow2_write(bs, offset, bytes, buf);
    if (ret == 0 && (flags & BDRV_REQ_FUA)) {
        ret = qcow2_flush_caches(bs);
        if (ret == 0) {
            ret = qcow2_file_flush(bs);
        }
    }
    return ret;
}

static int do_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int flags)
{
    int ret = check_writable(bs, offset, bytes);

    return ret < 0 ? ret : qcow2_zero_write(bs, offset, bytes, flags);
}

static int do_pdiscard(BlockDriverState *bs, int64_t offset,
                       int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t start = QEMU_ALIGN_UP(offset, s->cluster_size);
    int64_t end = offset + bytes;
    int ret = check_writable(bs, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (s->qcow_version < 3 && bs->backing) {
        /*
         * As QEMU: without zero clusters, a discarded cluster would show
         * the backing file's stale data; the (advisory) discard is skipped.
         */
        return -ENOTSUP;
    }
    if ((uint64_t)end == s->size) {
        end = QEMU_ALIGN_UP(end, s->cluster_size);
    } else {
        end = QEMU_ALIGN_DOWN(end, s->cluster_size);
    }
    if (end <= start) {
        return 0;
    }
    s->discard_on_free = true;
    ret = qcow2_cluster_discard(bs, start, end - start, false);
    s->discard_on_free = false;
    return ret;
}

static int do_flush_to_os(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->l2_cache) {
        return 0;
    }
    return qcow2_flush_caches(bs);
}

int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->size;
}

int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

/*
 * Like QEMU: an image whose refcounts claim clearly more clusters than the
 * file really occupies was preallocated with metadata, so data clusters may
 * be holes in the file and block status asks the file about zeros.
 */
static int detect_metadata_prealloc(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t flen = bdrv_getlength(bs->file->bs);
    int64_t real = bdrv_get_allocated_file_size(bs->file->bs);
    uint64_t real_clusters, threshold, allocated = 0, nb;

    if (flen < 0 || real < 0) {
        return 0;
    }
    real_clusters = real / s->cluster_size;
    threshold = MAX(real_clusters * 10 / 9, real_clusters + 2);
    nb = qcow2_size_to_clusters(s, flen);
    /* Block by block: a range without a refcount block has no clusters. */
    for (uint64_t b = 0; b < s->refcount_table_size &&
         (b << s->refcount_block_bits) < nb; b++) {
        uint64_t first = b << s->refcount_block_bits;
        uint64_t n = MIN((uint64_t)s->refcount_block_size, nb - first);
        if (!(s->refcount_table[b] & REFT_OFFSET_MASK)) {
            continue;
        }
        for (uint64_t i = first; i < first + n; i++) {
            uint64_t rc;
            if (qcow2_get_refcount(bs, i, &rc) < 0) {
                return 0;
            }
            if (rc && ++allocated > threshold) {
                return 1;
            }
        }
    }
    return 0;
}

static int do_block_status(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, int64_t *pnum, int64_t *map,
                           BlockDriverState **file)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cur, host, e;
    Qcow2SubclusterType t;
    int ret, status = 0;

    if ((uint64_t)offset >= s->size) {
        *pnum = 0;
        return BDRV_BLOCK_EOF;
    }
    cur = MIN((uint64_t)bytes, s->size - offset);
    ret = qcow2_get_host_offset(bs, offset, &cur, &host, &t, &e);
    if (ret < 0) {
        return ret;
    }
    *pnum = cur;
    switch (t) {
    case QCOW2_SUBCLUSTER_COMPRESSED:
        status = BDRV_BLOCK_DATA | BDRV_BLOCK_COMPRESSED;
        break;
    case QCOW2_SUBCLUSTER_NORMAL:
        status = BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
        break;
    case QCOW2_SUBCLUSTER_ZERO_ALLOC:
        status = BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
        break;
    case QCOW2_SUBCLUSTER_ZERO_PLAIN:
        status = BDRV_BLOCK_ZERO;
        break;
    case QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC:
        /* Mapped but unallocated: the backing file shows through. */
        status = BDRV_BLOCK_OFFSET_VALID;
        break;
    default:
        status = 0;
        break;
    }
    if (status & BDRV_BLOCK_OFFSET_VALID) {
        *map = host;
        if (file) {
            *file = s->data_file ? s->data_file->bs : bs->file->bs;
        }
    }
    if (s->metadata_prealloc < 0) {
        s->metadata_prealloc = detect_metadata_prealloc(bs);
    }
    if (s->metadata_prealloc && (status & BDRV_BLOCK_DATA) &&
        (status & BDRV_BLOCK_OFFSET_VALID)) {
        status |= BDRV_BLOCK_RECURSE;
    }
    if (status & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        status |= BDRV_BLOCK_ALLOCATED;
    }
    if ((uint64_t)(offset + cur) >= s->size) {
        status |= BDRV_BLOCK_EOF;
    }
    return status;
}

/*
 * The entry points proper: each takes the metadata lock, and those that
 * change guest data own their clusters meanwhile (qcow2-lock.c).
 */
int qcow2_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                void *buf)
{
    int ret;

    qcow2_lock(bs);
    ret = do_pread(bs, offset, bytes, buf);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                 const void *buf, int flags)
{
    Qcow2Range r;
    int ret;

    qcow2_lock(bs);
    qcow2_range_lock(bs, &r, offset, bytes);
    ret = do_pwrite(bs, offset, bytes, buf, flags);
    qcow2_range_unlock(bs, &r);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                        int64_t bytes, int flags)
{
    Qcow2Range r;
    int ret;

    qcow2_lock(bs);
    qcow2_range_lock(bs, &r, offset, bytes);
    ret = do_pwrite_zeroes(bs, offset, bytes, flags);
    qcow2_range_unlock(bs, &r);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_pdiscard(BlockDriverState *bs, int64_t offset,
                   int64_t bytes)
{
    Qcow2Range r;
    int ret;

    qcow2_lock(bs);
    qcow2_range_lock(bs, &r, offset, bytes);
    ret = do_pdiscard(bs, offset, bytes);
    qcow2_range_unlock(bs, &r);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_flush_to_os(BlockDriverState *bs)
{
    int ret;

    qcow2_lock(bs);
    ret = do_flush_to_os(bs);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_block_status(BlockDriverState *bs, int64_t offset,
                       int64_t bytes, int64_t *pnum, int64_t *map,
                       BlockDriverState **file)
{
    int ret;

    qcow2_lock(bs);
    ret = do_block_status(bs, offset, bytes, pnum, map, file);
    qcow2_unlock(bs);
    return ret;
}

/* The VM state starts at the first L1 entry past the guest disk. */
int64_t qcow2_vm_state_offset(BDRVQcow2State *s)
{
    return (int64_t)qcow2_size_to_l1(s, s->size) <<
           (s->cluster_bits + s->l2_bits);
}

/* Where [@pos, @pos + @size) of the VM state lies, or -EINVAL. */
static int64_t vm_state_at(BDRVQcow2State *s, int64_t pos, int64_t size)
{
    int64_t start = qcow2_vm_state_offset(s);

    return pos > INT64_MAX - start - size ? -EINVAL : start + pos;
}

static int do_save_vmstate(BlockDriverState *bs, const void *buf,
                           int64_t pos, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t off = vm_state_at(s, pos, size);

    if (!s->writable) {
        return s->signaled_corruption ? -EIO : -EACCES;
    }
    return off < 0 ? (int)off : qcow2_write(bs, off, size, buf);
}

static int do_load_vmstate(BlockDriverState *bs, void *buf, int64_t pos,
                           int64_t size)
{
    int64_t off = vm_state_at(bs->opaque, pos, size);

    return off < 0 ? (int)off : qcow2_read(bs, off, size, buf);
}

/* A resize waits for every write in flight: all of the disk is its. */
int qcow2_truncate_entry(BlockDriverState *bs, int64_t offset,
                         bool exact, PreallocMode prealloc,
                         Error **errp)
{
    Qcow2Range r;
    int ret;

    qcow2_lock(bs);
    qcow2_range_lock(bs, &r, 0, UINT64_MAX);
    ret = qcow2_truncate(bs, offset, exact, prealloc, errp);
    qcow2_range_unlock(bs, &r);
    qcow2_unlock(bs);
    return ret;
}

/* The VM state lies past the guest disk: no guest range to own. */
int qcow2_save_vmstate(BlockDriverState *bs, const void *buf,
                       int64_t pos, int64_t size)
{
    int ret;

    qcow2_lock(bs);
    ret = do_save_vmstate(bs, buf, pos, size);
    qcow2_unlock(bs);
    return ret;
}

int qcow2_load_vmstate(BlockDriverState *bs, void *buf, int64_t pos,
                       int64_t size)
{
    int ret;

    qcow2_lock(bs);
    ret = do_load_vmstate(bs, buf, pos, size);
    qcow2_unlock(bs);
    return ret;
}
