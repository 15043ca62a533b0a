/* junit.c -- JUnit XML for CI test views (Jenkins, GitLab, GitHub test reporters).
 *
 * What it is for: letting a CI system count and list mqspec's verdicts with no
 * glue code. One <testsuite> per scenario area (the second part of the id,
 * `will` in `v5.will.delay-respected`), one <testcase> per scenario; fail is
 * <failure type="verdict">, error is <error>, skip and known are <skipped>
 * with the reason. The text carries step, expected, observed and the packet
 * trace, so a CI page alone explains the failure. Several runs (`mqspec
 * report A.json B.json --junit F`) give suites named "BROKER: area".
 *
 * What it is not: a place for warn and info, which JUnit cannot express: they
 * pass, with their reason in <system-out>. Not the HTML report either.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "reports.h"

typedef struct junit_in {
    const run_result *const *runs;
    size_t n;
} junit_in;

static void attr(FILE *out, const char *name, const char *val)
{
    fprintf(out, " %s=\"", name);
    rep_xml(out, val ? val : "");
    fputc('"', out);
}

static void secs(FILE *out, const char *name, int64_t ms)
{
    fprintf(out, " %s=\"%" PRId64 ".%03" PRId64 "\"", name, (ms < 0 ? 0 : ms) / 1000,
            (ms < 0 ? 0 : ms) % 1000);
}

static void line(FILE *out, const char *label, const char *val)
{
    if (!val)
        return;
    fprintf(out, "%s: ", label);
    rep_xml(out, val);
    fputc('\n', out);
}

static void details(FILE *out, const scenario_result *s)
{
    if (s->has_failure) {
        const result_failure *f = &s->failure;
        if (f->step > 0) {
            fprintf(out, "step %d", f->step);
            if (f->step_text) {
                fputs(": ", out);
                rep_xml(out, f->step_text);
            }
            if (f->line > 0) {
                fputs(" (", out);
                rep_xml(out, s->file ? s->file : "?");
                fprintf(out, ":%d:%d)", f->line, f->col > 0 ? f->col : 1);
            }
            fputc('\n', out);
        }
        line(out, "statement", f->statement);
        line(out, "expected", f->expected);
        line(out, "observed", f->observed);
    }
    line(out, "reason", s->reason);
    line(out, "baseline", s->baseline_reason);
    line(out, "vendor issue", s->baseline_link);
    for (size_t i = 0; i < s->n_notes; i++)
        line(out, "note", s->notes[i]);
    if (s->n_trace) {
        fputs("trace:\n", out);
        for (size_t i = 0; i < s->n_trace; i++) {
            const result_trace *t = &s->trace[i];
            fprintf(out, "  +%" PRId64 "ms ", t->at_ms);
            rep_xml(out, t->client ? t->client : "?");
            fputs(t->dir == '>' ? " &gt; " : t->dir == '<' ? " &lt; " : " - ", out);
            rep_xml(out, t->text ? t->text : "");
            fputc('\n', out);
        }
    }
}

/* The one-line message attribute: what a CI list view shows. */
static void message(FILE *out, const scenario_result *s)
{
    char buf[1024];
    if (s->has_failure && (s->failure.expected || s->failure.observed))
        snprintf(buf, sizeof buf, "%s%sexpected %s; observed %s",
                 s->failure.statement ? s->failure.statement : "",
                 s->failure.statement ? ": " : "",
                 s->failure.expected ? s->failure.expected : "?",
                 s->failure.observed ? s->failure.observed : "?");
    else
        snprintf(buf, sizeof buf, "%s", s->reason ? s->reason : verdict_name(s->verdict));
    attr(out, "message", buf);
}

