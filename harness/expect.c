/* expect.c -- judging expectations against what a client observed.
 *
 * An expectation looks at its client's inbox (observations of the current
 * connection in arrival order) and either takes what it needs and says met or
 * violated, or says pending. Messages are taken strictly in arrival order: an
 * unexpected extra PUBLISH violates the expectation instead of being skipped,
 * because a broker that resends an acknowledged message is exactly what we
 * must catch. Every violation is written as "expected" versus "observed", the
 * observed side being the decoded packet.
 *
 * Not for: stepping or timers (runner.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_int.h"

typedef struct sbuf {
    char *p;
    size_t cap, n;
} sbuf;

static void sb(sbuf *b, const char *fmt, ...)
{
    if (b->n >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->n += (size_t)w < b->cap - b->n ? (size_t)w : b->cap - b->n - 1;
}

static void sb_quoted(sbuf *b, const uint8_t *s, size_t len)
{
    sb(b, "\"");
    for (size_t i = 0; i < len && i < 80; i++) {
        uint8_t ch = s[i];
        if (ch == '"' || ch == '\\')
            sb(b, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            sb(b, "%c", ch);
        else
            sb(b, "\\x%02x", ch);
    }
    sb(b, len > 80 ? "...\"" : "\"");
}

static client_rt *client_of(sc_run *sr, const step_t *st)
{
    return &sr->clients[st->client];
}

static int64_t anchor_of(sc_run *sr, const step_t *st)
{
    const expect_args *e = &st->u.expect;
    if (e->since) {
        int64_t t = mark_time(sr, e->since);
        if (t >= 0)
            return t;
    }
    return sr->step_started;
}

int64_t expect_deadline(sc_run *sr, const step_t *st)
{
    return anchor_of(sr, st) + duration_ms(sr, &st->u.expect.within);
}

int expect_begin(sc_run *sr, const step_t *st, verdict_detail *d)
{
    const expect_args *e = &st->u.expect;
    if (e->since && mark_time(sr, e->since) < 0) {
        snprintf(d->expected, sizeof d->expected, "mark %s to have been recorded", e->since);
        snprintf(d->observed, sizeof d->observed, "the step that records mark %s has not run",
                 e->since);
        return -1;
    }
    if (e->kind != EX_ALIVE)
        return 0;
    client_rt *c = client_of(sr, st);
    if (!c->open || !c->conn) {
        snprintf(d->expected, sizeof d->expected, "an open connection to send PINGREQ on");
        snprintf(d->observed, sizeof d->observed, "client %s is not connected", c->def->name);
        return 0;       /* judged as a violation: the connection is gone */
    }
    mqtt_packet ping;
    memset(&ping, 0, sizeof ping);
    ping.type = MQTT_PINGREQ;
    ping.version = c->def->protocol;
    char err[256] = "";
    if (c->drv->send(c->conn, &ping, err, sizeof err) != 0) {
        snprintf(d->expected, sizeof d->expected, "to send PINGREQ");
        snprintf(d->observed, sizeof d->observed, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- finding observations ---- */

static int find_packet(const inbox_t *in, uint8_t type)
{
    for (size_t i = 0; i < in->n; i++)
        if (!in->taken[i] && in->items[i]->kind == OBS_PACKET && in->items[i]->pkt.type == type)
            return (int)i;
    return -1;
}

static const obs_t *find_closed(const inbox_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->items[i]->kind == OBS_CLOSED)
            return in->items[i];
    return NULL;
}

static const obs_t *find_bad(const inbox_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        if (!in->taken[i] && in->items[i]->kind == OBS_BAD_PACKET)
            return in->items[i];
    return NULL;
}

static void describe_obs(const obs_t *o, char *out, size_t cap)
{
    if (o->kind == OBS_PACKET)
        mqtt_describe(&o->pkt, out, cap);
    else
        snprintf(out, cap, "%s", o->text);
}

/* Nothing matching has arrived: is the connection gone, or is time up?
 * Whatever the broker said or did is judged (fail), but not what stopped it
 * from saying anything (error): an answer to CONNECT that is no MQTT packet at
 * all, a transport failure (a packet cut off by the close, a connect or read
 * error), or a broker that is gone (it closed the connection and now refuses
 * new ones). */
static judgement absent_outcome(sc_run *sr, const step_t *st, bool final, const char *what,
                                verdict_detail *d)
{
    client_rt *c = client_of(sr, st);
    const obs_t *bad = find_bad(&c->inbox);
    if (bad) {
        snprintf(d->observed, sizeof d->observed, "%s", bad->text);
        /* Before any CONNACK, bytes that are not even a CONNACK (a reserved
         * packet type, a PUBLISH, noise): not an MQTT server to judge. A
         * malformed CONNACK is the broker's answer and fails. */
        bool connack_before = false;
        for (size_t i = 0; i < c->inbox.n && c->inbox.items[i] != bad; i++)
            if (c->inbox.items[i]->kind == OBS_PACKET &&
                c->inbox.items[i]->pkt.type == MQTT_CONNACK)
                connack_before = true;
        if (!connack_before && (bad->wire_len == 0 || bad->wire[0] >> 4 != MQTT_CONNACK)) {
            snprintf(d->observed, sizeof d->observed,
                     "no %s: the broker answered CONNECT with bytes that are not a CONNACK "
                     "(%s)", what, bad->text);
            return J_ERROR;
        }
        return J_VIOLATED;
    }
    const obs_t *closed = find_closed(&c->inbox);
    if (closed) {
        snprintf(d->observed, sizeof d->observed, "no %s; the connection closed (%s)", what,
                 closed->text);
        if (closed->cause == CLOSE_ERROR || closed->cause == CLOSE_REFUSED ||
            closed->cause == CLOSE_TLS)
            return J_ERROR;
        if (closed->cause != CLOSE_BY_US) {
            /* Closed by the broker: an answer to judge, unless the broker is
             * gone altogether (then nobody answered). The runner finds out in
             * the event loop; until it knows, the expectation waits. */
            switch (sr->liveness) {
            case LIVE_UNKNOWN:
                sr_check_liveness(sr);
                return J_PENDING;
            case LIVE_CHECKING:
                return final ? J_VIOLATED : J_PENDING;
            case LIVE_GONE:
                snprintf(d->observed, sizeof d->observed,
                         "no %s: the broker is gone (the connection closed: %s; a new connection: "
                         "%s)",
                         what, closed->text, sr->liveness_why);
                return J_ERROR;
            case LIVE_ALIVE:
                break;
            }
        }
        return J_VIOLATED;
    }
    if (!c->conn) {
        snprintf(d->observed, sizeof d->observed, "no %s: client %s has no connection", what,
                 c->def->name);
        return J_VIOLATED;
    }
    if (final) {
        snprintf(d->observed, sizeof d->observed, "no %s within %.1f s", what,
                 (double)duration_ms(sr, &st->u.expect.within) / 1000.0);
        return J_VIOLATED;
    }
    return J_PENDING;
}

/* ---- matching values ---- */

static bool num_ok(sc_run *sr, const num_match *m, bool present, uint32_t v)
{
    switch (m->kind) {
    case NM_ANY: return true;
    case NM_ABSENT: return !present;
    case NM_PRESENT: return present;
    case NM_EQ: return present && v == m->lo;
    case NM_RANGE: return present && v >= m->lo && v <= m->hi;
    case NM_SAVED: {
        int id = saved_packet_id(sr, m->saved);
        return present && id >= 0 && v == (uint32_t)id;
    }
    case NM_NOT_EQ: return present && v != m->lo;
    case NM_NOT_SAVED: {
        int id = saved_packet_id(sr, m->saved);
        return present && id >= 0 && v != (uint32_t)id;
    }
    }
    return false;
}

static const char *prop_label(uint8_t id)
{
    const char *n = mqtt_prop_name(id);
    return n ? n : "property";
}

static bool props_ok(sc_run *sr, const prop_expect *pe, size_t n, const mqtt_props *have,
                     sbuf *exp, sbuf *why)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const prop_expect *e = &pe[i];
        const mqtt_prop *p = mqtt_props_find(have, e->id);
        int type = mqtt_prop_type(e->id);
        bool numeric = type == MQTT_PT_BYTE || type == MQTT_PT_U16 || type == MQTT_PT_U32 ||
                       type == MQTT_PT_VARINT;
        char want[96];
        if (numeric || e->num.kind != NM_ANY) {
            num_match_format(sr, &e->num, want, sizeof want);
            sb(exp, " %s=%s", prop_label(e->id), want);
            if (!num_ok(sr, &e->num, p != NULL, p ? p->num : 0)) {
                ok = false;
                if (p)
                    sb(why, "; %s is %u", prop_label(e->id), p->num);
                else
                    sb(why, "; %s is absent", prop_label(e->id));
            }
        } else if (e->absent) {
            sb(exp, " %s=absent", prop_label(e->id));
            if (p) {
                ok = false;
                sb(why, "; %s is present", prop_label(e->id));
            }
        } else if (e->str) {
            sb(exp, " %s=\"%s\"", prop_label(e->id), e->str);
            const char *s = sr_expand(sr, e->str);
            if (!p || !mqtt_bytes_eq(p->str, mqtt_str(s))) {
                ok = false;
                sb(why, p ? "; %s differs" : "; %s is absent", prop_label(e->id));
            }
        }
    }
    return ok;
}

