/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qobject.h: a small tree of JSON values (int, bool, string, dict, list)
 * for machine-readable output.  Dicts print their keys in the order QEMU's
 * QDict hash table yields them (reference §4.11), not in insertion order,
 * so our JSON matches qemu-img's byte for byte.
 */
#ifndef QEMU_QOBJECT_H
#define QEMU_QOBJECT_H

#include "qemu/osdep.h"

typedef enum QType {
    QTYPE_QNULL,
    QTYPE_QNUM,   /* int64 */
    QTYPE_QBOOL,
    QTYPE_QSTRING,
    QTYPE_QDICT,
    QTYPE_QLIST,
} QType;

typedef struct QObject QObject;

QObject *qobj_null(void);
QObject *qobj_int(int64_t v);
QObject *qobj_bool(bool v);
QObject *qobj_str(const char *s);
QObject *qobj_dict(void);
QObject *qobj_list(void);
void qobj_free(QObject *o);

QType qobj_type(const QObject *o);
int64_t qobj_get_int(const QObject *o);
bool qobj_get_bool(const QObject *o);
const char *qobj_get_str(const QObject *o);

/* Dict: insert or replace; takes ownership of @val. */
void qobj_dict_put(QObject *dict, const char *key, QObject *val);
QObject *qobj_dict_get(const QObject *dict, const char *key);
/* Number of keys, and the i-th key/value in QEMU's output order. */
size_t qobj_dict_size(const QObject *dict);
const char *qobj_dict_key_at(const QObject *dict, size_t i);
QObject *qobj_dict_value_at(const QObject *dict, size_t i);

/* List: append, taking ownership. */
void qobj_list_append(QObject *list, QObject *val);
size_t qobj_list_size(const QObject *list);
QObject *qobj_list_at(const QObject *list, size_t i);

/*
 * JSON text as qemu-img prints it with --output=json: 4-space indents,
 * one member per line, no trailing newline.  Malloc'ed.
 */
char *qobj_to_json_pretty(const QObject *o);
/* Compact single-line JSON (for QMP-like uses). */
char *qobj_to_json(const QObject *o);
/*
 * The human dump QEMU's tools print (qemu-img info's "Format specific
 * information", qemu-io's info): one "key: value" line per member, dashes
 * in keys shown as spaces, list items as "[i]", nested values on the
 * following lines, each level indented by four more spaces starting at
 * @indent levels.  A scalar alone is just its value and a newline.
 * Malloc'ed.
 */
char *qobj_to_human(const QObject *o, int indent);

#endif /* QEMU_QOBJECT_H */
