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
#include "runner.h"

#ifndef MQSPEC_VERSION
#define MQSPEC_VERSION "dev"
#endif

#define PROBE_TIMEOUT_MS 5000
#define EMBEDDED_START_TIMEOUT_MS 5000

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
          "  --profile NAME      the broker's name in reports (ci/brokers/NAME.profile)\n"
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
        n += snprintf(out + n, cap - (size_t)n, " against %s%s",
                      t->cafile ? t->cafile : t->capath ? t->capath : "the system CAs",
                      t->cafile || t->capath ? "" : "");
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

/* ---- the bundled broker ---------------------------------------------------------- */

typedef struct embedded {
    pid_t pid;
    int port;
    char user2[32], password2[40];  /* the second user the broker was given */
} embedded_t;

static int self_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/* Runs `mqspec-broker passwd -b -i 1000 FILE USER PASSWORD`: the broker's own
 * tool writes the file, so the harness never needs the hash format. A low
 * iteration count: the file lives for one run on this machine. */
static int make_password_file(const char *bin, const char *file, const char *user,
                              const char *password)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nullfd = open("/dev/null", O_RDWR);
        if (nullfd >= 0) {
            dup2(nullfd, STDIN_FILENO);
            dup2(nullfd, STDOUT_FILENO);
        }
        execl(bin, bin, "passwd", "-b", "-i", "1000", file, user, password, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return 0;
}

static void random_alnum(char *out, size_t n)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char b[64];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, b, n < sizeof b ? n : sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < n && i < sizeof b; i++)
        out[i] = al[(got > (ssize_t)i ? b[i] : (unsigned char)(rand() + (int)i)) % (sizeof al - 1)];
    out[n < sizeof b ? n : sizeof b - 1] = '\0';
}

/* Starts BINDIR/mqspec-broker -p 0 and reads "listening HOST PORT" from its
 * stdout, so the port is the one the broker actually bound. The broker gets a
 * password file with one user, the run's second user, and still accepts
 * anonymous clients: every scenario runs anonymously as before, and the
 * cross-user scenarios have their second identity. */
static int embedded_start(embedded_t *e, const char *log_path, char *err, size_t errcap)
{
    char dir[PATH_MAX], bin[PATH_MAX + 32];
    if (self_dir(dir, sizeof dir) != 0) {
        snprintf(err, errcap, "cannot find the directory of mqspec");
        return -1;
    }
    snprintf(bin, sizeof bin, "%s/mqspec-broker", dir);
    if (access(bin, X_OK) != 0) {
        snprintf(err, errcap, "no --broker given and the bundled broker %s is missing", bin);
        return -1;
    }
    char pwdir[] = "/tmp/mqspec-pw-XXXXXX", pwfile[sizeof pwdir + 16];
    bool have_pw = mkdtemp(pwdir) != NULL;
    snprintf(pwfile, sizeof pwfile, "%s/passwd", pwdir);
    snprintf(e->user2, sizeof e->user2, "mqspec-user2");
    random_alnum(e->password2, 24);
    if (have_pw && make_password_file(bin, pwfile, e->user2, e->password2) != 0) {
        unlink(pwfile);
        rmdir(pwdir);
        have_pw = false;
    }
    if (!have_pw)
        e->user2[0] = e->password2[0] = '\0';
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        snprintf(err, errcap, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errcap, "fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        int logfd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (logfd >= 0)
            dup2(logfd, STDERR_FILENO);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0)
            dup2(nullfd, STDIN_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        if (have_pw)
            execl(bin, bin, "-p", "0", "--bind", "127.0.0.1", "--password-file", pwfile,
                  "--allow-anonymous", (char *)NULL);
        else
            execl(bin, bin, "-p", "0", "--bind", "127.0.0.1", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    e->pid = pid;
    char line[256];
    size_t n = 0;
    int64_t deadline = loop_now_ms() + EMBEDDED_START_TIMEOUT_MS;
    int port = 0;
    while (!port) {
        int64_t left = deadline - loop_now_ms();
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(pipefd[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
        char *ready = strstr(line, "listening ");
        char host[64];
        if (ready && strchr(ready, '\n') && sscanf(ready, "listening %63s %d", host, &port) != 2)
            port = 0;
        if (n == sizeof line - 1)
            n = 0;
    }
    close(pipefd[0]);
    if (have_pw) {
        /* Read at start; nothing of it needs to stay on disk. */
        unlink(pwfile);
        rmdir(pwdir);
    }
    if (!port) {
        snprintf(err, errcap, "the bundled broker did not report a listening port within %d s",
                 EMBEDDED_START_TIMEOUT_MS / 1000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        e->pid = 0;
        return -1;
    }
    e->port = port;
    return 0;
}

static void embedded_stop(embedded_t *e)
{
    if (e->pid <= 0)
        return;
    kill(e->pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
            e->pid = 0;
            return;
        }
        poll(NULL, 0, 100);
    }
    kill(e->pid, SIGKILL);
    waitpid(e->pid, NULL, 0);
    e->pid = 0;
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
    bool no_probe = false;
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

    embedded_t emb = {0};
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
        if (embedded_start(&emb, broker_log, err, sizeof err) != 0) {
            fprintf(stderr, "mqspec run: %s\n", err);
            scenario_set_free(&set);
            baseline_free(&bl);
            status = 3;
            goto out;
        }
        opt.target.host = strdup("127.0.0.1");
        opt.target.port = emb.port;
        if (emb.user2[0] && !opt.username2) {
            opt.username2 = emb.user2;
            opt.password2 = emb.password2;
        }
        snprintf(url, sizeof url, "mqtt://127.0.0.1:%d (bundled mqspec-broker)", emb.port);
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
        embedded_stop(&emb);
        free(opt.target.host);
        scenario_set_free(&set);
        baseline_free(&bl);
        goto out;
    }
    if (probe_tcp(&opt.target, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec run: broker unreachable: %s\n", err);
        printf("TAP version 13\n1..0 # SKIP broker unreachable: %s\n", err);
        embedded_stop(&emb);
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
    opt.caps = &caps;

    run_result res;
    run_result_init(&res);
    res.harness_version = strdup(MQSPEC_VERSION);
    res.broker_url = strdup(url);
    res.started = time(NULL);
    res.scenarios_sha256 = *sha ? strdup(sha) : NULL;
    res.n_scenario_files = n_files;
    res.profile = profile ? strdup(profile) : NULL;
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
    embedded_stop(&emb);
    run_result_free(&res);
    free(opt.target.host);
    scenario_set_free(&set);
out:
    free(paths);
    return status;
}
