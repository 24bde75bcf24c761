/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img.c: the disk image utility's front door: the command table,
 * --help and main(), plus the helpers every subcommand shares (option
 * parsing, opening images, progress output, option help).
 * Subcommands live in qemu-img-*.c.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "block/block_int.h" /* BlockDriver.amend_opts */
#include "block/throttle-groups.h"
#include "config-host.h"
#include "qemu-img.h"

/* ---- small helpers ---------------------------------------------------- */

void QEMU_PRINTF(1, 2) error_exit(const char *fmt, ...)
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
void bad_option(int c, char **argv)
{
    if (c == ':') {
        missing_argument(argv[optind - 1]);
    }
    unrecognized_option(argv[optind - 1]);
}

void QEMU_PRINTF(2, 3) qprintf(bool quiet, const char *fmt, ...)
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
void QEMU_PRINTF(2, 3) error_reportf_err(Error *err, const char *fmt, ...)
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
void img_warning_sink(const char *msg, void *opaque)
{
    if (strstart(msg, "WARNING:", NULL)) {
        fprintf(stderr, "%s\n", msg);
    } else {
        fprintf(stderr, "%s: warning: %s\n", error_get_progname(), msg);
    }
}

void img_null_sink(const char *msg, void *opaque)
{
}

/* Per-problem lines of a format's check go to stderr, as in QEMU. */
static void img_check_report(const char *line, void *opaque)
{
    fprintf(stderr, "%s\n", line);
}

