/* sock_preload: the LD_PRELOAD shim (libsock-preload.so) that serves an unmodified program's
 * IPv4 sockets from a ustack instance instead of the kernel.
 *
 *   USTACK_INSTANCE=demo LD_PRELOAD=/usr/local/lib/libsock-preload.so curl http://10.0.0.1/
 *
 * What goes to the stack: socket(AF_INET, SOCK_STREAM | SOCK_DGRAM, ...) (with SOCK_NONBLOCK /
 * SOCK_CLOEXEC), and everything the program does later on such a descriptor: the socket calls,
 * read/write/readv/writev, sendfile onto it, fcntl, ioctl (FIONBIO, FIONREAD, TIOCOUTQ),
 * poll/ppoll/select/pselect and epoll (sock_preload_epoll.c) over any mix with ordinary
 * descriptors, dup2/dup3 onto it, close. Any other AF_INET type (SOCK_RAW, ...) gets the
 * stack's errno for it (ESOCKTNOSUPPORT), never a kernel socket that would bypass the stack
 * unseen. Every other family (AF_UNIX, AF_NETLINK, AF_INET6, ...) and every other descriptor
 * is the kernel's, untouched: the wrapper passes the call on.
 *
 * Recursion. libsock itself calls close, read, write, poll and fcntl (on its eventfds, and
 * close on the application's descriptor inside us_close), and those calls land here too, since
 * a preloaded library's definitions come first for every library in the process. A per-thread
 * depth counter, raised around every call into libsock, sends them straight to libc. ZeroMQ's
 * own threads never raise it, and never need to: their descriptors are never stack sockets.
 *
 * Which descriptor is a stack socket: a byte per descriptor number, set when socket() or
 * accept() hand one out and cleared before its close, read with one atomic load, so the
 * kernel's descriptors pay a load and a branch per call. Descriptors at or above
 * PRELOAD_FD_MAX are refused for stack sockets (EMFILE): the table is fixed so that no lock
 * or allocation sits on every read() of the process.
 *
 * What stays different from the kernel (README, "Unmodified programs"):
 *   - EPOLLET on a stack socket is served level-triggered (sock_preload_epoll.c keeps stack
 *     sockets out of the kernel's epoll sets, where the eventfd would read writable always);
 *   - dup()/F_DUPFD of a stack socket fail with EINVAL (one descriptor per socket);
 *   - ppoll/pselect apply their signal mask around the wait, not atomically with it;
 *   - after fork() only the parent keeps using the stack's sockets: in the child they are
 *     plain eventfds (closing one leaves the parent's socket alone), and a child that opens
 *     sockets of its own without exec() is not supported; a socket inherited over exec() is
 *     a plain eventfd to the new program;
 *   - ioctl on a stack socket knows FIONBIO, FIONREAD and TIOCOUTQ only (us_ioctl; ENOTTY
 *     otherwise).
 */
/* The wrappers define read, recv, poll...: fortified inline versions of them must not exist. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sock_preload_priv.h"
#include "ustack/sock.h"

#define PRELOAD_SENDFILE_CHUNK 65536  /* bytes read per step of sendfile onto a stack socket */
#define PRELOAD_POLL_STACK 64u        /* select()'s descriptors handled without malloc */

atomic_uchar preload_fd[PRELOAD_FD_MAX];
static atomic_int preload_fd_top = -1; /* the highest descriptor ever marked */
__thread unsigned preload_depth;

struct preload_libc preload_libc_fn;
static pthread_once_t preload_once = PTHREAD_ONCE_INIT;

