/* udpd_data: datagrams between ipd and the applications' regions (udp_rcv / udp_sendmsg of the
 * kernel, cut at the process boundary).
 *
 * RX (rx_batch): batches from ipd, at most UDPD_RX_BUDGET per pass. udp_input decides which
 * sockets get a datagram; for each, the payload is copied ONCE from the pool chain into the
 * socket's slot ring as one record (struct region_rx_dgram + payload), committed, and the slot
 * is marked for a wake-up. The record carries what recvmsg's control messages need (the
 * destination, the interface and reply address as route.h derives them, TTL and TOS from the
 * descriptor, the batch's CLOCK_REALTIME arrival time) and which of them the socket's options
 * ask for (REGION_RX_CMSG_*); libsock formats them. Wake-ups are written after the whole batch, one per slot (not one
 * per datagram: an eventfd write costs as much as the copy of a small datagram). A datagram is
 * dropped (udp_rx_rcvbuf_drop: rcvbuf_errors, the socket's drops) when the bytes already queued
 * in the ring exceed the socket's SO_RCVBUF, as Linux checks sk_rmem_alloc against sk_rcvbuf
 * before queueing, or when the ring has no room for the record. A datagram larger than the ring
 * can ever hold is cut to the ring's largest record and flagged REGION_RX_TRUNC. A datagram no
 * socket wants goes back to ipd as it came, flagged DESC_F_PORT_UNREACH (ipd answers with ICMP
 * port unreachable under its rate limit). ICMP errors (DESC_F_ICMP_ERROR) go to udp_icmp_error;
 * if a socket gets a pending error, its slot is woken so a blocked reader returns, and with
 * IP_RECVERR the error joins the socket's error queue (udpd_errq.c) with its quoted payload. Every buffer
 * received is freed or handed back: the pool's idle count is an invariant.
 *
 * TX (tx_round, tx_session): every session's TX ring in turn (round robin, so the one held
 * back last goes first), at most UDPD_TX_BUDGET records each per pass. Each record's fixed
 * part is copied out of the ring and checked (type, size, known flags, slot in range and
 * holding an open socket of this session) before use; a bad record is counted and skipped, a
 * broken ring (-EBADMSG: the application wrote what the ring rules forbid) ends the session.
 * udp_output decides; the payload is copied once from the ring into pool buffers (a chain for
 * large payloads; the head keeps POOL_HEADROOM for UDP, IPv4 and Ethernet headers), the UDP
 * header is pushed with its checksum left partial (DESC_F_CSUM_NEEDED: ipd or the device
 * completes it, as Linux's UDP leaves it to a device with checksum offload; the payload is
 * never summed here), and the datagram joins the batch to ipd (flushed at
 * DESC_BATCH_MAX and at the end of every pass) with the socket's TTL, TOS and Don't Fragment
 * in its descriptor, which ipd puts in the IPv4 header.
 * Back-pressure (udpd_tx_may_take): a record is taken only when its datagram can go on
 * without a drop: a new batch only while the link to ipd takes one (else the loop waits for
 * the link's POLLOUT), buffers only while the pool keeps its reserve (else a retry timer). The
 * record stays in the ring meanwhile, so the application's send buffer stays full and its
 * senders wait, as a stopped qdisc makes Linux's wait; ipd does the same towards nicd.
 * Send buffers (region.h): records are consumed, and their space (with their send-buffer
 * charge) given back to the application only by udpd_tx_done, once their datagrams are handed
 * to ipd; corked payload keeps its records' charge (cork_charge, shown in the slot's tx_held)
 * until its datagram goes out or is dropped. udpd_tx_done then bumps the ring's room_seq and
 * wakes the senders that sleep on it.
 * A send refused here (udp_output's error, a link or pool failure despite the above) is only
 * counted: sends are asynchronous, libsock made Linux's checks (the route lookup included,
 * with the same table: common/route.h) before producing the record and reported those errors
 * itself; what can still fail here is what Linux would also lose silently after a successful
 * sendmsg (an ICMP error arriving later, which is then reported as the pending error on the
 * next call).
 *
 * Corking keeps the corked payload as a pool chain per socket in process memory: a restart
 * loses it, and udp_table_recover drops the corked state accordingly (cork_lost_restart), so
 * the application sees a corked datagram vanish as it would on a flush (and the session's
 * tx_held are zeroed when it attaches again). Corks are limited per uid and in all
 * (udpd_quota.c).
 *
 * RX copies are budgeted too (UDPD_RX_COPY_BUDGET per pass): a datagram broadcast to many
 * sockets costs a copy per socket, and the sockets are the applications'.
 *
 * Eventfd writes go through xport_wake.c, which never lets an application's eventfd block the
 * loop.
 *
 * Latency (docs/ARCHITECTURE.md "Observability"; region.h, "Latency of the two hops"): a
 * datagram enters the stack when udpd takes its record from the application's TX ring (t_in =
 * t_arr = tx_now, one clock read per session turn), so the link's inside_to_ipd is
 * record-taken-to-batch-sent, and transit_from_app is tx_now - the record's t_sent (the
 * application's commit): the two hops meet at tx_now. A record committed after tx_now was read
 * (its stamp is later) makes udpd read the clock again before it is counted. Going up, each
 * record's commit to a ring reads the clock once: that time is the end of inside_to_app (from
 * the datagram's arrival in udpd) and total_to_app (from its t_in at nicd: wire to the ring),
 * and travels in the record (t_ring) as the start of the hop the application measures and
 * udpd collects (app_transit_from_udpd, udpd_app_collect). One read per record rather than one
 * per batch: the hops then meet at one instant, and the record cannot carry a time read after
 * it was published. Each record counts (a datagram delivered to two sockets counts twice).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "udpd_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define UDPD_ICMP_QUOTE_MAX (IPV4_HDR_MAX + UDP_HDR_LEN)

/* ---- the batch to ipd ---------------------------------------------------------------------- */

