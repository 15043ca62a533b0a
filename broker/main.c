/* main.c -- mqspec-broker: command line, configuration file, signals, and the
 * order of start-up and shut-down.
 *
 *   mqspec-broker [-p PORT] [--bind ADDR] [-c CONFIG] [-v] [--defect NAME]...
 *                 [--tls-port PORT --cert FILE --key FILE
 *                  [--cafile FILE [--require-certificate]]]
 *                 [--password-file FILE [--allow-anonymous]]
 *                 [--data DIR [--sync always|batch|none]]
 *   mqspec-broker passwd ...      (auth.c: adds users to a password file)
 *
 * MQSPEC_BROKER_DEFECTS=NAME,NAME in the environment adds defects as --defect
 * does, and MQSPEC_BROKER_CONFIG=FILE is read when there is no -c: the
 * harness's embedded mode starts this broker with fixed arguments, and a run
 * against each defect or configuration should not need a different harness.
 *
 * Once listening it prints "listening ADDR PORT" on its own line on stdout
 * (flushed): the interface for programs that start it with -p 0, such as the
 * harness's embedded mode and tests/broker-*.t. With a TLS listener a second
 * line follows, "listening-tls ADDR PORT". Everything else goes to stderr.
 *
 * What it is not: any protocol logic. The configuration keys are documented
 * in docs/broker.md.
 */
#include "auth.h"
#include "broker.h"
#include "defect.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct config cfg = {
    .bind_addr = "127.0.0.1",
    .port = 1883,
    .max_clients = 1000,
    .max_queued_messages = 1000,
    .max_packet_size = 1048576,
    .max_session_expiry = MQTT_SESSION_EXPIRY_NEVER,
    .max_inflight = 1000,
    .receive_maximum = 100,
    .topic_alias_maximum = 10,
    .queue_qos0 = false,
    .allow_zero_length_client_id = true,
    .tls_port = -1,
    .sync = STORE_SYNC_ALWAYS,
    .sync_interval_ms = 50,
    .compact_min = (uint64_t)16 << 20,
    .allow_anonymous = -1,
};

