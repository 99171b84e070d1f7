/* tcpd_data: segments between ipd and the core (tcp_v4_rcv and tcp_transmit_skb of the kernel,
 * cut at the process boundary).
 *
 * In (tcpd_rx_batch): at most TCPD_RX_BUDGET batches a pass. A descriptor from ipd has its data
 * at the IPv4 header and l4_off at the TCP header. The checksum is trusted when ipd or the
 * device verified it (DESC_F_CSUM_VERIFIED, which a partial checksum from the TAP's kernel side
 * and our own loopback traffic carry too), else computed here over the chain; a bad one goes to
 * tcp_input marked so, which counts and drops it. A GRO super-frame (gso_type TCPV4) counts as
 * ceil(payload / gso_size) segments for the core's delayed ACKs. The header is handed over
 * contiguous (copied out when the chain splits it). Before tcp_input, the segment's connection
 * is looked up (tcp_lookup) and a segment with payload is dropped, as a full ring drops, when
 * the core could accept bytes tcpd cannot keep: its session is not mapped (restarted, not
 * resumed yet), or early data of a connection not accepted has no room (tcpd_stream.c). After
 * tcp_input, io.place is copied from the chain (tcpd_place), then the io runs. A segment with
 * payload for a connection is one transaction of the state segment (tcpd_store.h): the
 * connection's record is saved before tcp_input and committed after tcpd_place, so a tcpd
 * killed between the two (the core has counted the bytes in rcv_nxt, the ring does not have
 * them) rolls the segment back as never received, and the peer resends it; otherwise the
 * next tcpd would publish the ring's stale bytes at those indices as received data (the
 * churn test saw an echo come back with foreign bytes in it). Its output and events leave
 * after the commit (tcpd_io_run), as a request's do. ICMP errors
 * (DESC_F_ICMP_ERROR: data at the outer IPv4 header, l4_off at the ICMP header) go to
 * tcp_icmp_error with the quote and the next-hop MTU.
 *
 * Out (tcpd_emit): each struct tcp_tx is one packet for ipd with data at the TCP header: a pool
 * buffer with the header (options included) and the payload copied once from the connection's
 * TX ring at index(seq), appended into further buffers of the chain as needed. The checksum is
 * left partial (DESC_F_CSUM_NEEDED, csum_start 0, csum_offset 16, the field holding the
 * pseudo-header sum over the whole TCP length, folded, not inverted): ipd completes it in
 * software when the instance's offload is off or it must fragment, the TAP's kernel side
 * otherwise. A tcp_tx with gso_size (the core sets it only when the host has TSO, i.e. offload
 * on) is a super-segment of up to TCPD_TSO_MAX payload bytes: gso_type TCPV4, gso_size = MSS,
 * for the device to cut. Every segment has DF (Linux's TCP does path MTU discovery). A
 * segment with payload for a connection whose streams are not mapped is not built (counted):
 * the core resends it by its timers once they are. Segments go to ipd in batches of
 * DESC_BATCH_MAX, flushed when full and at the end of every handler; a batch the link refuses
 * (ipd away, its queue full) is dropped and counted, and TCP resends.
 *
 * Latency (docs/ARCHITECTURE.md, "Latency"). A segment's t_arr and t_in are those of the turn
 * that released it (u->turn_arr, u->turn_in; reset when tcpd_io_run has emitted the turn's
 * output): a segment from ipd (its ACK, and data its ACK lets out: timed from its arrival in
 * tcpd, entry inherited as ipd's echo replies inherit theirs), or the application's bytes
 * taken up from its TX ring (tcpd_stream.c: entry = the take-up, one clock read). So the
 * link's inside_to_ipd is "the work that released the segment entered tcpd -> the batch went
 * to ipd". Time the bytes then wait in the send buffer for the window is TCP's queueing, not
 * tcpd's processing, and is not in it. Timers and requests leave t_arr 0: not counted. On
 * the way in, tcpd_place times each placement into an RX ring from the segment's t_arr
 * (inside_to_app) and t_in (total_to_app), one clock read per segment with payload.
 *
 * The io (tcpd_io_run): after a core call, its segments are emitted, then the events of the
 * cids it listed are taken and acted on (tcpd_event: a slot synced, a freed connection's slot
 * released), which may call the core again and so add to the io; then output the core
 * deferred for want of io room (tcp_output_deferred), up to TCPD_DEFER_ROUNDS rounds, the rest
 * from the next pass (the timer is armed at once for it).
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "checksum.h"
#include "log.h"
#include "tcpd_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

#define TCPD_ICMP_QUOTE_MAX (IPV4_HDR_MAX + TCP_HDR_MAX)

/* ---- out ---- */