void udpd_out_flush(struct udpd *u)
{
	if (!u->n_out)
		return;
	unsigned n = u->n_out;
	u->n_out = 0;
	/* link_send consumes the chains whether or not the batch goes out, except on a caller
	 * bug: -EINVAL changes nothing, so free them then (consumed entries are NULL and
	 * skipped); -EPERM means a chain is not ours, and freeing it would be the worse bug. */
	int rc = link_send(u->to_ipd, u->out, u->out_desc, n);
	u->link_room = false; /* that batch may have been the last the link took */
	if (rc == -EINVAL)
		pool_free_burst(u->pool, u->out, n);
	for (unsigned i = 0; i < n; i++) {
		if (rc < 0 && u->out_sid[i]) {
			udp_tx_sndbuf_drop(u->t, u->out_sid[i]);
			u->stats.tx_drop_link++;
		}
		/* Handed on (or dropped): no longer in flight in udpd for its uid. */
		xport_uid_bufs_sub(&u->x, u->out_uid[i], u->out_bufs[i], false);
	}
}

/* Queue *b (consumed) for ipd with descriptor d; sid is the sending socket, or 0. A datagram
 * that would take its uid over its share of buffers in flight sends the batch first. */
static void udpd_out_add(struct udpd *u, struct buf **b, const struct desc *d, uint32_t sid)
{
	unsigned ix = sid ? udpd_sock_uid(u, sid & 0xffffu) : UDPD_UIDS_MAX;
	unsigned n = buf_chain_count(*b);
	if (ix < UDPD_UIDS_MAX && u->n_out && u->x.uids[ix].buffers + n > u->x.lim.uid_buffers)
		udpd_out_flush(u);
	u->out[u->n_out] = *b;
	u->out_desc[u->n_out] = *d;
	u->out_sid[u->n_out] = sid;
	u->out_uid[u->n_out] = (uint16_t)ix;
	u->out_bufs[u->n_out] = (uint16_t)n;
	xport_uid_bufs_add(&u->x, ix, n, false);
	*b = NULL;
	if (++u->n_out == DESC_BATCH_MAX)
		udpd_out_flush(u);
}

/* ---- wake-ups (xport_wake.c writes them) -------------------------------------------------- */

/* Session index and slot of socket sid, or -1 if it has none (closed meanwhile). */
static int udpd_sock_place(const struct udpd *u, uint32_t sid, unsigned *slot)
{
	unsigned k = sid & 0xffffu;
	if (k >= UDP_SOCKETS_MAX || !u->t->sock[k].in_use)
		return -1;
	int si = udpd_session_of_owner(u, u->t->sock[k].owner);
	if (si < 0)
		return -1;
	unsigned sl = u->sock_slot[k];
	if (sl >= REGION_SLOTS_MAX || u->st->sessions[si].slot_sid[sl] != sid)
		return -1;
	*slot = sl;
	return si;
}

void udpd_wake_sid(struct udpd *u, uint32_t sid)
{
	unsigned slot;
	int si = udpd_sock_place(u, sid, &slot);
	if (si >= 0 && u->x.sess[si].state == XPORT_SESS_ATTACHED)
		xport_wake_mark(&u->x, (unsigned)si, slot);
}

/* ---- RX ------------------------------------------------------------------------------------ */

/* The control messages socket slot idx asked for (Linux decides at recvmsg; we decide when the
 * datagram is queued, the only time the server has it). */
static uint16_t udpd_cmsg_flags(const struct udpd *u, unsigned idx)
{
	uint32_t f = u->t->sock[idx].ext.flags;
	uint16_t c = 0;

	if (f & UDP_EXT_F_PKTINFO)
		c |= REGION_RX_CMSG_PKTINFO;
	if (f & UDP_EXT_F_RECVTTL)
		c |= REGION_RX_CMSG_TTL;
	if (f & UDP_EXT_F_RECVTOS)
		c |= REGION_RX_CMSG_TOS;
	if (f & UDP_EXT_F_TSTAMP)
		c |= (f & UDP_EXT_F_TSTAMPNS) ? REGION_RX_CMSG_TSTAMPNS : REGION_RX_CMSG_TSTAMP;
	if (f & UDP_EXT_F_TSTAMP_NEW)
		c |= REGION_RX_CMSG_TSTAMP_NEW;
	return c;
}

