/* tcp_priv: what the TCP core's modules share (tcp_core.h has the module map). Unit tests may
 * include it; the shell may not.
 *
 * The algorithm modules (options, rtt, sack, recovery, cc, assembler, isn, port, syncookie) are
 * written against these contracts and know nothing of segments' arrival or emission: the
 * state-machine modules (input, output, timer, user, listen) call them.
 */
#ifndef USTACK_TCP_PRIV_H
#define USTACK_TCP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp_core.h"
#include "tcp_seq.h"

/* --- per-segment context (STYLE 11: never file-scope statics) ---------------------------- */

/* Options as parsed from, or to be written into, one segment. */
#define TCP_OPTF_MSS 0x01u
#define TCP_OPTF_WSCALE 0x02u
#define TCP_OPTF_SACK_PERM 0x04u
#define TCP_OPTF_TIMESTAMP 0x08u
#define TCP_OPTF_SACK 0x10u
struct tcp_opts {
	uint8_t present;          /* TCP_OPTF_* */
	uint8_t wscale;           /* as received (the caller clamps to TCP_WSCALE_MAX) */
	uint16_t mss;
	uint32_t tsval;
	uint32_t tsecr;
	uint8_t n_sack;
	uint8_t reserved[3];
	struct tcp_range sack[4]; /* as received: not yet checked against the window */
};

/* A segment being processed: the parsed header, host order. */
struct tcp_seg {
	uint32_t saddr, daddr;    /* network order */
	uint16_t sport, dport;    /* network order */
	uint32_t seq;
	uint32_t ack;
	uint32_t wnd;             /* raw header value (unscaled) */
	uint16_t urp;
	uint8_t flags;
	uint8_t hdr_len;
	uint32_t len;             /* payload bytes (SEG.LEN without SYN/FIN) */
	uint16_t gso_segs;
	uint8_t tos;
	uint8_t reserved;
	struct tcp_opts opt;
};

/* --- tcp_options.c (RFC 9293 §3.2, RFC 7323, RFC 2018) ------------------------------------ */

/* Parse the option bytes of a segment (len = hdr_len - 20, 0..40). `syn` says whether the
 * segment carries SYN: MSS, window scale and SACK-permitted are honoured only there (elsewhere
 * they are skipped, as Linux). Unknown kinds are skipped by their length. Malformed lists — a
 * length of 0 or 1, an option running past the end, a known option with a wrong fixed length,
 * a SACK option of other than 2 + 8n bytes or with more than 4 blocks, len > 40 — return
 * -EINVAL with *out untouched, and the caller counts in_drop_bad_options and drops the segment
 * (Linux drops only some of these; a malformed list is a malformed segment). EOL ends the list.
 * Not errors (as Linux): an MSS option of 0 is ignored (RFC 9293 §3.7.1 then assumes 536); a
 * SACK option with no block (length 2) is ignored; a repeated option overrides the earlier
 * one; a window scale above 14 is reported as received (the caller uses 14, RFC 7323 §2.3). */
int tcp_options_parse(const uint8_t *opt, size_t len, bool syn, struct tcp_opts *out);

/* Write the options of `o` into out[TCP_OPT_SPACE] in Linux's order and padding (MSS, then
 * SACK-permitted+timestamps as NOP-NOP or the combined 12-byte form, window scale, SACK blocks
 * as many as fit: 4 without timestamps, 3 with). Returns the length, a multiple of 4. Options
 * not in o->present are not written; o->wscale above 14 is written as 14. */
size_t tcp_options_build(uint8_t *out, const struct tcp_opts *o);

/* Bytes of options every full-sized data segment of c carries (timestamps: 12), so
 * snd_mss = min(peer_mss, pmtu - 40) - this (RFC 9293 §3.7.1). SACK blocks on a data segment
 * are not included: a segment that carries them must shorten its payload by their 4 + 8n. */
unsigned tcp_options_overhead(const struct tcp_conn *c);

/* --- tcp_rtt.c (RFC 6298) ---------------------------------------------------------------- */

/* RTO = SRTT + max(G, 4·RTTVAR) with G = 1 ms (the TSval clock's tick, the coarsest clock a
 * sample comes from), then clamped to [TCP_RTO_MIN_NS, TCP_RTO_MAX_NS]. */
void tcp_rtt_init(struct tcp_rtt *r);                     /* RTO = TCP_RTO_INIT_NS, no srtt */
/* §2.2/2.3, min_rtt too. A sample also ends the backoff (RFC 6298 §5, after 5.7: the backed-off
 * RTO stays until a new sample; Linux resets icsk_backoff only here). 0 µs is taken as 1 µs
 * (below the clock's resolution); samples are capped at TCP_RTO_MAX_NS. Call it once per ACK,
 * with the timestamp echo's sample or tcp_rtt_acked's, never both. */
void tcp_rtt_sample(struct tcp_rtt *r, uint32_t rtt_us);
uint64_t tcp_rtt_rto_ns(const struct tcp_rtt *r);         /* with backoff, in [MIN, MAX] */
void tcp_rtt_backoff(struct tcp_rtt *r);                  /* §5.5 */
void tcp_rtt_reset_backoff(struct tcp_rtt *r);
/* Karn's algorithm (no timestamps): time one segment at a time (a no-op while one is timed);
 * a retransmission of it cancels it. seq is the timed segment's first sequence number. */
