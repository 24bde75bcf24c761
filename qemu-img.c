/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img.c: the disk image utility (create, info, check, convert, resize,
 * compare, map, snapshot, rebase, commit, amend).  Syntax, messages, exit
 * codes and JSON follow qemu-img 7.2; all I/O goes through the block
 * layer's bdrv_ and blk_ functions.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/error.h"
#include "qemu/option.h"
#include "qemu/qdict.h"
#include "qemu/qobject.h"
#include "block/block.h"
#include "block/block-backend.h"
#include "block/block_int.h" /* BlockDriver.amend_opts */
#include "config-host.h"

#define IO_BUF_SIZE (2 * MiB)
#define BDRV_SECTOR_SIZE 512

enum {
    OPTION_OUTPUT = 256,
    OPTION_BACKING_CHAIN,
    OPTION_OBJECT,
    OPTION_IMAGE_OPTS,
    OPTION_TARGET_IMAGE_OPTS,
    OPTION_SHRINK,
    OPTION_PREALLOCATION,
    OPTION_START_OFFSET,
    OPTION_MAX_LENGTH,
    OPTION_FORCE,
};

typedef enum OutputFormat {
    OFORMAT_HUMAN,
    OFORMAT_JSON,
} OutputFormat;

/* ---- small helpers ---------------------------------------------------- */

static void QEMU_PRINTF(1, 2) error_exit(const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    error_report("%s", msg);
    free(msg);
    fprintf(stderr, "Try 'qemu-img --help' for more information\n");
    exit(EXIT_FAILURE);
}

static void unrecognized_option(const char *option)
{
    error_exit("unrecognized option '%s'", option);
}

static void missing_argument(const char *option)
{
    error_exit("missing argument for option '%s'", option);
}

/* Shared handling of getopt's ':' and '?' returns. */
static void bad_option(int c, char **argv)
{
    if (c == ':') {
        missing_argument(argv[optind - 1]);
    }
    unrecognized_option(argv[optind - 1]);
}

