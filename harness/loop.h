/* loop.h -- the harness's single-threaded event loop: file descriptors and timers.
 *
 * What it is for: every client socket of every running scenario, and every step
 * deadline, is owned by one loop_t. Nothing in the harness blocks or sleeps; it
 * registers interest here and is called back.
 *
 * What it is not: a general-purpose library. It uses poll(2) (a run has at most a
 * few hundred sockets) and a binary heap of timers on the monotonic clock.
 */
#ifndef HARNESS_LOOP_H
#define HARNESS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct loop loop_t;

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

/* Called when fd is ready; `events` is a mask of LOOP_READ / LOOP_WRITE. Errors
 * and hang-ups are reported as LOOP_READ so that the owner's read sees them. */
typedef void (*loop_fd_fn)(loop_t *loop, int fd, int events, void *ud);
typedef void (*loop_timer_fn)(loop_t *loop, void *ud);

loop_t *loop_new(void);
void loop_free(loop_t *loop);

/* Milliseconds on the monotonic clock, shared by every part of the harness. */
int64_t loop_now_ms(void);

/* Watches fd for `events` (0 keeps it registered but idle). Calling again for
 * the same fd replaces the mask and callback. Returns 0 or -1. */
int loop_watch(loop_t *loop, int fd, int events, loop_fd_fn fn, void *ud);
void loop_unwatch(loop_t *loop, int fd);

/* One-shot timer at an absolute loop_now_ms() time. Returns an id > 0, or 0 on
 * failure. Cancelling an id that has fired or been cancelled is harmless. */
uint64_t loop_timer_at(loop_t *loop, int64_t when_ms, loop_timer_fn fn, void *ud);
void loop_timer_cancel(loop_t *loop, uint64_t id);

/* Runs one iteration: waits at most max_wait_ms (or until the next timer),
 * dispatches ready fds and due timers. Returns the number of callbacks run,
 * or -1 on a poll error other than EINTR. */
int loop_once(loop_t *loop, int max_wait_ms);

/* Runs until *stop becomes true. */
void loop_run_until(loop_t *loop, const bool *stop);

#endif
