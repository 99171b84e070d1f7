/* test_tcp_loss: loss recovery end to end through the state machine (tcp_input.c ACK
 * processing, tcp_output.c's retransmission order, tcp_recovery.c, tcp_sack.c): Limited
 * Transmit and fast retransmit on the third duplicate ACK with NewReno's partial ACKs (RFC
 * 5681, RFC 3042, RFC 6582); SACK recovery that repairs a second hole before the first is
 * acknowledged (RFC 6675); an RTO's go-back-N that skips what the peer SACKed (RFC 6675 §5.1);
 * RTT samples from timestamps and Karn's rule for retransmitted data. */
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_tcp.h"

#define MSS 1460u
#define S(i) (1001u + (i) * MSS) /* the i-th segment's first sequence number */

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

static struct tcp_conn *sender(uint32_t *cid, bool sack, uint32_t bytes)
{
	struct tcp_conn *c = th_conn(&w, SPEC(.sack = sack, .flags = TCP_F_NODELAY,
					      .snd_buf = 1u << 20, .snd_wnd = 60000),
				     cid);

	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, *cid, w.now, IPPROTO_TCP, TCP_CONGESTION,
				    "reno", 4, &w.io),
			 0);
	ck_assert_uint_eq(c->cc.cwnd, 10 * MSS); /* RFC 6928 */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, *cid, w.now, bytes, 0, &w.io), 0);
	for (unsigned i = 0; i < 10; i++)
		expect_tx(&w, .seq = S(i), .len = MSS);
	expect_no_tx(&w, w.now);
	return c;
}

/* A duplicate ACK from the peer, with SACK blocks [S(a), S(b)) ... */
static void dupack(uint32_t ack, unsigned nblk, const uint32_t *blk)
{
	struct th_seg s = *SEG(.seq = 5001, .ack = ack, .wnd = 60000);

	s.n_sack = (uint8_t)nblk;
	for (unsigned i = 0; i < nblk; i++) {
		s.sack[i].start = S(blk[2 * i]);
		s.sack[i].end = S(blk[2 * i + 1]);
	}
	w.now += TH_MS; /* ACKs arrive apart, and after what they acknowledge was sent (RACK) */
	th_in(&w, &s);
}

START_TEST(fast_retransmit_newreno)
{
	uint32_t cid;
	struct tcp_conn *c = sender(&cid, false, 40 * MSS);

	/* S0 is lost; S1.. arrive and each gets a duplicate ACK */
	dupack(S(0), 0, NULL);
	expect_tx(&w, .seq = S(10), .len = MSS); /* Limited Transmit (RFC 3042) */
	dupack(S(0), 0, NULL);
	expect_tx(&w, .seq = S(11), .len = MSS);
	dupack(S(0), 0, NULL);
	expect_tx(&w, .seq = S(0), .len = MSS); /* the fast retransmit */
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(w.t->stats.tcp_fast_retrans, 1);
	ck_assert_uint_eq(w.t->stats.tcp_reno_recovery, 1);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 1);
	/* more duplicates inflate the window: new data */
	for (unsigned i = 0; i < 6; i++)
		dupack(S(0), 0, NULL);
	ck_assert_uint_gt(w.io.n_tx, w.seen);
	while (w.seen < w.io.n_tx)
		ck_assert_uint_ge(expect_tx(&w, .len = MSS)->seq, S(12));
	/* a partial ACK (S5 was lost too): its head goes at once (RFC 6582 step 5) */
	dupack(S(5), 0, NULL);
	expect_tx(&w, .seq = S(5), .len = MSS);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	/* everything up to recover: recovery ends */
	while (w.seen < w.io.n_tx)
		expect_tx(&w);
	dupack(c->snd_max - c->snd_una > 0 ? c->cc.recover : c->snd_max, 0, NULL);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 2);
}
END_TEST

