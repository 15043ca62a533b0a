/* broker.h -- the core objects of mqspec-broker and the calls between modules.
 *
 * What it is for: one place that shows the whole model. A connection (conn.c)
 * carries bytes and connection-scoped state (keep alive, Receive Maximum,
 * Maximum Packet Size, Topic Aliases). A session (session.c) is everything the
 * standard says survives the connection (§4.1): subscriptions, queued and
 * in-flight messages, inbound QoS 2 state, the Will, the expiry. A message
 * (msg.c) is one application message shared by all its deliveries; a delivery
 * (deliver.c) is one copy of it on its way to one session.
 *
 * What it is not: the event loop (ev.h), logging (log.h) or the wire format,
 * which is mqtt/mqtt.h, shared with the harness: the broker never hand-codes a
 * packet.
 */
#ifndef BROKER_BROKER_H
#define BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../mqtt/mqtt.h"
#include "ev.h"

/* ---- configuration (main.c) ---- */

#define BROKER_TOPIC_ALIAS_LIMIT 1024

struct config {
    const char *bind_addr;
    int port;
    uint32_t max_clients;
    uint32_t busy_clients;          /* 0 off; else a CONNECT beyond this many connections is
                                     * refused with Server busy (3.1.1: Server unavailable) */
    uint32_t max_queued_messages;   /* per session, not counting in-flight */
    uint32_t max_packet_size;       /* inbound, and announced in CONNACK */
    uint32_t max_session_expiry;    /* cap; MQTT_SESSION_EXPIRY_NEVER = none */
    uint32_t max_inflight;          /* outbound QoS 1/2, on top of Receive Maximum */
    uint16_t receive_maximum;       /* inbound QoS 2 awaiting PUBREL */
    uint16_t topic_alias_maximum;
    bool queue_qos0;
    bool allow_zero_length_client_id;
    bool has_server_keep_alive;
    uint16_t server_keep_alive;
    int tls_port;                   /* -1: no TLS listener */
    const char *certfile, *keyfile;
    const char *data_dir;           /* NULL: sessions live in memory only */
    int sync;                       /* enum store_sync */
    uint32_t sync_interval_ms;      /* for STORE_SYNC_BATCH */
    uint64_t compact_min;           /* bytes of log before compaction is considered */
    const char *cafile;             /* CAs for client certificates (TLS) */
    bool require_certificate;       /* TLS clients must present one the CAs sign */
    const char *password_file;      /* auth.c; NULL: none */
    int allow_anonymous;            /* -1 unset: only while no users are configured */
};

extern struct config cfg;
extern bool broker_stopping;

/* ---- memory (mem.c): allocation failure ends the process ---- */

_Noreturn void die_oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const void *s, size_t n);
char *xstrdup(const char *s);

/* ---- messages (msg.c) ---- */

struct msg {
    unsigned refs;
    char *topic;                /* NUL-terminated; topic_len excludes the NUL */
    uint32_t topic_len;
    uint8_t *payload;
    uint32_t payload_len;
    uint8_t qos;
    bool retain;
    mqtt_props props;           /* forwarded as received; views into `blob` */
    uint8_t *blob;
    bool has_expiry;
    uint32_t expiry;            /* Message Expiry Interval as received, seconds */
    uint64_t received;          /* ev_now() when the server took ownership */
    char *origin;               /* the publisher's client id, for No Local */
    uint64_t store_id;          /* its MSG record in the store (store.c), 0 = none */
    uint32_t store_epoch;       /* the snapshot that last wrote it */
};

/* Copies what must outlive the packet. `topic` is the resolved name (it may
 * come from a Topic Alias). `will` selects the Will properties' rules. */
struct msg *msg_new(mqtt_bytes topic, mqtt_bytes payload, uint8_t qos, bool retain,
                    const mqtt_props *props, const char *origin);
struct msg *msg_ref(struct msg *m);
void msg_unref(struct msg *m);
/* true when the message has a Message Expiry Interval that has passed. */
bool msg_expired(const struct msg *m, uint64_t now);
/* The Message Expiry Interval to forward now: the received one minus the
 * whole seconds waited (so never more than what is left, rounded up). */
uint32_t msg_remaining_expiry(const struct msg *m, uint64_t now);

/* ---- deliveries (deliver.c) ---- */

enum dstate {
    D_QUEUED,       /* never sent */
    D_SENT,         /* PUBLISH sent, awaiting PUBACK / PUBREC */
    D_RELEASED      /* PUBREL sent, awaiting PUBCOMP */
};

