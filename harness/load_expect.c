/* load_expect.c -- the `expect` step: one parser per kind of expectation and
 * the timing window around it.
 *
 * What it is for: turning `CLIENT.expect: {...}` into expect_args, checking that
 * exactly one expectation is named, that its keys and values fit it (a 3.1.1
 * client gets no server DISCONNECT, a CONNACK no topic_alias), that `since`
 * names an earlier mark and `$NAME` an earlier `save`, and noting the driver
 * capabilities that judging it takes.
 *
 * What it is not: judging. The runner (expect.c) compares observations with
 * what is built here.
 */
#include <stdlib.h>
#include <string.h>

#include "../mqtt/mqtt.h"
#include "load_int.h"

#define COMMON "mark", "spec", "level"

/* ---- expectations ---- */

static void parse_message(lctx *c, int ci, const ynode *m, message_expect *me, const char *what)
{
    static const char *const keys[] = {"topic", "payload", "payload_hex", "qos", "retain", "dup",
                                       "packet_id", "properties", "subscription_ids",
                                       "user_properties", "save", NULL};
    me->retain = -1;
    me->dup = -1;
    me->pos = m->pos;
    if (!want_map(c, m, what))
        return;
    map_check_keys(c, m, what, keys);
    const ynode *v;
    bool b;
    if ((v = map_get(m, "topic")))
        get_template(c, v, "topic", &me->topic, NULL);
    ld_payload(c, m, &me->payload, &me->payload_len, true);
    if ((v = map_get(m, "qos")))
        get_num_match(c, v, "qos", 2, false, &me->qos);
    if ((v = map_get(m, "retain")) && get_bool(c, v, "retain", &b) == 0)
        me->retain = b;
    if ((v = map_get(m, "dup")) && get_bool(c, v, "dup", &b) == 0) {
        me->dup = b;
        ld_need(c, ci, CAP_SEE_DUP, map_key(m, "dup"));
    }
    if ((v = map_get(m, "packet_id")) &&
        get_num_match(c, v, "packet_id", 65535, true, &me->packet_id) == 0 &&
        (me->packet_id.kind == NM_EQ || me->packet_id.kind == NM_RANGE) && me->packet_id.lo == 0 &&
        me->packet_id.hi == 0)
        lerr(c, v, "packet_id must be 1..65535, got 0 (a QoS 0 message has none: write absent)");
    if ((v = map_get(m, "properties")) && ld_v5only(c, ci, map_key(m, "properties"), "properties"))
        get_prop_expects(c, v, RC_PUBLISH, &me->props, &me->n_props);
    if ((v = map_get(m, "subscription_ids")) &&
        ld_v5only(c, ci, map_key(m, "subscription_ids"), "subscription_ids") &&
        want_seq(c, v, "subscription_ids")) {
        me->subscription_ids = xcalloc(v->n, sizeof *me->subscription_ids);
        for (size_t i = 0; me->subscription_ids && i < v->n; i++)
            if (get_opt_u32(c, v->items[i], "subscription id", 1, MQTT_MAX_VARINT,
                            &me->subscription_ids[me->n_subscription_ids]) == 0)
                me->n_subscription_ids++;
    }
    if ((v = map_get(m, "user_properties")) &&
        ld_v5only(c, ci, map_key(m, "user_properties"), "user_properties"))
        get_user_props(c, v, &me->user_props, &me->n_user_props);
    if ((v = map_get(m, "save")) && get_str(c, v, "save", &me->save) == 0) {
        if (!*me->save || me->save[0] == '$')
            lerr(c, v, "save: a name such as m1 (without $)");
        else if (saved_defined(c, me->save))
            lerr(c, v, "save: '%.60s' is already saved by an earlier step", me->save);
        else
            ld_push_name(c, &c->saved, &c->n_saved, me->save);
    }
}

static const char *const expect_kinds[] = {"connack", "suback", "unsuback", "message", "messages",
                                           "nothing", "puback", "pubrec", "pubrel", "pubcomp",
                                           "disconnect", "closed", "alive", "in_flight", "one_of",
                                           NULL};

static bool empty_args(lctx *c, const ynode *v, const char *what)
{
    if (ynode_is_null(v) || (v->type == YN_MAP && v->n == 0))
        return true;
    if (v->type == YN_MAP)
        lerr(c, v->items[0], "unknown key '%.60s' in %s (allowed: none, write %s: {})",
             v->items[0]->str, what, what);
    else
        lerr(c, v, "%s: expected {}, got %s", what, ynode_type_name(v));
    return false;
}

/* The harness counts what the server left unacknowledged from the acks its
 * steps send; an automatic ack would be invisible to that count. */
