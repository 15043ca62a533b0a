/* load_steps.c -- the `steps` list: one parser per action and per expectation.
 *
 * What it is for: building step_t values from `CLIENT.ACTION: ARGS` maps,
 * checking that every key belongs to the action, that 5.0-only features are not
 * asked of a 3.1.1 client, that marks and saved packet ids are defined before
 * they are used, and recording which driver capabilities each client needs.
 *
 * What it is not: scalar parsing (load_values.c) or the top level (load.c).
 * Steps are added to the scenario as soon as they start being parsed, so a step
 * that fails half way is still released by scenario_free.
 */
#include <stdlib.h>
#include <string.h>

#include "../mqtt/mqtt.h"
#include "load_int.h"

#define COMMON "mark", "spec", "level"

static const char *client_name(lctx *c, int ci)
{
    return c->s->clients[ci].name;
}

static bool is_v5(lctx *c, int ci)
{
    return c->s->clients[ci].protocol == MQTT_V5;
}

/* Reports a 5.0-only key used by a 3.1.1 client. */
bool ld_v5only(lctx *c, int ci, const ynode *at, const char *what)
{
    if (is_v5(c, ci))
        return true;
    lerr(c, at, "%s is MQTT 5.0 only, but client '%s' uses 3.1.1", what, client_name(c, ci));
    return false;
}

static const char *cap_why(unsigned cap)
{
    switch (cap) {
    case CAP_MANUAL_ACK: return "sending acknowledgements by hand";
    case CAP_SEE_DUP: return "checking the DUP flag";
    case CAP_SEE_ACKS: return "expecting PUBACK / PUBREC / PUBREL / PUBCOMP";
    case CAP_SEND_DUP: return "publishing with dup or packet_id";
    case CAP_RAW_BYTES: return "sending raw bytes (send, keep_open, a paced connect)";
    case CAP_RESET: return "resetting the connection";
    case CAP_SECOND_CONNECT: return "a second CONNECT";
    case CAP_TOPIC_ALIAS: return "publishing with a topic alias";
    case CAP_MIXED_SUBSCRIBE: return "one SUBSCRIBE with different QoS or options per filter";
    case CAP_FLOOD: return "a flood of connections";
    default: return "this step";
    }
}

void ld_need(lctx *c, int ci, unsigned cap, const ynode *at)
{
    client_def *cl = &c->s->clients[ci];
    cl->needs |= cap;
    const char *drv = cl->driver ? cl->driver : c->s->driver;
    if (drv && !strcmp(drv, "mosquitto"))
        lerr(c, at, "%s needs the raw driver, but client '%s' uses driver mosquitto", cap_why(cap),
             cl->name);
}

int ld_push_name(lctx *c, const char ***arr, size_t *n, const char *name)
{
    const char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return -1;
    a[(*n)++] = name;
    *arr = a;
    return 0;
}

bool ld_name_in(const char *const *arr, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(arr[i], name))
            return true;
    return false;
}

/* mark, spec and level: any step may carry them. */
static void parse_common(lctx *c, step_t *st, const ynode *args)
{
    const ynode *v;
    if ((v = map_get(args, "mark"))) {
        if (get_str(c, v, "mark", &st->mark) == 0) {
            if (!*st->mark)
                lerr(c, v, "mark: a mark needs a name");
            else if (ld_name_in(c->marks, c->n_marks, st->mark))
                lerr(c, v, "mark '%.60s' is already defined by an earlier step", st->mark);
        }
    }
    if ((v = map_get(args, "spec")))
        get_spec_statement(c, v, &st->spec);
    if ((v = map_get(args, "level")) && get_level(c, v, &st->level) == 0)
        st->has_level = true;
}

/* Reads payload / payload_hex into (payload, len). */
void ld_payload(lctx *c, const ynode *m, char **payload, size_t *len, bool tmpl)
{
    const ynode *p = map_get(m, "payload"), *h = map_get(m, "payload_hex");
    if (p && h) {
        lerr(c, map_key(m, "payload_hex"), "give payload or payload_hex, not both");
        return;
    }
    if (p) {
        if (tmpl)
            get_template(c, p, "payload", payload, len);
        else
            get_bytes(c, p, "payload", payload, len);
    } else if (h) {
        uint8_t *b = NULL;
        if (get_hex(c, h, "payload_hex", &b, len) == 0)
            *payload = (char *)b;
    }
}

