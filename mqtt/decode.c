/* decode.c -- framing and decoding of MQTT 3.1.1 and 5.0 control packets.
 *
 * What it is for: turning the bytes of one packet into an mqtt_packet, and
 * saying precisely why when that is not possible. Two kinds of failure are
 * kept apart, as 5.0 §4.13 does:
 *   MQTT_MALFORMED (0x81)  the bytes cannot be parsed by the standard: bad
 *                          fixed-header flags, lengths that do not add up,
 *                          invalid UTF-8, QoS 3, reserved bits set ...
 *   MQTT_PROTOCOL_ERROR    the packet parses but breaks a rule: duplicate or
 *                          misplaced properties, a packet this side must never
 *                          receive, packet identifier 0, no subscriptions ...
 *                          err->reason is 0x82 or a more specific code (0x84
 *                          unsupported protocol version, 0x94 Topic Alias 0,
 *                          0x90 wildcard in a topic name).
 * Parsing goes on after a protocol error so that a malformation later in the
 * same packet is still reported: malformed wins, then the first protocol
 * error found.
 *
 * Choices the standard leaves open, made here and relied on by the tests:
 *   - Packet identifier 0 where one is required is a protocol error (0x82):
 *     [MQTT-2.2.1-3] is a rule about values, not about the layout.
 *   - A reason code not listed for the packet type is a protocol error.
 *   - Variable Byte Integers that do not use the fewest bytes are malformed.
 *   - Topic filters in SUBSCRIBE/UNSUBSCRIBE are only checked as UTF-8: a 5.0
 *     server answers a bad filter with SUBACK 0x8F, so the packet must decode.
 *   - A PUBLISH topic with wildcards is a protocol error with reason 0x90,
 *     a Will Topic likewise. Payload Format Indicator 1 with a payload that is
 *     not UTF-8 is left to the receiver, which answers it with 0x99.
 *   - On any error pkt->type (and for CONNECT pkt->version, once the level is
 *     read) is still set so that the caller can pick its answer; nothing in
 *     pkt needs freeing.
 *
 * What it is not: session state. Rules that need memory of earlier packets
 * (Topic Alias above the maximum, a second CONNECT, unknown packet ids,
 * Receive Maximum) belong to the broker and the raw driver.
 */
#include "mqtt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mqtt_reason_valid_in(uint8_t reason, uint8_t packet_type, uint8_t version); /* names.c */

typedef struct reader {
    const uint8_t *p;
    size_t n;               /* bytes left */
    mqtt_error *err;
    bool proto;             /* a protocol error has been recorded */
    uint8_t type;
    uint8_t version;
    bool is_server;
} reader;

#define TRY(x) do { mqtt_status s_ = (x); if (s_ != MQTT_OK) return s_; } while (0)

