/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-tpm-nvram.c: the NVRAM store's behaviour on raw and qcow2 images:
 * round trips, empty and foreign images, every key error, corruption,
 * tampering, versions, rekey, delete and the lock.
 */
#include "tpm-nvram-helpers.h"
#include "hw/tpm/tpm_nvram_format.h"
#include "qemu/cutils.h"
#include <sys/wait.h>

#define NV_SECTOR_TEST 512
#define U8(s) ((const uint8_t *)(s))

static const uint8_t key_a[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key_b[32] = "fedcba9876543210fedcba9876543210";

typedef struct Store {
    char *path;
    const char *fmt;
    BlockBackend *blk;
    TPMNvram *nv;
} Store;

static TPMNvram *store_open_err(Store *s, bool rw, const TPMNvramKey *k,
                                Error **errp)
{
    s->blk = nvt_blk(s->path, s->fmt, rw);
    s->nv = tpm_nvram_open(s->blk, k, errp);
    if (!s->nv) {
        blk_unref(s->blk);
        s->blk = NULL;
    }
    return s->nv;
}

static void store_open(Store *s, bool rw, const TPMNvramKey *k)
{
    Error *err = NULL;

    if (!store_open_err(s, rw, k, &err)) {
        g_error("tpm_nvram_open: %s", error_get_pretty(err));
    }
}

static void store_close(Store *s)
{
    tpm_nvram_close(s->nv);
    s->nv = NULL;
    if (s->blk) {
        blk_unref(s->blk);
    }
    s->blk = NULL;
}

static void store_new(Store *s, const char *fmt, const char *name)
{
    s->fmt = fmt;
    s->path = nvt_path(name);
    nvt_create(s->path, fmt);
}

static void store_free(Store *s)
{
    store_close(s);
    g_unlink(s->path);
    g_free(s->path);
}

static void put(TPMNvram *nv, const char *name, const void *d, size_t len)
{
    Error *err = NULL;

    if (tpm_nvram_store(nv, name, d, len, &err) < 0) {
        g_error("store %s: %s", name, error_get_pretty(err));
    }
}

static void expect(TPMNvram *nv, const char *name, const void *d, size_t len)
{
    uint8_t *got = NULL;
    size_t got_len = 0;
    Error *err = NULL;

    if (tpm_nvram_load(nv, name, &got, &got_len, &err) < 0) {
        g_error("load %s: %s", name, err ? error_get_pretty(err) : "ENOENT");
    }
    g_assert_cmpuint(got_len, ==, len);
    g_assert_true(len == 0 || memcmp(got, d, len) == 0);
    free(got);
}

static void expect_error(Error *err, const char *needle)
{
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("expected '%s' in '%s'", needle, error_get_pretty(err));
    }
    error_free(err);
}

static uint64_t generation(TPMNvram *nv)
{
    TPMNvramInfo info;

    g_assert_cmpint(tpm_nvram_get_info(nv, &info, NULL), ==, 0);
    return info.generation;
}

/* ---- round trips -------------------------------------------------------- */

static const size_t sizes[] = { 0, 1, 4 * KiB, 64 * KiB, 1 * MiB };

static void do_roundtrip(const char *fmt, const TPMNvramKey *k)
{
    Store s;
    char name[32];

    store_new(&s, fmt, "rt.img");
    store_open(&s, true, k);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        g_autofree uint8_t *d = nvt_pattern(sizes[i], i);
        snprintf(name, sizeof(name), "blob%zu", sizes[i]);
        put(s.nv, name, d, sizes[i]);
        expect(s.nv, name, d, sizes[i]);
    }
    g_assert_cmpint(tpm_nvram_validate(s.nv, NULL), ==, 0);
    store_close(&s);

    /* A new process view: reopen and read everything back. */
    store_open(&s, false, k);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        g_autofree uint8_t *d = nvt_pattern(sizes[i], i);
        snprintf(name, sizeof(name), "blob%zu", sizes[i]);
        expect(s.nv, name, d, sizes[i]);
    }
    g_assert_cmpint(tpm_nvram_validate(s.nv, NULL), ==, 0);
    store_free(&s);
}

static void test_roundtrip(const void *opaque)
{
    do_roundtrip(opaque, NULL);
}

static void test_roundtrip_encrypted(const void *opaque)
{
    TPMNvramKey *k = nvt_key("k.raw", key_a, 32, "raw");

    do_roundtrip(opaque, k);
    tpm_nvram_key_free(k);
}

static void test_roundtrip_passphrase(const void *opaque)
{
    TPMNvramKey *k = nvt_key("k.pass", "correct horse\n", 14, "passphrase");

    do_roundtrip(opaque, k);
    tpm_nvram_key_free(k);
}

/* Storing identical contents writes nothing. */
static void test_identical_noop(const void *opaque)
{
    Store s;
    g_autofree uint8_t *d = nvt_pattern(5000, 3);
    g_autofree char *h1 = NULL, *h2 = NULL;
    uint64_t g;

    store_new(&s, opaque, "noop.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", d, 5000);
    g = generation(s.nv);
    h1 = nvt_hash(s.path);
    put(s.nv, "permall", d, 5000);
    h2 = nvt_hash(s.path);
    g_assert_cmpuint(generation(s.nv), ==, g);
    g_assert_cmpstr(h1, ==, h2);
    d[17] ^= 1;
    put(s.nv, "permall", d, 5000);
    g_assert_cmpuint(generation(s.nv), ==, g + 1);
    store_free(&s);
}

