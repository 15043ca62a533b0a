/* handle_connect.c -- CONNECT: validation, takeover, Clean Start, Session
 * Present, Session Expiry, the Will, CONNACK, and resuming delivery.
 *
 * The order is the standard's (§3.1.4): everything that can refuse the
 * CONNECT is checked before any session is touched, so a refused CONNECT
 * leaves the live client and its session alone [MQTT-3.1.4-4]. Then:
 * takeover of a connected client id [MQTT-3.1.4-3], Clean Start processing
 * [MQTT-3.1.2-4..6], CONNACK, and the resend of what the resumed session had
 * in flight [MQTT-4.4.0-1].
 *
 * What it is not: the session's lifetime after the connection (session.c) or
 * the Will's timers (will.c).
 */
#include "auth.h"
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RC_BAD_AUTH_METHOD 0x8C

static void send_connack(struct conn *c, bool present, uint8_t reason, mqtt_props *props)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNACK;
    p.version = c->version;
    p.u.connack.session_present = present;
    p.u.connack.flags = present ? 1 : 0;
    p.u.connack.reason = reason;
    if (props && c->version == MQTT_V5)
        p.u.connack.props = *props;
    conn_send(c, &p);
}

/* After a refusal nothing else from this client is processed [MQTT-3.1.4-6]:
 * conn_close stops the input loop. Session Present is 0 [MQTT-3.2.2-6]. */
static int refuse(struct conn *c, uint8_t v5_reason, uint8_t v311_code, const char *why)
{
    send_connack(c, defect_on(D_REFUSAL_SESSION_PRESENT),
                 c->version == MQTT_V5 ? v5_reason : v311_code, NULL);
    char msg[160];
    snprintf(msg, sizeof msg, "CONNECT refused: %s", why);
    log_info("%s: %s", c->peer, msg);
    conn_close(c, msg);
    return -1;
}

/* A client id no session has, for a zero-length one [MQTT-3.2.2-16]. */
static char *assign_id(void)
{
    static uint64_t counter;
    static uint32_t salt;
    if (!salt)
        salt = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    char id[64];
    do
        snprintf(id, sizeof id, "mqspec-%08x-%llu", salt, (unsigned long long)++counter);
    while (session_find(id));
    return xstrdup(id);
}

static void add(mqtt_props *p, uint8_t id, uint32_t v)
{
    if (mqtt_props_add_num(p, id, v))
        die_oom();
}

/* Same user, or both anonymous. */
static bool same_owner(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int second_connect(struct conn *c)
{
    if (defect_on(D_SECOND_CONNECT_ACCEPTED)) {
        send_connack(c, true, MQTT_RC_SUCCESS, NULL);
        return 0;
    }
    /* [MQTT-3.1.0-2]: a Protocol Error; the Will is published (E-05). */
    conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "second CONNECT on the connection");
    return -1;
}

