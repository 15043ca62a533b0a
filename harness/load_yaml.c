/* load_yaml.c -- YAML text to a small node tree that remembers where every node was.
 *
 * What it is for: the only file of the loader that talks to libyaml. It uses the
 * event API (not the document API) so that anchors, aliases and tags can be
 * refused with their position, and so that nesting depth, node count and map size
 * are bounded before anything is allocated for them: a fuzzer can feed it
 * anything. It also offers the map helpers the validators share (unknown keys,
 * required keys).
 *
 * What it is not: the meaning of a scenario. Scalars stay text here; load_values.c
 * decides what is a number, a boolean or a duration.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "load_int.h"

void lerr_at(lctx *c, src_pos pos, const char *fmt, ...)
{
    char raw[1200], msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* One line per error, whatever the file quotes into it: control characters
     * (a newline inside a quoted id, say) are written as escapes. */
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < sizeof msg; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            msg[o++] = (char)*p;
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            o += (size_t)snprintf(msg + o, sizeof msg - o, "\\%c",
                                  *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else
            o += (size_t)snprintf(msg + o, sizeof msg - o, "\\x%02x", *p);
    }
    msg[o] = 0;
    c->nerr++;
    if (c->nerr == 1 && c->err && c->errcap)
        snprintf(c->err, c->errcap, "%s:%d:%d: %s", c->file, pos.line, pos.col, msg);
    if (c->errs) {
        if (c->nerr <= LOAD_MAX_ERRORS)
            fprintf(c->errs, "%s:%d:%d: %s\n", c->file, pos.line, pos.col, msg);
        else if (c->nerr == LOAD_MAX_ERRORS + 1)
            fprintf(c->errs, "%s:%d:%d: too many errors, the rest of this file is not reported\n",
                    c->file, pos.line, pos.col);
    }
}

