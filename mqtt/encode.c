/* encode.c -- writing MQTT 3.1.1 and 5.0 control packets.
 *
 * What it is for: the wire form of an mqtt_packet, coded for pkt->version,
 * property blocks included. It writes what it is given, without judging it:
 * duplicate, misplaced or out-of-range properties, QoS 3, packet id 0 and
 * reserved bits all go out as asked, because the raw driver uses this to send
 * packets the standard forbids. Where a packet has both a raw byte and named
 * fields (CONNECT flags, CONNACK acknowledge flags, subscription options), the
 * byte sent is the fields' bits OR'ed with the raw byte, so a test can set bits
 * the fields cannot express.
 *
 * Shape choices (5.0): PUBACK/PUBREC/PUBREL/PUBCOMP, DISCONNECT and AUTH omit
 * the reason byte only when has_reason is false, the reason is 0 and there are
 * no properties; the Property Length is omitted when there are no properties
 * and nothing follows. A property with an identifier unknown to the table is
 * written as its identifier followed by the bytes of `str`, verbatim.
 *
 * What it is not: validation (decode.c and topic.c) or I/O.
 */
#include "mqtt.h"

#include <stdlib.h>
#include <string.h>

typedef struct writer {
    mqtt_buf *b;
    int failed;
} writer;

static void put(writer *w, const void *data, size_t len)
{
    if (!w->failed && mqtt_buf_append(w->b, data, len) != 0)
        w->failed = 1;
}

