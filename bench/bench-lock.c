/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-lock.c: cost of the serialization lock.  A bdrv_lock/bdrv_unlock
 * pair and a nested pair, as ratios to a bare OFD fcntl lock+unlock pair
 * measured in the same run.  Prints numbers; never asserts on time.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "block/lock-bytes.h"

#define ROUNDS 25

static int64_t iterations = 4000;

static int64_t run_bare(void *opaque)
{
    int fd = *(int *)opaque;
    struct flock fl = {
        .l_whence = SEEK_SET,
        .l_start = RAW_LOCK_SERIAL_BYTE,
        .l_len = 1,
    };
    int64_t t0 = qemu_clock_monotonic_ns();
    int64_t i;

    for (i = 0; i < iterations; i++) {
        fl.l_type = F_WRLCK;
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            perror("fcntl");
            exit(1);
        }
        fl.l_type = F_UNLCK;
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            perror("fcntl");
            exit(1);
        }
    }
    return qemu_clock_monotonic_ns() - t0;
}

static int64_t run_pair(void *opaque)
{
    BlockDriverState *bs = opaque;
    int64_t t0 = qemu_clock_monotonic_ns();
    int64_t i;

    for (i = 0; i < iterations; i++) {
        if (bdrv_lock(bs, NULL) < 0 || bdrv_unlock(bs, NULL) < 0) {
            fprintf(stderr, "bdrv_lock failed\n");
            exit(1);
        }
    }
    return qemu_clock_monotonic_ns() - t0;
}

static int64_t run_nested(void *opaque)
{
    BlockDriverState *bs = opaque;
    int64_t t0, t;
    int64_t i;

    if (bdrv_lock(bs, NULL) < 0) {
        exit(1);
    }
    t0 = qemu_clock_monotonic_ns();
    for (i = 0; i < iterations; i++) {
        if (bdrv_lock(bs, NULL) < 0 || bdrv_unlock(bs, NULL) < 0) {
            exit(1);
        }
    }
    t = qemu_clock_monotonic_ns() - t0;
    bdrv_unlock(bs, NULL);
    return t;
}

int main(int argc, char **argv)
{
    char path[] = "/tmp/bench-lock-XXXXXX";
    Error *err = NULL;
    BlockBackend *blk;
    QDict *opts;
    double bare, pair, nested;
    int fd;

    error_set_progname(argv[0]);
    if (argc > 1) {
        iterations = strtoll(argv[1], NULL, 0);
    }
    printf("bench-lock: serialization lock (bdrv_lock) vs a bare OFD fcntl "
           "lock+unlock, best of %d x %" PRId64 " iterations\n", ROUNDS,
           iterations);
    fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 64 * KiB) < 0) {
        perror("mkstemp");
        return 1;
    }
    opts = qdict_new();
    qdict_put_str(opts, "driver", "raw");
    blk = blk_new_open(path, opts, BDRV_O_RDWR, &err);
    if (!blk) {
        error_report_err(err);
        unlink(path);
        return 1;
    }

    /* Interleave the rounds so drift hits every variant alike. */
    {
        int64_t b = INT64_MAX, p = INT64_MAX, n = INT64_MAX;
        int r;

        for (r = 0; r < ROUNDS; r++) {
            b = MIN(b, run_bare(&fd));
            p = MIN(p, run_pair(blk_bs(blk)));
            n = MIN(n, run_nested(blk_bs(blk)));
        }
        bare = (double)b / (double)iterations;
        pair = (double)p / (double)iterations;
        nested = (double)n / (double)iterations;
    }

    printf("  bare OFD lock+unlock pair   %8.1f ns/op  (baseline)\n", bare);
    printf("  bdrv_lock+bdrv_unlock pair  %8.1f ns/op  ratio %.2fx "
           "(goal <= 1.5x)\n", pair, pair / bare);
    printf("  nested lock+unlock pair     %8.1f ns/op  ratio %.3fx "
           "(goal <= 50 ns)\n", nested, nested / bare);

    blk_unref(blk);
    close(fd);
    unlink(path);
    return 0;
}
