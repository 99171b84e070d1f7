/* tcpd_main: the ustack-tcpd server shell. It owns every socket, descriptor, mapping and the
 * clock; the protocol work is tcp_core's (tcp_core.h), the sessions' and requests' machinery
 * xport's (servers/transport/xport.h).
 *
 * init() order (each step needs the previous one):
 *   1. config      /etc/ustack/<instance>.conf: our address, the routing table (common/route.h,
 *                  the same one ipd builds), the MTU and whether the device segments for us
 *                  ([nic] offload: TSO super-segments of up to TCPD_TSO_MAX bytes)
 *   2. pool        attach or create, then reclaim what a previous tcpd held when it died
 *   3. state       the state segment <shm dir>/tcp-state: the core's table, the sessions and the
 *                  binds survive us, and <shm dir>/tcpstage-state the early data of connections
 *                  not accepted yet; what a predecessor left is validated and recovered
 *                  (tcpd_state.c), its sessions DETACHED until their applications resume; then
 *                  the per-uid shares and each restored session's uid (xport_quota.c)
 *   4. links       bind ipd-to-tcpd, connect tcpd-to-ipd, wait (bounded) for both to be up:
 *                  ipd reconnects to us at its own next try, and nothing (overdue timers)
 *                  may leave before the answer can come back
 *   5. requests    bind the tcpd.sock ROUTER (xport_requests.c)
 *   6. sessions    the epoll set and the tcpd.session listening socket (xport_session.c)
 *   7. ctl         bind tcpd.ctl
 *   8. loop        sources (ipd's link, requests, the epoll set, ctl), the sessions' timer and
 *                  the core's timer (tcp_next_deadline, re-armed after every pass that called
 *                  the core); the output and events the recovery left are run; READY=1
 *
 * Restart contract (docs/ARCHITECTURE.md): the core's table (connections, listeners, timers as
 * absolute deadlines) and which slot serves which connection survive in the state segment; an
 * application resumes its session and its sockets carry on where the rings and the core's
 * sequence numbers say; connections not accepted yet find their early data in the stage
 * segment (tcpd_stage.h). What is lost: segments in flight (TCP resends them), what a kill cut
 * between the core's change and its copy (issue 9 makes established connections survive every
 * such cut).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "sdnotify.h"
#include "server.h"
#include "tcpd_priv.h"

const struct stat_field tcpd_stat_fields[] = {
#define F(x) STAT_FIELD(struct tcpd_stats, x)
	F(rx_segs), F(rx_gro_frames), F(rx_csum_checked), F(rx_drop_not_tcp), F(rx_drop_short),
	F(rx_drop_detached), F(rx_drop_stage), F(rx_place_nowhere), F(rx_place_errors),
	F(rx_bytes), F(icmp_in), F(icmp_drop_short), F(tx_segs), F(tx_tso), F(tx_bytes),
	F(tx_drop_nobuf), F(tx_drop_unbound), F(tx_drop_detached), F(tx_drop_ring), F(tx_drop_link),
	F(tx_drop_link_reconnect), F(sync_tx_taken),
	F(sync_rx_read), F(binds_released), F(orphans_aborted), F(stage_bytes),
	F(stage_return_errors), F(io_rounds_left), F(req_bad_slot), F(stream_rebases), F(path_kicks), F(path_rekicks), F(ipd_reconnects),
	F(tx_stamp_bad),
	F(app_hist_over_credit), F(app_hist_went_down),
#undef F
};
const unsigned tcpd_stat_field_count = sizeof(tcpd_stat_fields) / sizeof(tcpd_stat_fields[0]);
_Static_assert(sizeof(tcpd_stat_fields) / sizeof(tcpd_stat_fields[0]) ==
		       sizeof(struct tcpd_stats) / sizeof(uint64_t),
	       "every tcpd counter is named");

static bool tcpd_ctl_ready(void *arg, uint64_t now)
{
	struct tcpd *u = arg;
	(void)now;
	return ctl_server_poll(u->ctl, 16) == 16;
}

/* What the table holds now, by state (`ss -s`). */
static int tcpd_gauges(struct tcpd *u, struct ctl_server *srv, Ustack__CtlReply *r)
{
	static const char *const names[TCP_STATE_COUNT] = {
		"closed", "listen", "syn_sent", "syn_received", "established", "fin_wait_1",
		"fin_wait_2", "close_wait", "closing", "last_ack", "time_wait",
	};
	uint64_t by[TCP_STATE_COUNT] = {0}, conns = 0, lis = 0, orphans = 0, binds = 0;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		const struct tcp_conn *c = &u->t->conn[i];
		if (!c->in_use)
			continue;
		conns++;
		if (c->state < TCP_STATE_COUNT)
			by[c->state]++;
		orphans += (c->flags & TCP_F_ORPHAN) != 0;
	}
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++)
		lis += u->t->lis[i].in_use;
	for (unsigned b = 0; b < TCPD_BINDS; b++)
		binds += u->st->binds[b].cid != 0;
	int rc = ctl_reply_add_counter(srv, r, "conns_in_use", conns);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "listeners_in_use", lis);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "orphans", orphans);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "slots_bound", binds);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "staged_bytes", u->stg.staged);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "stage_returned_bytes", u->stg.returned);
	for (unsigned s = 0; rc == 0 && s < TCP_STATE_COUNT; s++) {
		char name[40];
		snprintf(name, sizeof(name), "state.%s", names[s]);
		rc = ctl_reply_add_counter(srv, r, name, by[s]);
	}
	return rc;
}

