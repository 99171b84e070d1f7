/* stats: every layer's counters (as each layer names them in its CtlReply) and the buffer
 * pool's occupancy, as text or JSON.
 *
 * Text, one `name value` per line, easy to grep and diff:
 *   nicd.rx_frames 1234
 *   ipd.latency.transit_from_nicd.count 1000
 *   ipd.latency.transit_from_nicd.p50_ns 31000
 *   ipd.latency.transit_from_nicd.p99_ns 72000
 *   pool.count 8192
 *   pool.free 8100
 *   pool.held.nicd 64
 * Latency histograms (common/hist.h; names in proto/ctl.proto: transit_from_<layer>,
 * inside_to_<layer|wire|app>, total_to_<wire|app>) are cumulative since the layer started;
 * `ustackctl latency` lays them out along a path and can show an interval.
 * JSON, one object:
 *   {"nicd": {"rx_frames": 1234, ...,
 *             "latency": {"inside_to_ipd": {"count": 1000, "p50_ns": 2100, "p99_ns": 9500}}},
 *    "ipd": {...},
 *    "pool": {"count": 8192, "free": 8100, "held": {"nicd": 64, ...}}}
 * A layer that does not answer is reported on stderr (and is null in JSON), the others are still
 * shown, and the exit status is 1. The pool is attached read-only in spirit: the tool only reads
 * its counters and never allocates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "ctl.h"
#include "hist.h"
#include "pool.h"
#include "ustackctl.h"

#define STATS_TIMEOUT_MS 1000

static const char *const stats_holder_names[POOL_HOLDER_COUNT] = {
	[POOL_HOLDER_FREE] = "free", [POOL_HOLDER_NICD] = "nicd", [POOL_HOLDER_IPD] = "ipd",
	[POOL_HOLDER_TCPD] = "tcpd", [POOL_HOLDER_UDPD] = "udpd", [POOL_HOLDER_TOOL] = "tool",
};

/* Counter names are documented as snake_case; a layer may prefix them ("arp.requests"). They
 * go into both a line format and JSON keys unescaped, so anything else is refused. */
