/* cmd_run.c -- `mqspec run`: options, the broker to test, TAP and JSON output.
 *
 * What it is for: turning a command line into a run: load and validate the
 * scenarios (exit 2 on any error, before anything connects), find the broker
 * (a URL, or the bundled mqspec-broker started on a free loopback port), make
 * sure it can be reached at all (exit 3 if not), run, stream TAP, write JSON.
 *
 * What it is not: the runner (runner.c) or the formats (reports/).
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../mqtt/mqtt.h"
#include "../reports/common.h"
#include "../reports/outputs.h"
#include "../reports/reports.h"
#include "baseline.h"
#include "cli.h"
#include "managed.h"
#include "profile.h"
#include "runner.h"

#ifndef MQSPEC_VERSION
#define MQSPEC_VERSION "dev"
#endif

#define PROBE_TIMEOUT_MS 5000

static void run_usage(FILE *f)
{
    fputs("usage: mqspec run [OPTIONS] [PATH...]\n"
          "\n"
          "Runs scenarios (PATH: files or directories; default: the bundled scenarios)\n"
          "against a broker and prints TAP on stdout, a one-line summary last.\n"
          "\n"
          "  --broker URL        mqtt://HOST:PORT or mqtts://HOST:PORT; default: start the\n"
          "                      bundled mqspec-broker on a free loopback port\n"
          "  -j, --jobs N|auto   scenarios side by side (default auto: as many as the\n"
          "                      connection budget allows; scenarios marked exclusive\n"
          "                      run alone)\n"
          "  --max-connections N the connection budget: the clients of the scenarios\n"
          "                      running at once, summed (default 256); halved when the\n"
          "                      broker refuses a connection (the scenario is re-queued)\n"
          "  --only PATTERN      only scenarios whose id matches the glob PATTERN\n"
          "                      (a PATTERN without * ? [ matches as a substring)\n"
          "  --json FILE         write the results as JSON (docs/results-json.md)\n"
          "  --junit FILE        JUnit XML; --html FILE, --md FILE: the report (docs/reports.md)\n"
          "  --repro DIR         a reproducer per failure (default: repro/ beside --html/--md)\n"
          "  --baseline FILE     known failures of this broker (ci/baselines/NAME.yaml)\n"
          "  --protocols LIST    versions the broker speaks: 5, 3.1.1 or 5,3.1.1 (default);\n"
          "                      scenarios needing another are skipped\n"
          "  --no-retry          do not re-run a failing scenario (a re-run tells a real\n"
          "                      failure from a race, which is reported as flaky)\n"
          "  --no-probe          do not probe the broker's CONNACKs for what it offers\n"
          "                      (then nothing is skipped for a missing feature)\n"
          "  --profile FILE      the broker's profile (docs/brokers.md): name, versions,\n"
          "                      credentials, baseline, configured limits, start / stop\n"
          "                      commands; options given here win over it\n"
          "  --username U        user name for every client that does not set one\n"
          "  --password P        password likewise\n"
          "  --username2 U, --password2 P   a second user, for clients with\n"
          "                      `credentials: second` (cross-user scenarios; skipped without)\n"
          "  --cafile F, --capath D   CAs that sign the broker's certificate (mqtts://)\n"
          "  --cert F, --key F   client certificate and key (PEM)\n"
          "  --insecure          do not verify the broker's certificate (said in every report)\n"
          "  --tls-version V     1.2 or 1.3: only that TLS version (default: 1.2 or later)\n"
          "  --alpn PROTO        offer this ALPN protocol in the TLS handshake\n"
          "  --broker-log FILE   where the bundled broker's log goes (default: discarded)\n"
          "  -v, --verbose       print every packet live on stderr; diagnostics for all\n"
          "\n"
          "exit status: 0 nothing failed, 1 a scenario failed or erred,\n"
          "             2 bad invocation or invalid scenario, 3 broker unreachable\n",
          f);
}

/* ---- broker URL ------------------------------------------------------------- */

