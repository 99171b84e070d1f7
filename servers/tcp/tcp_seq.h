/* tcp_seq: sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4; FreeBSD's SEQ_LT family).
 * a < b means "a comes before b" when they are less than 2^31 apart, which the window rules
 * guarantee for every pair TCP compares. Never compare sequence numbers with plain < or >. */
#ifndef USTACK_TCP_SEQ_H
#define USTACK_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

static inline uint32_t seq_max(uint32_t a, uint32_t b) { return SEQ_GT(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return SEQ_LT(a, b) ? a : b; }

/* lo <= s < hi, for a window [lo, hi) (empty when lo == hi). */
static inline bool seq_in(uint32_t s, uint32_t lo, uint32_t hi)
{
	return SEQ_GEQ(s, lo) && SEQ_LT(s, hi);
}

#endif
