/* outputs.h -- every report file a command asked for, in one call (reports/outputs.c).
 *
 * What it is for: the options --json, --junit, --html, --md and --repro mean
 * the same in `mqspec run` and `mqspec report`.
 *
 * What it is not: a format; see reports.h.
 */
#ifndef REPORTS_OUTPUTS_H
#define REPORTS_OUTPUTS_H

#include <stdbool.h>
#include <stdio.h>

#include "../harness/results.h"

typedef struct report_outputs {
    const char *json, *junit, *html, *md;
    const char *repro;      /* reproducers' folder; default: repro/ beside --html or --md */
    bool no_repro;          /* no reproducers unless --repro was given */
} report_outputs;

/* Writes each requested file; every problem is printed to errs. Returns 0, or
 * -1 if any file could not be written. */
int reports_write_outputs(const run_result *r, const report_outputs *o, FILE *errs);

/* Hex SHA-256 over the files' bytes, in path order (strcmp). */
int rep_sha256_files(const char *const *paths, size_t n, char out[65], char *err, size_t errcap);

#endif
