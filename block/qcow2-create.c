/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-create.c: creating qcow2 images (QEMU 7.2's steps and layout, its
 * option list and messages).  Changing them afterwards: qcow2-amend.c.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

/* ---- create ----------------------------------------------------------- */

/* The options creation and amend share, in QEMU's order. */
#define QCOW2_COMMON_OPTS                                                   \
    { "size", QEMU_OPT_SIZE, "Virtual disk size", NULL },                  \
    { "compat", QEMU_OPT_STRING,                                           \
      "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },               \
    { "backing_file", QEMU_OPT_STRING, "File name of a base image", NULL }, \
    { "backing_fmt", QEMU_OPT_STRING, "Image format of the base image",    \
      NULL },                                                              \
    { "data_file", QEMU_OPT_STRING, "File name of an external data file",  \
      NULL },                                                              \
    { "data_file_raw", QEMU_OPT_BOOL,                                      \
      "The external data file must stay valid as a raw image", NULL },     \
    { "lazy_refcounts", QEMU_OPT_BOOL, "Postpone refcount updates", "off" }, \
    { "refcount_bits", QEMU_OPT_NUMBER,                                    \
      "Width of a reference count entry in bits", "16" }

const QemuOptDesc qcow2_create_opts[] = {
    { "encryption", QEMU_OPT_BOOL,
      "Encrypt the image with format 'aes'. (Deprecated in favor of "
      "encrypt.format=aes)", NULL },
    { "encrypt.format", QEMU_OPT_STRING,
      "Encrypt the image, format choices: 'aes', 'luks'", NULL },
    { "cluster_size", QEMU_OPT_SIZE, "qcow2 cluster size", "65536" },
    { "extended_l2", QEMU_OPT_BOOL, "Extended L2 tables", "off" },
    { "preallocation", QEMU_OPT_STRING,
      "Preallocation mode (allowed values: off, metadata, falloc, full)",
      NULL },
    { "compression_type", QEMU_OPT_STRING,
      "Compression method used for image cluster compression", "zlib" },
    QCOW2_COMMON_OPTS,
    { NULL, 0, NULL, NULL },
};

/* QEMU's also has the LUKS keyslot options (encryption: not supported). */
const QemuOptDesc qcow2_amend_opts[] = {
    QCOW2_COMMON_OPTS,
    { NULL, 0, NULL, NULL },
};

typedef struct Qcow2CreateOpts {
    uint64_t size;
    uint64_t cluster_size;
    int version;
    bool lazy_refcounts;
    uint64_t refcount_bits;
    uint8_t compression_type;
    PreallocMode prealloc;
    const char *backing_file;
    const char *backing_fmt;
    const char *data_file;
    bool data_file_raw;
    bool extended_l2;
} Qcow2CreateOpts;

static int parse_create_opts(const char *filename, QDict *opts,
                             Qcow2CreateOpts *o, Error **errp)
{
    const char *v;
    bool b;
    int ret;

    (void)filename;
    memset(o, 0, sizeof(*o));
    ret = qdict_get_size(opts, "size", 0, &o->size, errp);
    if (ret < 0) {
        return ret;
    }
    o->size = QEMU_ALIGN_UP(o->size, BDRV_SECTOR_SIZE);
    ret = qdict_get_size(opts, "cluster_size", 65536, &o->cluster_size,
                         errp);
    if (ret < 0) {
        return ret;
    }
    if (o->cluster_size < 512 || o->cluster_size > 2 * MiB ||
        (o->cluster_size & (o->cluster_size - 1))) {
        error_setg(errp, "Cluster size must be a power of two between 512 "
                   "and 2048k");
        return -EINVAL;
    }
    v = qdict_get_str(opts, "compat");
    if (!v || !strcmp(v, "1.1") || !strcmp(v, "v3")) {
        o->version = 3;
    } else if (!strcmp(v, "0.10") || !strcmp(v, "v2")) {
        o->version = 2;
    } else {
        error_setg(errp, "Parameter 'version' does not accept value '%s'", v);
        return -EINVAL;
    }
    ret = qdict_get_bool(opts, "extended_l2", false, &o->extended_l2, errp);
    if (ret < 0) {
        return ret;
    }
    if (o->extended_l2 && o->version < 3) {
        error_setg(errp, "Extended L2 entries are only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    if (o->extended_l2 &&
        o->cluster_size < (1u << QCOW2_MIN_CLUSTER_BITS) * QCOW2_SUBCLUSTERS) {
        error_setg(errp, "Extended L2 entries are only supported with "
                   "cluster sizes of at least %u bytes",
                   (1u << QCOW2_MIN_CLUSTER_BITS) * QCOW2_SUBCLUSTERS);
        return -EINVAL;
    }
    ret = qdict_get_bool(opts, "lazy_refcounts", false, &o->lazy_refcounts,
                         errp);
    if (ret < 0) {
        return ret;
    }
    if (o->lazy_refcounts && o->version < 3) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                   "level 1.1 and above (use version=v3 or greater)");
        return -EINVAL;
    }
    v = qdict_get_str(opts, "refcount_bits");
    o->refcount_bits = 16;
    if (v) {
        int64_t n;
        if (qemu_strtoi64(v, NULL, 10, &n) < 0 || n <= 0 || n > 64 ||
            (n & (n - 1))) {
            error_setg(errp, "Refcount width must be a power of two and may "
                       "not exceed 64 bits");
            return -EINVAL;
        }
        o->refcount_bits = n;
    }
    if (o->version < 3 && o->refcount_bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    v = qdict_get_str(opts, "preallocation");
    o->prealloc = PREALLOC_MODE_OFF;
    if (v && prealloc_mode_parse(v, &o->prealloc) < 0) {
        error_setg(errp, "Parameter 'preallocation' does not accept value "
                   "'%s'", v);
        return -EINVAL;
    }
    o->backing_file = qdict_get_str(opts, "backing_file");
    o->backing_fmt = qdict_get_str(opts, "backing_fmt");
    if (o->backing_fmt && !o->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing "
                   "file");
        return -EINVAL;
    }
    if (o->backing_file && o->prealloc != PREALLOC_MODE_OFF &&
        !o->extended_l2) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                   "the same time if extended_l2 is on");
        return -EINVAL;
    }
    v = qdict_get_str(opts, "compression_type");
    if (v && !strcmp(v, "zstd") &&
        qcow2_compression_type_supported(QCOW2_COMPRESSION_TYPE_ZSTD)) {
        if (o->version < 3) {
            error_setg(errp, "Non-zlib compression type is only supported "
                       "with compatibility level 1.1 and above (use "
                       "version=v3 or greater)");
            return -EINVAL;
        }
        o->compression_type = QCOW2_COMPRESSION_TYPE_ZSTD;
    } else if (v && strcmp(v, "zlib")) {
        error_setg(errp, "Parameter 'compression-type' does not accept "
                   "value '%s'", v);
        return -EINVAL;
    }
    ret = qdict_get_bool(opts, "encryption", false, &b, errp);
    if (ret < 0) {
        return ret;
    }
    if (b || qdict_get_str(opts, "encrypt.format")) {
        error_setg(errp, "qcow2 encryption is not supported by this driver");
        return -ENOTSUP;
    }
    o->data_file = qdict_get_str(opts, "data_file");
    ret = qdict_get_bool(opts, "data_file_raw", false, &o->data_file_raw,
                         errp);
    if (ret < 0) {
        return ret;
    }
    if (o->data_file_raw && !o->data_file) {
        error_setg(errp, "data-file-raw requires data-file");
        return -EINVAL;
    }
    if (o->data_file_raw && o->backing_file) {
        error_setg(errp, "Backing file and data-file-raw cannot be used at "
                   "the same time");
        return -EINVAL;
    }
    if (o->data_file_raw && o->prealloc == PREALLOC_MODE_OFF) {
        /* A raw data file needs the 1:1 mapping in place from the start. */
        o->prealloc = PREALLOC_MODE_METADATA;
    }
    if (o->data_file && o->version < 3) {
        error_setg(errp, "External data files are only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    {
        int cb = 0;
        while ((1ULL << cb) < o->cluster_size) {
            cb++;
        }
        if (DIV_ROUND_UP(o->size, (uint64_t)o->cluster_size *
                         (o->cluster_size / (o->extended_l2 ? 16 : 8))) >
            QCOW2_MAX_L1_BYTES / 8) {
            error_setg(errp, "The image size is too large for file format "
                       "'qcow2' (try using a larger cluster size)");
            return -EFBIG;
        }
    }
    return 0;
}