static void QEMU_PRINTF(2, 3) qprintf(bool quiet, const char *fmt, ...)
{
    va_list ap;

    if (quiet) {
        return;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* Report an Error with a prefix, then free it (QEMU's error_reportf_err). */
static void QEMU_PRINTF(2, 3) error_reportf_err(Error *err, const char *fmt,
                                                ...)
{
    va_list ap;
    char *prefix;

    va_start(ap, fmt);
    prefix = qemu_xvasprintf(fmt, ap);
    va_end(ap);
    error_prepend(&err, "%s", prefix);
    free(prefix);
    error_report_err(err);
}

/* Warnings from the library: "WARNING: ..." blocks are printed verbatim. */
static void img_warning_sink(const char *msg, void *opaque)
{
    if (strstart(msg, "WARNING:", NULL)) {
        fprintf(stderr, "%s\n", msg);
    } else {
        fprintf(stderr, "%s: warning: %s\n", error_get_progname(), msg);
    }
}

/* Per-problem lines of a format's check go to stderr, as in QEMU. */
static void img_check_report(const char *line, void *opaque)
{
    fprintf(stderr, "%s\n", line);
}

static int parse_output_format(const char *arg, OutputFormat *fmt)
{
    if (!strcmp(arg, "json")) {
        *fmt = OFORMAT_JSON;
    } else if (!strcmp(arg, "human")) {
        *fmt = OFORMAT_HUMAN;
    } else {
        error_report("--output must be used with human or json as argument.");
        return -1;
    }
    return 0;
}

/* QEMU's cvtnum(): sizes with suffixes, range-checked. */
static int64_t cvtnum_full(const char *name, const char *value, int64_t min,
                           int64_t max)
{
    uint64_t res;
    int err;

    err = qemu_strtosz(value, NULL, &res);
    if (err < 0 && err != -ERANGE) {
        error_report("Invalid %s specified. You may use "
                     "k, M, G, T, P or E suffixes for", name);
        error_report("kilobytes, megabytes, gigabytes, terabytes, "
                     "petabytes and exabytes.");
        return err;
    }
    if (err == -ERANGE || res > (uint64_t)max || (int64_t)res < min) {
        error_report("Invalid %s specified. Must be between %" PRId64
                     " and %" PRId64 ".", name, min, max);
        return -ERANGE;
    }
    return (int64_t)res;
}

static int64_t cvtnum(const char *name, const char *value)
{
    return cvtnum_full(name, value, 0, INT64_MAX);
}

/* True if the comma-separated option string contains "help" or "?". */
static bool has_help_option(const char *opts)
{
    const char *p = opts, *end;
    size_t len;

    while (p && *p) {
        end = strchr(p, ',');
        len = end ? (size_t)(end - p) : strlen(p);
        if ((len == 4 && !strncmp(p, "help", 4)) ||
            (len == 1 && p[0] == '?')) {
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Append "-o" arguments the way QEMU accumulates them ("a,b"). */
static char *accumulate_options(char *options, const char *value)
{
    char *joined;

    if (!options) {
        return qemu_xstrdup(value);
    }
    joined = qemu_xasprintf("%s,%s", options, value);
    free(options);
    return joined;
}

/* Cache mode names: "none", "writeback", ... -> flags and write cache. */
static int parse_cache_mode(const char *mode, int *flags, bool *writethrough)
{
    *flags &= ~BDRV_O_NOCACHE;
    if (!strcmp(mode, "none") || !strcmp(mode, "off")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = false;
    } else if (!strcmp(mode, "directsync")) {
        *flags |= BDRV_O_NOCACHE;
        *writethrough = true;
    } else if (!strcmp(mode, "writeback")) {
        *writethrough = false;
    } else if (!strcmp(mode, "unsafe")) {
        *writethrough = false;
    } else if (!strcmp(mode, "writethrough")) {
        *writethrough = true;
    } else {
        return -1;
    }
    return 0;
}

/*
 * Resolve @name relative to the directory of @base (QEMU's path_combine):
 * absolute names are kept, relative ones get base's directory prepended.
 */
static char *path_combine(const char *base, const char *name)
{
    const char *p, *sep = NULL;

    if (name[0] == '/'
#ifdef _WIN32
        || name[0] == '\\' || (name[0] && name[1] == ':')
#endif
        || strstr(name, "://")) {
        return qemu_xstrdup(name);
    }
    for (p = base; *p; p++) {
        if (*p == '/'
#ifdef _WIN32
            || *p == '\\' || (p == base + 1 && *p == ':')
#endif
            ) {
            sep = p;
        }
    }
    if (!sep) {
        return qemu_xstrdup(name);
    }
    return qemu_xasprintf("%.*s%s", (int)(sep - base + 1), base, name);
}

/* ---- progress (qemu-img -p) ------------------------------------------ */

static struct {
    bool enabled;
    float current;
    float last_print;
    float min_skip;
} progress;

static void qemu_progress_init(bool enabled, float min_skip)
{
    progress.enabled = enabled;
    progress.current = 0;
    progress.last_print = 0;
    progress.min_skip = min_skip;
}

/* Add @delta percent of @max (or set @delta absolutely if max is 0). */
static void qemu_progress_print(float delta, int max)
{
    float current;

    if (!progress.enabled) {
        return;
    }
    if (max == 0) {
        current = delta;
    } else {
        current = progress.current + delta / 100 * max;
    }
    if (current > 100) {
        current = 100;
    }
    progress.current = current;
    if (current > progress.last_print + progress.min_skip ||
        current == 100 || current == 0) {
        progress.last_print = current;
        printf("    (%3.2f/100%%)\r", current);
        fflush(stdout);
    }
}

static void qemu_progress_end(void)
{
    if (progress.enabled) {
        printf("\n");
        fflush(stdout);
        progress.enabled = false;
    }
}

/* ---- opening images --------------------------------------------------- */

static BlockBackend *img_open_opts(const char *optstr, int flags,
                                   bool writethrough, bool force_share)
{
    QDict *options = NULL;
    BlockBackend *blk;
    Error *err = NULL;
    bool fs;

    if (qdict_parse_keyval(&options, optstr, NULL, &err) < 0) {
        error_report_err(err);
        qdict_free(options);
        return NULL;
    }
    if (force_share) {
        if (qdict_haskey(options, "force-share")) {
            if (qdict_get_bool(options, "force-share", false, &fs,
                               NULL) < 0 || !fs) {
                error_report("--force-share/-U conflicts with image "
                             "options");
                qdict_free(options);
                return NULL;
            }
        }
        qdict_put_str(options, "force-share", "on");
    }
    blk = blk_new_open(NULL, options, flags, &err);
    if (!blk) {
        error_reportf_err(err, "Could not open '%s': ", optstr);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

static BlockBackend *img_open_file(const char *filename, QDict *options,
                                   const char *fmt, int flags,
                                   bool writethrough, bool force_share)
{
    BlockBackend *blk;
    Error *err = NULL;

    if (!options) {
        options = qdict_new();
    }
    if (fmt) {
        qdict_put_str(options, "driver", fmt);
    }
    if (force_share) {
        qdict_put_str(options, "force-share", "on");
    }
    blk = blk_new_open(filename, options, flags, &err);
    if (!blk) {
        error_reportf_err(err, "Could not open '%s': ", filename);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

static BlockBackend *img_open(bool image_opts, const char *filename,
                              const char *fmt, int flags, bool writethrough,
                              bool force_share)
{
    if (image_opts) {
        if (fmt) {
            error_report("--image-opts and --format are mutually exclusive");
            return NULL;
        }
        return img_open_opts(filename, flags, writethrough, force_share);
    }
    return img_open_file(filename, NULL, fmt, flags, writethrough,
                         force_share);
}

/* ---- create ----------------------------------------------------------- */

static const QemuOptDesc *file_create_opts(void)
{
    BlockDriver *proto = bdrv_find_format("file");

    return proto ? bdrv_create_opts(proto) : NULL;
}

static const char *opt_type_name(QemuOptType type)
{
    switch (type) {
    case QEMU_OPT_STRING:
        return "str";
    case QEMU_OPT_BOOL:
        return "bool (on/off)";
    case QEMU_OPT_NUMBER:
        return "num";
    case QEMU_OPT_SIZE:
        return "size";
    }
    return "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Seen earlier in @lists[0..li-1] or earlier in the same list? */
static bool opt_listed_before(const QemuOptDesc *const *lists, size_t li,
                              size_t di)
{
    size_t l, d;

    for (l = 0; l <= li; l++) {
        if (!lists[l]) {
            continue;
        }
        for (d = 0; lists[l][d].name && (l < li || d < di); d++) {
            if (!strcmp(lists[l][d].name, lists[li][di].name)) {
                return true;
            }
        }
    }
    return false;
}

/* QEMU's qemu_opts_print_help(): sorted "  name=<type>   - help" lines. */
static void print_opts_help(const QemuOptDesc *const *lists, size_t nlists)
{
    char **lines = NULL;
    size_t n = 0, li, di, i;

    for (li = 0; li < nlists; li++) {
        for (di = 0; lists[li] && lists[li][di].name; di++) {
            const QemuOptDesc *desc = &lists[li][di];
            char *line, *full;
            int len;

            if (opt_listed_before(lists, li, di)) {
                continue;
            }
            line = qemu_xasprintf("  %s=<%s>", desc->name,
                                  opt_type_name(desc->type));
            if (desc->help) {
                len = (int)strlen(line);
                full = qemu_xasprintf("%s%*s - %s", line,
                                      len < 24 ? 24 - len : 0, "",
                                      desc->help);
                free(line);
                line = full;
            }
            lines = qemu_xrealloc(lines, (n + 1) * sizeof(*lines));
            lines[n++] = line;
        }
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    for (i = 0; i < n; i++) {
        printf("%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
}

/* Amend help: the format's options (qemu-img amend -o help). */
static int print_amend_option_help(const char *fmt)
{
    const QemuOptDesc *lists[1];
    BlockDriver *drv = bdrv_find_format(fmt);

    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    lists[0] = drv->amend_opts ? drv->amend_opts : bdrv_create_opts(drv);
    if (!lists[0]) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        return 1;
    }
    printf("Amend options for '%s':\n", fmt);
    print_opts_help(lists, 1);
    return 0;
}

static int print_block_option_help(const char *filename, const char *fmt)
{
    const QemuOptDesc *lists[2];
    BlockDriver *drv;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    lists[0] = bdrv_create_opts(drv);
    if (!lists[0]) {
        error_report("Format driver '%s' does not support image creation",
                     fmt);
        return 1;
    }
    lists[1] = filename ? file_create_opts() : NULL;
    if (filename) {
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", fmt);
    }
    print_opts_help(lists, 2);
    if (!filename) {
        printf("\nThe protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
    return 0;
}

/*
 * The "Formatting '...', fmt=... " line: every create option in list order
 * that is set or has a default; sizes and numbers in bytes.
 */
static void print_create_opts(const QDict *opts, const QemuOptDesc *const *lists,
                              size_t nlists)
{
    const char *sep = "";
    size_t li, di;

    for (li = 0; li < nlists; li++) {
        for (di = 0; lists[li] && lists[li][di].name; di++) {
            const QemuOptDesc *desc = &lists[li][di];
            const char *val = qdict_get_str(opts, desc->name);
            uint64_t num;

            if (opt_listed_before(lists, li, di)) {
                continue;
            }
            if (val && (desc->type == QEMU_OPT_SIZE ||
                        desc->type == QEMU_OPT_NUMBER)) {
                int r = desc->type == QEMU_OPT_SIZE ?
                        qemu_strtosz(val, NULL, &num) :
                        qemu_strtou64(val, NULL, 0, &num);
                if (r == 0) {
                    printf("%s%s=%" PRIu64, sep, desc->name, num);
                    sep = " ";
                    continue;
                }
            }
            if (!val) {
                val = desc->def_value_str;
            }
            if (!val) {
                continue;
            }
            printf("%s%s=", sep, desc->name);
            if (desc->type == QEMU_OPT_STRING) {
                /* Commas are doubled, as in an option string. */
                for (; *val; val++) {
                    fputs(*val == ',' ? ",," : (char[]){ *val, 0 }, stdout);
                }
            } else {
                fputs(val, stdout);
            }
            sep = " ";
        }
    }
}

/*
 * QEMU's bdrv_img_create(): validate options, find the size (possibly from
 * the backing file), print the Formatting line, create.
 */
static int img_create_image(const char *filename, const char *fmt,
                            const char *base_filename, const char *base_fmt,
                            const char *options, int64_t img_size,
                            bool unsafe, bool quiet, Error **errp)
{
    const QemuOptDesc *lists[3] = { NULL, NULL, NULL };
    BlockDriver *drv;
    QDict *opts = NULL;
    const char *backing_file, *backing_fmt, *sizestr;
    uint64_t size = UINT64_MAX;
    int ret = -EINVAL;

    drv = bdrv_find_format(fmt);
    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return -EINVAL;
    }
    lists[0] = bdrv_create_opts(drv);
    if (!lists[0]) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   fmt);
        return -ENOTSUP;
    }
    lists[1] = file_create_opts();

    opts = qdict_new();
    if (options && qdict_parse_keyval(&opts, options, NULL, errp) < 0) {
        goto out;
    }
    if (qemu_opts_validate(opts, lists, errp) < 0) {
        goto out;
    }
    sizestr = qdict_get_str(opts, "size");
    if (sizestr) {
        if (img_size != -1) {
            error_setg(errp, "The image size must be specified only once");
            goto out;
        }
        if (qemu_strtosz(sizestr, NULL, &size) < 0) {
            size = UINT64_MAX;
        }
    } else if (img_size != -1) {
        size = (uint64_t)img_size;
    }
    if (base_filename) {
        if (!qemu_opt_find_desc(lists[0], "backing_file")) {
            error_setg(errp, "Backing file not supported for file format "
                       "'%s'", fmt);
            goto out;
        }
        qdict_put_str(opts, "backing_file", base_filename);
    }
    if (base_fmt) {
        if (!qemu_opt_find_desc(lists[0], "backing_fmt")) {
            error_setg(errp, "Backing file format not supported for file "
                       "format '%s'", fmt);
            goto out;
        }
        qdict_put_str(opts, "backing_fmt", base_fmt);
    }

    backing_file = qdict_get_str(opts, "backing_file");
    backing_fmt = qdict_get_str(opts, "backing_fmt");
    if (backing_file) {
        if (!strcmp(filename, backing_file)) {
            error_setg(errp, "Error: Trying to create an image with the "
                       "same filename as the backing file");
            goto out;
        }
        if (backing_file[0] == '\0') {
            error_setg(errp, "Expected backing file name, got empty string");
            goto out;
        }
    }
    if (backing_file && !unsafe) {
        char *full = path_combine(filename, backing_file);
        QDict *bopts = qdict_new();
        BlockDriverState *bs;
        Error *local_err = NULL;

        if (backing_fmt) {
            qdict_put_str(bopts, "driver", backing_fmt);
        }
        qdict_put_str(bopts, "force-share", "on");
        bs = bdrv_open(full, bopts, BDRV_O_NO_IO, &local_err);
        free(full);
        if (!bs) {
            error_append_hint(&local_err, "Could not open backing image.\n");
            error_propagate(errp, local_err);
            goto out;
        }
        if (!backing_fmt) {
            error_setg(errp, "Backing file specified without backing format");
            error_append_hint(errp, "Detected format of %s.",
                              bdrv_get_format_name(bs));
            bdrv_unref(bs);
            goto out;
        }
        if (size == UINT64_MAX) {
            int64_t len = bdrv_getlength(bs);

            if (len < 0) {
                error_setg_errno(errp, (int)-len, "Could not get size of '%s'",
                                 backing_file);
                bdrv_unref(bs);
                goto out;
            }
            size = (uint64_t)len;
        }
        bdrv_unref(bs);
    } else if (backing_file && !backing_fmt) {
        error_setg(errp, "Backing file specified without backing format");
        goto out;
    }

    if (size == UINT64_MAX) {
        error_setg(errp, "Image creation needs a size parameter");
        goto out;
    }
    {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, size);
        qdict_put_str(opts, "size", buf);
    }

    if (!quiet) {
        printf("Formatting '%s', fmt=%s ", filename, fmt);
        print_create_opts(opts, lists, 2);
        printf("\n");
        fflush(stdout);
    }
    ret = bdrv_create(drv, filename, opts, errp);
    if (ret == -EFBIG) {
        const char *hint = qdict_haskey(opts, "cluster_size") ?
                           " (try using a larger cluster size)" : "";
        Error *big = NULL;

        error_setg(&big, "The image size is too large for file format "
                   "'%s'%s", fmt, hint);
        if (errp && *errp) {
            error_free(*errp);
            *errp = NULL;
        }
        error_propagate(errp, big);
    }
out:
    qdict_free(opts);
    return ret < 0 ? ret : 0;
}

static int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = "raw", *base_fmt = NULL, *base_filename = NULL;
    const char *filename;
    char *options = NULL;
    bool quiet = false, unsafe = false;
    int64_t img_size = -1;
    Error *err = NULL;
    int c, ret;

    for (;;) {
        c = getopt_long(argc, argv, ":F:b:f:ho:qu", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img create [-q] [-f fmt] [-b backing_file "
                   "[-F backing_fmt]] [-u] [-o options] filename [size]\n");
            return 0;
        case 'F':
            base_fmt = optarg;
            break;
        case 'b':
            base_filename = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'o':
            options = accumulate_options(options, optarg);
            break;
        case 'q':
            quiet = true;
            break;
        case 'u':
            unsafe = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            free(options);
            return 1;
        }
    }

    filename = optind < argc ? argv[optind] : NULL;
    if (options && has_help_option(options)) {
        free(options);
        return print_block_option_help(filename, fmt);
    }
    if (optind >= argc) {
        error_exit("Expecting image file name");
    }
    optind++;

    if (optind < argc) {
        int64_t sval = cvtnum("image size", argv[optind++]);

        if (sval < 0) {
            free(options);
            return 1;
        }
        img_size = sval;
    }
    if (optind != argc) {
        error_exit("Unexpected argument: %s", argv[optind]);
    }

    ret = img_create_image(filename, fmt, base_filename, base_fmt, options,
                           img_size, unsafe, quiet, &err);
    free(options);
    if (ret < 0 || err) {
        if (err) {
            error_reportf_err(err, "%s: ", filename);
        } else {
            error_report("%s: %s", filename, strerror(-ret));
        }
        return 1;
    }
    return 0;
}

/* ---- info ------------------------------------------------------------- */

static QObject *snapshot_to_qobj(const QEMUSnapshotInfo *sn)
{
    QObject *d = qobj_dict();

    qobj_dict_put(d, "id", qobj_str(sn->id_str));
    qobj_dict_put(d, "name", qobj_str(sn->name));
    qobj_dict_put(d, "vm-state-size", qobj_int((int64_t)sn->vm_state_size));
    qobj_dict_put(d, "date-sec", qobj_int(sn->date_sec));
    qobj_dict_put(d, "date-nsec", qobj_int(sn->date_nsec));
    qobj_dict_put(d, "vm-clock-sec",
                  qobj_int((int64_t)(sn->vm_clock_nsec / 1000000000ULL)));
    qobj_dict_put(d, "vm-clock-nsec",
                  qobj_int((int64_t)(sn->vm_clock_nsec % 1000000000ULL)));
    if (sn->icount != UINT64_MAX) {
        qobj_dict_put(d, "icount", qobj_int((int64_t)sn->icount));
    }
    return d;
}

/* QEMU's ImageInfo as a dict (keys inserted; output order is QDict's). */
static QObject *collect_image_info(BlockDriverState *bs, const char *fmtname,
                                   Error **errp)
{
    QObject *info = qobj_dict();
    QEMUSnapshotInfo *sns = NULL;
    BlockDriverInfo bdi;
    int64_t size, actual;
    int nb, i;

    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, (int)-size, "Can't get image size '%s'",
                         bdrv_get_filename(bs));
        qobj_free(info);
        return NULL;
    }
    qobj_dict_put(info, "filename", qobj_str(bdrv_get_filename(bs)));
    qobj_dict_put(info, "format", qobj_str(fmtname));
    qobj_dict_put(info, "virtual-size", qobj_int(size));
    actual = bdrv_get_allocated_file_size(bs);
    if (actual >= 0) {
        qobj_dict_put(info, "actual-size", qobj_int(actual));
    }
    memset(&bdi, 0, sizeof(bdi));
    if (bdrv_get_info(bs, &bdi) >= 0) {
        if (bdi.cluster_size != 0) {
            qobj_dict_put(info, "cluster-size", qobj_int(bdi.cluster_size));
        }
        qobj_dict_put(info, "dirty-flag", qobj_bool(bdi.is_dirty));
    }
    {
        Error *err = NULL;
        QObject *data = bdrv_get_specific_info(bs, &err);

        if (err) {
            error_propagate(errp, err);
            qobj_free(data);
            qobj_free(info);
            return NULL;
        }
        if (data) {
            QObject *spec = qobj_dict();

            qobj_dict_put(spec, "type", qobj_str(fmtname));
            qobj_dict_put(spec, "data", data);
            qobj_dict_put(info, "format-specific", spec);
        }
    }
    {
        const char *backing = bdrv_get_backing_filename(bs);
        const char *bfmt = bdrv_get_backing_format(bs);

        if (backing && backing[0]) {
            char *full = path_combine(bdrv_get_filename(bs), backing);

            qobj_dict_put(info, "backing-filename", qobj_str(backing));
            qobj_dict_put(info, "full-backing-filename", qobj_str(full));
            free(full);
            if (bfmt && bfmt[0]) {
                qobj_dict_put(info, "backing-filename-format",
                              qobj_str(bfmt));
            }
        }
    }
    nb = bdrv_snapshot_list(bs, &sns);
    if (nb > 0) {
        QObject *list = qobj_list();

        for (i = 0; i < nb; i++) {
            qobj_list_append(list, snapshot_to_qobj(&sns[i]));
        }
        qobj_dict_put(info, "snapshots", list);
    }
    free(sns);
    return info;
}

static void snapshot_dump(const QEMUSnapshotInfo *sn)
{
    char date_buf[128], clock_buf[128], icount_buf[128];
    char *sizing;
    uint64_t secs;
    time_t ti;
    struct tm tm;

    if (!sn) {
        printf("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE",
               "VM CLOCK", "ICOUNT");
        return;
    }
    ti = sn->date_sec;
#ifdef _WIN32
    tm = *localtime(&ti);
#else
    localtime_r(&ti, &tm);
#endif
    strftime(date_buf, sizeof(date_buf), "%Y-%m-%d %H:%M:%S", &tm);
    secs = sn->vm_clock_nsec / 1000000000ULL;
    snprintf(clock_buf, sizeof(clock_buf), "%02d:%02d:%02d.%03d",
             (int)(secs / 3600), (int)((secs / 60) % 60), (int)(secs % 60),
             (int)((sn->vm_clock_nsec / 1000000) % 1000));
    sizing = size_to_str(sn->vm_state_size);
    if (sn->icount != UINT64_MAX) {
        snprintf(icount_buf, sizeof(icount_buf), "%" PRId64,
                 (int64_t)sn->icount);
    } else {
        icount_buf[0] = '\0';
    }
    printf("%-9s %-16s %8s%20s%13s%11s", sn->id_str, sn->name, sizing,
           date_buf, clock_buf, icount_buf);
    free(sizing);
}

static void snapshot_from_qobj(const QObject *o, QEMUSnapshotInfo *sn)
{
    QObject *ic = qobj_dict_get(o, "icount");

    memset(sn, 0, sizeof(*sn));
    pstrcpy(sn->id_str, sizeof(sn->id_str),
            qobj_get_str(qobj_dict_get(o, "id")));
    pstrcpy(sn->name, sizeof(sn->name),
            qobj_get_str(qobj_dict_get(o, "name")));
    sn->vm_state_size = qobj_get_int(qobj_dict_get(o, "vm-state-size"));
    sn->date_sec = qobj_get_int(qobj_dict_get(o, "date-sec"));
    sn->date_nsec = qobj_get_int(qobj_dict_get(o, "date-nsec"));
    sn->vm_clock_nsec =
        qobj_get_int(qobj_dict_get(o, "vm-clock-sec")) * 1000000000ULL +
        qobj_get_int(qobj_dict_get(o, "vm-clock-nsec"));
    sn->icount = ic ? (uint64_t)qobj_get_int(ic) : UINT64_MAX;
}

static void dump_qobject(int indent, const QObject *o);

static void dump_qobject_member(int indent, const char *label,
                                const QObject *v)
{
    QType t = qobj_type(v);
    bool composite = t == QTYPE_QDICT || t == QTYPE_QLIST;

    printf("%*s%s:%c", indent * 4, "", label, composite ? '\n' : ' ');
    dump_qobject(indent + 1, v);
}

/* QEMU's dump_qobject(): "key: value" lines, dashes shown as spaces. */
static void dump_qobject(int indent, const QObject *o)
{
    size_t i;
    char *key, *p;
    char label[32];

    switch (qobj_type(o)) {
    case QTYPE_QNUM:
        printf("%" PRId64 "\n", qobj_get_int(o));
        break;
    case QTYPE_QSTRING:
        printf("%s\n", qobj_get_str(o));
        break;
    case QTYPE_QBOOL:
        printf("%s\n", qobj_get_bool(o) ? "true" : "false");
        break;
    case QTYPE_QNULL:
        printf("null\n");
        break;
    case QTYPE_QDICT:
        for (i = 0; i < qobj_dict_size(o); i++) {
            key = qemu_xstrdup(qobj_dict_key_at(o, i));
            for (p = key; *p; p++) {
                if (*p == '-') {
                    *p = ' ';
                }
            }
            dump_qobject_member(indent, key, qobj_dict_value_at(o, i));
            free(key);
        }
        break;
    case QTYPE_QLIST:
        for (i = 0; i < qobj_list_size(o); i++) {
            snprintf(label, sizeof(label), "[%zu]", i);
            dump_qobject_member(indent, label, qobj_list_at(o, i));
        }
        break;
    }
}

static void dump_human_image_info(const QObject *info)
{
    const char *backing, *full;
    QObject *v;
    char *size_buf, *dsize_buf;
    int64_t vsize = qobj_get_int(qobj_dict_get(info, "virtual-size"));

    size_buf = size_to_str((uint64_t)vsize);
    v = qobj_dict_get(info, "actual-size");
    dsize_buf = v ? size_to_str((uint64_t)qobj_get_int(v)) :
                qemu_xstrdup("unavailable");
    printf("image: %s\n"
           "file format: %s\n"
           "virtual size: %s (%" PRId64 " bytes)\n"
           "disk size: %s\n",
           qobj_get_str(qobj_dict_get(info, "filename")),
           qobj_get_str(qobj_dict_get(info, "format")),
           size_buf, vsize, dsize_buf);
    free(size_buf);
    free(dsize_buf);

    v = qobj_dict_get(info, "encrypted");
    if (v && qobj_get_bool(v)) {
        printf("encrypted: yes\n");
    }
    v = qobj_dict_get(info, "cluster-size");
    if (v) {
        printf("cluster_size: %" PRId64 "\n", qobj_get_int(v));
    }
    v = qobj_dict_get(info, "dirty-flag");
    if (v && qobj_get_bool(v)) {
        printf("cleanly shut down: no\n");
    }
    backing = qobj_get_str(qobj_dict_get(info, "backing-filename"));
    if (backing) {
        full = qobj_get_str(qobj_dict_get(info, "full-backing-filename"));
        printf("backing file: %s", backing);
        if (!full) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(backing, full) != 0) {
            printf(" (actual path: %s)", full);
        }
        putchar('\n');
        v = qobj_dict_get(info, "backing-filename-format");
        if (v) {
            printf("backing file format: %s\n", qobj_get_str(v));
        }
    }
    v = qobj_dict_get(info, "snapshots");
    if (v) {
        size_t i;

        printf("Snapshot list:\n");
        snapshot_dump(NULL);
        printf("\n");
        for (i = 0; i < qobj_list_size(v); i++) {
            QEMUSnapshotInfo sn;

            snapshot_from_qobj(qobj_list_at(v, i), &sn);
            snapshot_dump(&sn);
            printf("\n");
        }
    }
    v = qobj_dict_get(info, "format-specific");
    if (v) {
        printf("Format specific information:\n");
        dump_qobject(1, qobj_dict_get(v, "data"));
    }
}

static void print_json(const QObject *o)
{
    char *s = qobj_to_json_pretty(o);

    printf("%s\n", s);
    free(s);
}

static bool name_in_list(char **names, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(names[i], name)) {
            return true;
        }
    }
    return false;
}

static int img_info(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "backing-chain", no_argument, NULL, OPTION_BACKING_CHAIN },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    OutputFormat ofmt = OFORMAT_HUMAN;
    bool chain = false, image_opts = false, force_share = false;
    const char *fmt = NULL, *filename;
    char *cur_name, *cur_fmt;
    char **seen = NULL;
    size_t nseen = 0, i;
    QObject *list;
    int c, ret = 1;

    for (;;) {
        c = getopt_long(argc, argv, ":f:hU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img info [--object objectdef] [--image-opts] "
                   "[-f fmt] [--output=ofmt] [--backing-chain] [-U] "
                   "filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OUTPUT:
            if (parse_output_format(optarg, &ofmt) < 0) {
                return 1;
            }
            break;
        case OPTION_BACKING_CHAIN:
            chain = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];

    list = qobj_list();
    cur_name = qemu_xstrdup(filename);
    cur_fmt = fmt ? qemu_xstrdup(fmt) : NULL;
    while (cur_name) {
        BlockBackend *blk;
        BlockDriverState *bs;
        QObject *info;
        Error *err = NULL;
        const char *bk;

        if (name_in_list(seen, nseen, cur_name)) {
            error_report("Backing file '%s' creates an infinite loop.",
                         cur_name);
            goto out;
        }
        seen = qemu_xrealloc(seen, (nseen + 1) * sizeof(*seen));
        seen[nseen++] = qemu_xstrdup(cur_name);

        blk = img_open(image_opts, cur_name, cur_fmt,
                       BDRV_O_NO_BACKING | BDRV_O_NO_IO, false, force_share);
        if (!blk) {
            goto out;
        }
        bs = blk_bs(blk);
        info = collect_image_info(bs, bdrv_get_format_name(bs), &err);
        if (!info) {
            error_report_err(err);
            blk_unref(blk);
            goto out;
        }
        qobj_list_append(list, info);
        free(cur_name);
        free(cur_fmt);
        cur_name = NULL;
        cur_fmt = NULL;
        if (chain) {
            bk = qobj_get_str(qobj_dict_get(info, "full-backing-filename"));
            if (bk) {
                QObject *bf = qobj_dict_get(info, "backing-filename-format");

                cur_name = qemu_xstrdup(bk);
                cur_fmt = bf ? qemu_xstrdup(qobj_get_str(bf)) : NULL;
                /* The chain is walked by file name. */
                image_opts = false;
            }
        }
        blk_unref(blk);
    }

    if (chain) {
        if (ofmt == OFORMAT_JSON) {
            print_json(list);
        } else {
            for (i = 0; i < qobj_list_size(list); i++) {
                if (i) {
                    printf("\n");
                }
                dump_human_image_info(qobj_list_at(list, i));
            }
        }
    } else {
        if (ofmt == OFORMAT_JSON) {
            print_json(qobj_list_at(list, 0));
        } else {
            dump_human_image_info(qobj_list_at(list, 0));
        }
    }
    ret = 0;
out:
    free(cur_name);
    free(cur_fmt);
    for (i = 0; i < nseen; i++) {
        free(seen[i]);
    }
    free(seen);
    qobj_free(list);
    return ret;
}

/* ---- check ------------------------------------------------------------ */

typedef struct ImageCheck {
    const char *filename;
    const char *format;
    BdrvCheckResult r;
} ImageCheck;

static int collect_image_check(BlockDriverState *bs, ImageCheck *check,
                               const char *filename, BdrvCheckMode fix)
{
    int ret;

    memset(&check->r, 0, sizeof(check->r));
    ret = bdrv_check(bs, &check->r, fix);
    if (ret < 0) {
        return ret;
    }
    check->filename = filename;
    check->format = bdrv_get_format_name(bs);
    return 0;
}

static void dump_human_image_check(const ImageCheck *c, bool quiet)
{
    const BdrvCheckResult *r = &c->r;

    if (r->corruptions == 0 && r->leaks == 0 && r->check_errors == 0) {
        qprintf(quiet, "No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            qprintf(quiet, "\n%d errors were found on the image.\n"
                    "Data may be corrupted, or further writes to the image "
                    "may corrupt it.\n", r->corruptions);
        }
        if (r->leaks) {
            qprintf(quiet, "\n%d leaked clusters were found on the image.\n"
                    "This means waste of disk space, but no harm to data.\n",
                    r->leaks);
        }
        if (r->check_errors) {
            qprintf(quiet, "\n%d internal errors have occurred during the "
                    "check.\n", r->check_errors);
        }
    }
    if (r->bfi.total_clusters != 0 && r->bfi.allocated_clusters != 0) {
        qprintf(quiet, "%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, "
                "%0.2f%% fragmented, %0.2f%% compressed clusters\n",
                r->bfi.allocated_clusters, r->bfi.total_clusters,
                r->bfi.allocated_clusters * 100.0 / r->bfi.total_clusters,
                r->bfi.fragmented_clusters * 100.0 /
                r->bfi.allocated_clusters,
                r->bfi.compressed_clusters * 100.0 /
                r->bfi.allocated_clusters);
    }
    if (r->image_end_offset) {
        qprintf(quiet, "Image end offset: %" PRId64 "\n",
                r->image_end_offset);
    }
}

static void dump_json_image_check(const ImageCheck *c, bool quiet)
{
    const BdrvCheckResult *r = &c->r;
    QObject *d = qobj_dict();
    char *s;

    qobj_dict_put(d, "filename", qobj_str(c->filename));
    qobj_dict_put(d, "format", qobj_str(c->format));
    qobj_dict_put(d, "check-errors", qobj_int(r->check_errors));
    if (r->image_end_offset) {
        qobj_dict_put(d, "image-end-offset", qobj_int(r->image_end_offset));
    }
    if (r->corruptions) {
        qobj_dict_put(d, "corruptions", qobj_int(r->corruptions));
    }
    if (r->leaks) {
        qobj_dict_put(d, "leaks", qobj_int(r->leaks));
    }
    if (r->corruptions_fixed) {
        qobj_dict_put(d, "corruptions-fixed", qobj_int(r->corruptions_fixed));
    }
    if (r->leaks_fixed) {
        qobj_dict_put(d, "leaks-fixed", qobj_int(r->leaks_fixed));
    }
    if (r->bfi.total_clusters) {
        qobj_dict_put(d, "total-clusters",
                      qobj_int((int64_t)r->bfi.total_clusters));
    }
    if (r->bfi.allocated_clusters) {
        qobj_dict_put(d, "allocated-clusters",
                      qobj_int((int64_t)r->bfi.allocated_clusters));
    }
    if (r->bfi.fragmented_clusters) {
        qobj_dict_put(d, "fragmented-clusters",
                      qobj_int((int64_t)r->bfi.fragmented_clusters));
    }
    if (r->bfi.compressed_clusters) {
        qobj_dict_put(d, "compressed-clusters",
                      qobj_int((int64_t)r->bfi.compressed_clusters));
    }
    s = qobj_to_json_pretty(d);
    qprintf(quiet, "%s\n", s);
    free(s);
    qobj_free(d);
}

static int img_check(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    OutputFormat ofmt = OFORMAT_HUMAN;
    const char *fmt = NULL, *filename, *cache = "writeback";
    bool quiet = false, image_opts = false, force_share = false;
    bool writethrough = false;
    int flags = BDRV_O_CHECK, fix = 0, c, ret;
    BlockBackend *blk;
    BlockDriverState *bs;
    ImageCheck check;

    for (;;) {
        c = getopt_long(argc, argv, ":hf:r:T:qU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img check [--object objectdef] "
                   "[--image-opts] [-q] [-f fmt] [--output=ofmt] "
                   "[-r [leaks | all]] [-T src_cache] [-U] filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'r':
            flags |= BDRV_O_RDWR;
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                error_exit("Unknown option value for -r "
                           "(expecting 'leaks' or 'all'): %s", optarg);
            }
            break;
        case OPTION_OUTPUT:
            if (parse_output_format(optarg, &ofmt) < 0) {
                return 1;
            }
            break;
        case 'T':
            cache = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid source cache option: %s", cache);
        return 1;
    }

    blk = img_open(image_opts, filename, fmt, flags, writethrough,
                   force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    ret = collect_image_check(bs, &check, filename, fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        ret = 63;
        goto out;
    }

    if (ret == 0 && (check.r.corruptions_fixed || check.r.leaks_fixed)) {
        int leaks_fixed = check.r.leaks_fixed;
        int corruptions_fixed = check.r.corruptions_fixed;

        if (ofmt == OFORMAT_HUMAN) {
            qprintf(quiet,
                    "The following inconsistencies were found and "
                    "repaired:\n\n"
                    "    %d leaked clusters\n"
                    "    %d corruptions\n\n"
                    "Double checking the fixed image now...\n",
                    leaks_fixed, corruptions_fixed);
        }
        ret = collect_image_check(bs, &check, filename, 0);
        check.r.leaks_fixed = leaks_fixed;
        check.r.corruptions_fixed = corruptions_fixed;
    }

    if (!ret) {
        if (ofmt == OFORMAT_HUMAN) {
            dump_human_image_check(&check, quiet);
        } else {
            dump_json_image_check(&check, quiet);
        }
    }
    if (ret || check.r.check_errors) {
        if (ret) {
            error_report("Check failed: %s", strerror(-ret));
        } else {
            error_report("Check failed");
        }
        ret = 1;
        goto out;
    }
    if (check.r.corruptions) {
        ret = 2;
    } else if (check.r.leaks) {
        ret = 3;
    } else {
        ret = 0;
    }
out:
    blk_unref(blk);
    return ret;
}

/* ---- map -------------------------------------------------------------- */

typedef struct MapEntry {
    int64_t start;
    int64_t length;
    int64_t offset;
    int64_t depth;
    bool data, zero, present, has_offset;
    const char *filename; /* NULL: none */
} MapEntry;

static int get_block_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, MapEntry *e)
{
    BlockDriverState *file = NULL;
    int64_t map = 0, pnum = 0;
    int depth = 0, ret;

    for (;;) {
        file = NULL;
        ret = bdrv_block_status(bs, offset, bytes, &pnum, &map, &file);
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            return -EIO;
        }
        bytes = pnum;
        if (ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA)) {
            break;
        }
        bs = bdrv_backing_bs(bs);
        if (!bs) {
            ret = 0;
            break;
        }
        depth++;
    }
    memset(e, 0, sizeof(*e));
    e->start = offset;
    e->length = bytes;
    e->data = !!(ret & BDRV_BLOCK_DATA);
    e->zero = !!(ret & BDRV_BLOCK_ZERO);
    e->has_offset = !!(ret & BDRV_BLOCK_OFFSET_VALID);
    e->offset = e->has_offset ? map : 0;
    e->depth = depth;
    e->present = !!(ret & BDRV_BLOCK_ALLOCATED);
    e->filename = (file && e->has_offset) ? bdrv_get_filename(file) : NULL;
    return 0;
}

static bool entry_mergeable(const MapEntry *curr, const MapEntry *next)
{
    if (curr->length == 0) {
        return false;
    }
    if (curr->zero != next->zero || curr->data != next->data ||
        curr->depth != next->depth || curr->present != next->present ||
        !curr->filename != !next->filename ||
        curr->has_offset != next->has_offset) {
        return false;
    }
    if (curr->filename && strcmp(curr->filename, next->filename)) {
        return false;
    }
    if (curr->has_offset && curr->offset + curr->length != next->offset) {
        return false;
    }
    return true;
}

static int dump_map_entry(OutputFormat ofmt, const MapEntry *e,
                          MapEntry *next)
{
    if (ofmt == OFORMAT_HUMAN) {
        if (e->data && !e->has_offset) {
            error_report("File contains external, encrypted or compressed "
                         "clusters.");
            return -EINVAL;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   (uint64_t)e->start, (uint64_t)e->length,
                   (uint64_t)(e->has_offset ? e->offset : 0),
                   e->filename ? e->filename : "");
        }
        /* Human output does not tell 0, ZERO and ZERO|DATA apart. */
        if (next && (!next->data || next->zero)) {
            next->data = false;
            next->zero = true;
        }
    } else {
        printf("{ \"start\": %" PRId64 ", \"length\": %" PRId64 ","
               " \"depth\": %" PRId64 ", \"present\": %s, \"zero\": %s,"
               " \"data\": %s", e->start, e->length, e->depth,
               e->present ? "true" : "false", e->zero ? "true" : "false",
               e->data ? "true" : "false");
        if (e->has_offset) {
            printf(", \"offset\": %" PRId64 "", e->offset);
        }
        putchar('}');
        if (next) {
            puts(",");
        }
    }
    return 0;
}

static int img_map(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "start-offset", required_argument, NULL, 's' },
        { "max-length", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    OutputFormat ofmt = OFORMAT_HUMAN;
    const char *fmt = NULL, *filename;
    bool image_opts = false, force_share = false;
    int64_t length, start_offset = 0, max_length = -1;
    BlockBackend *blk;
    BlockDriverState *bs;
    MapEntry curr, next;
    int c, ret = 0;

    for (;;) {
        c = getopt_long(argc, argv, ":f:s:l:hU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img map [--object objectdef] [--image-opts] "
                   "[-f fmt] [--start-offset=offset] [--max-length=len] "
                   "[--output=ofmt] [-U] filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_OUTPUT:
            if (parse_output_format(optarg, &ofmt) < 0) {
                return 1;
            }
            break;
        case 's':
            start_offset = cvtnum("start offset", optarg);
            if (start_offset < 0) {
                return 1;
            }
            break;
        case 'l':
            max_length = cvtnum("max length", optarg);
            if (max_length < 0) {
                return 1;
            }
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];

    blk = img_open(image_opts, filename, fmt, 0, false, force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    if (ofmt == OFORMAT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
               "File");
    } else {
        printf("[");
    }

    length = blk_getlength(blk);
    if (length < 0) {
        error_report("Failed to get size for '%s'", filename);
        blk_unref(blk);
        return 1;
    }
    if (max_length != -1) {
        length = MIN(start_offset + max_length, length);
    }

    memset(&curr, 0, sizeof(curr));
    curr.start = start_offset;
    while (curr.start + curr.length < length) {
        int64_t offset = curr.start + curr.length;

        ret = get_block_status(bs, offset, length - offset, &next);
        if (ret < 0) {
            error_report("Could not read file metadata: %s", strerror(-ret));
            goto out;
        }
        if (entry_mergeable(&curr, &next)) {
            next.start = curr.start;
            next.length += curr.length;
            curr = next;
            continue;
        }
        if (curr.length > 0) {
            ret = dump_map_entry(ofmt, &curr, &next);
            if (ret < 0) {
                goto out;
            }
        }
        curr = next;
    }
    ret = dump_map_entry(ofmt, &curr, NULL);
    if (ofmt == OFORMAT_JSON) {
        puts("]");
    }
out:
    blk_unref(blk);
    return ret < 0;
}

/* ---- convert ---------------------------------------------------------- */

typedef struct ConvertState {
    BlockBackend **src;
    int64_t *src_sizes;
    int src_num;
    int64_t total_size;
    BlockBackend *target;
    bool target_has_zero_init;
    bool target_has_backing; /* copy only the sources' top layers */
    bool compressed;
    int64_t cluster_size;
    int64_t min_sparse;
} ConvertState;

/* Which source covers @offset, and the offset inside it. */
static int convert_find_source(ConvertState *s, int64_t offset,
                               int64_t *src_off, int64_t *src_left)
{
    int i;

    for (i = 0; i < s->src_num; i++) {
        if (offset < s->src_sizes[i]) {
            *src_off = offset;
            *src_left = s->src_sizes[i] - offset;
            return i;
        }
        offset -= s->src_sizes[i];
    }
    return -1;
}

static int convert_read(ConvertState *s, int64_t offset, int64_t bytes,
                        uint8_t *buf)
{
    while (bytes > 0) {
        int64_t so, left, n;
        int i = convert_find_source(s, offset, &so, &left);
        int ret;

        if (i < 0) {
            memset(buf, 0, bytes);
            return 0;
        }
        n = MIN(bytes, left);
        ret = blk_pread(s->src[i], so, n, buf);
        if (ret < 0) {
            return ret;
        }
        offset += n;
        bytes -= n;
        buf += n;
    }
    return 0;
}

static bool buffer_is_zero(const uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i]) {
            return false;
        }
    }
    return true;
}

