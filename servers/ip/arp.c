/* arp: the ARP cache for IPv4 over Ethernet (RFC 826, RFC 1122 §2.3.2), with a bounded queue of
 * datagrams waiting on each unresolved entry.
 *
 * Table: IP_ARP_TABLE_SIZE slots inside struct ip_core, searched linearly (a host's neighbours
 * on one link are few). A slot is FREE, INCOMPLETE (requests going out, datagrams queued),
 * REACHABLE (address known until `deadline`) or PROBE (lifetime over, address still used while
 * it is re-confirmed).
 *
 * What gives way to a new entry (after Linux's neighbour table, gc_thresh3 and
 * neigh_forced_gc). Anyone on the link can make us resolve an address: an echo request from a
 * made-up source needs an answer, and the answer an INCOMPLETE entry that lives
 * arp_retry_ms * (arp_max_retries + 1) = 4 s. When INCOMPLETE entries could take every slot and
 * evict resolved ones, 128 such requests evicted the gateway's entry and left no room for it
 * for 4 s (ip_output said -ENOBUFS; a flood of 32 packets a second kept it so). Now:
 *  - the entry of a route's gateway is pinned: never evicted, whatever its state;
 *  - a resolved entry is in use, and never evicted, while datagrams wait on it or for
 *    IP_ARP_IN_USE_MS after one went through it;
 *  - at most IP_ARP_INCOMPLETE_MAX entries are INCOMPLETE: one more evicts the oldest unpinned
 *    INCOMPLETE entry and drops what it queued (arp_evict_incomplete, arp_evict_drops). So
 *    unresolved entries replace each other, oldest first, and a flood of them holds a quarter
 *    of the table at most. The oldest has had the most requests go unanswered; if its reply
 *    still comes, the reply is addressed to us and caches the neighbour anyway (Input);
 *  - below that bound a new entry takes a free slot, else evicts an idle resolved entry (not
 *    pinned, not in use): a PROBE one first (already in doubt), else the least recently used
 *    REACHABLE one (arp_evict_resolved) — what Linux's forced GC does with stale entries; a new
 *    INCOMPLETE entry may, failing that, evict the oldest INCOMPLETE one. An entry learned from
 *    an ARP packet never evicts an INCOMPLETE one: a resolution in progress has a datagram
 *    waiting, a neighbour merely heard from has none. When nothing may give way the new entry
 *    fails (arp_table_full) and ip_output says -ENOBUFS.
 * A flood of unresolvable sources thus never costs the gateway or a neighbour in use. Idle
 * entries it may cost, at most IP_ARP_INCOMPLETE_MAX per resolution lifetime, each resolved
 * again by its next datagram. The gateway is pinned against eviction only: an entry for it
 * that stops answering still fails and goes, as any other.
 *
 * Resolution: the first datagram for an unknown neighbour sends a broadcast request and waits in
 * the entry's queue; a request is retried every arp_retry_ms, arp_max_retries times after the
 * first, and one interval after the last one the entry fails: its queue is dropped (counted per
 * datagram in arp_resolve_failed) and the slot freed, so the next datagram starts over. The
 * queue is bounded by arp_queue_max datagrams per entry and IP_ARP_HELD_MAX buffers in all; a
 * datagram that does not fit is the one dropped (tail drop), so ip_output can say -ENOBUFS to
 * the transport that sent it. Queued datagrams are whole (not yet fragmented); the reply sends
 * them in order through ipv4_xmit, as many as struct ip_out has room for; the rest follow from
 * ip_timer, which arp_next_deadline then asks for at once (deadline 0).
 *
 * Expiry: a REACHABLE entry lives arp_cache_ttl_ms from its last confirmation by an ARP packet
 * (RFC 1122 §2.3.2.1 "timeout" validation), then goes to PROBE rather than away. Removing it
 * would make every datagram to a busy neighbour wait on a fresh broadcast resolution — and if
 * that one request is lost (the link to nicd full under exactly that load), wait arp_retry_ms
 * for the retry while the bounded queue overflows and drops everything else (a benchmark saw
 * a ~1 s blackout). The address was right a moment ago
 * and almost always still is, so, like Linux's NUD_STALE → DELAY → PROBE (and RFC 4861 §7.3's
 * unreachability detection, which it follows), a PROBE entry keeps sending straight to the
 * known MAC while we re-confirm it with requests unicast to that MAC — RFC 1122 §2.3.2.1's
 * "unicast poll", which costs other hosts nothing and which a host answers like any request.
 * Probes follow the resolution schedule (one at once, arp_max_retries more every
 * arp_retry_ms); any ARP packet from the neighbour (reply or request, the RFC 826 merge)
 * makes the entry REACHABLE again with a new lifetime; one interval after the last unanswered
 * probe the entry is removed (arp_probe_failed) and the next datagram resolves by broadcast
 * again. The cost is at most arp_retry_ms * (arp_max_retries + 1) of frames sent to a MAC that
 * has gone — the same window Linux accepts. An entry found past its deadline before the timer
 * ran is moved on first, as the timer would have done.
 *
 * Input follows RFC 826's packet reception algorithm, with input checks first (each with its
 * counter): the hardware and protocol types and lengths, the opcode (RFC 826 would merge before
 * looking at it; we drop unknown opcodes outright, nothing legitimate sends them), and the
 * sender hardware address, which must be unicast (a broadcast sender is the classic cache
 * poisoning trick). Then the merge rule: an entry for the sender protocol address is updated
 * from ANY ARP packet; a new entry is created only when we are the target. A sender protocol
 * address that names no single host (0.0.0.0 of an RFC 5227 probe, broadcast, multicast,
 * loopback) or claims our own address is never cached, but a probe for our address is still
 * answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "ip_priv.h"
#include "wire/arp.h"
#include "wire/eth.h"

static const uint8_t arp_zero_mac[ETH_ADDR_LEN];

struct ip_arp_slot *arp_lookup(struct ip_core *core, uint32_t addr)
{
	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++)
		if (core->arp[i].state != IP_ARP_FREE && core->arp[i].addr == addr)
			return &core->arp[i];
	return NULL;
}

/* Drop every datagram queued on s, counting each as a resolution failure. */
static void arp_drop_queue(struct ip_core *core, struct ip_arp_slot *s, uint64_t *counter)
{
	for (unsigned i = 0; i < s->qlen; i++) {
		pool_free(&s->q[i]);
		if (counter)
			(*counter)++;
	}
	core->arp_held -= s->qbufs;
	s->qlen = 0;
	s->qbufs = 0;
}

