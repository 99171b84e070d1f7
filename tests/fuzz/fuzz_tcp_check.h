/* fuzz_tcp_check: the TCP table's invariants, checked by the TCP core's fuzz targets after
 * every call they make (fuzz_tcp_input.c from the wire's side, fuzz_tcp_user.c from the
 * applications'): the free list, the 4-tuple hash, the listeners' queues and their counts,
 * the deadline cache never late, and per connection snd_una <= snd_nxt <= snd_max and
 * read_seq <= rcv_nxt. */
#ifndef USTACK_FUZZ_TCP_CHECK_H
#define USTACK_FUZZ_TCP_CHECK_H

#include <stdbool.h>

#include "tcp_core.h"

/* The harness's own whole-table loops need no coverage feedback (it would only slow libFuzzer
 * down): clang's attribute, nothing elsewhere. */
#if defined(__clang__)
#define FTC_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FTC_NO_COVERAGE
#endif

/* Report a failed check of target `who` on stderr and abort(). */
_Noreturn void ftc_fail(const char *who, const char *what, unsigned long a, unsigned long b);

/* Check t, abort()ing through ftc_fail on the first invariant that fails. *hi carries the
 * scan's bound from call to call (0 after tcp_table_init); full scans every slot. */
void ftc_check_table(const char *who, const struct tcp_table *t, unsigned *hi, bool full);

#endif
