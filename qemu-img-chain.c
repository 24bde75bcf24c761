/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-chain.c: commands that edit a backing chain: rebase (point an
 * image at a new backing file) and commit (fold it into its backing).
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu-img.h"

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

int img_rebase(int argc, char **argv)
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
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        ret = -1;
        goto out;
    }
    if (bdrv_parse_cache_mode(src_cache, &src_flags, &src_wt) < 0) {
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
            QDict *options;
            char *real_path = bdrv_get_full_backing_filename_from_filename(
                                  bdrv_get_filename(bs), out_baseimg, &err);

            if (!real_path) {
                error_reportf_err(err, "Could not resolve backing filename: ");
                ret = -1;
                goto out;
            }
            options = qdict_new();
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
        float local_progress = 0;

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
        if (size > 0) {
            /* One step per buffer-sized piece, as QEMU counts it. */
            local_progress = (float)100 / (size / MIN(size, IO_BUF_SIZE));
        }

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
            qemu_progress_print(local_progress, 100);
        }
        ret = 0;
    }

    if (out_baseimg && *out_baseimg) {
        if (!out_basefmt) {
            ret = -EINVAL;
        } else {
            ret = bdrv_change_backing_file(bs, out_baseimg, out_basefmt,
                                           &err);
        }
    } else {
        ret = bdrv_change_backing_file(bs, NULL, NULL, &err);
    }
    if (ret == -EINVAL && out_baseimg && !out_basefmt) {
        error_report("Could not change the backing file to '%s': "
                     "backing format must be specified", out_baseimg);
    } else if (ret == -ENOSPC) {
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

/*
 * Where [offset, offset + bytes) of the chain from @top down to its last
 * opened backing file (the image above the commit base) has its data, as
 * QEMU's bdrv_is_allocated_above(): 0 nowhere in these images, 1 data,
 * 2 reads as zeroes; a backing file that ends before @offset counts as
 * zeroes at its level.  *pnum is how far the answer holds.
 */
static int commit_status(BlockDriverState *top, int64_t offset,
                         int64_t bytes, int64_t *pnum)
{
    BlockDriverState *p;

    for (p = top; p; p = bdrv_backing_bs(p)) {
        int64_t n = 0;
        int ret = bdrv_block_status(p, offset, bytes, &n, NULL, NULL);

        if (ret < 0) {
            return ret;
        }
        if (p != top && n == 0 && (ret & BDRV_BLOCK_EOF)) {
            *pnum = bytes;
            return 2;
        }
        if (n <= 0) {
            return -EIO;
        }
        bytes = n;
        if (ret & BDRV_BLOCK_ALLOCATED) {
            *pnum = bytes;
            return (ret & BDRV_BLOCK_ZERO) ? 2 : 1;
        }
    }
    *pnum = bytes;
    return 0;
}

/*
 * Open @filename read-write with its backing chain cut below the image
 * @depth - 1 levels down (the one right above the commit base), so that
 * the base can then be opened for writing on its own, without our own
 * read-only hold on it in the way.  Errors are reported.
 */
static BlockBackend *open_above_base(bool image_opts, const char *filename,
                                     const char *fmt, int flags,
                                     bool writethrough, int depth)
{
    QDict *options = NULL;
    BlockBackend *blk;
    Error *err = NULL;
    char *key = qemu_xstrdup("backing");
    int i;

    for (i = 1; i < depth; i++) {
        char *longer = qemu_xasprintf("backing.%s", key);

        free(key);
        key = longer;
    }
    if (!image_opts) {
        options = qdict_new();
        qdict_put_str(options, key, "");
        free(key);
        return img_open_file(filename, options, fmt, flags, writethrough,
                             false);
    }
    if (qdict_parse_keyval(&options, filename, NULL, &err) < 0) {
        error_report_err(err);
        qdict_free(options);
        free(key);
        return NULL;
    }
    qdict_put_str(options, key, "");
    free(key);
    blk = blk_new_open(NULL, options, flags, &err);
    if (!blk) {
        error_reportf_err(err, "Could not open '%s': ", filename);
        return NULL;
    }
    blk_set_enable_write_cache(blk, !writethrough);
    return blk;
}

int img_commit(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    const char *fmt = NULL, *filename, *cache = "writeback", *base = NULL;
    bool quiet = false, image_opts = false, drop = false;
    bool progress_on = false, writethrough = false;
    BlockBackend *blk = NULL, *base_blk = NULL;
    BlockDriverState *bs, *base_bs, *above;
    int flags = BDRV_O_RDWR | BDRV_O_UNMAP, c, ret = 0, depth = 1;
    Error *err = NULL;
    uint8_t *buf = NULL;
    char *base_name = NULL, *base_fmt = NULL;

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
    if (bdrv_parse_cache_mode(cache, &flags, &writethrough) < 0) {
        error_report("Invalid cache option: %s", cache);
        return 1;
    }

    /*
     * First open the whole chain as QEMU does, so that a missing backing
     * file or a lock held by someone else fails with QEMU's words, and find
     * the base in it.  Then the chain is reopened down to the image above
     * the base only, and the base is opened read-write on its own, so our
     * own read-only hold on the base cannot get in the way.
     */
    blk = img_open(image_opts, filename, fmt, flags, writethrough, false);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);
    qemu_progress_init(progress_on, 1.f);
    qemu_progress_print(0.f, 100);
    if (base) {
        base_bs = bdrv_find_backing_image(bs, base);
        if (!base_bs) {
            error_setg(&err, "Did not find '%s' in the backing chain of "
                       "'%s'", base, filename);
            goto done;
        }
    } else {
        /* qemu-img's default: the immediate backing file. */
        base_bs = bdrv_backing_bs(bs);
        if (!base_bs) {
            error_setg(&err, "Image does not have a backing file");
            goto done;
        }
    }
    for (above = bs; bdrv_backing_bs(above) != base_bs;
         above = bdrv_backing_bs(above)) {
        depth++;
    }
    /*
     * Reopened by the name it was opened with (a json:{...} one keeps its
     * options, e.g. blkdebug's rules), not by its file's.
     */
    base_name = bdrv_get_full_backing_filename_from_filename(
                    bdrv_get_filename(above), bdrv_get_backing_filename(above),
                    NULL);
    if (!base_name) {
        base_name = qemu_xstrdup(bdrv_get_filename(base_bs));
    }
    base_fmt = qemu_xstrdup(bdrv_get_backing_format(above));
    blk_unref(blk);
    /* The reopen must not repeat warnings the first open printed. */
    warn_set_sink(img_null_sink, NULL);
    blk = open_above_base(image_opts, filename, fmt, flags, writethrough,
                          depth);
    warn_set_sink(img_warning_sink, NULL);
    if (!blk) {
        qemu_progress_end();
        free(base_name);
        free(base_fmt);
        return 1;
    }
    bs = blk_bs(blk);

    {
        QDict *bopts = qdict_new();

        if (base_fmt[0]) {
            qdict_put_str(bopts, "driver", base_fmt);
        }
        /* The base is written with the cache mode given by -t. */
        base_blk = blk_new_open(base_name, bopts,
                                BDRV_O_RDWR | BDRV_O_RESIZE | BDRV_O_UNMAP |
                                (flags & (BDRV_O_NOCACHE | BDRV_O_NO_FLUSH)),
                                &err);
        if (!base_blk) {
            /* QEMU's words: a reopen of the base, nothing prepended. */
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
            ret = commit_status(bs, offset, n, &n);
            if (ret < 0) {
                /* QEMU's words for whatever fails in its commit job. */
                error_setg_errno(&err, -ret, "Block job failed");
                goto done;
            }
            if (ret == 2) {
                /* As QEMU's commit (a mirror): zeroes may be unmapped. */
                ret = blk_pwrite_zeroes(base_blk, offset, n,
                                        BDRV_REQ_MAY_UNMAP);
            } else if (ret) {
                /* Data is copied as it is, zero bytes included. */
                ret = blk_pread(blk, offset, n, buf);
                if (ret >= 0) {
                    ret = blk_pwrite(base_blk, offset, n, buf, 0);
                }
            }
            if (ret < 0) {
                error_setg_errno(&err, -ret, "Block job failed");
                goto done;
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
    free(base_fmt);
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
