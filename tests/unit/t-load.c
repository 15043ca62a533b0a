/* t-load.c -- unit tests of the scenario loader on valid input (TAP).
 *
 * What it is for: checking that valid snippets become the model that model.h
 * describes -- defaults, absent versus zero, durations, reason names, matchers,
 * capability bits, source positions -- plus a set loaded from a directory and a
 * short mutation run that must never crash (run it under ASan).
 *
 * What it is not: the catalogue of error messages; tests/bad-input/ holds those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness/load.h"
#include "../../mqtt/mqtt.h"
#include "tap.h"

static char err[1024];

#define HEAD                                                                                     \
    "id: t.x\n"                                                                                  \
    "title: A test\n"                                                                            \
    "spec: [v5:MQTT-3.1.2-4]\n"                                                                  \
    "level: should\n"

static scenario_t *load(const char *text)
{
    scenario_t *s = NULL;
    if (scenario_load_string("t.yaml", text, strlen(text), &s, err, sizeof err) != 0) {
        diag("load failed: %s", err);
        return NULL;
    }
    return s;
}

static int fails_with(const char *text, const char *want)
{
    scenario_t *s = NULL;
    int rc = scenario_load_string("t.yaml", text, strlen(text), &s, err, sizeof err);
    if (rc == 0) {
        scenario_free(s);
        diag("loaded, expected '%s'", want);
        return 0;
    }
    if (!strstr(err, want)) {
        diag("got '%s', expected '%s'", err, want);
        return 0;
    }
    return s == NULL;
}

static void test_example(void)
{
    scenario_t *s = load(
        "id: v5.queueing.offline-messages-delivered-on-resume\n"
        "title: Messages published while a session is offline arrive when it resumes\n"
        "spec: [v5:MQTT-3.1.2-5, v5:MQTT-3.2.2-3, v5:MQTT-4.5.0-1]\n"
        "level: must\n"
        "protocol: 5\n"
        "clients:\n"
        "  sub: {}\n"
        "  pub: {}\n"
        "steps:\n"
        "  - sub.connect:    {clean_start: true, session_expiry: 300}\n"
        "  - sub.expect:     {connack: {reason: success, session_present: false}}\n"
        "  - sub.subscribe:  {filter: \"{ns}/test\", qos: 1}\n"
        "  - pub.connect:    {}\n"
        "  - pub.publish:    {topic: \"{ns}/test\", qos: 1, payload: m1}\n"
        "  - sub.expect:     {message: {topic: \"{ns}/test\", payload: m1}}\n"
        "  - sub.disconnect: {}\n"
        "  - pub.publish:    {topic: \"{ns}/test\", qos: 1, payload: m2}\n"
        "  - pub.publish:    {topic: \"{ns}/test\", qos: 1, payload: m3}\n"
        "  - sub.connect:    {clean_start: false, session_expiry: 300}\n"
        "  - sub.expect:     {connack: {session_present: true}}\n"
        "  - sub.expect:     {messages: [{payload: m2}, {payload: m3}], in_order: true}\n");
    ok(s != NULL, "the language document's example loads");
    if (!s)
        return;
    is_str(s->id, "v5.queueing.offline-messages-delivered-on-resume", "id");
    is_int(s->n_spec, 3, "three statements");
    is_str(s->spec[1], "v5:MQTT-3.2.2-3", "statements kept as written");
    is_int(s->level, LEVEL_MUST, "level must");
    is_int(s->protocol, MQTT_V5, "protocol 5");
    is_int(s->n_clients, 2, "two clients");
    is_str(s->clients[1].name, "pub", "clients in order");
    is_int(s->clients[0].pos.line, 7, "client position: line");
    is_int(s->clients[0].pos.col, 3, "client position: column");
    is_int(s->n_steps, 12, "twelve steps");
    is_int(s->steps[0].pos.line, 10, "step position: line");
    is_int(s->steps[0].pos.col, 5, "step position: column (the key)");
    is_int(s->steps[3].client, 1, "pub.connect is client 1");
    is_int(s->steps[1].kind, ST_EXPECT, "expect step");
    is_int(s->steps[1].u.expect.kind, EX_CONNACK, "connack expectation");
    ok(s->steps[1].u.expect.u.connack.check_reason && s->steps[1].u.expect.u.connack.reason == 0,
       "reason success checked as 0");
    ok(s->steps[1].u.expect.u.connack.check_session_present &&
           !s->steps[1].u.expect.u.connack.session_present,
       "session_present false checked");
    ok(!s->steps[10].u.expect.u.connack.check_reason, "reason not written: not checked");
    const step_t *m = &s->steps[5];
    is_str(m->u.expect.u.message.topic, "{ns}/test", "templates kept as written");
    is_int(m->u.expect.u.message.retain, -1, "retain not checked");
    is_int(m->u.expect.u.message.dup, -1, "dup not checked");
    is_int(m->u.expect.u.message.qos.kind, NM_ANY, "qos not checked");
    is_int(m->u.expect.u.message.pos.line, 15, "message position");
    const step_t *ms = &s->steps[11];
    is_int(ms->u.expect.kind, EX_MESSAGES, "messages");
    is_int(ms->u.expect.u.messages.n, 2, "two of them");
    is_str(ms->u.expect.u.messages.items[1].payload, "m3", "second payload");
    ok(ms->u.expect.u.messages.in_order, "in order");
    is_int(s->steps[4].u.publish.payload_len, 2, "payload length");
    ok(s->steps[4].u.publish.await_ack, "await_ack defaults to true");
    is_int(s->clients[0].needs, 0, "plain scenario: no driver capabilities needed");
    scenario_free(s);
}

static void test_defaults_and_absent(void)
{
    scenario_t *s = load(HEAD "protocol: 3.1.1\n"
                              "clients: {a: {}, b: {protocol: 5}}\n"
                              "steps:\n"
                              "  - a.connect: {}\n"
                              "  - b.connect: {session_expiry: 0}\n"
                              "  - b.connect: {session_expiry: never, clean_start: false}\n"
                              "  - b.expect: {closed: {}}\n"
                              "  - b.disconnect: {session_expiry: 0}\n"
                              "  - b.disconnect: {}\n"
                              "  - a.expect: {messages: [{payload: x}, {payload: y}], in_order: false}\n");
    ok(s != NULL, "defaults scenario loads");
    if (!s)
        return;
    is_int(s->level, LEVEL_SHOULD, "level should");
    is_int(s->clients[0].protocol, MQTT_V311, "client protocol from the scenario");
    is_int(s->clients[1].protocol, MQTT_V5, "client protocol overridden");
    ok(s->clients[0].auto_ack, "auto_ack defaults to true");
    ok(s->clients[0].client_id == NULL, "client_id absent: generated later");
    const connect_args *c0 = &s->steps[0].u.connect;
    ok(c0->clean_start, "clean_start defaults to true");
    is_int(c0->keep_alive, 60, "keep_alive defaults to 60");
    ok(!c0->session_expiry.set, "session_expiry absent when not written");
    ok(!c0->receive_maximum.set, "receive_maximum absent");
    ok(!c0->has_will, "no will");
    ok(s->steps[1].u.connect.session_expiry.set && s->steps[1].u.connect.session_expiry.v == 0,
       "session_expiry: 0 is present and zero");
    ok(s->steps[2].u.connect.session_expiry.set &&
           s->steps[2].u.connect.session_expiry.v == 0xFFFFFFFFu,
       "session_expiry: never is 0xFFFFFFFF");
    ok(!s->steps[2].u.connect.clean_start, "clean_start false");
    is_int(s->steps[3].u.expect.within.ref, DUR_LITERAL, "within is a literal");
    is_int(s->steps[3].u.expect.within.plus_ms, 5000, "within defaults to 5 s");
    ok(!s->steps[3].u.expect.has_after, "no after");
    ok(s->steps[3].u.expect.since == NULL, "no since");
    ok(s->steps[4].u.disconnect.session_expiry.set, "disconnect session_expiry 0 is present");
    ok(!s->steps[5].u.disconnect.session_expiry.set, "disconnect session_expiry absent");
    is_int(s->steps[5].u.disconnect.reason, 0, "disconnect reason defaults to 0");
    ok(!s->steps[6].u.expect.u.messages.in_order, "in_order: false");
    ok(!s->steps[0].has_level, "no step level");
    scenario_free(s);
}

static void test_durations(void)
{
    scenario_t *s = load(HEAD "protocol: 5\n"
                              "clients: {sub: {}}\n"
                              "steps:\n"
                              "  - wait: 500ms\n"
                              "  - wait: 1.5s\n"
                              "  - wait: 2\n"
                              "  - wait: 0.25\n"
                              "  - wait: 1m\n"
                              "  - wait: {session_expiry: sub, times: 1.5, plus: 2s}\n"
                              "  - wait: {keep_alive: sub, plus: -1s, mark: m}\n"
                              "  - wait: {for: 3s}\n"
                              "  - sub.expect: {nothing: 3s}\n"
                              "  - sub.expect: {closed: {}, since: m, after: 1s, within: {will_delay: sub, plus: 5s}}\n");
    ok(s != NULL, "durations load");
    if (!s)
        return;
    is_int(s->steps[0].u.wait.plus_ms, 500, "500ms");
    is_int(s->steps[1].u.wait.plus_ms, 1500, "1.5s");
    is_int(s->steps[2].u.wait.plus_ms, 2000, "2 (seconds)");
    is_int(s->steps[3].u.wait.plus_ms, 250, "0.25 (seconds)");
    is_int(s->steps[4].u.wait.plus_ms, 60000, "1m");
    is_int(s->steps[0].client, -1, "wait has no client");
    is_int(s->steps[0].kind, ST_WAIT, "wait step");
    const duration_t *d = &s->steps[5].u.wait;
    is_int(d->ref, DUR_SESSION_EXPIRY, "session_expiry reference");
    is_int(d->client, 0, "of client sub");
    ok(d->times > 1.499 && d->times < 1.501, "times 1.5");
    is_int(d->plus_ms, 2000, "plus 2s");
    is_int(d->pos.line, 13, "duration position");
    is_int(d->pos.col, 11, "duration position: column");
    is_int(s->steps[6].u.wait.ref, DUR_KEEP_ALIVE, "keep_alive reference");
    is_int(s->steps[6].u.wait.plus_ms, -1000, "plus may be negative");
    is_str(s->steps[6].mark, "m", "wait carries a mark");
    ok(s->steps[6].u.wait.times == 1, "times defaults to 1");
    is_int(s->steps[7].u.wait.plus_ms, 3000, "wait {for: 3s}");
    is_int(s->steps[8].u.expect.kind, EX_NOTHING, "nothing");
    is_int(s->steps[8].u.expect.within.plus_ms, 3000, "nothing: the quiet period is within");
    const expect_args *e = &s->steps[9].u.expect;
    is_str(e->since, "m", "since a mark");
    ok(e->has_after && e->after.plus_ms == 1000, "after 1s");
    is_int(e->within.ref, DUR_WILL_DELAY, "within may be a reference");
    scenario_free(s);
}

static void test_reasons_and_matchers(void)
{
    scenario_t *s = load(
        HEAD "protocol: 5\n"
             "clients: {sub: {}, old: {protocol: 3.1.1}}\n"
             "steps:\n"
             "  - sub.expect: {disconnect: {reason: session_taken_over}}\n"
             "  - sub.expect: {disconnect: {reason: 142, properties: {reason_string: present}}}\n"
             "  - sub.expect: {disconnect: {reason: 0x8E}}\n"
             "  - sub.expect: {connack: {reason: error}}\n"
             "  - old.expect: {connack: {reason: identifier_rejected}}\n"
             "  - old.expect: {connack: {reason: error}}\n"
             "  - sub.expect: {suback: {reasons: [granted_qos_1, 0x80, quota_exceeded]}}\n"
             "  - sub.expect: {unsuback: {reasons: [no_subscription_existed, success]}}\n"
             "  - sub.disconnect: {reason: disconnect_with_will}\n"
             "  - sub.disconnect: {reason: normal}\n"
             "  - sub.expect: {connack: {properties: {session_expiry: absent, receive_maximum: 10,\n"
             "                 topic_alias_maximum: {min: 1, max: 5}, server_keep_alive: present,\n"
             "                 assigned_client_identifier: present, reason_string: absent,\n"
             "                 response_information: \"x\"}}}\n"
             "  - sub.expect: {message: {payload: a, qos: 1, retain: true, save: m1,\n"
             "                 properties: {message_expiry: {min: 1, max: 8}}, subscription_ids: [7, 9],\n"
             "                 user_properties: [{k: v}, {k: w}]}}\n"
             "  - sub.expect: {message: {payload_hex: \"00 ff\", packet_id: $m1, qos: absent}}\n");
    ok(s != NULL, "reasons and matchers load");
    if (!s)
        return;
    is_int(s->steps[0].u.expect.u.disconnect.reason, 0x8E, "session_taken_over is 0x8E");
    is_int(s->steps[1].u.expect.u.disconnect.reason, 0x8E, "142 is 0x8E");
    is_int(s->steps[2].u.expect.u.disconnect.reason, 0x8E, "0x8E");
    is_int(s->steps[1].u.expect.u.disconnect.n_props, 1, "disconnect property");
    is_int(s->steps[1].u.expect.u.disconnect.props[0].num.kind, NM_PRESENT, "string present");
    const connack_expect *ce = &s->steps[3].u.expect.u.connack;
    ok(ce->check_reason_is_error && !ce->check_reason, "reason: error");
    is_int(s->steps[4].u.expect.u.connack.reason, 2, "3.1.1 identifier_rejected is 2");
    ok(s->steps[5].u.expect.u.connack.check_reason_is_error, "3.1.1 reason: error");
    const suback_expect *se = &s->steps[6].u.expect.u.suback;
    is_int(se->n_reasons, 3, "three suback reasons");
    ok(se->reasons[0] == 1 && se->reasons[1] == 0x80 && se->reasons[2] == 0x97, "suback codes");
    is_int(s->steps[7].u.expect.kind, EX_UNSUBACK, "unsuback");
    ok(s->steps[7].u.expect.u.suback.reasons[0] == 0x11, "no_subscription_existed");
    is_int(s->steps[8].u.disconnect.reason, 0x04, "disconnect_with_will is 4");
    is_int(s->steps[9].u.disconnect.reason, 0, "normal is 0");
    const connack_expect *cp = &s->steps[10].u.expect.u.connack;
    is_int(cp->n_props, 7, "seven connack properties");
    is_int(cp->props[0].id, MQTT_PROP_SESSION_EXPIRY, "session_expiry id");
    ok(cp->props[0].absent && cp->props[0].num.kind == NM_ABSENT, "session_expiry absent");
    ok(cp->props[1].id == MQTT_PROP_RECEIVE_MAXIMUM && cp->props[1].num.kind == NM_EQ &&
           cp->props[1].num.lo == 10,
       "receive_maximum 10");
    ok(cp->props[2].num.kind == NM_RANGE && cp->props[2].num.lo == 1 && cp->props[2].num.hi == 5,
       "topic_alias_maximum range");
    ok(cp->props[3].num.kind == NM_PRESENT, "server_keep_alive present");
    ok(cp->props[4].id == MQTT_PROP_ASSIGNED_CLIENT_ID && cp->props[4].num.kind == NM_PRESENT &&
           !cp->props[4].absent,
       "assigned_client_identifier present");
    ok(cp->props[5].absent, "reason_string absent");
    is_str(cp->props[6].str, "x", "response_information equals a string");
    is_int(cp->props[0].pos.line, 18, "property position");
    is_int(cp->props[0].pos.col, 41, "property position: column");
    const message_expect *me = &s->steps[11].u.expect.u.message;
    ok(me->qos.kind == NM_EQ && me->qos.lo == 1, "qos 1");
    is_int(me->retain, 1, "retain true");
    is_str(me->save, "m1", "save");
    ok(me->n_props == 1 && me->props[0].id == MQTT_PROP_MESSAGE_EXPIRY &&
           me->props[0].num.kind == NM_RANGE && me->props[0].num.hi == 8,
       "message_expiry range");
    ok(me->n_subscription_ids == 2 && me->subscription_ids[1].set &&
           me->subscription_ids[1].v == 9,
       "subscription ids");
    ok(me->n_user_props == 2 && !strcmp(me->user_props[1].value, "w"), "user properties in order");
    const message_expect *m2 = &s->steps[12].u.expect.u.message;
    ok(m2->packet_id.kind == NM_SAVED && !strcmp(m2->packet_id.saved, "m1"), "packet_id: $m1");
    is_int(m2->qos.kind, NM_ABSENT, "qos: absent");
    is_bytes(m2->payload, m2->payload_len, "\x00\xff", 2, "payload_hex");
    scenario_free(s);
}

static void test_actions(void)
{
    scenario_t *s = load(
        HEAD "protocol: 5\n"
             "clients: {sub: {client_id: \"{run}-x\"}, twin: {client_id: \"{id:sub}\", username: u}}\n"
             "steps:\n"
             "  - sub.connect: {keep_alive: 30, receive_maximum: 2, maximum_packet_size: 1000,\n"
             "                  topic_alias_maximum: 0, user_properties: [{a: b}],\n"
             "                  will: {topic: \"{ns}/will\", payload: gone, qos: 1, retain: true,\n"
             "                         delay: 5, message_expiry: 0}, username: x, password: y}\n"
             "  - sub.subscribe: {filter: \"{ns}/a/#\", qos: 2, no_local: true, retain_as_published: true,\n"
             "                    retain_handling: 1, subscription_id: 7}\n"
             "  - sub.subscribe: {filters: [{filter: \"{ns}/a\", qos: 1}, {filter: \"{ns}/b\"}]}\n"
             "  - sub.unsubscribe: {filters: [\"{ns}/a\", \"{ns}/b\"]}\n"
             "  - sub.unsubscribe: {filter: \"{ns}/a\"}\n"
             "  - sub.publish: {topic: \"{ns}/t\", qos: 1, payload: m1, retain: true, message_expiry: 10,\n"
             "                  user_properties: [{k: v}], await_ack: false, spec: \"v5:MQTT-3.3.1-5\",\n"
             "                  level: may}\n"
             "  - sub.disconnect: {reason: 0x04, session_expiry: 10, reason_string: bye}\n"
             "  - sub.drop: {}\n"
             "  - twin.connect: {}\n");
    ok(s != NULL, "actions load");
    if (!s)
        return;
    is_str(s->clients[1].client_id, "{id:sub}", "client_id template");
    is_str(s->clients[1].username, "u", "client username");
    const connect_args *c = &s->steps[0].u.connect;
    is_int(c->keep_alive, 30, "keep_alive");
    ok(c->receive_maximum.set && c->receive_maximum.v == 2, "receive_maximum");
    ok(c->maximum_packet_size.set && c->maximum_packet_size.v == 1000, "maximum_packet_size");
    ok(c->topic_alias_maximum.set && c->topic_alias_maximum.v == 0, "topic_alias_maximum 0 is set");
    ok(c->has_will && !strcmp(c->will.topic, "{ns}/will") && c->will.qos == 1 && c->will.retain,
       "will");
    ok(c->will.delay.set && c->will.delay.v == 5, "will delay");
    ok(c->will.message_expiry.set && c->will.message_expiry.v == 0, "will message_expiry 0 is set");
    ok(c->n_user_props == 1 && !strcmp(c->user_props[0].name, "a"), "connect user property");
    is_str(c->password, "y", "password");
    const subscribe_args *sa = &s->steps[1].u.subscribe;
    ok(sa->n_entries == 1 && sa->entries[0].qos == 2 && sa->entries[0].no_local &&
           sa->entries[0].retain_as_published && sa->entries[0].retain_handling == 1,
       "subscribe options");
    ok(sa->subscription_id.set && sa->subscription_id.v == 7, "subscription id");
    const subscribe_args *sb = &s->steps[2].u.subscribe;
    ok(sb->n_entries == 2 && sb->entries[1].qos == 0 && !strcmp(sb->entries[1].filter, "{ns}/b"),
       "subscribe filters");
    is_int(s->steps[3].u.unsubscribe.n_filters, 2, "unsubscribe filters");
    is_int(s->steps[4].u.unsubscribe.n_filters, 1, "unsubscribe filter");
    const publish_args *p = &s->steps[5].u.publish;
    ok(p->qos == 1 && p->retain && !p->await_ack && !p->dup && !p->packet_id.set, "publish flags");
    ok(p->message_expiry.set && p->message_expiry.v == 10, "message_expiry");
    is_str(s->steps[5].spec, "v5:MQTT-3.3.1-5", "step spec");
    ok(s->steps[5].has_level && s->steps[5].level == LEVEL_MAY, "step level");
    const disconnect_args *d = &s->steps[6].u.disconnect;
    ok(d->reason == 4 && d->session_expiry.set && d->session_expiry.v == 10 &&
           !strcmp(d->reason_string, "bye"),
       "disconnect");
    is_int(s->steps[7].kind, ST_DROP, "drop");
    ok(!s->steps[7].u.drop.reset, "drop without reset");
    scenario_free(s);
}

static void test_needs(void)
{
    scenario_t *s = load(
        HEAD "protocol: 5\n"
             "clients: {a: {auto_ack: false}, b: {}, c: {}, d: {}, e: {}, f: {}, g: {}, h: {}}\n"
             "steps:\n"
             "  - a.expect: {message: {payload: x, save: m1}}\n"
             "  - a.puback: {packet_id: $m1}\n"
             "  - a.pubrel: {packet_id: 7, reason: packet_identifier_not_found}\n"
             "  - b.expect: {message: {payload: x, dup: true}}\n"
             "  - b.expect: {messages: [{payload: x, packet_id: $m1}]}\n"
             "  - c.expect: {pubrel: {packet_id: $m1}}\n"
             "  - d.publish: {topic: t, qos: 1, dup: true, packet_id: 9}\n"
             "  - e.send: {hex: \"e0 00\"}\n"
             "  - e.disconnect: {keep_open: true}\n"
             "  - f.drop: {reset: true}\n"
             "  - g.connect: {second_connect: true}\n"
             "  - h.publish: {topic: \"\", topic_alias: 1, payload: x}\n"
             "  - b.expect: {message: {payload: x, packet_id: 3}}\n");
    ok(s != NULL, "needs scenario loads");
    if (!s)
        return;
    is_int(s->clients[0].needs, CAP_MANUAL_ACK | CAP_NO_AUTO_RESEND,
           "auto_ack false and acks: manual acks, no auto resend");
    ok(!s->clients[0].auto_ack, "auto_ack false");
    is_int(s->steps[1].u.ack.packet_type, MQTT_PUBACK, "puback");
    ok(s->steps[1].u.ack.packet_id.kind == NM_SAVED, "ack packet id saved");
    ok(s->steps[2].u.ack.packet_type == MQTT_PUBREL && s->steps[2].u.ack.reason == 0x92 &&
           s->steps[2].u.ack.packet_id.lo == 7,
       "pubrel with reason");
    is_int(s->clients[1].needs, CAP_SEE_DUP, "dup check: see_dup (packet_id: nothing extra)");
    is_int(s->clients[2].needs, CAP_SEE_ACKS, "pubrel expectation: see_acks");
    is_int(s->steps[5].u.expect.u.ack.packet_type, MQTT_PUBREL, "ack expectation type");
    is_int(s->clients[3].needs, CAP_SEND_DUP, "publish dup / packet_id: send_dup");
    ok(s->steps[6].u.publish.dup && s->steps[6].u.publish.packet_id.v == 9, "dup publish");
    is_int(s->clients[4].needs, CAP_RAW_BYTES, "send, keep_open: raw_bytes");
    is_bytes(s->steps[7].u.send.bytes, s->steps[7].u.send.len, "\xe0\x00", 2, "send bytes");
    ok(s->steps[8].u.disconnect.keep_open, "keep_open");
    is_int(s->clients[5].needs, CAP_RESET, "drop reset: reset");
    is_int(s->clients[6].needs, CAP_SECOND_CONNECT, "second_connect");
    is_int(s->clients[7].needs, CAP_TOPIC_ALIAS, "topic_alias");
    ok(s->steps[11].u.publish.topic_alias.set && s->steps[11].u.publish.topic[0] == 0,
       "empty topic with alias");
    scenario_free(s);
}

static void test_errors(void)
{
    ok(fails_with(HEAD "protocol: 5\nclients: {sub: {}}\nsteps:\n  - sub.connect: {clean_start: "
                       "yes please}\n",
                  "t.yaml:8:32: clean_start: expected a boolean (true or false), got 'yes please'"),
       "error format FILE:LINE:COL: message");
    ok(fails_with("", "t.yaml:1:1: empty file"), "empty input");
    ok(fails_with("{", "YAML syntax error"), "unterminated flow map");
    ok(fails_with("\xff\xfe garbage", "t.yaml:"), "invalid UTF-8");
    char deep[4000];
    size_t k = 0;
    for (int i = 0; i < 1000; i++)
        deep[k++] = '[';
    deep[k] = 0;
    ok(fails_with(deep, "nested too deeply"), "deep nesting is refused, not recursed");
    /* a NUL in the middle: libyaml refuses control characters */
    static const char nul[] = "id: a\0b\n";
    scenario_t *s = NULL;
    ok(scenario_load_string("t.yaml", nul, sizeof nul - 1, &s, err, sizeof err) < 0 && !s,
       "embedded NUL refused");
    ok(scenario_load("/nonexistent/x.yaml", &s, err, sizeof err) < 0 && strstr(err, "cannot read"),
       "missing file");
}

