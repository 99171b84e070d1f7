/* udp_opt: setsockopt/getsockopt for the options whose state lives in the socket table
 * (Linux net/core/sock.c sk_setsockopt/sk_getsockopt, net/ipv4/udp.c udp_lib_setsockopt).
 *
 * Values are ints. As Linux: a set with fewer than sizeof(int) bytes is -EINVAL whatever the
 * option (the length is checked before the name); a get copies at most sizeof(int) bytes and
 * fewer if the caller's buffer is shorter; boolean options read any non-zero value as on.
 * Buffer sizes: a request is capped at UDP_{R,W}MEM_MAX (a negative int counts as huge, as
 * Linux's min_t(u32, ...)), doubled, and floored at UDP_{RCV,SND}BUF_MIN.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include "udp_priv.h"

static uint32_t udp_buf_size(int val, uint32_t cap, uint32_t floor)
{
	uint32_t v = (uint32_t)val;

	if (v > cap)
		v = cap;
	v *= 2;
	return v < floor ? floor : v;
}

static void udp_flag_set(struct udp_table *t, uint32_t sid, uint32_t flag, int val)
{
	struct udp_sock *s = udp_sock_w(t, udp_sid_idx(sid));

	if (val)
		s->flags |= flag;
	else
		s->flags &= ~flag;
}

static int udp_setopt_txn(struct udp_table *t, uint32_t owner, uint32_t sid, int level,
			  int name, const void *val, size_t len)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	int v;

	if (!s)
		return -EBADF;
	if (level != SOL_SOCKET && level != SOL_UDP)
		return -ENOPROTOOPT;
	if (len < sizeof(int) || !val)
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	if (level == SOL_UDP) {
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		udp_flag_set(t, sid, UDP_SOCK_F_CORK, v);
		return 0;
	}
	switch (name) {
	case SO_REUSEADDR:
		udp_flag_set(t, sid, UDP_SOCK_F_REUSEADDR, v);
		return 0;
	case SO_BROADCAST:
		udp_flag_set(t, sid, UDP_SOCK_F_BROADCAST, v);
		return 0;
	case SO_RCVBUF:
		udp_sock_w(t, udp_sid_idx(sid))->rcvbuf =
			udp_buf_size(v, UDP_RMEM_MAX, UDP_RCVBUF_MIN);
		return 0;
	case SO_SNDBUF:
		udp_sock_w(t, udp_sid_idx(sid))->sndbuf =
			udp_buf_size(v, UDP_WMEM_MAX, UDP_SNDBUF_MIN);
		return 0;
	case SO_RCVBUFFORCE:
	case SO_SNDBUFFORCE:
		return -EPERM; /* Linux asks for CAP_NET_ADMIN; no application has it here */
	default:
		return -ENOPROTOOPT;
	}
}

int udp_setopt(struct udp_table *t, uint32_t owner, uint32_t sid, int level, int name,
	       const void *val, size_t len)
{
	udp_txn_begin(t);
	int rc = udp_setopt_txn(t, owner, sid, level, name, val, len);
	udp_txn_end(t);
	return rc;
}

int udp_getopt(struct udp_table *t, uint32_t owner, uint32_t sid, int level, int name,
	       void *val, size_t *len)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	int v;

	if (!s)
		return -EBADF;
	if (level == SOL_UDP) {
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		v = !!(s->flags & UDP_SOCK_F_CORK);
	} else if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			v = !!(s->flags & UDP_SOCK_F_REUSEADDR);
			break;
		case SO_BROADCAST:
			v = !!(s->flags & UDP_SOCK_F_BROADCAST);
			break;
		case SO_RCVBUF:
			v = (int)s->rcvbuf;
			break;
		case SO_SNDBUF:
			v = (int)s->sndbuf;
			break;
		case SO_ERROR:
			v = s->pending_error;
			if (v) {
				udp_txn_begin(t);
				udp_sock_w(t, udp_sid_idx(sid))->pending_error = 0;
				udp_txn_end(t);
			}
			break;
		case SO_TYPE:
			v = SOCK_DGRAM;
			break;
		case SO_DOMAIN:
			v = AF_INET;
			break;
		case SO_PROTOCOL:
			v = IPPROTO_UDP;
			break;
		case SO_ACCEPTCONN:
			v = 0;
			break;
		default:
			return -ENOPROTOOPT;
		}
	} else {
		/* Linux's ip_getsockopt: EOPNOTSUPP for a level that is not IP's; IP-level options
		 * are not implemented here, which Linux would report as ENOPROTOOPT. */
		return level == SOL_IP ? -ENOPROTOOPT : -EOPNOTSUPP;
	}
	if (*len > sizeof(v))
		*len = sizeof(v);
	if (*len > 0)
		memcpy(val, &v, *len);
	return 0;
}