static void set_why(mqtt_error *err, const char *fmt, va_list ap)
{
    vsnprintf(err->why, sizeof err->why, fmt, ap);
}

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static mqtt_status malformed(reader *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static mqtt_status malformed(reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->err->status = MQTT_MALFORMED;
    r->err->reason = MQTT_RC_MALFORMED;
    set_why(r->err, fmt, ap);
    va_end(ap);
    return MQTT_MALFORMED;
}

static void protocol_error(reader *r, uint8_t reason, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void protocol_error(reader *r, uint8_t reason, const char *fmt, ...)
{
    if (r->proto)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->proto = true;
    r->err->status = MQTT_PROTOCOL_ERROR;
    r->err->reason = reason;
    set_why(r->err, fmt, ap);
    va_end(ap);
}

static mqtt_status nomem(reader *r)
{
    r->err->status = MQTT_NOMEM;
    r->err->reason = MQTT_RC_UNSPECIFIED;
    snprintf(r->err->why, sizeof r->err->why, "out of memory");
    return MQTT_NOMEM;
}

/* ---- primitive readers -------------------------------------------------- */

static mqtt_status rd_u8(reader *r, uint8_t *v, const char *what)
{
    if (r->n < 1)
        return malformed(r, "%s ends before the %s", mqtt_type_name(r->type), what);
    *v = r->p[0];
    r->p++, r->n--;
    return MQTT_OK;
}

static mqtt_status rd_u16(reader *r, uint16_t *v, const char *what)
{
    if (r->n < 2)
        return malformed(r, "%s ends inside the %s", mqtt_type_name(r->type), what);
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2, r->n -= 2;
    return MQTT_OK;
}

static mqtt_status rd_u32(reader *r, uint32_t *v, const char *what)
{
    if (r->n < 4)
        return malformed(r, "%s ends inside the %s", mqtt_type_name(r->type), what);
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4, r->n -= 4;
    return MQTT_OK;
}

static mqtt_status rd_varint(reader *r, uint32_t *v, const char *what)
{
    int used = mqtt_varint_decode(r->p, r->n, v);
    if (used == 0)
        return malformed(r, "%s ends inside the %s", mqtt_type_name(r->type), what);
    if (used < 0)
        return malformed(r, "%s: bad Variable Byte Integer in the %s (over 4 bytes or not minimal)",
                         mqtt_type_name(r->type), what);
    r->p += used, r->n -= (size_t)used;
    return MQTT_OK;
}

static mqtt_status rd_bin(reader *r, mqtt_bytes *b, const char *what)
{
    uint16_t len = 0;
    TRY(rd_u16(r, &len, what));
    if (r->n < len)
        return malformed(r, "%s: the %s says %u bytes but only %zu remain",
                         mqtt_type_name(r->type), what, len, r->n);
    b->data = r->p;
    b->len = len;
    r->p += len, r->n -= len;
    return MQTT_OK;
}

static mqtt_status rd_str(reader *r, mqtt_bytes *b, const char *what)
{
    TRY(rd_bin(r, b, what));
    if (!mqtt_utf8_valid(b->data, b->len))
        return malformed(r, "%s: the %s is not valid UTF-8 (or contains U+0000 or a surrogate)",
                         mqtt_type_name(r->type), what);
    return MQTT_OK;
}

static mqtt_status rd_packet_id(reader *r, uint16_t *id)
{
    TRY(rd_u16(r, id, "Packet Identifier"));
    if (*id == 0)
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%s has Packet Identifier 0",
                       mqtt_type_name(r->type));
    return MQTT_OK;
}

static void check_reason(reader *r, uint8_t reason)
{
    if (!mqtt_reason_valid_in(reason, r->type, r->version))
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%s cannot carry reason code 0x%02X",
                       mqtt_type_name(r->type), reason);
}

/* ---- properties ----------------------------------------------------------- */

static bool may_repeat(uint8_t id, uint8_t type)
{
    return id == MQTT_PROP_USER_PROPERTY ||
           (id == MQTT_PROP_SUBSCRIPTION_ID && type == MQTT_PUBLISH);
}

/* Stateless rules on single values (5.0 §3.x "It is a Protocol Error ..."). */
static void check_value(reader *r, const mqtt_prop *p, bool will)
{
    const char *name = mqtt_prop_name(p->id);
    switch (p->id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
    case MQTT_PROP_MAXIMUM_QOS:
    case MQTT_PROP_RETAIN_AVAILABLE:
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
    case MQTT_PROP_SUB_ID_AVAILABLE:
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        if (p->num > 1)
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%s %u is neither 0 nor 1", name, p->num);
        break;
    case MQTT_PROP_RECEIVE_MAXIMUM:
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
    case MQTT_PROP_SUBSCRIPTION_ID:
        if (p->num == 0)
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%s of 0", name);
        break;
    case MQTT_PROP_TOPIC_ALIAS:
        if (p->num == 0)
            protocol_error(r, MQTT_RC_TOPIC_ALIAS_INVALID, "Topic Alias of 0");
        break;
    case MQTT_PROP_RESPONSE_TOPIC:
        if (!mqtt_topic_name_valid(p->str))
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%sResponse Topic is not a valid topic name",
                           will ? "Will " : "");
        break;
    default:
        break;
    }
}

