/* subs.c -- subscriptions and routing: which sessions get a copy of a message.
 *
 * What it is for: each session keeps its own subscriptions (they are session
 * state, with their options and Subscription Identifier, §4.1). Routing asks
 * the index (subindex.c) for the non-shared subscriptions that match, groups
 * them by session and sends ONE copy per session: at the maximum granted QoS
 * of the matching subscriptions [MQTT-3.3.4-2], carrying all their
 * Subscription Identifiers [MQTT-3.3.4-4], RETAIN kept if any of them has
 * Retain As Published [MQTT-3.3.1-12], and skipping those with No Local when
 * the session published it [MQTT-3.8.3-3].
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
    struct sub **members;       /* each member session's subscription */
    uint32_t n, cap;
    uint32_t next;
    uint32_t id;                /* never reused, so a delivery can name its group */
    struct share *link;
};

/* One session that gets a copy of the message being routed. */
struct cand {
    struct session *s;
    struct sub *first;          /* the only matching subscription when n is 1 */
    uint32_t n;
};

static struct share *shares;
static uint32_t last_share_id;
static uint32_t *ids;           /* scratch: Subscription Identifiers of one copy */
static uint32_t capids;
static struct cand *cands;      /* scratch of subs_route */
static uint32_t ncands, capcands;

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
    if (++last_share_id == 0)
        last_share_id = 1;      /* 0 is "not shared" */
    sh->id = last_share_id;
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

static void share_join(struct sub *sub)
{
    struct share *sh = share_get(sub->group, sub->match, true);
    if (sh->n == sh->cap) {
        sh->cap = sh->cap ? sh->cap * 2 : 4;
        sh->members = xrealloc(sh->members, sh->cap * sizeof *sh->members);
    }
    sh->members[sh->n++] = sub;
}

static void share_leave(const struct sub *sub)
{
    struct share *sh = share_get(sub->group, sub->match, false);
    if (!sh)
        return;
    for (uint32_t i = 0; i < sh->n; i++) {
        if (sh->members[i] == sub) {
            memmove(&sh->members[i], &sh->members[i + 1], (sh->n - i - 1) * sizeof sh->members[0]);
            sh->n--;
            break;
        }
    }
    if (sh->n == 0)
        share_free(sh);
}

/* The whole filter's length: match is its tail. */
static size_t filter_len(const struct sub *sub)
{
    return (size_t)(sub->match.data - (const uint8_t *)sub->filter) + sub->match.len;
}

struct sub *subs_find(struct session *s, mqtt_bytes filter)
{
    for (struct sub *sub = s->subs; sub; sub = sub->snext)
        if (filter_len(sub) == filter.len && memcmp(sub->filter, filter.data, filter.len) == 0)
            return sub;
    return NULL;
}

struct sub *subs_add(struct session *s, const mqtt_sub *req, uint32_t subid, bool *existed)
{
    struct sub *sub = subs_find(s, req->filter);
    *existed = sub != NULL;
    if (!sub) {
        sub = xcalloc(1, sizeof *sub + req->filter.len + 1);
        memcpy(sub->filter, req->filter.data, req->filter.len);
        sub->owner = s;
        struct sub **pp = &s->subs;
        while (*pp)
            pp = &(*pp)->snext;
        *pp = sub;
        mqtt_bytes group, rest;
        if (mqtt_shared_split(req->filter, &group, &rest)) {
            sub->group = xstrndup(group.data, group.len);
            sub->match.data = (const uint8_t *)sub->filter + (rest.data - req->filter.data);
            sub->match.len = rest.len;
            share_join(sub);
        } else {
            sub->match = (mqtt_bytes){(const uint8_t *)sub->filter, req->filter.len};
            subindex_add(sub);
        }
    }
    /* An identical filter replaces the options and identifier, keeping the
     * queue untouched [MQTT-3.8.4-3]. */
    sub->qos = req->qos;
    sub->no_local = req->no_local;
    sub->rap = req->retain_as_published;
    sub->rh = req->retain_handling;
    sub->subid = subid;
    if (store_on)
        store_sub_add(s, sub);
    return sub;
}

static void sub_free(struct sub *sub)
{
    if (sub->group) {
        share_leave(sub);
        free(sub->group);
    } else {
        subindex_remove(sub);
    }
    free(sub);
}

bool subs_remove(struct session *s, mqtt_bytes filter)
{
    for (struct sub **pp = &s->subs; *pp; pp = &(*pp)->snext) {
        struct sub *sub = *pp;
        if (filter_len(sub) == filter.len && memcmp(sub->filter, filter.data, filter.len) == 0) {
            *pp = sub->snext;
            sub_free(sub);
            if (store_on)
                store_sub_remove(s, filter);
            return true;
        }
    }
    return false;
}

