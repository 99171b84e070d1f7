/* sock_parity: one scenario of datagram socket calls, run once against the Linux kernel's
 * sockets and once against libsock, printing every call's result in a canonical form so that
 * the two transcripts can be diffed line by line (test_sock_parity.sh does). Anything the two
 * worlds answer differently shows up as a differing line.
 *
 *   sock_parity run --world kernel|ustack --self A --remote B --prefix P --port N [--ifname IF]
 *       the scenario. SELF is this world's own address, REMOTE the other world's (a reflector
 *       listens on N there, nothing on N + 1). IF names this world's interface for the kernel
 *       (ustack's NIC is ifindex 2, its loopback 1, as Linux's lo).
 *   sock_parity reflect --world kernel|ustack --port N --seconds S
 *       answer every datagram on N with "ttl=T tos=X len=L" of what arrived (IP_RECVTTL,
 *       IP_RECVTOS): the other world's view of what we put on the wire.
 *   sock_parity uidbind --world W --port N
 *       (run as another uid by `run`) bind 127.0.0.1:N with SO_REUSEPORT; print the result.
 *   sock_parity loburst --world W --port N --count C
 *       C datagrams from one socket to another through 127.0.0.1; prints "received R".
 *
 * Canonical form: addresses print as SELF, REMOTE, BCAST (the subnet broadcast), LBCAST
 * (255.255.255.255), LO (127.0.0.1), ANY, NOROUTE (192.0.2.1), or dotted; ports as P+k for
 * the scenario's own, EPH for an ephemeral one, 0; errnos by name; interface indexes as LO/IF;
 * timestamps as "now" when within 5 s of the clock. Nothing printed depends on timing, the
 * kernel's ephemeral choice, or which socket of a SO_REUSEPORT group a flow hashed to (only
 * that every flow stayed on one socket and that the flows spread).
 *
 * Timing: the datagram path of libsock is asynchronous (a send returns once the datagram is in
 * the ring to udpd), so every receive here blocks with SO_RCVTIMEO rather than expecting data
 * the moment a send returned, which only Linux's synchronous loopback could promise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#ifndef SO_TIMESTAMP_OLD
#define SO_TIMESTAMP_OLD 29
#define SO_TIMESTAMPNS_OLD 35
#endif
#ifndef SO_TIMESTAMP_NEW
#define SO_TIMESTAMP_NEW 63
#define SO_TIMESTAMPNS_NEW 64
#endif

struct api {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*shutdown)(int, int);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*ioctl)(int, unsigned long, ...);
};

static const struct api kernel_api = {socket, bind, connect, close, sendto, send, recvfrom,
				      recvmsg, getsockname, getpeername, setsockopt, getsockopt,
				      poll, shutdown, listen, accept4, ioctl};
static const struct api ustack_api = {us_socket, us_bind, us_connect, us_close, us_sendto,
				      us_send, us_recvfrom, us_recvmsg, us_getsockname,
				      us_getpeername, us_setsockopt, us_getsockopt, us_poll, us_shutdown, us_listen,
				      us_accept4, us_ioctl};

static const struct api *A;
static uint32_t self_addr, remote_addr, bcast_addr;
static unsigned self_ifindex;
static int port_base;
static unsigned step;

static uint32_t ip(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "bad address %s\n", s);
		exit(2);
	}
	return a.s_addr;
}

#define NOROUTE "192.0.2.1"

static const char *addr_name(uint32_t a, char *buf)
{
	if (a == self_addr)
		return "SELF";
	if (a == remote_addr)
		return "REMOTE";
	if (a == bcast_addr)
		return "BCAST";
	if (a == htonl(INADDR_BROADCAST))
		return "LBCAST";
	if (a == htonl(INADDR_LOOPBACK))
		return "LO";
	if (a == 0)
		return "ANY";
	if (a == ip(NOROUTE))
		return "NOROUTE";
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static const char *port_name(uint16_t p_be, char *buf)
{
	int p = ntohs(p_be);
	if (p == 0)
		return "0";
	if (p >= port_base && p < port_base + 100) {
		snprintf(buf, 16, "P+%d", p - port_base);
		return buf;
	}
	if (p >= 32768 && p <= 60999)
		return "EPH";
	snprintf(buf, 16, "%d", p);
	return buf;
}

static const char *sin_name(const struct sockaddr_in *s, char *buf)
{
	char a[INET_ADDRSTRLEN], p[16];
	if (s->sin_family != AF_INET) {
		snprintf(buf, 64, "family=%d", s->sin_family);
		return buf;
	}
	snprintf(buf, 64, "%s:%s", addr_name(s->sin_addr.s_addr, a), port_name(s->sin_port, p));
	return buf;
}

static const char *err_name(int e)
{
	switch (e) {
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(EINTR); E(EBADF); E(EAGAIN); E(ENOMEM); E(EACCES); E(EFAULT);
	E(EBUSY); E(EINVAL); E(EMSGSIZE); E(ENOPROTOOPT); E(EOPNOTSUPP); E(EAFNOSUPPORT);
	E(EADDRINUSE); E(EADDRNOTAVAIL); E(ENETDOWN); E(ENETUNREACH); E(ECONNREFUSED);
	E(EHOSTUNREACH); E(ENOTCONN); E(EDESTADDRREQ); E(ETIMEDOUT); E(EISCONN); E(EPROTO);
	E(ECONNABORTED); E(ENOBUFS); E(EDOM);
#undef E
	default: {
		static char b[16];
		snprintf(b, sizeof(b), "errno%d", e);
		return b;
	}
	}
}

/* One line of the transcript. */
static void out(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(const char *what, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("%03u %-46s %s\n", ++step, what, buf);
	fflush(stdout);
}

/* "0", "N" or "-1 ERRNO" for a call's result. */
static const char *res(long r, int e, char *buf)
{
	if (r < 0)
		snprintf(buf, 48, "-1 %s", err_name(e));
	else
		snprintf(buf, 48, "%ld", r);
	return buf;
}

#define CALL(what, expr)                                    \
	do {                                                \
		errno = 0;                                  \
		long r_ = (long)(expr);                     \
		int e_ = errno;                             \
		char b_[48];                                \
		out(what, "%s", res(r_, e_, b_));           \
	} while (0)

static struct sockaddr_in sin_of(uint32_t a, int port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	s.sin_addr.s_addr = a;
	return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

static int sock_new(void)
{
	int s = A->socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		fprintf(stderr, "socket: %s\n", strerror(errno));
		exit(1);
	}
	struct timeval tv = {.tv_sec = 2};
	A->setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

static void name_of(const char *what, int s, bool peer)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	errno = 0;
	int r = peer ? A->getpeername(s, (struct sockaddr *)&a, &l) : A->getsockname(s, (struct sockaddr *)&a, &l);
	int e = errno;
	char b[64], rb[48];
	if (r < 0)
		out(what, "%s", res(r, e, rb));
	else
		out(what, "0 %s len=%u", sin_name(&a, b), l);
}

static void set_int(const char *what, int s, int level, int name, int v)
{
	CALL(what, A->setsockopt(s, level, name, &v, sizeof(v)));
}

static void set_byte(const char *what, int s, int level, int name, unsigned char v)
{
	CALL(what, A->setsockopt(s, level, name, &v, 1));
}

/* getsockopt with a buffer of `len` bytes; prints the bytes returned. */
static void get_opt(const char *what, int s, int level, int name, socklen_t len)
{
	unsigned char v[32];
	memset(v, 0xee, sizeof(v));
	socklen_t l = len;
	errno = 0;
	int r = A->getsockopt(s, level, name, v, &l);
	int e = errno;
	char rb[48];
	if (r < 0) {
		out(what, "%s", res(r, e, rb));
		return;
	}
	if (l == 4) {
		int iv;
		memcpy(&iv, v, 4);
		out(what, "0 len=4 int=%d", iv);
		return;
	}
	char hex[80] = "";
	for (socklen_t i = 0; i < l && i < 16; i++)
		snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x", v[i]);
	out(what, "0 len=%u bytes=%s", l, hex);
}

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Describe the control messages of a received message. */
static void describe_cmsgs(struct msghdr *m, char *buf, size_t size)
{
	char a[3][INET_ADDRSTRLEN];
	size_t n = 0;
	buf[0] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t dlen = c->cmsg_len >= CMSG_LEN(0) ? c->cmsg_len - CMSG_LEN(0) : 0;
		const unsigned char *d = CMSG_DATA(c);
		char item[200];
		if (c->cmsg_level == SOL_SOCKET &&
		    (c->cmsg_type == SO_TIMESTAMP_OLD || c->cmsg_type == SO_TIMESTAMP_NEW) &&
		    dlen >= 16) {
			int64_t sec, usec;
			memcpy(&sec, d, 8);
			memcpy(&usec, d + 8, 8);
			double t = (double)sec + (double)usec / 1e6;
			snprintf(item, sizeof(item), "[SOCKET %s len=%zu %s]",
				 c->cmsg_type == SO_TIMESTAMP_OLD ? "TIMESTAMP" : "TIMESTAMP_NEW",
				 (size_t)c->cmsg_len,
				 t > now_real() - 5 && t <= now_real() + 0.01 && usec < 1000000 ? "now" : "odd");
		} else if (c->cmsg_level == SOL_SOCKET &&
			   (c->cmsg_type == SO_TIMESTAMPNS_OLD || c->cmsg_type == SO_TIMESTAMPNS_NEW) &&
			   dlen >= 16) {
			int64_t sec, nsec;
			memcpy(&sec, d, 8);
			memcpy(&nsec, d + 8, 8);
			double t = (double)sec + (double)nsec / 1e9;
			snprintf(item, sizeof(item), "[SOCKET %s len=%zu %s]",
				 c->cmsg_type == SO_TIMESTAMPNS_OLD ? "TIMESTAMPNS" : "TIMESTAMPNS_NEW",
				 (size_t)c->cmsg_len,
				 t > now_real() - 5 && t <= now_real() + 0.01 && nsec < 1000000000 ? "now" : "odd");
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && dlen >= 12) {
			struct in_pktinfo pi;
			memcpy(&pi, d, sizeof(pi));
			const char *ifn = pi.ipi_ifindex == 1 ? "LO"
					  : (unsigned)pi.ipi_ifindex == self_ifindex ? "IF" : "?";
			snprintf(item, sizeof(item), "[IP PKTINFO len=%zu if=%s spec_dst=%s addr=%s]",
				 (size_t)c->cmsg_len, ifn, addr_name(pi.ipi_spec_dst.s_addr, a[0]),
				 addr_name(pi.ipi_addr.s_addr, a[1]));
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && dlen >= 4) {
			int v;
			memcpy(&v, d, 4);
			snprintf(item, sizeof(item), "[IP TTL len=%zu %d]", (size_t)c->cmsg_len, v);
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && dlen >= 1) {
			snprintf(item, sizeof(item), "[IP TOS len=%zu 0x%02x]", (size_t)c->cmsg_len, d[0]);
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR &&
			   dlen >= sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in)) {
			struct sock_extended_err ee;
			struct sockaddr_in off;
			memcpy(&ee, d, sizeof(ee));
			memcpy(&off, d + sizeof(ee), sizeof(off));
			snprintf(item, sizeof(item),
				 "[IP RECVERR len=%zu errno=%s origin=%u type=%u code=%u pad=%u info=%u "
				 "data=%u offender=%s]",
				 (size_t)c->cmsg_len, err_name((int)ee.ee_errno), ee.ee_origin, ee.ee_type,
				 ee.ee_code, ee.ee_pad, ee.ee_info, ee.ee_data,
				 off.sin_family == AF_INET ? addr_name(off.sin_addr.s_addr, a[2]) : "none");
		} else {
			snprintf(item, sizeof(item), "[level=%d type=%d len=%zu]", c->cmsg_level,
				 c->cmsg_type, (size_t)c->cmsg_len);
		}
		n += (size_t)snprintf(buf + n, size > n ? size - n : 0, "%s", item);
		if (n >= size)
			break;
	}
}