static void arp_slot_free(struct ip_core *core, struct ip_arp_slot *s)
{
	arp_drop_queue(core, s, NULL);
	memset(s, 0, sizeof(*s));
}

/* s must stay: a route's gateway, or resolved and in use (see the file comment). */
static bool arp_slot_kept(const struct ip_core *core, uint64_t now, const struct ip_arp_slot *s)
{
	if (route_is_gateway(core, s->addr))
		return true;
	if (s->state == IP_ARP_INCOMPLETE)
		return false;
	return s->qlen > 0 || (s->used != 0 && (now < s->used ||
						  now - s->used < IP_ARP_IN_USE_MS * IP_NS_PER_MS));
}

/* Between two idle resolved entries, is a the one to evict first? PROBE before REACHABLE, then
 * the least recently used, then the one confirmed longest ago. */
static bool arp_idle_before(const struct ip_arp_slot *a, const struct ip_arp_slot *b)
{
	if (a->state != b->state)
		return a->state == IP_ARP_PROBE;
	if (a->used != b->used)
		return a->used < b->used;
	return a->deadline < b->deadline;
}

/* Give up the entry s to make room for another: counted, its queue dropped and counted. */
static void arp_slot_evict(struct ip_core *core, struct ip_arp_slot *s)
{
	if (s->state == IP_ARP_INCOMPLETE)
		core->stats.arp_evict_incomplete++;
	else
		core->stats.arp_evict_resolved++;
	arp_drop_queue(core, s, &core->stats.arp_evict_drops);
	arp_slot_free(core, s);
}

/* An empty slot for a new entry, chosen as the file comment says: `resolving` when the entry
 * will be INCOMPLETE (a datagram waits for it), false when it is learned from an ARP packet.
 * NULL when nothing may give way. */