static bool reason_ok(uint8_t got, bool check, uint8_t want)
{
    return !check || got == want;
}

/* ---- CONNACK ---- */

static judgement judge_connack(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const connack_expect *e = &st->u.expect.u.connack;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sb(&exp, "CONNACK");
    if (e->check_reason)
        sb(&exp, " reason=0x%02X (%s)", e->reason,
           mqtt_reason_name(e->reason, MQTT_CONNACK, c->def->protocol));
    if (e->check_reason_is_error)
        sb(&exp, " reason=a refusal");
    if (e->check_session_present)
        sb(&exp, " session_present=%d", e->session_present);
    int i = find_packet(&c->inbox, MQTT_CONNACK);
    if (i < 0) {
        sbuf why = {d->observed, sizeof d->observed, 0};
        props_ok(sr, e->props, e->n_props, &(mqtt_props){0}, &exp, &why);
        return absent_outcome(sr, st, final, "CONNACK", d);
    }
    c->inbox.taken[i] = true;
    const mqtt_connack *ca = &c->inbox.items[i]->pkt.u.connack;
    char seen[600];
    mqtt_describe(&c->inbox.items[i]->pkt, seen, sizeof seen);
    char whybuf[400] = "";
    sbuf why = {whybuf, sizeof whybuf, 0};
    bool ok = reason_ok(ca->reason, e->check_reason, e->reason);
    if (!ok)
        sb(&why, "; reason differs");
    if (e->check_reason_is_error && ca->reason == 0) {
        ok = false;
        sb(&why, "; the CONNECT was accepted");
    }
    if (e->check_session_present && ca->session_present != e->session_present) {
        ok = false;
        sb(&why, "; Session Present is %d", ca->session_present);
    }
    if (!props_ok(sr, e->props, e->n_props, &ca->props, &exp, &why))
        ok = false;
    /* A refusal of the credentials where the scenario needs an accepted
     * CONNECT says nothing about sessions: the run was given the wrong user
     * name or password (or none), so mqspec cannot judge. */
    bool v5 = c->inbox.items[i]->pkt.version == MQTT_V5;
    bool auth_refused = v5 ? (ca->reason == MQTT_RC_BAD_USER_OR_PASSWORD ||
                              ca->reason == MQTT_RC_NOT_AUTHORIZED)
                           : (ca->reason == MQTT_V311_BAD_CREDENTIALS ||
                              ca->reason == MQTT_V311_NOT_AUTHORIZED);
    bool want_auth_code = v5 ? (e->reason == MQTT_RC_BAD_USER_OR_PASSWORD ||
                                e->reason == MQTT_RC_NOT_AUTHORIZED)
                             : (e->reason == MQTT_V311_BAD_CREDENTIALS ||
                                e->reason == MQTT_V311_NOT_AUTHORIZED);
    /* Also when another refusal was expected (client id rejected, say): the
     * credentials stopped the CONNECT before the rule could be seen. */
    if (!ok && auth_refused && e->check_reason && !want_auth_code) {
        snprintf(d->observed, sizeof d->observed,
                 "%s: the broker refused the credentials (CONNACK %s0x%02X %s); check "
                 "--username/--password%s",
                 seen, v5 ? "" : "return code ", ca->reason,
                 mqtt_reason_name(ca->reason, MQTT_CONNACK, v5 ? MQTT_V5 : MQTT_V311),
                 c->def->second_user ? " (here: --username2/--password2)" : "");
        return J_ERROR;
    }
    snprintf(d->observed, sizeof d->observed, "%s%s", seen, whybuf);
    return ok ? J_MET : J_VIOLATED;
}

