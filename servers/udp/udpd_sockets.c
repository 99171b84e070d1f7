/* udpd_sockets: udpd's answer to SOCKETS (`ustackctl sockets`): its socket table as
 * `ss -una` lists it, a page (SOCK_DIAG_PAGE sockets) per request from a cursor that is the
 * table's slot index.
 *
 * As Linux's udp_diag: UNCONN, or ESTAB once connect() gave the socket a peer; Recv-Q is what
 * waits for the application (the bytes of the records in its slot's RX ring: udpd is that
 * ring's producer, the tail is the application's and read here only to be shown: an impossible
 * one shows 0), Send-Q what udpd holds for it (a corked datagram; what sits in the shared TX
 * ring is not attributed to a socket until udpd reads it). The owner is the session's creator
 * uid and the pid that handed the region over (0 while the session waits to resume after a
 * udpd restart).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include "udpd_priv.h"

/* Bytes queued in a slot's RX ring, as udpd (the producer) sees them. */
static uint32_t udpd_rx_queued(const struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->shared->tail, memory_order_acquire);
	uint64_t used = r->head_pub - tail;
	return used > r->size ? 0 : (uint32_t)used;
}

static void udpd_sock_diag(const struct udpd *u, unsigned k, struct sock_diag *d)
{
	const struct udp_sock *s = &u->t->sock[k];
	memset(d, 0, sizeof(*d));
	d->protocol = IPPROTO_UDP;
	d->id = udp_sock_sid(u->t, k);
	d->state = (s->flags & UDP_SOCK_F_CONNECTED) ? "ESTAB" : "UNCONN";
	d->laddr = s->laddr;
	d->lport = ntohs(s->lport);
	d->raddr = s->raddr;
	d->rport = ntohs(s->rport);
	d->send_q = (s->flags & UDP_SOCK_F_CORK_PENDING) ? s->cork_len : 0;
	d->drops = s->drops;
	d->owner = s->owner;
	int si = udpd_session_of_owner(u, s->owner);
	if (si < 0)
		return;
	const struct xport_session *ss = &u->x.sess[si];
	d->owner_known = true;
	d->uid = u->st->sessions[si].creator_uid;
	bool mapped = ss->state == XPORT_SESS_ATTACHED || ss->state == XPORT_SESS_CLOSING;
	d->pid = mapped && ss->pid > 0 ? (uint32_t)ss->pid : 0;
	unsigned slot = u->sock_slot[k];
	if (mapped && slot < ss->region.n_slots)
		d->recv_q = udpd_rx_queued(&ss->region.rx[slot]);
}

int udpd_ctl_sockets(struct udpd *u, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
		     struct ctl_server *srv)
{
	struct sock_diag *d = ctl_reply_alloc(srv, SOCK_DIAG_PAGE * sizeof(*d));
	if (!d)
		return -ENOMEM;
	uint32_t k = req->cursor;
	unsigned n = 0;
	for (; k < UDP_SOCKETS_MAX && n < SOCK_DIAG_PAGE; k++)
		if (udp_sock_sid(u->t, k))
			udpd_sock_diag(u, k, &d[n++]);
	return ctl_reply_add_sockets(srv, r, d, n, k, k < UDP_SOCKETS_MAX);
}