void tcp_rtt_start(struct tcp_rtt *r, uint32_t seq, uint64_t now);
void tcp_rtt_cancel(struct tcp_rtt *r);
/* An ACK for ack arrived: returns the sample in µs (>= 1) if the timed segment is covered
 * (ack > seq) and stops timing, else 0. Does not feed the estimator (tcp_rtt_sample does). */
uint32_t tcp_rtt_acked(struct tcp_rtt *r, uint32_t ack, uint64_t now);
/* The handshake completed: backoff ends; if the SYN or SYN-ACK timed out and the RTO is below
 * 3 s, the RTO becomes 3 s (RFC 6298 §5.7) until the next sample. tcp_recovery_init calls it. */
void tcp_rtt_handshake_done(struct tcp_rtt *r, bool syn_timed_out);

/* --- tcp_sack.c (RFC 2018, RFC 2883, RFC 6675) -------------------------------------------- */

/* RFC 6675's pointers are kept as exclusive ends: high_rxt = HighRxt + 1 (the first byte not
 * retransmitted in this recovery), rescue_rxt = RescueRxt + 1. A value outside
 * [snd_una, snd_max] (never set, or stale after a wrap) reads as snd_una. DupThresh is 3. */
#define TCP_DUPTHRESH 3u
void tcp_sack_reset(struct tcp_scoreboard *sb);
/* Take the SACK blocks of an ACK, with snd_una already advanced by this ACK (= its ack field).
 * Nothing in a block is trusted: a reversed or empty block is ignored; a block is added only
 * if snd_una < start < end <= snd_max (Linux tcp_is_sackblock_valid). The FIRST block is a
 * D-SACK (RFC 2883 §4) when it starts below snd_una, or lies inside the second block: counted
 * in dsack_seen, *dsack set, never added (if sane: end <= snd_max, within 2^30 below it).
 * Ranges merge. When a new range finds all TCP_SCOREBOARD_MAX in use, the range farthest from
 * snd_una is forgotten (it becomes un-SACKed: conservative, and the lowest holes, the ones
 * recovery repairs first, keep their information). Returns the bytes newly SACKed. */
uint32_t tcp_sack_update(struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
			 const struct tcp_opts *o, bool *dsack);
/* snd_una advanced: drop what is now cumulatively acknowledged. An ACK that stops at or
 * inside a SACKed range means the receiver discarded data it had SACKed (reneging, RFC 2018
 * §8; Linux tcp_check_sack_reneging): the whole board is forgotten. */
void tcp_sack_advance(struct tcp_scoreboard *sb, uint32_t snd_una);
bool tcp_sack_is_sacked(const struct tcp_scoreboard *sb, uint32_t seq);
/* The first un-SACKed range at or after seq and before end: false when [seq, end) is all
 * SACKed (or empty). Go-back-N after an RTO skips SACKed data with it (RFC 6675 §5.1). */
bool tcp_sack_next_hole(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t end,
			uint32_t *hole_start, uint32_t *hole_end);
/* RFC 6675 §4 IsLost(seq): true when DupThresh discontiguous SACKed ranges lie above seq, or
 * more than (DupThresh - 1)·SMSS SACKed bytes do. A SACKed seq is not lost. */
bool tcp_sack_is_lost(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t smss);
/* RFC 6675 §4 SetPipe: bytes in flight: every un-SACKed byte of [snd_una, snd_max) not lost,
 * plus every un-SACKed byte below HighRxt (retransmitted). */
uint32_t tcp_sack_pipe(const struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
		       uint32_t smss);
/* RFC 6675 §4 NextSeg: the next range to (re)transmit, rules 1-4; false when none. new_end is
 * where new data must stop: min(write_seq, snd_una + snd_wnd) (rule 2's "available unsent
 * data and the receiver's advertised window allows"). Assumes the caller sends what it
 * returns: it moves HighRxt (C.2) for a retransmission by rules 1 and 3, RescueRxt for rule 4
 * (set to snd_max, which is at or beyond RecoveryPoint). Never more than smss bytes, never
 * across a SACKed range. */
bool tcp_sack_next_seg(struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
		       uint32_t new_end, uint32_t smss, uint32_t *seq, uint32_t *len);

/* --- tcp_recovery.c (RFC 5681, RFC 6582, RFC 6675) ---------------------------------------- */

/* What one incoming ACK tells loss recovery, computed by tcp_input. */
struct tcp_ack_info {
	uint32_t acked;          /* bytes newly cumulatively acknowledged (snd_una moved) */
	uint32_t sacked;         /* bytes newly SACKed */
	uint32_t rtt_us;         /* a valid RTT sample, or 0 */
	bool dup;                /* a duplicate ACK by RFC 5681 §2 (or RFC 6675's SACK rule) */
	bool dsack;
	bool ece;                /* ignored: ECN is never negotiated */
	struct tcp_range dsack_blk; /* the D-SACK block (valid with dsack) */
};
/* The handshake completed (ESTABLISHED, either side): the congestion controller's init (IW,
 * RFC 6928), IW = 1 SMSS if the SYN or SYN-ACK was retransmitted (RFC 5681 §3.1), RFC 6298
 * §5.7 (tcp_rtt_handshake_done), ca_state OPEN, recover = iss (RFC 6582), scoreboard reset.
 * Call after snd_mss is known. */
