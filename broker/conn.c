/* conn.c -- connections: bytes in, packets out, and an orderly close.
 *
 * What it is for: the life of one TCP connection. Input is framed with
 * mqtt_frame, checked against max_packet_size before it is buffered, decoded
 * with mqtt_decode and handed to the handle_*.c for its type. Output is
 * encoded with mqtt_encode into a buffer flushed once per event-loop batch.
 * Keep alive is a timer re-armed by every packet received (1.5 x).
 *
 * Closing is the part with rules in it. conn_close() detaches the session at
 * once (so the Will and expiry rules run at the moment the connection is lost)
 * and stops reading packets, but the socket lingers: pending output (a CONNACK
 * refusing the client, a DISCONNECT 0x8E) is written, then the write side is
 * shut, and the socket is closed when the peer closes too or after 2 s. A
 * plain close() with unread input would send a reset, which can destroy those
 * last packets before the client reads them.
 *
 * Bytes go through tr_read / tr_write: the socket itself, or TLS over it.
 *
 * What it is not: protocol decisions (handle_*.c) or the listener (net.c).
 * A conn is freed only at the end of the batch in which it was closed, so
 * callbacks holding a pointer to it stay safe.
 */
#include "broker.h"
#include "defect.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 10000
#define LINGER_MS 2000
#define OUTPUT_LIMIT ((size_t)64 << 20)     /* a client that stops reading is closed */
#define READ_CHUNK 16384

static struct conn *conns;
static uint32_t nconns;
static struct conn *flush_list;
static struct conn *dead_list;
static bool closing_all;        /* conn_close_all is running */

static void io_cb(struct ev_io *io, int events);

const char *conn_name(const struct conn *c)
{
    return c->client_id ? c->client_id : c->peer;
}

static void keep_alive_fire(void *arg)
{
    struct conn *c = arg;
    if (!c->connected) {
        conn_close(c, "no CONNECT received in time");
        return;
    }
    /* [MQTT-3.1.2-22]: as if the network had failed, so the Will is published. */
    conn_send_disconnect(c, MQTT_RC_KEEP_ALIVE_TIMEOUT);
    conn_close(c, "keep alive timeout");
}

static void finish(struct conn *c);

static void linger_fire(void *arg)
{
    finish(arg);
}

static void retry_fire(void *arg)
{
    struct conn *c = arg;
    if (c->s && !c->closing) {
        deliver_retry(c->s);
        ev_timer_start(&c->retry_timer, 2000);
    }
}

void conn_keep_alive_start(struct conn *c)
{
    if (c->keep_alive && !defect_on(D_KEEP_ALIVE_NOT_ENFORCED))
        ev_timer_start(&c->keep_alive_timer, (uint64_t)c->keep_alive * 1500u);
    else
        ev_timer_stop(&c->keep_alive_timer);
}

/* ---- transport: >0 bytes, 0 end of stream, TLS_AGAIN, TLS_ERROR ---- */

