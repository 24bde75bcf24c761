/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qobject.c: JSON value trees for machine-readable tool output.  Dicts keep
 * the iteration order of QEMU's 512-bucket QDict so that our printed JSON
 * matches qemu-img's byte for byte (reference §4.11).
 */
#include "qemu/osdep.h"
#include "qemu/qobject.h"

#include <assert.h>

#define QOBJ_DICT_BUCKETS 512

typedef struct QObjDictEntry {
    char *key;
    QObject *val;
    unsigned bucket;
    uint64_t serial; /* insertion order, for "newest first" in a bucket */
} QObjDictEntry;

struct QObject {
    QType type;
    union {
        int64_t num;
        bool boolean;
        char *str;
        struct {
            QObjDictEntry *ents; /* kept sorted in output order */
            size_t n, cap;
            uint64_t next_serial;
        } dict;
        struct {
            QObject **items;
            size_t n, cap;
        } list;
    } u;
};

/* The hash QEMU's QDict uses (Samba's tdb hash), 32-bit arithmetic. */
static unsigned qobj_tdb_hash(const char *name)
{
    uint32_t value = (uint32_t)0x238F13AF * (uint32_t)strlen(name);
    unsigned i;

    for (i = 0; name[i]; i++) {
        value += (uint32_t)(unsigned char)name[i] << (i * 5 % 24);
    }
    return (uint32_t)(1103515243u * value + 12345u);
}

static QObject *qobj_new(QType type)
{
    QObject *o = qemu_xzalloc(sizeof(*o));

    o->type = type;
    return o;
}

QObject *qobj_null(void)
{
    return qobj_new(QTYPE_QNULL);
}

QObject *qobj_int(int64_t v)
{
    QObject *o = qobj_new(QTYPE_QNUM);

    o->u.num = v;
    return o;
}

QObject *qobj_bool(bool v)
{
    QObject *o = qobj_new(QTYPE_QBOOL);

    o->u.boolean = v;
    return o;
}

QObject *qobj_str(const char *s)
{
    QObject *o = qobj_new(QTYPE_QSTRING);

    o->u.str = qemu_xstrdup(s ? s : "");
    return o;
}

QObject *qobj_dict(void)
{
    return qobj_new(QTYPE_QDICT);
}

QObject *qobj_list(void)
{
    return qobj_new(QTYPE_QLIST);
}

void qobj_free(QObject *o)
{
    size_t i;

    if (!o) {
        return;
    }
    switch (o->type) {
    case QTYPE_QSTRING:
        free(o->u.str);
        break;
    case QTYPE_QDICT:
        for (i = 0; i < o->u.dict.n; i++) {
            free(o->u.dict.ents[i].key);
            qobj_free(o->u.dict.ents[i].val);
        }
        free(o->u.dict.ents);
        break;
    case QTYPE_QLIST:
        for (i = 0; i < o->u.list.n; i++) {
            qobj_free(o->u.list.items[i]);
        }
        free(o->u.list.items);
        break;
    default:
        break;
    }
    free(o);
}

QType qobj_type(const QObject *o)
{
    return o->type;
}

int64_t qobj_get_int(const QObject *o)
{
    return o && o->type == QTYPE_QNUM ? o->u.num : 0;
}

bool qobj_get_bool(const QObject *o)
{
    return o && o->type == QTYPE_QBOOL ? o->u.boolean : false;
}

const char *qobj_get_str(const QObject *o)
{
    return o && o->type == QTYPE_QSTRING ? o->u.str : NULL;
}

/* True if entry @a comes before @b in QEMU's iteration order. */
static bool qobj_entry_before(const QObjDictEntry *a, const QObjDictEntry *b)
{
    if (a->bucket != b->bucket) {
        return a->bucket < b->bucket;
    }
    return a->serial > b->serial;
}

void qobj_dict_put(QObject *dict, const char *key, QObject *val)
{
    QObjDictEntry ent;
    size_t i, pos;

    assert(dict && dict->type == QTYPE_QDICT);
    for (i = 0; i < dict->u.dict.n; i++) {
        if (!strcmp(dict->u.dict.ents[i].key, key)) {
            /* Replacing keeps the entry where it is, as QDict does. */
            qobj_free(dict->u.dict.ents[i].val);
            dict->u.dict.ents[i].val = val;
            return;
        }
    }
    ent.key = qemu_xstrdup(key);
    ent.val = val;
    ent.bucket = qobj_tdb_hash(key) % QOBJ_DICT_BUCKETS;
    ent.serial = dict->u.dict.next_serial++;

    if (dict->u.dict.n == dict->u.dict.cap) {
        dict->u.dict.cap = dict->u.dict.cap ? dict->u.dict.cap * 2 : 8;
        dict->u.dict.ents = qemu_xrealloc(dict->u.dict.ents,
                                          dict->u.dict.cap *
                                          sizeof(QObjDictEntry));
    }
    for (pos = 0; pos < dict->u.dict.n; pos++) {
        if (qobj_entry_before(&ent, &dict->u.dict.ents[pos])) {
            break;
        }
    }
    memmove(&dict->u.dict.ents[pos + 1], &dict->u.dict.ents[pos],
            (dict->u.dict.n - pos) * sizeof(QObjDictEntry));
    dict->u.dict.ents[pos] = ent;
    dict->u.dict.n++;
}

