/* json_read.c -- reading saved results (schema "mqspec-results/1") back into run_result.
 *
 * What it is for: `mqspec report` makes HTML, Markdown, JUnit and the
 * cross-broker matrix from JSON written earlier by `mqspec run --json`, maybe
 * on another machine. The parser is strict RFC 8259 (no comments, no trailing
 * commas, no NaN, valid UTF-8, no lone surrogates, no duplicate keys) because a
 * conformance report made from a damaged file must not look like a good one.
 * Keys this version does not know are ignored, as docs/results-json.md promises.
 *
 * What it is not: a general JSON library. It builds a small tree, maps the
 * known keys onto the model, and throws the tree away.
 */
#include "reports.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

#define JR_MAX_DEPTH 64
#define JR_MAX_BYTES (512u * 1024u * 1024u)

typedef enum jtype { J_NULL, J_BOOL, J_INT, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval jval;
struct jval {
    jtype t;
    bool b;
    int64_t i;
    char *s;                /* J_STR */
    jval *items;            /* J_ARR, J_OBJ */
    char **keys;            /* J_OBJ */
    size_t n, cap;
    size_t at;              /* byte offset, for messages */
};

typedef struct jp {
    const char *name;
    const char *p, *start, *end;
    char *err;
    size_t errcap;
    bool failed;
} jp;

static void jp_fail_at(jp *c, const char *where, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    int line = 1, col = 1;
    for (const char *q = c->start; q < where && q < c->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errcap)
        snprintf(c->err, c->errcap, "%s:%d:%d: %s", c->name, line, col, msg);
}

static void jval_free(jval *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t k = 0; k < v->n; k++) {
        jval_free(&v->items[k]);
        if (v->keys)
            free(v->keys[k]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static void skip_ws(jp *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char h = s[k];
        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (uint32_t)(h - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. The decoded string is never longer than its source,
 * so one allocation of the source length is enough. A \u0000 would cut the C
 * string short, so it is refused rather than silently truncated. */
static char *parse_string(jp *c)
{
    const char *q = ++c->p;
    size_t cap = 1;
    while (q < c->end && *q != '"') {
        if (*q == '\\' && q + 1 < c->end)
            q++;
        q++;
        cap++;
    }
    cap += (size_t)(q - c->p);
    char *out = malloc(cap);
    if (!out) {
        jp_fail_at(c, c->p, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            out[n] = '\0';
            return out;
        }
        if (ch < 0x20) {
            jp_fail_at(c, c->p, "control character in a string (must be escaped)");
            break;
        }
        if (ch == '\\') {
            if (c->p + 1 >= c->end) {
                jp_fail_at(c, c->p, "unterminated string");
                break;
            }
            char e = c->p[1];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                out[n++] = map[simple - "\"\\/bfnrt"];
                c->p += 2;
                continue;
            }
            uint32_t cp;
            if (e != 'u' || c->end - c->p < 6 || hex4(c->p + 2, &cp) != 0) {
                jp_fail_at(c, c->p, "invalid escape in a string");
                break;
            }
            c->p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                    hex4(c->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                    jp_fail_at(c, c->p, "unpaired UTF-16 surrogate in a \\u escape");
                    break;
                }
                c->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jp_fail_at(c, c->p - 6, "unpaired UTF-16 surrogate in a \\u escape");
                break;
            }
            if (cp == 0) {
                jp_fail_at(c, c->p - 6, "\\u0000 is not supported in mqspec results");
                break;
            }
            n += put_utf8(out + n, cp);
            continue;
        }
        if (ch < 0x80) {
            out[n++] = (char)ch;
            c->p++;
            continue;
        }
        /* esc_utf8_next reads at most 4 bytes and stops at a NUL; copy so it
         * never reads past the end of a buffer that is not NUL-terminated. */
        unsigned char tmp[5] = {0};
        size_t avail = (size_t)(c->end - c->p);
        memcpy(tmp, c->p, avail < 4 ? avail : 4);
        uint32_t cp;
        size_t len = esc_utf8_next(tmp, &cp);
        if (len == 0) {
            jp_fail_at(c, c->p, "invalid UTF-8");
            break;
        }
        memcpy(out + n, c->p, len);
        n += len;
        c->p += len;
    }
    if (!c->failed)
        jp_fail_at(c, c->p, "unterminated string");
    free(out);
    return NULL;
}

static bool parse_value(jp *c, jval *v, int depth);

static bool grow(jp *c, jval *v, bool keys)
{
    if (v->n < v->cap)
        return true;
    size_t cap = v->cap ? v->cap * 2 : 8;
    jval *it = realloc(v->items, cap * sizeof *it);
    if (!it) {
        jp_fail_at(c, c->p, "out of memory");
        return false;
    }
    v->items = it;
    if (keys) {
        char **k = realloc(v->keys, cap * sizeof *k);
        if (!k) {
            jp_fail_at(c, c->p, "out of memory");
            return false;
        }
        v->keys = k;
    }
    v->cap = cap;
    return true;
}

static bool parse_number(jp *c, jval *v)
{
    const char *s = c->p, *q = s;
    if (q < c->end && *q == '-')
        q++;
    if (q >= c->end || !(*q >= '0' && *q <= '9')) {
        jp_fail_at(c, s, "invalid number");
        return false;
    }
    if (*q == '0' && q + 1 < c->end && q[1] >= '0' && q[1] <= '9') {
        jp_fail_at(c, s, "leading zero in a number");
        return false;
    }
    while (q < c->end && *q >= '0' && *q <= '9')
        q++;
    bool integral = true;
    if (q < c->end && *q == '.') {
        integral = false;
        q++;
        if (q >= c->end || !(*q >= '0' && *q <= '9')) {
            jp_fail_at(c, s, "invalid number");
            return false;
        }
        while (q < c->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < c->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= c->end || !(*q >= '0' && *q <= '9')) {
            jp_fail_at(c, s, "invalid number");
            return false;
        }
        while (q < c->end && *q >= '0' && *q <= '9')
            q++;
    }
    char buf[40];
    size_t len = (size_t)(q - s);
    if (len >= sizeof buf) {
        jp_fail_at(c, s, "number too long");
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    v->t = integral ? J_INT : J_NUM;
    if (integral) {
        errno = 0;
        v->i = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            jp_fail_at(c, s, "integer out of range");
            return false;
        }
    }
    c->p = q;
    return true;
}

static bool literal(jp *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool parse_value(jp *c, jval *v, int depth)
{
    memset(v, 0, sizeof *v);
    skip_ws(c);
    v->at = (size_t)(c->p - c->start);
    if (depth > JR_MAX_DEPTH) {
        jp_fail_at(c, c->p, "nested deeper than %d levels", JR_MAX_DEPTH);
        return false;
    }
    if (c->p >= c->end) {
        jp_fail_at(c, c->p, "unexpected end of input");
        return false;
    }
    char ch = *c->p;
    if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        char close = obj ? '}' : ']';
        v->t = obj ? J_OBJ : J_ARR;
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return true;
        }
        /* Bounded by the input: every round consumes at least one byte. */
        for (;;) {
            if (!grow(c, v, obj))
                return false;
            char *key = NULL;
            if (obj) {
                skip_ws(c);
                if (c->p >= c->end || *c->p != '"') {
                    jp_fail_at(c, c->p, "expected a string key");
                    return false;
                }
                const char *kat = c->p;
                key = parse_string(c);
                if (!key)
                    return false;
                for (size_t k = 0; k < v->n; k++) {
                    if (!strcmp(v->keys[k], key)) {
                        jp_fail_at(c, kat, "duplicate key \"%s\"", key);
                        free(key);
                        return false;
                    }
                }
                skip_ws(c);
                if (c->p >= c->end || *c->p != ':') {
                    jp_fail_at(c, c->p, "expected ':'");
                    free(key);
                    return false;
                }
                c->p++;
            }
            jval *item = &v->items[v->n];
            bool ok = parse_value(c, item, depth + 1);
            if (obj)
                v->keys[v->n] = key;
            v->n++;
            if (!ok)
                return false;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == close) {
                c->p++;
                return true;
            }
            jp_fail_at(c, c->p, "expected ',' or '%c'", close);
            return false;
        }
    }
    if (ch == '"') {
        v->t = J_STR;
        v->s = parse_string(c);
        return v->s != NULL;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9'))
        return parse_number(c, v);
    if (literal(c, "null")) {
        v->t = J_NULL;
        return true;
    }
    if (literal(c, "true") || literal(c, "false")) {
        v->t = J_BOOL;
        v->b = c->p[-1] == 'e' && c->p[-2] == 'u';
        return true;
    }
    jp_fail_at(c, c->p, "unexpected character '%c'", ch >= 0x20 && ch < 0x7F ? ch : '?');
    return false;
}

/* ---- mapping the tree onto the model ---------------------------------------------------- */

static const jval *get(const jval *obj, const char *key)
{
    if (!obj || obj->t != J_OBJ)
        return NULL;
    for (size_t k = 0; k < obj->n; k++)
        if (!strcmp(obj->keys[k], key))
            return &obj->items[k];
    return NULL;
}

typedef struct mapper {
    jp *c;
} mapper;

static bool bad(mapper *m, const jval *v, const char *what, const char *key)
{
    jp_fail_at(m->c, m->c->start + (v ? v->at : 0), "%s: \"%s\" %s", what, key,
               v ? "has the wrong type" : "is missing");
    return false;
}

/* A string or null, required to be present. */
static bool take_str(mapper *m, const jval *obj, const char *what, const char *key, char **out)
{
    const jval *v = get(obj, key);
    if (!v || (v->t != J_STR && v->t != J_NULL))
        return bad(m, v, what, key);
    if (v->t == J_STR) {
        *out = strdup(v->s);
        if (!*out) {
            jp_fail_at(m->c, m->c->start + v->at, "out of memory");
            return false;
        }
    }
    return true;
}

/* Keys added after the first release may be missing from older files. */
static bool take_str_opt(mapper *m, const jval *obj, const char *what, const char *key, char **out)
{
    return get(obj, key) ? take_str(m, obj, what, key, out) : true;
}

static bool take_int(mapper *m, const jval *obj, const char *what, const char *key, int64_t *out,
                     bool nullable)
{
    const jval *v = get(obj, key);
    if (v && v->t == J_NULL && nullable) {
        *out = -1;
        return true;
    }
    if (!v || v->t != J_INT)
        return bad(m, v, what, key);
    *out = v->i;
    return true;
}

static bool take_strv(mapper *m, const jval *obj, const char *what, const char *key, char ***out,
                      size_t *n, bool required)
{
    const jval *v = get(obj, key);
    if (!v && !required)
        return true;
    if (!v || v->t != J_ARR)
        return bad(m, v, what, key);
    *out = calloc(v->n ? v->n : 1, sizeof **out);
    if (!*out)
        return bad(m, v, what, key);
    for (size_t k = 0; k < v->n; k++) {
        if (v->items[k].t != J_STR && v->items[k].t != J_NULL)
            return bad(m, &v->items[k], what, key);
        (*out)[k] = strdup(v->items[k].t == J_STR ? v->items[k].s : "");
        *n = k + 1;
        if (!(*out)[k])
            return bad(m, v, what, key);
    }
    return true;
}

static bool parse_verdict(const char *s, verdict_t *out)
{
    for (int v = 0; v < V__COUNT; v++) {
        if (!strcmp(s, verdict_name((verdict_t)v))) {
            *out = (verdict_t)v;
            return true;
        }
    }
    return false;
}

static bool map_scenario(mapper *m, const jval *o, scenario_result *s)
{
    const char *w = "scenario";
    if (!o || o->t != J_OBJ)
        return bad(m, o, w, "scenarios[]");
    if (!take_str(m, o, w, "id", &s->id) || !take_str(m, o, w, "title", &s->title) ||
        !take_str(m, o, w, "file", &s->file) || !take_strv(m, o, w, "spec", &s->spec, &s->n_spec, true) ||
        !take_str(m, o, w, "level", &s->level) || !take_str(m, o, w, "protocol", &s->protocol) ||
        !take_str(m, o, w, "reason", &s->reason) || !take_str(m, o, w, "drivers", &s->drivers) ||
        !take_int(m, o, w, "started_ms", &s->started_ms, false) ||
        !take_int(m, o, w, "duration_ms", &s->duration_ms, false) ||
        !take_strv(m, o, w, "notes", &s->notes, &s->n_notes, true) ||
        !take_str_opt(m, o, w, "ns", &s->ns))
        return false;
    if (!s->id)
        return bad(m, get(o, "id"), w, "id");
    const jval *v = get(o, "verdict");
    if (!v || v->t != J_STR)
        return bad(m, v, w, "verdict");
    if (!parse_verdict(v->s, &s->verdict)) {
        /* "invalid" is what the writer emits for a corrupt verdict: keep it failing. */
        if (strcmp(v->s, "invalid") != 0) {
            jp_fail_at(m->c, m->c->start + v->at, "unknown verdict \"%s\"", v->s);
            return false;
        }
        s->verdict = V_ERROR;
    }

    const jval *f = get(o, "failure");
    if (!f || (f->t != J_NULL && f->t != J_OBJ))
        return bad(m, f, w, "failure");
    if (f->t == J_OBJ) {
        const char *fw = "failure";
        int64_t step, line, col;
        s->has_failure = true;
        if (!take_int(m, f, fw, "step", &step, false) || !take_int(m, f, fw, "line", &line, false) ||
            !take_int(m, f, fw, "col", &col, false) ||
            !take_str(m, f, fw, "step_text", &s->failure.step_text) ||
            !take_str(m, f, fw, "statement", &s->failure.statement) ||
            !take_str(m, f, fw, "expected", &s->failure.expected) ||
            !take_str(m, f, fw, "observed", &s->failure.observed))
            return false;
        s->failure.step = (int)step;
        s->failure.line = (int)line;
        s->failure.col = (int)col;
    }

    const jval *t = get(o, "timings");
    if (!t || t->t != J_ARR)
        return bad(m, t, w, "timings");
    if (t->n) {
        s->timings = calloc(t->n, sizeof *s->timings);
        if (!s->timings)
            return bad(m, t, w, "timings");
    }
    for (size_t k = 0; k < t->n; k++) {
        const jval *e = &t->items[k];
        result_timing *rt = &s->timings[k];
        int64_t step;
        s->n_timings = k + 1;
        if (e->t != J_OBJ)
            return bad(m, e, "timings[]", "timing");
        if (!take_int(m, e, "timing", "step", &step, false) ||
            !take_str(m, e, "timing", "what", &rt->what) ||
            !take_int(m, e, "timing", "observed_ms", &rt->observed_ms, false) ||
            !take_int(m, e, "timing", "not_before_ms", &rt->not_before_ms, true) ||
            !take_int(m, e, "timing", "by_ms", &rt->by_ms, true))
            return false;
        rt->step = (int)step;
    }

    const jval *tr = get(o, "trace");
    if (!tr || tr->t != J_ARR)
        return bad(m, tr, w, "trace");
    if (tr->n) {
        s->trace = calloc(tr->n, sizeof *s->trace);
        if (!s->trace)
            return bad(m, tr, w, "trace");
    }
    for (size_t k = 0; k < tr->n; k++) {
        const jval *e = &tr->items[k];
        result_trace *rt = &s->trace[k];
        s->n_trace = k + 1;
        if (e->t != J_OBJ)
            return bad(m, e, "trace[]", "entry");
        if (!take_int(m, e, "trace", "at_ms", &rt->at_ms, false) ||
            !take_str(m, e, "trace", "client", &rt->client) ||
            !take_str(m, e, "trace", "text", &rt->text) || !take_str(m, e, "trace", "hex", &rt->hex))
            return false;
        const jval *d = get(e, "dir");
        if (!d || d->t != J_STR)
            return bad(m, d, "trace", "dir");
        rt->dir = !strcmp(d->s, "sent") ? '>' : !strcmp(d->s, "received") ? '<' : '-';
    }

    size_t nn = 0, ni = 0;
    if (!take_strv(m, o, w, "client_names", &s->client_names, &nn, false) ||
        !take_strv(m, o, w, "client_ids", &s->client_ids, &ni, false))
        return false;
    if (nn != ni) {
        jp_fail_at(m->c, m->c->start + o->at, "scenario %s: client_names and client_ids differ in length",
                   s->id);
        return false;
    }
    s->n_clients = nn;

    const jval *b = get(o, "baseline");
    if (b && b->t == J_OBJ) {
        if (!take_str(m, b, "baseline", "reason", &s->baseline_reason) ||
            !take_str_opt(m, b, "baseline", "link", &s->baseline_link))
            return false;
        if (!s->baseline_reason && !(s->baseline_reason = strdup("")))
            return false;
    } else if (b && b->t != J_NULL) {
        return bad(m, b, w, "baseline");
    }
    return true;
}

static bool map_run(mapper *m, const jval *root, run_result *r)
{
    const char *w = "results";
    if (root->t != J_OBJ)
        return bad(m, root, w, "(top level)");
    const jval *schema = get(root, "schema");
    if (!schema || schema->t != J_STR)
        return bad(m, schema, w, "schema");
    /* Same major version only: a /2 may have changed what a key means. */
    if (strcmp(schema->s, RESULTS_JSON_SCHEMA) != 0) {
        jp_fail_at(m->c, m->c->start + schema->at, "schema \"%s\" is not %s", schema->s,
                   RESULTS_JSON_SCHEMA);
        return false;
    }
    const jval *h = get(root, "harness"), *b = get(root, "broker");
    if (!h || h->t != J_OBJ)
        return bad(m, h, w, "harness");
    if (!b || b->t != J_OBJ)
        return bad(m, b, w, "broker");
    if (!take_str(m, h, "harness", "version", &r->harness_version) ||
        !take_str(m, b, "broker", "url", &r->broker_url) ||
        !take_str_opt(m, b, "broker", "announced", &r->broker_announced) ||
        !take_str_opt(m, b, "broker", "profile", &r->profile) ||
        !take_str_opt(m, b, "broker", "protocols", &r->protocols) ||
        !take_str(m, root, w, "run_prefix", &r->run_prefix) ||
        !take_int(m, root, w, "duration_ms", &r->duration_ms, false) ||
        !take_str_opt(m, root, w, "timing", &r->timing) ||
        !take_str_opt(m, root, w, "baseline", &r->baseline_file) ||
        !take_str_opt(m, root, w, "tls", &r->tls))
        return false;
    const jval *ins = get(root, "tls_insecure");
    r->tls_insecure = ins && ins->t == J_BOOL && ins->b;
    const jval *caps = get(b, "capabilities");
    if (caps && caps->t != J_ARR && caps->t != J_NULL)
        return bad(m, caps, "broker", "capabilities");
    if (caps && caps->t == J_ARR && caps->n) {
        r->caps = calloc(caps->n, sizeof *r->caps);
        if (!r->caps)
            return bad(m, caps, "broker", "capabilities");
        for (size_t k = 0; k < caps->n; k++) {
            const jval *e = &caps->items[k];
            if (e->t != J_OBJ)
                return bad(m, e, "broker", "capabilities");
            result_cap *c = &r->caps[r->n_caps++];
            if (!take_str(m, e, "capability", "name", &c->name) ||
                !take_str(m, e, "capability", "value", &c->value) ||
                !take_str(m, e, "capability", "source", &c->source))
                return false;
        }
    }
    const jval *set = get(root, "scenario_set");
    if (set && set->t == J_OBJ) {
        int64_t files = 0;
        if (!take_str(m, set, "scenario_set", "sha256", &r->scenarios_sha256) ||
            !take_int(m, set, "scenario_set", "files", &files, false))
            return false;
        r->n_scenario_files = files > 0 ? (size_t)files : 0;
    } else if (set && set->t != J_NULL) {
        return bad(m, set, w, "scenario_set");
    }
    const jval *st = get(root, "started");
    if (!st || (st->t != J_STR && st->t != J_NULL))
        return bad(m, st, w, "started");
    if (st->t == J_STR) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        if (sscanf(st->s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
            jp_fail_at(m->c, m->c->start + st->at, "\"started\" is not YYYY-MM-DDTHH:MM:SSZ");
            return false;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        r->started = timegm(&tm);
    }
    const jval *sc = get(root, "scenarios");
    if (!sc || sc->t != J_ARR)
        return bad(m, sc, w, "scenarios");
    for (size_t k = 0; k < sc->n; k++) {
        scenario_result *s = run_result_add(r);
        if (!s) {
            jp_fail_at(m->c, m->c->start + sc->at, "out of memory");
            return false;
        }
        if (!map_scenario(m, &sc->items[k], s))
            return false;
    }
    run_result_count(r);
    return true;
}

int json_read_string(const char *name, const char *text, size_t len, run_result *out, char *err,
                     size_t errcap)
{
    jp c = {.name = name ? name : "(string)", .p = text, .start = text, .end = text + len,
            .err = err, .errcap = errcap};
    run_result_init(out);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        jp_fail_at(&c, text, "byte order mark (RFC 8259 forbids one)");
        return -1;
    }
    jval root;
    bool ok = parse_value(&c, &root, 0);
    if (ok) {
        skip_ws(&c);
        if (c.p != c.end) {
            jp_fail_at(&c, c.p, "text after the JSON document");
            ok = false;
        }
    }
    if (ok) {
        mapper m = {.c = &c};
        ok = map_run(&m, &root, out);
    }
    jval_free(&root);
    if (!ok) {
        run_result_free(out);
        return -1;
    }
    return 0;
}

int json_read_file(const char *path, run_result *out, char *err, size_t errcap)
{
    run_result_init(out);
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    while (buf) {
        if (n == cap) {
            if (cap >= JR_MAX_BYTES) {
                snprintf(err, errcap, "%s: larger than %u MiB", path, JR_MAX_BYTES >> 20);
                break;
            }
            char *g = realloc(buf, cap * 2);
            if (!g)
                break;
            buf = g;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                snprintf(err, errcap, "%s: %s", path, strerror(errno));
            else
                rc = json_read_string(path, buf, n, out, err, errcap);
            break;
        }
    }
    if (!buf)
        snprintf(err, errcap, "%s: out of memory", path);
    free(buf);
    if (f != stdin)
        fclose(f);
    return rc;
}
