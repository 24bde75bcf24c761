/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block.h: the public interface of the block layer, used by the tools and
 * the TPM NVRAM store.  Nodes (BlockDriverState) form a tree: a format node
 * (raw, qcow2) over a protocol node (file) in bs->file, plus an optional
 * backing chain.  All I/O, flushing and locking goes through bdrv_*.
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/qobject.h"
#include "qemu/option.h"

/*
 * The block layer's sector (QEMU's): node lengths are whole sectors, and
 * so are qcow2's compressed-cluster sizes and its virtual size.
 */
#define BDRV_SECTOR_BITS 9
#define BDRV_SECTOR_SIZE 512

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
typedef struct BdrvChild BdrvChild;

/* Open flags, as QEMU's BDRV_O_* (values are ours). */
#define BDRV_O_NO_SHARE   0x0001 /* don't share write/resize (convert src) */
#define BDRV_O_RDWR       0x0002
#define BDRV_O_RESIZE     0x0004 /* request the resize permission */
#define BDRV_O_SNAPSHOT   0x0008 /* writes go to a temporary overlay */
#define BDRV_O_TEMPORARY  0x0010 /* the file is deleted when closed */
#define BDRV_O_NOCACHE    0x0020 /* O_DIRECT */
#define BDRV_O_NO_BACKING 0x0100 /* don't open the backing file */
#define BDRV_O_NO_FLUSH   0x0200 /* cache=unsafe: flushes never sync */
#define BDRV_O_INACTIVE   0x0800 /* take no permission locks */
#define BDRV_O_CHECK      0x1000 /* open for qemu-img check (repair) */
#define BDRV_O_UNMAP      0x4000 /* discard requests are passed down */
#define BDRV_O_PROTOCOL   0x8000 /* @filename names a protocol node only */
#define BDRV_O_NO_IO      0x10000 /* metadata only: no consistent read */
/* Reads copy what the node does not hold itself into it (root only). */
#define BDRV_O_COPY_ON_READ 0x20000

/* Permissions (QEMU 7.2 bit values; they select the lock bytes). */
enum {
    BLK_PERM_CONSISTENT_READ = 0x01,
    BLK_PERM_WRITE = 0x02,
    BLK_PERM_WRITE_UNCHANGED = 0x04,
    BLK_PERM_RESIZE = 0x08,
    BLK_PERM_ALL = 0x0f,

    DEFAULT_PERM_PASSTHROUGH = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE |
                               BLK_PERM_WRITE_UNCHANGED | BLK_PERM_RESIZE,
    DEFAULT_PERM_UNCHANGED = BLK_PERM_ALL & ~DEFAULT_PERM_PASSTHROUGH,
};
/* "consistent read, write" (malloc'ed), as QEMU's bdrv_perm_names(). */
char *bdrv_perm_names(uint64_t perm);

/* Request flags for writes. */
#define BDRV_REQ_ZERO_WRITE 0x2 /* write zeroes (buf is NULL) */
#define BDRV_REQ_MAY_UNMAP  0x4 /* zeroes may be written by deallocating */
#define BDRV_REQ_FUA        0x10 /* durable on return */
#define BDRV_REQ_WRITE_COMPRESSED 0x20 /* one whole cluster, compressed */
/* Copy-on-read: the data does not change (dirty bitmaps stay clean). */
#define BDRV_REQ_WRITE_UNCHANGED 0x40
/* Zero writes: -ENOTSUP rather than writing zero buffers (QEMU's value). */
#define BDRV_REQ_NO_FALLBACK 0x100

/* Block status bits (bdrv_block_status), QEMU's values. */
#define BDRV_BLOCK_DATA         0x01
#define BDRV_BLOCK_ZERO         0x02
#define BDRV_BLOCK_OFFSET_VALID 0x04
#define BDRV_BLOCK_RAW          0x08
#define BDRV_BLOCK_ALLOCATED    0x10
#define BDRV_BLOCK_EOF          0x20
#define BDRV_BLOCK_RECURSE      0x40
#define BDRV_BLOCK_COMPRESSED   0x80

typedef enum PreallocMode {
    PREALLOC_MODE_OFF,
    PREALLOC_MODE_METADATA,
    PREALLOC_MODE_FALLOC,
    PREALLOC_MODE_FULL,
} PreallocMode;
/* "off", "metadata", "falloc", "full"; parse returns -EINVAL if unknown. */
const char *prealloc_mode_str(PreallocMode m);
int prealloc_mode_parse(const char *s, PreallocMode *m);

typedef struct BlockDriverInfo {
    int cluster_size; /* 0: not applicable */
    bool is_dirty;
    /* Where VM state would live (qcow2: past the last L1 entry), or 0. */
    int64_t vm_state_offset;
} BlockDriverInfo;

