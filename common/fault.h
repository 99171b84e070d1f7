/* fault: the seeded impairment of one descriptor link (STYLE 18's FaultInjector, smoltcp's and
 * picoTCP's `pico_faulty` are the models): per descriptor, drop it, send it twice, or damage
 * it, with given probabilities, drawn from a PRNG seeded by the user, so one seed and one
 * sequence of batches always give the same decisions. Pure: no I/O, no clock; link_fault.c
 * applies it at the sending end of a link (both transports) and holds batches for a delay.
 *
 * Ownership stays exact, whatever is drawn (fault_inj_apply):
 *   drop       the chain is freed here: the receiver never hears of it;
 *   duplicate  the chain goes once, its descriptor twice; the copy names a chain the receiver
 *              has taken already (the pool's in-flight mark is gone): pool_take refuses it and
 *              the receiver counts it in rx_drop_stale; nothing is freed or delivered twice;
 *   corrupt    1 to 3 distinct bits of the sealed descriptor flip after its sender sealed it
 *              (desc_seal); the receiver's seal check refuses it (rx_drop_corrupt). The chain
 *              it named is not handed over but freed here: a real damaged descriptor would
 *              leave it in flight to the receiver until it restarts (pool_reclaim), which
 *              would make every corruption a leak the pool tests could not tell from a bug.
 * Decisions per descriptor, in this order, from two draws whatever is enabled (so enabling
 * one kind does not shift the others' draws): drop; else corrupt; else duplicate.
 */
#ifndef USTACK_FAULT_H
#define USTACK_FAULT_H

#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "pool.h"

/* Probabilities are fixed-point, out of FAULT_P_ONE (a draw of 32 bits is below p). */
#define FAULT_P_ONE (UINT64_C(1) << 32)
#define FAULT_DELAY_MAX_US 1000000u /* a delay line of at most a second */
/* A batch of n descriptors leaves as at most 2n (each duplicated). */
#define FAULT_WIRE_MAX (2 * DESC_BATCH_MAX)

struct fault_spec {
	uint64_t drop, dup, corrupt; /* 0..FAULT_P_ONE */
	uint32_t delay_us;           /* hold every batch this long (link_fault.c), 0..FAULT_DELAY_MAX_US */
	uint64_t seed;
};

struct fault_counts {
	uint64_t descs;          /* descriptors the injector saw */
	uint64_t dropped;
	uint64_t duplicated;
	uint64_t corrupted;
	uint64_t delayed;        /* descriptors held by the delay (link_fault.c) */
	uint64_t delay_overflow; /* dropped because the delay line was full (link_fault.c) */
};

struct fault_inj {
	struct fault_spec spec;
	uint64_t rng;
	struct fault_counts n; /* since fault_inj_init */
};

/* p in [0, 1] → fixed point; -EINVAL for anything else (NaN included). */
int fault_p_from_double(double p, uint64_t *out);
double fault_p_to_double(uint64_t p);

/* Check a spec: probabilities at most FAULT_P_ONE, the delay at most FAULT_DELAY_MAX_US.
 * 0 or -EINVAL. */
int fault_spec_check(const struct fault_spec *spec);

void fault_inj_init(struct fault_inj *f, const struct fault_spec *spec);

/* splitmix64: the next 64 pseudo-random bits of state *s. */
uint64_t fault_rng_next(uint64_t *s);

/* Flip 1 to 3 distinct bits, drawn from *rng, among the bits d carries on the wire (every
 * field the seal covers, and the seal itself). */
void fault_corrupt(uint64_t *rng, struct desc *d);

/* Apply the spec's drop, duplicate and corrupt to the sealed descriptors descs[0..n) of the
 * chains bufs[0..n) (n <= DESC_BATCH_MAX). Consumes every chain: each either moves to
 * chains[] or is freed in `pool` (dropped, or named by a damaged descriptor); bufs[] is set
 * to NULL. Writes what to send: wire[0..m) with chains[i] the chain wire[i] hands over, or
 * NULL (a duplicate or a damaged copy hands nothing over). Returns m <= FAULT_WIRE_MAX. */
unsigned fault_inj_apply(struct fault_inj *f, struct pool *pool, struct buf **bufs,
			 const struct desc *descs, unsigned n, struct buf **chains,
			 struct desc *wire);

#endif
