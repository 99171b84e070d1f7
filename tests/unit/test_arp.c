/* test_arp: the ARP cache of the IPv4 core (servers/ip/arp.c) — replies, the RFC 826 merge
 * rule, resolution with queued datagrams, retries and failure, expiry and re-confirmation by
 * unicast probes (RFC 1122 §2.3.2.1), what gives way when the table is full or flooded with
 * unresolvable neighbours (the gateway pinned, entries in use kept, INCOMPLETE entries bounded
 * and evicted oldest first), the gratuitous ARP, and malformed packets (each dropped, counted,
 * nothing sent, pool idle). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_ip.h"
#include "helper_pool.h"
#include "ip_core.h"
#include "ip_priv.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/icmp.h"

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

static void arp_in(const struct tip_arp *a)
{
	uint8_t f[128];
	size_t len = tip_arp_frame(f, a);

	tip_input(&fx, f, len);
}

/* Check that wire frame i is our broadcast request for tpa. */
static void expect_request(unsigned i, uint32_t tpa)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_wire_copy(&fx.out, i, f, sizeof(f));

	tip_expect_arp(f, len, tip_bcast_mac, ARP_OP_REQUEST, tip_our_mac, TIP_OUR_IP, zero6, tpa);
}

/* Check that wire frame i is our unicast probe (RFC 1122 §2.3.2.1 poll) for tpa to mac. */
static void expect_probe(unsigned i, const uint8_t mac[6], uint32_t tpa)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_wire_copy(&fx.out, i, f, sizeof(f));

	tip_expect_arp(f, len, mac, ARP_OP_REQUEST, tip_our_mac, TIP_OUR_IP, zero6, tpa);
}

/* Check that wire frame i is a 10-byte UDP datagram from us to the peer's MAC. */
static void expect_datagram_to_peer(unsigned i)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_wire_copy(&fx.out, i, f, sizeof(f));

	ck_assert_uint_eq(len, 14 + 20 + 10);
	tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
}

START_TEST(request_for_us_is_answered)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	struct ip_arp_entry e;

	arp_in(&(struct tip_arp){0});
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_peer_mac, ARP_OP_REPLY, tip_our_mac, TIP_OUR_IP, tip_peer_mac,
		       TIP_PEER_IP);
	ck_assert_uint_eq(st()->arp_rx, 1);
	ck_assert_uint_eq(st()->arp_rx_requests, 1);
	ck_assert_uint_eq(st()->arp_tx_replies, 1);
	/* We are the target: the asker is now in the cache. */
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_mem_eq(e.mac, tip_peer_mac, 6);
	ck_assert_uint_eq(e.expires, fx.now + 60 * TIP_SEC);
}
END_TEST

START_TEST(padded_request_gets_exact_reply)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	/* A 60-byte (padded) request to our unicast address: the reply is 42 bytes. */
	arp_in(&(struct tip_arp){.frame_len = 60, .eth_dst = {0x02, 0, 0, 0, 0, 0x02}});
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_peer_mac, ARP_OP_REPLY, tip_our_mac, TIP_OUR_IP, tip_peer_mac,
		       TIP_PEER_IP);
}
END_TEST

START_TEST(request_for_other_updates_but_never_creates)
{
	struct ip_arp_entry e;
	struct tip_arp a = {.tpa = TIP_OTHER_IP};

	/* Unknown sender, not for us: nothing learnt, nothing sent. */
	arp_in(&a);
	tip_expect_no_tx(&fx.out);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(st()->arp_rx_requests, 1);

	/* Known sender, not for us: its entry takes the new MAC (RFC 826 merge). */
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	fx.now += 10 * TIP_SEC;
	memcpy(a.sha, tip_other_mac, 6);
	memcpy(a.eth_src, tip_other_mac, 6);
	arp_in(&a);
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_mem_eq(e.mac, tip_other_mac, 6);
	ck_assert_uint_eq(e.expires, fx.now + 60 * TIP_SEC);
	ck_assert(!tip_arp_find(&fx, TIP_OTHER_IP, &e));
}
END_TEST

START_TEST(reply_not_for_us_from_unknown_is_ignored)
{
	struct ip_arp_entry e;

	arp_in(&(struct tip_arp){.op = ARP_OP_REPLY, .tpa = TIP_OTHER_IP});
	tip_expect_no_tx(&fx.out);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(st()->arp_rx_replies, 1);
}
END_TEST

