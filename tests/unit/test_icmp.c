/* test_icmp: ICMP in the IPv4 core (servers/ip/icmp.c) — echo replies (small, with options,
 * and a 65,000-byte request reassembled from fragments and fragmented again on the way out),
 * malformed messages, protocol unreachable and the rules on when no error may be sent, the
 * token-bucket rate limit against the fake clock, and delivery to a served transport. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_ip.h"
#include "helper_pool.h"
#include "ip_core.h"
#include "ip_priv.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

static struct tip_fx fx;

static void setup(void)
{
	tip_fx_setup(&fx, NULL);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	tip_expect_no_tx(&fx.out);
}

static void teardown(void)
{
	tip_fx_teardown(&fx);
}

static const struct ip_stats *st(void)
{
	return ip_core_stats(fx.core);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* Send an ICMP message m[0..len) from the peer to daddr (0: us). */
static void icmp_in(const uint8_t *m, size_t len, uint32_t daddr, const uint8_t *eth_dst)
{
	uint8_t f[TIP_FRAME_MAX];
	struct tip_ip s = {.proto = IPV4_PROTO_ICMP, .daddr = daddr, .payload = m,
			   .payload_len = len};
	size_t flen;

	if (eth_dst)
		memcpy(s.eth_dst, eth_dst, 6);
	flen = tip_ip_frame(f, sizeof(f), &s);
	tip_input(&fx, f, flen);
}

START_TEST(echo_request_answered)
{
	uint8_t data[56], m[64], f[TIP_FRAME_MAX];
	size_t mlen, len;
	const struct ipv4_hdr *h;

	fill(data, sizeof(data), 9);
	mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 0x1234, 7, data, sizeof(data));
	icmp_in(m, mlen, 0, NULL);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	ck_assert_uint_eq(len, 14 + 20 + 64);
	h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(ntohs(h->frag_off) & IPV4_FLAG_MF, 0);
	/* type 0, id/seq/data kept, checksum valid */
	ck_assert_uint_eq(f[34], ICMP_ECHO_REPLY);
	ck_assert_uint_eq(f[35], 0);
	ck_assert_uint_eq(f[38] << 8 | f[39], 0x1234);
	ck_assert_uint_eq(f[40] << 8 | f[41], 7);
	ck_assert_mem_eq(f + 42, data, sizeof(data));
	ck_assert_uint_eq(tip_csum(f + 34, 64), 0);
	ck_assert_uint_eq(st()->icmp_in_msgs, 1);
	ck_assert_uint_eq(st()->icmp_in_echos, 1);
	ck_assert_uint_eq(st()->icmp_out_echo_reps, 1);
	ck_assert_uint_eq(st()->ip_in_delivers, 1);
}
END_TEST

START_TEST(echo_with_options_and_odd_length)
{
	static const uint8_t opts[] = {IPV4_OPT_NOP, 0x07, 7, 4, 0, 0, 0, 0, IPV4_OPT_EOL, 0, 0, 0};
	uint8_t data[33], m[41], f[TIP_FRAME_MAX];
	size_t mlen, len;

	fill(data, sizeof(data), 1);
	mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 1, 2, data, sizeof(data));
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = IPV4_PROTO_ICMP, .opts = opts,
							  .opt_len = sizeof(opts), .payload = m,
							  .payload_len = mlen});
	tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, f, sizeof(f));
	/* The reply carries a plain 20-byte header. */
	ck_assert_uint_eq(len, 14 + 20 + mlen);
	tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(f[34], ICMP_ECHO_REPLY);
	ck_assert_mem_eq(f + 42, data, sizeof(data));
	ck_assert_uint_eq(tip_csum(f + 34, mlen), 0);
}
END_TEST