START_TEST(sack_recovery_two_holes)
{
	uint32_t cid;
	struct tcp_conn *c = sender(&cid, true, 40 * MSS);
	static const uint32_t b1[] = {1, 2}, b2[] = {1, 3}, b3[] = {1, 4};
	static const uint32_t b5[] = {5, 6, 1, 4}, b6[] = {5, 7, 1, 4}, b7[] = {5, 8, 1, 4};
	static const uint32_t b8[] = {5, 9, 1, 4}, b9[] = {5, 10, 1, 4};
	unsigned rtx_s4 = 0;

	/* S0 and S4 are lost */
	dupack(S(0), 1, b1);
	dupack(S(0), 1, b2);
	dupack(S(0), 1, b3);
	/* three segments SACKed above S0: lost (RFC 6675 IsLost), retransmitted */
	while (w.seen < w.io.n_tx) {
		const struct tcp_tx *tx = expect_tx(&w);

		if (tx->seq == S(0))
			break;
		ck_assert_uint_ge(tx->seq, S(10)); /* only new data before it */
	}
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(w.t->stats.tcp_sack_recovery, 1);
	/* S5.. arrive: with three SACKed segments above it S4 is lost, and it is sent again as
	 * soon as the pipe leaves room in cwnd (half of 10 segments: RFC 6675 (C)), before any
	 * cumulative ACK moves */
	dupack(S(0), 2, b5);
	dupack(S(0), 2, b6);
	dupack(S(0), 2, b7);
	dupack(S(0), 2, b8);
	dupack(S(0), 2, b9);
	while (w.seen < w.io.n_tx) {
		const struct tcp_tx *tx = expect_tx(&w);

		ck_assert_uint_ne(tx->seq, S(0)); /* never twice */
		if (tx->seq == S(4))
			rtx_s4++;
		else
			ck_assert_uint_ge(tx->seq, S(10));
	}
	ck_assert_uint_eq(rtx_s4, 1);
	ck_assert_uint_eq(c->snd_una, S(0));
	/* both repaired: all acknowledged, recovery over */
	th_in(&w, SEG(.seq = 5001, .ack = c->snd_max, .wnd = 60000));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(c->sb.n, 0);
}
END_TEST

START_TEST(rto_skips_sacked_data)
{
	uint32_t cid;
	struct tcp_conn *c = sender(&cid, true, 10 * MSS);
	static const uint32_t b[] = {2, 10};

	/* only one dup ACK: no fast retransmit; S0 and S1 lost, S2..S9 SACKed */
	dupack(S(0), 1, b);
	while (w.seen < w.io.n_tx)
		expect_tx(&w);
	th_at(&w, c->t_rtx);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	expect_tx(&w, .seq = S(0), .len = MSS);
	/* the ACK of S0: go-back-N sends S1 and skips the SACKed S2..S9 */
	th_in(&w, SEG(.seq = 5001, .ack = S(1), .wnd = 60000, .n_sack = 1,
		      .sack = {{S(2), S(10)}}));
	expect_tx(&w, .seq = S(1), .len = MSS);
	expect_no_tx(&w, w.now);
	th_in(&w, SEG(.seq = 5001, .ack = S(10), .wnd = 60000));
	ck_assert_uint_eq(c->snd_una, c->snd_max);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
}
END_TEST

START_TEST(rtt_from_timestamps_and_karn)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.ts = true, .ts_recent = 10,
					      .flags = TCP_F_NODELAY),
				     &cid);
	const struct tcp_tx *tx;
	struct th_txopt o;

	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	tx = expect_tx(&w, .len = 100, .tsecr = 10);
	th_tx_opts(tx, &o);
	/* the peer echoes our TSval 30 ms later: a 30 ms sample */
	w.now += 30 * TH_MS;
	th_in(&w, SEG(.seq = 5001, .ack = 1101, .ts = true, .tsval = 11, .tsecr = o.tsval));
	ck_assert_uint_eq(c->rtt.srtt_us, 30000);
	ck_assert_uint_eq(c->ts_recent, 11);
	/* a retransmitted segment acknowledged without timestamps is not timed (Karn) */
	c->flags &= ~TCP_F_TS_OK;
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 1101, .len = 100);
	th_at(&w, c->t_rtx);
	expect_tx(&w, .seq = 1101, .len = 100);
	w.now += 500 * TH_MS;
	th_in(&w, SEG(.seq = 5001, .ack = 1201));
	ck_assert_uint_eq(c->rtt.srtt_us, 30000);
}
END_TEST

/* --- tail loss probes (RFC 8985 §7) --- */

#define SRTT_MS 10u

/* A SACK sender with SRTT = 10 ms (so PTO = 22 ms with more than one segment in flight,
 * RTO = 200 ms, TCP_RTO_MIN) that sends `bytes` (10 segments go: IW). */
