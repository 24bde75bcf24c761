/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block.c: the core of the block layer.  Driver registry and probing,
 * opening node trees (options, children, backing files), the permission
 * transaction and inactivation, image creation, and the bdrv_* wrappers
 * over the drivers' metadata operations (check, snapshots, amend).
 * Requests live in block/io.c.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/cutils.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"

/* ---- driver registry ------------------------------------------------- */

/* The one list of every driver.  Add new drivers here (#ifdef'd). */
static const BlockDriver *const block_drivers[] = {
    &bdrv_file,
    &bdrv_raw,
    &bdrv_qcow2,
    &bdrv_bochs,
    &bdrv_blkdebug,
    &bdrv_blkrecord,
    &bdrv_compress,
    &bdrv_cor_filter,
    &bdrv_null_co,
    &bdrv_null_aio,
    &bdrv_quorum,
    &bdrv_blkverify,
    &bdrv_throttle,
};

#define PROBE_BUF_SIZE 2048

BlockDriver *bdrv_find_format(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(block_drivers); i++) {
        if (!strcmp(block_drivers[i]->format_name, name)) {
            return (BlockDriver *)block_drivers[i];
        }
    }
    return NULL;
}

/* See block.h. */
bool bdrv_format_name_known(const char *name)
{
    /* QEMU 7.2's drivers (qemu-img --help) that we do not build. */
    static const char *const qemu_only[] = {
        "blklogwrites", "blkverify", "bochs", "cloop", "copy-before-write",
        "copy-on-read", "dmg", "ftp", "ftps", "gluster", "host_cdrom",
        "host_device", "http", "https", "iscsi", "iser", "luks", "nbd",
        "nfs", "nvme", "parallels", "preallocate", "qcow", "qed", "quorum",
        "rbd", "replication", "snapshot-access", "ssh", "throttle", "vdi",
        "vhdx", "vmdk", "vpc", "vvfat",
    };

    if (bdrv_find_format(name)) {
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(qemu_only); i++) {
        if (!strcmp(name, qemu_only[i])) {
            return true;
        }
    }
    return false;
}

const char *bdrv_get_format_name(const BlockDriverState *bs)
{
    return bs && bs->drv ? bs->drv->format_name : NULL;
}

const char *bdrv_get_protocol_name(const BlockDriverState *bs)
{
    return bs && bs->drv ? bs->drv->protocol_name : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void bdrv_iterate_format(void (*fn)(void *opaque, const char *name),
                         void *opaque)
{
    const char *names[ARRAY_SIZE(block_drivers)];
    size_t i;

    for (i = 0; i < ARRAY_SIZE(block_drivers); i++) {
        names[i] = block_drivers[i]->format_name;
    }
    qsort(names, ARRAY_SIZE(block_drivers), sizeof(names[0]), cmp_str);
    for (i = 0; i < ARRAY_SIZE(block_drivers); i++) {
        fn(opaque, names[i]);
    }
}

const QemuOptDesc *bdrv_create_opts(const BlockDriver *drv)
{
    return drv->create_opts;
}

const BlockDriver *bdrv_probe_all(const uint8_t *buf, int buf_size,
                                  const char *filename)
{
    const BlockDriver *best = &bdrv_raw;
    int best_score = 0;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(block_drivers); i++) {
        const BlockDriver *drv = block_drivers[i];
        int score;

        if (!drv->is_format || !drv->bdrv_probe) {
            continue;
        }
        score = drv->bdrv_probe(buf, buf_size, filename);
        if (score > best_score) {
            best_score = score;
            best = drv;
        }
    }
    return best;
}

/* ---- small helpers ---------------------------------------------------- */

static const char *const perm_names[] = {
    "consistent read", "write", "write unchanged", "resize",
};

char *bdrv_perm_names(uint64_t perm)
{
    char buf[128] = "";
    size_t i;

    for (i = 0; i < ARRAY_SIZE(perm_names); i++) {
        if (perm & (UINT64_C(1) << i)) {
            if (buf[0]) {
                strcat(buf, ", ");
            }
            strcat(buf, perm_names[i]);
        }
    }
    return qemu_xstrdup(buf);
}

static const char *const prealloc_names[] = {
    [PREALLOC_MODE_OFF] = "off",
    [PREALLOC_MODE_METADATA] = "metadata",
    [PREALLOC_MODE_FALLOC] = "falloc",
    [PREALLOC_MODE_FULL] = "full",
};

const char *prealloc_mode_str(PreallocMode m)
{
    if ((unsigned)m < ARRAY_SIZE(prealloc_names)) {
        return prealloc_names[m];
    }
    return "invalid";
}

