/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tracked-requests.c: the requests in flight on a node, and QEMU's
 * serialising requests.  A write that pads itself to the node's request
 * alignment (read-modify-write) reads and writes back bytes it was not
 * given; while it does, no overlapping request may run in the padded
 * range, or the write-back would undo its data.  So it becomes
 * serialising: it waits for the overlapping requests before it reads,
 * and every request that overlaps it later waits for it to end.
 *
 * Waiting only happens between coroutines (qemu-io's aio requests, when
 * a blkdebug breakpoint suspends one); requests of one context never
 * wait for each other, which also lets a request make nested ones on its
 * own node.  Until the process makes a coroutine, nothing is tracked
 * (qemu_coroutines_in_use()): requests cannot wait then, and threads
 * that do I/O side by side (qemu-vtpm) never share the lists.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"

static bool overlaps(const BdrvTrackedRequest *r, int64_t offset,
                     int64_t bytes)
{
    return offset < r->offset + r->bytes && r->offset < offset + bytes;
}

void bdrv_tracked_request_begin(BdrvTrackedRequest *req,
                                BlockDriverState *bs, int64_t offset,
                                int64_t bytes)
{
    *req = (BdrvTrackedRequest){
        .bs = bs, .offset = offset, .bytes = bytes,
        .co = qemu_coroutine_self(), .next = bs->tracked_requests,
    };
    qemu_co_queue_init(&req->wait_queue);
    if (!qemu_coroutines_in_use()) {
        req->bs = NULL; /* untracked */
        return;
    }
    bs->tracked_requests = req;
}

void bdrv_tracked_request_end(BdrvTrackedRequest *req)
{
    BlockDriverState *bs = req->bs;

    if (!bs) {
        return;
    }
    for (BdrvTrackedRequest **p = &bs->tracked_requests; *p;
         p = &(*p)->next) {
        if (*p == req) {
            *p = req->next;
            break;
        }
    }
    if (req->serialising) {
        bs->serialising_in_flight--;
    }
    qemu_co_queue_restart_all(&req->wait_queue);
}

/*
 * The request @self must wait for, as QEMU's: one of another context
 * that overlaps it where either is serialising, unless that one is
 * waiting itself (then it waits, or will, for @self: going on avoids a
 * deadlock).
 */
static BdrvTrackedRequest *find_conflict(BdrvTrackedRequest *self)
{
    for (BdrvTrackedRequest *r = self->bs->tracked_requests; r;
         r = r->next) {
        if (r == self || r->co == self->co ||
            (!r->serialising && !self->serialising)) {
            continue;
        }
        if (overlaps(r, self->offset, self->bytes) && !r->waiting_for) {
            return r;
        }
    }
    return NULL;
}

void bdrv_wait_serialising_requests(BdrvTrackedRequest *self)
{
    BdrvTrackedRequest *r;

    if (!self->bs || !self->bs->serialising_in_flight) {
        return;
    }
    while ((r = find_conflict(self))) {
        self->waiting_for = r;
        qemu_co_queue_wait(&r->wait_queue, NULL,
                           "an overlapping read-modify-write");
        self->waiting_for = NULL;
    }
}

void bdrv_make_request_serialising(BdrvTrackedRequest *req, int64_t align)
{
    int64_t start = QEMU_ALIGN_DOWN(req->offset, align);
    int64_t end = QEMU_ALIGN_UP(req->offset + req->bytes, align);

    req->offset = MIN(req->offset, start);
    req->bytes = MAX(req->offset + req->bytes, end) - req->offset;
    if (!req->serialising && req->bs) {
        req->serialising = true;
        req->bs->serialising_in_flight++;
    }
    bdrv_wait_serialising_requests(req);
}
