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

#define CAPS_MAX_LIST 24

/* One thing known about the broker, and where it was learnt, for reports. */
typedef struct cap_entry {
    char name[40];              /* "max_session_expiry" */
    char value[120];            /* "300" */
    char source[16];            /* "probe", "profile", "option", "harness" */
} cap_entry;

struct scenario;

typedef struct broker_caps {
    bool probed;                /* a probe ran (else everything is assumed offered) */
    unsigned offered;           /* enum feature bits (model.h) */
    char v5_refused[160];       /* why MQTT 5.0 is not offered, when it is not */
    char v311_refused[160];
    char announced[600];        /* the 5.0 CONNACK's properties, as text */
    /* Why a feature is not offered, by bit number, when something other than
     * the CONNACK said so (a profile, the harness); "" otherwise. */
    char refused[16][160];
    /* Limits: the probe's (a 5.0 CONNACK's granted Session Expiry) win over a
     * profile's, which only fills what the probe cannot observe. */
    bool has_max_session_expiry;
    uint32_t max_session_expiry;
    char max_session_expiry_from[16];
    bool has_max_queued;
    uint32_t max_queued;
    cap_entry list[CAPS_MAX_LIST];
    size_t n_list;
} broker_caps;

/* Records what is known for the report; a later entry of the same name replaces it. */
void broker_caps_note(broker_caps *caps, const char *name, const char *source, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* Marks a feature as not offered, with the reason shown in a skip. */
void broker_caps_refuse(broker_caps *caps, unsigned one_feature, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Connects once per protocol version and fills *caps. Bounded by timeout_ms
 * per connection. Returns 0, or -1 with err filled when neither version could
 * be probed at all (the broker is then unreachable for our purposes). */
int broker_probe(const target_t *target, const char *username, const char *password,
                 const char *client_prefix, int timeout_ms, broker_caps *caps, char *err,
                 size_t errcap);

/* Why a scenario that requires `requires` cannot run on a broker offering
 * caps: a one-line reason, or NULL when it can run. */
const char *broker_caps_gap(const broker_caps *caps, unsigned requires, char *buf, size_t cap);

/* Why a scenario cannot apply to a broker with these configured limits (the
 * queue it needs is longer than the broker keeps): a reason, or NULL. */
const char *broker_caps_limit_gap(const broker_caps *caps, const struct scenario *sc, char *buf,
                                  size_t cap);

#endif
