/* model.h -- the scenario model: what a YAML scenario means, once loaded.
 *
 * What it is for: the one representation shared by the loader (which builds
 * it from YAML and validates it), the runner (which executes it) and the
 * reports (which quote it). Every step keeps its source position so a failure
 * can point at the line of YAML that made it.
 *
 * What it is not: YAML. Nothing here knows about libyaml; nothing in the loader
 * knows about sockets. Strings that may hold placeholders ({ns}, {id:NAME}) are
 * kept as written; the runner expands them per run (see template_expand in
 * runner.h).
 *
 * Absent and zero are different: every optional number is an opt_u32.
 */
#ifndef HARNESS_MODEL_H
#define HARNESS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct src_pos {
    int line;       /* 1-based */
    int col;        /* 1-based */
} src_pos;

typedef struct opt_u32 {
    bool set;
    uint32_t v;
} opt_u32;

typedef enum level { LEVEL_MUST, LEVEL_SHOULD, LEVEL_MAY } level_t;

/* Driver capabilities. A scenario needs the union of what its steps use; the
 * runner gives each client a driver that has all of them. */
enum cap {
    CAP_MANUAL_ACK    = 1u << 0,  /* withhold / send PUBACK, PUBREC, PUBREL, PUBCOMP on demand */
    CAP_SEE_DUP       = 1u << 1,  /* observe the DUP flag of received PUBLISH */
    CAP_SEE_ACKS      = 1u << 2,  /* observe inbound PUBREL / PUBACK / PUBREC / PUBCOMP as events,
                                   * and UNSUBACK reason codes */
    CAP_SEND_DUP      = 1u << 3,  /* send a PUBLISH with DUP 1 and a chosen packet id */
    CAP_RAW_BYTES     = 1u << 4,  /* send arbitrary bytes */
    CAP_RESET         = 1u << 5,  /* close with RST instead of FIN */
    CAP_SECOND_CONNECT = 1u << 6, /* send CONNECT on an open connection */
    CAP_TOPIC_ALIAS   = 1u << 7,  /* send PUBLISH with a Topic Alias / empty topic */
    CAP_EXACT_PROPS   = 1u << 8,  /* control property presence exactly (e.g. SEI 0 vs absent in 3.1.1-less corners) */
    CAP_NO_AUTO_RESEND = 1u << 9, /* never resend our own in-flight messages on reconnect */
    CAP_MIXED_SUBSCRIBE = 1u << 10, /* one SUBSCRIBE whose entries have different QoS / options */
    CAP_EMPTY_CLIENT_ID = 1u << 11, /* send a zero-length client id as it is (any protocol, any Clean Start) */
    CAP_FLOOD         = 1u << 12, /* open many connections at once, with or without CONNECT, and hold them */
    CAP__ALL          = (1u << 13) - 1
};

/* Broker features a scenario relies on. The loader derives most of them from
 * the steps (a QoS 2 publish needs QoS 2, a "+" filter needs wildcards ...);
 * `requires:` adds others. The runner skips a scenario whose broker does not
 * offer one, with the reason: absence of an optional feature is not a failure. */
enum feature {
    FEAT_V5           = 1u << 0,
    FEAT_V311         = 1u << 1,
    FEAT_QOS1         = 1u << 2,
    FEAT_QOS2         = 1u << 3,
    FEAT_RETAIN       = 1u << 4,
    FEAT_WILDCARD_SUB = 1u << 5,
    FEAT_SHARED_SUB   = 1u << 6,
    FEAT_SUB_ID       = 1u << 7,
    FEAT_TOPIC_ALIAS  = 1u << 8,
    /* Not the broker's but the run's: credentials of a second user
     * (--username2/--password2, or the bundled broker's own). */
    FEAT_SECOND_USER  = 1u << 9,
    FEAT_MAX_PACKET_SIZE = 1u << 10, /* the server announces a Maximum Packet Size (5.0 CONNACK) */
    FEAT_QUEUE_QOS0   = 1u << 11, /* QoS 0 messages queued for an offline session (a MAY) */
    FEAT_RESTART      = 1u << 12, /* the harness can restart the broker (restart_broker) */
    FEAT_DURABLE      = 1u << 13, /* sessions outlive a restart of the broker */
    FEAT__ALL         = (1u << 14) - 1
};
/* "shared subscriptions", for skip reasons; NULL for an unknown bit. */
const char *feature_name(unsigned one_feature);
/* The `requires:` spelling ("shared_subscriptions") back to its bit; 0 if unknown. */
unsigned feature_by_key(const char *key);

