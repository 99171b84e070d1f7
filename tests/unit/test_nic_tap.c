/* test_nic_tap: the TAP backend (nic_tap_ops) against the real Linux kernel as its peer.
 *
 * main() first moves the whole test into a private network namespace (unshare CLONE_NEWNET):
 * every device, address and neighbour entry made here lives only there and vanishes with the
 * process; the root namespace is never touched. IPv6 is switched off in that namespace so the
 * kernel sends no unsolicited ND/MLD frames that would make frame counts vary.
 *
 * Each test uses its own device name, deletes its device at the end and checks that the pool is
 * idle (every posted read and every transmitted chain came back). Every wait is a poll() on the
 * backend's event fd with a deadline: a broken backend fails the test, it never hangs it.
 *
 * Offload: the kernel grants TUN_F_CSUM | TUN_F_TSO4 (checked with the ethtool ioctls, as
 * `ethtool -k` shows them) and refuses TSO4 alone (the fallback path, for real); the kernel's
 * own UDP arrives with a partial checksum; a 57 KB TSO frame injected on the kernel side
 * (AF_PACKET with PACKET_VNET_HDR, as if its TCP had sent it) arrives whole in a buffer chain;
 * a plain frame longer than a buffer is dropped; a TSO super-segment we write is taken by the
 * kernel's TCP, byte for byte, after a handshake made by hand.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "nic_backend.h"
#include "nic_handoff.h"
#include "nic_vnet.h"
#include "pool.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define T_POOL_COUNT 256u
#define T_MTU 1500u
#define T_KERNEL_IP "10.99.0.1"
#define T_PEER_IP "10.99.0.2"
#define T_PEER_PORT 5000
#define T_WAIT_MS 3000

static const uint8_t t_peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

struct t_udp_hdr { /* no wire/udp.h yet */
	uint16_t sport, dport, len, csum;
} __attribute__((packed));

/* ---- helpers -------------------------------------------------------------------------- */

static void t_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void t_run(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	ck_assert_msg(rc == 0, "`%s` failed: %d", cmd, rc);
}

static uint64_t t_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct nic_dev *t_open_off(struct pool *pool, const char *name, unsigned rx, unsigned tx,
				  unsigned offloads)
{
	struct nic_config cfg = {.rx_inflight = rx, .tx_inflight = tx, .mtu = T_MTU,
				 .offloads = offloads};
	struct nic_dev *dev = NULL;

	snprintf(cfg.ifname, sizeof(cfg.ifname), "%s", name);
	uint32_t free0 = pool_free_count(pool);
	int rc = nic_tap_ops.open(&cfg, pool, &dev);
	ck_assert_msg(rc == 0, "open %s: %s", name, strerror(-rc));
	ck_assert_ptr_nonnull(dev);
	int efd = nic_tap_ops.event_fd(dev);
	ck_assert_int_ge(efd, 0);
	/* open takes no buffer (a dead predecessor's are reclaimed after it), and its event fd
	 * is ready at once so the first rx_poll posts the reads. */
	ck_assert_uint_eq(pool_free_count(pool), free0);
	struct pollfd pfd = {.fd = efd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_int_ge(nic_tap_ops.rx_poll(dev, NULL, NULL, 0), 0);
	return dev;
}

static struct nic_dev *t_open(struct pool *pool, const char *name, unsigned rx, unsigned tx)
{
	return t_open_off(pool, name, rx, tx, 0);
}

/* Delete a persistent TAP the way an operator's tool would: attach, clear persist, close. */
static void t_delete(const char *name)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	ck_assert_msg(ioctl(fd, TUNSETIFF, &ifr) == 0, "TUNSETIFF %s: %s", name, strerror(errno));
	ck_assert_msg(ioctl(fd, TUNSETPERSIST, 0UL) == 0, "TUNSETPERSIST 0: %s", strerror(errno));
	close(fd);
	ck_assert_uint_eq(if_nametoindex(name), 0);
}

typedef bool (*t_match_fn)(const struct buf *b, const struct desc *d, void *ctx);

/* Poll and rx_poll until `match` accepts a received frame or the deadline passes. Every frame
 * is checked against its descriptor and freed (or kept in *keep when keep is given). Returns
 * whether a frame matched. match may be NULL: then this just pumps completions for `ms`. */
static bool t_pump(struct nic_dev *dev, unsigned ms, t_match_fn match, void *ctx,
		   struct buf **keep, unsigned *nkeep)
{
	uint64_t deadline = t_now_ms() + ms;
	bool found = false;

	for (;;) {
		struct buf *out[DESC_BATCH_MAX];
		struct desc d[DESC_BATCH_MAX];
		int n = nic_tap_ops.rx_poll(dev, out, d, DESC_BATCH_MAX);

		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq(buf_headroom(out[i]), POOL_HEADROOM);
			ck_assert_uint_eq(d[i].len, buf_chain_len(out[i]));
			ck_assert_uint_eq(d[i].buf, buf_index(out[i]));
			ck_assert_uint_eq(d[i].gen, buf_gen(out[i]));
			ck_assert_uint_ge(buf_len(out[i]), ETH_HDR_LEN);
			if (match && !found && match(out[i], &d[i], ctx))
				found = true;
			if (keep)
				keep[(*nkeep)++] = out[i];
			else
				pool_free(&out[i]);
		}
		uint64_t now = t_now_ms();
		if (found || now >= deadline)
			return found;
		struct pollfd pfd = {.fd = nic_tap_ops.event_fd(dev), .events = POLLIN};
		ck_assert_int_ge(poll(&pfd, 1, (int)(deadline - now)), 0);
	}
}

/* Pump until the backend reports `frames` transmitted frames (completions reaped). */
static void t_wait_tx(struct nic_dev *dev, uint64_t frames)
{
	uint64_t deadline = t_now_ms() + T_WAIT_MS;

	while (nic_tap_ops.stats(dev)->tx_frames < frames && t_now_ms() < deadline)
		t_pump(dev, 50, NULL, NULL, NULL, NULL);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_frames, frames);
}

/* RFC 1071 sum, kept local so the test does not depend on the checksum module. */
static uint32_t t_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t t_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4 + UDP from the peer (T_PEER_IP:T_PEER_PORT) to the kernel side, with correct
 * checksums. Returns the frame length. */
static size_t t_udp_frame(uint8_t *f, const uint8_t kmac[6], uint16_t dport, const void *payload,
			  size_t plen)
{
	struct eth_hdr *eth = (struct eth_hdr *)f;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + ETH_HDR_LEN);
	struct t_udp_hdr *udp = (struct t_udp_hdr *)(f + ETH_HDR_LEN + IPV4_HDR_MIN);
	uint16_t ulen = (uint16_t)(sizeof(*udp) + plen);

	memcpy(eth->dst, kmac, 6);
	memcpy(eth->src, t_peer_mac, 6);
	eth->type = htons(ETH_TYPE_IPV4);
	*ip = (struct ipv4_hdr){
		.ver_ihl = 0x45,
		.tot_len = htons((uint16_t)(IPV4_HDR_MIN + ulen)),
		.id = htons(1),
		.frag_off = htons(IPV4_FLAG_DF),
		.ttl = 64,
		.proto = IPV4_PROTO_UDP,
		.saddr = inet_addr(T_PEER_IP),
		.daddr = inet_addr(T_KERNEL_IP),
	};
	ip->csum = htons(t_fold(t_sum(ip, IPV4_HDR_MIN, 0)));
	*udp = (struct t_udp_hdr){.sport = htons(T_PEER_PORT), .dport = htons(dport),
				  .len = htons(ulen)};
	memcpy(udp + 1, payload, plen);
	uint32_t sum = t_sum(&ip->saddr, 8, 0) + IPV4_PROTO_UDP + ulen;
	uint16_t c = t_fold(t_sum(udp, ulen, sum));
	udp->csum = htons(c ? c : 0xffff);
	return ETH_HDR_LEN + IPV4_HDR_MIN + ulen;
}