/* Steady-state commits reuse space: the image stops growing. */
static void test_space_reuse(const void *opaque)
{
    Store s;
    int64_t len1, len2;

    store_new(&s, opaque, "reuse.img");
    store_open(&s, true, NULL);
    for (int i = 0; i < 4; i++) {
        g_autofree uint8_t *d = nvt_pattern(6000, i);
        put(s.nv, "permall", d, 6000);
    }
    len1 = blk_getlength(s.blk);
    for (int i = 4; i < 40; i++) {
        g_autofree uint8_t *d = nvt_pattern(6000, i);
        put(s.nv, "permall", d, 6000);
        expect(s.nv, "permall", d, 6000);
    }
    len2 = blk_getlength(s.blk);
    g_assert_cmpint(len1, ==, len2);
    store_free(&s);
}

/* ---- empty, foreign ------------------------------------------------------ */

static void test_empty(const void *opaque)
{
    Store s;
    uint8_t *d = NULL;
    size_t len;
    Error *err = NULL;
    TPMNvramInfo info;

    store_new(&s, opaque, "empty.img");
    store_open(&s, false, NULL);
    g_assert_cmpint(tpm_nvram_load(s.nv, "permall", &d, &len, &err), ==,
                    -ENOENT);
    g_assert_null(err);
    g_assert_cmpint(tpm_nvram_get_info(s.nv, &info, NULL), ==, 0);
    g_assert_true(info.empty);
    g_assert_cmpint(tpm_nvram_validate(s.nv, NULL), ==, 0);
    store_close(&s);

    if (!strcmp(opaque, "raw")) {
        /* all zeroes, 1 MiB */
        g_autofree uint8_t *z = g_malloc0(MiB);
        g_assert_true(g_file_set_contents(s.path, (char *)z, MiB, NULL));
        store_open(&s, true, NULL);
        g_assert_cmpint(tpm_nvram_load(s.nv, "permall", &d, &len, NULL), ==,
                        -ENOENT);
        put(s.nv, "permall", "x", 1);
        expect(s.nv, "permall", "x", 1);
        g_assert_cmpint(tpm_nvram_delete(s.nv, "nothing", NULL), ==, 0);
    }
    store_free(&s);
}

static void test_foreign(const void *opaque)
{
    Store s;
    Error *err = NULL;
    g_autofree char *h1 = NULL, *h2 = NULL;
    g_autofree uint8_t *junk = g_malloc0(64 * KiB);

    if (strcmp(opaque, "raw")) {
        /* foreign data inside a qcow2 image: write it as a guest would */
        store_new(&s, opaque, "foreign.img");
        s.blk = nvt_blk(s.path, s.fmt, true);
        g_assert_cmpint(blk_pwrite(s.blk, 0, 5, "hello", 0), ==, 0);
        blk_unref(s.blk);
        s.blk = NULL;
    } else {
        s.fmt = opaque;
        s.path = nvt_path("foreign.img");
        memcpy(junk, "hello", 5);
        g_assert_true(g_file_set_contents(s.path, (char *)junk, 64 * KiB,
                                          NULL));
    }
    h1 = nvt_hash(s.path);
    g_assert_null(store_open_err(&s, true, NULL, &err));
    expect_error(err, "is not a TPM NVRAM store");
    h2 = nvt_hash(s.path);
    g_assert_cmpstr(h1, ==, h2);

    /* zeroes in the slots, data later: still not ours */
    if (!strcmp(opaque, "raw")) {
        memset(junk, 0, 64 * KiB);
        junk[40000] = 1;
        g_assert_true(g_file_set_contents(s.path, (char *)junk, 64 * KiB,
                                          NULL));
        err = NULL;
        g_assert_null(store_open_err(&s, true, NULL, &err));
        expect_error(err, "is not a TPM NVRAM store");
    }
    store_free(&s);
}

/* ---- keys ---------------------------------------------------------------- */

static void test_key_errors(const void *opaque)
{
    Store s;
    Error *err = NULL;
    g_autofree char *h1 = NULL, *h2 = NULL;
    TPMNvramKey *ka = nvt_key("ka", key_a, 32, NULL);
    TPMNvramKey *kb = nvt_key("kb", key_b, 32, "raw");
    TPMNvramKey *kp = nvt_key("kp", "secret", 6, "passphrase");
    TPMNvramKey *kp2 = nvt_key("kp2", "Secret", 6, "passphrase");

    /* plaintext store, key given */
    store_new(&s, opaque, "keys.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", "abc", 3);
    store_close(&s);
    h1 = nvt_hash(s.path);
    g_assert_null(store_open_err(&s, true, ka, &err));
    expect_error(err, "is not encrypted");

    /* encrypted store: no key, wrong key, wrong kind of key */
    nvt_create(s.path, s.fmt);
    store_open(&s, true, ka);
    put(s.nv, "permall", "abc", 3);
    store_close(&s);
    g_free(h1);
    h1 = nvt_hash(s.path);
    err = NULL;
    g_assert_null(store_open_err(&s, true, NULL, &err));
    expect_error(err, "is encrypted, but no key was given");
    err = NULL;
    g_assert_null(store_open_err(&s, true, kb, &err));
    expect_error(err, "Wrong key");
    err = NULL;
    g_assert_null(store_open_err(&s, true, kp, &err));
    expect_error(err, "Wrong key");
    h2 = nvt_hash(s.path);
    g_assert_cmpstr(h1, ==, h2);
    store_open(&s, false, ka);
    expect(s.nv, "permall", "abc", 3);
    store_close(&s);

    /* passphrase store: wrong passphrase */
    nvt_create(s.path, s.fmt);
    store_open(&s, true, kp);
    put(s.nv, "permall", "abc", 3);
    store_close(&s);
    err = NULL;
    g_assert_null(store_open_err(&s, true, kp2, &err));
    expect_error(err, "Wrong key");
    err = NULL;
    g_assert_null(store_open_err(&s, true, ka, &err));
    expect_error(err, "Wrong key");
    store_open(&s, false, kp);
    expect(s.nv, "permall", "abc", 3);

    tpm_nvram_key_free(ka);
    tpm_nvram_key_free(kb);
    tpm_nvram_key_free(kp);
    tpm_nvram_key_free(kp2);
    store_free(&s);
}