/* ---- actions ---- */

static void parse_will(lctx *c, int ci, const ynode *w, will_args *wa)
{
    static const char *const keys[] = {"topic", "payload", "payload_hex", "qos", "retain", "delay",
                                       "message_expiry", "user_properties", NULL};
    if (!want_map(c, w, "will"))
        return;
    map_check_keys(c, w, "will", keys);
    const ynode *v;
    if ((v = map_require(c, w, "will", "topic")))
        get_template(c, v, "topic", &wa->topic, NULL);
    ld_payload(c, w, &wa->payload, &wa->payload_len, true);
    if (!wa->payload)
        wa->payload = xstrdup("");
    uint32_t q;
    if ((v = map_get(w, "qos")) && get_u32(c, v, "qos", 0, 2, &q) == 0)
        wa->qos = (uint8_t)q;
    if ((v = map_get(w, "retain")))
        get_bool(c, v, "retain", &wa->retain);
    if ((v = map_get(w, "delay")) && ld_v5only(c, ci, map_key(w, "delay"), "will delay"))
        get_opt_u32(c, v, "delay", 0, 0xFFFFFFFFu, &wa->delay);
    if ((v = map_get(w, "message_expiry")) &&
        ld_v5only(c, ci, map_key(w, "message_expiry"), "message_expiry"))
        get_opt_u32(c, v, "message_expiry", 0, 0xFFFFFFFFu, &wa->message_expiry);
    if ((v = map_get(w, "user_properties")) &&
        ld_v5only(c, ci, map_key(w, "user_properties"), "user_properties"))
        get_user_props(c, v, &wa->user_props, &wa->n_user_props);
}

/* `chunk` and `pause` of a paced write. Separate writes without a pause would
 * reach the broker as one: pacing needs both, and a pause must be long enough
 * to be seen. Returns the pause's node (for later errors), or NULL when the
 * step is not paced or its pacing is wrong. */
static const ynode *parse_pacing(lctx *c, const ynode *a, const char *action, pacing *p)
{
    const ynode *ch = map_get(a, "chunk"), *pa = map_get(a, "pause");
    if (!ch && !pa)
        return NULL;
    if (!ch || !pa) {
        lerr(c, ch ? map_key(a, "chunk") : map_key(a, "pause"),
             "%s: chunk and pause go together (e.g. {chunk: 1, pause: 100ms})", action);
        return NULL;
    }
    if (get_u32(c, ch, "chunk", 1, 0xFFFFFFFFu, &p->chunk) != 0 ||
        get_duration_literal(c, pa, "pause", false, &p->pause_ms) != 0) {
        p->chunk = 0;
        return NULL;
    }
    if (p->pause_ms < 1) {
        lerr(c, pa, "pause must be at least 1ms");
        p->chunk = 0;
        return NULL;
    }
    return pa;
}

