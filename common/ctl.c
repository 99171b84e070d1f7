/* ctl: control socket of a server (ZeroMQ ROUTER) and the one-shot client call of ustackctl.
 *
 * A request is a two-frame ROUTER message [identity][CtlRequest]. Anything else (more frames, a
 * body that does not unpack, a body above CTL_MAX_REQUEST bytes) is answered with -EBADMSG when
 * an identity is known, and otherwise dropped; the server never trusts a request's contents
 * beyond what protobuf-c validated.
 *
 * Memory for a reply (counter names, arrays) comes from a per-request scratch list freed before
 * the next request, so handlers never leak and never keep pointers into old replies.
 */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "hist.h"
#include "log.h"
#include "paths.h"
#include "router.h"
#include "runtime_sock.h"

#define CTL_MAX_REQUEST 4096
#define CTL_MAX_IDENTITY 256
#define CTL_RECONNECT_MS 10 /* a client's connect retry while a layer restarts */

struct ctl_scratch {
	struct ctl_scratch *next;
	max_align_t data[];
};

struct ctl_server {
	void *sock;
	ctl_handler_fn fn;
	void *arg;
	ctl_handler_fn ext_fn; /* ctl_server_set_ext, or NULL */
	void *ext_arg;
	char layer[16];
	struct ctl_scratch *scratch;
	uint64_t requests;
	uint64_t bad_requests;
};

int ctl_path(const char *instance, const char *layer, char *path, size_t size)
{
	char file[64];
	if (snprintf(file, sizeof(file), "%s.ctl", layer) >= (int)sizeof(file))
		return -ENAMETOOLONG;
	return ustack_runtime_path(instance, file, path, size);
}