/* A duration: a literal, or a value the server granted / the client asked for,
 * scaled and offset. "wait: {session_expiry: sub, plus: 2s}" waits for the
 * Session Expiry Interval in force for client `sub` (the CONNACK value when the
 * server sent one, else what CONNECT or the last DISCONNECT asked for) plus 2 s. */
typedef enum dur_ref {
    DUR_LITERAL = 0,
    DUR_SESSION_EXPIRY,     /* of a client, in force */
    DUR_WILL_DELAY,         /* of a client's last CONNECT */
    DUR_KEEP_ALIVE          /* of a client, in force (Server Keep Alive if sent) */
} dur_ref;

typedef struct duration {
    dur_ref ref;
    int client;             /* index into scenario.clients, for refs */
    double times;           /* factor applied to the referenced value (default 1) */
    int64_t plus_ms;        /* the literal, or the offset added to the reference */
    src_pos pos;
} duration_t;

/* Matches a number, or its absence, e.g. for a property. */
typedef enum num_match_kind {
    NM_ANY = 0,             /* not checked */
    NM_ABSENT,              /* must not be present */
    NM_PRESENT,             /* present, any value */
    NM_EQ,                  /* present and == lo */
    NM_RANGE,               /* present and lo <= v <= hi */
    NM_SAVED,               /* equal to the packet id saved under `saved` */
    NM_NOT_EQ,              /* present and != lo  (`{not: 7}`) */
    NM_NOT_SAVED            /* present and != the packet id saved under `saved` (`{not: $m1}`) */
} num_match_kind;

typedef struct num_match {
    num_match_kind kind;
    uint32_t lo, hi;
    char *saved;            /* NM_SAVED: name given by an earlier `save:` */
} num_match;

/* Expected properties of a received packet: by property id (mqtt.h), each a
 * num_match (numeric properties) or a string / absent (string properties). */
typedef struct prop_expect {
    uint8_t id;
    num_match num;          /* for numeric properties */
    char *str;              /* for string / binary properties, when set */
    bool absent;            /* for string properties: must not be present */
    src_pos pos;
} prop_expect;

typedef struct user_prop {
    char *name;
    char *value;
} user_prop;

/* ---- actions ---------------------------------------------------------- */

typedef struct will_args {
    char *topic;            /* template */
    char *payload;
    size_t payload_len;
    uint8_t qos;
    bool retain;
    opt_u32 delay;          /* Will Delay Interval (5.0) */
    opt_u32 message_expiry;
    user_prop *user_props;
    size_t n_user_props;
} will_args;

/* A client on a slow link: its bytes go out `chunk` at a time with `pause`
 * between the writes, so that they reach the broker in pieces (raw). */
#define PACED_MAX_MS 60000          /* a paced write lasts at most this long */
typedef struct pacing {
    uint32_t chunk;                 /* 0: not paced, one write */
    int64_t pause_ms;
} pacing;

/* How many writes `len` bytes take with pacing `p`, and how long: (writes - 1)
 * x pause. */
uint64_t paced_writes(const pacing *p, size_t len);
uint64_t paced_duration_ms(const pacing *p, size_t len);

typedef struct connect_args {
    bool clean_start;               /* default true */
    opt_u32 session_expiry;         /* absent unless written */
    uint16_t keep_alive;            /* default 60 */
    opt_u32 receive_maximum;
    opt_u32 maximum_packet_size;
    opt_u32 topic_alias_maximum;
    char *authentication_method;    /* 5.0, raw: a method the server must refuse if it
                                     * does not support it (§4.12) */
    bool has_will;
    will_args will;
    char *username;                 /* NULL: the client's, then the run's */
    char *password;
    bool second_connect;            /* send CONNECT on the open connection (raw) */
    pacing pace;                    /* the CONNECT written in pieces (raw) */
    user_prop *user_props;
    size_t n_user_props;
} connect_args;

typedef struct sub_entry {
    char *filter;                   /* template */
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;
} sub_entry;

typedef struct subscribe_args {
    sub_entry *entries;
    size_t n_entries;
    opt_u32 subscription_id;
    user_prop *user_props;
    size_t n_user_props;
} subscribe_args;

typedef struct unsubscribe_args {
    char **filters;                 /* templates */
    size_t n_filters;
} unsubscribe_args;

