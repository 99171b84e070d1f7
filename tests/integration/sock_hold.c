/* sock_hold: a libsock application that holds sockets open for `ustackctl sockets` to list.
 *
 *   sock_hold udp BASE COUNT [PEER PORT]   COUNT UDP sockets bound to ports BASE..BASE+COUNT-1
 *                                          (connected to PEER:PORT if given)
 *   sock_hold tcp BASE COUNT               COUNT TCP listeners on ports BASE..BASE+COUNT-1
 *
 * Prints "ready COUNT" once every socket is open, then waits; SIGTERM closes them all and
 * exits 0. Exit status 1 if a socket call failed (the call and errno printed), 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/sock.h>

#define SOCK_HOLD_MAX 64

static volatile sig_atomic_t sock_hold_stop;

static void sock_hold_on_term(int sig)
{
	(void)sig;
	sock_hold_stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: sock_hold udp|tcp BASE COUNT [PEER PORT]\n");
		return 2;
	}
	int tcp = strcmp(argv[1], "tcp") == 0;
	if (!tcp && strcmp(argv[1], "udp") != 0)
		return 2;
	int base = atoi(argv[2]), count = atoi(argv[3]);
	if (base < 1 || count < 1 || count > SOCK_HOLD_MAX || base + count - 1 > 65535)
		return 2;
	struct sockaddr_in peer = {.sin_family = AF_INET};
	if (argc == 6) {
		if (tcp || inet_pton(AF_INET, argv[4], &peer.sin_addr) != 1)
			return 2;
		peer.sin_port = htons((uint16_t)atoi(argv[5]));
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sock_hold_on_term;
	sigaction(SIGTERM, &sa, NULL);
	/* SIGTERM is taken only inside sigsuspend: none is lost between the check and the wait */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	int fds[SOCK_HOLD_MAX];
	for (int i = 0; i < count; i++) {
		fds[i] = us_socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
		if (fds[i] < 0) {
			fprintf(stderr, "sock_hold: socket %d: %s\n", i, strerror(errno));
			return 1;
		}
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i))};
		if (us_bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0) {
			fprintf(stderr, "sock_hold: bind %d: %s\n", base + i, strerror(errno));
			return 1;
		}
		if (tcp && us_listen(fds[i], 16) < 0) {
			fprintf(stderr, "sock_hold: listen %d: %s\n", base + i, strerror(errno));
			return 1;
		}
		if (argc == 6 && us_connect(fds[i], (struct sockaddr *)&peer, sizeof(peer)) < 0) {
			fprintf(stderr, "sock_hold: connect: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("ready %d\n", count);
	fflush(stdout);
	while (!sock_hold_stop)
		sigsuspend(&old);
	for (int i = 0; i < count; i++)
		us_close(fds[i]);
	return 0;
}