static struct tcp_conn *tlp_sender(uint32_t *cid, bool sack, uint32_t bytes)
{
	struct tcp_conn *c = th_conn(&w, SPEC(.sack = sack, .flags = TCP_F_NODELAY,
					      .snd_buf = 1u << 20, .snd_wnd = 60000),
				     cid);

	tcp_rtt_sample(&c->rtt, SRTT_MS * 1000u);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&c->rtt), 200 * TH_MS);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, *cid, w.now, bytes, 0, &w.io), 0);
	for (unsigned i = 0; i < 10 && S(i) - 1001 < bytes; i++)
		expect_tx(&w, .seq = S(i));
	return c;
}

START_TEST(tlp_sends_new_data_at_pto)
{
	uint32_t cid;
	uint64_t t0 = w.now;
	struct tcp_conn *c = tlp_sender(&cid, true, 20 * MSS);

	/* PTO = 2·SRTT + 2 ms, well before the RTO */
	ck_assert_uint_eq(c->t_tlp, t0 + (2 * SRTT_MS + 2) * TH_MS);
	ck_assert_uint_eq(c->t_rtx, t0 + 200 * TH_MS);
	expect_no_tx(&w, c->t_tlp - 1);
	/* cwnd is full, but the probe is one new segment (the peer's window allows it) */
	th_at(&w, c->t_tlp);
	expect_tx(&w, .seq = S(10), .len = MSS);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 1);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 0);
	ck_assert_uint_eq(c->tlp_high_seq, S(11));
	/* §7.3: the RTO is re-armed from the probe, no second PTO */
	ck_assert_uint_eq(c->t_rtx, w.now + 200 * TH_MS);
	ck_assert_uint_eq(c->t_tlp, 0);
	/* one probe per flight: an ACK below the probe's end does not allow another */
	th_in(&w, SEG(.seq = 5001, .ack = S(5), .wnd = 60000));
	while (w.seen < w.io.n_tx)
		ck_assert_uint_ge(expect_tx(&w)->seq, S(11)); /* new data the ACK clocked out */
	ck_assert_uint_eq(c->t_tlp, 0);
	ck_assert(c->tlp_flags & TCP_TLP_OUT);
	/* the ACK that covers the probe ends the episode, and the PTO runs again */
	th_in(&w, SEG(.seq = 5001, .ack = S(11), .wnd = 60000));
	ck_assert_uint_eq(c->tlp_flags, 0);
	ck_assert_uint_ne(c->t_tlp, 0);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probe_recovery, 0);
}
END_TEST

/* RFC 8985 §7.2: only an ACK of new data restarts the PTO. A peer sending data of its own
 * more often than the PTO repeats the same ACK on every segment; had each restarted it, the
 * probe would wait for the RTO. */
START_TEST(tlp_not_held_off_by_peer_data)
{
	uint32_t cid, peer_seq = 5001;
	uint64_t pto_at;
	struct tcp_conn *c = tlp_sender(&cid, true, 10 * MSS);

	pto_at = c->t_tlp;
	ck_assert_uint_eq(pto_at, w.now + (2 * SRTT_MS + 2) * TH_MS);
	/* the flight is lost; the peer's data comes every 5 ms, acknowledging nothing new */
	while (w.now + 5 * TH_MS < pto_at) {
		w.now += 5 * TH_MS;
		th_in(&w, SEG(.seq = peer_seq, .ack = S(0), .len = 100, .wnd = 60000));
		peer_seq += 100;
		ck_assert_uint_eq(c->t_tlp, pto_at);
		ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	}
	ck_assert_uint_eq(c->rcv_nxt, peer_seq);
	while (w.seen < w.io.n_tx)
		ck_assert_uint_eq(expect_tx(&w)->payload_len, 0); /* ACKs of the peer's data */
	th_at(&w, pto_at);
	expect_tx(&w, .seq = S(9), .len = MSS);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 1);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
}
END_TEST

