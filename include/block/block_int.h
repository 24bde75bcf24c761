/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block_int.h: what drivers see.  A driver is one static const BlockDriver
 * table; the core calls through it and never asks which driver it is.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include "block/block.h"
#include "qemu/coroutine.h"
#include "qemu/thread.h"

/* Roles of a child node, as QEMU's BdrvChildRole. */
typedef enum BdrvChildRole {
    BDRV_CHILD_DATA = 1 << 0,
    BDRV_CHILD_METADATA = 1 << 1,
    BDRV_CHILD_FILTERED = 1 << 2,
    BDRV_CHILD_COW = 1 << 3,
    BDRV_CHILD_PRIMARY = 1 << 4,
    BDRV_CHILD_IMAGE = BDRV_CHILD_DATA | BDRV_CHILD_METADATA,
} BdrvChildRole;

struct BdrvChild {
    BlockDriverState *bs;     /* the child node */
    BlockDriverState *parent; /* the node that owns this edge */
    char *name;               /* "file", "backing" */
    BdrvChildRole role;
    uint64_t perm;            /* what the parent holds on the child */
    uint64_t shared_perm;     /* what the parent lets others do */
};

/*
 * Points in a driver's work that a test filter (blkdebug) can react to,
 * QEMU's BlkdebugEvent with the same names and order ("l1_update", ...,
 * "none"; block/blkdebug.c has the names).  Drivers fire them on their
 * file child with bdrv_debug_event(); only some are fired so far.
 */
typedef enum BlkdebugEvent {
    BLKDBG_L1_UPDATE,
    BLKDBG_L1_GROW_ALLOC_TABLE,
    BLKDBG_L1_GROW_WRITE_TABLE,
    BLKDBG_L1_GROW_ACTIVATE_TABLE,
    BLKDBG_L2_LOAD,
    BLKDBG_L2_UPDATE,
    BLKDBG_L2_UPDATE_COMPRESSED,
    BLKDBG_L2_ALLOC_COW_READ,
    BLKDBG_L2_ALLOC_WRITE,
    BLKDBG_READ_AIO,
    BLKDBG_READ_BACKING_AIO,
    BLKDBG_READ_COMPRESSED,
    BLKDBG_WRITE_AIO,
    BLKDBG_WRITE_COMPRESSED,
    BLKDBG_VMSTATE_LOAD,
    BLKDBG_VMSTATE_SAVE,
    BLKDBG_COW_READ,
    BLKDBG_COW_WRITE,
    BLKDBG_REFTABLE_LOAD,
    BLKDBG_REFTABLE_GROW,
    BLKDBG_REFTABLE_UPDATE,
    BLKDBG_REFBLOCK_LOAD,
    BLKDBG_REFBLOCK_UPDATE,
    BLKDBG_REFBLOCK_UPDATE_PART,
    BLKDBG_REFBLOCK_ALLOC,
    BLKDBG_REFBLOCK_ALLOC_HOOKUP,
    BLKDBG_REFBLOCK_ALLOC_WRITE,
    BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS,
    BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE,
    BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE,
    BLKDBG_CLUSTER_ALLOC,
    BLKDBG_CLUSTER_ALLOC_BYTES,
    BLKDBG_CLUSTER_FREE,
    BLKDBG_FLUSH_TO_OS,
    BLKDBG_FLUSH_TO_DISK,
    BLKDBG_PWRITEV_RMW_HEAD,
    BLKDBG_PWRITEV_RMW_AFTER_HEAD,
    BLKDBG_PWRITEV_RMW_TAIL,
    BLKDBG_PWRITEV_RMW_AFTER_TAIL,
    BLKDBG_PWRITEV,
    BLKDBG_PWRITEV_ZERO,
    BLKDBG_PWRITEV_DONE,
    BLKDBG_EMPTY_IMAGE_PREPARE,
    BLKDBG_L1_SHRINK_WRITE_TABLE,
    BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS,
    BLKDBG_COR_WRITE,
    BLKDBG_CLUSTER_ALLOC_SPACE,
    BLKDBG_NONE,
    BLKDBG__MAX,
} BlkdebugEvent;

/*
 * What a node asks of the requests it receives, QEMU's BlockLimits (0: no
 * limit).  The core (block/io.c) pads and splits every request on the
 * node to meet them before the driver sees it; a driver sets them in its
 * bdrv_open.  A format node starts with its file child's max_transfer
 * (block.c); the other limits belong to the node alone.
 */
