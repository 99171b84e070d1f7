/* bench_nic_rx: receive through the TAP backend alone (drivers/nic_tap.c), by read shape.
 *
 * What it isolates: the cost of nicd's receive path for each offload setting, with the kernel
 * as the sender and nothing behind nicd (frames are freed as soon as they are reaped):
 *   plain   offloads 0: single-buffer READ_FIXED reads of plain frames
 *   csum    CSUM only: the same reads, partial checksums (the kernel skips its checksum)
 *   chain   CSUM | TSO4: chained READVs of 30 buffers per read (nic_tap.c), what nicd runs
 *           with [nic] offload = on
 * under two loads from a child process in the same namespace:
 *   udp     kernel UDP datagrams of 1472 bytes, blocking sendmmsg as fast as the TAP takes them
 *   tso     64 KB TCP super-frames written by a packet socket with a virtio-net header, as the
 *           kernel's TCP hands them to a device: with TSO4 granted they arrive whole (chains),
 *           otherwise the kernel cuts each into 45 frames first
 * Rounds alternate the modes; medians of frames/s and Gbit/s delivered are printed with the
 * ratio to plain, and the receiver's own CPU time per frame and per KB (user + system of its
 * thread, io_uring's inline work included), which the other tenants of a loaded machine
 * disturb less than the rates. A benchmark, not a test: it asserts nothing about speed. Needs root (it makes
 * its own network namespace, gone when it exits).
 *
 * usage: ustack-bench-nic-rx [SECONDS [ROUNDS [UDP_SIZE]]]   (default 2 s, 3 rounds, 1472 B)
 *   BENCH_NIC_RX_POOL: pool buffers (default 8192, so 68 chained reads; 32768 gives 256)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "nic_backend.h"
#include "pool.h"

#define BNR_IF "ubench-rx"
#define BNR_POOL 8192u
#define BNR_MSS 1448u
#define BNR_ROUNDS_MAX 16

static double bnr_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bnr_sh(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_nic_rx: `%s` failed\n", cmd);
		exit(1);
	}
}

/* The sender: UDP datagrams to the peer, as fast as the kernel takes them. */
static void bnr_send_udp(double until, size_t size)
{
	static char data[1472];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9),
				 .sin_addr.s_addr = inet_addr("10.96.0.2")};
	struct mmsghdr m[64];
	struct iovec iov = {data, size < sizeof(data) ? size : sizeof(data)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	memset(m, 0, sizeof(m));
	for (int i = 0; i < 64; i++)
		m[i].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof(to),
					       .msg_iov = &iov, .msg_iovlen = 1};
	while (bnr_now() < until)
		(void)sendmmsg(s, m, 64, 0);
}

