/* probe.c -- learn what a broker offers from its CONNACKs; see probe.h. */
#include "probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define PROBE_SESSION_EXPIRY 0xFFFFFFFEu

typedef struct probe_conn {
    bool done;
    bool accepted;
    bool closed;
    uint8_t reason;
    char detail[160];
    mqtt_props props;           /* copied views into `keep` */
    obs_t *keep;                /* the CONNACK observation, owned */
} probe_conn;

static void on_observe(void *ud, obs_t *o)
{
    probe_conn *p = ud;
    if (!p->done && o->kind == OBS_PACKET && o->pkt.type == MQTT_CONNACK) {
        p->done = true;
        p->reason = o->pkt.u.connack.reason;
        p->accepted = o->pkt.u.connack.reason == 0;
        p->keep = o;
        return;
    }
    if (o->kind == OBS_CLOSED) {
        p->closed = true;
        if (!p->done) {
            p->done = true;
            snprintf(p->detail, sizeof p->detail, "closed without CONNACK: %s", o->text);
        }
    } else if (o->kind == OBS_BAD_PACKET && !p->done) {
        p->done = true;
        snprintf(p->detail, sizeof p->detail, "%s", o->text);
    }
    obs_free(o);
}

static void on_trace(void *ud, const trace_line *t)
{
    (void)ud;
    (void)t;
}

/* One CONNECT for `protocol`; the CONNACK (if any) stays in p->keep. */
static void probe_one(loop_t *loop, const target_t *target, uint8_t protocol, const char *user,
                      const char *pass, const char *client_id, int timeout_ms, probe_conn *p)
{
    mqtt_connect c;
    memset(&c, 0, sizeof c);
    c.protocol_name = mqtt_str("MQTT");
    c.protocol_level = protocol;
    c.clean_start = true;
    c.keep_alive = 30;
    c.client_id = mqtt_str(client_id);
    mqtt_props props = {0};
    /* A 5.0 server that caps Session Expiry says so in CONNACK when asked for
     * more; the session is ended by the DISCONNECT below (expiry 0). */
    if (protocol == MQTT_V5)
        mqtt_props_add_num(&props, MQTT_PROP_SESSION_EXPIRY, PROBE_SESSION_EXPIRY);
    c.props = props;
    if (user) {
        c.has_username = true;
        c.username = mqtt_str(user);
    }
    if (pass) {
        c.has_password = true;
        c.password = mqtt_str(pass);
    }
    int64_t deadline = loop_now_ms() + timeout_ms;
    conn_params params = {.target = target, .protocol = protocol, .connect = c,
                          .auto_ack = true, .deadline_ms = deadline};
    conn_sink sink = {.observe = on_observe, .trace = on_trace, .ud = p};
    char err[256] = "";
    conn_t *conn = driver_raw.open(loop, &params, sink, err, sizeof err);
    if (!conn) {
        p->done = true;
        snprintf(p->detail, sizeof p->detail, "%s", err);
        mqtt_props_free(&props);
        return;
    }
    while (!p->done && loop_now_ms() < deadline)
        loop_once(loop, 100);
    if (!p->done)
        snprintf(p->detail, sizeof p->detail, "no CONNACK within %d ms", timeout_ms);
    if (p->accepted && !p->closed) {
        mqtt_packet d;
        memset(&d, 0, sizeof d);
        d.type = MQTT_DISCONNECT;
        d.version = protocol;
        if (protocol == MQTT_V5) {
            d.u.disconnect.has_reason = true;
            mqtt_props_add_num(&d.u.disconnect.props, MQTT_PROP_SESSION_EXPIRY, 0);
        }
        driver_raw.send(conn, &d, err, sizeof err);
        mqtt_props_free(&d.u.disconnect.props);
        /* Let the DISCONNECT go out before the socket is freed. */
        int64_t until = loop_now_ms() + 1000;
        while (!p->closed && loop_now_ms() < until)
            loop_once(loop, 50);
    }
    driver_raw.free(conn);
    mqtt_props_free(&props);
}

