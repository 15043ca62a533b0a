/* runner_int.h -- the runner's internal state, shared by runner.c (scheduling
 * and actions), expect.c (judging expectations) and template.c (names).
 * Not part of any interface outside harness/runner*.c, expect.c, template.c.
 */
#ifndef HARNESS_RUNNER_INT_H
#define HARNESS_RUNNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "model.h"
#include "runner.h"

typedef struct run_state run_state;
typedef struct sc_run sc_run;

/* What one client identity observed on its current connection, in arrival
 * order. Expectations take observations; an observation is taken once. */
typedef struct inbox {
    obs_t **items;
    bool *taken;
    size_t n, cap;
} inbox_t;

/* One connection of a `flood` step. Each is its own allocation: the driver
 * holds a pointer to it as the sink's ud. */
typedef struct flood_conn {
    struct client_rt *owner;
    conn_t *conn;
    bool traced;                /* its lines go to the trace (the first of each step) */
    bool with_connect;          /* a CONNECT was sent on it */
    bool settled;               /* opened (no CONNECT), answered (CONNECT), or closed */
    bool opened, closed, connacked;
    uint8_t reason;             /* of the CONNACK */
} flood_conn;

typedef struct client_rt {
    sc_run *sr;
    int index;
    const client_def *def;
    const driver_t *drv;
    conn_t *conn;
    bool open;                  /* the connection exists and is not closed */
    bool ever_accepted;         /* a CONNACK accepted it once: it may have left a session */
    char *client_id;            /* expanded */
    inbox_t inbox;
    /* The server's QoS 1/2 PUBLISH packets on this connection that our ack
     * steps have not yet released (PUBACK, PUBCOMP, or a refusing PUBREC), for
     * `in_flight` (clients with auto_ack: false). Counted on arrival, so a
     * packet the server sent before it read our ack counts as released: the
     * count errs on the server's side. */
    uint8_t held[65536 / 8];
    unsigned held_n, held_peak;
    char held_peak_what[200];   /* the PUBLISH that reached the peak */
    char held_reuse[240];       /* the first new PUBLISH on a packet id still held */
    /* What the last CONNECT / CONNACK / DISCONNECT said, for derived durations. */
    opt_u32 sei_requested;
    opt_u32 sei_granted;
    opt_u32 sei_at_disconnect;
    opt_u32 will_delay;
    uint16_t keep_alive;
    opt_u32 server_keep_alive;
    /* The CONNECT's property lists; kept until the next connect (the raw
     * driver encodes CONNECT only once TCP is up). */
    mqtt_props connect_props;
    mqtt_props will_props;
    /* Connections opened by flood steps, held until the scenario ends. */
    flood_conn **flood;
    size_t n_flood;
    size_t flood_first;         /* the first connection of the current flood step */
} client_rt;

typedef struct named_time {
    char *name;
    int64_t at;
} named_time;

typedef struct saved_id {
    char *name;
    uint16_t packet_id;
} saved_id;

typedef enum sc_phase { PH_STEPS, PH_CLEANUP, PH_DONE } sc_phase;

/* Is the broker still there, after it closed a connection under an
 * expectation? Found out without blocking: a TCP connect in the loop. */
typedef enum liveness { LIVE_UNKNOWN, LIVE_CHECKING, LIVE_ALIVE, LIVE_GONE } liveness;

/* What the current step is waiting for, beyond an expectation. */
typedef enum wait_for {
    WF_NONE,
    WF_CONNACK,         /* connect: CONNACK or close */
    WF_SUBACK,          /* subscribe: SUBACK with packet_id */
    WF_UNSUBACK,
    WF_PUB_DONE,        /* publish: PUBACK / PUBCOMP (or a refusing PUBREC) with packet_id */
    WF_CLOSED,          /* disconnect / drop: our close */
    WF_TIMER,           /* wait */
    WF_EXPECT,          /* an expectation */
    WF_PACED,           /* a paced send or connect: the next write is due */
    WF_FLOOD,           /* flood: every connection opened, answered or closed */
    WF_RESTART_CLOSED,  /* restart_broker: the broker is stopped; every open connection must
                         * see the close */
    WF_RESTART_DOWN     /* restart_broker: down_for runs; then start it again */
} wait_for;

