/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug.h: blkdebug's rules, read from a QEMU-style config file
 * (blkdebug-config.c) and applied by the driver (blkdebug.c), and its
 * request limits (blkdebug-limits.c).
 */
#ifndef BLOCK_BLKDEBUG_H
#define BLOCK_BLKDEBUG_H

#include "block/block_int.h"

/* Request kinds a rule can fail (QEMU's BlkdebugIOType). */
enum {
    BLKDEBUG_IO_READ,
    BLKDEBUG_IO_WRITE,
    BLKDEBUG_IO_WRITE_ZEROES,
    BLKDEBUG_IO_DISCARD,
    BLKDEBUG_IO_FLUSH,
    BLKDEBUG_IO_BLOCK_STATUS,
    BLKDEBUG_IO__MAX,
};

typedef enum BlkdebugAction {
    BLKDEBUG_INJECT_ERROR, /* [inject-error] */
    BLKDEBUG_SET_STATE,    /* [set-state] */
    BLKDEBUG_SUSPEND,      /* qemu-io's break: suspend the request */
} BlkdebugAction;

typedef struct BlkdebugRule {
    BlkdebugEvent event;
    BlkdebugAction action;
    int state;             /* applies in this state only; 0: any */
    /* inject-error */
    int error;             /* positive errno */
    bool once;             /* fail one request, then the rule is gone */
    int64_t offset;        /* fail requests touching this byte; -1: all */
    unsigned iotype_mask;  /* 1 << BLKDEBUG_IO_* */
    /* set-state */
    int new_state;
    /* suspend: the tag the suspended request gets (malloc'ed) */
    char *tag;
    /* run time */
    bool active;           /* its event fired: it fails requests now */
    bool removed;          /* a "once" rule that has fired */
} BlkdebugRule;

/*
 * Read the rules in the config file @path (QEMU's format: "[inject-error]"
 * and "[set-state]" groups of 'key = "value"' lines, '#' comments) and
 * append them to *rules / *n_rules (malloc'ed).  0 or -errno with errp
 * naming the file (and line).
 */
int blkdebug_read_config(const char *path, BlkdebugRule **rules,
                         size_t *n_rules, Error **errp);

/*
 * Take the rules given as options (QEMU's "inject-error.N.event=...",
 * "set-state.N.new_state=...", N counting from 0, as json:{...} lists
 * flatten) out of @options and append them to *rules / *n_rules.
 * 0 or -EINVAL with errp set.
 */
int blkdebug_take_option_rules(QDict *options, BlkdebugRule **rules,
                               size_t *n_rules, Error **errp);

/*
 * Take the limit options (align, max-transfer, opt-write-zero,
 * max-write-zero, opt-discard, max-discard) out of @options, check them
 * as QEMU does ("Cannot meet constraints with max-transfer 1000") and set
 * @bs->bl from those given (blkdebug-limits.c).  0 or -EINVAL.
 */
int blkdebug_take_limits(BlockDriverState *bs, QDict *options, Error **errp);

/*
 * Checks of a request against @bs->bl; a violation is a block-layer bug:
 * a message on stderr, then abort() (QEMU asserts).  The zero-write and
 * discard checks return false for a piece below the alignment that the
 * driver refuses with -ENOTSUP, as QEMU's blkdebug does.
 */
void blkdebug_check_rw(const BlockDriverState *bs, bool write,
                       int64_t offset, int64_t bytes);
bool blkdebug_check_zeroes(const BlockDriverState *bs, int64_t offset,
                           int64_t bytes);
bool blkdebug_check_discard(const BlockDriverState *bs, int64_t offset,
                            int64_t bytes);

/* "l2_update" for BLKDBG_L2_UPDATE (QEMU's names), and back (-1). */
const char *blkdebug_event_name(BlkdebugEvent event);
int blkdebug_event_by_name(const char *name);

#endif /* BLOCK_BLKDEBUG_H */
