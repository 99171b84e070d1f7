/* xport_shell: the part of a transport server's init that every transport does the same way
 * (docs/ARCHITECTURE.md, "Adding a transport"): room for its sessions' descriptors, then its
 * endpoints in the documented order — links with ipd, the requests ROUTER, the session
 * listener, the ctl socket. The transport's own steps (config, pool, state segment, core) come
 * before, its loop sources after. And the part of its STATS reply that every transport has.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "link.h"
#include "log.h"
#include "xport.h"

/* Each session brings 2 + n_slots descriptors (connection, doorbell, slot eventfds): 128
 * sessions of 64 slots, with room to spare. */
#define XPORT_NOFILE_WANT 65536u

void xport_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= XPORT_NOFILE_WANT)
		return;
	rlim_t want = rl.rlim_max < XPORT_NOFILE_WANT ? rl.rlim_max : XPORT_NOFILE_WANT;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_notice("RLIMIT_NOFILE stays at its soft limit: %s", strerror(errno));
	}
}

int xport_endpoints_open(struct xport *x, const struct xport_endpoints *e)
{
	int rc = link_open_rx(e->zctx, e->pool, x->instance, POOL_HOLDER_IPD, e->from_ipd);
	if (rc == 0)
		rc = link_open_tx(e->zctx, e->pool, x->instance, POOL_HOLDER_IPD, e->to_ipd);
	if (rc < 0) {
		log_err("links: %s", strerror(-rc));
		return rc;
	}
	/* ipd may be restarting: the links connect by themselves once it binds. Both ways: after
	 * our own restart ipd reconnects to our new socket only at its next try
	 * (LINK_RECONNECT_MS), and until then ipd drops the answer to anything we send first
	 * (tcpd's timers that fell due while it was down fire at once: the peer's ACK of a
	 * retransmitted SYN-ACK was lost so, restart after restart; issue 9). */
	uint64_t t0 = clock_now();
	bool up = link_wait_peer(*e->to_ipd, 500) == 0;
	uint64_t t_to = clock_now();
	up = up && link_wait_peer(*e->from_ipd, 500) == 0;
	if (!up)
		log_notice("ipd is not connected yet: %s are dropped until it is", e->what);
	else
		log_info("links with ipd up: ours after %llu us, ipd's to us %llu us later",
			 (unsigned long long)((t_to - t0) / 1000u),
			 (unsigned long long)((clock_now() - t_to) / 1000u));

	rc = xport_requests_open(x, e->zctx);
	if (rc < 0) {
		log_err("requests socket: %s", strerror(-rc));
		return rc;
	}
	rc = xport_sessions_open(x);
	if (rc < 0) {
		log_err("session socket: %s", strerror(-rc));
		return rc;
	}
	rc = ctl_server_open(e->zctx, x->instance, x->ops->layer, e->ctl_fn, e->ctl_arg, e->ctl);
	if (rc < 0)
		log_err("ctl: %s", strerror(-rc));
	return rc;
}

int xport_shell_report(const struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r,
		       const struct xport_shell_stats *s)
{
	char app_transit[48];
	snprintf(app_transit, sizeof(app_transit), "app_transit_from_%s", x->ops->layer);
	int rc = link_ctl_report(srv, r, s->from_ipd);
	if (rc == 0)
		rc = link_ctl_report(srv, r, s->to_ipd);
	if (rc == 0)
		rc = ctl_reply_add_hist(srv, r, "inside_to_app", s->inside_to_app);
	if (rc == 0)
		rc = ctl_reply_add_hist(srv, r, "total_to_app", s->total_to_app);
	if (rc == 0)
		rc = ctl_reply_add_hist(srv, r, "transit_from_app", s->transit_from_app);
	if (rc == 0)
		rc = ctl_reply_add_hist(srv, r, app_transit, s->app_transit);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "restored_sessions", s->restored_sessions);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "state_generation", s->generation);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "pool_reclaimed_at_start", s->reclaimed);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "loop_busy_polls", loop_busy_polls(s->loop));
	return rc;
}
