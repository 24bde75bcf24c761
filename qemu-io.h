/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io.h: the seam between qemu-io's front end (qemu-io.c: options,
 * command loop) and its command table (qemu-io-cmds.c).
 */
#ifndef QEMU_IO_H
#define QEMU_IO_H

#include "block/block-backend.h"

/* The image the commands work on (NULL when none is open). */
extern BlockBackend *qemuio_blk;
/* Set by the "quit" command. */
extern bool qemuio_quit;

/*
 * Open @name (may be NULL when @opts names the file) as the current image;
 * @opts is consumed.  Prints "can't open device ..." and returns 1 on error.
 */
int qemuio_openfile(const char *name, int flags, bool writethrough,
                    bool force_share, QDict *opts);
/* True when the front end was given --image-opts. */
extern bool qemuio_image_opts;

/* Run one command line; returns 0 or a negative errno. */
int qemuio_command(const char *cmd);

#endif /* QEMU_IO_H */
