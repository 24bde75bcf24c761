/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * option.h: descriptions of the options a driver accepts at creation time
 * (qemu-img create -o ...), their validation and defaults.
 */
#ifndef QEMU_OPTION_H
#define QEMU_OPTION_H

#include "qemu/qdict.h"

typedef enum QemuOptType {
    QEMU_OPT_STRING,
    QEMU_OPT_BOOL,
    QEMU_OPT_NUMBER,
    QEMU_OPT_SIZE,
} QemuOptType;

typedef struct QemuOptDesc {
    const char *name;
    QemuOptType type;
    const char *help;
    const char *def_value_str; /* NULL: no default printed */
} QemuOptDesc;

/* Lists are terminated by an entry with name == NULL. */

/* Find the description of @name in @list (NULL if unknown). */
const QemuOptDesc *qemu_opt_find_desc(const QemuOptDesc *list,
                                      const char *name);
/*
 * Check that every key of @opts is described in one of the NULL-terminated
 * @lists and that its value parses as the described type.  Unknown key:
 * "Invalid parameter '<key>'"; bad bool: "Parameter '<key>' expects 'on' or
 * 'off'"; bad size: "Parameter '<key>' expects a non-negative number below
 * 2^64" + hint.
 */
int qemu_opts_validate(const QDict *opts, const QemuOptDesc *const *lists,
                       Error **errp);
/* Value of @name in @opts, else its description's default, else NULL. */
const char *qemu_opt_get_with_default(const QDict *opts,
                                      const QemuOptDesc *list,
                                      const char *name);

#endif /* QEMU_OPTION_H */
