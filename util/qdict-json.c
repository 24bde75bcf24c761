/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qdict-json.c: JSON objects as block options, for QEMU's "json:{...}"
 * pseudo-protocol.  The object is flattened the way QEMU's qdict_flatten()
 * does it ({"file": {"driver": "x"}, "l": [{"a": 1}]} gives "file.driver"
 * = "x" and "l.0.a" = "1"); QEMU's lexer extensions are accepted (strings
 * in single quotes).  Scalars become option strings: numbers as written,
 * true/false as on/off, null as "null".
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"

#define JSON_MAX_DEPTH 64

typedef struct JsonParser {
    const char *p;
    QDict *out;
    Error **errp;
} JsonParser;

static int parse_value(JsonParser *j, const char *key, int depth);

static void skip_ws(JsonParser *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') {
        j->p++;
    }
}

static int fail(JsonParser *j, const char *what)
{
    if (*j->p) {
        error_setg(j->errp, "JSON parse error, %s near '%.10s'", what, j->p);
    } else {
        error_setg(j->errp, "JSON parse error, premature EOI");
        (void)what;
    }
    return -EINVAL;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Append code point @cp as UTF-8. */
static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = 0xc0 | (cp >> 6);
        o[1] = 0x80 | (cp & 0x3f);
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = 0xe0 | (cp >> 12);
        o[1] = 0x80 | ((cp >> 6) & 0x3f);
        o[2] = 0x80 | (cp & 0x3f);
        return 3;
    }
    o[0] = 0xf0 | (cp >> 18);
    o[1] = 0x80 | ((cp >> 12) & 0x3f);
    o[2] = 0x80 | ((cp >> 6) & 0x3f);
    o[3] = 0x80 | (cp & 0x3f);
    return 4;
}

/* A string in double or single quotes; *out is malloc'ed. */
static int parse_string(JsonParser *j, char **out)
{
    char quote = *j->p++;
    /* Escapes never grow: the output fits in the input's length. */
    char *s = qemu_xmalloc(strlen(j->p) + 1);
    size_t n = 0;

    for (;;) {
        char c = *j->p;

        if (!c) {
            free(s);
            return fail(j, "missing end of string");
        }
        j->p++;
        if (c == quote) {
            break;
        }
        if ((unsigned char)c < 0x20) {
            free(s);
            j->p--;
            return fail(j, "control character in string");
        }
        if (c != '\\') {
            s[n++] = c;
            continue;
        }
        c = *j->p++;
        switch (c) {
        case '"': case '\'': case '\\': case '/':
            s[n++] = c;
            break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'n': s[n++] = '\n'; break;
        case 'r': s[n++] = '\r'; break;
        case 't': s[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;

            if (hex4(j->p, &cp) < 0) {
                free(s);
                return fail(j, "bad \\u escape");
            }
            j->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' &&
                j->p[1] == 'u' && hex4(j->p + 2, &lo) == 0 &&
                lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            }
            if (cp == 0 || (cp >= 0xd800 && cp < 0xe000)) {
                free(s);
                return fail(j, "invalid \\u escape");
            }
            n += put_utf8(s + n, cp);
            break;
        }
        default:
            free(s);
            j->p--;
            return fail(j, "invalid escape");
        }
    }
    s[n] = 0;
    *out = s;
    return 0;
}

static char *join_key(const char *prefix, const char *key)
{
    return prefix[0] ? qemu_xasprintf("%s.%s", prefix, key)
                     : qemu_xstrdup(key);
}

static int put_scalar(JsonParser *j, const char *key, const char *value)
{
    if (!key[0]) {
        return fail(j, "expected an object");
    }
    qdict_put_str(j->out, key, value);
    return 0;
}

