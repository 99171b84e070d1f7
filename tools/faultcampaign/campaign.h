/* campaign: shared declarations of ustack-faultcampaign (see campaign_main.c for what it does
 * and what its figures mean).
 *
 * Modules, one file each: plan (pure: the seeded fault plan, the byte streams, quantiles),
 * traffic (the flows: TCP senders and receivers, UDP clients and echo servers, over libsock or
 * the kernel's sockets through one ops table), ctl (ustackctl run as a child: faults, status,
 * stats), main (options, the kernel-side child, the fault loop, the report).
 *
 * Processes: the campaign itself is the stack's side (libsock); a child it forks before any
 * libsock call joins the namespace (setns) and is the kernel's side. They share one anonymous
 * MAP_SHARED block (struct cp_shared) of atomics: per flow the progress the receiving end has
 * verified and what went wrong, and the flags that start and stop everything.
 */
#ifndef CAMPAIGN_H
#define CAMPAIGN_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CP_TCP_MAX 24 /* libsock gives a process 64 stream sockets: conns + a listener */
#define CP_UDP_MAX 32
#define CP_DIAL_MAX 4
#define CP_FLOWS_MAX (2 * CP_TCP_MAX + CP_UDP_MAX + CP_DIAL_MAX)
#define CP_LAYERS 4

/* ---- plan: pure, no I/O, no clock. */

enum cp_layer { CP_NICD, CP_IPD, CP_TCPD, CP_UDPD };
extern const char *const cp_layer_names[CP_LAYERS];

enum cp_kind {
	CP_KIND_KILL,
	CP_KIND_HANG_SHORT, /* below WatchdogSec: the same process goes on */
	CP_KIND_HANG_LONG,  /* past WatchdogSec: systemd's watchdog restarts it */
	CP_KIND_LINK_DROP,
	CP_KIND_LINK_DUP,
	CP_KIND_LINK_CORRUPT,
	CP_KIND_LINK_DELAY,
	CP_KIND_SLOW,
	CP_KIND_COUNT
};
extern const char *const cp_kind_names[CP_KIND_COUNT];

/* One fault of the plan. */
struct cp_fault {
	enum cp_kind kind;
	enum cp_layer layer;   /* the layer hit (for a link fault: the sending end) */
	enum cp_layer to;      /* link faults: the receiving end */
	uint32_t wait_ms;      /* quiet time after the previous recovery, before the injection */
	uint32_t duration_ms;  /* hang, link, slow: how long it lasts (kill: 0) */
	double p;              /* drop, dup, corrupt: the probability per descriptor */
	uint32_t delay_us;     /* delay */
	uint32_t slow_us;      /* slow */
	uint64_t seed;         /* link: the injector's own seed */
};

/* splitmix64: the plan's PRNG (and seeds derived from it). */
uint64_t cp_rand_next(uint64_t *state);
/* Which kinds and layers a plan draws from: bit (1 << CP_KIND_x), bit (1 << CP_x). All bits
 * (CP_KINDS_ALL, CP_LAYERS_ALL) is the campaign's plan; a subset focuses it, drawing uniformly
 * among what is left, and with every bit set the draws are the unfiltered plan's, fault for
 * fault. */
#define CP_KINDS_ALL ((1u << CP_KIND_COUNT) - 1u)
#define CP_LAYERS_ALL ((1u << CP_LAYERS) - 1u)
struct cp_plan_filter {
	uint32_t kinds;
	uint32_t layers;
};
/* Fault number `index` (0-based) of the campaign seeded `seed`, for a stack whose watchdog is
 * watchdog_ms, drawn from what `only` allows (NULL: everything; a mask without a bit in range
 * counts as everything): depends on nothing else, so a seed and a filter name the same plan on
 * any machine. */
void cp_plan_fault(uint64_t seed, unsigned index, uint32_t watchdog_ms,
		   const struct cp_plan_filter *only, struct cp_fault *f);
/* Parse a comma-separated list of names ("kill,hang-short", "tcpd,ipd") into a mask of their
 * indices in names[0..count): 0, or -EINVAL naming nothing known (*bad: the first unknown name,
 * into a buffer of bad_size). */
int cp_parse_names(const char *list, const char *const *names, unsigned count, uint32_t *mask,
		   char *bad, size_t bad_size);
/* "kill tcpd", "link ipd->udpd drop 0.25 for 800 ms", ... */
void cp_fault_describe(const struct cp_fault *f, char *out, size_t size);

/* A byte stream (xorshift64*), the same bytes whatever the chunking. */
struct cp_stream {
	uint64_t s;
	uint64_t word;
	unsigned left; /* bytes of `word` not handed out yet */
};
void cp_stream_init(struct cp_stream *st, uint64_t seed);
void cp_stream_fill(struct cp_stream *st, uint8_t *out, size_t n);

