/* tcpd_requests: what each socket request (proto/sock.proto) does to a stream socket. Receiving
 * them, their authentication, -ENOTCONN for a detached session, the replay of a mutating one
 * from its session's reply records and the transaction around it are every transport's
 * (servers/transport/xport_requests.c).
 *
 * Ordering against the rings: a request arrives after whatever the application published in
 * its rings before it asked (libsock publishes, then sends), so every request on a socket first
 * takes those in (tcpd_sync: sends, reads), as Linux's calls see everything a process did
 * before them: a CLOSE sends its FIN after the queued bytes and resets only if bytes really are
 * unread, a GETOPT(TCP_INFO) counts the bytes just sent. Unlike udpd's records this costs
 * nothing to wait for: the core takes the bytes by sequence number, no copy.
 *
 * Each call is the core's (tcp_core.h: Linux's errnos); the shell decides:
 *   SOCKET   type not SOCK_STREAM or slot outside the region: -EINVAL; the slot still held (a
 *            socket, or an orphan not released): -EBUSY; the uid's share of sockets: -EMFILE;
 *            the core's table full (of more than TIME-WAIT orphans, which make room as
 *            for a SYN: tcp_socket_open): -ENFILE. The core is told the slot's ring sizes
 *            (tcp_set_buf_max), and the slot block starts CLOSED;
 *   BIND     port above 65535: -EINVAL; a port below 1024 needs a session created by uid 0
 *            (-EACCES: Linux without CAP_NET_BIND_SERVICE, as udpd);
 *   CONNECT  port above 65535: -EINVAL; the route (common/route.h, the table ipd routes by) is
 *            decided at the call: -ENETUNREACH, -EINVAL as route_output says, -ENETUNREACH
 *            for a broadcast or multicast destination (tcp_v4_connect); 0.0.0.0 is this host,
 *            as in Linux. The TX stream's base is fixed at iss + 1 and the TX ring's tail;
 *   DISCONNECT tcp_disconnect (a listener stops listening);
 *   LISTEN   the socket's cid changes to the listener's: the slot and the bind follow;
 *   ACCEPT   a new slot as for SOCKET; the connection's streams are based at the slots' rings
 *            (TX: iss + 1 at the tail, RX: irs + 1 at the head), what arrived before is copied
 *            into the RX ring (tcpd_stream.c, early data); reply peer_addr/peer_port (a replayed
 *            ACCEPT gets them from the core again: the reply record keeps only sid, addr,
 *            port);
 *   SHUTDOWN tcp_shutdown;
 *   URGENT   the index must be a byte the application published and tcpd has not seen acked:
 *            else -EINVAL; the bytes up to it are taken with MSG_OOB (the urgent pointer
 *            follows the last of them, RFC 6093 as Linux);
 *   CLOSE    tcp_close; the slot stays tcpd's while the connection is an orphan that still
 *            sends from it, and is RELEASED when it no longer does (tcpd_stream.c);
 *   SETOPT/GETOPT  the core's (tcp_setopt/getopt), GETOPT TCP_INFO as Linux's struct tcp_info
 *            from the core's tcp_info_lite, cut to the caller's optlen (optval's length in the
 *            request, 4 when empty); SO_ERROR takes the pending error, which the slot block then
 *            stops showing;
 *   HOSTCFG  the routing config, as udpd answers it; AUTOBIND, ERRQUEUE: -EOPNOTSUPP (no
 *            datagram calls on a stream socket reach tcpd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "tcpd_priv.h"

bool tcpd_op_mutates(int op)
{
	switch (op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
	case USTACK__SOCK_REQUEST__OP__BIND:
	case USTACK__SOCK_REQUEST__OP__CONNECT:
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
	case USTACK__SOCK_REQUEST__OP__CLOSE:
	case USTACK__SOCK_REQUEST__OP__SETOPT:
	case USTACK__SOCK_REQUEST__OP__LISTEN:
	case USTACK__SOCK_REQUEST__OP__ACCEPT:
	case USTACK__SOCK_REQUEST__OP__SHUTDOWN:
	case USTACK__SOCK_REQUEST__OP__URGENT:
		return true;
	default:
		return false;
	}
}

static enum tcpd_reach tcpd_reach_of(int op)
{
	switch (op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
		return TCPD_REACH_NEW;
	case USTACK__SOCK_REQUEST__OP__LISTEN:
		return TCPD_REACH_LISTEN;
	case USTACK__SOCK_REQUEST__OP__ACCEPT:
		return TCPD_REACH_ACCEPT;
	default:
		return TCPD_REACH_SOCK;
	}
}

void tcpd_req_txn_begin(void *tp, unsigned si)
{
	struct tcpd *u = tp;
	tcpd_store_begin(u->st);
	tcpd_rec_touch(u->st, si);
}

void tcpd_req_txn_end(void *tp, unsigned si, const struct xport_reply_rec *reply)
{
	struct tcpd *u = tp;
	xport_rec_reply(&u->st->journal, u->st->sessions, si, reply);
	tcpd_store_end(u->st);
	if (u->stage_free_after_txn) {
		tcpd_stage_free(u, u->stage_free_after_txn - 1u);
		u->stage_free_after_txn = 0;
	}
}

void tcpd_req_forget(void *tp, unsigned si)
{
	(void)tp;
	(void)si; /* nothing waits: every request is answered at once */
}

