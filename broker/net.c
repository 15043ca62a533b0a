/* net.c -- the TCP listener: bind, listen, non-blocking accept.
 *
 * What it is for: turning new sockets into connections (conn_accept). Sockets
 * are non-blocking and close-on-exec, with Nagle off: the harness measures
 * timings in milliseconds and small packets must not wait for each other.
 *
 * What it is not: reading or writing (conn.c), or TLS itself (tls.c).
 */
#define _GNU_SOURCE     /* accept4 */
#include "broker.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ev_io listeners[2] = {{.fd = -1, .mask = -1}, {.fd = -1, .mask = -1}};

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static void on_accept(struct ev_io *io, int events)
{
    /* Bounded per wake-up; the level-triggered listener brings us back. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char peer[64];
        peer_name(&ss, peer, sizeof peer);
        conn_accept(fd, peer, io->arg != NULL);
    }
}

int net_listen(const char *addr, int *port, bool tls)
{
    struct ev_io *l = &listeners[tls ? 1 : 0];
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", *port);
    int rc = getaddrinfo(addr, ps, &hints, &res);
    if (rc != 0) {
        log_error("cannot resolve %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 512) < 0) {
        log_error("cannot listen on %s:%d: %s", addr, *port, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    l->fd = fd;
    l->fn = on_accept;
    l->arg = tls ? l : NULL;    /* non-NULL marks the TLS listener */
    if (ev_io_set(l, EV_READ) < 0) {
        log_error("epoll: %s", strerror(errno));
        close(fd);
        l->fd = -1;
        return -1;
    }
    return 0;
}

void net_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (listeners[i].fd < 0)
            continue;
        ev_io_del(&listeners[i]);
        close(listeners[i].fd);
        listeners[i].fd = -1;
    }
}