/* Write one chunk of data, skipping or zeroing all-zero pieces. */
static int convert_write(ConvertState *s, int64_t offset, int64_t bytes,
                         const uint8_t *buf)
{
    int64_t gran = s->min_sparse;
    int64_t pos = 0;

    if (gran <= 0) {
        return blk_pwrite(s->target, offset, bytes, buf, 0);
    }
    while (pos < bytes) {
        int64_t start = pos;
        bool zero;
        int ret;
        /* Extend a run of pieces of the same kind. */
        int64_t n = MIN(gran - ((offset + pos) % gran), bytes - pos);

        zero = buffer_is_zero(buf + pos, n);
        pos += n;
        while (pos < bytes) {
            n = MIN(gran, bytes - pos);
            if (buffer_is_zero(buf + pos, n) != zero) {
                break;
            }
            pos += n;
        }
        if (zero) {
            if (s->target_has_zero_init) {
                continue;
            }
            ret = blk_pwrite_zeroes(s->target, offset + start, pos - start,
                                    BDRV_REQ_MAY_UNMAP);
        } else {
            ret = blk_pwrite(s->target, offset + start, pos - start,
                             buf + start, 0);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/*
 * Status of the source range at @offset: 1 = data to copy, 0 = reads as
 * zeroes, 2 = comes from the backing file the target shares (skip); *@n is
 * how far that holds (at most @max bytes).
 */
static int convert_status(ConvertState *s, int64_t offset, int64_t max,
                          int64_t *n)
{
    BlockDriverState *file = NULL;
    int64_t so = 0, left = 0, pnum = 0, map = 0;
    int depth = 0, status;
    int i = convert_find_source(s, offset, &so, &left);

    *n = MIN(max, left);
    if (s->target_has_backing) {
        status = bdrv_block_status(blk_bs(s->src[i]), so, *n, &pnum, &map,
                                   &file);
    } else {
        status = bdrv_block_status_above(blk_bs(s->src[i]), NULL, so, *n,
                                         &pnum, &map, &file, &depth);
    }
    if (status < 0) {
        return status;
    }
    if (pnum > 0 && pnum < *n) {
        *n = pnum;
    }
    if (status & BDRV_BLOCK_ZERO) {
        return 0;
    }
    if (!(status & BDRV_BLOCK_DATA) && s->target_has_backing) {
        return 2;
    }
    return 1;
}

static int convert_do_copy(ConvertState *s)
{
    int64_t chunk_max = IO_BUF_SIZE;
    int64_t allocated = 0, allocated_done = 0;
    uint8_t *buf;
    int64_t offset = 0, n;
    int ret = 0;

    if (s->compressed) {
        chunk_max = s->cluster_size;
    }
    /* First pass: how much data there is, for the progress figures. */
    while (offset < s->total_size) {
        ret = convert_status(s, offset, MIN(chunk_max,
                                            s->total_size - offset), &n);
        if (ret < 0) {
            error_report("error while reading block status at offset %"
                         PRId64 ": %s", offset, strerror(-ret));
            return ret;
        }
        if (ret == 1 || (ret == 0 && s->min_sparse == 0)) {
            allocated += n;
        }
        offset += n;
    }

    buf = qemu_xmalloc(chunk_max);
    qemu_progress_print(0, 100);
    offset = 0;
    ret = 0;
    while (offset < s->total_size) {
        int data;

        n = MIN(chunk_max, s->total_size - offset);
        if (s->compressed && s->target_has_backing) {
            int64_t n2;
            int st = convert_status(s, offset, n, &n2);

            if (st < 0) {
                ret = st;
                error_report("error while reading block status at offset %"
                             PRId64 ": %s", offset, strerror(-ret));
                goto out;
            }
            if (st == 2 && n2 == n) {
                offset += n;
                continue;
            }
        }
        if (s->compressed) {
            /* Whole target clusters, which may span sources. */
            ret = convert_read(s, offset, n, buf);
            if (ret < 0) {
                error_report("error while reading at byte %" PRId64 ": %s",
                             offset, strerror(-ret));
                goto out;
            }
            if (!buffer_is_zero(buf, n)) {
                ret = blk_pwrite(s->target, offset, n, buf,
                                 BDRV_REQ_WRITE_COMPRESSED);
            } else if (!s->target_has_zero_init) {
                ret = blk_pwrite_zeroes(s->target, offset, n,
                                        BDRV_REQ_MAY_UNMAP);
            }
            if (ret < 0) {
                if (ret == -ENOTSUP) {
                    error_report("Compression not supported for this file "
                                 "format");
                } else {
                    error_report("error while compressing sector %" PRId64
                                 ": %s", offset / BDRV_SECTOR_SIZE,
                                 strerror(-ret));
                }
                goto out;
            }
            offset += n;
            allocated_done += n;
            if (allocated) {
                qemu_progress_print(100.0f * allocated_done / allocated, 0);
            }
            continue;
        }

        data = convert_status(s, offset, n, &n);
        if (data < 0) {
            ret = data;
            error_report("error while reading block status at offset %"
                         PRId64 ": %s", offset, strerror(-ret));
            goto out;
        }
        if (data == 2) {
            /* Left to the target's backing file. */
        } else if (!data && s->min_sparse) {
            if (!s->target_has_zero_init) {
                ret = blk_pwrite_zeroes(s->target, offset, n,
                                        BDRV_REQ_MAY_UNMAP);
                if (ret < 0) {
                    error_report("error while writing at byte %" PRId64
                                 ": %s", offset, strerror(-ret));
                    goto out;
                }
            }
        } else {
            ret = convert_read(s, offset, n, buf);
            if (ret < 0) {
                error_report("error while reading at byte %" PRId64 ": %s",
                             offset, strerror(-ret));
                goto out;
            }
            ret = convert_write(s, offset, n, buf);
            if (ret < 0) {
                error_report("error while writing at byte %" PRId64 ": %s",
                             offset, strerror(-ret));
                goto out;
            }
            allocated_done += n;
            if (allocated) {
                qemu_progress_print(100.0f * allocated_done / allocated, 0);
            }
        }
        offset += n;
    }
    ret = blk_flush(s->target);
    if (ret < 0) {
        error_report("error while flushing: %s", strerror(-ret));
        goto out;
    }
    qemu_progress_print(100, 0);
out:
    free(buf);
    return ret;
}

static int img_convert(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL, OPTION_TARGET_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *out_fmt = NULL, *out_baseimg = NULL;
    const char *backing_fmt = NULL, *out_filename;
    const char *cache = "unsafe", *src_cache = "writeback";
    char *options = NULL;
    bool quiet = false, compress = false, skip_create = false;
    bool image_opts = false, force_share = false, progress_on = false;
    bool tgt_image_opts = false, writethrough = false, src_wt = false;
    int64_t min_sparse = 8;
    ConvertState s;
    int c, i, ret = 0, flags = 0, src_flags = BDRV_O_NO_SHARE;
    int bs_n;
    Error *err = NULL;

    memset(&s, 0, sizeof(s));
    for (;;) {
        c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WrU",
                        long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img convert [-c] [-p] [-q] [-n] [-f fmt] "
                   "[-t cache] [-T src_cache] [-O output_fmt] [-B "
                   "backing_file [-F backing_fmt]] [-o options] [-S "
                   "sparse_size] [-U] filename [filename2 [...]] "
                   "output_filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'B':
            out_baseimg = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'C':
            /* Copy offloading: plain copies are always used here. */
            break;
        case 'c':
            compress = true;
            break;
        case 'o':
            options = accumulate_options(options, optarg);
            break;
        case 'l':
            error_report("Snapshot conversion (-l) is not supported");
            goto fail_getopt;
        case 'S': {
            int64_t sval = cvtnum("buffer size for sparse output", optarg);

            if (sval < 0) {
                goto fail_getopt;
            } else if (!QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
                       sval / BDRV_SECTOR_SIZE > INT32_MAX) {
                error_report("Invalid buffer size for sparse output "
                             "specified. Valid sizes are multiples of %d "
                             "up to %" PRId64 ". Select 0 to disable "
                             "sparse detection (fully allocates output).",
                             BDRV_SECTOR_SIZE,
                             (int64_t)INT32_MAX * BDRV_SECTOR_SIZE);
                goto fail_getopt;
            }
            min_sparse = sval / BDRV_SECTOR_SIZE;
            break;
        }
        case 'p':
            progress_on = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'T':
            src_cache = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'n':
            skip_create = true;
            break;
        case 'm':
        case 'W':
        case 'r':
            /* Parallelism and rate options do not change the result. */
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_TARGET_IMAGE_OPTS:
            tgt_image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            goto fail_getopt;
        }
    }

    if (!out_fmt && !tgt_image_opts) {
        out_fmt = "raw";
    }
    if (skip_create && options) {
        error_report("-o has no effect when skipping image creation");
        goto fail_getopt;
    }
    if (tgt_image_opts && !skip_create) {
        error_report("--target-image-opts requires use of -n flag");
        goto fail_getopt;
    }
    if (backing_fmt && !out_baseimg) {
        error_report("-F requires -B");
        goto fail_getopt;
    }
    if (quiet) {
        progress_on = false;
    }

    bs_n = argc - optind - 1;
    out_filename = bs_n >= 1 ? argv[argc - 1] : NULL;

    if (options && has_help_option(options)) {
        if (out_fmt) {
            ret = print_block_option_help(out_filename, out_fmt);
        } else {
            error_report("Option help requires a format be specified");
            ret = 1;
        }
        free(options);
        return ret;
    }
    if (bs_n < 1) {
        error_report("Must specify image file name");
        goto fail_getopt;
    }

    if (parse_cache_mode(src_cache, &src_flags, &src_wt) < 0) {
        error_report("Invalid source cache option: %s", src_cache);
        goto fail_getopt;
    }

    qemu_progress_init(progress_on, 1.0);
    s.src = qemu_xnew0(BlockBackend *, bs_n);
    s.src_sizes = qemu_xnew0(int64_t, bs_n);
    s.src_num = bs_n;
    for (i = 0; i < bs_n; i++) {
        s.src[i] = img_open(image_opts, argv[optind + i], fmt, src_flags,
                            src_wt, force_share);
        if (!s.src[i]) {
            ret = -1;
            goto out;
        }
        s.src_sizes[i] = blk_getlength(s.src[i]);
        if (s.src_sizes[i] < 0) {
            error_report("Could not get size of %s: %s", argv[optind + i],
                         strerror((int)-s.src_sizes[i]));
            ret = -1;
            goto out;
        }
        s.total_size += s.src_sizes[i];
    }

    if (!skip_create) {
        const QemuOptDesc *lists[3] = { NULL, NULL, NULL };
        BlockDriver *drv = bdrv_find_format(out_fmt);
        QDict *opts = NULL;
        char sizebuf[32];

        if (!drv) {
            error_report("Unknown file format '%s'", out_fmt);
            ret = -1;
            goto out;
        }
        lists[0] = bdrv_create_opts(drv);
        if (!lists[0]) {
            error_report("Format driver '%s' does not support image "
                         "creation", out_fmt);
            ret = -1;
            goto out;
        }
        lists[1] = file_create_opts();
        opts = qdict_new();
        if (options && qdict_parse_keyval(&opts, options, NULL, &err) < 0) {
            error_report_err(err);
            qdict_free(opts);
            ret = -1;
            goto out;
        }
        if (qemu_opts_validate(opts, lists, &err) < 0) {
            error_report_err(err);
            qdict_free(opts);
            ret = -1;
            goto out;
        }
        snprintf(sizebuf, sizeof(sizebuf), "%" PRId64, s.total_size);
        qdict_put_str(opts, "size", sizebuf);
        if (out_baseimg) {
            qdict_put_str(opts, "backing_file", out_baseimg);
            if (backing_fmt) {
                qdict_put_str(opts, "backing_fmt", backing_fmt);
            }
        }
        if (qdict_get_str(opts, "backing_file")) {
            if (!qdict_get_str(opts, "backing_fmt")) {
                error_report("Use of backing file requires explicit "
                             "backing format");
                qdict_free(opts);
                ret = -1;
                goto out;
            }
            s.target_has_backing = true;
        }
        ret = bdrv_create(drv, out_filename, opts, &err);
        qdict_free(opts);
        if (ret < 0) {
            if (err) {
                error_reportf_err(err, "%s: error while converting %s: ",
                                  out_filename, out_fmt);
            } else {
                error_report("%s: error while converting %s: %s",
                             out_filename, out_fmt, strerror(-ret));
            }
            goto out;
        }
    }

    flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        ret = -1;
        goto out;
    }
    if (tgt_image_opts) {
        s.target = img_open_opts(out_filename, flags, writethrough, false);
    } else {
        s.target = img_open_file(out_filename, NULL, out_fmt,
                                 flags | (out_baseimg ? 0 : 0),
                                 writethrough, false);
    }
    if (!s.target) {
        ret = -1;
        goto out;
    }

    if (skip_create) {
        int64_t out_size = blk_getlength(s.target);

        if (out_size < 0) {
            error_report("unable to get output image length: %s",
                         strerror((int)-out_size));
            ret = -1;
            goto out;
        } else if (out_size < s.total_size) {
            error_report("output file is smaller than input file");
            ret = -1;
            goto out;
        }
    }

    s.target_has_zero_init = !skip_create && !s.target_has_backing;
    s.compressed = compress;
    s.min_sparse = min_sparse * BDRV_SECTOR_SIZE;
    if (compress) {
        BlockDriverInfo bdi;

        memset(&bdi, 0, sizeof(bdi));
        if (bdrv_get_info(blk_bs(s.target), &bdi) < 0 ||
            bdi.cluster_size <= 0) {
            error_report("Compression not supported for this file format");
            ret = -1;
            goto out;
        }
        s.cluster_size = bdi.cluster_size;
    }

    ret = convert_do_copy(&s);

out:
    qemu_progress_end();
    if (s.target) {
        blk_unref(s.target);
    }
    for (i = 0; s.src && i < s.src_num; i++) {
        if (s.src[i]) {
            blk_unref(s.src[i]);
        }
    }
    free(s.src);
    free(s.src_sizes);
    free(options);
    return ret ? 1 : 0;

fail_getopt:
    free(options);
    return 1;
}

/* ---- resize ----------------------------------------------------------- */

static int img_resize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "preallocation", required_argument, NULL, OPTION_PREALLOCATION },
        { "shrink", no_argument, NULL, OPTION_SHRINK },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename, *size;
    bool quiet = false, image_opts = false, shrink = false;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    int64_t n, total_size, current_size;
    int relative = 0, c, ret = -1;
    BlockBackend *blk = NULL;
    Error *err = NULL;
    uint64_t un;
    QDict *sizeopt;

    /* The size is taken off the end first so "-2G" is not an option. */
    if (argc < 3) {
        error_exit("Not enough arguments");
    }
    size = argv[--argc];

    for (;;) {
        c = getopt_long(argc, argv, ":f:hq", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img resize [--object objectdef] "
                   "[--image-opts] [-f fmt] [--preallocation=prealloc] "
                   "[-q] [--shrink] filename [+ | -]size\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case OPTION_PREALLOCATION:
            if (prealloc_mode_parse(optarg, &prealloc) < 0) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        case OPTION_SHRINK:
            shrink = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting image file name and size");
    }
    filename = argv[optind++];

    switch (size[0]) {
    case '+':
        relative = 1;
        size++;
        break;
    case '-':
        relative = -1;
        size++;
        break;
    default:
        relative = 0;
        break;
    }

    /* Parse the size the way an option "size=" would be parsed. */
    sizeopt = qdict_new();
    qdict_put_str(sizeopt, "size", size);
    if (qdict_get_size(sizeopt, "size", 0, &un, &err) < 0) {
        qdict_free(sizeopt);
        error_report_err(err);
        return 1;
    }
    qdict_free(sizeopt);
    n = (int64_t)un;

    blk = img_open(image_opts, filename, fmt, BDRV_O_RDWR | BDRV_O_RESIZE,
                   false, false);
    if (!blk) {
        return 1;
    }
    current_size = blk_getlength(blk);
    if (current_size < 0) {
        error_report("Failed to inquire current image length: %s",
                     strerror((int)-current_size));
        goto out;
    }
    if (relative) {
        total_size = current_size + n * relative;
    } else {
        total_size = n;
    }
    if (total_size <= 0) {
        error_report("New image size must be positive");
        goto out;
    }
    if (total_size <= current_size && prealloc != PREALLOC_MODE_OFF) {
        error_report("Preallocation can only be used for growing images");
        goto out;
    }
    if (current_size > total_size && !shrink) {
        error_report("Use the --shrink option to perform a shrink "
                     "operation.");
        warn_report("Shrinking an image will delete all data beyond the "
                    "shrunken image's end. Before performing such an "
                    "operation, make sure there is no important data "
                    "there.");
        goto out;
    }
    ret = blk_truncate(blk, total_size, true, prealloc, &err);
    if (!ret) {
        qprintf(quiet, "Image resized.\n");
    } else if (err) {
        error_report_err(err);
    } else {
        error_report("%s", strerror(-ret));
    }
out:
    blk_unref(blk);
    return ret ? 1 : 0;
}