void tcpd_req_acted(void *tp)
{
	struct tcpd *u = tp;
	tcpd_io_run(u, clock_now());
	tcpd_out_flush(u);
	tcpd_rearm(u);
}

void tcpd_req_replayed(void *tp, unsigned si, const Ustack__SockRequest *q,
		       Ustack__SockReply *r, struct xport_req *req)
{
	struct tcpd *u = tp;
	uint32_t addr = 0;
	uint16_t port = 0;
	(void)req;
	if (q->op == USTACK__SOCK_REQUEST__OP__ACCEPT && r->status == 0 &&
	    tcp_getname(u->t, u->st->sessions[si].owner, r->sid, true, &addr, &port) == 0) {
		r->peer_addr = addr;
		r->peer_port = ntohs(port);
	}
}

/* The slot of socket sid in session si (the request's own slot if it says so), or -1. */
static int tcpd_sock_slot(const struct tcpd *u, unsigned si, uint32_t sid, uint32_t hint)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	if (!sid)
		return -1;
	if (hint < REGION_SLOTS_MAX && rec->slot_sid[hint] == sid)
		return (int)hint;
	for (unsigned s = 0; s < REGION_SLOTS_MAX; s++)
		if (rec->slot_sid[s] == sid)
			return (int)s;
	return -1;
}

/* A slot for a new socket of session si: 0, or the errno SOCKET/ACCEPT answer. */
static int tcpd_slot_free(struct tcpd *u, unsigned si, uint32_t slot)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	struct region *r = tcpd_region(u, si);
	if (!r || slot >= rec->n_slots || slot >= r->n_slots) {
		u->stats.req_bad_slot++;
		return -EINVAL;
	}
	if (rec->slot_sid[slot] || u->st->binds[tcpd_bind_ix(si, slot)].cid)
		return -EBUSY;
	if (tcpd_uid_sockets(u, rec->creator_uid) >= u->x.lim.uid_sockets) {
		u->x.stats.sock_refused_uid++;
		return -EMFILE;
	}
	return 0;
}

static int tcpd_req_socket(struct tcpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r, uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	if (q->type != SOCK_STREAM)
		return -EINVAL;
	int rc = tcpd_slot_free(u, si, q->slot);
	if (rc < 0)
		return rc;
	uint32_t cid;
	rc = tcp_socket_open(u->t, rec->owner, now, tcpd_io(u), &cid);
	if (rc < 0) {
		u->x.stats.sock_refused_full++;
		return -ENFILE;
	}
	struct region *reg = tcpd_region(u, si);
	uint32_t rx = region_stream_rx(reg, q->slot)->size, tx = region_stream_tx(reg, q->slot)->size;
	tcp_set_buf_max(u->t, rec->owner, cid, rx < TCP_RMEM_MAX ? rx : 0,
			tx < TCP_WMEM_MAX ? tx : 0);
	unsigned b = tcpd_bind_ix(si, q->slot);
	tcpd_rec_touch(u->st, si)->slot_sid[q->slot] = cid;
	tcpd_bind_set(u, b, cid, rec->owner);
	tcpd_slot_init(u, b, REGION_SS_CLOSED);
	r->sid = cid;
	return 0;
}

