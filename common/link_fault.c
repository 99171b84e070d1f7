/* link_fault: a process's fault table, the delay lines and the ctl extension (link_fault.h).
 *
 * The per-descriptor decisions are fault.c's; this file holds what is left of a batch for its
 * delay (chains still ours, descriptors sealed as they will leave), sends it when due through
 * the transport's link_xmit in batches of at most DESC_BATCH_MAX, and keeps the counters.
 * Everything runs on the layer's own thread: link_send, link_recv, the loop's timer and the
 * ctl handler.
 */
#include "link_fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "link_priv.h"
#include "log.h"

struct link_fault_held {
	struct buf *chain; /* handed over with the descriptor, or NULL */
	struct desc wire;
	uint64_t held_at; /* sent as the batch's send time: the receiver's transit shows the delay */
	uint64_t due;
};

struct link_fault {
	bool active;
	uint64_t set_at;
	struct fault_inj inj;
	struct fault_counts past; /* of the faults set on this link before the active one */
	struct link_fault_held *q; /* LINK_FAULT_HELD_MAX entries once a delay was set */
	unsigned head, len;
};

struct link_faults {
	struct loop *loop;
	int timer;
	uint64_t armed; /* the timer's deadline as we last set it */
	struct link *links[LINK_FAULTS_MAX];
	unsigned n;
	uint32_t slow_us;
	uint64_t slow_set_at;
	uint64_t slowed;      /* batches slowed by the active slowness */
	uint64_t slowed_past; /* and by those before */
};

static uint64_t link_faults_timer(void *arg, uint64_t now)
{
	struct link_faults *f = arg;
	f->armed = link_faults_poll(f, now);
	return f->armed;
}