void tcpd_out_flush(struct tcpd *u)
{
	if (!u->n_out)
		return;
	unsigned n = u->n_out;
	u->n_out = 0;
	/* Latency: a segment no turn accounts for (a timer's, a request's) enters the stack
	 * here; its t_arr stays 0, so inside_to_ipd counts only what tcpd could measure. */
	uint64_t now = clock_now();
	for (unsigned i = 0; i < n; i++)
		if (!u->out_desc[i].t_in)
			u->out_desc[i].t_in = now;
	int rc = link_send(u->to_ipd, u->out, u->out_desc, n);
	if (rc == -EINVAL)
		pool_free_burst(u->pool, u->out, n); /* consumed entries are NULL */
	if (rc < 0) {
		u->stats.tx_drop_link++;
		uint64_t since = now - u->ipd_reconnected_at;
		if (u->ipd_reconnected_at && since < TCPD_RECONNECT_WATCH_MS * CLOCK_NS_PER_MS) {
			/* Seen: ZeroMQ reports the new connection, and a send 0.1 ms later still
			 * gets EAGAIN. The kick's retransmissions lost that way waited for a
			 * doubled RTO, ~400 ms, instead of going out now. */
			u->stats.tx_drop_link_reconnect++;
			if (!u->reconnect_drop_logged)
				log_notice("a batch of %u segments to ipd was dropped (%s) %.1f ms "
					   "after ipd reconnected: kicking the path again", n,
					   strerror(-rc), (double)since / 1e6);
			u->reconnect_drop_logged = true;
			u->rekick_at = now + TCPD_REKICK_MS * CLOCK_NS_PER_MS;
			if (u->loop && u->rekick_timer >= 0)
				loop_arm_timer(u->loop, u->rekick_timer, u->rekick_at);
		}
	}
}

static void tcpd_out_add(struct tcpd *u, struct buf **b, const struct desc *d)
{
	u->out[u->n_out] = *b;
	u->out_desc[u->n_out] = *d;
	*b = NULL;
	if (++u->n_out == DESC_BATCH_MAX)
		tcpd_out_flush(u);
}

/* The TX ring and index a segment's payload comes from; NULL if its streams are not here,
 * counted: not bound at all, or bound in a session whose region is not mapped (after a restart,
 * until its application resumes). */
static struct stream_ring *tcpd_tx_source(struct tcpd *u, const struct tcp_tx *tx, uint64_t *at)
{
	unsigned b = tx->cid ? tcpd_bind_of(u, tx->cid) : TCPD_BIND_NONE;
	const struct tcpd_bind *bd = b == TCPD_BIND_NONE ? NULL : &u->st->binds[b];
	if (!bd || bd->cid != tx->cid || !(bd->flags & TCPD_B_TX_BASE)) {
		u->stats.tx_drop_unbound++;
		return NULL;
	}
	struct region *r = tcpd_region(u, b / REGION_SLOTS_MAX);
	if (!r) {
		u->stats.tx_drop_detached++;
		return NULL;
	}
	uint32_t seq = tx->seq + ((tx->flags & TCP_SYN) ? 1u : 0u);
	*at = bd->tx_base_index + (uint32_t)(seq - bd->tx_base_seq);
	return region_stream_tx(r, b % REGION_SLOTS_MAX);
}