/* ---- compare ---------------------------------------------------------- */

/* Index of the first non-zero byte, or -1. */
static int64_t find_nonzero(const uint8_t *buf, int64_t n)
{
    int64_t i;

    for (i = 0; i < n; i++) {
        if (buf[i]) {
            return i;
        }
    }
    return -1;
}

/*
 * Compare sector by sector: returns whether the first sector differs and
 * in *pnum how many bytes share that state (QEMU's compare_buffers).
 */
static int compare_buffers(const uint8_t *buf1, const uint8_t *buf2,
                           int64_t bytes, int64_t *pnum)
{
    int64_t i = MIN(bytes, BDRV_SECTOR_SIZE);
    bool res = !!memcmp(buf1, buf2, i);

    while (i < bytes) {
        int64_t len = MIN(bytes - i, BDRV_SECTOR_SIZE);

        if (!!memcmp(buf1 + i, buf2 + i, len) != res) {
            break;
        }
        i += len;
    }
    *pnum = i;
    return res;
}

static int check_empty_sectors(BlockBackend *blk, int64_t offset,
                               int64_t bytes, const char *filename,
                               uint8_t *buffer, bool quiet)
{
    int64_t idx;
    int ret = blk_pread(blk, offset, bytes, buffer);

    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, filename, strerror(-ret));
        return 4;
    }
    idx = find_nonzero(buffer, bytes);
    if (idx >= 0) {
        qprintf(quiet, "Content mismatch at offset %" PRId64 "!\n",
                offset + idx);
        return 1;
    }
    return 0;
}

