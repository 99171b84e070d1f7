/* helper_check: the one main() every unit test ends with.
 *
 * A test file builds its Suite and hands it to tcheck_run(), which runs it and turns the
 * result into the exit status ctest reads. Per-test preparation that must happen before any
 * test runs (a network namespace, say) stays in the test's own main(), before the call.
 *
 * Symbols carry the tcheck_ prefix: every helper_*.c is linked into every unit test.
 */
#ifndef USTACK_HELPER_CHECK_H
#define USTACK_HELPER_CHECK_H

#include <check.h>

/* Run every test of s and free the runner (which frees s: do not use it afterwards).
 * Verbosity comes from CK_VERBOSITY (CK_ENV), CK_NORMAL when unset; CK_FORK and CK_RUN_CASE
 * etc. work as Check documents. Returns EXIT_SUCCESS if no test failed, else EXIT_FAILURE. */
int tcheck_run(Suite *s);

#endif