static void tcpd_emit(struct tcpd *u, const struct tcp_tx *tx)
{
	uint32_t plen = tx->payload_len;
	struct stream_ring *ring = NULL;
	uint64_t at = 0;
	struct iovec sp[2];
	int pieces = 0;
	if (plen) {
		ring = tcpd_tx_source(u, tx, &at);
		if (!ring)
			return;
		pieces = stream_ring_spans(ring, at, plen, sp);
		if (pieces < 0) {
			u->stats.tx_drop_ring++;
			return;
		}
	}
	struct buf *h = pool_alloc(u->pool); /* data at POOL_HEADROOM: room for IPv4, Ethernet */
	if (!h) {
		u->stats.tx_drop_nobuf++;
		return;
	}
	unsigned hl = TCP_HDR_MIN + tx->opt_len;
	uint8_t *p = buf_put(h, hl);
	if (!p) {
		pool_free(&h);
		u->stats.tx_drop_nobuf++;
		return;
	}
	struct tcp_hdr th = {
		.sport = tx->sport,
		.dport = tx->dport,
		.seq = htonl(tx->seq),
		.ack = htonl(tx->ack),
		.off_rsv = (uint8_t)((hl / 4u) << 4),
		.flags = tx->flags,
		.wnd = htons(tx->wnd),
		.urp = htons(tx->urp),
	};
	uint32_t tcp_len = hl + plen;
	/* Partial: the pseudo-header sum, folded, not inverted (desc.h, DESC_F_CSUM_NEEDED). */
	th.csum = htons((uint16_t)~csum_fold(csum_pseudo_ipv4(tx->saddr, tx->daddr, IPV4_PROTO_TCP,
							      (uint16_t)tcp_len)));
	memcpy(p, &th, sizeof(th));
	memcpy(p + TCP_HDR_MIN, tx->opt, tx->opt_len);
	for (int i = 0; i < pieces; i++) {
		/* One copy, from the application's ring into the pool: what the peer gets is what
		 * the ring held now (the application may rewrite its own unacknowledged bytes,
		 * harming only its own stream). */
		if (buf_append_data(h, sp[i].iov_base, sp[i].iov_len) < 0) {
			pool_free(&h);
			u->stats.tx_drop_nobuf++;
			return;
		}
	}
	struct desc d = {
		.flags = DESC_F_CSUM_NEEDED | DESC_F_IP_DF,
		.csum_start = 0,
		.csum_offset = 16, /* offsetof(struct tcp_hdr, csum) */
		.saddr = tx->saddr,
		.daddr = tx->daddr,
		.proto = IPV4_PROTO_TCP,
		.tos = tx->tos,
		.t_in = u->turn_in,
		.t_arr = u->turn_arr,
	};
	if (tx->gso_size && plen > tx->gso_size) {
		d.gso_type = DESC_GSO_TCPV4;
		d.gso_size = tx->gso_size;
		u->stats.tx_tso++;
	}
	u->stats.tx_segs++;
	u->stats.tx_bytes += plen;
	tcpd_out_add(u, &h, &d);
}

/* ---- the io of a core call ---- */

void tcpd_io_run(struct tcpd *u, uint64_t now)
{
	if (u->io_depth)
		return; /* the outer run drains what this call added */
	u->io_depth++;
	unsigned deferred = 0;
	for (;;) {
		for (unsigned i = 0; i < u->io.n_tx; i++)
			tcpd_emit(u, &u->io.tx[i]);
		u->io.n_tx = 0;
		if (u->io.n_ev) {
			uint32_t ev[TCPD_IO_EV];
			unsigned n = u->io.n_ev;
			memcpy(ev, u->io.ev, n * sizeof(ev[0]));
			u->io.n_ev = 0;
			for (unsigned i = 0; i < n; i++)
				tcpd_event(u, ev[i], tcp_take_events(u->t, ev[i]), now);
			continue;
		}
		if (!u->t->n_deferred)
			break;
		if (deferred++ == TCPD_DEFER_ROUNDS) {
			u->stats.io_rounds_left++;
			loop_arm_timer(u->loop, u->timer_id, now); /* on the next pass */
			break;
		}
		tcp_output_deferred(u->t, now, &u->io);
	}
	u->io_depth--;
	u->turn_arr = u->turn_in = 0; /* its output is out: the turn is over */
}

void tcpd_rearm(struct tcpd *u)
{
	if (u->loop)
		loop_arm_timer(u->loop, u->timer_id, tcp_next_deadline(u->t));
}

/* What was in flight through ipd is lost: every connection retransmits it now and says where
 * it is (tcp_path_restored), and it goes out at once. Returns the connections kicked. */
