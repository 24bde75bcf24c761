/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-convert.c: commands that stream data between images: convert
 * (copy into a new or existing image, sparse-aware) and compare.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "block/dirty-bitmap.h"
#include "qemu-img.h"

/* Largest sparse-detection granularity of convert -S, in sectors. */
#define MAX_BUF_SECTORS 32768

/* ---- convert ---------------------------------------------------------- */

/*
 * What the phases of convert share: the command line, then the open
 * images, then what the copy loop needs to know about the target.
 */
typedef struct ConvertState {
    ImgOpts o;                 /* -t is the target's cache, -T the sources' */
    const char *out_fmt;       /* -O, "raw" unless --target-image-opts */
    const char *out_baseimg;   /* -B */
    const char *backing_fmt;   /* -F */
    const char *out_filename;
    char *options;             /* -o, accumulated */
    bool skip_create;          /* -n */
    bool tgt_image_opts;       /* --target-image-opts */
    char **src_names;
    int src_flags;
    bool src_writethrough;

    BlockBackend **src;
    int64_t *src_sizes;
    int src_num;
    int64_t total_size;
    BlockBackend *target;
    bool target_has_zero_init;
    bool target_has_backing; /* copy only the sources' top layers */
    bool compressed;         /* -c */
    bool copy_range;         /* -C: no effect but its checks */
    bool salvage;            /* --salvage: unreadable sectors read as zeroes */
    bool bitmaps;            /* --bitmaps: copy the persistent bitmaps */
    bool skip_broken;        /* --skip-broken-bitmaps: but inconsistent ones */
    bool explicit_sparse;    /* -S given */
    char *snapshot_id;       /* -l snapshot.id=... */
    char *snapshot_name;     /* -l NAME or snapshot.name=... */
    int64_t cluster_size;
    int64_t min_sparse;      /* -S, in bytes */
    int64_t allocated;       /* bytes to copy, for the progress figures */
    int64_t allocated_done;
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

/*
 * --salvage: read sector by sector, unreadable sectors (warned about,
 * at their offset in the source) reading as zeroes.
 */
static void convert_salvage_read(ConvertState *s, int i, int64_t offset,
                                 int64_t bytes, uint8_t *buf)
{
    while (bytes > 0) {
        int64_t n = MIN(bytes, BDRV_SECTOR_SIZE);
        int ret = blk_pread(s->src[i], offset, n, buf);

        if (ret < 0) {
            if (!s->o.quiet) {
                warn_report("error while reading offset %" PRId64 ": %s",
                            offset, strerror(-ret));
            }
            memset(buf, 0, n);
        }
        offset += n;
        bytes -= n;
        buf += n;
    }
}

/* Read across the sources; errors are reported. */
static int convert_read(ConvertState *s, int64_t offset, int64_t bytes,
                        uint8_t *buf)
{
    int64_t start = offset;

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
        if (ret < 0 && s->salvage) {
            convert_salvage_read(s, i, so, n, buf);
        } else if (ret < 0) {
            error_report("error while reading at byte %" PRId64 ": %s",
                         start, strerror(-ret));
            return ret;
        }
        offset += n;
        bytes -= n;
        buf += n;
    }
    return 0;
}

static int convert_write_error(int64_t offset, int ret)
{
    error_report("error while writing at byte %" PRId64 ": %s", offset,
                 strerror(-ret));
    return ret;
}

