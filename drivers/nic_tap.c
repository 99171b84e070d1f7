/* nic_tap: the TAP backend of ustack-nicd, frames moved between pool buffers and a persistent
 * Linux TAP device through io_uring.
 *
 * Device. /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (the 10-byte struct
 * virtio_net_hdr, its size also set explicitly with TUNSETVNETHDRSZ so a device left behind by
 * someone else with another size cannot surprise us). TUNSETPERSIST 1: the device and the
 * addresses configured on its kernel side survive a restart of nicd (docs/ARCHITECTURE.md, restart
 * contract); opening an existing device is the same TUNSETIFF call and re-attaches it. close
 * never clears persist.
 *
 * Offload. TUNSETOFFLOAD sets what the kernel may hand us: with cfg->offloads CSUM | TSO4 it is
 * TUN_F_CSUM | TUN_F_TSO4, and the kernel then sends partial checksums and TCP frames of up to
 * 64 KiB (its TSO/GSO output, or GRO'd forwarded traffic) instead of finishing and cutting them
 * itself. A refusal (the kernel takes TSO4 only with CSUM; an old or odd kernel may take
 * neither) is logged, counted in offload_refused, and we step down: CSUM alone, then nothing,
 * which is exactly the plain-frame behaviour. What we write is not governed by TUNSETOFFLOAD:
 * the kernel honours a partial checksum or a GSO header on every write, so transmit offload
 * follows cfg->offloads whatever receive got. Never asked for: TUN_F_TSO6 (not our protocol),
 * TUN_F_TSO_ECN, TUN_F_UFO and TUN_F_USO4/6. Without USO the kernel segments a UDP_SEGMENT send
 * in software before it reaches the device, so UDP always arrives as ordinary datagrams (with
 * a partial checksum under TUN_F_CSUM); nic_vnet_rx drops any UDP GSO header as malformed. With
 * offloads 0 (TUNSETOFFLOAD 0) the kernel hands us plain frames of at most mtu + 14 bytes with
 * fully computed checksums.
 *
 * Ring. One io_uring of depth rx_inflight + tx_inflight + 3 (the refill timer and the TAP poll
 * below, close's cancel request): every slot has at most one request queued or in flight, so the
 * submission queue is never full and the completion queue (twice the depth) never overflows.
 * Every call ends with one submit. The TAP fd is fixed file 0; the pool's whole data area is
 * fixed buffer 0, so single-buffer frames move with READ_FIXED / WRITE_FIXED and no per-I/O page
 * pinning. If the area cannot be registered (above the kernel's 1 GiB per-buffer limit, or
 * RLIMIT_MEMLOCK without CAP_IPC_LOCK) plain READ/WRITE are used: slower, same behaviour. An
 * eventfd registered with the ring is what the shell polls.
 *
 * Receive. Read slots, each owning one pool buffer (the head) while it waits or its read is
 * posted. A read lands at slot offset POOL_HEADROOM - 10, so the virtio-net header falls into the
 * headroom and the frame starts exactly at POOL_HEADROOM: no copy, no memmove. Reads never wait
 * in the kernel (see "Receive order"): a slot with buffers sits on the idle stack until the TAP
 * is readable, then its read is posted with RWF_NOWAIT and either takes a frame or completes at
 * once with -EAGAIN (back to idle; no error, not counted). Reads go out in bursts of twice what
 * the last burst found (at least TAP_RX_BURST_MIN, at most every idle slot), so a full queue is
 * drained in a few rounds and a trickle costs a handful of empty reads per wake-up, not one per
 * slot; when a read has found the queue empty and none is posted, one IORING_OP_POLL_ADD(POLLIN)
 * on the TAP is armed, and its completion is the wake-up (armed after the reads, its own
 * readiness check sees a frame that came in between). Completions are reaped from the ring in
 * order into a FIFO of finished slots; rx_poll hands out at most `budget` frames from that FIFO.
 * Reaping everything (not just `budget` rx completions) keeps transmit completions from waiting
 * behind a receive backlog; when frames stay queued past the budget, the eventfd is re-armed so
 * the shell's poll returns at once (the NAPI "budget exhausted, poll again" rule without asking
 * the shell to know it). A delivered slot gets fresh buffers (one burst allocation per call); a
 * dropped frame's buffers go back to the idle stack as they are. When the pool is empty the slot
 * stays empty, is counted once in rx_drop_nobuf, and is retried on every rx_poll. The shell calls
 * rx_poll only when the eventfd fires, and with every read slot empty nothing would ever fire it
 * again: so while slots are empty a 1 ms IORING_OP_TIMEOUT is kept in the ring, whose completion
 * wakes the shell to retry (the refill timer of NIC drivers; the TAP's own queue of txqueuelen
 * frames absorbs that 1 ms at up to ~1 Mframes/s).
 *
 * Super-frames (TSO4 granted). A read cannot be steered to a big buffer: any read may get a
 * 64 KiB frame, and a TAP read shorter than the frame truncates it silently. So with TSO4 every
 * read slot also owns TAP_RX_TAIL continuation buffers and is posted as one READV over the
 * head's data room and the tails' whole slots (headroom included: a continuation buffer needs
 * none, and 29 tails then cover an IPv4 datagram, 30 buffers a slot). The kernel fills them in
 * order; the tails a frame used are chained behind the head (data from offset 0), the rest stay
 * with the slot for its next read, so a small frame still costs one buffer. Zero copy, at the
 * price of buffers parked in posted reads: the slots are capped so that they hold at most a
 * quarter of the pool (68 reads of 30 buffers in the default 8,192-buffer pool, against 256
 * single-buffer reads without TSO4); the TAP's queue absorbs bursts between polls as before.
 * READV takes no registered buffer (IORING_OP_READV_FIXED is newer than our liburing): a TAP
 * read is a copy by the CPU either way, never a pinned DMA. tools/bench/bench_nic_rx.c measures
 * the shapes against each other: small frames cost no more CPU per frame through chained
 * READVs than through single READ_FIXEDs (≈ 1.5 µs each, wake-ups included, within the noise
 * of these 2-vCPU machines), and the kernel's 64 KB TSO output arrives at ≈ 4x the bytes/s
 * (≈ 20-34 Gbit/s) for a third of the CPU per byte of the same traffic cut by the kernel.
 * A read that fills everything posted was truncated (capacity exceeds the largest frame) and
 * is dropped as rx_drop_oversize.
 *
 * Receive order. Frames must leave nicd in the order the kernel queued them: one point-to-point
 * link does not reorder, and TCP pays for every inversion with a spurious fast retransmit or
 * SACK work (tests/integration/test_nic_order.sh counts them). That holds by construction here:
 * every read runs inline in io_uring_submit, on nicd's own thread, one after the other in SQ
 * order, each taking the next frame from the TAP's queue or failing at once; their completions
 * are posted in that same order, and the done FIFO keeps it. Reads posted to wait for frames
 * (what this driver did before) do not keep it. All of them park in io_uring's poll on the
 * TAP's one wait queue; every frame wakes them all, one wins, the rest re-arm, and after
 * APOLL_MAX_RETRY (128) lost races the kernel (6.x io_uring/poll.c) stops re-arming a request
 * and punts it to an io-wq worker thread, which then blocks in the TAP's read: a second reader
 * on another thread, whose frame and completion race the inline ones. Measured on 6.18 with
 * 68 chained or 256 single reads: ~50 reads punted (io_uring:io_uring_queue_async_work, all
 * READV/READ from the poll task_work) and 3-19 inversions per 100,000 datagrams at 20,000/s,
 * ~10 iou-wrk threads in nicd; with RWF_NOWAIT reads none is punted, no io-wq thread exists, no
 * inversion is seen. The herd was also the CPU sink at low rates (every frame woke every
 * read: 130 µs of nicd CPU per frame at 5,000 frames/s with 256 reads, against 10 µs now).
 * A FIFO in submission order would not have been enough: which waiting read takes which frame
 * is itself up to the wake-up order. io_uring_register_iowq_max_workers cannot forbid io-wq
 * (0 means "unchanged") and would keep the race with one worker. Transmit is not affected:
 * writes to a TAP never wait, so each runs inline in SQ order (no write was ever punted).
 *
 * Transmit. tx_inflight slots; a frame takes one until its write completes and its chain is
 * freed. The virtio-net header is pushed into the head buffer's headroom (into the slot's own
 * copy when there is no headroom), then a single buffer goes out with WRITE_FIXED and a chain
 * with WRITEV over an iovec array kept in the slot (it must outlive the call). One submit per
 * tx_submit call, not per frame.
 *
 * user_data carries (op, slot, buffer index): no pointers, so nothing in the ring can dangle.
 *
 * Ownership and crashes. Buffers posted for reads or writes are held by nicd in the pool. close
 * cancels every request and waits for each to complete before freeing its buffer: a buffer is
 * never returned to the pool while the kernel may still write into it (one whose cancellation
 * does not complete in time is deliberately leaked to the next pool_reclaim). If nicd dies
 * instead, its process exit does NOT settle its requests: at exit the kernel (6.x
 * io_uring_cancel_generic, cancel_all false) cancels only requests tracked as holding files;
 * ours (reads, writes, the poll, the refill timeout) are cancelled by the ring's own teardown,
 * which runs on a kernel worker after the process is gone, and only at its end drops the ring's
 * reference to the TAP (the registered file) and unpins the registered pool area. The dead
 * nicd's buffers are therefore reclaimed only once a TUNSETIFF of ours succeeds: the device
 * accepts a new file only after the old one is released, which happens after the last
 * request of the old ring is freed. That is why open takes no buffer and the shell reclaims
 * between open and the first rx_poll (nicd_main.c). Today every read is RWF_NOWAIT and done
 * inside io_uring_submit, so the old ring has no read left to complete into a reclaimed
 * buffer anyway; a device refusing RWF_NOWAIT (reads then wait in the kernel, with the pool
 * pinned as registered buffers) is where this order is what keeps them apart.
 *
 * A file handed over (nic_handoff.h). A standby may hold a duplicate of the serving nicd's
 * file, received before the crash, and open with it: no TUNSETIFF, so no wait for the old
 * ring, and frames the kernel queued on the file meanwhile are still there to read. It then
 * has no proof that the old ring is gone, and needs none: nicd hands its file over only once a
 * read has completed with RWF_NOWAIT taken (handoff_fd), which means no read of the dead
 * process can still be in the kernel (the device's support for RWF_NOWAIT does not change
 * while it lives). What the old ring still holds until its teardown (a poll, the refill
 * timeout, the pinned pool area) writes into no buffer.
 *
 * A dead device. -EBADFD on a read or write (the TAP was deleted: the kernel detached every
 * file) marks the device dead: no read is posted again, transmit drops, and rx_poll returns
 * -EBADFD, on which the shell stops and exits so that systemd starts a nicd that attaches
 * again. It must never go on answering "serving" with nothing moving (issue 9).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h> /* RWF_NOWAIT */
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <liburing.h>
#include <net/if.h>
#include <poll.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nic_backend.h"
#include "nic_vnet.h"

