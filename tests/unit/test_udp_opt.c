/* test_udp_opt: the socket options of the UDP core (servers/udp/udp_opt.c) with Linux's
 * defaults, sizes, ranges and errnos (sk_setsockopt, do_ip_setsockopt, do_ip_getsockopt),
 * IP_MTU from the route, SO_REUSEPORT groups and how they spread flows (udp_bind.c,
 * udp_input.c), IP_RECVERR's error reports (udp_icmp.c), and the table check's view of the
 * new per-socket state. tests/integration/test_sock_parity.sh holds the same answers against
 * the kernel's own sockets; these pin them down without a network. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper_check.h"
#include "udp_core.h"
#include "udp_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define OWNER 7u

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(192, 0, 2, 10)
#define PEER ip4(192, 0, 2, 20)
#define LO ip4(127, 0, 0, 1)

static struct udp_table *t;
static struct udp_host h;

static void setup(void)
{
	t = malloc(sizeof(*t));
	ck_assert_ptr_nonnull(t);
	udp_table_init(t);
	udp_reuseport_seed(t, 0x1234567u);
	ck_assert_int_eq(udp_host_init(&h, OUR, 24, ip4(192, 0, 2, 1), 1500), 0);
}

static void teardown(void)
{
	free(t);
	t = NULL;
}

static uint32_t sock_open(void)
{
	uint32_t sid = 0;

	ck_assert_int_eq(udp_socket_open(t, OWNER, &sid), 0);
	return sid;
}

static int set_int(uint32_t s, int level, int name, int v)
{
	return udp_setopt(t, OWNER, s, level, name, &v, sizeof(v));
}

static int set_len(uint32_t s, int level, int name, const void *v, size_t len)
{
	return udp_setopt(t, OWNER, s, level, name, v, len);
}

/* getsockopt into a buffer of len bytes: the value as an int (or -1000 - errno), *out_len. */
static int get(uint32_t s, int level, int name, size_t len, size_t *out_len)
{
	uint8_t v[16];
	size_t l = len;
	int i = 0, rc;

	memset(v, 0, sizeof(v));
	rc = udp_getopt(t, &h, OWNER, s, level, name, v, &l);
	if (rc < 0)
		return -1000 + rc;
	if (out_len)
		*out_len = l;
	if (l == 1)
		return v[0];
	memcpy(&i, v, l < sizeof(i) ? l : sizeof(i));
	return i;
}

static int get_int(uint32_t s, int level, int name)
{
	size_t l;
	int v = get(s, level, name, sizeof(int), &l);

	if (v > -1000)
		ck_assert_uint_eq(l, sizeof(int));
	return v;
}

START_TEST(ip_defaults)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TTL), 64);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TOS), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 1);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_LOOP), 1);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_PKTINFO), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_RECVTTL), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_RECVTOS), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_RECVERR), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_WANT);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU), -1000 - ENOTCONN);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVLOWAT), 1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_DONTROUTE), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMP), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_REUSEPORT), 0);
}
END_TEST

/* An IP value is an int, one byte for optlen 1..3, 0 for optlen 0; a get of a value that fits
 * a byte into a 1..3-byte buffer returns one byte; a 0-byte buffer gets nothing. */
START_TEST(ip_value_sizes)
{
	uint32_t s = sock_open();
	uint8_t b = 200;
	size_t l;

	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_TTL, &b, 1), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TTL), 200);
	ck_assert_int_eq(get(s, IPPROTO_IP, IP_TTL, 1, &l), 200);
	ck_assert_uint_eq(l, 1);
	ck_assert_int_eq(get(s, IPPROTO_IP, IP_TTL, 3, &l), 200);
	ck_assert_uint_eq(l, 1);
	ck_assert_int_eq(get(s, IPPROTO_IP, IP_TTL, 0, &l), 0);
	ck_assert_uint_eq(l, 0);
	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_TTL, "", 0), -EINVAL);
	/* The flags take an empty value as off. */
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_PKTINFO, 5), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_PKTINFO), 1);
	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_PKTINFO, "", 0), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_PKTINFO), 0);
	/* A value over 255 in a short buffer: the first bytes of the int (IP_MTU 1500 = dc 05). */
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, 0), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	ck_assert_int_eq(get(s, IPPROTO_IP, IP_MTU, 1, &l), 0xdc);
	ck_assert_uint_eq(l, 1);
}
END_TEST