/* The q-quantile (0..1) of n values, nearest rank; sorts v. 0 for n == 0. */
double cp_quantile(double *v, size_t n, double q);

/* What set a fault's blackout, when it was longer than the target (issue 9: 50 ms). */
#define CP_BLACKOUT_TARGET_MS 50.0
enum cp_cause {
	CP_CAUSE_WITHIN,    /* not above the target */
	CP_CAUSE_LENGTH,    /* the fault lasts that long by what it is: a hang, a blackhole */
	CP_CAUSE_PEER_RTO,  /* the worst flow was the kernel's sending, and the kernel's
			     * retransmission timer fired during the fault */
	CP_CAUSE_STACK_RTO, /* the worst flow was the stack's sending, and tcpd's timer fired */
	CP_CAUSE_DELAY,     /* a link delay or a slow-down: a wait per batch by what it is */
	CP_CAUSE_UDP,       /* the worst flow was a UDP flow (its client's retries) */
	CP_CAUSE_OTHER,
	CP_CAUSE_COUNT
};
extern const char *const cp_cause_names[CP_CAUSE_COUNT];
enum cp_worst { CP_WORST_TCP_FROM_KERNEL, CP_WORST_TCP_FROM_STACK, CP_WORST_UDP };
/* sender_rtos: timeouts of the worst flow's sender between the injection and the recovery
 * (TCP), -1 if not known. */
enum cp_cause cp_blackout_cause(const struct cp_fault *f, double blackout_ms,
				enum cp_worst worst, int sender_rtos);
/* Whether a blackout above the target was forced on any stack by the fault and the peer:
 * the fault's own length (a hang lasts its length or until the watchdog, a blackhole its
 * length), or a sender's retransmission timer under a drop or corrupt burst, the peer's or
 * tcpd's: RFC 6298 §5.5's backoff (a MUST) doubles the timer while the burst goes on losing
 * retransmissions, and Linux as the sender under the same bursts waits as long (README,
 * "What sets the blackout"). Not forced: a per-batch delay (at most 50 ms by the plan: what
 * passes it is the stack's), a kill's wait for the peer's timer (a faster return spares it),
 * a UDP flow, anything else. */
bool cp_blackout_forced(const struct cp_fault *f, enum cp_cause cause);

/* ---- shared state between the two processes. */

enum cp_flow_state { CP_FLOW_IDLE, CP_FLOW_RUNNING, CP_FLOW_DONE, CP_FLOW_BROKEN };

/* One direction of a TCP connection, one UDP request/response flow, or one dialer of new TCP
 * connections. Written by the end that verifies (TCP: the receiver; UDP and dials: the client),
 * except `sent`/`sent_final` (the TCP sender). */
struct cp_flow {
	_Atomic uint64_t progress;   /* TCP: bytes received and verified; UDP: answers verified;
				      * dials: connections made, echoed and closed */
	_Atomic uint64_t last_ns;    /* CLOCK_MONOTONIC of the last progress */
	_Atomic uint64_t seen_epoch; /* the injection max_gap_ns belongs to */
	_Atomic uint64_t max_gap_ns; /* longest time without progress since that injection */
	_Atomic uint64_t sent;       /* TCP: bytes send() took; UDP: requests sent (first tries);
				      * dials: connections begun */
	_Atomic int sent_final;      /* TCP: the sender shut down its side: `sent` is final */
	_Atomic uint64_t corrupt;    /* bytes that arrived different from what was sent */
	_Atomic uint64_t lost;       /* bytes sent that never arrived (see campaign_main.c) */
	_Atomic uint64_t lost_reqs;  /* UDP: requests whose answer never came within the bound */
	_Atomic uint64_t retries;    /* UDP: requests sent again (a datagram lost in a fault) */
	_Atomic uint64_t stale;      /* UDP: answers to an earlier try, arriving late */
	_Atomic uint64_t send_errors;/* UDP: sends the socket refused (the try is retried) */
	_Atomic uint64_t echoed;     /* UDP: datagrams the echo server sent back */
	_Atomic int state;           /* enum cp_flow_state (receiving/client end) */
	_Atomic int err;             /* errno that broke it */
	_Atomic int stalled;         /* set by the controller: no progress within the bound */
	/* TCP, the sender's: its socket's retransmission timeouts (TCP_INFO tcpi_total_rto, Linux
	 * 6.7; 16 bits, wrapping) when it answered sample request rto_seq (cp_shared.rto_req). */
	_Atomic uint64_t rto_seq;
	_Atomic uint32_t rtos;
	_Atomic int rtos_known;      /* 1: counted; -1: this side's TCP_INFO has no such field */
};

