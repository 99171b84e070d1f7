/* cpu_list: parse a cpuset(7) CPU list and bind the calling thread to it (cpu_list.h). */
#include "cpu_list.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

/* One decimal CPU number at *p, advancing *p. 0 or -EINVAL. */
static int cpu_list_number(const char **p, unsigned *out)
{
	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	unsigned long v = 0;
	while (isdigit((unsigned char)**p)) {
		v = v * 10 + (unsigned long)(**p - '0');
		if (v >= CPU_SETSIZE)
			return -EINVAL;
		(*p)++;
	}
	*out = (unsigned)v;
	return 0;
}

int cpu_list_parse(const char *s, cpu_set_t *set)
{
	cpu_set_t parsed;
	CPU_ZERO(&parsed);
	const char *p = s;
	for (;;) {
		unsigned lo, hi;
		if (cpu_list_number(&p, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p++;
			if (cpu_list_number(&p, &hi) < 0 || hi < lo)
				return -EINVAL;
		}
		for (unsigned c = lo; c <= hi; c++)
			CPU_SET(c, &parsed);
		if (*p != ',')
			break;
		p++;
	}
	if (*p)
		return -EINVAL;
	*set = parsed;
	return 0;
}

int cpu_list_apply(const char *list)
{
	if (!list[0])
		return 0;
	cpu_set_t want, allowed;
	if (cpu_list_parse(list, &want) < 0)
		return -EINVAL;
	/* Only CPUs the process may use at all (its cgroup's cpuset, an outer taskset): asking for
	 * others fails with EINVAL, and so does a list that keeps none of them. */
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return -errno;
	CPU_AND(&want, &want, &allowed);
	if (CPU_COUNT(&want) == 0)
		return -EINVAL;
	if (sched_setaffinity(0, sizeof(want), &want) < 0)
		return -errno;
	return 0;
}
