/* ustack/test.h: fault injection for an application's own tests (link with libsock).
 *
 * An application's test suite can kill or hang one layer of the stack it runs on, and wait until
 * the stack serves again, to prove that the application survives what the stack survives:
 *
 *     us_test_kill(NULL, "tcpd");              // SIGKILL; systemd restarts tcpd
 *     us_test_wait_serving(NULL, 10000);       // every layer serves again
 *     ... the application's connections must carry on (the stack keeps them: README,
 *         "What survives which fault") ...
 *     us_test_hang(NULL, "udpd", 500);         // SIGSTOP, SIGCONT after 500 ms
 *
 * `instance` NULL means the instance libsock itself uses (us_set_instance(), else
 * $USTACK_INSTANCE). `layer` is "nicd", "ipd", "tcpd" or "udpd".
 *
 * These calls run `ustackctl` (its `fault` and `wait` commands, ustackctl(1)): $USTACK_CTL if
 * set, else `ustackctl` from $PATH. They need what ustackctl needs for them: the instance's
 * systemd manager, and the privilege to signal the stack's processes (root in a test namespace,
 * as the project's own tests run). Why a program and not the control sockets: a kill or a hang
 * goes through the instance's manager (the unit's main pid, the detached helper that ends a
 * hang, the record `ustackctl status` shows), and one implementation of each fault is the one
 * users run by hand; a test pays some milliseconds per call. ustackctl's messages go to this
 * process's stderr; its stdout is discarded. The calls wait for the child with waitpid(): with
 * SIGCHLD ignored they fail with ECHILD.
 *
 * Every call returns 0, or -1 with errno:
 *   EINVAL     a bad instance or layer name, a hang of 0 ms or above an hour, a timeout of 0;
 *   ENOENT     no ustackctl to run;
 *   ETIMEDOUT  us_test_wait_serving: not every layer served within the timeout;
 *   EIO        ustackctl failed (the instance is not up, the layer has no process now, ...:
 *              its message is on stderr);
 *   ECHILD, or what posix_spawn(3) returned, when it could not be run or waited for.
 */
#ifndef USTACK_TEST_H
#define USTACK_TEST_H

#include <ustack/sock.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SIGKILL to the layer's main process (`ustackctl fault kill`); systemd restarts it. Returns
 * once the signal is sent: follow with us_test_wait_serving(). */
US_API int us_test_kill(const char *instance, const char *layer);

/* SIGSTOP to the layer's main process, SIGCONT after `ms` (`ustackctl fault hang`); returns at
 * once. Past the units' WatchdogSec (3 s) systemd restarts the layer instead. */
US_API int us_test_hang(const char *instance, const char *layer, unsigned ms);

/* End the faults of `layer` (NULL: of every layer), a hang included (`ustackctl fault clear`). */
US_API int us_test_clear(const char *instance, const char *layer);

/* Wait until every layer serves (`ustackctl wait`), at most timeout_ms (1..3,600,000). */
US_API int us_test_wait_serving(const char *instance, unsigned timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
