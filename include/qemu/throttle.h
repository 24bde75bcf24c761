/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle.h: I/O limits as leaky buckets (QEMU's throttling model): bytes
 * and operations per second, each total, read or write, with an optional
 * burst rate held for a burst length.  Pure arithmetic over a clock the
 * caller passes in; block/throttle-groups.c applies it.
 */
#ifndef QEMU_THROTTLE_H
#define QEMU_THROTTLE_H

#include "qemu/error.h"

typedef enum {
    THROTTLE_BPS_TOTAL,
    THROTTLE_BPS_READ,
    THROTTLE_BPS_WRITE,
    THROTTLE_OPS_TOTAL,
    THROTTLE_OPS_READ,
    THROTTLE_OPS_WRITE,
    THROTTLE_BUCKETS
} ThrottleBucketType;

/* QEMU's THROTTLE_VALUE_MAX: no rate may exceed it. */
#define THROTTLE_VALUE_MAX 1000000000000000LL

typedef struct ThrottleBucket {
    uint64_t avg;           /* units per second (0: no limit) */
    uint64_t max;           /* burst rate (0: a tenth of a second of avg) */
    uint64_t burst_length;  /* seconds the burst rate may last (>= 1) */
    double level;           /* units in the bucket */
    double burst_level;     /* units in the burst bucket */
} ThrottleBucket;

typedef struct ThrottleState {
    ThrottleBucket buckets[THROTTLE_BUCKETS];
    uint64_t op_size;       /* bytes counted as one operation (0: any) */
    int64_t last_leak_ns;
} ThrottleState;

/* No limits, burst lengths 1, clock at @now_ns. */
void throttle_init(ThrottleState *ts, int64_t now_ns);

/* QEMU's throttle_is_valid(): false and @errp for a bad combination. */
bool throttle_config_check(const ThrottleState *ts, Error **errp);

/*
 * Nanoseconds a request must wait at @now_ns before it may start (0: now).
 * Leaks the buckets up to @now_ns first.
 */
int64_t throttle_wait_ns(ThrottleState *ts, bool is_write, int64_t now_ns);

/* Count a request of @bytes that starts now. */
void throttle_account(ThrottleState *ts, bool is_write, uint64_t bytes);

#endif /* QEMU_THROTTLE_H */