typedef enum BdrvCheckMode {
    BDRV_FIX_LEAKS = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

typedef struct BlockFragInfo {
    uint64_t allocated_clusters;
    uint64_t total_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
} BlockFragInfo;

typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;
    BlockFragInfo bfi;
} BdrvCheckResult;

typedef struct QEMUSnapshotInfo {
    char id_str[128];
    char name[256];
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount; /* -1ULL when disabled */
} QEMUSnapshotInfo;

/* ---- drivers ---------------------------------------------------------- */

/* Look up a registered driver by format/protocol name (NULL if unknown). */
BlockDriver *bdrv_find_format(const char *name);
/*
 * Whether @name is a driver of ours or of QEMU 7.2 (a format name that
 * may be recorded in an image, e.g. by rebase -u -F, though we cannot
 * open it).
 */
bool bdrv_format_name_known(const char *name);
const char *bdrv_get_format_name(const BlockDriverState *bs);
/* The driver's "proto:" prefix, or NULL for a format driver. */
const char *bdrv_get_protocol_name(const BlockDriverState *bs);
/* Call @fn for each registered driver name, sorted (qemu-img --help). */
void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque);
/* Options a driver accepts at creation (NULL-terminated), may be NULL. */
const QemuOptDesc *bdrv_create_opts(const BlockDriver *drv);

/* ---- open / close ----------------------------------------------------- */

/*
 * Open @filename (may be NULL when @options carries "filename" or
 * "file.filename") as a node tree.  @options (consumed, may be NULL) holds
 * block options: "driver", "file.*", "backing.*", "read-only",
 * "force-share", "locking" (for the file node) ...  Without "driver" the
 * format is probed (raw as fallback).  Unknown options fail:
 * "Block format 'raw' does not support the option 'x'".
 *
 * The returned tree holds no permissions yet (perm 0, shares all): the
 * caller (normally blk_new_open) applies them with bdrv_set_root_perm().
 *
 * With BDRV_O_SNAPSHOT (QEMU's -snapshot, qemu-io -s) the image is opened
 * read-only, as a backing file is, and the returned node is a temporary
 * qcow2 overlay over it (block/temp-snapshot.c): writes land in the
 * overlay, whose file is deleted as soon as it is open, so the image is
 * never written and nothing is left behind.
 */
BlockDriverState *bdrv_open(const char *filename, QDict *options, int flags,
                            Error **errp);
/*
 * A cache mode name (none/off, directsync, writeback, unsafe, writethrough)
 * into BDRV_O_NOCACHE/BDRV_O_NO_FLUSH in *@flags and the guest write cache
 * setting in *@writethrough.  -EINVAL for an unknown name.
 */
int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough);
/*
 * The driver for a file child named @filename: the one whose protocol
 * prefix it carries ("blkdebug:..."), else "file".  A prefix no driver
 * has ("nbd://...": a colon before any slash, as QEMU reads filenames;
 * not a Windows drive letter) sets QEMU's "Unknown protocol" and gives
 * NULL.
 */
const char *bdrv_protocol_driver_name(const char *filename, Error **errp);

/*
 * A backing file name as QEMU resolves it for the image @backed: kept when
 * empty, absolute or with a protocol prefix ("nbd:..."), else taken
 * relative to @backed's directory.  NULL (and @errp) when @backed cannot
 * anchor a relative name (empty, or a json: filename).  Free with free().
 */
char *bdrv_get_full_backing_filename_from_filename(const char *backed,
                                                   const char *backing,
                                                   Error **errp);

/*
 * @name resolved as the block layer resolves backing file names: relative
 * names are taken relative to bdrv_dirname(@relative_to), absolute and
 * "proto:" names are kept.  Free with free().  The _err form gives NULL
 * (and @errp) when there is no directory; the other then keeps @name.
 */
char *bdrv_make_absolute_filename_err(const BlockDriverState *relative_to,
                                      const char *name, Error **errp);
char *bdrv_make_absolute_filename(const BlockDriverState *relative_to,
                                  const char *name);

/*
 * The directory relative names of @bs's image are taken from, ending in a
 * separator (QEMU's bdrv_dirname): its file child's, down to a node with
 * an exact filename.  NULL and @errp for nodes with neither (quorum).
 */
char *bdrv_dirname(const BlockDriverState *bs, Error **errp);
void bdrv_ref(BlockDriverState *bs);
/* Drop a reference; the last one closes the node and its children. */
void bdrv_unref(BlockDriverState *bs);

/*
 * Set the permissions the root's user needs and what it shares, and derive
 * the whole tree's from them: check every node (locks taken), then commit,
 * or roll every node back on failure.  Loosening never fails.
 */
/*
 * Whether a reopen of @bs may apply @changes to the options @bs was opened
 * with (@old): each must be a runtime option of the node it names
 * ("file.x" names bs's file child's "x"), the node's own driver name, or
 * unchanged.  Otherwise fails with QEMU's "Cannot change the option 'x'".
 */