static ssize_t tr_read(struct conn *c, void *buf, size_t len)
{
    if (c->tls)
        return tls_read(c->tls, buf, len, &c->tls_want_write);
    for (;;) {
        ssize_t n = read(c->io.fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_AGAIN : TLS_ERROR;
    }
}

static ssize_t tr_write(struct conn *c, const void *buf, size_t len)
{
    if (c->tls)
        return tls_write(c->tls, buf, len, &c->tls_want_write);
    for (;;) {
        ssize_t n = send(c->io.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_AGAIN : TLS_ERROR;
    }
}

struct conn *conn_accept(int fd, const char *peer, bool tls)
{
    if (nconns >= cfg.max_clients) {
        log_warn("%s: refused: max_clients (%u) reached", peer, cfg.max_clients);
        close(fd);
        return NULL;
    }

    struct conn *c = xcalloc(1, sizeof *c);
    c->io.fd = fd;
    c->io.mask = -1;
    c->io.fn = io_cb;
    c->io.arg = c;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    ev_timer_init(&c->keep_alive_timer, keep_alive_fire, c);
    ev_timer_init(&c->linger_timer, linger_fire, c);
    ev_timer_init(&c->retry_timer, retry_fire, c);
    c->client_receive_max = 65535;
    if (tls && !(c->tls = tls_new(fd))) {
        log_error("%s: cannot start TLS", peer);
        close(fd);
        free(c);
        return NULL;
    }
    if (ev_io_set(&c->io, EV_READ) < 0) {
        log_error("%s: epoll: %s", peer, strerror(errno));
        if (c->tls)
            tls_free(c->tls);
        close(fd);
        free(c);
        return NULL;
    }
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    nconns++;
    ev_timer_start(&c->keep_alive_timer, CONNECT_TIMEOUT_MS);
    log_debug("%s: connection accepted%s", peer, tls ? " (TLS)" : "");
    return c;
}

uint32_t conn_count(void)
{
    return nconns;
}

/* ---- output ---- */

/* --defect flood-starves-clients: are 64 connections waiting for CONNECT? */
static bool flood_starving(void)
{
    uint32_t waiting = 0;
    for (struct conn *o = conns; o && waiting < 64; o = o->next)
        waiting += !o->connected && !o->closing;
    return waiting >= 64;
}

static void set_mask(struct conn *c)
{
    int mask = c->starved ? 0 : EV_READ;
    if (c->out_off < c->out.len || c->tls_want_write)
        mask |= EV_WRITE;
    if (mask != c->io.mask)
        ev_io_set(&c->io, mask);
}

/* Writes what the socket takes. Returns false on a write error. */
static bool flush_now(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = tr_write(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n == TLS_AGAIN)
            break;
        return false;
    }
    if (c->out_off == c->out.len) {
        c->out_off = c->out.len = 0;
        if (c->out.cap > (1u << 20))
            mqtt_buf_free(&c->out);     /* give a burst's memory back */
    }
    set_mask(c);
    return true;
}

enum send_result conn_send(struct conn *c, const mqtt_packet *p)
{
    if (c->closing && c->io.fd < 0)
        return SEND_FAILED;
    size_t before = c->out.len;
    if (mqtt_encode(p, &c->out) != 0) {
        c->out.len = before;
        log_error("%s: cannot encode %s", conn_name(c), mqtt_type_name(p->type));
        return SEND_FAILED;
    }
    size_t size = c->out.len - before;
    if (c->client_max_packet && size > c->client_max_packet &&
        !defect_on(D_MAXIMUM_PACKET_SIZE_IGNORED)) {
        c->out.len = before;
        return SEND_TOO_BIG;
    }
    if (log_enabled(LOG_DEBUG)) {
        char d[512];
        mqtt_describe(p, d, sizeof d);
        log_debug("%s < %s", conn_name(c), d);
    }
    if (defect_on(D_RESEND_ON_LIVE_CONNECTION) && p->type == MQTT_PUBLISH && p->u.publish.qos &&
        !ev_timer_active(&c->retry_timer))
        ev_timer_start(&c->retry_timer, 2000);
    if (c->out.len - c->out_off > OUTPUT_LIMIT)
        c->overflow = true;
    if (!c->flush_queued) {
        c->flush_queued = true;
        c->flush_next = flush_list;
        flush_list = c;
    }
    return SEND_OK;
}

void conn_send_disconnect(struct conn *c, uint8_t reason)
{
    if (c->version != MQTT_V5 || c->closing)
        return;
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_DISCONNECT;
    p.version = MQTT_V5;
    p.u.disconnect.reason = reason;
    p.u.disconnect.has_reason = true;
    conn_send(c, &p);
}

/* ---- closing ---- */

static void finish(struct conn *c)
{
    if (c->io.fd < 0)
        return;
    ev_io_del(&c->io);
    if (c->tls) {
        tls_free(c->tls);
        c->tls = NULL;
    }
    close(c->io.fd);
    c->io.fd = -1;
    ev_timer_stop(&c->keep_alive_timer);
    ev_timer_stop(&c->linger_timer);
    ev_timer_stop(&c->retry_timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nconns--;
    if (defect_on(D_FLOOD_STARVES_CLIENTS) && !flood_starving())
        for (struct conn *o = conns; o; o = o->next)
            if (o->starved) {
                o->starved = false;
                set_mask(o);
            }
    c->dead_next = dead_list;
    dead_list = c;
}

static void maybe_finish(struct conn *c)
{
    if (c->io.fd < 0 || c->out_off < c->out.len)
        return;
    if (!c->write_shut) {
        if (c->tls)
            tls_close_notify(c->tls);
        shutdown(c->io.fd, SHUT_WR);
        c->write_shut = true;
    }
    if (c->read_shut)
        finish(c);
}

void conn_close(struct conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->connected)
        log_info("%s: connection closed: %s", conn_name(c), why);
    else
        log_debug("%s: connection closed: %s", conn_name(c), why);
    ev_timer_stop(&c->keep_alive_timer);
    ev_timer_stop(&c->retry_timer);
    if (c->s)
        session_detach(c->s);
    ev_timer_start(&c->linger_timer, LINGER_MS);
    /* Nothing leaves before the records it answers; a close with nothing to
     * send (most of them) waits for the batch's commit, so that many closes
     * at once cost one sync, not one each. */
    if (c->out_off < c->out.len && !closing_all)
        store_commit();
    if (!flush_now(c)) {
        finish(c);
        return;
    }
    maybe_finish(c);
}

void conn_protocol_error(struct conn *c, uint8_t reason, const char *why)
{
    if (c->connected)
        conn_send_disconnect(c, reason);
    if (c->connected && defect_on(D_ERROR_DISCONNECT_LEFT_OPEN))
        return;
    conn_close(c, why);
}

/* Input after the close is read and thrown away, so that the peer's FIN can
 * be seen and the kernel never answers unread data with a reset. */
static void drain(struct conn *c)
{
    uint8_t junk[4096];
    for (int i = 0; i < 64; i++) {
        /* Plain reads even on a TLS connection: the input is thrown away,
         * and after a failed handshake OpenSSL would only fail again, so
         * the close would come with unread input, i.e. a reset that can
         * destroy the alert the client has yet to read. */
        ssize_t n = c->tls ? read(c->io.fd, junk, sizeof junk) : tr_read(c, junk, sizeof junk);
        if (n > 0)
            continue;
        if (c->tls ? n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                   : n == TLS_AGAIN)
            return;
        if (n < 0) {
            finish(c);
            return;
        }
        c->read_shut = true;
        maybe_finish(c);
        return;
    }
}

/* ---- input ---- */

/* A CONNECT the decoder refused. MQTT 5 gets a CONNACK with the reason; an
 * unsupported protocol level gets the 3.1.1 return code 1 (M3 §3.1.2.2, and
 * §3.1.2.2 of 5.0 allows it for levels a 5.0 server does not know); a 3.1.1
 * CONNECT that is simply malformed is closed without CONNACK (M3 [MQTT-3.2.2-6]). */
static void refuse_bad_connect(struct conn *c, const uint8_t *buf, size_t len, const mqtt_error *err)
{
    uint32_t hl = 0, rl = 0;
    int level = -1;
    bool known_name = false;
    if (mqtt_frame(buf, len, &hl, &rl) == MQTT_OK && len - hl >= 2) {
        const uint8_t *v = buf + hl;
        size_t vl = len - hl, nl = (size_t)v[0] << 8 | v[1];
        if (vl >= 2 + nl + 1) {
            level = v[2 + nl];
            known_name = (nl == 4 && memcmp(v + 2, "MQTT", 4) == 0) ||
                         (nl == 6 && memcmp(v + 2, "MQIsdp", 6) == 0);
        }
    }
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNACK;
    if (level == MQTT_V5) {
        c->version = p.version = MQTT_V5;
        p.u.connack.reason = err->reason >= 0x80 ? err->reason : MQTT_RC_MALFORMED;
        p.u.connack.session_present = defect_on(D_REFUSAL_SESSION_PRESENT);
        p.u.connack.flags = p.u.connack.session_present ? 1 : 0;
        conn_send(c, &p);
    } else if (level != MQTT_V311 && known_name) {
        c->version = p.version = MQTT_V311;
        p.u.connack.reason = MQTT_V311_BAD_PROTOCOL;
        conn_send(c, &p);
    }
    char why[200];
    snprintf(why, sizeof why, "invalid CONNECT: %s", err->why);
    conn_close(c, why);
}

/* The defect reserved-connect-flag-ignored: clears Connect Flags bit 0
 * before the decoder can refuse it. */
static void defect_mask_reserved_flag(uint8_t *buf, size_t len)
{
    uint32_t hl = 0, rl = 0;
    if (mqtt_frame(buf, len, &hl, &rl) != MQTT_OK || len - hl < 2)
        return;
    size_t nl = (size_t)buf[hl] << 8 | buf[hl + 1];
    if (len - hl >= 2 + nl + 2)
        buf[hl + 2 + nl + 1] &= 0xFE;
}

static void dispatch(struct conn *c, uint8_t *buf, size_t len)
{
    mqtt_packet p;
    mqtt_error err;
    memset(&err, 0, sizeof err);
    if (!c->version && (buf[0] >> 4) != MQTT_CONNECT) {
        conn_close(c, "first packet is not CONNECT");
        return;
    }
    if (!c->version && defect_on(D_RESERVED_CONNECT_FLAG_IGNORED))
        defect_mask_reserved_flag(buf, len);
    mqtt_status st = mqtt_decode(buf, len, c->version ? c->version : MQTT_V5, true, &p, &err);
    if (st == MQTT_NOMEM)
        die_oom();
    if (st != MQTT_OK) {
        if (!c->connected) {
            refuse_bad_connect(c, buf, len, &err);
            return;
        }
        if (defect_on(D_MALFORMED_PACKET_SKIPPED)) {
            log_debug("%s: skipped a bad packet: %s", conn_name(c), err.why);
            return;
        }
        uint8_t reason = err.reason >= 0x80 ? err.reason
                         : st == MQTT_MALFORMED ? MQTT_RC_MALFORMED : MQTT_RC_PROTOCOL_ERROR;
        char why[200];
        snprintf(why, sizeof why, "%s: %s", mqtt_reason_name(reason, MQTT_DISCONNECT, MQTT_V5), err.why);
        conn_protocol_error(c, reason, why);
        return;
    }
    if (log_enabled(LOG_DEBUG)) {
        char d[512];
        mqtt_describe(&p, d, sizeof d);
        log_debug("%s > %s", conn_name(c), d);
    }
    if (c->connected)
        conn_keep_alive_start(c);
    switch (p.type) {
    case MQTT_CONNECT:
        handle_connect(c, &p);
        break;
    case MQTT_PUBLISH:
        handle_publish(c, &p);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
        handle_puback(c, &p);
        break;
    case MQTT_PUBREL:
        handle_pubrel(c, &p);
        break;
    case MQTT_SUBSCRIBE:
        handle_subscribe(c, &p);
        break;
    case MQTT_UNSUBSCRIBE:
        handle_unsubscribe(c, &p);
        break;
    case MQTT_PINGREQ:
        handle_pingreq(c, &p);
        break;
    case MQTT_DISCONNECT:
        handle_disconnect(c, &p);
        break;
    default:
        /* AUTH included: no enhanced authentication was negotiated. */
        conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "unexpected packet");
        break;
    }
    mqtt_packet_free(&p);
}

