/* tcpd_state: tcpd's state segment — attaching it, and taking over what a previous tcpd left
 * in it (the records and their recovery are tcpd_store.c's).
 *
 * Nothing in a segment from an earlier process is trusted more than a client's bytes would be:
 * it may have died at any instruction. tcpd_store_recover rolls back the journal, recovers the
 * core's table record by record and repairs every link between sessions, binds and the core's
 * sockets. Only a payload of another layout (another tcpd version) starts fresh. What the
 * recovery's repairs send (a FIN or RST for a socket that lost its session) is discarded:
 * nothing is connected yet; the peer learns from its own retransmission. Surviving sessions are
 * DETACHED until their application resumes (xport_session.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "tcpd_priv.h"

unsigned tcpd_bind_of(const struct tcpd *u, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;
	if (cid & TCP_CID_LISTENER)
		return idx < TCP_LISTENERS_MAX ? u->lis_bind[idx] : TCPD_BIND_NONE;
	return idx < TCP_CONNS_MAX ? u->conn_bind[idx] : TCPD_BIND_NONE;
}

void tcpd_map_set(struct tcpd *u, unsigned b)
{
	uint32_t cid = u->st->binds[b].cid;
	unsigned idx = cid & 0x7fffu;
	if (!cid)
		return;
	if (cid & TCP_CID_LISTENER) {
		if (idx < TCP_LISTENERS_MAX)
			u->lis_bind[idx] = (uint16_t)b;
	} else if (idx < TCP_CONNS_MAX) {
		u->conn_bind[idx] = (uint16_t)b;
	}
}

void tcpd_map_clear(struct tcpd *u, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;
	if (!cid)
		return;
	if (cid & TCP_CID_LISTENER) {
		if (idx < TCP_LISTENERS_MAX)
			u->lis_bind[idx] = TCPD_BIND_NONE;
	} else if (idx < TCP_CONNS_MAX) {
		u->conn_bind[idx] = TCPD_BIND_NONE;
	}
}

/* Recovery's question for a connection not accepted yet with early data (tcpd_store_recover). */
static bool tcpd_early_kept(void *arg, unsigned idx, uint32_t cid, uint32_t bytes)
{
	struct tcpd *u = arg;
	return tcpd_stage_claim(&u->stg, idx, cid, bytes);
}

/* The stage's discard hook: tmpfs frees the pages (MADV_REMOVE punches them out of the
 * segment's file, which is what gives shared memory back; MADV_DONTNEED would only unmap our
 * view). Rounded inward to whole system pages: the area's pages start 64 bytes past one. */
static void tcpd_stage_return(void *arg, void *p, size_t len)
{
	struct tcpd *u = arg;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(pg - 1);

	if (end <= start || madvise((void *)start, end - start, MADV_REMOVE) == 0)
		return;
	if (u->stats.stage_return_errors++ == 0)
		log_warn("stage: giving pages back: %s", strerror(errno));
}

int tcpd_state_open(struct tcpd *u, uint64_t now)
{
	bool fresh = false, stage_fresh = false;
	int src = state_segment_open(u->instance, TCPD_STAGE_LAYER, TCPD_STAGE_VERSION,
				     sizeof(struct tcpd_stage_area), &u->stage_seg, &stage_fresh);
	if (src < 0) {
		log_err("stage segment: %s", strerror(-src));
		return src;
	}
	tcpd_stage_init(&u->stg, state_segment_payload(u->stage_seg), tcpd_stage_return, u);
	int rc = state_segment_open(u->instance, TCPD_STATE_LAYER, TCPD_STATE_VERSION,
				    sizeof(struct tcpd_state), &u->seg, &fresh);
	if (rc < 0) {
		log_err("state segment: %s", strerror(-rc));
		return rc;
	}
	u->st = state_segment_payload(u->seg);
	u->t = &u->st->table;
	u->generation = state_segment_generation(u->seg);
	memset(u->conn_bind, 0xff, sizeof(u->conn_bind));
	memset(u->lis_bind, 0xff, sizeof(u->lis_bind));

	if (!fresh) {
		u->io.n_tx = u->io.n_ev = 0;
		rc = tcpd_store_recover(u->st, now, &u->io, tcpd_early_kept, u);
		if (rc < 0) {
			log_warn("state: not a payload this tcpd reads (%s): starting empty",
				 strerror(-rc));
		} else {
			u->restored_conns = (uint64_t)rc;
			/* Output of the repairs goes nowhere; their events are looked at once
			 * the sessions are known (tcpd_main.c runs the io after the links). */
			u->io.n_tx = 0;
		}
		fresh = rc < 0;
	}
	if (fresh) {
		uint8_t seed[32];
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
			log_err("getrandom: %s", strerror(errno));
			return -EIO;
		}
		tcpd_store_init(u->st, seed, &u->host);
		u->io.n_tx = u->io.n_ev = 0;
	} else {
		tcp_set_host(u->t, &u->host); /* the config may have changed (MTU, offload) */
	}
	if (fresh) /* nothing claimed a run: the stage starts empty as well */
		tcpd_stage_init(&u->stg, u->stg.a, tcpd_stage_return, u);
	tcpd_stage_sweep(&u->stg);
	u->state_fresh = fresh;
	u->restored_sessions = xport_sessions_restore(&u->x, u->st->sessions, now);
	for (unsigned b = 0; b < TCPD_BINDS; b++)
		tcpd_map_set(u, b);
	log_info("state segment: %s (generation %llu), %llu sessions and %llu connections restored",
		 fresh ? "fresh" : "attached", (unsigned long long)u->generation,
		 (unsigned long long)u->restored_sessions, (unsigned long long)u->restored_conns);
	return 0;
}

void tcpd_state_close(struct tcpd *u)
{
	state_segment_close(&u->seg);
	state_segment_close(&u->stage_seg);
	u->st = NULL;
	u->t = NULL;
}
