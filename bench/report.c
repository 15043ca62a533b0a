/* report.c -- `mqspec-bench report FILE...`: the side-by-side table of two
 * brokers' `result` lines, their ratios, whether each goal is met, and a
 * one-line summary.
 *
 * What it is for: reading the figures, not producing them. The first broker
 * label in the input is "ours", the second the reference (mosquitto). A
 * workload that did not complete on either side gets no ratio and its goal
 * is "not measured": nothing is claimed that a run did not show.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RESULTS 64

typedef struct result {
    char broker[64], workload[64];
    char line[2048];
} result_t;

static result_t results[MAX_RESULTS];
static int nresults;
static char labels[2][64];

/* The value of key=VALUE in a result line, into out; false if absent. */
static bool field(const result_t *r, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = r->line; (p = strstr(p, key)); p++) {
        if ((p != r->line && p[-1] != ' ') || p[klen] != '=')
            continue;
        const char *v = p + klen + 1, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
        } else {
            end = v + strcspn(v, " \n");
        }
        size_t n = end ? (size_t)(end - v) : strlen(v);
        if (n >= cap)
            n = cap - 1;
        memcpy(out, v, n);
        out[n] = 0;
        return true;
    }
    return false;
}

static double num(const result_t *r, const char *key)
{
    char v[64];
    return r && field(r, key, v, sizeof v) ? strtod(v, NULL) : -1;
}

static const result_t *find(int side, const char *workload)
{
    for (int i = 0; i < nresults; i++)
        if (!strcmp(results[i].broker, labels[side]) && !strcmp(results[i].workload, workload))
            return &results[i];
    return NULL;
}

static bool status_is(const result_t *r, const char *want)
{
    char v[32];
    return r && field(r, "status", v, sizeof v) && !strcmp(v, want);
}

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof line, f) && nresults < MAX_RESULTS) {
        if (strncmp(line, "result ", 7))
            continue;
        result_t *r = &results[nresults];
        snprintf(r->line, sizeof r->line, "%s", line);
        if (!field(r, "broker", r->broker, sizeof r->broker) ||
            !field(r, "workload", r->workload, sizeof r->workload))
            continue;
        nresults++;
        for (int s = 0; s < 2; s++) {
            if (!labels[s][0]) {
                snprintf(labels[s], sizeof labels[s], "%s", r->broker);
                break;
            }
            if (!strcmp(labels[s], r->broker))
                break;
        }
    }
    fclose(f);
    return 0;
}

/* What a side shows in a cell: the figure, or why there is none. */
static void cell(char *out, size_t cap, const result_t *r, const char *key, const char *fmt,
                 double scale)
{
    char st[32] = "missing";
    if (r)
        field(r, "status", st, sizeof st);
    if (!r || (strcmp(st, "ok") && strcmp(st, "partial"))) {
        snprintf(out, cap, "%s", !r ? "not run" : !strcmp(st, "timeout") ? "timed out" : st);
        return;
    }
    snprintf(out, cap, fmt, num(r, key) * scale);
}

typedef enum { G_NONE, G_HIGHER, G_LOWER } goal_t;

typedef struct verdict {
    int met, missed, unmeasured;
    char missed_list[512];
} verdict_t;

static void row(const char *title, const char *what, const char *workload, const char *key,
                const char *fmt, double scale, goal_t goal, verdict_t *v)
{
    const result_t *a = find(0, workload), *b = find(1, workload);
    char ca[48], cb[48], ratio[16] = "-", g[40] = "";
    cell(ca, sizeof ca, a, key, fmt, scale);
    cell(cb, sizeof cb, b, key, fmt, scale);
    bool both = status_is(a, "ok") && status_is(b, "ok");
    double ra = num(a, key), rb = num(b, key);
    if (both && rb > 0) {
        double q = ra / rb;
        snprintf(ratio, sizeof ratio, "%.2f", q);
        if (goal != G_NONE) {
            bool ok = goal == G_HIGHER ? q >= 1.0 : q <= 1.0;
            snprintf(g, sizeof g, "%s 1: %s", goal == G_HIGHER ? ">=" : "<=", ok ? "met" : "NOT MET");
            if (ok) {
                v->met++;
            } else {
                v->missed++;
                size_t n = strlen(v->missed_list);
                snprintf(v->missed_list + n, sizeof v->missed_list - n, "%s%s %.2fx",
                         n ? ", " : "", title, q);
            }
        }
    } else if (goal != G_NONE) {
        snprintf(g, sizeof g, "not measured");
        v->unmeasured++;
    }
    printf("%-20s %-28s %24s %24s %7s  %s\n", title, what, ca, cb, ratio, g);
}

