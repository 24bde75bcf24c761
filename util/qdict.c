/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdict.c: the ordered string dictionary that carries block options, its
 * typed accessors, and the "key=value,..." parser (",," escapes a comma).
 */
#include "qemu/osdep.h"
#include "qemu/qdict.h"
#include "qemu/cutils.h"

struct QDictEntry {
    char *key;
    char *value;
};

struct QDict {
    QDictEntry *ents;
    size_t n, cap;
};

QDict *qdict_new(void)
{
    return qemu_xnew0(QDict, 1);
}

void qdict_free(QDict *d)
{
    size_t i;

    if (!d) {
        return;
    }
    for (i = 0; i < d->n; i++) {
        free(d->ents[i].key);
        free(d->ents[i].value);
    }
    free(d->ents);
    free(d);
}

QDict *qdict_clone(const QDict *d)
{
    QDict *c = qdict_new();
    size_t i;

    for (i = 0; i < d->n; i++) {
        qdict_put_str(c, d->ents[i].key, d->ents[i].value);
    }
    return c;
}

static QDictEntry *find(const QDict *d, const char *key)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        if (!strcmp(d->ents[i].key, key)) {
            return &d->ents[i];
        }
    }
    return NULL;
}

void qdict_put_str(QDict *d, const char *key, const char *value)
{
    QDictEntry *e = find(d, key);

    if (e) {
        char *v = qemu_xstrdup(value);
        free(e->value);
        e->value = v;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->ents = qemu_xrealloc(d->ents, d->cap * sizeof(*d->ents));
    }
    d->ents[d->n].key = qemu_xstrdup(key);
    d->ents[d->n].value = qemu_xstrdup(value);
    d->n++;
}

void qdict_put_int(QDict *d, const char *key, int64_t value)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRId64, value);
    qdict_put_str(d, key, buf);
}

const char *qdict_get_str(const QDict *d, const char *key)
{
    QDictEntry *e = d ? find(d, key) : NULL;

    return e ? e->value : NULL;
}

bool qdict_haskey(const QDict *d, const char *key)
{
    return d && find(d, key) != NULL;
}

void qdict_del(QDict *d, const char *key)
{
    QDictEntry *e = find(d, key);
    size_t i;

    if (!e) {
        return;
    }
    i = (size_t)(e - d->ents);
    free(e->key);
    free(e->value);
    memmove(&d->ents[i], &d->ents[i + 1],
            (d->n - i - 1) * sizeof(*d->ents));
    d->n--;
}

size_t qdict_size(const QDict *d)
{
    return d ? d->n : 0;
}

const QDictEntry *qdict_first(const QDict *d)
{
    return d && d->n ? &d->ents[0] : NULL;
}

const QDictEntry *qdict_next(const QDict *d, const QDictEntry *e)
{
    size_t i = (size_t)(e - d->ents) + 1;

    return i < d->n ? &d->ents[i] : NULL;
}

const char *qdict_entry_key(const QDictEntry *e)
{
    return e->key;
}

const char *qdict_entry_value(const QDictEntry *e)
{
    return e->value;
}

QDict *qdict_extract_subqdict(QDict *src, const char *prefix)
{
    QDict *dst = qdict_new();
    size_t plen = strlen(prefix);
    size_t i = 0;

    while (i < src->n) {
        QDictEntry *e = &src->ents[i];
        if (!strncmp(e->key, prefix, plen)) {
            qdict_put_str(dst, e->key + plen, e->value);
            qdict_del(src, e->key);
        } else {
            i++;
        }
    }
    return dst;
}

static int parse_bool(const char *key, const char *v, bool *out,
                      Error **errp)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "no") ||
               !strcmp(v, "false")) {
        *out = false;
    } else {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return -EINVAL;
    }
    return 0;
}

int qdict_get_bool(const QDict *d, const char *key, bool def, bool *out,
                   Error **errp)
{
    const char *v = qdict_get_str(d, key);

    if (!v) {
        *out = def;
        return 0;
    }
    return parse_bool(key, v, out, errp);
}

int qdict_get_size(const QDict *d, const char *key, uint64_t def,
                   uint64_t *out, Error **errp)
{
    const char *v = qdict_get_str(d, key);

    if (!v) {
        *out = def;
        return 0;
    }
    if (qemu_strtosz(v, NULL, out) < 0) {
        error_setg(errp, "Parameter '%s' expects a non-negative number "
                   "below 2^64", key);
        error_append_hint(errp, "Optional suffix k, M, G, T, P or E means "
                          "kilo-, mega-, giga-, tera-, peta-\n"
                          "and exabytes, respectively.\n");
        return -EINVAL;
    }
    return 0;
}

char *qdict_take_str(QDict *d, const char *key)
{
    QDictEntry *e = d ? find(d, key) : NULL;
    char *v;

    if (!e) {
        return NULL;
    }
    v = qemu_xstrdup(e->value);
    qdict_del(d, key);
    return v;
}

/*
 * Copy one element up to an unescaped @stop character (',' or '=') or the
 * end; ",," stands for a literal comma.  Returns the position after it.
 */
static const char *get_token(const char *p, char stop, char **out)
{
    size_t len = strlen(p);
    char *buf = qemu_xmalloc(len + 1);
    size_t n = 0;

    while (*p) {
        if (*p == ',') {
            if (p[1] == ',') {
                buf[n++] = ',';
                p += 2;
                continue;
            }
            break;
        }
        if (*p == stop) {
            break;
        }
        buf[n++] = *p++;
    }
    buf[n] = '\0';
    *out = buf;
    return p;
}

int qdict_parse_keyval(QDict **d, const char *str, const char *implied_key,
                       Error **errp)
{
    const char *p = str;
    bool first = true;
    bool created = false;

    if (!*d) {
        *d = qdict_new();
        created = true;
    }
    while (*p) {
        char *key = NULL, *value = NULL;

        p = get_token(p, '=', &key);
        if (*p == '=') {
            p = get_token(p + 1, '\0', &value);
        } else if (first && implied_key) {
            value = key;
            key = qemu_xstrdup(implied_key);
        } else {
            error_setg(errp, "Expected '=' after parameter '%s'", key);
            free(key);
            goto fail;
        }
        if (!*key) {
            error_setg(errp, "Invalid parameter ''");
            free(key);
            free(value);
            goto fail;
        }
        qdict_put_str(*d, key, value);
        free(key);
        free(value);
        first = false;
        if (*p == ',') {
            p++;
        }
    }
    return 0;

fail:
    if (created) {
        qdict_free(*d);
        *d = NULL;
    }
    return -EINVAL;
}
