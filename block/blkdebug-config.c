/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug-config.c: blkdebug's config file, in QEMU's format:
 *
 *   # comment
 *   [inject-error]
 *   event = "l2_update"      (required; QEMU's event names)
 *   errno = "5"              (default EIO)
 *   once = "on"              (default off: every later request fails)
 *   sector = "128"           (only requests touching that sector)
 *   iotype = "write"         (read, write, write-zeroes, discard, flush,
 *                             block-status; default all but block-status)
 *   state = "2"              (only in that state; default any)
 *   immediately = "off"      (accepted; requests here are synchronous)
 *
 *   [set-state]
 *   event = "..."  state = "1"  new_state = "2"
 *
 * The same groups may come as options, "inject-error.0.event=...", or
 * one of each without the index, "inject-error.event=...".
 * Only parsing: each group becomes one BlkdebugRule.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/blkdebug.h"

static const char *const event_names[BLKDBG__MAX] = {
    [BLKDBG_L1_UPDATE] = "l1_update",
    [BLKDBG_L1_GROW_ALLOC_TABLE] = "l1_grow_alloc_table",
    [BLKDBG_L1_GROW_WRITE_TABLE] = "l1_grow_write_table",
    [BLKDBG_L1_GROW_ACTIVATE_TABLE] = "l1_grow_activate_table",
    [BLKDBG_L2_LOAD] = "l2_load",
    [BLKDBG_L2_UPDATE] = "l2_update",
    [BLKDBG_L2_UPDATE_COMPRESSED] = "l2_update_compressed",
    [BLKDBG_L2_ALLOC_COW_READ] = "l2_alloc_cow_read",
    [BLKDBG_L2_ALLOC_WRITE] = "l2_alloc_write",
    [BLKDBG_READ_AIO] = "read_aio",
    [BLKDBG_READ_BACKING_AIO] = "read_backing_aio",
    [BLKDBG_READ_COMPRESSED] = "read_compressed",
    [BLKDBG_WRITE_AIO] = "write_aio",
    [BLKDBG_WRITE_COMPRESSED] = "write_compressed",
    [BLKDBG_VMSTATE_LOAD] = "vmstate_load",
    [BLKDBG_VMSTATE_SAVE] = "vmstate_save",
    [BLKDBG_COW_READ] = "cow_read",
    [BLKDBG_COW_WRITE] = "cow_write",
    [BLKDBG_REFTABLE_LOAD] = "reftable_load",
    [BLKDBG_REFTABLE_GROW] = "reftable_grow",
    [BLKDBG_REFTABLE_UPDATE] = "reftable_update",
    [BLKDBG_REFBLOCK_LOAD] = "refblock_load",
    [BLKDBG_REFBLOCK_UPDATE] = "refblock_update",
    [BLKDBG_REFBLOCK_UPDATE_PART] = "refblock_update_part",
    [BLKDBG_REFBLOCK_ALLOC] = "refblock_alloc",
    [BLKDBG_REFBLOCK_ALLOC_HOOKUP] = "refblock_alloc_hookup",
    [BLKDBG_REFBLOCK_ALLOC_WRITE] = "refblock_alloc_write",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_BLOCKS] = "refblock_alloc_write_blocks",
    [BLKDBG_REFBLOCK_ALLOC_WRITE_TABLE] = "refblock_alloc_write_table",
    [BLKDBG_REFBLOCK_ALLOC_SWITCH_TABLE] = "refblock_alloc_switch_table",
    [BLKDBG_CLUSTER_ALLOC] = "cluster_alloc",
    [BLKDBG_CLUSTER_ALLOC_BYTES] = "cluster_alloc_bytes",
    [BLKDBG_CLUSTER_FREE] = "cluster_free",
    [BLKDBG_FLUSH_TO_OS] = "flush_to_os",
    [BLKDBG_FLUSH_TO_DISK] = "flush_to_disk",
    [BLKDBG_PWRITEV_RMW_HEAD] = "pwritev_rmw_head",
    [BLKDBG_PWRITEV_RMW_AFTER_HEAD] = "pwritev_rmw_after_head",
    [BLKDBG_PWRITEV_RMW_TAIL] = "pwritev_rmw_tail",
    [BLKDBG_PWRITEV_RMW_AFTER_TAIL] = "pwritev_rmw_after_tail",
    [BLKDBG_PWRITEV] = "pwritev",
    [BLKDBG_PWRITEV_ZERO] = "pwritev_zero",
    [BLKDBG_PWRITEV_DONE] = "pwritev_done",
    [BLKDBG_EMPTY_IMAGE_PREPARE] = "empty_image_prepare",
    [BLKDBG_L1_SHRINK_WRITE_TABLE] = "l1_shrink_write_table",
    [BLKDBG_L1_SHRINK_FREE_L2_CLUSTERS] = "l1_shrink_free_l2_clusters",
    [BLKDBG_COR_WRITE] = "cor_write",
    [BLKDBG_CLUSTER_ALLOC_SPACE] = "cluster_alloc_space",
    [BLKDBG_NONE] = "none",
};

