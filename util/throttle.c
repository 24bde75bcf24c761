/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle.c: leaky buckets for I/O limits, as QEMU models them.  Each
 * bucket fills with the units of every request it counts and leaks at its
 * average rate; a request waits while a bucket holds more than it allows
 * (a tenth of a second at the average rate, or burst rate x burst length).
 */
#include "qemu/osdep.h"
#include "qemu/throttle.h"

void throttle_init(ThrottleState *ts, int64_t now_ns)
{
    memset(ts, 0, sizeof(*ts));
    for (int i = 0; i < THROTTLE_BUCKETS; i++) {
        ts->buckets[i].burst_length = 1;
    }
    ts->last_leak_ns = now_ns;
}

bool throttle_config_check(const ThrottleState *ts, Error **errp)
{
    const ThrottleBucket *b = ts->buckets;

    for (int base = 0; base < THROTTLE_BUCKETS; base += 3) {
        /* total with read or write, for rates or burst rates */
        if ((b[base].avg && (b[base + 1].avg || b[base + 2].avg)) ||
            (b[base].max && (b[base + 1].max || b[base + 2].max))) {
            error_setg(errp, "bps/iops/max total values and read/write "
                       "values cannot be used at the same time");
            return false;
        }
    }
    if (ts->op_size && !b[THROTTLE_OPS_TOTAL].avg &&
        !b[THROTTLE_OPS_READ].avg && !b[THROTTLE_OPS_WRITE].avg) {
        error_setg(errp, "iops size requires an iops value to be set");
        return false;
    }
    for (int i = 0; i < THROTTLE_BUCKETS; i++) {
        if (b[i].avg > THROTTLE_VALUE_MAX || b[i].max > THROTTLE_VALUE_MAX) {
            error_setg(errp, "bps/iops/max values must be within [0, %lld]",
                       THROTTLE_VALUE_MAX);
            return false;
        }
        if (!b[i].burst_length) {
            error_setg(errp, "the burst length cannot be 0");
            return false;
        }
        if (b[i].burst_length > 1 && !b[i].max) {
            error_setg(errp, "burst length set without burst rate");
            return false;
        }
        if (b[i].max && b[i].burst_length > THROTTLE_VALUE_MAX / b[i].max) {
            error_setg(errp, "burst length too high for this burst rate");
            return false;
        }
        if (b[i].max && !b[i].avg) {
            error_setg(errp, "bps_max/iops_max require corresponding "
                       "bps/iops values");
            return false;
        }
        if (b[i].max && b[i].max < b[i].avg) {
            error_setg(errp, "bps_max/iops_max cannot be lower than "
                       "bps/iops");
            return false;
        }
    }
    return true;
}

/* Let every bucket drain for the time since the last leak. */
static void throttle_leak(ThrottleState *ts, int64_t now_ns)
{
    double secs = (double)(now_ns - ts->last_leak_ns) / 1e9;

    if (secs <= 0) {
        return;
    }
    for (int i = 0; i < THROTTLE_BUCKETS; i++) {
        ThrottleBucket *b = &ts->buckets[i];

        b->level = MAX(b->level - secs * b->avg, 0.0);
        if (b->burst_length > 1) {
            b->burst_level = MAX(b->burst_level - secs * b->max, 0.0);
        }
    }
    ts->last_leak_ns = now_ns;
}

/* How long until @b allows a request, in nanoseconds. */
static int64_t bucket_wait_ns(const ThrottleBucket *b)
{
    double size, burst_size, extra;

    if (!b->avg) {
        return 0;
    }
    if (b->max) {
        size = (double)b->max * b->burst_length;
        burst_size = (double)b->max / 10;
    } else {
        size = (double)b->avg / 10;
        burst_size = 0;
    }
    extra = b->level - size;
    if (extra > 0) {
        return (int64_t)(extra / b->avg * 1e9) + 1;
    }
    if (b->burst_length > 1) {
        extra = b->burst_level - burst_size;
        if (extra > 0) {
            return (int64_t)(extra / b->max * 1e9) + 1;
        }
    }
    return 0;
}

int64_t throttle_wait_ns(ThrottleState *ts, bool is_write, int64_t now_ns)
{
    const ThrottleBucketType checked[4] = {
        THROTTLE_BPS_TOTAL, THROTTLE_OPS_TOTAL,
        is_write ? THROTTLE_BPS_WRITE : THROTTLE_BPS_READ,
        is_write ? THROTTLE_OPS_WRITE : THROTTLE_OPS_READ,
    };
    int64_t wait = 0;

    throttle_leak(ts, now_ns);
    for (int i = 0; i < 4; i++) {
        wait = MAX(wait, bucket_wait_ns(&ts->buckets[checked[i]]));
    }
    return wait;
}

void throttle_account(ThrottleState *ts, bool is_write, uint64_t bytes)
{
    const ThrottleBucketType counted[4] = {
        THROTTLE_BPS_TOTAL, THROTTLE_OPS_TOTAL,
        is_write ? THROTTLE_BPS_WRITE : THROTTLE_BPS_READ,
        is_write ? THROTTLE_OPS_WRITE : THROTTLE_OPS_READ,
    };
    double ops = 1;

    if (ts->op_size && bytes > ts->op_size) {
        ops = (double)bytes / ts->op_size;
    }
    for (int i = 0; i < 4; i++) {
        ThrottleBucket *b = &ts->buckets[counted[i]];
        double units = counted[i] < THROTTLE_OPS_TOTAL ? (double)bytes : ops;

        b->level += units;
        if (b->burst_length > 1) {
            b->burst_level += units;
        }
    }
}
