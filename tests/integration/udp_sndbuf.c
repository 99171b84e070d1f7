/* udp_sndbuf: SO_SNDBUF on libsock sockets, as Linux enforces it for UDP, driven by
 * test_udp_sndbuf.sh. The instance is $USTACK_INSTANCE; a kernel sink counts what arrives.
 *
 *   udp_sndbuf semantics PEER PORT UDPD_PID
 *       With udpd stopped (SIGSTOP, well within its watchdog), so nothing leaves the send
 *       buffer: a non-blocking socket takes exactly as many datagrams as Linux's rule allows
 *       (a send starts while less than SO_SNDBUF is in flight, each datagram charged its record
 *       and region.h's per-datagram overhead), then EAGAIN, and so does MSG_DONTWAIT on a
 *       blocking one; POLLOUT is off; another socket of the process still sends; a blocking
 *       send with SO_SNDTIMEO gives up with EAGAIN after it; one without waits, and completes
 *       once udpd runs again (SIGCONT), when POLLOUT comes back too. Prints "sent N": what
 *       send() accepted, for the script to find at the sink.
 *   udp_sndbuf blast PEER PORT COUNT SIZE
 *       A blocking sender: COUNT datagrams of SIZE bytes as fast as send() takes them. Prints
 *       "sent N errors E".
 * Exit 0 only if every check held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "probe.h"

#include "region.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connected_socket(const char *peer, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, peer, &a.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", peer);
		exit(2);
	}
	int s = us_socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || us_connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "socket/connect: %s\n", strerror(errno));
		exit(1);
	}
	return s;
}

static short poll_out(int s, int timeout_ms)
{
	struct pollfd p = {.fd = s, .events = POLLOUT};
	return us_poll(&p, 1, timeout_ms) > 0 ? p.revents : 0;
}

struct blocked {
	int s;
	atomic_int done;  /* 0 waiting, 1 returned */
	ssize_t rc;
	int err;
};

static void *blocked_send(void *p)
{
	struct blocked *b = p;
	char buf[64] = "blocked";
	b->rc = us_send(b->s, buf, sizeof(buf), 0);
	b->err = errno;
	atomic_store(&b->done, 1);
	return NULL;
}