/* Decodes every whole packet in the input buffer. A packet over the limit is
 * refused from its fixed header, before its body is buffered. */
static void process(struct conn *c)
{
    size_t off = 0;
    while (!c->closing && off < c->in.len) {
        uint32_t hl, rl;
        mqtt_status st = mqtt_frame(c->in.data + off, c->in.len - off, &hl, &rl);
        if (st == MQTT_INCOMPLETE)
            break;
        if (st != MQTT_OK) {
            if (defect_on(D_REMAINING_LENGTH_UNBOUNDED))
                break;
            conn_protocol_error(c, MQTT_RC_MALFORMED, "malformed Remaining Length");
            return;
        }
        size_t total = (size_t)hl + rl;
        if (total > cfg.max_packet_size && !defect_on(D_IGNORE_MAX_PACKET_SIZE)) {
            conn_protocol_error(c, MQTT_RC_PACKET_TOO_LARGE, "packet larger than max_packet_size");
            return;
        }
        if (c->in.len - off < total)
            break;
        dispatch(c, c->in.data + off, total);
        off += total;
    }
    if (c->closing)
        return;
    memmove(c->in.data, c->in.data + off, c->in.len - off);
    c->in.len -= off;
    if (defect_on(D_PARTIAL_PACKET_DROPPED))
        c->in.len = 0;
    if (defect_on(D_PARTIAL_PACKET_STOPS_KEEP_ALIVE) && c->connected && c->in.len)
        ev_timer_stop(&c->keep_alive_timer);
}

