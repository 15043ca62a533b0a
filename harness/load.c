/* load.c -- the loader's entry points (load.h): one file or string, or a set of
 * files and directories; the top-level keys and the clients of a scenario.
 *
 * What it is for: reading files, walking directories, the order in which the
 * parts of a scenario are validated (clients before steps, since steps name
 * them), and duplicate ids across files.
 *
 * What it is not: YAML (load_yaml.c), values (load_values.c) or steps
 * (load_steps.c). It never expands templates or connects anywhere.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../mqtt/mqtt.h"
#include "load_int.h"

static int get_protocol(lctx *c, const ynode *n, uint8_t *out)
{
    if (n->type == YN_SCALAR) {
        if (!strcmp(n->str, "5") || !strcmp(n->str, "5.0")) {
            *out = MQTT_V5;
            return 0;
        }
        if (!strcmp(n->str, "3.1.1")) {
            *out = MQTT_V311;
            return 0;
        }
    }
    lerr(c, n, "protocol: expected 5 or 3.1.1, got %s%.40s%s", n->type == YN_SCALAR ? "'" : "",
         n->type == YN_SCALAR ? n->str : ynode_type_name(n), n->type == YN_SCALAR ? "'" : "");
    return -1;
}

static int get_driver(lctx *c, const ynode *n, char **out)
{
    if (n->type == YN_SCALAR && (!strcmp(n->str, "mosquitto") || !strcmp(n->str, "raw")))
        return get_str(c, n, "driver", out);
    lerr(c, n, "driver: expected mosquitto or raw, got %s%.40s%s", n->type == YN_SCALAR ? "'" : "",
         n->type == YN_SCALAR ? n->str : ynode_type_name(n), n->type == YN_SCALAR ? "'" : "");
    return -1;
}

static int get_str_list(lctx *c, const ynode *n, const char *key, bool statements, char ***out,
                        size_t *n_out)
{
    if (!want_seq(c, n, key))
        return -1;
    *out = xcalloc(n->n, sizeof **out);
    if (!*out)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->n; i++) {
        char *s = NULL;
        int r = statements ? get_spec_statement(c, n->items[i], &s)
                           : get_str(c, n->items[i], key, &s);
        if (r < 0)
            rc = -1;
        else
            (*out)[(*n_out)++] = s;
    }
    return rc;
}

static bool valid_name(const char *s, size_t len, bool dots)
{
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ((ch >= '0' && ch <= '9') || ch == '-')) ||
                  (dots && ((ch >= '0' && ch <= '9') || ch == '-' || ch == '.'));
        if (!ok)
            return false;
    }
    return true;
}

static void parse_clients(lctx *c, const ynode *cl)
{
    static const char *const keys[] = {"protocol", "client_id", "username", "password", "driver",
                                       "auto_ack", "credentials", NULL};
    scenario_t *s = c->s;
    if (cl->type != YN_MAP) {
        want_map(c, cl, "clients");
        if (ynode_is_null(cl))
            lerr(c, cl, "clients: a scenario needs at least one client");
        return;
    }
    if (cl->n == 0) {
        lerr(c, cl, "clients: a scenario needs at least one client");
        return;
    }
    if (cl->n / 2 > LOAD_MAX_CLIENTS) {
        lerr(c, cl, "clients: at most %d clients in one scenario", LOAD_MAX_CLIENTS);
        return;
    }
    s->clients = xcalloc(cl->n / 2, sizeof *s->clients);
    if (!s->clients)
        return;
    /* names first, so that {id:NAME} may name a client defined further down */
    for (size_t i = 0; i + 1 < cl->n; i += 2) {
        const ynode *k = cl->items[i];
        client_def *d = &s->clients[s->n_clients++];
        d->name = xstrdup(k->str);
        d->pos = k->pos;
        d->protocol = s->protocol;
        d->auto_ack = true;
        if (!valid_name(k->str, k->len, false))
            lerr(c, k, "client name '%.60s': letters, digits, '_' and '-', starting with a letter "
                       "or '_' (no '.')",
                 k->str);
    }
    for (size_t i = 0; i + 1 < cl->n; i += 2) {
        client_def *d = &s->clients[i / 2];
        const ynode *o = cl->items[i + 1], *v;
        if (!want_map(c, o, "client options"))
            continue;
        char what[100];
        snprintf(what, sizeof what, "client '%.60s'", d->name);
        map_check_keys(c, o, what, keys);
        if ((v = map_get(o, "protocol")))
            get_protocol(c, v, &d->protocol);
        if ((v = map_get(o, "username")))
            get_str(c, v, "username", &d->username);
        if ((v = map_get(o, "password")))
            get_str(c, v, "password", &d->password);
        if ((v = map_get(o, "driver")))
            get_driver(c, v, &d->driver);
        if ((v = map_get(o, "credentials"))) {
            char *which = NULL;
            if (get_str(c, v, "credentials", &which) == 0) {
                if (!strcmp(which, "second"))
                    d->second_user = true;
                else if (strcmp(which, "default"))
                    lerr(c, v, "credentials: 'default' (the run's --username/--password) or "
                               "'second' (--username2/--password2)");
                if (d->second_user && (d->username || d->password))
                    lerr(c, v, "credentials: second and username/password both name the "
                               "client's user; give one");
            }
            free(which);
        }
        if ((v = map_get(o, "auto_ack")) && get_bool(c, v, "auto_ack", &d->auto_ack) == 0 &&
            !d->auto_ack) {
            d->needs |= CAP_MANUAL_ACK | CAP_NO_AUTO_RESEND;
            const char *drv = d->driver ? d->driver : s->driver;
            if (drv && !strcmp(drv, "mosquitto"))
                lerr(c, v, "auto_ack: false needs the raw driver, but client '%s' uses driver "
                           "mosquitto",
                     d->name);
        }
        if ((v = map_get(o, "client_id")) && get_str(c, v, "client_id", &d->client_id) == 0) {
            if (strlen(d->client_id) > 65535)
                lerr(c, v, "client_id: at most 65535 bytes");
            /* libmosquitto invents an id for an empty 3.1.1 one and refuses an empty
             * one with Clean Start 0: only the raw driver sends it as written. */
            if (!d->client_id[0]) {
                d->needs |= CAP_EMPTY_CLIENT_ID;
                const char *drv = d->driver ? d->driver : s->driver;
                if (drv && !strcmp(drv, "mosquitto"))
                    lerr(c, v, "client_id: an empty client id needs the raw driver, but client "
                               "'%s' uses driver mosquitto",
                         d->name);
            }
        }
    }
    /* templates last: {id:NAME} checks NAME's own client_id */
    for (size_t i = 0; i + 1 < cl->n; i += 2) {
        client_def *d = &s->clients[i / 2];
        const ynode *v = map_get(cl->items[i + 1], "client_id");
        if (v && d->client_id)
            check_template(c, v, d->client_id, strlen(d->client_id), (int)(i / 2));
    }
}

