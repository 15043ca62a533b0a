/* html.c -- the conformance report as one self-contained HTML file, and the matrix.
 *
 * What it is for: the document a team hands to a vendor, a customer or an
 * auditor: what was run (harness version, scenario set hash, broker and what
 * it announced, profile, timing settings), the summary by verdict and by
 * area, every scenario with its statements, and every failure with its step,
 * expected / observed and the decoded packet trace. The matrix puts several
 * runs side by side (scenarios x brokers) and marks the rows where they differ.
 *
 * What it is not: a web application. One file, inline CSS, no scripts, no
 * fonts or images, no reference to anything on a network: it must open the
 * same way from an e-mail attachment in ten years. Everything a broker or a
 * scenario author wrote goes through rep_xml.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "reports.h"

static const char css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f7f7f7;border:1px solid #ddd;"
    "padding:.5em;overflow-x:auto;white-space:pre-wrap}"
    ".v{font-weight:bold;padding:0 .4em;border-radius:3px;white-space:nowrap}"
    ".pass{background:#d9f2d9;color:#135a13}.fail{background:#f8d0d0;color:#8a1010}"
    ".error{background:#fbe0c0;color:#7a3d00}.warn{background:#fff3c4;color:#6b5200}"
    ".info{background:#dde8f8;color:#183f73}.skip{background:#eee;color:#555}"
    ".known{background:#ecdcf5;color:#5a2376}.flaky{background:#d6efec;color:#125650}.none{color:#999}"
    "tr.differ td{background:#fff8e0}tr.differ td.id{border-left:4px solid #e0a000}"
    ".failure{border:1px solid #e4b4b4;border-radius:4px;padding:.2em 1em;margin:1em 0}"
    "dt{font-weight:bold}dd{margin:0 0 .4em 1.5em}.muted{color:#666}";

static void x(FILE *out, const char *s)
{
    rep_xml(out, s);
}

static void badge(FILE *out, verdict_t v)
{
    const char *n = verdict_name(v);
    fprintf(out, "<span class=\"v %s\">%s</span>", n, n);
}

static void head(FILE *out, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    x(out, title);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
}

static void kv(FILE *out, const char *k, const char *v)
{
    fprintf(out, "<tr><th>%s</th><td>", k);
    if (v)
        x(out, v);
    else
        fputs("<span class=\"muted\">unknown</span>", out);
    fputs("</td></tr>\n", out);
}

/* Ids are [A-Za-z0-9._-] by the loader's rules, but a saved JSON could hold
 * anything: anchors keep only what is safe in a fragment. */
