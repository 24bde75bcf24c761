/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2.h: the qcow2 format driver's shared state, on-disk constants and the
 * functions its rooms share:
 *   qcow2.c           header and extensions, open/close, info, the table
 *   qcow2-options.c   runtime options (cache sizes, overlap checks...)
 *   qcow2-create.c    create
 *   qcow2-amend.c     amend (compat, lazy refcounts, size)
 *   qcow2-resize.c    growing and shrinking the virtual size
 *   qcow2-cluster.c   L1/L2 mapping, read and write paths, compressed
 *                     clusters
 *   qcow2-compress.c  the compression types (zlib, zstd)
 *   qcow2-bitmap.c    persistent dirty bitmaps on disk: extension,
 *                     directory, tables; info, check, measure
 *   qcow2-bitmap-sync.c  loading them into memory at open, storing them
 *                     back at close, removing one
 *   qcow2-data-file.c opening the external data file
 *   qcow2-zero.c      zero writes
 *   qcow2-subcluster.c extended L2 entries: subcluster types, writes and
 *                     zeroing at subcluster granularity
 *   qcow2-cache.c     the L2 and refcount-block caches
 *   qcow2-refcount.c  refcounts, cluster allocation, overlap checks
 *   qcow2-snapshot.c  internal snapshots
 *   qcow2-check.c     check and repair
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include "block/block_int.h"
#include "qemu/coroutine.h"
#include "qemu/cutils.h"

#define QCOW_MAGIC 0x514649fbU
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_MIN_HEADER_LEN 104
#define QCOW2_HEADER_LEN 112           /* what we write for v3, as 7.2 */

/* Header byte 104 (v3 headers of 105 bytes or more; otherwise zlib). */
#define QCOW2_COMPRESSION_TYPE_ZLIB 0
#define QCOW2_COMPRESSION_TYPE_ZSTD 1

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32 * MiB)
#define QCOW2_MAX_REFTABLE_BYTES (8 * MiB)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SN_EXTRA 1024
#define QCOW2_MAX_SN_TABLE_BYTES (64 * MiB)
#define QCOW2_SN_HEADER_LEN 40         /* fixed part of a table entry */
#define QCOW2_SN_EXTRA_LEN 24          /* extra data we know and write */
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_HOST_OFFSET ((INT64_C(1) << 56) - 1)

/* Persistent bitmaps (docs/specs/qcow2.rst), QEMU 7.2's limits. */
#define QCOW2_BITMAPS_EXT_LEN 24
#define QCOW2_MAX_BITMAPS 65535
#define QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 * QCOW2_MAX_BITMAPS)
#define QCOW2_BITMAP_ENTRY_LEN 24        /* before extra data and name */
#define QCOW2_BME_MAX_TABLE_SIZE 0x8000000
#define QCOW2_BME_MAX_PHYS_SIZE 0x20000000
#define QCOW2_BME_MAX_GRANULARITY_BITS 31
#define QCOW2_BME_MIN_GRANULARITY_BITS 9
#define QCOW2_BME_MAX_NAME_SIZE 1023
#define QCOW2_BME_FLAG_IN_USE (1U << 0)
#define QCOW2_BME_FLAG_AUTO (1U << 1)

/* Header extension types */
#define QCOW2_EXT_END            0x00000000U
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE  0x6803f857U
#define QCOW2_EXT_BITMAPS        0x23852875U
#define QCOW2_EXT_CRYPTO         0x0537be77U
#define QCOW2_EXT_DATA_FILE      0x44415441U

/* Feature bits */
#define QCOW2_INCOMPAT_DIRTY       (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT     (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2       (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN       0x1fULL
/*
 * Bits this implementation can handle when set (the compression bit is
 * checked against the compression type on open).
 */
#define QCOW2_INCOMPAT_SUPPORTED \
    (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | \
     QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION | \
     QCOW2_INCOMPAT_EXTL2)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
#define QCOW2_AUTOCLEAR_BITMAPS     (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (1ULL << 1)
#define QCOW2_AUTOCLEAR_MASK \
    (QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_RAW)

/* L1/L2/refcount-table entry bits */
#define QCOW_OFLAG_COPIED     (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       (1ULL << 0)
#define L1E_OFFSET_MASK       0x00fffffffffffe00ULL
#define L1E_RESERVED_MASK     0x7f000000000001ffULL
#define L2E_OFFSET_MASK       0x00fffffffffffe00ULL
#define L2E_STD_RESERVED_MASK 0x3f000000000001feULL
#define REFT_OFFSET_MASK      0xfffffffffffffe00ULL
#define REFT_RESERVED_MASK    0x1ffULL

/*
 * Extended L2 entries (incompatible bit 4): 128 bits, the usual entry
 * (whose bit 0 is unused) and a bitmap of 32 subclusters: bit x says
 * subcluster x is allocated, bit 32 + x that it reads as zeros.
 */
#define QCOW2_SUBCLUSTERS 32
#define QCOW2_EXTL2_MIN_CLUSTER_BITS 14
#define QCOW_OFLAG_SUB_ALLOC(x)   (1ULL << (x))
#define QCOW_OFLAG_SUB_ZERO(x)    (QCOW_OFLAG_SUB_ALLOC(x) << 32)
/* Subclusters [x, y), 0 <= x <= y <= 32 */
#define QCOW_OFLAG_SUB_ALLOC_RANGE(x, y) \
    (QCOW_OFLAG_SUB_ALLOC(y) - QCOW_OFLAG_SUB_ALLOC(x))
