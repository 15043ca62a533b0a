/* describe.c -- one-line packet descriptions for traces and failure reports.
 *
 * What it is for: `PUBLISH d1 q1 r0 id=7 topic="a/b" props={Message Expiry
 * Interval=10} payload="m1" (2 bytes)`: a line a broker developer can read
 * and compare with a wire capture. It shows what is on the wire: a 5.0 ack
 * without a reason byte prints no reason; strings are quoted with C-style
 * escapes for control bytes, quotes and invalid UTF-8; binary values that are
 * not printable text are shown as hex; long values are cut with "...".
 *
 * What it is not: a serialisation. The output is for people; nothing parses
 * it back, and its exact layout may change.
 */
#include "mqtt.h"

#include <stdarg.h>
#include <stdio.h>

#define STR_MAX 96      /* bytes of a string shown before "..." */
#define HEX_MAX 32      /* bytes of a binary value shown in hex before "..." */

typedef struct out {
    char *s;
    size_t cap;
    size_t n;           /* length wanted so far, as snprintf counts */
} out;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void add(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = o->n < o->cap ? o->s + o->n : NULL;
    size_t room = o->n < o->cap ? o->cap - o->n : 0;
    int k = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n += (size_t)k;
}

static void add_str(out *o, mqtt_bytes b)
{
    bool utf8 = mqtt_utf8_valid(b.data, b.len);
    uint32_t show = b.len;
    if (show > STR_MAX) {
        show = STR_MAX;
        /* Never cut a UTF-8 sequence in half. */
        while (utf8 && show > 0 && (b.data[show] & 0xC0) == 0x80)
            show--;
    }
    add(o, "\"");
    for (uint32_t i = 0; i < show; i++) {
        uint8_t c = b.data[i];
        switch (c) {
        case '"': add(o, "\\\""); break;
        case '\\': add(o, "\\\\"); break;
        case '\n': add(o, "\\n"); break;
        case '\r': add(o, "\\r"); break;
        case '\t': add(o, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8))
                add(o, "\\x%02x", c);
            else
                add(o, "%c", (char)c);
        }
    }
    add(o, "\"%s", show < b.len ? "..." : "");
}

static bool printable(mqtt_bytes b)
{
    if (!mqtt_utf8_valid(b.data, b.len))
        return false;
    for (uint32_t i = 0; i < b.len; i++) {
        uint8_t c = b.data[i];
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7F)
            return false;
    }
    return true;
}

static void add_bin(out *o, mqtt_bytes b)
{
    if (printable(b)) {
        add_str(o, b);
        return;
    }
    uint32_t show = b.len > HEX_MAX ? HEX_MAX : b.len;
    add(o, "0x");
    for (uint32_t i = 0; i < show; i++)
        add(o, "%02x", b.data[i]);
    if (show < b.len)
        add(o, "...");
}

static void add_props(out *o, const mqtt_props *p)
{
    if (p->count == 0)
        return;
    add(o, " props={");
    for (uint32_t i = 0; i < p->count; i++) {
        const mqtt_prop *it = &p->items[i];
        const char *name = mqtt_prop_name(it->id);
        if (i)
            add(o, ", ");
        if (name)
            add(o, "%s=", name);
        else
            add(o, "0x%02X=", it->id);
        switch (mqtt_prop_type(it->id)) {
        case MQTT_PT_BYTE: case MQTT_PT_U16: case MQTT_PT_U32: case MQTT_PT_VARINT:
            add(o, "%u", it->num);
            break;
        case MQTT_PT_STRING:
            add_str(o, it->str);
            break;
        case MQTT_PT_PAIR:
            add_str(o, it->str);
            add(o, ":");
            add_str(o, it->str2);
            break;
        default:
            add_bin(o, it->str);
        }
    }
    add(o, "}");
}

static void add_reason(out *o, uint8_t reason, uint8_t type, uint8_t version)
{
    add(o, " reason=0x%02X (%s)", reason, mqtt_reason_name(reason, type, version));
}

static void add_payload(out *o, const char *label, mqtt_bytes b)
{
    add(o, " %s=", label);
    add_bin(o, b);
    add(o, " (%u byte%s)", b.len, b.len == 1 ? "" : "s");
}