bool broker_stopping;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mqspec-broker [-p PORT] [--bind ADDR] [-c CONFIG] [-v] [--defect NAME]...\n"
            "                     [--tls-port PORT --cert FILE --key FILE\n"
            "                      [--cafile FILE [--require-certificate]]]\n"
            "                     [--password-file FILE [--allow-anonymous]]\n"
            "                     [--data DIR [--sync always|batch|none]]\n"
            "       mqspec-broker passwd [-b] FILE USER [PASSWORD]   (see passwd --help)\n"
            "  -p, --port PORT     TCP port (default 1883; 0 picks a free one)\n"
            "      --bind ADDR     address to listen on (default 127.0.0.1)\n"
            "  -c, --config FILE   configuration file (see docs/broker.md)\n"
            "  -v, --verbose       debug logging: every packet in and out\n"
            "      --defect NAME   switch on a deliberate bug; 'list' lists them\n"
            "      --tls-port PORT also listen for MQTT over TLS (0 picks a free port)\n"
            "      --cert FILE     TLS server certificate chain (PEM)\n"
            "      --key FILE      TLS private key (PEM)\n"
            "      --data DIR      keep sessions, queues, Wills and retained messages in DIR\n"
            "                      (durable across restarts and crashes; default: memory)\n"
            "      --sync POLICY   with --data: always (fdatasync before acknowledging;\n"
            "                      the default), batch (every sync_interval_ms) or none\n"
            "      --cafile FILE   CA certificates that sign client certificates (PEM)\n"
            "      --require-certificate  TLS clients must present a certificate --cafile signs\n"
            "      --password-file FILE   users and password hashes (mqspec-broker passwd);\n"
            "                      with users, anonymous clients are refused unless the\n"
            "                      configuration says allow_anonymous true\n"
            "      --allow-anonymous  as allow_anonymous true: clients without a user name\n"
            "                      are accepted even when users are configured\n"
            "  -h, --help          this text\n");
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_sync(const char *s, int *out)
{
    if (!strcmp(s, "always"))
        *out = STORE_SYNC_ALWAYS;
    else if (!strcmp(s, "batch"))
        *out = STORE_SYNC_BATCH;
    else if (!strcmp(s, "none"))
        *out = STORE_SYNC_NONE;
    else
        return -1;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") || !strcasecmp(s, "on"))
        *out = true;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") || !strcasecmp(s, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

/* `key value` lines; '#' starts a comment. Unknown keys are errors: a typo
 * must not silently leave a default in force. */
static int load_config(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mqspec-broker: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int lineno = 0, bad = 0;
    static char bind_buf[256];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char key[64], val[256], val2[256], extra[8];
        int n = sscanf(line, "%63s %255s %255s %7s", key, val, val2, extra);
        if (n <= 0)
            continue;
        uint32_t u = 0;
        int rc = -1;
        if (!strcmp(key, "user") && n == 3) {
            auth_add_plain_user(val, val2);
            rc = 0;
        } else if (n != 2) {
            rc = -1;
        } else if (!strcmp(key, "max_clients")) {
            rc = parse_u32(val, 1, 1000000, &cfg.max_clients);
        } else if (!strcmp(key, "busy_clients")) {
            rc = parse_u32(val, 0, 1000000, &cfg.busy_clients);
        } else if (!strcmp(key, "max_queued_messages")) {
            rc = parse_u32(val, 1, 10000000, &cfg.max_queued_messages);
        } else if (!strcmp(key, "max_packet_size")) {
            rc = parse_u32(val, 64, MQTT_MAX_REMAINING_LENGTH + 5, &cfg.max_packet_size);
        } else if (!strcmp(key, "max_session_expiry")) {
            rc = parse_u32(val, 0, UINT32_MAX, &cfg.max_session_expiry);
        } else if (!strcmp(key, "max_inflight")) {
            rc = parse_u32(val, 1, 65535, &cfg.max_inflight);
        } else if (!strcmp(key, "receive_maximum")) {
            rc = parse_u32(val, 1, 65535, &u);
            cfg.receive_maximum = (uint16_t)u;
        } else if (!strcmp(key, "topic_alias_maximum")) {
            rc = parse_u32(val, 0, BROKER_TOPIC_ALIAS_LIMIT, &u);
            cfg.topic_alias_maximum = (uint16_t)u;
        } else if (!strcmp(key, "server_keep_alive")) {
            rc = parse_u32(val, 0, 65535, &u);
            cfg.server_keep_alive = (uint16_t)u;
            cfg.has_server_keep_alive = true;
        } else if (!strcmp(key, "queue_qos0")) {
            rc = parse_bool(val, &cfg.queue_qos0);
        } else if (!strcmp(key, "allow_zero_length_client_id")) {
            rc = parse_bool(val, &cfg.allow_zero_length_client_id);
        } else if (!strcmp(key, "port")) {
            rc = parse_u32(val, 0, 65535, &u);
            cfg.port = (int)u;
        } else if (!strcmp(key, "tls_port")) {
            rc = parse_u32(val, 0, 65535, &u);
            cfg.tls_port = (int)u;
        } else if (!strcmp(key, "certfile") || !strcmp(key, "keyfile")) {
            static char cert_buf[256], key_buf[256];
            bool cert = !strcmp(key, "certfile");
            snprintf(cert ? cert_buf : key_buf, sizeof cert_buf, "%s", val);
            if (cert)
                cfg.certfile = cert_buf;
            else
                cfg.keyfile = key_buf;
            rc = 0;
        } else if (!strcmp(key, "data_dir")) {
            static char data_buf[256];
            snprintf(data_buf, sizeof data_buf, "%s", val);
            cfg.data_dir = data_buf;
            rc = 0;
        } else if (!strcmp(key, "sync")) {
            rc = parse_sync(val, &cfg.sync);
        } else if (!strcmp(key, "sync_interval_ms")) {
            rc = parse_u32(val, 1, 60000, &cfg.sync_interval_ms);
        } else if (!strcmp(key, "compact_min")) {
            rc = parse_u32(val, 0, UINT32_MAX, &u);
            cfg.compact_min = u;
        } else if (!strcmp(key, "cafile") || !strcmp(key, "password_file")) {
            static char ca_buf[256], pw_buf[256];
            bool ca = !strcmp(key, "cafile");
            snprintf(ca ? ca_buf : pw_buf, sizeof ca_buf, "%s", val);
            if (ca)
                cfg.cafile = ca_buf;
            else
                cfg.password_file = pw_buf;
            rc = 0;
        } else if (!strcmp(key, "require_certificate")) {
            rc = parse_bool(val, &cfg.require_certificate);
        } else if (!strcmp(key, "allow_anonymous")) {
            bool b = false;
            rc = parse_bool(val, &b);
            cfg.allow_anonymous = b ? 1 : 0;
        } else if (!strcmp(key, "bind")) {
            snprintf(bind_buf, sizeof bind_buf, "%s", val);
            cfg.bind_addr = bind_buf;
            rc = 0;
        } else {
            fprintf(stderr, "%s:%d: unknown key '%s'\n", path, lineno, key);
            bad++;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "%s:%d: bad value for '%s'\n", path, lineno, key);
            bad++;
        }
    }
    fclose(f);
    return bad ? -1 : 0;
}