/* ---- SUBACK / UNSUBACK ---- */

static judgement judge_suback(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const expect_args *ea = &st->u.expect;
    const suback_expect *e = &ea->u.suback;
    uint8_t type = ea->kind == EX_SUBACK ? MQTT_SUBACK : MQTT_UNSUBACK;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sb(&exp, "%s reasons=[", mqtt_type_name(type));
    for (size_t k = 0; k < e->n_reasons; k++)
        sb(&exp, "%s0x%02X", k ? " " : "", e->reasons[k]);
    sb(&exp, "]");
    int i = find_packet(&c->inbox, type);
    if (i < 0)
        return absent_outcome(sr, st, final, mqtt_type_name(type), d);
    c->inbox.taken[i] = true;
    const mqtt_suback *sa = &c->inbox.items[i]->pkt.u.suback;
    mqtt_describe(&c->inbox.items[i]->pkt, d->observed, sizeof d->observed);
    if (!(c->inbox.items[i]->seen & OBS_SEEN_REASON_CODES)) {
        snprintf(d->observed, sizeof d->observed, "the %s driver cannot see %s reason codes",
                 c->drv->name, mqtt_type_name(type));
        return J_ERROR;
    }
    if (sa->count != e->n_reasons)
        return J_VIOLATED;
    for (size_t k = 0; k < e->n_reasons; k++)
        if (sa->reasons[k] != e->reasons[k])
            return J_VIOLATED;
    return J_MET;
}

