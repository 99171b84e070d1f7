/* tcp_syncookie: SYN cookies — the listener's SYN-ACK carries in its ISN what the SYN queue
 * would have remembered, so a SYN flood costs no memory (Linux net/ipv4/syncookies.c's
 * scheme, with SipHash-2-4 under the table's cookie key in place of Linux's hashes).
 *
 *   ISN = H1(4-tuple) + their ISN + (count << 24) + ((H2(4-tuple, count) + mss_index) mod 2^24)
 *
 * count = now / 64 s; only its low 8 bits are in the cookie. The ACK that completes the
 * handshake carries ISN + 1 and their ISN + 1: subtracting H1 and their ISN leaves
 * count << 24 plus the low part; the count must be this period's or the one before (so a
 * cookie lives 64 to 128 s: "2 minutes"), and subtracting H2 of that count must leave an
 * MSS index below 4. Forging one blindly takes 2^29 tries per 4-tuple on average (2 of 256
 * counts, 4 of 2^24 low parts), as in Linux. H1 and H2 are keyed with the second half of the
 * table's secret, in two domains.
 *
 * MSS: the largest of 536, 1300, 1440, 1460 (Linux's msstab for IPv4) not above the SYN's
 * MSS option (536 without one). A SYN announcing less than 536 still gets 536, as in Linux:
 * two bits cannot say more.
 *
 * Options (Linux cookie_init_timestamp): when the SYN carried timestamps, TSval's low 6 bits
 * say what the SYN offered — bits 0-3 its window scale (0xf: none), bit 4 SACK-permitted, bit
 * 5 ECN (never: this stack does not negotiate ECN, so an ACK echoing it is refused). The
 * millisecond clock is rounded down to a multiple of 64 before the bits are put in, so TSval
 * never runs ahead of our clock. The ACK's TSecr returns them. Without timestamps the
 * connection has no window scaling and no SACK, as in Linux.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

#define COOKIE_BITS 24
#define COOKIE_MASK ((1u << COOKIE_BITS) - 1)
#define COOKIE_PERIOD_NS (64ull * 1000000000ull)
#define COOKIE_MAX_AGE 2u /* periods: this one and the one before */
#define TS_OPT_WSCALE_MASK 0xfu
#define TS_OPT_SACK 0x10u
#define TS_OPT_ECN 0x20u
#define TS_BITS 6

static const uint16_t tcp_cookie_msstab[] = {536, 1300, 1440, 1460};

/* The 4-tuple as the listener sees it: peer address and port first, as Linux hashes. */
static uint32_t cookie_hash(const struct tcp_table *t, const struct tcp_seg *s, uint32_t count,
			    enum tcp_hash_domain d)
{
	uint8_t m[16];

	memcpy(m, &s->saddr, 4);
	memcpy(m + 4, &s->daddr, 4);
	memcpy(m + 8, &s->sport, 2);
	memcpy(m + 10, &s->dport, 2);
	memcpy(m + 12, &count, 4);
	return (uint32_t)tcp_hash(t, d, m, sizeof(m));
}

uint32_t tcp_cookie_make(const struct tcp_table *t, uint64_t now, const struct tcp_seg *syn,
			 uint16_t *mss_out, uint32_t *tsval_out)
{
	uint32_t mss = syn->opt.present & TCP_OPTF_MSS ? syn->opt.mss : TCP_MSS_DEFAULT;
	uint32_t count = (uint32_t)(now / COOKIE_PERIOD_NS), idx;

	for (idx = sizeof(tcp_cookie_msstab) / sizeof(tcp_cookie_msstab[0]) - 1; idx; idx--)
		if (mss >= tcp_cookie_msstab[idx])
			break;
	*mss_out = tcp_cookie_msstab[idx];
	*tsval_out = 0;
	if (syn->opt.present & TCP_OPTF_TIMESTAMP) {
		uint64_t ms = now / 1000000u, ts;
		uint32_t opts = TS_OPT_WSCALE_MASK;

		if (syn->opt.present & TCP_OPTF_WSCALE)
			opts = syn->opt.wscale < TCP_WSCALE_MAX ? syn->opt.wscale : TCP_WSCALE_MAX;
		if (syn->opt.present & TCP_OPTF_SACK_PERM)
			opts |= TS_OPT_SACK;
		ts = (ms >> TS_BITS << TS_BITS) | opts;
		if (ts > ms)
			ts -= 1u << TS_BITS;
		*tsval_out = (uint32_t)ts + tcp_ts_offset(t, syn->daddr, syn->saddr);
	}
	return cookie_hash(t, syn, 0, TCP_HASH_COOKIE1) + syn->seq + (count << COOKIE_BITS) +
	       ((cookie_hash(t, syn, count, TCP_HASH_COOKIE2) + idx) & COOKIE_MASK);
}

int tcp_cookie_check(const struct tcp_table *t, uint64_t now, const struct tcp_seg *ack,
		     uint16_t *mss, struct tcp_opts *syn_opts)
{
	uint32_t count = (uint32_t)(now / COOKIE_PERIOD_NS);
	uint32_t cookie = ack->ack - 1, sseq = ack->seq - 1, diff, idx;
	struct tcp_opts o;

	cookie -= cookie_hash(t, ack, 0, TCP_HASH_COOKIE1) + sseq;
	diff = (count - (cookie >> COOKIE_BITS)) & (0xffffffffu >> COOKIE_BITS);
	if (diff >= COOKIE_MAX_AGE)
		return -EINVAL;
	idx = (cookie - cookie_hash(t, ack, count - diff, TCP_HASH_COOKIE2)) & COOKIE_MASK;
	if (idx >= sizeof(tcp_cookie_msstab) / sizeof(tcp_cookie_msstab[0]))
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	o.present = TCP_OPTF_MSS;
	o.mss = tcp_cookie_msstab[idx];
	if (ack->opt.present & TCP_OPTF_TIMESTAMP) {
		/* The ACK echoes our TSval: the SYN's options are in its low bits. */
		uint32_t bits = ack->opt.tsecr - tcp_ts_offset(t, ack->daddr, ack->saddr);

		if (bits & TS_OPT_ECN)
			return -EINVAL; /* never sent: the echo was tampered with */
		o.present |= TCP_OPTF_TIMESTAMP;
		o.tsval = ack->opt.tsval;
		o.tsecr = ack->opt.tsecr;
		if (bits & TS_OPT_SACK)
			o.present |= TCP_OPTF_SACK_PERM;
		if ((bits & TS_OPT_WSCALE_MASK) != TS_OPT_WSCALE_MASK) {
			o.present |= TCP_OPTF_WSCALE;
			o.wscale = (uint8_t)(bits & TS_OPT_WSCALE_MASK);
		}
	}
	*mss = o.mss;
	*syn_opts = o;
	return 0;
}
