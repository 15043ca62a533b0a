/* load_values.c -- the scenario language's scalar values: numbers, booleans,
 * strings and templates, durations, reason codes, property names and matchers.
 *
 * What it is for: turning one YAML node into one typed value, or one error line
 * that says what was expected and what was written. Every limit that the MQTT
 * wire format imposes (a u16 keep alive, a QoS of 0..2, a reason code that the
 * packet can carry) is checked here, so the step parsers stay short.
 *
 * What it is not: step structure (load_steps.c) or YAML syntax (load_yaml.c).
 */
#include <stdlib.h>
#include <string.h>

#include "../mqtt/mqtt.h"
#include "load_int.h"

char *xmemdup(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

char *xstrdup(const char *s)
{
    return s ? xmemdup(s, strlen(s)) : NULL;
}

void *xcalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* Quotes a scalar for a message, or names the node's type. */
const char *ld_shown(const ynode *n, char *buf, size_t cap)
{
    if (n->type != YN_SCALAR || ynode_is_null(n))
        return ynode_type_name(n);
    snprintf(buf, cap, "'%.60s%s'%s", n->str, n->len > 60 ? "..." : "",
             n->plain ? "" : " (quoted)");
    return buf;
}

int get_bool(lctx *c, const ynode *n, const char *key, bool *out)
{
    if (n->type == YN_SCALAR && n->plain) {
        if (!strcmp(n->str, "true")) {
            *out = true;
            return 0;
        }
        if (!strcmp(n->str, "false")) {
            *out = false;
            return 0;
        }
    }
    char b[96];
    lerr(c, n, "%s: expected a boolean (true or false), got %s", key, ld_shown(n, b, sizeof b));
    return -1;
}

/* Parses a plain decimal or 0x-hex integer; false if it is not one. */
bool ld_parse_uint(const char *s, size_t len, bool *neg, uint64_t *v, bool *overflow)
{
    size_t i = 0;
    *neg = false;
    *overflow = false;
    *v = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        *neg = s[i++] == '-';
    int base = 10;
    if (i + 1 < len && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    if (i >= len)
        return false;
    for (; i < len; i++) {
        int d;
        char ch = s[i];
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (base == 16 && ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (base == 16 && ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else if (ch == '_' && i > 0)
            continue;
        else
            return false;
        if (*v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            *overflow = true;
        else
            *v = *v * (uint64_t)base + (uint64_t)d;
    }
    return true;
}

int get_uint(lctx *c, const ynode *n, const char *key, uint64_t max, uint64_t *out)
{
    bool neg, ovf;
    uint64_t v;
    char b[96];
    if (n->type != YN_SCALAR || !n->plain || ynode_is_null(n) ||
        !ld_parse_uint(n->str, n->len, &neg, &v, &ovf)) {
        lerr(c, n, "%s: expected a whole number, got %s", key, ld_shown(n, b, sizeof b));
        return -1;
    }
    if (neg && (v != 0 || ovf)) {
        lerr(c, n, "%s must not be negative, got %s", key, n->str);
        return -1;
    }
    if (ovf || v > max) {
        lerr(c, n, "%s must be at most %llu, got %.40s", key, (unsigned long long)max, n->str);
        return -1;
    }
    *out = v;
    return 0;
}

int get_u32(lctx *c, const ynode *n, const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (get_uint(c, n, key, max, &v) < 0)
        return -1;
    if (v < min) {
        lerr(c, n, "%s must be at least %u, got %s", key, (unsigned)min, n->str);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int get_opt_u32(lctx *c, const ynode *n, const char *key, uint32_t min, uint32_t max, opt_u32 *out)
{
    uint32_t v;
    if (get_u32(c, n, key, min, max, &v) < 0)
        return -1;
    out->set = true;
    out->v = v;
    return 0;
}

int get_expiry(lctx *c, const ynode *n, const char *key, opt_u32 *out)
{
    if (n->type == YN_SCALAR && n->plain && !strcmp(n->str, "never")) {
        out->set = true;
        out->v = MQTT_SESSION_EXPIRY_NEVER;
        return 0;
    }
    uint64_t v;
    bool neg, ovf;
    if (n->type != YN_SCALAR || !n->plain || !ld_parse_uint(n->str, n->len, &neg, &v, &ovf)) {
        char b[96];
        lerr(c, n, "%s: expected a number of seconds or 'never', got %s", key, ld_shown(n, b, sizeof b));
        return -1;
    }
    if (get_uint(c, n, key, 0xFFFFFFFFu, &v) < 0)
        return -1;
    out->set = true;
    out->v = (uint32_t)v;
    return 0;
}

int get_bytes(lctx *c, const ynode *n, const char *key, char **out, size_t *len)
{
    if (n->type != YN_SCALAR || ynode_is_null(n)) {
        lerr(c, n, "%s: expected a string, got %s", key, ynode_type_name(n));
        return -1;
    }
    char *d = xmemdup(n->str, n->len);
    if (!d) {
        lerr(c, n, "out of memory");
        return -1;
    }
    free(*out);
    *out = d;
    if (len)
        *len = n->len;
    return 0;
}

int get_str(lctx *c, const ynode *n, const char *key, char **out)
{
    if (n->type == YN_SCALAR && memchr(n->str, 0, n->len)) {
        lerr(c, n, "%s: a NUL character is not allowed here", key);
        return -1;
    }
    return get_bytes(c, n, key, out, NULL);
}

int check_template(lctx *c, const ynode *n, const char *s, size_t len, int self_client)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '{')
            continue;
        const char *close = memchr(s + i, '}', len - i);
        if (!close) {
            lerr(c, n, "unterminated placeholder: '{' without '}' (placeholders: {ns}, {run}, "
                       "{id:CLIENT})");
            return -1;
        }
        const char *in = s + i + 1;
        size_t il = (size_t)(close - in);
        if ((il == 2 && !memcmp(in, "ns", 2)) || (il == 3 && !memcmp(in, "run", 3))) {
            /* fine */
        } else if (il > 3 && !memcmp(in, "id:", 3)) {
            int k = find_client(c, n, in + 3, il - 3);
            if (k < 0)
                return -1;
            if (k == self_client) {
                lerr(c, n, "client_id of '%s' refers to itself", c->s->clients[k].name);
                return -1;
            }
            if (self_client >= 0 && c->s->clients[k].client_id &&
                strstr(c->s->clients[k].client_id, "{id:")) {
                lerr(c, n, "{id:%s} refers to a client whose own client_id uses {id:...}; "
                           "name the original client instead",
                     c->s->clients[k].name);
                return -1;
            }
        } else {
            lerr(c, n, "unknown placeholder '{%.*s}' (placeholders: {ns}, {run}, {id:CLIENT})",
                 (int)(il > 60 ? 60 : il), in);
            return -1;
        }
        i += il + 1;
    }
    return 0;
}

/* On failure *out is freed and NULL: callers that count what they stored (a
 * list of filters) do not count a refused one, and would leak it otherwise. */
int get_template(lctx *c, const ynode *n, const char *key, char **out, size_t *len)
{
    size_t l = 0;
    if (get_bytes(c, n, key, out, &l) < 0)
        return -1;
    if (len)
        *len = l;
    int rc = 0;
    if (!len && memchr(*out, 0, l)) {
        lerr(c, n, "%s: a NUL character is not allowed here", key);
        rc = -1;
    } else {
        rc = check_template(c, n, *out, l, -1);
    }
    if (rc < 0) {
        free(*out);
        *out = NULL;
        if (len)
            *len = 0;
        return -1;
    }
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int get_hex(lctx *c, const ynode *n, const char *key, uint8_t **out, size_t *len)
{
    if (n->type != YN_SCALAR || ynode_is_null(n)) {
        lerr(c, n, "%s: expected hex bytes such as \"e0 00\", got %s", key, ynode_type_name(n));
        return -1;
    }
    uint8_t *b = malloc(n->len / 2 + 1);
    if (!b) {
        lerr(c, n, "out of memory");
        return -1;
    }
    size_t k = 0;
    int hi = -1;
    for (size_t i = 0; i < n->len; i++) {
        char ch = n->str[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == ':') {
            if (hi >= 0) {
                lerr(c, n, "%s: odd number of hex digits in a byte", key);
                free(b);
                return -1;
            }
            continue;
        }
        int v = hexval(ch);
        if (v < 0) {
            lerr(c, n, "%s: '%c' is not a hex digit", key, ch >= 32 && ch < 127 ? ch : '?');
            free(b);
            return -1;
        }
        if (hi < 0)
            hi = v;
        else {
            b[k++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0 || k == 0) {
        lerr(c, n, hi >= 0 ? "%s: odd number of hex digits" : "%s: no bytes given", key);
        free(b);
        return -1;
    }
    free(*out);
    *out = b;
    *len = k;
    return 0;
}

int get_level(lctx *c, const ynode *n, level_t *out)
{
    if (n->type == YN_SCALAR) {
        if (!strcmp(n->str, "must"))
            *out = LEVEL_MUST;
        else if (!strcmp(n->str, "should"))
            *out = LEVEL_SHOULD;
        else if (!strcmp(n->str, "may"))
            *out = LEVEL_MAY;
        else
            goto bad;
        return 0;
    }
bad:;
    char b[96];
    lerr(c, n, "level: expected must, should or may, got %s", ld_shown(n, b, sizeof b));
    return -1;
}

int get_spec_statement(lctx *c, const ynode *n, char **out)
{
    char *s = NULL;
    if (get_str(c, n, "spec", &s) < 0)
        return -1;
    const char *rest = !strncmp(s, "v5:", 3) ? s + 3 : !strncmp(s, "v311:", 5) ? s + 5 : NULL;
    if (!rest || !*rest || strpbrk(rest, " \t\n")) {
        lerr(c, n, "spec: a statement is version-prefixed without spaces, e.g. v5:MQTT-3.1.2-4 or "
                   "v311:MQTT-3.1.2-6, got '%.60s'",
             s);
        free(s);
        return -1;
    }
    free(*out);
    *out = s;
    return 0;
}

/* ---- durations ---- */

#define DUR_MAX_MS (86400LL * 1000)

int get_duration_literal(lctx *c, const ynode *n, const char *key, bool allow_negative, int64_t *ms)
{
    char b[96];
    if (n->type != YN_SCALAR || ynode_is_null(n))
        goto bad;
    const char *s = n->str;
    size_t len = n->len, i = 0;
    bool neg = false;
    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    uint64_t ip = 0, frac = 0;
    int idig = 0, fdig = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (++idig > 7)
            goto too_big;
        ip = ip * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (fdig < 6) {
                frac = frac * 10 + (uint64_t)(s[i] - '0');
                fdig++;
            }
            i++;
        }
        if (fdig == 0)
            goto bad;
    }
    if (idig == 0 && fdig == 0)
        goto bad;
    for (int k = fdig; k < 6; k++)
        frac *= 10;
    uint64_t micro = ip * 1000000u + frac;      /* in units of the suffix, times 10^6 */
    const char *suf = s + i;
    size_t sl = len - i;
    uint64_t unit_ms;
    if (sl == 0) {
        if (!n->plain)
            goto bad;                   /* "3" quoted: say what unit */
        unit_ms = 1000;
    } else if (sl == 2 && !memcmp(suf, "ms", 2))
        unit_ms = 1;
    else if (sl == 1 && *suf == 's')
        unit_ms = 1000;
    else if (sl == 1 && *suf == 'm')
        unit_ms = 60000;
    else
        goto bad;
    uint64_t v = (micro * unit_ms + 500000) / 1000000;
    if (v > (uint64_t)DUR_MAX_MS)
        goto too_big;
    if (neg && !allow_negative) {
        lerr(c, n, "%s must not be negative, got %s", key, s);
        return -1;
    }
    *ms = neg ? -(int64_t)v : (int64_t)v;
    return 0;
too_big:
    lerr(c, n, "%s: at most 1 day (86400 s), got %.40s", key, s);
    return -1;
bad:
    lerr(c, n, "%s: expected a duration (3, 1.5, 500ms, 2s, 1m), got %s", key, ld_shown(n, b, sizeof b));
    return -1;
}

int get_duration(lctx *c, const ynode *n, const char *key, duration_t *out)
{
    memset(out, 0, sizeof *out);
    out->times = 1;
    out->pos = n->pos;
    out->client = -1;
    if (n->type != YN_MAP)
        return get_duration_literal(c, n, key, false, &out->plus_ms);

    static const char *const keys[] = {"session_expiry", "will_delay", "keep_alive", "times",
                                       "plus", NULL};
    if (!map_check_keys(c, n, key, keys))
        return -1;
    return get_duration_map(c, n, key, out);
}

int get_duration_map(lctx *c, const ynode *n, const char *key, duration_t *out)
{
    memset(out, 0, sizeof *out);
    out->times = 1;
    out->pos = n->pos;
    out->client = -1;
    static const struct {
        const char *k;
        dur_ref r;
    } refs[] = {{"session_expiry", DUR_SESSION_EXPIRY},
                {"will_delay", DUR_WILL_DELAY},
                {"keep_alive", DUR_KEEP_ALIVE}};
    const ynode *refv = NULL;
    for (size_t i = 0; i < 3; i++) {
        const ynode *v = map_get(n, refs[i].k);
        if (!v)
            continue;
        if (refv) {
            lerr(c, map_key(n, refs[i].k), "%s: only one of session_expiry, will_delay, keep_alive",
                 key);
            return -1;
        }
        refv = v;
        out->ref = refs[i].r;
    }
    if (!refv) {
        lerr(c, n, "%s: a duration map needs one of session_expiry, will_delay, keep_alive "
                   "(naming a client)",
             key);
        return -1;
    }
    if (refv->type != YN_SCALAR || ynode_is_null(refv)) {
        lerr(c, refv, "%s: expected a client name, got %s", key, ynode_type_name(refv));
        return -1;
    }
    int k = find_client(c, refv, refv->str, refv->len);
    if (k < 0)
        return -1;
    out->client = k;
    if (out->ref != DUR_KEEP_ALIVE && c->s->clients[k].protocol != MQTT_V5) {
        lerr(c, refv, "%s: %s is MQTT 5.0 only, but client '%s' uses 3.1.1", key,
             out->ref == DUR_SESSION_EXPIRY ? "session_expiry" : "will_delay",
             c->s->clients[k].name);
        return -1;
    }
    const ynode *t = map_get(n, "times");
    if (t) {
        int64_t x;
        /* a factor reads like a duration without a unit */
        if (t->type != YN_SCALAR || !t->plain || get_duration_literal(c, t, "times", false, &x) < 0) {
            if (t->type != YN_SCALAR || !t->plain)
                lerr(c, t, "times: expected a number, got %s", ynode_type_name(t));
            return -1;
        }
        for (size_t i = 0; i < t->len; i++)
            if (!(t->str[i] >= '0' && t->str[i] <= '9') && t->str[i] != '.') {
                lerr(c, t, "times: expected a plain factor such as 1.5, got '%.40s'", t->str);
                return -1;
            }
        out->times = (double)x / 1000.0;
        if (out->times > 1000) {
            lerr(c, t, "times: at most 1000, got %.40s", t->str);
            return -1;
        }
    }
    const ynode *p = map_get(n, "plus");
    if (p && get_duration_literal(c, p, "plus", true, &out->plus_ms) < 0)
        return -1;
    return 0;
}

int find_client(lctx *c, const ynode *n, const char *name, size_t len)
{
    scenario_t *s = c->s;
    for (size_t i = 0; i < s->n_clients; i++)
        if (strlen(s->clients[i].name) == len && !memcmp(s->clients[i].name, name, len))
            return (int)i;
    char list[400];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < s->n_clients && used + 40 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%.32s", i ? ", " : "",
                                 s->clients[i].name);
    lerr(c, n, "undefined client '%.*s' (clients: %s)", (int)(len > 60 ? 60 : len), name,
         s->n_clients ? list : "none");
    return -1;
}

const char *cap_name(unsigned cap_bit)
{
    switch (cap_bit) {
    case CAP_MANUAL_ACK: return "manual_ack";
    case CAP_SEE_DUP: return "see_dup";
    case CAP_SEE_ACKS: return "see_acks";
    case CAP_SEND_DUP: return "send_dup";
    case CAP_RAW_BYTES: return "raw_bytes";
    case CAP_RESET: return "reset";
    case CAP_SECOND_CONNECT: return "second_connect";
    case CAP_TOPIC_ALIAS: return "topic_alias";
    case CAP_EXACT_PROPS: return "exact_props";
    case CAP_NO_AUTO_RESEND: return "no_auto_resend";
    case CAP_MIXED_SUBSCRIBE: return "mixed_subscribe";
    case CAP_EMPTY_CLIENT_ID: return "empty_client_id";
    case CAP_FLOOD: return "flood";
    default: return "?";
    }
}