static int tcpd_req_accept(struct tcpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r, uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	int lslot = tcpd_sock_slot(u, si, q->sid, REGION_SLOTS_MAX);
	if (lslot < 0)
		return -EBADF;
	if (!(q->sid & TCP_CID_LISTENER))
		return -EINVAL; /* inet_csk_accept: not listening */
	if (!tcp_listener_get(u->t, rec->owner, q->sid))
		return -EBADF;
	/* An empty queue says so before a slot is looked at (libsock reserved one anyway). */
	if (tcp_listener_get(u->t, rec->owner, q->sid)->acc_n == 0)
		return -EAGAIN;
	int rc = tcpd_slot_free(u, si, q->slot);
	if (rc < 0)
		return rc;
	uint32_t cid;
	rc = tcp_accept(u->t, rec->owner, q->sid, rec->owner, now, tcpd_io(u), &cid);
	if (rc < 0)
		return rc;
	unsigned b = tcpd_bind_ix(si, q->slot);
	tcpd_rec_touch(u->st, si)->slot_sid[q->slot] = cid;
	tcpd_bind_set(u, b, cid, rec->owner);
	tcpd_bind_bases(u, b, true);
	tcpd_stage_deliver(u, cid & 0x7fffu, b);
	/* Freed once the accept has committed: a kill before that rolls the accept back, and
	 * the next tcpd finds the early data still staged (tcpd_stage.h). */
	u->stage_free_after_txn = (cid & 0x7fffu) + 1u;
	tcpd_slot_init(u, b, REGION_SS_CONNECTED);
	tcpd_sync(u, b, now);
	tcpd_sync(u, tcpd_bind_ix(si, (unsigned)lslot), now); /* its accept queue */
	uint32_t addr = 0;
	uint16_t port = 0;
	r->sid = cid;
	if (tcp_getname(u->t, rec->owner, cid, false, &addr, &port) == 0) {
		r->addr = addr;
		r->port = ntohs(port);
	}
	if (tcp_getname(u->t, rec->owner, cid, true, &addr, &port) == 0) {
		r->peer_addr = addr;
		r->peer_port = ntohs(port);
	}
	return 0;
}

static int tcpd_req_connect(struct tcpd *u, unsigned si, unsigned b, const Ustack__SockRequest *q,
			    Ustack__SockReply *r, uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	const struct tcp_conn *c = tcp_conn_get(u->t, rec->owner, q->sid);
	if (q->port > 0xffffu)
		return -EINVAL;
	if (!c)
		return tcp_listener_get(u->t, rec->owner, q->sid) ? -EISCONN : -EBADF;
	/* The core's own answers first (EISCONN, EALREADY, a failed attempt's error), then the
	 * route: Linux's order in __inet_stream_connect / tcp_v4_connect. */
	if (c->state != TCP_STATE_CLOSED || (c->flags & TCP_F_CONNECTED_ONCE) || c->raddr)
		return tcp_connect(u->t, rec->owner, q->sid, now, 0, q->addr,
				   htons((uint16_t)q->port), 0, tcpd_io(u));
	struct route_result res;
	uint32_t saddr = (c->flags & TCP_F_BINDADDR_LOCK) ? c->laddr : 0;
	int rc = route_output(&u->rt, q->addr, saddr, &res);
	if (rc < 0)
		return rc;
	if (res.type == ROUTE_BROADCAST || res.type == ROUTE_MULTICAST)
		return -ENETUNREACH;
	uint16_t mtu = res.mtu > 65535u ? 65535u : (uint16_t)res.mtu;
	rc = tcp_connect(u->t, rec->owner, q->sid, now, res.saddr, res.daddr,
			 htons((uint16_t)q->port), mtu, tcpd_io(u));
	if (rc < 0)
		return rc;
	tcpd_bind_bases(u, b, false);
	tcpd_sync(u, b, now);
	c = tcp_conn_get(u->t, rec->owner, q->sid);
	r->addr = c ? c->laddr : 0;
	return 0;
}