START_TEST(echo_header_split_across_buffers)
{
	/* The ICMP header starts in the head buffer and ends in the next one (as after some
	 * reassemblies): the reply must still be built, from an identical message. */
	uint8_t data[100], m[108], f[TIP_FRAME_MAX], g[TIP_FRAME_MAX];
	size_t mlen, len, glen;
	struct buf *b, *tail;

	fill(data, sizeof(data), 4);
	mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 0x0102, 0x0304, data, sizeof(data));
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
							  .payload_len = mlen});
	for (size_t cut = 34; cut <= 42; cut++) {
		b = tpool_frame(fx.pool, f, cut);
		tail = tpool_frame(fx.pool, f + cut, len - cut);
		ck_assert_int_eq(buf_chain_append(b, &tail), 0);
		ip_input(fx.core, fx.now, &b, &fx.out);
		tip_expect_wire_frames(&fx.out, 1);
		glen = tip_wire_copy(&fx.out, 0, g, sizeof(g));
		tip_expect_ipv4(g, glen, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
		ck_assert_uint_eq(glen, 34 + mlen);
		ck_assert_uint_eq(g[34], ICMP_ECHO_REPLY);
		ck_assert_mem_eq(g + 36 + 2, m + 4, mlen - 4);
		ck_assert_uint_eq(tip_csum(g + 34, mlen), 0);
		tip_out_reset(&fx.out);
		tpool_assert_idle(fx.pool);
	}
}
END_TEST

START_TEST(pullup)
{
	uint8_t d[300], got[300];
	struct buf *b, *t;
	unsigned used;

	fill(d, sizeof(d), 8);
	b = tpool_frame(fx.pool, d, 5);
	t = tpool_frame(fx.pool, d + 5, 10);
	ck_assert_int_eq(buf_chain_append(b, &t), 0);
	t = tpool_frame(fx.pool, d + 15, 0); /* an empty buffer inside the chain */
	ck_assert_int_eq(buf_chain_append(b, &t), 0);
	t = tpool_frame(fx.pool, d + 15, 285);
	ck_assert_int_eq(buf_chain_append(b, &t), 0);
	used = pool_count(fx.pool) - pool_free_count(fx.pool);
	ck_assert_uint_eq(used, 4);

	ck_assert_int_eq(ip_pullup(fx.core, &b, 301), -EINVAL);
	ck_assert_int_eq(ip_pullup(fx.core, &b, 5), 0); /* already there: nothing changes */
	ck_assert_uint_eq(buf_chain_count(b), 4);
	ck_assert_int_eq(ip_pullup(fx.core, &b, 28), 0);
	ck_assert_uint_ge(buf_len(b), 28);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM);
	ck_assert_uint_eq(buf_chain_len(b), 300);
	ck_assert_uint_eq(buf_chain_count(b), 2);
	ck_assert_int_eq(buf_copy_out(b, 0, got, 300), 0);
	ck_assert_mem_eq(got, d, 300);
	ck_assert_uint_eq(pool_count(fx.pool) - pool_free_count(fx.pool), 2);
	/* The whole chain into one buffer. */
	ck_assert_int_eq(ip_pullup(fx.core, &b, 300), 0);
	ck_assert_uint_eq(buf_chain_count(b), 1);
	ck_assert_int_eq(buf_copy_out(b, 0, got, 300), 0);
	ck_assert_mem_eq(got, d, 300);
	pool_free(&b);
}
END_TEST

