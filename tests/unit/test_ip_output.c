/* test_ip_output: ip_output of the IPv4 core (servers/ip/ipv4_output.c, route.c, with arp.c and
 * ip_frag.c behind it) — the header it builds, on-link delivery through ARP, the gateway, no
 * route, broadcast and multicast, fragmentation, DF, invalid requests, missing headroom, a full
 * struct ip_out, and checksum completion for transports. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "helper_check.h"
#include "helper_ip.h"
#include "helper_pool.h"
#include "ip_core.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

static struct tip_fx fx;
static const uint8_t zero6[6];

static void setup(void)
{
	tip_fx_setup(&fx, NULL);
}

static void teardown(void)
{
	tip_fx_teardown(&fx);
}

static const struct ip_stats *st(void)
{
	return ip_core_stats(fx.core);
}

static void expect_payload(const uint8_t *p, size_t len, uint8_t marker)
{
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(p[i] == (uint8_t)(marker + i), "payload byte %zu", i);
}

START_TEST(on_link_unknown_mac_queues_then_flushes)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	const struct ipv4_hdr *h;

	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 100, 5), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_bcast_mac, ARP_OP_REQUEST, tip_our_mac, TIP_OUR_IP, zero6,
		       TIP_PEER_IP);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 1 * TIP_SEC);
	tip_out_reset(&fx.out);

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 14 + 20 + 100);
	h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(h->ttl, 64);
	ck_assert_uint_eq(h->tos, 0);
	ck_assert_uint_eq(ntohs(h->frag_off), 0);
	expect_payload(f + 34, 100, 5);
	ck_assert_uint_eq(st()->ip_out_requests, 1);
	/* The cache entry now sets the next deadline: its expiry. */
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 60 * TIP_SEC);
}
END_TEST

START_TEST(header_fields_from_desc)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	const struct ipv4_hdr *h;
	struct buf *b;
	struct desc d = {.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_TCP, .ttl = 7, .tos = 0x28,
			 .flags = DESC_F_IP_DF, .saddr = TIP_OUR_IP};
	uint16_t id1;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	b = tpool_frame(fx.pool, "hello", 5);
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), 0);
	ck_assert_ptr_null(b);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_TCP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(h->ttl, 7);
	ck_assert_uint_eq(h->tos, 0x28);
	ck_assert_uint_eq(ntohs(h->frag_off), IPV4_FLAG_DF);
	id1 = ntohs(h->id);
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 5, 0), 0);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(ntohs(h->id), (uint16_t)(id1 + 1));
}
END_TEST

START_TEST(remote_goes_via_gateway)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	/* The gateway's address is resolved, not the remote one's. */
	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 20, 1), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_bcast_mac, ARP_OP_REQUEST, tip_our_mac, TIP_OUR_IP, zero6,
		       TIP_GW_IP);
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_GW_IP, tip_gw_mac);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_gw_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_REMOTE_IP);
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 20, 1), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_gw_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_REMOTE_IP);
}
END_TEST

START_TEST(no_route_without_gateway)
{
	struct ip_config c;
	struct ip_route_entry r[8];

	tip_fx_teardown(&fx);
	tip_config(&c);
	c.gateway = 0;
	tip_fx_setup(&fx, &c);
	/* lo's and the NIC's local-table routes, then the connected subnet (common/route.h). */
	ck_assert_uint_eq(ip_route_dump(fx.core, r, 8), 5);
	ck_assert_uint_eq(r[4].table, ROUTE_TABLE_MAIN);
	ck_assert_uint_eq(r[4].dest, TIP_IP(10, 0, 0, 0));
	ck_assert_uint_eq(r[4].prefix_len, 24);
	ck_assert_uint_eq(r[4].gateway, 0);
	ck_assert_uint_eq(r[4].prefsrc, TIP_OUR_IP);
	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 20, 1), -ENETUNREACH);
	/* Linux: the limited broadcast and multicast need a route too. */
	ck_assert_int_eq(tip_output(&fx, 0xffffffffu, 0, 0, 20, 1), -ENETUNREACH);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(224, 0, 0, 1), 0, 0, 20, 1), -ENETUNREACH);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->ip_out_no_routes, 3);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(routes_dumped)
{
	struct ip_route_entry r[8];

	ck_assert_uint_eq(ip_route_dump(fx.core, r, 8), 6);
	ck_assert_uint_eq(r[5].dest, 0);
	ck_assert_uint_eq(r[5].prefix_len, 0);
	ck_assert_uint_eq(r[5].gateway, TIP_GW_IP);
	ck_assert_uint_eq(r[0].type, ROUTE_LOCAL);
	ck_assert_uint_eq(r[0].dest, TIP_OUR_IP);
	ck_assert_uint_eq(r[0].ifindex, ROUTE_IFINDEX_LO);
	ck_assert_uint_eq(ip_route_dump(fx.core, r, 1), 1);
}
END_TEST

