/* tcp_probe: the libsock side of the TCP integration tests (the kernel side is
 * tests/lib/tcp_peer.py). Each mode exercises one behaviour against a kernel peer in the test
 * namespace and exits 0 only if everything it checked held; every failure prints what was
 * expected and what happened. Byte streams are pseudo-random (xorshift, seeded), and each side
 * prints the SHA-256 of what it sent or received, which the test compares.
 *
 *   tcp_probe send PEER PORT BYTES [SEED]  connect, send BYTES, shutdown(WR), wait for the
 *                                          peer's EOF; prints "sent N SHA"
 *   tcp_probe recv PEER PORT               connect, receive until EOF; prints "received N SHA"
 *   tcp_probe serve-recv PORT              listen, accept one, receive until EOF
 *   tcp_probe serve-send PORT BYTES [SEED] listen, accept one, send BYTES, shutdown(WR), wait
 *                                          for the peer's EOF
 *   tcp_probe serve-echo PORT N BACKLOG    listen with BACKLOG, accept N connections and echo
 *                                          each (poll over all of them) until its EOF; prints
 *                                          "echoed N connections B bytes"
 *   tcp_probe many PEER PORT N             N connections at once to a kernel echo server, a
 *                                          line each echoed back
 *   tcp_probe refused PEER PORT            connect to a closed port: ECONNREFUSED, then the
 *                                          socket connects again (and is refused again)
 *   tcp_probe reset PEER PORT              connect, send a byte on which the peer resets:
 *                                          recv -> ECONNRESET, then send -> EPIPE
 *                                          (MSG_NOSIGNAL)
 *   tcp_probe unread-close PEER PORT       connect, wait for the peer's bytes, close without
 *                                          reading them (the peer must see a RST)
 *   tcp_probe linger0 PEER PORT            connect, send a little, SO_LINGER {1, 0}, close (RST)
 *   tcp_probe halfclose PEER PORT          connect, send, shutdown(WR), then read the peer's
 *                                          answer to EOF (it answers after our FIN)
 *   tcp_probe serve-halfclose PORT         accept; read to the peer's EOF, then answer and close
 *                                          (the peer shut its side first)
 *   tcp_probe user-timeout PEER PORT MS    two connections to a kernel echo server with
 *                                          TCP_USER_TIMEOUT MS, each echoes a line; prints
 *                                          "established", waits for a line on stdin (the test
 *                                          black-holes the path meanwhile), sends on both:
 *                                          the first reports the timeout through poll (POLLERR)
 *                                          and recv (ETIMEDOUT, then send: EPIPE), the second
 *                                          through a blocking send (ETIMEDOUT, or the bytes
 *                                          it copied and then SO_ERROR ETIMEDOUT);
 *                                          prints "timed out after T s" for each
 *   tcp_probe many-hold PEER PORT N        N connections at once to a kernel echo server (at
 *                                          most 64 a process), a line each echoed; prints
 *                                          "holding N", waits for a line on stdin (the test
 *                                          counts every connection established meanwhile),
 *                                          then a second line each echoed on every one, close
 *   tcp_probe send-until PEER PORT STOPFILE [SEED]
 *                                          as send, but for as long as STOPFILE does not exist
 *                                          (a transfer that lasts as long as the test needs it
 *                                          to, whatever the machine's speed); prints "sent N SHA"
 *   tcp_probe serve-echo-stream PORT       accept one, echo everything (blocking, every byte
 *                                          written back before the next read) until its EOF,
 *                                          then close; prints "echoed N SHA"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "probe.h"

#define CHUNK (64u << 10)

static const char *stop_file; /* send-until: send_stream stops once this file exists */

/* The stream: xorshift64*, 8 bytes at a time. */
struct gen {
	uint64_t s;
};

static void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		g->s ^= g->s >> 12;
		g->s ^= g->s << 25;
		g->s ^= g->s >> 27;
		uint64_t v = g->s * 0x2545f4914f6cdd1dull;
		size_t k = n - i < 8 ? n - i : 8;
		memcpy(p + i, &v, k);
	}
}

static void hex(const uint8_t *h, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static int tcp_socket(void)
{
	int s = us_socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		fprintf(stderr, "us_socket: %s\n", strerror(errno));
		exit(1);
	}
	return s;
}

