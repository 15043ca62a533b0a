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

#endif