typedef struct BlockLimits {
    /*
     * Offsets and lengths are multiples of this (a power of two; 0 or 1:
     * any).  Reads and writes are padded by read-modify-write; discards
     * are cut at it.
     */
    uint32_t request_alignment;
    /* Largest read or write (a multiple of request_alignment). */
    uint32_t max_transfer;
    /*
     * Zero writes: the alignment the bulk is split at (a multiple of
     * request_alignment, not necessarily a power of two) and the largest
     * one (a multiple of that alignment).  Pieces the driver refuses
     * (-ENOTSUP) become writes of a zeroed buffer.
     */
    uint32_t pwrite_zeroes_alignment;
    int64_t max_pwrite_zeroes;
    /*
     * Discards: the same pair.  Discard is advisory: the unaligned head
     * and tail go down as small pieces the driver may ignore.
     */
    uint32_t pdiscard_alignment;
    int64_t max_pdiscard;
} BlockLimits;

struct BlockDriver {
    const char *format_name;
    int instance_size;
    /* Format drivers sit on a "file" child opened by the core. */
    bool is_format;
    /*
     * QEMU's name for that child when it is not "file" (blkdebug: "image");
     * "<alias>.x" options are then the child's, like "file.x".
     */
    const char *file_child_alias;
    /*
     * A filter (QEMU's is_filter): its file child holds its data, so
     * backing chains (bdrv_block_status_above(), `qemu-img map`) are
     * followed through it (bdrv_skip_filters()).
     */
    bool is_filter;
    /* Takes BDRV_REQ_WRITE_COMPRESSED writes (the compress filter's need). */
    bool supports_compressed_writes;
    /* Protocol drivers: prefix such as "file" (filenames "file:x"). */
    const char *protocol_name;
    /*
     * Protocol drivers that open a named file; the core strips the
     * "protocol:" prefix into bs->filename.  Others (null-co) get the name
     * as their "filename" option and set bs->filename themselves.
     */
    bool needs_filename;

    /*
     * Turn a "protocol:..." file name (e.g. blkdebug's "blkdebug:CONF:IMG")
     * into options before the core opens the file child; may be NULL.
     */
    int (*bdrv_parse_filename)(const char *filename, QDict *options,
                               Error **errp);
    /* A test filter's reaction to bdrv_debug_event(); may be NULL. */
    void (*bdrv_debug_event)(BlockDriverState *bs, BlkdebugEvent event);
    /*
     * Breakpoints (blkdebug): suspend the next request that fires @event
     * (by name) as @tag; drop @tag's breakpoints and resume its requests;
     * resume one request suspended as @tag; is one suspended as @tag?
     * -ENOENT for an unknown event or tag.
     */
    int (*bdrv_debug_breakpoint)(BlockDriverState *bs, const char *event,
                                 const char *tag);
    int (*bdrv_debug_remove_breakpoint)(BlockDriverState *bs,
                                        const char *tag);
    int (*bdrv_debug_resume)(BlockDriverState *bs, const char *tag);
    bool (*bdrv_debug_is_suspended)(BlockDriverState *bs, const char *tag);

    /* Score 0..100 that @buf (first bytes of the file) is this format. */
    int (*bdrv_probe)(const uint8_t *buf, int buf_size, const char *filename);

    /*
     * Open: bs->file is already open for format drivers.  Consume the
     * options you understand from @options (qdict_del/qdict_take_str); the
     * core rejects whatever is left.
     */
    int (*bdrv_open)(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp);
    void (*bdrv_close)(BlockDriverState *bs);

    /* Create: @opts validated against create_opts; holds "size". */
    int (*bdrv_create)(const char *filename, QDict *opts, Error **errp);
    const QemuOptDesc *create_opts;
    /*
     * The size a new image of this format needs with create options
     * @opts ("size" unless @in_bs), holding @in_bs's data if given.
     */
    int (*bdrv_measure)(QDict *opts, BlockDriverState *in_bs,
                        BlockMeasureInfo *info, Error **errp);
    /* The space @bs's persistent dirty bitmaps take, in clusters of
     * @cluster_size; -ENOTSUP if the format keeps none. */
    int64_t (*bdrv_bitmaps_size)(BlockDriverState *bs, int64_t cluster_size);
    /*
     * Persistent dirty bitmaps (include/block/dirty-bitmap.h): whether the
     * image can keep them, whether a new one @name fits (-1 with QEMU's
     * message), and removing one from the image at once.  NULL: none.
     */
    bool (*bdrv_supports_persistent_dirty_bitmap)(BlockDriverState *bs);
    int (*bdrv_can_store_new_dirty_bitmap)(BlockDriverState *bs,
                                           const char *name,
                                           uint32_t granularity,
                                           Error **errp);
    int (*bdrv_remove_persistent_dirty_bitmap)(BlockDriverState *bs,
                                               const char *name,
                                               Error **errp);

