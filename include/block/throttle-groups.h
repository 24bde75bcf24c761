/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle-groups.h: named sets of I/O limits that throttle nodes share
 * (QEMU's throttle-group objects), created with --object.
 */
#ifndef BLOCK_THROTTLE_GROUPS_H
#define BLOCK_THROTTLE_GROUPS_H

#include "qemu/error.h"

typedef struct ThrottleGroup ThrottleGroup;

/*
 * A tool's --object argument ("qom-type,id=ID,prop=value,..."): creates a
 * throttle-group (the one type the block layer has; its limits are
 * "x-NAME" or "limits.NAME", QEMU's property names).  Other types fail
 * with "--object is not supported".  0 or -errno with @errp set.
 */
int bdrv_object_add(const char *optstr, Error **errp);

/* The group named @name with a new reference, or NULL. */
ThrottleGroup *throttle_group_ref(const char *name);
void throttle_group_unref(ThrottleGroup *tg);

/* Wait until the group's limits let a request of @bytes start, count it. */
void throttle_group_wait(ThrottleGroup *tg, bool is_write, uint64_t bytes);

#endif /* BLOCK_THROTTLE_GROUPS_H */
