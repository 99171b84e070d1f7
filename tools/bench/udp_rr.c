/* udp_rr: the UDP load generator of tools/bench/udp_bench.sh, one source built twice.
 *
 * `ustack-udp-rr` uses libsock (the us_* calls, served by the instance $USTACK_INSTANCE names);
 * `kernel-udp-rr` is the same file built with -DUSE_KERNEL_SOCKETS, which maps us_* onto the
 * libc calls. Both builds therefore run exactly the same loop, so the ratio of their results is
 * the cost of the stack and nothing else. A benchmark tool: it measures and prints, it never
 * judges a number.
 *
 *   udp_rr rr PEER PORT N SIZE     N request/response exchanges of SIZE bytes with an echo
 *                                  server; each round trip timed with CLOCK_MONOTONIC
 *   udp_rr send PEER PORT SECONDS SIZE   send SIZE-byte datagrams as fast as the socket takes
 *                                  them for SECONDS (blocking socket: back-pressure, not loss)
 *   udp_rr sink PORT SECONDS       count datagrams and bytes arriving; stops SECONDS after start
 *                                  or 1 s after the last datagram, whichever is first
 *   udp_rr echo PORT SECONDS       echo every datagram to its sender for SECONDS (the peer of
 *                                  rr, in C so that the peer's own cost stays small and equal)
 *
 * Each mode prints one result line of KEY=VALUE words, first word the mode, for the script:
 *   rr n=… lost=… p50_ns=… p99_ns=… mean_ns=… min_ns=… max_ns=…
 *   send size=… seconds=… sent=… errors=… pps=…
 *   sink received=… bytes=… window_s=… pps=… mbit=…
 * sink and echo first print "ready" once bound, so a script can start the sender after it.
 *
 * Request/response matching: every request carries a sequence number in its first 4 bytes and
 * a reply with another number (a late echo of a request that timed out) is discarded, so a lost
 * datagram costs one 1 s timeout and is counted in lost=, never mistaken for a fast answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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
#define us_connect connect
#define us_close close
#define us_send send
#define us_sendto sendto
#define us_recv recv
#define us_recvfrom recvfrom
#define us_setsockopt setsockopt
#else
#include <ustack/sock.h>
#endif

#define UDP_RR_MAX_PAYLOAD 65507

static uint64_t udp_rr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void udp_rr_die(const char *what)
{
	fprintf(stderr, "udp_rr: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long udp_rr_arg(const char *s, long lo, long hi, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "udp_rr: %s must be %ld..%ld, not '%s'\n", name, lo, hi, s);
		exit(2);
	}
	return v;
}

static struct sockaddr_in udp_rr_addr(const char *ip, long port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (ip && inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "udp_rr: bad IPv4 address '%s'\n", ip);
		exit(2);
	}
	return a;
}

/* A UDP socket; SO_RCVTIMEO of `rcvtimeo_ms` (0: none) so that no mode can hang forever. */
static int udp_rr_socket(long rcvtimeo_ms)
{
	int s = us_socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		udp_rr_die("socket");
	if (rcvtimeo_ms > 0) {
		struct timeval tv = {.tv_sec = rcvtimeo_ms / 1000,
				     .tv_usec = (rcvtimeo_ms % 1000) * 1000};
		if (us_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			udp_rr_die("setsockopt SO_RCVTIMEO");
	}
	return s;
}

static void udp_rr_bind(int s, long port)
{
	struct sockaddr_in any = udp_rr_addr(NULL, port);
	if (us_bind(s, (const struct sockaddr *)&any, sizeof(any)) < 0)
		udp_rr_die("bind");
	printf("ready\n");
	fflush(stdout);
}

static int udp_rr_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted samples, nearest rank (as icmp_rtt.sh computes its own). */
static uint64_t udp_rr_quantile(const uint64_t *v, long n, double q)
{
	long i = (long)((double)n * q + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static int udp_rr_mode_rr(const char *peer_ip, long port, long n, long size)
{
	struct sockaddr_in peer = udp_rr_addr(peer_ip, port);
	int s = udp_rr_socket(1000);
	/* Connected, as a latency-sensitive client would be: the kernel then skips the route
	 * lookup per send, and replies from anyone else are filtered out. */
	if (us_connect(s, (const struct sockaddr *)&peer, sizeof(peer)) < 0)
		udp_rr_die("connect");
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
	unsigned char *out = calloc(1, (size_t)size + 4), *in = calloc(1, (size_t)size + 64);
	if (!rtt || !out || !in)
		udp_rr_die("calloc");
	memset(out, 'r', (size_t)size);
	size_t len = size < 4 ? 4 : (size_t)size; /* room for the sequence number */
	long warmup = n / 20 < 10 ? 10 : n / 20, got = 0, lost = 0;
	for (uint32_t seq = 0; got < n; seq++) {
		memcpy(out, &seq, sizeof(seq));
		uint64_t t0 = udp_rr_now_ns();
		if (us_send(s, out, len, 0) < 0)
			udp_rr_die("send");
		for (;;) {
			ssize_t r = us_recv(s, in, (size_t)size + 64, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				lost++;
				break;
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				udp_rr_die("recv");
			uint32_t back;
			memcpy(&back, in, sizeof(back));
			if (r != (ssize_t)len || back != seq)
				continue; /* a late echo of an earlier request */
			if (seq >= (uint32_t)warmup)
				rtt[got++] = udp_rr_now_ns() - t0;
			break;
		}
		if (lost > n / 10 + 10) {
			fprintf(stderr, "udp_rr: %ld requests unanswered, giving up\n", lost);
			return 1;
		}
	}
	uint64_t sum = 0;
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, (size_t)n, sizeof(*rtt), udp_rr_cmp_u64);
	printf("rr n=%ld lost=%ld p50_ns=%llu p99_ns=%llu mean_ns=%llu min_ns=%llu max_ns=%llu\n", n,
	       lost, (unsigned long long)udp_rr_quantile(rtt, n, 0.50),
	       (unsigned long long)udp_rr_quantile(rtt, n, 0.99), (unsigned long long)(sum / (uint64_t)n),
	       (unsigned long long)rtt[0], (unsigned long long)rtt[n - 1]);
	free(rtt);
	free(out);
	free(in);
	us_close(s);
	return 0;
}

static int udp_rr_mode_send(const char *peer_ip, long port, long seconds, long size)
{
	struct sockaddr_in peer = udp_rr_addr(peer_ip, port);
	int s = udp_rr_socket(0);
	unsigned char *out = calloc(1, (size_t)size + 1);
	if (!out)
		udp_rr_die("calloc");
	memset(out, 's', (size_t)size);
	long sent = 0, errors = 0;
	uint64_t t0 = udp_rr_now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, t = t0;
	while (t < end) {
		/* The clock is read once per 64 sends: its cost stays out of the rate. */
		for (int i = 0; i < 64; i++) {
			if (us_sendto(s, out, (size_t)size, 0, (const struct sockaddr *)&peer,
				      sizeof(peer)) < 0) {
				if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED &&
				    errno != EINTR)
					udp_rr_die("sendto");
				errors++;
			} else {
				sent++;
			}
		}
		t = udp_rr_now_ns();
	}
	double secs = (double)(t - t0) / 1e9;
	printf("send size=%ld seconds=%.3f sent=%ld errors=%ld pps=%.0f\n", size, secs, sent, errors,
	       (double)sent / secs);
	free(out);
	us_close(s);
	return 0;
}

static int udp_rr_mode_sink(long port, long seconds)
{
	int s = udp_rr_socket(100);
	udp_rr_bind(s, port);
	static unsigned char in[UDP_RR_MAX_PAYLOAD + 1];
	long received = 0;
	unsigned long long bytes = 0;
	uint64_t start = udp_rr_now_ns(), end = start + (uint64_t)seconds * 1000000000u;
	uint64_t first = 0, last = 0, t = start;
	while (t < end && (received == 0 || t - last < 1000000000u)) {
		ssize_t r = us_recv(s, in, sizeof(in), 0);
		t = udp_rr_now_ns();
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				udp_rr_die("recv");
			continue;
		}
		if (received++ == 0)
			first = t;
		last = t;
		bytes += (unsigned long long)r;
	}
	/* The rate over the window in which datagrams arrived: what the receiving side delivered,
	 * not diluted by the idle time before the sender starts or after it stops. */
	double window = received > 1 ? (double)(last - first) / 1e9 : 0.0;
	double pps = window > 0 ? (double)(received - 1) / window : 0.0;
	double mbit = window > 0 ? (double)bytes * 8.0 / window / 1e6 : 0.0;
	printf("sink received=%ld bytes=%llu window_s=%.3f pps=%.0f mbit=%.1f\n", received, bytes,
	       window, pps, mbit);
	us_close(s);
	return 0;
}

static int udp_rr_mode_echo(long port, long seconds)
{
	int s = udp_rr_socket(100);
	udp_rr_bind(s, port);
	static unsigned char in[UDP_RR_MAX_PAYLOAD + 1];
	uint64_t end = udp_rr_now_ns() + (uint64_t)seconds * 1000000000u;
	while (udp_rr_now_ns() < end) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t r = us_recvfrom(s, in, sizeof(in), 0, (struct sockaddr *)&from, &fromlen);
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				udp_rr_die("recvfrom");
			continue;
		}
		if (us_sendto(s, in, (size_t)r, 0, (const struct sockaddr *)&from, fromlen) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			udp_rr_die("sendto");
	}
	us_close(s);
	return 0;
}