static void on_readable(struct conn *c)
{
    /* A bounded number of reads per event, so one busy client cannot starve
     * the others: the level-triggered epoll brings us back. */
    /* Bytes OpenSSL has already decrypted wake no epoll: those are always
     * read now (at most one TLS record, so this stays bounded). */
    for (int round = 0; !c->closing && (round < 8 || (c->tls && tls_pending(c->tls))); round++) {
        if (c->in.cap - c->in.len < READ_CHUNK) {
            c->in.cap = c->in.len + READ_CHUNK * 2;
            c->in.data = xrealloc(c->in.data, c->in.cap);
        }
        ssize_t n = tr_read(c, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            process(c);
            continue;
        }
        if (n == TLS_AGAIN) {
            if (c->tls_want_write)
                set_mask(c);
            return;
        }
        c->read_shut = n == 0;
        conn_close(c, n == 0 ? "closed by client" : c->tls ? "TLS error" : strerror(errno));
        return;
    }
}

static void io_cb(struct ev_io *io, int events)
{
    struct conn *c = io->arg;
    if (c->io.fd < 0)
        return;
    if (c->closing) {
        if (events & EV_WRITE) {
            store_commit();
            if (!flush_now(c)) {
                finish(c);
                return;
            }
            maybe_finish(c);
        }
        if (c->io.fd >= 0 && (events & EV_READ))
            drain(c);
        return;
    }
    if (defect_on(D_FLOOD_STARVES_CLIENTS) && c->connected && (events & EV_READ) &&
        flood_starving()) {
        c->starved = true;      /* until a waiting connection goes: finish() */
        set_mask(c);
        events &= ~EV_READ;
    }
    bool resume_read = false;
    if (events & EV_WRITE) {
        store_commit();     /* output of this batch may be in c->out */
        resume_read = c->tls_want_write;
        c->tls_want_write = false;
        if (!flush_now(c)) {
            conn_close(c, "write error");
            return;
        }
    }
    if ((events & EV_READ) || resume_read)
        on_readable(c);
}