START_TEST(probe_is_answered_not_cached)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_arp_frame(f, &(struct tip_arp){0});
	struct arp_eth_ipv4 a;
	struct ip_arp_entry e;

	/* RFC 5227 probe for our address: sender IP 0.0.0.0. Answered, never cached. */
	memcpy(&a, f + ETH_HDR_LEN, sizeof(a));
	a.spa = 0;
	memcpy(f + ETH_HDR_LEN, &a, sizeof(a));
	tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_peer_mac, ARP_OP_REPLY, tip_our_mac, TIP_OUR_IP, tip_peer_mac, 0);
	ck_assert(!tip_arp_find(&fx, 0, &e));
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
}
END_TEST

START_TEST(own_announcement_reflected_is_ignored)
{
	struct ip_arp_entry e;

	/* Our gratuitous ARP coming back (a reflecting bridge), or a conflicting host. */
	arp_in(&(struct tip_arp){.spa = TIP_OUR_IP, .tpa = TIP_OUR_IP});
	tip_expect_no_tx(&fx.out);
	ck_assert(!tip_arp_find(&fx, TIP_OUR_IP, &e));
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(reply_resolves_and_flushes_in_order)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	struct ip_arp_entry e;
	uint16_t id0 = 0;

	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 100, (uint8_t)(i * 10)), 0);
	/* One request, for the first datagram only. */
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_PEER_IP);
	ck_assert_uint_eq(st()->arp_tx_requests, 1);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_INCOMPLETE);
	ck_assert_uint_eq(e.queued, 3);
	tip_out_reset(&fx.out);

	fx.now += 5 * TIP_MS;
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_wire_frames(&fx.out, 3);
	for (unsigned i = 0; i < 3; i++) {
		const struct ipv4_hdr *h;

		len = tip_wire_copy(&fx.out, i, f, sizeof(f));
		ck_assert_uint_eq(len, 14 + 20 + 100);
		h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
		ck_assert_uint_eq(f[34], i * 10); /* the order they were sent in */
		if (i == 0)
			id0 = ntohs(h->id);
		else
			ck_assert_uint_eq(ntohs(h->id), (uint16_t)(id0 + i));
	}
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_uint_eq(e.queued, 0);
	tip_out_reset(&fx.out);

	/* Resolved: the next datagram goes out at once. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	ck_assert_uint_eq(st()->arp_tx_requests, 1);
}
END_TEST

START_TEST(queue_is_bounded)
{
	struct ip_config c;
	struct ip_arp_entry e;

	tip_fx_teardown(&fx);
	tip_config(&c);
	c.arp_queue_max = 4;
	tip_fx_setup(&fx, &c);

	for (unsigned i = 0; i < 6; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 50, (uint8_t)i),
				 i < 4 ? 0 : -ENOBUFS);
	ck_assert_uint_eq(st()->arp_queue_drops, 2);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.queued, 4);
	ck_assert_uint_eq(pool_count(fx.pool) - pool_free_count(fx.pool), 4 + 1); /* + request */
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_wire_frames(&fx.out, 4);
}
END_TEST

