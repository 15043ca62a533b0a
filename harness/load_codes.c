/* load_codes.c -- reason codes, property names and number matchers of the
 * scenario language.
 *
 * What it is for: the MQTT 5.0 and 3.1.1 reason-code tables with the packets
 * each code may appear in, the property names with their wire limits and the
 * packets that carry them, and the matchers (`absent`, `present`, a number,
 * `{min, max}`, `$SAVED`) that expectations use. These tables are the loader's
 * own: they tell a scenario writer at load time that `granted_qos_1` is no
 * CONNACK code, before any broker is involved.
 *
 * What it is not: the codec's tables (mqtt/names.c), which name what arrives on
 * the wire; nothing here decodes packets.
 */
#include <stdlib.h>
#include <string.h>

#include "../mqtt/mqtt.h"
#include "load_int.h"

/* ---- reason codes ---- */

#define ACKS (RC_PUBACK)
#define SUBS (RC_SUBACK | RC_UNSUBACK)
#define ERR_COMMON (RC_CONNACK | RC_PUBACK | SUBS | RC_DISCONNECT)

static const struct reason_def {
    const char *name;
    uint8_t code;
    unsigned packets;
    bool alias;             /* accepted, but not offered in the list of names */
} reasons5[] = {
    /* 0x00 has a different name in each packet; every name is accepted anywhere */
    {"success", 0x00, ~0u, true},
    {"normal", 0x00, ~0u, true},
    {"normal_disconnection", 0x00, ~0u, true},
    {"granted_qos_0", 0x00, ~0u, true},
    {"granted_qos_1", 0x01, RC_SUBACK, false},
    {"granted_qos_2", 0x02, RC_SUBACK, false},
    {"disconnect_with_will", 0x04, RC_DISCONNECT, false},
    {"disconnect_with_will_message", 0x04, RC_DISCONNECT, true},
    {"no_matching_subscribers", 0x10, ACKS, false},
    {"no_subscription_existed", 0x11, RC_UNSUBACK, false},
    {"continue_authentication", 0x18, RC_AUTH, false},
    {"re_authenticate", 0x19, RC_AUTH, false},
    {"unspecified_error", 0x80, ERR_COMMON, false},
    {"malformed_packet", 0x81, RC_CONNACK | RC_DISCONNECT, false},
    {"protocol_error", 0x82, RC_CONNACK | RC_DISCONNECT, false},
    {"implementation_specific_error", 0x83, ERR_COMMON, false},
    {"unsupported_protocol_version", 0x84, RC_CONNACK, false},
    {"client_identifier_not_valid", 0x85, RC_CONNACK, false},
    {"bad_user_name_or_password", 0x86, RC_CONNACK, false},
    {"not_authorized", 0x87, ERR_COMMON, false},
    {"server_unavailable", 0x88, RC_CONNACK, false},
    {"server_busy", 0x89, RC_CONNACK | RC_DISCONNECT, false},
    {"banned", 0x8A, RC_CONNACK, false},
    {"server_shutting_down", 0x8B, RC_DISCONNECT, false},
    {"bad_authentication_method", 0x8C, RC_CONNACK | RC_DISCONNECT, false},
    {"keep_alive_timeout", 0x8D, RC_DISCONNECT, false},
    {"session_taken_over", 0x8E, RC_DISCONNECT, false},
    {"topic_filter_invalid", 0x8F, SUBS | RC_DISCONNECT, false},
    {"topic_name_invalid", 0x90, RC_CONNACK | ACKS | RC_DISCONNECT, false},
    {"packet_identifier_in_use", 0x91, ACKS | SUBS, false},
    {"packet_identifier_not_found", 0x92, RC_PUBREL, false},
    {"receive_maximum_exceeded", 0x93, RC_DISCONNECT, false},
    {"topic_alias_invalid", 0x94, RC_DISCONNECT, false},
    {"packet_too_large", 0x95, RC_CONNACK | RC_DISCONNECT, false},
    {"message_rate_too_high", 0x96, RC_DISCONNECT, false},
    {"quota_exceeded", 0x97, RC_CONNACK | ACKS | RC_SUBACK | RC_DISCONNECT, false},
    {"administrative_action", 0x98, RC_DISCONNECT, false},
    {"payload_format_invalid", 0x99, RC_CONNACK | ACKS | RC_DISCONNECT, false},
    {"retain_not_supported", 0x9A, RC_CONNACK | RC_DISCONNECT, false},
    {"qos_not_supported", 0x9B, RC_CONNACK | RC_DISCONNECT, false},
    {"use_another_server", 0x9C, RC_CONNACK | RC_DISCONNECT, false},
    {"server_moved", 0x9D, RC_CONNACK | RC_DISCONNECT, false},
    {"shared_subscriptions_not_supported", 0x9E, RC_SUBACK | RC_DISCONNECT, false},
    {"connection_rate_exceeded", 0x9F, RC_CONNACK | RC_DISCONNECT, false},
    {"maximum_connect_time", 0xA0, RC_DISCONNECT, false},
    {"subscription_identifiers_not_supported", 0xA1, RC_SUBACK | RC_DISCONNECT, false},
    {"wildcard_subscriptions_not_supported", 0xA2, RC_SUBACK | RC_DISCONNECT, false},
};

