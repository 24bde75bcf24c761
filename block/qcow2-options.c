/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-options.c: the qcow2 driver's runtime options (QEMU's
 * qcow2_runtime_opts): cache sizes, lazy refcounts, discard passing and
 * overlap checks.  They are validated with QEMU's messages.  Our caches
 * are fixed, so the sizes only have to be well-formed; our overlap checks
 * always cover at least QEMU's default "cached" set and the inactive L1
 * tables, and the inactive L2 tables (snapshot L1 tables read from disk
 * on every check) when asked for, as QEMU's "all" or "inactive-l2=on".
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "block/qcow2.h"

static const char *const bool_opts[] = {
    "lazy-refcounts",
    "pass-discard-request",
    "pass-discard-snapshot",
    "pass-discard-other",
    "overlap-check.main-header",
    "overlap-check.active-l1",
    "overlap-check.active-l2",
    "overlap-check.refcount-table",
    "overlap-check.refcount-block",
    "overlap-check.snapshot-table",
    "overlap-check.inactive-l1",
    "overlap-check.inactive-l2",
    "overlap-check.bitmap-directory",
};

/* bool_opts[OVERLAP_OPTS_FIRST + k] is the option of QCOW2_OL_* bit k. */
#define OVERLAP_OPTS_FIRST 4

static const char *const size_opts[] = {
    "cache-size",
    "l2-cache-size",
    "l2-cache-entry-size",
    "refcount-cache-size",
};

/* See qcow2.h. */
bool qcow2_is_runtime_option(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(bool_opts); i++) {
        if (!strcmp(name, bool_opts[i])) {
            return true;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(size_opts); i++) {
        if (!strcmp(name, size_opts[i])) {
            return true;
        }
    }
    return !strcmp(name, "cache-clean-interval") ||
           !strcmp(name, "overlap-check") ||
           !strcmp(name, "overlap-check.template");
}

/* The checks a template turns on (QCOW2_OL_*); default "cached". */
static int check_overlap_template(const char *check, const char *tmpl,
                                  int *mask, Error **errp)
{
    static const struct {
        const char *name;
        int mask;
    } templates[] = {
        { "none", 0 },
        { "constant", QCOW2_OL_CONSTANT },
        { "cached", QCOW2_OL_CACHED },
        { "all", QCOW2_OL_ALL },
    };

    if (check && tmpl && strcmp(check, tmpl)) {
        error_setg(errp, "Conflicting values for qcow2 options "
                   "'overlap-check' ('%s') and 'overlap-check.template' "
                   "('%s')", check, tmpl);
        return -EINVAL;
    }
    if (!check) {
        check = tmpl;
    }
    *mask = QCOW2_OL_CACHED;
    if (!check) {
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(templates); i++) {
        if (!strcmp(check, templates[i].name)) {
            *mask = templates[i].mask;
            return 0;
        }
    }
    error_setg(errp, "Unsupported value '%s' for qcow2 option "
               "'overlap-check'. Allowed are any of the following: "
               "none, constant, cached, all", check);
    return -EINVAL;
}

static int check_cache_sizes(BDRVQcow2State *s, const QDict *options,
                             const uint64_t *sizes, Error **errp)
{
    bool has_total = qdict_haskey(options, "cache-size");
    bool has_l2 = qdict_haskey(options, "l2-cache-size");
    bool has_rc = qdict_haskey(options, "refcount-cache-size");
    uint64_t entry = sizes[2];

    if (has_total) {
        if (has_l2 && has_rc) {
            error_setg(errp, "cache-size, l2-cache-size and "
                       "refcount-cache-size may not be set at the same time");
            return -EINVAL;
        }
        if (has_l2 && sizes[1] > sizes[0]) {
            error_setg(errp, "l2-cache-size may not exceed cache-size");
            return -EINVAL;
        }
        if (sizes[3] > sizes[0]) {
            error_setg(errp, "refcount-cache-size may not exceed cache-size");
            return -EINVAL;
        }
    }
    if (qdict_haskey(options, "l2-cache-entry-size") &&
        (entry < (1u << QCOW2_MIN_CLUSTER_BITS) ||
         entry > (uint64_t)s->cluster_size || (entry & (entry - 1)))) {
        error_setg(errp, "L2 cache entry size must be a power of two "
                   "between %d and the cluster size (%d)",
                   1 << QCOW2_MIN_CLUSTER_BITS, s->cluster_size);
        return -EINVAL;
    }
    /* QEMU counts cache entries in an int. */
    if (has_l2 && sizes[1] / (entry ? entry : (uint64_t)s->cluster_size) >
                  INT_MAX) {
        error_setg(errp, "L2 cache size too big");
        return -EINVAL;
    }
    if (has_rc && sizes[3] / (uint64_t)s->cluster_size > INT_MAX) {
        error_setg(errp, "Refcount cache size too big");
        return -EINVAL;
    }
    return 0;
}

