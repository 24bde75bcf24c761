/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle-groups.c: the throttle-group objects of QEMU, for the tools:
 * named leaky-bucket limits (util/throttle.c) that every throttle node
 * naming the group shares, so the limits hold for all of them together.
 * Requests are synchronous here: a request that must wait sleeps.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "qemu/thread.h"
#include "qemu/throttle.h"
#include "block/throttle-groups.h"

struct ThrottleGroup {
    char *name;
    int refcnt;
    ThrottleState ts;
    QemuMutex lock;
    ThrottleGroup *next;
};

static ThrottleGroup *groups;

/* The limits' property names, QEMU's, each with its bucket and field. */
typedef enum { LIMIT_AVG, LIMIT_MAX, LIMIT_BURST, LIMIT_OP_SIZE } LimitField;
static const struct {
    const char *name;
    ThrottleBucketType bucket;
    LimitField field;
} limit_props[] = {
    { "iops-total", THROTTLE_OPS_TOTAL, LIMIT_AVG },
    { "iops-total-max", THROTTLE_OPS_TOTAL, LIMIT_MAX },
    { "iops-total-max-length", THROTTLE_OPS_TOTAL, LIMIT_BURST },
    { "iops-read", THROTTLE_OPS_READ, LIMIT_AVG },
    { "iops-read-max", THROTTLE_OPS_READ, LIMIT_MAX },
    { "iops-read-max-length", THROTTLE_OPS_READ, LIMIT_BURST },
    { "iops-write", THROTTLE_OPS_WRITE, LIMIT_AVG },
    { "iops-write-max", THROTTLE_OPS_WRITE, LIMIT_MAX },
    { "iops-write-max-length", THROTTLE_OPS_WRITE, LIMIT_BURST },
    { "bps-total", THROTTLE_BPS_TOTAL, LIMIT_AVG },
    { "bps-total-max", THROTTLE_BPS_TOTAL, LIMIT_MAX },
    { "bps-total-max-length", THROTTLE_BPS_TOTAL, LIMIT_BURST },
    { "bps-read", THROTTLE_BPS_READ, LIMIT_AVG },
    { "bps-read-max", THROTTLE_BPS_READ, LIMIT_MAX },
    { "bps-read-max-length", THROTTLE_BPS_READ, LIMIT_BURST },
    { "bps-write", THROTTLE_BPS_WRITE, LIMIT_AVG },
    { "bps-write-max", THROTTLE_BPS_WRITE, LIMIT_MAX },
    { "bps-write-max-length", THROTTLE_BPS_WRITE, LIMIT_BURST },
    { "iops-size", THROTTLE_OPS_TOTAL, LIMIT_OP_SIZE },
};

static ThrottleGroup *find_group(const char *name)
{
    for (ThrottleGroup *tg = groups; tg; tg = tg->next) {
        if (!strcmp(tg->name, name)) {
            return tg;
        }
    }
    return NULL;
}

/* One "x-NAME=VALUE" or "limits.NAME=VALUE" into @ts. */
static int set_limit(ThrottleState *ts, const char *key, const char *value,
                     Error **errp)
{
    const char *name;
    char *end;
    long long v;

    if (!strstart(key, "x-", &name) && !strstart(key, "limits.", &name)) {
        name = NULL;
    }
    for (size_t i = 0; name && i < ARRAY_SIZE(limit_props); i++) {
        ThrottleBucket *b = &ts->buckets[limit_props[i].bucket];

        if (strcmp(name, limit_props[i].name)) {
            continue;
        }
        errno = 0;
        v = strtoll(value, &end, 0);
        if (!*value || *end || errno) {
            error_setg(errp, "Parameter '%s' expects integer", key);
            return -EINVAL;
        }
        if (v < 0) {
            error_setg(errp, "Property values cannot be negative");
            return -EINVAL;
        }
        switch (limit_props[i].field) {
        case LIMIT_AVG:
            b->avg = v;
            break;
        case LIMIT_MAX:
            b->max = v;
            break;
        case LIMIT_BURST:
            if (v > UINT_MAX) {
                error_setg(errp, "%s value must be in the range [0, %u]",
                           key, UINT_MAX);
                return -EINVAL;
            }
            b->burst_length = v;
            break;
        case LIMIT_OP_SIZE:
            ts->op_size = v;
            break;
        }
        return 0;
    }
    error_setg(errp, "Parameter '%s' is unexpected", key);
    return -EINVAL;
}

static int throttle_group_add(QDict *props, Error **errp)
{
    const char *id = qdict_get_str(props, "id");
    const QDictEntry *e;
    ThrottleState ts;
    ThrottleGroup *tg;

    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return -EINVAL;
    }
    if (find_group(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type 'container')", id);
        return -EEXIST;
    }
    throttle_init(&ts, qemu_clock_monotonic_ns());
    for (e = qdict_first(props); e; e = qdict_next(props, e)) {
        const char *key = qdict_entry_key(e);

        if (strcmp(key, "id") && strcmp(key, "qom-type") &&
            set_limit(&ts, key, qdict_entry_value(e), errp) < 0) {
            return -EINVAL;
        }
    }
    if (!throttle_config_check(&ts, errp)) {
        return -EINVAL;
    }
    tg = qemu_xnew0(ThrottleGroup, 1);
    tg->name = qemu_xstrdup(id);
    tg->refcnt = 1;             /* the object's own reference */
    tg->ts = ts;
    qemu_mutex_init(&tg->lock);
    tg->next = groups;
    groups = tg;
    return 0;
}

int bdrv_object_add(const char *optstr, Error **errp)
{
    QDict *props = NULL;
    const char *type;
    int ret;

    if (qdict_parse_keyval(&props, optstr, "qom-type", errp) < 0) {
        return -EINVAL;
    }
    type = qdict_get_str(props, "qom-type");
    if (type && !strcmp(type, "throttle-group")) {
        ret = throttle_group_add(props, errp);
    } else {
        error_setg(errp, "--object is not supported");
        ret = -ENOTSUP;
    }
    qdict_free(props);
    return ret;
}

ThrottleGroup *throttle_group_ref(const char *name)
{
    ThrottleGroup *tg = find_group(name);

    if (tg) {
        tg->refcnt++;
    }
    return tg;
}

void throttle_group_unref(ThrottleGroup *tg)
{
    ThrottleGroup **p;

    if (--tg->refcnt) {
        return;
    }
    for (p = &groups; *p != tg; p = &(*p)->next) {
        /* find the link */
    }
    *p = tg->next;
    qemu_mutex_destroy(&tg->lock);
    free(tg->name);
    free(tg);
}

void throttle_group_wait(ThrottleGroup *tg, bool is_write, uint64_t bytes)
{
    int64_t wait;

    qemu_mutex_lock(&tg->lock);
    while ((wait = throttle_wait_ns(&tg->ts, is_write,
                                    qemu_clock_monotonic_ns())) > 0) {
        qemu_mutex_unlock(&tg->lock);
        qemu_sleep_ns(wait);
        qemu_mutex_lock(&tg->lock);
    }
    throttle_account(&tg->ts, is_write, bytes);
    qemu_mutex_unlock(&tg->lock);
}