START_TEST(ip_ranges)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, 0), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, 256), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, -2), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, 255), 0);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, -1), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TTL), 64);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, 256), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, -2), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, 0), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 0);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, -1), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MULTICAST_TTL), 1);
	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_MULTICAST_TTL, "", 0), -EINVAL);
	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_MULTICAST_LOOP, "", 0), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, 6), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, -1), -EINVAL);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_OMIT);
	/* IP_MTU is read-only; unknown IP options and levels. */
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MTU, 1000), -ENOPROTOOPT);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, 200, 1), -ENOPROTOOPT);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, 200), -1000 - ENOPROTOOPT);
	ck_assert_int_eq(set_int(s, 1234, 1, 1), -ENOPROTOOPT);
	ck_assert_int_eq(get_int(s, 1234, 1), -1000 - EOPNOTSUPP);
	ck_assert_uint_eq(t->sock[udp_sid_idx(s)].ext.pmtudisc, IP_PMTUDISC_OMIT);
}
END_TEST

/* IP_TOS keeps all 8 bits on a datagram socket and sets SO_PRIORITY (rt_tos2priority). */
START_TEST(ip_tos_sets_priority)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TOS, 0x2b), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TOS), 0x2b);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 2);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TOS, 0x1ff), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TOS), 0xff);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 4);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TOS, 0x10), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 6);
	/* SO_PRIORITY itself is kept until IP_TOS changes. */
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_PRIORITY, 3), 0);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TOS, 0x10), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 3);
	ck_assert_int_eq(set_len(s, IPPROTO_IP, IP_TOS, "", 0), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TOS), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 0);
}
END_TEST

START_TEST(socket_level_values)
{
	uint32_t s = sock_open();
	struct linger l = {.l_onoff = 1, .l_linger = 5}, got;
	size_t len = sizeof(got);
	uint8_t two[2] = {1, 0};

	ck_assert_int_eq(set_len(s, SOL_SOCKET, SO_KEEPALIVE, two, 2), -EINVAL);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_KEEPALIVE, 7), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
	ck_assert_int_eq(get(s, SOL_SOCKET, SO_KEEPALIVE, 2, &len), 1);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_DONTROUTE, 1), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_DONTROUTE), 1);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_RCVLOWAT, 0), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVLOWAT), 1);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_RCVLOWAT, -5), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVLOWAT), INT_MAX);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_PRIORITY, 7), 0); /* the shell checks who */
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PRIORITY), 7);
	/* SO_LINGER: a struct linger; l_onoff 0 keeps the time. */
	ck_assert_int_eq(set_len(s, SOL_SOCKET, SO_LINGER, &l, 4), -EINVAL);
	ck_assert_int_eq(set_len(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	len = sizeof(got);
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	ck_assert_uint_eq(len, sizeof(got));
	ck_assert_int_eq(got.l_onoff, 1);
	ck_assert_int_eq(got.l_linger, 5);
	l = (struct linger){.l_onoff = 0, .l_linger = 9};
	ck_assert_int_eq(set_len(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	ck_assert_int_eq(got.l_onoff, 0);
	ck_assert_int_eq(got.l_linger, 5);
	len = 4;
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, SOL_SOCKET, SO_LINGER, &got, &len), 0);
	ck_assert_uint_eq(len, 4);
}
END_TEST

/* Linux sock_set_timestamp and its four option numbers (_OLD 29/35, _NEW 63/64). */
START_TEST(timestamps)
{
	uint32_t s = sock_open();
	const struct udp_sock_ext *x = &t->sock[udp_sid_idx(s)].ext;

	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_TIMESTAMP, 1), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMP), 1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_TIMESTAMPNS, 1), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMP), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMPNS), 1);
	ck_assert_uint_eq(x->flags & (UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMPNS),
			  UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMPNS);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, 63 /* SO_TIMESTAMP_NEW */, 1), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, 63), 1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMP), 0);
	ck_assert_uint_eq(x->flags & UDP_EXT_F_TSTAMP_NEW, UDP_EXT_F_TSTAMP_NEW);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_TIMESTAMP, 0), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, 63), 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TIMESTAMPNS), 0);
}
END_TEST