/* See qcow2.h. */
void qcow2_join_options(QDict *options, QDict *old)
{
    bool new_overlap = qdict_haskey(options, "overlap-check") ||
                       qdict_haskey(options, "overlap-check.template");
    bool new_total = qdict_haskey(options, "cache-size");
    const QDictEntry *e;

    if (new_overlap) {
        qdict_del(old, "overlap-check");
        for (size_t i = 0; i < ARRAY_SIZE(bool_opts); i++) {
            if (strstart(bool_opts[i], "overlap-check.", NULL)) {
                qdict_del(old, bool_opts[i]);
            }
        }
        qdict_del(old, "overlap-check.template");
    }
    if (new_total) {
        qdict_del(old, "l2-cache-size");
        qdict_del(old, "refcount-cache-size");
    }
    for (e = qdict_first(old); e; e = qdict_next(old, e)) {
        if (!qdict_haskey(options, qdict_entry_key(e))) {
            qdict_put_str(options, qdict_entry_key(e), qdict_entry_value(e));
        }
    }
    /* As QEMU: any cache size set, and no new total, drops the old total. */
    if (!new_total && (qdict_haskey(options, "cache-size") ||
                       qdict_haskey(options, "l2-cache-size") ||
                       qdict_haskey(options, "refcount-cache-size"))) {
        qdict_del(options, "cache-size");
    }
}

int qcow2_take_runtime_options(BlockDriverState *bs, QDict *options,
                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t sizes[ARRAY_SIZE(size_opts)];
    bool lazy = s->use_lazy_refcounts, b;
    int mask;
    const char *v;
    int ret;

    if (!options) {
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(size_opts); i++) {
        if (qdict_get_size(options, size_opts[i], 0, &sizes[i], errp) < 0) {
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(bool_opts); i++) {
        if (qdict_get_bool(options, bool_opts[i], false, &b, errp) < 0) {
            return -EINVAL;
        }
    }
    v = qdict_get_str(options, "cache-clean-interval");
    if (v) {
        uint64_t n;
        if (qemu_strtou64(v, NULL, 10, &n) < 0) {
            error_setg(errp, "Parameter 'cache-clean-interval' expects a "
                       "number");
            return -EINVAL;
        }
        if (n > UINT_MAX) {
            error_setg(errp, "Cache clean interval too big");
            return -EINVAL;
        }
    }
    ret = check_cache_sizes(s, options, sizes, errp);
    if (ret < 0) {
        return ret;
    }
    ret = qdict_get_bool(options, "lazy-refcounts", lazy, &lazy, errp);
    if (ret < 0) {
        return ret;
    }
    if (lazy && s->qcow_version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least "
                   "qemu 1.1 compatibility level");
        return -EINVAL;
    }
    ret = check_overlap_template(qdict_get_str(options, "overlap-check"),
                                 qdict_get_str(options,
                                               "overlap-check.template"),
                                 &mask, errp);
    if (ret < 0) {
        return ret;
    }
    /* Each overlap-check.<structure> overrides its template bit. */
    for (size_t i = 0; i < ARRAY_SIZE(bool_opts); i++) {
        const char *name;
        int bit;

        if (!strstart(bool_opts[i], "overlap-check.", &name)) {
            continue;
        }
        bit = 1 << (i - OVERLAP_OPTS_FIRST);
        ret = qdict_get_bool(options, bool_opts[i], mask & bit, &b, errp);
        if (ret < 0) {
            return ret;
        }
        mask = b ? mask | bit : mask & ~bit;
    }
    s->overlap_check = mask;
    s->use_lazy_refcounts = lazy;

    for (size_t i = 0; i < ARRAY_SIZE(size_opts); i++) {
        qdict_del(options, size_opts[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bool_opts); i++) {
        qdict_del(options, bool_opts[i]);
    }
    qdict_del(options, "cache-clean-interval");
    qdict_del(options, "overlap-check");
    qdict_del(options, "overlap-check.template");
    return 0;
}
