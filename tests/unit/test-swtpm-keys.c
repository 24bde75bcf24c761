/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-swtpm-keys.c: swtpm's key and blob formats (crypto/swtpm.c) with
 * known answers, swtpm's key specifications accepted by
 * tpm_nvram_key_parse() (the store key derived from them), and key memory
 * that core dumps leave out.
 */
#include "tpm-nvram-helpers.h"
#include "crypto/swtpm.h"
#include "hw/tpm/tpm_nvram_int.h"
#include "crypto/secret.h"

static const char pass[] = "secret pass\n";
/* Python: hashlib.pbkdf2_hmac('sha512', pass, b'swtpm', 1000, n) */
static const char pbkdf2_32[] =
    "bc3d62290621565725a92509781d012210acbc2de668b341ddf7d963e967436d";
/* hashlib.sha512(pass).hexdigest()[:64] */
static const char sha512_32[] =
    "6c05bbfd8c0aa271b26aa73b199e9b6453793c4026866744685d3993069ada25";
/* hmac.new(bytes(range(16)), label, 'sha256'): the store key of the
 * AES-128 key 000102...0f */
static const char aes128_store[] =
    "f2997781b958b3b26276eb149600e9e2c290b2a8a736854e597037a0e5f3e912";

static void expect_hex(const uint8_t *b, size_t n, const char *hex)
{
    g_autofree char *s = g_malloc(2 * n + 1);

    for (size_t i = 0; i < n; i++) {
        sprintf(s + 2 * i, "%02x", b[i]);
    }
    g_assert_cmpstr(s, ==, hex);
}

static void test_parse_hex(void)
{
    uint8_t k[32];
    const char *h16 = "000102030405060708090a0b0c0d0e0f";

    g_assert_true(qcrypto_swtpm_parse_hex((const uint8_t *)h16, 32, 16, k));
    expect_hex(k, 16, h16);
    g_assert_true(qcrypto_swtpm_parse_hex(
        (const uint8_t *)"0x000102030405060708090A0B0C0D0E0F\n", 35, 16, k));
    expect_hex(k, 16, h16);
    /* the digits must be exactly the key's */
    g_assert_false(qcrypto_swtpm_parse_hex((const uint8_t *)h16, 32, 32, k));
    g_assert_false(qcrypto_swtpm_parse_hex(
        (const uint8_t *)"000102030405060708090a0b0c0d0e0f00", 34, 16, k));
    g_assert_false(qcrypto_swtpm_parse_hex((const uint8_t *)"zz", 2, 1, k));
}

static void test_kdf(void)
{
    uint8_t k[32];

    g_assert_cmpint(qcrypto_swtpm_kdf((const uint8_t *)pass, strlen(pass),
                                      QCRYPTO_SWTPM_KDF_PBKDF2, 32, k, NULL),
                    ==, 0);
    expect_hex(k, 32, pbkdf2_32);
    g_assert_cmpint(qcrypto_swtpm_kdf((const uint8_t *)pass, strlen(pass),
                                      QCRYPTO_SWTPM_KDF_PBKDF2, 16, k, NULL),
                    ==, 0);
    expect_hex(k, 16, "bc3d62290621565725a92509781d0122");
    g_assert_cmpint(qcrypto_swtpm_kdf((const uint8_t *)pass, strlen(pass),
                                      QCRYPTO_SWTPM_KDF_SHA512, 32, k, NULL),
                    ==, 0);
    expect_hex(k, 32, sha512_32);
}

static void test_seal_open(void)
{
    static const size_t lens[] = { 0, 1, 15, 16, 17, 31, 32, 100, 3000 };
    uint8_t key[32], other[32], in[3000];

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 7);
    }
    memset(key, 0x42, sizeof(key));
    memset(other, 0x43, sizeof(other));
    for (size_t kl = 16; kl <= 32; kl += 16) {
        for (size_t i = 0; i < G_N_ELEMENTS(lens); i++) {
            uint8_t *b = NULL, *p = NULL;
            size_t blen = 0, plen = 0, ctl = 0, ivl = 0;
            Error *err = NULL;

            g_assert_cmpint(qcrypto_swtpm_seal(key, kl, 5, 7, in, lens[i],
                                               &b, &blen, NULL), ==, 0);
            /* TLV 5 (padded to the key length), TLV 3, TLV 7 (IV) */
            g_assert_nonnull(qcrypto_swtpm_tlv_find(b, blen, 5, &ctl));
            g_assert_cmpuint(ctl % kl, ==, 0);
            g_assert_cmpuint(ctl, >, lens[i]);
            g_assert_nonnull(qcrypto_swtpm_tlv_find(b, blen, 7, &ivl));
            g_assert_cmpuint(ivl, ==, kl);
            g_assert_cmpint(qcrypto_swtpm_open(key, kl, 5, 7, b, blen, &p,
                                               &plen, NULL), ==, 0);
            g_assert_cmpuint(plen, ==, lens[i]);
            g_assert_true(plen == 0 || memcmp(p, in, plen) == 0);
            free(p);
            p = NULL;
            g_assert_cmpint(qcrypto_swtpm_open(other, kl, 5, 7, b, blen, &p,
                                               &plen, &err), ==, -EBADMSG);
            g_assert_nonnull(strstr(error_get_pretty(err), "HMAC"));
            error_free(err);
            err = NULL;
            b[QCRYPTO_SWTPM_TLV_HDR] ^= 1;     /* first ciphertext byte */
            g_assert_cmpint(qcrypto_swtpm_open(key, kl, 5, 7, b, blen, &p,
                                               &plen, &err), ==, -EBADMSG);
            error_free(err);
            err = NULL;
            /* the wrong tags: nothing to decrypt */
            g_assert_cmpint(qcrypto_swtpm_open(key, kl, 2, 6, b, blen, &p,
                                               &plen, &err), ==, -EINVAL);
            error_free(err);
            free(b);
        }
    }
}

