/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirty-bitmap.h: in-memory dirty bitmaps of a node (QEMU's
 * BdrvDirtyBitmap): one bit per granularity-sized chunk of the node, set by
 * every write, zero write and discard the node receives while enabled.
 * Formats that keep bitmaps (qcow2) load them at open and store them back.
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "block/block.h"

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;

/* The longest name (QEMU's BDRV_BITMAP_MAX_NAME_SIZE). */
#define BDRV_BITMAP_MAX_NAME_SIZE 1023

/* What bdrv_dirty_bitmap_check() refuses (QEMU's flags). */
#define BDRV_BITMAP_BUSY 0x1
#define BDRV_BITMAP_RO 0x2
#define BDRV_BITMAP_INCONSISTENT 0x4
#define BDRV_BITMAP_DEFAULT \
    (BDRV_BITMAP_BUSY | BDRV_BITMAP_RO | BDRV_BITMAP_INCONSISTENT)
#define BDRV_BITMAP_ALLOW_RO (BDRV_BITMAP_BUSY | BDRV_BITMAP_INCONSISTENT)

/*
 * A new, empty, enabled, non-persistent bitmap named @name over @bs's
 * current length.  @granularity: a power of two, at least 512.  NULL with
 * "Bitmap already exists: x" or "Bitmap name too long: x".
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp);
/* Drop @bm from its node and free it. */
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm);
/* Drop every bitmap of @bs (the node closes). */
void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs);
BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name);
/* The bitmaps of @bs, newest first (QEMU's order): first with @prev NULL. */
BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BlockDriverState *bs,
                                        BdrvDirtyBitmap *prev);
#define FOR_EACH_DIRTY_BITMAP(bs, bm) \
    for ((bm) = bdrv_dirty_bitmap_next((bs), NULL); (bm); \
         (bm) = bdrv_dirty_bitmap_next((bs), (bm)))

/* Mark [@offset, @offset+@bytes) dirty in every enabled bitmap of @bs. */
void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes);
/* @bs is now @size bytes long: every bitmap follows (new bits clean). */
void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t size);

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bm);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bm);
/* Bytes of the node the bitmap covers. */
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bm);
void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bm);
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bm);
/* Kept in the image by the format (qcow2). */
bool bdrv_dirty_bitmap_get_persistence(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bm, bool persistent);
/* Loaded from a read-only node: may not change. */
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool readonly);
/*
 * Found in use in the image (its last writer did not store it): contents
 * unknown.  Setting it also disables the bitmap, for good.
 */
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm);

/*
 * -1 with QEMU's message when @bm is what @flags (BDRV_BITMAP_*) refuse:
 * "Bitmap 'x' is readonly and cannot be modified", "... is inconsistent
 * and cannot be used" (with a hint), ...; 0 otherwise.
 */
int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bm, unsigned flags,
                            Error **errp);

/* Whether the chunk holding byte @offset is dirty. */
bool bdrv_dirty_bitmap_get(const BdrvDirtyBitmap *bm, int64_t offset);
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset,
                           int64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bm, int64_t offset,
                             int64_t bytes);
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bm);
/* The first dirty byte offset at or after @offset, or -1. */
int64_t bdrv_dirty_bitmap_next_dirty(const BdrvDirtyBitmap *bm,
                                     int64_t offset);
/* The first clean byte offset at or after @offset, or the size. */
int64_t bdrv_dirty_bitmap_next_zero(const BdrvDirtyBitmap *bm,
                                    int64_t offset);
/* Bytes covered by dirty chunks (QEMU's dirty count). */
int64_t bdrv_get_dirty_count(const BdrvDirtyBitmap *bm);

/*
 * @dst |= @src, whatever their granularities, as QEMU's merge: @dst must
 * pass the default check, @src may be read-only; both cover the same
 * size ("Bitmaps are of different sizes ...").  -1 with @errp.
 */
int bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dst, const BdrvDirtyBitmap *src,
                            Error **errp);

/*
 * The serialized form formats store (qcow2's bitmap data): bit i is chunk
 * i, least significant bit first in each byte, the whole padded to 8
 * bytes.  Bytes [@start, @start+@len) of it are copied out of / into the
 * bitmap; ones() sets every chunk those bytes cover.
 */
uint64_t bdrv_dirty_bitmap_serialized_size(const BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_serialize(const BdrvDirtyBitmap *bm, uint8_t *buf,
                                 uint64_t start, uint64_t len);
void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bm, const uint8_t *buf,
                                   uint64_t start, uint64_t len);
void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bm, uint64_t start,
                                        uint64_t len);
/* Whether serialized bytes [@start, @start+@len) hold any dirty bit. */
bool bdrv_dirty_bitmap_serialized_dirty(const BdrvDirtyBitmap *bm,
                                        uint64_t start, uint64_t len);

/* ---- formats that keep bitmaps (through the driver table) ------------ */

/* Whether @bs's format can keep persistent bitmaps (qcow2 v3). */
bool bdrv_supports_persistent_dirty_bitmap(BlockDriverState *bs);
/* Whether a new persistent bitmap fits in @bs; -1 with QEMU's message. */
int bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                    uint32_t granularity, Error **errp);
/* Remove the persistent bitmap @name from the image now (absent: 0). */
int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                        const char *name, Error **errp);
/*
 * QEMU's default granularity for a new bitmap of @bs: the cluster size
 * clamped to [4 KiB, 64 KiB], else 64 KiB.
 */
uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs);
/* QEMU's auto node name ("#blockN"), for messages naming the node. */
const char *bdrv_get_node_name(BlockDriverState *bs);

#endif /* BLOCK_DIRTY_BITMAP_H */