static bool is_qcow2_opt(const char *key)
{
    return qemu_opt_find_desc(qcow2_create_opts, key) != NULL ||
           strstart(key, "encrypt.", NULL);
}

/*
 * The external data file: created by the file driver at the virtual size
 * (with the file options, falloc and full preallocation included), as
 * QEMU's bdrv_create_file() does.
 */
static int create_data_file(const Qcow2CreateOpts *o, QDict *opts,
                            Error **errp)
{
    BlockDriver *file_drv = bdrv_find_format("file");
    QDict *fopts = qdict_new();
    char size[32];
    int ret;

    for (const QDictEntry *e = qdict_first(opts); e; e = qdict_next(opts, e)) {
        if (!is_qcow2_opt(qdict_entry_key(e))) {
            qdict_put_str(fopts, qdict_entry_key(e), qdict_entry_value(e));
        }
    }
    snprintf(size, sizeof(size), "%" PRIu64, o->size);
    qdict_put_str(fopts, "size", size);
    if (o->prealloc == PREALLOC_MODE_FALLOC) {
        qdict_put_str(fopts, "preallocation", "falloc");
    } else if (o->prealloc == PREALLOC_MODE_FULL) {
        qdict_put_str(fopts, "preallocation", "full");
    }
    ret = bdrv_create(file_drv, o->data_file, fopts, errp);
    qdict_free(fopts);
    return ret;
}

