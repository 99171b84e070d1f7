/* fuzz: the contract between a fuzz target and the plain driver (fuzz_driver.c).
 *
 * A target is one file defining LLVMFuzzerTestOneInput (the libFuzzer entry point: it must
 * accept any bytes, and abort() on anything it finds wrong, so that both libFuzzer and ctest
 * notice) and a struct fuzz_target that tells the driver how to build inputs without libFuzzer:
 * which valid units (frames, messages) to start from and how to frame a few of them into one
 * input. The driver mutates units, not whole inputs, so most of its inputs get past the
 * target's framing and into the code under test.
 */
#ifndef USTACK_FUZZ_H
#define USTACK_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point. Returns 0; abort()s on a bug. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seed {
	const char *name;    /* NULL ends a table */
	const uint8_t *data;
	size_t len;
};
#define FUZZ_SEED(name, array) { (name), (array), sizeof(array) }
#define FUZZ_SEED_END { NULL, NULL, 0 }

/* Build one input from n units, with ctl[0] for the input as a whole and ctl[1 + i] for unit
 * i (random words the target turns into its control fields). Returns the input's length, at
 * most cap (units that do not fit are cut or left out). */
typedef size_t fuzz_compose_fn(uint8_t *out, size_t cap, const uint8_t *const unit[],
			       const size_t unit_len[], unsigned n, const uint32_t ctl[]);

struct fuzz_target {
	const char *name;
	const struct fuzz_seed *units;       /* valid units, FUZZ_SEED_END-terminated */
	const struct fuzz_seed *regressions; /* whole inputs found by fuzzing, run first */
	unsigned max_units;                  /* units per generated input, 1.. */
	size_t unit_max;                     /* longest unit worth generating */
	fuzz_compose_fn *compose;
};

/* The first byte of buf[from, size) that is no longer `fill` (size when none is): how a
 * target checks that a call given `from` bytes of room wrote nothing past them. */
static inline size_t fuzz_first_changed(const uint8_t *buf, size_t from, size_t size,
					uint8_t fill)
{
	while (from < size && buf[from] == fill)
		from++;
	return from;
}

/* Defined by the target linked with the driver. */
extern const struct fuzz_target fuzz_target;

#endif
