/* test_udp_output: the sending side of the UDP core (servers/udp/udp_output.c) — autobind,
 * destinations (connected, sendto on a connected socket), every sendmsg error and its order,
 * the pending error, corking by MSG_MORE and UDP_CORK (sums, fixed destination, the 65,507-byte
 * bound, a failure discarding the pending datagram), the header and its checksum over chains
 * split at odd points (checked against a reference and by a round trip through udp_input), and
 * the send counters. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "checksum.h"
#include "helper_pool.h"
#include "udp_core.h"
#include "udp_priv.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define OWNER 7u

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(192, 0, 2, 10)
#define PEER ip4(192, 0, 2, 20)
#define FAR ip4(198, 51, 100, 7)
#define SUBNET_BCAST ip4(192, 0, 2, 255)
#define BCAST ip4(255, 255, 255, 255)
#define MDNS ip4(224, 0, 0, 251)

static struct udp_table *t;
static struct udp_host h;
static struct pool *pool;
static struct udp_tx tx;

static void setup(void)
{
	t = malloc(sizeof(*t));
	ck_assert_ptr_nonnull(t);
	udp_table_init(t);
	/* 192.0.2.10/24 with a default route through 192.0.2.1, MTU 1500. */
	ck_assert_int_eq(udp_host_init(&h, OUR, 24, ip4(192, 0, 2, 1), 1500), 0);
	pool = tpool_new(128, POOL_HOLDER_UDPD);
}

static void teardown(void)
{
	tpool_destroy(&pool);
	free(t);
	t = NULL;
}

static uint32_t sock_open(void)
{
	uint32_t sid;

	ck_assert_int_eq(udp_socket_open(t, OWNER, &sid), 0);
	return sid;
}

static const struct udp_sock *sk(uint32_t sid)
{
	const struct udp_sock *s = udp_sock_get(t, OWNER, sid);

	ck_assert_ptr_nonnull(s);
	return s;
}

static void set_int(uint32_t sid, int level, int name, int v)
{
	ck_assert_int_eq(udp_setopt(t, OWNER, sid, level, name, &v, sizeof(v)), 0);
}

/* sendto(daddr:dport) of len bytes with flags. */
static int send_to(uint32_t sid, uint32_t daddr, uint16_t dport, uint32_t len, int flags)
{
	struct udp_send s = {.has_addr = true, .daddr = daddr, .dport = htons(dport),
			     .payload_len = len, .flags = flags};

	return udp_output(t, OWNER, sid, &h, &s, &tx);
}

/* send() of len bytes with flags. */
static int send_(uint32_t sid, uint32_t len, int flags)
{
	struct udp_send s = {.payload_len = len, .flags = flags};

	return udp_output(t, OWNER, sid, &h, &s, &tx);
}

static void expect_emit(uint32_t saddr, uint32_t daddr, uint16_t sport_be, uint16_t dport,
			uint32_t len, uint32_t corked)
{
	ck_assert(tx.emit);
	ck_assert(!tx.cork_append);
	ck_assert(!tx.cork_drop);
	ck_assert_uint_eq(tx.saddr, saddr);
	ck_assert_uint_eq(tx.daddr, daddr);
	ck_assert_uint_eq(tx.sport, sport_be);
	ck_assert_uint_eq(tx.dport, htons(dport));
	ck_assert_uint_eq(tx.len, len);
	ck_assert_uint_eq(tx.corked_len, corked);
}

static void expect_corked(void)
{
	ck_assert(!tx.emit);
	ck_assert(tx.cork_append);
	ck_assert(!tx.cork_drop);
}

static void expect_nothing(void)
{
	ck_assert(!tx.emit);
	ck_assert(!tx.cork_append);
	ck_assert(!tx.cork_drop);
}

/* --- destinations --- */

START_TEST(sendto_autobinds_and_emits)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(send_to(s, PEER, 9, 100, 0), 0);
	ck_assert_uint_ge(ntohs(sk(s)->lport), 32768);
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND); /* not locked, laddr stays ANY */
	ck_assert_uint_eq(sk(s)->laddr, 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 100, 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
	/* The same port next time. */
	ck_assert_int_eq(send_to(s, FAR, 10, 0, 0), 0);
	expect_emit(OUR, FAR, sk(s)->lport, 10, 0, 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 2);
}
END_TEST

