/* t-reports.c -- unit tests of the results model and the TAP and JSON writers.
 *
 * What it is for: proving that results.c keeps its bookkeeping straight and
 * that the writers stay well-formed whatever the strings hold (quotes,
 * newlines, control bytes, invalid UTF-8, text that looks like TAP or YAML
 * syntax). It prints TAP.
 *
 * It also serves tests/tap-parse.t, which checks the same sample run with the
 * real consumers: `--emit-tap [--verbose]` prints the sample's TAP report,
 * `--emit-json PATH` writes its JSON report.
 *
 * What it is not: a test of the runner; the run here is built by hand.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../harness/results.h"
#include "../../reports/escape.h"
#include "../../reports/reports.h"
#include "tap.h"

/* ---- building the sample run ---- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("strdup");
        exit(2);
    }
    return d;
}

static char **strv(size_t n, ...)
{
    char **v = calloc(n, sizeof *v);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(va_arg(ap, const char *));
    va_end(ap);
    return v;
}

/* Strings written to break naive writers. */
#define NASTY_TITLE "quotes \"double\" 'single' # hash \\# TODO not a directive\nsecond line\ttab\\"
#define NASTY_CTRL "ctrl \x01\x02\x1b[31m esc \x7f del"
#define NASTY_UTF8                                                                     \
    "bytes \xff\xfe invalid, \xc3\xa9 valid, overlong \xc0\xaf, surrogate \xed\xa0\x80, " \
    "truncated \xe2\x82"
#define NASTY_YAML "line1\nline2\r\n  indented: yes\n- not a list\n  ...\n---\n\"quoted\": x"
#define NASTY_UNICODE "nel \xc2\x85 ls \xe2\x80\xa8 ps \xe2\x80\xa9 bom \xef\xbb\xbf end"

static void add_trace(scenario_result *s, int64_t at, char dir, const char *client,
                      const char *text, const char *hex)
{
    s->trace = realloc(s->trace, (s->n_trace + 1) * sizeof *s->trace);
    result_trace *t = &s->trace[s->n_trace++];
    t->at_ms = at;
    t->dir = dir;
    t->client = xstrdup(client);
    t->text = xstrdup(text);
    t->hex = hex ? xstrdup(hex) : NULL;
}

static scenario_result *add(run_result *r, verdict_t v, const char *id, const char *title)
{
    scenario_result *s = run_result_add(r);
    if (!s) {
        perror("run_result_add");
        exit(2);
    }
    s->verdict = v;
    s->id = xstrdup(id);
    s->title = xstrdup(title);
    s->file = xstrdup("scenarios/sample/sample.yaml");
    s->spec = strv(2, "v5:MQTT-3.1.2-4", "v5:MQTT-3.2.2-3");
    s->n_spec = 2;
    s->level = xstrdup("must");
    s->protocol = xstrdup("5");
    s->drivers = xstrdup("sub=raw pub=mosquitto");
    s->started_ms = (int64_t)r->n_items * 100;
    s->duration_ms = 250;
    return s;
}

/* One scenario of every verdict, in enum order. Scenario pointers are not kept
 * across run_result_add: the array may move. */
