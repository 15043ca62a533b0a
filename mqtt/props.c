/* props.c -- the MQTT 5.0 property table and property lists.
 *
 * What it is for: knowing each property identifier of 5.0 §2.2.2.2: its wire
 * type, its name, and in which packets (and in the Will Properties) it may
 * appear; and the small helpers that build, search and free mqtt_props lists.
 *
 * What it is not: the wire format of a property block. Decoding (with the
 * duplicate and placement checks) lives in decode.c, encoding in encode.c.
 * Nothing here judges a value.
 */
#include "mqtt.h"

#include <stdlib.h>

#define PK(t) (1u << (t))
#define WILL (1u << 16)     /* "Will Properties" as a pseudo packet type */

static const struct prop_info {
    uint8_t id;
    uint8_t type;
    const char *name;
    uint32_t where;
} props[] = {
    { MQTT_PROP_PAYLOAD_FORMAT, MQTT_PT_BYTE, "Payload Format Indicator", PK(MQTT_PUBLISH) | WILL },
    { MQTT_PROP_MESSAGE_EXPIRY, MQTT_PT_U32, "Message Expiry Interval", PK(MQTT_PUBLISH) | WILL },
    { MQTT_PROP_CONTENT_TYPE, MQTT_PT_STRING, "Content Type", PK(MQTT_PUBLISH) | WILL },
    { MQTT_PROP_RESPONSE_TOPIC, MQTT_PT_STRING, "Response Topic", PK(MQTT_PUBLISH) | WILL },
    { MQTT_PROP_CORRELATION_DATA, MQTT_PT_BINARY, "Correlation Data", PK(MQTT_PUBLISH) | WILL },
    { MQTT_PROP_SUBSCRIPTION_ID, MQTT_PT_VARINT, "Subscription Identifier",
      PK(MQTT_PUBLISH) | PK(MQTT_SUBSCRIBE) },
    { MQTT_PROP_SESSION_EXPIRY, MQTT_PT_U32, "Session Expiry Interval",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { MQTT_PROP_ASSIGNED_CLIENT_ID, MQTT_PT_STRING, "Assigned Client Identifier", PK(MQTT_CONNACK) },
    { MQTT_PROP_SERVER_KEEP_ALIVE, MQTT_PT_U16, "Server Keep Alive", PK(MQTT_CONNACK) },
    { MQTT_PROP_AUTH_METHOD, MQTT_PT_STRING, "Authentication Method",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) | PK(MQTT_AUTH) },
    { MQTT_PROP_AUTH_DATA, MQTT_PT_BINARY, "Authentication Data",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) | PK(MQTT_AUTH) },
    { MQTT_PROP_REQUEST_PROBLEM_INFO, MQTT_PT_BYTE, "Request Problem Information", PK(MQTT_CONNECT) },
    { MQTT_PROP_WILL_DELAY, MQTT_PT_U32, "Will Delay Interval", WILL },
    { MQTT_PROP_REQUEST_RESPONSE_INFO, MQTT_PT_BYTE, "Request Response Information", PK(MQTT_CONNECT) },
    { MQTT_PROP_RESPONSE_INFO, MQTT_PT_STRING, "Response Information", PK(MQTT_CONNACK) },
    { MQTT_PROP_SERVER_REFERENCE, MQTT_PT_STRING, "Server Reference",
      PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { MQTT_PROP_REASON_STRING, MQTT_PT_STRING, "Reason String",
      PK(MQTT_CONNACK) | PK(MQTT_PUBACK) | PK(MQTT_PUBREC) | PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP) |
      PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK) | PK(MQTT_DISCONNECT) | PK(MQTT_AUTH) },
    { MQTT_PROP_RECEIVE_MAXIMUM, MQTT_PT_U16, "Receive Maximum", PK(MQTT_CONNECT) | PK(MQTT_CONNACK) },
    { MQTT_PROP_TOPIC_ALIAS_MAXIMUM, MQTT_PT_U16, "Topic Alias Maximum",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) },
    { MQTT_PROP_TOPIC_ALIAS, MQTT_PT_U16, "Topic Alias", PK(MQTT_PUBLISH) },
    { MQTT_PROP_MAXIMUM_QOS, MQTT_PT_BYTE, "Maximum QoS", PK(MQTT_CONNACK) },
    { MQTT_PROP_RETAIN_AVAILABLE, MQTT_PT_BYTE, "Retain Available", PK(MQTT_CONNACK) },
    { MQTT_PROP_USER_PROPERTY, MQTT_PT_PAIR, "User Property",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) | PK(MQTT_PUBLISH) | WILL | PK(MQTT_PUBACK) |
      PK(MQTT_PUBREC) | PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP) | PK(MQTT_SUBSCRIBE) | PK(MQTT_SUBACK) |
      PK(MQTT_UNSUBSCRIBE) | PK(MQTT_UNSUBACK) | PK(MQTT_DISCONNECT) | PK(MQTT_AUTH) },
    { MQTT_PROP_MAXIMUM_PACKET_SIZE, MQTT_PT_U32, "Maximum Packet Size",
      PK(MQTT_CONNECT) | PK(MQTT_CONNACK) },
    { MQTT_PROP_WILDCARD_SUB_AVAILABLE, MQTT_PT_BYTE, "Wildcard Subscription Available", PK(MQTT_CONNACK) },
    { MQTT_PROP_SUB_ID_AVAILABLE, MQTT_PT_BYTE, "Subscription Identifier Available", PK(MQTT_CONNACK) },
    { MQTT_PROP_SHARED_SUB_AVAILABLE, MQTT_PT_BYTE, "Shared Subscription Available", PK(MQTT_CONNACK) },
};

