/* capture: the messages of nicd's capture socket, the driver's tap for `ustackctl pcap` (the
 * stack's counterpart of Linux's ptype_all, which tcpdump reads through AF_PACKET).
 *
 * nicd binds an XPUB socket at <runtime dir>/nicd.capture and copies frames to it only while
 * someone is subscribed: with nobody listening a capture costs one branch per batch. Each
 * ZeroMQ message is one struct capture_hdr followed by caplen bytes of the frame, starting at
 * its Ethernet header, as it crossed the device: a receive super-frame (GRO) or a transmit
 * super-segment (TSO) is one frame of up to 64 KiB, and a frame whose checksum the other side
 * completes (partial checksum offload) carries the partial one, as Linux's own capture of an
 * offloading device does.
 *
 * Sequence. seq counts every frame nicd offered to capture clients since it started (a start
 * message does not count). A frame the socket could not take (the clients' queues full:
 * ZMQ_XPUB_NODROP) is counted in nicd's capture_drop and leaves a gap in seq that a client sees
 * and reports; a restarted nicd starts again from 0 (its start message says so).
 *
 * Start. When a client subscribes nicd sends a CAPTURE_KIND_START message to everyone (its
 * seq is the next frame's): every frame after it is captured, which is how a client knows it
 * is capturing, not merely connected.
 *
 * The socket file is made under nicd's UMask (0077): only the stack's user and root reach it,
 * as its control socket; a capture shows every frame of the instance.
 */
#ifndef USTACK_CAPTURE_H
#define USTACK_CAPTURE_H

#include <assert.h>
#include <stdint.h>

#define CAPTURE_MAGIC 0x50435355u /* "USCP" in memory order on little endian */
#define CAPTURE_VERSION 1u
#define CAPTURE_FILE "nicd.capture"
/* Frames longer than this are cut (caplen < len); the longest frame nicd moves, a 64 KiB
 * super-frame with its Ethernet header, fits. */
#define CAPTURE_SNAP_MAX 65600u

enum capture_kind {
	CAPTURE_KIND_FRAME = 1,
	CAPTURE_KIND_START = 2,
};

enum capture_dir {
	CAPTURE_DIR_IN = 1,  /* read from the device: from the wire towards the stack */
	CAPTURE_DIR_OUT = 2, /* written to the device */
};

/* Host byte order: both ends run on this machine. */
struct capture_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t kind; /* enum capture_kind */
	uint8_t dir;  /* enum capture_dir; 0 in a start message */
	uint8_t pad;
	uint64_t seq;
	uint64_t time_ns; /* CLOCK_REALTIME when nicd reaped the read / submitted the write */
	uint32_t len;     /* the frame's length */
	uint32_t caplen;  /* bytes of it that follow this header */
};
static_assert(sizeof(struct capture_hdr) == 32, "capture_hdr is a fixed wire layout");

#endif
