/* json.c -- the machine-readable record of a run: schema "mqspec-results/1".
 *
 * What it is for: one JSON document per run, complete enough that the other
 * reports (JUnit, HTML, the cross-broker matrix) could be produced from it
 * later, and stable enough for other tools to read. Every field is documented
 * in docs/results-json.md; change that file and the schema name together.
 *
 * What it is not: a general JSON library or a reader. Strings go through
 * escape.c, so control characters are escaped and invalid UTF-8 bytes become
 * U+FFFD: the output is always valid UTF-8 JSON (RFC 8259).
 */
#include "reports.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"

static void jstr(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    esc_write(out, s, ESC_JSON);
    fputc('"', out);
}

/* "key": "value" (or null), preceded by a comma unless first. */
static void jkv_str(FILE *out, const char *indent, bool first, const char *key, const char *val)
{
    fprintf(out, "%s\n%s\"%s\": ", first ? "" : ",", indent, key);
    jstr(out, val);
}

static void jkv_int(FILE *out, const char *indent, bool first, const char *key, int64_t val)
{
    fprintf(out, "%s\n%s\"%s\": %" PRId64, first ? "" : ",", indent, key, val);
}

/* Bounds are optional in the model (-1); absent and zero must stay distinct. */
static void jkv_bound(FILE *out, const char *indent, const char *key, int64_t val)
{
    if (val < 0)
        fprintf(out, ",\n%s\"%s\": null", indent, key);
    else
        jkv_int(out, indent, false, key, val);
}

static void write_failure(FILE *out, const scenario_result *s)
{
    if (!s->has_failure) {
        fputs("null", out);
        return;
    }
    const result_failure *f = &s->failure;
    const char *in = "        ";
    fputc('{', out);
    jkv_int(out, in, true, "step", f->step);
    jkv_int(out, in, false, "line", f->line);
    jkv_int(out, in, false, "col", f->col);
    jkv_str(out, in, false, "step_text", f->step_text);
    jkv_str(out, in, false, "statement", f->statement);
    jkv_str(out, in, false, "expected", f->expected);
    jkv_str(out, in, false, "observed", f->observed);
    fputs("\n      }", out);
}

static const char *dir_name(char dir)
{
    return dir == '>' ? "sent" : dir == '<' ? "received" : "note";
}

static void write_scenario(FILE *out, const scenario_result *s)
{
    const char *in = "      ";
    fputs("    {", out);
    jkv_str(out, in, true, "id", s->id);
    jkv_str(out, in, false, "title", s->title);
    jkv_str(out, in, false, "file", s->file);
    fprintf(out, ",\n%s\"spec\": [", in);
    for (size_t i = 0; i < s->n_spec; i++) {
        if (i)
            fputs(", ", out);
        jstr(out, s->spec[i]);
    }
    fputc(']', out);
    jkv_str(out, in, false, "level", s->level);
    jkv_str(out, in, false, "protocol", s->protocol);
    jkv_str(out, in, false, "verdict", verdict_name(s->verdict));
    jkv_str(out, in, false, "reason", s->reason);
    jkv_str(out, in, false, "drivers", s->drivers);
    jkv_int(out, in, false, "started_ms", s->started_ms);
    jkv_int(out, in, false, "duration_ms", s->duration_ms);
    fprintf(out, ",\n%s\"failure\": ", in);
    write_failure(out, s);

    fprintf(out, ",\n%s\"timings\": [", in);
    for (size_t i = 0; i < s->n_timings; i++) {
        const result_timing *t = &s->timings[i];
        const char *tin = "          ";
        fprintf(out, "%s\n        {", i ? "," : "");
        jkv_int(out, tin, true, "step", t->step);
        jkv_str(out, tin, false, "what", t->what);
        jkv_int(out, tin, false, "observed_ms", t->observed_ms);
        jkv_bound(out, tin, "not_before_ms", t->not_before_ms);
        jkv_bound(out, tin, "by_ms", t->by_ms);
        fputs("\n        }", out);
    }
    fprintf(out, "%s]", s->n_timings ? "\n      " : "");

    fprintf(out, ",\n%s\"notes\": [", in);
    for (size_t i = 0; i < s->n_notes; i++) {
        fprintf(out, "%s\n        ", i ? "," : "");
        jstr(out, s->notes[i]);
    }
    fprintf(out, "%s]", s->n_notes ? "\n      " : "");

    /* One line per trace entry: traces are long and read like a log. */
    fprintf(out, ",\n%s\"trace\": [", in);
    for (size_t i = 0; i < s->n_trace; i++) {
        const result_trace *t = &s->trace[i];
        fprintf(out, "%s\n        {\"at_ms\": %" PRId64 ", \"client\": ", i ? "," : "", t->at_ms);
        jstr(out, t->client);
        fprintf(out, ", \"dir\": \"%s\", \"text\": ", dir_name(t->dir));
        jstr(out, t->text);
        fputs(", \"hex\": ", out);
        jstr(out, t->hex);
        fputc('}', out);
    }
    fprintf(out, "%s]", s->n_trace ? "\n      " : "");

    /* Added in 0.1 without a schema bump: readers ignore keys they do not know. */
    jkv_str(out, in, false, "ns", s->ns);
    fprintf(out, ",\n%s\"client_names\": [", in);
    for (size_t i = 0; i < s->n_clients; i++) {
        fputs(i ? ", " : "", out);
        jstr(out, s->client_names ? s->client_names[i] : NULL);
    }
    fprintf(out, "],\n%s\"client_ids\": [", in);
    for (size_t i = 0; i < s->n_clients; i++) {
        fputs(i ? ", " : "", out);
        jstr(out, s->client_ids ? s->client_ids[i] : NULL);
    }
    fprintf(out, "],\n%s\"baseline\": ", in);
    if (s->baseline_reason || s->baseline_link) {
        fputs("{\"reason\": ", out);
        jstr(out, s->baseline_reason);
        fputs(", \"link\": ", out);
        jstr(out, s->baseline_link);
        fputc('}', out);
    } else {
        fputs("null", out);
    }
    fputs("\n    }", out);
}

