/* runner.c -- runs scenarios: scheduling, clients, actions, step deadlines.
 *
 * Every scenario is a small state machine (sc_run) advanced by events: an
 * observation from a driver, or a timer. Nothing blocks; many scenarios share
 * one loop. A step either ends at once (ack, send), when the broker answers
 * (CONNACK, SUBACK, PUBACK/PUBCOMP, our close), when a wait runs out, or when
 * its expectation is met or violated (expect.c). After the steps, synthesised
 * clean-up steps remove every session and retained message the scenario made.
 *
 * Not for: judging observations (expect.c), names (template.c), the command
 * line (cmd_run.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner_int.h"

#define CONNECT_TIMEOUT_MS 10000
#define ACTION_TIMEOUT_MS 10000
#define MAX_TRACE_LINES 4000
#define MAX_HEX_BYTES 512

static void advance(sc_run *sr);
static void start_attempt(run_state *rs, const pending_t *p);
static void settle_retry(scenario_result *first, const scenario_result *again);
static void fill_result_header(scenario_result *r, const scenario_t *sc);
static void remember_retained(sc_run *sr, const char *topic);
static void scenario_end(sc_run *sr);
static bool refused_requeue(sc_run *sr, client_rt *c, const obs_t *o, int *pending);
static void paced_write(sc_run *sr);
static void start_paced(sc_run *sr, const uint8_t *bytes, size_t len, uint8_t *owned, pacing pace,
                        wait_for then);
static bool flood_check(sc_run *sr, client_rt *c);

/* ---- small helpers shared with expect.c ---------------------------------- */

static char *dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void sr_note(sc_run *sr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    scenario_result *r = sr->res;
    char **n = realloc(r->notes, (r->n_notes + 1) * sizeof *n);
    if (!n)
        return;
    r->notes = n;
    r->notes[r->n_notes] = strdup(buf);
    if (r->notes[r->n_notes])
        r->n_notes++;
}

void sr_timing(sc_run *sr, const char *what, int64_t observed, int64_t not_before, int64_t by)
{
    scenario_result *r = sr->res;
    result_timing *t = realloc(r->timings, (r->n_timings + 1) * sizeof *t);
    if (!t)
        return;
    r->timings = t;
    t = &r->timings[r->n_timings++];
    t->step = (int)sr->step + 1;
    t->what = strdup(what);
    t->observed_ms = observed;
    t->not_before_ms = not_before;
    t->by_ms = by;
}

int64_t mark_time(sc_run *sr, const char *name)
{
    for (size_t i = 0; i < sr->n_marks; i++)
        if (!strcmp(sr->marks[i].name, name))
            return sr->marks[i].at;
    return -1;
}

static void set_mark(sc_run *sr, const char *name, int64_t at)
{
    for (size_t i = 0; i < sr->n_marks; i++)
        if (!strcmp(sr->marks[i].name, name)) {
            sr->marks[i].at = at;
            return;
        }
    named_time *m = realloc(sr->marks, (sr->n_marks + 1) * sizeof *m);
    if (!m)
        return;
    sr->marks = m;
    sr->marks[sr->n_marks].name = (char *)name;     /* owned by the model */
    sr->marks[sr->n_marks++].at = at;
}

int saved_packet_id(sc_run *sr, const char *name)
{
    for (size_t i = 0; i < sr->n_saved; i++)
        if (!strcmp(sr->saved[i].name, name))
            return sr->saved[i].packet_id;
    return -1;
}

void save_packet_id(sc_run *sr, const char *name, uint16_t id)
{
    for (size_t i = 0; i < sr->n_saved; i++)
        if (!strcmp(sr->saved[i].name, name)) {
            sr->saved[i].packet_id = id;
            return;
        }
    saved_id *s = realloc(sr->saved, (sr->n_saved + 1) * sizeof *s);
    if (!s)
        return;
    sr->saved = s;
    sr->saved[sr->n_saved].name = (char *)name;     /* owned by the model */
    sr->saved[sr->n_saved++].packet_id = id;
}

/* The Session Expiry Interval in force for a client: a DISCONNECT's value if
 * its last connection ended with one, else what the server granted in
 * CONNACK, else what CONNECT asked for, else 0 (absent means 0). */
static uint32_t sei_in_force(const client_rt *c)
{
    if (c->sei_at_disconnect.set)
        return c->sei_at_disconnect.v;
    if (c->sei_granted.set)
        return c->sei_granted.v;
    if (c->sei_requested.set)
        return c->sei_requested.v;
    return 0;
}

int64_t duration_ms(sc_run *sr, const duration_t *d)
{
    if (d->ref == DUR_LITERAL)
        return d->plus_ms;
    const client_rt *c = &sr->clients[d->client];
    double base_s = 0;
    switch (d->ref) {
    case DUR_SESSION_EXPIRY:
        base_s = sei_in_force(c);
        break;
    case DUR_WILL_DELAY:
        base_s = c->will_delay.set ? c->will_delay.v : 0;
        break;
    case DUR_KEEP_ALIVE:
        base_s = c->server_keep_alive.set ? c->server_keep_alive.v : c->keep_alive;
        break;
    case DUR_LITERAL:
        break;
    }
    double times = d->times > 0 ? d->times : 1.0;
    return (int64_t)(base_s * times * 1000.0) + d->plus_ms;
}

void num_match_format(sc_run *sr, const num_match *m, char *out, size_t cap)
{
    switch (m->kind) {
    case NM_ANY: snprintf(out, cap, "any"); break;
    case NM_ABSENT: snprintf(out, cap, "absent"); break;
    case NM_PRESENT: snprintf(out, cap, "present"); break;
    case NM_EQ: snprintf(out, cap, "%u", m->lo); break;
    case NM_RANGE: snprintf(out, cap, "%u..%u", m->lo, m->hi); break;
    case NM_SAVED:
    case NM_NOT_SAVED: {
        const char *neg = m->kind == NM_NOT_SAVED ? "not " : "";
        int id = saved_packet_id(sr, m->saved);
        if (id < 0)
            snprintf(out, cap, "%sthe packet id of %s (not saved)", neg, m->saved);
        else
            snprintf(out, cap, "%s%d (the packet id of %s)", neg, id, m->saved);
        break;
    }
    case NM_NOT_EQ: snprintf(out, cap, "not %u", m->lo); break;
    }
}

/* ---- traces ---------------------------------------------------------------- */

/* The bytes in hex, with those in [hide_from, hide_to) shown as "**". */
static char *hex_of(const uint8_t *b, size_t len, size_t hide_from, size_t hide_to)
{
    size_t shown = len > MAX_HEX_BYTES ? MAX_HEX_BYTES : len;
    char *s = malloc(shown * 3 + 8);
    if (!s)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < shown; i++) {
        if (i)
            s[n++] = ' ';
        if (i >= hide_from && i < hide_to)
            n += (size_t)sprintf(s + n, "**");
        else
            n += (size_t)sprintf(s + n, "%02x", b[i]);
    }
    if (shown < len)
        n += (size_t)sprintf(s + n, " ...");
    s[n] = '\0';
    return s;
}

/* How many bytes at the end of b are a CONNECT's password (the last field of
 * the packet); 0 when b is no CONNECT with a password. */
static size_t connect_password_len(const uint8_t *b, size_t len)
{
    if (len < 2 || b[0] != 0x10)
        return 0;
    mqtt_packet p;
    mqtt_error err;
    if (mqtt_decode(b, len, MQTT_V5, true, &p, &err) != MQTT_OK)
        return 0;
    size_t n = p.u.connect.has_password ? p.u.connect.password.len : 0;
    mqtt_packet_free(&p);
    return n;
}

/* Reports are handed to others, so a password never reaches a trace: the
 * drivers' descriptions show its length only (mqtt_describe), and here its
 * bytes become "**" in the hex of a CONNECT, or of the pieces of a paced one
 * (whose text, the hex too, is written again). */
static void trace_bytes(sc_run *sr, const trace_line *t, result_trace *e)
{
    size_t hide_from = 0, hide_to = 0;
    bool piece = sr->paced.tracing && t->dir == TRACE_OUT;
    if (piece) {
        /* This write's bytes sit at paced.off in the paced buffer. */
        size_t from = sr->paced.hide_from, to = sr->paced.len;
        size_t off = sr->paced.off;
        if (from < to && off < to && off + t->len > from) {
            hide_from = from > off ? from - off : 0;
            hide_to = to - off;
        }
    } else if (t->dir == TRACE_OUT) {
        size_t pw = connect_password_len(t->bytes, t->len);
        if (pw) {
            hide_from = t->len - pw;
            hide_to = t->len;
        }
    }
    e->hex = hex_of(t->bytes, t->len, hide_from, hide_to);
    if (piece && hide_to > hide_from && e->hex) {
        /* The driver's text of a piece is its hex too (drv_raw.c, send_bytes). */
        free(e->text);
        e->text = dupf("raw bytes (%zu): %s", t->len, e->hex);
    }
}

static void on_trace(void *ud, const trace_line *t)
{
    client_rt *c = ud;
    sc_run *sr = c->sr;
    result_trace e = {.at_ms = t->at_ms - sr->started, .dir = (char)t->dir};
    e.text = strdup(t->text ? t->text : "");
    if (t->bytes)
        trace_bytes(sr, t, &e);
    if (sr->run->opt->verbose)
        fprintf(stderr, "# %s +%lldms %s %c %s\n", sr->sc->id, (long long)e.at_ms, c->def->name,
                e.dir, e.text ? e.text : "");
    scenario_result *r = sr->res;
    result_trace *nt = NULL;
    if (r->n_trace >= MAX_TRACE_LINES)
        sr->trace_dropped++;
    else
        nt = realloc(r->trace, (r->n_trace + 1) * sizeof *nt);
    if (!nt) {
        free(e.text);
        free(e.hex);
        return;
    }
    e.client = strdup(c->def->name);
    r->trace = nt;
    r->trace[r->n_trace++] = e;
}

/* ---- inbox ------------------------------------------------------------------ */

static void inbox_clear(inbox_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        obs_free(in->items[i]);
    free(in->items);
    free(in->taken);
    memset(in, 0, sizeof *in);
}

static int inbox_push(inbox_t *in, obs_t *o)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        obs_t **items = realloc(in->items, cap * sizeof *items);
        if (!items)
            return -1;
        in->items = items;
        bool *taken = realloc(in->taken, cap * sizeof *taken);
        if (!taken)
            return -1;
        in->taken = taken;
        in->cap = cap;
    }
    in->items[in->n] = o;
    in->taken[in->n++] = false;
    return 0;
}

/* ---- verdicts -------------------------------------------------------------- */

static const step_t *cur_step(sc_run *sr)
{
    return sr->step < sr->n_steps ? &sr->steps[sr->step] : NULL;
}

static int severity(verdict_t v)
{
    switch (v) {
    case V_PASS: return 0;
    case V_INFO: return 1;
    case V_WARN: return 2;
    case V_FAIL: return 3;
    case V_ERROR: return 4;
    default: return 0;
    }
}