int prealloc_mode_parse(const char *s, PreallocMode *m)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(prealloc_names); i++) {
        if (!strcmp(s, prealloc_names[i])) {
            *m = (PreallocMode)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- nodes ------------------------------------------------------------ */

static BlockDriverState *bdrv_new_node(const BlockDriver *drv, int flags,
                                       bool force_share)
{
    BlockDriverState *bs = qemu_xnew0(BlockDriverState, 1);

    bs->drv = drv;
    if (drv->instance_size) {
        bs->opaque = qemu_xzalloc((size_t)drv->instance_size);
    }
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->force_share = force_share;
    bs->refcnt = 1;
    bs->perm = 0;
    bs->shared_perm = BLK_PERM_ALL;
    qemu_mutex_init(&bs->lock_mutex);
    qemu_cond_init(&bs->lock_cond);
    return bs;
}

static void bdrv_free_node(BlockDriverState *bs)
{
    bdrv_release_all_dirty_bitmaps(bs);
    qemu_cond_destroy(&bs->lock_cond);
    qemu_mutex_destroy(&bs->lock_mutex);
    free(bs->opaque);
    free(bs);
}

static BdrvChild *bdrv_attach_child(BlockDriverState *parent,
                                    BlockDriverState *child,
                                    const char *name, BdrvChildRole role)
{
    BdrvChild *c = qemu_xnew0(BdrvChild, 1);

    c->bs = child;
    c->parent = parent;
    c->name = qemu_xstrdup(name);
    c->role = role;
    c->perm = 0;
    c->shared_perm = BLK_PERM_ALL;
    child->parent_edge = c;
    return c;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    if (!child) {
        return;
    }
    if (parent->file == child) {
        parent->file = NULL;
    }
    if (parent->backing == child) {
        parent->backing = NULL;
    }
    if (parent->data_file == child) {
        parent->data_file = NULL;
    }
    for (int i = 0; i < parent->nb_children; i++) {
        if (parent->children[i] == child) {
            parent->children[i] = parent->children[--parent->nb_children];
            break;
        }
    }
    child->bs->parent_edge = NULL;
    bdrv_unref(child->bs);
    free(child->name);
    free(child);
}

int bdrv_parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~(BDRV_O_NOCACHE | BDRV_O_NO_FLUSH);
    if (!strcmp(mode, "none") || !strcmp(mode, "off")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = false;
    } else if (!strcmp(mode, "directsync")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = true;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *flags |= BDRV_O_NO_FLUSH;
        *writethrough = false;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return -EINVAL;
    }
    return 0;
}

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs || --bs->refcnt > 0) {
        return;
    }
    if (!bs->read_only) {
        bdrv_flush(bs);
    }
    if (bs->drv->bdrv_close) {
        bs->drv->bdrv_close(bs);
    }
    bdrv_unref_child(bs, bs->backing);
    bdrv_unref_child(bs, bs->data_file);
    while (bs->nb_children) {
        bdrv_unref_child(bs, bs->children[bs->nb_children - 1]);
    }
    free(bs->children);
    bs->children = NULL;
    bdrv_unref_child(bs, bs->file);
    bdrv_free_node(bs);
}

/* ---- open ------------------------------------------------------------- */

/*
 * Options every node accepts (QEMU's bdrv_runtime_opts subset); they
 * adjust @flags and @force_share and are removed from @opts.
 */
static int take_common_options(QDict *opts, int *flags, bool *force_share,
                               Error **errp)
{
    static const char *const ignored_bools[] = {
        "auto-read-only",
    };
    const char *v;
    bool b;
    size_t i;

    if (qdict_haskey(opts, "read-only")) {
        if (qdict_get_bool(opts, "read-only", false, &b, errp) < 0) {
            return -EINVAL;
        }
        if (b) {
            *flags &= ~BDRV_O_RDWR;
        } else {
            *flags |= BDRV_O_RDWR;
        }
        qdict_del(opts, "read-only");
    }
    if (qdict_get_bool(opts, "force-share", *force_share, &b, errp) < 0) {
        return -EINVAL;
    }
    *force_share = b;
    qdict_del(opts, "force-share");

    if (qdict_get_bool(opts, "cache.direct", !!(*flags & BDRV_O_NOCACHE),
                       &b, errp) < 0) {
        return -EINVAL;
    }
    *flags = b ? (*flags | BDRV_O_NOCACHE) : (*flags & ~BDRV_O_NOCACHE);
    qdict_del(opts, "cache.direct");

    if (qdict_get_bool(opts, "cache.no-flush", !!(*flags & BDRV_O_NO_FLUSH),
                       &b, errp) < 0) {
        return -EINVAL;
    }
    *flags = b ? (*flags | BDRV_O_NO_FLUSH) : (*flags & ~BDRV_O_NO_FLUSH);
    qdict_del(opts, "cache.no-flush");

    for (i = 0; i < ARRAY_SIZE(ignored_bools); i++) {
        if (qdict_get_bool(opts, ignored_bools[i], false, &b, errp) < 0) {
            return -EINVAL;
        }
        qdict_del(opts, ignored_bools[i]);
    }
    v = qdict_get_str(opts, "discard");
    if (v) {
        if (!strcmp(v, "unmap") || !strcmp(v, "on")) {
            *flags |= BDRV_O_UNMAP;
        } else if (!strcmp(v, "ignore") || !strcmp(v, "off")) {
            *flags &= ~BDRV_O_UNMAP;
        } else {
            error_setg(errp, "Invalid discard option");
            return -EINVAL;
        }
        qdict_del(opts, "discard");
    }
    qdict_del(opts, "node-name");
    qdict_del(opts, "detect-zeroes");

    if (*force_share && (*flags & BDRV_O_RDWR)) {
        error_setg(errp,
                   "force-share=on can only be used with read-only images");
        return -EINVAL;
    }
    return 0;
}

