/* cmd_coverage.c -- `mqspec coverage`: which normative statements the scenarios
 * test, read against the statement index (spec/statements.yaml).
 *
 * What it is for: loading the index strictly (unknown keys, malformed statement
 * keys, duplicates and wrong types are FILE:LINE:COL errors), resolving every
 * statement a scenario cites (its `spec:` list and any step's `spec:`) to an
 * index entry, and printing per statement the scenarios that cite it, or that
 * it cannot be tested from outside a broker, or NOT COVERED; as text or JSON.
 * A citation missing from the index is an error at the citation's position.
 *
 * What it is not: a judge of whether a scenario really tests what it cites, nor
 * a copy of the standard (the index holds our paraphrases). It reuses the
 * loader's YAML node tree (load_int.h) for positions and limits; it never runs
 * anything. Format of the index and of the output: docs/coverage.md.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "load.h"
#include "load_int.h"

#define UNTESTABLE_TEXT "untestable from outside the broker"

typedef struct stmt {
    char *key;              /* "v5:MQTT-3.1.2-4", as scenarios cite it */
    char *printed_as;       /* the form the standard prints, without prefix, or NULL */
    char *alias;            /* printed_as with the key's version prefix, or NULL */
    level_t level;
    char *paraphrase;
    char *untestable;       /* the reason, or NULL */
    src_pos pos;
    const scenario_t **by;  /* citing scenarios, each once, in load order */
    size_t n_by, cap_by;
} stmt;

typedef struct stmt_index {
    stmt *items;
    size_t n;
} stmt_index;

enum { ST_COVERED, ST_UNTESTABLE, ST_NOT_COVERED, ST_N };
static const char *const status_json[ST_N] = {"covered", "untestable", "not_covered"};

static const struct {
    const char *prefix;     /* of keys */
    const char *title;      /* in text output */
    const char *json;       /* in JSON output */
} versions[] = {
    {"v5:", "MQTT 5.0", "5"},
    {"v311:", "MQTT 3.1.1", "3.1.1"},
};
#define N_VERSIONS (sizeof versions / sizeof versions[0])

static const level_t levels[] = {LEVEL_MUST, LEVEL_SHOULD, LEVEL_MAY};
#define N_LEVELS 3

static int stmt_status(const stmt *st)
{
    return st->n_by ? ST_COVERED : st->untestable ? ST_UNTESTABLE : ST_NOT_COVERED;
}

static size_t key_version(const char *key)
{
    for (size_t v = 0; v < N_VERSIONS; v++)
        if (!strncmp(key, versions[v].prefix, strlen(versions[v].prefix)))
            return v;
    return N_VERSIONS;
}

/* NUM(.NUM)* at s; returns the length consumed, 0 if none. */
static size_t dotted_number(const char *s)
{
    size_t i = 0;
    for (;;) {
        size_t d = 0;
        while (s[i + d] >= '0' && s[i + d] <= '9')
            d++;
        if (!d || d > 4)
            return 0;
        i += d;
        if (s[i] != '.' || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
            return i;
        i++;
    }
}

/* v5:MQTT-3.1.2-4, v311:MQTT-4.4.0-1 or v5:§4.1 (§ is U+00A7, C2 A7 in UTF-8). */
static bool valid_key(const char *key)
{
    size_t v = key_version(key);
    if (v == N_VERSIONS)
        return false;
    const char *r = key + strlen(versions[v].prefix);
    if (!strncmp(r, "MQTT-", 5)) {
        size_t n = dotted_number(r + 5);
        if (!n || r[5 + n] != '-')
            return false;
        const char *t = r + 5 + n + 1;
        size_t d = 0;
        while (t[d] >= '0' && t[d] <= '9')
            d++;
        return d > 0 && d <= 4 && !t[d];
    }
    if (!strncmp(r, "\xC2\xA7", 2)) {
        size_t n = dotted_number(r + 2);
        return n && !r[2 + n];
    }
    return false;
}

static stmt *index_find(const stmt_index *ix, const char *cite)
{
    for (size_t i = 0; i < ix->n; i++)
        if (!strcmp(ix->items[i].key, cite) || (ix->items[i].alias && !strcmp(ix->items[i].alias, cite)))
            return &ix->items[i];
    return NULL;
}

static void index_free(stmt_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        stmt *st = &ix->items[i];
        free(st->key);
        free(st->printed_as);
        free(st->alias);
        free(st->paraphrase);
        free(st->untestable);
        free(st->by);
    }
    free(ix->items);
    ix->items = NULL;
    ix->n = 0;
}