static int ctl_endpoint(const char *instance, const char *layer, char *out, size_t size)
{
	char path[256];
	int rc = ctl_path(instance, layer, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (snprintf(out, size, "ipc://%s", path) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int ctl_server_open(void *zctx, const char *instance, const char *layer, ctl_handler_fn fn,
		    void *arg, struct ctl_server **out)
{
	char path[256];
	int rc = ctl_path(instance, layer, path, sizeof(path));
	if (rc == 0)
		rc = ustack_runtime_dir_create(instance);
	if (rc < 0)
		return rc;

	struct ctl_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->sock = zmq_socket(zctx, ZMQ_ROUTER);
	if (!srv->sock) {
		rc = -errno;
		free(srv);
		return rc;
	}
	int linger = 0;
	int64_t maxmsg = CTL_MAX_REQUEST; /* bigger frames drop the peer's connection */
	zmq_setsockopt(srv->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(srv->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	/* ustackctl takes a missing file for a layer that is not running: the name must never
	 * go missing while a successor replaces a killed server's socket. Only the stack's own
	 * user (and root) may ask. */
	rc = runtime_sock_bind_zmq(srv->sock, path, 0600);
	if (rc < 0) {
		zmq_close(srv->sock);
		free(srv);
		return rc;
	}
	srv->fn = fn;
	srv->arg = arg;
	snprintf(srv->layer, sizeof(srv->layer), "%s", layer);
	*out = srv;
	return 0;
}

static void ctl_scratch_release(struct ctl_server *srv)
{
	while (srv->scratch) {
		struct ctl_scratch *s = srv->scratch;
		srv->scratch = s->next;
		free(s);
	}
}

void ctl_server_close(struct ctl_server **srvp)
{
	struct ctl_server *srv = *srvp;
	if (!srv)
		return;
	ctl_scratch_release(srv);
	zmq_close(srv->sock);
	free(srv);
	*srvp = NULL;
}

void *ctl_server_socket(struct ctl_server *srv) { return srv->sock; }

void ctl_server_set_ext(struct ctl_server *srv, ctl_handler_fn fn, void *arg)
{
	srv->ext_fn = fn;
	srv->ext_arg = arg;
}

/* The handler, and the extension where it answers or adds. */
static int ctl_dispatch(struct ctl_server *srv, const Ustack__CtlRequest *req,
			Ustack__CtlReply *reply)
{
	if (req->type == USTACK__CTL_REQUEST__TYPE__FAULT && srv->ext_fn)
		return srv->ext_fn(srv->ext_arg, req, reply, srv);
	int rc = srv->fn(srv->arg, req, reply, srv);
	if (rc == 0 && srv->ext_fn &&
	    (req->type == USTACK__CTL_REQUEST__TYPE__STATUS ||
	     req->type == USTACK__CTL_REQUEST__TYPE__STATS))
		rc = srv->ext_fn(srv->ext_arg, req, reply, srv);
	return rc;
}

void *ctl_reply_alloc(struct ctl_server *srv, size_t size)
{
	struct ctl_scratch *s = calloc(1, sizeof(*s) + size);
	if (!s)
		return NULL;
	s->next = srv->scratch;
	srv->scratch = s;
	return s->data;
}

int ctl_reply_add_counter(struct ctl_server *srv, Ustack__CtlReply *reply, const char *name,
			  uint64_t value)
{
	/* Grow by doubling inside scratch memory: old arrays are simply left for the release. */
	size_t n = reply->n_counters;
	if ((n & (n - 1)) == 0) {
		size_t cap = n ? n * 2 : 16;
		Ustack__Counter **arr = ctl_reply_alloc(srv, cap * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		if (n)
			memcpy(arr, reply->counters, n * sizeof(*arr));
		reply->counters = arr;
	}
	Ustack__Counter *c = ctl_reply_alloc(srv, sizeof(*c));
	char *nm = ctl_reply_alloc(srv, strlen(name) + 1);
	if (!c || !nm)
		return -ENOMEM;
	ustack__counter__init(c);
	strcpy(nm, name);
	c->name = nm;
	c->value = value;
	reply->counters[n] = c;
	reply->n_counters = n + 1;
	return 0;
}

int ctl_reply_add_hist(struct ctl_server *srv, Ustack__CtlReply *reply, const char *name,
		       const struct hist *h)
{
	size_t n = reply->n_hists;
	if ((n & (n - 1)) == 0) {
		size_t cap = n ? n * 2 : 8;
		Ustack__Histogram **arr = ctl_reply_alloc(srv, cap * sizeof(*arr));
		if (!arr)
			return -ENOMEM;
		if (n)
			memcpy(arr, reply->hists, n * sizeof(*arr));
		reply->hists = arr;
	}
	unsigned used = hist_used(h);
	Ustack__Histogram *m = ctl_reply_alloc(srv, sizeof(*m));
	char *nm = ctl_reply_alloc(srv, strlen(name) + 1);
	uint64_t *b = ctl_reply_alloc(srv, (used ? used : 1) * sizeof(*b));
	if (!m || !nm || !b)
		return -ENOMEM;
	ustack__histogram__init(m);
	strcpy(nm, name);
	/* A copy: the layer keeps counting while the reply is packed. */
	memcpy(b, h->b, used * sizeof(*b));
	m->name = nm;
	m->scheme = HIST_SCHEME;
	m->buckets = b;
	m->n_buckets = used;
	reply->hists[n] = m;
	reply->n_hists = n + 1;
	return 0;
}

int ctl_reply_add_counters(struct ctl_server *srv, Ustack__CtlReply *reply, const char *prefix,
			   const struct stat_field *fields, unsigned n, const void *stats)
{
	char name[128];
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, fields[i].name);
		int rc = ctl_reply_add_counter(srv, reply, name, stat_value(stats, &fields[i]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void ctl_send_reply(struct ctl_server *srv, const void *ident, size_t ident_len,
			   const Ustack__CtlReply *reply)
{
	size_t len = ustack__ctl_reply__get_packed_size(reply);
	uint8_t *body = malloc(len ? len : 1);
	if (!body)
		return;
	ustack__ctl_reply__pack(reply, body);
	/* DONTWAIT: a client that stopped reading must not wedge the server's loop. */
	if (zmq_send(srv->sock, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_send(srv->sock, body, len, ZMQ_DONTWAIT);
	free(body);
}

unsigned ctl_server_poll(struct ctl_server *srv, unsigned budget)
{
	unsigned served = 0;
	while (served < budget) {
		uint8_t ident[CTL_MAX_IDENTITY];
		uint8_t body[CTL_MAX_REQUEST];
		size_t ilen = 0;
		int blen = router_recv(srv->sock, ident, sizeof(ident), &ilen, body, sizeof(body));
		if (blen == -EAGAIN)
			break;
		served++;
		if (blen == -ENOMSG) {
			srv->bad_requests++;
			continue; /* no usable identity: nobody to answer */
		}
		Ustack__CtlReply reply;
		ustack__ctl_reply__init(&reply);
		reply.layer = srv->layer;
		Ustack__CtlRequest *req = NULL;
		if (blen >= 0)
			req = ustack__ctl_request__unpack(NULL, (size_t)blen, body);
		if (!req) {
			srv->bad_requests++;
			reply.status = -EBADMSG;
			ctl_send_reply(srv, ident, ilen, &reply);
			continue;
		}
		srv->requests++;
		reply.id = req->id;
		reply.pid = (uint32_t)getpid();
		int rc = ctl_dispatch(srv, req, &reply);
		if (rc < 0)
			reply.status = rc;
		ctl_send_reply(srv, ident, ilen, &reply);
		ustack__ctl_request__free_unpacked(req, NULL);
		ctl_scratch_release(srv);
	}
	return served;
}

int ctl_reply_add_sockets(struct ctl_server *srv, Ustack__CtlReply *reply,
			  const struct sock_diag *d, unsigned n, uint32_t next_cursor, bool more)
{
	Ustack__SocketEntry **arr = n ? ctl_reply_alloc(srv, n * sizeof(*arr)) : NULL;
	Ustack__SocketEntry *e = n ? ctl_reply_alloc(srv, n * sizeof(*e)) : NULL;
	if (n && (!arr || !e))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		ustack__socket_entry__init(&e[i]);
		e[i].protocol = d[i].protocol;
		/* protobuf-c's strings are char *; packing only reads them */
		e[i].state = (char *)(d[i].state ? d[i].state : "");
		e[i].local_addr = d[i].laddr;
		e[i].local_port = d[i].lport;
		e[i].peer_addr = d[i].raddr;
		e[i].peer_port = d[i].rport;
		e[i].recv_q = d[i].recv_q;
		e[i].send_q = d[i].send_q;
		e[i].owner_known = d[i].owner_known;
		e[i].uid = d[i].uid;
		e[i].pid = d[i].pid;
		e[i].id = d[i].id;
		e[i].drops = d[i].drops;
		if (d[i].has_tcp) {
			const struct sock_diag_tcp *t = &d[i].tcp;
			Ustack__TcpInfo *ti = ctl_reply_alloc(srv, sizeof(*ti));
			if (!ti)
				return -ENOMEM;
			ustack__tcp_info__init(ti);
			ti->rtt_us = t->rtt_us;
			ti->rttvar_us = t->rttvar_us;
			ti->min_rtt_us = t->min_rtt_us;
			ti->rto_us = t->rto_us;
			ti->snd_mss = t->snd_mss;
			ti->rcv_mss = t->rcv_mss;
			ti->cwnd = t->cwnd;
			ti->ssthresh = t->ssthresh;
			ti->retransmits = t->retransmits;
			ti->total_retrans = t->total_retrans;
			ti->unacked = t->unacked;
			ti->sacked = t->sacked;
			ti->lost = t->lost;
			ti->retrans = t->retrans;
			ti->bytes_acked = t->bytes_acked;
			ti->bytes_received = t->bytes_received;
			ti->segs_out = t->segs_out;
			ti->segs_in = t->segs_in;
			ti->snd_wnd = t->snd_wnd;
			ti->rcv_space = t->rcv_space;
			ti->snd_wscale = t->snd_wscale;
			ti->rcv_wscale = t->rcv_wscale;
			ti->options = t->options;
			ti->cc = (char *)(t->cc ? t->cc : "");
			ti->ca_state = (char *)(t->ca_state ? t->ca_state : "");
			ti->pmtu = t->pmtu;
			ti->backoff = t->backoff;
			ti->last_data_sent_ms = t->last_data_sent_ms;
			ti->last_data_recv_ms = t->last_data_recv_ms;
			e[i].tcp = ti;
		}
		arr[i] = &e[i];
	}
	reply->sockets = arr;
	reply->n_sockets = n;
	reply->next_cursor = next_cursor;
	reply->more = more;
	return 0;
}

int ctl_call(void *zctx, const char *instance, const char *layer, Ustack__CtlRequest__Type type,
	     int timeout_ms, Ustack__CtlReply **out)
{
	return ctl_call_page(zctx, instance, layer, type, 0, timeout_ms, out);
}

int ctl_call_page(void *zctx, const char *instance, const char *layer,
		  Ustack__CtlRequest__Type type, uint32_t cursor, int timeout_ms,
		  Ustack__CtlReply **out)
{
	Ustack__CtlRequest req;
	ustack__ctl_request__init(&req);
	req.type = type;
	req.cursor = cursor;
	return ctl_call_request(zctx, instance, layer, &req, timeout_ms, out);
}

int ctl_call_request(void *zctx, const char *instance, const char *layer, Ustack__CtlRequest *req,
		     int timeout_ms, Ustack__CtlReply **out)
{
	char ep[300];
	int rc = ctl_endpoint(instance, layer, ep, sizeof(ep));
	if (rc < 0)
		return rc;
	uint64_t id = ((uint64_t)getpid() << 32) ^ (uint64_t)rand();
	req->id = id;
	uint8_t buf[512];
	size_t len = ustack__ctl_request__get_packed_size(req);
	if (len > sizeof(buf))
		return -EMSGSIZE;
	ustack__ctl_request__pack(req, buf);
	void *s = zmq_socket(zctx, ZMQ_DEALER);
	if (!s)
		return -errno;
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	/* Asked while the layer restarts, we find the dead server's socket file and are refused:
	 * try again soon, or the answer would come up to ZeroMQ's default 100 ms after the new
	 * server listens. */
	int ivl = CTL_RECONNECT_MS;
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (zmq_connect(s, ep) < 0) {
		rc = -errno;
		zmq_close(s);
		return rc;
	}
	if (zmq_send(s, buf, len, 0) < 0) {
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		zmq_close(s);
		return rc;
	}
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	for (;;) {
		if (zmq_msg_recv(&msg, s, 0) < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		Ustack__CtlReply *r =
			ustack__ctl_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
		if (!r) {
			rc = -EBADMSG;
			break;
		}
		if (r->id != id) { /* a late answer to somebody's earlier request: skip it */
			ustack__ctl_reply__free_unpacked(r, NULL);
			continue;
		}
		*out = r;
		rc = 0;
		break;
	}
	zmq_msg_close(&msg);
	zmq_close(s);
	return rc;
}