static void testcase(FILE *out, const scenario_result *s, const char *classname)
{
    fputs("    <testcase", out);
    attr(out, "classname", classname);
    char name[1024];
    snprintf(name, sizeof name, "%s%s%s", s->id ? s->id : "(no id)", s->title ? ": " : "",
             s->title ? s->title : "");
    attr(out, "name", name);
    secs(out, "time", s->duration_ms);
    fputs(">\n", out);
    switch (s->verdict) {
    case V_PASS: case V_WARN: case V_INFO: case V_FLAKY:
        break;
    case V_FAIL:
        fputs("      <failure", out);
        message(out, s);
        fputs(" type=\"verdict\">", out);
        details(out, s);
        fputs("</failure>\n", out);
        break;
    case V_SKIP: case V_KNOWN: {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s%s", s->verdict == V_KNOWN ? "known failure: " : "",
                 s->reason ? s->reason : s->verdict == V_KNOWN ? "listed in the baseline" : "skipped");
        fputs("      <skipped", out);
        attr(out, "message", buf);
        fputs("/>\n", out);
        break;
    }
    default:
        fputs("      <error", out);
        message(out, s);
        fputs(" type=\"error\">", out);
        details(out, s);
        fputs("</error>\n", out);
        break;
    }
    /* Passing scenarios keep their trace out: it would only bloat CI pages. */
    if (s->verdict == V_WARN || s->verdict == V_INFO || s->verdict == V_SKIP ||
        s->verdict == V_KNOWN || s->verdict == V_FLAKY) {
        fputs("      <system-out>", out);
        fprintf(out, "verdict: %s\n", verdict_name(s->verdict));
        details(out, s);
        fputs("</system-out>\n", out);
    }
    fputs("    </testcase>\n", out);
}

static void counts_attrs(FILE *out, const size_t c[V__COUNT], size_t total)
{
    fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\"", total, c[V_FAIL],
            c[V_ERROR], c[V_SKIP] + c[V_KNOWN]);
}

static void suite(FILE *out, const run_result *r, const char *area, bool prefix_broker)
{
    size_t c[V__COUNT] = {0}, total = 0;
    int64_t ms = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        char a[64];
        rep_area(r->items[i].id, a, sizeof a);
        if (strcmp(a, area) != 0)
            continue;
        verdict_t v = r->items[i].verdict;
        c[(int)v < 0 || v >= V__COUNT ? V_ERROR : v]++;
        total++;
        ms += r->items[i].duration_ms;
    }
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", prefix_broker ? rep_broker_name(r) : "",
             prefix_broker ? ": " : "", area);
    fputs("  <testsuite", out);
    attr(out, "name", name);
    counts_attrs(out, c, total);
    secs(out, "time", ms);
    char ts[32];
    struct tm tm;
    if (r->started > 0 && gmtime_r(&r->started, &tm) &&
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm))
        attr(out, "timestamp", ts);
    fputs(">\n    <properties>\n", out);
    const char *props[][2] = {
        {"broker", r->broker_url}, {"profile", r->profile}, {"mqspec", r->harness_version},
        {"scenario_set_sha256", r->scenarios_sha256}, {"run_prefix", r->run_prefix},
        {"protocols", r->protocols}, {"baseline", r->baseline_file},
    };
    for (size_t k = 0; k < sizeof props / sizeof props[0]; k++) {
        if (!props[k][1])
            continue;
        fputs("      <property", out);
        attr(out, "name", props[k][0]);
        attr(out, "value", props[k][1]);
        fputs("/>\n", out);
    }
    fputs("    </properties>\n", out);
    char classname[256];
    snprintf(classname, sizeof classname, "mqspec.%s%s%s", prefix_broker ? rep_broker_name(r) : "",
             prefix_broker ? "." : "", area);
    for (size_t i = 0; i < r->n_items; i++) {
        char a[64];
        rep_area(r->items[i].id, a, sizeof a);
        if (!strcmp(a, area))
            testcase(out, &r->items[i], classname);
    }
    fputs("  </testsuite>\n", out);
}

static int write_all(FILE *out, const void *ud)
{
    const junit_in *in = ud;
    size_t c[V__COUNT] = {0}, total = 0;
    int64_t ms = 0;
    for (size_t k = 0; k < in->n; k++) {
        const run_result *r = in->runs[k];
        for (size_t i = 0; i < r->n_items; i++) {
            verdict_t v = r->items[i].verdict;
            c[(int)v < 0 || v >= V__COUNT ? V_ERROR : v]++;
        }
        total += r->n_items;
        ms += r->duration_ms;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mqspec\"", out);
    counts_attrs(out, c, total);
    secs(out, "time", ms);
    fputs(">\n", out);
    for (size_t k = 0; k < in->n; k++) {
        const run_result *r = in->runs[k];
        rep_areas areas;
        if (rep_areas_build(r, &areas) != 0)
            return -1;
        for (size_t a = 0; a < areas.n; a++)
            suite(out, r, areas.items[a].name, in->n > 1);
        rep_areas_free(&areas);
    }
    fputs("</testsuites>\n", out);
    return 0;
}

int junit_write(const char *path, const run_result *const *runs, size_t nruns, char *err,
                size_t errcap)
{
    junit_in in = {.runs = runs, .n = nruns};
    return rep_write_file(path, write_all, &in, err, errcap);
}
