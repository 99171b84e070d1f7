/* fuzz_ip_input: libFuzzer target for what the IPv4 core takes from outside the trust boundary:
 * Ethernet frames from the wire (ip_input), and the timers and ICMP errors they lead to.
 *
 * Input format (every byte string is an input; nothing is rejected as malformed):
 *   byte 0     config: bits 0-1 the MTU (1500, 576, 68, 9000); bit 2 tight limits
 *              (reassembly 4 buffers, ARP queue 1, ICMP burst 1); bit 3 no gateway; bit 4 UDP
 *              served; bit 5 TCP served; bit 6 prefix /30 instead of /24; bit 7 ARP timers of
 *              1 ms. Our addresses are helper_ip.h's (02:00:00:00:00:02, 10.0.0.2).
 *   records    until the input ends: [ctl0] [ctl1] [length, 2 bytes big-endian] [frame]
 *     ctl0 bits 0-2  advance the clock first by 0, 1 us, 1 ms, 500 ms, 1 s, 3 s, 31 s or 61 s
 *                    (31 s passes the reassembly timeout, 61 s the ARP cache lifetime), then
 *                    run ip_timer if its deadline has come, as ipd's timerfd would
 *          bit 3     answer every datagram delivered up with ip_port_unreachable, as udpd does
 *                    when no socket wants it
 *          bit 4     recompute the IPv4 header checksum of the frame before it goes in
 *          bit 5     recompute its ICMP checksum likewise (so mutations get past both checks)
 *          bit 6     keep the output across calls as ipd does within a batch (flushing only
 *                    past IP_OUT_MAX - 64 entries), so the full-output paths run too
 *          bit 7     set the IPv4 total length to the frame's (before the checksums), so a
 *                    grown or cut frame still parses
 *     ctl1           0: the frame fills one buffer (chained past POOL_DATA_ROOM, as nicd does);
 *                    else its head buffer holds only the first ctl1 bytes, the rest is chained
 *                    after it (headers split across buffers)
 *     length         cut to what is left of the input and to FUZZ_FRAME_MAX
 *   A frame is one record, so fragments of one datagram (and an ARP reply releasing queued
 *   packets) meet across records: reassembly and ARP state live for the whole input.
 *   Each frame goes in through ip_input_desc with an offload descriptor as nicd would send it,
 *   picked by (length + last byte) mod 8 so the format stays as it was: none, all zero, checksum
 *   verified, partial at UDP's or TCP's checksum, a GRO frame partial or verified (gso_size from
 *   the frame's bytes), or every offload field taken raw from the frame's first bytes.
 *
 * Checks, abort() on failure so that libFuzzer and ctest both see it:
 *  - after every call into the core, every buffer in use is held by the core (ARP queues,
 *    reassembly table: the invariant in ip_priv.h) or sits in struct ip_out, within the
 *    documented bounds (reass_max_buffers, IP_ARP_HELD_MAX, IP_ARP_INCOMPLETE_MAX); a core
 *    with no deadline holds nothing (else nothing would ever free it); a timer pass that did
 *    nothing is not due again;
 *  - frames for the wire are well-formed Ethernet frames from us: ARP, or IPv4 from our
 *    address to a unicast neighbour, header checksum right, no larger than the MTU;
 *  - datagrams for a transport are exactly what their descriptor says; offload state going up
 *    agrees with the datagram (a super-frame is TCP and verified, a partial checksum sits at
 *    the transport header where its protocol keeps it, inside the datagram);
 *  - after the input the timers are run out and the core destroyed: the pool must be idle
 *    again. A buffer not back on the free list is a leak.
 *
 * The pool is created once per process (libFuzzer calls us millions of times); the core is
 * created and destroyed per input so inputs do not depend on each other.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "fuzz_chain.h"
#include "ip_core.h"
#include "ip_priv.h"
#include "pool.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define FUZZ_SEEDS_IP
#include "seeds.h"

#define FIP_POOL_COUNT 1024u     /* as the unit tests (TIP_POOL_COUNT) */
#define FIP_FRAME_MAX 9216u      /* a 9000-byte MTU frame, with room to spare */
#define FIP_REC_HDR 4u           /* ctl0, ctl1, length */
#define FIP_START_NS (1000ull * IP_NS_PER_S)
#define FIP_RUNOUT_PASSES 64u    /* timer passes after the input, to expire what is held */

