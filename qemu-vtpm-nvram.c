/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm-nvram.c: "qemu-vtpm nvram ...", inspecting and editing a TPM
 * NVRAM store in an image (info, list, check, export, import, rekey), in
 * qemu-img's manner: options first, then the image.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/qobject.h"
#include "block/block-backend.h"
#include "crypto/secret.h"
#include "crypto/swtpm.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/tpm_nvram.h"
#include "qemu-vtpm.h"

typedef struct NvramArgs {
    const char *cmd;
    const char *fmt;
    const char *key;
    const char *new_key;
    bool decrypt;
    bool force_share;
    bool json;
    int nargs;
    char **args;
} NvramArgs;

static void nvram_usage(FILE *f)
{
    fprintf(f,
"usage: qemu-vtpm nvram COMMAND [options] IMAGE [ARGS]\n"
"\n"
"Commands:\n"
"  info   [--output=human|json] [-U] [-f FMT] [--key K] IMAGE\n"
"  list   [--output=human|json] [-U] [-f FMT] [--key K] IMAGE\n"
"  check  [--output=human|json] [-U] [-f FMT] [--key K] IMAGE\n"
"  export [-U] [-f FMT] [--key K] IMAGE NAME FILE\n"
"  import [-f FMT] [--key K] IMAGE NAME FILE\n"
"  rekey  [-f FMT] [--key K] (--new-key K2 | --decrypt) IMAGE\n"
"\n"
"  K = file=PATH|fd=N[,format=raw|hex|passphrase]\n"
"  -f FMT            image format (raw, qcow2); probed if omitted\n"
"  -U, --force-share open read-only without taking locks others conflict\n"
"                    with (info, list, check, export)\n"
"  --lock-timeout MS how long to wait for another process's serialization\n"
"                    lock (default 30000)\n"
"  FILE '-' is standard input/output.\n"
"\n"
"check exits 0 if the store is fine, 1 if the check could not be\n"
"completed, 2 if the store is corrupt or rolled back (its newest\n"
"committed generation does not verify), 3 if a re-key left data of the\n"
"previous key (or plaintext) behind.\n");
}

static bool cmd_writes(const char *cmd)
{
    return !strcmp(cmd, "import") || !strcmp(cmd, "rekey");
}

static BlockBackend *nvram_open_image(const NvramArgs *a, const char *image,
                                      Error **errp)
{
    QDict *opts = qdict_new();
    int flags = BDRV_O_NO_SHARE;

    if (a->fmt) {
        qdict_put_str(opts, "driver", a->fmt);
    }
    if (a->force_share) {
        qdict_put_str(opts, "force-share", "on");
        flags &= ~BDRV_O_NO_SHARE;
    }
    if (cmd_writes(a->cmd)) {
        flags |= BDRV_O_RDWR | BDRV_O_RESIZE;
    }
    return blk_new_open(image, opts, flags, errp);
}

static int nvram_load_key(const char *spec, TPMNvramKey **key)
{
    Error *err = NULL;

    *key = NULL;
    if (!spec) {
        return 0;
    }
    if (tpm_nvram_key_parse(spec, key, &err) < 0) {
        error_report_err(err);
        return -1;
    }
    return 0;
}

static void print_json(QObject *o)
{
    char *s = qobj_to_json_pretty(o);

    printf("%s\n", s);
    free(s);
    qobj_free(o);
}

