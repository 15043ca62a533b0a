/* profile.h -- a broker profile file (`mqspec run --profile FILE`).
 *
 * What it is for: reading the `key: value` file that describes one broker
 * under test (docs/brokers.md): its name, the MQTT versions it speaks,
 * credentials, TLS files, its baseline, the limits it is configured with
 * (maximum Session Expiry, queue length, QoS 0 queueing, persistence), and the
 * commands that start and stop it when the harness is to manage it. Every
 * error is one line, FILE:LINE:COL: message.
 *
 * What it is not: the merge with the command line or the probe (cmd_run.c),
 * nor starting anything (managed.c).
 */
#ifndef HARNESS_PROFILE_H
#define HARNESS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A yes / no key: unset, or what the file says. */
typedef enum tristate { TRI_UNSET = -1, TRI_NO = 0, TRI_YES = 1 } tristate;

typedef struct broker_profile {
    char *file;
    char *name;
    char *broker;                   /* URL, or NULL */
    char *versions;                 /* as written: "5, 3.1.1" */
    char *username, *password;
    char *username2, *password2;    /* a second user, for scenarios across users */
    char *baseline;                 /* relative to the working directory, as written */
    char *cafile, *capath, *cert, *key;
    tristate insecure;
    char *caps_text;                /* `caps:` prose, shown to readers */
    /* Configured limits; `has_*` false when the file does not say. */
    bool has_max_session_expiry;
    uint32_t max_session_expiry;
    bool has_max_queued_messages;
    uint32_t max_queued_messages;
    tristate queue_qos0;
    tristate persistent_sessions;
    tristate restart;               /* may the harness restart it (default: yes when start/stop) */
    /* Management: shell commands with {port} and {dir} replaced. */
    char *start;
    char *stop;
    char *kill;                     /* optional: a hard stop, for restart_broker {kill: true} */
    uint32_t start_timeout_s;       /* default 30 */
} broker_profile;

/* An empty profile: nothing said. */
void profile_init(broker_profile *p);
/* Reads path into *p (initialised first). Returns 0, or -1 with err set to
 * "FILE:LINE:COL: message" (or "FILE: message" when it cannot be read). */
int profile_load(const char *path, broker_profile *p, char *err, size_t errcap);
void profile_free(broker_profile *p);

#endif