static unsigned tcpd_path_kick(struct tcpd *u, uint64_t now)
{
	unsigned kicked = tcp_path_restored(u->t, now, 0, tcpd_io(u));
	u->stats.path_kicks += kicked;
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	tcpd_rearm(u);
	return kicked;
}

bool tcpd_ipd_connected(void *arg, uint64_t now)
{
	struct tcpd *u = arg;
	if (link_peer_events_drain(u->to_ipd) == 0)
		return false;
	u->stats.ipd_reconnects++;
	u->ipd_reconnected_at = now;
	u->reconnect_drop_logged = false;
	unsigned kicked = tcpd_path_kick(u, now);
	log_info("ipd reconnected: %u connections retransmit what was in flight now", kicked);
	return false;
}

uint64_t tcpd_rekick(void *arg, uint64_t now)
{
	struct tcpd *u = arg;
	u->rekick_at = 0;
	u->stats.path_rekicks++;
	tcpd_path_kick(u, now);
	/* dropped again, still within the watch: the flush set the next one (the loop keeps
	 * what a timer returns, not what was armed during it) */
	return u->rekick_at ? u->rekick_at : CLOCK_NEVER;
}

uint64_t tcpd_timer(void *arg, uint64_t now)
{
	struct tcpd *u = arg;
	tcp_timers(u->t, now, &u->io);
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	xport_wake_flush(&u->x);
	uint64_t next = tcp_next_deadline(u->t);
	return u->t->n_deferred && next > now ? now : next;
}

/* ---- in ---- */

static void tcpd_icmp(struct tcpd *u, const struct buf *pkt, const struct desc *d, uint64_t now)
{
	struct icmp_hdr ih;
	u->stats.icmp_in++;
	uint8_t quoted[TCPD_ICMP_QUOTE_MAX];
	size_t qlen;
	if (xport_icmp_split(pkt, d, &ih, quoted, sizeof(quoted), &qlen) < 0) {
		u->stats.icmp_drop_short++;
		return;
	}
	tcp_icmp_error(u->t, now, ih.type, ih.code, ntohs(ih.un.frag.mtu), quoted, qlen, &u->io);
	tcpd_io_run(u, now);
}

/* Can tcpd keep the payload the core may accept from this segment? (file comment) */
static bool tcpd_rx_gate(struct tcpd *u, const struct desc *d, const struct tcp_hdr *th,
			 uint32_t payload)
{
	if (!payload)
		return true;
	uint32_t cid = tcp_lookup(u->t, d->daddr, th->dport, d->saddr, th->sport);
	if (!cid)
		return true; /* a SYN to a listener, or nobody's: the core answers */
	unsigned b = tcpd_bind_of(u, cid);
	if (b != TCPD_BIND_NONE && u->st->binds[b].cid == cid) {
		if (tcpd_region(u, b / REGION_SLOTS_MAX))
			return true;
		u->stats.rx_drop_detached++;
		return false;
	}
	unsigned idx = cid & 0x7fffu;
	const struct tcp_conn *c = &u->t->conn[idx];
	if (c->owner != 0 || (c->flags & TCP_F_ORPHAN))
		return true; /* an orphan resets on data; nothing is placed */
	if (tcpd_stage_ready(u, idx, c))
		return true;
	u->stats.rx_drop_stage++;
	return false;
}