START_TEST(send_connected_and_sendto_on_connected)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(5000)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	ck_assert_int_eq(send_(s, 10, 0), 0);
	expect_emit(OUR, PEER, htons(5000), 9, 10, 0);
	/* Linux UDP takes an address on a connected socket and uses it (no EISCONN). */
	ck_assert_int_eq(send_to(s, FAR, 11, 20, 0), 0);
	expect_emit(OUR, FAR, htons(5000), 11, 20, 0);
	/* Connected to port 0: send() goes to port 0, as Linux. */
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, 0), 0);
	ck_assert_int_eq(send_(s, 1, 0), 0);
	expect_emit(OUR, PEER, htons(5000), 0, 1, 0);
}
END_TEST

START_TEST(send_from_broadcast_bound_socket)
{
	uint32_t s = sock_open();

	set_int(s, SOL_SOCKET, SO_BROADCAST, 1);
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, BCAST, htons(68)), 0);
	ck_assert_int_eq(send_to(s, BCAST, 67, 300, 0), 0);
	expect_emit(OUR, BCAST, htons(68), 67, 300, 0); /* source: our address, not the bcast */
	ck_assert_int_eq(send_to(s, SUBNET_BCAST, 67, 300, 0), 0);
	expect_emit(OUR, SUBNET_BCAST, htons(68), 67, 300, 0);
	/* Multicast needs no SO_BROADCAST. */
	set_int(s, SOL_SOCKET, SO_BROADCAST, 0);
	ck_assert_int_eq(send_to(s, MDNS, 5353, 30, 0), 0);
	expect_emit(OUR, MDNS, htons(68), 5353, 30, 0);
}
END_TEST

/* --- errors --- */

START_TEST(send_errors)
{
	uint32_t s = sock_open();
	uint16_t port;

	ck_assert_int_eq(send_(s, 10, 0), -EDESTADDRREQ);
	expect_nothing();
	/* inet_sendmsg autobinds before udp_sendmsg checks anything: the failed send kept it. */
	ck_assert(sk(s)->flags & UDP_SOCK_F_BOUND);
	port = sk(s)->lport;
	ck_assert_int_eq(send_to(s, PEER, 0, 10, 0), -EINVAL);
	ck_assert_int_eq(send_to(s, PEER, 9, 65508, 0), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, PEER, 9, 70000, 0), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, BCAST, 9, 10, 0), -EACCES);
	ck_assert_int_eq(send_to(s, SUBNET_BCAST, 9, 10, 0), -EACCES);
	ck_assert_int_eq(send_to(s, ip4(127, 255, 255, 255), 9, 10, 0), -EACCES);
	ck_assert_int_eq(send_to(s, PEER, 9, 10, MSG_OOB), -EOPNOTSUPP);
	/* Linux's order: over 65,535 before MSG_OOB and the address, the 65,507 bound after
	 * the route. */
	ck_assert_int_eq(send_to(s, PEER, 9, 70000, MSG_OOB), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, BCAST, 9, 70000, 0), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, BCAST, 9, 65508, 0), -EACCES);
	ck_assert_int_eq(send_(s, 70000, 0), -EMSGSIZE);
	/* Nothing was corked or counted by any of them, and the port stayed. */
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND);
	ck_assert_uint_eq(sk(s)->lport, port);
	ck_assert_uint_eq(t->stats.out_datagrams, 0);
	/* The largest datagram passes; SO_BROADCAST opens broadcast. */
	ck_assert_int_eq(send_to(s, PEER, 9, 65507, 0), 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 65507, 0);
	set_int(s, SOL_SOCKET, SO_BROADCAST, 1);
	ck_assert_int_eq(send_to(s, BCAST, 9, 10, 0), 0);
	ck_assert_int_eq(send_to(s, SUBNET_BCAST, 9, 10, 0), 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 3);
}
END_TEST

/* The route at the call (Linux ip_route_output in udp_sendmsg): no route is ENETUNREACH, a
 * 127/8 source never leaves by the NIC, our own address and 127/8 go through lo, 0.0.0.0 is
 * this host. */
