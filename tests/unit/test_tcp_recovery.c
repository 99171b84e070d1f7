/* test_tcp_recovery: loss recovery (servers/tcp/tcp_recovery.c) — the handshake's end (IW, one
 * segment after a lost SYN, the 3 s RTO), Limited Transmit, NewReno fast retransmit with
 * FlightSize without Limited Transmit, inflation, partial ACKs (deflation, the head again),
 * the full ACK's deflation, no second fast retransmit before `recover` is passed (also after
 * an RTO); SACK recovery entered by DupThresh or by IsLost, SetPipe-based allowance, the
 * RFC 6675 §5.1 gate; RTO: ssthresh, LW, go-back-N, backoff, ssthresh held on a repeated
 * timeout, LOSS until recover, the allowance in LOSS; CUBIC's β through recovery; counters.
 *
 * SMSS is 1000 bytes; segment k is [1000k, 1000k + 1000) above a base sequence. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define MS 1000000ull
#define S 1000000000ull
#define SMSS 1000u

static struct tcp_table *t;
static struct tcp_conn *c;
static uint32_t base; /* sequence number of segment 0 */

static uint32_t seg(unsigned k)
{
	return base + k * SMSS;
}

static void setup_conn(enum tcp_cc_algo algo, bool sack, uint32_t at)
{
	memset(c, 0, sizeof(*c));
	base = at;
	c->iss = base - 1;
	c->snd_una = c->snd_nxt = c->snd_max = c->write_seq = base;
	c->snd_mss = SMSS;
	c->cc.algo = (uint8_t)algo;
	c->snd_wnd = 1u << 20;
	if (sack)
		c->flags |= TCP_F_SACK_OK;
	tcp_rtt_init(&c->rtt);
	tcp_recovery_init(c, 0, false);
}

static void setup(void)
{
	t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	setup_conn(TCP_CC_NEWRENO, false, 1000);
}

static void teardown(void)
{
	free(c);
	free(t);
}

/* The sender sends n new segments. */
static void send_new(unsigned n)
{
	c->snd_max += n * SMSS;
	c->snd_nxt = c->snd_max;
	if (SEQ_GT(c->snd_max, c->write_seq))
		c->write_seq = c->snd_max;
}

/* An ACK arrives for `ack` with these SACK blocks (as tcp_input would process it). */
static void ack_in(uint32_t ack, unsigned nsack, const struct tcp_range *blocks, uint64_t now)
{
	struct tcp_ack_info ai;
	uint32_t prior = c->snd_una;

	memset(&ai, 0, sizeof(ai));
	if (SEQ_GT(ack, c->snd_una)) {
		ai.acked = ack - c->snd_una;
		c->snd_una = ack;
		if (SEQ_LT(c->snd_nxt, ack))
			c->snd_nxt = ack;
		tcp_sack_advance(&c->sb, ack);
	}
	if ((c->flags & TCP_F_SACK_OK) && nsack) {
		struct tcp_opts o;
		bool d;

		memset(&o, 0, sizeof(o));
		o.present = TCP_OPTF_SACK;
		o.n_sack = (uint8_t)nsack;
		memcpy(o.sack, blocks, nsack * sizeof(*blocks));
		ai.sacked = tcp_sack_update(&c->sb, c->snd_una, c->snd_max, &o, &d);
		ai.dsack = d;
	}
	ai.dup = prior == c->snd_una && c->snd_max != c->snd_una && (nsack == 0 || ai.sacked);
	tcp_recovery_on_ack(t, c, now, &ai);
}

#define R(s, e) ((struct tcp_range){(uint32_t)(s), (uint32_t)(e)})
#define DUPACK() ack_in(c->snd_una, 0, NULL, 0)
#define SACKACK(ack, ...)                                                                      \
	ack_in(ack, sizeof((struct tcp_range[]){__VA_ARGS__}) / sizeof(struct tcp_range),        \
	       (struct tcp_range[]){__VA_ARGS__}, 0)

