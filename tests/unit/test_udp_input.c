/* test_udp_input: received datagrams in the UDP core (servers/udp/udp_input.c, udp_icmp.c) —
 * demultiplexing precedence and ties, broadcast and multicast fan-out, no-port handling (ICMP
 * for unicast only), checksums (good, bad, absent, 0xffff, already verified) over chains split
 * at odd points, length-field validation and trimming, receive accounting, and ICMP errors
 * turned into a connected socket's pending error. Datagrams are built here with an independent
 * reference checksum, never with the code under test. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper_pool.h"
#include "udp_core.h"
#include "udp_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define OWNER 7u
#define POOL_BUFS 128u
#define FRAME_MAX (20 + 8 + 65507)

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(192, 0, 2, 10)
#define PEER ip4(192, 0, 2, 20)
#define PEER2 ip4(192, 0, 2, 21)
#define FAR ip4(198, 51, 100, 7)
#define SUBNET_BCAST ip4(192, 0, 2, 255)
#define BCAST ip4(255, 255, 255, 255)
#define MDNS ip4(224, 0, 0, 251)

static struct udp_table *t;
static struct udp_host h;
static struct pool *pool;
static struct udp_rx rx;

/* udp_icmp_error with the ICMP header's rest 0; *got is the socket told. */
static int icmp_err(struct udp_table *tb, uint8_t type, uint8_t code, const uint8_t *q,
		    size_t qlen, uint32_t *got)
{
	struct udp_icmp_report rep;
	int rc = udp_icmp_error(tb, type, code, 0, q, qlen, &rep);

	if (rc == 0)
		*got = rep.sid;
	return rc;
}
static uint8_t frame[FRAME_MAX];

static void setup(void)
{
	t = malloc(sizeof(*t));
	ck_assert_ptr_nonnull(t);
	udp_table_init(t);
	/* 192.0.2.10/24 with a default route through 192.0.2.1, MTU 1500. */
	ck_assert_int_eq(udp_host_init(&h, OUR, 24, ip4(192, 0, 2, 1), 1500), 0);
	pool = tpool_new(POOL_BUFS, POOL_HOLDER_UDPD);
}

static void teardown(void)
{
	tpool_destroy(&pool);
	free(t);
	t = NULL;
}

/* --- datagrams --- */

enum csum_mode { CSUM_GOOD, CSUM_ZERO, CSUM_BAD };

/* RFC 1071 the slow way: the reference the core is checked against. */
static uint16_t ref_csum(uint32_t saddr, uint32_t daddr, const uint8_t *udp, size_t len)
{
	uint8_t ph[12];
	uint64_t sum = 0;

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = IPV4_PROTO_UDP;
	ph[10] = (uint8_t)(len >> 8);
	ph[11] = (uint8_t)len;
	for (size_t i = 0; i < 12; i += 2)
		sum += (uint32_t)ph[i] << 8 | ph[i + 1];
	for (size_t i = 0; i < len; i++)
		sum += i & 1 ? udp[i] : (uint32_t)udp[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 7));
}

/* IPv4 header + UDP header + plen payload bytes (pattern seed) into frame; returns the length.
 * ulen_delta is added to the UDP length field (to make it lie). */
static size_t build(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport, size_t plen,
		    uint8_t seed, enum csum_mode mode)
{
	struct ipv4_hdr ih = {.ver_ihl = 0x45, .ttl = 64, .proto = IPV4_PROTO_UDP,
			      .saddr = saddr, .daddr = daddr,
			      .tot_len = htons((uint16_t)(20 + 8 + plen))};
	struct udp_hdr uh = {.sport = sport, .dport = dport, .len = htons((uint16_t)(8 + plen))};
	uint16_t c;

	ck_assert_uint_le(20 + 8 + plen, sizeof(frame));
	memcpy(frame, &ih, sizeof(ih));
	fill(frame + 28, plen, seed);
	memcpy(frame + 20, &uh, sizeof(uh));
	c = ref_csum(saddr, daddr, frame + 20, 8 + plen);
	if (c == 0)
		c = 0xffff;
	uh.csum = mode == CSUM_ZERO ? 0 : htons(mode == CSUM_BAD ? (uint16_t)(c ^ 0x0100) : c);
	memcpy(frame + 20, &uh, sizeof(uh));
	return 28 + plen;
}