static const char *const iotype_names[BLKDEBUG_IO__MAX] = {
    [BLKDEBUG_IO_READ] = "read",
    [BLKDEBUG_IO_WRITE] = "write",
    [BLKDEBUG_IO_WRITE_ZEROES] = "write-zeroes",
    [BLKDEBUG_IO_DISCARD] = "discard",
    [BLKDEBUG_IO_FLUSH] = "flush",
    [BLKDEBUG_IO_BLOCK_STATUS] = "block-status",
};

const char *blkdebug_event_name(BlkdebugEvent event)
{
    return (unsigned)event < BLKDBG__MAX ? event_names[event] : "?";
}

static int lookup(const char *const *names, int n, const char *s)
{
    int i;

    for (i = 0; i < n; i++) {
        if (names[i] && !strcmp(names[i], s)) {
            return i;
        }
    }
    return -1;
}

int blkdebug_event_by_name(const char *name)
{
    return lookup(event_names, BLKDBG__MAX, name);
}

/* Remove @key from @d as a number (@def when absent). */
static int take_number(QDict *d, const char *key, int64_t def, int64_t *out,
                       Error **errp)
{
    char *v = qdict_take_str(d, key);
    int ret = 0;

    *out = def;
    if (v && qemu_strtoi64(v, NULL, 0, out) < 0) {
        error_setg(errp, "Parameter '%s' expects a number", key);
        ret = -EINVAL;
    }
    free(v);
    return ret;
}

static int take_bool(QDict *d, const char *key, bool *out, Error **errp)
{
    if (qdict_get_bool(d, key, false, out, errp) < 0) {
        return -EINVAL;
    }
    qdict_del(d, key);
    return 0;
}

/* One group's options (consumed) as a rule; QEMU's add_rule(). */
static int group_to_rule(BlkdebugAction action, QDict *d, BlkdebugRule *r,
                         Error **errp)
{
    char *event = qdict_take_str(d, "event");
    char *iotype = NULL;
    int64_t state, num;
    bool ignored;
    int ret = -EINVAL;

    memset(r, 0, sizeof(*r));
    r->action = action;
    if (!event) {
        error_setg(errp, "Missing event name for rule");
        goto out;
    }
    ret = lookup(event_names, BLKDBG__MAX, event);
    if (ret < 0) {
        error_setg(errp, "invalid parameter value: %s", event);
        ret = -EINVAL;
        goto out;
    }
    r->event = (BlkdebugEvent)ret;
    ret = -EINVAL;
    if (take_number(d, "state", 0, &state, errp) < 0) {
        goto out;
    }
    r->state = (int)state;
    if (action == BLKDEBUG_SET_STATE) {
        if (take_number(d, "new_state", 0, &num, errp) < 0) {
            goto out;
        }
        r->new_state = (int)num;
    } else {
        if (take_number(d, "errno", EIO, &num, errp) < 0 ||
            take_number(d, "sector", -1, &r->offset, errp) < 0 ||
            take_bool(d, "once", &r->once, errp) < 0 ||
            take_bool(d, "immediately", &ignored, errp) < 0) {
            goto out;
        }
        r->error = (int)num;
        if (r->offset >= 0) {
            r->offset *= 512;
        }
        iotype = qdict_take_str(d, "iotype");
        if (iotype) {
            int t = lookup(iotype_names, BLKDEBUG_IO__MAX, iotype);
            if (t < 0) {
                error_setg(errp, "invalid parameter value: %s", iotype);
                goto out;
            }
            r->iotype_mask = 1u << t;
        } else {
            r->iotype_mask = (1u << BLKDEBUG_IO_BLOCK_STATUS) - 1;
        }
    }
    if (qdict_first(d)) {
        error_setg(errp, "Invalid parameter '%s'",
                   qdict_entry_key(qdict_first(d)));
        goto out;
    }
    ret = 0;
out:
    free(event);
    free(iotype);
    return ret;
}

static void append_rule(BlkdebugRule **rules, size_t *n_rules,
                        const BlkdebugRule *r)
{
    *rules = qemu_xrealloc(*rules, (*n_rules + 1) * sizeof(*r));
    (*rules)[(*n_rules)++] = *r;
}