static void parse_connect(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"clean_start", "session_expiry", "keep_alive",
                                       "receive_maximum", "maximum_packet_size",
                                       "topic_alias_maximum", "user_properties", "will", "username",
                                       "password", "second_connect", "authentication_method",
                                       "chunk", "pause", COMMON, NULL};
    connect_args *ca = &st->u.connect;
    ca->clean_start = true;
    ca->keep_alive = 60;
    map_check_keys(c, a, "connect", keys);
    const ynode *v;
    uint32_t x;
    if ((v = map_get(a, "clean_start")))
        get_bool(c, v, "clean_start", &ca->clean_start);
    if ((v = map_get(a, "session_expiry")) &&
        ld_v5only(c, ci, map_key(a, "session_expiry"), "session_expiry"))
        get_expiry(c, v, "session_expiry", &ca->session_expiry);
    if ((v = map_get(a, "keep_alive")) && get_u32(c, v, "keep_alive", 0, 65535, &x) == 0)
        ca->keep_alive = (uint16_t)x;
    if ((v = map_get(a, "receive_maximum")) &&
        ld_v5only(c, ci, map_key(a, "receive_maximum"), "receive_maximum"))
        get_opt_u32(c, v, "receive_maximum", 1, 65535, &ca->receive_maximum);
    if ((v = map_get(a, "maximum_packet_size")) &&
        ld_v5only(c, ci, map_key(a, "maximum_packet_size"), "maximum_packet_size"))
        get_opt_u32(c, v, "maximum_packet_size", 1, 0xFFFFFFFFu, &ca->maximum_packet_size);
    if ((v = map_get(a, "topic_alias_maximum")) &&
        ld_v5only(c, ci, map_key(a, "topic_alias_maximum"), "topic_alias_maximum"))
        get_opt_u32(c, v, "topic_alias_maximum", 0, 65535, &ca->topic_alias_maximum);
    if ((v = map_get(a, "user_properties")) &&
        ld_v5only(c, ci, map_key(a, "user_properties"), "user_properties"))
        get_user_props(c, v, &ca->user_props, &ca->n_user_props);
    /* libmosquitto would start an AUTH exchange of its own: raw only. */
    if ((v = map_get(a, "authentication_method")) &&
        ld_v5only(c, ci, map_key(a, "authentication_method"), "authentication_method") &&
        get_str(c, v, "authentication_method", &ca->authentication_method) == 0)
        ld_need(c, ci, CAP_EXACT_PROPS, map_key(a, "authentication_method"));
    if ((v = map_get(a, "will")) && !ynode_is_null(v)) {
        ca->has_will = true;
        parse_will(c, ci, v, &ca->will);
    }
    if ((v = map_get(a, "username")))
        get_str(c, v, "username", &ca->username);
    if ((v = map_get(a, "password")))
        get_str(c, v, "password", &ca->password);
    if ((v = map_get(a, "second_connect")) &&
        get_bool(c, v, "second_connect", &ca->second_connect) == 0 && ca->second_connect)
        ld_need(c, ci, CAP_SECOND_CONNECT, v);
    /* The CONNECT's length (credentials, client id) is known only when it is
     * built, so the runner enforces PACED_MAX_MS for it. */
    if (parse_pacing(c, a, "connect", &ca->pace)) {
        ld_need(c, ci, CAP_RAW_BYTES, map_key(a, "chunk"));
        if (ca->second_connect)
            lerr(c, map_key(a, "chunk"), "connect: chunk and pause pace a first CONNECT, not a "
                                         "second_connect");
    }
}

static void parse_sub_entry(lctx *c, int ci, const ynode *m, sub_entry *e)
{
    const ynode *v;
    uint32_t x;
    if ((v = map_require(c, m, "subscribe", "filter")))
        get_template(c, v, "filter", &e->filter, NULL);
    if ((v = map_get(m, "qos")) && get_u32(c, v, "qos", 0, 2, &x) == 0)
        e->qos = (uint8_t)x;
    if ((v = map_get(m, "no_local")) && ld_v5only(c, ci, map_key(m, "no_local"), "no_local"))
        get_bool(c, v, "no_local", &e->no_local);
    if ((v = map_get(m, "retain_as_published")) &&
        ld_v5only(c, ci, map_key(m, "retain_as_published"), "retain_as_published"))
        get_bool(c, v, "retain_as_published", &e->retain_as_published);
    if ((v = map_get(m, "retain_handling")) &&
        ld_v5only(c, ci, map_key(m, "retain_handling"), "retain_handling") &&
        get_u32(c, v, "retain_handling", 0, 2, &x) == 0)
        e->retain_handling = (uint8_t)x;
}

