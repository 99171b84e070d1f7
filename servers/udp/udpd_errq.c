/* udpd_errq: each socket's error queue (IP_RECVERR; Linux's sk_error_queue, read with
 * recvmsg(MSG_ERRQUEUE)).
 *
 * udp_icmp_error decides whether an ICMP error is queued (the socket set IP_RECVERR) and what
 * it says; the queue itself is process memory, like the datagrams in flight: a restart loses
 * it, as the pending error it came with survives in the state segment. An entry keeps what
 * Linux's sock_exterr_skb gives the application: the extended error (errno, ICMP type and code,
 * info), where the datagram had gone (msg_name), who complained (the offender), and the quoted
 * payload. A queue belongs to a sid: one left by an earlier socket of the same slot is stale
 * and read as empty, so opening and closing sockets never has to visit it.
 *
 * Bounds (docs/ARCHITECTURE.md: every per-application resource has one): UDPD_ERRQ_MAX entries per
 * socket of at most UDPD_ERRQ_PAYLOAD bytes each, allocated at the socket's first queued error; a
 * full queue drops the new error (counted), as Linux's does past SO_RCVBUF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "udpd_priv.h"

static struct udpd_errq *udpd_errq_of(struct udpd *u, uint32_t sid, bool create)
{
	unsigned k = sid & 0xffffu;
	struct udpd_errq *q;

	if (k >= UDP_SOCKETS_MAX)
		return NULL;
	q = u->errq[k];
	if (q && q->sid != sid) {
		q->sid = sid; /* an earlier socket's: forget it */
		q->head = q->n = 0;
	}
	if (!q && create) {
		q = calloc(1, sizeof(*q));
		if (q) {
			q->sid = sid;
			u->errq[k] = q;
		}
	}
	return q;
}

void udpd_errq_push(struct udpd *u, const struct udp_icmp_report *rep, uint32_t offender,
		    const struct buf *pkt, uint32_t payload_at, uint32_t payload_len)
{
	struct udpd_errq *q = udpd_errq_of(u, rep->sid, true);
	struct udpd_err *e;

	if (!q || q->n == UDPD_ERRQ_MAX) {
		u->stats.errq_drops++;
		return;
	}
	e = &q->e[(q->head + q->n) % UDPD_ERRQ_MAX];
	if (payload_len > UDPD_ERRQ_PAYLOAD)
		payload_len = UDPD_ERRQ_PAYLOAD;
	if (payload_len && buf_copy_out(pkt, payload_at, e->payload, payload_len) < 0)
		payload_len = 0; /* the caller measured the chain: never expected */
	e->err = rep->err;
	e->type = rep->type;
	e->code = rep->code;
	e->reserved = 0;
	e->info = rep->info;
	e->daddr = rep->daddr;
	e->dport = rep->dport;
	e->len = (uint16_t)payload_len;
	e->offender = offender;
	q->n++;
}

int udpd_errq_pop(struct udpd *u, uint32_t sid, struct udpd_err *out, uint8_t *next_err)
{
	struct udpd_errq *q = udpd_errq_of(u, sid, false);

	if (!q || q->n == 0)
		return -EAGAIN;
	*out = q->e[q->head];
	q->head = (q->head + 1) % UDPD_ERRQ_MAX;
	q->n--;
	*next_err = q->n ? q->e[q->head].err : 0;
	return 0;
}

void udpd_errq_purge(struct udpd *u, uint32_t sid)
{
	struct udpd_errq *q = udpd_errq_of(u, sid, false);

	if (q)
		q->head = q->n = 0;
}

void udpd_errq_free_all(struct udpd *u)
{
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
		free(u->errq[k]);
		u->errq[k] = NULL;
	}
}