static char *step_text(const sc_run *sr, const step_t *st)
{
    const char *client = st->client >= 0 ? sr->clients[st->client].def->name : NULL;
    const char *what = step_kind_name(st->kind);
    if (st->kind == ST_EXPECT)
        return dupf("%s.expect: %s", client, expect_kind_name(st->u.expect.kind));
    if (st->kind == ST_ACK)
        return dupf("%s.%s", client, mqtt_type_name(st->u.ack.packet_type));
    return client ? dupf("%s.%s", client, what) : dupf("%s", what);
}

static char *scenario_statements(const scenario_t *sc)
{
    size_t len = 1;
    for (size_t i = 0; i < sc->n_spec; i++)
        len += strlen(sc->spec[i]) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < sc->n_spec; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, sc->spec[i]);
    }
    return s;
}

/* Records an outcome of the current step. A fail or an error stops the steps;
 * a warn or info is recorded and the story goes on. */
static void record(sc_run *sr, verdict_t v, const char *expected, const char *observed)
{
    const step_t *st = cur_step(sr);
    if (sr->phase == PH_CLEANUP) {
        sr_note(sr, "clean-up step %zu%s%s: expected %s; observed %s", sr->step + 1,
                st && st->spec ? ", " : "", st && st->spec ? st->spec : "",
                expected ? expected : "", observed ? observed : "");
        sr->stopped = true;
        return;
    }
    scenario_result *r = sr->res;
    if (severity(v) > severity(r->verdict)) {
        r->verdict = v;
        result_failure *f = &r->failure;
        free(f->step_text);
        free(f->statement);
        free(f->expected);
        free(f->observed);
        r->has_failure = true;
        f->step = st ? (int)sr->step + 1 : 0;
        f->line = st ? st->pos.line : 0;
        f->col = st ? st->pos.col : 0;
        f->step_text = st ? step_text(sr, st) : strdup("(scenario)");
        f->statement = st && st->spec ? strdup(st->spec) : scenario_statements(sr->sc);
        f->expected = strdup(expected ? expected : "");
        f->observed = strdup(observed ? observed : "");
        free(r->reason);
        r->reason = dupf("step %d (%s, line %d): %s", f->step, f->step_text ? f->step_text : "",
                         f->line, observed ? observed : "");
    }
    if (v == V_FAIL || v == V_ERROR)
        sr->stopped = true;
}

static void step_error(sc_run *sr, const char *fmt, ...)
{
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    record(sr, V_ERROR, "the step to complete", buf);
}

static verdict_t violation_verdict(const sc_run *sr, const step_t *st)
{
    level_t l = st->has_level ? st->level : sr->sc->level;
    switch (l) {
    case LEVEL_SHOULD: return V_WARN;
    case LEVEL_MAY: return V_INFO;
    default: return V_FAIL;
    }
}

/* ---- is the broker still there? --------------------------------------------- */

#define LIVENESS_CONNECT_MS 1000
#define LIVENESS_CLOSE_MS 200

static void liveness_stop(sc_run *sr)
{
    if (sr->liveness_fd >= 0) {
        loop_unwatch(sr->run->loop, sr->liveness_fd);
        close(sr->liveness_fd);
        sr->liveness_fd = -1;
    }
    loop_timer_cancel(sr->run->loop, sr->liveness_timer);
    sr->liveness_timer = 0;
    sr->liveness_reading = false;
}

static void liveness_known(sc_run *sr, liveness result, const char *why)
{
    liveness_stop(sr);
    sr->liveness = result;
    snprintf(sr->liveness_why, sizeof sr->liveness_why, "%s", why);
    advance(sr);
}

static void on_liveness_timer(loop_t *loop, void *ud)
{
    sc_run *sr = ud;
    sr->liveness_timer = 0;
    if (sr->liveness_reading)
        liveness_known(sr, LIVE_ALIVE, "accepted and kept open");
    else
        liveness_known(sr, LIVE_GONE, "no answer within 1 s");
}

static void on_liveness_fd(loop_t *loop, int fd, int events, void *ud)
{
    sc_run *sr = ud;
    if (!sr->liveness_reading) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err) {
            liveness_known(sr, LIVE_GONE, strerror(err));
            return;
        }
        /* A dying broker may release its listener after its connections (the
         * kernel closes a dead process's files in no fixed order): one that
         * accepts and at once closes is gone too. */
        sr->liveness_reading = true;
        sr->liveness_accepted = true;
        loop_watch(loop, fd, LOOP_READ, on_liveness_fd, sr);
        loop_timer_cancel(loop, sr->liveness_timer);
        sr->liveness_timer = loop_timer_at(loop, loop_now_ms() + LIVENESS_CLOSE_MS,
                                           on_liveness_timer, sr);
        return;
    }
    char b;
    if (recv(fd, &b, 1, MSG_DONTWAIT) <= 0)
        liveness_known(sr, LIVE_GONE, "accepted, then closed at once");
    else
        liveness_known(sr, LIVE_ALIVE, "accepted");
}

void sr_check_liveness(sc_run *sr)
{
    if (sr->liveness != LIVE_UNKNOWN)
        return;
    sr->liveness_accepted = false;
    const target_t *t = &sr->target;
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    /* Cannot ask: say nothing against the broker, judge what was seen. */
    sr->liveness = LIVE_ALIVE;
    if (!t->host || getaddrinfo(t->host, port, &hints, &res) != 0)
        return;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return;
    }
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    freeaddrinfo(res);
    if (rc != 0 && err != EINPROGRESS) {
        close(fd);
        sr->liveness = LIVE_GONE;
        snprintf(sr->liveness_why, sizeof sr->liveness_why, "%s", strerror(err));
        return;
    }
    sr->liveness = LIVE_CHECKING;
    sr->liveness_fd = fd;
    sr->liveness_reading = false;
    loop_watch(sr->run->loop, fd, LOOP_WRITE, on_liveness_fd, sr);
    sr->liveness_timer = loop_timer_at(sr->run->loop, loop_now_ms() + LIVENESS_CONNECT_MS,
                                       on_liveness_timer, sr);
}

/* ---- stepping --------------------------------------------------------------- */

static void clear_wait(sc_run *sr)
{
    loop_timer_cancel(sr->run->loop, sr->step_timer);
    sr->step_timer = 0;
    sr->waiting = WF_NONE;
}

static void step_done(sc_run *sr)
{
    const step_t *st = cur_step(sr);
    clear_wait(sr);
    liveness_stop(sr);
    sr->liveness = LIVE_UNKNOWN;
    if (st && st->mark) {
        /* A close is marked when we began it: the broker cannot start a Will
         * Delay or expiry clock earlier, so "not before N" measured from here
         * is strict without being unfair by our own reporting latency. */
        bool closing = st->kind == ST_DROP || st->kind == ST_DISCONNECT;
        set_mark(sr, st->mark, closing ? sr->step_started : loop_now_ms());
    }
    sr->step++;
}

static void wait_until(sc_run *sr, wait_for w, int64_t deadline);

static void restart_note(sc_run *sr, const char *fmt, ...)
{
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sr->n_clients == 0)
        return;
    trace_line t = {.at_ms = loop_now_ms(), .dir = TRACE_NOTE, .text = buf};
    on_trace(&sr->clients[0], &t);
}

/* restart_broker, after the stop: first every connection that was open sees
 * its close (so the next connect starts from a closed client, and each close
 * is in the trace as the broker's), then down_for runs out, then the broker
 * is started again. `timer` is true when the step's timer fired. */
static void restart_progress(sc_run *sr, bool timer)
{
    const step_t *st = cur_step(sr);
    if (sr->waiting == WF_RESTART_CLOSED) {
        const char *still = NULL;
        for (size_t i = 0; i < sr->n_clients && !still; i++)
            if (sr->clients[i].open)
                still = sr->clients[i].def->name;
        if (still) {
            if (timer)
                step_error(sr, "the connection of client %s stayed open %d s after the broker "
                               "stopped",
                           still, ACTION_TIMEOUT_MS / 1000);
            return;
        }
        clear_wait(sr);
        wait_until(sr, WF_RESTART_DOWN, sr->restart_up_at);
        return;
    }
    if (sr->waiting != WF_RESTART_DOWN || (!timer && loop_now_ms() < sr->restart_up_at))
        return;
    clear_wait(sr);
    managed_broker *m = sr->own_broker ? sr->own_broker : sr->run->opt->managed;
    char err[300] = "";
    int64_t t0 = loop_now_ms();
    if (managed_start(m, err, sizeof err) != 0) {
        step_error(sr, "restart_broker: the broker did not start again: %s", err);
        return;
    }
    m->restarts++;
    restart_note(sr, "--- restart_broker: the broker listens again on port %d (started in %lld ms, "
                     "down %lld ms) ---",
                 m->port, (long long)(loop_now_ms() - t0),
                 (long long)(loop_now_ms() - sr->step_started));
    (void)st;
    step_done(sr);
}

static void do_restart(sc_run *sr, const step_t *st)
{
    managed_broker *m = sr->own_broker ? sr->own_broker : sr->run->opt->managed;
    if (!m || m->kind == MB_NONE) {
        step_error(sr, "the harness does not manage this broker (restart_broker)");
        return;
    }
    const restart_args *a = &st->u.restart;
    restart_note(sr, "--- restart_broker: stopping the broker (%s) ---",
                 a->kill ? (m->kind == MB_EMBEDDED ? "SIGKILL" : m->kill_cmd ? "kill command"
                                                                              : "stop command")
                         : (m->kind == MB_EMBEDDED ? "SIGTERM" : "stop command"));
    if (a->kill && m->kind == MB_COMMANDS && !m->kill_cmd)
        sr_note(sr, "restart_broker kill: true used the profile's stop command (it gives no kill "
                    "command)");
    char err[300] = "";
    if (managed_stop(m, a->kill, err, sizeof err) != 0) {
        step_error(sr, "restart_broker: could not stop the broker: %s", err);
        return;
    }
    int64_t now = loop_now_ms();
    restart_note(sr, "--- restart_broker: the broker is down (stopped in %lld ms) ---",
                 (long long)(now - sr->step_started));
    sr->restart_up_at = now + (a->has_down_for ? duration_ms(sr, &a->down_for) : 0);
    wait_until(sr, WF_RESTART_CLOSED, now + ACTION_TIMEOUT_MS);
    restart_progress(sr, false);
}

