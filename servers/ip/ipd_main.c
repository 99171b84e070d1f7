/* ipd_main: the ustack-ipd server shell. It owns every socket, the clock and the timer; the
 * protocol work is ip_core's.
 *
 * init() order (each step needs the previous one):
 *   1. config      /etc/ustack/<instance>.conf
 *   2. pool        attach or create, then reclaim whatever a previous ipd held when it died
 *   3. links       nicd-to-ipd, ipd-to-nicd (wait, bounded, for nicd), then both links of every
 *                  transport in ipd_inetsw[] (<server>-to-ipd, ipd-to-<server>)
 *   4. core        ip_core_create (its gratuitous ARP is sent right away); every protocol of
 *                  ipd_inetsw[] declared served
 *   5. ctl         bind ipd.ctl
 *   6. loop        sources and the core's timer; READY=1
 *
 * Transports (FreeBSD's inetsw[] is the model): ipd_inetsw[] is the one place that says which IP
 * protocols have a server above ipd, which pool holder that server is, and whether it hands
 * datagrams back for ICMP port unreachable. Adding a transport is one entry: its links, its
 * loop source, its up batches, its counters (link_from_<server>_*, link_to_<server>_*) all come
 * from the table. A protocol with an entry is served whether or not its server is up at the
 * moment: while it restarts, packets for it are dropped and counted on its link
 * (link_to_<server>_tx_drop_full), not answered with ICMP errors that would make peers give up
 * on sockets that are about to work again (a TCP peer retransmits; a UDP one's application
 * retries). A protocol without an entry is answered with ICMP protocol unreachable (RFC 1122
 * §3.2.2.1) and counted (ip_in_unknown_protos). ICMP errors quoting a served protocol go up to
 * its server (DESC_F_ICMP_ERROR).
 *
 * Restart contract (docs/ARCHITECTURE.md): routes come from config, ARP is relearned, fragments
 * under reassembly are lost; there is no state segment to restore.
 *
 * Back-pressure towards the transports (a qdisc's stopped queue): frames go to nicd only while
 * its link takes them (link_tx_ready: ZeroMQ's credit, or room in the ring); what does not go
 * stays in the core's output and goes first when the link frees, and while any waits, nothing
 * more is taken from any transport: their links fill, udpd stops taking records from the
 * applications' rings (their senders wait for their send buffers: udpd_data.c, libsock),
 * tcpd's segments wait in its batch. Without it a sender faster than nicd had its datagrams dropped here
 * (link_to_nicd_tx_drop_full) after send() had accepted them. A batch from a transport is
 * taken whole and worked through packet by packet (ipd_xport_batch keeps the rest when the
 * output must wait). Frames of the receive path (ARP, ICMP answers) queue behind the same
 * output and are dropped by the core, counted, when it is full.
 *
 * Back-pressure from the transports (the receive path's half of the same idea): before ipd
 * takes a batch from nicd, every transport's link must have room (link_room). While one is
 * connected but full, nothing is taken from nicd; nicd's link fills, and nicd stops reading its
 * device (nicd_main.c), so a burst waits in the TAP's deep queue rather than being dropped on a
 * link. A transport that is down does not hold the others up (its packets are dropped and
 * counted, as above), nor does one that stays full for LINK_WAIT_MAX_MS (stopped: its watchdog
 * restarts it). The wait holds every protocol, as a NIC's single receive ring does.
 *
 * Latency (docs/ARCHITECTURE.md "Observability"): the core builds its output descriptors
 * afresh, so the shell gives every descriptor the core emits while working on one packet that
 * packet's entry time and arrival time (ipd_stamp): a datagram going up, an echo reply or a
 * fragment going down all inherit them, which is what lets nicd measure an echo's whole
 * wire-to-wire time. The links measure the rest (transit_from_*, inside_to_*: common/link.h).
 * Output the core releases later is measured from the packet that released it: a datagram that
 * waited for ARP resolution counts from the ARP reply, a reassembled datagram from its last
 * fragment; what the timer emits (ARP retries) is not stamped and not counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "ip_core.h"
#include "link.h"
#include "link_fault.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "sdnotify.h"
#include "wire/ipv4.h"
#include "server.h"

#define IPD_RX_BUDGET 4 /* batches per source per loop pass */
#define IPD_PREFETCH 4  /* frames ahead whose headers rx_batch asks the cache for */

