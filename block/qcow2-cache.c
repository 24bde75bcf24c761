/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-cache.c: the table caches (L2 tables and refcount blocks): a fixed
 * number of cluster-sized entries, least recently used out first, dirty
 * entries written back (after the overlap checks) on eviction and flush.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

Qcow2Cache *qcow2_cache_create(int size, int cluster_size)
{
    Qcow2Cache *c = qemu_xzalloc(sizeof(*c));

    c->size = size;
    c->cluster_size = cluster_size;
    c->offset = qemu_xnew0(int64_t, size);
    c->dirty = qemu_xnew0(bool, size);
    c->past_eof = qemu_xnew0(bool, size);
    c->lru = qemu_xnew0(uint64_t, size);
    c->tables = qemu_xmalloc((size_t)size * cluster_size);
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    if (!c) {
        return;
    }
    free(c->offset);
    free(c->dirty);
    free(c->past_eof);
    free(c->lru);
    free(c->tables);
    free(c);
}

static uint8_t *cache_table(Qcow2Cache *c, int i)
{
    return c->tables + (size_t)i * c->cluster_size;
}

/*
 * With inactive-L2 overlap checks on, a metadata write is refused (as by
 * QEMU) while a snapshot's L1 table is invalid: its L2 tables cannot be
 * found, so the write cannot be proven not to hit one.
 */
static int check_inactive_l1_tables(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint32_t i = 0; (s->overlap_check & QCOW2_OL_INACTIVE_L2) &&
         s->snapshots && i < s->nb_snapshots; i++) {
        int ret = qcow2_validate_table(bs, s->snapshots[i].l1_table_offset,
                                       s->snapshots[i].l1_size, 8,
                                       QCOW2_MAX_L1_BYTES, "", NULL);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * Write the tables @c waits for and flush the file (a barrier, even if
 * they had been written already: a plain flush of theirs may not have
 * reached the disk yet); then @c waits for nothing more.
 */
static int flush_dependency(BlockDriverState *bs, Qcow2Cache *c)
{
    Qcow2Cache *dependency = c->depends;
    int ret;

    c->depends = NULL;
    ret = qcow2_cache_flush(bs, dependency);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        c->depends = dependency;
    }
    return ret;
}

static int cache_write_entry(BlockDriverState *bs, Qcow2Cache *c, int i)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!c->dirty[i]) {
        return 0;
    }
    if (c->past_eof[i]) {
        qcow2_signal_corruption(bs, true, "Preventing write of a metadata "
                                "table at offset %#" PRIx64 ", beyond the end "
                                "of the image file", (uint64_t)c->offset[i]);
        c->dirty[i] = false;
        return -EIO;
    }
    if (s->signaled_corruption) {
        /* After a corruption was found nothing more is written. */
        return -EIO;
    }
    if (c->depends) {
        ret = flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    /* As QEMU's qcow2_cache_entry_flush(): anything but its own kind. */
    ret = qcow2_pre_write_overlap_check(bs, c == s->l2_cache ?
                                        QCOW2_OL_ACTIVE_L2 :
                                        QCOW2_OL_REFCOUNT_BLOCK,
                                        c->offset[i], c->cluster_size);
    if (ret < 0) {
        return ret;
    }
    ret = check_inactive_l1_tables(bs);
    if (ret < 0) {
        return ret;
    }
    /* As QEMU's qcow2_cache_entry_flush(), for blkdebug rules. */
    bdrv_debug_event(bs->file->bs, c == s->l2_cache ?
                     BLKDBG_L2_UPDATE : BLKDBG_REFBLOCK_UPDATE_PART);
    ret = bdrv_child_pwrite(bs->file, c->offset[i], c->cluster_size,
                            cache_table(c, i), 0);
    if (ret < 0) {
        return ret;
    }
    c->dirty[i] = false;
    return 0;
}

int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    int result = 0;

    for (int i = 0; i < c->size; i++) {
        int ret = cache_write_entry(bs, c, i);
        if (ret < 0 && result == 0) {
            result = ret;
        }
    }
    return result;
}

