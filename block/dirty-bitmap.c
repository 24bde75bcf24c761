/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirty-bitmap.c: a node's in-memory dirty bitmaps.  Bits live in 4 KiB
 * chunks allocated on first use, so a huge bitmap that is mostly clean
 * (512-byte granularity over terabytes) costs little and scans fast.
 */
#include "qemu/osdep.h"
#include <assert.h>
#include "qemu/cutils.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"

#define CHUNK_BYTES 4096
#define CHUNK_BITS (CHUNK_BYTES * 8)

struct BdrvDirtyBitmap {
    BlockDriverState *bs;
    char *name;
    int gran_bits;
    int64_t size;           /* bytes of the node */
    uint64_t nb_bits;       /* chunks of the node: one bit each */
    uint8_t **chunks;       /* CHUNK_BYTES each; NULL: all clean */
    uint64_t nb_chunks;
    bool disabled;
    bool persistent;
    bool readonly;
    bool inconsistent;
    BdrvDirtyBitmap *next;
};

static uint64_t bits_for(int64_t size, int gran_bits)
{
    return ((uint64_t)size + (UINT64_C(1) << gran_bits) - 1) >> gran_bits;
}

static void set_geometry(BdrvDirtyBitmap *bm, int64_t size)
{
    uint64_t old = bm->nb_chunks;

    bm->size = size;
    bm->nb_bits = bits_for(size, bm->gran_bits);
    bm->nb_chunks = DIV_ROUND_UP(bm->nb_bits, (uint64_t)CHUNK_BITS);
    for (uint64_t c = bm->nb_chunks; c < old; c++) {
        free(bm->chunks[c]);
    }
    bm->chunks = qemu_xrealloc(bm->chunks, (bm->nb_chunks + 1) *
                               sizeof(*bm->chunks));
    for (uint64_t c = old; c < bm->nb_chunks; c++) {
        bm->chunks[c] = NULL;
    }
}

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp)
{
    BdrvDirtyBitmap *bm;
    int64_t size;

    assert(granularity >= 512 && !(granularity & (granularity - 1)));
    if (name) {
        if (bdrv_find_dirty_bitmap(bs, name)) {
            error_setg(errp, "Bitmap already exists: %s", name);
            return NULL;
        }
        if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
            error_setg(errp, "Bitmap name too long: %s", name);
            return NULL;
        }
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "could not get length of device");
        return NULL;
    }
    bm = qemu_xzalloc(sizeof(*bm));
    bm->bs = bs;
    bm->name = name ? qemu_xstrdup(name) : NULL;
    bm->gran_bits = __builtin_ctz(granularity);
    set_geometry(bm, size);
    /* As QEMU's list: the newest first (the order stores see them in). */
    bm->next = bs->dirty_bitmaps;
    bs->dirty_bitmaps = bm;
    return bm;
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    BdrvDirtyBitmap **p;

    if (!bm) {
        return;
    }
    for (p = &bm->bs->dirty_bitmaps; *p; p = &(*p)->next) {
        if (*p == bm) {
            *p = bm->next;
            break;
        }
    }
    for (uint64_t c = 0; c < bm->nb_chunks; c++) {
        free(bm->chunks[c]);
    }
    free(bm->chunks);
    free(bm->name);
    free(bm);
}

void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs)
{
    while (bs->dirty_bitmaps) {
        bdrv_release_dirty_bitmap(bs->dirty_bitmaps);
    }
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name)
{
    BdrvDirtyBitmap *bm;

    for (bm = bs->dirty_bitmaps; bm; bm = bm->next) {
        if (bm->name && !strcmp(bm->name, name)) {
            return bm;
        }
    }
    return NULL;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BlockDriverState *bs,
                                        BdrvDirtyBitmap *prev)
{
    return prev ? prev->next : bs->dirty_bitmaps;
}

/* ---- bits ------------------------------------------------------------- */

static bool test_bit(const BdrvDirtyBitmap *bm, uint64_t bit)
{
    const uint8_t *c = bm->chunks[bit / CHUNK_BITS];

    bit %= CHUNK_BITS;
    return c && (c[bit / 8] >> (bit % 8)) & 1;
}

