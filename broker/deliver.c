/* deliver.c -- getting one session's copies of messages onto its connection.
 *
 * What it is for: the rules that decide what is sent when. A session has two
 * lists. `queue` holds copies never sent, in arrival order. `inflight` holds
 * QoS 1/2 copies sent and not yet acknowledged, in send order, each with the
 * packet id it was sent with. deliver_pump() sends from both:
 *
 *   1. in-flight copies not yet sent on *this* connection -- which can only
 *      happen after a resume, because `on_wire` is cleared only when a
 *      connection closes -- are resent: PUBLISH with DUP 1 and the original
 *      packet id, or PUBREL for those past PUBREC [MQTT-4.4.0-1]. That is the
 *      only retransmission there is: never on a live connection.
 *   2. then queued copies, DUP 0, with new packet ids; expired ones are dropped
 *      [MQTT-3.3.2-5].
 *
 * Both stop at the send quota: the client's Receive Maximum of *this*
 * connection (and the server's max_inflight), counting the in-flight copies
 * sent on it [MQTT-3.3.4-9], [MQTT-4.9.0-1/2]. Copies bigger than the client's
 * Maximum Packet Size are dropped as if delivered [MQTT-3.1.2-25].
 *
 * What it is not: routing (subs.c decides which sessions get a copy and with
 * which QoS) or the inbound side (handle_publish.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void dl_push(struct dlist *l, struct delivery *d)
{
    d->next = NULL;
    d->prev = l->tail;
    if (l->tail)
        l->tail->next = d;
    else
        l->head = d;
    l->tail = d;
    l->count++;
}

static void dl_push_front(struct dlist *l, struct delivery *d)
{
    d->prev = NULL;
    d->next = l->head;
    if (l->head)
        l->head->prev = d;
    else
        l->tail = d;
    l->head = d;
    l->count++;
}

static void dl_unlink(struct dlist *l, struct delivery *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        l->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        l->tail = d->prev;
    l->count--;
    d->next = d->prev = NULL;
}

static struct delivery *dl_pop(struct dlist *l)
{
    struct delivery *d = l->head;
    if (d)
        dl_unlink(l, d);
    return d;
}

static void delivery_free(struct delivery *d)
{
    msg_unref(d->m);
    free(d);
}

static void dlist_free(struct dlist *l)
{
    struct delivery *d;
    while ((d = dl_pop(l)))
        delivery_free(d);
}

/* The in-flight list, its packet id index and its counters change together. */
static void inflight_add(struct session *s, struct delivery *d)
{
    dl_push(&s->inflight, d);
    pidmap_add(s, d, s->inflight.count);
    s->on_wire += d->on_wire;
}

static void inflight_remove(struct session *s, struct delivery *d)
{
    if (s->resend_next == d)
        s->resend_next = d->next;
    s->on_wire -= d->on_wire;
    dl_unlink(&s->inflight, d);
    pidmap_remove(s, d, s->inflight.count);
}

void deliver_free_session(struct session *s)
{
    dlist_free(&s->inflight);
    dlist_free(&s->queue);
    pidmap_free(s);
    s->on_wire = 0;
    s->resend_next = NULL;
}

void deliver_connection_lost(struct session *s)
{
    for (struct delivery *d = s->inflight.head; d; d = d->next)
        d->on_wire = false;
    s->on_wire = 0;
    s->resend_next = s->inflight.head;
}

struct dlist deliver_take_inflight(struct session *s)
{
    struct dlist l = s->inflight;
    s->inflight = (struct dlist){0};
    pidmap_free(s);
    s->on_wire = 0;
    s->resend_next = NULL;
    return l;
}

void deliver_give_inflight(struct session *s, struct dlist *l)
{
    struct delivery *d;
    while ((d = dl_pop(l))) {
        d->on_wire = false;
        inflight_add(s, d);
    }
    s->resend_next = s->inflight.head;
}

static void props_copy(mqtt_props *dst, const mqtt_props *src)
{
    for (uint32_t i = 0; i < src->count; i++) {
        const mqtt_prop *p = &src->items[i];
        int t = mqtt_prop_type(p->id), rc;
        if (t == MQTT_PT_PAIR)
            rc = mqtt_props_add_pair(dst, p->str, p->str2);
        else if (t == MQTT_PT_STRING || t == MQTT_PT_BINARY)
            rc = mqtt_props_add_bytes(dst, p->id, p->str);
        else
            rc = mqtt_props_add_num(dst, p->id, p->num);
        if (rc != 0)
            die_oom();
    }
}

/* `first` is false for a retransmission, which repeats the first send's
 * Message Expiry Interval: the message has already left the queue, so no
 * expiry applies to it any more [MQTT-4.3.3-7]. */
