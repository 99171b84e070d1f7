/* nicd_main: the ustack-nicd server shell: moves frames between a NIC backend and ipd.
 *
 * init() order:
 *   1. config      /etc/ustack/<instance>.conf
 *   2. pool        attach or create (nothing reclaimed yet)
 *   3. backend     open the device (a persistent TAP survives our restart); no buffer taken
 *   4. reclaim     what a previous nicd held (posted reads, writes in flight) when it died
 *   5. links       bind ipd-to-nicd, connect nicd-to-ipd, wait (bounded) for both to be up
 *   6. ctl         bind nicd.ctl, and nicd.capture (`ustackctl pcap`, nicd_capture.h)
 *   7. loop        backend completions (the first pass posts the reads), frames from ipd,
 *                  ctl, capture clients; READY=1
 *
 * Why reclaim after the open. A dead nicd's ring is torn down by the kernel after its process
 * is gone, and its requests are settled only then (nic_tap.c, "Ownership and crashes"); the
 * TAP accepts our file only once that ring has let go of it. So a successful open is the proof
 * that no request of the old ring can still complete into a buffer, and only then are its
 * buffers given back to the pool, where ipd or a transport could otherwise have taken them
 * while the kernel still might write into them. Links come after the reclaim: a chain ipd
 * hands us is held by our layer id, and a reclaim after it would take it back. Frames the
 * kernel queues on the TAP meanwhile wait in its queue: no read is posted before the loop,
 * and the loop runs with both links up.
 *
 * A dead device (rx_poll -EBADFD: the TAP was deleted under us) ends the loop and nicd exits
 * 1: systemd restarts it and the new one attaches again. Serving on with nothing moving is
 * what issue 9 saw from the outside.
 *
 * NAPI style: each pass takes at most NICD_RX_BUDGET frames from the device and at most
 * NICD_TX_BUDGET batches from ipd, then yields.
 *
 * Back-pressure from ipd (link_room): while ipd is connected but its link is full, nicd takes
 * no frames from the device. Reads already posted complete into their slots, then the frames
 * wait in the TAP's own queue, which is deep (hundreds of frames, each up to 64 KiB with
 * offloads) where the link holds 64 batches: a burst the size of a TCP window waits there
 * instead of being dropped on the link (link_to_ipd_tx_drop_full) and retransmitted. A wait
 * ends when the link takes batches again, or after LINK_WAIT_MAX_MS, when ipd counts as stalled
 * and frames are dropped on the link again, counted, until it takes a batch.
 *
 * Latency (docs/ARCHITECTURE.md "Observability"): a frame enters the stack here. Each one read
 * is stamped with the time of the loop pass that reaped its read (t_in, carried unchanged by
 * every layer above), so inside_to_ipd (the link's) is read-to-send. Going out, one clock read
 * after each batch's tx_submit gives inside_to_wire (from its arrival from ipd) and
 * total_to_wire (from its t_in: for an answer ipd made itself, as an echo reply, the whole
 * wire-to-wire time; for an application's datagram, from the moment its transport took it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "hist.h"
#include "link.h"
#include "link_fault.h"
#include "log.h"
#include "loop.h"
#include "nic_backend.h"
#include "nic_handoff.h"
#include "nicd_capture.h"
#include "paths.h"
#include "pool.h"
#include "sdnotify.h"
#include "server.h"

#define NICD_RX_BUDGET DESC_BATCH_MAX
#define NICD_TX_BUDGET 4 /* batches from ipd per pass */

struct nicd {
	struct ustack_config cfg;
	struct pool *pool;
	void *zctx;
	const struct nic_backend_ops *ops;
	struct nic_dev *dev;
	struct link *from_ipd;
	struct link *to_ipd;
	struct ctl_server *ctl;
	struct link_faults *faults; /* ustackctl fault */
	struct nicd_capture capture; /* ustackctl pcap */
	int capture_src;
	struct loop *loop;
	int rx_src;      /* the device's completions */
	int ipd_out_src; /* to_ipd's POLLOUT, watched only while rx waits for it */
	int wait_timer;  /* ends a wait on ipd's link at its deadline */
	bool rx_wait;
	bool dead; /* the device went away: the loop stops, nicd exits 1 */
	struct hist inside_to_wire; /* arrival from ipd -> TAP write submitted */
	struct hist total_to_wire;  /* stack entry (t_in) -> TAP write submitted */
	uint64_t started;
	uint64_t reclaimed;
	int handed_fd; /* standing by: the serving nicd's device file (nic_handoff.h); -1: none */
	int handed_err; /* the last fetch's error, logged when it changes */
	struct nic_handoff handoff; /* serving: hands our device file to the standby */
	int handoff_src;
};