/* The bytes [0, len) of frame as a chain cut at the given increasing offsets (and every 2,000
 * bytes beyond the last cut). */
static struct buf *chain_of(size_t len, const size_t *cuts, unsigned ncuts)
{
	struct buf *head = NULL;
	size_t at = 0;
	unsigned k = 0;

	while (at < len) {
		size_t end = k < ncuts ? cuts[k++] : at + 2000;
		struct buf *b;

		if (end > len)
			end = len;
		b = tpool_frame(pool, frame + at, end - at);
		if (!head)
			head = b;
		else
			ck_assert_int_eq(buf_chain_append(head, &b), 0);
		at = end;
	}
	return head;
}

/* Hand frame[0, len) to udp_input as a chain cut at cuts; frees it after. */
static int input_cut(size_t len, uint32_t saddr, uint32_t daddr, uint32_t flags,
		     const size_t *cuts, unsigned ncuts)
{
	struct buf *b = chain_of(len, cuts, ncuts);
	struct desc d = {.len = buf_chain_len(b), .l3_off = 0, .l4_off = 20, .flags = flags,
			 .saddr = saddr, .daddr = daddr, .proto = IPV4_PROTO_UDP};
	int rc = udp_input(t, &d, b, &rx);

	pool_free(&b);
	return rc;
}

static int input(size_t len, uint32_t saddr, uint32_t daddr, uint32_t flags)
{
	return input_cut(len, saddr, daddr, flags, NULL, 0);
}

/* A unicast datagram from saddr:sport to OUR:dport with a good checksum. */
static int uni(uint32_t saddr, uint16_t sport, uint16_t dport)
{
	return input(build(saddr, OUR, htons(sport), htons(dport), 16, 1, CSUM_GOOD), saddr, OUR,
		     0);
}

/* --- sockets --- */

static uint32_t sock(uint32_t laddr, uint16_t lport, bool reuse)
{
	uint32_t sid;
	int one = 1;

	ck_assert_int_eq(udp_socket_open(t, OWNER, &sid), 0);
	if (reuse)
		ck_assert_int_eq(udp_setopt(t, OWNER, sid, SOL_SOCKET, SO_REUSEADDR, &one,
					    sizeof(one)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sid, &h, laddr, htons(lport)), 0);
	return sid;
}

static uint32_t connected(uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint32_t sid = sock(laddr, lport, true);

	ck_assert_int_eq(udp_connect(t, OWNER, sid, &h, raddr, htons(rport)), 0);
	return sid;
}

static bool rx_has(uint32_t sid)
{
	for (uint32_t i = 0; i < rx.n_sids; i++)
		if (rx.sids[i] == sid)
			return true;
	return false;
}

static void expect_one(int rc, uint32_t sid)
{
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rx.n_sids, 1);
	ck_assert_uint_eq(rx.sids[0], sid);
}

/* --- demultiplexing --- */

START_TEST(demux_precedence)
{
	uint32_t any = sock(0, 53, true);
	uint32_t spec = sock(OUR, 53, true);
	uint32_t conn = connected(OUR, 53, PEER, 5000);

	expect_one(uni(PEER, 5000, 53), conn);   /* exact 4-tuple first */
	expect_one(uni(PEER, 5001, 53), spec);   /* then bound to the destination address */
	expect_one(uni(PEER2, 5000, 53), spec);
	ck_assert_int_eq(udp_socket_close(t, OWNER, spec), 0);
	expect_one(uni(PEER, 5001, 53), any);    /* then ANY */
	expect_one(uni(PEER, 5000, 53), conn);
	ck_assert_int_eq(udp_socket_close(t, OWNER, conn), 0);
	expect_one(uni(PEER, 5000, 53), any);
	ck_assert_uint_eq(t->stats.no_ports, 0);
	/* rx describes the datagram. */
	ck_assert_uint_eq(rx.saddr, PEER);
	ck_assert_uint_eq(rx.daddr, OUR);
	ck_assert_uint_eq(rx.sport, htons(5000));
	ck_assert_uint_eq(rx.dport, htons(53));
	ck_assert_uint_eq(rx.payload_off, 28);
	ck_assert_uint_eq(rx.payload_len, 16);
	ck_assert_uint_eq(rx.trailing, 0);
}
END_TEST