static const struct reason_def reasons311[] = {
    {"accepted", 0, RC_CONNACK, false},
    {"success", 0, RC_CONNACK, true},
    {"unacceptable_protocol_version", 1, RC_CONNACK, false},
    {"identifier_rejected", 2, RC_CONNACK, false},
    {"server_unavailable", 3, RC_CONNACK, false},
    {"bad_user_name_or_password", 4, RC_CONNACK, false},
    {"not_authorized", 5, RC_CONNACK, false},
    {"granted_qos_0", 0, RC_SUBACK, false},
    {"granted_qos_1", 1, RC_SUBACK, false},
    {"granted_qos_2", 2, RC_SUBACK, false},
    {"failure", 0x80, RC_SUBACK, false},
};

static const char *packet_label(unsigned p)
{
    switch (p & 0xFFu) {
    case RC_PUBLISH: return "PUBLISH";
    case RC_CONNACK: return "CONNACK";
    case RC_PUBACK: return "PUBACK / PUBREC";
    case RC_PUBREL: return "PUBREL / PUBCOMP";
    case RC_SUBACK: return "SUBACK";
    case RC_UNSUBACK: return "UNSUBACK";
    case RC_DISCONNECT: return "DISCONNECT";
    default: return "AUTH";
    }
}

int get_reason(lctx *c, const ynode *n, const char *key, unsigned packet, uint8_t protocol,
               bool allow_error, uint8_t *out, bool *is_error)
{
    char b[96];
    const struct reason_def *tab = protocol == MQTT_V5 ? reasons5 : reasons311;
    size_t ntab = protocol == MQTT_V5 ? sizeof reasons5 / sizeof *reasons5
                                      : sizeof reasons311 / sizeof *reasons311;
    if (is_error)
        *is_error = false;
    if (n->type != YN_SCALAR || ynode_is_null(n)) {
        lerr(c, n, "%s: expected a reason code (number or name), got %s", key, ynode_type_name(n));
        return -1;
    }
    bool neg, ovf;
    uint64_t v;
    if (n->plain && ld_parse_uint(n->str, n->len, &neg, &v, &ovf)) {
        if (neg || ovf || v > 255) {
            lerr(c, n, "%s: a reason code is 0..255 (0x00..0xFF), got %s", key, n->str);
            return -1;
        }
        if (packet & RC_SEND) {
            *out = (uint8_t)v;
            return 0;
        }
        for (size_t i = 0; i < ntab; i++)
            if (tab[i].code == v && (tab[i].packets & packet)) {
                *out = (uint8_t)v;
                return 0;
            }
        lerr(c, n, "%s: 0x%02X is not a %s %s code in MQTT %s", key, (unsigned)v,
             packet_label(packet), protocol == MQTT_V5 ? "reason" : "return",
             protocol == MQTT_V5 ? "5.0" : "3.1.1");
        return -1;
    }
    if (allow_error && !strcmp(n->str, "error")) {
        *is_error = true;
        *out = 0;
        return 0;
    }
    for (size_t i = 0; i < ntab; i++) {
        if (strcmp(tab[i].name, n->str))
            continue;
        if (!(tab[i].packets & packet)) {
            lerr(c, n, "%s: '%s' (0x%02X) is not a %s reason code", key, n->str, tab[i].code,
                 packet_label(packet));
            return -1;
        }
        *out = tab[i].code;
        return 0;
    }
    /* suggest the names that fit this packet */
    char list[900];
    size_t used = 0;
    list[0] = 0;
    const char *zero = protocol != MQTT_V5 ? (packet & RC_SUBACK ? "granted_qos_0" : "")
                       : packet & RC_DISCONNECT ? "normal"
                       : packet & RC_SUBACK     ? "granted_qos_0"
                                                : "success";
    used = (size_t)snprintf(list, sizeof list, "%s", zero);
    for (size_t i = 0; i < ntab && used + 48 < sizeof list; i++)
        if ((tab[i].packets & packet) && !tab[i].alias && strcmp(tab[i].name, zero))
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                                     tab[i].name);
    lerr(c, n, "%s: unknown reason code %s for %s in MQTT %s (names: %s%s)", key,
         ld_shown(n, b, sizeof b), packet_label(packet), protocol == MQTT_V5 ? "5.0" : "3.1.1", list,
         allow_error ? ", error" : "");
    return -1;
}