static void parse_in_flight(lctx *c, int ci, const ynode *kn, const ynode *kv, in_flight_expect *fe)
{
    static const char *const fk[] = {"max", NULL};
    if (!c->s->clients[ci].auto_ack)
        ld_need(c, ci, CAP_MANUAL_ACK, kn);
    else
        lerr(c, kn, "in_flight: client '%s' must have auto_ack: false (the harness counts the "
                    "acks its steps send)", c->s->clients[ci].name);
    if (ynode_is_null(kv))
        return;
    if (!want_map(c, kv, "in_flight"))
        return;
    map_check_keys(c, kv, "in_flight", fk);
    const ynode *v;
    if ((v = map_get(kv, "max")))
        get_opt_u32(c, v, "max", 1, 65535, &fe->max);
}

static void parse_alternative(lctx *c, int ci, const ynode *item, expect_args *out)
{
    static const char *const banned[] = {"within", "after", "since", "mark", "spec", "level",
                                         "one_of", "in_flight", NULL};
    if (!want_map(c, item, "one_of item"))
        return;
    for (const char *const *b = banned; *b; b++)
        if (map_get(item, *b)) {
            lerr(c, map_key(item, *b), "one_of: '%s' is not allowed in an alternative (%s)", *b,
                 !strcmp(*b, "one_of") || !strcmp(*b, "in_flight")
                     ? "write the alternatives in one list"
                     : "timing and step options go beside one_of");
            return;
        }
    size_t saved_before = c->n_saved;
    step_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.kind = ST_EXPECT;
    tmp.client = ci;
    ld_expect(c, &tmp, ci, item);
    if (c->n_saved != saved_before)
        lerr(c, item, "one_of: save is not allowed in an alternative (which one matched is "
                      "not known when the scenario is written)");
    *out = tmp.u.expect;
}

/* Each alternative is an expectation map of its own, without timing: the
 * window of the one_of step applies to all of them. */
static void parse_one_of(lctx *c, int ci, const ynode *kv, expect_args *ea)
{
    if (!want_seq(c, kv, "one_of"))
        return;
    if (kv->n < 2) {
        lerr(c, kv, "one_of: at least two alternatives");
        return;
    }
    if (kv->n > 16) {
        lerr(c, kv, "one_of: at most 16 alternatives");
        return;
    }
    ea->u.one_of.items = xcalloc(kv->n, sizeof *ea->u.one_of.items);
    if (!ea->u.one_of.items)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        const ynode *item = kv->items[i];
        expect_args *alt = &ea->u.one_of.items[ea->u.one_of.n++];
        if (item->type != YN_SEQ) {
            parse_alternative(c, ci, item, alt);
            continue;
        }
        /* A list: these expectations in turn ("CONNACK refusal, then close"). */
        alt->kind = EX_SEQUENCE;
        if (item->n < 1 || item->n > 16) {
            lerr(c, item, "one_of: a sequence has 1 to 16 expectations");
            continue;
        }
        alt->u.one_of.items = xcalloc(item->n, sizeof *alt->u.one_of.items);
        for (size_t k = 0; alt->u.one_of.items && k < item->n; k++)
            parse_alternative(c, ci, item->items[k], &alt->u.one_of.items[alt->u.one_of.n++]);
    }
}

/* A `nothing: D` alternative is judged over the step's window, so D is that
 * window: "m1 within 2 s, or nothing for 2 s" is one_of [message, nothing:
 * 2s] without a `within`; a `within` beside it must say the same. */
static void one_of_quiet_period(lctx *c, const ynode *a, expect_args *ea)
{
    const ynode *w = map_get(a, "within");
    const duration_t *quiet = NULL;
    for (size_t i = 0; i < ea->u.one_of.n; i++) {
        const expect_args *alt = &ea->u.one_of.items[i];
        if (alt->kind != EX_NOTHING)
            continue;
        if (quiet && (quiet->ref != alt->within.ref || quiet->plus_ms != alt->within.plus_ms ||
                      quiet->times != alt->within.times || quiet->client != alt->within.client)) {
            lerr(c, a, "one_of: the nothing alternatives name different quiet periods");
            return;
        }
        quiet = &alt->within;
    }
    if (!quiet)
        return;
    if (!w) {
        ea->within = *quiet;
        return;
    }
    if (ea->within.ref != quiet->ref || ea->within.plus_ms != quiet->plus_ms ||
        ea->within.times != quiet->times || ea->within.client != quiet->client)
        lerr(c, w, "one_of: within must equal the quiet period of its nothing alternative "
                   "(or be left out)");
}