struct cp_shared {
	_Atomic uint64_t epoch_ns;  /* the current injection's time (0: none yet) */
	_Atomic int peer_ready;     /* the kernel side listens and its UDP servers are bound */
	_Atomic int stack_ready;    /* the stack side listens and its UDP servers are bound */
	_Atomic int stop_send;      /* TCP senders: finish and shut down; UDP clients: stop */
	_Atomic int quit;           /* everything: leave now */
	_Atomic int peer_failed;    /* the kernel side could not set up (it printed why) */
	_Atomic uint64_t rto_req;   /* TCP senders: sample your timeouts (see cp_flow.rtos) */
	struct cp_flow flow[CP_FLOWS_MAX];
};

/* ---- traffic */

/* The socket calls of one side: libsock's us_* or the kernel's. */
struct cp_ops {
	const char *name; /* "stack" or "kernel" */
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*shutdown)(int, int);
	int (*close)(int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
};
extern const struct cp_ops cp_ops_stack, cp_ops_kernel;

struct cp_cfg {
	const char *instance, *netns;
	uint32_t stack_addr, peer_addr; /* network order */
	uint16_t port_base;             /* TCP: base (kernel listens), base+1 (stack listens);
					   UDP flow j: base+100+j */
	unsigned tcp_conns, udp_flows;
	unsigned tcp_dials;           /* dialers of short connections, alternately stack, kernel */
	uint32_t dial_interval_ms;    /* a dialer begins a connection this often */
	uint64_t seed;
	uint32_t tcp_rate;     /* bytes/s per direction of each connection */
	uint32_t udp_interval_ms;
	uint32_t udp_rto_ms;   /* a request is sent again after this (10 ms) */
	uint32_t udp_bound_ms; /* and given up (lost) after this */
	uint32_t end_bound_ms; /* the end: how long a receiver waits for the rest and EOF */
};

/* Flow numbering: TCP connection i carries flow 2i (stack -> kernel) and 2i+1 (kernel ->
 * stack); UDP flow j is flow 2*tcp_conns + j, its client the stack for even j, the kernel for
 * odd j; dialer k is flow 2*tcp_conns + udp_flows + k, the stack for even k, the kernel for odd
 * k. TCP connection i is opened by the stack for even i, by the kernel for odd i. */
static inline unsigned cp_tcp_flow(unsigned conn, bool to_kernel)
{
	return 2 * conn + (to_kernel ? 0 : 1);
}
static inline unsigned cp_udp_flow(const struct cp_cfg *c, unsigned j)
{
	return 2 * c->tcp_conns + j;
}
static inline unsigned cp_dial_flow(const struct cp_cfg *c, unsigned k)
{
	return 2 * c->tcp_conns + c->udp_flows + k;
}
static inline bool cp_is_dial(const struct cp_cfg *c, unsigned flow)
{
	return flow >= 2 * c->tcp_conns + c->udp_flows;
}
static inline unsigned cp_flows(const struct cp_cfg *c)
{
	return 2 * c->tcp_conns + c->udp_flows + c->tcp_dials;
}

/* Run one side: set up its listeners, UDP sockets and connections, then its threads until
 * sh->quit or the end of the traffic (after stop_send). `is_stack` picks the roles. Returns 0
 * when every thread ended, or a negative errno if the set-up failed (printed). */
int cp_traffic_run(const struct cp_cfg *c, struct cp_shared *sh, const struct cp_ops *ops,
		   bool is_stack);
/* Record progress on a flow (the receiver's gap bookkeeping; see struct cp_flow). */
void cp_flow_progress(struct cp_shared *sh, struct cp_flow *f, uint64_t amount);
uint64_t cp_now_ns(void);

/* ---- ctl: ustackctl as a child process. */

/* Which ustackctl: set once (argv[0]'s directory, --ctl, or PATH). */
void cp_ctl_set_path(const char *path);
/* Run `ustackctl ARGS...` (NULL-terminated), stdout captured into out (may be NULL), within
 * timeout_ms. Returns the exit status, or a negative errno. */
int cp_ctl(char *out, size_t out_size, int timeout_ms, const char *const *args);
/* Per layer from `status`: serving (all of them: the exit status), pid and restarts. */
struct cp_status {
	bool all_serving;
	long pid[CP_LAYERS];
	long restarts[CP_LAYERS];
};
int cp_ctl_status(const char *instance, struct cp_status *st);
/* From `stats`: a counter's value, or -1 if absent. */
struct cp_stats {
	char *text;
	size_t size;
};
int cp_ctl_stats(const char *instance, struct cp_stats *st);
long long cp_stats_get(const struct cp_stats *st, const char *key);
void cp_stats_free(struct cp_stats *st);

#endif
