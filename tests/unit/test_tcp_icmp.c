/* test_tcp_icmp: ICMP errors in the TCP core (tcp_icmp.c): malformed quotes, the quoted
 * sequence number check (RFC 5927 §4.1), hard errors in SYN-SENT (the connect fails with the
 * ICMP's errno, as Linux), soft errors on an established connection (RFC 1122 §4.2.3.9:
 * reported only at timeout), a SYN-RECEIVED child dropped, source quench ignored (RFC 6633),
 * and fragmentation needed: PMTU down (never up, never under 552), the MSS follows and what
 * was in flight is sent again at the new size (RFC 1191). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

/* The quote ipd hands over: our IPv4 header + the first 8 bytes of our TCP header. */
static size_t quote(uint8_t *q, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
		    uint32_t seq)
{
	uint32_t s = htonl(seq);

	memset(q, 0, 28);
	q[0] = 0x45;
	q[9] = 6;
	memcpy(q + 12, &saddr, 4);
	memcpy(q + 16, &daddr, 4);
	memcpy(q + 20, &sport, 2);
	memcpy(q + 22, &dport, 2);
	memcpy(q + 24, &s, 4);
	return 28;
}

static int icmp(uint8_t type, uint8_t code, uint16_t mtu, const struct tcp_conn *c,
		uint32_t seq)
{
	uint8_t q[28];
	size_t n = quote(q, c->laddr, c->raddr, c->lport, c->rport, seq);

	return tcp_icmp_error(w.t, w.now, type, code, mtu, q, n, &w.io);
}

START_TEST(malformed_and_unknown)
{
	uint8_t q[28];
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

	ck_assert_int_eq(tcp_icmp_error(w.t, w.now, 3, 1, 0, q, 10, &w.io), -EBADMSG);
	quote(q, TH_LADDR, TH_RADDR, TH_LPORT, TH_RPORT, 1001);
	q[0] = 0x46; /* IHL 24: the quote is then short */
	ck_assert_int_eq(tcp_icmp_error(w.t, w.now, 3, 1, 0, q, 28, &w.io), -EBADMSG);
	q[0] = 0x45;
	q[9] = 17;
	ck_assert_int_eq(tcp_icmp_error(w.t, w.now, 3, 1, 0, q, 28, &w.io), -EBADMSG);
	ck_assert_uint_eq(w.t->stats.icmp_bad, 3);
	quote(q, TH_LADDR, TH_RADDR, TH_LPORT, 0x0101, 1001);
	ck_assert_int_eq(tcp_icmp_error(w.t, w.now, 3, 1, 0, q, 28, &w.io), -ENOENT);
	ck_assert_uint_eq(w.t->stats.icmp_no_conn, 1);
	/* a quoted sequence number outside [snd_una, snd_max): ignored (RFC 5927) */
	ck_assert_int_eq(icmp(3, 1, 0, c, 5000), 0);
	ck_assert_uint_eq(w.t->stats.icmp_out_of_window, 1);
	ck_assert_uint_eq(c->soft_error, 0);
	ck_assert_uint_eq(w.t->stats.icmp_in, 5);
}
END_TEST

START_TEST(hard_error_in_syn_sent)
{
	uint32_t cid;
	struct tcp_conn *c;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	c = tcp_conn_by_cid(w.t, cid);
	ck_assert_int_eq(icmp(3, 3, 0, c, c->iss + 1), 0); /* outside: the SYN is iss */
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	ck_assert_int_eq(icmp(3, 1, 0, c, c->iss), 0);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, EHOSTUNREACH);
	ck_assert_uint_eq(w.t->stats.icmp_hard, 1);
	expect_tx(&w, .flags = TCP_SYN);
	expect_no_tx(&w, w.now + 10 * TH_S);
}
END_TEST

START_TEST(soft_error_established)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);

	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	ck_assert_int_eq(icmp(3, 3, 0, c, 1001), 0);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->soft_error, ECONNREFUSED);
	ck_assert_uint_eq(c->pending_error, 0);
	ck_assert_uint_eq(w.t->stats.icmp_soft, 1);
	ck_assert_int_eq(icmp(4, 0, 0, c, 1001), 0); /* source quench */
	ck_assert_uint_eq(w.t->stats.icmp_ignored, 1);
	ck_assert_int_eq(icmp(11, 0, 0, c, 1001), 0);
	ck_assert_uint_eq(c->soft_error, EHOSTUNREACH);
}
END_TEST

START_TEST(syn_received_child_dropped)
{
	uint32_t s, lcid;
	struct tcp_conn *child;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &s), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, s, 0, TH_LPORT), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, s, 5, &lcid), 0);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 77));
	child = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT);
	ck_assert_ptr_nonnull(child);
	ck_assert_int_eq(icmp(3, 3, 0, child, child->iss), 0); /* port unreachable: kept */
	ck_assert_uint_eq(child->in_use, 1);
	ck_assert_int_eq(icmp(3, 0, 0, child, child->iss + 1), 0); /* not its ISN */
	ck_assert_uint_eq(child->in_use, 1);
	ck_assert_int_eq(icmp(3, 0, 0, child, child->iss), 0); /* net unreachable: dropped */
	ck_assert_uint_eq(child->in_use, 0);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 0);
}
END_TEST

START_TEST(frag_needed_lowers_pmtu)
{
	uint32_t cid, cwnd;
	struct tcp_conn *c = th_conn(&w, SPEC(.ts = true, .cwnd = 100000, .flags = TCP_F_NODELAY),
				     &cid);

	ck_assert_uint_eq(c->snd_mss, 1448);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 3000, 0, &w.io), 0);
	expect_tx(&w, .seq = 1001, .len = 1448);
	expect_tx(&w, .seq = 2449, .len = 1448);
	expect_tx(&w, .seq = 3897, .len = 104);
	/* a router with MTU 1280: everything in flight again at the new size, cwnd kept */
	cwnd = c->cc.cwnd;
	ck_assert_int_eq(icmp(3, 4, 1280, c, 1001), 0);
	ck_assert_uint_eq(c->pmtu, 1280);
	ck_assert_uint_eq(c->snd_mss, 1280 - 40 - 12);
	ck_assert_uint_eq(w.t->stats.tcp_pmtu_updates, 1);
	expect_tx(&w, .seq = 1001, .len = 1228);
	expect_tx(&w, .seq = 2229, .len = 1228);
	expect_tx(&w, .seq = 3457, .len = 544);
	expect_no_tx(&w, w.now);
	ck_assert_uint_eq(c->cc.cwnd, cwnd);
	ck_assert_uint_eq(w.t->stats.retrans_segs, 3);
	th_in(&w, SEG(.seq = 5001, .ack = 4001, .ts = true, .tsval = 1));
	ck_assert_uint_eq(c->cc.ca_state, TCP_CA_OPEN);
	/* a larger one is ignored, a tiny one floors at 552 */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 4001, .len = 100);
	ck_assert_int_eq(icmp(3, 4, 1400, c, 4001), 0);
	ck_assert_uint_eq(c->pmtu, 1280);
	ck_assert_int_eq(icmp(3, 4, 100, c, 4001), 0);
	ck_assert_uint_eq(c->pmtu, 552);
	ck_assert_uint_eq(c->snd_mss, 552 - 40 - 12);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_icmp");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, malformed_and_unknown);
	tcase_add_test(tc, hard_error_in_syn_sent);
	tcase_add_test(tc, soft_error_established);
	tcase_add_test(tc, syn_received_child_dropped);
	tcase_add_test(tc, frag_needed_lowers_pmtu);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
