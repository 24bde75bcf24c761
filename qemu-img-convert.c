/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-convert.c: commands that stream data between images: convert
 * (copy into a new or existing image, sparse-aware) and compare.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu-img.h"

/* Largest sparse-detection granularity of convert -S, in sectors. */
#define MAX_BUF_SECTORS 32768

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
        ret = convert_status(s, offset, s->total_size - offset, &n);
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
    offset = 0;
    ret = 0;
    while (offset < s->total_size) {
        int data;

        n = MIN(chunk_max, s->total_size - offset);
        if (s->compressed) {
            int64_t n2;
            int st = convert_status(s, offset, s->total_size - offset, &n2);

            if (st < 0) {
                ret = st;
                error_report("error while reading block status at offset %"
                             PRId64 ": %s", offset, strerror(-ret));
                goto out;
            }
            if (st != 1 && n2 >= n) {
                /* Whole clusters without data are skipped at once. */
                n = offset + n2 < s->total_size ? n2 - n2 % chunk_max : n2;
            }
            if (st == 2 && n2 >= n) {
                offset += n;
                continue;
            }
            /*
             * Clusters that read as zeroes are neither read nor
             * compressed (an all-zero buffer would not be written either).
             */
            if (st == 0 && n2 >= n) {
                if (!s->target_has_zero_init) {
                    ret = blk_pwrite_zeroes(s->target, offset, n,
                                            BDRV_REQ_MAY_UNMAP);
                    if (ret < 0) {
                        error_report("error while writing at byte %" PRId64
                                     ": %s", offset, strerror(-ret));
                        goto out;
                    }
                }
                offset += n;
                allocated_done += s->min_sparse == 0 ? n : 0;
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
    if (s->compressed) {
        /* End of the compressed stream: the format aligns the file end. */
        ret = blk_pwrite(s->target, 0, 0, NULL, BDRV_REQ_WRITE_COMPRESSED);
        if (ret < 0) {
            error_report("error while compressing: %s", strerror(-ret));
            goto out;
        }
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

int img_convert(int argc, char **argv)
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
                       sval / BDRV_SECTOR_SIZE > MAX_BUF_SECTORS) {
                error_report("Invalid buffer size for sparse output "
                             "specified. Valid sizes are multiples of %d "
                             "up to %d. Select 0 to disable sparse "
                             "detection (fully allocates output).",
                             BDRV_SECTOR_SIZE,
                             MAX_BUF_SECTORS * BDRV_SECTOR_SIZE);
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

    if (bdrv_parse_cache_mode(src_cache, &src_flags, &src_wt) < 0) {
        error_report("Invalid source cache option: %s", src_cache);
        goto fail_getopt;
    }

    qemu_progress_init(progress_on, 1.0);
    qemu_progress_print(0, 100);
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
            if (!qemu_opt_find_desc(lists[0], "backing_file")) {
                error_report("Backing file not supported for file format "
                             "'%s'", out_fmt);
                qdict_free(opts);
                ret = -1;
                goto out;
            }
            qdict_put_str(opts, "backing_file", out_baseimg);
        }
        if (backing_fmt) {
            if (!qemu_opt_find_desc(lists[0], "backing_fmt")) {
                error_report("Backing file format not supported for file "
                             "format '%s'", out_fmt);
                qdict_free(opts);
                ret = -1;
                goto out;
            }
            qdict_put_str(opts, "backing_fmt", backing_fmt);
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
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
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

int img_compare(int argc, char **argv)
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
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
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
