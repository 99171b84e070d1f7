/* test_nic_vnet: the virtio-net header ↔ descriptor translation of nicd (drivers/nic_vnet.c).
 *
 * Receive: every malformed header is one table row (header, frame length, granted offloads,
 * the counter that must count it): refused, counted once in its own counter and nowhere else,
 * the descriptor untouched. Then what good headers become. Transmit likewise: every request
 * the device must not get is refused and counted, and good ones give the header the kernel
 * needs (PERF-FACTS: gso_type TCPV4, gso_size = MSS, NEEDS_CSUM, csum_start 34, csum_offset 16).
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "helper_check.h"
#include "nic_backend.h"
#include "nic_vnet.h"
#include "pool.h"

#define ALL NIC_OFFLOAD_ALL
#define NEEDS VIRTIO_NET_HDR_F_NEEDS_CSUM
#define VALID VIRTIO_NET_HDR_F_DATA_VALID
#define TCPV4 VIRTIO_NET_HDR_GSO_TCPV4
#define CTR(f) offsetof(struct nic_stats, f)

/* A GRO frame as the kernel reads it out of a TAP: Ethernet + IPv4 + TCP (32 bytes with
 * timestamps) + 40 segments of 1448 bytes. */
#define GRO_LEN (14u + 20u + 32u + 40u * 1448u)

static uint64_t stat_sum(const struct nic_stats *st)
{
	const uint64_t *v = (const uint64_t *)st;
	uint64_t s = 0;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		s += v[i];
	return s;
}

static uint64_t stat_at(const struct nic_stats *st, size_t off)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)st + off, sizeof(v));
	return v;
}

/* ---- receive ---------------------------------------------------------------------------- */

struct bad_rx {
	const char *name;
	struct virtio_net_hdr vh;
	uint32_t len;
	unsigned offloads;
	size_t counter;
};

static const struct bad_rx bad_rx[] = {
	/* Offload off: only DATA_VALID may appear. */
	{"off: partial checksum", {.flags = NEEDS, .csum_start = 34, .csum_offset = 6}, 100, 0,
	 CTR(rx_drop_vnet_hdr)},
	{"off: GSO frame", {.flags = NEEDS, .gso_type = TCPV4, .gso_size = 1448, .csum_start = 34,
			    .csum_offset = 16}, GRO_LEN, 0, CTR(rx_drop_vnet_hdr)},
	{"off: GSO without checksum flags", {.gso_type = TCPV4, .gso_size = 1448}, GRO_LEN, 0,
	 CTR(rx_drop_vnet_hdr)},
	{"off: unknown flag", {.flags = 0x4}, 100, 0, CTR(rx_drop_vnet_hdr)},
	/* Flags. */
	{"unknown flag", {.flags = 0x4}, 100, ALL, CTR(rx_drop_vnet_hdr)},
	{"unknown high flag", {.flags = 0x80 | VALID}, 100, ALL, CTR(rx_drop_vnet_hdr)},
	{"NEEDS_CSUM and DATA_VALID", {.flags = NEEDS | VALID, .csum_start = 34, .csum_offset = 6},
	 100, ALL, CTR(rx_drop_vnet_hdr)},
	{"GSO with only CSUM granted", {.flags = NEEDS, .gso_type = TCPV4, .gso_size = 1448,
					.csum_start = 34, .csum_offset = 16}, GRO_LEN,
	 NIC_OFFLOAD_CSUM, CTR(rx_drop_vnet_hdr)},
	/* GSO. */
	{"gso_size 0", {.flags = NEEDS, .gso_type = TCPV4, .gso_size = 0, .csum_start = 34,
			.csum_offset = 16}, GRO_LEN, ALL, CTR(rx_drop_vnet_gso)},
	{"ECN bit", {.flags = NEEDS, .gso_type = TCPV4 | VIRTIO_NET_HDR_GSO_ECN, .gso_size = 1448,
		     .csum_start = 34, .csum_offset = 16}, GRO_LEN, ALL, CTR(rx_drop_vnet_gso)},
	{"TCPV6", {.flags = NEEDS, .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1428,
		   .csum_start = 54, .csum_offset = 16}, GRO_LEN, ALL, CTR(rx_drop_vnet_gso)},
	{"UDP (UFO)", {.flags = NEEDS, .gso_type = VIRTIO_NET_HDR_GSO_UDP, .gso_size = 1472,
		       .csum_start = 34, .csum_offset = 6}, 8000, ALL, CTR(rx_drop_vnet_gso)},
	{"UDP_L4 (USO)", {.flags = NEEDS, .gso_type = 5 /* VIRTIO_NET_HDR_GSO_UDP_L4 */,
			  .gso_size = 1000, .csum_start = 34, .csum_offset = 6}, 8000, ALL,
	 CTR(rx_drop_vnet_gso)},
	{"unknown GSO type", {.flags = NEEDS, .gso_type = 0x42, .gso_size = 1448, .csum_start = 34,
			      .csum_offset = 16}, GRO_LEN, ALL, CTR(rx_drop_vnet_gso)},
	{"GSO without checksum state", {.gso_type = TCPV4, .gso_size = 1448}, GRO_LEN, ALL,
	 CTR(rx_drop_vnet_gso)},
	{"GSO longer than a datagram", {.flags = NEEDS, .gso_type = TCPV4, .gso_size = 1448,
					.csum_start = 34, .csum_offset = 16},
	 NIC_GSO_FRAME_MAX + 1, ALL, CTR(rx_drop_vnet_gso)},
	/* Checksum offsets. */
	{"csum_start inside the Ethernet header", {.flags = NEEDS, .csum_start = 10,
						   .csum_offset = 6}, 100, ALL,
	 CTR(rx_drop_vnet_csum)},
	{"csum_start inside a minimal IPv4 header", {.flags = NEEDS, .csum_start = 33,
						     .csum_offset = 6}, 100, ALL,
	 CTR(rx_drop_vnet_csum)},
	{"csum field past the frame", {.flags = NEEDS, .csum_start = 34, .csum_offset = 65},
	 100, ALL, CTR(rx_drop_vnet_csum)},
	{"csum field one byte short", {.flags = NEEDS, .csum_start = 34, .csum_offset = 6}, 41,
	 ALL, CTR(rx_drop_vnet_csum)},
	{"csum_start past the frame", {.flags = NEEDS, .csum_start = 0xffff, .csum_offset = 0xffff},
	 100, ALL, CTR(rx_drop_vnet_csum)},
	{"GSO csum_offset not TCP's", {.flags = NEEDS, .gso_type = TCPV4, .gso_size = 1448,
				       .csum_start = 34, .csum_offset = 6}, GRO_LEN, ALL,
	 CTR(rx_drop_vnet_csum)},
	/* Size. */
	{"plain frame longer than a buffer", {0}, POOL_DATA_ROOM + 1, ALL, CTR(rx_drop_oversize)},
	{"plain partial frame longer than a buffer", {.flags = NEEDS, .csum_start = 34,
						      .csum_offset = 6}, 9014, ALL,
	 CTR(rx_drop_oversize)},
};