/* IP_MTU: the MTU of the route to the connected peer (lo's is capped at 65,535). */
START_TEST(ip_mtu_of_the_route)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU), 1500);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, OUR, htons(9)), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU), 65535);
	ck_assert_int_eq(udp_disconnect(t, OWNER, s), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_MTU), -1000 - ENOTCONN);
}
END_TEST

static uint32_t rp_sock(uint32_t uid, uint32_t addr, uint16_t port, int want)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_sock_set_uid(t, OWNER, s, uid), 0);
	ck_assert_int_eq(set_int(s, SOL_SOCKET, SO_REUSEPORT, 1), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, addr, htons(port)), want);
	return s;
}

/* udp_lib_lport_inuse: sharing needs SO_REUSEPORT on both and one uid. */
START_TEST(reuseport_binding_rules)
{
	uint32_t a = rp_sock(1000, LO, 5000, 0), n = sock_open();

	(void)a;
	rp_sock(1000, LO, 5000, 0);
	rp_sock(1001, LO, 5000, -EADDRINUSE);  /* another uid */
	rp_sock(1000, 0, 5000, 0);              /* ANY overlaps, same uid: shared */
	ck_assert_int_eq(udp_bind(t, OWNER, n, &h, LO, htons(5000)), -EADDRINUSE); /* no flag */
	ck_assert_int_eq(udp_sock_set_uid(t, OWNER + 1, n, 1), -EBADF);
	/* A group member got its port with the flag: RP_GROUP; without the flag, never. */
	ck_assert(t->sock[udp_sid_idx(a)].ext.flags & UDP_EXT_F_RP_GROUP);
	ck_assert_int_eq(udp_bind(t, OWNER, n, &h, LO, htons(5001)), 0);
	ck_assert(!(t->sock[udp_sid_idx(n)].ext.flags & UDP_EXT_F_RP_GROUP));
}
END_TEST

/* reuseport_select_sock: every flow always reaches the same member, flows spread over the
 * group, a connected socket keeps its own 4-tuple, the other address and uid stay apart. */
START_TEST(reuseport_spreads_flows)
{
	enum { N = 4, FLOWS = 256 };
	uint32_t g[N], per[N] = {0};
	uint32_t other = rp_sock(1000, OUR, 6000, 0); /* same port, another address */

	for (unsigned i = 0; i < N; i++)
		g[i] = rp_sock(1000, LO, 6000, 0);
	for (unsigned f = 0; f < FLOWS; f++) {
		uint16_t sport = htons((uint16_t)(40000 + f));
		int idx = udp_lookup(t, LO, htons(6000), LO, sport);
		unsigned k;

		ck_assert_int_ge(idx, 0);
		ck_assert_int_eq(udp_lookup(t, LO, htons(6000), LO, sport), idx);
		for (k = 0; k < N; k++)
			if (udp_sid_idx(g[k]) == (unsigned)idx)
				break;
		ck_assert_uint_lt(k, N);
		per[k]++;
	}
	/* 256 flows over 4 sockets: each gets a fair share (binomial, p = 1/4: 64 +- 7). */
	for (unsigned k = 0; k < N; k++)
		ck_assert_msg(per[k] >= 32 && per[k] <= 96, "member %u got %u of %u flows", k,
			      per[k], FLOWS);
	ck_assert_int_eq(udp_lookup(t, OUR, htons(6000), PEER, htons(1)),
			 (int)udp_sid_idx(other));
	/* A connected member is chosen for its own peer by score, not by the hash. */
	ck_assert_int_eq(udp_connect(t, OWNER, g[2], &h, LO, htons(7777)), 0);
	for (unsigned f = 0; f < 16; f++)
		ck_assert_int_eq(udp_lookup(t, LO, htons(6000), LO, htons(7777)),
				 (int)udp_sid_idx(g[2]));
	/* A new key moves flows, never onto a socket outside the group. */
	udp_txn_begin(t);
	udp_ports_w(t)->reuseport_secret ^= 0x5a5a5a5au;
	udp_txn_end(t);
	ck_assert_int_eq(udp_table_check(t), 0);
	for (unsigned f = 0; f < 64; f++) {
		int idx = udp_lookup(t, LO, htons(6000), LO, htons((uint16_t)(41000 + f)));

		ck_assert(idx == (int)udp_sid_idx(g[0]) || idx == (int)udp_sid_idx(g[1]) ||
			  idx == (int)udp_sid_idx(g[3]));
	}
}
END_TEST

