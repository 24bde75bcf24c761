/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-vtpm.c: main() of the qemu-vtpm tool; dispatches "nvram ..." (the
 * NVRAM store tool) and "socket ..." (the vTPM daemon); run as "swtpm"
 * (a link of that name) it takes swtpm's command line instead.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "config-host.h"
#include "qemu-vtpm.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: qemu-vtpm COMMAND [options]\n"
"\n"
"Commands:\n"
"  nvram ...    inspect and edit a TPM NVRAM store in an image\n"
"  socket ...   run the vTPM daemon (swtpm's control and data protocol)\n"
"\n"
"'qemu-vtpm COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    const char *base = argc ? strrchr(argv[0], '/') : NULL;

    base = base ? base + 1 : argc ? argv[0] : "";
    /* A link named swtpm: swtpm's command line (libvirt, swtpm_setup). */
    if (!strcmp(base, "swtpm")) {
        return vtpm_swtpm_main(argc, argv);
    }
    error_set_progname("qemu-vtpm");
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        printf("qemu-vtpm version %s\n", QEMU_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "nvram")) {
        return vtpm_nvram_main(argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "socket")) {
        return vtpm_socket_main(argc - 1, argv + 1);
    }
    error_report("Unknown command '%s' (try 'qemu-vtpm --help')", argv[1]);
    return 1;
}
