/* conn.c -- mqspec-bench's client connection: a non-blocking TCP socket on the
 * harness loop, framed and decoded with the mqtt/ codec.
 *
 * What it is for: many thousands of short or busy connections with as little
 * per-packet overhead as the codec allows. Output is buffered and written once
 * per loop iteration (bconn_flush_all), so a publisher's burst or a
 * subscriber's PUBACKs go out in one write instead of one syscall each.
 *
 * What it is not: the harness's raw driver. Nothing is logged, nothing is
 * judged, and a decoding error simply closes the connection (the workload
 * counts what did not arrive).
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read of this size per readiness event: large enough that a subscriber
 * behind a fast broker drains its socket in a few syscalls. */
static uint8_t scratch[256 * 1024];

static bconn_t **dirty;
static size_t ndirty, capdirty;

static void on_io(loop_t *loop, int fd, int events, void *ud);

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    return q;
}

int bconn_open(bconn_t *c, loop_t *loop, int port, const bconn_ops *ops, void *ud)
{
    c->loop = loop;
    c->ops = ops;
    c->ud = ud;
    c->fd = -1;
    c->connecting = c->writing = false;
    c->closing_ms = 0;
    c->inlen = 0;
    c->out.len = 0;
    c->outoff = 0;
    c->next_id = 0;
    c->since_ms = loop_now_ms();

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* Writes are already batched per loop iteration; Nagle would only add
     * delay to the latency figures. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->connecting = true;
    /* Even an immediate success goes through the loop, so on_open never runs
     * inside the caller's own code. */
    if (loop_watch(loop, fd, LOOP_WRITE, on_io, c) < 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

void bconn_close(bconn_t *c, const char *why)
{
    if (c->fd < 0)
        return;
    loop_unwatch(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    c->connecting = c->writing = c->dirty = false;
    c->inlen = 0;
    c->out.len = 0;
    c->outoff = 0;
    if (c->ops->on_close)
        c->ops->on_close(c, why);
}

static void mark_dirty(bconn_t *c)
{
    if (c->dirty)
        return;
    if (ndirty == capdirty) {
        capdirty = capdirty ? capdirty * 2 : 256;
        dirty = xrealloc(dirty, capdirty * sizeof *dirty);
    }
    dirty[ndirty++] = c;
    c->dirty = true;
}

void bconn_write(bconn_t *c, const void *data, size_t len)
{
    if (c->fd < 0)
        return;
    if (mqtt_buf_append(&c->out, data, len) < 0) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    if (!c->connecting)
        mark_dirty(c);
}

void bconn_send(bconn_t *c, const mqtt_packet *p)
{
    if (c->fd < 0)
        return;
    if (mqtt_encode(p, &c->out) < 0) {
        fprintf(stderr, "mqspec-bench: cannot encode %s\n", mqtt_type_name(p->type));
        exit(1);
    }
    if (!c->connecting)
        mark_dirty(c);
}

static void flush(bconn_t *c)
{
    while (c->outoff < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->outoff, c->out.len - c->outoff);
        if (n > 0) {
            c->outoff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->writing) {
                loop_watch(c->loop, c->fd, LOOP_READ | LOOP_WRITE, on_io, c);
                c->writing = true;
            }
            return;
        }
        bconn_close(c, n < 0 ? strerror(errno) : "write returned 0");
        return;
    }
    c->out.len = 0;
    c->outoff = 0;
    if (c->writing) {
        loop_watch(c->loop, c->fd, LOOP_READ, on_io, c);
        c->writing = false;
    }
}

void bconn_flush_all(void)
{
    /* Entries may be stale (closed, or closed and reopened): the dirty flag
     * says whether there is still something to do. */
    for (size_t i = 0; i < ndirty; i++) {
        bconn_t *c = dirty[i];
        if (!c->dirty)
            continue;
        c->dirty = false;
        if (c->fd >= 0 && !c->connecting && !c->writing)
            flush(c);
    }
    ndirty = 0;
}

/* Consumes whole packets from buf; returns how many bytes were used, or
 * SIZE_MAX if the connection was closed (or closed and reopened) meanwhile. */
static size_t consume(bconn_t *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    int fd = c->fd;
    while (off < len) {
        uint32_t hl, rl;
        mqtt_status st = mqtt_frame(buf + off, len - off, &hl, &rl);
        if (st == MQTT_INCOMPLETE)
            break;
        if (st != MQTT_OK) {
            bconn_close(c, "malformed fixed header");
            return SIZE_MAX;
        }
        if ((size_t)hl + rl > len - off)
            break;
        mqtt_packet p;
        mqtt_error err;
        if (mqtt_decode(buf + off, hl + rl, MQTT_V5, false, &p, &err) != MQTT_OK) {
            static char why[160];
            snprintf(why, sizeof why, "undecodable packet: %s", err.why);
            bconn_close(c, why);
            return SIZE_MAX;
        }
        off += hl + rl;
        c->ops->on_packet(c, &p);
        mqtt_packet_free(&p);
        /* A callback may close the slot and open a new connection in it:
         * the fd number then differs, or the slot is idle. */
        if (c->fd != fd || c->fd < 0)
            return SIZE_MAX;
    }
    return off;
}

static void keep_rest(bconn_t *c, const uint8_t *src, size_t n)
{
    if (n > c->incap) {
        c->incap = n < 4096 ? 4096 : n * 2;
        c->in = xrealloc(c->in, c->incap);
    }
    memmove(c->in, src, n);
    c->inlen = n;
}

static void read_some(bconn_t *c)
{
    ssize_t n = read(c->fd, scratch, sizeof scratch);
    if (n == 0) {
        bconn_close(c, "closed by broker");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            bconn_close(c, strerror(errno));
        return;
    }
    c->bytes_in += (uint64_t)n;
    if (c->inlen == 0) {
        size_t used = consume(c, scratch, (size_t)n);
        if (used != SIZE_MAX && used < (size_t)n)
            keep_rest(c, scratch + used, (size_t)n - used);
        return;
    }
    if (c->inlen + (size_t)n > c->incap) {
        c->incap = (c->inlen + (size_t)n) * 2;
        c->in = xrealloc(c->in, c->incap);
    }
    memcpy(c->in + c->inlen, scratch, (size_t)n);
    c->inlen += (size_t)n;
    size_t used = consume(c, c->in, c->inlen);
    if (used != SIZE_MAX)
        keep_rest(c, c->in + used, c->inlen - used);
}

static void on_io(loop_t *loop, int fd, int events, void *ud)
{
    bconn_t *c = ud;
    if (c->fd != fd)
        return;
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            bconn_close(c, strerror(err));
            return;
        }
        /* poll may report a recycled fd number for an event of the socket
         * that had it before: only a peer address proves we are connected. */
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
            return;
        c->connecting = false;
        loop_watch(loop, fd, LOOP_READ, on_io, c);
        c->ops->on_open(c);
        if (c->fd == fd && c->out.len > c->outoff)
            mark_dirty(c);
        return;
    }
    if (events & LOOP_WRITE) {
        flush(c);
        if (c->fd != fd)
            return;
    }
    if (events & LOOP_READ)
        read_some(c);
}

