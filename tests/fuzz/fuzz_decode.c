/* fuzz_decode.c -- libFuzzer target for the MQTT decoder.
 *
 * What it is for: feeding arbitrary bytes through mqtt_frame and mqtt_decode
 * as client and server, 3.1.1 and 5.0; every packet that decodes is encoded,
 * decoded again and encoded again, and both decodes and both encodings must
 * agree (the encoder and decoder are each other's inverse on valid input).
 * It also runs mqtt_describe and the topic functions over what it gets.
 * Aborts on any disagreement so libFuzzer saves the input.
 *
 * What it is not: a test of broker behaviour, or of error wording.
 */
#include "../../mqtt/mqtt.h"
#include "packet_eq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *why, const uint8_t *p, size_t n)
{
    fprintf(stderr, "fuzz_decode: %s: %s\n", what, why ? why : "");
    for (size_t i = 0; i < n && i < 256; i++)
        fprintf(stderr, "%02x", p[i]);
    fprintf(stderr, "\n");
    abort();
}

static void exercise_topics(mqtt_bytes a, mqtt_bytes b)
{
    bool fv = mqtt_topic_filter_valid(a);
    bool nv = mqtt_topic_name_valid(b);
    mqtt_bytes g, r;
    if (mqtt_shared_split(a, &g, &r) && fv && (g.len == 0 || r.len == 0))
        fail("filter valid but shared parts empty", NULL, a.data, a.len);
    if (fv && nv && a.len > 0 && a.data[0] != '$' && mqtt_bytes_eq(a, b) &&
        !mqtt_topic_matches(a, b))
        fail("a valid name does not match itself as a filter", NULL, a.data, a.len);
    (void)mqtt_topic_matches(a, b);
}

static void roundtrip(const mqtt_packet *p, uint8_t version, bool is_server)
{
    char why[200] = "";
    mqtt_buf b1 = { 0 }, b2 = { 0 };
    if (mqtt_encode(p, &b1) != 0)
        fail("encode of a decoded packet failed", NULL, NULL, 0);
    mqtt_packet q;
    mqtt_error err;
    mqtt_status st = mqtt_decode(b1.data, b1.len, version, is_server, &q, &err);
    if (st != MQTT_OK)
        fail("re-encoded packet does not decode", err.why, b1.data, b1.len);
    if (!packet_eq(p, &q, why, sizeof why))
        fail("decode(encode(p)) != p", why, b1.data, b1.len);
    if (mqtt_encode(&q, &b2) != 0)
        fail("second encode failed", NULL, NULL, 0);
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
        fail("encode is not stable", NULL, b2.data, b2.len);
    mqtt_packet_free(&q);
    mqtt_buf_free(&b1);
    mqtt_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t versions[] = { MQTT_V311, MQTT_V5 };
    for (int vi = 0; vi < 2; vi++) {
        for (int side = 0; side < 2; side++) {
            /* Walk the input as a stream of packets, as a connection would. */
            size_t off = 0;
            while (off < size) {
                uint32_t hl, rl;
                mqtt_status fs = mqtt_frame(data + off, size - off, &hl, &rl);
                if (fs != MQTT_OK || (size_t)hl + rl > size - off)
                    break;
                size_t n = (size_t)hl + rl;
                mqtt_packet p;
                mqtt_error err;
                mqtt_status st = mqtt_decode(data + off, n, versions[vi], side, &p, &err);
                char line[512];
                if (st == MQTT_OK) {
                    int want = mqtt_describe(&p, line, sizeof line);
                    if (want < 0 || strlen(line) >= sizeof line)
                        fail("describe", NULL, data + off, n);
                    roundtrip(&p, p.version, side);
                } else if (st != MQTT_MALFORMED && st != MQTT_PROTOCOL_ERROR) {
                    fail("unexpected status", err.why, data + off, n);
                } else if (err.why[0] == '\0' || err.reason < 0x80) {
                    fail("error without reason or explanation", NULL, data + off, n);
                }
                mqtt_packet_free(&p);
                off += n;
            }
        }
    }
    size_t half = size / 2;
    mqtt_bytes a = { data, (uint32_t)half }, b = { data + half, (uint32_t)(size - half) };
    exercise_topics(a, b);
    exercise_topics(b, b);
    (void)mqtt_utf8_valid(data, size);
    uint32_t v;
    (void)mqtt_varint_decode(data, size, &v);
    return 0;
}
