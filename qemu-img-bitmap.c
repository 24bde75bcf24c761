/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-bitmap.c: qemu-img bitmap, QEMU 7.2's actions on one persistent
 * dirty bitmap of an image (add, remove, clear, enable, disable, merge from
 * the same or another image), applied in order; the image keeps them when
 * it closes.  Messages and exit codes are QEMU's.
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "block/dirty-bitmap.h"
#include "qemu-img.h"

enum {
    OPTION_ADD = 512,
    OPTION_REMOVE,
    OPTION_CLEAR,
    OPTION_ENABLE,
    OPTION_DISABLE,
    OPTION_MERGE,
};

typedef enum BitmapAct {
    BITMAP_ADD,
    BITMAP_REMOVE,
    BITMAP_CLEAR,
    BITMAP_ENABLE,
    BITMAP_DISABLE,
    BITMAP_MERGE,
} BitmapAct;

static const char *const act_names[] = {
    "add", "remove", "clear", "enable", "disable", "merge",
};

typedef struct BitmapAction {
    BitmapAct act;
    const char *src;            /* --merge's source bitmap */
} BitmapAction;

typedef struct BitmapArgs {
    ImgOpts o;
    const char *src_fmt, *src_filename;
    int64_t granularity;
    bool add, merge;
    BitmapAction *actions;
    int nb_actions;
} BitmapArgs;

static void bitmap_usage(void)
{
    printf("usage: qemu-img bitmap (--merge SOURCE | --add | --remove | "
           "--clear | --enable | --disable)... [-b source_file "
           "[-F source_fmt]] [-g granularity] [--object objectdef] "
           "[--image-opts | -f fmt] filename bitmap\n");
}

static void add_action(BitmapArgs *a, BitmapAct act, const char *src)
{
    a->actions = qemu_xrealloc(a->actions,
                               (a->nb_actions + 1) * sizeof(*a->actions));
    a->actions[a->nb_actions].act = act;
    a->actions[a->nb_actions].src = src;
    a->nb_actions++;
}

/* The command line and its checks, in QEMU's order: -1 to go on, else the
 * exit code. */
static int bitmap_parse(BitmapArgs *a, int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPTION_OBJECT },
        { "image-opts", no_argument, NULL, OPTION_IMAGE_OPTS },
        { "add", no_argument, NULL, OPTION_ADD },
        { "remove", no_argument, NULL, OPTION_REMOVE },
        { "clear", no_argument, NULL, OPTION_CLEAR },
        { "enable", no_argument, NULL, OPTION_ENABLE },
        { "disable", no_argument, NULL, OPTION_DISABLE },
        { "merge", required_argument, NULL, OPTION_MERGE },
        { "granularity", required_argument, NULL, 'g' },
        { "source-file", required_argument, NULL, 'b' },
        { "source-format", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 }
    };
    int c;

    while ((c = img_getopt(argc, argv, ":b:f:F:g:h", long_options,
                           &a->o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            bitmap_usage();
            return 0;
        case 'b':
            a->src_filename = optarg;
            break;
        case 'F':
            a->src_fmt = optarg;
            break;
        case 'g':
            a->granularity = cvtnum("granularity", optarg);
            if (a->granularity < 0) {
                return 1;
            }
            break;
        case OPTION_ADD:
            add_action(a, BITMAP_ADD, NULL);
            a->add = true;
            break;
        case OPTION_REMOVE:
            add_action(a, BITMAP_REMOVE, NULL);
            break;
        case OPTION_CLEAR:
            add_action(a, BITMAP_CLEAR, NULL);
            break;
        case OPTION_ENABLE:
            add_action(a, BITMAP_ENABLE, NULL);
            break;
        case OPTION_DISABLE:
            add_action(a, BITMAP_DISABLE, NULL);
            break;
        case OPTION_MERGE:
            add_action(a, BITMAP_MERGE, optarg);
            a->merge = true;
            break;
        }
    }
    if (!a->nb_actions) {
        error_report("Need at least one of --add, --remove, --clear, "
                     "--enable, --disable, or --merge");
        return 1;
    }
    if (a->granularity && !a->add) {
        error_report("granularity only supported with --add");
        return 1;
    }
    if (a->src_fmt && !a->src_filename) {
        error_report("-F only supported with -b");
        return 1;
    }
    if (a->src_filename && !a->merge) {
        error_report("Merge bitmap source file only supported with "
                     "--merge");
        return 1;
    }
    if (optind != argc - 2) {
        error_report("Expecting filename and bitmap name");
        return 1;
    }
    return -1;
}

/* The bitmap @name of @bs, or NULL with QEMU's message. */
static BdrvDirtyBitmap *lookup(BlockDriverState *bs, const char *name,
                               Error **errp)
{
    BdrvDirtyBitmap *bm = bdrv_find_dirty_bitmap(bs, name);

    if (!bm) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
    }
    return bm;
}

/* QEMU's block-dirty-bitmap-add with persistent=true. */
static void bitmap_add(BlockDriverState *bs, const char *name,
                       int64_t granularity, bool disabled, Error **errp)
{
    /* QMP takes the granularity as a uint32: larger values wrap. */
    uint32_t gran = (uint32_t)granularity;
    BdrvDirtyBitmap *bm;

    if (!name[0]) {
        error_setg(errp, "Bitmap name cannot be empty");
        return;
    }
    if (granularity) {
        if (gran < 512 || (gran & (gran - 1))) {
            error_setg(errp, "Granularity must be power of 2 and at least "
                       "512");
            return;
        }
    } else {
        gran = bdrv_get_default_bitmap_granularity(bs);
    }
    if (bdrv_can_store_new_dirty_bitmap(bs, name, gran, errp) < 0) {
        return;
    }
    bm = bdrv_create_dirty_bitmap(bs, gran, name, errp);
    if (!bm) {
        return;
    }
    if (disabled) {
        bdrv_disable_dirty_bitmap(bm);
    }
    bdrv_dirty_bitmap_set_persistence(bm, true);
}

