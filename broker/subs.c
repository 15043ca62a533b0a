/* subs.c -- subscriptions and routing: which sessions get a copy of a message.
 *
 * What it is for: each session keeps its own subscriptions (they are session
 * state, with their options and Subscription Identifier, §4.1). Routing walks
 * every session and, for the non-shared subscriptions that match, sends ONE
 * copy per session: at the maximum granted QoS of the matching subscriptions
 * [MQTT-3.3.4-2], carrying all their Subscription Identifiers [MQTT-3.3.4-4],
 * RETAIN kept if any of them has Retain As Published [MQTT-3.3.1-12], and
 * skipping those with No Local when the session published it [MQTT-3.8.3-3].
 *
 * Shared subscriptions ($share/GROUP/FILTER) are grouped in `shares`: each
 * message matching a group's filter goes to one member, round robin, preferring
 * members that are connected (§4.8.2). They are never merged with the member's
 * other subscriptions.
 *
 * What it is not: topic syntax and matching (mqtt_topic_matches in mqtt/), or
 * the retained messages sent on SUBSCRIBE (retain.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct share {
    char *group;
    char *filter;
    uint32_t filter_len;
    struct session **members;
    uint32_t n, cap;
    uint32_t next;
    struct share *link;
};

static struct share *shares;
static uint32_t *ids;           /* scratch: Subscription Identifiers of one copy */
static uint32_t capids;

static struct share *share_get(const char *group, mqtt_bytes filter, bool create)
{
    for (struct share *sh = shares; sh; sh = sh->link)
        if (strcmp(sh->group, group) == 0 && sh->filter_len == filter.len &&
            memcmp(sh->filter, filter.data, filter.len) == 0)
            return sh;
    if (!create)
        return NULL;
    struct share *sh = xcalloc(1, sizeof *sh);
    sh->group = xstrdup(group);
    sh->filter = xstrndup(filter.data, filter.len);
    sh->filter_len = filter.len;
    sh->link = shares;
    shares = sh;
    return sh;
}

static void share_free(struct share *sh)
{
    for (struct share **pp = &shares; *pp; pp = &(*pp)->link) {
        if (*pp == sh) {
            *pp = sh->link;
            break;
        }
    }
    free(sh->members);
    free(sh->group);
    free(sh->filter);
    free(sh);
}

static void share_leave(const struct sub *sub, struct session *s)
{
    struct share *sh = share_get(sub->group, sub->match, false);
    if (!sh)
        return;
    for (uint32_t i = 0; i < sh->n; i++) {
        if (sh->members[i] == s) {
            memmove(&sh->members[i], &sh->members[i + 1], (sh->n - i - 1) * sizeof sh->members[0]);
            sh->n--;
            break;
        }
    }
    if (sh->n == 0)
        share_free(sh);
}

struct sub *subs_find(struct session *s, mqtt_bytes filter)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        if (strlen(s->subs[i].filter) == filter.len &&
            memcmp(s->subs[i].filter, filter.data, filter.len) == 0)
            return &s->subs[i];
    return NULL;
}

struct sub *subs_add(struct session *s, const mqtt_sub *req, uint32_t subid, bool *existed)
{
    struct sub *sub = subs_find(s, req->filter);
    *existed = sub != NULL;
    if (!sub) {
        if (s->nsubs == s->capsubs) {
            s->capsubs = s->capsubs ? s->capsubs * 2 : 4;
            s->subs = xrealloc(s->subs, s->capsubs * sizeof *s->subs);
        }
        sub = &s->subs[s->nsubs++];
        memset(sub, 0, sizeof *sub);
        sub->filter = xstrndup(req->filter.data, req->filter.len);
        mqtt_bytes group, rest;
        if (mqtt_shared_split(req->filter, &group, &rest)) {
            sub->group = xstrndup(group.data, group.len);
            sub->match.data = (const uint8_t *)sub->filter + (rest.data - req->filter.data);
            sub->match.len = rest.len;
            struct share *sh = share_get(sub->group, sub->match, true);
            if (sh->n == sh->cap) {
                sh->cap = sh->cap ? sh->cap * 2 : 4;
                sh->members = xrealloc(sh->members, sh->cap * sizeof *sh->members);
            }
            sh->members[sh->n++] = s;
        } else {
            sub->match = (mqtt_bytes){(const uint8_t *)sub->filter, req->filter.len};
        }
    }
    /* An identical filter replaces the options and identifier, keeping the
     * queue untouched [MQTT-3.8.4-3]. */
    sub->qos = req->qos;
    sub->no_local = req->no_local;
    sub->rap = req->retain_as_published;
    sub->rh = req->retain_handling;
    sub->subid = subid;
    return sub;
}

