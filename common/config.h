/* config: an instance's configuration, one INI file (/etc/ustack/<instance>.conf), parsed with
 * libinih. Every server reads the same file and takes the sections it needs; ustackctl up writes
 * it. Unknown keys are errors (a typo must not silently fall back to a default). */
#ifndef USTACK_CONFIG_H
#define USTACK_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_list.h"
#include "paths.h"
#include "pool.h"

/* Link MTU range. The top is what one pool buffer holds with its Ethernet header: jumbo frames
 * need receive into buffer chains, which the TAP backend does not do yet. */
#define CONFIG_MTU_MIN 576u
#define CONFIG_MTU_MAX (POOL_DATA_ROOM - 14u)

struct ustack_config {
	char instance[USTACK_INSTANCE_MAX + 1];
	/* [stack] */
	char netns[64];           /* namespace nicd's device lives in ("" = the caller's) */
	unsigned pool_buffers;    /* buffers in the pool */
	unsigned busy_poll_us;    /* busy_poll_us: after work, each layer polls this long before
				   * it sleeps (common/loop.h); 0 = off, the default */
	char cpus[CPU_LIST_MAX];  /* cpus: the CPUs every server of the instance runs on, a
				   * cpuset(7) list (common/cpu_list.h); "" (the default):
				   * wherever the scheduler puts them */
	bool link_shm;            /* link = shm: descriptors between the layers go through
				   * shared-memory rings (common/shm_link.h); zmq (the default):
				   * ZeroMQ PUSH/PULL (common/link.h) */
	/* [nic] */
	char nic_backend[16];     /* "tap" */
	char nic_ifname[IFNAMSIZ];
	uint16_t mtu;
	uint8_t mac[6];           /* the stack's own Ethernet address */
	unsigned rx_inflight;
	unsigned tx_inflight;
	/* Checksum and segmentation offload through the TAP's virtio-net header (on by default):
	 * nicd asks the kernel for partial checksums and GRO super-frames of up to 64 KiB and
	 * writes TSO super-segments; ipd keeps checksums partial and passes super-segments
	 * whole. Off: plain frames of at most mtu + 14 bytes, every checksum computed in
	 * software, as before offload existed. */
	bool nic_offload;
	/* [ip] (addresses in network byte order) */
	uint32_t ip_addr;
	uint8_t ip_prefix;
	uint32_t ip_gateway;      /* 0 = none */
	uint32_t ip_peer;         /* the kernel side of the TAP, 0 = none */
	/* [udp] per-uid shares of udpd's resources (docs/ARCHITECTURE.md, Security): each is a
	 * count, or 0 for uid_share percent of the total (with a floor; udpd_quota.c). None can
	 * reach the total: one user can never take everything. */
	unsigned udp_uid_share;       /* percent, 1..50 */
	unsigned udp_uid_handshakes;  /* session connections whose hello has not come yet */
	unsigned udp_uid_sessions;    /* sessions (applications) */
	unsigned udp_uid_sockets;     /* sockets */
	unsigned udp_uid_buffers;     /* pool buffers in flight in udpd (corked, queued to ipd) */
	/* [systemd] */
	unsigned watchdog_ms;     /* informational: the units' WatchdogSec */
};

/* Defaults for instance: TAP "ust-<instance>" (shortened to fit), MTU 1500, a locally
 * administered MAC derived from the instance name, 8192 buffers, 256 reads/writes in flight,
 * offload on, per-uid shares of 25% (CONFIG_UID_SHARE_DEFAULT). */
#define CONFIG_UID_SHARE_DEFAULT 25u
#define CONFIG_BUSY_POLL_MAX_US 10000u
#define CONFIG_UID_SHARE_MAX 50u
void config_defaults(struct ustack_config *c, const char *instance);

/* Parse path into c (which should hold defaults). 0; -ENOENT / -EACCES; -EINVAL with a message
 * naming the line in err. */
int config_load(const char *path, struct ustack_config *c, char *err, size_t err_size);

/* config_defaults + config_load of the instance's config path. */
int config_load_instance(const char *instance, struct ustack_config *c, char *err, size_t err_size);

/* Write c as an INI file (atomically: temp file + rename). 0 or negative errno. */
int config_write(const char *path, const struct ustack_config *c);

/* "A.B.C.D/P" → addr (network order) and prefix. 0 or -EINVAL. */
int config_parse_cidr(const char *s, uint32_t *addr, uint8_t *prefix);
int config_parse_ipv4(const char *s, uint32_t *addr);
int config_parse_mac(const char *s, uint8_t mac[6]);
/* "on" / "off" → true / false. 0 or -EINVAL (anything else: a switch has two spellings). */
int config_parse_switch(const char *s, bool *out);

#endif
