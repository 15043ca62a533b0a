/* obs.c -- observations: packets and closes as a driver hands them to the runner.
 *
 * An observation owns its bytes. Both drivers build them here, so a PUBLISH seen
 * through libmosquitto and one seen on the raw socket are the same kind of value:
 * decoded by the one codec in mqtt/. Not for: deciding what an observation means
 * (that is the runner's expectation matching).
 */
#include "driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

obs_t *obs_from_wire(const uint8_t *wire, size_t len, uint8_t version, unsigned seen)
{
    obs_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->wire = malloc(len ? len : 1);
    if (!o->wire) {
        free(o);
        return NULL;
    }
    memcpy(o->wire, wire, len);
    o->wire_len = len;
    o->seen = seen;
    o->at_ms = loop_now_ms();
    mqtt_error err;
    /* We are the client side: is_server is false. */
    if (mqtt_decode(o->wire, len, version, false, &o->pkt, &err) == MQTT_OK) {
        o->kind = OBS_PACKET;
    } else {
        o->kind = OBS_BAD_PACKET;
        memset(&o->pkt, 0, sizeof o->pkt);
        snprintf(o->text, sizeof o->text, "undecodable packet (reason 0x%02X): %s", err.reason,
                 err.why);
    }
    return o;
}

obs_t *obs_from_packet(const mqtt_packet *pkt, unsigned seen)
{
    mqtt_buf buf = {0};
    if (mqtt_encode(pkt, &buf) != 0) {
        mqtt_buf_free(&buf);
        return NULL;
    }
    obs_t *o = obs_from_wire(buf.data, buf.len, pkt->version, seen);
    mqtt_buf_free(&buf);
    return o;
}

obs_t *obs_closed(close_cause cause, const char *fmt, ...)
{
    obs_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->kind = OBS_CLOSED;
    o->cause = cause;
    o->at_ms = loop_now_ms();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->text, sizeof o->text, fmt, ap);
    va_end(ap);
    return o;
}

void obs_free(obs_t *o)
{
    if (!o)
        return;
    if (o->kind == OBS_PACKET)
        mqtt_packet_free(&o->pkt);
    free(o->wire);
    free(o);
}

const driver_t *driver_for(unsigned needs, const char *name)
{
    static const driver_t *const preference[] = {&driver_mosquitto, &driver_raw};
    for (size_t i = 0; i < sizeof preference / sizeof *preference; i++) {
        const driver_t *d = preference[i];
        if (name && strcmp(name, d->name) != 0)
            continue;
        if ((d->caps & needs) == needs)
            return d;
    }
    return NULL;
}
