/* tcp_rr: the TCP load generator of tools/bench/tcp_bench.sh, one source built twice.
 *
 * `ustack-tcp-rr` uses libsock stream sockets (served by ustack-tcpd of the instance
 * $USTACK_INSTANCE names); `kernel-tcp-rr` is the same file built with -DUSE_KERNEL_SOCKETS,
 * which maps us_* onto the libc calls. Both builds run exactly the same loop, so the ratio of
 * their results is the cost of the stack and nothing else. A benchmark tool: it measures and
 * prints, it never judges a number.
 *
 *   tcp_rr send PEER PORT SECONDS      connect, send 128 KiB writes for SECONDS, shutdown(WR),
 *                                      wait for the sink's EOF (everything was taken)
 *   tcp_rr sink PORT SECONDS           listen, accept one, read to EOF (at most SECONDS + 10 s),
 *                                      close; the rate is over first byte .. EOF at the sink
 *   tcp_rr rr PEER PORT N SIZE         one connection (TCP_NODELAY), N exchanges of SIZE bytes
 *                                      with `echo`, each round trip timed
 *   tcp_rr echo PORT SECONDS           accept connections one after another, echo each to EOF
 *   tcp_rr crr PEER PORT SECONDS SIZE  for SECONDS: connect, send SIZE bytes, read SIZE back,
 *                                      read the server's EOF, close; each connection timed
 *   tcp_rr crr-serve PORT SECONDS SIZE accept one after another: read SIZE, write them back,
 *                                      close first (as an HTTP/1.0 server: TIME-WAIT is the
 *                                      server's, so the client's ephemeral ports never run out)
 *
 * Each mode prints one result line of KEY=VALUE words, first word the mode, for the script:
 *   send bytes=… seconds=…
 *   sink bytes=… window_s=… mbit=…
 *   rr n=… p50_ns=… p99_ns=… mean_ns=… min_ns=… max_ns=…
 *   crr n=… errors=… seconds=… cps=… p50_ns=… p99_ns=…
 * Servers (sink, echo, crr-serve) first print "ready" once listening. Every blocking call is
 * bounded (SO_RCVTIMEO, poll timeouts), so no mode can hang a script forever.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef USE_KERNEL_SOCKETS
#define us_socket socket
#define us_bind bind
#define us_listen listen
#define us_accept accept
#define us_connect connect
#define us_close close
#define us_shutdown shutdown
#define us_send send
#define us_recv recv
#define us_setsockopt setsockopt
#define us_poll poll
#else
#include <ustack/sock.h>
#endif

#define TCP_RR_CHUNK (128u << 10)
#define TCP_RR_MAX_SIZE (64u << 10)
#define TCP_RR_IO_TIMEOUT_MS 5000

static uint64_t tcp_rr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void tcp_rr_die(const char *what)
{
	fprintf(stderr, "tcp_rr: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long tcp_rr_arg(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "tcp_rr: %s must be %ld..%ld, not '%s'\n", name, lo, hi, s);
		exit(2);
	}
	return v;
}

static struct sockaddr_in tcp_rr_addr(const char *ip, long port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (ip && inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "tcp_rr: bad IPv4 address '%s'\n", ip);
		exit(2);
	}
	return a;
}

/* Receive and send timeouts, so that a stalled peer ends a run with an error, not a hang. */
static void tcp_rr_timeouts(int s)
{
	struct timeval tv = {.tv_sec = TCP_RR_IO_TIMEOUT_MS / 1000,
			     .tv_usec = (TCP_RR_IO_TIMEOUT_MS % 1000) * 1000};
	if (us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    us_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		tcp_rr_die("setsockopt SO_RCVTIMEO/SO_SNDTIMEO");
}

static void tcp_rr_nodelay(int s)
{
	int one = 1;
	if (us_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		tcp_rr_die("setsockopt TCP_NODELAY");
}

/* A connected socket, or -errno (the crr loop counts failures rather than dying on one). */
static int tcp_rr_connect(const struct sockaddr_in *peer)
{
	int s = us_socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -errno;
	tcp_rr_timeouts(s);
	if (us_connect(s, (const struct sockaddr *)peer, sizeof(*peer)) < 0) {
		int e = errno;
		us_close(s);
		return -e;
	}
	return s;
}

static int tcp_rr_listen(long port)
{
	int s = us_socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		tcp_rr_die("socket");
	int one = 1;
	if (us_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		tcp_rr_die("setsockopt SO_REUSEADDR");
	struct sockaddr_in any = tcp_rr_addr(NULL, port);
	if (us_bind(s, (const struct sockaddr *)&any, sizeof(any)) < 0)
		tcp_rr_die("bind");
	if (us_listen(s, 128) < 0)
		tcp_rr_die("listen");
	printf("ready\n");
	fflush(stdout);
	return s;
}

/* The next connection on listener `l`, or -1 once `end` has passed with none. */
static int tcp_rr_accept(int l, uint64_t end)
{
	for (;;) {
		uint64_t now = tcp_rr_now_ns();
		if (now >= end)
			return -1;
		struct pollfd p = {.fd = l, .events = POLLIN};
		uint64_t left_ms = (end - now) / 1000000u + 1;
		int r = us_poll(&p, 1, left_ms > 1000 ? 1000 : (int)left_ms);
		if (r < 0 && errno != EINTR)
			tcp_rr_die("poll");
		if (r <= 0)
			continue;
		int c = us_accept(l, NULL, NULL);
		if (c >= 0) {
			tcp_rr_timeouts(c);
			return c;
		}
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			tcp_rr_die("accept");
	}
}

/* Read exactly `len` bytes: 0, or -errno (-ECONNRESET for an early EOF). */
static int tcp_rr_read_full(int s, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = us_recv(s, buf + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
	}
	return 0;
}

/* Write all of `len` bytes: 0, or -errno. */
static int tcp_rr_write_full(int s, const unsigned char *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t r = us_send(s, buf + put, len - put, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		put += (size_t)r;
	}
	return 0;
}

/* Read until the peer's EOF, discarding: 0, or -errno. */
static int tcp_rr_drain(int s, unsigned char *buf, size_t cap, unsigned long long *bytes)
{
	for (;;) {
		ssize_t r = us_recv(s, buf, cap, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		if (bytes)
			*bytes += (unsigned long long)r;
	}
}

static int tcp_rr_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted samples, nearest rank (as udp_rr.c computes it). */
static uint64_t tcp_rr_quantile(const uint64_t *v, long n, double q)
{
	long i = (long)((double)n * q + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return n > 0 ? v[i] : 0;
}

static int tcp_rr_mode_send(const char *peer_ip, long port, long seconds)
{
	struct sockaddr_in peer = tcp_rr_addr(peer_ip, port);
	int s = tcp_rr_connect(&peer);
	if (s < 0) {
		errno = -s;
		tcp_rr_die("connect");
	}
	static unsigned char out[TCP_RR_CHUNK];
	memset(out, 's', sizeof(out));
	unsigned long long bytes = 0;
	uint64_t t0 = tcp_rr_now_ns(), end = t0 + (uint64_t)seconds * 1000000000u;
	while (tcp_rr_now_ns() < end) {
		ssize_t r = us_send(s, out, sizeof(out), MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			tcp_rr_die("send");
		bytes += (unsigned long long)r;
	}
	if (us_shutdown(s, SHUT_WR) < 0)
		tcp_rr_die("shutdown");
	int e = tcp_rr_drain(s, out, sizeof(out), NULL);
	if (e < 0) {
		errno = -e;
		tcp_rr_die("waiting for the sink's EOF");
	}
	printf("send bytes=%llu seconds=%.3f\n", bytes, (double)(tcp_rr_now_ns() - t0) / 1e9);
	us_close(s);
	return 0;
}

static int tcp_rr_mode_sink(long port, long seconds)
{
	int l = tcp_rr_listen(port);
	int c = tcp_rr_accept(l, tcp_rr_now_ns() + (uint64_t)(seconds + 10) * 1000000000u);
	if (c < 0) {
		fprintf(stderr, "tcp_rr: sink: nobody connected\n");
		return 1;
	}
	static unsigned char in[256u << 10];
	unsigned long long bytes = 0;
	uint64_t first = 0, last = 0;
	for (;;) {
		ssize_t r = us_recv(c, in, sizeof(in), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			tcp_rr_die("recv");
		last = tcp_rr_now_ns();
		if (r == 0)
			break;
		if (bytes == 0)
			first = last;
		bytes += (unsigned long long)r;
	}
	/* The rate over the window in which bytes arrived, not diluted by the set-up. */
	double window = bytes ? (double)(last - first) / 1e9 : 0.0;
	printf("sink bytes=%llu window_s=%.3f mbit=%.1f\n", bytes, window,
	       window > 0 ? (double)bytes * 8.0 / window / 1e6 : 0.0);
	us_close(c);
	us_close(l);
	return 0;
}

static int tcp_rr_mode_rr(const char *peer_ip, long port, long n, long size)
{
	struct sockaddr_in peer = tcp_rr_addr(peer_ip, port);
	int s = tcp_rr_connect(&peer);
	if (s < 0) {
		errno = -s;
		tcp_rr_die("connect");
	}
	tcp_rr_nodelay(s);
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
	unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size);
	if (!rtt || !out || !in)
		tcp_rr_die("malloc");
	memset(out, 'r', (size_t)size);
	long warmup = n / 20 < 10 ? 10 : n / 20;
	for (long i = -warmup; i < n; i++) {
		uint64_t t0 = tcp_rr_now_ns();
		int e = tcp_rr_write_full(s, out, (size_t)size);
		if (!e)
			e = tcp_rr_read_full(s, in, (size_t)size);
		if (e < 0) {
			errno = -e;
			tcp_rr_die("exchange");
		}
		if (i >= 0)
			rtt[i] = tcp_rr_now_ns() - t0;
	}
	uint64_t sum = 0;
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, (size_t)n, sizeof(*rtt), tcp_rr_cmp_u64);
	printf("rr n=%ld p50_ns=%llu p99_ns=%llu mean_ns=%llu min_ns=%llu max_ns=%llu\n", n,
	       (unsigned long long)tcp_rr_quantile(rtt, n, 0.50),
	       (unsigned long long)tcp_rr_quantile(rtt, n, 0.99),
	       (unsigned long long)(sum / (uint64_t)n), (unsigned long long)rtt[0],
	       (unsigned long long)rtt[n - 1]);
	free(rtt);
	free(out);
	free(in);
	us_close(s);
	return 0;
}

static int tcp_rr_mode_echo(long port, long seconds)
{
	int l = tcp_rr_listen(port);
	uint64_t end = tcp_rr_now_ns() + (uint64_t)seconds * 1000000000u;
	static unsigned char buf[TCP_RR_MAX_SIZE];
	int c;
	while ((c = tcp_rr_accept(l, end)) >= 0) {
		tcp_rr_nodelay(c);
		for (;;) {
			ssize_t r = us_recv(c, buf, sizeof(buf), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || tcp_rr_write_full(c, buf, (size_t)r) < 0)
				break;
		}
		us_close(c);
	}
	us_close(l);
	return 0;
}

static int tcp_rr_mode_crr(const char *peer_ip, long port, long seconds, long size)
{
	struct sockaddr_in peer = tcp_rr_addr(peer_ip, port);
	size_t cap = (size_t)seconds * 100000u;
	uint64_t *lat = calloc(cap, sizeof(*lat));
	unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size + 1);
	if (!lat || !out || !in)
		tcp_rr_die("malloc");
	memset(out, 'c', (size_t)size);
	long n = 0, errors = 0;
	uint64_t t0 = tcp_rr_now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, t = t0;
	while (t < end && (size_t)n < cap) {
		uint64_t c0 = t;
		int s = tcp_rr_connect(&peer);
		int e = s < 0 ? s : 0;
		if (!e) {
			tcp_rr_nodelay(s);
			e = tcp_rr_write_full(s, out, (size_t)size);
		}
		if (!e)
			e = tcp_rr_read_full(s, in, (size_t)size);
		if (!e) {
			/* The server closes first: its EOF ends the exchange. */
			ssize_t r = us_recv(s, in, 1, 0);
			e = r == 0 ? 0 : r < 0 ? -errno : -EPROTO;
		}
		if (s >= 0)
			us_close(s);
		t = tcp_rr_now_ns();
		if (e < 0) {
			if (errors++ < 5)
				fprintf(stderr, "tcp_rr: crr: %s\n", strerror(-e));
			if (errors > 100)
				break;
			continue;
		}
		lat[n++] = t - c0;
	}
	double secs = (double)(t - t0) / 1e9;
	qsort(lat, (size_t)n, sizeof(*lat), tcp_rr_cmp_u64);
	printf("crr n=%ld errors=%ld seconds=%.3f cps=%.0f p50_ns=%llu p99_ns=%llu\n", n, errors,
	       secs, (double)n / secs, (unsigned long long)tcp_rr_quantile(lat, n, 0.50),
	       (unsigned long long)tcp_rr_quantile(lat, n, 0.99));
	free(lat);
	free(out);
	free(in);
	return errors > 100;
}

static int tcp_rr_mode_crr_serve(long port, long seconds, long size)
{
	int l = tcp_rr_listen(port);
	uint64_t end = tcp_rr_now_ns() + (uint64_t)seconds * 1000000000u;
	static unsigned char buf[TCP_RR_MAX_SIZE];
	int c;
	while ((c = tcp_rr_accept(l, end)) >= 0) {
		tcp_rr_nodelay(c);
		if (tcp_rr_read_full(c, buf, (size_t)size) == 0)
			(void)tcp_rr_write_full(c, buf, (size_t)size);
		us_close(c);
	}
	us_close(l);
	return 0;
}

static int tcp_rr_usage(void)
{
	fprintf(stderr, "usage: tcp_rr send PEER PORT SECONDS\n"
			"       tcp_rr sink PORT SECONDS\n"
			"       tcp_rr rr PEER PORT N SIZE\n"
			"       tcp_rr echo PORT SECONDS\n"
			"       tcp_rr crr PEER PORT SECONDS SIZE\n"
			"       tcp_rr crr-serve PORT SECONDS SIZE\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return tcp_rr_usage();
	const char *mode = argv[1];
	if (!strcmp(mode, "send") && argc == 5)
		return tcp_rr_mode_send(argv[2], tcp_rr_arg(argv[3], 1, 65535, "PORT"),
					tcp_rr_arg(argv[4], 1, 3600, "SECONDS"));
	if (!strcmp(mode, "sink") && argc == 4)
		return tcp_rr_mode_sink(tcp_rr_arg(argv[2], 1, 65535, "PORT"),
					tcp_rr_arg(argv[3], 1, 3600, "SECONDS"));
	if (!strcmp(mode, "rr") && argc == 6)
		return tcp_rr_mode_rr(argv[2], tcp_rr_arg(argv[3], 1, 65535, "PORT"),
				      tcp_rr_arg(argv[4], 1, 100000000, "N"),
				      tcp_rr_arg(argv[5], 1, TCP_RR_MAX_SIZE, "SIZE"));
	if (!strcmp(mode, "echo") && argc == 4)
		return tcp_rr_mode_echo(tcp_rr_arg(argv[2], 1, 65535, "PORT"),
					tcp_rr_arg(argv[3], 1, 86400, "SECONDS"));
	if (!strcmp(mode, "crr") && argc == 6)
		return tcp_rr_mode_crr(argv[2], tcp_rr_arg(argv[3], 1, 65535, "PORT"),
				       tcp_rr_arg(argv[4], 1, 600, "SECONDS"),
				       tcp_rr_arg(argv[5], 1, TCP_RR_MAX_SIZE, "SIZE"));
	if (!strcmp(mode, "crr-serve") && argc == 5)
		return tcp_rr_mode_crr_serve(tcp_rr_arg(argv[2], 1, 65535, "PORT"),
					     tcp_rr_arg(argv[3], 1, 86400, "SECONDS"),
					     tcp_rr_arg(argv[4], 1, TCP_RR_MAX_SIZE, "SIZE"));
	return tcp_rr_usage();
}