static int parse_url(const char *url, target_t *t, char *err, size_t errcap)
{
    const char *rest;
    if (!strncmp(url, "mqtt://", 7)) {
        rest = url + 7;
        t->tls = false;
    } else if (!strncmp(url, "mqtts://", 8)) {
        rest = url + 8;
        t->tls = true;
    } else {
        snprintf(err, errcap, "broker URL must start with mqtt:// or mqtts://: %s", url);
        return -1;
    }
    char host[256];
    const char *port_s = NULL;
    if (*rest == '[') {
        const char *end = strchr(rest, ']');
        if (!end || (size_t)(end - rest - 1) >= sizeof host) {
            snprintf(err, errcap, "bad IPv6 address in %s", url);
            return -1;
        }
        memcpy(host, rest + 1, (size_t)(end - rest - 1));
        host[end - rest - 1] = '\0';
        port_s = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(rest, ':');
        size_t len = colon ? (size_t)(colon - rest) : strcspn(rest, "/");
        if (len == 0 || len >= sizeof host) {
            snprintf(err, errcap, "no host in %s", url);
            return -1;
        }
        memcpy(host, rest, len);
        host[len] = '\0';
        port_s = colon ? colon + 1 : NULL;
    }
    long port = t->tls ? 8883 : 1883;
    if (port_s) {
        char *end;
        port = strtol(port_s, &end, 10);
        if (end == port_s || (*end && *end != '/') || port < 1 || port > 65535) {
            snprintf(err, errcap, "bad port in %s", url);
            return -1;
        }
    }
    t->host = strdup(host);
    t->port = (int)port;
    return t->host ? 0 : -1;
}

/* One line for reports: what the TLS settings of the run were. */
static void describe_tls(const target_t *t, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s", t->insecure ? "certificate NOT VERIFIED (--insecure)"
                                                 : "certificate verified");
    if (!t->insecure && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " against %s",
                      t->cafile ? t->cafile : t->capath ? t->capath : "the system CAs");
    if (n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "; TLS %s",
                      t->tls_version == 12 ? "1.2 only" : t->tls_version == 13 ? "1.3 only"
                                                                                : "1.2 or later");
    if (t->certfile && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "; client certificate %s", t->certfile);
    if (t->alpn && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "; ALPN %s", t->alpn);
}

/* Can a TCP connection be made at all? Bounded by PROBE_TIMEOUT_MS. */
static int probe_tcp(const target_t *t, char *err, size_t errcap)
{
    char port[16];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(t->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errcap, "cannot resolve %s: %s", t->host, gai_strerror(gai));
        return -1;
    }
    int rc = -1;
    snprintf(err, errcap, "no address for %s", t->host);
    for (struct addrinfo *ai = res; ai && rc != 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int c = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (c != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, PROBE_TIMEOUT_MS);
            if (n == 0) {
                snprintf(err, errcap, "connecting to %s:%d timed out after %d s", t->host, t->port,
                         PROBE_TIMEOUT_MS / 1000);
                close(fd);
                continue;
            }
            int so = 0;
            socklen_t len = sizeof so;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len);
            c = so ? -1 : 0;
            errno = so;
        }
        if (c == 0)
            rc = 0;
        else
            snprintf(err, errcap, "cannot connect to %s:%d: %s", t->host, t->port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

/* ---- selection --------------------------------------------------------------------- */

static bool id_selected(const char *id, const char *pattern)
{
    if (!pattern)
        return true;
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, id, 0) == 0;
    return strstr(id, pattern) != NULL;
}

typedef struct tap_ctx {
    bool verbose;
    run_result *res;
    const baseline *bl;
} tap_ctx;

static void on_finished(void *ud, size_t number, const scenario_result *r)
{
    tap_ctx *t = ud;
    /* The runner is done with this result; the baseline is applied before it
     * is shown so that TAP, JSON and the documents agree. */
    scenario_result *mine = &t->res->items[number - 1];
    baseline_effect e = t->bl ? baseline_apply(t->bl, mine) : BASELINE_NONE;
    tap_scenario(stdout, number, mine, t->verbose);
    if (e == BASELINE_PASSED)
        printf("# baseline: %s is listed as a known failure but passed; remove it from %s\n",
               mine->id, t->bl->file);
    (void)r;
    fflush(stdout);
}

