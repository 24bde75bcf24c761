/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block/bdrv-lock.c: the serialization lock (bdrv_lock and friends): the
 * per-node refcount, the one-waiter-per-node rule for threads, and the
 * forwarding from format nodes to the protocol node that holds the OS lock.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"

/*
 * The node that really holds the OS lock: format nodes (and any driver
 * without a lock callback) forward to their protocol child, so every user
 * of one image file shares one counter.
 */
static BlockDriverState *lock_target(BlockDriverState *bs)
{
    while (!bs->drv->bdrv_lock && bs->file) {
        bs = bs->file->bs;
    }
    return bs;
}

/*
 * The refcounting part of every lock variant.  Only one thread per node
 * waits in the driver (outside the mutex); other threads of the process
 * wait for its outcome on lock_cond, honouring their own timeout, and
 * then either count themselves in or take their turn at the OS lock.
 */
static int lock_common(BlockDriverState *bs, int64_t timeout_ms,
                       bool *acquired, Error **errp)
{
    BlockDriverState *t = lock_target(bs);
    int64_t deadline = 0;
    int64_t left = timeout_ms;
    bool exclusive;
    int ret = 0;

    if (!t->drv->bdrv_lock || !t->drv->bdrv_unlock) {
        error_setg(errp, "Block driver '%s' does not support the "
                   "serialization lock", t->drv->format_name);
        return -ENOTSUP;
    }
    if (timeout_ms > 0) {
        deadline = qemu_clock_monotonic_ns() + timeout_ms * 1000000;
    }
    qemu_mutex_lock(&t->lock_mutex);
    for (;;) {
        if (t->lock_depth > 0) {
            if (t->lock_depth == UINT_MAX) {
                error_setg(errp, "Serialization lock of '%s' nested too "
                           "deeply", t->filename);
                ret = -EOVERFLOW;
            } else {
                t->lock_depth++;
            }
            goto out;
        }
        if (!t->lock_acquiring) {
            break;
        }
        /* Another thread of ours is waiting for the OS lock. */
        if (timeout_ms == 0) {
            error_setg(errp, "Failed to get the serialization lock of '%s': "
                       "another thread is acquiring it", t->filename);
            ret = -EAGAIN;
            goto out;
        }
        if (timeout_ms < 0) {
            qemu_cond_wait(&t->lock_cond, &t->lock_mutex);
            continue;
        }
        left = (deadline - qemu_clock_monotonic_ns() + 999999) / 1000000;
        if (left <= 0) {
            error_setg(errp, "Timed out after %" PRId64 " ms waiting for the "
                       "serialization lock of '%s'", timeout_ms, t->filename);
            ret = -ETIMEDOUT;
            goto out;
        }
        qemu_cond_timedwait(&t->lock_cond, &t->lock_mutex, left);
    }
    if (timeout_ms > 0) {
        left = (deadline - qemu_clock_monotonic_ns() + 999999) / 1000000;
        left = MAX(left, 1);
    }
    t->lock_acquiring = true;
    exclusive = !t->read_only;
    qemu_mutex_unlock(&t->lock_mutex);

    ret = t->drv->bdrv_lock(t, exclusive, left, errp);

    qemu_mutex_lock(&t->lock_mutex);
    t->lock_acquiring = false;
    if (ret == 0) {
        t->lock_depth = 1;
        t->lock_exclusive = exclusive;
        *acquired = true;
    }
    qemu_cond_broadcast(&t->lock_cond);
out:
    qemu_mutex_unlock(&t->lock_mutex);
    return ret;
}

/*
 * The OS lock was just taken on an inactive tree (incoming migration):
 * the image's owner may have changed it since we last looked, so nothing
 * cached about it is trusted (QEMU reloads only on activation, but it
 * never reads an inactive image; the vTPM validates one).
 */
static int lock_acquired(BlockDriverState *bs, int ret, bool acquired,
                         Error **errp)
{
    Error *local_err = NULL;

    if (ret < 0 || !acquired || !(bs->open_flags & BDRV_O_INACTIVE)) {
        return ret;
    }
    ret = bdrv_invalidate_cache(bs, errp);
    if (ret < 0) {
        bdrv_unlock(bs, &local_err);
        error_free(local_err);
    }
    return ret;
}

int bdrv_lock(BlockDriverState *bs, Error **errp)
{
    bool acquired = false;
    int ret = lock_common(bs, -1, &acquired, errp);

    return lock_acquired(bs, ret, acquired, errp);
}

int bdrv_trylock(BlockDriverState *bs, Error **errp)
{
    bool acquired = false;
    int ret = lock_common(bs, 0, &acquired, errp);

    return lock_acquired(bs, ret, acquired, errp);
}

int bdrv_lock_timeout(BlockDriverState *bs, int64_t timeout_ms, Error **errp)
{
    bool acquired = false;
    int ret;

    if (timeout_ms < 0) {
        error_setg(errp, "Lock timeout must not be negative");
        return -EINVAL;
    }
    ret = lock_common(bs, timeout_ms, &acquired, errp);
    return lock_acquired(bs, ret, acquired, errp);
}

int bdrv_unlock(BlockDriverState *bs, Error **errp)
{
    BlockDriverState *t = lock_target(bs);
    int ret = 0;

    qemu_mutex_lock(&t->lock_mutex);
    if (t->lock_depth == 0) {
        error_setg(errp, "The serialization lock of '%s' is not held",
                   t->filename);
        ret = -ENOLCK;
    } else if (--t->lock_depth == 0) {
        /* Even if the OS refuses, the lock is gone for us. */
        ret = t->drv->bdrv_unlock(t, errp);
        t->lock_exclusive = false;
    }
    qemu_mutex_unlock(&t->lock_mutex);
    return ret;
}

unsigned bdrv_lock_depth(BlockDriverState *bs)
{
    BlockDriverState *t = lock_target(bs);
    unsigned depth;

    qemu_mutex_lock(&t->lock_mutex);
    depth = t->lock_depth;
    qemu_mutex_unlock(&t->lock_mutex);
    return depth;
}
