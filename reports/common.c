/* common.c -- helpers shared by the document writers; see common.h.
 *
 * What it is for: computing the same summaries (areas, statements, what the
 * broker announced) and escaping the same way in every human-facing report,
 * so the HTML, the Markdown and the JUnit file never disagree.
 *
 * What it is not: a writer of any one format.
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"

void rep_area(const char *id, char *out, size_t cap)
{
    const char *dot = id ? strchr(id, '.') : NULL;
    const char *end = dot ? strchr(dot + 1, '.') : NULL;
    if (!dot || !end || end == dot + 1) {
        snprintf(out, cap, "other");
        return;
    }
    snprintf(out, cap, "%.*s", (int)(end - dot - 1), dot + 1);
}

const char *rep_broker_name(const run_result *r)
{
    if (r->profile && *r->profile)
        return r->profile;
    return r->broker_url && *r->broker_url ? r->broker_url : "unknown broker";
}

void rep_caps_text(const run_result *r, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_caps && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s %s (%s)", i ? "; " : "",
                         r->caps[i].name ? r->caps[i].name : "?",
                         r->caps[i].value ? r->caps[i].value : "?",
                         r->caps[i].source ? r->caps[i].source : "?");
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

const char *rep_announced(const run_result *r, char *buf, size_t cap)
{
    if (r->broker_announced)
        return r->broker_announced;
    /* The raw driver decodes every CONNACK; "(Success)" is the MQTT 5 name of
     * reason 0 (3.1.1 calls it "Connection Accepted"), so the first such line
     * is the first accepted v5 connection the harness saw in full. */
    for (size_t i = 0; i < r->n_items; i++) {
        const scenario_result *s = &r->items[i];
        for (size_t k = 0; k < s->n_trace; k++) {
            const char *t = s->trace[k].text;
            if (s->trace[k].dir != '<' || !t || strncmp(t, "CONNACK ", 8) != 0 ||
                !strstr(t, "(Success)"))
                continue;
            const char *props = strstr(t, "props={");
            if (props) {
                const char *end = strrchr(props, '}');
                int len = end ? (int)(end - props - 7) : (int)strlen(props + 7);
                snprintf(buf, cap, "%.*s (CONNACK of the first accepted MQTT 5 connection, in %s)",
                         len, props + 7, s->id ? s->id : "?");
            } else {
                snprintf(buf, cap, "no properties (CONNACK of the first accepted MQTT 5 connection, in %s)",
                         s->id ? s->id : "?");
            }
            return buf;
        }
    }
    return NULL;
}

int rep_verdict_rank(verdict_t v)
{
    switch (v) {
    case V_FAIL: return 0;
    case V_ERROR: return 1;
    case V_KNOWN: return 2;
    case V_WARN: return 3;
    case V_FLAKY: return 3;
    case V_INFO: return 4;
    case V_SKIP: return 5;
    case V_PASS: return 6;
    default: return 1;
    }
}

int rep_areas_build(const run_result *r, rep_areas *a)
{
    memset(a, 0, sizeof *a);
    a->items = calloc(r->n_items ? r->n_items : 1, sizeof *a->items);
    if (!a->items)
        return -1;
    for (size_t i = 0; i < r->n_items; i++) {
        char name[64];
        rep_area(r->items[i].id, name, sizeof name);
        size_t k = 0;
        while (k < a->n && strcmp(a->items[k].name, name) != 0)
            k++;
        if (k == a->n)
            snprintf(a->items[a->n++].name, sizeof a->items[0].name, "%s", name);
        verdict_t v = r->items[i].verdict;
        a->items[k].counts[(int)v < 0 || v >= V__COUNT ? V_ERROR : v]++;
        a->items[k].total++;
    }
    return 0;
}

void rep_areas_free(rep_areas *a)
{
    free(a->items);
    memset(a, 0, sizeof *a);
}

static int cmp_stmt(const void *x, const void *y)
{
    const rep_stmt *a = x, *b = y;
    return strcmp(a->stmt, b->stmt);
}

int rep_stmts_build(const run_result *const *runs, size_t nruns, rep_stmts *s)
{
    memset(s, 0, sizeof *s);
    size_t cap = 0;
    for (size_t r = 0; r < nruns; r++) {
        for (size_t i = 0; i < runs[r]->n_items; i++) {
            const scenario_result *sc = &runs[r]->items[i];
            for (size_t k = 0; k < sc->n_spec; k++) {
                const char *st = sc->spec[k];
                size_t j = 0;
                while (j < s->n && strcmp(s->items[j].stmt, st) != 0)
                    j++;
                if (j == s->n) {
                    if (s->n == cap) {
                        size_t nc = cap ? cap * 2 : 32;
                        rep_stmt *g = realloc(s->items, nc * sizeof *g);
                        if (!g)
                            goto oom;
                        s->items = g;
                        cap = nc;
                    }
                    s->items[s->n++] = (rep_stmt){.stmt = st};
                }
                rep_stmt *e = &s->items[j];
                bool seen = false;
                for (size_t q = 0; q < e->n && !seen; q++)
                    seen = !strcmp(e->ids[q], sc->id);
                if (seen)
                    continue;
                const char **g = realloc(e->ids, (e->n + 1) * sizeof *g);
                if (!g)
                    goto oom;
                e->ids = g;
                e->ids[e->n++] = sc->id;
            }
        }
    }
    if (s->n)
        qsort(s->items, s->n, sizeof *s->items, cmp_stmt);
    return 0;
oom:
    rep_stmts_free(s);
    return -1;
}

void rep_stmts_free(rep_stmts *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].ids);
    free(s->items);
    memset(s, 0, sizeof *s);
}

