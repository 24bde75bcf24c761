/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle.c: QEMU's "throttle" filter.  Every read and write waits until
 * the limits of its throttle group (--object throttle-group) let it start;
 * zero writes and discards pass as writes of their length, as in QEMU.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block_int.h"
#include "block/throttle-groups.h"

typedef struct BDRVThrottleState {
    ThrottleGroup *group;
} BDRVThrottleState;

static int throttle_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVThrottleState *s = bs->opaque;
    char *name = qdict_take_str(options, "throttle-group");

    (void)flags;
    if (!name) {
        error_setg(errp, "Please specify a throttle group");
        return -EINVAL;
    }
    s->group = throttle_group_ref(name);
    if (!s->group) {
        error_setg(errp, "Throttle group '%s' does not exist", name);
        free(name);
        return -EINVAL;
    }
    free(name);
    return 0;
}

static void throttle_close(BlockDriverState *bs)
{
    BDRVThrottleState *s = bs->opaque;

    if (s->group) {
        throttle_group_unref(s->group);
    }
}

static int throttle_pread(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, void *buf)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_wait(s->group, false, bytes);
    return bdrv_child_pread(bs->file, offset, bytes, buf);
}

static int throttle_pwrite(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, int flags)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_wait(s->group, true, bytes);
    return bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
}

static int throttle_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, int flags)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_wait(s->group, true, bytes);
    return bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

static int throttle_pdiscard(BlockDriverState *bs, int64_t offset,
                             int64_t bytes)
{
    BDRVThrottleState *s = bs->opaque;

    throttle_group_wait(s->group, true, bytes);
    return bdrv_pdiscard(bs->file->bs, offset, bytes);
}

/* A filter: what the parent needs and shares, nothing more. */
static void throttle_child_perm(BlockDriverState *bs, BdrvChild *c,
                                BdrvChildRole role, uint64_t parent_perm,
                                uint64_t parent_shared, uint64_t *nperm,
                                uint64_t *nshared)
{
    (void)role;
    bdrv_default_perms(bs, c, BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                       parent_perm, parent_shared, nperm, nshared);
}

const BlockDriver bdrv_throttle = {
    .format_name = "throttle",
    .instance_size = sizeof(BDRVThrottleState),
    .is_filter = true,
    .is_format = true,
    .bdrv_open = throttle_open,
    .bdrv_close = throttle_close,
    .bdrv_pread = throttle_pread,
    .bdrv_pwrite = throttle_pwrite,
    .bdrv_pwrite_zeroes = throttle_pwrite_zeroes,
    .bdrv_pdiscard = throttle_pdiscard,
    .bdrv_truncate = bdrv_filter_truncate,
    .bdrv_getlength = bdrv_filter_getlength,
    .bdrv_block_status = bdrv_block_status_from_file,
    .bdrv_child_perm = throttle_child_perm,
};
