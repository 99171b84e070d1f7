/* main: ustackctl's command line: parse and validate everything, then dispatch one command.
 *
 *   ustackctl up     --instance NAME [--netns NS] --addr A.B.C.D/P [--peer A.B.C.D]
 *                    [--gateway A.B.C.D] [--mtu N] [--offload on|off] [--link zmq|shm]
 *                    [--busy-poll US] [--cpus LIST]
 *   ustackctl down   --instance NAME
 *   ustackctl status --instance NAME
 *   ustackctl wait   --instance NAME [--timeout SECONDS]
 *   ustackctl stats  --instance NAME [--json]
 *   ustackctl arp    --instance NAME
 *   ustackctl route  --instance NAME
 *   ustackctl sockets --instance NAME [--json]
 *   ustackctl snmp   --instance NAME
 *   ustackctl latency --instance NAME [--interval SEC]
 *   ustackctl pcap   --instance NAME --write FILE|- [--count N] [--seconds S] [--snaplen N]
 *                    [FILTER...]
 *   ustackctl kill   --instance NAME LAYER [SIGNAL]
 *   ustackctl fault  --instance NAME kill LAYER | hang LAYER SECONDS |
 *                    link FROM TO [--drop P] [--dup P] [--corrupt P] [--delay-us N] [--seed S] |
 *                    slow LAYER MICROSECONDS | clear [LAYER]
 *
 * Exit status: 0 success, 1 failure, 2 usage error (bad option, bad value, missing argument).
 * All input is validated here, before anything on the system is touched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "config.h"
#include "ipv4_addr.h"
#include "ustackctl.h"

#define MAIN_MTU_MIN CONFIG_MTU_MIN
#define MAIN_MTU_MAX CONFIG_MTU_MAX

void uctl_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ustackctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void uctl_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ustackctl: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void main_usage(FILE *f)
{
	fputs("usage: ustackctl COMMAND --instance NAME [options]\n"
	      "\n"
	      "  up     --instance NAME [--netns NS] --addr A.B.C.D/P [--peer A.B.C.D]\n"
	      "         [--gateway A.B.C.D] [--mtu N] [--offload on|off] [--link zmq|shm]\n"
	      "         [--busy-poll US] [--cpus LIST]\n"
	      "                 create the TAP (in NS, created if missing), write the config and\n"
	      "                 start every layer under systemd; waits until all serve\n"
	      "                 (--offload: checksum and segmentation offload through the TAP,\n"
	      "                 default on; --link: descriptors between the layers over ZeroMQ,\n"
	      "                 the default, or shared-memory rings; --busy-poll: each layer polls\n"
	      "                 US microseconds after work before it sleeps, default 0: off;\n"
	      "                 --cpus: the CPUs every layer runs on, a list such as 1 or 0-1,\n"
	      "                 default: wherever the scheduler puts them)\n"
	      "  down   --instance NAME\n"
	      "                 stop the layers and remove everything up created\n"
	      "  status --instance NAME\n"
	      "                 a line per layer; exit 0 only when every layer serves\n"
	      "  wait   --instance NAME [--timeout SECONDS]\n"
	      "                 until every layer serves (exit 0), at most SECONDS (default 30,\n"
	      "                 0.1..3600; then exit 1): after a kill or a hang\n"
	      "  stats  --instance NAME [--json]\n"
	      "                 every layer's counters, the p50/p99 of its latency histograms\n"
	      "                 and the buffer pool's occupancy\n"
	      "  arp    --instance NAME      the ARP cache of ipd\n"
	      "  route  --instance NAME      the routing table of ipd\n"
	      "  sockets --instance NAME [--json]\n"
	      "                 every TCP and UDP socket, as ss -tuna -i lists the kernel's\n"
	      "  snmp   --instance NAME\n"
	      "                 the Tcp:, Udp: and TcpExt: counters as /proc/net/snmp and\n"
	      "                 /proc/net/netstat print the kernel's\n"
	      "  latency --instance NAME [--interval SEC]\n"
	      "                 p50/p99 of each hop of the UDP path, wire -> nicd -> ipd ->\n"
	      "                 udpd -> application and back; --interval: only the packets of\n"
	      "                 the next SEC seconds (0.1..3600), else since each layer started\n"
	      "  pcap   --instance NAME --write FILE|- [--count N] [--seconds S]\n"
	      "         [--snaplen N] [FILTER...]\n"
	      "                 the frames nicd moves, both ways, into a pcap file (- for\n"
	      "                 stdout) that tcpdump -r reads; FILTER is a tcpdump expression;\n"
	      "                 until N frames are written, S seconds pass, or SIGINT\n"
	      "  kill   --instance NAME LAYER [SIGNAL]\n"
	      "                 signal a layer's main process through systemd\n"
	      "                 (LAYER: nicd|ipd|tcpd|udpd; SIGNAL: KILL, SIGTERM, 9, ...;\n"
	      "                 default KILL)\n"
	      "  fault  --instance NAME kill LAYER          SIGKILL to the unit's MainPID\n"
	      "  fault  --instance NAME hang LAYER SECONDS  SIGSTOP, then SIGCONT after SECONDS\n"
	      "                 (past WatchdogSec systemd restarts the layer)\n"
	      "  fault  --instance NAME link FROM TO [--drop P] [--dup P] [--corrupt P]\n"
	      "         [--delay-us N] [--seed S]\n"
	      "                 impair the descriptors FROM sends TO: per descriptor drop,\n"
	      "                 duplicate or damage with probability P, hold batches N us;\n"
	      "                 seeded (without --seed one is drawn and printed)\n"
	      "  fault  --instance NAME slow LAYER MICROSECONDS\n"
	      "                 the layer takes that much longer over each batch (0: off)\n"
	      "  fault  --instance NAME clear [LAYER]\n"
	      "                 end the faults of LAYER, or of every layer\n"
	      "  exec   --instance NAME -- COMMAND [ARGS...]\n"
	      "                 run an unmodified program with its IPv4 sockets served by the\n"
	      "                 instance (LD_PRELOAD=libsock-preload.so, USTACK_INSTANCE=NAME)\n"
	      "\n"
	      "Environment: USTACK_RUNTIME_DIR (default /run/ustack), USTACK_CONF_DIR (default\n"
	      "/etc/ustack), USTACK_LOG_LEVEL (passed to the layers), USTACK_UNIT_DIR (unit files).\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n",
	      f);
}

static int main_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int main_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ustackctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (try 'ustackctl --help')\n", stderr);
	va_end(ap);
	return UCTL_EXIT_USAGE;
}

struct main_cmd_info {
	const char *name;
	enum uctl_cmd cmd;
};

static const struct main_cmd_info main_cmds[] = {
	{"up", UCTL_CMD_UP},         {"down", UCTL_CMD_DOWN}, {"status", UCTL_CMD_STATUS},
	{"stats", UCTL_CMD_STATS},   {"arp", UCTL_CMD_ARP},   {"route", UCTL_CMD_ROUTE},
	{"kill", UCTL_CMD_KILL},     {"sockets", UCTL_CMD_SOCKETS},
	{"snmp", UCTL_CMD_SNMP},     {"latency", UCTL_CMD_LATENCY},
	{"fault", UCTL_CMD_FAULT},   {"wait", UCTL_CMD_WAIT},   {"pcap", UCTL_CMD_PCAP},
	{"exec", UCTL_CMD_EXEC},
};

enum main_opt {
	MAIN_OPT_INSTANCE = 'i',
	MAIN_OPT_HELP = 'h',
	MAIN_OPT_NETNS = 256,
	MAIN_OPT_ADDR,
	MAIN_OPT_PEER,
	MAIN_OPT_GATEWAY,
	MAIN_OPT_MTU,
	MAIN_OPT_OFFLOAD,
	MAIN_OPT_LINK,
	MAIN_OPT_BUSY_POLL,
	MAIN_OPT_CPUS,
	MAIN_OPT_JSON,
	MAIN_OPT_INTERVAL,
	MAIN_OPT_DROP,
	MAIN_OPT_DUP,
	MAIN_OPT_CORRUPT,
	MAIN_OPT_DELAY_US,
	MAIN_OPT_WRITE,
	MAIN_OPT_COUNT,
	MAIN_OPT_SECONDS,
	MAIN_OPT_SNAPLEN,
	MAIN_OPT_SEED,
	MAIN_OPT_TIMEOUT,
};

static bool main_in_subnet(uint32_t a, uint32_t net, uint8_t prefix)
{
	return ipv4_same_subnet(a, net, prefix);
}

/* A host address of the subnet: not its network or broadcast address (RFC 3021 /31 and /32
 * have neither). */
