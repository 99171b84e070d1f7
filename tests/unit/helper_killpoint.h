/* helper_killpoint: stop a function after its k-th store into a memory area, exactly where a
 * SIGKILL landing after that instruction would leave the area.
 *
 * How: the area is made read-only; a store into it faults (SIGSEGV), the handler makes the page
 * writable and sets the trap flag, the store executes, the single-step trap (SIGTRAP) counts it,
 * write-protects the page again and calls back: the area is then exactly what a kill after that
 * store would leave. No store is missed, whatever the compiler made of the code (field stores,
 * memcpy's vector stores, a rep movs iteration by iteration), and nothing is instrumented: the
 * code under test is the production code. One traced run visits every cut point.
 *
 * x86-64 Linux only (the trap flag in the signal context); killpoint_supported() says. Works
 * under ASan and UBSan. Not reentrant; one area at a time.
 */
#ifndef USTACK_HELPER_KILLPOINT_H
#define USTACK_HELPER_KILLPOINT_H

#include <stdbool.h>
#include <stddef.h>

bool killpoint_supported(void);

/* An area of len bytes (rounded up to pages), page aligned, zeroed; free with killpoint_free. */
void *killpoint_alloc(size_t len);
void killpoint_free(void *area, size_t len);

/* Run fn(arg) to its end with the stores into [area, area + len) traced; after the n-th store
 * (n = 1, 2, ...) call on_store(n, ctx). on_store runs inside a signal handler while fn is
 * stopped after that store: it may read the area (and do anything else fn does not depend
 * on), never write it. Returns the number of stores fn made. */
unsigned killpoint_each(void *area, size_t len, void (*fn)(void *), void *arg,
			void (*on_store)(unsigned n, void *ctx), void *ctx);

#endif
