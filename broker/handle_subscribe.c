/* handle_subscribe.c -- SUBSCRIBE: store the subscriptions in the session,
 * answer SUBACK, then send the retained messages that Retain Handling asks
 * for: 0 always, 1 only for a subscription that did not exist, 2 never
 * [MQTT-3.3.1-9..11]. Granted QoS is what was asked (this server supports 2).
 *
 * What it is not: routing (subs.c) or the retained store (retain.c).
 */
#include "broker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int handle_subscribe(struct conn *c, mqtt_packet *p)
{
    struct session *s = c->s;
    const mqtt_subscribe *sb = &p->u.subscribe;
    bool v5 = c->version == MQTT_V5;
    uint32_t subid = 0;
    if (v5) {
        const mqtt_prop *id = mqtt_props_find(&sb->props, MQTT_PROP_SUBSCRIPTION_ID);
        if (id && id->num == 0) {
            conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "Subscription Identifier 0");
            return -1;
        }
        subid = id ? id->num : 0;
    }
    for (uint32_t i = 0; i < sb->count; i++) {
        mqtt_bytes g, r;
        if (v5 && sb->subs[i].no_local && mqtt_shared_split(sb->subs[i].filter, &g, &r)) {
            conn_protocol_error(c, MQTT_RC_PROTOCOL_ERROR, "No Local on a shared subscription");
            return -1;      /* [MQTT-3.8.3-4] */
        }
    }

    uint8_t *reasons = xcalloc(sb->count, 1);
    bool *send_retained = xcalloc(sb->count, sizeof *send_retained);
    for (uint32_t i = 0; i < sb->count; i++) {
        mqtt_sub req = sb->subs[i];
        if (!mqtt_topic_filter_valid(req.filter) || req.qos > 2) {
            reasons[i] = v5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
            continue;
        }
        if (!v5) {
            req.no_local = false;
            req.retain_as_published = false;
            req.retain_handling = 0;
        }
        bool existed;
        subs_add(s, &req, subid, &existed);
        reasons[i] = req.qos;
        send_retained[i] = req.retain_handling == 0 || (req.retain_handling == 1 && !existed);
        log_debug("%s: subscribed to %.*s (QoS %u%s)", s->id, (int)req.filter.len,
                  (const char *)req.filter.data, req.qos, existed ? ", replaced" : "");
    }

    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQTT_SUBACK;
    a.version = c->version;
    a.u.suback.packet_id = sb->packet_id;
    a.u.suback.reasons = reasons;
    a.u.suback.count = sb->count;
    conn_send(c, &a);

    /* After SUBACK, found again by filter: subs_add may have moved them. */
    for (uint32_t i = 0; i < sb->count; i++) {
        if (!send_retained[i])
            continue;
        const struct sub *sub = subs_find(s, sb->subs[i].filter);
        if (sub)
            retain_deliver(s, sub);
    }
    free(reasons);
    free(send_retained);
    return 0;
}