void lerr(lctx *c, const ynode *n, const char *fmt, ...)
{
    char msg[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    src_pos p = n ? n->pos : (src_pos){1, 1};
    lerr_at(c, p, "%s", msg);
}

void ynode_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ynode_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

static src_pos mark_pos(yaml_mark_t m)
{
    src_pos p = {(int)m.line + 1, (int)m.column + 1};
    return p;
}

static bool same_key(const ynode *a, const ynode *b)
{
    return a->type == YN_SCALAR && b->type == YN_SCALAR && a->len == b->len &&
           memcmp(a->str, b->str, a->len) == 0;
}

/* Adds child to parent; returns false after reporting a problem with it. */
static bool add_child(lctx *c, ynode *parent, ynode *child)
{
    if (parent->type == YN_MAP && parent->n % 2 == 0) {
        /* child is a key */
        if (child->type != YN_SCALAR) {
            lerr(c, child, "a map key must be a plain string, got %s", ynode_type_name(child));
            return false;
        }
        if (child->plain && child->len == 2 && !memcmp(child->str, "<<", 2)) {
            lerr(c, child, "YAML merge keys (<<) are not supported: write the keys out");
            return false;
        }
        if (parent->n / 2 >= LOAD_MAX_MAPKEYS) {
            lerr(c, child, "too many keys in one map (more than %d)", LOAD_MAX_MAPKEYS);
            return false;
        }
        for (size_t i = 0; i < parent->n; i += 2) {
            if (same_key(parent->items[i], child)) {
                lerr(c, child, "duplicate key '%s' (first at line %d, column %d)", child->str,
                     parent->items[i]->pos.line, parent->items[i]->pos.col);
                return false;
            }
        }
    }
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        ynode **items = realloc(parent->items, cap * sizeof *items);
        if (!items) {
            lerr(c, child, "out of memory");
            return false;
        }
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    return true;
}

static ynode *new_node(ynode_type t, yaml_mark_t m)
{
    ynode *n = calloc(1, sizeof *n);
    if (n) {
        n->type = t;
        n->pos = mark_pos(m);
    }
    return n;
}

ynode *ynode_parse(lctx *c, const char *text, size_t len)
{
    if (len > LOAD_MAX_BYTES) {
        lerr_at(c, (src_pos){1, 1}, "file too large (%zu bytes, at most %u)", len, LOAD_MAX_BYTES);
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        lerr_at(c, (src_pos){1, 1}, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    ynode *stack[LOAD_MAX_DEPTH + 1];
    int depth = 0;
    ynode *root = NULL;
    size_t nodes = 0;
    int docs = 0;
    bool ok = true, done = false;

    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            src_pos p = mark_pos(parser.problem_mark);
            if (parser.error == YAML_MEMORY_ERROR)
                lerr_at(c, p, "out of memory");
            else if (parser.context)
                lerr_at(c, p, "YAML syntax error: %s %s", parser.problem ? parser.problem : "",
                        parser.context);
            else
                lerr_at(c, p, "YAML syntax error: %s", parser.problem ? parser.problem : "?");
            ok = false;
            break;
        }
        ynode *n = NULL;
        const yaml_char_t *anchor = NULL, *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                lerr_at(c, mark_pos(ev.start_mark),
                        "only one YAML document per file (a second one starts here)");
                ok = false;
            }
            break;
        case YAML_ALIAS_EVENT:
            lerr_at(c, mark_pos(ev.start_mark),
                    "YAML aliases (*%s) are not supported: write the value out",
                    (const char *)ev.data.alias.anchor);
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            n = new_node(YN_SCALAR, ev.start_mark);
            if (n) {
                n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                n->len = ev.data.scalar.length;
                n->str = malloc(n->len + 1);
                if (n->str) {
                    memcpy(n->str, ev.data.scalar.value, n->len);
                    n->str[n->len] = 0;
                }
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            tag = ev.data.sequence_start.tag;
            n = new_node(YN_SEQ, ev.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            tag = ev.data.mapping_start.tag;
            n = new_node(YN_MAP, ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        if (ok && (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
                   ev.type == YAML_MAPPING_START_EVENT)) {
            if (!n || (n->type == YN_SCALAR && !n->str)) {
                lerr_at(c, mark_pos(ev.start_mark), "out of memory");
                ynode_free(n);
                ok = false;
            } else if (anchor) {
                lerr(c, n, "YAML anchors (&%s) are not supported: write the value out",
                     (const char *)anchor);
                ynode_free(n);
                ok = false;
            } else if (tag) {
                lerr(c, n, "YAML tags (%s) are not supported", (const char *)tag);
                ynode_free(n);
                ok = false;
            } else if (++nodes > LOAD_MAX_NODES) {
                lerr(c, n, "too many YAML nodes (more than %d)", LOAD_MAX_NODES);
                ynode_free(n);
                ok = false;
            } else if (depth == 0 && root) {
                lerr(c, n, "only one YAML document per file");
                ynode_free(n);
                ok = false;
            } else {
                if (depth == 0)
                    root = n;
                else if (!add_child(c, stack[depth - 1], n)) {
                    ynode_free(n);
                    ok = false;
                }
                if (ok && n->type != YN_SCALAR) {
                    if (depth >= LOAD_MAX_DEPTH) {
                        lerr(c, n, "nested too deeply (more than %d levels)", LOAD_MAX_DEPTH);
                        ok = false;
                    } else {
                        stack[depth++] = n;
                    }
                }
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (!ok) {
        ynode_free(root);
        return NULL;
    }
    if (!root || ynode_is_null(root)) {
        lerr_at(c, root ? root->pos : (src_pos){1, 1},
                "empty file: expected a scenario (a map with id, title, spec, level, protocol, "
                "clients, steps)");
        ynode_free(root);
        return NULL;
    }
    return root;
}

const char *ynode_type_name(const ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YN_MAP:
        return "a map";
    case YN_SEQ:
        return "a list";
    default:
        return ynode_is_null(n) ? "nothing (null)" : "a scalar";
    }
}

bool ynode_is_null(const ynode *n)
{
    if (!n || n->type != YN_SCALAR || !n->plain)
        return false;
    return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

static bool key_is(const ynode *k, const char *key)
{
    size_t l = strlen(key);
    return k->type == YN_SCALAR && k->len == l && !memcmp(k->str, key, l);
}

const ynode *map_key(const ynode *map, const char *key)
{
    if (!map || map->type != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (key_is(map->items[i], key))
            return map->items[i];
    return NULL;
}

const ynode *map_get(const ynode *map, const char *key)
{
    if (!map || map->type != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (key_is(map->items[i], key))
            return map->items[i + 1];
    return NULL;
}

bool map_check_keys(lctx *c, const ynode *map, const char *what, const char *const *allowed)
{
    bool ok = true;
    if (!map || map->type != YN_MAP)
        return true;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ynode *k = map->items[i];
        bool found = false;
        for (const char *const *a = allowed; *a; a++)
            if (key_is(k, *a)) {
                found = true;
                break;
            }
        if (found)
            continue;
        char list[512];
        size_t used = 0;
        list[0] = 0;
        for (const char *const *a = allowed; *a && used < sizeof list; a++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        lerr(c, k, "unknown key '%.80s' in %s (allowed: %s)", k->str, what, list);
        ok = false;
    }
    return ok;
}

const ynode *map_require(lctx *c, const ynode *map, const char *what, const char *key)
{
    const ynode *v = map_get(map, key);
    if (!v)
        lerr(c, map, "%s: missing required key '%s'", what, key);
    return v;
}

bool want_map(lctx *c, const ynode *n, const char *what)
{
    if (n->type == YN_MAP || ynode_is_null(n))
        return true;
    if (n->type == YN_SCALAR)
        lerr(c, n, "%s: expected a map, got '%.80s'", what, n->str);
    else
        lerr(c, n, "%s: expected a map, got %s", what, ynode_type_name(n));
    return false;
}

bool want_seq(lctx *c, const ynode *n, const char *what)
{
    if (n->type == YN_SEQ)
        return true;
    if (n->type == YN_SCALAR)
        lerr(c, n, "%s: expected a list, got '%.80s'", what, n->str);
    else
        lerr(c, n, "%s: expected a list, got %s", what, ynode_type_name(n));
    return false;
}
