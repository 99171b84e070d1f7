/* netem_relay: a userspace netem between the stack's TAP and the kernel, for test_tcp_netem.sh.
 *
 * Why not `tc qdisc ... netem`: the kernel these tests run on is built without sch_netem (and
 * without ifb's useful qdiscs), so the impairments are made here instead. The relay owns a second
 * TAP, the kernel's side of the wire, and moves frames between it and the stack's TAP (reached
 * with an AF_PACKET socket): the test moves the kernel's address to the relay's TAP and makes the
 * kernel ignore the stack's TAP (the only port of a bridge kept down; AF_PACKET taps run before
 * the bridge drops the frame), so
 * every frame each way passes through here and is impaired like netem would, in both directions:
 *
 *   netem_relay STACK_IF KERNEL_IF MAC [--loss P] [--dup P] [--corrupt P] [--delay MS]
 *                                      [--reorder P] [--seed N]
 *     --loss P     drop P percent of frames
 *     --dup P      send P percent of frames twice
 *     --corrupt P  flip one random bit in a random byte past the Ethernet header (netem's
 *                  corrupt: the IP or TCP header or the payload) of P percent of frames
 *     --delay MS   hold every frame MS milliseconds
 *     --reorder P  with --delay: P percent of frames go at once, ahead of the delayed ones
 *                  (netem's `delay D reorder P`)
 *   KERNEL_IF is created with address MAC (fixed, so the stack's ARP entry stays right across
 *   relays). Prints "ready" once both sides are open; on SIGTERM or SIGINT prints per direction
 *   "DIR frames N lost N dup N corrupt N reordered N overflow N send_fail N" and exits 0.
 *
 * Frames are plain (the stack runs with offload off: no TSO super-segments on the wire); a frame
 * that does not fit SLOT_BYTES is dropped and counted as overflow, as is one arriving when the
 * delay queue is full.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <net/ethernet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 2048u
#define QUEUE_SLOTS 16384u /* per direction: 50 ms at ~300k frames/s */

struct frame {
	uint64_t due;
	uint32_t len;
	uint8_t data[SLOT_BYTES];
};

struct dir {
	const char *name;
	struct frame *q; /* FIFO: every held frame waits the same delay, so due times are ordered */
	unsigned head, count;
	uint64_t frames, lost, dup, corrupt, reordered, overflow, send_fail;
};

static volatile sig_atomic_t stop;
static uint64_t rng;
static unsigned loss_pct, dup_pct, corrupt_pct, reorder_pct;
static uint64_t delay_ns;
static int pkt_fd, tap_fd, stack_ifindex;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* true with probability pct percent (in 1/10000 steps, so fractions of the draw stay fair) */
static bool chance(unsigned pct)
{
	return pct && rnd() % 10000u < pct * 100u;
}

/* Out of the relay: to the stack (its TAP's egress, through the packet socket) or to the kernel
 * (the relay's TAP). Sends block (only receives are non-blocking), so a full socket buffer
 * waits rather than losing frames the test did not mean to lose; a full queue further on (the
 * TAP's ring) drops the frame as a NIC's would, counted in send_fail. */
static void emit(struct dir *d, bool to_stack, const uint8_t *p, uint32_t len)
{
	ssize_t n;
	if (to_stack) {
		struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_ifindex = stack_ifindex,
					.sll_halen = ETH_ALEN};
		memcpy(a.sll_addr, p, ETH_ALEN);
		n = sendto(pkt_fd, p, len, 0, (struct sockaddr *)&a, sizeof(a));
	} else {
		n = write(tap_fd, p, len);
	}
	if (n != (ssize_t)len)
		d->send_fail++;
}

static void hold(struct dir *d, const uint8_t *p, uint32_t len, uint64_t due)
{
	if (d->count == QUEUE_SLOTS) {
		d->overflow++;
		return;
	}
	struct frame *f = &d->q[(d->head + d->count++) % QUEUE_SLOTS];
	f->due = due;
	f->len = len;
	memcpy(f->data, p, len);
}

/* One frame in: impaired, then sent or held. */
static void impair(struct dir *d, bool to_stack, uint8_t *p, uint32_t len)
{
	d->frames++;
	if (len > SLOT_BYTES) {
		d->overflow++;
		return;
	}
	if (chance(loss_pct)) {
		d->lost++;
		return;
	}
	if (chance(corrupt_pct) && len > ETH_HLEN) {
		uint32_t off = ETH_HLEN + (uint32_t)(rnd() % (len - ETH_HLEN));
		p[off] ^= (uint8_t)(1u << (rnd() % 8));
		d->corrupt++;
	}
	int copies = chance(dup_pct) ? 2 : 1;
	if (copies == 2)
		d->dup++;
	for (int i = 0; i < copies; i++) {
		if (!delay_ns) {
			emit(d, to_stack, p, len);
		} else if (chance(reorder_pct)) {
			d->reordered++;
			emit(d, to_stack, p, len);
		} else {
			hold(d, p, len, now_ns() + delay_ns);
		}
	}
}

