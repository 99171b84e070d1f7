/* udp_probe: the libsock side of the UDP integration tests. Each mode exercises one behaviour
 * against a kernel peer in the test namespace and exits 0 only if everything it checked held;
 * every failure prints what was expected and what happened.
 *
 *   udp_probe echo-client PEER PORT        every payload size 0..1472, then 1473..65507 in
 *                                          steps, sent to a kernel echo server, byte-exact
 *   udp_probe refused PEER PORT            connected socket to a closed kernel port: the ICMP
 *                                          port unreachable surfaces as ECONNREFUSED
 *   udp_probe errors PEER                  Linux errnos for bad arguments and misuse
 *   udp_probe poll PEER PORT               poll over a stack socket and a pipe, non-blocking
 *                                          EAGAIN, SO_RCVTIMEO timeout
 *   udp_probe send PEER PORT TEXT          one datagram carrying TEXT (to nc -u -l)
 *   udp_probe threads PEER PORT            4 threads, a socket each, 300 echoes each at once
 *   udp_probe burst PEER PORT COUNT        COUNT datagrams as fast as possible, then exit at
 *                                          once without closing: every one must still go out
 *   udp_probe sink PORT COUNT SECONDS      count datagrams arriving (for the 10,000 run)
 *   udp_probe restart-client PEER PORT SECONDS  exchange with a kernel echo server for SECONDS
 *                                          without reopening the socket; prints sent/answered
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "probe.h"

static int udp_socket(void)
{
	int s = us_socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		fprintf(stderr, "us_socket: %s\n", strerror(errno));
		exit(1);
	}
	struct timeval tv = {.tv_sec = 2};
	us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed);
}

/* One datagram of `len` bytes to the echo server and back, byte-exact. */
static void echo_once(int s, const struct sockaddr_in *peer, size_t len, unsigned char *out,
		      unsigned char *in)
{
	fill(out, len, (unsigned)len);
	ssize_t n = us_sendto(s, out, len, 0, (const struct sockaddr *)peer, sizeof(*peer));
	CHECK(n == (ssize_t)len, "sendto %zu bytes: %zd (%s)", len, n, strerror(errno));
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	n = us_recvfrom(s, in, 65536, 0, (struct sockaddr *)&from, &fl);
	CHECK(n == (ssize_t)len, "echo of %zu bytes: got %zd (%s)", len, n, strerror(errno));
	if (n == (ssize_t)len)
		CHECK(memcmp(out, in, len) == 0, "echo of %zu bytes differs", len);
	CHECK(fl == sizeof(from) && from.sin_addr.s_addr == peer->sin_addr.s_addr &&
		      from.sin_port == peer->sin_port,
	      "source address of the echo is not the peer");
}

static int mode_echo_client(const char *peer_ip, int port)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	unsigned char *out = malloc(65536), *in = malloc(65536);
	int s = udp_socket();
	for (size_t len = 0; len <= 1472 && failures < 10; len++)
		echo_once(s, &peer, len, out, in);
	printf("sizes 0..1472: %s\n", failures ? "FAILED" : "byte-exact");
	static const size_t big[] = {1473, 2000, 2961, 4096, 8000, 16384, 32768, 50000, 65000, 65507};
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]) && failures < 10; i++)
		echo_once(s, &peer, big[i], out, in);
	printf("fragmented sizes up to 65507: %s\n", failures ? "FAILED" : "byte-exact");
	unsigned char one = 0;
	errno = 0;
	CHECK(us_sendto(s, out, 65508, 0, (const struct sockaddr *)&peer, sizeof(peer)) < 0 &&
		      errno == EMSGSIZE,
	      "65508 bytes: expected EMSGSIZE, got %s", strerror(errno));
	(void)one;
	us_close(s);
	free(out);
	free(in);
	return failures ? 1 : 0;
}

