/* sock_preload_epoll: epoll over stack sockets, for the preload shim.
 *
 * A stack socket's descriptor is an eventfd: registered in a kernel epoll set it would be
 * read-ready whenever the stack signalled it (exact enough) and write-ready always (wrong: a
 * program waiting for a connect or for send room would be told at once, and spin). So stack
 * sockets never enter the kernel's set. The shim keeps them in its own table per epoll
 * descriptor (the events and the data the program gave), and an epoll_wait on a set that has
 * any is one us_poll over those sockets plus the epoll descriptor itself (read-ready when one
 * of the kernel descriptors in the set has an event, which a zero-timeout epoll_wait then
 * collects). us_poll is what tells a stack socket's readiness exactly (sock_poll.c), so epoll
 * answers as poll does.
 *
 * Semantics kept: level-triggered readiness, EPOLLONESHOT (disabled once reported, until
 * EPOLL_CTL_MOD), EPOLLERR and EPOLLHUP reported whatever was asked, a closed stack socket
 * leaving every set, EEXIST/ENOENT/EINVAL/EBADF/EFAULT as epoll_ctl(2) gives them.
 * EPOLLET on a stack socket is served level-triggered: a program written for edge triggering
 * reads or writes until EAGAIN, which stays correct, at the price of a wake-up more. Each
 * epoll set holds at most PRELOAD_EP_ENTRIES stack sockets (every one libsock can open), and
 * at most PRELOAD_EP_SETS sets per process may hold any (ENOMEM beyond, as epoll gives when
 * out of memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sock_preload_priv.h"
#include "ustack/sock.h"

#define PRELOAD_EP_SETS 32u
#define PRELOAD_EP_ENTRIES 128u /* libsock's 64 sockets of each type */
/* What poll and epoll share bit for bit (Linux defines EPOLLIN == POLLIN, and so on). */
#define PRELOAD_EP_POLL_BITS                                                                    \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | \
	 EPOLLRDHUP)

struct preload_ep_ent {
	int fd;
	uint32_t events;
	epoll_data_t data;
	bool disabled; /* EPOLLONESHOT, reported */
};

struct preload_ep_set {
	int epfd; /* -1: free */
	unsigned n;
	struct preload_ep_ent ent[PRELOAD_EP_ENTRIES];
};

static struct preload_ep_set ep_sets[PRELOAD_EP_SETS];
static bool ep_sets_ready;
static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
/* A byte per descriptor: 1 while it is an epoll set in ep_sets (checked on every close). */
static atomic_uchar ep_marked[PRELOAD_FD_MAX];

static void ep_init_locked(void)
{
	if (ep_sets_ready)
		return;
	for (unsigned i = 0; i < PRELOAD_EP_SETS; i++)
		ep_sets[i].epfd = -1;
	ep_sets_ready = true;
}

static struct preload_ep_set *ep_find_locked(int epfd)
{
	ep_init_locked();
	for (unsigned i = 0; i < PRELOAD_EP_SETS; i++)
		if (ep_sets[i].epfd == epfd)
			return &ep_sets[i];
	return NULL;
}

static void ep_release_locked(struct preload_ep_set *set)
{
	if (set->epfd >= 0 && set->epfd < PRELOAD_FD_MAX)
		atomic_store(&ep_marked[set->epfd], 0);
	set->epfd = -1;
	set->n = 0;
}

static int ep_index(const struct preload_ep_set *set, int fd)
{
	for (unsigned i = 0; set && i < set->n; i++)
		if (set->ent[i].fd == fd)
			return (int)i;
	return -1;
}

/* epfd is an open epoll descriptor: EBADF if not open, EINVAL if not an epoll set. */
static int ep_check_epfd(int epfd)
{
	if (fcntl(epfd, F_GETFD) < 0)
		return -EBADF;
	char link[64], want[] = "anon_inode:[eventpoll]";
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", epfd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0; /* no /proc: trust the caller, as the kernel would find out later */
	link[n] = '\0';
	return strcmp(link, want) == 0 ? 0 : -EINVAL;
}

static int ep_fail(int err)
{
	errno = err;
	return -1;
}

PRELOAD_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (!preload_is_stack(fd))
		return LIBC(epoll_ctl)(epfd, op, fd, ev);
	if (epfd < 0 || epfd >= PRELOAD_FD_MAX)
		return ep_fail(EBADF);
	int rc = ep_check_epfd(epfd);
	if (rc < 0)
		return ep_fail(-rc);
	if (epfd == fd)
		return ep_fail(EINVAL);
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && !ev)
		return ep_fail(EFAULT);
	pthread_mutex_lock(&ep_lock);
	struct preload_ep_set *set = ep_find_locked(epfd);
	int i = ep_index(set, fd);
	int err = 0;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (i >= 0) {
			err = EEXIST;
			break;
		}
		if (!set) {
			set = ep_find_locked(-1);
			if (!set) {
				err = ENOMEM;
				break;
			}
			set->epfd = epfd;
			set->n = 0;
			atomic_store(&ep_marked[epfd], 1);
		}
		if (set->n == PRELOAD_EP_ENTRIES) {
			err = ENOSPC; /* as max_user_watches reached */
			break;
		}
		set->ent[set->n++] = (struct preload_ep_ent){
			.fd = fd, .events = ev->events, .data = ev->data};
		break;
	case EPOLL_CTL_MOD:
		if (i < 0) {
			err = ENOENT;
			break;
		}
		set->ent[i].events = ev->events;
		set->ent[i].data = ev->data;
		set->ent[i].disabled = false;
		break;
	case EPOLL_CTL_DEL:
		if (i < 0) {
			err = ENOENT;
			break;
		}
		set->ent[i] = set->ent[--set->n];
		break;
	default:
		err = EINVAL;
	}
	pthread_mutex_unlock(&ep_lock);
	return err ? ep_fail(err) : 0;
}