/* One transport above ipd (ipd_inetsw[]). */
struct ipd_inetsw {
	uint8_t proto;             /* IPPROTO_* of what it serves */
	enum pool_holder holder;   /* its server: links <server>-to-ipd and ipd-to-<server> */
	bool port_unreach;         /* it hands back datagrams no socket wants (DESC_F_PORT_UNREACH)
				    * for ICMP port unreachable: datagram protocols (RFC 1122
				    * §4.1.3.1); TCP answers with a RST of its own */
};

static const struct ipd_inetsw ipd_inetsw[] = {
	{.proto = IPV4_PROTO_UDP, .holder = POOL_HOLDER_UDPD, .port_unreach = true},
	{.proto = IPV4_PROTO_TCP, .holder = POOL_HOLDER_TCPD, .port_unreach = false},
};
#define IPD_XPORTS (sizeof(ipd_inetsw) / sizeof(ipd_inetsw[0]))

struct ipd;

/* The links and state of one transport of ipd_inetsw[]. */
struct ipd_xport {
	const struct ipd_inetsw *sw;
	struct ipd *ipd;
	struct link *from;         /* packets to send, port-unreachable requests */
	struct link *to;           /* packets of its protocol and ICMP errors about them */
	int src;                   /* loop source of `from` (POLLIN, off while the output waits) */
	int to_src;                /* loop source of `to`'s POLLOUT, on while rx waits for it */
	/* A batch from it being worked through, and where. */
	struct buf *pend[LINK_RECV_MAX];
	struct desc pend_desc[LINK_RECV_MAX];
	unsigned n_pend, pend_i;
	/* up batch being filled */
	struct buf *up[DESC_BATCH_MAX];
	struct desc up_desc[DESC_BATCH_MAX];
	unsigned n_up;
	uint64_t drop_port_unreach; /* port-unreachable requests from a transport that makes none */
};

struct ipd {
	struct ustack_config cfg;
	struct pool *pool;
	void *zctx;
	struct link *from_nicd;
	struct link *to_nicd;
	struct ipd_xport xp[IPD_XPORTS];
	struct ip_core *core;
	struct ip_out out;
	struct ctl_server *ctl;
	struct link_faults *faults; /* ustackctl fault */
	struct loop *loop;
	int core_timer;
	uint64_t started;
	uint64_t reclaimed;
	uint64_t up_drop_no_link; /* packets for a protocol no entry of ipd_inetsw[] serves */
	uint64_t wire_waits;      /* times the output waited for nicd's link (back-pressure) */
	/* Loop source of nicd's link's POLLOUT (on only while the output waits). */
	int nicd_out_src;
	bool wire_wait;
	bool nicd_monitor; /* nicd's reconnections come from its link's monitor (ZeroMQ) */
	/* Receive-path back-pressure: the transport whose full link holds nicd's input back. */
	int nicd_in_src;
	int up_wait_timer;
	struct ipd_xport *up_wait;
};

/* The output must wait for nicd's link: stop taking from the transports, watch the link's
 * POLLOUT. */
static void ipd_wire_wait(struct ipd *ipd)
{
	if (ipd->wire_wait)
		return;
	ipd->wire_wait = true;
	ipd->wire_waits++;
	for (unsigned i = 0; i < IPD_XPORTS; i++)
		loop_source_events(ipd->loop, ipd->xp[i].src, 0);
	link_loop_room(ipd->loop, ipd->nicd_out_src, ipd->to_nicd, true);
}