/* ---- PUBLISH ---- */

static void describe_message_expect(sc_run *sr, const message_expect *m, sbuf *b)
{
    sb(b, "PUBLISH");
    if (m->topic)
        sb(b, " topic=\"%s\"", sr_expand(sr, m->topic));
    if (m->payload) {
        sb(b, " payload=");
        sb_quoted(b, (const uint8_t *)m->payload, m->payload_len);
    }
    char v[96];
    if (m->qos.kind != NM_ANY) {
        num_match_format(sr, &m->qos, v, sizeof v);
        sb(b, " qos=%s", v);
    }
    if (m->retain >= 0)
        sb(b, " retain=%d", m->retain);
    if (m->dup >= 0)
        sb(b, " dup=%d", m->dup);
    if (m->packet_id.kind != NM_ANY) {
        num_match_format(sr, &m->packet_id, v, sizeof v);
        sb(b, " packet_id=%s", v);
    }
    if (m->n_subscription_ids) {
        sb(b, " subscription_ids=[");
        for (size_t i = 0; i < m->n_subscription_ids; i++)
            sb(b, "%s%u", i ? " " : "", m->subscription_ids[i].v);
        sb(b, "]");
    }
    for (size_t i = 0; i < m->n_user_props; i++)
        sb(b, " user[%s=%s]", m->user_props[i].name, m->user_props[i].value);
}

/* Does observation o satisfy m? Appends the reasons it does not to why. The
 * expected-side property text goes to a scratch buffer (already described). */
static bool message_matches(sc_run *sr, const message_expect *m, const obs_t *o, sbuf *why)
{
    const mqtt_publish *p = &o->pkt.u.publish;
    bool ok = true;
    if (m->topic) {
        const char *t = sr_expand(sr, m->topic);
        if (!mqtt_bytes_eq(p->topic, mqtt_str(t))) {
            ok = false;
            sb(why, "; topic differs");
        }
    }
    if (m->payload && (p->payload.len != m->payload_len ||
                       (m->payload_len && memcmp(p->payload.data, m->payload, m->payload_len)))) {
        ok = false;
        sb(why, "; payload differs");
    }
    if (!num_ok(sr, &m->qos, true, p->qos)) {
        ok = false;
        sb(why, "; QoS is %u", p->qos);
    }
    if (m->retain >= 0 && p->retain != (m->retain == 1)) {
        ok = false;
        sb(why, "; RETAIN is %d", p->retain);
    }
    if (m->dup >= 0) {
        if (!(o->seen & OBS_SEEN_DUP)) {
            ok = false;
            sb(why, "; this driver cannot see DUP");
        } else if (p->dup != (m->dup == 1)) {
            ok = false;
            sb(why, "; DUP is %d", p->dup);
        }
    }
    if (m->packet_id.kind != NM_ANY && !num_ok(sr, &m->packet_id, p->qos > 0, p->packet_id)) {
        ok = false;
        sb(why, "; packet id is %u", p->packet_id);
    }
    char scratch[256] = "";
    sbuf ignore = {scratch, sizeof scratch, 0};
    if (!props_ok(sr, m->props, m->n_props, &p->props, &ignore, why))
        ok = false;
    if (m->n_subscription_ids) {
        size_t found = 0, have = 0;
        for (uint32_t i = 0; i < p->props.count; i++) {
            if (p->props.items[i].id != MQTT_PROP_SUBSCRIPTION_ID)
                continue;
            have++;
            for (size_t k = 0; k < m->n_subscription_ids; k++)
                if (m->subscription_ids[k].v == p->props.items[i].num) {
                    found++;
                    break;
                }
        }
        if (found != m->n_subscription_ids || have != m->n_subscription_ids) {
            ok = false;
            sb(why, "; Subscription Identifiers differ");
        }
    }
    if (m->n_user_props) {
        size_t k = 0;
        bool in_order = true;
        for (uint32_t i = 0; i < p->props.count; i++) {
            const mqtt_prop *up = &p->props.items[i];
            if (up->id != MQTT_PROP_USER_PROPERTY)
                continue;
            if (k >= m->n_user_props || !mqtt_bytes_eq(up->str, mqtt_str(m->user_props[k].name)) ||
                !mqtt_bytes_eq(up->str2, mqtt_str(m->user_props[k].value)))
                in_order = false;
            k++;
        }
        if (!in_order || k != m->n_user_props) {
            ok = false;
            sb(why, "; User Properties differ (or are out of order)");
        }
    }
    return ok;
}

