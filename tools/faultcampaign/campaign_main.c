/* ustack-faultcampaign: a seeded fault campaign against a running instance (issue 9).
 *
 *   ustack-faultcampaign --instance NAME --netns NS --faults N --seed S
 *                        [--tcp-conns N] [--udp-flows M] [--tcp-rate BYTES_PER_S]
 *                        [--recovery-timeout S] [--port-base P] [--ctl PATH]
 *                        [--kinds KIND,...] [--layers LAYER,...]
 *
 * While N TCP connections and M UDP flows carry checked data between the stack (libsock, this
 * process) and the Linux kernel in namespace NS (a child process that joins it with setns), both
 * ways (campaign_traffic.c), it injects N faults one at a time, each drawn from the seed
 * (campaign_plan.c: kill, hang below and past WatchdogSec, link drop/dup/corrupt/delay bursts,
 * slow; into nicd, ipd, tcpd or udpd; at a random time), through `ustackctl fault`
 * (campaign_ctl.c), and after each waits for the recovery: every layer serves again (`ustackctl
 * status`) and then every flow moved again (a TCP direction 32 KiB, a UDP flow two answers),
 * before the next one. The instance must be up, with nothing else using it.
 *
 * What the figures mean:
 *   faults            injected (an injection ustackctl refused is counted apart, and fails the
 *                     run).
 *   transparent       faults after which nothing was lost, corrupted or broken, no flow stalled
 *                     past the bound, and no layer restarted but the one the fault meant to
 *                     (kill and hang past the watchdog restart it; nothing else may).
 *   lost_connections  TCP connections that failed (an error on a call, EOF before all was
 *                     received, no EOF at the end within the bound) or stalled (a direction
 *                     that did not move within the recovery bound); UDP flows whose socket
 *                     failed or stalled the same way.
 *   lost_bytes        TCP: bytes a sender's send() accepted that its receiver never got before
 *                     EOF (or the end of the bound). UDP, a datagram protocol: a datagram lost
 *                     in a fault is expected, and the client sends the request again every
 *                     10 ms (`retries`, reported, not a loss: 10 ms is tens of the stack's
 *                     round trips, and short beside a takeover, so a UDP flow's blackout is
 *                     the fault's, not a long retry timer's; at 50 ms the retry was most of
 *                     a kill's blackout once standbys took over in 5-15 ms); a request whose
 *                     intact answer
 *                     has not come within 20 s of its first try counts its payload as lost.
 *   corrupt_bytes     bytes that arrived different from what was sent: TCP, each received byte
 *                     against the sender's stream at that offset (every byte is compared, which
 *                     is stronger than a checksum); UDP, any datagram a client receives that is
 *                     not byte for byte a request it sent (its differing bytes, or all of it).
 *   blackout          per fault, from the injection until every flow moved again after the
 *                     fault ended: the longest time any one flow went without progress from
 *                     the injection to the recovery. Its floor is the flows' own pace (a TCP
 *                     chunk every 8 ms at the default rate, a UDP request every 5 ms), which
 *                     the campaign measures before the first fault and prints.
 *   what set it       for a blackout above 50 ms (issue 9's target), what the worst flow waited
 *                     for (cp_blackout_cause): the fault's own length (a hang, a blackhole), a
 *                     per-batch delay (link delay, slow), its sender's retransmission timer
 *                     (the kernel's or tcpd's: TCP_INFO tcpi_total_rto rose between a sample
 *                     just before the injection and one after the recovery), a UDP flow's
 *                     retries, or other. The report counts them, and how many of them no
 *                     stack could have ended within 50 ms (cp_blackout_forced) against the
 *                     most a median within 50 ms allows.
 *   leaked_buffers    pool.free when idle before the flows opened, minus pool.free after they
 *                     closed and the pool settled (15 s at most); per layer, what `pool.held`
 *                     of that layer grew by.
 * Per layer the campaign reports: faults, transparent, lost connections, lost and corrupt
 * bytes (what happened between the fault's injection and the next one is the fault's; what the
 * end of the transfers found is "at the end"), blackout p50, p99 and max, leaked buffers. Its
 * last line is exactly
 *   faults=N lost_connections=N lost_bytes=N corrupt_bytes=N leaked_buffers=N blackout_p50_ms=X blackout_p99_ms=X
 * and its exit status is 0 only if lost_connections, lost_bytes, corrupt_bytes and
 * leaked_buffers are all 0 (and every fault was injected and recovered within the bound); 1
 * otherwise; 2 for a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "campaign.h"

#define CP_FAULTS_MAX 100000
#define CP_TCP_MOVED (32u << 10)
#define CP_UDP_MOVED 2
#define CP_DIAL_MOVED 1

struct cp_totals {
	uint64_t corrupt, lost;
	unsigned broken; /* connections (TCP) and UDP flows broken or stalled */
};

struct cp_result {
	struct cp_fault f;
	bool injected, recovered, transparent;
	double blackout_ms, recovery_ms;
	double dial_gap_ms;     /* the longest wait of a dialer (not in blackout_ms) */
	struct cp_totals delta; /* from its injection to the next injection */
	char restarted[64];     /* layers that restarted meanwhile, as "tcpd " */
	bool bad_restart;
	enum cp_cause cause;    /* what set a blackout above the target */
	bool forced;            /* above the target whatever the stack (cp_blackout_forced) */
	int sender_rtos;        /* the worst flow's sender's timeouts meanwhile, -1 unknown */
};

static volatile sig_atomic_t cp_interrupted;
static void cp_on_signal(int sig)
{
	(void)sig;
	cp_interrupted = 1;
}

