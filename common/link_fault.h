/* link_fault: fault injection in a running layer (`ustackctl fault`), on its descriptor links.
 *
 * A server makes one table of its links (link_faults_create, after its loop) and gives it to
 * its control socket (ctl_server_set_ext with link_faults_ctl): FAULT requests then set and
 * clear faults, STATUS replies list the active ones, STATS replies carry their counters. The
 * shells do nothing else; everything happens inside link_send and link_recv, for both
 * transports (ZeroMQ and rings) alike.
 *
 *   link    at the sending end of this layer's link to a peer, per descriptor: drop,
 *           duplicate, damage (fault.h: seeded, reproducible, ownership exact), then
 *           --delay-us: what is left of each batch is held, its chains still ours, and sent
 *           when the loop's timer says it is due (never by sleeping the loop). The delay line
 *           holds LINK_FAULT_HELD_MAX descriptors; past that they are dropped and counted
 *           (delay_overflow), as netem's limit. What it holds when the fault is cleared goes
 *           out at once; what it holds when the link closes is freed.
 *   slow    the layer sleeps slow_us after each batch it takes from any of its links. A
 *           sleep, on purpose: a slow layer is one whose work on a batch takes longer, and
 *           while it works it serves nothing else (no other link, no control request, no
 *           watchdog), so the links in front of it fill and back-pressure does what it would
 *           do. A timer that only postponed each batch would model a slow link, not a slow
 *           layer, and would serve everything else at full speed meanwhile. Past WatchdogSec
 *           of it per loop pass, systemd restarts the layer, as it would a layer that slow.
 *           Batches a layer takes from elsewhere (nicd's from its device, a transport's from
 *           the applications' rings) are not slowed.
 *
 * Counters (STATS): fault_to_<peer>_{descs,dropped,duplicated,corrupted,delayed,
 * delay_overflow} per link, fault_slowed_batches; cumulative since the layer started. The
 * receiver counts what it refused: link_from_<peer>_rx_drop_corrupt (a damaged descriptor),
 * link_from_<peer>_rx_drop_stale (a duplicate).
 */
#ifndef USTACK_LINK_FAULT_H
#define USTACK_LINK_FAULT_H

#include <stdint.h>

#include "ctl.h"
#include "fault.h"
#include "link.h"
#include "loop.h"

#define LINK_FAULTS_MAX 8       /* links of one process */
#define LINK_FAULT_HELD_MAX 8192 /* descriptors one link's delay line holds */
#define LINK_FAULT_SLOW_MAX_US 1000000u

struct link_faults;

/* The table of links[0..n) (n <= LINK_FAULTS_MAX) of a process, whose delays run on lp's
 * timer (lp NULL: tests call link_faults_poll themselves). The links must outlive it until
 * link_faults_destroy. 0, -EINVAL, -ENOMEM or -ENOSPC (no timer left in lp). */
int link_faults_create(struct loop *lp, struct link *const *links, unsigned n,
		       struct link_faults **out);
/* link_faults_create, then the table answers on ctl (ctl_server_set_ext): what a shell calls
 * once its loop and control socket exist. */
int link_faults_attach(struct loop *lp, struct ctl_server *ctl, struct link *const *links,
		       unsigned n, struct link_faults **out);
/* Forgets the links (their faults and delay lines stay with them until link_close). */
void link_faults_destroy(struct link_faults **f);

/* Set a fault: on the link to `to` (-ENOENT: no such link here), or the layer's slowness.
 * -EINVAL for a spec out of range (fault_spec_check, slow above LINK_FAULT_SLOW_MAX_US). */
int link_faults_set_link(struct link_faults *f, enum pool_holder to,
			 const struct fault_spec *spec, uint64_t now);
int link_faults_set_slow(struct link_faults *f, uint32_t slow_us, uint64_t now);
/* End every fault; what delays hold goes out now. */
void link_faults_clear(struct link_faults *f, uint64_t now);

/* Send what the delays hold that is due at now; returns the next due time or CLOCK_NEVER. */
uint64_t link_faults_poll(struct link_faults *f, uint64_t now);

/* The counts of the fault active on the link to `to` (NULL: none). */
const struct fault_counts *link_faults_counts(struct link_faults *f, enum pool_holder to);

/* ctl extension (ctl_server_set_ext): answers FAULT, adds to STATUS and STATS replies. */
int link_faults_ctl(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
		    struct ctl_server *srv);

#endif
