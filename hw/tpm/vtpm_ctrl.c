/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_ctrl.c: swtpm's control channel (commands 0x01-0x13) on a UNIX or
 * TCP socket, served on the main thread so that it answers while a TPM
 * command runs; libtpms work is handed to the engine thread as a job.
 */
#include "qemu/osdep.h"
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_tis.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_nvfilename.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/* swtpm waits this long for the rest of a control message. */
#define CTRL_DEADLINE_MS 500
/* ... and this long per chunk of a streamed state blob or hash data. */
#define CTRL_STREAM_TIMEOUT_MS 10000
/* Largest state blob or hash stream we take. */
#define CTRL_MAX_STREAM (16 * 1024 * 1024)
#define CTRL_BUF_SIZE (4 + 4096 + 64)

struct VTPMCtrl {
    VTPMEngine *e;
    VTPMData *d;
    VTPMCtrlConfig cfg;
    int client_fd;
    bool client_gave_datafd;
    int quit_pipe[2];
    bool shutdown;
    uint8_t buf[CTRL_BUF_SIZE];
};

/* One control request, as handed to the engine thread. */
typedef struct CtrlJob {
    VTPMCtrl *c;
    uint32_t cmd;
    const uint8_t *body;        /* the fixed part */
    size_t body_len;
    const uint8_t *data;        /* streamed part (state blob, hash data) */
    size_t data_len;
    int fd;                     /* SET_DATAFD */
    uint8_t rsp[VTPM_BUFSZ_RESP_SIZE + VTPM_INFO_RESP_HDR_SIZE];
    size_t rsp_len;
    uint8_t *big_rsp;           /* malloc'ed reply (GET_STATEBLOB/INFO) */
} CtrlJob;

static void job_result(CtrlJob *j, uint32_t res)
{
    stbe32(j->rsp, res);
    j->rsp_len = VTPM_RESP_SIZE_RESULT;
}

/* ---- the commands that need libtpms (engine thread) ---------------------- */

static void ctrl_get_stateblob(VTPMEngine *e, CtrlJob *j)
{
    uint32_t type = ldbe32(j->body + VTPM_GETSTATE_REQ_TYPE);
    uint32_t flags = ldbe32(j->body + VTPM_GETSTATE_REQ_FLAGS);
    uint32_t offset = ldbe32(j->body + VTPM_GETSTATE_REQ_OFFSET);
    uint32_t res, resp_flags = 0;
    uint8_t *blob = NULL;
    size_t len = 0, n = 0;

    res = vtpm_migration_get_blob(e, type, flags, &blob, &len, &resp_flags);
    if (res == VTPM_RES_SUCCESS && offset < len) {
        n = len - offset;
    }
    j->big_rsp = qemu_xmalloc(VTPM_GETSTATE_RESP_HDR_SIZE + n);
    stbe32(j->big_rsp, res);
    stbe32(j->big_rsp + VTPM_GETSTATE_RESP_FLAGS, resp_flags);
    stbe32(j->big_rsp + VTPM_GETSTATE_RESP_TOTLEN, n);
    stbe32(j->big_rsp + VTPM_GETSTATE_RESP_LENGTH, n);
    if (n) {
        memcpy(j->big_rsp + VTPM_GETSTATE_RESP_HDR_SIZE, blob + offset, n);
    }
    j->rsp_len = VTPM_GETSTATE_RESP_HDR_SIZE + n;
    free(blob);
}

static void ctrl_get_info(VTPMEngine *e, CtrlJob *j)
{
    uint64_t flags = ldbe64(j->body + VTPM_INFO_REQ_FLAGS);
    uint32_t offset = ldbe32(j->body + VTPM_INFO_REQ_OFFSET);
    char *info = TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
    size_t slen, n;

    if (!info) {
        job_result(j, VTPM_RES_SIZE);
        return;
    }
    slen = strlen(info);
    if (offset >= slen) {
        free(info);
        job_result(j, VTPM_RES_BAD_PARAMETER);
        return;
    }
    n = slen + 1 - offset;
    if (n > VTPM_GETINFO_SIZE) {
        n = VTPM_GETINFO_SIZE;
    }
    j->big_rsp = qemu_xmalloc(VTPM_INFO_RESP_HDR_SIZE + n);
    stbe32(j->big_rsp, VTPM_RES_SUCCESS);
    stbe32(j->big_rsp + VTPM_INFO_RESP_TOTLEN, slen + 1);
    stbe32(j->big_rsp + VTPM_INFO_RESP_LENGTH, n);
    memcpy(j->big_rsp + VTPM_INFO_RESP_HDR_SIZE, info + offset, n);
    j->rsp_len = VTPM_INFO_RESP_HDR_SIZE + n;
    free(info);
}

