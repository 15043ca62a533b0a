/* store_load.c -- durable sessions: the reading side of DIR/store.log.
 *
 * What it is for: at start, replaying the records (format in store.h) into
 * the live session store -- sessions, subscriptions, queued and in-flight
 * copies, inbound QoS 2 ids, Wills, retained messages -- and then putting the
 * clocks right with what happened while the broker was down:
 *
 *   - every restored session is offline; clients reconnect and resume it.
 *   - a session that was connected when the broker stopped lost its connection
 *     without DISCONNECT: it is taken as closed at the restart, so its Will
 *     goes by the usual rules (delay counted from the restart) and a session
 *     with expiry 0 ends at once, publishing its Will.
 *   - a session that was already offline keeps counting from its close, in
 *     wall-clock time: expired while down means ended now (its Will, if still
 *     waiting, is published now); a Will whose delay ran out while down is
 *     published now.
 *   - a message's Message Expiry counts while down: the remaining interval is
 *     what was left minus the time the broker was down (queued copies of an
 *     expired one are dropped when next looked at, as always).
 *
 * A record that names something that is not there (which a correct log never
 * has) is skipped with a warning rather than trusted.
 *
 * What it is not: the writing side or the file handling (store.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* ---- a small u64 -> pointer map, for messages and deliveries by id ---- */

struct ent {
    uint64_t key;
    void *val;
    struct session *s;
    struct ent *next;
};

struct map {
    struct ent **b;
    size_t nb, n;
};

static size_t slot(const struct map *m, uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 32) & (m->nb - 1);
}

static struct ent *map_get(struct map *m, uint64_t k)
{
    if (!m->nb)
        return NULL;
    for (struct ent *e = m->b[slot(m, k)]; e; e = e->next)
        if (e->key == k)
            return e;
    return NULL;
}

static struct ent *map_put(struct map *m, uint64_t k)
{
    if (m->n + 1 > m->nb) {
        size_t onb = m->nb;
        struct ent **ob = m->b;
        m->nb = onb ? onb * 2 : 1024;
        m->b = xcalloc(m->nb, sizeof *m->b);
        for (size_t i = 0; i < onb; i++) {
            for (struct ent *e = ob[i], *nx; e; e = nx) {
                nx = e->next;
                size_t j = slot(m, e->key);
                e->next = m->b[j];
                m->b[j] = e;
            }
        }
        free(ob);
    }
    struct ent *e = map_get(m, k);
    if (e)
        return e;
    e = xcalloc(1, sizeof *e);
    e->key = k;
    size_t j = slot(m, k);
    e->next = m->b[j];
    m->b[j] = e;
    m->n++;
    return e;
}

static void map_del(struct map *m, uint64_t k)
{
    if (!m->nb)
        return;
    for (struct ent **pp = &m->b[slot(m, k)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->key == k) {
            struct ent *e = *pp;
            *pp = e->next;
            free(e);
            m->n--;
            return;
        }
    }
}

static void map_free(struct map *m, void (*fn)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        for (struct ent *e = m->b[i], *nx; e; e = nx) {
            nx = e->next;
            if (fn)
                fn(e->val);
            free(e);
        }
    }
    free(m->b);
    *m = (struct map){0};
}

/* ---- reading fields ---- */

struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->bad || r->n < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

