/* session: the region handover over AF_UNIX SOCK_SEQPACKET (common/session.h), both sides.
 *
 * One message each way: the hello (fixed struct + SCM_RIGHTS) and the welcome (fixed struct, no
 * descriptors). SEQPACKET keeps message boundaries, so a message is malformed unless it arrives
 * whole with exactly the expected size; a longer one shows up as MSG_TRUNC.
 *
 * Receiving descriptors is where a hostile client can hurt a server, so the server side:
 *   - receives with MSG_CMSG_CLOEXEC (nothing leaks into anything we might exec) and
 *     MSG_DONTWAIT after its own poll (a client that connects and sends nothing costs at most
 *     the caller's timeout);
 *   - accepts SCM_RIGHTS only; any other control message, a truncated control buffer
 *     (MSG_CTRUNC: the client sent more than SESSION_FDS_MAX descriptors; the kernel already
 *     dropped the excess) or a truncated body makes the hello malformed;
 *   - counts the descriptors over every SCM_RIGHTS message and closes each one it received on
 *     every error path, so a rejected hello never leaks a descriptor (an fd-exhaustion attack
 *     would otherwise take the server down);
 *   - takes the peer's identity from SO_PEERCRED (set by the kernel at connect time), never
 *     from anything the client wrote.
 * Checking what the descriptors are (a sealed memfd, eventfds) is the caller's business: it
 * knows what it maps and writes (region_attach, udpd_session.c).
 */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "paths.h"

#define SESSION_LAYER_MAX 15

/* Room for SESSION_FDS_MAX descriptors in one SCM_RIGHTS message, aligned for cmsghdr. */
union session_cmsg_buf {
	char buf[CMSG_SPACE(sizeof(int) * SESSION_FDS_MAX)];
	struct cmsghdr align;
};

static bool session_layer_valid(const char *layer)
{
	if (!layer)
		return false;
	size_t n = strlen(layer);
	if (n == 0 || n > SESSION_LAYER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((layer[i] >= 'a' && layer[i] <= 'z') || (layer[i] >= '0' && layer[i] <= '9')))
			return false;
	return true;
}

int session_path(const char *instance, const char *layer, char *out, size_t size)
{
	char file[SESSION_LAYER_MAX + 16];
	if (!session_layer_valid(layer) || !out)
		return -EINVAL;
	snprintf(file, sizeof(file), "%s.session", layer);
	int rc = ustack_runtime_path(instance, file, out, size);
	if (rc < 0)
		return rc;
	/* A path that does not fit sockaddr_un would fail later, less tellingly. */
	if (strlen(out) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* Milliseconds left until deadline (ns, CLOCK_NEVER = forever) as a poll timeout. */
static int session_ms_left(uint64_t deadline)
{
	if (deadline == CLOCK_NEVER)
		return -1;
	uint64_t now = clock_now();
	if (now >= deadline)
		return 0;
	uint64_t ms = (deadline - now + CLOCK_NS_PER_MS - 1) / CLOCK_NS_PER_MS;
	return ms > 1000000000u ? 1000000000 : (int)ms;
}

static uint64_t session_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return CLOCK_NEVER;
	return clock_now() + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
}

/* Wait until fd is readable (or hung up) before deadline. 0, -ETIMEDOUT, or -errno. */
static int session_wait_readable(int fd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, session_ms_left(deadline));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static void session_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

bool session_collect_fds(struct msghdr *msg, int *fds, unsigned max, unsigned *n)
{
	bool only_rights = true;
	*n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			only_rights = false;
			continue;
		}
		if (c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, data + i * sizeof(int), sizeof(int)); /* CMSG_DATA may be unaligned */
			if (*n < max)
				fds[(*n)++] = fd;
			else
				close(fd);
		}
	}
	return only_rights;
}

