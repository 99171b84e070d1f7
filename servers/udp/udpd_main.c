/* udpd_main: the ustack-udpd server shell. It owns every socket, descriptor, mapping and the
 * clock; the protocol work is udp_core's.
 *
 * init() order (each step needs the previous one):
 *   1. config      /etc/ustack/<instance>.conf (address, prefix, gateway, MTU: the routing
 *                  table, common/route.h, the same one ipd builds)
 *   2. pool        attach or create, then reclaim what a previous udpd held when it died
 *                  (batches it had received, corked payload)
 *   3. state       the state segment /ustack-<instance>-udp-state: the socket table and the
 *                  sessions survive us; what a predecessor left is validated and restored,
 *                  its sessions DETACHED until their applications resume (udpd_state.c);
 *                  then the per-uid shares (from the config and the pool's size) and each
 *                  restored session's uid (xport_quota.c, udpd_session.c)
 *   4. links       bind ipd-to-udpd, connect udpd-to-ipd, wait (bounded) for ipd
 *   5. requests    bind the udpd.sock ROUTER (socket requests: xport_requests.c)
 *   6. sessions    the epoll set and the udpd.session listening socket (xport_session.c):
 *                  applications (and the resuming ones) may come from here on
 *   7. ctl         bind udpd.ctl
 *   8. loop        sources (ipd's link, requests, the epoll set, ctl, and the link to ipd's
 *                  POLLOUT, watched only while TX is held back by it), the sessions' timer and
 *                  the TX retry timer; READY=1
 *
 * Restart contract (docs/ARCHITECTURE.md): sockets survive in the state segment; an application
 * resumes its session over a new connection (its region and eventfds come with it again) and its
 * sockets carry on; datagrams in flight and corked ones are lost (udpd_priv.h).
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
#include "udpd_priv.h"

const struct stat_field udpd_stat_fields[] = {
#define F(x) STAT_FIELD(struct udpd_stats, x)
	F(req_waited), F(req_wait_busy), F(req_close_deferred), F(req_close_busy),
	F(rx_drop_not_udp), F(rx_drop_detached), F(rx_drop_closing), F(rx_budget_exhausted),
	F(rx_drop_orphan), F(rx_truncated), F(rx_port_unreach), F(icmp_drop_short),
	F(icmp_woken), F(tx_records), F(tx_drop_bad_record), F(tx_drop_no_socket), F(tx_errors),
	F(tx_drop_nobuf), F(tx_drop_cork), F(tx_drop_cork_limit), F(tx_drop_link),
	F(tx_drop_closed_bytes), F(tx_drop_closing), F(tx_wait_link), F(tx_wait_pool),
	F(sessions_drained), F(errq_drops), F(tx_stamp_bad), F(app_hist_over_credit),
	F(app_hist_went_down),
#undef F
};
const unsigned udpd_stat_field_count = sizeof(udpd_stat_fields) / sizeof(udpd_stat_fields[0]);
_Static_assert(sizeof(udpd_stat_fields) / sizeof(udpd_stat_fields[0]) ==
		       sizeof(struct udpd_stats) / sizeof(uint64_t),
	       "every udpd counter is named");

static bool udpd_ctl_ready(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	(void)now;
	return ctl_server_poll(u->ctl, 16) == 16;
}

static unsigned udpd_sockets_in_use(const struct udpd *u)
{
	unsigned n = 0;
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++)
		n += udp_sock_sid(u->t, k) != 0;
	return n;
}

/* ctl_handle: answers ustackctl. */
static int udpd_ctl_handle(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
			   struct ctl_server *srv)
{
	struct udpd *u = arg;
	r->state = "serving";
	r->uptime_ms = (clock_now() - u->started) / CLOCK_NS_PER_MS;
	switch (req->type) {
	case USTACK__CTL_REQUEST__TYPE__STATUS:
		return 0;
	case USTACK__CTL_REQUEST__TYPE__STATS: {
		/* The applications' own samples, up to now (before the counters that say what of
		 * them was refused). */
		for (unsigned si = 0; si < UDPD_SESSIONS_MAX; si++)
			udpd_app_collect(u, si);
		int rc = ctl_reply_add_counters(srv, r, "", udp_stat_fields, udp_stat_field_count,
						&u->t->stats);
		if (rc == 0)
			rc = xport_stats_report(&u->x, srv, r);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "", udpd_stat_fields,
						    udpd_stat_field_count, &u->stats);
		if (rc == 0) /* what restarts repaired, over the state segment's life */
			rc = ctl_reply_add_counters(srv, r, "", udpd_store_stat_fields,
						    udpd_store_stat_field_count, &u->st->stats);
		if (rc == 0)
			rc = ctl_reply_add_counters(srv, r, "state_journal_", state_journal_stat_fields,
						    state_journal_stat_field_count,
						    &u->t->journal.stats);
		const struct xport_shell_stats shell = {
			.from_ipd = u->from_ipd,
			.to_ipd = u->to_ipd,
			.inside_to_app = &u->inside_to_app,
			.total_to_app = &u->total_to_app,
			.transit_from_app = &u->transit_from_app,
			.app_transit = &u->app_transit_from_udpd,
			.restored_sessions = u->restored_sessions,
			.generation = u->generation,
			.reclaimed = u->reclaimed,
			.loop = u->loop,
		};
		if (rc == 0)
			rc = xport_shell_report(&u->x, srv, r, &shell);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "sockets_in_use", udpd_sockets_in_use(u));
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "restored_sockets", u->restored_sockets);
		if (rc == 0)
			rc = xport_quota_report(&u->x, srv, r, UDP_SOCKETS_MAX);
		if (rc == 0)
			rc = ctl_reply_add_counter(srv, r, "corked_buffers", u->corked_all);
		return rc;
	}
	case USTACK__CTL_REQUEST__TYPE__SOCKETS:
		return udpd_ctl_sockets(u, req, r, srv);
	default:
		return -EOPNOTSUPP;
	}
}