/* A one-line, non-empty string value. */
static int get_line(lctx *c, const ynode *n, const char *key, char **out)
{
    if (get_str(c, n, key, out) < 0)
        return -1;
    if (!**out || strpbrk(*out, "\n\r\t")) {
        lerr(c, n, "%s: one non-empty line, without tabs", key);
        return -1;
    }
    return 0;
}

static void parse_entry(lctx *c, stmt_index *ix, const ynode *k, const ynode *v)
{
    static const char *const keys[] = {"level", "paraphrase", "untestable", "printed_as", NULL};
    stmt *st = &ix->items[ix->n];
    memset(st, 0, sizeof *st);
    if (!valid_key(k->str)) {
        lerr(c, k, "statement '%.80s': expected v5: or v311: then MQTT-X.Y.Z-N or a section "
                   "such as \xC2\xA7" "4.1",
             k->str);
        return;
    }
    char what[120];
    snprintf(what, sizeof what, "statement %.80s", k->str);
    if (v->type != YN_MAP) {
        lerr(c, v, "%s: expected a map with level and paraphrase, got %s", what,
             ynode_type_name(v));
        return;
    }
    int before = c->nerr;
    map_check_keys(c, v, what, keys);
    const ynode *f;
    if ((f = map_require(c, v, what, "level")))
        get_level(c, f, &st->level);
    if ((f = map_require(c, v, what, "paraphrase")))
        get_line(c, f, "paraphrase", &st->paraphrase);
    if ((f = map_get(v, "untestable")))
        get_line(c, f, "untestable", &st->untestable);
    if ((f = map_get(v, "printed_as")) && get_line(c, f, "printed_as", &st->printed_as) == 0) {
        const char *rest = strchr(k->str, ':') + 1;
        if (strncmp(st->printed_as, "MQTT-", 5) || strchr(st->printed_as, ' ') ||
            !strcmp(st->printed_as, rest)) {
            lerr(c, f, "printed_as: the ID as the standard prints it (MQTT-...), different from "
                       "the key");
        } else {
            size_t pl = strlen(versions[key_version(k->str)].prefix);
            st->alias = malloc(pl + strlen(st->printed_as) + 1);
            if (st->alias) {
                memcpy(st->alias, k->str, pl);
                strcpy(st->alias + pl, st->printed_as);
            }
        }
    }
    st->key = xstrdup(k->str);
    st->pos = k->pos;
    if (c->nerr != before || !st->key) {
        free(st->key);
        free(st->printed_as);
        free(st->alias);
        free(st->paraphrase);
        free(st->untestable);
        return;
    }
    /* a printed form must not be another statement's key, nor the other way round */
    for (size_t i = 0; i < ix->n; i++) {
        const stmt *o = &ix->items[i];
        if ((st->alias && !strcmp(st->alias, o->key)) || (o->alias && !strcmp(o->alias, st->key))) {
            lerr(c, k, "statement %.80s: its printed form clashes with %s (line %d)", st->key,
                 o->key, o->pos.line);
            free(st->key);
            free(st->printed_as);
            free(st->alias);
            free(st->paraphrase);
            free(st->untestable);
            return;
        }
    }
    ix->n++;
}

/* Loads the index; returns the number of errors (printed to errs as FILE:LINE:COL). */
static int index_load(const char *path, const char *shown, stmt_index *ix, FILE *errs)
{
    lctx c;
    memset(&c, 0, sizeof c);
    c.file = shown;
    c.errs = errs;
    memset(ix, 0, sizeof *ix);
    size_t len = 0;
    char why[128] = "";
    char *text = ld_read_file(path, &len, why, sizeof why);
    if (!text) {
        fprintf(errs, "%s: cannot read the statement index: %s (give one with --index FILE)\n",
                shown, why);
        return 1;
    }
    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", text[blank]) && text[blank])
        blank++;
    if (blank == len) {
        free(text);
        lerr_at(&c, (src_pos){1, 1}, "the statement index is empty: expected statements: {...}");
        return 1;
    }
    ynode *root = ynode_parse(&c, text, len);
    free(text);
    if (!root)
        return c.nerr ? c.nerr : 1;
    static const char *const top[] = {"statements", NULL};
    const ynode *sm = NULL;
    if (root->type != YN_MAP) {
        lerr(&c, root, "the statement index is a map with one key, statements; got %s",
             ynode_type_name(root));
    } else {
        map_check_keys(&c, root, "the statement index", top);
        if ((sm = map_require(&c, root, "the statement index", "statements")) &&
            sm->type != YN_MAP) {
            lerr(&c, sm, "statements: expected a map of statement -> {level, paraphrase}, got %s",
                 ynode_type_name(sm));
            sm = NULL;
        }
    }
    if (sm && sm->n == 0)
        lerr(&c, sm, "statements: the index is empty");
    if (sm && sm->n && (ix->items = xcalloc(sm->n / 2, sizeof *ix->items)))
        for (size_t i = 0; i + 1 < sm->n; i += 2)
            parse_entry(&c, ix, sm->items[i], sm->items[i + 1]);
    ynode_free(root);
    return c.nerr;
}

