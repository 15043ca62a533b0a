/* mqtt.h -- the MQTT protocol core shared by the raw driver and mqspec-broker.
 *
 * What it is for: turning MQTT 3.1.1 and 5.0 control packets into C values and
 * back, properties (absent and zero kept distinct), reason codes and their names,
 * variable byte integers, the UTF-8 string rules, topic name / filter validation
 * and filter matching (wildcards, `$` topics, shared subscriptions).
 *
 * What it is not: I/O. Every function is pure over caller-owned buffers. The
 * encoder writes exactly what it is given (duplicate or misplaced properties
 * included) so that the raw driver can send packets the standard forbids; all
 * checking happens in the decoder and the validators.
 *
 * Memory: a decoded packet's strings and binaries are views (mqtt_bytes) into the
 * input buffer, which must outlive the packet. Only the arrays (properties,
 * subscription entries, reason codes) are allocated; mqtt_packet_free releases
 * them. Anything that must outlive the input buffer is copied by the caller.
 */
#ifndef MQTT_MQTT_H
#define MQTT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol levels as carried in CONNECT. */
enum { MQTT_V311 = 4, MQTT_V5 = 5 };

/* Control packet types (fixed header, high nibble). */
enum mqtt_type {
    MQTT_CONNECT = 1, MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC,
    MQTT_PUBREL, MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_UNSUBSCRIBE,
    MQTT_UNSUBACK, MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT, MQTT_AUTH
};

/* MQTT 5.0 property identifiers (§2.2.2.2). */
enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A
};

/* How a property's value is carried on the wire. */
enum mqtt_prop_type {
    MQTT_PT_BYTE, MQTT_PT_U16, MQTT_PT_U32, MQTT_PT_VARINT,
    MQTT_PT_STRING, MQTT_PT_BINARY, MQTT_PT_PAIR
};

/* Reason codes that the harness and broker name in code (5.0 §2.4). The full
 * table with names lives in mqtt_reason_name(). */
enum mqtt_reason {
    MQTT_RC_SUCCESS = 0x00,             /* also Normal disconnection, Granted QoS 0 */
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_NOT_VALID = 0x85,
    MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
    MQTT_RC_SUB_ID_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2
};

/* MQTT 3.1.1 CONNACK return codes (M3 §3.2.2.3). */
enum mqtt_v311_connack {
    MQTT_V311_ACCEPTED = 0, MQTT_V311_BAD_PROTOCOL = 1, MQTT_V311_ID_REJECTED = 2,
    MQTT_V311_UNAVAILABLE = 3, MQTT_V311_BAD_CREDENTIALS = 4, MQTT_V311_NOT_AUTHORIZED = 5
};

#define MQTT_SESSION_EXPIRY_NEVER 0xFFFFFFFFu
#define MQTT_MAX_REMAINING_LENGTH 268435455u
#define MQTT_MAX_VARINT 268435455u

/* A length-delimited view of bytes owned by someone else. Not NUL-terminated. */
typedef struct mqtt_bytes {
    const uint8_t *data;
    uint32_t len;
} mqtt_bytes;

/* One property. `num` holds BYTE/U16/U32/VARINT values; `str` holds STRING and
 * BINARY values and the name of a user property (PAIR); `str2` its value. */
typedef struct mqtt_prop {
    uint8_t id;
    uint32_t num;
    mqtt_bytes str;
    mqtt_bytes str2;
} mqtt_prop;

/* An ordered property list. Presence in the list is what "present" means:
 * a Session Expiry Interval of 0 is an item with num 0, absent is no item. */
typedef struct mqtt_props {
    mqtt_prop *items;
    uint32_t count;
    uint32_t cap;
} mqtt_props;

/* One SUBSCRIBE entry. `options` is the raw options byte; the named fields are
 * its decoded bits (5.0 §3.8.3.1; 3.1.1 uses only qos). */
typedef struct mqtt_sub {
    mqtt_bytes filter;
    uint8_t options;
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;
} mqtt_sub;