int parse_output_format(const char *arg, OutputFormat *fmt)
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
int64_t cvtnum_full(const char *name, const char *value, int64_t min,
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

int64_t cvtnum(const char *name, const char *value)
{
    return cvtnum_full(name, value, 0, INT64_MAX);
}

/*
 * True if a flag of the option string is "help" or "?".  As in QEMU's
 * get_opt_name_value(): a flag (an element without '=') ends at the next
 * comma, while a value takes ",," as a comma ("backing_file=a,,help" is
 * one element, "help,,x" is the flag "help" and more).
 */
bool has_help_option(const char *opts)
{
    const char *p = opts;

    while (p && *p) {
        size_t len = strcspn(p, "=,");

        if (p[len] != '=') {
            if ((len == 4 && !strncmp(p, "help", 4)) ||
                (len == 1 && p[0] == '?')) {
                return true;
            }
            p += len;
        } else {
            p += len + 1;
            while (*p && !(*p == ',' && p[1] != ',')) {
                p += (*p == ',') ? 2 : 1;
            }
        }
        if (*p == ',') {
            p++;
        }
    }
    return false;
}

/*
 * Can @arg be joined to other -o arguments with ','?  Not when it is
 * empty or starts with ',' (the joining comma would be escaped), nor when
 * it ends in an odd number of commas (same, the other side).
 */
static bool is_valid_option_list(const char *arg)
{
    size_t len = strlen(arg), i = len;

    if (!arg[0] || arg[0] == ',') {
        return false;
    }
    while (i > 0 && arg[i - 1] == ',') {
        i--;
    }
    return (len - i) % 2 == 0;
}

/* Append "-o" arguments the way QEMU accumulates them ("a,b"). */
int accumulate_options(char **options, const char *arg)
{
    char *joined;

    if (!is_valid_option_list(arg)) {
        error_report("Invalid option list: %s", arg);
        return -1;
    }
    if (!*options) {
        *options = qemu_xstrdup(arg);
        return 0;
    }
    joined = qemu_xasprintf("%s,%s", *options, arg);
    free(*options);
    *options = joined;
    return 0;
}

/*
 * Compare sector by sector: returns whether the first sector differs and
 * in *pnum how many bytes share that state (QEMU's compare_buffers).
 */
int compare_buffers(const uint8_t *buf1, const uint8_t *buf2,
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

/* ---- progress (qemu-img -p) ------------------------------------------ */

static struct {
    bool enabled;
    float current;
    float last_print;
    float min_skip;
} progress;

void qemu_progress_init(bool enabled, float min_skip)
{
    progress.enabled = enabled;
    progress.current = 0;
    progress.last_print = 0;
    progress.min_skip = min_skip;
}

/* Add @delta percent of @max (or set @delta absolutely if max is 0). */
void qemu_progress_print(float delta, int max)
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

void qemu_progress_end(void)
{
    if (progress.enabled) {
        /* Not flushed: QEMU leaves this newline to stdio's buffering. */
        printf("\n");
        progress.enabled = false;
    }
}

/* ---- shared options and opening images -------------------------------- */

const struct option img_std_long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "object", required_argument, NULL, OPTION_OBJECT },
    { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
    { "force-share", no_argument, NULL, 'U' },
    { NULL, 0, NULL, 0 }
};

int img_getopt(int argc, char **argv, const char *optstring,
               const struct option *longopts, ImgOpts *o)
{
    for (;;) {
        int c = getopt_long(argc, argv, optstring, longopts, NULL);

        if (c > 0 && c < 256 && o->own && strchr(o->own, c)) {
            return c;
        }
        switch (c) {
        case -1:
            if (o->quiet) {
                o->progress = false;
            }
            return -1;
        case ':':
        case '?':
            bad_option(c, argv);
            break;
        case 'f':
            o->fmt = optarg;
            break;
        case 't':
            o->cache = optarg;
            break;
        case 'T':
            o->src_cache = optarg;
            break;
        case 'U':
            o->force_share = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'p':
            o->progress = true;
            break;
        case OPTION_IMAGE_OPTS:
            o->image_opts = true;
            break;
        case OPTION_OUTPUT:
            if (parse_output_format(optarg, &o->output) < 0) {
                return IMG_OPT_ERROR;
            }
            break;
        case OPTION_OBJECT: {
            Error *err = NULL;

            if (bdrv_object_add(optarg, &err) < 0) {
                error_report_err(err);
                return IMG_OPT_ERROR;
            }
            break;
        }
        default:
            return c;
        }
    }
}

int img_parse_cache(const char *mode, bool source, int *flags,
                    bool *writethrough)
{
    if (bdrv_parse_cache_mode(mode, flags, writethrough) < 0) {
        error_report("Invalid %scache option: %s", source ? "source " : "",
                     mode);
        return -1;
    }
    return 0;
}

/* --image-opts: the option string as a QDict, with -U folded in. */
static QDict *img_parse_image_opts(const char *optstr, bool force_share)
{
    QDict *options = NULL;
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
    return options;
}

BlockBackend *img_open_extra(bool image_opts, const char *filename,
                             const char *fmt, QDict *extra, int flags,
                             bool writethrough, bool force_share)
{
    QDict *options;
    const QDictEntry *e;
    BlockBackend *blk;
    Error *err = NULL;

    if (image_opts) {
        options = img_parse_image_opts(filename, force_share);
        if (!options) {
            qdict_free(extra);
            return NULL;
        }
    } else {
        options = qdict_new();
        if (fmt) {
            qdict_put_str(options, "driver", fmt);
        }
        if (force_share) {
            qdict_put_str(options, "force-share", "on");
        }
    }
    for (e = extra ? qdict_first(extra) : NULL; e; e = qdict_next(extra, e)) {
        qdict_put_str(options, qdict_entry_key(e), qdict_entry_value(e));
    }
    qdict_free(extra);
    blk = blk_new_open(image_opts ? NULL : filename, options, flags, &err);
    if (!blk) {
        error_reportf_err(err, "Could not open '%s': ", filename);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool force_share)
{
    if (image_opts && fmt) {
        error_report("--image-opts and --format are mutually exclusive");
        return NULL;
    }
    return img_open_extra(image_opts, filename, fmt, NULL, flags,
                          writethrough, force_share);
}

/* ---- option help ------------------------------------------------------ */

const QemuOptDesc *file_create_opts(void)
{
    BlockDriver *proto = bdrv_find_format("file");

    return proto ? bdrv_create_opts(proto) : NULL;
}

/*
 * The create option lists of format @fmt: the driver's in @lists[0], the
 * protocol's in @lists[1], NULL after them.  NULL and @errp set when the
 * format is unknown or cannot create images.
 */
/*
 * -l: "snapshot.id=ID,snapshot.name=NAME" (either or both), or a plain
 * snapshot name, as QEMU reads it (convert, measure).
 */
int img_parse_snapshot_param(const char *arg, char **id, char **name)
{
    QDict *d = NULL;
    const QDictEntry *e;
    Error *err = NULL;

    free(*id);
    free(*name);
    *id = *name = NULL;
    if (!strstart(arg, "snapshot.", NULL)) {
        *name = qemu_xstrdup(arg);
        return 0;
    }
    if (qdict_parse_keyval(&d, arg, NULL, &err) < 0) {
        error_report_err(err);
        error_report("Failed in parsing snapshot param '%s'", arg);
        return -1;
    }
    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        if (strcmp(qdict_entry_key(e), "snapshot.id") &&
            strcmp(qdict_entry_key(e), "snapshot.name")) {
            error_report("Invalid parameter '%s'", qdict_entry_key(e));
            error_report("Failed in parsing snapshot param '%s'", arg);
            qdict_free(d);
            return -1;
        }
    }
    *id = qdict_take_str(d, "snapshot.id");
    *name = qdict_take_str(d, "snapshot.name");
    qdict_free(d);
    return 0;
}

BlockDriver *img_create_lists(const char *fmt, const QemuOptDesc *lists[3],
                              Error **errp)
{
    BlockDriver *drv = bdrv_find_format(fmt);

    if (!drv) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return NULL;
    }
    lists[0] = bdrv_create_opts(drv);
    if (!lists[0]) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   fmt);
        return NULL;
    }
    lists[1] = file_create_opts();
    lists[2] = NULL;
    return drv;
}

