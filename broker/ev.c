/* ev.c -- epoll and a timer heap; see ev.h.
 *
 * The heap is 1-based (slot 0 unused) so that idx 0 means "not armed". Equal
 * deadlines fire in the order they were armed (seq), which keeps runs
 * reproducible: two Wills with the same delay are published in arming order.
 */
#include "ev.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static int epfd = -1;
static bool stopping;
static struct ev_timer **heap;     /* heap[1..nheap] */
static size_t nheap, capheap;
static uint64_t next_seq;
static void (*batch_end)(void);

uint64_t ev_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ev_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    return epfd < 0 ? -1 : 0;
}

void ev_shutdown(void)
{
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
    free(heap);
    heap = NULL;
    nheap = capheap = 0;
}

int ev_io_set(struct ev_io *io, int mask)
{
    struct epoll_event e = {0};
    if (mask & EV_READ)
        e.events |= EPOLLIN;
    if (mask & EV_WRITE)
        e.events |= EPOLLOUT;
    e.data.ptr = io;
    int op = io->mask < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(epfd, op, io->fd, &e) < 0)
        return -1;
    io->mask = mask;
    return 0;
}

void ev_io_del(struct ev_io *io)
{
    if (io->mask >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->mask = -1;
}

/* ---- timer heap ---- */

static bool earlier(const struct ev_timer *a, const struct ev_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(size_t i, struct ev_timer *t)
{
    heap[i] = t;
    t->idx = i;
}

static void sift_up(size_t i)
{
    struct ev_timer *t = heap[i];
    while (i > 1 && earlier(t, heap[i / 2])) {
        place(i, heap[i / 2]);
        i /= 2;
    }
    place(i, t);
}

static void sift_down(size_t i)
{
    struct ev_timer *t = heap[i];
    for (;;) {
        size_t c = 2 * i;
        if (c > nheap)
            break;
        if (c + 1 <= nheap && earlier(heap[c + 1], heap[c]))
            c++;
        if (!earlier(heap[c], t))
            break;
        place(i, heap[c]);
        i = c;
    }
    place(i, t);
}

void ev_timer_init(struct ev_timer *t, ev_timer_fn fn, void *arg)
{
    t->when = 0;
    t->idx = 0;
    t->seq = 0;
    t->fn = fn;
    t->arg = arg;
}

bool ev_timer_active(const struct ev_timer *t)
{
    return t->idx != 0;
}

void ev_timer_stop(struct ev_timer *t)
{
    size_t i = t->idx;
    if (i == 0)
        return;
    t->idx = 0;
    struct ev_timer *last = heap[nheap--];
    if (i <= nheap) {
        place(i, last);
        sift_down(i);
        sift_up(last->idx);
    }
}

void ev_timer_start(struct ev_timer *t, uint64_t delay_ms)
{
    ev_timer_stop(t);
    if (nheap + 1 >= capheap) {
        size_t ncap = capheap ? capheap * 2 : 64;
        struct ev_timer **n = realloc(heap, ncap * sizeof *n);
        if (!n)
            abort();        /* a broker that cannot keep its timers is wrong, not slow */
        heap = n;
        capheap = ncap;
    }
    t->when = ev_now() + delay_ms;
    t->seq = ++next_seq;
    heap[++nheap] = t;
    t->idx = nheap;
    sift_up(nheap);
}

void ev_on_batch_end(void (*fn)(void))
{
    batch_end = fn;
}

void ev_stop(void)
{
    stopping = true;
}

static void run_timers(void)
{
    /* Bounded by the timers due now: one armed by a callback for "now + 0"
     * runs in the next batch, never in this loop. */
    uint64_t now = ev_now();
    uint64_t last_seq = next_seq;
    while (nheap > 0 && heap[1]->when <= now && heap[1]->seq <= last_seq) {
        struct ev_timer *t = heap[1];
        ev_timer_stop(t);
        t->fn(t->arg);
    }
}

int ev_run(void)
{
    struct epoll_event evs[64];
    stopping = false;
    while (!stopping) {
        int timeout = -1;
        if (nheap > 0) {
            uint64_t now = ev_now();
            uint64_t wait = heap[1]->when <= now ? 0 : heap[1]->when - now;
            timeout = wait > 60000 ? 60000 : (int)wait;
        }
        int n = epoll_wait(epfd, evs, 64, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (int i = 0; i < n; i++) {
            struct ev_io *io = evs[i].data.ptr;
            int m = 0;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                m |= EV_READ;
            if (evs[i].events & EPOLLOUT)
                m |= EV_WRITE;
            io->fn(io, m);
        }
        run_timers();
        if (batch_end)
            batch_end();
    }
    return 0;
}
