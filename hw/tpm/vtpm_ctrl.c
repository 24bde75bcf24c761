/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_ctrl.c: swtpm's control channel (commands 0x01-0x13) on a UNIX or
 * TCP socket, served on the main thread so that it answers while a TPM
 * command runs; libtpms work is handed to the engine thread as a job.
 * One table (ctrl_cmds) says what each command needs and who answers it.
 */
#include "qemu/osdep.h"
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_tis.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_nvfilename.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

/*
 * Whole-message deadlines: swtpm waits 500 ms for the rest of a control
 * request; a streamed state blob or hash data (up to CTRL_MAX_STREAM) and
 * a reply each have CTRL_STREAM_DEADLINE_MS from their start.  A client
 * that misses one is dropped with a log line.  docs/tools/qemu-vtpm.rst.
 */
#define CTRL_DEADLINE_MS 500
#define CTRL_STREAM_DEADLINE_MS 10000
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

typedef struct CtrlCmd CtrlCmd;

/* One control request and its reply. */
typedef struct CtrlJob {
    VTPMCtrl *c;
    uint32_t cmd;
    const CtrlCmd *desc;        /* NULL: unknown command */
    const uint8_t *body;        /* the fixed part */
    size_t body_len;
    uint8_t *data;              /* streamed part (state blob, hash data) */
    size_t data_len;
    int fd;                     /* SET_DATAFD */
    uint8_t rsp[VTPM_BUFSZ_RESP_SIZE + VTPM_INFO_RESP_HDR_SIZE];
    size_t rsp_len;
    uint8_t *big_rsp;           /* malloc'ed reply (GET_STATEBLOB/INFO) */
    bool hang_up;               /* close the connection after the reply */
} CtrlJob;

typedef void CtrlHandler(VTPMCtrl *c, CtrlJob *j);

/* What a command needs before its handler runs. */
enum {
    CTRL_ENGINE = 1 << 0,       /* runs on the engine thread, as a job */
    CTRL_RUNNING = 1 << 1,      /* BAD_ORDINAL unless the TPM runs */
    CTRL_STOPPED = 1 << 2,      /* BAD_ORDINAL while the TPM runs */
    CTRL_STREAM = 1 << 3,       /* the body ends with a u32 length, and
                                   that many bytes follow */
};

struct CtrlCmd {
    const char *name;
    size_t min_body;            /* shorter: BAD_PARAMETER; extra bytes that
                                   came along are ignored (reference §1.9) */
    unsigned flags;
    CtrlHandler *handler;
    CtrlHandler *after_reply;   /* optional, on the control thread */
};

static void job_result(CtrlJob *j, uint32_t res)
{
    stbe32(j->rsp, res);
    j->rsp_len = VTPM_RESP_SIZE_RESULT;
}

/* ---- answered on the control thread, also while a TPM command runs ---- */

static void ctrl_get_capability(VTPMCtrl *c, CtrlJob *j)
{
    stbe64(j->rsp, vtpm_engine_is_tpm2(c->e) ? VTPM_CAPS_TPM2
                                             : VTPM_CAPS_TPM12);
    j->rsp_len = VTPM_RESP_SIZE_CAPABILITY;
}

static void ctrl_set_locality(VTPMCtrl *c, CtrlJob *j)
{
    if (j->body[VTPM_LOC_REQ_LOC] > 4) {
        job_result(j, VTPM_RES_BAD_LOCALITY);
    } else {
        vtpm_engine_set_locality(c->e, j->body[VTPM_LOC_REQ_LOC]);
        job_result(j, VTPM_RES_SUCCESS);
    }
}

static void ctrl_cancel(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, vtpm_engine_cancel(c->e));
}

static void ctrl_get_config(VTPMCtrl *c, CtrlJob *j)
{
    stbe32(j->rsp, VTPM_RES_SUCCESS);
    stbe32(j->rsp + VTPM_CONFIG_RESP_FLAGS,
           (c->cfg.has_key ? VTPM_CONFIG_FLAG_FILE_KEY : 0) |
           (c->cfg.has_migration_key ? VTPM_CONFIG_FLAG_MIGRATION_KEY : 0));
    j->rsp_len = VTPM_CONFIG_RESP_SIZE;
}