static void tcpd_rx_one(struct tcpd *u, struct buf **pkt, const struct desc *d, uint64_t now)
{
	if (d->proto != IPV4_PROTO_TCP) {
		u->stats.rx_drop_not_tcp++;
		return;
	}
	if (d->flags & DESC_F_ICMP_ERROR) {
		tcpd_icmp(u, *pkt, d, now);
		return;
	}
	uint32_t len = d->len > d->l4_off ? d->len - d->l4_off : 0;
	uint8_t hdr_copy[TCP_HDR_MAX];
	const uint8_t *hdr;
	if (len < TCP_HDR_MIN) {
		u->stats.rx_drop_short++;
		return;
	}
	/* The header contiguous: in the head buffer as a rule, copied out when a chain splits it. */
	if (buf_len(*pkt) >= (uint32_t)d->l4_off + TCP_HDR_MAX ||
	    buf_len(*pkt) >= (uint32_t)d->l4_off + len) {
		hdr = buf_data(*pkt) + d->l4_off;
	} else {
		uint32_t n = len < TCP_HDR_MAX ? len : TCP_HDR_MAX;
		if (buf_copy_out(*pkt, d->l4_off, hdr_copy, n) < 0) {
			u->stats.rx_drop_short++;
			return;
		}
		hdr = hdr_copy;
	}
	struct tcp_hdr th;
	memcpy(&th, hdr, sizeof(th));
	uint32_t hl = tcp_hdr_len(&th);
	uint32_t payload = hl >= TCP_HDR_MIN && hl <= len ? len - hl : 0;
	bool ok = true;
	if (!(d->flags & DESC_F_CSUM_VERIFIED)) {
		uint32_t sum = csum_pseudo_ipv4(d->saddr, d->daddr, IPV4_PROTO_TCP, (uint16_t)len);
		ok = csum_fold(csum_chain(*pkt, d->l4_off, len, sum)) == 0;
		u->stats.rx_csum_checked++;
	}
	uint16_t segs = 1;
	if (d->gso_type == DESC_GSO_TCPV4 && d->gso_size) {
		segs = (uint16_t)((payload + d->gso_size - 1u) / d->gso_size);
		if (segs == 0)
			segs = 1;
		u->stats.rx_gro_frames++;
	}
	if (ok && !tcpd_rx_gate(u, d, &th, payload))
		return;
	struct tcp_seg_in seg = {
		.saddr = d->saddr,
		.daddr = d->daddr,
		.hdr = hdr,
		.seg_len = len,
		.gso_segs = segs,
		.tos = d->tos,
		.bcast = (d->flags & DESC_F_BCAST) != 0,
		.csum_ok = ok,
	};
	u->stats.rx_segs++;
	u->in_pkt = *pkt;
	u->in_payload_at = d->l4_off + hl;
	/* What this segment makes tcpd send (its ACK, data the ACK lets out) is timed from its
	 * arrival here and inherits its stack entry, as ipd's echo replies do. */
	u->in_t_arr = u->turn_arr = d->t_arr;
	u->in_t_in = u->turn_in = d->t_in;
	u->io.place.len = 0;
	/* Payload for a connection: what tcp_input counts as received (rcv_nxt, the
	 * out-of-order ranges) and the bytes tcpd_place copies into its RX ring commit together
	 * (file comment). */
	uint32_t cid = ok && payload ? tcp_lookup(u->t, d->daddr, th.dport, d->saddr, th.sport) : 0;
	if (cid) {
		tcpd_store_begin(u->st);
		tcpd_store_save_core(u->st, TCPD_REACH_SOCK, cid);
	}
	tcp_input(u->t, now, &seg, &u->io);
	if (u->io.place.len)
		tcpd_place(u, &u->io.place, now);
	if (cid)
		tcpd_store_end(u->st);
	u->io.place.len = 0;
	u->in_pkt = NULL;
	tcpd_io_run(u, now);
}

bool tcpd_rx_batch(void *arg, uint64_t now)
{
	struct tcpd *u = arg;
	struct buf *bufs[LINK_RECV_MAX];
	struct desc d[LINK_RECV_MAX];
	bool more = true;
	/* A ring says a new ipd attached by its pid (one shared-memory load); a ZeroMQ link's
	 * monitor is a loop source. */
	if (!u->ipd_monitor)
		tcpd_ipd_connected(u, now);
	for (unsigned round = 0; round < TCPD_RX_BUDGET; round++) {
		int n = link_recv(u->from_ipd, bufs, d, LINK_RECV_MAX);
		if (n == -EAGAIN) {
			more = false;
			break;
		}
		for (int i = 0; i < n; i++) {
			tcpd_rx_one(u, &bufs[i], &d[i], now);
			pool_free(&bufs[i]);
		}
		if (link_recv_drained(n, LINK_RECV_MAX))
			break; /* rings and timers first; what arrives meanwhile, next pass */
	}
	tcpd_out_flush(u);
	xport_wake_flush(&u->x);
	tcpd_rearm(u);
	return more;
}
