/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-measure.c: qemu-img measure, the size a new image of a format
 * needs, for a given virtual size or to hold an existing image's data.
 * The figures are the format driver's (bdrv_measure), QEMU 7.2's
 * formulas; the options, checks and messages are qemu-img's.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu-img.h"

enum { OPTION_SIZE = 512 };

typedef struct MeasureArgs {
    ImgOpts o;
    const char *out_fmt;
    char *options;
    char *snapshot_id, *snapshot_name;
    int64_t size;               /* --size, or -1 */
    const char *filename;
} MeasureArgs;

static void measure_usage(void)
{
    printf("usage: qemu-img measure [--output=ofmt] [-O output_fmt] "
           "[-o options] [--size N | [--object objectdef] [--image-opts] "
           "[-f fmt] [-l snapshot_param] filename]\n");
}

/* The command line and its checks, in QEMU's order: 0, or the exit code. */
static int measure_parse(MeasureArgs *a, int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "output", required_argument, NULL, OPTION_OUTPUT },
        { "size", required_argument, NULL, OPTION_SIZE },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 }
    };
    int c;

    a->out_fmt = "raw";
    a->size = -1;
    while ((c = img_getopt(argc, argv, ":hf:O:o:l:U", long_options,
                           &a->o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            measure_usage();
            return 0;
        case 'O':
            a->out_fmt = optarg;
            break;
        case 'o':
            if (accumulate_options(&a->options, optarg) < 0) {
                return 1;
            }
            break;
        case 'l':
            if (img_parse_snapshot_param(optarg, &a->snapshot_id,
                                         &a->snapshot_name) < 0) {
                return 1;
            }
            break;
        case OPTION_SIZE:
            a->size = cvtnum("image size", optarg);
            if (a->size < 0) {
                return 1;
            }
            break;
        }
    }
    if (argc - optind > 1) {
        error_report("At most one filename argument is allowed.");
        return 1;
    }
    a->filename = argc - optind == 1 ? argv[optind] : NULL;
    if (!a->filename && (a->o.image_opts || a->o.fmt || a->snapshot_id ||
                         a->snapshot_name)) {
        error_report("--image-opts, -f, and -l require a filename argument.");
        return 1;
    }
    if (a->filename && a->size >= 0) {
        error_report("--size N cannot be used together with a filename.");
        return 1;
    }
    if (!a->filename && a->size < 0) {
        error_report("Either --size N or one filename must be specified.");
        return 1;
    }
    return -1;
}

static void measure_print(const MeasureArgs *a, const BlockMeasureInfo *info)
{
    if (a->o.output == OFORMAT_HUMAN) {
        printf("required size: %" PRIu64 "\n", info->required);
        printf("fully allocated size: %" PRIu64 "\n", info->fully_allocated);
        if (info->has_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", info->bitmaps);
        }
        return;
    }
    printf("{\n");
    if (info->has_bitmaps) {
        printf("    \"bitmaps\": %" PRIu64 ",\n", info->bitmaps);
    }
    printf("    \"required\": %" PRIu64 ",\n", info->required);
    printf("    \"fully-allocated\": %" PRIu64 "\n}\n", info->fully_allocated);
}

/* The input opened (its snapshot loaded with -l), or NULL if it failed. */
static BlockBackend *measure_open(const MeasureArgs *a)
{
    BlockBackend *blk = img_open(a->o.image_opts, a->filename, a->o.fmt, 0,
                                 false, a->o.force_share);
    Error *err = NULL;

    if (blk && (a->snapshot_id || a->snapshot_name) &&
        bdrv_snapshot_load_tmp(blk_bs(blk), a->snapshot_id,
                               a->snapshot_name, &err) < 0) {
        error_prepend(&err, "Failed to load snapshot: ");
        error_report_err(err);
        blk_unref(blk);
        return NULL;
    }
    return blk;
}

int img_measure(int argc, char **argv)
{
    MeasureArgs a = { 0 };
    const QemuOptDesc *lists[3];
    BlockMeasureInfo info = { 0 };
    BlockBackend *in = NULL;
    BlockDriver *drv;
    QDict *opts = NULL;
    Error *err = NULL;
    int ret = measure_parse(&a, argc, argv);

    if (ret >= 0) {
        goto out;
    }
    ret = 1;
    if (a.filename) {
        in = measure_open(&a);
        if (!in) {
            goto out;
        }
    }
    drv = img_create_lists(a.out_fmt, lists, &err);
    if (!drv) {
        error_report_err(err);
        goto out;
    }
    opts = img_parse_create_opts(a.options, lists, &err);
    if (!opts) {
        error_report_err(err);
        error_report("Invalid options for file format '%s'", a.out_fmt);
        goto out;
    }
    if (a.size >= 0) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRId64, a.size);
        qdict_put_str(opts, "size", buf);
    }
    if (bdrv_measure(drv, opts, in ? blk_bs(in) : NULL, &info, &err) < 0) {
        error_report_err(err);
        goto out;
    }
    measure_print(&a, &info);
    ret = 0;
out:
    qdict_free(opts);
    blk_unref(in);
    free(a.options);
    free(a.snapshot_id);
    free(a.snapshot_name);
    return ret;
}
