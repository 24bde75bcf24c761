/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_key.c: the NVRAM store's keys: key specifications
 * ("file=PATH|fd=N[,format=raw|hex|passphrase]", and swtpm's: mode=,
 * format=binary, pwdfile=/pwdfd= with kdf=, remove) and their key material;
 * for an open store, key derivation, the key check against the store's
 * key_check value, the parameters of new stores, and blob decryption.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "crypto/swtpm.h"
#include "hw/tpm/tpm_nvram_int.h"

static const char nv_kcv_label[] = "qemu-tpm-nvram key check v1";

/* Associated data of a blob's encryption: magic, salt, name, generation. */
#define NV_AAD_MAX (NV_MAGIC_LEN + NV_SALT_LEN + NV_NAME_FIELD + 8)

void tpm_nvram_key_free(TPMNvramKey *key)
{
    if (!key) {
        return;
    }
    qcrypto_wipe(key->key, sizeof(key->key));
    qcrypto_secure_free(key->pass);
    qcrypto_secure_free(key);
}

/* Label of the expansion of a 128-bit swtpm key to the store's key. */
static const char nv_aes128_label[] = "qemu-vtpm: store key from an swtpm "
                                      "AES-128 key, v1";

/*
 * Make @swk (@len 16 or 32 bytes, an AES-CBC key as swtpm uses it) the
 * key of @k: kept for swtpm's blob format, and the store's AES-256-GCM
 * key derived from it: a 256-bit key as it is, a 128-bit key K as
 * HMAC-SHA256(K, nv_aes128_label).  docs/tools/qemu-vtpm.rst.
 */
static int key_from_swtpm(TPMNvramKey *k, const uint8_t *swk, size_t len,
                          Error **errp)
{
    memcpy(k->swtpm_key, swk, len);
    k->swtpm_key_len = len;
    if (len == 32) {
        memcpy(k->key, swk, 32);
        return 0;
    }
    return qcrypto_hmac_sha256(swk, len, (const uint8_t *)nv_aes128_label,
                               strlen(nv_aes128_label), k->key, errp);
}

/* What a key file holds, as given by format= and mode=. */
typedef struct KeyForm {
    const char *format;     /* "auto", "raw", "hex", "passphrase" */
    size_t mode_len;        /* mode= given: 16 or 32; else 0 */
    bool pwd;               /* pwdfile=/pwdfd=: swtpm's passphrase */
    QCryptoSwtpmKdf kdf;
} KeyForm;

/*
 * Fill @k from the @len bytes of key material read from @what, as @f says
 * ("auto": 64 or 32 hex digits, or 32 raw bytes).
 */
static int key_from_material(TPMNvramKey *k, const KeyForm *f,
                             const uint8_t *data, size_t len,
                             const char *what, Error **errp)
{
    uint8_t swk[QCRYPTO_SWTPM_KEY_MAX];
    size_t n = 0;
    int ret;

    if (f->pwd) {
        n = f->mode_len ? f->mode_len : 16;
        if (qcrypto_swtpm_kdf(data, len, f->kdf, n, swk, errp) < 0) {
            return -EIO;
        }
    } else if (!strcmp(f->format, "passphrase")) {
        n = len;
        /* One trailing newline is not part of the passphrase. */
        if (n && data[n - 1] == '\n') {
            n--;
            if (n && data[n - 1] == '\r') {
                n--;
            }
        }
        if (n == 0) {
            error_setg(errp, "The passphrase in %s is empty", what);
            return -EINVAL;
        }
        k->is_passphrase = true;
        k->pass = qcrypto_secure_alloc(n);
        memcpy(k->pass, data, n);
        k->pass_len = n;
        return 0;
    } else if (f->mode_len) {
        n = f->mode_len;
        if (!strcmp(f->format, "raw") ? len != n :
            !qcrypto_swtpm_parse_hex(data, len, n, swk)) {
            error_setg(errp, "The %s does not hold a %zu-bit key as %s "
                       "(mode=%s)", what, n * 8,
                       !strcmp(f->format, "raw") ? "binary" : "hex digits",
                       n == 32 ? "aes-256-cbc" : "aes-cbc");
            return -EINVAL;
        }
        if (!strcmp(f->format, "raw")) {
            memcpy(swk, data, n);
        }
    } else if (strcmp(f->format, "raw") &&
               qcrypto_swtpm_parse_hex(data, len, 32, swk)) {
        n = 32;
    } else if (strcmp(f->format, "raw") &&
               qcrypto_swtpm_parse_hex(data, len, 16, swk)) {
        n = 16;             /* swtpm's default: an AES-128 key in hex */
    } else if (strcmp(f->format, "hex") && len == 32) {
        n = 32;
        memcpy(swk, data, 32);
    } else if (!strcmp(f->format, "hex")) {
        error_setg(errp, "The %s does not hold 64 hex digits", what);
        return -EINVAL;
    } else if (!strcmp(f->format, "raw")) {
        error_setg(errp, "The %s holds %zu bytes, a raw key needs 32",
                   what, len);
        return -EINVAL;
    } else {
        error_setg(errp, "The %s holds neither 32 raw bytes nor 64 hex digits "
                   "(use format=passphrase for a passphrase)",
                   what);
        return -EINVAL;
    }
    ret = key_from_swtpm(k, swk, n, errp);
    qcrypto_wipe(swk, sizeof(swk));
    return ret;
}

