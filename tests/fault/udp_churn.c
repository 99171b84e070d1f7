/* udp_churn: one application of test_udp_churn_restart.sh. It opens, binds, connects,
 * disconnects, sets options on and closes stack sockets at random for a while (udpd is being
 * killed meanwhile), keeping a model of what each of its sockets must be. Every call must
 * succeed, and every getsockname must match the model at once. Then it checks every socket it
 * believes it has: its name and its receive buffer are what the model says, and a datagram
 * sent through it to a kernel echo server comes back to it. It prints "holding N" (N: the
 * sockets it holds) and keeps them open until SIGUSR1, so the test can compare udpd's socket
 * table with what the applications hold; then it closes them all and exits.
 *
 *   udp_churn TAG OUR_ADDR PEER_ADDR ECHO_PORT SECONDS
 *
 * TAG (0..19) keeps its explicit ports (20000 + 500 * TAG ...) apart from the other
 * applications'. Exit status 0 only if everything held; each failure is printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#define CHURN_SOCKETS 12     /* at most, at once */
#define CHURN_PORTS 500      /* explicit ports of one application */
#define CHURN_RCVBUF 65536   /* set by SO_RCVBUF: Linux reports it doubled */

struct model {
	int fd;              /* -1: no socket */
	uint32_t laddr;      /* what getsockname must say (network order) */
	uint16_t lport;      /* network order; 0 = unbound */
	bool addr_lock;      /* bind() chose the address (kept by a disconnect) */
	bool port_lock;      /* bind() chose a non-zero port (kept by a disconnect) */
	bool connected;
	bool rcvbuf_set;
};

static struct model sk[CHURN_SOCKETS];
static unsigned tag;
static uint32_t our_addr;
static struct sockaddr_in echo;
static unsigned port_next;
static unsigned long ops[8];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int i)
{
	fprintf(stderr, "FAIL app %u socket %d: %s: %s\n", tag, i, what, strerror(errno));
	exit(1);
}

