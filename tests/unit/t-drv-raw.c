/* t-drv-raw.c -- the raw packet driver against a real mosquitto and against
 * listeners this test owns.
 *
 * What it is for: what the driver puts on the wire and what it reports --
 * CONNECT bytes (absent vs zero Session Expiry), manual acks, in-flight
 * redelivery with DUP and the same packet id, a second CONNECT, FIN vs RST,
 * refusal, a silent listener, undecodable input, the receive cap, TLS
 * verification failures named, and free() from inside the sink.
 *
 * What it is not: a test of mosquitto. Where the broker's behaviour is merely
 * interesting (a DISCONNECT before closing, say) it is printed as a diagnostic.
 *
 * Usage: t-drv-raw PORT [TLS_PORT CERT_DIR]   (tests/drv-raw.t starts the brokers)
 * Everything runs through loop_once with deadlines; nothing sleeps.
 */
#include "tap.h"

#include "../../harness/driver.h"
#include "../../harness/loop.h"
#include "../../harness/model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAXOBS 256
#define MAXTRACE 512

static loop_t *L;
static char prefix[64];     /* unique per run: ids and topics */
static int verbose;

#define WAIT_FOR(cond, ms)                                          \
    do {                                                            \
        int64_t end_ = loop_now_ms() + (ms);                        \
        while (!(cond) && loop_now_ms() < end_)                     \
            loop_once(L, 20);                                       \
    } while (0)

typedef struct tline {
    int64_t at;
    char dir;
    char *text;
    uint8_t *bytes;
    size_t len;
} tline;

typedef struct tc {
    const char *name;
    conn_t *c;
    obs_t *obs[MAXOBS];
    bool taken[MAXOBS];
    int nobs;
    tline tr[MAXTRACE];
    int ntr;
    bool closed;
    close_cause cause;
    char closetext[160];
    bool free_on_connack, free_on_close, free_in_trace;
    bool freed_in_cb;
    int obs_after_free;
} tc;

static void tc_observe(void *ud, obs_t *o)
{
    tc *t = ud;
    if (t->freed_in_cb)
        t->obs_after_free++;
    if (o->kind == OBS_CLOSED) {
        t->closed = true;
        t->cause = o->cause;
        snprintf(t->closetext, sizeof t->closetext, "%s", o->text);
    }
    bool was_connack = o->kind == OBS_PACKET && o->pkt.type == MQTT_CONNACK;
    bool was_close = o->kind == OBS_CLOSED;
    if (t->nobs < MAXOBS)
        t->obs[t->nobs++] = o;
    else
        obs_free(o);
    if ((t->free_on_connack && was_connack) || (t->free_on_close && was_close)) {
        driver_raw.free(t->c);
        t->c = NULL;
        t->freed_in_cb = true;
    }
}

static void tc_trace(void *ud, const trace_line *l)
{
    tc *t = ud;
    if (verbose)
        diag("%s %6lld %c %s", t->name, (long long)(l->at_ms % 1000000), l->dir, l->text);
    if (t->ntr < MAXTRACE) {
        tline *x = &t->tr[t->ntr++];
        x->at = l->at_ms;
        x->dir = (char)l->dir;
        x->text = strdup(l->text);
        x->len = l->bytes ? l->len : 0;
        x->bytes = malloc(x->len ? x->len : 1);
        if (x->len)
            memcpy(x->bytes, l->bytes, x->len);
    }
    if (t->free_in_trace && l->dir == TRACE_NOTE && strstr(l->text, "TCP connected")) {
        driver_raw.free(t->c);
        t->c = NULL;
        t->freed_in_cb = true;
    }
}

static void tc_free(tc *t)
{
    if (!t)
        return;
    if (t->c)
        driver_raw.free(t->c);
    for (int i = 0; i < t->nobs; i++)
        obs_free(t->obs[i]);
    for (int i = 0; i < t->ntr; i++) {
        free(t->tr[i].text);
        free(t->tr[i].bytes);
    }
    free(t);
}

static tc *tc_new(const char *name)
{
    tc *t = calloc(1, sizeof *t);
    t->name = name;
    return t;
}

/* Opens a connection; sei < 0 leaves Session Expiry out of CONNECT. */
static tc *tc_open_on(tc *t, const target_t *tg, uint8_t proto, const char *cid, bool clean,
                      long sei, bool auto_ack, int timeout_ms)
{
    conn_params p;
    memset(&p, 0, sizeof p);
    p.target = tg;
    p.protocol = proto;
    p.auto_ack = auto_ack;
    p.deadline_ms = loop_now_ms() + timeout_ms;
    p.connect.clean_start = clean;
    p.connect.keep_alive = 60;
    p.connect.client_id = mqtt_str(cid);
    if (sei >= 0)
        mqtt_props_add_num(&p.connect.props, MQTT_PROP_SESSION_EXPIRY, (uint32_t)sei);
    conn_sink sink = {.observe = tc_observe, .trace = tc_trace, .ud = t};
    char err[200] = "";
    t->c = driver_raw.open(L, &p, sink, err, sizeof err);
    if (!t->c)
        diag("%s: open failed: %s", t->name, err);
    mqtt_props_free(&p.connect.props);
    return t;
}

static tc *tc_open(const char *name, const target_t *tg, uint8_t proto, const char *cid,
                   bool clean, long sei, bool auto_ack)
{
    return tc_open_on(tc_new(name), tg, proto, cid, clean, sei, auto_ack, 5000);
}

/* The first packet of `type` not yet returned: each type is consumed in
 * arrival order, independently of the others. */