    int (*bdrv_pread)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf);
    int (*bdrv_pwrite)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, int flags);
    int (*bdrv_pwrite_zeroes)(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags);
    int (*bdrv_pdiscard)(BlockDriverState *bs, int64_t offset, int64_t bytes);
    /* Write a driver's own caches to its children (formats). */
    int (*bdrv_flush_to_os)(BlockDriverState *bs);
    /* Make written data durable (protocols: fdatasync/FlushFileBuffers). */
    int (*bdrv_flush_to_disk)(BlockDriverState *bs);
    int (*bdrv_truncate)(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp);
    int64_t (*bdrv_getlength)(BlockDriverState *bs);
    int64_t (*bdrv_get_allocated_file_size)(BlockDriverState *bs);
    int (*bdrv_block_status)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, int64_t *map,
                             BlockDriverState **file);
    int (*bdrv_get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);
    /*
     * The VM state area (qemu-io's -b, savevm): @size bytes at @pos of it.
     * NULL: the format has none (-ENOTSUP).
     */
    int (*bdrv_save_vmstate)(BlockDriverState *bs, const void *buf,
                             int64_t pos, int64_t size);
    int (*bdrv_load_vmstate)(BlockDriverState *bs, void *buf, int64_t pos,
                             int64_t size);
    QObject *(*bdrv_get_specific_info)(BlockDriverState *bs, Error **errp);
    int (*bdrv_check)(BlockDriverState *bs, BdrvCheckResult *res,
                      BdrvCheckMode fix);
    int (*bdrv_amend_options)(BlockDriverState *bs, QDict *opts,
                              BlockDriverAmendStatusCB *status_cb,
                              void *cb_opaque, bool force, Error **errp);
    int (*bdrv_make_empty)(BlockDriverState *bs, Error **errp);
    int (*bdrv_change_backing_file)(BlockDriverState *bs,
                                    const char *backing_file,
                                    const char *backing_fmt, Error **errp);

    int (*bdrv_snapshot_create)(BlockDriverState *bs, QEMUSnapshotInfo *sn,
                                Error **errp);
    int (*bdrv_snapshot_goto)(BlockDriverState *bs, const char *snapshot_id,
                              Error **errp);
    int (*bdrv_snapshot_load_tmp)(BlockDriverState *bs,
                                  const char *snapshot_id, const char *name,
                                  Error **errp);
    int (*bdrv_snapshot_delete)(BlockDriverState *bs, const char *snapshot_id,
                                const char *name, Error **errp);
    int (*bdrv_snapshot_list)(BlockDriverState *bs, QEMUSnapshotInfo **psn);

    /*
     * Permissions.  check_perm may take locks (prepare); exactly one of
     * set_perm (commit) or abort_perm_update follows.  Loosening must never
     * fail.  child_perm derives what this node needs from @child given
     * what its own parent needs (NULL: pass through, QEMU's "filtered").
     */
    int (*bdrv_check_perm)(BlockDriverState *bs, uint64_t perm,
                           uint64_t shared, Error **errp);
    void (*bdrv_set_perm)(BlockDriverState *bs, uint64_t perm,
                          uint64_t shared);
    void (*bdrv_abort_perm_update)(BlockDriverState *bs);
    void (*bdrv_child_perm)(BlockDriverState *bs, BdrvChild *c,
                            BdrvChildRole role, uint64_t parent_perm,
                            uint64_t parent_shared, uint64_t *nperm,
                            uint64_t *nshared);

    /*
     * The serialization lock's OS part (protocol drivers).  @timeout_ms < 0
     * waits forever (retrying EINTR), 0 tries once, > 0 gives up with
     * -ETIMEDOUT.  The core does the refcounting; these are called only on
     * 0->1 and 1->0.  Format drivers leave them NULL: the core forwards to
     * bs->file.
     */
    int (*bdrv_lock)(BlockDriverState *bs, bool exclusive, int64_t timeout_ms,
                     Error **errp);
    int (*bdrv_unlock)(BlockDriverState *bs, Error **errp);

    /*
     * Inactivation (migration hand-over).  bdrv_inactivate writes the
     * driver's caches and leaves the image clean before BDRV_O_INACTIVE
     * is set; bdrv_invalidate_cache drops and re-reads every piece of
     * cached metadata (another host may have changed the image).  Either
     * may be NULL when the driver caches nothing.
     */
    int (*bdrv_inactivate)(BlockDriverState *bs);
    int (*bdrv_invalidate_cache)(BlockDriverState *bs, Error **errp);

    /*
     * Options `qemu-img amend` accepts (NULL-terminated); required when
     * bdrv_amend_options is set.  Options valid only at creation are
     * reported as such by the tool.
     */
    const QemuOptDesc *amend_opts;

    /* Options a reopen may change (NULL: none but unchanged values). */
    bool (*bdrv_is_runtime_option)(const char *name);
    /*
     * Put the options of @old that still apply into @options (a reopen's
     * changes), dropping those the changes supersede.  NULL: every old
     * option not given anew.
     */
    void (*bdrv_join_options)(QDict *options, QDict *old);
};

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;           /* drv->instance_size bytes, zeroed */
    int open_flags;
    bool read_only;
    bool force_share;
    int refcnt;

    /*
     * Its name: an exact filename, or json:{...} (4096 everywhere, so such
     * names fit on Windows too, where PATH_MAX is 260).
     */
    char filename[4096];
    /* As recorded in the image header, and its format ("" if none). */
    char backing_file[PATH_MAX];
    char backing_format[32];

    BdrvChild *file;        /* protocol child of a format node */
    BdrvChild *backing;     /* COW child, or NULL */
    BdrvChild *data_file;   /* a format's external data file, or NULL */
    BdrvChild **children;   /* any others (quorum's "children.N") */
    int nb_children;
    BdrvChild *parent_edge; /* the edge pointing at us, or NULL for a root */

    /* Cumulative permissions our parent holds / shares (root: the user). */
    uint64_t perm;
    uint64_t shared_perm;

    /* Serialization lock state (bdrv_lock). */
    QemuMutex lock_mutex;
    unsigned lock_depth;
    bool lock_exclusive;
    /* A thread is waiting for the OS lock; others wait on lock_cond. */
    bool lock_acquiring;
    QemuCond lock_cond;

    /* The format was guessed by probing (raw then guards block 0). */
    bool probed;
    /*
     * The driver gave the node up (qcow2, on fatal corruption; QEMU sets
     * bs->drv to NULL there): every later request fails with -ENOMEDIUM,
     * flushes do nothing and close writes nothing (bdrv_drop_driver()).
     */
    bool drv_dropped;
    /* What the requests this node receives must respect (block/io.c). */
    BlockLimits bl;
    /* Dirty bitmaps, in creation order (block/dirty-bitmap.c). */
    struct BdrvDirtyBitmap *dirty_bitmaps;
    /* QEMU's auto node name, given when a message first needs it. */
    char node_name[32];
    /*
     * Requests in flight on this node (block/io.c), so that one which
     * reads and writes back more than it was given (read-modify-write to
     * the request alignment) keeps overlapping ones out meanwhile.
     */
    struct BdrvTrackedRequest *tracked_requests;
    int serialising_in_flight;
};