static void cp_usage(FILE *f)
{
	fputs("usage: ustack-faultcampaign --instance NAME --netns NS --faults N --seed S\n"
	      "                            [--tcp-conns N] [--udp-flows M] [--tcp-dials D]\n"
	      "                            [--tcp-rate BYTES_PER_S] [--recovery-timeout S]\n"
	      "                            [--port-base P] [--ctl PATH]\n"
	      "                            [--kinds KIND,...] [--layers LAYER,...]\n"
	      "  TCP connections (default 4, at most 24) and UDP flows (default 4, at most 32)\n"
	      "  carry checked data between the stack and the kernel in NS while N seeded faults\n"
	      "  hit nicd, ipd, tcpd and udpd one at a time; D dialers (default 2, at most 4,\n"
	      "  alternately the stack's and the kernel's) open a short connection to the other\n"
	      "  side's listener every 100 ms meanwhile; see the README, \"What survives which\n"
	      "  fault\". Exit 0 only if nothing was lost, corrupted or leaked.\n"
	      "  --kinds and --layers aim the plan at some of them (kinds: kill, hang-short,\n"
	      "  hang-long, link-drop, link-dup, link-corrupt, link-delay, slow; layers: nicd,\n"
	      "  ipd, tcpd, udpd), drawing uniformly among those named.\n",
	      f);
}

static int cp_usage_error(const char *fmt, const char *arg)
{
	fputs("ustack-faultcampaign: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (try --help)\n", stderr);
	return 2;
}

static bool cp_parse_u(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

/* [ip] address and peer, [systemd] watchdog_ms from the instance's config. */
static int cp_read_config(const char *instance, uint32_t *addr, uint32_t *peer,
			  uint32_t *watchdog_ms)
{
	const char *dir = getenv("USTACK_CONF_DIR");
	char path[PATH_MAX], line[512], section[32] = "";
	snprintf(path, sizeof(path), "%s/%s.conf", dir && *dir ? dir : "/etc/ustack", instance);
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "ustack-faultcampaign: %s: %s (is instance %s up?)\n", path,
			strerror(errno), instance);
		return -errno;
	}
	*addr = *peer = 0;
	*watchdog_ms = 3000;
	while (fgets(line, sizeof(line), f)) {
		char k[64], v[128];
		if (sscanf(line, " [%31[^]]]", section) == 1)
			continue;
		if (sscanf(line, " %63[a-z_] = %127s", k, v) != 2)
			continue;
		char *slash = strchr(v, '/');
		if (slash)
			*slash = '\0';
		struct in_addr ia;
		if (strcmp(section, "ip") == 0 && strcmp(k, "address") == 0 && inet_aton(v, &ia))
			*addr = ia.s_addr;
		else if (strcmp(section, "ip") == 0 && strcmp(k, "peer") == 0 && inet_aton(v, &ia))
			*peer = ia.s_addr;
		else if (strcmp(section, "systemd") == 0 && strcmp(k, "watchdog_ms") == 0)
			*watchdog_ms = (uint32_t)strtoul(v, NULL, 10);
	}
	fclose(f);
	if (!*addr || !*peer) {
		fprintf(stderr, "ustack-faultcampaign: %s has no [ip] address and peer\n", path);
		return -EINVAL;
	}
	return 0;
}

static void cp_sleep_ms_main(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !cp_interrupted)
		;
}

/* The kernel's side: join NS, run the flows, exit. */
static void cp_peer_main(const struct cp_cfg *c, struct cp_shared *sh, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/run/netns/%s", c->netns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "ustack-faultcampaign: cannot join namespace %s (%s): %s\n", c->netns,
			path, strerror(errno));
		atomic_store(&sh->peer_failed, 1);
		_exit(1);
	}
	close(fd);
	int rc = cp_traffic_run(c, sh, &cp_ops_kernel, false);
	if (rc < 0)
		atomic_store(&sh->peer_failed, 1);
	_exit(rc < 0 ? 1 : 0);
}

struct cp_stack_arg {
	const struct cp_cfg *c;
	struct cp_shared *sh;
	int rc;
};

static void *cp_stack_main(void *arg)
{
	struct cp_stack_arg *a = arg;
	a->rc = cp_traffic_run(a->c, a->sh, &cp_ops_stack, true);
	if (a->rc < 0)
		atomic_store(&a->sh->peer_failed, 1);
	return NULL;
}

static bool cp_is_tcp(const struct cp_cfg *c, unsigned flow)
{
	return flow < 2 * c->tcp_conns;
}

/* Whether a flow counts as broken now: its own state, or stalled. */
static bool cp_flow_broken(struct cp_shared *sh, unsigned flow)
{
	return atomic_load(&sh->flow[flow].state) == CP_FLOW_BROKEN ||
	       atomic_load(&sh->flow[flow].stalled);
}

static void cp_totals(const struct cp_cfg *c, struct cp_shared *sh, struct cp_totals *t)
{
	*t = (struct cp_totals){0};
	for (unsigned f = 0; f < cp_flows(c); f++) {
		t->corrupt += atomic_load(&sh->flow[f].corrupt);
		t->lost += atomic_load(&sh->flow[f].lost);
	}
	for (unsigned i = 0; i < c->tcp_conns; i++)
		t->broken += cp_flow_broken(sh, 2 * i) || cp_flow_broken(sh, 2 * i + 1);
	for (unsigned j = 0; j < c->udp_flows; j++)
		t->broken += cp_flow_broken(sh, cp_udp_flow(c, j));
	for (unsigned k = 0; k < c->tcp_dials; k++)
		t->broken += cp_flow_broken(sh, cp_dial_flow(c, k));
}

static void cp_totals_add(struct cp_totals *into, const struct cp_totals *now,
			  const struct cp_totals *before)
{
	into->corrupt += now->corrupt - before->corrupt;
	into->lost += now->lost - before->lost;
	into->broken += now->broken - before->broken;
}

/* Flows still expected to move: neither broken nor stalled. */
static bool cp_flow_live(struct cp_shared *sh, unsigned flow)
{
	return !cp_flow_broken(sh, flow);
}