int session_client_open(const char *instance, const char *layer, const struct session_hello *hello,
			const int *fds, unsigned n_fds, int timeout_ms, int *sock_fd,
			struct session_welcome *welcome)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!hello || !sock_fd || !welcome || n_fds > SESSION_FDS_MAX || (n_fds && !fds) ||
	    n_fds != 2u + hello->n_slots)
		return -EINVAL;
	int rc = session_path(instance, layer, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	uint64_t deadline = session_deadline(timeout_ms);

	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* AF_UNIX connect and send block only while the server's backlog or queue is full; the
	 * send timeout bounds both (the kernel uses it for connect too). */
	if (timeout_ms >= 0) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (timeout_ms % 1000) * 1000};
		if (tv.tv_sec == 0 && tv.tv_usec == 0)
			tv.tv_usec = 1000; /* 0 would mean forever */
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = (errno == EAGAIN || errno == EINPROGRESS) ? -ETIMEDOUT : -errno;
		goto fail;
	}

	union session_cmsg_buf cbuf;
	memset(&cbuf, 0, sizeof(cbuf));
	struct iovec iov = {.iov_base = (void *)hello, .iov_len = sizeof(*hello)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n_fds) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	ssize_t sent;
	do
		sent = sendmsg(s, &msg, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0) {
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto fail;
	}

	rc = session_wait_readable(s, deadline);
	if (rc < 0)
		goto fail;
	struct session_welcome w;
	iov = (struct iovec){.iov_base = &w, .iov_len = sizeof(w)};
	msg = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf)};
	ssize_t got = recvmsg(s, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (got < 0) {
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto fail;
	}
	/* The server never sends descriptors: close any that came, and refuse the reply. */
	int junk[SESSION_FDS_MAX];
	unsigned n_junk;
	session_collect_fds(&msg, junk, SESSION_FDS_MAX, &n_junk);
	session_close_fds(junk, n_junk);
	if (got == 0 && n_junk == 0) {
		rc = -ECONNRESET; /* the server closed without answering */
		goto fail;
	}
	if (n_junk || (size_t)got != sizeof(w) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    w.magic != SESSION_MAGIC || w.version != SESSION_VERSION) {
		rc = -EBADMSG;
		goto fail;
	}
	*welcome = w;
	if (w.status < 0) {
		rc = w.status;
		goto fail;
	}
	/* The connection now lives as long as the session: no timeouts on it any more. */
	struct timeval zero = {0, 0};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
	*sock_fd = s;
	return 0;
fail:
	close(s);
	return rc;
}

int session_server_recv(int conn_fd, int timeout_ms, struct session_hello *hello, int *fds,
			unsigned *n_fds, pid_t *pid, uid_t *uid)
{
	*n_fds = 0;
	int rc = session_wait_readable(conn_fd, session_deadline(timeout_ms));
	if (rc < 0)
		return rc;

	/* One byte more than a hello, so a longer message is caught even without MSG_TRUNC. */
	unsigned char body[sizeof(struct session_hello) + 1];
	union session_cmsg_buf cbuf;
	struct iovec iov = {.iov_base = body, .iov_len = sizeof(body)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf)};
	ssize_t got;
	do
		got = recvmsg(conn_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;

	unsigned n = 0;
	bool only_rights = session_collect_fds(&msg, fds, SESSION_FDS_MAX, &n);
	if (got == 0 && n == 0 && msg.msg_controllen == 0)
		return -ECONNRESET; /* closed before saying anything */

	struct session_hello h;
	rc = 0;
	if (!only_rights || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)got != sizeof(h)) {
		rc = -EBADMSG;
	} else {
		memcpy(&h, body, sizeof(h));
		if (h.magic != SESSION_MAGIC || h.version != SESSION_VERSION ||
		    (h.op != SESSION_NEW && h.op != SESSION_RESUME) ||
		    h.n_slots > SESSION_SLOTS_MAX || n != 2u + h.n_slots)
			rc = -EBADMSG;
	}
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (rc == 0 && getsockopt(conn_fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		rc = -errno;
	if (rc < 0) {
		session_close_fds(fds, n);
		for (unsigned i = 0; i < n; i++)
			fds[i] = -1;
		return rc;
	}
	*hello = h;
	*n_fds = n;
	if (pid)
		*pid = cred.pid;
	if (uid)
		*uid = cred.uid;
	return 0;
}

int session_server_send(int conn_fd, const struct session_welcome *welcome)
{
	ssize_t sent;
	do
		sent = send(conn_fd, welcome, sizeof(*welcome), MSG_NOSIGNAL | MSG_DONTWAIT);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	return sent == (ssize_t)sizeof(*welcome) ? 0 : -EIO;
}
