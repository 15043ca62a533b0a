/* cmd_soak.c -- `mqspec soak`: the command line of the session soak (soak.h):
 * options, the broker (a URL, or the bundled mqspec-broker started with
 * limits that fit the soak), the final report on stdout, the exit status.
 *
 * What it is not: the engine (soak.c), nor `mqspec run`. The bundled broker
 * is started through managed.h, as for `mqspec run`, but with a
 * configuration of its own (connections and queue length sized for the soak)
 * and its sessions in memory.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "../mqtt/mqtt.h"
#include "cli.h"
#include "loop.h"
#include "managed.h"
#include "runner.h"
#include "soak.h"


static void soak_usage(FILE *f)
{
    fputs("usage: mqspec soak [OPTIONS]\n"
          "\n"
          "Persistent sessions through repeated disconnect / publish / resume cycles:\n"
          "every message must arrive, QoS 2 exactly once, in order per publisher.\n"
          "Progress on stderr (a line per cycle), the report on stdout.\n"
          "\n"
          "  --broker URL        mqtt://HOST:PORT (a loopback address); default: start the\n"
          "                      bundled mqspec-broker on a free loopback port\n"
          "  --sessions N        subscriber sessions (default 1000)\n"
          "  --cycles C          disconnect / publish / resume cycles (default 5)\n"
          "  --messages M        messages per session and cycle (default 10)\n"
          "  --qos 1|2|both      QoS of the messages (default both: each publisher alternates)\n"
          "  --protocol 5|3.1.1  (default 5)\n"
          "  --publishers P      publishing connections (default 4)\n"
          "  --window W          QoS 1/2 publishes in flight per publisher (default 100;\n"
          "                      lowered to the broker's Receive Maximum)\n"
          "  --connections N     subscriber connections open at once (default 500)\n"
          "  --no-drop           do not cut sessions off half way through their queue\n"
          "  --deadline S        give up after S seconds (default 600)\n"
          "  --idle-ms T         a resumed session that receives nothing for T ms gives up\n"
          "                      on the cycle; what it missed counts as lost (default 5000)\n"
          "  --broker-log FILE   where the bundled broker's log goes (default: discarded)\n"
          "\n"
          "exit status: 0 nothing lost, duplicated at QoS 2, out of order or in error;\n"
          "             1 otherwise; 2 bad invocation; 3 broker unreachable\n",
          f);
}

static int parse_url(const char *url, char *host, size_t hostcap, int *port)
{
    if (strncmp(url, "mqtt://", 7) != 0)
        return -1;
    const char *rest = url + 7, *port_s = NULL;
    size_t len;
    if (*rest == '[') {
        const char *end = strchr(rest, ']');
        if (!end)
            return -1;
        rest++;
        len = (size_t)(end - rest);
        port_s = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(rest, ':');
        len = colon ? (size_t)(colon - rest) : strcspn(rest, "/");
        port_s = colon ? colon + 1 : NULL;
    }
    if (len == 0 || len >= hostcap)
        return -1;
    memcpy(host, rest, len);
    host[len] = '\0';
    /* The soak talks to numeric addresses only: no resolver in the loop. */
    if (!strcmp(host, "localhost"))
        snprintf(host, hostcap, "127.0.0.1");
    long p = 1883;
    if (port_s) {
        char *end;
        p = strtol(port_s, &end, 10);
        if (end == port_s || (*end && *end != '/') || p < 1 || p > 65535)
            return -1;
    }
    *port = (int)p;
    return 0;
}

static bool loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

