/* drv_mosq.c -- the "mosquitto" driver: one libmosquitto 2.0.11 client per connection.
 *
 * What it is for: talking to a broker through a real, widely used client library,
 * the way ordinary applications do, so that a scenario that passes here passes for
 * them. Every libmosquitto callback becomes an observation built with
 * obs_from_packet, and every "sending X" / "received X" line of the library's log
 * becomes a trace line.
 *
 * What it is not: a tool for corner cases. libmosquitto acknowledges by itself,
 * hides DUP, resends on its own, adds a Receive Maximum of its own to every 5.0
 * CONNECT, refuses to send what it considers invalid, and hides UNSUBACK reason
 * codes. Scenarios that need any of that use the raw driver (caps below are 0).
 *
 * Threading and I/O: the library never runs its own loop or thread here. Its
 * socket is watched from the harness loop, loop_read / loop_write are called when
 * it is ready, and loop_misc (keepalive) runs from a periodic timer.
 *
 * Re-entrancy: libmosquitto callbacks never call the runner. They queue events on
 * the connection; the queue is delivered after the library call has returned, from
 * a loop callback, so the runner may send, drop or free the connection from inside
 * observe() without re-entering the library.
 */
#include "driver.h"
#include "drv_tls.h"
#include "model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* mqtt_protocol.h would clash with mqtt.h (both name MQTT_PROP_*), so the few
 * numbers needed from it are spelled here. */
enum {
    SUBOPT_NO_LOCAL = 0x04,
    SUBOPT_RETAIN_AS_PUBLISHED = 0x08,
    SUBOPT_RETAIN_HANDLING_SHIFT = 4
};

#define MISC_PERIOD_MS 250
#define READ_BATCH 64          /* packets per readiness, so one busy socket cannot starve the loop */
#define MAX_PENDING_MIDS 65536 /* libmosquitto mids are 16-bit */

typedef struct event {
    struct event *next;
    obs_t *obs;                /* an observation, or */
    trace_dir dir;             /* a trace line */
    int64_t at_ms;
    char *text;
} event_t;

/* What we sent under a mid, to name the ack that comes back: libmosquitto's
 * on_publish does not say whether it saw PUBACK or PUBCOMP, and its
 * on_unsubscribe does not say how many filters the UNSUBACK answers. */
typedef struct mid_qos {
    int mid;
    uint8_t qos;               /* PUBLISH: 1 or 2; UNSUBSCRIBE: 0 */
    uint32_t nfilters;         /* UNSUBSCRIBE */
} mid_qos;

struct conn {
    loop_t *loop;
    struct mosquitto *mosq;
    conn_sink sink;
    uint8_t version;
    char *client_id;

    int fd;                    /* the fd registered with the loop, or -1 */
    int fd_events;
    uint64_t misc_timer;
    uint64_t flush_timer;

    bool closed;               /* OBS_CLOSED queued; nothing more from the library */
    bool we_disconnect;        /* we sent DISCONNECT: the close is ours */
    bool connack_refused;      /* the CONNACK refused us: the library closes the socket */
    bool peer_disconnect;      /* the log said a DISCONNECT packet arrived */
    int peer_reason;
    bool insecure;             /* --insecure: a verify result means nothing */
    char tls_error[160];       /* the first OpenSSL error the library logged, named */

    int busy;                  /* depth of our own dispatch: free() is deferred while > 0 */
    bool free_pending;

    event_t *head, *tail;

    mid_qos *mids;             /* our QoS 1/2 publishes and UNSUBSCRIBEs awaiting an ack */
    size_t nmids, capmids;
};

static void conn_destroy(conn_t *c);

/* ---- the event queue ---------------------------------------------------- */

static void push_event(conn_t *c, event_t *e)
{
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
}

static void queue_obs(conn_t *c, obs_t *o)
{
    if (!o)
        return;
    event_t *e = calloc(1, sizeof *e);
    if (!e) {
        obs_free(o);
        return;
    }
    e->obs = o;
    push_event(c, e);
}

static void queue_trace(conn_t *c, trace_dir dir, const char *fmt, ...)
{
    event_t *e = calloc(1, sizeof *e);
    if (!e)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    e->text = strdup(buf);
    if (!e->text) {
        free(e);
        return;
    }
    e->dir = dir;
    e->at_ms = loop_now_ms();
    push_event(c, e);
}

static void event_free(event_t *e)
{
    obs_free(e->obs);
    free(e->text);
    free(e);
}

/* Delivers queued events until the queue is empty or the runner freed us. */
static void flush(conn_t *c)
{
    c->busy++;
    while (c->head && !c->free_pending) {
        event_t *e = c->head;
        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        if (e->obs) {
            obs_t *o = e->obs;
            e->obs = NULL;
            if (c->sink.observe)
                c->sink.observe(c->sink.ud, o);
            else
                obs_free(o);
        } else if (c->sink.trace) {
            trace_line tl = {.at_ms = e->at_ms, .dir = e->dir, .text = e->text};
            c->sink.trace(c->sink.ud, &tl);
        }
        event_free(e);
    }
    c->busy--;
}

/* Ends one of our entry points: destroys the connection if free() came meanwhile. */
static void leave(conn_t *c)
{
    if (c->busy == 0 && c->free_pending)
        conn_destroy(c);
}

static void on_flush_timer(loop_t *loop, void *ud)
{
    conn_t *c = ud;
    c->flush_timer = 0;
    flush(c);
    leave(c);
}

/* Events produced by a runner call (send, drop) are delivered from the loop, not
 * from inside that call, so the runner never sees itself re-entered. */
static void schedule_flush(conn_t *c)
{
    if (c->head && !c->flush_timer)
        c->flush_timer = loop_timer_at(c->loop, loop_now_ms(), on_flush_timer, c);
}

/* ---- socket registration ------------------------------------------------ */

static void on_fd(loop_t *loop, int fd, int events, void *ud);

static void unwatch(conn_t *c)
{
    if (c->fd >= 0)
        loop_unwatch(c->loop, c->fd);
    c->fd = -1;
    c->fd_events = 0;
}

/* The library's socket appears at connect, disappears on close, and wants write
 * whenever it has queued output: follow it after every call into the library. */