static int mode_refused(const char *peer_ip, int port)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	int s = udp_socket();
	CHECK(us_connect(s, (const struct sockaddr *)&peer, sizeof(peer)) == 0, "connect: %s",
	      strerror(errno));
	char buf[16] = "knock";
	CHECK(us_send(s, buf, 5, 0) == 5, "send: %s", strerror(errno));
	/* The kernel answers with ICMP port unreachable; like Linux, the next call reports it. */
	ssize_t n = -1;
	for (int i = 0; i < 20; i++) {
		n = us_recv(s, buf, sizeof(buf), 0);
		if (n < 0 && errno == ECONNREFUSED)
			break;
	}
	CHECK(n < 0 && errno == ECONNREFUSED, "expected ECONNREFUSED, got %zd (%s)", n,
	      strerror(errno));
	/* Reported once: the socket keeps working (the next recv times out). */
	n = us_recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n < 0 && errno == EAGAIN, "after the error: expected EAGAIN, got %zd (%s)", n,
	      strerror(errno));
	us_close(s);
	printf("port unreachable -> ECONNREFUSED: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}

static int mode_errors(const char *peer_ip)
{
	struct sockaddr_in peer = addr_of(peer_ip, 9);
	char buf[8] = {0};
	errno = 0;
	CHECK(us_socket(AF_INET6, SOCK_DGRAM, 0) < 0 && errno == EAFNOSUPPORT, "AF_INET6: %s",
	      strerror(errno));
	int s = udp_socket();
	{
		/* Linux autobinds before udp_sendmsg refuses: the socket has a port now. */
		int u = udp_socket();
		struct sockaddr_in name;
		socklen_t nl = sizeof(name);
		errno = 0;
		CHECK(us_send(u, buf, 1, 0) < 0 && errno == EDESTADDRREQ, "unconnected send: %s",
		      strerror(errno));
		CHECK(us_getsockname(u, (struct sockaddr *)&name, &nl) == 0 && name.sin_port != 0,
		      "no port after a failed send: %s", strerror(errno));
		us_close(u);
	}
	struct sockaddr_in bad = peer;
	bad.sin_family = AF_INET6;
	errno = 0;
	CHECK(us_bind(s, (const struct sockaddr *)&bad, sizeof(bad)) < 0 && errno == EAFNOSUPPORT,
	      "bind AF_INET6 address: %s", strerror(errno));
	errno = 0;
	CHECK(us_bind(s, (const struct sockaddr *)&peer, 4) < 0 && errno == EINVAL,
	      "bind with addrlen 4: %s", strerror(errno));
	struct sockaddr_in other = addr_of("192.0.2.1", 5000);
	errno = 0;
	CHECK(us_bind(s, (const struct sockaddr *)&other, sizeof(other)) < 0 &&
		      errno == EADDRNOTAVAIL,
	      "bind to an address we do not own: %s", strerror(errno));
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = 0};
	CHECK(us_bind(s, (const struct sockaddr *)&any, sizeof(any)) == 0, "bind port 0: %s",
	      strerror(errno));
	struct sockaddr_in got;
	socklen_t gl = sizeof(got);
	CHECK(us_getsockname(s, (struct sockaddr *)&got, &gl) == 0 && ntohs(got.sin_port) >= 32768 &&
		      ntohs(got.sin_port) <= 60999,
	      "ephemeral port %u outside 32768-60999", ntohs(got.sin_port));
	errno = 0;
	CHECK(us_bind(s, (const struct sockaddr *)&any, sizeof(any)) < 0 && errno == EINVAL,
	      "second bind: %s", strerror(errno));
	int s2 = udp_socket();
	errno = 0;
	CHECK(us_bind(s2, (const struct sockaddr *)&got, sizeof(got)) < 0 && errno == EADDRINUSE,
	      "bind to a port in use: %s", strerror(errno));
	struct sockaddr_in bcast = addr_of("255.255.255.255", 9);
	errno = 0;
	CHECK(us_sendto(s, buf, 1, 0, (const struct sockaddr *)&bcast, sizeof(bcast)) < 0 &&
		      errno == EACCES,
	      "broadcast without SO_BROADCAST: %s", strerror(errno));
	errno = 0;
	CHECK(us_getpeername(s, (struct sockaddr *)&got, &gl) < 0 && errno == ENOTCONN,
	      "getpeername unconnected: %s", strerror(errno));
	errno = 0;
	CHECK(us_recv(12345, buf, 1, 0) < 0 && errno == EBADF, "recv on a bad fd: %s",
	      strerror(errno));
	us_close(s);
	us_close(s2);
	printf("errno checks: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}

static int mode_poll(const char *peer_ip, int port)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	int s = udp_socket();
	int p[2];
	if (pipe(p) < 0)
		return 1;
	struct pollfd pf[2] = {{.fd = s, .events = POLLIN}, {.fd = p[0], .events = POLLIN}};
	CHECK(us_poll(pf, 2, 100) == 0, "poll with nothing ready returned ready");
	CHECK(write(p[1], "x", 1) == 1, "pipe write");
	CHECK(us_poll(pf, 2, 1000) == 1 && (pf[1].revents & POLLIN) && !(pf[0].revents & POLLIN),
	      "poll: the pipe must be readable, the socket not");
	char c;
	CHECK(read(p[0], &c, 1) == 1, "pipe read");
	/* The kernel echo server answers: the socket becomes readable. */
	CHECK(us_sendto(s, "ping", 4, 0, (const struct sockaddr *)&peer, sizeof(peer)) == 4,
	      "sendto: %s", strerror(errno));
	CHECK(us_poll(pf, 2, 2000) == 1 && (pf[0].revents & POLLIN), "socket not readable");
	char buf[16];
	CHECK(us_recv(s, buf, sizeof(buf), 0) == 4, "recv after poll: %s", strerror(errno));
	/* Non-blocking: EAGAIN at once. */
	int fl = us_fcntl(s, F_GETFL, 0);
	CHECK(us_fcntl(s, F_SETFL, fl | O_NONBLOCK) == 0, "F_SETFL: %s", strerror(errno));
	double t0 = now_s();
	errno = 0;
	CHECK(us_recv(s, buf, sizeof(buf), 0) < 0 && errno == EAGAIN, "non-blocking recv: %s",
	      strerror(errno));
	CHECK(now_s() - t0 < 0.1, "non-blocking recv blocked");
	CHECK(us_fcntl(s, F_SETFL, fl) == 0, "F_SETFL back: %s", strerror(errno));
	/* SO_RCVTIMEO: EAGAIN after about the timeout. */
	struct timeval tv = {.tv_usec = 300000};
	CHECK(us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO");
	t0 = now_s();
	errno = 0;
	CHECK(us_recv(s, buf, sizeof(buf), 0) < 0 && errno == EAGAIN, "timed recv: %s",
	      strerror(errno));
	double dt = now_s() - t0;
	CHECK(dt > 0.25 && dt < 1.5, "SO_RCVTIMEO 0.3 s took %.3f s", dt);
	/* MSG_PEEK leaves the datagram; MSG_TRUNC reports its real length. */
	CHECK(us_sendto(s, "0123456789", 10, 0, (const struct sockaddr *)&peer, sizeof(peer)) == 10,
	      "sendto");
	tv.tv_sec = 2;
	tv.tv_usec = 0;
	us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(us_recv(s, buf, 4, MSG_PEEK) == 4 && memcmp(buf, "0123", 4) == 0, "MSG_PEEK");
	CHECK(us_recv(s, buf, 4, MSG_TRUNC) == 10, "MSG_TRUNC must return the full length");
	errno = 0;
	CHECK(us_recv(s, buf, 4, MSG_DONTWAIT) < 0 && errno == EAGAIN,
	      "the truncated datagram must be gone");
	close(p[0]);
	close(p[1]);
	us_close(s);
	printf("poll, non-blocking, timeouts, peek/trunc: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}

static int mode_sink(int port, long count, double seconds)
{
	int s = udp_socket();
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (us_bind(s, (const struct sockaddr *)&any, sizeof(any)) < 0) {
		fprintf(stderr, "bind: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	struct timeval tv = {.tv_usec = 200000};
	us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	long got = 0;
	double end = now_s() + seconds;
	char buf[2048];
	while (got < count && now_s() < end) {
		if (us_recv(s, buf, sizeof(buf), 0) >= 0)
			got++;
	}
	printf("received %ld\n", got);
	us_close(s);
	return 0;
}

/* Count distinct sequence numbers answered: datagrams sent while udpd was down wait in the
 * rings and are echoed after the restart, so replies arrive late and in bursts, not one per
 * send. */
static int mode_restart_client(const char *peer_ip, int port, double seconds)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	int s = udp_socket();
	enum { MAX_SEQ = 100000 };
	static unsigned char seen[MAX_SEQ];
	long sent = 0, answered = 0, send_errors = 0;
	double end = now_s() + seconds;
	char buf[64], in[64];
	while (now_s() < end + 1.0) {
		if (now_s() < end && sent < MAX_SEQ) {
			int len = snprintf(buf, sizeof(buf), "seq %ld", sent);
			if (us_sendto(s, buf, (size_t)len, 0, (const struct sockaddr *)&peer,
				      sizeof(peer)) < 0) {
				send_errors++;
				fprintf(stderr, "sendto: %s\n", strerror(errno));
			}
			sent++;
		}
		struct pollfd pf = {.fd = s, .events = POLLIN};
		us_poll(&pf, 1, 10);
		ssize_t n;
		while ((n = us_recv(s, in, sizeof(in) - 1, MSG_DONTWAIT)) > 0) {
			in[n] = '\0';
			long q;
			if (sscanf(in, "seq %ld", &q) == 1 && q >= 0 && q < sent && !seen[q]) {
				seen[q] = 1;
				answered++;
			}
		}
	}
	printf("sent %ld answered %ld send_errors %ld\n", sent, answered, send_errors);
	us_close(s);
	return send_errors ? 1 : 0;
}

struct thread_job {
	struct sockaddr_in peer;
	int id;
	int ok;
};

/* One socket per thread, all exchanging at once: every echo must come back to its own socket
 * with its own contents. */
static void *thread_echo(void *arg)
{
	struct thread_job *j = arg;
	int s = udp_socket();
	char out[64], in[64];
	for (int i = 0; i < 300; i++) {
		int len = snprintf(out, sizeof(out), "thread %d seq %d", j->id, i);
		if (us_sendto(s, out, (size_t)len, 0, (const struct sockaddr *)&j->peer,
			      sizeof(j->peer)) != len)
			continue;
		ssize_t n = us_recv(s, in, sizeof(in), 0);
		if (n == len && memcmp(in, out, (size_t)len) == 0)
			j->ok++;
	}
	us_close(s);
	return NULL;
}

static int mode_threads(const char *peer_ip, int port)
{
	enum { N = 4 };
	pthread_t th[N];
	struct thread_job job[N];
	for (int i = 0; i < N; i++) {
		job[i] = (struct thread_job){.peer = addr_of(peer_ip, port), .id = i};
		pthread_create(&th[i], NULL, thread_echo, &job[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		/* A datagram may be lost on the wire now and then, never mixed up. */
		CHECK(job[i].ok >= 295, "thread %d: %d of 300 echoes came back right", i, job[i].ok);
	}
	printf("4 threads x 300 echoes on their own sockets: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}

static int mode_burst(const char *peer_ip, int port, long count)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	int s = udp_socket();
	char buf[64];
	for (long i = 0; i < count; i++) {
		int len = snprintf(buf, sizeof(buf), "burst %ld", i);
		CHECK(us_sendto(s, buf, (size_t)len, 0, (const struct sockaddr *)&peer,
				sizeof(peer)) == len,
		      "sendto %ld: %s", i, strerror(errno));
	}
	_exit(failures ? 1 : 0); /* no us_close, no exit handlers: as abrupt as a crash */
}

static int mode_send(const char *peer_ip, int port, const char *text)
{
	struct sockaddr_in peer = addr_of(peer_ip, port);
	int s = udp_socket();
	size_t len = strlen(text);
	CHECK(us_sendto(s, text, len, 0, (const struct sockaddr *)&peer, sizeof(peer)) ==
		      (ssize_t)len,
	      "sendto: %s", strerror(errno));
	us_close(s);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "burst") == 0)
		return mode_burst(argv[2], atoi(argv[3]), atol(argv[4]));
	if (argc >= 4 && strcmp(argv[1], "threads") == 0)
		return mode_threads(argv[2], atoi(argv[3]));
	if (argc >= 5 && strcmp(argv[1], "send") == 0)
		return mode_send(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 4 && strcmp(argv[1], "echo-client") == 0)
		return mode_echo_client(argv[2], atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "refused") == 0)
		return mode_refused(argv[2], atoi(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "errors") == 0)
		return mode_errors(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "poll") == 0)
		return mode_poll(argv[2], atoi(argv[3]));
	if (argc >= 5 && strcmp(argv[1], "sink") == 0)
		return mode_sink(atoi(argv[2]), atol(argv[3]), atof(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "restart-client") == 0)
		return mode_restart_client(argv[2], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of udp_probe.c\n");
	return 2;
}
