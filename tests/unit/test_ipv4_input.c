/* test_ipv4_input: Ethernet demux and IPv4 input validation (servers/ip/eth.c, ipv4_input.c).
 *
 * Every malformed case is one row of a table: the frame spec, and the counter that must count
 * it. For each: dropped, counted once in its own counter, nothing emitted (no frame, nothing
 * up), pool idle. Then the accepted cases: padding trimmed, options walked, TTL 0/1 kept,
 * broadcasts flagged, fragments reassembled, descriptors filled.
 *
 * Offload (the "offload" case): nicd's descriptor says what the device did. GRO super-frames
 * (chains past the MTU) go up whole with their gso fields, partial checksums go up as verified,
 * and every offload state that contradicts the datagram is one table row: dropped, counted in
 * ip_in_drop_offload, never reassembled, nothing sent.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_ip.h"
#include "helper_pool.h"
#include "ip_core.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

static struct tip_fx fx;

static void setup(void)
{
	tip_fx_setup(&fx, NULL);
	ip_set_transport(fx.core, IPV4_PROTO_UDP, true);
}

static void teardown(void)
{
	tip_fx_teardown(&fx);
}

static const struct ip_stats *st(void)
{
	return ip_core_stats(fx.core);
}

static const uint8_t payload8[8] = {0x12, 0x34, 0x56, 0x78, 0x00, 0x08, 0x00, 0x00};

static const uint8_t opt_len0[] = {0x44, 0, 0, 0};
static const uint8_t opt_len1[] = {0x44, 1, 0, 0};
static const uint8_t opt_past_ihl[] = {0x07, 9, 4, 0};
static const uint8_t opt_no_len_byte[] = {IPV4_OPT_NOP, IPV4_OPT_NOP, IPV4_OPT_NOP, 0x44};
static const uint8_t opt_past_ihl_long[] = {IPV4_OPT_NOP, 0x07, 11, 4, 0, 0, 0, 0};

#define CTR(f) offsetof(struct ip_stats, f)

struct bad_ip {
	const char *name;
	struct tip_ip s;
	size_t counter;
};

static const struct bad_ip bad_ips[] = {
	{"no room for an IP header", {.frame_len = 14}, CTR(ip_in_drop_short)},
	{"19 bytes of IP", {.frame_len = 14 + 19}, CTR(ip_in_drop_short)},
	{"version 6", {.version = 6, .payload = payload8, .payload_len = 8}, CTR(ip_in_drop_version)},
	{"version 0", {.version = 15, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_version)},
	{"IHL 4", {.ihl = 4, .payload = payload8, .payload_len = 8}, CTR(ip_in_drop_ihl)},
	{"IHL 0", {.ihl = 16 /* the builder keeps 4 bits: 0 */, .payload = payload8,
		   .payload_len = 8},
	 CTR(ip_in_drop_ihl)},
	{"IHL 15 without room", {.ihl = 15, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_ihl)},
	{"total length beyond frame", {.tot_len = 200, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_total_len)},
	{"total length below 20", {.tot_len = 19, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_total_len)},
	{"total length below IHL*4", {.tot_len = 20, .opts = opt_len0, .opt_len = 4},
	 CTR(ip_in_drop_total_len)},
	{"total length zero", {.tot_len_zero = true, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_total_len)},
	{"bad header checksum", {.bad_csum = true, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_csum)},
	{"option length 0", {.opts = opt_len0, .opt_len = 4, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_options)},
	{"option length 1", {.opts = opt_len1, .opt_len = 4, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_options)},
	{"option past IHL", {.opts = opt_past_ihl, .opt_len = 4, .payload = payload8,
			     .payload_len = 8},
	 CTR(ip_in_drop_options)},
	{"option past IHL after NOP", {.opts = opt_past_ihl_long, .opt_len = 8,
				       .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_options)},
	{"option without length byte", {.opts = opt_no_len_byte, .opt_len = 4,
					.payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_options)},
	{"source broadcast", {.saddr = 0xffffffffu, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"source subnet broadcast", {.saddr = TIP_BCAST_IP, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"source multicast", {.saddr = TIP_IP(224, 0, 0, 1), .payload = payload8,
			      .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"source loopback", {.saddr = TIP_IP(127, 0, 0, 1), .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"source 0.0.0.0", {.saddr_zero = true, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"source is us", {.saddr = TIP_OUR_IP, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_drop_src)},
	{"destination another host", {.daddr = TIP_OTHER_IP, .payload = payload8,
				      .payload_len = 8},
	 CTR(ip_in_addr_errors)},
	{"destination off-link", {.daddr = TIP_REMOTE_IP, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_addr_errors)},
	{"destination multicast", {.daddr = TIP_IP(224, 0, 0, 251), .payload = payload8,
				   .payload_len = 8},
	 CTR(ip_in_addr_errors)},
	{"link broadcast, IP unicast",
	 {.eth_dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, .payload = payload8, .payload_len = 8},
	 CTR(ip_in_addr_errors)},
};

START_TEST(malformed_ip_dropped)
{
	const struct bad_ip *t = &bad_ips[_i];
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	len = tip_ip_frame(f, sizeof(f), &t->s);
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_msg(stat_value(st(), &(struct stat_field){t->name, t->counter}) == 1,
		      "%s: its counter was not bumped", t->name);
	ck_assert_uint_eq(st()->ip_in_receives, 1);
	ck_assert_uint_eq(st()->ip_in_delivers, 0);
	/* Exactly one drop counter moved. */
	{
		uint64_t drops = st()->ip_in_drop_short + st()->ip_in_drop_version +
				 st()->ip_in_drop_ihl + st()->ip_in_drop_total_len +
				 st()->ip_in_drop_csum + st()->ip_in_drop_options +
				 st()->ip_in_drop_src + st()->ip_in_addr_errors;

		ck_assert_msg(drops == 1, "%s: %llu drop counters moved", t->name,
			      (unsigned long long)drops);
	}
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(ethernet_short_frames)
{
	static const uint8_t junk[13] = {0};

	for (size_t len = 0; len < 14; len++) {
		tip_input(&fx, junk, len);
		tip_expect_no_tx(&fx.out);
	}
	ck_assert_uint_eq(st()->eth_rx_frames, 14);
	ck_assert_uint_eq(st()->eth_drop_short, 14);
	ck_assert_uint_eq(st()->ip_in_receives, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(ethernet_not_for_us)
{
	uint8_t f[TIP_FRAME_MAX];
	struct tip_ip s = {.eth_dst = {0x02, 0, 0, 0, 0, 0x77}, .payload = payload8,
			   .payload_len = 8};
	size_t len = tip_ip_frame(f, sizeof(f), &s);

	tip_input(&fx, f, len);
	/* A multicast group we never joined. */
	memcpy(f, (const uint8_t[]){0x01, 0x00, 0x5e, 0, 0, 1}, 6);
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->eth_drop_not_for_us, 2);
	ck_assert_uint_eq(st()->ip_in_receives, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

START_TEST(ethernet_unknown_type)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = payload8,
								 .payload_len = 8});

	f[12] = 0x86;
	f[13] = 0xdd;
	tip_input(&fx, f, len);
	f[12] = 0x81; /* an 802.1Q tag */
	f[13] = 0x00;
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	ck_assert_uint_eq(st()->eth_drop_ethertype, 2);
	tpool_assert_idle(fx.pool);
}
END_TEST

/* Feed a valid UDP datagram built from s and return the one packet delivered up. */
static const struct desc *deliver(const struct tip_ip *s)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_ip_frame(f, sizeof(f), s);

	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	return &fx.out.up_desc[0];
}

START_TEST(padding_is_trimmed)
{
	const struct desc *d;
	uint8_t got[28];

	/* A 28-byte datagram in a 60-byte frame: delivered with length 28. */
	d = deliver(&(struct tip_ip){.payload = payload8, .payload_len = 8, .frame_len = 60});
	ck_assert_uint_eq(d->len, 28);
	ck_assert_uint_eq(buf_chain_len(fx.out.up[0]), 28);
	ck_assert_int_eq(buf_copy_out(fx.out.up[0], 20, got, 8), 0);
	ck_assert_mem_eq(got, payload8, 8);
	ck_assert_uint_eq(st()->ip_in_delivers, 1);
}
END_TEST

START_TEST(desc_is_filled)
{
	const struct desc *d = deliver(&(struct tip_ip){.payload = payload8, .payload_len = 8,
							 .tos = 0x10, .ttl = 33});
	struct buf *b = fx.out.up[0];

	ck_assert_uint_eq(d->buf, buf_index(b));
	ck_assert_uint_eq(d->gen, buf_gen(b));
	ck_assert_uint_eq(d->len, 28);
	ck_assert_uint_eq(d->l3_off, 0);
	ck_assert_uint_eq(d->l4_off, 20);
	ck_assert_uint_eq(d->saddr, TIP_PEER_IP);
	ck_assert_uint_eq(d->daddr, TIP_OUR_IP);
	ck_assert_uint_eq(d->proto, IPV4_PROTO_UDP);
	ck_assert_uint_eq(d->ttl, 33);
	ck_assert_uint_eq(d->tos, 0x10);
	ck_assert_uint_eq(d->flags, 0);
	/* data at the IP header */
	ck_assert_uint_eq(buf_data(b)[0], 0x45);
}
END_TEST

START_TEST(valid_options_accepted)
{
	/* NOP, a record-route-like option (type 7, length 7, pointer 4, one empty slot), EOL and
	 * padding; after EOL anything goes. */
	static const uint8_t opts[] = {IPV4_OPT_NOP, 0x07, 7, 4, 0, 0, 0, 0,
				       IPV4_OPT_EOL, 0x44, 0, 0};
	const struct desc *d = deliver(&(struct tip_ip){.opts = opts, .opt_len = sizeof(opts),
							 .payload = payload8, .payload_len = 8});

	ck_assert_uint_eq(d->l4_off, 32);
	ck_assert_uint_eq(d->len, 40);
	tip_out_reset(&fx.out);

	/* Options filling the header exactly (IHL 15: 40 bytes of NOP and a 4-byte option). */
	{
		uint8_t o[40];

		memset(o, IPV4_OPT_NOP, sizeof(o));
		o[36] = 0x44;
		o[37] = 4;
		d = deliver(&(struct tip_ip){.opts = o, .opt_len = sizeof(o), .payload = payload8,
					     .payload_len = 8});
		ck_assert_uint_eq(d->l4_off, 60);
	}
	ck_assert_uint_eq(st()->ip_in_drop_options, 0);
}
END_TEST

START_TEST(low_ttl_delivered)
{
	/* RFC 1122 §3.2.1.7: a host must not drop a datagram for TTL < 2. */
	deliver(&(struct tip_ip){.ttl_zero = true, .payload = payload8, .payload_len = 8});
	tip_out_reset(&fx.out);
	deliver(&(struct tip_ip){.ttl = 1, .payload = payload8, .payload_len = 8});
	ck_assert_uint_eq(st()->ip_in_delivers, 2);
}
END_TEST

START_TEST(broadcasts_flagged)
{
	const struct desc *d;

	d = deliver(&(struct tip_ip){.daddr = TIP_BCAST_IP, .eth_dst = {0xff, 0xff, 0xff, 0xff,
									 0xff, 0xff},
				     .payload = payload8, .payload_len = 8});
	ck_assert_uint_eq(d->flags & DESC_F_BCAST, DESC_F_BCAST);
	ck_assert_uint_eq(d->daddr, TIP_BCAST_IP);
	tip_out_reset(&fx.out);
	d = deliver(&(struct tip_ip){.daddr = 0xffffffffu, .eth_dst = {0xff, 0xff, 0xff, 0xff,
								       0xff, 0xff},
				     .payload = payload8, .payload_len = 8});
	ck_assert_uint_eq(d->flags & DESC_F_BCAST, DESC_F_BCAST);
	tip_out_reset(&fx.out);
	/* An IP broadcast in a unicast frame is still a broadcast. */
	d = deliver(&(struct tip_ip){.daddr = 0xffffffffu, .payload = payload8, .payload_len = 8});
	ck_assert_uint_eq(d->flags & DESC_F_BCAST, DESC_F_BCAST);
}
END_TEST

START_TEST(fragments_reassembled)
{
	uint8_t data[1600], f[TIP_FRAME_MAX], got[1600];
	size_t len;
	const struct desc *d;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3);
	/* Second half first: held, nothing up. */
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.id = 77, .frag_off = 1000 / 8,
							  .payload = data + 1000,
							  .payload_len = 600});
	tip_input(&fx, f, len);
	tip_expect_no_tx(&fx.out);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.id = 77, .frag_off = IPV4_FLAG_MF,
							  .payload = data, .payload_len = 1000});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, 1);
	d = &fx.out.up_desc[0];
	ck_assert_uint_eq(d->len, 20 + 1600);
	ck_assert_uint_eq(buf_chain_len(fx.out.up[0]), 20 + 1600);
	ck_assert_int_eq(buf_copy_out(fx.out.up[0], 20, got, 1600), 0);
	ck_assert_mem_eq(got, data, 1600);
	ck_assert_uint_eq(st()->ip_reasm_oks, 1);
	ck_assert_uint_eq(st()->ip_in_delivers, 1);
}
END_TEST