/* The output went out: take from the transports again. Called from the link's POLLOUT, and
 * from any flush that found the link ready (a timer's, say): that flush read ZMQ_EVENTS, which
 * takes ZMQ_FD's edge, so the POLLOUT it saw is never signalled to the loop. Without this a
 * wait that a timer's flush ended went on for ever, every transport held: after nicd was hung
 * past its watchdog and restarted, ipd sent it nothing but its own timer's frames until ipd
 * itself restarted (issue 9, campaign fault 221). The transports are pended: the loop calls
 * them on its next pass, whatever their fds say. */
static void ipd_wire_resume(struct ipd *ipd)
{
	ipd->wire_wait = false;
	link_loop_room(ipd->loop, ipd->nicd_out_src, ipd->to_nicd, false);
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		loop_source_events(ipd->loop, ipd->xp[i].src, ZMQ_POLLIN);
		loop_source_pend(ipd->loop, ipd->xp[i].src);
	}
}

/* The transport serving proto, or NULL. */
static struct ipd_xport *ipd_xport_of(struct ipd *ipd, uint8_t proto)
{
	for (unsigned i = 0; i < IPD_XPORTS; i++)
		if (ipd->xp[i].sw->proto == proto)
			return &ipd->xp[i];
	return NULL;
}

/* Entry and arrival times of `from` for what the core emitted since out held n_wire / n_up
 * entries (output the core copied a time into already keeps it). */
static void ipd_stamp(struct ip_out *out, unsigned n_wire, unsigned n_up, const struct desc *from)
{
	for (unsigned i = n_wire; i < out->n_wire; i++)
		if (!out->wire_desc[i].t_in) {
			out->wire_desc[i].t_in = from->t_in;
			out->wire_desc[i].t_arr = from->t_arr;
		}
	for (unsigned i = n_up; i < out->n_up; i++)
		if (!out->up_desc[i].t_in) {
			out->up_desc[i].t_in = from->t_in;
			out->up_desc[i].t_arr = from->t_arr;
		}
}

static void ipd_up_flush(struct ipd_xport *xp)
{
	if (xp->n_up)
		link_send(xp->to, xp->up, xp->up_desc, xp->n_up); /* consumes them either way */
	xp->n_up = 0;
}

/* Send what the core left in ipd->out: frames to nicd in batches of DESC_BATCH_MAX, as long as
 * its link takes them (the rest stays, in order, and the output waits); packets up to their
 * transports, in batches per transport. True when no frame is left waiting. */
static bool ipd_flush(struct ipd *ipd)
{
	struct ip_out *out = &ipd->out;
	struct desc d[DESC_BATCH_MAX];
	unsigned sent = 0;
	while (sent < out->n_wire && link_tx_ready(ipd->to_nicd)) {
		unsigned n = out->n_wire - sent < DESC_BATCH_MAX ? out->n_wire - sent : DESC_BATCH_MAX;
		/* Offsets and offload fields as the core set them (eth_output). */
		memcpy(d, &out->wire_desc[sent], sizeof(d[0]) * n);
		/* link_send consumes the chains whether or not the batch goes out. */
		link_send(ipd->to_nicd, &out->wire[sent], d, n);
		sent += n;
	}
	if (sent < out->n_wire) {
		memmove(out->wire, out->wire + sent, (out->n_wire - sent) * sizeof(out->wire[0]));
		memmove(out->wire_desc, out->wire_desc + sent,
			(out->n_wire - sent) * sizeof(out->wire_desc[0]));
	}
	out->n_wire -= sent;
	bool all = out->n_wire == 0;
	if (!all)
		ipd_wire_wait(ipd);
	else if (ipd->wire_wait)
		ipd_wire_resume(ipd);
	/* Up to the transports, in batches per protocol; a protocol no entry serves never gets
	 * here (the core answers it), but is counted and dropped if it does. */
	for (unsigned i = 0; i < out->n_up; i++) {
		struct ipd_xport *xp = ipd_xport_of(ipd, out->up_desc[i].proto);
		if (!xp) {
			ipd->up_drop_no_link++;
			pool_free(&out->up[i]);
			continue;
		}
		xp->up_desc[xp->n_up] = out->up_desc[i];
		xp->up[xp->n_up++] = out->up[i];
		out->up[i] = NULL;
		if (xp->n_up == DESC_BATCH_MAX)
			ipd_up_flush(xp);
	}
	for (unsigned i = 0; i < IPD_XPORTS; i++)
		ipd_up_flush(&ipd->xp[i]);
	out->n_up = 0;
	return all;
}

