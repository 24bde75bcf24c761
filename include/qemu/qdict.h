/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdict.h: an ordered string -> string dictionary, the carrier of block
 * options ("driver", "file.filename", "read-only", ...), and the parsers of
 * "key=value,key=value" option strings (",," escapes a comma) and of
 * "json:{...}" filenames (util/qdict-json.c).
 */
#ifndef QEMU_QDICT_H
#define QEMU_QDICT_H

#include "qemu/error.h"

typedef struct QDict QDict;
typedef struct QDictEntry QDictEntry;

QDict *qdict_new(void);
void qdict_free(QDict *d);
QDict *qdict_clone(const QDict *d);

/* Insert or replace (a replaced key keeps its position). */
void qdict_put_str(QDict *d, const char *key, const char *value);
void qdict_put_int(QDict *d, const char *key, int64_t value);
/* NULL when absent. */
const char *qdict_get_str(const QDict *d, const char *key);
bool qdict_haskey(const QDict *d, const char *key);
void qdict_del(QDict *d, const char *key);
size_t qdict_size(const QDict *d);

/* Iteration in insertion order. */
const QDictEntry *qdict_first(const QDict *d);
const QDictEntry *qdict_next(const QDict *d, const QDictEntry *e);
const char *qdict_entry_key(const QDictEntry *e);
const char *qdict_entry_value(const QDictEntry *e);

/*
 * Move every "<prefix>KEY" entry of @src into a new dict as "KEY"
 * (e.g. prefix "file." moves "file.locking" to "locking").
 */
QDict *qdict_extract_subqdict(QDict *src, const char *prefix);

/*
 * Typed accessors for option values.  Booleans accept on/off, yes/no,
 * true/false (QEMU's set); on a bad value they fail with
 * "Parameter '<key>' expects 'on' or 'off'".  Absent key -> @def.
 */
int qdict_get_bool(const QDict *d, const char *key, bool def, bool *out,
                   Error **errp);
/* Sizes accept the suffixes of qemu_strtosz(); bytes by default. */
int qdict_get_size(const QDict *d, const char *key, uint64_t def,
                   uint64_t *out, Error **errp);
/* Remove and return a malloc'ed copy of the value (NULL if absent). */
char *qdict_take_str(QDict *d, const char *key);

/*
 * Parse "a=1,b=2" into @d (created if *d is NULL).  A first element with no
 * '=' is stored under @implied_key (error if @implied_key is NULL).
 * Returns 0 or -EINVAL with errp set.
 */
int qdict_parse_keyval(QDict **d, const char *str, const char *implied_key,
                       Error **errp);

/*
 * Parse the JSON object @str (QEMU's "json:" syntax, single quotes allowed)
 * into @d (created if *d is NULL), flattened to dotted keys as QEMU's
 * qdict_flatten(): {"file": {"driver": "x"}} -> "file.driver" = "x", list
 * members "key.0", "key.1"...  true/false become on/off.  Returns 0 or
 * -EINVAL with errp set ("JSON parse error, ...").
 */
int qdict_parse_json(QDict **d, const char *str, Error **errp);

#endif /* QEMU_QDICT_H */
