/* results.c -- building, counting and freeing the results model (results.h).
 *
 * What it is for: the bookkeeping every report writer and the runner share:
 * verdict names, appending scenarios, counting verdicts, the run's exit status,
 * and releasing everything a result owns.
 *
 * What it is not: a formatter (reports/) or a judge (the runner decides
 * verdicts; this file only tallies them).
 */
#include "results.h"

#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[V__COUNT] = {
    [V_PASS] = "pass", [V_FAIL] = "fail",   [V_WARN] = "warn",   [V_INFO] = "info",
    [V_SKIP] = "skip", [V_ERROR] = "error", [V_KNOWN] = "known", [V_FLAKY] = "flaky",
};

const char *verdict_name(verdict_t v)
{
    /* A corrupted or future verdict must still print as something a reader
     * notices rather than crash a report half-way through. */
    if ((int)v < 0 || v >= V__COUNT)
        return "invalid";
    return verdict_names[v];
}

void run_result_init(run_result *r)
{
    memset(r, 0, sizeof *r);
    r->sched.cpu_user_ms = -1;
    r->sched.cpu_sys_ms = -1;
}

/* Capacity is not stored in run_result, so it is implied: the array always
 * holds the next power of two at or above n_items. Growing only when n_items
 * reaches a power of two keeps appends amortised O(1) without a new field. */
static bool is_pow2_or_zero(size_t n)
{
    return (n & (n - 1)) == 0;
}

scenario_result *run_result_add(run_result *r)
{
    if (is_pow2_or_zero(r->n_items)) {
        size_t cap = r->n_items ? r->n_items * 2 : 1;
        if (cap < r->n_items || cap > SIZE_MAX / sizeof *r->items)
            return NULL;
        scenario_result *grown = realloc(r->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        r->items = grown;
    }
    /* The pointer returned is valid only until the next append (the array may
     * move): a runner filling several scenarios at once must keep indexes. */
    scenario_result *s = &r->items[r->n_items++];
    memset(s, 0, sizeof *s);
    /* A scenario nobody judged must not read as a pass: conformance reports
     * are trusted for what they claim passed. The runner sets the real one. */
    s->verdict = V_ERROR;
    return s;
}

void run_result_count(run_result *r)
{
    memset(r->counts, 0, sizeof r->counts);
    for (size_t i = 0; i < r->n_items; i++) {
        verdict_t v = r->items[i].verdict;
        /* An out-of-range verdict is a harness bug: count it where it fails the run. */
        if ((int)v < 0 || v >= V__COUNT)
            v = V_ERROR;
        r->counts[v]++;
    }
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void scenario_result_free(scenario_result *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->title);
    free(s->file);
    free_strv(s->spec, s->n_spec);
    free(s->level);
    free(s->protocol);
    free(s->reason);
    free(s->drivers);
    free(s->failure.step_text);
    free(s->failure.statement);
    free(s->failure.expected);
    free(s->failure.observed);
    for (size_t i = 0; i < s->n_timings; i++)
        free(s->timings[i].what);
    free(s->timings);
    for (size_t i = 0; i < s->n_trace; i++) {
        free(s->trace[i].client);
        free(s->trace[i].text);
        free(s->trace[i].hex);
    }
    free(s->trace);
    free_strv(s->notes, s->n_notes);
    free(s->ns);
    free_strv(s->client_names, s->n_clients);
    free_strv(s->client_ids, s->n_clients);
    free(s->baseline_reason);
    free(s->baseline_link);
    /* Leave it empty rather than dangling, so a second free is harmless. */
    memset(s, 0, sizeof *s);
}

void run_result_free(run_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_items; i++)
        scenario_result_free(&r->items[i]);
    free(r->items);
    free(r->harness_version);
    free(r->broker_url);
    free(r->run_prefix);
    free(r->scenarios_sha256);
    free(r->broker_announced);
    free(r->profile);
    free(r->protocols);
    for (size_t i = 0; i < r->n_caps; i++) {
        free(r->caps[i].name);
        free(r->caps[i].value);
        free(r->caps[i].source);
    }
    free(r->caps);
    free(r->timing);
    free(r->tls);
    free(r->baseline_file);
    for (size_t i = 0; i < r->sched.n_lowered; i++)
        free(r->sched.lowered[i].reason);
    free(r->sched.lowered);
    run_result_init(r);
}

int run_result_exit_code(const run_result *r)
{
    /* Read the items, not counts[]: counts may not have been recomputed since
     * the last verdict changed, and the exit status must never be stale. */
    for (size_t i = 0; i < r->n_items; i++) {
        verdict_t v = r->items[i].verdict;
        if (v == V_FAIL || v == V_ERROR || (int)v < 0 || v >= V__COUNT)
            return 1;
    }
    return 0;
}