static void ctrl_job(VTPMEngine *e, void *opaque)
{
    CtrlJob *j = opaque;
    bool running = vtpm_engine_running(e);
    Error *err = NULL;

    switch (j->cmd) {
    case VTPM_CMD_INIT:
        job_result(j, vtpm_engine_init_tpm(e, ldbe32(j->body)));
        break;
    case VTPM_CMD_SHUTDOWN:
    case VTPM_CMD_STOP:
        vtpm_engine_stop_tpm(e);
        job_result(j, VTPM_RES_SUCCESS);
        break;
    case VTPM_CMD_GET_TPMESTABLISHED: {
        TPM_BOOL bit = 0;

        if (!running) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
            break;
        }
        stbe32(j->rsp, TPM_IO_TpmEstablished_Get(&bit));
        j->rsp[VTPM_EST_RESP_BIT] = bit ? 1 : 0;
        j->rsp[5] = j->rsp[6] = j->rsp[7] = 0;
        j->rsp_len = VTPM_EST_RESP_SIZE;
        break;
    }
    case VTPM_CMD_RESET_TPMESTABLISHED: {
        uint8_t loc = j->body[VTPM_LOC_REQ_LOC], saved;

        if (!running) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
        } else if (loc > 4) {
            job_result(j, VTPM_RES_BAD_LOCALITY);
        } else {
            saved = vtpm_engine_get_locality(e);
            vtpm_engine_set_locality(e, loc);
            job_result(j, TPM_IO_TpmEstablished_Reset());
            vtpm_engine_set_locality(e, saved);
        }
        break;
    }
    case VTPM_CMD_HASH_START:
        job_result(j, running ? TPM_IO_Hash_Start() : VTPM_RES_BAD_ORDINAL);
        break;
    case VTPM_CMD_HASH_DATA:
        job_result(j, running ? TPM_IO_Hash_Data(j->data, j->data_len)
                              : VTPM_RES_BAD_ORDINAL);
        break;
    case VTPM_CMD_HASH_END:
        job_result(j, running ? TPM_IO_Hash_End() : VTPM_RES_BAD_ORDINAL);
        break;
    case VTPM_CMD_STORE_VOLATILE: {
        unsigned char *buf = NULL;
        uint32_t len = 0;
        TPM_RESULT res;

        if (!running) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
            break;
        }
        res = TPMLIB_VolatileAll_Store(&buf, &len);
        if (res == TPM_SUCCESS &&
            vtpm_storage_store(vtpm_engine_storage(e),
                               TPM_VOLATILESTATE_NAME, buf, len, &err) < 0) {
            vtpm_log_err(err);
            res = VTPM_RES_IOERROR;
        }
        free(buf);
        job_result(j, res);
        break;
    }
    case VTPM_CMD_GET_STATEBLOB:
        if (!running) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
        } else {
            ctrl_get_stateblob(e, j);
        }
        break;
    case VTPM_CMD_SET_STATEBLOB:
        if (running) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
        } else {
            job_result(j, vtpm_migration_set_blob(
                           e, ldbe32(j->body + VTPM_SETSTATE_REQ_TYPE),
                           ldbe32(j->body + VTPM_SETSTATE_REQ_FLAGS),
                           j->data, j->data_len));
        }
        break;
    case VTPM_CMD_SET_DATAFD:
        job_result(j, vtpm_data_set_fd(j->c->d, j->fd));
        if (ldbe32(j->rsp) == VTPM_RES_SUCCESS) {
            j->fd = -1;
        }
        break;
    case VTPM_CMD_SET_BUFFERSIZE: {
        uint32_t wanted = ldbe32(j->body), min = 0, max = 0, size;

        if (running && wanted) {
            job_result(j, VTPM_RES_BAD_ORDINAL);
            break;
        }
        size = TPMLIB_SetBufferSize(wanted, &min, &max);
        stbe32(j->rsp, VTPM_RES_SUCCESS);
        stbe32(j->rsp + VTPM_BUFSZ_RESP_BUFSIZE, size);
        stbe32(j->rsp + VTPM_BUFSZ_RESP_MINSIZE, min);
        stbe32(j->rsp + VTPM_BUFSZ_RESP_MAXSIZE, max);
        j->rsp_len = VTPM_BUFSZ_RESP_SIZE;
        break;
    }
    case VTPM_CMD_GET_INFO:
        ctrl_get_info(e, j);
        break;
    case VTPM_CMD_LOCK_STORAGE:
        if (vtpm_engine_reclaim_storage(e, ldbe32(j->body), &err) < 0) {
            vtpm_log_err(err);
            job_result(j, VTPM_RES_FAIL);
        } else {
            job_result(j, VTPM_RES_SUCCESS);
        }
        break;
    default:
        job_result(j, VTPM_RES_BAD_ORDINAL);
        break;
    }
}

