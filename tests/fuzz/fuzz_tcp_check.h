/* fuzz_tcp_check: what the TCP core's fuzz targets check after every call they make
 * (fuzz_tcp_input.c from the wire's side, fuzz_tcp_user.c from the applications'): the
 * table's invariants (tests/unit/tcp_table_audit.h, the unit tests' own), what the core asks
 * the shell to send, and an input's end leaving nothing behind. */
#ifndef USTACK_FUZZ_TCP_CHECK_H
#define USTACK_FUZZ_TCP_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_core.h"

/* The harness's own whole-table loops need no coverage feedback (it would only slow libFuzzer
 * down): clang's attribute, nothing elsewhere. */
#if defined(__clang__)
#define FTC_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define FTC_NO_COVERAGE
/* The end of an input: the timers run out (at most `passes` deadlines, timers() running the
 * target's pass at *now), what is still alive (orphans retransmitting their FIN, TIME-WAIT)
 * is aborted (settle() after each), one pass more makes the deadline cache exact; then every
 * slot and listener must be free and nothing due. abort()s through ftc_fail otherwise. */
void ftc_wind_down(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t *now,
		   unsigned *hi, unsigned passes, void (*timers)(void), void (*settle)(void));

#endif

/* Report a failed check of target `who` on stderr and abort(). */
_Noreturn void ftc_fail(const char *who, const char *what, unsigned long a, unsigned long b);

/* The connection cid names, if it is still that connection (any owner); else NULL. */
struct tcp_conn *ftc_conn(struct tcp_table *t, uint32_t cid);

/* What the core asked the shell to send in io can be built: options a multiple of 4 within
 * 40 bytes, TSO only when the host has it, the payload within [snd_una, write_seq) of a live
 * connection; with ports, neither port is 0. */
void ftc_check_tx(const char *who, struct tcp_table *t, const struct tcp_io *io, bool ports);

/* The timers due at now, as the shell's timerfd runs them; unless io filled up meanwhile (the
 * rest waits for room), nothing may be left due. The caller settles afterwards. */
void ftc_timers(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t now);

/* As the shell after every call: check what io says to send (ftc_check_tx), give it to keep
 * (may be NULL), take the events, flush, send what a full io left owed (rounds of
 * tcp_output_deferred at now); then the table's invariants (ftc_check_table, not full). */
void ftc_settle(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t now,
		unsigned *hi, bool ports, void (*keep)(void));

/* Check t, abort()ing through ftc_fail on the first invariant that fails. *hi carries the
 * scan's bound from call to call (0 after tcp_table_init); full scans every slot. */
void ftc_check_table(const char *who, const struct tcp_table *t, unsigned *hi, bool full);

/* The end of an input: the timers run out (at most `passes` deadlines, timers() running the
 * target's pass at *now), what is still alive (orphans retransmitting their FIN, TIME-WAIT)
 * is aborted (settle() after each), one pass more makes the deadline cache exact; then every
 * slot and listener must be free and nothing due. abort()s through ftc_fail otherwise. */
void ftc_wind_down(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t *now,
		   unsigned *hi, unsigned passes, void (*timers)(void), void (*settle)(void));

#endif
