/* fault: `ustackctl fault` — faults injected into a running instance, for tests of what the
 * stack survives (docs/ARCHITECTURE.md, "Fault injection").
 *
 *   kill  LAYER          SIGKILL to the layer's serving process as its systemd manager knows
 *                        it (the MainPID of whichever of the layer's two units serves, twin.c):
 *                        the standby takes over and the manager restarts the killed unit.
 *   hang  LAYER SECONDS  SIGSTOP to that process, and a detached helper process that sends
 *                        SIGCONT after SECONDS, only to the same process (pid and start time
 *                        checked, so a pid reused after a watchdog restart is never touched).
 *                        Past WatchdogSec the manager restarts the layer (its watchdog signal
 *                        and then SIGKILL end a stopped process too). While it lasts, the
 *                        runtime directory holds fault-hang-<layer> (pid, start, until), which
 *                        `status` shows and `clear` ends early (SIGCONT at once).
 *   link  FROM TO ...    a FAULT request to FROM: drop, duplicate, damage, delay on its link to
 *                        TO (common/link_fault.h); without --seed one is drawn and printed,
 *                        so the run can be repeated exactly.
 *   slow  LAYER US       a FAULT request: the layer takes US longer over each batch.
 *   clear [LAYER]        end the faults of LAYER, or of every layer.
 * Every argument is checked before anything is touched; a layer refusing a request says why
 * (its errno).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "ctl.h"
#include "pool.h"
#include "ustackctl.h"

#define FAULT_TIMEOUT_MS 2000

/* The links that exist: each transport <-> ipd <-> nicd. */
static bool fault_link_exists(int from, int to)
{
	if (from == POOL_HOLDER_IPD)
		return to == POOL_HOLDER_NICD || to == POOL_HOLDER_UDPD || to == POOL_HOLDER_TCPD;
	return to == POOL_HOLDER_IPD &&
	       (from == POOL_HOLDER_NICD || from == POOL_HOLDER_UDPD || from == POOL_HOLDER_TCPD);
}

static const char *fault_layer_name(uint32_t holder)
{
	for (unsigned i = 0; i < layer_table_len; i++)
		if ((uint32_t)layer_table[i].pool_holder == holder)
			return layer_table[i].name;
	return "?";
}

int fault_parse(struct uctl_opts *o, int npos, char **pos)
{
	if (npos < 1) {
		uctl_err("fault: what to inject is required (kill|hang|link|slow|clear) "
			 "(try 'ustackctl --help')");
		return UCTL_EXIT_USAGE;
	}
	const char *what = pos[0];
	int need_min, need_max;
	if (strcmp(what, "kill") == 0) {
		o->fault = UCTL_FAULT_KILL;
		need_min = need_max = 2;
	} else if (strcmp(what, "hang") == 0) {
		o->fault = UCTL_FAULT_HANG;
		need_min = need_max = 3;
	} else if (strcmp(what, "link") == 0) {
		o->fault = UCTL_FAULT_LINK;
		need_min = need_max = 3;
	} else if (strcmp(what, "slow") == 0) {
		o->fault = UCTL_FAULT_SLOW;
		need_min = need_max = 3;
	} else if (strcmp(what, "clear") == 0) {
		o->fault = UCTL_FAULT_CLEAR;
		need_min = 1;
		need_max = 2;
	} else {
		uctl_err("fault: unknown fault '%s' (kill|hang|link|slow|clear)", what);
		return UCTL_EXIT_USAGE;
	}
	if (npos < need_min || npos > need_max) {
		static const char *const usage[] = {
			[UCTL_FAULT_KILL] = "kill LAYER",
			[UCTL_FAULT_HANG] = "hang LAYER SECONDS",
			[UCTL_FAULT_LINK] = ("link FROM TO [--drop P] [--dup P] [--corrupt P] "
					     "[--delay-us N] [--seed S]"),
			[UCTL_FAULT_SLOW] = "slow LAYER MICROSECONDS",
			[UCTL_FAULT_CLEAR] = "clear [LAYER]",
		};
		uctl_err("fault: usage: ustackctl fault --instance NAME %s", usage[o->fault]);
		return UCTL_EXIT_USAGE;
	}
	for (int i = 1; i < npos && i < 3; i++) {
		bool is_layer = i == 1 || o->fault == UCTL_FAULT_LINK;
		if (is_layer && !layer_find(pos[i])) {
			uctl_err("fault: unknown layer '%s' (nicd|ipd|tcpd|udpd)", pos[i]);
			return UCTL_EXIT_USAGE;
		}
	}
	if (o->fault_link_opts && o->fault != UCTL_FAULT_LINK) {
		uctl_err("fault: --drop, --dup, --corrupt, --delay-us and --seed are only valid with "
			 "'fault link'");
		return UCTL_EXIT_USAGE;
	}
	o->layer = npos > 1 ? pos[1] : NULL;
	char *end;
	switch (o->fault) {
	case UCTL_FAULT_HANG: {
		double s = strtod(pos[2], &end);
		if (end == pos[2] || *end || !isfinite(s) || s < 0.001 || s > 3600) {
			uctl_err("fault: hang: SECONDS '%s' is not a number in 0.001..3600", pos[2]);
			return UCTL_EXIT_USAGE;
		}
		o->fault_ms = (uint64_t)(s * 1000.0 + 0.5);
		break;
	}
	case UCTL_FAULT_SLOW: {
		errno = 0;
		unsigned long v = strtoul(pos[2], &end, 10);
		if (errno || end == pos[2] || *end || pos[2][0] == '-' || v > 1000000) {
			uctl_err("fault: slow: MICROSECONDS '%s' is not a number in 0..1000000 "
				 "(0: no longer slow)",
				 pos[2]);
			return UCTL_EXIT_USAGE;
		}
		o->fault_slow_us = (uint32_t)v;
		break;
	}
	case UCTL_FAULT_LINK: {
		const struct layer_info *from = layer_find(pos[1]), *to = layer_find(pos[2]);
		if (!fault_link_exists(from->pool_holder, to->pool_holder)) {
			uctl_err("fault: link: there is no link from %s to %s (links: nicd<->ipd, "
				 "ipd<->udpd, ipd<->tcpd)",
				 pos[1], pos[2]);
			return UCTL_EXIT_USAGE;
		}
		o->fault_to = pos[2];
		break;
	}
	default:
		break;
	}
	return -1;
}

