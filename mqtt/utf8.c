/* utf8.c -- the UTF-8 Encoded String rules of MQTT (5.0 §1.5.4, 3.1.1 §1.5.3).
 *
 * What it is for: deciding whether bytes on the wire form a string MQTT
 * accepts: well-formed UTF-8 (no overlong forms, nothing above U+10FFFF), no
 * UTF-16 surrogate halves (U+D800..U+DFFF) and no U+0000. Violations make a
 * packet malformed.
 *
 * What it is not: the SHOULD-level advice about control characters and
 * non-characters (U+0001..U+001F, U+FFFF ...). The standard lets a receiver
 * accept those, so they are accepted here; a stricter check belongs to
 * whoever wants to judge it.
 */
#include "mqtt.h"

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t cp, min;
        size_t more;
        if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F; more = 1; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F; more = 2; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07; more = 3; min = 0x10000;
        } else {
            return false;   /* a stray continuation byte, or 0xF8..0xFF */
        }
        if (len - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            uint8_t b = s[i + k];
            if ((b & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}
