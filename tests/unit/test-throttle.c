/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-throttle.c: the leaky buckets of util/throttle.c on a clock the
 * test drives: how long a request waits for each kind of limit, how the
 * buckets drain, bursts, iops-size, and QEMU's configuration checks.
 */
#include "qemu/osdep.h"
#include <glib.h>
#include "qemu/throttle.h"

#define NS 1000000000LL

static void test_no_limits(void)
{
    ThrottleState ts;

    throttle_init(&ts, 0);
    throttle_account(&ts, true, 1 << 30);
    g_assert_cmpint(throttle_wait_ns(&ts, true, 0), ==, 0);
    g_assert_cmpint(throttle_wait_ns(&ts, false, 0), ==, 0);
}

static void test_bps_average(void)
{
    ThrottleState ts;
    int64_t wait;

    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_BPS_TOTAL].avg = 1000;
    /* A tenth of a second of the rate goes through at once. */
    throttle_account(&ts, false, 100);
    g_assert_cmpint(throttle_wait_ns(&ts, false, 0), ==, 0);
    /* 1000 more bytes: 1000 over the allowance, one second at 1000 B/s. */
    throttle_account(&ts, false, 1000);
    wait = throttle_wait_ns(&ts, true, 0);
    g_assert_cmpint(wait, >=, NS);
    g_assert_cmpint(wait, <=, NS + 1000);
    /* Half a second later, half as long; then nothing to wait. */
    wait = throttle_wait_ns(&ts, true, NS / 2);
    g_assert_cmpint(wait, >=, NS / 2);
    g_assert_cmpint(wait, <=, NS / 2 + 1000);
    g_assert_cmpint(throttle_wait_ns(&ts, true, NS + 1), ==, 0);
}

static void test_read_write_buckets(void)
{
    ThrottleState ts;

    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_BPS_WRITE].avg = 100;
    throttle_account(&ts, true, 1000);
    /* Writes wait; reads are not limited. */
    g_assert_cmpint(throttle_wait_ns(&ts, true, 0), >, 0);
    g_assert_cmpint(throttle_wait_ns(&ts, false, 0), ==, 0);
    /* Reads do not fill the write bucket. */
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_BPS_WRITE].avg = 100;
    throttle_account(&ts, false, 1000);
    g_assert_cmpint(throttle_wait_ns(&ts, true, 0), ==, 0);
}

static void test_iops_and_op_size(void)
{
    ThrottleState ts;
    int64_t wait;

    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_TOTAL].avg = 10;
    for (int i = 0; i < 11; i++) {
        throttle_account(&ts, false, 512);
    }
    /* 11 ops against an allowance of 1: ten tenths of a second. */
    wait = throttle_wait_ns(&ts, false, 0);
    g_assert_cmpint(wait, >=, NS);
    g_assert_cmpint(wait, <=, NS + 1000);
    /* With iops-size 4096 a 40 KiB request counts as ten operations. */
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_TOTAL].avg = 10;
    ts.op_size = 4096;
    throttle_account(&ts, false, 40960);
    wait = throttle_wait_ns(&ts, false, 0);
    g_assert_cmpint(wait, >=, NS * 9 / 10);
    g_assert_cmpint(wait, <=, NS * 9 / 10 + 1000);
}

static void test_burst(void)
{
    ThrottleState ts;

    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_BPS_TOTAL].avg = 100;
    ts.buckets[THROTTLE_BPS_TOTAL].max = 1000;
    ts.buckets[THROTTLE_BPS_TOTAL].burst_length = 2;
    /* The burst bucket lets a tenth of a second of the burst rate pass. */
    throttle_account(&ts, false, 100);
    g_assert_cmpint(throttle_wait_ns(&ts, false, 0), ==, 0);
    throttle_account(&ts, false, 100);
    g_assert_cmpint(throttle_wait_ns(&ts, false, 0), >, 0);
    /* It drains at the burst rate: 100 bytes take a tenth of a second. */
    g_assert_cmpint(throttle_wait_ns(&ts, false, NS / 10 + 1), ==, 0);
}

static void check_invalid(ThrottleState *ts, const char *msg)
{
    Error *err = NULL;

    g_assert_false(throttle_config_check(ts, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

static void test_config_check(void)
{
    ThrottleState ts;

    throttle_init(&ts, 0);
    g_assert_true(throttle_config_check(&ts, NULL));
    ts.buckets[THROTTLE_BPS_TOTAL].avg = 1;
    ts.buckets[THROTTLE_BPS_READ].avg = 1;
    check_invalid(&ts, "bps/iops/max total values and read/write values "
                  "cannot be used at the same time");
    throttle_init(&ts, 0);
    ts.op_size = 4096;
    check_invalid(&ts, "iops size requires an iops value to be set");
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_READ].avg = THROTTLE_VALUE_MAX + 1;
    check_invalid(&ts, "bps/iops/max values must be within "
                  "[0, 1000000000000000]");
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_READ].burst_length = 0;
    check_invalid(&ts, "the burst length cannot be 0");
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_READ].avg = 5;
    ts.buckets[THROTTLE_OPS_READ].burst_length = 2;
    check_invalid(&ts, "burst length set without burst rate");
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_READ].max = 5;
    check_invalid(&ts, "bps_max/iops_max require corresponding bps/iops "
                  "values");
    throttle_init(&ts, 0);
    ts.buckets[THROTTLE_OPS_READ].avg = 6;
    ts.buckets[THROTTLE_OPS_READ].max = 5;
    check_invalid(&ts, "bps_max/iops_max cannot be lower than bps/iops");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/throttle/no-limits", test_no_limits);
    g_test_add_func("/throttle/bps-average", test_bps_average);
    g_test_add_func("/throttle/read-write-buckets", test_read_write_buckets);
    g_test_add_func("/throttle/iops-and-op-size", test_iops_and_op_size);
    g_test_add_func("/throttle/burst", test_burst);
    g_test_add_func("/throttle/config-check", test_config_check);
    return g_test_run();
}