#define FIP_CFG_MTU 0x03u
#define FIP_CFG_TIGHT 0x04u
#define FIP_CFG_NO_GW 0x08u
#define FIP_CFG_UDP 0x10u
#define FIP_CFG_TCP 0x20u
#define FIP_CFG_P30 0x40u
#define FIP_CFG_FAST_ARP 0x80u

#define FIP_CTL_CLOCK 0x07u
#define FIP_CTL_PORT_UNREACH 0x08u
#define FIP_CTL_FIX_IP_CSUM 0x10u
#define FIP_CTL_FIX_ICMP_CSUM 0x20u
#define FIP_CTL_KEEP_OUT 0x40u
#define FIP_CTL_FIX_TOT_LEN 0x80u

static const uint16_t fip_mtus[4] = { 1500, 576, 68, 9000 };
static const uint64_t fip_steps[8] = {
	0, 1000, IP_NS_PER_MS, 500 * IP_NS_PER_MS, IP_NS_PER_S, 3 * IP_NS_PER_S,
	31 * IP_NS_PER_S, 61 * IP_NS_PER_S,
};
static const uint8_t fip_our_mac[ETH_ADDR_LEN] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

/* What one input works on. Static because libFuzzer keeps the process; the pool outlives
 * inputs, everything else is reset by fip_run. */
struct fip_state {
	struct pool *pool;
	struct ip_core *core;
	struct ip_config cfg;
	struct ip_out out;
	uint64_t now;
	uint8_t frame[FIP_FRAME_MAX];
};

static struct fip_state fip;

static void fip_fail(const char *what, unsigned long a, unsigned long b)
{
	fprintf(stderr, "fuzz_ip_input: %s (%lu, %lu)\n", what, a, b);
	abort();
}