START_TEST(tlp_retransmits_tail)
{
	uint32_t cid;
	struct tcp_conn *c = tlp_sender(&cid, true, 10 * MSS);

	/* nothing new to send: the last segment again */
	th_at(&w, c->t_tlp);
	expect_tx(&w, .seq = S(9), .len = MSS);
	expect_no_tx(&w, c->t_rtx - 1);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 1);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 1);
	ck_assert(c->tlp_flags & TCP_TLP_RETRANS);
	/* both copies arrived: the D-SACK says nothing was lost, no reduction (slow start
	 * goes on) */
	th_in(&w, SEG(.seq = 5001, .ack = S(10), .wnd = 60000, .n_sack = 1,
		      .sack = {{S(9), S(10)}}));
	ck_assert_uint_eq(c->cc.ssthresh, TCP_SSTHRESH_INF);
	ck_assert_uint_gt(c->cc.cwnd, 10 * MSS);
	ck_assert_uint_eq(w.t->stats.tcp_dsack_recv, 1);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probe_recovery, 0);
	ck_assert_uint_eq(c->tlp_flags, 0);
	ck_assert_uint_eq(c->t_tlp, 0); /* nothing outstanding */
}
END_TEST

START_TEST(tlp_repairs_tail_loss)
{
	uint32_t cid;
	uint64_t acked_at;
	struct tcp_conn *c = tlp_sender(&cid, true, 10 * MSS);

	/* S0..S8 arrive, S9 is lost */
	w.now += SRTT_MS * TH_MS;
	th_in(&w, SEG(.seq = 5001, .ack = S(9), .wnd = 60000));
	acked_at = w.now;
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	/* one segment in flight: PTO = 2·SRTT + WCDelAckT (200 ms), capped by the RTO */
	ck_assert_uint_eq(tcp_tlp_pto_ns(c), 2 * c->rtt.srtt_us * 1000ull + 200 * TH_MS);
	ck_assert_uint_eq(c->t_tlp, c->t_rtx);
	ck_assert_uint_eq(c->t_rtx, acked_at + tcp_rtt_rto_ns(&c->rtt));
	/* the probe goes instead of the timeout */
	th_at(&w, c->t_tlp);
	expect_tx(&w, .seq = S(9), .len = MSS);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_gt(c->t_rtx, w.now);
	/* its ACK, without D-SACK: the probe repaired a loss, cwnd reduced once */
	{
		uint32_t cwnd = c->cc.cwnd;

		w.now += SRTT_MS * TH_MS;
		th_in(&w, SEG(.seq = 5001, .ack = S(10), .wnd = 60000));
		ck_assert_uint_lt(c->cc.cwnd, cwnd);
		ck_assert_uint_eq(c->cc.cwnd, c->cc.ssthresh);
	}
	ck_assert_uint_eq(w.t->stats.tcp_loss_probe_recovery, 1);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
	ck_assert_uint_eq(c->snd_una, c->snd_max);
	ck_assert_uint_eq(c->t_rtx, 0);
	ck_assert_uint_eq(c->t_tlp, 0);
}
END_TEST

START_TEST(tlp_not_in_recovery_nor_without_sack)
{
	uint32_t cid;
	struct tcp_conn *c = tlp_sender(&cid, true, 40 * MSS);
	static const uint32_t b1[] = {1, 2}, b2[] = {1, 3}, b3[] = {1, 4};

	ck_assert_uint_ne(c->t_tlp, 0);
	/* S0 lost: one SACK is DISORDER, already no probe */
	dupack(S(0), 1, b1);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	ck_assert_uint_eq(c->t_tlp, 0);
	dupack(S(0), 1, b2);
	dupack(S(0), 1, b3);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->t_tlp, 0);
	while (w.seen < w.io.n_tx)
		expect_tx(&w);
	/* silence until the RTO: no probe ever */
	expect_no_tx(&w, c->t_rtx - 1);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 0);
	th_at(&w, c->t_rtx);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert_uint_eq(c->t_tlp, 0);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 0);
}
END_TEST

/* A PTO due with the RTO: the probe goes instead of the timeout, and nothing is left armed in
 * the past (the probe's new data must not re-arm the PTO at the due RTO). */
START_TEST(tlp_due_with_rto)
{
	uint32_t cid;
	struct tcp_conn *c = tlp_sender(&cid, true, 20 * MSS);

	tcp_timer_arm(w.t, c, &c->t_rtx, c->t_tlp);
	th_at(&w, c->t_tlp);
	ck_assert_uint_gt(tcp_next_deadline(w.t), w.now); /* one pass did it all */
	expect_tx(&w, .seq = S(10), .len = MSS);
	expect_no_tx(&w, w.now);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 1);
	ck_assert_uint_eq(c->t_tlp, 0);
	ck_assert_uint_eq(c->t_rtx, w.now + 200 * TH_MS);
}
END_TEST