struct delivery {
    struct delivery *next, *prev;
    struct msg *m;
    uint64_t sent_at;
    uint64_t store_id;          /* its DQ record in the store (store.c), 0 = none */
    uint8_t qos;                /* min(published, granted) */
    bool retain;                /* the RETAIN flag to send */
    uint8_t state;              /* enum dstate */
    bool on_wire;               /* sent on the current connection */
    uint16_t packet_id;
    uint32_t sent_expiry;       /* the MEI of the first send, repeated on resend */
    uint32_t nsubids;
    uint32_t share;             /* the shared subscription it went through, or 0 */
    uint32_t subids[];
};

struct dlist {
    struct delivery *head, *tail;
    uint32_t count;
};

struct session;

/* Adds one copy of m for s, and sends it now if s is connected and the send
 * quota allows. Subscription identifiers are copied. `share` names the shared
 * subscription group that chose s (0: none), for subs_redispatch. */
void deliver_to_session(struct session *s, struct msg *m, uint8_t qos, bool retain,
                        const uint32_t *subids, uint32_t nsubids, uint32_t share);
/* Sends what can be sent: first in-flight messages from an earlier connection
 * (PUBLISH with DUP 1 and the same id, or PUBREL), then queued ones. */
void deliver_pump(struct session *s);
/* PUBACK, PUBREC, PUBCOMP from the client for an outbound message. */
void deliver_ack(struct session *s, uint8_t type, uint16_t packet_id, uint8_t reason);
/* Frees the session's queue and in-flight messages. */
void deliver_free_session(struct session *s);
/* Only for the resend-after-clean-start defect: moves the in-flight messages
 * of a session about to end out of it, and into the session that follows. */
struct dlist deliver_take_inflight(struct session *s);
void deliver_give_inflight(struct session *s, struct dlist *l);
/* The connection closed: everything in flight must be resent on resume. */
void deliver_connection_lost(struct session *s);
/* Only for the resend-on-live-connection defect. */
void deliver_retry(struct session *s);
/* For store_load.c: a copy as it was on disk (state D_QUEUED, D_SENT or
 * D_RELEASED), appended to the queue or the in-flight list, not sent. */
struct delivery *deliver_restore(struct session *s, struct msg *m, uint8_t qos, bool retain,
                                 const uint32_t *subids, uint32_t nsubids);
void deliver_restore_state(struct session *s, struct delivery *d, uint8_t state,
                           uint16_t packet_id, uint32_t sent_expiry);
void deliver_restore_drop(struct session *s, struct delivery *d);

/* ---- in-flight deliveries by packet id (pidmap.c) ---- */

struct delivery *pidmap_find(const struct session *s, uint16_t id);
void pidmap_add(struct session *s, struct delivery *d, uint32_t n);
void pidmap_remove(struct session *s, const struct delivery *d, uint32_t n);
void pidmap_free(struct session *s);

/* ---- subscriptions (subs.c) ---- */

struct sub {
    struct sub *snext;          /* the session's subscriptions, oldest first */
    struct sub *inext;          /* chain in the routing index (subindex.c) */
    struct session *owner;
    char *group;                /* share name, or NULL */
    mqtt_bytes match;           /* the filter that is matched: f of $share/g/f */
    uint8_t qos;
    bool no_local;
    bool rap;
    uint8_t rh;
    uint32_t subid;             /* 0 = none */
    char filter[];              /* as subscribed, "$share/g/f" included */
};

/* Adds or replaces the subscription; *existed says whether it replaced one. */
struct sub *subs_add(struct session *s, const mqtt_sub *req, uint32_t subid, bool *existed);
struct sub *subs_find(struct session *s, mqtt_bytes filter);
/* Returns true if a subscription was removed. */
bool subs_remove(struct session *s, mqtt_bytes filter);
void subs_remove_all(struct session *s);
/* s is ending, out of every group already: its unacknowledged QoS 1 messages
 * from shared subscriptions go to another member of their group (§4.8.2). */
void subs_redispatch(struct session *s);
/* Gives m to every session with a matching subscription [MQTT-4.5.0-1]. */
void subs_route(struct msg *m);
void subs_free_all(void);

/* ---- the routing index of non-shared subscriptions (subindex.c) ---- */

void subindex_add(struct sub *sub);
void subindex_remove(struct sub *sub);
/* Calls fn for every non-shared subscription whose filter matches topic. */
void subindex_match(mqtt_bytes topic, void (*fn)(struct sub *sub));
void subindex_free(void);

/* ---- retained messages (retain.c) ---- */

