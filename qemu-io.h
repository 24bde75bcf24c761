/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io.h: the seam between qemu-io's front end (qemu-io.c: options,
 * the open/close commands, command loop) and its command table
 * (qemu-io-cmds.c).  Commands work on the BlockBackend they are given;
 * the front end owns the current one and passes it (NULL when none is
 * open).
 */
#ifndef QEMU_IO_H
#define QEMU_IO_H

#include "block/block-backend.h"

typedef int (*CmdFunc)(BlockBackend *blk, int argc, char **argv);

typedef struct CmdInfo {
    const char *name;
    const char *altname;
    CmdFunc cfunc;
    int argmin;
    int argmax;   /* -1: unlimited */
    bool nofile_ok; /* runs without an open image (blk may be NULL) */
    /*
     * Does not poll: aio completions are not printed before it runs (as
     * in QEMU, where only the commands that wait for I/O run them).
     */
    bool no_poll;
    uint64_t perm; /* extra permission the command needs */
    const char *args;
    const char *oneline;
    void (*help)(void);
} CmdInfo;

/* Set by the "quit" command. */
extern bool qemuio_quit;

/* Add a command to the table (kept sorted by name for "help"). */
/* lock, trylock and unlock (qemu-io-lock-cmds.c). */
extern const CmdInfo qemuio_lock_cmds[3];
/* break, remove_break, resume, wait_break (qemu-io-break-cmds.c). */
extern const CmdInfo qemuio_break_cmds[4];

void qemuio_add_command(const CmdInfo *ci);

/* Print "name args -- oneline", as for a usage error. */
void qemuio_command_usage(const CmdInfo *ci);

/*
 * Print the completions of aio_read/aio_write requests not reported yet
 * (qemu-io 7.2 prints them when something polls: the next command, the
 * end of the session).
 */
void qemuio_complete_aio(void);

/* Run one command line on @blk; returns 0 or a negative errno. */
int qemuio_command(BlockBackend *blk, const char *cmd);

#endif /* QEMU_IO_H */
