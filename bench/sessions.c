/* sessions.c -- the session workloads of mqspec-bench, run in this order on a
 * freshly started broker:
 *
 *   idle    N clients connect (MQTT 5, Clean Start 0, Session Expiry 3600),
 *           each subscribes at QoS 1 to its own topic bench/RUN/s/I, sends
 *           DISCONNECT and waits for the broker to close. The broker's VmRSS
 *           before and after gives KiB per idle persistent session.
 *   queue   a few publishers send Q QoS 1 messages to each of those N topics
 *           (a topic per session: N*Q distinct messages, none shared), all
 *           acknowledged; VmRSS again gives the cost of the queued messages.
 *   resume  the N clients reconnect with Clean Start 0, expect Session Present
 *           1 and their Q messages, acknowledge each, then DISCONNECT. The
 *           time from the first CONNECT to the last PUBACK is the figure.
 *
 * Connections are opened through a fixed number of slots (`concurrency`), a
 * sliding window: a slot whose client is done takes the next client at once.
 *
 * What it is for: the cost of sessions at rest and of bringing them back.
 * What it is not: a churn or takeover test; every client id is used by one
 * connection at a time.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

enum phase { PH_IDLE, PH_QUEUE, PH_RESUME };

typedef struct slot {
    bulk_conn c;              /* first: the connection's ud is the slot itself */
    int session;            /* client index, -1 when the slot is idle */
    int got;
    bool finished;          /* reached its goal; a close now is expected */
    bool pending;           /* connecting: no CONNACK yet */
    int64_t t_start;
    int64_t closing_ms;     /* DISCONNECT sent at this time */
} slot_t;

typedef struct pub {
    bulk_conn c;
    long next, end;         /* message numbers [next, end) still to send */
    int unacked;
    long *msg_of_id;        /* packet id -> message number, to credit PUBACKs */
} pub_t;

static struct {
    const sessions_params *p;
    loop_t *loop;
    bulk_pool pool;
    enum phase phase;
    slot_t *slots;
    int nslots;
    int next;               /* next client index to start */
    int *idle;              /* indexes of slots without a client */
    int nidle;
    int pending;            /* clients between connect() and CONNACK */
    int ok, failed, present, not_present, unfinished;
    long msgs, extra, wrong, nomatch, acked, to_queue;
    int active_pubs;
    bool done;
    const char *last_why;
    samples_t per_session;
    uint8_t *expect;        /* per session: messages the broker acknowledged */
    long expect_total;
    int64_t t_last;
    uint64_t sweep_id;
} S;

static void on_open(bulk_conn *c);
static void on_packet(bulk_conn *c, const mqtt_packet *p);
static void on_close(bulk_conn *c, const char *why);
static const bulk_ops slot_ops = {on_open, on_packet, on_close};

static void pub_open(bulk_conn *c);
static void pub_packet(bulk_conn *c, const mqtt_packet *p);
static void pub_close(bulk_conn *c, const char *why);
static const bulk_ops pub_ops = {pub_open, pub_packet, pub_close};

static void client_id(char *out, size_t cap, int i)
{
    snprintf(out, cap, "%s-c%d", S.p->run_id, i);
}

static void topic_of(char *out, size_t cap, long i)
{
    snprintf(out, cap, "bench/%s/s/%ld", S.p->run_id, i);
}

static void check_done(void)
{
    if (S.next >= S.p->sessions && S.ok + S.failed + S.unfinished >= S.p->sessions)
        S.done = true;
}

/* Starts clients in idle slots while handshakes are few enough: mosquitto
 * listens with a backlog of 100, and a SYN beyond it is dropped and retried
 * by the kernel after 1 s, 3 s, 7 s ... which would measure TCP's retry
 * timer instead of the broker. */
static void fill(void)
{
    while (S.next < S.p->sessions && S.nidle > 0 && S.pending < S.p->max_pending) {
        slot_t *s = &S.slots[S.idle[--S.nidle]];
        s->session = S.next++;
        s->got = 0;
        s->finished = false;
        s->t_start = now_ns();
        if (bulk_open(&s->c, &S.pool, &slot_ops, s) == 0) {
            s->pending = true;
            S.pending++;
            continue;
        }
        S.failed++;
        S.last_why = "cannot open a socket";
        s->session = -1;
        S.idle[S.nidle++] = (int)(s - S.slots);
    }
    check_done();
}

static void not_pending(slot_t *s)
{
    if (s->pending) {
        s->pending = false;
        S.pending--;
    }
}

static void on_open(bulk_conn *c)
{
    slot_t *s = c->ud;
    char id[128];
    client_id(id, sizeof id, s->session);
    bulk_send_connect(c, id, false, 3600, 0);
}

