/* ustack-echo: an echo server on libsock: every datagram goes back to where it came from
 * (--udp), every byte of every connection goes back on it (--tcp, echo_tcp.c).
 *
 *   ustack-echo --udp --port N [--instance NAME]
 *   ustack-echo --tcp --port N [--instance NAME]
 *
 * The instance is --instance or $USTACK_INSTANCE. Prints "ready" once bound (scripts wait for
 * it), for UDP one line per 1,000 datagrams at most, and a summary of its counters on
 * SIGTERM/SIGINT, which end it with status 0. The loop sits in us_poll with a timeout, so a
 * signal is seen within that time even if us_poll were restarted. If the stack restarts
 * without its state (ECONNABORTED), the socket (the listener) is opened again.
 *
 * Exit status: 0 stopped by a signal, 1 a socket call failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo.h"
#include "ustack/sock.h"

#define ECHO_POLL_MS 500
#define ECHO_BUDGET 64          /* datagrams per wakeup before polling again */
#define ECHO_REPORT_EVERY 1000u
#define ECHO_TX_WAIT_MS 100     /* TX ring full: wait this long for room, then drop */
#define ECHO_REOPEN_TRIES 50    /* x 200 ms: how long a stack that lost its state may take */

static volatile sig_atomic_t echo_stop;

static void echo_on_signal(int sig)
{
	(void)sig;
	echo_stop = 1;
}

struct echo_stats {
	unsigned long long datagrams;
	unsigned long long bytes;
	unsigned long long dropped;
};

static void echo_usage(FILE *f)
{
	fputs("usage: ustack-echo --udp --port N [--instance NAME]\n"
	      "       ustack-echo --tcp --port N [--instance NAME]\n",
	      f);
}

static int echo_parse_port(const char *s, unsigned short *port)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 1 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

/* Send one datagram back; a full TX ring gets ECHO_TX_WAIT_MS to drain. 0, or -1 with errno
 * for a failure worth stopping for. */
static int echo_reply(int s, const void *buf, size_t len, const struct sockaddr_in *to,
		      struct echo_stats *st)
{
	for (int tries = 0; tries < 2; tries++) {
		if (us_sendto(s, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)) >= 0)
			return 0;
		if (errno != EAGAIN && errno != ENOBUFS)
			break;
		struct pollfd p = {.fd = s, .events = POLLOUT};
		us_poll(&p, 1, ECHO_TX_WAIT_MS);
	}
	st->dropped++;
	/* Errors a peer can cause (an unreachable port, a refused datagram) are no reason to stop
	 * serving everyone else. */
	if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED || errno == EHOSTUNREACH ||
	    errno == ENETUNREACH || errno == EACCES || errno == EINTR)
		return 0;
	return -1;
}

/* A non-blocking UDP socket bound to port on every address. The socket, or -1 (reported). */
static int echo_open(unsigned short port)
{
	int s = us_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		fprintf(stderr, "ustack-echo: socket: %s\n", strerror(errno));
		return -1;
	}
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	if (us_bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "ustack-echo: bind to port %u: %s\n", port, strerror(errno));
		us_close(s);
		return -1;
	}
	return s;
}

/* The stack restarted without its state (ECONNABORTED): the old socket is dead. Open a new one
 * on the same port, retrying while the stack comes back. The socket, or -1 when stopped or
 * when it cannot be had within ECHO_REOPEN_TRIES attempts. */
static int echo_reopen(int old, unsigned short port)
{
	us_close(old);
	fprintf(stderr, "ustack-echo: the stack lost the socket; opening it again\n");
	for (int i = 0; i < ECHO_REOPEN_TRIES && !echo_stop; i++) {
		int s = echo_open(port);
		if (s >= 0) {
			printf("ustack-echo: udp port %u ready again\n", port);
			return s;
		}
		struct pollfd none;
		us_poll(&none, 0, 200);
	}
	return -1;
}

static int echo_udp(unsigned short port)
{
	int s = echo_open(port);
	if (s < 0)
		return 1;
	printf("ustack-echo: udp port %u ready\n", port);

	static unsigned char buf[65536];
	struct echo_stats st = {0};
	int status = 0;
	while (!echo_stop) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		int n = us_poll(&p, 1, ECHO_POLL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ustack-echo: poll: %s\n", strerror(errno));
			status = 1;
			break;
		}
		for (int i = 0; n > 0 && i < ECHO_BUDGET && !echo_stop; i++) {
			struct sockaddr_in from;
			socklen_t fromlen = sizeof(from);
			ssize_t got = us_recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from,
						  &fromlen);
			if (got < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				if (errno == ECONNREFUSED) /* an ICMP error about an earlier reply */
					continue;
				if (errno == ECONNABORTED) {
					s = echo_reopen(s, port);
					if (s >= 0)
						break;
					status = 1;
					echo_stop = 1;
					break;
				}
				fprintf(stderr, "ustack-echo: recvfrom: %s\n", strerror(errno));
				status = 1;
				echo_stop = 1;
				break;
			}
			if (echo_reply(s, buf, (size_t)got, &from, &st) < 0) {
				fprintf(stderr, "ustack-echo: sendto: %s\n", strerror(errno));
				status = 1;
				echo_stop = 1;
				break;
			}
			st.datagrams++;
			st.bytes += (unsigned long long)got;
			if (st.datagrams % ECHO_REPORT_EVERY == 0)
				printf("ustack-echo: %llu datagrams, %llu bytes echoed, %llu dropped\n",
				       st.datagrams, st.bytes, st.dropped);
		}
	}
	printf("ustack-echo: stopping: %llu datagrams, %llu bytes echoed, %llu dropped\n",
	       st.datagrams, st.bytes, st.dropped);
	if (s >= 0)
		us_close(s);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"udp", no_argument, NULL, 'u'},
		{"tcp", no_argument, NULL, 't'},
		{"port", required_argument, NULL, 'p'},
		{"instance", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool udp = false, tcp = false, have_port = false;
	unsigned short port = 0;
	const char *instance = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': udp = true; break;
		case 't': tcp = true; break;
		case 'p':
			if (echo_parse_port(optarg, &port) < 0) {
				fprintf(stderr, "ustack-echo: bad port '%s' (1..65535)\n", optarg);
				return 2;
			}
			have_port = true;
			break;
		case 'i': instance = optarg; break;
		case 'h': echo_usage(stdout); return 0;
		default: echo_usage(stderr); return 2;
		}
	}
	if (optind != argc || udp == tcp) {
		echo_usage(stderr);
		return 2;
	}
	if (!have_port) {
		echo_usage(stderr);
		return 2;
	}
	if (instance && us_set_instance(instance) < 0) {
		fprintf(stderr, "ustack-echo: bad instance name '%s'\n", instance);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* No SA_RESTART: a signal ends us_poll with EINTR and the loop sees echo_stop at once. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = echo_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (udp)
		return echo_udp(port);
	struct echo_tcp_stats st = {0};
	int rc = echo_tcp_run(port, &echo_stop, -1, &st);
	printf("ustack-echo: stopping: %llu connections (%llu closed, %llu reset, %llu accept "
	       "errors, at most %llu at once), %llu bytes echoed\n",
	       (unsigned long long)st.accepted, (unsigned long long)st.closed,
	       (unsigned long long)st.reset, (unsigned long long)st.accept_errors,
	       (unsigned long long)st.max_open, (unsigned long long)st.bytes);
	return rc;
}