#define TAP_VNET_HDR_LEN ((unsigned)sizeof(struct virtio_net_hdr))
#define TAP_ETH_HDR_LEN 14u
#define TAP_MTU_MIN 68u                                 /* RFC 791: every IPv4 link carries 68 */
#define TAP_MTU_MAX (POOL_DATA_ROOM - TAP_ETH_HDR_LEN) /* a frame fits one buffer */
/* Continuation buffers per read slot with TSO4: the head's data room plus whole slots must
 * exceed the largest frame, so that a read which fills all of it is known to be truncated. */
#define TAP_RX_TAIL ((NIC_GSO_FRAME_MAX - POOL_DATA_ROOM + POOL_SLOT_SIZE) / POOL_SLOT_SIZE)
#define TAP_RX_CHAIN_CAP (POOL_DATA_ROOM + TAP_RX_TAIL * POOL_SLOT_SIZE)
#define TAP_RX_CHAIN_POOL_SHARE 4 /* chained reads hold at most 1/4 of the pool */
#define TAP_RING_MAX 32768u                             /* IORING_MAX_ENTRIES */
#define TAP_CLOSE_WAIT_MS 2000
#define TAP_ATTACH_WAIT_MS 2000 /* for a dead owner's ring to let go of the device */
#define TAP_ATTACH_RETRY_MS 2 /* a standby taking over waits here: each ms is a blackout */
#define TAP_REFILL_RETRY_NS (1000 * 1000) /* empty read slots retried after 1 ms */
#define TAP_FIXED_FD 0 /* index of the TAP fd in the ring's file table */
#define TAP_FIXED_BUF 0
#define TAP_RX_BURST_MIN 8 /* reads tried at once after a wake-up (see "Receive order") */

_Static_assert(POOL_HEADROOM >= sizeof(struct virtio_net_hdr), "vnet header goes in headroom");
_Static_assert(TAP_RX_CHAIN_CAP > NIC_GSO_FRAME_MAX, "a chained read holds any frame");
_Static_assert(1 + TAP_RX_TAIL <= BUF_CHAIN_MAX, "a received super-frame is a valid chain");

/* user_data: op in bits 56..63, slot in 32..55, buffer index in 0..31. */
enum tap_op { TAP_OP_RX = 1, TAP_OP_TX = 2, TAP_OP_CANCEL = 3, TAP_OP_REFILL = 4, TAP_OP_POLL = 5 };