/* Is o inside the expectation's time window? */
static bool in_window(sc_run *sr, const step_t *st, const obs_t *o, sbuf *why)
{
    const expect_args *e = &st->u.expect;
    int64_t anchor = anchor_of(sr, st);
    int64_t at = o->at_ms - anchor;
    int64_t not_before = e->has_after ? duration_ms(sr, &e->after) : -1;
    int64_t by = duration_ms(sr, &e->within);
    if (e->has_after || e->since) {
        char what[96];
        snprintf(what, sizeof what, "%s at +%lld ms%s%s", expect_kind_name(e->kind), (long long)at,
                 e->since ? " since " : "", e->since ? e->since : "");
        sr_timing(sr, what, at, not_before, by);
    }
    if (e->has_after && at < not_before) {
        sb(why, "; arrived too early: %.3f s after %s, expected not before %.3f s",
           (double)at / 1000.0, e->since ? e->since : "the step began", (double)not_before / 1000.0);
        return false;
    }
    if (e->since && at > by) {
        sb(why, "; arrived too late: %.3f s after %s, expected by %.3f s", (double)at / 1000.0,
           e->since, (double)by / 1000.0);
        return false;
    }
    return true;
}

static judgement judge_message(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const message_expect *m = &st->u.expect.u.message;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    describe_message_expect(sr, m, &exp);
    char scratch[256] = "";
    sbuf pexp = {scratch, sizeof scratch, 0};
    sbuf none = {d->observed, sizeof d->observed, 0};
    props_ok(sr, m->props, m->n_props, &(mqtt_props){0}, &pexp, &none);
    sb(&exp, "%s", scratch);
    d->observed[0] = '\0';
    int i = find_packet(&c->inbox, MQTT_PUBLISH);
    if (i < 0)
        return absent_outcome(sr, st, final, "PUBLISH", d);
    const obs_t *o = c->inbox.items[i];
    c->inbox.taken[i] = true;
    char seen[600], whybuf[400] = "";
    describe_obs(o, seen, sizeof seen);
    sbuf why = {whybuf, sizeof whybuf, 0};
    bool ok = message_matches(sr, m, o, &why);
    ok = in_window(sr, st, o, &why) && ok;
    snprintf(d->observed, sizeof d->observed, "%s%s", seen, whybuf);
    if (ok && m->save)
        save_packet_id(sr, m->save, o->pkt.u.publish.packet_id);
    return ok ? J_MET : J_VIOLATED;
}

static judgement judge_messages(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const expect_args *ea = &st->u.expect;
    size_t n = ea->u.messages.n;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sb(&exp, "%zu messages%s: ", n, ea->u.messages.in_order ? " in this order" : " in any order");
    for (size_t k = 0; k < n; k++) {
        sb(&exp, k ? ", " : "");
        describe_message_expect(sr, &ea->u.messages.items[k], &exp);
    }
    int idx[64];
    size_t got = 0;
    for (size_t i = 0; i < c->inbox.n && got < n && got < 64; i++)
        if (!c->inbox.taken[i] && c->inbox.items[i]->kind == OBS_PACKET &&
            c->inbox.items[i]->pkt.type == MQTT_PUBLISH)
            idx[got++] = (int)i;
    if (got < n) {
        judgement j = absent_outcome(sr, st, final, "further PUBLISH", d);
        if (j == J_PENDING)
            return j;
        sbuf obs = {d->observed, sizeof d->observed, strlen(d->observed)};
        sb(&obs, "; received %zu of %zu:", got, n);
        for (size_t k = 0; k < got; k++) {
            char seen[300];
            describe_obs(c->inbox.items[idx[k]], seen, sizeof seen);
            sb(&obs, " [%s]", seen);
            c->inbox.taken[idx[k]] = true;
        }
        return j;
    }
    sbuf obs = {d->observed, sizeof d->observed, 0};
    bool ok = true;
    bool used[64] = {false};
    for (size_t k = 0; k < n; k++) {
        const obs_t *o = c->inbox.items[idx[k]];
        char seen[300];
        describe_obs(o, seen, sizeof seen);
        sb(&obs, "%s[%s]", k ? " " : "", seen);
        c->inbox.taken[idx[k]] = true;
    }
    char whybuf[400] = "";
    sbuf why = {whybuf, sizeof whybuf, 0};
    for (size_t k = 0; k < n; k++) {
        const message_expect *m = &ea->u.messages.items[k];
        bool matched = false;
        if (ea->u.messages.in_order) {
            char tmp[200];
            sbuf tw = {tmp, sizeof tmp, 0};
            matched = message_matches(sr, m, c->inbox.items[idx[k]], &tw);
            if (matched)
                used[k] = true;
            else
                sb(&why, "; message %zu%s", k + 1, tmp);
        } else {
            for (size_t j = 0; j < n && !matched; j++) {
                if (used[j])
                    continue;
                char tmp[200];
                sbuf tw = {tmp, sizeof tmp, 0};
                if (message_matches(sr, m, c->inbox.items[idx[j]], &tw)) {
                    used[j] = true;
                    matched = true;
                }
            }
            if (!matched)
                sb(&why, "; nothing matched expected message %zu", k + 1);
        }
        if (!matched)
            ok = false;
        else if (m->save)
            save_packet_id(sr, m->save, c->inbox.items[idx[k]]->pkt.u.publish.packet_id);
    }
    for (size_t k = 0; k < n; k++)
        if (!in_window(sr, st, c->inbox.items[idx[k]], &why))
            ok = false;
    sb(&obs, "%s", whybuf);
    return ok ? J_MET : J_VIOLATED;
}

