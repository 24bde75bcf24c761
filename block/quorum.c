/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * quorum.c: QEMU's "quorum" driver.  Every write goes to all children and
 * succeeds if at least vote-threshold of them do; a read (read-pattern
 * "quorum", the default) reads every child and returns the contents that
 * the most children agree on, failing with -EIO if fewer than the
 * threshold agree.  Children that disagree with the winner are reported
 * (and rewritten with it, rewrite-corrupted=on).  "fifo" reads the
 * children in order until one succeeds.  blkverify=on (two children,
 * threshold 2) treats any difference as fatal, as QEMU's blkverify does:
 * the process prints where and exits.
 *   driver=quorum,vote-threshold=2,children.0.file.filename=a.raw,
 *   children.0.driver=raw,children.1...,children.2...
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/error.h"
#include "block/block_int.h"

enum { QUORUM_READ_QUORUM, QUORUM_READ_FIFO };

typedef struct BDRVQuorumState {
    BdrvChild **children;
    int num_children;
    int threshold;
    bool blkverify;
    bool rewrite_corrupted;
    int read_pattern;
} BDRVQuorumState;

/* How many "children.N." entries, N = 0, 1, ... without a gap. */
static int count_children(QDict *options)
{
    int n = 0;

    for (;;) {
        char *prefix = qemu_xasprintf("children.%d", n);
        size_t len = strlen(prefix);
        const QDictEntry *e;
        bool found = false;

        for (e = qdict_first(options); e && !found; e = qdict_next(options, e)) {
            const char *k = qdict_entry_key(e);
            found = !strncmp(k, prefix, len) && (k[len] == '.' || !k[len]);
        }
        free(prefix);
        if (!found) {
            return n;
        }
        n++;
    }
}

static int take_int_option(QDict *options, const char *name, int64_t *val,
                           Error **errp)
{
    const char *v = qdict_get_str(options, name);

    if (!v) {
        return 0;
    }
    if (qemu_strtoi64(v, NULL, 10, val) < 0) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return -EINVAL;
    }
    qdict_del(options, name);
    return 0;
}

static int take_bool_option(QDict *options, const char *name, bool *val,
                            Error **errp)
{
    if (qdict_get_bool(options, name, false, val, errp) < 0) {
        return -EINVAL;
    }
    qdict_del(options, name);
    return 0;
}

/* The options, checked in QEMU's order and with its messages. */
static int quorum_parse(BlockDriverState *bs, QDict *options, Error **errp)
{
    BDRVQuorumState *s = bs->opaque;
    int64_t threshold = 0;
    const char *pattern;

    s->num_children = count_children(options);
    if (s->num_children < 1) {
        error_setg(errp, "Number of provided children must be 1 or more");
        return -EINVAL;
    }
    if (take_int_option(options, "vote-threshold", &threshold, errp) < 0) {
        return -EINVAL;
    }
    if (threshold < 1) {
        error_setg(errp, "Parameter 'vote-threshold' expects a value >= 1");
        return -ERANGE;
    }
    if (threshold > s->num_children) {
        error_setg(errp, "threshold may not exceed children count");
        return -ERANGE;
    }
    s->threshold = (int)threshold;
    pattern = qdict_get_str(options, "read-pattern");
    if (!pattern || !strcmp(pattern, "quorum")) {
        s->read_pattern = QUORUM_READ_QUORUM;
    } else if (!strcmp(pattern, "fifo")) {
        s->read_pattern = QUORUM_READ_FIFO;
    } else {
        error_setg(errp, "Please set read-pattern as fifo or quorum");
        return -EINVAL;
    }
    qdict_del(options, "read-pattern");
    if (take_bool_option(options, "blkverify", &s->blkverify, errp) < 0 ||
        take_bool_option(options, "rewrite-corrupted", &s->rewrite_corrupted,
                         errp) < 0) {
        return -EINVAL;
    }
    if (s->read_pattern == QUORUM_READ_FIFO) {
        /* As QEMU: both only apply to voting reads. */
        s->blkverify = s->rewrite_corrupted = false;
    }
    if (s->blkverify && (s->num_children != 2 || s->threshold != 2)) {
        error_setg(errp, "blkverify=on can only be set if there are exactly "
                   "two files and vote-threshold is 2");
        return -EINVAL;
    }
    if (s->rewrite_corrupted && s->blkverify) {
        error_setg(errp, "rewrite-corrupted=on cannot be used with "
                   "blkverify=on");
        return -EINVAL;
    }
    return 0;
}

static void quorum_close(BlockDriverState *bs)
{
    BDRVQuorumState *s = bs->opaque;

    for (int i = 0; i < s->num_children; i++) {
        if (s->children && s->children[i]) {
            bdrv_unref_child(bs, s->children[i]);
        }
    }
    free(s->children);
    s->children = NULL;
}

