/* clock: the one place a server shell reads time. Cores never call this: they take `now`.
 * Time is CLOCK_MONOTONIC in nanoseconds, which every process of one boot shares, so absolute
 * deadlines kept in a state segment stay valid across a restart. */
#ifndef USTACK_CLOCK_H
#define USTACK_CLOCK_H

#include <stdint.h>

#define CLOCK_NS_PER_MS 1000000ull
#define CLOCK_NS_PER_S 1000000000ull
#define CLOCK_NEVER UINT64_MAX

uint64_t clock_now(void);

#endif
