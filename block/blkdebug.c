/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug.c: a test filter that fails chosen requests, for fault
 * injection (docs/devel/testing-drivers.rst).  Two ways to say which:
 *   driver=blkdebug,event=write|flush|truncate,nth=N,errno=EIO|ENOSPC|N,
 *   once=on|off
 * fails the Nth such request (1-based) with the errno, and with once=off
 * every later one too; and QEMU's rules, "blkdebug:CONFIG:IMAGE",
 * config=CONFIG or options "inject-error.N.*" / "set-state.N.*" (as
 * json:{...} lists flatten; blkdebug-config.c): an inject-error rule is
 * armed when a driver above fires its event (bdrv_debug_event(), e.g.
 * qcow2's "l2_update" or "write_aio") and then fails the requests that
 * pass here.  QEMU's align, max-transfer, opt-/max-write-zero and
 * opt-/max-discard options set the node's request limits, and every
 * request is checked against them (blkdebug-limits.c).  Breakpoints
 * (qemu-io's break/resume) suspend the request that fires an event until
 * it is resumed; that needs the request to run in a coroutine
 * (qemu-io's aio_read/aio_write).  The file child may be named "image"
 * as in QEMU ("image.x" options).  Everything else passes through to the
 * file child.
 */
#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/cutils.h"
#include "block/blkdebug.h"

typedef struct BlkdebugSuspended {
    Coroutine *co;
    char *tag;
    struct BlkdebugSuspended *next;
} BlkdebugSuspended;

enum {
    BLKDEBUG_NONE,
    BLKDEBUG_WRITE,
    BLKDEBUG_FLUSH,
    BLKDEBUG_TRUNCATE,
};

typedef struct BDRVBlkdebugState {
    int event;
    int64_t nth;
    int err;
    bool once;
    int64_t count[4];
    /* QEMU-style rules and their state machine (starts in state 1). */
    BlkdebugRule *rules;
    size_t n_rules;
    int state;
    BlkdebugSuspended *suspended; /* newest first */
} BDRVBlkdebugState;

/* "blkdebug:CONFIG:IMAGE" (CONFIG may be empty) into options. */
static int blkdebug_parse_filename(const char *filename, QDict *options,
                                   Error **errp)
{
    const char *p = filename, *colon;
    char *config;

    if (strncmp(p, "blkdebug:", 9)) {
        return 0; /* the image's own name */
    }
    p += 9;
    colon = strchr(p, ':');
    if (!colon) {
        error_setg(errp, "blkdebug requires both config file and image "
                   "path");
        return -EINVAL;
    }
    if (colon != p) {
        config = qemu_xstrndup(p, (size_t)(colon - p));
        qdict_put_str(options, "config", config);
        free(config);
    }
    if (!qdict_haskey(options, "file.filename")) {
        qdict_put_str(options, "file.filename", colon + 1);
    }
    return 0;
}

/*
 * Suspend the running request as @tag until blkdebug_resume_tag(); a
 * request outside a coroutine (a synchronous one) cannot wait, and goes
 * on with a warning where QEMU's would hang.
 */
static void suspend_request(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugSuspended *r;

    if (!qemu_in_coroutine()) {
        fprintf(stderr, "blkdebug: cannot suspend request '%s': it is not "
                "asynchronous\n", tag);
        return;
    }
    r = qemu_xzalloc(sizeof(*r));
    r->co = qemu_coroutine_self();
    r->tag = qemu_xstrdup(tag);
    r->next = s->suspended;
    s->suspended = r;
    printf("blkdebug: Suspended request '%s'\n", tag);
    qemu_coroutine_yield();
}

/* Breakpoints on @event, newest first as in QEMU: each fires once. */
static void fire_breakpoints(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = bs->opaque;
    size_t i = s->n_rules;

    while (i-- > 0) {
        BlkdebugRule *r = &s->rules[i];
        char *tag;

        if (r->removed || r->action != BLKDEBUG_SUSPEND ||
            r->event != event) {
            continue;
        }
        tag = r->tag;
        r->tag = NULL;
        r->removed = true;
        suspend_request(bs, tag);
        free(tag);
        i = MIN(i, s->n_rules); /* rules may have come and gone */
    }
}

static void blkdebug_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s = bs->opaque;
    int new_state = s->state;
    bool injecting = false;
    size_t i;

    for (i = 0; i < s->n_rules; i++) {
        BlkdebugRule *r = &s->rules[i];

        if (r->removed || r->event != event ||
            r->action == BLKDEBUG_SUSPEND ||
            (r->state && r->state != s->state)) {
            continue;
        }
        if (r->action == BLKDEBUG_SET_STATE) {
            new_state = r->new_state;
            continue;
        }
        if (!injecting) {
            /* As QEMU: the rules of the latest event replace the armed. */
            size_t j;

            for (j = 0; j < s->n_rules; j++) {
                s->rules[j].active = false;
            }
            injecting = true;
        }
        r->active = true;
    }
    s->state = new_state;
    fire_breakpoints(bs, event);
}

static int blkdebug_debug_breakpoint(BlockDriverState *bs, const char *event,
                                     const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ev = blkdebug_event_by_name(event);

    if (ev < 0) {
        return -ENOENT;
    }
    s->rules = qemu_xrealloc(s->rules, (s->n_rules + 1) * sizeof(*s->rules));
    s->rules[s->n_rules++] = (BlkdebugRule){
        .event = ev, .action = BLKDEBUG_SUSPEND, .offset = -1,
        .tag = qemu_xstrdup(tag),
    };
    return 0;
}

/* Resume the newest request suspended as @tag (every one if @all). */
static int resume_tag(BlockDriverState *bs, const char *tag, bool all)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ret = -ENOENT;
    BlkdebugSuspended **p = &s->suspended;

    while (*p) {
        BlkdebugSuspended *r = *p;
        Coroutine *co = r->co;

        if (strcmp(r->tag, tag)) {
            p = &r->next;
            continue;
        }
        printf("blkdebug: Resuming request '%s'\n", r->tag);
        *p = r->next;
        free(r->tag);
        free(r);
        ret = 0;
        qemu_coroutine_enter(co);
        if (!all) {
            break;
        }
        p = &s->suspended; /* the list may have changed meanwhile */
    }
    return ret;
}

static int blkdebug_debug_resume(BlockDriverState *bs, const char *tag)
{
    return resume_tag(bs, tag, false);
}

static int blkdebug_debug_remove_breakpoint(BlockDriverState *bs,
                                            const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ret = -ENOENT;

    for (size_t i = 0; i < s->n_rules; i++) {
        BlkdebugRule *r = &s->rules[i];

        if (!r->removed && r->action == BLKDEBUG_SUSPEND &&
            !strcmp(r->tag, tag)) {
            r->removed = true;
            free(r->tag);
            r->tag = NULL;
            ret = 0;
        }
    }
    return resume_tag(bs, tag, true) == 0 ? 0 : ret;
}

static bool blkdebug_debug_is_suspended(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = bs->opaque;

    for (BlkdebugSuspended *r = s->suspended; r; r = r->next) {
        if (!strcmp(r->tag, tag)) {
            return true;
        }
    }
    return false;
}

/* The error an armed rule injects into this request, or 0. */
static int blkdebug_rule_check(BlockDriverState *bs, int64_t offset,
                               int64_t bytes, int iotype)
{
    BDRVBlkdebugState *s = bs->opaque;
    size_t i;

    for (i = 0; i < s->n_rules; i++) {
        BlkdebugRule *r = &s->rules[i];

        if (!r->active || !(r->iotype_mask & (1u << iotype))) {
            continue;
        }
        if (r->offset >= 0 &&
            !(bytes && r->offset >= offset && r->offset < offset + bytes)) {
            continue;
        }
        if (!r->error) {
            return 0;
        }
        if (r->once) {
            r->active = false;
            r->removed = true;
        }
        return -r->error;
    }
    return 0;
}

/*
 * QEMU's name for the node: "blkdebug:CONFIG:IMAGE" when nothing but a
 * config file was given, else its options as json:{...}.
 */
static void blkdebug_set_filename(BlockDriverState *bs, const QDict *options)
{
    const char *config = qdict_get_str(options, "config");
    char name[sizeof(bs->filename)];
    const QDictEntry *e;

    for (e = qdict_first(options); e; e = qdict_next(options, e)) {
        if (strcmp(qdict_entry_key(e), "config")) {
            bdrv_set_json_filename(bs, options);
            return;
        }
    }
    if ((size_t)snprintf(name, sizeof(name), "blkdebug:%s:%s",
                         config ? config : "", bs->file->bs->filename) <
        sizeof(name)) {
        pstrcpy(bs->filename, sizeof(bs->filename), name);
    }
}

static int blkdebug_open(BlockDriverState *bs, QDict *options, int flags,
                         Error **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    char *event, *nth, *err, *config;
    int ret = -EINVAL;

    blkdebug_set_filename(bs, options);
    event = qdict_take_str(options, "event");
    nth = qdict_take_str(options, "nth");
    err = qdict_take_str(options, "errno");
    config = qdict_take_str(options, "config");
    s->state = 1;
    if (config) {
        ret = blkdebug_read_config(config, &s->rules, &s->n_rules, errp);
        free(config);
        if (ret < 0) {
            goto out;
        }
        ret = -EINVAL;
    }
    if (blkdebug_take_option_rules(options, &s->rules, &s->n_rules,
                                   errp) < 0) {
        goto out;
    }
    s->nth = 1;
    s->err = EIO;
    s->once = true;
    if (!event || !strcmp(event, "none")) {
        s->event = BLKDEBUG_NONE;
    } else if (!strcmp(event, "write")) {
        s->event = BLKDEBUG_WRITE;
    } else if (!strcmp(event, "flush")) {
        s->event = BLKDEBUG_FLUSH;
    } else if (!strcmp(event, "truncate")) {
        s->event = BLKDEBUG_TRUNCATE;
    } else {
        error_setg(errp, "blkdebug: unknown event '%s' (expected write, "
                   "flush or truncate)", event);
        goto out;
    }
    if (nth && (qemu_strtoi64(nth, NULL, 10, &s->nth) < 0 || s->nth < 1)) {
        error_setg(errp, "blkdebug: 'nth' must be a positive integer");
        goto out;
    }
    if (err) {
        if (!strcmp(err, "EIO")) {
            s->err = EIO;
        } else if (!strcmp(err, "ENOSPC")) {
            s->err = ENOSPC;
        } else if (qemu_strtoi(err, NULL, 10, &s->err) < 0 || s->err <= 0) {
            error_setg(errp, "blkdebug: bad errno '%s'", err);
            goto out;
        }
    }
    if (qdict_get_bool(options, "once", true, &s->once, errp) < 0) {
        goto out;
    }
    qdict_del(options, "once");
    if (blkdebug_take_limits(bs, options, errp) < 0) {
        goto out;
    }
    /* Rules for the event "none" are armed from the start. */
    blkdebug_debug_event(bs, BLKDBG_NONE);
    ret = 0;
out:
    if (ret < 0) {
        free(s->rules);
        s->rules = NULL;
    }
    free(event);
    free(nth);
    free(err);
    return ret;
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = bs->opaque;

    /* Requests still suspended are abandoned (QEMU's drain would hang). */
    while (s->suspended) {
        BlkdebugSuspended *r = s->suspended;

        s->suspended = r->next;
        free(r->tag);
        free(r);
    }
    for (size_t i = 0; i < s->n_rules; i++) {
        free(s->rules[i].tag);
    }
    free(s->rules);
    s->rules = NULL;
}

/* Should this request of kind @ev fail?  Counts it. */
static int blkdebug_fault(BlockDriverState *bs, int ev)
{
    BDRVBlkdebugState *s = bs->opaque;
    int64_t n = ++s->count[ev];

    if (s->event != ev) {
        return 0;
    }
    if (n == s->nth || (!s->once && n > s->nth)) {
        return -s->err;
    }
    return 0;
}

static int blkdebug_pread(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, void *buf)
{
    int ret;

    blkdebug_check_rw(bs, false, offset, bytes);
    ret = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_READ);
    return ret ? ret : bdrv_child_pread(bs->file, offset, bytes, buf);
}