static inline uint64_t tap_ud(enum tap_op op, uint32_t slot, uint32_t index)
{
	return (uint64_t)op << 56 | (uint64_t)slot << 32 | index;
}
static inline enum tap_op tap_ud_op(uint64_t ud) { return (enum tap_op)(ud >> 56); }
static inline uint32_t tap_ud_slot(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffffu; }
static inline uint32_t tap_ud_index(uint64_t ud) { return (uint32_t)ud; }

enum tap_rx_state {
	TAP_RX_EMPTY,  /* no buffer: waiting for the pool (on the empty stack) */
	TAP_RX_IDLE,   /* buffers ready, read not posted: waiting for the TAP (on the idle stack) */
	TAP_RX_POSTED, /* read in the kernel's hands */
	TAP_RX_DONE,   /* read completed, queued in the done FIFO with its result */
};

struct tap_rx_slot {
	struct buf *b;      /* head: the frame starts at its POOL_HEADROOM */
	struct buf **tail;  /* TSO4: dev->rx_tail_n continuation buffers (ntail present) */
	struct iovec *iov;  /* TSO4: the READV's vector (must outlive the submission) */
	unsigned ntail;
	int32_t res;
	uint8_t state; /* enum tap_rx_state */
};

struct tap_tx_slot {
	struct buf *head;   /* chain being written; NULL while the slot is free */
	uint32_t expect;    /* bytes the write must report: vnet header + frame */
	uint32_t frame_len; /* frame bytes, for tx_bytes */
	struct virtio_net_hdr vh; /* the header when the head buffer has no headroom for it */
	struct iovec iov[BUF_CHAIN_MAX + 1]; /* for WRITEV: must outlive the call that queues it */
};

struct nic_dev {
	struct pool *pool;
	int fd;
	int efd;
	bool ring_ready;
	bool fixed_buf;  /* the pool data area is registered */
	bool dead;       /* the device went away (-EBADFD): stop posting */
	bool refill_armed; /* a TAP_OP_REFILL timeout is in the ring */
	bool poll_armed;   /* a TAP_OP_POLL (POLLIN on the TAP) is in the ring */
	bool rx_readable;  /* the TAP may have frames: no read has found it empty since the poll */
	bool rx_nowait;    /* reads carry RWF_NOWAIT (cleared if the device refuses it) */
	bool rx_nowait_proven; /* a read with RWF_NOWAIT completed: the device takes it */
	bool handed;       /* fd came from a predecessor (nic_handoff.h), not from TUNSETIFF */
	struct __kernel_timespec refill_ts;
	struct io_uring ring;
	uint8_t *area;   /* pool data area, registered as fixed buffer 0 */
	size_t area_len;
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	unsigned mtu;
	unsigned offload_tx; /* NIC_OFFLOAD_* we may write: what the config asked for */
	unsigned offload_rx; /* NIC_OFFLOAD_* the kernel granted (TUNSETOFFLOAD) */

	unsigned rx_n;
	unsigned rx_tail_n;  /* continuation buffers per slot: TAP_RX_TAIL with TSO4, else 0 */
	struct buf **rx_tails; /* rx_n * rx_tail_n, the slots' tail arrays */
	struct iovec *rx_iovs; /* rx_n * (1 + rx_tail_n) with TSO4 */
	struct tap_rx_slot *rx;
	uint32_t *rx_done;   /* FIFO of finished slots, capacity rx_n */
	unsigned rx_done_head, rx_done_count;
	uint32_t *rx_empty;  /* stack of empty slots */
	unsigned rx_empty_n;
	uint32_t *rx_idle;   /* stack of slots with buffers, not posted */
	unsigned rx_idle_n;
	unsigned rx_burst;   /* reads to post at once while the TAP is readable */
	unsigned rx_got;     /* frames the reads posted last found */
	unsigned rx_empty_counted; /* empty slots already counted in rx_drop_nobuf */
	unsigned rx_posted;  /* slots in TAP_RX_POSTED */
	struct buf **rx_scratch; /* burst allocation, capacity rx_n * (1 + rx_tail_n) */

	unsigned tx_n;
	struct tap_tx_slot *tx;
	uint32_t *tx_free;   /* stack of free slots */
	unsigned tx_free_n;
	struct buf **tx_done; /* chains to free after a reap, capacity tx_n */
	unsigned tx_done_n;

	struct nic_stats stats;
};

static uint64_t tap_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- completions ---------------------------------------------------------------------- */

static void tap_mark_dead(struct nic_dev *dev, int err)
{
	if (!dev->dead)
		log_err("tap %s: device detached (%s): nicd must reopen it", dev->ifname,
			strerror(-err));
	dev->dead = true;
	/* Seen by a write's completion, it must still reach the shell: rx_poll reports it. */
	(void)eventfd_write(dev->efd, 1);
}

/* A read finished: queue the slot in the done FIFO; rx_poll looks at the result. */
static void tap_rx_complete(struct nic_dev *dev, uint32_t slot, uint32_t index, int32_t res)
{
	if (slot >= dev->rx_n || dev->rx[slot].state != TAP_RX_POSTED ||
	    buf_index(dev->rx[slot].b) != index) {
		log_err("tap %s: stray rx completion (slot %u, buffer %u)", dev->ifname, slot, index);
		return;
	}
	struct tap_rx_slot *s = &dev->rx[slot];
	dev->rx_posted--;
	if (res == -EOPNOTSUPP && dev->rx_nowait) {
		/* A tun without FMODE_NOWAIT (6.18's has it) refuses RWF_NOWAIT. Reading on
		 * without it beats not reading at all, but the reads then wait in io_uring's poll
		 * and order is no longer ours to keep: say so once. */
		log_err("tap %s: reads refuse RWF_NOWAIT: receiving without it; frames may be "
			"reordered", dev->ifname);
		dev->rx_nowait = false;
		res = -EAGAIN;
	}
	if (dev->rx_nowait)
		dev->rx_nowait_proven = true;
	if (res == -EAGAIN) {
		/* The TAP's queue is empty: the slot waits, buffers and all, for the poll. */
		s->state = TAP_RX_IDLE;
		dev->rx_idle[dev->rx_idle_n++] = slot;
		dev->rx_readable = false;
		return;
	}
	if (res >= 0)
		dev->rx_got++;
	s->state = TAP_RX_DONE;
	s->res = res;
	dev->rx_done[(dev->rx_done_head + dev->rx_done_count) % dev->rx_n] = slot;
	dev->rx_done_count++;
}