static int probe(const char *host, int port, char *err, size_t errcap)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) != 0) {
        snprintf(err, errcap, "not a numeric address: %s", host);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (fd >= 0) {
        int c = connect(fd, res->ai_addr, res->ai_addrlen);
        if (c != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 5000) == 1) {
                int so = 0;
                socklen_t l = sizeof so;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &l);
                c = so ? -1 : 0;
                errno = so;
            } else {
                errno = ETIMEDOUT;
            }
        }
        rc = c;
        if (rc != 0)
            snprintf(err, errcap, "cannot connect to %s:%d: %s", host, port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int number(const char *opt, const char *v, long lo, long hi, uint32_t *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < lo || n > hi) {
        fprintf(stderr, "mqspec soak: %s takes a number from %ld to %ld\n", opt, lo, hi);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

int cmd_soak(int argc, char **argv)
{
    soak_params p = {
        .protocol = MQTT_V5, .sessions = 1000, .cycles = 5, .messages = 10, .qos = 3,
        .publishers = 4, .window = 100, .connections = 500, .pending = 64, .drop = true,
        .deadline_s = 600, .idle_ms = 5000,
    };
    const char *broker = NULL, *broker_log = NULL;
    uint32_t deadline = 600, idle = 5000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--no-drop") && strcmp(a, "--help") && strcmp(a, "-h");
        if (takes && a[0] == '-' && !v) {
            fprintf(stderr, "mqspec soak: %s needs a value\n", a);
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            soak_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--broker")) {
            broker = v;
        } else if (!strcmp(a, "--broker-log")) {
            broker_log = v;
        } else if (!strcmp(a, "--sessions")) {
            bad = number(a, v, 1, 1000000, &p.sessions);
        } else if (!strcmp(a, "--cycles")) {
            bad = number(a, v, 1, 100000, &p.cycles);
        } else if (!strcmp(a, "--messages")) {
            bad = number(a, v, 1, 100000, &p.messages);
        } else if (!strcmp(a, "--publishers")) {
            bad = number(a, v, 1, 1000, &p.publishers);
        } else if (!strcmp(a, "--window")) {
            bad = number(a, v, 1, 65535, &p.window);
        } else if (!strcmp(a, "--connections")) {
            bad = number(a, v, 1, 1000000, &p.connections);
        } else if (!strcmp(a, "--deadline")) {
            bad = number(a, v, 1, 86400, &deadline);
        } else if (!strcmp(a, "--idle-ms")) {
            bad = number(a, v, 100, 600000, &idle);
        } else if (!strcmp(a, "--no-drop")) {
            p.drop = false;
            continue;
        } else if (!strcmp(a, "--qos")) {
            if (!strcmp(v, "1") || !strcmp(v, "2"))
                p.qos = v[0] - '0';
            else if (!strcmp(v, "both"))
                p.qos = 3;
            else {
                fprintf(stderr, "mqspec soak: --qos takes 1, 2 or both\n");
                return 2;
            }
        } else if (!strcmp(a, "--protocol")) {
            if (!strcmp(v, "5") || !strcmp(v, "5.0"))
                p.protocol = MQTT_V5;
            else if (!strcmp(v, "3.1.1"))
                p.protocol = MQTT_V311;
            else {
                fprintf(stderr, "mqspec soak: --protocol takes 5 or 3.1.1\n");
                return 2;
            }
        } else {
            fprintf(stderr, "mqspec soak: unknown argument %s (see mqspec soak --help)\n", a);
            return 2;
        }
        if (bad)
            return 2;
        i++;
    }
    p.deadline_s = (int)deadline;
    p.idle_ms = (int)idle;
    uint64_t nbits = (uint64_t)p.cycles * p.messages;
    if (nbits > 10000000ull || nbits * p.sessions > 4000000000ull) {
        fprintf(stderr, "mqspec soak: --cycles x --messages x --sessions is too large\n");
        return 2;
    }
    if (p.pending > p.connections)
        p.pending = p.connections;

    /* Every connection is a descriptor: raise the soft limit to the hard one
     * and keep the window inside it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && p.connections + p.publishers + 32 > rl.rlim_cur) {
            uint32_t fit = rl.rlim_cur > p.publishers + 64 ? (uint32_t)(rl.rlim_cur - p.publishers - 32) : 1;
            fprintf(stderr, "mqspec soak: %u open files allowed (ulimit -n): --connections lowered to %u\n",
                    (unsigned)rl.rlim_cur, fit);
            p.connections = fit;
            if (p.pending > fit)
                p.pending = fit;
        }
    }

    char host[128], err[256], url[200];
    int port = 0;
    managed_broker bundled = {0};
    if (broker) {
        if (parse_url(broker, host, sizeof host, &port) != 0) {
            fprintf(stderr, "mqspec soak: broker URL must be mqtt://HOST:PORT: %s\n", broker);
            return 2;
        }
        if (!loopback(host)) {
            fprintf(stderr, "mqspec soak: only loopback brokers (127.0.0.0/8, ::1): %s\n", host);
            return 2;
        }
        snprintf(url, sizeof url, "%s", broker);
    } else {
        /* Every default of 1000 would cap the soak; sessions in memory, as
         * the figures compare brokers' session handling, not their disks. */
        char conf[128];
        uint32_t queued = p.messages + 1000 > 1000000 ? 1000000 : p.messages + 1000;
        snprintf(conf, sizeof conf, "max_clients %u\nmax_queued_messages %u\n",
                 p.connections + p.publishers + 200, queued);
        int started = managed_embedded(&bundled, broker_log, err, sizeof err);
        if (started == 0) {
            bundled.has_data = false;
            bundled.config = conf;
            started = managed_start(&bundled, err, sizeof err);
        }
        if (started != 0) {
            fprintf(stderr, "mqspec soak: %s\n", err);
            managed_cleanup(&bundled);
            return 3;
        }
        port = bundled.port;
        snprintf(host, sizeof host, "127.0.0.1");
        snprintf(url, sizeof url, "mqtt://127.0.0.1:%d (bundled mqspec-broker)", port);
    }
    if (probe(host, port, err, sizeof err) != 0) {
        fprintf(stderr, "mqspec soak: broker unreachable: %s\n", err);
        managed_cleanup(&bundled);
        return 3;
    }
    char prefix[7];
    runner_make_prefix(prefix);
    p.host = host;
    p.port = port;
    p.prefix = prefix;
    p.progress = stderr;
    p.tty = isatty(STDERR_FILENO);
    signal(SIGPIPE, SIG_IGN);

    const char *qos = p.qos == 3 ? "1 and 2 (alternating per publisher)" : p.qos == 1 ? "1" : "2";
    fprintf(stderr, "mqspec soak: %s, MQTT %s, %u sessions x %u cycles x %u messages, QoS %s, run %s\n",
            url, p.protocol == MQTT_V5 ? "5.0" : "3.1.1", p.sessions, p.cycles, p.messages, qos,
            prefix);
    soak_result r;
    int rc = soak_run(&p, &r);
    managed_cleanup(&bundled);
    if (rc != 0) {
        fprintf(stderr, "mqspec soak: %s\n", r.first_error);
        return 1;
    }
    int status = soak_exit_code(&r);
    printf("mqspec soak report\n");
    printf("  broker              %s\n", url);
    printf("  protocol            MQTT %s\n", p.protocol == MQTT_V5 ? "5.0" : "3.1.1");
    printf("  run prefix          %s (client ids %ss0.., topics mqspec-soak/%s/N)\n", prefix, prefix,
           prefix);
    printf("  sessions            %u (%u connections at once)\n", p.sessions, p.connections);
    printf("  cycles              %u of %u%s\n", r.cycles_done, p.cycles,
           r.deadline_hit ? " (deadline reached)" : "");
    printf("  messages per cycle  %u per session, QoS %s, %u publishers\n", p.messages, qos,
           p.publishers);
    printf("  published           %llu (QoS 1 %llu, QoS 2 %llu), acknowledged by the broker\n",
           (unsigned long long)r.published, (unsigned long long)r.published_q1,
           (unsigned long long)r.published_q2);
    printf("  delivered           %llu distinct\n", (unsigned long long)r.delivered);
    printf("  lost                %llu\n", (unsigned long long)r.lost);
    printf("  duplicated (QoS 2)  %llu\n", (unsigned long long)r.dup_q2);
    printf("  out of order        %llu\n", (unsigned long long)r.out_of_order);
    printf("  QoS 1 redelivered   %llu (again with DUP 1: allowed)\n", (unsigned long long)r.redelivered_q1);
    printf("  QoS 1 again, DUP 0  %llu\n", (unsigned long long)r.dup_q1_no_dup);
    printf("  resumes             %llu, Session Present 0 on %llu\n", (unsigned long long)r.resumes,
           (unsigned long long)r.session_lost);
    printf("  cut off mid-queue   %llu\n", (unsigned long long)r.drops);
    printf("  errors              %llu%s%s\n", (unsigned long long)r.errors, r.errors ? ", first: " : "",
           r.errors ? r.first_error : "");
    printf("  wall time           %.1f s\n", r.wall_s);
    printf("  rate                %.0f messages/s delivered\n", r.wall_s > 0 ? r.delivered / r.wall_s : 0);
    printf("result: %s\n", status == 0 ? "PASS (nothing lost, no QoS 2 duplicate, order kept)" : "FAIL");
    fflush(stdout);
    return status;
}
