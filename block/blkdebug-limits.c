/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug-limits.c: the request limits a blkdebug node imposes (QEMU's
 * align, max-transfer, opt-/max-write-zero, opt-/max-discard options),
 * and the checks that every request reaching it respects them.  The block
 * layer pads and splits requests to meet a node's limits; a request that
 * breaks one is a block-layer bug, and the process stops there with a
 * message, as QEMU's assertions stop it.
 */
#include "qemu/osdep.h"
#include "block/blkdebug.h"

/* Remove @key from @options as a size (0 when absent). */
static int take_size(QDict *options, const char *key, uint64_t *out,
                     Error **errp)
{
    if (qdict_get_size(options, key, 0, out, errp) < 0) {
        return -EINVAL;
    }
    qdict_del(options, key);
    return 0;
}

/* @value (if set) below INT_MAX and a multiple of @align, or an error. */
static int check_limit(const char *name, uint64_t value, uint64_t align,
                       Error **errp)
{
    if (value && (value >= INT_MAX || value % align)) {
        error_setg(errp, "Cannot meet constraints with %s %" PRIu64, name,
                   value);
        return -EINVAL;
    }
    return 0;
}

int blkdebug_take_limits(BlockDriverState *bs, QDict *options, Error **errp)
{
    uint64_t align, max_transfer, opt_wz, max_wz, opt_discard, max_discard;
    uint64_t min_align;

    if (take_size(options, "align", &align, errp) < 0 ||
        take_size(options, "max-transfer", &max_transfer, errp) < 0 ||
        take_size(options, "opt-write-zero", &opt_wz, errp) < 0 ||
        take_size(options, "max-write-zero", &max_wz, errp) < 0 ||
        take_size(options, "opt-discard", &opt_discard, errp) < 0 ||
        take_size(options, "max-discard", &max_discard, errp) < 0) {
        return -EINVAL;
    }
    if (align && (align >= INT_MAX || (align & (align - 1)))) {
        error_setg(errp, "Cannot meet constraints with align %" PRIu64,
                   align);
        return -EINVAL;
    }
    /* What the image below takes constrains the rest as well (QEMU). */
    min_align = MAX(MAX(align, bs->file->bs->bl.request_alignment), 1);
    if (check_limit("max-transfer", max_transfer, min_align, errp) < 0 ||
        check_limit("opt-write-zero", opt_wz, min_align, errp) < 0 ||
        check_limit("max-write-zero", max_wz, MAX(opt_wz, min_align),
                    errp) < 0 ||
        check_limit("opt-discard", opt_discard, min_align, errp) < 0 ||
        check_limit("max-discard", max_discard, MAX(opt_discard, min_align),
                    errp) < 0) {
        return -EINVAL;
    }

    /* As QEMU's blkdebug_refresh_limits: only what was given overrides. */
    if (align) {
        bs->bl.request_alignment = (uint32_t)align;
    }
    if (max_transfer) {
        bs->bl.max_transfer = (uint32_t)max_transfer;
    }
    if (opt_wz) {
        bs->bl.pwrite_zeroes_alignment = (uint32_t)opt_wz;
    }
    if (max_wz) {
        bs->bl.max_pwrite_zeroes = (int64_t)max_wz;
    }
    if (opt_discard) {
        bs->bl.pdiscard_alignment = (uint32_t)opt_discard;
    }
    if (max_discard) {
        bs->bl.max_pdiscard = (int64_t)max_discard;
    }
    return 0;
}

/* "blkdebug: discard of 512 bytes at 1000 <what is wrong>", then abort. */
static void QEMU_PRINTF(4, 5) violation(const char *kind, int64_t offset,
                                        int64_t bytes, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "blkdebug: %s of %" PRId64 " bytes at %" PRId64 " ",
            kind, bytes, offset);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void check_aligned(const BlockDriverState *bs, const char *kind,
                          int64_t offset, int64_t bytes)
{
    int64_t a = bs->bl.request_alignment;

    if (a > 1 && ((offset | bytes) & (a - 1))) {
        violation(kind, offset, bytes, "is not aligned to %" PRId64, a);
    }
}

/* A small request that must not cross a boundary of @align. */
static void check_inside(const char *kind, int64_t offset, int64_t bytes,
                         int64_t align)
{
    if (align > 1 && offset % align && (offset + bytes) % align &&
        DIV_ROUND_UP(offset, align) != DIV_ROUND_UP(offset + bytes, align)) {
        violation(kind, offset, bytes, "crosses a boundary of %" PRId64,
                  align);
    }
}

void blkdebug_check_rw(const BlockDriverState *bs, bool write,
                       int64_t offset, int64_t bytes)
{
    const char *kind = write ? "write" : "read";

    check_aligned(bs, kind, offset, bytes);
    if (bs->bl.max_transfer && bytes > (int64_t)bs->bl.max_transfer) {
        violation(kind, offset, bytes, "exceeds max-transfer %" PRIu32,
                  bs->bl.max_transfer);
    }
}

bool blkdebug_check_zeroes(const BlockDriverState *bs, int64_t offset,
                           int64_t bytes)
{
    int64_t align = MAX(bs->bl.request_alignment,
                        bs->bl.pwrite_zeroes_alignment);

    /*
     * As QEMU: pieces below the alignment are refused, so that the block
     * layer's fallback to writes is tested too.
     */
    if (bytes < align) {
        check_inside("zero write", offset, bytes, align);
        return false;
    }
    if (align > 1 && (offset % align || bytes % align)) {
        violation("zero write", offset, bytes, "is not aligned to %" PRId64,
                  align);
    }
    if (bs->bl.max_pwrite_zeroes && bytes > bs->bl.max_pwrite_zeroes) {
        violation("zero write", offset, bytes,
                  "exceeds max-write-zero %" PRId64,
                  bs->bl.max_pwrite_zeroes);
    }
    return true;
}

bool blkdebug_check_discard(const BlockDriverState *bs, int64_t offset,
                            int64_t bytes)
{
    int64_t align = bs->bl.pdiscard_alignment;

    /* As QEMU: pieces below the request alignment are refused. */
    if (bytes < (int64_t)bs->bl.request_alignment) {
        check_inside("discard", offset, bytes, align);
        return false;
    }
    check_aligned(bs, "discard", offset, bytes);
    if (align > 1 && bytes >= align && (offset % align || bytes % align)) {
        violation("discard", offset, bytes, "is not aligned to %" PRId64,
                  align);
    }
    if (bs->bl.max_pdiscard && bytes > bs->bl.max_pdiscard) {
        violation("discard", offset, bytes, "exceeds max-discard %" PRId64,
                  bs->bl.max_pdiscard);
    }
    return true;
}