static void parse_subscribe(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"filter", "qos", "no_local", "retain_as_published",
                                       "retain_handling", "filters", "subscription_id",
                                       "user_properties", COMMON, NULL};
    static const char *const ekeys[] = {"filter", "qos", "no_local", "retain_as_published",
                                        "retain_handling", NULL};
    subscribe_args *sa = &st->u.subscribe;
    map_check_keys(c, a, "subscribe", keys);
    const ynode *fs = map_get(a, "filters"), *v;
    if (fs) {
        for (const char *const *k = ekeys; *k; k++)
            if (map_get(a, *k))
                lerr(c, map_key(a, *k), "subscribe: with filters, '%s' goes inside each entry", *k);
        if (want_seq(c, fs, "filters")) {
            if (fs->n == 0)
                lerr(c, fs, "filters: at least one entry");
            sa->entries = xcalloc(fs->n, sizeof *sa->entries);
            for (size_t i = 0; sa->entries && i < fs->n; i++) {
                if (!want_map(c, fs->items[i], "filters entry") || ynode_is_null(fs->items[i]))
                    continue;
                map_check_keys(c, fs->items[i], "filters entry", ekeys);
                parse_sub_entry(c, ci, fs->items[i], &sa->entries[sa->n_entries++]);
            }
        }
    } else if (a->type != YN_MAP || !map_get(a, "filter")) {
        lerr(c, a, "subscribe: missing required key 'filter' (or 'filters')");
    } else {
        sa->entries = xcalloc(1, sizeof *sa->entries);
        if (sa->entries)
            parse_sub_entry(c, ci, a, &sa->entries[sa->n_entries++]);
    }
    /* libmosquitto sends one options byte for all the filters of a SUBSCRIBE. */
    for (size_t i = 1; i < sa->n_entries; i++) {
        const sub_entry *e0 = &sa->entries[0], *e = &sa->entries[i];
        if (e->qos != e0->qos || e->no_local != e0->no_local ||
            e->retain_as_published != e0->retain_as_published ||
            e->retain_handling != e0->retain_handling) {
            ld_need(c, ci, CAP_MIXED_SUBSCRIBE, fs);
            break;
        }
    }
    if ((v = map_get(a, "subscription_id")) &&
        ld_v5only(c, ci, map_key(a, "subscription_id"), "subscription_id"))
        get_opt_u32(c, v, "subscription_id", 1, MQTT_MAX_VARINT, &sa->subscription_id);
    if ((v = map_get(a, "user_properties")) &&
        ld_v5only(c, ci, map_key(a, "user_properties"), "user_properties"))
        get_user_props(c, v, &sa->user_props, &sa->n_user_props);
}

static void parse_unsubscribe(lctx *c, step_t *st, const ynode *a)
{
    static const char *const keys[] = {"filter", "filters", COMMON, NULL};
    unsubscribe_args *ua = &st->u.unsubscribe;
    map_check_keys(c, a, "unsubscribe", keys);
    const ynode *f = map_get(a, "filter"), *fs = map_get(a, "filters");
    if (f && fs) {
        lerr(c, map_key(a, "filters"), "unsubscribe: give filter or filters, not both");
        return;
    }
    if (!f && !fs) {
        lerr(c, a, "unsubscribe: missing required key 'filter' (or 'filters')");
        return;
    }
    if (f) {
        ua->filters = xcalloc(1, sizeof *ua->filters);
        if (ua->filters && get_template(c, f, "filter", &ua->filters[0], NULL) == 0)
            ua->n_filters = 1;
        return;
    }
    if (!want_seq(c, fs, "filters"))
        return;
    if (fs->n == 0)
        lerr(c, fs, "filters: at least one entry");
    ua->filters = xcalloc(fs->n, sizeof *ua->filters);
    for (size_t i = 0; ua->filters && i < fs->n; i++)
        if (get_template(c, fs->items[i], "filter", &ua->filters[ua->n_filters], NULL) == 0)
            ua->n_filters++;
}

static void parse_publish(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"topic", "payload", "payload_hex", "qos", "retain", "dup",
                                       "packet_id", "message_expiry", "topic_alias",
                                       "user_properties", "await_ack", COMMON, NULL};
    publish_args *pa = &st->u.publish;
    pa->await_ack = true;
    map_check_keys(c, a, "publish", keys);
    const ynode *v;
    uint32_t x;
    if ((v = map_require(c, a, "publish", "topic")))
        get_template(c, v, "topic", &pa->topic, NULL);
    ld_payload(c, a, &pa->payload, &pa->payload_len, true);
    if (!pa->payload)
        pa->payload = xstrdup("");
    if ((v = map_get(a, "qos")) && get_u32(c, v, "qos", 0, 2, &x) == 0)
        pa->qos = (uint8_t)x;
    if ((v = map_get(a, "retain")))
        get_bool(c, v, "retain", &pa->retain);
    if ((v = map_get(a, "dup")) && get_bool(c, v, "dup", &pa->dup) == 0 && pa->dup)
        ld_need(c, ci, CAP_SEND_DUP, v);
    if ((v = map_get(a, "packet_id")) &&
        get_opt_u32(c, v, "packet_id", 1, 65535, &pa->packet_id) == 0) {
        if (pa->qos == 0)
            lerr(c, v, "packet_id: a QoS 0 PUBLISH has no packet id (set qos: 1 or 2)");
        ld_need(c, ci, CAP_SEND_DUP, v);
    }
    if ((v = map_get(a, "message_expiry")) &&
        ld_v5only(c, ci, map_key(a, "message_expiry"), "message_expiry"))
        get_opt_u32(c, v, "message_expiry", 0, 0xFFFFFFFFu, &pa->message_expiry);
    if ((v = map_get(a, "topic_alias")) && ld_v5only(c, ci, map_key(a, "topic_alias"), "topic_alias") &&
        get_opt_u32(c, v, "topic_alias", 1, 65535, &pa->topic_alias) == 0)
        ld_need(c, ci, CAP_TOPIC_ALIAS, v);
    if (pa->topic && !*pa->topic && !pa->topic_alias.set && map_get(a, "topic"))
        lerr(c, map_get(a, "topic"), "topic: an empty topic needs topic_alias (MQTT 5.0)");
    if ((v = map_get(a, "user_properties")) &&
        ld_v5only(c, ci, map_key(a, "user_properties"), "user_properties"))
        get_user_props(c, v, &pa->user_props, &pa->n_user_props);
    if ((v = map_get(a, "await_ack")))
        get_bool(c, v, "await_ack", &pa->await_ack);
    if (pa->qos == 2 && pa->await_ack && !c->s->clients[ci].auto_ack)
        lerr(c, map_key(a, "qos"),
             "client '%s' has auto_ack: false, so a QoS 2 publish cannot complete by itself: "
             "add await_ack: false and send pubrel by hand",
             client_name(c, ci));
}

