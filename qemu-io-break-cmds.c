/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io-break-cmds.c: qemu-io's breakpoint commands, as QEMU 7.2's:
 * break EVENT TAG, remove_break TAG, resume TAG, wait_break TAG, on the
 * first blkdebug node down the image's file chain (bdrv_debug_*()).
 */
#include "qemu/osdep.h"

#include "qemu/error.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "qemu-io.h"

static int break_f(BlockBackend *blk, int argc, char **argv);
static int remove_break_f(BlockBackend *blk, int argc, char **argv);
static int resume_f(BlockBackend *blk, int argc, char **argv);
static int wait_break_f(BlockBackend *blk, int argc, char **argv);

/* As the aio commands, these do not print pending completions first. */
const CmdInfo qemuio_break_cmds[4] = {
    {
        .no_poll = true,
        .name = "break", .cfunc = break_f, .argmin = 2, .argmax = 2,
        .args = "event tag",
        .oneline = "sets a breakpoint on event and tags the stopped request as "
                   "tag",
    },
    {
        .no_poll = true,
        .name = "remove_break", .cfunc = remove_break_f, .argmin = 1,
        .argmax = 1, .args = "tag", .oneline = "remove a breakpoint by tag",
    },
    {
        .no_poll = true,
        .name = "resume", .cfunc = resume_f, .argmin = 1, .argmax = 1,
        .args = "tag", .oneline = "resumes the request tagged as tag",
    },
    {
        .no_poll = true,
        .name = "wait_break", .cfunc = wait_break_f, .argmin = 1, .argmax = 1,
        .args = "tag", .oneline = "waits for the suspension of a request",
    },
};

static int break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_breakpoint(blk_bs(blk), argv[1], argv[2]);

    if (ret < 0) {
        printf("Could not set breakpoint: %s\n", strerror(-ret));
    }
    return ret;
}

static int remove_break_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_remove_breakpoint(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not remove breakpoint %s: %s\n", argv[1],
               strerror(-ret));
    }
    return ret;
}

static int resume_f(BlockBackend *blk, int argc, char **argv)
{
    int ret = bdrv_debug_resume(blk_bs(blk), argv[1]);

    if (ret < 0) {
        printf("Could not resume request: %s\n", strerror(-ret));
    }
    return ret;
}

/*
 * A request reaches its breakpoint before the command that started it
 * returns (our I/O completes in place), so if none is suspended as the
 * tag now, none will be: QEMU's wait_break would wait forever.
 */
static int wait_break_f(BlockBackend *blk, int argc, char **argv)
{
    if (!bdrv_debug_is_suspended(blk_bs(blk), argv[1])) {
        error_report("wait_break: no request is suspended as '%s'",
                     argv[1]);
        return -ENOENT;
    }
    return 0;
}