START_TEST(send_routes)
{
	struct udp_host nogw;
	uint32_t s = sock_open(), lo;

	ck_assert_int_eq(udp_host_init(&nogw, OUR, 24, 0, 1500), 0);
	struct udp_send far = {.has_addr = true, .daddr = FAR, .dport = htons(9), .payload_len = 1};
	ck_assert_int_eq(udp_output(t, OWNER, s, &nogw, &far, &tx), -ENETUNREACH);
	far.daddr = BCAST; /* the limited broadcast needs a route, as in Linux */
	ck_assert_int_eq(udp_output(t, OWNER, s, &nogw, &far, &tx), -ENETUNREACH);
	far.daddr = MDNS;
	ck_assert_int_eq(udp_output(t, OWNER, s, &nogw, &far, &tx), -ENETUNREACH);
	ck_assert_uint_eq(t->stats.out_datagrams, 0);
	/* Through lo, from lo's or our address. */
	ck_assert_int_eq(send_to(s, ip4(127, 0, 0, 1), 9, 10, 0), 0);
	expect_emit(ip4(127, 0, 0, 1), ip4(127, 0, 0, 1), sk(s)->lport, 9, 10, 0);
	ck_assert_int_eq(send_to(s, OUR, 9, 10, 0), 0);
	expect_emit(OUR, OUR, sk(s)->lport, 9, 10, 0);
	ck_assert_int_eq(send_to(s, 0, 9, 10, 0), 0);
	expect_emit(ip4(127, 0, 0, 1), ip4(127, 0, 0, 1), sk(s)->lport, 9, 10, 0);
	/* Bound to 127.0.0.1: only lo's destinations. */
	lo = sock_open();
	ck_assert_int_eq(udp_bind(t, OWNER, lo, &h, ip4(127, 0, 0, 1), 0), 0);
	ck_assert_int_eq(send_to(lo, PEER, 9, 10, 0), -EINVAL);
	ck_assert_int_eq(send_to(lo, OUR, 9, 10, 0), 0);
	expect_emit(ip4(127, 0, 0, 1), OUR, sk(lo)->lport, 9, 10, 0);
}
END_TEST

/* IP_TTL, IP_TOS, IP_MULTICAST_TTL and IP_MTU_DISCOVER reach the datagram (Linux
 * __ip_make_skb and ip_append_data). */
START_TEST(send_ip_parameters)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(send_to(s, PEER, 9, 1472, 0), 0);
	ck_assert_uint_eq(tx.ttl, 0); /* ipd's default */
	ck_assert_uint_eq(tx.tos, 0);
	ck_assert(tx.df);             /* IP_PMTUDISC_WANT and it fits */
	ck_assert_int_eq(send_to(s, PEER, 9, 1473, 0), 0);
	ck_assert(!tx.df);            /* WANT and it does not: fragmented */
	set_int(s, IPPROTO_IP, IP_TTL, 7);
	set_int(s, IPPROTO_IP, IP_TOS, 0x2b);
	ck_assert_int_eq(send_to(s, PEER, 9, 10, 0), 0);
	ck_assert_uint_eq(tx.ttl, 7);
	ck_assert_uint_eq(tx.tos, 0x2b);
	ck_assert_int_eq(send_to(s, MDNS, 9, 10, 0), 0);
	ck_assert_uint_eq(tx.ttl, 1); /* IP_MULTICAST_TTL */
	set_int(s, IPPROTO_IP, IP_MULTICAST_TTL, 0);
	ck_assert_int_eq(send_to(s, MDNS, 9, 10, 0), 0);
	ck_assert(!tx.emit);          /* TTL 0 never leaves the host */
	set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	ck_assert_int_eq(send_to(s, PEER, 9, 1473, 0), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, PEER, 9, 1472, 0), 0);
	ck_assert(tx.df);
	ck_assert_int_eq(send_to(s, ip4(127, 0, 0, 1), 9, 60000, 0), 0); /* lo's MTU is 65,536 */
	set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_INTERFACE);
	ck_assert_int_eq(send_to(s, PEER, 9, 1473, 0), -EMSGSIZE);
	ck_assert_int_eq(send_to(s, PEER, 9, 1472, 0), 0);
	ck_assert(!tx.df);
	set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
	ck_assert_int_eq(send_to(s, PEER, 9, 1472, 0), 0);
	ck_assert(!tx.df);
	set_int(s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
	ck_assert_int_eq(send_to(s, PEER, 9, 100, 0), 0);
	ck_assert(tx.df);
}
END_TEST