static struct ev_io sig_io = {.fd = -1, .mask = -1};

static void on_signal(struct ev_io *io, int events)
{
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
        log_info("signal %u: shutting down", si.ssi_signo);
    ev_stop();
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int port = -1, tls_port = -1, verbose = 0;
    const char *bind_addr = NULL, *certfile = NULL, *keyfile = NULL, *data_dir = NULL;
    int sync = -1;
    const char *cafile = NULL, *password_file = NULL;
    bool require_certificate = false, allow_anonymous = false;
    if (argc > 1 && !strcmp(argv[1], "passwd"))
        return auth_passwd_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--port")) && next) {
            uint32_t u;
            if (parse_u32(next, 0, 65535, &u) != 0) {
                fprintf(stderr, "mqspec-broker: bad port '%s'\n", next);
                return 2;
            }
            port = (int)u;
            i++;
        } else if (!strcmp(a, "--tls-port") && next) {
            uint32_t u;
            if (parse_u32(next, 0, 65535, &u) != 0) {
                fprintf(stderr, "mqspec-broker: bad TLS port '%s'\n", next);
                return 2;
            }
            tls_port = (int)u;
            i++;
        } else if (!strcmp(a, "--cert") && next) {
            certfile = next;
            i++;
        } else if (!strcmp(a, "--key") && next) {
            keyfile = next;
            i++;
        } else if (!strcmp(a, "--data") && next) {
            data_dir = next;
            i++;
        } else if (!strcmp(a, "--sync") && next) {
            if (parse_sync(next, &sync) != 0) {
                fprintf(stderr, "mqspec-broker: bad --sync '%s' (always, batch or none)\n", next);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--cafile") && next) {
            cafile = next;
            i++;
        } else if (!strcmp(a, "--password-file") && next) {
            password_file = next;
            i++;
        } else if (!strcmp(a, "--require-certificate")) {
            require_certificate = true;
        } else if (!strcmp(a, "--allow-anonymous")) {
            allow_anonymous = true;
        } else if (!strcmp(a, "--bind") && next) {
            bind_addr = next;
            i++;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && next) {
            config = next;
            i++;
        } else if (!strcmp(a, "--defect") && next) {
            if (!strcmp(next, "list")) {
                defect_list(stdout);
                return 0;
            }
            if (defect_enable(next) != 0) {
                fprintf(stderr, "mqspec-broker: unknown defect '%s' (--defect list)\n", next);
                return 2;
            }
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    const char *env = getenv("MQSPEC_BROKER_DEFECTS");
    if (env && *env) {
        char names[1024];
        snprintf(names, sizeof names, "%s", env);
        for (char *save = NULL, *d = strtok_r(names, ", ", &save); d; d = strtok_r(NULL, ", ", &save)) {
            if (defect_enable(d) != 0) {
                fprintf(stderr, "mqspec-broker: unknown defect '%s' in MQSPEC_BROKER_DEFECTS\n", d);
                return 2;
            }
        }
    }
    if (!config && getenv("MQSPEC_BROKER_CONFIG") && *getenv("MQSPEC_BROKER_CONFIG"))
        config = getenv("MQSPEC_BROKER_CONFIG");
    if (config && load_config(config) != 0)
        return 2;
    if (port >= 0)
        cfg.port = port;
    if (bind_addr)
        cfg.bind_addr = bind_addr;
    if (tls_port >= 0)
        cfg.tls_port = tls_port;
    if (certfile)
        cfg.certfile = certfile;
    if (keyfile)
        cfg.keyfile = keyfile;
    if (data_dir)
        cfg.data_dir = data_dir;
    if (sync >= 0)
        cfg.sync = sync;
    if (cafile)
        cfg.cafile = cafile;
    if (require_certificate)
        cfg.require_certificate = true;
    if (password_file)
        cfg.password_file = password_file;
    if (allow_anonymous)
        cfg.allow_anonymous = 1;
    if (cfg.tls_port >= 0 && (!cfg.certfile || !cfg.keyfile)) {
        fprintf(stderr, "mqspec-broker: a TLS listener needs --cert and --key\n");
        return 2;
    }
    if (cfg.require_certificate && (!cfg.cafile || cfg.tls_port < 0)) {
        fprintf(stderr, "mqspec-broker: --require-certificate needs a TLS listener and --cafile\n");
        return 2;
    }
    if (cfg.password_file && auth_load_password_file(cfg.password_file) != 0)
        return 2;
    log_set_level(verbose ? LOG_DEBUG : LOG_INFO);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ev_init() != 0) {
        log_error("epoll: %s", strerror(errno));
        return 1;
    }
    sig_io.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    sig_io.fn = on_signal;
    if (sig_io.fd < 0 || ev_io_set(&sig_io, EV_READ) < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    if (cfg.data_dir && store_open(cfg.data_dir) != 0)
        return 2;
    int bound = cfg.port, tls_bound = cfg.tls_port;
    if (net_listen(cfg.bind_addr, &bound, false) != 0)
        return 1;
    if (cfg.tls_port >= 0 &&
        (tls_init(cfg.certfile, cfg.keyfile, cfg.cafile, cfg.require_certificate) != 0 || net_listen(cfg.bind_addr, &tls_bound, true) != 0))
        return 1;
    ev_on_batch_end(conn_batch_end);

    const char *defects = defect_enabled_names();
    if (*defects)
        log_warn("DEFECTS ON, this broker is wrong on purpose: %s", defects);
    log_info("mqspec-broker %s", MQSPEC_VERSION);
    if (auth_have_users())
        log_info("users configured; anonymous clients %s",
                 cfg.allow_anonymous == 1 ? "allowed (allow_anonymous true)" : "refused");
    log_info("mqspec-broker listening on %s:%d", cfg.bind_addr, bound);
    printf("listening %s %d\n", cfg.bind_addr, bound);
    if (cfg.tls_port >= 0) {
        log_info("mqspec-broker listening (TLS) on %s:%d", cfg.bind_addr, tls_bound);
        printf("listening-tls %s %d\n", cfg.bind_addr, tls_bound);
    }
    fflush(stdout);

    int rc = ev_run() == 0 ? 0 : 1;

    broker_stopping = true;
    net_close();
    conn_close_all(MQTT_RC_SERVER_SHUTTING_DOWN);
    store_close();
    session_free_all();
    will_free_all();
    retain_free_all();
    subs_free_all();
    ev_io_del(&sig_io);
    close(sig_io.fd);
    ev_shutdown();
    tls_shutdown_lib();
    auth_free();
    log_info("stopped");
    return rc;
}