static void build_sample(run_result *r)
{
    run_result_init(r);
    r->harness_version = xstrdup("0.1.0-test");
    r->broker_url = xstrdup("mqtt://127.0.0.1:1883");
    r->run_prefix = xstrdup("ab12cd");
    r->started = 1700000000; /* 2023-11-14T22:13:20Z */
    r->duration_ms = 38249;

    scenario_result *s =
        add(r, V_PASS, "v5.clean-start.discards-session", "Clean Start 1 discards a stored session # SKIP not really");
    s->duration_ms = 1200;
    add_trace(s, 0, '>', "sub", "CONNECT c1 clean=1 expiry=300", "10 1a 00 04 4d 51 54 54 05 02");
    add_trace(s, 3, '<', "sub", "CONNACK sp=0 rc=0x00", "20 03 00 00 00");

    s = add(r, V_FAIL, "v5.session-expiry.offline-messages", NASTY_TITLE);
    s->duration_ms = 5400;
    s->has_failure = true;
    s->failure.step = 11;
    s->failure.line = 31;
    s->failure.col = 5;
    s->failure.step_text = xstrdup("sub.expect: messages");
    s->failure.statement = xstrdup("v5:MQTT-3.2.2-3");
    s->failure.expected = xstrdup("messages [m2, m3] in order\n" NASTY_YAML);
    s->failure.observed = xstrdup("nothing within 5000 ms; " NASTY_UTF8);
    s->timings = calloc(2, sizeof *s->timings);
    s->n_timings = 2;
    s->timings[0] = (result_timing){.step = 9, .what = xstrdup("message after resume"),
                                    .observed_ms = 2100, .not_before_ms = -1, .by_ms = 5000};
    s->timings[1] = (result_timing){.step = 10, .what = xstrdup(NASTY_CTRL), .observed_ms = 0,
                                    .not_before_ms = 0, .by_ms = -1};
    add_trace(s, 0, '>', "sub", "CONNECT c1 clean=1 expiry=300", "10 1a");
    add_trace(s, 1234, '>', "publisher", "PUBLISH d0 q1 r0 id=1 t=ab12cd/test " NASTY_YAML,
              "32 0f 00 0b 61 62 31 32 63 64 2f 74 65 73 74 00 01 6d 32 "
              "6d 32 6d 32 6d 32 6d 32 6d 32 6d 32 6d 32 6d 32 6d 32 6d 32 6d 32");
    add_trace(s, 1240, '-', "sub", "note: " NASTY_CTRL " " NASTY_UTF8, NULL);

    s = add(r, V_WARN, "v5.will.delay-should", "Will Delay SHOULD be honoured");
    s->level = (free(s->level), xstrdup("should"));
    s->reason = xstrdup("Will arrived 900 ms early: " NASTY_UNICODE);
    s->has_failure = true;
    s->failure.step = 4;
    s->failure.step_text = xstrdup("watcher.expect: message");
    s->failure.expected = xstrdup("not before 2000 ms");
    s->failure.observed = xstrdup("after 1100 ms");

    s = add(r, V_INFO, "v5.retain.available", "Retain Available is reported");
    s->level = (free(s->level), xstrdup("may"));
    s->reason = xstrdup("broker says Retain Available = 0");
    s->notes = strv(2, "note with \"quotes\" and \\ backslash", NASTY_UNICODE);
    s->n_notes = 2;

    s = add(r, V_SKIP, "v311.only", "3.1.1 only");
    s->reason = xstrdup("broker does not speak 3.1.1 # really\n(refused)");
    s->duration_ms = 0;

    s = add(r, V_ERROR, "v5.takeover.basic", "Takeover closes the old connection");
    s->reason = xstrdup("connection refused: " NASTY_CTRL);
    s->duration_ms = 3000;

    s = add(r, V_KNOWN, "v5.inflight.dup", "Redelivered PUBLISH has DUP set");
    s->reason = xstrdup("vendor ticket #123: DUP flag not set");
    s->has_failure = true;
    s->failure.step = 7;
    s->failure.expected = xstrdup("dup=1");
    s->failure.observed = xstrdup("dup=0");

    s = add(r, V_FLAKY, "v5.will.delay-race", "Will Delay race");
    s->reason = xstrdup("failed once (no PUBLISH within 5.0 s), passed when re-run");
    s->has_failure = true;
    s->failure.step = 3;
    s->failure.expected = xstrdup("PUBLISH payload=\"gone\"");
    s->failure.observed = xstrdup("no PUBLISH within 5.0 s");
    run_result_count(r);
}

/* ---- reading back ---- */

static char *slurp_stream(void (*write)(FILE *, void *), void *ud, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) {
        perror("open_memstream");
        exit(2);
    }
    write(f, ud);
    fclose(f);
    *len = n;
    return buf;
}

static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct tap_args {
    const run_result *r;
    bool verbose;
};

static void write_tap(FILE *f, void *ud)
{
    const struct tap_args *a = ud;
    tap_begin(f, a->r->n_items);
    for (size_t i = 0; i < a->r->n_items; i++)
        tap_scenario(f, i + 1, &a->r->items[i], a->verbose);
    tap_summary(f, a->r);
}