/* Zeroes at @offset, unless the new target reads as zeroes already. */
static int convert_write_zeroes(ConvertState *s, int64_t offset,
                                int64_t bytes)
{
    int ret;

    if (s->target_has_zero_init) {
        return 0;
    }
    ret = blk_pwrite_zeroes(s->target, offset, bytes, BDRV_REQ_MAY_UNMAP);
    return ret < 0 ? convert_write_error(offset, ret) : 0;
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
 * how far that holds (at most @max bytes).  Errors are reported.
 */
static int convert_status(ConvertState *s, int64_t offset, int64_t max,
                          int64_t *n)
{
    BlockDriverState *file = NULL;
    int64_t so = 0, left = 0, pnum = 0, map = 0;
    int depth = 0, status;
    int i = convert_find_source(s, offset, &so, &left);

    *n = MIN(max, left);
    for (;;) {
        if (s->target_has_backing) {
            status = bdrv_block_status(blk_bs(s->src[i]), so, *n, &pnum,
                                       &map, &file);
        } else {
            status = bdrv_block_status_above(blk_bs(s->src[i]), NULL, so,
                                             *n, &pnum, &map, &file, &depth);
        }
        if (status >= 0) {
            break;
        }
        if (!s->salvage) {
            error_report("error while reading block status at offset %"
                         PRId64 ": %s", offset, strerror(-status));
            return status;
        }
        if (*n > BDRV_SECTOR_SIZE) {
            /* --salvage: narrow down to the sector that fails... */
            *n = QEMU_ALIGN_UP(DIV_ROUND_UP(*n, 4), BDRV_SECTOR_SIZE);
            continue;
        }
        /* ...and try to read its data. */
        if (!s->o.quiet) {
            warn_report("error while reading block status at offset %"
                        PRId64 ": %s", so, strerror(-status));
        }
        return 1;
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

static void convert_progress(ConvertState *s, int64_t done)
{
    s->allocated_done += done;
    if (s->allocated) {
        qemu_progress_print(100.0f * s->allocated_done / s->allocated, 0);
    }
}

/* First pass: how much data there is, for the progress figures. */
static int convert_count_allocated(ConvertState *s)
{
    int64_t offset, n;
    int ret;

    for (offset = 0; offset < s->total_size; offset += n) {
        ret = convert_status(s, offset, s->total_size - offset, &n);
        if (ret < 0) {
            return ret;
        }
        if (ret == 1 || (ret == 0 && s->min_sparse == 0)) {
            s->allocated += n;
        }
    }
    return 0;
}

/* Whole target clusters, which may span sources, compressed. */
static int convert_write_compressed(ConvertState *s, int64_t offset,
                                    int64_t n, uint8_t *buf)
{
    int ret = convert_read(s, offset, n, buf);

    if (ret < 0) {
        return ret;
    }
    if (!buffer_is_zero(buf, n)) {
        ret = blk_pwrite(s->target, offset, n, buf,
                         BDRV_REQ_WRITE_COMPRESSED);
    } else if (!s->target_has_zero_init) {
        ret = blk_pwrite_zeroes(s->target, offset, n, BDRV_REQ_MAY_UNMAP);
    }
    if (ret < 0) {
        /* As QEMU: a format that refuses only now (an external data file) */
        error_report("error while writing at byte %" PRId64 ": %s", offset,
                     strerror(-ret));
        return ret;
    }
    convert_progress(s, n);
    return 0;
}

/*
 * One step of a compressed copy at @offset: *@pn bytes (one cluster), or
 * more where whole clusters without data are skipped at once.
 */
static int convert_step_compressed(ConvertState *s, int64_t offset,
                                   int64_t *pn, uint8_t *buf)
{
    int64_t n2;
    int st = convert_status(s, offset, s->total_size - offset, &n2);
    int ret;

    if (st < 0) {
        return st;
    }
    if (st == 1 || n2 < *pn) {
        return convert_write_compressed(s, offset, *pn, buf);
    }
    *pn = offset + n2 < s->total_size ? n2 - n2 % s->cluster_size : n2;
    if (st == 2) {
        return 0;
    }
    /*
     * Clusters that read as zeroes are neither read nor compressed (an
     * all-zero buffer would not be written either).
     */
    ret = convert_write_zeroes(s, offset, *pn);
    if (ret < 0) {
        return ret;
    }
    s->allocated_done += s->min_sparse == 0 ? *pn : 0;
    return 0;
}

/* One step of a plain copy at @offset, at most *@pn bytes (set to done). */
static int convert_step(ConvertState *s, int64_t offset, int64_t *pn,
                        uint8_t *buf)
{
    int data = convert_status(s, offset, *pn, pn);
    int ret;

    if (data < 0) {
        return data;
    }
    if (data == 2) {
        return 0; /* Left to the target's backing file. */
    }
    if (!data && s->min_sparse) {
        return convert_write_zeroes(s, offset, *pn);
    }
    ret = convert_read(s, offset, *pn, buf);
    if (ret < 0) {
        return ret;
    }
    ret = convert_write(s, offset, *pn, buf);
    if (ret < 0) {
        return convert_write_error(offset, ret);
    }
    convert_progress(s, *pn);
    return 0;
}

/* End of the compressed stream (the format aligns the file end), flush. */
static int convert_finish(ConvertState *s)
{
    int ret;

    if (s->compressed) {
        ret = blk_pwrite(s->target, 0, 0, NULL, BDRV_REQ_WRITE_COMPRESSED);
        if (ret < 0) {
            error_report("error while compressing: %s", strerror(-ret));
            return ret;
        }
    }
    ret = blk_flush(s->target);
    if (ret < 0) {
        error_report("error while flushing: %s", strerror(-ret));
        return ret;
    }
    qemu_progress_print(100, 0);
    return 0;
}

static int convert_copy(ConvertState *s)
{
    int64_t chunk_max = s->compressed ? s->cluster_size : IO_BUF_SIZE;
    int64_t offset, n;
    uint8_t *buf;
    int ret = convert_count_allocated(s);

    if (ret < 0) {
        return ret;
    }
    buf = qemu_xmalloc(chunk_max);
    for (offset = 0; offset < s->total_size; offset += n) {
        n = MIN(chunk_max, s->total_size - offset);
        if (s->compressed) {
            ret = convert_step_compressed(s, offset, &n, buf);
        } else {
            ret = convert_step(s, offset, &n, buf);
        }
        if (ret < 0) {
            break;
        }
    }
    if (ret >= 0) {
        ret = convert_finish(s);
    }
    free(buf);
    return ret;
}

/* -S: the sparse-detection granularity, in bytes. */
static int convert_parse_sparse(const char *arg, int64_t *min_sparse)
{
    int64_t sval = cvtnum("buffer size for sparse output", arg);

    if (sval < 0) {
        return -1;
    }
    if (!QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
        sval / BDRV_SECTOR_SIZE > MAX_BUF_SECTORS) {
        error_report("Invalid buffer size for sparse output specified. "
                     "Valid sizes are multiples of %d up to %d. Select 0 "
                     "to disable sparse detection (fully allocates output).",
                     BDRV_SECTOR_SIZE, MAX_BUF_SECTORS * BDRV_SECTOR_SIZE);
        return -1;
    }
    *min_sparse = sval;
    return 0;
}

/* The getopt loop; -1 to go on, else the exit code. */
static int convert_parse_opts(ConvertState *s, int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "force-share", no_argument, NULL, 'U' },
        { "target-image-opts", no_argument, NULL, OPTION_TARGET_IMAGE_OPTS },
        { "salvage", no_argument, NULL, OPTION_SALVAGE },
        { "bitmaps", no_argument, NULL, OPTION_BITMAPS },
        { "skip-broken-bitmaps", no_argument, NULL, OPTION_SKIP_BROKEN },
        { NULL, 0, NULL, 0 }
    };
    int c;

    while ((c = img_getopt(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WrU",
                           long_options, &s->o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img convert [-C] [-c] [-p] [-q] [-n] "
                   "[-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B "
                   "backing_file [-F backing_fmt]] [-o options] [-S "
                   "sparse_size] [-U] [--salvage] [--bitmaps "
                   "[--skip-broken-bitmaps]] filename [filename2 "
                   "[...]] output_filename\n");
            return 0;
        case 'O':
            s->out_fmt = optarg;
            break;
        case 'B':
            s->out_baseimg = optarg;
            break;
        case 'F':
            s->backing_fmt = optarg;
            break;
        case 'c':
            s->compressed = true;
            break;
        case 'C':
            s->copy_range = true;
            break;
        case OPTION_SALVAGE:
            s->salvage = true;
            break;
        case OPTION_BITMAPS:
            s->bitmaps = true;
            break;
        case OPTION_SKIP_BROKEN:
            s->skip_broken = true;
            break;
        case 'o':
            if (accumulate_options(&s->options, optarg) < 0) {
                return 1;
            }
            break;
        case 'l':
            if (img_parse_snapshot_param(optarg, &s->snapshot_id,
                                         &s->snapshot_name) < 0) {
                return 1;
            }
            break;
        case 'S':
            if (convert_parse_sparse(optarg, &s->min_sparse) < 0) {
                return 1;
            }
            s->explicit_sparse = true;
            break;
        case 'n':
            s->skip_create = true;
            break;
        case OPTION_TARGET_IMAGE_OPTS:
            s->tgt_image_opts = true;
            break;
        /*
         * -C (copy offloading; our copy loop never offloads), -m, -W, -r:
         * the result is the same.
         */
        }
    }
    return -1;
}

/* Options and file names together; -1 to go on, else the exit code. */
static int convert_parse_args(ConvertState *s, int argc, char **argv)
{
    int ret = convert_parse_opts(s, argc, argv);

    if (ret >= 0) {
        return ret;
    }
    if (!s->out_fmt && !s->tgt_image_opts) {
        s->out_fmt = "raw";
    }
    /* QEMU's order of checks. */
    if (s->skip_broken && !s->bitmaps) {
        error_report("Use of --skip-broken-bitmaps requires --bitmaps");
        return 1;
    }
    if (s->compressed && s->copy_range) {
        error_report("Cannot enable copy offloading when -c is used");
        return 1;
    }
    if (s->explicit_sparse && s->copy_range) {
        error_report("Cannot enable copy offloading when -S is used");
        return 1;
    }
    if (s->copy_range && s->salvage) {
        error_report("Cannot use copy offloading in salvaging mode");
        return 1;
    }
    if (s->tgt_image_opts && !s->skip_create) {
        error_report("--target-image-opts requires use of -n flag");
        return 1;
    }
    if (s->skip_create && s->options) {
        error_report("-o has no effect when skipping image creation");
        return 1;
    }
    s->src_num = argc - optind - 1;
    s->src_names = argv + optind;
    s->out_filename = s->src_num >= 1 ? argv[argc - 1] : NULL;
    if (s->options && has_help_option(s->options)) {
        if (s->out_fmt) {
            return print_block_option_help(s->out_filename, s->out_fmt);
        }
        error_report("Option help requires a format be specified");
        return 1;
    }
    if (s->src_num < 1) {
        error_report("Must specify image file name");
        return 1;
    }
    if (s->src_num > 1 && (s->snapshot_id || s->snapshot_name)) {
        error_report("No support for concatenating multiple snapshot");
        return 1;
    }
    if (img_parse_cache(s->o.src_cache, true, &s->src_flags,
                        &s->src_writethrough) < 0) {
        return 1;
    }
    return -1;
}

static int convert_open_sources(ConvertState *s)
{
    int i;

    s->src = qemu_xnew0(BlockBackend *, s->src_num);
    s->src_sizes = qemu_xnew0(int64_t, s->src_num);
    for (i = 0; i < s->src_num; i++) {
        s->src[i] = img_open(s->o.image_opts, s->src_names[i], s->o.fmt,
                             s->src_flags, s->src_writethrough,
                             s->o.force_share);
        if (!s->src[i]) {
            return -1;
        }
        if (s->snapshot_id || s->snapshot_name) {
            Error *err = NULL;

            if (bdrv_snapshot_load_tmp(blk_bs(s->src[i]), s->snapshot_id,
                                       s->snapshot_name, &err) < 0) {
                error_prepend(&err, "Failed to load snapshot: ");
                error_report_err(err);
                return -1;
            }
        }
        s->src_sizes[i] = blk_getlength(s->src[i]);
        if (s->src_sizes[i] < 0) {
            error_report("Could not get size of %s: %s", s->src_names[i],
                         strerror((int)-s->src_sizes[i]));
            return -1;
        }
        s->total_size += s->src_sizes[i];
    }
    return 0;
}

static int convert_create_target(ConvertState *s)
{
    const QemuOptDesc *lists[3];
    BlockDriver *drv;
    QDict *opts = NULL;
    Error *err = NULL;
    char sizebuf[32];
    int ret;

    drv = img_create_lists(s->out_fmt, lists, &err);
    if (!drv) {
        goto fail;
    }
    opts = img_parse_create_opts(s->options, lists, &err);
    if (!opts) {
        goto fail;
    }
    snprintf(sizebuf, sizeof(sizebuf), "%" PRId64, s->total_size);
    qdict_put_str(opts, "size", sizebuf);
    if (img_put_backing_opts(opts, lists[0], s->out_fmt, s->out_baseimg,
                             s->backing_fmt, &err) < 0) {
        goto fail;
    }
    if (qdict_get_str(opts, "backing_file")) {
        if (!qdict_get_str(opts, "backing_fmt")) {
            error_setg(&err, "Use of backing file requires explicit "
                       "backing format");
            goto fail;
        }
        s->target_has_backing = true;
    }
    ret = bdrv_create(drv, s->out_filename, opts, &err);
    qdict_free(opts);
    if (ret < 0 && err) {
        error_reportf_err(err, "%s: error while converting %s: ",
                          s->out_filename, s->out_fmt);
    } else if (ret < 0) {
        error_report("%s: error while converting %s: %s", s->out_filename,
                     s->out_fmt, strerror(-ret));
    }
    return ret;

fail:
    error_report_err(err);
    qdict_free(opts);
    return -1;
}

static int convert_open_target(ConvertState *s)
{
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP;
    bool writethrough = false;
    BlockDriverInfo bdi;

    if (img_parse_cache(s->o.cache, false, &flags, &writethrough) < 0) {
        return -1;
    }
    s->target = img_open_extra(s->tgt_image_opts, s->out_filename,
                               s->tgt_image_opts ? NULL : s->out_fmt, NULL,
                               flags, writethrough, false);
    if (!s->target) {
        return -1;
    }
    if (s->bitmaps &&
        !bdrv_supports_persistent_dirty_bitmap(blk_bs(s->target))) {
        error_report("Format driver '%s' does not support bitmaps",
                     bdrv_get_format_name(blk_bs(s->target)));
        return -1;
    }
    if (s->skip_create) {
        int64_t out_size = blk_getlength(s->target);

        if (out_size < 0) {
            error_report("unable to get output image length: %s",
                         strerror((int)-out_size));
            return -1;
        } else if (out_size < s->total_size) {
            error_report("output file is smaller than input file");
            return -1;
        }
    }
    s->target_has_zero_init = !s->skip_create && !s->target_has_backing;
    if (s->compressed) {
        memset(&bdi, 0, sizeof(bdi));
        if (bdrv_get_info(blk_bs(s->target), &bdi) < 0 ||
            bdi.cluster_size <= 0) {
            error_report("Compression not supported for this file format");
            return -1;
        }
        s->cluster_size = bdi.cluster_size;
    }
    return 0;
}

static void convert_close(ConvertState *s)
{
    int i;

    if (s->target) {
        blk_unref(s->target);
    }
    for (i = 0; s->src && i < s->src_num; i++) {
        if (s->src[i]) {
            blk_unref(s->src[i]);
        }
    }
    free(s->src);
    free(s->src_sizes);
    free(s->options);
    free(s->snapshot_id);
    free(s->snapshot_name);
}

int img_convert(int argc, char **argv)
{
    ConvertState s = {
        .o = { .cache = "unsafe", .src_cache = "writeback" },
        .min_sparse = 8 * BDRV_SECTOR_SIZE,
        .src_flags = BDRV_O_NO_SHARE,
    };
    int ret = convert_parse_args(&s, argc, argv);

    if (ret >= 0) {
        free(s.options);
        return ret;
    }
    qemu_progress_init(s.o.progress, 1.0);
    qemu_progress_print(0, 100);
    ret = convert_open_sources(&s);
    if (!ret && s.bitmaps) {
        /* Only the top layer of a single source has bitmaps to copy. */
        if (s.src_num > 1) {
            error_report("Copying bitmaps only possible with single source");
            ret = -1;
        } else {
            ret = img_check_bitmaps(blk_bs(s.src[0]), s.skip_broken);
        }
    }
    if (!ret && !s.skip_create) {
        ret = convert_create_target(&s);
    }
    if (!ret) {
        ret = convert_open_target(&s);
    }
    if (!ret) {
        ret = convert_copy(&s);
    }
    if (!ret && s.bitmaps) {
        ret = img_copy_bitmaps(blk_bs(s.src[0]), blk_bs(s.target),
                               s.skip_broken);
    }
    qemu_progress_end();
    convert_close(&s);
    return ret ? 1 : 0;
}

/* ---- compare ---------------------------------------------------------- */

/* What the phases of compare share; exit codes are QEMU's (0 to 4). */
typedef struct CompareState {
    ImgOpts o;                /* -f is the first image's format, -T cache */
    const char *fmt2;         /* -F */
    bool strict;              /* -s */
    const char *filename[2];
    BlockBackend *blk[2];
    int64_t size[2];
    int64_t progress_base;    /* the larger size */
    uint8_t *buf1, *buf2;
} CompareState;

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

/* Read image @i at @offset; 4 after reporting an error. */
static int compare_read(CompareState *s, int i, int64_t offset,
                        int64_t bytes, uint8_t *buf)
{
    int ret = blk_pread(s->blk[i], offset, bytes, buf);

    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, s->filename[i], strerror(-ret));
        return 4;
    }
    return 0;
}