/* Copy the datagram described by u->rx (descriptor d) into socket sid's slot ring. */
static void udpd_deliver(struct udpd *u, uint32_t sid, const struct buf *pkt,
			 const struct desc *d)
{
	const struct udp_rx *rx = &u->rx;
	unsigned slot;
	int si = udpd_sock_place(u, sid, &slot);
	if (si < 0) {
		u->stats.rx_drop_orphan++;
		udp_rx_rcvbuf_drop(u->t, sid);
		return;
	}
	struct xport_session *s = &u->x.sess[si];
	if (s->state == XPORT_SESS_CLOSING) {
		/* The application has left; its sockets only still send what it queued. */
		u->stats.rx_drop_closing++;
		udp_rx_rcvbuf_drop(u->t, sid);
		return;
	}
	if (s->state != XPORT_SESS_ATTACHED) {
		/* Restarted, the application has not resumed yet: its region is not mapped. */
		u->stats.rx_drop_detached++;
		udp_rx_rcvbuf_drop(u->t, sid);
		return;
	}
	struct ring *ring = region_rx(&s->region, slot);
	if (!ring || ring_broken(ring)) {
		u->x.stats.sessions_closed_hostile++;
		udp_rx_rcvbuf_drop(u->t, sid);
		udpd_session_end(u, (unsigned)si, "its RX ring is broken");
		return;
	}
	uint32_t len = rx->payload_len;
	uint16_t flags = 0;
	if (len > ring->max_body - sizeof(struct region_rx_dgram)) {
		len = ring->max_body - (uint32_t)sizeof(struct region_rx_dgram);
		flags |= REGION_RX_TRUNC;
		u->stats.rx_truncated++;
	}
	size_t queued = ring->size - ring_free_bytes(ring);
	if (queued > u->t->sock[sid & 0xffffu].rcvbuf) {
		udp_rx_rcvbuf_drop(u->t, sid);
		return;
	}
	uint8_t *body = ring_reserve(ring, REGION_REC_DGRAM,
				     (uint32_t)sizeof(struct region_rx_dgram) + len);
	if (!body) {
		udp_rx_rcvbuf_drop(u->t, sid);
		if (errno == EBADMSG) {
			u->x.stats.sessions_closed_hostile++;
			udpd_session_end(u, (unsigned)si, "its RX ring is broken");
		}
		return;
	}
	struct region_rx_dgram h = {
		.saddr = rx->saddr,
		.sport = rx->sport,
		.flags = flags | udpd_cmsg_flags(u, sid & 0xffffu),
		.daddr = rx->daddr,
		.spec_dst = route_spec_dst(&u->host.rt, rx->saddr, rx->daddr),
		.ifindex = (uint16_t)route_rx_ifindex(&u->host.rt, rx->daddr),
		.ttl = d->ttl,
		.tos = d->tos,
		.tstamp_ns = u->rx_realtime_ns,
	};
	if (len && buf_copy_out(pkt, rx->payload_off, body + sizeof(h), len) < 0) {
		/* udp_input guarantees the bytes; never expected. */
		ring_cancel(ring);
		u->stats.rx_drop_orphan++;
		udp_rx_rcvbuf_drop(u->t, sid);
		return;
	}
	/* The moment it is in the ring: the end of udpd's part and the start of the hop the
	 * application measures (t_ring), one instant, so the hops add up (file comment). */
	uint64_t t = clock_now();
	h.t_ring = t;
	memcpy(body, &h, sizeof(h));
	ring_commit(ring);
	if (d->t_arr && t > d->t_arr)
		hist_add(&u->inside_to_app, t - d->t_arr);
	if (d->t_in && t > d->t_in)
		hist_add(&u->total_to_app, t - d->t_in);
	u->sx[si].app_credit++;
	u->rx_copied += len;
	udp_rx_delivered(u->t, sid);
	xport_wake_mark(&u->x, (unsigned)si, slot);
}

static void udpd_icmp_error(struct udpd *u, const struct buf *pkt, const struct desc *d)
{
	struct icmp_hdr ih;
	uint8_t quoted[UDPD_ICMP_QUOTE_MAX];
	size_t qlen;
	if (xport_icmp_split(pkt, d, &ih, quoted, sizeof(quoted), &qlen) < 0) {
		u->stats.icmp_drop_short++;
		return;
	}
	struct udp_icmp_report rep;
	if (udp_icmp_error(u->t, ih.type, ih.code, ih.un.unused, quoted, qlen, &rep) == 0) {
		if (rep.queue) {
			uint32_t at = d->l4_off + ICMP_HDR_LEN + rep.payload_off;
			udpd_errq_push(u, &rep, d->saddr, pkt, at, d->len > at ? d->len - at : 0);
		}
		u->stats.icmp_woken++;
		udpd_wake_sid(u, rep.sid);
	}
}