/* A kernel UDP socket bound to T_KERNEL_IP; its port in *port. */
static int t_udp_socket(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = inet_addr(T_KERNEL_IP)};
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return s;
}

/* Receive one datagram within T_WAIT_MS (pumping the backend meanwhile) and compare it. */
static void t_expect_datagram(struct nic_dev *dev, int s, const void *payload, size_t plen)
{
	uint64_t deadline = t_now_ms() + T_WAIT_MS;
	uint8_t got[4096];

	for (;;) {
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		ck_assert_int_ge(poll(&pfd, 1, 20), 0);
		if (pfd.revents & POLLIN)
			break;
		ck_assert_msg(t_now_ms() < deadline, "kernel socket got nothing");
		t_pump(dev, 0, NULL, NULL, NULL, NULL);
	}
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(s, got, sizeof(got), 0, (struct sockaddr *)&from, &fl);
	ck_assert_int_eq(n, (ssize_t)plen);
	ck_assert_mem_eq(got, payload, plen);
	ck_assert_uint_eq(from.sin_addr.s_addr, inet_addr(T_PEER_IP));
	ck_assert_uint_eq(ntohs(from.sin_port), T_PEER_PORT);
}

/* Make the kernel ARP for T_PEER_IP: a datagram to an unresolved on-link address. */
static void t_send_to_peer(void)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9),
				 .sin_addr.s_addr = inet_addr(T_PEER_IP)};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(sendto(s, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	close(s);
}

struct t_arp_ctx {
	uint8_t kmac[6];
};

static bool t_is_arp_request(const struct buf *b, const struct desc *d, void *ctx)
{
	const struct t_arp_ctx *c = ctx;
	const uint8_t *p = buf_data(b);
	struct eth_hdr eth;
	struct arp_eth_ipv4 arp;

	if (buf_len(b) < ETH_HDR_LEN + ARP_ETH_IPV4_LEN)
		return false;
	memcpy(&eth, p, sizeof(eth));
	memcpy(&arp, p + ETH_HDR_LEN, sizeof(arp));
	return ntohs(eth.type) == ETH_TYPE_ARP && memcmp(eth.dst, eth_broadcast_addr, 6) == 0 &&
	       memcmp(eth.src, c->kmac, 6) == 0 && ntohs(arp.op) == ARP_OP_REQUEST &&
	       memcmp(arp.sha, c->kmac, 6) == 0 && arp.spa == inet_addr(T_KERNEL_IP) &&
	       arp.tpa == inet_addr(T_PEER_IP);
}

/* A frame the kernel accepts and quietly discards (local experimental EtherType). */
static struct buf *t_junk_frame(struct pool *pool, const uint8_t kmac[6], size_t len)
{
	uint8_t f[POOL_DATA_ROOM] = {0};

	memcpy(f, kmac, 6);
	memcpy(f + 6, t_peer_mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	return tpool_frame(pool, f, len);
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(test_open_config)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-cfg", 32, 16);
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint8_t kmac[6];

	ck_assert_int_ge(s, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ustap-cfg");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ck_assert(ifr.ifr_flags & IFF_UP);
	ck_assert_int_eq(ioctl(s, SIOCGIFMTU, &ifr), 0);
	ck_assert_int_eq(ifr.ifr_mtu, T_MTU);
	ck_assert_int_eq(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	nic_tap_ops.kernel_mac(dev, kmac);
	ck_assert_mem_eq(kmac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	/* Every read is posted, each holding one buffer of ours. */
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 32);

	/* A second open of the same device while attached is refused, nothing leaks. */
	struct nic_config cfg = {.ifname = "ustap-cfg", .rx_inflight = 8, .tx_inflight = 8,
				 .mtu = T_MTU};
	struct nic_dev *dev2 = NULL;
	ck_assert_int_eq(nic_tap_ops.open(&cfg, pool, &dev2), -EBUSY);
	ck_assert_ptr_null(dev2);
	cfg.mtu = POOL_DATA_ROOM; /* a frame of mtu + 14 would not fit one buffer */
	ck_assert_int_eq(nic_tap_ops.open(&cfg, pool, &dev2), -EINVAL);
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 32);

	nic_tap_ops.close(&dev);
	ck_assert_ptr_null(dev);
	nic_tap_ops.close(&dev); /* safe on NULL */
	tpool_destroy(&pool);
	t_delete("ustap-cfg");
}
END_TEST

/* (a) The kernel ARPs for an unresolved neighbour: the request reaches us intact. */
START_TEST(test_rx_arp_request)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-rx", 32, 32);
	struct t_arp_ctx ctx;

	nic_tap_ops.kernel_mac(dev, ctx.kmac);
	ck_assert(!eth_addr_is_zero(ctx.kmac));
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-rx");
	t_send_to_peer();
	ck_assert_msg(t_pump(dev, T_WAIT_MS, t_is_arp_request, &ctx, NULL, NULL),
		      "no ARP request for " T_PEER_IP " received");

	const struct nic_stats *st = nic_tap_ops.stats(dev);
	ck_assert_uint_ge(st->rx_frames, 1);
	ck_assert_uint_ge(st->rx_bytes, ETH_HDR_LEN + ARP_ETH_IPV4_LEN);
	ck_assert_uint_eq(st->rx_errors + st->rx_drop_short + st->rx_drop_vnet_hdr +
				  st->rx_drop_nobuf, 0);
	/* Delivered slots were refilled: all reads are posted again. */
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 32);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-rx");
}
END_TEST

/* (b) Frames we write reach a kernel socket: one buffer, a two-buffer chain, and a buffer with
 * no headroom (the virtio-net header then travels in its own iovec). */
START_TEST(test_tx_udp)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-tx", 32, 32);
	uint8_t kmac[6], frame[POOL_DATA_ROOM], payload[1200];
	uint16_t port;

	nic_tap_ops.kernel_mac(dev, kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-tx");
	t_run("ip neigh add " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-tx");
	int s = t_udp_socket(&port);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7u + 3u);

	/* One buffer: WRITE_FIXED. */
	size_t len = t_udp_frame(frame, kmac, port, "hello, kernel", 13);
	struct buf *b = tpool_frame(pool, frame, len);
	struct desc d = {.buf = buf_index(b), .gen = buf_gen(b), .len = (uint32_t)len};
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &b, &d, 1), 1);
	ck_assert_ptr_null(b);
	t_expect_datagram(dev, s, "hello, kernel", 13);
	t_wait_tx(dev, 1);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_bytes, len);

	/* A chain: headers plus 100 payload bytes in the head, the rest in a second buffer. */
	size_t len2 = t_udp_frame(frame, kmac, port, payload, sizeof(payload));
	size_t cut = ETH_HDR_LEN + IPV4_HDR_MIN + 8 + 100;
	struct buf *head = tpool_frame(pool, frame, cut);
	struct buf *tail = tpool_frame(pool, frame + cut, len2 - cut);
	ck_assert_int_eq(buf_chain_append(head, &tail), 0);
	ck_assert_uint_eq(buf_chain_count(head), 2);
	d = (struct desc){.buf = buf_index(head), .gen = buf_gen(head), .len = (uint32_t)len2};
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &head, &d, 1), 1);
	t_expect_datagram(dev, s, payload, sizeof(payload));
	t_wait_tx(dev, 2);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_bytes, len + len2);

	/* No headroom: the frame starts at the very beginning of its slot. */
	size_t len3 = t_udp_frame(frame, kmac, port, payload, 300);
	struct buf *bare = pool_alloc(pool);
	ck_assert_ptr_nonnull(bare);
	uint8_t *p = buf_push(bare, POOL_HEADROOM);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(buf_put(bare, len3 - POOL_HEADROOM));
	memcpy(p, frame, len3);
	ck_assert_uint_eq(buf_headroom(bare), 0);
	d = (struct desc){.buf = buf_index(bare), .gen = buf_gen(bare), .len = (uint32_t)len3};
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &bare, &d, 1), 1);
	t_expect_datagram(dev, s, payload, 300);
	t_wait_tx(dev, 3);

	const struct nic_stats *st = nic_tap_ops.stats(dev);
	ck_assert_uint_eq(st->tx_errors + st->tx_drop_full + st->tx_drop_oversize +
				  st->tx_drop_chain, 0);
	close(s);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-tx");
}
END_TEST