static void bitmap_remove(BlockDriverState *bs, const char *name,
                          Error **errp)
{
    BdrvDirtyBitmap *bm = lookup(bs, name, errp);

    if (!bm || bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_BUSY | BDRV_BITMAP_RO,
                                       errp) < 0) {
        return;
    }
    if (bdrv_dirty_bitmap_get_persistence(bm) &&
        bdrv_remove_persistent_dirty_bitmap(bs, name, errp) < 0) {
        return;
    }
    bdrv_release_dirty_bitmap(bm);
}

static void run_action(const BitmapAction *act, BlockDriverState *bs,
                       BlockDriverState *src_bs, const char *name,
                       int64_t granularity, Error **errp)
{
    BdrvDirtyBitmap *bm, *src;

    switch (act->act) {
    case BITMAP_ADD:
        bitmap_add(bs, name, granularity, false, errp);
        break;
    case BITMAP_REMOVE:
        bitmap_remove(bs, name, errp);
        break;
    case BITMAP_CLEAR:
        bm = lookup(bs, name, errp);
        if (bm && bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT,
                                          errp) == 0) {
            bdrv_clear_dirty_bitmap(bm);
        }
        break;
    case BITMAP_ENABLE:
    case BITMAP_DISABLE:
        bm = lookup(bs, name, errp);
        if (bm && bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO,
                                          errp) == 0) {
            if (act->act == BITMAP_ENABLE) {
                bdrv_enable_dirty_bitmap(bm);
            } else {
                bdrv_disable_dirty_bitmap(bm);
            }
        }
        break;
    case BITMAP_MERGE:
        bm = lookup(bs, name, errp);
        src = bm ? lookup(src_bs, act->src, errp) : NULL;
        if (src) {
            (void)bdrv_merge_dirty_bitmap(bm, src, errp);
        }
        break;
    }
}

int img_bitmap(int argc, char **argv)
{
    BitmapArgs a;
    BlockBackend *blk = NULL, *src = NULL;
    BlockDriverState *bs, *src_bs;
    const char *filename, *name;
    int ret;

    memset(&a, 0, sizeof(a));
    ret = bitmap_parse(&a, argc, argv);
    if (ret >= 0) {
        goto out;
    }
    ret = 1;
    filename = argv[optind];
    name = argv[optind + 1];
    /* The bitmaps are the image's own: its backing chain is not needed. */
    blk = img_open(a.o.image_opts, filename, a.o.fmt,
                   BDRV_O_RDWR | BDRV_O_NO_BACKING, false, false);
    if (!blk) {
        goto out;
    }
    bs = blk_bs(blk);
    src_bs = bs;
    if (a.src_filename) {
        src = img_open(false, a.src_filename, a.src_fmt, BDRV_O_NO_BACKING,
                       false, false);
        if (!src) {
            goto out;
        }
        src_bs = blk_bs(src);
    }
    for (int i = 0; i < a.nb_actions; i++) {
        Error *err = NULL;

        run_action(&a.actions[i], bs, src_bs, name, a.granularity, &err);
        if (err) {
            error_reportf_err(err, "Operation %s on bitmap %s failed: ",
                              act_names[a.actions[i].act], name);
            goto out;
        }
    }
    ret = 0;
out:
    blk_unref(src);
    blk_unref(blk);
    free(a.actions);
    return ret;
}

/* For convert --bitmaps: the checks before the copy (QEMU's words). */
int img_check_bitmaps(BlockDriverState *src, bool skip_broken)
{
    BdrvDirtyBitmap *bm;

    if (!bdrv_supports_persistent_dirty_bitmap(src)) {
        error_report("Source lacks bitmap support");
        return -1;
    }
    FOR_EACH_DIRTY_BITMAP(src, bm) {
        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        if (!skip_broken && bdrv_dirty_bitmap_inconsistent(bm)) {
            error_report("Cannot copy inconsistent bitmap '%s'",
                         bdrv_dirty_bitmap_name(bm));
            fprintf(stderr, "Try --skip-broken-bitmaps, or use 'qemu-img "
                    "bitmap --remove' to delete it\n");
            return -1;
        }
    }
    return 0;
}

/* For convert --bitmaps: each persistent bitmap of @src into @dst. */
int img_copy_bitmaps(BlockDriverState *src, BlockDriverState *dst,
                     bool skip_broken)
{
    BdrvDirtyBitmap *bm;

    FOR_EACH_DIRTY_BITMAP(src, bm) {
        const char *name = bdrv_dirty_bitmap_name(bm);
        BdrvDirtyBitmap *copy;
        Error *err = NULL;

        if (!bdrv_dirty_bitmap_get_persistence(bm)) {
            continue;
        }
        if (skip_broken && bdrv_dirty_bitmap_inconsistent(bm)) {
            warn_report("Skipping inconsistent bitmap '%s'", name);
            continue;
        }
        bitmap_add(dst, name, bdrv_dirty_bitmap_granularity(bm),
                   !bdrv_dirty_bitmap_enabled(bm), &err);
        if (err) {
            error_reportf_err(err, "Failed to create bitmap %s: ", name);
            return -1;
        }
        copy = bdrv_find_dirty_bitmap(dst, name);
        if (bdrv_merge_dirty_bitmap(copy, bm, &err) < 0) {
            error_reportf_err(err, "Failed to populate bitmap %s: ", name);
            bitmap_remove(dst, name, NULL);
            return -1;
        }
    }
    return 0;
}