/* One datagram from ipd: consumes *pkt where it drops it or hands it back to ipd; what it
 * delivered (copied into rings) stays in *pkt for the caller to free. */
static void udpd_rx_one(struct udpd *u, struct buf **pkt, const struct desc *d)
{
	if (d->proto != IPV4_PROTO_UDP) {
		u->stats.rx_drop_not_udp++;
		pool_free(pkt);
		return;
	}
	if (d->flags & DESC_F_ICMP_ERROR) {
		udpd_icmp_error(u, *pkt, d);
		pool_free(pkt);
		return;
	}
	int rc = udp_input(u->t, d, *pkt, &u->rx);
	if (rc == -ENOENT) {
		/* Back to ipd as delivered (data at the IPv4 header) for ICMP port unreachable. */
		struct desc back = *d;
		back.flags = DESC_F_PORT_UNREACH;
		back.t_arr = 0; /* not a datagram sent: keep it out of inside_to_ipd (t_in stays) */
		u->stats.rx_port_unreach++;
		udpd_out_add(u, pkt, &back, 0);
		return;
	}
	if (rc == 0) {
		for (uint32_t i = 0; i < u->rx.n_sids && i < UDP_SOCKETS_MAX; i++)
			udpd_deliver(u, u->rx.sids[i], *pkt, d);
	}
	/* Left in *pkt: udpd_rx_batch frees the batch's datagrams in one burst (one pool lock
	 * per batch instead of one per datagram). */
}

bool udpd_rx_batch(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	struct buf *bufs[LINK_RECV_MAX];
	struct desc d[LINK_RECV_MAX];
	bool more = true;
	(void)now;
	u->rx_copied = 0;
	for (unsigned round = 0; round < UDPD_RX_BUDGET; round++) {
		/* One datagram for many sockets is a copy each: the budget counts the copies. */
		if (u->rx_copied >= UDPD_RX_COPY_BUDGET) {
			u->stats.rx_budget_exhausted++;
			break;
		}
		int n = link_recv(u->from_ipd, bufs, d, LINK_RECV_MAX);
		if (n < 0) { /* -EAGAIN: drained; anything else (-EINTR) the next pass retries */
			more = false;
			break;
		}
		/* One clock read per batch: the arrival time SO_TIMESTAMP reports. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		u->rx_realtime_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		/* The headers were last written on another CPU (nicd's kernel read, ipd): ask
		 * for the next ones while this datagram is worked on (ipd_main.c does the same). */
		for (int i = 0; i < n && i < UDPD_RX_PREFETCH; i++)
			__builtin_prefetch(buf_data(bufs[i]));
		for (int i = 0; i < n; i++) {
			if (i + UDPD_RX_PREFETCH < n)
				__builtin_prefetch(buf_data(bufs[i + UDPD_RX_PREFETCH]));
			udpd_rx_one(u, &bufs[i], &d[i]);
		}
		pool_free_burst(u->pool, bufs, (unsigned)n); /* what udpd_rx_one left: copied out */
		if (link_recv_drained(n, LINK_RECV_MAX))
			break; /* drained (link_recv): the rest of the loop first, as tcpd */
	}
	udpd_out_flush(u);
	xport_wake_flush(&u->x);
	return more;
}

/* ---- TX ------------------------------------------------------------------------------------ */

/* Pool buffers a chain of len payload bytes takes at most. */
static unsigned udpd_bufs_for(uint32_t len)
{
	return len / POOL_DATA_ROOM + 1u;
}

/* Session index and slot of socket table entry k, if it is open in a live session. */
static int udpd_sock_home(const struct udpd *u, unsigned k, unsigned *slot)
{
	if (k >= UDP_SOCKETS_MAX || !u->t->sock[k].in_use)
		return -1;
	int si = udpd_session_of_owner(u, u->t->sock[k].owner);
	if (si < 0 || u->sock_slot[k] >= REGION_SLOTS_MAX)
		return -1;
	*slot = u->sock_slot[k];
	return si;
}

/* Socket k's send-buffer charge outside the ring changed: write the slot's tx_held at the end
 * of the pass (udpd_tx_done). */
static void udpd_held_mark(struct udpd *u, unsigned k)
{
	unsigned slot;
	int si = udpd_sock_home(u, k, &slot);
	if (si < 0)
		return;
	u->sx[si].held_dirty |= 1ull << slot;
	u->sx[si].tx_touched = true;
}

/* Bring the buffer counts (the cork's uid, all corks) in line with socket k's cork now. */
static void udpd_cork_account(struct udpd *u, unsigned k)
{
	unsigned now = u->cork[k] ? buf_chain_count(u->cork[k]) : 0;
	unsigned was = u->cork_bufs[k];
	unsigned ix = udpd_sock_uid(u, k);
	if (now > was) {
		xport_uid_bufs_add(&u->x, ix, now - was, true);
		u->corked_all += now - was;
	} else if (was > now) {
		xport_uid_bufs_sub(&u->x, ix, was - now, true);
		u->corked_all -= was - now < u->corked_all ? was - now : u->corked_all;
	}
	u->cork_bufs[k] = (uint16_t)now;
}

