/* probe.h -- what a broker offers, learnt before a run.
 *
 * What it is for: one MQTT 5.0 and one MQTT 3.1.1 CONNECT (raw driver, clean,
 * no session left behind), whose CONNACKs say which protocol versions the
 * broker accepts and, for 5.0, which optional features it announces. Merged
 * with what the user declares (--protocols, a profile), it lets the runner
 * skip a scenario for a missing feature instead of failing it.
 *
 * What it is not: a conformance check. Nothing here judges the broker.
 */
#ifndef HARNESS_PROBE_H
#define HARNESS_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

typedef struct broker_caps {
    bool probed;                /* a probe ran (else everything is assumed offered) */
    unsigned offered;           /* enum feature bits (model.h) */
    char v5_refused[160];       /* why MQTT 5.0 is not offered, when it is not */
    char v311_refused[160];
    char announced[600];        /* the 5.0 CONNACK's properties, as text */
} broker_caps;

/* Connects once per protocol version and fills *caps. Bounded by timeout_ms
 * per connection. Returns 0, or -1 with err filled when neither version could
 * be probed at all (the broker is then unreachable for our purposes). */
int broker_probe(const target_t *target, const char *username, const char *password,
                 const char *client_prefix, int timeout_ms, broker_caps *caps, char *err,
                 size_t errcap);

/* Why a scenario that requires `requires` cannot run on a broker offering
 * caps: a one-line reason, or NULL when it can run. */
const char *broker_caps_gap(const broker_caps *caps, unsigned requires, char *buf, size_t cap);

#endif