static void anchor(FILE *out, const char *id)
{
    fputs("s-", out);
    for (const char *p = id ? id : ""; *p; p++)
        fputc((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '-' || *p == '_'
                  ? *p
                  : '_',
              out);
}

static void header(FILE *out, const run_result *r)
{
    char ann[1024];
    const char *announced = rep_announced(r, ann, sizeof ann);
    if (r->tls_insecure)
        fputs("<p class=\"insecure\"><strong>Warning: run with <code>--insecure</code>: the "
              "broker's TLS certificate was not verified, so these results do not show which "
              "server answered.</strong></p>\n", out);
    fputs("<table>\n", out);
    kv(out, "broker", r->broker_url);
    if (r->tls)
        kv(out, r->tls_insecure ? "TLS (NOT VERIFIED)" : "TLS", r->tls);
    fputs("<tr><th>broker announced</th><td>", out);
    if (announced)
        x(out, announced);
    else
        fputs("not probed", out);
    fputs("</td></tr>\n", out);
    kv(out, "profile", r->profile);
    if (r->n_caps) {
        char caps[1500];
        rep_caps_text(r, caps, sizeof caps);
        kv(out, "capabilities", caps);
    }
    kv(out, "MQTT versions tested", r->protocols ? r->protocols : "5.0 and 3.1.1");
    kv(out, "mqspec", r->harness_version);
    fputs("<tr><th>scenario set</th><td>", out);
    if (r->scenarios_sha256) {
        fprintf(out, "%zu files, SHA-256 <code>", r->n_scenario_files);
        x(out, r->scenarios_sha256);
        fputs("</code>", out);
    } else {
        fputs("<span class=\"muted\">unknown</span>", out);
    }
    fputs("</td></tr>\n<tr><th>started</th><td>", out);
    rep_utc(out, r->started);
    fputs("</td></tr>\n<tr><th>duration</th><td>", out);
    rep_ms(out, r->duration_ms);
    fputs("</td></tr>\n", out);
    kv(out, "timing settings", r->timing);
    kv(out, "run prefix", r->run_prefix);
    if (r->baseline_file)
        kv(out, "baseline", r->baseline_file);
    fputs("</table>\n", out);
}

static void summary(FILE *out, const run_result *r)
{
    size_t c[V__COUNT] = {0};
    for (size_t i = 0; i < r->n_items; i++) {
        verdict_t v = r->items[i].verdict;
        c[(int)v < 0 || v >= V__COUNT ? V_ERROR : v]++;
    }
    fprintf(out, "<h2 id=\"summary\">Summary</h2>\n<p>%zu scenarios.</p>\n<table><tr>", r->n_items);
    for (int v = 0; v < V__COUNT; v++) {
        fputs("<th>", out);
        badge(out, (verdict_t)v);
        fputs("</th>", out);
    }
    fputs("</tr>\n<tr>", out);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, "<td id=\"count-%s\">%zu</td>", verdict_name((verdict_t)v), c[v]);
    fputs("</tr></table>\n", out);

    rep_areas areas;
    if (rep_areas_build(r, &areas) != 0)
        return;
    fputs("<h3>By area</h3>\n<table><tr><th>area</th><th>scenarios</th>", out);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, "<th>%s</th>", verdict_name((verdict_t)v));
    fputs("</tr>\n", out);
    for (size_t a = 0; a < areas.n; a++) {
        fputs("<tr><td>", out);
        x(out, areas.items[a].name);
        fprintf(out, "</td><td>%zu</td>", areas.items[a].total);
        for (int v = 0; v < V__COUNT; v++)
            fprintf(out, areas.items[a].counts[v] ? "<td>%zu</td>" : "<td class=\"none\">%zu</td>",
                    areas.items[a].counts[v]);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    rep_areas_free(&areas);
}

static void spec_list(FILE *out, const scenario_result *s)
{
    for (size_t k = 0; k < s->n_spec; k++) {
        fputs(k ? ", <code>" : "<code>", out);
        x(out, s->spec[k]);
        fputs("</code>", out);
    }
}

