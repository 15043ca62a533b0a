/* ev.h -- the broker's event loop: epoll for sockets, a binary heap for timers.
 *
 * What it is for: everything in mqspec-broker that waits (a socket becoming
 * readable, a keep-alive deadline, a Will Delay, a session's expiry) registers
 * here and is called back from ev_run(). Timers have millisecond resolution and
 * fire when they are due: there is no once-a-second sweep, so a session with a
 * Session Expiry Interval of 2 ends 2000 ms after its connection closed.
 *
 * What it is not: thread-safe, or general. One loop per process; callbacks run
 * to completion and may start, stop or free other timers and watchers.
 */
#ifndef BROKER_EV_H
#define BROKER_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EV_READ = 1, EV_WRITE = 2 };

struct ev_io;
typedef void (*ev_io_fn)(struct ev_io *io, int events);

/* Embedded in its owner; `arg` gets the owner back in the callback. */
struct ev_io {
    int fd;
    int mask;
    ev_io_fn fn;
    void *arg;
};

typedef void (*ev_timer_fn)(void *arg);

/* Embedded in its owner. `idx` is its heap slot (0 = not armed); owners never
 * touch the fields, only ev_timer_*. */
struct ev_timer {
    uint64_t when;
    size_t idx;
    uint64_t seq;
    ev_timer_fn fn;
    void *arg;
};

int ev_init(void);
void ev_shutdown(void);

/* Milliseconds on the monotonic clock. */
uint64_t ev_now(void);

/* Starts watching io->fd for `mask`, or changes the mask; 0 keeps it idle. */
int ev_io_set(struct ev_io *io, int mask);
void ev_io_del(struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_fn fn, void *arg);
/* (Re)arms the timer to fire once, delay_ms from now. */
void ev_timer_start(struct ev_timer *t, uint64_t delay_ms);
void ev_timer_stop(struct ev_timer *t);
bool ev_timer_active(const struct ev_timer *t);

/* Called once after every batch of events and timers: the place where work
 * collected during the batch (output to flush, connections to free) is done. */
void ev_on_batch_end(void (*fn)(void));

/* Runs until ev_stop(). Returns 0, or -1 if epoll failed. */
int ev_run(void);
void ev_stop(void);

#endif
