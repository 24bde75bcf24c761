/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tpm-counter.c: the test guest's TPM workload.  Runs in the guest's
 * initramfs (statically linked), talks TPM 2.0 through /dev/tpm0 as any
 * TPM user does: defines an NV counter index once (TPM2_NV_DefineSpace,
 * owner auth, empty passwords), then increments it (TPM2_NV_Increment)
 * and reads it back (TPM2_NV_Read) in a loop.  Each value the TPM
 * acknowledged is printed on its own line, "tpm-counter: N", so the host
 * can check that no acknowledged increment is ever lost and the counter
 * never goes back (across restarts, migrations...).
 *
 * usage: tpm-counter [COUNT]   (COUNT increments, 0 or none: forever)
 * Any TPM error ends it with "tpm-counter: error ..." and exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NV_INDEX            0x01500017u
#define TPM_ST_SESSIONS     0x8002
#define TPM_RH_OWNER        0x40000001u
#define TPM_RS_PW           0x40000009u
#define TPM_CC_NV_DEFINE    0x0000012au
#define TPM_CC_NV_INCREMENT 0x00000134u
#define TPM_CC_NV_READ      0x0000014eu
#define TPM_RC_NV_DEFINED   0x0000014cu
#define TPM_ALG_SHA256      0x000b
/* TPM_NT_COUNTER, AUTHWRITE, AUTHREAD, NO_DA */
#define NV_ATTRS            (0x10u | (1u << 2) | (1u << 18) | (1u << 25))

typedef struct Buf {
    uint8_t b[256];
    size_t n;
} Buf;

static void put8(Buf *m, uint8_t v) { m->b[m->n++] = v; }
static void put16(Buf *m, uint16_t v) { put8(m, v >> 8); put8(m, v); }
static void put32(Buf *m, uint32_t v) { put16(m, v >> 16); put16(m, v); }

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

/* Header (size patched by tpm_call) and the handles. */
static void begin(Buf *m, uint32_t cc, uint32_t h1, uint32_t h2)
{
    m->n = 0;
    put16(m, TPM_ST_SESSIONS);
    put32(m, 0);
    put32(m, cc);
    put32(m, h1);
    if (h2) {
        put32(m, h2);
    }
    /* One password session with an empty password. */
    put32(m, 9);
    put32(m, TPM_RS_PW);
    put16(m, 0);                /* nonce */
    put8(m, 0);                 /* attributes */
    put16(m, 0);                /* hmac: the password */
}

/*
 * Send @m and read the response into @rsp on the one open file (the
 * kernel keeps a response for the file that sent the command).  Returns
 * the response code, or -1 on an I/O error (errno set).
 */
static long tpm_call(int fd, Buf *m, uint8_t *rsp, size_t rsp_len,
                     size_t *got)
{
    ssize_t n;

    m->b[2] = m->n >> 24;
    m->b[3] = m->n >> 16;
    m->b[4] = m->n >> 8;
    m->b[5] = m->n;
    if (write(fd, m->b, m->n) != (ssize_t)m->n) {
        return -1;
    }
    n = read(fd, rsp, rsp_len);
    if (n < 10) {
        if (n >= 0) {
            errno = EPROTO;
        }
        return -1;
    }
    *got = n;
    return get32(rsp + 6);
}

static int fail(const char *what, long rc)
{
    if (rc < 0) {
        printf("tpm-counter: error %s: %s\n", what, strerror(errno));
    } else {
        printf("tpm-counter: error %s: TPM rc 0x%lx\n", what, rc);
    }
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv)
{
    unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;
    uint8_t rsp[4096];
    size_t got;
    Buf m;
    long rc;
    int fd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open("/dev/tpm0", O_RDWR);
    if (fd < 0) {
        return fail("opening /dev/tpm0", -1);
    }

    begin(&m, TPM_CC_NV_DEFINE, TPM_RH_OWNER, 0);
    put16(&m, 0);               /* the index's auth: empty */
    put16(&m, 14);              /* TPM2B_NV_PUBLIC */
    put32(&m, NV_INDEX);
    put16(&m, TPM_ALG_SHA256);
    put32(&m, NV_ATTRS);
    put16(&m, 0);               /* no policy */
    put16(&m, 8);               /* a counter is 8 bytes */
    rc = tpm_call(fd, &m, rsp, sizeof(rsp), &got);
    if (rc != 0 && rc != TPM_RC_NV_DEFINED) {
        return fail("NV_DefineSpace", rc);
    }
    printf("tpm-counter: index %s\n", rc ? "exists" : "defined");

    for (unsigned long i = 0; !count || i < count; i++) {
        uint64_t v = 0;

        begin(&m, TPM_CC_NV_INCREMENT, NV_INDEX, NV_INDEX);
        rc = tpm_call(fd, &m, rsp, sizeof(rsp), &got);
        if (rc != 0) {
            return fail("NV_Increment", rc);
        }
        begin(&m, TPM_CC_NV_READ, NV_INDEX, NV_INDEX);
        put16(&m, 8);
        put16(&m, 0);
        rc = tpm_call(fd, &m, rsp, sizeof(rsp), &got);
        /* header 10, parameterSize 4, TPM2B size 2, then the 8 bytes */
        if (rc != 0 || got < 24) {
            return fail("NV_Read", rc ? rc : (errno = EPROTO, -1));
        }
        for (int k = 0; k < 8; k++) {
            v = v << 8 | rsp[16 + k];
        }
        printf("tpm-counter: %llu\n", (unsigned long long)v);
    }
    printf("tpm-counter: done\n");
    return 0;
}
