/* nic_handoff: the serving nicd hands its open device file to its standby (see nic_handoff.h). */
#include "nic_handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "runtime_sock.h"
#include "session.h"

/* A non-blocking seqpacket socket and the address of `path`: the fd, or a negative errno. */
static int nic_handoff_socket(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static int nic_handoff_peer(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return -errno;
	return len == sizeof(*cred) ? 0 : -EPROTO;
}

int nic_handoff_listen(struct nic_handoff *h, const char *path)
{
	struct sockaddr_un sa;
	memset(h, 0, sizeof(*h));
	h->fd = -1;
	int rc, fd = nic_handoff_socket(path, &sa);
	if (fd < 0)
		return fd;
	/* Replaces a socket file left by a killed predecessor: ours now (we hold the layer's
	 * lock). */
	rc = runtime_sock_listen_unix(fd, path, 0600, 4);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	h->fd = fd;
	snprintf(h->path, sizeof(h->path), "%s", path);
	return 0;
}

static int nic_handoff_give(struct nic_handoff *h, int conn, int dev_fd)
{
	struct ucred cred = {.pid = -1, .uid = (uid_t)-1};
	int rc = nic_handoff_peer(conn, &cred);
	if (rc == 0 && cred.uid != geteuid())
		rc = -EPERM;
	if (rc < 0) {
		h->stats.refused++;
		log_warn("handoff: refused a peer (pid %ld, uid %ld): %s", (long)cred.pid,
			 (long)(int)cred.uid, strerror(-rc));
		return rc;
	}
	char byte = dev_fd >= 0 ? NIC_HANDOFF_READY : NIC_HANDOFF_NOT_YET;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	memset(&ctrl, 0, sizeof(ctrl));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (dev_fd >= 0) {
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = sizeof(ctrl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &dev_fd, sizeof(int));
	}
	/* A fresh connection's buffer always has room for one byte: MSG_DONTWAIT never waits. */
	if (sendmsg(conn, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		h->stats.refused++;
		return -errno;
	}
	if (dev_fd >= 0) {
		h->stats.given++;
		log_info("handoff: gave the device to standby pid %ld", (long)cred.pid);
	} else {
		h->stats.not_yet++;
	}
	return 0;
}

unsigned nic_handoff_serve(struct nic_handoff *h, int dev_fd, unsigned budget)
{
	unsigned n = 0;
	while (h->fd >= 0 && n < budget) {
		int conn = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (conn < 0)
			break; /* EAGAIN: nobody else waits; anything else: the next poll tries again */
		(void)nic_handoff_give(h, conn, dev_fd);
		close(conn);
		n++;
	}
	return n;
}

void nic_handoff_close(struct nic_handoff *h)
{
	if (h->fd < 0)
		return;
	close(h->fd);
	h->fd = -1;
	/* Still ours: the layer's lock, which a successor needs before it binds, is held until
	 * this process exits. */
	(void)unlink(h->path);
}

int nic_handoff_fetch(const char *path, pid_t holder, int timeout_ms)
{
	struct sockaddr_un sa;
	int rc, fd = nic_handoff_socket(path, &sa);
	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		/* Nobody listens yet (the holder is starting), or its backlog is full. */
		return rc == -ENOENT || rc == -ECONNREFUSED || rc == -EAGAIN ? -EAGAIN : rc;
	}
	struct ucred cred;
	rc = nic_handoff_peer(fd, &cred);
	if (rc == 0 && (cred.pid != holder || cred.uid != geteuid()))
		rc = -EPERM;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	struct pollfd p = {.fd = fd, .events = POLLIN};
	rc = poll(&p, 1, timeout_ms);
	if (rc <= 0) {
		rc = rc == 0 ? -ETIMEDOUT : -errno;
		close(fd);
		return rc;
	}
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf)};
	ssize_t got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int saved = errno;
	close(fd);
	if (got < 0)
		return -saved;
	/* Any number of files in any number of messages: every one is ours to close. */
	int fds[2];
	unsigned n = 0;
	bool rights_only = session_collect_fds(&msg, fds, 2, &n);
	if (got == 1 && byte == NIC_HANDOFF_READY && rights_only && n == 1 &&
	    !(msg.msg_flags & MSG_CTRUNC))
		return fds[0];
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	if (got == 1 && byte == NIC_HANDOFF_NOT_YET)
		return -EAGAIN;
	return -EPROTO;
}