int qcow2_create(const char *filename, QDict *opts, Error **errp)
{
    Qcow2CreateOpts o;
    BlockDriver *file_drv = bdrv_find_format("file");
    BlockDriverState *fbs = NULL, *bs = NULL;
    QDict *fopts, *oopts;
    uint8_t *buf = NULL;
    int cluster_bits = 0, ret;

    ret = parse_create_opts(filename, opts, &o, errp);
    if (ret < 0) {
        return ret;
    }
    while ((1ULL << cluster_bits) < o.cluster_size) {
        cluster_bits++;
    }
    if (!file_drv) {
        error_setg(errp, "Protocol driver 'file' not found");
        return -ENOENT;
    }

    /* The protocol file, with the options meant for it. */
    fopts = qdict_new();
    for (const QDictEntry *e = qdict_first(opts); e; e = qdict_next(opts, e)) {
        if (!is_qcow2_opt(qdict_entry_key(e))) {
            qdict_put_str(fopts, qdict_entry_key(e), qdict_entry_value(e));
        }
    }
    qdict_put_str(fopts, "size", "0");
    ret = bdrv_create(file_drv, filename, fopts, errp);
    qdict_free(fopts);
    if (ret < 0) {
        return ret;
    }
    if (o.data_file) {
        ret = create_data_file(&o, opts, errp);
        if (ret < 0) {
            return ret;
        }
    }
    oopts = qdict_new();
    qdict_put_str(oopts, "driver", "file");
    fbs = bdrv_open(filename, oopts, BDRV_O_RDWR | BDRV_O_PROTOCOL, errp);
    if (!fbs) {
        return -EIO;
    }
    ret = bdrv_set_root_perm(fbs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE |
                             BLK_PERM_RESIZE, BLK_PERM_ALL, errp);
    if (ret < 0) {
        goto out;
    }

    /* A minimal header, an empty refcount table and one refcount block. */
    buf = qemu_xzalloc(o.cluster_size * 2);
    stbe32(buf, QCOW_MAGIC);
    stbe32(buf + 4, o.version);
    stbe32(buf + 20, cluster_bits);
    stbe64(buf + 24, 0);
    stbe64(buf + 48, o.cluster_size);
    stbe32(buf + 56, 1);
    if (o.version >= 3) {
        int order = 0;
        while ((1ULL << order) < o.refcount_bits) {
            order++;
        }
        stbe64(buf + 72,
               (o.compression_type != QCOW2_COMPRESSION_TYPE_ZLIB
                ? QCOW2_INCOMPAT_COMPRESSION : 0) |
               (o.data_file ? QCOW2_INCOMPAT_DATA_FILE : 0) |
               (o.extended_l2 ? QCOW2_INCOMPAT_EXTL2 : 0));
        stbe64(buf + 80, o.lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        stbe64(buf + 88, o.data_file_raw ? QCOW2_AUTOCLEAR_DATA_RAW : 0);
        stbe32(buf + 96, order);
        stbe32(buf + 100, QCOW2_HEADER_LEN);
        buf[104] = o.compression_type;
    }
    ret = bdrv_pwrite(fbs, 0, o.cluster_size, buf, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 header");
        goto out;
    }
    memset(buf, 0, o.cluster_size * 2);
    stbe64(buf, 2 * o.cluster_size);
    ret = bdrv_pwrite(fbs, o.cluster_size, 2 * o.cluster_size, buf, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write refcount table");
        goto out;
    }
    bdrv_unref(fbs);
    fbs = NULL;

    /* Now open it as qcow2 and let the driver do the rest. */
    oopts = qdict_new();
    qdict_put_str(oopts, "driver", "qcow2");
    if (o.data_file) {
        qdict_put_str(oopts, "data-file.driver", "file");
        qdict_put_str(oopts, "data-file.filename", o.data_file);
    }
    bs = bdrv_open(filename, oopts, BDRV_O_RDWR | BDRV_O_RESIZE |
                   BDRV_O_NO_BACKING, errp);
    if (!bs) {
        ret = -EIO;
        goto out;
    }
    ret = bdrv_set_root_perm(bs, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE |
                             BLK_PERM_RESIZE, BLK_PERM_ALL, errp);
    if (ret < 0) {
        goto out;
    }
    {
        BDRVQcow2State *s = bs->opaque;
        int64_t off = qcow2_alloc_clusters(bs, 3 * o.cluster_size);
        if (off < 0) {
            ret = off;
            error_setg_errno(errp, -ret, "Could not allocate clusters for "
                             "qcow2 header and refcount table");
            goto out;
        }
        if (o.data_file) {
            /* The name as given, as QEMU records it. */
            s->image_data_file = qemu_xstrdup(o.data_file);
        }
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not write qcow2 header");
            goto out;
        }
    }
    ret = qcow2_truncate(bs, o.size, false, o.prealloc, errp);
    if (ret < 0) {
        error_prepend(errp, "Could not resize image: ");
        goto out;
    }
    if (o.backing_file) {
        ret = qcow2_change_backing_file(bs, o.backing_file, o.backing_fmt,
                                        errp);
        if (ret < 0) {
            goto out;
        }
    }
    ret = bdrv_flush(bs);
out:
    free(buf);
    if (fbs) {
        bdrv_unref(fbs);
    }
    if (bs) {
        bdrv_unref(bs);
    }
    return ret;
}

