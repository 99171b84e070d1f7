/* sockets: every TCP and UDP socket of an instance, as `ss -tuna -i` lists the kernel's.
 *
 *   Netid State      Recv-Q Send-Q Local Address:Port     Peer Address:Port      Process
 *   tcp   LISTEN     0      128    0.0.0.0:80             0.0.0.0:*              users:(("ustack-http",pid=812)) uid:0
 *   tcp   ESTAB      0      0      10.0.0.2:80            10.0.0.1:45822         users:(("ustack-http",pid=812)) uid:0
 *   	 ts sack cubic wscale:7,7 rto:204 rtt:0.31/0.155 mss:1448 pmtu:1500 rcvmss:536 cwnd:10 ...
 *   udp   UNCONN     0      0      0.0.0.0:7              0.0.0.0:*              users:(("ustack-echo",pid=640)) uid:0
 *
 * JSON (--json): {"sockets": [{"netid": "tcp", "state": "ESTAB", "recv_q": 0, "send_q": 0,
 * "local_addr": "10.0.0.2", "local_port": 80, "peer_addr": "10.0.0.1", "peer_port": 45822,
 * "uid": 0, "pid": 812, "process": "ustack-http", "id": 65539, "tcp": {"rtt_us": 310, ...}},
 * ...]}; uid, pid and process are null when not known, "tcp" only for TCP connections,
 * "drops" for UDP sockets.
 *
 * Each transport server (tcpd, udpd: the present ones in layer.c) answers ctl SOCKETS a page at
 * a time (proto/ctl.proto); pages are fetched until the server says there are no more, with a
 * bound on their number against a server that never says so. A server that does not answer is
 * reported on stderr, the others are still listed, and the exit status is 1. The process name
 * is read from /proc/<pid>/comm (the pid the server saw when the application connected).
 * Strings that come from a server are escaped before they reach the output.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ctl.h"
#include "ustackctl.h"

#define SOCKETS_TIMEOUT_MS 1000
#define SOCKETS_PAGES_MAX 1024u /* tcpd's table is 35 pages of 128, udpd's 8 */

struct sockets_pages {
	Ustack__CtlReply *page[SOCKETS_PAGES_MAX];
	unsigned n;
};

/* Every page of layer's socket table into p. 0, or a negative errno (printed). */
static int sockets_fetch(void *zctx, const char *instance, const char *layer,
			 struct sockets_pages *p)
{
	char why[UCTL_PATH_MAX + 32];
	if (status_ctl_check(instance, layer, why, sizeof(why)) < 0) {
		uctl_err("%s: not running (%s)", layer, why);
		return -ENOENT;
	}
	uint32_t cursor = 0;
	for (;;) {
		if (p->n == SOCKETS_PAGES_MAX) {
			uctl_err("%s: more than %u pages of sockets: giving up", layer,
				 SOCKETS_PAGES_MAX);
			return -E2BIG;
		}
		Ustack__CtlReply *r = NULL;
		int rc = ctl_call_page(zctx, instance, layer, USTACK__CTL_REQUEST__TYPE__SOCKETS,
				       cursor, SOCKETS_TIMEOUT_MS, &r);
		if (rc < 0) {
			uctl_err("%s: %s", layer,
				 rc == -ETIMEDOUT ? "no answer (is the instance up?)" : strerror(-rc));
			return rc;
		}
		if (r->status != 0) {
			rc = r->status < 0 ? r->status : -EPROTO;
			uctl_err("%s: sockets request failed: %s", layer,
				 rc == -EOPNOTSUPP ? "not supported by this server"
						   : strerror(-rc));
			ustack__ctl_reply__free_unpacked(r, NULL);
			return rc;
		}
		p->page[p->n++] = r;
		if (!r->more)
			return 0;
		if (r->next_cursor <= cursor) {
			uctl_err("%s: the socket list does not advance (cursor %" PRIu32 ")", layer,
				 cursor);
			return -EPROTO;
		}
		cursor = r->next_cursor;
	}
}

static void sockets_addr(uint32_t addr, uint32_t port, char *out, size_t size)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = addr};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	if (port)
		snprintf(out, size, "%s:%" PRIu32, a, port);
	else
		snprintf(out, size, "%s:*", a);
}

/* /proc/<pid>/comm into out ("" if it cannot be read). */
static void sockets_comm(uint32_t pid, char *out, size_t size)
{
	out[0] = '\0';
	if (!pid)
		return;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/comm", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)size, f))
		out[strcspn(out, "\n")] = '\0';
	else
		out[0] = '\0';
	fclose(f);
}

/* A string from a server or /proc, safe inside a JSON string: quotes, backslashes, control
 * and non-ASCII bytes escaped (the output stays ASCII whatever the bytes were). */