/* ---- user properties, matchers, properties ---- */

int get_user_props(lctx *c, const ynode *n, user_prop **out, size_t *n_out)
{
    if (!want_seq(c, n, "user_properties"))
        return -1;
    user_prop *u = xcalloc(n->n, sizeof *u);
    if (!u) {
        lerr(c, n, "out of memory");
        return -1;
    }
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n->n; i++) {
        const ynode *e = n->items[i];
        if (e->type != YN_MAP || e->n != 2) {
            lerr(c, e, "user_properties: each item is a one-key map {name: value}, got %s",
                 e->type == YN_MAP ? "a map with several keys" : ynode_type_name(e));
            rc = -1;
            continue;
        }
        char *name = NULL, *value = NULL;
        if (get_str(c, e->items[0], "user property name", &name) < 0 ||
            get_str(c, e->items[1], "user property value", &value) < 0) {
            free(name);
            free(value);
            rc = -1;
            continue;
        }
        u[k].name = name;
        u[k].value = value;
        k++;
    }
    *out = u;
    *n_out = k;
    return rc;
}

bool saved_defined(lctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_saved; i++)
        if (!strcmp(c->saved[i], name))
            return true;
    return false;
}

int get_num_match(lctx *c, const ynode *n, const char *key, uint32_t max, bool allow_saved,
                  num_match *out)
{
    memset(out, 0, sizeof *out);
    if (n->type == YN_SCALAR && n->plain) {
        if (!strcmp(n->str, "absent")) {
            out->kind = NM_ABSENT;
            return 0;
        }
        if (!strcmp(n->str, "present")) {
            out->kind = NM_PRESENT;
            return 0;
        }
        if (n->str[0] == '$' && allow_saved) {
            if (!saved_defined(c, n->str + 1)) {
                lerr(c, n, "%s: '%.60s' is not saved by an earlier step (save it with "
                           "`save: %.40s` in a message expectation)",
                     key, n->str, n->str + 1);
                return -1;
            }
            out->kind = NM_SAVED;
            out->saved = xstrdup(n->str + 1);
            return 0;
        }
    }
    if (n->type == YN_MAP && map_get(n, "not")) {
        /* `{not: X}`: a new packet id must differ from one still in use. */
        static const char *const nkeys[] = {"not", NULL};
        if (!map_check_keys(c, n, key, nkeys))
            return -1;
        num_match inner;
        if (get_num_match(c, map_get(n, "not"), key, max, allow_saved, &inner) < 0)
            return -1;
        if (inner.kind != NM_EQ && inner.kind != NM_SAVED) {
            free(inner.saved);
            lerr(c, n, "%s: not takes a number%s", key, allow_saved ? " or $SAVED" : "");
            return -1;
        }
        *out = inner;
        out->kind = inner.kind == NM_EQ ? NM_NOT_EQ : NM_NOT_SAVED;
        return 0;
    }
    if (n->type == YN_MAP) {
        static const char *const keys[] = {"min", "max", NULL};
        if (!map_check_keys(c, n, key, keys))
            return -1;
        const ynode *lo = map_get(n, "min"), *hi = map_get(n, "max");
        if (!lo && !hi) {
            lerr(c, n, "%s: a range needs min, max or both", key);
            return -1;
        }
        out->kind = NM_RANGE;
        out->lo = 0;
        out->hi = max;
        if ((lo && get_u32(c, lo, "min", 0, max, &out->lo) < 0) ||
            (hi && get_u32(c, hi, "max", 0, max, &out->hi) < 0))
            return -1;
        if (out->lo > out->hi) {
            lerr(c, n, "%s: min %u is greater than max %u", key, (unsigned)out->lo,
                 (unsigned)out->hi);
            return -1;
        }
        return 0;
    }
    uint64_t v;
    bool neg, ovf;
    if (n->type != YN_SCALAR || !n->plain || !ld_parse_uint(n->str, n->len, &neg, &v, &ovf)) {
        char b[96];
        lerr(c, n, "%s: expected a number, absent, present, {min, max}%s, got %s", key,
             allow_saved ? " or $SAVED" : "", ld_shown(n, b, sizeof b));
        return -1;
    }
    uint32_t x;
    if (get_u32(c, n, key, 0, max, &x) < 0)
        return -1;
    out->kind = NM_EQ;
    out->lo = out->hi = x;
    return 0;
}

#define P_CONNACK RC_CONNACK
#define P_DISC RC_DISCONNECT
#define P_PUBLISH RC_PUBLISH

