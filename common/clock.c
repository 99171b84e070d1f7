/* clock: CLOCK_MONOTONIC in nanoseconds. */
#include "clock.h"

#include <time.h>

uint64_t clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_NS_PER_S + (uint64_t)ts.tv_nsec;
}
