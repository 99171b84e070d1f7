/* fault_api: an application's own test, written against <ustack/test.h> as a user would: it
 * keeps one TCP connection and one UDP socket to kernel echo servers in the test namespace and,
 * through the API, kills tcpd, hangs udpd, kills ipd, waiting each time until the stack serves
 * again; the same connection and the same socket must echo after each fault. It also checks the
 * API's errors: bad arguments (EINVAL, no child run), no ustackctl (ENOENT), a wait that times
 * out while udpd is stopped (ETIMEDOUT).
 *
 *   fault_api PEER TCP_PORT UDP_PORT      (USTACK_INSTANCE and USTACK_CTL in the environment)
 *
 * Prints a line per step; exit 0 only if every check held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ustack/sock.h>
#include <ustack/test.h>

static int failures;

#define CHECK(cond, ...)                                       \
	do {                                                   \
		if (!(cond)) {                                 \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                   \
			printf("\n");                          \
			failures++;                            \
		}                                              \
	} while (0)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line over the TCP connection and back, byte-exact. */
static int tcp_echo(int fd, const char *what)
{
	char line[64], got[64];
	int n = snprintf(line, sizeof(line), "tcp %s\n", what);
	if (us_send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno;
	int have = 0;
	while (have < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (us_poll(&p, 1, 15000) <= 0)
			return -ETIMEDOUT;
		ssize_t r = us_recv(fd, got + have, (size_t)(n - have), 0);
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		have += (int)r;
	}
	return memcmp(got, line, (size_t)n) == 0 ? 0 : -EPROTO;
}

/* A datagram to the echo server and its echo, retried every 200 ms for 10 s (a datagram may be
 * lost while a layer restarts: the application retries, as a UDP application does). */
static int udp_echo(int fd, const struct sockaddr_in *to, const char *what)
{
	char d[64], got[64];
	int n = snprintf(d, sizeof(d), "udp %s", what);
	for (int i = 0; i < 50; i++) {
		us_sendto(fd, d, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to));
		struct pollfd p = {.fd = fd, .events = POLLIN};
		while (us_poll(&p, 1, 200) > 0) {
			ssize_t r = us_recv(fd, got, sizeof(got), MSG_DONTWAIT);
			if (r == n && memcmp(got, d, (size_t)n) == 0)
				return 0;
		}
	}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fault_api PEER TCP_PORT UDP_PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sockaddr_in tcp_to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	struct sockaddr_in udp_to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
	inet_pton(AF_INET, argv[1], &tcp_to.sin_addr);
	udp_to.sin_addr = tcp_to.sin_addr;

	/* errors, before anything is touched */
	errno = 0;
	CHECK(us_test_kill(NULL, "bogus") == -1 && errno == EINVAL, "kill bogus: %s", strerror(errno));
	CHECK(us_test_kill(NULL, NULL) == -1 && errno == EINVAL, "kill NULL: %s", strerror(errno));
	CHECK(us_test_hang(NULL, "udpd", 0) == -1 && errno == EINVAL, "hang 0 ms: %s",
	      strerror(errno));
	CHECK(us_test_clear(NULL, "eth0") == -1 && errno == EINVAL, "clear eth0: %s",
	      strerror(errno));
	CHECK(us_test_wait_serving("no/such", 1000) == -1 && errno == EINVAL, "bad instance: %s",
	      strerror(errno));
	CHECK(us_test_wait_serving(NULL, 0) == -1 && errno == EINVAL, "timeout 0: %s",
	      strerror(errno));
	const char *ctl = getenv("USTACK_CTL");
	char *saved = ctl ? strdup(ctl) : NULL;
	setenv("USTACK_CTL", "/nonexistent/ustackctl", 1);
	CHECK(us_test_wait_serving(NULL, 1000) == -1 && errno == ENOENT, "no ustackctl: %s",
	      strerror(errno));
	if (saved)
		setenv("USTACK_CTL", saved, 1);
	else
		unsetenv("USTACK_CTL");
	free(saved);
	printf("argument errors: checked\n");

	CHECK(us_test_wait_serving(NULL, 10000) == 0, "serving at the start: %s", strerror(errno));
	int t = us_socket(AF_INET, SOCK_STREAM, 0), u = us_socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(t >= 0 && u >= 0, "sockets: %s", strerror(errno));
	CHECK(us_connect(t, (struct sockaddr *)&tcp_to, sizeof(tcp_to)) == 0, "connect: %s",
	      strerror(errno));
	int rc;
	CHECK((rc = tcp_echo(t, "before")) == 0, "tcp before: %s", strerror(-rc));
	CHECK((rc = udp_echo(u, &udp_to, "before")) == 0, "udp before: %s", strerror(-rc));
	if (failures)
		return 1;

	/* kill tcpd: the connection carries on */
	double t0 = now_s();
	CHECK(us_test_kill(NULL, "tcpd") == 0, "kill tcpd: %s", strerror(errno));
	CHECK(us_test_wait_serving(NULL, 15000) == 0, "wait after kill tcpd: %s", strerror(errno));
	printf("kill tcpd: serving again after %.2f s\n", now_s() - t0);
	CHECK((rc = tcp_echo(t, "after the tcpd kill")) == 0, "tcp after kill tcpd: %s",
	      strerror(-rc));

	/* hang udpd 1.2 s (below the watchdog: udpd feeds it every 1.5 s): a short wait times
	 * out, a long one sees it serve; the socket works */
	t0 = now_s();
	CHECK(us_test_hang(NULL, "udpd", 1200) == 0, "hang udpd: %s", strerror(errno));
	errno = 0;
	CHECK(us_test_wait_serving(NULL, 200) == -1 && errno == ETIMEDOUT,
	      "a 200 ms wait while udpd is stopped: %s", strerror(errno));
	CHECK(us_test_wait_serving(NULL, 15000) == 0, "wait after hang udpd: %s", strerror(errno));
	double hung = now_s() - t0;
	printf("hang udpd 1.2 s: serving again after %.2f s\n", hung);
	CHECK(hung >= 1.0, "served again %.2f s after a 1.2 s hang", hung);
	CHECK((rc = udp_echo(u, &udp_to, "after the udpd hang")) == 0, "udp after hang: %s",
	      strerror(-rc));

	/* a hang ended early by clear */
	CHECK(us_test_hang(NULL, "udpd", 60000) == 0, "hang udpd 60 s: %s", strerror(errno));
	t0 = now_s();
	CHECK(us_test_clear(NULL, NULL) == 0, "clear: %s", strerror(errno));
	CHECK(us_test_wait_serving(NULL, 5000) == 0, "wait after clear: %s", strerror(errno));
	printf("clear ends a 60 s hang: serving again after %.2f s\n", now_s() - t0);

	/* kill ipd: both carry on */
	t0 = now_s();
	CHECK(us_test_kill(NULL, "ipd") == 0, "kill ipd: %s", strerror(errno));
	CHECK(us_test_wait_serving(NULL, 15000) == 0, "wait after kill ipd: %s", strerror(errno));
	printf("kill ipd: serving again after %.2f s\n", now_s() - t0);
	CHECK((rc = tcp_echo(t, "after the ipd kill")) == 0, "tcp after kill ipd: %s",
	      strerror(-rc));
	CHECK((rc = udp_echo(u, &udp_to, "after the ipd kill")) == 0, "udp after kill ipd: %s",
	      strerror(-rc));
	us_close(u);
	us_shutdown(t, SHUT_WR);
	us_close(t);
	printf(failures ? "fault_api: %d failures\n" : "fault_api: ok\n", failures);
	return failures ? 1 : 0;
}