/* Does image @i read as zeroes there?  0 yes, 1 mismatch, 4 error. */
static int check_empty_sectors(CompareState *s, int i, int64_t offset,
                               int64_t bytes)
{
    int64_t idx;
    int ret = compare_read(s, i, offset, bytes, s->buf1);

    if (ret) {
        return ret;
    }
    idx = find_nonzero(s->buf1, bytes);
    if (idx >= 0) {
        qprintf(s->o.quiet, "Content mismatch at offset %" PRId64 "!\n",
                offset + idx);
        return 1;
    }
    return 0;
}

/* Block status of image @i through its chain; 3 after reporting. */
static int compare_status(CompareState *s, int i, int64_t offset,
                          int64_t bytes, int *status, int64_t *pnum)
{
    BlockDriverState *file = NULL;
    int64_t map = 0;
    int depth = 0;

    *status = bdrv_block_status_above(blk_bs(s->blk[i]), NULL, offset,
                                      bytes, pnum, &map, &file, &depth);
    if (*status < 0 || *pnum <= 0) {
        error_report("Sector allocation test failed for %s",
                     s->filename[i]);
        return 3;
    }
    return 0;
}

/* Both images hold data at @offset: compare the bytes. */
static int compare_data(CompareState *s, int64_t offset, int64_t chunk)
{
    int64_t pnum;
    int ret;

    ret = compare_read(s, 0, offset, chunk, s->buf1);
    if (!ret) {
        ret = compare_read(s, 1, offset, chunk, s->buf2);
    }
    if (ret) {
        return ret;
    }
    ret = compare_buffers(s->buf1, s->buf2, chunk, &pnum);
    if (ret || pnum != chunk) {
        qprintf(s->o.quiet, "Content mismatch at offset %" PRId64 "!\n",
                offset + (ret ? 0 : pnum));
        return 1;
    }
    return 0;
}

