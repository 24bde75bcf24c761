/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-img.h: what the qemu-img source files share with each other: the
 * subcommand entry points, long-option ids and the common helpers defined
 * in qemu-img.c.  Internal to the tool; not part of include/.
 */
#ifndef QEMU_IMG_H
#define QEMU_IMG_H

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
};

typedef enum OutputFormat {
    OFORMAT_HUMAN,
    OFORMAT_JSON,
} OutputFormat;

/* Subcommands: argv[0] is the command name; return the exit code. */
int img_amend(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_check(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_map(int argc, char **argv);
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
char *accumulate_options(char *options, const char *value);

/* Buffer comparison (qemu-img.c). */
int compare_buffers(const uint8_t *buf1, const uint8_t *buf2,
                    int64_t bytes, int64_t *pnum);

/* Progress output of -p (qemu-img.c). */
void qemu_progress_init(bool enabled, float min_skip);
void qemu_progress_print(float delta, int max);
void qemu_progress_end(void);

/* Opening images; errors are reported, NULL returned (qemu-img.c). */
BlockBackend *img_open_opts(const char *optstr, int flags,
                            bool writethrough, bool force_share);
BlockBackend *img_open_file(const char *filename, QDict *options,
                            const char *fmt, int flags,
                            bool writethrough, bool force_share);
BlockBackend *img_open(bool image_opts, const char *filename,
                       const char *fmt, int flags, bool writethrough,
                       bool force_share);

/* Create/amend option lists and "-o help" (qemu-img.c). */
const QemuOptDesc *file_create_opts(void);
bool opt_listed_before(const QemuOptDesc *const *lists, size_t li,
                       size_t di);
int print_amend_option_help(const char *fmt);
int print_block_option_help(const char *filename, const char *fmt);

/* One line of the snapshot table (qemu-img-info.c). */
void snapshot_dump(const QEMUSnapshotInfo *sn);

#endif /* QEMU_IMG_H */
