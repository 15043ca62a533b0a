/* escape.h -- writing untrusted strings into report formats (internal to reports/).
 *
 * What it is for: every string in a result may hold anything a broker sent or a
 * scenario author wrote: quotes, newlines, control bytes, invalid UTF-8. These
 * functions put such a string into one syntactic context so it can neither
 * break the format nor be misread. Invalid UTF-8 bytes become U+FFFD, one per
 * byte, in every format (the trace's hex keeps the exact bytes).
 *
 * What it is not: a general Unicode library or a parser.
 */
#ifndef REPORTS_ESCAPE_H
#define REPORTS_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum esc_mode {
    ESC_JSON,       /* inside a JSON string: \" \\ \n ... \u00XX */
    ESC_YAML_DQ,    /* inside a YAML double-quoted scalar */
    ESC_YAML_BLOCK, /* one line of a YAML literal block (no quotes to escape) */
    ESC_TAP_DESC,   /* a TAP test description: '#' would start a directive */
    ESC_TAP_TEXT,   /* a TAP comment or directive explanation */
} esc_mode;

/* The length (1-4) of the well-formed UTF-8 sequence starting at s, with its
 * code point in *cp, or 0 if s[0] does not start one (overlong forms,
 * surrogates and values above U+10FFFF are not well-formed). s is
 * NUL-terminated, which also ends any truncated sequence. */
size_t esc_utf8_next(const unsigned char *s, uint32_t *cp);

/* Writes s escaped for mode (nothing for NULL), without surrounding quotes. */
void esc_write(FILE *out, const char *s, esc_mode mode);

#endif