/* The same, bound in the opposite order: precedence is by match, not by age. */
START_TEST(demux_precedence_not_by_age)
{
	uint32_t conn = connected(OUR, 53, PEER, 5000);
	uint32_t spec = sock(OUR, 53, true);
	uint32_t any = sock(0, 53, true);

	expect_one(uni(PEER, 5000, 53), conn);
	expect_one(uni(PEER, 5001, 53), spec);
	ck_assert_int_eq(udp_socket_close(t, OWNER, spec), 0);
	expect_one(uni(PEER, 5000, 53), conn);
	expect_one(uni(PEER, 5001, 53), any);
}
END_TEST

START_TEST(demux_connected_any_port_and_ties)
{
	uint32_t a = sock(0, 4000, true);
	uint32_t b = sock(0, 4000, true);
	uint32_t c;

	expect_one(uni(PEER, 1, 4000), b); /* equal scores: the newest bind wins (Linux) */
	c = sock(0, 4000, true);
	expect_one(uni(PEER, 1, 4000), c);
	ck_assert_int_eq(udp_socket_close(t, OWNER, c), 0);
	ck_assert_int_eq(udp_socket_close(t, OWNER, b), 0);
	expect_one(uni(PEER, 1, 4000), a);
	/* Connected to port 0: any source port of that peer matches, and beats ANY. */
	c = connected(0, 4000, PEER, 0);
	expect_one(uni(PEER, 777, 4000), c);
	expect_one(uni(PEER2, 777, 4000), a);
}
END_TEST

START_TEST(connected_socket_hears_only_its_peer)
{
	connected(0, 6000, PEER, 7000);
	ck_assert_int_eq(uni(PEER, 7001, 6000), -ENOENT);
	ck_assert_int_eq(uni(PEER2, 7000, 6000), -ENOENT);
	ck_assert_uint_eq(t->stats.no_ports, 2);
	ck_assert_int_eq(uni(PEER, 7000, 6000), 0);
}
END_TEST

START_TEST(no_port_counts_and_asks_for_icmp)
{
	sock(0, 53, false);
	ck_assert_int_eq(uni(PEER, 1234, 54), -ENOENT);
	ck_assert_uint_eq(rx.n_sids, 0);
	ck_assert_uint_eq(t->stats.no_ports, 1);
	ck_assert_uint_eq(t->stats.in_errors, 0);
	/* Broadcast and multicast to an unused port: 0 with nobody, no ICMP (RFC 1122
	 * §4.1.3.1), counted as IgnoredMulti. */
	ck_assert_int_eq(input(build(PEER, BCAST, htons(1), htons(54), 4, 2, CSUM_GOOD), PEER, BCAST,
			       DESC_F_BCAST), 0);
	ck_assert_uint_eq(rx.n_sids, 0);
	ck_assert_int_eq(input(build(PEER, SUBNET_BCAST, htons(1), htons(54), 4, 2, CSUM_GOOD),
			       PEER, SUBNET_BCAST, DESC_F_BCAST), 0);
	ck_assert_int_eq(input(build(PEER, MDNS, htons(1), htons(54), 4, 2, CSUM_GOOD), PEER, MDNS,
			       0), 0);
	ck_assert_uint_eq(rx.n_sids, 0);
	ck_assert_uint_eq(t->stats.no_ports, 1);
	ck_assert_uint_eq(t->stats.ignored_multi, 3);
}
END_TEST