/* A write finished: count it, queue its chain for freeing, free the slot. */
static void tap_tx_complete(struct nic_dev *dev, uint32_t slot, uint32_t index, int32_t res)
{
	if (slot >= dev->tx_n || !dev->tx[slot].head || buf_index(dev->tx[slot].head) != index) {
		log_err("tap %s: stray tx completion (slot %u, buffer %u)", dev->ifname, slot, index);
		return;
	}
	struct tap_tx_slot *t = &dev->tx[slot];
	if (res >= 0 && (uint32_t)res == t->expect) {
		dev->stats.tx_frames++;
		dev->stats.tx_bytes += t->frame_len;
	} else {
		/* A TAP write is all or nothing in practice; a short count means the kernel took
		 * a truncated frame, which is as bad as a failed one. */
		dev->stats.tx_errors++;
		if (res == -EBADFD)
			tap_mark_dead(dev, res);
		log_debug("tap %s: write of %u bytes: %d", dev->ifname, t->expect, res);
	}
	dev->tx_done[dev->tx_done_n++] = t->head;
	t->head = NULL;
	dev->tx_free[dev->tx_free_n++] = slot;
}

/* Reap every completion in the ring (in order: the CQ cannot be consumed out of order, so rx
 * completions are parked in the done FIFO rather than left in the ring), then free the
 * transmitted chains under one pool lock. */
static void tap_reap(struct nic_dev *dev)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&dev->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		switch (tap_ud_op(ud)) {
		case TAP_OP_RX:
			tap_rx_complete(dev, tap_ud_slot(ud), tap_ud_index(ud), cqe->res);
			break;
		case TAP_OP_TX:
			tap_tx_complete(dev, tap_ud_slot(ud), tap_ud_index(ud), cqe->res);
			break;
		case TAP_OP_CANCEL:
			break;
		case TAP_OP_REFILL: /* -ETIME: the wake-up itself is the point */
			dev->refill_armed = false;
			break;
		case TAP_OP_POLL: /* readable (or an error a read will report): try reads again */
			dev->poll_armed = false;
			dev->rx_readable = true;
			break;
		default:
			log_err("tap %s: unknown completion %#llx", dev->ifname,
				(unsigned long long)ud);
			break;
		}
		seen++;
	}
	io_uring_cq_advance(&dev->ring, seen);
	if (dev->tx_done_n) {
		pool_free_burst(dev->pool, dev->tx_done, dev->tx_done_n);
		dev->tx_done_n = 0;
	}
}

/* ---- receive -------------------------------------------------------------------------- */

/* Post the read of slot `slot` into its buffers (head, and tails with TSO4). The SQ always has
 * room: each slot (and the refill timer) has at most one request queued or in flight and the
 * ring is deeper than the number of slots. */
static void tap_rx_post(struct nic_dev *dev, uint32_t slot)
{
	struct tap_rx_slot *s = &dev->rx[slot];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&dev->ring);
	uint8_t *dst = s->b->slot + POOL_HEADROOM - TAP_VNET_HDR_LEN;
	unsigned len = TAP_VNET_HDR_LEN + POOL_DATA_ROOM;

	if (dev->rx_tail_n) {
		s->iov[0] = (struct iovec){.iov_base = dst, .iov_len = len};
		for (unsigned k = 0; k < dev->rx_tail_n; k++)
			s->iov[1 + k] = (struct iovec){.iov_base = s->tail[k]->slot,
						       .iov_len = POOL_SLOT_SIZE};
		io_uring_prep_readv(sqe, TAP_FIXED_FD, s->iov, 1 + dev->rx_tail_n, 0);
	} else if (dev->fixed_buf) {
		io_uring_prep_read_fixed(sqe, TAP_FIXED_FD, dst, len, 0, TAP_FIXED_BUF);
	} else {
		io_uring_prep_read(sqe, TAP_FIXED_FD, dst, len, 0);
	}
	/* Never wait and never go to io-wq: on an empty queue, complete with -EAGAIN. */
	sqe->rw_flags = dev->rx_nowait ? RWF_NOWAIT : 0;
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, tap_ud(TAP_OP_RX, slot, buf_index(s->b)));
	s->state = TAP_RX_POSTED;
	dev->rx_posted++;
}

/* Buffers slot s lacks before it can be posted. */
static unsigned tap_rx_missing(const struct nic_dev *dev, const struct tap_rx_slot *s)
{
	return (s->b ? 0u : 1u) + dev->rx_tail_n - s->ntail;
}

/* Give every empty slot fresh buffers (one burst allocation) and make it idle. A slot gets
 * everything it needs or waits (keeping what it got): a chained read with fewer tails could
 * truncate a super-frame. Slots left empty for lack of buffers are counted in rx_drop_nobuf
 * once each, not on every retry, so the counter does not grow with the poll rate. */
static void tap_rx_refill(struct nic_dev *dev)
{
	if (!dev->rx_empty_n || dev->dead)
		return;
	unsigned need = 0;
	for (unsigned i = 0; i < dev->rx_empty_n; i++)
		need += tap_rx_missing(dev, &dev->rx[dev->rx_empty[i]]);
	unsigned k = pool_alloc_burst(dev->pool, dev->rx_scratch, need), used = 0;
	while (dev->rx_empty_n && used < k) {
		uint32_t slot = dev->rx_empty[dev->rx_empty_n - 1];
		struct tap_rx_slot *s = &dev->rx[slot];

		if (!s->b)
			s->b = dev->rx_scratch[used++];
		while (s->ntail < dev->rx_tail_n && used < k)
			s->tail[s->ntail++] = dev->rx_scratch[used++];
		if (tap_rx_missing(dev, s))
			break; /* keeps its partial set; completed on a later refill */
		dev->rx_empty_n--;
		s->state = TAP_RX_IDLE;
		dev->rx_idle[dev->rx_idle_n++] = slot;
	}
	for (unsigned i = 0; i < k; i++)
		dev->rx_scratch[i] = NULL;
	if (dev->rx_empty_counted > dev->rx_empty_n)
		dev->rx_empty_counted = dev->rx_empty_n;
	dev->stats.rx_drop_nobuf += dev->rx_empty_n - dev->rx_empty_counted;
	dev->rx_empty_counted = dev->rx_empty_n;
	if (dev->rx_empty_n && !dev->refill_armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&dev->ring);
		dev->refill_ts = (struct __kernel_timespec){.tv_nsec = TAP_REFILL_RETRY_NS};
		io_uring_prep_timeout(sqe, &dev->refill_ts, 0, 0);
		io_uring_sqe_set_data64(sqe, tap_ud(TAP_OP_REFILL, 0, 0));
		dev->refill_armed = true;
	}
}

/* Post reads while the TAP may hold frames, else arm the poll that says when it does. Reads go
 * out rx_burst at a time: twice what the last batch found (at least TAP_RX_BURST_MIN, at most
 * every idle slot), so a busy queue is drained in few rounds while a trickle does not cost a
 * few hundred empty reads per frame. The poll is armed only with no read posted: a read
 * finding the queue empty is what turns rx_readable off, so a frame arriving in between is
 * seen by the poll's own readiness check when it is armed, never missed. */