static void rewatch(conn_t *c)
{
    int fd = (c->mosq && !c->closed) ? mosquitto_socket(c->mosq) : -1;
    if (fd != c->fd)
        unwatch(c);
    if (fd < 0)
        return;
    int ev = LOOP_READ | (mosquitto_want_write(c->mosq) ? LOOP_WRITE : 0);
    if (fd == c->fd && ev == c->fd_events)
        return;
    if (loop_watch(c->loop, fd, ev, on_fd, c) == 0) {
        c->fd = fd;
        c->fd_events = ev;
    }
}

/* ---- properties: libmosquitto <-> mqtt.h -------------------------------- */

/* Strings the library handed us, kept alive until the packet is encoded. */
typedef struct strpool {
    void *p[64];
    size_t n;
    bool overflow;
} strpool;

static void pool_keep(strpool *sp, void *p)
{
    if (sp->n < sizeof sp->p / sizeof *sp->p)
        sp->p[sp->n++] = p;
    else {
        free(p);
        sp->overflow = true;
    }
}

static void pool_free(strpool *sp)
{
    for (size_t i = 0; i < sp->n; i++)
        free(sp->p[i]);
    sp->n = 0;
}

static void from_mosq_props(const mosquitto_property *mp, mqtt_props *out, strpool *sp)
{
    for (int guard = 0; mp && guard < 10000; mp = mosquitto_property_next(mp), guard++) {
        int id = mosquitto_property_identifier(mp);
        switch (mqtt_prop_type((uint8_t)id)) {
        case MQTT_PT_BYTE: {
            uint8_t v;
            if (mosquitto_property_read_byte(mp, id, &v, false))
                mqtt_props_add_num(out, (uint8_t)id, v);
            break;
        }
        case MQTT_PT_U16: {
            uint16_t v;
            if (mosquitto_property_read_int16(mp, id, &v, false))
                mqtt_props_add_num(out, (uint8_t)id, v);
            break;
        }
        case MQTT_PT_U32: {
            uint32_t v;
            if (mosquitto_property_read_int32(mp, id, &v, false))
                mqtt_props_add_num(out, (uint8_t)id, v);
            break;
        }
        case MQTT_PT_VARINT: {
            uint32_t v;
            if (mosquitto_property_read_varint(mp, id, &v, false))
                mqtt_props_add_num(out, (uint8_t)id, v);
            break;
        }
        case MQTT_PT_STRING: {
            char *s = NULL;
            if (mosquitto_property_read_string(mp, id, &s, false) && s) {
                pool_keep(sp, s);
                if (!sp->overflow)
                    mqtt_props_add_bytes(out, (uint8_t)id, mqtt_str(s));
            }
            break;
        }
        case MQTT_PT_BINARY: {
            void *b = NULL;
            uint16_t len = 0;
            if (mosquitto_property_read_binary(mp, id, &b, &len, false)) {
                /* A zero-length binary comes back as NULL: still present. */
                mqtt_bytes v = {.data = b ? b : (const uint8_t *)"", .len = len};
                if (b)
                    pool_keep(sp, b);
                if (!sp->overflow)
                    mqtt_props_add_bytes(out, (uint8_t)id, v);
            }
            break;
        }
        case MQTT_PT_PAIR: {
            char *k = NULL, *v = NULL;
            if (mosquitto_property_read_string_pair(mp, id, &k, &v, false) && k && v) {
                pool_keep(sp, k);
                pool_keep(sp, v);
                if (!sp->overflow)
                    mqtt_props_add_pair(out, mqtt_str(k), mqtt_str(v));
            } else {
                free(k);
                free(v);
            }
            break;
        }
        default:
            break; /* an identifier our codec does not know: nothing to carry it in */
        }
    }
}

static char *bytes_dup(mqtt_bytes b)
{
    char *s = malloc((size_t)b.len + 1);
    if (!s)
        return NULL;
    if (b.len)
        memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    return s;
}

static bool has_nul(mqtt_bytes b)
{
    return b.len && memchr(b.data, '\0', b.len) != NULL;
}

/* Builds a libmosquitto list from ours. Returns 0, or -1 with err filled. An
 * empty list gives *out NULL, which libmosquitto reads as "no properties". */
static int to_mosq_props(const mqtt_props *in, mosquitto_property **out, char *err, size_t errcap)
{
    *out = NULL;
    for (uint32_t i = 0; in && i < in->count; i++) {
        const mqtt_prop *p = &in->items[i];
        int rc = MOSQ_ERR_INVAL;
        switch (mqtt_prop_type(p->id)) {
        case MQTT_PT_BYTE:
            rc = mosquitto_property_add_byte(out, p->id, (uint8_t)p->num);
            break;
        case MQTT_PT_U16:
            rc = mosquitto_property_add_int16(out, p->id, (uint16_t)p->num);
            break;
        case MQTT_PT_U32:
            rc = mosquitto_property_add_int32(out, p->id, p->num);
            break;
        case MQTT_PT_VARINT:
            rc = mosquitto_property_add_varint(out, p->id, p->num);
            break;
        case MQTT_PT_BINARY:
            if (p->str.len > UINT16_MAX)
                break;
            rc = mosquitto_property_add_binary(out, p->id, p->str.data, (uint16_t)p->str.len);
            break;
        case MQTT_PT_STRING:
        case MQTT_PT_PAIR: {
            /* libmosquitto takes C strings: an embedded NUL cannot pass. */
            if (has_nul(p->str) || has_nul(p->str2))
                break;
            char *a = bytes_dup(p->str);
            char *b = bytes_dup(p->str2);
            if (a && b)
                rc = mqtt_prop_type(p->id) == MQTT_PT_PAIR
                         ? mosquitto_property_add_string_pair(out, p->id, a, b)
                         : mosquitto_property_add_string(out, p->id, a);
            else
                rc = MOSQ_ERR_NOMEM;
            free(a);
            free(b);
            break;
        }
        default:
            break;
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            const char *name = mqtt_prop_name(p->id);
            snprintf(err, errcap,
                     "property %s (0x%02X) not supported by the mosquitto driver: %s",
                     name ? name : "unknown", p->id, mosquitto_strerror(rc));
            mosquitto_property_free_all(out);
            return -1;
        }
    }
    return 0;
}

/* ---- observations from callbacks ---------------------------------------- */

static void observe_packet(conn_t *c, mqtt_packet *pkt, unsigned seen, const char *note)
{
    obs_t *o = obs_from_packet(pkt, seen);
    if (!o) {
        queue_trace(c, TRACE_NOTE, "could not encode an observed %s", mqtt_type_name(pkt->type));
        return;
    }
    if (note && o->kind == OBS_PACKET)
        snprintf(o->text, sizeof o->text, "%s", note);
    queue_obs(c, o);
}

