/* handle_ping.c -- PINGREQ: answered with PINGRESP.
 *
 * What it is not: keep alive. The timer was already re-armed by conn.c, as it
 * is for every packet, so a PINGREQ is just one packet among others. */
#include "broker.h"

#include <string.h>

int handle_pingreq(struct conn *c, mqtt_packet *p)
{
    mqtt_packet r;
    memset(&r, 0, sizeof r);
    r.type = MQTT_PINGRESP;
    r.version = c->version;
    conn_send(c, &r);
    return 0;
}