/* Set (@value) or clear bits [@first, @first+@n). */
static void change_bits(BdrvDirtyBitmap *bm, uint64_t first, uint64_t n,
                        bool value)
{
    while (n) {
        uint64_t ci = first / CHUNK_BITS, b = first % CHUNK_BITS;
        uint64_t len = MIN(n, (uint64_t)CHUNK_BITS - b);
        uint8_t *c = bm->chunks[ci];

        if (!c && value) {
            c = bm->chunks[ci] = qemu_xzalloc(CHUNK_BYTES);
        }
        if (c) {
            if (!b && len == CHUNK_BITS && !value) {
                free(c);
                bm->chunks[ci] = NULL;
            } else {
                uint64_t i = b, end = b + len;
                for (; i < end && (i % 8); i++) {
                    c[i / 8] = value ? c[i / 8] | (1u << (i % 8))
                                     : c[i / 8] & ~(1u << (i % 8));
                }
                if (end - i >= 8) {
                    memset(c + i / 8, value ? 0xff : 0, (end - i) / 8);
                    i += (end - i) / 8 * 8;
                }
                for (; i < end; i++) {
                    c[i / 8] = value ? c[i / 8] | (1u << (i % 8))
                                     : c[i / 8] & ~(1u << (i % 8));
                }
            }
        }
        first += len;
        n -= len;
    }
}

/* Bits covering bytes [@offset, @offset+@bytes), clipped to the size. */
static bool byte_range_bits(const BdrvDirtyBitmap *bm, int64_t offset,
                            int64_t bytes, uint64_t *first, uint64_t *n)
{
    uint64_t end;

    if (offset < 0 || bytes <= 0 || offset >= bm->size) {
        return false;
    }
    end = (uint64_t)MIN(offset + bytes, bm->size);
    *first = (uint64_t)offset >> bm->gran_bits;
    *n = bits_for(end, bm->gran_bits) - *first;
    return *n > 0;
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset,
                           int64_t bytes)
{
    uint64_t first, n;

    if (byte_range_bits(bm, offset, bytes, &first, &n)) {
        change_bits(bm, first, n, true);
    }
}

void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset,
                             int64_t bytes)
{
    uint64_t first, n;

    if (byte_range_bits(bm, offset, bytes, &first, &n)) {
        change_bits(bm, first, n, false);
    }
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    for (uint64_t c = 0; c < bm->nb_chunks; c++) {
        free(bm->chunks[c]);
        bm->chunks[c] = NULL;
    }
}

bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bm, int64_t offset)
{
    if (offset < 0 || offset >= bm->size) {
        return false;
    }
    return test_bit(bm, (uint64_t)offset >> bm->gran_bits);
}

/* The first bit at or after @bit that is @value, or nb_bits. */
static uint64_t find_bit(const BdrvDirtyBitmap *bm, uint64_t bit, bool value)
{
    while (bit < bm->nb_bits) {
        const uint8_t *c = bm->chunks[bit / CHUNK_BITS];
        uint64_t chunk_end = MIN((bit / CHUNK_BITS + 1) * CHUNK_BITS,
                                 bm->nb_bits);

        if (!c) {
            if (!value) {
                return bit;
            }
            bit = chunk_end;
            continue;
        }
        for (; bit < chunk_end; bit++) {
            uint64_t b = bit % CHUNK_BITS;
            uint8_t byte = c[b / 8];

            if (!(b % 8) && byte == (value ? 0 : 0xff) && bit + 8 <= chunk_end) {
                bit += 7;
                continue;
            }
            if (((byte >> (b % 8)) & 1) == value) {
                return bit;
            }
        }
    }
    return bm->nb_bits;
}

int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bm,
                                     int64_t offset)
{
    uint64_t bit;

    if (offset < 0 || offset >= bm->size) {
        return -1;
    }
    bit = find_bit(bm, (uint64_t)offset >> bm->gran_bits, true);
    if (bit >= bm->nb_bits) {
        return -1;
    }
    return MAX(offset, (int64_t)(bit << bm->gran_bits));
}

