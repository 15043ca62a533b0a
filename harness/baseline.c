/* baseline.c -- loading a broker's known failures and applying them; see baseline.h.
 *
 * What it is for: the one place that decides what a baseline entry does to a
 * verdict, so TAP, JSON and the documents all show the same thing.
 *
 * What it is not: the scenario loader; a baseline is a flat list, read with
 * libyaml's document API and checked key by key.
 */
#include "baseline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define BASELINE_MAX_BYTES (1u << 20)

static int fail_at(char *err, size_t errcap, const char *file, const yaml_node_t *n, const char *msg,
                   const char *arg)
{
    snprintf(err, errcap, "%s:%zu:%zu: %s%s", file, n ? n->start_mark.line + 1 : 1,
             n ? n->start_mark.column + 1 : 1, msg, arg ? arg : "");
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_entry(yaml_document_t *doc, yaml_node_t *m, baseline_entry *e, const char *file,
                      char *err, size_t errcap)
{
    if (m->type != YAML_MAPPING_NODE)
        return fail_at(err, errcap, file, m, "an entry must be a map (id, statement, reason, link)", NULL);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = scalar(k), *val = scalar(v);
        char **slot = NULL;
        if (key && !strcmp(key, "id"))
            slot = &e->id;
        else if (key && !strcmp(key, "statement"))
            slot = &e->statement;
        else if (key && !strcmp(key, "reason"))
            slot = &e->reason;
        else if (key && !strcmp(key, "link"))
            slot = &e->link;
        else
            return fail_at(err, errcap, file, k, "unknown key (allowed: id, statement, reason, link): ",
                           key ? key : "?");
        if (!val || !*val)
            return fail_at(err, errcap, file, v, "expected a non-empty string for ", key);
        if (*slot)
            return fail_at(err, errcap, file, k, "repeated key ", key);
        if (!(*slot = strdup(val)))
            return fail_at(err, errcap, file, v, "out of memory", NULL);
    }
    if (!e->id || !e->statement || !e->reason)
        return fail_at(err, errcap, file, m, "an entry needs id, statement and reason", NULL);
    return 0;
}

int baseline_load(const char *path, baseline *b, char *err, size_t errcap)
{
    memset(b, 0, sizeof *b);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errcap, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    b->file = strdup(path);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        fail_at(err, errcap, path, root, "a baseline is a map with `broker` and `known`", NULL);
        goto out;
    }
    yaml_node_t *known = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(k);
        if (key && !strcmp(key, "broker") && scalar(v)) {
            free(b->broker);
            b->broker = strdup(scalar(v));
        } else if (key && !strcmp(key, "known")) {
            known = v;
        } else {
            fail_at(err, errcap, path, k, "unknown key (allowed: broker, known): ", key ? key : "?");
            goto out;
        }
    }
    /* `known:` with nothing after it is an empty list: a broker with no known failures. */
    if (known && known->type == YAML_SCALAR_NODE && !*scalar(known)) {
        rc = 0;
        goto out;
    }
    if (!known || known->type != YAML_SEQUENCE_NODE) {
        fail_at(err, errcap, path, known ? known : root, "`known` must be a list", NULL);
        goto out;
    }
    size_t n = (size_t)(known->data.sequence.items.top - known->data.sequence.items.start);
    b->items = calloc(n ? n : 1, sizeof *b->items);
    if (!b->items) {
        fail_at(err, errcap, path, known, "out of memory", NULL);
        goto out;
    }
    for (yaml_node_item_t *it = known->data.sequence.items.start; it < known->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(&doc, *it);
        baseline_entry *e = &b->items[b->n++];
        if (load_entry(&doc, m, e, path, err, errcap) != 0)
            goto out;
        for (size_t q = 0; q + 1 < b->n; q++)
            if (!strcmp(b->items[q].id, e->id)) {
                fail_at(err, errcap, path, m, "scenario listed twice: ", e->id);
                goto out;
            }
    }
    rc = 0;
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc)
        baseline_free(b);
    return rc;
}

void baseline_free(baseline *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].id);
        free(b->items[i].statement);
        free(b->items[i].reason);
        free(b->items[i].link);
    }
    free(b->items);
    free(b->file);
    free(b->broker);
    memset(b, 0, sizeof *b);
}

const baseline_entry *baseline_find(const baseline *b, const char *id)
{
    for (size_t i = 0; b && id && i < b->n; i++)
        if (!strcmp(b->items[i].id, id))
            return &b->items[i];
    return NULL;
}

static void add_note(scenario_result *s, char *note)
{
    if (!note)
        return;
    char **g = realloc(s->notes, (s->n_notes + 1) * sizeof *g);
    if (!g) {
        free(note);
        return;
    }
    s->notes = g;
    s->notes[s->n_notes++] = note;
}

baseline_effect baseline_apply(const baseline *b, scenario_result *s)
{
    const baseline_entry *e = baseline_find(b, s->id);
    if (!e)
        return BASELINE_NONE;
    free(s->baseline_reason);
    free(s->baseline_link);
    s->baseline_reason = strdup(e->reason);
    s->baseline_link = e->link ? strdup(e->link) : NULL;
    if (s->verdict == V_FAIL) {
        s->verdict = V_KNOWN;
        /* The baseline's reason is what a reader of "known" needs first; what
         * the runner said about the failure stays, as a note. */
        if (s->reason) {
            size_t len = strlen(s->reason) + 32;
            char *note = malloc(len);
            if (note)
                snprintf(note, len, "the failure: %s", s->reason);
            add_note(s, note);
            free(s->reason);
        }
        size_t len = strlen(e->reason) + strlen(e->statement) + 8;
        s->reason = malloc(len);
        if (s->reason)
            snprintf(s->reason, len, "%s (%s)", e->reason, e->statement);
        return BASELINE_KNOWN;
    }
    char buf[512];
    if (s->verdict == V_PASS) {
        snprintf(buf, sizeof buf, "listed in the baseline %s as a known failure of %s, but passed: "
                                  "the entry may be stale",
                 b->file ? b->file : "", e->statement);
        add_note(s, strdup(buf));
        return BASELINE_PASSED;
    }
    snprintf(buf, sizeof buf, "listed in the baseline %s as a known failure of %s; this run: %s",
             b->file ? b->file : "", e->statement, verdict_name(s->verdict));
    add_note(s, strdup(buf));
    return BASELINE_OTHER;
}
