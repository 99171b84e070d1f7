/* helper_ip: fixtures, frame builders and expectations for the IPv4 core; see helper_ip.h. */
#include "helper_ip.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_pool.h"
#include "wire/arp.h"
#include "wire/eth.h"

const uint8_t tip_our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
const uint8_t tip_peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x05};
const uint8_t tip_gw_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t tip_other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x09};
const uint8_t tip_bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static const uint8_t tip_zero6[6];

void tip_config(struct ip_config *cfg)
{
	ip_config_defaults(cfg);
	memcpy(cfg->mac, tip_our_mac, 6);
	cfg->addr = TIP_OUR_IP;
	cfg->prefix_len = 24;
	cfg->gateway = TIP_GW_IP;
}

void tip_fx_setup(struct tip_fx *fx, const struct ip_config *cfg)
{
	struct ip_config c;
	uint8_t f[TIP_FRAME_MAX];
	size_t len;
	int rc;

	memset(fx, 0, sizeof(*fx));
	if (cfg)
		c = *cfg;
	else
		tip_config(&c);
	fx->pool = tpool_new(TIP_POOL_COUNT, POOL_HOLDER_IPD);
	tpool_assert_idle(fx->pool);
	fx->now = 1000 * TIP_SEC;
	rc = ip_core_create(&c, fx->pool, fx->now, &fx->out, &fx->core);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(fx->core);
	/* The gratuitous ARP: a broadcast request with our address as sender and target. */
	tip_expect_wire_frames(&fx->out, 1);
	len = tip_wire_copy(&fx->out, 0, f, sizeof(f));
	tip_expect_arp(f, len, tip_bcast_mac, ARP_OP_REQUEST, c.mac, c.addr, tip_zero6, c.addr);
	/* Frames the core builds start from a fresh buffer's headroom, less what it pushed. */
	ck_assert_uint_eq(buf_headroom(fx->out.wire[0]), POOL_HEADROOM - ETH_HDR_LEN);
	ck_assert_uint_eq(ip_core_stats(fx->core)->arp_tx_gratuitous, 1);
	tip_out_reset(&fx->out);
	tpool_assert_idle(fx->pool);
}

void tip_fx_teardown(struct tip_fx *fx)
{
	tip_out_reset(&fx->out);
	ip_core_destroy(&fx->core);
	ck_assert_ptr_null(fx->core);
	tpool_destroy(&fx->pool);
}

uint16_t tip_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
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

static const uint8_t *or6(const uint8_t *v, const uint8_t *dflt)
{
	return memcmp(v, tip_zero6, 6) ? v : dflt;
}

static size_t tip_finish(uint8_t *f, size_t natural, size_t frame_len)
{
	if (frame_len == 0)
		return natural;
	if (frame_len > natural)
		memset(f + natural, 0, frame_len - natural);
	return frame_len;
}

size_t tip_arp_frame(uint8_t *f, const struct tip_arp *s)
{
	struct eth_hdr eh;
	struct arp_eth_ipv4 a;
	bool lit = s->zero_fields;

	memset(f, 0, ETH_HDR_LEN + ARP_ETH_IPV4_LEN);
	memcpy(eh.dst, or6(s->eth_dst, tip_bcast_mac), 6);
	memcpy(eh.src, or6(s->eth_src, tip_peer_mac), 6);
	eh.type = htons(ETH_TYPE_ARP);
	a.htype = htons(lit || s->htype ? s->htype : ARP_HTYPE_ETHER);
	a.ptype = htons(lit || s->ptype ? s->ptype : ARP_PTYPE_IPV4);
	a.hlen = lit || s->hlen ? s->hlen : 6;
	a.plen = lit || s->plen ? s->plen : 4;
	a.op = htons(lit || s->op ? s->op : ARP_OP_REQUEST);
	memcpy(a.sha, or6(s->sha, tip_peer_mac), 6);
	a.spa = s->spa ? s->spa : TIP_PEER_IP;
	memcpy(a.tha, s->tha, 6);
	a.tpa = s->tpa ? s->tpa : TIP_OUR_IP;
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + ETH_HDR_LEN, &a, sizeof(a));
	return tip_finish(f, ETH_HDR_LEN + ARP_ETH_IPV4_LEN, s->frame_len);
}