/* After a SAVESTATE blob left, the storage belongs to the destination. */
static void ctrl_job_release(VTPMEngine *e, void *opaque)
{
    Error *err = NULL;

    if (vtpm_storage_release(vtpm_engine_storage(e), &err) < 0) {
        vtpm_log_err(err);
    }
}

/* ---- reading one request ------------------------------------------------- */

/* Minimum body size of each command; extra bytes that came along are
 * ignored (clients differ, reference §1.9). */
static size_t ctrl_min_body(uint32_t cmd)
{
    switch (cmd) {
    case VTPM_CMD_INIT:
        return VTPM_INIT_REQ_SIZE;
    case VTPM_CMD_SET_LOCALITY:
    case VTPM_CMD_RESET_TPMESTABLISHED:
        return VTPM_LOC_REQ_MIN_SIZE;
    case VTPM_CMD_HASH_DATA:
        return VTPM_HDATA_REQ_HDR_SIZE;
    case VTPM_CMD_GET_STATEBLOB:
        return VTPM_GETSTATE_REQ_SIZE;
    case VTPM_CMD_SET_STATEBLOB:
        return VTPM_SETSTATE_REQ_HDR_SIZE;
    case VTPM_CMD_SET_BUFFERSIZE:
        return VTPM_BUFSZ_REQ_SIZE;
    case VTPM_CMD_GET_INFO:
        return VTPM_INFO_REQ_SIZE;
    case VTPM_CMD_LOCK_STORAGE:
        return VTPM_LOCK_REQ_SIZE;
    default:
        return 0;
    }
}

static const char *ctrl_cmd_name(uint32_t cmd)
{
    static const char *const names[] = {
        [VTPM_CMD_GET_CAPABILITY] = "GET_CAPABILITY",
        [VTPM_CMD_INIT] = "INIT",
        [VTPM_CMD_SHUTDOWN] = "SHUTDOWN",
        [VTPM_CMD_GET_TPMESTABLISHED] = "GET_TPMESTABLISHED",
        [VTPM_CMD_SET_LOCALITY] = "SET_LOCALITY",
        [VTPM_CMD_HASH_START] = "HASH_START",
        [VTPM_CMD_HASH_DATA] = "HASH_DATA",
        [VTPM_CMD_HASH_END] = "HASH_END",
        [VTPM_CMD_CANCEL_TPM_CMD] = "CANCEL_TPM_CMD",
        [VTPM_CMD_STORE_VOLATILE] = "STORE_VOLATILE",
        [VTPM_CMD_RESET_TPMESTABLISHED] = "RESET_TPMESTABLISHED",
        [VTPM_CMD_GET_STATEBLOB] = "GET_STATEBLOB",
        [VTPM_CMD_SET_STATEBLOB] = "SET_STATEBLOB",
        [VTPM_CMD_STOP] = "STOP",
        [VTPM_CMD_GET_CONFIG] = "GET_CONFIG",
        [VTPM_CMD_SET_DATAFD] = "SET_DATAFD",
        [VTPM_CMD_SET_BUFFERSIZE] = "SET_BUFFERSIZE",
        [VTPM_CMD_GET_INFO] = "GET_INFO",
        [VTPM_CMD_LOCK_STORAGE] = "LOCK_STORAGE",
    };

    if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd]) {
        return names[cmd];
    }
    return "unknown";
}

