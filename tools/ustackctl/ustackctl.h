/* ustackctl: shared declarations of the admin tool's modules.
 *
 * Modules, one file each: main (argument parsing, dispatch), run (external commands through
 * posix_spawnp), layer (the table of layers), state (the up.state file and the tool's own
 * directories), netdev (namespace and TAP), tundev (/dev/net/tun for the stack's user), manager (the systemd manager: system or private),
 * up, down, status, wait, stats, tables (arp, route), sockets, snmp, latency, kill, fault.
 *
 * Conventions: every function returns 0 or a negative errno and prints its own one-line error to
 * stderr (prefixed "ustackctl: "), so a command only decides the exit status. The only mutable
 * data is the parsed options struct, passed down explicitly.
 */
#ifndef USTACKCTL_H
#define USTACKCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "paths.h"

#define UCTL_EXIT_OK 0
#define UCTL_EXIT_FAIL 1
#define UCTL_EXIT_USAGE 2

#define UCTL_PATH_MAX 512
#define UCTL_NETNS_MAX 63 /* struct ustack_config.netns holds 64 bytes */

enum uctl_cmd {
	UCTL_CMD_NONE = 0,
	UCTL_CMD_UP,
	UCTL_CMD_DOWN,
	UCTL_CMD_STATUS,
	UCTL_CMD_STATS,
	UCTL_CMD_ARP,
	UCTL_CMD_ROUTE,
	UCTL_CMD_KILL,
	UCTL_CMD_SOCKETS,
	UCTL_CMD_SNMP,
	UCTL_CMD_LATENCY,
	UCTL_CMD_FAULT,
	UCTL_CMD_WAIT,
	UCTL_CMD_PCAP,
	UCTL_CMD_EXEC,
	UCTL_CMD_COUNT
};

enum uctl_fault { UCTL_FAULT_KILL, UCTL_FAULT_HANG, UCTL_FAULT_LINK, UCTL_FAULT_SLOW,
		  UCTL_FAULT_CLEAR };

/* The parsed command line; addresses are in network byte order. */
struct uctl_opts {
	enum uctl_cmd cmd;
	const char *instance;
	const char *netns;   /* NULL: the caller's namespace */
	uint32_t addr;
	uint8_t prefix;
	bool has_addr;
	uint32_t peer;       /* 0 = none */
	uint32_t gateway;    /* 0 = none */
	unsigned mtu;        /* 0 = default */
	int offload;         /* -1 = default (on), 0 = off, 1 = on */
	int link_shm;        /* -1 = default (zmq), 0 = zmq, 1 = shm */
	int busy_poll_us;    /* -1 = default (0, off) */
	const char *cpus;    /* NULL = default (no affinity) */
	bool json;
	const char *layer;   /* kill */
	int signal;          /* kill: signal number */
	unsigned interval_ms; /* latency: 0 = cumulative, else the delta over this interval */
	/* fault */
	enum uctl_fault fault;
	const char *fault_to;         /* link: TO */
	double fault_drop, fault_dup, fault_corrupt;
	uint32_t fault_delay_us;
	uint64_t fault_seed;
	bool fault_has_seed;
	bool fault_link_opts;         /* any of --drop/--dup/--corrupt/--delay-us/--seed given */
	uint64_t fault_ms;            /* hang */
	uint32_t fault_slow_us;       /* slow */
	uint64_t timeout_ms;          /* wait */
	/* pcap */
	const char *pcap_file;        /* --write FILE, "-" = stdout */
	uint64_t pcap_count;          /* --count: frames written, 0 = no limit */
	uint64_t pcap_ms;             /* --seconds, 0 = no limit */
	unsigned pcap_snaplen;        /* --snaplen, default CAPTURE_SNAP_MAX */
	char pcap_filter[1024];       /* the positional words, joined by spaces */
	/* exec: the command and its arguments (after --), NULL-terminated as main's argv is */
	char **exec_argv;
};

void uctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void uctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- layer: the stack's layers, in start order. Adding tcpd/udpd is flipping `present`. */
struct layer_info {
	const char *name;     /* "nicd": ctl socket <name>.ctl, units ustack-<name>[-twin]@I */
	int pool_holder;      /* enum pool_holder */
	bool present;         /* built and started by ustack@.target */
};
extern const struct layer_info layer_table[];
extern const unsigned layer_table_len;
#define UCTL_LAYERS_MAX 8 /* bound of layer_table_len (static assert in layer.c) */
const struct layer_info *layer_find(const char *name);
/* Each layer runs as two units, the same program in both: whichever process holds the layer's
 * lock serves, the other stands by (--standby) to take over when it dies. twin 0 names
 * "ustack-<layer>@<instance>.service", twin 1 "ustack-<layer>-twin@<instance>.service". */
#define LAYER_UNITS 2
int layer_unit(const struct layer_info *l, const char *instance, unsigned twin, char *out,
	       size_t size);
int layer_target(const char *instance, char *out, size_t size);

/* ---- run: external commands. */
struct run_spec {
	const char *const *argv;       /* argv[0] looked up in PATH */
	const char *const *env_set;    /* "NAME=value" entries replacing/adding to our environ */
	const char *const *env_unset;  /* names removed from the environment */
	int timeout_ms;                /* 0: 30 s; the child is SIGKILLed after it */
	char *out;                     /* captured stdout (NUL-terminated, truncated) or NULL */
	size_t out_size;
	char *err;                     /* captured stderr or NULL (then it goes to /dev/null) */
	size_t err_size;
};
/* Run and wait. Returns the exit status (>= 0), or -ETIMEDOUT, -EINTR (killed by a signal),
 * -ENOENT (no such program) or another negative errno. */
int run_cmd(const struct run_spec *spec);
/* Last non-empty line of captured stderr, trimmed, for one-line error messages. */
const char *run_last_line(char *text);
/* Format argv as "a b c" into out (for messages). */
void run_format_argv(const char *const *argv, char *out, size_t size);

/* ---- state: <runtime dir>/up.state and where the tool's files are. */
enum state_mode { STATE_MODE_NONE = 0, STATE_MODE_PRIVATE, STATE_MODE_SYSTEM };
struct uctl_state {
	enum state_mode mode;
	pid_t manager_pid;    /* private manager; 0 for the system manager */
	uint64_t manager_start; /* its start time in clock ticks: with the pid, its identity */
	char netns[UCTL_NETNS_MAX + 1];
	bool netns_created;
	char ifname[16];
};
/* 0, -ENOENT (no state file: not up) or -EINVAL (unreadable). */
int state_read(const char *instance, struct uctl_state *st);
/* Atomic write (temp file + rename); the runtime dir must exist. */
int state_write(const char *instance, const struct uctl_state *st);
int state_path(const char *instance, char *out, size_t size);
/* Directory holding ustack@.target etc.: $USTACK_UNIT_DIR or <exe dir>/../lib/systemd/system. */
int state_unit_dir(char *out, size_t size);
/* The sysusers.d file of the layers' user: <unit dir>/../../sysusers.d/ustack.conf. */
int state_sysusers_file(char *out, size_t size);
/* Stub targets of the private manager: $USTACK_PRIVATE_MANAGER_DIR or
 * <exe dir>/../lib/ustack/private-manager. */
int state_private_manager_dir(char *out, size_t size);
/* mkdir -p with `mode` for every component created. */
int state_mkdir_p(const char *path, mode_t mode);
/* rm -r of path, refusing anything not equal to or below `root`. */
int state_remove_tree(const char *path, const char *root);

/* ---- netdev: network namespace and TAP device through ip(8). */
bool netdev_netns_name_valid(const char *ns);
bool netdev_netns_exists(const char *ns);
int netdev_netns_add(const char *ns);
int netdev_netns_del(const char *ns);
/* How many devices other than lo are in ns (their names, space-separated, in names), or a
 * negative errno. */
int netdev_netns_other_links(const char *ns, char *names, size_t size);
/* TAP with a virtio-net header, persistent, in ns (NULL/"" = ours), MTU set, up; then the
 * kernel-side address peer/prefix if peer != 0 (an existing identical address is fine). */
