/* template.c -- per-run names: client ids, topic namespaces, placeholder expansion.
 *
 * Every run has a random prefix so that runs can share a broker and scenarios
 * can run side by side. Client ids are generated alphanumeric and at most 23
 * characters long because that is what every conforming broker must accept
 * ([MQTT-3.1.3-5]); longer or punctuated ids would let a strict broker refuse
 * us and turn a conformance run into a false failure.
 *
 * Not for: validating placeholders (the loader rejects unknown ones).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_int.h"

char *sr_keep(sc_run *sr, char *owned)
{
    if (!owned)
        return NULL;
    if (sr->n_strings == sr->cap_strings) {
        size_t cap = sr->cap_strings ? sr->cap_strings * 2 : 16;
        char **n = realloc(sr->strings, cap * sizeof *n);
        if (!n) {
            free(owned);
            return NULL;
        }
        sr->strings = n;
        sr->cap_strings = cap;
    }
    sr->strings[sr->n_strings++] = owned;
    return owned;
}

static const char base36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

char *make_client_id(const char *prefix, size_t scenario_number, int client_index,
                     const char *name)
{
    /* prefix(6) + scenario(3, base 36) + client(1, base 36) + name (<= 13) = 23 */
    char id[24];
    size_t n = 0;
    for (const char *p = prefix; *p && n < 6; p++)
        id[n++] = *p;
    size_t s = scenario_number % (36 * 36 * 36);
    id[n++] = base36[s / (36 * 36)];
    id[n++] = base36[(s / 36) % 36];
    id[n++] = base36[s % 36];
    id[n++] = base36[client_index % 36];
    for (const char *p = name; *p && n < 23; p++)
        if (isalnum((unsigned char)*p))
            id[n++] = (char)tolower((unsigned char)*p);
    id[n] = '\0';
    return strdup(id);
}

static int client_by_name(const sc_run *sr, const char *name, size_t len)
{
    for (size_t i = 0; i < sr->n_clients; i++) {
        const char *cn = sr->clients[i].def->name;
        if (strlen(cn) == len && !strncmp(cn, name, len))
            return (int)i;
    }
    return -1;
}

const char *sr_expand(sc_run *sr, const char *s)
{
    if (!s)
        return NULL;
    if (!strchr(s, '{'))
        return s;
    size_t cap = strlen(s) + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return s;
    for (const char *p = s; *p;) {
        const char *rep = NULL;
        size_t skip = 1;
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (end) {
                size_t len = (size_t)(end - p - 1);
                if (len == 2 && !strncmp(p + 1, "ns", 2))
                    rep = sr->ns;
                else if (len == 3 && !strncmp(p + 1, "run", 3))
                    rep = sr->run->prefix;
                else if (len > 3 && !strncmp(p + 1, "id:", 3)) {
                    int c = client_by_name(sr, p + 4, len - 3);
                    if (c >= 0)
                        rep = sr->clients[c].client_id;
                }
                if (rep)
                    skip = len + 2;
            }
        }
        const char *add = rep ? rep : p;
        size_t addlen = rep ? strlen(rep) : 1;
        if (n + addlen + 1 > cap) {
            cap = (n + addlen + 1) * 2;
            char *g = realloc(out, cap);
            if (!g) {
                free(out);
                return s;
            }
            out = g;
        }
        memcpy(out + n, add, addlen);
        n += addlen;
        p += skip;
    }
    out[n] = '\0';
    return sr_keep(sr, out);
}