static void ipd_rearm(struct ipd *ipd)
{
	loop_arm_timer(ipd->loop, ipd->core_timer, ip_next_deadline(ipd->core));
}

/* Hold nicd's input back until xp's link has room (xp != NULL), or take it again (NULL). */
static void ipd_up_hold(struct ipd *ipd, struct ipd_xport *xp)
{
	if (ipd->up_wait == xp)
		return;
	if (ipd->up_wait)
		link_loop_room(ipd->loop, ipd->up_wait->to_src, ipd->up_wait->to, false);
	ipd->up_wait = xp;
	loop_source_events(ipd->loop, ipd->nicd_in_src, xp ? 0 : ZMQ_POLLIN);
	if (xp)
		link_loop_room(ipd->loop, xp->to_src, xp->to, true);
	else
		loop_source_pend(ipd->loop, ipd->nicd_in_src); /* batches may be queued already */
	loop_arm_timer(ipd->loop, ipd->up_wait_timer,
		       xp ? link_room_recheck(xp->to, clock_now()) : CLOCK_NEVER);
}

/* Whether every transport can take what one batch from nicd gives it; if not, hold nicd's
 * input back for the first that cannot. */
static bool ipd_up_room(struct ipd *ipd, uint64_t now)
{
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		struct ipd_xport *xp = &ipd->xp[i];
		if (link_room(xp->to, now) == LINK_ROOM_WAIT) {
			ipd_up_hold(ipd, xp);
			return false;
		}
	}
	ipd_up_hold(ipd, NULL);
	return true;
}

/* A transport's link has room again, or the wait hit its deadline: look at them all again. */
static bool ipd_up_writable_cb(void *arg, uint64_t now)
{
	struct ipd_xport *xp = arg;
	ipd_up_room(xp->ipd, now);
	return false;
}

static uint64_t ipd_up_wait_timer(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	ipd_up_room(ipd, now);
	return ipd->up_wait ? link_room_recheck(ipd->up_wait->to, now) : CLOCK_NEVER;
}

static bool ipd_nicd_connected(void *arg, uint64_t now);

/* rx_batch: frames from the wire, through nicd. */
static bool ipd_rx_batch(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	struct buf *bufs[LINK_RECV_MAX];
	struct desc d[LINK_RECV_MAX];
	/* A ring says a new nicd attached by its pid, which the first frames it passes up make
	 * worth a look (one shared-memory load); a ZeroMQ link's monitor is a loop source. */
	if (!ipd->nicd_monitor)
		ipd_nicd_connected(ipd, now);
	for (int round = 0; round < IPD_RX_BUDGET; round++) {
		if (!ipd_up_room(ipd, now)) {
			ipd_rearm(ipd);
			return false;
		}
		int n = link_recv(ipd->from_nicd, bufs, d, LINK_RECV_MAX);
		if (n == -EAGAIN) {
			ipd_rearm(ipd);
			return false;
		}
		/* The frames were written by the kernel on whichever CPU ran nicd: the first
		 * touch of each header is a cache miss that stalled ipd more than all of its
		 * parsing. Ask for the next ones' headers while this one is worked on. */
		for (int i = 0; i < n && i < IPD_PREFETCH; i++)
			__builtin_prefetch(buf_data(bufs[i]));
		for (int i = 0; i < n; i++) {
			unsigned nw = ipd->out.n_wire, nu = ipd->out.n_up;
			if (i + IPD_PREFETCH < n)
				__builtin_prefetch(buf_data(bufs[i + IPD_PREFETCH]));
			ip_input_desc(ipd->core, now, &bufs[i], &d[i], &ipd->out);
			ipd_stamp(&ipd->out, nw, nu, &d[i]);
			/* Keep room for the largest single reaction (a 65,535-byte echo reply is
			 * 45 fragments) so the core never has to discard output. */
			if (ipd->out.n_wire > IP_OUT_MAX - 64)
				ipd_flush(ipd);
		}
		ipd_flush(ipd);
		if (link_recv_drained(n, LINK_RECV_MAX))
			break; /* drained (link_recv): the rest of the loop first, as tcpd */
	}
	ipd_rearm(ipd);
	return true;
}