static int blkdebug_pwrite(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, int flags)
{
    int ret;

    blkdebug_check_rw(bs, true, offset, bytes);
    ret = blkdebug_fault(bs, BLKDEBUG_WRITE);
    if (!ret) {
        ret = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_WRITE);
    }
    return ret ? ret : bdrv_child_pwrite(bs->file, offset, bytes, buf, flags);
}

static int blkdebug_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, int flags)
{
    int ret;

    if (!blkdebug_check_zeroes(bs, offset, bytes)) {
        return -ENOTSUP;
    }
    ret = blkdebug_fault(bs, BLKDEBUG_WRITE);
    if (!ret) {
        ret = blkdebug_rule_check(bs, offset, bytes,
                                  BLKDEBUG_IO_WRITE_ZEROES);
    }
    return ret ? ret : bdrv_pwrite_zeroes(bs->file->bs, offset, bytes, flags);
}

static int blkdebug_pdiscard(BlockDriverState *bs, int64_t offset,
                             int64_t bytes)
{
    int ret;

    if (!blkdebug_check_discard(bs, offset, bytes)) {
        return -ENOTSUP;
    }
    ret = blkdebug_rule_check(bs, offset, bytes, BLKDEBUG_IO_DISCARD);
    return ret ? ret : bdrv_pdiscard(bs->file->bs, offset, bytes);
}