void udpd_cork_free(struct udpd *u, unsigned idx)
{
	if (idx >= UDP_SOCKETS_MAX)
		return;
	if (u->cork_charge[idx]) {
		u->cork_charge[idx] = 0;
		udpd_held_mark(u, idx);
	}
	pool_free(&u->cork[idx]);
	udpd_cork_account(u, idx);
	u->cork_broken[idx] = false;
}

/* A fresh head buffer (data at POOL_HEADROOM: room for every header) from the round's stash,
 * refilled in one burst; NULL when the pool is empty. Ours, as pool_alloc's. */
static struct buf *udpd_head_alloc(struct udpd *u)
{
	if (u->tx_stash_n == 0)
		u->tx_stash_n = pool_alloc_burst(u->pool, u->tx_stash, UDPD_TX_STASH);
	return u->tx_stash_n ? u->tx_stash[--u->tx_stash_n] : NULL;
}

/* Append len bytes to the chain *head (allocated if NULL). 0 or -ENOMEM/-E2BIG (chain as
 * before). */
static int udpd_chain_append(struct udpd *u, struct buf **head, const void *data, uint32_t len)
{
	bool fresh = false;
	if (!*head) {
		*head = udpd_head_alloc(u);
		if (!*head)
			return -ENOMEM;
		fresh = true;
	}
	int rc = len ? buf_append_data(*head, data, len) : 0;
	if (rc < 0 && fresh)
		pool_free(head);
	return rc;
}

/* Corked payload waits in pool buffers, and the pool is every layer's: like Linux's udp_mem
 * limit, corking may hold at most corked_all buffers in all and one uid its share of that
 * (udpd_quota.c), so nobody can starve the others (or the wire) by corking on many sockets. */
static bool udpd_cork_over_limit(struct udpd *u, unsigned k, uint32_t add_len)
{
	unsigned add = udpd_bufs_for(add_len) + 1u;
	unsigned ix = udpd_sock_uid(u, k);
	unsigned mine = ix < UDPD_UIDS_MAX ? u->x.uids[ix].corked : 0;
	return u->corked_all + add > u->x.lim.corked_all || mine + add > u->x.lim.uid_corked;
}

void udpd_tx_apply(struct udpd *u, uint32_t sid, const struct udp_tx *tx, const void *payload,
		   uint32_t payload_len, uint64_t charge)
{
	unsigned k = sid & 0xffffu;
	if (k >= UDP_SOCKETS_MAX)
		return;
	if (tx->cork_drop)
		udpd_cork_free(u, k);
	if (tx->cork_append) {
		u->tx_work++;
		u->tx_bytes += payload_len;
		/* The record's send-buffer charge stays with the socket until its datagram goes
		 * out or is dropped, as Linux keeps corked skbs on sk_wmem_alloc. */
		u->cork_charge[k] += charge;
		udpd_held_mark(u, k);
		if (!u->cork_broken[k] && udpd_cork_over_limit(u, k, payload_len)) {
			/* Over the share: the corked datagram is lost when it goes out, as
			 * on a failed append (Linux drops at its udp_mem limit too). */
			u->stats.tx_drop_cork_limit++;
			pool_free(&u->cork[k]);
			udpd_cork_account(u, k);
			u->cork_broken[k] = true;
			return;
		}
		if (!u->cork_broken[k] &&
		    udpd_chain_append(u, &u->cork[k], payload, payload_len) < 0) {
			/* The core counts the bytes as corked; the datagram is lost when it goes
			 * out (Linux: ENOBUFS while appending flushes the pending frames). */
			pool_free(&u->cork[k]);
			u->cork_broken[k] = true;
		}
		udpd_cork_account(u, k);
		return;
	}
	if (!tx->emit)
		return;
	u->tx_work++;
	u->tx_bytes += payload_len;

	struct buf *head = NULL;
	if (tx->corked_len) {
		head = u->cork[k];
		u->cork[k] = NULL;
		udpd_cork_account(u, k); /* its buffers move to the batch (or are freed) */
		bool broken = u->cork_broken[k];
		u->cork_broken[k] = false;
		if (broken || !head || buf_chain_len(head) != tx->corked_len) {
			pool_free(&head);
			u->stats.tx_drop_cork++;
			udp_tx_sndbuf_drop(u->t, sid);
			goto uncork;
		}
	}
	if (tx->len != tx->corked_len + payload_len ||
	    udpd_chain_append(u, &head, payload, payload_len) < 0) {
		pool_free(&head);
		u->stats.tx_drop_nobuf++;
		udp_tx_sndbuf_drop(u->t, sid);
		goto uncork;
	}
	uint8_t *uh = buf_push(head, UDP_HDR_LEN);
	if (!uh) { /* a head without headroom: never for pool_alloc'd heads */
		pool_free(&head);
		u->stats.tx_drop_nobuf++;
		udp_tx_sndbuf_drop(u->t, sid);
		goto uncork;
	}
	/* Checksum offload: summing the payload was the largest cost of a large send here;
	 * ipd, the device or the receiver through lo finishes it (udp_header_fill_partial). */
	udp_header_fill_partial(uh, tx->saddr, tx->daddr, tx->sport, tx->dport, tx->len);
	struct desc d = {
		.l3_off = 0,
		.l4_off = 0,
		.flags = DESC_F_CSUM_NEEDED | (tx->df ? DESC_F_IP_DF : 0),
		.csum_start = 0,
		.csum_offset = UDP_CSUM_OFFSET,
		.saddr = tx->saddr,
		.daddr = tx->daddr,
		.proto = IPV4_PROTO_UDP,
		.ttl = tx->ttl,
		.tos = tx->tos,
		.t_in = u->tx_now, /* it enters the stack: its record was taken this turn */
		.t_arr = u->tx_now,
	};
	udpd_out_add(u, &head, &d, sid);
uncork:
	/* The corked records' charge is given back with the rest of this pass's work, once the
	 * batch has gone to ipd (udpd_tx_done writes tx_held after the flush). */
	if (u->cork_charge[k]) {
		u->cork_charge[k] = 0;
		udpd_held_mark(u, k);
	}
}