static void on_step_timer(loop_t *loop, void *ud)
{
    sc_run *sr = ud;
    sr->step_timer = 0;
    const step_t *st = cur_step(sr);
    if (!st)
        return;
    switch (sr->waiting) {
    case WF_TIMER:
        step_done(sr);
        break;
    case WF_EXPECT: {
        verdict_detail d = {{0}, {0}};
        judgement j = expect_judge(sr, st, loop_now_ms(), true, &d);
        if (j == J_MET)
            step_done(sr);
        else if (j == J_ERROR)
            record(sr, V_ERROR, d.expected, d.observed);
        else {
            /* At the deadline, pending means violated. */
            record(sr, violation_verdict(sr, st), d.expected, d.observed);
            if (!sr->stopped)
                step_done(sr);
        }
        break;
    }
    case WF_CONNACK:
        step_error(sr, "no CONNACK within %d s", CONNECT_TIMEOUT_MS / 1000);
        break;
    case WF_SUBACK:
        step_error(sr, "no SUBACK within %d s", ACTION_TIMEOUT_MS / 1000);
        break;
    case WF_UNSUBACK:
        step_error(sr, "no UNSUBACK within %d s", ACTION_TIMEOUT_MS / 1000);
        break;
    case WF_PUB_DONE:
        step_error(sr, "the publish of packet id %u was not acknowledged within %d s",
                   sr->wait_packet_id, ACTION_TIMEOUT_MS / 1000);
        break;
    case WF_CLOSED:
        step_error(sr, "the connection did not close within %d s", ACTION_TIMEOUT_MS / 1000);
        break;
    case WF_PACED:
        paced_write(sr);
        break;
    case WF_FLOOD: {
        client_rt *c = &sr->clients[st->client];
        size_t settled = 0, n = c->n_flood - c->flood_first;
        for (size_t i = c->flood_first; i < c->n_flood; i++)
            settled += c->flood[i]->settled;
        step_error(sr, "flood: %zu of %zu connections were %s within %d s", settled, n,
                   st->u.flood.connect ? "answered or closed" : "opened or closed",
                   CONNECT_TIMEOUT_MS / 1000);
        break;
    }
    case WF_RESTART_CLOSED:
    case WF_RESTART_DOWN:
        restart_progress(sr, true);
        break;
    case WF_NONE:
        break;
    }
    advance(sr);
}

static void wait_until(sc_run *sr, wait_for w, int64_t deadline)
{
    sr->waiting = w;
    sr->step_timer = loop_timer_at(sr->run->loop, deadline, on_step_timer, sr);
}

/* Does the inbox hold the observation the current action waits for? */
static void check_action_wait(sc_run *sr, client_rt *c)
{
    const step_t *st = cur_step(sr);
    if (!st || st->client != c->index)
        return;
    if (sr->waiting == WF_PACED) {
        /* Closed by the broker half way: the expectation that follows judges
         * the close, so the observation stays in the inbox. */
        if (!c->open) {
            char note[160];
            snprintf(note, sizeof note, "paced %s stopped: the connection closed after %zu of "
                                        "%zu bytes", step_kind_name(st->kind), sr->paced.off,
                     sr->paced.len);
            trace_line t = {.at_ms = loop_now_ms(), .dir = TRACE_NOTE, .text = note};
            on_trace(c, &t);
            if (sr->paced.then == WF_NONE) {
                step_done(sr);
                return;
            }
            /* A connect judges the close as it would without pacing, with
             * the deadline of its answer from now. */
            loop_timer_cancel(sr->run->loop, sr->step_timer);
            wait_until(sr, sr->paced.then, loop_now_ms() + CONNECT_TIMEOUT_MS);
        } else {
            return;
        }
    }
    if (sr->waiting == WF_FLOOD) {
        if (flood_check(sr, c))
            step_done(sr);
        return;
    }
    inbox_t *in = &c->inbox;
    for (size_t i = 0; i < in->n; i++) {
        if (in->taken[i])
            continue;
        obs_t *o = in->items[i];
        if (o->kind == OBS_CLOSED) {
            if (sr->waiting == WF_CLOSED) {
                step_done(sr);
                return;
            }
            if (sr->waiting == WF_CONNACK) {
                int pending = 0;
                if (refused_requeue(sr, c, o, &pending) || pending)
                    return;
                if (o->cause == CLOSE_REFUSED || o->cause == CLOSE_TLS || o->cause == CLOSE_ERROR) {
                    step_error(sr, "could not connect: %s", o->text);
                    return;
                }
                /* Closed without CONNACK: the expectation that follows judges it. */
                step_done(sr);
                return;
            }
            step_error(sr, "the connection closed while waiting for the %s step to complete: %s",
                       step_kind_name(st->kind), o->text);
            return;
        }
        if (o->kind == OBS_BAD_PACKET && sr->waiting == WF_CONNACK) {
            /* A malformed CONNACK is the broker's answer, judged by the
             * expectation that follows; bytes that are not even a CONNACK
             * mean there is no MQTT server to judge. */
            if (o->wire_len == 0 || o->wire[0] >> 4 != MQTT_CONNACK) {
                step_error(sr, "could not connect: the broker answered CONNECT with bytes that "
                               "are not a CONNACK (%s)",
                           o->text);
                return;
            }
            step_done(sr);
            return;
        }
        if (o->kind != OBS_PACKET)
            continue;
        const mqtt_packet *p = &o->pkt;
        switch (sr->waiting) {
        case WF_CONNACK:
            if (p->type == MQTT_CONNACK) {
                int pending = 0;
                if (!refused_requeue(sr, c, o, &pending))
                    step_done(sr);
                return;
            }
            break;
        case WF_SUBACK:
        case WF_UNSUBACK: {
            uint8_t want = sr->waiting == WF_SUBACK ? MQTT_SUBACK : MQTT_UNSUBACK;
            if (p->type != want || p->u.suback.packet_id != sr->wait_packet_id)
                break;
            /* A refused entry is an error unless the scenario examines it next. */
            const step_t *next = sr->step + 1 < sr->n_steps ? &sr->steps[sr->step + 1] : NULL;
            bool examined = next && next->kind == ST_EXPECT && next->client == c->index &&
                            (next->u.expect.kind == EX_SUBACK || next->u.expect.kind == EX_UNSUBACK);
            for (uint32_t k = 0; k < p->u.suback.count && !examined; k++) {
                uint8_t rc = p->u.suback.reasons[k];
                if (rc >= 0x80) {
                    step_error(sr, "%s refused entry %u: 0x%02X %s", mqtt_type_name(want), k + 1, rc,
                               mqtt_reason_name(rc, want, p->version));
                    return;
                }
            }
            if (!examined)
                in->taken[i] = true;
            step_done(sr);
            return;
        }
        case WF_PUB_DONE: {
            bool ours = (p->type == MQTT_PUBACK || p->type == MQTT_PUBREC || p->type == MQTT_PUBCOMP) &&
                        p->u.ack.packet_id == sr->wait_packet_id;
            if (!ours)
                break;
            if (p->type == MQTT_PUBREC && p->u.ack.reason < 0x80)
                break;          /* the exchange goes on to PUBCOMP */
            in->taken[i] = true;
            if (p->u.ack.reason >= 0x80) {
                step_error(sr, "the broker refused the publish: %s 0x%02X %s", mqtt_type_name(p->type),
                           p->u.ack.reason, mqtt_reason_name(p->u.ack.reason, p->type, p->version));
                return;
            }
            step_done(sr);
            return;
        }
        default:
            break;
        }
    }
}

static void held_publish(sc_run *sr, client_rt *c, const obs_t *o)
{
    uint16_t id = o->pkt.u.publish.packet_id;
    uint8_t bit = (uint8_t)(1u << (id & 7));
    if (c->held[id >> 3] & bit) {
        /* A resend carries DUP 1 and is the same message; a new one may not
         * take a packet id that is still in use [MQTT-2.2.1-4]. */
        if (!o->pkt.u.publish.dup && !c->held_reuse[0]) {
            char seen[160];
            mqtt_describe(&o->pkt, seen, sizeof seen);
            snprintf(c->held_reuse, sizeof c->held_reuse, "%s at +%lld ms, while packet id %u was "
                     "still unacknowledged", seen, (long long)(o->at_ms - sr->started), id);
        }
        return;
    }
    c->held[id >> 3] |= bit;
    if (++c->held_n > c->held_peak) {
        c->held_peak = c->held_n;
        char seen[120];
        mqtt_describe(&o->pkt, seen, sizeof seen);
        snprintf(c->held_peak_what, sizeof c->held_peak_what, "%s at +%lld ms", seen,
                 (long long)(o->at_ms - sr->started));
    }
}

static void held_release(client_rt *c, uint16_t id)
{
    uint8_t bit = (uint8_t)(1u << (id & 7));
    if (c->held[id >> 3] & bit) {
        c->held[id >> 3] &= (uint8_t)~bit;
        c->held_n--;
    }
}

static void on_observe(void *ud, obs_t *o)
{
    client_rt *c = ud;
    sc_run *sr = c->sr;
    /* The drivers trace closes and undecodable input themselves. */
    if (o->kind == OBS_CLOSED) {
        c->open = false;
    } else if (o->kind == OBS_PACKET && o->pkt.type == MQTT_CONNACK) {
        const mqtt_prop *p = mqtt_props_find(&o->pkt.u.connack.props, MQTT_PROP_SESSION_EXPIRY);
        c->sei_granted.set = p != NULL;
        c->sei_granted.v = p ? p->num : 0;
        p = mqtt_props_find(&o->pkt.u.connack.props, MQTT_PROP_SERVER_KEEP_ALIVE);
        c->server_keep_alive.set = p != NULL;
        c->server_keep_alive.v = p ? p->num : 0;
        if (o->pkt.u.connack.reason == 0)
            c->ever_accepted = true;
    } else if (o->kind == OBS_PACKET && o->pkt.type == MQTT_PUBLISH && o->pkt.u.publish.qos > 0) {
        held_publish(sr, c, o);
    }
    if (inbox_push(&c->inbox, o) != 0) {
        obs_free(o);
        return;
    }
    if (sr->phase == PH_DONE)
        return;
    advance(sr);
}

/* ---- actions ---------------------------------------------------------------- */

static mqtt_bytes bytes_of(const char *s, size_t len)
{
    mqtt_bytes b = {(const uint8_t *)(s ? s : ""), (uint32_t)len};
    return b;
}

static int add_user_props(mqtt_props *p, const user_prop *up, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (mqtt_props_add_pair(p, mqtt_str(up[i].name), mqtt_str(up[i].value)) != 0)
            return -1;
    return 0;
}

static const char *first_of(const char *a, const char *b, const char *c)
{
    return a ? a : b ? b : c;
}

static void free_connection(client_rt *c)
{
    if (c->conn) {
        c->drv->free(c->conn);
        c->conn = NULL;
    }
    c->open = false;
    inbox_clear(&c->inbox);
    memset(c->held, 0, sizeof c->held);
    c->held_n = c->held_peak = 0;
    c->held_peak_what[0] = c->held_reuse[0] = '\0';
    mqtt_props_free(&c->connect_props);
    mqtt_props_free(&c->will_props);
}

