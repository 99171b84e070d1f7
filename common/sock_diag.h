/* sock_diag: one socket as `ustackctl sockets` shows it (Linux's inet_diag), filled by a
 * transport server from its table and sent as a SocketEntry (proto/ctl.proto) by
 * ctl_reply_add_sockets.
 *
 * Plain data, no protobuf: a pure core can fill it (tcp_diag_walk in servers/tcp), and the
 * shell adds what only it knows (which application owns the socket, queues in the application's
 * region). A SOCKETS request is answered a page at a time, at most SOCK_DIAG_PAGE entries from a
 * cursor that each server defines over its own table (a slot index: the walk is O(table) per
 * page, bounded, and a socket that opens or closes between pages may be missed or listed once
 * more, as with `ss` over netlink dumps).
 */
#ifndef USTACK_SOCK_DIAG_H
#define USTACK_SOCK_DIAG_H

#include <stdbool.h>
#include <stdint.h>

#define SOCK_DIAG_PAGE 128u

struct sock_diag_tcp {
	uint32_t rtt_us, rttvar_us, min_rtt_us, rto_us;
	uint32_t snd_mss, rcv_mss;
	uint32_t cwnd, ssthresh;          /* segments */
	uint32_t retransmits, total_retrans;
	uint32_t unacked, sacked, lost, retrans;
	uint64_t bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
	uint32_t snd_wnd, rcv_space;
	uint8_t snd_wscale, rcv_wscale, options, backoff;
	uint32_t pmtu;
	uint32_t last_data_sent_ms, last_data_recv_ms;
	const char *cc;                   /* static strings */
	const char *ca_state;
};

struct sock_diag {
	uint8_t protocol;                 /* IPPROTO_TCP, IPPROTO_UDP */
	bool has_tcp;                     /* tcp is filled (a TCP connection, not a listener) */
	bool owner_known;                 /* uid, pid filled by the shell */
	const char *state;                /* static string, ss(8)'s name */
	uint32_t id;                      /* cid / sid */
	uint32_t owner;                   /* the core's owner tag (the shell maps it to uid/pid);
					   * 0: none (orphaned, TIME-WAIT, not yet accepted) */
	uint32_t laddr, raddr;            /* network order */
	uint16_t lport, rport;            /* host order */
	uint32_t recv_q, send_q;
	uint32_t uid, pid;
	uint64_t drops;
	struct sock_diag_tcp tcp;
};

#endif