START_TEST(unserved_transport_not_delivered)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len;

	ip_set_transport(fx.core, IPV4_PROTO_UDP, false);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = payload8, .payload_len = 8});
	tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, 0);
	ck_assert_uint_eq(st()->ip_in_unknown_protos, 1);
}
END_TEST

START_TEST(up_queue_full_is_counted)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = payload8,
								 .payload_len = 8});

	for (unsigned i = 0; i < IP_OUT_MAX + 3; i++)
		tip_input(&fx, f, len);
	ck_assert_uint_eq(fx.out.n_up, IP_OUT_MAX);
	ck_assert_uint_eq(st()->ip_out_discards, 3);
}
END_TEST


/* ---- offload ---------------------------------------------------------------------------- */

#define GRO_MSS 1448u
#define GRO_SEGS 40u
#define TCP_HLEN 32u /* with the timestamp option, as Linux sends */

static uint8_t big[70000]; /* frames past one buffer */
static uint8_t seg[70000];

static void offload_setup(void)
{
	setup();
	ip_set_transport(fx.core, IPV4_PROTO_TCP, true);
}

/* A TCP segment of plen payload bytes (byte i is i * 7) into seg: 32-byte header, data offset
 * 8, the pseudo-header sum in its checksum field as a CHECKSUM_PARTIAL sender leaves it. */