static int add_citation(stmt *st, const scenario_t *s)
{
    for (size_t i = 0; i < st->n_by; i++)
        if (st->by[i] == s)
            return 0;
    if (st->n_by == st->cap_by) {
        size_t cap = st->cap_by ? st->cap_by * 2 : 4;
        const scenario_t **nb = realloc(st->by, cap * sizeof *nb);
        if (!nb)
            return -1;
        st->by = nb;
        st->cap_by = cap;
    }
    st->by[st->n_by++] = s;
    return 0;
}

/* One citation; returns 1 (after a message) when the index lacks it. */
static int resolve(stmt_index *ix, const scenario_t *s, const char *cite, src_pos pos,
                   const char *index_shown)
{
    stmt *st = index_find(ix, cite);
    if (st)
        return add_citation(st, s) < 0;
    /* the same number under the other version is the usual slip */
    char hint[200] = "";
    const char *colon = strchr(cite, ':');
    if (colon)
        for (size_t v = 0; v < N_VERSIONS; v++) {
            char other[160];
            snprintf(other, sizeof other, "%s%s", versions[v].prefix, colon + 1);
            if (strcmp(other, cite) && index_find(ix, other)) {
                snprintf(hint, sizeof hint, "; the index has %s", other);
                break;
            }
        }
    fprintf(stderr, "%s:%d:%d: spec: '%.100s' is not in the statement index %s%s\n", s->file,
            pos.line, pos.col, cite, index_shown, hint);
    return 1;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A path as a reader wants it in messages: relative to the working directory when below it. */
static void tidy_path(const char *path, char *out, size_t cap)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    if (!realpath(path, real)) {
        snprintf(out, cap, "%s", path);
        return;
    }
    size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    if (n && !strncmp(real, cwd, n) && real[n] == '/')
        snprintf(out, cap, "%s", real + n + 1);
    else
        snprintf(out, cap, "%s", real);
}

/* SCENARIOS/../spec/statements.yaml, where SCENARIOS is the bundled scenarios
 * directory (in the source tree or PREFIX/share/mqspec), else next to the binary. */
static void default_index(char *out, size_t cap)
{
    char cand[3][PATH_MAX + 64];
    int n = 0;
    snprintf(cand[n++], sizeof cand[0], "%s/../spec/statements.yaml", default_scenarios_dir());
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(cand[n++], sizeof cand[0], "%s/../spec/statements.yaml", exe);
            snprintf(cand[n++], sizeof cand[0], "%s/../share/mqspec/spec/statements.yaml", exe);
        }
    }
    for (int i = 0; i < n; i++)
        if (is_file(cand[i])) {
            snprintf(out, cap, "%s", cand[i]);
            return;
        }
    snprintf(out, cap, "%s", cand[0]);
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Display width of UTF-8 text: one column per character. */
static int text_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += (*p & 0xC0) != 0x80;
    return w;
}

typedef struct counts {
    int n[N_VERSIONS][N_LEVELS][ST_N];
} counts;

static void count_all(const stmt_index *ix, counts *k)
{
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < ix->n; i++)
        k->n[key_version(ix->items[i].key)][ix->items[i].level][stmt_status(&ix->items[i])]++;
}

