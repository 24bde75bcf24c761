/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm_ioctl.h: swtpm's control-channel protocol as it travels on a socket:
 * command codes, flags, capability bits and every message as byte offsets.
 * All integers are big-endian on the wire (docs/devel/vtpm.rst).
 */
#ifndef HW_TPM_TPM_IOCTL_H
#define HW_TPM_TPM_IOCTL_H

#include <stdint.h>

/* Command codes: a 4-byte big-endian code starts every request. */
enum {
    VTPM_CMD_GET_CAPABILITY = 0x01,
    VTPM_CMD_INIT = 0x02,
    VTPM_CMD_SHUTDOWN = 0x03,
    VTPM_CMD_GET_TPMESTABLISHED = 0x04,
    VTPM_CMD_SET_LOCALITY = 0x05,
    VTPM_CMD_HASH_START = 0x06,
    VTPM_CMD_HASH_DATA = 0x07,
    VTPM_CMD_HASH_END = 0x08,
    VTPM_CMD_CANCEL_TPM_CMD = 0x09,
    VTPM_CMD_STORE_VOLATILE = 0x0a,
    VTPM_CMD_RESET_TPMESTABLISHED = 0x0b,
    VTPM_CMD_GET_STATEBLOB = 0x0c,
    VTPM_CMD_SET_STATEBLOB = 0x0d,
    VTPM_CMD_STOP = 0x0e,
    VTPM_CMD_GET_CONFIG = 0x0f,
    VTPM_CMD_SET_DATAFD = 0x10,
    VTPM_CMD_SET_BUFFERSIZE = 0x11,
    VTPM_CMD_GET_INFO = 0x12,
    VTPM_CMD_LOCK_STORAGE = 0x13,
};

/* Capability bits (reply of GET_CAPABILITY). */
#define VTPM_CAP_INIT                 0x00001
#define VTPM_CAP_SHUTDOWN             0x00002
#define VTPM_CAP_GET_TPMESTABLISHED   0x00004
#define VTPM_CAP_SET_LOCALITY         0x00008
#define VTPM_CAP_HASHING              0x00010
#define VTPM_CAP_CANCEL_TPM_CMD       0x00020
#define VTPM_CAP_STORE_VOLATILE       0x00040
#define VTPM_CAP_RESET_TPMESTABLISHED 0x00080
#define VTPM_CAP_GET_STATEBLOB        0x00100
#define VTPM_CAP_SET_STATEBLOB        0x00200
#define VTPM_CAP_STOP                 0x00400
#define VTPM_CAP_GET_CONFIG           0x00800
#define VTPM_CAP_SET_DATAFD           0x01000
#define VTPM_CAP_SET_BUFFERSIZE       0x02000
#define VTPM_CAP_GET_INFO             0x04000
#define VTPM_CAP_SEND_COMMAND_HEADER  0x08000   /* TPM 2 only */
#define VTPM_CAP_LOCK_STORAGE         0x10000
#define VTPM_CAPS_TPM2                0x1ffff
#define VTPM_CAPS_TPM12 \
    (VTPM_CAPS_TPM2 & ~VTPM_CAP_SEND_COMMAND_HEADER)

/* Flags and enumerations. */
#define VTPM_INIT_FLAG_DELETE_VOLATILE 0x1
#define VTPM_BLOB_TYPE_PERMANENT       1
#define VTPM_BLOB_TYPE_VOLATILE        2
#define VTPM_BLOB_TYPE_SAVESTATE       3
#define VTPM_STATE_FLAG_DECRYPTED      0x1   /* GET request */
#define VTPM_STATE_FLAG_ENCRYPTED      0x2   /* GET reply, SET request */
#define VTPM_CONFIG_FLAG_FILE_KEY      0x1
#define VTPM_CONFIG_FLAG_MIGRATION_KEY 0x2

/* Sizes of the C structures swtpm declares (limits of one transfer). */
#define VTPM_STATE_BLOB_SIZE   3072
#define VTPM_GETINFO_SIZE      3072
#define VTPM_HASH_DATA_SIZE    4096

/*
 * Messages, as byte offsets after the 4-byte command code (requests) or
 * from the first byte of the reply.  "result" is a TPM 1.2 style u32.
 */
/* every reply starts with the result */
#define VTPM_RESP_RESULT            0
#define VTPM_RESP_SIZE_RESULT       4

/* GET_CAPABILITY reply: caps as u64 (swtpm >= 0.10 says result u32 + caps
 * u32: the same bytes). */
#define VTPM_RESP_SIZE_CAPABILITY   8

/* INIT request */
#define VTPM_INIT_REQ_FLAGS         0       /* u32 */
#define VTPM_INIT_REQ_SIZE          4

/* GET_TPMESTABLISHED reply */
#define VTPM_EST_RESP_BIT           4       /* u8, then 3 pad bytes */
#define VTPM_EST_RESP_SIZE          8

/* SET_LOCALITY / RESET_TPMESTABLISHED request (C struct is 4 bytes) */
#define VTPM_LOC_REQ_LOC            0       /* u8 */
#define VTPM_LOC_REQ_MIN_SIZE       1

/* HASH_DATA request */
#define VTPM_HDATA_REQ_LENGTH       0       /* u32, then data */
#define VTPM_HDATA_REQ_HDR_SIZE     4

