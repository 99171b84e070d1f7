/* snmp: the transports' MIB counters laid out as the kernel's /proc/net/snmp and
 * /proc/net/netstat lay out theirs, so that what tools and people read of Linux (`cat
 * /proc/net/snmp`, a diff against `ip netns exec NS cat /proc/net/snmp`) reads the same of
 * ustack:
 *
 *   Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens ...
 *   Tcp: 1 200 120000 -1 3 1 ...
 *   Udp: InDatagrams NoPorts InErrors OutDatagrams ...
 *   Udp: 10 0 0 10 ...
 *   TcpExt: SyncookiesSent SyncookiesRecv ...
 *   TcpExt: 0 0 ...
 *
 * Each MIB name maps to the counter the layer reports under its own snake_case name in STATS
 * (servers/tcp/tcp_stats.c, servers/udp/udp_table.c): the meanings are Linux's (RFC 4022 for
 * Tcp:, RFC 4113 for Udp:, the kernel's LINUX_MIB_* for TcpExt:). The constants of the Tcp:
 * line (RtoAlgorithm 1 = "other", Linux's choice; RtoMin, RtoMax in ms; MaxConn -1 =
 * dynamic) are the core's. Only counters ustack keeps are listed; a layer that is not running
 * leaves its lines out and makes the exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "ctl.h"
#include "ustackctl.h"

#define SNMP_TIMEOUT_MS 1000

struct snmp_field {
	const char *mib;     /* the kernel's name */
	const char *counter; /* the layer's STATS name; NULL: a constant */
	int64_t constant;
};

struct snmp_line {
	const char *prefix;  /* "Tcp", "TcpExt", "Udp" */
	const char *layer;   /* whose STATS it reads */
	const struct snmp_field *fields;
	size_t n_fields;
};

/* RFC 4022 tcpRtoAlgorithm etc.: the values Linux prints (net/ipv4/proc.c). */
static const struct snmp_field snmp_tcp[] = {
	{"RtoAlgorithm", NULL, 1},
	{"RtoMin", NULL, 200},
	{"RtoMax", NULL, 120000},
	{"MaxConn", NULL, -1},
	{"ActiveOpens", "active_opens", 0},
	{"PassiveOpens", "passive_opens", 0},
	{"AttemptFails", "attempt_fails", 0},
	{"EstabResets", "estab_resets", 0},
	{"CurrEstab", "curr_estab", 0},
	{"InSegs", "in_segs", 0},
	{"OutSegs", "out_segs", 0},
	{"RetransSegs", "retrans_segs", 0},
	{"InErrs", "in_errs", 0},
	{"OutRsts", "out_rsts", 0},
	{"InCsumErrors", "in_csum_errors", 0},
};

static const struct snmp_field snmp_udp[] = {
	{"InDatagrams", "in_datagrams", 0},   {"NoPorts", "no_ports", 0},
	{"InErrors", "in_errors", 0},         {"OutDatagrams", "out_datagrams", 0},
	{"RcvbufErrors", "rcvbuf_errors", 0}, {"SndbufErrors", "sndbuf_errors", 0},
	{"InCsumErrors", "in_csum_errors", 0}, {"IgnoredMulti", "ignored_multi", 0},
};

/* The LINUX_MIB_* counters tcpd keeps, in the order the kernel prints them. */
static const struct snmp_field snmp_tcpext[] = {
	{"SyncookiesSent", "syncookies_sent", 0},
	{"SyncookiesRecv", "syncookies_recv", 0},
	{"SyncookiesFailed", "syncookies_failed", 0},
	{"EmbryonicRsts", "embryonic_rsts", 0},
	{"PAWSEstab", "paws_estab_rejected", 0},
	{"DelayedACKs", "delayed_acks", 0},
	{"ListenOverflows", "listen_overflows", 0},
	{"ListenDrops", "listen_drops", 0},
	{"TCPRenoRecovery", "tcp_reno_recovery", 0},
	{"TCPSackRecovery", "tcp_sack_recovery", 0},
	{"TCPFastRetrans", "tcp_fast_retrans", 0},
	{"TCPSlowStartRetrans", "tcp_slow_start_retrans", 0},
	{"TCPTimeouts", "tcp_timeouts", 0},
	{"TCPLossProbes", "tcp_loss_probes", 0},
	{"TCPDSACKOldSent", "tcp_dsack_sent", 0},
	{"TCPDSACKRecv", "tcp_dsack_recv", 0},
	{"TCPAbortOnData", "tcp_abort_on_data", 0},
	{"TCPAbortOnClose", "tcp_abort_on_close", 0},
	{"TCPAbortOnTimeout", "tcp_abort_on_timeout", 0},
	{"TCPAbortOnLinger", "tcp_abort_on_linger", 0},
	{"TCPRcvQDrop", "tcp_rcv_q_drop", 0},
	{"TCPOFOQueue", "tcp_ofo_queue", 0},
	{"TCPOFODrop", "tcp_ofo_drop", 0},
	{"TCPChallengeACK", "tcp_challenge_ack", 0},
	{"TCPSYNChallenge", "tcp_syn_challenge", 0},
	{"TCPTimeWaitOverflow", "tcp_time_wait_overflow", 0},
	{"TCPSynRetrans", "tcp_syn_retrans", 0},
	{"TCPZeroWindowDrop", "tcp_zero_window_drop", 0},
	{"TCPWinProbe", "tcp_win_probe", 0},
	{"TCPKeepAlive", "tcp_keep_alive_probes", 0},
};