QDict *img_parse_create_opts(const char *options,
                             const QemuOptDesc *const *lists, Error **errp)
{
    QDict *opts = qdict_new();

    if ((options && qdict_parse_keyval(&opts, options, NULL, errp) < 0) ||
        qemu_opts_validate(opts, lists, errp) < 0) {
        qdict_free(opts);
        return NULL;
    }
    return opts;
}

int img_put_backing_opts(QDict *opts, const QemuOptDesc *fmt_opts,
                         const char *fmt, const char *backing_file,
                         const char *backing_fmt, Error **errp)
{
    if (backing_file) {
        if (!qemu_opt_find_desc(fmt_opts, "backing_file")) {
            error_setg(errp, "Backing file not supported for file format "
                       "'%s'", fmt);
            return -1;
        }
        qdict_put_str(opts, "backing_file", backing_file);
    }
    if (backing_fmt) {
        if (!qemu_opt_find_desc(fmt_opts, "backing_fmt")) {
            error_setg(errp, "Backing file format not supported for file "
                       "format '%s'", fmt);
            return -1;
        }
        qdict_put_str(opts, "backing_fmt", backing_fmt);
    }
    return 0;
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
bool opt_listed_before(const QemuOptDesc *const *lists, size_t li,
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
int print_amend_option_help(const char *fmt)
{
    const QemuOptDesc *lists[1];
    BlockDriver *drv = bdrv_find_format(fmt);

    if (!drv) {
        error_report("Unknown file format '%s'", fmt);
        return 1;
    }
    if (!drv->bdrv_amend_options) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        return 1;
    }
    lists[0] = drv->amend_opts;
    printf("Amend options for '%s':\n", fmt);
    print_opts_help(lists, 1);
    return 0;
}

int print_block_option_help(const char *filename, const char *fmt)
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

/* ---- main ------------------------------------------------------------- */

typedef struct ImgCmd {
    const char *name;
    int (*handler)(int argc, char **argv);
} ImgCmd;

static const ImgCmd img_cmds[] = {
    { "amend", img_amend },
    { "bench", img_bench },
    { "bitmap", img_bitmap },
    { "check", img_check },
    { "commit", img_commit },
    { "compare", img_compare },
    { "convert", img_convert },
    { "create", img_create },
    { "dd", img_dd },
    { "info", img_info },
    { "map", img_map },
    { "measure", img_measure },
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
           "  bench [-c count] [-d depth] [-f fmt] "
           "[--flush-interval=flush_interval] [-n] [--no-drain] [-o offset] "
           "[--pattern=pattern] [-q] [-s buffer_size] [-S step_size] "
           "[-t cache] [-w] [-U] filename\n"
           "  bitmap (--merge SOURCE | --add | --remove | --clear | "
           "--enable | --disable)... [-b source_file [-F source_fmt]] "
           "[-g granularity] [--object objectdef] [--image-opts | -f fmt] "
           "filename bitmap\n"
           "  check [--object objectdef] [--image-opts] [-q] [-f fmt] "
           "[--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] "
           "filename\n"
           "  commit [--object objectdef] [--image-opts] [-q] [-f fmt] "
           "[-t cache] [-b base] [-r rate_limit] [-d] [-p] filename\n"
           "  compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] "
           "[-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2\n"
           "  convert [--object objectdef] [--image-opts] "
           "[--target-image-opts] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] "
           "[-t cache] [-T src_cache] [-O output_fmt] [-B backing_file "
           "[-F backing_fmt]] [-o options] [-S sparse_size] [--salvage] "
           "[--bitmaps [--skip-broken-bitmaps]] "
           "filename [filename2 [...]] output_filename\n"
           "  create [--object objectdef] [-q] [-f fmt] [-b backing_file "
           "[-F backing_fmt]] [-u] [-o options] filename [size]\n"
           "  dd [--image-opts] [-U] [-f fmt] [-O output_fmt] "
           "[bs=block_size] [count=blocks] [skip=blocks] if=input "
           "of=output\n"
           "  info [--object objectdef] [--image-opts] [-f fmt] "
           "[--output=ofmt] [--backing-chain] [-U] filename\n"
           "  map [--object objectdef] [--image-opts] [-f fmt] "
           "[--start-offset=offset] [--max-length=len] [--output=ofmt] "
           "[-U] filename\n"
           "  measure [--output=ofmt] [-O output_fmt] [-o options] "
           "[--size N | [--object objectdef] [--image-opts] [-f fmt] "
           "[-l snapshot_param] filename]\n"
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
