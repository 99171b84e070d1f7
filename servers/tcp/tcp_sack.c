/* tcp_sack: the sender's SACK scoreboard (RFC 2018), D-SACK detection (RFC 2883) and RFC 6675's
 * IsLost, SetPipe and NextSeg.
 *
 * The board is a sorted list of disjoint, non-touching SACKed ranges, all inside
 * (snd_una, snd_max]. That interval is under 2^31 wide, so sequence comparisons between any
 * two values the board holds are consistent, and wrapping needs no special case.
 *
 * The peer's blocks are untrusted input (RFC 2018 §4 only constrains honest receivers): a
 * block is taken only if snd_una < start < end <= snd_max (Linux tcp_is_sackblock_valid:
 * data we never sent cannot have arrived; a block starting at or below snd_una contradicts
 * the cumulative ACK), checked as offsets from snd_una. A reversed, empty, out-of-window or
 * wrapped block is ignored. The board
 * has TCP_SCOREBOARD_MAX ranges; when a new range would need one more, the range farthest
 * from snd_una is forgotten (its data counts as not SACKed: conservative, it can only cause
 * a needless retransmission), so a peer that sprays tiny blocks cannot make the sender lose
 * what it knows about the holes it repairs first.
 *
 * D-SACK (RFC 2883 §4): only the first block can be one, when it starts below the ACK (it
 * reports data the receiver got twice) or lies inside the second block. It is counted and
 * flagged, never added; its sanity is checked (ordered, not beyond snd_max, within 2^30 below
 * it) so garbage is not even counted.
 *
 * RFC 6675's HighRxt and RescueRxt are kept as exclusive ends and validated on every read
 * against [snd_una, snd_max] (tcp_priv.h), so a stale or torn value means "snd_una"
 * (HighRxt: nothing retransmitted) or "undefined" (RescueRxt: a rescue is allowed).
 *
 * IsLost(S) is constant over a hole (an un-SACKed run): every SACKed byte above S lies in the
 * ranges above the hole. SetPipe and NextSeg therefore work hole by hole, O(ranges), instead
 * of octet by octet as RFC 6675 describes them; the tests check both agree.
 */
#include <string.h>

#include "tcp_priv.h"

#define TCP_DSACK_SPAN (1u << 30) /* a D-SACK more than this below snd_max is garbage */

static unsigned sb_n(const struct tcp_scoreboard *sb)
{
	return sb->n <= TCP_SCOREBOARD_MAX ? sb->n : 0;
}

static bool sb_in(uint32_t p, uint32_t snd_una, uint32_t snd_max)
{
	return SEQ_GEQ(p, snd_una) && SEQ_LEQ(p, snd_max);
}

/* p if it lies in [snd_una, snd_max], else snd_una. */
static uint32_t sb_ptr(uint32_t p, uint32_t snd_una, uint32_t snd_max)
{
	return sb_in(p, snd_una, snd_max) ? p : snd_una;
}

static void sb_recount(struct tcp_scoreboard *sb)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < sb->n; i++)
		sum += sb->sacked[i].end - sb->sacked[i].start;
	sb->sacked_bytes = sum;
	sb->high_sacked = sb->n ? sb->sacked[sb->n - 1].end : 0;
}

void tcp_sack_reset(struct tcp_scoreboard *sb)
{
	memset(sb, 0, sizeof(*sb));
}

static uint32_t overlap(struct tcp_range a, struct tcp_range b)
{
	uint32_t s = seq_max(a.start, b.start), e = seq_min(a.end, b.end);

	return SEQ_LT(s, e) ? e - s : 0;
}

/* Add r (already validated): returns the bytes of r newly SACKed and kept. */
static uint32_t sb_insert(struct tcp_scoreboard *sb, struct tcp_range r)
{
	unsigned i = 0, j;
	struct tcp_range m = r;
	uint32_t old = 0;

	while (i < sb->n && SEQ_LT(sb->sacked[i].end, r.start))
		i++;
	j = i;
	while (j < sb->n && SEQ_LEQ(sb->sacked[j].start, r.end)) {
		old += overlap(sb->sacked[j], r);
		m.start = seq_min(m.start, sb->sacked[j].start);
		m.end = seq_max(m.end, sb->sacked[j].end);
		j++;
	}
	if (j == i && sb->n == TCP_SCOREBOARD_MAX) {
		if (i == sb->n)
			return 0; /* r itself is the farthest: forgotten */
		sb->n--;          /* forget the highest range to make room */
	}
	memmove(&sb->sacked[i + 1], &sb->sacked[j], (sb->n - j) * sizeof(sb->sacked[0]));
	sb->sacked[i] = m;
	sb->n = (uint8_t)(sb->n - (j - i) + 1);
	return (r.end - r.start) - old;
}