START_TEST(tlp_needs_sack)
{
	uint32_t cid;
	struct tcp_conn *c = tlp_sender(&cid, false, 10 * MSS);

	ck_assert_uint_eq(c->t_tlp, 0);
	expect_no_tx(&w, c->t_rtx - 1);
	ck_assert_uint_eq(w.t->stats.tcp_loss_probes, 0);
}
END_TEST

/* --- RACK (RFC 8985 §6) --- */

/* A SACK sender with SRTT = min_RTT = 10 ms (reo_wnd 2.5 ms) from iss, `bytes` queued, IW
 * sent at w.now; *base is the first segment's sequence number. */
static struct tcp_conn *rack_sender(uint32_t *cid, uint32_t iss, uint32_t bytes, uint32_t cwnd,
				    uint32_t *base)
{
	struct tcp_conn *c = th_conn(&w, SPEC(.iss = iss, .sack = true, .flags = TCP_F_NODELAY,
					      .snd_buf = 1u << 20, .snd_wnd = 60000,
					      .cwnd = cwnd),
				     cid);

	tcp_rtt_sample(&c->rtt, SRTT_MS * 1000u);
	*base = c->snd_una;
	if (bytes)
		ck_assert_int_eq(tcp_send(w.t, TH_OWNER, *cid, w.now, bytes, 0, &w.io), 0);
	return c;
}

static void sack_ack(uint32_t ack, uint32_t s0, uint32_t e0)
{
	struct th_seg s = *SEG(.seq = 5001, .ack = ack, .wnd = 60000);

	if (s0 != e0) {
		s.n_sack = 1;
		s.sack[0].start = s0;
		s.sack[0].end = e0;
	}
	th_in(&w, &s);
}

static void drain_tx(void)
{
	while (w.seen < w.io.n_tx)
		expect_tx(&w);
}

/* The retransmission of S0 is lost too: RACK sees data sent after it delivered and sends it
 * again, where RFC 6675 waits for the RTO. */
static void rack_lost_retransmission_at(uint32_t iss)
{
	uint32_t cid, b;
	struct tcp_conn *c = rack_sender(&cid, iss, 30 * MSS, 0, &b);
#define B(k) (b + (k) * MSS)

	for (unsigned i = 0; i < 10; i++)
		expect_tx(&w, .seq = B(i), .len = MSS);
	/* S0 lost, S1..S9 SACKed: sent in one burst before them, S0 is lost at once (no
	 * reordering seen, DupThresh segments SACKed: reo_wnd 0) */
	w.now += SRTT_MS * TH_MS;
	sack_ack(B(0), B(1), B(10));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert(tcp_rack_active(c));
	expect_tx(&w, .seq = B(0), .len = MSS);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 1);
	while (w.seen < w.io.n_tx)
		ck_assert_uint_ge(expect_tx(&w)->seq, B(10)); /* new data within the pipe */
	ck_assert_uint_gt(c->snd_max, B(10));
	/* the new data arrives, the retransmission does not */
	w.now += SRTT_MS * TH_MS;
	sack_ack(B(0), B(1), c->snd_max);
	expect_tx(&w, .seq = B(0), .len = MSS);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 2);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	drain_tx();
	/* the second one arrives: recovery ends without a timeout */
	w.now += SRTT_MS * TH_MS;
	sack_ack(c->snd_max, 0, 0);
	drain_tx();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
#undef B
}

START_TEST(rack_lost_retransmission)
{
	rack_lost_retransmission_at(1000);
}
END_TEST

START_TEST(rack_wraparound)
{
	/* the flight and its ranges cross 2^32 */
	rack_lost_retransmission_at(0xffffffffu - 3 * MSS);
}
END_TEST