static void tap_rx_kick(struct nic_dev *dev)
{
	if (dev->dead)
		return;
	if (dev->rx_readable && dev->rx_idle_n) {
		unsigned want = 2 * dev->rx_got;
		if (want < TAP_RX_BURST_MIN)
			want = TAP_RX_BURST_MIN;
		if (want < dev->rx_burst && dev->rx_got == dev->rx_burst)
			want = dev->rx_burst; /* the whole last batch was used: do not shrink */
		dev->rx_burst = want;
		dev->rx_got = 0;
		while (want-- && dev->rx_idle_n)
			tap_rx_post(dev, dev->rx_idle[--dev->rx_idle_n]);
	} else if (!dev->rx_readable && !dev->poll_armed && !dev->rx_posted && dev->rx_idle_n) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&dev->ring);
		io_uring_prep_poll_add(sqe, TAP_FIXED_FD, POLLIN);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, tap_ud(TAP_OP_POLL, 0, 0));
		dev->poll_armed = true;
	}
}

/* Chain the first `used` tails of s behind its head, holding `rest` frame bytes from each one's
 * slot start; the tails left over move to the front of s->tail for the next read. */
static void tap_rx_chain(struct nic_dev *dev, struct tap_rx_slot *s, uint32_t rest)
{
	struct buf *last = s->b;
	unsigned used = 0;

	while (rest) {
		struct buf *t = s->tail[used++];
		uint32_t n = rest < POOL_SLOT_SIZE ? rest : POOL_SLOT_SIZE;

		/* From empty at POOL_HEADROOM to [0, n): push the headroom back, then cut or
		 * extend to n. None of these can fail on a buffer pool_alloc gave us. */
		buf_push(t, POOL_HEADROOM);
		if (n > POOL_HEADROOM)
			buf_put(t, n - POOL_HEADROOM);
		else
			buf_trim(t, n);
		buf_chain_append(last, &t);
		last = buf_next(last);
		rest -= n;
	}
	s->ntail -= used;
	memmove(s->tail, s->tail + used, s->ntail * sizeof(s->tail[0]));
	for (unsigned k = s->ntail; k < dev->rx_tail_n; k++)
		s->tail[k] = NULL;
}

/* Check a finished read and fill *d's length and offload fields. True: the frame is good and
 * its chain (head at POOL_HEADROOM, then tails) now holds exactly the frame. False: dropped and
 * counted; every buffer is untouched. */
static bool tap_rx_frame(struct nic_dev *dev, struct tap_rx_slot *s, struct desc *d)
{
	struct virtio_net_hdr vh;

	if (s->res < 0) {
		if (s->res == -EBADFD) {
			tap_mark_dead(dev, s->res);
		} else if (s->res != -EAGAIN && s->res != -EINTR) {
			dev->stats.rx_errors++;
			log_debug("tap %s: read: %s", dev->ifname, strerror(-s->res));
		}
		return false;
	}
	if ((uint32_t)s->res < TAP_VNET_HDR_LEN + TAP_ETH_HDR_LEN) {
		dev->stats.rx_drop_short++;
		return false;
	}
	uint32_t len = (uint32_t)s->res - TAP_VNET_HDR_LEN;
	/* A TAP read returns what fit, silently cutting a longer frame: filling every posted
	 * byte of a chained read means the frame was longer than any IPv4 datagram. */
	if (dev->rx_tail_n && len >= TAP_RX_CHAIN_CAP) {
		dev->stats.rx_drop_oversize++;
		return false;
	}
	memcpy(&vh, s->b->slot + POOL_HEADROOM - TAP_VNET_HDR_LEN, sizeof(vh));
	if (nic_vnet_rx(&vh, len, dev->offload_rx, d, &dev->stats) < 0)
		return false;
	uint32_t head = len < POOL_DATA_ROOM ? len : POOL_DATA_ROOM;
	/* The read put at most POOL_DATA_ROOM frame bytes in the head, which fits the tailroom
	 * of a buffer that pool_alloc left empty at POOL_HEADROOM. */
	if (!buf_put(s->b, head)) {
		dev->stats.rx_errors++;
		return false;
	}
	if (len > head)
		tap_rx_chain(dev, s, len - head);
	d->len = len;
	if (d->gso_type != DESC_GSO_NONE)
		dev->stats.rx_gso_frames++;
	if (d->flags & DESC_F_CSUM_NEEDED)
		dev->stats.rx_csum_partial++;
	dev->stats.rx_frames++;
	dev->stats.rx_bytes += len;
	return true;
}

static void tap_submit(struct nic_dev *dev)
{
	if (!io_uring_sq_ready(&dev->ring))
		return;
	int err = io_uring_submit(&dev->ring);
	/* On failure the entries stay in the SQ and go with the next submit. */
	if (err < 0)
		log_warn("tap %s: io_uring_submit: %s", dev->ifname, strerror(-err));
}