/*
 * The options a reopen of @bs opens with: @changes over @old, joined by
 * the driver's rules.  Malloc'ed; neither argument is changed.
 */
QDict *bdrv_reopen_options(const BlockDriverState *bs, const QDict *old,
                           const QDict *changes);
int bdrv_reopen_check_options(const BlockDriverState *bs, const QDict *old,
                              const QDict *changes, Error **errp);

int bdrv_set_root_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                       Error **errp);

/*
 * Clear BDRV_O_INACTIVE (incoming migration: no permission locks) on every
 * node of the tree.  Permissions are not re-applied here; blk_activate()
 * does both.
 */
void bdrv_activate(BlockDriverState *bs);

/*
 * Hand the image over (outgoing shared-storage migration, QEMU's
 * bdrv_inactivate_all()): write every cache of the tree, make it durable
 * and set BDRV_O_INACTIVE on every node.  After that the permission
 * locks can be dropped (blk_inactivate() does) and no node writes again
 * until it is activated.  Already inactive: nothing to do.
 */
int bdrv_inactivate(BlockDriverState *bs, Error **errp);

/*
 * Drop what every node of the tree has cached about the image's metadata
 * and read it again from storage (children first), as after another host
 * changed the image.  Used by blk_activate() and, on inactive nodes, when
 * the serialization lock is taken.
 */
int bdrv_invalidate_cache(BlockDriverState *bs, Error **errp);

/* ---- create ----------------------------------------------------------- */

/*
 * Create an image: @opts are the -o options as strings, plus "size".
 * Validated against the driver's (and, for formats, the file protocol's)
 * create options.
 */
int bdrv_create(BlockDriver *drv, const char *filename, QDict *opts,
                Error **errp);

/* ---- I/O (0 or -errno) ------------------------------------------------ */

/* What an image of a format needs for some content (qemu-img measure). */
typedef struct BlockMeasureInfo {
    uint64_t required;          /* for the data the input has */
    uint64_t fully_allocated;   /* for every cluster of the size */
    bool has_bitmaps;           /* both input and format keep bitmaps */
    uint64_t bitmaps;           /* for the input's persistent bitmaps */
} BlockMeasureInfo;

/*
 * The size a new image of format @drv needs (create options @opts, "size"
 * unless @in_bs), holding @in_bs's data if given.  A driver that cannot
 * tell: "Block driver 'x' does not support size measurement".
 */
int bdrv_measure(BlockDriver *drv, QDict *opts, BlockDriverState *in_bs,
                 BlockMeasureInfo *info, Error **errp);

int bdrv_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
               void *buf);
int bdrv_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, int flags);
int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags);
/*
 * @size bytes at @pos of the node's VM state area (qcow2: past the guest
 * disk, in its clusters).  0, or -ENOTSUP when the format has none.
 */
int bdrv_save_vmstate(BlockDriverState *bs, const void *buf, int64_t pos,
                      int64_t size);
int bdrv_load_vmstate(BlockDriverState *bs, void *buf, int64_t pos,
                      int64_t size);
int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes);
/* Flush caches of every node of the tree, then make them durable. */
int bdrv_flush(BlockDriverState *bs);
int bdrv_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                  PreallocMode prealloc, Error **errp);
int64_t bdrv_getlength(BlockDriverState *bs);
/* Bytes used on the host (st_blocks * 512 for files); -ENOTSUP if n/a. */
int64_t bdrv_get_allocated_file_size(BlockDriverState *bs);
/*
 * Status of [offset, offset+bytes): BDRV_BLOCK_* bits valid for *pnum bytes;
 * with OFFSET_VALID, *map is the offset in *file.  Follows the backing
 * chain for unallocated ranges of a format node only if asked through
 * bdrv_block_status_above().
 */
int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int64_t *map, BlockDriverState **file);
/*
 * 1 if the first *pnum bytes of [offset, offset+bytes) are allocated in
 * @bs itself (data or zeroes of its own, not its backing files'), 0 if
 * not, or -errno.  *pnum is 0 only at the end of the image.
 */
int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum);
/* Same, looking through backing files down to (not including) @base. */
int bdrv_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file,
                            int *depth);
/*
 * Does [offset, offset+bytes) read as zeros by the block status of the
 * whole chain, in one piece (QEMU's bdrv_co_is_zero_fast())?  Reads no
 * data: false may still be zeros.
 */
