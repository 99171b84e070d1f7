/* tcp_core: the pure TCP protocol core of ustack-tcpd (RFC 9293 and the RFCs each part cites).
 * No I/O, no clock reads, no file-scope mutable state; every call takes `now` (CLOCK_MONOTONIC
 * nanoseconds, clock.h) and reports what the shell must do in a struct tcp_io.
 *
 * What the core owns, and what it does not:
 *   - It owns every connection's state: the struct tcp_table below, plain data (indices and
 *     network-order numbers, never a pointer, fixed size, magic/version/size header), which the
 *     shell places WHOLE in its state segment so connections outlive a tcpd restart
 *     (docs/ARCHITECTURE.md, restart contract). Timers are absolute deadlines in it.
 *   - It never touches payload bytes. Both byte streams are the shell's (the application's
 *     region rings, one copy by the shell between them and pool buffers), addressed by sequence
 *     number:
 *       send stream:    the bytes [snd_una, write_seq) the application queued and the peer has
 *                       not acknowledged yet. The core emits segments as (seq, payload_len)
 *                       ranges of it (struct tcp_tx); the shell copies those bytes into the
 *                       segment. Bytes below snd_una are acknowledged: the shell frees them
 *                       (it compares snd_una with what it last saw).
 *       receive stream: a buffer of rcv_buf bytes starting at read_seq (what the application
 *                       has not read yet). tcp_input tells the shell to copy a segment's payload
 *                       to a sequence number inside [rcv_nxt, read_seq + rcv_buf) (struct
 *                       tcp_rx_place), in order or not: out-of-order data waits in the
 *                       buffer's free space and the core tracks which ranges hold data (the
 *                       assembler), so the out-of-order queue costs no extra memory and is
 *                       bounded by the window. Bytes [read_seq, rcv_nxt) are readable.
 *     Mapping a sequence number to a ring position is the shell's: position = seq - (irs + 1)
 *     (receive) or seq - (iss + 1) (send), modulo its ring size (a power of two).
 *   - Segments: the shell parses nothing above IP. It hands tcp_input the TCP header (contiguous,
 *     options included) and the segment's length, with the checksum already verified (by itself
 *     or by offload); the core validates everything else. For output the core fills headers and
 *     options; the shell builds the chain, copies payload, computes the checksum (or leaves it to
 *     offload) and splits nothing: a struct tcp_tx with gso_size != 0 is a TSO super-segment
 *     for the TAP to segment.
 *
 * Conventions (as udp_core):
 *   - addresses and ports in network byte order; sequence numbers, windows and lengths in host
 *     order; compare sequence numbers only with tcp_seq.h;
 *   - a connection or listener is named by a cid (slot index | generation << 16, never 0), so a
 *     stale or replayed request cannot reach a slot's next occupant;
 *   - every call that takes a cid also takes the caller's owner (the application's session, from
 *     the shell) and fails with -EBADF unless the slot is open and that owner's;
 *   - 0 or a negative Linux errno, so libsock hands it straight to the caller; a failed call has
 *     changed nothing;
 *   - behaviour follows Linux (net/ipv4/tcp*.c) unless a comment says why not. Every drop has a
 *     named counter (struct tcp_stats), every state change goes through one function
 *     (tcp_set_state, tcp_priv.h).
 *
 * Module map (one concern per file, tcp_priv.h declares what they share):
 *   tcp_table.c      table init/check/recover, slots, cids, the 4-tuple hash, lookup
 *   tcp_state.c      tcp_set_state, counters of state changes (CurrEstab, ...)
 *   tcp_user.c       the calls an application makes: socket/bind/listen/connect/accept/send/
 *                    recv window/shutdown/close/abort/options/info
 *   tcp_listen.c     listeners, SYN queue, accept queue, backlog, SYN cookies on overflow
 *   tcp_input.c      segment arrival (RFC 9293 §3.10.7), RFC 5961 checks, PAWS (RFC 7323 §5)
 *   tcp_output.c     what to send now: data (Nagle, SWS, TSO sizing, cwnd, rwnd), ACKs (delayed
 *                    ACK, SACK blocks), window updates, probes, FIN, RST
 *   tcp_timer.c      RTO, delayed ACK, persist, keepalive, TIME-WAIT, FIN-WAIT-2, user timeout
 *   tcp_icmp.c       ICMP errors (RFC 1122 §4.2.3.9, RFC 5927, PMTUD RFC 1191)
 *   tcp_options.c    option parsing and building (MSS, WS, SACK-permitted, SACK, timestamps)
 *   tcp_rtt.c        RTT estimation and RTO (RFC 6298)
 *   tcp_sack.c       the sender's SACK scoreboard, RFC 6675 pipe/NextSeg/IsLost, D-SACK
 *   tcp_recovery.c   duplicate ACKs, fast retransmit, NewReno (RFC 5681, 6582), RFC 6675 loss
 *                    recovery, RTO recovery
 *   tcp_rack.c       RACK-TLP (RFC 8985): time-based loss detection, the tail loss probe
 *   tcp_cc.c         congestion control ops table; tcp_cc_newreno.c, tcp_cc_cubic.c (RFC 9438)
 *   tcp_assembler.c  the receive buffer's out-of-order ranges, SACK/D-SACK blocks to send
 *   tcp_isn.c        initial sequence numbers (RFC 6528), timestamp offsets
 *   tcp_port.c       ephemeral ports (RFC 6056 §3.3.4, the double-hash algorithm)
 *   tcp_syncookie.c  SYN cookies (encode/validate, MSS table, options in the timestamp)
 *   tcp_stats.c      the counters' names
 *   tcp_diag.c       the table as `ss` lists it (tcpd's answer to `ustackctl sockets`)
 */
#ifndef USTACK_TCP_CORE_H
#define USTACK_TCP_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sock_diag.h"
#include "stats.h"
#include "wire/tcp.h"

#define TCP_CONNS_MAX 4096u         /* connection slots (any state but LISTEN) */
#define TCP_LISTENERS_MAX 256u      /* listener slots */
#define TCP_HASH_BUCKETS 4096u      /* 4-tuple hash (power of two) */
#define TCP_LHASH_BUCKETS 256u      /* local-port hash of listeners */
#define TCP_IDX_NONE 0xffffu        /* end of a chain / no slot */
#define TCP_TABLE_MAGIC 0x54435054u /* "TCPT" */
#define TCP_TABLE_VERSION 4u /* 2: per-connection buffer limits; 3: tail loss probes;
			      * 4: RACK's sent-range table */

#define TCP_SCOREBOARD_MAX 16u      /* SACKed ranges a sender remembers above snd_una */
#define TCP_OOO_MAX 16u             /* out-of-order ranges held in a receive buffer */
#define TCP_SACK_OUT_MAX 4u         /* SACK blocks remembered to send (3 fit with timestamps) */
#define TCP_RACK_SEGS_MAX 32u       /* sent ranges with their send time (RACK, tcp_rack.c) */