static mqtt_status rd_props(reader *r, mqtt_props *out, bool will)
{
    const char *ctx = will ? "Will Properties" : "properties";
    uint32_t len = 0;
    TRY(rd_varint(r, &len, will ? "Will Property Length" : "Property Length"));
    if (len > r->n)
        return malformed(r, "%s: Property Length %u exceeds the %zu bytes left",
                         mqtt_type_name(r->type), len, r->n);
    reader sub = *r;
    sub.n = len;
    mqtt_status st = MQTT_OK;
    while (sub.n > 0) {
        uint32_t id = 0;
        if ((st = rd_varint(&sub, &id, "property identifier")) != MQTT_OK)
            break;
        int type = id <= 0xFF ? mqtt_prop_type((uint8_t)id) : -1;
        if (type < 0) {
            st = malformed(&sub, "%s: unknown property identifier 0x%02X in %s",
                           mqtt_type_name(r->type), id, ctx);
            break;
        }
        mqtt_prop p = { .id = (uint8_t)id };
        const char *name = mqtt_prop_name(p.id);
        uint8_t b8 = 0;
        uint16_t b16 = 0;
        switch (type) {
        case MQTT_PT_BYTE:
            if ((st = rd_u8(&sub, &b8, name)) == MQTT_OK)
                p.num = b8;
            break;
        case MQTT_PT_U16:
            if ((st = rd_u16(&sub, &b16, name)) == MQTT_OK)
                p.num = b16;
            break;
        case MQTT_PT_U32:
            st = rd_u32(&sub, &p.num, name);
            break;
        case MQTT_PT_VARINT:
            st = rd_varint(&sub, &p.num, name);
            break;
        case MQTT_PT_STRING:
            st = rd_str(&sub, &p.str, name);
            break;
        case MQTT_PT_BINARY:
            st = rd_bin(&sub, &p.str, name);
            break;
        case MQTT_PT_PAIR:
            if ((st = rd_str(&sub, &p.str, "User Property name")) == MQTT_OK)
                st = rd_str(&sub, &p.str2, "User Property value");
            break;
        }
        if (st != MQTT_OK)
            break;
        if (!mqtt_prop_allowed(p.id, r->type, will))
            protocol_error(&sub, MQTT_RC_PROTOCOL_ERROR, "%s is not allowed in %s%s", name,
                           will ? "the Will Properties of " : "", mqtt_type_name(r->type));
        else if (!may_repeat(p.id, r->type) && mqtt_props_find(out, p.id))
            protocol_error(&sub, MQTT_RC_PROTOCOL_ERROR, "duplicate %s in %s", name,
                           mqtt_type_name(r->type));
        check_value(&sub, &p, will);
        if (mqtt_props_add_num(out, p.id, 0) != 0) {
            st = nomem(&sub);
            break;
        }
        out->items[out->count - 1] = p;
    }
    r->proto = sub.proto;
    if (st != MQTT_OK)
        return st;
    r->p += len, r->n -= len;
    return MQTT_OK;
}

/* ---- packets ---------------------------------------------------------------- */