/* The wall-clock time a capture's frames are stamped with (pcap wants it, not the stack's). */
static uint64_t nicd_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copy frames to capture clients. A send can take the socket's pending edge (ZMQ_FD): the
 * loop looks at the socket again, or a client's arrival or leaving waits for the next one. */
static void nicd_capture(struct nicd *nd, enum capture_dir dir, struct buf *const *bufs,
			 unsigned n)
{
	nicd_capture_frames(&nd->capture, dir, bufs, n, nicd_wall_ns());
	loop_source_pend(nd->loop, nd->capture_src);
}

/* Take input from the device again, or stop taking it until ipd's link has room. */
static void nicd_rx_hold(struct nicd *nd, bool hold, uint64_t now)
{
	if (nd->rx_wait == hold)
		return;
	nd->rx_wait = hold;
	loop_source_events(nd->loop, nd->rx_src, hold ? 0 : ZMQ_POLLIN);
	link_loop_room(nd->loop, nd->ipd_out_src, nd->to_ipd, hold);
	loop_arm_timer(nd->loop, nd->wait_timer,
		       hold ? link_room_recheck(nd->to_ipd, now) : CLOCK_NEVER);
	if (!hold)
		loop_source_pend(nd->loop, nd->rx_src); /* frames may be waiting in the slots */
}

/* rx_batch: completions from the device; received frames go to ipd in one batch. */
static bool nicd_rx_batch(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	struct buf *bufs[NICD_RX_BUDGET];
	struct desc d[NICD_RX_BUDGET];
	if (link_room(nd->to_ipd, now) == LINK_ROOM_WAIT) {
		nicd_rx_hold(nd, true, now);
		return false;
	}
	int n = nd->ops->rx_poll(nd->dev, bufs, d, NICD_RX_BUDGET);
	if (n == -EBADFD) {
		log_err("%s %s: the device is gone: exiting, to be restarted and attach again",
			nd->ops->name, nd->cfg.nic_ifname);
		nd->dead = true;
		loop_stop(nd->loop);
		return false;
	}
	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++)
		d[i].t_in = d[i].t_arr = now;
	if (nicd_capture_active(&nd->capture))
		nicd_capture(nd, CAPTURE_DIR_IN, bufs, (unsigned)n);
	link_send(nd->to_ipd, bufs, d, (unsigned)n);
	return n == NICD_RX_BUDGET;
}

/* ipd's link has room again (POLLOUT), or the wait reached its deadline (link_room then
 * answers DROP): take input again. */
static bool nicd_ipd_room(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	if (link_room(nd->to_ipd, now) != LINK_ROOM_WAIT)
		nicd_rx_hold(nd, false, now);
	return false;
}

static uint64_t nicd_wait_timer(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	nicd_ipd_room(nd, now);
	return nd->rx_wait ? link_room_recheck(nd->to_ipd, now) : CLOCK_NEVER;
}

/* tx_batch: frames from ipd to the device. */
static bool nicd_tx_batch(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	struct buf *bufs[LINK_RECV_MAX];
	struct desc d[LINK_RECV_MAX];
	(void)now;
	for (int round = 0; round < NICD_TX_BUDGET; round++) {
		int n = link_recv(nd->from_ipd, bufs, d, LINK_RECV_MAX);
		if (n == -EAGAIN)
			return false;
		if (n > 0) {
			if (nicd_capture_active(&nd->capture))
				nicd_capture(nd, CAPTURE_DIR_OUT, bufs, (unsigned)n);
			/* the device takes at most a batch per call */
			for (unsigned k = 0; k < (unsigned)n; k += DESC_BATCH_MAX) {
				unsigned c = (unsigned)n - k;
				nd->ops->tx_submit(nd->dev, bufs + k, d + k,
						   c < DESC_BATCH_MAX ? c : DESC_BATCH_MAX);
			}
			uint64_t t = clock_now();
			for (int i = 0; i < n; i++) {
				if (d[i].t_arr && t > d[i].t_arr)
					hist_add(&nd->inside_to_wire, t - d[i].t_arr);
				if (d[i].t_in && t > d[i].t_in)
					hist_add(&nd->total_to_wire, t - d[i].t_in);
			}
		}
		if (link_recv_drained(n, LINK_RECV_MAX))
			break; /* drained (link_recv): the rest of the loop first, as tcpd */
	}
	return true;
}

static bool nicd_capture_ready(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	(void)now;
	return nicd_capture_poll(&nd->capture);
}

static bool nicd_ctl_ready(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	(void)now;
	return ctl_server_poll(nd->ctl, 16) == 16;
}

/* A standby's preparation (server_standby_prep): hold the serving nicd's device file, so that a
 * takeover neither waits for the dead process's ring to let go of the device nor loses the
 * frames queued on its file (nic_handoff.h). Until it succeeds, server.c calls it again. */
