/* driver.h -- the interface between the runner and a client driver.
 *
 * What it is for: one connection to a broker, opened and driven inside the
 * harness's event loop. The runner hands the driver mqtt_packet values to send
 * and receives observations (obs_t) and trace lines back. Two drivers implement
 * it: "mosquitto" (libmosquitto, a real client library, drv_mosq.c) and "raw"
 * (our own codec over sockets and OpenSSL, drv_raw.c). Each declares what it can
 * do as enum cap bits (model.h); the runner never asks a driver for more.
 *
 * What it is not: scenario logic. A driver does not know about steps,
 * expectations or YAML. It does only what the runner says, and a raw driver does
 * nothing on its own: no acks unless auto_ack, no resends, no reconnects.
 */
#ifndef HARNESS_DRIVER_H
#define HARNESS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../mqtt/mqtt.h"
#include "loop.h"

/* Where the broker is. */
typedef struct target {
    char *host;             /* "127.0.0.1", "::1", "localhost" */
    int port;
    bool tls;               /* mqtts:// */
    char *cafile;           /* TLS options, NULL when unset */
    char *capath;
    char *certfile;
    char *keyfile;
    bool insecure;          /* no certificate verification */
    int tls_version;        /* 0: 1.2 or later; 12: only TLS 1.2; 13: only TLS 1.3 */
    char *alpn;             /* ALPN protocol to offer, or NULL */
    int connect_timeout_ms;
} target_t;

/* What the runner observed on a connection. Every observation owns its bytes:
 * `pkt` is decoded from `wire`, which the observation holds. */
typedef enum obs_kind {
    OBS_PACKET,             /* a control packet from the broker (pkt is valid) */
    OBS_BAD_PACKET,         /* bytes from the broker that do not decode; `text` says why */
    OBS_CLOSED              /* the connection is gone; `text` says how */
} obs_kind;

/* What a driver could see of a packet. libmosquitto hides DUP, for example: an
 * observation from it has OBS_SEEN_DUP clear and pkt.u.publish.dup false. */
enum obs_seen {
    OBS_SEEN_DUP = 1u << 0,
    OBS_SEEN_PACKET_ID = 1u << 1,
    /* The reason codes are the broker's. Clear for a 5.0 UNSUBACK from
     * libmosquitto 2.0.11, which does not report them: its codes are filled
     * with 0x00 (one per filter) only so that the packet is well formed. */
    OBS_SEEN_REASON_CODES = 1u << 2,
    OBS_SEEN_ALL = 0xFFFFu
};

typedef enum close_cause {
    CLOSE_BY_PEER,          /* orderly close (FIN) from the broker */
    CLOSE_RESET,            /* RST / ECONNRESET from the broker */
    CLOSE_BY_US,            /* we closed it (DISCONNECT sent, or a drop step) */
    CLOSE_REFUSED,          /* the TCP connection was never established */
    CLOSE_TLS,              /* a TLS handshake or record error; text names it */
    CLOSE_ERROR             /* anything else; text names it */
} close_cause;

typedef struct obs {
    obs_kind kind;
    int64_t at_ms;          /* loop_now_ms() when observed */
    unsigned seen;          /* enum obs_seen */
    mqtt_packet pkt;        /* OBS_PACKET */
    uint8_t *wire;          /* the bytes pkt's views point into */
    size_t wire_len;
    close_cause cause;      /* OBS_CLOSED */
    char text[160];         /* OBS_BAD_PACKET, OBS_CLOSED: detail */
} obs_t;

/* Builds an observation owning a copy of `wire` (one whole packet) decoded for
 * `version`. Undecodable bytes give OBS_BAD_PACKET with the decoder's reason. */
obs_t *obs_from_wire(const uint8_t *wire, size_t len, uint8_t version, unsigned seen);
/* Builds an observation from a packet the driver assembled (libmosquitto
 * callbacks): it is encoded, then decoded back, so it owns its bytes. */
obs_t *obs_from_packet(const mqtt_packet *pkt, unsigned seen);
obs_t *obs_closed(close_cause cause, const char *fmt, ...);
void obs_free(obs_t *o);

/* One line of a connection's packet log. */
typedef enum trace_dir {
    TRACE_OUT = '>',        /* a packet we sent */
    TRACE_IN = '<',         /* a packet we received */
    TRACE_NOTE = '-'        /* connect, close, TLS, library log lines */
} trace_dir;

typedef struct trace_line {
    int64_t at_ms;
    trace_dir dir;
    const char *text;       /* decoded: mqtt_describe() output, or a note */
    const uint8_t *bytes;   /* the wire bytes, when known (NULL otherwise) */
    size_t len;
} trace_line;

/* The runner's side of a connection. The driver calls these from inside loop
 * callbacks; they may call back into the driver (send, close). */
typedef struct conn_sink {
    void (*observe)(void *ud, obs_t *obs);          /* takes ownership of obs */
    void (*trace)(void *ud, const trace_line *line);
    /* Optional: the connection is up (TCP, and TLS when asked for) and the
     * CONNECT, if any, is on its way. Called once, by drivers that can tell. */
    void (*opened)(void *ud);
    void *ud;
} conn_sink;

/* Everything needed to open a connection and send CONNECT. */
typedef struct conn_params {
    const target_t *target;
    uint8_t protocol;               /* MQTT_V311 / MQTT_V5 */
    mqtt_connect connect;           /* the CONNECT to send (views into runner-owned memory) */
    bool auto_ack;                  /* ack inbound QoS 1/2 (PUBACK, PUBREC->PUBREL->PUBCOMP) and
                                     * complete outbound QoS 2 (PUBREC -> PUBREL) by itself */
    int64_t deadline_ms;            /* connect + TLS handshake must finish by then */
    bool no_connect;                /* open the connection only: the caller sends its own
                                     * CONNECT as bytes (CAP_RAW_BYTES drivers) */
} conn_params;

typedef struct conn conn_t;         /* a driver's connection; opaque */

typedef struct driver {
    const char *name;               /* "mosquitto", "raw" */
    unsigned caps;                  /* enum cap bits */

    /* Starts connecting and sends CONNECT when the socket is up. Never blocks.
     * Returns NULL with err filled if it cannot even start. Everything after
     * that (CONNACK, refusal, close) arrives through the sink. */
    conn_t *(*open)(loop_t *loop, const conn_params *params, conn_sink sink,
                    char *err, size_t errcap);

    /* Sends one packet. For PUBLISH QoS > 0, SUBSCRIBE and UNSUBSCRIBE a packet
     * id of 0 means "allocate one"; the id used is written back into *pkt.
     * DISCONNECT is sent and the connection then closed by us (an OBS_CLOSED with
     * CLOSE_BY_US follows). Returns 0, or -1 with err filled (not connected,
     * not supported by this driver). */
    int (*send)(conn_t *c, mqtt_packet *pkt, char *err, size_t errcap);

    /* Sends bytes as they are (CAP_RAW_BYTES). */
    int (*send_bytes)(conn_t *c, const uint8_t *bytes, size_t len, char *err, size_t errcap);

    /* Closes the network connection without DISCONNECT: FIN, or RST when
     * reset (CAP_RESET). An OBS_CLOSED with CLOSE_BY_US follows. */
    void (*drop)(conn_t *c, bool reset);

    /* Releases everything; no callbacks after this. Closes the socket if open. */
    void (*free)(conn_t *c);
} driver_t;

extern const driver_t driver_mosquitto;
extern const driver_t driver_raw;

/* The drivers in order of preference for a scenario that does not name one. */
const driver_t *driver_for(unsigned needs, const char *name);

#endif
