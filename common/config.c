/* config: INI parsing of an instance's config with libinih. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void config_defaults(struct ustack_config *c, const char *instance)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->instance, sizeof(c->instance), "%s", instance);
	c->pool_buffers = 8192;
	snprintf(c->nic_backend, sizeof(c->nic_backend), "tap");
	/* IFNAMSIZ is 16: "ust-" plus up to 11 characters of the instance name. */
	snprintf(c->nic_ifname, sizeof(c->nic_ifname), "ust-%.11s", instance);
	c->mtu = 1500;
	/* FNV-1a of the name gives a stable, locally administered unicast address per instance. */
	uint32_t h = 2166136261u;
	for (const char *p = instance; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	uint8_t mac[6] = {0x02, 0x75, (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8),
			  (uint8_t)h};
	memcpy(c->mac, mac, 6);
	c->rx_inflight = 256;
	c->tx_inflight = 256;
	c->nic_offload = true;
	c->udp_uid_share = CONFIG_UID_SHARE_DEFAULT;
	c->watchdog_ms = 3000; /* the units' WatchdogSec=3s (deploy/ustack-*@.service.in) */
}

int config_parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*addr = a.s_addr;
	return 0;
}

int config_parse_cidr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char tmp[32];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, (size_t)(slash - s));
	tmp[slash - s] = '\0';
	char *end;
	errno = 0;
	long p = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || p < 1 || p > 32)
		return -EINVAL;
	if (config_parse_ipv4(tmp, addr) < 0)
		return -EINVAL;
	*prefix = (uint8_t)p;
	return 0;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char extra;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)
		return -EINVAL; /* a multicast address cannot be a station address */
	return 0;
}

int config_parse_switch(const char *s, bool *out)
{
	if (strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "off") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

struct config_parse_ctx {
	struct ustack_config *c;
	char *err;
	size_t err_size;
	int line;
};

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse_ctx *ctx = user;
	struct ustack_config *c = ctx->c;
	unsigned u;
	int rc = -EINVAL;
	ctx->line++;
#define KEY(s, n) (strcmp(section, s) == 0 && strcmp(name, n) == 0)
	if (KEY("stack", "instance")) {
		rc = 0; /* informational: the instance comes from the command line */
	} else if (KEY("stack", "netns")) {
		rc = strlen(value) < sizeof(c->netns) ? 0 : -EINVAL;
		if (rc == 0)
			snprintf(c->netns, sizeof(c->netns), "%s", value);
	} else if (KEY("stack", "pool_buffers")) {
		rc = parse_uint(value, 256, 1u << 20, &u);
		if (rc == 0)
			c->pool_buffers = u;
	} else if (KEY("stack", "busy_poll_us")) {
		rc = parse_uint(value, 0, CONFIG_BUSY_POLL_MAX_US, &c->busy_poll_us);
	} else if (KEY("stack", "cpus")) {
		cpu_set_t set;
		rc = strlen(value) < sizeof(c->cpus) ? cpu_list_parse(value, &set) : -EINVAL;
		if (rc == 0)
			snprintf(c->cpus, sizeof(c->cpus), "%s", value);
	} else if (KEY("stack", "link")) {
		rc = strcmp(value, "zmq") == 0 || strcmp(value, "shm") == 0 ? 0 : -EINVAL;
		if (rc == 0)
			c->link_shm = strcmp(value, "shm") == 0;
	} else if (KEY("nic", "backend")) {
		rc = strcmp(value, "tap") == 0 ? 0 : -EINVAL;
		if (rc == 0)
			snprintf(c->nic_backend, sizeof(c->nic_backend), "%s", value);
	} else if (KEY("nic", "ifname")) {
		rc = (strlen(value) > 0 && strlen(value) < IFNAMSIZ && !strchr(value, '/')) ? 0 : -EINVAL;
		if (rc == 0)
			snprintf(c->nic_ifname, sizeof(c->nic_ifname), "%s", value);
	} else if (KEY("nic", "mtu")) {
		rc = parse_uint(value, CONFIG_MTU_MIN, CONFIG_MTU_MAX, &u);
		if (rc == 0)
			c->mtu = (uint16_t)u;
	} else if (KEY("nic", "mac")) {
		rc = config_parse_mac(value, c->mac);
	} else if (KEY("nic", "rx_inflight")) {
		rc = parse_uint(value, 1, 4096, &u);
		if (rc == 0)
			c->rx_inflight = u;
	} else if (KEY("nic", "tx_inflight")) {
		rc = parse_uint(value, 1, 4096, &u);
		if (rc == 0)
			c->tx_inflight = u;
	} else if (KEY("nic", "offload")) {
		rc = config_parse_switch(value, &c->nic_offload);
	} else if (KEY("ip", "address")) {
		rc = config_parse_cidr(value, &c->ip_addr, &c->ip_prefix);
	} else if (KEY("ip", "gateway")) {
		rc = config_parse_ipv4(value, &c->ip_gateway);
	} else if (KEY("ip", "peer")) {
		rc = config_parse_ipv4(value, &c->ip_peer);
	} else if (KEY("udp", "uid_share")) {
		rc = parse_uint(value, 1, CONFIG_UID_SHARE_MAX, &u);
		if (rc == 0)
			c->udp_uid_share = u;
	} else if (KEY("udp", "uid_handshakes")) {
		rc = parse_uint(value, 0, 1u << 20, &c->udp_uid_handshakes);
	} else if (KEY("udp", "uid_sessions")) {
		rc = parse_uint(value, 0, 1u << 20, &c->udp_uid_sessions);
	} else if (KEY("udp", "uid_sockets")) {
		rc = parse_uint(value, 0, 1u << 20, &c->udp_uid_sockets);
	} else if (KEY("udp", "uid_buffers")) {
		rc = parse_uint(value, 0, 1u << 20, &c->udp_uid_buffers);
	} else if (KEY("systemd", "watchdog_ms")) {
		rc = parse_uint(value, 100, 600000, &u);
		if (rc == 0)
			c->watchdog_ms = u;
	} else {
		snprintf(ctx->err, ctx->err_size, "unknown key [%s] %s", section, name);
		return 0;
	}
#undef KEY
	if (rc < 0) {
		snprintf(ctx->err, ctx->err_size, "bad value for [%s] %s: '%s'", section, name, value);
		return 0;
	}
	return 1;
}

