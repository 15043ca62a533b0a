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

#include "../harness/loop.h"
#include "../mqtt/mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- conn.c: one non-blocking MQTT 5 client connection -------------------- */

typedef struct bconn bconn_t;

typedef struct bconn_ops {
    /* TCP is up: send CONNECT. */
    void (*on_open)(bconn_t *c);
    /* One decoded packet; its views live until the callback returns. */
    void (*on_packet)(bconn_t *c, const mqtt_packet *p);
    /* The connection is gone (EOF, error, or bconn_close); fd already closed.
     * `why` is a static string. The slot may be reused by the callee. */
    void (*on_close)(bconn_t *c, const char *why);
} bconn_ops;

struct bconn {
    loop_t *loop;
    int fd;                 /* -1 when idle: set it before any other call */
    bool connecting;        /* non-blocking connect() in progress */
    bool writing;           /* LOOP_WRITE is registered (output backed up) */
    bool dirty;             /* on the flush list */
    int64_t since_ms;       /* when the current connection attempt started */
    int64_t closing_ms;     /* DISCONNECT sent at this time, 0 if not */
    uint8_t *in;            /* partial packet carried between reads */
    size_t inlen, incap;
    mqtt_buf out;
    size_t outoff;
    const bconn_ops *ops;
    void *ud;               /* the workload's per-client state */
    uint16_t next_id;
    uint64_t bytes_in;
};

/* Starts a TCP connection to 127.0.0.1:port. 0, or -1 with errno (the slot is
 * left idle). */
int bconn_open(bconn_t *c, loop_t *loop, int port, const bconn_ops *ops, void *ud);
/* Queues bytes / an encoded packet for sending; sent after the current loop
 * iteration by bconn_flush_all (batching many small packets per write). */
void bconn_write(bconn_t *c, const void *data, size_t len);
void bconn_send(bconn_t *c, const mqtt_packet *p);
/* Sends DISCONNECT (normal) and waits for the broker to close, so that both
 * sides agree the session is offline and TIME_WAIT stays on the broker side. */
void bconn_disconnect(bconn_t *c);
/* Closes now, then calls on_close(why). Safe from inside any callback. */
void bconn_close(bconn_t *c, const char *why);
void bconn_flush_all(void);
/* Closes without callbacks and releases the buffers (end of a workload). */
void bconn_free(bconn_t *c);
/* Callers free every connection of a workload, then call bconn_flush_all once
 * more, before freeing the memory that holds them. */
uint16_t bconn_next_id(bconn_t *c);

/* CONNECT for MQTT 5; session_expiry < 0 and receive_max 0 leave the
 * properties out. */
void bconn_send_connect(bconn_t *c, const char *client_id, bool clean_start,
                        int64_t session_expiry, uint16_t receive_max);
void bconn_send_subscribe(bconn_t *c, const char *filter, uint8_t qos);
void bconn_send_puback(bconn_t *c, uint16_t id);

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
bool run_until(loop_t *loop, const bool *done, int64_t deadline_ms);

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
