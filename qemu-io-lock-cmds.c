/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io-lock-cmds.c: qemu-io's commands for the serialization lock
 * (bdrv_lock): lock [-t ms], trylock and unlock.  Ours, not QEMU's.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/error.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "qemu-io.h"

static void lock_help(void)
{
    printf("\n"
           " takes the image's serialization lock (bdrv_lock): shared on a\n"
           " read-only image, exclusive on a read-write one.  Nested calls\n"
           " only count; 'unlock' releases one level.\n"
           "\n"
           " -t, -- give up after this many milliseconds\n"
           "\n");
}

typedef enum LockMode { LOCK_WAIT, LOCK_TRY, LOCK_RELEASE } LockMode;

static int lock_f(BlockBackend *blk, int argc, char **argv);
static int trylock_f(BlockBackend *blk, int argc, char **argv);
static int unlock_f(BlockBackend *blk, int argc, char **argv);

const CmdInfo qemuio_lock_cmds[3] = {
    [LOCK_WAIT] = {
        .name = "lock", .cfunc = lock_f, .argmin = 0, .argmax = 2,
        .args = "[-t timeout_ms]",
        .oneline = "takes the serialization lock, waiting for it",
        .help = lock_help,
    },
    [LOCK_TRY] = {
        .name = "trylock", .cfunc = trylock_f, .argmin = 0, .argmax = 0,
        .oneline = "takes the serialization lock if it is free",
    },
    [LOCK_RELEASE] = {
        .name = "unlock", .cfunc = unlock_f, .argmin = 0, .argmax = 0,
        .oneline = "releases one level of the serialization lock",
    },
};

/*
 * lock [-t ms], trylock and unlock: take or release the serialization
 * lock; a failure prints "<command> failed: <reason>".  Only "lock" has
 * options (the others take no arguments, so getopt finds none).
 */
static int lock_run(BlockBackend *blk, int argc, char **argv, LockMode mode)
{
    const CmdInfo *ct = &qemuio_lock_cmds[mode];
    BlockDriverState *bs = blk_bs(blk);
    int64_t timeout = -1;
    Error *err = NULL;
    int c, ret;

    while ((c = getopt(argc, argv, "t:")) != -1) {
        switch (c) {
        case 't': {
            char *end = NULL;
            long long v = strtoll(optarg, &end, 0);

            if (v < 0 || *end != '\0' || end == optarg) {
                printf("%s is not a valid number\n", optarg);
                return -EINVAL;
            }
            timeout = v;
            break;
        }
        default:
            qemuio_command_usage(ct);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        qemuio_command_usage(ct);
        return -EINVAL;
    }
    if (mode == LOCK_TRY) {
        ret = bdrv_trylock(bs, &err);
    } else if (mode == LOCK_RELEASE) {
        ret = bdrv_unlock(bs, &err);
    } else if (timeout >= 0) {
        ret = bdrv_lock_timeout(bs, timeout, &err);
    } else {
        ret = bdrv_lock(bs, &err);
    }
    if (ret < 0) {
        printf("%s failed: %s\n", ct->name,
               err ? error_get_pretty(err) : strerror(-ret));
        error_free(err);
        return ret;
    }
    return 0;
}

static int lock_f(BlockBackend *blk, int argc, char **argv)
{
    return lock_run(blk, argc, argv, LOCK_WAIT);
}

static int trylock_f(BlockBackend *blk, int argc, char **argv)
{
    return lock_run(blk, argc, argv, LOCK_TRY);
}

static int unlock_f(BlockBackend *blk, int argc, char **argv)
{
    return lock_run(blk, argc, argv, LOCK_RELEASE);
}
