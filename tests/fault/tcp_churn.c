/* tcp_churn: one application of test_tcp_churn_restart.sh. It runs stream-socket life cycles
 * at random for a while (tcpd is being killed meanwhile, at random moments and inside requests),
 * keeping a model of what each of its sockets must be:
 *   client   socket, options (TCP_NODELAY, SO_KEEPALIVE, SO_SNDBUF, SO_RCVBUF), bind to port 0
 *            or not at all, connect to the kernel's churn server (tests/lib/tcp_peer.py), which
 *            echoes; exchanges of random bytes that must come back byte-exact; shutdown(SHUT_WR)
 *            and the peer's EOF; close at any point;
 *   server   socket, SO_REUSEADDR, bind to an explicit port (on ANY or our address) or none,
 *            listen; a "dial" asks the kernel (over a connection of its own) to connect to it,
 *            and accept() must hand over that very connection (its peer address is the one the
 *            kernel reported), which then echoes like a client's;
 *   keepers  two client connections and one accepted connection (and its listener) made at the
 *            start and kept to the end, where they must still carry data both ways;
 *   misuse   calls Linux refuses, which must fail with Linux's errno: bind of a bound socket
 *            (EINVAL), connect of a connected or listening one (EISCONN), listen on a connected
 *            one (EINVAL), accept on a socket that is not listening (EINVAL), getpeername of an
 *            unconnected one (ENOTCONN), bind to the port of one of its listeners (EADDRINUSE).
 * Every call must succeed (or fail exactly so); getsockname and getpeername must match the
 * model after every call that changes them, and options read back what was set. At the end it
 * checks every socket it believes it has (names, options, an exchange through every connection,
 * a new connection accepted by every listener), prints "holding N" (N: the sockets it holds)
 * and keeps them open until SIGUSR1, so the test can compare tcpd's socket table with what the
 * applications hold; then it closes them all, prints "closed" and exits.
 *
 *   tcp_churn TAG OUR_ADDR PEER_ADDR CHURN_PORT SECONDS
 *
 * TAG (0..19) keeps its explicit ports (20000 + 500 * TAG ...) apart from the other
 * applications'. Exit status 0 only if everything held; each failure is printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#define CHURN_SOCKETS 16 /* at most, at once (libsock allows 64 stream sockets a process) */
#define CHURN_PORTS 500  /* explicit ports of one application */
#define CHURN_XCHG_MAX 16384 /* bytes of one exchange: within the smallest send buffer set */
#define CHURN_WAIT_MS 15000  /* for an echo, an EOF, a dialed connection */

enum kind { K_FREE, K_FRESH, K_BOUND, K_LISTEN, K_CONN, K_SHUT };
static const char *const kind_name[] = {"free", "fresh", "bound", "listening", "connected",
					"shut"};

struct model {
	int fd;
	enum kind k;
	uint32_t laddr; /* what getsockname must say (network order) */
	uint16_t lport;
	uint32_t raddr; /* what getpeername must say while connected */
	uint16_t rport;
	bool keep;      /* held across the whole run */
	bool reuse;     /* SO_REUSEADDR set */
	int nodelay;    /* -1: never set */
	int keepalive;
	int sndbuf;     /* what getsockopt must say, 0: never set */
	int rcvbuf;
};

enum { OP_SOCKET, OP_SETOPT, OP_BIND, OP_CONNECT, OP_LISTEN, OP_DIAL, OP_XCHG, OP_SHUTDOWN,
       OP_CLOSE, OP_CHECK, OP_MISUSE, OP_COUNT };
static const char *const op_name[OP_COUNT] = {"socket", "setopt", "bind", "connect", "listen",
					      "accept", "exchange", "shutdown", "close", "check",
					      "misuse"};