#define QCOW_OFLAG_SUB_ZERO_RANGE(x, y) (QCOW_OFLAG_SUB_ALLOC_RANGE(x, y) << 32)
#define QCOW_L2_BITMAP_ALL_ALLOC  QCOW_OFLAG_SUB_ALLOC_RANGE(0, 32)
#define QCOW_L2_BITMAP_ALL_ZEROES QCOW_OFLAG_SUB_ZERO_RANGE(0, 32)

typedef enum Qcow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,
    QCOW2_CLUSTER_ZERO_ALLOC,
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

/*
 * What one subcluster is (QEMU's QCow2SubclusterType).  Without extended
 * L2 entries a cluster is its only subcluster and UNALLOCATED_ALLOC never
 * happens.  INVALID: the entry and its bitmap contradict each other.
 */
typedef enum Qcow2SubclusterType {
    QCOW2_SUBCLUSTER_UNALLOCATED_PLAIN,
    QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC,
    QCOW2_SUBCLUSTER_ZERO_PLAIN,
    QCOW2_SUBCLUSTER_ZERO_ALLOC,
    QCOW2_SUBCLUSTER_NORMAL,
    QCOW2_SUBCLUSTER_COMPRESSED,
    QCOW2_SUBCLUSTER_INVALID,
} Qcow2SubclusterType;

/* A small write-back cache of cluster-sized tables (L2 or refcount). */
typedef struct Qcow2Cache {
    int size;               /* number of slots */
    int cluster_size;
    int64_t *offset;        /* host offset per slot, 0 = empty */
    bool *dirty;
    bool *past_eof;         /* read from beyond the end of the file */
    uint64_t *lru;
    uint8_t *tables;        /* size * cluster_size bytes */
    uint64_t lru_counter;
    /* Flushed before any dirty table of this cache is written. */
    struct Qcow2Cache *depends;
} Qcow2Cache;

typedef struct Qcow2UnknownExt {
    uint32_t type;
    uint32_t len;
    uint8_t *data;
} Qcow2UnknownExt;

typedef struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;
    uint32_t extra_data_size;
    uint8_t *unknown_extra;  /* bytes past the 24 we understand */
} Qcow2Snapshot;


/* The metadata overlap checks (the overlap-check.* options, in order). */
enum {
    QCOW2_OL_MAIN_HEADER     = 1 << 0,
    QCOW2_OL_ACTIVE_L1       = 1 << 1,
    QCOW2_OL_ACTIVE_L2       = 1 << 2,
    QCOW2_OL_REFCOUNT_TABLE  = 1 << 3,
    QCOW2_OL_REFCOUNT_BLOCK  = 1 << 4,
    QCOW2_OL_SNAPSHOT_TABLE  = 1 << 5,
    QCOW2_OL_INACTIVE_L1     = 1 << 6,
    QCOW2_OL_INACTIVE_L2     = 1 << 7,
    QCOW2_OL_BITMAP_DIRECTORY = 1 << 8,
    QCOW2_OL_ALL             = (1 << 9) - 1,
    /*
     * The templates: "constant" needs no I/O, "cached" (the default) none
     * beyond the caches, "all" reads the snapshots' L1 tables too.
     */
    QCOW2_OL_CONSTANT = QCOW2_OL_MAIN_HEADER | QCOW2_OL_ACTIVE_L1 |
                        QCOW2_OL_REFCOUNT_TABLE | QCOW2_OL_SNAPSHOT_TABLE,
    QCOW2_OL_CACHED   = QCOW2_OL_ALL & ~QCOW2_OL_INACTIVE_L2,
};

typedef struct Qcow2DiscardRegion {
    uint64_t offset;
    uint64_t bytes;
} Qcow2DiscardRegion;