static void test_key_parse(void)
{
    TPMNvramKey *k = NULL;
    Error *err = NULL;
    g_autofree char *p = nvt_path("kparse");
    g_autofree char *spec = g_strdup_printf("file=%s", p);
    g_autofree char *spec_raw = g_strdup_printf("file=%s,format=raw", p);
    g_autofree char *spec_hex = g_strdup_printf("file=%s,format=hex", p);
    const char hex[] = "000102030405060708090a0b0c0d0e0f"
                       "101112131415161718191A1B1C1D1E1F\n";
    int fd;

    g_assert_true(g_file_set_contents(p, hex, strlen(hex), NULL));
    g_assert_cmpint(tpm_nvram_key_parse(spec_hex, &k, NULL), ==, 0);
    tpm_nvram_key_free(k);
    g_assert_cmpint(tpm_nvram_key_parse(spec, &k, NULL), ==, 0);
    tpm_nvram_key_free(k);

    /* fd=N reads from an inherited descriptor */
    fd = open(p, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    {
        g_autofree char *fds = g_strdup_printf("fd=%d,format=hex", fd);
        g_assert_cmpint(tpm_nvram_key_parse(fds, &k, NULL), ==, 0);
        tpm_nvram_key_free(k);
    }
    close(fd);

    g_assert_cmpint(tpm_nvram_key_parse(spec_raw, &k, &err), <, 0);
    expect_error(err, "a raw key needs 32");
    err = NULL;
    g_assert_true(g_file_set_contents(p, "zz", 2, NULL));
    g_assert_cmpint(tpm_nvram_key_parse(spec_hex, &k, &err), <, 0);
    expect_error(err, "64 hex digits");
    err = NULL;
    g_assert_cmpint(tpm_nvram_key_parse(spec, &k, &err), <, 0);
    expect_error(err, "neither 32 raw bytes nor 64 hex digits");
    err = NULL;
    g_assert_cmpint(tpm_nvram_key_parse("file=/nonexistent/k", &k, &err), <,
                    0);
    expect_error(err, "Could not open key file '/nonexistent/k'");
    err = NULL;
    g_assert_cmpint(tpm_nvram_key_parse("file=x,fd=3", &k, &err), <, 0);
    expect_error(err, "exactly one of");
    err = NULL;
    g_assert_cmpint(tpm_nvram_key_parse("file=x,format=rot13", &k, &err), <,
                    0);
    expect_error(err, "Invalid key format 'rot13'");
    err = NULL;
    g_assert_cmpint(tpm_nvram_key_parse("file=x,color=red", &k, &err), <, 0);
    expect_error(err, "unknown option 'color'");
    g_assert_null(k);
}

/* ---- direct manipulation of the on-disk structures ---------------------- */

typedef struct Disk {
    uint8_t slots[NV_SLOT_COUNT * NV_SLOT_SIZE];
    NvDir dir[2];
    NvSlotState st[2];
    int cur; /* highest generation OK slot */
} Disk;

static void disk_read(BlockBackend *blk, Disk *d)
{
    g_assert_cmpint(blk_pread(blk, 0, MIN(blk_getlength(blk),
                                          (int64_t)sizeof(d->slots)),
                              d->slots), ==, 0);
    d->cur = -1;
    for (int i = 0; i < 2; i++) {
        d->st[i] = nv_dir_decode(d->slots + i * NV_SLOT_SIZE, NV_DIR_MAX,
                                 &d->dir[i], NULL, 0);
        if (d->st[i] == NV_SLOT_OK &&
            (d->cur < 0 || d->dir[i].generation > d->dir[d->cur].generation)) {
            d->cur = i;
        }
    }
}

static void disk_write_dir(BlockBackend *blk, int slot, const NvDir *dir)
{
    uint8_t buf[NV_DIR_MAX];
    size_t used = nv_dir_encode(dir, buf);

    g_assert_cmpint(blk_pwrite(blk, slot * NV_SLOT_SIZE, used, buf, 0),
                    ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
}

static void flip_bit(BlockBackend *blk, int64_t off, int bit)
{
    uint8_t b;

    g_assert_cmpint(blk_pread(blk, off, 1, &b), ==, 0);
    b ^= 1 << bit;
    g_assert_cmpint(blk_pwrite(blk, off, 1, &b, 0), ==, 0);
}

/*
 * A change that keeps every CRC right is caught by the GCM tag (encrypted)
 * or the plaintext CRC (plain); the error names the blob.
 */
static void do_forged(const char *fmt, const TPMNvramKey *k,
                      const char *needle)
{
    Store s;
    Disk d;
    uint8_t *buf;
    NvEntry *e;
    Error *err = NULL;
    uint8_t *out = NULL;
    size_t len;

    store_new(&s, fmt, "forge.img");
    store_open(&s, true, k);
    put(s.nv, "permall", "0123456789", 10);
    put(s.nv, "volatilestate", "abc", 3);
    store_close(&s);

    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_read(s.blk, &d);
    e = &d.dir[d.cur].e[nv_dir_find(&d.dir[d.cur], "permall")];
    buf = g_malloc(e->length);
    g_assert_cmpint(blk_pread(s.blk, nv_entry_pos(e, d.cur), e->length, buf),
                    ==, 0);
    buf[3] ^= 0x40;
    g_assert_cmpint(blk_pwrite(s.blk, nv_entry_pos(e, d.cur), e->length, buf,
                               0), ==, 0);
    e->stored_crc = nv_crc32(buf, e->length);
    disk_write_dir(s.blk, d.cur, &d.dir[d.cur]);
    blk_unref(s.blk);
    s.blk = NULL;
    g_free(buf);

    store_open(&s, false, k);
    g_assert_cmpint(tpm_nvram_load(s.nv, "permall", &out, &len, &err), ==,
                    -EIO);
    expect_error(err, needle);
    err = NULL;
    g_assert_cmpint(tpm_nvram_validate(s.nv, &err), <, 0);
    expect_error(err, "'permall'");
    expect(s.nv, "volatilestate", "abc", 3);
    store_free(&s);
}

static void test_forged_encrypted(const void *opaque)
{
    TPMNvramKey *k = nvt_key("kf", key_a, 32, "raw");

    do_forged(opaque, k, "Blob 'permall' of TPM NVRAM store");
    do_forged(opaque, k, "fails authentication");
    tpm_nvram_key_free(k);
}

static void test_forged_plain(const void *opaque)
{
    do_forged(opaque, NULL, "Blob 'permall' of TPM NVRAM store");
    do_forged(opaque, NULL, "fails its CRC check");
}

/*
 * Flip single bits in the current directory and in the current blobs of an
 * encrypted store: every flip is detected, i.e. the store either reports
 * an error or falls back to the previous generation as a whole; it never
 * returns altered or mixed contents.
 */
static void test_tamper(const void *opaque)
{
    TPMNvramKey *k = nvt_key("kt", key_a, 32, "raw");
    Store s;
    Disk d;
    g_autofree uint8_t *p1 = nvt_pattern(3000, 1);
    g_autofree uint8_t *p2 = nvt_pattern(3000, 2);
    g_autofree uint8_t *v1 = nvt_pattern(700, 3);
    g_autofree uint8_t *v2 = nvt_pattern(700, 4);
    int flips = 0, errors = 0, fallbacks = 0;
    int64_t areas[3][2];
    int nareas = 0;

    store_new(&s, opaque, "tamper.img");
    store_open(&s, true, k);
    put(s.nv, "permall", p1, 3000);
    put(s.nv, "volatilestate", v1, 700);
    put(s.nv, "permall", p2, 3000);
    put(s.nv, "volatilestate", v2, 700);
    store_close(&s);

    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_read(s.blk, &d);
    areas[nareas][0] = d.cur * NV_SLOT_SIZE;
    areas[nareas++][1] = NV_HDR_SIZE + d.dir[d.cur].count * NV_ENTRY_SIZE;
    for (uint32_t i = 0; i < d.dir[d.cur].count; i++) {
        areas[nareas][0] = nv_entry_pos(&d.dir[d.cur].e[i], d.cur);
        areas[nareas++][1] = d.dir[d.cur].e[i].length;
    }

    for (int a = 0; a < nareas; a++) {
        for (int64_t off = 0; off < areas[a][1]; off += 1 + (off % 5)) {
            int bit = (int)(off % 8);
            Error *err = NULL;
            TPMNvram *nv;
            TPMNvramCheckResult res;

            flip_bit(s.blk, areas[a][0] + off, bit);
            flips++;
            nv = tpm_nvram_open(s.blk, k, &err);
            if (!nv) {
                errors++;
                error_free(err);
            } else {
                uint8_t *pa = NULL, *va = NULL;
                size_t pl = 0, vl = 0;
                int r1 = tpm_nvram_load(nv, "permall", &pa, &pl, NULL);
                int r2 = tpm_nvram_load(nv, "volatilestate", &va, &vl, NULL);
                if (r1 < 0 || r2 < 0) {
                    errors++;
                } else {
                    g_assert_cmpuint(pl, ==, 3000);
                    g_assert_cmpuint(vl, ==, 700);
                    /* never the current state: the flip hit it */
                    g_assert_false(!memcmp(pa, p2, 3000) &&
                                   !memcmp(va, v2, 700));
                    /* only the previous state (p2, v1) as a whole */
                    g_assert_true(!memcmp(va, v1, 700) &&
                                  !memcmp(pa, p2, 3000));
                    /* and check reports the damaged newest slot */
                    g_assert_cmpint(tpm_nvram_check(nv, &res, NULL), ==, 0);
                    g_assert_true(res.other_slot_damaged ||
                                  res.corruptions > 0);
                    /* as a rollback: that generation was committed */
                    g_assert_cmpint(res.fallback, ==,
                                    TPM_NVRAM_FALLBACK_ROLLBACK);
                    tpm_nvram_check_result_free(&res);
                    fallbacks++;
                }
                free(pa);
                free(va);
                tpm_nvram_close(nv);
            }
            flip_bit(s.blk, areas[a][0] + off, bit);
        }
    }
    g_test_message("tamper: %d flips, %d errors, %d fallbacks to the "
                   "previous generation", flips, errors, fallbacks);
    g_assert_cmpint(flips, ==, errors + fallbacks);
    g_assert_cmpint(flips, >, 1000);
    blk_unref(s.blk);
    s.blk = NULL;

    /* untouched again: the current state loads */
    store_open(&s, false, k);
    expect(s.nv, "permall", p2, 3000);
    expect(s.nv, "volatilestate", v2, 700);
    tpm_nvram_key_free(k);
    store_free(&s);
}

/*
 * Rewrite slot @slot's directory as @dir with the given minor version
 * (a 1.0 writer's slot when 0) and successor, as on disk.
 */
static void disk_write_dir_as(BlockBackend *blk, int slot, const NvDir *dir,
                              uint16_t minor, uint64_t successor)
{
    uint8_t buf[NV_DIR_MAX];
    NvDir d = *dir;
    size_t used;

    d.successor = successor;
    used = nv_dir_encode(&d, buf);
    stbe16(buf + 10, minor);
    stbe32(buf + 124, 0);
    stbe32(buf + 124, nv_crc32(buf, used));
    g_assert_cmpint(blk_pwrite(blk, slot * NV_SLOT_SIZE, used, buf, 0),
                    ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
}

/* Open @s with @flags; the fallback it reports (the open must work). */
static int open_fallback(Store *s, int flags, uint64_t *gen,
                         Error **errp)
{
    TPMNvramOpenOptions o = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    TPMNvramInfo info;

    o.flags = flags;
    s->blk = nvt_blk(s->path, s->fmt, false);
    s->nv = tpm_nvram_open_opts(s->blk, NULL, &o, errp);
    if (!s->nv) {
        store_close(s);
        return -1;
    }
    g_assert_cmpint(tpm_nvram_get_info(s->nv, &info, NULL), ==, 0);
    *gen = info.generation;
    if (info.fallback != TPM_NVRAM_FALLBACK_NONE) {
        g_assert_nonnull(strstr(info.fallback_why, s->path));
    }
    store_close(s);
    return info.fallback;
}

/*
 * The newest slot damaged: the store falls back to the previous
 * generation, but never silently: a committed generation that is lost is
 * a rollback (and TPM_NVRAM_OPEN_REFUSE_ROLLBACK refuses it); a newer
 * directory that was never confirmed is an interrupted commit; a 1.0
 * store cannot tell the two apart and is treated as a rollback.
 */
static void test_rollback(const void *opaque)
{
    Store s;
    Disk d;
    Error *err = NULL;
    TPMNvramCheckResult res;
    uint64_t gen = 0;
    int prev;
    const NvEntry *e;

    store_new(&s, opaque, "rollback.img");
    store_open(&s, true, NULL);
    for (uint8_t counter = 1; counter <= 5; counter++) {
        put(s.nv, "permall", &counter, 1);
    }
    g_assert_cmpuint(generation(s.nv), ==, 6);
    store_close(&s);
    g_assert_cmpint(open_fallback(&s, 0, &gen, NULL), ==,
                    TPM_NVRAM_FALLBACK_NONE);

    /* damage the newest blob: the counter would go from 5 back to 4 */
    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_read(s.blk, &d);
    g_assert_cmpuint(d.dir[d.cur].generation, ==, 6);
    prev = 1 - d.cur;
    e = &d.dir[d.cur].e[0];
    flip_bit(s.blk, nv_entry_pos(e, d.cur), 0);
    blk_unref(s.blk);
    s.blk = NULL;
    g_assert_cmpint(open_fallback(&s, 0, &gen, NULL), ==,
                    TPM_NVRAM_FALLBACK_ROLLBACK);
    g_assert_cmpuint(gen, ==, 5);
    g_assert_cmpint(open_fallback(&s, TPM_NVRAM_OPEN_REFUSE_ROLLBACK, &gen,
                                  &err), ==, -1);
    expect_error(err, "generation 6 was committed");
    err = NULL;
    s.blk = nvt_blk(s.path, s.fmt, false);
    s.nv = tpm_nvram_open_opts(s.blk, NULL, &(TPMNvramOpenOptions){
                                   .flags = TPM_NVRAM_OPEN_CHECK }, NULL);
    g_assert_nonnull(s.nv);
    g_assert_cmpint(tpm_nvram_check(s.nv, &res, NULL), ==, 0);
    g_assert_cmpint(res.fallback, ==, TPM_NVRAM_FALLBACK_ROLLBACK);
    g_assert_nonnull(strstr(res.messages, "rolled back"));
    tpm_nvram_check_result_free(&res);
    store_close(&s);

    /* no successor recorded: the newer directory is an interrupted commit */
    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_write_dir_as(s.blk, prev, &d.dir[prev], NV_VERSION_MINOR, 0);
    blk_unref(s.blk);
    s.blk = NULL;
    g_assert_cmpint(open_fallback(&s, TPM_NVRAM_OPEN_REFUSE_ROLLBACK, &gen,
                                  NULL), ==,
                    TPM_NVRAM_FALLBACK_INTERRUPTED);
    g_assert_cmpuint(gen, ==, 5);

    /* written by a 1.0 writer: cannot tell, so not trusted either */
    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_write_dir_as(s.blk, prev, &d.dir[prev], 0, 0);
    blk_unref(s.blk);
    s.blk = NULL;
    g_assert_cmpint(open_fallback(&s, 0, &gen, NULL), ==,
                    TPM_NVRAM_FALLBACK_UNKNOWN);
    g_assert_cmpint(open_fallback(&s, TPM_NVRAM_OPEN_REFUSE_ROLLBACK, &gen,
                                  &err), ==, -1);
    expect_error(err, "cannot tell");

    /* the next commit makes the store consistent again */
    store_open(&s, true, NULL);
    put(s.nv, "permall", "\x06", 1);
    g_assert_cmpuint(generation(s.nv), ==, 6);
    store_close(&s);
    g_assert_cmpint(open_fallback(&s, TPM_NVRAM_OPEN_REFUSE_ROLLBACK, &gen,
                                  NULL), ==, TPM_NVRAM_FALLBACK_NONE);
    store_free(&s);
}

/*
 * A shorter blob must not leave the tail of an older, longer one in the
 * slot it is written to: everything after the new inline data is zero.
 */
static void test_inline_tail(const void *opaque)
{
    g_autofree uint8_t *big = nvt_pattern(6000, 5);
    Store s;
    Disk d;

    store_new(&s, opaque, "tail.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", big, 6000);
    put(s.nv, "permall", big, 5999);
    put(s.nv, "permall", big, 1000);   /* where the first 6000 were */
    put(s.nv, "permall", big, 999);
    store_close(&s);

    s.blk = nvt_blk(s.path, s.fmt, false);
    memset(&d, 0, sizeof(d));   /* past the end of the image: zeroes */
    disk_read(s.blk, &d);
    for (int slot = 0; slot < NV_SLOT_COUNT; slot++) {
        const NvEntry *e = &d.dir[slot].e[0];
        uint64_t end = e->offset + e->length;
        const uint8_t *p = d.slots + slot * NV_SLOT_SIZE;

        g_assert_cmpint(d.st[slot], ==, NV_SLOT_OK);
        g_assert_true(e->is_inline);
        g_assert_cmpuint(e->length, <, 1001);
        if (!buffer_is_zero(p + end, NV_SLOT_SIZE - end)) {
            g_error("slot %d: bytes of an older blob after the inline data "
                    "(from %" PRIu64 ")", slot, end);
        }
    }
    store_close(&s);
    store_free(&s);
}

/* Both slots damaged: reported as corruption, never as empty. */
static void test_corrupt(const void *opaque)
{
    Store s;
    Error *err = NULL;
    g_autofree char *h1 = NULL, *h2 = NULL;

    store_new(&s, opaque, "corrupt.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", "abc", 3);
    put(s.nv, "permall", "abcd", 4);
    store_close(&s);
    s.blk = nvt_blk(s.path, s.fmt, true);
    flip_bit(s.blk, 20, 0);
    flip_bit(s.blk, NV_SLOT_SIZE + 20, 0);
    blk_unref(s.blk);
    s.blk = NULL;
    h1 = nvt_hash(s.path);
    g_assert_null(store_open_err(&s, true, NULL, &err));
    expect_error(err, "is corrupt: directory CRC mismatch");
    h2 = nvt_hash(s.path);
    g_assert_cmpstr(h1, ==, h2);
    store_free(&s);
}

static void test_versions(const void *opaque)
{
    Store s;
    Disk d;
    Error *err = NULL;

    store_new(&s, opaque, "ver.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", "abc", 3);
    store_close(&s);

    /* a newer minor version: readable, not writable */
    s.blk = nvt_blk(s.path, s.fmt, true);
    disk_read(s.blk, &d);
    {
        uint8_t buf[NV_DIR_MAX];
        size_t used = nv_dir_encode(&d.dir[d.cur], buf);
        uint32_t crc;
        buf[11] = 7; /* minor = 7 */
        memset(buf + 124, 0, 4);
        crc = nv_crc32(buf, used);
        stbe32(buf + 124, crc);
        g_assert_cmpint(blk_pwrite(s.blk, d.cur * NV_SLOT_SIZE, used,
                                   buf, 0), ==, 0);
    }
    blk_unref(s.blk);
    s.blk = NULL;
    store_open(&s, true, NULL);
    expect(s.nv, "permall", "abc", 3);
    g_assert_cmpint(tpm_nvram_store(s.nv, "permall", U8("x"), 1, &err), ==,
                    -ENOTSUP);
    expect_error(err, "newer than this program");
    store_close(&s);

    /* a newer major version: refused with its own message */
    s.blk = nvt_blk(s.path, s.fmt, true);
    for (int i = 0; i < 2; i++) {
        uint8_t buf[NV_SECTOR_TEST];
        g_assert_cmpint(blk_pread(s.blk, i * NV_SLOT_SIZE, sizeof(buf),
                                  buf), ==, 0);
        buf[9] = 2; /* major = 2 */
        g_assert_cmpint(blk_pwrite(s.blk, i * NV_SLOT_SIZE, sizeof(buf),
                                   buf, 0), ==, 0);
    }
    blk_unref(s.blk);
    s.blk = NULL;
    err = NULL;
    g_assert_null(store_open_err(&s, true, NULL, &err));
    expect_error(err, "unsupported format version 2.");
    store_free(&s);
}

/* ---- operations --------------------------------------------------------- */

static void test_delete_list(const void *opaque)
{
    Store s;
    TPMNvramBlobInfo *b = NULL;
    size_t n = 0;
    Error *err = NULL;
    uint8_t *out = NULL;
    size_t len;

    store_new(&s, opaque, "del.img");
    store_open(&s, true, NULL);
    put(s.nv, "volatilestate", "v", 1);
    put(s.nv, "permall", "p", 1);
    put(s.nv, "savestate", "", 0);
    g_assert_cmpint(tpm_nvram_list(s.nv, &b, &n, NULL), ==, 0);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpstr(b[0].name, ==, "permall");
    g_assert_cmpstr(b[1].name, ==, "savestate");
    g_assert_cmpstr(b[2].name, ==, "volatilestate");
    free(b);
    g_assert_cmpint(tpm_nvram_delete(s.nv, "volatilestate", NULL), ==, 0);
    g_assert_cmpint(tpm_nvram_load(s.nv, "volatilestate", &out, &len, NULL),
                    ==, -ENOENT);
    expect(s.nv, "permall", "p", 1);
    g_assert_cmpint(tpm_nvram_store(s.nv, "bad/name", U8("x"), 1, &err), ==,
                    -EINVAL);
    expect_error(err, "Invalid TPM NVRAM blob name");
    /* too large: refused before the data is even looked at */
    err = NULL;
    g_assert_cmpint(tpm_nvram_store(s.nv, "huge", U8("x"), NV_MAX_BLOB + 1,
                                    &err), ==, -EFBIG);
    expect_error(err, "is too large");
    /* full: NV_MAX_ENTRIES blobs, then no more */
    for (int i = 0; i < NV_MAX_ENTRIES - 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%02d", i);
        put(s.nv, name, name, strlen(name));
    }
    err = NULL;
    g_assert_cmpint(tpm_nvram_store(s.nv, "onetoomany", U8("x"), 1, &err),
                    ==, -ENOSPC);
    expect_error(err, "is full");
    for (int i = 0; i < NV_MAX_ENTRIES - 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%02d", i);
        expect(s.nv, name, name, strlen(name));
        g_assert_cmpint(tpm_nvram_delete(s.nv, name, NULL), ==, 0);
    }
    store_close(&s);
    store_open(&s, false, NULL);
    g_assert_cmpint(tpm_nvram_load(s.nv, "volatilestate", &out, &len, NULL),
                    ==, -ENOENT);
    expect(s.nv, "savestate", "", 0);
    err = NULL;
    g_assert_cmpint(tpm_nvram_store(s.nv, "permall", U8("x"), 1, &err), ==,
                    -EACCES);
    expect_error(err, "read-only");
    store_free(&s);
}

static void test_rekey(const void *opaque)
{
    Store s;
    TPMNvramKey *ka = nvt_key("rka", key_a, 32, "raw");
    TPMNvramKey *kb = nvt_key("rkb", "pass phrase", 11, "passphrase");
    Error *err = NULL;
    g_autofree uint8_t *d = nvt_pattern(9000, 9);

    store_new(&s, opaque, "rekey.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", d, 9000);
    put(s.nv, "empty", "", 0);
    /* plain -> key a */
    g_assert_cmpint(tpm_nvram_rekey(s.nv, ka, NULL), ==, 0);
    expect(s.nv, "permall", d, 9000);
    store_close(&s);
    g_assert_null(store_open_err(&s, true, NULL, &err));
    expect_error(err, "no key was given");
    /* key a -> passphrase b */
    store_open(&s, true, ka);
    err = NULL;
    if (tpm_nvram_rekey(s.nv, kb, &err) < 0) {
        g_error("rekey: %s", error_get_pretty(err));
    }
    put(s.nv, "volatilestate", "vv", 2);
    store_close(&s);
    err = NULL;
    g_assert_null(store_open_err(&s, true, ka, &err));
    expect_error(err, "Wrong key");
    /* passphrase b -> plain */
    store_open(&s, true, kb);
    expect(s.nv, "permall", d, 9000);
    expect(s.nv, "volatilestate", "vv", 2);
    g_assert_cmpint(tpm_nvram_rekey(s.nv, NULL, NULL), ==, 0);
    store_close(&s);
    store_open(&s, false, NULL);
    expect(s.nv, "permall", d, 9000);
    expect(s.nv, "empty", "", 0);
    expect(s.nv, "volatilestate", "vv", 2);
    store_free(&s);
    tpm_nvram_key_free(ka);
    tpm_nvram_key_free(kb);
}

/*
 * A commit (and an open) waits for the lock another process holds as long
 * as the open option says and gives up cleanly; once the lock is free it
 * goes through.
 */
static void test_lock_timeout(const void *opaque)
{
    TPMNvramOpenOptions opts = { .lock_timeout_ms = 200 };
    Store s;
    Error *err = NULL;
    int to_child[2], to_parent[2];
    char c = 0;
    pid_t pid;
    int status;

    store_new(&s, opaque, "lock.img");
    s.blk = nvt_blk(s.path, s.fmt, true);
    s.nv = tpm_nvram_open_opts(s.blk, NULL, &opts, NULL);
    g_assert_nonnull(s.nv);
    put(s.nv, "permall", "one", 3);

    g_assert_cmpint(pipe(to_child), ==, 0);
    g_assert_cmpint(pipe(to_parent), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        QDict *o = qdict_new();
        BlockBackend *other;
        char r = 'L';

        qdict_put_str(o, "driver", s.fmt);
        qdict_put_str(o, "force-share", "on");
        other = blk_new_open(s.path, o, 0, NULL);
        if (!other || bdrv_lock(blk_bs(other), NULL) < 0) {
            r = 'E';
        }
        if (write(to_parent[1], &r, 1) != 1 ||
            read(to_child[0], &r, 1) != 1) {
            _exit(2);
        }
        _exit(0);
    }
    g_assert_cmpint(read(to_parent[0], &c, 1), ==, 1);
    g_assert_cmpint(c, ==, 'L');
    g_assert_cmpint(tpm_nvram_store(s.nv, "permall", U8("two"), 3, &err), <, 0);
    expect_error(err, "Could not lock TPM NVRAM store");
    err = NULL;
    /* the open itself waits only as long as its option says */
    g_assert_null(tpm_nvram_open_opts(s.blk, NULL, &opts, &err));
    expect_error(err, "Could not lock TPM NVRAM store");
    g_assert_cmpint(write(to_child[1], "x", 1), ==, 1);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect(s.nv, "permall", "one", 3);
    put(s.nv, "permall", "two", 3);
    expect(s.nv, "permall", "two", 3);
    for (int i = 0; i < 2; i++) {
        close(to_child[i]);
        close(to_parent[i]);
    }
    store_free(&s);
}

/* check: a damaged previous slot is reported but harmless. */
static void test_check(const void *opaque)
{
    Store s;
    TPMNvramCheckResult res;
    Disk d;

    store_new(&s, opaque, "check.img");
    store_open(&s, true, NULL);
    put(s.nv, "permall", "abc", 3);
    put(s.nv, "permall", "abcd", 4);
    g_assert_cmpint(tpm_nvram_check(s.nv, &res, NULL), ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_false(res.other_slot_damaged);
    tpm_nvram_check_result_free(&res);
    disk_read(s.blk, &d);
    flip_bit(s.blk, (1 - d.cur) * NV_SLOT_SIZE + 30, 1);
    g_assert_cmpint(tpm_nvram_check(s.nv, &res, NULL), ==, 0);
    g_assert_cmpint(res.corruptions, ==, 0);
    g_assert_true(res.other_slot_damaged);
    tpm_nvram_check_result_free(&res);
    expect(s.nv, "permall", "abcd", 4);
    store_free(&s);
}

/* ---- a failed commit and its rollback (blkdebug) ------------------------ */

/*
 * Open @s's image read-write through blkdebug: the first flush fails (and
 * every later one with @all_flushes), and, when @write_nth > 0, every write
 * from the @write_nth'th on.  raw: the filters replace the format; qcow2:
 * they sit below it.
 */
static BlockBackend *open_faulty(Store *s, bool all_flushes, int write_nth)
{
    const char *pre = strcmp(s->fmt, "raw") ? "file." : "";
    QDict *o = qdict_new();
    Error *err = NULL;
    BlockBackend *blk;
    char key[64], nth[16];

    if (*pre) {
        qdict_put_str(o, "driver", s->fmt);
    }
#define PUT(k, v) \
    snprintf(key, sizeof(key), "%s%s", pre, k); qdict_put_str(o, key, v)
    PUT("driver", "blkdebug");
    PUT("event", "flush");
    PUT("once", all_flushes ? "off" : "on");
    if (write_nth > 0) {
        snprintf(nth, sizeof(nth), "%d", write_nth);
        PUT("file.driver", "blkdebug");
        PUT("file.event", "write");
        PUT("file.nth", nth);
        PUT("file.once", "off");
    }
#undef PUT
    blk = blk_new_open(s->path, o, BDRV_O_RDWR | BDRV_O_RESIZE, &err);
    if (!blk) {
        g_error("blkdebug: %s", error_get_pretty(err));
    }
    return blk;
}

/* Which of @old and @new (both @len bytes) blob 'permall' holds: 1 or 2. */
static int which_state(TPMNvram *nv, const uint8_t *old, const uint8_t *new,
                       size_t len)
{
    g_autofree uint8_t *d = NULL;
    size_t l = 0;
    Error *err = NULL;

    if (tpm_nvram_load(nv, "permall", &d, &l, &err) < 0) {
        g_error("load after a failed commit: %s", error_get_pretty(err));
    }
    g_assert_cmpuint(l, ==, len);
    if (!memcmp(d, old, len)) {
        return 1;
    }
    g_assert_true(!memcmp(d, new, len));
    return 2;
}

/*
 * tpm_nvram.h: on failure the previous contents stay, unless the error says
 * that undoing the commit failed too; then the store holds the previous or
 * the new contents.  Here the commit's flush fails and so, in turn, does
 * each write from the slot write on (the rollback write among them), or the
 * rollback's own flush.  Whatever is visible in this process is what a
 * reopen sees, and the store works afterwards.
 */
static void test_failed_commit(const void *opaque)
{
    const size_t len = 4100;
    g_autofree uint8_t *p1 = nvt_pattern(len, 1);
    g_autofree uint8_t *p2 = nvt_pattern(len, 2);
    int undo_failed = 0, new_seen = 0;
    Store s;

    for (int write_nth = 0; write_nth <= 6; write_nth++) {
        for (int all_flushes = 0; all_flushes < 2; all_flushes++) {
            Error *err = NULL;
            bool undo;
            int inproc, after;

            if (write_nth && all_flushes) {
                continue;
            }
            store_new(&s, opaque, "failed-commit.img");
            store_open(&s, true, NULL);
            put(s.nv, "permall", p1, len);
            store_close(&s);

            s.blk = open_faulty(&s, all_flushes, write_nth);
            s.nv = tpm_nvram_open(s.blk, NULL, &err);
            g_assert_nonnull(s.nv);
            g_assert_cmpint(tpm_nvram_store(s.nv, "permall", p2, len, &err),
                            <, 0);
            g_assert_nonnull(err);
            undo = strstr(error_get_pretty(err),
                          "undoing the commit failed too") != NULL;
            if (undo) {
                expect_error(err, "holds either the previous or the new "
                             "contents");
            } else {
                error_free(err);
            }
            inproc = which_state(s.nv, p1, p2, len);
            store_close(&s);

            store_open(&s, true, NULL);
            after = which_state(s.nv, p1, p2, len);
            g_assert_cmpint(after, ==, inproc);
            if (!undo) {
                g_assert_cmpint(after, ==, 1);
            }
            /* an unflushed rollback is no rollback */
            if (all_flushes) {
                g_assert_true(undo);
            }
            /* a refused directory write leaves nothing to undo */
            if (write_nth == 1) {
                g_assert_false(undo);
            }
            undo_failed += undo;
            new_seen += after == 2;
            put(s.nv, "permall", p2, len);
            expect(s.nv, "permall", p2, len);
            store_free(&s);
        }
    }
    g_test_message("failed commits: %d could not be undone, %d of these "
                   "left the new contents", undo_failed, new_seen);
    /* the cases the header's "unless" is for did happen */
    g_assert_cmpint(new_seen, >, 0);
    g_assert_cmpint(undo_failed, >, new_seen);
}

int main(int argc, char **argv)
{
    static const char *fmts[] = { "raw", "qcow2" };
    int ret;

    g_test_init(&argc, &argv, NULL);
    error_set_progname("test-tpm-nvram");
    nvt_setup_dir();
    g_test_add_func("/tpm-nvram/key-parse", test_key_parse);
    for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
        const char *f = fmts[i];
        char p[128];

        if (!bdrv_find_format(f)) {
            continue;
        }
#define ADD(name, fn) \
        snprintf(p, sizeof(p), "/tpm-nvram/%s/" name, f); \
        g_test_add_data_func(p, f, fn)
        ADD("roundtrip", test_roundtrip);
        ADD("roundtrip-encrypted", test_roundtrip_encrypted);
        ADD("roundtrip-passphrase", test_roundtrip_passphrase);
        ADD("identical-noop", test_identical_noop);
        ADD("space-reuse", test_space_reuse);
        ADD("empty", test_empty);
        ADD("foreign", test_foreign);
        ADD("key-errors", test_key_errors);
        ADD("forged-encrypted", test_forged_encrypted);
        ADD("forged-plain", test_forged_plain);
        ADD("tamper", test_tamper);
        ADD("corrupt", test_corrupt);
        ADD("versions", test_versions);
        ADD("delete-list", test_delete_list);
        ADD("rekey", test_rekey);
        ADD("lock-timeout", test_lock_timeout);
        ADD("check", test_check);
        ADD("failed-commit", test_failed_commit);
        ADD("rollback", test_rollback);
        ADD("inline-tail", test_inline_tail);
#undef ADD
    }
    ret = g_test_run();
    nvt_rm_dir();
    return ret;
}