/* A block to add: snd_una < start < end <= snd_max. Checked as offsets from snd_una, never
 * with pairwise SEQ_ comparisons: those are not transitive, and a block whose ends are 2^31
 * apart passes all three of them while covering nearly the whole sequence space (Linux
 * needs its extra "nasty start_seq wrap-around check" for the same reason). */
static bool block_valid(struct tcp_range b, uint32_t snd_una, uint32_t snd_max)
{
	uint32_t s = b.start - snd_una, e = b.end - snd_una;

	return s > 0 && s < e && e <= snd_max - snd_una;
}

/* A plausible D-SACK block: start < end <= snd_max, start at most 2^30 below snd_max. */
static bool dsack_sane(struct tcp_range b, uint32_t snd_max)
{
	uint32_t s = snd_max - b.start, e = snd_max - b.end;

	return s <= TCP_DSACK_SPAN && e < s;
}

uint32_t tcp_sack_update(struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
			 const struct tcp_opts *o, bool *dsack)
{
	unsigned nb = o->n_sack < 4 ? o->n_sack : 4, first = 0;
	uint32_t added = 0;

	if (dsack)
		*dsack = false;
	if (!(o->present & TCP_OPTF_SACK) || nb == 0 || snd_max - snd_una > TCP_DSACK_SPAN * 2u)
		return 0;
	sb->n = (uint8_t)sb_n(sb);
	/* RFC 2883 §4: is the first block a D-SACK? */
	if (dsack_sane(o->sack[0], snd_max) &&
	    (SEQ_LT(o->sack[0].start, snd_una) ||
	     (nb > 1 && dsack_sane(o->sack[1], snd_max) &&
	      snd_max - o->sack[0].start <= snd_max - o->sack[1].start &&
	      snd_max - o->sack[0].end >= snd_max - o->sack[1].end))) {
		sb->dsack_seen++;
		if (dsack)
			*dsack = true;
		first = 1;
	}
	for (unsigned b = first; b < nb; b++) {
		struct tcp_range r = o->sack[b];

		if (block_valid(r, snd_una, snd_max))
			added += sb_insert(sb, r);
	}
	sb_recount(sb);
	return added;
}

void tcp_sack_advance(struct tcp_scoreboard *sb, uint32_t snd_una)
{
	unsigned n = sb_n(sb), drop = 0;

	for (unsigned i = 0; i < n; i++)
		if (SEQ_LEQ(sb->sacked[i].start, snd_una) && SEQ_GT(sb->sacked[i].end, snd_una)) {
			/* The ACK stops at or inside SACKed data: the receiver reneged (RFC
			 * 2018 §8). Forget everything it said; go-back-N and SACKs to come
			 * repair it. */
			n = 0;
			break;
		}
	while (drop < n && SEQ_LEQ(sb->sacked[drop].end, snd_una))
		drop++;
	memmove(&sb->sacked[0], &sb->sacked[drop], (n - drop) * sizeof(sb->sacked[0]));
	sb->n = (uint8_t)(n - drop);
	sb_recount(sb);
}

bool tcp_sack_is_sacked(const struct tcp_scoreboard *sb, uint32_t seq)
{
	unsigned n = sb_n(sb);

	for (unsigned i = 0; i < n; i++)
		if (seq_in(seq, sb->sacked[i].start, sb->sacked[i].end))
			return true;
	return false;
}

bool tcp_sack_next_hole(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t end,
			uint32_t *hole_start, uint32_t *hole_end)
{
	unsigned n = sb_n(sb);
	uint32_t s = seq;

	for (unsigned i = 0; i < n && SEQ_LT(s, end); i++) {
		if (SEQ_LEQ(sb->sacked[i].end, s))
			continue;
		if (SEQ_LEQ(sb->sacked[i].start, s)) {
			s = sb->sacked[i].end; /* s is SACKed: skip the range */
			continue;
		}
		*hole_start = s;
		*hole_end = seq_min(sb->sacked[i].start, end);
		return true;
	}
	if (!SEQ_LT(s, end))
		return false;
	*hole_start = s;
	*hole_end = end;
	return true;
}

/* IsLost for the bytes just below ranges [i, n): RFC 6675 §4 with DupThresh 3. */
static bool lost_below(const struct tcp_scoreboard *sb, unsigned i, unsigned n, uint32_t smss)
{
	uint64_t bytes = 0;

	if (n - i >= TCP_DUPTHRESH)
		return true;
	for (unsigned k = i; k < n; k++)
		bytes += sb->sacked[k].end - sb->sacked[k].start;
	return bytes > (uint64_t)(TCP_DUPTHRESH - 1) * smss;
}

