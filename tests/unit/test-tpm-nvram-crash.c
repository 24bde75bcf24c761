/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-tpm-nvram-crash.c: the NVRAM store under failure: every crash point
 * of recorded commits (with every subset of unflushed writes, whole or
 * torn), injected I/O errors on each write/flush/truncate of a commit, and
 * a committer racing validators in other processes.
 */
#include "tpm-nvram-helpers.h"
#include "hw/tpm/tpm_nvram_format.h"
#include "qemu/cutils.h"
#include <poll.h>
#include <sys/wait.h>

static const uint8_t key_a[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key_b[32] = "fedcba9876543210fedcba9876543210";

/* ---- store contents as a comparable signature --------------------------- */

/* "name:len:crc;..." of everything the store holds (sorted), or NULL. */
static char *store_signature(TPMNvram *nv, Error **errp)
{
    TPMNvramBlobInfo *b = NULL;
    size_t n = 0;
    GString *sig = g_string_new("");

    if (tpm_nvram_list(nv, &b, &n, errp) < 0) {
        g_string_free(sig, TRUE);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = NULL;
        size_t len = 0;
        if (tpm_nvram_load(nv, b[i].name, &d, &len, errp) < 0) {
            free(b);
            g_string_free(sig, TRUE);
            return NULL;
        }
        g_string_append_printf(sig, "%s:%zu:%08x;", b[i].name, len,
                               nv_crc32(d, len));
        free(d);
    }
    free(b);
    return g_string_free(sig, FALSE);
}

/* ---- recorded operations ------------------------------------------------ */

typedef enum { OP_STORE, OP_DELETE, OP_REKEY } OpKind;

typedef struct Op {
    OpKind kind;
    const char *name;
    size_t len;
    unsigned seed;
    int key;            /* OP_REKEY: 0 none, 1 key a, 2 key b */
} Op;

static const Op ops[] = {
    { OP_STORE, "permall", 1000, 1 },
    { OP_STORE, "volatilestate", 8 * KiB, 2 },
    { OP_STORE, "permall", 6000, 3 },
    { OP_STORE, "permall", 6000, 3 },     /* identical: no writes */
    { OP_DELETE, "volatilestate" },
    { OP_STORE, "savestate", 0, 4 },
    { OP_STORE, "permall", 70000, 5 },    /* grows the image */
    { OP_STORE, "volatilestate", 100, 6 },
    { OP_STORE, "permall", 3000, 7 },
};

typedef struct Event {
    char type;
    uint64_t off, len;
    uint8_t *data;
} Event;

static TPMNvramKey *key_for(int which)
{
    if (which == 1) {
        return nvt_key("ka", key_a, 32, "raw");
    }
    if (which == 2) {
        return nvt_key("kb", key_b, 32, "raw");
    }
    return NULL;
}

static GPtrArray *read_log(const char *path, GArray **marks_unused)
{
    g_autofree uint8_t *buf = NULL;
    gsize len = 0, p = 0;
    GPtrArray *ev = g_ptr_array_new();

    g_assert_true(g_file_get_contents(path, (char **)&buf, &len, NULL));
    while (p < len) {
        Event *e = g_new0(Event, 1);
        g_assert_cmpuint(len - p, >=, 17);
        e->type = buf[p];
        e->off = ldbe64(buf + p + 1);
        e->len = ldbe64(buf + p + 9);
        p += 17;
        if (e->type == 'W') {
            g_assert_cmpuint(len - p, >=, e->len);
            e->data = g_memdup2(buf + p, e->len);
            p += e->len;
        }
        g_ptr_array_add(ev, e);
    }
    return ev;
}

static gsize file_size(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_size;
}

/*
 * Apply sectors [first, last) of an event (last 0: all of it).  A torn
 * write is modelled as a prefix or a suffix of its sectors reaching the
 * disk.
 */
static void apply_range(GByteArray *img, const Event *e, uint64_t first,
                        uint64_t last)
{
    uint64_t off = e->off, len = e->len;
    const uint8_t *d = e->data;

    if (e->type == 'T') {
        if (e->off > img->len) {
            guint old = img->len;
            g_byte_array_set_size(img, (guint)e->off);
            memset(img->data + old, 0, img->len - old);
        } else {
            g_byte_array_set_size(img, (guint)e->off);
        }
        return;
    }
    if (e->type == 'F') {
        return;
    }
    if (last) {
        off += first * 512;
        d = d ? d + first * 512 : NULL;
        len = MIN(len, last * 512) - first * 512;
    }
    if (img->len < off + len) {
        guint old = img->len;
        g_byte_array_set_size(img, (guint)(off + len));
        memset(img->data + old, 0, img->len - old);
    }
    if (d) {
        memcpy(img->data + off, d, len);
    } else {
        memset(img->data + off, 0, len);
    }
}

static void apply(GByteArray *img, const Event *e, int whole)
{
    apply_range(img, e, 0, 0);
}

/* Torn variants of a write: 2 (absent, whole) + prefixes + suffixes. */
static int max_tears = 16;
/*
 * Check every Nth crash state (the state after a commit returned always).
 * 1 but in the qcow2 series, which takes NVRAM_CRASH_QCOW2_STRIDE: the
 * sanitizer build sets 8 there, where opening each state's qcow2 image
 * costs ten times as much, and the plain build checks every state.
 */
static int crash_stride = 1;
static int qcow2_stride = 1;
static long crash_seq;

static int sectors(const Event *x)
{
    return (x->type == 'W' || x->type == 'Z') ? (int)DIV_ROUND_UP(x->len, 512)
                                              : 1;
}

static int tears(const Event *x)
{
    return MIN(sectors(x) - 1, max_tears);
}

/* Variant @v (>= 2) of @x: a prefix or a suffix of its sectors. */
static void apply_tear(GByteArray *img, const Event *x, int v)
{
    int k = sectors(x), t = tears(x), i = (v - 2) % t;
    /* spread the sampled tear points over the write */
    int p = 1 + (int)((int64_t)i * (k - 1) / t);

    if (v - 2 < t) {
        apply_range(img, x, 0, p);
    } else {
        apply_range(img, x, k - p, k);
    }
}

static void grow_zero(GByteArray *img, guint new_len)
{
    guint old = img->len;

    g_byte_array_set_size(img, new_len);
    if (new_len > old) {
        memset(img->data + old, 0, new_len - old);
    }
}

/* Open @img as a store and return its signature; fails the test if not. */
static const char *crash_fmt = "raw";
/* crash states that were told apart as interrupted commits */
static int interrupted_states;

static char *state_of(GByteArray *img, const TPMNvramKey *k1,
                      const TPMNvramKey *k2)
{
    g_autofree char *p = nvt_path("crash-state.img");
    BlockBackend *blk;
    TPMNvram *nv;
    Error *err = NULL;
    char *sig;

    g_assert_true(g_file_set_contents(p, (char *)img->data, img->len, NULL));
    blk = nvt_blk(p, crash_fmt, false);
    nv = tpm_nvram_open(blk, k1, &err);
    if (!nv && k2) {
        /* during a rekey either key may be the right one */
        error_free(err);
        err = NULL;
        nv = tpm_nvram_open(blk, k2, &err);
    }
    if (!nv && !k1 && !k2) {
        g_error("crash state does not open: %s", error_get_pretty(err));
    }
    if (!nv) {
        /* the store may be unencrypted at this point */
        error_free(err);
        err = NULL;
        nv = tpm_nvram_open(blk, NULL, &err);
    }
    if (!nv) {
        g_error("crash state does not open: %s", error_get_pretty(err));
    }
    sig = store_signature(nv, &err);
    if (!sig) {
        g_error("crash state does not load: %s", error_get_pretty(err));
    }
    /* a crash is an interrupted commit, never a rollback */
    {
        TPMNvramInfo info;

        g_assert_cmpint(tpm_nvram_get_info(nv, &info, NULL), ==, 0);
        if (info.fallback == TPM_NVRAM_FALLBACK_ROLLBACK ||
            info.fallback == TPM_NVRAM_FALLBACK_UNKNOWN) {
            g_error("crash state reported as a rollback: %s",
                    info.fallback_why);
        }
        if (info.fallback == TPM_NVRAM_FALLBACK_INTERRUPTED) {
            interrupted_states++;
        }
    }
    tpm_nvram_close(nv);
    blk_unref(blk);
    return sig;
}

static void run_crash_series(const Op *series, size_t nops, int key0,
                             int *states_out)
{
    g_autofree char *img_path = nvt_path("crash.img");
    g_autofree char *log_path = nvt_path("crash.log");
    BlockBackend *blk;
    TPMNvram *nv;
    QDict *o;
    Error *err = NULL;
    TPMNvramKey *key = key_for(key0);
    TPMNvramKey *ka = key_for(1), *kb = key_for(2);
    char **expect = g_new0(char *, nops + 1);
    gsize *mark = g_new0(gsize, nops + 1);
    int *keyafter = g_new0(int, nops + 1);
    GPtrArray *ev;
    GByteArray *base;
    guint evi = 0;
    int states = 0;
    int curkey = key0;
    g_autofree char *initial = NULL;
    gsize initial_len = 0;

    nvt_create(img_path, crash_fmt);
    g_unlink(log_path);
    g_assert_true(g_file_set_contents(log_path, "", 0, NULL));

    g_assert_true(g_file_get_contents(img_path, &initial, &initial_len,
                                      NULL));
    o = qdict_new();
    if (!strcmp(crash_fmt, "raw")) {
        qdict_put_str(o, "driver", "blkrecord");
        qdict_put_str(o, "log", log_path);
    } else {
        /* record below the format: what reaches the image file */
        qdict_put_str(o, "driver", crash_fmt);
        qdict_put_str(o, "file.driver", "blkrecord");
        qdict_put_str(o, "file.log", log_path);
    }
    blk = blk_new_open(img_path, o, BDRV_O_RDWR | BDRV_O_RESIZE, &err);
    if (!blk) {
        g_error("blkrecord: %s", error_get_pretty(err));
    }
    nv = tpm_nvram_open(blk, key, &err);
    g_assert_nonnull(nv);
    expect[0] = store_signature(nv, NULL);
    keyafter[0] = key0;
    mark[0] = file_size(log_path);
    for (size_t i = 0; i < nops; i++) {
        const Op *op = &series[i];
        int r;

        if (op->kind == OP_STORE) {
            g_autofree uint8_t *d = nvt_pattern(op->len, op->seed);
            r = tpm_nvram_store(nv, op->name, d, op->len, &err);
        } else if (op->kind == OP_DELETE) {
            r = tpm_nvram_delete(nv, op->name, &err);
        } else {
            TPMNvramKey *nk = key_for(op->key);
            r = tpm_nvram_rekey(nv, nk, &err);
            tpm_nvram_key_free(nk);
            curkey = op->key;
        }
        if (r < 0) {
            g_error("op %zu: %s", i, error_get_pretty(err));
        }
        expect[i + 1] = store_signature(nv, NULL);
        keyafter[i + 1] = curkey;
        mark[i + 1] = file_size(log_path);
    }
    tpm_nvram_close(nv);
    blk_unref(blk);

    ev = read_log(log_path, NULL);
    base = g_byte_array_new();
    g_byte_array_append(base, (const guint8 *)initial, initial_len);
    /* Map log byte marks to event indices. */
    {
        gsize pos = 0;
        guint *emark = g_new0(guint, nops + 1);
        guint k = 0;
        for (guint e = 0; e <= ev->len; e++) {
            while (k <= nops && mark[k] == pos) {
                emark[k++] = e;
            }
            if (e < ev->len) {
                Event *x = g_ptr_array_index(ev, e);
                pos += 17 + (x->type == 'W' ? x->len : 0);
            }
        }
        g_assert_cmpuint(k, ==, nops + 1);

        for (size_t i = 0; i < nops; i++) {
            guint b = emark[i], end = emark[i + 1];
            const TPMNvramKey *k1 = keyafter[i] == 1 ? ka :
                                    keyafter[i] == 2 ? kb : NULL;
            const TPMNvramKey *k2 = keyafter[i + 1] == 1 ? ka :
                                    keyafter[i + 1] == 2 ? kb : NULL;

            /* everything before this op is durable */
            for (; evi < b; evi++) {
                apply(base, g_ptr_array_index(ev, evi), 0);
            }
            for (guint p = b; p <= end; p++) {
                GByteArray *dur = g_byte_array_new();
                guint f = b, npend = 0;
                guint pend[16];
                int radix[16];
                long combos = 1;

                g_byte_array_append(dur, base->data, base->len);
                for (guint e = b; e < p; e++) {
                    Event *x = g_ptr_array_index(ev, e);
                    if (x->type == 'F') {
                        f = e + 1;
                    }
                }
                for (guint e = b; e < f; e++) {
                    apply(dur, g_ptr_array_index(ev, e), 0);
                }
                for (guint e = f; e < p; e++) {
                    Event *x = g_ptr_array_index(ev, e);
                    g_assert_cmpuint(npend, <, 16);
                    pend[npend] = e;
                    radix[npend] = 2 + 2 * tears(x);
                    combos *= radix[npend];
                    npend++;
                }
                /* keep the enumeration bounded: fewer tears if needed */
                while (combos > 4096) {
                    guint big = 0;
                    for (guint j = 1; j < npend; j++) {
                        if (radix[j] > radix[big]) {
                            big = j;
                        }
                    }
                    g_assert_cmpint(radix[big], >, 2);
                    combos = combos / radix[big] * 2;
                    radix[big] = 2;
                }
                for (long c = 0; c < combos; c++) {
                    GByteArray *img;
                    long v = c;
                    g_autofree char *sig = NULL;

                    if (p != end && crash_seq++ % crash_stride) {
                        continue;
                    }
                    img = g_byte_array_new();
                    g_byte_array_append(img, dur->data, dur->len);
                    for (guint j = 0; j < npend; j++) {
                        int choice = v % radix[j];
                        Event *x = g_ptr_array_index(ev, pend[j]);
                        v /= radix[j];
                        if (choice == 0) {
                            continue;
                        }
                        if (x->type == 'T') {
                            /* a lost truncate: the file may stay shorter */
                            grow_zero(img, MAX(img->len, (guint)x->off));
                            continue;
                        }
                        if (choice == 1) {
                            apply(img, x, 0);
                        } else {
                            apply_tear(img, x, choice);
                        }
                    }
                    sig = state_of(img, k1, k2);
                    states++;
                    if (p == end) {
                        /* the commit returned: only its own state */
                        g_assert_cmpstr(sig, ==, expect[i + 1]);
                    } else if (strcmp(sig, expect[i]) &&
                               strcmp(sig, expect[i + 1])) {
                        g_error("op %zu, crash after event %u, variant %ld: "
                                "'%s' is neither '%s' nor '%s'", i, p, c,
                                sig, expect[i], expect[i + 1]);
                    }
                    g_byte_array_free(img, TRUE);
                }
                g_byte_array_free(dur, TRUE);
            }
        }
        g_free(emark);
    }

    for (guint e = 0; e < ev->len; e++) {
        Event *x = g_ptr_array_index(ev, e);
        g_free(x->data);
        g_free(x);
    }
    g_ptr_array_free(ev, TRUE);
    g_byte_array_free(base, TRUE);
    for (size_t i = 0; i <= nops; i++) {
        free(expect[i]);
    }
    g_free(expect);
    g_free(mark);
    g_free(keyafter);
    tpm_nvram_key_free(key);
    tpm_nvram_key_free(ka);
    tpm_nvram_key_free(kb);
    *states_out += states;
}

static int total_states;

static void test_crash_qcow2(void)
{
    int n = 0;

    /* qcow2 states are bigger to write and open: sample tears more thinly */
    crash_fmt = "qcow2";
    max_tears = 4;
    crash_stride = qcow2_stride;
    run_crash_series(ops, ARRAY_SIZE(ops), 0, &n);
    crash_stride = 1;
    max_tears = 16;
    crash_fmt = "raw";
    g_test_message("crash points: %d states checked (qcow2)", n);
    printf("# crash enumeration (qcow2, writes below the format): %d crash "
           "states, all old or new\n", n);
    g_assert_cmpint(n, >, 100);
    total_states += n;
}

static void test_crash_plain(void)
{
    int n = 0;

    interrupted_states = 0;
    run_crash_series(ops, ARRAY_SIZE(ops), 0, &n);
    g_test_message("crash points: %d states checked (plain)", n);
    printf("# crash enumeration (plain): %d crash states, all old or new; "
           "%d interrupted commits told apart, no rollback\n", n,
           interrupted_states);
    g_assert_cmpint(n, >, 100);
    g_assert_cmpint(interrupted_states, >, 0);
    total_states += n;
}

static void test_crash_encrypted(void)
{
    static const Op rk[] = {
        { OP_STORE, "permall", 5000, 11 },
        { OP_STORE, "volatilestate", 1500, 12 },
        { OP_REKEY, .key = 2 },
        { OP_STORE, "permall", 5000, 13 },
        { OP_REKEY, .key = 0 },
        { OP_STORE, "permall", 300, 14 },
        { OP_REKEY, .key = 1 },
    };
    int n = 0;

    run_crash_series(ops, ARRAY_SIZE(ops), 1, &n);
    run_crash_series(rk, ARRAY_SIZE(rk), 1, &n);
    g_test_message("crash points: %d states checked (encrypted + rekey)", n);
    printf("# crash enumeration (encrypted, rekey): %d crash states, all "
           "old or new\n", n);
    g_assert_cmpint(n, >, 100);
    total_states += n;
}

/* ---- a re-key killed before its wipe ------------------------------------ */

/* Does @img hold any 64-byte piece (every 512th) of @pat? */
static bool img_has(const uint8_t *img, gsize img_len, const uint8_t *pat,
                    size_t len)
{
    for (size_t o = 0; o + 64 <= len; o += 512) {
        if (memmem(img, img_len, pat + o, 64)) {
            return true;
        }
    }
    return false;
}

/*
 * A plaintext store (blobs inline and in an extent, and an older copy of
 * one in the other slot) is encrypted with "rekey", recorded; at every
 * point of the re-key the process is killed (every write issued so far
 * reached the image).  Wherever the new key is already current: "check"
 * must report the plaintext that is still there, and the next read-write
 * open must wipe it (none left, check clean, contents unchanged).
 */
static void test_rekey_killed(void)
{
    g_autofree char *img_path = nvt_path("rk.img");
    g_autofree char *log_path = nvt_path("rk.log");
    g_autofree char *st_path = nvt_path("rk-state.img");
    g_autofree uint8_t *a1 = nvt_pattern(6000, 31);
    g_autofree uint8_t *a2 = nvt_pattern(3000, 32);
    g_autofree uint8_t *b = nvt_pattern(70000, 33);
    g_autofree char *expect = NULL;
    TPMNvramKey *ka = key_for(1);
    GPtrArray *ev;
    GByteArray *img;
    BlockBackend *blk;
    TPMNvram *nv;
    QDict *o;
    Error *err = NULL;
    gsize before, pos = 0;
    guint e0 = 0;
    int residue_states = 0, wiped = 0;

    nvt_create(img_path, "raw");
    g_unlink(log_path);
    g_assert_true(g_file_set_contents(log_path, "", 0, NULL));
    o = qdict_new();
    qdict_put_str(o, "driver", "blkrecord");
    qdict_put_str(o, "log", log_path);
    blk = blk_new_open(img_path, o, BDRV_O_RDWR | BDRV_O_RESIZE, &err);
    g_assert_nonnull(blk);
    nv = tpm_nvram_open(blk, NULL, &err);
    g_assert_nonnull(nv);
    g_assert_cmpint(tpm_nvram_store(nv, "permall", a1, 6000, &err), ==, 0);
    g_assert_cmpint(tpm_nvram_store(nv, "volatilestate", b, 70000, &err),
                    ==, 0);
    g_assert_cmpint(tpm_nvram_store(nv, "permall", a2, 3000, &err), ==, 0);
    before = file_size(log_path);
    if (tpm_nvram_rekey(nv, ka, &err) < 0) {
        g_error("rekey: %s", error_get_pretty(err));
    }
    expect = store_signature(nv, NULL);
    tpm_nvram_close(nv);
    blk_unref(blk);

    ev = read_log(log_path, NULL);
    img = g_byte_array_new();
    for (; e0 < ev->len && pos < before; e0++) {
        Event *x = g_ptr_array_index(ev, e0);
        apply(img, x, 0);
        pos += 17 + (x->type == 'W' ? x->len : 0);
    }
    g_assert_cmpuint(pos, ==, before);
    for (guint p = e0; p <= ev->len; p++) {
        TPMNvramCheckResult res;
        g_autofree char *sig = NULL;
        g_autofree uint8_t *after = NULL;
        gsize after_len = 0;
        bool plain;

        if (p > e0) {
            apply(img, g_ptr_array_index(ev, p - 1), 0);
        }
        g_assert_true(g_file_set_contents(st_path, (char *)img->data,
                                          img->len, NULL));
        blk = nvt_blk(st_path, "raw", false);
        nv = tpm_nvram_open_opts(blk, ka, &(TPMNvramOpenOptions){
                                     .flags = TPM_NVRAM_OPEN_CHECK },
                                 &err);
        if (!nv) {
            /* the new key is not current yet: the old state is intact */
            error_free(err);
            err = NULL;
            blk_unref(blk);
            continue;
        }
        plain = img_has(img->data, img->len, a1, 6000) ||
                img_has(img->data, img->len, a2, 3000) ||
                img_has(img->data, img->len, b, 70000);
        g_assert_cmpint(tpm_nvram_check(nv, &res, NULL), ==, 0);
        if (plain) {
            residue_states++;
            if (!res.residue) {
                g_error("rekey killed after event %u: plaintext in the "
                        "image, check reports none", p);
            }
        }
        tpm_nvram_check_result_free(&res);
        tpm_nvram_close(nv);
        blk_unref(blk);

        /* the next read-write open finishes the wipe */
        blk = nvt_blk(st_path, "raw", true);
        nv = tpm_nvram_open(blk, ka, &err);
        if (!nv) {
            g_error("rekey killed after event %u: %s", p,
                    error_get_pretty(err));
        }
        sig = store_signature(nv, NULL);
        g_assert_cmpstr(sig, ==, expect);
        g_assert_cmpint(tpm_nvram_check(nv, &res, NULL), ==, 0);
        g_assert_cmpint(res.residue, ==, 0);
        g_assert_cmpint(res.corruptions, ==, 0);
        tpm_nvram_check_result_free(&res);
        tpm_nvram_close(nv);
        blk_unref(blk);
        g_assert_true(g_file_get_contents(st_path, (char **)&after,
                                          &after_len, NULL));
        if (img_has(after, after_len, a1, 6000) ||
            img_has(after, after_len, a2, 3000) ||
            img_has(after, after_len, b, 70000)) {
            g_error("rekey killed after event %u: plaintext left after "
                    "a read-write open", p);
        }
        wiped++;
    }
    printf("# rekey killed at %u points: %d left plaintext, all reported "
           "by check and wiped by the next open (%d opens)\n",
           ev->len - e0 + 1, residue_states, wiped);
    g_assert_cmpint(residue_states, >, 0);
    for (guint e = 0; e < ev->len; e++) {
        Event *x = g_ptr_array_index(ev, e);
        g_free(x->data);
        g_free(x);
    }
    g_ptr_array_free(ev, TRUE);
    g_byte_array_free(img, TRUE);
    tpm_nvram_key_free(ka);
}

/* ---- fault injection ---------------------------------------------------- */

typedef struct FaultCase {
    const char *fmt;
    bool encrypted;
} FaultCase;

static BlockBackend *open_debug(const char *fmt, const char *path,
                                const char *event, int nth,
                                const char *err_name)
{
    QDict *o = qdict_new();
    char n[16];
    Error *err = NULL;
    BlockBackend *blk;
    /* raw: the filter replaces the format; qcow2: it sits below it */
    const char *pre = strcmp(fmt, "raw") ? "file." : "";
    char key[32];

    snprintf(n, sizeof(n), "%d", nth);
    if (*pre) {
        qdict_put_str(o, "driver", fmt);
    }
#define PUT(k, v) \
    snprintf(key, sizeof(key), "%s%s", pre, k); qdict_put_str(o, key, v)
    PUT("driver", "blkdebug");
    PUT("event", event);
    PUT("nth", n);
    PUT("errno", err_name);
#undef PUT
    blk = blk_new_open(path, o, BDRV_O_RDWR | BDRV_O_RESIZE, &err);
    if (!blk) {
        g_error("blkdebug: %s", error_get_pretty(err));
    }
    return blk;
}

static char *sig_of_file(const char *fmt, const char *path,
                         const TPMNvramKey *k)
{
    BlockBackend *blk = nvt_blk(path, fmt, false);
    Error *err = NULL;
    TPMNvram *nv = tpm_nvram_open(blk, k, &err);
    char *sig;

    if (!nv) {
        g_error("reopen: %s", error_get_pretty(err));
    }
    sig = store_signature(nv, &err);
    g_assert_nonnull(sig);
    tpm_nvram_close(nv);
    blk_unref(blk);
    return sig;
}

/*
 * Scenarios: the first commit to an empty image (with its format step), a
 * steady-state commit, and one that grows the image.  Each write, flush
 * and truncate of the commit fails in turn with EIO and ENOSPC: the
 * commit fails with a message, the previous state loads intact (in this
 * process and after reopening), and a retry succeeds.
 */
static void test_faults(const void *opaque)
{
    const FaultCase *fc = opaque;
    const char *fmt = fc->fmt;
    const TPMNvramKey *k = NULL;
    TPMNvramKey *kk = fc->encrypted ? key_for(1) : NULL;
    g_autofree char *path = nvt_path("fault.img");
    static const char *events[] = { "write", "flush", "truncate" };
    static const char *errs[] = { "EIO", "ENOSPC" };
    int injected = 0;

    k = kk;
    for (int sc = 0; sc < 3; sc++) {
        for (size_t ei = 0; ei < ARRAY_SIZE(events); ei++) {
            for (size_t er = 0; er < ARRAY_SIZE(errs); er++) {
                for (int nth = 1; nth < 50; nth++) {
                    g_autofree uint8_t *p1 = nvt_pattern(4000, 1);
                    size_t l2 = sc == 2 ? 300 * KiB : 4100;
                    g_autofree uint8_t *p2 = nvt_pattern(l2, 2);
                    g_autofree char *before = NULL, *after = NULL;
                    g_autofree char *inproc = NULL;
                    BlockBackend *blk;
                    TPMNvram *nv;
                    Error *err = NULL;
                    int r;

                    nvt_create(path, fmt);
                    if (sc > 0) {
                        blk = nvt_blk(path, fmt, true);
                        nv = tpm_nvram_open(blk, k, NULL);
                        g_assert_nonnull(nv);
                        g_assert_cmpint(tpm_nvram_store(nv, "permall", p1,
                                                        4000, NULL), ==, 0);
                        tpm_nvram_close(nv);
                        blk_unref(blk);
                    }
                    before = sig_of_file(fmt, path, k);

                    blk = open_debug(fmt, path, events[ei], nth, errs[er]);
                    nv = tpm_nvram_open(blk, k, NULL);
                    g_assert_nonnull(nv);
                    r = tpm_nvram_store(nv, "permall", p2, l2, &err);
                    if (r == 0) {
                        /* the nth event never happened: done */
                        tpm_nvram_close(nv);
                        blk_unref(blk);
                        break;
                    }
                    injected++;
                    g_assert_nonnull(err);
                    error_free(err);
                    inproc = store_signature(nv, NULL);
                    g_assert_cmpstr(inproc, ==, before);
                    tpm_nvram_close(nv);
                    blk_unref(blk);

                    after = sig_of_file(fmt, path, k);
                    g_assert_cmpstr(after, ==, before);

                    /* and the store still works */
                    blk = nvt_blk(path, fmt, true);
                    nv = tpm_nvram_open(blk, k, NULL);
                    g_assert_nonnull(nv);
                    g_assert_cmpint(tpm_nvram_store(nv, "permall", p2, l2,
                                                    NULL), ==, 0);
                    tpm_nvram_close(nv);
                    blk_unref(blk);
                }
            }
        }
    }
    g_test_message("fault injection: %d failed commits, all clean",
                   injected);
    printf("# fault injection (%s%s): %d injected faults, previous state "
           "intact each time\n", fmt, k ? ", encrypted" : "", injected);
    g_assert_cmpint(injected, >=, 3 * 2 * 3);
    tpm_nvram_key_free(kk);
}

/* ---- concurrency -------------------------------------------------------- */

#define CONC_COMMITS 150
#define CONC_VALIDATORS 2

static size_t conc_len(uint32_t i)
{
    return 4096 + (i % 3) * 1000;
}

static uint8_t *conc_blob(uint32_t i)
{
    uint8_t *d = nvt_pattern(conc_len(i), i);

    stbe32(d, i);
    return d;
}

/*
 * The committer commits in a loop.  So that the validators are not simply
 * starved by a lock that is free only for an instant, it lets a validator
 * load between commits: it waits (bounded) for a progress byte, which the
 * validators send after each load.  Conversely, fcntl locks do not queue
 * a writer behind readers: validators loading back to back could keep the
 * shared lock held without a gap for as long as they like (on a busy
 * machine, past the commit's lock timeout).  So each validator loads at
 * most CONC_BURST times per commit, then waits (bounded) for the
 * committer's "committed" byte on its own pipe; loads still race with
 * every commit.
 */
#define CONC_BURST 8

static int committer(const char *path, int progress_fd, const int *done_fds)
{
    BlockBackend *blk = nvt_blk(path, "raw", true);
    TPMNvram *nv = tpm_nvram_open(blk, NULL, NULL);
    Error *err = NULL;

    if (!nv) {
        return 3;
    }
    for (uint32_t i = 1; i <= CONC_COMMITS; i++) {
        g_autofree uint8_t *d = conc_blob(i);
        struct pollfd pfd = { .fd = progress_fd, .events = POLLIN };
        char buf[64];

        if (tpm_nvram_store(nv, "permall", d, conc_len(i), &err) < 0) {
            fprintf(stderr, "committer: commit %u: %s\n", i,
                    error_get_pretty(err));
            return 4;
        }
        for (int v = 0; v < CONC_VALIDATORS; v++) {
            /* a full pipe already says "committed" */
            if (write(done_fds[v], "c", 1) < 0 && errno != EAGAIN) {
                return 11;
            }
        }
        if (poll(&pfd, 1, 2000) > 0 &&
            read(progress_fd, buf, sizeof(buf)) < 0) {
            return 9;
        }
    }
    tpm_nvram_close(nv);
    blk_unref(blk);
    return 0;
}

/* A validator's pause after a burst: until a commit (or the committer's
 * end: EOF), bounded.  -1 on a pipe error. */
static int wait_commit(int done_fd, bool *committer_done)
{
    struct pollfd pfd = { .fd = done_fd, .events = POLLIN };
    char buf[64];
    ssize_t n;

    if (*committer_done || poll(&pfd, 1, 60000) <= 0) {
        return 0;
    }
    n = read(done_fd, buf, sizeof(buf));
    if (n == 0) {
        *committer_done = true;
    }
    return n < 0 && errno != EAGAIN ? -1 : 0;
}

/* 0: saw every state consistent and in order, up to the last commit. */
static int validator(const char *path, int wfd, int progress_fd,
                     int done_fd)
{
    BlockBackend *blk = nvt_blk(path, "raw", false);
    TPMNvram *nv = tpm_nvram_open(blk, NULL, NULL);
    uint32_t last = 0, loads = 0, burst = 0;
    bool committer_done = false;

    if (!nv) {
        return 3;
    }
    for (long it = 0; it < 2000000 && last < CONC_COMMITS; it++) {
        uint8_t *d = NULL;
        size_t len = 0;
        int r = tpm_nvram_load(nv, "permall", &d, &len, NULL);
        uint32_t c;
        g_autofree uint8_t *want = NULL;

        if (++burst > CONC_BURST) {
            if (wait_commit(done_fd, &committer_done) < 0) {
                return 12;
            }
            burst = 0;
        }
        if (r == -ENOENT) {
            continue;
        }
        if (r < 0 || len < 4) {
            return 5;
        }
        c = ldbe32(d);
        if (c < last || c > CONC_COMMITS) {
            return 2;
        }
        want = conc_blob(c);
        if (len != conc_len(c) || memcmp(d, want, len)) {
            return 1; /* torn */
        }
        free(d);
        last = c;
        loads++;
        if (write(progress_fd, "+", 1) < 0 && errno != EAGAIN) {
            return 10;
        }
        if (loads % 16 == 0 && tpm_nvram_validate(nv, NULL) < 0) {
            return 6;
        }
    }
    tpm_nvram_close(nv);
    blk_unref(blk);
    if (write(wfd, &loads, sizeof(loads)) != sizeof(loads)) {
        return 7;
    }
    return last == CONC_COMMITS ? 0 : 8;
}

static void test_concurrency(void)
{
    g_autofree char *path = nvt_path("conc.img");
    pid_t pids[1 + CONC_VALIDATORS];
    int fds[2], prog[2], done[CONC_VALIDATORS][2], done_w[CONC_VALIDATORS];
    uint32_t total = 0;

    nvt_create(path, "raw");
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(pipe(prog), ==, 0);
    g_assert_cmpint(fcntl(prog[0], F_SETFL, O_NONBLOCK), ==, 0);
    g_assert_cmpint(fcntl(prog[1], F_SETFL, O_NONBLOCK), ==, 0);
    for (int v = 0; v < CONC_VALIDATORS; v++) {
        g_assert_cmpint(pipe(done[v]), ==, 0);
        g_assert_cmpint(fcntl(done[v][1], F_SETFL, O_NONBLOCK), ==, 0);
        done_w[v] = done[v][1];
    }
    for (int i = 0; i <= CONC_VALIDATORS; i++) {
        pids[i] = fork();
        g_assert_cmpint(pids[i], >=, 0);
        if (pids[i] == 0) {
            if (i == 0) {
                _exit(committer(path, prog[0], done_w));
            }
            /* only the committer may hold a write end: EOF means it ended */
            for (int v = 0; v < CONC_VALIDATORS; v++) {
                close(done[v][1]);
            }
            _exit(validator(path, fds[1], prog[1], done[i - 1][0]));
        }
    }
    close(fds[1]);
    close(prog[0]);
    close(prog[1]);
    for (int v = 0; v < CONC_VALIDATORS; v++) {
        close(done[v][0]);
        close(done[v][1]);
    }
    for (int i = 0; i <= CONC_VALIDATORS; i++) {
        int status;
        g_assert_cmpint(waitpid(pids[i], &status, 0), ==, pids[i]);
        g_assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status)) {
            g_error("%s exited with %d", i ? "validator" : "committer",
                    WEXITSTATUS(status));
        }
    }
    for (int i = 0; i < CONC_VALIDATORS; i++) {
        uint32_t n = 0;
        g_assert_cmpint(read(fds[0], &n, sizeof(n)), ==, sizeof(n));
        total += n;
    }
    close(fds[0]);
    {
        g_autofree uint8_t *want = conc_blob(CONC_COMMITS);
        BlockBackend *blk = nvt_blk(path, "raw", false);
        TPMNvram *nv = tpm_nvram_open(blk, NULL, NULL);
        uint8_t *d = NULL;
        size_t len = 0;
        g_assert_cmpint(tpm_nvram_load(nv, "permall", &d, &len, NULL), ==, 0);
        g_assert_cmpuint(len, ==, conc_len(CONC_COMMITS));
        g_assert_true(memcmp(d, want, len) == 0);
        free(d);
        tpm_nvram_close(nv);
        blk_unref(blk);
    }
    printf("# concurrency: %d commits, %d validators, %u consistent loads, "
           "0 torn, 0 lost\n", CONC_COMMITS, CONC_VALIDATORS, total);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-tpm-nvram-crash");
    if (getenv("NVRAM_CRASH_QCOW2_STRIDE")) {
        qcow2_stride = MAX(1, atoi(getenv("NVRAM_CRASH_QCOW2_STRIDE")));
    }
    nvt_setup_dir();
    g_test_add_func("/tpm-nvram/crash/plain", test_crash_plain);
    g_test_add_func("/tpm-nvram/crash/encrypted", test_crash_encrypted);
    g_test_add_func("/tpm-nvram/crash/rekey-killed", test_rekey_killed);
    if (bdrv_find_format("qcow2")) {
        g_test_add_func("/tpm-nvram/crash/qcow2", test_crash_qcow2);
    }
    {
        static const FaultCase fcs[] = {
            { "raw", false }, { "raw", true },
            { "qcow2", false }, { "qcow2", true },
        };
        for (size_t i = 0; i < ARRAY_SIZE(fcs); i++) {
            char p[64];
            if (!bdrv_find_format(fcs[i].fmt)) {
                continue;
            }
            snprintf(p, sizeof(p), "/tpm-nvram/faults/%s%s", fcs[i].fmt,
                     fcs[i].encrypted ? "-encrypted" : "");
            g_test_add_data_func(p, &fcs[i], test_faults);
        }
    }
    g_test_add_func("/tpm-nvram/concurrency", test_concurrency);
    ret = g_test_run();
    if (total_states) {
        printf("# crash enumeration total: %d crash states\n", total_states);
    }
    nvt_rm_dir();
    return ret;
}
