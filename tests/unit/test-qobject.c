/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-qobject.c: JSON value trees print their dict keys in QEMU's QDict
 * order and format text exactly like qemu-img --output=json.
 */
#include "qemu/osdep.h"
#include "qemu/qobject.h"

#include <glib.h>

/* Insert @keys in the given order, then check the output order. */
static void check_order(const char *const *insert, const char *const *want)
{
    QObject *d = qobj_dict();
    size_t i, n = 0;

    for (i = 0; insert[i]; i++) {
        qobj_dict_put(d, insert[i], qobj_int((int64_t)i));
        n++;
    }
    g_assert_cmpuint(qobj_dict_size(d), ==, n);
    for (i = 0; want[i]; i++) {
        g_assert_cmpstr(qobj_dict_key_at(d, i), ==, want[i]);
    }
    g_assert_cmpuint(i, ==, n);
    qobj_free(d);
}

static void test_image_info_order(void)
{
    /* Inserted in QAPI schema order; printed as qemu-img 7.2 does. */
    static const char *const insert[] = {
        "filename", "format", "dirty-flag", "actual-size", "virtual-size",
        "cluster-size", "encrypted", "compressed", "backing-filename",
        "full-backing-filename", "backing-filename-format", "snapshots",
        "backing-image", "format-specific", NULL
    };
    static const char *const want[] = {
        "backing-image", "compressed", "backing-filename-format",
        "snapshots", "virtual-size", "filename", "cluster-size", "format",
        "actual-size", "format-specific", "full-backing-filename",
        "encrypted", "backing-filename", "dirty-flag", NULL
    };

    check_order(insert, want);
}

static void test_image_check_order(void)
{
    static const char *const insert[] = {
        "filename", "format", "check-errors", "image-end-offset",
        "corruptions", "leaks", "corruptions-fixed", "leaks-fixed",
        "total-clusters", "allocated-clusters", "fragmented-clusters",
        "compressed-clusters", NULL
    };
    static const char *const want[] = {
        "image-end-offset", "compressed-clusters", "total-clusters",
        "corruptions", "corruptions-fixed", "check-errors", "leaks",
        "leaks-fixed", "allocated-clusters", "filename", "format",
        "fragmented-clusters", NULL
    };

    check_order(insert, want);
}

static void test_snapshot_and_qcow2_order(void)
{
    static const char *const sn_insert[] = {
        "id", "name", "vm-state-size", "date-sec", "date-nsec",
        "vm-clock-sec", "vm-clock-nsec", "icount", NULL
    };
    static const char *const sn_want[] = {
        "icount", "vm-clock-nsec", "name", "date-sec", "date-nsec",
        "vm-clock-sec", "id", "vm-state-size", NULL
    };
    static const char *const q_insert[] = {
        "compat", "data-file", "data-file-raw", "extended-l2",
        "lazy-refcounts", "bitmaps", "refcount-bits", "corrupt",
        "compression-type", "encrypt", NULL
    };
    static const char *const q_want[] = {
        "compat", "compression-type", "lazy-refcounts", "bitmaps",
        "refcount-bits", "data-file", "encrypt", "data-file-raw",
        "corrupt", "extended-l2", NULL
    };

    check_order(sn_insert, sn_want);
    check_order(q_insert, q_want);
}

static void test_replace_keeps_position(void)
{
    QObject *d = qobj_dict();

    qobj_dict_put(d, "format", qobj_str("raw"));
    qobj_dict_put(d, "filename", qobj_str("a"));
    qobj_dict_put(d, "format", qobj_str("qcow2"));
    g_assert_cmpuint(qobj_dict_size(d), ==, 2);
    g_assert_cmpstr(qobj_get_str(qobj_dict_get(d, "format")), ==, "qcow2");
    g_assert_cmpstr(qobj_dict_key_at(d, 0), ==, "filename");
    g_assert_cmpstr(qobj_dict_key_at(d, 1), ==, "format");
    qobj_free(d);
}

/* The exact text of `qemu-img info --output=json` on a fresh raw image. */
static void test_pretty_raw_info(void)
{
    QObject *d = qobj_dict();
    char *s;

    qobj_dict_put(d, "filename", qobj_str("r.raw"));
    qobj_dict_put(d, "format", qobj_str("raw"));
    qobj_dict_put(d, "dirty-flag", qobj_bool(false));
    qobj_dict_put(d, "actual-size", qobj_int(4096));
    qobj_dict_put(d, "virtual-size", qobj_int(1048576));
    s = qobj_to_json_pretty(d);
    g_assert_cmpstr(s, ==,
                    "{\n"
                    "    \"virtual-size\": 1048576,\n"
                    "    \"filename\": \"r.raw\",\n"
                    "    \"format\": \"raw\",\n"
                    "    \"actual-size\": 4096,\n"
                    "    \"dirty-flag\": false\n"
                    "}");
    free(s);
    qobj_free(d);
}