bool tcp_sack_is_lost(const struct tcp_scoreboard *sb, uint32_t seq, uint32_t smss)
{
	unsigned n = sb_n(sb), i = 0;

	while (i < n && SEQ_LEQ(sb->sacked[i].end, seq))
		i++;
	if (i < n && SEQ_LEQ(sb->sacked[i].start, seq))
		return false; /* seq is SACKed */
	return lost_below(sb, i, n, smss);
}

/* One hole of [from, to) at a time: [*hs, *he) the hole, *idx the first range above it. Returns
 * false when none is left. Start with *hs = from, *idx = 0. */
static bool sb_hole(const struct tcp_scoreboard *sb, unsigned n, uint32_t to, uint32_t *hs,
		    uint32_t *he, unsigned *idx)
{
	while (*idx < n && SEQ_LEQ(sb->sacked[*idx].end, *hs))
		(*idx)++;
	if (*idx < n && SEQ_LEQ(sb->sacked[*idx].start, *hs))
		*hs = sb->sacked[(*idx)++].end;
	if (!SEQ_LT(*hs, to))
		return false;
	*he = *idx < n ? seq_min(sb->sacked[*idx].start, to) : to;
	return true;
}

uint32_t tcp_sack_pipe(const struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
		       uint32_t smss)
{
	unsigned n = sb_n(sb), idx = 0;
	uint32_t hr = sb_ptr(sb->high_rxt, snd_una, snd_max), hs = snd_una, he;
	uint64_t pipe = 0;

	if (!SEQ_LT(snd_una, snd_max))
		return 0;
	while (sb_hole(sb, n, snd_max, &hs, &he, &idx)) {
		/* (a) not lost: still in the network; (b) below HighRxt: retransmitted. */
		if (!lost_below(sb, idx, n, smss))
			pipe += he - hs;
		pipe += overlap((struct tcp_range){hs, he}, (struct tcp_range){snd_una, hr});
		hs = he;
	}
	return pipe > UINT32_MAX ? UINT32_MAX : (uint32_t)pipe;
}

bool tcp_sack_next_seg(struct tcp_scoreboard *sb, uint32_t snd_una, uint32_t snd_max,
		       uint32_t new_end, uint32_t smss, uint32_t *seq, uint32_t *len)
{
	unsigned n = sb_n(sb), idx;
	uint32_t hr = sb_ptr(sb->high_rxt, snd_una, snd_max), high, hs, he;

	if (smss == 0)
		return false;
	high = n ? sb->sacked[n - 1].end : snd_una; /* HighSACK + 1 */
	if (!SEQ_LEQ(high, snd_max) || !SEQ_GT(high, snd_una))
		high = snd_una; /* no (sane) SACK information */
	/* (1) the first un-SACKed S2 >= HighRxt + 1, below HighSACK, IsLost(S2). IsLost only
	 * weakens going up, so the first hole that is not lost ends the search. */
	hs = hr;
	idx = 0;
	while (sb_hole(sb, n, high, &hs, &he, &idx)) {
		if (!lost_below(sb, idx, n, smss))
			break;
		*seq = hs;
		*len = he - hs < smss ? he - hs : smss;
		sb->high_rxt = hs + *len; /* (C.2) */
		return true;
	}
	/* (2) new data, if there is some and the receiver's window allows. */
	if (SEQ_LT(snd_max, new_end)) {
		*seq = snd_max;
		*len = new_end - snd_max < smss ? new_end - snd_max : smss;
		return true;
	}
	/* (3) the first un-SACKed S3 >= HighRxt + 1 below HighSACK, lost or not. */
	hs = hr;
	idx = 0;
	if (sb_hole(sb, n, high, &hs, &he, &idx)) {
		*seq = hs;
		*len = he - hs < smss ? he - hs : smss;
		sb->high_rxt = hs + *len; /* (C.2) */
		return true;
	}
	/* (4) one rescue retransmission per recovery: a segment ending at the highest
	 * un-SACKed byte, if RescueRxt is undefined or HighACK > RescueRxt (in exclusive
	 * terms: rescue_rxt outside [snd_una, snd_max]). */
	if (SEQ_LT(snd_una, snd_max) && !sb_in(sb->rescue_rxt, snd_una, snd_max)) {
		uint32_t top = snd_max, bottom = snd_una;

		if (n && sb->sacked[n - 1].end == snd_max) {
			top = sb->sacked[n - 1].start;
			if (n > 1)
				bottom = sb->sacked[n - 2].end;
		} else if (n) {
			bottom = sb->sacked[n - 1].end;
		}
		if (SEQ_LT(bottom, snd_una) || !SEQ_LT(bottom, top))
			bottom = snd_una;
		*seq = top - bottom > smss ? top - smss : bottom;
		*len = top - *seq;
		sb->rescue_rxt = snd_max; /* RecoveryPoint or beyond; HighRxt unchanged */
		return true;
	}
	return false;
}