/* swtpm writes a bare "remove" for remove=true: make it key=value. */
static char *spec_normalize(const char *spec)
{
    size_t n = strlen(spec);
    char *out = qemu_xmalloc(2 * n + 16), *o = out;
    const char *p = spec;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);

        memcpy(o, p, l);
        o += l;
        if (l == 6 && !strncmp(p, "remove", 6)) {
            memcpy(o, "=on", 3);
            o += 3;
        }
        if (!e) {
            break;
        }
        *o++ = ',';
        p = e + 1;
    }
    *o = '\0';
    return out;
}

static int key_form_parse(QDict *opts, KeyForm *f, Error **errp)
{
    char *format = qdict_take_str(opts, "format");
    char *mode = qdict_take_str(opts, "mode");
    char *kdf = qdict_take_str(opts, "kdf");
    int ret = -EINVAL;

    f->format = "auto";
    f->mode_len = 0;
    f->kdf = QCRYPTO_SWTPM_KDF_PBKDF2;
    if (format) {
        if (!strcmp(format, "binary") || !strcmp(format, "raw")) {
            f->format = "raw";
        } else if (!strcmp(format, "hex")) {
            f->format = "hex";
        } else if (!strcmp(format, "passphrase")) {
            f->format = "passphrase";
        } else {
            error_setg(errp, "Invalid key format '%s' (expected raw, hex or "
                       "passphrase)", format);
            goto out;
        }
    }
    if (mode) {
        if (!strcmp(mode, "aes-cbc") || !strcmp(mode, "aes-128-cbc")) {
            f->mode_len = 16;
        } else if (!strcmp(mode, "aes-256-cbc")) {
            f->mode_len = 32;
        } else {
            error_setg(errp, "Invalid key mode '%s' (expected aes-cbc, "
                       "aes-128-cbc or aes-256-cbc)", mode);
            goto out;
        }
    } else if (format && !strcmp(format, "binary")) {
        f->mode_len = 16;           /* swtpm's default mode */
    }
    if (kdf && !f->pwd) {
        error_setg(errp, "Invalid key specification: kdf= goes with "
                   "pwdfile= or pwdfd=");
        goto out;
    }
    if (kdf && !strcmp(kdf, "sha512")) {
        f->kdf = QCRYPTO_SWTPM_KDF_SHA512;
    } else if (kdf && strcmp(kdf, "pbkdf2")) {
        error_setg(errp, "Invalid key kdf '%s' (expected sha512 or pbkdf2)",
                   kdf);
        goto out;
    }
    if (f->pwd && format) {
        error_setg(errp, "Invalid key specification: format= does not go "
                   "with pwdfile= or pwdfd=");
        goto out;
    }
    if (f->mode_len && !strcmp(f->format, "passphrase")) {
        error_setg(errp, "Invalid key specification: mode= does not go with "
                   "format=passphrase (use pwdfile= for swtpm's "
                   "passphrases)");
        goto out;
    }
    ret = 0;
out:
    free(format);
    free(mode);
    free(kdf);
    return ret;
}

