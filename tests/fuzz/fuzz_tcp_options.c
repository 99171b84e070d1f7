/* fuzz_tcp_options: libFuzzer target for the TCP option parser (tcp_options_parse), the one
 * piece of the TCP core that walks attacker-controlled length bytes.
 *
 * Input format: byte 0 bit 0 says whether the segment carries SYN (MSS, window scale and
 * SACK-permitted count only there); the rest is the option list as it follows the 20-byte
 * header (lengths past the 40 bytes a header can hold are tried too: they must be refused).
 * The plain driver frames exactly one unit (an option list) behind a control byte.
 *
 * Checks, abort() on failure:
 *  - differential: an independent reference parser written here from RFC 9293 §3.2, RFC 7323
 *    and RFC 2018 (and tcp_priv.h's list of what is tolerated) agrees on accept/refuse and on
 *    every field; a refused list leaves the output untouched;
 *  - what is reported is consistent: SYN-only options only on a SYN, SACK present iff there
 *    are 1..4 blocks;
 *  - round trip: tcp_options_build of the parsed options writes at most 40 bytes, a multiple
 *    of 4, that parse back to the same options (window scale clamped to 14, SACK blocks cut to
 *    what fits, as the builder documents).
 * The parser is read-only on its input: the bytes are passed in a buffer of exactly their
 * length, so ASan catches any read past it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tcp_priv.h"

#define FUZZ_SEEDS_TCP_OPT
#include "seeds.h"

#define FTO_MAX 64u /* longest option list tried (a header holds 40) */

static void fto_fail(const char *what, unsigned long a, unsigned long b)
{
	fprintf(stderr, "fuzz_tcp_options: %s (%lu, %lu)\n", what, a, b);
	abort();
}

