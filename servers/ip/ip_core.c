/* ip_core: lifetime of the IPv4 core (config checks, create/destroy), the transport table, the
 * counter table, dumps for ustackctl, timer aggregation, and two buffer helpers the protocol
 * files share (ip_push, ip_pullup).
 *
 * create order: config checked and copied, routes (route.c), reassembly table (ip_frag.h), the
 * ICMP token bucket (full), the IPv4 identification counter, then the gratuitous ARP (arp.c).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ip_priv.h"
#include "ipv4_addr.h"
#include "wire/ipv4.h"
#include "wire/eth.h"
#include "wire/icmp.h"

void ip_config_defaults(struct ip_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->prefix_len = 24;
	cfg->mtu = 1500;
	cfg->default_ttl = ROUTE_TTL_DEFAULT;
	cfg->arp_cache_ttl_ms = 60000;
	cfg->arp_retry_ms = 1000;
	cfg->arp_max_retries = 3;
	cfg->arp_queue_max = 16;
	cfg->reass_timeout_ms = 30000;
	cfg->reass_max_buffers = 512;
	cfg->icmp_rate_per_s = 100;
	cfg->icmp_burst = 50;
}

static int ip_config_check(const struct ip_config *cfg)
{
	if (eth_addr_is_multicast(cfg->mac) || eth_addr_is_zero(cfg->mac))
		return -EINVAL;
	/* Our address must name one host: not 0/8, broadcast, multicast/class E or loopback. */
	if (!ipv4_is_host_unicast(cfg->addr))
		return -EINVAL;
	if (cfg->prefix_len > 32)
		return -EINVAL;
	if (cfg->gateway) {
		uint32_t mask = ntohl(ipv4_netmask(cfg->prefix_len));
		uint32_t a = ntohl(cfg->addr), g = ntohl(cfg->gateway);

		/* The gateway must be on the connected link, and not us. */
		if ((g & mask) != (a & mask) || g == a)
			return -EINVAL;
		if (cfg->prefix_len <= 30 && ((g & ~mask) == ~mask || (g & ~mask) == 0))
			return -EINVAL;
	}
	if (cfg->mtu < 68 || cfg->mtu > 9000) /* RFC 791: every host takes 68 */
		return -EINVAL;
	if (cfg->default_ttl == 0)
		return -EINVAL;
	if (cfg->arp_cache_ttl_ms == 0 || cfg->arp_retry_ms == 0)
		return -EINVAL;
	if (cfg->arp_queue_max == 0 || cfg->arp_queue_max > IP_ARP_QUEUE_CAP)
		return -EINVAL;
	if (cfg->reass_timeout_ms == 0)
		return -EINVAL;
	return 0;
}

int ip_core_create(const struct ip_config *cfg, struct pool *pool, uint64_t now,
		   struct ip_out *out, struct ip_core **core)
{
	struct ip_core *c;
	int rc;

	if (!cfg || !pool || !core)
		return -EINVAL;
	rc = ip_config_check(cfg);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->pool = pool;
	if (route_init(c) < 0) {
		free(c);
		return -EINVAL;
	}
	ip_reass_init(&c->reass, cfg->reass_max_buffers,
		      (uint64_t)cfg->reass_timeout_ms * IP_NS_PER_MS);
	if (cfg->icmp_rate_per_s)
		c->icmp_credit = IP_NS_PER_S / cfg->icmp_rate_per_s * cfg->icmp_burst;
	c->icmp_last = now;
	/* Start the identification counter somewhere that differs between restarts, so a fresh
	 * ipd does not reuse the ids its predecessor just sent to the same peers (RFC 6864 §4.2).
	 * The core has no randomness source; the start time is the next best thing. */
	c->next_id = (uint16_t)(now ^ now >> 16 ^ now >> 32 ^ now >> 48);
	if (out)
		arp_announce(c, now, out);
	*core = c;
	return 0;
}

void ip_core_destroy(struct ip_core **core)
{
	struct ip_core *c = *core;

	if (!c)
		return;
	arp_flush(c);
	ip_reass_flush(&c->reass);
	free(c);
	*core = NULL;
}

void ip_set_transport(struct ip_core *core, uint8_t proto, bool served)
{
	if (served)
		core->served[proto / 8] |= (uint8_t)(1u << (proto % 8));
	else
		core->served[proto / 8] &= (uint8_t)~(1u << (proto % 8));
}