static int quorum_open(BlockDriverState *bs, QDict *options, int flags,
                       Error **errp)
{
    BDRVQuorumState *s = bs->opaque;
    int cflags = flags & ~(BDRV_O_PROTOCOL | BDRV_O_SNAPSHOT |
                           BDRV_O_NO_BACKING | BDRV_O_CHECK);
    QDict *own = qdict_new();
    const QDictEntry *e;
    int ret;

    /* Its own options, for its json:{} name (the children add theirs). */
    for (e = qdict_first(options); e; e = qdict_next(options, e)) {
        if (!strstart(qdict_entry_key(e), "children.", NULL)) {
            qdict_put_str(own, qdict_entry_key(e), qdict_entry_value(e));
        }
    }
    ret = quorum_parse(bs, options, errp);
    if (ret < 0) {
        qdict_free(own);
        return ret;
    }
    s->children = qemu_xnew0(BdrvChild *, s->num_children);
    for (int i = 0; i < s->num_children; i++) {
        char name[32];

        snprintf(name, sizeof(name), "children.%d", i);
        s->children[i] = bdrv_open_child(bs, NULL, options, name,
                                         BDRV_CHILD_DATA, cflags, errp);
        if (!s->children[i]) {
            quorum_close(bs);
            qdict_free(own);
            return -EINVAL;
        }
    }
    /* As QEMU: no filename reopens a quorum; it is named by its options. */
    bdrv_set_json_filename(bs, own);
    qdict_free(own);
    return 0;
}

/* One child's read of the request: its result, its data. */
typedef struct QuorumRead {
    int ret;
    uint8_t *buf;
    int votes;          /* children agreeing with this one (first only) */
    int same_as;        /* index of the first child with the same data */
} QuorumRead;

/* The error most children returned (the first of them on a tie). */
static int most_common_error(const QuorumRead *r, int n)
{
    int best = 0, best_count = 0;

    for (int i = 0; i < n; i++) {
        int count = 0;

        if (!r[i].ret) {
            continue;
        }
        for (int j = 0; j < n; j++) {
            count += r[j].ret == r[i].ret;
        }
        if (count > best_count) {
            best = r[i].ret;
            best_count = count;
        }
    }
    return best;
}

static void blkverify_compare(int64_t offset, int64_t bytes,
                              const uint8_t *a, const uint8_t *b)
{
    for (int64_t i = 0; i < bytes; i++) {
        if (a[i] != b[i]) {
            fprintf(stderr, "quorum: offset=%" PRId64 " bytes=%" PRId64
                    " contents mismatch at offset %" PRId64 "\n",
                    offset, bytes, offset + i);
            exit(1);
        }
    }
}

static int quorum_read_fifo(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, void *buf)
{
    BDRVQuorumState *s = bs->opaque;
    int ret = -EIO;

    for (int i = 0; i < s->num_children; i++) {
        ret = bdrv_child_pread(s->children[i], offset, bytes, buf);
        if (ret == 0) {
            return 0;
        }
    }
    return ret;
}

/* Group the successful reads by contents; the winner's index, or -1. */
static int quorum_vote(QuorumRead *r, int n, int64_t bytes)
{
    int winner = -1;

    for (int i = 0; i < n; i++) {
        r[i].same_as = i;
        r[i].votes = 0;
        if (r[i].ret) {
            continue;
        }
        for (int j = 0; j < i; j++) {
            if (!r[j].ret && r[j].same_as == j &&
                !memcmp(r[i].buf, r[j].buf, bytes)) {
                r[i].same_as = j;
                break;
            }
        }
        r[r[i].same_as].votes++;
    }
    for (int i = 0; i < n; i++) {
        if (!r[i].ret && r[i].same_as == i &&
            (winner < 0 || r[i].votes > r[winner].votes)) {
            winner = i;
        }
    }
    return winner;
}

static int quorum_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        void *buf)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumRead *r;
    int n = s->num_children, successes = 0, winner, ret = 0;

    if (s->read_pattern == QUORUM_READ_FIFO) {
        return quorum_read_fifo(bs, offset, bytes, buf);
    }
    r = qemu_xnew0(QuorumRead, n);
    for (int i = 0; i < n; i++) {
        r[i].buf = qemu_xmalloc(bytes > 0 ? (size_t)bytes : 1);
        r[i].ret = bdrv_child_pread(s->children[i], offset, bytes, r[i].buf);
        successes += !r[i].ret;
    }
    if (successes < s->threshold) {
        ret = most_common_error(r, n);
        goto out;
    }
    if (s->blkverify) {
        blkverify_compare(offset, bytes, r[0].buf, r[1].buf);
    }
    winner = quorum_vote(r, n, bytes);
    if (r[winner].votes < s->threshold) {
        ret = -EIO;             /* QEMU's QUORUM_FAILURE; no message */
        goto out;
    }
    memcpy(buf, r[winner].buf, bytes);
    for (int i = 0; i < n; i++) {
        if (r[i].ret || r[i].same_as == winner) {
            continue;
        }
        if (s->rewrite_corrupted) {
            /* Best effort, as QEMU: the read has its answer already. */
            (void)bdrv_child_pwrite(s->children[i], offset, bytes, buf, 0);
        }
    }