/* `requires: [shared_subscriptions, ...]`: features the steps do not show. */
static void get_requires(lctx *c, const ynode *v, unsigned *out)
{
    char **names = NULL;
    size_t n = 0;
    if (get_str_list(c, v, "requires", false, &names, &n) != 0) {
        for (size_t i = 0; i < n; i++)      /* the entries that were strings */
            free(names[i]);
        free(names);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned bit = feature_by_key(names[i]);
        if (!bit)
            lerr(c, v->items[i], "requires: unknown feature '%.40s'; known: mqtt5, mqtt311, qos1, "
                                 "qos2, retain, wildcard_subscriptions, shared_subscriptions, "
                                 "subscription_identifiers, topic_aliases, second_user, "
                                 "maximum_packet_size, queue_qos0, restart, durable_sessions",
                 names[i]);
        *out |= bit;
        free(names[i]);
    }
    free(names);
}

static unsigned qos_feature(uint8_t qos)
{
    return qos == 2 ? FEAT_QOS2 : qos == 1 ? FEAT_QOS1 : 0;
}

static unsigned filter_features(const char *f)
{
    unsigned r = 0;
    if (!strncmp(f, "$share/", 7)) {
        r |= FEAT_SHARED_SUB;
        const char *rest = strchr(f + 7, '/');
        f = rest ? rest + 1 : "";
    }
    if (strpbrk(f, "+#"))
        r |= FEAT_WILDCARD_SUB;
    return r;
}