int netdev_tap_create(const char *ns, const char *ifname, unsigned mtu, uint32_t peer,
		      uint8_t prefix);
bool netdev_link_exists(const char *ns, const char *ifname);
int netdev_link_del(const char *ns, const char *ifname);

/* ---- tundev: let the stack's user open /dev/net/tun (an ACL entry where udev did not make it
 * 0666). 0 or a negative errno (printed). */
int tundev_allow_user(uid_t uid);

/* ---- manager: the systemd manager the instance's units run under. */
struct manager {
	enum state_mode mode;
	pid_t pid;                          /* private manager */
	uint64_t start;                     /* its start time (/proc/PID/stat field 22) */
	char xdg_dir[UCTL_PATH_MAX];        /* private: <runtime dir>/manager */
	char xdg_env[UCTL_PATH_MAX + 32];   /* "XDG_RUNTIME_DIR=..." */
	char log_path[UCTL_PATH_MAX];       /* private: manager.log */
	char instance[USTACK_INSTANCE_MAX + 1];
};
/* True when PID 1 is systemd: use the system manager. */
bool manager_system_available(void);
/* Describe the manager of an instance from its state (no processes started). */
int manager_init(struct manager *m, const char *instance, enum state_mode mode, pid_t pid,
		 uint64_t start);
/* Before up touches anything: are the unit files (and for private mode the manager's targets)
 * there, and do the paths fit? Prints why not. */
int manager_preflight(const char *instance, enum state_mode mode);
/* Private mode: start `systemd --user` for the instance; fills m->pid and m->start, which the
 * caller records before anything else can fail, so `down` always finds it. */
int manager_private_spawn(struct manager *m);
/* Wait until the manager this process spawned answers: 0, -ECHILD if it exited (its status and
 * log are printed), -ETIMEDOUT. */
int manager_private_wait(struct manager *m);
/* True when the recorded private manager (pid and start time) still runs. */
bool manager_private_alive(const struct manager *m);
/* SIGKILL the private manager and wait (bounded) until it is gone. */
int manager_private_stop(struct manager *m);
/* System mode: make our unit templates visible in /run/systemd/system. */
int manager_system_link_units(void);
/* Write the per-instance drop-ins of every present layer. */
int manager_write_dropins(const struct manager *m, const char *netns);
int manager_remove_dropins(const struct manager *m);
/* `systemctl [--user] ARGS...` (args NULL-terminated, at most 8). Returns the exit status or a
 * negative errno; out/err capture as in run_spec (may be NULL). */
int manager_systemctl(const struct manager *m, const char *const *args, int timeout_ms, char *out,
		      size_t out_size, char *err, size_t err_size);
/* `systemctl show -p PROP --value UNIT` into out; 0 or negative errno. */
int manager_show(const struct manager *m, const char *unit, const char *prop, char *out,
		 size_t size);
/* ---- twin: a layer's two units and which of them serves (twin.c). */
struct layer_twin {
	char unit[96];
	long pid;               /* MainPID, 0 when none */
	unsigned long restarts; /* NRestarts */
	char active[32];        /* ActiveState */
	bool standby;           /* its status text says it stands by */
};
struct layer_twins {
	struct layer_twin u[LAYER_UNITS];
	int serving;            /* index into u, -1 when no unit can be said to serve */
	unsigned long restarts; /* both units' restarts: the layer's */
};
/* Both units of layer l as the manager knows them, one `systemctl show`. ctl_pid: the pid the
 * layer reported over its control socket, or 0 when unknown. 0 or a negative errno. */
int layer_twins_show(const struct manager *m, const struct layer_info *l, long ctl_pid,
		     struct layer_twins *out);
/* The parse behind layer_twins_show (twin_parse.c, pure): text is `systemctl show -p
 * MainPID,NRestarts,ActiveState,StatusText UNIT0 UNIT1`'s output (modified in place), out's
 * unit names already set. 0, or -EPROTO when text does not hold exactly two units. */