/* Our own address and 127/8 go through the loopback interface: straight back up, whole,
 * checksums trusted, never to the wire; 0.0.0.0 is refused (the transport resolves it). */
START_TEST(loopback_delivers_up)
{
	const struct ipv4_hdr *h;
	struct buf *b;
	struct desc d = {.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_UDP,
			 .saddr = TIP_IP(127, 0, 0, 1)};

	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
	ck_assert_int_eq(tip_output(&fx, TIP_OUR_IP, 0, 0, 20, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(127, 0, 0, 1), 0, 0, 20, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(127, 1, 2, 3), 0, 0, 3000, 1), 0); /* no frags */
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 3);
	h = (const struct ipv4_hdr *)buf_data(fx.out.up[0]);
	ck_assert_uint_eq(h->saddr, TIP_OUR_IP);
	ck_assert_uint_eq(fx.out.up_desc[0].daddr, TIP_OUR_IP);
	ck_assert_uint_eq(fx.out.up_desc[0].ttl, 64);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, DESC_F_CSUM_VERIFIED);
	h = (const struct ipv4_hdr *)buf_data(fx.out.up[1]);
	ck_assert_uint_eq(h->saddr, TIP_IP(127, 0, 0, 1)); /* lo's preferred source */
	ck_assert_uint_eq(h->daddr, TIP_IP(127, 0, 0, 1));
	ck_assert_uint_eq(fx.out.up_desc[2].len, 3020);
	ck_assert_uint_eq(st()->ip_out_loopback, 3);
	tip_out_reset(&fx.out);

	/* A 127/8 source never leaves by the NIC (Linux: EINVAL). */
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	b = tpool_frame(fx.pool, "x", 1);
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), -EINVAL);
	tip_expect_no_tx(&fx.out);
	tpool_assert_idle(fx.pool);
}
END_TEST

/* Linux loops every broadcast back to the host's own sockets (ip_mc_output). */
START_TEST(broadcast_loops_back)
{
	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
	ck_assert_int_eq(tip_output(&fx, TIP_BCAST_IP, 0, 0, 20, 1), 0);
	ck_assert_uint_eq(fx.out.n_wire, 1);
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(fx.out.up_desc[0].daddr, TIP_BCAST_IP);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, DESC_F_BCAST | DESC_F_CSUM_VERIFIED);
	tip_out_reset(&fx.out);
	/* lo's broadcast address never reaches the wire. */
	ck_assert_int_eq(tip_output(&fx, TIP_IP(127, 255, 255, 255), 0, 0, 20, 1), 0);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(st()->ip_out_loopback, 2);
}
END_TEST

START_TEST(broadcast_and_multicast_need_no_arp)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	static const uint8_t mdns_mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};

	ck_assert_int_eq(tip_output(&fx, 0xffffffffu, 0, 0, 20, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_BCAST_IP, 0, 0, 20, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(224, 0, 0, 251), 0, 0, 20, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(239, 128, 0, 251), 0, 0, 20, 1), 0);
	tip_expect_wire_frames(&fx.out, 4);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_bcast_mac, IPV4_PROTO_UDP, TIP_OUR_IP, 0xffffffffu);
	len = tip_wire_copy(&fx.out, 1, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_bcast_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_BCAST_IP);
	len = tip_wire_copy(&fx.out, 2, f, sizeof(f));
	tip_expect_ipv4(f, len, mdns_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_IP(224, 0, 0, 251));
	len = tip_wire_copy(&fx.out, 3, f, sizeof(f)); /* only 23 bits of the group map */
	tip_expect_ipv4(f, len, mdns_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_IP(239, 128, 0, 251));
	ck_assert_uint_eq(st()->arp_tx_requests, 0);
}
END_TEST

/* Check the n frames in out are fragments of one datagram carrying len payload bytes starting
 * at marker, each within the MTU, to mac. */