/* Defaults, Linux's unless said. */
/* Spelled as <netinet/tcp.h> spells it (536U) so that both headers may be included. */
#define TCP_MSS_DEFAULT 536U        /* RFC 9293 §3.7.1: when the peer sends no MSS option */
#define TCP_MSS_MIN 88u             /* Linux TCP_MIN_MSS: floor of TCP_MAXSEG and of PMTU */
#define TCP_RMEM_DEFAULT 131072u    /* net.ipv4.tcp_rmem[1] */
#define TCP_WMEM_DEFAULT 16384u     /* net.ipv4.tcp_wmem[1] */
#define TCP_RMEM_MAX (6u << 20)     /* net.ipv4.tcp_rmem[2] */
#define TCP_WMEM_MAX (4u << 20)     /* net.ipv4.tcp_wmem[2] */
#define TCP_TIMEWAIT_NS (60ull * 1000000000ull) /* Linux TCP_TIMEWAIT_LEN (2·MSL as practised) */
#define TCP_FIN_TIMEOUT_NS (60ull * 1000000000ull) /* net.ipv4.tcp_fin_timeout: orphaned FIN-WAIT-2 */
#define TCP_SYN_RETRIES 6u          /* net.ipv4.tcp_syn_retries */
#define TCP_SYNACK_RETRIES 5u       /* net.ipv4.tcp_synack_retries */
#define TCP_RETRIES2 15u            /* net.ipv4.tcp_retries2: give up on an established conn */
#define TCP_KEEPIDLE_S 7200u
#define TCP_KEEPINTVL_S 75u
#define TCP_KEEPCNT_DEFAULT 9u      /* (TCP_KEEPCNT is the option's name in <netinet/tcp.h>) */
#define TCP_DELACK_MAX_NS (200ull * 1000000ull) /* RFC 9293 §3.8.6.3: at most 500 ms; Linux 200 */
#define TCP_DELACK_MIN_NS (40ull * 1000000ull)  /* Linux TCP_DELACK_MIN */
#define TCP_RTO_INIT_NS (1000ull * 1000000ull)  /* RFC 6298 §2.1 */
#define TCP_RTO_MIN_NS (200ull * 1000000ull)    /* Linux TCP_RTO_MIN (RFC 6298 says 1 s) */
#define TCP_RTO_MAX_NS (120ull * 1000000000ull) /* Linux TCP_RTO_MAX */
#define TCP_CHALLENGE_ACK_LIMIT 1000u /* per second, per table (RFC 5961 §7, Linux's default) */

/* Ephemeral ports, host order: net.ipv4.ip_local_port_range. */
#define TCP_PORT_EPH_LO 32768u
#define TCP_PORT_EPH_HI 60999u
#define TCP_PORT_PERTURB_SIZE 65536u /* RFC 6056 §3.3.4 table length (power of two) */

enum tcp_state {
	TCP_STATE_CLOSED = 0,
	TCP_STATE_LISTEN,
	TCP_STATE_SYN_SENT,
	TCP_STATE_SYN_RECEIVED,
	TCP_STATE_ESTABLISHED,
	TCP_STATE_FIN_WAIT_1,
	TCP_STATE_FIN_WAIT_2,
	TCP_STATE_CLOSE_WAIT,
	TCP_STATE_CLOSING,
	TCP_STATE_LAST_ACK,
	TCP_STATE_TIME_WAIT,
	TCP_STATE_COUNT
};

/* Congestion control algorithms (TCP_CONGESTION names them "cubic", "reno"). */
enum tcp_cc_algo { TCP_CC_CUBIC = 0, TCP_CC_NEWRENO, TCP_CC_COUNT };

/* Loss-recovery state (Linux's tcp_ca_state; the tag differs so that <netinet/tcp.h>, which
 * declares Linux's, may be included too). */
enum tcp_recovery_state {
	TCP_CA_OPEN = 0,  /* nothing lost */
	TCP_CA_DISORDER,  /* duplicate ACKs / SACKs seen, below the threshold */
	TCP_CA_RECOVERY,  /* fast recovery (RFC 6582 / RFC 6675) until snd_una passes recover */
	TCP_CA_LOSS,      /* after an RTO, until snd_una passes recover */
	TCP_CA_STATE_COUNT
};

/* struct tcp_conn.flags */
#define TCP_F_NODELAY 0x00000001u     /* TCP_NODELAY: no Nagle */
#define TCP_F_KEEPALIVE 0x00000002u   /* SO_KEEPALIVE */
#define TCP_F_REUSEADDR 0x00000004u   /* SO_REUSEADDR */
#define TCP_F_CORK 0x00000008u        /* TCP_CORK */
#define TCP_F_WS_OK 0x00000010u       /* window scaling negotiated (RFC 7323 §2.2) */
#define TCP_F_TS_OK 0x00000020u       /* timestamps negotiated (RFC 7323 §3.2) */
#define TCP_F_SACK_OK 0x00000040u     /* SACK-permitted exchanged (RFC 2018 §2) */
#define TCP_F_BOUND 0x00000080u       /* has a local port */
#define TCP_F_BINDADDR_LOCK 0x0100u   /* laddr chosen by bind() */
#define TCP_F_BINDPORT_LOCK 0x0200u   /* lport chosen by bind() */
#define TCP_F_SHUT_RD 0x00000400u     /* shutdown(SHUT_RD) */
#define TCP_F_SHUT_WR 0x00000800u     /* shutdown(SHUT_WR) or close: FIN after write_seq */
#define TCP_F_FIN_SENT 0x00001000u    /* our FIN has been sent (occupies seq write_seq) */
#define TCP_F_FIN_RCVD 0x00002000u    /* the peer's FIN was accepted in order (EOF) */
#define TCP_F_ORPHAN 0x00004000u      /* closed by its application: the core finishes it alone */
#define TCP_F_ACK_NOW 0x00008000u     /* send an ACK at the next output, no delay */
#define TCP_F_PINGPONG 0x00010000u    /* TCP_QUICKACK 0: every ACK waits for the delayed-ACK
				       * timer or data, even in quick-ACK mode (Linux pingpong) */
#define TCP_F_WND_UPDATE 0x00020000u  /* a window update is owed */
#define TCP_F_IN_ACCEPTQ 0x00040000u  /* established, waiting in its listener's accept queue */
#define TCP_F_COOKIE 0x00080000u      /* established from a SYN cookie */
#define TCP_F_LINGER 0x00100000u      /* SO_LINGER on (linger_s valid) */
#define TCP_F_DEFER_OUTPUT 0x00200000u /* tcp_io was full: output owed at the next chance */
#define TCP_F_RECOVER_VALID 0x00400000u /* `recover` holds a value (RFC 6582) */
#define TCP_F_RTX_HEAD 0x00800000u    /* retransmit the segment at snd_una at the next output,
					* outside cwnd (fast retransmit, NewReno partial ACK:
					* tcp_priv.h, tcp_recovery_send_allowance) */
#define TCP_F_MORE 0x01000000u        /* the last send had MSG_MORE: hold a partial segment */
#define TCP_F_CONNECT_PORT 0x02000000u /* lport came from connect()'s autobind: shareable by
					* other connects to other peers (Linux fastreuse < 0) */
#define TCP_F_FIN_OOO 0x04000000u     /* the peer's FIN arrived out of order at rcv_fin_seq */
#define TCP_F_RCVBUF_LOCK 0x08000000u /* SO_RCVBUF set: the window scale follows it (Linux) */
#define TCP_F_SNDBUF_LOCK 0x10000000u /* SO_SNDBUF set */
#define TCP_F_CONNECTED_ONCE 0x20000000u /* was established: connect() again is -EISCONN */
#define TCP_F_ACKED 0x40000000u       /* a child whose handshake ACK found the accept queue
				       * full: promoted as soon as accept() makes room (Linux
				       * inet_rsk(req)->acked) */
#define TCP_F_MASK 0x7fffffffu

/* struct tcp_conn.tlp_flags */
#define TCP_TLP_OUT 0x01u             /* a probe is outstanding until snd_una >= tlp_high_seq */
#define TCP_TLP_RETRANS 0x02u         /* ... and it was a retransmission (not new data) */

/* Events for the application (struct tcp_conn.events; the shell wakes waiters and clears). */
#define TCP_EV_READABLE 0x01u   /* data or EOF to read, or an error */
#define TCP_EV_WRITABLE 0x02u   /* send space freed */
#define TCP_EV_CONNECTED 0x04u  /* an active open completed */
#define TCP_EV_ACCEPT 0x08u     /* a listener's accept queue got a connection */
#define TCP_EV_ERROR 0x10u      /* pending_error set (reset, timeout, refused, ICMP) */
#define TCP_EV_HUP 0x20u        /* both directions closed (POLLHUP) */
#define TCP_EV_RDHUP 0x40u      /* the peer's FIN arrived (POLLRDHUP) */
#define TCP_EV_FREED 0x80u      /* the slot was released (orphan done, reset, close, a child
				 * that never completed): the shell frees its streams */