int blkdebug_take_option_rules(QDict *options, BlkdebugRule **rules,
                               size_t *n_rules, Error **errp)
{
    static const struct {
        const char *name;
        BlkdebugAction action;
    } groups[] = {
        { "inject-error", BLKDEBUG_INJECT_ERROR },
        { "set-state", BLKDEBUG_SET_STATE },
    };
    size_t g;

    for (g = 0; g < ARRAY_SIZE(groups); g++) {
        int n;

        for (n = 0;; n++) {
            char *prefix = qemu_xasprintf("%s.%d.", groups[g].name, n);
            QDict *d = qdict_extract_subqdict(options, prefix);
            BlkdebugRule r;
            int ret;

            free(prefix);
            if (!qdict_first(d)) {
                qdict_free(d);
                break;
            }
            ret = group_to_rule(groups[g].action, d, &r, errp);
            qdict_free(d);
            if (ret < 0) {
                return ret;
            }
            append_rule(rules, n_rules, &r);
        }
        /* One group without an index: "inject-error.event=l2_load". */
        {
            char *prefix = qemu_xasprintf("%s.", groups[g].name);
            QDict *d = qdict_extract_subqdict(options, prefix);
            BlkdebugRule r;
            int ret = 0;

            free(prefix);
            if (qdict_first(d)) {
                ret = group_to_rule(groups[g].action, d, &r, errp);
                if (ret == 0) {
                    append_rule(rules, n_rules, &r);
                }
            }
            qdict_free(d);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

typedef struct ConfigParse {
    BlkdebugRule **rules;
    size_t *n_rules;
    QDict *group;          /* the open group's options, or NULL */
    BlkdebugAction action;
} ConfigParse;

static int end_group(ConfigParse *p, Error **errp)
{
    BlkdebugRule r;
    int ret;

    if (!p->group) {
        return 0;
    }
    ret = group_to_rule(p->action, p->group, &r, errp);
    qdict_free(p->group);
    p->group = NULL;
    if (ret < 0) {
        return ret;
    }
    append_rule(p->rules, p->n_rules, &r);
    return 0;
}

/* One line (no newline); groups are closed as the next one starts. */
static int parse_line(ConfigParse *p, const char *line, Error **errp)
{
    char group[64], key[64], value[1024];

    if (!line[0] || line[0] == '#') {
        return 0;
    }
    if (line[0] == '[' && sscanf(line, "[%63[^]]]", group) == 1) {
        int ret = end_group(p, errp);

        if (ret < 0) {
            return ret;
        }
        /* [inject-error "id"]: the id names nothing here. */
        group[strcspn(group, " ")] = '\0';
        if (!strcmp(group, "inject-error")) {
            p->action = BLKDEBUG_INJECT_ERROR;
        } else if (!strcmp(group, "set-state")) {
            p->action = BLKDEBUG_SET_STATE;
        } else {
            error_setg(errp, "There is no option group '%s'", group);
            return -EINVAL;
        }
        p->group = qdict_new();
        return 0;
    }
    value[0] = '\0';
    if (sscanf(line, " %63s = \"%1023[^\"]\"", key, value) == 2 ||
        sscanf(line, " %63s = \"\"", key) == 1) {
        if (!p->group) {
            error_setg(errp, "no group defined");
            return -EINVAL;
        }
        qdict_put_str(p->group, key, value);
        return 0;
    }
    error_setg(errp, "parse error");
    return -EINVAL;
}

int blkdebug_read_config(const char *path, BlkdebugRule **rules,
                         size_t *n_rules, Error **errp)
{
    ConfigParse p = { .rules = rules, .n_rules = n_rules };
    char line[1024];
    int lno = 0, ret = 0;
    FILE *f = fopen(path, "r");

    if (!f) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not read blkdebug config file "
                         "'%s'", path);
        return ret;
    }
    while (ret == 0 && fgets(line, sizeof(line), f)) {
        lno++;
        line[strcspn(line, "\r\n")] = '\0';
        ret = parse_line(&p, line, errp);
    }
    if (ret == 0 && ferror(f)) {
        ret = -EIO;
        error_setg_errno(errp, EIO, "Could not read blkdebug config file "
                         "'%s'", path);
    } else if (ret == 0) {
        ret = end_group(&p, errp);
    }
    if (ret < 0 && lno) {
        error_prepend(errp, "%s:%d: ", path, lno);
    }
    qdict_free(p.group);
    fclose(f);
    return ret;
}
