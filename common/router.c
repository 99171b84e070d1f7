/* router: receiving one [identity][body] request from a ZeroMQ ROUTER socket. */
#include "router.h"

#include <errno.h>
#include <stdbool.h>
#include <zmq.h>

static bool router_more(void *sock)
{
	int more = 0;
	size_t sz = sizeof(more);
	return zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more;
}

/* Read the remaining frames of a multipart message so the next recv starts a new one. */
static void router_drain(void *sock)
{
	while (router_more(sock)) {
		char sink[64];
		if (zmq_recv(sock, sink, sizeof(sink), ZMQ_DONTWAIT) < 0)
			break;
	}
}

int router_recv(void *sock, uint8_t *ident, size_t ident_max, size_t *ident_len, uint8_t *body,
		size_t body_max)
{
	int ilen = zmq_recv(sock, ident, ident_max, ZMQ_DONTWAIT);
	if (ilen < 0)
		return -EAGAIN;
	if (!router_more(sock) || (size_t)ilen > ident_max) {
		router_drain(sock);
		return -ENOMSG;
	}
	*ident_len = (size_t)ilen;
	int blen = zmq_recv(sock, body, body_max, ZMQ_DONTWAIT);
	bool more = router_more(sock);
	if (more)
		router_drain(sock);
	if (blen < 0 || (size_t)blen > body_max || more)
		return -EBADMSG;
	return blen;
}