/* A range of sequence numbers [start, end). */
struct tcp_range {
	uint32_t start;
	uint32_t end;
};

/* RTT estimator (tcp_rtt.c, RFC 6298), microseconds. */
struct tcp_rtt {
	uint32_t srtt_us;        /* 0 until the first sample */
	uint32_t rttvar_us;
	uint32_t rto_us;         /* current RTO before backoff */
	uint32_t min_rtt_us;     /* smallest sample seen (CUBIC's delay, TCP_INFO) */
	uint32_t timed_seq;      /* Karn: the segment being timed (no timestamps) */
	uint8_t timing;          /* a segment is being timed */
	uint8_t backoff;         /* exponential backoff shift (RFC 6298 §5.5) */
	uint16_t reserved;
	uint64_t timed_at;       /* when timed_seq was sent, ns */
};

/* The sender's SACK scoreboard (tcp_sack.c): ranges above snd_una the peer reported, sorted,
 * disjoint, merged; plus RFC 6675's pointers. */
struct tcp_scoreboard {
	struct tcp_range sacked[TCP_SCOREBOARD_MAX];
	uint8_t n;
	uint8_t reserved[3];
	uint32_t high_sacked;    /* highest SACKed sequence + 1 (valid when n > 0) */
	uint32_t high_rxt;       /* RFC 6675 HighRxt */
	uint32_t rescue_rxt;     /* RFC 6675 RescueRxt */
	uint32_t sacked_bytes;   /* sum of the ranges */
	uint32_t dsack_seen;     /* D-SACKs received (RFC 2883, tolerated) */
};

/* RACK (RFC 8985 §6, tcp_rack.c): what was sent when. seg[] holds [snd_una, snd_max) as
 * contiguous ranges sorted by sequence with when they were sent; `valid` is 0 when they do
 * not cover it (the table overflowed, or a torn record): loss detection is then RFC 6675's
 * until the flight drains. Times are the low 32 bits of the clock in µs (wrap-safe
 * differences: a segment is never outstanding for 35 minutes). */
#define TCP_RACK_SEG_RETRANS 0x01u /* the range was retransmitted */
#define TCP_RACK_SEG_LOST 0x02u    /* marked lost, not retransmitted since */
#define TCP_RACK_SEG_SACKED 0x04u  /* some of it was seen SACKed */
struct tcp_rack_seg {
	uint32_t end;            /* it starts where the previous one ends (seg[0]: snd_una) */
	uint32_t first_us;       /* its earliest and latest send: coalesced ranges span time */
	uint32_t last_us;
	uint8_t flags;           /* TCP_RACK_SEG_* */
	uint8_t reserved[3];
};
struct tcp_rack {
	struct tcp_rack_seg seg[TCP_RACK_SEGS_MAX];
	uint8_t n;
	uint8_t valid;
	uint8_t have_xmit;       /* xmit_us/end_seq/rtt_us hold RACK.xmit_ts/end_seq/rtt */
	uint8_t reordering_seen; /* RACK.reordering_seen */
	uint8_t reo_wnd_mult;    /* RACK.reo_wnd_mult (>= 1) */
	uint8_t reo_wnd_persist; /* RACK.reo_wnd_persist */
	uint8_t dsack_round_on;  /* dsack_round holds RACK.dsack_round */
	uint8_t reserved;
	uint32_t xmit_us;        /* RACK.xmit_ts */
	uint32_t end_seq;        /* RACK.end_seq */
	uint32_t rtt_us;         /* RACK.rtt */
	uint32_t fack;           /* RACK.fack: highest end delivered */
	uint32_t dsack_round;
	uint32_t reserved2;
};

/* Congestion control state: the algorithm's own fields live in priv (tcp_cc_*.c define their
 * layout with a _Static_assert that it fits). */
struct tcp_cc {
	uint32_t cwnd;           /* bytes */
	uint32_t ssthresh;       /* bytes */
	uint32_t prior_cwnd;     /* at the start of recovery, for undo */
	uint32_t bytes_acked;    /* RFC 3465 appropriate byte counting in congestion avoidance */
	uint32_t recover;        /* RFC 6582 `recover`: snd_max when recovery began */
	uint8_t algo;            /* enum tcp_cc_algo */
	uint8_t ca_state;        /* enum tcp_ca_state */
	uint8_t dupacks;         /* consecutive duplicate ACKs (RFC 5681 §2) */
	uint8_t loss_rtos;       /* RTOs since snd_una last advanced: a repeated timeout keeps
				  * ssthresh (RFC 5681 §3.1, eq. 4 note) */
	uint32_t priv[12];
};

/* The receive buffer's out-of-order ranges (tcp_assembler.c) and the SACK blocks to send. */
struct tcp_assembler {
	struct tcp_range ooo[TCP_OOO_MAX];  /* placed above rcv_nxt, sorted, disjoint */
	uint8_t n;
	uint8_t n_sack_out;
	uint8_t dsack;                      /* sack_out[0] is a D-SACK block (RFC 2883) */
	uint8_t reserved;
	uint32_t ooo_bytes;
	struct tcp_range sack_out[TCP_SACK_OUT_MAX]; /* most recent first (RFC 2018 §4) */
};

/* One connection: plain shared data. Read-only outside the core (the shell reads any field,
 * for `ss` and TCP_INFO; it changes them only through the calls below). */
