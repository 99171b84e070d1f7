/* tcpd_stage: early data of connections not accepted yet, kept where it outlives tcpd.
 *
 * A connection established from a listener's queue receives before any application holds it,
 * and its peer is acknowledged for what arrives (as Linux does, in the child socket). Those
 * bytes wait here until ACCEPT copies them into the new slot's RX ring. In process memory a
 * kill lost them after the peer had been told they arrived, so recovery had to reset the
 * connection (one dial in 250 tcpd kills under the fault campaign); here they are in the
 * "tcpstage" state segment (common/state_segment.h) and a restarted tcpd takes them up again.
 *
 * The area: TCPD_STAGE_PAGES pages of TCPD_STAGE_PAGE bytes, 64 MiB in all (TCPD_STAGE_ALL:
 * what a flood of handshakes that send can hold, Linux bounds it by tcp_mem), touched only
 * where used. The first TCPD_STAGE_KEEP_PAGES stay the segment's memory once touched: first
 * fit uses the low pages again and again, so an ordinary load stays there and pays no system
 * call per accept. A run freed above them is given back (the discard hook: the shell has tmpfs
 * drop the pages), as is every free page above them at a restart, so a flood's memory goes
 * back to the system once its connections are accepted or gone, not at `ustackctl down`.
 * A connection's stage is one run of contiguous pages, first fit. Each page
 * records the cid of the run that holds it (owner[]); the run's first page also records its
 * length (run[]), stored last when a run is made and cleared first when it is freed, so a
 * kill at any instruction leaves either a whole run or pages no run claims, which recovery
 * frees. The bytes themselves are written inside the segment's transaction (tcpd_data.c):
 * a kill rolls the connection's record back to before them, and what lies past its rcv_nxt
 * is never read.
 *
 * Recovery: tcpd_stage_claim takes a run back for a connection the recovered table still has,
 * not accepted, with early data that fits the run; tcpd_stage_sweep then frees everything no
 * claim took. Pure: memory in, memory out (the unit test drives it on an ordinary buffer).
 */
#ifndef USTACK_TCPD_STAGE_H
#define USTACK_TCPD_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp_core.h"

#define TCPD_STAGE_ALL (64u << 20)
#define TCPD_STAGE_PAGE (16u << 10)
#define TCPD_STAGE_PAGES (TCPD_STAGE_ALL / TCPD_STAGE_PAGE)
#define TCPD_STAGE_LAYER "tcpstage" /* the segment: <shm dir>/tcpstage-state */
#define TCPD_STAGE_VERSION 1u
#define TCPD_STAGE_KEEP_PAGES 64u /* 1 MiB kept touched (file comment) */

/* Give len bytes at p back to the system (their contents are not needed again: a run is
 * written before it is read). */
typedef void tcpd_stage_discard_fn(void *arg, void *p, size_t len);

/* The shared area: the payload of the segment. */
struct tcpd_stage_area {
	uint32_t owner[TCPD_STAGE_PAGES]; /* the cid whose run holds the page, 0: free */
	uint32_t run[TCPD_STAGE_PAGES];   /* at a run's first page its length in pages, else 0 */
	uint8_t data[TCPD_STAGE_PAGES][TCPD_STAGE_PAGE];
};

/* One connection's stage, process-local (indexed by the connection's slot). */
struct tcpd_stage {
	uint32_t cid;   /* whose (0: none): the slot's next occupant has its own */
	uint32_t cap;   /* bytes usable: its receive buffer when it was made */
	uint16_t first; /* its run */
	uint16_t npages;
};

struct tcpd_stages {
	struct tcpd_stage_area *a;
	tcpd_stage_discard_fn *discard; /* NULL: nothing is given back */
	void *discard_arg;
	struct tcpd_stage s[TCP_CONNS_MAX];
	uint64_t staged;   /* bytes of the runs held now */
	uint64_t returned; /* bytes of freed runs given back, ever (not the sweep's) */
};

/* Start a view of area a (no run is known yet: claim, then sweep); discard (may be NULL)
 * gives freed pages above TCPD_STAGE_KEEP_PAGES back. */
void tcpd_stage_init(struct tcpd_stages *st, struct tcpd_stage_area *a,
		     tcpd_stage_discard_fn *discard, void *discard_arg);
/* Connection idx (cid) has a stage of at least cap bytes: the one it has, or a new run.
 * 0, or -ENOBUFS when no run of that many pages is free (the caller drops the segment before
 * the core takes it, as a full ring drops), -EINVAL for a cap of 0 or above the area. */
int tcpd_stage_get(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t cap);
/* The stage's bytes (cap of them), or NULL if idx has none for cid. */
uint8_t *tcpd_stage_data(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t *cap);
/* Free idx's run, if it has one, and give back its pages above TCPD_STAGE_KEEP_PAGES. */
void tcpd_stage_release(struct tcpd_stages *st, unsigned idx);
/* Recovery: take back the run of cid for slot idx if a whole one is there with room for
 * `need` bytes (the early data the recovered connection counts). true if taken. */
bool tcpd_stage_claim(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t need);
/* Recovery: free every page that no claimed run holds, and give back every free page above
 * TCPD_STAGE_KEEP_PAGES (what a killed tcpd had staged, or freed without giving back). */
void tcpd_stage_sweep(struct tcpd_stages *st);

#endif
