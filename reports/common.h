/* common.h -- helpers shared by the document writers (JUnit, HTML, Markdown, matrix).
 *
 * What it is for: the few things every human-facing report computes the same
 * way: a scenario's area, the broker's name in a table, what the broker
 * announced, the statement index, escaping for XML / HTML / Markdown, and
 * writing a file so no reader ever sees half of it.
 *
 * What it is not: a template engine, or a public API outside reports/ and
 * the commands that call the writers.
 */
#ifndef REPORTS_COMMON_H
#define REPORTS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../harness/results.h"

/* The area of a scenario id: its second dot-separated part ("will" in
 * "v5.will.delay-respected"); "other" when there is none. */
void rep_area(const char *id, char *out, size_t cap);

/* A short name for the broker of a run: its profile, else its URL. */
const char *rep_broker_name(const run_result *r);

/* What the broker announced, as one line: r->broker_announced when set, else
 * the properties of the first successful MQTT 5 CONNACK found in the traces
 * (written into buf), else NULL. */
const char *rep_announced(const run_result *r, char *buf, size_t cap);
/* "max_session_expiry 300 (profile); queue_qos0 no (profile); ...", one line. */
void rep_caps_text(const run_result *r, char *buf, size_t cap);

/* Verdicts ordered from most to least alarming, for "worst verdict" summaries. */
int rep_verdict_rank(verdict_t v);

/* The areas of a run in first-seen order, with their verdict counts. */
typedef struct rep_area {
    char name[64];
    size_t counts[V__COUNT];
    size_t total;
} rep_area_t;
typedef struct rep_areas {
    rep_area_t *items;
    size_t n;
} rep_areas;
int rep_areas_build(const run_result *r, rep_areas *a);
void rep_areas_free(rep_areas *a);

/* Statements and the scenarios (indexes into one run's items, or positions
 * in a list of ids) that check them, sorted by statement. */
typedef struct rep_stmt {
    const char *stmt;           /* borrowed from a result */
    const char **ids;           /* borrowed scenario ids */
    size_t n;
} rep_stmt;
typedef struct rep_stmts {
    rep_stmt *items;
    size_t n;
} rep_stmts;
int rep_stmts_build(const run_result *const *runs, size_t nruns, rep_stmts *s);
void rep_stmts_free(rep_stmts *s);

/* How one run fared on one statement: the scenarios of it that ran, how many
 * passed, and the worst of them (NULL when none ran). */
typedef struct rep_tally {
    size_t run, pass;
    const scenario_result *worst;
} rep_tally;
rep_tally rep_stmt_tally(const run_result *run, const rep_stmt *stmt);
/* Do the runs' worst verdicts on this statement differ (the matrix highlight)? */
bool rep_stmt_differs(const run_result *const *runs, size_t nruns, const rep_stmt *stmt);

/* The result with this id in a run, or NULL. */
const scenario_result *rep_find(const run_result *r, const char *id);

/* True when a failed scenario gets a reproducer (fail or known). */
bool rep_has_repro(const scenario_result *s);

/* Escaping. Invalid UTF-8 becomes U+FFFD; control characters become a visible
 * "\xNN" (XML 1.0 cannot carry them at all). */
void rep_xml(FILE *out, const char *s);          /* text or attribute value */
void rep_md(FILE *out, const char *s, bool in_table); /* inline Markdown text */
void rep_plain(FILE *out, const char *s);        /* a line of a code block: only controls escaped */
void rep_ms(FILE *out, int64_t ms);              /* "41 ms", "2.6 s" */
void rep_utc(FILE *out, time_t t);               /* "2024-06-10 15:00:00 UTC" or "unknown" */

/* Writes through fn into a temporary file beside `path`, then renames it into
 * place; "-" writes to stdout. Returns 0, or -1 with a message in err. */
int rep_write_file(const char *path, int (*fn)(FILE *out, const void *ud), const void *ud,
                   char *err, size_t errcap);

/* Creates a directory and its parents (mode 0755). Returns 0 or -1 (errno). */
int rep_mkdirs(const char *dir);

#endif
