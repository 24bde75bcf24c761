/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img.h: what the qemu-img source files share with each other: the
 * subcommand entry points, long-option ids and the common helpers defined
 * in qemu-img.c.  Internal to the tool; not part of include/.
 */
#ifndef QEMU_IMG_H
#define QEMU_IMG_H

#include <getopt.h>

#include "block/block.h"
#include "block/block-backend.h"
#include "qemu/cutils.h"
#include "qemu/error.h"
#include "qemu/option.h"
#include "qemu/qdict.h"

#define IO_BUF_SIZE (2 * MiB)

/* getopt_long() ids of long options that have no short form. */
enum {
    OPTION_OUTPUT = 256,
    OPTION_BACKING_CHAIN,
    OPTION_OBJECT,
    OPTION_IMAGE_OPTS,
    OPTION_TARGET_IMAGE_OPTS,
    OPTION_SHRINK,
    OPTION_PREALLOCATION,
    OPTION_START_OFFSET,
    OPTION_MAX_LENGTH,
    OPTION_FORCE,
    OPTION_SALVAGE,
    OPTION_BITMAPS,
    OPTION_SKIP_BROKEN,
};

typedef enum OutputFormat {
    OFORMAT_HUMAN,
    OFORMAT_JSON,
} OutputFormat;

/*
 * The options most commands share, filled in by img_getopt().  A command
 * sets the defaults it wants before the loop (fmt, cache, src_cache).
 */
typedef struct ImgOpts {
    const char *fmt;        /* -f */
    const char *cache;      /* -t: cache mode of the image written */
    const char *src_cache;  /* -T: cache mode of the images only read */
    bool image_opts;        /* --image-opts */
    bool force_share;       /* -U */
    bool quiet;             /* -q (turns -p off) */
    bool progress;          /* -p */
    OutputFormat output;    /* --output */
    const char *own;        /* shared letters the command parses itself */
} ImgOpts;

/* img_getopt(): a bad --object or --output, already reported. */
#define IMG_OPT_ERROR (-2)

/* Subcommands: argv[0] is the command name; return the exit code. */
int img_amend(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_bitmap(int argc, char **argv);
int img_check(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_create(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_info(int argc, char **argv);
int img_map(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_snapshot(int argc, char **argv);

/* Messages and command-line parsing (qemu-img.c). */
void QEMU_PRINTF(1, 2) error_exit(const char *fmt, ...);
void bad_option(int c, char **argv);
void QEMU_PRINTF(2, 3) qprintf(bool quiet, const char *fmt, ...);
void QEMU_PRINTF(2, 3) error_reportf_err(Error *err, const char *fmt, ...);
void img_warning_sink(const char *msg, void *opaque);
void img_null_sink(const char *msg, void *opaque);
int parse_output_format(const char *arg, OutputFormat *fmt);
int64_t cvtnum_full(const char *name, const char *value, int64_t min,
                    int64_t max);
int64_t cvtnum(const char *name, const char *value);
bool has_help_option(const char *opts);
int accumulate_options(char **options, const char *arg);

/* Buffer comparison (qemu-img.c). */
int compare_buffers(const uint8_t *buf1, const uint8_t *buf2,
                    int64_t bytes, int64_t *pnum);

/* Progress output of -p (qemu-img.c). */
void qemu_progress_init(bool enabled, float min_skip);
void qemu_progress_print(float delta, int max);
void qemu_progress_end(void);

/*
 * Options and opening images (qemu-img.c).  img_getopt() is getopt_long()
 * that files the shared options into @o and returns the command's own,
 * -1 at the end or IMG_OPT_ERROR; ':' and '?' exit with QEMU's words.
 */
/* --help, --object, --image-opts, --force-share: what most commands take. */
extern const struct option img_std_long_options[];
int img_getopt(int argc, char **argv, const char *optstring,
               const struct option *longopts, ImgOpts *o);
/* Cache mode into flags; -1 after "Invalid [source ]cache option: x". */
int img_parse_cache(const char *mode, bool source, int *flags,
                    bool *writethrough);
/*
 * Open @filename (an option string with @image_opts) as a BlockBackend;
 * @extra (may be NULL, consumed) adds options.  Errors are reported with
 * QEMU's words and NULL is returned.
 */
BlockBackend *img_open_extra(bool image_opts, const char *filename,
                             const char *fmt, QDict *extra, int flags,
                             bool writethrough, bool force_share);
BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool force_share);

/*
 * -l of convert and measure into *@id and *@name (freed first; NULL if
 * not given); -1 after QEMU's messages.
 */
int img_parse_snapshot_param(const char *arg, char **id, char **name);

/* Create/amend option lists and "-o help" (qemu-img.c). */
const QemuOptDesc *file_create_opts(void);
BlockDriver *img_create_lists(const char *fmt, const QemuOptDesc *lists[3],
                              Error **errp);
/* -o @options (may be NULL) parsed and checked against @lists, or NULL. */
QDict *img_parse_create_opts(const char *options,
                             const QemuOptDesc *const *lists, Error **errp);
/* -b/-F into @opts if the format's @fmt_opts know them; -1 with @errp. */
int img_put_backing_opts(QDict *opts, const QemuOptDesc *fmt_opts,
                         const char *fmt, const char *backing_file,
                         const char *backing_fmt, Error **errp);
bool opt_listed_before(const QemuOptDesc *const *lists, size_t li,
                       size_t di);
int print_amend_option_help(const char *fmt);
int print_block_option_help(const char *filename, const char *fmt);

/*
 * convert --bitmaps (qemu-img-bitmap.c): whether @src's bitmaps can be
 * copied, then the copy into @dst; -1 after QEMU's messages.
 */
int img_check_bitmaps(BlockDriverState *src, bool skip_broken);
int img_copy_bitmaps(BlockDriverState *src, BlockDriverState *dst,
                     bool skip_broken);

/* One line of the snapshot table (qemu-img-info.c). */
void snapshot_dump(const QEMUSnapshotInfo *sn);

#endif /* QEMU_IMG_H */
