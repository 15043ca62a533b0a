/* soak.c -- the engine of `mqspec soak` (soak.h): sessions, publishers, the
 * cycle, and the checks of every message.
 *
 * What it is for: one process plays every client on the harness loop
 * (loop.h) over non-blocking sockets and the mqtt/ codec, so thousands of
 * sessions cost a few file descriptors' worth of memory each. Output is
 * buffered per connection and written once per loop iteration.
 *
 * The cycle: (setup, once) every session connects with a fresh id, expects
 * Session Present 0, subscribes to its own topic and disconnects. Then per
 * cycle: the publishers send `messages` numbered messages to every session's
 * topic and wait for every acknowledgement (PUBACK / PUBCOMP); the sessions
 * resume (Session Present 1 expected), receive half of their queue, are cut
 * off without DISCONNECT, resume again, drain the rest and disconnect.
 *
 * A session keeps, across its connections, what the client side of a session
 * must keep: the QoS 2 packet ids it has answered with PUBREC and not yet seen
 * PUBREL for ([MQTT-4.3.3-9]'s method B: a PUBLISH again with such an id is
 * the same message, not a new one). Everything else is checked against the
 * message numbers in the payloads.
 *
 * What it is not: the scenario runner. Nothing here produces a per-statement
 * verdict or a trace; a broker that misbehaves shows up in the counters.
 */
#include "soak.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../mqtt/mqtt.h"
#include "bulkconn.h"
#include "loop.h"

#define SESSION_EXPIRY 3600
#define TICK_MS 250
#define CONNACK_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_MS 5000
#define MAX_RECONNECTS 3         /* per session and cycle, after an unexpected close */

typedef struct soak soak_t;

/* ---- the clients ------------------------------------------------------------------ */

typedef enum sess_state { SS_IDLE, SS_CONNECTING, SS_SUBSCRIBING, SS_DRAINING, SS_CLOSING } sess_state;

typedef struct session {
    bulk_conn c;
    uint32_t index;
    char id[24];
    char topic[96];
    sess_state st;
    bool resubscribe;           /* the session was lost: subscribe again, then leave */
    bool dropped;               /* cut off already in this cycle */
    int reconnects;             /* after unexpected closes, this cycle */
    uint32_t got;               /* distinct messages of this cycle received */
    int64_t since;              /* when the current state began, or the last message */
    uint8_t *seen;              /* bit per message number: received */
    uint8_t *acked;             /* bit per message number: the broker acknowledged its publish */
    uint32_t *last;             /* per (publisher, QoS): highest message number + 1 received */
    uint16_t *rel;              /* QoS 2 ids answered with PUBREC, awaiting PUBREL */
    uint32_t n_rel, cap_rel;
} session;

typedef struct slot {
    bool used;
    uint8_t qos;
    uint32_t session, msg;
} slot;

typedef struct publisher {
    bulk_conn c;
    uint32_t index;
    char id[24];
    bool ready;                 /* CONNACK accepted */
    uint32_t window;
    slot *slots;                /* by packet id - 1 */
    uint16_t *free_ids;
    uint32_t n_free;
    uint32_t per_session;       /* messages per session and cycle that are this publisher's */
    uint64_t cursor, total;     /* this cycle */
} publisher;

typedef enum phase { PH_CONNECT, PH_SETUP, PH_PUBLISH, PH_RESUME, PH_END } phase_t;

struct soak {
    const soak_params *p;
    soak_result *r;
    loop_t *loop;
    session *s;
    publisher *pub;
    uint32_t nbits;             /* message numbers per session: cycles * messages */
    bulk_pool pool;
    phase_t phase;
    uint32_t cycle;             /* 1-based in PH_PUBLISH / PH_RESUME */
    uint32_t next;              /* next session to start in this phase */
    uint32_t open, connecting;  /* subscriber connections */
    uint32_t done;              /* sessions through this phase */
    uint64_t acked_cycle, total_cycle;
    uint64_t delivered_before;  /* r->delivered at the start of the cycle */
    uint32_t stalled;           /* sessions that gave up draining, this cycle */
    bool finished;
    int64_t started, deadline, phase_started, cycle_started;
};

