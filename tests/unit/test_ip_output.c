/* test_ip_output: ip_output of the IPv4 core (servers/ip/ipv4_output.c, route.c, with arp.c and
 * ip_frag.c behind it) — the header it builds, on-link delivery through ARP, the gateway, no
 * route, broadcast and multicast, fragmentation, DF, invalid requests, missing headroom, a full
 * struct ip_out, and checksum completion for transports.
 *
 * Offload (the "offload" case, cfg.offload on): TSO super-segments leave whole with one header
 * (total length, DF, IDs for every segment) and the descriptor nicd turns into a virtio-net
 * header, through ARP and lo too, never fragmented, refused past the MTU or when malformed;
 * partial checksums stay partial unless the datagram is fragmented; with offload off both
 * behave as before (checksums completed, super-segments refused). */
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


/* ---- offload ---------------------------------------------------------------------------- */

#define MSS 1448u
#define THLEN 32u /* TCP header with the timestamp option */

static void offload_setup(void)
{
	struct ip_config c;

	tip_config(&c);
	c.offload = true;
	tip_fx_setup(&fx, &c);
	ip_set_transport(fx.core, IPV4_PROTO_TCP, true);
	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
}

/* Pseudo-header sum (folded, not inverted, network order) as a CHECKSUM_PARTIAL sender puts in
 * the checksum field: what the device starts from. */
static uint16_t pseudo_seed(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len)
{
	return htons((uint16_t)~csum_fold(csum_pseudo_ipv4(saddr, daddr, proto, len)));
}

/* A TCP segment of plen payload bytes (byte i is marker + i) in a chain, data at the TCP header
 * (THLEN bytes, data offset doff), checksum field seeded for us -> daddr. */
static struct buf *tso_segment(uint32_t daddr, size_t plen, uint8_t marker, unsigned doff)
{
	size_t len = THLEN + plen;
	uint8_t *seg = calloc(1, len);
	uint16_t seed = pseudo_seed(TIP_OUR_IP, daddr, IPV4_PROTO_TCP, (uint16_t)len);
	struct buf *b;

	ck_assert_ptr_nonnull(seg);
	seg[0] = 0x00, seg[1] = 0x50;
	seg[2] = 0x13, seg[3] = 0x88;
	seg[12] = (uint8_t)(doff << 4);
	seg[13] = 0x18; /* PSH, ACK */
	memcpy(seg + 16, &seed, 2);
	for (size_t i = 0; i < plen; i++)
		seg[THLEN + i] = (uint8_t)(marker + i);
	b = tip_chain(fx.pool, seg, len);
	free(seg);
	return b;
}

static struct desc tso_desc(uint32_t daddr)
{
	return (struct desc){.daddr = daddr, .proto = IPV4_PROTO_TCP,
			     .flags = DESC_F_CSUM_NEEDED, .csum_start = 0, .csum_offset = 16,
			     .gso_type = DESC_GSO_TCPV4, .gso_size = MSS};
}

/* ip_output of a TSO super-segment of plen payload bytes to daddr with desc d. */
static int tso_out(const struct desc *d, size_t plen, unsigned doff)
{
	struct buf *b = tso_segment(d->daddr, plen, 9, doff);
	int rc = ip_output(fx.core, fx.now, &b, d, &fx.out);

	ck_assert_ptr_null(b);
	return rc;
}

static uint8_t wire[70000];

/* The super-segment frame i sent for plen payload bytes: one frame, the headers Linux's TSO
 * starts from, the descriptor nicd needs. Returns its IP ID. */