static int check_leftover(const BlockDriver *drv, QDict *opts, Error **errp)
{
    const QDictEntry *e = qdict_first(opts);

    if (!e) {
        return 0;
    }
    if (drv->is_format) {
        error_setg(errp, "Block format '%s' does not support the option '%s'",
                   drv->format_name, qdict_entry_key(e));
    } else {
        error_setg(errp, "Block protocol '%s' doesn't support the option "
                   "'%s'", drv->format_name, qdict_entry_key(e));
    }
    return -EINVAL;
}


static BlockDriverState *open_protocol(const BlockDriver *drv,
                                       const char *filename, QDict *opts,
                                       int flags, bool force_share,
                                       Error **errp)
{
    BlockDriverState *bs;
    char *fn = qdict_take_str(opts, "filename");
    const char *name;
    int ret;

    if (!fn && filename) {
        fn = qemu_xstrdup(filename);
    }
    if (!drv->needs_filename) {
        /* The driver checks (and names the node from) its own options. */
        if (fn) {
            qdict_put_str(opts, "filename", fn);
            free(fn);
        }
        bs = bdrv_new_node(drv, flags | BDRV_O_PROTOCOL, force_share);
        goto open;
    }
    if (!fn) {
        error_setg(errp, "The '%s' block driver requires a file name",
                   drv->format_name);
        return NULL;
    }
    name = fn;
    if (drv->protocol_name) {
        size_t n = strlen(drv->protocol_name);
        if (!strncmp(fn, drv->protocol_name, n) && fn[n] == ':') {
            name = fn + n + 1;
        }
    }
    bs = bdrv_new_node(drv, flags | BDRV_O_PROTOCOL, force_share);
    /*
     * As QEMU: once its "file:" is stripped, a name that would read as
     * "protocol:..." ("file:a:b") is kept as "./a:b", the same file.
     */
    snprintf(bs->filename, sizeof(bs->filename), "%s%s",
             name != fn && path_has_protocol(name) ? "./" : "", name);
    free(fn);

open:
    ret = drv->bdrv_open ? drv->bdrv_open(bs, opts, bs->open_flags, errp) : 0;
    if (ret < 0) {
        bdrv_free_node(bs);
        return NULL;
    }
    if (check_leftover(drv, opts, errp) < 0) {
        if (drv->bdrv_close) {
            drv->bdrv_close(bs);
        }
        bdrv_free_node(bs);
        return NULL;
    }
    return bs;
}

static BlockDriverState *open_inherit(const char *filename, QDict *opts,
                                      int flags, bool force_share,
                                      Error **errp);

static int open_backing(BlockDriverState *bs, QDict *bopts, Error **errp)
{
    BlockDriverState *backing;
    Error *local_err = NULL;
    char *name;
    int flags;

    name = bdrv_make_absolute_filename(bs, bs->backing_file);
    if (!qdict_haskey(bopts, "driver") && bs->backing_format[0]) {
        qdict_put_str(bopts, "driver", bs->backing_format);
    }
    flags = bs->open_flags & ~(BDRV_O_RDWR | BDRV_O_PROTOCOL |
                               BDRV_O_COPY_ON_READ |
                               BDRV_O_NO_BACKING | BDRV_O_CHECK |
                               BDRV_O_TEMPORARY);
    flags |= BDRV_O_UNMAP;
    backing = open_inherit(name, bopts, flags, bs->force_share, &local_err);
    free(name);
    if (!backing) {
        error_propagate(errp, local_err);
        error_prepend(errp, "Could not open backing file: ");
        return -EINVAL;
    }
    bs->backing = bdrv_attach_child(bs, backing, "backing", BDRV_CHILD_COW);
    return 0;
}

/* See block.h. */
const char *bdrv_protocol_driver_name(const char *filename, Error **errp)
{
    size_t i, n = strcspn(filename, ":/");

    for (i = 0; i < ARRAY_SIZE(block_drivers); i++) {
        const char *p = block_drivers[i]->protocol_name;
        size_t n = p ? strlen(p) : 0;

        if (n && !strncmp(filename, p, n) && filename[n] == ':') {
            return block_drivers[i]->format_name;
        }
    }
    if (filename[n] == ':' && n > 0) {
#ifdef _WIN32
        if (n == 1) {
            return "file";
        }
#endif
        error_setg(errp, "Unknown protocol '%.*s'", (int)n, filename);
        return NULL;
    }
    return "file";
}

/*
 * Move the "@alias.x" options of @opts (QEMU's name of a driver's file
 * child, blkdebug's "image") into @file_opts as "x", unless "file.x" was
 * given too.
 */
static void take_alias_options(QDict *opts, const char *alias,
                               QDict *file_opts)
{
    char *prefix = qemu_xasprintf("%s.", alias);
    QDict *a = qdict_extract_subqdict(opts, prefix);
    const QDictEntry *e;

    for (e = qdict_first(a); e; e = qdict_next(a, e)) {
        if (!qdict_haskey(file_opts, qdict_entry_key(e))) {
            qdict_put_str(file_opts, qdict_entry_key(e),
                          qdict_entry_value(e));
        }
    }
    qdict_free(a);
    free(prefix);
}