static void on_notice(void *ud, const char *text)
{
    (void)ud;
    printf("# %s\n", text);
    fflush(stdout);
}

/* ---- what the broker offers ----------------------------------------------------- */

/* The profile's configured limits and the harness's management, merged into
 * what the probe learnt. The probe wins where it observed something (a 5.0
 * CONNACK's Session Expiry); the profile fills what no CONNACK says. */
static void merge_caps(broker_caps *caps, const broker_profile *p, const managed_broker *mb)
{
    if (p->has_max_session_expiry) {
        if (!caps->has_max_session_expiry) {
            caps->has_max_session_expiry = true;
            caps->max_session_expiry = p->max_session_expiry;
            snprintf(caps->max_session_expiry_from, sizeof caps->max_session_expiry_from,
                     "profile");
            broker_caps_note(caps, "max_session_expiry", "profile", "%u", p->max_session_expiry);
        } else if (caps->max_session_expiry != p->max_session_expiry) {
            broker_caps_note(caps, "max_session_expiry", "probe", "%u (the profile says %u)",
                             caps->max_session_expiry, p->max_session_expiry);
        }
    }
    if (p->has_max_queued_messages) {
        caps->has_max_queued = true;
        caps->max_queued = p->max_queued_messages;
        broker_caps_note(caps, "max_queued_messages", "profile", "%u", p->max_queued_messages);
    }
    if (p->queue_qos0 != TRI_UNSET)
        broker_caps_note(caps, "queue_qos0", "profile", "%s", p->queue_qos0 ? "yes" : "no");
    if (p->queue_qos0 == TRI_NO)
        broker_caps_refuse(caps, FEAT_QUEUE_QOS0, "the broker does not queue QoS 0 messages for "
                                                  "offline sessions (profile queue_qos0: no)");
    if (p->persistent_sessions != TRI_UNSET)
        broker_caps_note(caps, "persistent_sessions", "profile", "%s",
                         p->persistent_sessions ? "yes" : "no");
    if (p->persistent_sessions == TRI_NO)
        broker_caps_refuse(caps, FEAT_DURABLE, "the broker does not keep sessions across a restart "
                                               "(profile persistent_sessions: no)");
    /* restart_broker needs a broker the harness runs. */
    if (!mb || mb->kind == MB_NONE) {
        broker_caps_refuse(caps, FEAT_RESTART, "the harness does not manage this broker "
                                               "(restart_broker)");
        broker_caps_note(caps, "restart", "harness", "no (not started by mqspec)");
    } else if (p->restart == TRI_NO) {
        broker_caps_refuse(caps, FEAT_RESTART, "the profile says restart: no (restart_broker)");
        broker_caps_note(caps, "restart", "profile", "no");
    } else if (mb->kind == MB_EMBEDDED && !mb->has_data) {
        broker_caps_refuse(caps, FEAT_DURABLE, "the bundled mqspec-broker has no --data "
                                               "(persistence), so no session outlives a restart");
        broker_caps_note(caps, "restart", "harness", "yes, without persistence (no --data)");
    } else {
        broker_caps_note(caps, "restart", mb->kind == MB_EMBEDDED ? "harness" : "profile", "yes (%s)",
                         mb->kind == MB_EMBEDDED ? "bundled broker, --data in a private directory"
                                                 : "start / stop commands");
    }
}

/* ---- the command -------------------------------------------------------------------- */

