/* handle_disconnect.c -- DISCONNECT from the client.
 *
 * Reason 0x00 (and every 3.1.1 DISCONNECT) discards the Will [MQTT-3.14.4-3];
 * any other reason, 0x04 "with Will Message" included, keeps it, so it is
 * published as for a lost connection. A Session Expiry Interval here replaces
 * the CONNECT one -- except that raising it from 0 is a Protocol Error
 * (§3.14.2.2.2): that DISCONNECT is not valid, the server answers DISCONNECT
 * 0x82, the session still ends per the original 0 and, since no valid
 * DISCONNECT 0x00 arrived, the Will is published (C-09).
 *
 * What it is not: what happens after the close (session.c, will.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdio.h>

int handle_disconnect(struct conn *c, mqtt_packet *p)
{
    struct session *s = c->s;
    if (c->version != MQTT_V5) {
        if (!defect_on(D_WILL_ON_NORMAL_DISCONNECT))
            will_discard(s);
        conn_close(c, "DISCONNECT");
        return -1;
    }
    const mqtt_disconnect *d = &p->u.disconnect;
    const mqtt_prop *e = mqtt_props_find(&d->props, MQTT_PROP_SESSION_EXPIRY);
    if (e) {
        if (c->connect_expiry == 0 && e->num != 0 && !defect_on(D_DISCONNECT_EXPIRY_0X82_MISSING)) {
            conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR,
                                "DISCONNECT sets a Session Expiry Interval after CONNECT had 0");
            return -1;
        }
        if (!defect_on(D_DISCONNECT_EXPIRY_IGNORED))
            s->expiry = e->num > cfg.max_session_expiry ? cfg.max_session_expiry : e->num;
    }
    if (d->reason == MQTT_RC_SUCCESS && !defect_on(D_WILL_ON_NORMAL_DISCONNECT))
        will_discard(s);
    char why[96];
    snprintf(why, sizeof why, "DISCONNECT 0x%02x", d->reason);
    conn_close(c, why);
    return -1;
}
