/* soak.h -- `mqspec soak`: many persistent sessions through repeated
 * disconnect / publish / resume cycles, checking every message.
 *
 * What it is for: a long-running check of what session persistence promises
 * at scale. N subscriber sessions (Clean Start 0 and a long Session Expiry;
 * 3.1.1: CleanSession 0) each subscribe to a topic of their own and go
 * offline; publishers send numbered QoS 1 / QoS 2 messages to every session;
 * the sessions resume (Session Present 1 expected), are cut off abruptly half
 * way through their queue, resume again and drain. Every message must arrive
 * (nothing lost), QoS 2 exactly once, QoS 1 at least once (a repeat counted
 * apart, allowed only as a redelivery with DUP 1), and in the order its
 * publisher sent it, per publisher, topic and QoS (MQTT 5.0 §4.6, 3.1.1 §4.6).
 *
 * What it is not: a scenario (no YAML, no packet traces, no verdict per
 * statement), nor a throughput benchmark (bench/, `make bench-broker`): the
 * rate it prints is what the checks allowed, not a broker's best.
 */
#ifndef HARNESS_SOAK_H
#define HARNESS_SOAK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct soak_params {
    const char *host;           /* numeric loopback address */
    int port;
    uint8_t protocol;           /* MQTT_V5 or MQTT_V311 */
    uint32_t sessions;
    uint32_t cycles;
    uint32_t messages;          /* per session and cycle */
    int qos;                    /* 1, 2, or 3 for both (alternating per publisher) */
    uint32_t publishers;
    uint32_t window;            /* per publisher: QoS 1/2 publishes awaiting their ack
                                 * (lowered to the broker's Receive Maximum) */
    uint32_t connections;       /* subscriber connections open at once */
    uint32_t pending;           /* of which between connect() and CONNACK */
    bool drop;                  /* cut each session off half way through its queue */
    int deadline_s;             /* for the whole soak */
    int idle_ms;                /* a draining session that gets nothing for this long gives up */
    const char *prefix;         /* run prefix: client ids and topics */
    bool tty;                   /* progress with \r on one line */
    FILE *progress;             /* stderr */
} soak_params;

typedef struct soak_result {
    uint64_t published;         /* acknowledged by the broker (PUBACK / PUBCOMP) */
    uint64_t published_q1, published_q2;
    uint64_t delivered;         /* distinct messages received */
    uint64_t lost;              /* acknowledged, never received */
    uint64_t dup_q2;            /* a QoS 2 message delivered twice */
    uint64_t redelivered_q1;    /* a QoS 1 message again, DUP 1: allowed */
    uint64_t dup_q1_no_dup;     /* a QoS 1 message again with DUP 0 */
    uint64_t out_of_order;
    uint64_t resumes;           /* CONNECTs with Clean Start 0 of an existing session */
    uint64_t session_lost;      /* ... answered with Session Present 0 */
    uint64_t drops;             /* abrupt closes half way through a queue */
    uint64_t errors;            /* protocol errors, refusals, unexpected closes */
    char first_error[256];
    uint32_t cycles_done;
    bool deadline_hit;
    double wall_s;
} soak_result;

/* Runs the soak; fills *r. Returns 0 when it ran (whatever it found), -1 when
 * it could not start (memory, the loop), with r->first_error set. */
int soak_run(const soak_params *p, soak_result *r);

/* 0 when nothing was lost, duplicated at QoS 2, out of order, or in error. */
int soak_exit_code(const soak_result *r);

#endif