START_TEST(short_icmp_dropped)
{
	uint8_t m[8];

	tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 1, 1, NULL, 0);
	for (size_t len = 0; len < 8; len++)
		icmp_in(m, len, 0, NULL);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_in_drop_short, 8);
	ck_assert_uint_eq(st()->icmp_out_echo_reps, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(bad_checksum_dropped)
{
	uint8_t m[64];
	size_t mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 1, 1, "abcdefgh", 8);

	m[9] ^= 1;
	icmp_in(m, mlen, 0, NULL);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_in_drop_csum, 1);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(broadcast_echo_ignored)
{
	uint8_t m[64];
	size_t mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 1, 1, "abcdefgh", 8);

	icmp_in(m, mlen, TIP_BCAST_IP, tip_bcast_mac);
	icmp_in(m, mlen, 0xffffffffu, tip_bcast_mac);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_in_drop_bcast, 2);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(other_types_counted)
{
	uint8_t m[64];
	size_t mlen = tip_icmp_msg(m, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, 0, "12345678", 8);

	icmp_in(m, mlen, 0, NULL);
	mlen = tip_icmp_msg(m, ICMP_ECHO_REPLY, 0, 0, 0, NULL, 0);
	icmp_in(m, mlen, 0, NULL);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_in_dest_unreachs, 1);
	ck_assert_uint_eq(st()->icmp_in_other, 1);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(protocol_unreachable)
{
	uint8_t data[40], f[TIP_FRAME_MAX], orig[TIP_FRAME_MAX], g[TIP_FRAME_MAX];
	size_t olen, len;
	const struct ipv4_hdr *h;

	fill(data, sizeof(data), 3);
	olen = tip_ip_frame(orig, sizeof(orig), &(struct tip_ip){.proto = 99, .id = 4242,
								 .payload = data,
								 .payload_len = sizeof(data)});
	memcpy(f, orig, olen);
	tip_input(&fx, f, olen);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, g, sizeof(g));
	ck_assert_uint_eq(buf_headroom(fx.out.wire[0]), POOL_HEADROOM - 34);
	/* ICMP header + the whole original datagram: it fits in 576 bytes (RFC 1812 §4.3.2.3,
	 * Linux's icmp_send). */
	ck_assert_uint_eq(len, 14 + 20 + 8 + 20 + 40);
	h = tip_expect_ipv4(g, len, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(h->tos, 0);
	ck_assert_uint_eq(g[34], ICMP_DEST_UNREACH);
	ck_assert_uint_eq(g[35], ICMP_UNREACH_PROTOCOL);
	ck_assert_uint_eq(g[36 + 2] | g[36 + 3] | g[36 + 4] | g[36 + 5], 0); /* unused */
	ck_assert_uint_eq(tip_csum(g + 34, 8 + 60), 0);
	ck_assert_mem_eq(g + 42, orig + 14, 60);
	ck_assert_uint_eq(st()->ip_in_unknown_protos, 1);
	ck_assert_uint_eq(st()->icmp_out_dest_unreachs, 1);
	ck_assert_uint_eq(st()->ip_in_delivers, 0);
}
END_TEST

START_TEST(protocol_unreachable_short_datagram)
{
	uint8_t f[TIP_FRAME_MAX], g[TIP_FRAME_MAX];
	size_t len;

	/* Fewer than 8 data bytes: the quote is what there is. */
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = 99, .payload = (const uint8_t *)"abc",
							  .payload_len = 3});
	tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 1);
	len = tip_wire_copy(&fx.out, 0, g, sizeof(g));
	ck_assert_uint_eq(len, 14 + 20 + 8 + 23);
	ck_assert_uint_eq(tip_csum(g + 34, 8 + 23), 0);
}
END_TEST

START_TEST(no_error_about_broadcast)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = 99, .daddr = TIP_BCAST_IP,
							  .eth_dst = {0xff, 0xff, 0xff, 0xff, 0xff,
								      0xff},
							  .payload = (const uint8_t *)"12345678",
							  .payload_len = 8});
	tip_input(&fx, f, len);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = 99, .daddr = 0xffffffffu,
							  .payload = (const uint8_t *)"12345678",
							  .payload_len = 8});
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->ip_in_unknown_protos, 2);
	ck_assert_uint_eq(st()->icmp_out_dest_unreachs, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

/* icmp_send_error directly, about a datagram built from s (data at its IP header). */
static int send_error_about(const struct tip_ip *s)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_ip_frame(f, sizeof(f), s);
	struct buf *b = tpool_frame(fx.pool, f + 14, len - 14);
	int rc = icmp_send_error(fx.core, fx.now, b, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, &fx.out);

	pool_free(&b); /* borrowed, never consumed */
	return rc;
}

