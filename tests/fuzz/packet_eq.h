/* packet_eq.h -- field-by-field equality of two mqtt_packet values.
 *
 * What it is for: the fuzz target's round-trip check and the unit tests'
 * "decode these bytes and compare with the packet we expected". It compares
 * views by content, not by address, and explains the first difference in
 * `why` so a failure says which field differs.
 *
 * What it is not: part of the protocol core. It lives with the tests because
 * nothing in production compares packets.
 */
#ifndef PACKET_EQ_H
#define PACKET_EQ_H

#include "../../mqtt/mqtt.h"

#include <stdio.h>

#define PEQ_FAIL(...) do { if (why) snprintf(why, whylen, __VA_ARGS__); return 0; } while (0)

static inline int peq_props(const mqtt_props *a, const mqtt_props *b, const char *what,
                            char *why, size_t whylen)
{
    if (a->count != b->count)
        PEQ_FAIL("%s: %u properties vs %u", what, a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++) {
        const mqtt_prop *x = &a->items[i], *y = &b->items[i];
        if (x->id != y->id || x->num != y->num || !mqtt_bytes_eq(x->str, y->str) ||
            !mqtt_bytes_eq(x->str2, y->str2))
            PEQ_FAIL("%s: property %u differs (id 0x%02X vs 0x%02X, num %u vs %u)", what, i,
                     x->id, y->id, x->num, y->num);
    }
    return 1;
}

#define PEQ_PROPS(x, y, w) do { if (!peq_props((x), (y), (w), why, whylen)) return 0; } while (0)
#define PEQ_FIELD(f) do { if (a->f != b->f) PEQ_FAIL("%s differs: %lld vs %lld", #f, \
                          (long long)a->f, (long long)b->f); } while (0)
#define PEQ_BYTES(f) do { if (!mqtt_bytes_eq(a->f, b->f)) PEQ_FAIL("%s differs", #f); } while (0)

static inline int packet_eq(const mqtt_packet *a, const mqtt_packet *b, char *why, size_t whylen)
{
    PEQ_FIELD(type);
    PEQ_FIELD(version);
    switch (a->type) {
    case MQTT_CONNECT:
        PEQ_BYTES(u.connect.protocol_name);
        PEQ_FIELD(u.connect.protocol_level);
        PEQ_FIELD(u.connect.flags);
        PEQ_FIELD(u.connect.clean_start);
        PEQ_FIELD(u.connect.keep_alive);
        PEQ_PROPS(&a->u.connect.props, &b->u.connect.props, "CONNECT props");
        PEQ_BYTES(u.connect.client_id);
        PEQ_FIELD(u.connect.will);
        PEQ_FIELD(u.connect.will_qos);
        PEQ_FIELD(u.connect.will_retain);
        PEQ_PROPS(&a->u.connect.will_props, &b->u.connect.will_props, "Will props");
        PEQ_BYTES(u.connect.will_topic);
        PEQ_BYTES(u.connect.will_payload);
        PEQ_FIELD(u.connect.has_username);
        PEQ_BYTES(u.connect.username);
        PEQ_FIELD(u.connect.has_password);
        PEQ_BYTES(u.connect.password);
        break;
    case MQTT_CONNACK:
        PEQ_FIELD(u.connack.session_present);
        PEQ_FIELD(u.connack.flags);
        PEQ_FIELD(u.connack.reason);
        PEQ_PROPS(&a->u.connack.props, &b->u.connack.props, "CONNACK props");
        break;
    case MQTT_PUBLISH:
        PEQ_FIELD(u.publish.dup);
        PEQ_FIELD(u.publish.qos);
        PEQ_FIELD(u.publish.retain);
        PEQ_BYTES(u.publish.topic);
        PEQ_FIELD(u.publish.packet_id);
        PEQ_PROPS(&a->u.publish.props, &b->u.publish.props, "PUBLISH props");
        PEQ_BYTES(u.publish.payload);
        break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        PEQ_FIELD(u.ack.packet_id);
        PEQ_FIELD(u.ack.reason);
        PEQ_FIELD(u.ack.has_reason);
        PEQ_PROPS(&a->u.ack.props, &b->u.ack.props, "ack props");
        break;
    case MQTT_SUBSCRIBE:
        PEQ_FIELD(u.subscribe.packet_id);
        PEQ_PROPS(&a->u.subscribe.props, &b->u.subscribe.props, "SUBSCRIBE props");
        PEQ_FIELD(u.subscribe.count);
        for (uint32_t i = 0; i < a->u.subscribe.count; i++) {
            const mqtt_sub *x = &a->u.subscribe.subs[i], *y = &b->u.subscribe.subs[i];
            if (!mqtt_bytes_eq(x->filter, y->filter) || x->options != y->options ||
                x->qos != y->qos || x->no_local != y->no_local ||
                x->retain_as_published != y->retain_as_published ||
                x->retain_handling != y->retain_handling)
                PEQ_FAIL("subscription %u differs", i);
        }
        break;
    case MQTT_SUBACK: case MQTT_UNSUBACK:
        PEQ_FIELD(u.suback.packet_id);
        PEQ_PROPS(&a->u.suback.props, &b->u.suback.props, "SUBACK props");
        PEQ_FIELD(u.suback.count);
        for (uint32_t i = 0; i < a->u.suback.count; i++)
            if (a->u.suback.reasons[i] != b->u.suback.reasons[i])
                PEQ_FAIL("reason %u differs", i);
        break;
    case MQTT_UNSUBSCRIBE:
        PEQ_FIELD(u.unsubscribe.packet_id);
        PEQ_PROPS(&a->u.unsubscribe.props, &b->u.unsubscribe.props, "UNSUBSCRIBE props");
        PEQ_FIELD(u.unsubscribe.count);
        for (uint32_t i = 0; i < a->u.unsubscribe.count; i++)
            if (!mqtt_bytes_eq(a->u.unsubscribe.filters[i], b->u.unsubscribe.filters[i]))
                PEQ_FAIL("filter %u differs", i);
        break;
    case MQTT_DISCONNECT: case MQTT_AUTH:
        PEQ_FIELD(u.disconnect.reason);
        PEQ_FIELD(u.disconnect.has_reason);
        PEQ_PROPS(&a->u.disconnect.props, &b->u.disconnect.props, "DISCONNECT props");
        break;
    default:
        break;
    }
    return 1;
}

#endif