static void do_connect(sc_run *sr, const step_t *st, client_rt *c)
{
    const connect_args *a = &st->u.connect;
    bool v5 = c->def->protocol == MQTT_V5;
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_CONNECT;
    pkt.version = c->def->protocol;
    mqtt_connect *m = &pkt.u.connect;

    if (a->second_connect) {
        if (!c->open) {
            step_error(sr, "second_connect: client %s has no open connection", c->def->name);
            return;
        }
    } else {
        if (c->open) {
            step_error(sr, "client %s is still connected; disconnect or drop it first", c->def->name);
            return;
        }
        free_connection(c);
    }
    mqtt_props *props = a->second_connect ? &(mqtt_props){0} : &c->connect_props;
    mqtt_props *wprops = a->second_connect ? &(mqtt_props){0} : &c->will_props;

    m->protocol_name = mqtt_str("MQTT");
    m->protocol_level = c->def->protocol;
    m->clean_start = a->clean_start;
    m->keep_alive = a->keep_alive;
    m->client_id = mqtt_str(c->client_id);
    int rc = 0;
    if (v5) {
        if (a->session_expiry.set)
            rc |= mqtt_props_add_num(props, MQTT_PROP_SESSION_EXPIRY, a->session_expiry.v);
        if (a->receive_maximum.set)
            rc |= mqtt_props_add_num(props, MQTT_PROP_RECEIVE_MAXIMUM, a->receive_maximum.v);
        if (a->maximum_packet_size.set)
            rc |= mqtt_props_add_num(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, a->maximum_packet_size.v);
        if (a->topic_alias_maximum.set)
            rc |= mqtt_props_add_num(props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, a->topic_alias_maximum.v);
        if (a->authentication_method)
            rc |= mqtt_props_add_bytes(props, MQTT_PROP_AUTH_METHOD,
                                       mqtt_str(a->authentication_method));
        rc |= add_user_props(props, a->user_props, a->n_user_props);
    }
    m->props = *props;
    if (a->has_will) {
        const will_args *w = &a->will;
        m->will = true;
        m->will_qos = w->qos;
        m->will_retain = w->retain;
        const char *wt = sr_expand(sr, w->topic);
        m->will_topic = mqtt_str(wt);
        /* A retained Will outlives the scenario unless clean-up deletes it. */
        if (w->retain && wt[0])
            remember_retained(sr, wt);
        m->will_payload = bytes_of(w->payload, w->payload_len);
        if (v5) {
            if (w->delay.set)
                rc |= mqtt_props_add_num(wprops, MQTT_PROP_WILL_DELAY, w->delay.v);
            if (w->message_expiry.set)
                rc |= mqtt_props_add_num(wprops, MQTT_PROP_MESSAGE_EXPIRY, w->message_expiry.v);
            rc |= add_user_props(wprops, w->user_props, w->n_user_props);
        }
        m->will_props = *wprops;
    }
    const run_options *opt = sr->run->opt;
    bool second = c->def->second_user;
    const char *user = first_of(a->username, c->def->username, second ? opt->username2 : opt->username);
    const char *pass = first_of(a->password, c->def->password, second ? opt->password2 : opt->password);
    if (user) {
        m->has_username = true;
        m->username = mqtt_str(user);
    }
    if (pass) {
        m->has_password = true;
        m->password = mqtt_str(pass);
    }
    if (rc != 0) {
        step_error(sr, "out of memory building CONNECT");
        return;
    }

    char err[256] = "";
    if (a->second_connect) {
        int src = c->drv->send(c->conn, &pkt, err, sizeof err);
        mqtt_props_free(props);
        mqtt_props_free(wprops);
        if (src != 0)
            step_error(sr, "could not send the second CONNECT: %s", err);
        else
            step_done(sr);
        return;
    }

    c->sei_requested = v5 ? a->session_expiry : (opt_u32){0};
    c->sei_granted = (opt_u32){0};
    c->sei_at_disconnect = (opt_u32){0};
    c->will_delay = a->has_will ? a->will.delay : (opt_u32){0};
    c->keep_alive = a->keep_alive;
    c->server_keep_alive = (opt_u32){0};

    conn_params params = {
        .target = &sr->target,
        .protocol = c->def->protocol,
        .connect = *m,
        .auto_ack = c->def->auto_ack,
        .deadline_ms = loop_now_ms() + CONNECT_TIMEOUT_MS,
        .no_connect = a->pace.chunk > 0,
    };
    mqtt_buf wire = {0};
    if (a->pace.chunk) {
        /* Encoded here and written as bytes: a library writes a packet whole. */
        if (mqtt_encode(&pkt, &wire) != 0) {
            mqtt_buf_free(&wire);
            step_error(sr, "cannot encode the CONNECT");
            return;
        }
        uint64_t ms = paced_duration_ms(&a->pace, wire.len);
        if (ms > PACED_MAX_MS) {
            step_error(sr, "connect: the CONNECT of %zu bytes written %u at a time, %lld ms "
                           "apart, takes %llu ms, more than the %d ms a paced write may last",
                       wire.len, a->pace.chunk, (long long)a->pace.pause_ms,
                       (unsigned long long)ms, PACED_MAX_MS);
            mqtt_buf_free(&wire);
            return;
        }
    }
    conn_sink sink = {.observe = on_observe, .trace = on_trace, .ud = c};
    c->conn = c->drv->open(sr->run->loop, &params, sink, err, sizeof err);
    if (!c->conn) {
        mqtt_buf_free(&wire);
        step_error(sr, "could not start connecting: %s", err);
        return;
    }
    c->open = true;
    if (!a->pace.chunk) {
        wait_until(sr, WF_CONNACK, loop_now_ms() + CONNECT_TIMEOUT_MS);
        return;
    }
    char note[2048];
    int n = snprintf(note, sizeof note, "written %u byte%s at a time, %lld ms apart: ",
                     a->pace.chunk, a->pace.chunk == 1 ? "" : "s", (long long)a->pace.pause_ms);
    mqtt_describe(&pkt, note + n, sizeof note - (size_t)n);
    trace_line t = {.at_ms = loop_now_ms(), .dir = TRACE_NOTE, .text = note};
    on_trace(c, &t);
    start_paced(sr, wire.data, wire.len, wire.data, a->pace, WF_CONNACK);
}

/* A network connection without CONNECT: the scenario sends its own first
 * packet as bytes (a malformed CONNECT, say), which no client library allows. */
static void do_open(sc_run *sr, client_rt *c)
{
    if (c->open) {
        step_error(sr, "client %s is still connected; disconnect or drop it first", c->def->name);
        return;
    }
    free_connection(c);
    conn_params params = {
        .target = &sr->target,
        .protocol = c->def->protocol,
        .auto_ack = c->def->auto_ack,
        .deadline_ms = loop_now_ms() + CONNECT_TIMEOUT_MS,
        .no_connect = true,
    };
    conn_sink sink = {.observe = on_observe, .trace = on_trace, .ud = c};
    char err[256] = "";
    c->conn = c->drv->open(sr->run->loop, &params, sink, err, sizeof err);
    if (!c->conn) {
        step_error(sr, "could not start connecting: %s", err);
        return;
    }
    c->open = true;
    step_done(sr);
}

static bool need_open(sc_run *sr, client_rt *c)
{
    if (c->open && c->conn)
        return true;
    step_error(sr, "client %s is not connected", c->def->name);
    return false;
}

static void do_send_packet(sc_run *sr, client_rt *c, mqtt_packet *pkt, wait_for then)
{
    char err[256] = "";
    if (c->drv->send(c->conn, pkt, err, sizeof err) != 0) {
        step_error(sr, "could not send %s: %s", mqtt_type_name(pkt->type), err);
        return;
    }
    if (then == WF_NONE) {
        step_done(sr);
        return;
    }
    switch (pkt->type) {
    case MQTT_SUBSCRIBE: sr->wait_packet_id = pkt->u.subscribe.packet_id; break;
    case MQTT_UNSUBSCRIBE: sr->wait_packet_id = pkt->u.unsubscribe.packet_id; break;
    case MQTT_PUBLISH: sr->wait_packet_id = pkt->u.publish.packet_id; break;
    default: break;
    }
    wait_until(sr, then, loop_now_ms() + ACTION_TIMEOUT_MS);
    /* The answer may already be in (a driver may deliver synchronously). */
    check_action_wait(sr, c);
}

static void do_subscribe(sc_run *sr, const step_t *st, client_rt *c)
{
    const subscribe_args *a = &st->u.subscribe;
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_SUBSCRIBE;
    pkt.version = c->def->protocol;
    mqtt_sub *subs = calloc(a->n_entries ? a->n_entries : 1, sizeof *subs);
    if (!subs) {
        step_error(sr, "out of memory");
        return;
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        const sub_entry *e = &a->entries[i];
        subs[i].filter = mqtt_str(sr_expand(sr, e->filter));
        subs[i].qos = e->qos;
        subs[i].no_local = e->no_local;
        subs[i].retain_as_published = e->retain_as_published;
        subs[i].retain_handling = e->retain_handling;
        subs[i].options = (uint8_t)(e->qos | (e->no_local ? 0x04 : 0) |
                                    (e->retain_as_published ? 0x08 : 0) | (e->retain_handling << 4));
    }
    pkt.u.subscribe.subs = subs;
    pkt.u.subscribe.count = (uint32_t)a->n_entries;
    int rc = 0;
    if (pkt.version == MQTT_V5) {
        if (a->subscription_id.set)
            rc |= mqtt_props_add_num(&pkt.u.subscribe.props, MQTT_PROP_SUBSCRIPTION_ID,
                                     a->subscription_id.v);
        rc |= add_user_props(&pkt.u.subscribe.props, a->user_props, a->n_user_props);
    }
    if (rc == 0)
        do_send_packet(sr, c, &pkt, WF_SUBACK);
    else
        step_error(sr, "out of memory");
    mqtt_props_free(&pkt.u.subscribe.props);
    free(subs);
}

static void do_unsubscribe(sc_run *sr, const step_t *st, client_rt *c)
{
    const unsubscribe_args *a = &st->u.unsubscribe;
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_UNSUBSCRIBE;
    pkt.version = c->def->protocol;
    mqtt_bytes *filters = calloc(a->n_filters ? a->n_filters : 1, sizeof *filters);
    if (!filters) {
        step_error(sr, "out of memory");
        return;
    }
    for (size_t i = 0; i < a->n_filters; i++)
        filters[i] = mqtt_str(sr_expand(sr, a->filters[i]));
    pkt.u.unsubscribe.filters = filters;
    pkt.u.unsubscribe.count = (uint32_t)a->n_filters;
    do_send_packet(sr, c, &pkt, WF_UNSUBACK);
    free(filters);
}

static void remember_retained(sc_run *sr, const char *topic)
{
    for (size_t i = 0; i < sr->n_retained; i++)
        if (!strcmp(sr->retained_topics[i], topic))
            return;
    char **n = realloc(sr->retained_topics, (sr->n_retained + 1) * sizeof *n);
    if (!n)
        return;
    sr->retained_topics = n;
    sr->retained_topics[sr->n_retained++] = (char *)topic;     /* owned by sr->strings or the model */
}

static void do_publish(sc_run *sr, const step_t *st, client_rt *c)
{
    const publish_args *a = &st->u.publish;
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_PUBLISH;
    pkt.version = c->def->protocol;
    mqtt_publish *p = &pkt.u.publish;
    const char *topic = sr_expand(sr, a->topic ? a->topic : "");
    p->topic = mqtt_str(topic);
    p->payload = bytes_of(a->payload, a->payload_len);
    p->qos = a->qos;
    p->retain = a->retain;
    p->dup = a->dup;
    p->packet_id = a->packet_id.set ? (uint16_t)a->packet_id.v : 0;
    int rc = 0;
    if (pkt.version == MQTT_V5) {
        if (a->message_expiry.set)
            rc |= mqtt_props_add_num(&p->props, MQTT_PROP_MESSAGE_EXPIRY, a->message_expiry.v);
        if (a->topic_alias.set)
            rc |= mqtt_props_add_num(&p->props, MQTT_PROP_TOPIC_ALIAS, a->topic_alias.v);
        rc |= add_user_props(&p->props, a->user_props, a->n_user_props);
    }
    if (a->retain && topic[0])
        remember_retained(sr, topic);
    bool await = a->qos > 0 && a->await_ack && c->def->auto_ack;
    if (rc == 0)
        do_send_packet(sr, c, &pkt, await ? WF_PUB_DONE : WF_NONE);
    else
        step_error(sr, "out of memory");
    mqtt_props_free(&p->props);
}