static int status_above(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int64_t *pnum)
{
    BlockDriverState *file = NULL;
    int64_t map = 0;
    int depth = 0;

    return bdrv_block_status_above(bs, NULL, offset, bytes, pnum, &map,
                                   &file, &depth);
}

static int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt1 = NULL, *fmt2 = NULL, *cache = "writeback";
    const char *filename1, *filename2;
    bool quiet = false, strict = false, image_opts = false;
    bool force_share = false, progress_on = false, writethrough = false;
    BlockBackend *blk1 = NULL, *blk2 = NULL;
    BlockDriverState *bs1, *bs2;
    int64_t total_size1, total_size2, total_size, progress_base;
    int64_t offset = 0, chunk, pnum1, pnum2;
    uint8_t *buf1 = NULL, *buf2 = NULL;
    int flags = 0, c, ret = 0;

    for (;;) {
        c = getopt_long(argc, argv, ":hf:F:T:pqsU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img compare [--object objectdef] "
                   "[--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] "
                   "[-q] [-s] [-U] filename1 filename2\n");
            return 0;
        case 'f':
            fmt1 = optarg;
            break;
        case 'F':
            fmt2 = optarg;
            break;
        case 'T':
            cache = optarg;
            break;
        case 'p':
            progress_on = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 2;
        }
    }
    if (quiet) {
        progress_on = false;
    }
    if (optind != argc - 2) {
        error_exit("Expecting two image file names");
    }
    filename1 = argv[optind++];
    filename2 = argv[optind++];
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid source cache option: %s", cache);
        return 2;
    }

    qemu_progress_init(progress_on, 2.0);
    blk1 = img_open(image_opts, filename1, fmt1, flags, writethrough,
                    force_share);
    if (!blk1) {
        ret = 2;
        goto out;
    }
    blk2 = img_open(image_opts, filename2, fmt2, flags, writethrough,
                    force_share);
    if (!blk2) {
        ret = 2;
        goto out;
    }
    bs1 = blk_bs(blk1);
    bs2 = blk_bs(blk2);

    buf1 = qemu_xmalloc(IO_BUF_SIZE);
    buf2 = qemu_xmalloc(IO_BUF_SIZE);
    total_size1 = blk_getlength(blk1);
    if (total_size1 < 0) {
        error_report("Can't get size of %s: %s", filename1,
                     strerror((int)-total_size1));
        ret = 4;
        goto out;
    }
    total_size2 = blk_getlength(blk2);
    if (total_size2 < 0) {
        error_report("Can't get size of %s: %s", filename2,
                     strerror((int)-total_size2));
        ret = 4;
        goto out;
    }
    total_size = MIN(total_size1, total_size2);
    progress_base = MAX(total_size1, total_size2);

    qemu_progress_print(0, 100);

    if (strict && total_size1 != total_size2) {
        ret = 1;
        qprintf(quiet, "Strict mode: Image size mismatch!\n");
        goto out;
    }

    while (offset < total_size) {
        int status1, status2;
        bool allocated1, allocated2;

        status1 = status_above(bs1, offset, total_size1 - offset, &pnum1);
        if (status1 < 0) {
            ret = 3;
            error_report("Sector allocation test failed for %s", filename1);
            goto out;
        }
        allocated1 = status1 & BDRV_BLOCK_ALLOCATED;
        status2 = status_above(bs2, offset, total_size2 - offset, &pnum2);
        if (status2 < 0) {
            ret = 3;
            error_report("Sector allocation test failed for %s", filename2);
            goto out;
        }
        allocated2 = status2 & BDRV_BLOCK_ALLOCATED;
        if (pnum1 <= 0 || pnum2 <= 0) {
            ret = 3;
            error_report("Sector allocation test failed for %s",
                         pnum1 <= 0 ? filename1 : filename2);
            goto out;
        }
        chunk = MIN(pnum1, pnum2);

        if (strict && status1 != status2) {
            ret = 1;
            qprintf(quiet, "Strict mode: Offset %" PRId64
                    " block status mismatch!\n", offset);
            goto out;
        }
        if ((status1 & BDRV_BLOCK_ZERO) && (status2 & BDRV_BLOCK_ZERO)) {
            /* Both read as zeroes. */
        } else if (allocated1 == allocated2) {
            if (allocated1) {
                int64_t pnum;

                chunk = MIN(chunk, IO_BUF_SIZE);
                ret = blk_pread(blk1, offset, chunk, buf1);
                if (ret < 0) {
                    error_report("Error while reading offset %" PRId64
                                 " of %s: %s", offset, filename1,
                                 strerror(-ret));
                    ret = 4;
                    goto out;
                }
                ret = blk_pread(blk2, offset, chunk, buf2);
                if (ret < 0) {
                    error_report("Error while reading offset %" PRId64
                                 " of %s: %s", offset, filename2,
                                 strerror(-ret));
                    ret = 4;
                    goto out;
                }
                ret = compare_buffers(buf1, buf2, chunk, &pnum);
                if (ret || pnum != chunk) {
                    qprintf(quiet, "Content mismatch at offset %" PRId64
                            "!\n", offset + (ret ? 0 : pnum));
                    ret = 1;
                    goto out;
                }
            }
        } else {
            chunk = MIN(chunk, IO_BUF_SIZE);
            if (allocated1) {
                ret = check_empty_sectors(blk1, offset, chunk, filename1,
                                          buf1, quiet);
            } else {
                ret = check_empty_sectors(blk2, offset, chunk, filename2,
                                          buf1, quiet);
            }
            if (ret) {
                goto out;
            }
        }
        offset += chunk;
        qemu_progress_print(((float)chunk / progress_base) * 100, 100);
    }

    if (total_size1 != total_size2) {
        BlockBackend *blk_over;
        const char *filename_over;

        qprintf(quiet, "Warning: Image size mismatch!\n");
        if (total_size1 > total_size2) {
            blk_over = blk1;
            filename_over = filename1;
        } else {
            blk_over = blk2;
            filename_over = filename2;
        }
        while (offset < progress_base) {
            int st = status_above(blk_bs(blk_over), offset,
                                  progress_base - offset, &chunk);

            if (st < 0 || chunk <= 0) {
                ret = 3;
                error_report("Sector allocation test failed for %s",
                             filename_over);
                goto out;
            }
            if ((st & BDRV_BLOCK_ALLOCATED) && !(st & BDRV_BLOCK_ZERO)) {
                chunk = MIN(chunk, IO_BUF_SIZE);
                ret = check_empty_sectors(blk_over, offset, chunk,
                                          filename_over, buf1, quiet);
                if (ret) {
                    goto out;
                }
            }
            offset += chunk;
            qemu_progress_print(((float)chunk / progress_base) * 100, 100);
        }
    }

    qprintf(quiet, "Images are identical.\n");
    ret = 0;
