/* tcp_options: parsing and building the TCP option list (RFC 9293 §3.2, RFC 7323, RFC 2018).
 *
 * Parsing trusts nothing: every option's kind and length byte is checked against the bytes
 * left before it is read, so no input can make it read past `len`. A list that is malformed
 * (RFC 9293 §3.2 MUST-7: "be prepared to handle an illegal option length") fails as a whole;
 * the caller drops the segment and counts it. What Linux quietly tolerates and is harmless is
 * tolerated here too (tcp_priv.h lists it), so a peer Linux talks to is not cut off by us.
 *
 * Building follows Linux's tcp_options_write so that our segments look like the kernel's on
 * the wire (and fit the same space): MSS; SACK-permitted folded into the timestamp word
 * (4,2,8,10) or timestamps behind NOP NOP; SACK-permitted alone behind NOP NOP; window scale
 * behind one NOP; SACK blocks behind NOP NOP. Every option starts on a 32-bit boundary.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int tcp_options_parse(const uint8_t *opt, size_t len, bool syn, struct tcp_opts *out)
{
	struct tcp_opts o;
	size_t i = 0;

	if (len > TCP_OPT_SPACE || (len && !opt))
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	while (i < len) {
		uint8_t kind = opt[i], olen;

		if (kind == TCP_OPT_EOL)
			break; /* RFC 9293 §3.2: the rest is padding */
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		/* Every other kind has a length byte counting kind and length themselves. */
		if (i + 1 >= len)
			return -EINVAL;
		olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return -EINVAL;
		switch (kind) {
		case TCP_OPT_MSS:
			if (olen != TCP_OPTLEN_MSS)
				return -EINVAL;
			/* An MSS of 0 would stall the connection: ignored as Linux does, so the
			 * default of RFC 9293 §3.7.1 applies. */
			if (syn && rd16(opt + i + 2)) {
				o.mss = rd16(opt + i + 2);
				o.present |= TCP_OPTF_MSS;
			}
			break;
		case TCP_OPT_WSCALE:
			if (olen != TCP_OPTLEN_WSCALE)
				return -EINVAL;
			if (syn) {
				o.wscale = opt[i + 2];
				o.present |= TCP_OPTF_WSCALE;
			}
			break;
		case TCP_OPT_SACK_PERM:
			if (olen != TCP_OPTLEN_SACK_PERM)
				return -EINVAL;
			if (syn)
				o.present |= TCP_OPTF_SACK_PERM;
			break;
		case TCP_OPT_TIMESTAMP:
			if (olen != TCP_OPTLEN_TIMESTAMP)
				return -EINVAL;
			o.tsval = rd32(opt + i + 2);
			o.tsecr = rd32(opt + i + 6);
			o.present |= TCP_OPTF_TIMESTAMP;
			break;
		case TCP_OPT_SACK: {
			unsigned n = (olen - TCP_OPTLEN_SACK_BASE) / TCP_OPTLEN_SACK_BLOCK;

			if ((olen - TCP_OPTLEN_SACK_BASE) % TCP_OPTLEN_SACK_BLOCK || n > 4)
				return -EINVAL;
			/* A repeated SACK option replaces the earlier one (Linux keeps the last);
			 * one with no block says nothing and is ignored. */
			o.n_sack = (uint8_t)n;
			if (n)
				o.present |= TCP_OPTF_SACK;
			else
				o.present &= (uint8_t)~TCP_OPTF_SACK;
			for (unsigned b = 0; b < n; b++) {
				const uint8_t *p = opt + i + 2 + b * TCP_OPTLEN_SACK_BLOCK;

				o.sack[b].start = rd32(p);
				o.sack[b].end = rd32(p + 4);
			}
			break;
		}
		default:
			break; /* unknown kinds are skipped by their length (RFC 9293 §3.2) */
		}
		i += olen;
	}
	*out = o;
	return 0;
}

size_t tcp_options_build(uint8_t *out, const struct tcp_opts *o)
{
	size_t n = 0;
	bool sack_perm = o->present & TCP_OPTF_SACK_PERM;

	if (o->present & TCP_OPTF_MSS) {
		out[n] = TCP_OPT_MSS;
		out[n + 1] = TCP_OPTLEN_MSS;
		wr16(out + n + 2, o->mss);
		n += 4;
	}
	if (o->present & TCP_OPTF_TIMESTAMP) {
		if (sack_perm) {
			out[n] = TCP_OPT_SACK_PERM;
			out[n + 1] = TCP_OPTLEN_SACK_PERM;
			sack_perm = false;
		} else {
			out[n] = TCP_OPT_NOP;
			out[n + 1] = TCP_OPT_NOP;
		}
		out[n + 2] = TCP_OPT_TIMESTAMP;
		out[n + 3] = TCP_OPTLEN_TIMESTAMP;
		wr32(out + n + 4, o->tsval);
		wr32(out + n + 8, o->tsecr);
		n += 12;
	}
	if (sack_perm) {
		out[n] = TCP_OPT_NOP;
		out[n + 1] = TCP_OPT_NOP;
		out[n + 2] = TCP_OPT_SACK_PERM;
		out[n + 3] = TCP_OPTLEN_SACK_PERM;
		n += 4;
	}
	if (o->present & TCP_OPTF_WSCALE) {
		out[n] = TCP_OPT_NOP;
		out[n + 1] = TCP_OPT_WSCALE;
		out[n + 2] = TCP_OPTLEN_WSCALE;
		out[n + 3] = o->wscale > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : o->wscale;
		n += 4;
	}
	if ((o->present & TCP_OPTF_SACK) && o->n_sack && TCP_OPT_SPACE - n >= 4 + 8) {
		unsigned blocks = o->n_sack > 4 ? 4 : o->n_sack;
		unsigned fit = (unsigned)(TCP_OPT_SPACE - n - 4) / TCP_OPTLEN_SACK_BLOCK;

		if (blocks > fit)
			blocks = fit;
		out[n] = TCP_OPT_NOP;
		out[n + 1] = TCP_OPT_NOP;
		out[n + 2] = TCP_OPT_SACK;
		out[n + 3] = (uint8_t)(TCP_OPTLEN_SACK_BASE + blocks * TCP_OPTLEN_SACK_BLOCK);
		n += 4;
		for (unsigned b = 0; b < blocks; b++) {
			wr32(out + n, o->sack[b].start);
			wr32(out + n + 4, o->sack[b].end);
			n += 8;
		}
	}
	return n;
}

unsigned tcp_options_overhead(const struct tcp_conn *c)
{
	/* RFC 7323 §3.2: once negotiated, timestamps go on every segment but RST (12 bytes with
	 * their NOP NOP). */
	return c->flags & TCP_F_TS_OK ? 12u : 0u;
}