static void latency_row(const char *workload)
{
    char c[2][64];
    for (int s = 0; s < 2; s++) {
        const result_t *r = find(s, workload);
        if (status_is(r, "ok"))
            snprintf(c[s], sizeof c[s], "%.1f/%.1f/%.1f/%.1f", num(r, "p50_us") / 1000,
                     num(r, "p90_us") / 1000, num(r, "p99_us") / 1000, num(r, "max_us") / 1000);
        else
            snprintf(c[s], sizeof c[s], "-");
    }
    printf("%-20s %-28s %24s %24s\n", "", "latency ms p50/p90/p99/max", c[0], c[1]);
}

int report_main(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: mqspec-bench report FILE...\n");
        return 2;
    }
    for (int i = 0; i < argc; i++)
        if (load(argv[i]) < 0)
            return 2;
    if (!labels[0][0] || !labels[1][0]) {
        fprintf(stderr, "mqspec-bench report: need the results of two brokers\n");
        return 2;
    }
    const result_t *any = find(0, "fanin-q0");
    long clients = any ? (long)num(any, "publishers") : 0;
    long window = any ? (long)num(any, "window") : 0;
    const result_t *idle = find(0, "sessions-idle");
    long sessions = idle ? (long)num(idle, "sessions") : 0;

    printf("%-20s %-28s %24s %24s %7s  %s\n", "workload", "figure", labels[0], labels[1],
           "ratio", "goal");
    printf("%.*s\n", 122, "---------------------------------------------------------------------"
                          "-----------------------------------------------------------------");
    verdict_t tp = {0}, mem = {0}, none = {0};
    static const struct { const char *name, *title; } loads[] = {
        {"fanin-q0", "fan-in  N->1  QoS 0"}, {"fanin-q1", "fan-in  N->1  QoS 1"},
        {"fanout-q0", "fan-out 1->N  QoS 0"}, {"fanout-q1", "fan-out 1->N  QoS 1"},
    };
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        row(loads[i].title, "messages/s delivered", loads[i].name, "rate", "%.0f", 1, G_HIGHER, &tp);
        latency_row(loads[i].name);
    }
    row("idle sessions", "KiB per session", "sessions-idle", "kib_per_session", "%.3f", 1,
        G_LOWER, &mem);
    row("", "broker RSS after, MiB", "sessions-idle", "rss_after_kib", "%.1f", 1.0 / 1024,
        G_NONE, &none);
    row("queue (offline)", "messages/s acknowledged", "queue", "rate", "%.0f", 1, G_NONE, &none);
    row("", "KiB per queued message", "queue", "kib_per_message", "%.3f", 1, G_NONE, &none);
    row("resume", "seconds, all sessions", "resume", "secs", "%.2f", 1, G_NONE, &none);
    row("", "sessions/s", "resume", "rate", "%.0f", 1, G_NONE, &none);
    printf("%.*s\n", 122, "---------------------------------------------------------------------"
                          "-----------------------------------------------------------------");
    printf("N = %ld clients, window %ld per publisher, payload 64 bytes; %ld sessions, "
           "ratio = %s / %s\n", clients, window, sessions, labels[0], labels[1]);

    /* Anything partial or failed is spelled out, with the broker's numbers. */
    for (int i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        if (status_is(r, "ok"))
            continue;
        char st[32] = "?", why[160] = "";
        field(r, "status", st, sizeof st);
        field(r, "why", why, sizeof why);
        if (!strcmp(r->workload, "resume") || !strcmp(r->workload, "queue"))
            printf("note: %s %s %s: %.0f of %.0f messages%s%s\n", r->broker, r->workload, st,
                   num(r, !strcmp(r->workload, "queue") ? "acked" : "messages"),
                   num(r, !strcmp(r->workload, "queue") ? "messages" : "expected"),
                   why[0] ? "; " : "", why);
        else
            printf("note: %s %s %s: %.0f of %.0f%s%s\n", r->broker, r->workload, st,
                   num(r, strstr(r->workload, "sessions") ? "ok" : "delivered"),
                   num(r, strstr(r->workload, "sessions") ? "sessions" : "expected"),
                   why[0] ? "; " : "", why);
    }

    const result_t *ra = find(0, "resume"), *rb = find(1, "resume");
    char resume[160];
    if (status_is(ra, "ok") && status_is(rb, "ok") && num(rb, "secs") > 0)
        snprintf(resume, sizeof resume, "resume time %.2fx of %s's", num(ra, "secs") / num(rb, "secs"),
                 labels[1]);
    else
        snprintf(resume, sizeof resume, "resume time not comparable (see notes)");
    printf("summary: throughput >= %s: %s (%d of 4 met%s%s%s); memory <= %s: %s; %s\n",
           labels[1],
           tp.met == 4 ? "MET" : tp.unmeasured ? "NOT MET or not measured" : "NOT MET", tp.met,
           tp.missed ? "; not met: " : "", tp.missed_list,
           tp.unmeasured ? "; some not measured" : "", labels[1],
           mem.met ? "MET" : mem.missed ? "NOT MET" : "not measured", resume);
    return 0;
}