void ip_timer(struct ip_core *core, uint64_t now, struct ip_out *out)
{
	struct buf *first[16];
	unsigned n;

	arp_timer(core, now, out);
	/* RFC 1122 §3.3.2: a reassembly that times out with its first fragment in hand SHOULD
	 * be answered with Time Exceeded, code 1. Past 16 at once the rest just expire: the
	 * token bucket would hold most of them back anyway. */
	n = ip_reass_timer(&core->reass, now, &core->stats, first, 16);
	for (unsigned i = 0; i < n; i++) {
		icmp_send_error(core, now, first[i], ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, out);
		pool_free(&first[i]);
	}
}

uint64_t ip_next_deadline(const struct ip_core *core)
{
	uint64_t a = arp_next_deadline(core);
	uint64_t r = ip_reass_next_deadline(&core->reass);

	return a < r ? a : r;
}

const struct ip_stats *ip_core_stats(const struct ip_core *core)
{
	return &core->stats;
}

unsigned ip_arp_dump(const struct ip_core *core, struct ip_arp_entry *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE && n < max; i++) {
		const struct ip_arp_slot *s = &core->arp[i];

		if (s->state == IP_ARP_FREE)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].addr = s->addr;
		if (s->state == IP_ARP_REACHABLE || s->state == IP_ARP_PROBE)
			memcpy(out[n].mac, s->mac, sizeof(out[n].mac));
		out[n].state = s->state;
		out[n].queued = (uint8_t)(s->qlen > UINT8_MAX ? UINT8_MAX : s->qlen);
		out[n].expires = s->deadline;
		n++;
	}
	return n;
}

unsigned ip_route_dump(const struct ip_core *core, struct ip_route_entry *out, unsigned max)
{
	return route_dump(&core->rt, out, max);
}

void ip_out_discard(struct ip_out *out)
{
	for (unsigned i = 0; i < out->n_wire; i++)
		pool_free(&out->wire[i]);
	for (unsigned i = 0; i < out->n_up; i++)
		pool_free(&out->up[i]);
	out->n_wire = 0;
	out->n_up = 0;
}

uint8_t *ip_push(struct ip_core *core, struct buf **b, size_t len)
{
	uint8_t *p = buf_push(*b, len);
	struct buf *h, *t;

	if (p)
		return p;
	if (len > POOL_HEADROOM)
		return NULL;
	h = pool_alloc(core->pool); /* empty, POOL_HEADROOM of headroom */
	if (!h)
		return NULL;
	t = *b;
	if (buf_chain_append(h, &t) != 0) {
		pool_free(&h);
		return NULL;
	}
	*b = h;
	return buf_push(h, len);
}

int ip_pullup(struct ip_core *core, struct buf **b, uint32_t len)
{
	struct buf *cur = *b, *h;
	uint32_t left = len;
	int rc;

	if (buf_len(cur) >= len)
		return 0;
	if (buf_chain_len(cur) < len || len > POOL_DATA_ROOM)
		return -EINVAL;
	h = pool_alloc(core->pool); /* empty, POOL_DATA_ROOM of tailroom */
	if (!h)
		return -ENOMEM;
	rc = buf_copy_out(cur, 0, buf_put(h, len), len);
	assert(rc == 0);
	/* Drop the copied bytes from the old chain: whole buffers first, then the front of the
	 * one they end in. The old head held fewer than len bytes, so it goes, and the new chain
	 * is never longer than the old one. */
	while (cur && buf_len(cur) <= left) {
		struct buf *rest = buf_chain_split(cur);

		left -= buf_len(cur);
		pool_free(&cur);
		cur = rest;
	}
	if (cur) {
		buf_pull(cur, left);
		rc = buf_chain_append(h, &cur);
		assert(rc == 0);
	}
	(void)rc;
	*b = h;
	return 0;
}

