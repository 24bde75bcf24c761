/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-data-file.c: opening a qcow2 image's external data file
 * (incompatible bit 2).  How its clusters are used is in
 * qcow2-cluster.c; the header extension that names it, in qcow2.c.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

/* Whether @options has a "data-file" option or "data-file.*" ones. */
static bool has_data_file_options(QDict *options)
{
    const QDictEntry *e;

    for (e = qdict_first(options); e; e = qdict_next(options, e)) {
        const char *k = qdict_entry_key(e);
        if (!strcmp(k, "data-file") || strstart(k, "data-file.", NULL)) {
            return true;
        }
    }
    return false;
}

static void drop_data_file_options(QDict *options)
{
    qdict_free(qdict_extract_subqdict(options, "data-file."));
    qdict_del(options, "data-file");
}

/*
 * The external data file, as QEMU: from the data-file.* options, else by
 * the name in the header (as given: 7.2 resolves a relative name against
 * the working directory), opened by its protocol, never probed.  Without
 * I/O (qemu-img info) it is not opened.  s->data_file is bs->file for an
 * image without one.
 */
int qcow2_open_data_file(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool given = options && has_data_file_options(options);
    QDict *tmp = NULL;
    BdrvChild *child;
    int cflags;

    if (bs->data_file) {
        /* Invalidation re-reads the header; the child stays. */
        if (options) {
            drop_data_file_options(options);
        }
        s->data_file = bs->data_file;
        return 0;
    }
    if (flags & BDRV_O_NO_IO) {
        if (options) {
            drop_data_file_options(options);
        }
        s->data_file = qcow2_has_data_file(s) ? NULL : bs->file;
        return 0;
    }
    if (options && qdict_haskey(options, "data-file")) {
        error_setg(errp, "Node references are not supported for "
                   "'data-file'; give data-file.driver and its options");
        return -EINVAL;
    }
    if (!given && !(qcow2_has_data_file(s) && s->image_data_file)) {
        if (qcow2_has_data_file(s)) {
            error_setg(errp, "'data-file' is required for this image");
            return -EINVAL;
        }
        if (qcow2_data_file_is_raw(s)) {
            error_setg(errp, "data-file-raw requires a data file");
            return -EINVAL;
        }
        s->data_file = bs->file;
        return 0;
    }
    if (!options) {
        options = tmp = qdict_new();
    }
    if (!given) {
        qdict_put_str(options, "data-file.filename", s->image_data_file);
    }
    if (!qdict_haskey(options, "data-file.driver")) {
        const char *fn = qdict_get_str(options, "data-file.filename");
        const char *proto = fn ? bdrv_protocol_driver_name(fn, errp)
                               : "file";
        if (!proto) {
            qdict_free(tmp);
            return -EINVAL;
        }
        qdict_put_str(options, "data-file.driver", proto);
    }
    cflags = flags & ~(BDRV_O_SNAPSHOT | BDRV_O_NO_BACKING | BDRV_O_CHECK |
                       BDRV_O_TEMPORARY | BDRV_O_PROTOCOL);
    child = bdrv_open_child(bs, NULL, options, "data-file", BDRV_CHILD_DATA,
                            cflags, errp);
    qdict_free(tmp);
    if (!child) {
        return -EINVAL;
    }
    if (!qcow2_has_data_file(s)) {
        error_setg(errp, "'data-file' can only be set for images with an "
                   "external data file");
        bdrv_unref_child(bs, bs->data_file);
        return -EINVAL;
    }
    s->data_file = bs->data_file;
    return 0;
}
