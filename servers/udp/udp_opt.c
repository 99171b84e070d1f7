/* udp_opt: setsockopt/getsockopt for the options whose state lives in the socket table (Linux
 * net/core/sock.c sk_setsockopt/sk_getsockopt, net/ipv4/ip_sockglue.c do_ip_setsockopt/
 * do_ip_getsockopt, net/ipv4/udp.c udp_lib_setsockopt), and the socket's uid.
 *
 * Sizes, as Linux reads them:
 *   SOL_SOCKET, SOL_UDP  an int; fewer than sizeof(int) bytes is -EINVAL whatever the option
 *                        (the length is checked before the name); SO_LINGER takes a struct
 *                        linger. A get copies at most the value's size, fewer if the caller's
 *                        buffer is shorter. Booleans read any non-zero value as on.
 *   SOL_IP               an int, or one unsigned byte when optlen is 1..3, or 0 when optlen is
 *                        0 (sockopt_ip_int, common/sockopt.h: libsock reads values the same way).
 *                        A get of a value that fits a byte into a buffer of 1..3 bytes returns
 *                        that one byte (so IP_MULTICAST_TTL works with a char, as BSD code
 *                        expects); otherwise the int, cut to the buffer.
 * Buffer sizes: a request is capped at UDP_{R,W}MEM_MAX (a negative int counts as huge, as
 * Linux's min_t(u32, ...)), doubled, and floored at UDP_{RCV,SND}BUF_MIN.
 *
 * Records: every option lives in the socket's sealed record (the socket flags, the buffer
 * sizes, and struct udp_sock_ext). A setsockopt is applied to a copy of the record and written
 * back in one transaction only if it succeeded and changed something (udp_sock_update), so a
 * failed call changes nothing and a kill mid-write is rolled back (state_journal.h).
 *
 * What is stored only to be read back (Linux gives these no effect on a UDP socket either, or
 * an effect this stack has no use for): SO_KEEPALIVE, SO_RCVLOWAT, SO_LINGER, SO_PRIORITY (no
 * queueing disciplines here). SO_DONTROUTE is read back but not applied: with one link and at
 * most a default route, it only changes which destinations beyond the gateway are refused.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include "sockopt.h"
#include "udp_priv.h"

/* The _OLD/_NEW timestamp option numbers (asm-generic/socket.h); SO_TIMESTAMP is _OLD on
 * 64-bit targets. */
#define UDP_SO_TIMESTAMP_OLD 29
#define UDP_SO_TIMESTAMPNS_OLD 35
#define UDP_SO_TIMESTAMP_NEW 63
#define UDP_SO_TIMESTAMPNS_NEW 64

static uint32_t udp_buf_size(int val, uint32_t cap, uint32_t floor)
{
	uint32_t v = (uint32_t)val;

	if (v > cap)
		v = cap;
	v *= 2;
	return v < floor ? floor : v;
}

static void udp_flag_set(uint32_t *flags, uint32_t flag, int val)
{
	if (val)
		*flags |= flag;
	else
		*flags &= ~flag;
}

/* Linux's ip_tos2prio (net/ipv4/route.c), indexed by IPTOS_TOS(tos) >> 1: what SO_PRIORITY
 * becomes when IP_TOS is set (0 best effort, 2 bulk, 4 interactive bulk, 6 interactive). */
static const uint8_t udp_tos2prio[16] = {0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4};

void udp_ext_reset(struct udp_sock_ext *x)
{
	memset(x, 0, sizeof(*x));
	x->rcvlowat = 1;
	x->mc_ttl = 1;
	x->pmtudisc = IP_PMTUDISC_WANT; /* Linux with ip_no_pmtu_disc = 0 */
	x->flags = UDP_EXT_F_MC_LOOP;
}

int udp_ext_check(const struct udp_sock *s)
{
	const struct udp_sock_ext *x = &s->ext;

	if ((x->flags & ~UDP_EXT_F_MASK) || x->pmtudisc > IP_PMTUDISC_OMIT || x->rcvlowat < 1)
		return -EINVAL;
	if (!(s->flags & UDP_SOCK_F_BOUND) && (x->saddr || (x->flags & UDP_EXT_F_RP_GROUP)))
		return -EINVAL;
	return 0;
}