static int connect_to(const char *ip, int port)
{
	int s = tcp_socket();
	struct sockaddr_in a = addr_of(ip, port);
	for (int tries = 0;; tries++) {
		if (us_connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			return s;
		/* the kernel's listener may not be up yet: a refused socket connects again */
		if (errno != ECONNREFUSED || tries == 50) {
			fprintf(stderr, "us_connect %s:%d: %s\n", ip, port, strerror(errno));
			exit(1);
		}
		usleep(100000);
	}
}

static int listen_on(int port, int backlog)
{
	int s = tcp_socket();
	int one = 1;
	us_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (us_bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || us_listen(s, backlog) < 0) {
		fprintf(stderr, "bind/listen %d: %s\n", port, strerror(errno));
		exit(1);
	}
	printf("listening %d\n", port);
	fflush(stdout);
	return s;
}

static int accept_one(int l)
{
	int s = us_accept(l, NULL, NULL);
	if (s < 0) {
		fprintf(stderr, "us_accept: %s\n", strerror(errno));
		exit(1);
	}
	return s;
}

/* Send n bytes of the stream, then shutdown(WR) and wait for the peer's EOF (so everything was
 * received before we close). */
static int send_stream(int s, uint64_t n, uint64_t seed)
{
	static uint8_t buf[CHUNK];
	struct gen g = {.s = seed * 0x9e3779b97f4a7c15ull + 1};
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	uint64_t done = 0;
	double t0 = now_s();
	while (done < n && !(stop_file && access(stop_file, F_OK) == 0)) {
		size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
		gen_fill(&g, buf, k);
		crypto_hash_sha256_update(&h, buf, k);
		size_t off = 0;
		while (off < k) {
			ssize_t w = us_send(s, buf + off, k - off, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "us_send after %llu bytes: %s\n",
					(unsigned long long)(done + off), strerror(errno));
				return -1;
			}
			off += (size_t)w;
		}
		done += k;
	}
	if (us_shutdown(s, SHUT_WR) < 0) {
		fprintf(stderr, "us_shutdown: %s\n", strerror(errno));
		return -1;
	}
	char c;
	ssize_t r = us_recv(s, &c, 1, 0);
	CHECK(r == 0, "after our FIN the peer closes: recv %zd (%s)", r, strerror(errno));
	double dt = now_s() - t0;
	uint8_t out[32];
	char hx[65];
	crypto_hash_sha256_final(&h, out);
	hex(out, hx);
	printf("sent %llu %s %.3f s %.1f Mbit/s\n", (unsigned long long)done, hx, dt,
	       (double)done * 8 / dt / 1e6);
	return 0;
}

static int recv_stream(int s)
{
	static uint8_t buf[CHUNK];
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	uint64_t done = 0;
	double t0 = now_s();
	for (;;) {
		ssize_t r = us_recv(s, buf, sizeof(buf), 0);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "us_recv after %llu bytes: %s\n", (unsigned long long)done,
				strerror(errno));
			return -1;
		}
		crypto_hash_sha256_update(&h, buf, (size_t)r);
		done += (uint64_t)r;
	}
	double dt = now_s() - t0;
	uint8_t out[32];
	char hx[65];
	crypto_hash_sha256_final(&h, out);
	hex(out, hx);
	printf("received %llu %s %.3f s %.1f Mbit/s\n", (unsigned long long)done, hx, dt,
	       (double)done * 8 / dt / 1e6);
	return 0;
}

/* ---- many connections ---- */

/* Accept n connections and echo each until its EOF. A libsock process has 64 slots: with
 * all of them busy, accept4 says EMFILE and the rest wait in the listener's queue (the
 * backlog) until a closed connection gives its slot back. */