static mqtt_status dec_connect(reader *r, mqtt_packet *pkt)
{
    mqtt_connect *c = &pkt->u.connect;
    TRY(rd_bin(r, &c->protocol_name, "Protocol Name"));
    TRY(rd_u8(r, &c->protocol_level, "Protocol Level"));
    pkt->version = c->protocol_level;
    r->version = c->protocol_level;
    bool name_ok = mqtt_bytes_eq(c->protocol_name, mqtt_str("MQTT"));
    if (!name_ok || (c->protocol_level != MQTT_V311 && c->protocol_level != MQTT_V5)) {
        /* Nothing past this point can be read with confidence. */
        r->err->status = MQTT_PROTOCOL_ERROR;
        r->err->reason = MQTT_RC_UNSUPPORTED_VERSION;
        if (!name_ok)
            snprintf(r->err->why, sizeof r->err->why,
                     "CONNECT protocol name is not \"MQTT\" (level %u)", c->protocol_level);
        else
            snprintf(r->err->why, sizeof r->err->why,
                     "CONNECT protocol level %u is not supported (4 or 5)", c->protocol_level);
        return MQTT_PROTOCOL_ERROR;
    }
    bool v5 = c->protocol_level == MQTT_V5;
    TRY(rd_u8(r, &c->flags, "Connect Flags"));
    uint8_t f = c->flags;
    if (f & 0x01)
        return malformed(r, "CONNECT reserved flag (bit 0) is set");
    c->clean_start = f & 0x02;
    c->will = f & 0x04;
    c->will_qos = (f >> 3) & 3;
    c->will_retain = f & 0x20;
    c->has_password = f & 0x40;
    c->has_username = f & 0x80;
    if (c->will_qos == 3)
        return malformed(r, "CONNECT Will QoS is 3");
    if (!c->will && (c->will_qos || c->will_retain))
        return malformed(r, "CONNECT Will Flag is 0 but Will QoS or Will Retain is set");
    if (!v5 && c->has_password && !c->has_username)
        return malformed(r, "CONNECT Password Flag is set without the User Name Flag (3.1.1)");
    TRY(rd_u16(r, &c->keep_alive, "Keep Alive"));
    if (v5) {
        TRY(rd_props(r, &c->props, false));
        if (mqtt_props_find(&c->props, MQTT_PROP_AUTH_DATA) &&
            !mqtt_props_find(&c->props, MQTT_PROP_AUTH_METHOD))
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                           "CONNECT has Authentication Data without Authentication Method");
    }
    TRY(rd_str(r, &c->client_id, "Client Identifier"));
    if (c->will) {
        if (v5)
            TRY(rd_props(r, &c->will_props, true));
        TRY(rd_str(r, &c->will_topic, "Will Topic"));
        if (!mqtt_topic_name_valid(c->will_topic))
            protocol_error(r, MQTT_RC_TOPIC_NAME_INVALID,
                           "CONNECT Will Topic is empty or contains a wildcard");
        TRY(rd_bin(r, &c->will_payload, "Will Payload"));
    }
    if (c->has_username)
        TRY(rd_str(r, &c->username, "User Name"));
    if (c->has_password)
        TRY(rd_bin(r, &c->password, "Password"));
    return MQTT_OK;
}

static mqtt_status dec_connack(reader *r, mqtt_packet *pkt)
{
    mqtt_connack *c = &pkt->u.connack;
    TRY(rd_u8(r, &c->flags, "Connect Acknowledge Flags"));
    if (c->flags & 0xFE)
        return malformed(r, "CONNACK reserved acknowledge flag bits 7-1 are set (0x%02X)", c->flags);
    c->session_present = c->flags & 1;
    TRY(rd_u8(r, &c->reason, r->version == MQTT_V5 ? "Reason Code" : "Return Code"));
    if (r->version == MQTT_V5)
        TRY(rd_props(r, &c->props, false));
    check_reason(r, c->reason);
    if (c->session_present && c->reason != 0)
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                       "CONNACK has Session Present 1 with a non-zero reason code");
    return MQTT_OK;
}

static mqtt_status dec_publish(reader *r, mqtt_packet *pkt, uint8_t flags)
{
    mqtt_publish *p = &pkt->u.publish;
    p->dup = flags & 0x08;
    p->qos = (flags >> 1) & 3;
    p->retain = flags & 1;
    if (p->qos == 3)
        return malformed(r, "PUBLISH QoS is 3");
    if (p->qos == 0 && p->dup)
        return malformed(r, "PUBLISH QoS 0 with DUP 1 [MQTT-3.3.1-2]");
    TRY(rd_str(r, &p->topic, "Topic Name"));
    if (p->qos > 0)
        TRY(rd_packet_id(r, &p->packet_id));
    if (r->version == MQTT_V5) {
        TRY(rd_props(r, &p->props, false));
        if (r->is_server && mqtt_props_find(&p->props, MQTT_PROP_SUBSCRIPTION_ID))
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                           "PUBLISH from a client carries a Subscription Identifier");
    }
    if (p->topic.len == 0) {
        if (r->version != MQTT_V5)
            protocol_error(r, MQTT_RC_TOPIC_NAME_INVALID, "PUBLISH Topic Name is empty");
        else if (!mqtt_props_find(&p->props, MQTT_PROP_TOPIC_ALIAS))
            protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                           "PUBLISH Topic Name is empty and there is no Topic Alias");
    } else if (!mqtt_topic_name_valid(p->topic)) {
        protocol_error(r, MQTT_RC_TOPIC_NAME_INVALID, "PUBLISH Topic Name contains a wildcard");
    }
    p->payload.data = r->p;
    p->payload.len = (uint32_t)r->n;
    r->p += r->n, r->n = 0;
    return MQTT_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP, and the 5.0 layout shared with DISCONNECT
 * and AUTH: an optional reason byte, then optional properties. */