START_TEST(big_queue_drains_over_several_calls)
{
	/* 16 datagrams of 30,000 bytes are 16 x 21 = 336 frames: more than one call may emit. */
	struct ip_arp_entry e;
	uint8_t f[TIP_FRAME_MAX];
	unsigned sent = 0, k;
	size_t len;
	uint8_t expect_marker = 0;

	for (k = 0; k < 16; k++)
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 30000, (uint8_t)k), 0);
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_uint_eq(fx.out.n_wire, 12 * 21); /* whole datagrams only */
	ck_assert_uint_eq(ip_next_deadline(fx.core), 0);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_uint_eq(e.queued, 4);
	/* Frames go out in datagram order: the first fragment of each carries its marker. */
	for (k = 0; k < fx.out.n_wire; k += 21, expect_marker++) {
		len = tip_wire_copy(&fx.out, k, f, sizeof(f));
		ck_assert_uint_gt(len, 34);
		ck_assert_uint_eq(f[34], expect_marker);
	}
	sent += fx.out.n_wire;
	tip_out_reset(&fx.out);

	/* A new datagram meanwhile waits behind the old ones. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 99), 0);
	tip_expect_wire_frames(&fx.out, 4 * 21 + 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(f[34], 12);
	len = tip_wire_copy(&fx.out, 4 * 21, f, sizeof(f));
	ck_assert_uint_eq(f[34], 99);
	sent += fx.out.n_wire;
	ck_assert_uint_eq(sent, 16 * 21 + 1);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 60 * TIP_SEC);
	ck_assert_uint_eq(st()->ip_out_discards, 0);
}
END_TEST

START_TEST(big_queue_drains_from_timer)
{
	for (unsigned k = 0; k < 16; k++)
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 30000, (uint8_t)k), 0);
	tip_out_reset(&fx.out);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_uint_eq(fx.out.n_wire, 12 * 21);
	tip_out_reset(&fx.out);
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_wire_frames(&fx.out, 4 * 21);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 60 * TIP_SEC);
	ck_assert_uint_eq(st()->ip_out_discards, 0);
}
END_TEST

START_TEST(retries_then_failure)
{
	uint64_t t0 = fx.now;
	struct ip_arp_entry e;

	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 60, 1), 0);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 60, 2), 0);
	tip_expect_wire_frames(&fx.out, 1);
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + 1 * TIP_SEC);

	/* Nothing before the deadline. */
	fx.now = t0 + TIP_SEC - 1;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_no_tx(&fx.out);

	/* arp_max_retries = 3 retries, one every arp_retry_ms. */
	for (unsigned k = 1; k <= 3; k++) {
		fx.now = t0 + k * TIP_SEC;
		ip_timer(fx.core, fx.now, &fx.out);
		tip_expect_wire_frames(&fx.out, 1);
		expect_request(0, TIP_PEER_IP);
		tip_out_reset(&fx.out);
		ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + (k + 1) * TIP_SEC);
	}
	ck_assert_uint_eq(st()->arp_tx_requests, 4);

	/* One interval after the last retry: failure, queue dropped and counted. */
	fx.now = t0 + 4 * TIP_SEC;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->arp_resolve_failed, 2);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(ip_next_deadline(fx.core), UINT64_MAX);
	tpool_assert_idle(fx.pool);

	/* The next datagram starts over. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 60, 3), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_PEER_IP);
}
END_TEST

/* At the end of its lifetime an entry used to be removed, so the next datagram waited on a
 * broadcast resolution; now it goes to PROBE: still used, re-confirmed by unicast requests. */
/* The link to nicd came up (ip_announce): a resolution whose request went nowhere before it
 * asks again at once, without spending a retry, and waits a full interval from now. */
START_TEST(link_up_asks_again_at_once)
{
	uint64_t t0 = fx.now;
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 60, 1), 0);
	tip_expect_wire_frames(&fx.out, 1); /* lost: the link was not up */
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + TIP_SEC);

	fx.now = t0 + 30 * TIP_MS;
	ck_assert_int_eq(ip_announce(fx.core, fx.now, &fx.out), 0);
	tip_expect_wire_frames(&fx.out, 2);
	expect_request(1, TIP_PEER_IP); /* after the announcement */
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(st()->arp_link_up_requests, 1);
	ck_assert_uint_eq(st()->arp_tx_requests, 2);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + TIP_SEC);

	/* its reply flushes the queue */
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 14 + 20 + 60);
	tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_PEER_IP);
	tip_out_reset(&fx.out);
	tpool_assert_idle(fx.pool);
}
END_TEST

/* Without resolutions in progress, only the announcement. */
START_TEST(link_up_without_resolutions_announces_only)
{
	ck_assert_int_eq(ip_announce(fx.core, fx.now, &fx.out), 0);
	tip_expect_wire_frames(&fx.out, 1);
	ck_assert_uint_eq(st()->arp_link_up_requests, 0);
	tip_out_reset(&fx.out);
}
END_TEST

START_TEST(expired_entry_is_probed_and_still_used)
{
	struct ip_arp_entry e;
	uint64_t t0 = fx.now;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + 60 * TIP_SEC);
	fx.now = t0 + 60 * TIP_SEC - 1;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);

	/* Lifetime over: one request unicast to the MAC we know, no broadcast. */
	fx.now = t0 + 60 * TIP_SEC;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_wire_frames(&fx.out, 1);
	expect_probe(0, tip_peer_mac, TIP_PEER_IP);
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(st()->arp_tx_probes, 1);
	ck_assert_uint_eq(st()->arp_tx_requests, 0);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_PROBE);
	ck_assert_uint_eq(e.expires, fx.now + 1 * TIP_SEC);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 1 * TIP_SEC);

	/* Meanwhile a datagram goes out at once to the old MAC: nothing queued, no request. */
	fx.now += 300 * TIP_MS;
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_datagram_to_peer(0);
	tip_out_reset(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.queued, 0);
	ck_assert_uint_eq(st()->arp_tx_requests, 0);
	ck_assert_uint_eq(st()->arp_queue_drops, 0);

	/* The reply confirms it: REACHABLE with a new lifetime, no more probes. */
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_mem_eq(e.mac, tip_peer_mac, 6);
	ck_assert_uint_eq(e.expires, fx.now + 60 * TIP_SEC);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 60 * TIP_SEC);
	ip_timer(fx.core, fx.now + 59 * TIP_SEC, &fx.out);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->arp_tx_probes, 1);
	ck_assert_uint_eq(st()->arp_probe_failed, 0);
}
END_TEST

