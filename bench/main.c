/* main.c -- mqspec-bench: command line of the load generator used by
 * `make bench-broker` (bench/run.sh starts the brokers and calls this).
 *
 *   mqspec-bench throughput --port P [--label L] [--messages N] [--window W]
 *                           [--clients C] [--deadline S] [--only WORKLOAD]
 *                           [--sub-expiry S]   (subscribers with this Session Expiry)
 *   mqspec-bench sessions   --port P --pid PID [--label L] [--sessions N]
 *                           [--concurrency C] [--queued Q] [--deadline S]
 *   mqspec-bench report FILE...
 *
 * throughput and sessions print `result broker=L workload=W key=value ...`
 * lines on stdout, one per workload; report reads such lines (for two
 * brokers) and prints the side-by-side table with ratios and goals.
 *
 * What it is not: a broker starter. It only ever connects to 127.0.0.1:PORT,
 * and reads /proc/PID/status of the broker it is told about.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqspec-bench throughput --port P [--label L] [--messages N] [--window W]\n"
            "                               [--clients C] [--deadline S] [--only WORKLOAD] [--sub-expiry S]\n"
            "       mqspec-bench sessions --port P --pid PID [--label L] [--sessions N]\n"
            "                             [--concurrency C] [--queued Q] [--deadline S]\n"
            "       mqspec-bench report FILE...\n");
}

static long num_arg(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || n < lo || n > hi) {
        fprintf(stderr, "mqspec-bench: %s needs a number in %ld..%ld\n", opt, lo, hi);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "report"))
        return report_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    bool tp = !strcmp(cmd, "throughput");
    if (!tp && strcmp(cmd, "sessions")) {
        usage(stderr);
        return 2;
    }

    const char *label = "broker", *only = NULL;
    int port = 0, pid = 0, window = 100, clients = 50, deadline = 60;
    int sessions = 10000, concurrency = 2000, queued = 10;
    long messages = 500000, sub_expiry = -1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--label") && v)
            label = v;
        else if (!strcmp(o, "--only") && v)
            only = v;
        else if (!strcmp(o, "--port"))
            port = (int)num_arg(o, v, 1, 65535);
        else if (!strcmp(o, "--pid"))
            pid = (int)num_arg(o, v, 1, 1L << 30);
        else if (!strcmp(o, "--messages"))
            messages = num_arg(o, v, 1, 10000000);
        else if (!strcmp(o, "--window"))
            window = (int)num_arg(o, v, 1, 65535);
        else if (!strcmp(o, "--clients"))
            clients = (int)num_arg(o, v, 1, 1000);
        else if (!strcmp(o, "--deadline"))
            deadline = (int)num_arg(o, v, 1, 3600);
        else if (!strcmp(o, "--sessions"))
            sessions = (int)num_arg(o, v, 1, 1000000);
        else if (!strcmp(o, "--concurrency"))
            concurrency = (int)num_arg(o, v, 1, 100000);
        else if (!strcmp(o, "--sub-expiry"))
            sub_expiry = num_arg(o, v, 0, 4294967295L);
        else if (!strcmp(o, "--queued"))
            queued = (int)num_arg(o, v, 1, 1000);
        else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!port || (!tp && !pid)) {
        usage(stderr);
        return 2;
    }

    /* Unique per run, so that two runs against one broker never share a
     * client id or a topic. */
    char run_id[48];
    snprintf(run_id, sizeof run_id, "b%dt%lld", (int)getpid(), (long long)time(NULL));

    long nofile = raise_nofile();
    int need = (tp ? 2 * clients + 2 : concurrency + 16) + 32;
    if (nofile < need) {
        int room = (int)nofile - 64;
        if (tp || room < 1) {
            fprintf(stderr, "mqspec-bench: open-file limit %ld is too low (need %d)\n", nofile, need);
            return 2;
        }
        fprintf(stderr, "mqspec-bench: open-file limit %ld: concurrency lowered from %d to %d\n",
                nofile, concurrency, room);
        concurrency = room;
    }

    if (tp) {
        int rc = 0;
        static const struct { const char *name; int fan_in; uint8_t qos; } w[] = {
            {"fanin-q0", 1, 0}, {"fanin-q1", 1, 1}, {"fanout-q0", 0, 0}, {"fanout-q1", 0, 1},
        };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            if (only && strcmp(only, w[i].name))
                continue;
            load_params lp = {
                .label = label, .port = port, .qos = w[i].qos, .window = window,
                .sub_expiry = sub_expiry,
                .deadline_s = deadline, .name = w[i].name, .run_id = run_id,
                .publishers = w[i].fan_in ? clients : 1,
                .subscribers = w[i].fan_in ? 1 : clients,
                /* The same number of deliveries either way: fan-out multiplies. */
                .messages = w[i].fan_in ? messages : messages / clients,
            };
            int r = load_run(&lp);
            if (r != 0)
                rc = 1;
        }
        return rc;
    }
    sessions_params sp = {
        .label = label, .port = port, .pid = pid, .sessions = sessions,
        .concurrency = concurrency, .max_pending = 64, .queued = queued, .publishers = 10, .window = 100,
        .deadline_s = deadline, .run_id = run_id,
    };
    return sessions_run(&sp) ? 1 : 0;
}