/* One step over the range both images have; *@pchunk is set to its size. */
static int compare_step(CompareState *s, int64_t offset, int64_t *pchunk)
{
    int64_t pnum1 = 0, pnum2 = 0, chunk;
    int status1 = 0, status2 = 0, ret;
    bool allocated1, allocated2;

    ret = compare_status(s, 0, offset, s->size[0] - offset, &status1,
                         &pnum1);
    if (!ret) {
        ret = compare_status(s, 1, offset, s->size[1] - offset, &status2,
                             &pnum2);
    }
    if (ret) {
        return ret;
    }
    allocated1 = status1 & BDRV_BLOCK_ALLOCATED;
    allocated2 = status2 & BDRV_BLOCK_ALLOCATED;
    chunk = MIN(pnum1, pnum2);
    if (s->strict && status1 != status2) {
        qprintf(s->o.quiet, "Strict mode: Offset %" PRId64
                " block status mismatch!\n", offset);
        return 1;
    }
    if ((status1 & BDRV_BLOCK_ZERO) && (status2 & BDRV_BLOCK_ZERO)) {
        /* Both read as zeroes. */
    } else if (allocated1 != allocated2) {
        chunk = MIN(chunk, IO_BUF_SIZE);
        ret = check_empty_sectors(s, allocated1 ? 0 : 1, offset, chunk);
    } else if (allocated1) {
        chunk = MIN(chunk, IO_BUF_SIZE);
        ret = compare_data(s, offset, chunk);
    }
    *pchunk = chunk;
    return ret;
}