static const char *need_arg(int *i, int argc, char **argv)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "mqspec run: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cmd_run(int argc, char **argv)
{
    const char *broker = NULL, *only = NULL, *broker_log = NULL;
    const char *baseline_path = NULL, *protocols = NULL, *profile = NULL;
    bool no_probe = false, insecure_given = false;
    broker_profile prof;
    profile_init(&prof);
    const char *profile_name = NULL;
    managed_broker mb;
    memset(&mb, 0, sizeof mb);
    report_outputs outs = {0};
    run_options opt;
    memset(&opt, 0, sizeof opt);
    opt.jobs = 0;       /* auto */
    opt.retry_failures = true;
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    if (!paths)
        return 2;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE() do { if (!(v = need_arg(&i, argc, argv))) goto out; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            status = 0;
            goto out;
        } else if (!strcmp(a, "--broker")) {
            VALUE();
            broker = v;
        } else if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
            VALUE();
            char *end;
            long j = !strcmp(v, "auto") ? 0 : strtol(v, &end, 10);
            if (strcmp(v, "auto") && (end == v || *end || j < 1 || j > 256)) {
                fprintf(stderr, "mqspec run: -j takes a number from 1 to 256 or auto\n");
                goto out;
            }
            opt.jobs = (int)j;
        } else if (!strcmp(a, "--max-connections")) {
            VALUE();
            char *end;
            long m = strtol(v, &end, 10);
            if (end == v || *end || m < 1 || m > 100000) {
                fprintf(stderr, "mqspec run: --max-connections takes a number from 1 to 100000\n");
                goto out;
            }
            opt.max_connections = (int)m;
        } else if (!strcmp(a, "--json")) {
            VALUE();
            outs.json = v;
        } else if (!strcmp(a, "--junit")) {
            VALUE();
            outs.junit = v;
        } else if (!strcmp(a, "--html")) {
            VALUE();
            outs.html = v;
        } else if (!strcmp(a, "--md")) {
            VALUE();
            outs.md = v;
        } else if (!strcmp(a, "--repro")) {
            VALUE();
            outs.repro = v;
        } else if (!strcmp(a, "--baseline")) {
            VALUE();
            baseline_path = v;
        } else if (!strcmp(a, "--protocols")) {
            VALUE();
            protocols = v;
        } else if (!strcmp(a, "--profile")) {
            VALUE();
            profile = v;
        } else if (!strcmp(a, "--only")) {
            VALUE();
            only = v;
        } else if (!strcmp(a, "--username")) {
            VALUE();
            opt.username = v;
        } else if (!strcmp(a, "--password")) {
            VALUE();
            opt.password = v;
        } else if (!strcmp(a, "--username2")) {
            VALUE();
            opt.username2 = v;
        } else if (!strcmp(a, "--password2")) {
            VALUE();
            opt.password2 = v;
        } else if (!strcmp(a, "--tls-version")) {
            VALUE();
            if (!strcmp(v, "1.2"))
                opt.target.tls_version = 12;
            else if (!strcmp(v, "1.3"))
                opt.target.tls_version = 13;
            else {
                fprintf(stderr, "mqspec run: --tls-version takes 1.2 or 1.3\n");
                goto out;
            }
        } else if (!strcmp(a, "--alpn")) {
            VALUE();
            if (!*v || strlen(v) > 255) {
                fprintf(stderr, "mqspec run: --alpn takes a protocol name of 1 to 255 bytes\n");
                goto out;
            }
            opt.target.alpn = (char *)v;
        } else if (!strcmp(a, "--cafile")) {
            VALUE();
            opt.target.cafile = (char *)v;
        } else if (!strcmp(a, "--capath")) {
            VALUE();
            opt.target.capath = (char *)v;
        } else if (!strcmp(a, "--cert")) {
            VALUE();
            opt.target.certfile = (char *)v;
        } else if (!strcmp(a, "--key")) {
            VALUE();
            opt.target.keyfile = (char *)v;
        } else if (!strcmp(a, "--no-retry")) {
            opt.retry_failures = false;
        } else if (!strcmp(a, "--no-probe")) {
            no_probe = true;
        } else if (!strcmp(a, "--insecure")) {
            opt.target.insecure = true;
            insecure_given = true;
        } else if (!strcmp(a, "--broker-log")) {
            VALUE();
            broker_log = v;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            opt.verbose = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mqspec run: unknown option %s (see mqspec run --help)\n", a);
            goto out;
        } else {
            paths[npaths++] = a;
        }