/*
 * As QEMU 7.2's JSON writer (qemu-img info of a bitmap without flags):
 * an empty list or object still closes on a line of its own.
 */
static void test_pretty_nested_and_empty(void)
{
    QObject *outer = qobj_list();
    QObject *d = qobj_dict();
    QObject *l = qobj_list();
    char *s;

    qobj_list_append(l, qobj_str("auto"));
    qobj_dict_put(d, "flags", l);
    qobj_dict_put(d, "empty", qobj_dict());
    qobj_list_append(outer, d);
    qobj_list_append(outer, qobj_list());
    qobj_list_append(outer, qobj_null());
    s = qobj_to_json_pretty(outer);
    g_assert_cmpstr(s, ==,
                    "[\n"
                    "    {\n"
                    "        \"flags\": [\n"
                    "            \"auto\"\n"
                    "        ],\n"
                    "        \"empty\": {\n"
                    "        }\n"
                    "    },\n"
                    "    [\n"
                    "    ],\n"
                    "    null\n"
                    "]");
    free(s);
    s = qobj_to_json(outer);
    g_assert_cmpstr(s, ==,
                    "[{\"flags\": [\"auto\"], \"empty\": {}}, [], null]");
    free(s);
    qobj_free(outer);
}

static void test_string_escapes(void)
{
    QObject *o = qobj_str("a\"b\\c\n\t/\x01\xc3\xa9\xf0\x9f\x98\x80\xff");
    char *s = qobj_to_json(o);

    g_assert_cmpstr(s, ==,
                    "\"a\\\"b\\\\c\\n\\t/\\u0001\\u00E9\\uD83D\\uDE00"
                    "\\uFFFD\"");
    free(s);
    qobj_free(o);
}

static void test_numbers_and_accessors(void)
{
    QObject *n = qobj_int(INT64_MIN);
    QObject *b = qobj_bool(true);
    char *s = qobj_to_json(n);

    g_assert_cmpstr(s, ==, "-9223372036854775808");
    g_assert_cmpint(qobj_get_int(n), ==, INT64_MIN);
    g_assert_true(qobj_get_bool(b));
    g_assert_cmpint(qobj_type(b), ==, QTYPE_QBOOL);
    g_assert_null(qobj_get_str(b));
    g_assert_null(qobj_dict_get(b, "x"));
    free(s);
    qobj_free(n);
    qobj_free(b);
}

/* The human dump qemu-img info and qemu-io info print (QDict key order). */
static void test_human_dump(void)
{
    QObject *d = qobj_dict();
    QObject *l = qobj_list();
    QObject *item = qobj_dict();
    QObject *n = qobj_int(-5);
    char *s;

    qobj_dict_put(item, "name", qobj_str("x"));
    qobj_list_append(l, item);
    qobj_list_append(l, qobj_bool(false));
    qobj_dict_put(d, "refcount-bits", qobj_int(16));
    qobj_dict_put(d, "bitmaps", l);
    qobj_dict_put(d, "data-file", qobj_null());
    s = qobj_to_human(d, 1);
    g_assert_cmpstr(s, ==,
                    "    bitmaps:\n"
                    "        [0]:\n"
                    "            name: x\n"
                    "        [1]: false\n"
                    "    refcount bits: 16\n"
                    "    data file: null\n");
    free(s);
    s = qobj_to_human(n, 0);
    g_assert_cmpstr(s, ==, "-5\n");
    free(s);
    s = qobj_to_human(l, 0);
    g_assert_cmpstr(s, ==, "[0]:\n    name: x\n[1]: false\n");
    free(s);
    qobj_free(d);
    qobj_free(n);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qobject/order/image-info", test_image_info_order);
    g_test_add_func("/qobject/order/image-check", test_image_check_order);
    g_test_add_func("/qobject/order/snapshot-qcow2",
                    test_snapshot_and_qcow2_order);
    g_test_add_func("/qobject/replace", test_replace_keeps_position);
    g_test_add_func("/qobject/pretty/raw-info", test_pretty_raw_info);
    g_test_add_func("/qobject/pretty/nested", test_pretty_nested_and_empty);
    g_test_add_func("/qobject/human", test_human_dump);
    g_test_add_func("/qobject/escapes", test_string_escapes);
    g_test_add_func("/qobject/numbers", test_numbers_and_accessors);
    return g_test_run();
}