/* tx_batch: packets a transport sends, and datagrams it found no socket for. A packet is
 * worked on only while the output has room for its largest reaction (45 fragments) after a
 * flush; otherwise the rest of the batch waits in xp->pend for nicd's link. */
static bool ipd_xport_batch(void *arg, uint64_t now)
{
	struct ipd_xport *xp = arg;
	struct ipd *ipd = xp->ipd;
	bool drained = false;
	for (int round = 0; round < IPD_RX_BUDGET && !drained; round++) {
		if (xp->pend_i == xp->n_pend) {
			xp->n_pend = xp->pend_i = 0;
			if (ipd->out.n_wire && !ipd_flush(ipd))
				goto wait;
			int n = link_recv(xp->from, xp->pend, xp->pend_desc, LINK_RECV_MAX);
			if (n == -EAGAIN) {
				ipd_rearm(ipd);
				return false;
			}
			xp->n_pend = n > 0 ? (unsigned)n : 0;
			/* drained (link_recv): the rest of the loop first, as tcpd */
			drained = link_recv_drained(n, LINK_RECV_MAX);
		}
		while (xp->pend_i < xp->n_pend) {
			if (ipd->out.n_wire > IP_OUT_MAX - 64 && !ipd_flush(ipd))
				goto wait;
			/* Packets through the loopback interface come back up: those never wait. */
			if (ipd->out.n_up > IP_OUT_MAX - 64 && !ipd_flush(ipd) &&
			    ipd->out.n_wire > IP_OUT_MAX - 64)
				goto wait;
			unsigned i = xp->pend_i++;
			struct desc *d = &xp->pend_desc[i];
			unsigned nw = ipd->out.n_wire, nu = ipd->out.n_up;
			if (d->flags & DESC_F_PORT_UNREACH) {
				if (xp->sw->port_unreach) {
					ip_port_unreachable(ipd->core, now, &xp->pend[i], &ipd->out);
				} else {
					xp->drop_port_unreach++;
					pool_free(&xp->pend[i]);
				}
			} else {
				d->proto = xp->sw->proto; /* a transport speaks for its protocol only */
				ip_output(ipd->core, now, &xp->pend[i], d, &ipd->out);
			}
			ipd_stamp(&ipd->out, nw, nu, d);
		}
		if (!ipd_flush(ipd))
			goto wait;
	}
	ipd_rearm(ipd);
	return true;
wait:
	ipd_rearm(ipd);
	return false;
}

/* nicd's link takes batches again: send what waits, then take from the transports again. */
static bool ipd_nicd_writable_cb(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	bool more = false;
	if (ipd->wire_wait)
		ipd_wire_resume(ipd);
	for (unsigned i = 0; i < IPD_XPORTS && !ipd->wire_wait; i++)
		more |= ipd_xport_batch(&ipd->xp[i], now);
	return more;
}

static uint64_t ipd_timer(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	ip_timer(ipd->core, now, &ipd->out);
	ipd_flush(ipd);
	return ip_next_deadline(ipd->core);
}

/* nicd (re)connected: its TAP's carrier just came back, so announce ourselves as a host does
 * on link up; a neighbour whose ARP probe was lost meanwhile resolves us now, not after its
 * 1 s retry. */
static bool ipd_nicd_connected(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	if (link_peer_events_drain(ipd->to_nicd) > 0) {
		ip_announce(ipd->core, now, &ipd->out);
		ipd_flush(ipd);
	}
	return false;
}

/* nicd (re)connected its link to us: what it had for us until now was dropped, the replies to
 * our ARP requests included; ask those again (ip_announce). */
