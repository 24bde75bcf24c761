/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm-swtpm.c: qemu-vtpm run under the name "swtpm" (a symbolic
 * link), so that libvirt and swtpm_setup, which run "swtpm socket ...",
 * run us.  This file holds what only swtpm's grammar has: the mode word,
 * --tpmstate (where the image lives in swtpm's state directory),
 * --print-capabilities and --print-states.  The daemon itself is
 * "qemu-vtpm socket" (qemu-vtpm-socket.c).
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "qemu/cutils.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "hw/tpm/tpm_nvram.h"
#include "crypto/swtpm.h"
#include "crypto/secret.h"
#include "config-host.h"
#include "hw/tpm/tpm_ioctl.h"
#include "qemu-vtpm.h"

/* The swtpm release whose command line and JSON we follow. */
#define SWTPM_COMPAT_VERSION "0.7.1"

/* Size of a store created for --tpmstate (it grows as needed). */
#define TPMSTATE_IMAGE_SIZE "1M"

static void swtpm_usage(FILE *f)
{
    fprintf(f,
"usage: swtpm socket [options]\n"
"\n"
"This is qemu-vtpm run under the name 'swtpm': swtpm %s's command line\n"
"for the 'socket' interface, with the TPM state in a qcow2 image inside\n"
"the --tpmstate directory.  'swtpm socket --help' lists the options.\n",
            SWTPM_COMPAT_VERSION);
}

int vtpm_swtpm_main(int argc, char **argv)
{
    error_set_progname("swtpm");
    if (argc < 2) {
        swtpm_usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        swtpm_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version")) {
        printf("TPM emulator version %s (qemu-vtpm %s)\n",
               SWTPM_COMPAT_VERSION, QEMU_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "socket")) {
        return vtpm_socket_run(argc - 1, argv + 1, true);
    }
    if (!strcmp(argv[1], "chardev") || !strcmp(argv[1], "cuse")) {
        error_report("the '%s' interface is not supported (qemu-vtpm "
                     "serves 'socket' only)", argv[1]);
        return 1;
    }
    error_report("unknown interface '%s' (qemu-vtpm serves 'socket' only)",
                 argv[1]);
    return 1;
}

void vtpm_swtpm_print_capabilities(bool tpm2)
{
    /* Only what works; in swtpm's order and layout. */
    printf("{ \"type\": \"swtpm\", \"features\": [ \"tpm-1.2\", "
           "\"tpm-2.0\", \"flags-opt-startup\", \"cmdarg-key-fd\", "
           "\"cmdarg-pwd-fd\", \"cmdarg-print-states\", "
           "\"nvram-backend-dir\", \"nvram-backend-file\"%s ], "
           "\"version\": \"%s\" }\n",
           tpm2 ? ", \"rsa-keysize-2048\"" : "", SWTPM_COMPAT_VERSION);
}

/*
 * Create @path as an empty qcow2 store with file mode @mode (the file is
 * made before the image so it never has other permissions).
 */
static int tpmstate_create(const char *path, mode_t mode, Error **errp)
{
    QDict *opts;
    int fd, ret;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode);
    if (fd < 0 && errno != EEXIST) {
        error_setg_errno(errp, errno, "Could not create TPM state image '%s'",
                         path);
        return -errno;
    }
    if (fd >= 0) {
        if (fchmod(fd, mode) < 0) {
            error_setg_errno(errp, errno, "Could not set the mode of '%s'",
                             path);
            close(fd);
            unlink(path);
            return -errno;
        }
        close(fd);
    }
    opts = qdict_new();
    qdict_put_str(opts, "size", TPMSTATE_IMAGE_SIZE);
    ret = bdrv_create(bdrv_find_format("qcow2"), path, opts, errp);
    qdict_free(opts);
    if (ret < 0) {
        error_prepend(errp, "Could not create TPM state image '%s': ", path);
        unlink(path);
    }
    return ret;
}

