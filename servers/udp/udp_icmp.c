/* udp_icmp: ICMP errors about datagrams we sent (RFC 1122 §4.1.3.3; Linux __udp4_lib_err).
 *
 * The quoted datagram names the socket: its source is our laddr:lport, its destination the
 * peer, so the socket is found with the same lookup a reply from that peer would use. Every
 * byte of the quote came from the wire: the IPv4 header length and the 8 UDP bytes are checked
 * against quoted_len before anything is read.
 *
 * What a socket is told follows Linux's __udp4_lib_err. Without IP_RECVERR: only a connected
 * socket, and only of a hard error. RFC 1122 §3.2.2.1 makes net and host unreachable (and
 * source route failed) transient, so they are not reported, nor is time exceeded; port
 * unreachable is hard (ECONNREFUSED), and so is "fragmentation needed" because UDP sockets do
 * path-MTU discovery by default (Linux IP_PMTUDISC_WANT), which turns it into EMSGSIZE (with
 * IP_PMTUDISC_DONT it is ignored). An unconnected socket hears nothing: it has no single peer
 * the error could be about, and one forged ICMP message must not fail a server's next
 * recvfrom. With IP_RECVERR the application asked for every error: each one, soft or hard,
 * connected or not, becomes the pending error and an entry of the socket's error queue (the
 * shell keeps the queue: udpd_errq.c). The table is Linux's icmp_err_convert.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "udp_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

struct udp_icmp_err {
	uint8_t err;   /* positive errno */
	uint8_t hard;  /* reported to a connected socket */
};

/* Indexed by ICMP_DEST_UNREACH code (RFC 792, RFC 1812 §5.2.7.1). */
static const struct udp_icmp_err udp_unreach_err[16] = {
	{ENETUNREACH, 0},  /* 0 net unreachable: transient */
	{EHOSTUNREACH, 0}, /* 1 host unreachable: transient */
	{ENOPROTOOPT, 1},  /* 2 protocol unreachable */
	{ECONNREFUSED, 1}, /* 3 port unreachable */
	{EMSGSIZE, 1},     /* 4 fragmentation needed (PMTU discovery on: hard) */
	{EOPNOTSUPP, 0},   /* 5 source route failed: transient */
	{ENETUNREACH, 1},  /* 6 destination network unknown */
	{EHOSTDOWN, 1},    /* 7 destination host unknown */
	{ENONET, 1},       /* 8 source host isolated */
	{ENETUNREACH, 1},  /* 9 network administratively prohibited */
	{EHOSTUNREACH, 1}, /* 10 host administratively prohibited */
	{ENETUNREACH, 0},  /* 11 network unreachable for TOS */
	{EHOSTUNREACH, 0}, /* 12 host unreachable for TOS */
	{EHOSTUNREACH, 1}, /* 13 communication administratively prohibited */
	{EHOSTUNREACH, 1}, /* 14 host precedence violation */
	{EHOSTUNREACH, 1}, /* 15 precedence cutoff in effect */
};

/* The error an ICMP message means; false for messages that carry none for a socket (source
 * quench, redirect, and anything that is not an error). */
static bool udp_icmp_classify(uint8_t type, uint8_t code, struct udp_icmp_err *e)
{
	switch (type) {
	case ICMP_DEST_UNREACH:
		if (code < sizeof(udp_unreach_err) / sizeof(udp_unreach_err[0]))
			*e = udp_unreach_err[code];
		else
			*e = (struct udp_icmp_err){EHOSTUNREACH, 0};
		return true;
	case ICMP_TIME_EXCEEDED:
		*e = (struct udp_icmp_err){EHOSTUNREACH, 0};
		return true;
	case ICMP_PARAM_PROBLEM:
		*e = (struct udp_icmp_err){EPROTO, 1};
		return true;
	default:
		return false;
	}
}

int udp_icmp_error(struct udp_table *t, uint8_t type, uint8_t code, uint32_t rest,
		   const uint8_t *quoted, size_t quoted_len, struct udp_icmp_report *rep)
{
	struct ipv4_hdr ih;
	struct udp_hdr uh;
	struct udp_icmp_err e = {0, 0};
	struct udp_sock *s;
	const struct udp_sock_ext *x;
	unsigned ihl;
	int idx;

	memset(rep, 0, sizeof(*rep));
	t->stats.icmp_err_in++;
	if (!quoted || quoted_len < IPV4_HDR_MIN) {
		t->stats.icmp_err_bad++;
		return -EBADMSG;
	}
	memcpy(&ih, quoted, sizeof(ih));
	ihl = ipv4_hdr_len(&ih);
	if (ipv4_version(&ih) != 4 || ihl < IPV4_HDR_MIN || quoted_len < ihl + UDP_HDR_LEN ||
	    ih.proto != IPV4_PROTO_UDP) {
		t->stats.icmp_err_bad++;
		return -EBADMSG;
	}
	memcpy(&uh, quoted + ihl, sizeof(uh));
	idx = udp_lookup(t, ih.saddr, uh.sport, ih.daddr, uh.dport);
	if (idx < 0) {
		t->stats.icmp_err_no_sock++;
		return -ENOENT;
	}
	s = &t->sock[idx];
	x = &s->ext;
	if (!udp_icmp_classify(type, code, &e) ||
	    (type == ICMP_DEST_UNREACH && code == ICMP_UNREACH_NEEDFRAG &&
	     x->pmtudisc == IP_PMTUDISC_DONT) ||
	    (!(x->flags & UDP_EXT_F_RECVERR) && (!e.hard || !(s->flags & UDP_SOCK_F_CONNECTED)))) {
		t->stats.icmp_err_ignored++;
		return -ENOENT;
	}
	udp_txn_begin(t);
	udp_sock_w(t, (unsigned)idx)->pending_error = e.err;
	udp_txn_end(t);
	t->stats.icmp_err_reported++;
	rep->sid = udp_sid_make((unsigned)idx, s->gen);
	rep->err = e.err;
	rep->type = type;
	rep->code = code;
	rep->daddr = ih.daddr;
	rep->dport = uh.dport;
	rep->payload_off = ihl + UDP_HDR_LEN;
	/* The ee_info Linux's icmp_unreach hands udp_err: the next-hop MTU (RFC 1191), or the
	 * parameter problem's pointer (RFC 792). */
	if (type == ICMP_DEST_UNREACH && code == ICMP_UNREACH_NEEDFRAG)
		rep->info = ntohl(rest) & 0xffffu;
	else if (type == ICMP_PARAM_PROBLEM)
		rep->info = ntohl(rest) >> 24;
	if (x->flags & UDP_EXT_F_RECVERR) {
		rep->queue = true;
		t->stats.icmp_err_queued++;
	}
	return 0;
}

void udp_errq_dequeued(struct udp_table *t, uint32_t sid, uint8_t next_err)
{
	struct udp_sock *s = udp_sock_any(t, sid);

	if (!s || s->pending_error == next_err)
		return;
	udp_txn_begin(t);
	udp_sock_w(t, udp_sid_idx(sid))->pending_error = next_err;
	udp_txn_end(t);
}
