/* drv_raw.c -- the raw packet driver: our own codec (mqtt/) over a non-blocking
 * TCP socket, optionally wrapped in OpenSSL, driven by the harness loop.
 *
 * What it is for: the checks a client library cannot express -- withheld acks,
 * DUP and packet ids as they arrive, PUBLISH with a chosen DUP and id, a second
 * CONNECT, arbitrary bytes, absent-versus-zero properties, FIN versus RST.
 * Every packet in and out goes to the trace with its wire bytes.
 *
 * What it is not: a client library. Nothing happens by itself. No acks unless
 * params->auto_ack; no resend of in-flight messages; no reconnect; and no
 * keep-alive: this driver never sends PINGREQ on its own, whatever Keep Alive
 * the CONNECT carries. A scenario that needs the connection kept alive (or a
 * PINGREQ/PINGRESP barrier) has the runner send a PINGREQ packet explicitly.
 *
 * Re-entrancy: the sink may call back into this driver from inside observe()
 * or trace(), including driver_raw.free() on this very connection. A depth
 * counter marks "inside a callback"; free() then only detaches the connection
 * and the outermost frame releases the memory once the stack has unwound.
 *
 * Closing: every OBS_CLOSED is delivered from a zero-delay timer rather than
 * from inside the call that caused it, so drop() and send() never call the
 * sink's observe() while the runner is still inside them. The socket itself
 * is closed at once, so FIN/RST timing on the wire is exact.
 *
 * The transport (plain socket vs OpenSSL) sits behind the xp_* functions of
 * drv_tls.c; this file keeps the socket and decides how it closes.
 */
#include "driver.h"
#include "drv_tls.h"
#include "model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


/* Anything bigger is treated as a broken or hostile peer, not buffered. */
#define RX_CAP (16u * 1024u * 1024u)
/* Reads per readiness callback, so one flooding broker cannot starve the loop. */
#define READS_PER_WAKEUP 64
#define DEFAULT_CONNECT_MS 10000

typedef enum cstate {
    CS_TCP,         /* non-blocking connect() in progress */
    CS_TLS,         /* TLS handshake in progress */
    CS_OPEN,        /* CONNECT queued; MQTT traffic flows */
    CS_CLOSED       /* socket gone; OBS_CLOSED queued or delivered */
} cstate;

/* A packet asked for before the connection is up (CONNECT first, then any the
 * runner pipelines). Traced when it is moved to the socket's output, so the
 * trace shows packets in wire order, after the connect notes. */
typedef struct pending {
    struct pending *next;
    uint8_t *bytes;
    size_t len;
    char *text;
} pending_t;

struct conn {
    loop_t *loop;
    conn_sink sink;
    uint8_t protocol;
    bool auto_ack;
    cstate st;
    int fd;

    struct addrinfo *ai_list, *ai_cur;  /* addresses still to try */
    char peer[INET6_ADDRSTRLEN + 16];
    int last_errno;
    uint64_t deadline_timer;

    /* TLS settings, copied: the target need not outlive open() */
    bool tls, insecure;
    char *host, *cafile, *capath, *certfile, *keyfile, *alpn;
    int tls_version;
    xp_t xp;

    pending_t *pend_head, *pend_tail;

    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    bool disconnect_queued;     /* close once the output is flushed */

    uint8_t inflight[65536 / 8];    /* our packet ids not yet acknowledged */
    uint16_t next_id;

    obs_t *close_obs;           /* delivered by close_timer */
    uint64_t close_timer;
    uint64_t more_timer;        /* TLS bytes left in OpenSSL's buffer */

    int depth;                  /* > 0 while the driver is on the stack */
    bool freed;                 /* free() was called while depth > 0 */
};