int vtpm_tpmstate_image(const char *spec, bool tpm12, bool create,
                        char **image, char **import_from, Error **errp)
{
    static const char *const known[] = {
        "dir", "backend-uri", "mode", NULL
    };
    QDict *d = NULL;
    const char *dir, *uri, *mode;
    char *path = NULL;
    long m = 0600;
    struct stat sb;
    int ret = -EINVAL;

    *image = NULL;
    if (import_from) {
        *import_from = NULL;
    }
    if (qdict_parse_keyval(&d, spec, "dir", errp) < 0) {
        error_prepend(errp, "--tpmstate: ");
        return -EINVAL;
    }
    dir = qdict_get_str(d, "dir");
    uri = qdict_get_str(d, "backend-uri");
    mode = qdict_get_str(d, "mode");
    if (vtpm_check_keys("--tpmstate", d, known, errp) < 0) {
        goto out;
    }
    if (!!dir + !!uri != 1) {
        error_setg(errp, "--tpmstate needs dir=DIR or backend-uri=URI");
        goto out;
    }
    if (mode) {
        char *end;

        m = strtol(mode, &end, 8);
        if (!*mode || *end || m < 0 || m > 0777) {
            error_setg(errp, "--tpmstate: invalid mode '%s'", mode);
            goto out;
        }
    }
    if (uri && strstart(uri, "dir://", &dir)) {
        /* as swtpm: the rest is the directory */
    } else if (uri && strstart(uri, "file://", &uri)) {
        path = qemu_xstrdup(uri);
    } else if (uri) {
        error_setg(errp, "--tpmstate: backend-uri '%s' is not supported "
                   "(dir:// or file://)", uri);
        goto out;
    }
    if (!path) {
        if (stat(dir, &sb) < 0) {
            error_setg_errno(errp, errno, "Could not open TPM state "
                             "directory '%s'", dir);
            goto out;
        }
        if (!S_ISDIR(sb.st_mode)) {
            error_setg(errp, "TPM state directory '%s' is not a directory",
                       dir);
            goto out;
        }
        path = qemu_xasprintf("%s/%s", dir, tpm12 ? "tpm-nvram.qcow2" :
                              "tpm2-nvram.qcow2");
        /*
         * swtpm's own state there (a domain manufactured under swtpm, on a
         * host switched since): the new store takes it, so that the VM
         * keeps its TPM (its EK); swtpm's file stays where it is.
         */
        if (create && (stat(path, &sb) < 0 || sb.st_size == 0)) {
            char *old = qemu_xasprintf("%s/%s", dir, tpm12 ?
                                       "tpm-00.permall" : "tpm2-00.permall");

            if (access(old, F_OK) == 0 && import_from) {
                *import_from = old;
            } else {
                free(old);
            }
        }
    }
    if (stat(path, &sb) == 0 && sb.st_size > 0) {
        ret = 1;
    } else if (!create) {
        ret = 0;
        goto out;
    } else {
        /* absent, or empty (a creation that was interrupted) */
        ret = tpmstate_create(path, m, errp);
    }
    if (ret >= 0) {
        *image = path;
        path = NULL;
    }
out:
    free(path);
    qdict_free(d);
    return ret;
}

int vtpm_swtpm_print_states(const char *image, const char *keyspec,
                            Error **errp)
{
    TPMNvramOpenOptions nv_opts = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    TPMNvramBlobInfo *b = NULL;
    TPMNvramKey *key = NULL;
    BlockBackend *blk = NULL;
    TPMNvram *nv = NULL;
    QDict *opts;
    size_t n = 0;
    int ret = -EINVAL;

    if (!image) {
        printf("{ \"type\": \"swtpm\", \"states\": [] }\n");
        return 0;
    }
    if (keyspec && tpm_nvram_key_parse(keyspec, &key, errp) < 0) {
        return -EINVAL;
    }
    /* Read-only and sharing: a running daemon may hold the image. */
    opts = qdict_new();
    qdict_put_str(opts, "driver", "qcow2");
    qdict_put_str(opts, "force-share", "on");
    blk = blk_new_open(image, opts, 0, errp);
    if (!blk) {
        goto out;
    }
    nv_opts.flags = TPM_NVRAM_OPEN_INSPECT;
    nv = tpm_nvram_open_opts(blk, key, &nv_opts, errp);
    if (!nv || tpm_nvram_list(nv, &b, &n, errp) < 0) {
        goto out;
    }
    printf("{ \"type\": \"swtpm\", \"states\": [");
    for (size_t i = 0; i < n; i++) {
        printf("%s {\"name\": \"%s\", \"size\": %" PRIu64 "}",
               i ? "," : "", b[i].name, b[i].length);
    }
    printf("%s] }\n", n ? " " : " ");
    ret = 0;
out:
    free(b);
    if (nv) {
        tpm_nvram_close(nv);
    }
    if (blk) {
        blk_unref(blk);
    }
    tpm_nvram_key_free(key);
    return ret;
}

