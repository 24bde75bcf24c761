/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm.h: the sub-commands of the qemu-vtpm tool.  qemu-vtpm.c holds
 * main() and dispatches on the first argument; each sub-command lives in
 * its own qemu-vtpm-<name>.c.
 */
#ifndef QEMU_VTPM_H
#define QEMU_VTPM_H

#include "qemu/error.h"
#include "qemu/qdict.h"
#include "hw/tpm/tpm_nvram.h"

/*
 * "qemu-vtpm socket ...": run the vTPM daemon (swtpm's control and data
 * protocol over UNIX/TCP sockets, NVRAM in an image).  @argv[0] is
 * "socket" (or the program name); options follow.  Returns the process
 * exit status.
 */
int vtpm_socket_main(int argc, char **argv);
/* The same; @swtpm: run as "swtpm" (swtpm's defaults: TPM 1.2 unless
 * --tpm2, --tpmstate required). */
int vtpm_socket_run(int argc, char **argv, bool swtpm);

/*
 * Refuse keys of @d (a parsed OPT=VALUE list of option @opt) not in
 * @known (NULL-terminated): an option of swtpm's we do not implement is
 * an error, never ignored.  0 or -EINVAL with errp set.
 */
int vtpm_check_keys(const char *opt, const QDict *d,
                    const char *const *known, Error **errp);

/*
 * qemu-vtpm run as "swtpm" (qemu-vtpm-swtpm.c): main() hands over the
 * whole command line when argv[0]'s base name is "swtpm".
 */
int vtpm_swtpm_main(int argc, char **argv);
/* --print-capabilities: swtpm's JSON, listing what we support. */
void vtpm_swtpm_print_capabilities(bool tpm2);
/*
 * --tpmstate dir=DIR[,mode=M] | backend-uri=dir://DIR | backend-uri=
 * file://PATH: the store image is DIR/tpm2-nvram.qcow2 (TPM 1.2:
 * DIR/tpm-nvram.qcow2) or PATH, a qcow2 image.  With @create an absent
 * (or empty) image is created (mode M, default 0600); if DIR holds
 * swtpm's own state file then (tpm2-00.permall: a domain swtpm made),
 * *import_from names it (malloc'ed) for vtpm_swtpm_import_state.
 * *image is set (malloc'ed) when there is an image.  Returns 1 if the
 * image existed, 0 if it did not (created with @create, else *image stays
 * NULL), or -errno with errp set.
 */
int vtpm_tpmstate_image(const char *spec, bool tpm12, bool create,
                        char **image, char **import_from, Error **errp);
/*
 * The TPM state in a file in swtpm's format (what --tpmstate dir= or
 * swtpm_ioctl --save writes): 1 with *state, *n pointing into @data or
 * into *plain (malloc'ed; the caller wipes and frees it); 0 if @data has
 * no swtpm header (it is the state itself); -errno with errp set if it is
 * swtpm's but unreadable: encrypted with a --migration-key, or with
 * swtpm's --key and @key (swtpm's AES key, @keylen 16 or 32) is NULL or
 * wrong.
 */
int vtpm_swtpm_file_state(const char *file, const uint8_t *data, size_t len,
                          const uint8_t *key, size_t keylen,
                          const uint8_t **state, size_t *n,
                          uint8_t **plain, size_t *plain_len, Error **errp);
/*
 * Store the TPM state of swtpm's file @file (plain, or encrypted with the
 * swtpm key @key stands for) as blob "permall" of @nv.  0 or -errno.
 */
int vtpm_swtpm_import_state(TPMNvram *nv, const TPMNvramKey *key,
                            const char *file, Error **errp);
int vtpm_swtpm_print_states(const char *image, const char *keyspec,
                            Error **errp);

/*
 * "qemu-vtpm nvram ...": inspect and edit a TPM NVRAM store
 * (qemu-vtpm-nvram.c).  @argv[0] is "nvram".  Returns the exit status.
 */
int vtpm_nvram_main(int argc, char **argv);

#endif /* QEMU_VTPM_H */