START_TEST(probing_entry_refreshed_by_any_arp_from_it)
{
	struct ip_arp_entry e;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	fx.now += 60 * TIP_SEC;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_out_reset(&fx.out);
	/* RFC 826 merge: a broadcast request from the neighbour for someone else confirms it too. */
	fx.now += 10 * TIP_MS;
	arp_in(&(struct tip_arp){.tpa = TIP_OTHER_IP});
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_uint_eq(e.expires, fx.now + 60 * TIP_SEC);
}
END_TEST

START_TEST(unanswered_probes_remove_entry)
{
	struct ip_arp_entry e;
	uint64_t t1;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	t1 = fx.now + 60 * TIP_SEC;
	/* A probe at once, then arp_max_retries = 3 more, one every arp_retry_ms; the MAC is
	 * used all along. */
	for (unsigned k = 0; k <= 3; k++) {
		fx.now = t1 + k * TIP_SEC;
		ip_timer(fx.core, fx.now, &fx.out);
		tip_expect_wire_frames(&fx.out, 1);
		expect_probe(0, tip_peer_mac, TIP_PEER_IP);
		tip_out_reset(&fx.out);
		ck_assert_uint_eq(ip_next_deadline(fx.core), t1 + (k + 1) * TIP_SEC);
		ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
		tip_expect_wire_frames(&fx.out, 1);
		expect_datagram_to_peer(0);
		tip_out_reset(&fx.out);
	}
	ck_assert_uint_eq(st()->arp_tx_probes, 4);
	ck_assert_uint_eq(st()->arp_tx_requests, 0);

	/* One interval after the last probe: the entry is gone, nothing was queued to drop. */
	fx.now = t1 + 4 * TIP_SEC;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->arp_probe_failed, 1);
	ck_assert_uint_eq(st()->arp_resolve_failed, 0);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(ip_next_deadline(fx.core), UINT64_MAX);
	tpool_assert_idle(fx.pool);

	/* The next datagram queues behind a broadcast resolution. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_PEER_IP);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_INCOMPLETE);
	ck_assert_uint_eq(e.queued, 1);
}
END_TEST

/* This test used to expect an expired entry to be dropped for a new broadcast resolution with
 * the datagram queued; an expired entry now starts probing and keeps being used. */
START_TEST(expired_entry_probed_before_timer)
{
	struct ip_arp_entry e;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	fx.now += 61 * TIP_SEC; /* the timer has not run */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 2);
	expect_probe(0, tip_peer_mac, TIP_PEER_IP);
	expect_datagram_to_peer(1);
	ck_assert_uint_eq(st()->arp_tx_requests, 0);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_PROBE);
	ck_assert_uint_eq(e.queued, 0);
	ck_assert_uint_eq(ip_next_deadline(fx.core), fx.now + 1 * TIP_SEC);
}
END_TEST

/* Echo requests from made-up on-link sources 10.0.0.first.. (n of them): each reply needs an
 * entry that is never resolved. What the core sends (requests) is discarded. */
static void echo_flood(unsigned first, unsigned n)
{
	uint8_t m[64], f[TIP_FRAME_MAX];
	size_t mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 0x4242, 1, "flood", 5);

	for (unsigned i = 0; i < n; i++) {
		size_t len = tip_ip_frame(f, sizeof(f),
					  &(struct tip_ip){.proto = IPV4_PROTO_ICMP,
							   .saddr = TIP_IP(10, 0, 0, first + i),
							   .payload = m, .payload_len = mlen});

		tip_input(&fx, f, len);
		tip_out_reset(&fx.out);
	}
}

/* Entries in the table and how many of them are INCOMPLETE. */
static unsigned count_entries(unsigned *incomplete)
{
	struct ip_arp_entry all[IP_ARP_TABLE_SIZE];
	unsigned n = ip_arp_dump(fx.core, all, IP_ARP_TABLE_SIZE);

	*incomplete = 0;
	for (unsigned i = 0; i < n; i++)
		*incomplete += all[i].state == IP_ARP_INCOMPLETE;
	return n;
}