/* One TX record of session si (its fixed part already copied and type-checked). */
static void udpd_tx_record(struct udpd *u, unsigned si, const struct region_tx_dgram *h,
			   const uint8_t *payload, uint32_t plen, uint64_t charge)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (h->flags & ~(uint32_t)REGION_TX_FLAGS_KNOWN) {
		u->stats.tx_drop_bad_record++;
		return;
	}
	uint32_t sid = h->slot < rec->n_slots && h->slot < REGION_SLOTS_MAX
		? rec->slot_sid[h->slot] : 0;
	if (!sid) {
		u->stats.tx_drop_no_socket++; /* closed meanwhile, or a slot never opened */
		return;
	}
	unsigned k = sid & 0xffffu;
	if (k < UDP_SOCKETS_MAX && u->closing[k]) {
		/* Its CLOSE waits for the records ahead of it; beyond what send() could have
		 * accepted they are a producer's flood, read and dropped, never sent. */
		if (u->close_allow[k] < charge) {
			u->close_allow[k] = 0;
			u->stats.tx_drop_closing++;
			return;
		}
		u->close_allow[k] -= charge;
	}
	struct udp_send snd = {
		.has_addr = h->has_addr != 0,
		.daddr = h->daddr,
		.dport = h->dport,
		.payload_len = plen,
		.flags = (h->flags & REGION_TX_MORE) ? MSG_MORE : 0,
	};
	struct udp_tx tx;
	int rc = udp_output(u->t, rec->owner, sid, &u->host, &snd, &tx);
	if (rc < 0) {
		u->stats.tx_errors++;
		if (tx.cork_drop)
			udpd_cork_free(u, sid & 0xffffu);
		log_debug("session %u slot %u: send refused: %s", si, h->slot, strerror(-rc));
		return;
	}
	udpd_tx_apply(u, sid, &tx, payload, plen, charge);
}

/* Back-pressure, in the place of Linux's qdisc stopping the queue: a record is taken only when
 * its datagram can be handed on without a drop, else it stays in the ring, the application's
 * send buffer stays full, and a blocking sender waits (rather than udpd losing what send()
 * accepted for want of buffers, as it did: 74 % of a 64-byte sender's datagrams).
 *   - A new batch to ipd is started only while the link takes one, so every flush goes out
 *     (each flush is preceded by this check with the batch empty). Held back: the loop waits
 *     for the link's POLLOUT.
 *   - The pool keeps lim.pool_reserve buffers free for nicd's receive slots and the other
 *     layers. Held back: the retry timer looks again (buffers come back as nicd's writes
 *     complete, which nothing signals to udpd). */
static bool udpd_tx_may_take(struct udpd *u, uint32_t rec_len, unsigned uid_ix)
{
	unsigned need = udpd_bufs_for(rec_len) + 1u;
	/* Its uid's share of buffers in flight: send what is batched first (udpd_out_add would
	 * do it too, but here the new batch is still checked against the link). */
	if (uid_ix < UDPD_UIDS_MAX && u->n_out &&
	    u->x.uids[uid_ix].buffers + need > u->x.lim.uid_buffers)
		udpd_out_flush(u);
	if (u->n_out == 0 && !u->link_room) {
		/* Asked once per batch: records that send nothing (dropped) do not ask again. */
		u->link_room = link_tx_ready(u->to_ipd);
	}
	if (!u->link_room) {
		if (!u->tx_wait_link) {
			u->tx_wait_link = true;
			u->stats.tx_wait_link++;
			link_loop_room(u->loop, u->tx_link_src, u->to_ipd, true);
		}
		return false;
	}
	if (pool_free_count(u->pool) < u->x.lim.pool_reserve + need) {
		if (!u->tx_wait_pool) {
			u->tx_wait_pool = true;
			u->stats.tx_wait_pool++;
			loop_arm_timer(u->loop, u->tx_timer_id, clock_now() + UDPD_TX_RETRY_NS);
		}
		return false;
	}
	return true;
}

