/* managed.h -- a broker the harness starts, stops and restarts itself.
 *
 * What it is for: the bundled mqspec-broker (started on a free loopback port,
 * with its data in a private directory removed at the end), or a third-party
 * broker whose profile gives start and stop commands. Either can be stopped
 * and started again on the same port with the same data, which is what the
 * `restart_broker` scenario step needs.
 *
 * What it is not: a supervisor. Everything here blocks for a bounded time; the
 * runner only calls it while no other scenario shares the broker.
 */
#ifndef HARNESS_MANAGED_H
#define HARNESS_MANAGED_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum managed_kind { MB_NONE = 0, MB_EMBEDDED, MB_COMMANDS } managed_kind;

typedef struct managed_broker {
    managed_kind kind;
    int port;                   /* 0 until the first start */
    char dir[PATH_MAX];         /* private directory ({dir}; the bundled broker's data and
                                 * password file) */
    bool running;
    /* MB_EMBEDDED */
    pid_t pid;
    char bin[PATH_MAX];
    const char *log_path;       /* the broker's stderr, or NULL for /dev/null */
    bool has_data;              /* the bundled broker keeps sessions in --data DIR/data
                                 * (a caller may clear it before the first start) */
    const char *config;         /* configuration lines for DIR/broker.conf (-c), or NULL */
    /* The run's second user, known to the bundled broker through a password
     * file in DIR (it still accepts anonymous clients); "" when none. */
    char user2[32], password2[40];
    /* MB_COMMANDS: shell commands with {port} and {dir} replaced */
    const char *start_cmd, *stop_cmd, *kill_cmd;
    int start_timeout_ms;
    int restarts;               /* how many times it was restarted */
} managed_broker;

/* Prepares the bundled broker found beside the mqspec binary. */
int managed_embedded(managed_broker *m, const char *log_path, char *err, size_t errcap);
/* Prepares a broker run by commands (a profile's start / stop / kill). */
int managed_commands(managed_broker *m, const char *start, const char *stop, const char *kill,
                     int start_timeout_s, char *err, size_t errcap);

/* Starts it (the first time on a free port, afterwards on the same one) and
 * returns once it accepts TCP connections. 0, or -1 with err. */
int managed_start(managed_broker *m, char *err, size_t errcap);
/* Stops it and returns once it is gone: SIGTERM (the stop command), or with
 * hard SIGKILL (the kill command; the stop command if there is none). */
int managed_stop(managed_broker *m, bool hard, char *err, size_t errcap);
/* Stops it if it runs and removes the private directory. */
void managed_cleanup(managed_broker *m);

#endif