static uint8_t get_u8(struct rd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static uint16_t get_u16(struct rd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t get_u32(struct rd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t get_u64(struct rd *r)
{
    uint64_t hi = get_u32(r);
    return hi << 32 | get_u32(r);
}

static mqtt_bytes get_bytes(struct rd *r)
{
    uint32_t n = get_u32(r);
    const uint8_t *p = take(r, n);
    return (mqtt_bytes){p, p ? n : 0};
}

/* Session ids are kept NUL-free by CONNECT, so a copy is a C string. */
static struct session *get_session(struct rd *r, bool create)
{
    mqtt_bytes b = get_bytes(r);
    if (r->bad)
        return NULL;
    char *id = xstrndup(b.data, b.len);
    struct session *s = session_find(id);
    if (!s && create)
        s = session_new(id);
    if (!s)
        log_warn("store: record for unknown session '%s' skipped", id);
    free(id);
    return s;
}

/* ---- replay ---- */

static struct map msgs;        /* store id -> struct msg * (one reference) */
static struct map dels;        /* store id -> struct delivery *, with its session */
static uint64_t wall_now;

static void unref(void *m)
{
    msg_unref(m);
}

static struct msg *find_msg(uint64_t id)
{
    struct ent *e = map_get(&msgs, id);
    if (!e)
        log_warn("store: reference to unknown message %llu skipped", (unsigned long long)id);
    return e ? e->val : NULL;
}

static void forget_deliveries(struct session *s)
{
    for (struct delivery *d = s->inflight.head; d; d = d->next)
        map_del(&dels, d->store_id);
    for (struct delivery *d = s->queue.head; d; d = d->next)
        map_del(&dels, d->store_id);
}

static void load_msg(struct rd *r, uint64_t *maxmsg)
{
    uint64_t id = get_u64(r);
    mqtt_bytes topic = get_bytes(r), payload = get_bytes(r);
    uint8_t qos = get_u8(r), retain = get_u8(r), has_expiry = get_u8(r);
    uint32_t expiry = get_u32(r);
    uint64_t received = get_u64(r);
    mqtt_bytes origin = get_bytes(r);
    uint32_t n = get_u32(r);
    mqtt_props props = {0};
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint8_t pid = get_u8(r);
        uint32_t num = get_u32(r);
        mqtt_bytes a = get_bytes(r), b = get_bytes(r);
        int t = mqtt_prop_type(pid), rc = 0;
        if (t == MQTT_PT_PAIR)
            rc = mqtt_props_add_pair(&props, a, b);
        else if (t == MQTT_PT_STRING || t == MQTT_PT_BINARY)
            rc = mqtt_props_add_bytes(&props, pid, a);
        else
            rc = mqtt_props_add_num(&props, pid, num);
        if (rc != 0)
            die_oom();
    }
    if (r->bad || !id || qos > 2 || topic.len == 0) {
        mqtt_props_free(&props);
        r->bad = true;
        return;
    }
    char *org = origin.len ? xstrndup(origin.data, origin.len) : NULL;
    struct msg *m = msg_new(topic, payload, qos, retain, &props, org);
    free(org);
    mqtt_props_free(&props);
    m->store_id = id;
    /* The time spent while down counts: what is left is set as the interval,
     * counted from now (rounded up to the second, as the wire can say no less). */
    uint64_t now = ev_now();
    uint64_t waited = wall_now > received ? wall_now - received : 0;
    m->has_expiry = has_expiry;
    if (has_expiry) {
        uint64_t total = (uint64_t)expiry * 1000u;
        if (waited >= total) {
            m->expiry = 0;
            m->received = now;
        } else {
            uint64_t left = total - waited;
            m->expiry = (uint32_t)((left + 999) / 1000);
            uint64_t slack = (uint64_t)m->expiry * 1000u - left;
            m->received = now > slack ? now - slack : now;
        }
    } else {
        m->received = now > waited ? now - waited : 0;
    }
    struct ent *e = map_put(&msgs, id);
    if (e->val)
        msg_unref(e->val);
    e->val = m;
    if (id > *maxmsg)
        *maxmsg = id;
}

static void load_dq(struct rd *r, uint64_t *maxdel)
{
    uint64_t id = get_u64(r);
    mqtt_bytes sid = get_bytes(r);
    uint64_t mid = get_u64(r);
    uint8_t qos = get_u8(r), retain = get_u8(r);
    uint32_t n = get_u32(r);
    if (r->bad || n > r->n / 4) {
        r->bad = true;
        return;
    }
    uint32_t *subids = n ? xmalloc(n * sizeof *subids) : NULL;
    for (uint32_t i = 0; i < n; i++)
        subids[i] = get_u32(r);
    char *idstr = xstrndup(sid.data, sid.len);
    struct session *s = session_find(idstr);
    struct msg *m = find_msg(mid);
    if (!s)
        log_warn("store: copy for unknown session '%s' skipped", idstr);
    if (s && m && qos <= 2 && !map_get(&dels, id) && !defect_on(D_RESTART_FORGETS_QUEUE)) {
        struct delivery *d = deliver_restore(s, m, qos, retain, subids, n);
        d->store_id = id;
        struct ent *e = map_put(&dels, id);
        e->val = d;
        e->s = s;
    }
    if (id > *maxdel)
        *maxdel = id;
    free(idstr);
    free(subids);
}

static void load_record(uint8_t type, struct rd *r, uint64_t *maxmsg, uint64_t *maxdel)
{
    struct session *s;
    switch (type) {
    case R_SESS: {
        s = get_session(r, true);
        uint8_t version = get_u8(r);
        uint32_t expiry = get_u32(r);
        mqtt_bytes owner = get_bytes(r);    /* "": anonymous (no user name is empty) */
        if (!s || r->bad)
            return;
        free(s->owner);
        s->owner = owner.len ? xstrndup(owner.data, owner.len) : NULL;
        s->version = version;
        s->expiry = defect_on(D_RESTART_EXPIRY_LOST) ? 0 : expiry;
        s->stored = true;
        s->offline_wall = 0;
        break;
    }
    case R_OFF: {
        s = get_session(r, false);
        uint64_t when = get_u64(r);
        uint32_t expiry = get_u32(r);
        if (!s || r->bad)
            return;
        s->offline_wall = when ? when : 1;
        s->expiry = defect_on(D_RESTART_EXPIRY_LOST) ? 0 : expiry;
        break;
    }
    case R_END:
        s = get_session(r, false);
        if (!s || r->bad)
            return;
        forget_deliveries(s);
        session_discard(s);
        break;
    case R_WILL: {
        s = get_session(r, false);
        uint64_t mid = get_u64(r);
        uint32_t delay = get_u32(r);
        if (!s || r->bad)
            return;
        will_discard(s);
        struct msg *m = mid ? find_msg(mid) : NULL;
        if (m)
            will_restore(s, m, delay);
        break;
    }
    case R_SUB: {
        s = get_session(r, false);
        mqtt_sub req = {0};
        req.filter = get_bytes(r);
        req.qos = get_u8(r);
        uint8_t f = get_u8(r);
        uint32_t subid = get_u32(r);
        if (!s || r->bad || defect_on(D_RESTART_FORGETS_SUBSCRIPTIONS))
            return;
        if (!mqtt_topic_filter_valid(req.filter) || req.qos > 2) {
            log_warn("store: invalid subscription of '%s' skipped", s->id);
            return;
        }
        req.no_local = f & 1;
        req.retain_as_published = (f >> 1) & 1;
        req.retain_handling = (f >> 2) & 3;
        bool existed;
        subs_add(s, &req, subid, &existed);
        break;
    }
    case R_UNSUB: {
        s = get_session(r, false);
        mqtt_bytes filter = get_bytes(r);
        if (s && !r->bad)
            subs_remove(s, filter);
        break;
    }
    case R_MSG:
        load_msg(r, maxmsg);
        break;
    case R_DQ:
        load_dq(r, maxdel);
        break;
    case R_DSTATE: {
        uint64_t id = get_u64(r);
        uint8_t state = get_u8(r);
        uint16_t pid = get_u16(r);
        uint32_t sent_expiry = get_u32(r);
        struct ent *e = r->bad ? NULL : map_get(&dels, id);
        if (!e)
            return;
        if ((state != D_SENT && state != D_RELEASED) || pid == 0) {
            log_warn("store: invalid state of a copy for '%s' skipped", e->s->id);
            return;
        }
        deliver_restore_state(e->s, e->val, state, pid, sent_expiry);
        break;
    }
    case R_DDEL: {
        uint64_t id = get_u64(r);
        struct ent *e = r->bad ? NULL : map_get(&dels, id);
        if (!e)
            return;
        deliver_restore_drop(e->s, e->val);
        map_del(&dels, id);
        break;
    }
    case R_Q2: {
        s = get_session(r, false);
        uint16_t pid = get_u16(r);
        uint8_t add = get_u8(r);
        if (!s || r->bad)
            return;
        if (add && !session_qos2_in_has(s, pid))
            session_qos2_in_add(s, pid);
        else if (!add)
            session_qos2_in_remove(s, pid);
        break;
    }
    case R_RETAIN: {
        mqtt_bytes topic = get_bytes(r);
        uint64_t mid = get_u64(r);
        if (r->bad || topic.len == 0)
            return;
        if (mid) {
            struct msg *m = find_msg(mid);
            if (m)
                retain_store(m);
        } else {
            /* retain_store deletes with an empty message on the topic. */
            struct msg *del = msg_new(topic, (mqtt_bytes){NULL, 0}, 0, true, NULL, NULL);
            retain_store(del);
            msg_unref(del);
        }
        break;
    }
    default:
        log_warn("store: record of unknown type %u skipped", type);
        break;
    }
}

size_t store_replay(const uint8_t *buf, size_t len, uint64_t *maxmsg, uint64_t *maxdel)
{
    wall_now = store_wall_ms();
    size_t off = 0;
    uint64_t nrec = 0;
    while (len - off >= 9) {
        const uint8_t *h = buf + off;
        uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        uint32_t crc = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
        if (n == 0 || n > STORE_RECORD_MAX || n > len - off - 8)
            break;
        if (store_crc32(h + 8, n) != crc)
            break;
        struct rd r = {h + 9, n - 1, false};
        load_record(h[8], &r, maxmsg, maxdel);
        if (r.bad)
            log_warn("store: record of type %u at offset %zu is malformed: skipped", h[8],
                     off + STORE_MAGIC_LEN);
        off += 8 + (size_t)n;
        nrec++;
    }
    log_debug("store: %llu records replayed", (unsigned long long)nrec);
    map_free(&dels, NULL);
    map_free(&msgs, unref);
    return off;
}

void store_restore_finish(void)
{
    uint32_t n = session_count(), i = 0;
    struct session **list = xcalloc(n ? n : 1, sizeof *list);
    for (struct session *s = session_first(); s && i < n; s = s->next)
        list[i++] = s;
    uint64_t now = store_wall_ms();
    uint32_t cut = 0;
    for (i = 0; i < n; i++) {
        struct session *s = list[i];
        deliver_connection_lost(s);
        uint64_t elapsed = 0;
        if (s->offline_wall) {
            elapsed = now > s->offline_wall ? now - s->offline_wall : 0;
        } else {
            log_debug("%s: was connected when the broker stopped: connection lost now", s->id);
            cut++;
        }
        s->offline_wall = now - elapsed;
        session_resume_expiry(s, elapsed);
    }
    if (cut)
        log_info("store: %u sessions were connected when the broker stopped: their connections "
                 "count as lost now (Will, expiry)", cut);
    free(list);
}