START_TEST(pending_error_reported_once)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	t->sock[udp_sid_idx(s)].pending_error = ECONNREFUSED;
	/* An argument error comes first and leaves the pending error in place. */
	ck_assert_int_eq(send_to(s, PEER, 0, 1, 0), -EINVAL);
	ck_assert_int_eq(send_(s, 1, 0), -ECONNREFUSED);
	expect_nothing();
	ck_assert_int_eq(send_(s, 1, 0), 0);
	ck_assert(tx.emit);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
}
END_TEST

/* --- corking --- */

START_TEST(cork_msg_more_sums_to_first_destination)
{
	uint32_t s = sock_open();
	uint16_t sport;

	ck_assert_int_eq(send_to(s, PEER, 9, 100, MSG_MORE), 0);
	expect_corked();
	sport = sk(s)->lport;
	ck_assert_uint_ne(sport, 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 200, MSG_MORE), 0);
	expect_corked();
	/* Later addresses are ignored while corked (Linux), even an invalid one. */
	ck_assert_int_eq(send_to(s, FAR, 0, 300, MSG_MORE), 0);
	expect_corked();
	ck_assert_uint_eq(sk(s)->cork_len, 600);
	ck_assert_uint_eq(t->stats.out_datagrams, 0);
	ck_assert_int_eq(send_to(s, FAR, 1, 400, 0), 0);
	expect_emit(OUR, PEER, sport, 9, 1000, 600);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
	ck_assert_uint_eq(sk(s)->flags & UDP_SOCK_F_CORK_PENDING, 0);
	ck_assert_uint_eq(sk(s)->cork_len, 0);
	/* The next datagram stands alone. */
	ck_assert_int_eq(send_to(s, FAR, 1, 5, 0), 0);
	expect_emit(OUR, FAR, sport, 1, 5, 0);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

START_TEST(cork_bounded_by_max_payload)
{
	uint32_t s = sock_open();

	/* Exactly 65,507 in two pieces is fine. */
	ck_assert_int_eq(send_to(s, PEER, 9, 65000, MSG_MORE), 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 507, 0), 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 65507, 65000);
	/* One byte more: EMSGSIZE and the whole pending datagram is gone (Linux flushes). */
	ck_assert_int_eq(send_to(s, PEER, 9, 60000, MSG_MORE), 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 5000, MSG_MORE), 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 508, 0), -EMSGSIZE);
	ck_assert(tx.cork_drop);
	ck_assert(!tx.emit && !tx.cork_append);
	ck_assert_uint_eq(sk(s)->flags & UDP_SOCK_F_CORK_PENDING, 0);
	ck_assert_uint_eq(sk(s)->cork_len, 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
	/* Over 65,535 in one call is refused before the cork is looked at: it survives. */
	ck_assert_int_eq(send_to(s, PEER, 9, 10, MSG_MORE), 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 70000, MSG_MORE), -EMSGSIZE);
	ck_assert(!tx.cork_drop);
	ck_assert_int_eq(send_to(s, PEER, 9, 10, 0), 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 20, 10);
}
END_TEST

START_TEST(cork_failed_first_send_corks_nothing)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(send_(s, 10, MSG_MORE), -EDESTADDRREQ);
	ck_assert_int_eq(send_to(s, BCAST, 9, 10, MSG_MORE), -EACCES);
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND); /* autobound, nothing corked */
	ck_assert_uint_eq(sk(s)->cork_len, 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 10, 0), 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 10, 0);
}
END_TEST

START_TEST(cork_pending_error_discards)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	ck_assert_int_eq(send_(s, 10, MSG_MORE), 0);
	t->sock[udp_sid_idx(s)].pending_error = ECONNREFUSED;
	ck_assert_int_eq(send_(s, 10, 0), -ECONNREFUSED);
	ck_assert(tx.cork_drop);
	ck_assert_uint_eq(sk(s)->pending_error, 0);
	ck_assert_uint_eq(sk(s)->flags & UDP_SOCK_F_CORK_PENDING, 0);
}
END_TEST

