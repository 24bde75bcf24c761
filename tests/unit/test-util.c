/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-util.c: floor-1 helpers.  QDict, the key=value and json: parsers, option
 * validation, QEMU-compatible size parsing and printing, Error values.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/option.h"
#include "qemu/cutils.h"

#include <glib.h>

static void test_qdict_basic(void)
{
    QDict *d = qdict_new();
    const QDictEntry *e;
    QDict *sub, *c;

    qdict_put_str(d, "b", "1");
    qdict_put_str(d, "a", "2");
    qdict_put_int(d, "file.size", -5);
    qdict_put_str(d, "b", "3"); /* replaced in place */
    g_assert_cmpuint(qdict_size(d), ==, 3);
    e = qdict_first(d);
    g_assert_cmpstr(qdict_entry_key(e), ==, "b");
    g_assert_cmpstr(qdict_entry_value(e), ==, "3");
    e = qdict_next(d, e);
    g_assert_cmpstr(qdict_entry_key(e), ==, "a");
    g_assert_cmpstr(qdict_get_str(d, "file.size"), ==, "-5");
    g_assert_null(qdict_get_str(d, "nope"));

    c = qdict_clone(d);
    sub = qdict_extract_subqdict(d, "file.");
    g_assert_cmpuint(qdict_size(d), ==, 2);
    g_assert_false(qdict_haskey(d, "file.size"));
    g_assert_cmpstr(qdict_get_str(sub, "size"), ==, "-5");
    g_assert_cmpuint(qdict_size(c), ==, 3);

    {
        char *v = qdict_take_str(d, "a");
        g_assert_cmpstr(v, ==, "2");
        free(v);
        g_assert_false(qdict_haskey(d, "a"));
        g_assert_null(qdict_take_str(d, "a"));
    }
    qdict_del(d, "b");
    g_assert_null(qdict_first(d));
    qdict_free(d);
    qdict_free(sub);
    qdict_free(c);
}

