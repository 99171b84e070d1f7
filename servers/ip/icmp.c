/* icmp: ICMP for a host (RFC 792, RFC 1122 §3.2.2): echo replies, and the error messages the
 * rest of the core asks for.
 *
 * Input: shorter than the 8-byte header or a bad checksum (over the whole message, chains and
 * reassembled datagrams included) is dropped and counted. An echo request is answered in place:
 * the request's own chain becomes the reply (IP header pulled, type set to 0, checksum
 * recomputed over the whole message), and ipv4_send puts a fresh header in front, so a
 * 65,000-byte request that arrived in fragments leaves as a 65,000-byte reply, fragmented again
 * on output. The reply carries no IP options: this stack honours none (no source route is
 * followed, so there is none to reverse), and RFC 1122 §3.2.2.6 only says SHOULD for echoing
 * record route and timestamp. An echo request to a broadcast address is ignored (RFC 1122
 * §3.2.2.6 MAY; answering it is the smurf amplifier).
 * Destination unreachable and the other types are counted and dropped: there is no channel yet
 * to pass ICMP errors up to tcpd/udpd (RFC 1122 §3.2.2.1 wants them there).
 *
 * Errors: icmp_send_error quotes as much of the offending datagram as keeps the error within
 * 576 bytes (RFC 1812 §4.3.2.3; RFC 1122 §3.2.2 asks for at least the IP header and 8 data
 * bytes), as Linux's icmp_send does: the sender's IP_RECVERR error queue hands the quoted
 * payload back to the application, which then sees the same bytes whichever stack answered.
 * The error is never larger than the datagram that caused it plus 28 bytes, so a spoofed
 * datagram gains nothing by it. Its source is the offending datagram's destination (ours,
 * since we never forward: our address, or a 127/8 address for a datagram that came through
 * the loopback interface), as Linux's. Never about (RFC 1122 §3.2.2): an ICMP error, a
 * datagram to a broadcast or multicast address, a fragment other than the first, or a
 * datagram whose source names no single host (0.0.0.0, broadcast, multicast). A loopback or
 * our own source is answered: ipv4_input drops those from the wire, so such a datagram came
 * through our loopback interface and the error goes back the same way. Errors carry TOS 0
 * (RFC 1349 §5.1).
 *
 * Rate limit (RFC 1122 §3.2.2 SHOULD; RFC 1812 §4.3.2.8): a token bucket refilled at
 * icmp_rate_per_s tokens a second up to icmp_burst, driven by `now`. It is kept as nanoseconds
 * of credit: a token costs 1e9 / rate ns, the bucket holds burst of them, and elapsed time adds
 * credit one for one, so there is no rounding drift. Rate 0 turns the limit off (as Linux's
 * icmp_ratelimit = 0). Echo replies are not limited: they answer one request each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "ip_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/* RFC 1812 §4.3.2.3 / Linux icmp_send: an error is at most 576 bytes with its IP header. */
#define ICMP_ERROR_QUOTE_MAX (576u - IPV4_HDR_MIN - ICMP_HDR_LEN)

/* RFC 1122 §3.2.2: the query types; everything else, unknown types included, is treated as
 * an error message and never answered with an error. */
static bool icmp_type_is_query(uint8_t type)
{
	switch (type) {
	case ICMP_ECHO_REPLY:
	case ICMP_ECHO_REQUEST:
	case 9:  /* router advertisement (RFC 1256) */
	case 10: /* router solicitation */
	case 13: /* timestamp, reply */
	case 14:
	case 15: /* information request, reply */
	case 16:
	case 17: /* address mask request, reply (RFC 950) */
	case 18:
		return true;
	default:
		return false;
	}
}

static bool icmp_rate_take(struct ip_core *core, uint64_t now)
{
	uint64_t cost, cap, delta;

	if (core->cfg.icmp_rate_per_s == 0)
		return true;
	cost = IP_NS_PER_S / core->cfg.icmp_rate_per_s;
	cap = cost * core->cfg.icmp_burst;
	if (core->icmp_credit > cap)
		core->icmp_credit = cap;
	if (now > core->icmp_last) {
		delta = now - core->icmp_last;
		core->icmp_credit = delta >= cap - core->icmp_credit ? cap : core->icmp_credit + delta;
		core->icmp_last = now;
	}
	if (core->icmp_credit < cost)
		return false;
	core->icmp_credit -= cost;
	return true;
}