/*
 * Serve one request from the client.  Returns false when the connection
 * is to be closed.
 */
static bool ctrl_serve_one(VTPMCtrl *c)
{
    int fd = c->client_fd;
    CtrlJob j = { .c = c, .fd = -1 };
    uint8_t *stream = NULL;
    VTPMDeadline deadline;
    ssize_t have;
    size_t need;
    bool keep = true;

    have = vtpm_sock_recv_fd(fd, c->buf, sizeof(c->buf), &j.fd);
    if (have <= 0) {
        return false;
    }

    deadline = vtpm_deadline_in(CTRL_DEADLINE_MS);
    have = vtpm_sock_read(fd, c->buf, have, 4, 4, deadline);
    if (have < 4) {
        keep = false;
        goto out;
    }
    j.cmd = ldbe32(c->buf);
    need = 4 + ctrl_min_body(j.cmd);
    have = vtpm_sock_read(fd, c->buf, have, need, need, deadline);
    if (have < 0) {
        keep = false;
        goto out;
    }
    vtpm_log(VTPM_LOG_DEBUG, "ctrl: %s (0x%02x)", ctrl_cmd_name(j.cmd),
             j.cmd);
    vtpm_log_hex("ctrl request", c->buf, have);
    j.body = c->buf + 4;
    j.body_len = have - 4;
    if ((size_t)have < need) {
        job_result(&j, VTPM_RES_BAD_PARAMETER);
        goto reply;
    }

    /* Streamed parts: read them whole before answering. */
    if (j.cmd == VTPM_CMD_SET_STATEBLOB || j.cmd == VTPM_CMD_HASH_DATA) {
        size_t len = ldbe32(c->buf + need - 4);
        size_t got = have - need;

        if (len > CTRL_MAX_STREAM) {
            job_result(&j, VTPM_RES_FAIL);
            keep = false;           /* cannot resynchronise */
            goto reply;
        }
        if (got > len) {
            got = len;
        }
        stream = qemu_xmalloc(len ? len : 1);
        memcpy(stream, c->buf + need, got);
        if (vtpm_sock_read(fd, stream, got, len, len,
                           vtpm_deadline_idle(CTRL_STREAM_TIMEOUT_MS)) !=
            (ssize_t)len) {
            keep = false;
            goto out;
        }
        j.data = stream;
        j.data_len = len;
    }

    switch (j.cmd) {
    case VTPM_CMD_GET_CAPABILITY:
        stbe64(j.rsp, vtpm_engine_is_tpm2(c->e) ? VTPM_CAPS_TPM2
                                                 : VTPM_CAPS_TPM12);
        j.rsp_len = VTPM_RESP_SIZE_CAPABILITY;
        break;
    case VTPM_CMD_SET_LOCALITY:
        if (j.body[VTPM_LOC_REQ_LOC] > 4) {
            job_result(&j, VTPM_RES_BAD_LOCALITY);
        } else {
            vtpm_engine_set_locality(c->e, j.body[VTPM_LOC_REQ_LOC]);
            job_result(&j, VTPM_RES_SUCCESS);
        }
        break;
    case VTPM_CMD_CANCEL_TPM_CMD:
        job_result(&j, vtpm_engine_cancel(c->e));
        break;
    case VTPM_CMD_GET_CONFIG:
        stbe32(j.rsp, VTPM_RES_SUCCESS);
        stbe32(j.rsp + VTPM_CONFIG_RESP_FLAGS,
               c->cfg.has_key ? VTPM_CONFIG_FLAG_FILE_KEY : 0);
        j.rsp_len = VTPM_CONFIG_RESP_SIZE;
        break;
    case VTPM_CMD_SET_DATAFD:
        if (j.fd < 0) {
            job_result(&j, VTPM_RES_BAD_PARAMETER);
            break;
        }
        vtpm_engine_run(c->e, ctrl_job, &j);
        if (ldbe32(j.rsp) == VTPM_RES_SUCCESS) {
            c->client_gave_datafd = true;
        }
        break;
    default:
        vtpm_engine_run(c->e, ctrl_job, &j);
        break;
    }

reply:
    vtpm_log_hex("ctrl reply", j.big_rsp ? j.big_rsp : j.rsp,
                 j.rsp_len > 64 ? 64 : j.rsp_len);
    if (vtpm_sock_write(fd, j.big_rsp ? j.big_rsp : j.rsp, j.rsp_len,
                        vtpm_deadline_idle(CTRL_STREAM_TIMEOUT_MS)) < 0) {
        keep = false;
    }
    if (j.cmd == VTPM_CMD_GET_STATEBLOB && j.rsp_len >= 4 &&
        ldbe32(c->buf + 4 + VTPM_GETSTATE_REQ_TYPE) ==
        VTPM_BLOB_TYPE_SAVESTATE) {
        /* The last blob of an outgoing migration was read. */
        vtpm_engine_run(c->e, ctrl_job_release, NULL);
    }
    if (j.cmd == VTPM_CMD_SHUTDOWN) {
        c->shutdown = true;
    }
out:
    if (j.fd >= 0) {
        close(j.fd);
    }
    free(j.big_rsp);
    free(stream);
    return keep;
}