static const char *flags_name(int f, char *buf)
{
	buf[0] = '\0';
	if (f & MSG_TRUNC)
		strcat(buf, "TRUNC|");
	if (f & MSG_CTRUNC)
		strcat(buf, "CTRUNC|");
	if (f & MSG_ERRQUEUE)
		strcat(buf, "ERRQUEUE|");
	int rest = f & ~(MSG_TRUNC | MSG_CTRUNC | MSG_ERRQUEUE);
	if (rest)
		sprintf(buf + strlen(buf), "0x%x|", rest);
	size_t l = strlen(buf);
	if (l)
		buf[l - 1] = '\0';
	else
		strcpy(buf, "0");
	return buf;
}

/* recvmsg with a control buffer of ctl_len bytes; prints everything that came back. */
static void recv_msg_len(const char *what, int s, size_t data_len, size_t ctl_len, int flags)
{
	char data[256], fb[64], nb[64], cb[800];
	union {
		struct cmsghdr align;
		unsigned char b[512];
	} ctl;
	struct sockaddr_in from;
	struct iovec iov = {.iov_base = data, .iov_len = data_len};
	struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			   .msg_iovlen = 1, .msg_control = ctl_len ? ctl.b : NULL,
			   .msg_controllen = ctl_len};
	memset(&from, 0, sizeof(from));
	memset(&ctl, 0, sizeof(ctl));
	errno = 0;
	ssize_t n = A->recvmsg(s, &m, flags);
	int e = errno;
	if (n < 0) {
		char rb[48];
		out(what, "%s", res(n, e, rb));
		return;
	}
	describe_cmsgs(&m, cb, sizeof(cb));
	size_t shown = (size_t)n < data_len ? (size_t)n : data_len;
	out(what, "%zd \"%.*s\" from=%s flags=%s controllen=%zu %s", n, (int)(shown < 16 ? shown : 16),
	    data, sin_name(&from, nb), flags_name(m.msg_flags, fb), (size_t)m.msg_controllen, cb);
}