QObject *qobj_dict_get(const QObject *dict, const char *key)
{
    size_t i;

    if (!dict || dict->type != QTYPE_QDICT) {
        return NULL;
    }
    for (i = 0; i < dict->u.dict.n; i++) {
        if (!strcmp(dict->u.dict.ents[i].key, key)) {
            return dict->u.dict.ents[i].val;
        }
    }
    return NULL;
}

size_t qobj_dict_size(const QObject *dict)
{
    return dict && dict->type == QTYPE_QDICT ? dict->u.dict.n : 0;
}

const char *qobj_dict_key_at(const QObject *dict, size_t i)
{
    return i < qobj_dict_size(dict) ? dict->u.dict.ents[i].key : NULL;
}

QObject *qobj_dict_value_at(const QObject *dict, size_t i)
{
    return i < qobj_dict_size(dict) ? dict->u.dict.ents[i].val : NULL;
}

void qobj_list_append(QObject *list, QObject *val)
{
    assert(list && list->type == QTYPE_QLIST);
    if (list->u.list.n == list->u.list.cap) {
        list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 8;
        list->u.list.items = qemu_xrealloc(list->u.list.items,
                                           list->u.list.cap *
                                           sizeof(QObject *));
    }
    list->u.list.items[list->u.list.n++] = val;
}

size_t qobj_list_size(const QObject *list)
{
    return list && list->type == QTYPE_QLIST ? list->u.list.n : 0;
}

QObject *qobj_list_at(const QObject *list, size_t i)
{
    return i < qobj_list_size(list) ? list->u.list.items[i] : NULL;
}

/* ---- JSON writer ------------------------------------------------------ */

typedef struct StrBuf {
    char *s;
    size_t len, cap;
} StrBuf;

static void sb_putn(StrBuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        while (sb->len + n + 1 > sb->cap) {
            sb->cap = sb->cap ? sb->cap * 2 : 256;
        }
        sb->s = qemu_xrealloc(sb->s, sb->cap);
    }
    memcpy(sb->s + sb->len, s, n);
    sb->len += n;
    sb->s[sb->len] = '\0';
}

static void sb_puts(StrBuf *sb, const char *s)
{
    sb_putn(sb, s, strlen(s));
}

static void sb_putc(StrBuf *sb, char c)
{
    sb_putn(sb, &c, 1);
}

/*
 * Decode one UTF-8 sequence at @p; returns the code point (or -1 for an
 * invalid sequence) and advances *@len bytes.
 */
static int32_t utf8_decode(const unsigned char *p, size_t *len)
{
    int32_t cp;
    size_t n, i;

    if (p[0] < 0x80) {
        *len = 1;
        return p[0];
    } else if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        *len = 1;
        return -1;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *len = i;
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    *len = n;
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return -1;
    }
    return cp;
}

static void json_quoted(StrBuf *sb, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    char tmp[16];
    size_t len;
    int32_t cp;

    sb_putc(sb, '"');
    while (*p) {
        cp = utf8_decode(p, &len);
        p += len;
        switch (cp) {
        case '"':
            sb_puts(sb, "\\\"");
            break;
        case '\\':
            sb_puts(sb, "\\\\");
            break;
        case '\b':
            sb_puts(sb, "\\b");
            break;
        case '\f':
            sb_puts(sb, "\\f");
            break;
        case '\n':
            sb_puts(sb, "\\n");
            break;
        case '\r':
            sb_puts(sb, "\\r");
            break;
        case '\t':
            sb_puts(sb, "\\t");
            break;
        default:
            if (cp < 0) {
                cp = 0xfffd;
            }
            if (cp > 0xffff) {
                snprintf(tmp, sizeof(tmp), "\\u%04X\\u%04X",
                         0xd800 + ((cp - 0x10000) >> 10),
                         0xdc00 + ((cp - 0x10000) & 0x3ff));
                sb_puts(sb, tmp);
            } else if (cp < 0x20 || cp >= 0x7f) {
                snprintf(tmp, sizeof(tmp), "\\u%04X", cp);
                sb_puts(sb, tmp);
            } else {
                sb_putc(sb, (char)cp);
            }
            break;
        }
    }
    sb_putc(sb, '"');
}