typedef struct publish_args {
    char *topic;                    /* template; "" with a topic alias */
    char *payload;
    size_t payload_len;
    uint8_t qos;
    bool retain;
    bool dup;                       /* raw: send with DUP 1 */
    opt_u32 packet_id;              /* raw: use this packet id */
    opt_u32 message_expiry;
    opt_u32 topic_alias;
    user_prop *user_props;
    size_t n_user_props;
    bool await_ack;                 /* default true: the step ends on PUBACK / PUBCOMP */
} publish_args;

typedef struct disconnect_args {
    uint8_t reason;                 /* default 0x00 */
    opt_u32 session_expiry;
    char *reason_string;
    bool keep_open;                 /* raw: send DISCONNECT as bytes and keep the connection
                                     * open, to observe the broker's answer (e.g. 0x82) */
} disconnect_args;

typedef struct drop_args {
    bool reset;                     /* RST instead of FIN */
} drop_args;

/* restart_broker: stop the managed broker, leave it down, start it again on
 * the same port with the same data; the step ends when it listens again. */
typedef struct restart_args {
    bool kill;                      /* SIGKILL (the profile's kill command) instead of SIGTERM */
    bool has_down_for;
    duration_t down_for;            /* how long it stays down (default: no wait) */
} restart_args;

/* PUBACK / PUBREC / PUBREL / PUBCOMP sent on demand (raw). */
typedef struct ack_args {
    uint8_t packet_type;            /* MQTT_PUBACK ... MQTT_PUBCOMP */
    num_match packet_id;            /* NM_EQ or NM_SAVED */
    uint8_t reason;
} ack_args;

typedef struct send_args {
    uint8_t *bytes;                 /* raw bytes, from `hex:` */
    size_t len;
    pacing pace;
} send_args;

/* Many connections at once, held until the scenario ends (raw). */
typedef struct flood_args {
    uint32_t connections;           /* 1 .. LOAD_MAX_FLOOD */
    bool connect;                   /* send a CONNECT on each (Clean Start 1, own client ids) */
} flood_args;

/* ---- expectations ----------------------------------------------------- */

typedef enum expect_kind {
    EX_CONNACK,
    EX_SUBACK,
    EX_UNSUBACK,
    EX_MESSAGE,         /* one PUBLISH */
    EX_MESSAGES,        /* several PUBLISH, in order or as a set */
    EX_NOTHING,         /* no PUBLISH for a duration */
    EX_ACK,             /* an inbound PUBACK / PUBREC / PUBREL / PUBCOMP */
    EX_DISCONNECT,      /* a DISCONNECT from the server */
    EX_CLOSED,          /* the network connection closed by the server */
    EX_ALIVE,           /* the connection is still open (PINGREQ / PINGRESP round trip) */
    EX_IN_FLIGHT,       /* the server's unacknowledged QoS 1/2 PUBLISH so far on this connection:
                         * never more than `max`, never a new one on a packet id in use */
    EX_ONE_OF,          /* the server's legal choices: any one of several expectations */
    EX_SEQUENCE         /* inside one_of only: expectations met one after the other */
} expect_kind;

typedef struct connack_expect {
    bool check_reason;
    uint8_t reason;
    bool check_reason_is_error;     /* `reason: error`: any code >= 0x80 (3.1.1: != 0) */
    bool check_session_present;
    bool session_present;
    prop_expect *props;
    size_t n_props;
} connack_expect;

typedef struct suback_expect {
    uint8_t *reasons;               /* expected codes, one per entry */
    size_t n_reasons;
} suback_expect;

typedef struct message_expect {
    char *topic;                    /* template; NULL: not checked */
    char *payload;                  /* NULL: not checked */
    size_t payload_len;
    num_match qos;
    int retain;                     /* -1 not checked, else 0/1 */
    int dup;                        /* -1 not checked, else 0/1 (needs CAP_SEE_DUP) */
    num_match packet_id;
    prop_expect *props;
    size_t n_props;
    opt_u32 *subscription_ids;      /* expected Subscription Identifiers, in any order */
    size_t n_subscription_ids;
    user_prop *user_props;          /* expected in this order (MQTT-3.1.3-10) */
    size_t n_user_props;
    char *save;                     /* remember this message under a name */
    src_pos pos;
} message_expect;

typedef struct ack_expect {
    uint8_t packet_type;
    num_match packet_id;
    num_match reason;
} ack_expect;

typedef struct disconnect_expect {
    bool check_reason;
    uint8_t reason;
    uint8_t *alt_reasons;           /* `reason: [a, b]`: any of these (reason is the first) */
    size_t n_alt_reasons;
    prop_expect *props;
    size_t n_props;
} disconnect_expect;