static conn_t *conn_of(void *ud)
{
    conn_t *c = ud;
    /* After drop / free the library may still call back while closing: ignore. */
    return (c && !c->closed) ? c : NULL;
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *props)
{
    conn_t *c = conn_of(ud);
    if (!c)
        return;
    mqtt_packet pkt = {.type = MQTT_CONNACK, .version = c->version};
    pkt.u.connack.reason = (uint8_t)rc;
    pkt.u.connack.flags = (uint8_t)flags;
    pkt.u.connack.session_present = flags & 1;
    strpool sp = {0};
    from_mosq_props(props, &pkt.u.connack.props, &sp);
    observe_packet(c, &pkt, OBS_SEEN_ALL, NULL);
    mqtt_props_free(&pkt.u.connack.props);
    pool_free(&sp);
    if (rc != 0)
        c->connack_refused = true;
}

static void close_obs(conn_t *c, int rc, int err)
{
    if (c->we_disconnect) {
        queue_obs(c, obs_closed(CLOSE_BY_US, "closed after our DISCONNECT"));
        return;
    }
    if (c->peer_disconnect) {
        queue_obs(c, obs_closed(CLOSE_BY_PEER, "closed after the server's DISCONNECT"));
        return;
    }
    if (c->tls_error[0]) {
        /* libmosquitto reports a failed handshake as a lost connection; its
         * log said what OpenSSL found. */
        queue_obs(c, obs_closed(CLOSE_TLS, "TLS: %s", c->tls_error));
        return;
    }
    if (c->connack_refused) {
        /* libmosquitto closes the socket itself on a refusing CONNACK, so whether
         * the broker would have closed it cannot be seen from here. */
        queue_obs(c, obs_closed(CLOSE_BY_PEER, "connection refused in CONNACK "
                                               "(closed by libmosquitto on receipt)"));
        return;
    }
    switch (rc) {
    case MOSQ_ERR_CONN_LOST:
        queue_obs(c, obs_closed(CLOSE_BY_PEER, "connection closed by the server"));
        return;
    case MOSQ_ERR_ERRNO:
        /* 2.0.11 reports an end of stream inside a packet as ERRNO, errno untouched (0). */
        if (err == 0)
            queue_obs(c, obs_closed(CLOSE_ERROR, "closed by the server mid-packet"));
        else if (err == ECONNRESET || err == EPIPE)
            queue_obs(c, obs_closed(CLOSE_RESET, "%s", strerror(err)));
        else if (err == ECONNREFUSED)
            queue_obs(c, obs_closed(CLOSE_REFUSED, "%s", strerror(err)));
        else
            queue_obs(c, obs_closed(CLOSE_ERROR, "%s", strerror(err)));
        return;
    case MOSQ_ERR_TLS:
    case MOSQ_ERR_TLS_HANDSHAKE:
    case MOSQ_ERR_OCSP:
        queue_obs(c, obs_closed(CLOSE_TLS, "%s", mosquitto_strerror(rc)));
        return;
    case MOSQ_ERR_KEEPALIVE:
        queue_obs(c, obs_closed(CLOSE_ERROR, "no PINGRESP within the keep alive: %s",
                                mosquitto_strerror(rc)));
        return;
    case MOSQ_ERR_PROTOCOL:
    case MOSQ_ERR_MALFORMED_PACKET:
        queue_obs(c, obs_closed(CLOSE_ERROR, "undecodable or unexpected packet from the server "
                                             "(libmosquitto: %s)", mosquitto_strerror(rc)));
        return;
    default:
        queue_obs(c, obs_closed(CLOSE_ERROR, "libmosquitto: %s (%d)", mosquitto_strerror(rc),
                                rc));
        return;
    }
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc,
                          const mosquitto_property *props)
{
    int err = errno;
    conn_t *c = conn_of(ud);
    if (!c)
        return;
    /* The library has closed (or is about to close) the fd we registered. */
    unwatch(c);
    if (c->peer_disconnect) {
        /* rc is the DISCONNECT's reason code here; the log line gave it too. */
        mqtt_packet pkt = {.type = MQTT_DISCONNECT, .version = c->version};
        pkt.u.disconnect.reason = (uint8_t)c->peer_reason;
        pkt.u.disconnect.has_reason = true;
        strpool sp = {0};
        from_mosq_props(props, &pkt.u.disconnect.props, &sp);
        /* 2.0.11 reads the properties off the wire but passes NULL on. */
        observe_packet(c, &pkt, OBS_SEEN_ALL,
                       props ? NULL
                             : "properties unknown: libmosquitto 2.0.11 does not report a "
                               "server DISCONNECT's properties");
        mqtt_props_free(&pkt.u.disconnect.props);
        pool_free(&sp);
    }
    close_obs(c, rc, err);
    queue_trace(c, TRACE_NOTE, "connection closed (libmosquitto rc %d: %s)", rc,
                mosquitto_strerror(rc));
    c->closed = true;
}

static bool mid_take(conn_t *c, int mid, mid_qos *out)
{
    for (size_t i = 0; i < c->nmids; i++) {
        if (c->mids[i].mid == mid) {
            *out = c->mids[i];
            c->mids[i] = c->mids[--c->nmids];
            return true;
        }
    }
    return false;
}

