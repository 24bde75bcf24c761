/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vtpm_socket.c: socket I/O for the control and the data channel, once:
 * listen, accept, receive a passed descriptor, and full reads and writes
 * that wait with poll() and give up at the caller's deadline.  Nothing
 * here knows the protocol.  (Bounded, non-blocking client I/O grows here.)
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include "hw/tpm/vtpm.h"

/* ---- deadlines ----------------------------------------------------------- */

static int64_t now_ms(void)
{
    return qemu_clock_monotonic_ns() / 1000000;
}

VTPMDeadline vtpm_deadline_in(int ms)
{
    return (VTPMDeadline) { .at_ms = now_ms() + ms };
}

VTPMDeadline vtpm_deadline_idle(int ms)
{
    return (VTPMDeadline) { .idle_ms = ms };
}

/*
 * Wait until @fd is ready for @events (or has hung up), within @dl.
 * Returns 1 when ready, 0 when @dl passed, -1 on error.
 */
static int sock_wait(int fd, short events, VTPMDeadline dl)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int timeout = dl.idle_ms;
        int pr;

        if (dl.at_ms) {
            int64_t left = dl.at_ms - now_ms();

            if (left <= 0) {
                return 0;
            }
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        pr = poll(&pfd, 1, timeout);
        if (pr >= 0) {
            return pr > 0;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

/* ---- listening and accepting --------------------------------------------- */

int vtpm_listen_unix(const char *path, mode_t mode, Error **errp)
{
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
    if (ret < 0 || chmod(path, mode) < 0 || listen(fd, 8) < 0) {
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

int vtpm_sock_accept(int listen_fd)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int one = 1;

    if (fd >= 0) {
        /* answers leave in one write each: never hold them back (TCP) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
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
        r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
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

ssize_t vtpm_sock_read(int fd, uint8_t *buf, size_t have, size_t min,
                       size_t max, VTPMDeadline dl)
{
    while (have < min) {
        ssize_t r = recv(fd, buf + have, max - have, MSG_DONTWAIT);
        int w;

        if (r < 0 && errno == ENOTSOCK) {
            r = read(fd, buf + have, max - have);
        }
        if (r > 0) {
            have += r;
            continue;
        }
        if (r == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
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
        ssize_t r = send(fd, buf + done, len - done, MSG_NOSIGNAL);

        if (r < 0 && errno == ENOTSOCK) {
            r = write(fd, buf + done, len - done);
        }
        if (r > 0) {
            done += r;
            continue;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            sock_wait(fd, POLLOUT, dl) > 0) {
            continue;
        }
        return -1;
    }
    return 0;
}