static int udpd_init(struct udpd *u, const struct server_args *args)
{
	u->instance = args->instance;
	xport_preinit(&u->x, &udpd_xport_ops, u, u->instance);
	int rc = server_load_config(args, &u->cfg);
	if (rc == 0)
		rc = server_open_pool(args, &u->cfg, POOL_HOLDER_UDPD, &u->pool, &u->reclaimed);
	if (rc < 0)
		return rc;
	/* The routing table ipd builds from the same config (common/route.h). */
	rc = udp_host_init(&u->host, u->cfg.ip_addr, u->cfg.ip_prefix, u->cfg.ip_gateway,
			   u->cfg.mtu);
	if (rc < 0) {
		log_err("routes from the config: %s", strerror(-rc));
		return rc;
	}
	xport_raise_nofile();
	u->started = clock_now();

	rc = udpd_state_open(u, u->started);
	if (rc < 0)
		return rc;
	udpd_quota_init(u);

	u->zctx = zmq_ctx_new();
	if (!u->zctx)
		return -ENOMEM;
	const struct xport_endpoints ends = {
		.zctx = u->zctx,
		.pool = u->pool,
		.from_ipd = &u->from_ipd,
		.to_ipd = &u->to_ipd,
		.ctl_fn = udpd_ctl_handle,
		.ctl_arg = u,
		.ctl = &u->ctl,
		.what = "datagrams",
	};
	rc = xport_endpoints_open(&u->x, &ends);
	if (rc < 0)
		return rc;

	rc = loop_create(&u->loop);
	if (rc < 0)
		return rc;
	loop_set_busy_poll(u->loop, u->cfg.busy_poll_us);
	if (link_loop_add(u->loop, u->from_ipd, udpd_rx_batch, u) < 0 ||
	    xport_loop_add(&u->x, u->loop) < 0 ||
	    loop_add_zsock(u->loop, ctl_server_socket(u->ctl), udpd_ctl_ready, u) < 0)
		return -ENOSPC;
	u->tx_link_src = link_loop_add(u->loop, u->to_ipd, udpd_tx_link_ready, u);
	if (u->tx_link_src < 0)
		return -ENOSPC;
	link_loop_room(u->loop, u->tx_link_src, u->to_ipd, false); /* until TX waits for it */
	u->tx_timer_id = loop_add_timer(u->loop, udpd_tx_timer, u, CLOCK_NEVER);
	if (u->tx_timer_id < 0)
		return u->tx_timer_id;
	struct link *links[] = {u->from_ipd, u->to_ipd};
	rc = link_faults_attach(u->loop, u->ctl, links, 2, &u->faults);
	if (rc < 0)
		return rc;
	return 0;
}

static void udpd_fini(struct udpd *u)
{
	if (u->pool) {
		for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++)
			pool_free(&u->cork[k]);
		udpd_errq_free_all(u);
		if (u->n_out && u->to_ipd)
			udpd_out_flush(u);
		pool_free_burst(u->pool, u->out, u->n_out);
		u->n_out = 0;
	}
	xport_close(&u->x); /* the records stay: the next udpd resumes them */
	ctl_server_close(&u->ctl);
	link_faults_destroy(&u->faults);
	link_close(&u->from_ipd);
	link_close(&u->to_ipd);
	loop_destroy(&u->loop);
	if (u->zctx)
		zmq_ctx_term(u->zctx);
	udpd_state_close(u);
	pool_close(&u->pool);
}

int main(int argc, char **argv)
{
	struct server_args args;
	server_follow_manager();
	int rc = server_parse_args(argc, argv, "ustack-udpd", &args);
	if (rc)
		return rc == SERVER_ARGS_HELP ? 0 : rc;
	log_init("ustack-udpd");
	static struct udpd udpd; /* large (sessions, regions' views); one per process */
	rc = udpd_init(&udpd, &args);
	if (rc < 0) {
		udpd_fini(&udpd);
		return 1;
	}
	char status[160];
	snprintf(status, sizeof(status), "serving instance %s: %llu sockets, %llu sessions restored",
		 args.instance, (unsigned long long)udpd.restored_sockets,
		 (unsigned long long)udpd.restored_sessions);
	server_ready(status);
	rc = loop_run(udpd.loop);
	sdn_stopping(NULL);
	udpd_fini(&udpd);
	return rc < 0 ? 1 : 0;
}
