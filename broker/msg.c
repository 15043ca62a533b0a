/* msg.c -- application messages: one copy of the topic, payload and forwarded
 * properties, reference-counted by every delivery, the retained store and the
 * Will that hold it.
 *
 * What it is not: per-subscriber state. The QoS, RETAIN flag, packet id and
 * Subscription Identifiers of one copy live in its delivery (deliver.c).
 */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

/* Properties that travel with the message to subscribers (§3.3.2.3). Message
 * Expiry is recomputed at each send; Topic Alias is per connection; Will Delay
 * is the server's business only (E-13). */
static bool forwarded(uint8_t id)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
    case MQTT_PROP_CONTENT_TYPE:
    case MQTT_PROP_RESPONSE_TOPIC:
    case MQTT_PROP_CORRELATION_DATA:
    case MQTT_PROP_USER_PROPERTY:
        return true;
    default:
        return false;
    }
}

struct msg *msg_new(mqtt_bytes topic, mqtt_bytes payload, uint8_t qos, bool retain,
                    const mqtt_props *props, const char *origin)
{
    struct msg *m = xcalloc(1, sizeof *m);
    m->refs = 1;
    m->topic = xstrndup(topic.data, topic.len);
    m->topic_len = topic.len;
    m->payload = (uint8_t *)xstrndup(payload.data, payload.len);
    m->payload_len = payload.len;
    m->qos = qos;
    m->retain = retain;
    m->origin = origin ? xstrdup(origin) : NULL;
    m->received = ev_now();
    if (!props)
        return m;

    /* One blob for every string the kept properties point to, so a message is
     * three allocations whatever its properties. */
    size_t total = 0;
    for (uint32_t i = 0; i < props->count; i++) {
        const mqtt_prop *p = &props->items[i];
        if (forwarded(p->id))
            total += (size_t)p->str.len + p->str2.len;
    }
    m->blob = xmalloc(total);
    size_t off = 0;
    for (uint32_t i = 0; i < props->count; i++) {
        const mqtt_prop *p = &props->items[i];
        if (p->id == MQTT_PROP_MESSAGE_EXPIRY) {
            m->has_expiry = true;
            m->expiry = p->num;
            continue;
        }
        if (!forwarded(p->id))
            continue;
        mqtt_bytes a = {m->blob + off, p->str.len};
        if (p->str.len)
            memcpy(m->blob + off, p->str.data, p->str.len);
        off += p->str.len;
        mqtt_bytes b = {m->blob + off, p->str2.len};
        if (p->str2.len)
            memcpy(m->blob + off, p->str2.data, p->str2.len);
        off += p->str2.len;
        int rc;
        if (p->id == MQTT_PROP_USER_PROPERTY)
            rc = mqtt_props_add_pair(&m->props, a, b);
        else if (p->id == MQTT_PROP_PAYLOAD_FORMAT)
            rc = mqtt_props_add_num(&m->props, p->id, p->num);
        else
            rc = mqtt_props_add_bytes(&m->props, p->id, a);
        if (rc != 0)
            die_oom();
    }
    return m;
}

struct msg *msg_ref(struct msg *m)
{
    m->refs++;
    return m;
}

void msg_unref(struct msg *m)
{
    if (!m || --m->refs > 0)
        return;
    mqtt_props_free(&m->props);
    free(m->blob);
    free(m->topic);
    free(m->payload);
    free(m->origin);
    free(m);
}

bool msg_expired(const struct msg *m, uint64_t now)
{
    return m->has_expiry && now - m->received >= (uint64_t)m->expiry * 1000u;
}

uint32_t msg_remaining_expiry(const struct msg *m, uint64_t now)
{
    uint64_t waited = (now - m->received) / 1000u;
    return waited >= m->expiry ? 1 : m->expiry - (uint32_t)waited;
}
