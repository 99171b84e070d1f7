/* fault: per-descriptor drop, duplicate and damage from a seeded PRNG (fault.h has the rules).
 */
#include "fault.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

int fault_p_from_double(double p, uint64_t *out)
{
	if (!(p >= 0.0 && p <= 1.0)) /* also refuses NaN */
		return -EINVAL;
	*out = (uint64_t)(p * (double)FAULT_P_ONE + 0.5);
	return 0;
}

double fault_p_to_double(uint64_t p) { return (double)p / (double)FAULT_P_ONE; }

int fault_spec_check(const struct fault_spec *spec)
{
	if (spec->drop > FAULT_P_ONE || spec->dup > FAULT_P_ONE || spec->corrupt > FAULT_P_ONE ||
	    spec->delay_us > FAULT_DELAY_MAX_US)
		return -EINVAL;
	return 0;
}

void fault_inj_init(struct fault_inj *f, const struct fault_spec *spec)
{
	f->spec = *spec;
	f->rng = spec->seed;
	f->n = (struct fault_counts){0};
}

uint64_t fault_rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The bits a descriptor carries on the wire: every sealed field, and the seal. */
struct fault_field {
	uint16_t off, bits;
};

#define FAULT_FIELD(f) {offsetof(struct desc, f), 8 * sizeof(((struct desc *)0)->f)}
static const struct fault_field fault_fields[] = {
	FAULT_FIELD(buf),      FAULT_FIELD(gen),        FAULT_FIELD(len),
	FAULT_FIELD(l3_off),   FAULT_FIELD(l4_off),     FAULT_FIELD(flags),
	FAULT_FIELD(gso_type), FAULT_FIELD(gso_size),   FAULT_FIELD(csum_start),
	FAULT_FIELD(csum_offset), FAULT_FIELD(saddr),   FAULT_FIELD(daddr),
	FAULT_FIELD(proto),    FAULT_FIELD(ttl),        FAULT_FIELD(tos),
	FAULT_FIELD(check),    FAULT_FIELD(t_in),
};
#define FAULT_FIELDS (sizeof(fault_fields) / sizeof(fault_fields[0]))
#define FAULT_WIRE_BITS 408u /* the sum of fault_fields' widths */

static void fault_flip(struct desc *d, unsigned bit)
{
	for (unsigned i = 0; i < FAULT_FIELDS; i++) {
		if (bit < fault_fields[i].bits) {
			unsigned char *p = (unsigned char *)d + fault_fields[i].off;
			p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			return;
		}
		bit -= fault_fields[i].bits;
	}
}

void fault_corrupt(uint64_t *rng, struct desc *d)
{
	uint64_t r = fault_rng_next(rng);
	unsigned k = 1 + (unsigned)(r % 3), picked[3];
	r /= 3;
	for (unsigned i = 0; i < k; i++) {
		unsigned bit;
		bool again;
		do { /* distinct: flipping one bit twice would undo it */
			bit = (unsigned)(fault_rng_next(rng) % FAULT_WIRE_BITS);
			again = false;
			for (unsigned j = 0; j < i; j++)
				again |= picked[j] == bit;
		} while (again);
		picked[i] = bit;
		fault_flip(d, bit);
	}
}

unsigned fault_inj_apply(struct fault_inj *f, struct pool *pool, struct buf **bufs,
			 const struct desc *descs, unsigned n, struct buf **chains,
			 struct desc *wire)
{
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = fault_rng_next(&f->rng), b = fault_rng_next(&f->rng);
		f->n.descs++;
		if ((a & UINT32_MAX) < f->spec.drop) {
			f->n.dropped++;
			pool_free(&bufs[i]);
			continue;
		}
		if ((a >> 32) < f->spec.corrupt) {
			f->n.corrupted++;
			wire[m] = descs[i];
			fault_corrupt(&f->rng, &wire[m]);
			chains[m++] = NULL;
			pool_free(&bufs[i]);
			continue;
		}
		wire[m] = descs[i];
		chains[m++] = bufs[i];
		bufs[i] = NULL;
		if ((b & UINT32_MAX) < f->spec.dup) {
			f->n.duplicated++;
			wire[m] = descs[i];
			chains[m++] = NULL;
		}
	}
	return m;
}