void tcp_recovery_init(struct tcp_conn *c, uint64_t now, bool syn_retransmitted);
/* Update dupacks/ca_state/cwnd for one ACK. tcp_input calls it after it has moved snd_una,
 * taken the SACK blocks (tcp_sack_update, tcp_sack_advance) and fed any RTT sample, and
 * before tcp_output runs (and after tcp_rack_on_ack). It enters fast recovery when RACK
 * marked a loss (SACK and a valid RACK table: RFC 8985), else on the third duplicate (or
 * IsLost(snd_una) with SACK, RFC 6675 §5 step 2), unless snd_una has not passed `recover`
 * (RFC 6582 §3.2 step 2, RFC 6675 §5.1); handles NewReno partial/full ACKs, exits recovery
 * when snd_una reaches recover, grows cwnd through the congestion controller outside
 * recovery, undoes a SACK recovery whose every retransmission came back D-SACKed. What must
 * be retransmitted is marked, never sent: TCP_F_RTX_HEAD for the segment at snd_una (fast
 * retransmit, each NewReno partial ACK), the scoreboard or RACK's marks for SACK recovery.
 * Counts tcp_fast_retrans / tcp_sack_recovery / tcp_reno_recovery / tcp_dsack_recv /
 * tcp_dsack_undo. */
void tcp_recovery_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			 const struct tcp_ack_info *ai);
/* The retransmission timer fired on data (not a SYN): RFC 6298 §5.4-5.5 (snd_nxt = snd_una:
 * go-back-N; backoff; Karn: timing cancelled) and RFC 5681 §3.1 (ssthresh, held on a repeated
 * timeout; cwnd = 1 SMSS), recover = snd_max (RFC 6582 §3.2 step 4, RFC 6675 §5.1), scoreboard
 * kept (RFC 6675 §5.1), ca_state = LOSS; counts tcp_timeouts. The caller then re-arms t_rtx
 * with tcp_rtt_rto_ns (§5.6) and keeps rtx_count itself. */
void tcp_recovery_on_rto(struct tcp_table *t, struct tcp_conn *c, uint64_t now);
/* RACK (tcp_rack.c) marked loss outside any ACK (the reordering timer): enter recovery as a
 * duplicate ACK would (OPEN or DISORDER, `recover` passed). */
void tcp_recovery_on_rack_loss(struct tcp_table *t, struct tcp_conn *c, uint64_t now);
/* How many bytes may be put in flight now (cwnd - pipe, never negative), with pipe:
 *   OPEN                 snd_max - snd_una (RFC 5681 FlightSize)
 *   DISORDER             without SACK: FlightSize - min(dupacks, 2)·SMSS (Limited Transmit,
 *                        RFC 5681 §3.2 step 2); with SACK: SetPipe (RFC 6675 §5 step 3)
 *   RECOVERY             without SACK: FlightSize (cwnd is inflated, RFC 5681 §3.2 step 4);
 *                        with SACK: SetPipe (RFC 6675 §5 (B.2))
 *   LOSS                 the un-SACKed bytes of [snd_una, snd_nxt): what go-back-N resent.
 *   with RACK active (SACK, valid table), in every state but OPEN: the bytes of [snd_una,
 *   snd_max) (LOSS: [snd_una, snd_nxt)) neither SACKed nor marked lost (Linux in_flight); and
 *   in RECOVERY and LOSS tcp_output sends RACK's lost marks first (tcp_rack_next_lost), then
 *   only new data in RECOVERY, go-back-N in LOSS.
 * What tcp_output sends, in this order:
 *   1. TCP_F_RTX_HEAD set: one segment at snd_una (up to SMSS, not across a SACKed range:
 *      tcp_sack_next_hole), regardless of the allowance (RFC 5681 §3.2 step 3, RFC 6582
 *      step 5, RFC 6675 (4.3): already counted in SetPipe); then clear the flag.
 *   2. RECOVERY with SACK: while the allowance is >= SMSS, tcp_sack_next_seg, send, subtract
 *      (RFC 6675 (C)).
 *   3. otherwise from snd_nxt within the allowance (and rwnd, Nagle...); in LOSS with SACK,
 *      skip SACKed ranges with tcp_sack_next_hole (RFC 6675 §5.1). Segments below snd_max
 *      are retransmissions (Karn: tcp_rtt_cancel if they cover the timed segment). */
uint32_t tcp_recovery_send_allowance(const struct tcp_conn *c);

/* --- tcp_rack.c (RFC 8985) ---------------------------------------------------------------- */

/* The probe timeout for c now (RFC 8985 §7.2, before the cap by the RTO deadline). */
uint64_t tcp_tlp_pto_ns(const struct tcp_conn *c);
/* (Re)start the PTO if a probe may be sent (SACK, OPEN, data outstanding, no probe
 * outstanding, a data-sending state), at min(now + PTO, t_rtx); else disarm it. Called when
 * new data is sent. */
void tcp_tlp_schedule(struct tcp_table *t, struct tcp_conn *c, uint64_t now);
/* After an ACK: restart the PTO if the ACK cumulatively acknowledged new data (acked_new),
 * arm it if a probe may be sent and none is armed, disarm it if none may; otherwise leave
 * the deadline alone. */
void tcp_tlp_after_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, bool acked_new);
/* The PTO expired: send the probe (new data within the peer's window, else the tail again),
 * mark it outstanding, count tcp_loss_probes, re-arm the RTO (§7.3). */
void tcp_tlp_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* An ACK arrived (tcp_recovery_on_ack calls it first, snd_una advanced): the probe episode
 * ends when snd_una reaches tlp_high_seq; a retransmitted probe acknowledged without D-SACK
 * repaired a loss: ssthresh/cwnd reduced once, tcp_loss_probe_recovery counted (§7.4). */