typedef struct mqtt_connect {
    mqtt_bytes protocol_name;   /* "MQTT" */
    uint8_t protocol_level;     /* 4 or 5 (3 for 3.1 is rejected by the decoder) */
    uint8_t flags;              /* the raw Connect Flags byte */
    bool clean_start;           /* Clean Start (5.0) / Clean Session (3.1.1) */
    uint16_t keep_alive;
    mqtt_props props;
    mqtt_bytes client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    mqtt_props will_props;
    mqtt_bytes will_topic;
    mqtt_bytes will_payload;
    bool has_username;
    mqtt_bytes username;
    bool has_password;
    mqtt_bytes password;
} mqtt_connect;

typedef struct mqtt_connack {
    bool session_present;
    uint8_t flags;              /* the raw Acknowledge Flags byte (bits 7-1 reserved) */
    uint8_t reason;             /* 5.0 reason code or 3.1.1 return code */
    mqtt_props props;
} mqtt_connack;

typedef struct mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    mqtt_bytes topic;           /* may be empty in 5.0 when a Topic Alias is used */
    uint16_t packet_id;         /* 0 for QoS 0 */
    mqtt_props props;
    mqtt_bytes payload;
} mqtt_publish;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. In 5.0 the reason and properties may be
 * omitted on the wire; `has_reason` records whether the byte was there. */
typedef struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason;
    bool has_reason;
    mqtt_props props;
} mqtt_ack;

typedef struct mqtt_subscribe {
    uint16_t packet_id;
    mqtt_props props;
    mqtt_sub *subs;
    uint32_t count;
} mqtt_subscribe;

/* SUBACK and UNSUBACK (3.1.1 UNSUBACK has no reason codes: count is 0). */
typedef struct mqtt_suback {
    uint16_t packet_id;
    mqtt_props props;
    uint8_t *reasons;
    uint32_t count;
} mqtt_suback;

typedef struct mqtt_unsubscribe {
    uint16_t packet_id;
    mqtt_props props;
    mqtt_bytes *filters;
    uint32_t count;
} mqtt_unsubscribe;

/* DISCONNECT and AUTH. In 5.0 both may omit the reason byte (meaning 0x00). */
typedef struct mqtt_disconnect {
    uint8_t reason;
    bool has_reason;
    mqtt_props props;
} mqtt_disconnect;

typedef struct mqtt_packet {
    uint8_t type;               /* enum mqtt_type */
    uint8_t version;            /* MQTT_V311 or MQTT_V5: how it was / is to be coded */
    union {
        mqtt_connect connect;
        mqtt_connack connack;
        mqtt_publish publish;
        mqtt_ack ack;
        mqtt_subscribe subscribe;
        mqtt_suback suback;     /* also UNSUBACK */
        mqtt_unsubscribe unsubscribe;
        mqtt_disconnect disconnect; /* also AUTH */
    } u;
} mqtt_packet;

/* A growable output buffer. */
typedef struct mqtt_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} mqtt_buf;

void mqtt_buf_free(mqtt_buf *b);
/* Returns 0, or -1 when memory ran out. */
int mqtt_buf_append(mqtt_buf *b, const void *data, size_t len);

/* ---- decoding ---------------------------------------------------------- */

typedef enum mqtt_status {
    MQTT_OK = 0,
    MQTT_INCOMPLETE,        /* need more bytes; nothing consumed */
    MQTT_MALFORMED,         /* reason 0x81: cannot be parsed per the standard */
    MQTT_PROTOCOL_ERROR,    /* reason 0x82 (or a more specific code): parsed, but forbidden */
    MQTT_NOMEM
} mqtt_status;

typedef struct mqtt_error {
    mqtt_status status;
    uint8_t reason;         /* the reason code the standard assigns (0x81, 0x82, 0x84, 0x95 ...) */
    char why[120];          /* human-readable detail: "duplicate Session Expiry Interval" */
} mqtt_error;

/* Reads the fixed header at buf. On MQTT_OK sets *header_len and *remaining_len
 * (so the whole packet is header_len + remaining_len bytes). MQTT_INCOMPLETE if
 * the length is not yet complete; MQTT_MALFORMED for a 5-byte length. */
mqtt_status mqtt_frame(const uint8_t *buf, size_t len, uint32_t *header_len,
                       uint32_t *remaining_len);

/* Decodes one whole packet of exactly `len` bytes (as framed by mqtt_frame).
 * `version` is the connection's protocol level; it is ignored for CONNECT, whose
 * level is read from the packet itself and stored in pkt->version. `is_server`
 * says which side is decoding: it decides which packets may arrive at all (a
 * server receiving CONNACK is a protocol error). On error, *err says why and
 * pkt holds nothing that needs freeing. */
