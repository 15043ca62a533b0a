/* handle_ack.c -- PUBACK, PUBREC, PUBCOMP (for messages the server sent) and
 * PUBREL (for a QoS 2 message the client sent).
 *
 * What it is not: the in-flight bookkeeping itself, which is deliver_ack in
 * deliver.c, next to the code that sends.
 */
#include "broker.h"
#include "log.h"

#include <string.h>

int handle_puback(struct conn *c, mqtt_packet *p)
{
    deliver_ack(c->s, p->type, p->u.ack.packet_id, p->u.ack.reason);
    return 0;
}

int handle_pubrel(struct conn *c, mqtt_packet *p)
{
    /* [MQTT-4.3.3-11/12]: PUBCOMP, and the id is free for a new message. An
     * unknown id is answered too, so the client can finish its handshake. */
    bool known = session_qos2_in_remove(c->s, p->u.ack.packet_id);
    if (known && store_on)
        store_qos2_in(c->s, p->u.ack.packet_id, false);
    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQTT_PUBCOMP;
    a.version = c->version;
    a.u.ack.packet_id = p->u.ack.packet_id;
    if (!known && c->version == MQTT_V5) {
        a.u.ack.reason = MQTT_RC_PACKET_ID_NOT_FOUND;
        a.u.ack.has_reason = true;
    }
    conn_send(c, &a);
    return 0;
}