void tcp_tlp_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		    const struct tcp_ack_info *ai);
/* No probe pending nor outstanding (recovery began, RTO). */
void tcp_tlp_cancel(struct tcp_conn *c);

/* RACK. The table (struct tcp_rack) is kept whether SACK was negotiated or not; RACK decides
 * only with SACK and while the table covers [snd_una, snd_max) (tcp_rack_active), else the
 * RFC 6675 / NewReno rules of tcp_recovery.c do. */
void tcp_rack_init(struct tcp_conn *c);                 /* empty, valid, reo_wnd_mult 1 */
bool tcp_rack_active(const struct tcp_conn *c);
/* [seq, end) (end includes a FIN) was sent at now: tcp_sent calls it before it moves
 * snd_max. What lies below snd_max becomes one retransmitted range sent now; what lies
 * beyond is appended, joined to the last range if sent within min_RTT/4 of it. A full table
 * gives up (valid = 0, tcp_rack_overflow counted) until the flight drains. */
void tcp_rack_on_sent(struct tcp_table *t, struct tcp_conn *c, uint64_t now, uint32_t seq,
		      uint32_t end);
/* An ACK was processed (snd_una advanced from prior_una, the scoreboard updated), before
 * tcp_recovery_on_ack: RACK.xmit_ts/end_seq/rtt from what it delivered (§6.2 steps 2-3),
 * reo_wnd's D-SACK growth (step 4), acknowledged ranges dropped, loss marked (step 5) and the
 * reordering timer (t_reo) armed for what may still be reordered. */
void tcp_rack_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, uint32_t prior_una,
		     bool dsack);
/* The reordering window now, µs (§6.2 step 4). */
uint32_t tcp_rack_reo_wnd_us(const struct tcp_conn *c);
/* The un-SACKed bytes below limit of ranges marked lost and not retransmitted since. */
uint32_t tcp_rack_lost_bytes(const struct tcp_conn *c, uint32_t limit);
/* The lowest un-SACKed piece (<= mss, inside one range) of a range marked lost, below limit. */
bool tcp_rack_next_lost(const struct tcp_conn *c, uint32_t limit, uint32_t mss, uint32_t *seq,
			uint32_t *len);
/* t_reo expired: mark what is lost now, enter recovery if needed, send. */
void tcp_rack_reo_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		       struct tcp_io *io);
/* No lost mark is pending any more and the reordering timer stops: after an RTO (go-back-N
 * resends all), after an undone recovery (nothing was lost). */
void tcp_rack_unmark_lost(struct tcp_conn *c);
/* A recovery ended: one of the 16 recoveries a D-SACK-widened window persists for. */
void tcp_rack_recovery_done(struct tcp_conn *c);

/* --- tcp_cc.c, tcp_cc_newreno.c, tcp_cc_cubic.c ------------------------------------------- */

/* Windows are bytes. SMSS is c->snd_mss (TCP_MSS_DEFAULT while 0). cwnd never exceeds
 * TCP_CWND_MAX (the largest window RFC 7323 can offer). */
#define TCP_SSTHRESH_INF UINT32_MAX
#define TCP_CWND_MAX (1u << 30)
struct tcp_cc_ops {
	const char *name;        /* "reno", "cubic": TCP_CONGESTION's names */
	/* cwnd = initial window (RFC 6928: min(10·MSS, max(2·MSS, 14600))), ssthresh = max. */
	void (*init)(struct tcp_conn *c, uint64_t now);
	/* acked bytes newly acknowledged in OPEN/DISORDER/LOSS state, snd_una already advanced:
	 * slow start with RFC 3465 ABC (L = 2·SMSS, 1·SMSS after an RTO), then avoidance. cwnd
	 * grows only if it was the limit: the flight before this ACK was over half of cwnd in
	 * slow start, within one SMSS of it in avoidance (Linux tcp_is_cwnd_limited, RFC 9438
	 * §5.8; a flow held back by the application or rwnd does not grow its window). */
	void (*on_ack)(struct tcp_conn *c, uint64_t now, uint32_t acked, uint32_t rtt_us);
	/* ssthresh on a congestion event (fast recovery or a first RTO): RFC 5681 eq. 4 for Reno,
	 * β_cubic·flight_size with fast convergence for CUBIC (RFC 9438 §4.6-4.7), never below
	 * 2·SMSS. FlightSize = min(snd_max - snd_una, cwnd): segments sent by Limited Transmit
	 * beyond cwnd do not count (RFC 5681 §3.2 step 2). Updates the algorithm's own state. */
	uint32_t (*ssthresh)(struct tcp_conn *c, uint64_t now);
	/* an RTO: reset whatever epoch the algorithm keeps. */
	void (*on_rto)(struct tcp_conn *c, uint64_t now);
	/* recovery ended (tcp_recovery set cwnd). */
	void (*on_recovery_end)(struct tcp_conn *c, uint64_t now);
	/* the connection was idle for more than an RTO (the caller decides, from last_snd_at):
	 * cwnd = min(cwnd, IW) (RFC 5681 §4.1), ssthresh = max(ssthresh, 3/4·cwnd) first (Linux
	 * tcp_cwnd_restart); CUBIC also leaves the idle time out of t (RFC 9438 §5.8). */
	void (*on_idle_restart)(struct tcp_conn *c, uint64_t now);
};
/* The ops of algo; an out-of-range value (a torn record) gets CUBIC's, never NULL. */
const struct tcp_cc_ops *tcp_cc_get(enum tcp_cc_algo algo);
extern const struct tcp_cc_ops tcp_cc_newreno_ops, tcp_cc_cubic_ops;
/* What the algorithms share (tcp_cc.c). */
uint32_t tcp_cc_smss(const struct tcp_conn *c);
uint32_t tcp_cc_iw(const struct tcp_conn *c);            /* RFC 6928 */
uint32_t tcp_cc_flight(const struct tcp_conn *c);        /* min(snd_max - snd_una, cwnd) */
bool tcp_cc_cwnd_limited(const struct tcp_conn *c, uint32_t acked);
/* Slow start with ABC up to ssthresh; returns the acked bytes left for avoidance (0 while
 * cwnd stays below ssthresh). */