static uint16_t expect_tso_frame(unsigned i, size_t plen, const uint8_t dst[6])
{
	size_t len = tip_wire_copy(&fx.out, i, wire, sizeof(wire));
	const struct ipv4_hdr *h;
	const struct desc *d = &fx.out.wire_desc[i];
	uint16_t seed = pseudo_seed(TIP_OUR_IP, TIP_PEER_IP, IPV4_PROTO_TCP,
				    (uint16_t)(THLEN + plen));

	ck_assert_uint_eq(len, 14 + 20 + THLEN + plen);
	h = tip_expect_ipv4(wire, len, dst, IPV4_PROTO_TCP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(ntohs(h->tot_len), 20 + THLEN + plen); /* the whole, not a segment */
	ck_assert_uint_eq(ntohs(h->frag_off), IPV4_FLAG_DF);
	ck_assert_mem_eq(wire + 34 + 16, &seed, 2); /* left partial for the device */
	expect_payload(wire + 34 + THLEN, plen, 9);
	ck_assert_uint_eq(d->l3_off, 14);
	ck_assert_uint_eq(d->l4_off, 34);
	ck_assert_uint_eq(d->flags, DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(d->csum_start, 34);
	ck_assert_uint_eq(d->csum_offset, 16);
	ck_assert_uint_eq(d->gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(d->gso_size, MSS);
	return ntohs(h->id);
}

START_TEST(tso_leaves_whole)
{
	struct desc d = tso_desc(TIP_PEER_IP);
	size_t plen = 40000; /* 28 segments: 27 of 1448 and one of 904 */
	uint16_t id;
	size_t len;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tso_out(&d, plen, THLEN / 4), 0);
	tip_expect_wire_frames(&fx.out, 1);
	id = expect_tso_frame(0, plen, tip_peer_mac);
	ck_assert_uint_eq(st()->ip_out_gso, 1);
	ck_assert_uint_eq(st()->ip_frag_oks + st()->ip_frag_creates, 0);
	tip_out_reset(&fx.out);
	/* The device gives the 28 segments IDs id .. id + 27: the next datagram takes id + 28. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	len = tip_wire_copy(&fx.out, 0, wire, sizeof(wire));
	ck_assert_uint_eq(ntohs(tip_expect_ipv4(wire, len, tip_peer_mac, IPV4_PROTO_UDP,
						TIP_OUR_IP, TIP_PEER_IP)->id),
			  (uint16_t)(id + 28));
	ck_assert_uint_eq(fx.out.wire_desc[0].gso_type, DESC_GSO_NONE);
	ck_assert_uint_eq(fx.out.wire_desc[0].flags, 0);
	ck_assert_uint_eq(fx.out.wire_desc[0].l3_off, 14);
}
END_TEST

START_TEST(tso_largest)
{
	struct desc d = tso_desc(TIP_PEER_IP);
	size_t plen = IPV4_MAX_LEN - 20 - THLEN;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tso_out(&d, plen, THLEN / 4), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_tso_frame(0, plen, tip_peer_mac);
	ck_assert_uint_le(buf_chain_count(fx.out.wire[0]), BUF_CHAIN_MAX);
	/* One byte more is no datagram. */
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tso_out(&d, plen + 1, THLEN / 4), -EINVAL);
	ck_assert_uint_eq(st()->ip_out_drop_invalid, 1);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(tso_segments_must_fit_the_mtu)
{
	struct desc d = tso_desc(TIP_PEER_IP);

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	/* 20 + 32 + 1448 = 1500: fits. */
	ck_assert_int_eq(tso_out(&d, 10000, THLEN / 4), 0);
	tip_expect_wire_frames(&fx.out, 1);
	tip_out_reset(&fx.out);
	d.gso_size = MSS + 1;
	ck_assert_int_eq(tso_out(&d, 10000, THLEN / 4), -EMSGSIZE);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->ip_out_drop_gso_mtu, 1);
	/* Without options the header is 20 bytes: 1460 fits, 1461 does not. */
	d.gso_size = 1460;
	ck_assert_int_eq(tso_out(&d, 10000, 5), 0);
	tip_out_reset(&fx.out);
	d.gso_size = 1461;
	ck_assert_int_eq(tso_out(&d, 10000, 5), -EMSGSIZE);
	ck_assert_uint_eq(st()->ip_out_drop_gso_mtu, 2);
	ck_assert_uint_eq(st()->ip_out_drop_df + st()->ip_frag_fails, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(tso_waits_for_arp_whole)
{
	struct desc d = tso_desc(TIP_PEER_IP);
	size_t len;

	ck_assert_int_eq(tso_out(&d, 30000, THLEN / 4), 0);
	tip_expect_wire_frames(&fx.out, 1); /* the ARP request */
	len = tip_wire_copy(&fx.out, 0, wire, sizeof(wire));
	tip_expect_arp(wire, len, tip_bcast_mac, ARP_OP_REQUEST, tip_our_mac, TIP_OUR_IP, zero6,
		       TIP_PEER_IP);
	ck_assert_uint_eq(fx.out.wire_desc[0].flags, 0);
	ck_assert_uint_eq(fx.out.wire_desc[0].gso_type, DESC_GSO_NONE);
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_wire_frames(&fx.out, 1);
	expect_tso_frame(0, 30000, tip_peer_mac);
}
END_TEST

START_TEST(tso_through_lo_goes_up_whole)
{
	struct desc d = tso_desc(TIP_OUR_IP);
	const struct desc *u;

	ck_assert_int_eq(tso_out(&d, 30000, THLEN / 4), 0);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	u = &fx.out.up_desc[0];
	ck_assert_uint_eq(u->proto, IPV4_PROTO_TCP);
	ck_assert_uint_eq(u->len, 20 + THLEN + 30000);
	ck_assert_uint_eq(u->flags, DESC_F_CSUM_VERIFIED | DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(u->csum_start, 20);
	ck_assert_uint_eq(u->csum_offset, 16);
	ck_assert_uint_eq(u->gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(u->gso_size, MSS);
	ck_assert_uint_eq(st()->ip_out_loopback, 1);
	ck_assert_uint_eq(st()->ip_out_gso, 1);
}
END_TEST

struct bad_tso {
	const char *name;
	uint32_t daddr;
	uint8_t proto;
	uint32_t flags;
	uint16_t csum_start, csum_offset, gso_type, gso_size;
	unsigned doff;
	size_t plen;
	int err;
};

static const struct bad_tso bad_tsos[] = {
	{"UDP", TIP_PEER_IP, IPV4_PROTO_UDP, DESC_F_CSUM_NEEDED, 0, 16, DESC_GSO_TCPV4, MSS, 8,
	 20000, -EINVAL},
	{"no partial checksum", TIP_PEER_IP, IPV4_PROTO_TCP, 0, 0, 16, DESC_GSO_TCPV4, MSS, 8, 20000,
	 -EINVAL},
	{"checksum not at the TCP header", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 2, 16,
	 DESC_GSO_TCPV4, MSS, 8, 20000, -EINVAL},
	{"checksum offset not TCP's", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 6,
	 DESC_GSO_TCPV4, MSS, 8, 20000, -EINVAL},
	{"gso_size 0", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16, DESC_GSO_TCPV4, 0, 8,
	 20000, -EINVAL},
	{"GSO type UDP", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16, DESC_GSO_UDP, MSS,
	 8, 20000, -EINVAL},
	{"TCP data offset 4", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16,
	 DESC_GSO_TCPV4, MSS, 4, 20000, -EINVAL},
	{"TCP header past the payload", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16,
	 DESC_GSO_TCPV4, MSS, 15, 0, -EINVAL},
	{"no payload", TIP_PEER_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16, DESC_GSO_TCPV4, MSS,
	 8, 0, -EINVAL},
	{"broadcast", TIP_BCAST_IP, IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16, DESC_GSO_TCPV4, MSS,
	 8, 20000, -EINVAL},
	{"multicast", TIP_IP(224, 0, 0, 9), IPV4_PROTO_TCP, DESC_F_CSUM_NEEDED, 0, 16,
	 DESC_GSO_TCPV4, MSS, 8, 20000, -EINVAL},
};

START_TEST(tso_malformed_refused)
{
	const struct bad_tso *c = &bad_tsos[_i];
	struct desc d = {.daddr = c->daddr, .proto = c->proto, .flags = c->flags,
			 .csum_start = c->csum_start, .csum_offset = c->csum_offset,
			 .gso_type = c->gso_type, .gso_size = c->gso_size};

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_msg(tso_out(&d, c->plen, c->doff) == c->err, "%s: not refused", c->name);
	ck_assert_msg(st()->ip_out_drop_gso == 1, "%s: not counted", c->name);
	tip_expect_no_tx(&fx.out);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(tso_refused_with_offload_off)
{
	struct desc d = tso_desc(TIP_PEER_IP);
	struct ip_config c;

	tip_fx_teardown(&fx);
	tip_config(&c);
	tip_fx_setup(&fx, &c); /* offload off: the default of ip_config_defaults */
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(tso_out(&d, 20000, 8), -EOPNOTSUPP);
	ck_assert_uint_eq(st()->ip_out_drop_gso, 1);
	tip_expect_no_tx(&fx.out);
	/* Through lo too: the switch is one for the whole stack. */
	d.daddr = TIP_OUR_IP;
	ck_assert_int_eq(tso_out(&d, 20000, 8), -EOPNOTSUPP);
	ck_assert_uint_eq(st()->ip_out_drop_gso, 2);
	tpool_assert_idle(fx.pool);
}
END_TEST

/* A UDP datagram of plen payload bytes with its checksum left partial. */
static int partial_udp_out(uint32_t daddr, size_t plen)
{
	size_t len = 8 + plen;
	uint8_t *u = calloc(1, len);
	uint16_t seed = pseudo_seed(TIP_OUR_IP, daddr, IPV4_PROTO_UDP, (uint16_t)len);
	struct desc d = {.daddr = daddr, .proto = IPV4_PROTO_UDP, .flags = DESC_F_CSUM_NEEDED,
			 .csum_start = 0, .csum_offset = 6};
	struct buf *b;
	int rc;

	ck_assert_ptr_nonnull(u);
	u[0] = 0x30, u[1] = 0x39, u[2] = 0x00, u[3] = 0x35;
	u[4] = (uint8_t)(len >> 8), u[5] = (uint8_t)len;
	memcpy(u + 6, &seed, 2);
	for (size_t i = 0; i < plen; i++)
		u[8 + i] = (uint8_t)(i * 5);
	b = tip_chain(fx.pool, u, len);
	free(u);
	rc = ip_output(fx.core, fx.now, &b, &d, &fx.out);
	ck_assert_ptr_null(b);
	return rc;
}

START_TEST(partial_checksum_left_to_the_device)
{
	uint16_t seed = pseudo_seed(TIP_OUR_IP, TIP_PEER_IP, IPV4_PROTO_UDP, 8 + 100);
	size_t len;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(partial_udp_out(TIP_PEER_IP, 100), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, wire, sizeof(wire));
	ck_assert_uint_eq(len, 14 + 20 + 8 + 100);
	ck_assert_mem_eq(wire + 34 + 6, &seed, 2); /* not computed here */
	ck_assert_uint_eq(fx.out.wire_desc[0].flags, DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(fx.out.wire_desc[0].csum_start, 34);
	ck_assert_uint_eq(fx.out.wire_desc[0].csum_offset, 6);
	ck_assert_uint_eq(fx.out.wire_desc[0].l4_off, 34);
	ck_assert_uint_eq(fx.out.wire_desc[0].gso_type, DESC_GSO_NONE);
	ck_assert_uint_eq(st()->ip_out_csum_partial, 1);
	ck_assert_uint_eq(st()->ip_out_csum_filled, 0);
	/* Exactly the MTU still leaves whole. */
	tip_out_reset(&fx.out);
	ck_assert_int_eq(partial_udp_out(TIP_PEER_IP, 1500 - 28), 0);
	tip_expect_wire_frames(&fx.out, 1);
	ck_assert_uint_eq(fx.out.wire_desc[0].flags, DESC_F_CSUM_NEEDED);
	/* Through lo it goes up as it is, trusted. */
	tip_out_reset(&fx.out);
	ck_assert_int_eq(partial_udp_out(TIP_OUR_IP, 100), 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, DESC_F_CSUM_VERIFIED | DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(fx.out.up_desc[0].csum_start, 20);
	ck_assert_uint_eq(fx.out.up_desc[0].csum_offset, 6);
	ck_assert_uint_eq(st()->ip_out_csum_partial, 3);
}
END_TEST

/* The UDP checksum of the datagram in fragments 0..n-1 of out->wire, verified independently:
 * the pseudo-header and the reassembled UDP bytes sum to zero. */
static void expect_fragmented_udp_checksum(unsigned n, size_t ulen)
{
	uint8_t *all = calloc(1, 12 + ulen);
	size_t at = 0;
	uint32_t sa = TIP_OUR_IP, da = TIP_PEER_IP;

	ck_assert_ptr_nonnull(all);
	memcpy(all, &sa, 4);
	memcpy(all + 4, &da, 4);
	all[9] = IPV4_PROTO_UDP;
	all[10] = (uint8_t)(ulen >> 8);
	all[11] = (uint8_t)ulen;
	for (unsigned i = 0; i < n; i++) {
		size_t len = tip_wire_copy(&fx.out, i, wire, sizeof(wire));

		ck_assert_uint_eq(fx.out.wire_desc[i].flags, 0); /* nothing left to the device */
		memcpy(all + 12 + at, wire + 34, len - 34);
		at += len - 34;
	}
	ck_assert_uint_eq(at, ulen);
	ck_assert_uint_eq(tip_csum(all, 12 + ulen), 0);
	free(all);
}

START_TEST(partial_checksum_completed_before_fragmenting)
{
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(partial_udp_out(TIP_PEER_IP, 3000), 0);
	tip_expect_wire_frames(&fx.out, 3);
	expect_fragmented_udp_checksum(3, 8 + 3000);
	ck_assert_uint_eq(st()->ip_out_csum_filled, 1);
	ck_assert_uint_eq(st()->ip_out_csum_partial, 0);
}
END_TEST

START_TEST(partial_checksum_completed_with_offload_off)
{
	struct ip_config c;
	size_t len;

	tip_fx_teardown(&fx);
	tip_config(&c);
	tip_fx_setup(&fx, &c);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_int_eq(partial_udp_out(TIP_PEER_IP, 100), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, wire, sizeof(wire));
	ck_assert_uint_eq(len, 14 + 20 + 8 + 100);
	expect_fragmented_udp_checksum(1, 8 + 100);
	ck_assert_uint_eq(st()->ip_out_csum_filled, 1);
	ck_assert_uint_eq(st()->ip_out_csum_partial, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ip_output");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60); /* a hang guard: seconds under ASan, loaded */

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

	TCase *off = tcase_create("offload");
	tcase_set_timeout(off, 60); /* a hang guard: seconds under ASan, loaded */
	tcase_add_checked_fixture(off, offload_setup, teardown);
	tcase_add_test(off, tso_leaves_whole);
	tcase_add_test(off, tso_largest);
	tcase_add_test(off, tso_segments_must_fit_the_mtu);
	tcase_add_test(off, tso_waits_for_arp_whole);
	tcase_add_test(off, tso_through_lo_goes_up_whole);
	tcase_add_loop_test(off, tso_malformed_refused, 0, sizeof(bad_tsos) / sizeof(bad_tsos[0]));
	tcase_add_test(off, tso_refused_with_offload_off);
	tcase_add_test(off, partial_checksum_left_to_the_device);
	tcase_add_test(off, partial_checksum_completed_before_fragmenting);
	tcase_add_test(off, partial_checksum_completed_with_offload_off);
	suite_add_tcase(s, off);
	return tcheck_run(s);
}