/* ---- the commands that need libtpms (engine thread) ---------------------- */

static void ctrl_init(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, vtpm_engine_init_tpm(c->e, ldbe32(j->body)));
}

/* SHUTDOWN and STOP */
static void ctrl_stop(VTPMCtrl *c, CtrlJob *j)
{
    vtpm_engine_stop_tpm(c->e);
    job_result(j, VTPM_RES_SUCCESS);
}

static void ctrl_get_established(VTPMCtrl *c, CtrlJob *j)
{
    TPM_BOOL bit = 0;

    stbe32(j->rsp, TPM_IO_TpmEstablished_Get(&bit));
    j->rsp[VTPM_EST_RESP_BIT] = bit ? 1 : 0;
    j->rsp[5] = j->rsp[6] = j->rsp[7] = 0;
    j->rsp_len = VTPM_EST_RESP_SIZE;
}

static void ctrl_reset_established(VTPMCtrl *c, CtrlJob *j)
{
    uint8_t loc = j->body[VTPM_LOC_REQ_LOC], saved;

    if (loc > 4) {
        job_result(j, VTPM_RES_BAD_LOCALITY);
        return;
    }
    saved = vtpm_engine_get_locality(c->e);
    vtpm_engine_set_locality(c->e, loc);
    job_result(j, TPM_IO_TpmEstablished_Reset());
    vtpm_engine_set_locality(c->e, saved);
}

static void ctrl_hash_start(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, TPM_IO_Hash_Start());
}

static void ctrl_hash_data(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, TPM_IO_Hash_Data(j->data, j->data_len));
}

static void ctrl_hash_end(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, TPM_IO_Hash_End());
}

static void ctrl_store_volatile(VTPMCtrl *c, CtrlJob *j)
{
    unsigned char *buf = NULL;
    uint32_t len = 0;
    Error *err = NULL;
    TPM_RESULT res;

    res = TPMLIB_VolatileAll_Store(&buf, &len);
    if (res == TPM_SUCCESS &&
        vtpm_storage_store(vtpm_engine_storage(c->e),
                           TPM_VOLATILESTATE_NAME, buf, len, &err) < 0) {
        vtpm_log_err(err);
        res = VTPM_RES_IOERROR;
    }
    free(buf);
    job_result(j, res);
}