static int do_info(const NvramArgs *a, TPMNvram *nv, BlockBackend *blk,
                   const char *image)
{
    TPMNvramInfo info;
    Error *err = NULL;
    const char *fmt = bdrv_get_format_name(blk_bs(blk));

    if (tpm_nvram_get_info(nv, &info, &err) < 0) {
        error_report_err(err);
        return 1;
    }
    if (a->json) {
        QObject *o = qobj_dict();
        char ver[32];

        snprintf(ver, sizeof(ver), "%u.%u", info.version_major,
                 info.version_minor);
        qobj_dict_put(o, "filename", qobj_str(image));
        qobj_dict_put(o, "format", qobj_str(fmt));
        qobj_dict_put(o, "empty", qobj_bool(info.empty));
        qobj_dict_put(o, "version", qobj_str(ver));
        qobj_dict_put(o, "generation", qobj_int(info.generation));
        qobj_dict_put(o, "encrypted", qobj_bool(info.encrypted));
        qobj_dict_put(o, "cipher", qobj_str(info.cipher));
        qobj_dict_put(o, "kdf", qobj_str(info.kdf));
        if (info.kdf_iterations) {
            qobj_dict_put(o, "kdf-iterations", qobj_int(info.kdf_iterations));
        }
        qobj_dict_put(o, "blobs", qobj_int(info.blob_count));
        qobj_dict_put(o, "image-size", qobj_int(info.image_length));
        if (info.fallback != TPM_NVRAM_FALLBACK_NONE) {
            qobj_dict_put(o, "fallback",
                          qobj_str(tpm_nvram_fallback_name(info.fallback)));
        }
        if (info.wipe_pending) {
            qobj_dict_put(o, "wipe-pending", qobj_bool(true));
        }
        print_json(o);
        return 0;
    }
    printf("image: %s\n", image);
    printf("format: %s\n", fmt);
    if (info.empty) {
        printf("store: empty\n");
        return 0;
    }
    printf("store version: %u.%u\n", info.version_major,
           info.version_minor);
    printf("generation: %" PRIu64 "\n", info.generation);
    if (info.encrypted) {
        if (info.kdf_iterations) {
            printf("encrypted: yes (%s, passphrase through %s, %" PRIu32
                   " iterations)\n", info.cipher, info.kdf,
                   info.kdf_iterations);
        } else {
            printf("encrypted: yes (%s)\n", info.cipher);
        }
    } else {
        printf("encrypted: no\n");
    }
    printf("blobs: %u\n", info.blob_count);
    if (info.fallback != TPM_NVRAM_FALLBACK_NONE) {
        printf("fallback: %s (%s)\n",
               tpm_nvram_fallback_name(info.fallback), info.fallback_why);
    }
    if (info.wipe_pending) {
        printf("wipe pending: the previous key's data is not wiped yet\n");
    }
    return 0;
}

static int do_list(const NvramArgs *a, TPMNvram *nv)
{
    TPMNvramBlobInfo *b = NULL;
    size_t n = 0;
    Error *err = NULL;

    if (tpm_nvram_list(nv, &b, &n, &err) < 0) {
        error_report_err(err);
        return 1;
    }
    if (a->json) {
        QObject *l = qobj_list();
        for (size_t i = 0; i < n; i++) {
            QObject *o = qobj_dict();
            qobj_dict_put(o, "name", qobj_str(b[i].name));
            qobj_dict_put(o, "size", qobj_int(b[i].length));
            qobj_dict_put(o, "generation", qobj_int(b[i].generation));
            qobj_dict_put(o, "crc32", qobj_int(b[i].crc32));
            qobj_list_append(l, o);
        }
        print_json(l);
    } else if (n) {
        printf("%-24s %10s %10s %10s\n", "NAME", "SIZE", "GENERATION",
               "CRC32");
        for (size_t i = 0; i < n; i++) {
            printf("%-24s %10" PRIu64 " %10" PRIu64 " 0x%08" PRIx32 "\n",
                   b[i].name, b[i].length, b[i].generation, b[i].crc32);
        }
    }
    free(b);
    return 0;
}

static int do_check(const NvramArgs *a, TPMNvram *nv, BlockBackend *blk,
                    const char *image)
{
    TPMNvramCheckResult res;
    Error *err = NULL;
    int ret;

    if (tpm_nvram_check(nv, &res, &err) < 0) {
        error_report_err(err);
        return 1;
    }
    bool rolled_back = res.fallback == TPM_NVRAM_FALLBACK_ROLLBACK ||
                       res.fallback == TPM_NVRAM_FALLBACK_UNKNOWN;

    ret = res.check_errors ? 1 : res.corruptions || rolled_back ? 2 :
          res.leaks || res.residue ? 3 : 0;
    if (a->json) {
        QObject *o = qobj_dict();
        qobj_dict_put(o, "filename", qobj_str(image));
        qobj_dict_put(o, "format",
                      qobj_str(bdrv_get_format_name(blk_bs(blk))));
        qobj_dict_put(o, "check-errors", qobj_int(res.check_errors));
        qobj_dict_put(o, "corruptions", qobj_int(res.corruptions));
        qobj_dict_put(o, "leaks", qobj_int(res.leaks));
        qobj_dict_put(o, "authenticated", qobj_bool(res.authenticated));
        qobj_dict_put(o, "previous-slot-damaged",
                      qobj_bool(res.other_slot_damaged));
        qobj_dict_put(o, "fallback",
                      qobj_str(tpm_nvram_fallback_name(res.fallback)));
        qobj_dict_put(o, "residue", qobj_int(res.residue));
        print_json(o);
    } else {
        if (res.messages) {
            fputs(res.messages, stdout);
        }
        if (res.other_slot_damaged &&
            res.fallback == TPM_NVRAM_FALLBACK_NONE) {
            printf("The other directory slot does not verify (an "
                   "interrupted commit?); the next commit overwrites it.\n");
        }
        if (!res.authenticated) {
            printf("Blobs were not authenticated (encrypted store, no "
                   "key given).\n");
        }
        if (res.check_errors) {
            printf("%d errors occurred during the check.\n",
                   res.check_errors);
        } else if (res.corruptions) {
            printf("\n%d errors were found on the TPM NVRAM store.\n"
                   "Data may be corrupted, or further writes to the store "
                   "may corrupt it.\n", res.corruptions);
        } else if (rolled_back) {
            printf("\nThe TPM NVRAM store fell back to an older generation "
                   "than the newest it committed.\n");
        } else if (res.residue) {
            printf("\nData of a previous key (or plaintext) remains in the "
                   "image.\n");
        } else {
            printf("No errors were found on the TPM NVRAM store.\n");
        }
    }
    tpm_nvram_check_result_free(&res);
    return ret;
}