struct tcp_conn {
	/* identity */
	uint8_t in_use;          /* 0 free, 1 open */
	uint8_t state;           /* enum tcp_state */
	uint16_t gen;            /* bumped at every open: the cid's high half */
	uint32_t owner;          /* application session (0 while only the core holds it) */
	uint32_t flags;          /* TCP_F_* */
	uint32_t laddr;          /* network order; 0 = INADDR_ANY while unbound/unconnected */
	uint32_t raddr;
	uint16_t lport;
	uint16_t rport;
	uint16_t hnext;          /* 4-tuple hash chain (rebuilt at recovery) */
	uint16_t bnext;          /* local-port (bind) hash chain of bound conns (rebuilt) */
	uint16_t parent;         /* listener slot while in its SYN or accept queue, else NONE */
	uint16_t qnext;          /* next in that queue */
	uint16_t qprev;          /* previous in that queue (O(1) removal under a SYN flood) */
	uint8_t events;          /* TCP_EV_* not yet taken by the shell */
	uint8_t ev_queued;       /* listed in a tcp_io.ev and not yet taken */
	uint16_t pending_error;  /* positive errno, reported once (SO_ERROR, Linux sk_err) */
	uint16_t soft_error;     /* ICMP soft error, reported only on timeout (Linux sk_err_soft) */
	uint16_t linger_s;       /* SO_LINGER seconds */
	uint16_t reserved0[3];
	/* send sequence space (RFC 9293 §3.3.1) */
	uint32_t iss;
	uint32_t snd_una;
	uint32_t snd_nxt;        /* next new or retransmitted byte to send */
	uint32_t snd_max;        /* highest sequence sent + 1 */
	uint32_t snd_wnd;        /* peer's window, bytes (scaled) */
	uint32_t snd_wl1;
	uint32_t snd_wl2;
	uint32_t snd_up;         /* urgent pointer we send (MSG_OOB data is sent inline) */
	uint32_t write_seq;      /* end of the send stream: the application queued up to here */
	uint32_t max_window;     /* largest window the peer offered (SWS, RFC 9293 §3.8.6.2.1) */
	uint32_t snd_buf;        /* the send stream holds at most this many bytes: SO_SNDBUF, or
				  * grown with cwnd (tcp_send_space) */
	uint32_t snd_sml;        /* end of the last small segment sent (Nagle, Minshall's rule) */
	/* receive sequence space */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv;        /* right edge we advertised: never moved left (RFC 9293 §3.8.6.2.2) */
	uint32_t rcv_up;         /* urgent pointer received (delivered inline) */
	uint32_t read_seq;       /* the application has read up to here */
	uint32_t rcv_buf;        /* size of the receive buffer: SO_RCVBUF, or grown by right-sizing
				  * (tcp_recvd) */
	uint32_t rcv_wup;        /* rcv_nxt when the last ACK was sent (RFC 7323 Last.ACK.sent) */
	uint32_t rcv_fin_seq;    /* sequence of an out-of-order FIN (TCP_F_FIN_OOO) */
	uint32_t rcvq_space;     /* receive autotuning (Linux DRS): bytes read in the last RTT, */
	uint32_t rcvq_seq;       /* read_seq when that measure began, */
	uint64_t rcvq_at;        /* and when, ns */
	uint32_t rcv_rtt_us;     /* the receiver's RTT estimate (timestamps echoed on data) */
	uint32_t reserved3;
	/* negotiated options and sizes */
	uint16_t mss_clamp;      /* TCP_MAXSEG, or 0: the largest MSS we use and advertise */
	uint16_t snd_mss;        /* effective send MSS (RFC 9293 §3.7.1, minus options) */
	uint16_t rcv_mss;        /* estimate of the peer's segment size (delayed ACK, SWS) */
	uint16_t peer_mss;       /* the MSS option the peer sent (TCP_MSS_DEFAULT if none) */
	uint16_t pmtu;           /* path MTU (RFC 1191), the interface MTU until told otherwise */
	uint8_t snd_wscale;      /* shift applied to the peer's windows */
	uint8_t rcv_wscale;      /* shift applied to ours */
	uint16_t adv_mss;        /* the MSS we advertised (mtu - 40, clamped by mss_clamp) */
	uint8_t quick_acks;      /* ACKs still to send at once (Linux quickack mode) */
	uint8_t reserved2;
	uint32_t ts_recent;      /* RFC 7323 TS.Recent */
	uint32_t ts_offset;      /* added to our clock in TSval (tcp_isn.c) */
	uint64_t ts_recent_at;   /* when ts_recent was set, ns (PAWS's 24-day rule) */
	/* algorithms */
	struct tcp_rtt rtt;
	struct tcp_cc cc;
	struct tcp_scoreboard sb;
	struct tcp_assembler asm_;
	/* timers: absolute deadlines in ns, 0 = not armed */
	uint64_t t_rtx;          /* retransmission (SYN, SYN-ACK, data, FIN) */
	uint64_t t_delack;       /* delayed ACK */
	uint64_t t_persist;      /* zero-window probe */
	uint64_t t_keepalive;    /* keepalive probe */
	uint64_t t_close;        /* TIME-WAIT end, orphaned FIN-WAIT-2 end, linger end */
	uint64_t rtx_since;      /* first transmission of the oldest unacknowledged data, for
				  * TCP_USER_TIMEOUT and retries2; 0 when nothing is outstanding */
	uint64_t last_rcv_at;    /* last segment received (keepalive idle time) */
	uint64_t last_snd_at;    /* last data sent (restart after idle, RFC 5681 §4.1) */
	uint64_t probe_since;    /* first unanswered zero-window probe (TCP_USER_TIMEOUT), 0 none */
	uint64_t oow_ack_at;     /* last ACK answering an out-of-window pure ACK or SYN (Linux
				  * tcp_oow_rate_limited: at most one per 500 ms, no ACK loops) */
	uint32_t user_timeout_ms; /* TCP_USER_TIMEOUT, 0 = retries-based */
	uint16_t keep_idle_s;
	uint16_t keep_intvl_s;
	uint8_t keep_cnt;
	uint8_t keep_probes;     /* unanswered keepalives sent */
	uint8_t rtx_count;       /* consecutive retransmission timeouts */
	uint8_t syn_retries;     /* TCP_SYNCNT, 0 = TCP_SYN_RETRIES */
	/* per-connection counters (TCP_INFO, ss -i) */
	uint32_t total_retrans;  /* segments retransmitted over the connection's life */
	uint32_t lost_out;       /* segments considered lost now */
	uint32_t retrans_out;    /* retransmitted segments not yet acknowledged */
	uint64_t bytes_acked;
	uint64_t bytes_received;
	uint64_t segs_in;
	uint64_t segs_out;
	uint64_t opened_at;      /* ns */
	/* Where the shell's streams end (tcp_set_buf_max): rcv_buf and snd_buf never grow past
	 * these, whatever autotuning or SO_RCVBUF/SO_SNDBUF ask; 0 = TCP_RMEM_MAX/TCP_WMEM_MAX. */
	uint32_t rcv_buf_max;
	uint32_t snd_buf_max;
	/* Tail loss probe (RFC 8985 §7, tcp_rack.c). */
	uint64_t t_tlp;          /* probe timeout (PTO) deadline, 0 = not armed */
	uint32_t tlp_high_seq;   /* snd_max when the outstanding probe went out (TCP_TLP_OUT) */
	uint8_t tlp_flags;       /* TCP_TLP_* */
	uint8_t reserved4[3];
	/* RACK (RFC 8985 §6, tcp_rack.c) */
	uint64_t t_reo;          /* reordering timer: a segment's reordering window ends */
	struct tcp_rack rack;
	/* undo of a spurious fast recovery (tcp_recovery.c, Linux tcp_try_undo_dsack) */
	uint32_t undo_marker;    /* snd_una when the recovery began (with undo_on) */
	uint32_t undo_ssthresh;  /* ssthresh before it */
	uint16_t undo_retrans;   /* its retransmissions not yet D-SACKed */
	uint8_t undo_on;
	uint8_t reserved5[1];
	/* TCP_INFO's tcpi_total_rto and tcpi_total_rto_recoveries (Linux 6.7): every
	 * retransmission timeout, SYN and SYN-ACK included, and those that began a recovery (not
	 * a second timeout of one). 16 bits and wrapping, as Linux's. */
	uint16_t total_rto;
	uint16_t total_rto_recoveries;
};
_Static_assert(sizeof(struct tcp_conn) == 776 + 8 + 32 * 16 + 32 + 16, "tcp_conn is shared state: its size is ABI");

/* One listener. Options set on the socket before listen() are kept here and inherited by
 * every connection it accepts (Linux children inherit the listener's options). */
struct tcp_listener {
	uint8_t in_use;
	uint8_t events;          /* TCP_EV_ACCEPT not yet taken by the shell */
	uint16_t gen;
	uint32_t owner;
	uint32_t flags;          /* TCP_F_REUSEADDR, TCP_F_NODELAY, ... inherited by children */
	uint32_t laddr;
	uint16_t lport;
	uint16_t hnext;          /* local-port hash chain */
	uint16_t backlog;        /* accept-queue limit (listen()'s argument, capped) */
	uint16_t syn_n;          /* connections in SYN-RECEIVED with this parent */
	uint16_t acc_n;          /* established, not yet accepted */
	uint16_t acc_head;       /* accept queue (conn slots, FIFO via qnext/qprev) */
	uint16_t acc_tail;
	uint16_t syn_head;       /* SYN queue (conn slots via qnext/qprev) */
	uint32_t rcv_buf;        /* inherited by children (SO_RCVBUF set before listen) */
	uint32_t snd_buf;
	uint16_t mss_clamp;
	uint8_t ev_queued;       /* listed in a tcp_io.ev and not yet taken */
	uint8_t cc_algo;         /* TCP_CONGESTION, inherited */
	uint32_t user_timeout_ms;
	uint16_t keep_idle_s;
	uint16_t keep_intvl_s;
	uint8_t keep_cnt;
	uint8_t reserved0;
	uint16_t linger_s;
	uint64_t overflow_at;    /* last SYN-queue overflow, ns: cookie ACKs are checked for 2
				  * minutes after it (Linux tcp_synq_no_recent_overflow) */
	uint64_t cookies_sent;   /* per listener, for `ss` */
	uint64_t overflows;      /* ListenOverflows attributable to it */
	uint32_t rcv_buf_max;    /* inherited by children (tcp_set_buf_max) */
	uint32_t snd_buf_max;
};
_Static_assert(sizeof(struct tcp_listener) == 88, "tcp_listener is shared state: size is ABI");