static void conn_destroy(conn_t *c);
static void update_watch(conn_t *c);
static void on_fd(loop_t *loop, int fd, int events, void *ud);
static void fail(conn_t *c, close_cause cause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool id_busy(const conn_t *c, uint16_t id)
{
    return (c->inflight[id >> 3] >> (id & 7)) & 1u;
}

static void id_mark(conn_t *c, uint16_t id, bool busy)
{
    if (busy)
        c->inflight[id >> 3] |= (uint8_t)(1u << (id & 7));
    else
        c->inflight[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

/* Returns 0 when all 65535 ids are in flight. */
static uint16_t id_alloc(conn_t *c)
{
    for (unsigned tries = 0; tries < 65535; tries++) {
        uint16_t id = c->next_id;
        c->next_id = (uint16_t)(c->next_id == 65535 ? 1 : c->next_id + 1);
        if (!id_busy(c, id)) {
            id_mark(c, id, true);
            return id;
        }
    }
    return 0;
}

/* ---- sink calls: callers check `freed` afterwards ----------------------- */

static void trace_note(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_note(conn_t *c, const char *fmt, ...)
{
    if (c->freed || !c->sink.trace)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    trace_line line = {loop_now_ms(), TRACE_NOTE, text, NULL, 0};
    c->depth++;
    c->sink.trace(c->sink.ud, &line);
    c->depth--;
}

static void trace_wire(conn_t *c, trace_dir dir, const char *text, const uint8_t *b, size_t n)
{
    if (c->freed || !c->sink.trace)
        return;
    trace_line line = {loop_now_ms(), dir, text, b, n};
    c->depth++;
    c->sink.trace(c->sink.ud, &line);
    c->depth--;
}

static void observe(conn_t *c, obs_t *o)
{
    if (!o)
        return;
    if (c->freed || !c->sink.observe) {
        obs_free(o);
        return;
    }
    c->depth++;
    c->sink.observe(c->sink.ud, o);
    c->depth--;
}

/* Leaves a driver entry point: releases the connection if free() was called
 * inside and this is the outermost frame. Returns false if c is gone. */
static bool leave(conn_t *c)
{
    if (--c->depth == 0 && c->freed) {
        conn_destroy(c);
        return false;
    }
    return true;
}

static void describe_packet(const mqtt_packet *p, char *out, size_t cap)
{
    if (mqtt_describe(p, out, cap) < 0)
        snprintf(out, cap, "%s (not describable)", mqtt_type_name(p->type));
}

/* ---- transport ---------------------------------------------------------- */

/* How a socket goes away. */
typedef enum xp_how {
    XP_ABORT,       /* just close(): the connection is broken or being freed */
    XP_FIN,         /* FIN, no TLS close_notify: a "drop" */
    XP_NOTIFY,      /* TLS close_notify, then FIN: after DISCONNECT */
    XP_RST          /* SO_LINGER {1, 0}: the kernel sends RST */
} xp_how;

static void xp_close(conn_t *c, xp_how how)
{
    xp_tls_close(&c->xp, how == XP_NOTIFY);
    if (c->fd < 0)
        return;
    loop_unwatch(c->loop, c->fd);
    if (how == XP_RST) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (how == XP_FIN || how == XP_NOTIFY) {
        /* FIN before close(): close() alone sends RST when unread input is
         * queued, and an orderly close must look orderly to the broker. */
        shutdown(c->fd, SHUT_WR);
    }
    close(c->fd);
    c->fd = -1;
}

/* ---- closing ------------------------------------------------------------ */

static void deliver_close(loop_t *loop, void *ud)
{
    (void)loop;
    conn_t *c = ud;
    c->close_timer = 0;
    obs_t *o = c->close_obs;
    c->close_obs = NULL;
    c->depth++;
    observe(c, o);
    leave(c);
}

static void cancel_timers(conn_t *c)
{
    loop_timer_cancel(c->loop, c->deadline_timer);
    c->deadline_timer = 0;
    loop_timer_cancel(c->loop, c->more_timer);
    c->more_timer = 0;
}

/* Closes the socket now and queues the OBS_CLOSED. */
static void close_now(conn_t *c, xp_how how, close_cause cause, const char *text)
{
    if (c->st == CS_CLOSED)
        return;
    c->st = CS_CLOSED;
    cancel_timers(c);
    xp_close(c, how);
    trace_note(c, "%s", text);
    c->close_obs = obs_closed(cause, "%s", text);
    if (!c->freed)
        c->close_timer = loop_timer_at(c->loop, loop_now_ms(), deliver_close, c);
}

static void fail(conn_t *c, close_cause cause, const char *fmt, ...)
{
    char text[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    close_now(c, XP_ABORT, cause, text);
}

/* ---- output ------------------------------------------------------------- */

static int out_append(conn_t *c, const uint8_t *b, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap && c->out_off > 0) {
        /* Compact before growing: the flushed prefix is dead. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb)
            return -1;
        c->out = nb;
        c->out_cap = cap;
    }
    if (n)
        memcpy(c->out + c->out_len, b, n);
    c->out_len += n;
    return 0;
}

/* Writes as much as the socket takes; closes after a flushed DISCONNECT.
 * Returns false if the connection is closed now. */
static bool flush(conn_t *c)
{
    for (int i = 0; i < 1024 && c->st == CS_OPEN && c->out_off < c->out_len; i++) {
        size_t put;
        int eno;
        char why[200];
        xp_status s = xp_write(&c->xp, c->fd, c->out + c->out_off, c->out_len - c->out_off, &put, &eno, why,
                               sizeof why);
        if (s == XP_AGAIN)
            break;
        if (s != XP_OK) {
            if ((eno == ECONNRESET || eno == EPIPE) && c->xp.ssl) {
                /* A TLS 1.3 server refuses a client certificate after our
                 * handshake has finished: its alert may be waiting unread. */
                uint8_t junk[512];
                size_t got;
                int e2;
                char why2[200];
                if (xp_read(&c->xp, c->fd, junk, sizeof junk, &got, &e2, why2, sizeof why2) ==
                        XP_ERR && e2 == 0) {
                    fail(c, CLOSE_TLS, "TLS: %s", why2);
                    return false;
                }
            }
            if (eno == ECONNRESET || eno == EPIPE)
                fail(c, CLOSE_RESET, "connection reset by broker (write: %s)", why);
            else if (eno == 0)
                fail(c, CLOSE_TLS, "TLS write failed: %s", why);
            else
                fail(c, CLOSE_ERROR, "write failed: %s", why);
            return false;
        }
        c->out_off += put;
    }
    if (c->st == CS_OPEN && c->out_off == c->out_len && c->disconnect_queued) {
        close_now(c, XP_NOTIFY, CLOSE_BY_US, "closed by us after DISCONNECT");
        return false;
    }
    if (c->st == CS_OPEN)
        update_watch(c);
    return c->st == CS_OPEN;
}

/* Puts an encoded packet on the output (or in the pre-connect queue) and
 * traces it in the order it will go out. */
static int queue_bytes(conn_t *c, const uint8_t *b, size_t n, const char *text)
{
    if (c->st == CS_OPEN) {
        if (out_append(c, b, n) != 0)
            return -1;
        trace_wire(c, TRACE_OUT, text, b, n);
        return 0;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->bytes = malloc(n ? n : 1);
    p->text = strdup(text);
    if (!p->bytes || !p->text) {
        free(p->bytes);
        free(p->text);
        free(p);
        return -1;
    }
    if (n)
        memcpy(p->bytes, b, n);
    p->len = n;
    if (c->pend_tail)
        c->pend_tail->next = p;
    else
        c->pend_head = p;
    c->pend_tail = p;
    return 0;
}

static void free_pending(conn_t *c)
{
    pending_t *p = c->pend_head;
    while (p) {
        pending_t *n = p->next;
        free(p->bytes);
        free(p->text);
        free(p);
        p = n;
    }
    c->pend_head = c->pend_tail = NULL;
}

static int queue_packet(conn_t *c, const mqtt_packet *pkt)
{
    mqtt_buf buf = {0};
    if (mqtt_encode(pkt, &buf) != 0) {
        mqtt_buf_free(&buf);
        return -1;
    }
    char text[2048];
    describe_packet(pkt, text, sizeof text);
    int rc = queue_bytes(c, buf.data, buf.len, text);
    mqtt_buf_free(&buf);
    return rc;
}

static void update_watch(conn_t *c)
{
    if (c->fd < 0 || c->freed)
        return;
    int ev = 0;
    switch (c->st) {
    case CS_TCP:
        ev = LOOP_WRITE;
        break;
    case CS_TLS:
        ev = c->xp.read_wants_write ? LOOP_WRITE : LOOP_READ;
        break;
    case CS_OPEN:
        ev = LOOP_READ;
        if ((c->out_off < c->out_len && !c->xp.write_wants_read) || c->xp.read_wants_write)
            ev |= LOOP_WRITE;
        break;
    case CS_CLOSED:
        return;
    }
    loop_watch(c->loop, c->fd, ev, on_fd, c);
}

/* ---- input -------------------------------------------------------------- */

static obs_t *bad_obs(const uint8_t *b, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static obs_t *bad_obs(const uint8_t *b, size_t n, const char *fmt, ...)
{
    obs_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->wire = malloc(n ? n : 1);
    if (!o->wire) {
        free(o);
        return NULL;
    }
    if (n)
        memcpy(o->wire, b, n);
    o->wire_len = n;
    o->kind = OBS_BAD_PACKET;
    o->seen = OBS_SEEN_ALL;
    o->at_ms = loop_now_ms();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->text, sizeof o->text, fmt, ap);
    va_end(ap);
    return o;
}

static void send_ack(conn_t *c, uint8_t type, uint16_t id)
{
    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.version = c->protocol;
    a.u.ack.packet_id = id;
    /* Success with the reason byte omitted: the shortest form 5.0 allows and
     * the only form 3.1.1 has. */
    a.u.ack.has_reason = false;
    if (queue_packet(c, &a) != 0)
        trace_note(c, "could not encode an automatic %s", mqtt_type_name(type));
}

/* What an inbound packet does to our in-flight ids, and the auto_ack reply. */
static void on_packet_effects(conn_t *c, const mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_PUBACK:
    case MQTT_PUBCOMP:
        id_mark(c, p->u.ack.packet_id, false);
        break;
    case MQTT_PUBREC:
        if (p->u.ack.reason >= 0x80)
            id_mark(c, p->u.ack.packet_id, false);
        else if (c->auto_ack)
            send_ack(c, MQTT_PUBREL, p->u.ack.packet_id);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        id_mark(c, p->u.suback.packet_id, false);
        break;
    case MQTT_PUBLISH:
        if (c->auto_ack && p->u.publish.qos == 1)
            send_ack(c, MQTT_PUBACK, p->u.publish.packet_id);
        else if (c->auto_ack && p->u.publish.qos == 2)
            send_ack(c, MQTT_PUBREC, p->u.publish.packet_id);
        break;
    case MQTT_PUBREL:
        if (c->auto_ack)
            send_ack(c, MQTT_PUBCOMP, p->u.ack.packet_id);
        break;
    default:
        break;
    }
}

/* Frames and delivers every whole packet in the input buffer. Returns false if
 * the connection closed or was freed meanwhile. */
static bool process_input(conn_t *c)
{
    size_t off = 0;
    while (c->st == CS_OPEN && !c->freed && off < c->in_len) {
        uint32_t hl = 0, rl = 0;
        const uint8_t *b = c->in + off;
        size_t avail = c->in_len - off;
        mqtt_status s = mqtt_frame(b, avail, &hl, &rl);
        if (s == MQTT_INCOMPLETE)
            break;
        if (s != MQTT_OK) {
            size_t n = avail < 5 ? avail : 5;
            obs_t *o = bad_obs(b, n, "malformed fixed header (remaining length over 4 bytes)");
            trace_wire(c, TRACE_IN, "malformed fixed header (remaining length over 4 bytes)", b, n);
            observe(c, o);
            if (!c->freed)
                fail(c, CLOSE_ERROR, "closed by us: input framing lost");
            break;
        }
        uint64_t total = (uint64_t)hl + rl;
        if (total > RX_CAP) {
            obs_t *o = bad_obs(b, hl, "remaining length %u exceeds the driver's %u byte cap",
                               (unsigned)rl, (unsigned)RX_CAP);
            trace_wire(c, TRACE_IN, o ? o->text : "packet too large", b, hl);
            observe(c, o);
            if (!c->freed)
                fail(c, CLOSE_ERROR, "closed by us: a %llu byte packet is over the cap",
                     (unsigned long long)total);
            break;
        }
        if (avail < total)
            break;
        obs_t *o = obs_from_wire(b, (size_t)total, c->protocol, OBS_SEEN_ALL);
        off += (size_t)total;
        if (!o) {
            fail(c, CLOSE_ERROR, "out of memory");
            break;
        }
        if (o->kind == OBS_PACKET) {
            char text[2048];
            describe_packet(&o->pkt, text, sizeof text);
            trace_wire(c, TRACE_IN, text, o->wire, o->wire_len);
            if (!c->freed)
                on_packet_effects(c, &o->pkt);
        } else {
            trace_wire(c, TRACE_IN, o->text, o->wire, o->wire_len);
        }
        observe(c, o);
    }
    if (c->freed)
        return false;
    if (c->st != CS_OPEN)
        return false;
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->out_off < c->out_len)
        return flush(c);
    return true;
}

static void more_input(loop_t *loop, void *ud);

static void do_read(conn_t *c)
{
    for (int i = 0; i < READS_PER_WAKEUP && c->st == CS_OPEN && !c->freed; i++) {
        if (c->in_cap - c->in_len < 16384) {
            /* One packet is at most RX_CAP (checked when framing); whole
             * packets are consumed at once, so this always holds the rest. */
            size_t cap = c->in_cap ? c->in_cap * 2 : 32768;
            if (cap > RX_CAP + 65536)
                cap = RX_CAP + 65536;
            if (cap > c->in_cap) {
                uint8_t *nb = realloc(c->in, cap);
                if (!nb) {
                    fail(c, CLOSE_ERROR, "out of memory");
                    return;
                }
                c->in = nb;
                c->in_cap = cap;
            } else if (c->in_len == c->in_cap) {
                fail(c, CLOSE_ERROR, "closed by us: input buffer full");
                return;
            }
        }
        size_t got;
        int eno;
        char why[200];
        xp_status s = xp_read(&c->xp, c->fd, c->in + c->in_len, c->in_cap - c->in_len, &got, &eno, why,
                              sizeof why);
        if (s == XP_OK) {
            c->in_len += got;
            if (!process_input(c))
                return;
            continue;
        }
        if (s == XP_AGAIN) {
            update_watch(c);
            return;
        }
        /* The peer is gone. Whole packets that arrived first were delivered. */
        if (c->in_len > 0)
            trace_note(c, "%zu bytes of an incomplete packet left at close", c->in_len);
        if (c->freed)
            return;
        if (s == XP_EOF && c->in_len > 0)
            /* A packet cut off by the close: the stream broke, nothing to judge. */
            fail(c, CLOSE_ERROR, "closed by broker mid-packet (%zu bytes of an incomplete %s)",
                 c->in_len, mqtt_type_name(c->in[0] >> 4));
        else if (s == XP_EOF)
            fail(c, CLOSE_BY_PEER, "closed by broker");
        else if (eno == ECONNRESET || eno == EPIPE)
            fail(c, CLOSE_RESET, "connection reset by broker");
        else if (eno == 0)
            fail(c, CLOSE_TLS, "TLS: %s", why);
        else
            fail(c, CLOSE_ERROR, "read failed: %s", why);
        return;
    }
    /* Out of budget: plain sockets wake poll() again, but bytes OpenSSL has
     * already decrypted are invisible to it, so come back by timer. */
    if (c->st == CS_OPEN && !c->freed && xp_pending(&c->xp) && !c->more_timer)
        c->more_timer = loop_timer_at(c->loop, loop_now_ms(), more_input, c);
}

static void more_input(loop_t *loop, void *ud)
{
    (void)loop;
    conn_t *c = ud;
    c->more_timer = 0;
    c->depth++;
    do_read(c);
    leave(c);
}

/* ---- connecting --------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%d", host, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%d", host, ntohs(s6->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

/* The connection is usable for MQTT: move the queued packets to the output. */
static void become_open(conn_t *c)
{
    loop_timer_cancel(c->loop, c->deadline_timer);
    c->deadline_timer = 0;
    c->st = CS_OPEN;
    pending_t *p = c->pend_head;
    c->pend_head = c->pend_tail = NULL;
    while (p) {
        pending_t *n = p->next;
        if (c->st == CS_OPEN && !c->freed) {
            if (out_append(c, p->bytes, p->len) != 0)
                fail(c, CLOSE_ERROR, "out of memory");
            else
                trace_wire(c, TRACE_OUT, p->text, p->bytes, p->len);
        }
        free(p->bytes);
        free(p->text);
        free(p);
        p = n;
    }
    if (c->st == CS_OPEN && !c->freed)
        flush(c);
    if (c->st == CS_OPEN && !c->freed && c->sink.opened) {
        c->depth++;
        c->sink.opened(c->sink.ud);
        c->depth--;
    }
}

static void tls_step(conn_t *c)
{
    char why[200];
    xp_status s = xp_handshake(&c->xp, why, sizeof why);
    if (s == XP_AGAIN) {
        update_watch(c);
        return;
    }
    if (s != XP_OK) {
        fail(c, CLOSE_TLS, "TLS handshake with %s failed: %s", c->peer, why);
        return;
    }
    char desc[400];
    xp_describe(&c->xp, desc, sizeof desc);
    trace_note(c, "%s", desc);
    if (c->freed)
        return;
    become_open(c);
}

static void tcp_up(conn_t *c)
{
    trace_note(c, "TCP connected to %s", c->peer);
    if (c->freed)
        return;
    if (!c->tls) {
        become_open(c);
        return;
    }
    char why[200];
    xp_tls_opts o = {.host = c->host, .cafile = c->cafile, .capath = c->capath,
                     .certfile = c->certfile, .keyfile = c->keyfile, .insecure = c->insecure,
                     .tls_version = c->tls_version, .alpn = c->alpn};
    if (xp_tls_setup(&c->xp, c->fd, &o, why, sizeof why) != 0) {
        fail(c, CLOSE_TLS, "TLS setup failed: %s", why);
        return;
    }
    c->st = CS_TLS;
    tls_step(c);
}

/* Starts connect() on the next address. Returns true if one is in progress
 * (or already up); false when none is left (c->last_errno says why). */
static bool try_next_addr(conn_t *c)
{
    for (; c->ai_cur && !c->freed; c->ai_cur = c->ai_cur->ai_next) {
        struct addrinfo *ai = c->ai_cur;
        format_peer(ai->ai_addr, c->peer, sizeof c->peer);
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            c->last_errno = errno;
            continue;
        }
        int one = 1;
        /* MQTT packets are small and the trace times them: no Nagle delay. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int r;
        do
            r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno != EINPROGRESS) {
            c->last_errno = errno;
            close(fd);
            trace_note(c, "connect to %s: %s", c->peer, strerror(c->last_errno));
            continue;
        }
        c->fd = fd;
        c->st = CS_TCP;
        c->ai_cur = ai->ai_next;
        if (r == 0)
            tcp_up(c);
        else
            update_watch(c);
        return true;
    }
    return false;
}

static void connect_failed(conn_t *c)
{
    if (c->freed)
        return;
    fail(c, CLOSE_REFUSED, "connection to %s failed: %s", c->peer,
         strerror(c->last_errno ? c->last_errno : ECONNREFUSED));
}

static void tcp_step(conn_t *c)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr == 0) {
        /* A spurious wakeup (an fd number reused within one dispatch round)
         * also reads SO_ERROR 0: only getpeername() proves the connection. */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
            tcp_up(c);
            return;
        }
        if (errno == ENOTCONN) {
            update_watch(c);
            return;
        }
        soerr = errno;
    }
    c->last_errno = soerr;
    loop_unwatch(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    trace_note(c, "connect to %s: %s", c->peer, strerror(soerr));
    if (c->freed)
        return;
    if (!try_next_addr(c))
        connect_failed(c);
}

static void on_deadline(loop_t *loop, void *ud)
{
    (void)loop;
    conn_t *c = ud;
    c->deadline_timer = 0;
    c->depth++;
    if (c->st == CS_TCP)
        fail(c, CLOSE_ERROR, "connect timed out (TCP to %s)", c->peer);
    else if (c->st == CS_TLS)
        fail(c, CLOSE_ERROR, "connect timed out (TLS handshake with %s)", c->peer);
    leave(c);
}

static void on_fd(loop_t *loop, int fd, int events, void *ud)
{
    (void)loop;
    conn_t *c = ud;
    if (fd != c->fd)
        return;
    c->depth++;
    switch (c->st) {
    case CS_TCP:
        tcp_step(c);
        break;
    case CS_TLS:
        tls_step(c);
        break;
    case CS_OPEN:
        if ((events & LOOP_READ) || c->xp.read_wants_write)
            do_read(c);
        if (c->st == CS_OPEN && !c->freed && c->out_off < c->out_len &&
            ((events & LOOP_WRITE) || c->xp.write_wants_read))
            flush(c);
        break;
    case CS_CLOSED:
        break;
    }
    leave(c);
}

/* ---- the driver interface ------------------------------------------------ */

static conn_t *raw_open(loop_t *loop, const conn_params *params, conn_sink sink, char *err,
                        size_t errcap)
{
    const target_t *t = params->target;
    if (!t || !t->host) {
        set_err(err, errcap, "no target host");
        return NULL;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, errcap, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->sink = sink;
    c->protocol = params->protocol ? params->protocol : MQTT_V5;
    c->auto_ack = params->auto_ack;
    c->fd = -1;
    c->st = CS_TCP;
    c->next_id = 1;
    c->tls = t->tls;
    c->insecure = t->insecure;
    c->host = dup_or_null(t->host);
    c->cafile = dup_or_null(t->cafile);
    c->capath = dup_or_null(t->capath);
    c->certfile = dup_or_null(t->certfile);
    c->keyfile = dup_or_null(t->keyfile);
    c->alpn = dup_or_null(t->alpn);
    c->tls_version = t->tls_version;
    snprintf(c->peer, sizeof c->peer, "%s:%d", t->host, t->port);

    /* CONNECT is encoded now: its views point into memory the runner owns
     * only for the duration of this call. */
    mqtt_packet cp;
    memset(&cp, 0, sizeof cp);
    cp.type = MQTT_CONNECT;
    cp.version = c->protocol;
    cp.u.connect = params->connect;
    if (!cp.u.connect.protocol_name.data && cp.u.connect.protocol_name.len == 0)
        cp.u.connect.protocol_name = mqtt_str("MQTT");
    if (cp.u.connect.protocol_level == 0)
        cp.u.connect.protocol_level = c->protocol;
    if (!c->host || (!params->no_connect && queue_packet(c, &cp) != 0)) {
        set_err(err, errcap, "cannot encode CONNECT");
        conn_destroy(c);
        return NULL;
    }

    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(t->host, port, &hints, &c->ai_list);
    if (g != 0) {
        set_err(err, errcap, "cannot resolve %s: %s", t->host, gai_strerror(g));
        conn_destroy(c);
        return NULL;
    }
    c->ai_cur = c->ai_list;

    int64_t deadline = params->deadline_ms;
    if (deadline <= 0)
        deadline = loop_now_ms() +
                   (t->connect_timeout_ms > 0 ? t->connect_timeout_ms : DEFAULT_CONNECT_MS);
    c->deadline_timer = loop_timer_at(loop, deadline, on_deadline, c);

    /* From here on everything reaches the runner through the sink; even an
     * immediate refusal is observed later, from a timer. */
    c->depth++;
    if (!try_next_addr(c))
        connect_failed(c);
    leave(c);   /* the runner has no handle yet, so nothing can have freed c */
    return c;
}

static int raw_send(conn_t *c, mqtt_packet *pkt, char *err, size_t errcap)
{
    if (!c || c->freed || c->st == CS_CLOSED || c->disconnect_queued) {
        set_err(err, errcap, "not connected");
        return -1;
    }
    if (pkt->version == 0)
        pkt->version = c->protocol;

    uint16_t *idp = NULL;
    if (pkt->type == MQTT_PUBLISH && pkt->u.publish.qos > 0)
        idp = &pkt->u.publish.packet_id;
    else if (pkt->type == MQTT_SUBSCRIBE)
        idp = &pkt->u.subscribe.packet_id;
    else if (pkt->type == MQTT_UNSUBSCRIBE)
        idp = &pkt->u.unsubscribe.packet_id;
    bool allocated = false;
    if (idp && *idp == 0) {
        uint16_t id = id_alloc(c);
        if (id == 0) {
            set_err(err, errcap, "no free packet id (65535 in flight)");
            return -1;
        }
        *idp = id;
        allocated = true;
    } else if (idp) {
        /* A chosen id (a DUP resend, a deliberate collision) is in flight too. */
        id_mark(c, *idp, true);
    }

    c->depth++;
    int rc = queue_packet(c, pkt);
    if (rc != 0) {
        if (allocated) {
            id_mark(c, *idp, false);
            *idp = 0;
        }
        set_err(err, errcap, "cannot encode %s", mqtt_type_name(pkt->type));
    } else {
        if (pkt->type == MQTT_DISCONNECT)
            c->disconnect_queued = true;
        /* A dead socket found here is reported through the sink (by timer),
         * not as a failure of this send: the packet was handed over. */
        if (c->st == CS_OPEN && !c->freed)
            flush(c);
    }
    leave(c);
    return rc;
}

static int raw_send_bytes(conn_t *c, const uint8_t *bytes, size_t len, char *err, size_t errcap)
{
    if (!c || c->freed || c->st == CS_CLOSED || c->disconnect_queued) {
        set_err(err, errcap, "not connected");
        return -1;
    }
    char text[512];
    size_t n = (size_t)snprintf(text, sizeof text, "raw bytes (%zu):", len);
    size_t i = 0;
    for (; i < len && n + 8 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " %02x", bytes[i]);
    if (i < len)
        snprintf(text + n, sizeof text - n, " ...");
    c->depth++;
    int rc = queue_bytes(c, bytes, len, text);
    if (rc != 0)
        set_err(err, errcap, "out of memory");
    else if (c->st == CS_OPEN && !c->freed)
        flush(c);
    leave(c);
    return rc;
}

static void raw_drop(conn_t *c, bool reset)
{
    if (!c || c->freed || c->st == CS_CLOSED)
        return;
    c->depth++;
    if (c->st == CS_OPEN && c->out_off < c->out_len) {
        /* What the runner sent before the drop belongs before the close; one
         * non-blocking attempt, which a loopback socket buffer takes. */
        flush(c);
        if (c->st == CS_OPEN && c->out_off < c->out_len)
            trace_note(c, "%zu unsent bytes discarded by the drop", c->out_len - c->out_off);
    }
    if (c->st != CS_CLOSED && !c->freed)
        close_now(c, reset ? XP_RST : XP_FIN, CLOSE_BY_US,
                  reset ? "dropped by us (RST)" : "dropped by us (FIN)");
    leave(c);
}

static void conn_destroy(conn_t *c)
{
    cancel_timers(c);
    loop_timer_cancel(c->loop, c->close_timer);
    c->close_timer = 0;
    xp_close(c, XP_ABORT);
    obs_free(c->close_obs);
    free_pending(c);
    if (c->ai_list)
        freeaddrinfo(c->ai_list);
    free(c->in);
    free(c->out);
    free(c->host);
    free(c->cafile);
    free(c->capath);
    free(c->certfile);
    free(c->keyfile);
    free(c->alpn);
    free(c);
}

static void raw_free(conn_t *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        /* Inside one of our own frames: stop everything now (no more sink
         * calls, socket closed) and let the outermost frame free the memory. */
        c->freed = true;
        cancel_timers(c);
        loop_timer_cancel(c->loop, c->close_timer);
        c->close_timer = 0;
        xp_close(c, XP_ABORT);
        c->st = CS_CLOSED;
        return;
    }
    conn_destroy(c);
}

const driver_t driver_raw = {
    .name = "raw",
    .caps = CAP__ALL,   /* nothing is hidden from the raw driver */
    .open = raw_open,
    .send = raw_send,
    .send_bytes = raw_send_bytes,
    .drop = raw_drop,
    .free = raw_free,
};