START_TEST(error_rules)
{
	uint8_t m[16];
	size_t mlen;

	/* Allowed: a plain datagram from the peer, the first fragment of one. */
	ck_assert_int_eq(send_error_about(&(struct tip_ip){.payload = m, .payload_len = 8}), 0);
	ck_assert_int_eq(send_error_about(&(struct tip_ip){.frag_off = IPV4_FLAG_MF,
							   .payload = m, .payload_len = 8}),
			 0);
	tip_expect_wire_frames(&fx.out, 2);
	tip_out_reset(&fx.out);

	/* Not about a fragment other than the first. */
	send_error_about(&(struct tip_ip){.frag_off = 185, .payload = m, .payload_len = 8});
	/* Not about a datagram to a broadcast or multicast address. */
	send_error_about(&(struct tip_ip){.daddr = TIP_BCAST_IP, .payload = m, .payload_len = 8});
	send_error_about(&(struct tip_ip){.daddr = 0xffffffffu, .payload = m, .payload_len = 8});
	send_error_about(&(struct tip_ip){.daddr = TIP_IP(224, 0, 0, 1), .payload = m,
					  .payload_len = 8});
	/* Not to a source that names no single host. */
	send_error_about(&(struct tip_ip){.saddr_zero = true, .payload = m, .payload_len = 8});
	send_error_about(&(struct tip_ip){.saddr = TIP_IP(224, 0, 0, 9), .payload = m,
					  .payload_len = 8});
	send_error_about(&(struct tip_ip){.saddr = TIP_BCAST_IP, .payload = m, .payload_len = 8});
	/* Nor about a datagram to lo's broadcast address. */
	send_error_about(&(struct tip_ip){.saddr = TIP_IP(127, 0, 0, 1),
					  .daddr = TIP_IP(127, 255, 255, 255), .payload = m,
					  .payload_len = 8});
	/* Not about an ICMP error (nor an unknown ICMP type), nor one too short to tell. */
	mlen = tip_icmp_msg(m, ICMP_DEST_UNREACH, 1, 0, 0, NULL, 0);
	send_error_about(&(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
					  .payload_len = mlen});
	mlen = tip_icmp_msg(m, ICMP_TIME_EXCEEDED, 0, 0, 0, NULL, 0);
	send_error_about(&(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
					  .payload_len = mlen});
	mlen = tip_icmp_msg(m, 200, 0, 0, 0, NULL, 0);
	send_error_about(&(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
					  .payload_len = mlen});
	send_error_about(&(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
					  .payload_len = 0});
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_out_rate_limited, 0);

	/* But an ICMP query may be answered with an error. */
	mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 0, 0, NULL, 0);
	ck_assert_int_eq(send_error_about(&(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = m,
							   .payload_len = mlen}),
			 0);
	tip_expect_wire_frames(&fx.out, 1);
}
END_TEST

/* A datagram that came through the loopback interface (127/8 or our own source: ipv4_input
 * never lets those in from the wire) is answered back through it, from the address it was
 * sent to, as Linux's icmp_send: the sending socket hears of it. */
START_TEST(error_about_loopback_datagram_goes_back_up)
{
	uint8_t m[16] = "abcdefgh";
	const struct ipv4_hdr *h;

	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
	ck_assert_int_eq(send_error_about(&(struct tip_ip){.saddr = TIP_IP(127, 0, 0, 1),
							   .daddr = TIP_IP(127, 0, 0, 1),
							   .payload = m, .payload_len = 8}),
			 0);
	ck_assert_int_eq(send_error_about(&(struct tip_ip){.saddr = TIP_OUR_IP,
							   .daddr = TIP_IP(127, 0, 0, 9),
							   .payload = m, .payload_len = 8}),
			 0);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 2);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_uint_eq(fx.out.up_desc[i].proto, IPV4_PROTO_UDP);
		ck_assert(fx.out.up_desc[i].flags & DESC_F_ICMP_ERROR);
	}
	h = (const struct ipv4_hdr *)buf_data(fx.out.up[0]);
	ck_assert_uint_eq(h->saddr, TIP_IP(127, 0, 0, 1));
	ck_assert_uint_eq(h->daddr, TIP_IP(127, 0, 0, 1));
	h = (const struct ipv4_hdr *)buf_data(fx.out.up[1]);
	ck_assert_uint_eq(h->saddr, TIP_IP(127, 0, 0, 9));
	ck_assert_uint_eq(h->daddr, TIP_OUR_IP);
	ck_assert_uint_eq(st()->ip_out_loopback, 2);
	ck_assert_uint_eq(st()->icmp_in_errors_up, 2);
}
END_TEST

START_TEST(rate_limited)
{
	struct ip_config c;
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	unsigned i;

	tip_fx_teardown(&fx);
	tip_config(&c);
	c.icmp_rate_per_s = 10; /* a token every 100 ms */
	c.icmp_burst = 5;
	tip_fx_setup(&fx, &c);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = 99,
							  .payload = (const uint8_t *)"12345678",
							  .payload_len = 8});

	/* A full bucket: the burst goes out, then nothing. */
	for (i = 0; i < 8; i++)
		tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 5);
	ck_assert_uint_eq(st()->icmp_out_rate_limited, 3);
	tip_out_reset(&fx.out);

	/* 99 ms later still nothing; at 100 ms exactly one more. */
	fx.now += 99 * TIP_MS;
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	fx.now += 1 * TIP_MS;
	tip_input(&fx, f, len);
	tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 1);
	tip_out_reset(&fx.out);
	ck_assert_uint_eq(st()->icmp_out_rate_limited, 5);

	/* A long silence refills the bucket up to the burst, not beyond. */
	fx.now += 3600 * TIP_SEC;
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac); /* the old entry expired meanwhile */
	for (i = 0; i < 10; i++)
		tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 5);
	ck_assert_uint_eq(st()->icmp_out_rate_limited, 10);
	ck_assert_uint_eq(st()->icmp_out_dest_unreachs, 11);
}
END_TEST

