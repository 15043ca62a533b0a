/* bulkconn.c -- many plain MQTT connections on the harness loop (bulkconn.h).
 *
 * What it is for: the socket plumbing shared by `mqspec soak` and
 * mqspec-bench: non-blocking connect, reads framed into whole packets, output
 * batched per loop iteration.
 *
 * What it is not: anything that knows a workload. Callbacks decide what a
 * packet or a close means; errors go to the pool's on_error.
 */
#include "bulkconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One read of this size per readiness event: a subscriber behind a fast
 * broker drains its socket in a few syscalls. */
#define SCRATCH_SIZE (256 * 1024)

static void on_io(loop_t *loop, int fd, int events, void *ud);

static void report(bulk_pool *pool, const char *what)
{
    if (pool->on_error)
        pool->on_error(pool, what);
}

int bulk_pool_init(bulk_pool *pool, loop_t *loop, const char *host, int port, uint8_t version)
{
    memset(pool, 0, sizeof *pool);
    pool->loop = loop;
    pool->version = version;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&pool->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&pool->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        pool->addrlen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        pool->addrlen = sizeof *a6;
    } else {
        errno = EINVAL;
        return -1;
    }
    pool->scratch = malloc(SCRATCH_SIZE);
    if (!pool->scratch) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void bulk_pool_free(bulk_pool *pool)
{
    free(pool->dirty);
    free(pool->scratch);
    pool->dirty = NULL;
    pool->scratch = NULL;
    pool->ndirty = pool->capdirty = 0;
}

static void reset_buffers(bulk_conn *c)
{
    c->connecting = c->writing = c->dirty = false;
    c->inlen = 0;
    c->out.len = 0;
    c->outoff = 0;
}

int bulk_open(bulk_conn *c, bulk_pool *pool, const bulk_ops *ops, void *ud)
{
    c->pool = pool;
    c->ops = ops;
    c->ud = ud;
    c->fd = -1;
    c->gen++;
    c->next_id = 0;
    c->since_ms = loop_now_ms();
    reset_buffers(c);
    int fd = socket(pool->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* Writes are batched per loop iteration already; Nagle would only add
     * delay to every round trip. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&pool->addr, pool->addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    c->connecting = true;
    /* Even an immediate success goes through the loop, so on_open never runs
     * inside the caller's own code. */
    if (loop_watch(pool->loop, fd, LOOP_WRITE, on_io, c) < 0) {
        close(fd);
        c->fd = -1;
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void bulk_shut(bulk_conn *c)
{
    if (c->fd < 0)
        return;
    loop_unwatch(c->pool->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    c->gen++;
    reset_buffers(c);
}

void bulk_close(bulk_conn *c, const char *why)
{
    if (c->fd < 0)
        return;
    bulk_shut(c);
    if (c->ops->on_close)
        c->ops->on_close(c, why);
}

void bulk_free(bulk_conn *c)
{
    if (c->pool)
        bulk_shut(c);
    free(c->in);
    c->in = NULL;
    c->incap = 0;
    mqtt_buf_free(&c->out);
}

static void mark_dirty(bulk_conn *c)
{
    bulk_pool *pool = c->pool;
    if (c->dirty)
        return;
    if (pool->ndirty == pool->capdirty) {
        size_t cap = pool->capdirty ? pool->capdirty * 2 : 256;
        bulk_conn **d = realloc(pool->dirty, cap * sizeof *d);
        if (!d)
            return;     /* written when the socket is next written to */
        pool->dirty = d;
        pool->capdirty = cap;
    }
    pool->dirty[pool->ndirty++] = c;
    c->dirty = true;
}

void bulk_write(bulk_conn *c, const void *data, size_t len)
{
    if (c->fd < 0)
        return;
    if (mqtt_buf_append(&c->out, data, len) != 0) {
        report(c->pool, "out of memory");
        bulk_close(c, "out of memory");
        return;
    }
    if (!c->connecting)
        mark_dirty(c);
}

void bulk_send(bulk_conn *c, const mqtt_packet *p)
{
    if (c->fd < 0)
        return;
    if (mqtt_encode(p, &c->out) != 0) {
        char what[80];
        snprintf(what, sizeof what, "cannot encode %s", mqtt_type_name(p->type));
        report(c->pool, what);
        bulk_close(c, what);
        return;
    }
    if (!c->connecting)
        mark_dirty(c);
}

static void flush(bulk_conn *c)
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
                loop_watch(c->pool->loop, c->fd, LOOP_READ | LOOP_WRITE, on_io, c);
                c->writing = true;
            }
            return;
        }
        bulk_close(c, n < 0 ? strerror(errno) : "write returned 0");
        return;
    }
    c->out.len = 0;
    c->outoff = 0;
    if (c->writing) {
        loop_watch(c->pool->loop, c->fd, LOOP_READ, on_io, c);
        c->writing = false;
    }
}

void bulk_flush(bulk_conn *c)
{
    if (c->fd >= 0 && !c->connecting && !c->writing)
        flush(c);
}

void bulk_flush_all(bulk_pool *pool)
{
    /* A callback may add to the list while it is walked: index, not pointer.
     * Entries may be stale (closed, or closed and opened again): the dirty
     * flag says whether there is still something to do. */
    for (size_t i = 0; i < pool->ndirty; i++) {
        bulk_conn *c = pool->dirty[i];
        if (!c->dirty)
            continue;
        c->dirty = false;
        bulk_flush(c);
    }
    pool->ndirty = 0;
}

/* Whole packets from buf; the bytes used, or SIZE_MAX when the connection
 * was closed (or closed and opened again) by a callback meanwhile. */