static int tcpd_req_urgent(struct tcpd *u, unsigned si, unsigned b, const Ustack__SockRequest *q,
			   uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	const struct tcp_conn *c = tcp_conn_get(u->t, rec->owner, q->sid);
	const struct tcpd_bind *bd = &u->st->binds[b];
	struct region *reg = tcpd_region(u, si);
	if (!c || !(bd->flags & TCPD_B_TX_BASE) || !reg)
		return c ? -EINVAL : -EBADF;
	struct stream_ring *tx = region_stream_tx(reg, b % REGION_SLOTS_MAX);
	uint64_t head = 0;
	if (stream_ring_head_now(tx, &head) < 0)
		return -EINVAL;
	/* Just past a byte the application published and the peer has not acknowledged: a
	 * lie otherwise. */
	if (q->index > head || q->index <= stream_ring_tail(tx))
		return -EINVAL;
	uint64_t taken = bd->tx_base_index + (uint32_t)(c->write_seq - bd->tx_base_seq);
	uint64_t n = q->index > taken ? q->index - taken : 0;
	uint32_t space = tcp_send_space(c);
	if (n > space)
		n = space;
	return tcp_send(u->t, rec->owner, q->sid, now, (uint32_t)n, MSG_OOB, tcpd_io(u));
}

static int tcpd_req_close(struct tcpd *u, unsigned si, int slot, const Ustack__SockRequest *q,
			  uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	unsigned b = tcpd_bind_ix(si, (unsigned)slot);
	int rc = tcp_close(u->t, rec->owner, q->sid, now, tcpd_io(u));
	if (rc < 0)
		return rc;
	tcpd_rec_touch(u->st, si)->slot_sid[slot] = 0;
	if (u->st->binds[b].cid != q->sid)
		return 0;
	if (q->sid & TCP_CID_LISTENER) {
		tcpd_release(u, b); /* a listener is gone at once */
		return 0;
	}
	/* An orphan goes on sending from the slot, or the connection is freed already (its
	 * TCP_EV_FREED releases the slot). */
	tcpd_bind_touch(u->st, b)->flags |= TCPD_B_ORPHAN;
	tcpd_sync(u, b, now);
	return 0;
}

/* Linux's tcpi_state numbers (include/net/tcp_states.h). */
static uint8_t tcpd_linux_state(uint8_t s)
{
	static const uint8_t map[TCP_STATE_COUNT] = {
		[TCP_STATE_CLOSED] = 7,      [TCP_STATE_LISTEN] = 10,
		[TCP_STATE_SYN_SENT] = 2,    [TCP_STATE_SYN_RECEIVED] = 3,
		[TCP_STATE_ESTABLISHED] = 1, [TCP_STATE_FIN_WAIT_1] = 4,
		[TCP_STATE_FIN_WAIT_2] = 5,  [TCP_STATE_CLOSE_WAIT] = 8,
		[TCP_STATE_CLOSING] = 11,    [TCP_STATE_LAST_ACK] = 9,
		[TCP_STATE_TIME_WAIT] = 6,
	};
	return s < TCP_STATE_COUNT ? map[s] : 7;
}

/* Linux's struct tcp_info as of 6.7, whose tail the C library's headers may not have yet
 * (Debian 12's end at tcpi_snd_wnd): then come tcpi_rcv_wnd, tcpi_rehash, tcpi_total_rto and
 * tcpi_total_rto_recoveries, written here at their offsets whatever the headers say, and
 * tcpi_total_rto_time, which tcpd does not keep: the reply ends before it, and a caller learns
 * what was filled from optlen, as with any kernel. */
#define TCPD_TI_HEAD (offsetof(struct tcp_info, tcpi_snd_wnd) + 4u)
#define TCPD_TI_RCV_WND TCPD_TI_HEAD
#define TCPD_TI_TOTAL_RTO (TCPD_TI_HEAD + 8u)
#define TCPD_TI_TOTAL_RTO_RECOVERIES (TCPD_TI_HEAD + 10u)
#define TCPD_TI_LEN (TCPD_TI_HEAD + 12u)
_Static_assert(TCPD_TI_HEAD == 232u && TCPD_TI_LEN == 244u, "Linux's offsets");
_Static_assert(TCPD_TI_LEN <= XPORT_SCRATCH_MAX, "the reply fits the scratch");