static void preload_resolve(void)
{
#define PRELOAD_FIND(name) *(void **)&preload_libc_fn.name = dlsym(RTLD_NEXT, #name)
	PRELOAD_FIND(socket);
	PRELOAD_FIND(bind);
	PRELOAD_FIND(connect);
	PRELOAD_FIND(listen);
	PRELOAD_FIND(accept);
	PRELOAD_FIND(accept4);
	PRELOAD_FIND(shutdown);
	PRELOAD_FIND(getsockname);
	PRELOAD_FIND(getpeername);
	PRELOAD_FIND(setsockopt);
	PRELOAD_FIND(getsockopt);
	PRELOAD_FIND(send);
	PRELOAD_FIND(sendto);
	PRELOAD_FIND(sendmsg);
	PRELOAD_FIND(sendmmsg);
	PRELOAD_FIND(recv);
	PRELOAD_FIND(recvfrom);
	PRELOAD_FIND(recvmsg);
	PRELOAD_FIND(recvmmsg);
	PRELOAD_FIND(read);
	PRELOAD_FIND(write);
	PRELOAD_FIND(readv);
	PRELOAD_FIND(writev);
	PRELOAD_FIND(sendfile);
	PRELOAD_FIND(close);
	PRELOAD_FIND(fcntl);
	PRELOAD_FIND(fcntl64);
	PRELOAD_FIND(ioctl);
	PRELOAD_FIND(poll);
	PRELOAD_FIND(ppoll);
	PRELOAD_FIND(select);
	PRELOAD_FIND(pselect);
	PRELOAD_FIND(dup2);
	PRELOAD_FIND(dup3);
	PRELOAD_FIND(dup);
	PRELOAD_FIND(epoll_ctl);
	PRELOAD_FIND(epoll_wait);
	PRELOAD_FIND(epoll_pwait);
	PRELOAD_FIND(epoll_pwait2);
#undef PRELOAD_FIND
	if (!preload_libc_fn.fcntl64)
		preload_libc_fn.fcntl64 = preload_libc_fn.fcntl; /* glibc before 2.28 */
}

void preload_resolve_once(void)
{
	pthread_once(&preload_once, preload_resolve);
}

/* ---- the descriptor table ---- */

/* A new stack socket's descriptor (or a negative result, passed through). */
static int preload_adopt(int fd)
{
	if (fd < 0)
		return fd;
	if (fd >= PRELOAD_FD_MAX) {
		us_close(fd);
		errno = EMFILE;
		return -1;
	}
	atomic_store_explicit(&preload_fd[fd], 1, memory_order_release);
	int top = atomic_load(&preload_fd_top);
	while (fd > top && !atomic_compare_exchange_weak(&preload_fd_top, &top, fd))
		;
	return fd;
}

/* In a forked child the sockets stay the parent's (libsock serves one process): the child's
 * copies are plain eventfds, so a child that closes what it inherited before exec (as
 * subprocess and daemons do) closes its own copy and never the parent's socket. */
static void preload_atfork_child(void)
{
	int top = atomic_load(&preload_fd_top);
	for (int fd = 0; fd <= top; fd++)
		atomic_store_explicit(&preload_fd[fd], 0, memory_order_relaxed);
	preload_epoll_atfork_child();
}

__attribute__((constructor)) static void preload_init(void)
{
	pthread_once(&preload_once, preload_resolve);
	pthread_atfork(NULL, NULL, preload_atfork_child);
}

/* Forget fd before it is closed: once the kernel reuses the number, it is not ours. */
static void preload_forget(int fd)
{
	atomic_store_explicit(&preload_fd[fd], 0, memory_order_release);
}

/* Run expr as libsock, keeping its errno past the depth's restore. */
#define PRELOAD_STACK(type, expr)                                                                \
	do {                                                                                     \
		preload_depth++;                                                                 \
		type rc_ = (expr);                                                               \
		preload_depth--;                                                                 \
		return rc_;                                                                      \
	} while (0)

/* ---- creating and naming ---- */

/* Without an instance every IPv4 socket fails with EINVAL: say why, once, on stderr (with
 * libc's write: stdio here could re-enter the wrappers before they are resolved). */
static void preload_warn_no_instance(void)
{
	static atomic_bool said;
	static const char msg[] = "libsock-preload: USTACK_INSTANCE is not set: IPv4 sockets fail "
				  "with EINVAL\n";
	if (!getenv("USTACK_INSTANCE") && !atomic_exchange(&said, true) &&
	    LIBC(write)(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nowhere else to say it */
	}
}

PRELOAD_EXPORT int socket(int domain, int type, int protocol)
{
	if (preload_depth || domain != AF_INET)
		return LIBC(socket)(domain, type, protocol);
	preload_warn_no_instance();
	preload_depth++;
	int fd = us_socket(domain, type, protocol);
	preload_depth--;
	return preload_adopt(fd);
}

PRELOAD_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!preload_is_stack(fd))
		return LIBC(bind)(fd, addr, len);
	PRELOAD_STACK(int, us_bind(fd, addr, len));
}