/* Send what is due; the time until the next frame is due, in ms for poll (-1: none held). */
static int flush(struct dir *d, bool to_stack)
{
	uint64_t t = now_ns();
	while (d->count) {
		struct frame *f = &d->q[d->head];
		if (f->due > t)
			return (int)((f->due - t + 999999) / 1000000);
		emit(d, to_stack, f->data, f->len);
		d->head = (d->head + 1) % QUEUE_SLOTS;
		d->count--;
	}
	return -1;
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static unsigned pct_arg(const char *s)
{
	unsigned v = (unsigned)atoi(s);
	if (v > 100) {
		fprintf(stderr, "a percentage is 0..100: %s\n", s);
		exit(2);
	}
	return v;
}

static void report(const struct dir *d)
{
	printf("%s frames %llu lost %llu dup %llu corrupt %llu reordered %llu overflow %llu "
	       "send_fail %llu\n",
	       d->name, (unsigned long long)d->frames, (unsigned long long)d->lost,
	       (unsigned long long)d->dup, (unsigned long long)d->corrupt,
	       (unsigned long long)d->reordered, (unsigned long long)d->overflow,
	       (unsigned long long)d->send_fail);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: see the file comment\n");
		return 2;
	}
	const char *stack_if = argv[1], *kernel_if = argv[2], *mac = argv[3];
	rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 4; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--loss"))
			loss_pct = pct_arg(v);
		else if (!strcmp(o, "--dup"))
			dup_pct = pct_arg(v);
		else if (!strcmp(o, "--corrupt"))
			corrupt_pct = pct_arg(v);
		else if (!strcmp(o, "--reorder"))
			reorder_pct = pct_arg(v);
		else if (!strcmp(o, "--delay"))
			delay_ns = (uint64_t)atoi(v) * 1000000ull;
		else if (!strcmp(o, "--seed"))
			rng = strtoull(v, NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
		else {
			fprintf(stderr, "unknown option %s\n", o);
			return 2;
		}
	}

	/* The kernel's side: a TAP of our own, gone when we exit. */
	tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC); /* a write never waits */
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", kernel_if);
	if (tap_fd < 0 || ioctl(tap_fd, TUNSETIFF, &ifr) < 0) {
		perror("TAP");
		return 1;
	}
	int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq hw = {0};
	snprintf(hw.ifr_name, IFNAMSIZ, "%s", kernel_if);
	hw.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	unsigned m[6];
	if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
		fprintf(stderr, "bad MAC %s\n", mac);
		return 2;
	}
	for (int i = 0; i < 6; i++)
		hw.ifr_hwaddr.sa_data[i] = (char)m[i];
	if (ioctl(ctl, SIOCSIFHWADDR, &hw) < 0) {
		perror("SIOCSIFHWADDR");
		return 1;
	}

	/* The stack's side: every frame its TAP receives from nicd, and a way to send through it. */
	struct ifreq ix = {0};
	snprintf(ix.ifr_name, IFNAMSIZ, "%s", stack_if);
	if (ioctl(ctl, SIOCGIFINDEX, &ix) < 0) {
		perror(stack_if);
		return 1;
	}
	stack_ifindex = ix.ifr_ifindex;
	close(ctl);
	pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	struct sockaddr_ll sl = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				 .sll_ifindex = stack_ifindex};
	if (pkt_fd < 0 || bind(pkt_fd, (struct sockaddr *)&sl, sizeof(sl)) < 0) {
		perror("AF_PACKET");
		return 1;
	}
	int big = 16 << 20;
	(void)setsockopt(pkt_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	(void)setsockopt(pkt_fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));

	struct dir up = {.name = "to-kernel", .q = calloc(QUEUE_SLOTS, sizeof(struct frame))};
	struct dir down = {.name = "to-stack", .q = calloc(QUEUE_SLOTS, sizeof(struct frame))};
	if (!up.q || !down.q) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");

	static uint8_t buf[65536];
	while (!stop) {
		int timeout = min_timeout(flush(&up, false), flush(&down, true));
		struct pollfd p[2] = {{.fd = pkt_fd, .events = POLLIN}, {.fd = tap_fd, .events = POLLIN}};
		int rc = poll(p, 2, timeout < 0 ? 1000 : timeout);
		if (rc < 0 && errno != EINTR) {
			perror("poll");
			break;
		}
		/* a bounded batch from each side, so neither starves the other or the queues */
		for (int i = 0; i < 64 && (p[0].revents & POLLIN); i++) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(pkt_fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			if (from.sll_pkttype == PACKET_OUTGOING) /* our own, or the kernel's */
				continue;
			impair(&up, false, buf, (uint32_t)n);
		}
		for (int i = 0; i < 64 && (p[1].revents & POLLIN); i++) {
			ssize_t n = read(tap_fd, buf, sizeof(buf));
			if (n < 0)
				break;
			impair(&down, true, buf, (uint32_t)n);
		}
	}
	report(&up);
	report(&down);
	free(up.q);
	free(down.q);
	return stop ? 0 : 1;
}