START_TEST(handshake_end)
{
	/* IW 10 segments (RFC 6928 with SMSS 1000), recover = ISS, RTO untouched. */
	ck_assert_uint_eq(c->cc.cwnd, 10000);
	ck_assert_uint_eq(c->cc.ssthresh, TCP_SSTHRESH_INF);
	ck_assert_uint_eq(c->cc.recover, c->iss);
	ck_assert(c->flags & TCP_F_RECOVER_VALID);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&c->rtt), 1 * S);
	/* The SYN was retransmitted: one segment (RFC 5681 §3.1), RTO 3 s (RFC 6298 §5.7). */
	tcp_rtt_backoff(&c->rtt);
	tcp_recovery_init(c, 0, true);
	ck_assert_uint_eq(c->cc.cwnd, SMSS);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&c->rtt), 3 * S);
	/* A first ACK of data is not "covering more than recover" trouble: recover = ISS. */
	send_new(1);
	ack_in(seg(1), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.cwnd, 2 * SMSS);
}
END_TEST

START_TEST(open_allowance_and_growth)
{
	send_new(10);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0);
	ack_in(seg(2), 0, NULL, 0); /* 2 segments acked in slow start: cwnd 12 */
	ck_assert_uint_eq(c->cc.cwnd, 12000);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 12000 - 8000);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
}
END_TEST

START_TEST(newreno_fast_retransmit_and_recovery)
{
	/* 10 segments out, segment 0 lost. */
	send_new(10);
	/* Duplicates 1 and 2: DISORDER, Limited Transmit allows one new segment each. */
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	ck_assert_uint_eq(c->cc.dupacks, 1);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 1000); /* 10000 + 1000 - 10000 */
	send_new(1);
	DUPACK();
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 1000); /* 10000 + 2000 - 11000 */
	send_new(1);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0);
	ck_assert_uint_eq(c->cc.cwnd, 10000); /* Limited Transmit never changes cwnd */
	/* The third: fast retransmit. FlightSize = 12 segments, but the two sent by Limited
	 * Transmit do not count (RFC 5681 §3.2 step 2): ssthresh = 10000 / 2 = 5000,
	 * cwnd = 5000 + 3·1000 = 8000, recover = snd_max = segment 12. */
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->cc.ssthresh, 5000);
	ck_assert_uint_eq(c->cc.cwnd, 8000);
	ck_assert_uint_eq(c->cc.recover, seg(12));
	ck_assert(c->flags & TCP_F_RTX_HEAD);
	ck_assert_uint_eq(c->cc.prior_cwnd, 10000);
	ck_assert_uint_eq(t->stats.tcp_fast_retrans, 1);
	ck_assert_uint_eq(t->stats.tcp_reno_recovery, 1);
	ck_assert_uint_eq(t->stats.tcp_sack_recovery, 0);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0); /* 8000 - 12000 */
	c->flags &= ~TCP_F_RTX_HEAD; /* tcp_output retransmitted segment 0 */
	/* Five more duplicates inflate cwnd to 13000: one new segment may go. */
	for (int i = 0; i < 5; i++)
		DUPACK();
	ck_assert_uint_eq(c->cc.cwnd, 13000);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 1000);
	send_new(1); /* segment 12 */
	/* Partial ACK: segments 0-2 arrived, 3 was lost too (ack = segment 3 < recover).
	 * cwnd = 13000 - 3000 + 1000 = 11000, the head (segment 3) is retransmitted. */
	ack_in(seg(3), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->cc.cwnd, 11000);
	ck_assert(c->flags & TCP_F_RTX_HEAD);
	ck_assert_uint_eq(t->stats.tcp_fast_retrans, 2);
	c->flags &= ~TCP_F_RTX_HEAD;
	/* A partial ACK of less than one SMSS adds nothing back: 11000 - 500. */
	ack_in(seg(3) + 500, 0, NULL, 0);
	ck_assert_uint_eq(c->cc.cwnd, 10500);
	/* No fast retransmit from duplicates inside recovery: they only inflate. */
	DUPACK();
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.cwnd, 13500);
	ck_assert_uint_eq(t->stats.tcp_reno_recovery, 1);
	/* The full ACK (ack = recover): deflate to min(ssthresh, max(FlightSize, SMSS) +
	 * SMSS) = min(5000, 1000 + 1000) with segment 12 still out. */
	ack_in(seg(12), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(c->cc.cwnd, 2000);
	ck_assert_uint_eq(c->cc.dupacks, 0);
	ck_assert(!(c->flags & TCP_F_RTX_HEAD));
	/* Back below ssthresh: slow start. */
	send_new(1);
	ack_in(seg(13), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.cwnd, 3000);
}
END_TEST