static void expect_fragments(unsigned n, size_t plen, uint8_t marker, const uint8_t mac[6],
			     uint16_t mtu)
{
	uint8_t f[TIP_FRAME_MAX];
	uint8_t *back = calloc(1, plen ? plen : 1);
	size_t len, got = 0;
	uint16_t id = 0;

	ck_assert_ptr_nonnull(back);
	tip_expect_wire_frames(&fx.out, n);
	for (unsigned k = 0; k < n; k++) {
		const struct ipv4_hdr *h;
		unsigned fo, off;

		len = tip_wire_copy(&fx.out, k, f, sizeof(f));
		ck_assert_uint_le(len - 14, mtu);
		h = tip_expect_ipv4(f, len, mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
		fo = ntohs(h->frag_off);
		if (k == 0)
			id = h->id;
		ck_assert_uint_eq(h->id, id);
		ck_assert_uint_eq((fo & IPV4_FLAG_MF) != 0, k + 1 < n);
		off = (fo & IPV4_FRAG_OFF_MASK) * 8u;
		if (k + 1 < n)
			ck_assert_uint_eq((len - 34) % 8, 0);
		ck_assert_uint_le(off + len - 34, plen);
		memcpy(back + off, f + 34, len - 34);
		got += len - 34;
	}
	ck_assert_uint_eq(got, plen);
	expect_payload(back, plen, marker);
	free(back);
}

START_TEST(large_datagram_fragmented)
{
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 4000, 9), 0);
	expect_fragments(3, 4000, 9, tip_peer_mac, 1500);
	ck_assert_uint_eq(st()->ip_frag_oks, 1);
	ck_assert_uint_eq(st()->ip_frag_creates, 3);
	/* Exactly the MTU: not fragmented. */
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 1480, 9), 0);
	expect_fragments(1, 1480, 9, tip_peer_mac, 1500);
	ck_assert_uint_eq(st()->ip_frag_oks, 1);
}
END_TEST

START_TEST(largest_datagram_fragmented_after_resolution)
{
	/* 65,515 bytes of payload: the largest datagram, queued whole behind ARP. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, IPV4_MAX_LEN - 20, 200), 0);
	tip_expect_wire_frames(&fx.out, 1);
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	expect_fragments(45, IPV4_MAX_LEN - 20, 200, tip_peer_mac, 1500);
}
END_TEST

START_TEST(small_mtu)
{
	struct ip_config c;

	tip_fx_teardown(&fx);
	tip_config(&c);
	c.mtu = 576;
	tip_fx_setup(&fx, &c);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 2000, 3), 0);
	/* (576 - 20) & ~7 = 552 bytes a fragment: 4 fragments. */
	expect_fragments(4, 2000, 3, tip_peer_mac, 576);
}
END_TEST

START_TEST(df_too_big)
{
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, DESC_F_IP_DF, 1481, 0), -EMSGSIZE);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->ip_out_drop_df, 1);
	tpool_assert_idle(fx.pool);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, DESC_F_IP_DF, 1480, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
}
END_TEST

START_TEST(invalid_requests)
{
	struct buf *b;
	struct desc d = {.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_UDP, .saddr = TIP_OTHER_IP};

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	/* A source address that is not ours. */
	b = tpool_frame(fx.pool, "x", 1);
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), -EINVAL);
	ck_assert_ptr_null(b);
	/* Destination 0.0.0.0. */
	ck_assert_int_eq(tip_output(&fx, 0, 0, 0, 10, 0), -EINVAL);
	/* One byte more than fits a datagram. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, IPV4_MAX_LEN - 20 + 1, 0), -EINVAL);
	/* A checksum offset outside the packet. */
	d = (struct desc){.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_UDP,
			  .flags = DESC_F_CSUM_NEEDED, .csum_start = 0, .csum_offset = 100};
	b = tpool_frame(fx.pool, "12345678", 8);
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), -EINVAL);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->ip_out_drop_invalid, 4);
	ck_assert_uint_eq(st()->ip_out_requests, 4);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(checksum_completed_for_transport)
{
	/* A UDP datagram whose checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL). */
	uint8_t u[8 + 13], f[TIP_FRAME_MAX], ph[12];
	uint16_t seed;
	struct buf *b;
	struct desc d = {.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_UDP,
			 .flags = DESC_F_CSUM_NEEDED, .csum_start = 0, .csum_offset = 6};
	size_t len;
	uint32_t s = TIP_OUR_IP, dd = TIP_PEER_IP;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	memset(u, 0, sizeof(u));
	u[0] = 0x30, u[1] = 0x39, u[2] = 0x00, u[3] = 0x35; /* ports 12345 → 53 */
	u[4] = 0, u[5] = sizeof(u);
	memcpy(u + 8, "odd payload!!", 13);
	seed = htons((uint16_t)~csum_fold(csum_pseudo_ipv4(s, dd, IPV4_PROTO_UDP, sizeof(u))));
	memcpy(u + 6, &seed, 2);
	b = tpool_frame(fx.pool, u, sizeof(u));
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), 0);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 14 + 20 + sizeof(u));
	/* Verify independently: pseudo-header + UDP sums to 0xffff. */
	memcpy(ph, &s, 4);
	memcpy(ph + 4, &dd, 4);
	ph[8] = 0;
	ph[9] = IPV4_PROTO_UDP;
	ph[10] = 0;
	ph[11] = sizeof(u);
	{
		uint8_t all[12 + sizeof(u)];

		memcpy(all, ph, 12);
		memcpy(all + 12, f + 34, sizeof(u));
		ck_assert_uint_eq(tip_csum(all, sizeof(all)), 0);
	}
}
END_TEST