static BlockDriverState *open_format(const BlockDriver *drv,
                                     const char *filename, QDict *opts,
                                     int flags, bool force_share,
                                     Error **errp)
{
    BlockDriverState *bs = NULL, *file = NULL;
    QDict *file_opts = NULL;
    QDict *backing_opts = qdict_extract_subqdict(opts, "backing.");
    char *backing_opt = qdict_take_str(opts, "backing");
    char *top_filename = qdict_take_str(opts, "filename");
    const char *fn = top_filename ? top_filename : filename;
    bool probed = false;
    int ret;

    if (fn && drv && drv->bdrv_parse_filename &&
        drv->bdrv_parse_filename(fn, opts, errp) < 0) {
        goto fail;
    }
    file_opts = qdict_extract_subqdict(opts, "file.");
    if (drv && drv->file_child_alias) {
        take_alias_options(opts, drv->file_child_alias, file_opts);
    }
    if (!qdict_haskey(file_opts, "filename")) {
        if (fn) {
            qdict_put_str(file_opts, "filename", fn);
        } else if (!qdict_haskey(file_opts, "driver")) {
            /* With a driver, the child may find its file in its options. */
            error_setg(errp, "A block device must be specified for \"file\"");
            goto fail;
        }
    }
    if (!qdict_haskey(file_opts, "driver")) {
        const char *proto =
            bdrv_protocol_driver_name(qdict_get_str(file_opts, "filename"),
                                      errp);

        if (!proto) {
            goto fail;
        }
        qdict_put_str(file_opts, "driver", proto);
    }
    /*
     * As QEMU: children default to discard=unmap, the parent's own unmap
     * policy having been applied already (file.discard still overrides).
     */
    file = open_inherit(NULL, file_opts,
                        (flags & ~BDRV_O_COPY_ON_READ) | BDRV_O_PROTOCOL |
                        BDRV_O_UNMAP, force_share,
                        errp);
    qdict_free(file_opts);
    file_opts = NULL;
    if (!file) {
        goto fail;
    }

    if (!drv) {
        uint8_t buf[PROBE_BUF_SIZE];
        int64_t len = bdrv_getlength(file);
        int n;

        if (len < 0) {
            error_setg_errno(errp, (int)-len, "Could not read image for "
                             "determining its format");
            goto fail;
        }
        n = (int)MIN(len, (int64_t)sizeof(buf));
        memset(buf, 0, sizeof(buf));
        ret = n ? bdrv_pread(file, 0, n, buf) : 0;
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read image for "
                             "determining its format");
            goto fail;
        }
        drv = bdrv_probe_all(buf, n, file->filename);
        probed = true;
    }

    bs = bdrv_new_node(drv, flags & ~BDRV_O_PROTOCOL, force_share);
    pstrcpy(bs->filename, sizeof(bs->filename), file->filename);
    bs->probed = probed;
    bs->file = bdrv_attach_child(bs, file, "file",
                                 BDRV_CHILD_IMAGE | BDRV_CHILD_PRIMARY);
    if (strstart(bs->filename, "json:", NULL)) {
        bdrv_set_json_filename(bs, NULL);
    }
    file = NULL;
    /*
     * As QEMU's bdrv_refresh_limits: a node passes requests no larger
     * than its child takes (the driver may lower it).  The alignments
     * stay the node's own: each node pads and cuts its requests itself.
     */
    bs->bl.max_transfer = bs->file->bs->bl.max_transfer;

    ret = drv->bdrv_open ? drv->bdrv_open(bs, opts, bs->open_flags, errp) : 0;
    if (ret < 0) {
        bdrv_unref_child(bs, bs->data_file);
        bdrv_unref_child(bs, bs->file);
        bdrv_free_node(bs);
        bs = NULL;
        goto fail;
    }
    if (check_leftover(drv, opts, errp) < 0) {
        goto fail_opened;
    }
    if (bs->backing_file[0] && !(flags & BDRV_O_NO_BACKING) &&
        !(backing_opt && (!backing_opt[0] || !strcmp(backing_opt, "null")))) {
        if (open_backing(bs, backing_opts, errp) < 0) {
            goto fail_opened;
        }
    }
    qdict_free(backing_opts);
    free(backing_opt);
    free(top_filename);
    return bs;

fail_opened:
    bdrv_unref(bs);
    bs = NULL;
fail:
    if (file) {
        bdrv_unref(file);
    }
    qdict_free(file_opts);
    qdict_free(backing_opts);
    free(backing_opt);
    free(top_filename);
    return NULL;
}

/*
 * QEMU's json: pseudo-protocol ("json:{...}" at any level): the object's
 * flattened members are options, with less priority than the options
 * given directly.
 */
