/* tls.c -- OpenSSL glue; see tls.h. Non-blocking throughout: every call maps
 * OpenSSL's WANT_READ / WANT_WRITE onto "try again when epoll says so".
 *
 * What it is not: buffering. conn.c owns the input and output buffers. */
#include "tls.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static SSL_CTX *ctx;

static void log_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        log_debug("%s: %s", what, buf);
    }
}

static int verify_cb(int ok, X509_STORE_CTX *st)
{
    if (!ok) {
        int err = X509_STORE_CTX_get_error(st);
        log_info("TLS: client certificate refused: %s", X509_verify_cert_error_string(err));
    }
    return ok;
}

int tls_init(const char *certfile, const char *keyfile, const char *cafile, bool require_cert)
{
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* The output buffer moves between writes (it is compacted and grown), and
     * a partial write is fine: conn.c keeps the rest. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        char buf[256] = "unknown error";
        if (e)
            ERR_error_string_n(e, buf, sizeof buf);
        log_error("TLS: cannot use certificate %s / key %s: %s", certfile, keyfile, buf);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        ctx = NULL;
        return -1;
    }
    if (cafile) {
        /* Client certificates: checked when presented; with require_cert a
         * client without one fails the handshake (before any CONNECT). */
        if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
            log_error("TLS: cannot load CA file %s", cafile);
            ERR_clear_error();
            SSL_CTX_free(ctx);
            ctx = NULL;
            return -1;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           verify_cb);
    }
    ERR_clear_error();
    return 0;
}

void tls_shutdown_lib(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}

struct ssl_st *tls_new(int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return ssl;
}

static ssize_t result(SSL *ssl, int n, bool *want_write, const char *what)
{
    if (n > 0)
        return n;
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
        return TLS_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want_write = true;
        return TLS_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TLS_AGAIN;
        ERR_clear_error();
        return n == 0 ? 0 : TLS_ERROR;      /* an EOF without close_notify is still an EOF */
    default:
        /* A failed handshake is worth an info line: it is what a client
         * without (or with a bad) certificate sees as a closed connection. */
        if (!SSL_is_init_finished(ssl)) {
            unsigned long e = ERR_peek_last_error();
            char buf[256] = "unknown";
            if (e)
                ERR_error_string_n(e, buf, sizeof buf);
            /* A peer that connects and leaves (a port probe) is no news. */
            if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                log_debug("TLS handshake abandoned: %s", buf);
            else
                log_info("TLS handshake failed: %s", buf);
        }
        log_ssl_errors(what);
        return TLS_ERROR;
    }
}

ssize_t tls_read(struct ssl_st *ssl, void *buf, size_t len, bool *want_write)
{
    int cap = len > 1u << 30 ? 1 << 30 : (int)len;
    ERR_clear_error();
    return result(ssl, SSL_read(ssl, buf, cap), want_write, "TLS read");
}

ssize_t tls_write(struct ssl_st *ssl, const void *buf, size_t len, bool *want_write)
{
    int cap = len > 1u << 30 ? 1 << 30 : (int)len;
    ERR_clear_error();
    return result(ssl, SSL_write(ssl, buf, cap), want_write, "TLS write");
}

bool tls_pending(struct ssl_st *ssl)
{
    return SSL_pending(ssl) > 0;
}

void tls_close_notify(struct ssl_st *ssl)
{
    ERR_clear_error();
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    ERR_clear_error();
}

void tls_free(struct ssl_st *ssl)
{
    SSL_free(ssl);
}
