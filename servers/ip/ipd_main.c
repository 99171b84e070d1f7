/* ipd_main: the ustack-ipd server shell. It owns every socket, the clock and the timer; the
 * protocol work is ip_core's.
 *
 * init() order (each step needs the previous one):
 *   1. config      /etc/ustack/<instance>.conf
 *   2. pool        attach or create, then reclaim whatever a previous ipd held when it died
 *   3. links       nicd-to-ipd, ipd-to-nicd (wait, bounded, for nicd), udpd-to-ipd, ipd-to-udpd
 *   4. core        ip_core_create (its gratuitous ARP is sent right away)
 *   5. ctl         bind ipd.ctl
 *   6. loop        sources and the core's timer; READY=1
 *
 * Restart contract (DESIGN.md): routes come from config, ARP is relearned, fragments under
 * reassembly are lost; there is no state segment to restore.
 *
 * Back-pressure towards udpd (a qdisc's stopped queue): frames go to nicd only while its link
 * takes them (ZeroMQ's credit, ZMQ_POLLOUT); what does not go stays in the core's output and
 * goes first when the link frees, and while any waits, no more datagrams are taken from udpd:
 * its link fills, udpd stops taking records from the applications' rings, and their senders
 * wait for their send buffers (udpd_data.c, libsock). Without it a sender faster than nicd
 * had its datagrams dropped here (link_to_nicd_tx_drop_full) after send() had accepted them.
 * A batch from udpd is taken whole and worked through datagram by datagram (ipd_udpd_batch
 * keeps the rest when the output must wait). Frames of the receive path (ARP, ICMP answers)
 * queue behind the same output and are dropped by the core, counted, when it is full.
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
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "sdnotify.h"
#include "wire/ipv4.h"
#include "server.h"

#define IPD_RX_BUDGET 4 /* batches per source per loop pass */

struct ipd {
	struct ustack_config cfg;
	struct pool *pool;
	void *zctx;
	struct link *from_nicd;
	struct link *to_nicd;
	struct link *from_udpd; /* datagrams to send, port-unreachable requests */
	struct link *to_udpd;   /* UDP datagrams and ICMP errors about them */
	struct ip_core *core;
	struct ip_out out;
	struct ctl_server *ctl;
	struct loop *loop;
	int core_timer;
	uint64_t started;
	uint64_t reclaimed;
	uint64_t up_drop_no_link; /* packets for a transport that has no link */
	uint64_t wire_waits;      /* times the output waited for nicd's link (back-pressure) */
	/* A batch from udpd being worked through, and where. */
	struct buf *pend[DESC_BATCH_MAX];
	struct desc pend_desc[DESC_BATCH_MAX];
	unsigned n_pend, pend_i;
	/* Loop sources: udpd's link (POLLIN, off while the output waits) and nicd's link (POLLOUT,
	 * on only while it waits). */
	int udpd_src;
	int nicd_out_src;
	bool wire_wait;
};

/* Whether nicd's link takes another batch now. */
static bool ipd_nicd_writable(struct ipd *ipd)
{
	int ev = 0;
	size_t len = sizeof(ev);
	return zmq_getsockopt(link_socket(ipd->to_nicd), ZMQ_EVENTS, &ev, &len) == 0 &&
	       (ev & ZMQ_POLLOUT);
}

/* The output must wait for nicd's link: stop taking from udpd, watch the link's POLLOUT. */
static void ipd_wire_wait(struct ipd *ipd)
{
	if (ipd->wire_wait)
		return;
	ipd->wire_wait = true;
	ipd->wire_waits++;
	loop_source_events(ipd->loop, ipd->udpd_src, 0);
	loop_source_events(ipd->loop, ipd->nicd_out_src, ZMQ_POLLOUT);
}

/* Send what the core left in ipd->out: frames to nicd in batches of DESC_BATCH_MAX, as long as
 * its link takes them (the rest stays, in order, and the output waits); packets up to udpd.
 * True when no frame is left waiting. */
