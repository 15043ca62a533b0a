/* subindex.c -- the routing index: which non-shared subscriptions match a topic.
 *
 * What it is for: letting a PUBLISH touch only the subscriptions that match it,
 * instead of every subscription of every session. A filter without wildcards
 * matches exactly one topic name, itself, so those go in a hash table keyed by
 * the filter; a publish looks up its topic there. Filters with `+` or `#` go in
 * one list that is matched filter by filter: in practice few, and a topic-level
 * tree would buy little at the price of much more code. Subscriptions are the
 * index nodes (sub->inext), so an entry costs one pointer and one bucket.
 *
 * What it is not: the merging of one session's overlapping subscriptions into
 * one copy, or shared subscriptions (both subs.c), or matching rules
 * (mqtt_topic_matches in mqtt/, which also keeps `$` topics from leading
 * wildcards).
 */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

static struct sub **buckets;
static uint32_t nbuckets, nexact;
static struct sub *wild;

static bool has_wildcard(mqtt_bytes f)
{
    return memchr(f.data, '+', f.len) || memchr(f.data, '#', f.len);
}

static uint32_t bucket_of(mqtt_bytes b)
{
    uint64_t h = 1469598103934665603ull;        /* FNV-1a */
    for (uint32_t i = 0; i < b.len; i++)
        h = (h ^ b.data[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32)) & (nbuckets - 1);
}

static void grow(void)
{
    uint32_t old = nbuckets;
    struct sub **ob = buckets;
    nbuckets = old ? old * 2 : 64;
    buckets = xcalloc(nbuckets, sizeof *buckets);
    for (uint32_t i = 0; i < old; i++) {
        for (struct sub *sub = ob[i], *next; sub; sub = next) {
            next = sub->inext;
            uint32_t b = bucket_of(sub->match);
            sub->inext = buckets[b];
            buckets[b] = sub;
        }
    }
    free(ob);
}

void subindex_add(struct sub *sub)
{
    if (has_wildcard(sub->match)) {
        sub->inext = wild;
        wild = sub;
        return;
    }
    if (nexact + 1 > nbuckets)
        grow();
    uint32_t b = bucket_of(sub->match);
    sub->inext = buckets[b];
    buckets[b] = sub;
    nexact++;
}

void subindex_remove(struct sub *sub)
{
    bool exact = !has_wildcard(sub->match);
    if (exact && !nbuckets)
        return;
    struct sub **pp = exact ? &buckets[bucket_of(sub->match)] : &wild;
    while (*pp && *pp != sub)
        pp = &(*pp)->inext;
    if (!*pp)
        return;
    *pp = sub->inext;
    sub->inext = NULL;
    nexact -= exact;
}

void subindex_match(mqtt_bytes topic, void (*fn)(struct sub *sub))
{
    if (nbuckets) {
        for (struct sub *sub = buckets[bucket_of(topic)]; sub; sub = sub->inext)
            if (mqtt_bytes_eq(sub->match, topic))
                fn(sub);
    }
    for (struct sub *sub = wild; sub; sub = sub->inext)
        if (mqtt_topic_matches(sub->match, topic))
            fn(sub);
}

void subindex_free(void)
{
    free(buckets);
    buckets = NULL;
    nbuckets = nexact = 0;
    wild = NULL;
}