uint16_t bconn_next_id(bconn_t *c)
{
    if (++c->next_id == 0)
        c->next_id = 1;
    return c->next_id;
}

void bconn_send_connect(bconn_t *c, const char *client_id, bool clean_start,
                        int64_t session_expiry, uint16_t receive_max)
{
    mqtt_packet p = {.type = MQTT_CONNECT, .version = MQTT_V5};
    p.u.connect.protocol_name = mqtt_str("MQTT");
    p.u.connect.protocol_level = MQTT_V5;
    p.u.connect.clean_start = clean_start;
    p.u.connect.keep_alive = 0;
    p.u.connect.client_id = mqtt_str(client_id);
    if (session_expiry >= 0)
        mqtt_props_add_num(&p.u.connect.props, MQTT_PROP_SESSION_EXPIRY, (uint32_t)session_expiry);
    if (receive_max)
        mqtt_props_add_num(&p.u.connect.props, MQTT_PROP_RECEIVE_MAXIMUM, receive_max);
    bconn_send(c, &p);
    mqtt_props_free(&p.u.connect.props);
}

void bconn_send_subscribe(bconn_t *c, const char *filter, uint8_t qos)
{
    mqtt_sub s = {.filter = mqtt_str(filter), .qos = qos};
    mqtt_packet p = {.type = MQTT_SUBSCRIBE, .version = MQTT_V5};
    p.u.subscribe.packet_id = bconn_next_id(c);
    p.u.subscribe.subs = &s;
    p.u.subscribe.count = 1;
    bconn_send(c, &p);
}

void bconn_send_puback(bconn_t *c, uint16_t id)
{
    mqtt_packet p = {.type = MQTT_PUBACK, .version = MQTT_V5};
    p.u.ack.packet_id = id;
    bconn_send(c, &p);
}

void bconn_free(bconn_t *c)
{
    if (c->fd >= 0) {
        loop_unwatch(c->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    c->dirty = false;
    free(c->in);
    c->in = NULL;
    c->inlen = c->incap = 0;
    mqtt_buf_free(&c->out);
    c->outoff = 0;
}

void bconn_disconnect(bconn_t *c)
{
    mqtt_packet p = {.type = MQTT_DISCONNECT, .version = MQTT_V5};
    bconn_send(c, &p);
    c->closing_ms = loop_now_ms();
}