static bool ipd_nicd_rx_connected(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	if (link_peer_events_drain(ipd->from_nicd) > 0) {
		ip_announce(ipd->core, now, &ipd->out);
		ipd_flush(ipd);
	}
	return false;
}

static bool ipd_ctl_ready(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	(void)now;
	return ctl_server_poll(ipd->ctl, 16) == 16;
}

/* ctl_handle: answers ustackctl. */
static int ipd_ctl_handle(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
			  struct ctl_server *srv)
{
	struct ipd *ipd = arg;
	uint64_t now = clock_now();
	r->state = "serving";
	r->uptime_ms = (now - ipd->started) / CLOCK_NS_PER_MS;
	switch (req->type) {
	case USTACK__CTL_REQUEST__TYPE__STATUS:
		return 0;
	case USTACK__CTL_REQUEST__TYPE__STATS: {
		struct ip_gauges g;
		ip_core_gauges(ipd->core, &g);
		int rc = ctl_reply_add_counters(srv, r, "", ip_stat_fields, ip_stat_field_count,
						ip_core_stats(ipd->core));
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "", ip_gauge_fields, ip_gauge_field_count,
						    &g);
		if (rc == 0)
			rc = link_ctl_report(srv, r, ipd->from_nicd);
		if (rc == 0)
			rc = link_ctl_report(srv, r, ipd->to_nicd);
		for (unsigned i = 0; rc == 0 && i < IPD_XPORTS; i++) {
			const struct ipd_xport *xp = &ipd->xp[i];
			char name[32];
			rc = link_ctl_report(srv, r, xp->from);
			if (rc == 0)
				rc = link_ctl_report(srv, r, xp->to);
			snprintf(name, sizeof(name), "%s_drop_port_unreach",
				 link_layer_name(xp->sw->holder));
			if (rc == 0 && !xp->sw->port_unreach)
				rc = ctl_reply_add_counter(srv, r, name, xp->drop_port_unreach);
		}
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "pool_reclaimed_at_start", ipd->reclaimed);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "loop_busy_polls", loop_busy_polls(ipd->loop));
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "up_drop_no_link", ipd->up_drop_no_link);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "wire_waits", ipd->wire_waits);
		return rc;
	}
	case USTACK__CTL_REQUEST__TYPE__ARP: {
		enum { MAXE = 1024 };
		struct ip_arp_entry *e = ctl_reply_alloc(srv, MAXE * sizeof(*e));
		if (!e)
			return -ENOMEM;
		unsigned n = ip_arp_dump(ipd->core, e, MAXE);
		Ustack__ArpEntry **arr = ctl_reply_alloc(srv, (n ? n : 1) * sizeof(*arr));
		Ustack__ArpEntry *ent = ctl_reply_alloc(srv, (n ? n : 1) * sizeof(*ent));
		if (!arr || !ent)
			return -ENOMEM;
		for (unsigned i = 0; i < n; i++) {
			ustack__arp_entry__init(&ent[i]);
			ent[i].addr = e[i].addr;
			ent[i].mac.data = e[i].mac;
			ent[i].mac.len = 6;
			ent[i].state = e[i].state;
			ent[i].queued = e[i].queued;
			ent[i].expires_in_ms = e[i].expires > now
				? (int64_t)((e[i].expires - now) / CLOCK_NS_PER_MS) : 0;
			arr[i] = &ent[i];
		}
		r->arp = arr;
		r->n_arp = n;
		return 0;
	}
	case USTACK__CTL_REQUEST__TYPE__ROUTES: {
		enum { MAXR = 64 };
		struct ip_route_entry *e = ctl_reply_alloc(srv, MAXR * sizeof(*e));
		Ustack__RouteEntry **arr = ctl_reply_alloc(srv, MAXR * sizeof(*arr));
		Ustack__RouteEntry *ent = ctl_reply_alloc(srv, MAXR * sizeof(*ent));
		if (!e || !arr || !ent)
			return -ENOMEM;
		unsigned n = ip_route_dump(ipd->core, e, MAXR);
		for (unsigned i = 0; i < n; i++) {
			ustack__route_entry__init(&ent[i]);
			ent[i].dest = e[i].dest;
			ent[i].prefix_len = e[i].prefix_len;
			ent[i].gateway = e[i].gateway;
			ent[i].type = e[i].type;
			ent[i].ifindex = e[i].ifindex;
			ent[i].prefsrc = e[i].prefsrc;
			ent[i].table = e[i].table;
			arr[i] = &ent[i];
		}
		r->routes = arr;
		r->n_routes = n;
		return 0;
	}
	default:
		return -EOPNOTSUPP;
	}
}