static void note_error(soak_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note_error(soak_t *k, const char *fmt, ...)
{
    k->r->errors++;
    if (k->r->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->r->first_error, sizeof k->r->first_error, fmt, ap);
    va_end(ap);
}

static bool bit_get(const uint8_t *b, uint32_t i)
{
    return (b[i >> 3] >> (i & 7)) & 1;
}

static void bit_set(uint8_t *b, uint32_t i)
{
    b[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* ---- connections (bulkconn.h) --------------------------------------------------- */

static soak_t *soak_of(const bulk_conn *c)
{
    return c->pool->ud;
}

static const bulk_ops session_ops, publisher_ops;

static void on_pool_error(bulk_pool *pool, const char *what)
{
    note_error(pool->ud, "%s", what);
}

/* ---- message numbers ------------------------------------------------------------ */

/* Message k (0-based) of a session in a cycle is sent by publisher k mod P;
 * with both QoS, each publisher alternates between them. */
static uint8_t qos_of(const soak_t *k, uint32_t kk)
{
    if (k->p->qos != 3)
        return (uint8_t)k->p->qos;
    return (kk / k->p->publishers) % 2 ? 2 : 1;
}

static int payload_of(char *out, size_t cap, uint32_t si, uint32_t msg, uint32_t pub, uint8_t qos)
{
    return snprintf(out, cap, "soak s=%u m=%u p=%u q=%u", si, msg, pub, qos);
}

/* ---- sessions --------------------------------------------------------------------- */

static void fill_sessions(soak_t *k);
static void phase_done(soak_t *k);

static void session_offline(soak_t *k, session *s)
{
    bulk_shut(&s->c);
    if (s->st == SS_CONNECTING && k->connecting > 0)
        k->connecting--;
    s->st = SS_IDLE;
    k->open--;
    k->done++;
    fill_sessions(k);
    if (k->done == k->p->sessions && k->open == 0)
        phase_done(k);
}

static void session_connect(soak_t *k, session *s)
{
    s->since = loop_now_ms();
    if (bulk_open(&s->c, &k->pool, &session_ops, s) != 0) {
        note_error(k, "session %s: cannot connect: %s", s->id, strerror(errno));
        s->st = SS_CONNECTING;      /* so that offline does the bookkeeping */
        k->connecting++;
        session_offline(k, s);
        return;
    }
    s->st = SS_CONNECTING;
    k->connecting++;
}

static void session_leave(soak_t *k, session *s)
{
    bulk_send_disconnect(&s->c);
    s->st = SS_CLOSING;
    s->since = loop_now_ms();
}

static void session_check_done(soak_t *k, session *s)
{
    if (s->st == SS_DRAINING && s->got >= k->p->messages && s->n_rel == 0)
        session_leave(k, s);
}

static void s_on_open(bulk_conn *c)
{
    session *s = c->ud;
    soak_t *k = soak_of(c);
    bool setup = k->phase == PH_SETUP;
    bulk_send_connect(c, s->id, setup && k->p->protocol == MQTT_V5, SESSION_EXPIRY, 0);
}

static void subscribe(session *s)
{
    soak_t *k = soak_of(&s->c);
    mqtt_sub sub = {.filter = mqtt_str(s->topic), .qos = k->p->qos == 1 ? 1 : 2};
    sub.options = sub.qos;
    mqtt_packet p = {.type = MQTT_SUBSCRIBE, .version = k->p->protocol};
    p.u.subscribe.packet_id = 1;
    p.u.subscribe.subs = &sub;
    p.u.subscribe.count = 1;
    bulk_send(&s->c, &p);
    s->st = SS_SUBSCRIBING;
}

static void record(soak_t *k, session *s, const mqtt_publish *pub)
{
    char text[96];
    size_t n = pub->payload.len < sizeof text - 1 ? pub->payload.len : sizeof text - 1;
    memcpy(text, pub->payload.data, n);
    text[n] = '\0';
    unsigned sess, msg, pi, q;
    if (sscanf(text, "soak s=%u m=%u p=%u q=%u", &sess, &msg, &pi, &q) != 4 || sess != s->index ||
        msg >= k->nbits || pi >= k->p->publishers || (q != 1 && q != 2)) {
        note_error(k, "session %s: a message that is not one of this session's: \"%s\"", s->id, text);
        return;
    }
    if (pub->qos != q) {
        note_error(k, "session %s: message %u published at QoS %u arrived at QoS %u", s->id, msg, q,
                   pub->qos);
        return;
    }
    if (bit_get(s->seen, msg)) {
        if (q == 2)
            k->r->dup_q2++;
        else if (pub->dup)
            k->r->redelivered_q1++;
        else
            k->r->dup_q1_no_dup++;
        return;
    }
    bit_set(s->seen, msg);
    k->r->delivered++;
    if (msg / k->p->messages == k->cycle - 1)
        s->got++;
    uint32_t *last = &s->last[pi * 2 + (q == 2)];
    if (msg + 1 < *last)
        k->r->out_of_order++;
    else
        *last = msg + 1;
}

static bool rel_has(const session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_rel; i++)
        if (s->rel[i] == id)
            return true;
    return false;
}

static void rel_add(soak_t *k, session *s, uint16_t id)
{
    if (s->n_rel == s->cap_rel) {
        uint32_t cap = s->cap_rel ? s->cap_rel * 2 : 8;
        uint16_t *r = realloc(s->rel, cap * sizeof *r);
        if (!r) {
            note_error(k, "out of memory");
            return;
        }
        s->rel = r;
        s->cap_rel = cap;
    }
    s->rel[s->n_rel++] = id;
}

static void rel_remove(session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_rel; i++)
        if (s->rel[i] == id) {
            s->rel[i] = s->rel[--s->n_rel];
            return;
        }
}

/* Half way through its queue, a session's connection is cut without
 * DISCONNECT, just after a PUBLISH arrived and before it is acknowledged.
 * The acks so far go out first, so that the broker holds a mix: messages
 * acknowledged, QoS 2 ones PUBREC'd awaiting PUBREL, one received but not
 * acknowledged (it must come again: DUP 1, QoS 2 with the same packet id),
 * and any sent but not yet read. Returns true when it was cut. */
static bool cut_off(soak_t *k, session *s)
{
    bulk_conn *c = &s->c;
    if (!k->p->drop || s->dropped || k->p->messages < 2 || s->got < k->p->messages / 2 ||
        s->got >= k->p->messages)
        return false;
    s->dropped = true;
    k->r->drops++;
    bulk_flush(c);
    if (c->fd < 0)
        return true;    /* the write failed: s_on_close has taken over */
    bulk_shut(c);
    s->st = SS_IDLE;
    session_connect(k, s);
    return true;
}

static void s_on_packet(bulk_conn *c, const mqtt_packet *p)
{
    session *s = c->ud;
    soak_t *k = soak_of(c);
    switch (p->type) {
    case MQTT_CONNACK: {
        if (s->st != SS_CONNECTING) {
            note_error(k, "session %s: a CONNACK it did not ask for", s->id);
            return;
        }
        k->connecting--;
        s->st = SS_DRAINING;        /* until decided below */
        s->since = loop_now_ms();
        const mqtt_connack *a = &p->u.connack;
        if (a->reason != 0) {
            note_error(k, "session %s: CONNACK 0x%02X %s", s->id, a->reason,
                       mqtt_reason_name(a->reason, MQTT_CONNACK, p->version));
            s->st = SS_CLOSING;
            session_offline(k, s);
            return;
        }
        if (k->phase == PH_SETUP) {
            if (a->session_present)
                note_error(k, "session %s: Session Present 1 for a client id never used before", s->id);
            subscribe(s);
            return;
        }
        k->r->resumes++;
        if (!a->session_present) {
            /* Its subscription and queue are gone: what it should have got
             * is counted lost at the end. Subscribe again for the next cycles. */
            k->r->session_lost++;
            s->n_rel = 0;
            s->resubscribe = true;
            subscribe(s);
            return;
        }
        session_check_done(k, s);
        return;
    }
    case MQTT_SUBACK: {
        uint8_t want = k->p->qos == 1 ? 1 : 2;
        uint8_t got = p->u.suback.count ? p->u.suback.reasons[0] : 0x80;
        if (got >= 0x80 || got < want)
            note_error(k, "session %s: SUBACK granted 0x%02X for QoS %u", s->id, got, want);
        if (k->phase == PH_SETUP || s->resubscribe) {
            s->resubscribe = false;
            session_leave(k, s);
        } else {
            s->st = SS_DRAINING;
        }
        return;
    }
    case MQTT_PUBLISH: {
        const mqtt_publish *pub = &p->u.publish;
        s->since = loop_now_ms();
        if (pub->qos == 2) {
            if (!rel_has(s, pub->packet_id)) {
                record(k, s, pub);
                rel_add(k, s, pub->packet_id);
            }
        } else {
            record(k, s, pub);
        }
        if (s->st == SS_DRAINING && cut_off(k, s))
            return;
        if (pub->qos)
            bulk_send_ack(c, pub->qos == 2 ? MQTT_PUBREC : MQTT_PUBACK, pub->packet_id);
        break;
    }
    case MQTT_PUBREL:
        s->since = loop_now_ms();
        rel_remove(s, p->u.ack.packet_id);
        bulk_send_ack(c, MQTT_PUBCOMP, p->u.ack.packet_id);
        break;
    case MQTT_DISCONNECT:
        note_error(k, "session %s: DISCONNECT 0x%02X %s from the broker", s->id, p->u.disconnect.reason,
                   mqtt_reason_name(p->u.disconnect.reason, MQTT_DISCONNECT, p->version));
        return;
    default:
        note_error(k, "session %s: an unexpected %s", s->id, mqtt_type_name(p->type));
        return;
    }
    if (s->st == SS_DRAINING)
        session_check_done(k, s);
}

static void s_on_close(bulk_conn *c, const char *why)
{
    session *s = c->ud;
    soak_t *k = soak_of(c);
    if (s->st == SS_CLOSING) {
        session_offline(k, s);
        return;
    }
    note_error(k, "session %s: connection lost (%s)", s->id, why);
    if (s->st == SS_CONNECTING && k->connecting > 0)
        k->connecting--;
    s->st = SS_IDLE;
    if (k->phase == PH_RESUME && ++s->reconnects <= MAX_RECONNECTS) {
        session_connect(k, s);
        return;
    }
    s->st = SS_CLOSING;
    session_offline(k, s);
}

static const bulk_ops session_ops = {s_on_open, s_on_packet, s_on_close};

/* Starts sessions while the connection window allows. */
static void fill_sessions(soak_t *k)
{
    if (k->phase != PH_SETUP && k->phase != PH_RESUME)
        return;
    while (k->next < k->p->sessions && k->open < k->p->connections && k->connecting < k->p->pending) {
        session *s = &k->s[k->next++];
        s->got = 0;
        s->dropped = false;
        s->reconnects = 0;
        k->open++;
        session_connect(k, s);
    }
}

/* ---- publishers --------------------------------------------------------------------- */

static void pump(soak_t *k, publisher *pb)
{
    if (!pb->ready || pb->c.fd < 0)
        return;
    uint32_t cyc = k->cycle - 1;
    while (pb->n_free > 0 && pb->cursor < pb->total) {
        uint32_t si = (uint32_t)(pb->cursor / pb->per_session);
        uint32_t kk = pb->index + (uint32_t)(pb->cursor % pb->per_session) * k->p->publishers;
        pb->cursor++;
        uint32_t msg = cyc * k->p->messages + kk;
        uint8_t qos = qos_of(k, kk);
        uint16_t id = pb->free_ids[--pb->n_free];
        slot *sl = &pb->slots[id - 1];
        *sl = (slot){.used = true, .qos = qos, .session = si, .msg = msg};
        char payload[96];
        int len = payload_of(payload, sizeof payload, si, msg, pb->index, qos);
        mqtt_packet p = {.type = MQTT_PUBLISH, .version = k->p->protocol};
        p.u.publish.topic = mqtt_str(k->s[si].topic);
        p.u.publish.payload = (mqtt_bytes){(const uint8_t *)payload, (uint32_t)len};
        p.u.publish.qos = qos;
        p.u.publish.packet_id = id;
        bulk_send(&pb->c, &p);
    }
}

static void publish_check_done(soak_t *k)
{
    if (k->phase != PH_PUBLISH)
        return;
    for (uint32_t i = 0; i < k->p->publishers; i++) {
        const publisher *pb = &k->pub[i];
        if (pb->cursor < pb->total || pb->n_free < pb->window)
            return;
    }
    phase_done(k);
}

static void p_on_open(bulk_conn *c)
{
    publisher *pb = c->ud;
    bulk_send_connect(c, pb->id, true, -1, 0);
}

static void free_slot(publisher *pb, uint16_t id)
{
    pb->slots[id - 1].used = false;
    pb->free_ids[pb->n_free++] = id;
}

static void p_on_packet(bulk_conn *c, const mqtt_packet *p)
{
    publisher *pb = c->ud;
    soak_t *k = soak_of(c);
    if (p->type == MQTT_CONNACK) {
        if (p->u.connack.reason != 0) {
            note_error(k, "publisher %s: CONNACK 0x%02X %s", pb->id, p->u.connack.reason,
                       mqtt_reason_name(p->u.connack.reason, MQTT_CONNACK, p->version));
            return;
        }
        const mqtt_prop *rm = mqtt_props_find(&p->u.connack.props, MQTT_PROP_RECEIVE_MAXIMUM);
        uint32_t window = k->p->window;
        if (rm && rm->num < window)
            window = rm->num ? rm->num : 1;
        pb->window = window;
        pb->n_free = 0;
        for (uint32_t i = window; i >= 1; i--)
            pb->free_ids[pb->n_free++] = (uint16_t)i;
        pb->ready = true;
        uint32_t ready = 0;
        for (uint32_t i = 0; i < k->p->publishers; i++)
            ready += k->pub[i].ready;
        if (k->phase == PH_CONNECT && ready == k->p->publishers)
            phase_done(k);
        return;
    }
    if (p->type != MQTT_PUBACK && p->type != MQTT_PUBREC && p->type != MQTT_PUBCOMP) {
        note_error(k, "publisher %s: an unexpected %s", pb->id, mqtt_type_name(p->type));
        return;
    }
    uint16_t id = p->u.ack.packet_id;
    slot *sl = id >= 1 && id <= pb->window ? &pb->slots[id - 1] : NULL;
    uint8_t want_qos = p->type == MQTT_PUBACK ? 1 : 2;
    if (!sl || !sl->used || sl->qos != want_qos) {
        note_error(k, "publisher %s: %s for packet id %u, which awaits no such ack", pb->id,
                   mqtt_type_name(p->type), id);
        return;
    }
    if (p->u.ack.reason >= 0x80) {
        note_error(k, "publisher %s: %s 0x%02X %s", pb->id, mqtt_type_name(p->type), p->u.ack.reason,
                   mqtt_reason_name(p->u.ack.reason, p->type, p->version));
        free_slot(pb, id);
    } else if (p->type == MQTT_PUBREC) {
        bulk_send_ack(c, MQTT_PUBREL, id);
        return;
    } else {
        bit_set(k->s[sl->session].acked, sl->msg);
        k->r->published++;
        if (sl->qos == 1)
            k->r->published_q1++;
        else
            k->r->published_q2++;
        k->acked_cycle++;
        free_slot(pb, id);
    }
    pump(k, pb);
    publish_check_done(k);
}

static void p_on_close(bulk_conn *c, const char *why)
{
    publisher *pb = c->ud;
    soak_t *k = soak_of(c);
    /* Publishers are not the subject: without one the cycle cannot go on. */
    note_error(k, "publisher %s: connection lost (%s)", pb->id, why);
    pb->ready = false;
    k->finished = true;
}

static const bulk_ops publisher_ops = {p_on_open, p_on_packet, p_on_close};

/* ---- the cycle -------------------------------------------------------------------- */

static void progress(soak_t *k, bool final_line)
{
    const soak_params *p = k->p;
    if (!p->progress || (!final_line && !p->tty))
        return;
    soak_result *r = k->r;
    char line[300];
    double t = (loop_now_ms() - k->started) / 1000.0;
    if (k->phase == PH_CONNECT || k->phase == PH_SETUP)
        snprintf(line, sizeof line, "setup: %u/%u sessions subscribed, %.1f s", k->done, p->sessions, t);
    else if (final_line)
        snprintf(line, sizeof line,
                 "cycle %u/%u: published %llu, delivered %llu, QoS 2 dup %llu, QoS 1 redelivered %llu, "
                 "out of order %llu, session lost %llu, errors %llu, %.1f s (cycle %.1f s)",
                 k->cycle, p->cycles, (unsigned long long)k->acked_cycle,
                 (unsigned long long)(r->delivered - k->delivered_before),
                 (unsigned long long)r->dup_q2, (unsigned long long)r->redelivered_q1,
                 (unsigned long long)r->out_of_order, (unsigned long long)r->session_lost,
                 (unsigned long long)r->errors, t, (loop_now_ms() - k->cycle_started) / 1000.0);
    else if (k->phase == PH_PUBLISH)
        snprintf(line, sizeof line, "cycle %u/%u: publishing %llu/%llu, %.1f s", k->cycle, p->cycles,
                 (unsigned long long)k->acked_cycle, (unsigned long long)k->total_cycle, t);
    else
        snprintf(line, sizeof line, "cycle %u/%u: resuming, %u/%u sessions drained, %llu delivered, %.1f s",
                 k->cycle, p->cycles, k->done, p->sessions,
                 (unsigned long long)(r->delivered - k->delivered_before), t);
    if (p->tty)
        fprintf(p->progress, "\r\033[K%s%s", line, final_line ? "\n" : "");
    else
        fprintf(p->progress, "%s\n", line);
    fflush(p->progress);
}

static void start_phase(soak_t *k, phase_t ph)
{
    k->phase = ph;
    k->phase_started = loop_now_ms();
    k->next = k->done = 0;
    if (ph == PH_PUBLISH) {
        k->cycle++;
        k->cycle_started = loop_now_ms();
        k->acked_cycle = 0;
        k->total_cycle = 0;
        k->stalled = 0;
        k->delivered_before = k->r->delivered;
        for (uint32_t i = 0; i < k->p->publishers; i++) {
            publisher *pb = &k->pub[i];
            pb->cursor = 0;
            pb->total = (uint64_t)pb->per_session * k->p->sessions;
            k->total_cycle += pb->total;
        }
        for (uint32_t i = 0; i < k->p->publishers; i++)
            pump(k, &k->pub[i]);
        publish_check_done(k);
    } else if (ph == PH_SETUP || ph == PH_RESUME) {
        fill_sessions(k);
        if (k->p->sessions == 0)
            phase_done(k);
    }
}

static void phase_done(soak_t *k)
{
    switch (k->phase) {
    case PH_CONNECT:
        start_phase(k, PH_SETUP);
        break;
    case PH_SETUP:
        progress(k, true);
        if (k->p->cycles == 0) {
            k->phase = PH_END;
            k->finished = true;
        } else {
            start_phase(k, PH_PUBLISH);
        }
        break;
    case PH_PUBLISH:
        start_phase(k, PH_RESUME);
        break;
    case PH_RESUME:
        k->r->cycles_done = k->cycle;
        progress(k, true);
        if (k->cycle >= k->p->cycles) {
            k->phase = PH_END;
            k->finished = true;
        } else {
            start_phase(k, PH_PUBLISH);
        }
        break;
    case PH_END:
        break;
    }
}

/* Stalls and deadlines, and the progress line on a terminal. */
static void on_tick(loop_t *loop, void *ud)
{
    soak_t *k = ud;
    int64_t now = loop_now_ms();
    if (now >= k->deadline) {
        k->r->deadline_hit = true;
        k->finished = true;
        return;
    }
    if (k->phase == PH_SETUP || k->phase == PH_RESUME) {
        for (uint32_t i = 0; i < k->p->sessions; i++) {
            session *s = &k->s[i];
            int64_t idle = now - s->since;
            if (s->st == SS_CONNECTING && idle > CONNACK_TIMEOUT_MS) {
                note_error(k, "session %s: no CONNACK within %d s", s->id, CONNACK_TIMEOUT_MS / 1000);
                session_offline(k, s);
            } else if (s->st == SS_SUBSCRIBING && idle > CONNACK_TIMEOUT_MS) {
                note_error(k, "session %s: no SUBACK within %d s", s->id, CONNACK_TIMEOUT_MS / 1000);
                s->st = SS_CLOSING;
                session_offline(k, s);
            } else if (s->st == SS_DRAINING && idle > k->p->idle_ms) {
                /* What did not come is counted lost at the end, unless a
                 * later cycle brings it. */
                k->stalled++;
                note_error(k, "session %s: nothing for %.1f s with %u of %u messages of cycle %u and %u "
                              "PUBREL awaited",
                           s->id, k->p->idle_ms / 1000.0, s->got, k->p->messages, k->cycle, s->n_rel);
                session_leave(k, s);
            } else if (s->st == SS_CLOSING && idle > CLOSE_TIMEOUT_MS) {
                session_offline(k, s);
            }
        }
    }
    if (k->finished)
        return;
    progress(k, false);
    loop_timer_at(loop, now + TICK_MS, on_tick, k);
}

/* ---- the run ----------------------------------------------------------------------- */

static void free_all(soak_t *k)
{
    for (uint32_t i = 0; k->s && i < k->p->sessions; i++) {
        session *s = &k->s[i];
        bulk_free(&s->c);
        free(s->seen);
        free(s->acked);
        free(s->last);
        free(s->rel);
    }
    for (uint32_t i = 0; k->pub && i < k->p->publishers; i++) {
        publisher *pb = &k->pub[i];
        bulk_free(&pb->c);
        free(pb->slots);
        free(pb->free_ids);
    }
    free(k->s);
    free(k->pub);
    bulk_pool_free(&k->pool);
    loop_free(k->loop);
}

int soak_run(const soak_params *p, soak_result *r)
{
    memset(r, 0, sizeof *r);
    soak_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(r->first_error, sizeof r->first_error, "out of memory");
        return -1;
    }
    k->p = p;
    k->r = r;
    k->loop = loop_new();
    k->nbits = p->cycles * p->messages;
    k->s = calloc(p->sessions ? p->sessions : 1, sizeof *k->s);
    k->pub = calloc(p->publishers, sizeof *k->pub);
    size_t bytes = (k->nbits + 7) / 8 + 1;
    bool ok = k->loop && k->s && k->pub;
    if (ok && bulk_pool_init(&k->pool, k->loop, p->host, p->port, p->protocol) != 0) {
        snprintf(r->first_error, sizeof r->first_error, "cannot use host %s: %s", p->host,
                 strerror(errno));
        free_all(k);
        free(k);
        return -1;
    }
    k->pool.ud = k;
    k->pool.on_error = on_pool_error;
    for (uint32_t i = 0; ok && i < p->sessions; i++) {
        session *s = &k->s[i];
        s->index = i;
        s->c.fd = -1;
        snprintf(s->id, sizeof s->id, "%.6ss%u", p->prefix, i);
        snprintf(s->topic, sizeof s->topic, "mqspec-soak/%s/%u", p->prefix, i);
        s->seen = calloc(bytes, 1);
        s->acked = calloc(bytes, 1);
        s->last = calloc((size_t)p->publishers * 2, sizeof *s->last);
        ok = s->seen && s->acked && s->last;
    }
    for (uint32_t i = 0; ok && i < p->publishers; i++) {
        publisher *pb = &k->pub[i];
        pb->index = i;
        pb->c.fd = -1;
        snprintf(pb->id, sizeof pb->id, "%.6sp%u", p->prefix, i);
        pb->per_session = i < p->messages ? (p->messages - i + p->publishers - 1) / p->publishers : 0;
        pb->slots = calloc(p->window, sizeof *pb->slots);
        pb->free_ids = calloc(p->window, sizeof *pb->free_ids);
        ok = pb->slots && pb->free_ids;
    }
    if (!ok) {
        snprintf(r->first_error, sizeof r->first_error, "out of memory for %u sessions", p->sessions);
        free_all(k);
        free(k);
        return -1;
    }
    k->started = loop_now_ms();
    k->deadline = k->started + (int64_t)p->deadline_s * 1000;
    k->phase = PH_CONNECT;
    for (uint32_t i = 0; i < p->publishers; i++) {
        if (bulk_open(&k->pub[i].c, &k->pool, &publisher_ops, &k->pub[i]) != 0) {
            note_error(k, "publisher %s: cannot connect: %s", k->pub[i].id, strerror(errno));
            k->finished = true;
        }
    }
    loop_timer_at(k->loop, k->started + TICK_MS, on_tick, k);
    while (!k->finished) {
        if (loop_once(k->loop, TICK_MS) < 0) {
            note_error(k, "poll: %s", strerror(errno));
            break;
        }
        bulk_flush_all(&k->pool);
    }
    if (r->deadline_hit && k->phase != PH_END)
        progress(k, true);
    /* Lost: acknowledged to its publisher, never delivered to its session. */
    for (uint32_t i = 0; i < p->sessions; i++)
        for (uint32_t m = 0; m < k->nbits; m++)
            if (bit_get(k->s[i].acked, m) && !bit_get(k->s[i].seen, m))
                r->lost++;
    r->wall_s = (loop_now_ms() - k->started) / 1000.0;
    free_all(k);
    free(k);
    return 0;
}

int soak_exit_code(const soak_result *r)
{
    return r->lost || r->dup_q2 || r->out_of_order || r->errors || r->session_lost || r->deadline_hit ||
                   r->dup_q1_no_dup
               ? 1
               : 0;
}
