/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm.h: the sub-commands of the qemu-vtpm tool.  qemu-vtpm.c holds
 * main() and dispatches on the first argument; each sub-command lives in
 * its own qemu-vtpm-<name>.c.
 */
#ifndef QEMU_VTPM_H
#define QEMU_VTPM_H

/*
 * "qemu-vtpm socket ...": run the vTPM daemon (swtpm's control and data
 * protocol over UNIX/TCP sockets, NVRAM in an image).  @argv[0] is
 * "socket" (or the program name); options follow.  Returns the process
 * exit status.
 */
int vtpm_socket_main(int argc, char **argv);

/*
 * "qemu-vtpm nvram ...": inspect and edit a TPM NVRAM store
 * (qemu-vtpm-nvram.c).  @argv[0] is "nvram".  Returns the exit status.
 */
int vtpm_nvram_main(int argc, char **argv);

#endif /* QEMU_VTPM_H */