/* Parse @spec_fmt (with %s the file) over a file holding @data. */
static TPMNvramKey *parse_over(const char *name, const void *data,
                               size_t len, const char *spec_fmt,
                               Error **errp)
{
    g_autofree char *p = nvt_path(name);
    g_autofree char *spec = NULL;
    TPMNvramKey *k = NULL;

    g_assert_true(g_file_set_contents(p, data, len, NULL));
    g_assert_cmpint(chmod(p, 0600), ==, 0);
    spec = g_strdup_printf(spec_fmt, p);
    tpm_nvram_key_parse(spec, &k, errp);
    return k;
}

static void expect_swtpm_key(TPMNvramKey *k, const char *hex)
{
    const uint8_t *swk;
    size_t n;

    g_assert_nonnull(k);
    g_assert_cmpint(tpm_nvram_key_get_swtpm(k, &swk, &n), ==, 0);
    expect_hex(swk, n, hex);
    if (n == 32) {
        /* a 256-bit key is the store's key as it is */
        expect_hex(k->key, 32, hex);
    }
    tpm_nvram_key_free(k);
}

static void expect_fail(TPMNvramKey *k, Error *err, const char *what)
{
    g_assert_null(k);
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), what)) {
        g_error("'%s' lacks '%s'", error_get_pretty(err), what);
    }
    error_free(err);
}

static void test_key_specs(void)
{
    const char h16[] = "000102030405060708090a0b0c0d0e0f";
    const char h32[] = "000102030405060708090a0b0c0d0e0f"
                       "101112131415161718191a1b1c1d1e1f";
    g_autofree char *h16nl = g_strdup_printf("0x%s\n", h16);
    g_autofree char *h32nl = g_strdup_printf("%s\n", h32);
    uint8_t bin[32];
    TPMNvramKey *k;
    Error *err = NULL;

    for (int i = 0; i < 32; i++) {
        bin[i] = i;
    }
    /* swtpm's default: an AES-128 key in hex */
    k = parse_over("k16", h16nl, strlen(h16nl), "file=%s", NULL);
    g_assert_nonnull(k);
    expect_hex(k->key, 32, aes128_store);
    expect_swtpm_key(k, h16);
    k = parse_over("k16", h16nl, strlen(h16nl), "file=%s,mode=aes-cbc,"
                   "format=hex", NULL);
    g_assert_nonnull(k);
    expect_hex(k->key, 32, aes128_store);
    expect_swtpm_key(k, h16);
    k = parse_over("k32", h32nl, strlen(h32nl), "file=%s,mode=aes-256-cbc",
                   NULL);
    expect_swtpm_key(k, h32);
    /* our own spelling of the same 256-bit key gives the same store key */
    k = parse_over("k32", h32nl, strlen(h32nl), "file=%s,format=hex", NULL);
    expect_swtpm_key(k, h32);
    k = parse_over("b16", bin, 16, "file=%s,format=binary", NULL);
    expect_swtpm_key(k, h16);
    k = parse_over("b32", bin, 32, "file=%s,format=binary,mode=aes-256-cbc",
                   NULL);
    expect_swtpm_key(k, h32);
    /* passphrases: the whole file, newline included */
    k = parse_over("pw", pass, strlen(pass), "pwdfile=%s", NULL);
    expect_swtpm_key(k, "bc3d62290621565725a92509781d0122");
    k = parse_over("pw", pass, strlen(pass),
                   "pwdfile=%s,kdf=pbkdf2,mode=aes-256-cbc", NULL);
    expect_swtpm_key(k, pbkdf2_32);
    k = parse_over("pw", pass, strlen(pass),
                   "pwdfile=%s,kdf=sha512,mode=aes-256-cbc", NULL);
    expect_swtpm_key(k, sha512_32);
    /* our passphrases have no swtpm key */
    k = parse_over("pw", pass, strlen(pass), "file=%s,format=passphrase",
                   NULL);
    g_assert_nonnull(k);
    {
        const uint8_t *swk;
        size_t n;
        g_assert_cmpint(tpm_nvram_key_get_swtpm(k, &swk, &n), ==, -ENOKEY);
    }
    tpm_nvram_key_free(k);

    /* remove: the file goes once read; remove=off keeps it */
    {
        g_autofree char *p = nvt_path("rm");

        k = parse_over("rm", h16nl, strlen(h16nl), "file=%s,remove", NULL);
        expect_swtpm_key(k, h16);
        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
        k = parse_over("rm", h16nl, strlen(h16nl), "file=%s,remove=off",
                       NULL);
        expect_swtpm_key(k, h16);
        g_assert_true(g_file_test(p, G_FILE_TEST_EXISTS));
        k = parse_over("rm", pass, strlen(pass), "pwdfile=%s,remove=true",
                       NULL);
        expect_swtpm_key(k, "bc3d62290621565725a92509781d0122");
        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
    }

    /* mismatches and bad options */
    k = parse_over("k32", h32nl, strlen(h32nl), "file=%s,mode=aes-cbc",
                   &err);
    expect_fail(k, err, "128-bit key as hex digits (mode=aes-cbc)");
    err = NULL;
    k = parse_over("k16", h16nl, strlen(h16nl), "file=%s,mode=aes-256-cbc",
                   &err);
    expect_fail(k, err, "256-bit key");
    err = NULL;
    k = parse_over("b32", bin, 32, "file=%s,format=binary", &err);
    expect_fail(k, err, "as binary");
    err = NULL;
    k = parse_over("k16", h16nl, strlen(h16nl), "file=%s,mode=aes-512",
                   &err);
    expect_fail(k, err, "Invalid key mode 'aes-512'");
    err = NULL;
    k = parse_over("k16", h16nl, strlen(h16nl), "file=%s,kdf=sha512", &err);
    expect_fail(k, err, "kdf= goes with pwdfile=");
    err = NULL;
    k = parse_over("pw", pass, strlen(pass), "pwdfile=%s,kdf=md5", &err);
    expect_fail(k, err, "Invalid key kdf 'md5'");
    err = NULL;
    k = parse_over("pw", pass, strlen(pass), "pwdfile=%s,format=hex", &err);
    expect_fail(k, err, "format= does not go with pwdfile=");
    err = NULL;
    k = parse_over("pw", pass, strlen(pass),
                   "file=%s,format=passphrase,mode=aes-cbc", &err);
    expect_fail(k, err, "mode= does not go with format=passphrase");
    err = NULL;
    k = parse_over("pw", pass, strlen(pass), "file=%s,pwdfile=x", &err);
    expect_fail(k, err, "exactly one of");
}

