/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-metadata.c: commands that write one image's own metadata
 * rather than copy data between images: create (a new header), resize,
 * amend (change format options) and snapshot (internal snapshots).
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "block/block_int.h" /* BlockDriver.amend_opts */
#include "qemu-img.h"

/* ---- create ----------------------------------------------------------- */

/*
 * The "Formatting '...', fmt=... " line: every create option in list order
 * that is set or has a default; sizes and numbers in bytes.
 */
static void print_create_opts(const QDict *opts,
                              const QemuOptDesc *const *lists, size_t nlists)
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
/* Whether one of the option lists gives @name a default value. */
static bool has_default(const QemuOptDesc *const *lists, const char *name)
{
    for (; *lists; lists++) {
        for (const QemuOptDesc *d = *lists; d->name; d++) {
            if (!strcmp(d->name, name) && d->def_value_str) {
                return true;
            }
        }
    }
    return false;
}

static int img_create_image(const char *filename, const char *fmt,
                            const char *base_filename, const char *base_fmt,
                            const char *options, int64_t img_size,
                            bool unsafe, bool quiet, Error **errp)
{
    const QemuOptDesc *lists[3];
    BlockDriver *drv;
    QDict *opts = NULL;
    const char *backing_file, *backing_fmt, *sizestr;
    uint64_t size = UINT64_MAX;
    int ret = -EINVAL;

    drv = img_create_lists(fmt, lists, errp);
    if (!drv) {
        return -EINVAL;
    }
    if (!bdrv_protocol_driver_name(filename, errp)) {
        return -ENOENT;
    }
    opts = img_parse_create_opts(options, lists, errp);
    if (!opts) {
        return -EINVAL;
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
    if (img_put_backing_opts(opts, lists[0], fmt, base_filename, base_fmt,
                             errp) < 0) {
        goto out;
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
        char *full = bdrv_get_full_backing_filename_from_filename(
                         filename, backing_file, errp);
        QDict *bopts;
        BlockDriverState *bs;
        Error *local_err = NULL;

        if (!full) {
            goto out;
        }
        bopts = qdict_new();
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
        /* As QEMU: a cluster size given, or the format's default one. */
        const char *hint = qdict_haskey(opts, "cluster_size") ||
                           has_default(lists, "cluster_size") ?
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

int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { NULL, 0, NULL, 0 }
    };
    ImgOpts o = { .fmt = "raw" };
    const char *base_fmt = NULL, *base_filename = NULL, *filename;
    char *options = NULL;
    bool unsafe = false;
    int64_t img_size = -1;
    Error *err = NULL;
    int c, ret;

    while ((c = img_getopt(argc, argv, ":F:b:f:ho:qu", long_options, &o)) !=
           -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            free(options);
            return 1;
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
        case 'o':
            if (accumulate_options(&options, optarg) < 0) {
                free(options);
                return 1;
            }
            break;
        case 'u':
            unsafe = true;
            break;
        }
    }

    filename = optind < argc ? argv[optind] : NULL;
    if (options && has_help_option(options)) {
        free(options);
        return print_block_option_help(filename, o.fmt);
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

    ret = img_create_image(filename, o.fmt, base_filename, base_fmt, options,
                           img_size, unsafe, o.quiet, &err);
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

/* ---- resize ----------------------------------------------------------- */

int img_resize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "preallocation", required_argument, NULL, OPTION_PREALLOCATION },
        { "shrink", no_argument, NULL, OPTION_SHRINK },
        { NULL, 0, NULL, 0 }
    };
    ImgOpts o = { 0 };
    const char *filename, *size;
    bool shrink = false;
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

    while ((c = img_getopt(argc, argv, ":f:hq", long_options, &o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img resize [--object objectdef] "
                   "[--image-opts] [-f fmt] [--preallocation=prealloc] "
                   "[-q] [--shrink] filename [+ | -]size\n");
            return 0;
        case OPTION_PREALLOCATION:
            if (prealloc_mode_parse(optarg, &prealloc) < 0) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        case OPTION_SHRINK:
            shrink = true;
            break;
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

    blk = img_open(o.image_opts, filename, o.fmt, BDRV_O_RDWR | BDRV_O_RESIZE,
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
        qprintf(o.quiet, "Image resized.\n");
    } else if (err) {
        error_report_err(err);
    } else {
        error_report("%s", strerror(-ret));
    }
out:
    blk_unref(blk);
    return ret ? 1 : 0;
}

/* ---- amend ------------------------------------------------------------ */

static void amend_status_cb(BlockDriverState *bs, int64_t offset,
                            int64_t total_work_size, void *opaque)
{
    (void)bs;
    (void)opaque;
    qemu_progress_print(100.f * offset / total_work_size, 0);
}

/*
 * Are @opts all amend options of @drv?  If not, say so, adding (as QEMU
 * does) when they would be valid at creation.
 */
static int amend_validate(const BlockDriver *drv, const QDict *opts)
{
    const QemuOptDesc *lists[3] = { drv->amend_opts, NULL, NULL };
    Error *err = NULL;

    if (qemu_opts_validate(opts, lists, &err) == 0) {
        return 0;
    }
    lists[1] = bdrv_create_opts(drv);
    if (lists[1] && qemu_opts_validate(opts, lists, NULL) == 0) {
        error_append_hint(&err, "This option is only supported for image "
                          "creation\n");
    }
    error_report_err(err);
    return -1;
}

int img_amend(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force", no_argument, NULL, OPTION_FORCE },
        { NULL, 0, NULL, 0 }
    };
    ImgOpts o = { .cache = "writeback" };
    const char *fmt, *filename;
    char *options = NULL;
    bool force = false, writethrough = false;
    BlockBackend *blk = NULL;
    BlockDriverState *bs;
    QDict *opts = NULL;
    Error *err = NULL;
    int flags = BDRV_O_RDWR, c, ret = 0;

    while ((c = img_getopt(argc, argv, ":ho:f:t:pq", long_options, &o)) !=
           -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            free(options);
            return 1;
        case 'h':
            printf("usage: qemu-img amend [--object objectdef] "
                   "[--image-opts] [-p] [-q] [-f fmt] [-t cache] "
                   "[--force] -o options filename\n");
            return 0;
        case 'o':
            if (accumulate_options(&options, optarg) < 0) {
                free(options);
                return 1;
            }
            break;
        case OPTION_FORCE:
            force = true;
            break;
        }
    }
    if (!options) {
        error_exit("Must specify options (-o)");
    }
    qemu_progress_init(o.progress, 1.0);
    fmt = o.fmt;

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
    if (img_parse_cache(o.cache, false, &flags, &writethrough) < 0) {
        ret = -1;
        goto out;
    }
    blk = img_open(o.image_opts, filename, fmt, flags, writethrough, false);
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
    if (!bs->drv->bdrv_amend_options) {
        error_report("Format driver '%s' does not support option amendment",
                     fmt);
        ret = -1;
        goto out;
    }
    if (qdict_parse_keyval(&opts, options, NULL, &err) < 0) {
        error_report_err(err);
        ret = -1;
        goto out;
    }
    ret = amend_validate(bs->drv, opts);
    if (ret < 0) {
        goto out;
    }
    /* In case the driver reports no progress. */
    qemu_progress_print(0.f, 0);
    ret = bdrv_amend_options(bs, opts, amend_status_cb, NULL, force, &err);
    qemu_progress_print(100.f, 0);
    if (ret < 0) {
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

static int snapshot_create(BlockDriverState *bs, const char *name)
{
    int64_t now = qemu_clock_realtime_ns();
    QEMUSnapshotInfo sn;
    Error *err = NULL;
    int ret;

    memset(&sn, 0, sizeof(sn));
    pstrcpy(sn.name, sizeof(sn.name), name);
    sn.date_sec = (uint32_t)(now / 1000000000LL);
    sn.date_nsec = (uint32_t)((now % 1000000000LL) / 1000 * 1000);
    sn.icount = 0;
    ret = bdrv_snapshot_create(bs, &sn, &err);
    if (ret) {
        error_report("Could not create snapshot '%s': %d (%s)", name, ret,
                     strerror(-ret));
        error_free(err);
    }
    return ret;
}

static int snapshot_apply(BlockDriverState *bs, const char *name)
{
    Error *err = NULL;
    int ret = bdrv_snapshot_goto(bs, name, &err);

    if (!ret) {
        return 0;
    }
    /*
     * QEMU's words: the core's own refusal (active bitmaps) as it is, its
     * own for formats without snapshots, else errno.
     */
    if (ret == -EBUSY && err) {
        error_reportf_err(err, "Could not apply snapshot '%s': ", name);
        return ret;
    }
    error_free(err);
    err = NULL;
    if (ret == -ENOTSUP) {
        error_setg(&err, "Block driver does not support snapshots");
    } else {
        error_setg_errno(&err, -ret, "Failed to load snapshot");
    }
    error_reportf_err(err, "Could not apply snapshot '%s': ", name);
    return ret;
}

static int snapshot_delete(BlockDriverState *bs, const char *name)
{
    QEMUSnapshotInfo sn;
    Error *err = NULL;
    int ret = snapshot_find(bs, &sn, name);

    if (ret < 0) {
        error_report("Could not delete snapshot '%s': snapshot not found",
                     name);
        return 1;
    }
    ret = bdrv_snapshot_delete(bs, sn.id_str, sn.name, &err);
    if (ret < 0) {
        if (!err) {
            error_setg(&err, "%s", strerror(-ret));
        }
        error_reportf_err(err, "Could not delete snapshot '%s': ", name);
        return 1;
    }
    return 0;
}

int img_snapshot(int argc, char **argv)
{
    const char *filename, *snapshot_name = NULL;
    ImgOpts o = { 0 };
    int action = 0, bdrv_oflags = BDRV_O_RDWR, c, ret = 0;
    BlockBackend *blk;
    BlockDriverState *bs;

    while ((c = img_getopt(argc, argv, ":la:c:d:hqU", img_std_long_options,
                           &o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
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
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind++];
    /*
     * Like qemu-img 7.2, every action opens the backing chain too (a
     * missing backing file fails even "snapshot -c"), so the backing
     * files get the read-only locks of a backing child.
     */

    blk = img_open(o.image_opts, filename, NULL, bdrv_oflags, false,
                   o.force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    switch (action) {
    case SNAPSHOT_LIST:
        dump_snapshots(bs);
        break;
    case SNAPSHOT_CREATE:
        ret = snapshot_create(bs, snapshot_name);
        break;
    case SNAPSHOT_APPLY:
        ret = snapshot_apply(bs, snapshot_name);
        break;
    case SNAPSHOT_DELETE:
        ret = snapshot_delete(bs, snapshot_name);
        break;
    }
    blk_unref(blk);
    return ret ? 1 : 0;
}