START_TEST(echo_replies_not_rate_limited)
{
	struct ip_config c;
	uint8_t m[16];
	size_t mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 1, 1, "abcdefgh", 8);

	tip_fx_teardown(&fx);
	tip_config(&c);
	c.icmp_rate_per_s = 1;
	c.icmp_burst = 1;
	tip_fx_setup(&fx, &c);
	tip_learn(&fx, TIP_PEER_IP, tip_peer_mac);
	for (unsigned i = 0; i < 5; i++)
		icmp_in(m, mlen, 0, NULL);
	tip_expect_wire_frames(&fx.out, 5);
}
END_TEST

START_TEST(served_transport_gets_packet)
{
	uint8_t seg[40], f[TIP_FRAME_MAX], got[40];
	size_t len;
	const struct desc *d;

	fill(seg, sizeof(seg), 5);
	ip_set_transport(fx.core, IPV4_PROTO_TCP, true);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = IPV4_PROTO_TCP, .payload = seg,
							  .payload_len = sizeof(seg)});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	d = &fx.out.up_desc[0];
	ck_assert_uint_eq(d->proto, IPV4_PROTO_TCP);
	ck_assert_uint_eq(d->len, 60);
	ck_assert_uint_eq(d->l3_off, 0);
	ck_assert_uint_eq(d->l4_off, 20);
	ck_assert_uint_eq(d->saddr, TIP_PEER_IP);
	ck_assert_uint_eq(d->daddr, TIP_OUR_IP);
	ck_assert_uint_eq(d->flags & DESC_F_BCAST, 0);
	ck_assert_uint_eq(d->buf, buf_index(fx.out.up[0]));
	ck_assert_int_eq(buf_copy_out(fx.out.up[0], d->l4_off, got, sizeof(got)), 0);
	ck_assert_mem_eq(got, seg, sizeof(seg));
	tip_out_reset(&fx.out);

	/* Withdrawn: protocol unreachable again. */
	ip_set_transport(fx.core, IPV4_PROTO_TCP, false);
	tip_input(&fx, f, len);
	tip_expect_wire_frames(&fx.out, 1);
}
END_TEST

/* A 65,000-byte ICMP message (8 + 64,992) from the peer, in 1,480-byte fragments, last first
 * to make the reassembly work; the reply must be the same size, fragmented to the MTU again. */
/* RFC 1122 §3.2.2.1: an ICMP error is passed to the transport of the datagram it quotes. */
START_TEST(icmp_error_reaches_transport)
{
	uint8_t udp[8] = {0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00};
	uint8_t quoted[TIP_FRAME_MAX], icmp[128], f[TIP_FRAME_MAX];
	size_t qlen, ilen, len;
	const struct desc *d;

	/* The datagram we sent: us -> peer, UDP 12345 -> 53; the peer quotes it back. */
	qlen = tip_ip_frame(quoted, sizeof(quoted), &(struct tip_ip){.saddr = TIP_OUR_IP,
								   .daddr = TIP_PEER_IP,
								   .payload = udp,
								   .payload_len = sizeof(udp)});
	ilen = tip_icmp_msg(icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, 0, quoted + 14,
			    qlen - 14);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = icmp,
							  .payload_len = ilen});

	/* Nobody serves UDP: counted, dropped, nothing sent. */
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(fx.out.n_up, 0);
	ck_assert_uint_eq(st()->icmp_in_dest_unreachs, 1);

	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	d = &fx.out.up_desc[0];
	ck_assert_uint_eq(d->proto, IPV4_PROTO_UDP);
	ck_assert_uint_eq(d->flags & DESC_F_ICMP_ERROR, DESC_F_ICMP_ERROR);
	ck_assert_uint_eq(d->l4_off, 20);
	ck_assert_uint_eq(d->saddr, TIP_PEER_IP);
	ck_assert_uint_eq(st()->icmp_in_errors_up, 1);
	tip_out_reset(&fx.out);

	/* A quote shorter than header + 8 bytes is dropped, not passed on. */
	ilen = tip_icmp_msg(icmp, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, 0, quoted + 14, 24);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.proto = IPV4_PROTO_ICMP, .payload = icmp,
							  .payload_len = ilen});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, 0);
	ck_assert_uint_eq(st()->icmp_in_errors_up, 1);
}
END_TEST

