/* handle_publish.c -- PUBLISH from a client: Topic Alias, QoS 0/1/2 inbound,
 * retaining, routing.
 *
 * QoS 2 uses the standard's "method A" (§4.3.3): the message is routed when
 * the PUBLISH arrives and its packet id is remembered in the SESSION until
 * PUBREL, so a PUBLISH with the same id -- DUP or not, on this connection or a
 * resumed one -- gets PUBREC again and is not routed twice [MQTT-4.3.3-10]
 * (D-06).
 *
 * Topic Alias mappings belong to the connection and start empty on each one
 * [MQTT-3.3.2-7] (L-03).
 *
 * What it is not: who gets a copy (subs.c) or the retained store (retain.c).
 */
#include "broker.h"
#include "defect.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void send_ack(struct conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.version = c->version;
    p.u.ack.packet_id = id;
    p.u.ack.reason = reason;
    p.u.ack.has_reason = reason != 0;
    conn_send(c, &p);
}

/* Resolves the topic of a 5.0 PUBLISH through its Topic Alias, if any.
 * Returns false after closing the connection. */
static bool resolve_alias(struct conn *c, const mqtt_publish *pub, mqtt_bytes *topic)
{
    const mqtt_prop *a = mqtt_props_find(&pub->props, MQTT_PROP_TOPIC_ALIAS);
    if (!a)
        return true;
    if (a->num == 0 || a->num > cfg.topic_alias_maximum) {
        conn_protocol_error(c, MQTT_RC_TOPIC_ALIAS_INVALID, "Topic Alias out of range");
        return false;
    }
    if (!c->aliases)
        c->aliases = xcalloc(1, sizeof *c->aliases);
    char **slot = &c->aliases->topic[a->num];
    if (topic->len > 0) {
        free(*slot);
        *slot = xstrndup(topic->data, topic->len);
        return true;
    }
    if (!*slot) {
        /* §3.3.2.3.4: an alias never set on this connection. */
        conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "unknown Topic Alias");
        return false;
    }
    *topic = mqtt_str(*slot);
    return true;
}

int handle_publish(struct conn *c, mqtt_packet *p)
{
    struct session *s = c->s;
    const mqtt_publish *pub = &p->u.publish;
    mqtt_bytes topic = pub->topic;
    if (c->version == MQTT_V5 && !resolve_alias(c, pub, &topic))
        return -1;
    if (topic.len == 0) {
        conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "PUBLISH without topic");
        return -1;
    }
    if (!mqtt_topic_name_valid(topic)) {
        conn_protocol_error(c, MQTT_RC_TOPIC_NAME_INVALID, "invalid Topic Name");
        return -1;
    }
    if (pub->qos == 2) {
        if (session_qos2_in_has(s, pub->packet_id)) {
            send_ack(c, MQTT_PUBREC, pub->packet_id, 0);
            return 0;
        }
        if (s->nqos2_in >= cfg.receive_maximum) {
            conn_protocol_error(c, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED, "Receive Maximum exceeded");
            return -1;
        }
    }

    struct msg *m = msg_new(topic, pub->payload, pub->qos, pub->retain,
                            c->version == MQTT_V5 ? &pub->props : NULL, s->id);
    if (m->retain)
        retain_store(m);
    subs_route(m);
    msg_unref(m);

    if (pub->qos == 1) {
        send_ack(c, MQTT_PUBACK, pub->packet_id, 0);
    } else if (pub->qos == 2) {
        session_qos2_in_add(s, pub->packet_id);
        if (store_on)
            store_qos2_in(s, pub->packet_id, true);
        send_ack(c, MQTT_PUBREC, pub->packet_id, 0);
    }
    return 0;
}