static int ipd_init(struct ipd *ipd, const struct server_args *args)
{
	const char *instance = args->instance;
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		ipd->xp[i].sw = &ipd_inetsw[i];
		ipd->xp[i].ipd = ipd;
		ipd->xp[i].src = -1;
	}
	int rc = server_load_config(args, &ipd->cfg);
	if (rc == 0)
		rc = server_open_pool(args, &ipd->cfg, POOL_HOLDER_IPD, &ipd->pool,
				      &ipd->reclaimed);
	if (rc < 0)
		return rc;

	ipd->zctx = zmq_ctx_new();
	if (!ipd->zctx)
		return -ENOMEM;
	rc = link_open_rx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_NICD, &ipd->from_nicd);
	if (rc == 0)
		rc = link_open_tx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_NICD, &ipd->to_nicd);
	for (unsigned i = 0; rc == 0 && i < IPD_XPORTS; i++) {
		struct ipd_xport *xp = &ipd->xp[i];
		rc = link_open_rx(ipd->zctx, ipd->pool, instance, xp->sw->holder, &xp->from);
		if (rc == 0)
			rc = link_open_tx(ipd->zctx, ipd->pool, instance, xp->sw->holder, &xp->to);
	}
	if (rc < 0) {
		log_err("links: %s", strerror(-rc));
		return rc;
	}
	/* So the gratuitous ARP below reaches the wire when nicd is up. */
	if (link_wait_peer(ipd->to_nicd, 500) < 0)
		log_notice("nicd is not connected yet: frames are dropped until it is");

	struct ip_config ipc;
	ip_config_defaults(&ipc);
	memcpy(ipc.mac, ipd->cfg.mac, 6);
	ipc.addr = ipd->cfg.ip_addr;
	ipc.prefix_len = ipd->cfg.ip_prefix;
	ipc.gateway = ipd->cfg.ip_gateway;
	ipc.mtu = ipd->cfg.mtu;
	ipc.offload = ipd->cfg.nic_offload;
	ipd->started = clock_now();
	rc = ip_core_create(&ipc, ipd->pool, ipd->started, &ipd->out, &ipd->core);
	if (rc < 0) {
		log_err("ip core: %s", strerror(-rc));
		return rc;
	}

	/* Served whether or not its server is up at this moment (file comment). */
	for (unsigned i = 0; i < IPD_XPORTS; i++)
		ip_set_transport(ipd->core, ipd->xp[i].sw->proto, true);

	rc = ctl_server_open(ipd->zctx, instance, "ipd", ipd_ctl_handle, ipd, &ipd->ctl);
	if (rc < 0) {
		log_err("ctl: %s", strerror(-rc));
		return rc;
	}

	rc = loop_create(&ipd->loop);
	if (rc < 0)
		return rc;
	loop_set_busy_poll(ipd->loop, ipd->cfg.busy_poll_us);
	ipd->nicd_in_src = link_loop_add(ipd->loop, ipd->from_nicd, ipd_rx_batch, ipd);
	ipd->up_wait_timer = loop_add_timer(ipd->loop, ipd_up_wait_timer, ipd, CLOCK_NEVER);
	if (ipd->nicd_in_src < 0 || ipd->up_wait_timer < 0)
		return -ENOSPC;
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		struct ipd_xport *xp = &ipd->xp[i];
		xp->src = link_loop_add(ipd->loop, xp->from, ipd_xport_batch, xp);
		xp->to_src = link_loop_add(ipd->loop, xp->to, ipd_up_writable_cb, xp);
		if (xp->src < 0 || xp->to_src < 0)
			return -ENOSPC;
		link_loop_room(ipd->loop, xp->to_src, xp->to, false); /* until rx waits for it */
	}
	loop_add_zsock(ipd->loop, ctl_server_socket(ipd->ctl), ipd_ctl_ready, ipd);
	/* A ring has no connection to watch (link = shm): ipd_rx_batch asks instead. */
	ipd->nicd_monitor = link_peer_events(ipd->to_nicd) != NULL;
	if (ipd->nicd_monitor)
		loop_add_zsock(ipd->loop, link_peer_events(ipd->to_nicd), ipd_nicd_connected, ipd);
	/* The other direction too: after our restart nicd reconnects to us some milliseconds
	 * after we reached it, and the replies to what we asked meanwhile were dropped in nicd
	 * (a ring keeps them: it outlives us). */
	if (link_peer_events(ipd->from_nicd))
		loop_add_zsock(ipd->loop, link_peer_events(ipd->from_nicd), ipd_nicd_rx_connected,
			       ipd);
	ipd->nicd_out_src = link_loop_add(ipd->loop, ipd->to_nicd, ipd_nicd_writable_cb, ipd);
	if (ipd->nicd_out_src < 0)
		return -ENOSPC;
	link_loop_room(ipd->loop, ipd->nicd_out_src, ipd->to_nicd, false); /* until it waits */
	ipd->core_timer = loop_add_timer(ipd->loop, ipd_timer, ipd, ip_next_deadline(ipd->core));
	struct link *links[2 + 2 * IPD_XPORTS] = {ipd->from_nicd, ipd->to_nicd};
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		links[2 + 2 * i] = ipd->xp[i].from;
		links[3 + 2 * i] = ipd->xp[i].to;
	}
	rc = link_faults_attach(ipd->loop, ipd->ctl, links, 2 + 2 * IPD_XPORTS, &ipd->faults);
	if (rc < 0)
		return rc;
	/* Without nicd the gratuitous ARP is dropped (counted); ARP still resolves on demand. */
	ipd_flush(ipd);
	return 0;
}