static void print_text(const stmt_index *ix, const counts *k, bool verbose)
{
    int width = 0;
    for (size_t i = 0; i < ix->n; i++)
        if (text_width(ix->items[i].key) > width)
            width = text_width(ix->items[i].key);
    bool first = true;
    for (size_t v = 0; v < N_VERSIONS; v++)
        for (int l = 0; l < N_LEVELS; l++) {
            const int *c = k->n[v][levels[l]];
            if (!(c[0] + c[1] + c[2]))
                continue;
            printf("%s%s, %s: %d covered, %d untestable, %d not covered\n", first ? "" : "\n",
                   versions[v].title, level_name(levels[l]), c[ST_COVERED], c[ST_UNTESTABLE],
                   c[ST_NOT_COVERED]);
            first = false;
            for (size_t i = 0; i < ix->n; i++) {
                const stmt *st = &ix->items[i];
                if (key_version(st->key) != v || st->level != levels[l])
                    continue;
                printf("  %s%*s  ", st->key, width - text_width(st->key), "");
                switch (stmt_status(st)) {
                case ST_COVERED:
                    for (size_t j = 0; j < st->n_by; j++)
                        printf("%s%s", j ? ", " : "", st->by[j]->id);
                    break;
                case ST_UNTESTABLE:
                    printf(UNTESTABLE_TEXT ": %s", st->untestable);
                    break;
                default:
                    printf("NOT COVERED");
                }
                putchar('\n');
                if (verbose)
                    printf("  %*s  %s\n", width, "", st->paraphrase);
            }
        }
    if (!first)
        putchar('\n');
    /* the summary, last: per level over both versions */
    for (int l = 0; l < N_LEVELS; l++) {
        int c[ST_N] = {0, 0, 0};
        for (size_t v = 0; v < N_VERSIONS; v++)
            for (int s = 0; s < ST_N; s++)
                c[s] += k->n[v][levels[l]][s];
        printf("%s%s: %d covered, %d untestable, %d not covered", l ? "; " : "",
               level_name(levels[l]), c[ST_COVERED], c[ST_UNTESTABLE], c[ST_NOT_COVERED]);
    }
    printf(" (%zu statements)\n", ix->n);
}

static void json_counts(const int *c)
{
    printf("{\"covered\": %d, \"untestable\": %d, \"not_covered\": %d}", c[ST_COVERED],
           c[ST_UNTESTABLE], c[ST_NOT_COVERED]);
}

static void print_json(const stmt_index *ix, const counts *k, const char *index_shown,
                       size_t n_scenarios)
{
    printf("{\"index\": ");
    json_str(index_shown);
    printf(", \"scenarios\": %zu,\n \"statements\": [", n_scenarios);
    bool first = true;
    for (size_t v = 0; v < N_VERSIONS; v++)
        for (int l = 0; l < N_LEVELS; l++)
            for (size_t i = 0; i < ix->n; i++) {
                const stmt *st = &ix->items[i];
                if (key_version(st->key) != v || st->level != levels[l])
                    continue;
                printf("%s\n  {\"id\": ", first ? "" : ",");
                first = false;
                json_str(st->key);
                printf(", \"version\": \"%s\", \"level\": \"%s\", \"status\": \"%s\",\n   "
                       "\"paraphrase\": ",
                       versions[v].json, level_name(st->level), status_json[stmt_status(st)]);
                json_str(st->paraphrase);
                printf(",\n   \"scenarios\": [");
                for (size_t j = 0; j < st->n_by; j++) {
                    printf("%s", j ? ", " : "");
                    json_str(st->by[j]->id);
                }
                printf("], \"untestable\": ");
                if (st->untestable)
                    json_str(st->untestable);
                else
                    printf("null");
                printf(", \"printed_as\": ");
                if (st->printed_as)
                    json_str(st->printed_as);
                else
                    printf("null");
                printf("}");
            }
    printf("%s],\n \"by_version\": {", first ? "" : "\n ");
    for (size_t v = 0; v < N_VERSIONS; v++) {
        printf("%s\"%s\": {", v ? ", " : "", versions[v].json);
        for (int l = 0; l < N_LEVELS; l++) {
            printf("%s\"%s\": ", l ? ", " : "", level_name(levels[l]));
            json_counts(k->n[v][levels[l]]);
        }
        printf("}");
    }
    printf("},\n \"summary\": {");
    for (int l = 0; l < N_LEVELS; l++) {
        int c[ST_N] = {0, 0, 0};
        for (size_t v = 0; v < N_VERSIONS; v++)
            for (int s = 0; s < ST_N; s++)
                c[s] += k->n[v][levels[l]][s];
        printf("%s\"%s\": ", l ? ", " : "", level_name(levels[l]));
        json_counts(c);
    }
    printf("}}\n");
}

