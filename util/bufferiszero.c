/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bufferiszero.c: buffer_is_zero(), the one zero-buffer check of the tree.
 * A file of its own (not cutils.c) while qemu-img.c still carries a copy:
 * as its own archive member it is linked only where nothing else defines it.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"

bool buffer_is_zero(const uint8_t *buf, size_t len)
{
    size_t i = 0;

    /* 32 bytes per step; memcpy keeps unaligned buffers safe. */
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];

        memcpy(w, buf + i, sizeof(w));
        if (w[0] | w[1] | w[2] | w[3]) {
            return false;
        }
    }
    for (; i < len; i++) {
        if (buf[i]) {
            return false;
        }
    }
    return true;
}
