/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2.c: the qcow2 format driver's front room: header and extensions,
 * open/close, info, and the BlockDriver table.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/dirty-bitmap.h"
#include "block/qcow2.h"
#include "config-host.h"

static const char *const feature_names[][3] = {
    /* incompatible, compatible, autoclear by bit */
    { "dirty bit", "lazy refcounts", "bitmaps" },
    { "corrupt bit", NULL, "raw external data" },
    { "external data file", NULL, NULL },
    { "compression type", NULL, NULL },
    { "extended L2 entries", NULL, NULL },
};

static int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    (void)filename;
    if (buf_size >= 8 && ldbe32(buf) == QCOW_MAGIC &&
        ldbe32(buf + 4) >= 2) {
        return 100;
    }
    return 0;
}

void qcow2_signal_corruption(BlockDriverState *bs, bool fatal,
                             const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    char *msg;
    va_list ap;

    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    if (!fatal || !s->writable) {
        if (!s->corrupt_reported) {
            qemu_warn_raw("qcow2: Image is corrupt: %s; further non-fatal "
                      "corruption events will be suppressed", msg);
        }
        s->corrupt_reported = true;
        free(msg);
        return;
    }
    if (!s->signaled_corruption) {
        uint8_t buf[8];
        qemu_warn_raw("qcow2: Marking image as corrupt: %s; further "
                      "corruption "
                  "events will be suppressed", msg);
        s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        stbe64(buf, s->incompatible_features);
        if (s->qcow_version >= 3) {
            (void)bdrv_child_pwrite(bs->file, 72, 8, buf, 0);
            (void)bdrv_flush(bs->file->bs);
        }
        s->signaled_corruption = true;
        /* Stop every further write, and (as QEMU) every request at all. */
        s->writable = false;
        bs->drv_dropped = true;
    }
    s->corrupt_reported = true;
    free(msg);
}

void qcow2_error_report(const char *fmt, ...)
{
    const char *prog = error_get_progname();
    char *msg;
    va_list ap;

    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    if (prog) {
        qemu_warn_raw("%s: %s", prog, msg);
    } else {
        qemu_warn_raw("%s", msg);
    }
    free(msg);
}

int qcow2_file_flush(BlockDriverState *bs)
{
    return bdrv_flush(bs->file->bs);
}

static int write_incompat(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t buf[8];
    int ret;

    stbe64(buf, s->incompatible_features);
    ret = bdrv_child_pwrite(bs->file, 72, 8, buf, 0);
    if (ret < 0) {
        return ret;
    }
    return qcow2_file_flush(bs);
}

int qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!s->writable) {
        return -EIO;
    }
    if (!s->use_lazy_refcounts ||
        (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_file_flush(bs);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    return write_incompat(bs);
}

int qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    /* Clear the bit first: only then does the flush write refcounts. */
    s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
        return ret;
    }
    return write_incompat(bs);
}

/* ---- header ----------------------------------------------------------- */

static int add_ext(uint8_t *buf, size_t *pos, size_t len, uint32_t type,
                   const void *data, uint32_t dlen)
{
    size_t padded = QEMU_ALIGN_UP(dlen, 8);

    if (*pos + 8 + padded > len) {
        return -ENOSPC;
    }
    stbe32(buf + *pos, type);
    stbe32(buf + *pos + 4, dlen);
    if (dlen) {
        memcpy(buf + *pos + 8, data, dlen);
    }
    memset(buf + *pos + 8 + dlen, 0, padded - dlen);
    *pos += 8 + padded;
    return 0;
}

int qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    size_t len = s->cluster_size, pos;
    uint8_t *buf = qemu_xzalloc(len);
    uint32_t hlen;
    int ret = -ENOSPC;

    stbe32(buf, QCOW_MAGIC);
    stbe32(buf + 4, s->qcow_version);
    stbe32(buf + 20, s->cluster_bits);
    stbe64(buf + 24, s->size);
    stbe32(buf + 32, s->crypt_method);
    stbe32(buf + 36, s->l1_size);
    stbe64(buf + 40, s->l1_table_offset);
    stbe64(buf + 48, s->refcount_table_offset);
    stbe32(buf + 56, s->refcount_table_clusters);
    if (s->snapshots_unread) {
        /* Check mode before the check has read the snapshot table. */
        stbe32(buf + 60, s->unread_nb_snapshots);
        stbe64(buf + 64, s->unread_snapshots_offset);
    } else {
        stbe32(buf + 60, s->nb_snapshots);
        stbe64(buf + 64, s->snapshots_offset);
    }
    if (s->qcow_version >= 3) {
        hlen = QCOW2_HEADER_LEN + s->header_tail_len;
        if (hlen > len) {
            goto out;
        }
        stbe64(buf + 72, s->incompatible_features);
        stbe64(buf + 80, s->compatible_features);
        stbe64(buf + 88, s->autoclear_features);
        stbe32(buf + 96, s->refcount_order);
        stbe32(buf + 100, hlen);
        buf[104] = s->compression_type;
        if (s->header_tail_len) {
            memcpy(buf + QCOW2_HEADER_LEN, s->header_tail,
                   s->header_tail_len);
        }
    } else {
        hlen = QCOW2_V2_HEADER_LEN;
    }
    pos = hlen;

    if (bs->backing_file[0] && bs->backing_format[0]) {
        if (add_ext(buf, &pos, len, QCOW2_EXT_BACKING_FORMAT,
                    bs->backing_format, strlen(bs->backing_format)) < 0) {
            goto out;
        }
    }
    if (qcow2_has_data_file(s) && s->image_data_file) {
        if (add_ext(buf, &pos, len, QCOW2_EXT_DATA_FILE, s->image_data_file,
                    strlen(s->image_data_file)) < 0) {
            goto out;
        }
    }
    if (s->qcow_version >= 3 && s->cluster_size > 4096) {
        uint8_t table[8 * 48];
        static const struct { uint8_t type, bit; const char *name; } f[] = {
            { 0, 0, "dirty bit" },
            { 0, 1, "corrupt bit" },
            { 0, 2, "external data file" },
            { 0, 3, "compression type" },
            { 0, 4, "extended L2 entries" },
            { 1, 0, "lazy refcounts" },
            { 2, 0, "bitmaps" },
            { 2, 1, "raw external data" },
        };
        memset(table, 0, sizeof(table));
        for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
            table[i * 48] = f[i].type;
            table[i * 48 + 1] = f[i].bit;
            memcpy(table + i * 48 + 2, f[i].name, strlen(f[i].name));
        }
        if (add_ext(buf, &pos, len, QCOW2_EXT_FEATURE_TABLE, table,
                    sizeof(table)) < 0) {
            goto out;
        }
    }
    if (s->nb_bitmaps > 0) {
        uint8_t ext[QCOW2_BITMAPS_EXT_LEN];

        qcow2_bitmaps_ext_bytes(s, ext);
        if (add_ext(buf, &pos, len, QCOW2_EXT_BITMAPS, ext, sizeof(ext)) < 0) {
            goto out;
        }
    }
    for (int i = 0; i < s->nb_unknown_ext; i++) {
        if (add_ext(buf, &pos, len, s->unknown_ext[i].type,
                    s->unknown_ext[i].data, s->unknown_ext[i].len) < 0) {
            goto out;
        }
    }
    if (add_ext(buf, &pos, len, QCOW2_EXT_END, NULL, 0) < 0) {
        goto out;
    }
    if (bs->backing_file[0]) {
        size_t blen = strlen(bs->backing_file);
        if (pos + blen > len) {
            goto out;
        }
        memcpy(buf + pos, bs->backing_file, blen);
        stbe64(buf + 8, pos);
        stbe32(buf + 16, blen);
    }
    ret = bdrv_child_pwrite(bs->file, 0, len, buf, 0);
out:
    free(buf);
    return ret;
}

/* Append @name to the comma-separated list *@list (malloc'ed). */
static void list_append(char **list, const char *name)
{
    char *n = qemu_xasprintf("%s%s%s", *list, **list ? ", " : "", name);

    free(*list);
    *list = n;
}

static void report_unsupported_features(BDRVQcow2State *s, uint64_t mask,
                                        const uint8_t *table, size_t tlen,
                                        Error **errp)
{
    char *list = qemu_xstrdup("");
    uint8_t ent[48];

    /*
     * As QEMU: the image's table in its order (a short last entry is
     * zero-padded; an empty name ends it), then our names for the rest.
     */
    for (size_t i = 0; table && i < tlen; i += 48) {
        memset(ent, 0, sizeof(ent));
        memcpy(ent, table + i, MIN((size_t)48, tlen - i));
        if (!ent[2]) {
            break;
        }
        if (ent[0] == 0 && ent[1] < 64 && (mask & (1ULL << ent[1]))) {
            char name[47];

            memcpy(name, ent + 2, 46);
            name[46] = 0;
            list_append(&list, name);
            mask &= ~(1ULL << ent[1]);
        }
    }
    for (int bit = 0; bit < (int)ARRAY_SIZE(feature_names); bit++) {
        if (mask & (1ULL << bit)) {
            list_append(&list, feature_names[bit][0]);
            mask &= ~(1ULL << bit);
        }
    }
    if (mask) {
        char *n = qemu_xasprintf("Unknown incompatible feature: %" PRIx64,
                                 mask);
        list_append(&list, n);
        free(n);
    }
    (void)s;
    error_setg(errp, "Unsupported qcow2 feature(s): %s", list);
    free(list);
}

int qcow2_validate_table(BlockDriverState *bs, uint64_t offset,
                         uint64_t entries, size_t entry_len,
                         int64_t max_bytes, const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (entries > (uint64_t)max_bytes / entry_len) {
        error_setg(errp, "%s too large", name);
        return -EFBIG;
    }
    /* Signed limit: offsets end up in int64_t arithmetic. */
    if ((uint64_t)INT64_MAX - entries * entry_len < offset ||
        qcow2_offset_into_cluster(s, offset) != 0) {
        error_setg(errp, "%s offset invalid", name);
        return -EINVAL;
    }
    return 0;
}

/*
 * The feature name table, if the extension area [start, end) of the
 * first cluster @hdr has one; a lenient walk that stops at anything odd
 * (it only names unknown features in an error message).
 */