static int do_export(TPMNvram *nv, const char *image, const char *name,
                     const char *file)
{
    uint8_t *data = NULL;
    size_t len = 0;
    Error *err = NULL;
    FILE *f;
    int ret;

    ret = tpm_nvram_load(nv, name, &data, &len, &err);
    if (ret == -ENOENT) {
        error_report("Blob '%s' not found in TPM NVRAM store '%s'", name,
                     image);
        return 1;
    }
    if (ret < 0) {
        error_report_err(err);
        return 1;
    }
    f = strcmp(file, "-") ? fopen(file, "wb") : stdout;
    if (!f) {
        error_report("Could not create '%s': %s", file, strerror(errno));
        qcrypto_wipe_free(data, len);
        return 1;
    }
    if ((len && fwrite(data, 1, len, f) != len) ||
        (f == stdout ? fflush(f) : fclose(f)) != 0) {
        error_report("Could not write '%s': %s", file, strerror(errno));
        ret = 1;
    }
    qcrypto_wipe_free(data, len);
    return ret < 0 ? 0 : ret;
}

static int do_import(TPMNvram *nv, const char *name, const char *file)
{
    const uint8_t *state;
    size_t n;
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    uint8_t *data, *plain = NULL;
    size_t len = 0, cap = 64 * KiB, plain_len = 0;
    Error *err = NULL;
    int ret = 0;

    if (!f) {
        error_report("Could not open '%s': %s", file, strerror(errno));
        return 1;
    }
    data = qemu_xmalloc(cap);
    for (;;) {
        size_t n;
        if (len == cap) {
            if (cap > 64 * MiB) {
                error_report("'%s' is too large for a TPM NVRAM blob", file);
                ret = 1;
                goto out;
            }
            cap *= 2;
            data = qemu_xrealloc(data, cap);
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                error_report("Could not read '%s': %s", file,
                             strerror(errno));
                ret = 1;
                goto out;
            }
            break;
        }
    }
    switch (vtpm_swtpm_file_state(file, data, len, NULL, 0, &state, &n,
                                  &plain, &plain_len, &err)) {
    case 0:
        state = data;
        n = len;
        break;
    case 1:
        break;
    default:
        error_report_err(err);
        err = NULL;
        ret = 1;
        goto out;
    }
    if (tpm_nvram_store(nv, name, state, n, &err) < 0) {
        error_report_err(err);
        ret = 1;
    }
out:
    if (f != stdin) {
        fclose(f);
    }
    qcrypto_wipe_free(data, cap);
    qcrypto_wipe_free(plain, plain_len);
    return ret;
}

static int do_rekey(const NvramArgs *a, TPMNvram *nv)
{
    TPMNvramKey *nk = NULL;
    Error *err = NULL;
    int ret = 0;

    if (nvram_load_key(a->new_key, &nk) < 0) {
        return 1;
    }
    if (tpm_nvram_rekey(nv, nk, &err) < 0) {
        error_report_err(err);
        ret = 1;
    }
    tpm_nvram_key_free(nk);
    return ret;
}