START_TEST(rx_malformed_dropped)
{
	const struct bad_rx *c = &bad_rx[_i];
	struct nic_stats st = {0};
	struct desc d, before;

	memset(&d, 0xa5, sizeof(d));
	before = d;
	ck_assert_msg(nic_vnet_rx(&c->vh, c->len, c->offloads, &d, &st) == -EPROTO,
		      "%s: accepted", c->name);
	ck_assert_msg(stat_at(&st, c->counter) == 1, "%s: not counted in its counter", c->name);
	ck_assert_msg(stat_sum(&st) == 1, "%s: counted more than once", c->name);
	ck_assert_msg(memcmp(&d, &before, sizeof(d)) == 0, "%s: descriptor changed", c->name);
}
END_TEST

START_TEST(rx_plain_and_valid)
{
	struct nic_stats st = {0};
	struct desc d;

	/* Offload off: a plain frame, and DATA_VALID (the kernel checked it, e.g. forwarded). */
	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(nic_vnet_rx(&(struct virtio_net_hdr){0}, 60, 0, &d, &st), 0);
	ck_assert_uint_eq(d.flags, 0);
	ck_assert_uint_eq(d.gso_type, DESC_GSO_NONE);
	ck_assert_uint_eq(d.gso_size, 0);
	ck_assert_uint_eq(d.csum_start, 0);
	ck_assert_uint_eq(d.csum_offset, 0);
	ck_assert_uint_eq(d.buf, 0xa5a5a5a5u); /* the caller's fields are left alone */
	ck_assert_int_eq(nic_vnet_rx(&(struct virtio_net_hdr){.flags = VALID}, 1514, 0, &d, &st),
			 0);
	ck_assert_uint_eq(d.flags, DESC_F_CSUM_VERIFIED);
	/* A full buffer is still a plain frame (an MTU of 2034). */
	ck_assert_int_eq(nic_vnet_rx(&(struct virtio_net_hdr){0}, POOL_DATA_ROOM, ALL, &d, &st), 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

START_TEST(rx_partial_udp)
{
	struct nic_stats st = {0};
	struct desc d = {0};
	struct virtio_net_hdr vh = {.flags = NEEDS, .csum_start = 34, .csum_offset = 6};

	/* What the kernel sends with TUN_F_CSUM: its own UDP, checksum partial. */
	ck_assert_int_eq(nic_vnet_rx(&vh, 14 + 20 + 8 + 100, ALL, &d, &st), 0);
	ck_assert_uint_eq(d.flags, DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(d.csum_start, 34);
	ck_assert_uint_eq(d.csum_offset, 6);
	ck_assert_uint_eq(d.gso_type, DESC_GSO_NONE);
	/* The field's last byte may be the frame's last byte. */
	ck_assert_int_eq(nic_vnet_rx(&vh, 42, ALL, &d, &st), 0);
	/* CSUM alone granted is enough for a partial checksum. */
	ck_assert_int_eq(nic_vnet_rx(&vh, 142, NIC_OFFLOAD_CSUM, &d, &st), 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

START_TEST(rx_gro_frame)
{
	struct nic_stats st = {0};
	struct desc d = {0};
	struct virtio_net_hdr vh = {.flags = NEEDS, .gso_type = TCPV4, .hdr_len = 66,
				    .gso_size = 1448, .csum_start = 34, .csum_offset = 16};

	ck_assert_int_eq(nic_vnet_rx(&vh, GRO_LEN, ALL, &d, &st), 0);
	ck_assert_uint_eq(d.flags, DESC_F_CSUM_NEEDED);
	ck_assert_uint_eq(d.gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(d.gso_size, 1448);
	ck_assert_uint_eq(d.csum_start, 34);
	ck_assert_uint_eq(d.csum_offset, 16);
	/* The largest frame an IPv4 datagram makes. */
	ck_assert_int_eq(nic_vnet_rx(&vh, NIC_GSO_FRAME_MAX, ALL, &d, &st), 0);
	/* Forwarded GRO traffic: merged on the way in, verified there, no partial checksum. */
	vh = (struct virtio_net_hdr){.flags = VALID, .gso_type = TCPV4, .gso_size = 1460};
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(nic_vnet_rx(&vh, GRO_LEN, ALL, &d, &st), 0);
	ck_assert_uint_eq(d.flags, DESC_F_CSUM_VERIFIED);
	ck_assert_uint_eq(d.gso_type, DESC_GSO_TCPV4);
	ck_assert_uint_eq(d.gso_size, 1460);
	ck_assert_uint_eq(d.csum_start, 0);
	/* hdr_len is a hint we never trust or need: any value is fine. */
	vh.hdr_len = 0xffff;
	ck_assert_int_eq(nic_vnet_rx(&vh, GRO_LEN, ALL, &d, &st), 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

/* ---- transmit --------------------------------------------------------------------------- */

/* The headers of a TSO super-segment: Ethernet, IPv4, TCP with data offset 8 (32 bytes). */
static uint8_t tso_head[14 + 20 + 32];

static void tx_setup(void)
{
	memset(tso_head, 0, sizeof(tso_head));
	tso_head[14] = 0x45;
	tso_head[34 + 12] = 8 << 4;
}

static const struct desc tso_desc = {
	.flags = DESC_F_CSUM_NEEDED, .csum_start = 34, .csum_offset = 16,
	.gso_type = DESC_GSO_TCPV4, .gso_size = 1448, .l3_off = 14, .l4_off = 34,
};

struct bad_tx {
	const char *name;
	struct desc d;
	uint32_t len;
	unsigned offloads;
	int err;
	size_t counter;
};

/* A TSO descriptor with one field changed: flags, csum_start, csum_offset, gso_type,
 * gso_size, in that order (-1: the good value). */
#define TSO(fl, cs, co, gt, gs)                                                      \
	{.flags = (fl) < 0 ? DESC_F_CSUM_NEEDED : (uint32_t)(fl),                    \
	 .csum_start = (cs) < 0 ? 34 : (uint16_t)(cs),                               \
	 .csum_offset = (co) < 0 ? 16 : (uint16_t)(co),                              \
	 .gso_type = (gt) < 0 ? DESC_GSO_TCPV4 : (uint16_t)(gt),                     \
	 .gso_size = (gs) < 0 ? 1448 : (uint16_t)(gs)}
#define GOOD -1

static const struct bad_tx bad_tx[] = {
	{"plain frame over the MTU", {0}, 1515, ALL, -EMSGSIZE, CTR(tx_drop_oversize)},
	{"partial checksum with offload off", {.flags = DESC_F_CSUM_NEEDED, .csum_start = 34,
					       .csum_offset = 6}, 100, 0, -EINVAL,
	 CTR(tx_drop_offload)},
	{"TSO with offload off", TSO(GOOD, GOOD, GOOD, GOOD, GOOD), 30000, 0, -EINVAL,
	 CTR(tx_drop_offload)},
	{"TSO with only CSUM allowed", TSO(GOOD, GOOD, GOOD, GOOD, GOOD), 30000,
	 NIC_OFFLOAD_CSUM, -EINVAL, CTR(tx_drop_offload)},
	{"GSO UDP", TSO(GOOD, GOOD, 6, DESC_GSO_UDP, GOOD), 30000, ALL, -EINVAL,
	 CTR(tx_drop_offload)},
	{"GSO type 2", TSO(GOOD, GOOD, GOOD, 2, GOOD), 30000, ALL, -EINVAL, CTR(tx_drop_offload)},
	{"TSO without a partial checksum", TSO(0, GOOD, GOOD, GOOD, GOOD), 30000, ALL, -EINVAL,
	 CTR(tx_drop_offload)},
	{"TSO with the checksum verified only", TSO(DESC_F_CSUM_VERIFIED, GOOD, GOOD, GOOD, GOOD),
	 30000, ALL, -EINVAL, CTR(tx_drop_offload)},
	{"TSO gso_size 0", TSO(GOOD, GOOD, GOOD, GOOD, 0), 30000, ALL, -EINVAL,
	 CTR(tx_drop_offload)},
	{"TSO csum_offset not TCP's", TSO(GOOD, GOOD, 6, GOOD, GOOD), 30000, ALL, -EINVAL,
	 CTR(tx_drop_offload)},
	{"TSO csum_start inside the IPv4 header", TSO(GOOD, 30, GOOD, GOOD, GOOD), 30000, ALL,
	 -EINVAL, CTR(tx_drop_offload)},
	{"TSO TCP header past the head buffer", TSO(GOOD, 50, GOOD, GOOD, GOOD), 30000, ALL,
	 -EINVAL, CTR(tx_drop_offload)},
	{"TSO longer than a datagram", TSO(GOOD, GOOD, GOOD, GOOD, GOOD), NIC_GSO_FRAME_MAX + 1,
	 ALL, -EINVAL, CTR(tx_drop_offload)},
	{"TSO frame shorter than its TCP header", TSO(GOOD, GOOD, GOOD, GOOD, GOOD), 14 + 20 + 31,
	 ALL, -EINVAL, CTR(tx_drop_offload)},
	{"partial checksum inside the Ethernet header", {.flags = DESC_F_CSUM_NEEDED,
							 .csum_start = 13, .csum_offset = 0},
	 100, ALL, -EINVAL, CTR(tx_drop_offload)},
	{"partial checksum field past the frame", {.flags = DESC_F_CSUM_NEEDED, .csum_start = 34,
						   .csum_offset = 6}, 41, ALL, -EINVAL,
	 CTR(tx_drop_offload)},
};

START_TEST(tx_refused)
{
	const struct bad_tx *c = &bad_tx[_i];
	struct nic_stats st = {0};
	struct virtio_net_hdr vh;

	memset(&vh, 0x5a, sizeof(vh));
	ck_assert_msg(nic_vnet_tx(&c->d, tso_head, sizeof(tso_head), c->len, c->offloads, 1500,
				  &vh, &st) == c->err, "%s: not refused with %d", c->name, c->err);
	ck_assert_msg(stat_at(&st, c->counter) == 1, "%s: not counted in its counter", c->name);
	ck_assert_msg(stat_sum(&st) == 1, "%s: counted more than once", c->name);
	ck_assert_uint_eq(vh.flags, 0x5a); /* untouched */
}
END_TEST

START_TEST(tx_bad_tcp_data_offset)
{
	struct nic_stats st = {0};
	struct virtio_net_hdr vh;

	tso_head[34 + 12] = 4 << 4; /* 16 bytes: not a TCP header */
	ck_assert_int_eq(nic_vnet_tx(&tso_desc, tso_head, sizeof(tso_head), 30000, ALL, 1500, &vh,
				     &st), -EINVAL);
	ck_assert_uint_eq(st.tx_drop_offload, 1);
	tso_head[34 + 12] = 15 << 4; /* 60 bytes, past a 70-byte frame */
	ck_assert_int_eq(nic_vnet_tx(&tso_desc, tso_head, sizeof(tso_head), 70, ALL, 1500, &vh,
				     &st), -EINVAL);
	ck_assert_uint_eq(st.tx_drop_offload, 2);
}
END_TEST

START_TEST(tx_plain)
{
	struct nic_stats st = {0};
	struct virtio_net_hdr vh;
	struct desc d = {.l3_off = 14};

	memset(&vh, 0x5a, sizeof(vh));
	ck_assert_int_eq(nic_vnet_tx(&d, tso_head, sizeof(tso_head), 1514, 0, 1500, &vh, &st), 0);
	ck_assert_uint_eq(vh.flags, 0);
	ck_assert_uint_eq(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_uint_eq(vh.gso_size, 0);
	ck_assert_uint_eq(vh.hdr_len, 0);
	ck_assert_uint_eq(vh.csum_start, 0);
	ck_assert_uint_eq(vh.csum_offset, 0);
	/* Verified means nothing on the way out: nothing is asked of the device. */
	d.flags = DESC_F_CSUM_VERIFIED;
	ck_assert_int_eq(nic_vnet_tx(&d, tso_head, sizeof(tso_head), 60, ALL, 1500, &vh, &st), 0);
	ck_assert_uint_eq(vh.flags, 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

START_TEST(tx_partial)
{
	struct nic_stats st = {0};
	struct virtio_net_hdr vh;
	struct desc d = {.flags = DESC_F_CSUM_NEEDED, .csum_start = 34, .csum_offset = 6};

	ck_assert_int_eq(nic_vnet_tx(&d, tso_head, sizeof(tso_head), 142, ALL, 1500, &vh, &st), 0);
	ck_assert_uint_eq(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ck_assert_uint_eq(vh.csum_start, 34);
	ck_assert_uint_eq(vh.csum_offset, 6);
	ck_assert_uint_eq(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_uint_eq(vh.hdr_len, 0); /* the kernel takes csum_start + csum_offset + 2 */
	/* CSUM alone is enough; the field may end the frame. */
	ck_assert_int_eq(nic_vnet_tx(&d, tso_head, sizeof(tso_head), 42, NIC_OFFLOAD_CSUM, 1500,
				     &vh, &st), 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

START_TEST(tx_tso)
{
	struct nic_stats st = {0};
	struct virtio_net_hdr vh;

	/* PERF-FACTS: what the kernel needs to cut a super-segment written to a TAP. */
	ck_assert_int_eq(nic_vnet_tx(&tso_desc, tso_head, sizeof(tso_head), 14 + 20 + 32 + 65000,
				     ALL, 1500, &vh, &st), 0);
	ck_assert_uint_eq(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	ck_assert_uint_eq(vh.gso_size, 1448);
	ck_assert_uint_eq(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ck_assert_uint_eq(vh.csum_start, 34);
	ck_assert_uint_eq(vh.csum_offset, 16);
	ck_assert_uint_eq(vh.hdr_len, 14 + 20 + 32); /* every header, TCP options included */
	/* A super-segment is not held to the MTU (its segments are, by ipd). */
	ck_assert_int_eq(nic_vnet_tx(&tso_desc, tso_head, sizeof(tso_head), NIC_GSO_FRAME_MAX,
				     ALL, 1500, &vh, &st), 0);
	/* TSO4 alone allows it (it implies the partial checksum of the super-segment). */
	ck_assert_int_eq(nic_vnet_tx(&tso_desc, tso_head, sizeof(tso_head), 30000,
				     NIC_OFFLOAD_TSO4, 1500, &vh, &st), 0);
	ck_assert_uint_eq(stat_sum(&st), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nic_vnet");
	TCase *rx = tcase_create("rx");
	TCase *tx = tcase_create("tx");

	tcase_add_loop_test(rx, rx_malformed_dropped, 0, sizeof(bad_rx) / sizeof(bad_rx[0]));
	tcase_add_test(rx, rx_plain_and_valid);
	tcase_add_test(rx, rx_partial_udp);
	tcase_add_test(rx, rx_gro_frame);
	suite_add_tcase(s, rx);
	tcase_add_checked_fixture(tx, tx_setup, NULL);
	tcase_add_loop_test(tx, tx_refused, 0, sizeof(bad_tx) / sizeof(bad_tx[0]));
	tcase_add_test(tx, tx_bad_tcp_data_offset);
	tcase_add_test(tx, tx_plain);
	tcase_add_test(tx, tx_partial);
	tcase_add_test(tx, tx_tso);
	suite_add_tcase(s, tx);
	return tcheck_run(s);
}
