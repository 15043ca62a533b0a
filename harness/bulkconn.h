/* bulkconn.h -- many plain MQTT connections on the harness loop, cheaply.
 *
 * What it is for: the clients of `mqspec soak` and of mqspec-bench, where
 * thousands of connections must cost little more than their sockets. Each is
 * a non-blocking TCP socket framed and decoded with the mqtt/ codec; output is
 * buffered per connection and written once per loop iteration for all of
 * them (bulk_flush_all), so a burst of packets goes out in one write.
 *
 * What it is not: a scenario driver (driver.h). Nothing is traced or judged,
 * there is no TLS, and an undecodable packet from the broker simply closes
 * the connection (reported through on_error when set, then on_close).
 */
#ifndef HARNESS_BULKCONN_H
#define HARNESS_BULKCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../mqtt/mqtt.h"
#include "loop.h"

typedef struct bulk_conn bulk_conn;

typedef struct bulk_ops {
    /* TCP is up: send CONNECT. */
    void (*on_open)(bulk_conn *c);
    /* One decoded packet; its views live until the callback returns. */
    void (*on_packet)(bulk_conn *c, const mqtt_packet *p);
    /* The connection is gone (refused, EOF, error, or bulk_close); the fd is
     * closed already, and the callback may open the slot again. */
    void (*on_close)(bulk_conn *c, const char *why);
} bulk_ops;

/* What the connections of one workload share: the broker's address, the
 * protocol version, the list of connections with output to write. */
typedef struct bulk_pool {
    loop_t *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint8_t version;                /* MQTT_V5 or MQTT_V311: how packets are decoded */
    /* Optional: the broker sent what cannot be decoded, or memory ran out;
     * the connection is closed right after. */
    void (*on_error)(struct bulk_pool *pool, const char *what);
    void *ud;
    bulk_conn **dirty;
    size_t ndirty, capdirty;
    uint8_t *scratch;               /* one read's worth, shared */
} bulk_pool;

struct bulk_conn {
    bulk_pool *pool;
    int fd;                         /* -1 when closed */
    uint32_t gen;                   /* +1 at every open and close: a new socket may reuse the fd number */
    bool connecting;                /* non-blocking connect() in progress */
    bool writing;                   /* LOOP_WRITE registered: output backed up */
    bool dirty;                     /* on the pool's flush list */
    int64_t since_ms;               /* when the current connection attempt started */
    uint8_t *in;                    /* a partial packet carried between reads */
    size_t inlen, incap;
    mqtt_buf out;
    size_t outoff;
    uint16_t next_id;
    uint64_t bytes_in;
    const bulk_ops *ops;
    void *ud;                       /* the workload's per-client state */
};

/* host: a numeric address ("127.0.0.1", "::1"). Returns 0, or -1 with errno
 * (EINVAL for a host that is not numeric, ENOMEM). */
int bulk_pool_init(bulk_pool *pool, loop_t *loop, const char *host, int port, uint8_t version);
/* After every connection of the pool is freed. */
void bulk_pool_free(bulk_pool *pool);

/* Starts connecting; on_open follows from the loop, never from inside this
 * call. c may be a slot used before (closed). Returns 0, or -1 with errno. */
int bulk_open(bulk_conn *c, bulk_pool *pool, const bulk_ops *ops, void *ud);
/* Closes and calls on_close(why); nothing when already closed. */
void bulk_close(bulk_conn *c, const char *why);
/* Closes without a callback: the caller knows. */
void bulk_shut(bulk_conn *c);
/* Closes and releases the buffers; no callback. */
void bulk_free(bulk_conn *c);

/* Queue an encoded packet / bytes; written by the next bulk_flush_all. On
 * failure (encoding, memory) the connection is closed. */
void bulk_send(bulk_conn *c, const mqtt_packet *p);
void bulk_write(bulk_conn *c, const void *data, size_t len);
/* Writes this connection's output now, as far as the socket takes it. */
void bulk_flush(bulk_conn *c);
/* Writes the output of every connection that has some. Call once per loop
 * iteration, and once after freeing a workload's connections. */
void bulk_flush_all(bulk_pool *pool);

/* The next packet id (1..65535, wrapping). */
uint16_t bulk_next_id(bulk_conn *c);

/* CONNECT in the pool's version, Keep Alive 0; session_expiry < 0 leaves the
 * property out (5.0 only), receive_max 0 too. */
void bulk_send_connect(bulk_conn *c, const char *client_id, bool clean_start,
                       int64_t session_expiry, uint16_t receive_max);
void bulk_send_subscribe(bulk_conn *c, const char *filter, uint8_t qos);
/* PUBACK, PUBREC, PUBREL or PUBCOMP. */
void bulk_send_ack(bulk_conn *c, uint8_t type, uint16_t id);
void bulk_send_disconnect(bulk_conn *c);

#endif
