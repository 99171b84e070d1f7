/* runtime_sock: bind a listener beside its path, then rename it over the path (runtime_sock.h
 * says why).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "runtime_sock.h"

/* The temporary name beside path: unique per process and call, so neither a successor nor a
 * late cleanup of an earlier socket of ours (ZeroMQ closes its listeners on its own thread)
 * ever meets it. */
static int runtime_sock_tmp(const char *path, char *out, size_t size)
{
	static atomic_uint calls;
	int n = snprintf(out, size, "%s.%ld.%u.new", path, (long)getpid(),
			 atomic_fetch_add(&calls, 1u));
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int runtime_sock_listen_unix(int fd, const char *path, mode_t mode, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int rc = runtime_sock_tmp(path, sa.sun_path, sizeof(sa.sun_path));
	if (rc < 0)
		return rc;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(fd, backlog) < 0 || chmod(sa.sun_path, mode) < 0 ||
	    rename(sa.sun_path, path) < 0) {
		rc = -errno;
		(void)unlink(sa.sun_path);
		return rc;
	}
	return 0;
}

int runtime_sock_bind_zmq(void *sock, const char *path, mode_t mode)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char ep[sizeof(tmp) + 8];
	if (strlen(path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int rc = runtime_sock_tmp(path, tmp, sizeof(tmp));
	if (rc < 0)
		return rc;
	snprintf(ep, sizeof(ep), "ipc://%s", tmp);
	if (zmq_bind(sock, ep) < 0)
		return -errno;
	/* ZeroMQ knows the listener by the temporary name: whatever it does with that name later
	 * (an unbind unlinks it) never touches the path. */
	if (chmod(tmp, mode) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		(void)zmq_unbind(sock, ep); /* unlinks tmp */
		return rc;
	}
	return 0;
}