const scenario_result *rep_find(const run_result *r, const char *id)
{
    for (size_t i = 0; id && i < r->n_items; i++)
        if (r->items[i].id && !strcmp(r->items[i].id, id))
            return &r->items[i];
    return NULL;
}

bool rep_has_repro(const scenario_result *s)
{
    return (s->verdict == V_FAIL || s->verdict == V_KNOWN) && s->file && *s->file;
}

/* Walks s, calling put for each code point; invalid bytes arrive as U+FFFD
 * with len 0 so the caller writes the replacement. */
static void each_cp(FILE *out, const char *str, void (*put)(FILE *, const unsigned char *, size_t, uint32_t, const void *),
                    const void *ud)
{
    const unsigned char *s = (const unsigned char *)str;
    while (s && *s) {
        uint32_t cp;
        size_t n = esc_utf8_next(s, &cp);
        put(out, s, n, n ? cp : 0xFFFD, ud);
        s += n ? n : 1;
    }
}

static void put_xml(FILE *out, const unsigned char *s, size_t n, uint32_t cp, const void *ud)
{
    (void)ud;
    switch (cp) {
    case '&': fputs("&amp;", out); return;
    case '<': fputs("&lt;", out); return;
    case '>': fputs("&gt;", out); return;
    case '"': fputs("&quot;", out); return;
    case '\'': fputs("&#39;", out); return;
    /* As references, so an attribute value keeps its line breaks. */
    case '\n': fputs("&#10;", out); return;
    case '\t': fputs("&#9;", out); return;
    case '\r': fputs("&#13;", out); return;
    default: break;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
        fprintf(out, "\\x%02x", (unsigned)cp);
    else if (cp == 0xFFFE || cp == 0xFFFF)
        fprintf(out, "\\u%04X", (unsigned)cp);
    else if (n == 0)
        fputs("\xEF\xBF\xBD", out);
    else
        fwrite(s, 1, n, out);
}

void rep_xml(FILE *out, const char *s)
{
    each_cp(out, s, put_xml, NULL);
}

static void put_md(FILE *out, const unsigned char *s, size_t n, uint32_t cp, const void *ud)
{
    bool in_table = *(const bool *)ud;
    if (cp == '\n') {
        fputs(in_table ? "<br>" : "  \n", out);
        return;
    }
    if (cp == '<') {
        fputs("&lt;", out);
        return;
    }
    if (cp == '>') {
        fputs("&gt;", out);
        return;
    }
    if (cp == '&') {
        fputs("&amp;", out);
        return;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
        fprintf(out, "\\\\x%02x", (unsigned)cp);
        return;
    }
    /* Everything that could start emphasis, a link, code, a heading or a cell. */
    if (cp < 0x80 && strchr("\\`*_[]|#!{}", (int)cp))
        fputc('\\', out);
    if (n == 0)
        fputs("\xEF\xBF\xBD", out);
    else
        fwrite(s, 1, n, out);
}

void rep_md(FILE *out, const char *s, bool in_table)
{
    each_cp(out, s, put_md, &in_table);
}

static void put_plain(FILE *out, const unsigned char *s, size_t n, uint32_t cp, const void *ud)
{
    (void)ud;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
        fprintf(out, "\\x%02x", (unsigned)cp);
    else if (n == 0)
        fputs("\xEF\xBF\xBD", out);
    else
        fwrite(s, 1, n, out);
}

void rep_plain(FILE *out, const char *s)
{
    each_cp(out, s, put_plain, NULL);
}

void rep_ms(FILE *out, int64_t ms)
{
    if (ms < 1000)
        fprintf(out, "%" PRId64 " ms", ms < 0 ? 0 : ms);
    else
        fprintf(out, "%.1f s", (double)ms / 1000.0);
}

void rep_utc(FILE *out, time_t t)
{
    struct tm tm;
    char buf[40];
    if (t > 0 && gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
        fputs(buf, out);
    else
        fputs("unknown", out);
}

int rep_write_file(const char *path, int (*fn)(FILE *out, const void *ud), const void *ud,
                   char *err, size_t errcap)
{
    if (!strcmp(path, "-")) {
        if (fn(stdout, ud) != 0 || fflush(stdout) != 0) {
            snprintf(err, errcap, "writing to stdout: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) {
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    /* Same directory, so the rename is atomic; the pid keeps two runs apart. */
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = fn(f, ud) != 0 || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        remove(tmp);
        snprintf(err, errcap, "%s: %s", path, strerror(e ? e : EIO));
    }
    free(tmp);
    return bad ? -1 : 0;
}

int rep_mkdirs(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

rep_tally rep_stmt_tally(const run_result *run, const rep_stmt *stmt)
{
    rep_tally t = {0, 0, NULL};
    for (size_t q = 0; q < stmt->n; q++) {
        const scenario_result *s = rep_find(run, stmt->ids[q]);
        if (!s)
            continue;
        t.run++;
        t.pass += s->verdict == V_PASS;
        if (!t.worst || rep_verdict_rank(s->verdict) < rep_verdict_rank(t.worst->verdict))
            t.worst = s;
    }
    return t;
}

bool rep_stmt_differs(const run_result *const *runs, size_t nruns, const rep_stmt *stmt)
{
    /* A run where no scenario of the statement ran counts as its own value. */
    int first = 0;
    for (size_t k = 0; k < nruns; k++) {
        rep_tally t = rep_stmt_tally(runs[k], stmt);
        int worst = t.worst ? rep_verdict_rank(t.worst->verdict) : 99;
        if (k == 0)
            first = worst;
        else if (worst != first)
            return true;
    }
    return false;
}