typedef struct BDRVQcow2State {
    int qcow_version;
    int cluster_bits;
    int cluster_size;
    int l2_bits;
    int l2_size;             /* entries per L2 table */
    int l2_entry_size;       /* bytes: 8, or 16 with extended L2 entries */
    int subcluster_bits;     /* = cluster_bits without extended L2 */
    int subcluster_size;
    int subclusters_per_cluster;
    int csize_shift;
    uint64_t csize_mask;
    uint64_t cluster_offset_mask;

    uint64_t size;           /* virtual size */
    uint32_t crypt_method;

    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t *l1_table;      /* host-endian copy of the active L1 */

    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint64_t refcount_table_size;  /* entries */
    uint64_t *refcount_table;      /* host-endian */
    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;
    int refcount_block_bits;       /* log2(entries per refcount block) */
    int refcount_block_size;       /* entries */

    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t header_length;        /* as read */
    uint8_t compression_type;
    uint8_t *header_tail;          /* bytes 112..header_length (unknown) */
    uint32_t header_tail_len;

    /*
     * Where data clusters live: bs->file, or the external data file
     * (incompatible bit 2), whose clusters sit at their guest offsets and
     * have no refcounts.  NULL for an external one not opened (NO_IO).
     */
    BdrvChild *data_file;
    char *image_data_file;         /* its name from the header extension */

    Qcow2UnknownExt *unknown_ext;
    int nb_unknown_ext;
    /*
     * The bitmap directory the bitmaps extension names; no bitmaps (and
     * no extension written) when it is absent or not to be trusted
     * (autoclear bit 0 clear).
     */
    uint32_t nb_bitmaps;
    uint64_t bitmap_directory_offset;
    uint64_t bitmap_directory_size;
    bool has_feature_table;

    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size;       /* bytes of the table on disk */
    Qcow2Snapshot *snapshots;
    /*
     * Check mode opens without reading the snapshot table (the check reads
     * and repairs it); until then header rewrites keep these on-disk values.
     */
    bool snapshots_unread;
    uint32_t unread_nb_snapshots;
    uint64_t unread_snapshots_offset;

    Qcow2Cache *l2_cache;
    Qcow2Cache *refcount_cache;
    uint64_t free_cluster_index;
    uint64_t free_byte_offset;     /* compressed-cluster packing */

    uint8_t *cluster_cache;        /* last decompressed cluster */
    uint64_t cluster_cache_offset; /* compressed L2 entry, or -1 */

    /* Punch freed clusters out of the file (discard requests, repair). */
    bool discard_on_free;
    /*
     * Those clusters, merged into regions, until the operation that
     * freed them ends (cache_discards) or, else, the refcount update.
     */
    Qcow2DiscardRegion *discards;
    int nb_discards, discards_cap;
    bool cache_discards;
    bool use_lazy_refcounts;
    /* -1 not yet known; 1: metadata preallocated (block status recurses) */
    int metadata_prealloc;
    bool writable;
    /* The metadata overlap checks that are on (QCOW2_OL_*). */
    int overlap_check;
    bool corrupt_reported;
    bool signaled_corruption;

    /*
     * Requests in coroutines (qcow2-lock.c): the metadata lock, held by
     * a request except while its guest data moves, and the guest ranges
     * that writes, zero writes and discards are working on.
     */
    CoMutex lock;
    Coroutine *lock_owner;         /* NULL: the main context */
    unsigned lock_depth;
    struct Qcow2Range *ranges;
} BDRVQcow2State;

/* Whether data clusters live in an external data file. */
static inline bool qcow2_has_data_file(const BDRVQcow2State *s)
{
    return s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE;
}

/* Whether that file must stay valid as a raw image (autoclear bit 1). */
static inline bool qcow2_data_file_is_raw(const BDRVQcow2State *s)
{
    return s->autoclear_features & QCOW2_AUTOCLEAR_DATA_RAW;
}

/* Bit counts of 32-bit words (32 for a word with no such bit). */
static inline int ctz32(uint32_t v)
{
    return v ? __builtin_ctz(v) : 32;
}

static inline int clz32(uint32_t v)
{
    return v ? __builtin_clz(v) : 32;
}

static inline int cto32(uint32_t v)
{
    return ctz32(~v);
}

/* Whether L2 entries are extended (128 bits, with subclusters). */
static inline bool qcow2_has_subclusters(const BDRVQcow2State *s)
{
    return s->incompatible_features & QCOW2_INCOMPAT_EXTL2;
}

/* Entries of cached L2 tables stay big-endian, as on disk. */
static inline uint64_t be64toh_q(uint64_t v)
{
    return ldbe64(&v);
}

static inline uint64_t htobe64_q(uint64_t v)
{
    uint64_t r;
    stbe64(&r, v);
    return r;
}

/* Entry @i of an L2 table (as in the cache or on disk), host-endian. */
static inline uint64_t qcow2_l2_entry(const BDRVQcow2State *s,
                                      const uint64_t *l2, uint64_t i)
{
    return be64toh_q(l2[i * (s->l2_entry_size / 8)]);
}

/* The subcluster bitmap of entry @i (0 without extended L2 entries). */
static inline uint64_t qcow2_l2_bitmap(const BDRVQcow2State *s,
                                       const uint64_t *l2, uint64_t i)
{
    return qcow2_has_subclusters(s) ? be64toh_q(l2[i * 2 + 1]) : 0;
}

static inline void qcow2_set_l2_entry(const BDRVQcow2State *s, uint64_t *l2,
                                      uint64_t i, uint64_t e)
{
    l2[i * (s->l2_entry_size / 8)] = htobe64_q(e);
}

/* Ignored without extended L2 entries. */
static inline void qcow2_set_l2_bitmap(const BDRVQcow2State *s,
                                       uint64_t *l2, uint64_t i, uint64_t b)
{
    if (qcow2_has_subclusters(s)) {
        l2[i * 2 + 1] = htobe64_q(b);
    }
}

static inline int64_t qcow2_offset_into_subcluster(BDRVQcow2State *s,
                                                   int64_t off)
{
    return off & (s->subcluster_size - 1);
}

/* The index of the subcluster @off is in, inside its cluster. */
static inline int qcow2_sc_index(BDRVQcow2State *s, uint64_t off)
{
    return (off >> s->subcluster_bits) & (s->subclusters_per_cluster - 1);
}

static inline int64_t qcow2_start_of_cluster(BDRVQcow2State *s, int64_t off)
{
    return off & ~((int64_t)s->cluster_size - 1);
}