#define F(x) STAT_FIELD(struct ip_stats, x)
const struct stat_field ip_stat_fields[] = {
	F(eth_rx_frames), F(eth_drop_short), F(eth_drop_not_for_us), F(eth_drop_ethertype),
	F(eth_tx_frames),
	F(arp_rx), F(arp_drop_short), F(arp_drop_bad_hw), F(arp_drop_bad_proto), F(arp_drop_bad_op),
	F(arp_drop_bad_sender), F(arp_rx_requests), F(arp_rx_replies), F(arp_tx_requests),
	F(arp_tx_replies), F(arp_tx_gratuitous), F(arp_link_up_requests), F(arp_queue_drops), F(arp_resolve_failed),
	F(arp_table_full), F(arp_tx_probes), F(arp_probe_failed), F(arp_evict_incomplete),
	F(arp_evict_resolved), F(arp_evict_drops),
	F(ip_in_receives), F(ip_in_drop_short), F(ip_in_drop_version), F(ip_in_drop_ihl),
	F(ip_in_drop_total_len), F(ip_in_drop_csum), F(ip_in_drop_options), F(ip_in_drop_src),
	F(ip_in_addr_errors), F(ip_in_unknown_protos), F(ip_in_delivers), F(ip_out_requests),
	F(ip_out_no_routes), F(ip_out_discards), F(ip_out_drop_df), F(ip_out_drop_invalid),
	F(ip_out_loopback),
	F(ip_in_gso), F(ip_in_drop_offload), F(ip_out_gso), F(ip_out_drop_gso),
	F(ip_out_drop_gso_mtu), F(ip_out_csum_partial), F(ip_out_csum_filled),
	F(ip_reasm_reqds), F(ip_reasm_oks), F(ip_reasm_fails), F(ip_reasm_timeouts),
	F(ip_reasm_overlaps), F(ip_reasm_oversize), F(ip_reasm_mem_drops), F(ip_reasm_evicted),
	F(ip_frag_oks),
	F(ip_frag_fails), F(ip_frag_creates),
	F(icmp_in_msgs), F(icmp_in_drop_short), F(icmp_in_drop_csum), F(icmp_in_drop_bcast),
	F(icmp_in_echos), F(icmp_in_dest_unreachs), F(icmp_in_other), F(icmp_in_errors_up),
	F(icmp_out_echo_reps),
	F(icmp_out_dest_unreachs), F(icmp_out_time_excds), F(icmp_out_rate_limited),
	F(icmp_out_drop_nobuf),
};
#undef F
/* Every counter is named: adding a field without a name here fails the build. */
_Static_assert(sizeof(ip_stat_fields) / sizeof(ip_stat_fields[0]) ==
		       sizeof(struct ip_stats) / sizeof(uint64_t),
	       "ip_stat_fields must name every field of struct ip_stats");
const unsigned ip_stat_field_count = sizeof(ip_stat_fields) / sizeof(ip_stat_fields[0]);

/* Gauges read as "ipd.arp_table.entries" and so on: a dot sets them apart from the counters. */
#define G(name, x) {name, offsetof(struct ip_gauges, x)}
const struct stat_field ip_gauge_fields[] = {
	G("arp_table.entries", arp_entries), G("arp_table.incomplete", arp_incomplete),
	G("arp_table.queued_bufs", arp_queued_bufs), G("reasm_table.datagrams", reasm_datagrams),
	G("reasm_table.bufs", reasm_bufs),
};
#undef G
_Static_assert(sizeof(ip_gauge_fields) / sizeof(ip_gauge_fields[0]) ==
		       sizeof(struct ip_gauges) / sizeof(uint64_t),
	       "ip_gauge_fields must name every field of struct ip_gauges");
const unsigned ip_gauge_field_count = sizeof(ip_gauge_fields) / sizeof(ip_gauge_fields[0]);

void ip_core_gauges(const struct ip_core *core, struct ip_gauges *g)
{
	memset(g, 0, sizeof(*g));
	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		if (core->arp[i].state == IP_ARP_FREE)
			continue;
		g->arp_entries++;
		if (core->arp[i].state == IP_ARP_INCOMPLETE)
			g->arp_incomplete++;
	}
	g->arp_queued_bufs = core->arp_held;
	for (unsigned i = 0; i < IP_REASS_SLOTS; i++)
		if (core->reass.slot[i].in_use)
			g->reasm_datagrams++;
	g->reasm_bufs = core->reass.held;
}

int ip_announce(struct ip_core *core, uint64_t now, struct ip_out *out)
{
	return arp_announce(core, now, out);
}

void ip_port_unreachable(struct ip_core *core, uint64_t now, struct buf **dgram,
			 struct ip_out *out)
{
	struct buf *b = *dgram;
	const struct ipv4_hdr *h;

	*dgram = NULL;
	/* The transport is trusted but its descriptor is checked like any input: the header
	 * must be there before icmp_send_error reads it. */
	if (buf_len(b) >= IPV4_HDR_MIN) {
		h = (const struct ipv4_hdr *)buf_data(b);
		if (ipv4_version(h) == 4 && ipv4_hdr_len(h) >= IPV4_HDR_MIN &&
		    ipv4_hdr_len(h) <= buf_len(b)) {
			icmp_send_error(core, now, b, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, out);
			pool_free(&b);
			return;
		}
	}
	core->stats.ip_out_drop_invalid++; /* a transport's request that is not a datagram */
	pool_free(&b);
}