/* The whole buffer is well-formed UTF-8 and has no control byte but '\n'. */
static bool clean_text(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    if (strlen(buf) != len)
        return false;
    while (*s) {
        uint32_t cp;
        size_t n = esc_utf8_next(s, &cp);
        if (n == 0 || (cp < 0x20 && cp != '\n') || cp == 0x7F)
            return false;
        s += n;
    }
    return true;
}

/* The first '#' that TAP::Parser would take as a directive, honouring
 * backslash escapes as its grammar does, or NULL. */
static const char *first_directive_hash(const char *line)
{
    for (const char *p = line; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '#')
            return p;
    }
    return NULL;
}

struct tap_shape {
    size_t tests, not_ok, skip, todo, yaml_open, yaml_close, bad_lines;
    bool numbered_in_order, header_ok;
    char last[512];
};

static struct tap_shape tap_shape(char *buf)
{
    struct tap_shape sh = {.numbered_in_order = true};
    size_t lineno = 0;
    bool in_yaml = false;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"), lineno++) {
        snprintf(sh.last, sizeof sh.last, "%s", line);
        if (lineno == 0) {
            sh.header_ok = strcmp(line, "TAP version 13") == 0;
            continue;
        }
        if (in_yaml) {
            if (strcmp(line, "  ...") == 0) {
                in_yaml = false;
                sh.yaml_close++;
            } else if (strncmp(line, "  ", 2) != 0) {
                sh.bad_lines++;
            }
            continue;
        }
        if (strcmp(line, "  ---") == 0) {
            in_yaml = true;
            sh.yaml_open++;
            continue;
        }
        if (lineno == 1 && strncmp(line, "1..", 3) == 0)
            continue;
        if (line[0] == '#')
            continue;
        bool not_ok = strncmp(line, "not ok ", 7) == 0;
        if (!not_ok && strncmp(line, "ok ", 3) != 0) {
            sh.bad_lines++;
            continue;
        }
        sh.tests++;
        sh.not_ok += not_ok;
        char *rest;
        unsigned long num = strtoul(line + (not_ok ? 7 : 3), &rest, 10);
        if (num != sh.tests || strncmp(rest, " - ", 3) != 0)
            sh.numbered_in_order = false;
        const char *hash = first_directive_hash(rest);
        if (hash && strncmp(hash, "# SKIP", 6) == 0)
            sh.skip++;
        else if (hash && strncmp(hash, "# TODO", 6) == 0)
            sh.todo++;
        else if (hash)
            sh.bad_lines++;
    }
    return sh;
}

/* ---- a strict JSON checker (RFC 8259), enough to reject what we might get wrong ---- */

struct jp {
    const unsigned char *s;
    int depth;
};