/* The VmFlags of the mapping that holds @p, from /proc/self/smaps. */
static char *vmflags_of(const void *p)
{
    g_autofree char *smaps = NULL;
    g_auto(GStrv) lines = NULL;
    bool in = false;

    g_assert_true(g_file_get_contents("/proc/self/smaps", &smaps, NULL,
                                      NULL));
    lines = g_strsplit(smaps, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        unsigned long a, b;

        if (sscanf(lines[i], "%lx-%lx ", &a, &b) == 2 &&
            strchr(lines[i], '-') < strchr(lines[i], ' ')) {
            in = (uintptr_t)p >= a && (uintptr_t)p < b;
        } else if (in && g_str_has_prefix(lines[i], "VmFlags:")) {
            return g_strdup(lines[i]);
        }
    }
    return NULL;
}

static void test_secure_alloc(void)
{
    uint8_t *k = qcrypto_secure_alloc(32), *big;
    g_autofree char *flags = vmflags_of(k);
    g_autofree char *flags2 = NULL;
    TPMNvramKey *key;

    g_assert_nonnull(flags);
    g_assert_nonnull(strstr(flags, " dd"));     /* VM_DONTDUMP */
    for (int i = 0; i < 32; i++) {
        g_assert_cmpint(k[i], ==, 0);
    }
    memset(k, 0xa5, 32);
    qcrypto_secure_free(k);
    qcrypto_secure_free(NULL);
    big = qcrypto_secure_alloc(3 * 4096);
    memset(big, 1, 3 * 4096);
    qcrypto_secure_free(big);

    /* a parsed key lives there too */
    key = parse_over("k", "000102030405060708090a0b0c0d0e0f", 32,
                     "file=%s", NULL);
    g_assert_nonnull(key);
    flags2 = vmflags_of(key->key);
    g_assert_nonnull(strstr(flags2, " dd"));
    tpm_nvram_key_free(key);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    nvt_setup_dir();
    g_test_add_func("/swtpm/parse-hex", test_parse_hex);
    g_test_add_func("/swtpm/kdf", test_kdf);
    g_test_add_func("/swtpm/seal-open", test_seal_open);
    g_test_add_func("/swtpm/key-specs", test_key_specs);
    g_test_add_func("/secret/secure-alloc", test_secure_alloc);
    ret = g_test_run();
    nvt_rm_dir();
    return ret;
}