static inline int64_t qcow2_offset_into_cluster(BDRVQcow2State *s,
                                                int64_t off)
{
    return off & (s->cluster_size - 1);
}

static inline uint64_t qcow2_size_to_clusters(BDRVQcow2State *s,
                                              uint64_t size)
{
    return (size + (s->cluster_size - 1)) >> s->cluster_bits;
}

static inline uint64_t qcow2_size_to_l1(BDRVQcow2State *s, uint64_t size)
{
    int shift = s->cluster_bits + s->l2_bits;
    return (size + (UINT64_C(1) << shift) - 1) >> shift;
}

/*
 * A compressed L2 entry's stream: where it starts (@coffset, any byte) and
 * how many 512-byte sectors the entry says it spans, counted from the
 * sector @coffset is in (QEMU's qcow2_parse_compressed_l2_entry()).  The
 * refcounts cover those whole sectors.
 */
static inline void qcow2_compressed_entry(const BDRVQcow2State *s,
                                          uint64_t l2_entry,
                                          uint64_t *coffset,
                                          uint64_t *sectors)
{
    *coffset = l2_entry & s->cluster_offset_mask;
    *sectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;
}

/*
 * The kind of cluster an L2 entry (host-endian) describes; with extended
 * L2 entries the ZERO flag is unused (never ZERO_*).
 */
Qcow2ClusterType qcow2_get_cluster_type(BDRVQcow2State *s,
                                        uint64_t l2_entry);

/*
 * Unless said otherwise, the functions below return 0 on success or a
 * negative errno, and those taking @errp set it on failure.
 */

/* qcow2.c */
/*
 * Rewrite the whole first cluster: header, extensions, backing file name
 * (no flush).  -ENOSPC if they do not fit in one cluster.
 */
int qcow2_update_header(BlockDriverState *bs);
/*
 * QEMU's table check: at most @max_bytes of @entry_len-byte entries
 * ("<name> too large", -EFBIG), cluster aligned and addressable
 * ("<name> offset invalid", -EINVAL).
 */
int qcow2_validate_table(BlockDriverState *bs, uint64_t offset,
                         uint64_t entries, size_t entry_len,
                         int64_t max_bytes, const char *name, Error **errp);
/*
 * A message QEMU's driver prints itself (error_report) before the caller
 * reports its own error: "<progname>: <message>" on the notice channel.
 */
void qcow2_error_report(const char *fmt, ...) QEMU_PRINTF(1, 2);
/*
 * Report corruption once.  @fatal on a writable image: set the corrupt bit
 * (v3) and drop the node (bs->drv_dropped: every later request fails with
 * -ENOMEDIUM, nothing more is flushed); otherwise only warn.
 */
void qcow2_signal_corruption(BlockDriverState *bs, bool fatal,
                             const char *fmt, ...) QEMU_PRINTF(3, 4);
/*
 * With lazy refcounts, set the dirty bit on disk (flushed) before the
 * first write; -EIO if the image is not writable.
 */
int qcow2_mark_dirty(BlockDriverState *bs);
/* Flush caches and file, then clear the dirty bit on disk if it is set. */
int qcow2_mark_clean(BlockDriverState *bs);
/* Flush the image file (bs->file) only, not the caches. */
int qcow2_file_flush(BlockDriverState *bs);

/*
 * Point the header at @backing_file/@backing_fmt (NULL: none), then flush
 * the file (@errp not set if only that fails); names restored on failure.
 */
int qcow2_change_backing_file(BlockDriverState *bs, const char *backing_file,
                              const char *backing_fmt, Error **errp);

/* qcow2-options.c */
/* Take qcow2's runtime options (cache sizes, overlap checks, ...). */
int qcow2_take_runtime_options(BlockDriverState *bs, QDict *options,
                               Error **errp);
/* Whether @name is one of them (a reopen may change those). */
bool qcow2_is_runtime_option(const char *name);
/*
 * A reopen's options: @old's under @options, where a new overlap-check
 * template drops the old per-structure ones and a new cache-size the old
 * partial sizes (QEMU's qcow2_join_options).
 */
void qcow2_join_options(QDict *options, QDict *old);

/* qcow2-create.c */
extern const QemuOptDesc qcow2_create_opts[];
/* What qemu-img amend accepts: a subset of the creation options. */
extern const QemuOptDesc qcow2_amend_opts[];
/* Create the image file @filename and format it as qcow2 from @opts. */
int qcow2_create(const char *filename, QDict *opts, Error **errp);
/* qemu-img measure for a qcow2 target (QEMU 7.2's figures). */
int qcow2_measure(QDict *opts, BlockDriverState *in_bs,
                  BlockMeasureInfo *info, Error **errp);

/* qcow2-amend.c */
/*
 * qemu-img amend: compat (upgrade first, downgrade last), lazy refcounts,
 * size; refcount width and backing file changes are refused.
 */
int qcow2_amend_options(BlockDriverState *bs, QDict *opts,
                        BlockDriverAmendStatusCB *status_cb, void *cb_opaque,
                        bool force, Error **errp);

/* qcow2-resize.c */
/*
 * Grow (zero-filling what a longer backing file would show) or shrink to
 * @offset bytes.  @errp is not set when only the final cache flush fails.
 */