#undef VALUE
    }
    if (npaths == 0)
        paths[npaths++] = default_scenarios_dir();
    if (profile) {
        /* A bare name that is no file is only the name in reports (as before
         * profiles were read); anything that looks like a path must load. */
        size_t pl = strlen(profile);
        bool looks_like_file = strchr(profile, '/') || access(profile, F_OK) == 0 ||
                               (pl > 8 && !strcmp(profile + pl - 8, ".profile"));
        if (looks_like_file) {
            char perr_buf[600];
            if (profile_load(profile, &prof, perr_buf, sizeof perr_buf) != 0) {
                fprintf(stderr, "mqspec run: %s\n", perr_buf);
                goto out;
            }
            if (prof.name) {
                profile_name = prof.name;
            } else {
                /* ci/brokers/NAME.profile -> NAME */
                const char *base = strrchr(profile, '/');
                base = base ? base + 1 : profile;
                static char derived[128];
                snprintf(derived, sizeof derived, "%s", base);
                char *dot = strstr(derived, ".profile");
                if (dot && dot != derived)
                    *dot = '\0';
                profile_name = derived;
            }
            /* What the command line says wins over the profile. */
            if (!broker && !prof.start)
                broker = prof.broker;
            if (!protocols)
                protocols = prof.versions;
            if (!opt.username)
                opt.username = prof.username;
            if (!opt.password)
                opt.password = prof.password;
            if (!opt.username2)
                opt.username2 = prof.username2;
            if (!opt.password2)
                opt.password2 = prof.password2;
            if (!baseline_path)
                baseline_path = prof.baseline;
            if (!opt.target.cafile)
                opt.target.cafile = prof.cafile;
            if (!opt.target.capath)
                opt.target.capath = prof.capath;
            if (!opt.target.certfile)
                opt.target.certfile = prof.cert;
            if (!opt.target.keyfile)
                opt.target.keyfile = prof.key;
            if (!insecure_given && prof.insecure == TRI_YES)
                opt.target.insecure = true;
        } else {
            profile_name = profile;
        }
    }
    bool v5_ok = true, v311_ok = true;
    if (protocols) {
        /* "3.1.1" alone does not say 5: look for a 5 that is not part of 3.1.1. */
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s", protocols);
        char *p311 = strstr(tmp, "3.1.1");
        if (p311)
            memset(p311, ' ', 5);
        v5_ok = strchr(tmp, '5') != NULL;
        v311_ok = p311 != NULL;
        if (strspn(tmp, " ,5.0") != strlen(tmp) || (!v5_ok && !v311_ok)) {
            fprintf(stderr, "mqspec run: --protocols takes 5, 3.1.1 or 5,3.1.1\n");
            goto out;
        }
    }
    baseline bl = {0};
    char err[512];
    if (baseline_path && baseline_load(baseline_path, &bl, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec run: %s\n", err);
        goto out;
    }

    scenario_set set = {0};
    if (scenario_set_load(paths, npaths, &set, stderr) != 0) {
        fprintf(stderr, "mqspec run: invalid scenarios; nothing was run\n");
        scenario_set_free(&set);
        baseline_free(&bl);
        goto out;
    }
    /* The hash covers every file loaded, before --only, so two runs of
     * different selections of the same catalogue show the same set. */
    char sha[65] = "";
    const char **files = calloc(set.n ? set.n : 1, sizeof *files);
    for (size_t i = 0; files && i < set.n; i++)
        files[i] = set.items[i]->file;
    if (!files || rep_sha256_files(files, set.n, sha, err, sizeof err) != 0)
        sha[0] = '\0';
    size_t n_files = set.n;
    free(files);
    /* Keep only the selected scenarios; the set owns them, so free the rest. */
    size_t kept = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (id_selected(set.items[i]->id, only))
            set.items[kept++] = set.items[i];
        else
            scenario_free(set.items[i]);
    }
    set.n = kept;

    char url[300];
    if (broker) {
        if (parse_url(broker, &opt.target, err, sizeof err) != 0) {
            fprintf(stderr, "mqspec run: %s\n", err);
            scenario_set_free(&set);
            baseline_free(&bl);
            goto out;
        }
        snprintf(url, sizeof url, "%s", broker);
    } else {
        int mrc = prof.start ? managed_commands(&mb, prof.start, prof.stop, prof.kill,
                                                (int)prof.start_timeout_s, err, sizeof err)
                             : managed_embedded(&mb, broker_log, err, sizeof err);
        if (mrc == 0 && managed_start(&mb, err, sizeof err) != 0)
            mrc = -1;
        if (mrc != 0) {
            fprintf(stderr, "mqspec run: %s%s\n", prof.start ? "the profile's start command: " : "",
                    err);
            managed_cleanup(&mb);
            scenario_set_free(&set);
            baseline_free(&bl);
            status = 3;
            goto out;
        }
        opt.target.host = strdup("127.0.0.1");
        opt.target.port = mb.port;
        opt.managed = &mb;
        if (mb.user2[0] && !opt.username2) {
            opt.username2 = mb.user2;
            opt.password2 = mb.password2;
        }
        if (mb.kind == MB_EMBEDDED)
            snprintf(url, sizeof url, "mqtt://127.0.0.1:%d (bundled mqspec-broker)", mb.port);
        else
            snprintf(url, sizeof url, "mqtt://127.0.0.1:%d (started by the profile)", mb.port);
    }
    opt.target.connect_timeout_ms = 10000;
    bool tls_opts = opt.target.cafile || opt.target.capath || opt.target.certfile ||
                    opt.target.keyfile || opt.target.insecure || opt.target.tls_version ||
                    opt.target.alpn;
    if (tls_opts && !opt.target.tls)
        fprintf(stderr, "mqspec run: warning: TLS options given but the broker URL is not "
                        "mqtts://; they are ignored\n");
    if ((opt.username2 != NULL) != (opt.password2 != NULL) && !opt.username2) {
        fprintf(stderr, "mqspec run: --password2 needs --username2\n");
        managed_cleanup(&mb);
        free(opt.target.host);
        scenario_set_free(&set);
        baseline_free(&bl);
        goto out;
    }
    if (probe_tcp(&opt.target, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec run: broker unreachable: %s\n", err);
        printf("TAP version 13\n1..0 # SKIP broker unreachable: %s\n", err);
        managed_cleanup(&mb);
        free(opt.target.host);
        scenario_set_free(&set);
        baseline_free(&bl);
        status = 3;
        goto out;
    }
    /* What the broker offers, from its CONNACKs, narrowed by what the user
     * declared: scenarios needing more are skipped by the runner. */
    broker_caps caps;
    char prefix[7];
    runner_make_prefix(prefix);
    if (!no_probe) {
        /* A broker that accepts nothing still gets its verdicts (errors that
         * say what went wrong), so the probe's failure only disables skips. */
        if (broker_probe(&opt.target, opt.username, opt.password, prefix, 5000, &caps, err,
                         sizeof err) != 0) {
            fprintf(stderr, "mqspec run: probing the broker failed: %s\n", err);
            memset(&caps, 0, sizeof caps);
            caps.probed = true;
            caps.offered = FEAT__ALL;
            snprintf(caps.announced, sizeof caps.announced, "probe failed: %s", err);
        }
    } else {
        memset(&caps, 0, sizeof caps);
        caps.probed = true;     /* assumed, not learnt: everything but what is declared */
        caps.offered = FEAT__ALL;
        snprintf(caps.announced, sizeof caps.announced, "not probed (--no-probe)");
    }
    if (!opt.username2)
        caps.offered &= ~FEAT_SECOND_USER;
    if (!v5_ok) {
        caps.offered &= ~FEAT_V5;
        snprintf(caps.v5_refused, sizeof caps.v5_refused, "--protocols");
    }
    if (!v311_ok) {
        caps.offered &= ~FEAT_V311;
        snprintf(caps.v311_refused, sizeof caps.v311_refused, "--protocols");
    }
    merge_caps(&caps, &prof, &mb);
    opt.caps = &caps;

    run_result res;
    run_result_init(&res);
    res.harness_version = strdup(MQSPEC_VERSION);
    res.broker_url = strdup(url);
    res.started = time(NULL);
    res.scenarios_sha256 = *sha ? strdup(sha) : NULL;
    res.n_scenario_files = n_files;
    res.profile = profile_name ? strdup(profile_name) : NULL;
    res.caps = calloc(caps.n_list ? caps.n_list : 1, sizeof *res.caps);
    for (size_t i = 0; res.caps && i < caps.n_list; i++) {
        result_cap *rc = &res.caps[res.n_caps++];
        rc->name = strdup(caps.list[i].name);
        rc->value = strdup(caps.list[i].value);
        rc->source = strdup(caps.list[i].source);
    }
    res.protocols = protocols ? strdup(v5_ok && v311_ok ? "5.0, 3.1.1" : v5_ok ? "5.0" : "3.1.1") : NULL;
    res.baseline_file = baseline_path ? strdup(baseline_path) : NULL;
    char timing[200];
    char jobs[96];
    int budget = opt.max_connections ? opt.max_connections : RUNNER_MAX_CONNECTIONS;
    if (opt.jobs)
        snprintf(jobs, sizeof jobs, "up to %d scenarios side by side (%d connections)", opt.jobs,
                 budget);
    else
        snprintf(jobs, sizeof jobs, "scenarios side by side up to %d connections (-j auto)", budget);
    snprintf(timing, sizeof timing,
             "%s; connect timeout %d s; waits and windows as written in each scenario, unscaled",
             jobs, 10);
    res.timing = strdup(timing);
    if (opt.target.tls) {
        char tls[600];
        describe_tls(&opt.target, tls, sizeof tls);
        res.tls = strdup(tls);
        res.tls_insecure = opt.target.insecure;
    }
    tap_ctx tc = {.verbose = opt.verbose, .res = &res, .bl = baseline_path ? &bl : NULL};
    opt.finished = on_finished;
    opt.notice = on_notice;
    opt.ud = &tc;
    tap_begin(stdout, set.n);
    printf("# broker: MQTT 5.0 %s, MQTT 3.1.1 %s; %s\n",
           (caps.offered & FEAT_V5) ? "offered" : "not offered",
           (caps.offered & FEAT_V311) ? "offered" : "not offered", caps.announced);
    if (res.tls)
        printf("# TLS: %s\n", res.tls);
    if (res.tls_insecure) {
        printf("# WARNING: --insecure: the broker's certificate is NOT VERIFIED; these results do "
               "not show who answered\n");
        fprintf(stderr, "mqspec run: WARNING: --insecure: the broker's certificate is not "
                        "verified\n");
    }
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    if (runner_run(&set, &opt, &res) != 0) {
        fprintf(stderr, "mqspec run: could not start the run (out of memory)\n");
        status = 1;
    } else {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            res.sched.cpu_user_ms = (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000;
            res.sched.cpu_sys_ms = (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
            printf("# harness CPU: %.2f s user + %.2f s sys in %.1f s wall\n",
                   res.sched.cpu_user_ms / 1000.0, res.sched.cpu_sys_ms / 1000.0,
                   res.duration_ms / 1000.0);
        }
        if (res.sched.requeued)
            printf("# scheduling: %zu scenario run(s) re-queued after a refusal, parallelism lowered "
                   "%zu time(s)\n",
                   res.sched.requeued, res.sched.n_lowered);
        tap_summary(stdout, &res);
        fflush(stdout);
        status = run_result_exit_code(&res);
        char ann[1024];
        const char *announced = caps.announced[0] && !no_probe ? caps.announced
                                                              : rep_announced(&res, ann, sizeof ann);
        res.broker_announced = announced ? strdup(announced) : NULL;
        if (reports_write_outputs(&res, &outs, stderr) != 0)
            status = status ? status : 1;
    }
    baseline_free(&bl);
    managed_cleanup(&mb);
    run_result_free(&res);
    free(opt.target.host);
    scenario_set_free(&set);
out:
    profile_free(&prof);
    free(paths);
    return status;
}
