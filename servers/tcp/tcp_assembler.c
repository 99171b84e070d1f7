/* tcp_assembler: which ranges of the receive buffer above rcv_nxt hold data (out-of-order
 * segments placed where they belong), and the SACK blocks the next ACK reports (RFC 2018 §4,
 * RFC 2883).
 *
 * ooo[] is sorted and disjoint, and no two ranges touch (touching ranges merge). Every range
 * lies in [rcv_nxt, rcv_nxt + window), under 2^31 wide, so the sequence comparisons between
 * them are consistent. The caller has checked each segment against the window; a segment
 * that would need a new range when all TCP_OOO_MAX are in use is refused (dropped and
 * counted by the caller), never merged into a lie.
 *
 * sack_out[] remembers what to report, most recent first (RFC 2018 §4): the range holding the
 * segment that just arrived, then the ranges reported before it that are still separate and
 * still above rcv_nxt. Each regular entry is a current ooo range, never a stale one: merging
 * replaces the pieces by the merged range, and advancing rcv_nxt removes what it absorbed.
 * A D-SACK block (RFC 2883) goes first, flagged by `dsack`, and is reported once; when the
 * duplicate lies in out-of-order data, the range that holds it follows it (§4, "the second
 * SACK block ... should specify the (possibly larger) block").
 */
#include <string.h>

#include "tcp_priv.h"

static void asm_recount(struct tcp_assembler *a)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < a->n; i++)
		sum += a->ooo[i].end - a->ooo[i].start;
	a->ooo_bytes = sum;
}

static bool range_touch(struct tcp_range x, struct tcp_range y)
{
	return SEQ_LEQ(x.start, y.end) && SEQ_LEQ(y.start, x.end);
}

/* The regular (non-D-SACK) entries of sack_out, in order. */
static unsigned asm_regular(const struct tcp_assembler *a, struct tcp_range *out)
{
	unsigned first = a->dsack ? 1 : 0, n = 0;

	for (unsigned i = first; i < a->n_sack_out && i < TCP_SACK_OUT_MAX; i++)
		out[n++] = a->sack_out[i];
	return n;
}

/* sack_out = [D-SACK if kept] + head (if any) + the regular entries that do not touch head. */
static void asm_set_sack_out(struct tcp_assembler *a, const struct tcp_range *head,
			     const struct tcp_range *reg, unsigned n_reg)
{
	unsigned n = a->dsack ? 1 : 0;

	if (head)
		a->sack_out[n++] = *head;
	for (unsigned i = 0; i < n_reg && n < TCP_SACK_OUT_MAX; i++)
		if (!head || !range_touch(reg[i], *head))
			a->sack_out[n++] = reg[i];
	a->n_sack_out = (uint8_t)n;
}

void tcp_asm_reset(struct tcp_assembler *a)
{
	memset(a, 0, sizeof(*a));
}

bool tcp_asm_add(struct tcp_assembler *a, uint32_t seq, uint32_t len)
{
	struct tcp_range r = {seq, seq + len}, reg[TCP_SACK_OUT_MAX];
	unsigned i = 0, j, n_reg;

	if (len == 0)
		return true;
	if (len >= 0x80000000u)
		return false; /* no window is that large: a caller's bug, never a range */
	if (a->n > TCP_OOO_MAX)
		a->n = 0; /* a torn record: forget it rather than read past the array */
	while (i < a->n && SEQ_LT(a->ooo[i].end, r.start))
		i++;
	j = i;
	while (j < a->n && SEQ_LEQ(a->ooo[j].start, r.end)) {
		r.start = seq_min(r.start, a->ooo[j].start);
		r.end = seq_max(r.end, a->ooo[j].end);
		j++;
	}
	if (j == i && a->n == TCP_OOO_MAX)
		return false;
	/* ooo[i, j) become r. */
	memmove(&a->ooo[i + 1], &a->ooo[j], (a->n - j) * sizeof(a->ooo[0]));
	a->ooo[i] = r;
	a->n = (uint8_t)(a->n - (j - i) + 1);
	asm_recount(a);
	n_reg = asm_regular(a, reg);
	asm_set_sack_out(a, &r, reg, n_reg);
	return true;
}

uint32_t tcp_asm_advance(struct tcp_assembler *a, uint32_t rcv_nxt)
{
	struct tcp_range reg[TCP_SACK_OUT_MAX], keep[TCP_SACK_OUT_MAX];
	unsigned drop = 0, n_reg, n_keep = 0;

	if (a->n > TCP_OOO_MAX)
		a->n = 0;
	while (drop < a->n && SEQ_LEQ(a->ooo[drop].start, rcv_nxt)) {
		if (SEQ_GT(a->ooo[drop].end, rcv_nxt))
			rcv_nxt = a->ooo[drop].end;
		drop++;
	}
	if (drop) {
		memmove(&a->ooo[0], &a->ooo[drop], (a->n - drop) * sizeof(a->ooo[0]));
		a->n = (uint8_t)(a->n - drop);
		asm_recount(a);
	}
	n_reg = asm_regular(a, reg);
	for (unsigned i = 0; i < n_reg; i++)
		if (SEQ_GT(reg[i].start, rcv_nxt))
			keep[n_keep++] = reg[i];
	asm_set_sack_out(a, NULL, keep, n_keep);
	return rcv_nxt;
}

void tcp_asm_dsack(struct tcp_assembler *a, uint32_t seq, uint32_t len)
{
	struct tcp_range d = {seq, seq + len}, reg[TCP_SACK_OUT_MAX];
	const struct tcp_range *holder = NULL;
	unsigned n_reg;

	if (len == 0 || len >= 0x80000000u)
		return;
	if (a->n > TCP_OOO_MAX)
		a->n = 0;
	for (unsigned i = 0; i < a->n; i++)
		if (SEQ_LT(a->ooo[i].start, d.end) && SEQ_LT(d.start, a->ooo[i].end)) {
			holder = &a->ooo[i];
			break;
		}
	n_reg = asm_regular(a, reg);
	a->dsack = 1;
	a->sack_out[0] = d;
	asm_set_sack_out(a, holder, reg, n_reg);
}

unsigned tcp_asm_sack_blocks(const struct tcp_assembler *a, struct tcp_range *out,
			     unsigned max)
{
	unsigned n = a->n_sack_out < TCP_SACK_OUT_MAX ? a->n_sack_out : TCP_SACK_OUT_MAX;

	if (n > max)
		n = max;
	memcpy(out, a->sack_out, n * sizeof(out[0]));
	return n;
}

void tcp_asm_sack_sent(struct tcp_assembler *a)
{
	struct tcp_range reg[TCP_SACK_OUT_MAX];
	unsigned n_reg;

	if (!a->dsack)
		return;
	n_reg = asm_regular(a, reg);
	a->dsack = 0;
	asm_set_sack_out(a, NULL, reg, n_reg);
}