/* Counters: the Linux `Tcp:` line of /proc/net/snmp, then `TcpExt:` ones, then our own. */
struct tcp_stats {
	/* Tcp: */
	uint64_t active_opens;
	uint64_t passive_opens;
	uint64_t attempt_fails;
	uint64_t estab_resets;
	uint64_t curr_estab;      /* a gauge: ESTABLISHED + CLOSE_WAIT now */
	uint64_t in_segs;
	uint64_t out_segs;
	uint64_t retrans_segs;
	uint64_t in_errs;
	uint64_t out_rsts;
	uint64_t in_csum_errors;
	/* TcpExt: */
	uint64_t syncookies_sent;
	uint64_t syncookies_recv;
	uint64_t syncookies_failed;
	uint64_t embryonic_rsts;
	uint64_t listen_overflows;
	uint64_t listen_drops;
	uint64_t acceptq_promoted; /* ACKED children given accept()'s room (no Linux twin) */
	uint64_t paws_estab_rejected;
	uint64_t delayed_acks;
	uint64_t tcp_challenge_ack;
	uint64_t tcp_syn_challenge;
	uint64_t tcp_fast_retrans;
	uint64_t tcp_slow_start_retrans;
	uint64_t tcp_timeouts;
	uint64_t tcp_loss_probes;
	uint64_t tcp_loss_probe_recovery; /* a probe's retransmission repaired a tail loss */
	uint64_t tcp_rack_overflow; /* a flight outgrew RACK's table: RFC 6675 decided for it */
	uint64_t tcp_dsack_undo;   /* a recovery found spurious by D-SACKs: cwnd restored */
	uint64_t tcp_sack_recovery;
	uint64_t tcp_reno_recovery;
	uint64_t tcp_dsack_recv;
	uint64_t tcp_dsack_sent;
	uint64_t tcp_ofo_queue;    /* segments placed out of order */
	uint64_t tcp_ofo_drop;     /* out-of-order segments dropped (no range left) */
	uint64_t tcp_rcv_q_drop;   /* in-window data dropped: receive buffer full */
	uint64_t tcp_zero_window_drop;
	uint64_t tcp_abort_on_data;
	uint64_t tcp_abort_on_close;
	uint64_t tcp_abort_on_timeout;
	uint64_t tcp_abort_on_linger;
	uint64_t tcp_time_wait_recycled; /* a SYN reopened a TIME-WAIT 4-tuple (RFC 6191) */
	uint64_t tw_killed_rst_ignored;  /* RST in TIME-WAIT ignored (RFC 1337) */
	uint64_t tcp_keep_alive_probes;
	uint64_t tcp_win_probe;
	uint64_t tcp_pmtu_updates;
	uint64_t tcp_time_wait_overflow; /* a TIME-WAIT slot taken for a new conn: table full */
	uint64_t tcp_syn_retrans;  /* SYN and SYN-ACK retransmissions (also in retrans_segs) */
	uint64_t tcp_ack_skipped;  /* dup ACKs not sent: out-of-window ACK/SYN rate limit (Linux
				    * TCPACKSkippedSeq, ...PAWS, ...TimeWait) */
	/* ours: every other drop, named */
	uint64_t in_drop_short;        /* shorter than a TCP header or its data offset */
	uint64_t in_drop_bad_offset;   /* data offset < 5 or past the segment */
	uint64_t in_drop_bad_options;  /* malformed option list (counted, segment dropped) */
	uint64_t in_drop_bad_flags;    /* SYN+FIN, SYN+RST, no ACK where required, ... */
	uint64_t in_drop_bcast;        /* to or from a broadcast/multicast address */
	uint64_t in_drop_no_conn;      /* nobody has the 4-tuple: answered with RST */
	uint64_t in_drop_bad_seq;      /* unacceptable segment (RFC 9293 §3.10.7.4 first check) */
	uint64_t in_drop_bad_ack;      /* ACK of data never sent */
	uint64_t in_drop_old_ack;      /* ACK below snd_una (RFC 5961 §5.2) */
	uint64_t in_drop_rst_bad_seq;  /* RST outside the window (or unacceptable in SYN-SENT) */
	uint64_t in_drop_rst_no_conn;  /* RST for no connection, or to a listener: ignored */
	uint64_t in_drop_data_after_fin; /* text after the peer's FIN (CLOSE-WAIT, ...): ignored */
	uint64_t in_drop_time_wait;    /* TIME-WAIT: answered with an ACK or discarded */
	uint64_t challenge_ack_limited; /* a challenge ACK not sent: RFC 5961 §7 rate limit */
	uint64_t in_drop_syn_queue_full; /* SYN dropped: SYN queue full and cookies refused it
					  * (never: cookies answer every overflow) */
	uint64_t in_drop_acceptq_full; /* handshake completion dropped: accept queue full */
	uint64_t io_full;              /* output deferred because tcp_io had no room */
	uint64_t icmp_in;              /* tcp_icmp_error calls */
	uint64_t icmp_bad;             /* quote malformed */
	uint64_t icmp_no_conn;
	uint64_t icmp_out_of_window;   /* quoted sequence not in [snd_una, snd_max) (RFC 5927) */
	uint64_t icmp_soft;            /* recorded as soft error */
	uint64_t icmp_hard;            /* aborted a connection in SYN-SENT (or as RFC 1122 says) */
	uint64_t icmp_ignored;         /* source quench, unknown type/code, TIME-WAIT */
	uint64_t restored_conns;       /* found by tcp_table_recover */
	uint64_t dropped_torn;         /* records torn by a kill mid-update, dropped at recovery */
	uint64_t shell_aborts;         /* connections reset because the shell lost their streams
					* (tcp_abort) */
};

extern const struct stat_field tcp_stat_fields[];
extern const unsigned tcp_stat_field_count;

/* Our host as the shell knows it from config: what bind accepts, the MSS we advertise. */
struct tcp_host {
	uint32_t addr;           /* network order */
	uint8_t prefix_len;
	uint8_t tso;             /* the device segments for us: emit super-segments */
	uint16_t mtu;            /* interface MTU: our MSS = mtu - 40 */
	uint32_t tso_max;        /* largest super-segment payload (<= 65535 - 40) */
};