/* Random byte edits of a valid scenario: whatever comes out, no crash, no leak. */
static void test_mutations(void)
{
    static const char base[] =
        HEAD "protocol: 5\n"
             "clients: {sub: {auto_ack: false, driver: raw}, pub: {client_id: \"{id:sub}\"}}\n"
             "steps:\n"
             "  - sub.connect: {session_expiry: 300, will: {topic: \"{ns}/w\", delay: 2}}\n"
             "  - sub.expect: {connack: {reason: success, properties: {session_expiry: absent}}}\n"
             "  - sub.subscribe: {filters: [{filter: \"{ns}/a\", qos: 1}]}\n"
             "  - pub.publish: {topic: \"{ns}/a\", qos: 1, payload: m1, mark: p}\n"
             "  - sub.expect: {message: {payload: m1, dup: false, save: m1}, since: p}\n"
             "  - sub.puback: {packet_id: $m1}\n"
             "  - sub.expect: {messages: [{payload: m2}], in_order: false, within: 2s}\n"
             "  - wait: {session_expiry: sub, times: 2, plus: -1s}\n";
    const char alphabet[] = "{}[]:,-'\"&*!#|>\n $.0123456789abcdefghijklmnopqrstuvwxyz";
    char buf[sizeof base + 8];
    unsigned seed = 12345;
    int loaded = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, base, sizeof base);
        size_t len = sizeof base - 1;
        int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        scenario_t *s = NULL;
        if (scenario_load_string("m.yaml", buf, len, &s, err, sizeof err) == 0) {
            loaded++;
            scenario_free(s);
        } else {
            refused++;
            if (strncmp(err, "m.yaml:", 7) != 0) {
                diag("bad error format: %s", err);
                break;
            }
        }
    }
    ok(loaded + refused == 3000, "3000 mutations: %d loaded, %d refused, no crash", loaded, refused);
    ok(refused > 0, "mutations produce errors");
}