static int mode_semantics(const char *peer, int port, pid_t udpd)
{
	int s = connected_socket(peer, port);
	int s2 = connected_socket(peer, port);
	long sent = 0;
	char buf[64];
	memset(buf, 'x', sizeof(buf));

	/* Linux: the value is doubled (and at least SOCK_MIN_SNDBUF); getsockopt reports it. */
	int v = 8192;
	socklen_t vl = sizeof(v);
	CHECK(us_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0, "SO_SNDBUF: %s",
	      strerror(errno));
	CHECK(us_getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &vl) == 0 && v == 16384,
	      "SO_SNDBUF reads back %d, expected 16384", v);
	uint64_t charge = region_tx_charge((uint32_t)(sizeof(struct region_tx_dgram) + 64));
	long want = (long)((16384 + charge - 1) / charge); /* sends start while below 16384 */
	CHECK(poll_out(s, 0) & POLLOUT, "no POLLOUT on an idle socket");

	/* Nothing in flight yet: the whole buffer is there to fill. */
	CHECK(kill(udpd, SIGSTOP) == 0, "SIGSTOP udpd: %s", strerror(errno));
	uint64_t stopped = now_ms();

	/* Non-blocking: exactly `want` datagrams, then EAGAIN. */
	long n = 0;
	ssize_t rc;
	while ((rc = us_send(s, buf, sizeof(buf), MSG_DONTWAIT)) == (ssize_t)sizeof(buf) && n < 10000)
		n++;
	int err = errno;
	sent += n;
	printf("semantics: %ld datagrams of 64 bytes fill a send buffer of 16384 (charge %" PRIu64
	       " each), then %s\n", n, charge, rc < 0 ? strerror(err) : "no error");
	CHECK(rc < 0 && err == EAGAIN, "the full socket's send gave %zd (%s), not EAGAIN", rc,
	      strerror(err));
	CHECK(n == want, "%ld datagrams fit the send buffer, Linux's rule gives %ld", n, want);
	/* O_NONBLOCK does the same as MSG_DONTWAIT. */
	CHECK(us_fcntl(s, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	errno = 0;
	CHECK(us_send(s, buf, sizeof(buf), 0) < 0 && errno == EAGAIN,
	      "a non-blocking socket's send on a full buffer: %s", strerror(errno));
	CHECK(us_fcntl(s, F_SETFL, 0) == 0, "blocking again");
	/* POLLOUT: off (more than half in flight). */
	CHECK(!(poll_out(s, 0) & POLLOUT), "POLLOUT on a full send buffer");
	/* Another socket of this process has its own buffer. */
	CHECK(us_send(s2, buf, sizeof(buf), MSG_DONTWAIT) == (ssize_t)sizeof(buf),
	      "another socket's send: %s", strerror(errno));
	sent++;
	CHECK(poll_out(s2, 0) & POLLOUT, "no POLLOUT on the other socket");

	/* Blocking with SO_SNDTIMEO: EAGAIN after it. */
	struct timeval tv = {0, 200000};
	CHECK(us_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0, "SO_SNDTIMEO");
	uint64_t t1 = now_ms();
	errno = 0;
	rc = us_send(s, buf, sizeof(buf), 0);
	err = errno;
	uint64_t waited = now_ms() - t1;
	printf("semantics: a blocking send with SO_SNDTIMEO 200 ms: %s after %" PRIu64 " ms\n",
	       rc < 0 ? strerror(err) : "sent", waited);
	CHECK(rc < 0 && err == EAGAIN && waited >= 190,
	      "blocking send with a 200 ms timeout: rc %zd (%s) after %" PRIu64 " ms", rc,
	      strerror(err), waited);
	/* A poll for POLLOUT waits too. */
	t1 = now_ms();
	CHECK(!(poll_out(s, 100) & POLLOUT) && now_ms() - t1 >= 95,
	      "us_poll(POLLOUT, 100 ms) on a full buffer did not wait");

	/* Blocking without a timeout: waits while udpd is stopped. */
	tv.tv_usec = 0;
	CHECK(us_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0, "SO_SNDTIMEO 0");
	struct blocked b = {.s = s};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, blocked_send, &b) == 0, "thread");
	poll(NULL, 0, 300);
	CHECK(atomic_load(&b.done) == 0, "a blocking send on a full buffer returned (%zd, %s) "
	      "while udpd was stopped", b.rc, strerror(b.err));
	uint64_t cont = now_ms();
	CHECK(kill(udpd, SIGCONT) == 0, "SIGCONT udpd: %s", strerror(errno));
	printf("semantics: udpd stopped for %" PRIu64 " ms\n", cont - stopped);
	pthread_join(th, NULL);
	uint64_t woke = now_ms() - cont;
	printf("semantics: the blocked send returned %zd %" PRIu64 " ms after udpd went on\n", b.rc,
	       woke);
	CHECK(b.rc == (ssize_t)sizeof(buf), "the blocked send: %zd (%s)", b.rc, strerror(b.err));
	CHECK(woke < 1000, "the blocked send took %" PRIu64 " ms to notice the room", woke);
	if (b.rc == (ssize_t)sizeof(buf))
		sent++;
	CHECK(poll_out(s, 1000) & POLLOUT, "no POLLOUT once udpd sent the buffer's datagrams");
	printf("sent %ld\n", sent);
	us_close(s);
	us_close(s2);
	return failures ? 1 : 0;
}

static int mode_blast(const char *peer, int port, long count, long size)
{
	int s = connected_socket(peer, port);
	static char buf[65536];
	long sent = 0, errors = 0;
	for (long i = 0; i < count; i++) {
		memcpy(buf, &i, sizeof(i) < (size_t)size ? sizeof(i) : (size_t)size);
		if (us_send(s, buf, (size_t)size, 0) == (ssize_t)size) {
			sent++;
		} else {
			errors++;
			if (errors < 5)
				fprintf(stderr, "send: %s\n", strerror(errno));
		}
	}
	us_close(s);
	printf("sent %ld errors %ld\n", sent, errors);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 5 && strcmp(argv[1], "semantics") == 0)
		return mode_semantics(argv[2], atoi(argv[3]), (pid_t)atoi(argv[4]));
	if (argc >= 6 && strcmp(argv[1], "blast") == 0)
		return mode_blast(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of udp_sndbuf.c\n");
	return 2;
}