/* The hop from the application: its commit (t_sent, the client's word) to this turn (tx_now).
 * A record committed after tx_now was read is not from the future: read the clock again (the
 * datagrams taken from here on enter the stack then: a lying stamp can only move tx_now to
 * the true time, at the price of a clock read). Only transit_from_app sees the stamp. */
static void udpd_tx_stamp(struct udpd *u, uint64_t t_sent)
{
	uint64_t ns;
	if (t_sent > u->tx_now)
		u->tx_now = clock_now();
	if (region_tx_transit(t_sent, u->tx_now, &ns) < 0) {
		u->stats.tx_stamp_bad++;
		return;
	}
	hist_add(&u->transit_from_app, ns);
}

enum udp_tx_turn udpd_tx_session(struct udpd *u, unsigned si, unsigned budget, uint64_t limit)
{
	struct xport_session *s = &u->x.sess[si];
	struct udpd_sx *sx = &u->sx[si];
	uint64_t work_end = u->tx_work + budget;
	u->tx_now = clock_now(); /* one read per turn: the entry time of what it takes */
	/* Until the ring is found empty we come back unasked: no doorbell per send (ring.h). */
	if (sx->tx_bell_wanted && (s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING)) {
		ring_notify_off(&s->region.tx);
		sx->tx_bell_wanted = false;
	}
	for (unsigned n = 0; n < budget * UDPD_TX_READS && u->tx_work < work_end &&
			     u->tx_bytes < u->tx_bytes_end;
	     n++) {
		if (s->state != XPORT_SESS_ATTACHED && s->state != XPORT_SESS_CLOSING)
			return UDP_TX_TURN_IDLE;
		if (ring_read_pos(&s->region.tx) >= limit)
			return UDP_TX_TURN_IDLE;
		struct ring_rec rec;
		int rc = ring_peek(&s->region.tx, &rec);
		if (rc == -EAGAIN) {
			/* Empty: ask for the doorbell, then look once more (ring_notify_on), so a
			 * record committed in between is taken now or rings. */
			if (!ring_notify_on(&s->region.tx)) {
				sx->tx_bell_wanted = true;
				return UDP_TX_TURN_IDLE;
			}
			ring_notify_off(&s->region.tx);
			continue;
		}
		if (rc < 0) {
			u->x.stats.sessions_closed_hostile++;
			log_warn("session %u (pid %ld): TX ring broken: closing it", si, (long)s->pid);
			udpd_session_end(u, si, "its TX ring is broken");
			return UDP_TX_TURN_ENDED;
		}
		/* Copy the fixed part once; decide on the copy only (TOCTOU). */
		bool dgram = rec.type == REGION_REC_DGRAM && rec.len >= sizeof(struct region_tx_dgram);
		struct region_tx_dgram h = {0};
		unsigned uid_ix = UDPD_UIDS_MAX;
		if (dgram) {
			memcpy(&h, rec.body, sizeof(h));
			const struct udpd_session_rec *sr = &u->st->sessions[si];
			uint32_t sid = h.slot < sr->n_slots && h.slot < REGION_SLOTS_MAX
				? sr->slot_sid[h.slot] : 0;
			if (sid)
				uid_ix = udpd_sock_uid(u, sid & 0xffffu);
		}
		if (!udpd_tx_may_take(u, rec.len, uid_ix))
			return UDP_TX_TURN_BLOCKED;
		sx->tx_touched = true;
		u->stats.tx_records++;
		if (!dgram) {
			u->stats.tx_drop_bad_record++;
		} else {
			udpd_tx_stamp(u, h.t_sent);
			udpd_tx_record(u, si, &h, (const uint8_t *)rec.body + sizeof(h),
				       rec.len - (uint32_t)sizeof(h), region_tx_charge(rec.len));
		}
		/* Given back to the application in udpd_tx_done, after the batch went out. */
		if (s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING)
			ring_consume(&s->region.tx);
	}
	return UDP_TX_TURN_MORE;
}

/* A CLOSING session is done once its ring is read up to drain_until (or has nothing more). */
static void udpd_tx_drained(struct udpd *u, unsigned si)
{
	struct xport_session *s = &u->x.sess[si];
	uint64_t pos = ring_read_pos(&s->region.tx), head = pos;
	if (pos < u->sx[si].drain_until && ring_head_now(&s->region.tx, &head) == 0 && head > pos)
		return; /* more to send */
	if (ring_head_now(&s->region.tx, &head) == 0 && head > pos)
		u->stats.tx_drop_closed_bytes += head - pos;
	u->stats.sessions_drained++;
	udpd_session_end(u, si, "its last datagrams are out");
}

