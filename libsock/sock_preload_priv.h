/* sock_preload_priv: what the preload shim's files share (sock_preload.c: the socket, I/O and
 * wait calls; sock_preload_epoll.c: epoll over stack sockets). Not installed. */
#ifndef USTACK_SOCK_PRELOAD_PRIV_H
#define USTACK_SOCK_PRELOAD_PRIV_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define PRELOAD_EXPORT __attribute__((visibility("default")))
#define PRELOAD_FD_MAX 65536 /* descriptors that may be stack sockets */

/* A byte per descriptor number: 1 while it is a stack socket the shim handed out. */
extern atomic_uchar preload_fd[PRELOAD_FD_MAX];
/* Raised around every call into libsock: libsock's own libc calls pass straight through. */
extern __thread unsigned preload_depth;

/* ---- libc's own definitions, found once ---- */

struct preload_libc {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*shutdown)(int, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	int (*close)(int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*dup)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *,
			    const sigset_t *);
};

extern struct preload_libc preload_libc_fn;
void preload_resolve_once(void);

/* libc's definition of name: resolved at the first call of any wrapper (a library's
 * constructor may make that call before ours would run). */
#define LIBC(name) (preload_resolve_once(), preload_libc_fn.name)

/* fd is a stack socket, and this call is the application's (not libsock's own). */
static inline bool preload_is_stack(int fd)
{
	return preload_depth == 0 && fd >= 0 && fd < PRELOAD_FD_MAX &&
	       atomic_load_explicit(&preload_fd[fd], memory_order_acquire);
}

/* poll(2)'s milliseconds for a timespec, rounded up; -1 for none, -2 if it is invalid. */
int preload_ts_ms(const struct timespec *ts);
/* us_poll under a signal mask (set around the wait, not atomically with it). */
int preload_poll_masked(struct pollfd *fds, nfds_t n, int ms, const sigset_t *mask);

/* sock_preload_epoll.c: a stack socket closes (drop it from every set); a kernel descriptor
 * closes (if it is an epoll set we keep stack sockets of, forget the set); a forked child
 * keeps no set (its sockets are the parent's). */
void preload_epoll_forget_fd(int fd);
void preload_epoll_closing(int fd);
void preload_epoll_atfork_child(void);

#endif