static int tcpd_tcp_info(struct tcpd *u, uint32_t owner, uint32_t cid, uint64_t now,
			 uint8_t *out, size_t *len)
{
	struct tcp_info_lite l;
	struct tcp_info ti;
	uint8_t whole[TCPD_TI_LEN];
	memset(&ti, 0, sizeof(ti));
	memset(whole, 0, sizeof(whole));
	if (tcp_listener_get(u->t, owner, cid)) {
		ti.tcpi_state = 10;
	} else {
		int rc = tcp_info(u->t, owner, cid, now, &l);
		if (rc < 0)
			return rc;
		ti.tcpi_state = tcpd_linux_state(l.state);
		ti.tcpi_ca_state = l.ca_state;
		ti.tcpi_retransmits = l.retransmits;
		ti.tcpi_backoff = l.backoff;
		ti.tcpi_options = l.options;
		ti.tcpi_snd_wscale = l.snd_wscale & 0xf;
		ti.tcpi_rcv_wscale = l.rcv_wscale & 0xf;
		ti.tcpi_rto = l.rto_us;
		ti.tcpi_snd_mss = l.snd_mss;
		ti.tcpi_rcv_mss = l.rcv_mss;
		ti.tcpi_unacked = l.unacked;
		ti.tcpi_sacked = l.sacked;
		ti.tcpi_lost = l.lost;
		ti.tcpi_retrans = l.retrans;
		ti.tcpi_last_data_sent = l.last_data_sent_ms;
		ti.tcpi_last_data_recv = l.last_data_recv_ms;
		ti.tcpi_pmtu = l.pmtu;
		ti.tcpi_rtt = l.rtt_us;
		ti.tcpi_rttvar = l.rttvar_us;
		ti.tcpi_snd_ssthresh = l.snd_ssthresh;
		ti.tcpi_snd_cwnd = l.snd_cwnd;
		ti.tcpi_advmss = l.snd_mss;
		ti.tcpi_reordering = 3;
		ti.tcpi_rcv_space = l.rcv_space;
		ti.tcpi_total_retrans = l.total_retrans;
		ti.tcpi_min_rtt = l.min_rtt_us;
		ti.tcpi_bytes_acked = l.bytes_acked;
		ti.tcpi_bytes_received = l.bytes_received;
		ti.tcpi_segs_out = l.segs_out;
		ti.tcpi_segs_in = l.segs_in;
		ti.tcpi_notsent_bytes = l.notsent_bytes;
		ti.tcpi_snd_wnd = l.snd_wnd;
		memcpy(whole + TCPD_TI_RCV_WND, &l.rcv_wnd, 4);
		memcpy(whole + TCPD_TI_TOTAL_RTO, &l.total_rto, 2);
		memcpy(whole + TCPD_TI_TOTAL_RTO_RECOVERIES, &l.total_rto_recoveries, 2);
	}
	memcpy(whole, &ti, TCPD_TI_HEAD);
	if (*len > TCPD_TI_LEN)
		*len = TCPD_TI_LEN;
	memcpy(out, whole, *len);
	return 0;
}

static int tcpd_req_getopt(struct tcpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r, uint8_t *val, uint64_t now)
{
	const struct xport_session_rec *rec = &u->st->sessions[si];
	size_t len = q->optval.len ? q->optval.len : sizeof(int);
	if (len > XPORT_SCRATCH_MAX)
		len = XPORT_SCRATCH_MAX;
	int rc;
	if (q->level == IPPROTO_TCP && q->optname == TCP_INFO)
		rc = tcpd_tcp_info(u, rec->owner, q->sid, now, val, &len);
	else
		rc = tcp_getopt(u->t, rec->owner, q->sid, now, q->level, q->optname, val, &len);
	if (rc < 0)
		return rc;
	r->optval.data = val;
	r->optval.len = len;
	return 0;
}