out:
    for (int i = 0; i < n; i++) {
        free(r[i].buf);
    }
    free(r);
    return ret;
}

/*
 * A write (@buf) or a zero write (@buf NULL) on every child: success if
 * at least the threshold succeed, else the error most of them returned.
 */
static int quorum_write_all(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, int flags)
{
    BDRVQuorumState *s = bs->opaque;
    QuorumRead *r = qemu_xnew0(QuorumRead, s->num_children);
    int ok = 0, ret = 0;

    for (int i = 0; i < s->num_children; i++) {
        BdrvChild *child = s->children[i];

        r[i].ret = buf ? bdrv_child_pwrite(child, offset, bytes, buf, flags)
                       : bdrv_pwrite_zeroes(child->bs, offset, bytes, flags);
        ok += !r[i].ret;
    }
    if (ok < s->threshold) {
        ret = most_common_error(r, s->num_children);
    }
    free(r);
    return ret;
}

static int quorum_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         const void *buf, int flags)
{
    return quorum_write_all(bs, offset, bytes, buf, flags);
}

static int quorum_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, int flags)
{
    return quorum_write_all(bs, offset, bytes, NULL, flags);
}

static int64_t quorum_getlength(BlockDriverState *bs)
{
    BDRVQuorumState *s = bs->opaque;
    int64_t len = bdrv_getlength(s->children[0]->bs);

    /* As QEMU: every child must have the same length. */
    for (int i = 1; len >= 0 && i < s->num_children; i++) {
        int64_t l = bdrv_getlength(s->children[i]->bs);
        if (l < 0) {
            return l;
        }
        if (l != len) {
            return -EIO;
        }
    }
    return len;
}

/*
 * As QEMU: zero where every child reads as zeros (for the shortest such
 * run), else data (for the longest run of data); an error makes it data.
 */
static int quorum_block_status(BlockDriverState *bs, int64_t offset,
                               int64_t bytes, int64_t *pnum, int64_t *map,
                               BlockDriverState **file)
{
    BDRVQuorumState *s = bs->opaque;
    int64_t pnum_zero = bytes, pnum_data = 0;

    (void)map;
    (void)file;
    for (int i = 0; i < s->num_children; i++) {
        int64_t n = 0;
        int ret = bdrv_block_status_above(s->children[i]->bs, NULL, offset,
                                          bytes, &n, NULL, NULL, NULL);
        if (ret < 0) {
            pnum_data = bytes;
            break;
        }
        if (ret & BDRV_BLOCK_ZERO) {
            pnum_zero = MIN(pnum_zero, n);
        } else {
            pnum_data = MAX(pnum_data, n);
        }
    }
    if (pnum_data) {
        *pnum = pnum_data;
        return BDRV_BLOCK_DATA;
    }
    *pnum = pnum_zero;
    return BDRV_BLOCK_ZERO;
}

/*
 * QEMU's quorum_child_perm(): what the parent needs, plus WRITE to
 * rewrite corrupted children; children may not be resized or written by
 * others, or they would drift apart.
 */
static void quorum_child_perm(BlockDriverState *bs, BdrvChild *c,
                              BdrvChildRole role, uint64_t perm,
                              uint64_t shared, uint64_t *nperm,
                              uint64_t *nshared)
{
    BDRVQuorumState *s = bs->opaque;

    (void)c;
    (void)role;
    *nperm = perm & DEFAULT_PERM_PASSTHROUGH;
    if (s->rewrite_corrupted) {
        *nperm |= BLK_PERM_WRITE;
    }
    *nshared = (shared & (BLK_PERM_CONSISTENT_READ |
                          BLK_PERM_WRITE_UNCHANGED)) |
               DEFAULT_PERM_UNCHANGED;
}

const BlockDriver bdrv_quorum = {
    .format_name = "quorum",
    .instance_size = sizeof(BDRVQuorumState),
    .bdrv_open = quorum_open,
    .bdrv_close = quorum_close,
    .bdrv_pread = quorum_pread,
    .bdrv_pwrite = quorum_pwrite,
    .bdrv_pwrite_zeroes = quorum_pwrite_zeroes,
    /* bdrv_flush() flushes every child itself. */
    .bdrv_getlength = quorum_getlength,
    .bdrv_block_status = quorum_block_status,
    .bdrv_child_perm = quorum_child_perm,
};