static int mid_remember(conn_t *c, int mid, uint8_t qos, uint32_t nfilters)
{
    mid_qos old;
    mid_take(c, mid, &old); /* a reused mid replaces the old entry */
    if (c->nmids == c->capmids) {
        if (c->capmids >= MAX_PENDING_MIDS)
            return -1;
        size_t cap = c->capmids ? c->capmids * 2 : 16;
        mid_qos *n = realloc(c->mids, cap * sizeof *n);
        if (!n)
            return -1;
        c->mids = n;
        c->capmids = cap;
    }
    c->mids[c->nmids++] = (mid_qos){mid, qos, nfilters};
    return 0;
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason,
                       const mosquitto_property *props)
{
    conn_t *c = conn_of(ud);
    if (!c)
        return;
    mid_qos mq;
    if (!mid_take(c, mid, &mq) || mq.qos == 0)
        return; /* QoS 0: "published" means written; no packet came back */
    int qos = mq.qos;
    /* For QoS 2 a failing PUBREC ends the flow: that is the packet we saw. */
    uint8_t type = qos == 1 ? MQTT_PUBACK : (reason >= 0x80 ? MQTT_PUBREC : MQTT_PUBCOMP);
    mqtt_packet pkt = {.type = type, .version = c->version};
    pkt.u.ack.packet_id = (uint16_t)mid;
    pkt.u.ack.reason = (uint8_t)reason;
    strpool sp = {0};
    from_mosq_props(props, &pkt.u.ack.props, &sp);
    /* libmosquitto does not say whether the reason byte was on the wire. */
    pkt.u.ack.has_reason = c->version == MQTT_V5 && (reason != 0 || pkt.u.ack.props.count > 0);
    observe_packet(c, &pkt, OBS_SEEN_PACKET_ID | OBS_SEEN_REASON_CODES, NULL);
    mqtt_props_free(&pkt.u.ack.props);
    pool_free(&sp);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    conn_t *c = conn_of(ud);
    if (!c || !msg)
        return;
    mqtt_packet pkt = {.type = MQTT_PUBLISH, .version = c->version};
    mqtt_publish *p = &pkt.u.publish;
    p->qos = (uint8_t)msg->qos;
    p->retain = msg->retain;
    p->topic = mqtt_str(msg->topic ? msg->topic : "");
    p->packet_id = msg->qos > 0 ? (uint16_t)msg->mid : 0;
    p->payload.data = msg->payload;
    p->payload.len = msg->payloadlen > 0 ? (uint32_t)msg->payloadlen : 0;
    strpool sp = {0};
    from_mosq_props(props, &p->props, &sp);
    /* libmosquitto hides DUP: everything else of the PUBLISH is seen. */
    observe_packet(c, &pkt, OBS_SEEN_PACKET_ID | OBS_SEEN_REASON_CODES, NULL);
    mqtt_props_free(&p->props);
    pool_free(&sp);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int count, const int *granted,
                         const mosquitto_property *props)
{
    conn_t *c = conn_of(ud);
    if (!c)
        return;
    mqtt_packet pkt = {.type = MQTT_SUBACK, .version = c->version};
    uint8_t *codes = calloc(count > 0 ? (size_t)count : 1, 1);
    if (!codes)
        return;
    for (int i = 0; i < count; i++)
        codes[i] = (uint8_t)granted[i];
    pkt.u.suback.packet_id = (uint16_t)mid;
    pkt.u.suback.reasons = codes;
    pkt.u.suback.count = count > 0 ? (uint32_t)count : 0;
    strpool sp = {0};
    from_mosq_props(props, &pkt.u.suback.props, &sp);
    observe_packet(c, &pkt, OBS_SEEN_ALL, NULL);
    mqtt_props_free(&pkt.u.suback.props);
    pool_free(&sp);
    free(codes);
}

static void on_unsubscribe(struct mosquitto *m, void *ud, int mid,
                           const mosquitto_property *props)
{
    conn_t *c = conn_of(ud);
    if (!c)
        return;
    mid_qos mq = {0};
    if (!mid_take(c, mid, &mq))
        mq.nfilters = 1;
    mqtt_packet pkt = {.type = MQTT_UNSUBACK, .version = c->version};
    pkt.u.suback.packet_id = (uint16_t)mid;
    uint8_t *codes = NULL;
    if (c->version == MQTT_V5) {
        /* A 5.0 UNSUBACK carries one code per filter, but libmosquitto 2.0.11
         * reads none: placeholders keep the packet well formed, and the seen
         * bits say they are not the broker's. */
        codes = calloc(mq.nfilters ? mq.nfilters : 1, 1);
        if (!codes)
            return;
        pkt.u.suback.reasons = codes;
        pkt.u.suback.count = mq.nfilters ? mq.nfilters : 1;
    }
    strpool sp = {0};
    from_mosq_props(props, &pkt.u.suback.props, &sp);
    if (c->version == MQTT_V5)
        observe_packet(c, &pkt, OBS_SEEN_PACKET_ID,
                       "reason codes unknown: libmosquitto 2.0.11 does not report them");
    else
        observe_packet(c, &pkt, OBS_SEEN_PACKET_ID | OBS_SEEN_REASON_CODES, NULL);
    mqtt_props_free(&pkt.u.suback.props);
    pool_free(&sp);
    free(codes);
}

/* The log is the only place libmosquitto 2.0.11 says that a DISCONNECT packet
 * arrived: on_disconnect then gets the packet's reason code as its rc, which for
 * 0x00 cannot be told from a clean local close nor, for small codes, from a
 * MOSQ_ERR_* value. The line is "Received DISCONNECT (142)" (no "Client X", unlike
 * the others: "Client X received CONNACK (0)"). The log is also the only trace
 * of PINGRESP. */
static void on_log(struct mosquitto *m, void *ud, int level, const char *line)
{
    conn_t *c = conn_of(ud);
    if (!c || !line)
        return;
    static const char disc[] = "Received DISCONNECT";
    if (strncmp(line, disc, sizeof disc - 1) == 0) {
        queue_trace(c, TRACE_IN, "%s", line);
        c->peer_disconnect = true;
        const char *paren = strchr(line, '(');
        c->peer_reason = paren ? atoi(paren + 1) : 0;
        return;
    }
    /* "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify
     * failed": the code names the error; the SSL object, still alive while
     * the library logs, has the certificate verdict. */
    if (strstr(line, "host name verification failed") && !c->tls_error[0])
        snprintf(c->tls_error, sizeof c->tls_error,
                 "hostname mismatch (libmosquitto: host name verification failed)");
    static const char ossl[] = "OpenSSL Error";
    if (strncmp(line, ossl, sizeof ossl - 1) == 0 && !c->tls_error[0]) {
        const char *code = strstr(line, "error:");
        unsigned long e = code ? strtoul(code + 6, NULL, 16) : 0;
        SSL *ssl = mosquitto_ssl_get(m);
        long vr = ssl && !c->insecure ? SSL_get_verify_result(ssl) : X509_V_OK;
        xp_tls_explain(vr, e, c->tls_error, sizeof c->tls_error);
    }
    const char *s = strstr(line, " sending ");
    const char *r = strstr(line, " received ");
    bool is_client_line = strncmp(line, "Client ", 7) == 0;
    trace_dir dir = TRACE_NOTE;
    if (is_client_line && s && (!r || s < r))
        dir = TRACE_OUT;
    else if (is_client_line && r)
        dir = TRACE_IN;
    queue_trace(c, dir, "%s", line);
    if (dir == TRACE_IN && strncmp(r + strlen(" received "), "PINGRESP", 8) == 0) {
        mqtt_packet pkt = {.type = MQTT_PINGRESP, .version = c->version};
        observe_packet(c, &pkt, OBS_SEEN_ALL, NULL);
    }
}