/* A quoted datagram (IPv4 header + UDP header + payload) from src:sport to dst:dport. */
static size_t quote(uint8_t *q, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		    size_t payload)
{
	struct ipv4_hdr ih = {.ver_ihl = 0x45, .proto = IPV4_PROTO_UDP, .saddr = src, .daddr = dst,
			      .tot_len = htons((uint16_t)(28 + payload))};
	struct udp_hdr uh = {.sport = htons(sport), .dport = htons(dport),
			     .len = htons((uint16_t)(8 + payload))};

	memcpy(q, &ih, 20);
	memcpy(q + 20, &uh, 8);
	memset(q + 28, 'p', payload);
	return 28 + payload;
}

/* __udp4_lib_err with IP_RECVERR: every error, soft or hard, connected or not, is the pending
 * error and a report for the error queue, with what ip_recv_error returns. */
START_TEST(recverr_reports_every_error)
{
	uint32_t s = sock_open();
	struct udp_icmp_report rep;
	uint8_t q[64];
	size_t qlen;
	uint16_t port;

	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(7000)), 0);
	port = 7000;
	qlen = quote(q, OUR, port, PEER, 9, 5);
	/* Unconnected without IP_RECVERR: nothing. */
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, q, qlen, &rep),
			 -ENOENT);
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_RECVERR, 1), 0);
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, q, qlen, &rep),
			 0);
	ck_assert(rep.queue);
	ck_assert_uint_eq(rep.sid, s);
	ck_assert_uint_eq(rep.err, ECONNREFUSED);
	ck_assert_uint_eq(rep.type, ICMP_DEST_UNREACH);
	ck_assert_uint_eq(rep.code, ICMP_UNREACH_PORT);
	ck_assert_uint_eq(rep.info, 0);
	ck_assert_uint_eq(rep.daddr, PEER);
	ck_assert_uint_eq(rep.dport, htons(9));
	ck_assert_uint_eq(rep.payload_off, 28);
	ck_assert_uint_eq(t->sock[udp_sid_idx(s)].pending_error, ECONNREFUSED);
	/* Soft errors too (host unreachable, time exceeded). */
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, q, qlen, &rep),
			 0);
	ck_assert_uint_eq(rep.err, EHOSTUNREACH);
	ck_assert_int_eq(udp_icmp_error(t, ICMP_TIME_EXCEEDED, 0, 0, q, qlen, &rep), 0);
	ck_assert_uint_eq(rep.err, EHOSTUNREACH);
	/* Fragmentation needed: ee_info is the next-hop MTU (RFC 1191)... */
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_NEEDFRAG, htonl(1400),
					q, qlen, &rep),
			 0);
	ck_assert_uint_eq(rep.err, EMSGSIZE);
	ck_assert_uint_eq(rep.info, 1400);
	/* ...and ignored altogether with IP_PMTUDISC_DONT. */
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT), 0);
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_NEEDFRAG, htonl(1400),
					q, qlen, &rep),
			 -ENOENT);
	/* A parameter problem's pointer. */
	ck_assert_int_eq(udp_icmp_error(t, ICMP_PARAM_PROBLEM, 0, htonl(20u << 24), q, qlen, &rep),
			 0);
	ck_assert_uint_eq(rep.err, EPROTO);
	ck_assert_uint_eq(rep.info, 20);
	ck_assert_uint_eq(t->stats.icmp_err_queued, 5);
	/* The shell dequeued one: the pending error becomes the next entry's, or 0. */
	udp_errq_dequeued(t, s, ECONNREFUSED);
	ck_assert_uint_eq(t->sock[udp_sid_idx(s)].pending_error, ECONNREFUSED);
	udp_errq_dequeued(t, s, 0);
	ck_assert_int_eq(udp_take_error(t, OWNER, s), 0);
	/* Without IP_RECVERR a connected socket hears of hard errors only, queued nowhere. */
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_RECVERR, 0), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, q, qlen, &rep),
			 -ENOENT);
	ck_assert_int_eq(udp_icmp_error(t, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, q, qlen, &rep),
			 0);
	ck_assert(!rep.queue);
}
END_TEST