void preload_epoll_forget_fd(int fd)
{
	pthread_mutex_lock(&ep_lock);
	for (unsigned s = 0; ep_sets_ready && s < PRELOAD_EP_SETS; s++) {
		struct preload_ep_set *set = &ep_sets[s];
		int i = set->epfd >= 0 ? ep_index(set, fd) : -1;
		if (i >= 0)
			set->ent[i] = set->ent[--set->n];
	}
	pthread_mutex_unlock(&ep_lock);
}

void preload_epoll_closing(int fd)
{
	if (fd < 0 || fd >= PRELOAD_FD_MAX || !atomic_load(&ep_marked[fd]))
		return;
	pthread_mutex_lock(&ep_lock);
	struct preload_ep_set *set = ep_find_locked(fd);
	if (set)
		ep_release_locked(set);
	pthread_mutex_unlock(&ep_lock);
}

void preload_epoll_atfork_child(void)
{
	/* The child is one thread, and the lock may have been held by another at the fork. */
	pthread_mutex_init(&ep_lock, NULL);
	for (unsigned s = 0; ep_sets_ready && s < PRELOAD_EP_SETS; s++)
		if (ep_sets[s].epfd >= 0)
			ep_release_locked(&ep_sets[s]);
}

static uint64_t ep_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The wait of a set that holds stack sockets: see the file's head. ms < 0: no timeout. */
static int ep_wait(int epfd, struct epoll_event *events, int maxevents, int ms,
		   const sigset_t *mask)
{
	struct preload_ep_ent ent[PRELOAD_EP_ENTRIES];
	struct pollfd p[PRELOAD_EP_ENTRIES + 1];
	uint64_t deadline = ms > 0 ? ep_now_ms() + (uint64_t)ms : 0;
	for (;;) {
		unsigned n = 0;
		pthread_mutex_lock(&ep_lock);
		struct preload_ep_set *set = ep_find_locked(epfd);
		for (unsigned i = 0; set && i < set->n; i++)
			if (!set->ent[i].disabled)
				ent[n++] = set->ent[i];
		pthread_mutex_unlock(&ep_lock);
		for (unsigned i = 0; i < n; i++)
			p[i] = (struct pollfd){.fd = ent[i].fd,
					       .events = (short)(ent[i].events & PRELOAD_EP_POLL_BITS)};
		p[n] = (struct pollfd){.fd = epfd, .events = POLLIN};
		uint64_t now = ep_now_ms();
		int left = ms <= 0 ? ms : (int)(deadline > now ? deadline - now : 0);
		if (preload_poll_masked(p, n + 1, left, mask) < 0)
			return -1; /* EINTR included: as epoll_wait, a signal ends the call */
		int out = 0;
		for (unsigned i = 0; i < n && out < maxevents; i++) {
			uint32_t rev = (uint16_t)p[i].revents;
			if (rev & POLLNVAL)
				continue; /* closed under us: it leaves the set with its close */
			rev &= ent[i].events | EPOLLERR | EPOLLHUP;
			if (!rev)
				continue;
			events[out++] = (struct epoll_event){.events = rev, .data = ent[i].data};
			if (ent[i].events & EPOLLONESHOT) {
				pthread_mutex_lock(&ep_lock);
				struct preload_ep_set *s = ep_find_locked(epfd);
				int k = ep_index(s, ent[i].fd);
				if (k >= 0)
					s->ent[k].disabled = true;
				pthread_mutex_unlock(&ep_lock);
			}
		}
		if (out < maxevents && (p[n].revents & POLLIN)) {
			int k = LIBC(epoll_wait)(epfd, events + out, maxevents - out, 0);
			if (k > 0)
				out += k;
		}
		if (out > 0)
			return out;
		if (ms == 0 || (ms > 0 && ep_now_ms() >= deadline))
			return 0;
		/* Woken by the set, whose event another thread took first: wait on. */
	}
}

/* The set holds stack sockets (and the caller is the application): ours to wait on. */
static bool ep_ours(int epfd)
{
	return preload_depth == 0 && epfd >= 0 && epfd < PRELOAD_FD_MAX &&
	       atomic_load(&ep_marked[epfd]);
}

PRELOAD_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	if (!ep_ours(epfd) || maxevents <= 0 || !events)
		return LIBC(epoll_wait)(epfd, events, maxevents, timeout);
	preload_depth++;
	int rc = ep_wait(epfd, events, maxevents, timeout < 0 ? -1 : timeout, NULL);
	preload_depth--;
	return rc;
}

PRELOAD_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
			       const sigset_t *mask)
{
	if (!ep_ours(epfd) || maxevents <= 0 || !events)
		return LIBC(epoll_pwait)(epfd, events, maxevents, timeout, mask);
	preload_depth++;
	int rc = ep_wait(epfd, events, maxevents, timeout < 0 ? -1 : timeout, mask);
	preload_depth--;
	return rc;
}

PRELOAD_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
				const struct timespec *ts, const sigset_t *mask)
{
	if (!ep_ours(epfd) || maxevents <= 0 || !events) {
		if (!LIBC(epoll_pwait2))
			return ep_fail(ENOSYS);
		return LIBC(epoll_pwait2)(epfd, events, maxevents, ts, mask);
	}
	int ms = preload_ts_ms(ts);
	if (ms == -2)
		return ep_fail(EINVAL);
	preload_depth++;
	int rc = ep_wait(epfd, events, maxevents, ms, mask);
	preload_depth--;
	return rc;
}