/* Registration: the one place every driver is listed is block.c. */
/*
 * The bdrv_block_status of a filter: its file child's answer at the same
 * offset (QEMU's bdrv_co_block_status_from_file).
 */
int bdrv_block_status_from_file(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, int64_t *pnum, int64_t *map,
                                BlockDriverState **file);
/*
 * A filter's table entries for what it passes to its file child as it is:
 * zero writes, discards, truncation, length.
 */
int bdrv_filter_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags);
int bdrv_filter_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes);
int bdrv_filter_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp);
int64_t bdrv_filter_getlength(BlockDriverState *bs);

/*
 * A read of @bs that first copies whatever @bs does not hold itself
 * (clusters its backing file provides, or unallocated ones) into @bs,
 * whole clusters at a time; data that reads as zeroes is written as a
 * zero write.  The copy-on-read of QEMU's -C and copy-on-read filter.
 */
int bdrv_copy_on_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf);

extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_raw;
extern const BlockDriver bdrv_qcow2;
extern const BlockDriver bdrv_bochs;
/* Test drivers: fault injection and write recording (crash replay). */
extern const BlockDriver bdrv_blkdebug;
extern const BlockDriver bdrv_blkrecord;
/* Filter making every write a compressed write (QEMU's "compress"). */
extern const BlockDriver bdrv_compress;
extern const BlockDriver bdrv_cor_filter;
extern const BlockDriver bdrv_null_co;
extern const BlockDriver bdrv_null_aio;
extern const BlockDriver bdrv_quorum;
extern const BlockDriver bdrv_blkverify;
/* QEMU's "throttle" filter, limited by a throttle group. */
extern const BlockDriver bdrv_throttle;