int qcow2_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                   PreallocMode prealloc, Error **errp);

/* qcow2-cache.c */
/* A cache of @size empty slots of @cluster_size bytes; never NULL. */
Qcow2Cache *qcow2_cache_create(int size, int cluster_size);
/* Free @c (NULL is fine) without writing dirty tables back. */
void qcow2_cache_destroy(Qcow2Cache *c);
/*
 * Set *@table to the cached table at host @offset, reading it on a miss
 * (may evict and write back another).  Valid until the next get on @c.
 */
int qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c, uint64_t offset,
                    void **table);
/* Like get, but for a freshly allocated table: no read, zero-filled. */
int qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                          uint64_t offset, void **table);
/* @table, from a get on @c, is to be written back. */
void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table);
/*
 * Write back every dirty table (its "depends" cache first); tries them
 * all, returns the first error.
 */
int qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
/*
 * From now on @c's tables reach the disk only after @dependency's; one
 * the other way round is resolved first by writing (QEMU's function).
 */
int qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                               Qcow2Cache *dependency);
/* Drop a table without writing it (the cluster was freed). */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* Empty @c, dropping dirty tables unwritten. */
void qcow2_cache_clear(Qcow2Cache *c);
/* Flush the L2 cache, then the refcount cache (not the file). */
int qcow2_flush_caches(BlockDriverState *bs);

/* qcow2-refcount.c */
/* Read the refcount table into memory and create the refcount cache. */
int qcow2_refcount_init(BlockDriverState *bs, Error **errp);
/* Entry @index of a refcount block of 2^@order-bit entries (big-endian). */
uint64_t qcow2_get_refcount_ro(const void *block, uint64_t index,
                               int order);
void qcow2_set_refcount_ro(void *block, uint64_t index, uint64_t value,
                           int order);
/*
 * *@refcount = refcount of cluster number @cluster_index (0 when no
 * refcount block covers it).
 */
int qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                       uint64_t *refcount);
/*
 * Add @addend to the refcount of every cluster [@offset, @offset+@length)
 * touches (bytes).  -EIO (corruption) below zero, -ERANGE above the max.
 */
int qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                          int64_t length, int64_t addend);
/*
 * Punch the queued freed regions out of the file if @ret (the result of
 * the operation that freed them) is not an error; forget them either way.
 */
void qcow2_process_discards(BlockDriverState *bs, int ret);
/*
 * Allocate contiguous clusters for @size bytes, refcount 1.  Returns the
 * host offset or a negative errno.
 */
int64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size);
/*
 * Allocate as many of the @nb_clusters clusters from @offset as are free
 * in a row (QEMU's qcow2_alloc_clusters_at(), for a write that continues
 * its host range); how many, 0 if the first one is taken.
 */
int64_t qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                int64_t nb_clusters);
/*
 * Allocate @size bytes (compressed data), packed after the previous
 * allocation when it fits.  Returns the host offset or a negative errno.
 */
int64_t qcow2_alloc_bytes(BlockDriverState *bs, int size);
/* Drop one reference to [@offset, @offset+@size); a failure only warns. */
void qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                         int64_t size);
/* Free what an L2 entry (host-endian) holds: cluster or compressed run. */
void qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry);
/*
 * Walk an in-memory L1 table: add @addend, fix COPIED flags.  Sets
 * *@l1_modified if an entry of @l1 changed (the caller writes it).
 */
int qcow2_update_l1_refcount(BlockDriverState *bs, uint64_t *l1,
                             int l1_size, int addend, bool *l1_modified);
/*
 * The same for the L1 table on disk at @l1_table_offset (the active one
 * or a snapshot's), writing it back if its COPIED flags changed.
 */
int qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                   int64_t l1_table_offset, int l1_size,
                                   int addend);
/*
 * The name of the metadata that [offset, offset+size), widened to whole
 * clusters past the header, overlaps, of those the overlap-check options
 * turned on except @ign (QCOW2_OL_*: the kind of table being written);
 * NULL if none.  QEMU's order, hence its names when several overlap.
 */
const char *qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                         int64_t offset, int64_t size);
/* The same, ignoring nothing: for guest data. */
const char *qcow2_overlaps_metadata(BlockDriverState *bs, int64_t offset,
                                    int64_t size);
/*
 * Before writing metadata of kind @ign at [offset, offset+size): if it
 * overlaps other metadata, mark the image corrupt ("Preventing invalid
 * write on metadata (overlaps with ...)") and return -EIO.
 */
int qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                  int64_t offset, int64_t size);

/* qcow2-cluster.c */
/*
 * Make the active L1 table at least @min_size entries (@exact: exactly,
 * else grown by 3/2 steps) in new clusters; -EFBIG past the maximum.
 */
int qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                        bool exact);
/* Write s->l1_table[@l1_index] to its place on disk (no flush). */
int qcow2_write_l1_entry(BlockDriverState *bs, int l1_index);
/*
 * Map guest @offset: *@bytes (in: wanted, out: the run of subclusters of
 * the same type and contiguous host clusters, within one L2 table),
 * *@host_offset (0 if none), *@type and the raw *@l2_entry.  An invalid
 * subcluster bitmap marks the image corrupt (-EIO).
 */
int qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                          uint64_t *bytes, uint64_t *host_offset,
                          Qcow2SubclusterType *type, uint64_t *l2_entry);
/*
 * A writable L2 table (refcount 1) for @offset, allocated or copied from
 * a shared one: its host offset, or a negative errno.
 */
int64_t qcow2_get_writable_l2(BlockDriverState *bs, uint64_t offset);
/* Free @n old L2 entries (refcounts drop after the tables reach disk). */
int qcow2_free_old_entries(BlockDriverState *bs, uint64_t *old, int n);
/* Write guest data at @host of the data file, after the overlap check. */
int qcow2_write_data(BlockDriverState *bs, uint64_t host, uint64_t bytes,
                     const uint8_t *buf);
/*
 * Host clusters for @bytes of guest clusters from @vstart (in an external
 * data file: the guest offsets themselves); undone by the free below.
 */
int64_t qcow2_alloc_data_clusters(BlockDriverState *bs, uint64_t vstart,
                                  uint64_t bytes);
void qcow2_free_data_clusters(BlockDriverState *bs, int64_t host,
                              uint64_t bytes);
/*
 * Read guest [@offset, @offset+@bytes) into @buf: data, zeros, the
 * backing file, or decompressed clusters.  The caller clips to the size.
 */
int qcow2_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
               uint8_t *buf);
/*
 * Write @buf at guest @offset, any alignment: allocating, with
 * copy-on-write of partial clusters.  The caller checks writability.
 */
int qcow2_write(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const uint8_t *buf);
/*
 * Write one cluster (or the image's last, partial one) compressed; as
 * qcow2_write() when it does not shrink.  -EINVAL if misaligned,
 * -ENOTSUP without zlib.
 */
int qcow2_write_compressed(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const uint8_t *buf);
/*
 * Mark whole clusters of [@offset, @offset+@bytes) zero (a partial tail
 * is left alone); @may_unmap frees their host clusters too.
 */
int qcow2_cluster_zeroize(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, bool may_unmap);
/*
 * Discard whole clusters of the range, freeing their host clusters: the
 * entries become zero (v3) or unallocated (v2, or @full_discard).
 */
int qcow2_cluster_discard(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, bool full_discard);
/*
 * Decompress the cluster of compressed @l2_entry into @out (cluster_size
 * bytes).  -EIO for a broken stream, -ENOTSUP if this build lacks the
 * image's compression type.
 */
int qcow2_decompress_cluster(BlockDriverState *bs, uint64_t l2_entry,
                             uint8_t *out);
/*
 * Allocate host clusters for unallocated guest clusters from @offset to
 * @new_length, then flush the caches: @mode metadata maps them, falloc
 * also has the file system allocate them, full writes zeros to them.  In
 * an external data file they are mapped to their guest offsets and the
 * data file is left to the caller.
 */
int qcow2_preallocate(BlockDriverState *bs, uint64_t offset,
                      uint64_t new_length, PreallocMode mode);

/* qcow2-data-file.c */
/*
 * Open the external data file (data-file.* options, else the header's
 * name) or refuse data-file.* for an image without one; s->data_file is
 * bs->file then, NULL without I/O.
 */
int qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp);

/* qcow2-bitmap.c */
/* One entry of the bitmap directory. */
typedef struct Qcow2Bitmap {
    uint64_t table_offset;
    uint32_t table_size;          /* entries */
    uint32_t flags;               /* QCOW2_BME_FLAG_* */
    uint8_t granularity_bits;
    char *name;
    /* The in-memory bitmap a store writes here, or NULL. */
    struct BdrvDirtyBitmap *dirty_bitmap;
} Qcow2Bitmap;
/*
 * The bitmaps header extension (@len bytes of @data), checked as QEMU
 * does, into s->nb_bitmaps and the directory's place.  When autoclear bit
 * 0 is clear it is ignored with QEMU's warning and *@drop is set (a
 * writable open rewrites the header without it).
 */
int qcow2_read_bitmaps_ext(BlockDriverState *bs, const uint8_t *data,
                           uint32_t len, bool *drop, Error **errp);
/* The extension's 24 bytes as the header carries them. */
void qcow2_bitmaps_ext_bytes(BDRVQcow2State *s, uint8_t *buf);
/* Bytes the directory entry of a bitmap named @name takes. */
uint64_t qcow2_bitmap_entry_size(const char *name);
/*
 * Read and validate the directory (QEMU's messages: "Bitmap 'x' doesn't
 * satisfy the constraints", "Broken bitmap directory", ...) into a new
 * array *@plist of *@pnb entries.
 */
int qcow2_bitmap_list_load(BlockDriverState *bs, Qcow2Bitmap **plist,
                           uint32_t *pnb, Error **errp);
void qcow2_bitmap_list_free(Qcow2Bitmap *list, uint32_t nb);
/*
 * Write the directory of @list: over the old one (@in_place, same size)
 * or into new clusters, whose place goes to *@offset and *@size.
 */
int qcow2_bitmap_list_store(BlockDriverState *bs, const Qcow2Bitmap *list,
                            uint32_t nb, uint64_t *offset, uint64_t *size,
                            bool in_place);