static void finish(slot_t *s)
{
    s->finished = true;
    S.t_last = now_ns();
    samples_add(&S.per_session, S.t_last - s->t_start);
    bulk_send_disconnect(&s->c);
    s->closing_ms = loop_now_ms();
}

static void on_packet(bulk_conn *c, const mqtt_packet *p)
{
    slot_t *s = c->ud;
    char topic[128];
    switch (p->type) {
    case MQTT_CONNACK:
        not_pending(s);
        if (p->u.connack.reason != 0) {
            S.last_why = "CONNACK refused";
            bulk_close(c, "CONNACK refused");
            return;
        }
        fill();
        if (p->u.connack.session_present)
            S.present++;
        else
            S.not_present++;
        if (S.phase == PH_IDLE) {
            topic_of(topic, sizeof topic, s->session);
            bulk_send_subscribe(c, topic, 1);
        } else if (S.expect[s->session] == 0) {
            /* Its messages were never queued (the queue phase timed out):
             * resuming it is all there is to measure. */
            finish(s);
        }
        break;
    case MQTT_SUBACK:
        if (p->u.suback.count == 1 && p->u.suback.reasons[0] <= 2) {
            finish(s);
        } else {
            S.last_why = "SUBSCRIBE refused";
            bulk_close(c, "SUBSCRIBE refused");
        }
        break;
    case MQTT_PUBLISH: {
        const mqtt_publish *pb = &p->u.publish;
        if (pb->qos)
            bulk_send_ack(c, MQTT_PUBACK, pb->packet_id);
        if (S.phase == PH_RESUME && s->got >= S.expect[s->session]) {
            /* Acknowledged by the broker after the queue phase ended. */
            S.extra++;
            break;
        }
        S.msgs++;
        topic_of(topic, sizeof topic, s->session);
        if (!mqtt_bytes_eq(pb->topic, mqtt_str(topic)))
            S.wrong++;
        if (S.phase == PH_RESUME && ++s->got == S.expect[s->session] && !s->finished)
            finish(s);
        break;
    }
    default:
        break;
    }
}

static void on_close(bulk_conn *c, const char *why)
{
    slot_t *s = c->ud;
    if (s->session < 0)
        return;
    not_pending(s);
    if (s->finished) {
        S.ok++;
    } else {
        S.failed++;
        S.last_why = why;
    }
    s->session = -1;
    S.idle[S.nidle++] = (int)(s - S.slots);
    fill();
}

/* Gives up on clients that are stuck: a broker that never closes after
 * DISCONNECT, or a resumed session whose messages do not all come. */
static void sweep(loop_t *loop, void *ud)
{
    int64_t now = loop_now_ms();
    for (int i = 0; i < S.nslots; i++) {
        slot_t *s = &S.slots[i];
        if (s->session < 0 || s->c.fd < 0)
            continue;
        if (s->finished && now - s->closing_ms > 2000) {
            bulk_close(&s->c, "no close after DISCONNECT");
        } else if (!s->finished && now - s->c.since_ms > 10000) {
            S.unfinished++;
            S.failed--; /* on_close will count it as failed again */
            S.last_why = S.phase == PH_RESUME ? "queued messages missing" : "no SUBACK";
            bulk_close(&s->c, S.last_why);
        }
    }
    if (!S.done)
        S.sweep_id = loop_timer_at(loop, now + 250, sweep, NULL);
}

/* ---- queue phase: the publishers ------------------------------------------ */

static void pub_pump(pub_t *pb)
{
    char topic[128];
    uint8_t payload[64];
    memset(payload, 'q', sizeof payload);
    while (pb->next < pb->end && pb->unacked < S.p->window && pb->c.fd >= 0) {
        long m = pb->next++;
        topic_of(topic, sizeof topic, m / S.p->queued);
        int64_t ts = now_ns();
        memcpy(payload, &ts, sizeof ts);
        mqtt_packet p = {.type = MQTT_PUBLISH, .version = MQTT_V5};
        p.u.publish.qos = 1;
        p.u.publish.topic = mqtt_str(topic);
        p.u.publish.packet_id = bulk_next_id(&pb->c);
        pb->msg_of_id[p.u.publish.packet_id] = m;
        p.u.publish.payload = (mqtt_bytes){payload, sizeof payload};
        bulk_send(&pb->c, &p);
        pb->unacked++;
    }
}

static void pub_open(bulk_conn *c)
{
    pub_t *pb = c->ud;
    char id[128];
    snprintf(id, sizeof id, "%s-q%ld", S.p->run_id, pb->end);
    bulk_send_connect(c, id, true, -1, 0);
}