int handle_connect(struct conn *c, mqtt_packet *p)
{
    if (c->connected)
        return second_connect(c);
    const mqtt_connect *cn = &p->u.connect;
    c->version = p->version == MQTT_V5 ? MQTT_V5 : MQTT_V311;
    bool v5 = c->version == MQTT_V5;

    /* The answer of a server that has no room, after reading the CONNECT
     * (max_clients does not even read it): for clients that must back off,
     * like mqspec's -j auto. */
    if (cfg.busy_clients && conn_count() > cfg.busy_clients)
        return refuse(c, MQTT_RC_SERVER_BUSY, MQTT_V311_UNAVAILABLE, "busy_clients reached");

    /* ---- validation ---- */
    const mqtt_prop *rm = NULL, *mps = NULL, *sei = NULL;
    if (v5) {
        if (mqtt_props_find(&cn->props, MQTT_PROP_AUTH_METHOD))
            return refuse(c, RC_BAD_AUTH_METHOD, 0, "enhanced authentication is not supported");
        rm = mqtt_props_find(&cn->props, MQTT_PROP_RECEIVE_MAXIMUM);
        mps = mqtt_props_find(&cn->props, MQTT_PROP_MAXIMUM_PACKET_SIZE);
        sei = mqtt_props_find(&cn->props, MQTT_PROP_SESSION_EXPIRY);
        if ((rm && rm->num == 0) || (mps && mps->num == 0))
            return refuse(c, MQTT_RC_PROTOCOL_ERROR, 0, "Receive Maximum or Maximum Packet Size of 0");
    }
    /* Anonymous-not-allowed is "not authorized" (0x87 / 5), as mosquitto
     * answers it: nothing in the user name or password was wrong, there was
     * none. A wrong one is 0x86 / 4. */
    const char *user = NULL;
    switch (auth_check(cn, &user)) {
    case AUTH_OK:
        break;
    case AUTH_BAD_CREDENTIALS:
        return refuse(c, MQTT_RC_BAD_USER_OR_PASSWORD, MQTT_V311_BAD_CREDENTIALS,
                      "bad user name or password");
    case AUTH_ANONYMOUS_REFUSED:
        return refuse(c, MQTT_RC_NOT_AUTHORIZED, MQTT_V311_NOT_AUTHORIZED,
                      "anonymous access is not allowed");
    }
    bool assigned = false;
    char *id;
    if (cn->client_id.len == 0) {
        /* M3 [MQTT-3.1.3-8]: 3.1.1 needs CleanSession 1 for an empty id. */
        if (!v5 && !cn->clean_start && !defect_on(D_V311_EMPTY_ID_CLEAN_SESSION_0_ACCEPTED))
            return refuse(c, 0, MQTT_V311_ID_REJECTED, "empty client id with CleanSession 0");
        if (!cfg.allow_zero_length_client_id)
            return refuse(c, MQTT_RC_CLIENT_ID_NOT_VALID, MQTT_V311_ID_REJECTED,
                          "empty client id not allowed");
        id = assign_id();
        assigned = true;
    } else {
        id = xstrndup(cn->client_id.data, cn->client_id.len);
        if (strlen(id) != cn->client_id.len) {
            free(id);
            return refuse(c, MQTT_RC_CLIENT_ID_NOT_VALID, MQTT_V311_ID_REJECTED, "NUL in client id");
        }
    }
    /* ---- ownership: a session belongs to the user that created it ----
     * Another user (or anonymous for a user's, or the reverse) may neither
     * take over the connection nor resume or discard the session: the CONNECT
     * is refused as not authorized and the owner's connection and session
     * are left exactly as they were. */
    struct session *s = session_find(id);
    if (s && !same_owner(s->owner, user) && !defect_on(D_SESSION_OWNERSHIP_IGNORED)) {
        log_info("%s: session belongs to %s%s%s, not to %s%s%s", id, s->owner ? "user '" : "",
                 s->owner ? s->owner : "anonymous", s->owner ? "'" : "", user ? "user '" : "",
                 user ? user : "anonymous", user ? "'" : "");
        free(id);
        return refuse(c, MQTT_RC_NOT_AUTHORIZED, MQTT_V311_NOT_AUTHORIZED,
                      "the client id's session belongs to another user");
    }
    c->client_id = xstrdup(id);

    /* ---- takeover [MQTT-3.1.4-3], M3 [MQTT-3.1.4-2] ---- */
    if (s && s->conn) {
        struct conn *old = s->conn;
        if (!defect_on(D_NO_TAKEOVER_DISCONNECT))
            conn_send_disconnect(old, MQTT_RC_SESSION_TAKEN_OVER);
        /* An ordinary loss of the old connection: its Will goes by the usual
         * rules (F-03..F-06), and a session with expiry 0 ends here (F-04). */
        conn_close(old, "session taken over");
        s = session_find(id);
    }

    /* ---- Clean Start [MQTT-3.1.2-4..6], M3 [MQTT-3.1.2-4/6] ---- */
    bool clean = cn->clean_start;
    if (v5 && defect_on(D_CLEAN_START_IGNORED))
        clean = false;
    if (!v5 && defect_on(D_V311_CLEAN_SESSION_IGNORED))
        clean = false;
    struct dlist carried = {0};
    if (s && clean) {
        if (defect_on(D_RESEND_AFTER_CLEAN_START)) {
            carried = deliver_take_inflight(s);
        }
        /* Ending the session publishes a Will still in its delay (E-10). */
        session_end(s);
        s = NULL;
    }
    bool present = s != NULL;
    if (s && defect_on(D_PACKET_ID_IN_USE_REUSED))
        s->last_packet_id = 0;
    if (s)
        will_discard(s);        /* resumed within the Will Delay [MQTT-3.1.3-9] */
    else
        s = session_new(id);
    if (!same_owner(s->owner, user)) {
        /* Only reachable with the ownership defect on: the session changes hands. */
        free(s->owner);
        s->owner = user ? xstrdup(user) : NULL;
    }
    if (carried.head)
        deliver_give_inflight(s, &carried);

    /* ---- Session Expiry (§3.1.2.11.2); 3.1.1: CleanSession 0 never ends ---- */
    uint32_t asked = v5 ? (sei ? sei->num : 0) : (clean ? 0 : MQTT_SESSION_EXPIRY_NEVER);
    c->connect_expiry = asked;
    bool capped = asked > cfg.max_session_expiry;
    s->expiry = capped ? cfg.max_session_expiry : asked;

    /* ---- this connection's parameters (not session state, §4.9) ---- */
    c->client_receive_max = rm ? rm->num : 65535;
    c->client_max_packet = mps ? mps->num : 0;
    c->keep_alive = cn->keep_alive;
    bool ka_override = v5 && cfg.has_server_keep_alive;
    if (ka_override)
        c->keep_alive = cfg.server_keep_alive;

    session_attach(s, c);
    s->will = will_from_connect(cn, id);     /* [MQTT-3.1.2-7] */
    c->connected = true;
    if (store_on && !(clean && defect_on(D_RESTART_FORGETS_CLEAN_START_1)))
        store_session(s);

    bool sp = present;
    if (defect_on(D_SESSION_PRESENT_ALWAYS_0))
        sp = false;
    if (defect_on(D_SESSION_PRESENT_ALWAYS_1))
        sp = true;
    mqtt_props props = {0};
    if (v5) {
        add(&props, MQTT_PROP_RECEIVE_MAXIMUM, cfg.receive_maximum);
        add(&props, MQTT_PROP_RETAIN_AVAILABLE, 1);
        add(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, cfg.max_packet_size);
        add(&props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, cfg.topic_alias_maximum);
        add(&props, MQTT_PROP_WILDCARD_SUB_AVAILABLE, 1);
        add(&props, MQTT_PROP_SUB_ID_AVAILABLE, 1);
        add(&props, MQTT_PROP_SHARED_SUB_AVAILABLE, 1);
        if (defect_on(D_MAXIMUM_QOS_MISANNOUNCED))
            add(&props, MQTT_PROP_MAXIMUM_QOS, 1);
        if (capped && !defect_on(D_EXPIRY_CAP_NOT_REPORTED))
            add(&props, MQTT_PROP_SESSION_EXPIRY, s->expiry);      /* §3.2.2.3.2 */
        if (ka_override)
            add(&props, MQTT_PROP_SERVER_KEEP_ALIVE, cfg.server_keep_alive);
        if (assigned && !defect_on(D_ASSIGNED_ID_NOT_SENT) && mqtt_props_add_bytes(&props, MQTT_PROP_ASSIGNED_CLIENT_ID, mqtt_str(id)))
            die_oom();
    }
    send_connack(c, sp, MQTT_RC_SUCCESS, &props);
    mqtt_props_free(&props);
    conn_keep_alive_start(c);
    log_info("%s: connected from %s (MQTT %s, clean %d, expiry %u, keep alive %u, session present %d%s%s)",
             id, c->peer, v5 ? "5.0" : "3.1.1", clean, s->expiry, c->keep_alive, present,
             user ? ", user " : "", user ? user : "");

    if (present && defect_on(D_SUBSCRIPTION_ID_DROPPED))
        for (struct sub *sub = s->subs; sub; sub = sub->snext)
            sub->subid = 0;
    if (present && defect_on(D_RETAIN_ON_RESUME))
        for (const struct sub *sub = s->subs; sub; sub = sub->snext)
            retain_deliver(s, sub);
    deliver_pump(s);        /* in-flight first (DUP 1, same ids), then the queue */
    free(id);
    return 0;
}
