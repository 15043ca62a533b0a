/* reports.h -- the report writers: a results model (harness/results.h) in, text out.
 *
 * What it is for: turning what a run found into the formats people and CI read.
 * TAP is streamed while the run goes (one test point per finished scenario);
 * JSON is written once, at the end, as the machine-readable record of a run.
 * Formats: docs/tap-output.md and docs/results-json.md.
 *
 * What it is not: a judge. Writers never change a verdict or reorder scenarios;
 * they only choose how to show them. They know nothing about sockets or YAML.
 */
#ifndef REPORTS_REPORTS_H
#define REPORTS_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../harness/results.h"

/* ---- TAP version 13 (docs/tap-output.md) ---- */

/* "TAP version 13" then the plan "1..N". N = 0 writes a skip-all plan. */
void tap_begin(FILE *out, size_t planned);

/* One test point for a finished scenario; `number` is 1-based and must follow
 * the plan. With verbose, every scenario gets its diagnostics and trace lines
 * get their wire bytes in hex. */
void tap_scenario(FILE *out, size_t number, const scenario_result *r, bool verbose);

/* Comment lines: counts per verdict, the slowest scenarios, the ones that
 * failed; the LAST line is the one-line summary. */
void tap_summary(FILE *out, const run_result *r);

/* The one-line summary without the leading "# " or newline, e.g.
 * "mqspec: 14 scenarios, 11 pass, 1 fail, 1 skip, 1 error in 38.2 s against
 * mqtt://127.0.0.1:1883", for callers that print it somewhere else. */
void report_summary_line(FILE *out, const run_result *r);

/* ---- JSON, schema "mqspec-results/1" (docs/results-json.md) ---- */

#define RESULTS_JSON_SCHEMA "mqspec-results/1"

/* Writes the whole run to `path` ("-" = stdout). A file is written beside its
 * final name and renamed into place, so a reader never sees half a report.
 * Returns 0, or -1 with a one-line message in err (when errcap > 0). */
int json_write(const char *path, const run_result *r, char *err, size_t errcap);

/* The same document on an open stream. Returns 0, or -1 if a write failed. */
int json_write_stream(FILE *out, const run_result *r);

/* Reads a document written by json_write back into *out (initialised here;
 * free with run_result_free). Strict JSON; unknown keys are ignored; the
 * schema must be RESULTS_JSON_SCHEMA. Returns 0, or -1 with
 * "FILE:LINE:COL: message" in err. path "-" reads stdin. */
int json_read_file(const char *path, run_result *out, char *err, size_t errcap);
int json_read_string(const char *name, const char *text, size_t len, run_result *out, char *err,
                     size_t errcap);

/* ---- documents for people and CI (docs/reports.md) ----
 * Each writes the whole file beside its name and renames it into place
 * ("-" = stdout) and returns 0, or -1 with a one-line message in err. */

typedef struct report_opts {
    /* The reproducers' folder relative to the report ("repro"), to link each
     * failure to its YAML; NULL when none were written. */
    const char *repro_rel;
} report_opts;

/* JUnit XML: one <testsuite> per area (per broker and area for several runs). */
int junit_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                size_t errcap);

/* One run, self-contained HTML (inline CSS, no scripts, no network). */
int html_write(const char *path, const run_result *r, const report_opts *o, char *err,
               size_t errcap);
/* The same content in Markdown, for issues, pull requests and docs/. */
int md_write(const char *path, const run_result *r, const report_opts *o, char *err, size_t errcap);

/* Scenarios x brokers, rows where the brokers differ marked, and a summary
 * per statement. */
int html_matrix_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                      size_t errcap);
int md_matrix_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                    size_t errcap);

/* ---- reproducers (reports/repro.c) ----
 * For each failed scenario (fail or known) of r, DIR/ID.yaml: the scenario's
 * source with this run's names filled in and client ids pinned. Returns the
 * number written, or -1 with a message in err. */
int repro_write_all(const char *dir, const run_result *r, char *err, size_t errcap);

#endif
