/* latency: `ustackctl latency`, the time a packet spends in each layer and on each link along
 * one path through the stack, from the histograms every layer keeps (common/hist.h, carried as
 * ustack.Histogram in the STATS reply; names in proto/ctl.proto). Also the histogram decoding
 * that `stats` shares.
 *
 *   ustackctl latency --instance NAME [--interval SEC]
 *
 * Two transports, one after the other: the UDP path (through udpd), then the TCP path (through
 * tcpd: the same table, tcpd's rows per segment, its two hops with the application per stamp,
 * common/region.h). The rows below the transport (nicd, ipd's link from nicd and to nicd) are
 * the same in both: those layers keep one histogram for every protocol.
 *
 * Without --interval the histograms are cumulative since each layer started; with it, the
 * stats are read twice SEC apart and the table shows the difference, i.e. only the packets of
 * that interval (exact: the histograms are counts). The table, times in microseconds:
 *
 *   receive: wire -> application              packets      p50      p99
 *     nicd   frame read -> sent to ipd            1000      2.1      9.5
 *     link   nicd -> ipd                          1000     30.0     60.0
 *     ...
 *     link   udpd -> app (app-reported)           1000     20.0     80.0
 *     sum of the hops                                     140.0    340.0
 *     measured wire -> app's ring (udpd)          1000    118.0    240.0
 *
 * The receive path ends when the application takes the datagram (libsock's recv), the send
 * path starts when it commits the record (libsock's send): the two hops between the
 * application and udpd are timed with stamps in the records (common/region.h). The receive
 * one is counted by the application itself in its region and collected by udpd, which
 * believes no more samples than datagrams it delivered: "app-reported". What is left of a
 * round trip is the application's own time between taking a datagram and sending its answer.
 *
 * The sum of per-hop quantiles is not the quantile of the sum (it is an upper bound of the p99
 * of the sum only if the hops were perfectly correlated); the "measured" line is the stack's
 * part of the path (without the hop to or from the application) timed in one histogram, from
 * the frame's stack entry to the app's ring (receive) or to the TAP write (send). Each
 * quantile is
 * within 12.5 % of the true value (the buckets' resolution). nicd's and ipd's send side count
 * every protocol (ICMP answers, TCP) on its way to the wire, not only UDP.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ctl.h"
#include "hist.h"
#include "ustackctl.h"

#define LAT_TIMEOUT_MS 1000
#define LAT_LAYERS 8
#define LAT_HISTS 16

int latency_hist_decode(const Ustack__Histogram *m, struct hist *h)
{
	hist_init(h);
	if (!m || m->scheme != HIST_SCHEME || m->n_buckets > HIST_BUCKETS)
		return -EINVAL;
	for (size_t i = 0; i < m->n_buckets; i++)
		h->b[i] = m->buckets[i];
	return 0;
}

/* Every layer's histograms at one moment. */
struct lat_snap {
	bool ok[LAT_LAYERS];
	unsigned n[LAT_LAYERS];
	char name[LAT_LAYERS][LAT_HISTS][40];
	struct hist h[LAT_LAYERS][LAT_HISTS];
};

static int lat_read(void *zctx, const char *instance, struct lat_snap *s)
{
	int failed = 0;
	memset(s->ok, 0, sizeof(s->ok));
	memset(s->n, 0, sizeof(s->n));
	for (unsigned i = 0; i < layer_table_len && i < LAT_LAYERS; i++) {
		const struct layer_info *l = &layer_table[i];
		if (!l->present)
			continue;
		char why[UCTL_PATH_MAX + 32];
		if (status_ctl_check(instance, l->name, why, sizeof(why)) < 0) {
			uctl_err("%s: not running (%s)", l->name, why);
			failed = -ENOENT;
			continue;
		}
		Ustack__CtlReply *r = NULL;
		int rc = ctl_call(zctx, instance, l->name, USTACK__CTL_REQUEST__TYPE__STATS,
				  LAT_TIMEOUT_MS, &r);
		if (rc < 0 || r->status != 0) {
			uctl_err("%s: %s", l->name,
				 rc == -ETIMEDOUT ? "no answer (is the instance up?)"
				 : strerror(rc < 0 ? -rc : -r->status));
			if (r)
				ustack__ctl_reply__free_unpacked(r, NULL);
			failed = rc < 0 ? rc : -EIO;
			continue;
		}
		for (size_t k = 0; k < r->n_hists && s->n[i] < LAT_HISTS; k++) {
			const Ustack__Histogram *m = r->hists[k];
			unsigned j = s->n[i];
			if (!m->name || strlen(m->name) >= sizeof(s->name[i][j]) ||
			    latency_hist_decode(m, &s->h[i][j]) < 0) {
				uctl_warn("%s: skipping a histogram this ustackctl cannot read",
					  l->name);
				continue;
			}
			snprintf(s->name[i][j], sizeof(s->name[i][j]), "%s", m->name);
			s->n[i]++;
		}
		s->ok[i] = true;
		ustack__ctl_reply__free_unpacked(r, NULL);
	}
	return failed;
}