#define FTO_CHECK(cond, a, b)                                                     \
	do {                                                                      \
		if (!(cond))                                                      \
			fto_fail(#cond, (unsigned long)(a), (unsigned long)(b));  \
	} while (0)

static uint32_t fto_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The reference: the same rules, written as plainly as possible. */
static int fto_reference(const uint8_t *p, size_t len, bool syn, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (len > 40)
		return -1;
	for (size_t i = 0; i < len;) {
		unsigned kind = p[i], olen;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (len - i < 2)
			return -1;
		olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			return -1;
		if ((kind == 2 && olen != 4) || (kind == 3 && olen != 3) ||
		    (kind == 4 && olen != 2) || (kind == 8 && olen != 10))
			return -1;
		if (kind == 5 && ((olen - 2) % 8 != 0 || olen > 34))
			return -1;
		if (kind == 2 && syn && (p[i + 2] | p[i + 3])) {
			o->mss = (uint16_t)(p[i + 2] << 8 | p[i + 3]);
			o->present |= TCP_OPTF_MSS;
		} else if (kind == 3 && syn) {
			o->wscale = p[i + 2];
			o->present |= TCP_OPTF_WSCALE;
		} else if (kind == 4 && syn) {
			o->present |= TCP_OPTF_SACK_PERM;
		} else if (kind == 8) {
			o->tsval = fto_rd32(p + i + 2);
			o->tsecr = fto_rd32(p + i + 6);
			o->present |= TCP_OPTF_TIMESTAMP;
		} else if (kind == 5) {
			o->n_sack = (uint8_t)((olen - 2) / 8);
			o->present = (uint8_t)(o->n_sack ? o->present | TCP_OPTF_SACK
							 : o->present & ~TCP_OPTF_SACK);
			for (unsigned b = 0; b < o->n_sack; b++) {
				o->sack[b].start = fto_rd32(p + i + 2 + 8 * b);
				o->sack[b].end = fto_rd32(p + i + 6 + 8 * b);
			}
		}
		i += olen;
	}
	return 0;
}

/* a and b say the same (fields of options not present are not compared). */
static void fto_same(const struct tcp_opts *a, const struct tcp_opts *b, unsigned sack_max)
{
	FTO_CHECK(a->present == b->present, a->present, b->present);
	if (a->present & TCP_OPTF_MSS)
		FTO_CHECK(a->mss == b->mss, a->mss, b->mss);
	if (a->present & TCP_OPTF_WSCALE)
		FTO_CHECK((a->wscale > 14 ? 14 : a->wscale) == (b->wscale > 14 ? 14 : b->wscale),
			  a->wscale, b->wscale);
	if (a->present & TCP_OPTF_TIMESTAMP)
		FTO_CHECK(a->tsval == b->tsval && a->tsecr == b->tsecr, a->tsval, b->tsval);
	if (a->present & TCP_OPTF_SACK) {
		unsigned n = a->n_sack < sack_max ? a->n_sack : sack_max;

		FTO_CHECK(b->n_sack == n, a->n_sack, b->n_sack);
		for (unsigned i = 0; i < n; i++)
			FTO_CHECK(a->sack[i].start == b->sack[i].start &&
					  a->sack[i].end == b->sack[i].end,
				  i, a->sack[i].start);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcp_opts got, ref, again;
	uint8_t built[TCP_OPT_SPACE + 8];
	bool syn;
	size_t len, n;
	int rc, rrc;

	if (size == 0)
		return 0;
	syn = data[0] & 1;
	len = size - 1 < FTO_MAX ? size - 1 : FTO_MAX;
	/* An exact-size heap copy: a read past the list is an ASan report. */
	uint8_t *opt = malloc(len ? len : 1);
	FTO_CHECK(opt != NULL, len, 0);
	memcpy(opt, data + 1, len);

	memset(&got, 0xa5, sizeof(got));
	rc = tcp_options_parse(len ? opt : NULL, len, syn, &got);
	rrc = fto_reference(opt, len, syn, &ref);
	FTO_CHECK((rc == 0) == (rrc == 0), (unsigned long)-rc, len);
	if (rc != 0) {
		for (size_t i = 0; i < sizeof(got); i++)
			FTO_CHECK(((const uint8_t *)&got)[i] == 0xa5, i, len); /* untouched */
		free(opt);
		return 0;
	}
	fto_same(&ref, &got, 4);
	if (!syn)
		FTO_CHECK(!(got.present & (TCP_OPTF_MSS | TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM)),
			  got.present, 0);
	FTO_CHECK(!!(got.present & TCP_OPTF_SACK) == (got.n_sack > 0), got.present, got.n_sack);
	FTO_CHECK(got.n_sack <= 4, got.n_sack, 4);

	/* Round trip through the builder. */
	memset(built, 0xee, sizeof(built));
	n = tcp_options_build(built, &got);
	FTO_CHECK(n <= TCP_OPT_SPACE && n % 4 == 0, n, got.present);
	FTO_CHECK(built[TCP_OPT_SPACE] == 0xee, n, 0); /* nothing written past the space */
	{
		/* SACK blocks that fit after what precedes them (the builder's rule). */
		size_t before = (got.present & TCP_OPTF_MSS ? 4u : 0u) +
				(got.present & TCP_OPTF_TIMESTAMP ? 12u : 0u) +
				((got.present & TCP_OPTF_SACK_PERM) &&
						 !(got.present & TCP_OPTF_TIMESTAMP)
					 ? 4u
					 : 0u) +
				(got.present & TCP_OPTF_WSCALE ? 4u : 0u);
		unsigned fit = before + 12 <= TCP_OPT_SPACE
				       ? (unsigned)(TCP_OPT_SPACE - before - 4) / 8u
				       : 0u;
		struct tcp_opts want = got;

		if (fit == 0 && (want.present & TCP_OPTF_SACK)) {
			want.present &= (uint8_t)~TCP_OPTF_SACK;
			want.n_sack = 0;
		}
		rc = tcp_options_parse(built, n, true, &again);
		FTO_CHECK(rc == 0, (unsigned long)-rc, n);
		fto_same(&want, &again, fit);
	}
	free(opt);
	return 0;
}

/* For the plain driver: the control byte, then the unit (an option list). */
static size_t fto_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t len = n ? unit_len[0] : 0;

	if (cap == 0)
		return 0;
	out[0] = (uint8_t)ctl[0];
	if (len > cap - 1)
		len = cap - 1;
	if (len)
		memcpy(out + 1, unit[0], len);
	return 1 + len;
}

const struct fuzz_target fuzz_target = {
	.name = "tcp_options",
	.units = fuzz_tcp_opt_units,
	.regressions = fuzz_tcp_opt_regressions,
	.max_units = 1,
	.unit_max = FTO_MAX,
	.compose = fto_compose,
};