static struct ip_arp_slot *arp_slot_new(struct ip_core *core, uint64_t now, bool resolving)
{
	struct ip_arp_slot *free_slot = NULL, *oldest = NULL, *idle = NULL, *s;
	unsigned incomplete = 0;

	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		s = &core->arp[i];
		if (s->state == IP_ARP_FREE) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (s->state == IP_ARP_INCOMPLETE)
			incomplete++;
		if (arp_slot_kept(core, now, s))
			continue;
		if (s->state == IP_ARP_INCOMPLETE) {
			if (!oldest || s->born < oldest->born)
				oldest = s;
		} else if (!idle || arp_idle_before(s, idle)) {
			idle = s;
		}
	}
	if (resolving && incomplete >= IP_ARP_INCOMPLETE_MAX)
		s = oldest;
	else if (free_slot)
		s = free_slot;
	else
		s = idle ? idle : resolving ? oldest : NULL;
	if (!s)
		return NULL;
	if (s->state != IP_ARP_FREE)
		arp_slot_evict(core, s);
	s->born = ++core->arp_births;
	return s;
}

/* Build and send an ARP packet from us. Counted by the caller on success. */
static int arp_send(struct ip_core *core, uint16_t op, const uint8_t eth_dst[6],
		    const uint8_t tha[6], uint32_t tpa, struct ip_out *out)
{
	struct buf *b = pool_alloc(core->pool);
	struct arp_eth_ipv4 a = {
		.htype = htons(ARP_HTYPE_ETHER),
		.ptype = htons(ARP_PTYPE_IPV4),
		.hlen = ETH_ADDR_LEN,
		.plen = 4,
		.op = htons(op),
		.spa = core->cfg.addr,
		.tpa = tpa,
	};

	if (!b) {
		core->stats.ip_out_discards++;
		return -ENOBUFS;
	}
	memcpy(a.sha, core->cfg.mac, ETH_ADDR_LEN);
	memcpy(a.tha, tha, ETH_ADDR_LEN);
	memcpy(buf_put(b, sizeof(a)), &a, sizeof(a)); /* fresh: POOL_HEADROOM, room for 28 */
	return eth_output(core, &b, eth_dst, ETH_TYPE_ARP, NULL, out);
}

static bool arp_request_send(struct ip_core *core, uint64_t now, struct ip_arp_slot *s,
			     struct ip_out *out)
{
	bool sent = arp_send(core, ARP_OP_REQUEST, eth_broadcast_addr, arp_zero_mac, s->addr,
			     out) == 0;
	if (sent)
		core->stats.arp_tx_requests++;
	s->deadline = now + (uint64_t)core->cfg.arp_retry_ms * IP_NS_PER_MS;
	return sent;
}

static void arp_request(struct ip_core *core, uint64_t now, struct ip_arp_slot *s,
			struct ip_out *out)
{
	arp_request_send(core, now, s, out);
	/* A request that could not go out still counts as a try: the retry timer is the only
	 * thing that bounds how long datagrams wait. */
	s->requests++;
}

/* Re-confirm the expired entry s (PROBE): a request unicast to the address we know (RFC 1122
 * §2.3.2.1), so only that neighbour sees it. Like arp_request, a probe that could not go out
 * still counts as one: the probe schedule alone bounds how long a dead MAC is used. */
static void arp_probe(struct ip_core *core, uint64_t now, struct ip_arp_slot *s,
		      struct ip_out *out)
{
	if (arp_send(core, ARP_OP_REQUEST, s->mac, arp_zero_mac, s->addr, out) == 0)
		core->stats.arp_tx_probes++;
	s->requests++;
	s->deadline = now + (uint64_t)core->cfg.arp_retry_ms * IP_NS_PER_MS;
}

/* The address of s is known (REACHABLE or PROBE): datagrams go straight to it. */
static bool arp_has_mac(const struct ip_arp_slot *s)
{
	return s->state == IP_ARP_REACHABLE || s->state == IP_ARP_PROBE;
}

/* Run the timer of s if its deadline has come: a REACHABLE entry starts probing, an
 * INCOMPLETE or PROBE one sends its next request or fails. False when s was freed. */
static bool arp_slot_timer(struct ip_core *core, uint64_t now, struct ip_arp_slot *s,
			   struct ip_out *out)
{
	if (s->state == IP_ARP_FREE || now < s->deadline)
		return s->state != IP_ARP_FREE;
	switch (s->state) {
	case IP_ARP_REACHABLE:
		s->state = IP_ARP_PROBE;
		s->requests = 0;
		arp_probe(core, now, s, out);
		return true;
	case IP_ARP_PROBE:
		if (s->requests <= core->cfg.arp_max_retries) {
			arp_probe(core, now, s, out);
			return true;
		}
		if (s->qlen) /* it goes once its queue is out (arp_next_deadline says at once) */
			return true;
		core->stats.arp_probe_failed++;
		arp_slot_free(core, s);
		return false;
	default: /* IP_ARP_INCOMPLETE */
		if (s->requests <= core->cfg.arp_max_retries) {
			arp_request(core, now, s, out);
			return true;
		}
		arp_drop_queue(core, s, &core->stats.arp_resolve_failed);
		arp_slot_free(core, s);
		return false;
	}
}