/* Resolved entries 10.0.0.first.. (n), learned from replies and never used. */
static void learn_range(unsigned first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tip_learn(&fx, TIP_IP(10, 0, 0, first + i), tip_other_mac);
	tip_out_reset(&fx.out);
}

/* The issue this fixes: 128 echo requests from made-up sources filled the table with
 * INCOMPLETE entries, evicted the gateway, and sends through it failed with -ENOBUFS for 4 s. */
START_TEST(echo_flood_keeps_gateway)
{
	struct ip_arp_entry e;
	unsigned incomplete;

	tip_learn(&fx, TIP_GW_IP, tip_gw_mac);
	fx.now += 10 * TIP_SEC; /* idle for long: only its pin keeps it */
	echo_flood(10, 200);
	ck_assert_uint_eq(st()->icmp_in_echos, 200);
	ck_assert_uint_eq(count_entries(&incomplete), 1 + IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(incomplete, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 200 - IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_drops, 200 - IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_resolved, 0);
	ck_assert_uint_eq(st()->arp_table_full, 0);
	ck_assert(tip_arp_find(&fx, TIP_GW_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	/* Oldest first: the newest 32 sources are the ones still waiting. */
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 10 + 200 - IP_ARP_INCOMPLETE_MAX - 1), &e));
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 10 + 200 - IP_ARP_INCOMPLETE_MAX), &e));
	ck_assert_uint_eq(e.state, IP_ARP_INCOMPLETE);
	ck_assert_uint_eq(e.queued, 1);
	/* Through the gateway, at once: one frame to its MAC, no request. */
	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	{
		uint8_t f[TIP_FRAME_MAX];
		size_t len = tip_wire_copy(&fx.out, 0, f, sizeof(f));

		tip_expect_ipv4(f, len, tip_gw_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_REMOTE_IP);
	}
	/* What the flood left held: one queued reply per INCOMPLETE entry, nothing else. */
	ck_assert_uint_eq(pool_count(fx.pool) - pool_free_count(fx.pool),
			  IP_ARP_INCOMPLETE_MAX + 1);
}
END_TEST

/* Unresolved entries are bounded apart from the rest: past the bound a new one evicts the
 * oldest (its queue dropped and counted), wherever the free slots are. */
START_TEST(incomplete_bound_evicts_oldest)
{
	struct ip_arp_entry e;
	unsigned incomplete, i;

	/* The oldest gets three datagrams queued. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 10), 0, 0, 8, 0), 0);
	for (i = 1; i < IP_ARP_INCOMPLETE_MAX; i++) {
		fx.now += TIP_MS;
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 10 + i), 0, 0, 8, 0), 0);
	}
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 0);

	/* One more: the oldest goes with its three datagrams, the new one is requested. */
	ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 200), 0, 0, 8, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_IP(10, 0, 0, 200));
	tip_out_reset(&fx.out);
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 10), &e));
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 11), &e));
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(incomplete, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 1);
	ck_assert_uint_eq(st()->arp_evict_drops, 3);
	ck_assert_uint_eq(st()->arp_resolve_failed, 0);
	ck_assert_uint_eq(fx.core->arp_held, IP_ARP_INCOMPLETE_MAX);

	/* Its late reply is addressed to us: the neighbour is cached all the same (RFC 826), in
	 * a free slot, and nothing else moves. */
	tip_learn(&fx, TIP_IP(10, 0, 0, 10), tip_peer_mac);
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 10), &e));
	ck_assert_uint_eq(e.state, IP_ARP_REACHABLE);
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_INCOMPLETE_MAX + 1);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 1);
}
END_TEST

/* The gateway's entry is pinned even while it is being resolved itself. */
START_TEST(incomplete_gateway_is_pinned)
{
	uint8_t f[TIP_FRAME_MAX];
	struct ip_arp_entry e;
	unsigned incomplete;
	size_t len;

	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 10, 7), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_GW_IP);
	tip_out_reset(&fx.out);
	fx.now += TIP_MS;
	echo_flood(10, 100);
	ck_assert(tip_arp_find(&fx, TIP_GW_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_INCOMPLETE);
	ck_assert_uint_eq(e.queued, 1);
	/* It counts against the bound like any unresolved entry. */
	count_entries(&incomplete);
	ck_assert_uint_eq(incomplete, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 100 - (IP_ARP_INCOMPLETE_MAX - 1));
	/* Its reply sends what waited for it. */
	tip_learn(&fx, TIP_GW_IP, tip_gw_mac);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_gw_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_REMOTE_IP);
	ck_assert_uint_eq(f[34], 7);
}
END_TEST