/* A transport that found no socket hands the datagram back: ICMP port unreachable, quoting it;
 * never for a broadcast. */
START_TEST(port_unreachable_for_transport)
{
	uint8_t data[16], f[TIP_FRAME_MAX], g[TIP_FRAME_MAX];
	size_t len, glen;
	struct buf *b;

	fill(data, sizeof(data), 9);
	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = data,
							  .payload_len = sizeof(data)});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, 1);
	b = fx.out.up[0];
	fx.out.up[0] = NULL;
	fx.out.n_up = 0;
	ip_port_unreachable(fx.core, fx.now, &b, &fx.out);
	ck_assert_ptr_null(b);
	tip_expect_wire_frames(&fx.out, 1);
	glen = tip_wire_copy(&fx.out, 0, g, sizeof(g));
	tip_expect_ipv4(g, glen, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(g[34], ICMP_DEST_UNREACH);
	ck_assert_uint_eq(g[35], ICMP_UNREACH_PORT);
	ck_assert_mem_eq(g + 42, f + 14, 28);
	tip_out_reset(&fx.out);

	/* Broadcast destination: no error (RFC 1122 §4.1.3.1). */
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.eth_dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
							  .daddr = 0xffffffffu,
							  .payload = data,
							  .payload_len = sizeof(data)});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, 1);
	b = fx.out.up[0];
	fx.out.up[0] = NULL;
	fx.out.n_up = 0;
	ip_port_unreachable(fx.core, fx.now, &b, &fx.out);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->icmp_out_dest_unreachs, 1);
}
END_TEST

