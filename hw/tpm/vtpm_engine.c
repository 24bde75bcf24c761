/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_engine.c: libtpms on one thread.  Every libtpms call but cancel runs
 * here (data commands, and control jobs handed over by the control thread);
 * libtpms' NVRAM and I/O callbacks are routed to the storage and engine.
 * Between jobs the thread serves one client (the data channel) through
 * VTPMEngineClient; it calls nothing else above the storage.
 */
#include "qemu/osdep.h"
#include <pthread.h>
#include <stdatomic.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_tis.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_nvfilename.h>
#include "qemu/cutils.h"
#include "hw/tpm/tpm_ioctl.h"
#include "hw/tpm/vtpm.h"

struct VTPMEngine {
    bool tpm12;
    VTPMStorage *st;
    const VTPMEngineClient *client;     /* served between jobs, or NULL */
    void *client_opaque;

    pthread_t thread;
    bool thread_started;
    int wake[2];                /* control thread -> engine thread */

    pthread_mutex_t lock;       /* protects the job slot */
    pthread_cond_t cond;
    VTPMJobFn *job_fn;
    void *job_opaque;
    bool job_done;
    bool quit;

    atomic_bool running;        /* between MainInit and Terminate */
    atomic_uint locality;

    uint32_t last_ordinal;      /* of the last data command */
    uint8_t *rbuf;              /* libtpms' response buffer */
    uint32_t rbuf_size;
    char *store_error;          /* last storage error of a callback */
};

/* libtpms has no opaque pointer in its callbacks: one engine at a time. */
static VTPMEngine *the_engine;

/* ---- libtpms callbacks ------------------------------------------------- */

static void engine_note_store_error(VTPMEngine *e, Error *err)
{
    vtpm_log(VTPM_LOG_ERROR, "%s", error_get_pretty(err));
    free(e->store_error);
    e->store_error = qemu_xstrdup(error_get_pretty(err));
    error_free(err);
}