#define FIP_CHECK(cond, a, b)                                                     \
	do {                                                                      \
		if (!(cond))                                                      \
			fip_fail(#cond, (unsigned long)(a), (unsigned long)(b));  \
	} while (0)

/* RFC 1071 sum over len bytes, folded and inverted; independent of common/checksum.c. */
static uint16_t fip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void fip_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t fip_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Make the length and checksums of an IPv4 frame right, as ctl asks, so mutations reach
 * past them. */
static void fip_fix_frame(uint8_t *f, size_t len, uint8_t ctl)
{
	uint8_t *ip = f + ETH_HDR_LEN;
	size_t ihl, end;

	if (len < ETH_HDR_LEN + IPV4_HDR_MIN || fip_get16(f + 12) != ETH_TYPE_IPV4)
		return;
	if (ctl & FIP_CTL_FIX_TOT_LEN)
		fip_put16(ip + 2, (uint16_t)(len - ETH_HDR_LEN));
	ihl = (ip[0] & 0x0fu) * 4u;
	if (ihl < IPV4_HDR_MIN || ETH_HDR_LEN + ihl > len)
		return;
	if (ctl & FIP_CTL_FIX_ICMP_CSUM && ip[9] == IPV4_PROTO_ICMP) {
		end = fip_get16(ip + 2);
		if (end > len - ETH_HDR_LEN)
			end = len - ETH_HDR_LEN;
		if (end >= ihl + 4) {
			fip_put16(ip + ihl + 2, 0);
			fip_put16(ip + ihl + 2, fip_csum(ip + ihl, end - ihl));
		}
	}
	if (ctl & FIP_CTL_FIX_IP_CSUM) {
		fip_put16(ip + 10, 0);
		fip_put16(ip + 10, fip_csum(ip, ihl));
	}
}

/* What route_is_bad_src promises never to answer (ip_priv.h): 0.0.0.0, broadcasts, multicast,
 * 127.0.0.0/8, ourselves. (Class E is not on the list, as for Linux: it may be answered.) */
static bool fip_is_unicast_ip(uint32_t a_net)
{
	uint32_t a = ntohl(a_net);
	uint32_t mask = fip.cfg.prefix_len ? ~0u << (32 - fip.cfg.prefix_len) : 0;
	uint32_t ours = ntohl(fip.cfg.addr);

	if (a == 0 || a == UINT32_MAX || a >> 28 == 0xe || a >> 24 == 127 || a == ours)
		return false;
	if ((a & mask) == (ours & mask) && fip.cfg.prefix_len <= 30 && (a & ~mask) == ~mask)
		return false;
	return true;
}

/* A frame the core wants sent: Ethernet from us, then ARP or a sane IPv4 datagram. */
static void fip_check_wire(const struct buf *b)
{
	uint8_t h[ETH_HDR_LEN + IPV4_HDR_MAX];
	uint32_t len = buf_chain_len(b);
	const uint8_t *ip = h + ETH_HDR_LEN;
	uint32_t saddr, daddr;
	size_t ihl;

	FIP_CHECK(buf_chain_count(b) <= BUF_CHAIN_MAX, buf_chain_count(b), BUF_CHAIN_MAX);
	FIP_CHECK(buf_len(b) >= ETH_HDR_LEN, buf_len(b), ETH_HDR_LEN);
	FIP_CHECK(buf_copy_out(b, 0, h, ETH_HDR_LEN) == 0, len, 0);
	FIP_CHECK(memcmp(h + 6, fip_our_mac, ETH_ADDR_LEN) == 0, h[6], h[11]);
	if (fip_get16(h + 12) == ETH_TYPE_ARP) {
		FIP_CHECK(len >= ETH_HDR_LEN + 28, len, ETH_HDR_LEN + 28);
		return;
	}
	FIP_CHECK(fip_get16(h + 12) == ETH_TYPE_IPV4, fip_get16(h + 12), ETH_TYPE_IPV4);
	/* Only replies and errors leave here, always to a resolved unicast neighbour. */
	FIP_CHECK(!eth_addr_is_multicast(h) && !eth_addr_is_zero(h), h[0], h[5]);
	FIP_CHECK(len - ETH_HDR_LEN <= fip.cfg.mtu, len - ETH_HDR_LEN, fip.cfg.mtu);
	FIP_CHECK(len >= ETH_HDR_LEN + IPV4_HDR_MIN, len, ETH_HDR_LEN + IPV4_HDR_MIN);
	FIP_CHECK(buf_copy_out(b, ETH_HDR_LEN, h + ETH_HDR_LEN, IPV4_HDR_MIN) == 0, len, 0);
	ihl = (ip[0] & 0x0fu) * 4u;
	FIP_CHECK(ip[0] >> 4 == 4 && ihl >= IPV4_HDR_MIN, ip[0], 0);
	FIP_CHECK(ETH_HDR_LEN + ihl <= len, ihl, len);
	FIP_CHECK(buf_copy_out(b, ETH_HDR_LEN, h + ETH_HDR_LEN, ihl) == 0, ihl, len);
	FIP_CHECK(fip_get16(ip + 2) == len - ETH_HDR_LEN, fip_get16(ip + 2), len - ETH_HDR_LEN);
	FIP_CHECK(fip_csum(ip, ihl) == 0, fip_get16(ip + 10), ihl);
	memcpy(&saddr, ip + 12, 4);
	memcpy(&daddr, ip + 16, 4);
	FIP_CHECK(saddr == fip.cfg.addr, ntohl(saddr), ntohl(fip.cfg.addr));
	/* RFC 1122 §3.2.2: never an error (or a reply) to a broadcast or multicast source. */
	FIP_CHECK(fip_is_unicast_ip(daddr), ntohl(daddr), ip[9]);
}

/* A datagram for a transport: data at its IPv4 header, exactly as long as it says. */
static void fip_check_up(const struct buf *b, const struct desc *d)
{
	uint8_t h[IPV4_HDR_MIN];
	uint32_t saddr, daddr;

	FIP_CHECK(d->buf == buf_index(b) && d->gen == buf_gen(b), d->buf, buf_index(b));
	FIP_CHECK(d->len == buf_chain_len(b), d->len, buf_chain_len(b));
	FIP_CHECK(buf_chain_count(b) <= BUF_CHAIN_MAX, buf_chain_count(b), BUF_CHAIN_MAX);
	FIP_CHECK(d->l3_off == 0, d->l3_off, 0);
	FIP_CHECK(d->l4_off >= IPV4_HDR_MIN && d->l4_off <= IPV4_HDR_MAX, d->l4_off, d->len);
	FIP_CHECK(d->l4_off <= d->len, d->l4_off, d->len);
	FIP_CHECK(buf_copy_out(b, 0, h, sizeof(h)) == 0, d->len, 0);
	FIP_CHECK(h[0] >> 4 == 4 && (h[0] & 0x0fu) * 4u == d->l4_off, h[0], d->l4_off);
	FIP_CHECK(fip_get16(h + 2) == d->len, fip_get16(h + 2), d->len);
	/* Reassembled or not, what goes up is a whole datagram. */
	FIP_CHECK((fip_get16(h + 6) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) == 0,
		  fip_get16(h + 6), 0);
	memcpy(&saddr, h + 12, 4);
	memcpy(&daddr, h + 16, 4);
	FIP_CHECK(d->saddr == saddr && d->daddr == daddr, ntohl(d->saddr), ntohl(saddr));
	if (d->flags & DESC_F_ICMP_ERROR)
		FIP_CHECK(h[9] == IPV4_PROTO_ICMP, h[9], d->proto);
	else
		FIP_CHECK(h[9] == d->proto, h[9], d->proto);
	if (d->gso_type != DESC_GSO_NONE) {
		FIP_CHECK(d->gso_type == DESC_GSO_TCPV4 && d->proto == IPV4_PROTO_TCP, d->gso_type,
			  d->proto);
		FIP_CHECK(d->gso_size > 0 && (d->flags & DESC_F_CSUM_VERIFIED), d->gso_size,
			  d->flags);
	}
	if (d->flags & DESC_F_CSUM_NEEDED) {
		FIP_CHECK(d->flags & DESC_F_CSUM_VERIFIED, d->flags, 0);
		FIP_CHECK(d->csum_start == d->l4_off, d->csum_start, d->l4_off);
		FIP_CHECK(d->csum_offset == (d->proto == IPV4_PROTO_TCP ? 16u : 6u), d->csum_offset,
			  d->proto);
		FIP_CHECK((uint32_t)d->csum_start + d->csum_offset + 2 <= d->len, d->csum_start,
			  d->len);
	}
}

/* The offload descriptor nicd would send with frame f[0..len) (see the input format). */
static const struct desc *fip_rx_desc(const uint8_t *f, size_t len, struct desc *d)
{
	uint16_t mss = len >= 2 ? (uint16_t)(f[len - 2] << 8 | f[len - 1]) : 0;

	memset(d, 0, sizeof(*d));
	switch ((len + (len ? f[len - 1] : 0)) % 8) {
	case 0:
		return NULL;
	case 1:
		break;
	case 2:
		d->flags = DESC_F_CSUM_VERIFIED;
		break;
	case 3:
	case 4:
		d->flags = DESC_F_CSUM_NEEDED;
		d->csum_start = 34;
		d->csum_offset = len % 8 == 3 ? 6 : 16;
		break;
	case 5:
		d->flags = DESC_F_CSUM_NEEDED;
		d->csum_start = 34;
		d->csum_offset = 16;
		d->gso_type = DESC_GSO_TCPV4;
		d->gso_size = mss;
		break;
	case 6:
		d->flags = DESC_F_CSUM_VERIFIED;
		d->gso_type = DESC_GSO_TCPV4;
		d->gso_size = mss;
		break;
	default:
		if (len >= 10) {
			d->flags = f[0] & 3u;
			d->csum_start = (uint16_t)(f[1] << 8 | f[2]);
			d->csum_offset = (uint16_t)(f[3] << 8 | f[4]);
			d->gso_type = f[5] & 3u;
			d->gso_size = (uint16_t)(f[6] << 8 | f[7]);
		}
		break;
	}
	return d;
}

/* Everything the pool has handed out is accounted for, within bounds. */
static void fip_check_state(void)
{
	unsigned in_out = 0, arp = 0, reass = 0, incomplete = 0, i, k;

	for (i = 0; i < fip.out.n_wire; i++) {
		fip_check_wire(fip.out.wire[i]);
		in_out += buf_chain_count(fip.out.wire[i]);
	}
	for (i = 0; i < fip.out.n_up; i++) {
		fip_check_up(fip.out.up[i], &fip.out.up_desc[i]);
		in_out += buf_chain_count(fip.out.up[i]);
	}
	for (i = 0; i < IP_ARP_TABLE_SIZE; i++) {
		const struct ip_arp_slot *s = &fip.core->arp[i];
		unsigned bufs = 0;

		FIP_CHECK(s->qlen <= fip.cfg.arp_queue_max, s->qlen, fip.cfg.arp_queue_max);
		for (k = 0; k < s->qlen; k++)
			bufs += buf_chain_count(s->q[k]);
		FIP_CHECK(bufs == s->qbufs, bufs, s->qbufs);
		arp += bufs;
		incomplete += s->state == IP_ARP_INCOMPLETE;
	}
	FIP_CHECK(incomplete <= IP_ARP_INCOMPLETE_MAX, incomplete, IP_ARP_INCOMPLETE_MAX);
	for (i = 0; i < IP_REASS_SLOTS; i++) {
		const struct ip_reass_slot *s = &fip.core->reass.slot[i];
		unsigned bufs = 0;

		if (!s->in_use)
			continue;
		for (k = 0; k < s->nfrags; k++)
			bufs += buf_chain_count(s->frag[k].b);
		FIP_CHECK(bufs == s->nbufs, bufs, s->nbufs);
		reass += bufs;
	}
	FIP_CHECK(arp == fip.core->arp_held, arp, fip.core->arp_held);
	FIP_CHECK(reass == fip.core->reass.held, reass, fip.core->reass.held);
	FIP_CHECK(arp <= IP_ARP_HELD_MAX, arp, IP_ARP_HELD_MAX);
	FIP_CHECK(reass <= fip.cfg.reass_max_buffers, reass, fip.cfg.reass_max_buffers);
	FIP_CHECK(pool_count(fip.pool) - pool_free_count(fip.pool) == in_out + arp + reass,
		  pool_count(fip.pool) - pool_free_count(fip.pool), in_out + arp + reass);
	/* Held with no deadline to free it: pinned for good by whoever sent it. */
	if (ip_next_deadline(fip.core) == UINT64_MAX)
		FIP_CHECK(arp + reass == 0, arp, reass);
}

/* After each call: check, then drain the output as ipd would (or keep it, if asked). */
static void fip_settle(bool keep)
{
	fip_check_state();
	if (!keep || fip.out.n_wire > IP_OUT_MAX - 64 || fip.out.n_up > IP_OUT_MAX - 64)
		ip_out_discard(&fip.out);
}

static void fip_timer(bool keep)
{
	bool idle = fip.out.n_wire == 0 && fip.out.n_up == 0;

	ip_timer(fip.core, fip.now, &fip.out);
	/* A pass that sent nothing with nothing in the way must have moved its deadline on, or
	 * ipd would spin on its timerfd. */
	if (idle && fip.out.n_wire == 0)
		FIP_CHECK(ip_next_deadline(fip.core) > fip.now, ip_next_deadline(fip.core),
			  fip.now);
	fip_settle(keep);
}

/* Answer what went up with port unreachable, as udpd does for a datagram no socket wants
 * (never for ICMP errors: those a transport matches to a socket or drops). */
static void fip_port_unreach(void)
{
	unsigned i, kept = 0;

	for (i = 0; i < fip.out.n_up; i++) {
		if (fip.out.up_desc[i].flags & DESC_F_ICMP_ERROR) {
			fip.out.up[kept] = fip.out.up[i];
			fip.out.up_desc[kept++] = fip.out.up_desc[i];
			continue;
		}
		struct buf *b = fip.out.up[i];

		fip.out.up[i] = NULL;
		ip_port_unreachable(fip.core, fip.now, &b, &fip.out);
		FIP_CHECK(b == NULL, 0, 0);
	}
	fip.out.n_up = kept;
}

static void fip_config(uint8_t sel)
{
	ip_config_defaults(&fip.cfg);
	memcpy(fip.cfg.mac, fip_our_mac, ETH_ADDR_LEN);
	fip.cfg.addr = htonl(0x0a000002);      /* 10.0.0.2 */
	fip.cfg.prefix_len = sel & FIP_CFG_P30 ? 30 : 24;
	fip.cfg.gateway = sel & FIP_CFG_NO_GW ? 0 : htonl(0x0a000001);
	fip.cfg.mtu = fip_mtus[sel & FIP_CFG_MTU];
	if (sel & FIP_CFG_TIGHT) {
		fip.cfg.reass_max_buffers = 4;
		fip.cfg.arp_queue_max = 1;
		fip.cfg.icmp_burst = 1;
	}
	if (sel & FIP_CFG_FAST_ARP) {
		fip.cfg.arp_cache_ttl_ms = 1;
		fip.cfg.arp_retry_ms = 1;
	}
}

static void fip_run(const uint8_t *data, size_t size)
{
	size_t pos = 1;
	int rc;

	fip_config(data[0]);
	fip.now = FIP_START_NS;
	memset(&fip.out, 0, sizeof(fip.out));
	rc = ip_core_create(&fip.cfg, fip.pool, fip.now, &fip.out, &fip.core);
	FIP_CHECK(rc == 0, -rc, data[0]);
	ip_set_transport(fip.core, IPV4_PROTO_UDP, data[0] & FIP_CFG_UDP);
	ip_set_transport(fip.core, IPV4_PROTO_TCP, data[0] & FIP_CFG_TCP);
	fip_settle(false);

	while (pos + FIP_REC_HDR <= size) {
		uint8_t ctl = data[pos];
		size_t head = data[pos + 1];
		size_t len = fip_get16(data + pos + 2);
		bool keep = ctl & FIP_CTL_KEEP_OUT;
		struct buf *b;

		pos += FIP_REC_HDR;
		if (len > size - pos)
			len = size - pos;
		if (len > FIP_FRAME_MAX)
			len = FIP_FRAME_MAX;
		memcpy(fip.frame, data + pos, len);
		pos += len;

		fip.now += fip_steps[ctl & FIP_CTL_CLOCK];
		if (ip_next_deadline(fip.core) <= fip.now)
			fip_timer(keep);
		fip_fix_frame(fip.frame, len, ctl);
		b = fuzz_chain(fip.pool, fip.frame, len, head);
		if (!b)
			continue;
		struct desc rx;
		ip_input_desc(fip.core, fip.now, &b, fip_rx_desc(fip.frame, len, &rx), &fip.out);
		FIP_CHECK(b == NULL, 0, 0);
		fip_check_state();
		if (ctl & FIP_CTL_PORT_UNREACH)
			fip_port_unreach();
		fip_settle(keep);
	}

	/* Run the timers out: ARP retries fail, entries and reassemblies expire. */
	ip_out_discard(&fip.out);
	for (unsigned i = 0; i < FIP_RUNOUT_PASSES; i++) {
		uint64_t d = ip_next_deadline(fip.core);

		if (d == UINT64_MAX)
			break;
		if (d > fip.now)
			fip.now = d;
		fip_timer(false);
	}
	ip_core_destroy(&fip.core);
	FIP_CHECK(fip.core == NULL, 0, 0);
	FIP_CHECK(pool_free_count(fip.pool) == pool_count(fip.pool), pool_free_count(fip.pool),
		  pool_count(fip.pool));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fip.pool) {
		struct pool_geometry geo = { .count = FIP_POOL_COUNT };
		int rc = pool_create_anon(&geo, POOL_HOLDER_IPD, &fip.pool);

		FIP_CHECK(rc == 0, -rc, FIP_POOL_COUNT);
	}
	if (size == 0)
		return 0;
	fip_run(data, size);
	return 0;
}