bool bdrv_is_zero_fast(BlockDriverState *bs, int64_t offset, int64_t bytes);

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);
/* The "data" member of format-specific info (NULL if none). */
QObject *bdrv_get_specific_info(BlockDriverState *bs, Error **errp);
/* -ENOTSUP if the format has no check. */
int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, BdrvCheckMode fix);
/*
 * Where a format's check sends its per-problem lines ("Leaked cluster 5
 * refcount=1 reference=0", "ERROR OFLAG_COPIED ...", "Repairing ...").
 * qemu-img installs a sink printing each line (plus "\n") to stderr, as
 * QEMU does; without a sink the lines are dropped.  Not thread-safe.
 */
typedef void BdrvCheckReportFn(const char *line, void *opaque);
void bdrv_check_set_report_fn(BdrvCheckReportFn *fn, void *opaque);
/*
 * Progress of an amend: @offset of @total_work_size units are done (both
 * may change between calls; qemu-img prints 100 * offset / total).
 */
typedef void BlockDriverAmendStatusCB(BlockDriverState *bs, int64_t offset,
                                      int64_t total_work_size, void *opaque);
/* @status_cb may be NULL. */
int bdrv_amend_options(BlockDriverState *bs, QDict *opts,
                       BlockDriverAmendStatusCB *status_cb, void *cb_opaque,
                       bool force, Error **errp);
int bdrv_make_empty(BlockDriverState *bs, Error **errp);
int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, Error **errp);

/* Snapshots (-ENOTSUP if the format has none). */
int bdrv_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn,
                         Error **errp);
/*
 * Read a read-only node's snapshot (by @snapshot_id and/or @name) in
 * place of its active layer from now on, writing nothing (convert -l).
 */
int bdrv_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                           const char *name, Error **errp);
int bdrv_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                       Error **errp);
int bdrv_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                         const char *name, Error **errp);
/* Returns the number of snapshots and a malloc'ed array in *psn. */
int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn);

/* ---- accessors -------------------------------------------------------- */

const char *bdrv_get_filename(const BlockDriverState *bs);
/*
 * The image file's name for messages about its contents: the node's
 * filename, or when that is a json:{...} name (a test filter with rules in
 * the chain), the first plain name down its file children.
 */
const char *bdrv_get_image_filename(const BlockDriverState *bs);
bool bdrv_is_read_only(const BlockDriverState *bs);
BlockDriverState *bdrv_file_bs(const BlockDriverState *bs);    /* or NULL */
BlockDriverState *bdrv_backing_bs(const BlockDriverState *bs); /* or NULL */
/* The first node at or below @bs that is not a filter (may be NULL). */
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);
/* Backing file name as recorded in the image ("" if none). */
const char *bdrv_get_backing_filename(const BlockDriverState *bs);
const char *bdrv_get_backing_format(const BlockDriverState *bs);
/*
 * The image of @bs's backing chain (not @bs itself) that @name names, as
 * QEMU 7.2 matches qemu-img commit -b: for each image of the chain, a
 * relative @name is taken relative to that image's directory and compared,
 * as a canonical path, with its backing file; names with a protocol prefix
 * ("file:x") are compared as strings.  NULL if none matches.
 */
BlockDriverState *bdrv_find_backing_image(BlockDriverState *bs,
                                          const char *name);

/* ---- the serialization lock ------------------------------------------- */

/*
 * bdrv_lock() serializes readers and writers of an image's contents across
 * processes and hosts (e.g. the TPM NVRAM store's load and commit).  It is
 * shared on a read-only node and exclusive on a read-write node, and it is
 * refcounted per node: nested calls only count, the OS lock is taken on the
 * 0->1 transition and released on 1->0.  Format nodes forward it to their
 * protocol child.  It lives on its own byte (docs/devel/locking.rst), never
 * on QEMU's permission bytes, so it cannot make a real QEMU fail.
 *
 * All return 0 or a negative errno with errp set:
 *   -ENOTSUP    the driver cannot lock (or locking=off)
 *   -EAGAIN     bdrv_trylock(): held by another owner
 *   -ETIMEDOUT  bdrv_lock_timeout(): still held by another owner at timeout
 *   -ENOLCK     bdrv_unlock() without a matching lock
 * Thread-safe.
 */
int bdrv_lock(BlockDriverState *bs, Error **errp);
int bdrv_trylock(BlockDriverState *bs, Error **errp);
int bdrv_lock_timeout(BlockDriverState *bs, int64_t timeout_ms, Error **errp);
int bdrv_unlock(BlockDriverState *bs, Error **errp);
/* Current nesting depth of @bs's serialization lock (0: not held). */
unsigned bdrv_lock_depth(BlockDriverState *bs);

/*
 * qemu-io's break, remove_break, resume and wait_break: the first node
 * from @bs down its file children whose driver
 * has breakpoints takes them; -ENOTSUP (false) if none does.
 */
int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag);
int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag);
int bdrv_debug_resume(BlockDriverState *bs, const char *tag);
bool bdrv_debug_is_suspended(BlockDriverState *bs, const char *tag);

#endif /* BLOCK_BLOCK_H */