/* tcp_diag_walk's owner_fn: the session that owns a socket, its creator's uid and, while its
 * region is mapped, the pid that handed it over. */
static bool tcpd_diag_owner(void *arg, uint32_t owner, uint32_t *uid, uint32_t *pid)
{
	const struct tcpd *u = arg;
	int si = xport_session_of_owner(u->st->sessions, owner);
	if (si < 0)
		return false;
	const struct xport_session *ss = &u->x.sess[si];
	bool mapped = ss->state == XPORT_SESS_ATTACHED || ss->state == XPORT_SESS_CLOSING;
	*uid = u->st->sessions[si].creator_uid;
	*pid = mapped && ss->pid > 0 ? (uint32_t)ss->pid : 0;
	return true;
}

/* ctl SOCKETS: one page of the connection table from req->cursor (ss -tna -i). */
static int tcpd_ctl_sockets(struct tcpd *u, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
			    struct ctl_server *srv)
{
	struct sock_diag *d = ctl_reply_alloc(srv, SOCK_DIAG_PAGE * sizeof(*d));
	if (!d)
		return -ENOMEM;
	uint32_t cur = req->cursor;
	bool more;
	unsigned n = tcp_diag_walk(u->t, clock_now(), &cur, d, SOCK_DIAG_PAGE, &more,
				   tcpd_diag_owner, u);
	return ctl_reply_add_sockets(srv, r, d, n, cur, more);
}

/* ctl_handle: answers ustackctl. */
static int tcpd_ctl_handle(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
			   struct ctl_server *srv)
{
	struct tcpd *u = arg;
	r->state = "serving";
	r->uptime_ms = (clock_now() - u->started) / CLOCK_NS_PER_MS;
	switch (req->type) {
	case USTACK__CTL_REQUEST__TYPE__STATUS:
		return 0;
	case USTACK__CTL_REQUEST__TYPE__SOCKETS:
		return tcpd_ctl_sockets(u, req, r, srv);
	case USTACK__CTL_REQUEST__TYPE__STATS: {
		/* The applications' own samples, up to now (before the counters that say what of
		 * them was refused). */
		for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++)
			tcpd_app_collect(u, si);
		int rc = ctl_reply_add_counters(srv, r, "", tcp_stat_fields, tcp_stat_field_count,
						&u->t->stats);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "", tcpd_stat_fields,
						    tcpd_stat_field_count, &u->stats);
		if (rc == 0)
			rc = xport_stats_report(&u->x, srv, r);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "", xport_store_stat_fields,
						    xport_store_stat_field_count, &u->st->stats);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "", tcpd_store_stat_fields,
						    tcpd_store_stat_field_count, &u->st->bstats);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "state_journal_", state_journal_stat_fields,
						    state_journal_stat_field_count,
						    &u->st->journal.stats);
		const struct xport_shell_stats shell = {
			.from_ipd = u->from_ipd,
			.to_ipd = u->to_ipd,
			.inside_to_app = &u->inside_to_app,
			.total_to_app = &u->total_to_app,
			.transit_from_app = &u->transit_from_app,
			.app_transit = &u->app_transit_from_tcpd,
			.restored_sessions = u->restored_sessions,
			.generation = u->generation,
			.reclaimed = u->reclaimed,
			.loop = u->loop,
		};
		if (rc == 0)
			rc = xport_shell_report(&u->x, srv, r, &shell);
		if (rc == 0)
			rc = tcpd_gauges(u, srv, r);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "restored_conns", u->restored_conns);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "tso", u->host.tso);
		if (rc == 0)
			rc = xport_quota_report(&u->x, srv, r, TCP_CONNS_MAX + TCP_LISTENERS_MAX);
		return rc;
	}
	default:
		return -EOPNOTSUPP;
	}
}