static const struct prop_def {
    const char *name;
    uint8_t id;
    uint32_t max;           /* numeric: largest value; 0: a string property */
    unsigned packets;
} props[] = {
    {"session_expiry", MQTT_PROP_SESSION_EXPIRY, 0xFFFFFFFFu, P_CONNACK | P_DISC},
    {"receive_maximum", MQTT_PROP_RECEIVE_MAXIMUM, 65535, P_CONNACK},
    {"maximum_packet_size", MQTT_PROP_MAXIMUM_PACKET_SIZE, 0xFFFFFFFFu, P_CONNACK},
    {"topic_alias_maximum", MQTT_PROP_TOPIC_ALIAS_MAXIMUM, 65535, P_CONNACK},
    {"topic_alias", MQTT_PROP_TOPIC_ALIAS, 65535, P_PUBLISH},
    {"message_expiry", MQTT_PROP_MESSAGE_EXPIRY, 0xFFFFFFFFu, P_PUBLISH},
    {"assigned_client_identifier", MQTT_PROP_ASSIGNED_CLIENT_ID, 0, P_CONNACK},
    {"server_keep_alive", MQTT_PROP_SERVER_KEEP_ALIVE, 65535, P_CONNACK},
    {"reason_string", MQTT_PROP_REASON_STRING, 0, P_CONNACK | P_DISC},
    {"maximum_qos", MQTT_PROP_MAXIMUM_QOS, 1, P_CONNACK},
    {"retain_available", MQTT_PROP_RETAIN_AVAILABLE, 1, P_CONNACK},
    {"wildcard_subscription_available", MQTT_PROP_WILDCARD_SUB_AVAILABLE, 1, P_CONNACK},
    {"subscription_identifier_available", MQTT_PROP_SUB_ID_AVAILABLE, 1, P_CONNACK},
    {"shared_subscription_available", MQTT_PROP_SHARED_SUB_AVAILABLE, 1, P_CONNACK},
    {"content_type", MQTT_PROP_CONTENT_TYPE, 0, P_PUBLISH},
    {"response_topic", MQTT_PROP_RESPONSE_TOPIC, 0, P_PUBLISH},
    {"correlation_data", MQTT_PROP_CORRELATION_DATA, 0, P_PUBLISH},
    {"payload_format", MQTT_PROP_PAYLOAD_FORMAT, 1, P_PUBLISH},
    {"response_information", MQTT_PROP_RESPONSE_INFO, 0, P_CONNACK},
    {"server_reference", MQTT_PROP_SERVER_REFERENCE, 0, P_CONNACK | P_DISC},
    {"will_delay", MQTT_PROP_WILL_DELAY, 0xFFFFFFFFu, 0},
};

int get_prop_expects(lctx *c, const ynode *n, unsigned packet, prop_expect **out, size_t *n_out)
{
    if (!want_map(c, n, "properties"))
        return -1;
    size_t np = n->n / 2;
    prop_expect *pe = xcalloc(np, sizeof *pe);
    if (!pe) {
        lerr(c, n, "out of memory");
        return -1;
    }
    *out = pe;
    *n_out = 0;
    int rc = 0;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const ynode *k = n->items[i], *v = n->items[i + 1];
        const struct prop_def *d = NULL;
        for (size_t j = 0; j < sizeof props / sizeof *props; j++)
            if (!strcmp(props[j].name, k->str))
                d = &props[j];
        if (!d) {
            char list[700];
            size_t used = 0;
            for (size_t j = 0; j < sizeof props / sizeof *props; j++)
                if (props[j].packets & packet)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                             used ? ", " : "", props[j].name);
            lerr(c, k, "unknown property '%.60s' in %s (allowed: %s)", k->str,
                 packet_label(packet), list);
            rc = -1;
            continue;
        }
        if (!(d->packets & packet)) {
            lerr(c, k, "property '%s' cannot appear in a %s", d->name, packet_label(packet));
            rc = -1;
            continue;
        }
        prop_expect *p = &pe[(*n_out)++];
        p->id = d->id;
        p->pos = k->pos;
        if (d->max) {
            if (get_num_match(c, v, d->name, d->max, false, &p->num) < 0)
                rc = -1;
            p->absent = p->num.kind == NM_ABSENT;
        } else if (v->type == YN_SCALAR && v->plain && !strcmp(v->str, "absent")) {
            p->absent = true;
            p->num.kind = NM_ABSENT;
        } else if (v->type == YN_SCALAR && v->plain && !strcmp(v->str, "present")) {
            p->num.kind = NM_PRESENT;
        } else if (get_template(c, v, d->name, &p->str, NULL) < 0) {
            rc = -1;
        }
    }
    return rc;
}
