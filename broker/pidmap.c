/* pidmap.c -- a session's in-flight deliveries indexed by packet identifier.
 *
 * What it is for: finding the delivery a PUBACK / PUBREC / PUBCOMP names, and
 * telling whether an id is still in use when a new one is chosen
 * [MQTT-2.2.1-4], in constant time whatever the number in flight (up to
 * 65,535 with a client's Receive Maximum). An open-addressing table with
 * linear probing, allocated with the first in-flight message and freed with
 * the last, so an idle session pays one pointer for it. Ids are handed out
 * in sequence, so the id itself is a good enough hash.
 *
 * What it is not: the in-flight list, which keeps the send order that a
 * resume repeats (deliver.c). Every delivery on that list is in this table
 * and nothing else is.
 */
#include "broker.h"

#include <stdlib.h>

#define PIDMAP_MIN 16u

static void put(struct delivery **slots, uint32_t mask, struct delivery *d)
{
    uint32_t i = d->packet_id & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = d;
}

static void resize(struct session *s, uint32_t cap)
{
    struct delivery **old = s->pid_slots;
    uint32_t oldcap = s->pid_cap;
    s->pid_slots = xcalloc(cap, sizeof *s->pid_slots);
    s->pid_cap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i])
            put(s->pid_slots, cap - 1, old[i]);
    free(old);
}

struct delivery *pidmap_find(const struct session *s, uint16_t id)
{
    if (!s->pid_cap)
        return NULL;
    uint32_t mask = s->pid_cap - 1;
    for (uint32_t i = id & mask; s->pid_slots[i]; i = (i + 1) & mask)
        if (s->pid_slots[i]->packet_id == id)
            return s->pid_slots[i];
    return NULL;
}

/* `n` is the number of deliveries the table holds once d is in: at most half
 * full keeps probe runs short. */
void pidmap_add(struct session *s, struct delivery *d, uint32_t n)
{
    if (n * 2 > s->pid_cap) {
        uint32_t cap = s->pid_cap ? s->pid_cap : PIDMAP_MIN;
        while (n * 2 > cap)
            cap *= 2;
        resize(s, cap);
    }
    put(s->pid_slots, s->pid_cap - 1, d);
}

/* `n` is the number left once d is out: none frees the table. */
void pidmap_remove(struct session *s, const struct delivery *d, uint32_t n)
{
    if (n == 0) {
        pidmap_free(s);
        return;
    }
    uint32_t mask = s->pid_cap - 1, i = d->packet_id & mask;
    while (s->pid_slots[i] != d)
        i = (i + 1) & mask;
    /* Backward shift: an entry after the hole moves into it unless its home
     * slot lies cyclically in (hole, entry], so no lookup meets a false gap. */
    s->pid_slots[i] = NULL;
    for (uint32_t j = (i + 1) & mask; s->pid_slots[j]; j = (j + 1) & mask) {
        uint32_t home = s->pid_slots[j]->packet_id & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        s->pid_slots[i] = s->pid_slots[j];
        s->pid_slots[j] = NULL;
        i = j;
    }
}

void pidmap_free(struct session *s)
{
    free(s->pid_slots);
    s->pid_slots = NULL;
    s->pid_cap = 0;
}