/* ---- loop entry points -------------------------------------------------- */

/* Some failures (a TLS handshake error found while writing, for one) make
 * libmosquitto return an error without calling on_disconnect, sometimes with the
 * socket still open. Without this the connection would hang silently. */
static void after_call(conn_t *c, int rc, int err)
{
    if (c->closed || !c->mosq)
        return;
    int fd = mosquitto_socket(c->mosq);
    if (rc <= 0 && fd >= 0)
        return;
    unwatch(c);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* no DISCONNECT: the session is already broken */
    close_obs(c, rc > 0 ? rc : MOSQ_ERR_CONN_LOST, err);
    queue_trace(c, TRACE_NOTE, "connection closed (libmosquitto returned %d: %s, without a "
                               "disconnect callback)", rc, mosquitto_strerror(rc));
    c->closed = true;
}

static void read_ready(conn_t *c)
{
    /* TLS can hold decrypted records the socket no longer signals: keep reading
     * while OpenSSL has some, within a bound. */
    for (int round = 0; round < READ_BATCH && c->mosq && !c->closed; round++) {
        errno = 0;
        int rc = mosquitto_loop_read(c->mosq, READ_BATCH);
        after_call(c, rc, errno);
        SSL *ssl = c->closed ? NULL : mosquitto_ssl_get(c->mosq);
        if (!ssl || SSL_pending(ssl) <= 0)
            break;
    }
}

static void on_fd(loop_t *loop, int fd, int events, void *ud)
{
    conn_t *c = ud;
    if (c->free_pending)
        return;
    c->busy++;
    if ((events & LOOP_READ) && !c->closed)
        read_ready(c);
    if ((events & LOOP_WRITE) && !c->closed && mosquitto_socket(c->mosq) >= 0) {
        errno = 0;
        int rc = mosquitto_loop_write(c->mosq, READ_BATCH);
        after_call(c, rc, errno);
    }
    rewatch(c);
    flush(c);
    c->busy--;
    leave(c);
}

static void on_misc(loop_t *loop, void *ud)
{
    conn_t *c = ud;
    c->misc_timer = 0;
    if (c->free_pending || c->closed)
        return;
    c->busy++;
    errno = 0;
    int rc = mosquitto_loop_misc(c->mosq);
    /* loop_misc returns NO_CONN while a connect is still pending: not a close. */
    after_call(c, rc == MOSQ_ERR_NO_CONN ? MOSQ_ERR_SUCCESS : rc, errno);
    rewatch(c);
    flush(c);
    if (!c->closed && !c->free_pending)
        c->misc_timer = loop_timer_at(c->loop, loop_now_ms() + MISC_PERIOD_MS, on_misc, c);
    c->busy--;
    leave(c);
}

/* ---- open ---------------------------------------------------------------- */

static bool lib_ready;

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    return -1;
}

static int set_will(conn_t *c, const mqtt_connect *cp, char *err, size_t errcap)
{
    if (!cp->will)
        return 0;
    if (has_nul(cp->will_topic))
        return fail(err, errcap, "a Will topic with NUL is not supported by the mosquitto driver");
    mosquitto_property *wp = NULL;
    if (c->version == MQTT_V5 && to_mosq_props(&cp->will_props, &wp, err, errcap) != 0)
        return -1;
    if (c->version != MQTT_V5 && cp->will_props.count > 0)
        return fail(err, errcap, "Will properties need MQTT 5.0");
    char *topic = bytes_dup(cp->will_topic);
    int rc = topic ? mosquitto_will_set_v5(c->mosq, topic, (int)cp->will_payload.len,
                                           cp->will_payload.data, cp->will_qos, cp->will_retain,
                                           wp)
                   : MOSQ_ERR_NOMEM;
    free(topic);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* On success the library owns wp; on failure it is still ours. */
        mosquitto_property_free_all(&wp);
        return fail(err, errcap, "Will not accepted by libmosquitto: %s", mosquitto_strerror(rc));
    }
    return 0;
}

static int set_credentials(conn_t *c, const mqtt_connect *cp, char *err, size_t errcap)
{
    if (!cp->has_username && !cp->has_password)
        return 0;
    if ((cp->has_username && has_nul(cp->username)) || (cp->has_password && has_nul(cp->password)))
        return fail(err, errcap, "a user name or password with NUL is not supported by the "
                                 "mosquitto driver");
    char *u = cp->has_username ? bytes_dup(cp->username) : NULL;
    char *p = cp->has_password ? bytes_dup(cp->password) : NULL;
    int rc = mosquitto_username_pw_set(c->mosq, u, p);
    free(u);
    free(p);
    if (rc != MOSQ_ERR_SUCCESS)
        return fail(err, errcap, "user name / password not accepted by libmosquitto: %s",
                    mosquitto_strerror(rc));
    return 0;
}

