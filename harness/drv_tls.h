/* drv_tls.h -- the raw driver's transport: a non-blocking socket, read and
 * written either directly or through OpenSSL.
 *
 * What it is for: keeping OpenSSL (context set-up, certificate checks, the
 * handshake, SIGPIPE handling, failure reasons) out of drv_raw.c, which deals
 * in MQTT packets and connection states.
 *
 * What it is not: a connection. The socket, its address list, the event loop
 * watch and the close semantics (FIN, RST) stay with the driver; the caller
 * owns the fd and passes it in.
 */
#ifndef HARNESS_DRV_TLS_H
#define HARNESS_DRV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

typedef enum xp_status { XP_OK, XP_AGAIN, XP_EOF, XP_ERR } xp_status;

/* The TLS state of one connection; all zero for a plain socket. */
typedef struct xp {
    SSL_CTX *ctx;
    SSL *ssl;
    bool insecure;
    bool read_wants_write;      /* OpenSSL needs the socket writable to go on reading */
    bool write_wants_read;      /* ... readable to go on writing */
} xp_t;

/* What xp_tls_setup() needs to know; the strings are only read during it. */
typedef struct xp_tls_opts {
    const char *host;           /* name or address checked against the certificate */
    const char *cafile, *capath, *certfile, *keyfile;   /* NULL when unset */
    bool insecure;              /* no certificate verification */
    int tls_version;            /* 0: 1.2 or later; 12 or 13: only that version */
    const char *alpn;           /* one ALPN protocol to offer, or NULL */
} xp_tls_opts;

/* Reads what is available. XP_AGAIN: nothing now; XP_EOF: orderly close;
 * XP_ERR: *eno holds errno (0 for a TLS error, whose reason is in `why`). */
xp_status xp_read(xp_t *x, int fd, uint8_t *buf, size_t cap, size_t *got, int *eno, char *why,
                  size_t whycap);
xp_status xp_write(xp_t *x, int fd, const uint8_t *buf, size_t len, size_t *put, int *eno,
                   char *why, size_t whycap);
/* Builds the SSL object for the connected socket. Returns 0, or -1 with why. */
int xp_tls_setup(xp_t *x, int fd, const xp_tls_opts *o, char *why, size_t whycap);
/* One handshake step. XP_OK: done; XP_AGAIN: wait (read_wants_write says
 * which way); XP_ERR: failed, `why` says why. */
xp_status xp_handshake(xp_t *x, char *why, size_t whycap);
/* After the handshake: protocol, cipher and peer CN for the trace. */
void xp_describe(const xp_t *x, char *out, size_t cap);
/* Decrypted bytes waiting in OpenSSL that poll() cannot see. */
bool xp_pending(const xp_t *x);
/* Names why a TLS connection failed, for a verdict a reader can act on:
 * "unknown CA", "hostname mismatch", "expired certificate", "handshake alert:
 * NAME", followed by OpenSSL's own words. `verify` is SSL_get_verify_result
 * (X509_V_OK if none), `err` an OpenSSL error code (0 if none). Shared by
 * both drivers. */
void xp_tls_explain(long verify, unsigned long err, char *out, size_t cap);
/* Frees the TLS state; `notify` sends one close_notify first (best effort,
 * non-blocking). The socket itself is left to the caller. */
void xp_tls_close(xp_t *x, bool notify);

#endif