int icmp_send_error(struct ip_core *core, uint64_t now, const struct buf *orig, uint8_t type,
		    uint8_t code, struct ip_out *out)
{
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(orig);
	unsigned ihl = ipv4_hdr_len(h);
	uint32_t quote = buf_chain_len(orig);
	struct ipv4_send_args a = {
		.daddr = h->saddr,
		.saddr = h->daddr,
		.proto = IPV4_PROTO_ICMP,
		.tos = 0,
	};
	struct icmp_hdr ih = {.type = type, .code = code};
	struct buf *b;
	uint8_t *p;
	int rc;

	if (ntohs(h->frag_off) & IPV4_FRAG_OFF_MASK)
		return 0;
	if (h->saddr == 0 || route_addr_type(&core->rt, h->saddr) == ROUTE_BROADCAST ||
	    ipv4_is_multicast(h->saddr) || route_addr_type(&core->rt, h->daddr) != ROUTE_LOCAL)
		return 0;
	if (h->proto == IPV4_PROTO_ICMP) {
		uint8_t t;

		if (buf_copy_out(orig, ihl, &t, 1) != 0 || !icmp_type_is_query(t))
			return 0;
	}
	if (!icmp_rate_take(core, now)) {
		core->stats.icmp_out_rate_limited++;
		return -EAGAIN;
	}
	if (quote > ICMP_ERROR_QUOTE_MAX)
		quote = ICMP_ERROR_QUOTE_MAX;
	b = pool_alloc(core->pool);
	if (!b) {
		core->stats.icmp_out_drop_nobuf++;
		return -ENOBUFS;
	}
	p = buf_put(b, ICMP_HDR_LEN + quote); /* fresh: POOL_HEADROOM before, 556 bytes fit */
	buf_copy_out(orig, 0, p + ICMP_HDR_LEN, quote);
	memcpy(p, &ih, sizeof(ih));
	ih.csum = htons(csum_compute(p, ICMP_HDR_LEN + quote));
	memcpy(p, &ih, sizeof(ih));
	rc = ipv4_send(core, now, &b, &a, out);
	if (rc == 0 && type == ICMP_DEST_UNREACH)
		core->stats.icmp_out_dest_unreachs++;
	else if (rc == 0 && type == ICMP_TIME_EXCEEDED)
		core->stats.icmp_out_time_excds++;
	return rc;
}

/* Turn the echo request b (data at its IPv4 header, checksum verified) into the reply. */
static void icmp_echo_reply(struct ip_core *core, uint64_t now, struct buf *b,
			    struct ip_out *out)
{
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(b);
	unsigned ihl = ipv4_hdr_len(h);
	uint32_t len = buf_chain_len(b) - ihl;
	struct ipv4_send_args a = {
		.daddr = h->saddr,
		.proto = IPV4_PROTO_ICMP,
		.tos = h->tos, /* as Linux: the reply keeps the request's TOS */
	};
	struct icmp_hdr *ic;

	/* A reassembled request may keep its ICMP header outside the head buffer. */
	if (ip_pullup(core, &b, ihl + ICMP_HDR_LEN) != 0) {
		core->stats.icmp_out_drop_nobuf++;
		pool_free(&b);
		return;
	}
	buf_pull(b, ihl);
	ic = (struct icmp_hdr *)buf_data(b);
	ic->type = ICMP_ECHO_REPLY;
	ic->code = 0;
	ic->csum = 0;
	ic->csum = htons(csum_fold(csum_chain(b, 0, len, 0)));
	if (ipv4_send(core, now, &b, &a, out) == 0)
		core->stats.icmp_out_echo_reps++;
}

/* An ICMP error quotes the IPv4 header and at least 8 bytes of the datagram that caused it
 * (RFC 792). If a transport serves the quoted protocol it gets the error, to report it on the
 * socket that sent the datagram (RFC 1122 §3.2.2.1: ICMP errors MUST be passed to the
 * transport). Consumes *pkt. */
static void icmp_error_up(struct ip_core *core, struct buf **pkt, unsigned ihl, uint32_t len,
			  struct ip_out *out)
{
	struct ipv4_hdr q;

	if (len < ICMP_HDR_LEN + IPV4_HDR_MIN + 8u ||
	    buf_copy_out(*pkt, ihl + ICMP_HDR_LEN, &q, sizeof(q)) != 0 || ipv4_version(&q) != 4 ||
	    ipv4_hdr_len(&q) < IPV4_HDR_MIN ||
	    len < ICMP_HDR_LEN + ipv4_hdr_len(&q) + 8u) {
		core->stats.icmp_in_drop_short++;
		pool_free(pkt);
		return;
	}
	if (!(core->served[q.proto / 8] & (1u << (q.proto % 8)))) {
		pool_free(pkt); /* nobody to tell: counted as received above */
		return;
	}
	core->stats.icmp_in_errors_up++;
	ip_deliver_up(core, pkt, q.proto, DESC_F_ICMP_ERROR, NULL, out);
}

void icmp_input(struct ip_core *core, uint64_t now, struct buf **pkt, bool bcast,
		struct ip_out *out)
{
	struct buf *b = *pkt;
	unsigned ihl = ipv4_hdr_len((const struct ipv4_hdr *)buf_data(b));
	uint32_t len = buf_chain_len(b) - ihl; /* the datagram is trimmed to its total length */
	struct icmp_hdr ih;

	*pkt = NULL;
	core->stats.icmp_in_msgs++;
	if (len < ICMP_HDR_LEN) {
		core->stats.icmp_in_drop_short++;
		goto drop;
	}
	if (csum_fold(csum_chain(b, ihl, len, 0)) != 0) {
		core->stats.icmp_in_drop_csum++;
		goto drop;
	}
	buf_copy_out(b, ihl, &ih, sizeof(ih));
	switch (ih.type) {
	case ICMP_ECHO_REQUEST:
		core->stats.icmp_in_echos++;
		if (bcast) {
			core->stats.icmp_in_drop_bcast++;
			goto drop;
		}
		icmp_echo_reply(core, now, b, out);
		return;
	case ICMP_DEST_UNREACH:
		core->stats.icmp_in_dest_unreachs++;
		icmp_error_up(core, &b, ihl, len, out);
		return;
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAM_PROBLEM:
		core->stats.icmp_in_other++;
		icmp_error_up(core, &b, ihl, len, out);
		return;
	default:
		core->stats.icmp_in_other++;
		goto drop;
	}
drop:
	pool_free(&b);
}
