/* loop: zmq_poll over sockets, fds, one timerfd and one signalfd; budgeted handlers.
 *
 * System calls per pass are what a packet's hop pays for besides the wake-up, so the timerfd
 * is read only when it fired and re-set only when the earliest deadline moved (strace showed a
 * read and a timerfd_settime in every pass). Busy polling (loop_set_busy_poll, Linux's
 * SO_BUSY_POLL): after work, the loop keeps polling without sleeping for that long, so a reply
 * that comes back within it costs no wake-up. It burns a CPU meanwhile: off by default. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "sdnotify.h"

struct loop_source {
	void *zsock;
	int fd;
	loop_source_fn fn;
	void *arg;
	short events; /* ZMQ_POLLIN and/or ZMQ_POLLOUT */
	bool pending; /* the handler ran out of budget last time */
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
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	l->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->timer_fd < 0 || l->signal_fd < 0) {
		int e = errno;
		if (l->timer_fd >= 0)
			close(l->timer_fd);
		if (l->signal_fd >= 0)
			close(l->signal_fd);
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
	close(l->timer_fd);
	close(l->signal_fd);
	free(l);
	*lp = NULL;
}

static int loop_add_source(struct loop *l, void *zsock, int fd, loop_source_fn fn, void *arg)
{
	if (l->nsrc == LOOP_MAX_SOURCES)
		return -ENOSPC;
	l->src[l->nsrc] = (struct loop_source){.zsock = zsock, .fd = fd, .fn = fn, .arg = arg,
					       .events = ZMQ_POLLIN};
	return (int)l->nsrc++;
}

void loop_source_events(struct loop *l, int id, short events)
{
	if (id >= 0 && (unsigned)id < l->nsrc)
		l->src[id].events = events;
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

int loop_run(struct loop *l)
{
	zmq_pollitem_t items[LOOP_MAX_SOURCES + 2];
	bool busy = false;
	while (!l->stop) {
		unsigned n = 0;
		for (unsigned i = 0; i < l->nsrc; i++)
			items[n++] = (zmq_pollitem_t){.socket = l->src[i].zsock, .fd = l->src[i].fd,
						      .events = l->src[i].events};
		items[n++] = (zmq_pollitem_t){.fd = l->timer_fd, .events = ZMQ_POLLIN};
		items[n++] = (zmq_pollitem_t){.fd = l->signal_fd, .events = ZMQ_POLLIN};
		loop_rearm(l);
		int timeout = -1;
		if (busy) {
			timeout = 0;
		} else if (l->busy_poll_ns && clock_now() - l->last_work < l->busy_poll_ns) {
			timeout = 0;
			l->busy_polls++;
		}
		int rc = zmq_poll(items, (int)n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (items[n - 1].revents & ZMQ_POLLIN) {
			struct signalfd_siginfo si;
			if (read(l->signal_fd, &si, sizeof(si)) > 0)
				log_notice("signal %u: stopping", si.ssi_signo);
			l->stop = true;
			break;
		}
		uint64_t now = clock_now();
		busy = false;
		for (unsigned i = 0; i < l->nsrc; i++) {
			/* A handler that left work behind is called again on the next pass even
			 * without new readiness: an eventfd already drained (io_uring completions
			 * still queued) will not signal again. */
			struct loop_source *s = &l->src[i];
			if ((items[i].revents & s->events) || s->pending) {
				s->pending = s->fn(s->arg, now);
				busy |= s->pending;
				l->last_work = now;
			}
		}
		loop_run_timers(l, clock_now(), items[n - 2].revents & ZMQ_POLLIN);
		busy |= l->kicked;
		l->kicked = false;
	}
	return 0;
}