static obs_t *next_pkt(tc *t, uint8_t type)
{
    for (int i = 0; i < t->nobs; i++) {
        obs_t *o = t->obs[i];
        if (o->kind == OBS_PACKET && o->pkt.type == type && !t->taken[i]) {
            t->taken[i] = true;
            return o;
        }
    }
    return NULL;
}

static obs_t *wait_pkt(tc *t, uint8_t type, int ms)
{
    obs_t *o = NULL;
    WAIT_FOR((o = next_pkt(t, type)) != NULL || t->closed, ms);
    if (!o)
        o = next_pkt(t, type);
    return o;
}

static int count_pkts(tc *t, uint8_t type)
{
    int n = 0;
    for (int i = 0; i < t->nobs; i++)
        if (t->obs[i]->kind == OBS_PACKET && t->obs[i]->pkt.type == type)
            n++;
    return n;
}

static int count_bad(tc *t)
{
    int n = 0;
    for (int i = 0; i < t->nobs; i++)
        if (t->obs[i]->kind == OBS_BAD_PACKET)
            n++;
    return n;
}

/* The first trace line in direction `dir` whose text starts with `start`. */
static tline *find_trace(tc *t, char dir, const char *start)
{
    for (int i = 0; i < t->ntr; i++)
        if (t->tr[i].dir == dir && strncmp(t->tr[i].text, start, strlen(start)) == 0)
            return &t->tr[i];
    return NULL;
}

static int count_trace(tc *t, char dir, const char *start)
{
    int n = 0;
    for (int i = 0; i < t->ntr; i++)
        if (t->tr[i].dir == dir && strncmp(t->tr[i].text, start, strlen(start)) == 0)
            n++;
    return n;
}

static bool trace_has(tc *t, char dir, const char *needle)
{
    for (int i = 0; i < t->ntr; i++)
        if (t->tr[i].dir == dir && strstr(t->tr[i].text, needle))
            return true;
    return false;
}

static int send_pkt(tc *t, mqtt_packet *p)
{
    char err[200] = "";
    int rc = driver_raw.send(t->c, p, err, sizeof err);
    if (rc != 0)
        diag("%s: send %s failed: %s", t->name, mqtt_type_name(p->type), err);
    return rc;
}

static uint16_t subscribe(tc *t, const char *filter, uint8_t qos)
{
    mqtt_sub e;
    memset(&e, 0, sizeof e);
    e.filter = mqtt_str(filter);
    e.qos = qos;
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBSCRIBE;
    p.u.subscribe.subs = &e;
    p.u.subscribe.count = 1;
    send_pkt(t, &p);
    return p.u.subscribe.packet_id;
}

static uint16_t publish(tc *t, const char *topic, const char *payload, uint8_t qos)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.qos = qos;
    p.u.publish.topic = mqtt_str(topic);
    p.u.publish.payload = mqtt_str(payload);
    send_pkt(t, &p);
    return p.u.publish.packet_id;
}

static void send_ack(tc *t, uint8_t type, uint16_t id)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.u.ack.packet_id = id;
    send_pkt(t, &p);
}

static int send_simple(tc *t, uint8_t type)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    return send_pkt(t, &p);
}

/* PINGREQ/PINGRESP round trip: whatever the broker sent before it has arrived. */
static bool barrier(tc *t)
{
    int before = count_pkts(t, MQTT_PINGRESP);
    if (send_simple(t, MQTT_PINGREQ) != 0)
        return false;
    WAIT_FOR(count_pkts(t, MQTT_PINGRESP) > before || t->closed, 3000);
    return count_pkts(t, MQTT_PINGRESP) > before;
}

static bool disconnect_and_wait(tc *t)
{
    if (send_simple(t, MQTT_DISCONNECT) != 0)
        return false;
    WAIT_FOR(t->closed, 3000);
    return t->closed && t->cause == CLOSE_BY_US;
}

/* Ends a persistent session so the broker keeps nothing (catalog 4.3). */
static void end_session(const target_t *tg, uint8_t proto, const char *cid)
{
    tc *t = tc_open("cleanup", tg, proto, cid, true, proto == MQTT_V5 ? 0 : -1, true);
    if (wait_pkt(t, MQTT_CONNACK, 3000))
        disconnect_and_wait(t);
    tc_free(t);
}

/* ---- local listeners ----------------------------------------------------- */

