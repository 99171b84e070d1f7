/* stats: named counter tables. Each layer keeps one struct of uint64_t counters and a table that
 * names every field, so ustackctl can print any layer's counters without knowing its struct. */
#ifndef USTACK_STATS_H
#define USTACK_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stat_field {
	const char *name; /* snake_case, stable: scripts read it */
	size_t offset;    /* of a uint64_t in the layer's stats struct */
};

#define STAT_FIELD(type, field) { #field, offsetof(type, field) }

static inline uint64_t stat_value(const void *stats, const struct stat_field *f)
{
	return *(const uint64_t *)((const char *)stats + f->offset);
}

#endif
