/* retain.c -- the retained message store, one message per topic.
 *
 * What it is for: PUBLISH with RETAIN 1 sets or replaces the topic's message;
 * an empty payload deletes it. A new subscription gets the matching ones with
 * RETAIN 1, per Retain Handling [MQTT-3.3.1-9..11]; shared subscriptions never
 * do (§4.8.2). Retained messages are not session state (M3 [MQTT-3.1.2.7]):
 * nothing here is touched when a session ends. An expired retained message is
 * dropped when it is next looked at.
 *
 * What it is not: fast. A list, scanned per SUBSCRIBE; the reference broker
 * favours obviousness over scale here.
 */
#include "broker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct retained {
    struct msg *m;
    struct retained *next;
};

static struct retained *store;

void retain_store(struct msg *m)
{
    if (store_on)
        store_retain(m);
    struct retained **pp = &store;
    while (*pp && strcmp((*pp)->m->topic, m->topic) != 0)
        pp = &(*pp)->next;
    if (*pp) {
        struct retained *r = *pp;
        if (m->payload_len == 0) {
            *pp = r->next;
            msg_unref(r->m);
            free(r);
            log_debug("retained message on %s deleted", m->topic);
            return;
        }
        msg_unref(r->m);
        r->m = msg_ref(m);
        return;
    }
    if (m->payload_len == 0)
        return;
    struct retained *r = xcalloc(1, sizeof *r);
    r->m = msg_ref(m);
    r->next = store;
    store = r;
}

void retain_deliver(struct session *s, const struct sub *sub)
{
    if (sub->group)
        return;
    uint64_t now = ev_now();
    struct retained **pp = &store;
    while (*pp) {
        struct retained *r = *pp;
        if (msg_expired(r->m, now)) {
            if (store_on) {
                struct msg *del = msg_new(mqtt_str(r->m->topic), (mqtt_bytes){NULL, 0}, 0, true,
                                          NULL, NULL);
                store_retain(del);
                msg_unref(del);
            }
            *pp = r->next;
            msg_unref(r->m);
            free(r);
            continue;
        }
        pp = &r->next;
        if (!mqtt_topic_matches(sub->match, (mqtt_bytes){(const uint8_t *)r->m->topic, r->m->topic_len}))
            continue;
        uint8_t qos = r->m->qos < sub->qos ? r->m->qos : sub->qos;
        deliver_to_session(s, r->m, qos, true, &sub->subid, sub->subid ? 1 : 0, 0);
    }
}

void retain_foreach(void (*fn)(struct msg *m))
{
    for (struct retained *r = store; r; r = r->next)
        fn(r->m);
}

void retain_free_all(void)
{
    while (store) {
        struct retained *r = store;
        store = r->next;
        msg_unref(r->m);
        free(r);
    }
}