static enum send_result send_publish(struct conn *c, struct delivery *d, bool dup, bool first)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.version = c->version;
    mqtt_publish *pub = &p.u.publish;
    pub->dup = d->qos > 0 && dup;       /* [MQTT-3.3.1-2]: never on QoS 0 */
    pub->qos = d->qos;
    pub->retain = d->retain;
    pub->topic = (mqtt_bytes){(const uint8_t *)d->m->topic, d->m->topic_len};
    pub->packet_id = d->qos ? d->packet_id : 0;
    pub->payload = (mqtt_bytes){d->m->payload, d->m->payload_len};
    if (c->version == MQTT_V5) {
        props_copy(&pub->props, &d->m->props);
        if (d->m->has_expiry) {
            if (first)
                d->sent_expiry = defect_on(D_EXPIRY_NOT_DECREMENTED)
                                     ? d->m->expiry
                                     : msg_remaining_expiry(d->m, ev_now());
            if (mqtt_props_add_num(&pub->props, MQTT_PROP_MESSAGE_EXPIRY, d->sent_expiry))
                die_oom();
        }
        for (uint32_t i = 0; i < d->nsubids; i++)
            if (mqtt_props_add_num(&pub->props, MQTT_PROP_SUBSCRIPTION_ID, d->subids[i]))
                die_oom();
    }
    enum send_result r = conn_send(c, &p);
    mqtt_props_free(&pub->props);
    if (r == SEND_TOO_BIG)
        log_info("%s: dropped PUBLISH on %s: larger than the client's Maximum Packet Size %u",
                 c->client_id, d->m->topic, c->client_max_packet);
    if (r == SEND_OK && d->qos > 0)
        d->sent_at = ev_now();
    return r;
}

static void send_pubrel(struct conn *c, uint16_t id, uint8_t reason)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBREL;
    p.version = c->version;
    p.u.ack.packet_id = id;
    p.u.ack.reason = reason;
    p.u.ack.has_reason = reason != 0;
    conn_send(c, &p);
}

/* A new copy of m at the end of s's queue. */
static struct delivery *queue_copy(struct session *s, struct msg *m, uint8_t qos, bool retain,
                                   const uint32_t *subids, uint32_t nsubids)
{
    /* offsetof, not sizeof: the tail padding would push a copy with one
     * identifier into the next allocation size. */
    struct delivery *d = xcalloc(1, offsetof(struct delivery, subids) + nsubids * sizeof d->subids[0]);
    d->m = msg_ref(m);
    d->qos = qos;
    d->retain = retain;
    d->state = D_QUEUED;
    d->nsubids = nsubids;
    if (nsubids)
        memcpy(d->subids, subids, nsubids * sizeof subids[0]);
    dl_push(&s->queue, d);
    return d;
}

void deliver_to_session(struct session *s, struct msg *m, uint8_t qos, bool retain,
                        const uint32_t *subids, uint32_t nsubids, uint32_t share)
{
    if (!s->conn) {
        /* Offline: QoS 1/2 are always kept [MQTT-3.1.2-23], M3 [MQTT-3.1.2-5];
         * QoS 0 only when configured (§4.1 "OPTIONALLY"). */
        if (qos == 0 && !cfg.queue_qos0)
            return;
        if (defect_on(D_OFFLINE_QUEUE_DROPPED))
            return;
    }
    if (msg_expired(m, ev_now()) && !defect_on(D_MESSAGE_EXPIRY_IGNORED))
        return;
    if (s->queue.count >= cfg.max_queued_messages) {
        /* Drop the newest: what is already queued keeps its order and the
         * publisher is not slowed down by one slow session. */
        if (s->dropped++ % 100 == 0)
            log_warn("%s: queue full (%u messages): dropped a QoS %u message on %s (%llu dropped so far)",
                     s->id, s->queue.count, qos, m->topic, (unsigned long long)s->dropped);
        return;
    }
    struct delivery *d = queue_copy(s, m, qos, retain, subids, nsubids);
    d->share = share;
    if (store_on)
        store_delivery_queued(s, d);
    deliver_pump(s);
}

struct delivery *deliver_restore(struct session *s, struct msg *m, uint8_t qos, bool retain,
                                 const uint32_t *subids, uint32_t nsubids)
{
    return queue_copy(s, m, qos, retain, subids, nsubids);
}

void deliver_restore_state(struct session *s, struct delivery *d, uint8_t state,
                           uint16_t packet_id, uint32_t sent_expiry)
{
    if (d->state == D_QUEUED) {
        dl_unlink(&s->queue, d);
        d->packet_id = packet_id;
        d->on_wire = false;
        inflight_add(s, d);
    } else if (d->packet_id != packet_id) {
        pidmap_remove(s, d, s->inflight.count - 1);
        d->packet_id = packet_id;
        pidmap_add(s, d, s->inflight.count);
    }
    d->state = state;
    d->sent_expiry = sent_expiry;
}

void deliver_restore_drop(struct session *s, struct delivery *d)
{
    if (d->state == D_QUEUED)
        dl_unlink(&s->queue, d);
    else
        inflight_remove(s, d);
    delivery_free(d);
}