int udp_sock_set_uid(struct udp_table *t, uint32_t owner, uint32_t sid, uint32_t uid)
{
	if (!udp_sock_find(t, owner, sid))
		return -EBADF;
	udp_txn_begin(t);
	udp_sock_w(t, udp_sid_idx(sid))->ext.uid = uid;
	udp_txn_end(t);
	return 0;
}

/* Linux sock_set_timestamp. */
static void udp_set_tstamp(struct udp_sock_ext *x, int name, int on)
{
	if (!on) {
		x->flags &= ~(UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMPNS);
		return;
	}
	udp_flag_set(&x->flags, UDP_EXT_F_TSTAMPNS,
		     name == UDP_SO_TIMESTAMPNS_OLD || name == UDP_SO_TIMESTAMPNS_NEW);
	udp_flag_set(&x->flags, UDP_EXT_F_TSTAMP_NEW,
		     name == UDP_SO_TIMESTAMP_NEW || name == UDP_SO_TIMESTAMPNS_NEW);
	x->flags |= UDP_EXT_F_TSTAMP;
}

static int udp_setopt_socket(struct udp_sock *s, struct udp_sock_ext *x, int name,
			     const void *val, size_t len)
{
	int v;

	if (len < sizeof(int))
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	switch (name) {
	case SO_REUSEADDR:
		udp_flag_set(&s->flags, UDP_SOCK_F_REUSEADDR, v);
		return 0;
	case SO_REUSEPORT:
		udp_flag_set(&x->flags, UDP_EXT_F_REUSEPORT, v);
		return 0;
	case SO_BROADCAST:
		udp_flag_set(&s->flags, UDP_SOCK_F_BROADCAST, v);
		return 0;
	case SO_RCVBUF:
		s->rcvbuf = udp_buf_size(v, UDP_RMEM_MAX, UDP_RCVBUF_MIN);
		return 0;
	case SO_SNDBUF:
		s->sndbuf = udp_buf_size(v, UDP_WMEM_MAX, UDP_SNDBUF_MIN);
		return 0;
	case SO_RCVBUFFORCE:
	case SO_SNDBUFFORCE:
		return -EPERM; /* Linux asks for CAP_NET_ADMIN; no application has it here */
	case SO_KEEPALIVE:
		udp_flag_set(&x->flags, UDP_EXT_F_KEEPALIVE, v);
		return 0;
	case SO_DONTROUTE:
		udp_flag_set(&x->flags, UDP_EXT_F_DONTROUTE, v);
		return 0;
	case SO_PRIORITY:
		x->priority = (uint32_t)v; /* the shell checked who may set which value */
		return 0;
	case SO_RCVLOWAT:
		x->rcvlowat = v < 0 ? INT_MAX : v == 0 ? 1 : v;
		return 0;
	case UDP_SO_TIMESTAMP_OLD:
	case UDP_SO_TIMESTAMPNS_OLD:
	case UDP_SO_TIMESTAMP_NEW:
	case UDP_SO_TIMESTAMPNS_NEW:
		udp_set_tstamp(x, name, v);
		return 0;
	case SO_LINGER: {
		struct linger l;

		if (len < sizeof(l))
			return -EINVAL;
		memcpy(&l, val, sizeof(l));
		/* l_onoff 0 keeps the time, as Linux keeps sk_lingertime. */
		if (l.l_onoff) {
			x->linger = l.l_linger;
			x->flags |= UDP_EXT_F_LINGER;
		} else {
			x->flags &= ~UDP_EXT_F_LINGER;
		}
		return 0;
	}
	default:
		return -ENOPROTOOPT;
	}
}