static bool main_host_addr(uint32_t a, uint8_t prefix)
{
	if (prefix >= 31)
		return true;
	uint32_t host = ntohl(a) & (~0u >> prefix);
	return host != 0 && host != (~0u >> prefix);
}

static int main_parse_ip(const char *what, const char *s, uint32_t *out)
{
	if (config_parse_ipv4(s, out) < 0)
		return main_usage_error("%s: '%s' is not an IPv4 address (A.B.C.D)", what, s);
	return 0;
}

static int main_validate_up(struct uctl_opts *o, const char *addr, const char *peer,
			    const char *gateway, const char *mtu, const char *offload)
{
	if (!addr)
		return main_usage_error("up: --addr A.B.C.D/P is required");
	if (config_parse_cidr(addr, &o->addr, &o->prefix) < 0)
		return main_usage_error("up: --addr: '%s' is not A.B.C.D/P with P in 1..32", addr);
	if (!ipv4_is_host_unicast(o->addr))
		return main_usage_error("up: --addr: %s is not a unicast host address", addr);
	if (!main_host_addr(o->addr, o->prefix))
		return main_usage_error("up: --addr: %s is the subnet's network or broadcast address",
					addr);
	o->has_addr = true;
	if (peer) {
		if (main_parse_ip("up: --peer", peer, &o->peer) != 0)
			return UCTL_EXIT_USAGE;
		if (o->peer == o->addr)
			return main_usage_error("up: --peer %s equals the stack's own address", peer);
		if (!main_in_subnet(o->peer, o->addr, o->prefix) || !main_host_addr(o->peer, o->prefix))
			return main_usage_error("up: --peer %s is not a host of the subnet %s", peer,
						addr);
	}
	if (gateway) {
		if (main_parse_ip("up: --gateway", gateway, &o->gateway) != 0)
			return UCTL_EXIT_USAGE;
		if (o->gateway == o->addr)
			return main_usage_error("up: --gateway %s equals the stack's own address",
						gateway);
		if (!main_in_subnet(o->gateway, o->addr, o->prefix) ||
		    !main_host_addr(o->gateway, o->prefix))
			return main_usage_error("up: --gateway %s is not a host of the subnet %s",
						gateway, addr);
	}
	if (mtu) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(mtu, &end, 10);
		if (errno || *end || end == mtu || mtu[0] == '-' || v < MAIN_MTU_MIN ||
		    v > MAIN_MTU_MAX)
			return main_usage_error("up: --mtu '%s' is not a number in %u..%u", mtu,
						MAIN_MTU_MIN, MAIN_MTU_MAX);
		o->mtu = (unsigned)v;
	}
	if (offload) {
		bool on;
		if (config_parse_switch(offload, &on) < 0)
			return main_usage_error("up: --offload '%s' is neither on nor off", offload);
		o->offload = on;
	}
	if (o->netns && !netdev_netns_name_valid(o->netns))
		return main_usage_error("up: --netns '%s' is not a valid namespace name (1..%d "
					"characters of [A-Za-z0-9_.-])",
					o->netns, UCTL_NETNS_MAX);
	return 0;
}

