/* loop.c -- poll(2) and a timer heap; see loop.h. */
#define _POSIX_C_SOURCE 200809L
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct watch {
    int fd;
    int events;
    loop_fd_fn fn;
    void *ud;
    bool removed;
} watch_t;

typedef struct timer {
    int64_t when;
    uint64_t id;
    loop_timer_fn fn;
    void *ud;
} timer_t_;

struct loop {
    watch_t *watches;
    size_t nwatches, capwatches;
    struct pollfd *pfds;
    size_t cappfds;
    timer_t_ *heap;
    size_t nheap, capheap;
    uint64_t next_id;
    bool dispatching;   /* unwatch during dispatch marks instead of compacting */
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

loop_t *loop_new(void)
{
    loop_t *l = calloc(1, sizeof *l);
    if (l)
        l->next_id = 1;
    return l;
}

void loop_free(loop_t *l)
{
    if (!l)
        return;
    free(l->watches);
    free(l->pfds);
    free(l->heap);
    free(l);
}

static watch_t *find_watch(loop_t *l, int fd)
{
    for (size_t i = 0; i < l->nwatches; i++)
        if (l->watches[i].fd == fd && !l->watches[i].removed)
            return &l->watches[i];
    return NULL;
}

int loop_watch(loop_t *l, int fd, int events, loop_fd_fn fn, void *ud)
{
    watch_t *w = find_watch(l, fd);
    if (!w) {
        if (l->nwatches == l->capwatches) {
            size_t cap = l->capwatches ? l->capwatches * 2 : 16;
            watch_t *nw = realloc(l->watches, cap * sizeof *nw);
            if (!nw)
                return -1;
            l->watches = nw;
            l->capwatches = cap;
        }
        w = &l->watches[l->nwatches++];
        w->fd = fd;
    }
    w->events = events;
    w->fn = fn;
    w->ud = ud;
    w->removed = false;
    return 0;
}

static void compact_watches(loop_t *l)
{
    size_t j = 0;
    for (size_t i = 0; i < l->nwatches; i++)
        if (!l->watches[i].removed)
            l->watches[j++] = l->watches[i];
    l->nwatches = j;
}

void loop_unwatch(loop_t *l, int fd)
{
    watch_t *w = find_watch(l, fd);
    if (!w)
        return;
    w->removed = true;
    if (!l->dispatching)
        compact_watches(l);
}

/* ---- timer heap, ordered by (when, id) so equal deadlines fire in order ---- */

static bool timer_before(const timer_t_ *a, const timer_t_ *b)
{
    return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_swap(timer_t_ *h, size_t a, size_t b)
{
    timer_t_ t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static void heap_up(timer_t_ *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&h[i], &h[p]))
            break;
        heap_swap(h, i, p);
        i = p;
    }
}

static void heap_down(timer_t_ *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && timer_before(&h[l], &h[m]))
            m = l;
        if (r < n && timer_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
}

uint64_t loop_timer_at(loop_t *l, int64_t when, loop_timer_fn fn, void *ud)
{
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 32;
        timer_t_ *nh = realloc(l->heap, cap * sizeof *nh);
        if (!nh)
            return 0;
        l->heap = nh;
        l->capheap = cap;
    }
    /* Read the id before sifting: heap_up moves the new entry. */
    uint64_t id = l->next_id++;
    l->heap[l->nheap] = (timer_t_){.when = when, .id = id, .fn = fn, .ud = ud};
    heap_up(l->heap, l->nheap++);
    return id;
}

void loop_timer_cancel(loop_t *l, uint64_t id)
{
    if (id == 0)
        return;
    for (size_t i = 0; i < l->nheap; i++) {
        if (l->heap[i].id != id)
            continue;
        l->heap[i] = l->heap[--l->nheap];
        if (i < l->nheap) {
            heap_up(l->heap, i);
            heap_down(l->heap, l->nheap, i);
        }
        return;
    }
}

static int run_due_timers(loop_t *l)
{
    int ran = 0;
    int64_t now = loop_now_ms();
    /* Bounded: a timer scheduled by a callback for "now" runs next iteration. */
    uint64_t limit = l->next_id;
    while (l->nheap > 0 && l->heap[0].when <= now && l->heap[0].id < limit) {
        timer_t_ t = l->heap[0];
        l->heap[0] = l->heap[--l->nheap];
        heap_down(l->heap, l->nheap, 0);
        t.fn(l, t.ud);
        ran++;
    }
    return ran;
}

int loop_once(loop_t *l, int max_wait_ms)
{
    int ran = run_due_timers(l);
    int wait = max_wait_ms;
    if (ran > 0)
        wait = 0;
    else if (l->nheap > 0) {
        int64_t until = l->heap[0].when - loop_now_ms();
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = (int)until;
    }

    if (l->cappfds < l->nwatches) {
        struct pollfd *np = realloc(l->pfds, l->nwatches * sizeof *np);
        if (!np)
            return -1;
        l->pfds = np;
        l->cappfds = l->nwatches;
    }
    size_t n = l->nwatches;
    for (size_t i = 0; i < n; i++) {
        l->pfds[i].fd = l->watches[i].events ? l->watches[i].fd : -1;
        l->pfds[i].events = (short)(((l->watches[i].events & LOOP_READ) ? POLLIN : 0) |
                                    ((l->watches[i].events & LOOP_WRITE) ? POLLOUT : 0));
        l->pfds[i].revents = 0;
    }
    int rc = poll(l->pfds, (nfds_t)n, wait);
    if (rc < 0)
        return errno == EINTR ? ran : -1;

    l->dispatching = true;
    for (size_t i = 0; i < n && rc > 0; i++) {
        short re = l->pfds[i].revents;
        if (!re)
            continue;
        rc--;
        /* A callback may unwatch or re-watch any fd; look it up afresh. */
        watch_t *w = find_watch(l, l->pfds[i].fd);
        if (!w)
            continue;
        int ev = 0;
        if (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
            ev |= LOOP_READ;
        if (re & POLLOUT)
            ev |= LOOP_WRITE;
        ev &= w->events | ((re & (POLLHUP | POLLERR | POLLNVAL)) ? LOOP_READ : 0);
        if (!ev)
            continue;
        w->fn(l, w->fd, ev, w->ud);
        ran++;
    }
    l->dispatching = false;
    compact_watches(l);
    return ran + run_due_timers(l);
}

void loop_run_until(loop_t *l, const bool *stop)
{
    while (!*stop)
        if (loop_once(l, 1000) < 0)
            break;
}
