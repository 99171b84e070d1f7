/* pcap: `ustackctl pcap`, the frames nicd moves, written as a pcap file that tcpdump -r and
 * tshark -r read (the stack's own capture point: a TAP's kernel side only sees the kernel's
 * view, and a capture there needs the namespace; this one sees what the stack's driver did).
 *
 *   ustackctl pcap --instance NAME --write FILE|- [--count N] [--seconds S] [--snaplen N]
 *                  [FILTER...]
 *
 * FILTER is a tcpdump expression (pcap-filter(7)), applied here, not in nicd: nicd copies every
 * frame to its capture clients (common/capture.h) and the filter keeps what is written. --count
 * stops after N frames written, --seconds after S seconds; otherwise SIGINT or SIGTERM ends the
 * capture, as tcpdump's. "-" writes to stdout, flushed after every burst, so
 * `ustackctl pcap ... --write - | tcpdump -n -r -` follows live.
 *
 * On stderr: "capturing on NAME's nicd" once nicd has taken the subscription (its start
 * message: every frame after that line is in the file, or counted lost), and at the end a
 * summary: frames written, frames seen, frames lost (gaps in nicd's sequence: its queue to us
 * was full), nicd restarts seen (a restarted nicd is followed, its frames appended).
 *
 * Timestamps have nanosecond precision (the file's magic says so; libpcap readers convert),
 * taken when nicd reaped the read or submitted the write. Direction is not in a pcap
 * record; the addresses tell it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "capture.h"
#include "ustackctl.h"

#define PCAP_START_TIMEOUT_MS 5000
#define PCAP_RCVHWM 4096 /* frames queued towards us before nicd counts them lost */

static volatile sig_atomic_t pcap_stop_signal;

static void pcap_on_signal(int sig) { pcap_stop_signal = sig; }

static uint64_t pcap_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct pcap_run {
	pcap_t *dead;
	pcap_dumper_t *out;
	struct bpf_program prog;
	bool filtered;
	unsigned snaplen;
	bool started;      /* a start message came */
	bool have_seq;
	uint64_t next_seq; /* the seq expected next */
	uint64_t written, seen, lost, restarts, bad;
};

/* One message from nicd: validated, then written if the filter keeps it. */
static void pcap_take(struct pcap_run *run, const uint8_t *m, size_t n, const char *instance)
{
	struct capture_hdr h;
	if (n < sizeof(h)) {
		run->bad++;
		return;
	}
	memcpy(&h, m, sizeof(h));
	if (h.magic != CAPTURE_MAGIC || h.version != CAPTURE_VERSION ||
	    (h.kind != CAPTURE_KIND_FRAME && h.kind != CAPTURE_KIND_START)) {
		run->bad++;
		return;
	}
	if (h.kind == CAPTURE_KIND_START) {
		/* Sent to every client whenever one subscribes: ours, or a later one's. A seq
		 * below what we expect is a new nicd counting from 0. */
		if (run->have_seq && h.seq < run->next_seq) {
			run->restarts++;
			fprintf(stderr, "ustackctl: %s's nicd restarted: capturing again\n", instance);
		} else if (run->have_seq) {
			run->lost += h.seq - run->next_seq;
		}
		run->next_seq = h.seq;
		run->have_seq = true;
		if (!run->started)
			fprintf(stderr, "ustackctl: capturing on %s's nicd\n", instance);
		run->started = true;
		return;
	}
	if (h.caplen != n - sizeof(h) || h.caplen > h.len || h.caplen > CAPTURE_SNAP_MAX ||
	    (h.dir != CAPTURE_DIR_IN && h.dir != CAPTURE_DIR_OUT)) {
		run->bad++;
		return;
	}
	if (run->have_seq && h.seq > run->next_seq)
		run->lost += h.seq - run->next_seq;
	else if (run->have_seq && h.seq < run->next_seq) {
		run->restarts++; /* its start message was lost with a full queue */
		fprintf(stderr, "ustackctl: %s's nicd restarted: capturing again\n", instance);
	}
	run->next_seq = h.seq + 1;
	run->have_seq = true;
	run->seen++;

	struct pcap_pkthdr ph = {
		.caplen = h.caplen < run->snaplen ? h.caplen : run->snaplen,
		.len = h.len,
	};
	/* A nanosecond file (pcap_open_dead_with_tstamp_precision): tv_usec holds nanoseconds. */
	ph.ts.tv_sec = (time_t)(h.time_ns / 1000000000u);
	ph.ts.tv_usec = (suseconds_t)(h.time_ns % 1000000000u);
	const uint8_t *frame = m + sizeof(h);
	if (run->filtered && pcap_offline_filter(&run->prog, &ph, frame) == 0)
		return;
	pcap_dump((u_char *)run->out, &ph, frame);
	run->written++;
}

