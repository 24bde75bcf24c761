/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-lock.c: the metadata lock and the guest range lock of qcow2
 * requests (what each is for: qcow2.h).  In a process that has made no
 * coroutine (qemu_coroutines_in_use()), both do nothing; one that has
 * makes them only from qemu-io's command loop, never inside a request,
 * so a lock and its unlock always see the same answer.
 */
#include "qemu/osdep.h"
#include "qcow2.h"

void qcow2_lock(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    Coroutine *self = qemu_coroutine_self();

    if (!qemu_coroutines_in_use()) {
        return;
    }
    if (s->lock_depth && s->lock_owner == self) {
        s->lock_depth++;
        return;
    }
    qemu_co_mutex_lock(&s->lock);
    s->lock_owner = self;
    s->lock_depth = 1;
}

void qcow2_unlock(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!qemu_coroutines_in_use()) {
        return;
    }
    if (--s->lock_depth == 0) {
        s->lock_owner = NULL;
        qemu_co_mutex_unlock(&s->lock);
    }
}

/*
 * Only the outermost hold is dropped: a nested one (the caller is in the
 * middle of something else of this node's) keeps the lock.
 */
bool qcow2_data_io_begin(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (!qemu_coroutines_in_use() || s->lock_depth != 1) {
        return false;
    }
    qcow2_unlock(bs);
    return true;
}

void qcow2_data_io_end(BlockDriverState *bs, bool dropped)
{
    if (dropped) {
        qcow2_lock(bs);
    }
}

/* Another request's range that overlaps [start, end), or NULL. */
static Qcow2Range *range_conflict(BDRVQcow2State *s, uint64_t start,
                                  uint64_t end, Coroutine *self)
{
    for (Qcow2Range *r = s->ranges; r; r = r->next) {
        if (r->owner != self && r->start < end && start < r->end) {
            return r;
        }
    }
    return NULL;
}

void qcow2_range_lock(BlockDriverState *bs, Qcow2Range *r, uint64_t offset,
                      uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    Coroutine *self = qemu_coroutine_self();
    uint64_t start = QEMU_ALIGN_DOWN(offset, (uint64_t)s->cluster_size);
    uint64_t end = bytes > UINT64_MAX - offset ? UINT64_MAX
                   : QEMU_ALIGN_UP(offset + bytes, (uint64_t)s->cluster_size);
    Qcow2Range *other;

    r->owner = NULL;
    r->next = r; /* not in the list (see qcow2_range_unlock) */
    if (!qemu_coroutines_in_use()) {
        return;
    }
    if (!end && bytes) {
        end = UINT64_MAX; /* rounded up past the top */
    }
    while ((other = range_conflict(s, start, end, self))) {
        /* Waiting drops the metadata lock, whatever the nesting. */
        unsigned depth = s->lock_depth;

        s->lock_depth = 0;
        s->lock_owner = NULL;
        qemu_co_queue_wait(&other->waiters, &s->lock,
                           "clusters an unfinished write is working on");
        s->lock_owner = self;
        s->lock_depth = depth;
    }
    *r = (Qcow2Range){ .start = start, .end = end, .owner = self,
                       .next = s->ranges };
    qemu_co_queue_init(&r->waiters);
    s->ranges = r;
}

void qcow2_range_unlock(BlockDriverState *bs, Qcow2Range *r)
{
    BDRVQcow2State *s = bs->opaque;

    if (r->next == r) {
        return; /* taken while no coroutine existed */
    }
    for (Qcow2Range **p = &s->ranges; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    qemu_co_queue_restart_all(&r->waiters);
}