START_TEST(broadcast_fan_out)
{
	uint32_t any1 = sock(0, 67, true), any2 = sock(0, 67, true);
	uint32_t ours = sock(OUR, 67, true);
	uint32_t lim = sock(BCAST, 67, true), sub = sock(SUBNET_BCAST, 67, true);
	uint32_t lim_conn = sock(BCAST, 67, true);
	uint32_t ours_conn = connected(0, 67, PEER, 68); /* laddr becomes OUR */
	uint32_t other_port = sock(0, 69, true);
	int rc;

	ck_assert_int_eq(udp_connect(t, OWNER, lim_conn, &h, PEER, htons(68)), 0);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, lim_conn)->laddr, BCAST);
	/* To 255.255.255.255 from PEER:68: sockets bound to ANY or to that broadcast address,
	 * a connected one only if the sender is its peer. No SO_BROADCAST needed to receive. */
	rc = input(build(PEER, BCAST, htons(68), htons(67), 300, 3, CSUM_GOOD), PEER, BCAST,
		   DESC_F_BCAST);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rx.n_sids, 4);
	ck_assert(rx_has(any1) && rx_has(any2) && rx_has(lim) && rx_has(lim_conn));
	ck_assert(!rx_has(ours) && !rx_has(sub) && !rx_has(ours_conn) && !rx_has(other_port));
	ck_assert_uint_eq(rx.payload_len, 300);
	rc = input(build(PEER2, BCAST, htons(68), htons(67), 300, 3, CSUM_GOOD), PEER2, BCAST,
		   DESC_F_BCAST);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rx.n_sids, 3);
	ck_assert(rx_has(any1) && rx_has(any2) && rx_has(lim));
	/* To the subnet broadcast. */
	rc = input(build(PEER2, SUBNET_BCAST, htons(68), htons(67), 300, 3, CSUM_GOOD), PEER2,
		   SUBNET_BCAST, DESC_F_BCAST);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rx.n_sids, 3);
	ck_assert(rx_has(any1) && rx_has(any2) && rx_has(sub));
	/* Multicast goes the same way (Linux IP_MULTICAST_ALL default). */
	rc = input(build(PEER2, MDNS, htons(68), htons(67), 10, 3, CSUM_GOOD), PEER2, MDNS, 0);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rx.n_sids, 2);
	ck_assert(rx_has(any1) && rx_has(any2));
	/* Unicast to the same port still goes to one socket only. */
	expect_one(uni(PEER, 68, 67), ours_conn);
	ck_assert_uint_eq(t->stats.ignored_multi, 0);
	ck_assert_uint_eq(t->stats.no_ports, 0);
}
END_TEST

START_TEST(broadcast_fan_out_to_every_socket)
{
	uint32_t sid = 0, first = sock(0, 500, true);

	for (unsigned i = 1; i < UDP_SOCKETS_MAX; i++)
		sid = sock(0, 500, true);
	ck_assert_int_eq(input(build(PEER, BCAST, htons(1), htons(500), 1, 3, CSUM_GOOD), PEER,
			       BCAST, DESC_F_BCAST), 0);
	ck_assert_uint_eq(rx.n_sids, UDP_SOCKETS_MAX);
	ck_assert(rx_has(first) && rx_has(sid));
}
END_TEST

/* --- checksums --- */

START_TEST(checksum_good_bad_zero)
{
	uint32_t s = sock(0, 7, false);
	size_t len;

	len = build(PEER, OUR, htons(9), htons(7), 101, 4, CSUM_GOOD);
	expect_one(input(len, PEER, OUR, 0), s);
	len = build(PEER, OUR, htons(9), htons(7), 101, 4, CSUM_BAD);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_csum_errors, 1);
	ck_assert_uint_eq(t->stats.in_errors, 1);
	/* A bad checksum never draws an ICMP error, even to a closed port. */
	len = build(PEER, OUR, htons(9), htons(8), 101, 4, CSUM_BAD);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.no_ports, 0);
	/* Checksummed for another source address: the pseudo-header catches it. */
	len = build(PEER2, OUR, htons(9), htons(7), 101, 4, CSUM_GOOD);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_csum_errors, 3);
	/* 0: sent without a checksum (RFC 768), taken even though the data would not sum. */
	len = build(PEER, OUR, htons(9), htons(7), 101, 4, CSUM_ZERO);
	frame[40] ^= 0xff;
	expect_one(input(len, PEER, OUR, 0), s);
	ck_assert_uint_eq(t->stats.in_no_csum, 1);
	/* Already verified below us: not checked again. */
	len = build(PEER, OUR, htons(9), htons(7), 101, 4, CSUM_BAD);
	expect_one(input(len, PEER, OUR, DESC_F_CSUM_VERIFIED), s);
	ck_assert_uint_eq(t->stats.in_csum_errors, 3);
	ck_assert_uint_eq(t->stats.in_errors, 3);
}
END_TEST

/* A datagram whose checksum computes to 0 carries 0xffff (RFC 768); receivers must take it,
 * and udp_header_fill must produce it. */