START_TEST(udp_cork_option_and_push)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	/* Nothing pending: push emits nothing. */
	ck_assert_int_eq(udp_push_pending(t, &h, OWNER, s, &tx), 0);
	expect_nothing();
	set_int(s, SOL_UDP, UDP_CORK, 1);
	ck_assert_int_eq(send_(s, 10, 0), 0);
	expect_corked();
	ck_assert_int_eq(send_(s, 20, 0), 0);
	expect_corked();
	set_int(s, SOL_UDP, UDP_CORK, 0);
	ck_assert_int_eq(udp_push_pending(t, &h, OWNER, s, &tx), 0);
	expect_emit(OUR, PEER, sk(s)->lport, 9, 30, 30);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
	ck_assert_int_eq(udp_push_pending(t, &h, OWNER, s, &tx), 0);
	expect_nothing();
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
}
END_TEST

/* The corked datagram keeps the endpoints it started with, even if the socket is disconnected
 * (and so unbound) before it goes out: Linux keeps them in the cork's flow. */
START_TEST(cork_survives_disconnect)
{
	uint32_t s = sock_open();
	uint16_t sport;

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(9)), 0);
	sport = sk(s)->lport;
	ck_assert_int_eq(send_(s, 10, MSG_MORE), 0);
	ck_assert_int_eq(udp_disconnect(t, OWNER, s), 0);
	ck_assert_uint_eq(sk(s)->lport, 0);
	ck_assert_int_eq(udp_table_check(t), 0);
	ck_assert_int_eq(send_(s, 5, 0), 0);
	expect_emit(OUR, PEER, sport, 9, 15, 10);
}
END_TEST

/* --- header and counters --- */

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

START_TEST(header_fill_over_odd_chain)
{
	static uint8_t flat[8 + 5001];
	const size_t pieces[] = {1, 1, 777, 3, 2000, 2000, 219};
	struct buf *chain = NULL;
	size_t at = 8;
	uint8_t hdr[8];
	uint32_t s = sock_open();
	struct udp_rx *rx = malloc(sizeof(*rx));

	ck_assert_ptr_nonnull(rx);
	for (size_t i = 8; i < sizeof(flat); i++)
		flat[i] = (uint8_t)(i * 31 + 7);
	/* The payload sits after a 13-byte prefix in the chain: payload_off is odd too. */
	chain = tpool_frame(pool, "0123456789abc", 13);
	for (unsigned k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct buf *b = tpool_frame(pool, flat + at, pieces[k]);

		ck_assert_int_eq(buf_chain_append(chain, &b), 0);
		at += pieces[k];
	}
	ck_assert_uint_eq(at, sizeof(flat));
	udp_header_fill(hdr, PEER, OUR, htons(1234), htons(53), chain, 13, 5001);
	ck_assert_uint_eq(hdr[0] << 8 | hdr[1], 1234);
	ck_assert_uint_eq(hdr[2] << 8 | hdr[3], 53);
	ck_assert_uint_eq(hdr[4] << 8 | hdr[5], 8 + 5001);
	memcpy(flat, hdr, 8);
	ck_assert_uint_eq(ref_csum(PEER, OUR, flat, sizeof(flat)), 0);
	ck_assert_uint_ne(hdr[6] << 8 | hdr[7], 0);

	/* Round trip: IPv4 header + this header + the payload chain, through udp_input. */
	{
		uint8_t ip[28] = {0x45};
		struct buf *pkt;
		struct buf *rest = buf_chain_split(chain); /* drop the 13-byte prefix */
		struct desc d = {.l4_off = 20, .saddr = PEER, .daddr = OUR};

		pool_free(&chain);
		memcpy(ip + 20, hdr, 8);
		pkt = tpool_frame(pool, ip, sizeof(ip));
		ck_assert_int_eq(buf_chain_append(pkt, &rest), 0);
		d.len = buf_chain_len(pkt);
		ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(53)), 0);
		ck_assert_int_eq(udp_input(t, &d, pkt, rx), 0);
		ck_assert_uint_eq(rx->n_sids, 1);
		ck_assert_uint_eq(rx->sids[0], s);
		ck_assert_uint_eq(rx->payload_len, 5001);
		pool_free(&pkt);
	}
	/* An empty datagram: no payload chain at all. */
	udp_header_fill(hdr, PEER, OUR, htons(1), htons(2), NULL, 0, 0);
	ck_assert_uint_eq(ref_csum(PEER, OUR, hdr, 8), 0);
	ck_assert_uint_eq(hdr[4] << 8 | hdr[5], 8);
	free(rx);
}
END_TEST