static int serve_echo(int port, int n, int backlog)
{
	int l = listen_on(port, backlog);
	int *fds = calloc((size_t)n, sizeof(int));
	struct pollfd *p = calloc((size_t)n + 1, sizeof(*p));
	static uint8_t buf[16384];
	int accepted = 0, open = 0, most = 0;
	bool full = false;
	uint64_t bytes = 0;
	double deadline = now_s() + 120;
	while ((accepted < n || open > 0) && now_s() < deadline) {
		int k = 0;
		if (accepted < n && !full)
			p[k++] = (struct pollfd){.fd = l, .events = POLLIN};
		for (int i = 0; i < accepted; i++)
			if (fds[i] >= 0)
				p[k++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		int rc = us_poll(p, (nfds_t)k, full ? 50 : 1000);
		if (rc < 0 && errno != EINTR) {
			fprintf(stderr, "us_poll: %s\n", strerror(errno));
			failures++;
			break;
		}
		full = false;
		for (int j = 0; j < k; j++) {
			if (!p[j].revents)
				continue;
			if (p[j].fd == l) {
				int s = us_accept4(l, NULL, NULL, SOCK_NONBLOCK);
				if (s < 0) {
					CHECK(errno == EAGAIN || errno == EMFILE, "accept4: %s",
					      strerror(errno));
					full = errno == EMFILE;
					continue;
				}
				fds[accepted++] = s;
				if (++open > most)
					most = open;
				continue;
			}
			int i = 0;
			while (fds[i] != p[j].fd)
				i++;
			ssize_t r = us_recv(fds[i], buf, sizeof(buf), 0);
			if (r > 0) {
				/* the echo of a small request always fits the send buffer */
				ssize_t w = us_send(fds[i], buf, (size_t)r, MSG_NOSIGNAL);
				CHECK(w == r, "echo send %zd of %zd: %s", w, r, strerror(errno));
				bytes += (uint64_t)r;
			} else if (r == 0 || errno != EAGAIN) {
				CHECK(r == 0, "echo recv: %s", strerror(errno));
				us_close(fds[i]);
				fds[i] = -1;
				open--;
			}
		}
	}
	CHECK(accepted == n && open == 0, "accepted %d of %d, %d still open", accepted, n, open);
	printf("echoed %d connections %llu bytes, %d at most at once\n", accepted,
	       (unsigned long long)bytes, most);
	us_close(l);
	free(fds);
	free(p);
	return failures ? 1 : 0;
}

/* n connections at once to a kernel echo server (non-blocking connects, then poll): each sends
 * a line, reads it back, closes. */
/* n non-blocking connects to a at once into fds[0..n): each must be in progress. */
static void connect_all(const struct sockaddr_in *a, int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = tcp_socket();
		us_fcntl(fds[i], F_SETFL, O_NONBLOCK);
		int rc = us_connect(fds[i], (const struct sockaddr *)a, sizeof(*a));
		CHECK(rc < 0 && errno == EINPROGRESS, "connect %d: %d %s", i, rc, strerror(errno));
	}
}

static int many(const char *ip, int port, int n)
{
	struct sockaddr_in a = addr_of(ip, port);
	int *fds = calloc((size_t)n, sizeof(int));
	size_t *got = calloc((size_t)n, sizeof(size_t));
	bool *sent = calloc((size_t)n, sizeof(bool));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	char msg[64], buf[64];
	connect_all(&a, fds, n);
	int left = n;
	double deadline = now_s() + 60;
	while (left && now_s() < deadline) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (fds[i] >= 0)
				p[k++] = (struct pollfd){.fd = fds[i],
							 .events = sent[i] ? POLLIN : POLLOUT};
		us_poll(p, (nfds_t)k, 1000);
		for (int j = 0; j < k; j++) {
			int i = 0;
			while (fds[i] != p[j].fd)
				i++;
			int len = snprintf(msg, sizeof(msg), "connection %d of %d\n", i, n);
			if (!p[j].revents)
				continue;
			if (!sent[i]) {
				int err = -1;
				socklen_t el = sizeof(err);
				us_getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el);
				CHECK(err == 0, "connect %d: %s", i, strerror(err));
				CHECK(us_send(fds[i], msg, (size_t)len, 0) == len, "send %d: %s", i,
				      strerror(errno));
				sent[i] = true;
				continue;
			}
			ssize_t r = us_recv(fds[i], buf + got[i], sizeof(buf) - got[i], 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			CHECK(r > 0, "echo %d: %zd %s", i, r, strerror(errno));
			if (r > 0)
				got[i] += (size_t)r;
			if (r <= 0 || got[i] >= (size_t)len) {
				CHECK(got[i] == (size_t)len && !memcmp(buf, msg, (size_t)len),
				      "echo %d wrong", i);
				us_close(fds[i]);
				fds[i] = -1;
				left--;
			}
		}
	}
	CHECK(left == 0, "%d connections unfinished", left);
	printf("many: %d connections echoed\n", n - left);
	free(fds);
	free(got);
	free(sent);
	free(p);
	return failures ? 1 : 0;
}

/* ---- errors ---- */

