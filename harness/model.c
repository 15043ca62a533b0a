/* model.c -- releasing a scenario model, and the short names of its enums.
 *
 * What it is for: scenario_free, which must cope with a scenario that the loader
 * abandoned half way (every pointer NULL or owned, every count matching what was
 * filled), and the names used in traces and reports.
 *
 * What it is not: validation or loading (load*.c).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void free_user_props(user_prop *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].value);
    }
    free(u);
}

static void free_props(prop_expect *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].num.saved);
        free(p[i].str);
    }
    free(p);
}

static void free_message(message_expect *m)
{
    free(m->topic);
    free(m->payload);
    free(m->qos.saved);
    free(m->packet_id.saved);
    free_props(m->props, m->n_props);
    free(m->subscription_ids);
    free_user_props(m->user_props, m->n_user_props);
    free(m->save);
}

static void free_expect(expect_args *e)
{
    switch (e->kind) {
    case EX_CONNACK:
        free_props(e->u.connack.props, e->u.connack.n_props);
        break;
    case EX_SUBACK:
    case EX_UNSUBACK:
        free(e->u.suback.reasons);
        break;
    case EX_MESSAGE:
        free_message(&e->u.message);
        break;
    case EX_MESSAGES:
        for (size_t i = 0; i < e->u.messages.n; i++)
            free_message(&e->u.messages.items[i]);
        free(e->u.messages.items);
        break;
    case EX_ACK:
        free(e->u.ack.packet_id.saved);
        free(e->u.ack.reason.saved);
        break;
    case EX_DISCONNECT:
        free_props(e->u.disconnect.props, e->u.disconnect.n_props);
        free(e->u.disconnect.alt_reasons);
        break;
    case EX_ONE_OF:
    case EX_SEQUENCE:
        for (size_t i = 0; i < e->u.one_of.n; i++)
            free_expect(&e->u.one_of.items[i]);
        free(e->u.one_of.items);
        break;
    default:
        break;
    }
    free(e->since);
}

static void free_step(step_t *st)
{
    free(st->mark);
    free(st->spec);
    switch (st->kind) {
    case ST_CONNECT: {
        connect_args *c = &st->u.connect;
        free(c->authentication_method);
        free(c->will.topic);
        free(c->will.payload);
        free_user_props(c->will.user_props, c->will.n_user_props);
        free(c->username);
        free(c->password);
        free_user_props(c->user_props, c->n_user_props);
        break;
    }
    case ST_SUBSCRIBE:
        for (size_t i = 0; i < st->u.subscribe.n_entries; i++)
            free(st->u.subscribe.entries[i].filter);
        free(st->u.subscribe.entries);
        free_user_props(st->u.subscribe.user_props, st->u.subscribe.n_user_props);
        break;
    case ST_UNSUBSCRIBE:
        for (size_t i = 0; i < st->u.unsubscribe.n_filters; i++)
            free(st->u.unsubscribe.filters[i]);
        free(st->u.unsubscribe.filters);
        break;
    case ST_PUBLISH:
        free(st->u.publish.topic);
        free(st->u.publish.payload);
        free_user_props(st->u.publish.user_props, st->u.publish.n_user_props);
        break;
    case ST_DISCONNECT:
        free(st->u.disconnect.reason_string);
        break;
    case ST_ACK:
        free(st->u.ack.packet_id.saved);
        break;
    case ST_SEND:
        free(st->u.send.bytes);
        break;
    case ST_EXPECT:
        free_expect(&st->u.expect);
        break;
    default:
        break;
    }
}

void scenario_free(scenario_t *s)
{
    if (!s)
        return;
    free(s->file);
    free(s->id);
    free(s->title);
    for (size_t i = 0; i < s->n_spec; i++)
        free(s->spec[i]);
    free(s->spec);
    free(s->spec_pos);
    free(s->driver);
    for (size_t i = 0; i < s->n_tags; i++)
        free(s->tags[i]);
    free(s->tags);
    for (size_t i = 0; i < s->n_clients; i++) {
        client_def *c = &s->clients[i];
        free(c->name);
        free(c->client_id);
        free(c->username);
        free(c->password);
        free(c->driver);
    }
    free(s->clients);
    for (size_t i = 0; i < s->n_steps; i++)
        free_step(&s->steps[i]);
    free(s->steps);
    free(s);
}

const char *step_kind_name(step_kind k)
{
    static const char *const names[] = {"connect", "subscribe", "unsubscribe", "publish",
                                        "disconnect", "drop", "ack", "send", "wait", "expect", "open",
                                        "flood", "restart_broker"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *expect_kind_name(expect_kind k)
{
    static const char *const names[] = {"connack", "suback", "unsuback", "message", "messages",
                                        "nothing", "ack", "disconnect", "closed", "alive",
                                        "in_flight", "one_of", "sequence"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *level_name(level_t l)
{
    switch (l) {
    case LEVEL_MUST: return "must";
    case LEVEL_SHOULD: return "should";
    case LEVEL_MAY: return "may";
    }
    return "?";
}

static const struct {
    unsigned bit;
    const char *key;
    const char *name;
} features[] = {
    {FEAT_V5, "mqtt5", "MQTT 5.0"},
    {FEAT_V311, "mqtt311", "MQTT 3.1.1"},
    {FEAT_QOS1, "qos1", "QoS 1"},
    {FEAT_QOS2, "qos2", "QoS 2"},
    {FEAT_RETAIN, "retain", "retained messages"},
    {FEAT_WILDCARD_SUB, "wildcard_subscriptions", "wildcard subscriptions"},
    {FEAT_SHARED_SUB, "shared_subscriptions", "shared subscriptions"},
    {FEAT_SUB_ID, "subscription_identifiers", "subscription identifiers"},
    {FEAT_TOPIC_ALIAS, "topic_aliases", "topic aliases"},
    {FEAT_SECOND_USER, "second_user", "a second user's credentials"},
    {FEAT_MAX_PACKET_SIZE, "maximum_packet_size", "an announced Maximum Packet Size"},
    {FEAT_QUEUE_QOS0, "queue_qos0", "queueing of QoS 0 messages for offline sessions"},
    {FEAT_RESTART, "restart", "a restart by the harness (restart_broker)"},
    {FEAT_DURABLE, "durable_sessions", "sessions that outlive a broker restart"},
};

const char *feature_name(unsigned one_feature)
{
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (features[i].bit == one_feature)
            return features[i].name;
    return NULL;
}

unsigned feature_by_key(const char *key)
{
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (!strcmp(features[i].key, key))
            return features[i].bit;
    return 0;
}

uint64_t paced_writes(const pacing *p, size_t len)
{
    if (len == 0)
        return 0;
    return p->chunk ? (len + p->chunk - 1) / p->chunk : 1;
}

uint64_t paced_duration_ms(const pacing *p, size_t len)
{
    uint64_t writes = paced_writes(p, len);
    return writes > 1 ? (writes - 1) * (uint64_t)p->pause_ms : 0;
}