static judgement judge_nothing(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    client_rt *c = client_of(sr, st);
    int64_t quiet = duration_ms(sr, &st->u.expect.within);
    snprintf(d->expected, sizeof d->expected, "no PUBLISH for %.1f s", (double)quiet / 1000.0);
    int i = find_packet(&c->inbox, MQTT_PUBLISH);
    if (i >= 0) {
        const obs_t *o = c->inbox.items[i];
        c->inbox.taken[i] = true;
        char seen[600];
        describe_obs(o, seen, sizeof seen);
        snprintf(d->observed, sizeof d->observed, "%s (%.3f s after the step began)", seen,
                 (double)(o->at_ms - sr->step_started) / 1000.0);
        return J_VIOLATED;
    }
    return final ? J_MET : J_PENDING;
}

/* ---- acks, DISCONNECT, close, liveness ---- */

static judgement judge_ack(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const ack_expect *e = &st->u.expect.u.ack;
    client_rt *c = client_of(sr, st);
    char id[96], rc[96];
    num_match_format(sr, &e->packet_id, id, sizeof id);
    num_match_format(sr, &e->reason, rc, sizeof rc);
    snprintf(d->expected, sizeof d->expected, "%s packet_id=%s reason=%s",
             mqtt_type_name(e->packet_type), id, rc);
    int i = find_packet(&c->inbox, e->packet_type);
    if (i < 0)
        return absent_outcome(sr, st, final, mqtt_type_name(e->packet_type), d);
    c->inbox.taken[i] = true;
    const obs_t *o = c->inbox.items[i];
    mqtt_describe(&o->pkt, d->observed, sizeof d->observed);
    const mqtt_ack *a = &o->pkt.u.ack;
    bool ok = num_ok(sr, &e->packet_id, true, a->packet_id) && num_ok(sr, &e->reason, true, a->reason);
    char whybuf[200] = "";
    sbuf why = {whybuf, sizeof whybuf, 0};
    ok = in_window(sr, st, o, &why) && ok;
    strncat(d->observed, whybuf, sizeof d->observed - strlen(d->observed) - 1);
    return ok ? J_MET : J_VIOLATED;
}

static judgement judge_disconnect(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    const disconnect_expect *e = &st->u.expect.u.disconnect;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sb(&exp, "DISCONNECT from the server");
    if (e->n_alt_reasons > 1) {
        sb(&exp, " reason one of");
        for (size_t k = 0; k < e->n_alt_reasons; k++)
            sb(&exp, "%s 0x%02X (%s)", k ? "," : "", e->alt_reasons[k],
               mqtt_reason_name(e->alt_reasons[k], MQTT_DISCONNECT, MQTT_V5));
    } else if (e->check_reason) {
        sb(&exp, " reason=0x%02X (%s)", e->reason,
           mqtt_reason_name(e->reason, MQTT_DISCONNECT, MQTT_V5));
    }
    int i = find_packet(&c->inbox, MQTT_DISCONNECT);
    if (i < 0) {
        char scratch[200] = "";
        sbuf pexp = {scratch, sizeof scratch, 0}, none = {d->observed, sizeof d->observed, 0};
        props_ok(sr, e->props, e->n_props, &(mqtt_props){0}, &pexp, &none);
        sb(&exp, "%s", scratch);
        d->observed[0] = '\0';
        return absent_outcome(sr, st, final, "DISCONNECT", d);
    }
    c->inbox.taken[i] = true;
    const obs_t *o = c->inbox.items[i];
    char seen[600], whybuf[300] = "";
    mqtt_describe(&o->pkt, seen, sizeof seen);
    sbuf why = {whybuf, sizeof whybuf, 0};
    bool ok = reason_ok(o->pkt.u.disconnect.reason, e->check_reason, e->reason);
    for (size_t k = 0; k < e->n_alt_reasons && !ok; k++)
        ok = o->pkt.u.disconnect.reason == e->alt_reasons[k];
    if (!ok)
        sb(&why, "; reason differs");
    if (!props_ok(sr, e->props, e->n_props, &o->pkt.u.disconnect.props, &exp, &why))
        ok = false;
    ok = in_window(sr, st, o, &why) && ok;
    snprintf(d->observed, sizeof d->observed, "%s%s", seen, whybuf);
    return ok ? J_MET : J_VIOLATED;
}