/*
 * Open a child node of @parent named @name ("file", "backing",
 * "data-file") from the @name-prefixed options in @options (e.g.
 * "file.locking") and @filename.
 */
BdrvChild *bdrv_open_child(BlockDriverState *parent, const char *filename,
                           QDict *options, const char *name,
                           BdrvChildRole role, int flags, Error **errp);
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);
/*
 * Make @backing (which gains a reference) the COW child of @bs in place
 * of its current one.  The image header is left alone: not a rebase.
 * Permissions are not re-applied.
 */
void bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing);
/*
 * bdrv_open() with BDRV_O_SNAPSHOT: open @filename read-only with
 * @options (consumed) under a temporary qcow2 overlay and return the
 * overlay (block/temp-snapshot.c).
 */
BlockDriverState *bdrv_open_temp_snapshot(const char *filename,
                                          QDict *options, int flags,
                                          Error **errp);

/*
 * A request in flight on a node (block/tracked-requests.c): [offset,
 * offset + bytes), widened to the alignment once it is serialising.
 */
typedef struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset, bytes;
    bool serialising;
    Coroutine *co;                       /* its context; NULL: main */
    struct BdrvTrackedRequest *waiting_for;
    CoQueue wait_queue;                  /* requests waiting for it */
    struct BdrvTrackedRequest *next;
} BdrvTrackedRequest;

void bdrv_tracked_request_begin(BdrvTrackedRequest *req,
                                BlockDriverState *bs, int64_t offset,
                                int64_t bytes);
void bdrv_tracked_request_end(BdrvTrackedRequest *req);
/* Wait until no serialising request of another context overlaps @req. */
void bdrv_wait_serialising_requests(BdrvTrackedRequest *req);
/* Widen @req to @align, make it serialising, and wait as above. */
void bdrv_make_request_serialising(BdrvTrackedRequest *req, int64_t align);

/* Tell @bs (a driver's file child, may be NULL) that @event happened. */
void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);


/*
 * Name @bs as QEMU names a node no plain filename reopens:
 * "json:{"driver": ..., @options..., "CHILD.x": ...}", with each child's
 * own options under the child's name.  Keys stay flat (dotted): json:
 * filenames are read back the same way.
 */
void bdrv_set_json_filename(BlockDriverState *bs, const QDict *options);

/* QEMU's path_has_protocol(): a ':' before any separator ("nbd:x"). */
bool path_has_protocol(const char *path);

/* Set BDRV_O_INACTIVE on every node again (blk_activate()'s rollback). */
void bdrv_inactivate_flags(BlockDriverState *bs);

/* QEMU's bdrv_default_perms() for storage (qcow2's file) and COW roles. */
void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c,
                        BdrvChildRole role, uint64_t perm, uint64_t shared,
                        uint64_t *nperm, uint64_t *nshared);

/*
 * The best-scoring format for @buf (the first bytes of an image), raw as
 * the fallback.  Raw uses it to refuse writes that would change what a
 * probed image looks like.
 */
const BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size,
                                  const char *filename);

/* Child I/O helpers used by format drivers. */
int bdrv_child_pread(BdrvChild *c, int64_t offset, int64_t bytes, void *buf);
int bdrv_child_pwrite(BdrvChild *c, int64_t offset, int64_t bytes,
                      const void *buf, int flags);

#endif /* BLOCK_BLOCK_INT_H */