static int refused(const char *ip, int port)
{
	int s = tcp_socket();
	struct sockaddr_in a = addr_of(ip, port);
	for (int i = 0; i < 2; i++) {
		int rc = us_connect(s, (struct sockaddr *)&a, sizeof(a));
		CHECK(rc < 0 && errno == ECONNREFUSED, "connect to a closed port %d: %d %s", i, rc,
		      strerror(errno));
	}
	int err = -1;
	socklen_t len = sizeof(err);
	CHECK(us_getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0,
	      "SO_ERROR after the refusal was reported: %d", err);
	/* non-blocking: EINPROGRESS, then POLLOUT|POLLERR and SO_ERROR = ECONNREFUSED */
	int nb = tcp_socket();
	us_fcntl(nb, F_SETFL, O_NONBLOCK);
	int rc = us_connect(nb, (struct sockaddr *)&a, sizeof(a));
	CHECK(rc < 0 && errno == EINPROGRESS, "non-blocking connect: %d %s", rc, strerror(errno));
	struct pollfd p = {.fd = nb, .events = POLLOUT};
	rc = us_poll(&p, 1, 3000);
	CHECK(rc == 1 && (p.revents & POLLERR), "poll after refusal: %d revents %#x", rc,
	      p.revents);
	err = 0;
	len = sizeof(err);
	CHECK(us_getsockopt(nb, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED,
	      "SO_ERROR: %d", err);
	us_close(nb);
	us_close(s);
	return failures ? 1 : 0;
}

static int reset(const char *ip, int port)
{
	int s = connect_to(ip, port);
	CHECK(us_send(s, "r", 1, 0) == 1, "send: %s", strerror(errno)); /* the peer resets on it */
	char buf[64];
	ssize_t r = us_recv(s, buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == ECONNRESET, "recv after the peer's RST: %zd %s", r,
	      strerror(errno));
	r = us_send(s, "x", 1, MSG_NOSIGNAL);
	CHECK(r < 0 && errno == EPIPE, "send after the RST: %zd %s", r, strerror(errno));
	struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT};
	us_poll(&p, 1, 0);
	CHECK((p.revents & POLLHUP), "POLLHUP after the reset: %#x", p.revents);
	us_close(s);
	return failures ? 1 : 0;
}

static int unread_close(const char *ip, int port)
{
	int s = connect_to(ip, port);
	char c;
	ssize_t r = us_recv(s, &c, 1, MSG_PEEK);
	CHECK(r == 1, "the peer's bytes: %zd %s", r, strerror(errno));
	usleep(200000); /* let the rest of them arrive */
	us_close(s);
	return failures ? 1 : 0;
}

static int linger0(const char *ip, int port)
{
	int s = connect_to(ip, port);
	CHECK(us_send(s, "abc", 3, 0) == 3, "send: %s", strerror(errno));
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	CHECK(us_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "SO_LINGER: %s",
	      strerror(errno));
	usleep(100000);
	us_close(s);
	return failures ? 1 : 0;
}

static int halfclose(const char *ip, int port)
{
	int s = connect_to(ip, port);
	const char msg[] = "question";
	CHECK(us_send(s, msg, sizeof(msg) - 1, 0) == (ssize_t)sizeof(msg) - 1, "send: %s",
	      strerror(errno));
	CHECK(us_shutdown(s, SHUT_WR) == 0, "shutdown(WR): %s", strerror(errno));
	ssize_t w = us_send(s, "x", 1, MSG_NOSIGNAL);
	CHECK(w < 0 && errno == EPIPE, "send after shutdown(WR): %zd %s", w, strerror(errno));
	char buf[256];
	size_t got = 0;
	for (;;) {
		ssize_t r = us_recv(s, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0) {
			CHECK(r == 0, "recv: %s", strerror(errno));
			break;
		}
		got += (size_t)r;
	}
	buf[got] = 0;
	CHECK(strcmp(buf, "answer to question") == 0, "the answer after our FIN: '%s'", buf);
	struct pollfd p = {.fd = s, .events = POLLIN | POLLRDHUP};
	us_poll(&p, 1, 0);
	CHECK((p.revents & (POLLIN | POLLRDHUP | POLLHUP)) == (POLLIN | POLLRDHUP | POLLHUP),
	      "poll after both FINs: %#x", p.revents);
	us_close(s);
	return failures ? 1 : 0;
}