static const uint8_t *find_feature_table(const uint8_t *hdr, uint64_t start,
                                         uint64_t end, size_t *len)
{
    uint64_t off = start;

    while (off < end) {
        uint32_t type = ldbe32(hdr + off);
        uint32_t elen = ldbe32(hdr + off + 4);

        off += 8;
        if (off > end || elen > end - off || type == QCOW2_EXT_END) {
            return NULL;
        }
        if (type == QCOW2_EXT_FEATURE_TABLE) {
            *len = elen;
            return hdr + off;
        }
        off += QEMU_ALIGN_UP(elen, 8);
    }
    return NULL;
}

/*
 * Parse the header extensions in [start, end) of the first cluster @hdr
 * (which has 8 spare bytes past the cluster, so a header straddling @end
 * can be read and refused).
 */
static int read_extensions(BlockDriverState *bs, const uint8_t *hdr,
                           uint64_t start, uint64_t end, bool *drop_bitmaps,
                           Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = start;

    while (off < end) {
        uint32_t type = ldbe32(hdr + off);
        uint32_t len = ldbe32(hdr + off + 4);

        off += 8;
        if (off > end || len > end - off) {
            error_setg(errp, "Header extension too large");
            return -EINVAL;
        }
        switch (type) {
        case QCOW2_EXT_END:
            return 0;
        case QCOW2_EXT_BACKING_FORMAT:
            if (len >= sizeof(bs->backing_format)) {
                error_setg(errp, "ERROR: ext_backing_format: len=%" PRIu32
                           " too large (>=%zu)", len,
                           sizeof(bs->backing_format));
                return -EINVAL;
            }
            memcpy(bs->backing_format, hdr + off, len);
            bs->backing_format[len] = 0;
            break;
        case QCOW2_EXT_FEATURE_TABLE:
            s->has_feature_table = true;
            break;
        case QCOW2_EXT_BITMAPS: {
            int ret = qcow2_read_bitmaps_ext(bs, hdr + off, len,
                                             drop_bitmaps, errp);
            if (ret < 0) {
                return ret;
            }
            break;
        }
        case QCOW2_EXT_DATA_FILE:
            free(s->image_data_file);
            s->image_data_file = qemu_xmalloc(len + 1);
            memcpy(s->image_data_file, hdr + off, len);
            s->image_data_file[len] = 0;
            break;
        case QCOW2_EXT_CRYPTO:
            /* Refused through crypt_method. */
            break;
        default: {
            Qcow2UnknownExt *u;
            s->unknown_ext = qemu_xrealloc(
                s->unknown_ext, sizeof(*u) * (s->nb_unknown_ext + 1));
            u = &s->unknown_ext[s->nb_unknown_ext++];
            u->type = type;
            u->len = len;
            u->data = qemu_xmalloc(len + 1);
            memcpy(u->data, hdr + off, len);
            break;
        }
        }
        off += QEMU_ALIGN_UP(len, 8);
    }
    return 0;
}

static void qcow2_free_state(BDRVQcow2State *s)
{
    free(s->l1_table);
    s->l1_table = NULL;
    qcow2_cache_destroy(s->l2_cache);
    s->l2_cache = NULL;
    qcow2_cache_destroy(s->refcount_cache);
    s->refcount_cache = NULL;
    free(s->refcount_table);
    s->refcount_table = NULL;
    free(s->discards);
    s->discards = NULL;
    s->nb_discards = s->discards_cap = 0;
    free(s->cluster_cache);
    s->cluster_cache = NULL;
    free(s->header_tail);
    s->header_tail = NULL;
    s->header_tail_len = 0;
    free(s->image_data_file);
    s->image_data_file = NULL;
    for (int i = 0; i < s->nb_unknown_ext; i++) {
        free(s->unknown_ext[i].data);
    }
    free(s->unknown_ext);
    s->unknown_ext = NULL;
    s->nb_unknown_ext = 0;
}

/*
 * The fields of the first 104 bytes that the open checks one after the
 * other, in QEMU's order, so that a header with several problems gets
 * QEMU's message for the first of them.
 */
static int check_version_and_sizes(BDRVQcow2State *s, const uint8_t *hdr,
                                   Error **errp)
{
    if (ldbe32(hdr) != QCOW_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return -EINVAL;
    }
    s->qcow_version = ldbe32(hdr + 4);
    if (s->qcow_version < 2 || s->qcow_version > 3) {
        error_setg(errp, "Unsupported qcow2 version %" PRIu32,
                   (uint32_t)ldbe32(hdr + 4));
        return -ENOTSUP;
    }
    if (ldbe32(hdr + 20) < QCOW2_MIN_CLUSTER_BITS ||
        ldbe32(hdr + 20) > QCOW2_MAX_CLUSTER_BITS) {
        error_setg(errp, "Unsupported cluster size: 2^%" PRIu32,
                   (uint32_t)ldbe32(hdr + 20));
        return -EINVAL;
    }
    s->cluster_bits = ldbe32(hdr + 20);
    s->cluster_size = 1 << s->cluster_bits;
    if (s->qcow_version == 2) {
        s->incompatible_features = 0;
        s->compatible_features = 0;
        s->autoclear_features = 0;
        s->refcount_order = 4;
        s->header_length = QCOW2_V2_HEADER_LEN;
    } else {
        s->incompatible_features = ldbe64(hdr + 72);
        s->compatible_features = ldbe64(hdr + 80);
        s->autoclear_features = ldbe64(hdr + 88);
        /* Out-of-range widths become 7, refused later. */
        s->refcount_order = MIN(ldbe32(hdr + 96), 7);
        s->header_length = ldbe32(hdr + 100);
        if (s->header_length < QCOW2_V3_MIN_HEADER_LEN) {
            error_setg(errp, "qcow2 header too short");
            return -EINVAL;
        }
    }
    if (s->header_length > (uint32_t)s->cluster_size) {
        error_setg(errp, "qcow2 header exceeds cluster size");
        return -EINVAL;
    }
    return 0;
}