static void pub_packet(bulk_conn *c, const mqtt_packet *p)
{
    pub_t *pb = c->ud;
    if (p->type == MQTT_CONNACK) {
        if (p->u.connack.reason != 0)
            bulk_close(c, "CONNACK refused");
        else
            pub_pump(pb);
    } else if (p->type == MQTT_PUBACK && pb->unacked > 0) {
        pb->unacked--;
        S.acked++;
        long m = pb->msg_of_id[p->u.ack.packet_id];
        if (m >= 0 && p->u.ack.reason < 0x80) {
            S.expect[m / S.p->queued]++;
            S.expect_total++;
        }
        pb->msg_of_id[p->u.ack.packet_id] = -1;
        S.t_last = now_ns();
        /* 0x10 No matching subscribers: the session it was for is gone. */
        if (p->u.ack.reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS)
            S.nomatch++;
        if (S.acked == S.to_queue)
            S.done = true;
        pub_pump(pb);
    }
}

static void pub_close(bulk_conn *c, const char *why)
{
    if (S.done)
        return;
    S.last_why = why;
    if (--S.active_pubs == 0)
        S.done = true;
}

/* ---- driver --------------------------------------------------------------- */

static void settle(int ms)
{
    bool never = false;
    run_until(&S.pool, &never, loop_now_ms() + ms);
}

static bool run_slots(enum phase ph)
{
    S.phase = ph;
    S.next = 0;
    S.ok = S.failed = S.present = S.not_present = S.unfinished = 0;
    S.msgs = S.extra = S.wrong = 0;
    S.done = false;
    S.last_why = NULL;
    samples_free(&S.per_session);
    samples_init(&S.per_session, (size_t)S.p->sessions);
    S.pending = 0;
    S.nidle = 0;
    for (int i = S.nslots - 1; i >= 0; i--) {
        S.slots[i].session = -1;
        S.slots[i].pending = false;
        S.idle[S.nidle++] = i;
    }
    fill();
    S.sweep_id = loop_timer_at(S.loop, loop_now_ms() + 250, sweep, NULL);
    bool finished = run_until(&S.pool, &S.done, loop_now_ms() + (int64_t)S.p->deadline_s * 1000);
    S.done = true;
    loop_timer_cancel(S.loop, S.sweep_id);
    for (int i = 0; i < S.nslots; i++) {
        S.slots[i].session = -1;
        bulk_free(&S.slots[i].c);
    }
    /* Empties the flush list, whose stale entries point into the slots. */
    bulk_flush_all(&S.pool);
    return finished;
}

static const char *why_field(void)
{
    static char buf[200];
    if (!S.last_why)
        return "";
    snprintf(buf, sizeof buf, " why=\"%s\"", S.last_why);
    return buf;
}