START_TEST(rack_reordering_within_window)
{
	uint32_t cid, b;
	struct tcp_conn *c = rack_sender(&cid, 1000, 10 * MSS, 0, &b);

	drain_tx();
	ck_assert_uint_eq(tcp_rack_reo_wnd_us(c), SRTT_MS * 1000u / 4);
	/* S1 arrives before S0: S0 may be late, not lost — the reordering timer waits */
	w.now += SRTT_MS * TH_MS;
	sack_ack(b, b + MSS, b + 2 * MSS);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	ck_assert_uint_eq(c->t_reo, w.now + 2500 * 1000ull);
	ck_assert_uint_eq(w.io.n_tx, w.seen);
	/* S0 comes 1 ms later: reordering, nothing was lost, nothing is sent again */
	w.now += TH_MS;
	sack_ack(b + 2 * MSS, 0, 0);
	ck_assert_uint_eq(c->rack.reordering_seen, 1);
	ck_assert_uint_eq(c->t_reo, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	sack_ack(b + 10 * MSS, 0, 0);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 0);
	ck_assert_uint_eq(w.t->stats.tcp_fast_retrans, 0);
}
END_TEST

START_TEST(rack_reo_timer_marks_loss)
{
	uint32_t cid, b;
	struct tcp_conn *c = rack_sender(&cid, 1000, 10 * MSS, 0, &b);

	drain_tx();
	w.now += SRTT_MS * TH_MS;
	sack_ack(b, b + MSS, b + 2 * MSS);
	ck_assert_uint_ne(c->t_reo, 0);
	/* S0 never comes: when its window ends it is lost, one SACK was enough */
	expect_no_tx(&w, c->t_reo - 1);
	th_at(&w, c->t_reo);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	expect_tx(&w, .seq = b, .len = MSS);
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 0);
	ck_assert_uint_eq(w.t->stats.tcp_fast_retrans, 1);
}
END_TEST

START_TEST(rack_dsack_grows_reo_wnd)
{
	uint32_t cid, b;
	struct tcp_conn *c = rack_sender(&cid, 1000, 10 * MSS, 0, &b);
	struct th_seg s;

	drain_tx();
	ck_assert_uint_eq(tcp_rack_reo_wnd_us(c), 2500);
	/* a D-SACK (below the ACK): a retransmission was spurious, the window doubles */
	w.now += SRTT_MS * TH_MS;
	s = *SEG(.seq = 5001, .ack = b + 5 * MSS, .wnd = 60000, .n_sack = 1,
		 .sack = {{b, b + MSS}});
	th_in(&w, &s);
	ck_assert_uint_eq(c->rack.reo_wnd_mult, 2);
	ck_assert_uint_eq(tcp_rack_reo_wnd_us(c), 5000);
	/* once per round trip: another D-SACK before the round ends changes nothing */
	s.ack = b + 6 * MSS;
	s.sack[0].start = b + MSS;
	s.sack[0].end = b + 2 * MSS;
	th_in(&w, &s);
	ck_assert_uint_eq(c->rack.reo_wnd_mult, 2);
	/* the next round's D-SACK grows it again; never beyond SRTT */
	s.ack = b + 10 * MSS;
	s.sack[0].start = b + 2 * MSS;
	s.sack[0].end = b + 3 * MSS;
	th_in(&w, &s);
	ck_assert_uint_eq(c->rack.reo_wnd_mult, 3);
	ck_assert_uint_eq(tcp_rack_reo_wnd_us(c), 7500);
	c->rack.reo_wnd_mult = 9;
	ck_assert_uint_eq(tcp_rack_reo_wnd_us(c), c->rtt.srtt_us);
	/* it persists for 16 recoveries, then falls back */
	c->rack.reo_wnd_mult = 3;
	for (unsigned i = 0; i < 15; i++)
		tcp_rack_recovery_done(c);
	ck_assert_uint_eq(c->rack.reo_wnd_mult, 3);
	tcp_rack_recovery_done(c);
	ck_assert_uint_eq(c->rack.reo_wnd_mult, 1);
}
END_TEST