int json_write_stream(FILE *out, const run_result *r)
{
    const char *in = "  ";
    fputc('{', out);
    jkv_str(out, in, true, "schema", RESULTS_JSON_SCHEMA);
    fprintf(out, ",\n  \"harness\": {\"name\": \"mqspec\", \"version\": ");
    jstr(out, r->harness_version);
    fputs("}", out);
    fprintf(out, ",\n  \"broker\": {\"url\": ");
    jstr(out, r->broker_url);
    fputs(", \"announced\": ", out);
    jstr(out, r->broker_announced);
    fputs(", \"profile\": ", out);
    jstr(out, r->profile);
    fputs(", \"protocols\": ", out);
    jstr(out, r->protocols);
    fputs(", \"capabilities\": [", out);
    for (size_t i = 0; i < r->n_caps; i++) {
        fputs(i ? ", {\"name\": " : "{\"name\": ", out);
        jstr(out, r->caps[i].name);
        fputs(", \"value\": ", out);
        jstr(out, r->caps[i].value);
        fputs(", \"source\": ", out);
        jstr(out, r->caps[i].source);
        fputc('}', out);
    }
    fputs("]}", out);
    jkv_str(out, in, false, "run_prefix", r->run_prefix);
    fprintf(out, ",\n  \"scenario_set\": {\"sha256\": ");
    jstr(out, r->scenarios_sha256);
    fprintf(out, ", \"files\": %zu}", r->n_scenario_files);
    jkv_str(out, in, false, "timing", r->timing);
    jkv_str(out, in, false, "tls", r->tls);
    fprintf(out, ",\n%s\"tls_insecure\": %s", in, r->tls_insecure ? "true" : "false");
    jkv_str(out, in, false, "baseline", r->baseline_file);

    /* 0 is what an unset time_t looks like: say unknown, not 1970. */
    char when[32];
    struct tm tm;
    if (r->started > 0 && gmtime_r(&r->started, &tm) &&
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        jkv_str(out, in, false, "started", when);
    else
        jkv_str(out, in, false, "started", NULL);
    jkv_int(out, in, false, "duration_ms", r->duration_ms);

    const run_scheduling *sc = &r->sched;
    fputs(",\n  \"scheduling\": {\"jobs\": ", out);
    if (sc->jobs > 0)
        fprintf(out, "%d", sc->jobs);
    else
        jstr(out, "auto");
    fprintf(out, ", \"max_connections\": %zu, \"requeued\": %zu, \"lowered\": [", sc->max_connections,
            sc->requeued);
    for (size_t i = 0; i < sc->n_lowered; i++) {
        const result_lowering *l = &sc->lowered[i];
        fprintf(out, "%s{\"at_ms\": %lld, \"max_scenarios\": %zu, \"max_connections\": %zu, \"reason\": ",
                i ? ", " : "", (long long)l->at_ms, l->max_scenarios, l->max_connections);
        jstr(out, l->reason);
        fputc('}', out);
    }
    fputs("], \"harness_cpu_ms\": ", out);
    if (sc->cpu_user_ms >= 0)
        fprintf(out, "{\"user\": %lld, \"sys\": %lld}", (long long)sc->cpu_user_ms,
                (long long)sc->cpu_sys_ms);
    else
        fputs("null", out);
    fputc('}', out);

    size_t counts[V__COUNT] = {0};
    for (size_t i = 0; i < r->n_items; i++) {
        verdict_t v = r->items[i].verdict;
        counts[(int)v < 0 || v >= V__COUNT ? V_ERROR : v]++;
    }
    fputs(",\n  \"counts\": {", out);
    for (int v = 0; v < V__COUNT; v++)
        fprintf(out, "%s\"%s\": %zu", v ? ", " : "", verdict_name((verdict_t)v), counts[v]);
    fputc('}', out);

    fputs(",\n  \"scenarios\": [", out);
    for (size_t i = 0; i < r->n_items; i++) {
        fputs(i ? ",\n" : "\n", out);
        write_scenario(out, &r->items[i]);
    }
    fprintf(out, "%s]\n}\n", r->n_items ? "\n  " : "");
    return ferror(out) ? -1 : 0;
}

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int json_write(const char *path, const run_result *r, char *err, size_t errcap)
{
    if (!path || !*path)
        return fail(err, errcap, "no path for the JSON report");
    if (strcmp(path, "-") == 0) {
        if (json_write_stream(stdout, r) != 0 || fflush(stdout) != 0)
            return fail(err, errcap, "writing the JSON report to stdout: %s", strerror(errno));
        return 0;
    }

    size_t tmplen = strlen(path) + 32;
    char *tmp = malloc(tmplen);
    if (!tmp)
        return fail(err, errcap, "%s: out of memory", path);
    /* Same directory, so the rename is atomic; the pid keeps two runs apart. */
    snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        free(tmp);
        return fail(err, errcap, "%s: %s", path, strerror(e));
    }
    int bad = json_write_stream(f, r);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = -1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = -1;
        e = errno;
    }
    if (bad) {
        remove(tmp);
        free(tmp);
        return fail(err, errcap, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}
