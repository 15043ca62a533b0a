/* cmd_report.c -- `mqspec report`: documents from saved JSON results, and the matrix.
 *
 * What it is for: making the HTML, Markdown and JUnit reports (and the
 * reproducers) after a run, maybe elsewhere, from `mqspec run --json` files;
 * and, given several, the cross-broker matrix (scenarios x brokers, rows
 * where they differ highlighted, a summary per statement).
 *
 * What it is not: a judge. Verdicts are shown as saved, except that
 * --baseline may turn a saved fail into known, as `mqspec run` would have.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/outputs.h"
#include "../reports/reports.h"
#include "baseline.h"
#include "cli.h"

static void report_usage(FILE *f)
{
    fputs("usage: mqspec report [OPTIONS] RESULTS.json...\n"
          "\n"
          "Makes reports from results saved by `mqspec run --json`. With one file: the\n"
          "report of that run. With several: the matrix across them (--html, --md) and\n"
          "one JUnit file holding every run (--junit).\n"
          "\n"
          "  --html FILE       self-contained HTML (one run: the report; several: the matrix)\n"
          "  --md FILE         Markdown, likewise\n"
          "  --junit FILE      JUnit XML\n"
          "  --json FILE       the (one) run again as JSON, e.g. after --baseline\n"
          "  --repro DIR       reproducers of the failures (one run; default repro/ beside\n"
          "                    --html/--md when the scenario files are at hand)\n"
          "  --baseline FILE   apply a broker's known failures (one run)\n"
          "\n"
          "exit status: 0 reports written, 1 a report could not be written,\n"
          "             2 bad invocation or unreadable results\n",
          f);
}

int cmd_report(int argc, char **argv)
{
    report_outputs outs = {0};
    const char *baseline_path = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    size_t n = 0;
    if (!inputs)
        return 2;
    int status = 2;
    run_result *runs = NULL;
    size_t loaded = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            report_usage(stdout);
            status = 0;
            goto out;
        } else if (!strcmp(a, "--html")) {
            slot = &outs.html;
        } else if (!strcmp(a, "--md")) {
            slot = &outs.md;
        } else if (!strcmp(a, "--junit")) {
            slot = &outs.junit;
        } else if (!strcmp(a, "--json")) {
            slot = &outs.json;
        } else if (!strcmp(a, "--repro")) {
            slot = &outs.repro;
        } else if (!strcmp(a, "--baseline")) {
            slot = &baseline_path;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mqspec report: unknown option %s (see mqspec report --help)\n", a);
            goto out;
        } else {
            inputs[n++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mqspec report: %s needs a value\n", a);
            goto out;
        }
        *slot = argv[++i];
    }
    if (n == 0) {
        fprintf(stderr, "mqspec report: no results given (mqspec report --help)\n");
        goto out;
    }
    if (!outs.html && !outs.md && !outs.junit && !outs.json && !outs.repro) {
        fprintf(stderr, "mqspec report: nothing to write: give --html, --md, --junit, --json or --repro\n");
        goto out;
    }
    if (n > 1 && (baseline_path || outs.json || outs.repro)) {
        fprintf(stderr, "mqspec report: --baseline, --json and --repro take one results file\n");
        goto out;
    }
    runs = calloc(n, sizeof *runs);
    if (!runs)
        goto out;
    char err[600];
    for (; loaded < n; loaded++) {
        if (json_read_file(inputs[loaded], &runs[loaded], err, sizeof err) != 0) {
            fprintf(stderr, "mqspec report: %s\n", err);
            goto out;
        }
    }
    if (baseline_path) {
        baseline bl;
        if (baseline_load(baseline_path, &bl, err, sizeof err) != 0) {
            fprintf(stderr, "mqspec report: %s\n", err);
            goto out;
        }
        for (size_t i = 0; i < runs[0].n_items; i++)
            baseline_apply(&bl, &runs[0].items[i]);
        free(runs[0].baseline_file);
        runs[0].baseline_file = strdup(baseline_path);
        run_result_count(&runs[0]);
        baseline_free(&bl);
    }
    status = 0;
    if (n == 1) {
        /* The scenario files may not be here (results from another machine):
         * default reproducers only when asked or when the sources exist. */
        bool sources = true;
        for (size_t i = 0; i < runs[0].n_items && sources; i++)
            if (runs[0].items[i].verdict == V_FAIL || runs[0].items[i].verdict == V_KNOWN) {
                FILE *f = runs[0].items[i].file ? fopen(runs[0].items[i].file, "rb") : NULL;
                sources = f != NULL;
                if (f)
                    fclose(f);
            }
        outs.no_repro = !sources;
        if (reports_write_outputs(&runs[0], &outs, stderr) != 0)
            status = 1;
        goto out;
    }
    const run_result **ptrs = calloc(n, sizeof *ptrs);
    if (!ptrs) {
        status = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &runs[i];
    if (outs.html && html_matrix_write(outs.html, ptrs, n, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec report: %s\n", err);
        status = 1;
    }
    if (outs.md && md_matrix_write(outs.md, ptrs, n, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec report: %s\n", err);
        status = 1;
    }
    if (outs.junit && junit_write(outs.junit, ptrs, n, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec report: %s\n", err);
        status = 1;
    }
    free(ptrs);
out:
    for (size_t i = 0; runs && i < loaded; i++)
        run_result_free(&runs[i]);
    free(runs);
    free(inputs);
    return status;
}