int arp_announce(struct ip_core *core, uint64_t now, struct ip_out *out)
{
	/* RFC 5227 §2.3: an announcement is a request with our address as both sender and
	 * target, broadcast, so neighbours refresh a stale entry for us (RFC 826 merge). */
	int rc = arp_send(core, ARP_OP_REQUEST, eth_broadcast_addr, arp_zero_mac, core->cfg.addr,
			  out);

	if (rc == 0)
		core->stats.arp_tx_gratuitous++;
	/* The link just came up: what we asked before it did never left (ip_core.h). Asked again
	 * now, with the tries left as they were; the wait restarts from now. */
	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		struct ip_arp_slot *s = &core->arp[i];

		if (s->state == IP_ARP_INCOMPLETE && arp_request_send(core, now, s, out))
			core->stats.arp_link_up_requests++;
	}
	return rc;
}

/* Send what waits on the resolved entry s, oldest first, as long as struct ip_out has room for
 * every frame of the next datagram. What does not fit stays queued, in order, and
 * arp_next_deadline asks for ip_timer at once to go on: sixteen 64 KiB datagrams are 720
 * frames, more than one call may emit (IP_OUT_MAX), and dropping them would waste the wait. */
static void arp_send_queue(struct ip_core *core, struct ip_arp_slot *s, struct ip_out *out)
{
	unsigned i;

	for (i = 0; i < s->qlen; i++) {
		struct buf *d = s->q[i];
		unsigned need = ipv4_frames(core, d, &s->qoff[i]), nb;

		/* A datagram that can never fit is sent anyway: ipv4_xmit drops and counts it. */
		if (need > IP_OUT_MAX - out->n_wire && need <= IP_OUT_MAX)
			break;
		nb = buf_chain_count(d);
		s->qbufs -= nb;
		core->arp_held -= nb;
		s->q[i] = NULL;
		ipv4_xmit(core, &d, s->mac, &s->qoff[i], out);
	}
	memmove(s->q, s->q + i, (s->qlen - i) * sizeof(s->q[0]));
	memset(s->q + (s->qlen - i), 0, i * sizeof(s->q[0]));
	memmove(s->qoff, s->qoff + i, (s->qlen - i) * sizeof(s->qoff[0]));
	memset(s->qoff + (s->qlen - i), 0, i * sizeof(s->qoff[0]));
	s->qlen -= i;
}

/* The neighbour's address is known (again): remember it and send what waited for it. */
static void arp_resolved(struct ip_core *core, uint64_t now, struct ip_arp_slot *s,
			 const uint8_t mac[6], struct ip_out *out)
{
	memcpy(s->mac, mac, ETH_ADDR_LEN);
	s->state = IP_ARP_REACHABLE;
	s->requests = 0;
	s->deadline = now + (uint64_t)core->cfg.arp_cache_ttl_ms * IP_NS_PER_MS;
	arp_send_queue(core, s, out);
}