static void recv_msg(const char *what, int s, size_t ctl_len, int flags)
{
	recv_msg_len(what, s, 256, ctl_len, flags);
}

/* FIONREAD or TIOCOUTQ of s: the count, or the errno. */
static void queued(const char *what, int s, unsigned long req)
{
	int v = -1;
	char rb[48];
	errno = 0;
	int r = A->ioctl(s, req, &v);
	int e = errno;
	out(what, "%s = %d", res(r, e, rb), r < 0 ? 0 : v);
}

/* Wait (up to 2 s) until s has something to read; prints nothing. */
static void wait_readable(int s)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	A->poll(&p, 1, 2000);
}

static void recv_from(const char *what, int s)
{
	char data[256], nb[64], rb[48];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	memset(&from, 0, sizeof(from));
	errno = 0;
	ssize_t n = A->recvfrom(s, data, sizeof(data), 0, (struct sockaddr *)&from, &fl);
	int e = errno;
	if (n < 0)
		out(what, "%s", res(n, e, rb));
	else
		out(what, "%zd \"%.*s\" from=%s", n, (int)(n < 32 ? n : 32), data, sin_name(&from, nb));
}

/* Wait for POLLERR (an ICMP error reached the socket); prints what poll said. */
static void poll_err(const char *what, int s)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	int r = 0;
	for (int i = 0; i < 40; i++) {
		p.revents = 0;
		r = A->poll(&p, 1, 100);
		if (r > 0 && (p.revents & POLLERR))
			break;
	}
	out(what, "%d revents=%s%s", r, p.revents & POLLERR ? "ERR" : "",
	    p.revents & POLLIN ? "|IN" : "");
}

/* ---- the scenario --------------------------------------------------------------------- */

static void section(const char *name)
{
	printf("## %s\n", name);
}

static void routes(void)
{
	section("route lookup at send and connect (ENETUNREACH, EINVAL, source address)");
	int s = sock_new();
	struct sockaddr_in nr = sin_of(ip(NOROUTE), 9);
	CALL("sendto NOROUTE", A->sendto(s, "x", 1, 0, SA(nr), sizeof(nr)));
	name_of("getsockname after failed sendto", s, false);
	CALL("connect NOROUTE", A->connect(s, SA(nr), sizeof(nr)));
	name_of("getpeername after failed connect", s, true);
	struct sockaddr_in lb = sin_of(htonl(INADDR_BROADCAST), port_base + 1);
	CALL("sendto LBCAST without SO_BROADCAST", A->sendto(s, "x", 1, 0, SA(lb), sizeof(lb)));
	set_int("SO_BROADCAST 1", s, SOL_SOCKET, SO_BROADCAST, 1);
	CALL("sendto LBCAST with SO_BROADCAST", A->sendto(s, "x", 1, 0, SA(lb), sizeof(lb)));
	struct sockaddr_in mc = sin_of(ip("224.0.0.1"), port_base + 1);
	CALL("sendto 224.0.0.1", A->sendto(s, "x", 1, 0, SA(mc), sizeof(mc)));
	CALL("connect 224.0.0.1", A->connect(s, SA(mc), sizeof(mc)));
	A->close(s);

	s = sock_new();
	struct sockaddr_in rm = sin_of(remote_addr, port_base);
	CALL("connect REMOTE", A->connect(s, SA(rm), sizeof(rm)));
	name_of("getsockname after connect REMOTE", s, false);
	name_of("getpeername after connect REMOTE", s, true);
	get_opt("IP_MTU connected to REMOTE", s, IPPROTO_IP, IP_MTU, 4);
	get_opt("IP_MTU 1-byte buffer", s, IPPROTO_IP, IP_MTU, 1);
	struct sockaddr_in lo = sin_of(htonl(INADDR_LOOPBACK), port_base + 1);
	CALL("reconnect LO", A->connect(s, SA(lo), sizeof(lo)));
	name_of("getsockname after reconnect LO (keeps SELF)", s, false);
	struct sockaddr_in un = {.sin_family = AF_UNSPEC};
	CALL("disconnect", A->connect(s, SA(un), sizeof(un)));
	name_of("getsockname after disconnect", s, false);
	A->close(s);

	s = sock_new();
	CALL("connect LO", A->connect(s, SA(lo), sizeof(lo)));
	name_of("getsockname after connect LO", s, false);
	get_opt("IP_MTU connected to LO", s, IPPROTO_IP, IP_MTU, 4);
	CALL("sendto REMOTE from a LO-connected socket", A->sendto(s, "x", 1, 0, SA(rm), sizeof(rm)));
	A->close(s);

	s = sock_new();
	struct sockaddr_in any = sin_of(0, port_base + 2);
	CALL("connect ANY (this host)", A->connect(s, SA(any), sizeof(any)));
	name_of("getsockname after connect ANY", s, false);
	name_of("getpeername after connect ANY", s, true);
	A->close(s);

	s = sock_new();
	struct sockaddr_in b = sin_of(htonl(INADDR_LOOPBACK), 0);
	CALL("bind LO:0", A->bind(s, SA(b), sizeof(b)));
	CALL("connect REMOTE from LO", A->connect(s, SA(rm), sizeof(rm)));
	CALL("sendto REMOTE from LO", A->sendto(s, "x", 1, 0, SA(rm), sizeof(rm)));
	A->close(s);

	s = sock_new();
	CALL("unconnected send", A->send(s, "x", 1, 0));
	name_of("getsockname after failed send", s, false);
	get_opt("IP_MTU unconnected", s, IPPROTO_IP, IP_MTU, 4);
	struct sockaddr_in zero = sin_of(remote_addr, 0);
	CALL("sendto port 0", A->sendto(s, "x", 1, 0, SA(zero), sizeof(zero)));
	A->close(s);
}

