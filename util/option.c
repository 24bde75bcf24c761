/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * option.c: validation of creation options (-o) against the descriptions
 * a driver publishes, with QEMU's error texts.
 */
#include "qemu/osdep.h"
#include "qemu/option.h"
#include "qemu/cutils.h"

const QemuOptDesc *qemu_opt_find_desc(const QemuOptDesc *list,
                                      const char *name)
{
    for (; list && list->name; list++) {
        if (!strcmp(list->name, name)) {
            return list;
        }
    }
    return NULL;
}

static int check_value(const QemuOptDesc *desc, const char *v, Error **errp)
{
    uint64_t u;

    switch (desc->type) {
    case QEMU_OPT_STRING:
        return 0;
    case QEMU_OPT_BOOL:
        if (!strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "yes") ||
            !strcmp(v, "no") || !strcmp(v, "true") || !strcmp(v, "false")) {
            return 0;
        }
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", desc->name);
        return -EINVAL;
    case QEMU_OPT_NUMBER:
        if (qemu_strtou64(v, NULL, 0, &u) == 0) {
            return 0;
        }
        error_setg(errp, "Parameter '%s' expects a number", desc->name);
        return -EINVAL;
    case QEMU_OPT_SIZE:
        if (qemu_strtosz(v, NULL, &u) == 0) {
            return 0;
        }
        error_setg(errp, "Parameter '%s' expects a non-negative number "
                   "below 2^64", desc->name);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means "
                          "kilo-, mega-, giga-, tera-, peta-\n"
                          "and exabytes, respectively.\n");
        return -EINVAL;
    }
    return 0;
}

int qemu_opts_validate(const QDict *opts, const QemuOptDesc *const *lists,
                       Error **errp)
{
    const QDictEntry *e;

    for (e = qdict_first(opts); e; e = qdict_next(opts, e)) {
        const char *key = qdict_entry_key(e);
        const QemuOptDesc *desc = NULL;
        size_t i;
        int ret;

        for (i = 0; lists && lists[i] && !desc; i++) {
            desc = qemu_opt_find_desc(lists[i], key);
        }
        if (!desc) {
            error_setg(errp, "Invalid parameter '%s'", key);
            return -EINVAL;
        }
        ret = check_value(desc, qdict_entry_value(e), errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

const char *qemu_opt_get_with_default(const QDict *opts,
                                      const QemuOptDesc *list,
                                      const char *name)
{
    const char *v = qdict_get_str(opts, name);
    const QemuOptDesc *desc;

    if (v) {
        return v;
    }
    desc = qemu_opt_find_desc(list, name);
    return desc ? desc->def_value_str : NULL;
}
