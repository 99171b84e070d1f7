/* loop: one epoll set over sockets, fds, one timerfd and one signalfd; budgeted handlers.
 *
 * System calls per pass are what a packet's hop pays for besides the wake-up (strace counted 12
 * poll/getpid calls per round trip in each layer under zmq_poll, against 4 that move the packet),
 * so:
 * - the set is an epoll instance built once, and a wake-up costs one epoll_wait. A loop pass that
 *   did work goes straight back to a blocking epoll_wait, which returns at once if more came;
 * - a ZeroMQ socket is watched through its ZMQ_FD, which signals that the socket's ZMQ_EVENTS may
 *   have changed. ZMQ_EVENTS is read (a system call or two inside libzmq) only when that fd
 *   fired, when the socket's handler has just used it, or when what it waits for changed (the
 *   cases libzmq documents as changing it without a signal), never on a pass that did not touch
 *   it. So a layer whose data comes over shared-memory rings pays nothing for its ZeroMQ control
 *   sockets;
 * - the timerfd is read only when it fired and re-set only when the earliest deadline moved.
 * Busy polling (loop_set_busy_poll, Linux's SO_BUSY_POLL): after work, the loop keeps polling
 * without sleeping for that long, so a reply that comes back within it costs no wake-up. It
 * burns a CPU meanwhile: off by default. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "sdnotify.h"

/* epoll data of the loop's own fds; sources are their index */
#define LOOP_EV_TIMER (LOOP_MAX_SOURCES + 0u)
#define LOOP_EV_SIGNAL (LOOP_MAX_SOURCES + 1u)

struct loop_source {
	void *zsock;  /* a ZeroMQ socket, or NULL for an fd */
	int fd;       /* in the epoll set: the fd, or the socket's ZMQ_FD */
	int own_fd;   /* a dup of fd made for the set (the fd was in it already), or -1 */
	loop_source_fn fn;
	void *arg;
	short events; /* ZMQ_POLLIN and/or ZMQ_POLLOUT */
	bool pending; /* the handler ran out of budget last time */
	bool check;   /* ZeroMQ: read ZMQ_EVENTS before the next sleep */
	bool ready;   /* this pass: what it waits for is there */
};

struct loop_timer {
	loop_timer_fn fn;
	void *arg;
	uint64_t deadline;
};

struct loop {
	struct loop_source src[LOOP_MAX_SOURCES];
	unsigned nsrc;
	struct loop_timer tmr[LOOP_MAX_TIMERS];
	unsigned ntmr;
	int epoll_fd;
	int timer_fd;
	int signal_fd;
	uint64_t armed; /* deadline the timerfd is set to, CLOCK_NEVER if disarmed */
	uint64_t watchdog_interval;
	bool stop;
	bool kicked; /* loop_source_pend during this pass: the next poll must not sleep */
	uint64_t busy_poll_ns; /* 0: sleep as soon as nothing is pending */
	uint64_t last_work;    /* when a handler last ran */
	uint64_t busy_polls;   /* passes that polled instead of sleeping */
};

static uint64_t loop_watchdog_fire(void *arg, uint64_t now)
{
	struct loop *l = arg;
	sdn_watchdog();
	return now + l->watchdog_interval;
}

int loop_create(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	l->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event tev = {.events = EPOLLIN, .data.u32 = LOOP_EV_TIMER};
	struct epoll_event sev = {.events = EPOLLIN, .data.u32 = LOOP_EV_SIGNAL};
	if (l->timer_fd < 0 || l->signal_fd < 0 || l->epoll_fd < 0 ||
	    epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->timer_fd, &tev) < 0 ||
	    epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->signal_fd, &sev) < 0) {
		int e = errno;
		if (l->timer_fd >= 0)
			close(l->timer_fd);
		if (l->signal_fd >= 0)
			close(l->signal_fd);
		if (l->epoll_fd >= 0)
			close(l->epoll_fd);
		free(l);
		return -e;
	}
	l->armed = CLOCK_NEVER;
	/* A wedged loop must stop feeding the watchdog, so the feeding is one of its own timers. */
	l->watchdog_interval = sdn_watchdog_interval();
	if (l->watchdog_interval)
		loop_add_timer(l, loop_watchdog_fire, l, clock_now());
	*out = l;
	return 0;
}

