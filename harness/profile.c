/* profile.c -- reading a broker profile file; see profile.h.
 *
 * The format is deliberately not YAML: one `key: value` per line, `#` at the
 * start of a line for comments, the value taken as written to the end of the
 * line (a password may hold '#' or ':'). An empty value means "not said".
 */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PROFILE_MAX_LINE 4096
#define PROFILE_MAX_BYTES (256 * 1024)

typedef struct pctx {
    const char *file;
    char *err;
    size_t errcap;
    int line;
} pctx;

static int perr(pctx *c, int col, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errcap, "%s:%d:%d: ", c->file, c->line, col);
    if (n < 0 || (size_t)n >= c->errcap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int set_str(pctx *c, int col, char **dst, const char *v)
{
    *dst = strdup(v);
    return *dst ? 0 : perr(c, col, "out of memory");
}

static int get_u32(pctx *c, int col, const char *key, const char *v, uint32_t lo, uint32_t hi,
                   uint32_t *out)
{
    if (!isdigit((unsigned char)v[0]))
        return perr(c, col, "%s: expected a whole number, got '%.40s'", key, v);
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end)
        return perr(c, col + (int)(end - v), "%s: expected a whole number, got '%.40s'", key, v);
    if (errno || n < lo || n > hi)
        return perr(c, col, "%s: %.40s is out of range (%u to %u)", key, v, lo, hi);
    *out = (uint32_t)n;
    return 0;
}

static int get_tri(pctx *c, int col, const char *key, const char *v, tristate *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true"))
        *out = TRI_YES;
    else if (!strcmp(v, "no") || !strcmp(v, "false"))
        *out = TRI_NO;
    else
        return perr(c, col, "%s: expected yes or no, got '%.40s'", key, v);
    return 0;
}

/* "5", "3.1.1", "5, 3.1.1", "5.0,3.1.1": what --protocols takes. */
static int check_versions(pctx *c, int col, const char *v)
{
    const char *p = v;
    bool any = false;
    while (*p) {
        if (*p == ',' || *p == ' ') {
            p++;
            continue;
        }
        size_t n = strcspn(p, ", ");
        if (!((n == 1 && !strncmp(p, "5", 1)) || (n == 3 && !strncmp(p, "5.0", 3)) ||
              (n == 5 && !strncmp(p, "3.1.1", 5))))
            return perr(c, col + (int)(p - v), "versions: '%.*s' is not 5 or 3.1.1", (int)(n > 20 ? 20 : n),
                        p);
        any = true;
        p += n;
    }
    if (!any)
        return perr(c, col, "versions: name 5, 3.1.1 or both");
    return 0;
}

enum key_id {
    K_NAME, K_BROKER, K_VERSIONS, K_USERNAME, K_PASSWORD, K_USERNAME2, K_PASSWORD2, K_BASELINE,
    K_CAFILE, K_CAPATH, K_CERT, K_KEY, K_INSECURE, K_CAPS, K_MAX_SEI, K_MAX_QUEUED, K_QUEUE_QOS0,
    K_PERSISTENT, K_RESTART, K_START, K_STOP, K_KILL, K_START_TIMEOUT, K__COUNT
};

static const char *const key_names[K__COUNT] = {
    "name", "broker", "versions", "username", "password", "username2", "password2", "baseline",
    "cafile", "capath", "cert", "key", "insecure", "caps", "max_session_expiry",
    "max_queued_messages", "queue_qos0", "persistent_sessions", "restart", "start", "stop", "kill",
    "start_timeout"};

static int set_key(pctx *c, broker_profile *p, int k, int col, const char *v)
{
    const char *key = key_names[k];
    switch (k) {
    case K_NAME: return set_str(c, col, &p->name, v);
    case K_BROKER:
        if (strncmp(v, "mqtt://", 7) && strncmp(v, "mqtts://", 8))
            return perr(c, col, "broker: a URL mqtt://HOST:PORT or mqtts://HOST:PORT, got '%.60s'",
                        v);
        return set_str(c, col, &p->broker, v);
    case K_VERSIONS:
        if (check_versions(c, col, v) != 0)
            return -1;
        return set_str(c, col, &p->versions, v);
    case K_USERNAME: return set_str(c, col, &p->username, v);
    case K_PASSWORD: return set_str(c, col, &p->password, v);
    case K_USERNAME2: return set_str(c, col, &p->username2, v);
    case K_PASSWORD2: return set_str(c, col, &p->password2, v);
    case K_BASELINE: return set_str(c, col, &p->baseline, v);
    case K_CAFILE: return set_str(c, col, &p->cafile, v);
    case K_CAPATH: return set_str(c, col, &p->capath, v);
    case K_CERT: return set_str(c, col, &p->cert, v);
    case K_KEY: return set_str(c, col, &p->key, v);
    case K_INSECURE: return get_tri(c, col, key, v, &p->insecure);
    case K_CAPS: return set_str(c, col, &p->caps_text, v);
    case K_MAX_SEI:
        p->has_max_session_expiry = true;
        return get_u32(c, col, key, v, 0, UINT32_MAX, &p->max_session_expiry);
    case K_MAX_QUEUED:
        p->has_max_queued_messages = true;
        return get_u32(c, col, key, v, 0, UINT32_MAX, &p->max_queued_messages);
    case K_QUEUE_QOS0: return get_tri(c, col, key, v, &p->queue_qos0);
    case K_PERSISTENT: return get_tri(c, col, key, v, &p->persistent_sessions);
    case K_RESTART: return get_tri(c, col, key, v, &p->restart);
    case K_START: return set_str(c, col, &p->start, v);
    case K_STOP: return set_str(c, col, &p->stop, v);
    case K_KILL: return set_str(c, col, &p->kill, v);
    case K_START_TIMEOUT: return get_u32(c, col, key, v, 1, 600, &p->start_timeout_s);
    }
    return perr(c, col, "internal: key %d", k);
}

