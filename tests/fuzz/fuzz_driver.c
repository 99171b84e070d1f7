/* fuzz_driver: runs a fuzz target without libFuzzer, so every build (gcc, sanitizers) runs it
 * as a ctest smoke test.
 *
 * Default run, deterministic for a given seed: the regression inputs (seeds.h); each valid unit
 * alone, then all of them in one input, with control words all 0 and all 1; then `runs` inputs
 * made by taking 1..max_units units at random, mutating each (bit flips, interesting values,
 * truncation, growth, crossover; see fzd_mutate) and letting the target frame them, and
 * sometimes flipping bits of the framed input too. A time budget stops the generated part
 * early on slow builds (valgrind, a loaded CI box), so ctest stays within seconds.
 *
 * When a target aborts (or a sanitizer reports), the input being run is dumped as hex to stderr
 * and written to ./crash-<target>-smoke, which libFuzzer binaries and this driver both replay.
 *
 *   fuzz-<target>-smoke [-n runs] [-s seed] [-t seconds]   the smoke test
 *   fuzz-<target>-smoke FILE...                            replay inputs (libFuzzer crash-*)
 *   fuzz-<target>-smoke -w DIR                             write the valid inputs to DIR, as
 *                                                          a starting corpus for libFuzzer
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_SMOKE_RUNS
#define FUZZ_SMOKE_RUNS 10000
#endif
#define FZD_DEFAULT_SEED 0x75737461636bull /* "ustack" */
#define FZD_DEFAULT_SECONDS 4.0
#define FZD_UNITS_MAX 16u
#define FZD_INPUT_MAX (256u * 1024)

#ifndef FUZZ_TARGET_NAME
#define FUZZ_TARGET_NAME "target"
#endif

/* Sanitizer runtimes call a death callback before they exit on an error report: gcc says it
 * builds with ASan by __SANITIZE_ADDRESS__, clang by __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define FZD_DEATH_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZD_DEATH_CALLBACK 1
#endif
#endif
#ifdef FZD_DEATH_CALLBACK
#include <sanitizer/common_interface_defs.h>
#endif

struct fzd_rng {
	uint64_t s;
};

/* The input being run, for the crash dump. */
struct fzd_current {
	const uint8_t *data;
	size_t len;
	const char *what;
};

static struct fzd_current fzd_cur;
static uint8_t fzd_input[FZD_INPUT_MAX];
static uint8_t fzd_units[FZD_UNITS_MAX][FZD_INPUT_MAX / FZD_UNITS_MAX];