static size_t tcp_seg(size_t plen)
{
	memset(seg, 0, TCP_HLEN);
	seg[0] = 0x13, seg[1] = 0x88; /* 5000 */
	seg[2] = 0x00, seg[3] = 0x50; /* 80 */
	seg[12] = (TCP_HLEN / 4) << 4;
	seg[13] = 0x10; /* ACK */
	seg[32 - 12] = 1, seg[32 - 11] = 1, seg[32 - 10] = 8, seg[32 - 9] = 10;
	for (size_t i = 0; i < plen; i++)
		seg[TCP_HLEN + i] = (uint8_t)(i * 7);
	{
		/* Pseudo-header sum, folded and not inverted (tip_csum inverts: undo it). */
		uint8_t p[12];
		uint32_t sa = TIP_PEER_IP, da = TIP_OUR_IP;
		uint16_t len = (uint16_t)(TCP_HLEN + plen), v;

		memcpy(p, &sa, 4);
		memcpy(p + 4, &da, 4);
		p[8] = 0;
		p[9] = IPV4_PROTO_TCP;
		p[10] = (uint8_t)(len >> 8);
		p[11] = (uint8_t)len;
		v = htons((uint16_t)~tip_csum(p, sizeof(p)));
		memcpy(seg + 16, &v, 2);
	}
	return TCP_HLEN + plen;
}