static int tap_rx_poll(struct nic_dev *dev, struct buf **out, struct desc *d, unsigned budget)
{
	uint64_t count;
	unsigned n = 0;

	/* Drain the counter before reaping: a completion posted after this read signals again,
	 * so none is missed. Non-blocking: EAGAIN just means nothing was signalled. */
	if (read(dev->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("tap %s: eventfd read: %s", dev->ifname, strerror(errno));
	tap_reap(dev);

	while (n < budget && dev->rx_done_count) {
		uint32_t slot = dev->rx_done[dev->rx_done_head];
		struct tap_rx_slot *s = &dev->rx[slot];

		dev->rx_done_head = (dev->rx_done_head + 1) % dev->rx_n;
		dev->rx_done_count--;
		d[n] = (struct desc){0};
		if (tap_rx_frame(dev, s, &d[n])) {
			out[n] = s->b;
			d[n].buf = buf_index(s->b);
			d[n].gen = buf_gen(s->b);
			n++;
			s->b = NULL;
			s->state = TAP_RX_EMPTY;
			dev->rx_empty[dev->rx_empty_n++] = slot;
		} else if (dev->dead) {
			pool_free(&s->b);
			s->state = TAP_RX_EMPTY;
			dev->rx_empty[dev->rx_empty_n++] = slot;
		} else {
			/* dropped: the same buffers take the next read */
			s->state = TAP_RX_IDLE;
			dev->rx_idle[dev->rx_idle_n++] = slot;
		}
	}
	tap_rx_refill(dev);
	tap_rx_kick(dev);
	tap_submit(dev);
	/* Budget exhausted with frames still waiting: keep the eventfd readable so the shell
	 * comes straight back instead of sleeping on work that is already here. */
	if (dev->rx_done_count)
		(void)eventfd_write(dev->efd, 1);
	if (n == 0 && dev->dead)
		return -EBADFD;
	return (int)n;
}

/* ---- transmit ------------------------------------------------------------------------- */

/* Queue one chain, or say why not (the caller frees it). 0 when queued. */
static int tap_tx_one(struct nic_dev *dev, struct buf *b, const struct desc *d)
{
	unsigned nbuf = buf_chain_count(b);
	uint32_t len = buf_chain_len(b);
	struct virtio_net_hdr vh;

	if (dev->dead) {
		dev->stats.tx_errors++;
		return -EBADFD;
	}
	if (nbuf > BUF_CHAIN_MAX) {
		dev->stats.tx_drop_chain++;
		return -E2BIG;
	}
	if (len < TAP_ETH_HDR_LEN) { /* the TAP would refuse it with -EINVAL */
		dev->stats.tx_errors++;
		return -EINVAL;
	}
	/* The header comes from the descriptor (nic_vnet_tx checks and counts), so a TSO
	 * super-segment or a partial checksum is the kernel's to finish. */
	int rc = nic_vnet_tx(d, buf_data(b), buf_len(b), len, dev->offload_tx, dev->mtu, &vh,
			     &dev->stats);
	if (rc < 0)
		return rc;
	if (!dev->tx_free_n) {
		dev->stats.tx_drop_full++;
		return -ENOBUFS;
	}

	uint32_t slot = dev->tx_free[--dev->tx_free_n];
	struct tap_tx_slot *t = &dev->tx[slot];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&dev->ring);
	uint8_t *hdr = buf_headroom(b) >= TAP_VNET_HDR_LEN ? buf_push(b, TAP_VNET_HDR_LEN) : NULL;

	if (hdr)
		memcpy(hdr, &vh, sizeof(vh));
	if (nbuf == 1 && hdr) {
		if (dev->fixed_buf)
			io_uring_prep_write_fixed(sqe, TAP_FIXED_FD, buf_data(b), buf_len(b), 0,
						  TAP_FIXED_BUF);
		else
			io_uring_prep_write(sqe, TAP_FIXED_FD, buf_data(b), buf_len(b), 0);
	} else {
		unsigned k = 0;
		if (!hdr) {
			t->vh = vh;
			t->iov[k++] = (struct iovec){.iov_base = &t->vh, .iov_len = sizeof(t->vh)};
		}
		for (struct buf *c = b; c; c = buf_next(c))
			t->iov[k++] = (struct iovec){.iov_base = buf_data(c), .iov_len = buf_len(c)};
		io_uring_prep_writev(sqe, TAP_FIXED_FD, t->iov, k, 0);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, tap_ud(TAP_OP_TX, slot, buf_index(b)));
	t->head = b;
	t->expect = len + TAP_VNET_HDR_LEN;
	t->frame_len = len;
	if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		dev->stats.tx_gso_frames++;
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		dev->stats.tx_csum_partial++;
	return 0;
}

static unsigned tap_tx_submit(struct nic_dev *dev, struct buf **frames, const struct desc *d,
			      unsigned n)
{
	struct buf *drop[DESC_BATCH_MAX];
	unsigned ndrop = 0, queued = 0;

	tap_reap(dev); /* free the slots of writes finished since the last rx_poll */
	for (unsigned i = 0; i < n; i++) {
		struct buf *b = frames[i];
		frames[i] = NULL;
		if (!b)
			continue;
		if (tap_tx_one(dev, b, &d[i]) == 0) {
			queued++;
			continue;
		}
		drop[ndrop++] = b;
		if (ndrop == DESC_BATCH_MAX) {
			pool_free_burst(dev->pool, drop, ndrop);
			ndrop = 0;
		}
	}
	if (ndrop)
		pool_free_burst(dev->pool, drop, ndrop);
	tap_submit(dev);
	return queued;
}

/* ---- open / close --------------------------------------------------------------------- */

static int tap_ioctl_sock(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 && errno == EAFNOSUPPORT) /* a kernel without IPv4 still has packet sockets */
		s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s < 0 ? -errno : s;
}

/* One to one: the kernel judges the combination (it refuses TSO4 without CSUM). */
static unsigned long tap_tun_flags(unsigned offloads)
{
	return ((offloads & NIC_OFFLOAD_CSUM) ? TUN_F_CSUM : 0ul) |
	       ((offloads & NIC_OFFLOAD_TSO4) ? TUN_F_TSO4 : 0ul);
}

/* Ask the kernel for the receive offloads in `want` (NIC_OFFLOAD_*), stepping down on refusal:
 * what was asked for, then CSUM alone, then nothing (always accepted: it is what a TAP starts
 * with). dev->offload_rx says what was granted. Only the last step failing is an error. */
static int tap_offload(struct nic_dev *dev, unsigned want)
{
	const unsigned steps[] = {want, want & NIC_OFFLOAD_CSUM, 0};

	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (i > 0 && steps[i] == steps[i - 1])
			continue;
		if (ioctl(dev->fd, TUNSETOFFLOAD, tap_tun_flags(steps[i])) == 0) {
			dev->offload_rx = steps[i];
			if (steps[i] != want)
				log_warn("tap %s: offloads %#x refused; receiving with %#x",
					 dev->ifname, want, steps[i]);
			return 0;
		}
		int err = -errno;
		if (steps[i] == 0)
			return err;
		dev->stats.offload_refused++;
		log_warn("tap %s: TUNSETOFFLOAD %#lx: %s", dev->ifname, tap_tun_flags(steps[i]),
			 strerror(-err));
	}
	return -EINVAL; /* not reached: the last step is 0 */
}

/* Create or re-attach the persistent TAP, set its offloads, then configure its link: MTU, up,
 * and read the kernel side's MAC. */
/* A file a predecessor handed over (nic_handoff.h) is used only if it is attached to our device,
 * as we would have opened it: a TAP without packet information, with a virtio-net header, one
 * queue. Anything else (a file detached when the device was deleted since, a stranger's) is
 * closed and the device opened as usual. Consumes `handed`. */
static bool tap_adopt(struct nic_dev *dev, const char *ifname, int handed, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	int err = ioctl(handed, TUNGETIFF, ifr) < 0 ? -errno : 0;
	unsigned short want = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	unsigned short mask = want | IFF_TUN | IFF_MULTI_QUEUE;
	if (err == 0 && strncmp(ifr->ifr_name, ifname, IFNAMSIZ) == 0 &&
	    (ifr->ifr_flags & mask) == want) {
		dev->fd = handed;
		dev->handed = true;
		return true;
	}
	log_warn("tap %s: the file handed over is not attached to it (%s): opening the device",
		 ifname, err ? strerror(-err) : ifr->ifr_name);
	close(handed);
	return false;
}