static void sub_free(struct session *s, struct sub *sub)
{
    if (sub->group) {
        share_leave(sub, s);
        free(sub->group);
    }
    free(sub->filter);
}

bool subs_remove(struct session *s, mqtt_bytes filter)
{
    struct sub *sub = subs_find(s, filter);
    if (!sub)
        return false;
    sub_free(s, sub);
    size_t i = (size_t)(sub - s->subs);
    memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof s->subs[0]);
    s->nsubs--;
    return true;
}

void subs_remove_all(struct session *s)
{
    for (uint32_t i = 0; i < s->nsubs; i++)
        sub_free(s, &s->subs[i]);
    s->nsubs = 0;
}

static bool is_own(const struct msg *m, const struct session *s)
{
    return m->origin && strcmp(m->origin, s->id) == 0;
}

static uint8_t min_qos(uint8_t a, uint8_t b)
{
    return a < b ? a : b;
}

static void route_shared(struct msg *m, mqtt_bytes topic)
{
    for (struct share *sh = shares; sh; sh = sh->link) {
        if (sh->n == 0 || !mqtt_topic_matches((mqtt_bytes){(const uint8_t *)sh->filter, sh->filter_len}, topic))
            continue;
        uint32_t online = 0;
        for (uint32_t i = 0; i < sh->n; i++)
            online += sh->members[i]->conn != NULL;
        uint32_t pick = sh->next++ % (online ? online : sh->n);
        struct session *s = NULL;
        for (uint32_t i = 0; i < sh->n; i++) {
            if (online && !sh->members[i]->conn)
                continue;
            if (pick-- == 0) {
                s = sh->members[i];
                break;
            }
        }
        const struct sub *sub = NULL;
        for (uint32_t i = 0; s && i < s->nsubs; i++)
            if (s->subs[i].group && strcmp(s->subs[i].group, sh->group) == 0 &&
                mqtt_bytes_eq(s->subs[i].match, (mqtt_bytes){(const uint8_t *)sh->filter, sh->filter_len}))
                sub = &s->subs[i];
        if (!sub)
            continue;
        bool retain = sub->rap && m->retain && !defect_on(D_RETAIN_AS_PUBLISHED_IGNORED);
        deliver_to_session(s, m, min_qos(m->qos, sub->qos), retain, &sub->subid, sub->subid ? 1 : 0);
    }
}

void subs_route(struct msg *m)
{
    mqtt_bytes topic = {(const uint8_t *)m->topic, m->topic_len};
    for (struct session *s = session_first(); s; s = s->next) {
        bool any = false, rap = false;
        uint8_t qos = 0;
        uint32_t n = 0;
        if (s->nsubs > capids) {
            capids = s->nsubs * 2;
            ids = xrealloc(ids, capids * sizeof *ids);
        }
        for (uint32_t i = 0; i < s->nsubs; i++) {
            const struct sub *sub = &s->subs[i];
            if (sub->group || !mqtt_topic_matches(sub->match, topic))
                continue;
            if (sub->no_local && is_own(m, s) && !defect_on(D_NO_LOCAL_IGNORED))
                continue;
            any = true;
            if (sub->qos > qos)
                qos = sub->qos;
            rap = rap || sub->rap;
            if (sub->subid)
                ids[n++] = sub->subid;
        }
        if (!any)
            continue;
        bool retain = rap && m->retain && !defect_on(D_RETAIN_AS_PUBLISHED_IGNORED);
        deliver_to_session(s, m, min_qos(m->qos, qos), retain, ids, n);
    }
    route_shared(m, topic);
}

void subs_free_all(void)
{
    while (shares)
        share_free(shares);
    free(ids);
    ids = NULL;
    capids = 0;
}