PRELOAD_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!preload_is_stack(fd))
		return LIBC(connect)(fd, addr, len);
	PRELOAD_STACK(int, us_connect(fd, addr, len));
}

PRELOAD_EXPORT int listen(int fd, int backlog)
{
	if (!preload_is_stack(fd))
		return LIBC(listen)(fd, backlog);
	PRELOAD_STACK(int, us_listen(fd, backlog));
}

PRELOAD_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(accept4)(fd, addr, len, flags);
	preload_depth++;
	int nfd = us_accept4(fd, addr, len, flags);
	preload_depth--;
	return preload_adopt(nfd);
}

PRELOAD_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!preload_is_stack(fd))
		return LIBC(accept)(fd, addr, len);
	return accept4(fd, addr, len, 0);
}

PRELOAD_EXPORT int shutdown(int fd, int how)
{
	if (!preload_is_stack(fd))
		return LIBC(shutdown)(fd, how);
	PRELOAD_STACK(int, us_shutdown(fd, how));
}

PRELOAD_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!preload_is_stack(fd))
		return LIBC(getsockname)(fd, addr, len);
	PRELOAD_STACK(int, us_getsockname(fd, addr, len));
}

PRELOAD_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!preload_is_stack(fd))
		return LIBC(getpeername)(fd, addr, len);
	PRELOAD_STACK(int, us_getpeername(fd, addr, len));
}

PRELOAD_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (!preload_is_stack(fd))
		return LIBC(setsockopt)(fd, level, name, val, len);
	PRELOAD_STACK(int, us_setsockopt(fd, level, name, val, len));
}

PRELOAD_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (!preload_is_stack(fd))
		return LIBC(getsockopt)(fd, level, name, val, len);
	PRELOAD_STACK(int, us_getsockopt(fd, level, name, val, len));
}

/* ---- data ---- */

PRELOAD_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(send)(fd, buf, len, flags);
	PRELOAD_STACK(ssize_t, us_send(fd, buf, len, flags));
}

PRELOAD_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			      const struct sockaddr *to, socklen_t tolen)
{
	if (!preload_is_stack(fd))
		return LIBC(sendto)(fd, buf, len, flags, to, tolen);
	PRELOAD_STACK(ssize_t, us_sendto(fd, buf, len, flags, to, tolen));
}

PRELOAD_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(sendmsg)(fd, msg, flags);
	PRELOAD_STACK(ssize_t, us_sendmsg(fd, msg, flags));
}

PRELOAD_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(recv)(fd, buf, len, flags);
	PRELOAD_STACK(ssize_t, us_recv(fd, buf, len, flags));
}

PRELOAD_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
				socklen_t *fromlen)
{
	if (!preload_is_stack(fd))
		return LIBC(recvfrom)(fd, buf, len, flags, from, fromlen);
	PRELOAD_STACK(ssize_t, us_recvfrom(fd, buf, len, flags, from, fromlen));
}

PRELOAD_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(recvmsg)(fd, msg, flags);
	PRELOAD_STACK(ssize_t, us_recvmsg(fd, msg, flags));
}

/* sendmmsg/recvmmsg as Linux's __sys_sendmmsg/do_recvmmsg: message by message, the count
 * done so far once one fails (its error then reported only if none was done). */
PRELOAD_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	if (!preload_is_stack(fd))
		return LIBC(sendmmsg)(fd, v, n, flags);
	preload_depth++;
	unsigned done = 0;
	int err = 0;
	for (; done < n; done++) {
		ssize_t r = us_sendmsg(fd, &v[done].msg_hdr, flags);
		if (r < 0) {
			err = errno;
			break;
		}
		v[done].msg_len = (unsigned)r;
	}
	preload_depth--;
	if (done == 0 && err) {
		errno = err;
		return -1;
	}
	return (int)done;
}