static int parse_object(JsonParser *j, const char *prefix, int depth)
{
    j->p++;
    skip_ws(j);
    if (*j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *name, *key;
        int ret;

        if (*j->p != '"' && *j->p != '\'') {
            return fail(j, "expected a member name");
        }
        if (parse_string(j, &name) < 0) {
            return -EINVAL;
        }
        skip_ws(j);
        if (*j->p != ':') {
            free(name);
            return fail(j, "expected ':'");
        }
        j->p++;
        key = join_key(prefix, name);
        free(name);
        ret = parse_value(j, key, depth + 1);
        free(key);
        if (ret < 0) {
            return ret;
        }
        skip_ws(j);
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p != ',') {
            return fail(j, "expected ',' or '}'");
        }
        j->p++;
        skip_ws(j);
    }
}

static int parse_array(JsonParser *j, const char *prefix, int depth)
{
    unsigned idx = 0;

    if (!prefix[0]) {
        return fail(j, "expected an object");
    }
    j->p++;
    skip_ws(j);
    if (*j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *key = qemu_xasprintf("%s.%u", prefix, idx++);
        int ret = parse_value(j, key, depth + 1);

        free(key);
        if (ret < 0) {
            return ret;
        }
        skip_ws(j);
        if (*j->p == ']') {
            j->p++;
            return 0;
        }
        if (*j->p != ',') {
            return fail(j, "expected ',' or ']'");
        }
        j->p++;
    }
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written. */
static int parse_number(JsonParser *j, const char *key)
{
    const char *start = j->p, *q = j->p;
    char *text;
    int ret;

    if (*q == '-') {
        q++;
    }
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (*q >= '0' && *q <= '9') {
            q++;
        }
    } else {
        return fail(j, "invalid number");
    }
    if (*q == '.') {
        q++;
        if (!(*q >= '0' && *q <= '9')) {
            j->p = q;
            return fail(j, "invalid number");
        }
        while (*q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') {
            q++;
        }
        if (!(*q >= '0' && *q <= '9')) {
            j->p = q;
            return fail(j, "invalid number");
        }
        while (*q >= '0' && *q <= '9') {
            q++;
        }
    }
    text = qemu_xasprintf("%.*s", (int)(q - start), start);
    j->p = q;
    ret = put_scalar(j, key, text);
    free(text);
    return ret;
}

static int parse_value(JsonParser *j, const char *key, int depth)
{
    static const struct {
        const char *word;
        const char *value;
    } literals[] = {
        { "true", "on" }, { "false", "off" }, { "null", "null" },
    };

    if (depth > JSON_MAX_DEPTH) {
        return fail(j, "too deeply nested");
    }
    skip_ws(j);
    switch (*j->p) {
    case '{':
        return parse_object(j, key, depth);
    case '[':
        return parse_array(j, key, depth);
    case '"':
    case '\'': {
        char *s;
        int ret;

        if (parse_string(j, &s) < 0) {
            return -EINVAL;
        }
        ret = put_scalar(j, key, s);
        free(s);
        return ret;
    }
    default:
        break;
    }
    for (size_t i = 0; i < ARRAY_SIZE(literals); i++) {
        size_t n = strlen(literals[i].word);
        if (!strncmp(j->p, literals[i].word, n)) {
            j->p += n;
            return put_scalar(j, key, literals[i].value);
        }
    }
    return parse_number(j, key);
}

int qdict_parse_json(QDict **d, const char *str, Error **errp)
{
    JsonParser j = { .p = str, .errp = errp };
    bool created = false;
    int ret;

    if (!*d) {
        *d = qdict_new();
        created = true;
    }
    j.out = *d;
    skip_ws(&j);
    if (*j.p != '{') {
        ret = fail(&j, "expected an object");
    } else {
        ret = parse_value(&j, "", 0);
    }
    if (ret == 0) {
        skip_ws(&j);
        if (*j.p) {
            ret = fail(&j, "unexpected text after the object");
        }
    }
    if (ret < 0 && created) {
        qdict_free(*d);
        *d = NULL;
    }
    return ret;
}