static void jp_ws(struct jp *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static bool jp_value(struct jp *p);

static bool jp_string(struct jp *p)
{
    if (*p->s++ != '"')
        return false;
    for (;;) {
        unsigned char c = *p->s;
        if (c == '"') {
            p->s++;
            return true;
        }
        if (c < 0x20)
            return false; /* includes the terminating NUL */
        if (c == '\\') {
            c = p->s[1];
            if (c == 'u') {
                for (int i = 2; i < 6; i++)
                    if (!strchr("0123456789abcdefABCDEF", p->s[i]) || !p->s[i])
                        return false;
                p->s += 6;
            } else if (c && strchr("\"\\/bfnrt", c)) {
                p->s += 2;
            } else {
                return false;
            }
            continue;
        }
        uint32_t cp;
        size_t n = esc_utf8_next(p->s, &cp);
        if (n == 0)
            return false;
        p->s += n;
    }
}

static bool jp_number(struct jp *p)
{
    const unsigned char *s = p->s;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return false;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    p->s = s;
    return true;
}

static bool jp_seq(struct jp *p, char close, bool object)
{
    p->s++;
    jp_ws(p);
    if (*p->s == close) {
        p->s++;
        return true;
    }
    for (;;) {
        jp_ws(p);
        if (object) {
            if (!jp_string(p))
                return false;
            jp_ws(p);
            if (*p->s++ != ':')
                return false;
        }
        if (!jp_value(p))
            return false;
        jp_ws(p);
        if (*p->s == close) {
            p->s++;
            return true;
        }
        if (*p->s++ != ',')
            return false;
    }
}

static bool jp_value(struct jp *p)
{
    bool good;
    jp_ws(p);
    if (++p->depth > 64)
        return false;
    switch (*p->s) {
    case '{': good = jp_seq(p, '}', true); break;
    case '[': good = jp_seq(p, ']', false); break;
    case '"': good = jp_string(p); break;
    case 't': good = strncmp((const char *)p->s, "true", 4) == 0 && (p->s += 4); break;
    case 'f': good = strncmp((const char *)p->s, "false", 5) == 0 && (p->s += 5); break;
    case 'n': good = strncmp((const char *)p->s, "null", 4) == 0 && (p->s += 4); break;
    default: good = jp_number(p); break;
    }
    p->depth--;
    return good;
}

static bool json_valid(const char *buf, size_t len)
{
    if (strlen(buf) != len)
        return false; /* a NUL byte inside */
    struct jp p = {(const unsigned char *)buf, 0};
    if (!jp_value(&p))
        return false;
    jp_ws(&p);
    return *p.s == '\0';
}

/* ---- the tests ---- */

static char *escaped(const char *s, esc_mode m)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    esc_write(f, s, m);
    fclose(f);
    return buf;
}

static void test_results_model(void)
{
    is_str(verdict_name(V_PASS), "pass", "verdict_name pass");
    is_str(verdict_name(V_KNOWN), "known", "verdict_name known");
    is_str(verdict_name((verdict_t)V__COUNT), "invalid", "verdict_name out of range");
    bool all_named = true;
    for (int v = 0; v < V__COUNT; v++)
        all_named = all_named && strcmp(verdict_name((verdict_t)v), "invalid") != 0;
    ok(all_named, "every verdict has a name");

    run_result r;
    run_result_init(&r);
    ok(run_result_exit_code(&r) == 0, "an empty run exits 0");
    scenario_result *s = run_result_add(&r);
    ok(s && s->verdict == V_ERROR && !s->id && !s->has_failure,
       "a new scenario is empty and reads as error until judged");

    /* Grow well past several reallocations and check nothing was lost. */
    for (int i = 0; i < 300; i++) {
        s = run_result_add(&r);
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        s->id = xstrdup(id);
        s->verdict = i % 2 ? V_SKIP : V_PASS;
    }
    r.items[0].verdict = V_PASS;
    bool intact = r.n_items == 301;
    for (int i = 0; i < 300 && intact; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        intact = r.items[i + 1].id && strcmp(r.items[i + 1].id, id) == 0;
    }
    ok(intact, "300 appends keep every item");
    run_result_count(&r);
    ok(r.counts[V_PASS] == 151 && r.counts[V_SKIP] == 150, "counts pass and skip");
    ok(run_result_exit_code(&r) == 0, "pass and skip exit 0");
    r.items[5].verdict = V_WARN;
    r.items[6].verdict = V_INFO;
    r.items[7].verdict = V_KNOWN;
    ok(run_result_exit_code(&r) == 0, "warn, info and known exit 0");
    r.items[8].verdict = V_FAIL;
    ok(run_result_exit_code(&r) == 1, "a fail exits 1");
    r.items[8].verdict = V_ERROR;
    ok(run_result_exit_code(&r) == 1, "an error exits 1");
    r.items[8].verdict = (verdict_t)42;
    ok(run_result_exit_code(&r) == 1, "an invalid verdict exits 1");
    run_result_count(&r);
    ok(r.counts[V_ERROR] == 1, "an invalid verdict is counted as error");

    scenario_result_free(&r.items[3]);
    ok(r.items[3].id == NULL && r.items[3].n_spec == 0, "scenario_result_free leaves it empty");
    scenario_result_free(&r.items[3]);
    ok(true, "freeing a scenario twice is harmless");
    run_result_free(&r);
    ok(r.items == NULL && r.n_items == 0, "run_result_free leaves an empty run");

    run_result sample;
    build_sample(&sample);
    ok(sample.counts[V_PASS] == 1 && sample.counts[V_FLAKY] == 1 && sample.n_items == V__COUNT,
       "the sample holds one scenario of each verdict");
    ok(run_result_exit_code(&sample) == 1, "the sample exits 1");
    run_result_free(&sample);
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 'A'},
        {"\xc3\xa9", 2, 0xE9},
        {"\xe2\x82\xac", 3, 0x20AC},
        {"\xf0\x9f\x98\x80", 4, 0x1F600},
        {"\xf4\x8f\xbf\xbf", 4, 0x10FFFF},
        {"\xc0\xaf", 0, 0},         /* overlong '/' */
        {"\xc1\xbf", 0, 0},         /* overlong */
        {"\xe0\x80\xaf", 0, 0},     /* overlong */
        {"\xf0\x80\x80\xaf", 0, 0}, /* overlong */
        {"\xed\xa0\x80", 0, 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0, 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0, 0},
        {"\xe2\x82", 0, 0},         /* truncated by the NUL */
        {"\xe2\x82x", 0, 0},
        {"\x80", 0, 0},             /* lone continuation */
        {"\xff", 0, 0},
    };
    bool all = true;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0;
        size_t n = esc_utf8_next((const unsigned char *)cases[i].s, &cp);
        if (n != cases[i].len || (n && cp != cases[i].cp)) {
            all = false;
            printf("# utf8 case %zu: got len %zu cp %X\n", i, n, (unsigned)cp);
        }
    }
    ok(all, "esc_utf8_next accepts well-formed and rejects ill-formed sequences");
}