/* ---- measure ---------------------------------------------------------- */

/*
 * Refcount table and blocks for @clusters clusters and for themselves:
 * the fixed point where no further block or table cluster is needed.
 */
static int64_t refcount_metadata_size(int64_t clusters, int64_t cluster_size,
                                      int refcount_order)
{
    int64_t per_table_cluster = cluster_size / 8;
    int64_t per_block = cluster_size * 8 / (1 << refcount_order);
    int64_t table = 0, blocks = 0, n = 0, last;

    do {
        last = n;
        blocks = DIV_ROUND_UP(clusters + table + blocks, per_block);
        table = DIV_ROUND_UP(blocks, per_table_cluster);
        n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * cluster_size;
}

/* Header, L1, L2 and refcount metadata for @size, plus the data. */
static int64_t fully_allocated_size(int64_t size, int64_t cluster_size,
                                    int refcount_order, bool extended_l2)
{
    int64_t l2e = extended_l2 ? 16 : 8;
    int64_t aligned = QEMU_ALIGN_UP(size, cluster_size);
    int64_t meta = cluster_size;
    uint64_t nl2e = QEMU_ALIGN_UP(aligned / cluster_size, cluster_size / l2e);
    uint64_t nl1e = QEMU_ALIGN_UP(nl2e * l2e / cluster_size, cluster_size / 8);

    meta += nl2e * l2e + nl1e * 8;
    meta += refcount_metadata_size((meta + aligned) / cluster_size,
                                   cluster_size, refcount_order);
    return meta + aligned;
}

/*
 * Clusters of @in_bs's chain that hold data (zero ranges need nothing in
 * an image without a backing file), in bytes of @cluster_size clusters.
 */
static int64_t data_clusters_size(BlockDriverState *in_bs, int64_t ssize,
                                  int64_t cluster_size, Error **errp)
{
    int64_t required = 0, pnum = 0;

    for (int64_t offset = 0; offset < ssize; offset += pnum) {
        int ret = bdrv_block_status_above(in_bs, NULL, offset,
                                          ssize - offset, &pnum, NULL, NULL,
                                          NULL);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Unable to get block status");
            return ret;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            continue;
        }
        if ((ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) ==
            (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)) {
            /* Up to the end of the cluster; count from its start. */
            pnum = QEMU_ALIGN_UP(offset + pnum, cluster_size) - offset;
            required += offset % cluster_size + pnum;
        }
    }
    return required;
}