uint32_t tcp_cc_slow_start(struct tcp_conn *c, uint32_t acked);
void tcp_cc_restart_window(struct tcp_conn *c);           /* RFC 5681 §4.1 */

/* CUBIC's state in tcp_cc.priv (tcp_cc_cubic.c; here so tests can read it). Times in ns,
 * windows in bytes, K in 2^-10 s. */
struct tcp_cubic {
	uint32_t w_max;          /* W_max; 0 = none (no congestion event yet, or after an RTO) */
	uint32_t cwnd_prior;     /* cwnd when ssthresh was last set (RFC 9438 §4.1.2) */
	uint32_t origin;         /* the curve's plateau: W_max, or cwnd_epoch when K = 0 */
	uint32_t k;              /* K, in 1/1024 s */
	uint32_t w_est;          /* Reno-friendly estimate (RFC 9438 §4.3) */
	uint32_t w_est_rem;      /* remainder of W_est's increments */
	uint32_t cnt_rem;        /* remainder of the cubic increments */
	uint32_t reserved;
	uint64_t epoch_start;    /* t_epoch; 0 = none: the next ACK in avoidance starts one */
	uint64_t last_ack;       /* the last ACK seen: application-limited time is cut out of t */
};
void tcp_cubic_load(const struct tcp_conn *c, struct tcp_cubic *cu);
/* By TCP_CONGESTION name: at most 15 bytes, up to the first NUL (Linux copies
 * min(len, TCP_CA_NAME_MAX - 1)); -ENOENT (Linux's answer to an unknown name). */
int tcp_cc_by_name(const char *name, size_t len, enum tcp_cc_algo *algo);

/* --- tcp_assembler.c (the receive buffer, RFC 2018 §4, RFC 2883) ------------------------- */

void tcp_asm_reset(struct tcp_assembler *a);
/* Data [seq, seq+len) was placed above rcv_nxt: record it (merging), remember it as the most
 * recent for SACK. false when it needs a new range and all TCP_OOO_MAX are used: the caller
 * drops the segment (tcp_ofo_drop) and does not place it. */
bool tcp_asm_add(struct tcp_assembler *a, uint32_t seq, uint32_t len);
/* rcv_nxt reached `rcv_nxt`: returns the new rcv_nxt after absorbing every range that now
 * touches it (the bytes are already in the buffer), and drops ranges below it. */
uint32_t tcp_asm_advance(struct tcp_assembler *a, uint32_t rcv_nxt);
/* A duplicate [seq, seq+len) arrived: make it the D-SACK block of the next ACK; if it lies in
 * out-of-order data, that range becomes the second block (RFC 2883 §4). */
void tcp_asm_dsack(struct tcp_assembler *a, uint32_t seq, uint32_t len);
/* The SACK blocks for the next ACK (D-SACK first, then most recent first), at most max. */
unsigned tcp_asm_sack_blocks(const struct tcp_assembler *a, struct tcp_range *out,
			     unsigned max);
/* After sending an ACK: the D-SACK block is reported once. */
void tcp_asm_sack_sent(struct tcp_assembler *a);

/* --- tcp_isn.c (RFC 6528), tcp_port.c (RFC 6056), tcp_syncookie.c -------------------------- */

/* Keyed SipHash-2-4 (libsodium crypto_shorthash, which needs no sodium_init: it has no
 * run-time dispatch) of msg under the table's secret, with a domain byte so that ISNs, ports,
 * timestamp offsets and cookies never share outputs. Cookies use the second half of the
 * secret, everything else the first. */
enum tcp_hash_domain {
	TCP_HASH_ISN = 1,
	TCP_HASH_TSOFF,
	TCP_HASH_PORT,
	TCP_HASH_PORT_TABLE,
	TCP_HASH_COOKIE1,
	TCP_HASH_COOKIE2,
	TCP_HASH_CHALLENGE,      /* tcp_output.c: the per-second challenge-ACK budget */
	TCP_HASH_CONN_TABLE,     /* tcp_table.c: the 4-tuple hash's buckets */
};
uint64_t tcp_hash(const struct tcp_table *t, enum tcp_hash_domain d, const void *msg,
		  size_t len);

/* ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock from now,
 * F SipHash-2-4 keyed with the table's secret (RFC 6528 §3). */
uint32_t tcp_isn(const struct tcp_table *t, uint64_t now, uint32_t laddr, uint16_t lport,
		 uint32_t raddr, uint16_t rport);
/* Per-connection timestamp offset (Linux's tsoffset: a keyed hash of the address pair). */
uint32_t tcp_ts_offset(const struct tcp_table *t, uint32_t laddr, uint32_t raddr);
/* Our TSval at now for c: ms clock + ts_offset. */
uint32_t tcp_ts_now(const struct tcp_conn *c, uint64_t now);