static void write_file(const char *path, const char *id)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "id: %s\ntitle: t\nspec: [v5:MQTT-1]\nlevel: must\nprotocol: 5\n"
               "clients: {c: {}}\nsteps:\n  - c.connect: {}\n", id);
    fclose(f);
}

static void test_set(void)
{
    char dir[] = "/tmp/t-load-XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    char p[300], sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0700);
    snprintf(p, sizeof p, "%s/b.yaml", dir);
    write_file(p, "t.b");
    snprintf(p, sizeof p, "%s/a.yml", dir);
    write_file(p, "t.a");
    snprintf(p, sizeof p, "%s/sub/c.yaml", dir);
    write_file(p, "t.c");
    snprintf(p, sizeof p, "%s/sub/d.yaml", dir);
    write_file(p, "t.a");       /* duplicate id */
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_file(p, "t.ignored");

    const char *paths[] = {dir};
    scenario_set set;
    FILE *errs = tmpfile();
    int n = scenario_set_load(paths, 1, &set, errs);
    is_int(n, 1, "one error: the duplicate id");
    is_int(set.n, 3, "three scenarios loaded, the duplicate left out");
    if (set.n == 3) {
        is_str(set.items[0]->id, "t.a", "sorted by path: a.yml");
        is_str(set.items[1]->id, "t.b", "then b.yaml");
        is_str(set.items[2]->id, "t.c", "then sub/c.yaml");
    }
    char line[512] = "";
    if (errs) {
        rewind(errs);
        if (!fgets(line, sizeof line, errs))
            line[0] = 0;
        fclose(errs);
    }
    ok(strstr(line, "/sub/d.yaml:1:5: duplicate id 't.a' (also in ") != NULL,
       "duplicate id reported at the second file's id");
    scenario_set_free(&set);
    const char *none[] = {"/nonexistent-dir"};
    n = scenario_set_load(none, 1, &set, NULL);
    ok(n == 1 && set.n == 0, "a missing path is one error");
    scenario_set_free(&set);

    const char *rm[] = {"sub/c.yaml", "sub/d.yaml", "sub", "b.yaml", "a.yml", "notes.txt"};
    for (size_t i = 0; i < sizeof rm / sizeof *rm; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, rm[i]);
        remove(p);
    }
    rmdir(dir);
}

static void test_names(void)
{
    is_str(step_kind_name(ST_EXPECT), "expect", "step_kind_name");
    is_str(expect_kind_name(EX_MESSAGES), "messages", "expect_kind_name");
    is_str(level_name(LEVEL_SHOULD), "should", "level_name");
    scenario_free(NULL);
    ok(1, "scenario_free(NULL)");
}

int main(void)
{
    test_example();
    test_defaults_and_absent();
    test_durations();
    test_reasons_and_matchers();
    test_actions();
    test_needs();
    test_errors();
    test_mutations();
    test_set();
    test_names();
    return done_testing();
}