static mqtt_status rd_reason_props(reader *r, uint8_t *reason, bool *has_reason, mqtt_props *props)
{
    *reason = 0;
    *has_reason = false;
    if (r->n == 0)
        return MQTT_OK;
    TRY(rd_u8(r, reason, "Reason Code"));
    *has_reason = true;
    if (r->n > 0)
        TRY(rd_props(r, props, false));
    check_reason(r, *reason);
    return MQTT_OK;
}

static mqtt_status dec_ack(reader *r, mqtt_packet *pkt)
{
    mqtt_ack *a = &pkt->u.ack;
    TRY(rd_packet_id(r, &a->packet_id));
    if (r->version == MQTT_V5)
        TRY(rd_reason_props(r, &a->reason, &a->has_reason, &a->props));
    return MQTT_OK;
}

static mqtt_status dec_subscribe(reader *r, mqtt_packet *pkt)
{
    mqtt_subscribe *s = &pkt->u.subscribe;
    bool v5 = r->version == MQTT_V5;
    TRY(rd_packet_id(r, &s->packet_id));
    if (v5)
        TRY(rd_props(r, &s->props, false));
    uint32_t cap = 0;
    while (r->n > 0) {
        mqtt_sub e;
        memset(&e, 0, sizeof e);
        TRY(rd_str(r, &e.filter, "Topic Filter"));
        TRY(rd_u8(r, &e.options, "Subscription Options"));
        if (e.options & (v5 ? 0xC0 : 0xFC))
            return malformed(r, "SUBSCRIBE reserved bits set in Subscription Options 0x%02X",
                             e.options);
        e.qos = e.options & 3;
        if (e.qos == 3)
            return malformed(r, "SUBSCRIBE requests QoS 3");
        if (v5) {
            e.no_local = e.options & 0x04;
            e.retain_as_published = e.options & 0x08;
            e.retain_handling = (e.options >> 4) & 3;
            if (e.retain_handling == 3)
                protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "SUBSCRIBE Retain Handling is 3");
            if (e.no_local && mqtt_shared_split(e.filter, NULL, NULL))
                protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                               "SUBSCRIBE sets No Local on a shared subscription");
        }
        if (s->count == cap) {
            uint32_t ncap = cap ? cap * 2 : 4;
            mqtt_sub *n = realloc(s->subs, ncap * sizeof *n);
            if (!n)
                return nomem(r);
            s->subs = n;
            cap = ncap;
        }
        s->subs[s->count++] = e;
    }
    if (s->count == 0)
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "SUBSCRIBE has no Topic Filters");
    return MQTT_OK;
}

static mqtt_status dec_suback(reader *r, mqtt_packet *pkt)
{
    mqtt_suback *s = &pkt->u.suback;
    TRY(rd_packet_id(r, &s->packet_id));
    if (r->version == MQTT_V5)
        TRY(rd_props(r, &s->props, false));
    if (r->type == MQTT_UNSUBACK && r->version != MQTT_V5)
        return MQTT_OK;
    if (r->n > 0) {
        s->reasons = malloc(r->n);
        if (!s->reasons)
            return nomem(r);
        memcpy(s->reasons, r->p, r->n);
        s->count = (uint32_t)r->n;
        r->p += r->n, r->n = 0;
    }
    for (uint32_t i = 0; i < s->count; i++)
        check_reason(r, s->reasons[i]);
    if (s->count == 0)
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "%s has no reason codes", mqtt_type_name(r->type));
    return MQTT_OK;
}