/* With the table full, a flood costs idle resolved entries until the INCOMPLETE bound is
 * reached, PROBE ones first, then least recently used — never the gateway (idle, even in
 * PROBE) and never a neighbour in use. */
START_TEST(full_table_flood_spares_what_is_in_use)
{
	struct ip_arp_entry e;
	unsigned incomplete;
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	tip_learn(&fx, TIP_GW_IP, tip_gw_mac);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	fx.now += 30 * TIP_SEC;
	learn_range(10, IP_ARP_TABLE_SIZE - 2); /* 10.0.0.10 .. 10.0.0.135: the table is full */
	fx.now += 30 * TIP_SEC;
	/* The gateway's and the peer's lifetimes are over: both PROBE, the most evictable kind. */
	ip_timer(fx.core, fx.now, &fx.out);
	tip_out_reset(&fx.out);
	/* 10.0.0.10 .. 10.0.0.17 were used 6 s ago (no longer in use); the rest never. */
	for (unsigned i = 0; i < 8; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 10 + i), 0, 0, 10, 0), 0);
	tip_out_reset(&fx.out);
	fx.now += 6 * TIP_SEC;
	/* The peer is in use: a datagram went to it a moment ago. */
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_out_reset(&fx.out);
	fx.now += TIP_MS;

	echo_flood(150, 100);
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_TABLE_SIZE);
	ck_assert_uint_eq(incomplete, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_resolved, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 100 - IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_table_full, 0);
	ck_assert(tip_arp_find(&fx, TIP_GW_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_PROBE);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_uint_eq(e.state, IP_ARP_PROBE);
	/* Never-used entries went first (least recently used), the ones used 6 s ago stayed. */
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 18), &e));
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 18 + IP_ARP_INCOMPLETE_MAX - 1), &e));
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 18 + IP_ARP_INCOMPLETE_MAX), &e));
	for (unsigned i = 0; i < 8; i++)
		ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 10 + i), &e));

	/* Both still take datagrams at once (the gateway's after a unicast probe: its probe timer
	 * is due and ip_timer has not run; the peer's went out with its datagram above). */
	ck_assert_int_eq(tip_output(&fx, TIP_REMOTE_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 2);
	expect_probe(0, tip_gw_mac, TIP_GW_IP);
	len = tip_wire_copy(&fx.out, 1, f, sizeof(f));
	tip_expect_ipv4(f, len, tip_gw_mac, IPV4_PROTO_UDP, TIP_OUR_IP, TIP_REMOTE_IP);
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tip_output(&fx, TIP_PEER_IP, 0, 0, 10, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_datagram_to_peer(0);
	ck_assert_uint_eq(st()->arp_table_full, 0);
}
END_TEST

/* An entry in doubt is the first to give way to a new neighbour, before a confirmed one. */
START_TEST(probing_entry_evicted_first)
{
	unsigned i;
	struct ip_arp_entry e;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	fx.now += 30 * TIP_SEC;
	for (i = 0; i < IP_ARP_TABLE_SIZE - 1; i++)
		tip_learn(&fx, TIP_IP(10, 0, 0, 10 + i), tip_other_mac);
	fx.now += 30 * TIP_SEC; /* the peer's lifetime is over, the others' is not */
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_wire_frames(&fx.out, 1);
	expect_probe(0, tip_peer_mac, TIP_PEER_IP);
	tip_out_reset(&fx.out);
	ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 250), 0, 0, 8, 0), 0);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 10), &e));
	ck_assert_uint_eq(st()->arp_evict_resolved, 1);
	ck_assert_uint_eq(st()->arp_table_full, 0);
}
END_TEST

/* Nothing may give way when every entry is in use: the new one fails with -ENOBUFS, counted;
 * once the entries have gone unused for IP_ARP_IN_USE_MS the least recently used one yields. */