static int set_tls(conn_t *c, const target_t *t, char *err, size_t errcap)
{
    if (!t->tls)
        return 0;
    c->insecure = t->insecure;
    bool have_ca = t->cafile || t->capath;
    if (!have_ca)
        mosquitto_int_option(c->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    /* libmosquitto checks the host name in its own verify callback; a
     * mismatch makes OpenSSL say only "unspecified", and the log says it. */
    if (t->tls_version == 12) {
        /* libmosquitto's "tlsv1.2" still allows 1.3, and its defaults
         * applied to a context of ours break its own verify callback (2.0.11:
         * every certificate fails as "unspecified"). So for 1.2 only, the
         * context is wholly ours: CAs, client certificate, host check. */
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
            return fail(err, errcap, "TLS setup: SSL_CTX_new failed");
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
        bool ok = true;
        if (t->insecure) {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
            ok = (!have_ca ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, t->cafile, t->capath)) == 1;
            unsigned char b[16];
            X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
            bool ip = inet_pton(AF_INET, t->host, b) == 1 || inet_pton(AF_INET6, t->host, b) == 1;
            ok = ok && (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->host)
                           : X509_VERIFY_PARAM_set1_host(vp, t->host, 0)) == 1;
        }
        if (ok && t->certfile)
            ok = SSL_CTX_use_certificate_chain_file(ctx, t->certfile) == 1 &&
                 SSL_CTX_use_PrivateKey_file(ctx, t->keyfile ? t->keyfile : t->certfile,
                                             SSL_FILETYPE_PEM) == 1;
        if (ok && t->alpn) {
            unsigned char wire[256];
            size_t n = strlen(t->alpn);
            wire[0] = (unsigned char)n;
            memcpy(wire + 1, t->alpn, n);
            ok = SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n + 1) == 0;
        }
        int r = ok ? mosquitto_void_option(c->mosq, MOSQ_OPT_SSL_CTX, ctx) : MOSQ_ERR_TLS;
        SSL_CTX_free(ctx);      /* the library holds its own reference */
        if (r == MOSQ_ERR_SUCCESS)
            r = mosquitto_int_option(c->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (r != MOSQ_ERR_SUCCESS)
            return fail(err, errcap, "TLS setup (TLS 1.2 context): %s", mosquitto_strerror(r));
    }
    /* 2.0.11 insists on a CA file or directory even with the system's CAs:
     * name OpenSSL's default directory then. */
    int rc = mosquitto_tls_set(c->mosq, t->cafile,
                               have_ca ? t->capath : X509_get_default_cert_dir(), t->certfile,
                               t->keyfile, NULL);
    if (t->tls_version == 12)
        /* Stored, not applied: our context is used as it is. */
        return rc == MOSQ_ERR_SUCCESS ? 0 : fail(err, errcap, "TLS setup: %s", mosquitto_strerror(rc));
    const char *version = t->tls_version == 13 ? "tlsv1.3" : "tlsv1.2";
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(c->mosq, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                                    version, NULL);
    if (rc == MOSQ_ERR_SUCCESS && t->insecure)
        rc = mosquitto_tls_insecure_set(c->mosq, true);
    if (rc == MOSQ_ERR_SUCCESS && t->alpn)
        rc = mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, t->alpn);
    if (rc != MOSQ_ERR_SUCCESS)
        return fail(err, errcap, "TLS setup: %s", mosquitto_strerror(rc));
    return 0;
}

/* Connects without blocking on the network and with our CONNECT properties.
 * libmosquitto 2.0.11 has no asynchronous connect that takes properties, but
 * mosquitto_connect_bind_v5 stores its properties on the client before checking
 * its arguments, and the asynchronous connect sends the stored ones. So a call
 * with an invalid port stores them without connecting. (Verified on the wire.) */
static int start_connect(conn_t *c, const conn_params *params, char *err, size_t errcap)
{
    const target_t *t = params->target;
    int keepalive = params->connect.keep_alive;
    if (c->version == MQTT_V5) {
        mosquitto_property *cp = NULL;
        if (to_mosq_props(&params->connect.props, &cp, err, errcap) != 0)
            return -1;
        int rc = mosquitto_connect_bind_v5(c->mosq, t->host, -1, keepalive, NULL, cp);
        mosquitto_property_free_all(&cp);
        if (rc != MOSQ_ERR_INVAL)
            return fail(err, errcap, "CONNECT properties not accepted by libmosquitto: %s",
                        mosquitto_strerror(rc));
    } else if (params->connect.props.count > 0) {
        return fail(err, errcap, "CONNECT properties need MQTT 5.0");
    }
    queue_trace(c, TRACE_NOTE, "libmosquitto: connecting to %s:%d%s", t->host, t->port,
                t->tls ? " (TLS)" : "");
    errno = 0;
    int rc = mosquitto_connect_bind_async(c->mosq, t->host, t->port, keepalive, NULL);
    int e = errno;
    if (rc == MOSQ_ERR_SUCCESS)
        return 0;
    if (rc == MOSQ_ERR_ERRNO) {
        /* Refused or unreachable is an outcome to observe, not a failure to open. */
        queue_obs(c, obs_closed(e == ECONNREFUSED ? CLOSE_REFUSED : CLOSE_ERROR, "%s",
                                strerror(e)));
        queue_trace(c, TRACE_NOTE, "connect failed: %s", strerror(e));
        c->closed = true;
        return 0;
    }
    if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_TLS_HANDSHAKE) {
        /* On loopback the handshake can fail inside the connect call; the
         * log has already said why. */
        if (c->tls_error[0])
            queue_obs(c, obs_closed(CLOSE_TLS, "TLS: %s", c->tls_error));
        else
            queue_obs(c, obs_closed(CLOSE_TLS, "%s", mosquitto_strerror(rc)));
        c->closed = true;
        return 0;
    }
    return fail(err, errcap, "libmosquitto connect: %s", mosquitto_strerror(rc));
}