static void test_escape(void)
{
    static const struct {
        const char *in;
        esc_mode mode;
        const char *want;
        const char *name;
    } cases[] = {
        {"a\"b\\c\n\t\r\b\f\x01\x7f", ESC_JSON, "a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u007f",
         "JSON escapes quotes, backslash and controls"},
        {"x\xffy\xc3\xa9", ESC_JSON, "x\xef\xbf\xbdy\xc3\xa9", "JSON: an invalid byte becomes U+FFFD"},
        {"\xe2\x82", ESC_JSON, "\xef\xbf\xbd\xef\xbf\xbd", "JSON: one U+FFFD per invalid byte"},
        {"ls\xe2\x80\xa8ps\xe2\x80\xa9", ESC_JSON, "ls\\u2028ps\\u2029", "JSON escapes U+2028/2029"},
        {"a\"b\\c\n\x01\x7f", ESC_YAML_DQ, "a\\\"b\\\\c\\n\\x01\\x7f", "YAML double-quoted escapes"},
        {"nel\xc2\x85\xef\xbb\xbf", ESC_YAML_DQ, "nel\\u0085\\uFEFF", "YAML escapes C1 and BOM"},
        {"say \"hi\"\\", ESC_YAML_BLOCK, "say \"hi\"\\\\", "YAML block keeps quotes, escapes backslash"},
        {"a # b \\# TODO", ESC_TAP_DESC, "a \\# b \\\\\\# TODO", "TAP description escapes # and backslash"},
        {"a # b\nc", ESC_TAP_TEXT, "a # b\\nc", "TAP text keeps # and escapes newline"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = escaped(cases[i].in, cases[i].mode);
        is_str(got, cases[i].want, cases[i].name);
        free(got);
    }
    char *none = escaped(NULL, ESC_JSON);
    is_str(none, "", "NULL writes nothing");
    free(none);
}

static void test_tap(void)
{
    run_result r;
    build_sample(&r);
    for (int verbose = 0; verbose <= 1; verbose++) {
        struct tap_args a = {&r, verbose};
        size_t len;
        char *buf = slurp_stream(write_tap, &a, &len);
        const char *mode = verbose ? "verbose" : "plain";
        ok(clean_text(buf, len), "%s TAP is UTF-8 with no control bytes", mode);
        ok(strncmp(buf, "TAP version 13\n1..8\n", 20) == 0, "%s TAP starts with version and plan", mode);
        ok(strstr(buf, "\nok 1 - v5.clean-start.discards-session: Clean Start 1 discards a "
                       "stored session \\# SKIP not really\n") != NULL,
           "%s: a pass is ok, with '#' in its title escaped", mode);
        ok(strstr(buf, "\nnot ok 2 - v5.session-expiry.offline-messages: ") != NULL,
           "%s: a fail is not ok", mode);
        ok(strstr(buf, "\nok 5 - v311.only: 3.1.1 only # SKIP broker does not speak 3.1.1 # "
                       "really\\n(refused)\n") != NULL,
           "%s: a skip carries its reason", mode);
        ok(strstr(buf, "\nnot ok 7 - v5.inflight.dup: Redelivered PUBLISH has DUP set # TODO known "
                       "failure: vendor ticket #123: DUP flag not set\n") != NULL,
           "%s: a known failure is a TODO", mode);
        ok(strstr(buf, "\nnot ok 8 - v5.will.delay-race: Will Delay race # TODO flaky: failed once "
                       "(no PUBLISH within 5.0 s), passed when re-run\n") != NULL,
           "%s: a flaky scenario is a TODO", mode);
        ok(strstr(buf, "\n# warn: Will arrived 900 ms early") != NULL, "%s: a warn has its comment", mode);
        ok(strstr(buf, "\n# note: note with \"quotes\"") != NULL, "%s: info notes are comments", mode);
        ok(strstr(buf, "  trace: |\n    +0ms    sub       > CONNECT c1") != NULL,
           "%s: the trace is an aligned literal block", mode);
        ok(strstr(buf, "    at: \"scenarios/sample/sample.yaml:31:5\"\n") != NULL,
           "%s: the failing step has file:line:col", mode);
        ok(strstr(buf, "10 1a") ? verbose : !verbose, "%s: hex appears only when verbose", mode);
        ok(strstr(buf, " \n") == NULL, "%s: no line ends in a space (hex wraps between bytes)", mode);
        ok(strstr(buf, "\n                        32 6d 32 6d 32 6d 32 6d 32\n") ? verbose : !verbose,
           "%s: long hex continues aligned under the text", mode);

        size_t n_yaml_expected = verbose ? 8 : 4;
        char *last_nl = buf + len - 1;
        while (last_nl > buf && last_nl[-1] != '\n')
            last_nl--;
        struct tap_shape sh = tap_shape(buf);
        ok(sh.header_ok && sh.bad_lines == 0, "%s: every line is TAP, comment or YAML", mode);
        ok(sh.tests == 8 && sh.numbered_in_order, "%s: 8 test points in order", mode);
        ok(sh.not_ok == 4 && sh.skip == 1 && sh.todo == 2, "%s: 4 not ok, 1 skip, 2 todo", mode);
        ok(sh.yaml_open == n_yaml_expected && sh.yaml_close == n_yaml_expected,
           "%s: %zu closed YAML blocks", mode, n_yaml_expected);
        is_str(sh.last,
               "# mqspec: 8 scenarios, 1 pass, 1 fail, 1 warn, 1 info, 1 skip, 1 error, 1 known, 1 flaky in "
               "38.2 s against mqtt://127.0.0.1:1883",
               verbose ? "verbose: the summary line is last" : "plain: the summary line is last");
        free(buf);
    }
    run_result_free(&r);

    run_result empty;
    run_result_init(&empty);
    struct tap_args a = {&empty, false};
    size_t len;
    char *buf = slurp_stream(write_tap, &a, &len);
    is_str(buf,
           "TAP version 13\n1..0 # SKIP no scenarios to run\n"
           "# verdicts: 0 pass, 0 fail, 0 warn, 0 info, 0 skip, 0 error, 0 known, 0 flaky\n"
           "# mqspec: 0 scenarios, 0 pass, 0 fail in 0 ms\n",
           "an empty run is a skip-all plan and a summary");
    free(buf);
}

static void test_json(void)
{
    char dir[] = "/tmp/t-reports.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(false, "mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/results.json", dir);

    run_result r;
    build_sample(&r);
    char err[256] = "";
    ok(json_write(path, &r, err, sizeof err) == 0, "json_write succeeds");
    size_t len = 0;
    char *buf = slurp_file(path, &len);
    ok(buf && json_valid(buf, len), "the JSON is valid (strict RFC 8259, UTF-8)");
    if (buf) {
        ok(strstr(buf, "\"schema\": \"mqspec-results/1\"") != NULL, "it names its schema");
        ok(strstr(buf, "\"started\": \"2023-11-14T22:13:20Z\"") != NULL, "started is ISO 8601 UTC");
        ok(strstr(buf, "\"counts\": {\"pass\": 1, \"fail\": 1, \"warn\": 1, \"info\": 1, \"skip\": 1, "
                       "\"error\": 1, \"known\": 1, \"flaky\": 1}") != NULL,
           "counts has every verdict");
        ok(strstr(buf, "\"failure\": null") != NULL && strstr(buf, "\"step_text\": \"sub.expect: messages\""),
           "failure is an object or null");
        ok(strstr(buf, "\"not_before_ms\": null") && strstr(buf, "\"not_before_ms\": 0"),
           "an absent bound is null, a zero bound is 0");
        ok(strstr(buf, "\"dir\": \"sent\"") && strstr(buf, "\"dir\": \"received\"") &&
               strstr(buf, "\"dir\": \"note\""),
           "trace directions are named");
        ok(strstr(buf, "\"hex\": null") != NULL, "a trace line without bytes has hex null");
        ok(strstr(buf, "bytes \xef\xbf\xbd\xef\xbf\xbd invalid") != NULL, "invalid bytes became U+FFFD");
        ok(strstr(buf, "\\u001b[31m") != NULL, "control bytes are \\u escapes");
    }
    free(buf);

    /* Nothing but the report is left behind. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ok(access(tmp, F_OK) != 0, "no temporary file is left");

    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/results.json", dir);
    err[0] = '\0';
    ok(json_write(bad, &r, err, sizeof err) == -1 && strstr(err, bad) != NULL,
       "an unwritable path fails with a message naming it");
    ok(json_write("", &r, err, sizeof err) == -1, "an empty path fails");
    run_result_free(&r);

    run_result empty;
    run_result_init(&empty);
    ok(json_write(path, &empty, err, sizeof err) == 0, "an empty run writes");
    buf = slurp_file(path, &len);
    ok(buf && json_valid(buf, len) && strstr(buf, "\"scenarios\": []") &&
           strstr(buf, "\"started\": null") && strstr(buf, "\"version\": null"),
       "an empty run is valid JSON with empty scenarios and nulls");
    free(buf);

    static const char *const bad_json[] = {"{\"a\": \"\x01\"}", "{\"a\": \"\xff\"}", "[1,]", "{\"a\" 1}",
                                           "[\"\\x41\"]", "01", "[1] 2"};
    bool rejects = true;
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
        rejects = rejects && !json_valid(bad_json[i], strlen(bad_json[i]));
    const char *good = "{\"a\": [1, -2.5e3, true, null, \"\\u00e9\", {}]}";
    ok(rejects && json_valid(good, strlen(good)),
       "the checker itself rejects bad JSON and accepts good");

    remove(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--emit-tap") == 0) {
        run_result r;
        build_sample(&r);
        struct tap_args a = {&r, argc >= 3 && strcmp(argv[2], "--verbose") == 0};
        write_tap(stdout, &a);
        run_result_free(&r);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "--emit-json") == 0) {
        run_result r;
        build_sample(&r);
        char err[256];
        int rc = json_write(argv[2], &r, err, sizeof err);
        if (rc)
            fprintf(stderr, "t-reports: %s\n", err);
        run_result_free(&r);
        return rc ? 1 : 0;
    }
    if (argc >= 2) {
        fprintf(stderr, "usage: t-reports [--emit-tap [--verbose] | --emit-json PATH]\n");
        return 2;
    }

    test_results_model();
    test_utf8();
    test_escape();
    test_tap();
    test_json();
    return done_testing();
}
