/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * null.c: the "null-co" and "null-aio" protocol drivers, QEMU's test
 * devices.  Writes are dropped; reads leave the buffer alone unless
 * read-zeroes=on, when they return zeroes.  Options: size (default 1 GiB),
 * read-zeroes (off), latency-ns (accepted; requests are never delayed
 * here).  The only file name is "null-co://" ("null-aio://").
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/qobject.h"
#include "block/block_int.h"

#define NULL_DEFAULT_SIZE (1ULL << 30)

typedef struct BDRVNullState {
    int64_t length;
    bool read_zeroes;
} BDRVNullState;

/* The core hands a given file name over as the "filename" option. */
static int null_check_filename(const BlockDriverState *bs, const char *name,
                               Error **errp)
{
    char *want = qemu_xasprintf("%s://", bs->drv->format_name);
    int ret = 0;

    if (strcmp(name, want)) {
        error_setg(errp, "The only allowed filename for this driver is '%s'",
                   want);
        ret = -EINVAL;
    }
    free(want);
    return ret;
}

/*
 * QEMU's name for the node: "null-co://" when only the file name, the
 * driver and latency-ns were given, else the options as json:{...}.
 */
static void null_set_filename(BlockDriverState *bs, const QDict *options)
{
    QObject *dict = qobj_dict();
    const QDictEntry *e;
    bool plain = true;
    char *json;

    qobj_dict_put(dict, "driver", qobj_str(bs->drv->format_name));
    for (e = qdict_first(options); e; e = qdict_next(options, e)) {
        const char *key = qdict_entry_key(e);

        if (strcmp(key, "latency-ns")) {
            plain = false;
        }
        qobj_dict_put(dict, key, qobj_str(qdict_entry_value(e)));
    }
    if (plain) {
        snprintf(bs->filename, sizeof(bs->filename), "%s://",
                 bs->drv->format_name);
    } else {
        json = qobj_to_json(dict);
        snprintf(bs->filename, sizeof(bs->filename), "json:%s", json);
        free(json);
    }
    qobj_free(dict);
}

static int null_open(BlockDriverState *bs, QDict *options, int flags,
                     Error **errp)
{
    BDRVNullState *s = bs->opaque;
    char *name = qdict_take_str(options, "filename");
    uint64_t size, latency;
    int ret = 0;

    (void)flags;
    if (name) {
        ret = null_check_filename(bs, name, errp);
        free(name);
        if (ret < 0) {
            return ret;
        }
    }
    if (qdict_get_size(options, "size", NULL_DEFAULT_SIZE, &size, errp) < 0 ||
        qdict_get_bool(options, "read-zeroes", false, &s->read_zeroes,
                       errp) < 0 ||
        qdict_get_size(options, "latency-ns", 0, &latency, errp) < 0) {
        return -EINVAL;
    }
    if (size > INT64_MAX) {
        error_setg(errp, "Parameter 'size' expects a non-negative number "
                   "below 2^63");
        return -EINVAL;
    }
    s->length = (int64_t)size;
    null_set_filename(bs, options);
    qdict_del(options, "size");
    qdict_del(options, "read-zeroes");
    qdict_del(options, "latency-ns");
    return 0;
}

static int null_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BDRVNullState *s = bs->opaque;

    (void)offset;
    if (s->read_zeroes) {
        memset(buf, 0, (size_t)bytes);
    }
    return 0;
}

static int null_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, int flags)
{
    (void)bs;
    (void)offset;
    (void)bytes;
    (void)buf;
    (void)flags;
    return 0;
}

static int null_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags)
{
    return null_pwrite(bs, offset, bytes, NULL, flags);
}

static int null_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return null_pwrite(bs, offset, bytes, NULL, 0);
}

static int null_flush(BlockDriverState *bs)
{
    (void)bs;
    return 0;
}

static int64_t null_getlength(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    return s->length;
}

static int64_t null_get_allocated_file_size(BlockDriverState *bs)
{
    (void)bs;
    return 0;
}

/* Everything maps to itself; it reads as zeroes only with read-zeroes. */
static int null_block_status(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, int64_t *map,
                             BlockDriverState **file)
{
    BDRVNullState *s = bs->opaque;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID | (s->read_zeroes ? BDRV_BLOCK_ZERO : 0);
}

#define NULL_DRIVER(name)                                              \
    {                                                                  \
        .format_name = name,                                           \
        .protocol_name = name,                                         \
        .instance_size = sizeof(BDRVNullState),                        \
        .bdrv_open = null_open,                                        \
        .bdrv_pread = null_pread,                                      \
        .bdrv_pwrite = null_pwrite,                                    \
        .bdrv_pwrite_zeroes = null_pwrite_zeroes,                      \
        .bdrv_pdiscard = null_pdiscard,                                \
        .bdrv_flush_to_disk = null_flush,                              \
        .bdrv_getlength = null_getlength,                              \
        .bdrv_get_allocated_file_size = null_get_allocated_file_size,  \
        .bdrv_block_status = null_block_status,                        \
    }

const BlockDriver bdrv_null_co = NULL_DRIVER("null-co");
const BlockDriver bdrv_null_aio = NULL_DRIVER("null-aio");
