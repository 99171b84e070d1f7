/* test_sock_stream: libsock's stream sockets against a fake tcpd (fake_tcpd.h) — the client
 * side of the stream contract, end to end through the real session handover, requests, slot
 * blocks and byte rings, with no TCP underneath.
 *
 * What the fake cannot stand in for (segments, windows, retransmission, timers) is tcpd's and
 * is tested with it. What is tested here is libsock: Linux's errno for each call in each state,
 * poll masks, blocking and non-blocking waits, partial writes, the flags, the doorbell batching,
 * corking, linger, accept, slot reuse, resuming a session.
 *
 * The state scenario (kernel_parity) runs the same calls once on the kernel's own TCP over
 * 127.0.0.1 and once on libsock over the fake, and compares the two transcripts line by line,
 * so the expected errnos are the kernel's, not ours. Every test runs in its own process
 * (CK_FORK): libsock's process-wide state and the fake start fresh.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake_tcpd.h"
#include "ustack/sock.h"

#define FAILS_WITH(call, err)                                                        \
	do {                                                                         \
		errno = 0;                                                           \
		long r_ = (long)(call);                                              \
		ck_assert_msg(r_ == -1, "%s returned %ld, expected -1", #call, r_);  \
		ck_assert_msg(errno == (err), "%s: errno %d (%s), expected %d (%s)", \
			      #call, errno, strerror(errno), (err), strerror(err));   \
	} while (0)

#define OK(call)                                                                          \
	do {                                                                              \
		errno = 0;                                                                \
		long r_ = (long)(call);                                                   \
		ck_assert_msg(r_ >= 0, "%s failed: %s", #call, strerror(errno));          \
	} while (0)

static char run_dir[64];
static struct fake_tcpd *ft;
static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/ustack-stream-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	setenv("USTACK_RUNTIME_DIR", run_dir, 1);
	ck_assert_int_eq(us_set_instance("fake"), 0);
	ft = fake_tcpd_start("fake");
	ck_assert_ptr_nonnull(ft);
	struct sigaction sa = {.sa_handler = on_sigpipe};
	sigaction(SIGPIPE, &sa, NULL);
	sigpipes = 0;
}

static void teardown(void)
{
	fake_tcpd_stop(&ft);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	if (system(cmd) != 0) {
		/* left behind in /tmp: harmless */
	}
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A listener on 127.0.0.1:port (0: any), its address in *addr. */
static int make_listener(uint16_t port, struct sockaddr_in *addr)
{
	int l = us_socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	struct sockaddr_in a = loopback(port);
	ck_assert_int_eq(us_bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(us_listen(l, 16), 0);
	socklen_t len = sizeof(*addr);
	ck_assert_int_eq(us_getsockname(l, (struct sockaddr *)addr, &len), 0);
	ck_assert_uint_ne(addr->sin_port, 0);
	return l;
}

/* A connected pair through listener l: *c the connecting end, *a the accepted one. */
static void make_pair(int l, const struct sockaddr_in *addr, int *c, int *a)
{
	*c = us_socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*c, 0);
	ck_assert_int_eq(us_connect(*c, (const struct sockaddr *)addr, sizeof(*addr)), 0);
	*a = us_accept(l, NULL, NULL);
	ck_assert_int_ge(*a, 0);
}

static uint8_t pattern(uint64_t i)
{
	uint64_t x = (i ^ (i >> 17)) * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56);
}

/* us_poll one descriptor for events up to ms; the revents. */
static short poll_one(int fd, short events, int ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n = us_poll(&p, 1, ms);
	ck_assert_int_ge(n, 0);
	return n ? p.revents : 0;
}

/* ---- basic ---- */

