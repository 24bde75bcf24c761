/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-dd.c: "qemu-img dd", dd(1)'s operands over block images.  As
 * QEMU 7.2: the output image is created (format -O, raw by default) with
 * the size that remains after skip, then filled block by block.  Two of
 * 7.2's quirks are kept because scripts see them: count limits the input
 * from its start, not from the skip, and a skip past the end gives an
 * empty output image, a warning and exit status 0.
 */
#include "qemu/osdep.h"
#include "qemu-img.h"

typedef struct DdArgs {
    int64_t bs;             /* bs=: block size in bytes, 512 by default */
    int64_t count;          /* count=: blocks, -1 if not given */
    int64_t skip;           /* skip=: input blocks to skip, -1 if not given */
    const char *in;         /* if= */
    const char *out;        /* of= */
} DdArgs;

/* One "name=value" operand into @a; 0, or -1 after the error line. */
static int dd_operand(const char *arg, DdArgs *a)
{
    const char *eq = strchr(arg, '=');
    const char *v;
    size_t n;

    if (!eq) {
        error_report("unrecognized operand %s", arg);
        return -1;
    }
    n = (size_t)(eq - arg);
    v = eq + 1;
    if (n == 2 && !strncmp(arg, "bs", 2)) {
        a->bs = cvtnum_full("bs", v, 1, INT_MAX);
        return a->bs < 0 ? -1 : 0;
    } else if (n == 5 && !strncmp(arg, "count", 5)) {
        a->count = cvtnum("count", v);
        return a->count < 0 ? -1 : 0;
    } else if (n == 4 && !strncmp(arg, "skip", 4)) {
        a->skip = cvtnum("skip", v);
        return a->skip < 0 ? -1 : 0;
    } else if (n == 2 && !strncmp(arg, "if", 2)) {
        a->in = v;
        return 0;
    } else if (n == 2 && !strncmp(arg, "of", 2)) {
        a->out = v;
        return 0;
    }
    error_report("unrecognized operand %.*s", (int)n, arg);
    return -1;
}

/* Does skip= reach past @size (or overflow)? */
static bool dd_skip_past_end(const DdArgs *a, int64_t size)
{
    return a->skip >= 0 &&
           (a->skip > INT64_MAX / a->bs || size < a->skip * a->bs);
}

/* Create the output image of @size bytes in format @fmt. */
static int dd_create_output(const char *fmt, const char *filename,
                            int64_t size)
{
    const QemuOptDesc *lists[3];
    BlockDriver *drv = bdrv_find_format(fmt);
    QDict *opts;
    Error *err = NULL;
    char sizebuf[32];
    int ret;

    if (!drv) {
        error_report("Unknown file format");
        return -1;
    }
    drv = img_create_lists(fmt, lists, &err);
    if (!drv) {
        error_report_err(err);
        return -1;
    }
    opts = img_parse_create_opts(NULL, lists, &err);
    if (!opts) {
        error_report_err(err);
        return -1;
    }
    snprintf(sizebuf, sizeof(sizebuf), "%" PRId64, size);
    qdict_put_str(opts, "size", sizebuf);
    ret = bdrv_create(drv, filename, opts, &err);
    qdict_free(opts);
    if (ret < 0) {
        if (err) {
            error_reportf_err(err, "%s: error while creating output image: ",
                              filename);
        } else {
            error_report("%s: error while creating output image: %s",
                         filename, strerror(-ret));
        }
        return -1;
    }
    return 0;
}

/* Copy [@in_pos, @size) of @src to @dst from offset 0, @bs at a time. */
static int dd_copy(BlockBackend *src, BlockBackend *dst, int64_t in_pos,
                   int64_t size, int64_t bs)
{
    uint8_t *buf = qemu_xmalloc((size_t)bs);
    int64_t out_pos = 0;
    int ret = 0;

    while (in_pos < size) {
        int64_t n = MIN(bs, size - in_pos);

        ret = blk_pread(src, in_pos, n, buf);
        if (ret < 0) {
            error_report("error while reading from input image file: %s",
                         strerror(-ret));
            break;
        }
        ret = blk_pwrite(dst, out_pos, n, buf, 0);
        if (ret < 0) {
            error_report("error while writing to output image file: %s",
                         strerror(-ret));
            break;
        }
        in_pos += n;
        out_pos += n;
    }
    free(buf);
    return ret < 0 ? -1 : 0;
}

int img_dd(int argc, char **argv)
{
    ImgOpts o = { .own = "O" };
    DdArgs a = { .bs = 512, .count = -1, .skip = -1 };
    const char *out_fmt = "raw";
    BlockBackend *src = NULL, *dst = NULL;
    int64_t size, in_pos;
    int c, ret = -1;

    while ((c = img_getopt(argc, argv, ":hf:O:U", img_std_long_options,
                           &o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img dd [--image-opts] [-U] [-f fmt] "
                   "[-O output_fmt] [bs=block_size] [count=blocks] "
                   "[skip=blocks] if=input of=output\n");
            return 0;
        case 'O':
            out_fmt = optarg;
            break;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (dd_operand(argv[i], &a) < 0) {
            return 1;
        }
    }
    if (!a.in || !a.out) {
        error_report("Must specify both input and output files");
        return 1;
    }

    src = img_open(o.image_opts, a.in, o.fmt, 0, false, o.force_share);
    if (!src) {
        return 1;
    }
    size = blk_getlength(src);
    if (size < 0) {
        error_report("Failed to get size for '%s'", a.in);
        goto out;
    }
    if (a.count >= 0 && a.count <= INT64_MAX / a.bs && a.count * a.bs < size) {
        size = a.count * a.bs;
    }
    if (dd_create_output(out_fmt, a.out,
                         dd_skip_past_end(&a, size) ? 0
                         : size - MAX(a.skip, 0) * a.bs) < 0) {
        goto out;
    }
    /* --image-opts is for the input only, as in QEMU. */
    dst = img_open(false, a.out, out_fmt, BDRV_O_RDWR, false, false);
    if (!dst) {
        goto out;
    }
    if (dd_skip_past_end(&a, size)) {
        error_report("%s: cannot skip to specified offset", a.in);
        in_pos = size;
    } else {
        in_pos = MAX(a.skip, 0) * a.bs;
    }
    ret = dd_copy(src, dst, in_pos, size, a.bs);

out:
    blk_unref(dst);
    blk_unref(src);
    return ret < 0 ? 1 : 0;
}