/* The broker features the steps rely on, so that a broker without one is
 * skipped instead of failed. */
static unsigned derived_requires(const scenario_t *s)
{
    unsigned r = 0;
    for (size_t i = 0; i < s->n_clients; i++) {
        r |= s->clients[i].protocol == MQTT_V5 ? FEAT_V5 : FEAT_V311;
        if (s->clients[i].second_user)
            r |= FEAT_SECOND_USER;
    }
    for (size_t i = 0; i < s->n_steps; i++) {
        const step_t *st = &s->steps[i];
        switch (st->kind) {
        case ST_CONNECT:
            /* A CONNECT answered by a one_of lists the server's choices,
             * refusing the Will among them: a server without the Will's
             * QoS or retain is judged, not skipped. */
            if (st->u.connect.has_will &&
                !(i + 1 < s->n_steps && s->steps[i + 1].kind == ST_EXPECT &&
                  s->steps[i + 1].client == st->client &&
                  s->steps[i + 1].u.expect.kind == EX_ONE_OF)) {
                r |= qos_feature(st->u.connect.will.qos);
                if (st->u.connect.will.retain)
                    r |= FEAT_RETAIN;
            }
            break;
        case ST_SUBSCRIBE:
            for (size_t k = 0; k < st->u.subscribe.n_entries; k++) {
                r |= qos_feature(st->u.subscribe.entries[k].qos);
                if (st->u.subscribe.entries[k].filter)
                    r |= filter_features(st->u.subscribe.entries[k].filter);
            }
            if (st->u.subscribe.subscription_id.set)
                r |= FEAT_SUB_ID;
            break;
        case ST_PUBLISH:
            r |= qos_feature(st->u.publish.qos);
            if (st->u.publish.retain)
                r |= FEAT_RETAIN;
            if (st->u.publish.topic_alias.set)
                r |= FEAT_TOPIC_ALIAS;
            break;
        case ST_RESTART:
            /* Every restart scenario resumes something across the restart. */
            r |= FEAT_RESTART | FEAT_DURABLE;
            break;
        default:
            break;
        }
    }
    return r;
}

/* What a broker's configured limits must allow for the scenario to apply
 * (model.h): the longest Session Expiry asked for, and the most QoS 1/2
 * messages published while some client that was connected is offline. */
static void derive_limits(scenario_t *s)
{
    uint64_t offline = 0;       /* bit per client (the first 64) */
    uint32_t run = 0;
    for (size_t i = 0; i < s->n_steps; i++) {
        const step_t *st = &s->steps[i];
        uint64_t bit = st->client >= 0 && st->client < 64 ? 1ull << st->client : 0;
        switch (st->kind) {
        case ST_CONNECT:
            if (st->u.connect.session_expiry.set &&
                st->u.connect.session_expiry.v > s->max_session_expiry_asked)
                s->max_session_expiry_asked = st->u.connect.session_expiry.v;
            offline &= ~bit;
            if (!offline)
                run = 0;
            break;
        case ST_DISCONNECT:
            if (st->u.disconnect.session_expiry.set &&
                st->u.disconnect.session_expiry.v > s->max_session_expiry_asked)
                s->max_session_expiry_asked = st->u.disconnect.session_expiry.v;
            if (!st->u.disconnect.keep_open)
                offline |= bit;
            break;
        case ST_DROP:
            offline |= bit;
            break;
        case ST_PUBLISH:
            if (offline && st->u.publish.qos > 0 && ++run > s->max_offline_publishes)
                s->max_offline_publishes = run;
            break;
        default:
            break;
        }
    }
}