PRELOAD_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags,
			    struct timespec *timeout)
{
	if (!preload_is_stack(fd))
		return LIBC(recvmmsg)(fd, v, n, flags, timeout);
	/* MSG_WAITFORONE: only the first waits; a timeout is checked after each datagram, as
	 * Linux does (it never interrupts a wait). */
	struct timespec end = {0, 0};
	if (timeout) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += timeout->tv_sec;
		end.tv_nsec += timeout->tv_nsec;
		if (end.tv_nsec >= 1000000000L) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000L;
		}
	}
	preload_depth++;
	unsigned done = 0;
	int err = 0;
	for (; done < n; done++) {
		int f = flags & ~MSG_WAITFORONE;
		if (done > 0 && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		ssize_t r = us_recvmsg(fd, &v[done].msg_hdr, f);
		if (r < 0) {
			err = errno;
			break;
		}
		v[done].msg_len = (unsigned)r;
		if (timeout) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > end.tv_sec ||
			    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) {
				done++;
				break;
			}
		}
	}
	preload_depth--;
	if (done == 0 && err) {
		errno = err;
		return -1;
	}
	return (int)done;
}

PRELOAD_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	if (!preload_is_stack(fd))
		return LIBC(read)(fd, buf, len);
	PRELOAD_STACK(ssize_t, us_recv(fd, buf, len, 0));
}

PRELOAD_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	if (!preload_is_stack(fd))
		return LIBC(write)(fd, buf, len);
	PRELOAD_STACK(ssize_t, us_send(fd, buf, len, 0));
}

/* readv/writev as recvmsg/sendmsg without an address; a negative count is EINVAL, as theirs. */
static ssize_t preload_iov(int fd, const struct iovec *iov, int n, bool out)
{
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	PRELOAD_STACK(ssize_t, out ? us_sendmsg(fd, &m, 0) : us_recvmsg(fd, &m, 0));
}

PRELOAD_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	if (!preload_is_stack(fd))
		return LIBC(readv)(fd, iov, n);
	return preload_iov(fd, iov, n, false);
}

PRELOAD_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	if (!preload_is_stack(fd))
		return LIBC(writev)(fd, iov, n);
	return preload_iov(fd, iov, n, true);
}

/* sendfile onto a stack socket: read from in_fd, send what was read (the kernel's splice has
 * nothing to splice into). Partial as Linux's: what was sent, once anything was. */
PRELOAD_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	if (!preload_is_stack(out_fd))
		return LIBC(sendfile)(out_fd, in_fd, offset, count);
	if (preload_is_stack(in_fd)) {
		errno = EINVAL; /* in_fd must support mmap-like reads: a socket does not */
		return -1;
	}
	char *chunk = malloc(PRELOAD_SENDFILE_CHUNK); /* this call's, freed before it returns */
	if (!chunk) {
		errno = ENOMEM;
		return -1;
	}
	off_t pos = offset ? *offset : 0;
	size_t sent = 0;
	int err = 0;
	preload_depth++;
	while (sent < count) {
		size_t want = count - sent < PRELOAD_SENDFILE_CHUNK ? count - sent
								     : PRELOAD_SENDFILE_CHUNK;
		ssize_t got = offset ? pread(in_fd, chunk, want, pos) : read(in_fd, chunk, want);
		if (got <= 0) {
			err = got < 0 ? errno : 0;
			break;
		}
		ssize_t put = us_send(out_fd, chunk, (size_t)got, 0);
		if (put < 0) {
			err = errno;
			/* Not sent: give the bytes back to a file read at its own offset. */
			if (!offset)
				lseek(in_fd, -got, SEEK_CUR);
			break;
		}
		if (!offset && put < got)
			lseek(in_fd, put - got, SEEK_CUR);
		pos += put;
		sent += (size_t)put;
		if (put < got)
			break; /* the socket took part of it (non-blocking, or a signal) */
	}
	preload_depth--;
	free(chunk);
	if (offset)
		*offset = pos;
	if (sent == 0 && err) {
		errno = err;
		return -1;
	}
	return (ssize_t)sent;
}

PRELOAD_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	_Static_assert(sizeof(off64_t) == sizeof(off_t), "sendfile64 is sendfile on LP64");
	return sendfile(out_fd, in_fd, (off_t *)offset, count);
}