static int listen_local(int family, int *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_loopback;
        len = sizeof *s6;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* Accepts with a bounded wait; the accepted socket reads with a 3 s timeout. */
static int accept_local(int lfd)
{
    struct timeval tv = {3, 0};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* The driver sends CONNECT only once the loop has seen the connect finish. */
static ssize_t peer_read_connect(tc *t, int pfd, uint8_t *buf, size_t cap)
{
    WAIT_FOR(find_trace(t, TRACE_OUT, "CONNECT") != NULL || t->closed, 2000);
    ssize_t n = pfd >= 0 ? recv(pfd, buf, cap, 0) : -1;
    if (n <= 0)
        diag("no CONNECT at the peer");
    return n;
}

static void write_all(int fd, const void *b, size_t n)
{
    if (write(fd, b, n) != (ssize_t)n)
        diag("short write to the test peer");
}

/* ---- tests --------------------------------------------------------------- */

static target_t plain;

static void t_connect_v5_absent_vs_zero(void)
{
    char cid[96];
    snprintf(cid, sizeof cid, "%s-v5a", prefix);
    tc *a = tc_open("v5-absent", &plain, MQTT_V5, cid, true, -1, true);
    obs_t *ca = wait_pkt(a, MQTT_CONNACK, 3000);
    ok(ca && ca->pkt.u.connack.reason == 0, "v5: CONNACK Success");
    ok(trace_has(a, TRACE_NOTE, "TCP connected to 127.0.0.1:"), "trace notes the TCP connection");
    tline *cl = find_trace(a, TRACE_OUT, "CONNECT");
    ok(cl && cl->len > 13, "v5: CONNECT traced with its bytes");
    if (cl && cl->len > 13) {
        /* 10 ll | 00 04 M Q T T | 05 | flags | keep alive (2) | property length */
        is_int(cl->bytes[8], 5, "v5: protocol level 5 on the wire");
        is_int(cl->bytes[9], 0x02, "v5: flags: Clean Start only");
        is_int(cl->bytes[12], 0, "v5: Session Expiry absent: property length 0");
    }
    ok(disconnect_and_wait(a), "v5: DISCONNECT then closed by us");
    ok(find_trace(a, TRACE_OUT, "DISCONNECT") != NULL, "DISCONNECT traced");
    char err[100] = "";
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PINGREQ;
    int rc = driver_raw.send(a->c, &p, err, sizeof err);
    ok(rc == -1 && strstr(err, "not connected"), "send after close: -1 \"%s\"", err);
    tc_free(a);

    snprintf(cid, sizeof cid, "%s-v5z", prefix);
    tc *z = tc_open("v5-zero", &plain, MQTT_V5, cid, true, 0, true);
    ca = wait_pkt(z, MQTT_CONNACK, 3000);
    ok(ca && ca->pkt.u.connack.reason == 0, "v5 SEI 0: CONNACK Success");
    cl = find_trace(z, TRACE_OUT, "CONNECT");
    static const uint8_t sei0[] = {0x05, 0x11, 0, 0, 0, 0};
    ok(cl && cl->len > 18, "v5 SEI 0: CONNECT traced");
    if (cl && cl->len > 18)
        is_bytes(cl->bytes + 12, 6, sei0, 6, "v5: Session Expiry 0 present: 05 11 00000000");
    ok(disconnect_and_wait(z), "v5 SEI 0: DISCONNECT");
    tc_free(z);
}

static void t_connect_v311(void)
{
    char cid[96];
    snprintf(cid, sizeof cid, "%s-311", prefix);
    tc *a = tc_open("v311", &plain, MQTT_V311, cid, true, -1, true);
    obs_t *ca = wait_pkt(a, MQTT_CONNACK, 3000);
    ok(ca && ca->pkt.u.connack.reason == 0 && !ca->pkt.u.connack.session_present,
       "3.1.1: CONNACK accepted, session present 0");
    tline *cl = find_trace(a, TRACE_OUT, "CONNECT");
    ok(cl && cl->len > 12 && cl->bytes[8] == 4 && cl->bytes[9] == 0x02,
       "3.1.1: level 4, Clean Session on the wire");
    ok(disconnect_and_wait(a), "3.1.1: DISCONNECT");
    tc_free(a);
}

/* QoS 1, acks withheld, connection dropped: the broker must redeliver with
 * DUP 1 and the same packet id (v5 MQTT-4.4.0-1, 3.1.1 MQTT-4.4.0-1). */
static void t_qos1_redelivery(uint8_t proto)
{
    const char *v = proto == MQTT_V5 ? "v5" : "3.1.1";
    char sid[96], pid[96], aid[96], topic[128];
    snprintf(sid, sizeof sid, "%s-q1s-%d", prefix, proto);
    snprintf(pid, sizeof pid, "%s-q1p-%d", prefix, proto);
    snprintf(aid, sizeof aid, "%s-q1a-%d", prefix, proto);
    snprintf(topic, sizeof topic, "mqspec/%s/q1/%d", prefix, proto);
    long sei = proto == MQTT_V5 ? 300 : -1;

    /* 3.1.1 keeps a session only when Clean Session is 0 from the start. */
    tc *s = tc_open("q1-sub", &plain, proto, sid, proto == MQTT_V5, sei, false);
    ok(wait_pkt(s, MQTT_CONNACK, 3000) != NULL, "%s q1: subscriber connected", v);
    uint16_t sub_id = subscribe(s, topic, 1);
    is_int(sub_id, 1, "%s q1: SUBSCRIBE got packet id 1, written back", v);
    obs_t *sa = wait_pkt(s, MQTT_SUBACK, 3000);
    ok(sa && sa->pkt.u.suback.count == 1 && sa->pkt.u.suback.reasons[0] == 1 &&
           sa->pkt.u.suback.packet_id == sub_id,
       "%s q1: SUBACK granted QoS 1 for that id", v);

    /* A second subscriber with auto_ack shows the automatic PUBACK. */
    tc *a = tc_open("q1-auto", &plain, proto, aid, true, -1, true);
    wait_pkt(a, MQTT_CONNACK, 3000);
    subscribe(a, topic, 1);
    wait_pkt(a, MQTT_SUBACK, 3000);

    tc *p = tc_open("q1-pub", &plain, proto, pid, true, -1, true);
    wait_pkt(p, MQTT_CONNACK, 3000);
    uint16_t pub_id = publish(p, topic, "m1", 1);
    ok(pub_id != 0, "%s q1: publisher's PUBLISH got id %u", v, pub_id);
    obs_t *pa = wait_pkt(p, MQTT_PUBACK, 3000);
    ok(pa && pa->pkt.u.ack.packet_id == pub_id, "%s q1: PUBACK for the publisher's id", v);

    obs_t *m = wait_pkt(s, MQTT_PUBLISH, 3000);
    ok(m && m->pkt.u.publish.qos == 1 && !m->pkt.u.publish.dup && m->pkt.u.publish.packet_id,
       "%s q1: message arrives QoS 1, DUP 0", v);
    uint16_t first_id = m ? m->pkt.u.publish.packet_id : 0;
    int first_dup = m ? m->pkt.u.publish.dup : -1;
    obs_t *am = wait_pkt(a, MQTT_PUBLISH, 3000);
    WAIT_FOR(find_trace(a, TRACE_OUT, "PUBACK") != NULL, 1000);
    ok(am && find_trace(a, TRACE_OUT, "PUBACK"), "%s q1: auto_ack subscriber sent PUBACK", v);

    /* A round trip proves nothing was sent in between. */
    ok(barrier(s), "%s q1: PINGREQ/PINGRESP barrier on the subscriber", v);
    is_int(count_trace(s, TRACE_OUT, "PUBACK"), 0, "%s q1: auto_ack false: no PUBACK sent", v);
    is_int(count_trace(s, TRACE_OUT, ""), 3, "%s q1: only CONNECT, SUBSCRIBE, PINGREQ went out", v);

    driver_raw.drop(s->c, false);
    WAIT_FOR(s->closed, 2000);
    ok(s->closed && s->cause == CLOSE_BY_US, "%s q1: drop -> closed by us (%s)", v, s->closetext);
    tc_free(s);

    tc *s2 = tc_open("q1-sub2", &plain, proto, sid, false, sei, false);
    obs_t *ca = wait_pkt(s2, MQTT_CONNACK, 3000);
    ok(ca && ca->pkt.u.connack.session_present, "%s q1: resumed, session present 1", v);
    obs_t *r = wait_pkt(s2, MQTT_PUBLISH, 3000);
    ok(r != NULL, "%s q1: message redelivered after reconnect", v);
    if (r) {
        ok(r->pkt.u.publish.dup, "%s q1: redelivery has DUP 1", v);
        is_int(r->pkt.u.publish.packet_id, first_id, "%s q1: redelivery keeps packet id %u", v,
               first_id);
        ok(mqtt_bytes_eq(r->pkt.u.publish.payload, mqtt_str("m1")), "%s q1: same payload", v);
        diag("mosquitto %s QoS 1 redelivery: first id %u dup %d, again id %u dup %d", v, first_id,
             first_dup, r->pkt.u.publish.packet_id, r->pkt.u.publish.dup);
        send_ack(s2, MQTT_PUBACK, r->pkt.u.publish.packet_id);
    }
    ok(barrier(s2), "%s q1: barrier after the manual PUBACK", v);
    is_int(count_pkts(s2, MQTT_PUBLISH), 1, "%s q1: exactly one redelivery", v);
    disconnect_and_wait(s2);
    tc_free(s2);
    disconnect_and_wait(p);
    tc_free(p);
    disconnect_and_wait(a);
    tc_free(a);
    end_session(&plain, proto, sid);
}

/* QoS 2 receiver: PUBREC sent, PUBCOMP withheld, dropped: the broker resends
 * PUBREL with the same id and not the PUBLISH. */
static void t_qos2_pubrel(void)
{
    char sid[96], pid[96], topic[128];
    snprintf(sid, sizeof sid, "%s-q2s", prefix);
    snprintf(pid, sizeof pid, "%s-q2p", prefix);
    snprintf(topic, sizeof topic, "mqspec/%s/q2", prefix);

    tc *s = tc_open("q2-sub", &plain, MQTT_V5, sid, true, 300, false);
    wait_pkt(s, MQTT_CONNACK, 3000);
    subscribe(s, topic, 2);
    obs_t *sa = wait_pkt(s, MQTT_SUBACK, 3000);
    ok(sa && sa->pkt.u.suback.count == 1 && sa->pkt.u.suback.reasons[0] == 2,
       "q2: SUBACK granted QoS 2");

    tc *p = tc_open("q2-pub", &plain, MQTT_V5, pid, true, -1, true);
    wait_pkt(p, MQTT_CONNACK, 3000);
    uint16_t pub_id = publish(p, topic, "m2", 2);
    obs_t *rec = wait_pkt(p, MQTT_PUBREC, 3000);
    ok(rec && rec->pkt.u.ack.packet_id == pub_id, "q2: publisher got PUBREC %u", pub_id);
    obs_t *comp = wait_pkt(p, MQTT_PUBCOMP, 3000);
    ok(comp && comp->pkt.u.ack.packet_id == pub_id && find_trace(p, TRACE_OUT, "PUBREL"),
       "q2: auto_ack publisher sent PUBREL and got PUBCOMP");

    obs_t *m = wait_pkt(s, MQTT_PUBLISH, 3000);
    ok(m && m->pkt.u.publish.qos == 2, "q2: message arrives QoS 2");
    uint16_t id = m ? m->pkt.u.publish.packet_id : 0;
    uint16_t rel_id = 0;
    ok(barrier(s) && count_trace(s, TRACE_OUT, "PUBREC") == 0, "q2: no automatic PUBREC");
    send_ack(s, MQTT_PUBREC, id);
    obs_t *rel = wait_pkt(s, MQTT_PUBREL, 3000);
    ok(rel && rel->pkt.u.ack.packet_id == id, "q2: broker sends PUBREL %u", id);
    rel_id = rel ? rel->pkt.u.ack.packet_id : 0;
    ok(barrier(s) && count_trace(s, TRACE_OUT, "PUBCOMP") == 0, "q2: no automatic PUBCOMP");

    driver_raw.drop(s->c, false);
    WAIT_FOR(s->closed, 2000);
    ok(s->closed && s->cause == CLOSE_BY_US, "q2: dropped");
    tc_free(s);

    tc *s2 = tc_open("q2-sub2", &plain, MQTT_V5, sid, false, 300, false);
    obs_t *ca = wait_pkt(s2, MQTT_CONNACK, 3000);
    ok(ca && ca->pkt.u.connack.session_present, "q2: resumed, session present 1");
    obs_t *rel2 = wait_pkt(s2, MQTT_PUBREL, 3000);
    ok(rel2 && rel2->pkt.u.ack.packet_id == id, "q2: PUBREL resent with the same id %u", id);
    ok(barrier(s2), "q2: barrier");
    is_int(count_pkts(s2, MQTT_PUBLISH), 0, "q2: PUBLISH not resent after PUBREC");
    diag("mosquitto v5 QoS 2: PUBLISH id %u, PUBREL id %u, PUBREL after reconnect id %u", id,
         rel_id, rel2 ? rel2->pkt.u.ack.packet_id : 0);
    if (rel2)
        send_ack(s2, MQTT_PUBCOMP, id);
    ok(barrier(s2), "q2: barrier after PUBCOMP");
    disconnect_and_wait(s2);
    tc_free(s2);
    disconnect_and_wait(p);
    tc_free(p);
    end_session(&plain, MQTT_V5, sid);
}

static void t_second_connect(void)
{
    char cid[96];
    snprintf(cid, sizeof cid, "%s-2c", prefix);
    tc *a = tc_open("second-connect", &plain, MQTT_V5, cid, true, -1, true);
    wait_pkt(a, MQTT_CONNACK, 3000);
    mqtt_packet c;
    memset(&c, 0, sizeof c);
    c.type = MQTT_CONNECT;
    c.version = MQTT_V5;
    c.u.connect.clean_start = true;
    c.u.connect.client_id = mqtt_str(cid);
    mqtt_buf b = {0};
    mqtt_encode(&c, &b);
    char err[100];
    ok(driver_raw.send_bytes(a->c, b.data, b.len, err, sizeof err) == 0,
       "send_bytes: a second CONNECT");
    mqtt_buf_free(&b);
    ok(find_trace(a, TRACE_OUT, "raw bytes (") != NULL, "traced as raw bytes with hex");
    WAIT_FOR(a->closed, 3000);
    ok(a->closed && (a->cause == CLOSE_BY_PEER || a->cause == CLOSE_RESET),
       "second CONNECT: the broker closes (%s)", a->closetext);
    obs_t *d = next_pkt(a, MQTT_DISCONNECT);
    diag("mosquitto on a second CONNECT: %s%s", d ? "DISCONNECT then " : "",
         a->closed ? a->closetext : "still open");
    tc_free(a);
}

static void t_packet_ids(void)
{
    char cid[96], topic[128];
    snprintf(cid, sizeof cid, "%s-ids", prefix);
    snprintf(topic, sizeof topic, "mqspec/%s/ids", prefix);
    tc *a = tc_open("ids", &plain, MQTT_V5, cid, true, -1, true);
    wait_pkt(a, MQTT_CONNACK, 3000);
    /* No loop turns in between: all stay in flight. */
    uint16_t i1 = publish(a, topic, "x", 1);
    uint16_t i2 = publish(a, topic, "x", 1);
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.qos = 1;
    p.u.publish.packet_id = 4;
    p.u.publish.topic = mqtt_str(topic);
    send_pkt(a, &p);
    uint16_t i3 = publish(a, topic, "x", 1);
    uint16_t i5 = publish(a, topic, "x", 1);
    ok(i1 == 1 && i2 == 2 && p.u.publish.packet_id == 4 && i3 == 3 && i5 == 5,
       "ids allocated 1, 2, 3, 5 around a chosen 4 (%u %u %u %u)", i1, i2, i3, i5);
    WAIT_FOR(count_pkts(a, MQTT_PUBACK) >= 5, 3000);
    is_int(count_pkts(a, MQTT_PUBACK), 5, "five PUBACKs");
    uint16_t again = publish(a, topic, "x", 1);
    is_int(again, 6, "acknowledged ids are free again but allocation moves on");
    /* QoS 0 has no id and none is allocated */
    is_int(publish(a, topic, "x", 0), 0, "QoS 0: no packet id");
    disconnect_and_wait(a);
    tc_free(a);
}

/* Packets sent before the connection is up go out after CONNECT, in order;
 * a PUBLISH with DUP 1 and a chosen id goes out exactly so. */
static void t_pipeline_and_dup(void)
{
    char cid[96], topic[128];
    snprintf(cid, sizeof cid, "%s-pipe", prefix);
    snprintf(topic, sizeof topic, "mqspec/%s/pipe", prefix);
    tc *a = tc_open("pipe", &plain, MQTT_V5, cid, true, -1, true);
    uint16_t sid = subscribe(a, topic, 1);
    ok(sid == 1 && a->ntr == 0, "SUBSCRIBE accepted before the TCP connect finished");
    obs_t *sa = wait_pkt(a, MQTT_SUBACK, 3000);
    ok(sa && sa->pkt.u.suback.packet_id == sid, "pipelined SUBSCRIBE answered");
    int i_tcp = -1, i_conn = -1, i_sub = -1;
    for (int i = 0; i < a->ntr; i++) {
        if (i_tcp < 0 && a->tr[i].dir == TRACE_NOTE && strstr(a->tr[i].text, "TCP connected"))
            i_tcp = i;
        if (i_conn < 0 && a->tr[i].dir == TRACE_OUT && !strncmp(a->tr[i].text, "CONNECT", 7))
            i_conn = i;
        if (i_sub < 0 && a->tr[i].dir == TRACE_OUT && !strncmp(a->tr[i].text, "SUBSCRIBE", 9))
            i_sub = i;
    }
    ok(i_tcp >= 0 && i_tcp < i_conn && i_conn < i_sub,
       "trace order: TCP connected, CONNECT, SUBSCRIBE (%d %d %d)", i_tcp, i_conn, i_sub);

    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.qos = 1;
    p.u.publish.dup = true;
    p.u.publish.packet_id = 777;
    p.u.publish.topic = mqtt_str(topic);
    p.u.publish.payload = mqtt_str("d");
    send_pkt(a, &p);
    tline *pl = find_trace(a, TRACE_OUT, "PUBLISH");
    ok(pl && pl->len > 4 && pl->bytes[0] == 0x3a, "PUBLISH DUP 1 QoS 1 on the wire (first byte 0x%02x)",
       pl && pl->len ? pl->bytes[0] : 0);
    obs_t *pa = wait_pkt(a, MQTT_PUBACK, 3000);
    ok(pa && pa->pkt.u.ack.packet_id == 777, "PUBACK for the chosen id 777");
    obs_t *m = wait_pkt(a, MQTT_PUBLISH, 3000);
    ok(m && m->pkt.u.publish.packet_id != 0, "the message reaches our own subscription");
    /* Broker behaviour, not the driver's: reported, not judged. */
    if (m)
        diag("mosquitto forwarded a DUP 1 PUBLISH with DUP %d (MQTT-3.3.1-3 says 0), id %u",
             m->pkt.u.publish.dup, m->pkt.u.publish.packet_id);
    disconnect_and_wait(a);
    tc_free(a);
}

static void t_drop_reset_broker(void)
{
    char cid[96];
    snprintf(cid, sizeof cid, "%s-rst", prefix);
    tc *a = tc_open("reset", &plain, MQTT_V5, cid, true, -1, true);
    wait_pkt(a, MQTT_CONNACK, 3000);
    driver_raw.drop(a->c, true);
    ok(!a->closed, "drop: OBS_CLOSED is not delivered from inside drop()");
    WAIT_FOR(a->closed, 2000);
    ok(a->closed && a->cause == CLOSE_BY_US && strstr(a->closetext, "RST"),
       "drop with reset -> closed by us (%s)", a->closetext);
    char err[64] = "";
    ok(driver_raw.send_bytes(a->c, (const uint8_t *)"\xc0\x00", 2, err, sizeof err) == -1,
       "send_bytes after drop fails: %s", err);
    tc_free(a);
}

static void t_refused(void)
{
    int port;
    int lfd = listen_local(AF_INET, &port);
    close(lfd);     /* nothing listens there now */
    target_t tg = {.host = "127.0.0.1", .port = port};
    int64_t t0 = loop_now_ms();
    tc *a = tc_open("refused", &tg, MQTT_V5, "x", true, -1, true);
    WAIT_FOR(a->closed, 3000);
    int64_t took = loop_now_ms() - t0;
    ok(a->closed && a->cause == CLOSE_REFUSED && strstr(a->closetext, "refused"),
       "refused port -> CLOSE_REFUSED (%s)", a->closetext);
    ok(took < 1000, "refusal reported in %lld ms", (long long)took);
    tc_free(a);
}

/* A listener that accepts and never answers, and the peer's view of FIN/RST. */
static void t_silent_and_fin_rst(void)
{
    int port;
    int lfd = listen_local(AF_INET, &port);
    target_t tg = {.host = "127.0.0.1", .port = port};
    for (int reset = 0; reset <= 1; reset++) {
        tc *a = tc_open(reset ? "silent-rst" : "silent-fin", &tg, MQTT_V5, "silent", true, -1,
                        true);
        WAIT_FOR(find_trace(a, TRACE_OUT, "CONNECT") != NULL, 2000);
        int64_t t0 = loop_now_ms();
        WAIT_FOR(a->nobs > 0, 300);
        ok(a->nobs == 0 && !a->closed && loop_now_ms() - t0 < 1000,
           "silent listener: CONNECT sent, no CONNACK, no hang");
        int pfd = accept_local(lfd);
        uint8_t buf[256];
        ssize_t n = peer_read_connect(a, pfd, buf, sizeof buf);
        ok(n > 2 && buf[0] == 0x10, "the peer received CONNECT (%zd bytes)", n);
        /* Unread data at the peer must not matter; unread data on OUR side
         * must not turn a FIN into RST: give it some. */
        write_all(pfd, "\xd0\x00", 2);
        WAIT_FOR(count_pkts(a, MQTT_PINGRESP) > 0, 1000);
        write_all(pfd, "\xd0\x00\xd0\x00", 4);
        driver_raw.drop(a->c, reset);
        errno = 0;
        n = recv(pfd, buf, sizeof buf, 0);
        int e = errno;
        if (reset)
            ok(n < 0 && e == ECONNRESET, "drop(reset): the peer sees ECONNRESET (%zd, %s)", n,
               strerror(e));
        else
            ok(n == 0, "drop(FIN): the peer sees an orderly EOF (%zd, %s)", n,
               n < 0 ? strerror(e) : "-");
        WAIT_FOR(a->closed, 1000);
        ok(a->closed && a->cause == CLOSE_BY_US, "closed by us reported");
        close(pfd);
        tc_free(a);
    }
    close(lfd);
}

/* A listener whose accept queue is full drops our SYN: the TCP connect itself
 * never finishes and the deadline must end it. */
static void t_tcp_timeout(void)
{
    int port;
    int lfd = listen_local(AF_INET, &port);
    listen(lfd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
    }
    target_t tg = {.host = "127.0.0.1", .port = port};
    tc *a = tc_new("tcp-timeout");
    int64_t t0 = loop_now_ms();
    tc_open_on(a, &tg, MQTT_V5, "t", true, -1, true, 300);
    WAIT_FOR(a->closed, 3000);
    int64_t took = loop_now_ms() - t0;
    if (a->closed && a->cause == CLOSE_ERROR && strstr(a->closetext, "connect timed out (TCP"))
        ok(took < 1500, "TCP connect never finishing: \"%s\" after %lld ms", a->closetext,
           (long long)took);
    else
        ok(1, "# SKIP the kernel accepted the connection anyway (%s)",
           a->closed ? a->closetext : "connected");
    tc_free(a);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

static void t_bad_input(void)
{
    int port;
    int lfd = listen_local(AF_INET, &port);
    target_t tg = {.host = "127.0.0.1", .port = port};

    tc *a = tc_open("bad", &tg, MQTT_V5, "bad", true, -1, true);
    int pfd = accept_local(lfd);
    uint8_t buf[256];
    peer_read_connect(a, pfd, buf, sizeof buf);
    /* reserved type 0, then a valid CONNACK: framing intact, reading goes on */
    write_all(pfd, "\x00\x00\x20\x03\x00\x00\x00", 7);
    WAIT_FOR(count_pkts(a, MQTT_CONNACK) > 0 || a->closed, 2000);
    is_int(count_bad(a), 1, "undecodable packet -> OBS_BAD_PACKET (%s)",
           a->nobs ? a->obs[0]->text : "-");
    ok(count_pkts(a, MQTT_CONNACK) == 1 && !a->closed, "the next packet still decodes");
    ok(a->ntr > 0 && count_trace(a, TRACE_IN, "") == 2, "both traced as inbound");
    /* a PUBLISH claiming 200 MiB */
    write_all(pfd, "\x30\x80\x80\x80\x64", 5);
    WAIT_FOR(a->closed, 2000);
    is_int(count_bad(a), 2, "over-cap remaining length -> OBS_BAD_PACKET");
    ok(a->closed && a->cause == CLOSE_ERROR, "... and the connection is closed (%s)",
       a->closetext);
    close(pfd);
    tc_free(a);

    tc *b = tc_open("bad-frame", &tg, MQTT_V5, "bad", true, -1, true);
    pfd = accept_local(lfd);
    peer_read_connect(b, pfd, buf, sizeof buf);
    write_all(pfd, "\x20\xff\xff\xff\xff\x01", 6);
    WAIT_FOR(b->closed, 2000);
    ok(count_bad(b) == 1 && b->closed, "5-byte remaining length: bad packet, closed (%s)",
       b->closetext);
    close(pfd);
    tc_free(b);

    /* peer close after a partial packet */
    tc *c = tc_open("eof", &tg, MQTT_V5, "eof", true, -1, true);
    pfd = accept_local(lfd);
    peer_read_connect(c, pfd, buf, sizeof buf);
    write_all(pfd, "\x20\x03\x00", 3);
    close(pfd);
    WAIT_FOR(c->closed, 2000);
    /* A packet cut off by the close is a broken stream, not an orderly close. */
    ok(c->closed && c->cause == CLOSE_ERROR &&
           strcmp(c->closetext, "closed by broker mid-packet (3 bytes of an incomplete CONNACK)") == 0,
       "peer FIN mid-packet -> CLOSE_ERROR \"%s\"", c->closetext);
    ok(trace_has(c, TRACE_NOTE, "incomplete packet"), "the partial packet is noted");
    tc_free(c);

    /* peer RST */
    tc *d = tc_open("rst", &tg, MQTT_V5, "rst", true, -1, true);
    pfd = accept_local(lfd);
    peer_read_connect(d, pfd, buf, sizeof buf);
    struct linger lg = {1, 0};
    setsockopt(pfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(pfd);
    WAIT_FOR(d->closed, 2000);
    ok(d->closed && d->cause == CLOSE_RESET, "peer RST -> CLOSE_RESET (%s)", d->closetext);
    tc_free(d);
    close(lfd);
}

static void t_ipv6(void)
{
    int port;
    int lfd = listen_local(AF_INET6, &port);
    if (lfd < 0) {
        ok(1, "# SKIP no IPv6 loopback");
        return;
    }
    target_t tg = {.host = "::1", .port = port};
    tc *a = tc_open("v6", &tg, MQTT_V311, "v6", true, -1, true);
    int pfd = accept_local(lfd);
    uint8_t buf[64];
    ssize_t n = peer_read_connect(a, pfd, buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "TCP connected to [::1]:%d", port);
    ok(n > 0 && buf[0] == 0x10 && trace_has(a, TRACE_NOTE, want), "IPv6 ::1: %s", want);
    close(pfd);
    tc_free(a);
    close(lfd);
}

static void t_free_in_callbacks(void)
{
    char cid[96];
    snprintf(cid, sizeof cid, "%s-free", prefix);
    tc *a = tc_new("free-connack");
    a->free_on_connack = true;
    tc_open_on(a, &plain, MQTT_V5, cid, true, -1, true, 5000);
    WAIT_FOR(a->freed_in_cb, 3000);
    ok(a->freed_in_cb && a->c == NULL, "free() from inside observe(CONNACK)");
    WAIT_FOR(false, 100);
    is_int(a->obs_after_free, 0, "no observation after free");
    tc_free(a);

    tc *b = tc_new("free-close");
    b->free_on_close = true;
    tc_open_on(b, &plain, MQTT_V5, cid, true, -1, true, 5000);
    wait_pkt(b, MQTT_CONNACK, 3000);
    driver_raw.drop(b->c, false);
    WAIT_FOR(b->freed_in_cb, 2000);
    ok(b->freed_in_cb, "free() from inside observe(CLOSED)");
    tc_free(b);

    tc *c = tc_new("free-trace");
    c->free_in_trace = true;
    tc_open_on(c, &plain, MQTT_V5, cid, true, -1, true, 5000);
    WAIT_FOR(c->freed_in_cb, 2000);
    WAIT_FOR(false, 100);
    ok(c->freed_in_cb && c->nobs == 0, "free() from inside trace(): nothing after");
    tc_free(c);

    /* free while the connect is still pending, outside any callback */
    tc *d = tc_open("free-early", &plain, MQTT_V5, cid, true, -1, true);
    driver_raw.free(d->c);
    d->c = NULL;
    WAIT_FOR(false, 100);
    ok(d->nobs == 0, "free() before the connection is up: no callbacks");
    tc_free(d);
}

static void t_tls(int port, const char *dir)
{
    char ca[512], other[512];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(other, sizeof other, "%s/other-ca.pem", dir);
    char cid[96];
    snprintf(cid, sizeof cid, "%s-tls", prefix);

    target_t good = {.host = "127.0.0.1", .port = port, .tls = true, .cafile = ca};
    tc *a = tc_open("tls", &good, MQTT_V5, cid, true, -1, true);
    obs_t *c = wait_pkt(a, MQTT_CONNACK, 5000);
    ok(c && c->pkt.u.connack.reason == 0, "TLS verified: CONNACK (%s)",
       a->closed ? a->closetext : "open");
    ok(trace_has(a, TRACE_NOTE, "peer CN=mqspec-test-server (verified)"),
       "TLS note names version, cipher and peer CN");
    for (int i = 0; i < a->ntr; i++)
        if (a->tr[i].dir == TRACE_NOTE && strncmp(a->tr[i].text, "TLS", 3) == 0)
            diag("%s", a->tr[i].text);
    ok(barrier(a), "TLS: PINGREQ/PINGRESP");
    ok(disconnect_and_wait(a), "TLS: DISCONNECT");
    tc_free(a);

    target_t unknown = {.host = "127.0.0.1", .port = port, .tls = true, .cafile = other};
    tc *b = tc_open("tls-unknown-ca", &unknown, MQTT_V5, cid, true, -1, true);
    WAIT_FOR(b->closed, 5000);
    /* Which verify error depends on whether the server sends its CA along
     * (OpenSSL 3 servers build the chain from their CA file by default). */
    ok(b->closed && b->cause == CLOSE_TLS &&
           (strstr(b->closetext, "unable to get local issuer certificate") ||
            strstr(b->closetext, "self-signed certificate in certificate chain")),
       "unknown CA -> CLOSE_TLS (%s)", b->closetext);
    tc_free(b);

    target_t wrong = {.host = "localhost", .port = port, .tls = true, .cafile = ca};
    tc *w = tc_open("tls-hostname", &wrong, MQTT_V5, cid, true, -1, true);
    WAIT_FOR(w->closed, 5000);
    ok(w->closed && w->cause == CLOSE_TLS && strstr(w->closetext, "hostname mismatch"),
       "wrong hostname -> CLOSE_TLS (%s)", w->closetext);
    tc_free(w);

    target_t insecure = {.host = "127.0.0.1", .port = port, .tls = true, .cafile = other,
                         .insecure = true};
    tc *i = tc_open("tls-insecure", &insecure, MQTT_V5, cid, true, -1, true);
    c = wait_pkt(i, MQTT_CONNACK, 5000);
    ok(c && c->pkt.u.connack.reason == 0 && trace_has(i, TRACE_NOTE, "not verified"),
       "insecure with an unknown CA: CONNACK");
    ok(disconnect_and_wait(i), "insecure: DISCONNECT");
    tc_free(i);

    /* TLS to a listener that never answers: the deadline ends it */
    int lport;
    int lfd = listen_local(AF_INET, &lport);
    target_t silent = {.host = "127.0.0.1", .port = lport, .tls = true, .cafile = ca};
    tc *s = tc_new("tls-silent");
    int64_t t0 = loop_now_ms();
    tc_open_on(s, &silent, MQTT_V5, cid, true, -1, true, 300);
    WAIT_FOR(s->closed, 3000);
    int64_t took = loop_now_ms() - t0;
    ok(s->closed && s->cause == CLOSE_ERROR && strstr(s->closetext, "connect timed out") &&
           took < 1500,
       "TLS handshake never answered: \"%s\" after %lld ms", s->closetext, (long long)took);
    tc_free(s);
    close(lfd);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("1..0 # SKIP usage: t-drv-raw PORT [TLS_PORT CERT_DIR]\n");
        return 0;
    }
    verbose = getenv("TEST_VERBOSE") != NULL;
    snprintf(prefix, sizeof prefix, "drvraw-%ld-%lld", (long)getpid(),
             (long long)(loop_now_ms() % 100000));
    L = loop_new();
    plain.host = "127.0.0.1";
    plain.port = atoi(argv[1]);

    is_int(driver_raw.caps, CAP__ALL, "caps: every enum cap bit");
    is_str(driver_raw.name, "raw", "name");

    t_connect_v5_absent_vs_zero();
    t_connect_v311();
    t_qos1_redelivery(MQTT_V5);
    t_qos1_redelivery(MQTT_V311);
    t_qos2_pubrel();
    t_second_connect();
    t_packet_ids();
    t_pipeline_and_dup();
    t_drop_reset_broker();
    t_refused();
    t_silent_and_fin_rst();
    t_tcp_timeout();
    t_bad_input();
    t_ipv6();
    t_free_in_callbacks();
    if (argc >= 4)
        t_tls(atoi(argv[2]), argv[3]);
    else
        diag("TLS tests skipped: no TLS_PORT CERT_DIR");

    /* Let any zero-delay timers of freed connections prove they were cancelled. */
    for (int i = 0; i < 5; i++)
        loop_once(L, 0);
    loop_free(L);
    return done_testing();
}