static uint32_t send_quota(const struct conn *c)
{
    return c->client_receive_max < cfg.max_inflight ? c->client_receive_max : cfg.max_inflight;
}

void deliver_pump(struct session *s)
{
    struct conn *c = s->conn;
    if (!c || !c->connected || c->closing)
        return;
    bool unlimited = defect_on(D_RECEIVE_MAXIMUM_IGNORED);
    uint32_t limit = send_quota(c);
    struct delivery *d;

    /* 1. Resume: what an earlier connection left unacknowledged. Everything
     * before resend_next is on the wire already. */
    for (d = s->resend_next; d;) {
        if (d->on_wire) {
            d = d->next;
            continue;
        }
        if (d->state == D_RELEASED) {
            if (!defect_on(D_NO_PUBREL_RESEND))
                send_pubrel(c, d->packet_id, 0);
            d->on_wire = true;
            s->on_wire++;
            d = d->next;
            continue;
        }
        if (s->on_wire >= limit && !unlimited) {
            s->resend_next = d;
            return;         /* nothing may overtake it (D-07) */
        }
        if (defect_on(D_NEW_PACKET_ID_ON_REDELIVERY)) {
            pidmap_remove(s, d, s->inflight.count - 1);
            d->packet_id = session_next_packet_id(s);
            pidmap_add(s, d, s->inflight.count);
            if (store_on)
                store_delivery_state(s, d);
        }
        enum send_result r = send_publish(c, d, !defect_on(D_NO_DUP_ON_REDELIVERY), false);
        if (r == SEND_FAILED) {
            s->resend_next = d;
            return;
        }
        struct delivery *next = d->next;
        if (r == SEND_TOO_BIG) {
            if (store_on)
                store_delivery_done(s, d);
            inflight_remove(s, d);
            delivery_free(d);
        } else {
            d->on_wire = true;
            s->on_wire++;
        }
        d = next;
    }
    s->resend_next = NULL;

    /* 2. First sends, in arrival order. */
    uint64_t now = ev_now();
    while ((d = s->queue.head)) {
        if (msg_expired(d->m, now) && !defect_on(D_MESSAGE_EXPIRY_IGNORED)) {
            log_debug("%s: message on %s expired while queued", s->id, d->m->topic);
            if (store_on)
                store_delivery_done(s, d);
            delivery_free(dl_pop(&s->queue));
            continue;
        }
        if (d->qos > 0 && s->on_wire >= limit && !unlimited)
            break;
        dl_pop(&s->queue);
        if (d->qos > 0)
            d->packet_id = session_next_packet_id(s);
        enum send_result r = send_publish(c, d, false, true);
        if (r == SEND_FAILED) {
            dl_push_front(&s->queue, d);
            return;
        }
        if (r == SEND_TOO_BIG || d->qos == 0) {
            if (store_on)
                store_delivery_done(s, d);
            delivery_free(d);
            continue;
        }
        d->state = D_SENT;
        d->on_wire = true;
        inflight_add(s, d);
        if (store_on)
            store_delivery_state(s, d);
    }
}

void deliver_ack(struct session *s, uint8_t type, uint16_t id, uint8_t reason)
{
    struct delivery *d = pidmap_find(s, id);
    struct conn *c = s->conn;

    switch (type) {
    case MQTT_PUBACK:
        if (!d || d->qos != 1) {
            log_debug("%s: PUBACK for unknown packet id %u", s->id, id);
            return;
        }
        break;
    case MQTT_PUBREC:
        if (d && d->qos == 2 && d->state == D_RELEASED) {
            send_pubrel(c, id, 0);      /* a repeated PUBREC gets the same answer */
            return;
        }
        if (!d || d->qos != 2) {
            send_pubrel(c, id, c->version == MQTT_V5 ? MQTT_RC_PACKET_ID_NOT_FOUND : 0);
            return;
        }
        if (reason < 0x80) {
            d->state = D_RELEASED;
            if (store_on)
                store_delivery_state(s, d);
            send_pubrel(c, id, 0);
            return;
        }
        break;      /* a PUBREC >= 0x80 acknowledges: never retransmit [MQTT-4.4.0-2] */
    case MQTT_PUBCOMP:
        if (!d || d->state != D_RELEASED) {
            log_debug("%s: PUBCOMP for unknown packet id %u", s->id, id);
            return;
        }
        break;
    default:
        return;
    }
    if (store_on)
        store_delivery_done(s, d);
    inflight_remove(s, d);
    delivery_free(d);
    deliver_pump(s);
}

/* Only for the resend-on-live-connection defect: what a broker with a retry
 * timer does, and what [MQTT-4.4.0-1] forbids. */
void deliver_retry(struct session *s)
{
    struct conn *c = s->conn;
    if (!c || c->closing)
        return;
    uint64_t now = ev_now();
    for (struct delivery *d = s->inflight.head; d; d = d->next)
        if (d->on_wire && d->state == D_SENT && now - d->sent_at >= 2000)
            send_publish(c, d, true, false);
}