/* Stores, replaces, or (empty payload) deletes the retained message for m's topic. */
void retain_store(struct msg *m);
/* Sends the retained messages matching a new or replaced subscription. */
void retain_deliver(struct session *s, const struct sub *sub);
void retain_free_all(void);
/* Every retained message, for the store's snapshot. */
void retain_foreach(void (*fn)(struct msg *m));

/* ---- Will (will.c) ---- */

struct will {
    struct msg *m;
    uint32_t delay;             /* Will Delay Interval, seconds */
    struct ev_timer timer;
    struct session *owner;      /* NULL once orphaned (defect only) */
    struct will *next;          /* orphan list */
};

struct will *will_from_connect(const mqtt_connect *c, const char *client_id);
/* The connection closed without DISCONNECT 0x00: publish now or arm the delay. */
void will_connection_lost(struct session *s);
/* The session ends: a Will still waiting is published now (§3.1.3.2.2). */
void will_session_end(struct session *s);
/* DISCONNECT 0x00, or a new connection to the session: drop without publishing. */
void will_discard(struct session *s);
void will_free_all(void);
/* For store_load.c: the Will of a session read from disk (timer not armed). */
void will_restore(struct session *s, struct msg *m, uint32_t delay);
/* For store_load.c: the Will of a session that is offline, `elapsed_ms` after
 * its connection was lost: published now if its delay has passed, else armed. */
void will_resume_timer(struct session *s, uint64_t elapsed_ms);

/* ---- sessions (session.c) ---- */

struct conn;
struct aliases;

struct session {
    char *id;
    /* The authenticated user that created the session (NULL: anonymous). Only
     * the same user may resume or take it over (handle_connect.c). */
    char *owner;
    struct session *hnext;              /* hash chain */
    struct session *prev, *next;        /* list of all sessions */
    struct conn *conn;                  /* NULL while disconnected */
    uint8_t version;
    uint32_t expiry;                    /* Session Expiry Interval in force, seconds */
    struct ev_timer expiry_timer;
    uint64_t first_close;               /* only for the expiry-from-first-close defect */
    struct sub *subs;                   /* oldest first */
    struct dlist inflight;              /* D_SENT and D_RELEASED, in send order */
    struct dlist queue;                 /* D_QUEUED, in arrival order */
    struct delivery **pid_slots;        /* inflight indexed by packet id (pidmap.c) */
    uint32_t pid_cap;
    uint32_t on_wire;                   /* inflight sent on the current connection */
    struct delivery *resend_next;       /* first inflight to resend after a resume */
    uint16_t last_packet_id;
    uint32_t route_slot;                /* scratch of subs_route */
    uint16_t *qos2_in;                  /* inbound QoS 2 ids awaiting PUBREL */
    uint32_t nqos2_in, capqos2_in;
    struct will *will;
    uint64_t dropped;                   /* messages dropped because the queue was full */
    struct aliases *carried_aliases;    /* only for the topic-alias-carried-over defect */
    bool stored;                        /* has a SESS record in the store (store.c) */
    uint64_t offline_wall;              /* wall-clock ms of the last close; 0 = connected */
};

struct session *session_find(const char *id);
struct session *session_new(const char *id);
/* Ends the session: publishes a waiting Will, drops all state, frees it. */
void session_end(struct session *s);
/* Connects s and c. */
void session_attach(struct session *s, struct conn *c);
/* The connection closed: start the expiry clock, or end the session now. */
void session_detach(struct session *s);
struct session *session_first(void);
uint32_t session_count(void);
bool session_qos2_in_has(struct session *s, uint16_t id);
int session_qos2_in_add(struct session *s, uint16_t id);
bool session_qos2_in_remove(struct session *s, uint16_t id);
/* An unused packet identifier for a new outbound QoS 1/2 PUBLISH. */
uint16_t session_next_packet_id(struct session *s);
void session_free_all(void);
/* For store_load.c: drops a session read from disk without any side effect
 * (no Will, no redispatch, no record). */
void session_discard(struct session *s);
/* For store_load.c: a restored offline session whose connection was lost
 * `elapsed_ms` ago: ends it (Will published) if its expiry has passed, else
 * arms what is left of it. */
void session_resume_expiry(struct session *s, uint64_t elapsed_ms);

/* ---- connections (conn.c) ---- */

struct aliases {
    char *topic[BROKER_TOPIC_ALIAS_LIMIT + 1];
};

struct ssl_st;

