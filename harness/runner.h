/* runner.h -- running scenarios against a broker: the public entry point.
 *
 * What it is for: taking loaded scenarios (model.h) and a target, driving every
 * client through one event loop (loop.h) with the drivers (driver.h), judging
 * each expectation as observations arrive, and filling the results model
 * (results.h). Scenarios run side by side, isolated by a per-run prefix.
 *
 * What it is not: the command line (cmd_run.c), YAML (load.c) or formatting
 * (reports/). The runner streams finished scenarios to a callback, in order.
 */
#ifndef HARNESS_RUNNER_H
#define HARNESS_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"
#include "load.h"
#include "managed.h"
#include "probe.h"
#include "results.h"

/* The default connection budget of -j auto: the whole bundled suite at once
 * (about 200 clients), well below the 1000 of a default mosquitto or
 * mqspec-broker; a broker that refuses sooner lowers it. */
#define RUNNER_MAX_CONNECTIONS 256

typedef struct run_options {
    target_t target;
    int jobs;                   /* at most this many scenarios side by side; 0: auto (as many
                                 * as max_connections allows) */
    int max_connections;        /* budget: the clients the running scenarios declare, summed;
                                 * 0: RUNNER_MAX_CONNECTIONS. A scenario always may run alone. */
    const char *username;       /* defaults for every client, or NULL */
    const char *password;
    /* A second user, for clients with `credentials: second`; NULL: none, and
     * scenarios needing one are skipped. */
    const char *username2;
    const char *password2;
    bool verbose;               /* print every packet live on stderr */
    bool retry_failures;        /* run a fail / warn once more: flaky if it then passes */
    /* What the broker offers; a scenario needing more is skipped. NULL: run all. */
    const broker_caps *caps;
    /* The broker when the harness runs it (restart_broker), else NULL. */
    managed_broker *managed;
    /* Called once per scenario, in scenario order, as soon as it and every
     * scenario before it have finished. `number` is 1-based. */
    void (*finished)(void *ud, size_t number, const scenario_result *r);
    /* Called when the runner changes its schedule (parallelism lowered after
     * a refusal), with one line of text; may be NULL. */
    void (*notice)(void *ud, const char *text);
    void *ud;
} run_options;

/* Runs every scenario of the set and fills *out (which the caller has
 * initialised with run_result_init). Returns 0, or -1 if the run could not start
 * (memory, loop); scenario-level problems are verdicts, not return values. */
int runner_run(const scenario_set *set, const run_options *opt, run_result *out);

/* The per-run prefix: 6 lower-case alphanumerics, random per run. */
void runner_make_prefix(char out[7]);

#endif