int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bm,
                                    int64_t offset)
{
    uint64_t bit;

    if (offset < 0 || offset >= bm->size) {
        return bm->size;
    }
    bit = find_bit(bm, (uint64_t)offset >> bm->gran_bits, false);
    if (bit >= bm->nb_bits) {
        return bm->size;
    }
    return MAX(offset, (int64_t)MIN(bit << bm->gran_bits, (uint64_t)bm->size));
}

int64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bm)
{
    int64_t count = 0, off = 0;

    while ((off = bdrv_dirty_bitmap_next_dirty(bm, off)) >= 0) {
        int64_t end = bdrv_dirty_bitmap_next_zero(bm, off);
        count += end - off;
        off = end;
    }
    return count;
}

void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BdrvDirtyBitmap *bm;

    for (bm = bs->dirty_bitmaps; bm; bm = bm->next) {
        if (!bm->disabled && !bm->readonly) {
            bdrv_set_dirty_bitmap(bm, offset, bytes);
        }
    }
}

void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t size)
{
    BdrvDirtyBitmap *bm;

    for (bm = bs->dirty_bitmaps; bm; bm = bm->next) {
        uint64_t old_bits = bm->nb_bits;

        set_geometry(bm, size);
        if (bm->nb_bits < old_bits && bm->nb_bits % CHUNK_BITS) {
            /* Clear the tail of the last chunk kept. */
            change_bits(bm, bm->nb_bits,
                        CHUNK_BITS - bm->nb_bits % CHUNK_BITS, false);
        }
    }
}

/* ---- attributes ------------------------------------------------------- */

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bm)
{
    return bm->name;
}

uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bm)
{
    return UINT32_C(1) << bm->gran_bits;
}

int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bm)
{
    return bm->size;
}

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bm)
{
    return !bm->disabled;
}

void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    bm->disabled = false;
}

void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    bm->disabled = true;
}

bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bm)
{
    return bm->persistent;
}

void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bm, bool persistent)
{
    bm->persistent = persistent;
}

bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bm)
{
    return bm->readonly;
}

void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool readonly)
{
    bm->readonly = readonly;
}

bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bm)
{
    return bm->inconsistent;
}

void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm)
{
    bm->inconsistent = true;
    bm->disabled = true;
}

int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bm, unsigned flags,
                            Error **errp)
{
    if ((flags & BDRV_BITMAP_RO) && bm->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified",
                   bm->name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_INCONSISTENT) && bm->inconsistent) {
        error_setg(errp, "Bitmap '%s' is inconsistent and cannot be used",
                   bm->name);
        error_append_hint(errp, "Try block-dirty-bitmap-remove to delete"
                          " this bitmap from disk\n");
        return -1;
    }
    return 0;
}

int bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dst, const BdrvDirtyBitmap *src,
                            Error **errp)
{
    int64_t off = 0;

    if (bdrv_dirty_bitmap_check(dst, BDRV_BITMAP_DEFAULT, errp) < 0 ||
        bdrv_dirty_bitmap_check(src, BDRV_BITMAP_ALLOW_RO, errp) < 0) {
        return -1;
    }
    if (src->size != dst->size) {
        error_setg(errp, "Bitmaps are of different sizes (destination size "
                   "is %" PRId64 ", source size is %" PRId64 ") and can't "
                   "be merged", dst->size, src->size);
        return -1;
    }
    if (src == dst) {
        return 0;
    }
    while ((off = bdrv_dirty_bitmap_next_dirty(src, off)) >= 0) {
        int64_t end = bdrv_dirty_bitmap_next_zero(src, off);

        bdrv_set_dirty_bitmap(dst, off, end - off);
        off = end;
    }
    return 0;
}

/* ---- serialization ---------------------------------------------------- */

uint64_t bdrv_dirty_bitmap_serialized_size(const BdrvDirtyBitmap *bm)
{
    return DIV_ROUND_UP(bm->nb_bits, 64) * 8;
}