static int load_text(lctx *c, const char *text, size_t len, src_pos *id_pos)
{
    ynode *root = ynode_parse(c, text, len);
    if (!root)
        return -1;
    scenario_t *s = c->s;
    static const char *const keys[] = {"id", "title", "spec", "level", "protocol", "driver", "tags",
                                       "requires", "clients", "steps", NULL};
    if (root->type != YN_MAP) {
        lerr(c, root, "a scenario is a map with id, title, spec, level, protocol, clients, steps; "
                      "got %s",
             ynode_type_name(root));
        ynode_free(root);
        return -1;
    }
    map_check_keys(c, root, "the scenario", keys);
    const ynode *v;
    if ((v = map_require(c, root, "scenario", "id")) && get_str(c, v, "id", &s->id) == 0) {
        *id_pos = v->pos;
        if (!valid_name(s->id, strlen(s->id), true))
            lerr(c, v, "id '%.60s': letters, digits, '.', '-' and '_' only, such as "
                       "v5.session-expiry.resume",
                 s->id);
    }
    if ((v = map_require(c, root, "scenario", "title")) && get_str(c, v, "title", &s->title) == 0) {
        if (!*s->title)
            lerr(c, v, "title: must not be empty");
        else if (strchr(s->title, '\n'))
            lerr(c, v, "title: one line only");
    }
    if ((v = map_require(c, root, "scenario", "spec")) &&
        get_str_list(c, v, "spec", true, &s->spec, &s->n_spec) == 0 && s->n_spec == 0)
        lerr(c, v, "spec: name at least one statement");
    if (v && v->n && s->n_spec == v->n && (s->spec_pos = xcalloc(v->n, sizeof *s->spec_pos)))
        for (size_t i = 0; i < v->n; i++)
            s->spec_pos[i] = v->items[i]->pos;     /* for `mqspec coverage` messages */
    if ((v = map_require(c, root, "scenario", "level")))
        get_level(c, v, &s->level);
    s->protocol = MQTT_V5;
    if ((v = map_require(c, root, "scenario", "protocol")))
        get_protocol(c, v, &s->protocol);
    if ((v = map_get(root, "driver")))
        get_driver(c, v, &s->driver);
    if ((v = map_get(root, "tags")))
        get_str_list(c, v, "tags", false, &s->tags, &s->n_tags);
    const ynode *cl = map_require(c, root, "scenario", "clients");
    if (cl)
        parse_clients(c, cl);
    /* steps name clients: without valid clients their errors would only repeat */
    if ((v = map_require(c, root, "scenario", "steps")) && cl && s->n_clients)
        load_steps(c, v);
    if ((v = map_get(root, "requires")))
        get_requires(c, v, &s->requires);
    s->requires |= derived_requires(s);
    derive_limits(s);
    ynode_free(root);
    return c->nerr ? -1 : 0;
}

/* Loads text; reports to err (first) and errs (all). */
static int load_impl(const char *name, const char *text, size_t len, scenario_t **out, char *err,
                     size_t errcap, FILE *errs, int *nerr, src_pos *id_pos)
{
    lctx c;
    memset(&c, 0, sizeof c);
    c.file = name ? name : "-";
    c.err = err;
    c.errcap = errcap;
    c.errs = errs;
    if (err && errcap)
        err[0] = 0;
    *out = NULL;
    src_pos dummy;
    c.s = xcalloc(1, sizeof *c.s);
    if (!c.s) {
        lerr_at(&c, (src_pos){1, 1}, "out of memory");
        *nerr = c.nerr;
        return -1;
    }
    c.s->file = xstrdup(c.file);
    int rc = load_text(&c, text, len, id_pos ? id_pos : &dummy);
    free(c.marks);
    free(c.saved);
    *nerr = c.nerr;
    if (rc < 0) {
        scenario_free(c.s);
        return -1;
    }
    *out = c.s;
    return 0;
}

int scenario_load_string(const char *name, const char *text, size_t len, scenario_t **out,
                         char *err, size_t errcap)
{
    int nerr;
    return load_impl(name, text, len, out, err, errcap, NULL, &nerr, NULL);
}

/* Reads a whole file (at most LOAD_MAX_BYTES + 1, so the loader can say it is too big). */
char *ld_read_file(const char *path, size_t *len, char *why, size_t whycap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whycap, "%s", strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap > LOAD_MAX_BYTES)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                snprintf(why, whycap, "%s", strerror(errno ? errno : EIO));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (!buf && !why[0])
        snprintf(why, whycap, "out of memory");
    fclose(f);
    *len = n;
    return buf;
}

