/* xport_wake: writing the applications' slot eventfds (a socket's descriptor is its slot's
 * eventfd: common/session.h), batched per loop pass: a slot marked several times in a pass is
 * written once, after the pass's work (an eventfd write costs as much as the copy of a small
 * datagram).
 *
 * The eventfds are the application's, and it can clear O_NONBLOCK on the shared file
 * description and raise the counter to its maximum, where write() blocks. So a write goes
 * through a zero-timeout poll first: POLLIN means the counter is already non-zero (the reader
 * will wake anyway; no write needed), no POLLOUT means it is saturated (counted, not written).
 * Only an application racing its own counter up between the two calls could still stall the
 * loop, until the watchdog restarts the server.
 */
#include <poll.h>
#include <unistd.h>

#include "xport.h"

void xport_wake_fd(struct xport *x, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	if (poll(&p, 1, 0) < 0 || (p.revents & POLLIN))
		return;
	if (!(p.revents & POLLOUT)) {
		x->stats.rx_wake_saturated++;
		return;
	}
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n; /* EAGAIN: saturated meanwhile, and then the reader wakes anyway */
}

void xport_wake_mark(struct xport *x, unsigned si, unsigned slot)
{
	struct xport_session *s = &x->sess[si];
	if (!s->wake_mask) {
		if (x->n_wake == XPORT_SESSIONS_MAX)
			xport_wake_flush(x);
		x->wake_list[x->n_wake++] = (uint16_t)si;
	}
	s->wake_mask |= 1ull << slot;
}

void xport_wake_flush(struct xport *x)
{
	for (unsigned i = 0; i < x->n_wake; i++) {
		struct xport_session *s = &x->sess[x->wake_list[i]];
		uint64_t mask = s->wake_mask;
		s->wake_mask = 0;
		if (s->state != XPORT_SESS_ATTACHED)
			continue;
		while (mask) {
			unsigned slot = (unsigned)__builtin_ctzll(mask);
			mask &= mask - 1;
			if (slot < REGION_SLOTS_MAX && s->slot_fd[slot] >= 0)
				xport_wake_fd(x, s->slot_fd[slot]);
		}
	}
	x->n_wake = 0;
}