static void test_qdict_typed(void)
{
    QDict *d = qdict_new();
    Error *err = NULL;
    uint64_t sz;
    bool b;

    qdict_put_str(d, "on", "on");
    qdict_put_str(d, "yes", "yes");
    qdict_put_str(d, "false", "false");
    qdict_put_str(d, "bad", "maybe");
    qdict_put_str(d, "size", "1.5k");
    qdict_put_str(d, "badsize", "-1");

    g_assert_cmpint(qdict_get_bool(d, "on", false, &b, &err), ==, 0);
    g_assert_true(b);
    g_assert_cmpint(qdict_get_bool(d, "yes", false, &b, &err), ==, 0);
    g_assert_true(b);
    g_assert_cmpint(qdict_get_bool(d, "false", true, &b, &err), ==, 0);
    g_assert_false(b);
    g_assert_cmpint(qdict_get_bool(d, "absent", true, &b, &err), ==, 0);
    g_assert_true(b);
    g_assert_null(err);
    g_assert_cmpint(qdict_get_bool(d, "bad", false, &b, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'bad' expects 'on' or 'off'");
    error_free_or_abort(&err);

    g_assert_cmpint(qdict_get_size(d, "size", 0, &sz, &err), ==, 0);
    g_assert_cmpuint(sz, ==, 1536);
    g_assert_cmpint(qdict_get_size(d, "absent", 7, &sz, &err), ==, 0);
    g_assert_cmpuint(sz, ==, 7);
    g_assert_cmpint(qdict_get_size(d, "badsize", 0, &sz, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==, "Parameter 'badsize' expects "
                    "a non-negative number below 2^64");
    g_assert_nonnull(error_get_hint(err));
    error_free_or_abort(&err);
    qdict_free(d);
}

static void test_keyval(void)
{
    QDict *d = NULL;
    Error *err = NULL;

    g_assert_cmpint(qdict_parse_keyval(&d, "driver=raw,file.filename=a,,b,"
                                       "read-only=on", NULL, &err), ==, 0);
    g_assert_cmpstr(qdict_get_str(d, "driver"), ==, "raw");
    g_assert_cmpstr(qdict_get_str(d, "file.filename"), ==, "a,b");
    g_assert_cmpstr(qdict_get_str(d, "read-only"), ==, "on");
    g_assert_cmpuint(qdict_size(d), ==, 3);
    qdict_free(d);

    d = NULL;
    g_assert_cmpint(qdict_parse_keyval(&d, "img.raw,x=1", "filename", &err),
                    ==, 0);
    g_assert_cmpstr(qdict_get_str(d, "filename"), ==, "img.raw");
    g_assert_cmpstr(qdict_get_str(d, "x"), ==, "1");
    /* Adds to an existing dict. */
    g_assert_cmpint(qdict_parse_keyval(&d, "y=2", NULL, &err), ==, 0);
    g_assert_cmpuint(qdict_size(d), ==, 3);
    qdict_free(d);

    d = NULL;
    g_assert_cmpint(qdict_parse_keyval(&d, "a=1,oops", NULL, &err), ==,
                    -EINVAL);
    g_assert_null(d);
    g_assert_nonnull(err);
    error_free_or_abort(&err);
}

static void test_json(void)
{
    static const char *const bad[] = {
        "", "[1]", "'x'", "{", "{'a'}", "{'a':}", "{'a': 1,}", "{a: 1}",
        "{'a': [1, 2}", "{'a': 01}", "{'a': 1.}", "{'a': 'x\\q'}",
        "{'a': 'x\\u0000'}", "{'a': 1} x", "{'a': truth}", "{'a': \"b}",
    };
    QDict *d = NULL;
    Error *err = NULL;
    char deep[200];

    g_assert_cmpint(qdict_parse_json(&d, " { 'driver': 'qcow2',\n"
                    "  \"file\": {'driver': 'blkdebug', 'image.filename': "
                    "'a\\'b\\u00e9',\n 'set-state': [{'event': 'write_aio', "
                    "'new_state': 2}, {'state': -1.5e3}],\n 'once': true, "
                    "'x': false, 'n': null, 'e': {}, 'l': []}} ", &err), ==, 0);
    g_assert_cmpstr(qdict_get_str(d, "driver"), ==, "qcow2");
    g_assert_cmpstr(qdict_get_str(d, "file.driver"), ==, "blkdebug");
    g_assert_cmpstr(qdict_get_str(d, "file.image.filename"), ==,
                    "a'b\xc3\xa9");
    g_assert_cmpstr(qdict_get_str(d, "file.set-state.0.event"), ==,
                    "write_aio");
    g_assert_cmpstr(qdict_get_str(d, "file.set-state.0.new_state"), ==, "2");
    g_assert_cmpstr(qdict_get_str(d, "file.set-state.1.state"), ==,
                    "-1.5e3");
    g_assert_cmpstr(qdict_get_str(d, "file.once"), ==, "on");
    g_assert_cmpstr(qdict_get_str(d, "file.x"), ==, "off");
    g_assert_cmpstr(qdict_get_str(d, "file.n"), ==, "null");
    g_assert_cmpuint(qdict_size(d), ==, 9);
    qdict_free(d);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        d = NULL;
        g_assert_cmpint(qdict_parse_json(&d, bad[i], &err), ==, -EINVAL);
        g_assert_null(d);
        g_assert_nonnull(err);
        g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                       "JSON parse error, "));
        error_free_or_abort(&err);
    }

    /* Nesting is bounded. */
    memset(deep, 0, sizeof(deep));
    for (size_t i = 0; i < 80; i++) {
        strcat(deep, "{'a':");
        if (strlen(deep) > sizeof(deep) - 10) {
            break;
        }
    }
    d = NULL;
    g_assert_cmpint(qdict_parse_json(&d, deep, &err), ==, -EINVAL);
    error_free_or_abort(&err);
}

static const QemuOptDesc opts_a[] = {
    { .name = "size", .type = QEMU_OPT_SIZE },
    { .name = "flag", .type = QEMU_OPT_BOOL, .def_value_str = "off" },
    { .name = NULL }
};
static const QemuOptDesc opts_b[] = {
    { .name = "count", .type = QEMU_OPT_NUMBER },
    { .name = "name", .type = QEMU_OPT_STRING },
    { .name = NULL }
};

