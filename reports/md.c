/* md.c -- the conformance report and the matrix in Markdown (GitHub-flavoured tables).
 *
 * What it is for: the same content as the HTML report (html.c), in a form
 * that can be pasted into an issue or a pull request, or checked in under
 * docs/conformance/ where a diff shows what changed between two runs.
 * Failures carry step, expected / observed and the packet trace in a code
 * block; passing scenarios are one table row each.
 *
 * What it is not: styled. No HTML beyond <br> inside table cells; everything
 * a broker or a scenario author wrote goes through rep_md.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "reports.h"

static void t(FILE *out, const char *s)
{
    rep_md(out, s ? s : "", true);
}

/* Inline code: ids and statements are [A-Za-z0-9.:§_-] in practice; anything
 * with a backtick or a line break falls back to escaped text. */
static void code(FILE *out, const char *s)
{
    if (s && !strpbrk(s, "`\n\r|"))
        fprintf(out, "`%s`", s);
    else
        t(out, s);
}

static void verdict_cell(FILE *out, verdict_t v)
{
    const char *n = verdict_name(v);
    /* Bold for what needs a reader's attention, so it stands out in plain text too. */
    if (v == V_FAIL || v == V_ERROR)
        fprintf(out, "**%s**", n);
    else
        fputs(n, out);
}

static void row_kv(FILE *out, const char *k, const char *v, const char *absent)
{
    fprintf(out, "| %s | ", k);
    if (v)
        t(out, v);
    else
        fputs(absent, out);
    fputs(" |\n", out);
}

typedef struct one_in {
    const run_result *r;
    const report_opts *o;
} one_in;

static void header(FILE *out, const run_result *r)
{
    char ann[1024];
    if (r->tls_insecure)
        fputs("> **Warning: run with `--insecure`: the broker's TLS certificate was not "
              "verified, so these results do not show which server answered.**\n\n", out);
    fputs("| | |\n|---|---|\n", out);
    row_kv(out, "broker", r->broker_url, "unknown");
    row_kv(out, "broker announced", rep_announced(r, ann, sizeof ann), "not probed");
    row_kv(out, "profile", r->profile, "none");
    if (r->tls)
        row_kv(out, r->tls_insecure ? "TLS ⚠ NOT VERIFIED" : "TLS", r->tls, "");
    if (r->n_caps) {
        char caps[1500];
        rep_caps_text(r, caps, sizeof caps);
        row_kv(out, "capabilities", caps, "");
    }
    row_kv(out, "MQTT versions tested", r->protocols ? r->protocols : "5.0 and 3.1.1", "");
    row_kv(out, "mqspec", r->harness_version, "unknown");
    fputs("| scenario set | ", out);
    if (r->scenarios_sha256)
        fprintf(out, "%zu files, SHA-256 `%s`", r->n_scenario_files, r->scenarios_sha256);
    else
        fputs("unknown", out);
    fputs(" |\n| started | ", out);
    rep_utc(out, r->started);
    fputs(" |\n| duration | ", out);
    rep_ms(out, r->duration_ms);
    fputs(" |\n", out);
    row_kv(out, "timing settings", r->timing, "unknown");
    row_kv(out, "run prefix", r->run_prefix, "unknown");
    if (r->baseline_file)
        row_kv(out, "baseline", r->baseline_file, "");
}

static void summary(FILE *out, const run_result *r)
{
    size_t c[V__COUNT] = {0};
    for (size_t i = 0; i < r->n_items; i++)
        c[(int)r->items[i].verdict < V__COUNT ? r->items[i].verdict : V_ERROR]++;
    fprintf(out, "\n## Summary\n\n%zu scenarios.\n\n|", r->n_items);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, " %s |", verdict_name((verdict_t)v));
    fputs("\n|", out);
    for (int v = 0; v < V__COUNT; v++)
        fputs("---:|", out);
    fputs("\n|", out);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, " %zu |", c[v]);
    fputs("\n\n### By area\n\n| area | scenarios |", out);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, " %s |", verdict_name((verdict_t)v));
    fputs("\n|---|---:|", out);
    for (int v = 0; v < V__COUNT; v++)
        fputs("---:|", out);
    fputc('\n', out);
    rep_areas areas;
    if (rep_areas_build(r, &areas) != 0)
        return;
    for (size_t a = 0; a < areas.n; a++) {
        fputs("| ", out);
        t(out, areas.items[a].name);
        fprintf(out, " | %zu |", areas.items[a].total);
        for (int v = 0; v < V__COUNT; v++)
            fprintf(out, " %zu |", areas.items[a].counts[v]);
        fputc('\n', out);
    }
    rep_areas_free(&areas);
}