/* GET_STATEBLOB request and reply */
#define VTPM_GETSTATE_REQ_FLAGS     0       /* u32 */
#define VTPM_GETSTATE_REQ_TYPE      4       /* u32 */
#define VTPM_GETSTATE_REQ_OFFSET    8       /* u32 */
#define VTPM_GETSTATE_REQ_SIZE      12
#define VTPM_GETSTATE_RESP_FLAGS    4       /* u32 */
#define VTPM_GETSTATE_RESP_TOTLEN   8       /* u32 */
#define VTPM_GETSTATE_RESP_LENGTH   12      /* u32 */
#define VTPM_GETSTATE_RESP_HDR_SIZE 16      /* data follows */

/* SET_STATEBLOB request */
#define VTPM_SETSTATE_REQ_FLAGS     0       /* u32 */
#define VTPM_SETSTATE_REQ_TYPE      4       /* u32 */
#define VTPM_SETSTATE_REQ_LENGTH    8       /* u32, then data */
#define VTPM_SETSTATE_REQ_HDR_SIZE  12

/* GET_CONFIG reply */
#define VTPM_CONFIG_RESP_FLAGS      4       /* u32 */
#define VTPM_CONFIG_RESP_SIZE       8

/* SET_BUFFERSIZE request and reply */
#define VTPM_BUFSZ_REQ_SIZE_FIELD   0       /* u32, 0 = query */
#define VTPM_BUFSZ_REQ_SIZE         4
#define VTPM_BUFSZ_RESP_BUFSIZE     4       /* u32 */
#define VTPM_BUFSZ_RESP_MINSIZE     8       /* u32 */
#define VTPM_BUFSZ_RESP_MAXSIZE     12      /* u32 */
#define VTPM_BUFSZ_RESP_SIZE        16

/* GET_INFO request and reply */
#define VTPM_INFO_REQ_FLAGS         0       /* u64 */
#define VTPM_INFO_REQ_OFFSET        8       /* u32, then u32 pad */
#define VTPM_INFO_REQ_SIZE          16
#define VTPM_INFO_RESP_TOTLEN       4       /* u32 */
#define VTPM_INFO_RESP_LENGTH       8       /* u32 */
#define VTPM_INFO_RESP_HDR_SIZE     12      /* NUL-terminated JSON follows */

/* LOCK_STORAGE request */
#define VTPM_LOCK_REQ_RETRIES       0       /* u32 */
#define VTPM_LOCK_REQ_SIZE          4

/* Result codes (TPM 1.2 numbering) used on the control channel. */
#define VTPM_RES_SUCCESS            0x000
#define VTPM_RES_BAD_PARAMETER      0x003
#define VTPM_RES_FAIL               0x009
#define VTPM_RES_BAD_ORDINAL        0x00a
#define VTPM_RES_KEYNOTFOUND        0x00d
#define VTPM_RES_SIZE               0x017
#define VTPM_RES_IOERROR            0x01f
#define VTPM_RES_DECRYPT_ERROR      0x021
#define VTPM_RES_INVALID_POSTINIT   0x026
#define VTPM_RES_BAD_KEY_PROPERTY   0x028
#define VTPM_RES_BAD_DATASIZE       0x02b
#define VTPM_RES_BAD_MODE           0x02c
#define VTPM_RES_BAD_VERSION        0x02e
#define VTPM_RES_BAD_LOCALITY       0x03d
#define VTPM_RES_RETRY              0x800
#define VTPM_RES_TPM2_FAILURE       0x101

/*
 * State blob header (GET/SET_STATEBLOB payload, swtpm's "blobheader"),
 * 10 bytes, big-endian, followed by TLV items {tag u16, length u32, value}.
 */
#define VTPM_BLOB_HDR_VERSION       0       /* u8: 2 */
#define VTPM_BLOB_HDR_MIN_VERSION   1       /* u8: 1 */
#define VTPM_BLOB_HDR_HDRSIZE       2       /* u16: 10 */
#define VTPM_BLOB_HDR_FLAGS         4       /* u16 */
#define VTPM_BLOB_HDR_TOTLEN        6       /* u32: header + payload */
#define VTPM_BLOB_HDR_SIZE          10
#define VTPM_BLOB_VERSION           2
#define VTPM_BLOB_FLAG_ENCRYPTED        0x01
#define VTPM_BLOB_FLAG_MIGRATION_ENCRYPTED 0x02
#define VTPM_BLOB_FLAG_MIGRATION_DATA   0x04
#define VTPM_BLOB_FLAG_MIGRATION_256BIT_KEY 0x10
#define VTPM_TLV_HDR_SIZE           6
#define VTPM_TAG_DATA               1
#define VTPM_TAG_ENCRYPTED_DATA     2
#define VTPM_TAG_MIGRATION_DATA     4
#define VTPM_TAG_ENCRYPTED_MIGRATION_DATA 5

/* Data channel: command-header mode prefix (cap bit 15). */
#define VTPM_SEND_COMMAND           8       /* u32 at offset 0 */
#define VTPM_SEND_CMD_HDR_SIZE      9       /* cmd u32, locality u8, size u32 */

#endif /* HW_TPM_TPM_IOCTL_H */
