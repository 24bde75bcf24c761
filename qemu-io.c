/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io.c: the disk exerciser's front end: command-line options, opening
 * the image, then running -c commands or reading commands from stdin.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/error.h"
#include "qemu/qdict.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "config-host.h"
#include "qemu-io.h"

#define PROMPT "qemu-io> "

static void usage(const char *name)
{
    printf("Usage: %s [OPTIONS]... [-c STRING]... [file]\n"
           "Exercise a disk image with read, write and lock commands\n"
           "\n"
           "  --image-opts         treat file as option string\n"
           "  -c, --cmd STRING     execute command with its arguments\n"
           "                       from the given string\n"
           "  -f, --format FMT     specifies the block driver to use\n"
           "  -r, --read-only      export read-only\n"
           "  -s, --snapshot       use snapshot file\n"
           "  -n, --nocache        disable host cache, short for -t none\n"
           "  -m, --misalign       accepted; has no effect\n"
           "  -i, --aio=MODE       accepted (threads, native or io_uring)\n"
           "  -t, --cache=MODE     use the given cache mode for the image\n"
           "  -d, --discard=MODE   use the given discard mode for the image\n"
           "  -U, --force-share    force shared permissions\n"
           "  -h, --help           display this help and exit\n"
           "  -V, --version        output version information and exit\n"
           "\n"
           "See '%s -c help' for information on available commands.\n",
           name, name);
}

/* Read one line of any length from @f (NULL at end of file). */
static char *read_line(FILE *f)
{
    size_t len = 0, cap = 128;
    char *buf = qemu_xmalloc(cap);
    int c;

    while ((c = fgetc(f)) != EOF) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = qemu_xrealloc(buf, cap);
        }
        if (c == '\n') {
            break;
        }
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int command_loop(char **cmdline, int ncmdline)
{
    int i, ret, last_error = 0;
    char *input;

    for (i = 0; !qemuio_quit && i < ncmdline; i++) {
        ret = qemuio_command(cmdline[i]);
        if (ret < 0) {
            last_error = ret;
        }
    }
    if (ncmdline) {
        return last_error;
    }
    while (!qemuio_quit) {
        printf("%s", PROMPT);
        fflush(stdout);
        input = read_line(stdin);
        if (!input) {
            break;
        }
        ret = qemuio_command(input);
        free(input);
        if (ret < 0) {
            last_error = ret;
        }
    }
    return last_error;
}

int main(int argc, char **argv)
{
    static const struct option lopt[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "cmd", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "read-only", no_argument, NULL, 'r' },
        { "snapshot", no_argument, NULL, 's' },
        { "nocache", no_argument, NULL, 'n' },
        { "copy-on-read", no_argument, NULL, 'C' },
        { "misalign", no_argument, NULL, 'm' },
        { "native-aio", no_argument, NULL, 'k' },
        { "aio", required_argument, NULL, 'i' },
        { "discard", required_argument, NULL, 'd' },
        { "cache", required_argument, NULL, 't' },
        { "trace", required_argument, NULL, 'T' },
        { "object", required_argument, NULL, 'O' },
        { "image-opts", no_argument, NULL, 'I' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *sopt = "hVc:d:f:rsnCmki:t:T:U";
    const char *format = NULL;
    char **cmdline = NULL;
    int ncmdline = 0, c, flags = BDRV_O_UNMAP, last_error;
    bool readonly = false, writethrough = true, force_share = false;
    QDict *opts = NULL;
    Error *err = NULL;

    error_set_progname("qemu-io");
#ifdef _WIN32
    setvbuf(stderr, NULL, _IONBF, 0);
#endif

    while ((c = getopt_long(argc, argv, sopt, lopt, NULL)) != -1) {
        switch (c) {
        case 's':
            flags |= BDRV_O_SNAPSHOT;
            break;
        case 'C':
        case 'm':
        case 'k':
        case 'T':
            /* Accepted for compatibility; no effect here. */
            break;
        case 'n':
            flags |= BDRV_O_NOCACHE;
            writethrough = false;
            break;
        case 'd':
            if (strcmp(optarg, "ignore") && strcmp(optarg, "off") &&
                strcmp(optarg, "unmap") && strcmp(optarg, "on")) {
                error_report("Invalid discard option: %s", optarg);
                exit(1);
            }
            break;
        case 'f':
            format = optarg;
            break;
        case 'c':
            cmdline = qemu_xrealloc(cmdline, (ncmdline + 1) *
                                    sizeof(*cmdline));
            cmdline[ncmdline++] = optarg;
            break;
        case 'r':
            readonly = true;
            break;
        case 'i':
            if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
                strcmp(optarg, "io_uring")) {
                error_report("Invalid aio option: %s", optarg);
                exit(1);
            }
            break;
        case 't':
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                exit(1);
            }
            break;
        case 'V':
            printf("%s version " QEMU_VERSION "\n", error_get_progname());
            exit(0);
        case 'h':
            usage(error_get_progname());
            exit(0);
        case 'U':
            force_share = true;
            break;
        case 'O':
            error_report("--object is not supported");
            exit(1);
        case 'I':
            qemuio_image_opts = true;
            break;
        default:
            usage(error_get_progname());
            exit(1);
        }
    }

    if (argc - optind > 1) {
        usage(error_get_progname());
        exit(1);
    }
    if (format && qemuio_image_opts) {
        error_report("--image-opts and -f are mutually exclusive");
        exit(1);
    }
    if (!readonly) {
        flags |= BDRV_O_RDWR;
    }

    if (argc - optind == 1) {
        if (qemuio_image_opts) {
            if (qdict_parse_keyval(&opts, argv[optind], NULL, &err) < 0) {
                error_report_err(err);
                qdict_free(opts);
                exit(1);
            }
            if (qemuio_openfile(NULL, flags, writethrough, force_share,
                                opts)) {
                exit(1);
            }
        } else {
            if (format) {
                opts = qdict_new();
                qdict_put_str(opts, "driver", format);
            }
            if (qemuio_openfile(argv[optind], flags, writethrough,
                                force_share, opts)) {
                exit(1);
            }
        }
    }

    last_error = command_loop(cmdline, ncmdline);
    free(cmdline);
    fflush(stdout);
    if (qemuio_blk) {
        blk_unref(qemuio_blk);
        qemuio_blk = NULL;
    }
    return last_error ? 1 : 0;
}
