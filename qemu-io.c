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
#include "block/throttle-groups.h"
#include "config-host.h"
#include "qemu-io.h"

#define PROMPT "qemu-io> "

/* The image the commands work on (NULL when none is open). */
static BlockBackend *qemuio_blk;
/* True when given --image-opts. */
static bool qemuio_image_opts;
/* How the current image was opened, for "reopen". */
static struct {
    char *name;
    QDict *opts;
    int flags;
    bool writethrough;
} qemuio_opened;

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

/* What the command line and "open" both say about how to open. */
typedef struct OpenOpts {
    int flags;
    bool readonly, writethrough, force_share;
} OpenOpts;

#define OPEN_OPTS_INIT { .flags = BDRV_O_UNMAP, .writethrough = true }

/*
 * The options the command line and "open" share: -s -n -r -t -d -U -C
 * (copy-on-read), and -k (native AIO: accepted, no effect here).  1 when @c
 * is one of them, 0 when not, -1 after reporting a bad @arg.
 */
static int open_option(int c, const char *arg, OpenOpts *oo)
{
    switch (c) {
    case 's':
        oo->flags |= BDRV_O_SNAPSHOT;
        return 1;
    case 'C':
        oo->flags |= BDRV_O_COPY_ON_READ;
        return 1;
    case 'k':
        return 1;
    case 'n':
        oo->flags |= BDRV_O_NOCACHE;
        oo->writethrough = false;
        return 1;
    case 'r':
        oo->readonly = true;
        return 1;
    case 't':
        if (bdrv_parse_cache_mode(arg, &oo->flags, &oo->writethrough) < 0) {
            error_report("Invalid cache option: %s", arg);
            return -1;
        }
        return 1;
    case 'd':
        /* QEMU's names; unmap is always on here. */
        if (strcmp(arg, "ignore") && strcmp(arg, "off") &&
            strcmp(arg, "unmap") && strcmp(arg, "on")) {
            error_report("Invalid discard option: %s", arg);
            return -1;
        }
        return 1;
    case 'U':
        oo->force_share = true;
        return 1;
    default:
        return 0;
    }
}

static void forget_opened(void)
{
    free(qemuio_opened.name);
    qdict_free(qemuio_opened.opts);
    memset(&qemuio_opened, 0, sizeof(qemuio_opened));
}

/*
 * Open @name (may be NULL when @opts names the file) as the current image;
 * @opts is consumed.  Prints "can't open device ..." and returns 1 on error.
 */
static int openfile(const char *name, const OpenOpts *oo, QDict *opts)
{
    int flags = oo->flags | (oo->readonly ? 0 : BDRV_O_RDWR);
    Error *err = NULL;

    if (qemuio_blk) {
        error_report("file open already, try 'help close'");
        qdict_free(opts);
        return 1;
    }
    if (oo->force_share) {
        const char *fs;

        if (!opts) {
            opts = qdict_new();
        }
        fs = qdict_get_str(opts, "force-share");
        if (fs && strcmp(fs, "on")) {
            error_report("-U conflicts with image options");
            qdict_free(opts);
            return 1;
        }
        qdict_put_str(opts, "force-share", "on");
    }
    forget_opened();
    qemuio_opened.opts = opts ? qdict_clone(opts) : qdict_new();
    qemuio_blk = blk_new_open(name, opts, flags, &err);
    if (!qemuio_blk) {
        error_prepend(&err, "can't open%s%s: ", name ? " device " : "",
                      name ? name : "");
        error_report_err(err);
        forget_opened();
        return 1;
    }
    blk_set_enable_write_cache(qemuio_blk, !oo->writethrough);
    qemuio_opened.name = name ? qemu_xstrdup(name) : NULL;
    qemuio_opened.flags = flags;
    qemuio_opened.writethrough = oo->writethrough;
    return 0;
}

static void open_help(void)
{
    printf("\n"
           " opens a new image file for the other commands\n"
           "\n"
           " Example:\n"
           " 'open -r -o driver=raw disk.img' - opens disk.img read-only\n"
           "\n"
           " -r, -- open the image read-only\n"
           " -s, -- use snapshot file (writes go to a temporary overlay)\n"
           " -U, -- share every permission (read-only opens only)\n"
           " -n, -- bypass the host cache (cache mode none)\n"
           " -t, -- cache mode (none, writeback, writethrough, directsync,\n"
           "        unsafe)\n"
           " -f, -- format of the image (same as -o driver=FMT)\n"
           " -o, -- block options, e.g. driver=qcow2,file.locking=off\n"
           "\n");
}

static int open_f(BlockBackend *blk, int argc, char **argv);
static int close_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo open_cmd = {
    .name = "open", .altname = "o", .cfunc = open_f, .argmin = 1,
    .argmax = -1, .nofile_ok = true,
    .args = "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
    .oneline = "open the file specified by path", .help = open_help,
};