/* (c) Oversize frames and frames beyond the transmit slots are dropped, counted and freed. */
START_TEST(test_tx_drops)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-drop", 8, 2);
	uint8_t kmac[6];

	nic_tap_ops.kernel_mac(dev, kmac);
	/* mtu + 15 in one buffer, and as a chain. */
	struct buf *big[2] = {t_junk_frame(pool, kmac, T_MTU + ETH_HDR_LEN + 1),
			      t_junk_frame(pool, kmac, 1000)};
	struct buf *more = t_junk_frame(pool, kmac, T_MTU + ETH_HDR_LEN + 1 - 1000);
	ck_assert_int_eq(buf_chain_append(big[1], &more), 0);
	struct desc d[4] = {0};
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, big, d, 2), 0);
	ck_assert_ptr_null(big[0]);
	ck_assert_ptr_null(big[1]);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_drop_oversize, 2);
	/* Exactly mtu + 14 goes out. */
	struct buf *fit = t_junk_frame(pool, kmac, T_MTU + ETH_HDR_LEN);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &fit, d, 1), 1);
	t_wait_tx(dev, 1);

	/* Four frames, two transmit slots: two go, two are dropped. */
	struct buf *four[4];
	for (int i = 0; i < 4; i++)
		four[i] = t_junk_frame(pool, kmac, 60);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, four, d, 4), 2);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_drop_full, 2);
	t_wait_tx(dev, 3);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_errors, 0);
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 8);

	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-drop");
}
END_TEST

/* (d) close returns every buffer, even with writes in flight; the device stays (persistent)
 * with its configuration and can be reopened. */
START_TEST(test_close_persist)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-per", 64, 16);
	uint8_t kmac[6], kmac2[6];

	nic_tap_ops.kernel_mac(dev, kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-per");
	struct buf *frames[3];
	struct desc d[3] = {0};
	for (int i = 0; i < 3; i++)
		frames[i] = t_junk_frame(pool, kmac, 100);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, frames, d, 3), 3);
	nic_tap_ops.close(&dev); /* no rx_poll: the writes' completions are reaped by close */
	ck_assert_ptr_null(dev);
	tpool_assert_idle(pool);
	ck_assert_uint_ne(if_nametoindex("ustap-per"), 0);

	/* Reopen: same device, same kernel MAC, the address survived. */
	dev = t_open(pool, "ustap-per", 64, 16);
	nic_tap_ops.kernel_mac(dev, kmac2);
	ck_assert_mem_eq(kmac, kmac2, 6);
	ck_assert_int_eq(system("ip -4 addr show dev ustap-per | grep -q " T_KERNEL_IP "/24"), 0);
	struct t_arp_ctx ctx;
	memcpy(ctx.kmac, kmac, 6);
	t_send_to_peer();
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_arp_request, &ctx, NULL, NULL));
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-per");
}
END_TEST

/* (e) With the pool empty a delivered read slot stays empty, is counted once, and is refilled
 * once buffers are back, woken by the refill timer (nothing else would fire the event fd). */
START_TEST(test_rx_nobuf)
{
	enum { RX = 8 };
	struct pool *pool = tpool_new(RX, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-nobuf", RX, 4);
	struct t_arp_ctx ctx;
	struct buf *kept[RX];
	unsigned nkept = 0;

	ck_assert_uint_eq(pool_free_count(pool), 0);
	nic_tap_ops.kernel_mac(dev, ctx.kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-nobuf");
	t_send_to_peer();
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_arp_request, &ctx, kept, &nkept));
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	ck_assert_uint_ge(nkept, 1);
	ck_assert_uint_eq(st->rx_drop_nobuf, nkept);
	/* Retries with the pool still empty do not count again. */
	t_pump(dev, 10, NULL, NULL, kept, &nkept);
	ck_assert_uint_eq(st->rx_drop_nobuf, nkept);

	/* Buffers come back; with no read completing, the backend's refill timer must still
	 * wake the event fd so that the shell polls and the slots get refilled. The wait is well
	 * under the kernel's 1 s ARP retransmission, whose frame would also wake it. */
	uint64_t nobuf = st->rx_drop_nobuf;
	pool_free_burst(pool, kept, nkept);
	struct buf *out[RX];
	struct desc d[RX];
	uint64_t deadline = t_now_ms() + 300;
	while (pool_free_count(pool) != 0 && t_now_ms() < deadline) {
		struct pollfd pfd = {.fd = nic_tap_ops.event_fd(dev), .events = POLLIN};
		ck_assert_int_eq(poll(&pfd, 1, 300), 1);
		ck_assert_int_ge(nic_tap_ops.rx_poll(dev, out, d, 0), 0); /* budget 0: refill */
	}
	ck_assert_uint_eq(pool_free_count(pool), 0);
	ck_assert_uint_eq(st->rx_drop_nobuf, nobuf);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-nobuf");
}
END_TEST

/* Frames leave in the order the kernel queued them. A child sends numbered datagrams to the
 * peer through the TAP in bursts of 16 with pauses, so the reads keep finding the queue empty
 * and waiting for it (flat out they never wait); every received frame's number must be higher
 * than the last. Reads that waited in io_uring's poll were punted to io-wq after 128 lost
 * wake-ups and reordered frames: a few per 100,000 at this rate (nic_tap.c, "Receive order"). */
