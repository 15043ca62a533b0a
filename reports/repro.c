/* repro.c -- a standalone reproducer per failed scenario: the YAML with this run's names.
 *
 * What it is for: a vendor who receives a report can rerun exactly the case
 * that failed, with mqspec alone: DIR/ID.yaml is the scenario's own source
 * with {ns}, {run} and {id:NAME} replaced by what they were in that run, and
 * every client's id pinned with `client_id:`, under a header comment that
 * says which broker, when, the verdict, the failing step and expected /
 * observed. The file passes `mqspec check` (tests/reports-formats.t).
 *
 * What it is not: a rewrite of the scenario. Only the `clients:` value is
 * regenerated (as one flow map, keeping every other option as written); every
 * other line, comment included, stays as the author wrote it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common.h"
#include "escape.h"
#include "reports.h"

#define REPRO_MAX_SOURCE (4u * 1024u * 1024u)

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *g = realloc(b->p, cap);
        if (!g) {
            b->oom = true;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* A double-quoted YAML scalar; escape.c's YAML mode gives \" \\ \n \xNN. */
static void sb_dq(sbuf *b, const char *s)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f) {
        b->oom = true;
        return;
    }
    fputc('"', f);
    esc_write(f, s, ESC_YAML_DQ);
    fputc('"', f);
    fclose(f);
    sb_add(b, mem, len);
    free(mem);
}