START_TEST(huge_echo_reassembled_and_fragmented)
{
	enum { MLEN = 65000, FRAG = 1480 };
	uint8_t *m = malloc(MLEN), *data = malloc(MLEN), *back = calloc(1, MLEN);
	uint8_t f[TIP_FRAME_MAX];
	size_t mlen, len, off, got = 0;
	unsigned nfrags = (MLEN + FRAG - 1) / FRAG, k;
	uint16_t reply_id = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(back);
	fill(data, MLEN - 8, 77);
	mlen = tip_icmp_msg(m, ICMP_ECHO_REQUEST, 0, 0xbeef, 3, data, MLEN - 8);
	ck_assert_uint_eq(mlen, MLEN);
	for (k = nfrags; k-- > 0;) {
		off = (size_t)k * FRAG;
		len = tip_ip_frame(f, sizeof(f),
				   &(struct tip_ip){.proto = IPV4_PROTO_ICMP, .id = 999,
						    .frag_off = (uint16_t)(off / 8 |
									   (k + 1 < nfrags ? IPV4_FLAG_MF : 0)),
						    .payload = m + off,
						    .payload_len = MLEN - off < FRAG ? MLEN - off : FRAG});
		tip_input(&fx, f, len);
		if (k > 0)
			tip_expect_no_tx(&fx.out);
	}
	ck_assert_uint_eq(st()->ip_reasm_oks, 1);
	ck_assert_uint_eq(st()->icmp_out_echo_reps, 1);
	ck_assert_uint_eq(fx.out.n_wire, nfrags); /* 1,500 MTU: the same 1,480-byte pieces */
	for (k = 0; k < fx.out.n_wire; k++) {
		const struct ipv4_hdr *h;
		uint16_t fo;

		len = tip_wire_copy(&fx.out, k, f, sizeof(f));
		ck_assert_uint_le(len, 14 + 1500);
		h = tip_expect_ipv4(f, len, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
		fo = ntohs(h->frag_off);
		if (k == 0)
			reply_id = h->id;
		ck_assert_uint_eq(h->id, reply_id);
		ck_assert_uint_eq((fo & IPV4_FLAG_MF) != 0, k + 1 < fx.out.n_wire);
		off = (size_t)(fo & IPV4_FRAG_OFF_MASK) * 8;
		ck_assert_uint_le(off + len - 34, MLEN);
		memcpy(back + off, f + 34, len - 34);
		got += len - 34;
	}
	ck_assert_uint_eq(got, MLEN);
	ck_assert_uint_eq(back[0], ICMP_ECHO_REPLY);
	ck_assert_uint_eq(back[4] << 8 | back[5], 0xbeef);
	ck_assert_uint_eq(back[6] << 8 | back[7], 3);
	ck_assert_mem_eq(back + 8, data, MLEN - 8);
	ck_assert_uint_eq(tip_csum(back, MLEN), 0);
	free(m);
	free(data);
	free(back);
}
END_TEST

START_TEST(reassembly_timeout_time_exceeded)
{
	uint8_t data[64], f[TIP_FRAME_MAX], g[TIP_FRAME_MAX];
	size_t len, glen;
	uint64_t t0 = fx.now;

	fill(data, sizeof(data), 2);
	/* The first fragment of one datagram and a later fragment of another. */
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.id = 1, .frag_off = IPV4_FLAG_MF,
							  .payload = data, .payload_len = 64});
	tip_input(&fx, f, len);
	glen = tip_ip_frame(g, sizeof(g), &(struct tip_ip){.id = 2, .frag_off = 8,
							   .payload = data, .payload_len = 64});
	tip_input(&fx, g, glen);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + 30 * TIP_SEC);

	fx.now = t0 + 30 * TIP_SEC - 1;
	ip_timer(fx.core, fx.now, &fx.out);
	tip_expect_no_tx(&fx.out);
	fx.now = t0 + 30 * TIP_SEC;
	ip_timer(fx.core, fx.now, &fx.out);
	/* RFC 1122 3.3.2: Time Exceeded (fragment reassembly) only for the one whose first
	 * fragment arrived. */
	tip_expect_wire_frames(&fx.out, 1);
	glen = tip_wire_copy(&fx.out, 0, g, sizeof(g));
	ck_assert_uint_eq(glen, 14 + 20 + 8 + 84);
	tip_expect_ipv4(g, glen, tip_peer_mac, IPV4_PROTO_ICMP, TIP_OUR_IP, TIP_PEER_IP);
	ck_assert_uint_eq(g[34], ICMP_TIME_EXCEEDED);
	ck_assert_uint_eq(g[35], ICMP_EXC_FRAGTIME);
	ck_assert_uint_eq(tip_csum(g + 34, 8 + 84), 0);
	ck_assert_mem_eq(g + 42, f + 14, 84);
	ck_assert_uint_eq(st()->ip_reasm_timeouts, 2);
	ck_assert_uint_eq(st()->icmp_out_time_excds, 1);
	/* Only the ARP entry's expiry is left. */
	ck_assert_uint_eq(ip_next_deadline(fx.core), t0 + 60 * TIP_SEC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("icmp");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, echo_request_answered);
	tcase_add_test(tc, echo_with_options_and_odd_length);
	tcase_add_test(tc, echo_header_split_across_buffers);
	tcase_add_test(tc, pullup);
	tcase_add_test(tc, short_icmp_dropped);
	tcase_add_test(tc, bad_checksum_dropped);
	tcase_add_test(tc, broadcast_echo_ignored);
	tcase_add_test(tc, other_types_counted);
	tcase_add_test(tc, protocol_unreachable);
	tcase_add_test(tc, protocol_unreachable_short_datagram);
	tcase_add_test(tc, no_error_about_broadcast);
	tcase_add_test(tc, error_rules);
	tcase_add_test(tc, error_about_loopback_datagram_goes_back_up);
	tcase_add_test(tc, rate_limited);
	tcase_add_test(tc, echo_replies_not_rate_limited);
	tcase_add_test(tc, served_transport_gets_packet);
	tcase_add_test(tc, icmp_error_reaches_transport);
	tcase_add_test(tc, port_unreachable_for_transport);
	tcase_add_test(tc, huge_echo_reassembled_and_fragmented);
	tcase_add_test(tc, reassembly_timeout_time_exceeded);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