START_TEST(checksum_ffff)
{
	uint32_t s = sock(0, 7, false);
	size_t len = build(PEER, OUR, htons(9), htons(7), 10, 5, CSUM_ZERO);
	uint8_t hdr[8];
	uint16_t fix;
	struct buf *payload;

	/* Make the last payload word the value that brings the whole sum to 0xffff. */
	frame[len - 2] = frame[len - 1] = 0;
	fix = ref_csum(PEER, OUR, frame + 20, len - 20);
	frame[len - 2] = (uint8_t)(fix >> 8);
	frame[len - 1] = (uint8_t)fix;
	ck_assert_uint_eq(ref_csum(PEER, OUR, frame + 20, len - 20), 0);
	frame[26] = frame[27] = 0xff;
	expect_one(input(len, PEER, OUR, 0), s);
	ck_assert_uint_eq(t->stats.in_no_csum, 0);
	ck_assert_uint_eq(t->stats.in_csum_errors, 0);

	payload = tpool_frame(pool, frame + 28, len - 28);
	udp_header_fill(hdr, PEER, OUR, htons(9), htons(7), payload, 0, len - 28);
	pool_free(&payload);
	ck_assert_uint_eq(hdr[6], 0xff);
	ck_assert_uint_eq(hdr[7], 0xff);
}
END_TEST

START_TEST(chained_odd_splits)
{
	uint32_t s = sock(0, 7, false);
	size_t len = build(PEER, OUR, htons(9), htons(7), 3001, 6, CSUM_GOOD);
	/* The first buffer ends inside the UDP header; then 1 byte, 333, 1, 2000, rest. */
	const size_t cuts[] = {23, 29, 30, 363, 364, 2364};
	const size_t cuts2[] = {20, 28, 29, 1029};
	const size_t cuts3[] = {1, 27, 2027, 2999};

	expect_one(input_cut(len, PEER, OUR, 0, cuts, 6), s);
	ck_assert_uint_eq(rx.payload_off, 28);
	ck_assert_uint_eq(rx.payload_len, 3001);
	expect_one(input_cut(len, PEER, OUR, 0, cuts2, 4), s);
	expect_one(input_cut(len, PEER, OUR, 0, cuts3, 4), s);
	/* One flipped byte deep in the chain, at an odd offset, is caught. */
	frame[28 + 2501] ^= 0x10;
	ck_assert_int_eq(input_cut(len, PEER, OUR, 0, cuts, 6), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_csum_errors, 1);
	/* The largest datagram, in 2,000-byte buffers. */
	len = build(PEER, OUR, htons(9), htons(7), UDP_MAX_PAYLOAD, 7, CSUM_GOOD);
	expect_one(input(len, PEER, OUR, 0), s);
	ck_assert_uint_eq(rx.payload_len, UDP_MAX_PAYLOAD);
}
END_TEST

/* --- length and descriptor --- */

static void set_ulen(uint16_t ulen)
{
	uint16_t be = htons(ulen);

	memcpy(frame + 24, &be, 2);
}

START_TEST(length_field_checked)
{
	uint32_t s = sock(0, 7, false);
	size_t len;

	/* Shorter than a header. */
	len = build(PEER, OUR, htons(9), htons(7), 0, 0, CSUM_ZERO);
	ck_assert_int_eq(input(len - 3, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_drop_short, 1);
	/* Length field below 8. */
	len = build(PEER, OUR, htons(9), htons(7), 20, 0, CSUM_ZERO);
	set_ulen(7);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	set_ulen(0);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_drop_len_small, 2);
	/* Larger than the data. */
	set_ulen(29);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	set_ulen(0xffff);
	ck_assert_int_eq(input(len, PEER, OUR, 0), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_drop_len_big, 2);
	ck_assert_uint_eq(t->stats.in_errors, 5);
	ck_assert_uint_eq(t->stats.no_ports, 0);
	/* Smaller than the data: the rest is ignored, and the checksum covers only the UDP
	 * length (here a good checksum over 12 of 20 payload bytes). */
	len = build(PEER, OUR, htons(9), htons(7), 12, 8, CSUM_GOOD);
	memset(frame + len, 0xee, 8);
	expect_one(input(len + 8, PEER, OUR, 0), s);
	ck_assert_uint_eq(rx.payload_len, 12);
	ck_assert_uint_eq(rx.trailing, 8);
	ck_assert_uint_eq(t->stats.in_trimmed, 1);
	/* An empty datagram is fine. */
	len = build(PEER, OUR, htons(9), htons(7), 0, 0, CSUM_GOOD);
	expect_one(input(len, PEER, OUR, 0), s);
	ck_assert_uint_eq(rx.payload_len, 0);
	ck_assert_uint_eq(t->stats.in_errors, 5);
}
END_TEST

