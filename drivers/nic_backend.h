/* nic_backend: the small ops table every ustack-nicd backend implements (one file per backend,
 * like sDDF drivers). The shell (nicd_main.c) owns the loop and the descriptor links; a backend
 * only moves frames between pool buffers and its device.
 *
 * Frames cross this interface as pool buffers, data at the Ethernet header: rx_poll yields
 * single buffers, tx_submit takes chains of up to BUF_CHAIN_MAX buffers. A backend that uses a
 * virtio-net header strips it on receive and writes one on transmit from the descriptor's
 * offload fields.
 */
#ifndef USTACK_NIC_BACKEND_H
#define USTACK_NIC_BACKEND_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "pool.h"
#include "stats.h"

struct nic_config {
	char ifname[IFNAMSIZ]; /* device name; created if missing */
	unsigned rx_inflight;  /* receive requests kept in flight, 256 */
	unsigned tx_inflight;  /* transmit requests in flight at most, 256 */
	uint16_t mtu;          /* IP MTU; frames up to mtu + 14 */
};

struct nic_stats {
	uint64_t rx_frames;
	uint64_t rx_bytes;
	uint64_t rx_drop_nobuf;    /* no pool buffer to post a read into */
	uint64_t rx_drop_short;    /* shorter than an Ethernet header */
	uint64_t rx_drop_vnet_hdr; /* malformed virtio-net header */
	uint64_t rx_errors;        /* read completions with an error */
	uint64_t tx_frames;
	uint64_t tx_bytes;
	uint64_t tx_drop_full;     /* more frames than free transmit slots */
	uint64_t tx_drop_oversize; /* frame above mtu + 14 */
	uint64_t tx_drop_chain;    /* chain longer than the backend gathers */
	uint64_t tx_errors;        /* write completions with an error or short */
};

extern const struct stat_field nic_stat_fields[];
extern const unsigned nic_stat_field_count;

struct nic_dev;

struct nic_backend_ops {
	const char *name;
	/* Open the device and post the receive requests. 0 or negative errno. */
	int (*open)(const struct nic_config *cfg, struct pool *pool, struct nic_dev **dev);
	/* File descriptor that becomes readable when completions are waiting (poll it). The
	 * backend makes it fire again while it has work left (frames past the budget, receive
	 * slots waiting for buffers), so calling rx_poll only when it is readable suffices. */
	int (*event_fd)(struct nic_dev *dev);
	/* Reap completions: transmitted buffers are freed, received frames are stored in
	 * out[0..n) (owned by the caller) with descriptors in d[0..n); at most `budget`. Re-posts
	 * receive requests. Returns n >= 0 or a negative errno. */
	int (*rx_poll)(struct nic_dev *dev, struct buf **out, struct desc *d, unsigned budget);
	/* Queue frames for transmission. Consumes all n chains (those that cannot be queued are
	 * freed and counted). Returns how many were queued. */
	unsigned (*tx_submit)(struct nic_dev *dev, struct buf **frames, const struct desc *d,
			      unsigned n);
	/* Device MAC address (the kernel side of a TAP has its own). */
	void (*kernel_mac)(struct nic_dev *dev, uint8_t mac[6]);
	const struct nic_stats *(*stats)(struct nic_dev *dev);
	/* Cancel in-flight requests, free every buffer the backend holds; the device itself stays
	 * (a TAP is persistent). Clears *dev. */
	void (*close)(struct nic_dev **dev);
};

extern const struct nic_backend_ops nic_tap_ops;

#endif