/* -EINVAL if a bitmap table entry breaks the spec. */
int qcow2_bitmap_check_table_entry(BDRVQcow2State *s, uint64_t entry);
/* Read and check @bm's table (host-endian) into a new *@ptable. */
int qcow2_bitmap_table_load(BlockDriverState *bs, const Qcow2Bitmap *bm,
                            uint64_t **ptable);
/* Free the data clusters @table points to, zeroing its entries. */
void qcow2_bitmap_table_free_clusters(BlockDriverState *bs, uint64_t *table,
                                      uint32_t size);
/* Free @bm's data clusters and table; its table fields become 0. */
int qcow2_bitmap_free_clusters(BlockDriverState *bs, Qcow2Bitmap *bm);
/*
 * qemu-img info's "bitmaps" list as read from the directory (flags
 * in-use/auto, name, granularity); *@plist NULL when there are none.
 */
int qcow2_bitmap_info_list(BlockDriverState *bs, QObject **plist,
                           Error **errp);
/* qemu-img check: each structure of the bitmaps, as (offset, bytes). */
typedef void Qcow2CheckIncFn(void *opaque, int64_t offset, int64_t size);
int qcow2_check_bitmaps_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                                  Qcow2CheckIncFn *inc, void *opaque);
/*
 * Bytes a copy of @bs's persistent bitmaps takes in clusters of
 * @cluster_size; -ENOTSUP for v2 images, which keep none.
 */
int64_t qcow2_bitmaps_size(BlockDriverState *bs, int64_t cluster_size);
bool qcow2_supports_persistent_dirty_bitmap(BlockDriverState *bs);
/* QEMU's check_constraints_on_bitmap(): granularity, size, name. */
int qcow2_bitmap_check_constraints(BlockDriverState *bs, const char *name,
                                   uint32_t granularity, Error **errp);
/* Whether a new persistent bitmap fits (-1 with QEMU's message). */
int qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp);

/* qcow2-bitmap-sync.c */
/*
 * At open: every bitmap of the directory becomes an in-memory persistent
 * bitmap (disabled without the auto flag; inconsistent if found in use;
 * read-only on a read-only node).  A writable node marks the consistent
 * ones in use on disk (*@header_updated then says the header was
 * written).
 */
int qcow2_load_dirty_bitmaps(BlockDriverState *bs, bool can_write,
                             bool *header_updated, Error **errp);
/*
 * At close or hand-over: write every changed persistent bitmap back to
 * new clusters, rewrite the directory with their in-use flags clear and
 * free the old clusters; @release drops the in-memory bitmaps written.
 */
int qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool release,
                                         Error **errp);
/* Remove bitmap @name from the image now (absent: 0). */
int qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                         const char *name, Error **errp);
/* Whether a resize may go ahead (every bitmap loaded and consistent). */
int qcow2_truncate_bitmaps_check(BlockDriverState *bs, Error **errp);

/* qcow2-compress.c */
/* "compressed clusters need zlib, which this build ... lacks" */
void qcow2_warn_no_compression(BDRVQcow2State *s);
/* Whether this build can compress and decompress clusters of @type. */
bool qcow2_compression_type_supported(unsigned type);
/*
 * Compress @in with the image's compression type into at most @out_size
 * bytes: the stream's length, -ENOSPC if it does not fit (the cluster is
 * then written uncompressed), -ENOTSUP if this build lacks the type.
 */
ssize_t qcow2_compress(BDRVQcow2State *s, uint8_t *out, size_t out_size,
                       const uint8_t *in, size_t in_size);
/*
 * Decompress into exactly @out_size bytes from at most @in_size bytes of
 * stream (the rest is padding): 0, -EIO for a stream that does not
 * decode to exactly @out_size bytes, -ENOTSUP if this build lacks the type.
 */
int qcow2_decompress(BDRVQcow2State *s, uint8_t *out, size_t out_size,
                     const uint8_t *in, size_t in_size);

/* qcow2-zero.c */
/* Write zeroes (BDRV_REQ_MAY_UNMAP honoured) to a checked, writable range. */
int qcow2_zero_write(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     int flags);

/* qcow2-subcluster.c */
/*
 * The type of subcluster @sc of the cluster with entry @e and bitmap @b
 * (INVALID checks the whole bitmap, as QEMU's).
 */
Qcow2SubclusterType qcow2_get_subcluster_type(BDRVQcow2State *s, uint64_t e,
                                              uint64_t b, int sc);
/*
 * The number of subclusters from @sc on that have its type (*@type);
 * -EINVAL for an invalid entry.  Compressed clusters count to their end.
 */
int qcow2_subcluster_range(BDRVQcow2State *s, uint64_t e, uint64_t b,
                           int sc, Qcow2SubclusterType *type);
/*
 * Write into a run of clusters inside one L2 table of an image with
 * extended L2 entries, as QEMU 7.2 does: new clusters, or clusters only
 * this entry references, get the written subclusters allocated, with
 * copy-on-write only to the subcluster boundaries that need it.  *@done
 * is how many bytes from @offset were written.
 */
int qcow2_subcluster_write(BlockDriverState *bs, uint64_t offset,
                           uint64_t bytes, const uint8_t *buf,
                           uint64_t *done);
