/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file-common.c: the host-independent half of the "file" driver: option
 * parsing (open and create) and the texts of its lock errors.  The OS calls
 * live in file-posix.c and file-win32.c.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "qemu/option.h"
#include "block/file-common.h"

/* ---- open ---------------------------------------------------------------- */

static int parse_locking(QDict *options, FileLockMode *mode, Error **errp)
{
    char *v = qdict_take_str(options, "locking");
    int ret = 0;

    *mode = FILE_LOCK_AUTO;
    if (!v || !strcmp(v, "auto")) {
        *mode = FILE_LOCK_AUTO;
    } else if (!strcmp(v, "on")) {
        *mode = FILE_LOCK_ON;
    } else if (!strcmp(v, "off")) {
        *mode = FILE_LOCK_OFF;
    } else {
        error_setg(errp, "invalid parameter value: %s", v);
        ret = -EINVAL;
    }
    free(v);
    return ret;
}

int file_parse_open_opts(QDict *options, FileLockMode *mode, Error **errp)
{
    char *aio;
    int ret;

    ret = parse_locking(options, mode, errp);
    if (ret < 0) {
        return ret;
    }
    /* QEMU's AIO engines; requests here are synchronous whatever it says. */
    aio = qdict_take_str(options, "aio");
    if (aio && strcmp(aio, "threads") && strcmp(aio, "native") &&
        strcmp(aio, "io_uring")) {
        error_setg(errp, "invalid parameter value: %s", aio);
        free(aio);
        return -EINVAL;
    }
    free(aio);
    qdict_del(options, "aio-max-batch");
    qdict_del(options, "drop-cache");
    qdict_del(options, "x-check-cache-dropped");
    return 0;
}

/* ---- create -------------------------------------------------------------- */

const QemuOptDesc file_driver_create_opts[] = {
    { .name = "size", .type = QEMU_OPT_SIZE,
      .help = "Virtual disk size" },
    { .name = "preallocation", .type = QEMU_OPT_STRING,
      .help = "Preallocation mode (allowed values: off, falloc, full)" },
    /* Accepted and ignored: QEMU's option lists work unchanged. */
    { .name = "nocow", .type = QEMU_OPT_BOOL,
      .help = "Turn off copy-on-write (valid only on btrfs)" },
    { .name = "extent_size_hint", .type = QEMU_OPT_SIZE,
      .help = "Extent size hint for the image file, 0 to disable" },
    { .name = NULL }
};

int file_parse_create_opts(const char *filename, QDict *opts,
                           FileCreateOpts *o, Error **errp)
{
    const char *pv;

    o->prealloc = PREALLOC_MODE_OFF;
    o->size = 0;
    if (!strstart(filename, "file:", &o->filename)) {
        o->filename = filename;
    }
    if (qdict_get_size(opts, "size", 0, &o->size, errp) < 0) {
        return -EINVAL;
    }
    if (o->size > INT64_MAX - (BDRV_SECTOR_SIZE - 1)) {
        error_setg(errp, "Image size must be less than 8 EiB!");
        return -EINVAL;
    }
    /* Whole sectors, like QEMU: "size=100" makes a 512-byte file. */
    o->size = QEMU_ALIGN_UP(o->size, BDRV_SECTOR_SIZE);
    pv = qdict_get_str(opts, "preallocation");
    if (pv && prealloc_mode_parse(pv, &o->prealloc) < 0) {
        error_setg(errp, "invalid parameter value: %s", pv);
        return -EINVAL;
    }
    if (o->prealloc == PREALLOC_MODE_METADATA) {
        error_setg(errp, "Unsupported preallocation mode: %s", pv);
        return -ENOTSUP;
    }
    return 0;
}

/* ---- lock errors --------------------------------------------------------- */

void file_hint_in_use(Error **errp, const char *filename)
{
    error_append_hint(errp, "Is another process using the image [%s]?\n",
                      filename);
}

void file_set_perm_conflict(Error **errp, uint64_t bit, bool shared)
{
    char *name = bdrv_perm_names(bit);

    error_setg(errp, "Failed to get %s\"%s\" lock", shared ? "shared " : "",
               name);
    free(name);
}

int file_serial_lock_disabled(BlockDriverState *bs, Error **errp)
{
    error_setg(errp, "Cannot lock '%s': locking is disabled (locking=off)",
               bs->filename);
    return -ENOTSUP;
}

int file_serial_lock_failed(BlockDriverState *bs, int ret, bool exclusive,
                            int64_t timeout_ms, int64_t byte, Error **errp)
{
    const char *kind = exclusive ? "exclusive" : "shared";

    if (ret == -EAGAIN) {
        error_setg(errp, "Failed to get the %s serialization lock of '%s': "
                   "held by another process", kind, bs->filename);
    } else if (ret == -ETIMEDOUT) {
        error_setg(errp, "Timed out after %" PRId64 " ms waiting for the "
                   "%s serialization lock of '%s'", timeout_ms, kind,
                   bs->filename);
    } else {
        error_setg_errno(errp, -ret, "Failed to lock byte %" PRId64 " of '%s'",
                         byte, bs->filename);
    }
    return ret;
}

int file_serial_unlock_failed(BlockDriverState *bs, int ret, int64_t byte,
                              Error **errp)
{
    error_setg_errno(errp, -ret, "Failed to unlock byte %" PRId64 " of '%s'",
                     byte, bs->filename);
    return ret;
}