static int merge_json_options(QDict *opts, const char *json, Error **errp)
{
    QDict *j = NULL;
    const QDictEntry *e;

    json += strspn(json, " \t\r\n");
    if (*json != '{') {
        error_setg(errp, "Invalid JSON object given");
        return -EINVAL;
    }
    if (qdict_parse_json(&j, json, errp) < 0) {
        error_prepend(errp, "Could not parse the JSON options: ");
        return -EINVAL;
    }
    for (e = qdict_first(j); e; e = qdict_next(j, e)) {
        if (!qdict_haskey(opts, qdict_entry_key(e))) {
            qdict_put_str(opts, qdict_entry_key(e), qdict_entry_value(e));
        }
    }
    qdict_free(j);
    return 0;
}

static BlockDriverState *open_inherit(const char *filename, QDict *opts,
                                      int flags, bool force_share,
                                      Error **errp)
{
    const BlockDriver *drv = NULL;
    const char *json;
    char *driver;

    if (filename && strstart(filename, "json:", &json)) {
        if (merge_json_options(opts, json, errp) < 0) {
            return NULL;
        }
        filename = NULL;
    }
    if (take_common_options(opts, &flags, &force_share, errp) < 0) {
        return NULL;
    }
    driver = qdict_take_str(opts, "driver");
    if (driver) {
        drv = bdrv_find_format(driver);
        if (!drv) {
            error_setg(errp, "Unknown driver '%s'", driver);
            free(driver);
            return NULL;
        }
        free(driver);
    } else if (flags & BDRV_O_PROTOCOL) {
        drv = &bdrv_file;
    }
    if (drv && !drv->is_format) {
        return open_protocol(drv, filename, opts, flags, force_share, errp);
    }
    return open_format(drv, filename, opts, flags, force_share, errp);
}

BlockDriverState *bdrv_open(const char *filename, QDict *options, int flags,
                            Error **errp)
{
    QDict *opts = options ? options : qdict_new();
    BlockDriverState *bs;

    if (flags & BDRV_O_SNAPSHOT) {
        return bdrv_open_temp_snapshot(filename, opts, flags, errp);
    }
    bs = open_inherit(filename, opts, flags, false, errp);
    qdict_free(opts);
    if (bs && (bs->open_flags & BDRV_O_COPY_ON_READ) && bs->read_only) {
        error_setg(errp, "Can't use copy-on-read on read-only device");
        bdrv_unref(bs);
        return NULL;
    }
    return bs;
}

/* See block.h. */
int bdrv_measure(BlockDriver *drv, QDict *opts, BlockDriverState *in_bs,
                 BlockMeasureInfo *info, Error **errp)
{
    memset(info, 0, sizeof(*info));
    if (!drv->bdrv_measure) {
        error_setg(errp, "Block driver '%s' does not support size "
                   "measurement", drv->format_name);
        return -ENOTSUP;
    }
    return drv->bdrv_measure(opts, in_bs, info, errp);
}

void bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing)
{
    bdrv_unref_child(bs, bs->backing);
    bdrv_ref(backing);
    bs->backing = bdrv_attach_child(bs, backing, "backing", BDRV_CHILD_COW);
}

BdrvChild *bdrv_open_child(BlockDriverState *parent, const char *filename,
                           QDict *options, const char *name,
                           BdrvChildRole role, int flags, Error **errp)
{
    char *prefix = qemu_xasprintf("%s.", name);
    QDict *copts = qdict_extract_subqdict(options, prefix);
    BlockDriverState *child;
    BdrvChild *c;

    free(prefix);
    if (!qdict_haskey(copts, "driver") && !qdict_haskey(copts, "filename") &&
        !filename) {
        error_setg(errp, "A block device must be specified for \"%s\"", name);
        qdict_free(copts);
        return NULL;
    }
    child = open_inherit(filename, copts,
                         (flags & ~BDRV_O_COPY_ON_READ) | BDRV_O_UNMAP,
                         parent->force_share, errp);
    qdict_free(copts);
    if (!child) {
        return NULL;
    }
    c = bdrv_attach_child(parent, child, name, role);
    if (!strcmp(name, "file") && !parent->file) {
        parent->file = c;
    } else if (!strcmp(name, "backing") && !parent->backing) {
        parent->backing = c;
    } else if (!strcmp(name, "data-file") && !parent->data_file) {
        parent->data_file = c;
    } else {
        parent->children = qemu_xrealloc(parent->children,
                                         sizeof(*parent->children) *
                                         (parent->nb_children + 1));
        parent->children[parent->nb_children++] = c;
    }
    return c;
}

/* Boolean options of every node that a reopen may change. */
static bool is_common_bool(const char *name)
{
    return !strcmp(name, "read-only") || !strcmp(name, "auto-read-only") ||
           !strcmp(name, "cache.direct") || !strcmp(name, "cache.no-flush");
}

/* See block.h. */
QDict *bdrv_reopen_options(const BlockDriverState *bs, const QDict *old,
                           const QDict *changes)
{
    QDict *opts = changes ? qdict_clone(changes) : qdict_new();
    QDict *was = qdict_clone(old);
    const QDictEntry *e;

    if (bs->drv->bdrv_join_options) {
        bs->drv->bdrv_join_options(opts, was);
    } else {
        for (e = qdict_first(was); e; e = qdict_next(was, e)) {
            if (!qdict_haskey(opts, qdict_entry_key(e))) {
                qdict_put_str(opts, qdict_entry_key(e), qdict_entry_value(e));
            }
        }
    }
    qdict_free(was);
    return opts;
}

