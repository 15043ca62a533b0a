/* handle_unsubscribe.c -- UNSUBSCRIBE: remove the subscriptions; copies
 * already queued stay queued, new messages stop [MQTT-3.10.4-1/2].
 *
 * What it is not: the subscription store itself (subs.c). */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

int handle_unsubscribe(struct conn *c, mqtt_packet *p)
{
    const mqtt_unsubscribe *u = &p->u.unsubscribe;
    bool v5 = c->version == MQTT_V5;
    uint8_t *reasons = xcalloc(u->count, 1);
    for (uint32_t i = 0; i < u->count; i++) {
        bool removed = subs_remove(c->s, u->filters[i]);
        reasons[i] = removed ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    }
    mqtt_packet a;
    memset(&a, 0, sizeof a);
    a.type = MQTT_UNSUBACK;
    a.version = c->version;
    a.u.suback.packet_id = u->packet_id;
    if (v5) {
        a.u.suback.reasons = reasons;
        a.u.suback.count = u->count;
    }
    conn_send(c, &a);
    free(reasons);
    return 0;
}