int mqtt_describe(const mqtt_packet *pkt, char *buf, size_t cap)
{
    out o = { buf, cap, 0 };
    uint8_t t = pkt->type, v = pkt->version;
    bool v5 = v >= MQTT_V5;
    if (cap > 0)
        buf[0] = '\0';
    add(&o, "%s", mqtt_type_name(t));
    switch (t) {
    case MQTT_CONNECT: {
        const mqtt_connect *c = &pkt->u.connect;
        add(&o, " v%u", c->protocol_level ? c->protocol_level : v);
        if (c->protocol_name.data && !mqtt_bytes_eq(c->protocol_name, mqtt_str("MQTT"))) {
            add(&o, " name=");
            add_str(&o, c->protocol_name);
        }
        add(&o, " clean=%d keep_alive=%u", c->clean_start, c->keep_alive);
        if (c->flags & 0x01)
            add(&o, " reserved=1");
        add(&o, " client_id=");
        add_str(&o, c->client_id);
        add_props(&o, &c->props);
        if (c->will) {
            add(&o, " will={q%u r%d topic=", c->will_qos, c->will_retain);
            add_str(&o, c->will_topic);
            add_props(&o, &c->will_props);
            add_payload(&o, "payload", c->will_payload);
            add(&o, "}");
        }
        if (c->has_username) {
            add(&o, " username=");
            add_str(&o, c->username);
        }
        /* Descriptions end up in logs and in reports handed to others: the
         * length says whether a password went out, never what it was. */
        if (c->has_password)
            add(&o, " password=(%u bytes, hidden)", (unsigned)c->password.len);
        break;
    }
    case MQTT_CONNACK: {
        const mqtt_connack *c = &pkt->u.connack;
        add(&o, " sp=%d", c->session_present);
        if (c->flags & 0xFE)
            add(&o, " flags=0x%02X", c->flags);
        add_reason(&o, c->reason, t, v);
        add_props(&o, &c->props);
        break;
    }
    case MQTT_PUBLISH: {
        const mqtt_publish *p = &pkt->u.publish;
        add(&o, " d%d q%u r%d", p->dup, p->qos, p->retain);
        if (p->qos)
            add(&o, " id=%u", p->packet_id);
        add(&o, " topic=");
        add_str(&o, p->topic);
        add_props(&o, &p->props);
        add_payload(&o, "payload", p->payload);
        break;
    }
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: {
        const mqtt_ack *a = &pkt->u.ack;
        add(&o, " id=%u", a->packet_id);
        if (v5 && (a->has_reason || a->reason || a->props.count))
            add_reason(&o, a->reason, t, v);
        add_props(&o, &a->props);
        break;
    }
    case MQTT_SUBSCRIBE: {
        const mqtt_subscribe *s = &pkt->u.subscribe;
        add(&o, " id=%u", s->packet_id);
        add_props(&o, &s->props);
        add(&o, " filters=[");
        for (uint32_t i = 0; i < s->count; i++) {
            const mqtt_sub *e = &s->subs[i];
            add(&o, "%s", i ? ", " : "");
            add_str(&o, e->filter);
            add(&o, " q%u", e->qos);
            if (v5)
                add(&o, " nl%d rap%d rh%u", e->no_local, e->retain_as_published,
                    e->retain_handling);
        }
        add(&o, "]");
        break;
    }
    case MQTT_SUBACK: case MQTT_UNSUBACK: {
        const mqtt_suback *s = &pkt->u.suback;
        add(&o, " id=%u", s->packet_id);
        add_props(&o, &s->props);
        if (t == MQTT_SUBACK || v5) {
            add(&o, " reasons=[");
            for (uint32_t i = 0; i < s->count; i++)
                add(&o, "%s0x%02X (%s)", i ? ", " : "", s->reasons[i],
                    mqtt_reason_name(s->reasons[i], t, v));
            add(&o, "]");
        }
        break;
    }
    case MQTT_UNSUBSCRIBE: {
        const mqtt_unsubscribe *u = &pkt->u.unsubscribe;
        add(&o, " id=%u", u->packet_id);
        add_props(&o, &u->props);
        add(&o, " filters=[");
        for (uint32_t i = 0; i < u->count; i++) {
            add(&o, "%s", i ? ", " : "");
            add_str(&o, u->filters[i]);
        }
        add(&o, "]");
        break;
    }
    case MQTT_DISCONNECT: case MQTT_AUTH: {
        const mqtt_disconnect *d = &pkt->u.disconnect;
        if (d->has_reason || d->reason || d->props.count)
            add_reason(&o, d->reason, t, v);
        add_props(&o, &d->props);
        break;
    }
    default:
        break;
    }
    return o.n > (size_t)0x7FFFFFFF ? 0x7FFFFFFF : (int)o.n;
}