void loop_destroy(struct loop **lp)
{
	struct loop *l = *lp;
	if (!l)
		return;
	for (unsigned i = 0; i < l->nsrc; i++)
		if (l->src[i].own_fd >= 0)
			close(l->src[i].own_fd);
	close(l->epoll_fd);
	close(l->timer_fd);
	close(l->signal_fd);
	free(l);
	*lp = NULL;
}

/* What epoll watches the source's fd for: a ZeroMQ socket's ZMQ_FD only ever signals
 * readability, whatever the socket waits for. */
static uint32_t loop_epoll_events(const struct loop_source *s)
{
	if (s->zsock)
		return EPOLLIN;
	return ((s->events & ZMQ_POLLIN) ? EPOLLIN : 0u) | ((s->events & ZMQ_POLLOUT) ? EPOLLOUT : 0u);
}

static int loop_add_source(struct loop *l, void *zsock, int fd, loop_source_fn fn, void *arg)
{
	if (l->nsrc == LOOP_MAX_SOURCES)
		return -ENOSPC;
	struct loop_source *s = &l->src[l->nsrc];
	*s = (struct loop_source){.zsock = zsock, .fd = fd, .own_fd = -1, .fn = fn, .arg = arg,
				  .events = ZMQ_POLLIN, .check = zsock != NULL};
	if (zsock) {
		size_t len = sizeof(s->fd);
		if (zmq_getsockopt(zsock, ZMQ_FD, &s->fd, &len) < 0)
			return -errno;
	}
	struct epoll_event ev = {.events = loop_epoll_events(s), .data.u32 = l->nsrc};
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		if (errno != EEXIST)
			return -errno;
		/* The fd is another source's too (one fd, two interests): epoll keys on the
		 * fd, so this source watches a duplicate of it. */
		s->own_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
		if (s->own_fd < 0)
			return -errno;
		if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, s->own_fd, &ev) < 0) {
			int e = errno;
			close(s->own_fd);
			return -e;
		}
	}
	return (int)l->nsrc++;
}

void loop_source_events(struct loop *l, int id, short events)
{
	if (id < 0 || (unsigned)id >= l->nsrc || l->src[id].events == events)
		return;
	struct loop_source *s = &l->src[id];
	s->events = events;
	if (s->zsock) {
		/* ZMQ_FD does not signal what is already there: look before sleeping */
		s->check = true;
		return;
	}
	struct epoll_event ev = {.events = loop_epoll_events(s), .data.u32 = (uint32_t)id};
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, s->own_fd >= 0 ? s->own_fd : s->fd, &ev) < 0)
		log_err("loop: watching source %d: %s", id, strerror(errno));
}

void loop_source_pend(struct loop *l, int id)
{
	if (id >= 0 && (unsigned)id < l->nsrc) {
		l->src[id].pending = true;
		l->kicked = true;
	}
}

int loop_add_zsock(struct loop *l, void *zsock, loop_source_fn fn, void *arg)
{
	return loop_add_source(l, zsock, -1, fn, arg);
}

int loop_add_fd(struct loop *l, int fd, loop_source_fn fn, void *arg)
{
	return loop_add_source(l, NULL, fd, fn, arg);
}

int loop_add_timer(struct loop *l, loop_timer_fn fn, void *arg, uint64_t deadline)
{
	if (l->ntmr == LOOP_MAX_TIMERS)
		return -ENOSPC;
	l->tmr[l->ntmr] = (struct loop_timer){.fn = fn, .arg = arg, .deadline = deadline};
	return (int)l->ntmr++;
}

void loop_arm_timer(struct loop *l, int id, uint64_t deadline)
{
	if (id >= 0 && (unsigned)id < l->ntmr)
		l->tmr[id].deadline = deadline;
}