int config_load(const char *path, struct ustack_config *c, char *err, size_t err_size)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		err_size = sizeof(dummy);
	}
	err[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, err_size, "%s: %s", path, strerror(e));
		return -e;
	}
	struct config_parse_ctx ctx = {.c = c, .err = err, .err_size = err_size};
	int line = ini_parse_file(f, config_handler, &ctx);
	fclose(f);
	if (line != 0) {
		char detail[256];
		snprintf(detail, sizeof(detail), "%s", err[0] ? err : "syntax error");
		snprintf(err, err_size, "%s:%d: %s", path, line, detail);
		return -EINVAL;
	}
	if (c->ip_addr == 0) {
		snprintf(err, err_size, "%s: [ip] address is required", path);
		return -EINVAL;
	}
	return 0;
}

int config_load_instance(const char *instance, struct ustack_config *c, char *err, size_t err_size)
{
	char path[512];
	int rc = ustack_config_path(instance, path, sizeof(path));
	if (rc < 0) {
		if (err)
			snprintf(err, err_size, "invalid instance name '%s'", instance ? instance : "");
		return rc;
	}
	config_defaults(c, instance);
	return config_load(path, c, err, err_size);
}

static const char *ip_str(uint32_t a, char *buf)
{
	struct in_addr in = {.s_addr = a};
	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

int config_write(const char *path, const struct ustack_config *c)
{
	char tmp[600];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	char a[INET_ADDRSTRLEN];
	fprintf(f, "# ustack instance %s (written by ustackctl up)\n", c->instance);
	fprintf(f, "[stack]\ninstance = %s\n", c->instance);
	if (c->netns[0])
		fprintf(f, "netns = %s\n", c->netns);
	fprintf(f, "pool_buffers = %u\n", c->pool_buffers);
	fprintf(f, "link = %s\n", c->link_shm ? "shm" : "zmq");
	if (c->cpus[0])
		fprintf(f, "cpus = %s\n", c->cpus);
	fprintf(f, "busy_poll_us = %u\n\n", c->busy_poll_us);
	fprintf(f, "[nic]\nbackend = %s\nifname = %s\nmtu = %u\n", c->nic_backend, c->nic_ifname,
		(unsigned)c->mtu);
	fprintf(f, "mac = %02x:%02x:%02x:%02x:%02x:%02x\n", c->mac[0], c->mac[1], c->mac[2], c->mac[3],
		c->mac[4], c->mac[5]);
	fprintf(f, "rx_inflight = %u\ntx_inflight = %u\n", c->rx_inflight, c->tx_inflight);
	fprintf(f, "offload = %s\n\n", c->nic_offload ? "on" : "off");
	fprintf(f, "[ip]\naddress = %s/%u\n", ip_str(c->ip_addr, a), (unsigned)c->ip_prefix);
	if (c->ip_gateway)
		fprintf(f, "gateway = %s\n", ip_str(c->ip_gateway, a));
	if (c->ip_peer)
		fprintf(f, "peer = %s\n", ip_str(c->ip_peer, a));
	fprintf(f, "\n[udp]\nuid_share = %u\n", c->udp_uid_share);
	if (c->udp_uid_handshakes)
		fprintf(f, "uid_handshakes = %u\n", c->udp_uid_handshakes);
	if (c->udp_uid_sessions)
		fprintf(f, "uid_sessions = %u\n", c->udp_uid_sessions);
	if (c->udp_uid_sockets)
		fprintf(f, "uid_sockets = %u\n", c->udp_uid_sockets);
	if (c->udp_uid_buffers)
		fprintf(f, "uid_buffers = %u\n", c->udp_uid_buffers);
	fprintf(f, "\n[systemd]\nwatchdog_ms = %u\n", c->watchdog_ms);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return -e;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}