void subs_remove_all(struct session *s)
{
    while (s->subs) {
        struct sub *sub = s->subs;
        s->subs = sub->snext;
        sub_free(sub);
    }
}

static bool is_own(const struct msg *m, const struct session *s)
{
    return m->origin && strcmp(m->origin, s->id) == 0;
}

static uint8_t min_qos(uint8_t a, uint8_t b)
{
    return a < b ? a : b;
}

/* Round robin over the members that are connected, or over all of them
 * when none is. */
static const struct sub *share_pick(struct share *sh)
{
    uint32_t online = 0;
    for (uint32_t i = 0; i < sh->n; i++)
        online += sh->members[i]->owner->conn != NULL;
    uint32_t pick = sh->next++ % (online ? online : sh->n);
    for (uint32_t i = 0; i < sh->n; i++) {
        if (online && !sh->members[i]->owner->conn)
            continue;
        if (pick-- == 0)
            return sh->members[i];
    }
    return NULL;
}

static void share_deliver(struct share *sh, struct msg *m)
{
    const struct sub *sub = share_pick(sh);
    if (!sub)
        return;
    bool retain = sub->rap && m->retain && !defect_on(D_RETAIN_AS_PUBLISHED_IGNORED);
    deliver_to_session(sub->owner, m, min_qos(m->qos, sub->qos), retain, &sub->subid,
                       sub->subid ? 1 : 0, sh->id);
}

static void route_shared(struct msg *m, mqtt_bytes topic)
{
    for (struct share *sh = shares; sh; sh = sh->link)
        if (sh->n && mqtt_topic_matches((mqtt_bytes){(const uint8_t *)sh->filter, sh->filter_len}, topic))
            share_deliver(sh, m);
}

void subs_redispatch(struct session *s)
{
    /* Only QoS 1: a QoS 2 message in flight stays with its member
     * [MQTT-4.8.2-5], and one never sent is not "being sent". */
    for (const struct delivery *d = s->inflight.head; d; d = d->next) {
        if (!d->share || d->qos != 1 || d->state != D_SENT)
            continue;
        struct share *sh = shares;
        while (sh && sh->id != d->share)
            sh = sh->link;
        if (!sh || !sh->n)
            continue;
        log_debug("%s: unacknowledged message on %s sent to another member of %s",
                  s->id, d->m->topic, sh->group);
        share_deliver(sh, d->m);
    }
}

/* Called by the index for each matching subscription: one candidate per
 * session, found again through route_slot (checked, so never reset). */
static void collect(struct sub *sub)
{
    struct session *s = sub->owner;
    if (s->route_slot < ncands && cands[s->route_slot].s == s) {
        cands[s->route_slot].n++;
        return;
    }
    if (ncands == capcands) {
        capcands = capcands ? capcands * 2 : 64;
        cands = xrealloc(cands, capcands * sizeof *cands);
    }
    s->route_slot = ncands;
    cands[ncands++] = (struct cand){s, sub, 1};
}

void subs_route(struct msg *m)
{
    mqtt_bytes topic = {(const uint8_t *)m->topic, m->topic_len};
    ncands = 0;
    subindex_match(topic, collect);
    for (uint32_t c = 0; c < ncands; c++) {
        struct session *s = cands[c].s;
        bool any = false, rap = false;
        uint8_t qos = 0;
        uint32_t n = 0;
        if (cands[c].n > capids) {
            capids = cands[c].n * 2;
            ids = xrealloc(ids, capids * sizeof *ids);
        }
        /* Several matching subscriptions: walked in subscription order, so
         * the identifiers keep that order. */
        struct sub *sub = cands[c].n == 1 ? cands[c].first : s->subs;
        for (; sub; sub = cands[c].n == 1 ? NULL : sub->snext) {
            if (sub->group || !mqtt_topic_matches(sub->match, topic))
                continue;
            if (sub->no_local && is_own(m, s) && !defect_on(D_NO_LOCAL_IGNORED))
                continue;
            any = true;
            if (sub->qos > qos || defect_on(D_OVERLAP_QOS_OF_LAST_MATCH))
                qos = sub->qos;
            rap = rap || sub->rap;
            if (sub->subid)
                ids[n++] = sub->subid;
        }
        if (!any)
            continue;
        bool retain = rap && m->retain && !defect_on(D_RETAIN_AS_PUBLISHED_IGNORED);
        deliver_to_session(s, m, min_qos(m->qos, qos), retain, ids, n, 0);
    }
    ncands = 0;
    route_shared(m, topic);
}

void subs_free_all(void)
{
    while (shares)
        share_free(shares);
    subindex_free();
    free(ids);
    ids = NULL;
    capids = 0;
    free(cands);
    cands = NULL;
    capcands = ncands = 0;
}