static void coverage_usage(FILE *f)
{
    fputs("usage: mqspec coverage [--json] [--strict] [-v] [--index FILE] [PATH...]\n"
          "\n"
          "Reads the statement index (default: spec/statements.yaml beside the bundled\n"
          "scenarios) and the scenarios (default: the bundled ones; directories are searched\n"
          "for *.yaml and *.yml), and prints per statement, by version and MUST first: the\n"
          "scenarios that cite it, \"" UNTESTABLE_TEXT ": REASON\", or\n"
          "\"NOT COVERED\". The last line counts covered / untestable / not covered per level.\n"
          "\n"
          "  --json        the same as one JSON object\n"
          "  --strict      exit 1 when any MUST statement is NOT COVERED\n"
          "  -v            print each statement's paraphrase under it\n"
          "  --index FILE  another statement index\n"
          "\n"
          "A scenario citing a statement the index lacks is an error (FILE:LINE:COL).\n"
          "exit status: 0 fine, 1 --strict and a MUST not covered, 2 an invalid scenario or\n"
          "index, an unknown statement, or a bad invocation\n",
          f);
}

int cmd_coverage(int argc, char **argv)
{
    bool json = false, strict = false, verbose = false, opts = true;
    const char *index_arg = NULL;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    if (!paths)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && !strcmp(a, "--")) {
            opts = false;
        } else if (opts && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            coverage_usage(stdout);
            free(paths);
            return 0;
        } else if (opts && !strcmp(a, "--json")) {
            json = true;
        } else if (opts && !strcmp(a, "--strict")) {
            strict = true;
        } else if (opts && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) {
            verbose = true;
        } else if (opts && !strcmp(a, "--index")) {
            if (++i >= argc) {
                fprintf(stderr, "mqspec coverage: --index needs a FILE\n");
                free(paths);
                return 2;
            }
            index_arg = argv[i];
        } else if (opts && !strncmp(a, "--index=", 8)) {
            index_arg = a + 8;
        } else if (opts && a[0] == '-' && a[1]) {
            fprintf(stderr, "mqspec coverage: unknown option '%s' (see mqspec coverage --help)\n",
                    a);
            free(paths);
            return 2;
        } else {
            paths[npaths++] = a;
        }
    }
    if (npaths == 0)
        paths[npaths++] = default_scenarios_dir();

    char index_path[PATH_MAX + 64], shown[PATH_MAX + 64];
    if (index_arg) {
        snprintf(index_path, sizeof index_path, "%s", index_arg);
        snprintf(shown, sizeof shown, "%s", index_arg);
    } else {
        default_index(index_path, sizeof index_path);
        tidy_path(index_path, shown, sizeof shown);
    }

    stmt_index ix;
    int errors = index_load(index_path, shown, &ix, stderr);
    scenario_set set;
    errors += scenario_set_load(paths, npaths, &set, stderr);
    if (!errors) {
        for (size_t i = 0; i < set.n; i++) {
            const scenario_t *s = set.items[i];
            for (size_t k = 0; k < s->n_spec; k++)
                errors += resolve(&ix, s, s->spec[k], s->spec_pos ? s->spec_pos[k] : (src_pos){1, 1},
                                  shown);
            /* a step's own statement: the step's position is the nearest the model keeps */
            for (size_t k = 0; k < s->n_steps; k++)
                if (s->steps[k].spec)
                    errors += resolve(&ix, s, s->steps[k].spec, s->steps[k].pos, shown);
        }
    }
    int rc = 0;
    if (errors) {
        fprintf(stderr, "mqspec coverage: %d error%s\n", errors, errors == 1 ? "" : "s");
        rc = 2;
    } else {
        counts k;
        count_all(&ix, &k);
        if (json)
            print_json(&ix, &k, shown, set.n);
        else
            print_text(&ix, &k, verbose);
        if (strict)
            for (size_t v = 0; v < N_VERSIONS; v++)
                if (k.n[v][LEVEL_MUST][ST_NOT_COVERED])
                    rc = 1;
    }
    scenario_set_free(&set);
    index_free(&ix);
    free(paths);
    return rc;
}