static int tap_attach(struct nic_dev *dev, const char *ifname, unsigned offloads, int handed)
{
	struct ifreq ifr = {0};
	int vnet_hdr_sz = (int)TAP_VNET_HDR_LEN;

	if (handed >= 0 && tap_adopt(dev, ifname, handed, &ifr))
		goto attached;
	dev->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (dev->fd < 0)
		return -errno;
	/* -EBUSY: the device is attached to another file. That is a live nicd, or (after a
	 * crash) the io_uring of the dead one: the kernel tears a ring down asynchronously after
	 * its process has died and only then drops the ring's reference to the TAP. Its requests
	 * are already cancelled by then (at task exit), so waiting is safe; a live owner still
	 * gets -EBUSY once the wait is over. */
	uint64_t deadline = tap_now_ms() + TAP_ATTACH_WAIT_MS;
	unsigned tries = 0;
	for (;;) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		tries++;
		if (ioctl(dev->fd, TUNSETIFF, &ifr) == 0)
			break;
		int err = -errno;
		if (err != -EBUSY || tap_now_ms() >= deadline) {
			log_err("tap %s: TUNSETIFF: %s", ifname, strerror(-err));
			return err;
		}
		nanosleep(&(struct timespec){.tv_nsec = TAP_ATTACH_RETRY_MS * 1000000L}, NULL);
	}
	if (tries > 1)
		log_notice("tap %s: attached after waiting for the previous owner (%u tries)",
			   ifname, tries);
attached:
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifr.ifr_name);
	if (ioctl(dev->fd, TUNSETVNETHDRSZ, &vnet_hdr_sz) < 0)
		return -errno;
	int err = tap_offload(dev, offloads);
	if (err < 0)
		return err;
	if (ioctl(dev->fd, TUNSETPERSIST, 1UL) < 0)
		return -errno;
	return 0;
}

static int tap_link_config(struct nic_dev *dev)
{
	struct ifreq ifr = {0};
	int err = 0;
	int s = tap_ioctl_sock();

	if (s < 0)
		return s;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev->ifname);
	ifr.ifr_mtu = (int)dev->mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
		err = -errno;
		log_err("tap %s: SIOCSIFMTU %u: %s", dev->ifname, dev->mtu, strerror(-err));
		goto out;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
			err = -errno;
			log_err("tap %s: SIOCSIFFLAGS: %s", dev->ifname, strerror(-err));
			goto out;
		}
	}
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	memcpy(dev->mac, ifr.ifr_hwaddr.sa_data, sizeof(dev->mac));
out:
	close(s);
	return err;
}

static int tap_ring_setup(struct nic_dev *dev)
{
	/* +1 for the refill timeout, +1 for the poll, +1 for the cancel request of close. */
	unsigned depth = dev->rx_n + dev->tx_n + 3;
	struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL};
	int err = io_uring_queue_init_params(depth, &dev->ring, &p);

	if (err == -EINVAL) { /* a kernel before 5.18 has no SUBMIT_ALL */
		memset(&p, 0, sizeof(p));
		err = io_uring_queue_init_params(depth, &dev->ring, &p);
	}
	if (err < 0)
		return err;
	dev->ring_ready = true;
	err = io_uring_register_files(&dev->ring, &dev->fd, 1);
	if (err < 0)
		return err;
	struct iovec area = {.iov_base = dev->area, .iov_len = dev->area_len};
	err = io_uring_register_buffers(&dev->ring, &area, 1);
	if (err < 0)
		log_warn("tap %s: cannot register the pool (%zu bytes) with io_uring (%s): "
			 "using unregistered reads and writes", dev->ifname, dev->area_len,
			 strerror(-err));
	dev->fixed_buf = err == 0;
	return io_uring_register_eventfd(&dev->ring, dev->efd);
}

static void tap_close(struct nic_dev **devp);

static int tap_open(const struct nic_config *cfg, struct pool *pool, struct nic_dev **out)
{
	int handed = cfg && cfg->handed ? cfg->handed_fd : -1;
	if (!cfg || !pool || !out || !cfg->ifname[0] || !memchr(cfg->ifname, 0, IFNAMSIZ) ||
	    cfg->rx_inflight == 0 || cfg->tx_inflight == 0 || cfg->tx_inflight > TAP_RING_MAX - 4 ||
	    cfg->rx_inflight > TAP_RING_MAX - 3 - cfg->tx_inflight ||
	    cfg->mtu < TAP_MTU_MIN || cfg->mtu > TAP_MTU_MAX || (cfg->offloads & ~NIC_OFFLOAD_ALL)) {
		if (handed >= 0)
			close(handed);
		return -EINVAL;
	}

	struct nic_dev *dev = calloc(1, sizeof(*dev));
	int err;

	if (!dev) {
		if (handed >= 0)
			close(handed);
		return -ENOMEM;
	}
	dev->fd = -1;
	dev->efd = -1;
	dev->pool = pool;
	dev->mtu = cfg->mtu;
	dev->tx_n = cfg->tx_inflight;
	dev->offload_tx = cfg->offloads;
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", cfg->ifname);
	dev->area = pool_data_area(pool, &dev->area_len);

	err = tap_attach(dev, cfg->ifname, cfg->offloads, handed);
	if (err)
		goto fail;
	/* The read slots' shape follows what receive was granted (see the file comment). */
	dev->rx_n = cfg->rx_inflight;
	if (dev->offload_rx & NIC_OFFLOAD_TSO4) {
		unsigned cap = pool_count(pool) / TAP_RX_CHAIN_POOL_SHARE / (1 + TAP_RX_TAIL);

		dev->rx_tail_n = TAP_RX_TAIL;
		if (dev->rx_n > cap)
			dev->rx_n = cap ? cap : 1;
	}
	dev->rx = calloc(dev->rx_n, sizeof(*dev->rx));
	dev->rx_done = calloc(dev->rx_n, sizeof(*dev->rx_done));
	dev->rx_empty = calloc(dev->rx_n, sizeof(*dev->rx_empty));
	dev->rx_idle = calloc(dev->rx_n, sizeof(*dev->rx_idle));
	dev->rx_scratch = calloc((size_t)dev->rx_n * (1 + dev->rx_tail_n),
				 sizeof(*dev->rx_scratch));
	if (dev->rx_tail_n) {
		dev->rx_tails = calloc((size_t)dev->rx_n * dev->rx_tail_n, sizeof(*dev->rx_tails));
		dev->rx_iovs = calloc((size_t)dev->rx_n * (1 + dev->rx_tail_n),
				      sizeof(*dev->rx_iovs));
	}
	dev->tx = calloc(dev->tx_n, sizeof(*dev->tx));
	dev->tx_free = calloc(dev->tx_n, sizeof(*dev->tx_free));
	dev->tx_done = calloc(dev->tx_n, sizeof(*dev->tx_done));
	if (!dev->rx || !dev->rx_done || !dev->rx_empty || !dev->rx_idle || !dev->rx_scratch || !dev->tx ||
	    !dev->tx_free || !dev->tx_done ||
	    (dev->rx_tail_n && (!dev->rx_tails || !dev->rx_iovs))) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; dev->rx_tail_n && i < dev->rx_n; i++) {
		dev->rx[i].tail = dev->rx_tails + (size_t)i * dev->rx_tail_n;
		dev->rx[i].iov = dev->rx_iovs + (size_t)i * (1 + dev->rx_tail_n);
	}
	/* Pushed in reverse so slot 0 is used first: easier to read in a debugger, nothing more. */
	for (unsigned i = 0; i < dev->rx_n; i++)
		dev->rx_empty[dev->rx_empty_n++] = dev->rx_n - 1 - i;
	for (unsigned i = 0; i < dev->tx_n; i++)
		dev->tx_free[dev->tx_free_n++] = dev->tx_n - 1 - i;
	dev->stats.offload_rx = dev->offload_rx;
	dev->stats.rx_reads = dev->rx_n;
	dev->stats.handed_over = dev->handed;

	err = tap_link_config(dev);
	if (err)
		goto fail;
	dev->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->efd < 0) {
		err = -errno;
		goto fail;
	}
	err = tap_ring_setup(dev);
	if (err) {
		log_err("tap %s: io_uring setup: %s", dev->ifname, strerror(-err));
		goto fail;
	}
	dev->rx_readable = true;
	dev->rx_nowait = true;
	/* No buffer is taken here (see "Ownership and crashes"): the first rx_poll fills the
	 * slots and posts the reads, and this makes the shell call it at once. */
	if (eventfd_write(dev->efd, 1) < 0) {
		err = -errno;
		goto fail;
	}
	log_info("tap %s: attached%s, mtu %u, %u reads (%u buffers each) + %u writes in flight, "
		 "%s buffers, offload rx %#x tx %#x",
		 dev->ifname, dev->handed ? " (file handed over)" : "", dev->mtu, dev->rx_n,
		 1 + dev->rx_tail_n, dev->tx_n,
		 dev->fixed_buf ? "registered" : "unregistered", dev->offload_rx, dev->offload_tx);
	*out = dev;
	return 0;