static uint16_t bnr_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The sender: 64 KB TCP super-frames (45 segments of BNR_MSS) through a packet socket. */
static void bnr_send_tso(double until, const uint8_t dst[6])
{
	static uint8_t f[14 + 20 + 20 + 45 * BNR_MSS];
	size_t plen = 45 * BNR_MSS, len = sizeof(f);
	struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
				    .gso_size = BNR_MSS, .csum_start = 34, .csum_offset = 16};
	struct iovec iov[2] = {{&vh, sizeof(vh)}, {f, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(BNR_IF)};
	int one = 1, s = socket(AF_PACKET, SOCK_RAW, 0);
	uint32_t sa = inet_addr("10.96.0.1"), da = inet_addr("10.96.0.2");
	uint16_t tlen = (uint16_t)(20 + plen), v;
	uint32_t sum = 0;

	setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one));
	bind(s, (struct sockaddr *)&ll, sizeof(ll));
	memcpy(f, dst, 6);
	memset(f + 6, 0x02, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((20 + tlen) >> 8), f[17] = (uint8_t)(20 + tlen);
	f[20] = 0x40;
	f[22] = 64, f[23] = 6;
	memcpy(f + 26, &sa, 4);
	memcpy(f + 30, &da, 4);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	v = htons((uint16_t)~bnr_fold(sum));
	memcpy(f + 24, &v, 2);
	f[34 + 12] = 5 << 4;
	f[34 + 13] = 0x10;
	sum = 6u + tlen;
	for (int i = 26; i < 34; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	v = htons(bnr_fold(sum));
	memcpy(f + 34 + 16, &v, 2);
	while (bnr_now() < until)
		(void)sendmsg(s, &mh, 0);
}

struct bnr_result {
	double fps, gbit, cpu_ns; /* cpu_ns: the receiver's CPU time (user + system) per frame */
};

static double bnr_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* One run: open the backend with `offloads`, start the sender, count what is reaped. */
static struct bnr_result bnr_run(struct pool *pool, unsigned offloads, bool tso, double secs,
				 size_t size)
{
	struct nic_config cfg = {.ifname = BNR_IF, .rx_inflight = 256, .tx_inflight = 16,
				 .mtu = 1500, .offloads = offloads};
	struct nic_dev *dev = NULL;
	struct buf *out[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	uint64_t frames = 0, bytes = 0;
	uint8_t kmac[6], peer[6] = {0x02, 0, 0, 0, 0, 0x02};

	if (nic_tap_ops.open(&cfg, pool, &dev) < 0) {
		fprintf(stderr, "bench_nic_rx: open failed\n");
		exit(1);
	}
	nic_tap_ops.kernel_mac(dev, kmac);
	(void)kmac;
	double start = bnr_now() + 0.2, end = start + secs;
	pid_t pid = fork();
	if (pid == 0) {
		if (tso)
			bnr_send_tso(end + 0.2, peer);
		else
			bnr_send_udp(end + 0.2, size);
		_exit(0);
	}
	struct pollfd pfd = {.fd = nic_tap_ops.event_fd(dev), .events = POLLIN};
	double cpu0 = 0;
	bool started = false;
	for (;;) {
		double now = bnr_now();
		if (now >= end)
			break;
		if (!started && now >= start) {
			cpu0 = bnr_cpu();
			started = true;
		}
		poll(&pfd, 1, 10);
		int n = nic_tap_ops.rx_poll(dev, out, d, DESC_BATCH_MAX);
		for (int i = 0; i < n; i++)
			if (now >= start) {
				frames++;
				bytes += d[i].len;
			}
		if (n > 0)
			pool_free_burst(pool, out, (unsigned)n);
	}
	double cpu = bnr_cpu() - cpu0;
	waitpid(pid, NULL, 0);
	nic_tap_ops.close(&dev);
	return (struct bnr_result){frames / secs, bytes * 8.0 / secs / 1e9,
				   frames ? cpu * 1e9 / (double)frames : 0};
}

static int bnr_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double bnr_med(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bnr_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	size_t size = argc > 3 ? (size_t)atoi(argv[3]) : 1472;
	const char *pc = getenv("BENCH_NIC_RX_POOL");
	const struct {
		const char *name;
		unsigned off;
	} modes[3] = {{"plain", 0}, {"csum", NIC_OFFLOAD_CSUM}, {"chain", NIC_OFFLOAD_ALL}};
	double fps[2][3][BNR_ROUNDS_MAX], gbit[2][3][BNR_ROUNDS_MAX], cpu[2][3][BNR_ROUNDS_MAX];
	struct pool *pool;
	struct pool_geometry geo = {.count = pc ? (uint32_t)atoi(pc) : BNR_POOL};

	if (secs <= 0 || rounds < 1 || rounds > BNR_ROUNDS_MAX || size < 1 || size > 1472 ||
	    geo.count < 1024) {
		fprintf(stderr, "usage: %s [SECONDS [ROUNDS (1..%d) [UDP_SIZE (1..1472)]]]\n",
			argv[0], BNR_ROUNDS_MAX);
		return 2;
	}
	log_init("bench_nic_rx");
	if (unshare(CLONE_NEWNET) != 0) {
		perror("bench_nic_rx: unshare(CLONE_NEWNET) (needs root)");
		return 1;
	}
	if (pool_create_anon(&geo, POOL_HOLDER_NICD, &pool) < 0)
		return 1;
	/* The device exists from the first open on; its address and neighbour stay. */
	struct nic_dev *dev = NULL;
	struct nic_config cfg = {.ifname = BNR_IF, .rx_inflight = 8, .tx_inflight = 8,
				 .mtu = 1500};
	if (nic_tap_ops.open(&cfg, pool, &dev) < 0)
		return 1;
	nic_tap_ops.close(&dev);
	bnr_sh("ip addr add 10.96.0.1/24 dev " BNR_IF);
	bnr_sh("ip neigh add 10.96.0.2 lladdr 02:00:00:00:00:02 dev " BNR_IF);
	for (int r = 0; r < rounds; r++)
		for (int t = 0; t < 2; t++)
			for (int k = 0; k < 3; k++) {
				int m = r % 2 ? 2 - k : k; /* alternate who goes first */
				struct bnr_result res = bnr_run(pool, modes[m].off, t == 1, secs,
								size);
				fps[t][m][r] = res.fps;
				gbit[t][m][r] = res.gbit;
				cpu[t][m][r] = res.cpu_ns;
			}
	printf("nicd's TAP receive alone, by read shape: %d rounds of %.0f s, UDP of %zu B, "
	       "pool %u (%u chained reads), medians\n\n", rounds, secs, size, geo.count,
	       geo.count / 4 / 30 < 256 ? geo.count / 4 / 30 : 256);
	printf("%-34s %12s %9s %8s %14s %14s\n", "load / mode", "frames/s", "Gbit/s", "vs plain",
	       "CPU ns/frame", "CPU ns/KB");
	for (int t = 0; t < 2; t++) {
		double base = 0;
		for (int m = 0; m < 3; m++) {
			double f = bnr_med(fps[t][m], rounds), g = bnr_med(gbit[t][m], rounds);
			double c = bnr_med(cpu[t][m], rounds);
			if (m == 0)
				base = g;
			printf("%-5s %-28s %12.0f %9.2f %7.2fx %14.0f %14.1f\n", t ? "tso" : "udp",
			       modes[m].name, f, g, base > 0 ? g / base : 0, c,
			       f > 0 ? c * f / (g * 1e9 / 8 / 1024) : 0);
		}
	}
	pool_close(&pool);
	return 0;
}
