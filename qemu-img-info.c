/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img-info.c: the read-only inspection commands, info, check and
 * map, with their human and JSON output (as qemu-img 7.2 prints them).
 */
#include "qemu/osdep.h"

#include <getopt.h>

#include "qemu/cutils.h"
#include "qemu/qobject.h"
#include "qemu-img.h"

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
            /* As QEMU: omitted when the image cannot anchor a relative name. */
            char *full = bdrv_make_absolute_filename_err(bs, backing, NULL);

            qobj_dict_put(info, "backing-filename", qobj_str(backing));
            if (full) {
                qobj_dict_put(info, "full-backing-filename", qobj_str(full));
            }
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

void snapshot_dump(const QEMUSnapshotInfo *sn)
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
        char *text = qobj_to_human(qobj_dict_get(v, "data"), 1);

        printf("Format specific information:\n%s", text);
        free(text);
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

int img_info(int argc, char **argv)
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
    ImgOpts o = { 0 };
    bool chain = false;
    const char *filename;
    char *cur_name, *cur_fmt;
    char **seen = NULL;
    size_t nseen = 0, i;
    QObject *list;
    int c, ret = 1;

    while ((c = img_getopt(argc, argv, ":f:hU", long_options, &o)) != -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img info [--object objectdef] [--image-opts] "
                   "[-f fmt] [--output=ofmt] [--backing-chain] [-U] "
                   "filename\n");
            return 0;
        case OPTION_BACKING_CHAIN:
            chain = true;
            break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];

    list = qobj_list();
    cur_name = qemu_xstrdup(filename);
    cur_fmt = o.fmt ? qemu_xstrdup(o.fmt) : NULL;
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

        blk = img_open(o.image_opts, cur_name, cur_fmt,
                       BDRV_O_NO_BACKING | BDRV_O_NO_IO, false, o.force_share);
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
                o.image_opts = false;
            }
        }
        blk_unref(blk);
    }

    if (chain) {
        if (o.output == OFORMAT_JSON) {
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
        if (o.output == OFORMAT_JSON) {
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

int img_check(int argc, char **argv)
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
    ImgOpts o = { .src_cache = "writeback" };
    const char *filename;
    bool writethrough = false;
    int flags = BDRV_O_CHECK, fix = 0, c, ret;
    BlockBackend *blk;
    BlockDriverState *bs;
    ImageCheck check;

    while ((c = img_getopt(argc, argv, ":hf:r:T:qU", long_options, &o)) !=
           -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img check [--object objectdef] "
                   "[--image-opts] [-q] [-f fmt] [--output=ofmt] "
                   "[-r [leaks | all]] [-T src_cache] [-U] filename\n");
            return 0;
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
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];
    if (img_parse_cache(o.src_cache, true, &flags, &writethrough) < 0) {
        return 1;
    }

    blk = img_open(o.image_opts, filename, o.fmt, flags, writethrough,
                   o.force_share);
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

        if (o.output == OFORMAT_HUMAN) {
            qprintf(o.quiet,
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
        if (o.output == OFORMAT_HUMAN) {
            dump_human_image_check(&check, o.quiet);
        } else {
            dump_json_image_check(&check, o.quiet);
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
        /* As QEMU: filters above an overlay hide none of its backing. */
        bs = bdrv_skip_filters(bs);
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

int img_map(int argc, char **argv)
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
    ImgOpts o = { 0 };
    const char *filename;
    int64_t length, start_offset = 0, max_length = -1;
    BlockBackend *blk;
    BlockDriverState *bs;
    MapEntry curr, next;
    int c, ret = 0;

    while ((c = img_getopt(argc, argv, ":f:s:l:hU", long_options, &o)) !=
           -1) {
        switch (c) {
        case IMG_OPT_ERROR:
            return 1;
        case 'h':
            printf("usage: qemu-img map [--object objectdef] [--image-opts] "
                   "[-f fmt] [--start-offset=offset] [--max-length=len] "
                   "[--output=ofmt] [-U] filename\n");
            return 0;
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
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    filename = argv[optind];

    blk = img_open(o.image_opts, filename, o.fmt, 0, false, o.force_share);
    if (!blk) {
        return 1;
    }
    bs = blk_bs(blk);

    if (o.output == OFORMAT_HUMAN) {
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
            /* The merged entry starts (and is mapped) where curr is. */
            curr.length += next.length;
            continue;
        }
        if (curr.length > 0) {
            ret = dump_map_entry(o.output, &curr, &next);
            if (ret < 0) {
                goto out;
            }
        }
        curr = next;
    }
    ret = dump_map_entry(o.output, &curr, NULL);
    if (o.output == OFORMAT_JSON) {
        puts("]");
    }
out:
    blk_unref(blk);
    return ret < 0;
}
