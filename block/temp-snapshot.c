/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * temp-snapshot.c: BDRV_O_SNAPSHOT (QEMU's -snapshot, qemu-io -s).  The
 * image is opened read-only, like a backing file, under a temporary qcow2
 * overlay that takes every write.  The overlay's file is created empty in
 * the temporary directory and deleted by its file driver right after it
 * is opened (BDRV_O_TEMPORARY), so it vanishes with the process however
 * that ends, and the image itself is never written.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block_int.h"

/*
 * The overlay's options (QEMU's bdrv_temp_snapshot_options()): a
 * throw-away file needs no flushes and no O_DIRECT; "read-only" and
 * "discard" follow what the user asked for the image, which itself is
 * opened read-only whatever "read-only" says.
 */
static QDict *overlay_options(QDict *image_opts)
{
    QDict *o = qdict_new();
    char *ro = qdict_take_str(image_opts, "read-only");
    const char *discard = qdict_get_str(image_opts, "discard");

    qdict_put_str(o, "driver", "qcow2");
    qdict_put_str(o, "file.driver", "file");
    qdict_put_str(o, "cache.direct", "off");
    qdict_put_str(o, "cache.no-flush", "on");
    if (ro) {
        qdict_put_str(o, "read-only", ro);
        free(ro);
    }
    if (discard) {
        qdict_put_str(o, "discard", discard);
    }
    return o;
}

/* Create the overlay's file (as big as @base) and open it over @base. */
static BlockDriverState *open_overlay(BlockDriverState *base, int flags,
                                      QDict *opts, Error **errp)
{
    BlockDriverState *overlay = NULL;
    QDict *create = qdict_new();
    int64_t size = bdrv_getlength(base);
    char *tmp = NULL;
    int ret;

    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Could not get image size");
        goto out;
    }
    ret = qemu_create_tmp_file(&tmp);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not open temporary file '%s'",
                         tmp);
        goto out;
    }
    qdict_put_int(create, "size", size);
    ret = bdrv_create(bdrv_find_format("qcow2"), tmp, create, errp);
    if (ret < 0) {
        error_prepend(errp, "Could not create temporary overlay '%s': ",
                      tmp);
        remove(tmp);
        goto out;
    }
    qdict_put_str(opts, "file.filename", tmp);
    overlay = bdrv_open(NULL, opts, flags, errp);
    opts = NULL;
    if (!overlay) {
        /* The file driver deletes the file only once it has it open. */
        remove(tmp);
        goto out;
    }
    bdrv_set_backing_hd(overlay, base);
out:
    qdict_free(create);
    qdict_free(opts);
    free(tmp);
    return overlay;
}

BlockDriverState *bdrv_open_temp_snapshot(const char *filename,
                                          QDict *options, int flags,
                                          Error **errp)
{
    QDict *oopts = overlay_options(options);
    BlockDriverState *base, *overlay;
    int overlay_flags;

    /* The overlay is what the user opens; the image is only read. */
    overlay_flags = (flags & ~(BDRV_O_SNAPSHOT | BDRV_O_PROTOCOL |
                               BDRV_O_NO_BACKING | BDRV_O_CHECK)) |
                    BDRV_O_TEMPORARY;
    flags &= ~(BDRV_O_SNAPSHOT | BDRV_O_RDWR);

    base = bdrv_open(filename, options, flags, errp);
    if (!base) {
        qdict_free(oopts);
        return NULL;
    }
    overlay = open_overlay(base, overlay_flags, oopts, errp);
    /* The overlay holds its own reference on the image. */
    bdrv_unref(base);
    return overlay;
}