static void broadcast(void)
{
	section("broadcast needs SO_BROADCAST (EACCES), and is looped back to our own sockets");
	int r = sock_new();
	struct sockaddr_in rb = sin_of(0, port_base + 3);
	CALL("bind ANY:P+3 (receiver)", A->bind(r, SA(rb), sizeof(rb)));
	set_int("IP_PKTINFO 1 (receiver)", r, IPPROTO_IP, IP_PKTINFO, 1);
	int s = sock_new();
	struct sockaddr_in bc = sin_of(bcast_addr, port_base + 3);
	CALL("sendto BCAST without SO_BROADCAST", A->sendto(s, "b0", 2, 0, SA(bc), sizeof(bc)));
	CALL("connect BCAST without SO_BROADCAST", A->connect(s, SA(bc), sizeof(bc)));
	struct sockaddr_in lbc = sin_of(ip("127.255.255.255"), port_base + 3);
	CALL("sendto 127.255.255.255 without SO_BROADCAST", A->sendto(s, "b0", 2, 0, SA(lbc), sizeof(lbc)));
	get_opt("SO_BROADCAST default", s, SOL_SOCKET, SO_BROADCAST, 4);
	set_int("SO_BROADCAST 1", s, SOL_SOCKET, SO_BROADCAST, 1);
	CALL("sendto BCAST with SO_BROADCAST", A->sendto(s, "b1", 2, 0, SA(bc), sizeof(bc)));
	recv_msg("receiver gets its own broadcast", r, 256, 0);
	CALL("connect BCAST with SO_BROADCAST", A->connect(s, SA(bc), sizeof(bc)));
	name_of("getpeername after connect BCAST", s, true);
	CALL("send to the connected BCAST", A->send(s, "b2", 2, 0));
	recv_msg("receiver gets it", r, 256, 0);
	A->close(s);
	s = sock_new();
	set_int("SO_BROADCAST 1", s, SOL_SOCKET, SO_BROADCAST, 1);
	CALL("sendto 127.255.255.255 with SO_BROADCAST", A->sendto(s, "b3", 2, 0, SA(lbc), sizeof(lbc)));
	recv_msg("receiver gets lo's broadcast", r, 256, 0);
	A->close(s);
	A->close(r);
}

static void peer_port0(void)
{
	section("connect to port 0: getpeername says ENOTCONN");
	int s = sock_new();
	struct sockaddr_in p0 = sin_of(remote_addr, 0);
	CALL("connect REMOTE:0", A->connect(s, SA(p0), sizeof(p0)));
	name_of("getpeername", s, true);
	name_of("getsockname", s, false);
	CALL("send", A->send(s, "z", 1, 0));
	A->close(s);
}