START_TEST(test_rx_order)
{
	enum { RX = 64, N = 60000, PORT = 7777 };
	struct pool *pool = tpool_new(1024, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open(pool, "ustap-order", RX, 4);

	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-order");
	t_run("ip neigh replace " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-order");
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT),
					 .sin_addr.s_addr = inet_addr(T_PEER_IP)};
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		for (uint32_t i = 0; s >= 0 && i < N; i++) {
			(void)sendto(s, &i, sizeof(i), 0, (struct sockaddr *)&to, sizeof(to));
			if (i % 16 == 15)
				usleep(500);
		}
		_exit(s >= 0 ? 0 : 1);
	}
	long received = 0, inversions = 0, last = -1;
	uint64_t quiet_since = 0;
	bool child_done = false;
	for (;;) {
		struct buf *out[DESC_BATCH_MAX];
		struct desc d[DESC_BATCH_MAX];
		int n = nic_tap_ops.rx_poll(dev, out, d, DESC_BATCH_MAX);
		enum { PAYLOAD = ETH_HDR_LEN + IPV4_HDR_MIN + 8 };

		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			const uint8_t *f = buf_data(out[i]);
			uint32_t seq;
			if (buf_len(out[i]) >= PAYLOAD + sizeof(seq) && f[ETH_HDR_LEN + 9] == 17 &&
			    (f[ETH_HDR_LEN + 22] << 8 | f[ETH_HDR_LEN + 23]) == PORT) {
				memcpy(&seq, f + PAYLOAD, sizeof(seq));
				if ((long)seq < last)
					inversions++;
				else
					last = seq;
				received++;
			}
			pool_free(&out[i]);
		}
		if (!child_done) {
			int status;
			if (waitpid(child, &status, WNOHANG) == child) {
				ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
				child_done = true;
				quiet_since = t_now_ms();
			}
		}
		if (n > 0)
			quiet_since = t_now_ms();
		if (child_done && t_now_ms() - quiet_since > 300)
			break;
		struct pollfd pfd = {.fd = nic_tap_ops.event_fd(dev), .events = POLLIN};
		ck_assert_int_ge(poll(&pfd, 1, 50), 0);
	}
	ck_assert_msg(inversions == 0, "%ld of %ld frames arrived after a higher-numbered one",
		      inversions, received);
	ck_assert_msg(received > N / 2, "only %ld of %d frames arrived", received, N);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-order");
}
END_TEST

/* (f) nicd SIGKILLed with reads posted: the restarted nicd re-attaches the device (the open
 * waits, if need be, for the dead one's ring to let go of it), takes nothing from the pool on
 * open, and only then reclaims the dead one's buffers, as nicd_main does; its first rx_poll
 * posts its own reads. */
START_TEST(test_kill_restart)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	int ready[2];

	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct nic_config cfg = {.ifname = "ustap-kill", .rx_inflight = 64,
					 .tx_inflight = 8, .mtu = T_MTU};
		struct nic_dev *dev = NULL;
		char c = nic_tap_ops.open(&cfg, pool, &dev) == 0 &&
				 nic_tap_ops.rx_poll(dev, NULL, NULL, 0) >= 0
			 ? 'y'
			 : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c = 0;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 64);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(ready[0]);
	close(ready[1]);

	struct nic_config cfg = {.ifname = "ustap-kill", .rx_inflight = 64, .tx_inflight = 8,
				 .mtu = T_MTU};
	struct nic_dev *dev = NULL;
	ck_assert_int_eq(nic_tap_ops.open(&cfg, pool, &dev), 0);
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 64);
	ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_NICD), 64);
	tpool_assert_idle(pool);
	ck_assert_int_ge(nic_tap_ops.rx_poll(dev, NULL, NULL, 0), 0);
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 64);
	nic_tap_ops.close(&dev);
	tpool_assert_idle(pool);
	tpool_destroy(&pool);
	t_delete("ustap-kill");
}
END_TEST


/* (g) The TAP deleted under an open device (`ip link del`: the kernel detaches every file):
 * the next rx_poll says -EBADFD (the shell then exits to be restarted), without waiting for
 * traffic; transmit drops and counts; close gives every buffer back, chained read slots'
 * continuation buffers included. Never a device that looks alive and moves nothing. */
START_TEST(test_device_deleted)
{
	for (unsigned off = 0; off <= NIC_OFFLOAD_ALL; off += NIC_OFFLOAD_ALL) {
		struct pool *pool = tpool_new(2048, POOL_HOLDER_NICD);
		struct nic_dev *dev = t_open_off(pool, "ustap-gone", 16, 4, off);
		int efd = nic_tap_ops.event_fd(dev);
		struct buf *out[8];
		struct desc d[8];
		int rc = 0;

		ck_assert_uint_lt(pool_free_count(pool), 2048);
		t_run("ip link del ustap-gone");
		uint64_t deadline = t_now_ms() + T_WAIT_MS;
		while (t_now_ms() < deadline) {
			struct pollfd pfd = {.fd = efd, .events = POLLIN};
			ck_assert_int_ge(poll(&pfd, 1, 50), 0);
			rc = nic_tap_ops.rx_poll(dev, out, d, 8);
			if (rc < 0)
				break;
			for (int i = 0; i < rc; i++)
				pool_free(&out[i]);
		}
		ck_assert_int_eq(rc, -EBADFD);
		ck_assert_int_eq(nic_tap_ops.rx_poll(dev, out, d, 8), -EBADFD);
		struct buf *f = pool_alloc(pool);
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(buf_put(f, 60));
		memset(buf_data(f), 0xff, 60);
		struct desc fd = {.len = 60};
		uint64_t errs = nic_tap_ops.stats(dev)->tx_errors;
		ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &f, &fd, 1), 0);
		ck_assert_ptr_null(f);
		ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_errors, errs + 1);
		nic_tap_ops.close(&dev);
		tpool_assert_idle(pool);
		tpool_destroy(&pool);
		ck_assert_uint_eq(if_nametoindex("ustap-gone"), 0);
	}
}
END_TEST

/* ---- offload ---------------------------------------------------------------------------- */

#define T_OFF_POOL 2048u
#define T_CHAIN_BUFS 30u /* a chained read: head + 29 continuation buffers */
#define T_MSS 1448u

/* An ethtool "get" of dev (ETHTOOL_GTXCSUM, ETHTOOL_GTSO, ...): what `ethtool -k` shows. */
static int t_ethtool_get(const char *dev, uint32_t cmd)
{
	struct ethtool_value v = {.cmd = cmd};
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&v;
	ck_assert_msg(ioctl(s, SIOCETHTOOL, &ifr) == 0, "ethtool %#x: %s", cmd, strerror(errno));
	close(s);
	return (int)v.data;
}

START_TEST(test_offload_open)
{
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-off", 256, 16, NIC_OFFLOAD_ALL);
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	unsigned reads = T_OFF_POOL / 4 / T_CHAIN_BUFS; /* a quarter of the pool */

	ck_assert_uint_eq(st->offload_rx, NIC_OFFLOAD_ALL);
	ck_assert_uint_eq(st->offload_refused, 0);
	ck_assert_uint_eq(st->rx_reads, reads);
	ck_assert_uint_eq(pool_free_count(pool), T_OFF_POOL - reads * T_CHAIN_BUFS);
	/* The kernel side now hands us partial checksums and TSO frames. */
	ck_assert_int_eq(t_ethtool_get("ustap-off", ETHTOOL_GTXCSUM), 1);
	ck_assert_int_eq(t_ethtool_get("ustap-off", ETHTOOL_GTSO), 1);
	nic_tap_ops.close(&dev);
	tpool_assert_idle(pool);

	/* Reopened with offload off: the persistent device is set back to plain frames. */
	dev = t_open(pool, "ustap-off", 32, 16);
	st = nic_tap_ops.stats(dev);
	ck_assert_uint_eq(st->offload_rx, 0);
	ck_assert_uint_eq(st->rx_reads, 32);
	ck_assert_uint_eq(pool_free_count(pool), T_OFF_POOL - 32);
	ck_assert_int_eq(t_ethtool_get("ustap-off", ETHTOOL_GTXCSUM), 0);
	ck_assert_int_eq(t_ethtool_get("ustap-off", ETHTOOL_GTSO), 0);
	nic_tap_ops.close(&dev);

	/* A pool too small for a quarter to hold one chained read still gets one. */
	struct pool *tiny = tpool_new(64, POOL_HOLDER_NICD);
	dev = t_open_off(tiny, "ustap-off", 256, 4, NIC_OFFLOAD_ALL);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->rx_reads, 1);
	ck_assert_uint_eq(pool_free_count(tiny), 64 - T_CHAIN_BUFS);
	nic_tap_ops.close(&dev);
	tpool_destroy(&tiny);
	tpool_destroy(&pool);
	t_delete("ustap-off");
}
END_TEST