/* What nicd reports for the kernel's TSO output read from the TAP. */
static const struct desc gro_desc = {
	.flags = DESC_F_CSUM_NEEDED, .csum_start = 34, .csum_offset = 16,
	.gso_type = DESC_GSO_TCPV4, .gso_size = GRO_MSS,
};

START_TEST(gro_frame_goes_up_whole)
{
	size_t plen = GRO_SEGS * GRO_MSS, slen = tcp_seg(plen), len;
	uint8_t *got = malloc(slen);
	const struct desc *d;

	len = tip_ip_frame(big, sizeof(big), &(struct tip_ip){.proto = IPV4_PROTO_TCP, .id = 9,
							      .frag_off = IPV4_FLAG_DF,
							      .payload = seg, .payload_len = slen});
	ck_assert_uint_gt(len - 14, 1500); /* past the MTU */
	tip_input_desc(&fx, big, len, &gro_desc);
	ck_assert_uint_eq(fx.out.n_wire, 0);
	ck_assert_uint_eq(fx.out.n_up, 1);
	d = &fx.out.up_desc[0];
	ck_assert_uint_eq(d->proto, IPV4_PROTO_TCP);
	ck_assert_uint_eq(d->len, 20 + slen);
	ck_assert_uint_eq(d->l3_off, 0);
	ck_assert_uint_eq(d->l4_off, 20);
	ck_assert_uint_eq(d->flags, DESC_F_CSUM_VERIFIED | DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(d->csum_start, 20); /* now from the IPv4 header */
	ck_assert_uint_eq(d->csum_offset, 16);
	ck_assert_uint_eq(d->gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(d->gso_size, GRO_MSS);
	ck_assert_uint_eq(d->saddr, TIP_PEER_IP);
	ck_assert_uint_eq(d->daddr, TIP_OUR_IP);
	/* Whole, in the chain it came in, byte for byte. */
	ck_assert_uint_eq(buf_chain_len(fx.out.up[0]), 20 + slen);
	ck_assert_uint_gt(buf_chain_count(fx.out.up[0]), 20);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(buf_copy_out(fx.out.up[0], 20, got, slen), 0);
	ck_assert_mem_eq(got, seg, slen);
	free(got);
	ck_assert_uint_eq(st()->ip_in_gso, 1);
	ck_assert_uint_eq(st()->ip_in_delivers, 1);
	ck_assert_uint_eq(st()->ip_reasm_reqds, 0);
	ck_assert_uint_eq(st()->ip_in_drop_offload, 0);
}
END_TEST

START_TEST(largest_gro_frame)
{
	size_t slen = tcp_seg(65535 - 20 - TCP_HLEN), len;

	len = tip_ip_frame(big, sizeof(big), &(struct tip_ip){.proto = IPV4_PROTO_TCP,
							      .payload = seg, .payload_len = slen});
	ck_assert_uint_eq(len, 14 + 65535);
	tip_input_desc(&fx, big, len, &gro_desc);
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(fx.out.up_desc[0].len, 65535);
	ck_assert_uint_le(buf_chain_count(fx.out.up[0]), BUF_CHAIN_MAX);
}
END_TEST

START_TEST(gro_frame_verified_by_device)
{
	/* Forwarded GRO traffic: merged and verified on the way in, no partial checksum. */
	struct desc rx = {.flags = DESC_F_CSUM_VERIFIED, .gso_type = DESC_GSO_TCPV4,
			  .gso_size = GRO_MSS};
	size_t slen = tcp_seg(10 * GRO_MSS), len;

	len = tip_ip_frame(big, sizeof(big), &(struct tip_ip){.proto = IPV4_PROTO_TCP,
							      .payload = seg, .payload_len = slen});
	tip_input_desc(&fx, big, len, &rx);
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, DESC_F_CSUM_VERIFIED);
	ck_assert_uint_eq(fx.out.up_desc[0].csum_start, 0);
	ck_assert_uint_eq(fx.out.up_desc[0].gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(fx.out.up_desc[0].gso_size, GRO_MSS);
}
END_TEST

START_TEST(partial_checksum_goes_up_verified)
{
	uint8_t f[TIP_FRAME_MAX], u[8 + 100] = {0x13, 0x88, 0x00, 0x07, 0x00, 108};
	struct desc rx = {.flags = DESC_F_CSUM_NEEDED, .csum_start = 34, .csum_offset = 6};
	size_t len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = u,
								 .payload_len = sizeof(u)});
	const struct desc *d;

	/* The kernel's own UDP through a TAP with TUN_F_CSUM: not verifiable as it is (the
	 * field holds the pseudo-header sum), and nothing to verify (it never crossed a wire). */
	tip_input_desc(&fx, f, len, &rx);
	ck_assert_uint_eq(fx.out.n_up, 1);
	d = &fx.out.up_desc[0];
	ck_assert_uint_eq(d->flags, DESC_F_CSUM_VERIFIED | DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(d->csum_start, 20);
	ck_assert_uint_eq(d->csum_offset, 6);
	ck_assert_uint_eq(d->gso_type, DESC_GSO_NONE);
	ck_assert_uint_eq(d->l4_off, 20);
	/* TCP without GSO likewise (a segment no bigger than the MSS). */
	len = tip_ip_frame(big, sizeof(big), &(struct tip_ip){.proto = IPV4_PROTO_TCP,
							      .payload = seg,
							      .payload_len = tcp_seg(100)});
	rx.csum_offset = 16;
	tip_input_desc(&fx, big, len, &rx);
	ck_assert_uint_eq(fx.out.n_up, 2);
	ck_assert_uint_eq(fx.out.up_desc[1].flags, DESC_F_CSUM_VERIFIED | DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(fx.out.up_desc[1].csum_offset, 16);
	ck_assert_uint_eq(st()->ip_in_gso, 0);
}
END_TEST

START_TEST(device_verdicts_pass_up)
{
	uint8_t f[TIP_FRAME_MAX];
	size_t len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.payload = payload8,
								 .payload_len = 8});

	tip_input_desc(&fx, f, len, &(struct desc){.flags = DESC_F_CSUM_VERIFIED});
	tip_input_desc(&fx, f, len, &(struct desc){0});
	tip_input_desc(&fx, f, len, NULL);
	ck_assert_uint_eq(fx.out.n_up, 3);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, DESC_F_CSUM_VERIFIED);
	ck_assert_uint_eq(fx.out.up_desc[1].flags, 0);
	ck_assert_uint_eq(fx.out.up_desc[2].flags, 0);
}
END_TEST