/* RFC 6056 §3.3.4 (Algorithm 4, double-hash, as Linux __inet_hash_connect): choose a local
 * port (network order, from [port_lo, port_hi]) for laddr -> raddr:rport that the predicate
 * `free` accepts; 0 when the range is exhausted. */
typedef bool (*tcp_port_free_fn)(const struct tcp_table *t, uint32_t laddr, uint16_t lport,
				 uint32_t raddr, uint16_t rport);
uint16_t tcp_port_pick(struct tcp_table *t, uint32_t laddr, uint32_t raddr, uint16_t rport,
		       tcp_port_free_fn free_fn);

/* SYN cookies (Linux's scheme: ISN = hash1(4-tuple) + their ISN + (count << 24) +
 * (hash2(4-tuple, count) + MSS index) mod 2^24, count = now / 64 s; with timestamps, the
 * peer's wscale (0xf: none) and SACK-permitted in the low 6 bits of TSval, which is then
 * ms clock + tcp_ts_offset like any other). *mss_out is the MSS the cookie encodes (the
 * largest of 536, 1300, 1440, 1460 not above the SYN's MSS); *tsval_out is meaningful only
 * when the SYN carried timestamps. */
uint32_t tcp_cookie_make(const struct tcp_table *t, uint64_t now, const struct tcp_seg *syn,
			 uint16_t *mss_out, uint32_t *tsval_out);
/* The ACK that completes a cookie handshake: 0 and the SYN's MSS (and, when timestamps
 * carried them, wscale / SACK-permitted) if valid and not older than 2 minutes, else -EINVAL. */
int tcp_cookie_check(const struct tcp_table *t, uint64_t now, const struct tcp_seg *ack,
		     uint16_t *mss, struct tcp_opts *syn_opts);

/* --- state machine internals (tcp_state.c, tcp_table.c, tcp_output.c, ...) ---------------- */

/* cids: slot index (| TCP_CID_LISTENER) in the low half, the slot's generation in the high. */
static inline unsigned tcp_cid_slot(uint32_t cid) { return cid & 0x7fffu; }
static inline bool tcp_cid_is_listener(uint32_t cid) { return (cid & TCP_CID_LISTENER) != 0; }
static inline uint16_t tcp_cid_gen(uint32_t cid) { return (uint16_t)(cid >> 16); }

/* States in which a connection has a full 4-tuple and is in the 4-tuple hash. */
static inline bool tcp_state_hashed(unsigned s)
{
	return s != TCP_STATE_CLOSED && s != TCP_STATE_LISTEN && s < TCP_STATE_COUNT;
}
/* RFC 9293's synchronized states (ESTABLISHED and after). */
static inline bool tcp_state_synced(unsigned s)
{
	return s >= TCP_STATE_ESTABLISHED && s < TCP_STATE_COUNT;
}

/* The one way a connection changes state (STYLE 14): logs old => new at debug level via the
 * shell-independent trace hook (none in the pure core: counted), maintains curr_estab,
 * estab_resets, attempt_fails. */
void tcp_set_state(struct tcp_table *t, struct tcp_conn *c, enum tcp_state s);

/* Raise events on c and list it in io->ev once (until the shell takes them). */
void tcp_event(struct tcp_conn *c, struct tcp_io *io, uint32_t cid, uint8_t ev);
void tcp_lis_event(struct tcp_listener *l, struct tcp_io *io, uint32_t lcid, uint8_t ev);

/* The connection is over (RFC 9293 "enter CLOSED, delete the TCB"): timers cancelled, out of
 * the 4-tuple hash, its port released unless bind() chose it. err > 0 becomes its pending
 * error with TCP_EV_ERROR. A connection no application holds (orphan, or a child not yet
 * accepted) is freed (TCP_EV_FREED); an application's stays in CLOSED for it to see. */
void tcp_conn_done(struct tcp_table *t, struct tcp_conn *c, int err, struct tcp_io *io);
/* Enter TIME-WAIT (RFC 9293 §3.10.7.4): only the 2·MSL timer stays. */
void tcp_enter_time_wait(struct tcp_table *t, struct tcp_conn *c, uint64_t now);
/* Free the slot and raise TCP_EV_FREED on its cid (the shell releases its streams). */
void tcp_conn_release(struct tcp_table *t, struct tcp_conn *c, struct tcp_io *io);

/* --- tcp_table.c --- */

uint32_t tcp_cid_of(const struct tcp_table *t, const struct tcp_conn *c);
/* addr may be a TCP peer: not 0.0.0.0, the limited or our subnet's broadcast, or multicast. */
bool tcp_addr_unicast(const struct tcp_table *t, uint32_t addr);
uint32_t tcp_lis_cid(const struct tcp_table *t, const struct tcp_listener *l);
static inline unsigned tcp_conn_idx(const struct tcp_table *t, const struct tcp_conn *c)
{
	return (unsigned)(c - t->conn);
}
static inline unsigned tcp_lis_idx(const struct tcp_table *t, const struct tcp_listener *l)
{
	return (unsigned)(l - t->lis);
}
/* The open connection / listener cid whoever owns it; NULL if not open. */
struct tcp_conn *tcp_conn_by_cid(struct tcp_table *t, uint32_t cid);
struct tcp_listener *tcp_lis_by_cid(struct tcp_table *t, uint32_t cid);
/* The same, only if owner's. */
struct tcp_conn *tcp_conn_owned(struct tcp_table *t, uint32_t owner, uint32_t cid);
struct tcp_listener *tcp_lis_owned(struct tcp_table *t, uint32_t owner, uint32_t cid);