static void parse_disconnect(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"reason", "session_expiry", "reason_string", "keep_open",
                                       COMMON, NULL};
    disconnect_args *da = &st->u.disconnect;
    map_check_keys(c, a, "disconnect", keys);
    const ynode *v;
    if ((v = map_get(a, "reason")) &&
        get_reason(c, v, "reason", RC_DISCONNECT | RC_SEND, MQTT_V5, false, &da->reason, NULL) == 0 &&
        da->reason != 0)
        ld_v5only(c, ci, v, "a DISCONNECT reason code other than 0");
    if ((v = map_get(a, "session_expiry")) &&
        ld_v5only(c, ci, map_key(a, "session_expiry"), "session_expiry"))
        get_expiry(c, v, "session_expiry", &da->session_expiry);
    if ((v = map_get(a, "reason_string")) &&
        ld_v5only(c, ci, map_key(a, "reason_string"), "reason_string"))
        get_str(c, v, "reason_string", &da->reason_string);
    /* the runner writes such a DISCONNECT as bytes, so the socket stays open */
    if ((v = map_get(a, "keep_open")) && get_bool(c, v, "keep_open", &da->keep_open) == 0 &&
        da->keep_open)
        ld_need(c, ci, CAP_RAW_BYTES, v);
}

static void parse_drop(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"reset", COMMON, NULL};
    map_check_keys(c, a, "drop", keys);
    const ynode *v = map_get(a, "reset");
    if (v && get_bool(c, v, "reset", &st->u.drop.reset) == 0 && st->u.drop.reset)
        ld_need(c, ci, CAP_RESET, v);
}

/* packet_id: N or $SAVED, never absent / present / a range. */
void ld_packet_id_ref(lctx *c, const ynode *v, num_match *out)
{
    if (get_num_match(c, v, "packet_id", 65535, true, out) < 0)
        return;
    if (out->kind != NM_EQ && out->kind != NM_SAVED)
        lerr(c, v, "packet_id: expected a number or $SAVED");
    else if (out->kind == NM_EQ && out->lo == 0)
        lerr(c, v, "packet_id must be 1..65535, got 0");
}

uint8_t ld_ack_type(const char *action)
{
    if (!strcmp(action, "puback"))
        return MQTT_PUBACK;
    if (!strcmp(action, "pubrec"))
        return MQTT_PUBREC;
    if (!strcmp(action, "pubrel"))
        return MQTT_PUBREL;
    return MQTT_PUBCOMP;
}

static void parse_ack(lctx *c, step_t *st, int ci, const char *action, const ynode *key,
                      const ynode *a)
{
    static const char *const keys[] = {"packet_id", "reason", COMMON, NULL};
    ack_args *aa = &st->u.ack;
    aa->packet_type = ld_ack_type(action);
    map_check_keys(c, a, action, keys);
    ld_need(c, ci, CAP_MANUAL_ACK, key);
    const ynode *v;
    if ((v = map_require(c, a, action, "packet_id")))
        ld_packet_id_ref(c, v, &aa->packet_id);
    unsigned pk = aa->packet_type <= MQTT_PUBREC ? RC_PUBACK : RC_PUBREL;
    if ((v = map_get(a, "reason")) &&
        get_reason(c, v, "reason", pk | RC_SEND, MQTT_V5, false, &aa->reason, NULL) == 0 &&
        aa->reason != 0)
        ld_v5only(c, ci, v, "a reason code other than 0");
}

