/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_format.c: encoding and strict decoding of the NVRAM store's
 * directory slots.  Pure functions over byte buffers: no I/O, no state.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/tpm/tpm_nvram_format.h"

#include <zlib.h>

/* Header field offsets */
#define H_MAGIC      0
#define H_MAJOR      8
#define H_MINOR      10
#define H_HDR_SIZE   12
#define H_GEN        16
#define H_FLAGS      24
#define H_COUNT      28
#define H_ENTRY_SIZE 32
#define H_CIPHER     36
#define H_KDF        40
#define H_KDF_ITER   44
#define H_SALT       48
#define H_KCV        64
#define H_SUCCESSOR  80     /* 1.1 */
#define H_PENDING    88     /* 1.1 */
#define H_CRC        124

/* Entry field offsets */
#define E_NAME       0
#define E_OFFSET     48
#define E_LENGTH     56
#define E_BLOB_GEN   64
#define E_PLAIN_CRC  72
#define E_STORED_CRC 76
#define E_NONCE      80
#define E_TAG        92
#define E_FLAGS      108

uint32_t nv_crc32(const void *buf, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    const uint8_t *p = buf;

    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)crc;
}

static uint32_t dir_crc(const uint8_t *buf, size_t used)
{
    uint8_t zero[4] = { 0 };
    uLong crc = crc32(0L, Z_NULL, 0);

    crc = crc32(crc, buf, H_CRC);
    crc = crc32(crc, zero, 4);
    crc = crc32(crc, buf + H_CRC + 4, (uInt)(used - H_CRC - 4));
    return (uint32_t)crc;
}

bool nv_name_valid(const char *name)
{
    size_t n = strnlen(name, NV_NAME_FIELD);

    if (n == 0 || n > NV_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = name[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\') {
            return false;
        }
    }
    return true;
}

