/* tcp_diag: the connection table as `ss -tna -i` lists it (Linux's inet_diag_dump_icsk and
 * tcp_diag_get_info), for tcpd's answer to SOCKETS (proto/ctl.proto). Pure: it reads the table
 * and nothing else; which application owns a socket is the shell's to say (owner_fn).
 *
 * The cursor numbers listeners first (0 .. TCP_LISTENERS_MAX - 1), then connection slots
 * (TCP_LISTENERS_MAX + slot). Every in-use record is listed: listeners, connections in any
 * state (a fresh unbound socket shows as UNCONN 0.0.0.0:0, as ss shows a TCP_CLOSE socket),
 * children not yet accepted (owner 0) and orphans finishing alone (FIN-WAIT-*, TIME-WAIT).
 * Queues follow Linux's tcp_diag_get_info: a listener's Recv-Q is its accept queue and its
 * Send-Q the backlog; a connection's Recv-Q the bytes received and not read (rcv_nxt -
 * copied_seq), its Send-Q the bytes queued and not acknowledged (write_seq - snd_una).
 */
#include <netinet/in.h>
#include <string.h>

#include "tcp_core.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define TCP_DIAG_CURSOR_END (TCP_LISTENERS_MAX + TCP_CONNS_MAX)

/* ss(8)'s names (its sstate_name[]). */
static const char *const tcp_diag_state_names[TCP_STATE_COUNT] = {
	[TCP_STATE_CLOSED] = "UNCONN",         [TCP_STATE_LISTEN] = "LISTEN",
	[TCP_STATE_SYN_SENT] = "SYN-SENT",     [TCP_STATE_SYN_RECEIVED] = "SYN-RECV",
	[TCP_STATE_ESTABLISHED] = "ESTAB",     [TCP_STATE_FIN_WAIT_1] = "FIN-WAIT-1",
	[TCP_STATE_FIN_WAIT_2] = "FIN-WAIT-2", [TCP_STATE_CLOSE_WAIT] = "CLOSE-WAIT",
	[TCP_STATE_CLOSING] = "CLOSING",       [TCP_STATE_LAST_ACK] = "LAST-ACK",
	[TCP_STATE_TIME_WAIT] = "TIME-WAIT",
};

static const char *const tcp_diag_ca_names[TCP_CA_STATE_COUNT] = {
	[TCP_CA_OPEN] = "open", [TCP_CA_DISORDER] = "disorder",
	[TCP_CA_RECOVERY] = "recovery", [TCP_CA_LOSS] = "loss",
};

const char *tcp_diag_state_name(unsigned state)
{
	return state < TCP_STATE_COUNT ? tcp_diag_state_names[state] : "UNKNOWN";
}

static void tcp_diag_owner(struct sock_diag *d, uint32_t owner, tcp_diag_owner_fn fn, void *arg)
{
	d->owner = owner;
	if (owner && fn && fn(arg, owner, &d->uid, &d->pid))
		d->owner_known = true;
}

static void tcp_diag_listener(const struct tcp_table *t, unsigned idx, struct sock_diag *d,
			      tcp_diag_owner_fn fn, void *arg)
{
	const struct tcp_listener *l = &t->lis[idx];
	memset(d, 0, sizeof(*d));
	d->protocol = IPPROTO_TCP;
	d->state = tcp_diag_state_names[TCP_STATE_LISTEN];
	d->id = tcp_listener_cid(t, idx);
	d->laddr = l->laddr;
	d->lport = ntohs(l->lport);
	d->recv_q = l->acc_n;
	d->send_q = l->backlog;
	tcp_diag_owner(d, l->owner, fn, arg);
}

static void tcp_diag_conn(const struct tcp_table *t, unsigned idx, uint64_t now,
			  struct sock_diag *d, tcp_diag_owner_fn fn, void *arg)
{
	const struct tcp_conn *c = &t->conn[idx];
	memset(d, 0, sizeof(*d));
	d->protocol = IPPROTO_TCP;
	d->state = tcp_diag_state_name(c->state);
	d->id = tcp_conn_cid(t, idx);
	d->laddr = c->laddr;
	d->lport = ntohs(c->lport);
	d->raddr = c->raddr;
	d->rport = ntohs(c->rport);
	if (c->state != TCP_STATE_CLOSED && c->state != TCP_STATE_SYN_SENT &&
	    SEQ_GT(c->rcv_nxt, c->read_seq))
		d->recv_q = c->rcv_nxt - c->read_seq;
	if (c->state != TCP_STATE_CLOSED && SEQ_GT(c->write_seq, c->snd_una))
		d->send_q = c->write_seq - c->snd_una;
	tcp_diag_owner(d, c->owner, fn, arg);
	/* ss -i shows no TCP details for a closed socket or a TIME-WAIT one (Linux keeps only a
	 * timewait sock then) */
	if (c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_TIME_WAIT ||
	    c->state >= TCP_STATE_COUNT)
		return;
	struct tcp_info_lite i;
	tcp_info_of(c, now, &i);
	struct sock_diag_tcp *o = &d->tcp;
	d->has_tcp = true;
	o->rtt_us = i.rtt_us;
	o->rttvar_us = i.rttvar_us;
	o->min_rtt_us = i.min_rtt_us;
	o->rto_us = i.rto_us;
	o->snd_mss = i.snd_mss;
	o->rcv_mss = i.rcv_mss;
	o->cwnd = i.snd_cwnd;
	o->ssthresh = i.snd_ssthresh;
	o->retransmits = i.retransmits;
	o->total_retrans = i.total_retrans;
	o->unacked = i.unacked;
	o->sacked = i.sacked;
	o->lost = i.lost;
	o->retrans = i.retrans;
	o->bytes_acked = i.bytes_acked;
	o->bytes_received = i.bytes_received;
	o->segs_out = i.segs_out;
	o->segs_in = i.segs_in;
	o->snd_wnd = i.snd_wnd;
	o->rcv_space = i.rcv_space;
	o->snd_wscale = i.snd_wscale;
	o->rcv_wscale = i.rcv_wscale;
	o->options = i.options;
	o->backoff = i.backoff;
	o->pmtu = i.pmtu;
	o->last_data_sent_ms = i.last_data_sent_ms;
	o->last_data_recv_ms = i.last_data_recv_ms;
	o->cc = tcp_cc_get((enum tcp_cc_algo)c->cc.algo)->name;
	o->ca_state = c->cc.ca_state < TCP_CA_STATE_COUNT ? tcp_diag_ca_names[c->cc.ca_state]
							  : "unknown";
}

unsigned tcp_diag_walk(const struct tcp_table *t, uint64_t now, uint32_t *cursor,
		       struct sock_diag *out, unsigned max, bool *more, tcp_diag_owner_fn owner_fn,
		       void *arg)
{
	unsigned n = 0;
	uint32_t k = *cursor;
	for (; k < TCP_DIAG_CURSOR_END && n < max; k++) {
		if (k < TCP_LISTENERS_MAX) {
			if (tcp_listener_cid(t, k))
				tcp_diag_listener(t, k, &out[n++], owner_fn, arg);
		} else if (tcp_conn_cid(t, k - TCP_LISTENERS_MAX)) {
			tcp_diag_conn(t, k - TCP_LISTENERS_MAX, now, &out[n++], owner_fn, arg);
		}
	}
	*cursor = k;
	*more = k < TCP_DIAG_CURSOR_END;
	return n;
}