/* --drop/--dup/--corrupt P in [0, 1]. */
int fault_parse_p(const char *opt, const char *s, double *out)
{
	char *end;
	double p = strtod(s, &end);
	if (end == s || *end || !(p >= 0.0 && p <= 1.0)) {
		uctl_err("fault: %s '%s' is not a probability in [0, 1]", opt, s);
		return UCTL_EXIT_USAGE;
	}
	*out = p;
	return 0;
}

static int fault_request(void *zctx, const char *instance, const char *layer,
			 Ustack__FaultSpec *spec)
{
	char why[256];
	int rc = status_ctl_check(instance, layer, why, sizeof(why));
	if (rc < 0) {
		uctl_err("fault: %s: %s (is instance %s up?)", layer, why, instance);
		return rc;
	}
	Ustack__CtlRequest req;
	ustack__ctl_request__init(&req);
	req.type = USTACK__CTL_REQUEST__TYPE__FAULT;
	req.fault = spec;
	Ustack__CtlReply *r = NULL;
	rc = ctl_call_request(zctx, instance, layer, &req, FAULT_TIMEOUT_MS, &r);
	if (rc < 0) {
		uctl_err("fault: %s: %s", layer,
			 rc == -ETIMEDOUT ? "no answer (down, or hung?)" : strerror(-rc));
		return rc;
	}
	rc = r->status;
	if (rc == -EOPNOTSUPP)
		uctl_err("fault: %s does not take fault requests (an older build?)", layer);
	else if (rc < 0)
		uctl_err("fault: %s refused: %s", layer, strerror(-rc));
	ustack__ctl_reply__free_unpacked(r, NULL);
	return rc;
}

/* The manager of the instance, or an error printed. */
static int fault_manager(const char *instance, struct manager *m)
{
	struct uctl_state st;
	int rc = state_read(instance, &st);
	if (rc == -ENOENT) {
		uctl_err("fault: instance %s is not up", instance);
		return rc;
	}
	if (rc < 0 || st.mode == STATE_MODE_NONE) {
		uctl_err("fault: cannot tell which manager runs instance %s", instance);
		return rc < 0 ? rc : -EINVAL;
	}
	if (manager_init(m, instance, st.mode, st.manager_pid, st.manager_start) < 0) {
		uctl_err("fault: bad runtime path for instance %s", instance);
		return -EINVAL;
	}
	if (m->mode == STATE_MODE_PRIVATE && !manager_private_alive(m)) {
		uctl_err("fault: the private manager of instance %s (pid %d) is gone", instance,
			 (int)m->pid);
		return -ESRCH;
	}
	return 0;
}

/* The serving unit's MainPID, or an error printed. The layer's own word on its pid decides
 * between the two units when it answers; a stopped or dying layer does not, and then the
 * units' status texts do (twin.c). */