static int open_f(BlockBackend *blk, int argc, char **argv)
{
    OpenOpts oo = OPEN_OPTS_INIT;
    QDict *opts = NULL;
    Error *err = NULL;
    int c, ret;

    while ((c = getopt(argc, argv, "snCro:kt:d:Uf:")) != -1) {
        switch (c) {
        case 'o':
            if (qemuio_image_opts) {
                printf("--image-opts and 'open -o' are mutually "
                       "exclusive\n");
                qdict_free(opts);
                return -EINVAL;
            }
            if (qdict_parse_keyval(&opts, optarg, NULL, &err) < 0) {
                error_report_err(err);
                qdict_free(opts);
                return -EINVAL;
            }
            break;
        case 'f':
            if (!opts) {
                opts = qdict_new();
            }
            qdict_put_str(opts, "driver", optarg);
            break;
        default:
            ret = open_option(c, optarg, &oo);
            if (ret <= 0) {
                if (!ret) {
                    qemuio_command_usage(&open_cmd);
                }
                qdict_free(opts);
                return -EINVAL;
            }
            break;
        }
    }
    if (qemuio_image_opts && optind == argc - 1) {
        if (qdict_parse_keyval(&opts, argv[optind], NULL, &err) < 0) {
            error_report_err(err);
            qdict_free(opts);
            return -EINVAL;
        }
        optind++;
    }
    if (optind == argc - 1) {
        ret = openfile(argv[optind], &oo, opts);
    } else if (optind == argc) {
        ret = openfile(NULL, &oo, opts);
    } else {
        qdict_free(opts);
        qemuio_command_usage(&open_cmd);
        return -EINVAL;
    }
    return ret ? -EINVAL : 0;
}

static int close_f(BlockBackend *blk, int argc, char **argv)
{
    qemuio_complete_aio();
    blk_unref(qemuio_blk);
    qemuio_blk = NULL;
    forget_opened();
    return 0;
}

static const CmdInfo close_cmd = {
    .name = "close", .altname = "c", .cfunc = close_f, .argmin = 0,
    .argmax = 0, .oneline = "close the current open file",
};

/*
 * Open the current image again with @opts and @flags in place of what it
 * was opened with (the node is closed first: its caches written, a lazy
 * refcounts image marked clean).  @opts is consumed.
 */