static void parse_send(lctx *c, step_t *st, int ci, const ynode *key, const ynode *a)
{
    static const char *const keys[] = {"hex", "chunk", "pause", COMMON, NULL};
    send_args *sa = &st->u.send;
    map_check_keys(c, a, "send", keys);
    ld_need(c, ci, CAP_RAW_BYTES, key);
    const ynode *v = map_require(c, a, "send", "hex");
    if (v && get_hex(c, v, "hex", &sa->bytes, &sa->len) != 0)
        return;
    const ynode *pa = parse_pacing(c, a, "send", &sa->pace);
    if (!pa || !sa->len)
        return;
    uint64_t total = paced_duration_ms(&sa->pace, sa->len);
    if (total > PACED_MAX_MS)
        lerr(c, pa, "send: %llu writes %lld ms apart take %llu ms, more than the %d ms a paced "
                    "send may last (use a larger chunk or a shorter pause)",
             (unsigned long long)paced_writes(&sa->pace, sa->len), (long long)sa->pace.pause_ms,
             (unsigned long long)total, PACED_MAX_MS);
}

static void parse_flood(lctx *c, step_t *st, int ci, const ynode *key, const ynode *a)
{
    static const char *const keys[] = {"connections", "connect", COMMON, NULL};
    flood_args *fa = &st->u.flood;
    map_check_keys(c, a, "flood", keys);
    ld_need(c, ci, CAP_FLOOD, key);
    const ynode *v = map_require(c, a, "flood", "connections");
    if (v && get_u32(c, v, "connections", 1, LOAD_MAX_FLOOD, &fa->connections) == 0) {
        c->flood_total += fa->connections;
        if (c->flood_total > LOAD_MAX_FLOOD)
            lerr(c, v, "flood: the flood steps of a scenario hold %u connections together, "
                       "more than %d",
                 c->flood_total, LOAD_MAX_FLOOD);
    }
    if ((v = map_get(a, "connect")))
        get_bool(c, v, "connect", &fa->connect);
}

static void parse_wait(lctx *c, step_t *st, const ynode *a)
{
    static const char *const keys[] = {"for", "session_expiry", "will_delay", "keep_alive",
                                       "times", "plus", COMMON, NULL};
    if (a->type != YN_MAP) {
        get_duration(c, a, "wait", &st->u.wait);
        return;
    }
    if (!map_check_keys(c, a, "wait", keys))
        return;
    parse_common(c, st, a);
    const ynode *f = map_get(a, "for");
    if (f) {
        static const char *const other[] = {"session_expiry", "will_delay", "keep_alive", "times",
                                            "plus", NULL};
        for (const char *const *k = other; *k; k++)
            if (map_get(a, *k)) {
                lerr(c, map_key(a, *k), "wait: give 'for' or a reference such as "
                                        "{session_expiry: CLIENT, plus: 2s}, not both");
                return;
            }
        get_duration(c, f, "for", &st->u.wait);
        return;
    }
    if (!map_get(a, "session_expiry") && !map_get(a, "will_delay") && !map_get(a, "keep_alive")) {
        lerr(c, a, "wait: give for: DURATION, or one of session_expiry, will_delay, keep_alive "
                   "naming a client");
        return;
    }
    get_duration_map(c, a, "wait", &st->u.wait);
}

/* `restart_broker: {}` or `restart_broker: {kill: true, down_for: 3s}`. */
static void parse_restart(lctx *c, step_t *st, const ynode *a)
{
    static const char *const keys[] = {"kill", "down_for", COMMON, NULL};
    if (!want_map(c, a, "restart_broker") || !map_check_keys(c, a, "restart_broker", keys))
        return;
    parse_common(c, st, a);
    const ynode *v;
    if ((v = map_get(a, "kill")))
        get_bool(c, v, "kill", &st->u.restart.kill);
    if ((v = map_get(a, "down_for")) && get_duration(c, v, "down_for", &st->u.restart.down_for) == 0)
        st->u.restart.has_down_for = true;
    /* It takes the broker away from everyone: nothing else may run beside it. */
    c->s->exclusive = true;
}

/* ---- the list ---- */