START_TEST(table_of_entries_in_use_refuses)
{
	struct ip_arp_entry e;
	unsigned i;

	for (i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		tip_learn(&fx, TIP_IP(10, 0, 0, 10 + i), tip_other_mac);
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 10 + i), 0, 0, 8, 0), 0);
		tip_out_reset(&fx.out);
		fx.now += TIP_MS;
	}
	ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 250), 0, 0, 8, 0), -ENOBUFS);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->arp_table_full, 1);
	/* Nor may an ARP request for us add its sender; it is still answered. */
	arp_in(&(struct tip_arp){.spa = TIP_IP(10, 0, 0, 251)});
	tip_expect_wire_frames(&fx.out, 1);
	tip_out_reset(&fx.out);
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 251), &e));
	ck_assert_uint_eq(st()->arp_table_full, 2);
	ck_assert_uint_eq(st()->arp_evict_resolved, 0);

	fx.now += IP_ARP_IN_USE_MS * TIP_MS;
	ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 250), 0, 0, 8, 0), 0);
	tip_expect_wire_frames(&fx.out, 1);
	expect_request(0, TIP_IP(10, 0, 0, 250));
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 10), &e));
	ck_assert(tip_arp_find(&fx, TIP_IP(10, 0, 0, 11), &e));
	ck_assert_uint_eq(st()->arp_evict_resolved, 1);
}
END_TEST

/* A neighbour merely heard from (an ARP request for us) never evicts a resolution in progress:
 * with the table full of INCOMPLETE and in-use entries it is not cached. */
START_TEST(learned_entry_never_evicts_incomplete)
{
	struct ip_arp_entry e;
	unsigned incomplete, i;

	for (i = 0; i < IP_ARP_TABLE_SIZE - IP_ARP_INCOMPLETE_MAX; i++) {
		tip_learn(&fx, TIP_IP(10, 0, 0, 10 + i), tip_other_mac);
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 10 + i), 0, 0, 8, 0), 0);
	}
	for (i = 0; i < IP_ARP_INCOMPLETE_MAX; i++)
		ck_assert_int_eq(tip_output(&fx, TIP_IP(10, 0, 0, 200 + i), 0, 0, 8, 0), 0);
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_TABLE_SIZE);
	arp_in(&(struct tip_arp){.spa = TIP_IP(10, 0, 0, 190)});
	tip_expect_wire_frames(&fx.out, 1); /* answered */
	ck_assert(!tip_arp_find(&fx, TIP_IP(10, 0, 0, 190), &e));
	ck_assert_uint_eq(count_entries(&incomplete), IP_ARP_TABLE_SIZE);
	ck_assert_uint_eq(incomplete, IP_ARP_INCOMPLETE_MAX);
	ck_assert_uint_eq(st()->arp_table_full, 1);
	ck_assert_uint_eq(st()->arp_evict_incomplete, 0);
}
END_TEST

START_TEST(gratuitous_arp_at_create)
{
	struct ip_config c;
	struct ip_core *core2 = NULL;
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	static const uint8_t mac2[6] = {0x02, 0, 0, 0, 0, 0x42};

	tip_config(&c);
	memcpy(c.mac, mac2, 6);
	c.addr = TIP_IP(10, 0, 0, 42);
	ck_assert_int_eq(ip_core_create(&c, fx.pool, fx.now, &fx.out, &core2), 0);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 42);
	ck_assert_mem_eq(f, tip_bcast_mac, 6);
	ck_assert_mem_eq(f + 6, mac2, 6);
	ck_assert_uint_eq(f[12], 0x08);
	ck_assert_uint_eq(f[13], 0x06);
	{
		struct arp_eth_ipv4 a;

		memcpy(&a, f + 14, sizeof(a));
		ck_assert_uint_eq(ntohs(a.op), ARP_OP_REQUEST);
		ck_assert_mem_eq(a.sha, mac2, 6);
		ck_assert_uint_eq(a.spa, c.addr);
		ck_assert_uint_eq(a.tpa, c.addr);
		ck_assert_mem_eq(a.tha, zero6, 6);
	}
	ck_assert_uint_eq(ip_core_stats(core2)->arp_tx_gratuitous, 1);
	tip_out_reset(&fx.out);
	ip_core_destroy(&core2);
	ck_assert_ptr_null(core2);
}
END_TEST

/* Malformed packets: each one dropped, counted in its own counter, nothing sent, nothing
 * learnt, pool idle. */
struct bad_arp {
	const char *name;
	struct tip_arp a;
	size_t counter; /* offsetof(struct ip_stats, ...) */
};