/* Past the end of the smaller image, the larger must read as zeroes. */
static int compare_tail(CompareState *s, int64_t offset)
{
    int i = s->size[0] > s->size[1] ? 0 : 1;
    int64_t chunk;
    int st, ret;

    qprintf(s->o.quiet, "Warning: Image size mismatch!\n");
    while (offset < s->progress_base) {
        ret = compare_status(s, i, offset, s->progress_base - offset, &st,
                             &chunk);
        if (ret) {
            return ret;
        }
        if ((st & BDRV_BLOCK_ALLOCATED) && !(st & BDRV_BLOCK_ZERO)) {
            chunk = MIN(chunk, IO_BUF_SIZE);
            ret = check_empty_sectors(s, i, offset, chunk);
            if (ret) {
                return ret;
            }
        }
        offset += chunk;
        qemu_progress_print(((float)chunk / s->progress_base) * 100, 100);
    }
    return 0;
}

static int compare_images(CompareState *s)
{
    int64_t total_size = MIN(s->size[0], s->size[1]);
    int64_t offset = 0, chunk;
    int ret;

    qemu_progress_print(0, 100);
    if (s->strict && s->size[0] != s->size[1]) {
        qprintf(s->o.quiet, "Strict mode: Image size mismatch!\n");
        return 1;
    }
    while (offset < total_size) {
        ret = compare_step(s, offset, &chunk);
        if (ret) {
            return ret;
        }
        offset += chunk;
        qemu_progress_print(((float)chunk / s->progress_base) * 100, 100);
    }
    if (s->size[0] != s->size[1]) {
        ret = compare_tail(s, offset);
        if (ret) {
            return ret;
        }
    }
    qprintf(s->o.quiet, "Images are identical.\n");
    return 0;
}