/* The whole table: what the shell maps as its state segment. */
struct tcp_table {
	uint32_t magic;          /* TCP_TABLE_MAGIC */
	uint32_t version;        /* TCP_TABLE_VERSION */
	uint32_t size;           /* sizeof(struct tcp_table) */
	uint32_t conns_max;      /* TCP_CONNS_MAX */
	uint16_t port_lo;        /* ephemeral range, host order, inclusive */
	uint16_t port_hi;
	uint32_t challenge_acks; /* budget left in the current second + 1, 0 = not set (RFC 5961
				  * §7, randomised per second as Linux: tcp_output.c) */
	uint64_t challenge_epoch; /* that second, ns / 1e9 */
	uint8_t secret[32];      /* keys: ISN (RFC 6528), port choice (RFC 6056), cookies */
	uint32_t cookie_epoch;   /* unused (SYN cookies count 64 s periods of CLOCK_MONOTONIC) */
	/* RFC 6056 §3.3.4 (Algorithm 4) table (tcp_port.c). 2^16 entries as Linux since
	 * CVE-2022-1012: a small table lets a remote observer find index collisions and track
	 * a host by them. */
	uint32_t port_table_perturb[TCP_PORT_PERTURB_SIZE];
	uint32_t n_deferred;     /* connections with TCP_F_DEFER_OUTPUT (0: nothing to scan) */
	struct tcp_host host;
	uint16_t free_head;      /* free conn slots, FIFO through qnext (rebuilt at recovery): a */
	uint16_t free_tail;      /* freed slot is reused last, so its cid's events are taken first */
	uint64_t next_deadline;  /* <= every armed timer (may be early, never late): the cache
				  * tcp_next_deadline answers from; CLOCK_NEVER when none */
	struct tcp_stats stats;
	uint16_t hash[TCP_HASH_BUCKETS];    /* 4-tuple chains (rebuilt at recovery) */
	uint16_t bhash[TCP_HASH_BUCKETS];   /* bound conns by local port (rebuilt) */
	uint16_t lhash[TCP_LHASH_BUCKETS];  /* listener chains by local port (rebuilt) */
	uint64_t deadline[TCP_CONNS_MAX];   /* per slot: <= its earliest timer, CLOCK_NEVER when
					     * none (rebuilt): tcp_timers scans 32 KiB, not the
					     * connections, to find what is due */
	struct tcp_listener lis[TCP_LISTENERS_MAX];
	struct tcp_conn conn[TCP_CONNS_MAX];
};
_Static_assert(sizeof(struct tcp_stats) % 8 == 0 && offsetof(struct tcp_table, stats) % 8 == 0 &&
		       offsetof(struct tcp_table, deadline) % 8 == 0 &&
		       offsetof(struct tcp_table, conn) % 8 == 0,
	       "tcp_table: 64-bit fields stay aligned");
_Static_assert(sizeof(struct tcp_table) ==
		       offsetof(struct tcp_table, conn) + TCP_CONNS_MAX * sizeof(struct tcp_conn),
	       "tcp_table is shared state: no hidden padding at its end");

/* --- what the shell does after a call ---------------------------------------------------- */

/* One segment to send: the shell builds IPv4 + TCP headers from these fields, appends
 * payload_len bytes of the connection's send stream starting at seq (seq + 1 when the segment
 * carries SYN: the SYN takes the first sequence number), fills the checksum (or lets offload
 * do it) and hands it to ipd. gso_size != 0 marks a TSO super-segment: payload_len may be up to
 * host.tso_max, to be cut into gso_size-byte segments by the device (the header's PSH/FIN go
 * on the last one, as the kernel's TSO does). */
struct tcp_tx {
	uint32_t cid;            /* the connection, or 0 for a reply no connection owns (RST,
				  * cookie SYN-ACK): then nothing is read from a send stream */
	uint32_t saddr;
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint16_t wnd;            /* as on the wire (already shifted right by rcv_wscale) */
	uint16_t urp;
	uint8_t flags;           /* TCP_FIN ... */
	uint8_t opt_len;         /* multiple of 4, <= TCP_OPT_SPACE */
	uint16_t gso_size;
	uint32_t payload_len;
	uint8_t tos;
	uint8_t reserved[3];
	uint8_t opt[TCP_OPT_SPACE];
};

/* Copy payload bytes [seg_off, seg_off + len) of the segment just given to tcp_input (offset
 * from the end of the TCP header) into cid's receive stream at sequence stream_seq. */
struct tcp_rx_place {
	uint32_t cid;
	uint32_t seg_off;
	uint32_t len;
	uint32_t stream_seq;
};

/* The shell's side of every call that may send or signal: arrays it owns, sized by it. The
 * core appends; when tx is full it stops, marks the connection TCP_F_DEFER_OUTPUT and counts
 * io_full, and the shell calls tcp_output_deferred after flushing (nothing is lost: segments
 * are rebuilt from sequence state; a reply no connection owns, a RST or a cookie SYN-ACK, is
 * dropped as a full NIC ring drops, and the peer repeats). ev lists each cid whose events
 * changed, once until the shell takes them (tcp_take_events after every call; a full ev is
 * listed again by tcp_output_deferred). Cids appear that no application holds yet: a child
 * before accept() receives data (place) and events like any connection, and its streams are
 * the shell's to keep until accept() or TCP_EV_FREED. */
struct tcp_io {
	struct tcp_tx *tx;
	unsigned tx_max;
	unsigned n_tx;
	uint32_t *ev;
	unsigned ev_max;
	unsigned n_ev;
	struct tcp_rx_place place; /* tcp_input only: place.len == 0 when nothing to copy */
};

/* --- the table (tcp_table.c) -------------------------------------------------------------- */

/* Make t an empty table; seed (32 random bytes from the shell) keys ISNs, ports and cookies. */
void tcp_table_init(struct tcp_table *t, const uint8_t seed[32], const struct tcp_host *host);

/* Validate a table found in an existing segment: 0, -EPROTO (magic/version), -EINVAL (size,
 * geometry). Reads only: safe on garbage. */
int tcp_table_check(const struct tcp_table *t);

/* Take over a table a previous tcpd left (after tcp_table_check): validate every record on its
 * own (a record that fails is dropped and counted in dropped_torn, a listener's with its
 * children; its peer learns by RST the next time it sends), rebuild the hashes, the free list,
 * the queues (the accept queue keeps its order) and their counts, the deadline cache and the
 * CurrEstab gauge; keep everything else: connections, listeners, timers (absolute deadlines),
 * counters. Events not yet taken are announced again by the next tcp_output_deferred, which
 * also sends output a full tcp_io left owed: call it once after recovering. Returns the number
 * of live connections. */
unsigned tcp_table_recover(struct tcp_table *t, uint64_t now);

/* The host changed (config reload): MSS of new connections, TSO. */
void tcp_set_host(struct tcp_table *t, const struct tcp_host *host);

/* Ephemeral range (host order, inclusive). 0 or -EINVAL. */
int tcp_set_port_range(struct tcp_table *t, uint16_t lo, uint16_t hi);

/* The connection or listener cid if open and owner's, else NULL. */
const struct tcp_conn *tcp_conn_get(const struct tcp_table *t, uint32_t owner, uint32_t cid);
const struct tcp_listener *tcp_listener_get(const struct tcp_table *t, uint32_t owner,
					    uint32_t cid);
/* cid of slot idx if in use, else 0: to walk the table for `ss`. Listener cids have
 * TCP_CID_LISTENER set. */
#define TCP_CID_LISTENER 0x8000u /* in the slot half: listeners and connections never clash */
uint32_t tcp_conn_cid(const struct tcp_table *t, unsigned idx);
uint32_t tcp_listener_cid(const struct tcp_table *t, unsigned idx);

/* The slot the next connection (socket(), a SYN: in a full table, the TIME-WAIT orphan it
 * would take) or listener (listen()) will be opened in, or TCP_IDX_NONE: so a caller can save its image before
 * a call that may open one (tcpd's request transactions, tcpd_store.h). Reads only. */
unsigned tcp_conn_next_free(const struct tcp_table *t);
unsigned tcp_listener_next_free(const struct tcp_table *t);

/* The connection a segment from raddr:rport to laddr:lport belongs to (its exact 4-tuple; a
 * listener's SYN is no connection's): its cid, or 0. Network order. Reads only: the shell asks
 * before tcp_input whether it can take the segment's payload (the connection's streams are
 * reachable), and drops it, as a full ring drops, when it cannot. */
uint32_t tcp_lookup(const struct tcp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
		    uint16_t rport);

/* Take and clear the events of cid (any owner: the shell routes them). The shell calls it for
 * every cid a call listed in io->ev. A cid whose connection no longer exists (its slot freed,
 * possibly reused already) yields TCP_EV_FREED. */
uint8_t tcp_take_events(struct tcp_table *t, uint32_t cid);

/* --- the application's calls (tcp_user.c, tcp_listen.c) ---------------------------------- */