static void do_disconnect(sc_run *sr, const step_t *st, client_rt *c)
{
    const disconnect_args *a = &st->u.disconnect;
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_DISCONNECT;
    pkt.version = c->def->protocol;
    int rc = 0;
    if (pkt.version == MQTT_V5) {
        pkt.u.disconnect.reason = a->reason;
        pkt.u.disconnect.has_reason = a->reason != 0 || a->session_expiry.set || a->reason_string;
        if (a->session_expiry.set)
            rc |= mqtt_props_add_num(&pkt.u.disconnect.props, MQTT_PROP_SESSION_EXPIRY,
                                     a->session_expiry.v);
        if (a->reason_string)
            rc |= mqtt_props_add_bytes(&pkt.u.disconnect.props, MQTT_PROP_REASON_STRING,
                                       mqtt_str(a->reason_string));
        /* The value in force afterwards, unless the broker rejects it (0x82). */
        if (a->session_expiry.set)
            c->sei_at_disconnect = a->session_expiry;
    }
    if (rc != 0) {
        step_error(sr, "out of memory");
    } else if (a->keep_open) {
        /* Written as bytes so that the connection stays open for the broker's answer. */
        mqtt_buf buf = {0};
        char err[256] = "";
        if (mqtt_encode(&pkt, &buf) != 0 ||
            c->drv->send_bytes(c->conn, buf.data, buf.len, err, sizeof err) != 0)
            step_error(sr, "could not send DISCONNECT: %s", err);
        else
            step_done(sr);
        mqtt_buf_free(&buf);
    } else {
        do_send_packet(sr, c, &pkt, WF_CLOSED);
    }
    mqtt_props_free(&pkt.u.disconnect.props);
}

static void do_ack(sc_run *sr, const step_t *st, client_rt *c)
{
    const ack_args *a = &st->u.ack;
    int id = a->packet_id.kind == NM_SAVED ? saved_packet_id(sr, a->packet_id.saved)
                                           : (int)a->packet_id.lo;
    if (id <= 0) {
        step_error(sr, "no packet id saved as %s", a->packet_id.saved ? a->packet_id.saved : "?");
        return;
    }
    mqtt_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = a->packet_type;
    pkt.version = c->def->protocol;
    pkt.u.ack.packet_id = (uint16_t)id;
    pkt.u.ack.reason = a->reason;
    pkt.u.ack.has_reason = a->reason != 0;
    if (a->packet_type == MQTT_PUBACK || a->packet_type == MQTT_PUBCOMP ||
        (a->packet_type == MQTT_PUBREC && a->reason >= 0x80))
        held_release(c, (uint16_t)id);
    do_send_packet(sr, c, &pkt, WF_NONE);
}

static void do_send_bytes(sc_run *sr, const step_t *st, client_rt *c)
{
    char err[256] = "";
    if (st->u.send.pace.chunk) {
        start_paced(sr, st->u.send.bytes, st->u.send.len, NULL, st->u.send.pace, WF_NONE);
        return;
    }
    if (c->drv->send_bytes(c->conn, st->u.send.bytes, st->u.send.len, err, sizeof err) != 0)
        step_error(sr, "could not send bytes: %s", err);
    else
        step_done(sr);
}

/* A client on a slow link: `len` bytes go out pace.chunk at a time, pace.pause
 * apart. `owned` (or NULL) is freed with the run. After the last write the
 * step is done (then WF_NONE) or waits for the broker's answer (WF_CONNACK). */
static void start_paced(sc_run *sr, const uint8_t *bytes, size_t len, uint8_t *owned, pacing pace,
                        wait_for then)
{
    free(sr->paced.owned);
    sr->paced.bytes = bytes;
    sr->paced.owned = owned;
    sr->paced.len = len;
    sr->paced.off = 0;
    sr->paced.pace = pace;
    sr->paced.then = then;
    sr->paced.hide_from = len - connect_password_len(bytes, len);
    paced_write(sr);
}

/* One chunk now, the next after the pause. Ends with the last chunk, or early
 * when the broker closes the connection (check_action_wait). */
static void paced_write(sc_run *sr)
{
    const step_t *st = cur_step(sr);
    client_rt *c = &sr->clients[st->client];
    sr->waiting = WF_NONE;
    if (!c->open || !c->conn) {
        sr->waiting = WF_PACED;
        check_action_wait(sr, c);
        return;
    }
    size_t n = sr->paced.len - sr->paced.off;
    if (n > sr->paced.pace.chunk)
        n = sr->paced.pace.chunk;
    char err[256] = "";
    sr->paced.tracing = true;
    int rc = c->drv->send_bytes(c->conn, sr->paced.bytes + sr->paced.off, n, err, sizeof err);
    sr->paced.tracing = false;
    if (rc != 0) {
        step_error(sr, "could not send bytes: %s", err);
        return;
    }
    sr->paced.off += n;
    if (sr->paced.off < sr->paced.len) {
        wait_until(sr, WF_PACED, loop_now_ms() + sr->paced.pace.pause_ms);
    } else if (sr->paced.then == WF_NONE) {
        step_done(sr);
    } else {
        /* The broker's answer is due from the last byte on. */
        wait_until(sr, sr->paced.then, loop_now_ms() + CONNECT_TIMEOUT_MS);
        check_action_wait(sr, c);
    }
}

/* ---- flood ------------------------------------------------------------------ */

/* Is every connection of the current flood step settled? */
static bool flood_check(sc_run *sr, client_rt *c)
{
    for (size_t i = c->flood_first; i < c->n_flood; i++)
        if (!c->flood[i]->settled)
            return false;
    size_t opened = 0, closed = 0, accepted = 0, refused = 0, n = c->n_flood - c->flood_first;
    for (size_t i = c->flood_first; i < c->n_flood; i++) {
        const flood_conn *f = c->flood[i];
        opened += f->opened;
        closed += f->closed;
        accepted += f->connacked && f->reason == 0;
        refused += f->connacked && f->reason != 0;
    }
    char note[300];
    if (cur_step(sr)->u.flood.connect)
        snprintf(note, sizeof note, "flood: %zu connections with CONNECT: %zu opened, %zu CONNACK "
                                    "accepting, %zu CONNACK refusing, %zu closed by the broker",
                 n, opened, accepted, refused, closed);
    else
        snprintf(note, sizeof note, "flood: %zu connections without CONNECT: %zu opened, %zu "
                                    "closed by the broker",
                 n, opened, closed);
    trace_line t = {.at_ms = loop_now_ms(), .dir = TRACE_NOTE, .text = note};
    on_trace(c, &t);
    sr_note(sr, "step %zu: %s", sr->step + 1, note);
    return true;
}

static void flood_settle(flood_conn *f)
{
    client_rt *c = f->owner;
    sc_run *sr = c->sr;
    if (f->settled)
        return;
    f->settled = true;
    const step_t *st = cur_step(sr);
    if (sr->phase == PH_STEPS && sr->waiting == WF_FLOOD && st && st->client == c->index)
        advance(sr);
}

static void flood_observe(void *ud, obs_t *o)
{
    flood_conn *f = ud;
    bool connect = false;
    if (o->kind == OBS_CLOSED) {
        f->closed = true;
    } else if (o->kind == OBS_PACKET && o->pkt.type == MQTT_CONNACK) {
        f->connacked = true;
        f->reason = o->pkt.u.connack.reason;
        connect = true;
    }
    obs_free(o);
    /* Without CONNECT a connection is settled once open; with it, once answered. */
    if (f->closed || connect)
        flood_settle(f);
}

static void flood_opened(void *ud)
{
    flood_conn *f = ud;
    f->opened = true;
    if (!f->with_connect)
        flood_settle(f);
}

static void flood_trace(void *ud, const trace_line *t)
{
    flood_conn *f = ud;
    if (f->traced)
        on_trace(f->owner, t);
}

static void free_flood(client_rt *c)
{
    for (size_t i = 0; i < c->n_flood; i++) {
        c->drv->free(c->flood[i]->conn);
        free(c->flood[i]);
    }
    free(c->flood);
    c->flood = NULL;
    c->n_flood = c->flood_first = 0;
}

/* Opens the connections of a flood step; the step waits until each is open
 * (or answered, with CONNECT) or closed. Only the first one is traced. */
static void do_flood(sc_run *sr, const step_t *st, client_rt *c)
{
    const flood_args *a = &st->u.flood;
    flood_conn **arr = realloc(c->flood, (c->n_flood + a->connections) * sizeof *arr);
    if (!arr) {
        step_error(sr, "out of memory");
        return;
    }
    c->flood = arr;
    c->flood_first = c->n_flood;
    const run_options *opt = sr->run->opt;
    const char *user = first_of(NULL, c->def->username, opt->username);
    const char *pass = first_of(NULL, c->def->password, opt->password);
    for (uint32_t k = 0; k < a->connections; k++) {
        flood_conn *f = calloc(1, sizeof *f);
        if (!f) {
            step_error(sr, "out of memory");
            return;
        }
        f->owner = c;
        f->traced = k == 0;
        f->with_connect = a->connect;
        /* Client ids of its own: the client's, cut to 19 characters, then 'f'
         * and the connection's number in base 36 (at most 23, alphanumeric). */
        size_t number = c->n_flood;
        char id[24];
        snprintf(id, sizeof id, "%.19sf%c%c%c", c->client_id, "0123456789abcdefghijklmnopqrstuvwxyz"[number / 1296 % 36],
                 "0123456789abcdefghijklmnopqrstuvwxyz"[number / 36 % 36],
                 "0123456789abcdefghijklmnopqrstuvwxyz"[number % 36]);
        conn_params params = {
            .target = &sr->target,
            .protocol = c->def->protocol,
            .auto_ack = true,
            .deadline_ms = loop_now_ms() + CONNECT_TIMEOUT_MS,
            .no_connect = !a->connect,
        };
        mqtt_connect *m = &params.connect;
        m->protocol_name = mqtt_str("MQTT");
        m->protocol_level = c->def->protocol;
        m->clean_start = true;
        m->keep_alive = 60;
        m->client_id = mqtt_str(id);
        if (user) {
            m->has_username = true;
            m->username = mqtt_str(user);
        }
        if (pass) {
            m->has_password = true;
            m->password = mqtt_str(pass);
        }
        conn_sink sink = {.observe = flood_observe, .trace = flood_trace, .opened = flood_opened,
                          .ud = f};
        char err[256] = "";
        c->flood[c->n_flood++] = f;
        f->conn = c->drv->open(sr->run->loop, &params, sink, err, sizeof err);
        if (!f->conn) {
            step_error(sr, "flood: could not start connection %u: %s", k + 1, err);
            return;
        }
    }
    wait_until(sr, WF_FLOOD, loop_now_ms() + CONNECT_TIMEOUT_MS);
    check_action_wait(sr, c);
}