static struct model sk[CHURN_SOCKETS];
static unsigned tag;
static uint32_t our_addr;
static struct sockaddr_in peer; /* the kernel's churn server */
static unsigned port_next;
static unsigned long ops[OP_COUNT];
static unsigned long bytes_echoed;
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the test wants to see of a failing moment ($CHURN_DIAG PID PORT): how we are connected
 * to tcpd, tcpd's and the kernel's sockets of socket i's port. */
static void run_diag(int i)
{
	const char *diag = getenv("CHURN_DIAG");
	if (!diag)
		return;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s %d %u >&2", diag, (int)getpid(),
		 i >= 0 ? ntohs(sk[i].lport) : 0);
	if (system(cmd) != 0)
		fprintf(stderr, "(%s failed)\n", diag);
}

static void die(const char *what, int i)
{
	int e = errno;
	fprintf(stderr, "FAIL app %u socket %d (%s): %s: %s\n", tag, i,
		i >= 0 ? kind_name[sk[i].k] : "-", what, strerror(e));
	if (i >= 0 && sk[i].fd >= 0) {
		/* the error that ended the connection, if one did (a reset, a timeout) */
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (us_getsockopt(sk[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0)
			fprintf(stderr, "  SO_ERROR: %s\n", soerr ? strerror(soerr) : "none");
		run_diag(i);
	}
	exit(1);
}

static void dief(int i, const char *fmt, const char *a, unsigned x, unsigned y)
{
	fprintf(stderr, "FAIL app %u socket %d (%s): ", tag, i, i >= 0 ? kind_name[sk[i].k] : "-");
	fprintf(stderr, fmt, a, x, y);
	fputc('\n', stderr);
	exit(1);
}

static const char *ip(uint32_t a)
{
	static char s[4][INET_ADDRSTRLEN];
	static unsigned k;
	k = (k + 1) % 4;
	inet_ntop(AF_INET, &a, s[k], sizeof(s[k]));
	return s[k];
}

/* ---- what the stack must say ---- */

static void check_name(int i, const char *after)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (us_getsockname(sk[i].fd, (struct sockaddr *)&a, &len) < 0)
		die("getsockname", i);
	if (a.sin_addr.s_addr != sk[i].laddr || a.sin_port != sk[i].lport) {
		fprintf(stderr, "FAIL app %u socket %d (%s) after %s: getsockname %s:%u, believed %s:%u\n",
			tag, i, kind_name[sk[i].k], after, ip(a.sin_addr.s_addr), ntohs(a.sin_port),
			ip(sk[i].laddr), ntohs(sk[i].lport));
		exit(1);
	}
	len = sizeof(a);
	int rc = us_getpeername(sk[i].fd, (struct sockaddr *)&a, &len);
	if (sk[i].k == K_CONN) {
		if (rc < 0) {
			int e = errno;
			char what[128];
			snprintf(what, sizeof(what), "getpeername after %s (%s:%u -> %s:%u)", after,
				 ip(sk[i].laddr), ntohs(sk[i].lport), ip(sk[i].raddr),
				 ntohs(sk[i].rport));
			errno = e;
			die(what, i);
		}
		if (a.sin_addr.s_addr != sk[i].raddr || a.sin_port != sk[i].rport) {
			fprintf(stderr, "FAIL app %u socket %d after %s: getpeername %s:%u, believed %s:%u\n",
				tag, i, after, ip(a.sin_addr.s_addr), ntohs(a.sin_port),
				ip(sk[i].raddr), ntohs(sk[i].rport));
			exit(1);
		}
	} else if (sk[i].k != K_SHUT && (rc == 0 || errno != ENOTCONN)) {
		/* SHUT: Linux says ENOTCONN once the connection is over, the name until then */
		fprintf(stderr, "FAIL app %u socket %d (%s) after %s: getpeername %s, not ENOTCONN\n",
			tag, i, kind_name[sk[i].k], after, rc == 0 ? "succeeded" : strerror(errno));
		exit(1);
	}
}

static int getint(int i, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (us_getsockopt(sk[i].fd, level, name, &v, &len) < 0)
		die("getsockopt", i);
	return v;
}

static void check_opts(int i, const char *after)
{
	struct {
		int level, name, want;
		const char *what;
		bool flag;
	} o[] = {
		{IPPROTO_TCP, TCP_NODELAY, sk[i].nodelay, "TCP_NODELAY", true},
		{SOL_SOCKET, SO_KEEPALIVE, sk[i].keepalive, "SO_KEEPALIVE", true},
		{SOL_SOCKET, SO_REUSEADDR, sk[i].reuse, "SO_REUSEADDR", true},
		{SOL_SOCKET, SO_SNDBUF, sk[i].sndbuf, "SO_SNDBUF", false},
		{SOL_SOCKET, SO_RCVBUF, sk[i].rcvbuf, "SO_RCVBUF", false},
	};
	for (unsigned k = 0; k < sizeof(o) / sizeof(o[0]); k++) {
		if (o[k].want < 0 || (!o[k].flag && o[k].want == 0))
			continue; /* never set: the stack's default */
		int v = getint(i, o[k].level, o[k].name);
		if (o[k].flag)
			v = v != 0;
		if (v != o[k].want) {
			fprintf(stderr, "FAIL app %u socket %d after %s: %s %d, believed %d\n", tag,
				i, after, o[k].what, v, o[k].want);
			exit(1);
		}
	}
	if (getint(i, SOL_SOCKET, SO_ERROR) != 0)
		dief(i, "after %s: SO_ERROR set", after, 0, 0);
}

/* A call that Linux refuses must be refused with Linux's errno. */
static void expect_fail(int i, int rc, int err, const char *what)
{
	if (rc == 0 || errno != err) {
		fprintf(stderr, "FAIL app %u socket %d (%s): %s %s, Linux says %s\n", tag, i,
			kind_name[sk[i].k], what, rc == 0 ? "succeeded" : strerror(errno),
			strerror(err));
		exit(1);
	}
}

/* ---- helpers ---- */

static bool port_held(uint16_t port)
{
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (sk[i].k != K_FREE && sk[i].lport == port)
			return true;
	return false;
}

static uint16_t next_port(void)
{
	uint16_t p;
	do {
		p = htons((uint16_t)(20000 + CHURN_PORTS * tag + port_next));
		port_next = (port_next + 1) % CHURN_PORTS;
	} while (port_held(p));
	return p;
}

static int pick(unsigned kinds, bool keepers)
{
	int n = 0, c[CHURN_SOCKETS];
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if ((kinds & (1u << sk[i].k)) && (keepers || !sk[i].keep))
			c[n++] = i;
	return n ? c[rnd() % (unsigned)n] : -1;
}
#define KB(k) (1u << (k))

static int count(enum kind k)
{
	int n = 0;
	for (int i = 0; i < CHURN_SOCKETS; i++)
		n += sk[i].k == k;
	return n;
}

static void wait_for(int fd, short ev, int i, const char *what)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int rc = us_poll(&p, 1, CHURN_WAIT_MS);
	if (rc < 0)
		die("poll", i);
	if (rc == 0) {
		fprintf(stderr, "FAIL app %u socket %d (%s, port %u): nothing for %d ms waiting for %s\n",
			tag, i, i >= 0 ? kind_name[sk[i].k] : "-", i >= 0 ? ntohs(sk[i].lport) : 0,
			CHURN_WAIT_MS, what);
		run_diag(i);
		exit(1);
	}
}