/*
 * QEMU 7.2's qcow2_measure(): every metadata cluster a fully allocated
 * image would have, plus the data clusters the input needs (all of them
 * with a backing file, falloc or full preallocation).
 */
int qcow2_measure(QDict *opts, BlockDriverState *in_bs,
                  BlockMeasureInfo *info, Error **errp)
{
    QDict *sizeless = qdict_clone(opts);
    Qcow2CreateOpts o;
    uint64_t vsize = 0;
    int64_t size, required = 0;
    int order = 0;
    int ret;

    /* The size is measure's to check, with measure's message. */
    qdict_del(sizeless, "size");
    ret = parse_create_opts(NULL, sizeless, &o, errp);
    if (ret == 0 && qdict_get_size(opts, "size", 0, &vsize, errp) < 0) {
        ret = -EINVAL;
    }
    if (ret < 0) {
        qdict_free(sizeless);
        return ret;
    }
    while ((1ULL << order) < o.refcount_bits) {
        order++;
    }
    size = QEMU_ALIGN_UP(vsize, o.cluster_size);
    if (DIV_ROUND_UP(size, o.cluster_size *
                     (int64_t)(o.cluster_size / (o.extended_l2 ? 16 : 8)))
        > QCOW2_MAX_L1_BYTES / 8) {
        error_setg(errp, "The image size is too large (try using a larger "
                   "cluster size)");
        qdict_free(sizeless);
        return -EFBIG;
    }
    if (in_bs) {
        int64_t ssize = bdrv_getlength(in_bs);

        if (ssize < 0) {
            error_setg_errno(errp, (int)-ssize,
                             "Unable to get image virtual_size");
            qdict_free(sizeless);
            return (int)ssize;
        }
        size = QEMU_ALIGN_UP(ssize, o.cluster_size);
        if (o.backing_file) {
            /* The new backing file may share nothing with the input. */
            required = size;
        } else {
            required = data_clusters_size(in_bs, ssize, o.cluster_size,
                                          errp);
            if (required < 0) {
                qdict_free(sizeless);
                return (int)required;
            }
        }
    }
    if (o.prealloc == PREALLOC_MODE_FULL ||
        o.prealloc == PREALLOC_MODE_FALLOC) {
        required = size;
    }
    info->fully_allocated = fully_allocated_size(size, o.cluster_size, order,
                                                 o.extended_l2);
    /* The metadata of a fully allocated image stays counted, as QEMU's. */
    info->required = info->fully_allocated - size + required;
    info->has_bitmaps = o.version >= 3 && in_bs &&
                        in_bs->drv->bdrv_bitmaps_size &&
                        in_bs->drv->bdrv_bitmaps_size(in_bs,
                                                      o.cluster_size) >= 0;
    if (info->has_bitmaps) {
        info->bitmaps = in_bs->drv->bdrv_bitmaps_size(in_bs, o.cluster_size);
    }
    qdict_free(sizeless);
    return 0;
}