START_TEST(descriptor_bounds)
{
	size_t len = build(PEER, OUR, htons(9), htons(7), 40, 0, CSUM_GOOD);
	struct buf *b = chain_of(len, NULL, 0);
	struct desc d = {.len = (uint32_t)len, .l4_off = 20, .saddr = PEER, .daddr = OUR};

	sock(0, 7, false);
	/* l4_off past the data, or leaving no room for a header. */
	d.l4_off = 200;
	ck_assert_int_eq(udp_input(t, &d, b, &rx), -EBADMSG);
	d.l4_off = (uint16_t)(len - 7);
	ck_assert_int_eq(udp_input(t, &d, b, &rx), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_drop_short, 2);
	/* A descriptor claiming less than the chain holds: only that much is believed. */
	d.l4_off = 20;
	d.len = (uint32_t)len - 1;
	ck_assert_int_eq(udp_input(t, &d, b, &rx), -EBADMSG);
	ck_assert_uint_eq(t->stats.in_drop_len_big, 1);
	/* Claiming more than it holds changes nothing. */
	d.len = 60000;
	ck_assert_int_eq(udp_input(t, &d, b, &rx), 0);
	pool_free(&b);
}
END_TEST

START_TEST(rx_accounting)
{
	uint32_t s = sock(0, 7, false);

	expect_one(uni(PEER, 1, 7), s);
	udp_rx_delivered(t, s);
	udp_rx_rcvbuf_drop(t, s);
	udp_rx_rcvbuf_drop(t, s);
	ck_assert_uint_eq(t->stats.in_datagrams, 1);
	ck_assert_uint_eq(t->stats.rcvbuf_errors, 2);
	ck_assert_uint_eq(t->stats.in_errors, 2);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, s)->drops, 2);
	/* The socket closed meanwhile: the global counters still count. */
	ck_assert_int_eq(udp_socket_close(t, OWNER, s), 0);
	udp_rx_rcvbuf_drop(t, s);
	ck_assert_uint_eq(t->stats.rcvbuf_errors, 3);
}
END_TEST

/* --- ICMP errors --- */

/* The quote of a datagram we sent from src:sport to dst:dport (IPv4 header + 8 bytes). */
static size_t quote(uint8_t *q, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct ipv4_hdr ih = {.ver_ihl = 0x45, .ttl = 64, .proto = IPV4_PROTO_UDP, .saddr = src,
			      .daddr = dst, .tot_len = htons(48)};
	struct udp_hdr uh = {.sport = htons(sport), .dport = htons(dport), .len = htons(28)};

	memcpy(q, &ih, 20);
	memcpy(q + 20, &uh, 8);
	return 28;
}

START_TEST(icmp_port_unreachable_connected)
{
	uint32_t c = connected(0, 0, PEER, 5000), got = 0;
	uint16_t lport = ntohs(udp_sock_get(t, OWNER, c)->lport);
	uint8_t q[64];
	size_t qlen = quote(q, OUR, lport, PEER, 5000);
	struct udp_send snd = {.payload_len = 4};
	struct udp_tx tx;

	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, q, qlen, &got), 0);
	ck_assert_uint_eq(got, c);
	ck_assert_uint_eq(t->stats.icmp_err_reported, 1);
	/* Reported once, by the next send, then cleared (Linux sk_err). */
	ck_assert_int_eq(udp_output(t, OWNER, c, &h, &snd, &tx), -ECONNREFUSED);
	ck_assert(!tx.emit);
	ck_assert_int_eq(udp_output(t, OWNER, c, &h, &snd, &tx), 0);
	ck_assert(tx.emit);
	/* Or by the receive path. */
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, q, qlen, &got), 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), -ECONNREFUSED);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), 0);
	/* Hard errors other than port unreachable. */
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_NEEDFRAG, q, qlen, &got),
			 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), -EMSGSIZE);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, q, qlen, &got),
			 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), -ENOPROTOOPT);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 13, q, qlen, &got), 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), -EHOSTUNREACH);
	ck_assert_int_eq(icmp_err(t, ICMP_PARAM_PROBLEM, 0, q, qlen, &got), 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, c), -EPROTO);
	ck_assert_uint_eq(t->stats.icmp_err_reported, 6);
}
END_TEST