/* What getsockname says of socket i: 0, or -1 with errno. */
static int name_of(int i, uint32_t *addr, uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (us_getsockname(sk[i].fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*addr = a.sin_addr.s_addr;
	*port = a.sin_port;
	return 0;
}

static void check_name(int i, const char *after)
{
	uint32_t addr;
	uint16_t port;
	if (name_of(i, &addr, &port) < 0)
		die("getsockname", i);
	if (addr != sk[i].laddr || port != sk[i].lport) {
		char want[INET_ADDRSTRLEN], got[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sk[i].laddr, want, sizeof(want));
		inet_ntop(AF_INET, &addr, got, sizeof(got));
		fprintf(stderr, "FAIL app %u socket %d after %s: getsockname %s:%u, believed %s:%u\n",
			tag, i, after, got, ntohs(port), want, ntohs(sk[i].lport));
		exit(1);
	}
}

static bool port_held(uint16_t port)
{
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (sk[i].fd >= 0 && sk[i].lport == port)
			return true;
	return false;
}

static int pick(bool (*want)(const struct model *))
{
	int n = 0, c[CHURN_SOCKETS];
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (want(&sk[i]))
			c[n++] = i;
	return n ? c[rand() % n] : -1;
}

static bool is_free(const struct model *m) { return m->fd < 0; }
static bool is_open(const struct model *m) { return m->fd >= 0; }
static bool is_unbound(const struct model *m) { return m->fd >= 0 && !m->lport; }
static bool is_connected(const struct model *m) { return m->fd >= 0 && m->connected; }

static void op_open(void)
{
	int i = pick(is_free);
	if (i < 0)
		return;
	int fd = us_socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket", i);
	sk[i] = (struct model){.fd = fd};
	check_name(i, "socket");
	ops[0]++;
}

static void op_bind(void)
{
	int i = pick(is_unbound);
	if (i < 0)
		return;
	struct sockaddr_in a = {.sin_family = AF_INET};
	switch (rand() % 3) {
	case 0: /* an explicit port on ANY */
	case 1: /* an explicit port on our address */
		do {
			a.sin_port = htons((uint16_t)(20000 + CHURN_PORTS * tag + port_next));
			port_next = (port_next + 1) % CHURN_PORTS;
		} while (port_held(a.sin_port));
		if (rand() % 2)
			a.sin_addr.s_addr = our_addr;
		break;
	default: /* port 0: the stack picks one */
		break;
	}
	if (us_bind(sk[i].fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", i);
	sk[i].laddr = a.sin_addr.s_addr;
	sk[i].addr_lock = a.sin_addr.s_addr != 0;
	sk[i].port_lock = a.sin_port != 0;
	sk[i].lport = a.sin_port;
	if (!a.sin_port) {
		uint32_t addr;
		if (name_of(i, &addr, &sk[i].lport) < 0)
			die("getsockname after bind(0)", i);
		if (!sk[i].lport) {
			fprintf(stderr, "FAIL app %u socket %d: bind(0) left it unbound\n", tag, i);
			exit(1);
		}
	}
	check_name(i, "bind");
	ops[1]++;
}

static void op_connect(void)
{
	int i = pick(is_open);
	if (i < 0)
		return;
	if (us_connect(sk[i].fd, (struct sockaddr *)&echo, sizeof(echo)) < 0)
		die("connect", i);
	sk[i].connected = true;
	if (!sk[i].laddr)
		sk[i].laddr = our_addr; /* Linux: the routed source */
	if (!sk[i].lport) {
		uint32_t addr;
		if (name_of(i, &addr, &sk[i].lport) < 0)
			die("getsockname after connect", i);
	}
	check_name(i, "connect");
	ops[2]++;
}

static void op_disconnect(void)
{
	int i = pick(is_connected);
	if (i < 0)
		return;
	struct sockaddr a = {.sa_family = AF_UNSPEC};
	if (us_connect(sk[i].fd, &a, sizeof(a)) < 0)
		die("disconnect", i);
	/* Linux __udp_disconnect: what bind() did not choose goes; a released port takes the
	 * address with it (udp_bind.c). */
	sk[i].connected = false;
	if (!sk[i].addr_lock)
		sk[i].laddr = 0;
	if (sk[i].lport && !sk[i].port_lock) {
		sk[i].lport = 0;
		sk[i].laddr = 0;
		sk[i].addr_lock = false;
	}
	check_name(i, "disconnect");
	ops[3]++;
}

static void op_setopt(void)
{
	int i = pick(is_open);
	if (i < 0)
		return;
	int v = CHURN_RCVBUF;
	if (us_setsockopt(sk[i].fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
		die("setsockopt SO_RCVBUF", i);
	sk[i].rcvbuf_set = true;
	ops[4]++;
}

static void op_close(void)
{
	int i = pick(is_open);
	if (i < 0)
		return;
	if (us_close(sk[i].fd) < 0)
		die("close", i);
	sk[i].fd = -1;
	ops[5]++;
}

static void op_check(void)
{
	int i = pick(is_open);
	if (i >= 0)
		check_name(i, "a while");
	ops[6]++;
}

/* A datagram through socket i to the echo server, and its echo back to it. UDP: try again a few
 * times, but the socket must work. */
static void check_data(int i)
{
	char out[64], in[64];
	int len = snprintf(out, sizeof(out), "app %u socket %d %ld", tag, i, (long)rand());
	for (int attempt = 0; attempt < 5; attempt++) {
		ssize_t n = sk[i].connected
				? us_send(sk[i].fd, out, (size_t)len, 0)
				: us_sendto(sk[i].fd, out, (size_t)len, 0, (struct sockaddr *)&echo,
					    sizeof(echo));
		if (n != len)
			die("send", i);
		double end = now_s() + 1.0;
		while (now_s() < end) {
			struct pollfd p = {.fd = sk[i].fd, .events = POLLIN};
			us_poll(&p, 1, 100);
			n = us_recv(sk[i].fd, in, sizeof(in), MSG_DONTWAIT);
			if (n == len && memcmp(in, out, (size_t)len) == 0)
				return;
			if (n < 0 && errno != EAGAIN)
				die("recv", i);
		}
	}
	fprintf(stderr, "FAIL app %u socket %d: no echo through it\n", tag, i);
	exit(1);
}

static void verify(void)
{
	for (int i = 0; i < CHURN_SOCKETS; i++) {
		if (sk[i].fd < 0)
			continue;
		check_name(i, "the churn");
		int v = 0;
		socklen_t len = sizeof(v);
		if (us_getsockopt(sk[i].fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
			die("getsockopt SO_RCVBUF", i);
		int want = sk[i].rcvbuf_set ? 2 * CHURN_RCVBUF : 212992;
		if (v != want) {
			fprintf(stderr, "FAIL app %u socket %d: SO_RCVBUF %d, believed %d\n", tag, i,
				v, want);
			exit(1);
		}
		check_data(i);
	}
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s TAG OUR_ADDR PEER_ADDR ECHO_PORT SECONDS\n", argv[0]);
		return 2;
	}
	tag = (unsigned)atoi(argv[1]);
	double seconds = atof(argv[5]);
	echo = (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)atoi(argv[4]))};
	if (tag >= 20 || inet_pton(AF_INET, argv[2], &our_addr) != 1 ||
	    inet_pton(AF_INET, argv[3], &echo.sin_addr) != 1) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	srand((unsigned)getpid() ^ (tag << 16));
	for (int i = 0; i < CHURN_SOCKETS; i++)
		sk[i].fd = -1;

	double end = now_s() + seconds;
	while (now_s() < end) {
		int r = rand() % 100;
		if (r < 25)
			op_open();
		else if (r < 40)
			op_bind();
		else if (r < 55)
			op_connect();
		else if (r < 62)
			op_disconnect();
		else if (r < 70)
			op_setopt();
		else if (r < 85)
			op_close();
		else
			op_check();
	}
	verify();
	int held = 0;
	for (int i = 0; i < CHURN_SOCKETS; i++)
		held += sk[i].fd >= 0;
	printf("ops open %lu bind %lu connect %lu disconnect %lu setopt %lu close %lu check %lu\n",
	       ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6]);
	printf("holding %d\n", held);
	fflush(stdout);
	int sig;
	sigwait(&usr1, &sig);
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (sk[i].fd >= 0 && us_close(sk[i].fd) < 0)
			die("close at the end", i);
	printf("closed\n");
	return 0;
}