/* GitHub's heading anchors: lower case, spaces to '-', punctuation dropped. */
static void gh_anchor(FILE *out, const char *id)
{
    for (const char *p = id ? id : ""; *p; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            fputc(ch - 'A' + 'a', out);
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
            fputc(ch, out);
    }
}

static void scenarios(FILE *out, const run_result *r)
{
    fputs("\n## Scenarios\n\n| scenario | statements | level | verdict | duration | drivers |\n"
          "|---|---|---|---|---:|---|\n",
          out);
    for (size_t i = 0; i < r->n_items; i++) {
        const scenario_result *s = &r->items[i];
        fputs("| ", out);
        if (s->verdict != V_PASS) {
            fputs("[", out);
            code(out, s->id);
            fputs("](#", out);
            gh_anchor(out, s->id);
            fputs(")", out);
        } else {
            code(out, s->id);
        }
        fputs("<br>", out);
        t(out, s->title);
        fputs(" | ", out);
        for (size_t k = 0; k < s->n_spec; k++) {
            fputs(k ? ", " : "", out);
            code(out, s->spec[k]);
        }
        fputs(" | ", out);
        t(out, s->level);
        fputs(" | ", out);
        verdict_cell(out, s->verdict);
        if (s->baseline_reason && s->verdict == V_PASS)
            fputs(" (listed in the baseline: now passes)", out);
        fputs(" | ", out);
        rep_ms(out, s->duration_ms);
        fputs(" | ", out);
        t(out, s->drivers);
        fputs(" |\n", out);
    }
}

static void item(FILE *out, const char *k, const char *v)
{
    if (!v)
        return;
    fprintf(out, "- **%s**: ", k);
    rep_md(out, v, false);
    fputc('\n', out);
}

static void failure_block(FILE *out, const scenario_result *s, const report_opts *o)
{
    fputs("\n### ", out);
    /* A heading of the bare id gives GitHub the anchor the table links to. */
    fputs(s->id ? s->id : "(no id)", out);
    fputs("\n\n", out);
    fprintf(out, "**%s**: ", verdict_name(s->verdict));
    rep_md(out, s->title, false);
    fputs("\n\n", out);
    if (s->has_failure) {
        const result_failure *f = &s->failure;
        fputs("- **step**: ", out);
        if (f->step > 0)
            fprintf(out, "%d: ", f->step);
        code(out, f->step_text);
        if (f->line > 0) {
            fputs(" at ", out);
            char at[1200];
            snprintf(at, sizeof at, "%s:%d:%d", s->file ? s->file : "?", f->line, f->col > 0 ? f->col : 1);
            code(out, at);
        }
        fputc('\n', out);
        item(out, "statement", f->statement);
        item(out, "expected", f->expected);
        item(out, "observed", f->observed);
    }
    item(out, "reason", s->reason);
    item(out, "baseline", s->baseline_reason);
    if (s->baseline_link)
        fprintf(out, "- **vendor issue**: <%s>\n", s->baseline_link);
    for (size_t k = 0; k < s->n_notes; k++)
        item(out, "note", s->notes[k]);
    for (size_t k = 0; k < s->n_timings; k++) {
        const result_timing *tm = &s->timings[k];
        fprintf(out, "- **timing** (step %d): ", tm->step);
        rep_md(out, tm->what, false);
        fprintf(out, ": observed %" PRId64 " ms", tm->observed_ms);
        if (tm->not_before_ms >= 0)
            fprintf(out, ", not before %" PRId64 " ms", tm->not_before_ms);
        if (tm->by_ms >= 0)
            fprintf(out, ", by %" PRId64 " ms", tm->by_ms);
        fputc('\n', out);
    }
    item(out, "drivers", s->drivers);
    if (s->n_clients) {
        fputs("- **client ids**: ", out);
        for (size_t k = 0; k < s->n_clients; k++) {
            fputs(k ? ", " : "", out);
            rep_md(out, s->client_names[k], false);
            fputc('=', out);
            code(out, s->client_ids[k]);
        }
        fputc('\n', out);
    }
    if (o && o->repro_rel && rep_has_repro(s))
        fprintf(out, "- **reproducer**: [%s/%s.yaml](%s/%s.yaml)\n", o->repro_rel, s->id,
                o->repro_rel, s->id);
    if (s->n_trace) {
        /* Every line starts with "+N", so no line can close the fence. */
        fputs("\nPacket trace (`>` sent by mqspec, `<` received from the broker, `-` event):\n\n"
              "```text\n",
              out);
        for (size_t k = 0; k < s->n_trace; k++) {
            const result_trace *tr = &s->trace[k];
            fprintf(out, "+%-6" PRId64 " ", tr->at_ms);
            rep_plain(out, tr->client ? tr->client : "?");
            fprintf(out, " %c ", tr->dir == '>' || tr->dir == '<' ? tr->dir : '-');
            rep_plain(out, tr->text);
            fputc('\n', out);
            if (tr->hex) {
                fputs("        ", out);
                rep_plain(out, tr->hex);
                fputc('\n', out);
            }
        }
        fputs("```\n", out);
    }
}