/* socket(): a CLOSED, unbound connection slot for owner. 0 or -EINVAL/-ENFILE (table full).
 * TIME-WAIT is no socket's business (Linux keeps it in timewait minisocks, apart from the file
 * table): with io, a table full of them gives up the orphan nearest its end, as a SYN does
 * (tcp_time_wait_overflow; its TCP_EV_FREED in io); without io, -ENFILE. */
int tcp_socket_open(struct tcp_table *t, uint32_t owner, uint64_t now, struct tcp_io *io,
		    uint32_t *cid);

/* bind(): as Linux inet_bind for TCP: addr is ANY, host.addr or 127/8 (-EADDRNOTAVAIL), port 0
 * picks an ephemeral port; -EADDRINUSE when another socket (any state but a TIME-WAIT we may reuse
 * under SO_REUSEADDR, Linux's rules) holds addr:port; -EINVAL if already bound. */
int tcp_bind(struct tcp_table *t, uint32_t owner, uint32_t cid, uint32_t addr, uint16_t port);

/* listen(): the slot becomes a listener (its cid changes: *lcid, the old cid is gone);
 * autobinds (-EAGAIN if no port is free); backlog capped at 4096 (somaxconn), a negative one
 * counts as huge, 0 stays 0 (one connection may queue and every SYN gets a cookie, as in
 * Linux). -EINVAL if connected (ever), -EADDRINUSE if another socket on the port listens or
 * does not share it under SO_REUSEADDR. A listener's listen() again only changes the backlog
 * (or listens again after shutdown(SHUT_RD) stopped it). */
int tcp_listen(struct tcp_table *t, uint32_t owner, uint32_t cid, int backlog, uint32_t *lcid);

/* accept(): take the oldest established connection of listener lcid for new_owner (the same
 * session, or another one the shell trusts); 0 and *cid, -EAGAIN when the queue is empty,
 * -EINVAL when lcid is not a listener. The room it makes goes at once (at now) to the oldest
 * child whose handshake ACK found the queue full (TCP_F_ACKED), which raises TCP_EV_ACCEPT
 * again through io (may be NULL: then only the listener's events record it). */
int tcp_accept(struct tcp_table *t, uint32_t owner, uint32_t lcid, uint32_t new_owner,
	       uint64_t now, struct tcp_io *io, uint32_t *cid);

/* connect(): daddr:dport with the route's source address and MTU (the shell's route lookup,
 * done synchronously so -ENETUNREACH comes from the call). Autobinds (RFC 6056), picks the ISN
 * (RFC 6528), sends the SYN. 0: in progress (TCP_EV_CONNECTED or TCP_EV_ERROR follow);
 * -EISCONN once connected, even after a reset (Linux keeps such a socket SS_CONNECTED), and for
 * a listener; -EALREADY (SYN sent already); the error of a failed attempt, once (then a new
 * attempt may start); -EADDRNOTAVAIL (no port free for that 4-tuple); -ENETUNREACH for
 * 0.0.0.0 and for broadcast and multicast destinations (Linux tcp_v4_connect). */
int tcp_connect(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
		uint32_t saddr, uint32_t daddr, uint16_t dport, uint16_t route_mtu,
		struct tcp_io *io);

/* The application appended bytes to the send stream (write_seq += bytes); the shell's ring
 * enforces snd_buf, so bytes <= tcp_send_space() (else -EINVAL). flags: MSG_MORE (cork this
 * batch), MSG_OOB (urgent: snd_up = new write_seq). The pending error first (taken), then
 * -EPIPE after shutdown(WR)/close or a reset, and on a socket never connected (Linux
 * sk_stream_wait_connect; the shell raises SIGPIPE unless MSG_NOSIGNAL). In SYN-SENT and
 * SYN-RECEIVED the data is queued and sent once the handshake completes (Linux would make a
 * blocking sender wait, a non-blocking one get -EAGAIN: the shell may do either). */
int tcp_send(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, uint32_t bytes,
	     int flags, struct tcp_io *io);

/* Bytes the application may still queue: snd_buf - (write_seq - snd_una), 0 when closed or
 * shut for writing. snd_buf grows with the congestion window (Linux tcp_sndbuf_expand: room
 * for two windows, up to TCP_WMEM_MAX, or the connection's snd_buf_max) unless the application
 * set SO_SNDBUF. */
uint32_t tcp_send_space(const struct tcp_conn *c);

/* The application read bytes (read_seq += bytes, at most what is readable: -EINVAL). Sends a
 * window update when the read at least doubles the offered window (Linux tcp_cleanup_rbuf:
 * so a closed window reopens at once; RFC 9293 §3.8.6.2.2 keeps the steps >= min(rcv_buf/2,
 * MSS)), and an ACK the input path held while the application was behind. Once an RTT the
 * receive buffer may grow (Linux's right-sizing, up to TCP_RMEM_MAX or the connection's
 * rcv_buf_max, unless SO_RCVBUF was set). */
int tcp_recvd(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, uint32_t bytes,
	      struct tcp_io *io);

/* shutdown(): SHUT_RD, SHUT_WR (FIN after the queued data: the state moves at once, as Linux's
 * tcp_close_state), SHUT_RDWR; -EINVAL for another how. In SYN-SENT SHUT_WR abandons the
 * attempt. -ENOTCONN when closed (the flags are still set, as Linux). On a listener SHUT_RD
 * stops it listening (its queues are reset), SHUT_WR does nothing. */
int tcp_shutdown(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int how,
		 struct tcp_io *io);

/* close(): unread data → RST and the slot is freed (RFC 9293 §3.10.4 / Linux
 * tcp_abort_on_close); SO_LINGER 0 → RST; else FIN after the queued data and the connection
 * becomes an orphan the core finishes (FIN-WAIT-*, TIME-WAIT) and frees on its own. The cid is
 * invalid for owner after the call either way. A listener: every connection in its queues is
 * reset. */
int tcp_close(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
	      struct tcp_io *io);

/* connect(AF_UNSPEC), Linux tcp_disconnect: whatever the connection is, reset (RST when
 * synchronized or in SYN-RECEIVED) and back to an unconnected CLOSED socket that keeps its
 * options and bind(): it may connect or listen again. A listener stops listening. 0 or -EBADF. */
int tcp_disconnect(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
		   struct tcp_io *io);

/* The shell can no longer serve cid's streams (the application's memory is gone, a restart lost
 * where they were): reset the connection (RST when synchronized or in SYN-RECEIVED) and free
 * it, whoever holds it (an application, nobody: an orphan, a child not yet accepted), with
 * TCP_EV_FREED. Counted in shell_aborts. 0, or -ENOENT (no such connection). */
int tcp_abort(struct tcp_table *t, uint32_t cid, uint64_t now, struct tcp_io *io);

/* Close every socket of owner (its session ended): as tcp_close each. Returns how many. */
unsigned tcp_close_owner(struct tcp_table *t, uint32_t owner, uint64_t now, struct tcp_io *io);

/* The largest receive and send buffers the shell's streams hold for socket cid (its rings:
 * rcv_max bytes of receive buffer, snd_max of send buffer), 0 for the defaults (TCP_RMEM_MAX,
 * TCP_WMEM_MAX): autotuning and SO_RCVBUF/SO_SNDBUF stay within them, and what the socket has
 * now is cut to them. Set before connect() or listen() (a CLOSED socket; a listener passes
 * them to its children): -EINVAL otherwise, or for a limit below TCP_MSS_MIN * 2 or above the
 * default. */
int tcp_set_buf_max(struct tcp_table *t, uint32_t owner, uint32_t cid, uint32_t rcv_max,
		    uint32_t snd_max);