START_TEST(newreno_no_second_fast_retransmit)
{
	/* RFC 6582 §3.2 step 2: after recovery ends at recover, duplicates whose ACK does not
	 * cover more than recover start no new fast retransmit (and leave ssthresh alone). */
	send_new(10);
	DUPACK();
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.recover, seg(10));
	send_new(4); /* sent during recovery: segments 10..13 */
	ack_in(seg(10), 0, NULL, 0); /* full ACK */
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	{
		uint32_t ss = c->cc.ssthresh;

		/* Segment 10 lost too: duplicates at ack = recover. */
		DUPACK();
		DUPACK();
		DUPACK();
		DUPACK();
		ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
		ck_assert_uint_eq(c->cc.ssthresh, ss);
		ck_assert_uint_eq(t->stats.tcp_reno_recovery, 1);
	}
	/* Once the ACK covers more than recover, the third duplicate works again. */
	ack_in(seg(11), 0, NULL, 0);
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(t->stats.tcp_reno_recovery, 2);
}
END_TEST

START_TEST(rto_response)
{
	send_new(20);
	c->cc.cwnd = 20000;
	c->cc.ssthresh = 30000;
	c->snd_nxt = seg(20);
	tcp_rtt_start(&c->rtt, seg(19), 1 * S);
	/* RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2 SMSS) = 10000, cwnd = LW = 1000;
	 * RFC 6298: go-back-N from snd_una, backoff, Karn. */
	tcp_recovery_on_rto(t, c, 2 * S);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert_uint_eq(c->cc.ssthresh, 10000);
	ck_assert_uint_eq(c->cc.cwnd, 1000);
	ck_assert_uint_eq(c->snd_nxt, c->snd_una);
	ck_assert_uint_eq(c->rtt.backoff, 1);
	ck_assert_uint_eq(c->rtt.timing, 0);
	ck_assert_uint_eq(c->cc.recover, seg(20));
	ck_assert_uint_eq(t->stats.tcp_timeouts, 1);
	ck_assert_uint_eq(c->lost_out, 20);
	/* The allowance counts what go-back-N resent: 1000 - 0, then 0 once it is out. */
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 1000);
	c->snd_nxt = seg(1);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0);
	/* A second timeout with no ACK in between: ssthresh is held (RFC 5681 §3.1). */
	tcp_recovery_on_rto(t, c, 4 * S);
	ck_assert_uint_eq(c->cc.ssthresh, 10000);
	ck_assert_uint_eq(c->rtt.backoff, 2);
	ck_assert_uint_eq(c->snd_nxt, seg(0));
	/* An ACK of the retransmission: slow start, L = 1 SMSS after an RTO. */
	c->snd_nxt = seg(2);
	ack_in(seg(2), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.cwnd, 2000);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	/* Duplicates during LOSS start nothing. */
	DUPACK();
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert(!(c->flags & TCP_F_RTX_HEAD));
	/* A timeout after progress is a new event: ssthresh from the flight again, capped by
	 * cwnd (2000): max(2000 / 2, 2000) = 2000. */
	tcp_recovery_on_rto(t, c, 6 * S);
	ck_assert_uint_eq(c->cc.ssthresh, 2000);
	/* LOSS ends when the data outstanding at the RTO is acknowledged. */
	ack_in(seg(20), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(c->lost_out, 0);
}
END_TEST

START_TEST(no_fast_retransmit_after_rto_until_recover)
{
	send_new(10);
	tcp_recovery_on_rto(t, c, 1 * S); /* recover = segment 10 */
	c->snd_nxt = seg(3);
	ack_in(seg(3), 0, NULL, 0);
	send_new(0);
	/* Duplicates below recover: no fast retransmit (RFC 6582 §3.2 step 2 after step 4). */
	DUPACK();
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert_uint_eq(t->stats.tcp_fast_retrans, 0);
}
END_TEST

START_TEST(rto_ends_recovery)
{
	send_new(10);
	DUPACK();
	DUPACK();
	DUPACK();
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	send_new(2);
	tcp_recovery_on_rto(t, c, 1 * S);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert_uint_eq(c->cc.recover, seg(12)); /* RecoveryPoint = HighData (RFC 6675 §5.1) */
	ck_assert(!(c->flags & TCP_F_RTX_HEAD));
	ck_assert_uint_eq(c->cc.cwnd, SMSS);
}
END_TEST