static const struct hist *lat_find(const struct lat_snap *s, const char *layer, const char *name)
{
	for (unsigned i = 0; i < layer_table_len && i < LAT_LAYERS; i++) {
		if (!s->ok[i] || strcmp(layer_table[i].name, layer) != 0)
			continue;
		for (unsigned j = 0; j < s->n[i]; j++)
			if (strcmp(s->name[i][j], name) == 0)
				return &s->h[i][j];
	}
	return NULL;
}

/* One row of the table: which layer, what it measures, the histogram's name there. */
struct lat_hop {
	const char *layer;
	const char *kind; /* "" for a layer, "link" for a link (printed instead of the layer) */
	const char *what;
	const char *hist;
};

static const struct lat_hop lat_rx[] = {
	{"nicd", "", "frame read -> sent to ipd", "inside_to_ipd"},
	{"ipd", "link", "nicd -> ipd", "transit_from_nicd"},
	{"ipd", "", "arrived -> sent to udpd", "inside_to_udpd"},
	{"udpd", "link", "ipd -> udpd", "transit_from_ipd"},
	{"udpd", "", "arrived -> in the app's ring", "inside_to_app"},
	{"udpd", "link", "udpd -> app (app-reported)", "app_transit_from_udpd"},
};
static const struct lat_hop lat_rx_total = {"udpd", "", "wire -> app's ring", "total_to_app"};

static const struct lat_hop lat_tx[] = {
	{"udpd", "link", "app -> udpd", "transit_from_app"},
	{"udpd", "", "record taken -> sent to ipd", "inside_to_ipd"},
	{"ipd", "link", "udpd -> ipd", "transit_from_udpd"},
	{"ipd", "", "arrived -> sent to nicd", "inside_to_nicd"},
	{"nicd", "link", "ipd -> nicd", "transit_from_ipd"},
	{"nicd", "", "arrived -> TAP write submitted", "inside_to_wire"},
};
static const struct lat_hop lat_tx_total = {"nicd", "", "stack entry -> TAP write", "total_to_wire"};

/* TCP: the same layers below the transport; tcpd's rows are per segment, its two hops with the
 * application per stamp (region.h: one per RX head publication read, one per TX head
 * publication taken up). */
static const struct lat_hop lat_tcp_rx[] = {
	{"nicd", "", "frame read -> sent to ipd", "inside_to_ipd"},
	{"ipd", "link", "nicd -> ipd", "transit_from_nicd"},
	{"ipd", "", "arrived -> sent to tcpd", "inside_to_tcpd"},
	{"tcpd", "link", "ipd -> tcpd", "transit_from_ipd"},
	{"tcpd", "", "arrived -> in the app's ring", "inside_to_app"},
	{"tcpd", "link", "tcpd -> app (app-reported)", "app_transit_from_tcpd"},
};
static const struct lat_hop lat_tcp_rx_total = {"tcpd", "", "wire -> app's ring",
						"total_to_app"};

static const struct lat_hop lat_tcp_tx[] = {
	{"tcpd", "link", "app -> tcpd", "transit_from_app"},
	{"tcpd", "", "released -> sent to ipd", "inside_to_ipd"},
	{"ipd", "link", "tcpd -> ipd", "transit_from_tcpd"},
	{"ipd", "", "arrived -> sent to nicd", "inside_to_nicd"},
	{"nicd", "link", "ipd -> nicd", "transit_from_ipd"},
	{"nicd", "", "arrived -> TAP write submitted", "inside_to_wire"},
};

/* One transport's two paths. */
struct lat_proto {
	const char *name;
	const struct lat_hop *rx, *rx_total, *tx, *tx_total;
	unsigned n_rx, n_tx;
};

#define LAT_N(a) (unsigned)(sizeof(a) / sizeof((a)[0]))
static const struct lat_proto lat_protos[] = {
	{"UDP", lat_rx, &lat_rx_total, lat_tx, &lat_tx_total, LAT_N(lat_rx), LAT_N(lat_tx)},
	{"TCP", lat_tcp_rx, &lat_tcp_rx_total, lat_tcp_tx, &lat_tx_total, LAT_N(lat_tcp_rx),
	 LAT_N(lat_tcp_tx)},
};

static void lat_us(char *out, size_t size, uint64_t ns)
{
	snprintf(out, size, "%.1f", (double)ns / 1000.0);
}