static mqtt_status dec_unsubscribe(reader *r, mqtt_packet *pkt)
{
    mqtt_unsubscribe *u = &pkt->u.unsubscribe;
    TRY(rd_packet_id(r, &u->packet_id));
    if (r->version == MQTT_V5)
        TRY(rd_props(r, &u->props, false));
    uint32_t cap = 0;
    while (r->n > 0) {
        mqtt_bytes f;
        TRY(rd_str(r, &f, "Topic Filter"));
        if (u->count == cap) {
            uint32_t ncap = cap ? cap * 2 : 4;
            mqtt_bytes *n = realloc(u->filters, ncap * sizeof *n);
            if (!n)
                return nomem(r);
            u->filters = n;
            cap = ncap;
        }
        u->filters[u->count++] = f;
    }
    if (u->count == 0)
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR, "UNSUBSCRIBE has no Topic Filters");
    return MQTT_OK;
}

static mqtt_status dec_disconnect(reader *r, mqtt_packet *pkt)
{
    mqtt_disconnect *d = &pkt->u.disconnect;
    if (r->version != MQTT_V5)
        return MQTT_OK;
    TRY(rd_reason_props(r, &d->reason, &d->has_reason, &d->props));
    if (r->type == MQTT_DISCONNECT && !r->is_server &&
        mqtt_props_find(&d->props, MQTT_PROP_SESSION_EXPIRY))
        protocol_error(r, MQTT_RC_PROTOCOL_ERROR,
                       "DISCONNECT from the server carries a Session Expiry Interval");
    return MQTT_OK;
}

/* ---- entry points ------------------------------------------------------------ */

mqtt_status mqtt_frame(const uint8_t *buf, size_t len, uint32_t *header_len,
                       uint32_t *remaining_len)
{
    if (len < 2)
        return MQTT_INCOMPLETE;
    int used = mqtt_varint_decode(buf + 1, len - 1, remaining_len);
    if (used == 0)
        return MQTT_INCOMPLETE;
    if (used < 0)
        return MQTT_MALFORMED;
    *header_len = 1 + (uint32_t)used;
    return MQTT_OK;
}

/* The flags nibble every type but PUBLISH must carry (3.1.1/5.0 §2.1.3). */
static uint8_t required_flags(uint8_t type)
{
    return type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ? 2 : 0;
}

static bool never_received(uint8_t type, bool is_server, uint8_t version)
{
    if (is_server)
        return type == MQTT_CONNACK || type == MQTT_SUBACK || type == MQTT_UNSUBACK ||
               type == MQTT_PINGRESP;
    /* A 3.1.1 server has no DISCONNECT to send (3.1.1 §3.14). */
    return type == MQTT_CONNECT || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE ||
           type == MQTT_PINGREQ || (type == MQTT_DISCONNECT && version == MQTT_V311);
}