void udpd_tx_done(struct udpd *u)
{
	udpd_out_flush(u);
	/* The stash goes back between rounds: the pool's free count (udpd_tx_may_take, the other
	 * layers) never misses more than UDPD_TX_STASH buffers, and only during a round. */
	if (u->tx_stash_n) {
		pool_free_burst(u->pool, u->tx_stash, u->tx_stash_n);
		u->tx_stash_n = 0;
	}
	for (unsigned si = 0; si < UDPD_SESSIONS_MAX; si++) {
		struct xport_session *s = &u->x.sess[si];
		struct udpd_sx *sx = &u->sx[si];
		if (!sx->tx_touched)
			continue;
		sx->tx_touched = false;
		if (s->state != XPORT_SESS_ATTACHED && s->state != XPORT_SESS_CLOSING) {
			sx->held_dirty = 0;
			continue;
		}
		/* tx_held first, then the tail: a sender that looks in between counts a corked
		 * record twice (and waits for the notify) rather than not at all. */
		bool room = false;
		const struct udpd_session_rec *rec = &u->st->sessions[si];
		while (sx->held_dirty) {
			unsigned slot = (unsigned)__builtin_ctzll(sx->held_dirty);
			sx->held_dirty &= sx->held_dirty - 1;
			struct region_slot_ctl *sc = region_slot(&s->region, slot);
			if (!sc)
				continue;
			uint32_t sid = rec->slot_sid[slot];
			uint64_t held = sid ? u->cork_charge[sid & 0xffffu] : 0;
			uint64_t was = atomic_load_explicit(&sc->tx_held, memory_order_relaxed);
			atomic_store_explicit(&sc->tx_held, held, memory_order_release);
			room |= held < was;
		}
		room |= ring_publish(&s->region.tx);
		if (room)
			ring_room_notify(&s->region.tx);
		if (s->state == XPORT_SESS_ATTACHED)
			udpd_requests_close_ready(u, si);
		else
			udpd_tx_drained(u, si);
	}
}

static bool udpd_tx_pending(void *arg, unsigned si)
{
	struct udpd *u = arg;
	const struct xport_session *s = &u->x.sess[si];
	return (s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING) &&
	       u->sx[si].tx_pending;
}

static enum udp_tx_turn udpd_tx_turn(void *arg, unsigned si, unsigned budget, unsigned *used)
{
	struct udpd *u = arg;
	const struct xport_session *s = &u->x.sess[si];
	struct udpd_sx *sx = &u->sx[si];
	uint64_t limit = s->state == XPORT_SESS_CLOSING ? sx->drain_until : UINT64_MAX;
	uint64_t work0 = u->tx_work;
	enum udp_tx_turn r = udpd_tx_session(u, si, budget, limit);
	*used = (unsigned)(u->tx_work - work0);
	if (r == UDP_TX_TURN_BLOCKED)
		return r; /* still pending: its turn goes on first in the next round */
	sx->tx_pending = r == UDP_TX_TURN_MORE;
	if (r == UDP_TX_TURN_IDLE && s->state == XPORT_SESS_CLOSING)
		sx->tx_touched = true; /* udpd_tx_done ends it */
	return r;
}

static const struct udp_tx_sched_ops udpd_tx_sched_ops = {
	.pending = udpd_tx_pending,
	.serve = udpd_tx_turn,
};

bool udpd_tx_round(struct udpd *u)
{
	bool more = false, blocked;
	/* While the link's POLLOUT or the pool's retry is awaited, the round waits for it too. */
	if (!u->tx_wait_link && !u->tx_wait_pool) {
		/* A round that stopped blocked goes on within its byte budget (udp_tx_sched.h). */
		if (!udp_tx_sched_resuming(&u->tx_sched))
			u->tx_bytes_end = u->tx_bytes + UDPD_TX_ROUND_BYTES;
		/* false when blocked: what is left waits for the link or the pool, not a pass */
		more = udp_tx_sched_round(&u->tx_sched, UDPD_SESSIONS_MAX, UDPD_TX_BUDGET,
					  &udpd_tx_sched_ops, u, &blocked);
	}
	udpd_tx_done(u);
	return more;
}

bool udpd_tx_link_ready(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	(void)now;
	if (u->tx_wait_link) {
		u->tx_wait_link = false;
		link_loop_room(u->loop, u->tx_link_src, u->to_ipd, false);
	}
	return udpd_tx_round(u);
}

uint64_t udpd_tx_timer(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	u->tx_wait_pool = false;
	bool more = udpd_tx_round(u);
	/* Still short (the round set the flag again): look again after the retry time; budget
	 * work left behind: again on the next pass. */
	if (u->tx_wait_pool)
		return now + UDPD_TX_RETRY_NS;
	return more ? now : CLOCK_NEVER;
}