static void begin_expect(sc_run *sr, const step_t *st)
{
    verdict_detail d = {{0}, {0}};
    if (expect_begin(sr, st, &d) != 0) {
        record(sr, V_ERROR, d.expected, d.observed);
        return;
    }
    int64_t deadline = expect_deadline(sr, st);
    int64_t now = loop_now_ms();
    judgement j = expect_judge(sr, st, now, now >= deadline && st->u.expect.kind != EX_NOTHING, &d);
    if (j == J_MET) {
        step_done(sr);
    } else if (j == J_ERROR) {
        record(sr, V_ERROR, d.expected, d.observed);
    } else if (j == J_VIOLATED) {
        record(sr, violation_verdict(sr, st), d.expected, d.observed);
        if (!sr->stopped)
            step_done(sr);
    } else {
        wait_until(sr, WF_EXPECT, deadline);
    }
}

/* Starts the current step. Returns when it must wait or has ended. */
static void begin_step(sc_run *sr)
{
    const step_t *st = cur_step(sr);
    sr->step_started = loop_now_ms();
    client_rt *c = st->client >= 0 ? &sr->clients[st->client] : NULL;
    switch (st->kind) {
    case ST_CONNECT:
        do_connect(sr, st, c);
        break;
    case ST_SUBSCRIBE:
        if (need_open(sr, c))
            do_subscribe(sr, st, c);
        break;
    case ST_UNSUBSCRIBE:
        if (need_open(sr, c))
            do_unsubscribe(sr, st, c);
        break;
    case ST_PUBLISH:
        if (need_open(sr, c))
            do_publish(sr, st, c);
        break;
    case ST_DISCONNECT:
        if (need_open(sr, c))
            do_disconnect(sr, st, c);
        break;
    case ST_DROP:
        if (need_open(sr, c)) {
            c->drv->drop(c->conn, st->u.drop.reset);
            wait_until(sr, WF_CLOSED, loop_now_ms() + ACTION_TIMEOUT_MS);
            check_action_wait(sr, c);
        }
        break;
    case ST_ACK:
        if (need_open(sr, c))
            do_ack(sr, st, c);
        break;
    case ST_OPEN:
        do_open(sr, c);
        break;
    case ST_SEND:
        if (need_open(sr, c))
            do_send_bytes(sr, st, c);
        break;
    case ST_FLOOD:
        do_flood(sr, st, c);
        break;
    case ST_WAIT:
        wait_until(sr, WF_TIMER, sr->step_started + duration_ms(sr, &st->u.wait));
        break;
    case ST_EXPECT:
        begin_expect(sr, st);
        break;
    case ST_RESTART:
        do_restart(sr, st);
        break;
    }
}

static void start_cleanup(sc_run *sr);

/* Runs steps until one has to wait, the steps are over, or the scenario stopped. */
static void advance(sc_run *sr)
{
    if (sr->in_advance) {
        sr->advance_again = true;
        return;
    }
    sr->in_advance = true;
    do {
        sr->advance_again = false;
        while (sr->phase != PH_DONE) {
            if (sr->stopped) {
                clear_wait(sr);
                if (sr->phase == PH_STEPS) {
                    start_cleanup(sr);
                    continue;
                }
                scenario_end(sr);
                break;
            }
            if (sr->waiting != WF_NONE) {
                const step_t *st = cur_step(sr);
                if (sr->waiting == WF_EXPECT) {
                    verdict_detail d = {{0}, {0}};
                    judgement j = expect_judge(sr, st, loop_now_ms(), false, &d);
                    if (j == J_PENDING)
                        break;
                    if (j == J_MET) {
                        step_done(sr);
                    } else {
                        clear_wait(sr);
                        record(sr, j == J_ERROR ? V_ERROR : violation_verdict(sr, st), d.expected,
                               d.observed);
                        if (!sr->stopped)
                            step_done(sr);
                    }
                } else if (sr->waiting == WF_RESTART_CLOSED || sr->waiting == WF_RESTART_DOWN) {
                    /* Closed -> down -> started: it has ended only when no longer waiting. */
                    size_t step_before = sr->step;
                    restart_progress(sr, false);
                    if ((sr->waiting == WF_RESTART_CLOSED || sr->waiting == WF_RESTART_DOWN) &&
                        sr->step == step_before && !sr->stopped)
                        break;
                } else if (sr->waiting != WF_TIMER && st && st->client >= 0) {
                    wait_for before = sr->waiting;
                    size_t step_before = sr->step;
                    check_action_wait(sr, &sr->clients[st->client]);
                    if (sr->waiting == before && sr->step == step_before && !sr->stopped)
                        break;
                } else {
                    break;
                }
            }
            if (sr->stopped)
                continue;
            if (sr->step >= sr->n_steps) {
                if (sr->phase == PH_STEPS) {
                    start_cleanup(sr);
                    continue;
                }
                scenario_end(sr);
                break;
            }
            begin_step(sr);
        }
    } while (sr->advance_again && sr->phase != PH_DONE);
    sr->in_advance = false;
}

/* ---- clean-up ----------------------------------------------------------------- */

static step_t *cleanup_push(sc_run *sr, step_kind kind, int client)
{
    step_t *n = realloc(sr->cleanup, (sr->n_cleanup + 1) * sizeof *n);
    if (!n)
        return NULL;
    sr->cleanup = n;
    step_t *st = &sr->cleanup[sr->n_cleanup++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->client = client;
    return st;
}

/* Every client id the scenario used gets Clean Start 1 with expiry 0 and a
 * DISCONNECT, so no session outlives the scenario; every retained message it
 * set is deleted (an empty retained PUBLISH). */
static void start_cleanup(sc_run *sr)
{
    for (size_t i = 0; i < sr->n_clients; i++) {
        free_connection(&sr->clients[i]);
        free_flood(&sr->clients[i]);
    }
    sr->phase = PH_CLEANUP;
    sr->stopped = false;
    if (sr->n_clients > 0) {
        trace_line t = {.at_ms = loop_now_ms(), .dir = TRACE_NOTE,
                        .text = "--- clean-up: ending the sessions this scenario made ---"};
        on_trace(&sr->clients[0], &t);
    }
    bool retained_cleared = false;
    for (size_t i = 0; i < sr->n_clients; i++) {
        client_rt *c = &sr->clients[i];
        if (!c->client_id[0] || !c->drv || !c->ever_accepted)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen |= sr->clients[k].ever_accepted && !strcmp(sr->clients[k].client_id, c->client_id);
        if (seen)
            continue;
        step_t *st = cleanup_push(sr, ST_CONNECT, (int)i);
        if (!st)
            break;
        st->u.connect.clean_start = true;
        st->u.connect.keep_alive = 60;
        if (c->def->protocol == MQTT_V5)
            st->u.connect.session_expiry = (opt_u32){true, 0};
        for (size_t r = 0; r < sr->n_retained && !retained_cleared; r++) {
            step_t *p = cleanup_push(sr, ST_PUBLISH, (int)i);
            if (!p)
                break;
            p->u.publish.topic = sr->retained_topics[r];
            p->u.publish.payload = "";
            p->u.publish.retain = true;
        }
        retained_cleared = true;
        cleanup_push(sr, ST_DISCONNECT, (int)i);
        /* Isolation check: the session must really be gone. */
        st = cleanup_push(sr, ST_CONNECT, (int)i);
        if (!st)
            break;
        st->u.connect.clean_start = false;
        st->u.connect.keep_alive = 60;
        if (c->def->protocol == MQTT_V5)
            st->u.connect.session_expiry = (opt_u32){true, 0};
        st = cleanup_push(sr, ST_EXPECT, (int)i);
        if (!st)
            break;
        st->u.expect.kind = EX_CONNACK;
        st->u.expect.u.connack.check_session_present = true;
        st->u.expect.u.connack.session_present = false;
        st->u.expect.within.plus_ms = 5000;
        st->spec = "isolation: no session may outlive its scenario";
        cleanup_push(sr, ST_DISCONNECT, (int)i);
    }
    sr->steps = sr->cleanup;
    sr->n_steps = sr->n_cleanup;
    sr->step = 0;
}

/* ---- scenario lifecycle ---------------------------------------------------------- */

static void start_next(run_state *rs);

static void report_in_order(run_state *rs)
{
    while (rs->reported < rs->set->n && rs->done[rs->reported]) {
        if (rs->opt->finished)
            rs->opt->finished(rs->opt->ud, rs->reported + 1, &rs->out->items[rs->reported]);
        rs->reported++;
    }
    if (rs->reported == rs->set->n)
        rs->all_done = true;
}

static void sc_run_free(sc_run *sr)
{
    liveness_stop(sr);
    for (size_t i = 0; i < sr->n_clients; i++) {
        client_rt *c = &sr->clients[i];
        free_connection(c);
        free_flood(c);
        free(c->client_id);
    }
    free(sr->clients);
    free(sr->cleanup);
    free(sr->marks);
    free(sr->saved);
    free(sr->paced.owned);
    free(sr->retained_topics);
    for (size_t i = 0; i < sr->n_strings; i++)
        free(sr->strings[i]);
    free(sr->strings);
    if (sr->own_broker) {
        managed_cleanup(sr->own_broker);
        free(sr->own_broker);
    }
    free(sr);
}

static bool queue_push(run_state *rs, pending_t p, bool front);

static size_t conns_of(const scenario_t *sc)
{
    size_t n = sc->n_clients ? sc->n_clients : 1;
    /* The connections a flood holds count against the budget like clients. */
    for (size_t i = 0; i < sc->n_steps; i++)
        if (sc->steps[i].kind == ST_FLOOD)
            n += sc->steps[i].u.flood.connections;
    return n;
}

/* Teardown happens from a timer so that no driver is freed inside its own callback. */
static void finish_cb(loop_t *loop, void *ud)
{
    sc_run *sr = ud;
    run_state *rs = sr->run;
    scenario_result *r = sr->res;
    r->duration_ms = loop_now_ms() - sr->started;
    if (sr->trace_dropped)
        sr_note(sr, "%zu trace lines beyond the first %d were not kept", sr->trace_dropped,
                MAX_TRACE_LINES);
    size_t index = sr->number - 1;
    int attempt = sr->attempt;
    bool requeue = sr->requeue;
    char why[sizeof sr->requeue_why];
    snprintf(why, sizeof why, "%s", sr->requeue_why);
    rs->active--;
    rs->conns -= conns_of(sr->sc);
    if (sr->sc->exclusive && !sr->own_broker)
        rs->exclusive_active = false;
    sc_run_free(sr);
    if (requeue) {
        /* Nothing of this attempt is kept but the reason: the scenario
         * starts over, with names of its own, when the lowered caps allow. */
        const scenario_t *sc = rs->set->items[index];
        scenario_result_free(r);
        fill_result_header(r, sc);
        int n = ++rs->requeues[index];
        char note[sizeof why + 64];
        snprintf(note, sizeof note, "re-queued (%d) after the broker refused a connection: %s", n, why);
        char **notes = malloc(sizeof *notes);
        if (notes && (notes[0] = strdup(note))) {
            r->notes = notes;
            r->n_notes = 1;
        } else {
            free(notes);
        }
        rs->out->sched.requeued++;
        pending_t p = {.index = index, .attempt = attempt, .gen = ++rs->gen_seq, .res = r};
        if (queue_push(rs, p, true)) {
            start_next(rs);
            return;
        }
        r->verdict = V_ERROR;
        r->reason = strdup("out of memory re-queueing the scenario");
    }
    if (attempt == 0 && rs->opt->retry_failures && (r->verdict == V_FAIL || r->verdict == V_WARN)) {
        /* A failure is run once more, first in the queue, with fresh names:
         * failing again confirms it; passing makes it a race, reported as flaky. */
        scenario_result *again = calloc(1, sizeof *again);
        if (again) {
            fill_result_header(again, rs->set->items[index]);
            pending_t p = {.index = index, .attempt = 1, .res = again};
            if (queue_push(rs, p, true)) {
                start_next(rs);
                return;
            }
            scenario_result_free(again);
            free(again);
        }
    }
    if (attempt == 1) {
        settle_retry(&rs->out->items[index], r);
        scenario_result_free(r);
        free(r);
    }
    rs->done[index] = true;
    report_in_order(rs);
    start_next(rs);
}

static void scenario_end(sc_run *sr)
{
    sr->phase = PH_DONE;
    clear_wait(sr);
    loop_timer_at(sr->run->loop, loop_now_ms(), finish_cb, sr);
}

static char *drivers_text(const sc_run *sr)
{
    char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sr->n_clients && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s=%s", i ? " " : "",
                              sr->clients[i].def->name,
                              sr->clients[i].drv ? sr->clients[i].drv->name : "none");
    return strdup(buf);
}

