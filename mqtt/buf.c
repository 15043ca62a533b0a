/* buf.c -- growable output buffers, byte views and Variable Byte Integers.
 *
 * What it is for: the primitives every other file of the protocol core leans
 * on: appending to an mqtt_buf, comparing mqtt_bytes views, and the 1..4 byte
 * Variable Byte Integer of 5.0 §1.5.5 / 3.1.1 §2.2.3 (remaining length,
 * property lengths, Subscription Identifier).
 *
 * What it is not: packet framing (decode.c) or any knowledge of packet layout.
 */
#include "mqtt.h"

#include <stdlib.h>
#include <string.h>

void mqtt_buf_free(mqtt_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int mqtt_buf_append(mqtt_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (len > SIZE_MAX - b->len)
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len) {
            if (cap > SIZE_MAX / 2) {
                cap = b->len + len;
                break;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int mqtt_varint_encode(uint32_t value, uint8_t out[4])
{
    if (value > MQTT_MAX_VARINT)
        return 0;
    int n = 0;
    do {
        uint8_t byte = value & 0x7F;
        value >>= 7;
        if (value)
            byte |= 0x80;
        out[n++] = byte;
    } while (value);
    return n;
}

int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= len)
            return 0;
        uint8_t byte = buf[i];
        v |= (uint32_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) {
            /* A trailing 0x00 after a continuation byte means the sender did
             * not use the fewest bytes, which [MQTT-1.5.5-1] requires. */
            if (i > 0 && byte == 0)
                return -1;
            *value = v;
            return i + 1;
        }
    }
    return -1;
}

mqtt_bytes mqtt_str(const char *s)
{
    mqtt_bytes b = { (const uint8_t *)s, s ? (uint32_t)strlen(s) : 0 };
    return b;
}

bool mqtt_bytes_eq(mqtt_bytes a, mqtt_bytes b)
{
    if (a.len != b.len)
        return false;
    return a.len == 0 || memcmp(a.data, b.data, a.len) == 0;
}