int link_faults_create(struct loop *lp, struct link *const *links, unsigned n,
		       struct link_faults **out)
{
	if (n > LINK_FAULTS_MAX)
		return -EINVAL;
	struct link_faults *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->loop = lp;
	f->armed = CLOCK_NEVER;
	f->timer = -1;
	if (lp) {
		f->timer = loop_add_timer(lp, link_faults_timer, f, CLOCK_NEVER);
		if (f->timer < 0) {
			free(f);
			return -ENOSPC;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		f->links[f->n++] = links[i];
		*link_faults_of(links[i]) = f;
	}
	*out = f;
	return 0;
}

int link_faults_attach(struct loop *lp, struct ctl_server *ctl, struct link *const *links,
		       unsigned n, struct link_faults **out)
{
	int rc = link_faults_create(lp, links, n, out);
	if (rc == 0)
		ctl_server_set_ext(ctl, link_faults_ctl, *out);
	return rc;
}

void link_faults_destroy(struct link_faults **fp)
{
	struct link_faults *f = *fp;
	if (!f)
		return;
	for (unsigned i = 0; i < f->n; i++)
		*link_faults_of(f->links[i]) = NULL;
	if (f->loop && f->timer >= 0)
		loop_arm_timer(f->loop, f->timer, CLOCK_NEVER);
	free(f);
	*fp = NULL;
}

static struct link *link_faults_tx(struct link_faults *f, enum pool_holder to)
{
	for (unsigned i = 0; i < f->n; i++)
		if (!link_is_rx(f->links[i]) && link_peer(f->links[i]) == to)
			return f->links[i];
	return NULL;
}

/* Send wire[0..m) with their chains in batches of at most DESC_BATCH_MAX. The first error, or
 * 0. */
static int link_fault_xmit(struct link *l, struct buf **chains, struct desc *wire, unsigned m,
			   uint64_t sent)
{
	int err = 0;
	for (unsigned at = 0; at < m; at += DESC_BATCH_MAX) {
		unsigned k = m - at < DESC_BATCH_MAX ? m - at : DESC_BATCH_MAX;
		int rc = link_xmit(l, chains + at, wire + at, k, sent);
		if (rc == -EPERM) { /* cannot happen: every chain came from our caller, checked */
			log_err("fault: a chain not ours on the link to %s",
				link_layer_name(link_peer(l)));
			for (unsigned i = at; i < at + k; i++)
				chains[i] = NULL;
		}
		if (rc < 0 && !err)
			err = rc;
	}
	return err;
}

/* Send the first k held descriptors (as one or more batches). */
static void link_fault_release(struct link *l, struct link_fault *lf, unsigned k)
{
	struct buf *chains[DESC_BATCH_MAX];
	struct desc wire[DESC_BATCH_MAX];
	while (k) {
		unsigned b = k < DESC_BATCH_MAX ? k : DESC_BATCH_MAX;
		uint64_t sent = lf->q[lf->head].held_at;
		for (unsigned i = 0; i < b; i++) {
			struct link_fault_held *h = &lf->q[lf->head];
			chains[i] = h->chain;
			wire[i] = h->wire;
			h->chain = NULL;
			lf->head = (lf->head + 1) % LINK_FAULT_HELD_MAX;
			lf->len--;
		}
		link_fault_xmit(l, chains, wire, b, sent);
		k -= b;
	}
}

static void link_fault_arm(struct link_faults *f, uint64_t due)
{
	if (f && f->loop && due < f->armed) {
		f->armed = due;
		loop_arm_timer(f->loop, f->timer, due);
	}
}

int link_fault_send(struct link *l, struct buf **bufs, struct desc *descs, unsigned n,
		    uint64_t now)
{
	struct link_fault *lf = *link_fault_of(l);
	if (!lf->active)
		return link_xmit(l, bufs, descs, n, now);
	struct buf *chains[FAULT_WIRE_MAX];
	struct desc wire[FAULT_WIRE_MAX];
	unsigned m = fault_inj_apply(&lf->inj, link_pool(l), bufs, descs, n, chains, wire);
	if (!lf->inj.spec.delay_us) {
		int rc = link_fault_xmit(l, chains, wire, m, now);
		return rc < 0 ? rc : (int)n;
	}
	uint64_t due = now + (uint64_t)lf->inj.spec.delay_us * 1000u;
	for (unsigned i = 0; i < m; i++) {
		if (lf->len == LINK_FAULT_HELD_MAX) {
			lf->inj.n.delay_overflow++;
			pool_free(&chains[i]);
			continue;
		}
		struct link_fault_held *h = &lf->q[(lf->head + lf->len) % LINK_FAULT_HELD_MAX];
		h->chain = chains[i];
		h->wire = wire[i];
		h->held_at = now;
		h->due = due;
		lf->len++;
		lf->inj.n.delayed++;
	}
	link_fault_arm(*link_faults_of(l), due);
	return (int)n;
}

uint64_t link_faults_poll(struct link_faults *f, uint64_t now)
{
	uint64_t next = CLOCK_NEVER;
	for (unsigned i = 0; i < f->n; i++) {
		struct link *l = f->links[i];
		struct link_fault *lf = *link_fault_of(l);
		if (!lf || !lf->len)
			continue;
		/* FIFO: a later entry is never released before an earlier one (a shorter delay set
		 * meanwhile waits behind the longer one, as a queue does). */
		unsigned k = 0;
		while (k < lf->len && lf->q[(lf->head + k) % LINK_FAULT_HELD_MAX].due <= now)
			k++;
		link_fault_release(l, lf, k);
		if (lf->len && lf->q[lf->head].due < next)
			next = lf->q[lf->head].due;
	}
	return next;
}

void link_fault_recv(struct link *l, int got)
{
	struct link_faults *f = *link_faults_of(l);
	if (!f->slow_us || got <= 0)
		return;
	f->slowed++;
	struct timespec ts = {.tv_sec = f->slow_us / 1000000u,
			      .tv_nsec = (long)(f->slow_us % 1000000u) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void link_fault_close(struct link *l)
{
	struct link_fault **lfp = link_fault_of(l);
	struct link_fault *lf = *lfp;
	if (!lf)
		return;
	/* What a delay still holds was never sent: ours to free. */
	while (lf->len) {
		pool_free(&lf->q[lf->head].chain);
		lf->head = (lf->head + 1) % LINK_FAULT_HELD_MAX;
		lf->len--;
	}
	free(lf->q);
	free(lf);
	*lfp = NULL;
}

static void link_fault_counts_add(struct fault_counts *a, const struct fault_counts *b)
{
	a->descs += b->descs;
	a->dropped += b->dropped;
	a->duplicated += b->duplicated;
	a->corrupted += b->corrupted;
	a->delayed += b->delayed;
	a->delay_overflow += b->delay_overflow;
}

/* End the active fault of a link, keeping its counts; send what its delay holds. */
static void link_fault_end(struct link *l, struct link_fault *lf)
{
	if (lf->active)
		link_fault_counts_add(&lf->past, &lf->inj.n);
	lf->active = false;
	lf->inj.n = (struct fault_counts){0};
	link_fault_release(l, lf, lf->len);
}

int link_faults_set_link(struct link_faults *f, enum pool_holder to,
			 const struct fault_spec *spec, uint64_t now)
{
	if (fault_spec_check(spec) < 0)
		return -EINVAL;
	struct link *l = link_faults_tx(f, to);
	if (!l)
		return -ENOENT;
	struct link_fault **lfp = link_fault_of(l);
	if (!*lfp && !(*lfp = calloc(1, sizeof(**lfp))))
		return -ENOMEM;
	struct link_fault *lf = *lfp;
	if (spec->delay_us && !lf->q && !(lf->q = calloc(LINK_FAULT_HELD_MAX, sizeof(*lf->q))))
		return -ENOMEM;
	/* The old fault's held descriptors go now: the new one starts from an empty line. */
	link_fault_end(l, lf);
	fault_inj_init(&lf->inj, spec);
	lf->active = true;
	lf->set_at = now;
	log_notice("fault: link to %s: drop %.4f dup %.4f corrupt %.4f delay %u us seed %llu",
		   link_layer_name(to), fault_p_to_double(spec->drop),
		   fault_p_to_double(spec->dup), fault_p_to_double(spec->corrupt), spec->delay_us,
		   (unsigned long long)spec->seed);
	return 0;
}

int link_faults_set_slow(struct link_faults *f, uint32_t slow_us, uint64_t now)
{
	if (slow_us > LINK_FAULT_SLOW_MAX_US)
		return -EINVAL;
	f->slowed_past += f->slowed;
	f->slowed = 0;
	f->slow_us = slow_us;
	f->slow_set_at = now;
	log_notice("fault: slow, %u us per batch", slow_us);
	return 0;
}

void link_faults_clear(struct link_faults *f, uint64_t now)
{
	(void)now;
	for (unsigned i = 0; i < f->n; i++) {
		struct link_fault *lf = *link_fault_of(f->links[i]);
		if (lf)
			link_fault_end(f->links[i], lf);
	}
	f->slowed_past += f->slowed;
	f->slowed = 0;
	f->slow_us = 0;
	log_notice("fault: cleared");
}

const struct fault_counts *link_faults_counts(struct link_faults *f, enum pool_holder to)
{
	struct link *l = link_faults_tx(f, to);
	struct link_fault *lf = l ? *link_fault_of(l) : NULL;
	return lf && lf->active ? &lf->inj.n : NULL;
}

/* ---- control ------------------------------------------------------------------------------ */

static const struct stat_field link_fault_count_fields[] = {
	STAT_FIELD(struct fault_counts, descs),      STAT_FIELD(struct fault_counts, dropped),
	STAT_FIELD(struct fault_counts, duplicated), STAT_FIELD(struct fault_counts, corrupted),
	STAT_FIELD(struct fault_counts, delayed),    STAT_FIELD(struct fault_counts, delay_overflow),
};
#define LINK_FAULT_COUNT_FIELDS (sizeof(link_fault_count_fields) / sizeof(link_fault_count_fields[0]))
_Static_assert(LINK_FAULT_COUNT_FIELDS == sizeof(struct fault_counts) / sizeof(uint64_t),
	       "link_fault_count_fields must name every counter");

static int link_faults_stats(struct link_faults *f, Ustack__CtlReply *r, struct ctl_server *srv)
{
	int rc = 0;
	for (unsigned i = 0; rc == 0 && i < f->n; i++) {
		struct link *l = f->links[i];
		if (link_is_rx(l))
			continue;
		struct fault_counts c = {0};
		struct link_fault *lf = *link_fault_of(l);
		if (lf) {
			c = lf->past;
			if (lf->active)
				link_fault_counts_add(&c, &lf->inj.n);
		}
		char prefix[48];
		snprintf(prefix, sizeof(prefix), "fault_to_%s_", link_layer_name(link_peer(l)));
		rc = ctl_reply_add_counters(srv, r, prefix, link_fault_count_fields,
					    LINK_FAULT_COUNT_FIELDS, &c);
	}
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "fault_slowed_batches", f->slowed_past + f->slowed);
	return rc;
}

static Ustack__FaultState *link_faults_state(struct ctl_server *srv, Ustack__CtlReply *r)
{
	Ustack__FaultState *s = ctl_reply_alloc(srv, sizeof(*s));
	Ustack__FaultSpec *sp = ctl_reply_alloc(srv, sizeof(*sp));
	if (!s || !sp)
		return NULL;
	ustack__fault_state__init(s);
	ustack__fault_spec__init(sp);
	s->spec = sp;
	r->faults[r->n_faults++] = s;
	return s;
}

static int link_faults_status(struct link_faults *f, Ustack__CtlReply *r, struct ctl_server *srv,
			      uint64_t now)
{
	r->faults = ctl_reply_alloc(srv, (f->n + 1) * sizeof(*r->faults));
	if (!r->faults)
		return -ENOMEM;
	for (unsigned i = 0; i < f->n; i++) {
		struct link *l = f->links[i];
		struct link_fault *lf = *link_fault_of(l);
		if (link_is_rx(l) || !lf || !lf->active)
			continue;
		Ustack__FaultState *s = link_faults_state(srv, r);
		if (!s)
			return -ENOMEM;
		const struct fault_spec *sp = &lf->inj.spec;
		s->spec->kind = USTACK__FAULT_SPEC__KIND__LINK;
		s->spec->to = link_peer(l);
		s->spec->drop = fault_p_to_double(sp->drop);
		s->spec->dup = fault_p_to_double(sp->dup);
		s->spec->corrupt = fault_p_to_double(sp->corrupt);
		s->spec->delay_us = sp->delay_us;
		s->spec->seed = sp->seed;
		s->age_ms = (now - lf->set_at) / CLOCK_NS_PER_MS;
		s->descs = lf->inj.n.descs;
		s->dropped = lf->inj.n.dropped;
		s->duplicated = lf->inj.n.duplicated;
		s->corrupted = lf->inj.n.corrupted;
		s->delayed = lf->inj.n.delayed;
		s->delay_overflow = lf->inj.n.delay_overflow;
	}
	if (f->slow_us) {
		Ustack__FaultState *s = link_faults_state(srv, r);
		if (!s)
			return -ENOMEM;
		s->spec->kind = USTACK__FAULT_SPEC__KIND__SLOW;
		s->spec->slow_us = f->slow_us;
		s->age_ms = (now - f->slow_set_at) / CLOCK_NS_PER_MS;
		s->slowed = f->slowed;
	}
	return 0;
}

static int link_faults_request(struct link_faults *f, const Ustack__FaultSpec *m, uint64_t now)
{
	if (!m)
		return -EINVAL;
	switch (m->kind) {
	case USTACK__FAULT_SPEC__KIND__CLEAR:
		link_faults_clear(f, now);
		return 0;
	case USTACK__FAULT_SPEC__KIND__SLOW:
		return link_faults_set_slow(f, m->slow_us, now);
	case USTACK__FAULT_SPEC__KIND__LINK: {
		struct fault_spec spec = {.delay_us = m->delay_us, .seed = m->seed};
		if (m->to == POOL_HOLDER_FREE || m->to >= POOL_HOLDER_COUNT ||
		    fault_p_from_double(m->drop, &spec.drop) < 0 ||
		    fault_p_from_double(m->dup, &spec.dup) < 0 ||
		    fault_p_from_double(m->corrupt, &spec.corrupt) < 0)
			return -EINVAL;
		return link_faults_set_link(f, (enum pool_holder)m->to, &spec, now);
	}
	default:
		return -EINVAL;
	}
}

int link_faults_ctl(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
		    struct ctl_server *srv)
{
	struct link_faults *f = arg;
	uint64_t now = clock_now();
	switch (req->type) {
	case USTACK__CTL_REQUEST__TYPE__FAULT:
		return link_faults_request(f, req->fault, now);
	case USTACK__CTL_REQUEST__TYPE__STATUS:
		return link_faults_status(f, r, srv, now);
	case USTACK__CTL_REQUEST__TYPE__STATS:
		return link_faults_stats(f, r, srv);
	default:
		return 0;
	}
}
