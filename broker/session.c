/* session.c -- the session store: sessions keyed by client id, their lifetime.
 *
 * What it is for: §4.1's session state and the rules of when it exists. A
 * session is created by CONNECT, survives its connection for the Session
 * Expiry Interval counted from the *latest* close (a millisecond timer armed in
 * session_detach and stopped in session_attach), and ends at once when that
 * interval is 0. 0xFFFFFFFF, and 3.1.1 CleanSession 0, never expire.
 *
 * What it is not: the decisions of CONNECT (Clean Start, takeover, Session
 * Present: handle_connect.c), or what a session's lists contain (deliver.c,
 * subs.c, will.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static struct session **buckets;
static size_t nbuckets;
static uint32_t nsessions;
static struct session *all;

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;        /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h & (nbuckets - 1));
}

static void grow(void)
{
    size_t old = nbuckets;
    struct session **ob = buckets;
    nbuckets = old ? old * 2 : 256;
    buckets = xcalloc(nbuckets, sizeof *buckets);
    for (size_t i = 0; i < old; i++) {
        struct session *s = ob[i], *next;
        for (; s; s = next) {
            next = s->hnext;
            size_t b = bucket_of(s->id);
            s->hnext = buckets[b];
            buckets[b] = s;
        }
    }
    free(ob);
}

struct session *session_find(const char *id)
{
    if (!nbuckets)
        return NULL;
    for (struct session *s = buckets[bucket_of(id)]; s; s = s->hnext)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static void expiry_fire(void *arg)
{
    struct session *s = arg;
    log_info("%s: session expired", s->id);
    session_end(s);
}

struct session *session_new(const char *id)
{
    if (nsessions + 1 > nbuckets)
        grow();
    struct session *s = xcalloc(1, sizeof *s);
    s->id = xstrdup(id);
    ev_timer_init(&s->expiry_timer, expiry_fire, s);
    size_t b = bucket_of(id);
    s->hnext = buckets[b];
    buckets[b] = s;
    s->next = all;
    if (all)
        all->prev = s;
    all = s;
    nsessions++;
    return s;
}

static void unlink_session(struct session *s)
{
    struct session **pp = &buckets[bucket_of(s->id)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    nsessions--;
}

static void free_session(struct session *s)
{
    ev_timer_stop(&s->expiry_timer);
    deliver_free_session(s);
    free(s->subs);
    free(s->qos2_in);
    conn_aliases_free(s->carried_aliases);
    free(s->owner);
    free(s->id);
    free(s);
}

void session_end(struct session *s)
{
    if (s->conn) {
        s->conn->s = NULL;
        s->conn = NULL;
    }
    /* Out of the store and out of every subscription first: the Will that may
     * be published below must not be routed back into a dying session. */
    if (store_on)
        store_session_end(s);
    unlink_session(s);
    subs_remove_all(s);
    subs_redispatch(s);
    will_session_end(s);
    log_debug("%s: session ended", s->id);
    free_session(s);
}

void session_attach(struct session *s, struct conn *c)
{
    ev_timer_stop(&s->expiry_timer);
    s->conn = c;
    s->version = c->version;
    c->s = s;
    if (defect_on(D_TOPIC_ALIAS_CARRIED_OVER) && s->carried_aliases) {
        conn_aliases_free(c->aliases);
        c->aliases = s->carried_aliases;
        s->carried_aliases = NULL;
    }
}

void session_detach(struct session *s)
{
    struct conn *c = s->conn;
    s->conn = NULL;
    if (c)
        c->s = NULL;
    deliver_connection_lost(s);
    if (defect_on(D_TOPIC_ALIAS_CARRIED_OVER) && c && c->aliases) {
        conn_aliases_free(s->carried_aliases);
        s->carried_aliases = c->aliases;
        c->aliases = NULL;
    }

    if (store_on) {
        s->offline_wall = store_wall_ms();
        if (s->expiry != 0 && !defect_on(D_EXPIRE_IMMEDIATELY))
            store_session_offline(s);
    }
    if (defect_on(D_NO_WILL_ON_NETWORK_DROP))
        will_discard(s);
    if (s->expiry == 0 || defect_on(D_EXPIRE_IMMEDIATELY)) {
        /* §3.1.2.11.2: 0 (or absent) ends the session with its connection,
         * and with it any Will still waiting for its delay (E-09). */
        session_end(s);
        return;
    }
    will_connection_lost(s);
    if (s->expiry == MQTT_SESSION_EXPIRY_NEVER || defect_on(D_NEVER_EXPIRE))
        return;
    uint64_t delay = (uint64_t)s->expiry * 1000u;
    if (defect_on(D_EXPIRY_FROM_FIRST_CLOSE)) {
        uint64_t now = ev_now();
        if (!s->first_close)
            s->first_close = now;
        delay -= delay < now - s->first_close ? delay : now - s->first_close;
    }
    ev_timer_start(&s->expiry_timer, delay);
}

struct session *session_first(void)
{
    return all;
}

uint32_t session_count(void)
{
    return nsessions;
}

bool session_qos2_in_has(struct session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->nqos2_in; i++)
        if (s->qos2_in[i] == id)
            return true;
    return false;
}

int session_qos2_in_add(struct session *s, uint16_t id)
{
    if (s->nqos2_in == s->capqos2_in) {
        s->capqos2_in = s->capqos2_in ? s->capqos2_in * 2 : 8;
        s->qos2_in = xrealloc(s->qos2_in, s->capqos2_in * sizeof *s->qos2_in);
    }
    s->qos2_in[s->nqos2_in++] = id;
    return 0;
}

bool session_qos2_in_remove(struct session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->nqos2_in; i++) {
        if (s->qos2_in[i] == id) {
            s->qos2_in[i] = s->qos2_in[--s->nqos2_in];
            return true;
        }
    }
    return false;
}

uint16_t session_next_packet_id(struct session *s)
{
    /* [MQTT-2.2.1-4]: skip ids still in flight, including those carried over
     * from an earlier connection (D-08). */
    for (uint32_t tries = 0; tries < 65536; tries++) {
        uint16_t id = ++s->last_packet_id;
        if (id == 0)
            continue;
        if (!pidmap_find(s, id) || defect_on(D_PACKET_ID_IN_USE_REUSED))
            return id;
    }
    return s->last_packet_id ? s->last_packet_id : 1;
}

void session_discard(struct session *s)
{
    unlink_session(s);
    subs_remove_all(s);
    will_discard(s);
    free_session(s);
}

void session_resume_expiry(struct session *s, uint64_t elapsed_ms)
{
    if (s->expiry != MQTT_SESSION_EXPIRY_NEVER) {
        uint64_t total = (uint64_t)s->expiry * 1000u;
        if (elapsed_ms >= total) {
            if (s->expiry)
                log_info("%s: session expired while the broker was down", s->id);
            session_end(s);
            return;
        }
        ev_timer_start(&s->expiry_timer, total - elapsed_ms);
    }
    will_resume_timer(s, elapsed_ms);
}

void session_free_all(void)
{
    while (all) {
        struct session *s = all;
        unlink_session(s);
        subs_remove_all(s);
        will_discard(s);
        free_session(s);
    }
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
}