/* A feature a 5.0 CONNACK announces with a byte property that defaults to 1. */
static void announced_flag(const mqtt_props *p, uint8_t id, unsigned feature, unsigned *offered)
{
    const mqtt_prop *f = mqtt_props_find(p, id);
    if (f && f->num == 0)
        *offered &= ~feature;
}

int broker_probe(const target_t *target, const char *username, const char *password,
                 const char *client_prefix, int timeout_ms, broker_caps *caps, char *err,
                 size_t errcap)
{
    memset(caps, 0, sizeof *caps);
    loop_t *loop = loop_new();
    if (!loop) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    char id5[24], id311[24];
    snprintf(id5, sizeof id5, "%.14sprobe5", client_prefix);
    snprintf(id311, sizeof id311, "%.14sprobe3", client_prefix);
    probe_conn p5, p3;
    memset(&p5, 0, sizeof p5);
    memset(&p3, 0, sizeof p3);
    probe_one(loop, target, MQTT_V5, username, password, id5, timeout_ms, &p5);
    probe_one(loop, target, MQTT_V311, username, password, id311, timeout_ms, &p3);

    caps->probed = true;
    caps->offered = FEAT__ALL & ~(FEAT_V5 | FEAT_V311);
    if (p5.accepted) {
        caps->offered |= FEAT_V5;
        const mqtt_props *pp = &p5.keep->pkt.u.connack.props;
        const mqtt_prop *q = mqtt_props_find(pp, MQTT_PROP_MAXIMUM_QOS);
        if (q && q->num < 2)
            caps->offered &= ~FEAT_QOS2;
        if (q && q->num < 1)
            caps->offered &= ~FEAT_QOS1;
        announced_flag(pp, MQTT_PROP_RETAIN_AVAILABLE, FEAT_RETAIN, &caps->offered);
        announced_flag(pp, MQTT_PROP_WILDCARD_SUB_AVAILABLE, FEAT_WILDCARD_SUB, &caps->offered);
        announced_flag(pp, MQTT_PROP_SHARED_SUB_AVAILABLE, FEAT_SHARED_SUB, &caps->offered);
        announced_flag(pp, MQTT_PROP_SUB_ID_AVAILABLE, FEAT_SUB_ID, &caps->offered);
        const mqtt_prop *ta = mqtt_props_find(pp, MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
        if (!ta || ta->num == 0)
            caps->offered &= ~FEAT_TOPIC_ALIAS;
        if (!mqtt_props_find(pp, MQTT_PROP_MAXIMUM_PACKET_SIZE))
            caps->offered &= ~FEAT_MAX_PACKET_SIZE;
        mqtt_describe(&p5.keep->pkt, caps->announced, sizeof caps->announced);
        const mqtt_prop *sei = mqtt_props_find(pp, MQTT_PROP_SESSION_EXPIRY);
        if (sei && sei->num < PROBE_SESSION_EXPIRY) {
            caps->has_max_session_expiry = true;
            caps->max_session_expiry = sei->num;
            snprintf(caps->max_session_expiry_from, sizeof caps->max_session_expiry_from, "probe");
            broker_caps_note(caps, "max_session_expiry", "probe", "%u", sei->num);
        }
        const mqtt_prop *rm = mqtt_props_find(pp, MQTT_PROP_RECEIVE_MAXIMUM);
        broker_caps_note(caps, "receive_maximum", "probe", "%u", rm ? rm->num : 65535);
        broker_caps_note(caps, "maximum_qos", "probe", "%u", q ? q->num : 2);
    } else if (p5.keep) {
        snprintf(caps->v5_refused, sizeof caps->v5_refused, "CONNACK 0x%02X (%s)", p5.reason,
                 mqtt_reason_name(p5.reason, MQTT_CONNACK, p5.keep->pkt.version));
    } else {
        snprintf(caps->v5_refused, sizeof caps->v5_refused, "%s", p5.detail);
    }
    broker_caps_note(caps, "mqtt5", "probe", "%s", p5.accepted ? "yes" : caps->v5_refused);
    if (p3.accepted) {
        caps->offered |= FEAT_V311;
        if (!p5.accepted)
            mqtt_describe(&p3.keep->pkt, caps->announced, sizeof caps->announced);
    } else if (p3.keep) {
        snprintf(caps->v311_refused, sizeof caps->v311_refused, "CONNACK %u (%s)", p3.reason,
                 mqtt_reason_name(p3.reason, MQTT_CONNACK, MQTT_V311));
    } else {
        snprintf(caps->v311_refused, sizeof caps->v311_refused, "%s", p3.detail);
    }
    broker_caps_note(caps, "mqtt311", "probe", "%s", p3.accepted ? "yes" : caps->v311_refused);
    int rc = 0;
    if (!p5.accepted && !p3.accepted) {
        snprintf(err, errcap, "the broker accepted neither an MQTT 5.0 CONNECT (%s) nor a 3.1.1 "
                              "one (%s)",
                 caps->v5_refused, caps->v311_refused);
        rc = -1;
    }
    obs_free(p5.keep);
    obs_free(p3.keep);
    loop_free(loop);
    return rc;
}

const char *broker_caps_gap(const broker_caps *caps, unsigned requires, char *buf, size_t cap)
{
    if (!caps || !caps->probed)
        return NULL;
    unsigned missing = requires & ~caps->offered;
    if (!missing)
        return NULL;
    if (missing & FEAT_V5) {
        snprintf(buf, cap, "the broker does not speak MQTT 5.0 (%s)",
                 caps->v5_refused[0] ? caps->v5_refused : "declared");
        return buf;
    }
    if (missing & FEAT_V311) {
        snprintf(buf, cap, "the broker does not speak MQTT 3.1.1 (%s)",
                 caps->v311_refused[0] ? caps->v311_refused : "declared");
        return buf;
    }
    if (missing & FEAT_SECOND_USER) {
        snprintf(buf, cap, "needs a second user's credentials: run with --username2 and "
                           "--password2 (or a profile that gives them)");
        return buf;
    }
    for (unsigned i = 0; i < 16 && (1u << i) & FEAT__ALL; i++)
        if ((missing & (1u << i)) && caps->refused[i][0]) {
            snprintf(buf, cap, "%s", caps->refused[i]);
            return buf;
        }
    for (unsigned bit = 1; bit & FEAT__ALL; bit <<= 1)
        if (missing & bit) {
            snprintf(buf, cap, "the broker does not offer %s (as its CONNACK or profile says)",
                     feature_name(bit));
            return buf;
        }
    return NULL;
}

void broker_caps_note(broker_caps *caps, const char *name, const char *source, const char *fmt, ...)
{
    size_t i = 0;
    while (i < caps->n_list && strcmp(caps->list[i].name, name))
        i++;
    if (i == caps->n_list) {
        if (caps->n_list == CAPS_MAX_LIST)
            return;
        caps->n_list++;
    }
    cap_entry *e = &caps->list[i];
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->source, sizeof e->source, "%s", source);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->value, sizeof e->value, fmt, ap);
    va_end(ap);
}

void broker_caps_refuse(broker_caps *caps, unsigned one_feature, const char *fmt, ...)
{
    caps->offered &= ~one_feature;
    unsigned i = 0;
    while (i < 16 && (1u << i) != one_feature)
        i++;
    if (i == 16)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(caps->refused[i], sizeof caps->refused[i], fmt, ap);
    va_end(ap);
}

const char *broker_caps_limit_gap(const broker_caps *caps, const struct scenario *sc, char *buf,
                                  size_t cap)
{
    if (!caps || !caps->has_max_queued)
        return NULL;
    if (sc->max_offline_publishes > caps->max_queued) {
        snprintf(buf, cap, "the scenario has up to %u messages queued for an offline session; the "
                           "broker keeps at most %u (profile max_queued_messages)",
                 sc->max_offline_publishes, caps->max_queued);
        return buf;
    }
    return NULL;
}