static int nicd_standby_fetch(void *arg, long holder)
{
	struct nicd *nd = arg;
	char path[512];
	int rc = holder > 0 ? ustack_runtime_path(nd->cfg.instance, NIC_HANDOFF_FILE, path,
						  sizeof(path))
			    : -EAGAIN;
	if (rc == 0)
		rc = nic_handoff_fetch(path, (pid_t)holder, 200);
	if (rc >= 0) {
		if (nd->handed_fd >= 0)
			close(nd->handed_fd);
		nd->handed_fd = rc;
		log_info("holding pid %ld's device file: a takeover will not wait for the device",
			 holder);
		return 0;
	}
	if (rc != nd->handed_err && rc != -EAGAIN && rc != -EINTR)
		log_warn("cannot get pid %ld's device file yet: %s", holder, strerror(-rc));
	nd->handed_err = rc;
	return rc;
}

/* A standby asks for our device file. */
static bool nicd_handoff_ready(void *arg, uint64_t now)
{
	struct nicd *nd = arg;
	(void)now;
	return nic_handoff_serve(&nd->handoff, nd->ops->handoff_fd(nd->dev), 4) == 4;
}

/* ctl_handle: answers ustackctl. */
static int nicd_ctl_handle(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
			   struct ctl_server *srv)
{
	struct nicd *nd = arg;
	r->state = "serving";
	r->uptime_ms = (clock_now() - nd->started) / CLOCK_NS_PER_MS;
	switch (req->type) {
	case USTACK__CTL_REQUEST__TYPE__STATUS:
		return 0;
	case USTACK__CTL_REQUEST__TYPE__STATS: {
		int rc = ctl_reply_add_counters(srv, r, "", nic_stat_fields, nic_stat_field_count,
						nd->ops->stats(nd->dev));
		if (rc == 0)
			rc = link_ctl_report(srv, r, nd->from_ipd);
		if (rc == 0)
			rc = link_ctl_report(srv, r, nd->to_ipd);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "pool_reclaimed_at_start", nd->reclaimed);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "loop_busy_polls", loop_busy_polls(nd->loop));
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "handoff_given", nd->handoff.stats.given);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "handoff_not_yet",
						   nd->handoff.stats.not_yet);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "handoff_refused",
						   nd->handoff.stats.refused);
		if (rc == 0)
			rc = ctl_reply_add_hist(srv, r, "inside_to_wire", &nd->inside_to_wire);
		if (rc == 0)
			rc = ctl_reply_add_hist(srv, r, "total_to_wire", &nd->total_to_wire);
		if (rc == 0)
			rc = nicd_capture_report(&nd->capture, srv, r);
		return rc;
	}
	default:
		return -EOPNOTSUPP;
	}
}