int tpm_nvram_key_parse(const char *spec, TPMNvramKey **key, Error **errp)
{
    QDict *opts = NULL;
    char *file = NULL, *fdstr = NULL, *pwdfile = NULL, *pwdfd = NULL;
    char *norm = spec_normalize(spec);
    uint8_t *data = NULL;
    size_t len = 0;
    int fd = -1;
    int ret = -EINVAL;
    TPMNvramKey *k = NULL;
    char what[PATH_MAX + 32];
    const char *path, *fdarg;
    bool remove = false;
    KeyForm f = { 0 };

    *key = NULL;
    if (qdict_parse_keyval(&opts, norm, NULL, errp) < 0) {
        error_prepend(errp, "Invalid key specification: ");
        goto out;
    }
    file = qdict_take_str(opts, "file");
    fdstr = qdict_take_str(opts, "fd");
    pwdfile = qdict_take_str(opts, "pwdfile");
    pwdfd = qdict_take_str(opts, "pwdfd");
    if (qdict_get_bool(opts, "remove", false, &remove, errp) < 0) {
        error_prepend(errp, "Invalid key specification: ");
        goto out;
    }
    qdict_del(opts, "remove");
    f.pwd = pwdfile || pwdfd;
    if (key_form_parse(opts, &f, errp) < 0) {
        goto out;
    }
    if (qdict_size(opts) > 0) {
        error_setg(errp, "Invalid key specification: unknown option '%s' "
                   "(expected file=PATH or fd=N, and format=raw|hex|"
                   "passphrase; or swtpm's options)",
                   qdict_entry_key(qdict_first(opts)));
        goto out;
    }
    if (!!file + !!fdstr + !!pwdfile + !!pwdfd != 1) {
        error_setg(errp, "Invalid key specification: give exactly one of "
                   "file=PATH or fd=N");
        goto out;
    }
    path = file ? file : pwdfile;
    fdarg = fdstr ? fdstr : pwdfd;
    if (fdarg) {
        if (qemu_strtoi(fdarg, NULL, 10, &fd) < 0 || fd < 0) {
            error_setg(errp, "Invalid key file descriptor '%s'", fdarg);
            goto out;
        }
        snprintf(what, sizeof(what), "key fd %d", fd);
    } else {
        snprintf(what, sizeof(what), "key file '%s'", path);
    }
    ret = qcrypto_read_secret(path, fd, &data, &len, errp);
    if (ret < 0) {
        goto out;
    }
    ret = -EINVAL;

    k = qcrypto_secure_alloc(sizeof(*k));
    if (key_from_material(k, &f, data, len, what, errp) < 0) {
        goto out;
    }
    /* As swtpm: the key file goes once its key was read. */
    if (remove && path && unlink(path) < 0) {
        error_setg_errno(errp, errno, "Could not remove %s", what);
        goto out;
    }
    *key = k;
    k = NULL;
    ret = 0;

out:
    tpm_nvram_key_free(k);
    if (data) {
        qcrypto_secure_free(data);
    }
    free(file);
    free(fdstr);
    free(pwdfile);
    free(pwdfd);
    free(norm);
    qdict_free(opts);
    return ret;
}

int tpm_nvram_key_get_swtpm(const TPMNvramKey *key, const uint8_t **swk,
                            size_t *len)
{
    if (!key->swtpm_key_len) {
        return -ENOKEY;
    }
    *swk = key->swtpm_key;
    *len = key->swtpm_key_len;
    return 0;
}

/* ---- key material of an open store ------------------------------------ */

static void nv_aad(const TPMNvram *nv, const NvDir *dir, const NvEntry *e,
                   uint8_t *aad, size_t *aad_len)
{
    size_t n = 0;

    memcpy(aad + n, NV_MAGIC, NV_MAGIC_LEN);
    n += NV_MAGIC_LEN;
    memcpy(aad + n, dir->salt, NV_SALT_LEN);
    n += NV_SALT_LEN;
    memset(aad + n, 0, NV_NAME_FIELD);
    memcpy(aad + n, e->name, strnlen(e->name, NV_NAME_MAX));
    n += NV_NAME_FIELD;
    stbe64(aad + n, e->blob_gen);
    n += 8;
    *aad_len = n;
}

static int nv_kcv(const uint8_t *key, const uint8_t *salt, uint8_t *kcv,
                  Error **errp)
{
    uint8_t msg[sizeof(nv_kcv_label) + NV_SALT_LEN];
    uint8_t mac[QCRYPTO_SHA256_LEN];
    int ret;

    memcpy(msg, nv_kcv_label, sizeof(nv_kcv_label));
    memcpy(msg + sizeof(nv_kcv_label), salt, NV_SALT_LEN);
    ret = qcrypto_hmac_sha256(key, 32, msg, sizeof(msg), mac, errp);
    if (ret == 0) {
        memcpy(kcv, mac, NV_KCV_LEN);
    }
    qcrypto_wipe(mac, sizeof(mac));
    return ret;
}