int nv_dir_find(const NvDir *dir, const char *name)
{
    for (uint32_t i = 0; i < dir->count; i++) {
        if (strcmp(dir->e[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

uint64_t nv_extent_size(uint64_t length)
{
    return QEMU_ALIGN_UP(length, (uint64_t)NV_DATA_ALIGN);
}

/* Bytes an entry's data occupies where it lives. */
static uint64_t nv_span(const NvEntry *e)
{
    return e->is_inline ? QEMU_ALIGN_UP(e->length, (uint64_t)NV_INLINE_ALIGN)
                        : nv_extent_size(e->length);
}

#define WHY(...) do { if (why) { snprintf(why, why_len, __VA_ARGS__); } } \
    while (0)

/*
 * Decode and check the header and the sizes; the entries are left to
 * nv_decode_entry().  NV_SLOT_OK when they may follow.
 */
static NvSlotState nv_decode_header(const uint8_t *buf, size_t len,
                                    NvDir *dir, char *why, size_t why_len)
{
    uint32_t hdr_size, entry_size, count;
    size_t used;

    if (len < NV_HDR_SIZE) {
        WHY("directory slot truncated");
        return buffer_is_zero(buf, len) ? NV_SLOT_ZERO : NV_SLOT_FOREIGN;
    }
    if (memcmp(buf + H_MAGIC, NV_MAGIC, NV_MAGIC_LEN) != 0) {
        return buffer_is_zero(buf, MIN(len, (size_t)NV_SLOT_SIZE)) ?
               NV_SLOT_ZERO : NV_SLOT_FOREIGN;
    }
    memset(dir, 0, sizeof(*dir));
    dir->major = ldbe16(buf + H_MAJOR);
    dir->minor = ldbe16(buf + H_MINOR);
    if (dir->major != NV_VERSION_MAJOR) {
        WHY("unsupported format version %u.%u (this program reads %u.x)",
            dir->major, dir->minor, NV_VERSION_MAJOR);
        return dir->major > NV_VERSION_MAJOR ? NV_SLOT_NEWER :
               NV_SLOT_DAMAGED;
    }
    hdr_size = ldbe32(buf + H_HDR_SIZE);
    entry_size = ldbe32(buf + H_ENTRY_SIZE);
    count = ldbe32(buf + H_COUNT);
    if (hdr_size != NV_HDR_SIZE || entry_size != NV_ENTRY_SIZE) {
        WHY("bad header or entry size");
        return NV_SLOT_DAMAGED;
    }
    if (count > NV_MAX_ENTRIES) {
        WHY("too many directory entries (%" PRIu32 ")", count);
        return NV_SLOT_DAMAGED;
    }
    used = NV_HDR_SIZE + (size_t)count * NV_ENTRY_SIZE;
    if (used > len) {
        WHY("directory truncated");
        return NV_SLOT_DAMAGED;
    }
    if (dir_crc(buf, used) != ldbe32(buf + H_CRC)) {
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        /* (fuzzing builds go on, to reach the checks behind the CRC) */
        WHY("directory CRC mismatch");
        return NV_SLOT_DAMAGED;
#endif
    }

    dir->generation = ldbe64(buf + H_GEN);
    dir->flags = ldbe32(buf + H_FLAGS);
    dir->cipher = ldbe32(buf + H_CIPHER);
    dir->kdf = ldbe32(buf + H_KDF);
    dir->kdf_iterations = ldbe32(buf + H_KDF_ITER);
    memcpy(dir->salt, buf + H_SALT, NV_SALT_LEN);
    memcpy(dir->kcv, buf + H_KCV, NV_KCV_LEN);
    dir->successor = ldbe64(buf + H_SUCCESSOR);
    dir->pending = ldbe32(buf + H_PENDING);
    dir->count = count;

    if (dir->generation == 0) {
        WHY("generation 0");
        return NV_SLOT_DAMAGED;
    }
    if (dir->successor && dir->successor != dir->generation + 1) {
        WHY("bad successor generation %" PRIu64, dir->successor);
        return NV_SLOT_DAMAGED;
    }
    if (dir->flags & ~NV_FLAGS_KNOWN) {
        WHY("unknown flags 0x%" PRIx32, dir->flags);
        return NV_SLOT_DAMAGED;
    }
    if (dir->flags & NV_FLAG_ENCRYPTED) {
        if (dir->cipher != NV_CIPHER_AES_256_GCM ||
            (dir->kdf != NV_KDF_NONE && dir->kdf != NV_KDF_PBKDF2_SHA256) ||
            (dir->kdf == NV_KDF_PBKDF2_SHA256 && dir->kdf_iterations == 0)) {
            WHY("bad encryption parameters");
            return NV_SLOT_DAMAGED;
        }
    } else if (dir->cipher != NV_CIPHER_NONE || dir->kdf != NV_KDF_NONE) {
        WHY("encryption parameters on an unencrypted store");
        return NV_SLOT_DAMAGED;
    }
    return NV_SLOT_OK;
}

/* Decode and check entry @i (at @p) of @dir, whose entries end at @used. */
static bool nv_decode_entry(const uint8_t *p, NvDir *dir, uint32_t i,
                            size_t used, char *why, size_t why_len)
{
    NvEntry *e = &dir->e[i];

    memcpy(e->name, p + E_NAME, NV_NAME_FIELD);
    if (e->name[NV_NAME_MAX] != '\0' || !nv_name_valid(e->name)) {
        WHY("entry %" PRIu32 " has an invalid name", i);
        return false;
    }
    if (!buffer_is_zero((const uint8_t *)e->name + strlen(e->name),
                        NV_NAME_FIELD - strlen(e->name))) {
        WHY("entry %" PRIu32 " has garbage after its name", i);
        return false;
    }
    e->offset = ldbe64(p + E_OFFSET);
    e->length = ldbe64(p + E_LENGTH);
    e->blob_gen = ldbe64(p + E_BLOB_GEN);
    e->plain_crc = ldbe32(p + E_PLAIN_CRC);
    e->stored_crc = ldbe32(p + E_STORED_CRC);
    memcpy(e->nonce, p + E_NONCE, NV_NONCE_LEN);
    memcpy(e->tag, p + E_TAG, NV_TAG_LEN);
    if (ldbe32(p + E_FLAGS) & ~NV_ENTRY_INLINE) {
        WHY("entry '%s' has unknown flags", e->name);
        return false;
    }
    e->is_inline = ldbe32(p + E_FLAGS) & NV_ENTRY_INLINE;
    if (e->length > NV_MAX_BLOB) {
        WHY("blob '%s' is too large", e->name);
        return false;
    }
    if (e->blob_gen == 0 || e->blob_gen > dir->generation) {
        WHY("blob '%s' has a bad generation", e->name);
        return false;
    }
    if (e->length == 0) {
        if (e->offset != 0 || e->is_inline) {
            WHY("empty blob '%s' has an offset", e->name);
            return false;
        }
    } else if (e->is_inline) {
        if (e->offset < used || e->offset % NV_INLINE_ALIGN != 0 ||
            e->offset > NV_SLOT_SIZE ||
            e->length > NV_SLOT_SIZE - e->offset) {
            WHY("inline blob '%s' lies outside its slot", e->name);
            return false;
        }
    } else if (e->offset < NV_DATA_START ||
               e->offset % NV_DATA_ALIGN != 0 ||
               e->offset > INT64_MAX - NV_MAX_BLOB - NV_DATA_ALIGN) {
        WHY("blob '%s' has a bad offset", e->name);
        return false;
    }
    return true;
}

/* Entry @i of @dir is not named like, nor overlaps, any before it. */
static bool nv_entry_distinct(const NvDir *dir, uint32_t i, char *why,
                              size_t why_len)
{
    const NvEntry *e = &dir->e[i];

    for (uint32_t j = 0; j < i; j++) {
        const NvEntry *o = &dir->e[j];
        if (strcmp(o->name, e->name) == 0) {
            WHY("blob '%s' is listed twice", e->name);
            return false;
        }
        if (e->length && o->length && e->is_inline == o->is_inline &&
            e->offset < o->offset + nv_span(o) &&
            o->offset < e->offset + nv_span(e)) {
            WHY("blobs '%s' and '%s' overlap", o->name, e->name);
            return false;
        }
    }
    return true;
}

NvSlotState nv_dir_decode(const uint8_t *buf, size_t len, NvDir *dir,
                          char *why, size_t why_len)
{
    NvSlotState state = nv_decode_header(buf, len, dir, why, why_len);
    size_t used;

    if (state != NV_SLOT_OK) {
        return state;
    }
    used = nv_dir_used(dir->count);
    for (uint32_t i = 0; i < dir->count; i++) {
        const uint8_t *p = buf + NV_HDR_SIZE + (size_t)i * NV_ENTRY_SIZE;

        if (!nv_decode_entry(p, dir, i, used, why, why_len) ||
            !nv_entry_distinct(dir, i, why, why_len)) {
            return NV_SLOT_DAMAGED;
        }
    }
    return NV_SLOT_OK;
}

size_t nv_dir_encode(const NvDir *dir, uint8_t *buf)
{
    size_t used = NV_HDR_SIZE + (size_t)dir->count * NV_ENTRY_SIZE;

    memset(buf, 0, used);
    memcpy(buf + H_MAGIC, NV_MAGIC, NV_MAGIC_LEN);
    stbe16(buf + H_MAJOR, NV_VERSION_MAJOR);
    stbe16(buf + H_MINOR, NV_VERSION_MINOR);
    stbe32(buf + H_HDR_SIZE, NV_HDR_SIZE);
    stbe64(buf + H_GEN, dir->generation);
    stbe32(buf + H_FLAGS, dir->flags);
    stbe32(buf + H_COUNT, dir->count);
    stbe32(buf + H_ENTRY_SIZE, NV_ENTRY_SIZE);
    stbe32(buf + H_CIPHER, dir->cipher);
    stbe32(buf + H_KDF, dir->kdf);
    stbe32(buf + H_KDF_ITER, dir->kdf_iterations);
    memcpy(buf + H_SALT, dir->salt, NV_SALT_LEN);
    memcpy(buf + H_KCV, dir->kcv, NV_KCV_LEN);
    stbe64(buf + H_SUCCESSOR, dir->successor);
    stbe32(buf + H_PENDING, dir->pending);
    for (uint32_t i = 0; i < dir->count; i++) {
        uint8_t *p = buf + NV_HDR_SIZE + (size_t)i * NV_ENTRY_SIZE;
        const NvEntry *e = &dir->e[i];

        memcpy(p + E_NAME, e->name, strnlen(e->name, NV_NAME_MAX));
        stbe64(p + E_OFFSET, e->offset);
        stbe64(p + E_LENGTH, e->length);
        stbe64(p + E_BLOB_GEN, e->blob_gen);
        stbe32(p + E_PLAIN_CRC, e->plain_crc);
        stbe32(p + E_STORED_CRC, e->stored_crc);
        memcpy(p + E_NONCE, e->nonce, NV_NONCE_LEN);
        memcpy(p + E_TAG, e->tag, NV_TAG_LEN);
        stbe32(p + E_FLAGS, e->is_inline ? NV_ENTRY_INLINE : 0);
    }
    stbe32(buf + H_CRC, dir_crc(buf, used));
    return used;
}