static conn_t *mosq_open(loop_t *loop, const conn_params *params, conn_sink sink, char *err,
                         size_t errcap)
{
    if (!lib_ready) {
        mosquitto_lib_init();
        lib_ready = true;
    }
    const mqtt_connect *cp = &params->connect;
    if (params->protocol != MQTT_V5 && params->protocol != MQTT_V311) {
        fail(err, errcap, "protocol level %u not supported by the mosquitto driver",
             params->protocol);
        return NULL;
    }
    if (has_nul(cp->client_id)) {
        fail(err, errcap, "a client id with NUL is not supported by the mosquitto driver");
        return NULL;
    }
    if (cp->client_id.len == 0 && (params->protocol != MQTT_V5 || !cp->clean_start)) {
        /* With no id, libmosquitto makes one up for 3.1.1 and refuses clean start 0. */
        fail(err, errcap, "an empty client id needs MQTT 5.0 and clean start with the "
                          "mosquitto driver");
        return NULL;
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        fail(err, errcap, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->sink = sink;
    c->version = params->protocol;
    c->fd = -1;
    c->client_id = cp->client_id.len ? bytes_dup(cp->client_id) : NULL;
    if (cp->client_id.len && !c->client_id) {
        fail(err, errcap, "out of memory");
        free(c);
        return NULL;
    }
    /* A fresh client per connection: an old one would resend its in-flight
     * messages even when the broker said Session Present 0. */
    c->mosq = mosquitto_new(c->client_id, cp->clean_start, c);
    if (!c->mosq) {
        fail(err, errcap, "mosquitto_new: %s", strerror(errno));
        free(c->client_id);
        free(c);
        return NULL;
    }
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         c->version == MQTT_V5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_log_callback_set(c->mosq, on_log);
    mosquitto_connect_v5_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(c->mosq, on_publish);
    mosquitto_message_v5_callback_set(c->mosq, on_message);
    mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe);
    mosquitto_unsubscribe_v5_callback_set(c->mosq, on_unsubscribe);

    if (set_tls(c, params->target, err, errcap) != 0 || set_will(c, cp, err, errcap) != 0 ||
        set_credentials(c, cp, err, errcap) != 0 || start_connect(c, params, err, errcap) != 0) {
        c->closed = true;
        conn_destroy(c);
        return NULL;
    }
    rewatch(c);
    if (!c->closed)
        c->misc_timer = loop_timer_at(loop, loop_now_ms() + MISC_PERIOD_MS, on_misc, c);
    schedule_flush(c);
    return c;
}

/* ---- send ---------------------------------------------------------------- */

static int not_supported(const mqtt_packet *pkt, char *err, size_t errcap)
{
    return fail(err, errcap, "sending %s is not supported by the mosquitto driver",
                mqtt_type_name(pkt->type));
}

static int send_publish(conn_t *c, mqtt_publish *p, char *err, size_t errcap)
{
    if (p->qos > 2)
        return fail(err, errcap, "QoS %u not supported by the mosquitto driver", p->qos);
    if (p->dup)
        return fail(err, errcap, "a PUBLISH with DUP 1 is not supported by the mosquitto driver");
    if (mqtt_props_find(&p->props, MQTT_PROP_TOPIC_ALIAS))
        return fail(err, errcap, "Topic Alias is not supported by the mosquitto driver");
    if (has_nul(p->topic))
        return fail(err, errcap, "a topic with NUL is not supported by the mosquitto driver");
    if (c->version != MQTT_V5 && p->props.count > 0)
        return fail(err, errcap, "PUBLISH properties need MQTT 5.0");
    mosquitto_property *mp = NULL;
    if (to_mosq_props(&p->props, &mp, err, errcap) != 0)
        return -1;
    char *topic = bytes_dup(p->topic);
    int mid = 0;
    int rc = topic ? mosquitto_publish_v5(c->mosq, &mid, topic, (int)p->payload.len,
                                          p->payload.data, p->qos, p->retain, mp)
                   : MOSQ_ERR_NOMEM;
    free(topic);
    mosquitto_property_free_all(&mp);
    if (rc != MOSQ_ERR_SUCCESS)
        return fail(err, errcap, "libmosquitto refused the PUBLISH: %s", mosquitto_strerror(rc));
    p->packet_id = p->qos > 0 ? (uint16_t)mid : 0;
    if (p->qos > 0 && mid_remember(c, mid, p->qos, 0) != 0)
        return fail(err, errcap, "out of memory");
    return 0;
}

/* Filters as C strings, for the *_multiple calls. */
static char **filters_dup(const mqtt_bytes *f, const mqtt_sub *s, uint32_t n)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        mqtt_bytes b = f ? f[i] : s[i].filter;
        if (has_nul(b) || !(v[i] = bytes_dup(b))) {
            for (uint32_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static void filters_free(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int send_subscribe(conn_t *c, mqtt_subscribe *s, char *err, size_t errcap)
{
    if (s->count == 0)
        return fail(err, errcap, "an empty SUBSCRIBE is not supported by the mosquitto driver");
    /* libmosquitto puts one options byte on every filter of a SUBSCRIBE. */
    const mqtt_sub *s0 = &s->subs[0];
    for (uint32_t i = 1; i < s->count; i++) {
        const mqtt_sub *e = &s->subs[i];
        if (e->qos != s0->qos || e->no_local != s0->no_local ||
            e->retain_as_published != s0->retain_as_published ||
            e->retain_handling != s0->retain_handling)
            return fail(err, errcap, "different QoS or options per filter are not supported by "
                                     "the mosquitto driver");
    }
    int options = 0;
    if (c->version == MQTT_V5) {
        options = (s0->no_local ? SUBOPT_NO_LOCAL : 0) |
                  (s0->retain_as_published ? SUBOPT_RETAIN_AS_PUBLISHED : 0) |
                  (s0->retain_handling << SUBOPT_RETAIN_HANDLING_SHIFT);
    } else if (s0->no_local || s0->retain_as_published || s0->retain_handling) {
        return fail(err, errcap, "subscription options need MQTT 5.0");
    }
    if (c->version != MQTT_V5 && s->props.count > 0)
        return fail(err, errcap, "SUBSCRIBE properties need MQTT 5.0");
    mosquitto_property *mp = NULL;
    if (to_mosq_props(&s->props, &mp, err, errcap) != 0)
        return -1;
    char **v = filters_dup(NULL, s->subs, s->count);
    int mid = 0;
    int rc = v ? mosquitto_subscribe_multiple(c->mosq, &mid, (int)s->count, v, s0->qos, options,
                                              mp)
               : MOSQ_ERR_INVAL;
    filters_free(v, s->count);
    mosquitto_property_free_all(&mp);
    if (rc != MOSQ_ERR_SUCCESS)
        return fail(err, errcap, "libmosquitto refused the SUBSCRIBE: %s",
                    mosquitto_strerror(rc));
    s->packet_id = (uint16_t)mid;
    return 0;
}

static int send_unsubscribe(conn_t *c, mqtt_unsubscribe *u, char *err, size_t errcap)
{
    if (u->count == 0)
        return fail(err, errcap, "an empty UNSUBSCRIBE is not supported by the mosquitto driver");
    if (c->version != MQTT_V5 && u->props.count > 0)
        return fail(err, errcap, "UNSUBSCRIBE properties need MQTT 5.0");
    mosquitto_property *mp = NULL;
    if (to_mosq_props(&u->props, &mp, err, errcap) != 0)
        return -1;
    char **v = filters_dup(u->filters, NULL, u->count);
    int mid = 0;
    int rc = v ? mosquitto_unsubscribe_multiple(c->mosq, &mid, (int)u->count, v, mp)
               : MOSQ_ERR_INVAL;
    filters_free(v, u->count);
    mosquitto_property_free_all(&mp);
    if (rc != MOSQ_ERR_SUCCESS)
        return fail(err, errcap, "libmosquitto refused the UNSUBSCRIBE: %s",
                    mosquitto_strerror(rc));
    u->packet_id = (uint16_t)mid;
    if (mid_remember(c, mid, 0, u->count) != 0)
        return fail(err, errcap, "out of memory");
    return 0;
}

static int send_disconnect(conn_t *c, mqtt_disconnect *d, char *err, size_t errcap)
{
    if (c->version != MQTT_V5 && (d->props.count > 0 || d->reason != 0))
        return fail(err, errcap, "a DISCONNECT reason or properties need MQTT 5.0");
    mosquitto_property *mp = NULL;
    if (to_mosq_props(&d->props, &mp, err, errcap) != 0)
        return -1;
    c->we_disconnect = true;
    /* The library writes DISCONNECT, then closes the socket and calls
     * on_disconnect, which reports CLOSE_BY_US. */
    int rc = mosquitto_disconnect_v5(c->mosq, d->reason, mp);
    mosquitto_property_free_all(&mp);
    if (rc != MOSQ_ERR_SUCCESS) {
        c->we_disconnect = false;
        return fail(err, errcap, "libmosquitto refused the DISCONNECT: %s",
                    mosquitto_strerror(rc));
    }
    return 0;
}

/* libmosquitto sends PINGREQ only for keep alive and has no call for one on
 * demand. With nothing queued, the two bytes can go straight out: the library
 * is between packets and takes the PINGRESP as its own. Over TLS they go
 * through the library's own SSL object, as one record of their own; bytes on
 * the raw socket would corrupt the record stream. */
static int send_pingreq(conn_t *c, char *err, size_t errcap)
{
    SSL *ssl = mosquitto_ssl_get(c->mosq);
    static const uint8_t ping[2] = {0xC0, 0x00};
    if (ssl) {
        if (mosquitto_want_write(c->mosq))
            return fail(err, errcap, "PINGREQ while libmosquitto has output queued is not "
                                     "supported by the mosquitto driver");
        ERR_clear_error();
        int w = SSL_write(ssl, ping, sizeof ping);
        if (w != (int)sizeof ping) {
            /* A partial TLS write would have to be retried with the same
             * buffer, which the library would not do: the connection is
             * unusable, say so rather than guess. */
            char why[200];
            xp_tls_explain(X509_V_OK, ERR_peek_last_error(), why, sizeof why);
            ERR_clear_error();
            return fail(err, errcap, "PINGREQ not written over TLS (SSL error %d: %s)",
                        SSL_get_error(ssl, w), why);
        }
        queue_trace(c, TRACE_OUT, "PINGREQ (written by the driver beside libmosquitto, TLS)");
        return 0;
    }
    if (mosquitto_want_write(c->mosq))
        return fail(err, errcap, "PINGREQ while libmosquitto has output queued is not "
                                 "supported by the mosquitto driver");
    int fd = mosquitto_socket(c->mosq);
    ssize_t n = send(fd, ping, sizeof ping, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != (ssize_t)sizeof ping)
        return fail(err, errcap, "PINGREQ not written: %s",
                    n < 0 ? strerror(errno) : "short write");
    queue_trace(c, TRACE_OUT, "PINGREQ (written by the driver beside libmosquitto)");
    return 0;
}

static int mosq_send(conn_t *c, mqtt_packet *pkt, char *err, size_t errcap)
{
    if (!c || c->free_pending)
        return fail(err, errcap, "connection freed");
    if (c->closed || !c->mosq || mosquitto_socket(c->mosq) < 0)
        return fail(err, errcap, "not connected");
    if (pkt->version && pkt->version != c->version)
        return fail(err, errcap, "packet coded for another protocol level than the connection");
    int rc;
    switch (pkt->type) {
    case MQTT_PUBLISH:
        rc = send_publish(c, &pkt->u.publish, err, errcap);
        break;
    case MQTT_SUBSCRIBE:
        rc = send_subscribe(c, &pkt->u.subscribe, err, errcap);
        break;
    case MQTT_UNSUBSCRIBE:
        rc = send_unsubscribe(c, &pkt->u.unsubscribe, err, errcap);
        break;
    case MQTT_DISCONNECT:
        rc = send_disconnect(c, &pkt->u.disconnect, err, errcap);
        break;
    case MQTT_PINGREQ:
        rc = send_pingreq(c, err, errcap);
        break;
    default:
        return not_supported(pkt, err, errcap);
    }
    rewatch(c);
    schedule_flush(c);
    return rc;
}

static int mosq_send_bytes(conn_t *c, const uint8_t *bytes, size_t len, char *err, size_t errcap)
{
    return fail(err, errcap, "sending raw bytes is not supported by the mosquitto driver");
}

/* ---- drop and free -------------------------------------------------------- */

/* Reads and discards what the broker already sent: closing a socket with unread
 * data makes the kernel send RST instead of FIN. */
static void drain(int fd)
{
    char buf[4096];
    for (int i = 0; i < 256; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0)
            break;
    }
}

static void mosq_drop(conn_t *c, bool reset)
{
    if (!c || c->free_pending || c->closed)
        return;
    /* No RST (no CAP_RESET): a reset request closes with FIN as well. The library
     * is destroyed rather than told to disconnect, so it sends no DISCONNECT. */
    int fd = mosquitto_socket(c->mosq);
    unwatch(c);
    c->closed = true;
    if (fd >= 0) {
        drain(fd);
        shutdown(fd, SHUT_WR);
    }
    struct mosquitto *m = c->mosq;
    c->mosq = NULL;
    mosquitto_user_data_set(m, NULL);
    mosquitto_destroy(m);
    queue_trace(c, TRACE_NOTE, "connection dropped by us (FIN, no DISCONNECT)%s",
                reset ? "; RST is not available with libmosquitto" : "");
    queue_obs(c, obs_closed(CLOSE_BY_US, "dropped without DISCONNECT"));
    if (c->misc_timer) {
        loop_timer_cancel(c->loop, c->misc_timer);
        c->misc_timer = 0;
    }
    schedule_flush(c);
}

static void conn_destroy(conn_t *c)
{
    unwatch(c);
    loop_timer_cancel(c->loop, c->misc_timer);
    loop_timer_cancel(c->loop, c->flush_timer);
    c->closed = true;
    if (c->mosq) {
        /* Detach first: nothing the library does while closing reaches us. */
        mosquitto_user_data_set(c->mosq, NULL);
        mosquitto_destroy(c->mosq);
        c->mosq = NULL;
    }
    while (c->head) {
        event_t *e = c->head;
        c->head = e->next;
        event_free(e);
    }
    free(c->mids);
    free(c->client_id);
    free(c);
}

static void mosq_free(conn_t *c)
{
    if (!c)
        return;
    if (c->busy > 0) {
        c->free_pending = true;
        return;
    }
    conn_destroy(c);
}

const driver_t driver_mosquitto = {
    .name = "mosquitto",
    .caps = 0,
    .open = mosq_open,
    .send = mosq_send,
    .send_bytes = mosq_send_bytes,
    .drop = mosq_drop,
    .free = mosq_free,
};