START_TEST(no_headroom_gets_a_header_buffer)
{
	struct buf *b = pool_alloc(fx.pool);
	struct desc d = {.daddr = TIP_PEER_IP, .proto = IPV4_PROTO_UDP};
	uint8_t *p, f[TIP_FRAME_MAX];
	size_t len;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_ptr_nonnull(b);
	p = buf_push(b, POOL_HEADROOM); /* data from slot offset 0: no headroom at all */
	ck_assert_ptr_nonnull(p);
	for (unsigned i = 0; i < POOL_HEADROOM; i++)
		p[i] = (uint8_t)(40 + i);
	ck_assert_uint_eq(buf_headroom(b), 0);
	ck_assert_int_eq(ip_output(fx.core, fx.now, &b, &d, &fx.out), 0);
	tip_expect_wire_frames(&fx.out, 1);
	ck_assert_uint_eq(buf_chain_count(fx.out.wire[0]), 2);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 14 + 20 + POOL_HEADROOM);
	tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
	expect_payload(f + 34, POOL_HEADROOM, 40);
}
END_TEST

START_TEST(full_out_discards)
{
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	for (unsigned i = 0; i < IP_OUT_MAX - 1; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 8, 0), 0);
	/* 3 fragments do not fit the one slot left: the datagram is dropped whole. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 4000, 0), -ENOBUFS);
	ck_assert_uint_eq(fx.out.n_wire, IP_OUT_MAX - 1);
	ck_assert_uint_eq(st()->ip_out_discards, 1);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 8, 0), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 8, 0), -ENOBUFS);
	ck_assert_uint_eq(fx.out.n_wire, IP_OUT_MAX);
	ck_assert_uint_eq(st()->ip_out_discards, 2);
	/* The shell's discard frees everything. */
	ip_out_discard(&fx.out);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(bad_configs_rejected)
{
	struct ip_config c;
	struct ip_core *core = NULL;
	struct ip_out *o = calloc(1, sizeof(*o));

	ck_assert_ptr_nonnull(o);
#define BAD(stmt)                                                                  \
	do {                                                                       \
		tip_config(&c);                                                    \
		stmt;                                                              \
		ck_assert_int_eq(ip_core_create(&c, fx.pool, fx.now, o, &core), -EINVAL); \
		ck_assert_ptr_null(core);                                          \
		ck_assert_uint_eq(o->n_wire, 0);                                   \
	} while (0)
	BAD(c.addr = 0);
	BAD(c.addr = 0xffffffffu);
	BAD(c.addr = TIP_IP(127, 0, 0, 1));
	BAD(c.addr = TIP_IP(224, 0, 0, 1));
	BAD(c.prefix_len = 33);
	BAD(c.gateway = TIP_REMOTE_IP);
	BAD(c.gateway = TIP_OUR_IP);
	BAD(c.gateway = TIP_BCAST_IP);
	BAD(c.mtu = 67);
	BAD(c.mtu = 9001);
	BAD(memset(c.mac, 0, 6));
	BAD(c.mac[0] = 0x01);
	BAD(c.arp_queue_max = 0);
	BAD(c.default_ttl = 0);
#undef BAD
	free(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ip_output");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, on_link_unknown_mac_queues_then_flushes);
	tcase_add_test(tc, header_fields_from_desc);
	tcase_add_test(tc, remote_goes_via_gateway);
	tcase_add_test(tc, no_route_without_gateway);
	tcase_add_test(tc, routes_dumped);
	tcase_add_test(tc, loopback_delivers_up);
	tcase_add_test(tc, broadcast_loops_back);
	tcase_add_test(tc, broadcast_and_multicast_need_no_arp);
	tcase_add_test(tc, large_datagram_fragmented);
	tcase_add_test(tc, largest_datagram_fragmented_after_resolution);
	tcase_add_test(tc, small_mtu);
	tcase_add_test(tc, df_too_big);
	tcase_add_test(tc, invalid_requests);
	tcase_add_test(tc, checksum_completed_for_transport);
	tcase_add_test(tc, no_headroom_gets_a_header_buffer);
	tcase_add_test(tc, full_out_discards);
	tcase_add_test(tc, bad_configs_rejected);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
