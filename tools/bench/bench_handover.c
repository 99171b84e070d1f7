/* bench_handover: the floor a chain of processes puts under a round trip on this machine — a
 * token handed from process to process through pipes, nothing else done — so that the stack's
 * round trips can be read against what its process structure alone costs.
 *
 * A UDP request and its answer through ustack are handed over 8 times between processes
 * (application -> udpd -> ipd -> nicd, then the kernel's peer answers inside nicd's write and
 * wakes it, nicd -> ipd -> udpd -> application) plus 2 for the peer (nicd -> peer process ->
 * nicd); the kernel's own UDP round trip between two processes is 2 hand-overs. Each hand-over
 * here is a 1-byte pipe write that wakes a process blocked in poll(), as a doorbell does.
 *
 * With ZeroMQ links each of the 4 descriptor hops wakes three threads instead of one (the
 * sender's I/O thread, the receiver's I/O thread, the receiver), so that path hands over 16
 * times.
 *
 * For hops in {2, 10, 16} it runs a ring of `hops` processes (the parent is one of them)
 * passing a token around, and prints the median time of one trip around the ring, in two
 * placements:
 *   - one CPU: every process of the ring bound to the same CPU (a hand-over is a context switch);
 *   - free: nothing pinned (a hand-over may wake an idle CPU, which on a VM can cost far more).
 * The ratios 10 / 2 and 16 / 2 are the least the stack's process structure adds over the
 * kernel's in each placement, with shared-memory and with ZeroMQ links, before any protocol
 * work. A benchmark, not a test: it asserts nothing.
 *
 * Usage: ustack-bench-handover [trips]   (default 20000 per measurement)
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

#define BHO_HOPS_MAX 16

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Block in poll() until fd is readable, then take the byte: what a loop does on a doorbell. */
static int bho_take(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	return read(fd, &c, 1) == 1 ? 0 : -1;
}

/* One ring of `hops` processes (this one included), `trips` trips; the median in ns, 0 on
 * failure. cpu >= 0 binds every process of the ring to that CPU. */
static uint64_t bho_ring(unsigned hops, unsigned trips, int cpu)
{
	int p[BHO_HOPS_MAX][2];
	pid_t kids[BHO_HOPS_MAX];
	uint64_t *t = calloc(trips, sizeof(*t));
	if (!t)
		return 0;
	for (unsigned i = 0; i < hops; i++)
		if (pipe(p[i]) < 0)
			return 0;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((unsigned)cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			return 0;
	}
	/* process i reads pipe i and writes pipe i+1; the parent is process 0 */
	for (unsigned i = 1; i < hops; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return 0;
		if (kids[i] == 0) {
			int in = p[i][0], out = p[(i + 1) % hops][1];
			for (;;) {
				if (bho_take(in) < 0 || write(out, "t", 1) != 1)
					_exit(0);
			}
		}
	}
	int in = p[0][0], out = p[1 % hops][1];
	for (unsigned k = 0; k < trips; k++) {
		uint64_t t0 = clock_now();
		if (write(out, "t", 1) != 1 || bho_take(in) < 0)
			break;
		t[k] = clock_now() - t0;
	}
	for (unsigned i = 1; i < hops; i++)
		kill(kids[i], SIGKILL);
	for (unsigned i = 1; i < hops; i++)
		waitpid(kids[i], NULL, 0);
	for (unsigned i = 0; i < hops; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	if (cpu >= 0) { /* back to every CPU for the next measurement */
		cpu_set_t all;
		CPU_ZERO(&all);
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}
	qsort(t, trips, sizeof(*t), cmp_u64);
	uint64_t med = t[trips / 2];
	free(t);
	return med;
}

int main(int argc, char **argv)
{
	unsigned trips = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000u;
	if (trips < 100)
		trips = 100;
	cpu_set_t mine;
	int cpu = -1;
	if (sched_getaffinity(0, sizeof(mine), &mine) == 0)
		for (int c = CPU_SETSIZE - 1; c >= 0 && cpu < 0; c--)
			if (CPU_ISSET(c, &mine))
				cpu = c; /* the last CPU this process may use */
	const unsigned hops[] = {2, 10, 16};
	enum { BHO_RINGS = sizeof(hops) / sizeof(hops[0]) };
	uint64_t med[BHO_RINGS][2];
	printf("token around a ring of processes through pipes, median of %u trips\n", trips);
	printf("%-28s %12s %12s\n", "", "one CPU us", "free us");
	/* alternate placements and sizes in one run: runs here differ by 10-50 % */
	for (unsigned pl = 0; pl < 2; pl++)
		for (unsigned h = 0; h < BHO_RINGS; h++)
			med[h][pl] = bho_ring(hops[h], trips, pl == 0 ? cpu : -1);
	const char *what[] = {" 2 hand-overs (kernel)", "10 hand-overs (ustack, shm)",
			      "16 hand-overs (ustack, zmq)"};
	for (unsigned h = 0; h < BHO_RINGS; h++)
		printf("%-28s %12.1f %12.1f\n", what[h], med[h][0] / 1e3, med[h][1] / 1e3);
	for (unsigned h = 1; h < BHO_RINGS; h++) {
		char label[32];
		snprintf(label, sizeof(label), "ratio %u / 2", hops[h]);
		printf("%-28s %11.2fx %11.2fx\n", label,
		       med[0][0] ? (double)med[h][0] / (double)med[0][0] : 0.0,
		       med[0][1] ? (double)med[h][1] / (double)med[0][1] : 0.0);
	}
	printf("(a UDP round trip: 10 through ustack and its kernel peer over shared-memory links,\n"
	       " 16 over ZeroMQ links, 2 for the kernel alone)\n");
	return 0;
}