/* The kernel takes TSO4 only with CSUM: asked for alone, it is refused, and the backend falls
 * back to plain frames, counted and still working. */
START_TEST(test_offload_refused_falls_back)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-ref", 32, 16, NIC_OFFLOAD_TSO4);
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	struct t_arp_ctx ctx;

	ck_assert_uint_eq(st->offload_refused, 1);
	ck_assert_uint_eq(st->offload_rx, 0);
	ck_assert_uint_eq(st->rx_reads, 32);
	ck_assert_uint_eq(pool_free_count(pool), T_POOL_COUNT - 32);
	ck_assert_int_eq(t_ethtool_get("ustap-ref", ETHTOOL_GTSO), 0);
	nic_tap_ops.kernel_mac(dev, ctx.kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-ref");
	t_send_to_peer();
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_arp_request, &ctx, NULL, NULL));
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-ref");
}
END_TEST

struct t_udp_ctx {
	uint16_t dport;
	struct desc d;
	size_t len;
};

/* A UDP datagram from the kernel to the peer's port ctx->dport. */
static bool t_is_udp_to(const struct buf *b, const struct desc *d, void *ctx)
{
	struct t_udp_ctx *c = ctx;
	const uint8_t *p = buf_data(b);
	struct t_udp_hdr u;

	if (buf_len(b) < ETH_HDR_LEN + IPV4_HDR_MIN + sizeof(u) || p[12] != 0x08 || p[13] != 0 ||
	    p[ETH_HDR_LEN + 9] != IPV4_PROTO_UDP)
		return false;
	memcpy(&u, p + ETH_HDR_LEN + IPV4_HDR_MIN, sizeof(u));
	if (ntohs(u.dport) != c->dport)
		return false;
	c->d = *d;
	c->len = buf_chain_len(b);
	return true;
}

/* (h) A standby that holds the serving process's file (nic_handoff.h) opens with it after that
 * process is killed: no TUNSETIFF, so no wait for the dead ring, and the frame the kernel sent
 * while nobody read is still there. The file is handed over only once a read proved that
 * RWF_NOWAIT is taken. A file that is not our device is refused and the device opened as usual.
 */
#define T_HAND_PATH "/tmp/ustack-test-nic-tap.handoff"

static void t_udp_to_peer(uint16_t port)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = inet_addr(T_PEER_IP)};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(sendto(s, "hand", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	close(s);
}

START_TEST(test_handed_over_after_kill)
{
	struct pool *pool = tpool_new(T_POOL_COUNT, POOL_HOLDER_NICD);
	int up[2], down[2];
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct nic_dev *dev = t_open(pool, "ustap-hand", 64, 8);
		char c = 'o';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		/* Not before a read has completed with RWF_NOWAIT. */
		c = nic_tap_ops.handoff_fd(dev) == -EAGAIN ? 'y' : 'n';
		struct t_udp_ctx u = {.dport = T_PEER_PORT};
		if (c != 'y' || !t_pump(dev, T_WAIT_MS, t_is_udp_to, &u, NULL, NULL) ||
		    nic_tap_ops.handoff_fd(dev) < 0)
			c = 'n';
		struct nic_handoff h;
		if (nic_handoff_listen(&h, T_HAND_PATH) < 0)
			c = 'n';
		if (write(up[1], &c, 1) != 1)
			_exit(1);
		for (;;) {
			struct pollfd p = {.fd = h.fd, .events = POLLIN};
			if (poll(&p, 1, -1) == 1)
				nic_handoff_serve(&h, nic_tap_ops.handoff_fd(dev), 4);
		}
	}
	char c = 0;
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	ck_assert_int_eq(c, 'o');
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-hand");
	t_run("ip neigh replace " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-hand");
	t_udp_to_peer(T_PEER_PORT);
	ck_assert_int_eq(write(down[1], "g", 1), 1);
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	int handed = nic_handoff_fetch(T_HAND_PATH, pid, T_WAIT_MS);
	ck_assert_int_ge(handed, 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	unlink(T_HAND_PATH);
	/* Nobody reads now: the datagram waits on the file we hold. */
	t_udp_to_peer(T_PEER_PORT + 1);

	struct nic_config cfg = {.ifname = "ustap-hand", .rx_inflight = 64, .tx_inflight = 8,
				 .mtu = T_MTU, .handed = true, .handed_fd = handed};
	struct nic_dev *dev = NULL;
	ck_assert_int_eq(nic_tap_ops.open(&cfg, pool, &dev), 0);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->handed_over, 1);
	ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_NICD), 64);
	tpool_assert_idle(pool);
	struct t_udp_ctx u = {.dport = T_PEER_PORT + 1};
	ck_assert_msg(t_pump(dev, T_WAIT_MS, t_is_udp_to, &u, NULL, NULL),
		      "the datagram sent while nobody read was lost");
	nic_tap_ops.close(&dev);
	tpool_assert_idle(pool);

	/* Not a TAP at all: refused (and closed), the device opened as usual. */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	cfg.handed_fd = p[0];
	ck_assert_int_eq(nic_tap_ops.open(&cfg, pool, &dev), 0);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->handed_over, 0);
	nic_tap_ops.close(&dev);
	tpool_assert_idle(pool);
	tpool_destroy(&pool);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	t_delete("ustap-hand");
}
END_TEST

START_TEST(test_rx_partial_checksum)
{
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-csum", 32, 16, NIC_OFFLOAD_ALL);
	struct t_udp_ctx ctx = {.dport = 7777};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(7777),
				 .sin_addr.s_addr = inet_addr(T_PEER_IP)};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-csum");
	t_run("ip neigh add " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-csum");
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(sendto(s, "partial", 7, 0, (struct sockaddr *)&to, sizeof(to)), 7);
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_udp_to, &ctx, NULL, NULL));
	/* Its checksum is the pseudo-header sum: for the receiver to trust, not to verify. */
	ck_assert_uint_eq(ctx.len, 14 + 20 + 8 + 7);
	ck_assert_uint_eq(ctx.d.flags, DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(ctx.d.csum_start, 34);
	ck_assert_uint_eq(ctx.d.csum_offset, 6);
	ck_assert_uint_eq(ctx.d.gso_type, DESC_GSO_NONE);
	ck_assert_uint_ge(nic_tap_ops.stats(dev)->rx_csum_partial, 1);
	/* UDP_SEGMENT: without TUN_F_USO the kernel cuts it before the device, so it arrives as
	 * ordinary datagrams (each with a partial checksum), never as a UDP GSO frame. */
	int seg = 1000;
	char buf[3000];
	memset(buf, 'u', sizeof(buf));
	ck_assert_int_eq(setsockopt(s, SOL_UDP, 103 /* UDP_SEGMENT */, &seg, sizeof(seg)), 0);
	ctx.dport = 7778;
	to.sin_port = htons(7778);
	ck_assert_int_eq(sendto(s, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)),
			 (int)sizeof(buf));
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_udp_to, &ctx, NULL, NULL));
	ck_assert_uint_eq(ctx.len, 14 + 20 + 8 + 1000);
	ck_assert_uint_eq(ctx.d.gso_type, DESC_GSO_NONE);
	ck_assert_uint_eq(ctx.d.flags, DESC_F_CSUM_NEEDED);
	t_pump(dev, 50, NULL, NULL, NULL, NULL);
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	ck_assert_uint_eq(st->rx_drop_vnet_hdr + st->rx_drop_vnet_gso + st->rx_drop_vnet_csum +
				  st->rx_gso_frames, 0);
	close(s);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-csum");
}
END_TEST