/* See block.h. */
int bdrv_reopen_check_options(const BlockDriverState *bs, const QDict *old,
                              const QDict *changes, Error **errp)
{
    const QDictEntry *e;

    for (e = qdict_first(changes); e; e = qdict_next(changes, e)) {
        const char *key = qdict_entry_key(e), *val = qdict_entry_value(e);
        const char *name = key, *rest, *was = qdict_get_str(old, key);
        const BlockDriverState *node = bs;

        for (;;) {
            if (strstart(name, "file.", &rest) && node->file) {
                node = node->file->bs;
            } else if (strstart(name, "backing.", &rest) && node->backing) {
                node = node->backing->bs;
            } else {
                break;
            }
            name = rest;
        }
        if (is_common_bool(name)) {
            bool b;

            /* Every node takes these at runtime; only their values count. */
            if (qdict_get_bool(changes, key, false, &b, NULL) < 0) {
                error_setg(errp, "Parameter '%s' expects 'on' or 'off'",
                           name);
                return -EINVAL;
            }
            continue;
        }
        if ((!strcmp(name, "driver") &&
             !strcmp(val, node->drv->format_name)) ||
            (node->drv->bdrv_is_runtime_option &&
             node->drv->bdrv_is_runtime_option(name)) ||
            (was && !strcmp(was, val))) {
            continue;
        }
        error_setg(errp, "Cannot change the option '%s'", name);
        return -EINVAL;
    }
    return 0;
}

/* ---- permissions ------------------------------------------------------- */

void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c,
                        BdrvChildRole role, uint64_t perm, uint64_t shared,
                        uint64_t *nperm, uint64_t *nshared)
{
    (void)c;
    if (role & BDRV_CHILD_FILTERED) {
        *nperm = (perm & DEFAULT_PERM_PASSTHROUGH) | DEFAULT_PERM_UNCHANGED;
        *nshared = (shared & DEFAULT_PERM_PASSTHROUGH) |
                   DEFAULT_PERM_UNCHANGED;
        return;
    }
    if (role & BDRV_CHILD_COW) {
        /* Backing files are only read; others may write them only if the
         * overlay's user lets others write the overlay. */
        *nperm = perm & BLK_PERM_CONSISTENT_READ;
        *nshared = (shared & BLK_PERM_WRITE) ?
                   (BLK_PERM_WRITE | BLK_PERM_RESIZE) : 0;
        *nshared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
        return;
    }
    /* Storage (data and/or metadata). */
    perm &= DEFAULT_PERM_PASSTHROUGH;
    shared &= DEFAULT_PERM_PASSTHROUGH;
    if (role & BDRV_CHILD_METADATA) {
        if (!bs->read_only && !(bs->open_flags & BDRV_O_INACTIVE)) {
            perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        if (!(bs->open_flags & BDRV_O_NO_IO)) {
            perm |= BLK_PERM_CONSISTENT_READ;
        }
        shared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
    if (role & BDRV_CHILD_DATA) {
        if (perm & BLK_PERM_WRITE_UNCHANGED) {
            perm |= BLK_PERM_WRITE;
        }
        if (perm & BLK_PERM_WRITE) {
            perm |= BLK_PERM_RESIZE;
        }
        shared &= ~BLK_PERM_RESIZE;
    }
    if (bs->open_flags & BDRV_O_INACTIVE) {
        shared |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    *nperm = perm;
    *nshared = shared;
}

typedef struct PermUpdate {
    BlockDriverState *bs;
    uint64_t perm;
    uint64_t shared;
} PermUpdate;

typedef struct PermList {
    PermUpdate *u;
    size_t n, cap;
} PermList;

static void child_perm(BlockDriverState *bs, BdrvChild *c, uint64_t perm,
                       uint64_t shared, uint64_t *nperm, uint64_t *nshared)
{
    if (bs->drv->bdrv_child_perm) {
        bs->drv->bdrv_child_perm(bs, c, c->role, perm, shared, nperm,
                                 nshared);
    } else if (c->role & BDRV_CHILD_COW) {
        bdrv_default_perms(bs, c, c->role, perm, shared, nperm, nshared);
    } else {
        /* A driver that says nothing is a filter over its file. */
        bdrv_default_perms(bs, c, BDRV_CHILD_FILTERED, perm, shared, nperm,
                           nshared);
    }
    if (bs->force_share || c->bs->force_share) {
        *nshared = BLK_PERM_ALL;
    }
}

/* The whole tree's new permissions, parents before children. */
static void collect_perms(PermList *l, BlockDriverState *bs, uint64_t perm,
                          uint64_t shared)
{
    BdrvChild *children[3] = { bs->file, bs->data_file, bs->backing };
    size_t i;
    int k;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->u = qemu_xrealloc(l->u, l->cap * sizeof(*l->u));
    }
    l->u[l->n++] = (PermUpdate) { bs, perm, shared };
    for (i = 0; i < ARRAY_SIZE(children); i++) {
        uint64_t np, ns;

        if (!children[i]) {
            continue;
        }
        child_perm(bs, children[i], perm, shared, &np, &ns);
        collect_perms(l, children[i]->bs, np, ns);
    }
    for (k = 0; k < bs->nb_children; k++) {
        uint64_t np, ns;

        child_perm(bs, bs->children[k], perm, shared, &np, &ns);
        collect_perms(l, bs->children[k]->bs, np, ns);
    }
}

int bdrv_set_root_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                       Error **errp)
{
    PermList l = { 0 };
    size_t i;
    int ret = 0;

    collect_perms(&l, bs, perm, shared);

    /* Nobody writes through a read-only node (QEMU's rule). */
    for (i = 0; i < l.n; i++) {
        if (l.u[i].bs->read_only &&
            (l.u[i].perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED))) {
            error_setg(errp, "Block node is read-only");
            ret = -EPERM;
            goto out;
        }
    }

    /* Prepare every node; a failing node has rolled itself back. */
    for (i = 0; i < l.n; i++) {
        BlockDriverState *n = l.u[i].bs;

        if (!n->drv->bdrv_check_perm) {
            continue;
        }
        ret = n->drv->bdrv_check_perm(n, l.u[i].perm, l.u[i].shared, errp);
        if (ret < 0) {
            while (i-- > 0) {
                n = l.u[i].bs;
                if (n->drv->bdrv_check_perm && n->drv->bdrv_abort_perm_update) {
                    n->drv->bdrv_abort_perm_update(n);
                }
            }
            goto out;
        }
    }

    /* Commit. */
    for (i = 0; i < l.n; i++) {
        BlockDriverState *n = l.u[i].bs;

        n->perm = l.u[i].perm;
        n->shared_perm = l.u[i].shared;
        if (n->parent_edge) {
            n->parent_edge->perm = n->perm;
            n->parent_edge->shared_perm = n->shared_perm;
        }
        if (n->drv->bdrv_set_perm) {
            n->drv->bdrv_set_perm(n, n->perm, n->shared_perm);
        }
    }
out:
    free(l.u);
    return ret;
}