START_TEST(rack_table_overflow_falls_back)
{
	uint32_t cid, b;
	struct tcp_conn *c = rack_sender(&cid, 1000, 0, 100 * MSS, &b);
	static const uint32_t b1[] = {1, 2}, b2[] = {1, 3}, b3[] = {1, 4};

	/* one segment every 3 ms (more than min_RTT/4 apart): a range each */
	for (unsigned i = 0; i < TCP_RACK_SEGS_MAX; i++) {
		ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, MSS, 0, &w.io), 0);
		expect_tx(&w, .seq = b + i * MSS, .len = MSS);
		ck_assert(tcp_rack_active(c));
		ck_assert_uint_eq(c->rack.n, i + 1);
		w.now += 3 * TH_MS;
	}
	/* one more than the table holds: RACK gives up for this flight */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, MSS, 0, &w.io), 0);
	expect_tx(&w, .seq = b + TCP_RACK_SEGS_MAX * MSS, .len = MSS);
	ck_assert(!tcp_rack_active(c));
	ck_assert_uint_eq(c->rack.valid, 0);
	ck_assert_uint_eq(w.t->stats.tcp_rack_overflow, 1);
	/* RFC 6675 decides: one SACK is not enough (RACK would have marked S0 lost), the
	 * third is */
	dupack(S(0), 1, b1);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	ck_assert_uint_eq(c->t_reo, 0);
	dupack(S(0), 1, b2);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	dupack(S(0), 1, b3);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	expect_tx(&w, .seq = S(0), .len = MSS);
	drain_tx();
	/* once the flight drains, the next one is tracked again */
	sack_ack(c->snd_max, 0, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, MSS, 0, &w.io), 0);
	drain_tx();
	ck_assert(tcp_rack_active(c));
	ck_assert_uint_eq(c->rack.n, 1);
}
END_TEST

/* S0 was only late: its retransmission comes back D-SACKed, the recovery was spurious and
 * its window reduction is undone (Linux TCPDSACKUndo). */
START_TEST(dsack_undoes_spurious_recovery)
{
	uint32_t cid, b, cwnd0;
	struct tcp_conn *c = rack_sender(&cid, 1000, 20 * MSS, 0, &b);
	struct th_seg s;

	drain_tx();
	cwnd0 = c->cc.cwnd;
	w.now += SRTT_MS * TH_MS;
	sack_ack(b, b + MSS, b + 10 * MSS);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	expect_tx(&w, .seq = b, .len = MSS);
	drain_tx();
	ck_assert_uint_lt(c->cc.cwnd, cwnd0);
	ck_assert_uint_eq(c->undo_retrans, 1);
	/* the original arrives: everything is acknowledged, the recovery ends reduced */
	w.now += TH_MS;
	sack_ack(c->snd_max, 0, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_lt(c->cc.cwnd, cwnd0);
	/* a D-SACK for data the recovery did not retransmit (below it) undoes nothing */
	s = *SEG(.seq = 5001, .ack = c->snd_una, .wnd = 60000, .n_sack = 1,
		 .sack = {{b - MSS, b}});
	th_in(&w, &s);
	ck_assert_uint_eq(w.t->stats.tcp_dsack_undo, 0);
	/* then the retransmission, D-SACKed: nothing was lost */
	s.sack[0].start = b;
	s.sack[0].end = b + MSS;
	th_in(&w, &s);
	ck_assert_uint_eq(w.t->stats.tcp_dsack_undo, 1);
	ck_assert_uint_ge(c->cc.cwnd, cwnd0);
	ck_assert_uint_eq(c->cc.ssthresh, TCP_SSTHRESH_INF);
	ck_assert_uint_eq(c->undo_on, 0);
	/* once: a second D-SACK changes nothing */
	th_in(&w, &s);
	ck_assert_uint_eq(w.t->stats.tcp_dsack_undo, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_loss");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fast_retransmit_newreno);
	tcase_add_test(tc, sack_recovery_two_holes);
	tcase_add_test(tc, rto_skips_sacked_data);
	tcase_add_test(tc, rtt_from_timestamps_and_karn);
	tcase_add_test(tc, tlp_sends_new_data_at_pto);
	tcase_add_test(tc, tlp_not_held_off_by_peer_data);
	tcase_add_test(tc, tlp_retransmits_tail);
	tcase_add_test(tc, tlp_repairs_tail_loss);
	tcase_add_test(tc, tlp_not_in_recovery_nor_without_sack);
	tcase_add_test(tc, tlp_due_with_rto);
	tcase_add_test(tc, tlp_needs_sack);
	tcase_add_test(tc, rack_lost_retransmission);
	tcase_add_test(tc, rack_wraparound);
	tcase_add_test(tc, rack_reordering_within_window);
	tcase_add_test(tc, rack_reo_timer_marks_loss);
	tcase_add_test(tc, rack_dsack_grows_reo_wnd);
	tcase_add_test(tc, rack_table_overflow_falls_back);
	tcase_add_test(tc, dsack_undoes_spurious_recovery);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