struct sc_run {
    run_state *run;
    const scenario_t *sc;
    size_t number;              /* 1-based, the TAP test number */
    int attempt;                /* 0, or 1 for the re-run of a failure */
    unsigned gen;               /* 0, or the run-wide number of a re-queued start (names) */
    unsigned epoch;             /* the run's parallelism epoch when this started */
    bool requeue;               /* the broker refused a connection: run it again later */
    char requeue_why[256];
    scenario_result *res;
    char ns[64];                /* {ns} */
    client_rt *clients;
    size_t n_clients;
    sc_phase phase;
    const step_t *steps;        /* sc->steps, or the clean-up steps */
    size_t n_steps;
    size_t step;                /* index of the current step */
    step_t *cleanup;            /* synthesised clean-up steps */
    size_t n_cleanup;
    int64_t started;
    int64_t step_started;
    uint64_t step_timer;
    wait_for waiting;
    uint16_t wait_packet_id;
    struct {                    /* the paced write of the current step */
        const uint8_t *bytes;   /* the step's, or `owned` */
        uint8_t *owned;         /* an encoded CONNECT */
        size_t len, off;        /* off: written so far */
        pacing pace;
        wait_for then;          /* after the last write: WF_NONE (done) or WF_CONNACK */
        size_t hide_from;       /* a CONNECT's password: bytes [hide_from, len), never traced */
        bool tracing;           /* inside the driver's write: its trace line is a piece */
    } paced;
    bool in_advance;            /* guards re-entrant advance() */
    bool advance_again;
    named_time *marks;
    size_t n_marks;
    saved_id *saved;
    size_t n_saved;
    char **retained_topics;     /* topics this scenario set retained messages on */
    size_t n_retained;
    char **strings;             /* expansions owned by this scenario run */
    size_t n_strings, cap_strings;
    size_t trace_dropped;
    /* verdict so far */
    bool stopped;               /* a fail or an error ended the steps */
    liveness liveness;          /* reset at every step */
    char liveness_why[160];
    bool liveness_accepted;     /* the check's connection was accepted (then maybe closed) */
    int liveness_fd;            /* -1 when no check is running */
    bool liveness_reading;      /* connected: now watching for an immediate close */
    uint64_t liveness_timer;
    int64_t restart_up_at;      /* restart_broker: when down_for has run out */
    /* Where its clients connect: the run's broker, or for an exclusive
     * scenario on the bundled broker a private one (own port, own data),
     * which lets it run beside the others. */
    target_t target;
    managed_broker *own_broker; /* the private broker, or NULL */
};

/* A scenario run waiting to start. */
typedef struct pending {
    size_t index;
    int attempt;
    unsigned gen;
    bool first;                 /* never started: may still be skipped */
    scenario_result *res;
} pending_t;

struct run_state {
    loop_t *loop;
    const run_options *opt;
    const scenario_set *set;
    run_result *out;
    char prefix[7];
    pending_t *queue;           /* next to start first: longest expected first, exclusive last */
    size_t n_queue;
    size_t active;              /* scenarios running */
    size_t conns;               /* clients they declare */
    size_t max_active;          /* the caps in force; lowered when the broker refuses */
    size_t max_conns;
    unsigned epoch;             /* +1 at every lowering */
    unsigned gen_seq;           /* re-queued starts so far */
    int *requeues;              /* per scenario */
    managed_broker **prestarted; /* per scenario: its private broker, started before the run */
    bool exclusive_active;      /* an exclusive scenario runs: nothing starts beside it */
    size_t reported;            /* scenarios handed to opt->finished */
    bool *done;                 /* per scenario */
    bool all_done;
    int64_t started;
};

/* ---- template.c ---- */
/* Expands {ns}, {run}, {id:NAME} in s; the result is owned by sr. */
const char *sr_expand(sc_run *sr, const char *s);
/* The generated client id of a client: alphanumeric, <= 23 characters. */
char *make_client_id(const char *prefix, size_t scenario_number, int client_index,
                     const char *name);
/* Stores a string for the life of the scenario run and returns it. */
char *sr_keep(sc_run *sr, char *owned);

/* ---- expect.c ---- */
typedef enum judgement { J_PENDING, J_MET, J_VIOLATED, J_ERROR } judgement;

typedef struct verdict_detail {
    char expected[512];
    char observed[1024];
} verdict_detail;

/* Judges the current expectation step. `final` is true when its deadline has
 * come. On J_VIOLATED / J_ERROR, *d says why. */
judgement expect_judge(sc_run *sr, const step_t *st, int64_t now, bool final, verdict_detail *d);
/* Called when an expectation step begins (e.g. `alive` sends PINGREQ). Returns
 * 0, or -1 with d->observed set. */
int expect_begin(sc_run *sr, const step_t *st, verdict_detail *d);
/* The deadline of an expectation step, as an absolute loop time. */
int64_t expect_deadline(sc_run *sr, const step_t *st);

/* ---- shared helpers (runner.c) ---- */
/* Starts finding out whether the broker still accepts connections; the
 * scenario is advanced again when sr->liveness is known. */
void sr_check_liveness(sc_run *sr);
int64_t duration_ms(sc_run *sr, const duration_t *d);
int64_t mark_time(sc_run *sr, const char *name);        /* -1 if not recorded */
int saved_packet_id(sc_run *sr, const char *name);       /* -1 if not saved */
void save_packet_id(sc_run *sr, const char *name, uint16_t id);
void sr_note(sc_run *sr, const char *fmt, ...);
void sr_timing(sc_run *sr, const char *what, int64_t observed, int64_t not_before, int64_t by);
/* Formats a number matcher ("1", "absent", "1..8", "the id of m1 (7)"). */
void num_match_format(sc_run *sr, const num_match *m, char *out, size_t cap);

#endif