fail:
	tap_close(&dev);
	return err;
}

/* Cancel every request and wait until each has completed: only then may its buffer go back
 * to the pool, since until its completion the kernel may still write into it. */
static void tap_cancel_all(struct nic_dev *dev)
{
	uint64_t deadline = tap_now_ms() + TAP_CLOSE_WAIT_MS;

	tap_submit(dev);
	if (dev->rx_posted + (dev->tx_n - dev->tx_free_n) + dev->poll_armed == 0)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&dev->ring);
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data64(sqe, tap_ud(TAP_OP_CANCEL, 0, 0));
		tap_submit(dev);
	}
	while (dev->rx_posted + (dev->tx_n - dev->tx_free_n) + dev->poll_armed > 0) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
		struct io_uring_cqe *cqe;
		int err = io_uring_wait_cqe_timeout(&dev->ring, &cqe, &ts);

		if (err < 0 && err != -ETIME && err != -EINTR)
			break;
		tap_reap(dev);
		if (tap_now_ms() > deadline)
			break;
	}
}

static void tap_close(struct nic_dev **devp)
{
	struct nic_dev *dev = *devp;

	if (!dev)
		return;
	*devp = NULL;
	if (dev->ring_ready)
		tap_cancel_all(dev);
	unsigned nfree = 0, leaked = 0;
	for (unsigned i = 0; dev->rx && dev->rx_scratch && i < dev->rx_n; i++) {
		struct tap_rx_slot *s = &dev->rx[i];
		if (s->state == TAP_RX_POSTED) {
			leaked++; /* the kernel may still own them: left to pool_reclaim */
		} else {
			if (s->b)
				dev->rx_scratch[nfree++] = s->b;
			for (unsigned k = 0; k < s->ntail; k++)
				dev->rx_scratch[nfree++] = s->tail[k];
		}
		s->b = NULL;
		s->ntail = 0;
	}
	if (nfree)
		pool_free_burst(dev->pool, dev->rx_scratch, nfree);
	for (unsigned i = 0; dev->tx && i < dev->tx_n; i++)
		if (dev->tx[i].head)
			leaked++;
	if (leaked)
		log_err("tap %s: %u requests did not complete on close; their buffers stay with "
			"nicd until pool_reclaim", dev->ifname, leaked);
	if (dev->ring_ready) {
		/* The ring's file table holds a reference to the TAP, and a ring is torn down
		 * asynchronously after its fd is closed: without this the device would stay
		 * attached (-EBUSY for the next open) for a while after close returns. */
		io_uring_unregister_files(&dev->ring);
		io_uring_queue_exit(&dev->ring);
	}
	if (dev->efd >= 0)
		close(dev->efd);
	if (dev->fd >= 0)
		close(dev->fd); /* TUNSETPERSIST stays: the device outlives nicd */
	free(dev->rx);
	free(dev->rx_done);
	free(dev->rx_empty);
	free(dev->rx_idle);
	free(dev->rx_scratch);
	free(dev->rx_tails);
	free(dev->rx_iovs);
	free(dev->tx);
	free(dev->tx_free);
	free(dev->tx_done);
	free(dev);
}

static int tap_event_fd(struct nic_dev *dev) { return dev->efd; }

static void tap_kernel_mac(struct nic_dev *dev, uint8_t mac[6]) { memcpy(mac, dev->mac, 6); }

static const struct nic_stats *tap_stats(struct nic_dev *dev) { return &dev->stats; }

/* Only once a read has shown RWF_NOWAIT taken: then no read of ours ever waits in the kernel,
 * so a successor holding this file may reclaim our buffers as soon as we are dead, without the
 * proof a TUNSETIFF gives (see "Ownership and crashes"). */
static int tap_handoff_fd(struct nic_dev *dev)
{
	return dev->rx_nowait && dev->rx_nowait_proven && !dev->dead ? dev->fd : -EAGAIN;
}

const struct nic_backend_ops nic_tap_ops = {
	.name = "tap",
	.open = tap_open,
	.event_fd = tap_event_fd,
	.rx_poll = tap_rx_poll,
	.tx_submit = tap_tx_submit,
	.kernel_mac = tap_kernel_mac,
	.stats = tap_stats,
	.handoff_fd = tap_handoff_fd,
	.close = tap_close,
};
