/* will.c -- the Will Message: stored with the session, published when the
 * connection is lost, after the Will Delay Interval or when the session ends,
 * whichever is first (§3.1.3.2.2, [MQTT-3.1.2-8]).
 *
 * Who calls what:
 *   - DISCONNECT 0x00 (and every 3.1.1 DISCONNECT) calls will_discard before
 *     the close, so nothing is left to publish [MQTT-3.14.4-3].
 *   - any other close (no DISCONNECT, DISCONNECT 0x04, keep-alive timeout,
 *     protocol error, takeover) reaches will_connection_lost through
 *     session_detach: delay 0 publishes now, otherwise the delay timer starts.
 *   - a new connection resuming the session within the delay calls will_discard:
 *     that Will is never sent [MQTT-3.1.3-9].
 *   - a session ending (expiry, Clean Start 1, SEI 0) calls will_session_end,
 *     which publishes a waiting Will at once.
 *
 * What it is not: routing (subs.c) or retaining (retain.c), which a published
 * Will goes through like any PUBLISH.
 */
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdlib.h>

static struct will *orphans;    /* Wills outliving their session: defect only */

static void will_free(struct will *w)
{
    ev_timer_stop(&w->timer);
    msg_unref(w->m);
    free(w);
}

static void publish(struct will *w)
{
    struct msg *m = w->m;
    /* Its Message Expiry counts from publication, not from CONNECT. */
    m->received = ev_now();
    log_info("publishing Will of %s on %s", m->origin ? m->origin : "?", m->topic);
    if (defect_on(D_WILL_ALWAYS_RETAINED))
        m->retain = true;
    if (m->retain && !defect_on(D_WILL_RETAIN_IGNORED))
        retain_store(m);
    subs_route(m);
}

static void unorphan(struct will *w)
{
    for (struct will **pp = &orphans; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

static void delay_fire(void *arg)
{
    struct will *w = arg;
    if (w->owner) {
        w->owner->will = NULL;
        if (store_on)
            store_will(w->owner);
    } else
        unorphan(w);
    publish(w);
    will_free(w);
}

struct will *will_from_connect(const mqtt_connect *c, const char *client_id)
{
    if (!c->will)
        return NULL;
    struct will *w = xcalloc(1, sizeof *w);
    mqtt_props none = {0};
    w->m = msg_new(c->will_topic, c->will_payload, c->will_qos, c->will_retain,
                   defect_on(D_WILL_PROPERTIES_DROPPED) ? &none : &c->will_props,
                   client_id);
    const mqtt_prop *d = mqtt_props_find(&c->will_props, MQTT_PROP_WILL_DELAY);
    w->delay = d ? d->num : 0;
    ev_timer_init(&w->timer, delay_fire, w);
    return w;
}

/* The delay is over (or there is none): s's Will goes out and is gone. */
static void publish_now(struct session *s)
{
    struct will *w = s->will;
    s->will = NULL;
    if (store_on)
        store_will(s);
    publish(w);
    will_free(w);
}

void will_connection_lost(struct session *s)
{
    struct will *w = s->will;
    if (!w)
        return;
    if (w->delay == 0 || defect_on(D_WILL_DELAY_IGNORED)) {
        publish_now(s);
        return;
    }
    w->owner = s;
    ev_timer_start(&w->timer, (uint64_t)w->delay * 1000u);
}

void will_session_end(struct session *s)
{
    struct will *w = s->will;
    if (!w)
        return;
    s->will = NULL;
    if (broker_stopping) {
        will_free(w);
        return;
    }
    if (defect_on(D_WILL_AFTER_SESSION_END) && ev_timer_active(&w->timer)) {
        w->owner = NULL;
        w->next = orphans;
        orphans = w;
        return;
    }
    publish(w);
    will_free(w);
}

void will_discard(struct session *s)
{
    if (!s->will)
        return;
    will_free(s->will);
    s->will = NULL;
    if (store_on)
        store_will(s);
}

void will_restore(struct session *s, struct msg *m, uint32_t delay)
{
    struct will *w = xcalloc(1, sizeof *w);
    w->m = msg_ref(m);
    w->delay = delay;
    ev_timer_init(&w->timer, delay_fire, w);
    s->will = w;
}

void will_resume_timer(struct session *s, uint64_t elapsed_ms)
{
    struct will *w = s->will;
    if (!w)
        return;
    uint64_t delay = (uint64_t)w->delay * 1000u;
    if (elapsed_ms >= delay) {
        publish_now(s);
        return;
    }
    w->owner = s;
    ev_timer_start(&w->timer, delay - elapsed_ms);
}

void will_free_all(void)
{
    while (orphans) {
        struct will *w = orphans;
        orphans = w->next;
        will_free(w);
    }
}