static int load_file(const char *path, scenario_t **out, char *err, size_t errcap, FILE *errs,
                     int *nerr, src_pos *id_pos)
{
    char why[200] = "";
    size_t len = 0;
    char *text = ld_read_file(path, &len, why, sizeof why);
    if (!text) {
        if (err && errcap)
            snprintf(err, errcap, "%s: cannot read: %s", path, why);
        if (errs)
            fprintf(errs, "%s: cannot read: %s\n", path, why);
        *nerr = 1;
        *out = NULL;
        return -1;
    }
    int rc = load_impl(path, text, len, out, err, errcap, errs, nerr, id_pos);
    free(text);
    return rc;
}

int scenario_load(const char *path, scenario_t **out, char *err, size_t errcap)
{
    int nerr;
    return load_file(path, out, err, errcap, NULL, &nerr, NULL);
}

/* ---- sets ---- */

static int push_path(char ***arr, size_t *n, const char *p)
{
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return -1;
    *arr = a;
    if (!(a[*n] = xstrdup(p)))
        return -1;
    (*n)++;
    return 0;
}

static bool has_yaml_ext(const char *name)
{
    size_t l = strlen(name);
    return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml"));
}

static int walk(const char *dir, int depth, char ***out, size_t *n, FILE *errs)
{
    if (depth > 32) {
        if (errs)
            fprintf(errs, "%s: directories nested too deeply\n", dir);
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errs)
            fprintf(errs, "%s: cannot open: %s\n", dir, strerror(errno));
        return 1;
    }
    int errors = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;           /* ., .., and hidden files such as editor backups */
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        if (!p)
            continue;
        snprintf(p, l, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                errors += walk(p, depth + 1, out, n, errs);
            else if (S_ISREG(st.st_mode) && has_yaml_ext(e->d_name))
                push_path(out, n, p);
        }
        free(p);
    }
    closedir(d);
    return errors;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int load_expand_paths(const char *const *paths, size_t npaths, char ***out, size_t *n_out,
                      FILE *errs)
{
    int errors = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            if (errs)
                fprintf(errs, "%s: cannot open: %s\n", paths[i], strerror(errno));
            errors++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            push_path(out, n_out, paths[i]);
            continue;
        }
        size_t first = *n_out;
        errors += walk(paths[i], 0, out, n_out, errs);
        qsort(*out + first, *n_out - first, sizeof **out, cmp_str);
    }
    return errors;
}

int scenario_set_load(const char *const *paths, size_t npaths, scenario_set *set, void *errs_v)
{
    FILE *errs = errs_v;
    char **files = NULL;
    size_t nfiles = 0;
    set->items = NULL;
    set->n = 0;
    int errors = load_expand_paths(paths, npaths, &files, &nfiles, errs);
    for (size_t i = 0; i < nfiles; i++) {
        scenario_t *s = NULL;
        int nerr = 0;
        src_pos id_pos = {1, 1};
        if (load_file(files[i], &s, NULL, 0, errs, &nerr, &id_pos) < 0) {
            errors += nerr;
            continue;
        }
        const scenario_t *dup = NULL;
        for (size_t k = 0; k < set->n && !dup; k++)
            if (!strcmp(set->items[k]->id, s->id))
                dup = set->items[k];
        if (dup) {
            if (errs)
                fprintf(errs, "%s:%d:%d: duplicate id '%s' (also in %s)\n", files[i], id_pos.line,
                        id_pos.col, s->id, dup->file);
            errors++;
            scenario_free(s);
            continue;
        }
        scenario_t **items = realloc(set->items, (set->n + 1) * sizeof *items);
        if (!items) {
            scenario_free(s);
            errors++;
            continue;
        }
        set->items = items;
        set->items[set->n++] = s;
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return errors;
}

void scenario_set_free(scenario_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        scenario_free(set->items[i]);
    free(set->items);
    set->items = NULL;
    set->n = 0;
}