static void put_u8(writer *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(writer *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    put(w, b, 2);
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    put(w, b, 4);
}

static void put_varint(writer *w, uint32_t v)
{
    uint8_t b[4];
    int n = mqtt_varint_encode(v, b);
    if (n == 0)
        w->failed = 1;
    else
        put(w, b, (size_t)n);
}

static void put_bin(writer *w, mqtt_bytes s)
{
    if (s.len > 0xFFFF) {
        w->failed = 1;
        return;
    }
    put_u16(w, (uint16_t)s.len);
    put(w, s.data, s.len);
}

static void put_props(writer *w, const mqtt_props *props)
{
    mqtt_buf body = { 0 };
    writer pw = { &body, 0 };
    for (uint32_t i = 0; i < props->count; i++) {
        const mqtt_prop *p = &props->items[i];
        put_varint(&pw, p->id);
        switch (mqtt_prop_type(p->id)) {
        case MQTT_PT_BYTE: put_u8(&pw, (uint8_t)p->num); break;
        case MQTT_PT_U16: put_u16(&pw, (uint16_t)p->num); break;
        case MQTT_PT_U32: put_u32(&pw, p->num); break;
        case MQTT_PT_VARINT: put_varint(&pw, p->num); break;
        case MQTT_PT_STRING: case MQTT_PT_BINARY: put_bin(&pw, p->str); break;
        case MQTT_PT_PAIR: put_bin(&pw, p->str); put_bin(&pw, p->str2); break;
        default: put(&pw, p->str.data, p->str.len); break;
        }
    }
    if (pw.failed || body.len > MQTT_MAX_VARINT)
        w->failed = 1;
    else {
        put_varint(w, (uint32_t)body.len);
        put(w, body.data, body.len);
    }
    mqtt_buf_free(&body);
}

/* The optional tail of 5.0 acks, DISCONNECT and AUTH. */
static void put_reason_props(writer *w, uint8_t reason, bool has_reason, const mqtt_props *props)
{
    if (!has_reason && reason == 0 && props->count == 0)
        return;
    put_u8(w, reason);
    if (props->count > 0)
        put_props(w, props);
}

static uint8_t fixed_flags(uint8_t type)
{
    return type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ? 2 : 0;
}

static void enc_body(writer *w, const mqtt_packet *pkt, uint8_t *first)
{
    bool v5 = pkt->version >= MQTT_V5;
    *first = (uint8_t)(pkt->type << 4 | fixed_flags(pkt->type));
    switch (pkt->type) {
    case MQTT_CONNECT: {
        const mqtt_connect *c = &pkt->u.connect;
        put_bin(w, c->protocol_name.data ? c->protocol_name : mqtt_str("MQTT"));
        put_u8(w, c->protocol_level ? c->protocol_level : pkt->version);
        uint8_t f = (uint8_t)(c->flags | (c->clean_start ? 0x02 : 0) | (c->will ? 0x04 : 0) |
                              (c->will_qos & 3) << 3 | (c->will_retain ? 0x20 : 0) |
                              (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));
        put_u8(w, f);
        put_u16(w, c->keep_alive);
        if (v5)
            put_props(w, &c->props);
        put_bin(w, c->client_id);
        if (c->will) {
            if (v5)
                put_props(w, &c->will_props);
            put_bin(w, c->will_topic);
            put_bin(w, c->will_payload);
        }
        if (c->has_username)
            put_bin(w, c->username);
        if (c->has_password)
            put_bin(w, c->password);
        break;
    }
    case MQTT_CONNACK: {
        const mqtt_connack *c = &pkt->u.connack;
        put_u8(w, (uint8_t)(c->flags | (c->session_present ? 1 : 0)));
        put_u8(w, c->reason);
        if (v5)
            put_props(w, &c->props);
        break;
    }
    case MQTT_PUBLISH: {
        const mqtt_publish *p = &pkt->u.publish;
        *first |= (uint8_t)((p->dup ? 0x08 : 0) | (p->qos & 3) << 1 | (p->retain ? 1 : 0));
        put_bin(w, p->topic);
        if (p->qos & 3)
            put_u16(w, p->packet_id);
        if (v5)
            put_props(w, &p->props);
        put(w, p->payload.data, p->payload.len);
        break;
    }
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: {
        const mqtt_ack *a = &pkt->u.ack;
        put_u16(w, a->packet_id);
        if (v5)
            put_reason_props(w, a->reason, a->has_reason, &a->props);
        break;
    }
    case MQTT_SUBSCRIBE: {
        const mqtt_subscribe *s = &pkt->u.subscribe;
        put_u16(w, s->packet_id);
        if (v5)
            put_props(w, &s->props);
        for (uint32_t i = 0; i < s->count; i++) {
            const mqtt_sub *e = &s->subs[i];
            put_bin(w, e->filter);
            uint8_t o = (uint8_t)(e->options | (e->qos & 3));
            if (v5)
                o |= (uint8_t)((e->no_local ? 0x04 : 0) | (e->retain_as_published ? 0x08 : 0) |
                               (e->retain_handling & 3) << 4);
            put_u8(w, o);
        }
        break;
    }
    case MQTT_SUBACK: case MQTT_UNSUBACK: {
        const mqtt_suback *s = &pkt->u.suback;
        put_u16(w, s->packet_id);
        if (v5)
            put_props(w, &s->props);
        if (v5 || pkt->type == MQTT_SUBACK)
            put(w, s->reasons, s->count);
        break;
    }
    case MQTT_UNSUBSCRIBE: {
        const mqtt_unsubscribe *u = &pkt->u.unsubscribe;
        put_u16(w, u->packet_id);
        if (v5)
            put_props(w, &u->props);
        for (uint32_t i = 0; i < u->count; i++)
            put_bin(w, u->filters[i]);
        break;
    }
    case MQTT_DISCONNECT: case MQTT_AUTH: {
        const mqtt_disconnect *d = &pkt->u.disconnect;
        /* AUTH does not exist in 3.1.1, but when asked for one it goes out in
         * the 5.0 shape. */
        if (v5 || pkt->type == MQTT_AUTH)
            put_reason_props(w, d->reason, d->has_reason, &d->props);
        break;
    }
    default:
        /* PINGREQ, PINGRESP, and reserved types: a bare fixed header. */
        break;
    }
}

int mqtt_encode(const mqtt_packet *pkt, mqtt_buf *out)
{
    mqtt_buf body = { 0 };
    writer w = { &body, 0 };
    uint8_t first;
    enc_body(&w, pkt, &first);
    uint8_t hdr[5];
    int n = 0;
    if (!w.failed && body.len <= MQTT_MAX_REMAINING_LENGTH)
        n = mqtt_varint_encode((uint32_t)body.len, hdr + 1);
    int rc = -1;
    if (n > 0) {
        hdr[0] = first;
        size_t old = out->len;
        if (mqtt_buf_append(out, hdr, (size_t)n + 1) == 0 &&
            mqtt_buf_append(out, body.data, body.len) == 0)
            rc = 0;
        else
            out->len = old;
    }
    mqtt_buf_free(&body);
    return rc;
}