static int tcpd_init(struct tcpd *u, const struct server_args *args)
{
	u->instance = args->instance;
	xport_preinit(&u->x, &tcpd_xport_ops, u, u->instance);
	u->io = (struct tcp_io){.tx = u->io_tx, .tx_max = TCPD_IO_TX, .ev = u->io_ev,
				.ev_max = TCPD_IO_EV};
	u->timer_id = -1;
	u->rekick_timer = -1;
	int rc = server_load_config(args, &u->cfg);
	if (rc == 0)
		rc = server_open_pool(args, &u->cfg, POOL_HOLDER_TCPD, &u->pool, &u->reclaimed);
	if (rc < 0)
		return rc;
	rc = route_table_init(&u->rt, u->cfg.ip_addr, u->cfg.ip_prefix, u->cfg.ip_gateway,
			      u->cfg.mtu);
	if (rc < 0) {
		log_err("routes from the config: %s", strerror(-rc));
		return rc;
	}
	u->host = (struct tcp_host){
		.addr = u->cfg.ip_addr,
		.prefix_len = u->cfg.ip_prefix,
		.tso = u->cfg.nic_offload,
		.mtu = u->cfg.mtu,
		.tso_max = TCPD_TSO_MAX,
	};
	xport_raise_nofile();
	u->started = clock_now();

	rc = tcpd_state_open(u, u->started);
	if (rc < 0)
		return rc;
	tcpd_quota_init(u);

	u->zctx = zmq_ctx_new();
	if (!u->zctx)
		return -ENOMEM;
	const struct xport_endpoints ends = {
		.zctx = u->zctx,
		.pool = u->pool,
		.from_ipd = &u->from_ipd,
		.to_ipd = &u->to_ipd,
		.ctl_fn = tcpd_ctl_handle,
		.ctl_arg = u,
		.ctl = &u->ctl,
		.what = "segments",
	};
	rc = xport_endpoints_open(&u->x, &ends);
	if (rc < 0)
		return rc;

	rc = loop_create(&u->loop);
	if (rc < 0)
		return rc;
	loop_set_busy_poll(u->loop, u->cfg.busy_poll_us);
	if (link_loop_add(u->loop, u->from_ipd, tcpd_rx_batch, u) < 0 ||
	    xport_loop_add(&u->x, u->loop) < 0 ||
	    loop_add_zsock(u->loop, ctl_server_socket(u->ctl), tcpd_ctl_ready, u) < 0)
		return -ENOSPC;
	/* ipd restarting takes the segments in flight with it: its next connection tells us
	 * (tcpd_ipd_connected). The one made at our own start is not such news. */
	link_peer_events_drain(u->to_ipd);
	u->ipd_monitor = link_peer_events(u->to_ipd) != NULL;
	if (u->ipd_monitor &&
	    loop_add_zsock(u->loop, link_peer_events(u->to_ipd), tcpd_ipd_connected, u) < 0)
		return -ENOSPC;
	u->timer_id = loop_add_timer(u->loop, tcpd_timer, u, tcp_next_deadline(u->t));
	if (u->timer_id < 0)
		return u->timer_id;
	u->rekick_timer = loop_add_timer(u->loop, tcpd_rekick, u, CLOCK_NEVER);
	if (u->rekick_timer < 0)
		return u->rekick_timer;
	struct link *links[] = {u->from_ipd, u->to_ipd};
	rc = link_faults_attach(u->loop, u->ctl, links, 2, &u->faults);
	if (rc < 0)
		return rc;
	/* What the recovery left: events to act on, output a full io deferred (tcp_core.h). */
	uint64_t now = clock_now();
	tcp_output_deferred(u->t, now, &u->io);
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	tcpd_rearm(u);
	return 0;
}

static void tcpd_fini(struct tcpd *u)
{
	if (u->pool) {
		if (u->n_out && u->to_ipd)
			tcpd_out_flush(u);
		pool_free_burst(u->pool, u->out, u->n_out);
		u->n_out = 0;
	}
	xport_close(&u->x); /* the records stay: the next tcpd resumes them */
	ctl_server_close(&u->ctl);
	link_faults_destroy(&u->faults);
	link_close(&u->from_ipd);
	link_close(&u->to_ipd);
	loop_destroy(&u->loop);
	if (u->zctx)
		zmq_ctx_term(u->zctx);
	tcpd_state_close(u);
	pool_close(&u->pool);
}

int main(int argc, char **argv)
{
	struct server_args args;
	server_follow_manager();
	int rc = server_parse_args(argc, argv, "ustack-tcpd", &args);
	if (rc)
		return rc == SERVER_ARGS_HELP ? 0 : rc;
	log_init("ustack-tcpd");
	static struct tcpd tcpd; /* large (binds, sessions' views); one per process */
	rc = tcpd_init(&tcpd, &args);
	if (rc < 0) {
		tcpd_fini(&tcpd);
		return 1;
	}
	char status[160];
	snprintf(status, sizeof(status),
		 "serving instance %s: %llu connections, %llu sessions restored, TSO %s",
		 args.instance, (unsigned long long)tcpd.restored_conns,
		 (unsigned long long)tcpd.restored_sessions, tcpd.host.tso ? "on" : "off");
	server_ready(status);
	rc = loop_run(tcpd.loop);
	sdn_stopping(NULL);
	tcpd_fini(&tcpd);
	return rc < 0 ? 1 : 0;
}