static char *read_source(const char *path, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(REPRO_MAX_SOURCE + 1);
    size_t n = buf ? fread(buf, 1, REPRO_MAX_SOURCE + 1, f) : 0;
    fclose(f);
    if (!buf || n > REPRO_MAX_SOURCE) {
        snprintf(err, errcap, "%s: %s", path, buf ? "too large" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *client_id_of(const scenario_result *s, const char *name)
{
    for (size_t i = 0; i < s->n_clients; i++)
        if (s->client_names[i] && !strcmp(s->client_names[i], name))
            return s->client_ids[i];
    return NULL;
}

/* Parses the source with libyaml's event API and builds the new `clients`
 * value. Sets *from / *to to the byte span of the old value. */
static int rebuild_clients(const char *src, size_t len, const scenario_result *s, sbuf *out,
                           size_t *from, size_t *to, char *err, size_t errcap)
{
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    int depth = 0, rc = -1;
    bool at_key = false, in_clients = false, found = false;
    /* Inside `clients`: depth 2 is the map of clients, depth 3 one client's options. */
    enum { WANT_NAME, WANT_OPTS, IN_OPTS_KEY, IN_OPTS_VAL } st = WANT_NAME;
    char name[256] = "", key[256] = "";
    size_t guard = 0;
    for (;;) {
        if (++guard > 2000000 || !yaml_parser_parse(&p, &ev)) {
            snprintf(err, errcap, "%s: YAML error: %s", s->file, p.problem ? p.problem : "too long");
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            if (!found)
                snprintf(err, errcap, "%s: no clients map", s->file);
            rc = found ? 0 : -1;
            break;
        }
        bool start = t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT;
        bool end = t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT;
        if (!in_clients) {
            /* Top level: keys and values alternate; a value is complete at a
             * scalar, or when a collection's end brings us back to depth 1. */
            if (t == YAML_SCALAR_EVENT && depth == 1) {
                if (at_key && !strcmp((const char *)ev.data.scalar.value, "clients")) {
                    yaml_event_delete(&ev);
                    if (!yaml_parser_parse(&p, &ev) || ev.type != YAML_MAPPING_START_EVENT) {
                        snprintf(err, errcap, "%s: clients is not a map", s->file);
                        yaml_event_delete(&ev);
                        break;
                    }
                    *from = ev.start_mark.index;
                    sb_str(out, "{");
                    in_clients = true;
                    depth = 2;
                    yaml_event_delete(&ev);
                    continue;
                }
                at_key = !at_key;
            } else if (start) {
                if (++depth == 1)
                    at_key = true;
            } else if (end) {
                if (--depth == 1)
                    at_key = true;
            }
            yaml_event_delete(&ev);
            continue;
        }
        /* In the clients map (depth 2) or one client's options (depth 3). */
        if (depth == 2) {
            if (t == YAML_MAPPING_END_EVENT) {
                *to = ev.end_mark.index;
                sb_str(out, "}");
                found = true;
                in_clients = false;
                depth = 1;
                at_key = true; /* the clients value is complete */
                yaml_event_delete(&ev);
                continue;
            }
            if (st == WANT_NAME && t == YAML_SCALAR_EVENT) {
                snprintf(name, sizeof name, "%s", (const char *)ev.data.scalar.value);
                if (out->n > 1)
                    sb_str(out, ", ");
                sb_str(out, name);
                sb_str(out, ": {client_id: ");
                const char *id = client_id_of(s, name);
                if (!id) {
                    snprintf(err, errcap, "%s: no client id recorded for client %s", s->file, name);
                    yaml_event_delete(&ev);
                    break;
                }
                sb_dq(out, id);
                st = WANT_OPTS;
            } else if (st == WANT_OPTS && t == YAML_SCALAR_EVENT) {
                /* `sub:` with nothing, or `sub: ~`: no options. */
                sb_str(out, "}");
                st = WANT_NAME;
            } else if (st == WANT_OPTS && t == YAML_MAPPING_START_EVENT) {
                depth = 3;
                st = IN_OPTS_KEY;
            } else {
                snprintf(err, errcap, "%s: unexpected structure in clients", s->file);
                yaml_event_delete(&ev);
                break;
            }
            yaml_event_delete(&ev);
            continue;
        }
        /* depth 3: the options of client `name`, scalars only. */
        if (t == YAML_MAPPING_END_EVENT) {
            sb_str(out, "}");
            depth = 2;
            st = WANT_NAME;
        } else if (t != YAML_SCALAR_EVENT) {
            snprintf(err, errcap, "%s: client %s has an option that is not a plain value", s->file,
                     name);
            yaml_event_delete(&ev);
            break;
        } else if (st == IN_OPTS_KEY) {
            snprintf(key, sizeof key, "%s", (const char *)ev.data.scalar.value);
            st = IN_OPTS_VAL;
        } else {
            st = IN_OPTS_KEY;
            /* The pinned id replaces whatever the scenario gave. */
            if (strcmp(key, "client_id") != 0) {
                sb_str(out, ", ");
                sb_str(out, key);
                sb_str(out, ": ");
                if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                    sb_str(out, (const char *)ev.data.scalar.value);
                else
                    sb_dq(out, (const char *)ev.data.scalar.value);
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return out->oom ? -1 : rc;
}

/* {ns}, {run} and {id:NAME} with this run's values; anything else is kept. */
static void substitute(sbuf *out, const char *s, size_t len, const scenario_result *r,
                       const char *prefix)
{
    for (size_t i = 0; i < len;) {
        if (s[i] == '{') {
            const char *end = memchr(s + i, '}', len - i);
            size_t n = end ? (size_t)(end - s - i - 1) : 0;
            const char *rep = NULL;
            char name[256];
            if (end && n == 2 && !strncmp(s + i + 1, "ns", 2))
                rep = r->ns;
            else if (end && n == 3 && !strncmp(s + i + 1, "run", 3))
                rep = prefix;
            else if (end && n > 3 && n - 3 < sizeof name && !strncmp(s + i + 1, "id:", 3)) {
                memcpy(name, s + i + 4, n - 3);
                name[n - 3] = '\0';
                rep = client_id_of(r, name);
            }
            if (rep) {
                sb_str(out, rep);
                i += n + 2;
                continue;
            }
        }
        sb_add(out, s + i, 1);
        i++;
    }
}

/* Just past the '}' that closes the flow collection opening at src[at],
 * skipping quoted scalars; len if it is never closed. */
static size_t flow_end(const char *src, size_t len, size_t at)
{
    int depth = 0;
    char quote = 0;
    for (size_t i = at; i < len; i++) {
        char ch = src[i];
        if (quote) {
            if (quote == '"' && ch == '\\')
                i++;
            else if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '"' || ch == '\'')
            quote = ch;
        else if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return i + 1;
        else if (ch == '#' && i > 0 && (src[i - 1] == ' ' || src[i - 1] == '\t'))
            while (i + 1 < len && src[i + 1] != '\n')
                i++;
    }
    return len;
}

/* `clients` is a top-level key, so its block value ends where the next line
 * starts in column 0 (the next key, a comment there, or a document marker). */
static size_t block_end(const char *src, size_t len, size_t at)
{
    for (size_t i = at; i < len; i++)
        if (src[i] == '\n' && i + 1 < len && src[i + 1] != ' ' && src[i + 1] != '\t' &&
            src[i + 1] != '\n' && src[i + 1] != '\r')
            return i + 1;
    return len;
}

static void comment(FILE *f, const char *label, const char *val)
{
    if (!val)
        return;
    fprintf(f, "# %s: ", label);
    rep_plain(f, val);
    fputc('\n', f);
}

static int write_one(const char *dir, const run_result *run, const scenario_result *s, char *err,
                     size_t errcap)
{
    if (!s->ns) {
        snprintf(err, errcap, "%s: the results do not hold this run's names", s->id);
        return -1;
    }
    size_t len;
    char *src = read_source(s->file, &len, err, errcap);
    if (!src)
        return -1;
    sbuf clients = {0}, body = {0};
    size_t from = 0, to = 0;
    int rc = -1;
    int built = rebuild_clients(src, len, s, &clients, &from, &to, err, errcap);
    /* libyaml's marks around a flow map can sit one character off the braces
     * (the separating space before, the closing brace itself after): snap
     * them to the braces so the span is exactly the old value. */
    while (built == 0 && from < len && (src[from] == ' ' || src[from] == '\t'))
        from++;
    if (built == 0 && from < len && src[from] == '{')
        to = flow_end(src, len, from);
    else if (built == 0)
        to = block_end(src, len, from);
    if (built == 0 && from <= to && to <= len) {
        sbuf mid = {0};
        sb_add(&mid, src, from);
        sb_add(&mid, clients.p, clients.n);
        /* A block map's span ends at the next key; keep the line break. */
        if (to > from && src[to - 1] == '\n')
            sb_str(&mid, "\n");
        sb_add(&mid, src + to, len - to);
        if (!mid.oom)
            substitute(&body, mid.p, mid.n, s, run->run_prefix);
        free(mid.p);
        rc = body.oom || mid.oom ? -1 : 0;
        if (rc)
            snprintf(err, errcap, "out of memory");
    }
    free(src);
    free(clients.p);
    if (rc) {
        free(body.p);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.yaml", dir, s->id);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        free(body.p);
        return -1;
    }
    fputs("# mqspec reproducer: ", f);
    rep_plain(f, s->id);
    fputs("\n#\n", f);
    comment(f, "broker", run->broker_url);
    comment(f, "profile", run->profile);
    fputs("# date: ", f);
    rep_utc(f, run->started);
    fputc('\n', f);
    comment(f, "mqspec", run->harness_version);
    comment(f, "verdict", verdict_name(s->verdict));
    if (s->has_failure) {
        char step[1200];
        snprintf(step, sizeof step, "%d (%s) at %s:%d", s->failure.step,
                 s->failure.step_text ? s->failure.step_text : "?", s->file, s->failure.line);
        comment(f, "failing step", step);
        comment(f, "statement", s->failure.statement);
        comment(f, "expected", s->failure.expected);
        comment(f, "observed", s->failure.observed);
    }
    comment(f, "reason", s->reason);
    comment(f, "source", s->file);
    fputs("#\n# Topics and client ids are pinned to that run's; the client ids may still\n"
          "# hold sessions on the broker, so run it against a freshly started one:\n"
          "#   mqspec run --broker mqtt://HOST:PORT THIS_FILE\n\n",
          f);
    fwrite(body.p, 1, body.n, f);
    free(body.p);
    if (fclose(f) != 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int repro_write_all(const char *dir, const run_result *r, char *err, size_t errcap)
{
    int written = 0;
    bool made = false;
    for (size_t i = 0; i < r->n_items; i++) {
        const scenario_result *s = &r->items[i];
        if (!rep_has_repro(s))
            continue;
        if (!made && rep_mkdirs(dir) != 0) {
            snprintf(err, errcap, "%s: %s", dir, strerror(errno));
            return -1;
        }
        made = true;
        if (write_one(dir, r, s, err, errcap) != 0)
            return -1;
        written++;
    }
    return written;
}
