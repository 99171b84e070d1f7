/* tables: ipd's ARP cache and routing table, printed the way ip(8) prints the kernel's.
 *
 *   arp:    10.0.0.1 lladdr 02:75:9a:10:33:01 REACHABLE expires 41s
 *           10.0.0.9 INCOMPLETE queued 2
 *   route:  10.0.0.0/24 dev ust-demo src 10.0.0.2
 *           default via 10.0.0.1 dev ust-demo src 10.0.0.2
 *           local 10.0.0.2 dev lo table local src 10.0.0.2
 *           broadcast 10.0.0.255 dev ust-demo table local src 10.0.0.2
 *           local 127.0.0.0/8 dev lo table local src 127.0.0.1
 *           broadcast 127.255.255.255 dev lo table local src 127.0.0.1
 *
 * The NIC's name comes from the instance's config (ipd has one interface, the TAP, besides its
 * loopback interface).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "ctl.h"
#include "route.h"
#include "ustackctl.h"

#define TABLES_TIMEOUT_MS 1000
/* ArpEntry.state values (proto/ctl.proto; the same as ipd's IP_ARP_*). */
#define TABLES_ARP_INCOMPLETE 1u
#define TABLES_ARP_REACHABLE 2u
#define TABLES_ARP_PROBE 3u /* expired, still used while unicast probes re-confirm it */

static int tables_call(const char *instance, Ustack__CtlRequest__Type type, void **zctx,
		       Ustack__CtlReply **out)
{
	char why[UCTL_PATH_MAX + 32];
	if (status_ctl_check(instance, "ipd", why, sizeof(why)) < 0) {
		uctl_err("ipd: not running (%s)", why);
		return -ENOENT;
	}
	*zctx = zmq_ctx_new();
	if (!*zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return -ENOMEM;
	}
	int rc = ctl_call(*zctx, instance, "ipd", type, TABLES_TIMEOUT_MS, out);
	if (rc < 0) {
		uctl_err("ipd: %s", rc == -ETIMEDOUT ? "no answer (is the instance up?)" : strerror(-rc));
		return rc;
	}
	if ((*out)->status != 0) {
		uctl_err("ipd: request failed: %s", strerror(-(*out)->status));
		rc = (*out)->status < 0 ? (*out)->status : -EPROTO;
		ustack__ctl_reply__free_unpacked(*out, NULL);
		*out = NULL;
		return rc;
	}
	return 0;
}

static void tables_done(void *zctx, Ustack__CtlReply *r)
{
	if (r)
		ustack__ctl_reply__free_unpacked(r, NULL);
	if (zctx)
		zmq_ctx_term(zctx);
}

static const char *tables_ip(uint32_t a, char *buf)
{
	struct in_addr in = {.s_addr = a};
	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

int tables_arp_cmd(const struct uctl_opts *o)
{
	void *zctx = NULL;
	Ustack__CtlReply *r = NULL;
	if (tables_call(o->instance, USTACK__CTL_REQUEST__TYPE__ARP, &zctx, &r) < 0) {
		tables_done(zctx, r);
		return UCTL_EXIT_FAIL;
	}
	for (size_t i = 0; i < r->n_arp; i++) {
		const Ustack__ArpEntry *e = r->arp[i];
		char a[INET_ADDRSTRLEN];
		tables_ip(e->addr, a);
		if (e->state == TABLES_ARP_INCOMPLETE) {
			printf("%s INCOMPLETE queued %" PRIu32 "\n", a, e->queued);
			continue;
		}
		char mac[24] = "??:??:??:??:??:??";
		if (e->mac.len == 6)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac.data[0],
				 e->mac.data[1], e->mac.data[2], e->mac.data[3], e->mac.data[4],
				 e->mac.data[5]);
		/* Round up: "expires 0s" would read as already gone. */
		int64_t s = e->expires_in_ms > 0 ? (e->expires_in_ms + 999) / 1000 : 0;
		printf("%s lladdr %s %s expires %" PRId64 "s", a, mac,
		       e->state == TABLES_ARP_REACHABLE ? "REACHABLE"
		       : e->state == TABLES_ARP_PROBE ? "PROBE"
						    : "STALE",
		       s);
		if (e->queued)
			printf(" queued %" PRIu32, e->queued);
		printf("\n");
	}
	tables_done(zctx, r);
	return UCTL_EXIT_OK;
}

int tables_route_cmd(const struct uctl_opts *o)
{
	struct ustack_config cfg;
	char err[256];
	const char *dev = NULL;
	if (config_load_instance(o->instance, &cfg, err, sizeof(err)) == 0)
		dev = cfg.nic_ifname;

	void *zctx = NULL;
	Ustack__CtlReply *r = NULL;
	if (tables_call(o->instance, USTACK__CTL_REQUEST__TYPE__ROUTES, &zctx, &r) < 0) {
		tables_done(zctx, r);
		return UCTL_EXIT_FAIL;
	}
	/* The main table first, as `ip route` shows it, then the local table. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->n_routes; i++) {
			const Ustack__RouteEntry *e = r->routes[i];
			bool local = e->table == ROUTE_TABLE_LOCAL;
			char d[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN];
			if (local != (pass == 1))
				continue;
			if (e->type == ROUTE_LOCAL)
				printf("local ");
			else if (e->type == ROUTE_BROADCAST)
				printf("broadcast ");
			if (e->prefix_len == 0)
				printf("default");
			else if (e->prefix_len == 32)
				printf("%s", tables_ip(e->dest, d));
			else
				printf("%s/%" PRIu32, tables_ip(e->dest, d), e->prefix_len);
			if (e->gateway)
				printf(" via %s", tables_ip(e->gateway, g));
			if (e->ifindex == ROUTE_IFINDEX_LO)
				printf(" dev lo");
			else if (dev)
				printf(" dev %s", dev);
			if (local)
				printf(" table local");
			if (e->prefsrc)
				printf(" src %s", tables_ip(e->prefsrc, s));
			printf("\n");
		}
	}
	tables_done(zctx, r);
	return UCTL_EXIT_OK;
}