void arp_input(struct ip_core *core, uint64_t now, struct buf **pkt, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct arp_eth_ipv4 a;
	struct ip_arp_slot *s;
	uint16_t op;
	bool for_us, cacheable;

	*pkt = NULL;
	core->stats.arp_rx++;
	if (buf_len(b) < ARP_ETH_IPV4_LEN) {
		core->stats.arp_drop_short++;
		goto drop;
	}
	memcpy(&a, buf_data(b), sizeof(a));
	if (ntohs(a.htype) != ARP_HTYPE_ETHER || a.hlen != ETH_ADDR_LEN) {
		core->stats.arp_drop_bad_hw++;
		goto drop;
	}
	if (ntohs(a.ptype) != ARP_PTYPE_IPV4 || a.plen != 4) {
		core->stats.arp_drop_bad_proto++;
		goto drop;
	}
	op = ntohs(a.op);
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY) {
		core->stats.arp_drop_bad_op++;
		goto drop;
	}
	if (eth_addr_is_multicast(a.sha) || eth_addr_is_zero(a.sha)) {
		core->stats.arp_drop_bad_sender++;
		goto drop;
	}
	if (op == ARP_OP_REQUEST)
		core->stats.arp_rx_requests++;
	else
		core->stats.arp_rx_replies++;

	/* RFC 826 merge: update an existing entry from any packet; create one only if the
	 * packet is for us (so we learn only neighbours that talk to us). */
	for_us = a.tpa == core->cfg.addr;
	cacheable = !route_is_bad_src(core, a.spa);
	s = cacheable ? arp_lookup(core, a.spa) : NULL;
	if (s) {
		arp_resolved(core, now, s, a.sha, out);
	} else if (cacheable && for_us) {
		s = arp_slot_new(core, now, false);
		if (s) {
			s->addr = a.spa;
			arp_resolved(core, now, s, a.sha, out);
		} else {
			core->stats.arp_table_full++;
		}
	}

	/* A request claiming our own address as its sender is our announcement reflected back,
	 * or a host in conflict with us (RFC 5227 §2.4 defence is not done): never answered. */
	if (!for_us || op != ARP_OP_REQUEST || a.spa == core->cfg.addr)
		goto drop;
	/* The reply reuses the request's buffer: swap the addresses in place, cut any Ethernet
	 * padding, and send it back to the asker only. */
	a.op = htons(ARP_OP_REPLY);
	memcpy(a.tha, a.sha, ETH_ADDR_LEN);
	a.tpa = a.spa;
	memcpy(a.sha, core->cfg.mac, ETH_ADDR_LEN);
	a.spa = core->cfg.addr;
	buf_trim(b, ARP_ETH_IPV4_LEN);
	memcpy(buf_data(b), &a, sizeof(a));
	if (eth_output(core, &b, a.tha, ETH_TYPE_ARP, NULL, out) == 0)
		core->stats.arp_tx_replies++;
	return;
drop:
	pool_free(&b);
}

int arp_output(struct ip_core *core, uint64_t now, uint32_t nexthop, struct buf **dgram,
	       const struct ip_offload *off, struct ip_out *out)
{
	struct ip_arp_slot *s = arp_lookup(core, nexthop);
	struct buf *d = *dgram;
	unsigned nbufs;

	*dgram = NULL;
	/* Past its deadline but the timer has not run yet: do what it would have done. */
	if (s && !arp_slot_timer(core, now, s, out))
		s = NULL;
	if (s)
		s->used = now;
	if (s && arp_has_mac(s) && s->qlen == 0)
		return ipv4_xmit(core, &d, s->mac, off, out);
	if (!s) {
		s = arp_slot_new(core, now, true);
		if (!s) {
			core->stats.arp_table_full++;
			pool_free(&d);
			return -ENOBUFS;
		}
		s->addr = nexthop;
		s->state = IP_ARP_INCOMPLETE;
		s->used = now;
		arp_request(core, now, s, out);
	}
	nbufs = buf_chain_count(d);
	if (s->qlen >= core->cfg.arp_queue_max || core->arp_held + nbufs > IP_ARP_HELD_MAX) {
		core->stats.arp_queue_drops++;
		pool_free(&d);
		return -ENOBUFS;
	}
	s->qoff[s->qlen] = off ? *off : (struct ip_offload){0};
	s->q[s->qlen++] = d;
	s->qbufs += nbufs;
	core->arp_held += nbufs;
	/* Resolved, but older datagrams still wait for room in out: keep the order. */
	if (arp_has_mac(s))
		arp_send_queue(core, s, out);
	return 0;
}

void arp_timer(struct ip_core *core, uint64_t now, struct ip_out *out)
{
	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		struct ip_arp_slot *s = &core->arp[i];

		if (arp_has_mac(s) && s->qlen)
			arp_send_queue(core, s, out);
		arp_slot_timer(core, now, s, out);
	}
}

uint64_t arp_next_deadline(const struct ip_core *core)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		const struct ip_arp_slot *s = &core->arp[i];

		if (arp_has_mac(s) && s->qlen)
			return 0; /* datagrams left over for lack of room in out: at once */
		if (s->state != IP_ARP_FREE && s->deadline < next)
			next = s->deadline;
	}
	return next;
}

void arp_flush(struct ip_core *core)
{
	for (unsigned i = 0; i < IP_ARP_TABLE_SIZE; i++)
		if (core->arp[i].state != IP_ARP_FREE)
			arp_slot_free(core, &core->arp[i]);
}
