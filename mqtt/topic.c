/* topic.c -- Topic Names, Topic Filters, shared subscriptions and matching.
 *
 * What it is for: the rules of 5.0 §4.7 / 3.1.1 §4.7: which strings are valid
 * topic names (no wildcards) and filters ('+' a whole level, '#' a whole last
 * level), splitting "$share/GROUP/FILTER" (5.0 §4.8.2), and deciding whether a
 * filter matches a name, including "sport/#" matching "sport" and topics
 * starting with '$' escaping first-level wildcards.
 *
 * What it is not: a subscription store or any index over many filters; the
 * broker builds those on top of mqtt_topic_matches. Length limits beyond the
 * 65535 of the wire format are not judged here.
 */
#include "mqtt.h"

#include <string.h>

static const char share_prefix[] = "$share/";
#define SHARE_PREFIX_LEN (sizeof share_prefix - 1)

bool mqtt_topic_name_valid(mqtt_bytes topic)
{
    if (topic.len == 0 || !mqtt_utf8_valid(topic.data, topic.len))
        return false;
    for (uint32_t i = 0; i < topic.len; i++)
        if (topic.data[i] == '+' || topic.data[i] == '#')
            return false;
    return true;
}

/* The wildcard placement rules, without the $share layer. */
static bool plain_filter_valid(mqtt_bytes f)
{
    if (f.len == 0)
        return false;
    for (uint32_t i = 0; i < f.len; i++) {
        uint8_t c = f.data[i];
        bool level_start = i == 0 || f.data[i - 1] == '/';
        bool level_end = i + 1 == f.len || f.data[i + 1] == '/';
        if (c == '+' && !(level_start && level_end))
            return false;
        if (c == '#' && !(level_start && i + 1 == f.len))
            return false;
    }
    return true;
}

bool mqtt_shared_split(mqtt_bytes filter, mqtt_bytes *group, mqtt_bytes *rest)
{
    if (filter.len < SHARE_PREFIX_LEN ||
        memcmp(filter.data, share_prefix, SHARE_PREFIX_LEN) != 0)
        return false;
    const uint8_t *g = filter.data + SHARE_PREFIX_LEN;
    uint32_t left = filter.len - (uint32_t)SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(g, '/', left);
    if (!slash)
        return false;
    uint32_t glen = (uint32_t)(slash - g);
    if (group) {
        group->data = g;
        group->len = glen;
    }
    if (rest) {
        rest->data = slash + 1;
        rest->len = left - glen - 1;
    }
    return true;
}

bool mqtt_topic_filter_valid(mqtt_bytes filter)
{
    if (filter.len == 0 || !mqtt_utf8_valid(filter.data, filter.len))
        return false;
    if (filter.len >= SHARE_PREFIX_LEN &&
        memcmp(filter.data, share_prefix, SHARE_PREFIX_LEN) == 0) {
        mqtt_bytes group, rest;
        /* "$share/group" with nothing after it is not a shared subscription
         * with an empty filter: the filter part is mandatory. */
        if (!mqtt_shared_split(filter, &group, &rest) || group.len == 0)
            return false;
        for (uint32_t i = 0; i < group.len; i++)
            if (group.data[i] == '+' || group.data[i] == '#')
                return false;
        return plain_filter_valid(rest);
    }
    return plain_filter_valid(filter);
}

bool mqtt_topic_matches(mqtt_bytes filter, mqtt_bytes topic)
{
    if (filter.len == 0 || topic.len == 0)
        return false;
    if (topic.data[0] == '$' && (filter.data[0] == '+' || filter.data[0] == '#'))
        return false;

    uint32_t fi = 0, ti = 0;
    for (;;) {
        /* fi and ti are at the start of a level in each string. */
        if (fi < filter.len && filter.data[fi] == '#')
            return true;    /* the rest of the topic, zero or more levels */
        uint32_t fe = fi, te = ti;
        while (fe < filter.len && filter.data[fe] != '/')
            fe++;
        while (te < topic.len && topic.data[te] != '/')
            te++;
        bool plus = fe - fi == 1 && filter.data[fi] == '+';
        if (!plus && (fe - fi != te - ti ||
                      memcmp(filter.data + fi, topic.data + ti, fe - fi) != 0))
            return false;
        bool fdone = fe == filter.len, tdone = te == topic.len;
        if (fdone && tdone)
            return true;
        if (tdone) {
            /* The topic ran out: only a trailing "/#" still matches, since
             * '#' also stands for the parent level ("sport/#" ~ "sport"). */
            return fe + 2 == filter.len && filter.data[fe + 1] == '#';
        }
        if (fdone)
            return false;
        fi = fe + 1;
        ti = te + 1;
    }
}