static uint64_t fzd_next(struct fzd_rng *r)
{
	/* xorshift64*: fast, and the same sequence on every platform. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

static uint32_t fzd_below(struct fzd_rng *r, uint32_t n)
{
	return n ? (uint32_t)(fzd_next(r) >> 32) % n : 0;
}

static const char fzd_crash_file[] = "crash-" FUZZ_TARGET_NAME "-smoke";
static const char fzd_written[] = "fuzz_driver: written to crash-" FUZZ_TARGET_NAME "-smoke\n";

/* Async-signal-safe: write(2) only. */
static void fzd_dump(void)
{
	static const char hex[] = "0123456789abcdef";
	char line[80];
	size_t i, k = 0;
	int fd;

	if (!fzd_cur.data)
		return;
	(void)!write(2, "fuzz_driver: failing input (", 28);
	(void)!write(2, fzd_cur.what, strlen(fzd_cur.what));
	(void)!write(2, "), hex:\n", 8);
	for (i = 0; i < fzd_cur.len; i++) {
		line[k++] = hex[fzd_cur.data[i] >> 4];
		line[k++] = hex[fzd_cur.data[i] & 15];
		if (k >= 64 || i + 1 == fzd_cur.len) {
			line[k++] = '\n';
			(void)!write(2, line, k);
			k = 0;
		}
	}
	fd = open(fzd_crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		(void)!write(fd, fzd_cur.data, fzd_cur.len);
		close(fd);
		(void)!write(2, fzd_written, sizeof(fzd_written) - 1);
	}
}

static void fzd_on_abort(int sig)
{
	fzd_dump();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fzd_run(const uint8_t *data, size_t len, const char *what)
{
	fzd_cur.data = data;
	fzd_cur.len = len;
	fzd_cur.what = what;
	LLVMFuzzerTestOneInput(data, len);
	fzd_cur.data = NULL;
}

static size_t fzd_count(const struct fuzz_seed *t)
{
	size_t n = 0;

	while (t[n].name)
		n++;
	return n;
}

static void fzd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Where to mutate: half the time in the first 64 bytes, where the headers are. */
static size_t fzd_pos(struct fzd_rng *r, size_t len)
{
	if (len > 64 && fzd_below(r, 2))
		return fzd_below(r, 64);
	return fzd_below(r, (uint32_t)len);
}

/* A few random edits of u[0..*len) (capacity cap). */
static void fzd_mutate(struct fzd_rng *r, uint8_t *u, size_t *len, size_t cap,
		       const struct fuzz_seed *units, size_t n_units)
{
	static const uint8_t bytes[] = { 0, 1, 4, 5, 6, 0x0f, 0x11, 0x3f, 0x40, 0x45, 0x46,
					 0x4f, 0x7f, 0x80, 0xfe, 0xff };
	unsigned edits = fzd_below(r, 8) == 0 ? 0 : 1 + fzd_below(r, 4);

	for (unsigned e = 0; e < edits; e++) {
		size_t l = *len, p, q, n;
		const struct fuzz_seed *other;
		uint16_t words[] = { 0, 1, 8, 20, 0x7fff, 0x8000, 0xffff, 0x2000, 0x1fff, 0x3fff,
				     0x4000, 576, 1480, 1500, 65515, 65535, (uint16_t)(l - 14),
				     (uint16_t)l };

		switch (fzd_below(r, 10)) {
		case 0: /* flip a bit */
			if (l) {
				p = fzd_pos(r, l);
				u[p] ^= (uint8_t)(1u << fzd_below(r, 8));
			}
			break;
		case 1: /* a random byte */
			if (l)
				u[fzd_pos(r, l)] = (uint8_t)fzd_next(r);
			break;
		case 2: /* an interesting byte */
			if (l)
				u[fzd_pos(r, l)] = bytes[fzd_below(r, sizeof(bytes))];
			break;
		case 3: /* an interesting big-endian 16-bit value */
			if (l >= 2) {
				p = fzd_pos(r, l - 1);
				n = fzd_below(r, sizeof(words) / sizeof(words[0]));
				fzd_put16(u + p, words[n]);
			}
			break;
		case 4: /* a small step up or down (lengths, offsets, counts) */
			if (l) {
				p = fzd_pos(r, l);
				u[p] = (uint8_t)(u[p] + fzd_below(r, 33) - 16);
			}
			break;
		case 5: /* cut */
			*len = fzd_below(r, (uint32_t)l + 1);
			break;
		case 6: /* grow: a little, or up to a big frame */
			n = fzd_below(r, 4) ? fzd_below(r, 64) + 1 : fzd_below(r, (uint32_t)cap);
			if (n > cap - l)
				n = cap - l;
			if (fzd_below(r, 2))
				memset(u + l, (int)fzd_below(r, 256), n);
			else
				for (q = 0; q < n; q++)
					u[l + q] = (uint8_t)fzd_next(r);
			*len = l + n;
			break;
		case 7: /* crossover: a piece of another unit at the same place */
			if (n_units == 0)
				break;
			other = &units[fzd_below(r, (uint32_t)n_units)];
			if (other->len && l) {
				p = fzd_below(r, (uint32_t)(l < other->len ? l : other->len));
				n = 1 + fzd_below(r, 16);
				if (n > other->len - p)
					n = other->len - p;
				if (n > l - p)
					n = l - p;
				memcpy(u + p, other->data + p, n);
			}
			break;
		case 8: /* repeat a piece (options, TLVs) */
			if (l) {
				p = fzd_below(r, (uint32_t)l);
				n = 1 + fzd_below(r, 16);
				if (n > l - p)
					n = l - p;
				if (n > cap - l)
					n = cap - l;
				q = fzd_pos(r, l);
				memmove(u + q + n, u + q, l - q);
				memmove(u + q, u + (p >= q ? p + n : p), n);
				*len = l + n;
			}
			break;
		default: /* keep a valid field: no edit this round */
			break;
		}
	}
}

static double fzd_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* All units, in seed order, into one input. */
static size_t fzd_all_units(uint32_t ctl_fill)
{
	const uint8_t *u[FZD_UNITS_MAX];
	size_t ul[FZD_UNITS_MAX];
	uint32_t ctl[FZD_UNITS_MAX + 1];
	unsigned n = 0;

	for (const struct fuzz_seed *s = fuzz_target.units; s->name && n < FZD_UNITS_MAX; s++) {
		u[n] = s->data;
		ul[n++] = s->len;
	}
	for (unsigned i = 0; i <= n; i++)
		ctl[i] = ctl_fill;
	return fuzz_target.compose(fzd_input, sizeof(fzd_input), u, ul, n, ctl);
}

static size_t fzd_one_unit(const struct fuzz_seed *s, uint32_t ctl_fill)
{
	const uint8_t *u[1] = { s->data };
	size_t ul[1] = { s->len };
	uint32_t ctl[2] = { ctl_fill, ctl_fill };

	return fuzz_target.compose(fzd_input, sizeof(fzd_input), u, ul, 1, ctl);
}

static int fzd_write(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz_driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int fzd_write_corpus(const char *dir)
{
	char name[128];
	size_t len;
	int rc = 0;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz_driver: mkdir %s: %s\n", dir, strerror(errno));
		return EXIT_FAILURE;
	}
	for (const struct fuzz_seed *s = fuzz_target.units; s->name; s++) {
		len = fzd_one_unit(s, 0);
		snprintf(name, sizeof(name), "seed-%s", s->name);
		rc |= fzd_write(dir, name, fzd_input, len);
	}
	len = fzd_all_units(0);
	rc |= fzd_write(dir, "seed-all", fzd_input, len);
	for (const struct fuzz_seed *s = fuzz_target.regressions; s->name; s++) {
		snprintf(name, sizeof(name), "regression-%s", s->name);
		rc |= fzd_write(dir, name, s->data, s->len);
	}
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int fzd_replay(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t len;

		if (!f) {
			fprintf(stderr, "fuzz_driver: %s: %s\n", argv[i], strerror(errno));
			return EXIT_FAILURE;
		}
		len = fread(fzd_input, 1, sizeof(fzd_input), f);
		fclose(f);
		fzd_run(fzd_input, len, argv[i]);
		printf("%s: ok (%zu bytes)\n", argv[i], len);
	}
	return EXIT_SUCCESS;
}

static void fzd_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-n runs] [-s seed] [-t seconds]\n"
		"         smoke test (default %d runs, at most %.0f s)\n"
		"       %s FILE...\n"
		"         replay inputs (a libFuzzer crash-* file, a regression)\n"
		"       %s -w DIR\n"
		"         write the valid inputs to DIR, a starting corpus for libFuzzer\n",
		argv0, FUZZ_SMOKE_RUNS, FZD_DEFAULT_SECONDS, argv0, argv0);
}