static int check_compression_type(BDRVQcow2State *s, Error **errp)
{
    /* zlib images open without zlib; only their compressed clusters fail */
    if (s->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB &&
        !qcow2_compression_type_supported(s->compression_type)) {
        error_setg(errp, "qcow2: unknown compression type: %u",
                   s->compression_type);
        return -ENOTSUP;
    }
    if (s->compression_type == QCOW2_COMPRESSION_TYPE_ZLIB &&
        (s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION)) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must not be set");
        return -EINVAL;
    }
    if (s->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB &&
        !(s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION)) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must be set");
        return -EINVAL;
    }
    return 0;
}

/* Incompatible features, the corrupt bit, refcount width, encryption. */
static int check_features(BlockDriverState *bs, const uint8_t *cluster0,
                          uint64_t ext_end, int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->incompatible_features & ~QCOW2_INCOMPAT_KNOWN) {
        size_t tlen = 0;
        const uint8_t *table = find_feature_table(cluster0, s->header_length,
                                                  ext_end, &tlen);
        report_unsupported_features(s, s->incompatible_features &
                                    ~QCOW2_INCOMPAT_KNOWN, table, tlen,
                                    errp);
        return -ENOTSUP;
    }
    if ((s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        (flags & BDRV_O_RDWR) && !(flags & BDRV_O_CHECK)) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened "
                   "read/write");
        return -EACCES;
    }
    if (s->incompatible_features & ~QCOW2_INCOMPAT_SUPPORTED) {
        report_unsupported_features(s, s->incompatible_features &
                                    ~QCOW2_INCOMPAT_SUPPORTED, NULL, 0, errp);
        return -ENOTSUP;
    }
    if (qcow2_has_subclusters(s) &&
        (s->cluster_size / QCOW2_SUBCLUSTERS) < (1 << QCOW2_MIN_CLUSTER_BITS)) {
        error_setg(errp, "Unsupported subcluster size: %d",
                   s->cluster_size / QCOW2_SUBCLUSTERS);
        return -EINVAL;
    }
    if (s->refcount_order > 6) {
        error_setg(errp, "Reference count entry width too large; may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    if (s->crypt_method) {
        error_setg(errp, "qcow2: encrypted images are not supported");
        return -ENOTSUP;
    }
    return 0;
}

/*
 * Refcount table, snapshot table (not in check mode: the check reads and
 * repairs it) and the active L1 table: sizes and offsets, as QEMU.
 */
static int check_tables(BlockDriverState *bs, const uint8_t *hdr, int flags,
                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_needed;
    int ret;

    s->refcount_table_offset = ldbe64(hdr + 48);
    s->refcount_table_clusters = ldbe32(hdr + 56);
    if (s->refcount_table_clusters == 0 && !(flags & BDRV_O_CHECK)) {
        error_setg(errp, "Image does not contain a reference count table");
        return -EINVAL;
    }
    ret = qcow2_validate_table(bs, s->refcount_table_offset,
                               s->refcount_table_clusters, s->cluster_size,
                               QCOW2_MAX_REFTABLE_BYTES,
                               "Reference count table", errp);
    if (ret < 0) {
        return ret;
    }
    if (!(flags & BDRV_O_CHECK)) {
        ret = qcow2_validate_table(bs, ldbe64(hdr + 64), ldbe32(hdr + 60),
                                   QCOW2_SN_HEADER_LEN,
                                   QCOW2_SN_HEADER_LEN * QCOW2_MAX_SNAPSHOTS,
                                   "Snapshot table", errp);
        if (ret < 0) {
            return ret;
        }
    }
    s->l1_size = ldbe32(hdr + 36);
    s->l1_table_offset = ldbe64(hdr + 40);
    ret = qcow2_validate_table(bs, s->l1_table_offset, s->l1_size, 8,
                               QCOW2_MAX_L1_BYTES, "Active L1 table", errp);
    if (ret < 0) {
        return ret;
    }
    l1_needed = qcow2_size_to_l1(s, s->size);
    if (s->size > (uint64_t)INT64_MAX || l1_needed > INT_MAX) {
        error_setg(errp, "Image is too big");
        return -EFBIG;
    }
    if (s->l1_size < l1_needed) {
        error_setg(errp, "L1 table is too small");
        return -EINVAL;
    }
    return 0;
}

static int read_l1_table(BlockDriverState *bs, int64_t file_len,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *buf;
    int64_t avail;
    int ret;

    s->l1_table = qemu_xnew0(uint64_t, s->l1_size + 1);
    if (!s->l1_size) {
        return 0;
    }
    buf = qemu_xzalloc((size_t)s->l1_size * 8);
    /* What lies past the end of the file reads as unallocated. */
    avail = MIN((int64_t)s->l1_size * 8,
                MAX(0, file_len - (int64_t)s->l1_table_offset));
    ret = avail ? bdrv_child_pread(bs->file, s->l1_table_offset, avail, buf)
                : 0;
    if (ret < 0) {
        free(buf);
        error_setg_errno(errp, -ret, "Could not read L1 table");
        return ret;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        s->l1_table[i] = ldbe64(buf + i * 8);
    }
    free(buf);
    return 0;
}

