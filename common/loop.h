/* loop: the single-threaded, run-to-completion event loop of every server (NAPI style).
 *
 * Sources are ZeroMQ sockets and file descriptors; each has a handler that takes at most its own
 * budget of work and returns true if it left work behind, in which case the next poll does not
 * sleep. A source waits for ZMQ_POLLIN unless told otherwise (loop_source_events): a sender
 * held back by a full link waits for the link's ZMQ_POLLOUT, and only while it is held back.
 * Timers are absolute CLOCK_MONOTONIC deadlines in one timerfd, re-armed after every pass
 * from the earliest deadline. SIGTERM and SIGINT (via signalfd) end loop_run. When systemd asked
 * for a watchdog, the loop feeds it from its own timer: a wedged loop stops feeding it.
 */
#ifndef USTACK_LOOP_H
#define USTACK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define LOOP_MAX_SOURCES 16
#define LOOP_MAX_TIMERS 8

struct loop;

/* Handle readiness; return true when more work is waiting (budget exhausted). */
typedef bool (*loop_source_fn)(void *arg, uint64_t now);
/* A timer fired at or after its deadline; return the next deadline or CLOCK_NEVER. */
typedef uint64_t (*loop_timer_fn)(void *arg, uint64_t now);

int loop_create(struct loop **out);
void loop_destroy(struct loop **l);

/* Both return the source's id (>= 0), or -ENOSPC. */
int loop_add_zsock(struct loop *l, void *zsock, loop_source_fn fn, void *arg);
int loop_add_fd(struct loop *l, int fd, loop_source_fn fn, void *arg);
/* What source id waits for from the next poll on: ZMQ_POLLIN, ZMQ_POLLOUT, both, or 0 (only
 * its pending work, if any, calls it). */
void loop_source_events(struct loop *l, int id, short events);
/* Work for source id was found elsewhere (another source's handler): call it on the next pass,
 * which does not sleep, as if it had returned true. */
void loop_source_pend(struct loop *l, int id);
/* Returns a timer id >= 0, armed at `deadline` (CLOCK_NEVER = disarmed). */
int loop_add_timer(struct loop *l, loop_timer_fn fn, void *arg, uint64_t deadline);
void loop_arm_timer(struct loop *l, int id, uint64_t deadline);

/* Busy polling (Linux's SO_BUSY_POLL): for `us` microseconds after a handler last ran, poll
 * without sleeping (0: off, the default). loop_busy_polls counts the passes that did. */
void loop_set_busy_poll(struct loop *l, unsigned us);
uint64_t loop_busy_polls(const struct loop *l);

/* Run until SIGTERM/SIGINT or loop_stop. 0, or a negative errno if polling failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