static void statements(FILE *out, const run_result *r)
{
    rep_stmts st;
    const run_result *runs[1] = {r};
    if (rep_stmts_build(runs, 1, &st) != 0)
        return;
    fputs("\n## Statements\n\n| statement | scenarios that check it |\n|---|---|\n", out);
    for (size_t i = 0; i < st.n; i++) {
        fputs("| ", out);
        code(out, st.items[i].stmt);
        fputs(" | ", out);
        for (size_t k = 0; k < st.items[i].n; k++) {
            const scenario_result *s = rep_find(r, st.items[i].ids[k]);
            fputs(k ? "<br>" : "", out);
            if (s)
                verdict_cell(out, s->verdict);
            fputc(' ', out);
            code(out, st.items[i].ids[k]);
        }
        fputs(" |\n", out);
    }
    rep_stmts_free(&st);
}

static int write_one(FILE *out, const void *ud)
{
    const one_in *in = ud;
    const run_result *r = in->r;
    fputs("# mqspec conformance report: ", out);
    rep_md(out, rep_broker_name(r), false);
    fputs("\n\n", out);
    header(out, r);
    summary(out, r);
    scenarios(out, r);
    bool any = false;
    for (size_t i = 0; i < r->n_items; i++) {
        if (r->items[i].verdict == V_PASS)
            continue;
        if (!any)
            fputs("\n## Failures and other verdicts\n", out);
        any = true;
        failure_block(out, &r->items[i], in->o);
    }
    statements(out, r);
    fputs("\nVerdicts: pass, fail (a MUST violated), warn (a SHOULD not met), info (recorded, never "
          "failed), skip (not applicable), error (could not judge), known (listed in the broker's "
          "baseline).\n",
          out);
    return 0;
}

int md_write(const char *path, const run_result *r, const report_opts *o, char *err, size_t errcap)
{
    one_in in = {.r = r, .o = o};
    return rep_write_file(path, write_one, &in, err, errcap);
}

/* ---- the matrix ------------------------------------------------------------------ */

typedef struct matrix_in {
    const run_result *const *runs;
    size_t n;
} matrix_in;

