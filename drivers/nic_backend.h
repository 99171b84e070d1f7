/* nic_backend: the small ops table every ustack-nicd backend implements (one file per backend,
 * like sDDF drivers). The shell (nicd_main.c) owns the loop and the descriptor links; a backend
 * only moves frames between pool buffers and its device.
 *
 * Frames cross this interface as pool buffers, data at the Ethernet header: rx_poll yields
 * single buffers, or chains for super-frames when receive offload is on; tx_submit takes chains
 * of up to BUF_CHAIN_MAX buffers. A backend that uses a virtio-net header (nic_vnet.h) strips
 * it on receive into the descriptor's offload fields and writes one on transmit from them.
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

/* Offloads (nic_config.offloads, nic_stats.offload_rx). CSUM: partial L4 checksums, completed
 * by the other side. TSO4: TCP/IPv4 super-frames of up to 64 KiB cut into MSS-sized segments
 * by the other side (TSO on transmit; GRO-style super-frames on receive); it implies CSUM for
 * the super-frames themselves. */
#define NIC_OFFLOAD_CSUM 0x1u
#define NIC_OFFLOAD_TSO4 0x2u
#define NIC_OFFLOAD_ALL (NIC_OFFLOAD_CSUM | NIC_OFFLOAD_TSO4)

struct nic_config {
	char ifname[IFNAMSIZ]; /* device name; created if missing */
	unsigned rx_inflight;  /* receive slots (buffers ready for a read; at most that many
				* reads at once), 256 (fewer with TSO4: see nic_tap.c, each then
				* holds a chain of buffers) */
	unsigned tx_inflight;  /* transmit requests in flight at most, 256 */
	uint16_t mtu;          /* IP MTU; plain frames up to mtu + 14 */
	unsigned offloads;     /* NIC_OFFLOAD_* wanted; 0: plain frames both ways */
	bool handed;           /* handed_fd is a file a predecessor handed over (nic_handoff.h): */
	int handed_fd;         /* open uses it if it is attached to the device, else opens it;
				* either way open takes it (closes it on failure) */
};

struct nic_stats {
	uint64_t rx_frames;
	uint64_t rx_bytes;
	uint64_t rx_drop_nobuf;    /* no pool buffer to post a read into */
	uint64_t rx_drop_short;    /* shorter than an Ethernet header */
	uint64_t rx_drop_vnet_hdr; /* virtio-net header: unknown or contradictory flags, or an
				    * offload the device was not granted */
	uint64_t rx_errors;        /* read completions with an error */
	uint64_t tx_frames;
	uint64_t tx_bytes;
	uint64_t tx_drop_full;     /* more frames than free transmit slots */
	uint64_t tx_drop_oversize; /* plain frame above mtu + 14 */
	uint64_t tx_drop_chain;    /* chain longer than the backend gathers */
	uint64_t tx_errors;        /* write completions with an error or short */
	/* Offload (nic_vnet.h). */
	uint64_t rx_gso_frames;     /* super-frames received (each one frame in rx_frames) */
	uint64_t rx_csum_partial;   /* frames received with a partial checksum */
	uint64_t rx_drop_vnet_gso;  /* GSO header: unknown type, ECN, gso_size 0, no checksum
				     * state, longer than an IPv4 datagram */
	uint64_t rx_drop_vnet_csum; /* csum_start/csum_offset outside the frame */
	uint64_t rx_drop_oversize;  /* plain frame longer than a buffer, or a read that filled
				     * everything posted (truncated) */
	uint64_t tx_gso_frames;     /* super-segments queued for the device to cut */
	uint64_t tx_csum_partial;   /* frames queued with a partial checksum */
	uint64_t tx_drop_offload;   /* offload fields not allowed or inconsistent (nic_vnet_tx) */
	uint64_t offload_refused;   /* times the device refused the offloads asked for */
	uint64_t offload_rx;        /* gauge: NIC_OFFLOAD_* the device granted on receive */
	uint64_t rx_reads;          /* gauge: receive slots (reads at once at most) */
	uint64_t handed_over;       /* gauge: 1 when the device's file came from a predecessor
				     * (nic_handoff.h), 0 when this process opened it */
};

extern const struct stat_field nic_stat_fields[];
extern const unsigned nic_stat_field_count;

struct nic_dev;

struct nic_backend_ops {
	const char *name;
	/* Open the device; take nothing from the pool. The event fd is readable at once, and the
	 * first rx_poll gives the receive slots their buffers and posts the reads: so a caller
	 * that must reclaim a dead predecessor's buffers does it between open and the first
	 * rx_poll, once open has proved the predecessor's hold on the device gone (nicd_main.c).
	 * -EBADFD from rx_poll means the device went away under us (a TAP deleted): nothing
	 * more will move through it and the caller must open it again. 0 or negative errno. */
	int (*open)(const struct nic_config *cfg, struct pool *pool, struct nic_dev **dev);
	/* File descriptor that becomes readable when completions are waiting (poll it). The
	 * backend makes it fire again while it has work left (frames past the budget, receive
	 * slots waiting for buffers), so calling rx_poll only when it is readable suffices. */
	int (*event_fd)(struct nic_dev *dev);
	/* Reap completions: transmitted buffers are freed, received frames are stored in
	 * out[0..n) (owned by the caller) with descriptors in d[0..n); at most `budget`. Re-posts
	 * receive requests. Returns n >= 0 or a negative errno (-EBADFD: see open). */
	int (*rx_poll)(struct nic_dev *dev, struct buf **out, struct desc *d, unsigned budget);
	/* Queue frames for transmission. Consumes all n chains (those that cannot be queued are
	 * freed and counted). Returns how many were queued. */
	unsigned (*tx_submit)(struct nic_dev *dev, struct buf **frames, const struct desc *d,
			      unsigned n);
	/* Device MAC address (the kernel side of a TAP has its own). */
	void (*kernel_mac)(struct nic_dev *dev, uint8_t mac[6]);
	const struct nic_stats *(*stats)(struct nic_dev *dev);
	/* The device's file, for a standby to hold (nic_handoff.h), or -EAGAIN while a successor
	 * holding it could not yet reclaim our buffers safely at our death (it stays ours). */
	int (*handoff_fd)(struct nic_dev *dev);
	/* Cancel in-flight requests, free every buffer the backend holds; the device itself stays
	 * (a TAP is persistent). Clears *dev. */
	void (*close)(struct nic_dev **dev);
};

extern const struct nic_backend_ops nic_tap_ops;

#endif