mqtt_status mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, bool is_server,
                        mqtt_packet *pkt, mqtt_error *err)
{
    memset(pkt, 0, sizeof *pkt);
    memset(err, 0, sizeof *err);
    reader r = { .err = err, .is_server = is_server, .version = version };

    uint32_t hlen = 0, rlen = 0;
    mqtt_status st = len > 0 ? mqtt_frame(buf, len, &hlen, &rlen) : MQTT_INCOMPLETE;
    if (len > 0)
        r.type = pkt->type = buf[0] >> 4;
    if (st == MQTT_INCOMPLETE)
        return malformed(&r, "a %zu-byte packet ends inside its fixed header", len);
    if (st != MQTT_OK)
        return malformed(&r, "Remaining Length is longer than 4 bytes or not minimal");
    if ((size_t)hlen + rlen != len)
        return malformed(&r, "Remaining Length %u does not match the %zu bytes after the fixed header",
                         rlen, len - hlen);

    uint8_t type = r.type, flags = buf[0] & 0x0F;
    if (type != MQTT_CONNECT) {
        if (version != MQTT_V311 && version != MQTT_V5) {
            /* The connection has no CONNECT yet (or the caller lost it): any
             * other first packet is a protocol error [MQTT-3.1.0-1]. */
            err->status = MQTT_PROTOCOL_ERROR;
            err->reason = MQTT_RC_PROTOCOL_ERROR;
            snprintf(err->why, sizeof err->why,
                     "%s before CONNECT (protocol version %u is unknown)", mqtt_type_name(type),
                     version);
            return MQTT_PROTOCOL_ERROR;
        }
        pkt->version = version;
    }
    if (type == 0)
        return malformed(&r, "packet type 0 is reserved");
    if (type == MQTT_AUTH && version == MQTT_V311)
        return malformed(&r, "packet type 15 (AUTH) is reserved in MQTT 3.1.1");
    if (type != MQTT_PUBLISH && flags != required_flags(type))
        return malformed(&r, "%s fixed header flags are 0x%X, must be 0x%X", mqtt_type_name(type),
                         flags, required_flags(type));
    if (never_received(type, is_server, version))
        protocol_error(&r, MQTT_RC_PROTOCOL_ERROR, "a %s never receives %s",
                       is_server ? "server" : "client", mqtt_type_name(type));

    r.p = buf + hlen;
    r.n = rlen;
    switch (type) {
    case MQTT_CONNECT: st = dec_connect(&r, pkt); break;
    case MQTT_CONNACK: st = dec_connack(&r, pkt); break;
    case MQTT_PUBLISH: st = dec_publish(&r, pkt, flags); break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        st = dec_ack(&r, pkt);
        break;
    case MQTT_SUBSCRIBE: st = dec_subscribe(&r, pkt); break;
    case MQTT_SUBACK: case MQTT_UNSUBACK: st = dec_suback(&r, pkt); break;
    case MQTT_UNSUBSCRIBE: st = dec_unsubscribe(&r, pkt); break;
    case MQTT_PINGREQ: case MQTT_PINGRESP: st = MQTT_OK; break;
    case MQTT_DISCONNECT: case MQTT_AUTH: st = dec_disconnect(&r, pkt); break;
    }
    if (st == MQTT_OK && r.n > 0)
        st = malformed(&r, "%s has %zu unexpected byte%s at its end", mqtt_type_name(type), r.n,
                       r.n == 1 ? "" : "s");
    if (st == MQTT_OK && r.proto)
        st = MQTT_PROTOCOL_ERROR;
    if (st != MQTT_OK) {
        uint8_t t = pkt->type, v = pkt->version;
        mqtt_packet_free(pkt);
        memset(pkt, 0, sizeof *pkt);
        pkt->type = t;
        pkt->version = v;
    }
    return st;
}

void mqtt_packet_free(mqtt_packet *pkt)
{
    switch (pkt->type) {
    case MQTT_CONNECT:
        mqtt_props_free(&pkt->u.connect.props);
        mqtt_props_free(&pkt->u.connect.will_props);
        break;
    case MQTT_CONNACK:
        mqtt_props_free(&pkt->u.connack.props);
        break;
    case MQTT_PUBLISH:
        mqtt_props_free(&pkt->u.publish.props);
        break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        mqtt_props_free(&pkt->u.ack.props);
        break;
    case MQTT_SUBSCRIBE:
        mqtt_props_free(&pkt->u.subscribe.props);
        free(pkt->u.subscribe.subs);
        pkt->u.subscribe.subs = NULL;
        pkt->u.subscribe.count = 0;
        break;
    case MQTT_SUBACK: case MQTT_UNSUBACK:
        mqtt_props_free(&pkt->u.suback.props);
        free(pkt->u.suback.reasons);
        pkt->u.suback.reasons = NULL;
        pkt->u.suback.count = 0;
        break;
    case MQTT_UNSUBSCRIBE:
        mqtt_props_free(&pkt->u.unsubscribe.props);
        free(pkt->u.unsubscribe.filters);
        pkt->u.unsubscribe.filters = NULL;
        pkt->u.unsubscribe.count = 0;
        break;
    case MQTT_DISCONNECT: case MQTT_AUTH:
        mqtt_props_free(&pkt->u.disconnect.props);
        break;
    default:
        break;
    }
}