static void options(void)
{
	section("IP options: defaults, sizes, ranges");
	int s = sock_new();
	get_opt("IP_TTL default", s, IPPROTO_IP, IP_TTL, 4);
	get_opt("IP_TTL default, 1-byte buffer", s, IPPROTO_IP, IP_TTL, 1);
	get_opt("IP_TTL default, 0-byte buffer", s, IPPROTO_IP, IP_TTL, 0);
	set_int("IP_TTL 7", s, IPPROTO_IP, IP_TTL, 7);
	get_opt("IP_TTL", s, IPPROTO_IP, IP_TTL, 4);
	set_int("IP_TTL 0", s, IPPROTO_IP, IP_TTL, 0);
	set_int("IP_TTL 256", s, IPPROTO_IP, IP_TTL, 256);
	set_int("IP_TTL -2", s, IPPROTO_IP, IP_TTL, -2);
	set_byte("IP_TTL 200 as one byte", s, IPPROTO_IP, IP_TTL, 200);
	get_opt("IP_TTL", s, IPPROTO_IP, IP_TTL, 4);
	set_int("IP_TTL -1 (default)", s, IPPROTO_IP, IP_TTL, -1);
	get_opt("IP_TTL", s, IPPROTO_IP, IP_TTL, 4);
	CALL("IP_TTL with optlen 0", A->setsockopt(s, IPPROTO_IP, IP_TTL, "", 0));

	get_opt("IP_TOS default", s, IPPROTO_IP, IP_TOS, 4);
	set_int("IP_TOS 0x2b", s, IPPROTO_IP, IP_TOS, 0x2b);
	get_opt("IP_TOS", s, IPPROTO_IP, IP_TOS, 4);
	get_opt("SO_PRIORITY after IP_TOS 0x2b", s, SOL_SOCKET, SO_PRIORITY, 4);
	set_int("IP_TOS 0x1ff", s, IPPROTO_IP, IP_TOS, 0x1ff);
	get_opt("IP_TOS", s, IPPROTO_IP, IP_TOS, 4);
	get_opt("SO_PRIORITY after IP_TOS 0xff", s, SOL_SOCKET, SO_PRIORITY, 4);
	set_byte("IP_TOS 0x10 as one byte", s, IPPROTO_IP, IP_TOS, 0x10);
	get_opt("IP_TOS, 1-byte buffer", s, IPPROTO_IP, IP_TOS, 1);
	get_opt("SO_PRIORITY after IP_TOS 0x10", s, SOL_SOCKET, SO_PRIORITY, 4);
	CALL("IP_TOS with optlen 0", A->setsockopt(s, IPPROTO_IP, IP_TOS, "", 0));
	get_opt("IP_TOS", s, IPPROTO_IP, IP_TOS, 4);

	get_opt("IP_MULTICAST_TTL default", s, IPPROTO_IP, IP_MULTICAST_TTL, 4);
	set_byte("IP_MULTICAST_TTL 5 as one byte", s, IPPROTO_IP, IP_MULTICAST_TTL, 5);
	get_opt("IP_MULTICAST_TTL", s, IPPROTO_IP, IP_MULTICAST_TTL, 4);
	set_int("IP_MULTICAST_TTL -1", s, IPPROTO_IP, IP_MULTICAST_TTL, -1);
	get_opt("IP_MULTICAST_TTL", s, IPPROTO_IP, IP_MULTICAST_TTL, 4);
	set_int("IP_MULTICAST_TTL 256", s, IPPROTO_IP, IP_MULTICAST_TTL, 256);
	CALL("IP_MULTICAST_TTL with optlen 0", A->setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, "", 0));
	get_opt("IP_MULTICAST_LOOP default", s, IPPROTO_IP, IP_MULTICAST_LOOP, 4);
	set_byte("IP_MULTICAST_LOOP 0 as one byte", s, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
	get_opt("IP_MULTICAST_LOOP", s, IPPROTO_IP, IP_MULTICAST_LOOP, 1);

	static const struct {
		const char *name;
		int opt;
	} flags[] = {{"IP_PKTINFO", IP_PKTINFO}, {"IP_RECVTTL", IP_RECVTTL},
		     {"IP_RECVTOS", IP_RECVTOS}, {"IP_RECVERR", IP_RECVERR}};
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char w[64];
		snprintf(w, sizeof(w), "%s default", flags[i].name);
		get_opt(w, s, IPPROTO_IP, flags[i].opt, 4);
		snprintf(w, sizeof(w), "%s 5", flags[i].name);
		set_int(w, s, IPPROTO_IP, flags[i].opt, 5);
		get_opt(flags[i].name, s, IPPROTO_IP, flags[i].opt, 4);
		snprintf(w, sizeof(w), "%s optlen 0 (off)", flags[i].name);
		CALL(w, A->setsockopt(s, IPPROTO_IP, flags[i].opt, "", 0));
		get_opt(flags[i].name, s, IPPROTO_IP, flags[i].opt, 4);
	}

	get_opt("IP_MTU_DISCOVER default", s, IPPROTO_IP, IP_MTU_DISCOVER, 4);
	set_int("IP_MTU_DISCOVER DO", s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	get_opt("IP_MTU_DISCOVER", s, IPPROTO_IP, IP_MTU_DISCOVER, 4);
	set_int("IP_MTU_DISCOVER 6", s, IPPROTO_IP, IP_MTU_DISCOVER, 6);
	set_int("IP_MTU_DISCOVER -1", s, IPPROTO_IP, IP_MTU_DISCOVER, -1);
	set_int("IP_MTU_DISCOVER OMIT", s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT);
	get_opt("IP_MTU_DISCOVER", s, IPPROTO_IP, IP_MTU_DISCOVER, 4);
	get_opt("unknown IP option 200", s, IPPROTO_IP, 200, 4);
	set_int("unknown IP option 200", s, IPPROTO_IP, 200, 1);
	get_opt("level 1234", s, 1234, 1, 4);
	set_int("level 1234", s, 1234, 1, 1);
	A->close(s);

	section("socket options: the reads Linux answers");
	s = sock_new();
	static const struct {
		const char *name;
		int opt;
		int val;
	} so[] = {{"SO_KEEPALIVE", SO_KEEPALIVE, 1}, {"SO_PRIORITY", SO_PRIORITY, 3},
		  {"SO_RCVLOWAT", SO_RCVLOWAT, 10}, {"SO_DONTROUTE", SO_DONTROUTE, 1},
		  {"SO_TIMESTAMP", SO_TIMESTAMP, 1}, {"SO_TIMESTAMPNS", SO_TIMESTAMPNS, 1},
		  {"SO_REUSEPORT", SO_REUSEPORT, 1}};
	for (unsigned i = 0; i < sizeof(so) / sizeof(so[0]); i++) {
		char w[64];
		snprintf(w, sizeof(w), "%s default", so[i].name);
		get_opt(w, s, SOL_SOCKET, so[i].opt, 4);
		snprintf(w, sizeof(w), "%s %d", so[i].name, so[i].val);
		set_int(w, s, SOL_SOCKET, so[i].opt, so[i].val);
		get_opt(so[i].name, s, SOL_SOCKET, so[i].opt, 4);
	}
	get_opt("SO_TIMESTAMP after SO_TIMESTAMPNS", s, SOL_SOCKET, SO_TIMESTAMP, 4);
	set_int("SO_TIMESTAMP 0", s, SOL_SOCKET, SO_TIMESTAMP, 0);
	get_opt("SO_TIMESTAMPNS after SO_TIMESTAMP 0", s, SOL_SOCKET, SO_TIMESTAMPNS, 4);
	set_int("SO_RCVLOWAT 0", s, SOL_SOCKET, SO_RCVLOWAT, 0);
	get_opt("SO_RCVLOWAT", s, SOL_SOCKET, SO_RCVLOWAT, 4);
	set_int("SO_RCVLOWAT -5", s, SOL_SOCKET, SO_RCVLOWAT, -5);
	get_opt("SO_RCVLOWAT", s, SOL_SOCKET, SO_RCVLOWAT, 4);
	set_int("SO_PRIORITY 7 (as root)", s, SOL_SOCKET, SO_PRIORITY, 7);
	get_opt("SO_PRIORITY", s, SOL_SOCKET, SO_PRIORITY, 4);
	get_opt("SO_KEEPALIVE 2-byte buffer", s, SOL_SOCKET, SO_KEEPALIVE, 2);
	CALL("SO_KEEPALIVE with optlen 2", A->setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, "\1\0", 2));
	get_opt("SO_LINGER default", s, SOL_SOCKET, SO_LINGER, 8);
	struct linger lg = {.l_onoff = 1, .l_linger = 5};
	CALL("SO_LINGER {1, 5}", A->setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	get_opt("SO_LINGER", s, SOL_SOCKET, SO_LINGER, 8);
	lg = (struct linger){.l_onoff = 0, .l_linger = 9};
	CALL("SO_LINGER {0, 9}", A->setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	get_opt("SO_LINGER", s, SOL_SOCKET, SO_LINGER, 8);
	get_opt("SO_LINGER 4-byte buffer", s, SOL_SOCKET, SO_LINGER, 4);
	CALL("SO_LINGER with optlen 4", A->setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, 4));
	A->close(s);
}