out:
    free(buf1);
    free(buf2);
    if (blk2) {
        blk_unref(blk2);
    }
    if (blk1) {
        blk_unref(blk1);
    }
    qemu_progress_end();
    return ret;
}

/* ---- snapshot --------------------------------------------------------- */

enum {
    SNAPSHOT_LIST = 1,
    SNAPSHOT_CREATE,
    SNAPSHOT_APPLY,
    SNAPSHOT_DELETE,
};

static void dump_snapshots(BlockDriverState *bs)
{
    QEMUSnapshotInfo *sns = NULL;
    int nb, i;

    nb = bdrv_snapshot_list(bs, &sns);
    if (nb <= 0) {
        free(sns);
        return;
    }
    printf("Snapshot list:\n");
    snapshot_dump(NULL);
    printf("\n");
    for (i = 0; i < nb; i++) {
        snapshot_dump(&sns[i]);
        printf("\n");
    }
    free(sns);
}

/* Find a snapshot by name, then by id (QEMU's bdrv_snapshot_find). */
static int snapshot_find(BlockDriverState *bs, QEMUSnapshotInfo *out,
                         const char *name)
{
    QEMUSnapshotInfo *sns = NULL;
    int nb, i, ret = -ENOENT;

    nb = bdrv_snapshot_list(bs, &sns);
    if (nb < 0) {
        return nb;
    }
    for (i = 0; i < nb && ret; i++) {
        if (!strcmp(sns[i].name, name)) {
            *out = sns[i];
            ret = 0;
        }
    }
    for (i = 0; i < nb && ret; i++) {
        if (!strcmp(sns[i].id_str, name)) {
            *out = sns[i];
            ret = 0;
        }
    }
    free(sns);
    return ret;
}