static void ctrl_get_stateblob(VTPMCtrl *c, CtrlJob *j)
{
    uint32_t type = ldbe32(j->body + VTPM_GETSTATE_REQ_TYPE);
    uint32_t flags = ldbe32(j->body + VTPM_GETSTATE_REQ_FLAGS);
    uint32_t offset = ldbe32(j->body + VTPM_GETSTATE_REQ_OFFSET);
    uint32_t res, resp_flags = 0;
    uint8_t *blob = NULL;
    size_t len = 0, n = 0;

    res = vtpm_migration_get_blob(c->e, type, flags, &blob, &len,
                                  &resp_flags);
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

static void job_release(VTPMEngine *e, void *opaque)
{
    Error *err = NULL;

    if (vtpm_storage_release(vtpm_engine_storage(e), &err) < 0) {
        vtpm_log_err(err);
    }
}

/* After a SAVESTATE blob left, the storage belongs to the destination. */
static void ctrl_after_get_stateblob(VTPMCtrl *c, CtrlJob *j)
{
    if (ldbe32(j->body + VTPM_GETSTATE_REQ_TYPE) ==
        VTPM_BLOB_TYPE_SAVESTATE) {
        vtpm_engine_run(c->e, job_release, NULL);
    }
}

static void ctrl_set_stateblob(VTPMCtrl *c, CtrlJob *j)
{
    job_result(j, vtpm_migration_set_blob(
                   c->e, ldbe32(j->body + VTPM_SETSTATE_REQ_TYPE),
                   ldbe32(j->body + VTPM_SETSTATE_REQ_FLAGS),
                   j->data, j->data_len));
}

static void ctrl_set_datafd(VTPMCtrl *c, CtrlJob *j)
{
    if (j->fd < 0) {
        job_result(j, VTPM_RES_BAD_PARAMETER);
        return;
    }
    job_result(j, vtpm_data_set_fd(c->d, j->fd));
    if (ldbe32(j->rsp) == VTPM_RES_SUCCESS) {
        j->fd = -1;
        c->client_gave_datafd = true;
    }
}

static void ctrl_set_buffersize(VTPMCtrl *c, CtrlJob *j)
{
    uint32_t wanted = ldbe32(j->body), min = 0, max = 0, size;

    if (vtpm_engine_running(c->e) && wanted) {
        job_result(j, VTPM_RES_BAD_ORDINAL);
        return;
    }
    size = TPMLIB_SetBufferSize(wanted, &min, &max);
    stbe32(j->rsp, VTPM_RES_SUCCESS);
    stbe32(j->rsp + VTPM_BUFSZ_RESP_BUFSIZE, size);
    stbe32(j->rsp + VTPM_BUFSZ_RESP_MINSIZE, min);
    stbe32(j->rsp + VTPM_BUFSZ_RESP_MAXSIZE, max);
    j->rsp_len = VTPM_BUFSZ_RESP_SIZE;
}

static void ctrl_get_info(VTPMCtrl *c, CtrlJob *j)
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

static void ctrl_lock_storage(VTPMCtrl *c, CtrlJob *j)
{
    Error *err = NULL;

    if (vtpm_engine_reclaim_storage(c->e, ldbe32(j->body), &err) < 0) {
        vtpm_log_err(err);
        job_result(j, VTPM_RES_FAIL);
    } else {
        job_result(j, VTPM_RES_SUCCESS);
    }
}

static void ctrl_after_shutdown(VTPMCtrl *c, CtrlJob *j)
{
    c->shutdown = true;
}

/* ---- the table ----------------------------------------------------------- */

#define E CTRL_ENGINE
#define R CTRL_RUNNING

static const CtrlCmd ctrl_cmds[] = {
    [VTPM_CMD_GET_CAPABILITY] = { "GET_CAPABILITY", 0, 0,
                                  ctrl_get_capability },
    [VTPM_CMD_INIT] = { "INIT", VTPM_INIT_REQ_SIZE, E, ctrl_init },
    [VTPM_CMD_SHUTDOWN] = { "SHUTDOWN", 0, E, ctrl_stop,
                            ctrl_after_shutdown },
    [VTPM_CMD_GET_TPMESTABLISHED] = { "GET_TPMESTABLISHED", 0, E | R,
                                      ctrl_get_established },
    [VTPM_CMD_SET_LOCALITY] = { "SET_LOCALITY", VTPM_LOC_REQ_MIN_SIZE, 0,
                                ctrl_set_locality },
    [VTPM_CMD_HASH_START] = { "HASH_START", 0, E | R, ctrl_hash_start },
    [VTPM_CMD_HASH_DATA] = { "HASH_DATA", VTPM_HDATA_REQ_HDR_SIZE,
                             E | R | CTRL_STREAM, ctrl_hash_data },
    [VTPM_CMD_HASH_END] = { "HASH_END", 0, E | R, ctrl_hash_end },
    [VTPM_CMD_CANCEL_TPM_CMD] = { "CANCEL_TPM_CMD", 0, 0, ctrl_cancel },
    [VTPM_CMD_STORE_VOLATILE] = { "STORE_VOLATILE", 0, E | R,
                                  ctrl_store_volatile },
    [VTPM_CMD_RESET_TPMESTABLISHED] = { "RESET_TPMESTABLISHED",
                                        VTPM_LOC_REQ_MIN_SIZE, E | R,
                                        ctrl_reset_established },
    [VTPM_CMD_GET_STATEBLOB] = { "GET_STATEBLOB", VTPM_GETSTATE_REQ_SIZE,
                                 E | R, ctrl_get_stateblob,
                                 ctrl_after_get_stateblob },
    [VTPM_CMD_SET_STATEBLOB] = { "SET_STATEBLOB", VTPM_SETSTATE_REQ_HDR_SIZE,
                                 E | CTRL_STOPPED | CTRL_STREAM,
                                 ctrl_set_stateblob },
    [VTPM_CMD_STOP] = { "STOP", 0, E, ctrl_stop },
    [VTPM_CMD_GET_CONFIG] = { "GET_CONFIG", 0, 0, ctrl_get_config },
    [VTPM_CMD_SET_DATAFD] = { "SET_DATAFD", 0, E, ctrl_set_datafd },
    [VTPM_CMD_SET_BUFFERSIZE] = { "SET_BUFFERSIZE", VTPM_BUFSZ_REQ_SIZE, E,
                                  ctrl_set_buffersize },
    [VTPM_CMD_GET_INFO] = { "GET_INFO", VTPM_INFO_REQ_SIZE, E,
                            ctrl_get_info },
    [VTPM_CMD_LOCK_STORAGE] = { "LOCK_STORAGE", VTPM_LOCK_REQ_SIZE, E,
                                ctrl_lock_storage },
};

#undef E
#undef R

static const CtrlCmd *ctrl_cmd_find(uint32_t cmd)
{
    if (cmd < ARRAY_SIZE(ctrl_cmds) && ctrl_cmds[cmd].name) {
        return &ctrl_cmds[cmd];
    }
    return NULL;
}

/* ---- serving one request ------------------------------------------------- */

/* Engine thread: the state checks of the table, then the handler. */
static void ctrl_job(VTPMEngine *e, void *opaque)
{
    CtrlJob *j = opaque;
    bool running = vtpm_engine_running(e);

    if (((j->desc->flags & CTRL_RUNNING) && !running) ||
        ((j->desc->flags & CTRL_STOPPED) && running)) {
        job_result(j, VTPM_RES_BAD_ORDINAL);
        return;
    }
    j->desc->handler(j->c, j);
}

static void ctrl_dispatch(VTPMCtrl *c, CtrlJob *j)
{
    if (!j->desc) {
        job_result(j, VTPM_RES_BAD_ORDINAL);
    } else if (j->desc->flags & CTRL_ENGINE) {
        vtpm_engine_run(c->e, ctrl_job, j);
    } else {
        j->desc->handler(c, j);
    }
}

/*
 * Log why a client is dropped, unless the wait ended because the daemon
 * is quitting (then nobody misbehaved).
 */
static void ctrl_note_drop(VTPMCtrl *c, const char *why)
{
    struct pollfd pfd = { .fd = c->quit_pipe[0], .events = POLLIN };

    if (poll(&pfd, 1, 0) <= 0) {
        vtpm_log(VTPM_LOG_ERROR, "control client dropped: %s", why);
    }
}

/*
 * A streamed part (SET_STATEBLOB, HASH_DATA): the body's last 4 bytes say
 * how much follows; @have bytes of c->buf are read, the body is @need.
 * Read it whole before anything is answered.
 */
static int ctrl_read_stream(VTPMCtrl *c, CtrlJob *j, size_t have,
                            size_t need)
{
    size_t len = ldbe32(c->buf + need - 4);
    size_t got = have - need;
    ssize_t r;

    if (len > CTRL_MAX_STREAM) {
        job_result(j, VTPM_RES_FAIL);
        j->hang_up = true;          /* cannot resynchronise */
        return 0;
    }
    if (got > len) {
        got = len;
    }
    j->data = qemu_xmalloc(len ? len : 1);
    j->data_len = len;
    memcpy(j->data, c->buf + need, got);
    r = vtpm_sock_read(c->client_fd, j->data, got, len, len,
                       vtpm_deadline_in(CTRL_STREAM_DEADLINE_MS,
                                        c->quit_pipe[0]));
    if (r != (ssize_t)len) {
        if (r >= 0) {
            ctrl_note_drop(c, "its data did not arrive whole within the "
                           "deadline");
        }
        return -1;
    }
    return 1;
}

/*
 * Read the rest of a request whose first @have bytes are in c->buf.
 * Returns 1 when it is whole, 0 when @j already holds the (error) reply,
 * -1 to hang up without one.
 */
static int ctrl_read_request(VTPMCtrl *c, CtrlJob *j, size_t have)
{
    VTPMDeadline dl = vtpm_deadline_in(CTRL_DEADLINE_MS, c->quit_pipe[0]);
    ssize_t got;
    size_t need;

    got = vtpm_sock_read(c->client_fd, c->buf, have, 4, 4, dl);
    if (got < 4) {
        if (got >= 0) {
            ctrl_note_drop(c, "its request did not arrive whole within "
                           "the deadline");
        }
        return -1;
    }
    j->cmd = ldbe32(c->buf);
    j->desc = ctrl_cmd_find(j->cmd);
    need = 4 + (j->desc ? j->desc->min_body : 0);
    got = vtpm_sock_read(c->client_fd, c->buf, got, need, need, dl);
    if (got < 0) {
        return -1;
    }
    vtpm_log(VTPM_LOG_DEBUG, "ctrl: %s (0x%02x)",
             j->desc ? j->desc->name : "unknown", j->cmd);
    vtpm_log_hex("ctrl request", c->buf, got);
    j->body = c->buf + 4;
    j->body_len = got - 4;
    if ((size_t)got < need) {
        job_result(j, VTPM_RES_BAD_PARAMETER);
        return 0;
    }
    if (j->desc && (j->desc->flags & CTRL_STREAM)) {
        return ctrl_read_stream(c, j, got, need);
    }
    return 1;
}

/* Serve one request.  Returns false when the connection is to be closed. */
static bool ctrl_serve_one(VTPMCtrl *c)
{
    CtrlJob j = { .c = c, .fd = -1 };
    const uint8_t *rsp;
    bool keep = false;
    ssize_t have;
    int r, wr;

    have = vtpm_sock_recv_fd(c->client_fd, c->buf, sizeof(c->buf), &j.fd);
    if (have < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true;
    }
    if (have <= 0) {
        return false;
    }
    r = ctrl_read_request(c, &j, have);
    if (r >= 0) {
        if (r > 0) {
            ctrl_dispatch(c, &j);
        }
        rsp = j.big_rsp ? j.big_rsp : j.rsp;
        vtpm_log_hex("ctrl reply", rsp, j.rsp_len > 64 ? 64 : j.rsp_len);
        wr = vtpm_sock_write(c->client_fd, rsp, j.rsp_len,
                             vtpm_deadline_in(CTRL_STREAM_DEADLINE_MS,
                                              c->quit_pipe[0]));
        if (wr == -ETIMEDOUT) {
            ctrl_note_drop(c, "it did not read its reply within the "
                           "deadline");
        }
        keep = wr == 0 && !j.hang_up;
        if (r > 0 && j.desc && j.desc->after_reply) {
            j.desc->after_reply(c, &j);
        }
    }
    if (j.fd >= 0) {
        close(j.fd);
    }
    free(j.big_rsp);
    free(j.data);
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
    if (c->client_fd >= 0) {
        vtpm_sock_set_nonblock(c->client_fd);
    }
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

/*
 * The client (or, with none, the listening socket) is ready: serve one
 * request or take a client.  Returns false when the daemon is to quit.
 */
static bool ctrl_ready(VTPMCtrl *c)
{
    if (c->client_fd >= 0) {
        if (!ctrl_serve_one(c)) {
            bool quit = c->cfg.terminate && c->client_gave_datafd;

            close(c->client_fd);
            c->client_fd = -1;
            c->client_gave_datafd = false;
            vtpm_log(VTPM_LOG_DEBUG, "control client disconnected");
            return !quit;
        }
    } else if (c->cfg.listen_fd >= 0) {
        int fd = vtpm_sock_accept(c->cfg.listen_fd, &c->cfg.peer,
                                  "control channel");

        if (fd >= 0) {
            c->client_fd = fd;
            vtpm_log(VTPM_LOG_DEBUG, "control client connected");
        }
    } else {
        return false;
    }
    return true;
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
        if (pfd[1].revents && !ctrl_ready(c)) {
            break;
        }
    }
    return 0;
}