/* /proc/net/snmp's lines come first (Tcp: before Udp:), then /proc/net/netstat's. */
static const struct snmp_line snmp_lines[] = {
	{"Tcp", "tcpd", snmp_tcp, sizeof(snmp_tcp) / sizeof(snmp_tcp[0])},
	{"Udp", "udpd", snmp_udp, sizeof(snmp_udp) / sizeof(snmp_udp[0])},
	{"TcpExt", "tcpd", snmp_tcpext, sizeof(snmp_tcpext) / sizeof(snmp_tcpext[0])},
};

/* The value of counter name in r; false if the layer does not report it. */
static bool snmp_counter(const Ustack__CtlReply *r, const char *name, uint64_t *v)
{
	for (size_t i = 0; i < r->n_counters; i++)
		if (r->counters[i]->name && strcmp(r->counters[i]->name, name) == 0) {
			*v = r->counters[i]->value;
			return true;
		}
	return false;
}

static void snmp_print(const struct snmp_line *l, const Ustack__CtlReply *r)
{
	printf("%s:", l->prefix);
	for (size_t i = 0; i < l->n_fields; i++)
		printf(" %s", l->fields[i].mib);
	printf("\n%s:", l->prefix);
	for (size_t i = 0; i < l->n_fields; i++) {
		const struct snmp_field *f = &l->fields[i];
		uint64_t v = 0;
		if (!f->counter)
			printf(" %" PRId64, f->constant);
		else if (snmp_counter(r, f->counter, &v))
			printf(" %" PRIu64, v);
		else
			printf(" 0"); /* an older layer: what it does not count, it has not seen */
	}
	printf("\n");
}

/* STATS of layer, or NULL (said on stderr). */
static Ustack__CtlReply *snmp_stats(void *zctx, const char *instance, const char *layer)
{
	char why[UCTL_PATH_MAX + 32];
	if (status_ctl_check(instance, layer, why, sizeof(why)) < 0) {
		uctl_err("%s: not running (%s)", layer, why);
		return NULL;
	}
	Ustack__CtlReply *r = NULL;
	int rc = ctl_call(zctx, instance, layer, USTACK__CTL_REQUEST__TYPE__STATS, SNMP_TIMEOUT_MS,
			  &r);
	if (rc < 0) {
		uctl_err("%s: %s", layer,
			 rc == -ETIMEDOUT ? "no answer (is the instance up?)" : strerror(-rc));
		return NULL;
	}
	if (r->status != 0) {
		uctl_err("%s: stats request failed: %s", layer, strerror(-r->status));
		ustack__ctl_reply__free_unpacked(r, NULL);
		return NULL;
	}
	return r;
}

int snmp_cmd(const struct uctl_opts *o)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	Ustack__CtlReply *tcpd = snmp_stats(zctx, o->instance, "tcpd");
	Ustack__CtlReply *udpd = snmp_stats(zctx, o->instance, "udpd");
	for (size_t i = 0; i < sizeof(snmp_lines) / sizeof(snmp_lines[0]); i++) {
		const struct snmp_line *l = &snmp_lines[i];
		const Ustack__CtlReply *r = strcmp(l->layer, "tcpd") == 0 ? tcpd : udpd;
		if (r)
			snmp_print(l, r);
	}
	bool failed = !tcpd || !udpd;
	if (tcpd)
		ustack__ctl_reply__free_unpacked(tcpd, NULL);
	if (udpd)
		ustack__ctl_reply__free_unpacked(udpd, NULL);
	zmq_ctx_term(zctx);
	if (fflush(stdout) != 0) {
		uctl_err("cannot write output: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	return failed ? UCTL_EXIT_FAIL : UCTL_EXIT_OK;
}