/* setsockopt/getsockopt. SOL_SOCKET: SO_REUSEADDR, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF (Linux
 * doubling and limits), SO_LINGER, SO_ERROR (get: take), SO_TYPE, SO_ACCEPTCONN, SO_DOMAIN,
 * SO_PROTOCOL. IPPROTO_TCP: TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE, TCP_KEEPINTVL,
 * TCP_KEEPCNT, TCP_SYNCNT, TCP_USER_TIMEOUT, TCP_CONGESTION ("cubic", "reno"), TCP_QUICKACK,
 * TCP_INFO (get: struct tcp_info_lite below, the shell converts), with Linux's ranges and
 * errnos; -ENOPROTOOPT otherwise. Clearing TCP_CORK or setting TCP_NODELAY pushes queued data
 * (io). */
int tcp_setopt(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int level,
	       int name, const void *val, size_t len, struct tcp_io *io);
int tcp_getopt(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int level,
	       int name, void *val, size_t *len);

/* getsockname / getpeername (-ENOTCONN unless synchronized or a peer is set). */
int tcp_getname(const struct tcp_table *t, uint32_t owner, uint32_t cid, bool peer,
		uint32_t *addr, uint16_t *port);

/* What TCP_INFO and `ss -i` show (the shell fills Linux's struct tcp_info from it). */
struct tcp_info_lite {
	uint8_t state;
	uint8_t ca_state;
	uint8_t retransmits;      /* rtx_count */
	uint8_t backoff;
	uint8_t options;          /* TCPI_OPT_TIMESTAMPS | _SACK | _WSCALE */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	uint8_t reserved;
	uint32_t rto_us;
	uint32_t snd_mss;
	uint32_t rcv_mss;
	uint32_t unacked;         /* segments */
	uint32_t sacked;
	uint32_t lost;
	uint32_t retrans;
	uint32_t last_data_sent_ms;
	uint32_t last_data_recv_ms;
	uint32_t pmtu;
	uint32_t rtt_us;
	uint32_t rttvar_us;
	uint32_t snd_ssthresh;    /* segments, as Linux reports */
	uint32_t snd_cwnd;        /* segments */
	uint32_t rcv_space;
	uint32_t total_retrans;
	uint32_t min_rtt_us;
	uint64_t bytes_acked;
	uint64_t bytes_received;
	uint32_t segs_out;
	uint32_t segs_in;
	uint32_t notsent_bytes;
	uint32_t snd_wnd;
	uint32_t rcv_wnd;         /* the window in our last ACK, scaled (bytes; Linux rcv_wnd) */
	uint16_t total_rto;
	uint16_t total_rto_recoveries;
};
int tcp_info(const struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
	     struct tcp_info_lite *out);

/* --- `ss` (tcp_diag.c) ------------------------------------------------------------------ */

/* The shell's answer to "which application is owner": its uid and pid (0 if not known), false
 * when the owner names no session it knows. */
typedef bool (*tcp_diag_owner_fn)(void *arg, uint32_t owner, uint32_t *uid, uint32_t *pid);

/* One page of `ustackctl sockets`: up to max sockets (listeners, then connections in any
 * state, orphans and children not yet accepted included) from *cursor on (0 at first), with
 * ss's state name, queues as Linux's tcp_diag reports them, and TCP_INFO's figures for a
 * connection; owner_fn (may be NULL) names the owner of each. Advances *cursor past what was
 * looked at; *more is false once the whole table has been walked. Returns the count. Reads
 * only: tcpd answers its ctl request SOCKETS with it and ctl_reply_add_sockets (common/ctl.h):
 *     struct sock_diag d[SOCK_DIAG_PAGE];
 *     uint32_t cur = req->cursor;
 *     bool more;
 *     unsigned n = tcp_diag_walk(t, now, &cur, d, SOCK_DIAG_PAGE, &more, owner_fn, arg);
 *     return ctl_reply_add_sockets(srv, reply, d, n, cur, more); */
unsigned tcp_diag_walk(const struct tcp_table *t, uint64_t now, uint32_t *cursor,
		       struct sock_diag *out, unsigned max, bool *more, tcp_diag_owner_fn owner_fn,
		       void *arg);
/* ss's name of a state ("ESTAB", "SYN-RECV", ...; "UNKNOWN" out of range). */
const char *tcp_diag_state_name(unsigned state);

/* --- the network's side (tcp_input.c, tcp_icmp.c) ---------------------------------------- */

/* One segment from ipd. */
struct tcp_seg_in {
	uint32_t saddr;          /* network order */
	uint32_t daddr;
	const uint8_t *hdr;      /* the TCP header, options included, contiguous */
	uint32_t seg_len;        /* header + payload bytes (from the IP length) */
	uint16_t gso_segs;       /* a GRO super-segment counts as this many (>= 1) */
	uint8_t tos;
	uint8_t bcast;           /* daddr was a broadcast or multicast address */
	uint8_t csum_ok;         /* the checksum verified (0: counted in_csum_errors, dropped) */
	uint8_t reserved[3];
};

/* Process one segment (RFC 9293 §3.10.7 and the RFCs the modules cite): may place payload
 * (io->place), emit segments (ACK, data freed by the ACK, RST, SYN-ACK), raise events.
 * Always 0 except -EINVAL for a bad argument: a bad segment is counted and dropped, never an
 * error to the shell. */
int tcp_input(struct tcp_table *t, uint64_t now, const struct tcp_seg_in *seg,
	      struct tcp_io *io);

/* An ICMP error quoting a segment we sent: type/code, the next-hop MTU for "fragmentation
 * needed", the quoted IPv4 header + at least 8 bytes of TCP header. Checks the quoted sequence
 * number is in [snd_una, snd_max) (RFC 5927 §4.1; the ISN for a SYN-RECEIVED child);
 * fragmentation needed lowers pmtu (never up, never below Linux's 552: a smaller or 0 MTU
 * reads as 552) and resends what is in flight at the new MSS; in SYN-SENT any error aborts
 * the connect with its errno (ECONNREFUSED, EHOSTUNREACH, ... as Linux tcp_v4_err), a child
 * is dropped for net/host unreachable, time exceeded, parameter problem; otherwise they are
 * soft errors reported only if the connection later times out (RFC 1122 §4.2.3.9). Source
 * quench is ignored (RFC 6633). 0 or -ENOENT / -EBADMSG (counted). */
int tcp_icmp_error(struct tcp_table *t, uint64_t now, uint8_t type, uint8_t code, uint16_t mtu,
		   const uint8_t *quoted, size_t quoted_len, struct tcp_io *io);

/* --- time and deferred work (tcp_timer.c, tcp_output.c) ----------------------------------- */

/* Fire every deadline <= now: retransmissions with backoff, delayed ACKs, zero-window probes,
 * keepalives, TIME-WAIT and FIN-WAIT-2 ends, user timeouts; frees what has ended. Costs O(1)
 * when nothing is due, else a scan of the per-slot deadline array. */
void tcp_timers(struct tcp_table *t, uint64_t now, struct tcp_io *io);

/* The earliest armed deadline, CLOCK_NEVER (clock.h) when none: the shell's timerfd. */
uint64_t tcp_next_deadline(const struct tcp_table *t);

/* Send what tcp_io had no room for in an earlier call. */
void tcp_output_deferred(struct tcp_table *t, uint64_t now, struct tcp_io *io);

/* The path through the stack was just broken and is whole again: this tcpd restarted (called
 * for a session's connections when its application resumes it: their streams are reachable
 * again), or ipd did (its link reconnected: owner 0, every connection). Segments and ACKs in flight
 * through the dead process are lost, so for every synchronized connection with data or a FIN
 * outstanding the retransmission timer is made due now with its backoff reset (the next
 * tcp_timers retransmits from snd_una as an RTO does: Karn, LOSS, go-back-N), and every
 * synchronized connection sends an ACK (rcv_nxt, window, SACK blocks) so the peer learns where
 * we are. Handshakes are left to their own timers. owner: only that session's connections, 0
 * all. Returns how many connections had their retransmission brought forward. */
unsigned tcp_path_restored(struct tcp_table *t, uint64_t now, uint32_t owner,
			   struct tcp_io *io);

#endif