static bool stats_name_valid(const char *n)
{
	if (!n || !n[0] || strlen(n) > 128)
		return false;
	for (const char *p = n; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

struct stats_pool {
	bool ok;
	uint32_t count;
	uint32_t free;
	uint32_t held[POOL_HOLDER_COUNT];
};

/* The quantiles of histogram k of r; false (with a warning) if it cannot be read. */
static bool stats_hist(const struct layer_info *l, const Ustack__CtlReply *r, size_t k,
		       uint64_t *n, uint64_t *p50, uint64_t *p99)
{
	struct hist h;
	if (!stats_name_valid(r->hists[k]->name) ||
	    latency_hist_decode(r->hists[k], &h) < 0) {
		uctl_warn("%s: skipping a histogram this ustackctl cannot read", l->name);
		return false;
	}
	*n = hist_count(&h);
	*p50 = hist_quantile(&h, 0.5);
	*p99 = hist_quantile(&h, 0.99);
	return true;
}

static void stats_print_text(const struct layer_info *l, const Ustack__CtlReply *r)
{
	for (size_t i = 0; i < r->n_counters; i++) {
		const Ustack__Counter *c = r->counters[i];
		if (!stats_name_valid(c->name)) {
			uctl_warn("%s: skipping a counter with an unusable name", l->name);
			continue;
		}
		printf("%s.%s %" PRIu64 "\n", l->name, c->name, c->value);
	}
	for (size_t k = 0; k < r->n_hists; k++) {
		uint64_t n, p50, p99;
		if (!stats_hist(l, r, k, &n, &p50, &p99))
			continue;
		const char *nm = r->hists[k]->name;
		printf("%s.latency.%s.count %" PRIu64 "\n", l->name, nm, n);
		printf("%s.latency.%s.p50_ns %" PRIu64 "\n", l->name, nm, p50);
		printf("%s.latency.%s.p99_ns %" PRIu64 "\n", l->name, nm, p99);
	}
}

static void stats_print_json_layer(const struct layer_info *l, const Ustack__CtlReply *r,
				   bool *first)
{
	printf("%s\n  \"%s\": ", *first ? "" : ",", l->name);
	*first = false;
	if (!r) {
		printf("null");
		return;
	}
	printf("{");
	bool f = true;
	for (size_t i = 0; i < r->n_counters; i++) {
		const Ustack__Counter *c = r->counters[i];
		if (!stats_name_valid(c->name)) {
			uctl_warn("%s: skipping a counter with an unusable name", l->name);
			continue;
		}
		printf("%s\n    \"%s\": %" PRIu64, f ? "" : ",", c->name, c->value);
		f = false;
	}
	printf("%s\n    \"latency\": {", f ? "" : ",");
	f = false;
	bool fh = true;
	for (size_t k = 0; k < r->n_hists; k++) {
		uint64_t n, p50, p99;
		if (!stats_hist(l, r, k, &n, &p50, &p99))
			continue;
		printf("%s\n      \"%s\": {\"count\": %" PRIu64 ", \"p50_ns\": %" PRIu64
		       ", \"p99_ns\": %" PRIu64 "}",
		       fh ? "" : ",", r->hists[k]->name, n, p50, p99);
		fh = false;
	}
	printf("%s}", fh ? "" : "\n    ");
	printf("%s}", f ? "" : "\n  ");
}

static void stats_print_pool(const struct stats_pool *p, bool json, bool *first)
{
	if (!json) {
		if (!p->ok)
			return;
		printf("pool.count %" PRIu32 "\npool.free %" PRIu32 "\n", p->count, p->free);
		for (int h = POOL_HOLDER_FREE + 1; h < POOL_HOLDER_COUNT; h++)
			printf("pool.held.%s %" PRIu32 "\n", stats_holder_names[h], p->held[h]);
		return;
	}
	printf("%s\n  \"pool\": ", *first ? "" : ",");
	*first = false;
	if (!p->ok) {
		printf("null");
		return;
	}
	printf("{\n    \"count\": %" PRIu32 ",\n    \"free\": %" PRIu32 ",\n    \"held\": {",
	       p->count, p->free);
	for (int h = POOL_HOLDER_FREE + 1; h < POOL_HOLDER_COUNT; h++)
		printf("%s\"%s\": %" PRIu32, h == POOL_HOLDER_FREE + 1 ? "" : ", ",
		       stats_holder_names[h], p->held[h]);
	printf("}\n  }");
}

static int stats_read_pool(const char *instance, struct stats_pool *p)
{
	struct pool *pool = NULL;
	memset(p, 0, sizeof(*p));
	int rc = pool_attach(instance, POOL_HOLDER_TOOL, &pool);
	if (rc < 0) {
		if (rc == -ENOENT)
			uctl_err("pool: instance %s has no buffer pool (is it up?)", instance);
		else
			uctl_err("pool: cannot attach: %s", strerror(-rc));
		return rc;
	}
	p->count = pool_count(pool);
	p->free = pool_free_count(pool);
	pool_holder_counts(pool, p->held);
	pool_close(&pool);
	p->ok = true;
	return 0;
}

int stats_cmd(const struct uctl_opts *o)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	Ustack__CtlReply *replies[8] = {0};
	bool failed = false;
	for (unsigned i = 0; i < layer_table_len && i < 8; i++) {
		const struct layer_info *l = &layer_table[i];
		if (!l->present)
			continue;
		Ustack__CtlReply *r = NULL;
		char why[UCTL_PATH_MAX + 32];
		if (status_ctl_check(o->instance, l->name, why, sizeof(why)) < 0) {
			uctl_err("%s: not running (%s)", l->name, why);
			failed = true;
			continue;
		}
		int rc = ctl_call(zctx, o->instance, l->name, USTACK__CTL_REQUEST__TYPE__STATS,
				  STATS_TIMEOUT_MS, &r);
		if (rc < 0) {
			uctl_err("%s: %s", l->name,
				 rc == -ETIMEDOUT ? "no answer (is the instance up?)" : strerror(-rc));
			failed = true;
			continue;
		}
		if (r->status != 0) {
			uctl_err("%s: stats request failed: %s", l->name, strerror(-r->status));
			ustack__ctl_reply__free_unpacked(r, NULL);
			failed = true;
			continue;
		}
		replies[i] = r;
	}
	struct stats_pool pool;
	if (stats_read_pool(o->instance, &pool) < 0)
		failed = true;

	bool first = true;
	if (o->json)
		printf("{");
	for (unsigned i = 0; i < layer_table_len && i < 8; i++) {
		if (!layer_table[i].present)
			continue;
		if (o->json)
			stats_print_json_layer(&layer_table[i], replies[i], &first);
		else if (replies[i])
			stats_print_text(&layer_table[i], replies[i]);
	}
	stats_print_pool(&pool, o->json, &first);
	if (o->json)
		printf("\n}\n");

	for (unsigned i = 0; i < 8; i++)
		if (replies[i])
			ustack__ctl_reply__free_unpacked(replies[i], NULL);
	zmq_ctx_term(zctx);
	if (fflush(stdout) != 0) {
		uctl_err("cannot write output: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	return failed ? UCTL_EXIT_FAIL : UCTL_EXIT_OK;
}