static int nv_derive(TPMNvram *nv, const NvDir *dir, Error **errp)
{
    if (nv->key_ready && memcmp(nv->key_salt, dir->salt, NV_SALT_LEN) == 0 &&
        nv->key_iter == dir->kdf_iterations) {
        return 0;
    }
    if (!nv->key_is_pass) {
        nv->key_ready = true;
        memcpy(nv->key_salt, dir->salt, NV_SALT_LEN);
        nv->key_iter = dir->kdf_iterations;
        return 0;
    }
    nv->key_ready = false;
    if (qcrypto_pbkdf2_sha256(nv->pass, nv->pass_len, dir->salt,
                              NV_SALT_LEN, dir->kdf_iterations, nv->key, 32,
                              errp) < 0) {
        return -EIO;
    }
    nv->key_ready = true;
    memcpy(nv->key_salt, dir->salt, NV_SALT_LEN);
    nv->key_iter = dir->kdf_iterations;
    return 0;
}

/*
 * Check our key against the current directory.  With @need_key an
 * encrypted store without a key fails even in inspection mode.
 */
int nv_check_key(TPMNvram *nv, bool need_key, Error **errp)
{
    const NvDir *dir = nv_cur_dir(nv);
    uint8_t kcv[NV_KCV_LEN];

    if (!dir) {
        return 0;
    }
    if (!(dir->flags & NV_FLAG_ENCRYPTED)) {
        if (nv->have_key) {
            error_setg(errp, "A key was given, but TPM NVRAM store '%s' is "
                       "not encrypted", nv->filename);
            return -EINVAL;
        }
        return 0;
    }
    if (!nv->have_key) {
        if (!need_key && (nv->flags & TPM_NVRAM_OPEN_INSPECT)) {
            return 0;
        }
        error_setg(errp, "TPM NVRAM store '%s' is encrypted, but no key was "
                   "given", nv->filename);
        return -ENOKEY;
    }
    if (nv->key_is_pass != (dir->kdf == NV_KDF_PBKDF2_SHA256)) {
        error_setg(errp, "Wrong key for TPM NVRAM store '%s'", nv->filename);
        error_append_hint(errp, "The store's key is %s.\n",
                          dir->kdf == NV_KDF_PBKDF2_SHA256 ?
                          "a passphrase (use format=passphrase)" :
                          "a raw or hex key, not a passphrase");
        return -EKEYREJECTED;
    }
    if (nv_derive(nv, dir, errp) < 0) {
        return -EIO;
    }
    if (nv_kcv(nv->key, dir->salt, kcv, errp) < 0) {
        return -EIO;
    }
    if (!qcrypto_memeq(kcv, dir->kcv, NV_KCV_LEN)) {
        nv->key_ready = false;
        error_setg(errp, "Wrong key for TPM NVRAM store '%s'", nv->filename);
        return -EKEYREJECTED;
    }
    return 0;
}

/* Plaintext of entry @i of the current state (malloc'ed, >= 1 byte). */
int nv_plaintext(TPMNvram *nv, int i, uint8_t **out, Error **errp)
{
    const NvDir *dir = nv_cur_dir(nv);
    const NvEntry *e = &dir->e[i];
    uint8_t *p = qemu_xmalloc(e->length ? e->length : 1);

    if (dir->flags & NV_FLAG_ENCRYPTED) {
        uint8_t aad[NV_AAD_MAX];
        size_t aad_len;
        int ret;

        if (!nv->have_key || !nv->key_ready) {
            error_setg(errp, "TPM NVRAM store '%s' is encrypted, but no key "
                       "was given", nv->filename);
            free(p);
            return -ENOKEY;
        }
        nv_aad(nv, dir, e, aad, &aad_len);
        ret = qcrypto_aead_decrypt(nv->key, e->nonce, aad, aad_len,
                                   nv->data[i], e->length, p, e->tag, errp);
        if (ret == -EBADMSG) {
            error_setg(errp, "Blob '%s' of TPM NVRAM store '%s' fails "
                       "authentication (corrupted or tampered with)",
                       e->name, nv->filename);
        }
        if (ret < 0) {
            qcrypto_wipe_free(p, e->length);
            return -EIO;
        }
    } else if (e->length) {
        memcpy(p, nv->data[i], e->length);
    }
    if (nv_crc32(p, e->length) != e->plain_crc) {
        error_setg(errp, "Blob '%s' of TPM NVRAM store '%s' fails its CRC "
                   "check", e->name, nv->filename);
        qcrypto_wipe_free(p, e->length);
        return -EIO;
    }
    *out = p;
    return 0;
}