static int img_snapshot(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *filename, *snapshot_name = NULL;
    bool quiet = false, image_opts = false, force_share = false;
    int action = 0, bdrv_oflags = BDRV_O_RDWR, c, ret = 0;
    BlockBackend *blk;
    BlockDriverState *bs;
    QEMUSnapshotInfo sn;
    Error *err = NULL;

    for (;;) {
        c = getopt_long(argc, argv, ":la:c:d:hqU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img snapshot [--object objectdef] "
                   "[--image-opts] [-U] [-q] [-l | -a snapshot | "
                   "-c snapshot | -d snapshot] filename\n");
            return 0;
        case 'l':
            if (action) {
                error_exit("Cannot mix '-l', '-a', '-c', '-d'");
            }
            action = SNAPSHOT_LIST;
            bdrv_oflags &= ~BDRV_O_RDWR;
            break;
        case 'a':
        case 'c':
        case 'd':
            if (action) {
                error_exit("Cannot mix '-l', '-a', '-c', '-d'");
            }
            action = c == 'a' ? SNAPSHOT_APPLY :
                     c == 'c' ? SNAPSHOT_CREATE : SNAPSHOT_DELETE;
            snapshot_name = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    (void)quiet;
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind++];
    if (bdrv_oflags & BDRV_O_RDWR) {
        bdrv_oflags |= BDRV_O_NO_BACKING;
    }

    blk = img_open(image_opts, filename, NULL, bdrv_oflags, false,
                   force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    switch (action) {
    case SNAPSHOT_LIST:
        dump_snapshots(bs);
        break;
    case SNAPSHOT_CREATE: {
        int64_t now = qemu_clock_realtime_ns();

        memset(&sn, 0, sizeof(sn));
        pstrcpy(sn.name, sizeof(sn.name), snapshot_name);
        sn.date_sec = (uint32_t)(now / 1000000000LL);
        sn.date_nsec = (uint32_t)((now % 1000000000LL) / 1000 * 1000);
        sn.icount = 0;
        ret = bdrv_snapshot_create(bs, &sn, &err);
        if (ret) {
            error_report("Could not create snapshot '%s': %d (%s)",
                         snapshot_name, ret, strerror(-ret));
            if (err) {
                error_free(err);
            }
        }
        break;
    }
    case SNAPSHOT_APPLY:
        ret = bdrv_snapshot_goto(bs, snapshot_name, &err);
        if (ret) {
            if (ret == -ENOTSUP) {
                /* QEMU's wording for formats without snapshots. */
                if (err) {
                    error_free(err);
                    err = NULL;
                }
                error_setg(&err, "Block driver does not support snapshots");
            } else {
                /* QEMU reports only the errno of a failed load. */
                if (err) {
                    error_free(err);
                    err = NULL;
                }
                error_setg_errno(&err, -ret, "Failed to load snapshot");
            }
            if (!err) {
                error_setg(&err, "%s", strerror(-ret));
            }
            error_reportf_err(err, "Could not apply snapshot '%s': ",
                              snapshot_name);
        }
        break;
    case SNAPSHOT_DELETE:
        ret = snapshot_find(bs, &sn, snapshot_name);
        if (ret < 0) {
            error_report("Could not delete snapshot '%s': snapshot not "
                         "found", snapshot_name);
            ret = 1;
            break;
        }
        ret = bdrv_snapshot_delete(bs, sn.id_str, sn.name, &err);
        if (ret < 0) {
            if (!err) {
                error_setg(&err, "%s", strerror(-ret));
            }
            error_reportf_err(err, "Could not delete snapshot '%s': ",
                              snapshot_name);
            ret = 1;
        }
        break;
    }
    blk_unref(blk);
    return ret ? 1 : 0;
}

/* ---- rebase ----------------------------------------------------------- */

static int is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int64_t *pnum)
{
    BlockDriverState *file = NULL;
    int64_t map = 0;
    int ret = bdrv_block_status(bs, offset, bytes, pnum, &map, &file);

    if (ret < 0) {
        return ret;
    }
    if (*pnum <= 0) {
        return -EIO;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

static int img_rebase(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *out_basefmt = NULL, *out_baseimg = NULL;
    const char *filename, *cache = "writeback", *src_cache = "writeback";
    bool quiet = false, unsafe = false, image_opts = false;
    bool force_share = false, progress_on = false, writethrough = false;
    bool src_wt = false;
    BlockBackend *blk = NULL, *blk_new_backing = NULL;
    BlockDriverState *bs, *old_backing = NULL;
    uint8_t *buf_old = NULL, *buf_new = NULL;
    int flags, src_flags = 0, c, ret = 0;
    Error *err = NULL;

    for (;;) {
        c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img rebase [--object objectdef] "
                   "[--image-opts] [-U] [-q] [-f fmt] [-t cache] "
                   "[-T src_cache] [-p] [-u] -b backing_file "
                   "[-F backing_fmt] filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            out_basefmt = optarg;
            break;
        case 'b':
            out_baseimg = optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'p':
            progress_on = true;
            break;
        case 't':
            cache = optarg;
            break;
        case 'T':
            src_cache = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (quiet) {
        progress_on = false;
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    if (!unsafe && !out_baseimg) {
        error_exit("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    filename = argv[optind++];

    qemu_progress_init(progress_on, 2.0);
    qemu_progress_print(0, 100);

    flags = BDRV_O_RDWR | (unsafe ? BDRV_O_NO_BACKING : 0);
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        ret = -1;
        goto out;
    }
    if (parse_cache_mode(src_cache, &src_flags, &src_wt) < 0) {
        error_report("Invalid source cache option: %s", src_cache);
        ret = -1;
        goto out;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, false);
    if (!blk) {
        ret = -1;
        goto out;
    }
    bs = blk_bs(blk);

    if (out_basefmt && !bdrv_find_format(out_basefmt)) {
        error_report("Invalid format name: '%s'", out_basefmt);
        ret = -1;
        goto out;
    }

    if (!unsafe) {
        old_backing = bdrv_backing_bs(bs);
        if (out_baseimg[0]) {
            QDict *options = qdict_new();
            char *real_path = path_combine(bdrv_get_filename(bs),
                                           out_baseimg);

            if (out_basefmt) {
                qdict_put_str(options, "driver", out_basefmt);
            }
            if (force_share) {
                qdict_put_str(options, "force-share", "on");
            }
            blk_new_backing = blk_new_open(real_path, options, src_flags,
                                           &err);
            free(real_path);
            if (!blk_new_backing) {
                error_reportf_err(err, "Could not open new backing file "
                                  "'%s': ", out_baseimg);
                ret = -1;
                goto out;
            }
        }
    }

    if (!unsafe) {
        int64_t size, old_size = 0, new_size = 0, offset, n;

        size = blk_getlength(blk);
        if (size < 0) {
            error_report("Could not get size of '%s': %s", filename,
                         strerror((int)-size));
            ret = -1;
            goto out;
        }
        if (old_backing) {
            old_size = bdrv_getlength(old_backing);
            if (old_size < 0) {
                error_report("Could not get size of '%s': %s",
                             bdrv_get_filename(old_backing),
                             strerror((int)-old_size));
                ret = -1;
                goto out;
            }
        }
        if (blk_new_backing) {
            new_size = blk_getlength(blk_new_backing);
            if (new_size < 0) {
                error_report("Could not get size of '%s': %s", out_baseimg,
                             strerror((int)-new_size));
                ret = -1;
                goto out;
            }
        }
        buf_old = qemu_xmalloc(IO_BUF_SIZE);
        buf_new = qemu_xmalloc(IO_BUF_SIZE);

        for (offset = 0; offset < size; offset += n) {
            bool old_is_zero = false;
            int64_t written = 0;

            n = MIN(IO_BUF_SIZE, size - offset);
            ret = is_allocated(bs, offset, n, &n);
            if (ret < 0) {
                error_report("error while reading image metadata: %s",
                             strerror(-ret));
                goto out;
            }
            if (ret) {
                ret = 0;
                continue;
            }
            if (offset >= old_size) {
                memset(buf_old, 0, n);
                old_is_zero = true;
            } else {
                if (offset + n > old_size) {
                    n = old_size - offset;
                }
                ret = bdrv_pread(old_backing, offset, n, buf_old);
                if (ret < 0) {
                    error_report("error while reading from old backing "
                                 "file");
                    goto out;
                }
            }
            if (offset >= new_size || !blk_new_backing) {
                memset(buf_new, 0, n);
            } else {
                if (offset + n > new_size) {
                    n = new_size - offset;
                }
                ret = blk_pread(blk_new_backing, offset, n, buf_new);
                if (ret < 0) {
                    error_report("error while reading from new backing "
                                 "file");
                    goto out;
                }
            }
            while (written < n) {
                int64_t pnum;

                if (compare_buffers(buf_old + written, buf_new + written,
                                    n - written, &pnum)) {
                    if (old_is_zero) {
                        ret = blk_pwrite_zeroes(blk, offset + written, pnum,
                                                0);
                    } else {
                        ret = blk_pwrite(blk, offset + written, pnum,
                                         buf_old + written, 0);
                    }
                    if (ret < 0) {
                        error_report("Error while writing to COW image: %s",
                                     strerror(-ret));
                        goto out;
                    }
                }
                written += pnum;
            }
            qemu_progress_print(100.0f * n / size, 100);
        }
        ret = 0;
    }

    if (out_baseimg && *out_baseimg) {
        if (!out_basefmt) {
            error_report("Could not change the backing file to '%s': "
                         "backing format must be specified", out_baseimg);
            ret = -1;
            goto out;
        }
        ret = bdrv_change_backing_file(bs, out_baseimg, out_basefmt, &err);
    } else {
        ret = bdrv_change_backing_file(bs, NULL, NULL, &err);
    }
    if (ret == -ENOSPC) {
        error_report("Could not change the backing file to '%s': No space "
                     "left in the file header", out_baseimg);
    } else if (ret < 0) {
        error_report("Could not change the backing file to '%s': %s",
                     out_baseimg ? out_baseimg : "", strerror(-ret));
    }
    if (err) {
        error_free(err);
        err = NULL;
    }
    qemu_progress_print(100, 0);
out:
    qemu_progress_end();
    free(buf_old);
    free(buf_new);
    if (blk_new_backing) {
        blk_unref(blk_new_backing);
    }
    if (blk) {
        blk_unref(blk);
    }
    return ret ? 1 : 0;
}

/* ---- commit ----------------------------------------------------------- */

static int img_commit(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename, *cache = "unsafe", *base = NULL;
    bool quiet = false, image_opts = false, drop = false;
    bool progress_on = false, writethrough = false;
    BlockBackend *blk = NULL, *base_blk = NULL;
    BlockDriverState *bs;
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP, c, ret = 0;
    Error *err = NULL;
    uint8_t *buf = NULL;
    char *base_name = NULL;

    for (;;) {
        c = getopt_long(argc, argv, ":f:ht:b:dpqr:", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img commit [--object objectdef] "
                   "[--image-opts] [-q] [-f fmt] [-t cache] [-b base] "
                   "[-r rate_limit] [-d] [-p] filename\n");
            return 0;
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'b':
            base = optarg;
            /* -b implies -d */
            drop = true;
            break;
        case 'd':
            drop = true;
            break;
        case 'p':
            progress_on = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            if (cvtnum("rate limit", optarg) < 0) {
                return 1;
            }
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (quiet) {
        progress_on = false;
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind++];
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        return 1;
    }

    /*
     * First open the whole chain as QEMU does, so that a missing backing
     * file or a lock held by someone else fails with QEMU's words.  Then
     * the top is reopened without its backing file and the base is opened
     * read-write on its own, so our own read-only hold on the base cannot
     * get in the way.
     */
    blk = img_open(image_opts, filename, fmt, flags, writethrough, false);
    if (!blk) {
        return 1;
    }
    blk_unref(blk);
    blk = img_open(image_opts, filename, fmt, flags | BDRV_O_NO_BACKING,
                   writethrough, false);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);
    qemu_progress_init(progress_on, 1.f);
    qemu_progress_print(0.f, 100);

    {
        const char *backing = bdrv_get_backing_filename(bs);
        const char *bfmt = bdrv_get_backing_format(bs);
        QDict *bopts;

        if (!backing || !backing[0]) {
            error_setg(&err, "Image does not have a backing file");
            goto done;
        }
        base_name = path_combine(bdrv_get_filename(bs), backing);
        if (base && strcmp(base, backing) && strcmp(base, base_name)) {
            error_setg(&err, "Did not find '%s' in the backing chain of "
                       "'%s'", base, filename);
            goto done;
        }
        bopts = qdict_new();
        if (bfmt && bfmt[0]) {
            qdict_put_str(bopts, "driver", bfmt);
        }
        base_blk = blk_new_open(base_name, bopts,
                                BDRV_O_RDWR | BDRV_O_RESIZE, &err);
        if (!base_blk) {
            error_prepend(&err, "Could not open '%s': ", base_name);
            goto done;
        }
        blk_set_enable_write_cache(base_blk, !writethrough);
    }

    {
        int64_t size = blk_getlength(blk), base_size, offset, n;

        base_size = blk_getlength(base_blk);
        if (size < 0 || base_size < 0) {
            error_setg_errno(&err, EIO, "Could not get image sizes");
            goto done;
        }
        if (base_size < size) {
            ret = blk_truncate(base_blk, size, false, PREALLOC_MODE_OFF,
                               &err);
            if (ret < 0) {
                if (!err) {
                    error_setg_errno(&err, -ret, "Could not resize base");
                }
                goto done;
            }
        }
        buf = qemu_xmalloc(IO_BUF_SIZE);
        for (offset = 0; offset < size; offset += n) {
            n = MIN(IO_BUF_SIZE, size - offset);
            ret = is_allocated(bs, offset, n, &n);
            if (ret < 0) {
                error_setg_errno(&err, -ret, "Could not read image metadata");
                goto done;
            }
            if (ret) {
                ret = blk_pread(blk, offset, n, buf);
                if (ret >= 0) {
                    if (buffer_is_zero(buf, n)) {
                        ret = blk_pwrite_zeroes(base_blk, offset, n, 0);
                    } else {
                        ret = blk_pwrite(base_blk, offset, n, buf, 0);
                    }
                }
                if (ret < 0) {
                    error_setg_errno(&err, -ret, "Could not commit data at "
                                     "offset %" PRId64, offset);
                    goto done;
                }
            }
            qemu_progress_print(100.0f * n / size, 100);
        }
        ret = blk_flush(base_blk);
        if (ret < 0) {
            error_setg_errno(&err, -ret, "Could not flush the base image");
            goto done;
        }
    }

    if (!drop) {
        Error *local_err = NULL;

        ret = bdrv_make_empty(bs, &local_err);
        if (ret < 0 && ret != -ENOTSUP) {
            if (local_err) {
                error_propagate(&err, local_err);
            } else {
                error_setg_errno(&err, -ret, "Could not empty %s", filename);
            }
            goto done;
        }
        if (local_err) {
            error_free(local_err);
        }
    }
done:
    qemu_progress_end();
    free(buf);
    free(base_name);
    if (base_blk) {
        blk_unref(base_blk);
    }
    blk_unref(blk);
    if (err) {
        error_report_err(err);
        return 1;
    }
    qprintf(quiet, "Image committed.\n");
    return 0;
}

/* ---- amend ------------------------------------------------------------ */

static int img_amend(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force", no_argument, NULL, OPTION_FORCE },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename, *cache = "writeback";
    char *options = NULL;
    bool quiet = false, image_opts = false, force = false;
    bool progress_on = false, writethrough = false;
    BlockBackend *blk = NULL;
    BlockDriverState *bs;
    QDict *opts = NULL;
    Error *err = NULL;
    int flags = BDRV_O_RDWR, c, ret = 0;

    for (;;) {
        c = getopt_long(argc, argv, ":ho:f:t:pq", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'h':
            printf("usage: qemu-img amend [--object objectdef] "
                   "[--image-opts] [-p] [-q] [-f fmt] [-t cache] "
                   "[--force] -o options filename\n");
            return 0;
        case 'o':
            options = accumulate_options(options, optarg);
            break;
        case 'f':
            fmt = optarg;
            break;
        case 't':
            cache = optarg;
            break;
        case 'p':
            progress_on = true;
            break;
        case 'q':
            quiet = true;
            break;
        case OPTION_FORCE:
            force = true;
            break;
        case OPTION_IMAGE_OPTS:
            image_opts = true;
            break;
        case OPTION_OBJECT:
            error_report("--object is not supported");
            return 1;
        }
    }
    if (!options) {
        error_exit("Must specify options (-o)");
    }
    if (quiet) {
        progress_on = false;
    }
    qemu_progress_init(progress_on, 1.0);

    filename = (optind == argc - 1) ? argv[argc - 1] : NULL;
    if (fmt && has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }
    if (optind != argc - 1) {
        error_report("Expecting one image file name");
        ret = -1;
        goto out;
    }
    if (parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        ret = -1;
        goto out;
    }
    blk = img_open(image_opts, filename, fmt, flags, writethrough, false);
    if (!blk) {
        ret = -1;
        goto out;
    }
    bs = blk_bs(blk);
    fmt = bdrv_get_format_name(bs);
    if (has_help_option(options)) {
        ret = print_amend_option_help(fmt) ? -1 : 0;
        goto out;
    }
    if (qdict_parse_keyval(&opts, options, NULL, &err) < 0) {
        error_report_err(err);
        ret = -1;
        goto out;
    }
    {
        const BlockDriver *drv = bdrv_find_format(fmt);
        const QemuOptDesc *lists[3] = { NULL, NULL, NULL };

        if (drv && drv->amend_opts &&
            !(lists[0] = drv->amend_opts,
              qemu_opts_validate(opts, lists, &err) == 0)) {
            /* Known at creation only?  Say so, as QEMU does. */
            lists[1] = bdrv_create_opts(drv);
            if (lists[1] && qemu_opts_validate(opts, lists, NULL) == 0) {
                error_append_hint(&err, "This option is only supported for "
                                  "image creation\n");
            }
            error_report_err(err);
            ret = -1;
            goto out;
        }
    }
    qemu_progress_print(0.f, 0);
    ret = bdrv_amend_options(bs, opts, force, &err);
    qemu_progress_print(100.f, 0);
    if (ret == -ENOTSUP &&
        (!err || strstr(error_get_pretty(err),
                        "does not support option amendment"))) {
        if (err) {
            error_free(err);
            err = NULL;
        }
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
    } else if (ret < 0) {
        if (err) {
            error_report_err(err);
        } else {
            error_report("Error while amending options: %s", strerror(-ret));
        }
    }
out:
    qemu_progress_end();
    if (blk) {
        blk_unref(blk);
    }
    qdict_free(opts);
    free(options);
    return ret ? 1 : 0;
}

/* ---- main ------------------------------------------------------------- */

typedef struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
} ImgCmd;

static const ImgCmd img_cmds[] = {
    { "amend", img_amend },
    { "check", img_check },
    { "commit", img_commit },
    { "compare", img_compare },
    { "convert", img_convert },
    { "create", img_create },
    { "info", img_info },
    { "map", img_map },
    { "rebase", img_rebase },
    { "resize", img_resize },
    { "snapshot", img_snapshot },
    { NULL, NULL }
};

static void print_format_name(void *opaque, const char *name)
{
    (void)opaque;
    printf(" %s", name);
}

static void help(void)
{
    printf("qemu-img version " QEMU_VERSION "\n"
           "usage: qemu-img [standard options] command [command options]\n"
           "QEMU disk image utility\n"
           "\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n"
           "\n"
           "Command syntax:\n"
           "  amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] "
           "[-t cache] [--force] -o options filename\n"
           "  check [--object objectdef] [--image-opts] [-q] [-f fmt] "
           "[--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] "
           "filename\n"
           "  commit [--object objectdef] [--image-opts] [-q] [-f fmt] "
           "[-t cache] [-b base] [-r rate_limit] [-d] [-p] filename\n"
           "  compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] "
           "[-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2\n"
           "  convert [--object objectdef] [--image-opts] "
           "[--target-image-opts] [-U] [-c] [-p] [-q] [-n] [-f fmt] "
           "[-t cache] [-T src_cache] [-O output_fmt] [-B backing_file "
           "[-F backing_fmt]] [-o options] [-S sparse_size] filename "
           "[filename2 [...]] output_filename\n"
           "  create [--object objectdef] [-q] [-f fmt] [-b backing_file "
           "[-F backing_fmt]] [-u] [-o options] filename [size]\n"
           "  info [--object objectdef] [--image-opts] [-f fmt] "
           "[--output=ofmt] [--backing-chain] [-U] filename\n"
           "  map [--object objectdef] [--image-opts] [-f fmt] "
           "[--start-offset=offset] [--max-length=len] [--output=ofmt] "
           "[-U] filename\n"
           "  snapshot [--object objectdef] [--image-opts] [-U] [-q] "
           "[-l | -a snapshot | -c snapshot | -d snapshot] filename\n"
           "  rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] "
           "[-t cache] [-T src_cache] [-p] [-u] -b backing_file "
           "[-F backing_fmt] filename\n"
           "  resize [--object objectdef] [--image-opts] [-f fmt] "
           "[--preallocation=prealloc] [-q] [--shrink] filename "
           "[+ | -]size\n"
           "\n"
           "Sizes take the suffixes k, M, G, T, P and E (binary units).\n"
           "'-U' opens read-only images without taking shared locks.\n"
           "\n"
           "Supported formats:");
    bdrv_iterate_format(print_format_name, NULL);
    printf("\n\nSee docs/tools/qemu-img.rst for the full description.\n");
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "trace", required_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 }
    };
    const ImgCmd *cmd;
    const char *cmdname;
    int c;

    error_set_progname("qemu-img");
    warn_set_sink(img_warning_sink, NULL);
    bdrv_check_set_report_fn(img_check_report, NULL);
#ifdef _WIN32
    setvbuf(stderr, NULL, _IONBF, 0);
#endif

    if (argc < 2) {
        error_exit("Not enough arguments");
    }

    /* Standard options come before the command (hence the '+'). */
    for (;;) {
        c = getopt_long(argc, argv, "+:hVT:", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case ':':
            missing_argument(argv[optind - 1]);
            break;
        case '?':
            unrecognized_option(argv[optind - 1]);
            break;
        case 'h':
            help();
            return 0;
        case 'V':
            printf("qemu-img version " QEMU_VERSION "\n");
            return 0;
        case 'T':
            /* Tracing is not available; accepted for compatibility. */
            break;
        }
    }
    if (optind >= argc) {
        error_exit("Not enough arguments");
    }
    cmdname = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0;

    for (cmd = img_cmds; cmd->name; cmd++) {
        if (!strcmp(cmdname, cmd->name)) {
            return cmd->handler(argc, argv);
        }
    }
    error_exit("Command not found: %s", cmdname);
    return 1;
}
