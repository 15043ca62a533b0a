/* results.h -- the results model: what a run found, independent of how it is shown.
 *
 * What it is for: the runner fills it; every report writer (reports/) reads it.
 * It holds plain strings, not references into the scenario model or the
 * drivers, so a report can be written after both are gone, or (later) from
 * saved JSON.
 *
 * What it is not: a formatter. TAP, JSON, JUnit ... live in reports/.
 */
#ifndef HARNESS_RESULTS_H
#define HARNESS_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum verdict {
    V_PASS,
    V_FAIL,     /* a MUST is violated */
    V_WARN,     /* a SHOULD is not met */
    V_INFO,     /* a MAY / capability / ambiguous point: observed behaviour recorded */
    V_SKIP,     /* not applicable to this broker, with the reason */
    V_ERROR,    /* the harness could not judge */
    V_KNOWN,    /* a failure listed in the broker's baseline */
    V_FLAKY,    /* failed once, passed when re-run: a race, reported, not a verdict on the broker */
    V__COUNT
} verdict_t;

const char *verdict_name(verdict_t v);          /* "pass", "fail", ... */

/* One line of a client's packet log, relative to the scenario's start. */
typedef struct result_trace {
    int64_t at_ms;
    char dir;                   /* '>' sent, '<' received, '-' note */
    char *client;               /* scenario client name */
    char *text;                 /* decoded packet or note */
    char *hex;                  /* wire bytes in hex, or NULL */
} result_trace;

/* Why a scenario did not pass. */
typedef struct result_failure {
    int step;                   /* 1-based step number, 0 if not tied to one */
    int line;                   /* YAML line of that step, 0 if unknown */
    int col;
    char *step_text;            /* "sub.expect: message" */
    char *statement;            /* "v5:MQTT-3.2.2-3", or the scenario's list */
    char *expected;
    char *observed;
} result_failure;

/* A timing measurement the scenario made: shown so a reader can judge margins. */
typedef struct result_timing {
    int step;
    char *what;                 /* "message after drop" */
    int64_t observed_ms;
    int64_t not_before_ms;      /* -1 when no lower bound */
    int64_t by_ms;
} result_timing;

typedef struct scenario_result {
    char *id;
    char *title;
    char *file;
    char **spec;
    size_t n_spec;
    char *level;                /* "must", "should", "may" */
    char *protocol;             /* "5", "3.1.1", "5+3.1.1" */
    verdict_t verdict;
    char *reason;               /* skip / error / info: one line */
    char *drivers;              /* "sub=raw pub=mosquitto" */
    int64_t started_ms;         /* since the run's start */
    int64_t duration_ms;
    bool has_failure;
    result_failure failure;
    result_timing *timings;
    size_t n_timings;
    result_trace *trace;        /* the clients' packet logs, merged by time */
    size_t n_trace;
    char **notes;               /* observations worth reporting (info) */
    size_t n_notes;
    /* The concrete names of this run, so a failure can be replayed exactly. */
    char *ns;                   /* what {ns} expanded to */
    char **client_names;        /* scenario client names ... */
    char **client_ids;          /* ... and the client ids they used */
    size_t n_clients;
    /* Set when the broker's baseline lists this scenario (harness/baseline.h):
     * a fail became V_KNOWN; any other verdict keeps its own, and a pass means
     * the entry is stale. NULL when not listed. */
    char *baseline_reason;
    char *baseline_link;        /* the vendor's issue, or NULL */
} scenario_result;

/* The runner lowered its parallelism because the broker refused a connection. */
typedef struct result_lowering {
    int64_t at_ms;              /* since the run's start */
    size_t max_scenarios;       /* the caps from then on */
    size_t max_connections;
    char *reason;               /* the scenario and what the broker did */
} result_lowering;

/* How the scenarios were scheduled, and what the harness itself cost. */
typedef struct run_scheduling {
    int jobs;                   /* -j N, or 0 for auto */
    size_t max_connections;     /* the connection budget at the start */
    size_t requeued;            /* scenario runs put back after a refusal */
    result_lowering *lowered;
    size_t n_lowered;
    int64_t cpu_user_ms;        /* the harness process's CPU time, -1 unknown */
    int64_t cpu_sys_ms;
} run_scheduling;

/* One thing known about the broker for this run, and where it came from. */
typedef struct result_cap {
    char *name;                 /* "max_session_expiry", "queue_qos0" ... */
    char *value;
    char *source;               /* "probe", "profile", "option", "harness" */
} result_cap;

typedef struct run_result {
    char *harness_version;
    char *broker_url;           /* "mqtt://127.0.0.1:1883", "embedded mqspec-broker" */
    char *run_prefix;           /* the namespace of this run's ids and topics */
    time_t started;             /* wall clock */
    int64_t duration_ms;
    scenario_result *items;
    size_t n_items;
    size_t counts[V__COUNT];
    /* What a report needs to say what exactly was run, against what. Each is
     * NULL (or 0) when unknown, e.g. in results saved by an older mqspec. */
    char *scenarios_sha256;     /* hex SHA-256 over the scenario files' bytes, in path order */
    size_t n_scenario_files;
    char *broker_announced;     /* CONNACK properties of the first accepted MQTT 5 connection */
    char *profile;              /* the broker profile the run used ("ejabberd") */
    char *protocols;            /* versions the broker was taken to speak ("3.1.1"); NULL = all */
    char *timing;               /* the run's timing settings, one line */
    char *baseline_file;        /* the baseline applied, or NULL */
    char *tls;                  /* mqtts:// only: verification, version, client cert; else NULL */
    bool tls_insecure;          /* --insecure: the broker's certificate was not verified */
    run_scheduling sched;
    result_cap *caps;           /* what the probe, the profile and the options said */
    size_t n_caps;
} run_result;

void run_result_init(run_result *r);
/* Appends an empty scenario_result and returns it (NULL on memory failure). */
scenario_result *run_result_add(run_result *r);
void run_result_count(run_result *r);          /* recomputes counts[] */
void run_result_free(run_result *r);
void scenario_result_free(scenario_result *s);

/* A run's exit status per DESIGN.md: 0 if nothing is fail or error, else 1. */
int run_result_exit_code(const run_result *r);

#endif