static const char *cp_flow_name(const struct cp_cfg *c, unsigned flow, char *buf, size_t size)
{
	if (cp_is_tcp(c, flow))
		snprintf(buf, size, "tcp %u %s", flow / 2,
			 flow % 2 == 0 ? "stack->kernel" : "kernel->stack");
	else if (cp_is_dial(c, flow))
		snprintf(buf, size, "dial %u (%s dials)", flow - cp_dial_flow(c, 0),
			 (flow - cp_dial_flow(c, 0)) % 2 == 0 ? "stack" : "kernel");
	else
		snprintf(buf, size, "udp %u (%s client)", flow - 2 * c->tcp_conns,
			 (flow - 2 * c->tcp_conns) % 2 == 0 ? "stack" : "kernel");
	return buf;
}

/* Wait until every layer serves (`status` exit 0): 0, or -ETIMEDOUT after bound_ms. */
static int cp_wait_serving(const char *instance, uint64_t bound_ms, struct cp_status *st)
{
	uint64_t end = cp_now_ns() + bound_ms * 1000000u;
	for (;;) {
		if (cp_ctl_status(instance, st) == 0 && st->all_serving)
			return 0;
		if (cp_now_ns() >= end || cp_interrupted)
			return -ETIMEDOUT;
		cp_sleep_ms_main(50);
	}
}

/* How much progress shows a flow moves again. */
static uint64_t cp_moved(const struct cp_cfg *c, unsigned flow)
{
	return cp_is_tcp(c, flow) ? CP_TCP_MOVED : cp_is_dial(c, flow) ? CP_DIAL_MOVED : CP_UDP_MOVED;
}

/* Wait until every live flow moved past where it was at `base` (the amounts above). Flows that
 * do not within bound_ms are marked stalled (named on stderr); returns how many. */
static unsigned cp_wait_moved(const struct cp_cfg *c, struct cp_shared *sh, uint64_t bound_ms)
{
	uint64_t base[CP_FLOWS_MAX];
	for (unsigned f = 0; f < cp_flows(c); f++)
		base[f] = atomic_load(&sh->flow[f].progress);
	uint64_t end = cp_now_ns() + bound_ms * 1000000u;
	for (;;) {
		bool all = true;
		for (unsigned f = 0; f < cp_flows(c) && all; f++) {
			uint64_t need = cp_moved(c, f);
			if (cp_flow_live(sh, f) && atomic_load(&sh->flow[f].progress) < base[f] + need)
				all = false;
		}
		if (all)
			return 0;
		if (cp_interrupted)
			return 0; /* the run ends: nothing is judged */
		if (cp_now_ns() >= end)
			break;
		cp_sleep_ms_main(5);
	}
	unsigned stalled = 0;
	for (unsigned f = 0; f < cp_flows(c); f++) {
		uint64_t need = cp_moved(c, f);
		uint64_t p = atomic_load(&sh->flow[f].progress);
		if (cp_flow_live(sh, f) && p < base[f] + need) {
			char nm[48];
			fprintf(stderr, "ustack-faultcampaign: %s stalled: %" PRIu64 " -> %" PRIu64
				" in %" PRIu64 " ms\n",
				cp_flow_name(c, f, nm, sizeof(nm)), base[f], p, bound_ms);
			atomic_store(&sh->flow[f].stalled, 1);
			stalled++;
		}
	}
	return stalled;
}

/* The longest time without progress of any live flow since the injection at `epoch`, of the
 * flows already open (dials false) or of the dialers (true); *which is that flow. */
static double cp_gap_ms(const struct cp_cfg *c, struct cp_shared *sh, uint64_t epoch,
			bool dials, unsigned *which)
{
	uint64_t worst = 0, now = cp_now_ns();
	*which = 0;
	for (unsigned f = 0; f < cp_flows(c); f++) {
		if (!cp_flow_live(sh, f) || cp_is_dial(c, f) != dials)
			continue;
		struct cp_flow *fl = &sh->flow[f];
		uint64_t g = atomic_load(&fl->seen_epoch) == epoch ? atomic_load(&fl->max_gap_ns)
								   : now - epoch;
		if (g > worst) {
			worst = g;
			*which = f;
		}
	}
	return (double)worst / 1e6;
}

static double cp_blackout_ms(const struct cp_cfg *c, struct cp_shared *sh, uint64_t epoch,
			     unsigned *which)
{
	return cp_gap_ms(c, sh, epoch, false, which);
}

/* Every TCP sender's timeout count (struct cp_flow.rtos), asked for and waited for up to
 * bound_ms (a moving sender answers within a chunk's interval); known[f] false for a sender
 * that did not answer or whose side has no such count. */
static void cp_rto_sample(const struct cp_cfg *c, struct cp_shared *sh, unsigned bound_ms,
			  uint32_t rtos[], bool known[])
{
	uint64_t req = atomic_fetch_add(&sh->rto_req, 1) + 1;
	uint64_t end = cp_now_ns() + (uint64_t)bound_ms * 1000000u;
	unsigned n = 2 * c->tcp_conns;
	for (;;) {
		bool all = true;
		for (unsigned f = 0; f < n; f++)
			if (cp_flow_live(sh, f) && atomic_load(&sh->flow[f].rto_seq) != req)
				all = false;
		if (all || cp_now_ns() >= end || cp_interrupted)
			break;
		cp_sleep_ms_main(1);
	}
	for (unsigned f = 0; f < n; f++) {
		known[f] = atomic_load(&sh->flow[f].rto_seq) == req &&
			   atomic_load(&sh->flow[f].rtos_known) == 1;
		rtos[f] = atomic_load(&sh->flow[f].rtos);
	}
}