static void test_options(void)
{
    const QemuOptDesc *const lists[] = { opts_a, opts_b, NULL };
    QDict *d = qdict_new();
    Error *err = NULL;

    qdict_put_str(d, "size", "1G");
    qdict_put_str(d, "count", "0x10");
    qdict_put_str(d, "name", "anything");
    g_assert_cmpint(qemu_opts_validate(d, lists, &err), ==, 0);
    g_assert_cmpstr(qemu_opt_get_with_default(d, opts_a, "flag"), ==, "off");
    g_assert_cmpstr(qemu_opt_get_with_default(d, opts_a, "size"), ==, "1G");
    g_assert_nonnull(qemu_opt_find_desc(opts_b, "count"));
    g_assert_null(qemu_opt_find_desc(opts_b, "size"));

    qdict_put_str(d, "foo", "1");
    g_assert_cmpint(qemu_opts_validate(d, lists, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'foo'");
    error_free_or_abort(&err);
    qdict_del(d, "foo");

    qdict_put_str(d, "flag", "sometimes");
    g_assert_cmpint(qemu_opts_validate(d, lists, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Parameter 'flag' expects 'on' or 'off'");
    error_free_or_abort(&err);
    qdict_put_str(d, "flag", "on");

    qdict_put_str(d, "size", "1Q");
    g_assert_cmpint(qemu_opts_validate(d, lists, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==, "Parameter 'size' expects a "
                    "non-negative number below 2^64");
    g_assert_cmpstr(error_get_hint(err), ==, "Optional suffix k, M, G, T, P "
                    "or E means kilo-, mega-, giga-, tera-, peta-\n"
                    "and exabytes, respectively.\n");
    error_free_or_abort(&err);
    qdict_free(d);
}

static void check_sz(const char *s, int ret, uint64_t val)
{
    uint64_t r = 0xdeadbeef;

    g_test_message("size '%s'", s);
    g_assert_cmpint(qemu_strtosz(s, NULL, &r), ==, ret);
    if (ret == 0) {
        g_assert_cmpuint(r, ==, val);
    } else {
        g_assert_cmpuint(r, ==, 0xdeadbeef); /* untouched on error */
    }
}

static void test_strtosz(void)
{
    const char *end;
    uint64_t r;

    check_sz("0", 0, 0);
    check_sz("12345", 0, 12345);
    check_sz("1B", 0, 1);
    check_sz("1b", 0, 1);
    check_sz("1k", 0, KiB);
    check_sz("1K", 0, KiB);
    check_sz("1M", 0, MiB);
    check_sz("1G", 0, GiB);
    check_sz("1T", 0, TiB);
    check_sz("1P", 0, PiB);
    check_sz("1E", 0, EiB);
    check_sz("1.5k", 0, 1536);
    check_sz("0.5M", 0, 512 * KiB);
    check_sz("12.345M", 0, 12944670);
    check_sz("1.0", 0, 1);         /* a zero fraction is fine */
    check_sz("1.5", -EINVAL, 0);   /* fractional bytes are not */
    check_sz("1.5B", -EINVAL, 0);
    check_sz("0x10", 0, 16);
    check_sz("0x1.8k", -EINVAL, 0);
    check_sz("-1", -EINVAL, 0);
    check_sz(" -1k", -EINVAL, 0);
    check_sz("", -EINVAL, 0);
    check_sz("k", -EINVAL, 0);
    check_sz("1Q", -EINVAL, 0);
    check_sz("1kB", -EINVAL, 0);
    check_sz("1.", -EINVAL, 0);
    check_sz("1.5e3k", -EINVAL, 0);
    check_sz("15E", 0, 15 * (uint64_t)EiB);
    check_sz("16E", -ERANGE, 0);
    check_sz("18446744073709551615", 0, UINT64_MAX);
    check_sz("18446744073709551616", -ERANGE, 0);

    g_assert_cmpint(qemu_strtosz("3Mfoo", &end, &r), ==, 0);
    g_assert_cmpuint(r, ==, 3 * MiB);
    g_assert_cmpstr(end, ==, "foo");

    g_assert_cmpint(qemu_strtosz_MiB("3", NULL, &r), ==, 0);
    g_assert_cmpuint(r, ==, 3 * MiB);
    g_assert_cmpint(qemu_strtosz_MiB("3k", NULL, &r), ==, 0);
    g_assert_cmpuint(r, ==, 3 * KiB);
    g_assert_cmpint(qemu_strtosz_MiB("1.5", NULL, &r), ==, 0);
    g_assert_cmpuint(r, ==, 3 * 512 * KiB);
}

static void test_strtoint(void)
{
    int64_t i;
    uint64_t u;
    int n;
    const char *end;

    g_assert_cmpint(qemu_strtoi64("-42", NULL, 0, &i), ==, 0);
    g_assert_cmpint(i, ==, -42);
    g_assert_cmpint(qemu_strtoi64("0x10", NULL, 0, &i), ==, 0);
    g_assert_cmpint(i, ==, 16);
    g_assert_cmpint(qemu_strtoi64("12x", NULL, 0, &i), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi64("12x", &end, 0, &i), ==, 0);
    g_assert_cmpstr(end, ==, "x");
    g_assert_cmpint(qemu_strtoi64("", NULL, 0, &i), ==, -EINVAL);
    g_assert_cmpint(qemu_strtoi64("99999999999999999999", NULL, 0, &i), ==,
                    -ERANGE);
    g_assert_cmpint(qemu_strtou64("18446744073709551615", NULL, 10, &u), ==,
                    0);
    g_assert_cmpuint(u, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtoi("2147483648", NULL, 10, &n), ==, -ERANGE);
    g_assert_cmpint(n, ==, INT_MAX);
    g_assert_cmpint(qemu_strtoi("-7", NULL, 10, &n), ==, 0);
    g_assert_cmpint(n, ==, -7);
}

static void check_size_str(uint64_t v, const char *expected)
{
    char *s = size_to_str(v);

    g_assert_cmpstr(s, ==, expected);
    free(s);
}

static void test_size_to_str(void)
{
    check_size_str(0, "0 B");
    check_size_str(512, "512 B");
    check_size_str(999, "999 B");
    check_size_str(1000, "0.977 KiB");
    check_size_str(1023, "0.999 KiB");
    check_size_str(1024, "1 KiB");
    check_size_str(1536, "1.5 KiB");
    check_size_str(196 * KiB, "196 KiB");
    check_size_str(1 * MiB, "1 MiB");
    check_size_str(32 * MiB, "32 MiB");
    check_size_str(1 * GiB, "1 GiB");
    check_size_str(10 * GiB + 1, "10 GiB");
    check_size_str(1 * TiB, "1 TiB");
    check_size_str(1 * PiB, "1 PiB");
    check_size_str(1 * EiB, "1 EiB");
    check_size_str(UINT64_MAX, "16 EiB");
}

static void test_misc_strings(void)
{
    const char *rest;
    char buf[4];

    g_assert_true(strstart("file:x", "file:", &rest));
    g_assert_cmpstr(rest, ==, "x");
    g_assert_false(strstart("fil", "file:", &rest));
    pstrcpy(buf, sizeof(buf), "abcdef");
    g_assert_cmpstr(buf, ==, "abc");
    {
        uint8_t b[8];
        stbe64(b, UINT64_C(0x0102030405060708));
        g_assert_cmphex(ldbe64(b), ==, UINT64_C(0x0102030405060708));
        g_assert_cmphex(ldbe32(b), ==, 0x01020304);
        g_assert_cmphex(ldbe16(b + 6), ==, 0x0708);
    }
}

/*
 * buffer_is_zero: every length around the 32-byte steps, every start
 * alignment, and one non-zero byte at each position (first, inside a step,
 * in the tail, last) is found.
 */
static void test_buffer_is_zero(void)
{
    uint8_t buf[160 + 8] = { 0 };

    g_assert_true(buffer_is_zero(buf, 0));
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 0; len <= 160; len++) {
            memset(buf, 0, sizeof(buf));
            g_assert_true(buffer_is_zero(buf + start, len));
            for (size_t i = 0; i < len; i++) {
                buf[start + i] = 0x80;
                g_assert_false(buffer_is_zero(buf + start, len));
                buf[start + i] = 0;
            }
            /* bytes around the range do not count */
            if (start) {
                buf[start - 1] = 1;
            }
            buf[start + len] = 1;
            g_assert_true(buffer_is_zero(buf + start, len));
        }
    }
}

static void test_error(void)
{
    Error *err = NULL;
    Error *other = NULL;

    error_setg(&err, "Could not open '%s'", "x");
    error_setg(&err, "second");  /* the first error wins */
    g_assert_cmpstr(error_get_pretty(err), ==, "Could not open 'x'");
    g_assert_null(error_get_hint(err));
    error_prepend(&err, "Could not open '%s': ", "y");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open 'y': Could not open 'x'");
    error_append_hint(&err, "Is another process using the image [%s]?\n",
                      "x");
    error_append_hint(&err, "second line\n");
    g_assert_cmpstr(error_get_hint(err), ==,
                    "Is another process using the image [x]?\n"
                    "second line\n");
    error_free_or_abort(&err);
    g_assert_null(err);

    error_setg_errno(&err, ENOENT, "Could not open '%s'", "z");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open 'z': No such file or directory");

    error_setg(&other, "other");
    error_propagate(&err, other); /* dropped: err is already set */
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open 'z': No such file or directory");
    other = err;
    err = NULL;
    error_propagate(&err, other);
    g_assert_true(err == other);
    error_free(err);

    /* NULL errp: nothing happens, nothing leaks. */
    error_setg(NULL, "ignored");
    error_append_hint(NULL, "ignored");
    error_prepend(NULL, "ignored");
}

static GString *warnings;

static void sink(const char *msg, void *opaque)
{
    g_assert_true(opaque == &warnings);
    g_string_append_printf(warnings, "[%s]", msg);
}

static void test_warning_sink(void)
{
    warnings = g_string_new(NULL);
    warn_set_sink(sink, &warnings);
    qemu_warn("falling back to %s", "POSIX");
    warn_set_raw_sink(sink, &warnings);
    qemu_warn_raw("WARNING: %d", 1);
    warn_set_sink(NULL, NULL);
    warn_set_raw_sink(NULL, NULL);
    g_assert_cmpstr(warnings->str, ==, "[falling back to POSIX][WARNING: 1]");
    g_string_free(warnings, TRUE);
}

/* Tool-side printing: "prog: msg" then the hint on its own line. */
static void test_report_format(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_set_progname("/usr/bin/qemu-img");
        g_assert_cmpstr(error_get_progname(), ==, "qemu-img");
        error_setg(&err, "Failed to get \"write\" lock");
        error_append_hint(&err, "Is another process using the image [x]?\n");
        error_report_err(err);
        warn_report("careful %d", 1);
        error_report("plain");
        qemu_warn("from the library");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("qemu-img: Failed to get \"write\" lock\n"
                              "Is another process using the image [x]?\n"
                              "qemu-img: warning: careful 1\n"
                              "qemu-img: plain\n"
                              "qemu-img: warning: from the library\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/util/qdict/basic", test_qdict_basic);
    g_test_add_func("/util/qdict/typed", test_qdict_typed);
    g_test_add_func("/util/qdict/keyval", test_keyval);
    g_test_add_func("/util/qdict/json", test_json);
    g_test_add_func("/util/option/validate", test_options);
    g_test_add_func("/util/cutils/strtosz", test_strtosz);
    g_test_add_func("/util/cutils/strtoint", test_strtoint);
    g_test_add_func("/util/cutils/size_to_str", test_size_to_str);
    g_test_add_func("/util/cutils/strings", test_misc_strings);
    g_test_add_func("/util/cutils/buffer_is_zero", test_buffer_is_zero);
    g_test_add_func("/util/error/values", test_error);
    g_test_add_func("/util/error/warning-sink", test_warning_sink);
    g_test_add_func("/util/error/report-format", test_report_format);
    return g_test_run();
}