/* ---- descriptors ---- */

PRELOAD_EXPORT int close(int fd)
{
	if (!preload_is_stack(fd)) {
		preload_epoll_closing(fd); /* an epoll set we keep stack sockets of goes with it */
		return LIBC(close)(fd);
	}
	preload_forget(fd);
	preload_epoll_forget_fd(fd); /* as the kernel drops a closed file from epoll sets */
	PRELOAD_STACK(int, us_close(fd));
}

/* One descriptor per socket (us_fcntl's F_DUPFD says the same): duplicating one fails. */
PRELOAD_EXPORT int dup(int fd)
{
	if (!preload_is_stack(fd))
		return LIBC(dup)(fd);
	errno = EINVAL;
	return -1;
}

static int preload_dup3(int oldfd, int newfd, int flags, bool is_dup2)
{
	if (preload_is_stack(oldfd)) {
		if (is_dup2 && oldfd == newfd)
			return newfd;
		errno = EINVAL;
		return -1;
	}
	/* What the kernel will close as newfd goes (a stack socket, an epoll set the shim keeps
	 * stack sockets of) is let go first, once the duplication cannot fail on oldfd. */
	if (oldfd != newfd) {
		if (fcntl(oldfd, F_GETFD) < 0)
			return -1; /* EBADF: newfd stays open, as dup2's */
		if (preload_is_stack(newfd))
			close(newfd);
		preload_epoll_closing(newfd);
	}
	return is_dup2 ? LIBC(dup2)(oldfd, newfd) : LIBC(dup3)(oldfd, newfd, flags);
}

PRELOAD_EXPORT int dup2(int oldfd, int newfd)
{
	if (preload_depth)
		return LIBC(dup2)(oldfd, newfd);
	return preload_dup3(oldfd, newfd, 0, true);
}

PRELOAD_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (preload_depth)
		return LIBC(dup3)(oldfd, newfd, flags);
	return preload_dup3(oldfd, newfd, flags, false);
}

/* fcntl's third argument is taken as glibc takes it: one pointer-sized value. */
static int preload_fcntl(int (*libc)(int, int, ...), int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *);
	if (!preload_is_stack(fd))
		return libc(fd, cmd, arg);
	PRELOAD_STACK(int, us_fcntl(fd, cmd, arg));
}

PRELOAD_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int rc = preload_fcntl(LIBC(fcntl), fd, cmd, ap);
	va_end(ap);
	return rc;
}

PRELOAD_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int rc = preload_fcntl(LIBC(fcntl64), fd, cmd, ap);
	va_end(ap);
	return rc;
}

PRELOAD_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!preload_is_stack(fd))
		return LIBC(ioctl)(fd, req, arg);
	PRELOAD_STACK(int, us_ioctl(fd, req, arg));
}

/* ---- waiting ---- */

static bool preload_any_stack(const struct pollfd *fds, nfds_t n)
{
	if (preload_depth)
		return false;
	for (nfds_t i = 0; i < n; i++)
		if (preload_is_stack(fds[i].fd))
			return true;
	return false;
}

PRELOAD_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!fds || !preload_any_stack(fds, n))
		return LIBC(poll)(fds, n, timeout);
	PRELOAD_STACK(int, us_poll(fds, n, timeout));
}

/* A timespec as poll's milliseconds, rounded up (a wait never ends early); -1 for none. */
int preload_ts_ms(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return -2;
	long long ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* us_poll under a signal mask, as ppoll/pselect ask; the mask is set around the wait rather
 * than atomically with it (a signal arriving just before the wait is taken when the mask
 * comes off, not during it). */
int preload_poll_masked(struct pollfd *fds, nfds_t n, int ms, const sigset_t *mask)
{
	sigset_t old;
	if (mask && pthread_sigmask(SIG_SETMASK, mask, &old) != 0)
		return -1;
	preload_depth++;
	int rc = us_poll(fds, n, ms);
	preload_depth--;
	if (mask) {
		int err = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		errno = err;
	}
	return rc;
}

PRELOAD_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			 const sigset_t *mask)
{
	if (!fds || !preload_any_stack(fds, n))
		return LIBC(ppoll)(fds, n, ts, mask);
	int ms = preload_ts_ms(ts);
	if (ms == -2) {
		errno = EINVAL;
		return -1;
	}
	return preload_poll_masked(fds, n, ms, mask);
}