START_TEST(verified_fragments_reassembled_unverified)
{
	uint8_t data[48], f[TIP_FRAME_MAX];
	struct desc rx = {.flags = DESC_F_CSUM_VERIFIED};
	size_t len;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.id = 5, .frag_off = IPV4_FLAG_MF,
							  .payload = data, .payload_len = 24});
	tip_input_desc(&fx, f, len, &rx);
	len = tip_ip_frame(f, sizeof(f), &(struct tip_ip){.id = 5, .frag_off = 24 / 8,
							  .payload = data + 24, .payload_len = 24});
	tip_input_desc(&fx, f, len, &rx);
	/* The device checked the fragments' bytes, not the datagram's checksum: the transport
	 * must verify it. */
	ck_assert_uint_eq(fx.out.n_up, 1);
	ck_assert_uint_eq(fx.out.up_desc[0].flags, 0);
	ck_assert_uint_eq(st()->ip_reasm_oks, 1);
}
END_TEST

static const uint8_t opt_nops[] = {IPV4_OPT_NOP, IPV4_OPT_NOP, IPV4_OPT_NOP, IPV4_OPT_NOP};

struct bad_offload {
	const char *name;
	struct tip_ip s;  /* payload: the TCP segment (proto TCP) or 100 UDP bytes */
	bool tcp;
	struct desc rx;
};