void bdrv_dirty_bitmap_serialize(const BdrvDirtyBitmap *bm, uint8_t *buf,
                                 uint64_t start, uint64_t len)
{
    uint64_t pos = start, end = start + len;

    while (pos < end) {
        uint64_t ci = pos / CHUNK_BYTES, b = pos % CHUNK_BYTES;
        uint64_t n = MIN(end - pos, (uint64_t)CHUNK_BYTES - b);

        if (ci < bm->nb_chunks && bm->chunks[ci]) {
            memcpy(buf + (pos - start), bm->chunks[ci] + b, n);
        } else {
            memset(buf + (pos - start), 0, n);
        }
        pos += n;
    }
}

/* Clear the bits past the end that a deserialization may have set. */
static void clear_tail(BdrvDirtyBitmap *bm)
{
    uint64_t bits = bm->nb_chunks * CHUNK_BITS;

    if (bits > bm->nb_bits) {
        change_bits(bm, bm->nb_bits, bits - bm->nb_bits, false);
    }
}

void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bm, const uint8_t *buf,
                                   uint64_t start, uint64_t len)
{
    uint64_t pos = start, end = MIN(start + len,
                                    bm->nb_chunks * CHUNK_BYTES);

    while (pos < end) {
        uint64_t ci = pos / CHUNK_BYTES, b = pos % CHUNK_BYTES;
        uint64_t n = MIN(end - pos, (uint64_t)CHUNK_BYTES - b);
        const uint8_t *src = buf + (pos - start);
        bool any = false;

        for (uint64_t i = 0; i < n && !any; i++) {
            any = src[i] != 0;
        }
        if (any && !bm->chunks[ci]) {
            bm->chunks[ci] = qemu_xzalloc(CHUNK_BYTES);
        }
        if (bm->chunks[ci]) {
            memcpy(bm->chunks[ci] + b, src, n);
        }
        pos += n;
    }
    clear_tail(bm);
}

void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bm, uint64_t start,
                                        uint64_t len)
{
    uint64_t first = start * 8;

    if (first < bm->nb_bits) {
        change_bits(bm, first, MIN(len * 8, bm->nb_bits - first), true);
    }
}

bool bdrv_dirty_bitmap_serialized_dirty(const BdrvDirtyBitmap *bm,
                                        uint64_t start, uint64_t len)
{
    uint64_t first = start * 8;

    if (first >= bm->nb_bits) {
        return false;
    }
    return find_bit(bm, first, true) < MIN(bm->nb_bits, (start + len) * 8);
}

/* ---- through the format ----------------------------------------------- */

bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs)
{
    return bs->drv && bs->drv->bdrv_supports_persistent_dirty_bitmap &&
           bs->drv->bdrv_supports_persistent_dirty_bitmap(bs);
}

int bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                    uint32_t granularity, Error **errp)
{
    if (!bs->drv || !bs->drv->bdrv_can_store_new_dirty_bitmap) {
        error_setg_errno(errp, ENOTSUP, "Can't store persistent bitmaps to %s",
                         bdrv_get_node_name(bs));
        return -1;
    }
    return bs->drv->bdrv_can_store_new_dirty_bitmap(bs, name, granularity,
                                                    errp);
}

int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                        const char *name, Error **errp)
{
    if (!bs->drv || !bs->drv->bdrv_remove_persistent_dirty_bitmap) {
        return 0;
    }
    return bs->drv->bdrv_remove_persistent_dirty_bitmap(bs, name, errp);
}

uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs)
{
    BlockDriverInfo bdi;

    memset(&bdi, 0, sizeof(bdi));
    if (bdrv_get_info(bs, &bdi) >= 0 && bdi.cluster_size > 0) {
        return MIN(65536, MAX(4096, bdi.cluster_size));
    }
    return 65536;
}

const char *bdrv_get_node_name(BlockDriverState *bs)
{
    static unsigned counter;

    if (!bs->node_name[0]) {
        snprintf(bs->node_name, sizeof(bs->node_name), "#block%03u",
                 ++counter);
    }
    return bs->node_name;
}