typedef struct in_flight_expect {
    opt_u32 max;                    /* absent: only packet ids are checked */
} in_flight_expect;

typedef struct expect_args {
    expect_kind kind;
    union {
        in_flight_expect in_flight;
        struct {
            struct expect_args *items;  /* one_of: alternatives; sequence: its steps.
                                         * No timing of their own, no one_of inside */
            size_t n;
        } one_of;                       /* also EX_SEQUENCE */
        connack_expect connack;
        suback_expect suback;           /* also UNSUBACK */
        message_expect message;
        struct {
            message_expect *items;
            size_t n;
            bool in_order;              /* default true */
        } messages;
        ack_expect ack;
        disconnect_expect disconnect;
    } u;
    /* Timing window, measured from `since` (a mark) or from the step's start:
     * the event must not happen before `after` (strict) and must by `within`.
     * For EX_NOTHING, `within` is the quiet period. */
    bool has_after;
    duration_t after;
    duration_t within;              /* default 5 s (EX_NOTHING: required) */
    char *since;                    /* a mark name, or NULL */
} expect_args;

/* ---- steps ------------------------------------------------------------- */

typedef enum step_kind {
    ST_CONNECT, ST_SUBSCRIBE, ST_UNSUBSCRIBE, ST_PUBLISH, ST_DISCONNECT, ST_DROP,
    ST_ACK, ST_SEND, ST_WAIT, ST_EXPECT,
    ST_OPEN,            /* raw: open the network connection only; the CONNECT is the scenario's to send */
    ST_FLOOD,           /* raw: open many connections at once and hold them */
    ST_RESTART          /* restart_broker: not tied to a client (client -1) */
} step_kind;

typedef struct step {
    step_kind kind;
    int client;                     /* index into scenario.clients; -1 for wait */
    src_pos pos;
    char *mark;                     /* record the time this step ended under a name */
    char *spec;                     /* the statement this step checks, if narrower than the scenario's */
    bool has_level;
    level_t level;                  /* a per-step level, e.g. one SHOULD inside a MUST scenario */
    union {
        connect_args connect;
        subscribe_args subscribe;
        unsubscribe_args unsubscribe;
        publish_args publish;
        disconnect_args disconnect;
        drop_args drop;
        ack_args ack;
        send_args send;
        flood_args flood;
        duration_t wait;
        expect_args expect;
        restart_args restart;
    } u;
} step_t;

typedef struct client_def {
    char *name;
    uint8_t protocol;               /* MQTT_V311 or MQTT_V5 */
    char *client_id;                /* template; NULL: generated under the run prefix */
    char *username;
    char *password;
    char *driver;                   /* "mosquitto", "raw" or NULL (chosen by needs) */
    bool auto_ack;                  /* default true; false needs CAP_MANUAL_ACK */
    bool second_user;               /* `credentials: second`: the run's second user */
    unsigned needs;                 /* enum cap bits, computed by the loader */
    src_pos pos;
} client_def;

typedef struct scenario {
    char *file;                     /* as given on the command line */
    char *id;
    char *title;
    char **spec;                    /* "v5:MQTT-3.1.2-4", ... */
    size_t n_spec;
    src_pos *spec_pos;              /* where each spec entry is written (n_spec of them), or NULL */
    level_t level;
    uint8_t protocol;               /* default protocol of its clients */
    char *driver;                   /* forces every client's driver, or NULL */
    char **tags;
    size_t n_tags;
    unsigned requires;              /* enum feature bits: derived from the steps + `requires:` */
    /* Cannot share the broker (it restarts it, changes a global setting):
     * the runner runs it alone, nothing else side by side. Set by the loader. */
    bool exclusive;
    /* For the limits a profile or the probe reports (probe.c): the longest
     * literal Session Expiry a CONNECT or DISCONNECT asks for, and how many
     * QoS 1/2 messages are published while some client of the scenario is
     * offline (an upper bound of what the broker must queue). */
    uint32_t max_session_expiry_asked;
    uint32_t max_offline_publishes;
    client_def *clients;
    size_t n_clients;
    step_t *steps;
    size_t n_steps;
} scenario_t;

void scenario_free(scenario_t *s);

/* Short names, for traces and reports. */
const char *step_kind_name(step_kind k);        /* "connect", "expect" ... */
const char *expect_kind_name(expect_kind k);    /* "connack", "message" ... */
const char *level_name(level_t l);              /* "must" ... */

#endif
