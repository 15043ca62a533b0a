/* escape.c -- writing untrusted strings into report formats; see escape.h.
 *
 * What it is for: one place that decides, per output context, which code
 * points are written as-is and which as escapes, so the TAP, YAML and JSON
 * writers cannot disagree about what is safe.
 *
 * What it is not: a validator of the report as a whole.
 */
#include "escape.h"

#include <stdbool.h>

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t esc_utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        if (!is_cont(s[1]))
            return 0;
        *cp = (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        /* The second byte's range excludes overlongs (E0) and surrogates (ED). */
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi || !is_cont(s[2]))
            return 0;
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        /* Likewise: F0 overlongs and F4 beyond U+10FFFF. */
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi || !is_cont(s[2]) || !is_cont(s[3]))
            return 0;
        *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return 4;
    }
    return 0;
}

/* Code points that are valid UTF-8 but that YAML does not allow unescaped
 * (outside its printable set) or that a reader would take for a line break
 * or an invisible marker. */
static bool yaml_unprintable(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
           cp == 0xFFFE || cp == 0xFFFF;
}

static void put_control(FILE *out, unsigned char c, esc_mode mode)
{
    switch (c) {
    case '\n': fputs("\\n", out); return;
    case '\r': fputs("\\r", out); return;
    case '\t': fputs("\\t", out); return;
    case '\b':
        if (mode == ESC_JSON) {
            fputs("\\b", out);
            return;
        }
        break;
    case '\f':
        if (mode == ESC_JSON) {
            fputs("\\f", out);
            return;
        }
        break;
    default: break;
    }
    /* \xNN is understood by YAML and by TAP::Parser's YAMLish reader alike
     * for these ASCII values; JSON only has \u. */
    fprintf(out, mode == ESC_JSON ? "\\u%04x" : "\\x%02x", c);
}

void esc_write(FILE *out, const char *str, esc_mode mode)
{
    if (!str)
        return;
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned char c = *s;
        if (c < 0x20 || c == 0x7F) {
            put_control(out, c, mode);
            s++;
            continue;
        }
        if (c < 0x80) {
            if (c == '\\' || (c == '"' && (mode == ESC_JSON || mode == ESC_YAML_DQ)) ||
                (c == '#' && mode == ESC_TAP_DESC))
                fputc('\\', out);
            fputc(c, out);
            s++;
            continue;
        }
        uint32_t cp;
        size_t n = esc_utf8_next(s, &cp);
        if (n == 0) {
            /* Written raw, not as \ufffd: the same bytes are valid in every
             * format, and YAMLish readers know no \u escapes. */
            fputs("\xEF\xBF\xBD", out);
            s++;
            continue;
        }
        /* JSON allows U+2028/2029 raw, but JavaScript before ES2019 does not,
         * and a report page may embed this JSON in a script. */
        bool escape = mode == ESC_JSON ? (cp == 0x2028 || cp == 0x2029) : yaml_unprintable(cp);
        if (escape)
            fprintf(out, "\\u%04X", (unsigned)cp);
        else
            fwrite(s, 1, n, out);
        s += n;
    }
}