static const char *const actions[] = {"connect", "subscribe", "unsubscribe", "publish",
                                      "disconnect", "drop", "puback", "pubrec", "pubrel",
                                      "pubcomp", "send", "expect", "open", "flood", NULL};

static void parse_step(lctx *c, step_t *st, const ynode *item)
{
    if (item->type != YN_MAP || item->n != 2) {
        if (item->type == YN_MAP && item->n > 2)
            lerr(c, item->items[2], "a step has exactly one key, but this one also has '%.60s' "
                                    "(indent step options inside the {...} of the step)",
                 item->items[2]->str);
        else
            lerr(c, item, "a step is a one-key map such as `sub.connect: {}` or `wait: 2s`, got %s",
                 ynode_type_name(item));
        return;
    }
    const ynode *key = item->items[0], *args = item->items[1];
    st->pos = key->pos;
    if (!strcmp(key->str, "wait")) {
        st->kind = ST_WAIT;
        parse_wait(c, st, args);
        return;
    }
    if (!strcmp(key->str, "restart_broker")) {
        st->kind = ST_RESTART;
        parse_restart(c, st, args);
        return;
    }
    const char *dot = strchr(key->str, '.');
    if (!dot) {
        lerr(c, key, "unknown step '%.60s': a step is CLIENT.ACTION, wait or restart_broker",
             key->str);
        return;
    }
    int ci = find_client(c, key, key->str, (size_t)(dot - key->str));
    if (ci < 0)
        return;
    st->client = ci;
    const char *action = dot + 1;
    size_t ai = 0;
    while (actions[ai] && strcmp(actions[ai], action))
        ai++;
    if (!actions[ai]) {
        lerr(c, key, "unknown action '%.60s' (actions: connect, subscribe, unsubscribe, publish, "
                     "disconnect, drop, puback, pubrec, pubrel, pubcomp, send, expect, open, flood)",
             action);
        return;
    }
    if (!want_map(c, args, action))
        return;
    parse_common(c, st, args);
    switch (ai) {
    case 0: st->kind = ST_CONNECT; parse_connect(c, st, ci, args); break;
    case 1: st->kind = ST_SUBSCRIBE; parse_subscribe(c, st, ci, args); break;
    case 2: st->kind = ST_UNSUBSCRIBE; parse_unsubscribe(c, st, args); break;
    case 3: st->kind = ST_PUBLISH; parse_publish(c, st, ci, args); break;
    case 4: st->kind = ST_DISCONNECT; parse_disconnect(c, st, ci, args); break;
    case 5: st->kind = ST_DROP; parse_drop(c, st, ci, args); break;
    case 6: case 7: case 8: case 9:
        st->kind = ST_ACK;
        parse_ack(c, st, ci, action, key, args);
        break;
    case 10: st->kind = ST_SEND; parse_send(c, st, ci, key, args); break;
    case 12: {
        static const char *const keys[] = {COMMON, NULL};
        st->kind = ST_OPEN;
        map_check_keys(c, args, "open", keys);
        ld_need(c, ci, CAP_RAW_BYTES, key);
        break;
    }
    case 13: st->kind = ST_FLOOD; parse_flood(c, st, ci, key, args); break;
    default: st->kind = ST_EXPECT; ld_expect(c, st, ci, args); break;
    }
}

void load_steps(lctx *c, const ynode *steps)
{
    scenario_t *s = c->s;
    if (!want_seq(c, steps, "steps"))
        return;
    if (steps->n == 0) {
        lerr(c, steps, "steps: a scenario needs at least one step");
        return;
    }
    /* marks and saved names are looked up linearly: keep that quadratic cost small */
    if (steps->n > LOAD_MAX_STEPS) {
        lerr(c, steps, "steps: at most %d steps in one scenario", LOAD_MAX_STEPS);
        return;
    }
    s->steps = xcalloc(steps->n, sizeof *s->steps);
    if (!s->steps) {
        lerr(c, steps, "out of memory");
        return;
    }
    for (size_t i = 0; i < steps->n; i++) {
        step_t *st = &s->steps[s->n_steps++];
        st->client = -1;
        st->pos = steps->items[i]->pos;
        parse_step(c, st, steps->items[i]);
        /* a mark names the end of its step, so later steps may use it */
        if (st->mark && *st->mark && !ld_name_in(c->marks, c->n_marks, st->mark))
            ld_push_name(c, &c->marks, &c->n_marks, st->mark);
    }
}