static size_t consume(bulk_conn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    uint32_t gen = c->gen;
    while (off < len) {
        uint32_t hl, rl;
        mqtt_status st = mqtt_frame(buf + off, len - off, &hl, &rl);
        if (st == MQTT_INCOMPLETE)
            break;
        if (st != MQTT_OK) {
            report(c->pool, "a malformed fixed header from the broker");
            bulk_close(c, "malformed fixed header");
            return SIZE_MAX;
        }
        if ((size_t)hl + rl > len - off)
            break;
        mqtt_packet p;
        mqtt_error err;
        if (mqtt_decode(buf + off, hl + rl, c->pool->version, false, &p, &err) != MQTT_OK) {
            char what[200];
            snprintf(what, sizeof what, "an undecodable packet from the broker: %s", err.why);
            report(c->pool, what);
            bulk_close(c, "undecodable packet");
            return SIZE_MAX;
        }
        off += hl + rl;
        c->ops->on_packet(c, &p);
        mqtt_packet_free(&p);
        if (c->gen != gen || c->fd < 0)
            return SIZE_MAX;
    }
    return off;
}

static int keep_rest(bulk_conn *c, const uint8_t *src, size_t n)
{
    if (n > c->incap) {
        size_t cap = n < 4096 ? 4096 : n * 2;
        uint8_t *in = realloc(c->in, cap);
        if (!in)
            return -1;
        c->in = in;
        c->incap = cap;
    }
    if (n)
        memmove(c->in, src, n);
    c->inlen = n;
    return 0;
}

static void read_some(bulk_conn *c)
{
    uint8_t *scratch = c->pool->scratch;
    ssize_t n = read(c->fd, scratch, SCRATCH_SIZE);
    if (n == 0) {
        bulk_close(c, "closed by the broker");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            bulk_close(c, strerror(errno));
        return;
    }
    c->bytes_in += (uint64_t)n;
    const uint8_t *buf = scratch;
    size_t len = (size_t)n;
    if (c->inlen > 0) {
        /* The common case (no partial packet) decodes straight from scratch. */
        if (c->inlen + len > c->incap) {
            size_t cap = (c->inlen + len) * 2;
            uint8_t *in = realloc(c->in, cap);
            if (!in) {
                report(c->pool, "out of memory");
                bulk_close(c, "out of memory");
                return;
            }
            c->in = in;
            c->incap = cap;
        }
        memcpy(c->in + c->inlen, scratch, len);
        c->inlen += len;
        buf = c->in;
        len = c->inlen;
    }
    size_t used = consume(c, buf, len);
    if (used == SIZE_MAX)
        return;
    if (keep_rest(c, buf + used, len - used) != 0) {
        report(c->pool, "out of memory");
        bulk_close(c, "out of memory");
    }
}

static void on_io(loop_t *loop, int fd, int events, void *ud)
{
    bulk_conn *c = ud;
    if (c->fd != fd)
        return;
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            bulk_close(c, strerror(err));
            return;
        }
        /* A recycled fd number may report the event of its previous socket:
         * only a peer address proves this one is connected. */
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
            return;
        c->connecting = false;
        loop_watch(loop, fd, LOOP_READ, on_io, c);
        uint32_t gen = c->gen;
        c->ops->on_open(c);
        if (c->gen == gen && c->out.len > c->outoff)
            mark_dirty(c);
        return;
    }
    if (events & LOOP_WRITE) {
        uint32_t gen = c->gen;
        flush(c);
        if (c->gen != gen)
            return;
    }
    if (events & LOOP_READ)
        read_some(c);
}

uint16_t bulk_next_id(bulk_conn *c)
{
    if (++c->next_id == 0)
        c->next_id = 1;
    return c->next_id;
}

void bulk_send_connect(bulk_conn *c, const char *client_id, bool clean_start,
                       int64_t session_expiry, uint16_t receive_max)
{
    uint8_t v = c->pool->version;
    mqtt_packet p = {.type = MQTT_CONNECT, .version = v};
    p.u.connect.protocol_name = mqtt_str("MQTT");
    p.u.connect.protocol_level = v;
    p.u.connect.clean_start = clean_start;
    p.u.connect.keep_alive = 0;
    p.u.connect.client_id = mqtt_str(client_id);
    int rc = 0;
    if (v == MQTT_V5 && session_expiry >= 0)
        rc |= mqtt_props_add_num(&p.u.connect.props, MQTT_PROP_SESSION_EXPIRY,
                                 (uint32_t)session_expiry);
    if (v == MQTT_V5 && receive_max)
        rc |= mqtt_props_add_num(&p.u.connect.props, MQTT_PROP_RECEIVE_MAXIMUM, receive_max);
    if (rc != 0) {
        report(c->pool, "out of memory");
        bulk_close(c, "out of memory");
    } else {
        bulk_send(c, &p);
    }
    mqtt_props_free(&p.u.connect.props);
}

void bulk_send_subscribe(bulk_conn *c, const char *filter, uint8_t qos)
{
    mqtt_sub s = {.filter = mqtt_str(filter), .qos = qos};
    mqtt_packet p = {.type = MQTT_SUBSCRIBE, .version = c->pool->version};
    p.u.subscribe.packet_id = bulk_next_id(c);
    p.u.subscribe.subs = &s;
    p.u.subscribe.count = 1;
    bulk_send(c, &p);
}

void bulk_send_ack(bulk_conn *c, uint8_t type, uint16_t id)
{
    mqtt_packet p = {.type = type, .version = c->pool->version};
    p.u.ack.packet_id = id;
    bulk_send(c, &p);
}

void bulk_send_disconnect(bulk_conn *c)
{
    mqtt_packet p = {.type = MQTT_DISCONNECT, .version = c->pool->version};
    bulk_send(c, &p);
}
