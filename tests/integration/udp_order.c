/* udp_order: numbered UDP datagrams across one link, counting inversions (test_nic_order.sh).
 * One program for both ends: the kernel side uses ordinary sockets (run it inside the test
 * namespace), the stack side libsock. Every datagram starts with its 8-byte sequence number
 * (little-endian), padded to SIZE bytes.
 *
 *   udp_order kernel-send PEER PORT COUNT SIZE [RATE]  plain socket: COUNT datagrams, as fast
 *                                                as the kernel takes them, or RATE a second
 *                                                (in bursts of 16: the receiver then waits
 *                                                for frames, which flat out it never does)
 *   udp_order stack-send PEER PORT COUNT SIZE [RATE]   the same through libsock
 *   udp_order kernel-recv PORT COUNT SECONDS     plain socket receiver
 *   udp_order stack-recv PORT COUNT SECONDS      libsock receiver
 *
 * A receiver prints "ready" once bound, then, when COUNT datagrams arrived or nothing came for
 * 1 s after the first one (or SECONDS passed), one line:
 *   received R lost L inversions I duplicates D
 * An inversion is a datagram arriving after one with a higher number: on one point-to-point
 * link that is reordering, which must not happen; losses are allowed (UDP under overload).
 * Exit status 0 if it received at least one datagram and nothing malformed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "probe.h"

#define ORDER_SIZE_MAX 1472

struct order_io {
	int (*socket_)(int, int, int);
	int (*bind_)(int, const struct sockaddr *, socklen_t);
	ssize_t (*sendto_)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recv_)(int, void *, size_t, int);
	int (*setsockopt_)(int, int, int, const void *, socklen_t);
	int (*close_)(int);
};

static const struct order_io order_kernel = {socket, bind, sendto, recv, setsockopt, close};
static const struct order_io order_stack = {us_socket, us_bind, us_sendto, us_recv,
					    us_setsockopt, us_close};

static int order_send(const struct order_io *io, const char *peer_ip, int port, long count,
		      size_t size, double rate)
{
	double t0 = now_s();
	struct sockaddr_in peer = addr_of(peer_ip, port);
	unsigned char buf[ORDER_SIZE_MAX];
	long errors = 0;
	int s = io->socket_(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || size < 8 || size > sizeof(buf)) {
		fprintf(stderr, "socket or size: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 0xa5, size);
	for (long i = 0; i < count; i++) {
		uint64_t seq = (uint64_t)i;
		if (rate > 0 && i % 16 == 0) {
			double ahead = t0 + (double)i / rate - now_s();
			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
		memcpy(buf, &seq, sizeof(seq));
		/* ENOBUFS and the like: the datagram is lost, which the receiver counts. Retrying
		 * would only slow the sender; the point is to go as fast as the sender can. */
		if (io->sendto_(s, buf, size, 0, (const struct sockaddr *)&peer, sizeof(peer)) !=
		    (ssize_t)size)
			errors++;
	}
	printf("sent %ld send_errors %ld\n", count, errors);
	io->close_(s);
	return 0;
}

static int order_recv(const struct order_io *io, int port, long count, double seconds)
{
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = io->socket_(AF_INET, SOCK_DGRAM, 0);
	int rcvbuf = 8 << 20;

	if (s < 0 || io->bind_(s, (const struct sockaddr *)&any, sizeof(any)) < 0) {
		fprintf(stderr, "socket/bind: %s\n", strerror(errno));
		return 1;
	}
	io->setsockopt_(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct timeval tv = {.tv_usec = 100000};
	io->setsockopt_(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	unsigned char *seen = calloc((size_t)count, 1);
	if (!seen)
		return 1;
	printf("ready\n");
	fflush(stdout);

	long received = 0, inversions = 0, duplicates = 0, malformed = 0, max = -1;
	long first_inv = -1, first_inv_max = -1;
	double end = now_s() + seconds, last = 0;
	unsigned char buf[2048];
	while (received < count && now_s() < end) {
		ssize_t n = io->recv_(s, buf, sizeof(buf), 0);
		if (n < 0) {
			if (last > 0 && now_s() - last > 1.0)
				break; /* the sender is done: what is missing is lost */
			continue;
		}
		last = now_s();
		uint64_t seq;
		if (n < 8 || (memcpy(&seq, buf, 8), seq >= (uint64_t)count)) {
			malformed++;
			continue;
		}
		if (seen[seq]) {
			duplicates++;
			continue;
		}
		seen[seq] = 1;
		received++;
		if ((long)seq < max) {
			if (first_inv < 0) {
				first_inv = (long)seq;
				first_inv_max = max;
			}
			inversions++;
		} else {
			max = (long)seq;
		}
	}
	printf("received %ld lost %ld inversions %ld duplicates %ld\n", received, count - received,
	       inversions, duplicates);
	if (first_inv >= 0)
		printf("first inversion: %ld after %ld\n", first_inv, first_inv_max);
	CHECK(received > 0, "nothing received");
	CHECK(malformed == 0, "%ld malformed datagrams", malformed);
	free(seen);
	io->close_(s);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "kernel-send") == 0)
		return order_send(&order_kernel, argv[2], atoi(argv[3]), atol(argv[4]),
				  (size_t)atol(argv[5]), argc >= 7 ? atof(argv[6]) : 0);
	if (argc >= 6 && strcmp(argv[1], "stack-send") == 0)
		return order_send(&order_stack, argv[2], atoi(argv[3]), atol(argv[4]),
				  (size_t)atol(argv[5]), argc >= 7 ? atof(argv[6]) : 0);
	if (argc >= 5 && strcmp(argv[1], "kernel-recv") == 0)
		return order_recv(&order_kernel, atoi(argv[2]), atol(argv[3]), atof(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "stack-recv") == 0)
		return order_recv(&order_stack, atoi(argv[2]), atol(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of udp_order.c\n");
	return 2;
}
