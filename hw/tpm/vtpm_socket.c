/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_socket.c: socket I/O for the control and the data channel, once:
 * listen, accept, receive a passed descriptor, and full reads and writes
 * that wait with poll() and give up at the caller's whole-message
 * deadline or when its cancel fd (the quit pipe) becomes readable, and the
 * single non-blocking steps the engine's event loop is built of.  Who may
 * connect to a UNIX socket is checked here (SO_PEERCRED).  Nothing here
 * knows the protocol.
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include "hw/tpm/vtpm.h"

/* ---- deadlines ----------------------------------------------------------- */

int64_t vtpm_now_ms(void)
{
    return qemu_clock_monotonic_ns() / 1000000;
}

VTPMDeadline vtpm_deadline_in(int ms, int cancel_fd)
{
    return (VTPMDeadline) { .at_ms = vtpm_now_ms() + ms,
                            .cancel_fd = cancel_fd };
}

/*
 * Wait until @fd is ready for @events (or has hung up), within @dl.
 * Returns 1 when ready, 0 when @dl passed or was cancelled, -1 on error.
 */
static int sock_wait(int fd, short events, VTPMDeadline dl)
{
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = fd, .events = events },
            { .fd = dl.cancel_fd, .events = POLLIN },
        };
        int64_t left = dl.at_ms - vtpm_now_ms();
        int pr;

        if (left <= 0) {
            return 0;
        }
        pr = poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr < 0) {
            return -1;
        }
        if (pfd[1].revents) {
            return 0;
        }
        if (pr > 0) {
            return 1;
        }
    }
}

/* ---- listening and accepting --------------------------------------------- */

int vtpm_listen_unix(const char *path, const VTPMPeerRule *rule,
                     Error **errp)
{
    mode_t mode = rule->mode;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    mode_t old_umask;
    int fd, ret;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        error_setg(errp, "Socket path '%s' is too long", path);
        return -ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not create a UNIX socket");
        return -errno;
    }
    unlink(path);
    /* Born with the right mode: no window where others may connect. */
    old_umask = umask(0777 & ~mode);
    ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (ret < 0 || chmod(path, mode) < 0 ||
        (rule->set_owner && chown(path, rule->uid, rule->gid) < 0) ||
        listen(fd, 8) < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not listen on '%s'", path);
        close(fd);
        return ret;
    }
    return fd;
}

int vtpm_listen_tcp(const char *host, int port, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *res = NULL, *ai;
    char portstr[16];
    int fd = -1, one = 1, err = EADDRNOTAVAIL, gai;

    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host ? host : "127.0.0.1", portstr, &hints, &res);
    if (gai) {
        error_setg(errp, "Could not resolve '%s': %s",
                   host ? host : "127.0.0.1", gai_strerror(gai));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 8) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Could not listen on TCP port %d", port);
        return -err;
    }
    return fd;
}

int vtpm_sock_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return -errno;
    }
    return 0;
}

/*
 * Would the socket file let this peer connect?  The owner, root and our
 * own user always; the group (primary group of the peer only: that is
 * what SO_PEERCRED tells) when the mode gives it rw, others likewise.
 */
static bool peer_allowed(const VTPMPeerRule *rule, const struct ucred *cr)
{
    if (cr->uid == 0 || cr->uid == geteuid() || cr->uid == rule->uid) {
        return true;
    }
    if ((rule->mode & 0060) == 0060 && cr->gid == rule->gid) {
        return true;
    }
    return (rule->mode & 0006) == 0006;
}

int vtpm_sock_accept(int listen_fd, const VTPMPeerRule *rule,
                     const char *what)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    if (rule && rule->check) {
        struct ucred cr;
        socklen_t len = sizeof(cr);
        VTPMPeerRule now = *rule;
        struct stat sb;

        if (rule->follow_path && lstat(rule->follow_path, &sb) == 0 &&
            S_ISSOCK(sb.st_mode)) {
            now.uid = sb.st_uid;
            now.gid = sb.st_gid;
            now.mode = sb.st_mode & 0777;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
            !peer_allowed(&now, &cr)) {
            vtpm_log(VTPM_LOG_ERROR, "%s: refused a client (pid %ld, uid "
                     "%ld): the socket's owner and mode do not admit it",
                     what, len == sizeof(cr) ? (long)cr.pid : -1L,
                     len == sizeof(cr) ? (long)cr.uid : -1L);
            close(fd);
            return -1;
        }
    }
    /* answers leave in one write each: never hold them back (TCP) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

bool vtpm_sock_peer_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char c;

    if (poll(&pfd, 1, 0) <= 0) {
        return false;
    }
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        return true;
    }
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* ---- reading and writing ------------------------------------------------- */

ssize_t vtpm_sock_recv_fd(int fd, uint8_t *buf, size_t len, int *passed_fd)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cmsgbuf;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cmsgbuf.buf, .msg_controllen = sizeof(cmsgbuf.buf),
    };
    struct cmsghdr *cm;
    ssize_t r;

    *passed_fd = -1;
    do {
        r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        return r;
    }
    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(cm);

            for (int i = 0; i < nfds; i++) {
                if (*passed_fd < 0) {
                    *passed_fd = fds[i];
                } else {
                    close(fds[i]);
                }
            }
        }
    }
    return r;
}

ssize_t vtpm_sock_read_some(int fd, uint8_t *buf, size_t len)
{
    for (;;) {
        ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);

        if (r < 0 && errno == ENOTSOCK) {
            r = read(fd, buf, len);
        }
        if (r > 0) {
            return r;
        }
        if (r == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

ssize_t vtpm_sock_write_some(int fd, const uint8_t *buf, size_t len)
{
    for (;;) {
        ssize_t r = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r < 0 && errno == ENOTSOCK) {
            r = write(fd, buf, len);
        }
        if (r >= 0) {
            return r;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

ssize_t vtpm_sock_read(int fd, uint8_t *buf, size_t have, size_t min,
                       size_t max, VTPMDeadline dl)
{
    while (have < min) {
        ssize_t r = vtpm_sock_read_some(fd, buf + have, max - have);
        int w;

        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            have += r;
            continue;
        }
        w = sock_wait(fd, POLLIN, dl);
        if (w <= 0) {
            return w < 0 ? -1 : (ssize_t)have;
        }
    }
    return have;
}

int vtpm_sock_write(int fd, const uint8_t *buf, size_t len, VTPMDeadline dl)
{
    size_t done = 0;

    while (done < len) {
        ssize_t r = vtpm_sock_write_some(fd, buf + done, len - done);

        if (r < 0) {
            return -EPIPE;
        }
        if (r > 0) {
            done += r;
            continue;
        }
        r = sock_wait(fd, POLLOUT, dl);
        if (r <= 0) {
            return r < 0 ? -EPIPE : -ETIMEDOUT;
        }
    }
    return 0;
}