static bool ipd_flush(struct ipd *ipd)
{
	struct ip_out *out = &ipd->out;
	struct desc d[DESC_BATCH_MAX];
	unsigned sent = 0;
	while (sent < out->n_wire && ipd_nicd_writable(ipd)) {
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
	/* Up to the transports, in batches per protocol; a protocol without a link (TCP until
	 * its server exists) is counted and dropped. */
	struct buf *batch[DESC_BATCH_MAX];
	unsigned n = 0;
	for (unsigned i = 0; i < out->n_up; i++) {
		if (out->up_desc[i].proto != IPV4_PROTO_UDP) {
			ipd->up_drop_no_link++;
			pool_free(&out->up[i]);
			continue;
		}
		d[n] = out->up_desc[i];
		batch[n++] = out->up[i];
		out->up[i] = NULL;
		if (n == DESC_BATCH_MAX) {
			link_send(ipd->to_udpd, batch, d, n);
			n = 0;
		}
	}
	if (n)
		link_send(ipd->to_udpd, batch, d, n);
	out->n_up = 0;
	return all;
}

static void ipd_rearm(struct ipd *ipd)
{
	loop_arm_timer(ipd->loop, ipd->core_timer, ip_next_deadline(ipd->core));
}

/* rx_batch: frames from the wire, through nicd. */
static bool ipd_rx_batch(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	for (int round = 0; round < IPD_RX_BUDGET; round++) {
		int n = link_recv(ipd->from_nicd, bufs, d, DESC_BATCH_MAX);
		if (n == -EAGAIN) {
			ipd_rearm(ipd);
			return false;
		}
		for (int i = 0; i < n; i++) {
			ip_input_desc(ipd->core, now, &bufs[i], &d[i], &ipd->out);
			/* Keep room for the largest single reaction (a 65,535-byte echo reply is
			 * 45 fragments) so the core never has to discard output. */
			if (ipd->out.n_wire > IP_OUT_MAX - 64)
				ipd_flush(ipd);
		}
		ipd_flush(ipd);
	}
	ipd_rearm(ipd);
	return true;
}

/* tx_batch: datagrams from udpd to send, and datagrams it found no socket for. A datagram is
 * worked on only while the output has room for its largest reaction (45 fragments) after a
 * flush; otherwise the rest of the batch waits in ipd->pend for nicd's link. */
static bool ipd_udpd_batch(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	for (int round = 0; round < IPD_RX_BUDGET; round++) {
		if (ipd->pend_i == ipd->n_pend) {
			ipd->n_pend = ipd->pend_i = 0;
			if (ipd->out.n_wire && !ipd_flush(ipd))
				goto wait;
			int n = link_recv(ipd->from_udpd, ipd->pend, ipd->pend_desc, DESC_BATCH_MAX);
			if (n == -EAGAIN) {
				ipd_rearm(ipd);
				return false;
			}
			ipd->n_pend = n > 0 ? (unsigned)n : 0;
		}
		while (ipd->pend_i < ipd->n_pend) {
			if (ipd->out.n_wire > IP_OUT_MAX - 64 && !ipd_flush(ipd))
				goto wait;
			/* Datagrams through the loopback interface come back up: those never wait. */
			if (ipd->out.n_up > IP_OUT_MAX - 64 && !ipd_flush(ipd) &&
			    ipd->out.n_wire > IP_OUT_MAX - 64)
				goto wait;
			unsigned i = ipd->pend_i++;
			struct desc *d = &ipd->pend_desc[i];
			if (d->flags & DESC_F_PORT_UNREACH) {
				ip_port_unreachable(ipd->core, now, &ipd->pend[i], &ipd->out);
			} else {
				d->proto = IPV4_PROTO_UDP; /* udpd speaks for UDP only */
				ip_output(ipd->core, now, &ipd->pend[i], d, &ipd->out);
			}
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

/* nicd's link takes batches again: send what waits, then take from udpd again. */
static bool ipd_nicd_writable_cb(void *arg, uint64_t now)
{
	struct ipd *ipd = arg;
	if (ipd->wire_wait) {
		ipd->wire_wait = false;
		loop_source_events(ipd->loop, ipd->nicd_out_src, 0);
		loop_source_events(ipd->loop, ipd->udpd_src, ZMQ_POLLIN);
	}
	return ipd_udpd_batch(ipd, now);
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
	(void)now;
	if (link_peer_events_drain(ipd->to_nicd) > 0) {
		ip_announce(ipd->core, &ipd->out);
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

static int ipd_add_link_stats(struct ctl_server *srv, Ustack__CtlReply *r, const char *name,
			      const struct link *l)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "link_%s_", name);
	return ctl_reply_add_counters(srv, r, prefix, link_stat_fields, link_stat_field_count,
				      link_stats(l));
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
			rc = ipd_add_link_stats(srv, r, "from_nicd", ipd->from_nicd);
		if (rc == 0)
			rc = ipd_add_link_stats(srv, r, "to_nicd", ipd->to_nicd);
		if (rc == 0)
			rc = ipd_add_link_stats(srv, r, "from_udpd", ipd->from_udpd);
		if (rc == 0)
			rc = ipd_add_link_stats(srv, r, "to_udpd", ipd->to_udpd);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "pool_reclaimed_at_start", ipd->reclaimed);
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
	int rc = server_load_config(args, &ipd->cfg);
	if (rc == 0)
		rc = server_open_pool(&ipd->cfg, POOL_HOLDER_IPD, &ipd->pool, &ipd->reclaimed);
	if (rc < 0)
		return rc;

	ipd->zctx = zmq_ctx_new();
	if (!ipd->zctx)
		return -ENOMEM;
	rc = link_open_rx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_NICD, &ipd->from_nicd);
	if (rc == 0)
		rc = link_open_tx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_NICD, &ipd->to_nicd);
	if (rc == 0)
		rc = link_open_rx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_UDPD, &ipd->from_udpd);
	if (rc == 0)
		rc = link_open_tx(ipd->zctx, ipd->pool, instance, POOL_HOLDER_UDPD, &ipd->to_udpd);
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

	/* UDP is served by udpd whether or not it is up at this moment: while it restarts,
	 * datagrams are dropped and counted on the link, not answered with ICMP errors that
	 * would make peers give up on sockets that are about to work again. */
	ip_set_transport(ipd->core, IPV4_PROTO_UDP, true);

	rc = ctl_server_open(ipd->zctx, instance, "ipd", ipd_ctl_handle, ipd, &ipd->ctl);
	if (rc < 0) {
		log_err("ctl: %s", strerror(-rc));
		return rc;
	}

	rc = loop_create(&ipd->loop);
	if (rc < 0)
		return rc;
	loop_add_zsock(ipd->loop, link_socket(ipd->from_nicd), ipd_rx_batch, ipd);
	ipd->udpd_src = loop_add_zsock(ipd->loop, link_socket(ipd->from_udpd), ipd_udpd_batch, ipd);
	loop_add_zsock(ipd->loop, ctl_server_socket(ipd->ctl), ipd_ctl_ready, ipd);
	loop_add_zsock(ipd->loop, link_peer_events(ipd->to_nicd), ipd_nicd_connected, ipd);
	ipd->nicd_out_src = loop_add_zsock(ipd->loop, link_socket(ipd->to_nicd),
					   ipd_nicd_writable_cb, ipd);
	if (ipd->udpd_src < 0 || ipd->nicd_out_src < 0)
		return -ENOSPC;
	loop_source_events(ipd->loop, ipd->nicd_out_src, 0); /* until the output waits */
	ipd->core_timer = loop_add_timer(ipd->loop, ipd_timer, ipd, ip_next_deadline(ipd->core));
	/* Without nicd the gratuitous ARP is dropped (counted); ARP still resolves on demand. */
	ipd_flush(ipd);
	return 0;
}

static void ipd_fini(struct ipd *ipd)
{
	if (ipd->pool && ipd->pend_i < ipd->n_pend)
		pool_free_burst(ipd->pool, ipd->pend + ipd->pend_i, ipd->n_pend - ipd->pend_i);
	ipd->n_pend = ipd->pend_i = 0;
	if (ipd->core)
		ip_out_discard(&ipd->out);
	ip_core_destroy(&ipd->core);
	ctl_server_close(&ipd->ctl);
	link_close(&ipd->from_nicd);
	link_close(&ipd->to_nicd);
	link_close(&ipd->from_udpd);
	link_close(&ipd->to_udpd);
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
	log_info("%s", status);
	sdn_ready(status);
	rc = loop_run(ipd.loop);
	sdn_stopping(NULL);
	ipd_fini(&ipd);
	return rc < 0 ? 1 : 0;
}