static void send_all(int fd, const void *b, size_t n, int i)
{
	ssize_t w = us_send(fd, b, n, MSG_NOSIGNAL);
	if (w < 0)
		die("send", i);
	if ((size_t)w != n)
		dief(i, "%s: %u of %u bytes", "blocking send", (unsigned)w, (unsigned)n);
}

/* Read exactly n bytes (or up to EOF when eof: then 0 more). */
static size_t recv_n(int fd, uint8_t *b, size_t n, int i, const char *what)
{
	size_t got = 0;
	while (got < n) {
		wait_for(fd, POLLIN, i, what);
		ssize_t r = us_recv(fd, b + got, n - got, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r < 0)
			die(what, i);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void expect_eof(int fd, int i)
{
	uint8_t b[64];
	wait_for(fd, POLLIN, i, "the peer's EOF");
	ssize_t r = us_recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (r < 0 && errno == EAGAIN)
		return expect_eof(fd, i);
	if (r < 0)
		die("recv EOF", i);
	if (r > 0)
		dief(i, "%s: %u bytes", "data where the EOF was due", (unsigned)r, 0);
}

/* A connection to the kernel's churn server saying line; its socket, not in the model. */
static int peer_conn(const char *line, int i)
{
	int fd = us_socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket (to the peer)", i);
	if (us_connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
		die("connect (to the peer)", i);
	send_all(fd, line, strlen(line), i);
	return fd;
}

/* ---- the operations ---- */

static void op_socket(void)
{
	int i = pick(KB(K_FREE), true);
	if (i < 0)
		return;
	int fd = us_socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket", i);
	sk[i] = (struct model){.fd = fd, .k = K_FRESH, .nodelay = -1, .keepalive = -1};
	check_name(i, "socket");
	ops[OP_SOCKET]++;
}

static void op_setopt(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND) | KB(K_LISTEN) | KB(K_CONN), true);
	if (i < 0)
		return;
	int v, rc;
	switch (rnd() % 4) {
	case 0:
		v = (int)(rnd() % 2);
		rc = us_setsockopt(sk[i].fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
		sk[i].nodelay = v;
		break;
	case 1:
		v = (int)(rnd() % 2);
		rc = us_setsockopt(sk[i].fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
		sk[i].keepalive = v;
		break;
	case 2:
		v = (int)(16384 + rnd() % 49152);
		rc = us_setsockopt(sk[i].fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		sk[i].sndbuf = 2 * v; /* Linux doubles it */
		break;
	default:
		v = (int)(16384 + rnd() % 49152);
		rc = us_setsockopt(sk[i].fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		sk[i].rcvbuf = 2 * v;
		break;
	}
	if (rc < 0)
		die("setsockopt", i);
	check_opts(i, "setsockopt");
	ops[OP_SETOPT]++;
}

static void op_bind(void)
{
	int i = pick(KB(K_FRESH), true);
	if (i < 0)
		return;
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (rnd() % 3) {
		/* an explicit port: for a listener (with SO_REUSEADDR, as servers do, so a
		 * TIME-WAIT left by an earlier use of the port does not hold it) */
		int one = 1;
		if (us_setsockopt(sk[i].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			die("setsockopt SO_REUSEADDR", i);
		sk[i].reuse = true;
		a.sin_port = next_port();
		if (rnd() % 2)
			a.sin_addr.s_addr = our_addr;
	}
	if (us_bind(sk[i].fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", i);
	sk[i].k = K_BOUND;
	sk[i].laddr = a.sin_addr.s_addr;
	sk[i].lport = a.sin_port;
	if (!a.sin_port) {
		struct sockaddr_in n;
		socklen_t len = sizeof(n);
		if (us_getsockname(sk[i].fd, (struct sockaddr *)&n, &len) < 0)
			die("getsockname after bind(0)", i);
		if (!n.sin_port)
			dief(i, "%s", "bind(0) left it without a port", 0, 0);
		sk[i].lport = n.sin_port;
	}
	check_name(i, "bind");
	ops[OP_BIND]++;
}

/* Connect socket i (fresh, or bound to an ephemeral port) to the churn server as an echo. */
static void connect_echo(int i)
{
	if (us_connect(sk[i].fd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
		die("connect", i);
	sk[i].k = K_CONN;
	sk[i].laddr = our_addr; /* Linux: the routed source */
	sk[i].raddr = peer.sin_addr.s_addr;
	sk[i].rport = peer.sin_port;
	if (!sk[i].lport) {
		struct sockaddr_in n;
		socklen_t len = sizeof(n);
		if (us_getsockname(sk[i].fd, (struct sockaddr *)&n, &len) < 0)
			die("getsockname after connect", i);
		if (!n.sin_port)
			dief(i, "%s", "connect left it without a port", 0, 0);
		sk[i].lport = n.sin_port;
	}
	check_name(i, "connect");
	send_all(sk[i].fd, "echo\n", 5, i);
}

static void op_connect(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND), true);
	/* only sockets bound to an ephemeral port connect: an explicit port is a server's */
	if (i < 0 || sk[i].reuse)
		return;
	connect_echo(i);
	ops[OP_CONNECT]++;
}

static void op_listen(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND), true);
	if (i < 0)
		return;
	if (us_listen(sk[i].fd, 8) < 0)
		die("listen", i);
	sk[i].k = K_LISTEN;
	if (!sk[i].lport) { /* Linux autobinds on ANY */
		struct sockaddr_in n;
		socklen_t len = sizeof(n);
		if (us_getsockname(sk[i].fd, (struct sockaddr *)&n, &len) < 0)
			die("getsockname after listen", i);
		if (!n.sin_port)
			dief(i, "%s", "listen left it without a port", 0, 0);
		sk[i].lport = n.sin_port;
	}
	check_name(i, "listen");
	ops[OP_LISTEN]++;
}

/* The kernel connects to listener li; accept it into model slot i. */
static void dial_accept(int li, int i)
{
	char line[64], got[64] = "";
	snprintf(line, sizeof(line), "dial %u\n", ntohs(sk[li].lport));
	int c = peer_conn(line, li);
	size_t n = recv_n(c, (uint8_t *)got, sizeof(got) - 1, li, "the peer's dial answer");
	got[n] = '\0';
	unsigned kport;
	if (sscanf(got, "dialed %u", &kport) != 1)
		dief(li, "the peer did not dial: \"%s\"%u%u", got, 0, 0);
	if (us_close(c) < 0)
		die("close (to the peer)", li);

	wait_for(sk[li].fd, POLLIN, li, "a connection to accept");
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = us_accept(sk[li].fd, (struct sockaddr *)&a, &len);
	if (fd < 0)
		die("accept", li);
	if (a.sin_addr.s_addr != peer.sin_addr.s_addr || ntohs(a.sin_port) != kport) {
		fprintf(stderr, "FAIL app %u socket %d: accepted %s:%u, the kernel dialed from %s:%u\n",
			tag, li, ip(a.sin_addr.s_addr), ntohs(a.sin_port), ip(peer.sin_addr.s_addr),
			kport);
		exit(1);
	}
	/* what it inherits: the listener's options */
	sk[i] = (struct model){.fd = fd, .k = K_CONN, .laddr = our_addr, .lport = sk[li].lport,
			       .raddr = a.sin_addr.s_addr, .rport = a.sin_port,
			       .reuse = sk[li].reuse, .nodelay = sk[li].nodelay,
			       .keepalive = sk[li].keepalive, .sndbuf = sk[li].sndbuf,
			       .rcvbuf = sk[li].rcvbuf};
	check_name(i, "accept");
	check_opts(i, "accept");
}

static void op_dial(void)
{
	int li = pick(KB(K_LISTEN), true), i = pick(KB(K_FREE), true);
	if (li < 0 || i < 0)
		return;
	dial_accept(li, i);
	ops[OP_DIAL]++;
}

static void exchange(int i)
{
	static uint8_t out[CHURN_XCHG_MAX], in[CHURN_XCHG_MAX];
	size_t n = 1 + rnd() % CHURN_XCHG_MAX;
	for (size_t k = 0; k < n; k += 8) {
		uint64_t r = rnd();
		memcpy(out + k, &r, n - k < 8 ? n - k : 8);
	}
	send_all(sk[i].fd, out, n, i);
	size_t got = recv_n(sk[i].fd, in, n, i, "the echo");
	if (got != n)
		dief(i, "%s after %u of %u bytes", "EOF", (unsigned)got, (unsigned)n);
	if (memcmp(in, out, n) != 0)
		dief(i, "%s (%u bytes)", "the echo differs", (unsigned)n, 0);
	bytes_echoed += n;
}

static void op_xchg(void)
{
	int i = pick(KB(K_CONN), true);
	if (i < 0)
		return;
	exchange(i);
	ops[OP_XCHG]++;
}

static void op_shutdown(void)
{
	int i = pick(KB(K_CONN), false);
	if (i < 0)
		return;
	if (us_shutdown(sk[i].fd, SHUT_WR) < 0)
		die("shutdown", i);
	check_name(i, "shutdown");
	expect_eof(sk[i].fd, i); /* the echo server closes at our EOF */
	sk[i].k = K_SHUT;
	ops[OP_SHUTDOWN]++;
}

static void op_close(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND) | KB(K_LISTEN) | KB(K_CONN) | KB(K_SHUT), false);
	if (i < 0)
		return;
	if (us_close(sk[i].fd) < 0)
		die("close", i);
	sk[i] = (struct model){.fd = -1, .k = K_FREE};
	ops[OP_CLOSE]++;
}

static void op_check(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND) | KB(K_LISTEN) | KB(K_CONN) | KB(K_SHUT), true);
	if (i < 0)
		return;
	if (sk[i].k != K_SHUT)
		check_name(i, "a while");
	check_opts(i, "a while");
	ops[OP_CHECK]++;
}

static void op_misuse(void)
{
	int i = pick(KB(K_FRESH) | KB(K_BOUND) | KB(K_LISTEN) | KB(K_CONN), true);
	if (i < 0)
		return;
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in any = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = sk[i].fd;
	switch (sk[i].k) {
	case K_FRESH:
		if (rnd() % 2) {
			expect_fail(i, us_accept(fd, (struct sockaddr *)&a, &len), EINVAL, "accept");
		} else {
			/* a port one of our listeners holds: whatever the flags */
			int li = pick(KB(K_LISTEN), true);
			if (li < 0)
				return;
			int one = 1;
			if (us_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
				die("setsockopt SO_REUSEADDR", i);
			sk[i].reuse = true;
			any.sin_port = sk[li].lport;
			expect_fail(i, us_bind(fd, (struct sockaddr *)&any, sizeof(any)), EADDRINUSE,
				    "bind to a listener's port");
		}
		break;
	case K_BOUND:
		any.sin_port = next_port();
		expect_fail(i, us_bind(fd, (struct sockaddr *)&any, sizeof(any)), EINVAL,
			    "bind again");
		break;
	case K_LISTEN:
		if (rnd() % 2)
			expect_fail(i, us_connect(fd, (struct sockaddr *)&peer, sizeof(peer)),
				    EISCONN, "connect a listener");
		else
			expect_fail(i, us_bind(fd, (struct sockaddr *)&any, sizeof(any)), EINVAL,
				    "bind a listener");
		break;
	default: /* K_CONN */
		switch (rnd() % 4) {
		case 0:
			expect_fail(i, us_connect(fd, (struct sockaddr *)&peer, sizeof(peer)),
				    EISCONN, "connect again");
			break;
		case 1:
			expect_fail(i, us_listen(fd, 4), EINVAL, "listen on a connection");
			break;
		case 2:
			expect_fail(i, us_bind(fd, (struct sockaddr *)&any, sizeof(any)), EINVAL,
				    "bind a connection");
			break;
		default:
			expect_fail(i, us_accept(fd, (struct sockaddr *)&a, &len), EINVAL,
				    "accept on a connection");
			break;
		}
		break;
	}
	check_name(i, "a refused call");
	ops[OP_MISUSE]++;
}

/* ---- the run ---- */

static void keepers(void)
{
	for (int k = 0; k < 2; k++) {
		op_socket();
		int i = pick(KB(K_FRESH), true);
		sk[i].keep = true;
		int one = 1;
		if (us_setsockopt(sk[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("setsockopt TCP_NODELAY", i);
		sk[i].nodelay = 1;
		connect_echo(i);
		exchange(i);
	}
	op_socket();
	int li = pick(KB(K_FRESH), true);
	sk[li].keep = true;
	op_listen(); /* the only fresh one: autobound */
	int i = pick(KB(K_FREE), true);
	dial_accept(li, i);
	sk[i].keep = true;
	exchange(i);
}

static void verify(void)
{
	for (int i = 0; i < CHURN_SOCKETS; i++) {
		if (sk[i].k == K_FREE)
			continue;
		if (sk[i].k != K_SHUT)
			check_name(i, "the churn");
		check_opts(i, "the churn");
		if (sk[i].k == K_CONN)
			exchange(i);
	}
	/* every listener still accepts; keep what it accepts if there is room */
	for (int li = 0; li < CHURN_SOCKETS; li++) {
		if (sk[li].k != K_LISTEN)
			continue;
		int i = pick(KB(K_FREE), true);
		bool held = i >= 0;
		if (!held) {
			do /* the only listener and the keepers are not the only sockets */
				i = pick(KB(K_SHUT) | KB(K_FRESH) | KB(K_BOUND) | KB(K_CONN) |
						 KB(K_LISTEN),
					 false);
			while (i == li);
			if (us_close(sk[i].fd) < 0)
				die("close", i);
			sk[i] = (struct model){.fd = -1, .k = K_FREE};
		}
		dial_accept(li, i);
		exchange(i);
	}
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (sk[i].keep && sk[i].k != K_CONN && sk[i].k != K_LISTEN)
			dief(i, "%s", "a keeper is no longer what it was", 0, 0);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s TAG OUR_ADDR PEER_ADDR CHURN_PORT SECONDS\n", argv[0]);
		return 2;
	}
	tag = (unsigned)atoi(argv[1]);
	double seconds = atof(argv[5]);
	peer = (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)atoi(argv[4]))};
	if (tag >= 20 || inet_pton(AF_INET, argv[2], &our_addr) != 1 ||
	    inet_pton(AF_INET, argv[3], &peer.sin_addr) != 1) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	rnd_state = (((uint64_t)getpid() << 20) ^ ((uint64_t)tag << 8) ^ (uint64_t)time(NULL)) | 1u;
	for (int i = 0; i < CHURN_SOCKETS; i++)
		sk[i] = (struct model){.fd = -1, .k = K_FREE};

	keepers();
	printf("keepers up\n");
	fflush(stdout);
	double end = now_s() + seconds;
	while (now_s() < end) {
		unsigned r = (unsigned)(rnd() % 100);
		if (r < 14)
			op_socket();
		else if (r < 24)
			op_setopt();
		else if (r < 32)
			op_bind();
		else if (r < 44)
			op_connect();
		else if (r < 49)
			op_listen();
		else if (r < 56)
			op_dial();
		else if (r < 70)
			op_xchg();
		else if (r < 76)
			op_shutdown();
		else if (r < 88)
			op_close();
		else if (r < 94)
			op_check();
		else
			op_misuse();
	}
	verify();
	int held = 0;
	for (int i = 0; i < CHURN_SOCKETS; i++)
		held += sk[i].k != K_FREE;
	printf("ops");
	for (int o = 0; o < OP_COUNT; o++)
		printf(" %s %lu", op_name[o], ops[o]);
	printf(", %lu bytes echoed, %d listening, %d connected\n", bytes_echoed, count(K_LISTEN),
	       count(K_CONN));
	printf("holding %d\n", held);
	fflush(stdout);
	int sig;
	sigwait(&usr1, &sig);
	for (int i = 0; i < CHURN_SOCKETS; i++)
		if (sk[i].k != K_FREE && us_close(sk[i].fd) < 0)
			die("close at the end", i);
	printf("closed\n");
	return 0;
}