mqtt_status mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, bool is_server,
                        mqtt_packet *pkt, mqtt_error *err);

/* Frees the arrays a decoded (or hand-built, if built with mqtt_props_add*)
 * packet owns; the views are not touched. */
void mqtt_packet_free(mqtt_packet *pkt);

/* ---- encoding ---------------------------------------------------------- */

/* Appends the wire form of pkt to out, coded for pkt->version. Writes what it is
 * given without judging it. Returns 0, or -1 if the packet cannot be represented
 * (a remaining length over 268435455, memory). */
int mqtt_encode(const mqtt_packet *pkt, mqtt_buf *out);

/* ---- properties -------------------------------------------------------- */

/* The property's wire type, or -1 for an unknown identifier. */
int mqtt_prop_type(uint8_t id);
/* "Session Expiry Interval", or NULL for an unknown identifier. */
const char *mqtt_prop_name(uint8_t id);
/* true if the property may appear in packets of this type (5.0 §2.2.2.2).
 * For CONNECT, `will` selects the Will Properties instead. */
bool mqtt_prop_allowed(uint8_t id, uint8_t packet_type, bool will);

const mqtt_prop *mqtt_props_find(const mqtt_props *p, uint8_t id);
/* Each returns 0, or -1 when memory ran out. Values are views: the caller keeps
 * the bytes alive for as long as the list is used. */
int mqtt_props_add_num(mqtt_props *p, uint8_t id, uint32_t value);
int mqtt_props_add_bytes(mqtt_props *p, uint8_t id, mqtt_bytes value);
int mqtt_props_add_pair(mqtt_props *p, mqtt_bytes name, mqtt_bytes value);
void mqtt_props_free(mqtt_props *p);

/* ---- names, for traces and reports -------------------------------------- */

const char *mqtt_type_name(uint8_t type);           /* "PUBLISH" */
/* "Session taken over"; for the codes that differ by packet (0x00 is Success,
 * Normal disconnection or Granted QoS 0), packet_type picks the name. 3.1.1
 * CONNACK return codes have their own names when version is MQTT_V311. */
const char *mqtt_reason_name(uint8_t reason, uint8_t packet_type, uint8_t version);

/* Writes a one-line description of pkt into out (always NUL-terminated), e.g.
 * `PUBLISH d1 q1 r0 id=7 topic="a/b" props={Message Expiry Interval=10} payload="m1" (2 bytes)`.
 * A CONNECT's password is shown as its length only.
 * Returns the length it wanted to write, as snprintf does. */
int mqtt_describe(const mqtt_packet *pkt, char *out, size_t cap);

/* ---- primitives --------------------------------------------------------- */

/* Encodes value (<= 268435455) into out[0..3]; returns the byte count, 0 if too big. */
int mqtt_varint_encode(uint32_t value, uint8_t out[4]);
/* Decodes a varint; returns bytes used, 0 if incomplete, -1 if malformed. */
int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value);

/* The UTF-8 Encoded String rules (5.0 §1.5.4, 3.1.1 §1.5.3): well-formed UTF-8,
 * no U+0000, no surrogates. Returns true if valid. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);

/* Topic Name: non-empty, valid UTF-8, no wildcards. */
bool mqtt_topic_name_valid(mqtt_bytes topic);
/* Topic Filter: non-empty, '#' last and alone in its level, '+' alone in its
 * level, and a well-formed "$share/NAME/FILTER" when shared. */
bool mqtt_topic_filter_valid(mqtt_bytes filter);

/* If filter is "$share/GROUP/REST", sets *group and *rest and returns true. */
bool mqtt_shared_split(mqtt_bytes filter, mqtt_bytes *group, mqtt_bytes *rest);

/* Does a (non-shared) filter match a topic name? Wildcards at the first level do
 * not match topics beginning with '$' (5.0 §4.7.2). */
bool mqtt_topic_matches(mqtt_bytes filter, mqtt_bytes topic);

/* Convenience: a view of a NUL-terminated string. */
mqtt_bytes mqtt_str(const char *s);
bool mqtt_bytes_eq(mqtt_bytes a, mqtt_bytes b);

#endif