static void ipd_fini(struct ipd *ipd)
{
	link_faults_destroy(&ipd->faults);
	for (unsigned i = 0; i < IPD_XPORTS; i++) {
		struct ipd_xport *xp = &ipd->xp[i];
		if (ipd->pool && xp->pend_i < xp->n_pend)
			pool_free_burst(ipd->pool, xp->pend + xp->pend_i, xp->n_pend - xp->pend_i);
		xp->n_pend = xp->pend_i = 0;
		link_close(&xp->from);
		link_close(&xp->to);
	}
	if (ipd->core)
		ip_out_discard(&ipd->out);
	ip_core_destroy(&ipd->core);
	ctl_server_close(&ipd->ctl);
	link_close(&ipd->from_nicd);
	link_close(&ipd->to_nicd);
	loop_destroy(&ipd->loop);
	if (ipd->zctx)
		zmq_ctx_term(ipd->zctx);
	pool_close(&ipd->pool);
}

int main(int argc, char **argv)
{
	struct server_args args;
	server_follow_manager();
	int rc = server_parse_args(argc, argv, "ustack-ipd", &args);
	if (rc)
		return rc == SERVER_ARGS_HELP ? 0 : rc;
	log_init("ustack-ipd");
	static struct ipd ipd; /* large (struct ip_out); one per process */
	rc = ipd_init(&ipd, &args);
	if (rc < 0) {
		ipd_fini(&ipd);
		return 1;
	}
	char status[128];
	snprintf(status, sizeof(status), "serving instance %s", args.instance);
	server_ready(status);
	rc = loop_run(ipd.loop);
	sdn_stopping(NULL);
	ipd_fini(&ipd);
	return rc < 0 ? 1 : 0;
}
