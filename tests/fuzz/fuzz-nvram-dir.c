/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-nvram-dir.c: libFuzzer target for the TPM NVRAM store's directory
 * parser (nv_dir_decode).  A decoded directory must re-encode and decode
 * to the same thing.  Without libFuzzer, main() replays the files given.
 */
#include "qemu/osdep.h"
#include "hw/tpm/tpm_nvram_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static NvDir dir, again;
    static uint8_t buf[NV_SLOT_SIZE];
    char why[256];

    if (nv_dir_decode(data, size, &dir, why, sizeof(why)) != NV_SLOT_OK) {
        return 0;
    }
    nv_dir_encode(&dir, buf);
    if (nv_dir_decode(buf, sizeof(buf), &again, why, sizeof(why)) !=
        NV_SLOT_OK) {
        abort();
    }
    /* a writer records its own minor version; everything else survives */
    again.minor = dir.minor;
    if (memcmp(&dir, &again, sizeof(dir)) != 0) {
        abort();
    }
    return 0;
}

#ifndef QEMU_FUZZ_LIBFUZZER
/* Replay mode: run every file named on the command line once. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf = qemu_xmalloc(1 << 20);
        size_t n;

        if (!f) {
            perror(argv[i]);
            return 1;
        }
        n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("fuzz-nvram-dir: %d inputs replayed\n", argc - 1);
    return 0;
}
#endif
