/* echo: what ustack-echo's modes share (echo.c: the command line and UDP; echo_tcp.c: TCP). */
#ifndef USTACK_ECHO_H
#define USTACK_ECHO_H

#include <signal.h>
#include <stdint.h>

/* Counters of the TCP mode, printed when it stops. */
struct echo_tcp_stats {
	uint64_t accepted;
	uint64_t closed;         /* ended by the peer's FIN, all echoed */
	uint64_t reset;          /* a receive or send failed (reset, aborted) */
	uint64_t accept_errors;  /* accept failed (EMFILE: libsock's 64 sockets in use) */
	uint64_t bytes;          /* echoed */
	uint64_t max_open;       /* most connections open at once */
};

/* Serve TCP echo on port until *stop is set (checked at least every poll timeout) or the
 * stop descriptor (-1: none) is readable. Prints "ustack-echo: tcp port N ready" once
 * listening. 0 when stopped, 1 when the listener cannot be had. */
int echo_tcp_run(uint16_t port, volatile sig_atomic_t *stop, int stop_fd,
		 struct echo_tcp_stats *st);

#endif