/* Inject f through ustackctl: 0, or the reason it was refused on stderr. */
static int cp_inject(const char *instance, const struct cp_fault *f)
{
	const char *l = cp_layer_names[f->layer], *to = cp_layer_names[f->to];
	char a1[32], a2[32];
	const char *args[16] = {"fault", "--instance", instance};
	int n = 3;
	switch (f->kind) {
	case CP_KIND_KILL:
		args[n++] = "kill";
		args[n++] = l;
		break;
	case CP_KIND_HANG_SHORT:
	case CP_KIND_HANG_LONG:
		snprintf(a1, sizeof(a1), "%.3f", f->duration_ms / 1000.0);
		args[n++] = "hang";
		args[n++] = l;
		args[n++] = a1;
		break;
	case CP_KIND_SLOW:
		snprintf(a1, sizeof(a1), "%u", f->slow_us);
		args[n++] = "slow";
		args[n++] = l;
		args[n++] = a1;
		break;
	default:
		args[n++] = "link";
		args[n++] = l;
		args[n++] = to;
		args[n++] = f->kind == CP_KIND_LINK_DROP	? "--drop"
			    : f->kind == CP_KIND_LINK_DUP	? "--dup"
			    : f->kind == CP_KIND_LINK_CORRUPT ? "--corrupt"
								: "--delay-us";
		if (f->kind == CP_KIND_LINK_DELAY)
			snprintf(a1, sizeof(a1), "%u", f->delay_us);
		else
			snprintf(a1, sizeof(a1), "%.6f", f->p);
		args[n++] = a1;
		snprintf(a2, sizeof(a2), "%" PRIu64, f->seed);
		args[n++] = "--seed";
		args[n++] = a2;
		break;
	}
	args[n] = NULL;
	char out[1024];
	int rc = cp_ctl(out, sizeof(out), 10000, args);
	return rc == 0 ? 0 : (rc < 0 ? rc : -EIO);
}

static int cp_clear(const char *instance, const char *layer)
{
	const char *args[] = {"fault", "--instance", instance, "clear", layer, NULL};
	char out[512];
	return cp_ctl(out, sizeof(out), 10000, args);
}

/* pool.free and pool.held.<layer> from one `stats`: 0 or negative errno. */
static int cp_pool(const char *instance, long long *free_, long long held[CP_LAYERS])
{
	struct cp_stats st;
	int rc = cp_ctl_stats(instance, &st);
	if (rc < 0)
		return rc;
	*free_ = cp_stats_get(&st, "pool.free");
	char k[48];
	for (int l = 0; l < CP_LAYERS; l++) {
		snprintf(k, sizeof(k), "pool.held.%s", cp_layer_names[l]);
		held[l] = cp_stats_get(&st, k);
	}
	cp_stats_free(&st);
	return *free_ < 0 ? -EPROTO : 0;
}

/* The seals and the pool at work: what the receivers refused during the campaign. */
static void cp_print_refused(const char *instance)
{
	struct cp_stats st;
	if (cp_ctl_stats(instance, &st) < 0)
		return;
	static const char *const keys[] = {
		"ipd.link_from_nicd_rx_drop_corrupt", "ipd.link_from_tcpd_rx_drop_corrupt",
		"ipd.link_from_udpd_rx_drop_corrupt", "nicd.link_from_ipd_rx_drop_corrupt",
		"tcpd.link_from_ipd_rx_drop_corrupt", "udpd.link_from_ipd_rx_drop_corrupt",
		"ipd.link_from_nicd_rx_drop_stale",   "ipd.link_from_tcpd_rx_drop_stale",
		"ipd.link_from_udpd_rx_drop_stale",   "nicd.link_from_ipd_rx_drop_stale",
		"tcpd.link_from_ipd_rx_drop_stale",   "udpd.link_from_ipd_rx_drop_stale",
	};
	printf("refused by the receivers since each layer's last start:");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long long v = cp_stats_get(&st, keys[i]);
		if (v > 0)
			printf(" %s=%lld", keys[i], v);
	}
	printf("\n");
	cp_stats_free(&st);
}

