/* load.c -- the throughput and latency workloads of mqspec-bench: P
 * publishers and S subscribers on one topic, QoS 0 or 1, a fixed number of
 * 64-byte messages, each carrying its send time so that the subscriber (in
 * this same process, on the same clock) measures end-to-end latency.
 *
 * What it is for: a closed-loop load that measures the broker rather than a
 * queue. Each publisher keeps at most `window` messages outstanding: for QoS 1
 * at most `window` without PUBACK, and for both QoS at most `window` messages
 * not yet received by every subscriber. Neither broker's queue limits are
 * reached, nothing is dropped, and latency is the broker's (and the loopback's)
 * time under that concurrency, not the depth of an unbounded backlog.
 *
 * What it is not: an open-loop rate test (no target rate, no coordinated
 * omission correction), and not a durability test (no reconnects).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define PAYLOAD_LEN 64

typedef struct client {
    bulk_conn c;              /* first: the connection's ud is the client itself */
    int idx;
    bool is_pub;
    long sent, delivered;   /* publisher: messages sent; deliveries of them seen */
    int unacked;
} client_t;

static struct {
    const load_params *p;
    loop_t *loop;
    bulk_pool pool;
    client_t *pubs, *subs;
    long per_pub;
    int ready;
    bool started, done;
    const char *aborted;
    long expected, deliveries, acks, bad;
    samples_t lat;
    int64_t t_first, t_last;
    char topic[128];
    mqtt_buf tmpl;          /* the encoded PUBLISH every message is patched from */
    size_t id_off, payload_off;
} L;

static void on_open(bulk_conn *c);
static void on_packet(bulk_conn *c, const mqtt_packet *p);
static void on_close(bulk_conn *c, const char *why);
static const bulk_ops ops = {on_open, on_packet, on_close};

static void check_done(void)
{
    long acks_expected = L.p->qos ? L.per_pub * L.p->publishers : 0;
    if (L.deliveries >= L.expected && L.acks >= acks_expected)
        L.done = true;
}

static void pump(client_t *pub)
{
    const load_params *p = L.p;
    long nsubs = p->subscribers;
    while (pub->sent < L.per_pub && (p->qos == 0 || pub->unacked < p->window) &&
           pub->sent * nsubs - pub->delivered + nsubs <= (long)p->window * nsubs) {
        size_t at = pub->c.out.len;
        bulk_write(&pub->c, L.tmpl.data, L.tmpl.len);
        if (pub->c.fd < 0)
            return;
        uint8_t *m = pub->c.out.data + at;
        pub->sent++;
        if (p->qos) {
            uint16_t id = bulk_next_id(&pub->c);
            m[L.id_off] = (uint8_t)(id >> 8);
            m[L.id_off + 1] = (uint8_t)id;
            pub->unacked++;
        }
        int64_t ts = now_ns();
        uint32_t idx = (uint32_t)pub->idx, seq = (uint32_t)pub->sent;
        memcpy(m + L.payload_off, &ts, sizeof ts);
        memcpy(m + L.payload_off + 8, &idx, sizeof idx);
        memcpy(m + L.payload_off + 12, &seq, sizeof seq);
    }
}

static void start(void)
{
    L.started = true;
    L.t_first = now_ns();
    for (int i = 0; i < L.p->publishers; i++)
        pump(&L.pubs[i]);
}

static void on_open(bulk_conn *c)
{
    client_t *cl = c->ud;
    char id[160];
    snprintf(id, sizeof id, "%s-%s-%c%d", L.p->run_id, L.p->name, cl->is_pub ? 'p' : 's', cl->idx);
    bulk_send_connect(c, id, true, cl->is_pub ? -1 : L.p->sub_expiry, 0);
}

static void on_publish(client_t *sub, const mqtt_publish *pb)
{
    int64_t now = now_ns();
    if (pb->payload.len != PAYLOAD_LEN) {
        L.bad++;
        return;
    }
    int64_t ts;
    uint32_t idx;
    memcpy(&ts, pb->payload.data, sizeof ts);
    memcpy(&idx, pb->payload.data + 8, sizeof idx);
    if (idx >= (uint32_t)L.p->publishers) {
        L.bad++;
        return;
    }
    if (pb->qos)
        bulk_send_ack(&sub->c, MQTT_PUBACK, pb->packet_id);
    samples_add(&L.lat, now - ts);
    L.deliveries++;
    L.t_last = now;
    client_t *pub = &L.pubs[idx];
    pub->delivered++;
    pump(pub);
    check_done();
}

static void on_packet(bulk_conn *c, const mqtt_packet *p)
{
    client_t *cl = c->ud;
    switch (p->type) {
    case MQTT_CONNACK:
        if (p->u.connack.reason != 0) {
            L.aborted = "CONNACK refused";
            L.done = true;
            return;
        }
        if (cl->is_pub) {
            L.ready++;
        } else {
            bulk_send_subscribe(c, L.topic, L.p->qos);
        }
        break;
    case MQTT_SUBACK:
        if (p->u.suback.count != 1 || p->u.suback.reasons[0] > 2) {
            L.aborted = "SUBSCRIBE refused";
            L.done = true;
            return;
        }
        L.ready++;
        break;
    case MQTT_PUBLISH:
        if (!cl->is_pub)
            on_publish(cl, &p->u.publish);
        break;
    case MQTT_PUBACK:
        if (cl->is_pub && cl->unacked > 0) {
            cl->unacked--;
            L.acks++;
            pump(cl);
            check_done();
        }
        break;
    case MQTT_DISCONNECT:
        L.aborted = "DISCONNECT from the broker";
        L.done = true;
        break;
    default:
        break;
    }
    if (!L.started && L.ready == L.p->publishers + L.p->subscribers)
        start();
}