/* Open both images and learn their sizes; 0 or the exit code. */
static int compare_open(CompareState *s, int flags, bool writethrough)
{
    const char *fmt[2] = { s->o.fmt, s->fmt2 };
    int i;

    for (i = 0; i < 2; i++) {
        s->blk[i] = img_open(s->o.image_opts, s->filename[i], fmt[i], flags,
                             writethrough, s->o.force_share);
        if (!s->blk[i]) {
            return 2;
        }
    }
    s->buf1 = qemu_xmalloc(IO_BUF_SIZE);
    s->buf2 = qemu_xmalloc(IO_BUF_SIZE);
    for (i = 0; i < 2; i++) {
        s->size[i] = blk_getlength(s->blk[i]);
        if (s->size[i] < 0) {
            error_report("Can't get size of %s: %s", s->filename[i],
                         strerror((int)-s->size[i]));
            return 4;
        }
    }
    s->progress_base = MAX(s->size[0], s->size[1]);
    return 0;
}

int img_compare(int argc, char **argv)
{
    CompareState s = { .o = { .src_cache = "writeback" } };
    bool writethrough = false;
    int flags = 0, c, ret;

    while ((c = img_getopt(argc, argv, ":hf:F:T:pqsU", img_std_long_options,
                           &s.o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 2;
        case 'h':
            printf("usage: qemu-img compare [--object objectdef] "
                   "[--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] "
                   "[-q] [-s] [-U] filename1 filename2\n");
            return 0;
        case 'F':
            s.fmt2 = optarg;
            break;
        case 's':
            s.strict = true;
            break;
        }
    }
    if (optind != argc - 2) {
        error_exit("Expecting two image file names");
    }
    s.filename[0] = argv[optind++];
    s.filename[1] = argv[optind++];
    if (img_parse_cache(s.o.src_cache, true, &flags, &writethrough) < 0) {
        return 2;
    }

    qemu_progress_init(s.o.progress, 2.0);
    ret = compare_open(&s, flags, writethrough);
    if (!ret) {
        ret = compare_images(&s);
    }
    free(s.buf1);
    free(s.buf2);
    if (s.blk[1]) {
        blk_unref(s.blk[1]);
    }
    if (s.blk[0]) {
        blk_unref(s.blk[0]);
    }
    qemu_progress_end();
    return ret;
}