static void fill_result_header(scenario_result *r, const scenario_t *sc)
{
    r->id = strdup(sc->id);
    r->title = strdup(sc->title);
    r->file = strdup(sc->file);
    r->spec = calloc(sc->n_spec ? sc->n_spec : 1, sizeof *r->spec);
    for (size_t i = 0; r->spec && i < sc->n_spec; i++)
        r->spec[r->n_spec++] = strdup(sc->spec[i]);
    r->level = strdup(level_name(sc->level));
    bool v5 = false, v311 = false;
    for (size_t i = 0; i < sc->n_clients; i++) {
        v5 |= sc->clients[i].protocol == MQTT_V5;
        v311 |= sc->clients[i].protocol == MQTT_V311;
    }
    r->protocol = strdup(v5 && v311 ? "5+3.1.1" : v311 ? "3.1.1" : "5");
    r->verdict = V_PASS;
}

/* The first attempt's result stays; the re-run only decides between a
 * confirmed failure and a flaky one. */
static void settle_retry(scenario_result *first, const scenario_result *again)
{
    char note[700];
    if (again->verdict == V_PASS) {
        snprintf(note, sizeof note, "failed once (%s), passed when re-run",
                 first->reason ? first->reason : verdict_name(first->verdict));
        first->verdict = V_FLAKY;
        free(first->reason);
        first->reason = strdup(note);
    } else {
        snprintf(note, sizeof note, "confirmed by a re-run: %s%s%s", verdict_name(again->verdict),
                 again->reason ? ", " : "", again->reason ? again->reason : "");
    }
    char **n = realloc(first->notes, (first->n_notes + 1) * sizeof *n);
    if (!n)
        return;
    first->notes = n;
    if ((first->notes[first->n_notes] = strdup(note)))
        first->n_notes++;
}

/* Runs a pending scenario run into its result. A re-run (attempt 1) and a
 * re-queued start get names of their own, so nothing an earlier attempt left
 * in flight can reach them. */
/* An exclusive scenario restarts its broker or changes what every client
 * sees. When the run's broker is the bundled one, such a scenario gets one
 * of its own (same binary, its own port and data) and runs beside the others;
 * a broker the harness cannot clone (a profile's commands, an external URL)
 * is shared, so the scenario runs alone. */
static bool private_broker_possible(const run_state *rs, const scenario_t *sc)
{
    const managed_broker *m = rs->opt->managed;
    if (!m || m->kind != MB_EMBEDDED)
        return false;
    /* The run's second user lives in the shared broker's password file. */
    for (size_t i = 0; i < sc->n_clients; i++)
        if (sc->clients[i].second_user)
            return false;
    return true;
}

static managed_broker *private_broker_start(run_state *rs, char *err, size_t errcap)
{
    managed_broker *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (managed_embedded(m, rs->opt->managed->log_path, err, errcap) != 0 ||
        managed_start(m, err, errcap) != 0) {
        managed_cleanup(m);
        free(m);
        return NULL;
    }
    return m;
}

static void start_attempt(run_state *rs, const pending_t *p)
{
    size_t index = p->index;
    int attempt = p->attempt;
    scenario_result *r = p->res;
    const scenario_t *sc = rs->set->items[index];
    sc_run *sr = calloc(1, sizeof *sr);
    if (!sr) {
        r->verdict = V_ERROR;
        r->reason = strdup("out of memory");
        rs->done[index] = true;
        return;
    }
    sr->run = rs;
    sr->sc = sc;
    sr->number = index + 1;
    sr->attempt = attempt;
    sr->gen = p->gen;
    sr->epoch = rs->epoch;
    sr->liveness_fd = -1;
    sr->res = r;
    sr->started = loop_now_ms();
    r->started_ms = sr->started - rs->started;
    char gen[16] = "";
    if (p->gen)
        snprintf(gen, sizeof gen, "q%u", p->gen);
    snprintf(sr->ns, sizeof sr->ns, "mqspec/%s/%zu%s%s", rs->prefix, index + 1, attempt ? "r" : "",
             gen);
    sr->clients = calloc(sc->n_clients ? sc->n_clients : 1, sizeof *sr->clients);
    sr->n_clients = sc->n_clients;
    sr->steps = sc->steps;
    sr->n_steps = sc->n_steps;
    rs->active++;
    rs->conns += conns_of(sc);
    sr->target = rs->opt->target;
    if (sc->exclusive && private_broker_possible(rs, sc)) {
        char err[256] = "";
        /* Started before the run when it could be (starting one blocks the
         * loop for tens of milliseconds); a re-run needs a new one. */
        sr->own_broker = rs->prestarted ? rs->prestarted[index] : NULL;
        if (sr->own_broker)
            rs->prestarted[index] = NULL;
        else if (!(sr->own_broker = private_broker_start(rs, err, sizeof err))) {
            record(sr, V_ERROR, "a private broker for this exclusive scenario", err);
            scenario_end(sr);
            return;
        }
        sr->target.port = sr->own_broker->port;
    } else if (sc->exclusive) {
        rs->exclusive_active = true;
    }
    const broker_caps *caps = rs->opt->caps;
    if (caps && caps->has_max_session_expiry && sc->max_session_expiry_asked > caps->max_session_expiry)
        sr_note(sr, "the scenario asks for a Session Expiry of up to %u s; the broker grants at most "
                    "%u s (%s): waits that refer to a client's session_expiry use the granted value",
                sc->max_session_expiry_asked, caps->max_session_expiry,
                caps->max_session_expiry_from);
    if (!sr->clients) {
        record(sr, V_ERROR, "", "out of memory");
        scenario_end(sr);
        return;
    }
    /* Generated ids first: a client_id template may name another client's.
     * Re-queued starts are numbered after the last scenario; re-runs take
     * the upper half of the 3-digit scenario space. */
    size_t name_number = (p->gen ? rs->set->n + p->gen : index + 1) + (size_t)attempt * 23328;
    for (size_t i = 0; i < sc->n_clients; i++) {
        client_rt *c = &sr->clients[i];
        c->sr = sr;
        c->index = (int)i;
        c->def = &sc->clients[i];
        c->client_id = make_client_id(rs->prefix, name_number, (int)i, c->def->name);
    }
    const char *missing = NULL;
    for (size_t i = 0; i < sc->n_clients; i++) {
        client_rt *c = &sr->clients[i];
        if (c->def->client_id) {
            const char *id = sr_expand(sr, c->def->client_id);
            free(c->client_id);
            c->client_id = strdup(id ? id : "");
        }
        const char *want = c->def->driver ? c->def->driver : sc->driver;
        c->drv = driver_for(c->def->needs, want);
        if (!c->drv && !missing)
            missing = c->def->name;
    }
    r->drivers = drivers_text(sr);
    r->ns = strdup(sr->ns);
    r->client_names = calloc(sr->n_clients ? sr->n_clients : 1, sizeof *r->client_names);
    r->client_ids = calloc(sr->n_clients ? sr->n_clients : 1, sizeof *r->client_ids);
    for (size_t i = 0; r->client_names && r->client_ids && i < sr->n_clients; i++) {
        r->client_names[i] = strdup(sr->clients[i].def->name);
        r->client_ids[i] = strdup(sr->clients[i].client_id);
        r->n_clients = i + 1;
    }
    if (missing || !r->drivers) {
        sr->stopped = true;
        record(sr, V_ERROR, "a driver with the capabilities the steps need",
               missing ? "no driver can run client's steps (see the scenario's driver choice)"
                       : "out of memory");
        if (missing)
            sr_note(sr, "client %s needs capabilities no available driver has", missing);
        scenario_end(sr);
        return;
    }
    advance(sr);
}

/* ---- scheduling ------------------------------------------------------------------ */

#define MAX_REQUEUES 8

static bool queue_push(run_state *rs, pending_t p, bool front)
{
    pending_t *q = realloc(rs->queue, (rs->n_queue + 1) * sizeof *q);
    if (!q)
        return false;
    rs->queue = q;
    if (front) {
        memmove(q + 1, q, rs->n_queue * sizeof *q);
        q[0] = p;
    } else {
        q[rs->n_queue] = p;
    }
    rs->n_queue++;
    return true;
}

/* Starts queued scenario runs while the caps allow. The head of the queue
 * waits for room rather than letting smaller ones pass it: it is the longest
 * expected, the one that decides when the run ends. An exclusive scenario
 * (it restarts the broker, say) starts only when nothing else runs, and
 * nothing starts beside it. A scenario may always run alone, whatever the caps. */
static void start_next(run_state *rs)
{
    while (rs->n_queue > 0 && !rs->exclusive_active) {
        pending_t p = rs->queue[0];
        const scenario_t *sc = rs->set->items[p.index];
        bool alone = sc->exclusive && !private_broker_possible(rs, sc);
        if (rs->active > 0 && (alone || rs->active >= rs->max_active ||
                               rs->conns + conns_of(sc) > rs->max_conns))
            break;
        memmove(rs->queue, rs->queue + 1, (rs->n_queue - 1) * sizeof *rs->queue);
        rs->n_queue--;
        char why[256];
        if (p.first && (broker_caps_gap(rs->opt->caps, sc->requires, why, sizeof why) ||
                        broker_caps_limit_gap(rs->opt->caps, sc, why, sizeof why))) {
            p.res->verdict = V_SKIP;
            p.res->reason = strdup(why);
            rs->done[p.index] = true;
            continue;
        }
        start_attempt(rs, &p);
    }
    report_in_order(rs);
}