/* Ethernet + IPv4 + TCP (32-byte header) + plen payload bytes from the kernel side to the peer,
 * as the kernel's TCP hands a TSO super-segment to a device: total length the whole, the
 * checksum field seeded with the pseudo-header sum. Returns the frame length. */
static size_t t_tso_frame(uint8_t *f, const uint8_t kmac[6], size_t plen)
{
	struct eth_hdr *eth = (struct eth_hdr *)f;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + ETH_HDR_LEN);
	uint8_t *tcp = f + ETH_HDR_LEN + IPV4_HDR_MIN;
	uint16_t tlen = (uint16_t)(32 + plen), seed;

	memcpy(eth->dst, t_peer_mac, 6);
	memcpy(eth->src, kmac, 6);
	eth->type = htons(ETH_TYPE_IPV4);
	*ip = (struct ipv4_hdr){
		.ver_ihl = 0x45, .tot_len = htons((uint16_t)(IPV4_HDR_MIN + tlen)), .id = htons(7),
		.frag_off = htons(IPV4_FLAG_DF), .ttl = 64, .proto = IPV4_PROTO_TCP,
		.saddr = inet_addr(T_KERNEL_IP), .daddr = inet_addr(T_PEER_IP),
	};
	ip->csum = htons(t_fold(t_sum(ip, IPV4_HDR_MIN, 0)));
	memset(tcp, 0, 32);
	tcp[0] = 0x13, tcp[1] = 0x88, tcp[2] = 0x00, tcp[3] = 0x50;
	tcp[12] = 8 << 4;
	tcp[13] = 0x18;
	seed = htons((uint16_t)~t_fold(t_sum(&ip->saddr, 8, 0) + IPV4_PROTO_TCP + tlen));
	memcpy(tcp + 16, &seed, 2);
	for (size_t i = 0; i < plen; i++)
		tcp[32 + i] = (uint8_t)(i * 13 + 1);
	return ETH_HDR_LEN + IPV4_HDR_MIN + tlen;
}

struct t_gro_ctx {
	const uint8_t *frame;
	size_t len;
	struct desc d;
	unsigned nbuf;
	bool same;
};

static bool t_is_gro(const struct buf *b, const struct desc *d, void *ctx)
{
	struct t_gro_ctx *c = ctx;

	if (d->gso_type == DESC_GSO_NONE)
		return false;
	uint8_t *got = malloc(buf_chain_len(b));
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(buf_copy_out(b, 0, got, buf_chain_len(b)), 0);
	c->d = *d;
	c->nbuf = buf_chain_count(b);
	c->same = buf_chain_len(b) == c->len && memcmp(got, c->frame, c->len) == 0;
	free(got);
	return true;
}

/* A super-frame the kernel's TCP would hand the device (TSO on): injected on the kernel side
 * with a packet socket and a virtio-net header, it crosses the TAP whole. */
START_TEST(test_rx_gro_chain)
{
	static uint8_t frame[NIC_GSO_FRAME_MAX];
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-gro", 32, 16, NIC_OFFLOAD_ALL);
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	unsigned reads = st->rx_reads;
	uint8_t kmac[6];
	int one = 1;
	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_ifindex = (int)if_nametoindex("ustap-gro")};
	/* The largest: the kernel gives a device GSO packets shorter than its gso_max_size
	 * (64 KiB, Ethernet header included) and cuts longer ones itself. */
	const size_t plens[] = {40 * T_MSS, 65535 - 14 - 20 - 32, 3 * T_MSS + 1};

	nic_tap_ops.kernel_mac(dev, kmac);
	ck_assert_int_ge(ps, 0);
	ck_assert_int_eq(setsockopt(ps, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(ps, (struct sockaddr *)&ll, sizeof(ll)), 0);
	for (size_t k = 0; k < sizeof(plens) / sizeof(plens[0]); k++) {
		struct virtio_net_hdr vh = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 66,
					    .gso_size = T_MSS, .csum_start = 34, .csum_offset = 16};
		size_t len = t_tso_frame(frame, kmac, plens[k]);
		struct iovec iov[2] = {{&vh, sizeof(vh)}, {frame, len}};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
		struct t_gro_ctx ctx = {.frame = frame, .len = len};

		ck_assert_int_eq(sendmsg(ps, &mh, 0), (ssize_t)(sizeof(vh) + len));
		ck_assert_msg(t_pump(dev, T_WAIT_MS, t_is_gro, &ctx, NULL, NULL),
			      "super-frame %zu not received", k);
		ck_assert_msg(ctx.same, "super-frame %zu: bytes differ", k);
		ck_assert_uint_eq(ctx.nbuf, 1 + (len - POOL_DATA_ROOM + POOL_SLOT_SIZE - 1) /
						    POOL_SLOT_SIZE);
		ck_assert_uint_eq(ctx.d.gso_type, DESC_GSO_TCPV4);
		ck_assert_uint_eq(ctx.d.gso_size, T_MSS);
		ck_assert_uint_eq(ctx.d.flags, DESC_F_CSUM_NEEDED);
		ck_assert_uint_eq(ctx.d.csum_start, 34);
		ck_assert_uint_eq(ctx.d.csum_offset, 16);
		ck_assert_uint_eq(st->rx_gso_frames, k + 1);
	}
	/* Every read is posted again with its full set of buffers. */
	t_pump(dev, 20, NULL, NULL, NULL, NULL);
	ck_assert_uint_eq(pool_free_count(pool), T_OFF_POOL - reads * T_CHAIN_BUFS);
	ck_assert_uint_eq(st->rx_drop_oversize + st->rx_drop_vnet_gso + st->rx_drop_nobuf, 0);
	close(ps);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-gro");
}
END_TEST

/* A plain frame longer than a buffer (the kernel side's MTU raised behind our back) is dropped,
 * never delivered cut. */
START_TEST(test_rx_plain_oversize)
{
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-big", 32, 16, NIC_OFFLOAD_ALL);
	struct t_udp_ctx ctx = {.dport = 7779};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(7779),
				 .sin_addr.s_addr = inet_addr(T_PEER_IP)};
	char buf[4000];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	t_run("ip link set ustap-big mtu 9000");
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-big");
	t_run("ip neigh add " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-big");
	ck_assert_int_ge(s, 0);
	memset(buf, 'b', sizeof(buf));
	ck_assert_int_eq(sendto(s, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)),
			 (int)sizeof(buf));
	ck_assert(!t_pump(dev, 300, t_is_udp_to, &ctx, NULL, NULL));
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->rx_drop_oversize, 1);
	/* What fits still arrives. */
	ck_assert_int_eq(sendto(s, buf, 1000, 0, (struct sockaddr *)&to, sizeof(to)), 1000);
	ck_assert(t_pump(dev, T_WAIT_MS, t_is_udp_to, &ctx, NULL, NULL));
	close(s);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-big");
}
END_TEST