int main(int argc, char **argv)
{
	struct cp_cfg c = {
		.port_base = 7300, .tcp_conns = 4, .udp_flows = 4, .tcp_rate = 2000000,
		.udp_interval_ms = 5, .udp_rto_ms = 10, .udp_bound_ms = 20000,
		.end_bound_ms = 30000, .tcp_dials = 2, .dial_interval_ms = 100,
	};
	unsigned long long faults = 0, v;
	bool have_seed = false, have_faults = false;
	uint64_t recovery_ms = 30000;
	const char *ctl = NULL, *kinds_arg = NULL, *layers_arg = NULL;
	struct cp_plan_filter only = {CP_KINDS_ALL, CP_LAYERS_ALL};
	char bad_name[64];
	static const struct option opts[] = {
		{"instance", required_argument, NULL, 'i'},
		{"netns", required_argument, NULL, 'n'},
		{"faults", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},
		{"tcp-conns", required_argument, NULL, 't'},
		{"udp-flows", required_argument, NULL, 'u'},
		{"tcp-dials", required_argument, NULL, 'd'},
		{"tcp-rate", required_argument, NULL, 'r'},
		{"recovery-timeout", required_argument, NULL, 'R'},
		{"port-base", required_argument, NULL, 'p'},
		{"ctl", required_argument, NULL, 'c'},
		{"kinds", required_argument, NULL, 'K'},
		{"layers", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			c.instance = optarg;
			break;
		case 'n':
			c.netns = optarg;
			break;
		case 'f':
			if (!cp_parse_u(optarg, CP_FAULTS_MAX, &faults))
				return cp_usage_error("--faults '%s' is not a number in 0..100000", optarg);
			have_faults = true;
			break;
		case 's':
			if (!cp_parse_u(optarg, UINT64_MAX, &v))
				return cp_usage_error("--seed '%s' is not a 64-bit unsigned number", optarg);
			c.seed = v;
			have_seed = true;
			break;
		case 't':
			if (!cp_parse_u(optarg, CP_TCP_MAX, &v))
				return cp_usage_error("--tcp-conns '%s' is not a number in 0..24", optarg);
			c.tcp_conns = (unsigned)v;
			break;
		case 'u':
			if (!cp_parse_u(optarg, CP_UDP_MAX, &v))
				return cp_usage_error("--udp-flows '%s' is not a number in 0..32", optarg);
			c.udp_flows = (unsigned)v;
			break;
		case 'd':
			if (!cp_parse_u(optarg, CP_DIAL_MAX, &v))
				return cp_usage_error("--tcp-dials '%s' is not a number in 0..4", optarg);
			c.tcp_dials = (unsigned)v;
			break;
		case 'r':
			if (!cp_parse_u(optarg, 1000000000, &v) || v < 16384)
				return cp_usage_error("--tcp-rate '%s' is not a number of bytes/s in "
						      "16384..1000000000", optarg);
			c.tcp_rate = (uint32_t)v;
			break;
		case 'R':
			if (!cp_parse_u(optarg, 3600, &v) || v < 5)
				return cp_usage_error("--recovery-timeout '%s' is not a number of seconds "
						      "in 5..3600", optarg);
			recovery_ms = v * 1000;
			break;
		case 'p':
			if (!cp_parse_u(optarg, 65000 - 200, &v) || v < 1024)
				return cp_usage_error("--port-base '%s' is not a port in 1024..64800",
						      optarg);
			c.port_base = (uint16_t)v;
			break;
		case 'c':
			ctl = optarg;
			break;
		case 'K':
			if (cp_parse_names(optarg, cp_kind_names, CP_KIND_COUNT, &only.kinds, bad_name,
					   sizeof(bad_name)) < 0)
				return cp_usage_error("--kinds: '%s' is not a kind of fault", bad_name);
			kinds_arg = optarg;
			break;
		case 'L':
			if (cp_parse_names(optarg, cp_layer_names, CP_LAYERS, &only.layers, bad_name,
					   sizeof(bad_name)) < 0)
				return cp_usage_error("--layers: '%s' is not a layer", bad_name);
			layers_arg = optarg;
			break;
		case 'h':
			cp_usage(stdout);
			return 0;
		default:
			return cp_usage_error("%s", "unknown option or missing value");
		}
	}
	if (optind < argc)
		return cp_usage_error("unexpected argument '%s'", argv[optind]);
	if (!c.instance || !c.netns || !have_faults || !have_seed)
		return cp_usage_error("%s", "--instance, --netns, --faults and --seed are required");
	if (c.tcp_conns + c.udp_flows + c.tcp_dials == 0)
		return cp_usage_error("%s", "no flows: --tcp-conns, --udp-flows and --tcp-dials "
				      "are all 0");
	if (us_set_instance(c.instance) < 0)
		return cp_usage_error("invalid instance name '%s'", c.instance);
	if (strchr(c.netns, '/') || strcmp(c.netns, ".") == 0 || strcmp(c.netns, "..") == 0)
		return cp_usage_error("invalid namespace name '%s'", c.netns);

	/* ustackctl: --ctl, else the one beside this program, else PATH's. */
	static char ctl_buf[PATH_MAX];
	if (!ctl) {
		ssize_t n = readlink("/proc/self/exe", ctl_buf, sizeof(ctl_buf) - 16);
		if (n > 0) {
			ctl_buf[n] = '\0';
			strcat(dirname(ctl_buf), "/ustackctl");
			ctl = access(ctl_buf, X_OK) == 0 ? ctl_buf : "ustackctl";
		} else {
			ctl = "ustackctl";
		}
	}
	cp_ctl_set_path(ctl);
	setvbuf(stdout, NULL, _IOLBF, 0);

	uint32_t watchdog_ms = 3000;
	if (cp_read_config(c.instance, &c.stack_addr, &c.peer_addr, &watchdog_ms) < 0)
		return 1;
	struct cp_status st0;
	if (cp_wait_serving(c.instance, 10000, &st0) < 0) {
		fprintf(stderr, "ustack-faultcampaign: instance %s does not serve (ustackctl status)\n",
			c.instance);
		return 1;
	}
	cp_clear(c.instance, "nicd");
	cp_clear(c.instance, "ipd");
	cp_clear(c.instance, "tcpd");
	cp_clear(c.instance, "udpd");

	/* The pool at rest, before any flow: two equal readings 300 ms apart. */
	long long idle_free = -1, idle_held[CP_LAYERS], f2, h2[CP_LAYERS];
	for (int tries = 0; tries < 20; tries++) {
		if (cp_pool(c.instance, &idle_free, idle_held) < 0)
			continue;
		cp_sleep_ms_main(300);
		if (cp_pool(c.instance, &f2, h2) == 0 && f2 == idle_free)
			break;
		idle_free = -1;
	}
	if (idle_free < 0) {
		fprintf(stderr, "ustack-faultcampaign: the pool does not settle before the flows\n");
		return 1;
	}
	char sa[INET_ADDRSTRLEN], pa[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &c.stack_addr, sa, sizeof(sa));
	inet_ntop(AF_INET, &c.peer_addr, pa, sizeof(pa));
	printf("campaign: instance %s (%s) against the kernel in %s (%s), seed %" PRIu64
	       ", %llu faults, %u TCP connections at %u B/s each way, %u UDP flows, %u dialers "
	       "(a connection every %u ms each), WatchdogSec %u ms, pool idle %lld free, "
	       "ustackctl %s%s%s%s%s\n",
	       c.instance, sa, c.netns, pa, c.seed, faults, c.tcp_conns, c.tcp_rate, c.udp_flows,
	       c.tcp_dials, c.dial_interval_ms, watchdog_ms, idle_free, ctl,
	       kinds_arg ? ", kinds " : "", kinds_arg ? kinds_arg : "",
	       layers_arg ? ", layers " : "", layers_arg ? layers_arg : "");

	struct cp_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("ustack-faultcampaign: mmap");
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	fflush(NULL);
	pid_t parent = getpid(), peer = fork();
	if (peer < 0) {
		perror("ustack-faultcampaign: fork");
		return 1;
	}
	if (peer == 0)
		cp_peer_main(&c, sh, parent);
	struct sigaction sa_int = {.sa_handler = cp_on_signal};
	sigaction(SIGINT, &sa_int, NULL);
	sigaction(SIGTERM, &sa_int, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct cp_stack_arg sarg = {.c = &c, .sh = sh};
	pthread_t stack_thread;
	if (pthread_create(&stack_thread, NULL, cp_stack_main, &sarg) != 0) {
		perror("ustack-faultcampaign: pthread_create");
		atomic_store(&sh->quit, 1);
		return 1;
	}

	int exit_rc = 0;
	struct cp_result *res = calloc(faults ? faults : 1, sizeof(*res));
	unsigned done = 0, inject_errors = 0, unrecovered = 0;
	double floor_ms = 0;
	/* Every flow running and moving before the first fault; then the blackout's floor. */
	uint64_t setup_end = cp_now_ns() + 20000000000ull;
	for (;;) {
		bool all = true;
		for (unsigned f = 0; f < cp_flows(&c); f++)
			if (atomic_load(&sh->flow[f].progress) == 0)
				all = false;
		if (all)
			break;
		if (atomic_load(&sh->peer_failed) || cp_now_ns() > setup_end || cp_interrupted) {
			fprintf(stderr, "ustack-faultcampaign: the flows did not start\n");
			atomic_store(&sh->quit, 1);
			exit_rc = 1;
			goto end;
		}
		cp_sleep_ms_main(10);
	}
	{
		uint64_t ep = cp_now_ns();
		atomic_store(&sh->epoch_ns, ep);
		cp_sleep_ms_main(2000);
		unsigned w;
		floor_ms = cp_blackout_ms(&c, sh, ep, &w);
		printf("campaign: every flow moves; without faults the longest gap of any flow in "
		       "2 s was %.1f ms (the blackout's floor)\n",
		       floor_ms);
		/* Whose retransmission timer a stalled flow waited for needs both sides' counts. */
		uint32_t rtos[2 * CP_TCP_MAX];
		bool known[2 * CP_TCP_MAX];
		unsigned by_side[2] = {0, 0};
		cp_rto_sample(&c, sh, 2000, rtos, known);
		for (unsigned f = 0; f < 2 * c.tcp_conns; f++)
			by_side[f % 2] += known[f];
		printf("campaign: TCP senders that count their retransmission timeouts (TCP_INFO "
		       "tcpi_total_rto): the stack's %u of %u, the kernel's %u of %u\n",
		       by_side[0], c.tcp_conns, by_side[1], c.tcp_conns);
	}

	struct cp_totals before, now;
	cp_totals(&c, sh, &before);
	for (unsigned i = 0; i < faults && !cp_interrupted; i++) {
		struct cp_result *r = &res[i];
		cp_plan_fault(c.seed, i, watchdog_ms, &only, &r->f);
		char desc[128];
		cp_fault_describe(&r->f, desc, sizeof(desc));
		cp_sleep_ms_main(r->f.wait_ms);
		/* the previous fault's window ends here */
		cp_totals(&c, sh, &now);
		if (i > 0)
			cp_totals_add(&res[i - 1].delta, &now, &before);
		before = now;
		struct cp_status s_before, s_after;
		uint32_t rto0[2 * CP_TCP_MAX], rto1[2 * CP_TCP_MAX];
		bool known0[2 * CP_TCP_MAX], known1[2 * CP_TCP_MAX];
		cp_rto_sample(&c, sh, 100, rto0, known0);
		if (cp_ctl_status(c.instance, &s_before) < 0 || !s_before.all_serving) {
			fprintf(stderr, "ustack-faultcampaign: fault %u: not every layer serves before "
				"it\n", i + 1);
		}
		uint64_t t0 = cp_now_ns();
		atomic_store(&sh->epoch_ns, t0);
		done = i + 1;
		if (cp_inject(c.instance, &r->f) < 0) {
			fprintf(stderr, "ustack-faultcampaign: fault %u (%s): ustackctl refused it\n",
				i + 1, desc);
			inject_errors++;
			cp_clear(c.instance, cp_layer_names[r->f.layer]);
			continue;
		}
		r->injected = true;
		if (r->f.kind >= CP_KIND_LINK_DROP) {
			cp_sleep_ms_main(r->f.duration_ms);
			if (cp_clear(c.instance, cp_layer_names[r->f.layer]) != 0)
				fprintf(stderr, "ustack-faultcampaign: fault %u: clear %s failed\n", i + 1,
					cp_layer_names[r->f.layer]);
		}
		unsigned stalled = 0;
		int serving = cp_wait_serving(c.instance, recovery_ms, &s_after);
		if (serving == 0)
			stalled = cp_wait_moved(&c, sh, recovery_ms);
		uint64_t t1 = cp_now_ns();
		r->recovered = serving == 0 && stalled == 0;
		r->recovery_ms = (double)(t1 - t0) / 1e6;
		unsigned worst;
		r->blackout_ms = cp_blackout_ms(&c, sh, t0, &worst);
		unsigned dworst;
		r->dial_gap_ms = cp_gap_ms(&c, sh, t0, true, &dworst);
		char wname[48];
		cp_flow_name(&c, worst, wname, sizeof(wname));
		cp_rto_sample(&c, sh, 200, rto1, known1);
		r->sender_rtos = -1;
		if (cp_is_tcp(&c, worst) && known0[worst] && known1[worst])
			r->sender_rtos = (uint16_t)(rto1[worst] - rto0[worst]);
		enum cp_worst wk = !cp_is_tcp(&c, worst) ? CP_WORST_UDP
				   : worst % 2 == 0	  ? CP_WORST_TCP_FROM_STACK
							  : CP_WORST_TCP_FROM_KERNEL;
		r->cause = cp_blackout_cause(&r->f, r->blackout_ms, wk, r->sender_rtos);
		r->forced = cp_blackout_forced(&r->f, r->cause);
		char why[96] = "";
		if (r->cause != CP_CAUSE_WITHIN)
			snprintf(why, sizeof(why), "  [%s]", cp_cause_names[r->cause]);
		if (serving < 0) {
			fprintf(stderr, "ustack-faultcampaign: fault %u (%s): the stack does not serve "
				"%" PRIu64 " s after it\n", i + 1, desc, recovery_ms / 1000);
			const char *args[] = {"status", "--instance", c.instance, NULL};
			char out[4096];
			cp_ctl(out, sizeof(out), 10000, args);
			fputs(out, stderr);
		}
		if (!r->recovered)
			unrecovered++;
		/* who restarted: the fault's layer for kill and hang-long, nobody else */
		for (int l = 0; l < CP_LAYERS; l++) {
			bool expect = (int)r->f.layer == l &&
				      (r->f.kind == CP_KIND_KILL || r->f.kind == CP_KIND_HANG_LONG);
			bool moved = s_before.pid[l] > 0 && s_after.pid[l] > 0 &&
				     s_after.pid[l] != s_before.pid[l];
			if (moved) {
				size_t len = strlen(r->restarted);
				snprintf(r->restarted + len, sizeof(r->restarted) - len, "%s%s",
					 len ? "," : "", cp_layer_names[l]);
			}
			if (moved != expect && serving == 0)
				r->bad_restart = true;
		}
		if (r->bad_restart)
			fprintf(stderr, "ustack-faultcampaign: fault %u (%s): layers restarted: '%s'\n",
				i + 1, desc, r->restarted);
		char rtos[32] = "";
		if (r->sender_rtos >= 0)
			snprintf(rtos, sizeof(rtos), ", its sender's RTOs %d", r->sender_rtos);
		printf("fault %u/%llu: %-52s blackout %8.1f ms (%s%s)  dials %7.1f ms  recovered "
		       "in %8.1f ms%s%s%s%s\n",
		       i + 1, faults, desc, r->blackout_ms, wname, rtos, r->dial_gap_ms,
		       r->recovery_ms, r->restarted[0] ? "  restarted " : "", r->restarted, why,
		       r->recovered ? "" : "  NOT RECOVERED");
	}
	cp_totals(&c, sh, &now);
	if (done > 0)
		cp_totals_add(&res[done - 1].delta, &now, &before);
	before = now;

end:;
	/* The end: senders finish and shut down, receivers read to EOF, UDP clients finish. */
	atomic_store(&sh->stop_send, 1);
	uint64_t end_by = cp_now_ns() + (uint64_t)c.end_bound_ms * 1000000u;
	for (;;) {
		bool all = true;
		for (unsigned f = 0; f < cp_flows(&c); f++) {
			int s = atomic_load(&sh->flow[f].state);
			if (s != CP_FLOW_DONE && s != CP_FLOW_BROKEN)
				all = false;
		}
		if (all || cp_now_ns() > end_by)
			break;
		cp_sleep_ms_main(20);
	}
	atomic_store(&sh->quit, 1);
	pthread_join(stack_thread, NULL);
	int pst;
	waitpid(peer, &pst, 0);

	/* TCP at the end: what was sent and not received is lost; a direction that did not end
	 * with EOF breaks its connection; more received than sent is corrupt. */
	struct cp_totals at_end = {0};
	uint64_t udp_retries = 0, udp_stale = 0, udp_send_errors = 0, udp_lost_reqs = 0;
	for (unsigned f = 0; f < cp_flows(&c); f++) {
		struct cp_flow *fl = &sh->flow[f];
		char nm[48];
		if (!cp_is_tcp(&c, f)) {
			udp_retries += atomic_load(&fl->retries);
			udp_stale += atomic_load(&fl->stale);
			udp_send_errors += atomic_load(&fl->send_errors);
			udp_lost_reqs += atomic_load(&fl->lost_reqs);
			if (atomic_load(&fl->state) != CP_FLOW_DONE && !atomic_load(&fl->stalled) &&
			    exit_rc == 0) {
				fprintf(stderr, "ustack-faultcampaign: %s: did not end (error %s)\n",
					cp_flow_name(&c, f, nm, sizeof(nm)),
					strerror(atomic_load(&fl->err)));
				if (atomic_load(&fl->state) != CP_FLOW_BROKEN)
					at_end.broken++;
			}
			continue;
		}
		uint64_t sent = atomic_load(&fl->sent), got = atomic_load(&fl->progress);
		if (sent > got)
			at_end.lost += sent - got;
		if (got > sent)
			at_end.corrupt += got - sent;
		bool ok = atomic_load(&fl->state) == CP_FLOW_DONE && sent == got;
		if (!ok && exit_rc == 0)
			fprintf(stderr, "ustack-faultcampaign: %s: sent %" PRIu64 ", received %" PRIu64
				", %s\n",
				cp_flow_name(&c, f, nm, sizeof(nm)), sent, got,
				atomic_load(&fl->state) == CP_FLOW_DONE ? "EOF"
				: atomic_load(&fl->state) == CP_FLOW_BROKEN
					? strerror(atomic_load(&fl->err))
					: "no EOF within the bound");
	}
	for (unsigned i = 0; i < c.tcp_conns; i++) {
		bool bad = false, was = cp_flow_broken(sh, 2 * i) || cp_flow_broken(sh, 2 * i + 1);
		for (unsigned d = 0; d < 2; d++) {
			struct cp_flow *fl = &sh->flow[2 * i + d];
			bad |= atomic_load(&fl->state) != CP_FLOW_DONE ||
			       atomic_load(&fl->sent) != atomic_load(&fl->progress);
		}
		if (bad && !was)
			at_end.broken++;
	}
	struct cp_totals live;
	cp_totals(&c, sh, &live);
	cp_totals_add(&at_end, &live, &before);

	/* Leaks: the pool back at its idle count once everything is closed. */
	long long end_free = -1, end_held[CP_LAYERS] = {0};
	for (int tries = 0; tries < 75; tries++) {
		if (cp_pool(c.instance, &end_free, end_held) == 0 && end_free == idle_free)
			break;
		cp_sleep_ms_main(200);
	}
	long long leaked = end_free >= 0 && end_free < idle_free ? idle_free - end_free : 0;
	if (end_free < 0) {
		fprintf(stderr, "ustack-faultcampaign: no pool figures at the end\n");
		exit_rc = 1;
	}

	/* The report: per layer, then the totals. */
	printf("\nper layer:   faults  transparent  lost_conns  lost_bytes  corrupt_bytes  "
	       "blackout_p50_ms  p99_ms   max_ms  leaked_buffers\n");
	double *all_b = calloc(done ? done : 1, sizeof(double)), *lb = calloc(done ? done : 1,
									    sizeof(double));
	size_t nall = 0;
	struct cp_totals sum = {0};
	unsigned injected = 0;
	for (int l = 0; l < CP_LAYERS; l++) {
		unsigned n = 0, transparent = 0;
		size_t nb = 0;
		struct cp_totals t = {0};
		for (unsigned i = 0; i < done; i++) {
			struct cp_result *r = &res[i];
			if ((int)r->f.layer != l || !r->injected)
				continue;
			n++;
			r->transparent = r->recovered && !r->bad_restart && r->delta.corrupt == 0 &&
					 r->delta.lost == 0 && r->delta.broken == 0;
			transparent += r->transparent;
			t.corrupt += r->delta.corrupt;
			t.lost += r->delta.lost;
			t.broken += r->delta.broken;
			lb[nb++] = r->blackout_ms;
			all_b[nall++] = r->blackout_ms;
		}
		injected += n;
		sum.corrupt += t.corrupt;
		sum.lost += t.lost;
		sum.broken += t.broken;
		long long lk = end_held[l] - idle_held[l];
		double mx = cp_quantile(lb, nb, 1.0);
		printf("  %-10s %6u  %11u  %10u  %10" PRIu64 "  %13" PRIu64 "  %15.1f  %6.1f  %7.1f"
		       "  %14lld\n",
		       cp_layer_names[l], n, transparent, t.broken, t.lost, t.corrupt,
		       cp_quantile(lb, nb, 0.5), cp_quantile(lb, nb, 0.99), mx, lk > 0 ? lk : 0);
	}
	printf("  %-10s %6s  %11s  %10u  %10" PRIu64 "  %13" PRIu64 "\n", "at the end", "", "",
	       at_end.broken, at_end.lost, at_end.corrupt);
	sum.corrupt += at_end.corrupt;
	sum.lost += at_end.lost;
	sum.broken += at_end.broken;

	printf("\nper kind:");
	for (int k = 0; k < CP_KIND_COUNT; k++) {
		size_t nb = 0;
		for (unsigned i = 0; i < done; i++)
			if ((int)res[i].f.kind == k && res[i].injected)
				lb[nb++] = res[i].blackout_ms;
		if (nb)
			printf(" %s %zu (p50 %.0f ms, max %.0f ms);", cp_kind_names[k], nb,
			       cp_quantile(lb, nb, 0.5), cp_quantile(lb, nb, 1.0));
	}
	/* What set the blackouts above the target, and how many of them the stack could have
	 * shortened: a median within the target allows at most half of the faults above it. */
	unsigned by_cause[CP_CAUSE_COUNT] = {0}, above = 0, forced = 0, nf = 0;
	for (unsigned i = 0; i < done; i++) {
		if (!res[i].injected)
			continue;
		nf++;
		by_cause[res[i].cause]++;
		above += res[i].cause != CP_CAUSE_WITHIN;
		forced += res[i].forced;
	}
	printf("\nabove %.0f ms: %u of %u faults; what set them:", CP_BLACKOUT_TARGET_MS, above, nf);
	for (int k = CP_CAUSE_WITHIN + 1; k < CP_CAUSE_COUNT; k++)
		printf("%s %s %u", k == CP_CAUSE_WITHIN + 1 ? "" : ",", cp_cause_names[k],
		       by_cause[k]);
	printf("\nabove %.0f ms whatever the stack did (hangs, blackholes, retransmission timers "
	       "under drop and corrupt bursts): %u; a median within %.0f ms allows %u above\n",
	       CP_BLACKOUT_TARGET_MS, forced, CP_BLACKOUT_TARGET_MS, nf - (nf + 1) / 2);
	printf("udp: %" PRIu64 " requests sent again after a loss, %" PRIu64 " late answers "
	       "ignored, %" PRIu64 " sends refused, %" PRIu64 " requests never answered\n",
	       udp_retries, udp_stale, udp_send_errors, udp_lost_reqs);
	if (c.tcp_dials) {
		uint64_t made[2] = {0, 0};
		for (unsigned k = 0; k < c.tcp_dials; k++)
			made[k % 2] += atomic_load(&sh->flow[cp_dial_flow(&c, k)].progress);
		size_t nb = 0;
		for (unsigned i = 0; i < done; i++)
			if (res[i].injected)
				lb[nb++] = res[i].dial_gap_ms;
		printf("dials: %" PRIu64 " connections made by the stack, %" PRIu64 " by the kernel; "
		       "a dialer's longest wait per fault p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		       made[0], made[1], cp_quantile(lb, nb, 0.5), cp_quantile(lb, nb, 0.99),
		       cp_quantile(lb, nb, 1.0));
	}
	printf("pool: %lld free when idle, %lld at the end\n", idle_free, end_free);
	cp_print_refused(c.instance);
	if (inject_errors || unrecovered)
		printf("%u faults ustackctl refused, %u not recovered within %" PRIu64 " s\n",
		       inject_errors, unrecovered, recovery_ms / 1000);
	double p50 = cp_quantile(all_b, nall, 0.5), p99 = cp_quantile(all_b, nall, 0.99);
	printf("faults=%u lost_connections=%u lost_bytes=%" PRIu64 " corrupt_bytes=%" PRIu64
	       " leaked_buffers=%lld blackout_p50_ms=%.1f blackout_p99_ms=%.1f\n",
	       injected, sum.broken, sum.lost, sum.corrupt, leaked, p50, p99);
	free(all_b);
	free(lb);
	free(res);
	if (sum.broken || sum.lost || sum.corrupt || leaked || inject_errors || unrecovered ||
	    cp_interrupted)
		exit_rc = 1;
	return exit_rc;
}