START_TEST(sack_recovery_by_dupthresh)
{
	setup_conn(TCP_CC_NEWRENO, true, 0xfffff000u); /* across the wrap */
	send_new(10);
	/* Segment 0 lost; each duplicate SACKs one more segment. */
	SACKACK(seg(0), R(seg(1), seg(2)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	/* SetPipe: hole 0 not lost (1 range, 1000 bytes above), [2,10) in flight: 9000;
	 * RFC 6675 (3): one new segment. */
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 1000);
	SACKACK(seg(0), R(seg(1), seg(3)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_DISORDER);
	/* Third duplicate: fast retransmit; ssthresh = 10000 / 2, cwnd = ssthresh (RFC 6675
	 * (4.2)); HighRxt = RescueRxt = the retransmitted segment's end. */
	SACKACK(seg(0), R(seg(1), seg(4)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->cc.ssthresh, 5000);
	ck_assert_uint_eq(c->cc.cwnd, 5000);
	ck_assert(c->flags & TCP_F_RTX_HEAD);
	ck_assert_uint_eq(c->sb.high_rxt, seg(1));
	ck_assert_uint_eq(c->sb.rescue_rxt, seg(1));
	ck_assert_uint_eq(t->stats.tcp_sack_recovery, 1);
	ck_assert_uint_eq(t->stats.tcp_reno_recovery, 0);
	/* SetPipe now: hole 0 lost (3000 > 2000 SACKed above) but retransmitted: 1000; [4,10)
	 * not lost: 6000. cwnd 5000 - 7000: nothing more. */
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0);
	/* More SACKs shrink pipe; cwnd stays (no inflation in SACK recovery). */
	SACKACK(seg(0), R(seg(1), seg(7)));
	ck_assert_uint_eq(c->cc.cwnd, 5000);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 5000 - (1000 + 3000));
	/* A partial ACK (segment 0 repaired, 7 lost as well) sets no head retransmission in
	 * SACK recovery: NextSeg decides. */
	c->flags &= ~TCP_F_RTX_HEAD;
	SACKACK(seg(7), R(seg(8), seg(9)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert(!(c->flags & TCP_F_RTX_HEAD));
	/* The ACK of RecoveryPoint ends it; cwnd stays ssthresh. */
	ack_in(seg(10), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(c->cc.cwnd, 5000);
}
END_TEST

START_TEST(sack_recovery_by_islost)
{
	setup_conn(TCP_CC_NEWRENO, true, 5000);
	send_new(10);
	/* One duplicate reporting three separate SACKed segments: IsLost(snd_una) is true
	 * before DupThresh duplicates (RFC 6675 §5 step 2). */
	SACKACK(seg(0), R(seg(7), seg(8)), R(seg(5), seg(6)), R(seg(3), seg(4)));
	ck_assert_uint_eq(c->cc.dupacks, 1);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	/* The head's hole is [0, 3): the retransmission is one SMSS. */
	ck_assert_uint_eq(c->sb.high_rxt, seg(1));
}
END_TEST

START_TEST(sack_small_hole_head)
{
	setup_conn(TCP_CC_NEWRENO, true, 5000);
	send_new(10);
	/* Segments of 1000 but only 300 bytes missing at the head. */
	SACKACK(seg(0), R(seg(0) + 300, seg(4)));
	SACKACK(seg(0), R(seg(0) + 300, seg(5)));
	SACKACK(seg(0), R(seg(0) + 300, seg(6)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->sb.high_rxt, seg(0) + 300);
}
END_TEST

START_TEST(sack_gate_after_rto)
{
	setup_conn(TCP_CC_NEWRENO, true, 5000);
	send_new(10);
	tcp_recovery_on_rto(t, c, 1 * S);
	c->snd_nxt = seg(1);
	ack_in(seg(1), 0, NULL, 0);
	/* In LOSS, SACKs below RecoveryPoint start no recovery (RFC 6675 §5.1). */
	SACKACK(seg(1), R(seg(2), seg(3)));
	SACKACK(seg(1), R(seg(2), seg(4)));
	SACKACK(seg(1), R(seg(2), seg(5)));
	SACKACK(seg(1), R(seg(2), seg(6)));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_LOSS);
	ck_assert_uint_eq(t->stats.tcp_sack_recovery, 0);
	/* Go-back-N's allowance ignores SACKed bytes it skipped: snd_nxt at segment 6 with
	 * [2,6) SACKed means only segment 1 was resent. cwnd = 2000 after one ACK. */
	c->snd_nxt = seg(6);
	ck_assert_uint_eq(c->cc.cwnd, 2000);
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 2000 - 1000);
	/* The scoreboard survived the RTO and is used (RFC 6675 §5.1). */
	ck_assert(tcp_sack_is_sacked(&c->sb, seg(3)));
}
END_TEST

START_TEST(cubic_beta_in_recovery)
{
	setup_conn(TCP_CC_CUBIC, true, 5000);
	c->cc.cwnd = 20000;
	send_new(20);
	SACKACK(seg(0), R(seg(1), seg(2)));
	SACKACK(seg(0), R(seg(1), seg(3)));
	SACKACK(seg(0), R(seg(1), seg(4)));
	/* ssthresh = 0.7 · FlightSize (20000) = 14000 (RFC 9438 §4.6), cwnd = ssthresh. */
	ck_assert_uint_eq(c->cc.ssthresh, 14000);
	ck_assert_uint_eq(c->cc.cwnd, 14000);
	{
		struct tcp_cubic cu;

		tcp_cubic_load(c, &cu);
		ck_assert_uint_eq(cu.w_max, 20000);
		ck_assert_uint_eq(cu.epoch_start, 0);
	}
	/* The end of recovery starts the next epoch at the first ACK after it. */
	ack_in(seg(20), 0, NULL, 0);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	send_new(14);
	ack_in(seg(21), 0, NULL, 7 * S);
	{
		struct tcp_cubic cu;

		tcp_cubic_load(c, &cu);
		ck_assert_uint_eq(cu.epoch_start, 7 * S);
	}
}
END_TEST

START_TEST(dsack_counted)
{
	setup_conn(TCP_CC_NEWRENO, true, 5000);
	send_new(10);
	ack_in(seg(2), 0, NULL, 0);
	/* A D-SACK for segment 1 (below the ACK): counted, not a duplicate ACK's SACK. */
	SACKACK(seg(2), R(seg(1), seg(2)));
	ck_assert_uint_eq(t->stats.tcp_dsack_recv, 1);
	ck_assert_uint_eq(c->sb.dsack_seen, 1);
	ck_assert_uint_eq(c->sb.n, 0);
}
END_TEST

START_TEST(allowance_never_negative)
{
	send_new(10);
	c->cc.cwnd = 3000;
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 0);
	/* Torn values: snd_nxt outside [snd_una, snd_max] in LOSS, a huge flight. */
	c->cc.ca_state = TCP_CA_LOSS;
	c->snd_nxt = c->snd_una - 5;
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 3000);
	c->cc.ca_state = TCP_CA_OPEN;
	c->snd_max = c->snd_una - 1;
	ck_assert_uint_eq(tcp_recovery_send_allowance(c), 3000);
}
END_TEST

/* --- a whole SACK recovery, driven as tcp_output is told to (tcp_priv.h) ----------------- */

static bool rcvd[64];     /* the receiver's segments */
static unsigned rtx[16], n_rtx;

/* What tcp_output sends now: the head if marked, then NextSeg while a segment fits. */
static void output(void)
{
	uint32_t seq, len;

	if (c->flags & TCP_F_RTX_HEAD) {
		rtx[n_rtx++] = (c->snd_una - base) / SMSS;
		c->flags &= ~TCP_F_RTX_HEAD;
	}
	while (c->cc.ca_state == TCP_CA_RECOVERY && tcp_recovery_send_allowance(c) >= SMSS &&
	       tcp_sack_next_seg(&c->sb, c->snd_una, c->snd_max, c->write_seq, SMSS, &seq, &len)) {
		ck_assert_uint_eq(len, SMSS);
		ck_assert(SEQ_LT(seq, c->snd_max)); /* no new data in this test */
		ck_assert_uint_lt(n_rtx, 16);
		rtx[n_rtx++] = (seq - base) / SMSS;
	}
}

/* Segment k reaches the receiver, which ACKs with up to 3 SACK blocks, the one holding k
 * first (RFC 2018 §4). */
static void arrive(unsigned k, unsigned total)
{
	struct tcp_range b[3];
	unsigned n = 0, cum = 0;

	rcvd[k] = true;
	while (cum < total && rcvd[cum])
		cum++;
	if (k > cum) {
		unsigned s = k, e = k + 1;

		while (rcvd[s - 1] && s - 1 > cum)
			s--;
		while (e < total && rcvd[e])
			e++;
		b[n++] = R(seg(s), seg(e));
	}
	for (unsigned i = cum + 1; i < total && n < 3; i++)
		if (rcvd[i] && !rcvd[i - 1] && !(n && b[0].start == seg(i))) {
			unsigned e = i;

			while (e < total && rcvd[e])
				e++;
			b[n++] = R(seg(i), seg(e));
		}
	ack_in(seg(cum), n, b, 0);
	output();
}

START_TEST(sack_recovery_walkthrough)
{
	static const unsigned lost[] = {0, 5, 10};
	unsigned order[20], n_order = 0;

	setup_conn(TCP_CC_NEWRENO, true, 0xffffd000u);
	c->cc.cwnd = 20000;
	send_new(20);
	memset(rcvd, 0, sizeof(rcvd));
	n_rtx = 0;
	for (unsigned k = 0; k < 20; k++)
		if (k != lost[0] && k != lost[1] && k != lost[2])
			order[n_order++] = k;
	/* The original transmissions arrive, but for the three lost ones. Segment 3 is the
	 * third duplicate: fast retransmit of 0; ssthresh = cwnd = 10000. NextSeg then waits
	 * until pipe falls below cwnd - SMSS: after segment 12 it picks 5 (lost: three SACKed
	 * segments above), after 13 it picks 10. */
	for (unsigned i = 0; i < n_order; i++)
		arrive(order[i], 20);
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_RECOVERY);
	ck_assert_uint_eq(c->cc.ssthresh, 10000);
	ck_assert_uint_eq(n_rtx, 3);
	ck_assert_uint_eq(rtx[0], 0);
	ck_assert_uint_eq(rtx[1], 5);
	ck_assert_uint_eq(rtx[2], 10);
	/* The retransmission of 0 arrives: a partial ACK to 5. Rules 1-3 find nothing (5 and
	 * 10 are below HighRxt, nothing new to send), and HighACK has passed RescueRxt (the
	 * head's end): rule 4's one rescue resends the highest un-SACKed segment, 10, as
	 * RFC 6675 says it SHOULD. */
	arrive(0, 20);
	ck_assert_uint_eq(n_rtx, 4);
	ck_assert_uint_eq(rtx[3], 10);
	/* The retransmissions of 5 and 10 arrive: the ACK of 20 ends recovery. Nothing more
	 * was sent. */
	arrive(5, 20);
	arrive(10, 20);
	ck_assert_uint_eq(c->snd_una, seg(20));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	ck_assert_uint_eq(n_rtx, 4);
	ck_assert_uint_eq(c->cc.cwnd, 10000);
	ck_assert_uint_eq(t->stats.tcp_sack_recovery, 1);
	ck_assert_uint_eq(t->stats.tcp_fast_retrans, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_recovery");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, handshake_end);
	tcase_add_test(tc, open_allowance_and_growth);
	tcase_add_test(tc, newreno_fast_retransmit_and_recovery);
	tcase_add_test(tc, newreno_no_second_fast_retransmit);
	tcase_add_test(tc, rto_response);
	tcase_add_test(tc, no_fast_retransmit_after_rto_until_recover);
	tcase_add_test(tc, rto_ends_recovery);
	tcase_add_test(tc, sack_recovery_by_dupthresh);
	tcase_add_test(tc, sack_recovery_by_islost);
	tcase_add_test(tc, sack_small_hole_head);
	tcase_add_test(tc, sack_gate_after_rto);
	tcase_add_test(tc, cubic_beta_in_recovery);
	tcase_add_test(tc, dsack_counted);
	tcase_add_test(tc, allowance_never_negative);
	tcase_add_test(tc, sack_recovery_walkthrough);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