static void json_newline(StrBuf *sb, bool pretty, int level)
{
    int i;

    if (!pretty) {
        return;
    }
    sb_putc(sb, '\n');
    for (i = 0; i < level; i++) {
        sb_puts(sb, "    ");
    }
}

static void json_write(StrBuf *sb, const QObject *o, bool pretty, int level)
{
    char tmp[32];
    size_t i, n;

    switch (o->type) {
    case QTYPE_QNULL:
        sb_puts(sb, "null");
        break;
    case QTYPE_QNUM:
        snprintf(tmp, sizeof(tmp), "%" PRId64, o->u.num);
        sb_puts(sb, tmp);
        break;
    case QTYPE_QBOOL:
        sb_puts(sb, o->u.boolean ? "true" : "false");
        break;
    case QTYPE_QSTRING:
        json_quoted(sb, o->u.str);
        break;
    case QTYPE_QDICT:
        n = o->u.dict.n;
        sb_putc(sb, '{');
        for (i = 0; i < n; i++) {
            if (i) {
                sb_putc(sb, ',');
                if (!pretty) {
                    sb_putc(sb, ' ');
                }
            }
            json_newline(sb, pretty, level + 1);
            json_quoted(sb, o->u.dict.ents[i].key);
            sb_puts(sb, ": ");
            json_write(sb, o->u.dict.ents[i].val, pretty, level + 1);
        }
        /* As QEMU's writer: even an empty one closes on its own line. */
        json_newline(sb, pretty, level);
        sb_putc(sb, '}');
        break;
    case QTYPE_QLIST:
        n = o->u.list.n;
        sb_putc(sb, '[');
        for (i = 0; i < n; i++) {
            if (i) {
                sb_putc(sb, ',');
                if (!pretty) {
                    sb_putc(sb, ' ');
                }
            }
            json_newline(sb, pretty, level + 1);
            json_write(sb, o->u.list.items[i], pretty, level + 1);
        }
        /* As QEMU's writer: even an empty one closes on its own line. */
        json_newline(sb, pretty, level);
        sb_putc(sb, ']');
        break;
    }
}

static char *json_to_string(const QObject *o, bool pretty)
{
    StrBuf sb = { 0 };

    json_write(&sb, o, pretty, 0);
    if (!sb.s) {
        return qemu_xstrdup("");
    }
    return sb.s;
}

char *qobj_to_json_pretty(const QObject *o)
{
    return json_to_string(o, true);
}

char *qobj_to_json(const QObject *o)
{
    return json_to_string(o, false);
}

/* ---- human dump ------------------------------------------------------- */

static void human_write(StrBuf *sb, const QObject *o, int indent);

static void human_member(StrBuf *sb, int indent, const char *label,
                         const QObject *v)
{
    QType t = qobj_type(v);
    int i;

    for (i = 0; i < indent * 4; i++) {
        sb_putc(sb, ' ');
    }
    sb_puts(sb, label);
    sb_putc(sb, ':');
    sb_putc(sb, t == QTYPE_QDICT || t == QTYPE_QLIST ? '\n' : ' ');
    human_write(sb, v, indent + 1);
}

static void human_write(StrBuf *sb, const QObject *o, int indent)
{
    char num[32];
    char *key, *p;
    size_t i;

    switch (o->type) {
    case QTYPE_QNUM:
        snprintf(num, sizeof(num), "%" PRId64 "\n", o->u.num);
        sb_puts(sb, num);
        break;
    case QTYPE_QSTRING:
        sb_puts(sb, o->u.str);
        sb_putc(sb, '\n');
        break;
    case QTYPE_QBOOL:
        sb_puts(sb, o->u.boolean ? "true\n" : "false\n");
        break;
    case QTYPE_QNULL:
        sb_puts(sb, "null\n");
        break;
    case QTYPE_QDICT:
        for (i = 0; i < qobj_dict_size(o); i++) {
            key = qemu_xstrdup(qobj_dict_key_at(o, i));
            for (p = key; *p; p++) {
                if (*p == '-') {
                    *p = ' ';
                }
            }
            human_member(sb, indent, key, qobj_dict_value_at(o, i));
            free(key);
        }
        break;
    case QTYPE_QLIST:
        for (i = 0; i < qobj_list_size(o); i++) {
            snprintf(num, sizeof(num), "[%zu]", i);
            human_member(sb, indent, num, qobj_list_at(o, i));
        }
        break;
    }
}

char *qobj_to_human(const QObject *o, int indent)
{
    StrBuf sb = { 0 };

    human_write(&sb, o, indent);
    return sb.s ? sb.s : qemu_xstrdup("");
}