/* For the plain driver: a config byte from ctl[0], then one record per unit. */
static size_t fip_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t pos = 0;

	if (cap == 0)
		return 0;
	out[pos++] = (uint8_t)ctl[0];
	for (unsigned i = 0; i < n; i++) {
		uint32_t c = ctl[1 + i];
		size_t len = unit_len[i];

		if (cap - pos < FIP_REC_HDR)
			break;
		if (len > cap - pos - FIP_REC_HDR)
			len = cap - pos - FIP_REC_HDR;
		/* Mostly fix the checksums, keep headers in one buffer and stay within a second,
		 * so most inputs reach the protocol code; the rest try everything else. */
		uint8_t c0 = (uint8_t)c;
		if (c >> 8 & 3)
			c0 |= FIP_CTL_FIX_IP_CSUM | FIP_CTL_FIX_ICMP_CSUM;
		if (c >> 14 & 1)
			c0 |= FIP_CTL_FIX_TOT_LEN;
		if (c >> 10 & 3)
			c0 &= (uint8_t)~0x04u; /* clock steps of at most 500 ms */
		out[pos++] = c0;
		out[pos++] = c >> 12 & 3 ? 0 : (uint8_t)(c >> 16);
		fip_put16(out + pos, (uint16_t)len);
		pos += 2;
		memcpy(out + pos, unit[i], len);
		pos += len;
	}
	return pos;
}

const struct fuzz_target fuzz_target = {
	.name = "ip_input",
	.units = fuzz_ip_units,
	.regressions = fuzz_ip_regressions,
	.max_units = 8,
	.unit_max = FIP_FRAME_MAX,
	.compose = fip_compose,
};