static int nicd_init(struct nicd *nd, const struct server_args *args)
{
	const char *instance = args->instance;
	int rc = server_load_config(args, &nd->cfg);
	if (rc == 0)
		rc = server_open_pool(args, &nd->cfg, POOL_HOLDER_NICD, &nd->pool, NULL);
	if (rc < 0)
		return rc;

	nd->ops = &nic_tap_ops; /* the only backend so far; config validated "tap" */
	struct nic_config nc = {
		.rx_inflight = nd->cfg.rx_inflight,
		.tx_inflight = nd->cfg.tx_inflight,
		.mtu = nd->cfg.mtu,
		/* [nic] offload: partial checksums and TCP super-frames both ways (nic_tap.c). */
		.offloads = nd->cfg.nic_offload ? NIC_OFFLOAD_ALL : 0,
	};
	snprintf(nc.ifname, sizeof(nc.ifname), "%s", nd->cfg.nic_ifname);
	nc.handed = nd->handed_fd >= 0;
	nc.handed_fd = nd->handed_fd;
	nd->handed_fd = -1; /* the backend's now */
	rc = nd->ops->open(&nc, nd->pool, &nd->dev);
	if (rc < 0) {
		log_err("%s %s: %s", nd->ops->name, nc.ifname, strerror(-rc));
		return rc;
	}
	/* The open proved the old ring gone, or the file came handed over by a nicd whose reads
	 * never wait in the kernel (nic_tap.c): its buffers are safe to hand out again. */
	nd->reclaimed = server_reclaim_pool(nd->pool, POOL_HOLDER_NICD);

	nd->zctx = zmq_ctx_new();
	if (!nd->zctx)
		return -ENOMEM;
	rc = link_open_rx(nd->zctx, nd->pool, instance, POOL_HOLDER_IPD, &nd->from_ipd);
	if (rc == 0)
		rc = link_open_tx(nd->zctx, nd->pool, instance, POOL_HOLDER_IPD, &nd->to_ipd);
	if (rc < 0) {
		log_err("links: %s", strerror(-rc));
		return rc;
	}
	/* ipd is normally up: wait until both directions are connected before the first read
	 * is posted, or the first frames the device gives us (the kernel re-resolving us after
	 * the carrier came back) and ipd's answers to them are dropped, and the kernel retries
	 * only after a second. They wait in the TAP's queue meanwhile. */
	if (link_wait_peer(nd->to_ipd, 500) < 0 || link_wait_peer(nd->from_ipd, 500) < 0)
		log_notice("ipd is not connected yet: frames are dropped until it is");

	rc = ctl_server_open(nd->zctx, instance, "nicd", nicd_ctl_handle, nd, &nd->ctl);
	if (rc < 0) {
		log_err("ctl: %s", strerror(-rc));
		return rc;
	}
	rc = nicd_capture_open(nd->zctx, instance, &nd->capture);
	if (rc < 0) {
		log_err("capture: %s", strerror(-rc));
		return rc;
	}
	rc = loop_create(&nd->loop);
	if (rc < 0)
		return rc;
	loop_set_busy_poll(nd->loop, nd->cfg.busy_poll_us);
	nd->rx_src = loop_add_fd(nd->loop, nd->ops->event_fd(nd->dev), nicd_rx_batch, nd);
	link_loop_add(nd->loop, nd->from_ipd, nicd_tx_batch, nd);
	loop_add_zsock(nd->loop, ctl_server_socket(nd->ctl), nicd_ctl_ready, nd);
	nd->capture_src = loop_add_zsock(nd->loop, nd->capture.sock, nicd_capture_ready, nd);
	nd->ipd_out_src = link_loop_add(nd->loop, nd->to_ipd, nicd_ipd_room, nd);
	nd->wait_timer = loop_add_timer(nd->loop, nicd_wait_timer, nd, CLOCK_NEVER);
	if (nd->rx_src < 0 || nd->ipd_out_src < 0 || nd->wait_timer < 0 || nd->capture_src < 0)
		return -ENOSPC;
	/* Without it a standby still takes over, only waiting for the device: not fatal. */
	char path[512];
	rc = ustack_runtime_path(instance, NIC_HANDOFF_FILE, path, sizeof(path));
	if (rc == 0)
		rc = nic_handoff_listen(&nd->handoff, path);
	if (rc == 0)
		nd->handoff_src = loop_add_fd(nd->loop, nd->handoff.fd, nicd_handoff_ready, nd);
	if (rc < 0 || nd->handoff_src < 0)
		log_warn("handoff: cannot serve the standby our device file: %s",
			 strerror(rc < 0 ? -rc : ENOSPC));
	link_loop_room(nd->loop, nd->ipd_out_src, nd->to_ipd, false); /* until rx waits for it */
	struct link *links[] = {nd->from_ipd, nd->to_ipd};
	rc = link_faults_attach(nd->loop, nd->ctl, links, 2, &nd->faults);
	if (rc < 0)
		return rc;
	nd->started = clock_now();
	return 0;
}

static void nicd_fini(struct nicd *nd)
{
	nic_handoff_close(&nd->handoff);
	if (nd->handed_fd >= 0)
		close(nd->handed_fd);
	if (nd->dev)
		nd->ops->close(&nd->dev);
	ctl_server_close(&nd->ctl);
	nicd_capture_close(&nd->capture);
	link_faults_destroy(&nd->faults);
	link_close(&nd->from_ipd);
	link_close(&nd->to_ipd);
	loop_destroy(&nd->loop);
	if (nd->zctx)
		zmq_ctx_term(nd->zctx);
	pool_close(&nd->pool);
}

int main(int argc, char **argv)
{
	struct server_args args;
	server_follow_manager();
	int rc = server_parse_args(argc, argv, "ustack-nicd", &args);
	if (rc)
		return rc == SERVER_ARGS_HELP ? 0 : rc;
	log_init("ustack-nicd");
	struct nicd nd;
	memset(&nd, 0, sizeof(nd));
	nd.handed_fd = -1;
	nd.handoff.fd = -1;
	args.prep = (struct server_standby_prep){.fn = nicd_standby_fetch, .arg = &nd};
	rc = nicd_init(&nd, &args);
	if (rc < 0) {
		nicd_fini(&nd);
		return 1;
	}
	char status[128];
	snprintf(status, sizeof(status), "serving instance %s on %s", args.instance,
		 nd.cfg.nic_ifname);
	server_ready(status);
	rc = loop_run(nd.loop);
	sdn_stopping(NULL);
	bool dead = nd.dead;
	nicd_fini(&nd);
	return rc < 0 || dead ? 1 : 0;
}