/* The extension is part of the socket's sealed record: a value out of range fails the record's
 * check even with an intact seal (each corruption is resealed, as a bug writing a consistent
 * but wrong record would leave it), and recovery drops that record alone. */
START_TEST(table_check_sees_the_extension)
{
	uint32_t s = sock_open(), other = sock_open();
	struct udp_sock *sk = &t->sock[udp_sid_idx(s)];
	struct udp_sock_ext *x = &sk->ext;
	struct udp_sock_ext keep = *x;

#define EXT_CORRUPT(stmt)                                                                    \
	do {                                                                                 \
		stmt;                                                                        \
		state_rec_seal(&sk->rec, UDP_SOCK_SEALED);                                   \
		ck_assert_int_eq(udp_table_check(t), -EINVAL);                               \
		*x = keep;                                                                   \
		state_rec_seal(&sk->rec, UDP_SOCK_SEALED);                                   \
		ck_assert_int_eq(udp_table_check(t), 0);                                     \
	} while (0)
	ck_assert_int_eq(udp_table_check(t), 0);
	EXT_CORRUPT(x->flags |= 0x80000000u);
	EXT_CORRUPT(x->pmtudisc = 6);
	EXT_CORRUPT(x->rcvlowat = 0);
	EXT_CORRUPT(x->saddr = OUR); /* an address on an unbound socket */
	EXT_CORRUPT(x->flags |= UDP_EXT_F_RP_GROUP); /* a group without a port */
#undef EXT_CORRUPT
	/* Unsealed, the extension is a torn record too. */
	x->ttl = 9;
	ck_assert_int_eq(udp_table_check(t), -EINVAL);
	*x = keep;
	ck_assert_int_eq(udp_table_check(t), 0);
	ck_assert_int_eq(udp_table_recover(t, NULL, 0), 0);
	/* Options and the reuseport key survive a recovery. */
	ck_assert_int_eq(set_int(s, IPPROTO_IP, IP_TTL, 9), 0);
	ck_assert_int_eq(udp_table_recover(t, NULL, 0), 0);
	ck_assert_int_eq(get_int(s, IPPROTO_IP, IP_TTL), 9);
	ck_assert_uint_eq(t->ports.reuseport_secret, 0x1234567u);
	udp_reuseport_seed(t, 99);
	ck_assert_uint_eq(t->ports.reuseport_secret, 0x1234567u);
	ck_assert_uint_eq(t->stats.state_records_dropped, 0);
	/* A record whose options are bad is dropped alone; its neighbour keeps its own. */
	ck_assert_int_eq(set_int(other, IPPROTO_IP, IP_TOS, 0x10), 0);
	x->pmtudisc = 6;
	state_rec_seal(&sk->rec, UDP_SOCK_SEALED);
	ck_assert_int_eq(udp_table_recover(t, NULL, 0), 0);
	ck_assert_uint_eq(t->stats.state_records_dropped, 1);
	ck_assert_ptr_null(udp_sock_get(t, OWNER, s));
	ck_assert_int_eq(get_int(other, IPPROTO_IP, IP_TOS), 0x10);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_opt");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ip_defaults);
	tcase_add_test(tc, ip_value_sizes);
	tcase_add_test(tc, ip_ranges);
	tcase_add_test(tc, ip_tos_sets_priority);
	tcase_add_test(tc, socket_level_values);
	tcase_add_test(tc, timestamps);
	tcase_add_test(tc, ip_mtu_of_the_route);
	tcase_add_test(tc, reuseport_binding_rules);
	tcase_add_test(tc, reuseport_spreads_flows);
	tcase_add_test(tc, recverr_reports_every_error);
	tcase_add_test(tc, table_check_sees_the_extension);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