static int reopen_image(QDict *opts, int flags, bool writethrough,
                        Error **errp)
{
    BlockBackend *blk;

    qemuio_complete_aio();
    blk_unref(qemuio_blk);
    qemuio_blk = NULL;
    blk = blk_new_open(qemuio_opened.name, qdict_clone(opts), flags, errp);
    if (!blk) {
        qdict_free(opts);
        return -EINVAL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    qemuio_blk = blk;
    qdict_free(qemuio_opened.opts);
    qemuio_opened.opts = opts;
    qemuio_opened.flags = flags;
    qemuio_opened.writethrough = writethrough;
    return 0;
}

static void reopen_help(void)
{
    printf("\n"
           " Changes the open options of an already opened image\n"
           "\n"
           " Example:\n"
           " 'reopen -o lazy-refcounts=on' - activates lazy refcount "
           "writeback on a qcow2 image\n"
           "\n"
           " -r, -- Reopen the image read-only\n"
           " -w, -- Reopen the image read-write\n"
           " -c, -- Change the cache mode to the given value\n"
           " -o, -- Changes block driver options (cf. 'open' command)\n"
           "\n");
}

static int reopen_f(BlockBackend *blk, int argc, char **argv);

static const CmdInfo reopen_cmd = {
    .name = "reopen", .cfunc = reopen_f, .argmin = 0, .argmax = -1,
    .args = "[(-r|-w)] [-c cache] [-o options]",
    .oneline = "reopens an image with new options", .help = reopen_help,
};

/*
 * QEMU's reopen, done as a close and an open of the same node tree: the
 * image's locks are released for that moment.  If the new open fails, the
 * image is opened again as it was.
 */
static int reopen_f(BlockBackend *blk, int argc, char **argv)
{
    int flags = qemuio_opened.flags, c, rw = 0;
    bool writethrough = qemuio_opened.writethrough, cache = false;
    QDict *changes = NULL, *opts;
    Error *err = NULL;

    while ((c = getopt(argc, argv, "c:o:rw")) != -1) {
        switch (c) {
        case 'c':
            cache = true;
            if (bdrv_parse_cache_mode(optarg, &flags, &writethrough) < 0) {
                error_report("Invalid cache option: %s", optarg);
                qdict_free(changes);
                return -EINVAL;
            }
            break;
        case 'o':
            if (qdict_parse_keyval(&changes, optarg, NULL, &err) < 0) {
                error_report_err(err);
                qdict_free(changes);
                return -EINVAL;
            }
            break;
        case 'r':
        case 'w':
            if (rw) {
                error_report("Only one -r/-w option may be given");
                qdict_free(changes);
                return -EINVAL;
            }
            rw = c;
            break;
        default:
            qdict_free(changes);
            qemuio_command_usage(&reopen_cmd);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        qdict_free(changes);
        qemuio_command_usage(&reopen_cmd);
        return -EINVAL;
    }
    if (flags & BDRV_O_SNAPSHOT) {
        error_report("reopen: not supported for an image opened with -s "
                     "(its temporary overlay would be lost)");
        qdict_free(changes);
        return -ENOTSUP;
    }
    if (rw && changes && qdict_haskey(changes, "read-only")) {
        error_report("Cannot set both -r/-w and 'read-only'");
        qdict_free(changes);
        return -EINVAL;
    }
    if (cache && changes && (qdict_haskey(changes, "cache.direct") ||
                             qdict_haskey(changes, "cache.no-flush"))) {
        error_report("Cannot set both -c and the cache options");
        qdict_free(changes);
        return -EINVAL;
    }
    if (rw == 'r') {
        flags &= ~BDRV_O_RDWR;
    } else if (rw == 'w') {
        flags |= BDRV_O_RDWR;
    }
    if (changes && bdrv_reopen_check_options(blk_bs(blk), qemuio_opened.opts,
                                             changes, &err) < 0) {
        error_report_err(err);
        qdict_free(changes);
        return -EINVAL;
    }
    opts = bdrv_reopen_options(blk_bs(blk), qemuio_opened.opts, changes);
    qdict_free(changes);
    /* -r/-w and -c replace what the options said before. */
    if (rw) {
        qdict_del(opts, "read-only");
    }
    if (cache) {
        qdict_del(opts, "cache.direct");
        qdict_del(opts, "cache.no-flush");
    }
    if (reopen_image(opts, flags, writethrough, &err) < 0) {
        error_report_err(err);
        if (reopen_image(qdict_clone(qemuio_opened.opts),
                         qemuio_opened.flags, qemuio_opened.writethrough,
                         &err) < 0) {
            error_prepend(&err, "can't open the image again: ");
            error_report_err(err);
            forget_opened();
        }
        return -EINVAL;
    }
    return 0;
}

static int command_loop(char **cmdline, int ncmdline)
{
    int i, ret, last_error = 0;
    char *input;

    for (i = 0; !qemuio_quit && i < ncmdline; i++) {
        ret = qemuio_command(qemuio_blk, cmdline[i]);
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
        ret = qemuio_command(qemuio_blk, input);
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
    int ncmdline = 0, c, ret, last_error;
    OpenOpts oo = OPEN_OPTS_INIT;
    QDict *opts = NULL;
    Error *err = NULL;

    error_set_progname("qemu-io");
    qemuio_add_command(&open_cmd);
    qemuio_add_command(&close_cmd);
    qemuio_add_command(&reopen_cmd);
#ifdef _WIN32
    setvbuf(stderr, NULL, _IONBF, 0);
#endif

    while ((c = getopt_long(argc, argv, sopt, lopt, NULL)) != -1) {
        switch (c) {
        case 'm':
        case 'T':
            /* Accepted for compatibility; no effect here. */
            break;
        case 'f':
            format = optarg;
            break;
        case 'c':
            cmdline = qemu_xrealloc(cmdline, (ncmdline + 1) *
                                    sizeof(*cmdline));
            cmdline[ncmdline++] = optarg;
            break;
        case 'i':
            if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
                strcmp(optarg, "io_uring")) {
                error_report("Invalid aio option: %s", optarg);
                exit(1);
            }
            break;
        case 'V':
            printf("%s version " QEMU_VERSION "\n", error_get_progname());
            exit(0);
        case 'h':
            usage(error_get_progname());
            exit(0);
        case 'O': {
            Error *err = NULL;

            if (bdrv_object_add(optarg, &err) < 0) {
                error_report_err(err);
                exit(1);
            }
            break;
        }
        case 'I':
            qemuio_image_opts = true;
            break;
        default:
            ret = open_option(c, optarg, &oo);
            if (ret <= 0) {
                if (!ret) {
                    usage(error_get_progname());
                }
                exit(1);
            }
            break;
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
    if (argc - optind == 1) {
        if (qemuio_image_opts) {
            if (qdict_parse_keyval(&opts, argv[optind], NULL, &err) < 0) {
                error_report_err(err);
                qdict_free(opts);
                exit(1);
            }
            if (openfile(NULL, &oo, opts)) {
                exit(1);
            }
        } else {
            if (format) {
                opts = qdict_new();
                qdict_put_str(opts, "driver", format);
            }
            if (openfile(argv[optind], &oo, opts)) {
                exit(1);
            }
        }
    }

    last_error = command_loop(cmdline, ncmdline);
    free(cmdline);
    qemuio_complete_aio();
    /*
     * As QEMU: the image is closed before buffered output is flushed at
     * exit, so close-time warnings precede it on a shared pipe.
     */
    if (qemuio_blk) {
        blk_unref(qemuio_blk);
        qemuio_blk = NULL;
    }
    forget_opened();
    fflush(stdout);
    return last_error ? 1 : 0;
}