static TPM_RESULT cb_nvram_init(void)
{
    return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_loaddata(unsigned char **data, uint32_t *length,
                                    uint32_t tpm_number, const char *name)
{
    VTPMEngine *e = the_engine;
    Error *err = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret;

    ret = vtpm_storage_load(e->st, name, &buf, &len, &err);
    if (ret == -ENOENT) {
        vtpm_log(VTPM_LOG_DEBUG, "load '%s': no such blob yet", name);
        return TPM_RETRY;
    }
    if (ret < 0) {
        engine_note_store_error(e, err);
        return TPM_FAIL;
    }
    if (len > UINT32_MAX) {
        free(buf);
        return TPM_FAIL;
    }
    /* libtpms frees the buffer with free(): ours comes from malloc. */
    *data = buf;
    *length = len;
    vtpm_log(VTPM_LOG_DEBUG, "load '%s': %zu bytes", name, len);
    return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_storedata(const unsigned char *data,
                                     uint32_t length, uint32_t tpm_number,
                                     const char *name)
{
    VTPMEngine *e = the_engine;
    Error *err = NULL;

    if (vtpm_storage_store(e->st, name, data, length, &err) < 0) {
        engine_note_store_error(e, err);
        return TPM_FAIL;
    }
    vtpm_log(VTPM_LOG_DEBUG, "store '%s': %" PRIu32 " bytes", name, length);
    return TPM_SUCCESS;
}

static TPM_RESULT cb_nvram_deletename(uint32_t tpm_number, const char *name,
                                      TPM_BOOL must_exist)
{
    VTPMEngine *e = the_engine;
    Error *err = NULL;

    if (vtpm_storage_delete(e->st, name, &err) < 0) {
        engine_note_store_error(e, err);
        return TPM_FAIL;
    }
    return TPM_SUCCESS;
}

static TPM_RESULT cb_io_init(void)
{
    return TPM_SUCCESS;
}

static TPM_RESULT cb_io_getlocality(TPM_MODIFIER_INDICATOR *loc,
                                    uint32_t tpm_number)
{
    *loc = atomic_load(&the_engine->locality);
    return TPM_SUCCESS;
}

static TPM_RESULT cb_io_getphysicalpresence(TPM_BOOL *pp,
                                            uint32_t tpm_number)
{
    *pp = FALSE;
    return TPM_SUCCESS;
}

static struct libtpms_callbacks engine_callbacks = {
    .sizeOfStruct = sizeof(struct libtpms_callbacks),
    .tpm_nvram_init = cb_nvram_init,
    .tpm_nvram_loaddata = cb_nvram_loaddata,
    .tpm_nvram_storedata = cb_nvram_storedata,
    .tpm_nvram_deletename = cb_nvram_deletename,
    .tpm_io_init = cb_io_init,
    .tpm_io_getlocality = cb_io_getlocality,
    .tpm_io_getphysicalpresence = cb_io_getphysicalpresence,
};

/* ---- engine life ------------------------------------------------------- */

VTPMEngine *vtpm_engine_new(bool tpm12, VTPMStorage *st, Error **errp)
{
    VTPMEngine *e;
    TPM_RESULT res;

    if (the_engine) {
        error_setg(errp, "Only one vTPM engine per process");
        return NULL;
    }
    e = qemu_xnew0(VTPMEngine, 1);
    e->tpm12 = tpm12;
    e->st = st;
    e->wake[0] = e->wake[1] = -1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    atomic_init(&e->running, false);
    atomic_init(&e->locality, 0);
    the_engine = e;

    /* Register before anything touches NVRAM: never an NVChip file. */
    res = TPMLIB_RegisterCallbacks(&engine_callbacks);
    if (res != TPM_SUCCESS) {
        error_setg(errp, "libtpms refused the NVRAM callbacks (0x%x)", res);
        goto fail;
    }
    res = TPMLIB_ChooseTPMVersion(tpm12 ? TPMLIB_TPM_VERSION_1_2
                                        : TPMLIB_TPM_VERSION_2);
    if (res != TPM_SUCCESS) {
        error_setg(errp, "libtpms does not support TPM %s (0x%x)",
                   tpm12 ? "1.2" : "2.0", res);
        goto fail;
    }
    if (pipe2(e->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        error_setg_errno(errp, errno, "Could not create a pipe");
        goto fail;
    }
    return e;

fail:
    the_engine = NULL;
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e);
    return NULL;
}

static void engine_drain_wake(VTPMEngine *e)
{
    char buf[64];

    while (read(e->wake[0], buf, sizeof(buf)) > 0) {
        /* drain */
    }
}

/* Run the pending job, if any.  Returns true when the thread is to end. */
static bool engine_run_pending(VTPMEngine *e)
{
    bool quit;

    pthread_mutex_lock(&e->lock);
    if (e->job_fn && !e->job_done) {
        VTPMJobFn *fn = e->job_fn;
        void *op = e->job_opaque;

        pthread_mutex_unlock(&e->lock);
        fn(e, op);
        pthread_mutex_lock(&e->lock);
        e->job_done = true;
        pthread_cond_broadcast(&e->cond);
    }
    quit = e->quit;
    pthread_mutex_unlock(&e->lock);
    return quit;
}

static void *engine_thread(void *opaque)
{
    VTPMEngine *e = opaque;
    struct pollfd pfd[1 + VTPM_ENGINE_MAX_FDS];

    while (!engine_run_pending(e)) {
        int n = 0, timeout = -1;
        int64_t due = 0;

        pfd[0].fd = e->wake[0];
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        if (e->client) {
            n = e->client->prepare(e->client_opaque, pfd + 1, &due);
            for (int i = 1; i <= n; i++) {
                pfd[i].revents = 0;
            }
        }
        if (due) {
            int64_t left = due - vtpm_now_ms();

            timeout = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        if (poll(pfd, 1 + n, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            vtpm_log(VTPM_LOG_ERROR, "poll failed: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents) {
            engine_drain_wake(e);
        }
        if (e->client) {
            /* also on a timeout: the client's deadlines may have passed */
            e->client->dispatch(e->client_opaque, e, pfd + 1, n);
        }
    }
    return NULL;
}

int vtpm_engine_start(VTPMEngine *e, const VTPMEngineClient *client,
                      void *opaque, Error **errp)
{
    int ret;

    e->client = client;
    e->client_opaque = opaque;
    ret = pthread_create(&e->thread, NULL, engine_thread, e);
    if (ret) {
        error_setg_errno(errp, ret, "Could not start the engine thread");
        return -ret;
    }
    e->thread_started = true;
    return 0;
}

static void engine_wake(VTPMEngine *e)
{
    ssize_t r;

    do {
        r = write(e->wake[1], "", 1);
    } while (r < 0 && errno == EINTR);
}

void vtpm_engine_run(VTPMEngine *e, VTPMJobFn *fn, void *opaque)
{
    if (!e->thread_started) {
        fn(e, opaque);
        return;
    }
    pthread_mutex_lock(&e->lock);
    while (e->job_fn) {             /* one job at a time */
        pthread_cond_wait(&e->cond, &e->lock);
    }
    e->job_fn = fn;
    e->job_opaque = opaque;
    e->job_done = false;
    engine_wake(e);
    while (!e->job_done) {
        pthread_cond_wait(&e->cond, &e->lock);
    }
    e->job_fn = NULL;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void job_final_stop(VTPMEngine *e, void *opaque)
{
    vtpm_engine_stop_tpm(e);
}

void vtpm_engine_free(VTPMEngine *e)
{
    if (!e) {
        return;
    }
    vtpm_engine_run(e, job_final_stop, NULL);
    if (e->thread_started) {
        pthread_mutex_lock(&e->lock);
        e->quit = true;
        engine_wake(e);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
    }
    close(e->wake[0]);
    close(e->wake[1]);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e->rbuf);
    free(e->store_error);
    if (the_engine == e) {
        the_engine = NULL;
    }
    free(e);
}

bool vtpm_engine_is_tpm2(VTPMEngine *e)
{
    return !e->tpm12;
}

VTPMStorage *vtpm_engine_storage(VTPMEngine *e)
{
    return e->st;
}

void vtpm_engine_set_locality(VTPMEngine *e, uint8_t loc)
{
    atomic_store(&e->locality, loc);
}

uint8_t vtpm_engine_get_locality(VTPMEngine *e)
{
    return atomic_load(&e->locality);
}

bool vtpm_engine_running(VTPMEngine *e)
{
    return atomic_load(&e->running);
}

uint32_t vtpm_engine_cancel(VTPMEngine *e)
{
    if (!atomic_load(&e->running)) {
        return VTPM_RES_BAD_ORDINAL;
    }
    return TPMLIB_CancelCommand();
}

char *vtpm_engine_take_store_error(VTPMEngine *e)
{
    char *s = e->store_error;

    e->store_error = NULL;
    return s;
}

/* ---- TPM life (engine thread) ------------------------------------------ */

/*
 * Like swtpm >= 0.8: a TPM 2 that is switched off without TPM2_Shutdown
 * counts an unorderly shutdown (dictionary-attack lockout); send one
 * unless the last command was one, and only while the image is ours.
 */
static void engine_auto_shutdown(VTPMEngine *e)
{
    static const uint8_t cmd[12] = {
        0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x45, 0, 1  /* SU_STATE */
    };
    uint32_t rlen = 0;

    if (e->tpm12 || e->last_ordinal == 0x145 ||
        vtpm_storage_state(e->st) != VTPM_STORAGE_ACTIVE) {
        return;
    }
    TPMLIB_Process(&e->rbuf, &rlen, &e->rbuf_size, (unsigned char *)cmd,
                   sizeof(cmd));
    e->last_ordinal = 0x145;
}

void vtpm_engine_stop_tpm(VTPMEngine *e)
{
    if (atomic_load(&e->running)) {
        engine_auto_shutdown(e);
        TPMLIB_Terminate();
        atomic_store(&e->running, false);
        vtpm_log(VTPM_LOG_INFO, "TPM stopped");
    }
}

uint32_t vtpm_engine_init_tpm(VTPMEngine *e, uint32_t init_flags)
{
    Error *err = NULL;
    TPM_RESULT res;

    vtpm_engine_stop_tpm(e);
    free(vtpm_engine_take_store_error(e));

    /* INIT makes an incoming or released storage ours again. */
    if (vtpm_storage_state(e->st) != VTPM_STORAGE_ACTIVE &&
        vtpm_storage_activate(e->st, 0, &err) < 0) {
        vtpm_log_err(err);
        return VTPM_RES_FAIL;
    }
    res = TPMLIB_MainInit();
    if (res != TPM_SUCCESS) {
        char *why = vtpm_engine_take_store_error(e);

        vtpm_log(VTPM_LOG_ERROR, "Could not initialize the TPM (0x%x)%s%s",
                 res, why ? ": " : "", why ? why : "");
        free(why);
        TPMLIB_Terminate();
        return res;
    }
    if (e->store_error) {
        /*
         * libtpms carries on when it cannot commit a TPM it just made:
         * a TPM whose state is not durable must not run.
         */
        char *why = vtpm_engine_take_store_error(e);

        vtpm_log(VTPM_LOG_ERROR, "Could not initialize the TPM: %s", why);
        free(why);
        TPMLIB_Terminate();
        return e->tpm12 ? TPM_FAIL : VTPM_RES_TPM2_FAILURE;
    }
    atomic_store(&e->running, true);
    e->last_ordinal = 0;
    if (init_flags & VTPM_INIT_FLAG_DELETE_VOLATILE) {
        if (vtpm_storage_delete(e->st, TPM_VOLATILESTATE_NAME, &err) < 0) {
            vtpm_log_err(err);
            TPMLIB_Terminate();
            atomic_store(&e->running, false);
            return VTPM_RES_FAIL;
        }
    }
    vtpm_log(VTPM_LOG_INFO, "TPM %s initialized", e->tpm12 ? "1.2" : "2.0");
    return TPM_SUCCESS;
}

int vtpm_engine_reclaim_storage(VTPMEngine *e, unsigned retries,
                                Error **errp)
{
    bool was_released = vtpm_storage_state(e->st) == VTPM_STORAGE_RELEASED;
    unsigned char *buf = NULL;
    uint32_t len = 0;
    int ret;

    ret = vtpm_storage_activate(e->st, retries, errp);
    if (ret < 0 || !was_released || !atomic_load(&e->running)) {
        return ret;
    }
    /* Fall-back: the running TPM is authoritative over the image. */
    if (TPMLIB_GetState(TPMLIB_STATE_PERMANENT, &buf, &len) != TPM_SUCCESS) {
        return 0;
    }
    ret = vtpm_storage_store(e->st, TPM_PERMANENT_ALL_NAME, buf, len, errp);
    free(buf);
    return ret;
}

void vtpm_engine_error_response(VTPMEngine *e, uint8_t buf[10])
{
    if (e->tpm12) {
        stbe16(buf, 0x00c4);
        stbe32(buf + 2, 10);
        stbe32(buf + 6, TPM_FAIL);
    } else {
        stbe16(buf, 0x8001);
        stbe32(buf + 2, 10);
        stbe32(buf + 6, 0x101);         /* TPM_RC_FAILURE */
    }
}

void vtpm_engine_process(VTPMEngine *e, const uint8_t *cmd, uint32_t len,
                         const uint8_t **rsp, uint32_t *rsp_len)
{
    static uint8_t err_rsp[10];
    uint32_t rlen = 0;
    Error *err = NULL;

    vtpm_log_hex("TPM command", cmd, len);
    if (!atomic_load(&e->running)) {
        goto fail;
    }
    /* The first command after an outgoing release takes the locks back. */
    if (vtpm_storage_state(e->st) != VTPM_STORAGE_ACTIVE &&
        vtpm_engine_reclaim_storage(e, 300, &err) < 0) {
        vtpm_log_err(err);
        goto fail;
    }
    e->last_ordinal = len >= 10 ? ldbe32(cmd + 6) : 0;
    vtpm_log(VTPM_LOG_DEBUG, "TPM command 0x%08" PRIx32 " started",
             e->last_ordinal);
    if (TPMLIB_Process(&e->rbuf, &rlen, &e->rbuf_size,
                       (unsigned char *)cmd, len) != TPM_SUCCESS ||
        rlen < 10) {
        goto fail;
    }
    *rsp = e->rbuf;
    *rsp_len = rlen;
    vtpm_log(VTPM_LOG_DEBUG, "TPM command 0x%08" PRIx32 " -> 0x%08" PRIx32,
             e->last_ordinal, ldbe32(e->rbuf + 6));
    vtpm_log_hex("TPM response", e->rbuf, rlen);
    return;

fail:
    vtpm_engine_error_response(e, err_rsp);
    *rsp = err_rsp;
    *rsp_len = sizeof(err_rsp);
    vtpm_log_hex("TPM response", err_rsp, sizeof(err_rsp));
}

uint32_t vtpm_engine_startup(VTPMEngine *e, int type)
{
    uint8_t cmd[12];
    const uint8_t *rsp;
    uint32_t rsp_len;

    if (e->tpm12) {
        /* TPM_Startup: tag 0xC1, ordinal 0x99, ST_CLEAR 1 / ST_STATE 2 */
        stbe16(cmd, 0x00c1);
        stbe32(cmd + 2, 12);
        stbe32(cmd + 6, 0x99);
        stbe16(cmd + 10, type == VTPM_STARTUP_STATE ? 2 : 1);
    } else {
        /* TPM2_Startup: TPM_ST_NO_SESSIONS, CC 0x144, SU_CLEAR 0/STATE 1 */
        stbe16(cmd, 0x8001);
        stbe32(cmd + 2, 12);
        stbe32(cmd + 6, 0x144);
        stbe16(cmd + 10, type == VTPM_STARTUP_STATE ? 1 : 0);
    }
    vtpm_engine_process(e, cmd, sizeof(cmd), &rsp, &rsp_len);
    return ldbe32(rsp + 6);
}