int sessions_run(const sessions_params *p)
{
    memset(&S, 0, sizeof S);
    S.p = p;
    S.loop = loop_new();
    S.nslots = p->concurrency < p->sessions ? p->concurrency : p->sessions;
    S.slots = calloc((size_t)S.nslots, sizeof *S.slots);
    S.idle = calloc((size_t)S.nslots, sizeof *S.idle);
    if (!S.loop || !S.slots || !S.idle ||
        bulk_pool_init(&S.pool, S.loop, "127.0.0.1", p->port, MQTT_V5) != 0) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < S.nslots; i++)
        S.slots[i].c.fd = -1;
    int rc = 0;

    /* idle */
    long rss0 = proc_status_kib(p->pid, "VmRSS");
    int64_t t0 = now_ns();
    bool fin = run_slots(PH_IDLE);
    double secs = (double)(S.t_last - t0) / 1e9;
    settle(1000);
    long rss1 = proc_status_kib(p->pid, "VmRSS");
    long hwm1 = proc_status_kib(p->pid, "VmHWM");
    bool ok = fin && S.ok == p->sessions;
    double per = rss0 > 0 && rss1 > 0 && S.ok > 0 ? (double)(rss1 - rss0) / S.ok : -1;
    result_line(p->label, "sessions-idle",
                "status=%s sessions=%d ok=%d failed=%d unfinished=%d present=%d concurrency=%d "
                "secs=%.3f rate=%.0f rss_before_kib=%ld rss_after_kib=%ld hwm_kib=%ld "
                "kib_per_session=%.3f%s",
                ok ? "ok" : fin ? "error" : "timeout", p->sessions, S.ok, S.failed,
                S.unfinished, S.present, S.nslots, secs, secs > 0 ? S.ok / secs : 0, rss0, rss1,
                hwm1, per, why_field());
    if (!ok)
        rc = 1;
    int idle_ok = S.ok;

    /* queue */
    S.phase = PH_QUEUE;
    S.to_queue = (long)idle_ok > 0 ? (long)p->sessions * p->queued : 0;
    S.acked = S.nomatch = 0;
    S.done = S.to_queue == 0;
    S.last_why = NULL;
    int np = p->publishers;
    pub_t *pubs = calloc((size_t)np, sizeof *pubs);
    if (!pubs) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    S.expect = calloc((size_t)p->sessions, 1);
    S.expect_total = 0;
    for (int i = 0; i < np; i++) {
        pubs[i].c.fd = -1;
        pubs[i].msg_of_id = malloc(65536 * sizeof *pubs[i].msg_of_id);
        if (!pubs[i].msg_of_id || !S.expect) {
            fprintf(stderr, "mqspec-bench: out of memory\n");
            exit(1);
        }
        for (int j = 0; j < 65536; j++)
            pubs[i].msg_of_id[j] = -1;
    }
    t0 = now_ns();
    S.t_last = t0;
    for (int i = 0; i < np && !S.done; i++) {
        pubs[i].next = S.to_queue * i / np;
        pubs[i].end = S.to_queue * (i + 1) / np;
        if (bulk_open(&pubs[i].c, &S.pool, &pub_ops, &pubs[i]) == 0)
            S.active_pubs++;
    }
    fin = run_until(&S.pool, &S.done, loop_now_ms() + (int64_t)p->deadline_s * 1000);
    S.done = true;
    secs = (double)(S.t_last - t0) / 1e9;
    if (getenv("BENCH_DEBUG"))
        for (int i = 0; i < np; i++)
            fprintf(stderr, "pub %d fd=%d next=%ld end=%ld unacked=%d out=%zu/%zu in=%zu\n", i,
                    pubs[i].c.fd, pubs[i].next, pubs[i].end, pubs[i].unacked, pubs[i].c.outoff,
                    pubs[i].c.out.len, pubs[i].c.inlen);
    for (int i = 0; i < np; i++)
        if (pubs[i].c.fd >= 0)
            bulk_send_disconnect(&pubs[i].c);
    settle(1000);
    for (int i = 0; i < np; i++) {
        bulk_free(&pubs[i].c);
        free(pubs[i].msg_of_id);
    }
    bulk_flush_all(&S.pool);
    free(pubs);
    long rss2 = proc_status_kib(p->pid, "VmRSS");
    bool qok = fin && S.acked == S.to_queue && S.nomatch == 0;
    result_line(p->label, "queue",
                "status=%s messages=%ld acked=%ld no_subscribers=%ld publishers=%d window=%d "
                "secs=%.3f rate=%.0f rss_kib=%ld kib_per_message=%.3f%s",
                qok ? "ok" : fin ? "error" : "timeout", S.to_queue, S.acked, S.nomatch, np,
                p->window, secs, secs > 0 ? S.acked / secs : 0, rss2,
                rss1 > 0 && rss2 > 0 && S.acked > 0 ? (double)(rss2 - rss1) / S.acked : -1,
                why_field());
    if (!qok)
        rc = 1;

    /* resume */
    t0 = now_ns();
    S.t_last = t0;
    fin = run_slots(PH_RESUME);
    secs = (double)(S.t_last - t0) / 1e9;
    samples_sort(&S.per_session);
    /* "partial": the resume itself went well, but fewer messages were
     * queued than the workload asks for, so it is not the same workload. */
    bool rok = fin && S.ok == p->sessions && S.present == p->sessions && S.wrong == 0 &&
               S.msgs == S.expect_total;
    bool full = S.expect_total == (long)p->sessions * p->queued;
    result_line(p->label, "resume",
                "status=%s sessions=%d ok=%d failed=%d unfinished=%d present=%d "
                "messages=%ld expected=%ld late=%ld wrong_topic=%ld concurrency=%d secs=%.3f rate=%.0f "
                "session_p50_us=%u session_p99_us=%u session_max_us=%u%s",
                !rok ? (fin ? "error" : "timeout") : full ? "ok" : "partial", p->sessions, S.ok,
                S.failed, S.unfinished, S.present, S.msgs, S.expect_total, S.extra, S.wrong, S.nslots, secs,
                secs > 0 ? S.ok / secs : 0, samples_quantile(&S.per_session, 0.5),
                samples_quantile(&S.per_session, 0.99), samples_quantile(&S.per_session, 1.0),
                why_field());
    if (!rok)
        rc = 1;

    samples_free(&S.per_session);
    free(S.expect);
    free(S.slots);
    free(S.idle);
    bulk_pool_free(&S.pool);
    loop_free(S.loop);
    return rc;
}