static int pcap_endpoint(const char *instance, char *ep, size_t size)
{
	char path[256];
	int rc = ustack_runtime_path(instance, CAPTURE_FILE, path, sizeof(path));
	if (rc < 0)
		return rc;
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (snprintf(ep, size, "ipc://%s", path) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int pcap_cmd(const struct uctl_opts *o)
{
	struct pcap_run run = {.snaplen = o->pcap_snaplen};
	run.dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)run.snaplen,
							PCAP_TSTAMP_PRECISION_NANO);
	if (!run.dead) {
		uctl_err("pcap: pcap_open_dead failed");
		return UCTL_EXIT_FAIL;
	}
	if (o->pcap_filter[0]) {
		if (pcap_compile(run.dead, &run.prog, o->pcap_filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			uctl_err("pcap: filter '%s': %s", o->pcap_filter, pcap_geterr(run.dead));
			pcap_close(run.dead);
			return UCTL_EXIT_USAGE;
		}
		run.filtered = true;
	}
	char ep[320];
	int rc = pcap_endpoint(o->instance, ep, sizeof(ep));
	if (rc < 0) {
		uctl_err("pcap: %s has no capture socket (%s): is the instance up?", o->instance,
			 strerror(-rc));
		goto fail_filter;
	}
	run.out = pcap_dump_open(run.dead, o->pcap_file);
	if (!run.out) {
		uctl_err("pcap: %s: %s", o->pcap_file, pcap_geterr(run.dead));
		goto fail_filter;
	}

	void *zctx = zmq_ctx_new();
	void *sub = zctx ? zmq_socket(zctx, ZMQ_SUB) : NULL;
	int hwm = PCAP_RCVHWM, zero = 0;
	if (!sub || zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) < 0 || zmq_connect(sub, ep) < 0) {
		uctl_err("pcap: %s: %s", ep, zmq_strerror(zmq_errno()));
		if (sub)
			zmq_close(sub);
		if (zctx)
			zmq_ctx_term(zctx);
		pcap_dump_close(run.out);
		goto fail_filter;
	}

	struct sigaction sa = {.sa_handler = pcap_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	uint64_t t0 = pcap_now_ms();
	uint64_t end = o->pcap_ms ? t0 + o->pcap_ms : UINT64_MAX;
	size_t cap = sizeof(struct capture_hdr) + CAPTURE_SNAP_MAX;
	uint8_t *m = malloc(cap);
	int status = UCTL_EXIT_OK;
	while (m && !pcap_stop_signal && (!o->pcap_count || run.written < o->pcap_count)) {
		uint64_t now = pcap_now_ms();
		if (now >= end)
			break;
		if (!run.started && now >= t0 + PCAP_START_TIMEOUT_MS) {
			uctl_err("pcap: %s's nicd did not answer on its capture socket within %u ms",
				 o->instance, PCAP_START_TIMEOUT_MS);
			status = UCTL_EXIT_FAIL;
			break;
		}
		zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
		uint64_t wait = end - now < 200 ? end - now : 200;
		int pr = zmq_poll(&it, 1, (long)wait);
		if (pr < 0 && zmq_errno() != EINTR) {
			uctl_err("pcap: poll: %s", zmq_strerror(zmq_errno()));
			status = UCTL_EXIT_FAIL;
			break;
		}
		if (pr <= 0)
			continue;
		/* A burst: everything queued, then one flush (a reader on a pipe sees it now). */
		for (;;) {
			int n = zmq_recv(sub, m, cap, ZMQ_DONTWAIT);
			if (n < 0)
				break;
			if ((size_t)n > cap) {
				run.bad++; /* truncated: longer than any frame nicd sends */
				continue;
			}
			pcap_take(&run, m, (size_t)n, o->instance);
			if (o->pcap_count && run.written >= o->pcap_count)
				break;
		}
		pcap_dump_flush(run.out);
	}
	free(m);
	zmq_close(sub);
	zmq_ctx_term(zctx);
	pcap_dump_close(run.out);
	if (run.filtered)
		pcap_freecode(&run.prog);
	pcap_close(run.dead);
	fprintf(stderr,
		"ustackctl: %" PRIu64 " frames written, %" PRIu64 " seen, %" PRIu64
		" lost before they reached us, %" PRIu64 " nicd restarts, %" PRIu64
		" malformed messages\n",
		run.written, run.seen, run.lost, run.restarts, run.bad);
	return status;

fail_filter:
	if (run.filtered)
		pcap_freecode(&run.prog);
	pcap_close(run.dead);
	return UCTL_EXIT_FAIL;
}