static void on_close(bulk_conn *c, const char *why)
{
    if (!L.done) {
        static char msg[200];
        snprintf(msg, sizeof msg, "connection closed: %s", why);
        L.aborted = msg;
        L.done = true;
    }
}

static int make_template(void)
{
    uint8_t payload[PAYLOAD_LEN];
    memset(payload, 'x', sizeof payload);
    mqtt_packet p = {.type = MQTT_PUBLISH, .version = MQTT_V5};
    p.u.publish.qos = L.p->qos;
    p.u.publish.topic = mqtt_str(L.topic);
    p.u.publish.packet_id = L.p->qos ? 1 : 0;
    p.u.publish.payload = (mqtt_bytes){payload, PAYLOAD_LEN};
    if (mqtt_encode(&p, &L.tmpl) < 0)
        return -1;
    uint32_t hl, rl;
    if (mqtt_frame(L.tmpl.data, L.tmpl.len, &hl, &rl) != MQTT_OK)
        return -1;
    L.id_off = hl + 2 + strlen(L.topic);
    L.payload_off = L.tmpl.len - PAYLOAD_LEN;
    return 0;
}

int load_run(const load_params *p)
{
    memset(&L, 0, sizeof L);
    L.p = p;
    L.per_pub = p->messages / p->publishers;
    L.expected = L.per_pub * p->publishers * p->subscribers;
    snprintf(L.topic, sizeof L.topic, "bench/%s/%s", p->run_id, p->name);
    if (make_template() < 0) {
        fprintf(stderr, "mqspec-bench: cannot encode the PUBLISH template\n");
        return -1;
    }
    samples_init(&L.lat, (size_t)L.expected);
    L.loop = loop_new();
    L.pubs = calloc((size_t)p->publishers, sizeof *L.pubs);
    L.subs = calloc((size_t)p->subscribers, sizeof *L.subs);
    if (!L.loop || !L.pubs || !L.subs ||
        bulk_pool_init(&L.pool, L.loop, "127.0.0.1", p->port, MQTT_V5) != 0) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < p->publishers; i++)
        L.pubs[i].c.fd = -1;
    for (int i = 0; i < p->subscribers; i++)
        L.subs[i].c.fd = -1;
    int64_t t0 = loop_now_ms();
    int64_t deadline = t0 + (int64_t)p->deadline_s * 1000;
    for (int i = 0; i < p->subscribers && !L.done; i++) {
        L.subs[i].idx = i;
        if (bulk_open(&L.subs[i].c, &L.pool, &ops, &L.subs[i]) < 0) {
            L.aborted = "cannot open a socket";
            L.done = true;
        }
    }
    for (int i = 0; i < p->publishers && !L.done; i++) {
        L.pubs[i].idx = i;
        L.pubs[i].is_pub = true;
        if (bulk_open(&L.pubs[i].c, &L.pool, &ops, &L.pubs[i]) < 0) {
            L.aborted = "cannot open a socket";
            L.done = true;
        }
    }
    bool finished = run_until(&L.pool, &L.done, deadline);
    if (getenv("BENCH_DEBUG"))
        for (int i = 0; i < p->publishers; i++)
            fprintf(stderr, "pub %d fd=%d sent=%ld delivered=%ld unacked=%d out=%zu/%zu\n", i, L.pubs[i].c.fd,
                    L.pubs[i].sent, L.pubs[i].delivered, L.pubs[i].unacked, L.pubs[i].c.outoff, L.pubs[i].c.out.len);
    /* Whatever happened, stop counting before closing. */
    L.done = true;

    const char *status = L.aborted ? "error" : finished ? "ok" : "timeout";
    double secs = L.started && L.t_last > L.t_first ? (double)(L.t_last - L.t_first) / 1e9 : 0;
    double rate = secs > 0 ? (double)L.deliveries / secs : 0;
    samples_sort(&L.lat);
    result_line(p->label, p->name,
                "status=%s qos=%u publishers=%d subscribers=%d window=%d expected=%ld "
                "delivered=%ld bad=%ld secs=%.3f rate=%.0f p50_us=%u p90_us=%u p99_us=%u "
                "max_us=%u%s%s%s",
                status, p->qos, p->publishers, p->subscribers, p->window, L.expected,
                L.deliveries, L.bad, secs, rate, samples_quantile(&L.lat, 0.50),
                samples_quantile(&L.lat, 0.90), samples_quantile(&L.lat, 0.99),
                samples_quantile(&L.lat, 1.0), L.aborted ? " why=\"" : "",
                L.aborted ? L.aborted : "", L.aborted ? "\"" : "");

    for (int i = 0; i < p->publishers; i++)
        bulk_free(&L.pubs[i].c);
    for (int i = 0; i < p->subscribers; i++)
        bulk_free(&L.subs[i].c);
    bulk_flush_all(&L.pool);
    bulk_pool_free(&L.pool);
    free(L.pubs);
    free(L.subs);
    loop_free(L.loop);
    samples_free(&L.lat);
    mqtt_buf_free(&L.tmpl);
    return L.aborted ? -1 : finished ? 0 : 1;
}