static int fault_main_pid(const char *instance, const struct layer_info *l, pid_t *pid)
{
	struct manager m;
	int rc = fault_manager(instance, &m);
	if (rc < 0)
		return rc;
	struct layer_twins tw;
	if (layer_twins_serving(&m, l, &tw) < 0) {
		uctl_err("fault: no unit of %s has a serving process now (restarting?)", l->name);
		return -ESRCH;
	}
	*pid = (pid_t)tw.u[tw.serving].pid;
	return 0;
}

/* A process's start time (/proc/PID/stat field 22): with the pid, its identity. */
static int fault_start_time(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	if (!p)
		return -EIO;
	p++;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EIO;
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

static uint64_t fault_realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fault_hang_path(const char *instance, const char *layer, char *out, size_t size)
{
	char file[48];
	snprintf(file, sizeof(file), "fault-hang-%s", layer);
	return ustack_runtime_path(instance, file, out, size);
}

struct fault_hang {
	long pid;
	uint64_t start, until_ms;
};

static int fault_hang_read(const char *path, struct fault_hang *h)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int n = fscanf(f, "%ld %" SCNu64 " %" SCNu64, &h->pid, &h->start, &h->until_ms);
	fclose(f);
	return n == 3 ? 0 : -EINVAL;
}

/* SIGCONT to the hung process if it is still the one stopped, and the record removed. */
static void fault_hang_end(const char *path, const struct fault_hang *h)
{
	uint64_t start;
	if (fault_start_time((pid_t)h->pid, &start) == 0 && start == h->start)
		kill((pid_t)h->pid, SIGCONT);
	struct fault_hang now;
	if (fault_hang_read(path, &now) == 0 && now.pid == h->pid && now.start == h->start)
		unlink(path);
}