static judgement judge_closed(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    client_rt *c = client_of(sr, st);
    snprintf(d->expected, sizeof d->expected, "the server closes the connection within %.1f s",
             (double)duration_ms(sr, &st->u.expect.within) / 1000.0);
    for (size_t i = 0; i < c->inbox.n; i++) {
        obs_t *o = c->inbox.items[i];
        if (o->kind != OBS_CLOSED || c->inbox.taken[i])
            continue;
        c->inbox.taken[i] = true;
        snprintf(d->observed, sizeof d->observed, "%s", o->text);
        if (o->cause == CLOSE_BY_US) {
            sbuf ob = {d->observed, sizeof d->observed, strlen(d->observed)};
            sb(&ob, " (closed by the harness, not the server)");
            return J_VIOLATED;
        }
        char whybuf[200] = "";
        sbuf why = {whybuf, sizeof whybuf, 0};
        bool ok = in_window(sr, st, o, &why);
        strncat(d->observed, whybuf, sizeof d->observed - strlen(d->observed) - 1);
        return ok ? J_MET : J_VIOLATED;
    }
    if (final) {
        snprintf(d->observed, sizeof d->observed, "the connection is still open after %.1f s",
                 (double)duration_ms(sr, &st->u.expect.within) / 1000.0);
        return J_VIOLATED;
    }
    return J_PENDING;
}

static judgement judge_alive(sc_run *sr, const step_t *st, bool final, verdict_detail *d)
{
    client_rt *c = client_of(sr, st);
    snprintf(d->expected, sizeof d->expected, "PINGRESP: the connection is open");
    int i = find_packet(&c->inbox, MQTT_PINGRESP);
    if (i >= 0) {
        c->inbox.taken[i] = true;
        return J_MET;
    }
    return absent_outcome(sr, st, final, "PINGRESP", d);
}

/* ---- flow control ---- */

static judgement judge_in_flight(sc_run *sr, const step_t *st, verdict_detail *d)
{
    const in_flight_expect *e = &st->u.expect.u.in_flight;
    client_rt *c = client_of(sr, st);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    if (e->max.set)
        sb(&exp, "at most %u unacknowledged QoS 1/2 PUBLISH from the server at any moment of this "
                 "connection, ", e->max.v);
    sb(&exp, "no new PUBLISH on a packet id still unacknowledged");
    sbuf obs = {d->observed, sizeof d->observed, 0};
    bool ok = true;
    if (e->max.set && c->held_peak > e->max.v) {
        ok = false;
        sb(&obs, "%u unacknowledged at once, the last being %s", c->held_peak, c->held_peak_what);
    }
    if (c->held_reuse[0]) {
        ok = false;
        sb(&obs, "%s%s", obs.n ? "; " : "", c->held_reuse);
    }
    if (ok)
        sb(&obs, "at most %u unacknowledged at once%s%s", c->held_peak,
           c->held_peak ? ", reached by " : "", c->held_peak_what);
    return ok ? J_MET : J_VIOLATED;
}

/* ---- legal choices ---- */

static judgement judge_one(sc_run *sr, const step_t *st, int64_t now, bool final, verdict_detail *d);

/* The expectations of a sequence in turn, all in the window of the step. */
static judgement judge_sequence(sc_run *sr, const step_t *st, int64_t now, bool final,
                                verdict_detail *d)
{
    const expect_args *ea = &st->u.expect;
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sbuf obs = {d->observed, sizeof d->observed, 0};
    judgement j = J_MET;
    size_t k = 0;
    for (; k < ea->u.one_of.n; k++) {
        step_t part = *st;
        part.u.expect = ea->u.one_of.items[k];
        part.u.expect.has_after = ea->has_after;
        part.u.expect.after = ea->after;
        part.u.expect.within = ea->within;
        part.u.expect.since = ea->since;
        verdict_detail pd = {{0}, {0}};
        j = judge_one(sr, &part, now, final, &pd);
        sb(&exp, "%s%s", k ? ", then " : "", pd.expected);
        sb(&obs, "%s%s", k ? ", then " : "", pd.observed[0] ? pd.observed : "as expected");
        if (j != J_MET)
            break;
    }
    for (k++; k < ea->u.one_of.n; k++)
        sb(&exp, ", then %s", expect_kind_name(ea->u.one_of.items[k].kind));
    return j;
}

/* An alternative describes the server's whole answer: it is not met if an
 * answer it did not take (a CONNACK, DISCONNECT, PUBLISH or undecodable
 * packet) came before what it took and after what earlier steps took, such
 * as a malformed CONNACK before the close that a "closed" alternative took. */
