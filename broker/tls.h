/* tls.h -- TLS for the broker's connections, over OpenSSL.
 *
 * What it is for: a second listener whose connections carry MQTT inside TLS
 * (1.2 or 1.3), with the server certificate and key from the configuration.
 * conn.c reads and writes through tls_read / tls_write instead of read / send
 * when a connection has a TLS session; the handshake happens inside them.
 *
 * With a CA file, client certificates are verified when presented, and with
 * require_cert a client must present one (the handshake fails otherwise).
 *
 * What it is not: authentication of MQTT users by certificate (a client
 * certificate does not name a user; auth.c does that from the CONNECT).
 */
#ifndef BROKER_TLS_H
#define BROKER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ssl_st;

/* Results besides a byte count (> 0) and end of stream (0). */
enum { TLS_AGAIN = -1, TLS_ERROR = -2 };

/* Returns 0, or -1 after logging why (bad certificate, key or CA file). */
int tls_init(const char *certfile, const char *keyfile, const char *cafile, bool require_cert);
void tls_shutdown_lib(void);
struct ssl_st *tls_new(int fd);
/* *want_write is set when OpenSSL needs the socket writable to go on. */
ssize_t tls_read(struct ssl_st *ssl, void *buf, size_t len, bool *want_write);
ssize_t tls_write(struct ssl_st *ssl, const void *buf, size_t len, bool *want_write);
/* Data OpenSSL has decrypted but not yet returned: epoll cannot see it. */
bool tls_pending(struct ssl_st *ssl);
/* Sends close_notify (best effort, never blocks). */
void tls_close_notify(struct ssl_st *ssl);
void tls_free(struct ssl_st *ssl);

#endif
