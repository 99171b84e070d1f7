/* ip_frag: IPv4 fragmentation on output (RFC 791 §3.2 "An Example Fragmentation Procedure").
 *
 * Every fragment is a fresh single buffer with POOL_HEADROOM headroom, so the layers below can
 * push their headers in place; the payload is copied out of the (possibly chained) datagram with
 * buf_copy_out. All fragments are allocated before any is written: on exhaustion nothing is
 * left allocated and the datagram is untouched (STYLE rule 10).
 *
 * Headers: the first fragment carries the original header with all its options; the others
 * carry only the options whose copy flag (0x80) is set, padded with EOL to a 32-bit boundary
 * (RFC 791 §3.1 "copied flag", §3.2 step 5 "selectively copy the internet header"). Linux keeps
 * the header size and overwrites uncopied options with NOP instead; shrinking it, as the RFC
 * describes, leaves more room for payload in the later fragments.
 *
 * Sizes: each fragment's payload is (mtu - its header) rounded down to 8 bytes, the last takes
 * the rest. The link MTU may be configured up to 9,000, but a fragment must fit one buffer, so
 * fragments are capped at POOL_DATA_ROOM bytes: a jumbo link then simply gets smaller fragments,
 * which is always legal.
 *
 * A datagram that is itself a fragment (MF set, or an offset) is refragmented correctly: offsets
 * are relative to its own offset and its last piece keeps MF (RFC 791 §3.2).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "checksum.h"
#include "ip_frag.h"
#include "wire/ipv4.h"

#define IPV4_OPT_COPIED 0x80u

/* Build the header of the non-first fragments from the original one: the fixed part and the
 * options with the copy flag. Returns its length, or -EINVAL on a malformed option. */
static int frag_later_header(const uint8_t *hdr, unsigned ihl, uint8_t *out)
{
	unsigned i = IPV4_HDR_MIN, n = IPV4_HDR_MIN;

	memcpy(out, hdr, IPV4_HDR_MIN);
	while (i < ihl) {
		unsigned type = hdr[i], olen;

		if (type == IPV4_OPT_EOL)
			break;
		if (type == IPV4_OPT_NOP) {
			i++; /* copy flag 0: not copied */
			continue;
		}
		if (i + 1 >= ihl)
			return -EINVAL;
		olen = hdr[i + 1];
		if (olen < 2 || i + olen > ihl)
			return -EINVAL;
		if (type & IPV4_OPT_COPIED) {
			memcpy(out + n, hdr + i, olen);
			n += olen;
		}
		i += olen;
	}
	while (n & 3u)
		out[n++] = IPV4_OPT_EOL;
	out[0] = (uint8_t)(4u << 4 | n / 4u);
	return (int)n;
}

static void frag_write(struct buf *f, const uint8_t *hdr, unsigned hlen, const struct buf *src,
		       size_t src_off, unsigned plen, uint16_t frag_off)
{
	uint8_t *p = buf_put(f, hlen + plen);
	struct ipv4_hdr *h = (struct ipv4_hdr *)p;
	int rc;

	assert(p != NULL); /* hlen + plen <= POOL_DATA_ROOM, the tailroom of a fresh buffer */
	memcpy(p, hdr, hlen);
	rc = buf_copy_out(src, src_off, p + hlen, plen);
	assert(rc == 0);
	(void)rc;
	h->tot_len = htons((uint16_t)(hlen + plen));
	h->frag_off = htons(frag_off);
	h->csum = 0;
	h->csum = htons(csum_compute(h, hlen));
}

int ip_fragment(struct pool *pool, struct buf **dgram, uint16_t mtu, struct buf **frags,
		unsigned max, struct ip_stats *st)
{
	uint8_t hdr0[IPV4_HDR_MAX], hdrn[IPV4_HDR_MAX];
	const struct ipv4_hdr *h;
	struct buf *d = *dgram;
	unsigned ihl, hlenn, tot, payload, cap, max0, maxn, n, got, i, pos, flags_keep, off8;
	int rc;

	if (d == NULL || buf_len(d) < IPV4_HDR_MIN)
		goto inval;
	h = (const struct ipv4_hdr *)buf_data(d);
	ihl = ipv4_hdr_len(h);
	tot = ntohs(h->tot_len);
	if (ihl < IPV4_HDR_MIN || ihl > buf_len(d) || tot < ihl || tot > buf_chain_len(d))
		goto inval;
	if (tot <= mtu) {
		/* Nothing to do: hand the datagram back as it is. Not counted: ipFragOKs (RFC 2011)
		 * counts datagrams that were actually fragmented. */
		if (max == 0)
			goto nobufs;
		frags[0] = d;
		*dgram = NULL;
		return 1;
	}
	if (ntohs(h->frag_off) & IPV4_FLAG_DF) {
		st->ip_frag_fails++;
		return -EMSGSIZE;
	}

	memcpy(hdr0, h, ihl);
	rc = frag_later_header(hdr0, ihl, hdrn);
	if (rc < 0)
		goto inval;
	hlenn = (unsigned)rc;
	payload = tot - ihl;
	off8 = ntohs(h->frag_off) & IPV4_FRAG_OFF_MASK;
	/* Everything but MF and the offset (DF is clear here; the reserved bit) is kept as is. */
	flags_keep = ntohs(h->frag_off) & ~(unsigned)(IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK);
	if (off8 * 8u + payload + ihl > IPV4_MAX_LEN)
		goto inval; /* the offsets would not fit 13 bits */

	cap = mtu < POOL_DATA_ROOM ? mtu : POOL_DATA_ROOM;
	if (cap < ihl + 8u)
		goto inval; /* RFC 791 guarantees 68 bytes: a 60-byte header plus 8 of data */
	max0 = (cap - ihl) & ~7u;
	maxn = (cap - hlenn) & ~7u;
	/* tot > mtu >= cap, so payload > max0: at least two fragments. */
	n = 1 + (payload - max0 + maxn - 1) / maxn;
	if (n > max)
		goto nobufs;
	got = pool_alloc_burst(pool, frags, n);
	if (got != n) {
		pool_free_burst(pool, frags, got);
		goto nobufs;
	}

	pos = 0;
	for (i = 0; i < n; i++) {
		unsigned lim = i == 0 ? max0 : maxn;
		unsigned plen = payload - pos < lim ? payload - pos : lim;
		bool last = i + 1 == n;
		/* The last piece is MF only if the datagram itself was a non-last fragment. */
		unsigned mf = (!last || (ntohs(h->frag_off) & IPV4_FLAG_MF)) ? IPV4_FLAG_MF : 0;

		frag_write(frags[i], i == 0 ? hdr0 : hdrn, i == 0 ? ihl : hlenn, d, ihl + pos, plen,
			   (uint16_t)(flags_keep | mf | (off8 + pos / 8u)));
		pos += plen;
	}
	assert(pos == payload);
	pool_free(dgram);
	st->ip_frag_oks++;
	st->ip_frag_creates += n;
	return (int)n;

inval:
	st->ip_frag_fails++;
	return -EINVAL;
nobufs:
	st->ip_frag_fails++;
	return -ENOBUFS;
}