int tcpd_req_dispatch(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      struct xport_req *req)
{
	struct tcpd *u = tp;
	const struct xport_session_rec *rec = &u->st->sessions[si];
	uint32_t owner = rec->owner;
	uint64_t now = clock_now();
	uint32_t addr = 0;
	uint16_t port = 0;
	int rc;

	/* A mutating request runs in a transaction (xport_req_act): what it will write in the
	 * core's table joins it, so a kill anywhere in it rolls back all or nothing
	 * (tcpd_store.h). */
	if (tcpd_op_mutates(q->op))
		tcpd_store_save_core(u->st, tcpd_reach_of(q->op), q->sid);
	switch (q->op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
		return tcpd_req_socket(u, si, q, r, now);
	case USTACK__SOCK_REQUEST__OP__ACCEPT:
		return tcpd_req_accept(u, si, q, r, now);
	case USTACK__SOCK_REQUEST__OP__HOSTCFG:
		r->addr = u->cfg.ip_addr;
		r->prefix_len = u->cfg.ip_prefix;
		r->gateway = u->cfg.ip_gateway;
		r->mtu = u->cfg.mtu;
		return 0;
	case USTACK__SOCK_REQUEST__OP__AUTOBIND:
	case USTACK__SOCK_REQUEST__OP__ERRQUEUE:
		return -EOPNOTSUPP;
	default:
		break;
	}
	int slot = tcpd_sock_slot(u, si, q->sid, q->slot);
	if (slot < 0)
		return -EBADF;
	unsigned b = tcpd_bind_ix(si, (unsigned)slot);
	bool bound = u->st->binds[b].cid == q->sid;
	if (bound)
		tcpd_sync(u, b, now); /* what the application did before it asked (file comment) */
	if (u->x.sess[si].state != XPORT_SESS_ATTACHED)
		return -ECONNABORTED; /* a broken ring ended the session and its sockets */

	switch (q->op) {
	case USTACK__SOCK_REQUEST__OP__BIND: {
		if (q->port > 0xffffu)
			return -EINVAL;
		/* Linux's order: a bad fd, an address that is not ours, then EACCES. */
		bool local = q->addr == 0 || q->addr == u->cfg.ip_addr || ipv4_is_loopback(q->addr);
		if (q->port != 0 && q->port < 1024 && rec->creator_uid != 0 && local &&
		    tcp_conn_get(u->t, owner, q->sid))
			return -EACCES;
		rc = tcp_bind(u->t, owner, q->sid, q->addr, htons((uint16_t)q->port));
		if (rc == 0 && tcp_getname(u->t, owner, q->sid, false, &addr, &port) == 0)
			r->addr = addr;
		return rc;
	}
	case USTACK__SOCK_REQUEST__OP__CONNECT:
		return tcpd_req_connect(u, si, b, q, r, now);
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
		rc = tcp_disconnect(u->t, owner, q->sid, now, tcpd_io(u));
		if (bound)
			tcpd_sync(u, b, now);
		if (rc == 0 && tcp_getname(u->t, owner, q->sid, false, &addr, &port) == 0)
			r->addr = addr;
		return rc;
	case USTACK__SOCK_REQUEST__OP__LISTEN: {
		uint32_t lcid = 0;
		rc = tcp_listen(u->t, owner, q->sid, q->backlog, &lcid);
		if (rc < 0)
			return rc;
		if (lcid != q->sid) {
			tcpd_rec_touch(u->st, si)->slot_sid[slot] = lcid;
			if (bound) {
				tcpd_map_clear(u, q->sid);
				tcpd_bind_touch(u->st, b)->cid = lcid;
				tcpd_map_set(u, b);
			}
		}
		tcpd_sync(u, b, now);
		r->sid = lcid;
		return 0;
	}
	case USTACK__SOCK_REQUEST__OP__SHUTDOWN:
		rc = tcp_shutdown(u->t, owner, q->sid, now, (int)q->how, tcpd_io(u));
		tcpd_sync(u, b, now);
		return rc;
	case USTACK__SOCK_REQUEST__OP__URGENT:
		return tcpd_req_urgent(u, si, b, q, now);
	case USTACK__SOCK_REQUEST__OP__CLOSE:
		return tcpd_req_close(u, si, slot, q, now);
	case USTACK__SOCK_REQUEST__OP__SETOPT: {
		static const uint8_t empty[1];
		const void *val = q->optval.len ? q->optval.data : empty;
		rc = tcp_setopt(u->t, owner, q->sid, now, q->level, q->optname, val, q->optval.len,
				tcpd_io(u));
		tcpd_sync(u, b, now); /* SO_SNDBUF: the send-buffer limit */
		return rc;
	}
	case USTACK__SOCK_REQUEST__OP__GETOPT:
		rc = tcpd_req_getopt(u, si, q, r, req->scratch, now);
		tcpd_sync(u, b, now); /* SO_ERROR took the pending error */
		return rc;
	case USTACK__SOCK_REQUEST__OP__GETSOCKNAME:
	case USTACK__SOCK_REQUEST__OP__GETPEERNAME:
		rc = tcp_getname(u->t, owner, q->sid, q->op == USTACK__SOCK_REQUEST__OP__GETPEERNAME,
				 &addr, &port);
		if (rc == 0) {
			r->sid = q->sid;
			r->addr = addr;
			r->port = ntohs(port);
		}
		return rc;
	default:
		return -EINVAL;
	}
}