static void wire(void)
{
	section("IP_TTL and IP_TOS on the wire (the other world reflects what it received)");
	int s = sock_new();
	struct sockaddr_in rm = sin_of(remote_addr, port_base);
	CALL("sendto reflector, defaults", A->sendto(s, "w0", 2, 0, SA(rm), sizeof(rm)));
	recv_from("reflector says", s);
	set_int("IP_TTL 7", s, IPPROTO_IP, IP_TTL, 7);
	set_int("IP_TOS 0x28", s, IPPROTO_IP, IP_TOS, 0x28);
	CALL("sendto reflector, TTL 7 TOS 0x28", A->sendto(s, "w1", 2, 0, SA(rm), sizeof(rm)));
	recv_from("reflector says", s);
	set_int("IP_MTU_DISCOVER DO", s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	static char big[2000];
	CALL("sendto 1473 bytes with PMTUDISC_DO", A->sendto(s, big, 1473, 0, SA(rm), sizeof(rm)));
	CALL("sendto 1472 bytes with PMTUDISC_DO", A->sendto(s, big, 1472, 0, SA(rm), sizeof(rm)));
	recv_from("reflector says", s);
	set_int("IP_MTU_DISCOVER DONT", s, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
	CALL("sendto 1473 bytes with PMTUDISC_DONT", A->sendto(s, big, 1473, 0, SA(rm), sizeof(rm)));
	recv_from("reflector says", s);
	A->close(s);
}

static void cmsgs(void)
{
	section("recvmsg control messages");
	int r = sock_new();
	struct sockaddr_in rb = sin_of(0, port_base + 4);
	CALL("bind ANY:P+4", A->bind(r, SA(rb), sizeof(rb)));
	int s = sock_new();
	struct sockaddr_in lo = sin_of(htonl(INADDR_LOOPBACK), port_base + 4);
	struct sockaddr_in me = sin_of(self_addr, port_base + 4);
	CALL("sendto LO, no options", A->sendto(s, "c0", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, no options", r, 256, 0);
	set_int("IP_PKTINFO 1", r, IPPROTO_IP, IP_PKTINFO, 1);
	set_int("IP_RECVTTL 1", r, IPPROTO_IP, IP_RECVTTL, 1);
	set_int("IP_RECVTOS 1", r, IPPROTO_IP, IP_RECVTOS, 1);
	set_int("SO_TIMESTAMP 1", r, SOL_SOCKET, SO_TIMESTAMP, 1);
	set_int("IP_TTL 9 (sender)", s, IPPROTO_IP, IP_TTL, 9);
	set_int("IP_TOS 0x2b (sender)", s, IPPROTO_IP, IP_TOS, 0x2b);
	CALL("sendto LO", A->sendto(s, "c1", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, all four", r, 256, 0);
	struct sockaddr_in lo9 = sin_of(ip("127.0.0.9"), port_base + 4);
	CALL("sendto 127.0.0.9", A->sendto(s, "c2", 2, 0, SA(lo9), sizeof(lo9)));
	recv_msg("recvmsg", r, 256, 0);
	CALL("sendto SELF", A->sendto(s, "c3", 2, 0, SA(me), sizeof(me)));
	recv_msg("recvmsg", r, 256, 0);
	CALL("sendto LO", A->sendto(s, "c4", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, 20-byte control buffer", r, 20, 0);
	CALL("sendto LO", A->sendto(s, "c5", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, 40-byte control buffer", r, 40, 0);
	CALL("sendto LO", A->sendto(s, "c6", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, no control buffer", r, 0, 0);
	set_int("SO_TIMESTAMPNS 1", r, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	set_int("IP_PKTINFO 0", r, IPPROTO_IP, IP_PKTINFO, 0);
	set_int("IP_RECVTOS 0", r, IPPROTO_IP, IP_RECVTOS, 0);
	CALL("sendto LO", A->sendto(s, "c7", 2, 0, SA(lo), sizeof(lo)));
	recv_msg("recvmsg, TIMESTAMPNS and TTL", r, 256, 0);
	A->close(s);

	/* From the other world, through the wire. */
	s = sock_new();
	set_int("SO_TIMESTAMP 0", r, SOL_SOCKET, SO_TIMESTAMP, 0);
	set_int("IP_PKTINFO 1", r, IPPROTO_IP, IP_PKTINFO, 1);
	struct sockaddr_in rm = sin_of(remote_addr, port_base);
	CALL("ask the reflector to answer P+4", A->sendto(r, "c8", 2, 0, SA(rm), sizeof(rm)));
	recv_msg("reflector's answer, from the wire", r, 256, 0);
	A->close(s);
	A->close(r);
}

static void errqueue(void)
{
	section("IP_RECVERR: the error queue");
	int s = sock_new();
	struct sockaddr_in cl = sin_of(remote_addr, port_base + 1);
	recv_msg("MSG_ERRQUEUE without IP_RECVERR", s, 256, MSG_ERRQUEUE);
	set_int("IP_RECVERR 1", s, IPPROTO_IP, IP_RECVERR, 1);
	CALL("sendto REMOTE:closed", A->sendto(s, "abcde", 5, 0, SA(cl), sizeof(cl)));
	poll_err("poll", s);
	recv_from("recvfrom (the pending error)", s);
	recv_msg("recvmsg MSG_ERRQUEUE", s, 256, MSG_ERRQUEUE);
	recv_msg("recvmsg MSG_ERRQUEUE again", s, 256, MSG_ERRQUEUE);
	A->close(s);

	s = sock_new();
	set_int("IP_RECVERR 1", s, IPPROTO_IP, IP_RECVERR, 1);
	struct sockaddr_in lc = sin_of(htonl(INADDR_LOOPBACK), port_base + 5);
	CALL("sendto LO:closed", A->sendto(s, "fghij", 5, 0, SA(lc), sizeof(lc)));
	poll_err("poll", s);
	CALL("sendto LO:closed (takes the pending error)", A->sendto(s, "klmno", 5, 0, SA(lc), sizeof(lc)));
	CALL("sendto LO:closed", A->sendto(s, "klmno", 5, 0, SA(lc), sizeof(lc)));
	poll_err("poll", s);
	recv_msg("recvmsg MSG_ERRQUEUE", s, 256, MSG_ERRQUEUE);
	int v = -1;
	socklen_t l = sizeof(v);
	CALL("SO_ERROR (the next queued error's)", A->getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l));
	out("SO_ERROR value", "%s", v ? err_name(v) : "0");
	recv_msg_len("recvmsg MSG_ERRQUEUE, 2-byte buffer", s, 2, 256, MSG_ERRQUEUE);
	v = -1;
	CALL("SO_ERROR", A->getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l));
	out("SO_ERROR value", "%s", v ? err_name(v) : "0");
	recv_msg("recvmsg MSG_ERRQUEUE, empty", s, 256, MSG_ERRQUEUE);
	A->close(s);

	s = sock_new();
	CALL("connect LO:closed", A->connect(s, SA(lc), sizeof(lc)));
	CALL("send", A->send(s, "k", 1, 0));
	recv_from("recv on the connected socket", s);
	A->close(s);
}

static void reuseport(void)
{
	section("SO_REUSEPORT: groups, and how datagrams spread over a group");
	enum { GROUP = 4, FLOWS = 16 };
	int g[GROUP];
	struct sockaddr_in a = sin_of(htonl(INADDR_LOOPBACK), port_base + 6);
	for (int i = 0; i < GROUP; i++) {
		g[i] = sock_new();
		set_int("SO_REUSEPORT 1", g[i], SOL_SOCKET, SO_REUSEPORT, 1);
		CALL("bind LO:P+6", A->bind(g[i], SA(a), sizeof(a)));
	}
	int x = sock_new();
	CALL("bind LO:P+6 without SO_REUSEPORT", A->bind(x, SA(a), sizeof(a)));
	A->close(x);
	x = sock_new();
	set_int("SO_REUSEPORT 1", x, SOL_SOCKET, SO_REUSEPORT, 1);
	struct sockaddr_in any = sin_of(0, port_base + 6);
	CALL("bind ANY:P+6 with SO_REUSEPORT (other address)", A->bind(x, SA(any), sizeof(any)));
	A->close(x);

	int f[FLOWS];
	for (int i = 0; i < FLOWS; i++) {
		f[i] = sock_new();
		char m[8];
		snprintf(m, sizeof(m), "f%02d", i);
		for (int k = 0; k < 2; k++)
			A->sendto(f[i], m, 3, 0, SA(a), sizeof(a));
	}
	int seen[FLOWS][GROUP];
	memset(seen, 0, sizeof(seen));
	int got = 0;
	struct pollfd p[GROUP];
	for (int round = 0; round < 100 && got < 2 * FLOWS; round++) {
		for (int i = 0; i < GROUP; i++)
			p[i] = (struct pollfd){.fd = g[i], .events = POLLIN};
		if (A->poll(p, GROUP, 100) <= 0)
			continue;
		for (int i = 0; i < GROUP; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			char m[8];
			ssize_t n = A->recvfrom(g[i], m, sizeof(m), MSG_DONTWAIT, NULL, NULL);
			if (n == 3 && m[0] == 'f') {
				int k = (m[1] - '0') * 10 + (m[2] - '0');
				if (k >= 0 && k < FLOWS) {
					seen[k][i]++;
					got++;
				}
			}
		}
	}
	int consistent = 1, used = 0;
	for (int i = 0; i < FLOWS; i++) {
		int sockets = 0;
		for (int j = 0; j < GROUP; j++)
			sockets += seen[i][j] > 0;
		if (sockets != 1)
			consistent = 0;
	}
	for (int j = 0; j < GROUP; j++) {
		int any_seen = 0;
		for (int i = 0; i < FLOWS; i++)
			any_seen |= seen[i][j];
		used += any_seen != 0;
	}
	out("datagrams received by the group", "%d of %d", got, 2 * FLOWS);
	out("every flow stayed on one socket", "%s", consistent ? "yes" : "no");
	out("flows spread over more than one socket", "%s", used > 1 ? "yes" : "no");
	for (int i = 0; i < FLOWS; i++)
		A->close(f[i]);
	for (int i = 0; i < GROUP; i++)
		A->close(g[i]);
}

static void reuseport_uid(const char *world)
{
	section("SO_REUSEPORT: a group belongs to one uid");
	int s = sock_new();
	struct sockaddr_in a = sin_of(htonl(INADDR_LOOPBACK), port_base + 7);
	set_int("SO_REUSEPORT 1", s, SOL_SOCKET, SO_REUSEPORT, 1);
	CALL("bind LO:P+7", A->bind(s, SA(a), sizeof(a)));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char port[16];
		snprintf(port, sizeof(port), "%d", port_base + 7);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		execl("/proc/self/exe", "sock_parity", "uidbind", "--world", world, "--port", port,
		      (char *)NULL);
		_exit(4);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	out("another uid's child exited", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	A->close(s);
}

static void loopback(void)
{
	section("the loopback interface");
	int r = sock_new();
	struct sockaddr_in b = sin_of(htonl(INADDR_LOOPBACK), port_base + 8);
	CALL("bind LO:P+8", A->bind(r, SA(b), sizeof(b)));
	name_of("getsockname", r, false);
	int s = sock_new();
	queued("FIONREAD, nothing queued", r, FIONREAD);
	CALL("sendto LO:P+8", A->sendto(s, "hello lo", 8, 0, SA(b), sizeof(b)));
	CALL("sendto LO:P+8 again", A->sendto(s, "hello lo, again", 15, 0, SA(b), sizeof(b)));
	wait_readable(r);
	queued("FIONREAD, two queued", r, FIONREAD);
	recv_from("recvfrom", r);
	wait_readable(r);
	queued("FIONREAD, one queued", r, FIONREAD);
	recv_from("recvfrom", r);
	queued("FIONREAD, drained", r, FIONREAD);
	CALL("FIONREAD, no buffer", A->ioctl(r, FIONREAD, NULL));
	char ifr[64] = {0}; /* the kernel reads a struct ifreq for requests its protocol refuses */
	CALL("SIOCATMARK (not a UDP request)", A->ioctl(r, SIOCATMARK, ifr));
	name_of("sender's getsockname", s, false);
	struct sockaddr_in me = sin_of(self_addr, port_base + 8);
	CALL("sendto SELF:P+8 (bound to LO: nobody there)", A->sendto(s, "x", 1, 0, SA(me), sizeof(me)));
	A->close(r);
	A->close(s);

	static const char *binds[] = {"127.0.0.5", "224.1.1.1", "0.1.2.3"};
	for (unsigned i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		s = sock_new();
		struct sockaddr_in a = sin_of(ip(binds[i]), 0);
		char w[64];
		snprintf(w, sizeof(w), "bind %s", binds[i]);
		CALL(w, A->bind(s, SA(a), sizeof(a)));
		A->close(s);
	}
	s = sock_new();
	struct sockaddr_in bb = sin_of(bcast_addr, 0);
	CALL("bind BCAST", A->bind(s, SA(bb), sizeof(bb)));
	name_of("getsockname", s, false);
	A->close(s);
	s = sock_new();
	struct sockaddr_in rm = sin_of(remote_addr, 0);
	CALL("bind REMOTE", A->bind(s, SA(rm), sizeof(rm)));
	A->close(s);

	/* A server on ANY answers a client on lo, and one on SELF. */
	r = sock_new();
	struct sockaddr_in any = sin_of(0, port_base + 9);
	CALL("bind ANY:P+9", A->bind(r, SA(any), sizeof(any)));
	s = sock_new();
	struct sockaddr_in lo = sin_of(htonl(INADDR_LOOPBACK), port_base + 9);
	CALL("connect LO:P+9", A->connect(s, SA(lo), sizeof(lo)));
	CALL("send", A->send(s, "ping", 4, 0));
	char buf[16];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = A->recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	char nb[64];
	out("server recvfrom", "%zd from=%s", n, n >= 0 ? sin_name(&from, nb) : "-");
	CALL("server sendto the client", A->sendto(r, "pong", 4, 0, SA(from), fl));
	recv_from("client recv", s);
	queued("client TIOCOUTQ after the round trip", s, TIOCOUTQ);
	A->close(s);
	s = sock_new();
	struct sockaddr_in ms = sin_of(self_addr, port_base + 9);
	CALL("sendto SELF:P+9", A->sendto(s, "self", 4, 0, SA(ms), sizeof(ms)));
	recv_from("server recvfrom", r);
	A->close(s);
	A->close(r);
}

/* The poll mask of s now, as IN/OUT/ERR/HUP/RDHUP. */
static void mask_of(const char *what, int s)
{
	struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT | POLLRDHUP};
	int r = A->poll(&p, 1, 0);
	short m = r > 0 ? p.revents : 0;
	out(what, "%d%s%s%s%s%s", r, m & POLLIN ? " IN" : "", m & POLLOUT ? " OUT" : "",
	    m & POLLERR ? " ERR" : "", m & POLLHUP ? " HUP" : "", m & POLLRDHUP ? " RDHUP" : "");
}

/* shutdown() of datagram sockets (Linux keeps it in the socket layer), and the stream-only
 * calls on one. */
static void dgram_shutdown(void)
{
	section("shutdown and stream calls on datagram sockets");
	int s = sock_new();
	CALL("listen", A->listen(s, 5));
	CALL("accept4", A->accept4(s, NULL, NULL, 0));
	CALL("accept4 bad flags", A->accept4(s, NULL, NULL, 0x1000));
	CALL("shutdown 3", A->shutdown(s, 3));
	CALL("shutdown SHUT_RDWR unconnected", A->shutdown(s, SHUT_RDWR));
	mask_of("poll after", s);
	struct sockaddr_in r = sin_of(remote_addr, port_base);
	CALL("sendto after SHUT_RDWR", A->sendto(s, "x", 1, 0, SA(r), sizeof(r)));
	char buf[8];
	CALL("recv MSG_DONTWAIT after SHUT_RDWR", A->recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT,
							     NULL, NULL));
	CALL("recv after SHUT_RDWR", A->recvfrom(s, buf, sizeof(buf), 0, NULL, NULL));
	A->close(s);
	s = sock_new();
	CALL("connect REMOTE:P", A->connect(s, SA(r), sizeof(r)));
	CALL("shutdown SHUT_WR", A->shutdown(s, SHUT_WR));
	mask_of("poll after SHUT_WR", s);
	CALL("send after SHUT_WR", A->send(s, "x", 1, 0));
	CALL("send after SHUT_WR, MSG_NOSIGNAL", A->send(s, "x", 1, MSG_NOSIGNAL));
	CALL("shutdown SHUT_RD", A->shutdown(s, SHUT_RD));
	mask_of("poll after SHUT_RD too", s);
	CALL("recv after SHUT_RD", A->recvfrom(s, buf, sizeof(buf), 0, NULL, NULL));
	A->close(s);
}

static int run(int argc, char **argv, const char *world)
{
	const char *self = NULL, *remote = NULL, *ifname = NULL;
	int prefix = 24;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--self"))
			self = argv[i + 1];
		else if (!strcmp(argv[i], "--remote"))
			remote = argv[i + 1];
		else if (!strcmp(argv[i], "--prefix"))
			prefix = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--port"))
			port_base = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ifname"))
			ifname = argv[i + 1];
	}
	if (!self || !remote || !port_base)
		return 2;
	self_addr = ip(self);
	remote_addr = ip(remote);
	uint32_t mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
	bcast_addr = (self_addr & mask) | ~mask;
	self_ifindex = ifname ? if_nametoindex(ifname) : 2;
	printf("# world %s\n", world);
	routes();
	broadcast();
	peer_port0();
	options();
	wire();
	cmsgs();
	errqueue();
	reuseport();
	reuseport_uid(world);
	loopback();
	dgram_shutdown();
	return 0;
}

static int reflect(int argc, char **argv)
{
	int port = 0, seconds = 60;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
	}
	int s = A->socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = sin_of(0, port);
	int one = 1;
	if (s < 0 || A->bind(s, SA(a), sizeof(a)) < 0 ||
	    A->setsockopt(s, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)) < 0 ||
	    A->setsockopt(s, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one)) < 0) {
		fprintf(stderr, "reflect: %s\n", strerror(errno));
		return 1;
	}
	struct timeval tv = {.tv_sec = 1};
	A->setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	printf("ready\n");
	fflush(stdout);
	time_t end = time(NULL) + seconds;
	static char data[65536];
	while (time(NULL) < end) {
		union {
			struct cmsghdr align;
			unsigned char b[256];
		} ctl;
		struct sockaddr_in from;
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				   .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl)};
		ssize_t n = A->recvmsg(s, &m, 0);
		if (n < 0)
			continue;
		int ttl = -1, tos = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
				memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
			else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
				tos = *CMSG_DATA(c);
		}
		char reply[64];
		int rl = snprintf(reply, sizeof(reply), "ttl=%d tos=0x%02x len=%zd", ttl, tos, n);
		A->sendto(s, reply, (size_t)rl, 0, SA(from), m.msg_namelen);
	}
	A->close(s);
	return 0;
}

static int uidbind(int argc, char **argv)
{
	int port = 0;
	for (int i = 2; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
	int s = A->socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		printf("%03u %-46s socket: %s\n", 0u, "uid 65534", err_name(errno));
		return 1;
	}
	int one = 1;
	A->setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in a = sin_of(htonl(INADDR_LOOPBACK), port);
	errno = 0;
	int r = A->bind(s, SA(a), sizeof(a));
	char rb[48];
	printf("    %-46s %s\n", "uid 65534: bind LO:P+7 with SO_REUSEPORT", res(r, errno, rb));
	A->close(s);
	return 0;
}

static int loburst(int argc, char **argv)
{
	int port = 0, count = 0;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--count"))
			count = atoi(argv[i + 1]);
	}
	int r = A->socket(AF_INET, SOCK_DGRAM, 0), s = A->socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = sin_of(htonl(INADDR_LOOPBACK), port);
	int big = 4 << 20;
	A->setsockopt(r, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (r < 0 || s < 0 || A->bind(r, SA(a), sizeof(a)) < 0) {
		fprintf(stderr, "loburst: %s\n", strerror(errno));
		return 1;
	}
	/* A datagram lost on the way (a full link between layers drops and counts, as a NIC
	 * ring does) costs this wait once. */
	struct timeval tv = {.tv_usec = 300000};
	A->setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int got = 0;
	char buf[64];
	/* In rounds of 32: a burst the links between the layers absorb on an idle machine. */
	for (int sent = 0; sent < count;) {
		int n = count - sent < 32 ? count - sent : 32;
		for (int i = 0; i < n; i++)
			A->sendto(s, "lo", 2, 0, SA(a), sizeof(a));
		sent += n;
		for (int i = 0; i < n; i++) {
			if (A->recvfrom(r, buf, sizeof(buf), 0, NULL, NULL) != 2)
				break;
			got++;
		}
	}
	printf("received %d\n", got);
	A->close(r);
	A->close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--world") != 0) {
		fprintf(stderr, "usage: %s run|reflect|uidbind --world kernel|ustack ...\n", argv[0]);
		return 2;
	}
	const char *world = argv[3];
	if (!strcmp(world, "kernel"))
		A = &kernel_api;
	else if (!strcmp(world, "ustack"))
		A = &ustack_api;
	else
		return 2;
	/* The rest of the arguments start after "--world W". */
	argv[2] = argv[1];
	argv += 2;
	argc -= 2;
	if (!strcmp(argv[0], "run"))
		return run(argc, argv, world);
	if (!strcmp(argv[0], "reflect"))
		return reflect(argc, argv);
	if (!strcmp(argv[0], "uidbind"))
		return uidbind(argc, argv);
	if (!strcmp(argv[0], "loburst"))
		return loburst(argc, argv);
	return 2;
}