int vtpm_nvram_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "force-share", no_argument, NULL, 'U' },
        { "output", required_argument, NULL, 'o' },
        { "key", required_argument, NULL, 'k' },
        { "new-key", required_argument, NULL, 'n' },
        { "decrypt", no_argument, NULL, 'd' },
        { "lock-timeout", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    NvramArgs a = { 0 };
    TPMNvramOpenOptions nv_opts = TPM_NVRAM_OPEN_OPTIONS_DEFAULT;
    const char *image;
    int want, c, ret;
    TPMNvramKey *key = NULL;
    BlockBackend *blk = NULL;
    TPMNvram *nv = NULL;
    Error *err = NULL;

    if (argc < 2) {
        error_report("Not enough arguments");
        error_report("Try 'qemu-vtpm nvram --help' for more information");
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        nvram_usage(stdout);
        return 0;
    }
    a.cmd = argv[1];
    if (!strcmp(a.cmd, "info") || !strcmp(a.cmd, "list") ||
        !strcmp(a.cmd, "check") || !strcmp(a.cmd, "rekey")) {
        want = 1;
    } else if (!strcmp(a.cmd, "export") || !strcmp(a.cmd, "import")) {
        want = 3;
    } else {
        error_report("Unknown nvram command '%s' (try 'qemu-vtpm nvram "
                     "--help')", a.cmd);
        return 1;
    }
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hf:U", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            nvram_usage(stdout);
            return 0;
        case 'f':
            a.fmt = optarg;
            break;
        case 'U':
            a.force_share = true;
            break;
        case 'o':
            if (!strcmp(optarg, "json")) {
                a.json = true;
            } else if (!strcmp(optarg, "human")) {
                a.json = false;
            } else {
                error_report("--output must be used with human or json as "
                             "argument.");
                return 1;
            }
            break;
        case 'k':
            a.key = optarg;
            break;
        case 'n':
            a.new_key = optarg;
            break;
        case 'd':
            a.decrypt = true;
            break;
        case 't': {
            int64_t ms;
            if (qemu_strtoi64(optarg, NULL, 10, &ms) < 0 || ms < 0) {
                error_report("Invalid --lock-timeout '%s' (milliseconds)",
                             optarg);
                return 1;
            }
            nv_opts.lock_timeout_ms = ms;
            break;
        }
        default:
            if (optopt && optopt != '?') {
                error_report("%s '-%c'", strchr("fU", optopt) ?
                             "Missing argument for option" :
                             "Invalid option", optopt);
            } else {
                error_report("Invalid option '%s'", argv[optind - 1]);
            }
            error_report("Try 'qemu-vtpm nvram --help' for more information");
            return 1;
        }
    }
    if (argc - optind != want) {
        error_report("'%s' expects %s", a.cmd,
                     want == 1 ? "IMAGE" : "IMAGE NAME FILE");
        return 1;
    }
    image = argv[optind];
    a.nargs = argc - optind - 1;
    a.args = argv + optind + 1;
    if (!strcmp(a.cmd, "rekey") && !!a.new_key == a.decrypt) {
        error_report("rekey needs exactly one of --new-key K or --decrypt");
        return 1;
    }
    if ((a.new_key || a.decrypt) && strcmp(a.cmd, "rekey")) {
        error_report("--new-key and --decrypt are only valid for rekey");
        return 1;
    }
    if (a.json && strcmp(a.cmd, "info") && strcmp(a.cmd, "list") &&
        strcmp(a.cmd, "check")) {
        error_report("--output is only valid for info, list and check");
        return 1;
    }
    if (a.force_share && cmd_writes(a.cmd)) {
        error_report("-U (--force-share) is only valid for read-only "
                     "commands");
        return 1;
    }

    if (nvram_load_key(a.key, &key) < 0) {
        return 1;
    }
    blk = nvram_open_image(&a, image, &err);
    if (!blk) {
        error_report_err(err);
        tpm_nvram_key_free(key);
        return 1;
    }
    nv_opts.flags = cmd_writes(a.cmd) || !strcmp(a.cmd, "export") ?
                    0 : !strcmp(a.cmd, "check") ?
                    TPM_NVRAM_OPEN_INSPECT | TPM_NVRAM_OPEN_CHECK :
                    TPM_NVRAM_OPEN_INSPECT;
    nv = tpm_nvram_open_opts(blk, key, &nv_opts, &err);
    tpm_nvram_key_free(key);
    if (!nv) {
        error_report_err(err);
        blk_unref(blk);
        return 1;
    }

    if (!strcmp(a.cmd, "info")) {
        ret = do_info(&a, nv, blk, image);
    } else if (!strcmp(a.cmd, "list")) {
        ret = do_list(&a, nv);
    } else if (!strcmp(a.cmd, "check")) {
        ret = do_check(&a, nv, blk, image);
    } else if (!strcmp(a.cmd, "export")) {
        ret = do_export(nv, image, a.args[0], a.args[1]);
    } else if (!strcmp(a.cmd, "import")) {
        ret = do_import(nv, a.args[0], a.args[1]);
    } else {
        ret = do_rekey(&a, nv);
    }
    tpm_nvram_close(nv);
    blk_unref(blk);
    return ret;
}