START_TEST(icmp_ignored_when_not_for_a_connected_socket)
{
	uint32_t u = sock(0, 7000, false), c = connected(0, 0, PEER, 5000), got = 0xdead;
	uint16_t clport = ntohs(udp_sock_get(t, OWNER, c)->lport);
	uint8_t q[64];
	size_t qlen;

	/* Unconnected socket: ignored (Linux without IP_RECVERR). */
	qlen = quote(q, OUR, 7000, PEER, 9);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, q, qlen, &got),
			 -ENOENT);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, u)->pending_error, 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, u), 0);
	/* Soft errors on the connected socket: net/host unreachable, time exceeded, source quench,
	 * an unknown unreachable code (RFC 1122 §3.2.2.1 transient). */
	qlen = quote(q, OUR, clport, PEER, 5000);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_NET, q, qlen, &got),
			 -ENOENT);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, q, qlen, &got),
			 -ENOENT);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 99, q, qlen, &got), -ENOENT);
	ck_assert_int_eq(icmp_err(t, ICMP_TIME_EXCEEDED, 0, q, qlen, &got), -ENOENT);
	ck_assert_int_eq(icmp_err(t, 4 /* source quench */, 0, q, qlen, &got), -ENOENT);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, c)->pending_error, 0);
	ck_assert_uint_eq(t->stats.icmp_err_ignored, 6);
	/* About a datagram to another peer: not this socket's. */
	qlen = quote(q, OUR, clport, PEER2, 5000);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, q, qlen, &got),
			 -ENOENT);
	ck_assert_uint_eq(t->stats.icmp_err_no_sock, 1);
	ck_assert_uint_eq(got, 0xdead);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, c)->pending_error, 0);
}
END_TEST

START_TEST(icmp_quote_malformed)
{
	uint32_t c = connected(0, 0, PEER, 5000), got = 0;
	uint16_t lport = ntohs(udp_sock_get(t, OWNER, c)->lport);
	uint8_t q[80];
	size_t qlen = quote(q, OUR, lport, PEER, 5000);

	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, NULL, 0, &got), -EBADMSG);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, 19, &got), -EBADMSG);
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, qlen - 1, &got), -EBADMSG);
	q[0] = 0x65; /* version 6 */
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, qlen, &got), -EBADMSG);
	q[0] = 0x44; /* IHL 16 bytes */
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, qlen, &got), -EBADMSG);
	q[0] = 0x46; /* IHL 24: the UDP header would run past the quote */
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, qlen, &got), -EBADMSG);
	q[0] = 0x45;
	q[9] = IPV4_PROTO_TCP;
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, qlen, &got), -EBADMSG);
	ck_assert_uint_eq(t->stats.icmp_err_bad, 7);
	ck_assert_uint_eq(udp_sock_get(t, OWNER, c)->pending_error, 0);
	/* With IP options, the UDP header is found after them. */
	qlen = quote(q, OUR, lport, PEER, 5000);
	memmove(q + 24, q + 20, 8);
	memset(q + 20, IPV4_OPT_NOP, 4);
	q[0] = 0x46;
	ck_assert_int_eq(icmp_err(t, ICMP_DEST_UNREACH, 3, q, 32, &got), 0);
	ck_assert_uint_eq(got, c);
	ck_assert_uint_eq(t->stats.icmp_err_in, 8);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_input");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, demux_precedence);
	tcase_add_test(tc, demux_precedence_not_by_age);
	tcase_add_test(tc, demux_connected_any_port_and_ties);
	tcase_add_test(tc, connected_socket_hears_only_its_peer);
	tcase_add_test(tc, no_port_counts_and_asks_for_icmp);
	tcase_add_test(tc, broadcast_fan_out);
	tcase_add_test(tc, broadcast_fan_out_to_every_socket);
	tcase_add_test(tc, checksum_good_bad_zero);
	tcase_add_test(tc, checksum_ffff);
	tcase_add_test(tc, chained_odd_splits);
	tcase_add_test(tc, length_field_checked);
	tcase_add_test(tc, descriptor_bounds);
	tcase_add_test(tc, rx_accounting);
	tcase_add_test(tc, icmp_port_unreachable_connected);
	tcase_add_test(tc, icmp_ignored_when_not_for_a_connected_socket);
	tcase_add_test(tc, icmp_quote_malformed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
