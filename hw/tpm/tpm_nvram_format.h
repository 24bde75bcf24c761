/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_nvram_format.h: the on-disk layout of the TPM NVRAM store
 * (docs/specs/tpm-nvram.rst) and its encoder/decoder, kept apart from the
 * I/O so the directory parser can be fuzzed on its own.
 */
#ifndef HW_TPM_TPM_NVRAM_FORMAT_H
#define HW_TPM_TPM_NVRAM_FORMAT_H

#include "qemu/osdep.h"

#define NV_MAGIC            "QTPMNVRM"
#define NV_MAGIC_LEN        8
#define NV_VERSION_MAJOR    1
#define NV_VERSION_MINOR    1
#define NV_SLOT_SIZE        (128 * KiB)
#define NV_SLOT_COUNT       2
#define NV_DIR_MAX          8192    /* header + entries, at most */
#define NV_HDR_SIZE         128
#define NV_ENTRY_SIZE       128
#define NV_MAX_ENTRIES      ((NV_DIR_MAX - NV_HDR_SIZE) / NV_ENTRY_SIZE)
#define NV_INLINE_ALIGN     16
#define NV_DATA_START       (NV_SLOT_SIZE * NV_SLOT_COUNT)
#define NV_DATA_ALIGN       4096
#define NV_NAME_FIELD       48
#define NV_NAME_MAX         (NV_NAME_FIELD - 1)
#define NV_MAX_BLOB         (64 * MiB)
#define NV_SALT_LEN         16
#define NV_KCV_LEN          16
#define NV_NONCE_LEN        12
#define NV_TAG_LEN          16

/* Header flags */
#define NV_FLAG_ENCRYPTED   0x1
#define NV_FLAGS_KNOWN      NV_FLAG_ENCRYPTED

/* Header "pending" bits (format 1.1; a 1.0 writer leaves them 0) */
#define NV_PENDING_WIPE     0x1     /* data of an older key may remain */

/* Ciphers and key derivations */
#define NV_CIPHER_NONE          0
#define NV_CIPHER_AES_256_GCM   1
#define NV_KDF_NONE             0 /* the key file holds the key itself */
#define NV_KDF_PBKDF2_SHA256    1

/* Entry flags */
#define NV_ENTRY_INLINE     0x1     /* data inside the slot, after the dir */

typedef struct NvEntry {
    char name[NV_NAME_FIELD];   /* NUL-terminated */
    bool is_inline;             /* offset is relative to the slot */
    uint64_t offset;            /* 0 when length == 0 */
    uint64_t length;            /* plaintext == stored length */
    uint64_t blob_gen;          /* generation that wrote the data */
    uint32_t plain_crc;         /* zlib crc32 of the plaintext */
    uint32_t stored_crc;        /* zlib crc32 of the bytes on disk */
    uint8_t nonce[NV_NONCE_LEN];
    uint8_t tag[NV_TAG_LEN];
} NvEntry;

typedef struct NvDir {
    uint16_t major;
    uint16_t minor;
    uint64_t generation;
    uint32_t flags;
    uint32_t cipher;
    uint32_t kdf;
    uint32_t kdf_iterations;
    uint8_t salt[NV_SALT_LEN];
    uint8_t kcv[NV_KCV_LEN];
    uint64_t successor;     /* 1.1: generation + 1 once a later commit was
                               durable, else 0 */
    uint32_t pending;       /* 1.1: NV_PENDING_* */
    uint32_t count;
    NvEntry e[NV_MAX_ENTRIES];
} NvDir;

typedef enum NvSlotState {
    NV_SLOT_ZERO,       /* all zeroes: never written */
    NV_SLOT_FOREIGN,    /* non-zero, no magic: not ours (or a torn write) */
    NV_SLOT_DAMAGED,    /* our magic, but the directory does not verify */
    NV_SLOT_NEWER,      /* our magic, a major version we do not know */
    NV_SLOT_OK,         /* a well-formed directory (blobs not checked) */
} NvSlotState;

/*
 * Decode one slot (@len bytes, at least NV_HDR_SIZE).  Returns the state;
 * on NV_SLOT_OK *dir is filled.  @why (may be NULL) gets a reason for
 * DAMAGED/NEWER.  Never reads outside @buf, never allocates.
 */
NvSlotState nv_dir_decode(const uint8_t *buf, size_t len, NvDir *dir,
                          char *why, size_t why_len);
/*
 * Encode @dir into @buf (at least NV_DIR_MAX bytes); returns the bytes
 * used (header and entries; inline data goes after them).
 */
size_t nv_dir_encode(const NvDir *dir, uint8_t *buf);
/* Bytes of header and entries of a directory with @count entries. */
static inline size_t nv_dir_used(uint32_t count)
{
    return NV_HDR_SIZE + (size_t)count * NV_ENTRY_SIZE;
}
/* Image offset of entry @e's data in a directory read from slot @slot. */
static inline uint64_t nv_entry_pos(const NvEntry *e, int slot)
{
    return e->is_inline ? (uint64_t)slot * NV_SLOT_SIZE + e->offset
                        : e->offset;
}
/* A blob name: 1..NV_NAME_MAX printable ASCII characters, no '/'. */
bool nv_name_valid(const char *name);
/* Entry index of @name in @dir, or -1. */
int nv_dir_find(const NvDir *dir, const char *name);
/* Bytes a blob occupies in the data area (rounded to NV_DATA_ALIGN). */
uint64_t nv_extent_size(uint64_t length);
/* zlib's crc32 of @buf. */
uint32_t nv_crc32(const void *buf, size_t len);

#endif /* HW_TPM_TPM_NVRAM_FORMAT_H */