/*
 * Encrypt @plain (e->length bytes) into @out for entry @e of directory @nd
 * under @key: a fresh nonce, the tag in @e.
 */
int nv_seal(TPMNvram *nv, const NvDir *nd, NvEntry *e, const uint8_t *key,
            const uint8_t *plain, uint8_t *out, Error **errp)
{
    uint8_t aad[NV_AAD_MAX];
    size_t aad_len;
    int ret;

    ret = qcrypto_random_bytes(e->nonce, NV_NONCE_LEN, errp);
    if (ret < 0) {
        return ret;
    }
    nv_aad(nv, nd, e, aad, &aad_len);
    return qcrypto_aead_encrypt(key, e->nonce, aad, aad_len, plain,
                                e->length, out, e->tag, errp);
}

/* Encryption parameters for a store protected by @k (NULL: none). */
int nv_new_params(const TPMNvramKey *k, NvDir *nd, uint8_t *key,
                  Error **errp)
{
    nd->flags = 0;
    nd->cipher = NV_CIPHER_NONE;
    nd->kdf = NV_KDF_NONE;
    nd->kdf_iterations = 0;
    memset(nd->salt, 0, NV_SALT_LEN);
    memset(nd->kcv, 0, NV_KCV_LEN);
    if (!k) {
        return 0;
    }
    nd->flags = NV_FLAG_ENCRYPTED;
    nd->cipher = NV_CIPHER_AES_256_GCM;
    if (qcrypto_random_bytes(nd->salt, NV_SALT_LEN, errp) < 0) {
        return -EIO;
    }
    if (k->is_passphrase) {
        nd->kdf = NV_KDF_PBKDF2_SHA256;
        nd->kdf_iterations = NV_PBKDF2_ITERATIONS;
        if (qcrypto_pbkdf2_sha256(k->pass, k->pass_len, nd->salt,
                                  NV_SALT_LEN, nd->kdf_iterations, key, 32,
                                  errp) < 0) {
            return -EIO;
        }
    } else {
        memcpy(key, k->key, 32);
    }
    return nv_kcv(key, nd->salt, nd->kcv, errp);
}

/*
 * Make @key (NULL: none) the store's key material, wiping what was there;
 * a key for a directory is derived when one needs it (key_ready false).
 */
void nv_set_key(TPMNvram *nv, const TPMNvramKey *key)
{
    qcrypto_secure_free(nv->pass);
    nv->pass = NULL;
    nv->pass_len = 0;
    qcrypto_wipe(nv->key, 32);
    nv->have_key = key != NULL;
    nv->key_is_pass = key && key->is_passphrase;
    nv->key_ready = false;
    if (!key) {
        return;
    }
    if (key->is_passphrase) {
        nv->pass = qcrypto_secure_alloc(key->pass_len);
        memcpy(nv->pass, key->pass, key->pass_len);
        nv->pass_len = key->pass_len;
    } else {
        memcpy(nv->key, key->key, 32);
    }
}

/* Adopt @nd's parameters (just committed) for our own key state. */
void nv_adopt_key(TPMNvram *nv, const NvDir *nd, const uint8_t *key)
{
    if (key) {
        memcpy(nv->key, key, 32);
        nv->key_ready = true;
        memcpy(nv->key_salt, nd->salt, NV_SALT_LEN);
        nv->key_iter = nd->kdf_iterations;
    }
}

/* Directory template for the first commit to an empty store. */
int nv_first_params(TPMNvram *nv, NvDir *nd, Error **errp)
{
    TPMNvramKey k;
    int ret;

    memset(nd, 0, sizeof(*nd));
    if (!nv->have_key) {
        return 0;
    }
    k.is_passphrase = nv->key_is_pass;
    memcpy(k.key, nv->key, 32);
    k.pass = nv->pass;
    k.pass_len = nv->pass_len;
    ret = nv_new_params(&k, nd, nv->key, errp);
    qcrypto_wipe(&k, sizeof(k));
    if (ret == 0) {
        nv_adopt_key(nv, nd, nv->key);
    }
    return ret;
}