#define GSO_VERIFIED .flags = DESC_F_CSUM_VERIFIED, .gso_type = DESC_GSO_TCPV4, .gso_size = 1448
#define PARTIAL(start, off) .flags = DESC_F_CSUM_NEEDED, .csum_start = start, .csum_offset = off

static const struct bad_offload bad_offloads[] = {
	{"GSO on UDP", {.tos = 0}, false, {GSO_VERIFIED}},
	{"GSO on a first fragment", {.frag_off = IPV4_FLAG_MF}, true, {GSO_VERIFIED}},
	{"GSO on a later fragment", {.frag_off = 100}, true, {GSO_VERIFIED}},
	{"GSO to the subnet broadcast", {.daddr = TIP_BCAST_IP}, true, {GSO_VERIFIED}},
	{"GSO to 255.255.255.255", {.daddr = 0xffffffffu}, true, {GSO_VERIFIED}},
	{"GSO with gso_size 0", {.tos = 0}, true,
	 {.flags = DESC_F_CSUM_VERIFIED, .gso_type = DESC_GSO_TCPV4}},
	{"GSO without a checksum state", {.tos = 0}, true,
	 {.gso_type = DESC_GSO_TCPV4, .gso_size = 1448}},
	{"GSO type UDP", {.tos = 0}, false,
	 {.flags = DESC_F_CSUM_VERIFIED, .gso_type = DESC_GSO_UDP, .gso_size = 1448}},
	{"GSO type 2", {.tos = 0}, true, {.flags = DESC_F_CSUM_VERIFIED, .gso_type = 2, .gso_size = 1448}},
	{"partial checksum past the transport header", {.tos = 0}, false, {PARTIAL(36, 6)}},
	{"partial checksum inside the IPv4 header", {.tos = 0}, false, {PARTIAL(30, 6)}},
	{"partial checksum inside the Ethernet header", {.tos = 0}, false, {PARTIAL(10, 6)}},
	{"partial checksum with TCP's offset on UDP", {.tos = 0}, false, {PARTIAL(34, 16)}},
	{"partial checksum with UDP's offset on TCP", {.tos = 0}, true, {PARTIAL(34, 6)}},
	{"partial GSO checksum with UDP's offset", {.tos = 0}, true,
	 {PARTIAL(34, 6), .gso_type = DESC_GSO_TCPV4, .gso_size = 1448}},
	{"partial checksum on ICMP", {.proto = IPV4_PROTO_ICMP}, false, {PARTIAL(34, 2)}},
	{"partial checksum on a fragment", {.frag_off = IPV4_FLAG_MF}, false, {PARTIAL(34, 6)}},
	{"partial checksum past the datagram", {.tot_len = 20 + 7}, false, {PARTIAL(34, 6)}},
	{"partial checksum and IP options", {.opts = opt_nops, .opt_len = 4}, false,
	 {PARTIAL(34, 6)}},
};