static int serve_halfclose(int port)
{
	int l = listen_on(port, 4);
	int s = accept_one(l);
	char buf[256];
	size_t got = 0;
	for (;;) {
		ssize_t r = us_recv(s, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0) {
			CHECK(r == 0, "recv: %s", strerror(errno));
			break;
		}
		got += (size_t)r;
	}
	buf[got] = 0;
	struct pollfd p = {.fd = s, .events = POLLOUT | POLLRDHUP};
	us_poll(&p, 1, 0);
	CHECK((p.revents & (POLLOUT | POLLRDHUP)) == (POLLOUT | POLLRDHUP) && !(p.revents & POLLHUP),
	      "half-closed by the peer: revents %#x", p.revents);
	char ans[300];
	int n = snprintf(ans, sizeof(ans), "answer to %s", buf);
	CHECK(us_send(s, ans, (size_t)n, 0) == n, "send after the peer's FIN: %s", strerror(errno));
	us_close(s);
	us_close(l);
	return failures ? 1 : 0;
}

/* ---- TCP_USER_TIMEOUT against a black hole ---- */

static void echo_line(int s, const char *what)
{
	char buf[64];
	size_t got = 0, n = strlen(what);
	CHECK(us_send(s, what, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
	while (got < n) {
		ssize_t r = us_recv(s, buf + got, sizeof(buf) - got, 0);
		if (r <= 0) {
			CHECK(0, "echo: %zd %s", r, strerror(errno));
			return;
		}
		got += (size_t)r;
	}
	CHECK(got == n && !memcmp(buf, what, n), "echo differs");
}

/* An established connection whose peer goes silent: with TCP_USER_TIMEOUT ms, data unacknowledged
 * for that long ends it with ETIMEDOUT (RFC 5482; Linux: the error is reported once, through
 * whichever call takes it first; after it recv sees EOF-or-error and send EPIPE). The bound: not
 * before ms (the timeout is measured from the first unacknowledged send), and not later than ms
 * plus one more backed-off RTO, as Linux (which clamps the RTO to what is left of the timeout). */
static int user_timeout(const char *ip, int port, int ms)
{
	int s[2];
	for (int i = 0; i < 2; i++) {
		s[i] = connect_to(ip, port);
		CHECK(us_setsockopt(s[i], IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) == 0,
		      "TCP_USER_TIMEOUT: %s", strerror(errno));
		int v = 0;
		socklen_t vl = sizeof(v);
		CHECK(us_getsockopt(s[i], IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &vl) == 0 && v == ms,
		      "TCP_USER_TIMEOUT reads back %d", v);
		echo_line(s[i], "before the black hole\n");
	}
	printf("established\n");
	char go[16];
	if (!fgets(go, sizeof(go), stdin)) {
		fprintf(stderr, "no go on stdin\n");
		return 1;
	}
	double lo = ms / 1000.0, hi = ms / 1000.0 + 3.0;

	/* the first: poll, then recv */
	double t0 = now_s();
	CHECK(us_send(s[0], "into the void\n", 14, 0) == 14, "send: %s", strerror(errno));
	struct pollfd p = {.fd = s[0], .events = POLLIN};
	int rc = us_poll(&p, 1, (int)(hi * 1000) + 5000);
	double dt = now_s() - t0;
	CHECK(rc == 1 && (p.revents & POLLERR), "poll: %d revents %#x after %.3f s", rc, p.revents,
	      dt);
	CHECK(dt >= lo - 0.05 && dt <= hi, "poll reported after %.3f s, expected %.1f..%.1f", dt,
	      lo, hi);
	char buf[64];
	ssize_t r = us_recv(s[0], buf, sizeof(buf), 0);
	CHECK(r < 0 && errno == ETIMEDOUT, "recv after the timeout: %zd %s", r, strerror(errno));
	r = us_send(s[0], "x", 1, MSG_NOSIGNAL);
	CHECK(r < 0 && errno == EPIPE, "send after the timeout was reported: %zd %s", r,
	      strerror(errno));
	printf("poll+recv: timed out after %.3f s\n", dt);

	/* the second: a send that fills the buffer blocks until the timeout ends it; or SO_ERROR */
	t0 = now_s();
	static uint8_t big[8u << 20];
	r = us_send(s[1], big, sizeof(big), MSG_NOSIGNAL);
	dt = now_s() - t0;
	int err = 0;
	socklen_t el = sizeof(err);
	if (r >= 0) {
		/* Linux: a blocking send that copied some bytes returns their count when the error
		 * comes; the error waits for the next call, here SO_ERROR. It cannot have copied
		 * everything (the path is dead), and it must have blocked until the timeout. */
		CHECK((size_t)r < sizeof(big), "a blocking send into a dead path copied it all");
		CHECK(dt >= lo - 0.05, "the blocking send returned %zd after %.3f s", r, dt);
		CHECK(us_getsockopt(s[1], SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == ETIMEDOUT,
		      "SO_ERROR: %d (%s)", err, strerror(err));
	} else {
		CHECK(errno == ETIMEDOUT, "blocking send: %s", strerror(errno));
		CHECK(us_getsockopt(s[1], SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0,
		      "SO_ERROR after send reported the timeout: %d", err);
	}
	CHECK(dt >= lo - 0.05 && dt <= hi, "send/SO_ERROR after %.3f s, expected %.1f..%.1f", dt, lo,
	      hi);
	printf("send: timed out after %.3f s (%s)\n", dt,
	       r >= 0 ? "send returned the bytes it copied, SO_ERROR the error" : "send's errno");
	us_close(s[0]);
	us_close(s[1]);
	return failures ? 1 : 0;
}

/* ---- many connections held open together ---- */

/* One round over every connection in fds: send this round's line on each, read each echo back
 * (poll over all of them, non-blocking). True if every echo was byte-exact. */
static bool echo_round(int *fds, int n, int round, double deadline)
{
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	size_t *got = calloc((size_t)n, sizeof(size_t));
	char (*buf)[64] = calloc((size_t)n, 64);
	int left = n;
	for (int i = 0; i < n; i++) {
		char msg[64];
		int len = snprintf(msg, sizeof(msg), "round %d connection %d pid %d\n", round, i,
				   (int)getpid());
		CHECK(us_send(fds[i], msg, (size_t)len, 0) == len, "send %d: %s", i, strerror(errno));
	}
	while (left && now_s() < deadline) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (got[i] < 64)
				p[k++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		us_poll(p, (nfds_t)k, 1000);
		for (int j = 0; j < k; j++) {
			if (!p[j].revents)
				continue;
			int i = 0;
			while (fds[i] != p[j].fd)
				i++;
			char msg[64];
			int len = snprintf(msg, sizeof(msg), "round %d connection %d pid %d\n", round, i,
					   (int)getpid());
			if ((int)got[i] >= len)
				continue;
			ssize_t r = us_recv(fds[i], buf[i] + got[i], (size_t)len - got[i], 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			CHECK(r > 0, "echo %d: %zd %s", i, r, strerror(errno));
			if (r <= 0) {
				got[i] = 64; /* given up on */
				left--;
				continue;
			}
			got[i] += (size_t)r;
			if ((int)got[i] == len) {
				CHECK(!memcmp(buf[i], msg, (size_t)len), "echo %d differs", i);
				left--;
			}
		}
	}
	CHECK(left == 0, "round %d: %d echoes missing", round, left);
	free(p);
	free(got);
	free(buf);
	return left == 0;
}

static int many_hold(const char *ip, int port, int n)
{
	struct sockaddr_in a = addr_of(ip, port);
	int *fds = calloc((size_t)n, sizeof(int));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	bool *up = calloc((size_t)n, sizeof(bool));
	connect_all(&a, fds, n);
	/* a kernel listener whose queue overflowed drops SYNs: its backlog drains as it accepts and
	 * our SYN retransmissions get in */
	int left = n;
	double deadline = now_s() + 60;
	while (left && now_s() < deadline) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (!up[i])
				p[k++] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
		us_poll(p, (nfds_t)k, 1000);
		for (int j = 0; j < k; j++) {
			if (!p[j].revents)
				continue;
			int i = 0;
			while (fds[i] != p[j].fd)
				i++;
			int err = -1;
			socklen_t el = sizeof(err);
			us_getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el);
			CHECK(err == 0, "connect %d: %s", i, strerror(err));
			up[i] = true;
			left--;
		}
	}
	CHECK(left == 0, "%d connections never established", left);
	free(p);
	free(up);
	char go[16];
	bool ok = !failures && echo_round(fds, n, 1, now_s() + 60);
	if (ok)
		printf("holding %d\n", n);
	if (ok && !fgets(go, sizeof(go), stdin)) {
		fprintf(stderr, "no go on stdin\n");
		ok = false;
	}
	ok = ok && echo_round(fds, n, 2, now_s() + 60);
	for (int i = 0; i < n; i++)
		us_close(fds[i]);
	free(fds);
	if (ok && !failures)
		printf("echoed %d connections twice\n", n);
	return ok && !failures ? 0 : 1;
}

/* One connection echoed in full, however much comes at once (serve-echo's non-blocking echo
 * is for small requests only): the peer must read while it writes more than the buffers hold. */
static int serve_echo_stream(int port)
{
	int l = listen_on(port, 4);
	int s = accept_one(l);
	static uint8_t buf[CHUNK];
	crypto_hash_sha256_state h;
	uint64_t done = 0;
	uint8_t out[32];
	char hx[65];

	crypto_hash_sha256_init(&h);
	for (;;) {
		ssize_t r = us_recv(s, buf, sizeof(buf), 0);
		if (r == 0)
			break;
		if (r < 0) {
			CHECK(0, "echo recv after %llu bytes: %s", (unsigned long long)done,
			      strerror(errno));
			break;
		}
		for (ssize_t off = 0; off < r;) {
			ssize_t w = us_send(s, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
			if (w <= 0) {
				CHECK(0, "echo send after %llu bytes: %s", (unsigned long long)done,
				      strerror(errno));
				goto out;
			}
			off += w;
		}
		crypto_hash_sha256_update(&h, buf, (size_t)r);
		done += (uint64_t)r;
	}
out:
	crypto_hash_sha256_final(&h, out);
	hex(out, hx);
	printf("echoed %llu %s\n", (unsigned long long)done, hx);
	us_close(s);
	us_close(l);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: see the file comment\n");
		return 2;
	}
	const char *m = argv[1];
	int rc;
	if (!strcmp(m, "send") && argc >= 5) {
		int s = connect_to(argv[2], atoi(argv[3]));
		rc = send_stream(s, strtoull(argv[4], NULL, 0),
				 argc > 5 ? strtoull(argv[5], NULL, 0) : 1);
		us_close(s);
	} else if (!strcmp(m, "recv") && argc >= 4) {
		int s = connect_to(argv[2], atoi(argv[3]));
		rc = recv_stream(s);
		us_close(s);
	} else if (!strcmp(m, "serve-recv")) {
		int l = listen_on(atoi(argv[2]), 4);
		int s = accept_one(l);
		rc = recv_stream(s);
		us_close(s);
		us_close(l);
	} else if (!strcmp(m, "serve-send") && argc >= 4) {
		int l = listen_on(atoi(argv[2]), 4);
		int s = accept_one(l);
		rc = send_stream(s, strtoull(argv[3], NULL, 0),
				 argc > 4 ? strtoull(argv[4], NULL, 0) : 1);
		us_close(s);
		us_close(l);
	} else if (!strcmp(m, "serve-echo") && argc >= 5) {
		return serve_echo(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	} else if (!strcmp(m, "many") && argc >= 5) {
		return many(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else if (!strcmp(m, "refused") && argc >= 4) {
		return refused(argv[2], atoi(argv[3]));
	} else if (!strcmp(m, "reset") && argc >= 4) {
		return reset(argv[2], atoi(argv[3]));
	} else if (!strcmp(m, "unread-close") && argc >= 4) {
		return unread_close(argv[2], atoi(argv[3]));
	} else if (!strcmp(m, "linger0") && argc >= 4) {
		return linger0(argv[2], atoi(argv[3]));
	} else if (!strcmp(m, "halfclose") && argc >= 4) {
		return halfclose(argv[2], atoi(argv[3]));
	} else if (!strcmp(m, "serve-halfclose")) {
		return serve_halfclose(atoi(argv[2]));
	} else if (!strcmp(m, "user-timeout") && argc >= 5) {
		return user_timeout(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else if (!strcmp(m, "many-hold") && argc >= 5) {
		return many_hold(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else if (!strcmp(m, "send-until") && argc >= 5) {
		stop_file = argv[4];
		int s = connect_to(argv[2], atoi(argv[3]));
		rc = send_stream(s, UINT64_MAX, argc > 5 ? strtoull(argv[5], NULL, 0) : 1);
		us_close(s);
	} else if (!strcmp(m, "serve-echo-stream")) {
		return serve_echo_stream(atoi(argv[2]));
	} else {
		fprintf(stderr, "unknown mode %s\n", m);
		return 2;
	}
	return rc < 0 || failures ? 1 : 0;
}
