/* bench.h -- mqspec-bench, the load generator behind `make bench-broker`.
 *
 * What it is for: driving the same MQTT 5 load, with the same parameters,
 * against any broker on a loopback port, and printing one `result` line per
 * workload that `mqspec-bench report` turns into a side-by-side table.
 * Everything runs on the harness's event loop (harness/loop.h) over
 * non-blocking sockets, and every packet goes through the mqtt/ codec.
 *
 * What it is not: a test (nothing here judges conformance), nor a general
 * MQTT client: there is no TLS, no QoS 2, no retransmission and no reconnect.
 * A broker that misbehaves shows up as missing messages or a timed-out
 * workload, never as a crash or a hang: every workload has a deadline.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include "../harness/bulkconn.h"
#include "../harness/loop.h"
#include "../mqtt/mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Connections: harness/bulkconn.h (shared with `mqspec soak`). */

/* ---- util.c: clocks, samples, process figures, output --------------------- */

int64_t now_ns(void);

/* Latency samples in microseconds; bounded by the count given at creation. */
typedef struct samples {
    uint32_t *v;
    size_t n, cap;
} samples_t;

void samples_init(samples_t *s, size_t cap);
void samples_add(samples_t *s, int64_t ns);
void samples_sort(samples_t *s);
/* Of sorted samples; q in [0,1]; 0 when empty. */
uint32_t samples_quantile(const samples_t *s, double q);
void samples_free(samples_t *s);

/* VmRSS of a process in KiB, or -1. `field` is "VmRSS" or "VmHWM". */
long proc_status_kib(int pid, const char *field);

/* Raises the soft open-file limit to the hard one; returns the new soft limit. */
long raise_nofile(void);

/* Runs the loop (flushing output after every iteration) until *done or the
 * absolute deadline; returns false on timeout. */
bool run_until(bulk_pool *pool, const bool *done, int64_t deadline_ms);

/* Prints "result broker=LABEL workload=NAME " followed by the formatted rest. */
void result_line(const char *label, const char *workload, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- load.c: throughput and latency ---------------------------------------- */

typedef struct load_params {
    const char *label;
    int port;
    int publishers, subscribers;
    long messages;          /* published in total, shared by the publishers */
    uint8_t qos;            /* 0 or 1 */
    int window;             /* per publisher: unacknowledged, and not yet delivered */
    int deadline_s;
    const char *name;       /* workload name in the result line */
    const char *run_id;     /* makes client ids and topics unique per run */
    long sub_expiry;        /* subscribers' Session Expiry, -1 = none (a durable
                             * subscriber makes mqspec-broker --data log its copies) */
} load_params;

/* Returns 0 if the workload completed, 1 if it timed out, -1 on setup errors. */
int load_run(const load_params *p);

/* ---- sessions.c: memory per idle session, resume time ---------------------- */

typedef struct sessions_params {
    const char *label;
    int port;
    int pid;                /* the broker, for /proc/PID/status */
    int sessions;
    int concurrency;        /* connections open at once */
    int max_pending;        /* of which still between connect() and CONNACK */
    int queued;             /* QoS 1 messages queued per session before resume */
    int publishers;         /* connections that queue them */
    int window;
    int deadline_s;         /* per phase */
    const char *run_id;
} sessions_params;

int sessions_run(const sessions_params *p);

/* ---- report.c: the side-by-side table ------------------------------------- */

int report_main(int argc, char **argv);

#endif