START_TEST(offload_contradicting_datagram_dropped)
{
	const struct bad_offload *c = &bad_offloads[_i];
	struct tip_ip spec = c->s;
	uint8_t u[100] = {0x13, 0x88, 0x00, 0x07, 0x00, 100};
	size_t len;

	if (c->tcp) {
		spec.proto = IPV4_PROTO_TCP;
		spec.payload = seg;
		spec.payload_len = tcp_seg(20 * GRO_MSS);
	} else {
		spec.payload = u;
		spec.payload_len = sizeof(u);
	}
	len = tip_ip_frame(big, sizeof(big), &spec);
	tip_input_desc(&fx, big, len, &c->rx);
	ck_assert_msg(st()->ip_in_drop_offload == 1, "%s: not counted", c->name);
	ck_assert_msg(fx.out.n_up == 0 && fx.out.n_wire == 0, "%s: delivered or answered",
		      c->name);
	ck_assert_msg(st()->ip_reasm_reqds == 0, "%s: went to reassembly", c->name);
	ck_assert_uint_eq(st()->ip_in_delivers, 0);
	tpool_assert_idle(fx.pool);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ipv4_input");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, malformed_ip_dropped, 0, sizeof(bad_ips) / sizeof(bad_ips[0]));
	tcase_add_test(tc, ethernet_short_frames);
	tcase_add_test(tc, ethernet_not_for_us);
	tcase_add_test(tc, ethernet_unknown_type);
	tcase_add_test(tc, padding_is_trimmed);
	tcase_add_test(tc, desc_is_filled);
	tcase_add_test(tc, valid_options_accepted);
	tcase_add_test(tc, low_ttl_delivered);
	tcase_add_test(tc, broadcasts_flagged);
	tcase_add_test(tc, fragments_reassembled);
	tcase_add_test(tc, unserved_transport_not_delivered);
	tcase_add_test(tc, up_queue_full_is_counted);
	suite_add_tcase(s, tc);

	TCase *off = tcase_create("offload");
	tcase_add_checked_fixture(off, offload_setup, teardown);
	tcase_add_test(off, gro_frame_goes_up_whole);
	tcase_add_test(off, largest_gro_frame);
	tcase_add_test(off, gro_frame_verified_by_device);
	tcase_add_test(off, partial_checksum_goes_up_verified);
	tcase_add_test(off, device_verdicts_pass_up);
	tcase_add_test(off, verified_fragments_reassembled_unverified);
	tcase_add_loop_test(off, offload_contradicting_datagram_dropped, 0,
			    sizeof(bad_offloads) / sizeof(bad_offloads[0]));
	suite_add_tcase(s, off);
	return tcheck_run(s);
}