START_TEST(connect_accept_names_echo)
{
	struct sockaddr_in la;
	int l = make_listener(5000, &la);
	ck_assert_uint_eq(ntohs(la.sin_port), 5000);
	int c = us_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(us_fcntl(c, F_SETFL, 0), 0); /* blocking connect */
	ck_assert_int_eq(us_connect(c, (struct sockaddr *)&la, sizeof(la)), 0);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int a = us_accept4(l, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ck_assert_int_ge(a, 0);
	ck_assert_uint_eq(plen, sizeof(peer));
	ck_assert_int_eq(peer.sin_family, AF_INET);
	ck_assert_int_ne(us_fcntl(a, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(us_fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(us_fcntl(c, F_GETFL) & O_NONBLOCK, 0);

	/* names: the accepted peer is the connecting socket, and the other way round */
	struct sockaddr_in cn, cp, an;
	socklen_t len = sizeof(cn);
	ck_assert_int_eq(us_getsockname(c, (struct sockaddr *)&cn, &len), 0);
	ck_assert_uint_eq(cn.sin_port, peer.sin_port);
	len = sizeof(cp);
	ck_assert_int_eq(us_getpeername(c, (struct sockaddr *)&cp, &len), 0);
	ck_assert_uint_eq(cp.sin_port, la.sin_port);
	len = sizeof(an);
	ck_assert_int_eq(us_getsockname(a, (struct sockaddr *)&an, &len), 0);
	ck_assert_uint_eq(an.sin_port, la.sin_port);

	/* a few bytes each way; recvfrom names no peer on a stream socket (addrlen 0) */
	ck_assert_int_eq(us_send(c, "hello", 5, 0), 5);
	char buf[64];
	ck_assert_int_ne(poll_one(a, POLLIN, 2000) & POLLIN, 0);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ck_assert_int_eq(us_recvfrom(a, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen), 5);
	ck_assert_uint_eq(flen, 0);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert_int_eq(us_send(a, "world!", 6, 0), 6);
	ck_assert_int_eq(us_recv(c, buf, sizeof(buf), 0), 6);
	ck_assert(memcmp(buf, "world!", 6) == 0);

	/* options pass through: TCP_INFO as Linux lays it out, SO_TYPE */
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(&ti, 0xff, sizeof(ti));
	ck_assert_int_eq(us_getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
	ck_assert_uint_eq(tl, sizeof(ti));
	ck_assert_uint_eq(ti.tcpi_state, 1); /* TCP_ESTABLISHED */
	ck_assert_uint_eq(ti.tcpi_snd_mss, 1460);
	int v = 0;
	socklen_t vl = sizeof(v);
	ck_assert_int_eq(us_getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl), 0);
	ck_assert_int_eq(v, SOCK_STREAM);
	v = 1;
	ck_assert_int_eq(us_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	v = 0;
	ck_assert_int_eq(us_getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	ck_assert_int_eq(v, 1);
	FAILS_WITH(us_setsockopt(c, IPPROTO_TCP, 12345, &v, sizeof(v)), ENOPROTOOPT);

	ck_assert_int_eq(us_close(a), 0);
	ck_assert_int_eq(us_close(c), 0);
	ck_assert_int_eq(us_close(l), 0);
}
END_TEST

struct mover {
	int fd;
	uint64_t total;
	uint64_t bad_at; /* receiver: first wrong index + 1 */
	uint64_t done;
	int err;
};

static void *sender_run(void *arg)
{
	struct mover *m = arg;
	uint8_t buf[100000];
	uint64_t pos = 0;
	unsigned seed = 1;
	while (pos < m->total) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;
		if (n > m->total - pos)
			n = (size_t)(m->total - pos);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(pos + i);
		ssize_t w = us_send(m->fd, buf, n, 0);
		if (w <= 0) {
			m->err = errno;
			break;
		}
		pos += (uint64_t)w; /* a blocking send takes all of it */
		if ((size_t)w != n) {
			m->err = -1;
			break;
		}
	}
	m->done = pos;
	return NULL;
}

static void *receiver_run(void *arg)
{
	struct mover *m = arg;
	uint8_t buf[70000];
	uint64_t pos = 0;
	unsigned seed = 2;
	while (pos < m->total) {
		size_t want = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;
		ssize_t r = us_recv(m->fd, buf, want, 0);
		if (r <= 0) {
			m->err = r == 0 ? -1 : errno;
			break;
		}
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != pattern(pos + (uint64_t)i)) {
				m->bad_at = pos + (uint64_t)i + 1;
				m->done = pos;
				return NULL;
			}
		}
		pos += (uint64_t)r;
	}
	m->done = pos;
	return NULL;
}

/* Both directions at once, 24 MiB each way, byte-exact: blocking sends that fill the rings and
 * wait for room, blocking receives that wait for data. */
START_TEST(bulk_both_ways)
{
	struct sockaddr_in la;
	int l = make_listener(0, &la);
	int c, a;
	make_pair(l, &la, &c, &a);
	uint64_t total = 24u << 20;
	struct mover s1 = {.fd = c, .total = total}, r1 = {.fd = a, .total = total};
	struct mover s2 = {.fd = a, .total = total}, r2 = {.fd = c, .total = total};
	pthread_t t[4];
	double t0 = now_s();
	pthread_create(&t[0], NULL, sender_run, &s1);
	pthread_create(&t[1], NULL, receiver_run, &r1);
	pthread_create(&t[2], NULL, sender_run, &s2);
	pthread_create(&t[3], NULL, receiver_run, &r2);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	double secs = now_s() - t0;
	fprintf(stderr, "bulk_both_ways: 2 x %llu MiB in %.2f s (%.0f MiB/s each way, through the "
		"fake's copy)\n", (unsigned long long)(total >> 20), secs, (double)(total >> 20) / secs);
	ck_assert_int_eq(s1.err, 0);
	ck_assert_int_eq(s2.err, 0);
	ck_assert_uint_eq(r1.bad_at, 0);
	ck_assert_uint_eq(r2.bad_at, 0);
	ck_assert_uint_eq(r1.done, total);
	ck_assert_uint_eq(r2.done, total);
	/* then the end of the stream: the sender's shutdown reads as 0 after the data */
	ck_assert_int_eq(us_shutdown(c, SHUT_WR), 0);
	char b;
	ck_assert_int_eq(us_recv(a, &b, 1, 0), 0);
	ck_assert_int_eq(us_recv(a, &b, 1, 0), 0);
	us_close(a);
	us_close(c);
	us_close(l);
}
END_TEST

/* ---- the same calls on the kernel and on libsock ---- */

struct ops {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recv)(int, void *, size_t, int);
	int (*shutdown)(int, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*close)(int);
	int (*fcntl)(int, int, ...);
};

static const struct ops kernel_ops = {
	socket, bind, listen, accept4, connect, send, recv, shutdown, getsockopt, setsockopt,
	getsockname, getpeername, poll, close, fcntl,
};
static const struct ops us_ops = {
	us_socket, us_bind, us_listen, us_accept4, us_connect, us_send, us_recv, us_shutdown,
	us_getsockopt, us_setsockopt, us_getsockname, us_getpeername, us_poll, us_close, us_fcntl,
};

struct transcript {
	char buf[16384];
	size_t len;
	const struct ops *o;
};

static void tr_put(struct transcript *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < sizeof(t->buf) - t->len ? (size_t)n : 0;
}

/* One call's outcome: its value (or "ok" for a descriptor) or its errno. */
static long tr_call(struct transcript *t, const char *what, long rc, bool fd)
{
	if (rc < 0)
		tr_put(t, "%s -> %s\n", what, strerrorname_np(errno));
	else if (fd)
		tr_put(t, "%s -> fd\n", what);
	else
		tr_put(t, "%s -> %ld\n", what, rc);
	return rc;
}

#define CALL(what, expr) tr_call(t, what, (long)(expr), false)
#define CALLFD(what, expr) tr_call(t, what, (long)(expr), true)

static void tr_mask(struct transcript *t, const char *what, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP};
	int n = t->o->poll(&p, 1, 0);
	short m = n > 0 ? p.revents : 0;
	tr_put(t, "poll %s ->%s%s%s%s%s\n", what, m & POLLIN ? " IN" : "", m & POLLOUT ? " OUT" : "",
	       m & POLLERR ? " ERR" : "", m & POLLHUP ? " HUP" : "", m & POLLRDHUP ? " RDHUP" : "");
}

/* Wait (up to 3 s) for events on fd; record whether they came. */
static void tr_wait(struct transcript *t, const char *what, int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	bool came = false;
	for (int i = 0; i < 300 && !came; i++) {
		p.revents = 0;
		came = t->o->poll(&p, 1, 10) > 0 && (p.revents & events);
	}
	tr_put(t, "wait %s -> %s\n", what, came ? "yes" : "NO");
}

static uint16_t tr_port(const struct ops *o, int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	memset(&a, 0, sizeof(a));
	if ((peer ? o->getpeername : o->getsockname)(fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	return ntohs(a.sin_port);
}

static void scenario(struct transcript *t)
{
	const struct ops *o = t->o;
	char buf[64];
	struct sockaddr_in any = loopback(0), nowhere = loopback(1), la;
	socklen_t len;
	int v;
	socklen_t vl;
	int sig0;

	/* a fresh socket */
	int s = o->socket(AF_INET, SOCK_STREAM, 0);
	tr_mask(t, "fresh", s);
	CALL("send unconnected, MSG_NOSIGNAL", o->send(s, "x", 1, MSG_NOSIGNAL));
	sig0 = sigpipes;
	CALL("send unconnected", o->send(s, "x", 1, 0));
	tr_put(t, "SIGPIPE %d\n", sigpipes - sig0);
	CALL("send 0 bytes unconnected", o->send(s, "", 0, MSG_NOSIGNAL));
	CALL("recv unconnected", o->recv(s, buf, sizeof(buf), MSG_DONTWAIT));
	CALL("recv MSG_OOB unconnected", o->recv(s, buf, sizeof(buf), MSG_OOB));
	CALL("accept unconnected", o->accept4(s, NULL, NULL, 0));
	CALL("accept4 bad flags", o->accept4(s, NULL, NULL, 0x1000));
	len = sizeof(la);
	CALL("getpeername fresh", o->getpeername(s, (struct sockaddr *)&la, &len));
	CALL("shutdown how 5", o->shutdown(s, 5));
	CALL("shutdown -1", o->shutdown(s, -1));
	vl = sizeof(v);
	CALL("SO_ERROR fresh", o->getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &vl));
	tr_put(t, "  = %d\n", v);
	CALL("connect short", o->connect(s, (struct sockaddr *)&nowhere, 8));
	struct sockaddr_in bad = nowhere;
	bad.sin_family = AF_INET6;
	CALL("connect AF_INET6", o->connect(s, (struct sockaddr *)&bad, sizeof(bad)));
	CALL("shutdown fresh SHUT_RD", o->shutdown(s, SHUT_RD));
	CALL("recv after SHUT_RD", o->recv(s, buf, sizeof(buf), MSG_DONTWAIT));
	tr_mask(t, "fresh after SHUT_RD", s);
	o->close(s);

	/* a listener */
	int l = o->socket(AF_INET, SOCK_STREAM, 0);
	CALL("bind", o->bind(l, (struct sockaddr *)&any, sizeof(any)));
	CALL("listen", o->listen(l, 4));
	len = sizeof(la);
	o->getsockname(l, (struct sockaddr *)&la, &len);
	tr_mask(t, "listener", l);
	CALL("send listener", o->send(l, "x", 1, MSG_NOSIGNAL));
	CALL("recv listener", o->recv(l, buf, sizeof(buf), MSG_DONTWAIT));
	CALL("connect listener", o->connect(l, (struct sockaddr *)&nowhere, sizeof(nowhere)));
	CALL("connect listener short", o->connect(l, (struct sockaddr *)&nowhere, 8));
	CALL("listen again", o->listen(l, 8));
	CALL("bind again", o->bind(l, (struct sockaddr *)&any, sizeof(any)));
	CALL("shutdown SHUT_WR listener", o->shutdown(l, SHUT_WR));
	len = sizeof(buf);
	CALL("getpeername listener", o->getpeername(l, (struct sockaddr *)buf, &len));
	CALL("accept4 bad flags listener", o->accept4(l, NULL, NULL, 0x1000));
	o->fcntl(l, F_SETFL, O_NONBLOCK);
	CALL("accept empty, non-blocking", o->accept4(l, NULL, NULL, 0));
	o->fcntl(l, F_SETFL, 0);

	/* a non-blocking connect */
	int c = o->socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CALL("connect non-blocking", o->connect(c, (struct sockaddr *)&la, sizeof(la)));
	tr_wait(t, "connected", c, POLLOUT);
	CALL("connect again", o->connect(c, (struct sockaddr *)&la, sizeof(la)));
	CALL("connect a third time", o->connect(c, (struct sockaddr *)&la, sizeof(la)));
	CALL("listen on connected", o->listen(c, 1));
	CALL("bind on connected", o->bind(c, (struct sockaddr *)&any, sizeof(any)));
	vl = sizeof(v);
	CALL("SO_ERROR connected", o->getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
	tr_put(t, "  = %d\n", v);
	tr_wait(t, "listener readable", l, POLLIN);
	tr_mask(t, "listener with a connection", l);
	int a = CALLFD("accept", o->accept4(l, NULL, NULL, 0));
	tr_put(t, "peer of accepted is c: %d\n", tr_port(o, a, true) == tr_port(o, c, false));
	tr_put(t, "peer of c is the listener's port: %d\n",
	       tr_port(o, c, true) == ntohs(la.sin_port));
	tr_mask(t, "accepted", a);
	tr_mask(t, "connected", c);
	CALL("send hello", o->send(c, "hello", 5, 0));
	tr_wait(t, "accepted readable", a, POLLIN);
	tr_mask(t, "accepted with data", a);
	CALL("recv MSG_PEEK", o->recv(a, buf, sizeof(buf), MSG_PEEK));
	CALL("recv 2", o->recv(a, buf, 2, 0));
	tr_put(t, "  = %.2s\n", buf);
	CALL("recv rest", o->recv(a, buf, sizeof(buf), 0));
	tr_put(t, "  = %.3s\n", buf);
	CALL("recv empty, MSG_DONTWAIT", o->recv(a, buf, sizeof(buf), MSG_DONTWAIT));
	CALL("recv MSG_OOB", o->recv(a, buf, sizeof(buf), MSG_OOB));
	CALL("recv MSG_ERRQUEUE", o->recv(a, buf, sizeof(buf), MSG_ERRQUEUE));
	tr_mask(t, "accepted drained", a);
	CALL("shutdown c SHUT_WR", o->shutdown(c, SHUT_WR));
	tr_mask(t, "c after SHUT_WR", c);
	CALL("send after SHUT_WR, MSG_NOSIGNAL", o->send(c, "x", 1, MSG_NOSIGNAL));
	sig0 = sigpipes;
	CALL("send after SHUT_WR", o->send(c, "x", 1, 0));
	tr_put(t, "SIGPIPE %d\n", sigpipes - sig0);
	tr_wait(t, "accepted sees the FIN", a, POLLRDHUP);
	tr_mask(t, "accepted after the FIN", a);
	CALL("recv at EOF", o->recv(a, buf, sizeof(buf), 0));
	CALL("recv at EOF again", o->recv(a, buf, sizeof(buf), 0));
	CALL("send after the peer's FIN", o->send(a, "bye", 3, 0));
	tr_wait(t, "c readable", c, POLLIN);
	CALL("recv c", o->recv(c, buf, sizeof(buf), 0));
	CALL("shutdown accepted SHUT_WR", o->shutdown(a, SHUT_WR));
	tr_wait(t, "c hangs up", c, POLLHUP);
	tr_mask(t, "c both ways closed", c);
	CALL("recv c at EOF", o->recv(c, buf, sizeof(buf), 0));
	CALL("shutdown c after the close", o->shutdown(c, SHUT_RDWR));
	len = sizeof(la);
	struct sockaddr_in tmp;
	CALL("getpeername c after the close", o->getpeername(c, (struct sockaddr *)&tmp, &len));
	CALL("connect c after the close", o->connect(c, (struct sockaddr *)&la, sizeof(la)));
	o->close(a);
	o->close(c);

	/* a reset (SO_LINGER 0) with our data unread there */
	int c2 = o->socket(AF_INET, SOCK_STREAM, 0);
	CALL("connect blocking", o->connect(c2, (struct sockaddr *)&la, sizeof(la)));
	int a2 = CALLFD("accept", o->accept4(l, NULL, NULL, SOCK_NONBLOCK));
	struct linger lg = {1, 0};
	CALL("SO_LINGER 0", o->setsockopt(a2, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CALL("send abc", o->send(c2, "abc", 3, 0));
	tr_wait(t, "accepted readable", a2, POLLIN);
	CALL("close with linger 0", o->close(a2));
	tr_wait(t, "c2 reset", c2, POLLERR);
	tr_mask(t, "c2 reset", c2);
	CALL("send after reset", o->send(c2, "x", 1, MSG_NOSIGNAL));
	CALL("send after reset again", o->send(c2, "x", 1, MSG_NOSIGNAL));
	CALL("recv after reset", o->recv(c2, buf, sizeof(buf), 0));
	len = sizeof(tmp);
	CALL("getpeername after reset", o->getpeername(c2, (struct sockaddr *)&tmp, &len));
	CALL("shutdown after reset", o->shutdown(c2, SHUT_RD));
	CALL("connect after reset", o->connect(c2, (struct sockaddr *)&la, sizeof(la)));
	o->close(c2);

	/* a reset with data for us still to read: the data, then the error, then EOF */
	int c3 = o->socket(AF_INET, SOCK_STREAM, 0);
	o->connect(c3, (struct sockaddr *)&la, sizeof(la));
	int a3 = CALLFD("accept", o->accept4(l, NULL, NULL, 0));
	CALL("send data", o->send(a3, "data", 4, 0));
	tr_wait(t, "c3 readable", c3, POLLIN);
	o->setsockopt(a3, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	o->close(a3);
	tr_wait(t, "c3 reset", c3, POLLERR);
	tr_mask(t, "c3 reset with data", c3);
	CALL("recv the data", o->recv(c3, buf, sizeof(buf), 0));
	CALL("recv the error", o->recv(c3, buf, sizeof(buf), 0));
	CALL("recv EOF", o->recv(c3, buf, sizeof(buf), 0));
	sig0 = sigpipes;
	CALL("send after the reported reset", o->send(c3, "x", 1, 0));
	tr_put(t, "SIGPIPE %d\n", sigpipes - sig0);
	o->close(c3);

	/* refused */
	int r = o->socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CALL("connect refused, non-blocking", o->connect(r, (struct sockaddr *)&nowhere,
							   sizeof(nowhere)));
	tr_wait(t, "refused", r, POLLERR);
	tr_mask(t, "refused", r);
	CALL("recv the refusal", o->recv(r, buf, sizeof(buf), 0));
	CALL("recv after the refusal", o->recv(r, buf, sizeof(buf), 0));
	vl = sizeof(v);
	CALL("SO_ERROR after", o->getsockopt(r, SOL_SOCKET, SO_ERROR, &v, &vl));
	tr_put(t, "  = %d\n", v);
	CALL("connect again after the refusal", o->connect(r, (struct sockaddr *)&nowhere,
							     sizeof(nowhere)));
	CALL("connect once more", o->connect(r, (struct sockaddr *)&nowhere, sizeof(nowhere)));
	tr_wait(t, "refused again", r, POLLERR);
	CALL("connect with the refusal pending", o->connect(r, (struct sockaddr *)&nowhere,
							      sizeof(nowhere)));
	tr_mask(t, "refused, reported", r);
	CALL("listen after a failed connect", o->listen(r, 1));
	o->close(r);
	int r2 = o->socket(AF_INET, SOCK_STREAM, 0);
	CALL("connect refused, blocking", o->connect(r2, (struct sockaddr *)&nowhere,
						       sizeof(nowhere)));
	CALL("connect refused, blocking, again", o->connect(r2, (struct sockaddr *)&nowhere,
							      sizeof(nowhere)));
	sig0 = sigpipes;
	CALL("send after the refusal", o->send(r2, "x", 1, 0));
	tr_put(t, "SIGPIPE %d\n", sigpipes - sig0);
	o->close(r2);
	CALL("close the listener", o->close(l));
}

START_TEST(kernel_parity)
{
	static struct transcript k, u;
	k.o = &kernel_ops;
	u.o = &us_ops;
	scenario(&k);
	fake_tcpd_set_connect_delay(ft, 20); /* loopback's SYN-ACK is not instant either */
	scenario(&u);
	if (strcmp(k.buf, u.buf) != 0) {
		/* show the first difference with some context */
		const char *pk = k.buf, *pu = u.buf;
		int line = 1;
		while (*pk && *pk == *pu) {
			if (*pk == '\n')
				line++;
			pk++;
			pu++;
		}
		fprintf(stderr, "--- kernel ---\n%s--- libsock ---\n%s", k.buf, u.buf);
		ck_abort_msg("transcripts differ at line %d", line);
	}
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("sock_stream");
	TCase *tc = tcase_create("stream");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, connect_accept_names_echo);
	tcase_add_test(tc, bulk_both_ways);
	tcase_add_test(tc, kernel_parity);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stream_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