/*
 * The end of an open, as QEMU's: a writable node repairs a dirty image
 * and clears the autoclear bits it does not know; every active node loads
 * the persistent bitmaps (a writable one marks them in use on disk); the
 * header is rewritten if that left it stale (@drop_bitmaps: an extension
 * a program without bitmap support left behind).
 */
static int open_finish(BlockDriverState *bs, int flags, bool drop_bitmaps,
                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool can_write = s->writable && !(flags & BDRV_O_INACTIVE);
    bool update_header = can_write && drop_bitmaps;
    bool header_updated = false;
    int ret;

    if (can_write && (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) &&
        !(flags & BDRV_O_CHECK)) {
        BdrvCheckResult res;
        ret = qcow2_check(bs, &res, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
        if (ret < 0 || res.check_errors) {
            ret = ret < 0 ? ret : -EIO;
            error_setg_errno(errp, -ret, "Could not repair dirty image");
            return ret;
        }
    }
    if (can_write && (s->autoclear_features & ~QCOW2_AUTOCLEAR_MASK)) {
        s->autoclear_features &= QCOW2_AUTOCLEAR_MASK;
        update_header = true;
    }
    if (!(flags & BDRV_O_INACTIVE)) {
        ret = qcow2_load_dirty_bitmaps(bs, can_write, &header_updated, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (update_header && !header_updated) {
        ret = qcow2_update_header(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not update qcow2 header");
            return ret;
        }
    }
    return 0;
}

/* The sizes and masks that follow from cluster_bits and refcount_order. */
static void set_geometry(BDRVQcow2State *s, const uint8_t *hdr)
{
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX
                      : (UINT64_C(1) << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits - (s->refcount_order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;
    s->subclusters_per_cluster = qcow2_has_subclusters(s) ?
                                 QCOW2_SUBCLUSTERS : 1;
    s->subcluster_size = s->cluster_size / s->subclusters_per_cluster;
    s->subcluster_bits = ctz32(s->subcluster_size);
    s->l2_entry_size = qcow2_has_subclusters(s) ? 16 : 8;
    s->l2_bits = s->cluster_bits - ctz32(s->l2_entry_size);
    s->l2_size = 1 << s->l2_bits;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1ULL << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1ULL << s->csize_shift) - 1;
    s->size = ldbe64(hdr + 24);
}

/* Read the header and the first cluster (with room for one extension
 * header past its end); keep the header's tail beyond the v3 fields. */
static int read_header(BlockDriverState *bs, int64_t file_len, uint8_t *hdr,
                       uint8_t **cluster0, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    memset(hdr, 0, QCOW2_HEADER_LEN);
    ret = bdrv_child_pread(bs->file, 0,
                           MIN((int64_t)QCOW2_HEADER_LEN, file_len), hdr);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    ret = check_version_and_sizes(s, hdr, errp);
    if (ret < 0) {
        return ret;
    }
    *cluster0 = qemu_xzalloc(s->cluster_size + 8);
    ret = bdrv_child_pread(bs->file, 0, MIN(file_len, s->cluster_size + 8),
                           *cluster0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    if (s->header_length > QCOW2_HEADER_LEN) {
        s->header_tail_len = s->header_length - QCOW2_HEADER_LEN;
        s->header_tail = qemu_xmalloc(s->header_tail_len);
        memcpy(s->header_tail, *cluster0 + QCOW2_HEADER_LEN,
               s->header_tail_len);
    }
    return 0;
}

/* The backing file name stored at @off in the first cluster. */
static int read_backing_name(BlockDriverState *bs, const uint8_t *cluster0,
                             uint64_t off, uint32_t len, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (!off) {
        bs->backing_file[0] = 0;
        return 0;
    }
    if (len > MIN(QCOW2_MAX_BACKING_NAME, s->cluster_size - off)) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    memcpy(bs->backing_file, cluster0 + off, len);
    bs->backing_file[len] = 0;
    return 0;
}

/* The snapshot table: read now, or left for the check (BDRV_O_CHECK),
 * which reads and may repair it itself. */
static int open_snapshots(BlockDriverState *bs, const uint8_t *hdr,
                          int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (flags & BDRV_O_CHECK) {
        s->nb_snapshots = 0;
        s->snapshots_offset = 0;
        s->snapshots_unread = true;
        s->unread_nb_snapshots = ldbe32(hdr + 60);
        s->unread_snapshots_offset = ldbe64(hdr + 64);
        return 0;
    }
    s->nb_snapshots = ldbe32(hdr + 60);
    s->snapshots_offset = ldbe64(hdr + 64);
    return qcow2_read_snapshots(bs, errp);
}

/*
 * Open in phases: the header and its checks (version, sizes, compression,
 * features, table bounds), the L1 table, runtime options, refcounts and
 * caches, the header extensions and backing name, the snapshot table,
 * and last what a writable open does to the header.
 */
static int qcow2_do_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t hdr[QCOW2_HEADER_LEN];
    uint8_t *cluster0 = NULL;
    uint64_t backing_off, ext_end;
    int64_t file_len;
    bool drop_bitmaps = false;
    int ret;

    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Could not read qcow2 header");
        return file_len;
    }
    ret = read_header(bs, file_len, hdr, &cluster0, errp);
    if (ret < 0) {
        goto fail;
    }
    backing_off = ldbe64(hdr + 8);
    if (backing_off > (uint64_t)s->cluster_size) {
        error_setg(errp, "Invalid backing file offset");
        ret = -EINVAL;
        goto fail;
    }
    ext_end = backing_off ? backing_off : (uint64_t)s->cluster_size;
    s->compression_type = s->header_length > 104 ? hdr[104] : 0;
    ret = check_compression_type(s, errp);
    if (ret < 0) {
        goto fail;
    }
    s->crypt_method = ldbe32(hdr + 32);
    ret = check_features(bs, cluster0, ext_end, flags, errp);
    if (ret < 0) {
        goto fail;
    }
    set_geometry(s, hdr);
    ret = check_tables(bs, hdr, flags, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = read_l1_table(bs, file_len, errp);
    if (ret < 0) {
        goto fail;
    }
    s->use_lazy_refcounts = s->qcow_version >= 3 &&
                            (s->compatible_features &
                             QCOW2_COMPAT_LAZY_REFCOUNTS);
    ret = qcow2_take_runtime_options(bs, options, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_refcount_init(bs, errp);
    if (ret < 0) {
        goto fail;
    }
    s->l2_cache = qcow2_cache_create(32, s->cluster_size);
    /* As QEMU: discards come in pieces that do not cross a cluster. */
    bs->bl.pdiscard_alignment = s->cluster_size;
    s->cluster_cache = qemu_xmalloc(s->cluster_size);
    s->cluster_cache_offset = UINT64_MAX;

    bs->backing_format[0] = 0;
    ret = read_extensions(bs, cluster0, s->header_length, ext_end,
                          &drop_bitmaps, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = read_backing_name(bs, cluster0, backing_off, ldbe32(hdr + 16),
                            errp);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_open_data_file(bs, options, flags, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = open_snapshots(bs, hdr, flags, errp);
    if (ret < 0) {
        goto fail;
    }

    s->writable = (flags & BDRV_O_RDWR) != 0;
    s->metadata_prealloc = -1;
    if (!s->use_lazy_refcounts) {
        s->l2_cache->depends = s->refcount_cache;
    }
    ret = open_finish(bs, flags, drop_bitmaps, errp);
    if (ret < 0) {
        goto fail;
    }
    free(cluster0);
    return 0;
fail:
    free(cluster0);
    qcow2_free_snapshots(bs);
    qcow2_free_state(s);
    return ret;
}

static int qcow2_open(BlockDriverState *bs, QDict *options, int flags,
                      Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    /* Until the options say otherwise, QEMU's default overlap checks. */
    s->overlap_check = QCOW2_OL_CACHED;
    /* The core opens our file with discard=unmap, as QEMU does. */
    return qcow2_do_open(bs, options, flags, errp);
}

/*
 * Store the bitmaps before a hand-over or close; a failure is reported as
 * QEMU does (the bitmaps are lost, the rest goes on).
 */
static int store_bitmaps_at_close(BlockDriverState *bs)
{
    Error *err = NULL;

    if (qcow2_store_persistent_dirty_bitmaps(bs, true, &err) < 0) {
        qemu_warn_raw("%s: Lost persistent bitmaps during inactivation of "
                      "node '%s': %s", error_get_progname(),
                      bdrv_get_node_name(bs), error_get_pretty(err));
        error_free(err);
        return -EINVAL;
    }
    return 0;
}

/* Hand-over: bitmaps stored, every cache written, the image left clean. */
static int qcow2_inactivate(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret, bitmaps;

    /* Read-only bitmaps are dropped too: an activation loads them anew. */
    bitmaps = store_bitmaps_at_close(bs);
    if (!s->writable) {
        return bitmaps;
    }
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = bitmaps;
    }
    if (ret == 0) {
        ret = qcow2_mark_clean(bs);
    }
    return ret;
}

/*
 * Another host may have changed everything: drop the state without
 * writing any of it and open again from the header (as QEMU does).
 */
static int qcow2_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int overlap_check = s->overlap_check;

    qcow2_free_snapshots(bs);
    qcow2_free_state(s);
    memset(s, 0, sizeof(*s));
    /* The runtime options stay as they were given. */
    s->overlap_check = overlap_check;
    return qcow2_do_open(bs, NULL, bs->open_flags, errp);
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    /*
     * An inactive image belongs to someone else, and a dropped node's
     * caches may hold what corrupted it: write nothing.
     */
    if (s->writable && !bs->drv_dropped &&
        !(bs->open_flags & BDRV_O_INACTIVE)) {
        /* Lost metadata is reported as QEMU's qcow2_inactivate() does. */
        int bm = store_bitmaps_at_close(bs);
        int l2 = qcow2_cache_flush(bs, s->l2_cache);
        int rc = qcow2_cache_flush(bs, s->refcount_cache);

        if (l2 < 0) {
            qemu_warn_raw("%s: Failed to flush the L2 table cache: %s",
                          error_get_progname(), strerror(-l2));
        }
        if (rc < 0) {
            qemu_warn_raw("%s: Failed to flush the refcount block cache: %s",
                          error_get_progname(), strerror(-rc));
        }
        if (bm == 0 && l2 == 0 && rc == 0) {
            (void)qcow2_mark_clean(bs);
        }
    }
    qcow2_free_snapshots(bs);
    qcow2_free_state(s);
}

static int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->vm_state_offset = qcow2_vm_state_offset(s);
    bdi->is_dirty = (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) != 0;
    return 0;
}

static QObject *qcow2_get_specific_info(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QObject *d = qobj_dict();

    qobj_dict_put(d, "compat", qobj_str(s->qcow_version == 2 ? "0.10"
                                                             : "1.1"));
    qobj_dict_put(d, "compression-type",
                  qobj_str(s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD
                           ? "zstd" : "zlib"));
    if (s->qcow_version >= 3) {
        QObject *bitmaps;

        if (qcow2_bitmap_info_list(bs, &bitmaps, errp) < 0) {
            qobj_free(d);
            return NULL;
        }
        qobj_dict_put(d, "lazy-refcounts",
                      qobj_bool(s->compatible_features &
                                QCOW2_COMPAT_LAZY_REFCOUNTS));
        if (bitmaps) {
            qobj_dict_put(d, "bitmaps", bitmaps);
        }
    }
    qobj_dict_put(d, "refcount-bits", qobj_int(s->refcount_bits));
    if (s->image_data_file) {
        qobj_dict_put(d, "data-file", qobj_str(s->image_data_file));
    }
    if (qcow2_has_data_file(s)) {
        qobj_dict_put(d, "data-file-raw",
                      qobj_bool(qcow2_data_file_is_raw(s)));
    }
    if (s->qcow_version >= 3) {
        qobj_dict_put(d, "corrupt",
                      qobj_bool(s->incompatible_features &
                                QCOW2_INCOMPAT_CORRUPT));
        qobj_dict_put(d, "extended-l2", qobj_bool(qcow2_has_subclusters(s)));
    }
    return d;
}

static void qcow2_child_perm(BlockDriverState *bs, BdrvChild *c,
                             BdrvChildRole role, uint64_t perm,
                             uint64_t shared, uint64_t *nperm,
                             uint64_t *nshared)
{
    bdrv_default_perms(bs, c, role, perm, shared, nperm, nshared);
}

/* ---- backing file, make_empty ----------------------------------------- */

int qcow2_change_backing_file(BlockDriverState *bs, const char *backing_file,
                              const char *backing_fmt, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    char old_file[PATH_MAX], old_fmt[32];
    int ret;

    if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    if (backing_fmt && strlen(backing_fmt) >= sizeof(bs->backing_format)) {
        error_setg(errp, "Backing file format name too long");
        return -EINVAL;
    }
    (void)s;
    pstrcpy(old_file, sizeof(old_file), bs->backing_file);
    pstrcpy(old_fmt, sizeof(old_fmt), bs->backing_format);
    pstrcpy(bs->backing_file, sizeof(bs->backing_file),
            backing_file ? backing_file : "");
    pstrcpy(bs->backing_format, sizeof(bs->backing_format),
            backing_file && backing_fmt ? backing_fmt : "");
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        pstrcpy(bs->backing_file, sizeof(bs->backing_file), old_file);
        pstrcpy(bs->backing_format, sizeof(bs->backing_format), old_fmt);
        error_setg_errno(errp, -ret, "Could not update qcow2 header");
        return ret;
    }
    return qcow2_file_flush(bs);
}

/*
 * Reset a v3 image without snapshots to the layout of a fresh one: header,
 * refcount table, one refcount block, an empty L1 table.  The dirty bit
 * covers the window in which the refcounts are not right.
 */
static int make_completely_empty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_clusters = DIV_ROUND_UP((uint64_t)s->l1_size * 8,
                                        s->cluster_size);
    uint8_t *buf;
    int64_t off;
    int ret;

    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    ret = write_incompat(bs);
    if (ret < 0) {
        return ret;
    }
    qcow2_cache_clear(s->l2_cache);
    qcow2_cache_clear(s->refcount_cache);
    buf = qemu_xzalloc((2 + l1_clusters) * s->cluster_size);
    /* QEMU's events at each step, for blkdebug rules (iotests 098). */
    bdrv_debug_event(bs->file->bs, BLKDBG_L1_UPDATE);
    ret = bdrv_child_pwrite(bs->file, s->l1_table_offset,
                            l1_clusters * s->cluster_size, buf, 0);
    if (ret == 0) {
        bdrv_debug_event(bs->file->bs, BLKDBG_EMPTY_IMAGE_PREPARE);
        ret = bdrv_child_pwrite(bs->file, s->cluster_size,
                                (2 + l1_clusters) * s->cluster_size, buf, 0);
    }
    if (ret == 0) {
        bdrv_debug_event(bs->file->bs, BLKDBG_L1_UPDATE);
        bdrv_debug_event(bs->file->bs, BLKDBG_REFTABLE_UPDATE);
        stbe64(buf, 3 * (uint64_t)s->cluster_size);
        stbe64(buf + 8, s->cluster_size);
        stbe32(buf + 16, 1);
        ret = bdrv_child_pwrite(bs->file, 40, 20, buf, 0);
    }
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        free(buf);
        goto broken;
    }
    memset(s->l1_table, 0, (size_t)s->l1_size * 8);
    s->l1_table_offset = 3 * (uint64_t)s->cluster_size;
    free(s->refcount_table);
    s->refcount_table_size = s->cluster_size / 8;
    s->refcount_table = qemu_xnew0(uint64_t, s->refcount_table_size + 1);
    s->refcount_table_offset = s->cluster_size;
    s->refcount_table_clusters = 1;
    bdrv_debug_event(bs->file->bs, BLKDBG_REFBLOCK_ALLOC);
    stbe64(buf, 2 * (uint64_t)s->cluster_size);
    ret = bdrv_child_pwrite(bs->file, s->cluster_size, 8, buf, 0);
    free(buf);
    if (ret == 0) {
        ret = qcow2_file_flush(bs);
    }
    if (ret < 0) {
        goto broken;
    }
    s->refcount_table[0] = 2 * (uint64_t)s->cluster_size;
    s->free_cluster_index = 0;
    off = qcow2_alloc_clusters(bs, 3 * (uint64_t)s->cluster_size +
                               (uint64_t)s->l1_size * 8);
    if (off < 0) {
        return off;
    }
    ret = qcow2_mark_clean(bs);
    if (ret < 0) {
        return ret;
    }
    return bdrv_truncate(bs->file->bs, (3 + l1_clusters) * s->cluster_size,
                         false, PREALLOC_MODE_OFF, NULL);

broken:
    /*
     * The refcounts in memory and on disk disagree now; the dirty bit
     * makes the next open repair the image.  As QEMU ejects the node, we
     * write nothing more to it, not even at close.
     */
    s->writable = false;
    return ret;
}

static int qcow2_make_empty(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t step = (uint64_t)s->cluster_size << s->l2_bits;
    uint64_t l1_clusters = DIV_ROUND_UP((uint64_t)s->l1_size * 8,
                                        s->cluster_size);
    int ret;

    if (s->qcow_version >= 3 && !s->nb_snapshots && !s->nb_bitmaps &&
        3 + l1_clusters <= (uint64_t)s->refcount_block_size) {
        return make_completely_empty(bs);
    }
    s->discard_on_free = true;

    for (uint64_t off = 0; off < s->size; off += step) {
        uint64_t n = MIN(step, QEMU_ALIGN_UP(s->size, s->cluster_size) - off);
        ret = qcow2_cluster_discard(bs, off, n, true);
        if (ret < 0) {
            s->discard_on_free = false;
            return ret;
        }
    }
    s->discard_on_free = false;
    return qcow2_flush_caches(bs);
}

static int qcow2_check_cb(BlockDriverState *bs, BdrvCheckResult *res,
                          BdrvCheckMode fix)
{
    return qcow2_check(bs, res, fix);
}

const BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .instance_size = sizeof(BDRVQcow2State),
    .is_format = true,
#ifdef CONFIG_ZLIB
    .supports_compressed_writes = true,
#endif
    .bdrv_probe = qcow2_probe,
    .bdrv_open = qcow2_open,
    .bdrv_close = qcow2_close,
    .bdrv_create = qcow2_create,
    .create_opts = qcow2_create_opts,
    .bdrv_pread = qcow2_pread,
    .bdrv_pwrite = qcow2_pwrite,
    .bdrv_pwrite_zeroes = qcow2_pwrite_zeroes,
    .bdrv_pdiscard = qcow2_pdiscard,
    .bdrv_flush_to_os = qcow2_flush_to_os,
    .bdrv_inactivate = qcow2_inactivate,
    .bdrv_invalidate_cache = qcow2_invalidate_cache,
    .bdrv_is_runtime_option = qcow2_is_runtime_option,
    .bdrv_save_vmstate = qcow2_save_vmstate,
    .bdrv_load_vmstate = qcow2_load_vmstate,
    .bdrv_join_options = qcow2_join_options,
    .bdrv_truncate = qcow2_truncate_entry,
    .bdrv_getlength = qcow2_getlength,
    .bdrv_get_allocated_file_size = qcow2_get_allocated_file_size,
    .bdrv_block_status = qcow2_block_status,
    .bdrv_get_info = qcow2_get_info,
    .bdrv_measure = qcow2_measure,
    .bdrv_bitmaps_size = qcow2_bitmaps_size,
    .bdrv_supports_persistent_dirty_bitmap =
        qcow2_supports_persistent_dirty_bitmap,
    .bdrv_can_store_new_dirty_bitmap = qcow2_can_store_new_dirty_bitmap,
    .bdrv_remove_persistent_dirty_bitmap =
        qcow2_remove_persistent_dirty_bitmap,
    .bdrv_get_specific_info = qcow2_get_specific_info,
    .bdrv_check = qcow2_check_cb,
    .bdrv_amend_options = qcow2_amend_options,
    .amend_opts = qcow2_amend_opts,
    .bdrv_make_empty = qcow2_make_empty,
    .bdrv_change_backing_file = qcow2_change_backing_file,
    .bdrv_snapshot_create = qcow2_snapshot_create,
    .bdrv_snapshot_goto = qcow2_snapshot_goto,
    .bdrv_snapshot_load_tmp = qcow2_snapshot_load_tmp,
    .bdrv_snapshot_delete = qcow2_snapshot_delete,
    .bdrv_snapshot_list = qcow2_snapshot_list,
    .bdrv_child_perm = qcow2_child_perm,
};