#define T_TCP_PORT 5001
#define T_OUR_PORT 40000

/* A TCP segment from the peer (T_PEER_IP:T_OUR_PORT) to daddr:T_TCP_PORT: Ethernet,
 * IPv4, a 20-byte TCP header (24 with the MSS option on a SYN), plen payload bytes (byte i is
 * i * 11 + 5), the checksum field seeded with the pseudo-header sum and left to the device.
 * Returns the chain (past one buffer when long) and its descriptor in *d. */
static struct buf *t_tcp_out(struct pool *pool, const uint8_t kmac[6], uint32_t daddr, uint32_t seq,
			     uint32_t ack, uint8_t flags, size_t plen, uint16_t gso_size,
			     struct desc *d)
{
	static uint8_t f[NIC_GSO_FRAME_MAX];
	struct eth_hdr *eth = (struct eth_hdr *)f;
	struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + ETH_HDR_LEN);
	uint8_t *tcp = f + ETH_HDR_LEN + IPV4_HDR_MIN;
	unsigned thlen = (flags & 0x02) ? 24 : 20;
	uint16_t tlen = (uint16_t)(thlen + plen), seed;
	size_t len = ETH_HDR_LEN + IPV4_HDR_MIN + tlen, first;
	struct buf *b;

	memcpy(eth->dst, kmac, 6);
	memcpy(eth->src, t_peer_mac, 6);
	eth->type = htons(ETH_TYPE_IPV4);
	*ip = (struct ipv4_hdr){
		.ver_ihl = 0x45, .tot_len = htons((uint16_t)(IPV4_HDR_MIN + tlen)), .id = htons(3),
		.frag_off = htons(IPV4_FLAG_DF), .ttl = 64, .proto = IPV4_PROTO_TCP,
		.saddr = inet_addr(T_PEER_IP), .daddr = daddr,
	};
	ip->csum = htons(t_fold(t_sum(ip, IPV4_HDR_MIN, 0)));
	memset(tcp, 0, thlen);
	tcp[0] = T_OUR_PORT >> 8, tcp[1] = T_OUR_PORT & 0xff;
	tcp[2] = T_TCP_PORT >> 8, tcp[3] = T_TCP_PORT & 0xff;
	for (int i = 0; i < 4; i++) {
		tcp[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		tcp[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	tcp[12] = (uint8_t)(thlen / 4 << 4);
	tcp[13] = flags;
	tcp[14] = 0xff, tcp[15] = 0xff; /* window 65,535 */
	if (thlen == 24)
		tcp[20] = 2, tcp[21] = 4, tcp[22] = 1460 >> 8, tcp[23] = 1460 & 0xff;
	seed = htons((uint16_t)~t_fold(t_sum(&ip->saddr, 8, 0) + IPV4_PROTO_TCP + tlen));
	memcpy(tcp + 16, &seed, 2);
	for (size_t i = 0; i < plen; i++)
		tcp[thlen + i] = (uint8_t)(i * 11 + 5);
	first = len < POOL_DATA_ROOM ? len : POOL_DATA_ROOM;
	b = tpool_frame(pool, f, first);
	if (len > first)
		ck_assert_int_eq(buf_append_data(b, f + first, len - first), 0);
	*d = (struct desc){.buf = buf_index(b), .gen = buf_gen(b), .len = (uint32_t)len,
			   .l3_off = 14, .l4_off = 34, .flags = DESC_F_CSUM_NEEDED,
			   .csum_start = 34, .csum_offset = 16,
			   .gso_type = gso_size ? DESC_GSO_TCPV4 : DESC_GSO_NONE,
			   .gso_size = gso_size};
	return b;
}

struct t_synack_ctx {
	uint32_t seq;
	uint16_t wnd;
};

static bool t_is_synack(const struct buf *b, const struct desc *d, void *ctx)
{
	struct t_synack_ctx *c = ctx;
	const uint8_t *p = buf_data(b), *tcp = p + ETH_HDR_LEN + IPV4_HDR_MIN;

	(void)d;
	if (buf_len(b) < ETH_HDR_LEN + IPV4_HDR_MIN + 20 || p[ETH_HDR_LEN + 9] != IPV4_PROTO_TCP ||
	    (tcp[2] << 8 | tcp[3]) != T_OUR_PORT || (tcp[13] & 0x12) != 0x12)
		return false;
	c->seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	c->wnd = (uint16_t)(tcp[14] << 8 | tcp[15]);
	return true;
}

/* TSO on transmit: after a handshake made by hand (its segments with partial checksums too),
 * one super-segment of many MSS-sized segments written with the virtio-net header is taken by
 * the kernel's TCP and read byte for byte from its socket. */
START_TEST(test_tx_tso_to_kernel_tcp)
{
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-tso", 32, 16, NIC_OFFLOAD_ALL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(T_TCP_PORT),
				 .sin_addr.s_addr = inet_addr(T_KERNEL_IP)};
	struct t_synack_ctx sc = {0};
	uint8_t kmac[6];
	struct desc d;
	struct buf *b;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, cs = -1;

	nic_tap_ops.kernel_mac(dev, kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-tso");
	t_run("ip neigh add " T_PEER_IP " lladdr 02:00:00:00:00:02 dev ustap-tso");
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);

	uint32_t kaddr = inet_addr(T_KERNEL_IP);
	b = t_tcp_out(pool, kmac, kaddr, 1000, 0, 0x02 /* SYN */, 0, 0, &d);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &b, &d, 1), 1);
	ck_assert_msg(t_pump(dev, T_WAIT_MS, t_is_synack, &sc, NULL, NULL), "no SYN-ACK");
	b = t_tcp_out(pool, kmac, kaddr, 1001, sc.seq + 1, 0x10 /* ACK */, 0, 0, &d);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &b, &d, 1), 1);
	for (uint64_t end = t_now_ms() + T_WAIT_MS; cs < 0 && t_now_ms() < end;) {
		struct pollfd pfd = {.fd = ls, .events = POLLIN};
		t_pump(dev, 0, NULL, NULL, NULL, NULL);
		if (poll(&pfd, 1, 20) == 1)
			cs = accept(ls, NULL, NULL);
	}
	ck_assert_msg(cs >= 0, "the kernel did not accept the connection");

	/* As much as the window takes, in MSS-sized segments: one write. */
	size_t plen = sc.wnd < 40000 ? sc.wnd : 40000;
	ck_assert_uint_gt(plen, 10 * T_MSS);
	b = t_tcp_out(pool, kmac, kaddr, 1001, sc.seq + 1, 0x18 /* PSH, ACK */, plen, T_MSS, &d);
	ck_assert_uint_gt(buf_chain_count(b), 1);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &b, &d, 1), 1);
	uint8_t *got = malloc(plen);
	size_t have = 0;
	ck_assert_ptr_nonnull(got);
	for (uint64_t end = t_now_ms() + T_WAIT_MS; have < plen && t_now_ms() < end;) {
		struct pollfd pfd = {.fd = cs, .events = POLLIN};
		t_pump(dev, 0, NULL, NULL, NULL, NULL);
		if (poll(&pfd, 1, 20) == 1) {
			ssize_t n = recv(cs, got + have, plen - have, 0);
			ck_assert_int_gt(n, 0);
			have += (size_t)n;
		}
	}
	ck_assert_uint_eq(have, plen);
	for (size_t i = 0; i < plen; i++)
		ck_assert_msg(got[i] == (uint8_t)(i * 11 + 5), "byte %zu differs", i);
	free(got);
	t_wait_tx(dev, 3);
	const struct nic_stats *st = nic_tap_ops.stats(dev);
	ck_assert_uint_eq(st->tx_gso_frames, 1);
	ck_assert_uint_eq(st->tx_csum_partial, 3);
	ck_assert_uint_eq(st->tx_errors + st->tx_drop_offload + st->tx_drop_oversize, 0);
	close(cs);
	close(ls);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-tso");
}
END_TEST