void conn_aliases_free(struct aliases *a)
{
    if (!a)
        return;
    for (size_t i = 0; i <= BROKER_TOPIC_ALIAS_LIMIT; i++)
        free(a->topic[i]);
    free(a);
}

static void conn_free(struct conn *c)
{
    mqtt_buf_free(&c->in);
    mqtt_buf_free(&c->out);
    conn_aliases_free(c->aliases);
    free(c->client_id);
    free(c);
}

void conn_batch_end(void)
{
    /* Group commit: one write (and sync) for every record of the batch, before
     * the acknowledgements it produced are flushed. */
    store_commit();
    /* Closing a connection can publish a Will, which queues output on other
     * connections: go round until nothing new was queued (bounded anyway). */
    for (int round = 0; flush_list && round < 100; round++) {
        if (round)
            store_commit();     /* what those closes changed (a Will routed) */
        struct conn *list = flush_list;
        flush_list = NULL;
        for (struct conn *c = list, *next; c; c = next) {
            next = c->flush_next;
            c->flush_queued = false;
            if (c->io.fd < 0)
                continue;
            if (c->closing) {
                if (!flush_now(c))
                    finish(c);
                else
                    maybe_finish(c);
                continue;
            }
            if (c->overflow) {
                conn_close(c, "client does not read its messages (output limit reached)");
                continue;
            }
            if (!flush_now(c))
                conn_close(c, "write error");
        }
    }
    while (dead_list) {
        struct conn *c = dead_list;
        dead_list = c->dead_next;
        conn_free(c);
    }
}

void conn_close_all(uint8_t reason)
{
    /* What was queued before is committed here; what shutting down adds (the
     * sessions going offline, DISCONNECT 0x8B) acknowledges nothing, and
     * store_close() commits it once. */
    store_commit();
    closing_all = true;
    while (conns) {
        struct conn *c = conns;
        if (!c->closing) {
            if (c->connected)
                conn_send_disconnect(c, reason);
            conn_close(c, "server shutting down");
        }
        if (c->io.fd >= 0) {
            flush_now(c);
            finish(c);
        }
    }
    flush_list = NULL;
    while (dead_list) {
        struct conn *c = dead_list;
        dead_list = c->dead_next;
        conn_free(c);
    }
}