/* A partial checksum (checksum offload) completed as the device does it, by summing header
 * and payload over the pseudo-header sum in the field, gives a datagram whose checksum is
 * right by the reference, and the same field as the full computation; lengths odd and even,
 * an empty payload, and a payload that makes the full sum come out 0 (sent as 0xffff). */
START_TEST(header_fill_partial_completes)
{
	static const size_t lens[] = {0, 1, 2, 63, 64, 1472, 1999};
	uint8_t flat[8 + 1999], full[8];

	for (size_t i = 8; i < sizeof(flat); i++)
		flat[i] = (uint8_t)(i * 17 + 3);
	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];
		struct buf *pl = n ? tpool_frame(pool, flat + 8, n) : NULL;

		udp_header_fill_partial(flat, PEER, OUR, htons(4000), htons(53), n);
		ck_assert_uint_eq(flat[4] << 8 | flat[5], 8 + n);
		/* Complete it: sum [csum_start, end) with the field as it is, fold, invert. */
		uint16_t c = csum_fold(csum_partial(flat, 8 + n, 0));
		if (c == 0)
			c = 0xffff;
		flat[UDP_CSUM_OFFSET] = (uint8_t)(c >> 8);
		flat[UDP_CSUM_OFFSET + 1] = (uint8_t)c;
		ck_assert_uint_eq(ref_csum(PEER, OUR, flat, 8 + n), 0);
		udp_header_fill(full, PEER, OUR, htons(4000), htons(53), pl, 0, n);
		ck_assert_mem_eq(full, flat, 8);
		pool_free(&pl);
	}
	/* A payload whose full sum is 0: the two bytes that cancel everything else. */
	{
		uint8_t d[8 + 2] = {0};
		struct buf *pl;
		uint16_t c;

		udp_header_fill_partial(d, PEER, OUR, htons(4000), htons(53), 2);
		c = csum_fold(csum_partial(d, 8, 0)); /* what the payload must sum to, inverted */
		d[8] = (uint8_t)(c >> 8);
		d[9] = (uint8_t)c;
		pl = tpool_frame(pool, d + 8, 2);
		udp_header_fill(full, PEER, OUR, htons(4000), htons(53), pl, 0, 2);
		ck_assert_uint_eq(full[6] << 8 | full[7], 0xffff);
		pool_free(&pl);
	}
}
END_TEST

START_TEST(sndbuf_drop_counts)
{
	uint32_t s = sock_open();

	ck_assert_int_eq(send_to(s, PEER, 9, 10, 0), 0);
	ck_assert_int_eq(send_to(s, PEER, 9, 10, 0), 0);
	udp_tx_sndbuf_drop(t, s);
	ck_assert_uint_eq(t->stats.out_datagrams, 1);
	ck_assert_uint_eq(t->stats.sndbuf_errors, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_output");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sendto_autobinds_and_emits);
	tcase_add_test(tc, send_connected_and_sendto_on_connected);
	tcase_add_test(tc, send_from_broadcast_bound_socket);
	tcase_add_test(tc, send_errors);
	tcase_add_test(tc, send_routes);
	tcase_add_test(tc, send_ip_parameters);
	tcase_add_test(tc, pending_error_reported_once);
	tcase_add_test(tc, cork_msg_more_sums_to_first_destination);
	tcase_add_test(tc, cork_bounded_by_max_payload);
	tcase_add_test(tc, cork_failed_first_send_corks_nothing);
	tcase_add_test(tc, cork_pending_error_discards);
	tcase_add_test(tc, udp_cork_option_and_push);
	tcase_add_test(tc, cork_survives_disconnect);
	tcase_add_test(tc, header_fill_over_odd_chain);
	tcase_add_test(tc, header_fill_partial_completes);
	tcase_add_test(tc, sndbuf_drop_counts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