/* Print one row; adds its quantiles to the sums. Returns whether it had samples. */
static bool lat_row(const struct lat_snap *s, const struct lat_hop *h, bool total,
		    uint64_t *sum50, uint64_t *sum99)
{
	const struct hist *x = lat_find(s, h->layer, h->hist);
	char label[64], p50[24], p99[24];
	if (total)
		snprintf(label, sizeof(label), "measured %s (%s)", h->what, h->layer);
	else
		snprintf(label, sizeof(label), "%-5s %s", h->kind[0] ? h->kind : h->layer, h->what);
	if (!x) {
		printf("  %-40s %10s %9s %9s\n", label, "-", "-", "-");
		return false;
	}
	uint64_t n = hist_count(x);
	if (n == 0) {
		printf("  %-40s %10" PRIu64 " %9s %9s\n", label, n, "-", "-");
		return false;
	}
	uint64_t q50 = hist_quantile(x, 0.5), q99 = hist_quantile(x, 0.99);
	lat_us(p50, sizeof(p50), q50);
	lat_us(p99, sizeof(p99), q99);
	printf("  %-40s %10" PRIu64 " %9s %9s\n", label, n, p50, p99);
	if (sum50) {
		*sum50 += q50;
		*sum99 += q99;
	}
	return true;
}

static void lat_path(const struct lat_snap *s, const char *title, const struct lat_hop *hops,
		     unsigned n, const struct lat_hop *total)
{
	uint64_t s50 = 0, s99 = 0;
	unsigned have = 0;
	printf("%-42s %10s %9s %9s\n", title, "packets", "p50 us", "p99 us");
	for (unsigned i = 0; i < n; i++)
		have += lat_row(s, &hops[i], false, &s50, &s99);
	char a[24], b[24];
	lat_us(a, sizeof(a), s50);
	lat_us(b, sizeof(b), s99);
	if (have == n)
		printf("  %-40s %10s %9s %9s\n", "sum of the hops", "", a, b);
	else
		printf("  %-40s %10s %9s %9s\n", "sum of the hops (some have no samples)", "", "-",
		       "-");
	lat_row(s, total, true, NULL, NULL);
}

int latency_cmd(const struct uctl_opts *o)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	struct lat_snap *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int rc = UCTL_EXIT_OK;
	if (!a || !b) {
		uctl_err("out of memory");
		rc = UCTL_EXIT_FAIL;
		goto out;
	}
	if (lat_read(zctx, o->instance, a) < 0)
		rc = UCTL_EXIT_FAIL;
	bool stale = false;
	if (o->interval_ms > 0 && rc == UCTL_EXIT_OK) {
		struct timespec ts = {.tv_sec = o->interval_ms / 1000,
				      .tv_nsec = (long)(o->interval_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (lat_read(zctx, o->instance, b) < 0)
			rc = UCTL_EXIT_FAIL;
		/* b becomes the delta b - a, histogram by histogram. */
		for (unsigned i = 0; i < LAT_LAYERS; i++)
			for (unsigned j = 0; j < b->n[i]; j++) {
				const struct hist *then = lat_find(a, layer_table[i].name,
								   b->name[i][j]);
				if (then && hist_sub(&b->h[i][j], &b->h[i][j], then) < 0)
					stale = true;
			}
	}
	const struct lat_snap *s = o->interval_ms > 0 ? b : a;
	bool any = false;
	for (unsigned i = 0; i < LAT_LAYERS; i++)
		any |= s->ok[i];
	if (!any) /* every layer's error is printed already; a table of dashes tells nothing */
		goto out;
	for (unsigned k = 0; k < LAT_N(lat_protos); k++) {
		const struct lat_proto *p = &lat_protos[k];
		if (o->interval_ms > 0)
			printf("%sinstance %s, %s path, packets of the last %.1f s\n\n",
			       k ? "\n" : "", o->instance, p->name, (double)o->interval_ms / 1000.0);
		else
			printf("%sinstance %s, %s path, since each layer started\n\n", k ? "\n" : "",
			       o->instance, p->name);
		lat_path(s, "receive: wire -> application", p->rx, p->n_rx, p->rx_total);
		printf("\n");
		lat_path(s, "send: application -> wire", p->tx, p->n_tx, p->tx_total);
	}
	printf("\n(the application's own time between taking a datagram and its next send is not "
	       "measured;\n app-reported: timed by the applications (libsock), collected by udpd "
	       "and tcpd;\n TCP: tcpd's rows count segments, its hops with the application count "
	       "stamps\n (a read after each publication of received bytes, each take-up of sent "
	       "bytes);\n tcpd's send side starts when the work that released a segment entered "
	       "tcpd\n (its bytes taken up, an ACK's arrival), not counting time spent waiting for "
	       "the window;\n nicd's and ipd's lower rows count every protocol; quantiles within "
	       "12.5 %%)\n");
	if (stale)
		uctl_warn("a layer restarted during the interval: its figures are partial");
out:
	free(a);
	free(b);
	zmq_ctx_term(zctx);
	if (fflush(stdout) != 0) {
		uctl_err("cannot write output: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	return rc;
}