/* What the scenario examines next on a connecting client: a refusal or a
 * close is its subject then, not the broker's load. */
typedef enum next_look { NEXT_OTHER, NEXT_CONNACK, NEXT_REFUSAL, NEXT_CLOSE } next_look;

static next_look next_on_client(const sc_run *sr, const client_rt *c, uint8_t code)
{
    for (size_t i = sr->step + 1; i < sr->n_steps; i++) {
        const step_t *st = &sr->steps[i];
        if (st->client != c->index)
            continue;
        if (st->kind != ST_EXPECT)
            return NEXT_OTHER;
        const expect_args *e = &st->u.expect;
        if (e->kind == EX_CLOSED || e->kind == EX_DISCONNECT)
            return NEXT_CLOSE;
        if (e->kind != EX_CONNACK)
            return NEXT_OTHER;
        const connack_expect *ce = &e->u.connack;
        return ce->check_reason_is_error || (ce->check_reason && ce->reason == code) ? NEXT_REFUSAL
                                                                                    : NEXT_CONNACK;
    }
    return NEXT_OTHER;
}

/* The caps halve, once per epoch: scenarios that started before the last
 * lowering were admitted under the old caps, their refusals say nothing new. */
static void lower_parallelism(run_state *rs, sc_run *sr, const char *why)
{
    if (sr->epoch != rs->epoch)
        return;
    rs->epoch++;
    size_t act = rs->max_active < rs->active ? rs->max_active : rs->active;
    size_t con = rs->max_conns < rs->conns ? rs->max_conns : rs->conns;
    rs->max_active = act / 2 ? act / 2 : 1;
    rs->max_conns = con / 2 ? con / 2 : 1;
    char text[512];
    snprintf(text, sizeof text,
             "parallelism lowered to %zu scenarios / %zu connections at once: the broker refused "
             "a connection of %s (%s); it is re-queued",
             rs->max_active, rs->max_conns, sr->sc->id, why);
    run_scheduling *sch = &rs->out->sched;
    result_lowering *l = realloc(sch->lowered, (sch->n_lowered + 1) * sizeof *l);
    if (l) {
        sch->lowered = l;
        l = &l[sch->n_lowered++];
        l->at_ms = loop_now_ms() - rs->started;
        l->max_scenarios = rs->max_active;
        l->max_connections = rs->max_conns;
        l->reason = strdup(text);
    }
    if (rs->opt->notice)
        rs->opt->notice(rs->opt->ud, text);
}

/* The broker turned a connection away, as a busy broker does: a CONNACK
 * "Server busy" / "Quota exceeded" / "Connection rate exceeded" (3.1.1:
 * "Server unavailable"), or the connect refused, reset or closed before
 * CONNACK while the broker still accepts connections. Unless the scenario
 * examines that answer, or runs alone, or was re-queued too often already,
 * it is not judged: it is run again later with fewer beside it. Returns true
 * when re-queued; sets *pending while finding out whether the broker lives. */
static bool refused_requeue(sc_run *sr, client_rt *c, const obs_t *o, int *pending)
{
    run_state *rs = sr->run;
    *pending = 0;
    if (sr->phase != PH_STEPS || sr->sc->exclusive || rs->active < 2 ||
        rs->requeues[sr->number - 1] >= MAX_REQUEUES)
        return false;
    char why[200];
    uint8_t v = c->def->protocol;
    if (o->kind == OBS_PACKET && o->pkt.type == MQTT_CONNACK) {
        uint8_t rc = o->pkt.u.connack.reason;
        bool busy = v == MQTT_V5 ? (rc == 0x89 || rc == 0x97 || rc == 0x9F) : rc == 0x03;
        next_look next = next_on_client(sr, c, rc);
        if (!busy || next == NEXT_REFUSAL || next == NEXT_CLOSE)
            return false;
        snprintf(why, sizeof why, "CONNACK 0x%02X %s", rc, mqtt_reason_name(rc, MQTT_CONNACK, v));
    } else if (o->kind == OBS_CLOSED &&
               (o->cause == CLOSE_REFUSED || o->cause == CLOSE_RESET || o->cause == CLOSE_BY_PEER)) {
        if (next_on_client(sr, c, 0) == NEXT_CLOSE)
            return false;
        sr_check_liveness(sr);
        if (sr->liveness == LIVE_CHECKING) {
            *pending = 1;
            return false;
        }
        /* Accepted and closed at once is how a broker at its connection
         * limit answers (mosquitto, mqspec-broker): it is there. */
        if (sr->liveness != LIVE_ALIVE && !sr->liveness_accepted)
            return false;
        snprintf(why, sizeof why, "%s before CONNACK: %s",
                 o->cause == CLOSE_REFUSED ? "refused" : o->cause == CLOSE_RESET ? "reset" : "closed",
                 o->text);
    } else {
        return false;
    }
    snprintf(sr->requeue_why, sizeof sr->requeue_why, "%s.connect: %s", c->def->name, why);
    lower_parallelism(rs, sr, sr->requeue_why);
    sr->requeue = true;
    sr->stopped = true;
    clear_wait(sr);
    return true;
}

/* A rough length of a scenario, from what it declares: its waits, its quiet
 * periods and the lower bounds of its timing windows. Durations that refer
 * to a granted value take what the scenario asked for. Only the order of
 * starts depends on it. */
static int64_t expected_ms(const scenario_t *sc)
{
    uint32_t sei[64] = {0}, delay[64] = {0}, ka[64] = {0};
    int64_t total = 0;
    for (size_t i = 0; i < sc->n_steps; i++) {
        const step_t *st = &sc->steps[i];
        int ci = st->client >= 0 && st->client < 64 ? st->client : -1;
        const duration_t *d = NULL, *d2 = NULL;
        if (st->kind == ST_CONNECT && ci >= 0 && !st->u.connect.second_connect) {
            const connect_args *a = &st->u.connect;
            sei[ci] = a->session_expiry.set ? a->session_expiry.v : 0;
            delay[ci] = a->has_will && a->will.delay.set ? a->will.delay.v : 0;
            ka[ci] = a->keep_alive;
        } else if (st->kind == ST_DISCONNECT && ci >= 0 && st->u.disconnect.session_expiry.set) {
            sei[ci] = st->u.disconnect.session_expiry.v;
        } else if (st->kind == ST_WAIT) {
            d = &st->u.wait;
        } else if (st->kind == ST_EXPECT) {
            if (st->u.expect.kind == EX_NOTHING)
                d = &st->u.expect.within;
            if (st->u.expect.has_after)
                d2 = &st->u.expect.after;
        }
        const duration_t *ds[2] = {d, d2};
        for (int k = 0; k < 2; k++) {
            if (!ds[k])
                continue;
            double base = 0;
            int dc = ds[k]->client >= 0 && ds[k]->client < 64 ? ds[k]->client : 0;
            switch (ds[k]->ref) {
            case DUR_LITERAL: break;
            case DUR_SESSION_EXPIRY: base = sei[dc]; break;
            case DUR_WILL_DELAY: base = delay[dc]; break;
            case DUR_KEEP_ALIVE: base = ka[dc]; break;
            }
            double times = ds[k]->times > 0 ? ds[k]->times : 1.0;
            total += (int64_t)(base * times * 1000.0) + ds[k]->plus_ms;
        }
    }
    return total;
}

typedef struct order_key {
    size_t index;
    bool exclusive;
    int64_t ms;
} order_key;

static int order_cmp(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->exclusive != y->exclusive)
        return x->exclusive ? 1 : -1;
    if (x->ms != y->ms)
        return x->ms > y->ms ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Longest expected first, so that the longest is not the last to start;
 * exclusive scenarios last, once the shared part of the run is over. */
static int queue_initial(run_state *rs)
{
    size_t n = rs->set->n;
    order_key *k = calloc(n ? n : 1, sizeof *k);
    rs->queue = calloc(n ? n : 1, sizeof *rs->queue);
    if (!k || !rs->queue) {
        free(k);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (order_key){i,
                           rs->set->items[i]->exclusive &&
                               !private_broker_possible(rs, rs->set->items[i]),
                           expected_ms(rs->set->items[i])};
    qsort(k, n, sizeof *k, order_cmp);
    for (size_t i = 0; i < n; i++)
        rs->queue[i] = (pending_t){.index = k[i].index, .first = true,
                                   .res = &rs->out->items[k[i].index]};
    rs->n_queue = n;
    free(k);
    return 0;
}

void runner_make_prefix(char out[7])
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(rnd, 1, sizeof rnd, f) : 0;
    if (f)
        fclose(f);
    uint64_t mix = (uint64_t)loop_now_ms() * 6364136223846793005ull;
    for (int i = 0; i < 6; i++)
        out[i] = alnum[(got == sizeof rnd ? rnd[i] : (unsigned char)(mix >> (i * 8))) % 36];
    /* A letter first: some brokers dislike ids that start with a digit. */
    out[0] = alnum[(unsigned char)out[0] % 26];
    out[6] = '\0';
}

int runner_run(const scenario_set *set, const run_options *opt, run_result *out)
{
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.loop = loop_new();
    rs.done = calloc(set->n ? set->n : 1, sizeof *rs.done);
    rs.requeues = calloc(set->n ? set->n : 1, sizeof *rs.requeues);
    int rc = -1;
    if (!rs.loop || !rs.done || !rs.requeues)
        goto out;
    rs.opt = opt;
    rs.set = set;
    rs.out = out;
    rs.max_active = opt->jobs > 0 ? (size_t)opt->jobs : SIZE_MAX;
    rs.max_conns = opt->max_connections > 0 ? (size_t)opt->max_connections : RUNNER_MAX_CONNECTIONS;
    out->sched.jobs = opt->jobs;
    out->sched.max_connections = rs.max_conns;
    runner_make_prefix(rs.prefix);
    free(out->run_prefix);
    out->run_prefix = strdup(rs.prefix);
    rs.started = loop_now_ms();
    /* Every slot first: results are addressed by index while others are added. */
    for (size_t i = 0; i < set->n; i++)
        if (!run_result_add(out))
            goto out;
    for (size_t i = 0; i < set->n; i++)
        fill_result_header(&out->items[i], set->items[i]);
    if (queue_initial(&rs) != 0)
        goto out;
    for (size_t i = 0; i < set->n; i++) {
        if (!set->items[i]->exclusive || !private_broker_possible(&rs, set->items[i]))
            continue;
        if (!rs.prestarted && !(rs.prestarted = calloc(set->n, sizeof *rs.prestarted)))
            break;
        char err[256];
        rs.prestarted[i] = private_broker_start(&rs, err, sizeof err);     /* NULL: tried again */
    }
    start_next(&rs);
    if (set->n == 0)
        rs.all_done = true;
    loop_run_until(rs.loop, &rs.all_done);
    out->duration_ms = loop_now_ms() - rs.started;
    run_result_count(out);
    rc = 0;
out:
    loop_free(rs.loop);
    free(rs.done);
    free(rs.requeues);
    free(rs.queue);
    for (size_t i = 0; rs.prestarted && i < set->n; i++)
        if (rs.prestarted[i]) {
            managed_cleanup(rs.prestarted[i]);
            free(rs.prestarted[i]);
        }
    free(rs.prestarted);
    return rc;
}