static void scenario_table(FILE *out, const run_result *r)
{
    fputs("<h2 id=\"scenarios\">Scenarios</h2>\n<table>\n<tr><th>scenario</th><th>statements</th>"
          "<th>level</th><th>verdict</th><th>duration</th><th>drivers</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_items; i++) {
        const scenario_result *s = &r->items[i];
        bool detailed = s->verdict != V_PASS;
        fputs("<tr><td>", out);
        if (detailed) {
            fputs("<a href=\"#", out);
            anchor(out, s->id);
            fputs("\">", out);
        }
        fputs("<code>", out);
        x(out, s->id);
        fputs("</code>", out);
        if (detailed)
            fputs("</a>", out);
        fputs("<br>", out);
        x(out, s->title);
        fputs("</td><td>", out);
        spec_list(out, s);
        fputs("</td><td>", out);
        x(out, s->level);
        fputs("</td><td>", out);
        badge(out, s->verdict);
        if (s->baseline_reason && s->verdict == V_PASS)
            fputs(" <span class=\"muted\">(listed in the baseline: now passes)</span>", out);
        fputs("</td><td>", out);
        rep_ms(out, s->duration_ms);
        fputs("</td><td>", out);
        x(out, s->drivers);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void dd(FILE *out, const char *k, const char *v)
{
    if (!v)
        return;
    fprintf(out, "<dt>%s</dt><dd>", k);
    x(out, v);
    fputs("</dd>\n", out);
}

static void failure_block(FILE *out, const scenario_result *s, const report_opts *o)
{
    fputs("<div class=\"failure\" id=\"", out);
    anchor(out, s->id);
    fputs("\">\n<h3>", out);
    badge(out, s->verdict);
    fputs(" <code>", out);
    x(out, s->id);
    fputs("</code></h3>\n<p>", out);
    x(out, s->title);
    fputs("</p>\n<dl>\n", out);
    if (s->has_failure) {
        const result_failure *f = &s->failure;
        fputs("<dt>step</dt><dd>", out);
        if (f->step > 0)
            fprintf(out, "%d: ", f->step);
        fputs("<code>", out);
        x(out, f->step_text);
        fputs("</code>", out);
        if (f->line > 0) {
            fputs(" at <code>", out);
            x(out, s->file);
            fprintf(out, ":%d:%d</code>", f->line, f->col > 0 ? f->col : 1);
        }
        fputs("</dd>\n", out);
        dd(out, "statement", f->statement);
        dd(out, "expected", f->expected);
        dd(out, "observed", f->observed);
    }
    dd(out, "reason", s->reason);
    dd(out, "baseline", s->baseline_reason);
    if (s->baseline_link) {
        fputs("<dt>vendor issue</dt><dd><a href=\"", out);
        x(out, s->baseline_link);
        fputs("\">", out);
        x(out, s->baseline_link);
        fputs("</a></dd>\n", out);
    }
    for (size_t k = 0; k < s->n_notes; k++)
        dd(out, "note", s->notes[k]);
    for (size_t k = 0; k < s->n_timings; k++) {
        const result_timing *t = &s->timings[k];
        fprintf(out, "<dt>timing (step %d)</dt><dd>", t->step);
        x(out, t->what);
        fprintf(out, ": observed %" PRId64 " ms", t->observed_ms);
        if (t->not_before_ms >= 0)
            fprintf(out, ", not before %" PRId64 " ms", t->not_before_ms);
        if (t->by_ms >= 0)
            fprintf(out, ", by %" PRId64 " ms", t->by_ms);
        fputs("</dd>\n", out);
    }
    dd(out, "drivers", s->drivers);
    if (s->n_clients) {
        fputs("<dt>client ids</dt><dd>", out);
        for (size_t k = 0; k < s->n_clients; k++) {
            fputs(k ? ", " : "", out);
            x(out, s->client_names[k]);
            fputs("=<code>", out);
            x(out, s->client_ids[k]);
            fputs("</code>", out);
        }
        fputs("</dd>\n", out);
    }
    if (o && o->repro_rel && rep_has_repro(s)) {
        /* A relative link: the reproducers travel with the report. */
        fputs("<dt>reproducer</dt><dd><a href=\"", out);
        x(out, o->repro_rel);
        fputc('/', out);
        x(out, s->id);
        fputs(".yaml\">", out);
        x(out, o->repro_rel);
        fputc('/', out);
        x(out, s->id);
        fputs(".yaml</a> (<code>mqspec run --broker URL FILE</code>)</dd>\n", out);
    }
    fputs("</dl>\n", out);
    if (s->n_trace) {
        fputs("<p>Packet trace (<code>&gt;</code> sent by mqspec, <code>&lt;</code> received from "
              "the broker, <code>-</code> event):</p>\n<pre>",
              out);
        for (size_t k = 0; k < s->n_trace; k++) {
            const result_trace *t = &s->trace[k];
            fprintf(out, "+%-6" PRId64 " ", t->at_ms);
            x(out, t->client ? t->client : "?");
            fputs(t->dir == '>' ? " &gt; " : t->dir == '<' ? " &lt; " : " - ", out);
            x(out, t->text);
            fputc('\n', out);
            if (t->hex) {
                fputs("        ", out);
                x(out, t->hex);
                fputc('\n', out);
            }
        }
        fputs("</pre>\n", out);
    }
    fputs("</div>\n", out);
}

static void statements(FILE *out, const run_result *r)
{
    rep_stmts st;
    const run_result *runs[1] = {r};
    if (rep_stmts_build(runs, 1, &st) != 0)
        return;
    fputs("<h2 id=\"statements\">Statements</h2>\n<table>\n<tr><th>statement</th>"
          "<th>scenarios that check it</th></tr>\n",
          out);
    for (size_t i = 0; i < st.n; i++) {
        fputs("<tr><td><code>", out);
        x(out, st.items[i].stmt);
        fputs("</code></td><td>", out);
        for (size_t k = 0; k < st.items[i].n; k++) {
            const scenario_result *s = rep_find(r, st.items[i].ids[k]);
            fputs(k ? "<br>" : "", out);
            if (s)
                badge(out, s->verdict);
            fputs(" <code>", out);
            x(out, st.items[i].ids[k]);
            fputs("</code>", out);
        }
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
    rep_stmts_free(&st);
}

typedef struct one_in {
    const run_result *r;
    const report_opts *o;
} one_in;

static int write_one(FILE *out, const void *ud)
{
    const one_in *in = ud;
    const run_result *r = in->r;
    char title[512];
    snprintf(title, sizeof title, "mqspec conformance report: %s", rep_broker_name(r));
    head(out, title);
    fputs("<h1>", out);
    x(out, title);
    fputs("</h1>\n", out);
    header(out, r);
    summary(out, r);
    scenario_table(out, r);
    bool any = false;
    for (size_t i = 0; i < r->n_items; i++) {
        const scenario_result *s = &r->items[i];
        if (s->verdict == V_PASS)
            continue;
        if (!any)
            fputs("<h2 id=\"details\">Failures and other verdicts</h2>\n", out);
        any = true;
        failure_block(out, s, in->o);
    }
    statements(out, r);
    fputs("<p class=\"muted\">Made by mqspec ", out);
    x(out, r->harness_version);
    fputs(". Verdicts: pass, fail (a MUST violated), warn (a SHOULD not met), info (recorded, "
          "never failed), skip (not applicable), error (could not judge), known (listed in the "
          "broker's baseline), flaky (failed once, passed when re-run).</p>\n</body>\n</html>\n",
          out);
    return 0;
}

int html_write(const char *path, const run_result *r, const report_opts *o, char *err,
               size_t errcap)
{
    one_in in = {.r = r, .o = o};
    return rep_write_file(path, write_one, &in, err, errcap);
}

/* ---- the matrix ------------------------------------------------------------------ */

typedef struct matrix_in {
    const run_result *const *runs;
    size_t n;
} matrix_in;

/* Row ids in first-seen order across all runs. */
static const char **row_ids(const run_result *const *runs, size_t n, size_t *nrows)
{
    size_t cap = 0;
    for (size_t k = 0; k < n; k++)
        cap += runs[k]->n_items;
    const char **ids = calloc(cap ? cap : 1, sizeof *ids);
    *nrows = 0;
    for (size_t k = 0; ids && k < n; k++) {
        for (size_t i = 0; i < runs[k]->n_items; i++) {
            const char *id = runs[k]->items[i].id;
            bool seen = false;
            for (size_t q = 0; q < *nrows && !seen; q++)
                seen = !strcmp(ids[q], id);
            if (!seen)
                ids[(*nrows)++] = id;
        }
    }
    return ids;
}

static bool row_differs(const run_result *const *runs, size_t n, const char *id)
{
    int first = -2;
    for (size_t k = 0; k < n; k++) {
        const scenario_result *s = rep_find(runs[k], id);
        int v = s ? (int)s->verdict : -1;
        if (first == -2)
            first = v;
        else if (v != first)
            return true;
    }
    return false;
}

static int write_matrix(FILE *out, const void *ud)
{
    const matrix_in *in = ud;
    head(out, "mqspec conformance matrix");
    fputs("<h1>mqspec conformance matrix</h1>\n<h2>Runs</h2>\n<table>\n<tr><th>broker</th><th>URL</th>"
          "<th>mqspec</th><th>scenario set</th><th>started</th><th>pass</th><th>fail</th><th>other</th></tr>\n",
          out);
    const char *hash0 = NULL;
    bool hash_differs = false;
    for (size_t k = 0; k < in->n; k++) {
        const run_result *r = in->runs[k];
        size_t c[V__COUNT] = {0};
        for (size_t i = 0; i < r->n_items; i++)
            c[(int)r->items[i].verdict < V__COUNT ? r->items[i].verdict : V_ERROR]++;
        if (r->scenarios_sha256) {
            if (hash0 && strcmp(hash0, r->scenarios_sha256))
                hash_differs = true;
            hash0 = hash0 ? hash0 : r->scenarios_sha256;
        }
        fputs("<tr><td>", out);
        x(out, rep_broker_name(r));
        fputs("</td><td>", out);
        x(out, r->broker_url);
        fputs("</td><td>", out);
        x(out, r->harness_version);
        fputs("</td><td><code>", out);
        if (r->scenarios_sha256)
            fprintf(out, "%.12s", r->scenarios_sha256);
        fputs("</code></td><td>", out);
        rep_utc(out, r->started);
        fprintf(out, "</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n", c[V_PASS], c[V_FAIL],
                r->n_items - c[V_PASS] - c[V_FAIL]);
    }
    fputs("</table>\n", out);
    if (hash_differs)
        fputs("<p><strong>The runs used different scenario sets</strong> (their hashes differ): "
              "a difference below may come from the scenarios, not the brokers.</p>\n",
              out);

    size_t nrows = 0, ndiff = 0;
    const char **ids = row_ids(in->runs, in->n, &nrows);
    if (!ids)
        return -1;
    for (size_t i = 0; i < nrows; i++)
        ndiff += row_differs(in->runs, in->n, ids[i]);
    fprintf(out, "<h2>Scenarios</h2>\n<p>%zu scenarios; the %zu rows where the brokers differ are "
                 "highlighted.</p>\n<table>\n<tr><th>scenario</th>",
            nrows, ndiff);
    for (size_t k = 0; k < in->n; k++) {
        fputs("<th>", out);
        x(out, rep_broker_name(in->runs[k]));
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t i = 0; i < nrows; i++) {
        bool d = row_differs(in->runs, in->n, ids[i]);
        fputs(d ? "<tr class=\"differ\"><td class=\"id\"><code>" : "<tr><td class=\"id\"><code>", out);
        x(out, ids[i]);
        fputs("</code></td>", out);
        for (size_t k = 0; k < in->n; k++) {
            const scenario_result *s = rep_find(in->runs[k], ids[i]);
            fputs("<td", out);
            if (s && (s->reason || (s->has_failure && s->failure.observed))) {
                fputs(" title=\"", out);
                x(out, s->has_failure && s->failure.observed ? s->failure.observed : s->reason);
                fputs("\"", out);
            }
            fputs(">", out);
            if (s)
                badge(out, s->verdict);
            else
                fputs("<span class=\"none\">not run</span>", out);
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    free(ids);

    rep_stmts st;
    if (rep_stmts_build(in->runs, in->n, &st) != 0)
        return -1;
    fputs("<h2>Statements</h2>\n<p>Per broker, the worst verdict among the scenarios that check the "
          "statement, and how many of them passed.</p>\n<table>\n<tr><th>statement</th>",
          out);
    for (size_t k = 0; k < in->n; k++) {
        fputs("<th>", out);
        x(out, rep_broker_name(in->runs[k]));
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t i = 0; i < st.n; i++) {
        bool d = rep_stmt_differs(in->runs, in->n, &st.items[i]);
        fputs(d ? "<tr class=\"differ\"><td class=\"id\"><code>" : "<tr><td class=\"id\"><code>", out);
        x(out, st.items[i].stmt);
        fputs("</code></td>", out);
        for (size_t k = 0; k < in->n; k++) {
            rep_tally t = rep_stmt_tally(in->runs[k], &st.items[i]);
            fputs("<td>", out);
            if (t.worst) {
                badge(out, t.worst->verdict);
                fprintf(out, " %zu/%zu pass", t.pass, t.run);
            } else {
                fputs("<span class=\"none\">not run</span>", out);
            }
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n</body>\n</html>\n", out);
    rep_stmts_free(&st);
    return 0;
}

int html_matrix_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                      size_t errcap)
{
    matrix_in in = {.runs = runs, .n = nruns};
    return rep_write_file(path, write_matrix, &in, err, errcap);
}