/*
 * QEMU's qcow2_subcluster_zeroize() for v3 images: subcluster-aligned
 * [@offset, @offset+@bytes) (or ending at the image end) reads as zeros;
 * whole clusters through qcow2_cluster_zeroize(), partial ones by their
 * zero bits.  -ENOTSUP for part of a compressed cluster.
 */
int qcow2_subcluster_zeroize(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, bool may_unmap);

/* qcow2-snapshot.c */
/* Read and validate the snapshot table into s->snapshots. */
int qcow2_read_snapshots(BlockDriverState *bs, Error **errp);
/* Write s->snapshots to new clusters and point the header at them. */
int qcow2_write_snapshots(BlockDriverState *bs);
/*
 * Check mode: read the snapshot table the open skipped, repairing what
 * @fix allows; problems are counted in @res and reported, no errp.
 */
int qcow2_check_read_snapshot_table(BlockDriverState *bs,
                                    BdrvCheckResult *res, BdrvCheckMode fix);
/* After the refcount check: rewrite a table the reading had to repair. */
int qcow2_check_fix_snapshot_table(BlockDriverState *bs,
                                   BdrvCheckResult *res, BdrvCheckMode fix);
/* Free s->snapshots and the strings of its entries. */
void qcow2_free_snapshots(BlockDriverState *bs);
/*
 * Snapshot the active layer as @sn_info; an empty id_str is filled in
 * (highest numeric ID + 1).  -EEXIST if the ID is taken.
 */
int qcow2_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn_info,
                          Error **errp);
/* Revert the active layer to the snapshot with ID or name @snapshot_id. */
int qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                        Error **errp);
/*
 * Read-only images: read the snapshot matching @snapshot_id and/or @name
 * from now on (its L1 table replaces the active one in memory; the disk
 * size stays the image's, as in QEMU).  Nothing is written.
 */
int qcow2_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                            const char *name, Error **errp);
/* Delete the snapshot matching @snapshot_id and/or @name. */
int qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                          const char *name, Error **errp);
/*
 * *@psn = a new array (caller frees) describing the snapshots; returns
 * how many there are.
 */
int qcow2_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn);

/* qcow2-check.c */
/*
 * Check (and with @fix, repair) the image into @res; clears the dirty
 * and corrupt bits when a repair leaves nothing wrong.
 */
int qcow2_check(BlockDriverState *bs, BdrvCheckResult *res,
                BdrvCheckMode fix);
/* One line of check output: to the report hook if set, else a warning. */
void qcow2_check_report(const char *fmt, ...) QEMU_PRINTF(1, 2);

/* qcow2-io.c: the driver table's request entry points. */
int qcow2_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                void *buf);
int qcow2_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                 const void *buf, int flags);
int qcow2_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int flags);
int qcow2_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes);
int qcow2_flush_to_os(BlockDriverState *bs);
int qcow2_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, int64_t *map, BlockDriverState **file);
int64_t qcow2_getlength(BlockDriverState *bs);
int64_t qcow2_get_allocated_file_size(BlockDriverState *bs);
int qcow2_truncate_entry(BlockDriverState *bs, int64_t offset, bool exact,
                         PreallocMode prealloc, Error **errp);
int qcow2_save_vmstate(BlockDriverState *bs, const void *buf, int64_t pos,
                       int64_t size);
int qcow2_load_vmstate(BlockDriverState *bs, void *buf, int64_t pos,
                       int64_t size);
/* The VM state starts at the first L1 entry past the guest disk. */
int64_t qcow2_vm_state_offset(BDRVQcow2State *s);

/*
 * qcow2-lock.c: what lets requests in coroutines (qemu-io's aio_read and
 * aio_write) stop halfway, at a blkdebug breakpoint, while others run.
 *
 * qcow2_lock() is QEMU's s->lock: taken at every I/O entry point and held
 * while the metadata (L1/L2 tables and caches, refcounts, the header)
 * changes, so no request sees another's half-done update.  It nests (the
 * write path asks its own node for block status).  A request drops it
 * while its guest data is read or written (qcow2_data_io_begin/end), so
 * a request suspended there holds up nobody but the requests on the same
 * clusters.
 *
 * Those wait through the range lock, QEMU's handle_dependencies(): a
 * write, zero write or discard owns the guest clusters it touches until
 * it has linked them into the L2 tables, and an overlapping one waits
 * until then, so it never allocates a second cluster for the same guest
 * cluster or copies data that is about to change.  Reads do not wait,
 * and read the old data, as in QEMU.
 */
typedef struct Qcow2Range {
    uint64_t start, end;        /* guest bytes, whole clusters */
    Coroutine *owner;
    CoQueue waiters;
    struct Qcow2Range *next;
} Qcow2Range;

void qcow2_lock(BlockDriverState *bs);
void qcow2_unlock(BlockDriverState *bs);
/* Drop the lock for guest data I/O: true if it was dropped. */
bool qcow2_data_io_begin(BlockDriverState *bs);
void qcow2_data_io_end(BlockDriverState *bs, bool dropped);
/* With the lock held: own [offset, offset + bytes) (@r is the caller's). */
void qcow2_range_lock(BlockDriverState *bs, Qcow2Range *r, uint64_t offset,
                      uint64_t bytes);
void qcow2_range_unlock(BlockDriverState *bs, Qcow2Range *r);

#endif /* BLOCK_QCOW2_H */