int main(int argc, char **argv)
{
	unsigned long runs = FUZZ_SMOKE_RUNS, i;
	uint64_t seed = FZD_DEFAULT_SEED;
	double budget = FZD_DEFAULT_SECONDS, start;
	const char *corpus = NULL;
	size_t n_units = fzd_count(fuzz_target.units), len;
	struct fzd_rng rng;
	char what[96];
	int opt;

	while ((opt = getopt(argc, argv, "n:s:t:w:h")) != -1) {
		switch (opt) {
		case 'n':
			runs = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			budget = strtod(optarg, NULL);
			break;
		case 'w':
			corpus = optarg;
			break;
		default:
			fzd_usage(argv[0]);
			return opt == 'h' ? EXIT_SUCCESS : EXIT_FAILURE;
		}
	}
	if (corpus)
		return fzd_write_corpus(corpus);

	signal(SIGABRT, fzd_on_abort);
#ifdef FZD_DEATH_CALLBACK
	__sanitizer_set_death_callback(fzd_dump);
#endif
	if (optind < argc)
		return fzd_replay(argc - optind, argv + optind);

	for (const struct fuzz_seed *s = fuzz_target.regressions; s->name; s++)
		fzd_run(s->data, s->len, s->name);
	for (const struct fuzz_seed *s = fuzz_target.units; s->name; s++) {
		len = fzd_one_unit(s, 0);
		fzd_run(fzd_input, len, s->name);
		len = fzd_one_unit(s, UINT32_MAX);
		fzd_run(fzd_input, len, s->name);
	}
	len = fzd_all_units(0);
	fzd_run(fzd_input, len, "all units");
	len = fzd_all_units(UINT32_MAX);
	fzd_run(fzd_input, len, "all units, control words all 1");

	rng.s = seed ? seed : FZD_DEFAULT_SEED;
	start = fzd_seconds();
	for (i = 0; i < runs; i++) {
		const uint8_t *u[FZD_UNITS_MAX];
		size_t ul[FZD_UNITS_MAX];
		uint32_t ctl[FZD_UNITS_MAX + 1];
		unsigned n = 1 + fzd_below(&rng, fuzz_target.max_units < FZD_UNITS_MAX ?
							 fuzz_target.max_units : FZD_UNITS_MAX);
		size_t cap = sizeof(fzd_units[0]) < fuzz_target.unit_max ? sizeof(fzd_units[0]) :
									   fuzz_target.unit_max;

		if ((i & 63) == 0 && budget > 0 && fzd_seconds() - start > budget)
			break;
		ctl[0] = (uint32_t)fzd_next(&rng);
		for (unsigned k = 0; k < n; k++) {
			const struct fuzz_seed *s =
				&fuzz_target.units[fzd_below(&rng, (uint32_t)n_units)];

			memcpy(fzd_units[k], s->data, s->len);
			ul[k] = s->len;
			fzd_mutate(&rng, fzd_units[k], &ul[k], cap, fuzz_target.units, n_units);
			u[k] = fzd_units[k];
			ctl[1 + k] = (uint32_t)fzd_next(&rng);
		}
		len = fuzz_target.compose(fzd_input, sizeof(fzd_input), u, ul, n, ctl);
		if (fzd_below(&rng, 8) == 0)
			fzd_mutate(&rng, fzd_input, &len, sizeof(fzd_input), fuzz_target.units, 0);
		snprintf(what, sizeof(what), "generated input %lu, seed %#llx", i,
			 (unsigned long long)seed);
		fzd_run(fzd_input, len, what);
	}
	printf("%s: %lu generated inputs (of %lu) in %.2f s, seed %#llx: ok\n", fuzz_target.name, i,
	       runs, fzd_seconds() - start, (unsigned long long)seed);
	return EXIT_SUCCESS;
}