static int fault_hang(const struct uctl_opts *o, const struct layer_info *l)
{
	pid_t pid;
	if (fault_main_pid(o->instance, l, &pid) < 0)
		return UCTL_EXIT_FAIL;
	struct fault_hang h = {.pid = pid, .until_ms = fault_realtime_ms() + o->fault_ms};
	char path[UCTL_PATH_MAX];
	if (fault_start_time(pid, &h.start) < 0 ||
	    fault_hang_path(o->instance, l->name, path, sizeof(path)) < 0) {
		uctl_err("fault: hang: %s's process %d is gone", l->name, (int)pid);
		return UCTL_EXIT_FAIL;
	}
	FILE *f = fopen(path, "we");
	if (!f || fprintf(f, "%ld %" PRIu64 " %" PRIu64 "\n", h.pid, h.start, h.until_ms) < 0 ||
	    fclose(f) != 0) {
		uctl_err("fault: hang: %s: %s", path, strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	fflush(NULL);
	/* The helper first, so there is never a stopped process without one to wake it. */
	pid_t child = fork();
	if (child < 0) {
		uctl_err("fault: hang: fork: %s", strerror(errno));
		unlink(path);
		return UCTL_EXIT_FAIL;
	}
	if (child == 0) {
		/* Detached (its own session, re-parented): outlives this command, ends after
		 * SIGCONT. */
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		for (;;) {
			uint64_t now = fault_realtime_ms();
			if (now >= h.until_ms)
				break;
			struct fault_hang cur;
			if (fault_hang_read(path, &cur) < 0 || cur.pid != h.pid)
				_exit(0); /* cleared meanwhile: `clear` woke it */
			uint64_t left = h.until_ms - now;
			usleep((useconds_t)(left < 100 ? left : 100) * 1000);
		}
		fault_hang_end(path, &h);
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	if (kill(pid, SIGSTOP) < 0) {
		uctl_err("fault: hang: SIGSTOP %d: %s", (int)pid, strerror(errno));
		fault_hang_end(path, &h);
		return UCTL_EXIT_FAIL;
	}
	printf("fault: %s (pid %d) stopped for %.3f s\n", l->name, (int)pid,
	       (double)o->fault_ms / 1000.0);
	return UCTL_EXIT_OK;
}

static int fault_kill(const struct uctl_opts *o, const struct layer_info *l)
{
	pid_t pid;
	if (fault_main_pid(o->instance, l, &pid) < 0)
		return UCTL_EXIT_FAIL;
	if (kill(pid, SIGKILL) < 0) {
		uctl_err("fault: kill: SIGKILL %d: %s", (int)pid, strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	printf("fault: %s (pid %d) killed\n", l->name, (int)pid);
	return UCTL_EXIT_OK;
}

/* End a hang of the layer early, if there is one. */
static void fault_hang_clear(const char *instance, const char *layer)
{
	char path[UCTL_PATH_MAX];
	struct fault_hang h;
	if (fault_hang_path(instance, layer, path, sizeof(path)) == 0 &&
	    fault_hang_read(path, &h) == 0)
		fault_hang_end(path, &h);
}

int fault_cmd(const struct uctl_opts *o)
{
	const struct layer_info *l = o->layer ? layer_find(o->layer) : NULL;
	if (o->fault == UCTL_FAULT_KILL)
		return fault_kill(o, l);
	if (o->fault == UCTL_FAULT_HANG)
		return fault_hang(o, l);

	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	Ustack__FaultSpec spec;
	ustack__fault_spec__init(&spec);
	int rc = 0;
	switch (o->fault) {
	case UCTL_FAULT_LINK: {
		spec.kind = USTACK__FAULT_SPEC__KIND__LINK;
		spec.to = (uint32_t)layer_find(o->fault_to)->pool_holder;
		spec.drop = o->fault_drop;
		spec.dup = o->fault_dup;
		spec.corrupt = o->fault_corrupt;
		spec.delay_us = o->fault_delay_us;
		spec.seed = o->fault_seed;
		if (!o->fault_has_seed && getrandom(&spec.seed, sizeof(spec.seed), 0) !=
						  (ssize_t)sizeof(spec.seed))
			spec.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		rc = fault_request(zctx, o->instance, l->name, &spec);
		if (rc == 0)
			printf("fault: link %s->%s drop %g dup %g corrupt %g delay %u us seed %" PRIu64
			       "\n",
			       l->name, o->fault_to, spec.drop, spec.dup, spec.corrupt, spec.delay_us,
			       (uint64_t)spec.seed);
		break;
	}
	case UCTL_FAULT_SLOW:
		spec.kind = USTACK__FAULT_SPEC__KIND__SLOW;
		spec.slow_us = o->fault_slow_us;
		rc = fault_request(zctx, o->instance, l->name, &spec);
		if (rc == 0)
			printf("fault: %s slow, %u us per batch\n", l->name, spec.slow_us);
		break;
	case UCTL_FAULT_CLEAR:
		spec.kind = USTACK__FAULT_SPEC__KIND__CLEAR;
		for (unsigned i = 0; i < layer_table_len; i++) {
			const struct layer_info *x = &layer_table[i];
			if (!x->present || (l && x != l))
				continue;
			fault_hang_clear(o->instance, x->name);
			int r = fault_request(zctx, o->instance, x->name, &spec);
			if (r < 0 && !rc)
				rc = r;
		}
		if (rc == 0)
			printf("fault: cleared %s\n", l ? l->name : "every layer");
		break;
	default:
		rc = -EINVAL;
	}
	zmq_ctx_term(zctx);
	return rc < 0 ? UCTL_EXIT_FAIL : UCTL_EXIT_OK;
}

void fault_status_print(void *zctx, const char *instance, const struct layer_info *l,
			bool serving)
{
	char path[UCTL_PATH_MAX];
	struct fault_hang h;
	if (fault_hang_path(instance, l->name, path, sizeof(path)) == 0 &&
	    fault_hang_read(path, &h) == 0) {
		uint64_t now = fault_realtime_ms();
		printf("  fault hang: pid %ld stopped, SIGCONT in %.1fs\n", h.pid,
		       h.until_ms > now ? (double)(h.until_ms - now) / 1000.0 : 0.0);
	}
	Ustack__CtlReply *r = NULL;
	if (!serving || ctl_call(zctx, instance, l->name, USTACK__CTL_REQUEST__TYPE__STATUS,
				 FAULT_TIMEOUT_MS, &r) < 0)
		return;
	for (size_t i = 0; i < r->n_faults; i++) {
		const Ustack__FaultState *s = r->faults[i];
		const Ustack__FaultSpec *sp = s->spec;
		if (!sp)
			continue;
		if (sp->kind == USTACK__FAULT_SPEC__KIND__LINK)
			printf("  fault link %s->%s  drop %g dup %g corrupt %g delay %uus seed %" PRIu64
			       "  for %.1fs: %" PRIu64 " descs, %" PRIu64 " dropped, %" PRIu64
			       " duplicated, %" PRIu64 " corrupted, %" PRIu64 " delayed, %" PRIu64
			       " delay overflow\n",
			       l->name, fault_layer_name(sp->to), sp->drop, sp->dup, sp->corrupt,
			       sp->delay_us, (uint64_t)sp->seed, (double)s->age_ms / 1000.0,
			       (uint64_t)s->descs, (uint64_t)s->dropped, (uint64_t)s->duplicated,
			       (uint64_t)s->corrupted, (uint64_t)s->delayed,
			       (uint64_t)s->delay_overflow);
		else if (sp->kind == USTACK__FAULT_SPEC__KIND__SLOW)
			printf("  fault slow %uus per batch  for %.1fs: %" PRIu64 " batches slowed\n",
			       sp->slow_us, (double)s->age_ms / 1000.0, (uint64_t)s->slowed);
	}
	ustack__ctl_reply__free_unpacked(r, NULL);
}
