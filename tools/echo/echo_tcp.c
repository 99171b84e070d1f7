/* echo_tcp: ustack-echo --tcp, a concurrent TCP echo server on libsock stream sockets.
 *
 * One us_poll loop over the listener and every connection (at most ECHO_TCP_CONNS: libsock
 * gives a process 64 stream sockets; more clients wait in the listen backlog). Each connection
 * has a 64 KiB buffer: bytes are read while it has room and written back as the socket takes
 * them, so a client that sends without reading is slowed down by its own full window, never
 * by the server's memory growing. When the peer's FIN has arrived and everything is echoed the
 * connection is closed (our FIN follows). Per loop pass a connection gets at most
 * ECHO_TCP_BUDGET receive and send calls, so one busy client cannot starve the rest.
 *
 * If the stack loses the listener (tcpd restarted without its state: POLLERR/POLLHUP on it),
 * the listener is opened again; the connections that are still alive carry on.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo.h"
#include "ustack/sock.h"

#define ECHO_TCP_CONNS 60u
#define ECHO_TCP_BUF (64u << 10)
#define ECHO_TCP_BUDGET 8u
#define ECHO_TCP_POLL_MS 500
#define ECHO_TCP_BACKLOG 128
#define ECHO_TCP_PAUSE_MS 100   /* after accept fails for want of sockets */

struct echo_conn {
	int fd;
	bool eof;                /* the peer's FIN arrived */
	size_t off, len;         /* buf[off, len) waits to go back */
	unsigned char buf[ECHO_TCP_BUF];
};

static int64_t echo_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int echo_tcp_listen(uint16_t port)
{
	int fd = us_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	us_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (us_bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    us_listen(fd, ECHO_TCP_BACKLOG) < 0) {
		int e = errno;
		us_close(fd);
		return -e;
	}
	return fd;
}

static void echo_conn_close(struct echo_conn **slot)
{
	us_close((*slot)->fd);
	free(*slot);
	*slot = NULL;
}

/* One connection's turn. 0 to keep it, 1 finished (echoed all, peer done), -1 failed. */
static int echo_conn_io(struct echo_conn *c, short revents, struct echo_tcp_stats *st)
{
	for (unsigned k = 0; k < ECHO_TCP_BUDGET; k++) {
		bool progress = false;
		if (c->off < c->len) {
			ssize_t n = us_send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
			if (n > 0) {
				c->off += (size_t)n;
				st->bytes += (uint64_t)n;
				progress = true;
				if (c->off == c->len)
					c->off = c->len = 0;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (!c->eof && c->len < ECHO_TCP_BUF && (revents & (POLLIN | POLLERR | POLLHUP))) {
			if (c->off > 0) {
				memmove(c->buf, c->buf + c->off, c->len - c->off);
				c->len -= c->off;
				c->off = 0;
			}
			ssize_t n = us_recv(c->fd, c->buf + c->len, ECHO_TCP_BUF - c->len, 0);
			if (n > 0) {
				c->len += (size_t)n;
				progress = true;
			} else if (n == 0) {
				c->eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (c->eof && c->off == c->len)
			return 1;
		if (!progress)
			break;
	}
	return 0;
}

int echo_tcp_run(uint16_t port, volatile sig_atomic_t *stop, int stop_fd,
		 struct echo_tcp_stats *st)
{
	int lfd = echo_tcp_listen(port);
	if (lfd < 0) {
		fprintf(stderr, "ustack-echo: tcp port %u: %s\n", port, strerror(-lfd));
		return 1;
	}
	printf("ustack-echo: tcp port %u ready\n", port);
	struct echo_conn *conns[ECHO_TCP_CONNS] = {0};
	unsigned n_open = 0;
	struct pollfd pfd[ECHO_TCP_CONNS + 2];
	unsigned pconn[ECHO_TCP_CONNS + 2];
	int64_t paused_until = 0, reopen_at = 0;
	while (!*stop) {
		int64_t now = echo_now_ms();
		if (lfd < 0 && now >= reopen_at) {
			lfd = echo_tcp_listen(port);
			if (lfd >= 0)
				printf("ustack-echo: tcp port %u ready again\n", port);
			else
				reopen_at = now + 200;
		}
		unsigned n = 0;
		int sidx = -1, lidx = -1;
		if (stop_fd >= 0) {
			sidx = (int)n;
			pfd[n++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
		}
		if (lfd >= 0 && n_open < ECHO_TCP_CONNS && now >= paused_until) {
			lidx = (int)n;
			pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		}
		unsigned first = n;
		for (unsigned i = 0; i < ECHO_TCP_CONNS; i++) {
			struct echo_conn *c = conns[i];
			if (!c)
				continue;
			short ev = 0;
			if (!c->eof && c->len < ECHO_TCP_BUF)
				ev |= POLLIN;
			if (c->off < c->len)
				ev |= POLLOUT;
			pconn[n] = i;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		int timeout = ECHO_TCP_POLL_MS;
		if (paused_until > now && paused_until - now < timeout)
			timeout = (int)(paused_until - now);
		int rc = us_poll(pfd, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ustack-echo: poll: %s\n", strerror(errno));
			break;
		}
		if (sidx >= 0 && pfd[sidx].revents)
			break;
		for (unsigned k = first; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			unsigned i = pconn[k];
			int r = echo_conn_io(conns[i], pfd[k].revents, st);
			if (r != 0) {
				if (r > 0)
					st->closed++;
				else
					st->reset++;
				echo_conn_close(&conns[i]);
				n_open--;
			}
		}
		if (lidx >= 0 && pfd[lidx].revents) {
			if (pfd[lidx].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr, "ustack-echo: the stack lost the listener; opening it "
						"again\n");
				us_close(lfd);
				lfd = -1;
				reopen_at = now + 200;
				continue;
			}
			for (unsigned k = 0; k < 16 && n_open < ECHO_TCP_CONNS; k++) {
				int fd = us_accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					st->accept_errors++;
					if (errno == ECONNABORTED)
						continue;
					paused_until = now + ECHO_TCP_PAUSE_MS;
					break;
				}
				struct echo_conn *c = malloc(sizeof(*c));
				if (!c) {
					us_close(fd);
					st->accept_errors++;
					break;
				}
				c->fd = fd;
				c->eof = false;
				c->off = c->len = 0;
				unsigned i = 0;
				while (conns[i])
					i++;
				conns[i] = c;
				n_open++;
				st->accepted++;
				if (n_open > st->max_open)
					st->max_open = n_open;
			}
		}
	}
	for (unsigned i = 0; i < ECHO_TCP_CONNS; i++)
		if (conns[i])
			echo_conn_close(&conns[i]);
	if (lfd >= 0)
		us_close(lfd);
	return 0;
}
