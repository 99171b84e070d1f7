/* tcp_stamp_lies: a libsock application that lies to tcpd about latency (test_latency.sh), to
 * show that the stamps and statistics of a stream region (common/region.h, "Latency of the two
 * hops") reach nothing but tcpd's histograms and named counters.
 *
 *   tcp_stamp_lies PEER PORT    connect to a kernel echo server, then:
 *     1. 20 honest 64-byte round trips;
 *     2. prints "lying", then makes round trips while a thread keeps overwriting every slot's
 *        TX stamp (the application's line of the slot block) with times an hour in the
 *        future, a new one each store, until a line arrives on stdin (the test sends it once
 *        tcpd counted a lie in tx_stamp_bad) or 60 s pass; every echo must come back intact;
 *        prints "lied N" (round trips made). Whether a take-up reads libsock's honest stamp
 *        or the scribbler's is a race the scheduler decides (on a loaded machine the
 *        scribbler may not run between a send and its take-up for many round trips), so the
 *        liar stops on the counter, not after a fixed number;
 *     3. adds 1,000,000 samples to a bucket of its statistics area, prints "inflated" and
 *        waits for a line on stdin (the test reads app_hist_over_credit);
 *     4. lowers that bucket to 0, prints "lowered", waits for a line (app_hist_went_down);
 *     5. 10 more honest round trips on the same connection (tcpd still serves it), "done".
 * The region is found as the application sees it: its memfd mapping in /proc/self/maps, the
 * header validated with region_validate. Exit 0 only if every check held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "clock.h"
#include "probe.h"
#include "region.h"

struct lies {
	struct region_stream_ctl *ctl;
	unsigned n_slots;
	atomic_bool stop;
	uint64_t stores;
};

/* The stream region libsock mapped for this process; NULL if none. */
static uint8_t *find_region(size_t *size)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return NULL;
	char line[512];
	uint8_t *found = NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (!strstr(line, "ustack-region") || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		struct region_hdr h;
		if (hi - lo < sizeof(h))
			continue;
		memcpy(&h, (void *)lo, sizeof(h));
		if (h.kind == REGION_KIND_STREAM && region_validate(&h, hi - lo) == 0) {
			found = (uint8_t *)lo;
			*size = hi - lo;
		}
	}
	fclose(f);
	return found;
}

static void *scribble(void *arg)
{
	struct lies *l = arg;
	uint64_t k = 0;
	while (!atomic_load(&l->stop)) {
		uint64_t future = clock_now() + 3600 * UINT64_C(1000000000) + ++k;
		for (unsigned i = 0; i < l->n_slots; i++)
			atomic_store_explicit(&l->ctl[i].tx_stamp, future, memory_order_relaxed);
		l->stores++;
	}
	return NULL;
}

static int round_trips(int s, int n, uint32_t tag)
{
	for (int i = 0; i < n; i++) {
		uint8_t out[64], in[64];
		for (unsigned k = 0; k < sizeof(out); k++)
			out[k] = (uint8_t)(tag + (uint32_t)i * 7u + k);
		if (us_send(s, out, sizeof(out), 0) != (ssize_t)sizeof(out)) {
			CHECK(0, "send %d: %s", i, strerror(errno));
			return i;
		}
		size_t got = 0;
		while (got < sizeof(in)) {
			ssize_t r = us_recv(s, in + got, sizeof(in) - got, 0);
			if (r <= 0) {
				CHECK(0, "recv %d: %zd %s", i, r, strerror(errno));
				return i;
			}
			got += (size_t)r;
		}
		CHECK(memcmp(in, out, sizeof(in)) == 0, "round trip %d: echo differs", i);
	}
	return n;
}

static bool wait_line(void)
{
	char go[16];
	return fgets(go, sizeof(go), stdin) != NULL;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: tcp_stamp_lies PEER PORT\n");
		return 2;
	}
	struct sockaddr_in a = addr_of(argv[1], atoi(argv[2]));
	int s = us_socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (s < 0 || us_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		fprintf(stderr, "socket: %s\n", strerror(errno));
		return 1;
	}
	for (int tries = 0; us_connect(s, (struct sockaddr *)&a, sizeof(a)) < 0; tries++) {
		if (errno != ECONNREFUSED || tries == 50) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			return 1;
		}
		usleep(100000);
	}
	CHECK(round_trips(s, 20, 1) == 20, "honest round trips");

	size_t size = 0;
	uint8_t *base = find_region(&size);
	if (!base) {
		fprintf(stderr, "no stream region mapped in this process\n");
		return 1;
	}
	const struct region_hdr *h = (const void *)base;
	struct lies l = {.ctl = (struct region_stream_ctl *)(void *)(base + h->slot_ctl_off),
			 .n_slots = h->n_slots};
	struct region_app_stats *st = (struct region_app_stats *)(void *)(base + h->app_stats_off);

	pthread_t th;
	if (pthread_create(&th, NULL, scribble, &l) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	printf("lying\n");
	uint64_t until = clock_now() + 60 * UINT64_C(1000000000);
	int n = 0;
	struct pollfd told = {.fd = STDIN_FILENO, .events = POLLIN};
	while (poll(&told, 1, 0) == 0 && clock_now() < until &&
	       round_trips(s, 1, 2u + (uint32_t)n) == 1)
		n++;
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	CHECK(told.revents & POLLIN, "not told that a lie was counted after %d round trips", n);
	CHECK(l.stores > 0, "the scribbler never ran");
	printf("lied %d\n", n);
	if (!wait_line())
		return 1;

	unsigned b = hist_bucket(15000);
	atomic_fetch_add(&st->rx_transit[b], 1000000);
	printf("inflated\n");
	if (!wait_line())
		return 1;
	atomic_store(&st->rx_transit[b], 0);
	printf("lowered\n");
	if (!wait_line())
		return 1;
	CHECK(round_trips(s, 10, 3) == 10, "round trips after the lies");
	us_close(s);
	printf("done\n");
	return failures ? 1 : 0;
}