static void set_inactive(BlockDriverState *bs, bool inactive)
{
    if (inactive) {
        bs->open_flags |= BDRV_O_INACTIVE;
    } else {
        bs->open_flags &= ~BDRV_O_INACTIVE;
    }
    if (bs->file) {
        set_inactive(bs->file->bs, inactive);
    }
    if (bs->data_file) {
        set_inactive(bs->data_file->bs, inactive);
    }
    for (int i = 0; i < bs->nb_children; i++) {
        set_inactive(bs->children[i]->bs, inactive);
    }
    if (bs->backing) {
        set_inactive(bs->backing->bs, inactive);
    }
}

void bdrv_activate(BlockDriverState *bs)
{
    set_inactive(bs, false);
}

static int inactivate_drivers(BlockDriverState *bs)
{
    int ret = 0, r;

    /* Parents first: a format's caches land in its file before that. */
    if (bs->drv->bdrv_inactivate && !bs->read_only) {
        ret = bs->drv->bdrv_inactivate(bs);
    }
    if (bs->file) {
        r = inactivate_drivers(bs->file->bs);
        ret = ret ? ret : r;
    }
    if (bs->data_file) {
        r = inactivate_drivers(bs->data_file->bs);
        ret = ret ? ret : r;
    }
    for (int i = 0; i < bs->nb_children; i++) {
        r = inactivate_drivers(bs->children[i]->bs);
        ret = ret ? ret : r;
    }
    if (bs->backing) {
        r = inactivate_drivers(bs->backing->bs);
        ret = ret ? ret : r;
    }
    return ret;
}

int bdrv_inactivate(BlockDriverState *bs, Error **errp)
{
    int ret;

    if (bs->open_flags & BDRV_O_INACTIVE) {
        return 0;
    }
    ret = inactivate_drivers(bs);
    if (ret == 0) {
        ret = bdrv_flush(bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write '%s' out before "
                         "handing it over", bs->filename);
        return ret;
    }
    set_inactive(bs, true);
    return 0;
}