int layer_twins_parse(char *text, long ctl_pid, struct layer_twins *out);
/* The same, the layer asked for its pid first (500 ms at most: a stopped layer does not
 * answer). 0 with out->serving a unit with a main process, -ESRCH when none can be said to
 * serve, or another negative errno. */
int layer_twins_serving(const struct manager *m, const struct layer_info *l,
			struct layer_twins *out);
/* The pid of the unit standing by, 0 when there is none. */
long layer_twins_standby_pid(const struct layer_twins *tw);
/* True when the instance's target is active or activating. */
bool manager_target_active(const struct manager *m);
/* Print where to look when a unit misbehaves. */
void manager_print_hint(const struct manager *m, const char *unit);
/* Private mode: the layer's last lines in the manager's log (its own reason for failing). */
void manager_print_layer_log(const struct manager *m, const char *layer);
/* Print `systemctl status` of unit to stderr. */
void manager_print_unit_status(const struct manager *m, const char *unit);

/* ---- commands: each returns an exit status (UCTL_EXIT_*). */
int up_cmd(const struct uctl_opts *o);
int down_cmd(const struct uctl_opts *o);
/* Everything down does, without the final report: stop the units and the private manager,
 * remove drop-ins, TAP, our namespace, pool, config and runtime dir. 0 when everything went;
 * a negative errno (after printing why) when something could not be removed. */
int down_teardown(const char *instance);
int status_cmd(const struct uctl_opts *o);
int stats_cmd(const struct uctl_opts *o);
int tables_arp_cmd(const struct uctl_opts *o);
int tables_route_cmd(const struct uctl_opts *o);
int kill_cmd(const struct uctl_opts *o);
int sockets_cmd(const struct uctl_opts *o);
int snmp_cmd(const struct uctl_opts *o);
int latency_cmd(const struct uctl_opts *o);
int fault_cmd(const struct uctl_opts *o);
int wait_cmd(const struct uctl_opts *o);
/* pcap.c */
int pcap_cmd(const struct uctl_opts *o);
/* exec: run a program with the preload shim and USTACK_INSTANCE set (replaces this process). */
int exec_cmd(const struct uctl_opts *o);
/* fault's positional arguments (pos[0] is kill|hang|link|slow|clear) into o: -1 to go on, or
 * the exit status after printing why. */
int fault_parse(struct uctl_opts *o, int npos, char **pos);
/* --drop/--dup/--corrupt: 0, or UCTL_EXIT_USAGE after printing why. */
int fault_parse_p(const char *opt, const char *s, double *out);
/* status: the layer's active faults, a line each: a hang, and when it serves what its STATUS
 * reply lists. */
void fault_status_print(void *zctx, const char *instance, const struct layer_info *l,
			bool serving);
/* A histogram from a STATS reply into h: 0, or -EINVAL (another bucket layout, too many
 * buckets; h is then empty). */
struct Ustack__Histogram;
struct hist;
int latency_hist_decode(const struct Ustack__Histogram *m, struct hist *h);
/* "KILL", "SIGKILL", "kill", "9" → 9; -EINVAL otherwise. */
int kill_parse_signal(const char *s);

/* ---- status helpers shared by up, status, stats, tables and down. */
/* 0 if the layer's control socket file exists, else -ENOENT with a reason in why (a missing
 * ipc:// socket would otherwise only show as a timeout). */
int status_ctl_check(const char *instance, const char *layer, char *why, size_t why_size);
/* Does anything listen on the layer's control socket now? One non-blocking connect: false only
 * when the answer is certain (no file, or a file nobody listens on). For `down`, which must not
 * wait out ZeroMQ's reconnect timeout per dead layer; the other commands keep waiting, so that
 * a layer systemd is restarting answers them once it is back. */
bool status_ctl_listening(const char *instance, const char *layer);
/* One STATUS call: 0 when the layer answers "serving" (pid/uptime filled), else a negative
 * errno with a reason in `why`. */
int status_probe(void *zctx, const char *instance, const struct layer_info *l, int timeout_ms,
		 uint32_t *pid, uint64_t *uptime_ms, char *why, size_t why_size);

#endif
