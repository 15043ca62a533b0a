/* drv_tls.c -- the raw driver's transport (drv_tls.h): plain socket reads and
 * writes, or the same through OpenSSL, with the handshake and its failure
 * reasons.
 *
 * What it is for: everything the raw driver asks of OpenSSL, in one place.
 * What it is not: connection management; drv_raw.c owns the socket, the loop
 * watch and how a connection closes.
 */
#include "drv_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* OpenSSL writes with write(2), which raises SIGPIPE on a closed peer. The
 * process's disposition is not ours to change, so SIGPIPE is blocked around
 * each OpenSSL call and a signal it raised is consumed before unblocking. */
typedef struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &g->old);
    sigpending(&pend);
    g->was_pending = sigismember(&pend, SIGPIPE) == 1;
}

static void sigpipe_unblock(sigpipe_guard *g)
{
    if (!g->was_pending) {
        sigset_t set, pend;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigpending(&pend);
        if (sigismember(&pend, SIGPIPE) == 1) {
            struct timespec zero = {0, 0};
            for (int i = 0; i < 8 && sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR; i++)
                ;
        }
    }
    sigprocmask(SIG_SETMASK, &g->old, NULL);
}

/* The most specific reason OpenSSL has for a failure: the certificate
 * verification result first (it names the certificate problem), then the
 * error queue (alerts, protocol errors), then errno. */
void xp_tls_explain(long vr, unsigned long e, char *out, size_t cap)
{
    if (vr != X509_V_OK) {
        const char *what;
        switch (vr) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_CERT_UNTRUSTED:
            what = "unknown CA";
            break;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            what = "hostname mismatch";
            break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            what = "expired certificate";
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            what = "certificate not yet valid";
            break;
        default:
            what = "certificate rejected";
            break;
        }
        snprintf(out, cap, "%s (certificate verify failed: %s)", what,
                 X509_verify_cert_error_string(vr));
        return;
    }
    if (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        const char *r = ERR_reason_error_string(e);
        const char *alert = r ? strstr(r, "alert ") : NULL;
        if (alert)
            /* "tlsv13 alert certificate required": the peer's alert, by name. */
            snprintf(out, cap, "handshake alert: %.80s [%.100s]", alert + 6, buf);
        else
            snprintf(out, cap, "%.80s [%.100s]", r ? r : "TLS error", buf);
        return;
    }
    snprintf(out, cap, "TLS error");
}

/* The most specific reason OpenSSL has for a failure: the certificate
 * verification result first (it names the certificate problem), then the
 * error queue (alerts, protocol errors), then errno. */
static void tls_reason(const xp_t *c, int ssl_err, int saved_errno, char *out, size_t cap)
{
    long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if ((vr != X509_V_OK && !c->insecure) || e != 0) {
        xp_tls_explain(c->insecure ? X509_V_OK : vr, e, out, cap);
    } else if (ssl_err == SSL_ERROR_SYSCALL && saved_errno != 0) {
        snprintf(out, cap, "%s", strerror(saved_errno));
    } else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
        snprintf(out, cap, "connection closed by peer");
    } else {
        snprintf(out, cap, "TLS error %d", ssl_err);
    }
    ERR_clear_error();
}

/* One SSL_read or SSL_write, its outcome as an xp_status. The two differ only
 * in which flag records that the other direction must be ready first, and in
 * what a bare SYSCALL error with errno 0 means: the end of the stream for a
 * read, a broken pipe for a write. */
static xp_status ssl_io(xp_t *c, bool writing, uint8_t *rbuf, const uint8_t *wbuf, size_t len,
                        size_t *done, int *eno, char *why, size_t whycap)
{
    bool *wants_other = writing ? &c->write_wants_read : &c->read_wants_write;
    *wants_other = false;
    ERR_clear_error();
    sigpipe_guard g;
    sigpipe_block(&g);
    errno = 0;
    int n = len > INT32_MAX ? INT32_MAX : (int)len;
    n = writing ? SSL_write(c->ssl, wbuf, n) : SSL_read(c->ssl, rbuf, n);
    int se = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
    int saved = errno;
    sigpipe_unblock(&g);
    switch (se) {
    case SSL_ERROR_NONE:
        *done = (size_t)n;
        return XP_OK;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        if ((se == SSL_ERROR_WANT_READ) == writing)
            *wants_other = true;
        return XP_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        if (writing)
            break;
        ERR_clear_error();
        return XP_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_last_error() != 0)
            break;
        if (!writing && saved == 0)
            return XP_EOF;
        *eno = saved ? saved : EPIPE;
        snprintf(why, whycap, "%s", strerror(*eno));
        return XP_ERR;
    default:
        break;
    }
    tls_reason(c, se, saved, why, whycap);
    return XP_ERR;
}

xp_status xp_read(xp_t *c, int fd, uint8_t *buf, size_t cap, size_t *got, int *eno, char *why,
                  size_t whycap)
{
    *got = 0;
    *eno = 0;
    if (!c->ssl) {
        ssize_t n;
        do
            n = recv(fd, buf, cap, 0);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            *got = (size_t)n;
            return XP_OK;
        }
        if (n == 0)
            return XP_EOF;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return XP_AGAIN;
        *eno = errno;
        snprintf(why, whycap, "%s", strerror(errno));
        return XP_ERR;
    }
    return ssl_io(c, false, buf, NULL, cap, got, eno, why, whycap);
}