size_t tip_ip_frame(uint8_t *f, size_t cap, const struct tip_ip *s)
{
	struct eth_hdr eh;
	struct ipv4_hdr h;
	size_t hl = IPV4_HDR_MIN + s->opt_len;
	size_t natural = ETH_HDR_LEN + hl + s->payload_len;
	unsigned ihl_words = s->ihl ? s->ihl : (unsigned)(hl / 4);

	ck_assert_uint_le(natural, cap);
	ck_assert_uint_le(s->frame_len, cap);
	memcpy(eh.dst, or6(s->eth_dst, tip_our_mac), 6);
	memcpy(eh.src, or6(s->eth_src, tip_peer_mac), 6);
	eh.type = htons(ETH_TYPE_IPV4);
	h.ver_ihl = (uint8_t)((s->version ? s->version : 4) << 4 | (ihl_words & 0xf));
	h.tos = s->tos;
	h.tot_len = s->tot_len_zero ? 0
				    : htons(s->tot_len ? s->tot_len : (uint16_t)(hl + s->payload_len));
	h.id = htons(s->id);
	h.frag_off = htons(s->frag_off);
	h.ttl = s->ttl_zero ? 0 : s->ttl ? s->ttl : 64;
	h.proto = s->proto ? s->proto : IPV4_PROTO_UDP;
	h.csum = 0;
	h.saddr = s->saddr_zero ? 0 : s->saddr ? s->saddr : TIP_PEER_IP;
	h.daddr = s->daddr ? s->daddr : TIP_OUR_IP;
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + ETH_HDR_LEN, &h, sizeof(h));
	if (s->opt_len)
		memcpy(f + ETH_HDR_LEN + IPV4_HDR_MIN, s->opts, s->opt_len);
	if (s->payload_len)
		memcpy(f + ETH_HDR_LEN + hl, s->payload, s->payload_len);
	/* The checksum covers the header as IHL says, as far as the frame has it. */
	{
		size_t ck = ihl_words * 4u;
		uint16_t c;

		if (ck > hl + s->payload_len)
			ck = hl + s->payload_len;
		c = tip_csum(f + ETH_HDR_LEN, ck);
		if (s->bad_csum)
			c ^= 0x5a5a;
		c = htons(c);
		memcpy(f + ETH_HDR_LEN + 10, &c, 2);
	}
	return tip_finish(f, natural, s->frame_len);
}

size_t tip_icmp_msg(uint8_t *m, uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
		    const void *data, size_t len)
{
	uint16_t c;

	m[0] = type;
	m[1] = code;
	m[2] = m[3] = 0;
	m[4] = (uint8_t)(id >> 8);
	m[5] = (uint8_t)id;
	m[6] = (uint8_t)(seq >> 8);
	m[7] = (uint8_t)seq;
	if (len)
		memcpy(m + 8, data, len);
	c = htons(tip_csum(m, 8 + len));
	memcpy(m + 2, &c, 2);
	return 8 + len;
}

void tip_input(struct tip_fx *fx, const uint8_t *frame, size_t len)
{
	struct buf *b = tpool_frame(fx->pool, frame, len);

	ip_input(fx->core, fx->now, &b, &fx->out);
	ck_assert_ptr_null(b);
}

struct buf *tip_chain(struct pool *pool, const uint8_t *data, size_t len)
{
	size_t first = len < POOL_DATA_ROOM ? len : POOL_DATA_ROOM;
	struct buf *b = tpool_frame(pool, data, first);

	for (size_t at = first; at < len; at += TIP_CHAIN_PIECE) {
		size_t n = len - at < TIP_CHAIN_PIECE ? len - at : TIP_CHAIN_PIECE;
		struct buf *t = pool_alloc(pool);
		uint8_t *p;

		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_nonnull(buf_push(t, POOL_HEADROOM));
		buf_trim(t, 0);
		p = buf_put(t, n);
		ck_assert_ptr_nonnull(p);
		memcpy(p, data + at, n);
		ck_assert_int_eq(buf_chain_append(b, &t), 0);
	}
	ck_assert_uint_eq(buf_chain_len(b), len);
	return b;
}

void tip_input_desc(struct tip_fx *fx, const uint8_t *frame, size_t len, const struct desc *rx)
{
	struct buf *b = tip_chain(fx->pool, frame, len);

	ip_input_desc(fx->core, fx->now, &b, rx, &fx->out);
	ck_assert_ptr_null(b);
}

void tip_out_reset(struct ip_out *out)
{
	for (unsigned i = 0; i < out->n_wire; i++)
		pool_free(&out->wire[i]);
	for (unsigned i = 0; i < out->n_up; i++)
		pool_free(&out->up[i]);
	out->n_wire = 0;
	out->n_up = 0;
}

void tip_expect_no_tx(const struct ip_out *out)
{
	ck_assert_msg(out->n_wire == 0, "expected no frame for the wire, got %u", out->n_wire);
	ck_assert_msg(out->n_up == 0, "expected no packet for a transport, got %u", out->n_up);
}

void tip_expect_wire_frames(const struct ip_out *out, unsigned n)
{
	ck_assert_msg(out->n_wire == n, "expected %u frames for the wire, got %u", n, out->n_wire);
	ck_assert_msg(out->n_up == 0, "expected no packet for a transport, got %u", out->n_up);
}