void ld_expect(lctx *c, step_t *st, int ci, const ynode *a)
{
    static const char *const keys[] = {"connack", "suback", "unsuback", "message", "messages",
                                       "nothing", "puback", "pubrec", "pubrel", "pubcomp",
                                       "disconnect", "closed", "alive", "in_flight", "one_of",
                                       "within", "after", "since", "in_order", COMMON, NULL};
    expect_args *ea = &st->u.expect;
    ea->within.plus_ms = 5000;
    ea->within.times = 1;
    ea->within.client = -1;
    ea->within.pos = a->pos;
    if (!want_map(c, a, "expect"))
        return;
    map_check_keys(c, a, "expect", keys);
    const ynode *kn = NULL, *kv = NULL;
    for (size_t i = 0; i + 1 < a->n; i += 2)
        for (const char *const *k = expect_kinds; *k; k++)
            if (!strcmp(a->items[i]->str, *k)) {
                if (kn) {
                    lerr(c, a->items[i], "expect: one expectation per step, but both '%s' and '%s'",
                         kn->str, a->items[i]->str);
                    return;
                }
                kn = a->items[i];
                kv = a->items[i + 1];
            }
    if (!kn) {
        lerr(c, a, "expect: needs one of connack, suback, unsuback, message, messages, nothing, "
                   "puback, pubrec, pubrel, pubcomp, disconnect, closed, alive, in_flight, one_of");
        return;
    }
    const char *kname = kn->str;
    const ynode *v;
    uint8_t proto = c->s->clients[ci].protocol;
    if (!strcmp(kname, "connack")) {
        ea->kind = EX_CONNACK;
        connack_expect *ce = &ea->u.connack;
        static const char *const ck[] = {"reason", "session_present", "properties", NULL};
        if (want_map(c, kv, "connack")) {
            map_check_keys(c, kv, "connack", ck);
            if ((v = map_get(kv, "reason")) &&
                get_reason(c, v, "reason", RC_CONNACK, proto, true, &ce->reason,
                           &ce->check_reason_is_error) == 0)
                ce->check_reason = !ce->check_reason_is_error;
            if ((v = map_get(kv, "session_present")) &&
                get_bool(c, v, "session_present", &ce->session_present) == 0)
                ce->check_session_present = true;
            if ((v = map_get(kv, "properties")) &&
                ld_v5only(c, ci, map_key(kv, "properties"), "properties"))
                get_prop_expects(c, v, RC_CONNACK, &ce->props, &ce->n_props);
        }
    } else if (!strcmp(kname, "suback") || !strcmp(kname, "unsuback")) {
        bool sub = kname[0] == 's';
        ea->kind = sub ? EX_SUBACK : EX_UNSUBACK;
        static const char *const sk[] = {"reasons", NULL};
        if (want_map(c, kv, kname)) {
            map_check_keys(c, kv, kname, sk);
            if ((v = map_get(kv, "reasons")) &&
                (sub || ld_v5only(c, ci, map_key(kv, "reasons"), "UNSUBACK reason codes")) &&
                want_seq(c, v, "reasons")) {
                /* libmosquitto 2.0 does not report UNSUBACK reason codes. */
                if (!sub)
                    ld_need(c, ci, CAP_SEE_ACKS, kn);
                suback_expect *se = &ea->u.suback;
                se->reasons = xcalloc(v->n, 1);
                for (size_t i = 0; se->reasons && i < v->n; i++)
                    if (get_reason(c, v->items[i], "reasons", sub ? RC_SUBACK : RC_UNSUBACK, proto,
                                   false, &se->reasons[se->n_reasons], NULL) == 0)
                        se->n_reasons++;
            }
        }
    } else if (!strcmp(kname, "message")) {
        ea->kind = EX_MESSAGE;
        parse_message(c, ci, kv, &ea->u.message, "message");
    } else if (!strcmp(kname, "messages")) {
        ea->kind = EX_MESSAGES;
        ea->u.messages.in_order = true;
        if (want_seq(c, kv, "messages")) {
            if (kv->n == 0)
                lerr(c, kv, "messages: at least one message (use nothing: D for none)");
            if (kv->n > LOAD_MAX_STEPS) {
                lerr(c, kv, "messages: at most %d in one step", LOAD_MAX_STEPS);
                return;
            }
            ea->u.messages.items = xcalloc(kv->n, sizeof *ea->u.messages.items);
            for (size_t i = 0; ea->u.messages.items && i < kv->n; i++)
                parse_message(c, ci, kv->items[i], &ea->u.messages.items[ea->u.messages.n++],
                              "messages item");
        }
    } else if (!strcmp(kname, "nothing")) {
        ea->kind = EX_NOTHING;
        if ((v = map_get(a, "within")))
            lerr(c, map_key(a, "within"), "expect: the quiet period is the value of nothing "
                                          "(nothing: 3s), not within");
        get_duration(c, kv, "nothing", &ea->within);
    } else if (!strcmp(kname, "disconnect")) {
        ea->kind = EX_DISCONNECT;
        static const char *const dk[] = {"reason", "properties", NULL};
        if (ld_v5only(c, ci, kn, "a DISCONNECT from the server") && want_map(c, kv, "disconnect")) {
            map_check_keys(c, kv, "disconnect", dk);
            disconnect_expect *de = &ea->u.disconnect;
            /* A list accepts any of its codes: the standard sometimes allows
             * several (Protocol Error or Topic Alias invalid, say). */
            if ((v = map_get(kv, "reason")) && v->type == YN_SEQ) {
                de->alt_reasons = v->n ? xcalloc(v->n, 1) : NULL;
                if (!v->n)
                    lerr(c, v, "reason: name at least one reason code");
                for (size_t i = 0; de->alt_reasons && i < v->n; i++)
                    if (get_reason(c, v->items[i], "reason", RC_DISCONNECT, MQTT_V5, false,
                                   &de->alt_reasons[de->n_alt_reasons], NULL) == 0)
                        de->n_alt_reasons++;
                if (de->n_alt_reasons) {
                    de->reason = de->alt_reasons[0];
                    de->check_reason = true;
                }
            } else if (v && get_reason(c, v, "reason", RC_DISCONNECT, MQTT_V5, false, &de->reason,
                                       NULL) == 0) {
                de->check_reason = true;
            }
            if ((v = map_get(kv, "properties")))
                get_prop_expects(c, v, RC_DISCONNECT, &de->props, &de->n_props);
        }
    } else if (!strcmp(kname, "closed")) {
        ea->kind = EX_CLOSED;
        empty_args(c, kv, "closed");
    } else if (!strcmp(kname, "alive")) {
        ea->kind = EX_ALIVE;
        empty_args(c, kv, "alive");
    } else if (!strcmp(kname, "in_flight")) {
        ea->kind = EX_IN_FLIGHT;
        parse_in_flight(c, ci, kn, kv, &ea->u.in_flight);
    } else if (!strcmp(kname, "one_of")) {
        ea->kind = EX_ONE_OF;
        parse_one_of(c, ci, kv, ea);
    } else {
        ea->kind = EX_ACK;
        ack_expect *ae = &ea->u.ack;
        ae->packet_type = ld_ack_type(kname);
        ld_need(c, ci, CAP_SEE_ACKS, kn);
        static const char *const ak[] = {"packet_id", "reason", NULL};
        if (want_map(c, kv, kname)) {
            map_check_keys(c, kv, kname, ak);
            if ((v = map_get(kv, "packet_id")))
                ld_packet_id_ref(c, v, &ae->packet_id);
            uint8_t r;
            if ((v = map_get(kv, "reason")) && ld_v5only(c, ci, map_key(kv, "reason"), "reason") &&
                get_reason(c, v, "reason", ae->packet_type <= MQTT_PUBREC ? RC_PUBACK : RC_PUBREL,
                           MQTT_V5, false, &r, NULL) == 0) {
                ae->reason.kind = NM_EQ;
                ae->reason.lo = ae->reason.hi = r;
            }
        }
    }

    if ((v = map_get(a, "within")) && ea->kind != EX_NOTHING)
        get_duration(c, v, "within", &ea->within);
    if (ea->kind == EX_ONE_OF)
        one_of_quiet_period(c, a, ea);
    if ((v = map_get(a, "after")) && get_duration(c, v, "after", &ea->after) == 0) {
        ea->has_after = true;
        if (ea->after.ref == DUR_LITERAL && ea->within.ref == DUR_LITERAL &&
            ea->after.plus_ms >= ea->within.plus_ms)
            lerr(c, v, "after (%lld ms) must be less than within (%lld ms)",
                 (long long)ea->after.plus_ms, (long long)ea->within.plus_ms);
    }
    if ((v = map_get(a, "since")) && get_str(c, v, "since", &ea->since) == 0 &&
        !ld_name_in(c->marks, c->n_marks, ea->since)) {
        char list[300];
        size_t used = 0;
        list[0] = 0;
        for (size_t i = 0; i < c->n_marks && used + 40 < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%.32s", i ? ", " : "",
                                     c->marks[i]);
        lerr(c, v, "since: undefined mark '%.60s' (marks of earlier steps: %s)", ea->since,
             c->n_marks ? list : "none");
    }
    if ((v = map_get(a, "in_order"))) {
        if (ea->kind != EX_MESSAGES)
            lerr(c, map_key(a, "in_order"), "in_order only goes with messages");
        else
            get_bool(c, v, "in_order", &ea->u.messages.in_order);
    }
}