xp_status xp_write(xp_t *c, int fd, const uint8_t *buf, size_t len, size_t *put, int *eno,
                   char *why, size_t whycap)
{
    *put = 0;
    *eno = 0;
    if (!c->ssl) {
        ssize_t n;
        do
            n = send(fd, buf, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n >= 0) {
            *put = (size_t)n;
            return XP_OK;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return XP_AGAIN;
        *eno = errno;
        snprintf(why, whycap, "%s", strerror(errno));
        return XP_ERR;
    }
    return ssl_io(c, true, NULL, buf, len, put, eno, why, whycap);
}

static bool is_ip_literal(const char *h)
{
    unsigned char b[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

int xp_tls_setup(xp_t *c, int fd, const xp_tls_opts *o, char *why, size_t whycap)
{
    c->insecure = o->insecure;
    ERR_clear_error();
    /* One SSL_CTX per connection: each target may carry its own CA and client
     * certificate, and a handshake costs far more than a context. */
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        goto ssl_fail;
    SSL_CTX_set_min_proto_version(c->ctx, o->tls_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (o->tls_version)
        SSL_CTX_set_max_proto_version(c->ctx, o->tls_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* A broker that closes without close_notify is an ordinary close here. */
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (c->insecure) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        if (o->cafile || o->capath) {
            if (SSL_CTX_load_verify_locations(c->ctx, o->cafile, o->capath) != 1) {
                snprintf(why, whycap, "cannot load CA from %s", o->cafile ? o->cafile : o->capath);
                ERR_clear_error();
                return -1;
            }
        } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
            goto ssl_fail;
        }
    }
    if (o->certfile && SSL_CTX_use_certificate_chain_file(c->ctx, o->certfile) != 1) {
        snprintf(why, whycap, "cannot load client certificate %s", o->certfile);
        ERR_clear_error();
        return -1;
    }
    if (o->keyfile) {
        if (SSL_CTX_use_PrivateKey_file(c->ctx, o->keyfile, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c->ctx) != 1) {
            snprintf(why, whycap, "cannot load client key %s", o->keyfile);
            ERR_clear_error();
            return -1;
        }
    }
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
        goto ssl_fail;
    bool ip = is_ip_literal(o->host);
    /* RFC 6066 forbids IP literals in SNI. */
    if (!ip && SSL_set_tlsext_host_name(c->ssl, o->host) != 1)
        goto ssl_fail;
    if (!c->insecure) {
        /* An address must match an iPAddress SAN, never a dNSName; set it
         * explicitly rather than rely on how this OpenSSL's SSL_set1_host
         * treats literals. */
        X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) : SSL_set1_host(c->ssl, o->host);
        if (ok != 1)
            goto ssl_fail;
    }
    if (o->alpn) {
        /* Wire format: one length byte, then the name. */
        size_t n = strlen(o->alpn);
        unsigned char wire[256];
        if (n == 0 || n > 255) {
            snprintf(why, whycap, "ALPN protocol name must be 1 to 255 bytes");
            return -1;
        }
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, o->alpn, n);
        if (SSL_set_alpn_protos(c->ssl, wire, (unsigned)n + 1) != 0)
            goto ssl_fail;
    }
    SSL_set_connect_state(c->ssl);
    return 0;
ssl_fail:
    tls_reason(c, SSL_ERROR_SSL, 0, why, whycap);
    return -1;
}

xp_status xp_handshake(xp_t *c, char *why, size_t whycap)
{
    ERR_clear_error();
    sigpipe_guard g;
    sigpipe_block(&g);
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    int se = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    int saved = errno;
    sigpipe_unblock(&g);
    c->read_wants_write = false;
    switch (se) {
    case SSL_ERROR_NONE:
        return XP_OK;
    case SSL_ERROR_WANT_READ:
        return XP_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->read_wants_write = true;
        return XP_AGAIN;
    default:
        tls_reason(c, se, saved, why, whycap);
        return XP_ERR;
    }
}

void xp_describe(const xp_t *c, char *out, size_t cap)
{
    char cn[256] = "(none)";
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    if (cert) {
        X509_NAME *nm = X509_get_subject_name(cert);
        if (!nm || X509_NAME_get_text_by_NID(nm, NID_commonName, cn, sizeof cn) < 0)
            snprintf(cn, sizeof cn, "(none)");
        X509_free(cert);
    }
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    snprintf(out, cap, "TLS %s %s, peer CN=%s%s%s%.*s", SSL_get_version(c->ssl),
             SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)), cn,
             c->insecure ? " (not verified: --insecure)" : " (verified)",
             alpn_len ? ", ALPN " : "", (int)alpn_len, alpn_len ? (const char *)alpn : "");
}

bool xp_pending(const xp_t *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

void xp_tls_close(xp_t *c, bool notify)
{
    if (c->ssl && notify) {
        /* Best effort and non-blocking: one close_notify, no wait for the
         * peer's. */
        sigpipe_guard g;
        sigpipe_block(&g);
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
        sigpipe_unblock(&g);
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->ctx) {
        SSL_CTX_free(c->ctx);
        c->ctx = NULL;
    }
}