/* What the kernel makes of a super-segment: forwarded out of a second TAP that has no offloads,
 * it is cut in software, so the segments read there show the kernel used our header as meant:
 * gso_size payload bytes each (the last the rest), consecutive sequence numbers and IP IDs,
 * and TCP checksums that verify, completed from the pseudo-header sum we seeded (over the
 * whole super-segment's length, Linux's convention for TSO). */
START_TEST(test_tx_tso_segmented_by_kernel)
{
	struct pool *pool = tpool_new(T_OFF_POOL, POOL_HOLDER_NICD);
	struct nic_dev *dev = t_open_off(pool, "ustap-fwa", 32, 16, NIC_OFFLOAD_ALL);
	struct ifreq ifr = {0};
	uint8_t kmac[6], fr[4096];
	const size_t plen = 20000;
	const unsigned nseg = (unsigned)((plen + T_MSS - 1) / T_MSS);
	uint8_t *got = calloc(1, plen);
	struct desc d;
	int fb = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	FILE *fw = fopen("/proc/sys/net/ipv4/ip_forward", "w");

	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(fw);
	fputs("1\n", fw);
	fclose(fw);
	/* The egress: a plain TAP of the test's own (gone when fb closes), no offloads. */
	ck_assert_int_ge(fb, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ustap-fwb");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	ck_assert_int_eq(ioctl(fb, TUNSETIFF, &ifr), 0);
	t_run("ip link set ustap-fwb up");
	t_run("ip addr add 10.97.0.1/24 dev ustap-fwb");
	t_run("ip neigh add 10.97.0.2 lladdr 02:00:00:00:00:07 dev ustap-fwb");
	ck_assert_int_eq(t_ethtool_get("ustap-fwb", ETHTOOL_GTSO), 0);
	nic_tap_ops.kernel_mac(dev, kmac);
	t_run("ip addr add " T_KERNEL_IP "/24 dev ustap-fwa");

	struct buf *b = t_tcp_out(pool, kmac, inet_addr("10.97.0.2"), 5000, 77, 0x10, plen, T_MSS,
				  &d);
	ck_assert_uint_eq(nic_tap_ops.tx_submit(dev, &b, &d, 1), 1);

	unsigned n = 0;
	size_t at = 0;
	uint16_t id0 = 0;
	for (uint64_t end = t_now_ms() + T_WAIT_MS; n < nseg && t_now_ms() < end;) {
		t_pump(dev, 0, NULL, NULL, NULL, NULL);
		ssize_t len = read(fb, fr, sizeof(fr));
		if (len < 0) {
			struct pollfd pfd = {.fd = fb, .events = POLLIN};
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_ge(poll(&pfd, 1, 20), 0);
			continue;
		}
		const struct ipv4_hdr *ip = (const struct ipv4_hdr *)(fr + ETH_HDR_LEN);
		const uint8_t *tcp = fr + ETH_HDR_LEN + IPV4_HDR_MIN;
		if (len < ETH_HDR_LEN + IPV4_HDR_MIN + 20 || fr[12] != 0x08 || fr[13] != 0 ||
		    ip->proto != IPV4_PROTO_TCP)
			continue; /* anything else the kernel sends there */
		size_t tot = ntohs(ip->tot_len), seglen = tot - IPV4_HDR_MIN - 20;
		uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 |
			       (uint32_t)tcp[6] << 8 | tcp[7];
		ck_assert_uint_eq((size_t)len, ETH_HDR_LEN + tot);
		ck_assert_uint_le(tot, T_MTU);
		ck_assert_uint_eq(seglen, n + 1 < nseg ? T_MSS : plen - (nseg - 1) * T_MSS);
		ck_assert_uint_eq(seq, 5000 + n * T_MSS);
		ck_assert_uint_eq(ntohs(ip->frag_off), IPV4_FLAG_DF);
		ck_assert_uint_eq(t_fold(t_sum(ip, IPV4_HDR_MIN, 0)), 0);
		if (n == 0)
			id0 = ntohs(ip->id);
		ck_assert_uint_eq(ntohs(ip->id), (uint16_t)(id0 + n));
		uint32_t ph = t_sum(&ip->saddr, 8, 0) + IPV4_PROTO_TCP + (uint32_t)(tot - 20);
		ck_assert_msg(t_fold(t_sum(tcp, tot - IPV4_HDR_MIN, ph)) == 0,
			      "segment %u: TCP checksum does not verify", n);
		memcpy(got + at, tcp + 20, seglen);
		at += seglen;
		n++;
	}
	ck_assert_uint_eq(n, nseg);
	ck_assert_uint_eq(at, plen);
	for (size_t i = 0; i < plen; i++)
		ck_assert_msg(got[i] == (uint8_t)(i * 11 + 5), "byte %zu differs", i);
	free(got);
	t_wait_tx(dev, 1);
	ck_assert_uint_eq(nic_tap_ops.stats(dev)->tx_gso_frames, 1);
	close(fb);
	nic_tap_ops.close(&dev);
	tpool_destroy(&pool);
	t_delete("ustap-fwa");
}
END_TEST

/* Each test in a namespace of its own (Check runs it in a forked child): what one test leaves
 * behind when it fails (a device, an address, a route) cannot disturb the next. */
static void t_netns_setup(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) { /* no IPv6 ND/MLD chatter on the new devices */
		fputs("1\n", f);
		fclose(f);
	}
}

static Suite *nic_tap_suite(void)
{
	Suite *s = suite_create("nic_tap");
	TCase *tc = tcase_create("tap");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, t_netns_setup, NULL);
	tcase_add_test(tc, test_open_config);
	tcase_add_test(tc, test_rx_arp_request);
	tcase_add_test(tc, test_tx_udp);
	tcase_add_test(tc, test_tx_drops);
	tcase_add_test(tc, test_close_persist);
	tcase_add_test(tc, test_rx_nobuf);
	tcase_add_test(tc, test_rx_order);
	tcase_add_test(tc, test_kill_restart);
	tcase_add_test(tc, test_device_deleted);
	tcase_add_test(tc, test_handed_over_after_kill);
	tcase_add_test(tc, test_offload_open);
	tcase_add_test(tc, test_offload_refused_falls_back);
	tcase_add_test(tc, test_rx_partial_checksum);
	tcase_add_test(tc, test_rx_gro_chain);
	tcase_add_test(tc, test_rx_plain_oversize);
	tcase_add_test(tc, test_tx_tso_to_kernel_tcp);
	tcase_add_test(tc, test_tx_tso_segmented_by_kernel);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Everything happens in namespaces of our own, gone when this process exits; each test
	 * gets a fresh one too (t_netns_setup). This first one covers CK_FORK=no runs. */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "test_nic_tap: unshare(CLONE_NEWNET): %s (needs CAP_SYS_ADMIN)\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	return tcheck_run(nic_tap_suite());
}
