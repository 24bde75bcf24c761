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

/* What the phases of rebase share. */
typedef struct RebaseState {
    ImgOpts o;                /* -t is the image's cache, -T the backings' */
    const char *out_baseimg;  /* -b */
    const char *out_basefmt;  /* -F */
    const char *filename;
    bool unsafe;              /* -u */
    BlockBackend *blk;
    BlockDriverState *bs;
    BlockDriverState *old_backing;
    BlockBackend *blk_new_backing;
    int64_t old_size, new_size;
    uint8_t *buf_old, *buf_new;
    float step_progress;      /* percent per buffer-sized step */
} RebaseState;

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

/* The command line; -1 to go on, else the exit code. */
static int rebase_parse_args(RebaseState *s, int argc, char **argv)
{
    int c;

    while ((c = img_getopt(argc, argv, ":hf:F:b:upt:T:qU", img_std_long_options,
                           &s->o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img rebase [--object objectdef] "
                   "[--image-opts] [-U] [-q] [-f fmt] [-t cache] "
                   "[-T src_cache] [-p] [-u] -b backing_file "
                   "[-F backing_fmt] filename\n");
            return 0;
        case 'F':
            s->out_basefmt = optarg;
            break;
        case 'b':
            s->out_baseimg = optarg;
            break;
        case 'u':
            s->unsafe = true;
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    if (!s->unsafe && !s->out_baseimg) {
        error_exit("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    s->filename = argv[optind++];
    return -1;
}

/* The new backing file, named relative to the image as QEMU does. */
static int rebase_open_new_backing(RebaseState *s, int flags)
{
    QDict *options;
    Error *err = NULL;
    char *real_path = bdrv_get_full_backing_filename_from_filename(
                          bdrv_get_filename(s->bs), s->out_baseimg, &err);

    if (!real_path) {
        error_reportf_err(err, "Could not resolve backing filename: ");
        return -1;
    }
    options = qdict_new();
    if (s->out_basefmt) {
        qdict_put_str(options, "driver", s->out_basefmt);
    }
    if (s->o.force_share) {
        qdict_put_str(options, "force-share", "on");
    }
    s->blk_new_backing = blk_new_open(real_path, options, flags, &err);
    free(real_path);
    if (!s->blk_new_backing) {
        error_reportf_err(err, "Could not open new backing file '%s': ",
                          s->out_baseimg);
        return -1;
    }
    return 0;
}

/* The image read-write, its old backing and (unless -u) the new one. */
static int rebase_open(RebaseState *s)
{
    int flags = BDRV_O_RDWR | (s->unsafe ? BDRV_O_NO_BACKING : 0);
    int src_flags = 0;
    bool writethrough = false, src_writethrough = false;

    if (img_parse_cache(s->o.cache, false, &flags, &writethrough) < 0 ||
        img_parse_cache(s->o.src_cache, true, &src_flags,
                        &src_writethrough) < 0) {
        return -1;
    }
    s->blk = img_open(s->o.image_opts, s->filename, s->o.fmt, flags,
                      writethrough, false);
    if (!s->blk) {
        return -1;
    }
    s->bs = blk_bs(s->blk);
    if (s->out_basefmt && !bdrv_format_name_known(s->out_basefmt)) {
        error_report("Invalid format name: '%s'", s->out_basefmt);
        return -1;
    }
    if (s->unsafe) {
        return 0;
    }
    s->old_backing = bdrv_backing_bs(s->bs);
    if (s->out_baseimg[0]) {
        return rebase_open_new_backing(s, src_flags);
    }
    return 0;
}

/* Size of an image for rebase; errors are reported. */
static int64_t rebase_size(int64_t size, const char *name)
{
    if (size < 0) {
        error_report("Could not get size of '%s': %s", name,
                     strerror((int)-size));
    }
    return size;
}

/* Fill @buf with what @old or @new (one may be NULL) holds at @offset. */
static int rebase_read_backing(BlockDriverState *old, BlockBackend *new,
                               int64_t offset, int64_t n, uint8_t *buf)
{
    int ret = old ? bdrv_pread(old, offset, n, buf) :
                    blk_pread(new, offset, n, buf);

    if (ret < 0) {
        error_report("error while reading from %s backing file",
                     old ? "old" : "new");
    }
    return ret;
}

/*
 * Where the image has no data of its own in [offset, offset + *pn), copy
 * in what the old backing file holds there unless the new one holds the
 * same.  *@pn is set to how far this step went.
 */
static int rebase_step(RebaseState *s, int64_t offset, int64_t *pn)
{
    bool old_is_zero = false;
    int64_t written = 0, pnum, n;
    int ret = is_allocated(s->bs, offset, *pn, pn);

    if (ret < 0) {
        error_report("error while reading image metadata: %s",
                     strerror(-ret));
        return ret;
    }
    if (ret) {
        return 0;
    }
    n = *pn;
    if (offset >= s->old_size) {
        memset(s->buf_old, 0, n);
        old_is_zero = true;
    } else {
        n = *pn = MIN(n, s->old_size - offset);
        ret = rebase_read_backing(s->old_backing, NULL, offset, n,
                                  s->buf_old);
        if (ret < 0) {
            return ret;
        }
    }
    if (offset >= s->new_size || !s->blk_new_backing) {
        memset(s->buf_new, 0, n);
    } else {
        n = *pn = MIN(n, s->new_size - offset);
        ret = rebase_read_backing(NULL, s->blk_new_backing, offset, n,
                                  s->buf_new);
        if (ret < 0) {
            return ret;
        }
    }
    for (; written < n; written += pnum) {
        if (!compare_buffers(s->buf_old + written, s->buf_new + written,
                             n - written, &pnum)) {
            continue;
        }
        if (old_is_zero) {
            ret = blk_pwrite_zeroes(s->blk, offset + written, pnum, 0);
        } else {
            ret = blk_pwrite(s->blk, offset + written, pnum,
                             s->buf_old + written, 0);
        }
        if (ret < 0) {
            error_report("Error while writing to COW image: %s",
                         strerror(-ret));
            return ret;
        }
    }
    qemu_progress_print(s->step_progress, 100);
    return 0;
}

/* Safe mode: keep what the image reads the same under the new backing. */
static int rebase_copy(RebaseState *s)
{
    int64_t size, offset, n;
    int ret;

    size = rebase_size(blk_getlength(s->blk), s->filename);
    if (size < 0) {
        return -1;
    }
    if (s->old_backing) {
        s->old_size = rebase_size(bdrv_getlength(s->old_backing),
                                  bdrv_get_filename(s->old_backing));
        if (s->old_size < 0) {
            return -1;
        }
    }
    if (s->blk_new_backing) {
        s->new_size = rebase_size(blk_getlength(s->blk_new_backing),
                                  s->out_baseimg);
        if (s->new_size < 0) {
            return -1;
        }
    }
    s->buf_old = qemu_xmalloc(IO_BUF_SIZE);
    s->buf_new = qemu_xmalloc(IO_BUF_SIZE);
    if (size > 0) {
        /* One step per buffer-sized piece, as QEMU counts it. */
        s->step_progress = (float)100 / (size / MIN(size, IO_BUF_SIZE));
    }
    for (offset = 0; offset < size; offset += n) {
        n = MIN(IO_BUF_SIZE, size - offset);
        ret = rebase_step(s, offset, &n);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Point the image at its new backing file (none for -b ""). */
static int rebase_change_backing(RebaseState *s)
{
    const char *name = s->out_baseimg;
    Error *err = NULL;
    int ret;

    if (name && *name && !s->out_basefmt) {
        ret = -EINVAL;
    } else if (name && *name) {
        ret = bdrv_change_backing_file(s->bs, name, s->out_basefmt, &err);
    } else {
        ret = bdrv_change_backing_file(s->bs, NULL, NULL, &err);
    }
    if (ret == -EINVAL && name && !s->out_basefmt) {
        error_report("Could not change the backing file to '%s': "
                     "backing format must be specified", name);
    } else if (ret == -ENOSPC) {
        error_report("Could not change the backing file to '%s': No space "
                     "left in the file header", name);
    } else if (ret < 0) {
        error_report("Could not change the backing file to '%s': %s",
                     name ? name : "", strerror(-ret));
    }
    error_free(err);
    return ret;
}

int img_rebase(int argc, char **argv)
{
    RebaseState s = {
        .o = { .cache = "writeback", .src_cache = "writeback" },
    };
    int ret = rebase_parse_args(&s, argc, argv);

    if (ret >= 0) {
        return ret;
    }
    qemu_progress_init(s.o.progress, 2.0);
    qemu_progress_print(0, 100);
    ret = rebase_open(&s);
    if (!ret && !s.unsafe) {
        ret = rebase_copy(&s);
    }
    if (!ret) {
        ret = rebase_change_backing(&s);
        qemu_progress_print(100, 0);
    }
    qemu_progress_end();
    free(s.buf_old);
    free(s.buf_new);
    if (s.blk_new_backing) {
        blk_unref(s.blk_new_backing);
    }
    if (s.blk) {
        blk_unref(s.blk);
    }
    return ret ? 1 : 0;
}

/* ---- commit ----------------------------------------------------------- */

/* What the phases of commit share; @err is reported once, at the end. */
typedef struct CommitState {
    ImgOpts o;
    const char *base;         /* -b */
    bool drop;                /* -d (or -b): leave the image as it is */
    const char *filename;
    int flags;
    bool writethrough;
    BlockBackend *blk;        /* the image, chain cut above the base */
    BlockDriverState *bs;
    BlockBackend *base_blk;
    int depth;                /* levels from the image down to the base */
    char *base_name;
    char *base_fmt;
    Error *err;
} CommitState;

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

/* The command line; -1 to go on, else the exit code. */
static int commit_parse_args(CommitState *s, int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { NULL, 0, NULL, 0 }
    };
    int c;

    while ((c = img_getopt(argc, argv, ":f:ht:b:dpqr:", long_options,
                           &s->o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img commit [--object objectdef] "
                   "[--image-opts] [-q] [-f fmt] [-t cache] [-b base] "
                   "[-r rate_limit] [-d] [-p] filename\n");
            return 0;
        case 'b':
            s->base = optarg;
            s->drop = true; /* -b implies -d */
            break;
        case 'd':
            s->drop = true;
            break;
        case 'r':
            if (cvtnum("rate limit", optarg) < 0) {
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    s->filename = argv[optind++];
    if (img_parse_cache(s->o.cache, false, &s->flags, &s->writethrough) < 0) {
        return 1;
    }
    return -1;
}

/* In the image's chain as first opened, the base and its depth. */
static int commit_find_base(CommitState *s)
{
    BlockDriverState *base_bs, *above;

    if (s->base) {
        base_bs = bdrv_find_backing_image(s->bs, s->base);
        if (!base_bs) {
            error_setg(&s->err, "Did not find '%s' in the backing chain of "
                       "'%s'", s->base, s->filename);
            return -1;
        }
    } else {
        /* qemu-img's default: the immediate backing file. */
        base_bs = bdrv_backing_bs(s->bs);
        if (!base_bs) {
            error_setg(&s->err, "Image does not have a backing file");
            return -1;
        }
    }
    s->depth = 1;
    for (above = s->bs; bdrv_backing_bs(above) != base_bs;
         above = bdrv_backing_bs(above)) {
        s->depth++;
    }
    /*
     * Reopened by the name it was opened with (a json:{...} one keeps its
     * options, e.g. blkdebug's rules), not by its file's.
     */
    s->base_name = bdrv_get_full_backing_filename_from_filename(
                       bdrv_get_filename(above),
                       bdrv_get_backing_filename(above), NULL);
    if (!s->base_name) {
        s->base_name = qemu_xstrdup(bdrv_get_filename(base_bs));
    }
    s->base_fmt = qemu_xstrdup(bdrv_get_backing_format(above));
    return 0;
}

/*
 * Reopen the image read-write with its backing chain cut below the image
 * right above the base, so that the base can then be opened for writing
 * on its own, without our own read-only hold on it in the way.
 */
static int commit_reopen_above_base(CommitState *s)
{
    QDict *extra = qdict_new();
    char *key = qemu_xstrdup("backing");
    int i;

    for (i = 1; i < s->depth; i++) {
        char *longer = qemu_xasprintf("backing.%s", key);

        free(key);
        key = longer;
    }
    qdict_put_str(extra, key, "");
    free(key);
    blk_unref(s->blk);
    /* The reopen must not repeat warnings the first open printed. */
    warn_set_sink(img_null_sink, NULL);
    s->blk = img_open_extra(s->o.image_opts, s->filename, s->o.fmt, extra,
                            s->flags, s->writethrough, false);
    warn_set_sink(img_warning_sink, NULL);
    if (!s->blk) {
        return -1;
    }
    s->bs = blk_bs(s->blk);
    return 0;
}

/* The base read-write, with the cache mode given by -t. */
static int commit_open_base(CommitState *s)
{
    QDict *bopts = qdict_new();

    if (s->base_fmt[0]) {
        qdict_put_str(bopts, "driver", s->base_fmt);
    }
    s->base_blk = blk_new_open(s->base_name, bopts,
                               BDRV_O_RDWR | BDRV_O_RESIZE | BDRV_O_UNMAP |
                               (s->flags & (BDRV_O_NOCACHE |
                                            BDRV_O_NO_FLUSH)),
                               &s->err);
    if (!s->base_blk) {
        /* QEMU's words: a reopen of the base, nothing prepended. */
        return -1;
    }
    blk_set_enable_write_cache(s->base_blk, !s->writethrough);
    return 0;
}

/* Copy what the chain above the base holds into the base, then flush. */
static int commit_copy(CommitState *s)
{
    int64_t size = blk_getlength(s->blk), base_size, offset, n;
    uint8_t *buf;
    int ret = 0;

    base_size = blk_getlength(s->base_blk);
    if (size < 0 || base_size < 0) {
        error_setg_errno(&s->err, EIO, "Could not get image sizes");
        return -1;
    }
    if (base_size < size) {
        ret = blk_truncate(s->base_blk, size, false, PREALLOC_MODE_OFF,
                           &s->err);
        if (ret < 0 && !s->err) {
            error_setg_errno(&s->err, -ret, "Could not resize base");
        }
        if (ret < 0) {
            return ret;
        }
    }
    buf = qemu_xmalloc(IO_BUF_SIZE);
    for (offset = 0; offset < size; offset += n) {
        n = MIN(IO_BUF_SIZE, size - offset);
        ret = commit_status(s->bs, offset, n, &n);
        if (ret < 0) {
            /* QEMU's words for whatever fails in its commit job. */
            error_setg_errno(&s->err, -ret, "Block job failed");
            break;
        }
        if (ret == 2) {
            /* As QEMU's commit (a mirror): zeroes may be unmapped. */
            ret = blk_pwrite_zeroes(s->base_blk, offset, n,
                                    BDRV_REQ_MAY_UNMAP);
        } else if (ret) {
            /* Data is copied as it is, zero bytes included. */
            ret = blk_pread(s->blk, offset, n, buf);
            if (ret >= 0) {
                ret = blk_pwrite(s->base_blk, offset, n, buf, 0);
            }
        }
        if (ret < 0) {
            error_setg_errno(&s->err, -ret, "Block job failed");
            break;
        }
        qemu_progress_print(100.0f * n / size, 100);
    }
    free(buf);
    if (ret >= 0) {
        ret = blk_flush(s->base_blk);
        if (ret < 0) {
            error_setg_errno(&s->err, -ret, "Could not flush the base image");
        }
    }
    return ret;
}

/* Without -d, the image is emptied where the format can do that. */
static int commit_empty(CommitState *s)
{
    Error *local_err = NULL;
    int ret = bdrv_make_empty(s->bs, &local_err);

    if (ret < 0 && ret != -ENOTSUP) {
        if (local_err) {
            error_propagate(&s->err, local_err);
        } else {
            error_setg_errno(&s->err, -ret, "Could not empty %s",
                             s->filename);
        }
        return ret;
    }
    error_free(local_err);
    return 0;
}

/*
 * First the whole chain is opened as QEMU does, so that a missing backing
 * file or a lock held by someone else fails with QEMU's words, and the
 * base is found in it.  Then the chain is reopened down to the image
 * above the base only, and the base is opened read-write on its own.
 */
int img_commit(int argc, char **argv)
{
    CommitState s = {
        .o = { .cache = "writeback" },
        .flags = BDRV_O_RDWR | BDRV_O_UNMAP,
    };
    int ret = commit_parse_args(&s, argc, argv);

    if (ret >= 0) {
        return ret;
    }
    s.blk = img_open(s.o.image_opts, s.filename, s.o.fmt, s.flags,
                     s.writethrough, false);
    if (!s.blk) {
        return 1;
    }
    s.bs = blk_bs(s.blk);
    qemu_progress_init(s.o.progress, 1.f);
    qemu_progress_print(0.f, 100);
    ret = commit_find_base(&s);
    if (!ret && commit_reopen_above_base(&s) < 0) {
        qemu_progress_end();
        free(s.base_name);
        free(s.base_fmt);
        return 1;
    }
    if (!ret) {
        ret = commit_open_base(&s);
    }
    if (!ret) {
        ret = commit_copy(&s);
    }
    if (!ret && !s.drop) {
        ret = commit_empty(&s);
    }
    qemu_progress_end();
    free(s.base_name);
    free(s.base_fmt);
    if (s.base_blk) {
        blk_unref(s.base_blk);
    }
    blk_unref(s.blk);
    if (s.err) {
        error_report_err(s.err);
        return 1;
    }
    qprintf(s.o.quiet, "Image committed.\n");
    return 0;
}