/* Parse argv into o. Returns -1 to go on, or the exit status to end with. */
static int main_parse(int argc, char **argv, struct uctl_opts *o)
{
	if (argc < 2)
		return main_usage_error("missing command");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return UCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (strcmp(argv[1], main_cmds[i].name) == 0)
			o->cmd = main_cmds[i].cmd;
	if (o->cmd == UCTL_CMD_NONE)
		return main_usage_error("unknown command '%s'", argv[1]);
	const char *cmd = argv[1];

	static const struct option longopts[] = {
		{"instance", required_argument, NULL, MAIN_OPT_INSTANCE},
		{"netns", required_argument, NULL, MAIN_OPT_NETNS},
		{"addr", required_argument, NULL, MAIN_OPT_ADDR},
		{"peer", required_argument, NULL, MAIN_OPT_PEER},
		{"gateway", required_argument, NULL, MAIN_OPT_GATEWAY},
		{"mtu", required_argument, NULL, MAIN_OPT_MTU},
		{"offload", required_argument, NULL, MAIN_OPT_OFFLOAD},
		{"link", required_argument, NULL, MAIN_OPT_LINK},
		{"cpus", required_argument, NULL, MAIN_OPT_CPUS},
		{"busy-poll", required_argument, NULL, MAIN_OPT_BUSY_POLL},
		{"json", no_argument, NULL, MAIN_OPT_JSON},
		{"interval", required_argument, NULL, MAIN_OPT_INTERVAL},
		{"drop", required_argument, NULL, MAIN_OPT_DROP},
		{"dup", required_argument, NULL, MAIN_OPT_DUP},
		{"corrupt", required_argument, NULL, MAIN_OPT_CORRUPT},
		{"delay-us", required_argument, NULL, MAIN_OPT_DELAY_US},
		{"seed", required_argument, NULL, MAIN_OPT_SEED},
		{"timeout", required_argument, NULL, MAIN_OPT_TIMEOUT},
		{"write", required_argument, NULL, MAIN_OPT_WRITE},
		{"count", required_argument, NULL, MAIN_OPT_COUNT},
		{"seconds", required_argument, NULL, MAIN_OPT_SECONDS},
		{"snaplen", required_argument, NULL, MAIN_OPT_SNAPLEN},
		{"help", no_argument, NULL, MAIN_OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *addr = NULL, *peer = NULL, *gateway = NULL, *mtu = NULL, *offload = NULL;
	int sub_argc = argc - 1;
	char **sub_argv = argv + 1;
	optind = 1;
	opterr = 0;
	for (;;) {
		int prev = optind;
		int c = getopt_long(sub_argc, sub_argv, ":hi:", longopts, NULL);
		if (c == -1)
			break;
		bool up_only = c == MAIN_OPT_NETNS || c == MAIN_OPT_ADDR || c == MAIN_OPT_PEER ||
			       c == MAIN_OPT_GATEWAY || c == MAIN_OPT_MTU || c == MAIN_OPT_OFFLOAD ||
			       c == MAIN_OPT_LINK || c == MAIN_OPT_BUSY_POLL;
		if (up_only && o->cmd != UCTL_CMD_UP)
			return main_usage_error("%s: option '%s' is only valid with 'up'", cmd,
						sub_argv[prev]);
		if (c == MAIN_OPT_JSON && o->cmd != UCTL_CMD_STATS && o->cmd != UCTL_CMD_SOCKETS)
			return main_usage_error("%s: option '--json' is only valid with 'stats' and "
						"'sockets'",
						cmd);
		if (c == MAIN_OPT_TIMEOUT && o->cmd != UCTL_CMD_WAIT)
			return main_usage_error("%s: option '--timeout' is only valid with 'wait'",
						cmd);
		if (c == MAIN_OPT_INTERVAL && o->cmd != UCTL_CMD_LATENCY)
			return main_usage_error("%s: option '--interval' is only valid with 'latency'",
						cmd);
		bool fault_only = c == MAIN_OPT_DROP || c == MAIN_OPT_DUP || c == MAIN_OPT_CORRUPT ||
				  c == MAIN_OPT_DELAY_US || c == MAIN_OPT_SEED;
		if (fault_only && o->cmd != UCTL_CMD_FAULT)
			return main_usage_error("%s: option '%s' is only valid with 'fault link'", cmd,
						sub_argv[prev]);
		o->fault_link_opts |= fault_only;
		bool pcap_only = c == MAIN_OPT_WRITE || c == MAIN_OPT_COUNT || c == MAIN_OPT_SECONDS ||
				 c == MAIN_OPT_SNAPLEN;
		if (pcap_only && o->cmd != UCTL_CMD_PCAP)
			return main_usage_error("%s: option '%s' is only valid with 'pcap'", cmd,
						sub_argv[prev]);
		switch (c) {
		case MAIN_OPT_DROP:
			if (fault_parse_p("--drop", optarg, &o->fault_drop) != 0)
				return UCTL_EXIT_USAGE;
			break;
		case MAIN_OPT_DUP:
			if (fault_parse_p("--dup", optarg, &o->fault_dup) != 0)
				return UCTL_EXIT_USAGE;
			break;
		case MAIN_OPT_CORRUPT:
			if (fault_parse_p("--corrupt", optarg, &o->fault_corrupt) != 0)
				return UCTL_EXIT_USAGE;
			break;
		case MAIN_OPT_DELAY_US: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' || v > 1000000)
				return main_usage_error("fault: --delay-us '%s' is not a number of "
							"microseconds in 0..1000000",
							optarg);
			o->fault_delay_us = (uint32_t)v;
			break;
		}
		case MAIN_OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg || optarg[0] == '-')
				return main_usage_error("fault: --seed '%s' is not a 64-bit unsigned "
							"number",
							optarg);
			o->fault_seed = v;
			o->fault_has_seed = true;
			break;
		}
		case MAIN_OPT_TIMEOUT: {
			char *end = NULL;
			double sec = strtod(optarg, &end);
			if (end == optarg || *end || !(sec >= 0.1 && sec <= 3600))
				return main_usage_error("wait: --timeout '%s' is not a number of "
							"seconds in 0.1..3600",
							optarg);
			o->timeout_ms = (uint64_t)(sec * 1000.0 + 0.5);
			break;
		}
		case MAIN_OPT_INTERVAL: {
			char *end = NULL;
			double sec = strtod(optarg, &end);
			if (end == optarg || *end || !(sec >= 0.1 && sec <= 3600))
				return main_usage_error("%s: --interval '%s' is not a number of "
							"seconds in 0.1..3600",
							cmd, optarg);
			o->interval_ms = (unsigned)(sec * 1000.0 + 0.5);
			break;
		}
		case MAIN_OPT_WRITE:
			o->pcap_file = optarg;
			break;
		case MAIN_OPT_COUNT:
		case MAIN_OPT_SNAPLEN: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			bool snap = c == MAIN_OPT_SNAPLEN;
			if (errno || *end || end == optarg || optarg[0] == '-' || v == 0 ||
			    (snap && v > CAPTURE_SNAP_MAX))
				return main_usage_error("pcap: %s '%s' is not a number in 1..%llu",
							sub_argv[prev], optarg,
							snap ? (unsigned long long)CAPTURE_SNAP_MAX
							     : ULLONG_MAX);
			if (snap)
				o->pcap_snaplen = (unsigned)v;
			else
				o->pcap_count = v;
			break;
		}
		case MAIN_OPT_SECONDS: {
			char *end = NULL;
			double sec = strtod(optarg, &end);
			if (end == optarg || *end || !(sec >= 0.1 && sec <= 86400))
				return main_usage_error("pcap: --seconds '%s' is not a number of "
							"seconds in 0.1..86400",
							optarg);
			o->pcap_ms = (uint64_t)(sec * 1000.0 + 0.5);
			break;
		}
		case MAIN_OPT_HELP:
			main_usage(stdout);
			return UCTL_EXIT_OK;
		case MAIN_OPT_INSTANCE:
			o->instance = optarg;
			break;
		case MAIN_OPT_NETNS:
			o->netns = optarg;
			break;
		case MAIN_OPT_ADDR:
			addr = optarg;
			break;
		case MAIN_OPT_PEER:
			peer = optarg;
			break;
		case MAIN_OPT_GATEWAY:
			gateway = optarg;
			break;
		case MAIN_OPT_MTU:
			mtu = optarg;
			break;
		case MAIN_OPT_OFFLOAD:
			offload = optarg;
			break;
		case MAIN_OPT_LINK:
			if (strcmp(optarg, "zmq") != 0 && strcmp(optarg, "shm") != 0)
				return main_usage_error("up: --link '%s' is neither zmq nor shm",
							optarg);
			o->link_shm = strcmp(optarg, "shm") == 0;
			break;
		case MAIN_OPT_CPUS: {
			cpu_set_t set, allowed;
			if (strlen(optarg) >= CPU_LIST_MAX || cpu_list_parse(optarg, &set) < 0)
				return main_usage_error("up: --cpus '%s' is not a CPU list such as "
							"1, 0-3 or 0,2", optarg);
			/* the layers would refuse it at start: say so before starting them */
			if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
				CPU_AND(&set, &set, &allowed);
				if (CPU_COUNT(&set) == 0)
					return main_usage_error("up: --cpus '%s' names no CPU this "
								"machine lets the stack run on", optarg);
			}
			o->cpus = optarg;
			break;
		}
		case MAIN_OPT_BUSY_POLL: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' ||
			    v > CONFIG_BUSY_POLL_MAX_US)
				return main_usage_error("up: --busy-poll '%s' is not a number of "
							"microseconds in 0..%u",
							optarg, CONFIG_BUSY_POLL_MAX_US);
			o->busy_poll_us = (int)v;
			break;
		}
		case MAIN_OPT_JSON:
			o->json = true;
			break;
		case ':':
			if (strncmp(sub_argv[optind - 1], "--", 2) != 0 && optopt > 0 && optopt < 256)
				return main_usage_error("%s: option '-%c' needs a value", cmd, optopt);
			return main_usage_error("%s: option '%s' needs a value", cmd,
						sub_argv[optind - 1]);
		default:
			if (strncmp(sub_argv[optind - 1], "--", 2) != 0 && optopt > 0 && optopt < 256)
				return main_usage_error("%s: unknown option '-%c'", cmd, optopt);
			return main_usage_error("%s: unknown option '%s'", cmd, sub_argv[optind - 1]);
		}
	}
	int npos = sub_argc - optind;
	char **pos = sub_argv + optind;

	if (!o->instance)
		return main_usage_error("%s: --instance NAME is required", cmd);
	if (!ustack_instance_valid(o->instance))
		return main_usage_error("%s: invalid instance name '%s' (1..%d characters of "
					"[A-Za-z0-9_-])",
					cmd, o->instance, USTACK_INSTANCE_MAX);

	if (o->cmd == UCTL_CMD_KILL) {
		if (npos < 1)
			return main_usage_error("kill: LAYER is required (nicd|ipd|tcpd|udpd)");
		if (npos > 2)
			return main_usage_error("kill: unexpected argument '%s'", pos[2]);
		if (!layer_find(pos[0]))
			return main_usage_error("kill: unknown layer '%s' (nicd|ipd|tcpd|udpd)",
						pos[0]);
		o->layer = pos[0];
		o->signal = 9;
		if (npos == 2) {
			int sig = kill_parse_signal(pos[1]);
			if (sig < 0)
				return main_usage_error("kill: unknown signal '%s'", pos[1]);
			o->signal = sig;
		}
		return -1;
	}
	if (o->cmd == UCTL_CMD_FAULT)
		return fault_parse(o, npos, pos);
	if (o->cmd == UCTL_CMD_PCAP) {
		if (!o->pcap_file)
			return main_usage_error("pcap: --write FILE (or - for stdout) is required");
		size_t used = 0;
		for (int i = 0; i < npos; i++) {
			int w = snprintf(o->pcap_filter + used, sizeof(o->pcap_filter) - used, "%s%s",
					 i ? " " : "", pos[i]);
			if (w < 0 || (size_t)w >= sizeof(o->pcap_filter) - used)
				return main_usage_error("pcap: the filter is longer than %zu bytes",
							sizeof(o->pcap_filter) - 1);
			used += (size_t)w;
		}
		return -1;
	}
	if (o->cmd == UCTL_CMD_EXEC) {
		if (npos < 1)
			return main_usage_error("exec: a command is required (exec --instance NAME -- "
						"COMMAND [ARGS...])");
		o->exec_argv = pos; /* argv's own NULL ends it */
		return -1;
	}
	if (npos > 0)
		return main_usage_error("%s: unexpected argument '%s'", cmd, pos[0]);
	if (o->cmd == UCTL_CMD_UP) {
		int rc = main_validate_up(o, addr, peer, gateway, mtu, offload);
		if (rc != 0)
			return rc;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct uctl_opts o = {.offload = -1, .link_shm = -1, .busy_poll_us = -1, .timeout_ms = 30000,
			  .pcap_snaplen = CAPTURE_SNAP_MAX};
	int rc = main_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	/* Our output is read by scripts through pipes: keep lines whole and in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (o.cmd) {
	case UCTL_CMD_UP:
		return up_cmd(&o);
	case UCTL_CMD_DOWN:
		return down_cmd(&o);
	case UCTL_CMD_STATUS:
		return status_cmd(&o);
	case UCTL_CMD_STATS:
		return stats_cmd(&o);
	case UCTL_CMD_ARP:
		return tables_arp_cmd(&o);
	case UCTL_CMD_ROUTE:
		return tables_route_cmd(&o);
	case UCTL_CMD_KILL:
		return kill_cmd(&o);
	case UCTL_CMD_SOCKETS:
		return sockets_cmd(&o);
	case UCTL_CMD_SNMP:
		return snmp_cmd(&o);
	case UCTL_CMD_LATENCY:
		return latency_cmd(&o);
	case UCTL_CMD_FAULT:
		return fault_cmd(&o);
	case UCTL_CMD_WAIT:
		return wait_cmd(&o);
	case UCTL_CMD_PCAP:
		return pcap_cmd(&o);
	case UCTL_CMD_EXEC:
		return exec_cmd(&o);
	default:
		return UCTL_EXIT_USAGE;
	}
}