int bdrv_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    int ret;

    if (bs->file) {
        ret = bdrv_invalidate_cache(bs->file->bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (bs->data_file) {
        ret = bdrv_invalidate_cache(bs->data_file->bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    for (int i = 0; i < bs->nb_children; i++) {
        ret = bdrv_invalidate_cache(bs->children[i]->bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (bs->backing) {
        ret = bdrv_invalidate_cache(bs->backing->bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (!bs->drv->bdrv_invalidate_cache) {
        return 0;
    }
    ret = bs->drv->bdrv_invalidate_cache(bs, errp);
    if (ret < 0) {
        error_prepend(errp, "Could not reload '%s': ", bs->filename);
    }
    return ret;
}

/* Used by blk_activate() to undo a failed activation. */
void bdrv_inactivate_flags(BlockDriverState *bs)
{
    set_inactive(bs, true);
}

/* ---- create ------------------------------------------------------------ */

int bdrv_create(BlockDriver *drv, const char *filename, QDict *opts,
                Error **errp)
{
    const QemuOptDesc *lists[3] = { NULL, NULL, NULL };
    QDict *empty = NULL;
    size_t n = 0;
    int ret;

    if (!drv->bdrv_create) {
        error_setg(errp, "Driver '%s' does not support image creation",
                   drv->format_name);
        return -ENOTSUP;
    }
    if (drv->create_opts) {
        lists[n++] = drv->create_opts;
    }
    if (drv->is_format && bdrv_file.create_opts) {
        lists[n++] = bdrv_file.create_opts;
    }
    if (!opts) {
        opts = empty = qdict_new();
    }
    ret = qemu_opts_validate(opts, lists, errp);
    if (ret == 0) {
        ret = drv->bdrv_create(filename, opts, errp);
    }
    qdict_free(empty);
    return ret;
}

/* ---- metadata operations ----------------------------------------------- */

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    if (!bs->drv->bdrv_get_info) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_get_info(bs, bdi);
}

QObject *bdrv_get_specific_info(BlockDriverState *bs, Error **errp)
{
    if (!bs->drv->bdrv_get_specific_info) {
        return NULL;
    }
    return bs->drv->bdrv_get_specific_info(bs, errp);
}

int bdrv_check(BlockDriverState *bs, BdrvCheckResult *res, BdrvCheckMode fix)
{
    memset(res, 0, sizeof(*res));
    if (bs->drv_dropped) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_check) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_check(bs, res, fix);
}

int bdrv_amend_options(BlockDriverState *bs, QDict *opts,
                       BlockDriverAmendStatusCB *status_cb, void *cb_opaque,
                       bool force, Error **errp)
{
    if (!bs->drv->bdrv_amend_options) {
        error_setg(errp, "Block driver '%s' does not support option "
                   "amendment", bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_amend_options(bs, opts, status_cb, cb_opaque, force,
                                        errp);
}

int bdrv_make_empty(BlockDriverState *bs, Error **errp)
{
    int ret;

    if (!bs->drv->bdrv_make_empty) {
        error_setg(errp, "Image format '%s' cannot be emptied",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    ret = bs->drv->bdrv_make_empty(bs, errp);
    if (ret < 0 && !(errp && *errp)) {
        error_setg_errno(errp, -ret, "Failed to empty %s", bs->filename);
    }
    return ret;
}

int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, Error **errp)
{
    if (!bs->drv->bdrv_change_backing_file) {
        error_setg_errno(errp, ENOTSUP, "Could not change the backing file "
                         "to '%s'", backing_file ? backing_file : "");
        return -ENOTSUP;
    }
    return bs->drv->bdrv_change_backing_file(bs, backing_file, backing_fmt,
                                             errp);
}

int bdrv_snapshot_create(BlockDriverState *bs, QEMUSnapshotInfo *sn,
                         Error **errp)
{
    if (!bs->drv->bdrv_snapshot_create) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support feature 'internal snapshots'",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_create(bs, sn, errp);
}

int bdrv_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                       Error **errp)
{
    /* As QEMU: reverting the data would leave the bitmaps meaningless. */
    if (bs->dirty_bitmaps) {
        error_setg(errp, "Device has active dirty bitmaps");
        return -EBUSY;
    }
    if (!bs->drv->bdrv_snapshot_goto) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support feature 'internal snapshots'",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_goto(bs, snapshot_id, errp);
}

int bdrv_snapshot_load_tmp(BlockDriverState *bs, const char *snapshot_id,
                           const char *name, Error **errp)
{
    if (!snapshot_id && !name) {
        error_setg(errp, "snapshot_id and name are both NULL");
        return -EINVAL;
    }
    if (!bs->read_only) {
        error_setg(errp, "Device '' is writable");
        return -EINVAL;
    }
    if (!bs->drv->bdrv_snapshot_load_tmp) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support temporarily loading internal snapshots",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_load_tmp(bs, snapshot_id, name, errp);
}

int bdrv_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                         const char *name, Error **errp)
{
    if (!bs->drv->bdrv_snapshot_delete) {
        error_setg(errp, "Block format '%s' used by device '' does not "
                   "support feature 'internal snapshots'",
                   bs->drv->format_name);
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_delete(bs, snapshot_id, name, errp);
}

int bdrv_snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **psn)
{
    *psn = NULL;
    if (!bs->drv->bdrv_snapshot_list) {
        return -ENOTSUP;
    }
    return bs->drv->bdrv_snapshot_list(bs, psn);
}

/* ---- accessors ----------------------------------------------------------- */

const char *bdrv_get_filename(const BlockDriverState *bs)
{
    return bs->filename;
}

bool bdrv_is_read_only(const BlockDriverState *bs)
{
    return bs->read_only;
}

BlockDriverState *bdrv_file_bs(const BlockDriverState *bs)
{
    return bs->file ? bs->file->bs : NULL;
}

BlockDriverState *bdrv_backing_bs(const BlockDriverState *bs)
{
    return bs->backing ? bs->backing->bs : NULL;
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv->is_filter && bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}

const char *bdrv_get_backing_filename(const BlockDriverState *bs)
{
    return bs->backing_file;
}

const char *bdrv_get_backing_format(const BlockDriverState *bs)
{
    return bs->backing_format;
}