static const struct bad_arp bad_arps[] = {
	{"short", {.frame_len = 14 + 27}, offsetof(struct ip_stats, arp_drop_short)},
	{"header only", {.frame_len = 14 + 8}, offsetof(struct ip_stats, arp_drop_short)},
	{"htype 6", {.htype = 6}, offsetof(struct ip_stats, arp_drop_bad_hw)},
	{"hlen 8", {.hlen = 8}, offsetof(struct ip_stats, arp_drop_bad_hw)},
	{"htype 0", {.zero_fields = true, .htype = 0, .ptype = 0x0800, .hlen = 6, .plen = 4, .op = 1},
	 offsetof(struct ip_stats, arp_drop_bad_hw)},
	{"ptype ipv6", {.ptype = 0x86dd}, offsetof(struct ip_stats, arp_drop_bad_proto)},
	{"plen 16", {.plen = 16}, offsetof(struct ip_stats, arp_drop_bad_proto)},
	{"op 3", {.op = 3}, offsetof(struct ip_stats, arp_drop_bad_op)},
	{"op 0", {.zero_fields = true, .htype = 1, .ptype = 0x0800, .hlen = 6, .plen = 4, .op = 0},
	 offsetof(struct ip_stats, arp_drop_bad_op)},
	{"sender broadcast", {.sha = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	 offsetof(struct ip_stats, arp_drop_bad_sender)},
	{"sender multicast", {.sha = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}},
	 offsetof(struct ip_stats, arp_drop_bad_sender)},
};

START_TEST(malformed_dropped)
{
	const struct bad_arp *t = &bad_arps[_i];
	uint8_t f[128];
	size_t len = tip_arp_frame(f, &t->a);
	struct ip_arp_entry e;

	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_msg(stat_value(st(), &(struct stat_field){t->name, t->counter}) == 1,
		      "%s: counter not bumped", t->name);
	ck_assert_uint_eq(st()->arp_rx, 1);
	ck_assert_uint_eq(st()->arp_rx_requests + st()->arp_rx_replies, 0);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(zero_sender_mac_dropped)
{
	uint8_t f[128];
	size_t len = tip_arp_frame(f, &(struct tip_arp){0});
	struct ip_arp_entry e;

	memset(f + 14 + 8, 0, 6); /* sha = 00:00:00:00:00:00 */
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->arp_drop_bad_sender, 1);
	ck_assert(!tip_arp_find(&fx, TIP_PEER_IP, &e));
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(bad_sender_does_not_poison_existing_entry)
{
	struct ip_arp_entry e;

	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	arp_in(&(struct tip_arp){.sha = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}});
	tip_expect_no_tx(&fx.out);
	ck_assert(tip_arp_find(&fx, TIP_PEER_IP, &e));
	ck_assert_mem_eq(e.mac, tip_peer_mac, 6);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arp");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, request_for_us_is_answered);
	tcase_add_test(tc, padded_request_gets_exact_reply);
	tcase_add_test(tc, request_for_other_updates_but_never_creates);
	tcase_add_test(tc, reply_not_for_us_from_unknown_is_ignored);
	tcase_add_test(tc, probe_is_answered_not_cached);
	tcase_add_test(tc, own_announcement_reflected_is_ignored);
	tcase_add_test(tc, reply_resolves_and_flushes_in_order);
	tcase_add_test(tc, queue_is_bounded);
	tcase_add_test(tc, big_queue_drains_over_several_calls);
	tcase_add_test(tc, big_queue_drains_from_timer);
	tcase_add_test(tc, retries_then_failure);
	tcase_add_test(tc, link_up_asks_again_at_once);
	tcase_add_test(tc, link_up_without_resolutions_announces_only);
	tcase_add_test(tc, expired_entry_is_probed_and_still_used);
	tcase_add_test(tc, probing_entry_refreshed_by_any_arp_from_it);
	tcase_add_test(tc, unanswered_probes_remove_entry);
	tcase_add_test(tc, expired_entry_probed_before_timer);
	tcase_add_test(tc, echo_flood_keeps_gateway);
	tcase_add_test(tc, incomplete_bound_evicts_oldest);
	tcase_add_test(tc, incomplete_gateway_is_pinned);
	tcase_add_test(tc, full_table_flood_spares_what_is_in_use);
	tcase_add_test(tc, probing_entry_evicted_first);
	tcase_add_test(tc, table_of_entries_in_use_refuses);
	tcase_add_test(tc, learned_entry_never_evicts_incomplete);
	tcase_add_test(tc, gratuitous_arp_at_create);
	tcase_add_loop_test(tc, malformed_dropped, 0, sizeof(bad_arps) / sizeof(bad_arps[0]));
	tcase_add_test(tc, zero_sender_mac_dropped);
	tcase_add_test(tc, bad_sender_does_not_poison_existing_entry);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