/* ---- the loop ------------------------------------------------------------ */

VTPMCtrl *vtpm_ctrl_new(VTPMEngine *e, VTPMData *d,
                        const VTPMCtrlConfig *cfg)
{
    VTPMCtrl *c = qemu_xnew0(VTPMCtrl, 1);

    c->e = e;
    c->d = d;
    c->cfg = *cfg;
    c->client_fd = cfg->client_fd;
    if (pipe2(c->quit_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        c->quit_pipe[0] = c->quit_pipe[1] = -1;
    }
    return c;
}

void vtpm_ctrl_free(VTPMCtrl *c)
{
    if (!c) {
        return;
    }
    if (c->client_fd >= 0) {
        close(c->client_fd);
    }
    if (c->cfg.listen_fd >= 0) {
        close(c->cfg.listen_fd);
    }
    close(c->quit_pipe[0]);
    close(c->quit_pipe[1]);
    free(c);
}

void vtpm_ctrl_quit(void *opaque)
{
    VTPMCtrl *c = opaque;
    int saved = errno;
    ssize_t r;

    r = write(c->quit_pipe[1], "q", 1);
    (void)r;
    errno = saved;
}

int vtpm_ctrl_run(VTPMCtrl *c)
{
    while (!c->shutdown) {
        struct pollfd pfd[2] = {
            { .fd = c->quit_pipe[0], .events = POLLIN },
            { .fd = c->client_fd >= 0 ? c->client_fd : c->cfg.listen_fd,
              .events = POLLIN },
        };

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return 1;
        }
        if (pfd[0].revents) {
            vtpm_log(VTPM_LOG_INFO, "quit requested");
            break;
        }
        if (!pfd[1].revents) {
            continue;
        }
        if (c->client_fd >= 0) {
            if (!ctrl_serve_one(c)) {
                bool quit = c->cfg.terminate && c->client_gave_datafd;

                close(c->client_fd);
                c->client_fd = -1;
                c->client_gave_datafd = false;
                vtpm_log(VTPM_LOG_DEBUG, "control client disconnected");
                if (quit) {
                    break;
                }
            }
        } else if (c->cfg.listen_fd >= 0) {
            int fd = vtpm_sock_accept(c->cfg.listen_fd);

            if (fd >= 0) {
                c->client_fd = fd;
                vtpm_log(VTPM_LOG_DEBUG, "control client connected");
            }
        } else {
            break;
        }
    }
    return 0;
}
