/* names.c -- names of packet types and reason codes, for traces and reports.
 *
 * What it is for: the 5.0 reason code table of §2.4 (name, and which packet
 * types may carry each code), the 3.1.1 CONNACK return codes and SUBACK
 * return codes, and the control packet type names. The decoder also asks
 * mqtt_reason_valid_in() (declared where used) whether a received code is one
 * the packet may carry.
 *
 * What it is not: any decision about which code a broker should send.
 */
#include "mqtt.h"

#define PK(t) (1u << (t))
#define ACKS_PUB (PK(MQTT_PUBACK) | PK(MQTT_PUBREC))

static const struct rc_info {
    uint8_t code;
    const char *name;
    uint32_t where;
} rcs[] = {
    { 0x00, "Success", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP) |
                       PK(MQTT_UNSUBACK) | PK(MQTT_AUTH) | PK(MQTT_DISCONNECT) | PK(MQTT_SUBACK) },
    { 0x01, "Granted QoS 1", PK(MQTT_SUBACK) },
    { 0x02, "Granted QoS 2", PK(MQTT_SUBACK) },
    { 0x04, "Disconnect with Will Message", PK(MQTT_DISCONNECT) },
    { 0x10, "No matching subscribers", ACKS_PUB },
    { 0x11, "No subscription existed", PK(MQTT_UNSUBACK) },
    { 0x18, "Continue authentication", PK(MQTT_AUTH) },
    { 0x19, "Re-authenticate", PK(MQTT_AUTH) },
    { 0x80, "Unspecified error", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK) |
                                 PK(MQTT_DISCONNECT) },
    { 0x81, "Malformed Packet", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x82, "Protocol Error", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x83, "Implementation specific error", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_SUBACK) |
                                             PK(MQTT_UNSUBACK) | PK(MQTT_DISCONNECT) },
    { 0x84, "Unsupported Protocol Version", PK(MQTT_CONNACK) },
    { 0x85, "Client Identifier not valid", PK(MQTT_CONNACK) },
    { 0x86, "Bad User Name or Password", PK(MQTT_CONNACK) },
    { 0x87, "Not authorized", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK) |
                              PK(MQTT_DISCONNECT) },
    { 0x88, "Server unavailable", PK(MQTT_CONNACK) },
    { 0x89, "Server busy", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x8A, "Banned", PK(MQTT_CONNACK) },
    { 0x8B, "Server shutting down", PK(MQTT_DISCONNECT) },
    { 0x8C, "Bad authentication method", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x8D, "Keep Alive timeout", PK(MQTT_DISCONNECT) },
    { 0x8E, "Session taken over", PK(MQTT_DISCONNECT) },
    { 0x8F, "Topic Filter invalid", PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK) | PK(MQTT_DISCONNECT) },
    { 0x90, "Topic Name invalid", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_DISCONNECT) },
    { 0x91, "Packet Identifier in use", ACKS_PUB | PK(MQTT_SUBACK) | PK(MQTT_UNSUBACK) },
    { 0x92, "Packet Identifier not found", PK(MQTT_PUBREL) | PK(MQTT_PUBCOMP) },
    { 0x93, "Receive Maximum exceeded", PK(MQTT_DISCONNECT) },
    { 0x94, "Topic Alias invalid", PK(MQTT_DISCONNECT) },
    { 0x95, "Packet too large", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x96, "Message rate too high", PK(MQTT_DISCONNECT) },
    { 0x97, "Quota exceeded", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_SUBACK) | PK(MQTT_DISCONNECT) },
    { 0x98, "Administrative action", PK(MQTT_DISCONNECT) },
    { 0x99, "Payload format invalid", PK(MQTT_CONNACK) | ACKS_PUB | PK(MQTT_DISCONNECT) },
    { 0x9A, "Retain not supported", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x9B, "QoS not supported", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x9C, "Use another server", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x9D, "Server moved", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0x9E, "Shared Subscriptions not supported", PK(MQTT_SUBACK) | PK(MQTT_DISCONNECT) },
    { 0x9F, "Connection rate exceeded", PK(MQTT_CONNACK) | PK(MQTT_DISCONNECT) },
    { 0xA0, "Maximum connect time", PK(MQTT_DISCONNECT) },
    { 0xA1, "Subscription Identifiers not supported", PK(MQTT_SUBACK) | PK(MQTT_DISCONNECT) },
    { 0xA2, "Wildcard Subscriptions not supported", PK(MQTT_SUBACK) | PK(MQTT_DISCONNECT) },
};

static const char *const v311_connack[] = {
    "Connection Accepted",
    "Connection Refused, unacceptable protocol version",
    "Connection Refused, identifier rejected",
    "Connection Refused, Server unavailable",
    "Connection Refused, bad user name or password",
    "Connection Refused, not authorized",
};

static const char *const type_names[] = {
    "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
};

const char *mqtt_type_name(uint8_t type)
{
    return type < 16 ? type_names[type] : "UNKNOWN";
}

static const struct rc_info *lookup(uint8_t code)
{
    for (size_t i = 0; i < sizeof rcs / sizeof rcs[0]; i++)
        if (rcs[i].code == code)
            return &rcs[i];
    return NULL;
}

/* Not in mqtt.h: decode.c declares it. true if a packet of this type and
 * version may carry this reason (return) code. */
bool mqtt_reason_valid_in(uint8_t reason, uint8_t packet_type, uint8_t version);

bool mqtt_reason_valid_in(uint8_t reason, uint8_t packet_type, uint8_t version)
{
    if (version == MQTT_V311) {
        if (packet_type == MQTT_CONNACK)
            return reason <= MQTT_V311_NOT_AUTHORIZED;
        if (packet_type == MQTT_SUBACK)
            return reason <= 2 || reason == 0x80;
    }
    const struct rc_info *r = lookup(reason);
    return r && packet_type < 32 && (r->where & PK(packet_type));
}

const char *mqtt_reason_name(uint8_t reason, uint8_t packet_type, uint8_t version)
{
    if (version == MQTT_V311) {
        if (packet_type == MQTT_CONNACK)
            return reason <= MQTT_V311_NOT_AUTHORIZED ? v311_connack[reason]
                                                      : "Reserved return code";
        if (packet_type == MQTT_SUBACK) {
            switch (reason) {
            case 0: return "Success - Maximum QoS 0";
            case 1: return "Success - Maximum QoS 1";
            case 2: return "Success - Maximum QoS 2";
            case 0x80: return "Failure";
            default: return "Reserved return code";
            }
        }
    }
    if (reason == 0x00) {
        if (packet_type == MQTT_DISCONNECT)
            return "Normal disconnection";
        if (packet_type == MQTT_SUBACK)
            return "Granted QoS 0";
    }
    const struct rc_info *r = lookup(reason);
    return r ? r->name : "Unknown reason code";
}