/* A fresh CLOSED slot (defaults set, gen bumped), or NULL when the table is full even after
 * taking the TIME-WAIT closest to its end (tcp_time_wait_overflow; only with an io to announce
 * its TCP_EV_FREED on: io NULL takes free slots only). */
struct tcp_conn *tcp_conn_alloc(struct tcp_table *t, uint64_t now, struct tcp_io *io);
/* Free the slot: off every hash and queue, timers gone; keeps gen and untaken events. */
void tcp_conn_free(struct tcp_table *t, struct tcp_conn *c);
struct tcp_listener *tcp_lis_alloc(struct tcp_table *t);
void tcp_lis_free(struct tcp_table *t, struct tcp_listener *l);

/* The 4-tuple hash (hashed states), the bind hash (every BOUND conn), the listener hash. */
void tcp_hash_insert(struct tcp_table *t, struct tcp_conn *c);
/* The 4-tuple's chain in hash[] (keyed: tests use it to place two connections in one). */
unsigned tcp_hash_bucket(const struct tcp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
			 uint16_t rport);
void tcp_hash_remove(struct tcp_table *t, struct tcp_conn *c);
void tcp_bhash_insert(struct tcp_table *t, struct tcp_conn *c);
void tcp_bhash_remove(struct tcp_table *t, struct tcp_conn *c);
void tcp_lhash_insert(struct tcp_table *t, struct tcp_listener *l);
void tcp_lhash_remove(struct tcp_table *t, struct tcp_listener *l);
struct tcp_conn *tcp_conn_find(struct tcp_table *t, uint32_t laddr, uint16_t lport,
			       uint32_t raddr, uint16_t rport);
/* The listener for a segment to laddr:lport: an exact address beats ANY (Linux). */
struct tcp_listener *tcp_listener_lookup(struct tcp_table *t, uint32_t laddr, uint16_t lport);

static inline unsigned tcp_bhash_bucket(uint16_t port_be)
{
	return ((unsigned)port_be ^ (unsigned)port_be >> 11) & (TCP_HASH_BUCKETS - 1);
}
static inline unsigned tcp_lhash_bucket(uint16_t port_be)
{
	return ((unsigned)port_be ^ (unsigned)port_be >> 8) & (TCP_LHASH_BUCKETS - 1);
}
/* Bounded walks: no table content can make the core loop. */
#define TCP_BHASH_FOR_EACH(t, port_be, i, steps)                                            \
	for ((i) = (t)->bhash[tcp_bhash_bucket(port_be)], (steps) = 0;                       \
	     (i) < TCP_CONNS_MAX && (steps) < TCP_CONNS_MAX;                                 \
	     (i) = (t)->conn[(i)].bnext, (steps)++)
#define TCP_LHASH_FOR_EACH(t, port_be, i, steps)                                            \
	for ((i) = (t)->lhash[tcp_lhash_bucket(port_be)], (steps) = 0;                       \
	     (i) < TCP_LISTENERS_MAX && (steps) < TCP_LISTENERS_MAX;                         \
	     (i) = (t)->lis[(i)].hnext, (steps)++)

/* Arm one of c's timers (a field of c) at `when` and keep the deadline cache honest: the
 * only way a timer is armed. Disarming is writing 0 (the cache may then be early, which costs
 * one scan, never a missed timer). */
void tcp_timer_arm(struct tcp_table *t, struct tcp_conn *c, uint64_t *timer, uint64_t when);
/* c's earliest armed timer, CLOCK_NEVER when none. */
uint64_t tcp_conn_deadline(const struct tcp_conn *c);

/* Mark / clear c's output as owed to a later tcp_output_deferred (io was full). */
void tcp_defer_set(struct tcp_table *t, struct tcp_conn *c);
void tcp_defer_clear(struct tcp_table *t, struct tcp_conn *c);

/* --- tcp_user.c --- */

/* Another socket holds port on an address overlapping addr and may not share it (Linux
 * inet_csk_bind_conflict without SO_REUSEPORT): both need SO_REUSEADDR and the other must not
 * be listening. self (may be NULL) is skipped; reuse is the binding socket's SO_REUSEADDR. */
bool tcp_bind_conflict(const struct tcp_table *t, const struct tcp_conn *self,
		       const struct tcp_listener *self_lis, uint32_t addr, uint16_t port_be,
		       bool reuse);
/* What tcp_info reports of c, whoever owns it (tcp_diag.c lists orphans and children too). */
void tcp_info_of(const struct tcp_conn *c, uint64_t now, struct tcp_info_lite *out);
/* Linux's SO_RCVBUF/SO_SNDBUF arithmetic. */
uint32_t tcp_rcvbuf_size(int val);
uint32_t tcp_sndbuf_size(int val);
/* The largest rcv_buf / snd_buf c may have (tcp_set_buf_max, else the defaults' maxima). */
static inline uint32_t tcp_rcv_buf_max(const struct tcp_conn *c)
{
	return c->rcv_buf_max ? c->rcv_buf_max : TCP_RMEM_MAX;
}
static inline uint32_t tcp_snd_buf_max(const struct tcp_conn *c)
{
	return c->snd_buf_max ? c->snd_buf_max : TCP_WMEM_MAX;
}

/* --- tcp_input.c, for tcp_listen.c --- */