static int udp_setopt_ip(struct udp_sock_ext *x, int name, const void *val, size_t len)
{
	int v = sockopt_ip_int(val, len);

	switch (name) {
	case IP_TTL:
		if (len < 1 || (v != -1 && (v < 1 || v > 255)))
			return -EINVAL;
		x->ttl = v == -1 ? 0 : (uint8_t)v;
		return 0;
	case IP_TOS:
		if (x->tos != (uint8_t)v) {
			x->tos = (uint8_t)v;
			x->priority = udp_tos2prio[(x->tos & 0x1e) >> 1];
		}
		return 0;
	case IP_MULTICAST_TTL:
		if (len < 1)
			return -EINVAL;
		if (v == -1)
			v = 1;
		if (v < 0 || v > 255)
			return -EINVAL;
		x->mc_ttl = (uint8_t)v;
		return 0;
	case IP_MULTICAST_LOOP:
		if (len < 1)
			return -EINVAL;
		udp_flag_set(&x->flags, UDP_EXT_F_MC_LOOP, v);
		return 0;
	case IP_PKTINFO:
		udp_flag_set(&x->flags, UDP_EXT_F_PKTINFO, v);
		return 0;
	case IP_RECVTTL:
		udp_flag_set(&x->flags, UDP_EXT_F_RECVTTL, v);
		return 0;
	case IP_RECVTOS:
		udp_flag_set(&x->flags, UDP_EXT_F_RECVTOS, v);
		return 0;
	case IP_RECVERR:
		udp_flag_set(&x->flags, UDP_EXT_F_RECVERR, v);
		return 0;
	case IP_MTU_DISCOVER:
		if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT)
			return -EINVAL;
		x->pmtudisc = (uint8_t)v;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

static int udp_setopt_level(struct udp_sock *s, int level, int name, const void *val,
			    size_t len)
{
	int v;

	switch (level) {
	case SOL_SOCKET:
		return udp_setopt_socket(s, &s->ext, name, val, len);
	case SOL_IP:
		return udp_setopt_ip(&s->ext, name, val, len);
	case SOL_UDP:
		if (len < sizeof(int))
			return -EINVAL;
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		memcpy(&v, val, sizeof(v));
		udp_flag_set(&s->flags, UDP_SOCK_F_CORK, v);
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

int udp_setopt(struct udp_table *t, uint32_t owner, uint32_t sid, int level, int name,
	       const void *val, size_t len)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	struct udp_sock n;
	int rc;

	if (!s)
		return -EBADF;
	if (len && !val)
		return -EFAULT;
	/* The option is applied to a copy, and the record written (in a transaction) only when
	 * the call succeeded and changed something: a failed call leaves it as it was. */
	n = *s;
	rc = udp_setopt_level(&n, level, name, val, len);
	if (rc == 0)
		udp_sock_update(t, udp_sid_idx(sid), &n);
	return rc;
}

/* Linux's "copyval" of do_ip_getsockopt. */
static void udp_getopt_ip_copy(int v, void *val, size_t *len)
{
	if (*len > 0 && *len < sizeof(int) && v >= 0 && v <= 255) {
		uint8_t b = (uint8_t)v;

		*len = 1;
		memcpy(val, &b, 1);
		return;
	}
	if (*len > sizeof(v))
		*len = sizeof(v);
	if (*len)
		memcpy(val, &v, *len);
}

static int udp_getopt_ip(const struct udp_host *h, const struct udp_sock *s,
			 const struct udp_sock_ext *x, int name, int *v)
{
	struct route_result r;

	switch (name) {
	case IP_TTL:
		*v = x->ttl ? x->ttl : (int)ROUTE_TTL_DEFAULT;
		return 0;
	case IP_TOS:
		*v = x->tos;
		return 0;
	case IP_MULTICAST_TTL:
		*v = x->mc_ttl;
		return 0;
	case IP_MULTICAST_LOOP:
		*v = !!(x->flags & UDP_EXT_F_MC_LOOP);
		return 0;
	case IP_PKTINFO:
		*v = !!(x->flags & UDP_EXT_F_PKTINFO);
		return 0;
	case IP_RECVTTL:
		*v = !!(x->flags & UDP_EXT_F_RECVTTL);
		return 0;
	case IP_RECVTOS:
		*v = !!(x->flags & UDP_EXT_F_RECVTOS);
		return 0;
	case IP_RECVERR:
		*v = !!(x->flags & UDP_EXT_F_RECVERR);
		return 0;
	case IP_MTU_DISCOVER:
		*v = x->pmtudisc;
		return 0;
	case IP_MTU:
		/* Linux: the MTU of the connected socket's cached route (dst_mtu, at most
		 * IP_MAX_MTU); none without a peer. */
		if (!(s->flags & UDP_SOCK_F_CONNECTED) ||
		    route_output(&h->rt, s->raddr, x->saddr, &r) < 0)
			return -ENOTCONN;
		*v = (int)(r.mtu > 0xffffu ? 0xffffu : r.mtu);
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

static int udp_getopt_socket(const struct udp_sock *s, const struct udp_sock_ext *x, int name,
			     int *v, struct linger *l, size_t *lv)
{
	*lv = sizeof(int);
	switch (name) {
	case SO_REUSEADDR:
		*v = !!(s->flags & UDP_SOCK_F_REUSEADDR);
		return 0;
	case SO_REUSEPORT:
		*v = !!(x->flags & UDP_EXT_F_REUSEPORT);
		return 0;
	case SO_BROADCAST:
		*v = !!(s->flags & UDP_SOCK_F_BROADCAST);
		return 0;
	case SO_RCVBUF:
		*v = (int)s->rcvbuf;
		return 0;
	case SO_SNDBUF:
		*v = (int)s->sndbuf;
		return 0;
	case SO_ERROR:
		*v = s->pending_error; /* taken by udp_getopt */
		return 0;
	case SO_TYPE:
		*v = SOCK_DGRAM;
		return 0;
	case SO_DOMAIN:
		*v = AF_INET;
		return 0;
	case SO_PROTOCOL:
		*v = IPPROTO_UDP;
		return 0;
	case SO_ACCEPTCONN:
		*v = 0;
		return 0;
	case SO_KEEPALIVE:
		*v = !!(x->flags & UDP_EXT_F_KEEPALIVE);
		return 0;
	case SO_DONTROUTE:
		*v = !!(x->flags & UDP_EXT_F_DONTROUTE);
		return 0;
	case SO_PRIORITY:
		*v = (int)x->priority;
		return 0;
	case SO_RCVLOWAT:
		*v = x->rcvlowat;
		return 0;
	case UDP_SO_TIMESTAMP_OLD:
		*v = (x->flags & (UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMPNS | UDP_EXT_F_TSTAMP_NEW)) ==
		     UDP_EXT_F_TSTAMP;
		return 0;
	case UDP_SO_TIMESTAMPNS_OLD:
		*v = (x->flags & (UDP_EXT_F_TSTAMPNS | UDP_EXT_F_TSTAMP_NEW)) == UDP_EXT_F_TSTAMPNS;
		return 0;
	case UDP_SO_TIMESTAMP_NEW:
		*v = (x->flags & (UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMP_NEW)) ==
		     (UDP_EXT_F_TSTAMP | UDP_EXT_F_TSTAMP_NEW);
		return 0;
	case UDP_SO_TIMESTAMPNS_NEW:
		*v = (x->flags & (UDP_EXT_F_TSTAMPNS | UDP_EXT_F_TSTAMP_NEW)) ==
		     (UDP_EXT_F_TSTAMPNS | UDP_EXT_F_TSTAMP_NEW);
		return 0;
	case SO_LINGER:
		l->l_onoff = !!(x->flags & UDP_EXT_F_LINGER);
		l->l_linger = x->linger;
		*lv = sizeof(*l);
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

int udp_getopt(struct udp_table *t, const struct udp_host *h, uint32_t owner, uint32_t sid,
	       int level, int name, void *val, size_t *len)
{
	const struct udp_sock *s = udp_sock_find(t, owner, sid);
	const struct udp_sock_ext *x;
	struct linger l = {0, 0};
	size_t lv = sizeof(int);
	int v = 0, rc;

	if (!s)
		return -EBADF;
	x = &s->ext;
	switch (level) {
	case SOL_IP:
		rc = udp_getopt_ip(h, s, x, name, &v);
		if (rc == 0)
			udp_getopt_ip_copy(v, val, len);
		return rc;
	case SOL_UDP:
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		v = !!(s->flags & UDP_SOCK_F_CORK);
		break;
	case SOL_SOCKET:
		rc = udp_getopt_socket(s, x, name, &v, &l, &lv);
		if (rc < 0)
			return rc;
		if (name == SO_ERROR && v) {
			/* Reading SO_ERROR takes the error (Linux sock_error). */
			udp_txn_begin(t);
			udp_sock_w(t, udp_sid_idx(sid))->pending_error = 0;
			udp_txn_end(t);
		}
		break;
	default:
		/* Linux's ip_getsockopt: EOPNOTSUPP for a level that is not IP's. */
		return -EOPNOTSUPP;
	}
	if (*len > lv)
		*len = lv;
	if (*len > 0)
		memcpy(val, lv == sizeof(l) ? (const void *)&l : (const void *)&v, *len);
	return 0;
}