static int blkdebug_flush_to_os(BlockDriverState *bs)
{
    int ret = blkdebug_fault(bs, BLKDEBUG_FLUSH);

    return ret ? ret : blkdebug_rule_check(bs, 0, 0, BLKDEBUG_IO_FLUSH);
}

static int blkdebug_truncate(BlockDriverState *bs, int64_t offset,
                             bool exact, PreallocMode prealloc, Error **errp)
{
    int ret = blkdebug_fault(bs, BLKDEBUG_TRUNCATE);

    if (ret) {
        error_setg_errno(errp, -ret, "blkdebug: injected truncate error");
        return ret;
    }
    return bdrv_truncate(bs->file->bs, offset, exact, prealloc, errp);
}

/* Block status passes through, unless a block-status rule fails it. */
static int blkdebug_block_status(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, int64_t *pnum, int64_t *map,
                                 BlockDriverState **file)
{
    int ret = blkdebug_rule_check(bs, offset, bytes,
                                  BLKDEBUG_IO_BLOCK_STATUS);

    if (ret < 0) {
        return ret;
    }
    return bdrv_block_status_from_file(bs, offset, bytes, pnum, map, file);
}

const BlockDriver bdrv_blkdebug = {
    .format_name = "blkdebug",
    .instance_size = sizeof(BDRVBlkdebugState),
    .is_filter = true,
    .is_format = true,
    .protocol_name = "blkdebug",
    .file_child_alias = "image",
    .bdrv_parse_filename = blkdebug_parse_filename,
    .bdrv_debug_event = blkdebug_debug_event,
    .bdrv_debug_breakpoint = blkdebug_debug_breakpoint,
    .bdrv_debug_remove_breakpoint = blkdebug_debug_remove_breakpoint,
    .bdrv_debug_resume = blkdebug_debug_resume,
    .bdrv_debug_is_suspended = blkdebug_debug_is_suspended,
    .bdrv_open = blkdebug_open,
    .bdrv_close = blkdebug_close,
    .bdrv_pread = blkdebug_pread,
    .bdrv_pwrite = blkdebug_pwrite,
    .bdrv_pwrite_zeroes = blkdebug_pwrite_zeroes,
    .bdrv_pdiscard = blkdebug_pdiscard,
    .bdrv_flush_to_os = blkdebug_flush_to_os,
    .bdrv_truncate = blkdebug_truncate,
    .bdrv_getlength = bdrv_filter_getlength,
    .bdrv_block_status = blkdebug_block_status,
};