/* c's handshake is complete: ESTABLISHED, its windows, IW and keepalive set up. */
void tcp_establish(struct tcp_table *t, struct tcp_conn *c, uint64_t now);

/* --- tcp_listen.c --- */

/* A segment for listener l (no connection has its 4-tuple): SYN → a child in SYN-RECEIVED (or
 * a cookie SYN-ACK when the SYN queue is full), ACK → a SYN cookie or RST, RST ignored. */
void tcp_listen_input(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
		      const struct tcp_seg *seg, struct tcp_io *io, uint32_t tw_isn);
/* Child c (SYN-RECEIVED with a parent) completed its handshake: into the accept queue.
 * false when the accept queue is full (the ACK is dropped, Linux's default): c is then marked
 * TCP_F_ACKED and stays on the SYN queue until accept() makes room. */
bool tcp_child_established(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			   struct tcp_io *io);
/* Take c off its parent's SYN or accept queue. */
void tcp_child_unlink(struct tcp_table *t, struct tcp_conn *c);
/* close() / shutdown(SHUT_RD) of a listener: its children are reset. */
int tcp_listener_close(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
		       struct tcp_io *io);
int tcp_listener_shutdown(struct tcp_table *t, struct tcp_listener *l, uint64_t now, int how,
			  struct tcp_io *io);

/* --- tcp_input.c --- */

/* Parse and validate the header of seg_in into *seg (counts and returns -EINVAL on a bad
 * one). */
int tcp_seg_parse(struct tcp_table *t, const struct tcp_seg_in *in, struct tcp_seg *seg);
/* A parsed segment for connection c (any state but LISTEN and CLOSED). */
void tcp_conn_input(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		    const struct tcp_seg *seg, struct tcp_io *io);
/* Negotiate the options of a SYN into a new connection c (RFC 7323, RFC 2018, RFC 9293
 * §3.7.1): flags, scales, TS.Recent, peer MSS. */
void tcp_syn_options(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		     const struct tcp_opts *o);

/* --- tcp_output.c --- */

/* Send whatever c may send now (data, FIN, ACK owed), within cwnd/rwnd/Nagle/SWS. */
void tcp_output(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* An ACK now (no data), with SACK blocks. */
void tcp_send_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), within TCP_CHALLENGE_ACK_LIMIT a second. */
void tcp_send_challenge_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			    struct tcp_io *io);
/* Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first or retransmitted. */
int tcp_send_syn(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* A reset answering seg (RFC 9293 §3.10.7.1 rules for seq/ack), for no connection. */
void tcp_send_rst_reply(struct tcp_table *t, const struct tcp_seg *seg, struct tcp_io *io);
/* A reset of c (abort): seq = snd_nxt. */
void tcp_send_rst(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* A zero-window probe or keepalive: seq = snd_una - 1, no data (Linux tcp_xmit_probe_skb). */
int tcp_send_probe(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* Push up to min(usable window, MSS) bytes regardless of Nagle and SWS (persist timer with an
 * open but small window). 0 if something was sent. */
int tcp_output_force(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* Tail loss probe (tcp_rack.c): one new segment of at most one MSS, ignoring cwnd, Nagle and
 * SWS but not the peer's window; 0 if one was sent, else -EAGAIN (or io full). */
int tcp_output_probe(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io);
/* Tail loss probe: the last MSS sent (and our FIN, if sent) again, whatever the windows.
 * -EAGAIN with nothing outstanding, -ENOBUFS when io is full (nothing changed). */
int tcp_retransmit_tail(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			struct tcp_io *io);
/* Retransmit the first unacknowledged segment (an RTO, a PMTU drop). */
void tcp_retransmit_head(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			 struct tcp_io *io);
/* The MSS we advertise for a path of mtu bytes (mtu - 40, clamped by mss_clamp). */
uint16_t tcp_adv_mss(const struct tcp_conn *c, uint16_t mtu);
/* Recompute snd_mss from peer_mss, pmtu, mss_clamp, options and the peer's largest window
 * (RFC 9293 §3.7.1, Linux tcp_sync_mss / tcp_bound_to_half_wnd). */
void tcp_sync_mss(struct tcp_conn *c);
/* Our receive window in bytes (unscaled), and whether it may grow now: RFC 9293 §3.8.6.2.2
 * receiver SWS avoidance, never moving the right edge left (RFC 7323 §2.4). */
uint32_t tcp_rcv_window(const struct tcp_conn *c);
/* The window scale we offer for a receive buffer of rcv_buf (Linux: fits tcp_rmem[2]). */
uint8_t tcp_rcv_wscale(const struct tcp_conn *c);
/* Arm the persist timer if data waits, nothing is in flight and no timer would send it. */
void tcp_check_probe_timer(struct tcp_table *t, struct tcp_conn *c, uint64_t now);
/* The retransmission timeout with backoff, clamped by TCP_USER_TIMEOUT's remainder. */
uint64_t tcp_rto_ns(const struct tcp_conn *c, uint64_t now);

/* --- tcp_timer.c --- */

/* Linux tcp_model_timeout: how long `boundary` retransmissions with exponential backoff from
 * rto_base take (capped at TCP_RTO_MAX_NS each). */
uint64_t tcp_model_timeout(unsigned boundary, uint64_t rto_base_ns);
/* Keepalive: (re)arm c's keepalive timer from now (no-op unless SO_KEEPALIVE). */
void tcp_keepalive_reset(struct tcp_table *t, struct tcp_conn *c, uint64_t now);

#endif