int vtpm_swtpm_file_state(const char *file, const uint8_t *data, size_t len,
                          const uint8_t *key, size_t keylen,
                          const uint8_t **state, size_t *n,
                          uint8_t **plain, size_t *plain_len, Error **errp)
{
    const uint8_t *p = data + VTPM_BLOB_HDR_SIZE;
    size_t plen = len - VTPM_BLOB_HDR_SIZE;
    uint16_t flags;
    int ret;

    *plain = NULL;
    *plain_len = 0;
    if (len < VTPM_BLOB_HDR_SIZE ||
        (data[VTPM_BLOB_HDR_VERSION] != 1 &&
         data[VTPM_BLOB_HDR_VERSION] != VTPM_BLOB_VERSION) ||
        data[VTPM_BLOB_HDR_MIN_VERSION] > VTPM_BLOB_VERSION ||
        ldbe16(data + VTPM_BLOB_HDR_HDRSIZE) != VTPM_BLOB_HDR_SIZE ||
        ldbe32(data + VTPM_BLOB_HDR_TOTLEN) != len) {
        return 0;
    }
    flags = ldbe16(data + VTPM_BLOB_HDR_FLAGS);
    if ((flags & VTPM_BLOB_FLAG_MIGRATION_ENCRYPTED) ||
        ((flags & VTPM_BLOB_FLAG_ENCRYPTED) &&
         (!key || data[VTPM_BLOB_HDR_VERSION] == 1))) {
        error_setg(errp, "'%s' is swtpm state encrypted with swtpm's %s; "
                   "save it in clear (swtpm_ioctl --save) and import that",
                   file, (flags & VTPM_BLOB_FLAG_ENCRYPTED) ? "--key" :
                   "--migration-key");
        return -ENOKEY;
    }
    if (data[VTPM_BLOB_HDR_VERSION] == 1) {
        *state = p;
        *n = plen;
        return 1;
    }
    if (flags & VTPM_BLOB_FLAG_ENCRYPTED) {
        /* swtpm's state key: encrypt-then-MAC TLVs 2, 3 and 6 */
        ret = qcrypto_swtpm_open(key, keylen, QCRYPTO_SWTPM_TAG_ENCRYPTED_DATA,
                                 QCRYPTO_SWTPM_TAG_IV_ENCRYPTED_DATA, p, plen,
                                 plain, plain_len, errp);
        if (ret < 0) {
            error_prepend(errp, "'%s' is swtpm state encrypted with "
                          "swtpm's --key%s: ", file, ret == -EBADMSG ?
                          ", and this is not its key" : "");
            return ret;
        }
        /* at rest, the ciphertext is the state itself (no inner TLV) */
        *state = *plain;
        *n = *plain_len;
        return 1;
    }
    if (flags & VTPM_BLOB_FLAG_MIGRATION_DATA) {
        p = qcrypto_swtpm_tlv_find(p, plen, QCRYPTO_SWTPM_TAG_MIGRATION_DATA,
                                   &plen);
    }
    if (p) {
        p = qcrypto_swtpm_tlv_find(p, plen, QCRYPTO_SWTPM_TAG_DATA, &plen);
    }
    if (!p) {
        error_setg(errp, "'%s' has swtpm's header but no TPM state", file);
        return -EINVAL;
    }
    *state = p;
    *n = plen;
    return 1;
}

int vtpm_swtpm_import_state(TPMNvram *nv, const TPMNvramKey *key,
                            const char *file, Error **errp)
{
    const uint8_t *swk = NULL, *state;
    size_t swk_len = 0, n, plain_len = 0, len = 0;
    uint8_t *data = NULL, *plain = NULL;
    struct stat sb;
    int fd, ret;

    fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not open '%s'", file);
        goto out;
    }
    if (sb.st_size > 64 * MiB) {
        ret = -EFBIG;
        error_setg(errp, "'%s' is too large for a TPM state", file);
        goto out;
    }
    data = qemu_xmalloc(sb.st_size + 1);
    while (len < (size_t)sb.st_size) {
        ssize_t r = read(fd, data + len, sb.st_size - len);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            ret = r < 0 ? -errno : -EIO;
            error_setg_errno(errp, -ret, "Could not read '%s'", file);
            goto out;
        }
        len += r;
    }
    if (key) {
        tpm_nvram_key_get_swtpm(key, &swk, &swk_len);
    }
    ret = vtpm_swtpm_file_state(file, data, len, swk, swk_len, &state, &n,
                                &plain, &plain_len, errp);
    if (ret == 0) {
        ret = -EINVAL;
        error_setg(errp, "'%s' is not swtpm's state file", file);
    }
    if (ret < 0) {
        goto out;
    }
    ret = tpm_nvram_store(nv, "permall", state, n, errp);
out:
    if (fd >= 0) {
        close(fd);
    }
    qcrypto_wipe_free(plain, plain_len);
    qcrypto_wipe_free(data, len);
    return ret;
}