static int udp_rr_usage(void)
{
	fprintf(stderr, "usage: udp_rr rr PEER PORT N SIZE\n"
			"       udp_rr send PEER PORT SECONDS SIZE\n"
			"       udp_rr sink PORT SECONDS\n"
			"       udp_rr echo PORT SECONDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return udp_rr_usage();
	const char *mode = argv[1];
	if (!strcmp(mode, "rr") && argc == 6)
		return udp_rr_mode_rr(argv[2], udp_rr_arg(argv[3], 1, 65535, "PORT"),
				      udp_rr_arg(argv[4], 1, 100000000, "N"),
				      udp_rr_arg(argv[5], 0, UDP_RR_MAX_PAYLOAD, "SIZE"));
	if (!strcmp(mode, "send") && argc == 6)
		return udp_rr_mode_send(argv[2], udp_rr_arg(argv[3], 1, 65535, "PORT"),
					udp_rr_arg(argv[4], 1, 3600, "SECONDS"),
					udp_rr_arg(argv[5], 0, UDP_RR_MAX_PAYLOAD, "SIZE"));
	if (!strcmp(mode, "sink") && argc == 4)
		return udp_rr_mode_sink(udp_rr_arg(argv[2], 1, 65535, "PORT"),
					udp_rr_arg(argv[3], 1, 3600, "SECONDS"));
	if (!strcmp(mode, "echo") && argc == 4)
		return udp_rr_mode_echo(udp_rr_arg(argv[2], 1, 65535, "PORT"),
					udp_rr_arg(argv[3], 1, 3600, "SECONDS"));
	return udp_rr_usage();
}