/*
 * @c's tables may reach the disk only after @dependency's (QEMU's
 * qcow2_cache_set_dependency()).  One the other way round is resolved
 * first, by writing the tables it held back, so that the two caches never
 * wait for each other.
 */
int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency)
{
    if (dependency->depends) {
        int ret = flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

static int cache_find_slot(BlockDriverState *bs, Qcow2Cache *c,
                           uint64_t offset, bool *hit)
{
    int victim = -1;

    for (int i = 0; i < c->size; i++) {
        if (c->offset[i] == (int64_t)offset) {
            *hit = true;
            return i;
        }
    }
    *hit = false;
    for (int i = 0; i < c->size; i++) {
        if (c->offset[i] == 0) {
            victim = i;
            break;
        }
        if (victim < 0 || c->lru[i] < c->lru[victim]) {
            victim = i;
        }
    }
    if (c->offset[victim]) {
        int ret = cache_write_entry(bs, c, victim);
        if (ret < 0) {
            return ret;
        }
    }
    c->offset[victim] = 0;
    c->dirty[victim] = false;
    return victim;
}

static int cache_do_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                        void **table, bool read_from_disk)
{
    bool hit;
    int i;

    if (offset == 0) {
        return -EIO;
    }
    if (offset & (c->cluster_size - 1)) {
        qcow2_signal_corruption(bs, true, "Cannot get entry from %s cache: "
                                "Offset %#" PRIx64 " is unaligned",
                                c == ((BDRVQcow2State *)bs->opaque)->l2_cache
                                ? "L2 table" : "refcount block", offset);
        return -EIO;
    }
    i = cache_find_slot(bs, c, offset, &hit);
    if (i < 0) {
        return i;
    }
    if (!hit) {
        if (read_from_disk) {
            int64_t flen = bdrv_getlength(bs->file->bs);
            int ret;
            c->past_eof[i] = flen >= 0 && offset >= (uint64_t)flen;
            if (c->past_eof[i]) {
                /*
                 * A table past the end of the file reads as zeros (as in
                 * QEMU); it is a corrupt pointer, so it is never written.
                 */
                memset(cache_table(c, i), 0, c->cluster_size);
                ret = 0;
            } else {
                /* As QEMU's qcow2_cache_do_get(), for blkdebug rules. */
                if (c == ((BDRVQcow2State *)bs->opaque)->l2_cache) {
                    bdrv_debug_event(bs->file->bs, BLKDBG_L2_LOAD);
                }
                ret = bdrv_child_pread(bs->file, offset, c->cluster_size,
                                       cache_table(c, i));
            }
            if (ret < 0) {
                return ret;
            }
        } else {
            memset(cache_table(c, i), 0, c->cluster_size);
            c->past_eof[i] = false;
        }
        c->offset[i] = offset;
    } else if (!read_from_disk) {
        memset(cache_table(c, i), 0, c->cluster_size);
    }
    c->lru[i] = ++c->lru_counter;
    *table = cache_table(c, i);
    return 0;
}

int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table)
{
    return cache_do_get(bs, c, offset, table, true);
}

int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table)
{
    return cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table)
{
    size_t i = ((uint8_t *)table - c->tables) / c->cluster_size;

    c->dirty[i] = true;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    for (int i = 0; i < c->size; i++) {
        if (c->offset[i] == (int64_t)offset) {
            c->offset[i] = 0;
            c->dirty[i] = false;
        }
    }
}

void qcow2_cache_clear(Qcow2Cache *c)
{
    for (int i = 0; i < c->size; i++) {
        c->offset[i] = 0;
        c->dirty[i] = false;
    }
}

int qcow2_flush_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    /* As QEMU: nothing flushes a dropped node (qcow2_signal_corruption). */
    if (bs->drv_dropped) {
        return 0;
    }
    ret = qcow2_cache_flush(bs, s->l2_cache);
    if (ret < 0) {
        return ret;
    }
    /*
     * As QEMU: while the dirty bit is set (lazy refcounts), the refcounts
     * on disk need not be accurate, so a flush leaves them in the cache;
     * close, inactivation and marking clean write them.
     */
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return 0;
    }
    return qcow2_cache_flush(bs, s->refcount_cache);
}