struct conn {
    struct ev_io io;
    struct ssl_st *tls;                 /* NULL for plain TCP */
    bool tls_want_write;                /* OpenSSL waits for the socket to be writable */
    char peer[64];
    char *client_id;                    /* for logs; the session holds the real one */
    uint8_t version;                    /* 0 until CONNECT */
    bool connected;                     /* CONNECT accepted, CONNACK sent */
    bool closing;
    bool read_shut;                     /* EOF seen while closing */
    bool write_shut;
    bool overflow;                      /* output over the limit: close at batch end */
    bool starved;                       /* --defect flood-starves-clients: reads paused */
    struct session *s;
    mqtt_buf in;
    mqtt_buf out;
    size_t out_off;
    bool flush_queued;
    uint16_t keep_alive;
    struct ev_timer keep_alive_timer;
    struct ev_timer linger_timer;
    struct ev_timer retry_timer;        /* only for the resend-on-live-connection defect */
    uint32_t client_receive_max;
    uint32_t client_max_packet;         /* 0 = no limit */
    uint32_t connect_expiry;            /* the Session Expiry the CONNECT asked for */
    struct aliases *aliases;
    struct conn *prev, *next;           /* all connections */
    struct conn *flush_next;
    struct conn *dead_next;
};

/* The result of sending: sent, too big for the client (not sent: drop it as if
 * delivered, [MQTT-3.1.2-25]), or the connection is gone. */
enum send_result { SEND_OK, SEND_TOO_BIG, SEND_FAILED };

struct conn *conn_accept(int fd, const char *peer, bool tls);
enum send_result conn_send(struct conn *c, const mqtt_packet *p);
/* MQTT 5 only: DISCONNECT with this reason; 3.1.1 has no server DISCONNECT. */
void conn_send_disconnect(struct conn *c, uint8_t reason);
/* Closes the connection: the session is detached (Will and expiry rules run),
 * pending output is flushed, then the socket is closed. Idempotent. */
void conn_close(struct conn *c, const char *why);
/* Protocol violation: DISCONNECT with `reason` (MQTT 5) then close. */
void conn_protocol_error(struct conn *c, uint8_t reason, const char *why);
uint32_t conn_count(void);
void conn_close_all(uint8_t reason);
/* Arms the keep-alive timer: 1.5 times the Keep Alive in force [MQTT-3.1.2-22]. */
void conn_keep_alive_start(struct conn *c);
const char *conn_name(const struct conn *c);
void conn_batch_end(void);
void conn_aliases_free(struct aliases *a);

/* ---- packet handlers (handle_*.c), called by conn.c for a decoded packet.
 * Each returns 0, or -1 when it closed the connection. ---- */

int handle_connect(struct conn *c, mqtt_packet *p);
int handle_publish(struct conn *c, mqtt_packet *p);
int handle_puback(struct conn *c, mqtt_packet *p);     /* also PUBREC, PUBCOMP */
int handle_pubrel(struct conn *c, mqtt_packet *p);
int handle_subscribe(struct conn *c, mqtt_packet *p);
int handle_unsubscribe(struct conn *c, mqtt_packet *p);
int handle_pingreq(struct conn *c, mqtt_packet *p);
int handle_disconnect(struct conn *c, mqtt_packet *p);

/* ---- durable store (store.c, store_load.c) ----
 * With --data DIR, every change of durable state is appended as a record to
 * DIR/store.log; store_commit() writes (and, per the sync policy, syncs) the
 * records of the current batch before any output leaves the broker. Without
 * --data, store_on is false and every hook below is skipped by its caller. */

enum store_sync { STORE_SYNC_ALWAYS, STORE_SYNC_BATCH, STORE_SYNC_NONE };

extern bool store_on;

/* Locks DIR, replays the log into the session store and rewrites it as a
 * snapshot. Returns 0, or -1 after printing why (the broker exits 2). */
int store_open(const char *dir);
void store_commit(void);
void store_close(void);

void store_session(struct session *s);                 /* CONNECT accepted */
void store_session_offline(struct session *s);         /* connection lost */
void store_session_end(struct session *s);
void store_will(struct session *s);                    /* s->will set or gone */
void store_sub_add(struct session *s, const struct sub *sub);
void store_sub_remove(struct session *s, mqtt_bytes filter);
void store_delivery_queued(struct session *s, struct delivery *d);
void store_delivery_state(struct session *s, struct delivery *d);    /* sent, released */
void store_delivery_done(struct session *s, struct delivery *d);
void store_qos2_in(struct session *s, uint16_t id, bool add);
void store_retain(const struct msg *m);                /* set, or delete when empty */

/* ---- listener (net.c) ---- */

/* Binds and listens; *port is updated when 0 was asked for. Returns 0 or -1.
 * Connections accepted on a `tls` listener speak TLS (tls.c). */
int net_listen(const char *addr, int *port, bool tls);
void net_close(void);

#endif