static int write_matrix(FILE *out, const void *ud)
{
    const matrix_in *in = ud;
    fputs("# mqspec conformance matrix\n\n## Runs\n\n| broker | URL | mqspec | scenario set | started | "
          "pass | fail | other |\n|---|---|---|---|---|---:|---:|---:|\n",
          out);
    const char *hash0 = NULL;
    bool hash_differs = false;
    size_t total = 0;
    for (size_t k = 0; k < in->n; k++) {
        const run_result *r = in->runs[k];
        size_t c[V__COUNT] = {0};
        for (size_t i = 0; i < r->n_items; i++)
            c[(int)r->items[i].verdict < V__COUNT ? r->items[i].verdict : V_ERROR]++;
        if (r->scenarios_sha256) {
            hash_differs = hash_differs || (hash0 && strcmp(hash0, r->scenarios_sha256));
            hash0 = hash0 ? hash0 : r->scenarios_sha256;
        }
        total += r->n_items;
        fputs("| ", out);
        t(out, rep_broker_name(r));
        fputs(" | ", out);
        t(out, r->broker_url);
        fputs(" | ", out);
        t(out, r->harness_version);
        fputs(" | ", out);
        if (r->scenarios_sha256)
            fprintf(out, "`%.12s`", r->scenarios_sha256);
        fputs(" | ", out);
        rep_utc(out, r->started);
        fprintf(out, " | %zu | %zu | %zu |\n", c[V_PASS], c[V_FAIL], r->n_items - c[V_PASS] - c[V_FAIL]);
    }
    if (hash_differs)
        fputs("\n**The runs used different scenario sets** (their hashes differ): a difference below "
              "may come from the scenarios, not the brokers.\n",
              out);

    /* Row ids in first-seen order across the runs. */
    const char **ids = calloc(total ? total : 1, sizeof *ids);
    size_t nrows = 0;
    if (!ids)
        return -1;
    for (size_t k = 0; k < in->n; k++)
        for (size_t i = 0; i < in->runs[k]->n_items; i++) {
            const char *id = in->runs[k]->items[i].id;
            bool seen = false;
            for (size_t q = 0; q < nrows && !seen; q++)
                seen = !strcmp(ids[q], id);
            if (!seen)
                ids[nrows++] = id;
        }
    bool *differ = calloc(nrows ? nrows : 1, sizeof *differ);
    if (!differ) {
        free(ids);
        return -1;
    }
    size_t ndiff = 0;
    for (size_t i = 0; i < nrows; i++) {
        int first = -2;
        for (size_t k = 0; k < in->n; k++) {
            const scenario_result *s = rep_find(in->runs[k], ids[i]);
            int v = s ? (int)s->verdict : -1;
            if (first == -2)
                first = v;
            else if (v != first)
                differ[i] = true;
        }
        ndiff += differ[i];
    }
    fprintf(out, "\n## Scenarios\n\n%zu scenarios. The %zu rows where the brokers differ are marked "
                 "**≠**.\n\n| | scenario |",
            nrows, ndiff);
    for (size_t k = 0; k < in->n; k++) {
        fputc(' ', out);
        t(out, rep_broker_name(in->runs[k]));
        fputs(" |", out);
    }
    fputs("\n|---|---|", out);
    for (size_t k = 0; k < in->n; k++)
        fputs("---|", out);
    fputc('\n', out);
    for (size_t i = 0; i < nrows; i++) {
        fprintf(out, "| %s | ", differ[i] ? "**≠**" : "");
        code(out, ids[i]);
        fputs(" |", out);
        for (size_t k = 0; k < in->n; k++) {
            const scenario_result *s = rep_find(in->runs[k], ids[i]);
            fputc(' ', out);
            if (s)
                verdict_cell(out, s->verdict);
            else
                fputs("not run", out);
            fputs(" |", out);
        }
        fputc('\n', out);
    }
    free(differ);
    free(ids);

    rep_stmts st;
    if (rep_stmts_build(in->runs, in->n, &st) != 0)
        return -1;
    fputs("\n## Statements\n\nPer broker, the worst verdict among the scenarios that check the "
          "statement, and how many of them passed.\n\n| | statement |",
          out);
    for (size_t k = 0; k < in->n; k++) {
        fputc(' ', out);
        t(out, rep_broker_name(in->runs[k]));
        fputs(" |", out);
    }
    fputs("\n|---|---|", out);
    for (size_t k = 0; k < in->n; k++)
        fputs("---|", out);
    fputc('\n', out);
    for (size_t i = 0; i < st.n; i++) {
        bool d = rep_stmt_differs(in->runs, in->n, &st.items[i]);
        fprintf(out, "| %s | ", d ? "**≠**" : "");
        code(out, st.items[i].stmt);
        fputs(" |", out);
        for (size_t k = 0; k < in->n; k++) {
            rep_tally t = rep_stmt_tally(in->runs[k], &st.items[i]);
            fputc(' ', out);
            if (t.worst) {
                verdict_cell(out, t.worst->verdict);
                fprintf(out, " %zu/%zu pass", t.pass, t.run);
            } else {
                fputs("not run", out);
            }
            fputs(" |", out);
        }
        fputc('\n', out);
    }
    rep_stmts_free(&st);
    return 0;
}

int md_matrix_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                    size_t errcap)
{
    matrix_in in = {.runs = runs, .n = nruns};
    return rep_write_file(path, write_matrix, &in, err, errcap);
}