/* select over poll, as the kernel maps them (fs/select.c): readable on POLLIN, POLLHUP or
 * POLLERR; writable on POLLOUT or POLLERR; exceptional on POLLPRI. */
#define PRELOAD_SEL_IN (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define PRELOAD_SEL_OUT (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define PRELOAD_SEL_EX POLLPRI

static bool preload_sets_have_stack(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	if (preload_depth || nfds <= 0)
		return false;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) &&
		    preload_is_stack(fd))
			return true;
	return false;
}

static int preload_select_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, int ms,
			       const sigset_t *mask)
{
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	struct pollfd stack_fds[PRELOAD_POLL_STACK];
	struct pollfd *p = stack_fds;
	nfds_t n = 0;
	for (int fd = 0; fd < nfds; fd++)
		n += (r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e));
	if (n > PRELOAD_POLL_STACK && !(p = malloc(n * sizeof(*p)))) {
		errno = ENOMEM;
		return -1;
	}
	n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (e && FD_ISSET(fd, e))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	int rc = preload_poll_masked(p, n, ms, mask);
	if (rc >= 0) {
		for (nfds_t i = 0; i < n; i++) {
			if (p[i].revents & POLLNVAL) {
				rc = -1;
				errno = EBADF; /* select's answer to a descriptor that is not open */
				break;
			}
		}
	}
	if (rc >= 0) {
		int count = 0;
		for (nfds_t i = 0; i < n; i++) {
			int fd = p[i].fd;
			short rev = p[i].revents, ev = p[i].events;
			if ((ev & POLLIN) && !(rev & PRELOAD_SEL_IN))
				FD_CLR(fd, r);
			if ((ev & POLLOUT) && !(rev & PRELOAD_SEL_OUT))
				FD_CLR(fd, w);
			if ((ev & POLLPRI) && !(rev & PRELOAD_SEL_EX))
				FD_CLR(fd, e);
			count += ((ev & POLLIN) && (rev & PRELOAD_SEL_IN)) +
				 ((ev & POLLOUT) && (rev & PRELOAD_SEL_OUT)) +
				 ((ev & POLLPRI) && (rev & PRELOAD_SEL_EX));
		}
		rc = count;
	}
	if (p != stack_fds) {
		int err = errno;
		free(p);
		errno = err;
	}
	return rc;
}

PRELOAD_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (!preload_sets_have_stack(nfds, r, w, e))
		return LIBC(select)(nfds, r, w, e, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
		errno = EINVAL;
		return -1;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ms = -1;
	if (tv) {
		long long v = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
		ms = v > 0x7fffffff ? 0x7fffffff : (int)v;
	}
	int rc = preload_select_poll(nfds, r, w, e, ms, NULL);
	if (tv) {
		/* Linux writes back the time not slept. */
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long long used = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
		long long left = (long long)tv->tv_sec * 1000000 + tv->tv_usec - used;
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000;
		tv->tv_usec = left % 1000000;
	}
	return rc;
}

PRELOAD_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
			   const sigset_t *mask)
{
	if (!preload_sets_have_stack(nfds, r, w, e))
		return LIBC(pselect)(nfds, r, w, e, ts, mask);
	int ms = preload_ts_ms(ts);
	if (ms == -2) {
		errno = EINVAL;
		return -1;
	}
	return preload_select_poll(nfds, r, w, e, ms, mask);
}

/* ---- _FORTIFY_SOURCE's checked entries (Debian builds programs with them) ---- */

/* glibc's: reports "buffer overflow detected" and aborts. */
extern void __chk_fail(void) __attribute__((noreturn));
/* Not in any header: the compiler emits calls to them for fortified programs. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *from, socklen_t *fromlen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);

PRELOAD_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

PRELOAD_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

PRELOAD_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				      struct sockaddr *from, socklen_t *fromlen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

PRELOAD_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

PRELOAD_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			       const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}