static int parse_line(pctx *c, broker_profile *p, char *s, int *seen_line)
{
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    size_t lead = strspn(s, " \t");
    if (s[lead] == '\0' || s[lead] == '#')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return perr(c, (int)i + 1, "control character 0x%02X", (unsigned char)s[i]);
    if (lead)
        return perr(c, 1, "a key starts at column 1 (no indentation)");
    size_t klen = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (klen == 0)
        return perr(c, 1, "expected KEY: VALUE, got '%.40s'", s);
    if (s[klen] != ':')
        return perr(c, (int)klen + 1, "expected ':' after the key '%.*s'", (int)(klen > 40 ? 40 : klen),
                    s);
    int k = 0;
    while (k < K__COUNT && (strlen(key_names[k]) != klen || strncmp(key_names[k], s, klen)))
        k++;
    if (k == K__COUNT)
        return perr(c, 1, "unknown key '%.*s' (keys: name, broker, versions, username, password, "
                          "username2, password2, baseline, cafile, capath, cert, key, insecure, "
                          "caps, max_session_expiry, max_queued_messages, queue_qos0, "
                          "persistent_sessions, restart, start, stop, kill, start_timeout)",
                    (int)(klen > 40 ? 40 : klen), s);
    if (seen_line[k])
        return perr(c, 1, "'%s' is given twice (first on line %d)", key_names[k], seen_line[k]);
    seen_line[k] = c->line;
    size_t vstart = klen + 1 + strspn(s + klen + 1, " \t");
    if (s[vstart] == '\0')
        return 0;       /* empty: not said */
    return set_key(c, p, k, (int)vstart + 1, s + vstart);
}

void profile_init(broker_profile *p)
{
    memset(p, 0, sizeof *p);
    p->insecure = p->queue_qos0 = p->persistent_sessions = p->restart = TRI_UNSET;
    p->start_timeout_s = 30;
}

int profile_load(const char *path, broker_profile *p, char *err, size_t errcap)
{
    profile_init(p);
    pctx c = {.file = path, .err = err, .errcap = errcap};
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "%s: cannot read the profile: %s", path, strerror(errno));
        return -1;
    }
    p->file = strdup(path);
    int seen_line[K__COUNT] = {0};
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = p->file ? 0 : -1;
    if (rc)
        snprintf(err, errcap, "%s: out of memory", path);
    size_t total = 0;
    ssize_t got;
    while (rc == 0 && (got = getline(&buf, &bufcap, f)) >= 0) {
        c.line++;
        size_t n = (size_t)got;
        total += n;
        if (total > PROFILE_MAX_BYTES) {
            rc = perr(&c, 1, "the profile is larger than %d bytes", PROFILE_MAX_BYTES);
            break;
        }
        if (n && buf[n - 1] == '\n')
            buf[--n] = '\0';
        if (n && buf[n - 1] == '\r')
            buf[--n] = '\0';
        if (n > PROFILE_MAX_LINE) {
            rc = perr(&c, PROFILE_MAX_LINE + 1, "line longer than %d characters", PROFILE_MAX_LINE);
            break;
        }
        if (strlen(buf) != n) {
            rc = perr(&c, (int)strlen(buf) + 1, "NUL byte in the profile");
            break;
        }
        rc = parse_line(&c, p, buf, seen_line);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errcap, "%s: read error", path);
        rc = -1;
    }
    /* A harness that can start the broker must also be able to stop it. */
    if (rc == 0 && (p->start != NULL) != (p->stop != NULL)) {
        c.line = seen_line[p->start ? K_START : K_STOP];
        rc = perr(&c, 1, "%s needs %s too: the harness stops what it starts",
                  p->start ? "start" : "stop", p->start ? "stop" : "start");
    }
    if (rc == 0 && p->kill && !p->start) {
        c.line = seen_line[K_KILL];
        rc = perr(&c, 1, "kill is only used with start and stop");
    }
    if (rc == 0 && p->start && p->broker) {
        c.line = seen_line[K_BROKER];
        rc = perr(&c, 1, "give broker (a broker running elsewhere) or start / stop (one the harness "
                         "runs), not both");
    }
    fclose(f);
    free(buf);
    if (rc != 0)
        profile_free(p);
    return rc;
}

void profile_free(broker_profile *p)
{
    char **strs[] = {&p->file, &p->name, &p->broker, &p->versions, &p->username, &p->password,
                     &p->username2, &p->password2, &p->baseline, &p->cafile, &p->capath, &p->cert,
                     &p->key, &p->caps_text, &p->start, &p->stop, &p->kill};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}
