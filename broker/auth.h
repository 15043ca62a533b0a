/* auth.h -- who a client is: user names and passwords (the `user` lines of
 * the configuration and the password file), anonymous access, and the
 * `mqspec-broker passwd` tool that writes the password file.
 *
 * What it is for: deciding whether a CONNECT's credentials name a user, and
 * which one, so that handle_connect.c can refuse it or record the user as
 * the owner of the session it creates.
 *
 * What it is not: authorization (every user may publish and subscribe to
 * everything), enhanced authentication (AUTH), or TLS client certificates
 * (tls.c checks those during the handshake, before any CONNECT).
 */
#ifndef BROKER_AUTH_H
#define BROKER_AUTH_H

#include <stdbool.h>

#include "../mqtt/mqtt.h"

/* Reads a password file into the user table. Returns 0, or -1 after printing
 * why on stderr (unreadable file, bad line). */
int auth_load_password_file(const char *path);
/* A plain-text `user NAME PASSWORD` configuration line. */
void auth_add_plain_user(const char *name, const char *password);
/* True when any user is configured (file or `user` lines). */
bool auth_have_users(void);
void auth_free(void);

typedef enum auth_result {
    AUTH_OK,                /* *user is the user name, or NULL for anonymous */
    AUTH_BAD_CREDENTIALS,   /* unknown user, wrong or missing password */
    AUTH_ANONYMOUS_REFUSED  /* no user name, and anonymous access is off */
} auth_result;

/* Checks a CONNECT's user name and password. On AUTH_OK, *user points into
 * the user table (valid until auth_free), or is NULL for an anonymous client.
 * Without users every client is anonymous: a user name is then a claim that
 * nothing checks, so it is not recorded as anyone's identity. */
auth_result auth_check(const mqtt_connect *cn, const char **user);

/* `mqspec-broker passwd ...`: argv[0] is "passwd". Returns the exit status. */
int auth_passwd_main(int argc, char **argv);

#endif