static judgement nothing_skipped(const inbox_t *in, const bool *snap, size_t n_before,
                                 verdict_detail *d)
{
    /* Only what came after the answers earlier steps took: a CONNACK no
     * step looked at, long before, is not part of this answer. */
    size_t first = 0, last = 0;
    bool took = false;
    for (size_t i = 0; i < n_before; i++) {
        if (snap[i])
            first = i + 1;
        if (in->taken[i] && !snap[i]) {
            last = i;
            took = true;
        }
    }
    for (size_t i = first; took && i < last; i++) {
        const obs_t *o = in->items[i];
        if (in->taken[i])
            continue;
        bool answer = o->kind == OBS_BAD_PACKET ||
                      (o->kind == OBS_PACKET &&
                       (o->pkt.type == MQTT_CONNACK || o->pkt.type == MQTT_DISCONNECT ||
                        o->pkt.type == MQTT_PUBLISH));
        if (!answer)
            continue;
        char seen[300];
        describe_obs(o, seen, sizeof seen);
        sbuf ob = {d->observed, sizeof d->observed, strlen(d->observed)};
        sb(&ob, "; but before it: %s", seen);
        return J_VIOLATED;
    }
    return J_MET;
}

/* Every alternative is judged on the same inbox; only the one that is met
 * keeps what it took. Met when any alternative is met (the first in the list
 * wins a tie), violated when none can be met any more. */
static judgement judge_one_of(sc_run *sr, const step_t *st, int64_t now, bool final,
                              verdict_detail *d)
{
    const expect_args *ea = &st->u.expect;
    client_rt *c = client_of(sr, st);
    inbox_t *in = &c->inbox;
    bool *snap = malloc(in->n ? in->n : 1);
    if (!snap) {
        snprintf(d->observed, sizeof d->observed, "out of memory");
        return J_ERROR;
    }
    size_t n_before = in->n;
    if (n_before)
        memcpy(snap, in->taken, n_before);
    sbuf exp = {d->expected, sizeof d->expected, 0};
    sbuf obs = {d->observed, sizeof d->observed, 0};
    sb(&exp, "one of:");
    bool pending = false, any_error = false;
    for (size_t k = 0; k < ea->u.one_of.n; k++) {
        step_t alt = *st;
        alt.u.expect = ea->u.one_of.items[k];
        alt.u.expect.has_after = ea->has_after;
        alt.u.expect.after = ea->after;
        alt.u.expect.within = ea->within;
        alt.u.expect.since = ea->since;
        verdict_detail ad = {{0}, {0}};
        judgement j = judge_one(sr, &alt, now, final, &ad);
        sb(&exp, " (%zu) %s", k + 1, ad.expected);
        if (j == J_MET)
            j = nothing_skipped(in, snap, n_before, &ad);
        if (j == J_MET) {
            /* A close stays observable: "CONNACK refused, or just a close"
             * is followed by `closed`, which must find it either way. */
            for (size_t i = 0; i < n_before; i++)
                if (in->items[i]->kind == OBS_CLOSED)
                    in->taken[i] = snap[i];
            free(snap);
            snprintf(d->observed, sizeof d->observed, "(%zu) %s", k + 1,
                     ad.observed[0] ? ad.observed : "as expected");
            return J_MET;
        }
        if (n_before)
            memcpy(in->taken, snap, n_before);
        if (j == J_PENDING)
            pending = true;
        else {
            if (j == J_ERROR)
                any_error = true;
            sb(&obs, "%s(%zu) %s", obs.n ? "; " : "", k + 1, ad.observed);
        }
    }
    free(snap);
    if (pending)
        return J_PENDING;
    return any_error ? J_ERROR : J_VIOLATED;
}

static judgement judge_one(sc_run *sr, const step_t *st, int64_t now, bool final, verdict_detail *d)
{
    (void)now;
    switch (st->u.expect.kind) {
    case EX_CONNACK: return judge_connack(sr, st, final, d);
    case EX_SUBACK:
    case EX_UNSUBACK: return judge_suback(sr, st, final, d);
    case EX_MESSAGE: return judge_message(sr, st, final, d);
    case EX_MESSAGES: return judge_messages(sr, st, final, d);
    case EX_NOTHING: return judge_nothing(sr, st, final, d);
    case EX_ACK: return judge_ack(sr, st, final, d);
    case EX_DISCONNECT: return judge_disconnect(sr, st, final, d);
    case EX_CLOSED: return judge_closed(sr, st, final, d);
    case EX_ALIVE: return judge_alive(sr, st, final, d);
    case EX_IN_FLIGHT: return judge_in_flight(sr, st, d);
    case EX_ONE_OF: return judge_one_of(sr, st, now, final, d);
    case EX_SEQUENCE: return judge_sequence(sr, st, now, final, d);
    }
    return J_ERROR;
}

judgement expect_judge(sc_run *sr, const step_t *st, int64_t now, bool final, verdict_detail *d)
{
    return judge_one(sr, st, now, final, d);
}