static const struct prop_info *lookup(uint8_t id)
{
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (props[i].id == id)
            return &props[i];
    return NULL;
}

int mqtt_prop_type(uint8_t id)
{
    const struct prop_info *p = lookup(id);
    return p ? p->type : -1;
}

const char *mqtt_prop_name(uint8_t id)
{
    const struct prop_info *p = lookup(id);
    return p ? p->name : NULL;
}

bool mqtt_prop_allowed(uint8_t id, uint8_t packet_type, bool will)
{
    const struct prop_info *p = lookup(id);
    if (!p || packet_type < MQTT_CONNECT || packet_type > MQTT_AUTH)
        return false;
    if (will)
        return packet_type == MQTT_CONNECT && (p->where & WILL);
    return (p->where & PK(packet_type)) != 0;
}

const mqtt_prop *mqtt_props_find(const mqtt_props *p, uint8_t id)
{
    for (uint32_t i = 0; i < p->count; i++)
        if (p->items[i].id == id)
            return &p->items[i];
    return NULL;
}

static mqtt_prop *push(mqtt_props *p, uint8_t id)
{
    if (p->count == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        if (cap < p->cap)
            return NULL;
        mqtt_prop *items = realloc(p->items, (size_t)cap * sizeof *items);
        if (!items)
            return NULL;
        p->items = items;
        p->cap = cap;
    }
    mqtt_prop *it = &p->items[p->count++];
    it->id = id;
    it->num = 0;
    it->str.data = it->str2.data = NULL;
    it->str.len = it->str2.len = 0;
    return it;
}

int mqtt_props_add_num(mqtt_props *p, uint8_t id, uint32_t value)
{
    mqtt_prop *it = push(p, id);
    if (!it)
        return -1;
    it->num = value;
    return 0;
}

int mqtt_props_add_bytes(mqtt_props *p, uint8_t id, mqtt_bytes value)
{
    mqtt_prop *it = push(p, id);
    if (!it)
        return -1;
    it->str = value;
    return 0;
}

int mqtt_props_add_pair(mqtt_props *p, mqtt_bytes name, mqtt_bytes value)
{
    mqtt_prop *it = push(p, MQTT_PROP_USER_PROPERTY);
    if (!it)
        return -1;
    it->str = name;
    it->str2 = value;
    return 0;
}

void mqtt_props_free(mqtt_props *p)
{
    free(p->items);
    p->items = NULL;
    p->count = p->cap = 0;
}