size_t tip_wire_copy(const struct ip_out *out, unsigned i, uint8_t *dst, size_t cap)
{
	size_t len;

	ck_assert_uint_lt(i, out->n_wire);
	len = buf_chain_len(out->wire[i]);
	ck_assert_uint_le(len, cap);
	ck_assert_int_eq(buf_copy_out(out->wire[i], 0, dst, len), 0);
	return len;
}

void tip_expect_arp(const uint8_t *f, size_t len, const uint8_t eth_dst[6], uint16_t op,
		    const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
	struct eth_hdr eh;
	struct arp_eth_ipv4 a;

	ck_assert_uint_eq(len, ETH_HDR_LEN + ARP_ETH_IPV4_LEN);
	memcpy(&eh, f, sizeof(eh));
	memcpy(&a, f + ETH_HDR_LEN, sizeof(a));
	ck_assert_mem_eq(eh.dst, eth_dst, 6);
	ck_assert_mem_eq(eh.src, tip_our_mac, 6);
	ck_assert_uint_eq(ntohs(eh.type), ETH_TYPE_ARP);
	ck_assert_uint_eq(ntohs(a.htype), ARP_HTYPE_ETHER);
	ck_assert_uint_eq(ntohs(a.ptype), ARP_PTYPE_IPV4);
	ck_assert_uint_eq(a.hlen, 6);
	ck_assert_uint_eq(a.plen, 4);
	ck_assert_uint_eq(ntohs(a.op), op);
	ck_assert_mem_eq(a.sha, sha, 6);
	ck_assert_uint_eq(a.spa, spa);
	ck_assert_mem_eq(a.tha, tha, 6);
	ck_assert_uint_eq(a.tpa, tpa);
}

const struct ipv4_hdr *tip_expect_ipv4(const uint8_t *f, size_t len, const uint8_t eth_dst[6],
				       uint8_t proto, uint32_t saddr, uint32_t daddr)
{
	struct eth_hdr eh;
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)(f + ETH_HDR_LEN);

	ck_assert_uint_ge(len, ETH_HDR_LEN + IPV4_HDR_MIN);
	memcpy(&eh, f, sizeof(eh));
	ck_assert_mem_eq(eh.dst, eth_dst, 6);
	ck_assert_mem_eq(eh.src, tip_our_mac, 6);
	ck_assert_uint_eq(ntohs(eh.type), ETH_TYPE_IPV4);
	ck_assert_uint_eq(h->ver_ihl, 0x45);
	ck_assert_uint_eq(ntohs(h->tot_len), len - ETH_HDR_LEN);
	ck_assert_uint_eq(tip_csum(h, IPV4_HDR_MIN), 0);
	ck_assert_uint_eq(h->proto, proto);
	ck_assert_uint_eq(h->saddr, saddr);
	ck_assert_uint_eq(h->daddr, daddr);
	ck_assert_uint_ne(h->ttl, 0);
	return h;
}

void tip_learn(struct tip_fx *fx, uint32_t ip, const uint8_t mac[6])
{
	uint8_t f[64];
	struct tip_arp a = {.eth_dst = {0}, .op = ARP_OP_REPLY, .spa = ip};
	size_t len;

	memcpy(a.eth_dst, tip_our_mac, 6);
	memcpy(a.eth_src, mac, 6);
	memcpy(a.sha, mac, 6);
	memcpy(a.tha, tip_our_mac, 6);
	len = tip_arp_frame(f, &a);
	tip_input(fx, f, len);
}

int tip_output(struct tip_fx *fx, uint32_t daddr, uint8_t proto, uint32_t flags, size_t len,
	       uint8_t marker)
{
	uint8_t *data = malloc(len ? len : 1);
	struct desc d = {.daddr = daddr, .proto = proto ? proto : IPV4_PROTO_UDP, .flags = flags};
	size_t first = len < 1400 ? len : 1400;
	struct buf *b;
	int rc;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(marker + i);
	b = tpool_frame(fx->pool, data, first);
	if (len > first)
		ck_assert_int_eq(buf_append_data(b, data + first, len - first), 0);
	free(data);
	rc = ip_output(fx->core, fx->now, &b, &d, &fx->out);
	ck_assert_ptr_null(b);
	return rc;
}

bool tip_arp_find(struct tip_fx *fx, uint32_t ip, struct ip_arp_entry *e)
{
	struct ip_arp_entry all[256];
	unsigned n = ip_arp_dump(fx->core, all, 256);

	for (unsigned i = 0; i < n; i++)
		if (all[i].addr == ip) {
			*e = all[i];
			return true;
		}
	return false;
}