static void sockets_json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* The same for the text output: printable ASCII kept, anything else as '?'. */
static const char *sockets_text_str(const char *s, char *buf, size_t size)
{
	size_t i = 0;
	for (; s[i] && i + 1 < size; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static const char *sockets_netid(uint32_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* ss prints ssthresh only once it is set (below TCP_INFINITE_SSTHRESH bytes). */
static bool sockets_ssthresh_set(const Ustack__TcpInfo *t)
{
	return (uint64_t)t->ssthresh * (t->snd_mss ? t->snd_mss : 536) < 0x7fffffffull;
}

static void sockets_print_tcp_text(const Ustack__TcpInfo *t)
{
	char cc[32], ca[32];
	printf("\t");
	if (t->options & 1)
		printf(" ts");
	if (t->options & 2)
		printf(" sack");
	printf(" %s", sockets_text_str(t->cc, cc, sizeof(cc)));
	if (t->options & 4)
		printf(" wscale:%" PRIu32 ",%" PRIu32, t->snd_wscale, t->rcv_wscale);
	printf(" rto:%g", t->rto_us / 1000.0);
	if (t->backoff)
		printf(" backoff:%" PRIu32, t->backoff);
	printf(" rtt:%g/%g mss:%" PRIu32 " pmtu:%" PRIu32 " rcvmss:%" PRIu32 " cwnd:%" PRIu32,
	       t->rtt_us / 1000.0, t->rttvar_us / 1000.0, t->snd_mss, t->pmtu, t->rcv_mss, t->cwnd);
	if (sockets_ssthresh_set(t))
		printf(" ssthresh:%" PRIu32, t->ssthresh);
	printf(" bytes_acked:%" PRIu64 " bytes_received:%" PRIu64 " segs_out:%" PRIu32
	       " segs_in:%" PRIu32 " lastsnd:%" PRIu32 " lastrcv:%" PRIu32,
	       t->bytes_acked, t->bytes_received, t->segs_out, t->segs_in, t->last_data_sent_ms,
	       t->last_data_recv_ms);
	if (t->unacked)
		printf(" unacked:%" PRIu32, t->unacked);
	printf(" retrans:%" PRIu32 "/%" PRIu32, t->retransmits, t->total_retrans);
	if (t->lost)
		printf(" lost:%" PRIu32, t->lost);
	if (t->sacked)
		printf(" sacked:%" PRIu32, t->sacked);
	printf(" rcv_space:%" PRIu32 " snd_wnd:%" PRIu32, t->rcv_space, t->snd_wnd);
	if (t->min_rtt_us)
		printf(" minrtt:%g", t->min_rtt_us / 1000.0);
	printf(" ca:%s\n", sockets_text_str(t->ca_state, ca, sizeof(ca)));
}

static void sockets_print_text(const Ustack__SocketEntry *e)
{
	char l[32], p[32], st[16], comm[64], cbuf[64];
	sockets_addr(e->local_addr, e->local_port, l, sizeof(l));
	sockets_addr(e->peer_addr, e->peer_port, p, sizeof(p));
	printf("%-5s %-10s %-6" PRIu32 " %-6" PRIu32 " %-22s %-22s", sockets_netid(e->protocol),
	       sockets_text_str(e->state, st, sizeof(st)), e->recv_q, e->send_q, l, p);
	if (e->owner_known) {
		sockets_comm(e->pid, comm, sizeof(comm));
		if (e->pid)
			printf(" users:((\"%s\",pid=%" PRIu32 "))",
			       sockets_text_str(comm, cbuf, sizeof(cbuf)), e->pid);
		printf(" uid:%" PRIu32, e->uid);
	}
	printf("\n");
	if (e->tcp)
		sockets_print_tcp_text(e->tcp);
}

static void sockets_print_json(const Ustack__SocketEntry *e, bool first)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in;
	printf("%s\n    {\"netid\": \"%s\", \"state\": ", first ? "" : ",", sockets_netid(e->protocol));
	sockets_json_str(e->state);
	printf(", \"recv_q\": %" PRIu32 ", \"send_q\": %" PRIu32, e->recv_q, e->send_q);
	in.s_addr = e->local_addr;
	printf(", \"local_addr\": \"%s\", \"local_port\": %" PRIu32,
	       inet_ntop(AF_INET, &in, a, sizeof(a)), e->local_port);
	in.s_addr = e->peer_addr;
	printf(", \"peer_addr\": \"%s\", \"peer_port\": %" PRIu32,
	       inet_ntop(AF_INET, &in, a, sizeof(a)), e->peer_port);
	if (e->owner_known) {
		char comm[64];
		sockets_comm(e->pid, comm, sizeof(comm));
		printf(", \"uid\": %" PRIu32 ", \"pid\": ", e->uid);
		if (e->pid)
			printf("%" PRIu32, e->pid);
		else
			printf("null");
		printf(", \"process\": ");
		if (comm[0])
			sockets_json_str(comm);
		else
			printf("null");
	} else {
		printf(", \"uid\": null, \"pid\": null, \"process\": null");
	}
	printf(", \"id\": %" PRIu32, e->id);
	if (e->protocol == IPPROTO_UDP)
		printf(", \"drops\": %" PRIu64, e->drops);
	if (e->tcp) {
		const Ustack__TcpInfo *t = e->tcp;
		printf(",\n     \"tcp\": {\"rtt_us\": %" PRIu32 ", \"rttvar_us\": %" PRIu32
		       ", \"min_rtt_us\": %" PRIu32 ", \"rto_us\": %" PRIu32 ", \"snd_mss\": %" PRIu32
		       ", \"rcv_mss\": %" PRIu32 ", \"pmtu\": %" PRIu32 ", \"cwnd\": %" PRIu32
		       ", \"ssthresh\": ",
		       t->rtt_us, t->rttvar_us, t->min_rtt_us, t->rto_us, t->snd_mss, t->rcv_mss,
		       t->pmtu, t->cwnd);
		if (sockets_ssthresh_set(t))
			printf("%" PRIu32, t->ssthresh);
		else
			printf("null");
		printf(", \"retransmits\": %" PRIu32 ", \"total_retrans\": %" PRIu32
		       ", \"unacked\": %" PRIu32 ", \"sacked\": %" PRIu32 ", \"lost\": %" PRIu32
		       ", \"retrans\": %" PRIu32 ", \"bytes_acked\": %" PRIu64
		       ", \"bytes_received\": %" PRIu64 ", \"segs_out\": %" PRIu32
		       ", \"segs_in\": %" PRIu32 ", \"snd_wnd\": %" PRIu32 ", \"rcv_space\": %" PRIu32
		       ", \"snd_wscale\": %" PRIu32 ", \"rcv_wscale\": %" PRIu32
		       ", \"options\": %" PRIu32 ", \"backoff\": %" PRIu32
		       ", \"last_data_sent_ms\": %" PRIu32 ", \"last_data_recv_ms\": %" PRIu32
		       ", \"cc\": ",
		       t->retransmits, t->total_retrans, t->unacked, t->sacked, t->lost, t->retrans,
		       t->bytes_acked, t->bytes_received, t->segs_out, t->segs_in, t->snd_wnd,
		       t->rcv_space, t->snd_wscale, t->rcv_wscale, t->options, t->backoff,
		       t->last_data_sent_ms, t->last_data_recv_ms);
		sockets_json_str(t->cc);
		printf(", \"ca_state\": ");
		sockets_json_str(t->ca_state);
		printf("}");
	}
	printf("}");
}

int sockets_cmd(const struct uctl_opts *o)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	struct sockets_pages *p = calloc(1, sizeof(*p));
	if (!p) {
		zmq_ctx_term(zctx);
		uctl_err("out of memory");
		return UCTL_EXIT_FAIL;
	}
	bool failed = false;
	/* TCP first, then UDP (the transports in the layer table that run) */
	static const char *const layers[] = {"tcpd", "udpd"};
	for (unsigned i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
		const struct layer_info *l = layer_find(layers[i]);
		if (!l || !l->present)
			continue;
		if (sockets_fetch(zctx, o->instance, l->name, p) < 0)
			failed = true;
	}
	bool first = true;
	if (o->json)
		printf("{\"sockets\": [");
	else
		printf("%-5s %-10s %-6s %-6s %-22s %-22s %s\n", "Netid", "State", "Recv-Q", "Send-Q",
		       "Local Address:Port", "Peer Address:Port", "Process");
	for (unsigned k = 0; k < p->n; k++) {
		for (size_t i = 0; i < p->page[k]->n_sockets; i++) {
			const Ustack__SocketEntry *e = p->page[k]->sockets[i];
			if (o->json)
				sockets_print_json(e, first);
			else
				sockets_print_text(e);
			first = false;
		}
	}
	if (o->json)
		printf("%s]}\n", first ? "" : "\n  ");
	for (unsigned k = 0; k < p->n; k++)
		ustack__ctl_reply__free_unpacked(p->page[k], NULL);
	free(p);
	zmq_ctx_term(zctx);
	if (fflush(stdout) != 0) {
		uctl_err("cannot write output: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	return failed ? UCTL_EXIT_FAIL : UCTL_EXIT_OK;
}
