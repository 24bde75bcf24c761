/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_key.c: the NVRAM store's key specifications
 * ("file=PATH|fd=N[,format=raw|hex|passphrase]") and their key material.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/qdict.h"
#include "crypto/secret.h"
#include "hw/tpm/tpm_nvram_int.h"

void tpm_nvram_key_free(TPMNvramKey *key)
{
    if (!key) {
        return;
    }
    qcrypto_wipe(key->key, sizeof(key->key));
    qcrypto_wipe_free(key->pass, key->pass_len);
    qcrypto_wipe(key, sizeof(*key));
    free(key);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* 64 hex digits, optionally followed by one newline ("\n" or "\r\n"). */
static bool parse_hex(const uint8_t *d, size_t len, uint8_t *out)
{
    if (len == 66 && d[64] == '\r' && d[65] == '\n') {
        len = 64;
    } else if (len == 65 && d[64] == '\n') {
        len = 64;
    }
    if (len != 64) {
        return false;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(d[2 * i]), lo = hexval(d[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

int tpm_nvram_key_parse(const char *spec, TPMNvramKey **key, Error **errp)
{
    QDict *opts = NULL;
    char *file = NULL, *fdstr = NULL, *format = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int fd = -1;
    int ret = -EINVAL;
    TPMNvramKey *k = NULL;
    char what[PATH_MAX + 32];
    const char *fmt;

    *key = NULL;
    if (qdict_parse_keyval(&opts, spec, NULL, errp) < 0) {
        error_prepend(errp, "Invalid key specification: ");
        goto out;
    }
    file = qdict_take_str(opts, "file");
    fdstr = qdict_take_str(opts, "fd");
    format = qdict_take_str(opts, "format");
    if (qdict_size(opts) > 0) {
        error_setg(errp, "Invalid key specification: unknown option '%s' "
                   "(expected file=PATH or fd=N, and format=raw|hex|"
                   "passphrase)", qdict_entry_key(qdict_first(opts)));
        goto out;
    }
    if (!!file == !!fdstr) {
        error_setg(errp, "Invalid key specification: give exactly one of "
                   "file=PATH or fd=N");
        goto out;
    }
    fmt = format ? format : "auto";
    if (strcmp(fmt, "auto") && strcmp(fmt, "raw") && strcmp(fmt, "hex") &&
        strcmp(fmt, "passphrase")) {
        error_setg(errp, "Invalid key format '%s' (expected raw, hex or "
                   "passphrase)", fmt);
        goto out;
    }
    if (fdstr) {
        if (qemu_strtoi(fdstr, NULL, 10, &fd) < 0 || fd < 0) {
            error_setg(errp, "Invalid key file descriptor '%s'", fdstr);
            goto out;
        }
        snprintf(what, sizeof(what), "key fd %d", fd);
    } else {
        snprintf(what, sizeof(what), "key file '%s'", file);
    }
    ret = qcrypto_read_secret(file, fd, &data, &len, errp);
    if (ret < 0) {
        goto out;
    }
    ret = -EINVAL;

    k = qemu_xzalloc(sizeof(*k));
    if (!strcmp(fmt, "passphrase")) {
        size_t n = len;
        /* One trailing newline is not part of the passphrase. */
        if (n && data[n - 1] == '\n') {
            n--;
            if (n && data[n - 1] == '\r') {
                n--;
            }
        }
        if (n == 0) {
            error_setg(errp, "The passphrase in %s is empty", what);
            goto out;
        }
        k->is_passphrase = true;
        k->pass = qemu_xmalloc(n);
        memcpy(k->pass, data, n);
        k->pass_len = n;
    } else if (!strcmp(fmt, "hex")) {
        if (!parse_hex(data, len, k->key)) {
            error_setg(errp, "The %s does not hold 64 hex digits", what);
            goto out;
        }
    } else if (!strcmp(fmt, "raw")) {
        if (len != 32) {
            error_setg(errp, "The %s holds %zu bytes, a raw key needs 32",
                       what, len);
            goto out;
        }
        memcpy(k->key, data, 32);
    } else {
        if (parse_hex(data, len, k->key)) {
            /* hex */
        } else if (len == 32) {
            memcpy(k->key, data, 32);
        } else {
            error_setg(errp, "The %s holds neither 32 raw bytes nor 64 hex "
                       "digits (use format=passphrase for a passphrase)",
                       what);
            goto out;
        }
    }
    *key = k;
    k = NULL;
    ret = 0;

out:
    tpm_nvram_key_free(k);
    if (data) {
        qcrypto_wipe_free(data, len);
    }
    free(file);
    free(fdstr);
    free(format);
    qdict_free(opts);
    return ret;
}