void loop_stop(struct loop *l) { l->stop = true; }

void loop_set_busy_poll(struct loop *l, unsigned us) { l->busy_poll_ns = (uint64_t)us * 1000u; }

uint64_t loop_busy_polls(const struct loop *l) { return l->busy_polls; }

static void loop_rearm(struct loop *l)
{
	uint64_t next = CLOCK_NEVER;
	for (unsigned i = 0; i < l->ntmr; i++)
		if (l->tmr[i].deadline < next)
			next = l->tmr[i].deadline;
	if (next == l->armed)
		return;
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	if (next != CLOCK_NEVER) {
		/* 0 would disarm: a deadline already past fires in 1 ns instead. */
		uint64_t when = next ? next : 1;
		its.it_value.tv_sec = (time_t)(when / CLOCK_NS_PER_S);
		its.it_value.tv_nsec = (long)(when % CLOCK_NS_PER_S);
	}
	timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	l->armed = next;
}

static void loop_run_timers(struct loop *l, uint64_t now, bool fired)
{
	if (fired) {
		uint64_t expirations;
		while (read(l->timer_fd, &expirations, sizeof(expirations)) > 0) {
		}
		l->armed = CLOCK_NEVER; /* the timerfd is spent (or about to be re-set) */
	}
	for (unsigned i = 0; i < l->ntmr; i++) {
		if (l->tmr[i].deadline <= now) {
			l->tmr[i].deadline = CLOCK_NEVER;
			l->tmr[i].deadline = l->tmr[i].fn(l->tmr[i].arg, now);
		}
	}
}

/* A ZeroMQ source's ZMQ_EVENTS, read because its fd fired or it may have changed unsignalled:
 * ready if it holds what the source waits for. Reading it also consumes the fd's signal. */
static bool loop_zsock_ready(struct loop_source *s)
{
	int ev = 0;
	size_t len = sizeof(ev);
	s->check = false;
	if (zmq_getsockopt(s->zsock, ZMQ_EVENTS, &ev, &len) < 0)
		return false;
	return (ev & s->events) != 0;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_SOURCES + 2];
	bool busy = false;
	while (!l->stop) {
		loop_rearm(l);
		for (unsigned i = 0; i < l->nsrc; i++) {
			struct loop_source *s = &l->src[i];
			s->ready = s->check && loop_zsock_ready(s);
			busy |= s->ready;
		}
		int timeout = -1;
		if (busy) {
			timeout = 0;
		} else if (l->busy_poll_ns && clock_now() - l->last_work < l->busy_poll_ns) {
			timeout = 0;
			l->busy_polls++;
		}
		int n = epoll_wait(l->epoll_fd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		bool fired = false;
		for (int k = 0; k < n; k++) {
			uint32_t id = evs[k].data.u32;
			if (id == LOOP_EV_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(l->signal_fd, &si, sizeof(si)) > 0)
					log_notice("signal %u: stopping", si.ssi_signo);
				l->stop = true;
			} else if (id == LOOP_EV_TIMER) {
				fired = true;
			} else if (id < l->nsrc) {
				struct loop_source *s = &l->src[id];
				if (s->zsock)
					s->ready |= loop_zsock_ready(s);
				else
					s->ready |= (evs[k].events & loop_epoll_events(s)) != 0;
			}
		}
		if (l->stop)
			break;
		uint64_t now = clock_now();
		busy = false;
		for (unsigned i = 0; i < l->nsrc; i++) {
			/* A handler that left work behind is called again on the next pass even
			 * without new readiness: an eventfd already drained (io_uring completions
			 * still queued) will not signal again. */
			struct loop_source *s = &l->src[i];
			if (s->ready || s->pending) {
				s->pending = s->fn(s->arg, now);
				busy |= s->pending;
				l->last_work = now;
				/* its sends and receives may have taken the fd's signal */
				s->check = s->zsock != NULL;
			}
		}
		loop_run_timers(l, clock_now(), fired);
		busy |= l->kicked;
		l->kicked = false;
	}
	return 0;
}
